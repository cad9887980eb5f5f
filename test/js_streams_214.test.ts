// nats-server 2.14-2.15 stream features side by side with nats-server 2.15: fast batch
// publish (`allow_batched`): the reply-subject protocol, flow control acks and their ramp
// among concurrent batches, gaps in "fail" and "ok" mode, pings, end-of-batch commits,
// duplicates, per-message errors, and the errors of the pattern itself.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { referenceMissing, startSideBySide, type SideBySide } from "./helpers/side_by_side.js";

/** Run the fast batch scenario on one server; the replies it got, in order, by step. */
async function fastBatchScenario(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  const got: string[] = [];
  const sub = nc.subscribe("ib.>", {
    callback: (_e, m) => {
      got.push(`${m.subject.substring(3)} ${m.string()}`);
    },
  });
  const step = async (label: string): Promise<void> => {
    await nc.flush();
    await new Promise((r) => setTimeout(r, 150));
    out.push(`== ${label}`, ...got.splice(0));
  };
  const pub = (subj: string, data: string, reply: string, h?: Record<string, string>): void => {
    let hh;
    if (h !== undefined) {
      hh = natsHeaders();
      for (const [k, v] of Object.entries(h)) hh.set(k, v);
    }
    nc.publish(subj, data, { reply, headers: hh });
  };
  const R = (id: string, flow: number, gap: string, seq: number, op: number): string => `ib.${id}.${flow}.${gap}.${seq}.${op}.$FI`;
  const api = async (s: string, b: unknown): Promise<Record<string, unknown>> => (await nc.request(s, JSON.stringify(b))).json();

  assert.equal((await api("$JS.API.STREAM.CREATE.NB", { name: "NB", subjects: ["nb.>"] })).error, undefined);
  const fb = await api("$JS.API.STREAM.CREATE.FB", { name: "FB", subjects: ["fb.>"], allow_batched: true });
  const cfg = fb.config as { allow_batched?: boolean; metadata?: Record<string, string> };
  out.push(`allow_batched=${cfg.allow_batched} req.level=${cfg.metadata?.["_nats.req.level"]}`);

  pub("nb.a", "x", R("b0", 10, "fail", 1, 0));
  await step("not allowed");
  pub("fb.a", "x", "ib.bad.$FI");
  pub("fb.a", "x", R("bad", 10, "maybe", 1, 0));
  pub("fb.a", "x", R("bad", 10, "fail", 2, 0));
  pub("fb.a", "x", R("bad", 10, "fail", 1, 3));
  pub("fb.a", "x", R("bad", 10, "fail", 1, 9));
  await step("bad patterns");
  pub("fb.a", "x", R("b1", 10, "fail", 2, 1));
  await step("unknown id");
  pub("fb.a", "x", R("x".repeat(65), 10, "fail", 1, 0));
  await step("long id");
  pub("fb.a", "1", R("b2", 2, "fail", 1, 0));
  for (let i = 2; i <= 4; i++) pub("fb.a", String(i), R("b2", 2, "fail", i, 1));
  pub("fb.a", "5", R("b2", 2, "fail", 5, 2));
  await step("commit with the last message, flow 2");
  pub("fb.b", "1", R("b3", 1, "fail", 1, 0));
  pub("fb.b", "2", R("b3", 1, "fail", 2, 1));
  pub("fb.b", "", R("b3", 1, "fail", 3, 3));
  await step("end of batch");
  pub("fb.c", "1", R("b4", 10, "fail", 1, 0));
  pub("fb.c", "3", R("b4", 10, "fail", 3, 1));
  await step("a gap in fail mode ends the batch");
  pub("fb.c", "4", R("b4", 10, "fail", 4, 1));
  await step("the batch is gone");
  pub("fb.d", "1", R("b5", 10, "ok", 1, 0));
  pub("fb.d", "3", R("b5", 10, "ok", 3, 1));
  pub("fb.d", "", R("b5", 10, "ok", 3, 4));
  pub("fb.d", "", R("b5", 10, "ok", 5, 4));
  await step("gaps in ok mode, pings");
  pub("fb.d", "6", R("b5", 10, "ok", 6, 2));
  await step("commit after gaps");
  pub("fb.d", "1", R("p1", 10, "fail", 1, 0));
  pub("fb.d", "", R("p1", 10, "fail", 3, 4));
  await step("a ping showing a gap in fail mode");
  pub("fb.e", "1", R("b6", 10, "fail", 1, 0), { "Nats-Msg-Id": "m1" });
  pub("fb.e", "2", R("b6", 10, "fail", 2, 1), { "Nats-Msg-Id": "m1" });
  pub("fb.e", "3", R("b6", 10, "fail", 3, 1), { "Nats-Expected-Last-Sequence": "1" });
  await step("a duplicate, then a failing message in fail mode");
  pub("fb.e", "1", R("b7", 10, "fail", 1, 2), { "Nats-Msg-Id": "m1" });
  await step("a duplicate committing at once");
  pub("fb.e", "1", R("b8", 10, "ok", 1, 0));
  pub("fb.e", "2", R("b8", 10, "ok", 2, 1), { "Nats-Expected-Last-Sequence": "1" });
  pub("fb.e", "3", R("b8", 10, "ok", 3, 2));
  await step("a failing message in ok mode");
  pub("fb.e", "1", R("b9", 10, "fail", 1, 0), { "Nats-Expected-Last-Sequence": "1" });
  await step("the first message fails");
  pub("fb.e", "1", R("b10", 10, "fail", 1, 0), { "Nats-Required-Api-Level": "99" });
  await step("required API level");
  pub("fb.f", "1", R("c1", 100, "fail", 1, 0));
  pub("fb.f", "1", R("c2", 100, "fail", 1, 0));
  for (let i = 2; i <= 12; i++) {
    pub("fb.f", String(i), R("c1", 100, "fail", i, 1));
    pub("fb.f", String(i), R("c2", 100, "fail", i, 1));
  }
  pub("fb.f", "", R("c1", 100, "fail", 13, 3));
  pub("fb.f", "", R("c2", 100, "fail", 13, 3));
  await step("two batches at once: the second starts slow and ramps up");
  const st = (await api("$JS.API.STREAM.INFO.FB", {})).state as Record<string, unknown>;
  out.push(`messages=${st.messages} last_seq=${st.last_seq} bytes=${st.bytes}`);
  const m = (await api("$JS.API.STREAM.MSG.GET.FB", { seq: 5 })).message as { subject: string; hdrs?: string };
  out.push(`seq 5: ${m.subject} headers=${m.hdrs === undefined ? "none" : Buffer.from(m.hdrs, "base64").toString()}`);
  sub.unsubscribe();
  return out;
}

describe("2.14 fast batch publish side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sides: SideBySide;
  before(async () => {
    sides = await startSideBySide();
  });
  after(async () => {
    await sides.close();
  });

  it("answers every fast batch message as nats-server does", async () => {
    const [ref, ours] = await Promise.all([fastBatchScenario(sides.ncRef), fastBatchScenario(sides.ncOurs)]);
    assert.deepEqual(ours, ref);
    // What the scenario is about, in tsnats' answers.
    assert.ok(ours.includes('b2.2.fail.5.2.$FI {"stream":"FB","seq":5,"batch":"b2","count":5}'), ours.join("\n"));
    assert.ok(ours.includes('b4.10.fail.3.1.$FI {"type":"gap","last_seq":2,"seq":3}'));
    assert.ok(ours.includes('c2.100.fail.7.1.$FI {"type":"ack","seq":7,"msgs":8}'));
  });
});
