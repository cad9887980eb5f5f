// A seeded random walk of stream traffic run on tsnats and nats-server 2.15 side by side:
// publishes with every kind of expectation, de-duplication, rollup and KV header, message
// gets and direct gets, deletes, purges (filtered, by sequence, keeping some), stream and
// consumer info, and no-wait pulls of a durable, on plain and KV-like streams. Each answer must
// agree. Clocks stay out of it (no TTLs, max ages or pull expiries): the two servers run the
// steps at their own pace. nats-server settles a consumer's pending message that a limit or a
// delete removed on another goroutine, so pulls and consumer info wait 100 ms before asking
// (its answer could otherwise come from before the settling; tsnats settles at once). Earlier sweeps of this kind found purge, rollup and ack-all
// differences (see js_consumers).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { differences, referenceMissing, startSideBySide, type SideBySide, type Step } from "./helpers/side_by_side.js";
import { Walk } from "./helpers/seeded_walk.js";

type Json = Record<string, unknown>;

const PLAIN_STREAMS: Json[] = [
  {},
  { max_msgs_per_subject: 2 },
  { allow_rollup_hdrs: true },
  { retention: "workqueue" },
  { max_msgs: 5, discard: "new" },
  { deny_delete: true },
  { storage: "memory" },
  { allow_direct: true },
  { allow_rollup_hdrs: true, allow_direct: true, max_msgs_per_subject: 3 },
  { allow_msg_counter: true },
];

function kvStream(w: Walk): Json {
  return { max_msgs_per_subject: w.pick([1, 3, 5]), allow_rollup_hdrs: true, deny_delete: true, allow_direct: true, discard: "new", duplicate_window: w.pick([0, 120e9]) };
}

function headerValue(w: Walk, name: string): string {
  switch (name) {
    case "Nats-Msg-Id":
      return w.pick(["m1", "m2", "", `m${w.int(5)}`]);
    case "Nats-Expected-Stream":
      return w.pick(["D", "X", ""]);
    case "Nats-Expected-Last-Sequence":
    case "Nats-Expected-Last-Subject-Sequence":
      return w.pick(["0", "1", String(w.int(8)), "x"]);
    case "Nats-Expected-Last-Msg-Id":
      return w.pick(["m1", "m2", "", "zz"]);
    case "Nats-Rollup":
      return w.pick(["sub", "all", "bogus", ""]);
    case "Nats-Incr":
      return w.pick(["1", "-2", "x", "+5"]);
    case "Nats-Expected-Last-Subject-Sequence-Subject":
      return w.pick(["d.a", "d.*", "d.>", "zz"]);
    case "KV-Operation":
      return w.pick(["DEL", "PURGE", "bogus"]);
    default:
      return "";
  }
}

/** `n` random steps on stream D (plain or KV-like) with a durable P. */
function walk(seed: number, n: number, kv: boolean): Step[] {
  const w = new Walk(seed);
  const subjects = kv ? ["d.k1", "d.k2", "d.c.x", "d.c.y"] : ["d.a", "d.b", "d.c.x", "d.c.y"];
  const headerNames = kv
    ? ["KV-Operation", "Nats-Rollup", "Nats-Expected-Last-Subject-Sequence", "Nats-Msg-Id"]
    : ["Nats-Msg-Id", "Nats-Expected-Stream", "Nats-Expected-Last-Sequence", "Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Last-Msg-Id", "Nats-Rollup", "Nats-Incr", "Nats-Expected-Last-Subject-Sequence-Subject"];
  const cfg = kv ? kvStream(w) : w.pick(PLAIN_STREAMS);
  const subj = (): string => w.pick(subjects);
  const steps: Step[] = [
    { s: "$JS.API.STREAM.CREATE.D", b: { name: "D", subjects: ["d.>"], ...cfg }, note: `seed ${seed} ${JSON.stringify(cfg)}` },
    { s: "$JS.API.CONSUMER.CREATE.D.P", b: { stream_name: "D", config: { durable_name: "P", ack_policy: w.pick(["explicit", "none", "all"]), max_deliver: w.pick([-1, 2]) } } },
  ];
  for (let i = 0; i < n; i++) {
    const k = w.next();
    if (k < 0.4) {
      const h: Record<string, string> = {};
      for (let j = w.int(3); j > 0; j--) {
        const name = w.pick(headerNames);
        h[name] = headerValue(w, name);
      }
      steps.push({ s: subj(), b: w.pick(["", "x", "hello", "12"]), h: Object.keys(h).length > 0 ? h : undefined, note: "publish" });
    } else if (k < 0.5) {
      steps.push({ s: "$JS.API.STREAM.MSG.GET.D", b: w.pick<unknown>([{ seq: w.int(8) }, { last_by_subj: subj() }, { next_by_subj: subj(), seq: w.int(5) }, { seq: 1, last_by_subj: "d.a" }, {}, "bad", { next_by_subj: "d.>" }, { last_by_subj: "d.*" }, { seq: -1 }]), note: "get" });
    } else if (k < 0.58) {
      const batch = w.pick<unknown>([{ seq: w.int(8) }, { last_by_subj: subj() }, { next_by_subj: subj() }, { batch: 3, seq: 1 }, { multi_last: ["d.>"] }, { multi_last: ["d.*"], batch: 2 }, "", { seq: 0 }, { batch: 2, next_by_subj: "d.c.>" }]);
      steps.push({ s: w.pick(["$JS.API.DIRECT.GET.D", `$JS.API.DIRECT.GET.D.${subj()}`]), b: batch, expect: "msgs", waitMs: 200, note: "direct get" });
    } else if (k < 0.65) {
      steps.push({ s: "$JS.API.STREAM.MSG.DELETE.D", b: w.pick<unknown>([{ seq: w.int(8) }, { seq: w.int(8), no_erase: true }, {}, { seq: 0 }]), note: "delete" });
    } else if (k < 0.71) {
      steps.push({ s: "$JS.API.STREAM.PURGE.D", b: w.pick<unknown>([undefined, {}, { filter: subj() }, { seq: w.int(8) }, { keep: w.int(3) }, { filter: "d.c.>", keep: 1 }, { seq: 3, keep: 1 }, { filter: "zz" }]), note: "purge" });
    } else if (k < 0.77) {
      steps.push({ s: "$JS.API.STREAM.INFO.D", b: w.pick<unknown>([undefined, { subjects_filter: ">" }, { subjects_filter: "d.c.*", offset: 1 }]), note: "stream info" });
    } else if (k < 0.9) {
      steps.push({ s: "$JS.API.CONSUMER.MSG.NEXT.D.P", b: w.pick<unknown>([{ batch: 1, no_wait: true }, { batch: 2, no_wait: true, max_bytes: 10 }, { batch: 3, no_wait: true }, { batch: 0 }]), expect: "msgs", waitMs: 300, delayMs: 100, note: "no-wait pull" });
    } else {
      steps.push({ s: "$JS.API.CONSUMER.INFO.D.P", delayMs: 100, note: "consumer info" });
    }
  }
  steps.push({ s: "$JS.API.STREAM.DELETE.D", note: "delete stream" });
  return steps;
}

describe("random stream traffic side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sbs: SideBySide;
  before(async () => {
    sbs = await startSideBySide();
  });
  after(async () => sbs?.close());
  for (const kv of [false, true]) {
    for (const seed of [1, 2, 3, 4]) {
      it(`${kv ? "KV-like" : "plain"} stream, seed ${seed}`, async () => {
        const steps = walk(seed, 60, kv);
        assert.deepEqual(differences(steps, await sbs.run(steps)), []);
      });
    }
  }
});
