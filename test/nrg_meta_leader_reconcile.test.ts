// A new meta leader mends the groups of a server that left the meta group, side by side: in a
// cluster of N1 and T3, the meta leader removes itself through SERVER.REMOVE (2.15.1's leader
// proposes nothing for its streams before it steps down), so the survivor, leading alone, finds
// streams naming a server no longer in the meta group (processLeaderChange's
// reconcilePeerAssignments): an R2 stream on both keeps the survivor with the other under
// desired `removed` (no replacement to place), an R1 stream on the removed server stays assigned
// to it, as does one on the survivor. Once with T3 removed and N1 the survivor, once the other way round.
// T3 did not look at the groups when it was elected before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, type MetaCluster } from "./helpers/nrg_cluster.js";
import { captureStreamSteps } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown> & { error?: unknown }> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** N1 and T3, `removed` leading and removing itself: each stream's meta entries after the removal, the servers named "removed" and "survivor". */
async function survivorMends(removed: "N1" | "T3"): Promise<Record<string, unknown[]>> {
  const survivorName = removed === "N1" ? "T3" : "N1";
  const role = new Map([[shortHash(removed), "removed"], [shortHash(survivorName), "survivor"]]);
  const cluster = await NrgCluster.create(true, true, undefined, true, 1);
  cluster.tags.set("N1", ["az:1"]);
  cluster.tags.set("T3", ["az:3"]);
  try {
    await cluster.up();
    const n1 = cluster.live()[0];
    const nc = await cluster.appOn(n1);
    await cluster.metaLeadOn(removed);
    const zone = (name: string): string => (name === "N1" ? "az:1" : "az:3");
    const streams: Record<string, { replicas: number; tags?: string[] }> = { BOTH: { replicas: 2 }, ONREMOVED: { replicas: 1, tags: [zone(removed)] }, ONSURVIVOR: { replicas: 1, tags: [zone(survivorName)] } };
    for (const [name, s] of Object.entries(streams)) {
      await retry(async () => {
        const a = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: s.replicas, ...(s.tags !== undefined ? { placement: { tags: s.tags } } : {}) });
        if (a.error !== undefined) throw new Error(`${name}: ${JSON.stringify(a.error)}`);
      }, 60_000);
    }
    // The survivor's own system account client sees what it appends once it leads.
    const survivor = removed === "N1" ? cluster.ours : n1;
    const sys = await connect({ servers: `127.0.0.1:${survivor?.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    const steps = Object.fromEntries(Object.keys(streams).map((name) => [name, captureStreamSteps(sys, name, role)]));
    await sys.flush();
    await api(sys, "$JS.API.SERVER.REMOVE", { peer: removed }).catch(() => undefined);
    let leader: string | undefined;
    await waitUntil(
      async () => {
        leader = removed === "N1" ? (await cluster.peerJson().then((p) => (p as { leader?: string }).leader)) : (await getJson<{ meta_cluster?: MetaCluster }>(`${n1.monitorUrl}/jsz`)).meta_cluster?.leader;
        return leader === survivorName && steps.BOTH.length > 0;
      },
      30_000,
      `${survivorName} leads alone and mends BOTH`,
      () => JSON.stringify({ leader, steps }),
    );
    // The meta leader's own step (BOTH's later ones are its stream leader's: a nats-server
    // survivor evicts the removed peer and drives the desired state, which T3 does not yet).
    return { BOTH: steps.BOTH.slice(0, 1), ONREMOVED: steps.ONREMOVED, ONSURVIVOR: steps.ONSURVIVOR };
  } finally {
    await cluster.stop();
  }
}

test("a meta leader elected after its predecessor removed itself reconciles the streams it was in, T3 as a nats-server", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const byNats = await survivorMends("T3");
  t.diagnostic(`N1 surviving T3: ${JSON.stringify(byNats)}`);
  const byT3 = await survivorMends("N1");
  t.diagnostic(`T3 surviving N1: ${JSON.stringify(byT3)}`);
  assert.deepEqual(byNats.ONSURVIVOR, [], "a stream on the survivor alone is left as it is");
  assert.deepEqual(byNats.ONREMOVED, [], "an R1 stream on the removed server is left assigned to it");
  assert.equal(byNats.BOTH.length, 1);
  assert.deepEqual(byT3, byNats, "T3 mends the streams as N1 does");
});
