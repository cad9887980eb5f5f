// Stream features of nats-server 2.10 as 2.15 answers them: subject transforms with every
// mapping function (ADR-30/36) and their errors, first_seq, metadata with the `_nats.*`
// keys, consumer_limits, discard_new_per_subject, `ts`, the account info `api` block and
// the Nats-Required-Api-Level check; plus the 2.11-2.15 config validations a client meets
// on create and update (TTL, counters, schedules, persist mode, pedantic mode).
// Side by side with nats-server 2.15 on the same raw $JS.API requests; then through a
// client and across a restart.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { startServer } from "../src/index.js";
import { startTestServer } from "./helpers/server.js";
import { differences, referenceMissing, startSideBySide, type SideBySide, type Step } from "./helpers/side_by_side.js";
import { JS_API_LEVEL } from "../src/jetstream/api_level.js";
import { NATS_FEATURE_VERSION } from "../src/server/version.js";

type Json = Record<string, unknown>;

const create = (name: string, cfg: Json, extra: Json = {}): Step => ({ s: `$JS.API.STREAM.CREATE.${name}`, b: { name, ...cfg, ...extra } });
const update = (name: string, cfg: Json, extra: Json = {}): Step => ({ s: `$JS.API.STREAM.UPDATE.${name}`, b: { name, ...cfg, ...extra } });
const getMsg = (name: string, seq: number): Step => ({ s: `$JS.API.STREAM.MSG.GET.${name}`, b: { seq } });
const pub = (s: string, b = "x", h?: Record<string, string>): Step => ({ s, b, h });
const transform = (name: string, subjects: string[], src: string, dest: string): Step => create(name, { subjects, subject_transform: { src, dest } });

/** Every mapping function, applied to a published message (the stored subject shows the result). */
const TRANSFORMS: Step[] = [
  transform("T1", ["in.*.*"], "in.*.*", "out.{{wildcard(2)}}.{{wildcard(1)}}"),
  pub("in.a.b"),
  getMsg("T1", 1),
  transform(
    "T3",
    ["t3.*.*"],
    "t3.*.*",
    "o.{{partition(5,1,2)}}.{{split(2,-)}}.{{sliceFromLeft(1,2)}}.{{sliceFromRight(1,2)}}.{{splitFromLeft(1,1)}}.{{splitFromRight(2,2)}}.$1",
  ),
  pub("t3.abcde.a-b--c"),
  getMsg("T3", 1),
  transform("T4", ["t4.>"], "t4.>", "o.{{partition(3)}}.>"),
  pub("t4.x.y"),
  getMsg("T4", 1),
  transform("T5", ["t5.*"], "t5.*", "o.{{split(1,-)}}"),
  pub("t5.--a-b"),
  getMsg("T5", 1),
  transform("T6", ["t6.*"], "t6.*", "o.{{ Wildcard( 1 ) }}.$x.{{partition(10)}}.{{left(1,1)}}.{{right(1,1)}}.{{random(1)}}"),
  pub("t6.zz"),
  getMsg("T6", 1),
  transform("T7", ["t7.*"], "t7.*", "o.{{SplitFromLeft(1,9)}}.{{sliceFromLeft(1,0)}}.{{left(1,-1)}}"),
  pub("t7.abc"),
  getMsg("T7", 1),
  // A subject the transform does not match is stored as is.
  transform("T8", ["t8.*", "u8"], "t8.*", "o8.$1"),
  pub("u8"),
  getMsg("T8", 1),
  { s: "$JS.API.STREAM.INFO.T8" },
  // Updates change the transform for what comes next.
  update("T8", { subjects: ["t8.*", "u8"], subject_transform: { src: "u8", dest: "v8" } }),
  pub("u8"),
  getMsg("T8", 2),
  // Errors: bad source, bad destinations, unknown functions, argument problems.
  ...[
    ["t2..*", "x"],
    ["t2.*", "x.*"],
    ["t2.*", "x.>"],
    ["t2.*", "x.{{wildcard(2)}}"],
    ["t2.*", "x.{{foo(1)}}"],
    ["t2.*", "x.{{WILDCARD(1)}}"],
    ["t2.*", "x.{{wildcard()}}"],
    ["t2.*", "x.{{wildcard(1,2)}}"],
    ["t2.*", "x.{{wildcard(a)}}"],
    ["t2.*", "x.{{split(1)}}"],
    ["t2.*", "x.{{split(1,a b)}}"],
    ["t2.*", "x.{{split(1,1,2)}}"],
    ["t2.*", "x.{{splitFromLeft(1)}}"],
    ["t2.*", "x.{{splitFromLeft(1,2,3)}}"],
    ["t2.*", "x.{{sliceFromRight(1,b)}}"],
    ["t2.*", "x.{{partition(a,1)}}"],
    ["t2.*", "x.{{partition(3,a)}}"],
    ["t2.*", "x.{{random()}}"],
    ["t2.*", "x.{{random(1,2)}}"],
    ["t2", "x.{{wildcard(1)}}"],
    ["t2", "x.$1"],
    ["t2.*", "x y"],
    ["t2.*", "x..y"],
    ["t2.*", ">.x"],
    ["t2.>", "x"],
  ].map(([src, dest]) => transform("T2", ["t2.>"], src!, dest!)),
  transform("T9", ["t9.*"], "t9.*", ""),
  transform("T10", ["t10.>"], "", "x10.>"),
];

