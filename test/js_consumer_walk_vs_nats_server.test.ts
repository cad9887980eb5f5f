// Consumer traffic on tsnats and nats-server 2.15 side by side: pulls (no-wait, expiring,
// waiting while messages arrive), acks of every kind on the messages just received (ACK, NAK,
// NAK with delay, TERM, WPI, unknown bodies, with and without a confirmation asked), deletes and
// purges under pending messages, consumer and stream info, on limits, interest and work-queue
// streams, with filters, deliver policies, max_deliver, max_ack_pending, max_waiting, max_batch
// and max_bytes. Fixed scenarios for the differences such walks found, then seeded random walks.
// Ack waits are long (60 s) so no redelivery depends on a clock; pulls and infos wait 100 ms
// first, since nats-server settles some changes on other goroutines.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { differences, referenceMissing, startSideBySide, type SideBySide, type Step } from "./helpers/side_by_side.js";
import { Walk } from "./helpers/seeded_walk.js";

type Json = Record<string, unknown>;
const SEC = 1e9;

const stream = (cfg: Json = {}): Step => ({ s: "$JS.API.STREAM.CREATE.D", b: { name: "D", subjects: ["d.>"], ...cfg }, retryOnErrCode: 10049, note: `stream ${JSON.stringify(cfg)}` });
const consumer = (cfg: Json): Step => ({ s: "$JS.API.CONSUMER.CREATE.D.P", b: { stream_name: "D", config: { durable_name: "P", ack_wait: 60 * SEC, ...cfg } }, note: `consumer ${JSON.stringify(cfg)}` });
const pub = (subject: string, body = "x"): Step => ({ s: subject, b: body, note: "publish" });
const pull = (req: Json): Step => ({ s: "$JS.API.CONSUMER.MSG.NEXT.D.P", b: req, expect: "msgs", waitMs: 300, delayMs: 100, note: `pull ${JSON.stringify(req)}` });
const ack = (index: number, body: string, confirm = false): Step => ({ s: "", ack: index, b: body, expect: confirm ? "msgs" : "none", waitMs: 300, note: `ack #${index} ${JSON.stringify(body)}` });
const info: Step = { s: "$JS.API.CONSUMER.INFO.D.P", delayMs: 100, note: "consumer info" };
const end: Step = { s: "$JS.API.STREAM.DELETE.D", note: "delete stream" };

