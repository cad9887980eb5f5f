// The stream side of the validation sweep: invalid and conflicting stream requests
// (create/update/info/delete/purge/names/list/msg get/msg delete) sent to tsnats and to
// nats-server 2.15, answers compared field by field (codes, err_codes, descriptions).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { differences, referenceMissing, startSideBySide, type SideBySide, type Step } from "./helpers/side_by_side.js";

type Json = Record<string, unknown>;
const SEC = 1_000_000_000;
const create = (name: string, cfg: Json, extra: Json = {}): Step => ({ s: `$JS.API.STREAM.CREATE.${name}`, b: { name, ...cfg, ...extra }, note: name });
const del = (name: string): Step => ({ s: `$JS.API.STREAM.DELETE.${name}` });
/** Create `name` with `cfg`, then delete it (so names can be reused). */
const tryCreate = (name: string, cfg: Json, extra: Json = {}): Step[] => [create(name, cfg, extra), del(name)];
/** Create `name` with `base`, update it to `next`, delete it. */
const tryUpdate = (name: string, base: Json, next: Json): Step[] => [
  create(name, base),
  { s: `$JS.API.STREAM.UPDATE.${name}`, b: { name, ...next }, note: `${name} update` },
  del(name),
];

const CREATE: Step[] = [
  // names
  { s: "$JS.API.STREAM.CREATE.A", b: { name: "B" } },
  { s: "$JS.API.STREAM.CREATE.A", b: {} },
  { s: "$JS.API.STREAM.CREATE.A", b: "" },
  { s: "$JS.API.STREAM.CREATE.A", b: "null" },
  { s: "$JS.API.STREAM.CREATE.A", b: "{bad" },
  { s: "$JS.API.STREAM.CREATE.A", b: "[]" },
  { s: "$JS.API.STREAM.CREATE.A*", b: { name: "A*" } },
  { s: "$JS.API.STREAM.CREATE.A>", b: { name: "A>" } },
  { s: "$JS.API.STREAM.CREATE.A/B", b: { name: "A/B" } },
  { s: "$JS.API.STREAM.CREATE.A\\B", b: { name: "A\\B" } },
  ...tryCreate("N".repeat(256), {}),
  ...tryCreate("ñ", {}),
  // subjects
  ...tryCreate("S1", { subjects: ["a..b"] }),
  ...tryCreate("S2", { subjects: [""] }),
  ...tryCreate("S3", { subjects: ["a", "a"] }),
  ...tryCreate("S4", { subjects: ["a.*", "a.b"] }),
  ...tryCreate("S5", { subjects: ["a.>", "a.b.c"] }),
  ...tryCreate("S6", { subjects: ["*.b", "a.*"] }),
  ...tryCreate("S7", { subjects: [">"] }),
  ...tryCreate("S8", { subjects: ["$JS.API.>"] }),
  ...tryCreate("S9", { subjects: ["$JS.API.>"], no_ack: true }),
  ...tryCreate("S10", { subjects: ["a.>.b"] }),
  ...tryCreate("S11", { subjects: "a" }),
  ...tryCreate("S12", { subjects: [1] }),
  // Under $JS.EVENT, but not the advisories: nats-server stores its own "stream created"
  // advisory in a stream on $JS.EVENT.> before or after its answer reports the state (a race).
  ...tryCreate("S13", { subjects: ["$JS.EVENT.METRIC.>"] }),
  ...tryCreate("S14", { subjects: ["_INBOX.>"] }),
  create("OV", { subjects: ["ov.>"] }),
  ...tryCreate("S15", { subjects: ["ov.a"] }),
  ...tryCreate("S16", { subjects: ["*.a"] }),
  // limits
  ...tryCreate("L1", { max_msgs: -5 }),
  ...tryCreate("L2", { max_bytes: -5 }),
  ...tryCreate("L3", { max_age: -1 }),
  ...tryCreate("L4", { max_age: 50_000_000 }),
  ...tryCreate("L5", { max_msg_size: -5 }),
  ...tryCreate("L6", { max_msgs_per_subject: -5 }),
  ...tryCreate("L7", { max_consumers: -5 }),
  ...tryCreate("L8", { duplicate_window: -1 }),
  ...tryCreate("L9", { duplicate_window: 50_000_000 }),
  ...tryCreate("L10", { max_age: SEC, duplicate_window: 2 * SEC }),
  ...tryCreate("L11", { max_msgs: 1.5 }),
  ...tryCreate("L12", { max_msg_size: 2 ** 31 }),
  ...tryCreate("L13", { num_replicas: 0 }),
  ...tryCreate("L14", { num_replicas: -1 }),
  ...tryCreate("L15", { num_replicas: 3 }),
  ...tryCreate("L16", { num_replicas: 6 }),
  ...tryCreate("L17", { max_msg_size: 2 * 1024 * 1024 }),
  ...tryCreate("L18", { max_msgs: -1, max_bytes: -1, max_age: 0 }, { pedantic: true }),
  ...tryCreate("L19", { max_msgs: -5 }, { pedantic: true }),
  ...tryCreate("L20", { max_age: SEC, duplicate_window: 2 * SEC }, { pedantic: true }),
  // policies and options
  ...tryCreate("P1", { retention: "bogus" }),
  ...tryCreate("P2", { storage: "disk" }),
  ...tryCreate("P3", { discard: "newest" }),
  ...tryCreate("P4", { discard_new_per_subject: true }),
  ...tryCreate("P5", { discard: "new", discard_new_per_subject: true }),
  ...tryCreate("P6", { discard: "new", discard_new_per_subject: true, max_msgs_per_subject: 1 }),
  ...tryCreate("P7", { deny_purge: true, allow_rollup_hdrs: true }),
  ...tryCreate("P8", { sealed: true }),
  ...tryCreate("P9", { retention: "workqueue", max_msgs_per_subject: 1 }),
  ...tryCreate("P10", { retention: "interest", discard: "new" }),
  ...tryCreate("P11", { mirror_direct: true }),
  ...tryCreate("P12", { allow_direct: true, storage: "memory" }),
  ...tryCreate("P13", { compression: "s2" }),
  ...tryCreate("P14", { compression: "zstd" }),
  ...tryCreate("P15", { first_seq: 100 }),
  ...tryCreate("P16", { first_seq: -1 }),
  ...tryCreate("P17", { description: "d".repeat(4097) }),
  ...tryCreate("P18", { metadata: { a: "b" } }),
  ...tryCreate("P19", { metadata: { x: "x".repeat(128 * 1024) } }),
  ...tryCreate("P20", { placement: { cluster: "c1" } }),
  ...tryCreate("P21", { placement: { tags: ["a"] } }),
  ...tryCreate("P22", { template_owner: "x" }),
  ...tryCreate("P23", { bogus: 1 }),
  ...tryCreate("P24", { republish: { src: ">", dest: "rp.>" } }),
  ...tryCreate("P25", { subjects: ["rp.a"], republish: { src: "rp.>", dest: "rp.x.>" } }),
  ...tryCreate("P26", { subject_transform: { src: "t.*", dest: "u.{{wildcard(1)}}" } }),
  ...tryCreate("P27", { subject_transform: { src: "t.*", dest: "u.{{wildcard(2)}}" } }),
  ...tryCreate("P28", { consumer_limits: { max_ack_pending: -1 } }),
  ...tryCreate("P29", { consumer_limits: { inactive_threshold: -1 } }),
  ...tryCreate("P30", { allow_msg_ttl: true, subject_delete_marker_ttl: SEC }),
  ...tryCreate("P31", { subject_delete_marker_ttl: SEC }),
  ...tryCreate("P32", { allow_msg_counter: true, discard: "new" }),
  ...tryCreate("P33", { allow_atomic: true, persist_mode: "async" }),
  ...tryCreate("P34", { persist_mode: "bogus" }),
  ...tryCreate("P35", { allow_msg_schedules: true }),
  ...tryCreate("P36", { sources: [{ name: "OV" }], mirror: { name: "OV" } }),
  ...tryCreate("P37", { mirror: { name: "OV" }, subjects: ["m.x"] }),
  ...tryCreate("P38", { mirror: { name: "OV", opt_start_seq: 1, opt_start_time: "2020-01-01T00:00:00Z" } }),
  ...tryCreate("P39", { sources: [{ name: "OV" }, { name: "OV" }] }),
  ...tryCreate("P40", { sources: [{ name: "a.b" }] }),
  // duplicates of an existing stream
  create("D", { subjects: ["d.*"] }),
  create("D", { subjects: ["d.*"] }),
  create("D", { subjects: ["d.*"], max_msgs: 5 }),
  create("D", { subjects: ["d.*"], metadata: { _nats_x: "y" } }),
  create("D", { subjects: ["d.*"], metadata: { "_nats.ver": "1.0" } }),
];