const CONFIGS: Step[] = [
  { s: "$JS.API.INFO" },
  create("F1", { subjects: ["f1"], first_seq: 100, metadata: { a: "b" }, consumer_limits: { inactive_threshold: 5e9, max_ack_pending: 10 } }),
  pub("f1"),
  { s: "$JS.API.STREAM.INFO.F1" },
  create("F1", { subjects: ["f1"], first_seq: 100, metadata: { a: "b" }, consumer_limits: { inactive_threshold: 5e9, max_ack_pending: 10 } }),
  create("F1", { subjects: ["f1"], first_seq: 100, metadata: { a: "c" } }),
  update("F1", { subjects: ["f1"], first_seq: 5, metadata: { a: "c" } }),
  update("F1", { subjects: ["f1"], metadata: { "_nats.req.level": "9", "_nats.ver": "x", k: "v" } }),
  create("E", { max_msgs: -5 }),
  create("E", { max_msgs: -5 }, { pedantic: true }),
  create("E", { max_age: -5 }),
  create("E", { max_age: 1e9 }, { pedantic: true }),
  create("E", { template_owner: "x" }),
  create("E", { compression: "zz" }),
  create("E", { compression: "" }),
  create("E", { persist_mode: "x" }),
  create("E", { persist_mode: "async", storage: "memory" }),
  create("E", { persist_mode: "async", allow_atomic: true }),
  create("E", { allow_msg_counter: true, discard: "new" }),
  create("E", { allow_msg_counter: true, allow_msg_ttl: true }),
  create("E", { allow_msg_counter: true, allow_msg_schedules: true }),
  create("E", { allow_msg_counter: true, retention: "interest" }),
  create("E", { subject_delete_marker_ttl: 5e8 }),
  create("E", { subject_delete_marker_ttl: -1 }),
  create("E", { subject_delete_marker_ttl: 1e9 }, { pedantic: true }),
  create("E", { subject_delete_marker_ttl: 1e9, allow_msg_ttl: true }, { pedantic: true }),
  create("E", { allow_msg_schedules: true, discard: "new" }),
  create("E", { allow_msg_schedules: true }, { pedantic: true }),
  create("E", { discard_new_per_subject: true }),
  create("E", { discard_new_per_subject: true, discard: "new" }),
  create("E", { subjects: [">"] }),
  create("E", { subjects: ["$SYS.x"] }),
  create("E", { subjects: ["$JSC.x"] }),
  create("E", { mirror_direct: true }),
  create("E", { placement: { preferred: "x" } }),
  create("E", { subjects: ["$JS.EVENT.x"], placement: {} }),
  { s: "$JS.API.STREAM.DELETE.E" },
  { s: "$JS.API.STREAM.CREATE.a b", b: { name: "a b" } },
  create("E", { republish: { dest: "x" } }, { pedantic: true }),
  create("E", { republish: { src: "E", dest: "E.x" } }),
  create("E", { republish: { src: "E", dest: "E" } }),
  create("E", { republish: { src: "E.*", dest: "x" } }),
  create("E", { subjects: ["e.*"], republish: { src: "e.*", dest: "r.{{wildcard(1)}}" } }),
  update("E", { subjects: ["e.*"], republish: { src: "e.*", dest: "r2.{{wildcard(1)}}" } }),
  update("E", { subjects: ["e.*"], max_consumers: 5 }),
  create("IMP", { subjects: ["imp.a"], subject_transform: { src: "imp.a", dest: "imp.b" }, republish: { src: ">", dest: ">" } }),
  create("G", { allow_msg_ttl: true }),
  update("G", {}),
  create("H", { allow_msg_counter: true }),
  update("H", {}),
  create("I", { allow_msg_schedules: true, allow_atomic: true, allow_batched: true }),
  update("I", {}),
  create("J", { persist_mode: "async" }),
  update("J", {}),
  create("K", { subject_delete_marker_ttl: 1e9 }),
  create("DN", { subjects: ["dn.*"], discard: "new", max_msgs_per_subject: 1, discard_new_per_subject: true }),
  pub("dn.a"),
  pub("dn.a"),
  pub("dn.b"),
  { s: "$JS.API.STREAM.INFO.DN" },
  { s: "$JS.API.INFO" },
  { s: "$JS.API.STREAM.LIST" },
  { s: "$JS.API.INFO", h: { "Nats-Required-Api-Level": "99" } },
  { s: "$JS.API.STREAM.NAMES", h: { "Nats-Required-Api-Level": "x" } },
  { s: "$JS.API.STREAM.NAMES", h: { "Nats-Required-Api-Level": "0" } },
];

