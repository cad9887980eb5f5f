// A second table of invalid and borderline stream and consumer configurations (STREAM.CREATE,
// STREAM.UPDATE, CONSUMER.CREATE), beyond js_stream_api_vs_nats_server and
// js_consumer_api_vs_nats_server: wrong JSON types for every field, empty and odd values,
// combinations of the 2.11-2.15 features (TTLs, delete markers, counters, atomic and fast
// batches, schedules, persist modes), transforms and republish loops, sources and mirrors
// with conflicting options, consumer options against the stream's settings. Sent to tsnats and
// nats-server 2.15 at once; error codes, err_codes and descriptions must be identical.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { differences, referenceMissing, startSideBySide, type SideBySide, type Step } from "./helpers/side_by_side.js";

type Json = Record<string, unknown>;
const SEC = 1_000_000_000;
const create = (name: string, cfg: Json): Step => ({ s: `$JS.API.STREAM.CREATE.${name}`, b: { name, ...cfg }, note: name });
const del = (name: string): Step => ({ s: `$JS.API.STREAM.DELETE.${name}` });
/** Create `name` with `cfg`, then delete it (so names can be reused). */
const tryCreate = (name: string, cfg: Json): Step[] => [create(name, cfg), del(name)];
/** Create `name` with `base`, update it to `next`, delete it. */
const tryUpdate = (name: string, base: Json, next: Json): Step[] => [
  create(name, base),
  { s: `$JS.API.STREAM.UPDATE.${name}`, b: { name, ...next }, note: `${name} update` },
  del(name),
];

const STREAM_TYPES: Step[] = [
  // a field of the wrong JSON type, for each field
  ...tryCreate("T1", { subjects: ["t1"], max_msgs: "5" }),
  ...tryCreate("T2", { subjects: ["t2"], max_bytes: true }),
  ...tryCreate("T3", { subjects: ["t3"], max_age: "1s" }),
  ...tryCreate("T4", { subjects: ["t4"], storage: 1 }),
  ...tryCreate("T5", { subjects: ["t5"], retention: null }),
  ...tryCreate("T6", { subjects: ["t6"], discard: "" }),
  ...tryCreate("T7", { subjects: ["t7"], storage: "" }),
  ...tryCreate("T8", { subjects: ["t8"], retention: "" }),
  ...tryCreate("T9", { subjects: ["t9"], num_replicas: "1" }),
  ...tryCreate("T10", { subjects: ["t10"], no_ack: "true" }),
  ...tryCreate("T11", { subjects: ["t11"], allow_direct: 1 }),
  ...tryCreate("T12", { subjects: ["t12"], metadata: [] }),
  ...tryCreate("T13", { subjects: ["t13"], metadata: { a: 1 } }),
  ...tryCreate("T14", { subjects: ["t14"], duplicate_window: "2m" }),
  ...tryCreate("T15", { subjects: ["t15"], placement: "c1" }),
  ...tryCreate("T16", { subjects: ["t16"], mirror: "M" }),
  ...tryCreate("T17", { subjects: ["t17"], sources: { name: "M" } }),
  ...tryCreate("T18", { subjects: ["t18"], republish: "x" }),
  ...tryCreate("T19", { subjects: ["t19"], compression: 1 }),
  ...tryCreate("T20", { subjects: ["t20"], max_msgs_per_subject: 1e20 }),
  ...tryCreate("T21", { subjects: ["t21"], subjects_extra: 1 }),
  ...tryCreate("T22", { subjects: null }),
  ...tryCreate("T23", { subjects: [] }),
  ...tryCreate("T24", { subjects: ["t24"], description: 5 }),
  ...tryCreate("T25", { subjects: ["t25"], first_seq: "1" }),
  ...tryCreate("T26", { subjects: ["t26"], consumer_limits: { max_ack_pending: "5" } }),
  ...tryCreate("T27", { subjects: ["t27"], allow_msg_ttl: "yes" }),
  ...tryCreate("T28", { subjects: ["t28"], subject_delete_marker_ttl: "1s" }),
  ...tryCreate("T29", { subjects: ["t29"], persist_mode: 1 }),
  ...tryCreate("T30", { subjects: ["t30"], max_age: 1.5 * SEC }),
];

