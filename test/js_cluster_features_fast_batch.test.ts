// Fast batch publish (2.14) on replicated (R3) streams: each message through the stream's group,
// flow control once applied, the replies compared with a cluster of three nats-server 2.15.
import { test } from "node:test";
import assert from "node:assert/strict";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import { sameEverywhere, withReferenceR3 } from "./helpers/js_cluster_features.js";

/**
 * Fast batch publish (2.14) on an R3 stream: every reply of each step, sorted within the step.
 * A batch that ends while messages are still being applied is answered on the reply subject of
 * the last of them, else on the ending message's: which one is a race on nats-server's cluster
 * as here, so a PubAck's reply subject is shown by batch id only. `expect`: how many replies each step waits
 * for (nats-server's counts; without it a step ends once its replies stop coming for a while).
 */
async function fastBatchSteps(nc: NatsConnection, expect?: number[]): Promise<string[]> {
  const out: string[] = [];
  const got: string[] = [];
  const sub = nc.subscribe("ib.>", {
    callback: (_e, m) => {
      const text = m.string();
      got.push(`${text.includes('"batch":') ? m.subject.split(".")[1] : m.subject.substring(3)} ${text}`);
    },
  });
  const counts: number[] = [];
  const step = async (label: string): Promise<void> => {
    await nc.flush();
    const want = expect?.[counts.length];
    if (want !== undefined) await waitUntil(() => got.length >= want, 30_000, `${want} replies to "${label}"`);
    else {
      // nats-server's cluster: replies stop coming (the reference run only).
      for (let seen = -1; seen !== got.length; ) {
        seen = got.length;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    counts.push(got.length);
    out.push(`== ${label}`, ...got.splice(0).sort());
  };
  const pub = (subj: string, data: string, reply: string, h?: Record<string, string>): void => {
    let hh;
    if (h !== undefined) {
      hh = headers();
      for (const [k, v] of Object.entries(h)) hh.set(k, v);
    }
    nc.publish(subj, data, { reply, headers: hh });
  };
  const R = (id: string, flow: number, gap: string, seq: number, op: number): string => `ib.${id}.${flow}.${gap}.${seq}.${op}.$FI`;
  const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.FB", { name: "FB", subjects: ["fb.>"], num_replicas: 3, allow_batched: true });
  out.push(`create ${JSON.stringify(created.error ?? null)}`);
  // The group's leader is there once a plain publish is answered.
  for (let i = 0; i < 100; i++) {
    try {
      const a = (await nc.request("fb.plain", "p", { timeout: 3000 })).string();
      if (!a.includes('"code":503')) break;
    } catch {
      // no leader yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
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
  pub("fb.d", "1", R("b5", 10, "ok", 1, 0));
  pub("fb.d", "3", R("b5", 10, "ok", 3, 1));
  pub("fb.d", "", R("b5", 10, "ok", 3, 4));
  pub("fb.d", "6", R("b5", 10, "ok", 6, 2));
  await step("gaps in ok mode, a ping, the commit");
  pub("fb.e", "1", R("b6", 10, "fail", 1, 0), { "Nats-Msg-Id": "m1" });
  pub("fb.e", "2", R("b6", 10, "fail", 2, 1), { "Nats-Msg-Id": "m1" });
  pub("fb.e", "3", R("b6", 10, "fail", 3, 1), { "Nats-Expected-Last-Sequence": "1" });
  await step("a duplicate, then a failing message in fail mode");
  pub("fb.f", "1", R("c1", 100, "fail", 1, 0));
  for (let i = 2; i <= 12; i++) pub("fb.f", String(i), R("c1", 100, "fail", i, 1));
  pub("fb.f", "", R("c1", 100, "fail", 13, 3));
  await step("a longer batch");
  const info = await clusterApi<ClusterAnswer & { state?: { messages: number; last_seq: number } }>(nc, "$JS.API.STREAM.INFO.FB", {});
  out.push(`state ${info.state?.messages} ${info.state?.last_seq}`);
  sub.unsubscribe();
  if (expect === undefined) out.push(`counts ${JSON.stringify(counts)}`);
  return out;
}

test("R3 fast batch publish: each message through the group, flow control once applied, as a nats-server 2.15 cluster", { timeout: 240_000 }, async () => {
  await withReferenceR3(0, async (c, nc, reference) => {
    // The reference first: how many replies each of its steps gave is what ours waits for.
    let theirs: string[] | undefined;
    let counts: number[] | undefined;
    const rnc = await reference();
    if (rnc !== undefined) {
      theirs = await fastBatchSteps(rnc);
      counts = JSON.parse(theirs.pop()!.slice("counts ".length)) as number[];
    }
    const ours = await fastBatchSteps(nc, counts ?? [3, 3, 3, 4, 3, 3]);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.ok(ours.includes('b2 {"stream":"FB","seq":6,"batch":"b2","count":5}'), ours.join("\n"));
    await sameEverywhere(c, "FB");
    if (theirs !== undefined) assert.deepEqual(ours, theirs, "the same replies as nats-server 2.15");
  });
});