/** consumer_limits: defaults and ceilings for consumers, and updates that would break them. */
const CONSUMER_LIMITS: Step[] = [
  create("CL", { subjects: ["cl"], consumer_limits: { inactive_threshold: 5e9, max_ack_pending: 10 } }),
  { s: "$JS.API.CONSUMER.CREATE.CL.d1", b: { stream_name: "CL", config: { durable_name: "d1", ack_policy: "explicit" } }, ignore: ["metadata"] },
  { s: "$JS.API.CONSUMER.CREATE.CL.d2", b: { stream_name: "CL", config: { durable_name: "d2", ack_policy: "explicit", max_ack_pending: 11 } } },
  { s: "$JS.API.CONSUMER.CREATE.CL.d3", b: { stream_name: "CL", config: { durable_name: "d3", ack_policy: "explicit", inactive_threshold: 6e9 } } },
  { s: "$JS.API.CONSUMER.CREATE.CL.d4", b: { stream_name: "CL", config: { durable_name: "d4", ack_policy: "explicit" }, pedantic: true } },
  { s: "$JS.API.CONSUMER.CREATE.CL.d5", b: { stream_name: "CL", config: { durable_name: "d5", ack_policy: "none", inactive_threshold: 1e9 } }, ignore: ["metadata"] },
  // Only d1 left to violate the next updates (nats-server lists violators in map order).
  { s: "$JS.API.CONSUMER.DELETE.CL.d5" },
  update("CL", { subjects: ["cl"], consumer_limits: { inactive_threshold: 5e9, max_ack_pending: 5 } }),
  update("CL", { subjects: ["cl"], consumer_limits: { inactive_threshold: 1e9, max_ack_pending: 10 } }),
  update("CL", { subjects: ["cl"], consumer_limits: {} }),
  { s: "$JS.API.STREAM.INFO.CL" },
];

describe("stream features of 2.10-2.15 side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sides: SideBySide;
  before(async () => {
    sides = await startSideBySide();
  });
  after(async () => {
    await sides.close();
  });

  for (const [what, steps] of [
    ["subject transforms: every mapping function and every error", TRANSFORMS],
    ["stream configs: first_seq, metadata, validation of new fields, pedantic, update rules, api level", CONFIGS],
    ["consumer_limits", CONSUMER_LIMITS],
  ] as const) {
    it(what, async () => {
      assert.deepEqual(differences([...steps], await sides.run([...steps])), []);
    });
  }
});