const STREAM_VALUES: Step[] = [
  // names and subjects
  { s: "$JS.API.STREAM.CREATE.A B", b: { name: "A B" } },
  { s: "$JS.API.STREAM.CREATE.A.B", b: { name: "A.B" } },
  { s: "$JS.API.STREAM.CREATE.A\tB", b: { name: "A\tB" } },
  ...tryCreate("V1", { subjects: ["a b"] }),
  ...tryCreate("V2", { subjects: ["a.*.>"] }),
  ...tryCreate("V3", { subjects: ["v3", ">"] }),
  ...tryCreate("V4", { subjects: ["$JS.>"] }),
  ...tryCreate("V5", { subjects: ["$SYS.>"] }),
  ...tryCreate("V6", { subjects: ["$JSC.>"] }),
  ...tryCreate("V7", { subjects: ["$NRG.>"] }),
  ...tryCreate("V8", { subjects: ["$JS.API.STREAM.INFO.X"] }),
  ...tryCreate("V9", { subjects: ["*"] }),
  ...tryCreate("V10", { subjects: ["v10.>"], no_ack: true, retention: "workqueue" }),
  ...tryCreate("V11", { subjects: ["v11."] }),
  ...tryCreate("V12", { subjects: [".v12"] }),
  // zero and edge limits
  ...tryCreate("V13", { subjects: ["v13"], max_msgs: 0, max_bytes: 0, max_msg_size: 0, max_msgs_per_subject: 0 }),
  ...tryCreate("V14", { subjects: ["v14"], max_age: 99_000_000 }),
  ...tryCreate("V15", { subjects: ["v15"], max_age: 100_000_000 }),
  ...tryCreate("V16", { subjects: ["v16"], duplicate_window: 0, max_age: SEC }),
  ...tryCreate("V17", { subjects: ["v17"], duplicate_window: SEC, max_age: SEC }),
  ...tryCreate("V18", { subjects: ["v18"], max_consumers: 0 }),
  ...tryCreate("V19", { subjects: ["v19"], max_bytes: 1, max_msg_size: 2 }),
  ...tryCreate("V20", { subjects: ["v20"], compression: "none" }),
  ...tryCreate("V21", { subjects: ["v21"], compression: "" }),
  ...tryCreate("V22", { subjects: ["v22"], storage: "memory", compression: "s2" }),
  ...tryCreate("V23", { subjects: ["v23"], placement: { cluster: "" } }),
  ...tryCreate("V24", { subjects: ["v24"], placement: { cluster: "", tags: [] } }),
  ...tryCreate("V25", { subjects: ["v25"], placement: {} }),
  ...tryCreate("V26", { subjects: ["v26"], metadata: { "": "x" } }),
  ...tryCreate("V27", { subjects: ["v27"], sealed: true, deny_delete: true }),
  ...tryCreate("V28", { subjects: ["v28"], retention: "workqueue", discard: "new", discard_new_per_subject: true, max_msgs_per_subject: 1 }),
  // 2.11-2.15 features and their conflicts
  ...tryCreate("F1", { subjects: ["f1"], allow_msg_ttl: true, subject_delete_marker_ttl: 500_000_000 }),
  ...tryCreate("F2", { subjects: ["f2"], allow_msg_ttl: true, subject_delete_marker_ttl: -1 }),
  ...tryCreate("F3", { subjects: ["f3"], allow_msg_ttl: true, retention: "workqueue" }),
  ...tryCreate("F4", { subjects: ["f4"], allow_msg_counter: true, allow_msg_ttl: true }),
  ...tryCreate("F5", { subjects: ["f5"], allow_msg_counter: true, retention: "workqueue" }),
  ...tryCreate("F6", { subjects: ["f6"], allow_msg_counter: true, allow_rollup_hdrs: true }),
  ...tryCreate("F7", { subjects: ["f7"], allow_msg_counter: true, mirror: { name: "OV" } }),
  ...tryCreate("F8", { subjects: ["f8"], allow_atomic: true, retention: "workqueue" }),
  ...tryCreate("F9", { allow_atomic: true, mirror: { name: "OV" } }),
  ...tryCreate("F10", { subjects: ["f10"], allow_msg_schedules: true, allow_msg_ttl: true }),
  ...tryCreate("F11", { subjects: ["f11"], allow_msg_schedules: true, retention: "workqueue" }),
  ...tryCreate("F12", { allow_msg_schedules: true, mirror: { name: "OV" } }),
  ...tryCreate("F13", { subjects: ["f13"], persist_mode: "async", storage: "memory" }),
  ...tryCreate("F14", { subjects: ["f14"], persist_mode: "default" }),
  ...tryCreate("F15", { subjects: ["f15"], allow_batched: true }),
  ...tryCreate("F16", { subjects: ["f16"], allow_batched: true, allow_atomic: true }),
  ...tryCreate("F17", { subjects: ["f17"], allow_msg_counter: true, discard: "old", allow_direct: true }),
  ...tryCreate("F18", { subject_delete_marker_ttl: SEC, mirror: { name: "OV" } }),
  ...tryCreate("F19", { subjects: ["f19"], allow_msg_ttl: true, mirror: { name: "OV" } }),
  ...tryCreate("F20", { subjects: ["f20"], allow_msg_counter: true, deny_purge: true, deny_delete: true }),
  // transforms and republish
  ...tryCreate("R1", { subjects: ["r1.>"], republish: { src: "r1.>", dest: "r1.x.>" } }),
  ...tryCreate("R2", { subjects: ["r2.>"], republish: { src: "r2.>", dest: "r2..x" } }),
  ...tryCreate("R3", { subjects: ["r3.>"], republish: { src: "r3.>", dest: "" } }),
  ...tryCreate("R4", { subjects: ["r4.>"], republish: { dest: "out.r4.>" } }),
  ...tryCreate("R5", { subjects: ["r5.>"], republish: { src: "other.>", dest: "out.>" } }),
  ...tryCreate("R6", { subjects: ["r6.*"], republish: { src: "r6.*", dest: "out.{{wildcard(1)}}", headers_only: true } }),
  ...tryCreate("R7", { subjects: ["r7.*"], republish: { src: "r7.*", dest: "out.{{wildcard(2)}}" } }),
  ...tryCreate("R8", { subjects: ["r8.*"], subject_transform: { src: "r8.*", dest: "" } }),
  ...tryCreate("R9", { subjects: ["r9.*"], subject_transform: { dest: "x.>" } }),
  ...tryCreate("R10", { subjects: ["r10.*"], subject_transform: { src: "r10.*", dest: "x.{{partition(3)}}" } }),
  ...tryCreate("R11", { subjects: ["r11.*"], subject_transform: { src: "r11.*", dest: "x.{{bogus(1)}}" } }),
  ...tryCreate("R12", { subjects: ["r12.*"], subject_transform: { src: "r12.>", dest: "x.>" } }),
  ...tryCreate("R13", { subjects: ["r13.*"], subject_transform: { src: "r13..*", dest: "x" } }),
  // sources and mirrors
  create("OV", { subjects: ["ov.>"] }),
  ...tryCreate("M1", { mirror: {} }),
  ...tryCreate("M2", { mirror: { name: "" } }),
  ...tryCreate("M3", { mirror: { name: "OV", filter_subject: "ov.a", subject_transforms: [{ src: "ov.a", dest: "x" }] } }),
  ...tryCreate("M4", { mirror: { name: "OV" }, first_seq: 5 }),
  ...tryCreate("M5", { mirror: { name: "OV", external: { api: "" } } }),
  ...tryCreate("M6", { mirror: { name: "OV", external: { api: "$JS.x.API", deliver: "d.>" } } }),
  ...tryCreate("M7", { mirror: { name: "OV" }, republish: { src: ">", dest: "m7.>" } }),
  ...tryCreate("M8", { mirror: { name: "OV" }, subject_transform: { src: ">", dest: "m8.>" } }),
  ...tryCreate("M9", { mirror: { name: "OV", subject_transforms: [{ src: "ov.a", dest: "x" }, { src: "ov.a", dest: "y" }] } }),
  ...tryCreate("M10", { mirror: { name: "OV" }, max_msgs_per_subject: 1, discard: "new", discard_new_per_subject: true }),
  ...tryCreate("M11", { mirror: { name: "OV" }, allow_rollup_hdrs: true }),
  ...tryCreate("M12", { mirror: { name: "M12" } }),
  ...tryCreate("M13", { sources: [{ name: "" }] }),
  ...tryCreate("M14", { sources: [{ name: "OV", filter_subject: "ov.a", subject_transforms: [{ src: "ov.b", dest: "x" }] }] }),
  ...tryCreate("M15", { sources: [{ name: "OV", filter_subject: "ov.a" }, { name: "OV", filter_subject: "ov.a" }] }),
  ...tryCreate("M16", { sources: [{ name: "OV", subject_transforms: [{ src: "ov.a", dest: "" }] }] }),
  ...tryCreate("M17", { sources: [{ name: "OV", subject_transforms: [{ src: "ov..a", dest: "x" }] }] }),
  ...tryCreate("M18", { sources: [{ name: "M18" }] }),
  ...tryCreate("M19", { sources: [{ name: "OV", opt_start_seq: 5, opt_start_time: "2020-01-01T00:00:00Z" }] }),
  ...tryCreate("M20", { sources: [{ name: "OV", filter_subject: "ov..a" }] }),
  ...tryCreate("M21", { subjects: ["m21"], sources: [{ name: "OV", external: { api: "$JS.x.API", deliver: "" } }] }),
  ...tryCreate("M22", { mirror: { name: "OV", domain: "hub", external: { api: "$JS.hub.API" } } }),
];