const SCENARIOS: Record<string, Step[]> = {
  // Deliver last with a filter nothing matches yet starts at the stream's first message.
  "deliver last, filter without messages": [stream(), pub("d.b"), pub("d.c"), consumer({ ack_policy: "explicit", deliver_policy: "last", filter_subject: "d.a" }), info, pub("d.a"), pull({ batch: 2, no_wait: true }), info, end],
  // Last per subject: the stream's last message when nothing matches; its first when every subject keeps one.
  "last per subject, no match": [stream(), pub("d.b"), pub("d.c"), consumer({ ack_policy: "none", deliver_policy: "last_per_subject", filter_subject: "d.a.*" }), info, end],
  "last per subject, one per subject": [stream({ max_msgs_per_subject: 1 }), pub("d.b"), pub("d.c"), pub("d.a.x"), consumer({ ack_policy: "explicit", deliver_policy: "last_per_subject", filter_subject: "d.a.*" }), info, end],
  // A TERM moves the ack floor's last_active, as an ack does.
  "term is an ack for last_active": [stream(), pub("d.a"), consumer({ ack_policy: "explicit" }), pull({ batch: 1, no_wait: true }), ack(0, "+TERM"), info, end],
  // An ack out of order leaves the ack floor where it is.
  "out-of-order ack keeps the floor": [
    stream(),
    pub("d.a"),
    pub("d.b"),
    pub("d.a"),
    consumer({ ack_policy: "explicit", filter_subject: "d.a" }),
    pull({ batch: 1, no_wait: true }),
    ack(0, "-NAK {\"delay\": 60000000000}"),
    pub("d.b"),
    pub("d.a"),
    pull({ batch: 1, no_wait: true }),
    ack(0, "+ACK"),
    info,
    end,
  ],
  // A purge of a subject leaves the pending messages of a consumer that reads more than it.
  "subject purge under a wider consumer": [stream(), pub("d.a"), pub("d.b"), pub("d.a"), consumer({ ack_policy: "explicit" }), pull({ batch: 3, no_wait: true }), { s: "$JS.API.STREAM.PURGE.D", b: { filter: "d.a" }, note: "purge d.a" }, info, pub("d.b"), pull({ batch: 3, no_wait: true }), info, end],
  // ...and settles those of a consumer that reads only within it.
  "subject purge under a narrower consumer": [stream(), pub("d.a.1"), pub("d.b"), pub("d.a.2"), consumer({ ack_policy: "explicit", filter_subject: "d.a.*" }), pull({ batch: 3, no_wait: true }), { s: "$JS.API.STREAM.PURGE.D", b: { filter: "d.a.>" }, note: "purge d.a.>" }, info, end],
  // With two filters a purge of one of them takes the wider path (nothing moves unless the stream's first message passed the floor).
  "subject purge under a two-filter consumer": [
    stream(),
    pub("d.a"),
    pub("d.b"),
    pub("d.a"),
    consumer({ ack_policy: "explicit", filter_subjects: ["d.b", "d.x"] }),
    pull({ batch: 1, no_wait: true }),
    pub("d.c"),
    { s: "$JS.API.STREAM.PURGE.D", b: { filter: "d.b" }, note: "purge d.b" },
    info,
    end,
  ],
  "subject purge of the other filter": [stream(), pub("d.a"), pub("d.b"), pub("d.a"), consumer({ ack_policy: "explicit", filter_subjects: ["d.a", "d.b"] }), pull({ batch: 1, no_wait: true }), { s: "$JS.API.STREAM.PURGE.D", b: { filter: "d.b" }, note: "purge d.b" }, info, end],
  // A push consumer with a deliver group is active only with a member of that queue group on
  // exactly its deliver subject; a plain subscription does not make it deliver.
  "push deliver group needs its queue group": [
    stream(),
    pub("d.a"),
    { s: "", sub: "push.P", async: "push", note: "plain subscription" },
    consumer({ ack_policy: "explicit", deliver_subject: "push.P", deliver_group: "g" }),
    info,
    { s: "", collect: "push", delayMs: 200, waitMs: 150, note: "delivered" },
    end,
  ],
  // A TERM that frees room under max_ack_pending lets a push consumer deliver at once.
  "push: term frees max_ack_pending": [
    stream(),
    pub("d.a"),
    pub("d.a"),
    { s: "", sub: "push.P", async: "push", note: "subscription" },
    consumer({ ack_policy: "explicit", deliver_subject: "push.P", max_ack_pending: 1 }),
    { s: "", collect: "push", delayMs: 200, waitMs: 150, note: "delivered" },
    ack(0, "+TERM"),
    { s: "", collect: "push", delayMs: 200, waitMs: 150, note: "delivered after the TERM" },
    info,
    end,
  ],
  // A redelivered message keeps its first consumer sequence: acking it moves the ack floor.
  "ack of a redelivery moves the floor": [
    stream(),
    pub("d.a"),
    pub("d.a"),
    pub("d.a"),
    consumer({ ack_policy: "explicit" }),
    pull({ batch: 3, no_wait: true }),
    ack(0, "-NAK"),
    pull({ batch: 1, no_wait: true }),
    ack(0, "+ACK", true),
    info,
    end,
  ],
  // A NAK past max_deliver frees room under max_ack_pending for the same pull.
  "nak past max_deliver frees max_ack_pending": [
    stream(),
    pub("d.a"),
    pub("d.a"),
    pub("d.a"),
    consumer({ ack_policy: "explicit", max_deliver: 1, max_ack_pending: 2 }),
    pull({ batch: 2, no_wait: true }),
    ack(1, "-NAK", true),
    pull({ batch: 3, no_wait: true }),
    info,
    end,
  ],
};

