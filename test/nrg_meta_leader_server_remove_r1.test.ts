// An R1 stream on a server removed from the meta group, side by side: N1, N2 and T3, an R1
// stream ONE on N2 (placed there by tag, the placement then dropped) with a durable D, and an
// R2 stream TWO on N1 and N2; N2 removed through SERVER.REMOVE by N1 as meta leader, then, in a
// cluster of its own, by T3. What the meta leader proposes for ONE and D (processRemovePeer's
// removePeerFromStreamLocked: reassignStreamPeers with nothing retained): 2.15.1 places ONE
// anew on another server (placement picks N1 or T3), without its messages, with a desired
// state naming that server as peers and members and N2 as removed, and D follows it straight
// to that server; both go on there. T3 left them assigned to N2 before. The same through
// STREAM.PEER.REMOVE of an R1 stream's only server (N2), where T3 answered 10075 before.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, throughNatsThenT3 } from "./helpers/nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

const NAMES = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

async function removeN2(leader: "N1" | "T3"): Promise<Record<string, unknown>> {
  const cluster = await NrgCluster.zoned();
  try {
    const { nc1, sys } = await cluster.upWithMetaLeader(leader);
    const one = captureStreamSteps(sys, "ONE", NAMES);
    const two = captureStreamSteps(sys, "TWO", NAMES);
    const d = captureConsumerSteps(sys, "ONE", "D", NAMES);
    await sys.flush();
    for (const [name, replicas, tags] of [["ONE", 1, ["az:2"]], ["TWO", 2, ["!az:3"]]] as const) {
      const created = await retry(async () => {
        const a = await api(nc1, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: replicas, placement: { tags } });
        if (a.error !== undefined) throw new Error(JSON.stringify(a));
        return a;
      }, 30_000);
      const { placement: _placement, ...config } = created.config as Record<string, unknown>;
      assert.equal((await api(nc1, `$JS.API.STREAM.UPDATE.${name}`, config)).error, undefined);
    }
    const js = jetstream(nc1);
    await retry(() => js.publish("one.1", "m1"), 20_000);
    await js.publish("one.2", "m2");
    await retry(async () => {
      const a = await api(nc1, "$JS.API.CONSUMER.DURABLE.CREATE.ONE.D", { stream_name: "ONE", config: { durable_name: "D", ack_policy: "explicit" } });
      if (a.error !== undefined) throw new Error(JSON.stringify(a));
    }, 20_000);
    const marks = [one.length, two.length, d.length];
    const removed = await api(sys, "$JS.API.SERVER.REMOVE", { peer: "N2" });
    assert.equal(removed.success, true, JSON.stringify(removed));
    let info: Answer = {};
    await waitUntil(
      async () => {
        info = await api(nc1, "$JS.API.STREAM.INFO.ONE").catch(() => ({}));
        const last = one.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
        const lastD = d.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
        return one.length > marks[0] && last?.desired === undefined && !(last?.peers ?? []).includes("N2") && lastD?.desired === undefined && !(lastD?.peers ?? []).includes("N2");
      },
      40_000,
      "ONE and D off N2",
      () => JSON.stringify({ one: one.slice(marks[0]), two: two.slice(marks[1]), d: d.slice(marks[2]), cluster: info.cluster }),
    );
    // Placement picks N1 or T3 (room, then streams): the server picked (by name) as "new".
    const picked = (one.at(-1) as { peers: string[] }).peers[0];
    const renamed = (x: unknown): unknown => JSON.parse(JSON.stringify(x).replaceAll(`"${picked}"`, '"new"')) as unknown;
    // ONE goes on, empty, on the server picked, led by it; D with it.
    const ack = await retry(() => js.publish("one.3", "m3"), 30_000);
    info = await retry(async () => {
      const a = await api(nc1, "$JS.API.STREAM.INFO.ONE");
      if (a.error !== undefined) throw new Error(JSON.stringify(a));
      return a;
    }, 20_000);
    const dInfo = await retry(async () => {
      const a = await api(nc1, "$JS.API.CONSUMER.INFO.ONE.D");
      if (a.error !== undefined) throw new Error(JSON.stringify(a));
      return a;
    }, 20_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; T3's D: ${JSON.stringify(await cluster.group("ONE", "D").catch(() => undefined))}; T3's ONE: ${JSON.stringify(await cluster.group("ONE").catch(() => undefined))}; log: ${(cluster.ours?.log() ?? "").split("\n").filter((l) => /ONE|WRN|ERR/.test(l)).slice(-15).join("\n")}`);
    });
    return {
      picked: picked,
      one: renamed(one.slice(marks[0])),
      d: renamed(d.slice(marks[2])),
      after: renamed({ seq: ack.seq, messages: (info.state as { messages?: number }).messages, leader: (info.cluster as { leader?: string }).leader === picked, d: [dInfo.num_pending, (dInfo.cluster as { leader?: string }).leader === picked] }),
    };
  } finally {
    await cluster.stop();
  }
}

test("an R1 stream on a server removed from the meta group, through T3 as meta leader as through N1", { skip: referenceMissing(), timeout: 240_000 }, async (t) => {
  const byNats = await removeN2("N1");
  t.diagnostic(`under N1: ${JSON.stringify(byNats)}`);
  const byT3 = await removeN2("T3");
  t.diagnostic(`under T3: ${JSON.stringify(byT3)}`);
  assert.deepEqual(byNats.after, { seq: 1, messages: 1, leader: true, d: [1, true] }, "ONE and D go on, empty, on the server picked");
  const { picked: _n, ...nats } = byNats;
  const { picked: _t, ...ours } = byT3;
  assert.deepEqual(ours, nats, "T3 moves ONE and D off the removed server as N1 does");
});

/** STREAM.PEER.REMOVE of N2 from an R1 stream on N2 (placed by tag, the placement dropped) with a durable: the answer, ONE's and D's steps, the server picked. */
async function peerRemoveR1(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string): Promise<Record<string, unknown>> {
  const steps = captureStreamSteps(sys, stream, NAMES);
  const d = captureConsumerSteps(sys, stream, "D", NAMES);
  await sys.flush();
  const lower = stream.toLowerCase();
  const created = await retry(async () => {
    const a = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], placement: { tags: ["az:2"] } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a));
    return a;
  }, 30_000);
  const { placement: _placement, ...config } = created.config as Record<string, unknown>;
  assert.equal((await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, config)).error, undefined);
  await retry(() => jetstream(nc).publish(`${lower}.1`, "m1"), 20_000);
  await retry(async () => {
    const a = await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.D`, { stream_name: stream, config: { durable_name: "D", ack_policy: "explicit" } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a));
  }, 20_000);
  const marks = [steps.length, d.length];
  const answer = await api(nc, `$JS.API.STREAM.PEER.REMOVE.${stream}`, { peer: "N2" });
  await waitUntil(
    async () => {
      const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      const lastD = d.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      return steps.length > marks[0] && last?.desired === undefined && !(last?.peers ?? []).includes("N2") && lastD?.desired === undefined && !(lastD?.peers ?? []).includes("N2");
    },
    40_000,
    `${stream} and D off N2`,
    () => JSON.stringify({ steps: steps.slice(marks[0]), d: d.slice(marks[1]) }),
  );
  const picked = (steps.at(-1) as { peers: string[] }).peers[0];
  const renamed = (x: unknown): unknown => JSON.parse(JSON.stringify(x).replaceAll(`"${picked}"`, '"new"')) as unknown;
  const ack = await retry(() => jetstream(nc).publish(`${lower}.2`, "m2"), 30_000);
  return { picked, answer, steps: renamed(steps.slice(marks[0])), d: renamed(d.slice(marks[1])), seq: ack.seq };
}

test("STREAM.PEER.REMOVE of an R1 stream's only server, through T3 as meta leader as through N1", { skip: referenceMissing(), timeout: 240_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (cluster, nc, sys, suffix) => peerRemoveR1(cluster, nc, sys, `PR${suffix}`));
  const { picked: _n, ...nats } = byNats;
  const { picked: _t, ...ours } = byT3;
  assert.deepEqual(ours, nats, "T3 answers and moves the R1 stream and its durable as N1 does");
});