const STREAM_UPDATES: Step[] = [
  create("OV", { subjects: ["ov.>"] }),
  ...tryUpdate("U1", { subjects: ["u1"] }, { subjects: ["u1"], allow_msg_ttl: true }),
  ...tryUpdate("U2", { subjects: ["u2"], allow_msg_counter: true }, { subjects: ["u2"], allow_msg_counter: false }),
  ...tryUpdate("U3", { subjects: ["u3"] }, { subjects: ["u3"], allow_msg_counter: true }),
  ...tryUpdate("U4", { subjects: ["u4"] }, { subjects: ["u4"], allow_atomic: true }),
  ...tryUpdate("U5", { subjects: ["u5"], allow_atomic: true }, { subjects: ["u5"], allow_atomic: false }),
  ...tryUpdate("U6", { subjects: ["u6"] }, { subjects: ["u6"], allow_msg_schedules: true }),
  ...tryUpdate("U7", { subjects: ["u7"], allow_msg_schedules: true }, { subjects: ["u7"], allow_msg_schedules: false }),
  ...tryUpdate("U8", { subjects: ["u8"] }, { subjects: ["u8"], persist_mode: "async" }),
  ...tryUpdate("U9", { subjects: ["u9"] }, { subjects: ["u9"], mirror: { name: "OV" } }),
  ...tryUpdate("U10", { mirror: { name: "OV" } }, { mirror: { name: "OV", filter_subject: "ov.a" } }),
  ...tryUpdate("U11", { mirror: { name: "OV" } }, {}),
  ...tryUpdate("U12", { subjects: ["u12"] }, { subjects: ["u12"], subject_delete_marker_ttl: SEC }),
  ...tryUpdate("U13", { subjects: ["u13"], allow_msg_ttl: true }, { subjects: ["u13"], allow_msg_ttl: true, subject_delete_marker_ttl: SEC }),
  ...tryUpdate("U14", { subjects: ["u14"] }, { subjects: ["u14"], retention: "interest" }),
  ...tryUpdate("U15", { subjects: ["u15"], retention: "workqueue" }, { subjects: ["u15"], retention: "limits" }),
  ...tryUpdate("U16", { subjects: ["u16"], allow_direct: true }, { subjects: ["u16"], allow_direct: false }),
  ...tryUpdate("U17", { subjects: ["u17"] }, { subjects: ["u17"], mirror_direct: true }),
  ...tryUpdate("U18", { subjects: ["u18"] }, { subjects: ["u18"], max_age: SEC, duplicate_window: 2 * SEC }),
  ...tryUpdate("U19", { subjects: ["u19"] }, { subjects: ["u19"], max_msgs: "5" }),
  ...tryUpdate("U20", { subjects: ["u20"] }, { subjects: ["u20"], discard: "new", discard_new_per_subject: true }),
  ...tryUpdate("U21", { subjects: ["u21"], sealed: false }, { subjects: ["u21"], sealed: true, deny_delete: false }),
  ...tryUpdate("U22", { subjects: ["u22"] }, { subjects: ["u22"], consumer_limits: { max_ack_pending: -1 } }),
  ...tryUpdate("U23", { subjects: ["u23"] }, { subjects: ["u23"], placement: { cluster: "other" } }),
  ...tryUpdate("U24", { subjects: ["u24"] }, { subjects: ["u24"], allow_batched: true }),
  ...tryUpdate("U25", { subjects: ["u25"] }, { subjects: ["u25"], compression: "bogus" }),
  // replicas on a standalone server: a missing stream is "not found" before replicas are refused
  { s: "$JS.API.STREAM.UPDATE.U26", b: { name: "U26", subjects: ["u26"], num_replicas: 3 }, note: "update of a missing stream, R3" },
  ...tryUpdate("U27", { subjects: ["u27"] }, { subjects: ["u27"], num_replicas: 3, storage: "memory" }),
  // first_seq 1 (file and memory) makes an empty stream start at 1; a mirror's filter is not in its source info
  ...tryCreate("U28", { subjects: ["u28"], first_seq: 1 }),
  ...tryCreate("U29", { subjects: ["u29"], first_seq: 1, storage: "memory" }),
  ...tryCreate("U30", { mirror: { name: "OV", filter_subject: "ov.a" } }),
  ...tryCreate("U31", { sources: [{ name: "OV", filter_subject: "ov.a" }] }),
  // a purge asking for both seq and keep is a bad request before its stream is looked up
  { s: "$JS.API.STREAM.PURGE.U32", b: { seq: 3, keep: 1 }, note: "purge seq+keep of a missing stream" },
];