const OPS: Step[] = [
  { s: "$JS.API.STREAM.CREATE.O", b: { name: "O", subjects: ["o.*"], allow_rollup_hdrs: true }, setup: true },
  ...["a", "b", "a", "c", "b"].map((x): Step => ({ s: `o.${x}`, b: x })),
  // updates
  ...tryUpdate("U1", { storage: "file" }, { storage: "memory" }),
  ...tryUpdate("U2", {}, { retention: "workqueue" }),
  ...tryUpdate("U3", { retention: "interest" }, { retention: "limits" }),
  ...tryUpdate("U4", {}, { num_replicas: 3 }),
  ...tryUpdate("U5", {}, { max_consumers: 3 }),
  ...tryUpdate("U6", { max_consumers: 3 }, { max_consumers: 5 }),
  ...tryUpdate("U7", { subjects: ["u7"] }, { subjects: ["o.a"] }),
  ...tryUpdate("U8", {}, { sealed: true }),
  ...tryUpdate("U9", { subjects: ["u9"] }, { subjects: ["u9"], sealed: true, max_age: SEC }),
  ...tryUpdate("U10", {}, { template_owner: "x" }),
  ...tryUpdate("U11", { subjects: ["u11"] }, { subjects: ["u11"], first_seq: 5 }),
  ...tryUpdate("U12", { subjects: ["u12"], allow_msg_ttl: true }, { subjects: ["u12"], allow_msg_ttl: false }),
  ...tryUpdate("U13", { subjects: ["u13"], deny_delete: true }, { subjects: ["u13"], deny_delete: false }),
  ...tryUpdate("U14", { subjects: ["u14"] }, { subjects: ["u14"], compression: "s2" }),
  ...tryUpdate("U15", { subjects: ["u15"], mirror_direct: false }, { subjects: ["u15"], description: "new" }),
  { s: "$JS.API.STREAM.UPDATE.NOPE", b: { name: "NOPE" } },
  { s: "$JS.API.STREAM.UPDATE.O", b: { name: "X" } },
  { s: "$JS.API.STREAM.UPDATE.O", b: "" },
  { s: "$JS.API.STREAM.UPDATE.O", b: "{bad" },
  // info, names, list
  { s: "$JS.API.STREAM.INFO.O" },
  { s: "$JS.API.STREAM.INFO.O", b: { subjects_filter: "o.a" } },
  { s: "$JS.API.STREAM.INFO.O", b: { subjects_filter: ">", offset: 1 } },
  { s: "$JS.API.STREAM.INFO.O", b: { deleted_details: true } },
  { s: "$JS.API.STREAM.INFO.O", b: { bogus: true } },
  { s: "$JS.API.STREAM.INFO.O", b: "{bad" },
  { s: "$JS.API.STREAM.INFO.NOPE" },
  { s: "$JS.API.STREAM.NAMES", b: { subject: "o.a" } },
  { s: "$JS.API.STREAM.NAMES", b: { subject: "o..a" } },
  { s: "$JS.API.STREAM.NAMES", b: { offset: -3 } },
  { s: "$JS.API.STREAM.LIST", b: { subject: "nope" } },
  { s: "$JS.API.STREAM.LIST", b: { bogus: 1 } },
  // message get
  { s: "$JS.API.STREAM.MSG.GET.O", b: { seq: 2 } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { seq: 99 } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { seq: 0 } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { seq: -1 } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { last_by_subj: "o.a" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { last_by_subj: "o.*" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { last_by_subj: "o.z" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { next_by_subj: "o.b" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { next_by_subj: "o.b", seq: 3 } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { seq: 1, last_by_subj: "o.a" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { last_by_subj: "o.a", next_by_subj: "o.a" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { start_time: "2001-01-01T00:00:00Z" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { start_time: "2001-01-01T00:00:00Z", next_by_subj: "o.c" } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { batch: 2, seq: 1 } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: { seq: 1, no_hdr: true } },
  { s: "$JS.API.STREAM.MSG.GET.O", b: {} },
  { s: "$JS.API.STREAM.MSG.GET.O", b: "" },
  { s: "$JS.API.STREAM.MSG.GET.O", b: "{bad" },
  { s: "$JS.API.STREAM.MSG.GET.NOPE", b: { seq: 1 } },
  // message delete
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: { seq: 2 } },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: { seq: 2 } },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: { seq: 3, no_erase: true } },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: { seq: 99 } },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: { seq: 0 } },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: {} },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: "" },
  { s: "$JS.API.STREAM.MSG.DELETE.O", b: { seq: "1" } },
  { s: "$JS.API.STREAM.MSG.DELETE.NOPE", b: { seq: 1 } },
  { s: "$JS.API.STREAM.INFO.O", b: { deleted_details: true } },
  // purge
  { s: "$JS.API.STREAM.PURGE.O", b: { filter: "o..a" } },
  { s: "$JS.API.STREAM.PURGE.O", b: { seq: 2, keep: 1 } },
  { s: "$JS.API.STREAM.PURGE.O", b: { keep: -1 } },
  { s: "$JS.API.STREAM.PURGE.O", b: { filter: "o.a", keep: 5 } },
  { s: "$JS.API.STREAM.PURGE.O", b: { filter: "o.b", seq: 5 } },
  { s: "$JS.API.STREAM.PURGE.O", b: "{bad" },
  { s: "$JS.API.STREAM.PURGE.NOPE" },
  { s: "$JS.API.STREAM.INFO.O", b: { subjects_filter: ">" } },
  // rollups and publish checks
  { s: "o.a", b: "r", h: { "Nats-Rollup": "sub" } },
  { s: "o.a", b: "r", h: { "Nats-Rollup": "bogus" } },
  { s: "o.a", b: "r", h: { "Nats-Expected-Last-Subject-Sequence": "1" } },
  { s: "o.a", b: "r", h: { "Nats-Expected-Last-Sequence": "x" } },
  { s: "o.a", b: "r", h: { "Nats-Expected-Stream": "O" } },
  { s: "o.a", b: "r", h: { "Nats-TTL": "1s" } },
  // Optional options are read only from a JSON object or array: other bodies count as none.
  { s: "$JS.API.STREAM.INFO.O", b: "true" },
  { s: "$JS.API.STREAM.INFO.O", b: "\u0000" },
  { s: "$JS.API.STREAM.INFO.NOPE", b: "1" },
  { s: "$JS.API.STREAM.INFO.O", b: "[1]" },
  { s: "$JS.API.STREAM.NAMES", b: "true" },
  { s: "$JS.API.STREAM.LIST", b: " 7" },
  { s: "$JS.API.STREAM.PURGE.NOPE", b: "true" },
  { s: "$JS.API.CONSUMER.NAMES.O", b: "1" },
  { s: "$JS.API.CONSUMER.LIST.O", b: "\"x\"" },
  { s: "$JS.API.CONSUMER.LIST.O", b: "[]" },
  { s: "$JS.API.CONSUMER.PAUSE.O.NOPE", b: "false" },
  // delete
  { s: "$JS.API.STREAM.DELETE.O", b: { x: 1 } },
  { s: "$JS.API.STREAM.DELETE.NOPE" },
  { s: "$JS.API.STREAM.DELETE.O" },
  { s: "$JS.API.STREAM.DELETE.O" },
];