describe("stream features through clients and restarts", () => {
  it("the api level follows the reported version and shows in $JS.API.INFO and stream metadata", async () => {
    const srv = await startTestServer({ jetstream: true });
    const nc = await connect({ servers: srv.url });
    try {
      const info = (await nc.request("$JS.API.INFO")).json<{ api: { level: number } }>();
      assert.equal(info.api.level, JS_API_LEVEL);
      const si = (await nc.request("$JS.API.STREAM.CREATE.M", JSON.stringify({ name: "M", allow_msg_ttl: true, metadata: { k: "v" } }))).json<{
        config: { metadata: Record<string, string> };
      }>();
      assert.deepEqual(si.config.metadata, { k: "v", "_nats.req.level": "1", "_nats.ver": NATS_FEATURE_VERSION, "_nats.level": String(JS_API_LEVEL) });
      const refused = (await nc.request("$JS.API.STREAM.INFO.M", "", { timeout: 2000, headers: levelHeader(JS_API_LEVEL + 1) })).json<{ error: Json }>();
      assert.deepEqual(refused.error, { code: 412, err_code: 10185, description: "JetStream minimum api level required" });
      const ok = (await nc.request("$JS.API.STREAM.INFO.M", "", { timeout: 2000, headers: levelHeader(JS_API_LEVEL) })).json<{ error?: Json }>();
      assert.equal(ok.error, undefined);
    } finally {
      await nc.close();
      await srv.close();
    }
  });

  it("transform, first_seq, metadata and consumer_limits survive a restart and keep working", async () => {
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-streams210-"));
    const opts = { host: "127.0.0.1", port: -1, jetstream: { storeDir } };
    let s = await startServer(opts);
    let nc = await connect({ servers: s.url });
    try {
      const cfg = {
        name: "R",
        subjects: ["r.*"],
        first_seq: 42,
        metadata: { owner: "me" },
        subject_transform: { src: "r.*", dest: "stored.{{wildcard(1)}}" },
        consumer_limits: { max_ack_pending: 7 },
      };
      const created = (await nc.request("$JS.API.STREAM.CREATE.R", JSON.stringify(cfg))).json<{ error?: Json }>();
      assert.equal(created.error, undefined);
      await nc.request("r.one", "1");
      await nc.close();
      await s.close();
      s = await startServer(opts);
      nc = await connect({ servers: s.url });
      const ack = (await nc.request("r.two", "2")).json<{ seq: number }>();
      assert.equal(ack.seq, 43);
      const m = (await nc.request("$JS.API.STREAM.MSG.GET.R", JSON.stringify({ seq: 43 }))).json<{ message: { subject: string } }>();
      assert.equal(m.message.subject, "stored.two");
      const info = (await nc.request("$JS.API.STREAM.INFO.R")).json<{ config: Json; state: { first_seq: number } }>();
      assert.equal(info.state.first_seq, 42);
      assert.equal((info.config.metadata as Record<string, string>).owner, "me");
      const c = (await nc.request("$JS.API.CONSUMER.CREATE.R.c", JSON.stringify({ stream_name: "R", config: { durable_name: "c", ack_policy: "explicit" } }))).json<{
        config: { max_ack_pending: number };
      }>();
      assert.equal(c.config.max_ack_pending, 7);
      // The re-sent config is the same stream (idempotent create), metadata keys and all.
      const again = (await nc.request("$JS.API.STREAM.CREATE.R", JSON.stringify(cfg))).json<{ error?: Json }>();
      assert.equal(again.error, undefined);
    } finally {
      await nc.close();
      await s.close();
      fs.rmSync(storeDir, { recursive: true, force: true });
    }
  });
});

function levelHeader(level: number): MsgHdrs {
  const h = natsHeaders();
  h.set("Nats-Required-Api-Level", String(level));
  return h;
}