const cc = (stream: string, config: Json | null, extra: Json = {}): Json => ({ stream_name: stream, config, ...extra });
const C = "$JS.API.CONSUMER.CREATE.";
/** Create consumer `name` on stream K with `config` (named in the subject), then delete it. */
function tryConsumer(name: string, config: Json, stream = "K"): Step[] {
  return [
    { s: `${C}${stream}.${name}`, b: cc(stream, { name, ...config }), note: name },
    { s: `$JS.API.CONSUMER.DELETE.${stream}.${name}` },
  ];
}

const CONSUMERS: Step[] = [
  { s: "$JS.API.STREAM.CREATE.K", b: { name: "K", subjects: ["k.>"], consumer_limits: { max_ack_pending: 100, inactive_threshold: 60 * SEC } }, setup: true },
  { s: "$JS.API.STREAM.CREATE.WQ", b: { name: "WQ", subjects: ["wq.>"], retention: "workqueue" }, setup: true },
  { s: "$JS.API.STREAM.CREATE.CT", b: { name: "CT", subjects: ["ct.>"], allow_msg_counter: true }, setup: true },
  // wrong JSON types
  ...tryConsumer("c1", { ack_policy: 1 }),
  ...tryConsumer("c2", { deliver_policy: null }),
  ...tryConsumer("c3", { max_deliver: "5" }),
  ...tryConsumer("c4", { ack_wait: "30s" }),
  ...tryConsumer("c5", { backoff: "1s" }),
  ...tryConsumer("c6", { backoff: [SEC, "x"] }),
  ...tryConsumer("c7", { filter_subjects: "k.a" }),
  ...tryConsumer("c8", { headers_only: "true" }),
  ...tryConsumer("c9", { metadata: [] }),
  ...tryConsumer("c10", { replay_policy: "" }),
  ...tryConsumer("c11", { opt_start_seq: "1", deliver_policy: "by_start_sequence" }),
  ...tryConsumer("c12", { opt_start_time: 5, deliver_policy: "by_start_time" }),
  ...tryConsumer("c13", { priority_groups: "a", priority_policy: "pinned_client" }),
  ...tryConsumer("c14", { pause_until: "tomorrow" }),
  ...tryConsumer("c15", { max_waiting: -1 }),
  ...tryConsumer("c16", { max_batch: -1 }),
  ...tryConsumer("c17", { max_expires: -1 }),
  ...tryConsumer("c18", { max_bytes: -1 }),
  ...tryConsumer("c19", { num_replicas: -1 }),
  ...tryConsumer("c20", { num_replicas: 3 }),
  ...tryConsumer("c21", { mem_storage: "yes" }),
  ...tryConsumer("c22", { inactive_threshold: -1 }),
  ...tryConsumer("c23", { rate_limit_bps: -1 }),
  ...tryConsumer("c24", { sample_freq: "bogus" }),
  ...tryConsumer("c25", { sample_freq: "150%" }),
  ...tryConsumer("c26", { sample_freq: "50" }),
  // against the stream's limits and kind
  ...tryConsumer("k1", { max_ack_pending: 200 }),
  ...tryConsumer("k2", { max_ack_pending: -1 }),
  ...tryConsumer("k3", { inactive_threshold: 120 * SEC }),
  ...tryConsumer("k4", { durable_name: "k4" }),
  ...tryConsumer("k5", { ack_policy: "none" }),
  ...tryConsumer("w1", { ack_policy: "none" }, "WQ"),
  ...tryConsumer("w2", { deliver_policy: "last" }, "WQ"),
  ...tryConsumer("w3", { deliver_policy: "new" }, "WQ"),
  ...tryConsumer("w4", { filter_subject: "wq.a", max_deliver: 1 }, "WQ"),
  ...tryConsumer("w5", { ack_policy: "all" }, "WQ"),
  ...tryConsumer("ct1", { ack_policy: "explicit" }, "CT"),
  // option combinations
  ...tryConsumer("o1", { ack_policy: "flow_control" }),
  ...tryConsumer("o2", { ack_policy: "flow_control", deliver_subject: "o2.d" }),
  ...tryConsumer("o3", { deliver_subject: "o3.d", max_waiting: 5 }),
  ...tryConsumer("o4", { deliver_subject: "o4.d", max_batch: 5 }),
  ...tryConsumer("o5", { deliver_subject: "o5.d", max_expires: SEC }),
  ...tryConsumer("o6", { deliver_subject: "o6.d", priority_groups: ["g"], priority_policy: "overflow" }),
  ...tryConsumer("o7", { priority_groups: ["g"], priority_policy: "bogus" }),
  ...tryConsumer("o8", { priority_groups: ["g", "g"], priority_policy: "pinned_client" }),
  ...tryConsumer("o9", { priority_groups: ["g*"], priority_policy: "pinned_client" }),
  ...tryConsumer("o10", { priority_groups: ["g"], priority_policy: "pinned_client", priority_timeout: -1 }),
  ...tryConsumer("o11", { priority_groups: ["g"], priority_policy: "prioritized" }),
  ...tryConsumer("o12", { priority_policy: "pinned_client" }),
  ...tryConsumer("o13", { priority_groups: ["g"], priority_policy: "overflow", priority_timeout: SEC }),
  ...tryConsumer("o14", { backoff: [SEC, 2 * SEC], max_deliver: 1 }),
  ...tryConsumer("o15", { backoff: [SEC, 2 * SEC], ack_wait: 5 * SEC }),
  ...tryConsumer("o16", { backoff: [0] }),
  ...tryConsumer("o17", { deliver_policy: "by_start_sequence" }),
  ...tryConsumer("o18", { deliver_policy: "by_start_time" }),
  ...tryConsumer("o19", { deliver_policy: "all", opt_start_seq: 3 }),
  ...tryConsumer("o20", { deliver_policy: "last_per_subject" }),
  ...tryConsumer("o21", { deliver_policy: "last_per_subject", filter_subject: "k.*" }),
  ...tryConsumer("o22", { replay_policy: "original", deliver_subject: "o22.d" }),
  ...tryConsumer("o23", { idle_heartbeat: SEC }),
  ...tryConsumer("o24", { flow_control: true }),
  ...tryConsumer("o25", { deliver_subject: "o25.d", flow_control: true }),
  ...tryConsumer("o26", { deliver_subject: "o26.d", idle_heartbeat: 10_000_000 }),
  ...tryConsumer("o27", { deliver_subject: "k.x" }),
  ...tryConsumer("o28", { deliver_subject: "o28.*" }),
  ...tryConsumer("o29", { deliver_group: "g" }),
  ...tryConsumer("o30", { headers_only: true, deliver_subject: "o30.d", rate_limit_bps: 1024 }),
  ...tryConsumer("o31", { max_request_max_bytes: 10 }),
  ...tryConsumer("o32", { pause_until: "2000-01-01T00:00:00Z" }),
  ...tryConsumer("o33", { description: "x".repeat(4097) }),
  ...tryConsumer("o34", { ack_policy: "none", max_ack_pending: 5 }),
  ...tryConsumer("o35", { max_deliver: 0 }),
  ...tryConsumer("o36", { max_deliver: -5 }),
  ...tryConsumer("o37", { ack_wait: -1 }),
  ...tryConsumer("o38", { filter_subject: "k.a", filter_subjects: [] }),
  { s: `${C}K.x1`, b: cc("K", { name: "x1" }, { action: "create", pedantic: true }) },
  { s: `${C}K.x2`, b: cc("K", { name: "x2", max_ack_pending: 200 }, { pedantic: true }) },
  { s: `${C}K.x3`, b: cc("K", { name: "x3", inactive_threshold: 120 * SEC }, { pedantic: true }) },
  { s: `${C}K.x4`, b: cc("K", { name: "x4", bogus: 1 }) },
  { s: `${C}K.x5`, b: { stream_name: "K" } },
  { s: `${C}K.x6`, b: { stream_name: "K", config: "x" } },
  { s: `${C}K.x7`, b: cc("NOPE", { name: "x7" }) },
];

describe("configuration sweep side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sbs: SideBySide;
  before(async () => {
    sbs = await startSideBySide();
  });
  after(async () => sbs?.close());
  for (const [what, steps] of [
    ["stream fields of the wrong JSON type", STREAM_TYPES],
    ["stream names, subjects, limits, 2.11-2.15 features, transforms, republish, sources, mirrors", STREAM_VALUES],
    ["stream updates of the 2.11-2.15 features and other fields", STREAM_UPDATES],
    ["consumer types, limits against the stream, option combinations", CONSUMERS],
  ] as const) {
    it(what, async () => {
      let diffs = differences(steps, await sbs.run(steps));
      // A loaded nats-server sometimes fails to create a stream's store (500 "error creating
      // store for stream"): a hiccup of the reference, not an answer to compare. Every step
      // leaves nothing behind, so the table runs again.
      if (diffs.some((d) => d.includes("error creating store for stream"))) diffs = differences(steps, await sbs.run(steps));
      assert.deepEqual(diffs, []);
    });
  }
});