// discard "new" and max_bytes (nats-server 2.14+): a message is refused when its whole record
// (file: 22 + subject + 4 + headers + data + 8 bytes; memory: subject + headers + data + 16)
// would take the stream's bytes past max_bytes; reaching it exactly is allowed. A message that
// replaces its subject's oldest (max_msgs_per_subject) needs that one to be at least as large.
const X50 = "x".repeat(50);
const boundary = (name: string, subject: string, storage: string, maxBytes: number, h?: Record<string, string>): Step[] => [
  create(name, { subjects: [subject], storage, discard: "new", max_bytes: maxBytes }),
  ...[1, 2, 3].map((): Step => ({ s: subject, b: X50, h })),
  del(name),
];
const MAX_BYTES: Step[] = [
  ...boundary("DF1", "dn.f", "file", 2 * 84),
  ...boundary("DF2", "dn.f", "file", 2 * 84 - 1),
  ...boundary("DF3", "dn.f", "file", 106, { A: "b" }),
  ...boundary("DF4", "dn.f", "file", 105, { A: "b" }),
  ...boundary("DM1", "dn.m", "memory", 2 * 70),
  ...boundary("DM2", "dn.m", "memory", 2 * 70 - 1),
  ...boundary("DM3", "dn.m", "memory", 88, { A: "b" }),
  create("DP", { subjects: ["dn.p.*"], discard: "new", max_bytes: 2 * 86, max_msgs_per_subject: 1 }),
  { s: "dn.p.a", b: X50 },
  { s: "dn.p.b", b: X50 },
  { s: "dn.p.a", b: X50 },
  { s: "dn.p.a", b: X50 + "y" },
  { s: "dn.p.b", b: "short" },
  { s: "dn.p.b", b: X50 },
  { s: "$JS.API.STREAM.INFO.DP" },
  del("DP"),
];

describe("stream API side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sbs: SideBySide;
  before(async () => {
    sbs = await startSideBySide();
  });
  after(async () => sbs?.close());
  for (const [what, steps] of [
    ["stream creation: names, subjects, limits, policies, duplicates", CREATE],
    ["updates, info, names/list, message get/delete, purge, publish checks, delete", OPS],
    ["discard new: max_bytes counts whole records, reaching it is allowed", MAX_BYTES],
  ] as const) {
    it(what, async () => {
      const pairs = await sbs.run(steps);
      assert.deepEqual(differences(steps, pairs), []);
    });
  }
});
