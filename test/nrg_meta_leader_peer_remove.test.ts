// STREAM.PEER.REMOVE side by side: an R2 stream on N1 and N2 loses N2 to a peer removal, first
// through a nats-server 2.15 meta leader, then through T3 (nrg_peer_meta_lead). nats-server
// 2.15.1 removes the peer at once (desired state with the peer under `removed`) and places a
// replacement (T3) for the stream's leader to add; the same answers and meta steps under both,
// and the stream's messages on its new members.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn, throughNatsThenT3 } from "./helpers/nrg_cluster.js";
import { captureStreamSteps } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** An R2 stream placed on N1 and N2 (T3's zone excluded, then the placement dropped), 4 messages, N2 removed from it; the answers and its meta steps. */
async function removeN2(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string): Promise<{ answers: Record<string, unknown>; steps: Record<string, unknown>[] }> {
  const steps = captureStreamSteps(sys, stream, new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n])));
  await sys.flush();
  const lower = stream.toLowerCase();
  const created = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], num_replicas: 2, placement: { tags: ["!az:3"] } });
  assert.equal(created.error, undefined, JSON.stringify(created));
  const js = jetstream(nc);
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 4; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  const info = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
  const { placement: _placement, ...rest } = info.config as Record<string, unknown>;
  const unplaced = await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, rest);
  assert.equal(unplaced.error, undefined, JSON.stringify(unplaced));
  await cluster.leadOn(nc, "N1", stream);
  const answers = {
    notMember: await api(nc, `$JS.API.STREAM.PEER.REMOVE.${stream}`, { peer: "T3" }),
    empty: await api(nc, `$JS.API.STREAM.PEER.REMOVE.${stream}`, {}),
    missing: await api(nc, "$JS.API.STREAM.PEER.REMOVE.NOPE", { peer: "N2" }),
    removed: await api(nc, `$JS.API.STREAM.PEER.REMOVE.${stream}`, { peer: "N2" }),
  };
  let now: Answer = {};
  await waitUntil(
    async () => {
      now = await api(nc, `$JS.API.STREAM.INFO.${stream}`).catch(() => ({}));
      const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      return last?.desired === undefined && JSON.stringify([...(last?.peers ?? [])].sort()) === '["N1","T3"]';
    },
    60_000,
    `${stream} on N1 and T3`,
    () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2) }),
  );
  await waitUntil(async () => (await streamStateOn(cluster.live()[1], stream)) === undefined, 30_000, `N2 no longer holds ${stream}`);
  assert.equal((await streamStateOn(cluster.live()[0], stream))?.messages, 4);
  await waitUntil(async () => (await cluster.group(stream))?.replica?.messages === 4, 30_000, `T3 holds ${stream}'s 4 messages`);
  return { answers, steps };
}

test("a peer removed from a stream through T3 as meta leader is replaced as through a nats-server meta leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (cluster, nc, sys, suffix) => removeN2(cluster, nc, sys, `R${suffix}`));
  assert.deepEqual(byT3.answers, byNats.answers, "T3 answers the removals as the nats-server meta leader");
  // Peers and desired peers as N1 proposed them, in any order (placement's is random; the leader's reports of members may add a step or not).
  const sorted = (ids: unknown): unknown => (Array.isArray(ids) ? [...(ids as string[])].sort() : ids);
  const shape = (steps: Record<string, unknown>[]): unknown[] =>
    steps
      .map(({ desired, peers, ...rest }) => ({ ...rest, peers: sorted(peers), desired: sorted((desired as { peers?: unknown } | undefined)?.peers), removed: (desired as { removed?: unknown } | undefined)?.removed }))
      .filter((x, i, all) => i === 0 || JSON.stringify(x) !== JSON.stringify(all[i - 1]));
  assert.deepEqual(shape(byT3.steps), shape(byNats.steps), "T3 proposes the steps the nats-server meta leader proposed");
});