function walk(seed: number, n: number): Step[] {
  const w = new Walk(seed);
  const subjects = ["d.a", "d.b", "d.c.x", "d.c.y"];
  const subj = (): string => w.pick(subjects);
  const scfg = w.pick<Json>([{}, { retention: "workqueue" }, { retention: "interest" }, { max_msgs_per_subject: 2 }, { storage: "memory" }, { retention: "interest", storage: "memory" }, { max_msgs: 6 }]);
  const wq = scfg.retention === "workqueue";
  const steps: Step[] = [stream(scfg)];
  for (let i = w.int(5); i > 0; i--) steps.push(pub(subj(), `p${i}`));
  const c: Json = { ack_policy: w.pick(["explicit", "explicit", "all", "none"]) };
  const md = w.pick([undefined, 1, 2, 3, -1]);
  if (md !== undefined) c.max_deliver = md;
  const map = w.pick([undefined, 1, 2, 100]);
  if (map !== undefined && c.ack_policy !== "none") c.max_ack_pending = map;
  const f = w.pick<string | string[] | undefined>([undefined, undefined, "d.a", "d.c.>", ["d.a", "d.b"], "d.*"]);
  if (Array.isArray(f)) c.filter_subjects = f;
  else if (f !== undefined) c.filter_subject = f;
  if (!wq) {
    const dp = w.pick(["all", "all", "last", "new", "by_start_sequence", "last_per_subject"]);
    c.deliver_policy = dp;
    if (dp === "by_start_sequence") c.opt_start_seq = 1 + w.int(4);
    if (dp === "last_per_subject" && f === undefined) c.filter_subject = "d.>";
  }
  if (w.next() < 0.15) c.max_waiting = w.pick([1, 2]);
  if (w.next() < 0.15) c.max_batch = w.pick([1, 2]);
  if (w.next() < 0.1) c.max_bytes = w.pick([10, 100]);
  steps.push(consumer(c));
  for (let i = 0; i < n; i++) {
    const k = w.next();
    if (k < 0.25) steps.push(pub(subj(), w.pick(["", "x", "hello world", "12"])));
    else if (k < 0.45) steps.push(pull(w.pick<Json>([{ batch: 1, no_wait: true }, { batch: 3, no_wait: true }, { batch: 2, no_wait: true, max_bytes: 40 }, { batch: 5, no_wait: true }, { batch: 1, expires: 0.3 * SEC }])));
    else if (k < 0.7) steps.push(ack(w.int(5), w.pick(["+ACK", "+ACK", "", "-NAK", "+TERM", "+WPI", "+TERM reason x", '-NAK {"delay": 60000000000}', "+NAK", "bogus"]), w.next() < 0.2));
    else if (k < 0.8) steps.push(info);
    else if (k < 0.86) steps.push({ s: "$JS.API.STREAM.INFO.D", delayMs: 50, note: "stream info" });
    else if (k < 0.9) steps.push({ s: "$JS.API.STREAM.MSG.DELETE.D", b: { seq: 1 + w.int(8) }, note: "delete" });
    else if (k < 0.93) steps.push({ s: "$JS.API.STREAM.PURGE.D", b: w.pick<unknown>([undefined, { keep: 1 }, { seq: 3 }]), note: "purge" });
    else {
      const label = `w${i}`;
      steps.push({ s: "$JS.API.CONSUMER.MSG.NEXT.D.P", b: { batch: 2, expires: 0.8 * SEC }, async: label, delayMs: 100, note: "waiting pull" });
      // nats-server hands a pull request to the consumer's goroutine, so under load the messages
      // already stored may reach the pull after a publish sent right behind it; the reply's
      // pending count then includes that publish. The wait keeps the publish "late" on both.
      steps.push({ ...pub(subj(), "late"), delayMs: 200 });
      steps.push({ s: "", collect: label, waitMs: 1200, note: "what the waiting pull got" });
    }
  }
  steps.push(info, end);
  return steps;
}

describe("consumer traffic side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sbs: SideBySide;
  before(async () => {
    sbs = await startSideBySide();
  });
  after(async () => sbs?.close());
  for (const [name, steps] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      assert.deepEqual(differences(steps, await sbs.run(steps)), []);
    });
  }
  for (const seed of [2, 4, 6, 9, 12, 15]) {
    it(`random walk, seed ${seed}`, async () => {
      const steps = walk(seed, 50);
      assert.deepEqual(differences(steps, await sbs.run(steps)), []);
    });
  }
});
