// A new meta leader mends the groups of a server that left the meta group, side by side: in a
// cluster of N1 and T3, the meta leader removes itself through SERVER.REMOVE (2.15.1's leader
// proposes nothing for its streams before it steps down), so the survivor, leading alone, finds
// streams naming a server no longer in the meta group (processLeaderChange's
// reconcilePeerAssignments): an R2 stream on both keeps the survivor with the other under
// desired `removed` (no replacement to place), an R1 stream on the removed server stays assigned
// to it when its placement tag fits no other server, else it goes to the survivor (empty), and
// one on the survivor stays. The removed server then stopped, the survivor evicts it
// from BOTH's group (checkEvictedPeers), leads it alone and completes its desired state (the
// group renamed for one server), holding its messages. BOTH's consumers follow it
// (remapConsumerAssignments): its durable D on both and an R1 durable D1 on the removed server
// go to the survivor through desired states of their own, D1 with the survivor as its
// `members`, and an R1 ephemeral E on the removed server is removed. Once with T3 removed and N1 the
// survivor, once the other way round. T3 did not look at the groups when it was elected
// before, nor could it lead a group alone whose other peer was removed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, type MetaCluster } from "./helpers/nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown> & { error?: unknown }> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** An R1 consumer `name` of `stream` created (again) until its one server is `server` (placement picks one of the stream's at random). */
async function r1On(nc: NatsConnection, stream: string, name: string, durable: boolean, server: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const config = { ...(durable ? { durable_name: name } : { name, inactive_threshold: 600_000_000_000 }), ack_policy: "explicit", num_replicas: 1 };
    const created = await retry(async () => {
      const a = await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.${name}`, { stream_name: stream, config });
      if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
      return a;
    }, 20_000);
    if ((created.cluster as { leader?: string } | undefined)?.leader === server) return;
    const deleted = await api(nc, `$JS.API.CONSUMER.DELETE.${stream}.${name}`);
    assert.equal(deleted.error, undefined, JSON.stringify(deleted));
  }
  assert.fail(`${name} never placed on ${server}`);
}

/** N1 and T3, `removed` leading and removing itself: each stream's meta entries after the removal, the servers named "removed" and "survivor". */
async function survivorMends(removed: "N1" | "T3"): Promise<Record<string, unknown>> {
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
    // UNPINNED: placed on the removed server by tag, the placement then dropped (an update).
    const streams: Record<string, { replicas: number; tags?: string[]; unpin?: boolean }> = { BOTH: { replicas: 2 }, ONREMOVED: { replicas: 1, tags: [zone(removed)] }, ONSURVIVOR: { replicas: 1, tags: [zone(survivorName)] }, UNPINNED: { replicas: 1, tags: [zone(removed)], unpin: true } };
    for (const [name, s] of Object.entries(streams)) {
      const created = await retry(async () => {
        const a = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: s.replicas, ...(s.tags !== undefined ? { placement: { tags: s.tags } } : {}) });
        if (a.error !== undefined) throw new Error(`${name}: ${JSON.stringify(a.error)}`);
        return a;
      }, 60_000);
      if (s.unpin !== true) continue;
      const { placement: _placement, ...config } = created.config as Record<string, unknown>;
      const unpinned = await api(nc, `$JS.API.STREAM.UPDATE.${name}`, config);
      assert.equal(unpinned.error, undefined, JSON.stringify(unpinned));
    }
    // The survivor's own system account client sees what it appends once it leads.
    const js = jetstream(nc);
    for (let i = 1; i <= 3; i++) await retry(() => js.publish(`both.${i}`, `m${i}`), 20_000);
    // BOTH's consumers: D on both servers, D1 (durable) and E (ephemeral) on the removed one alone.
    await retry(async () => {
      const a = await api(nc, "$JS.API.CONSUMER.DURABLE.CREATE.BOTH.D", { stream_name: "BOTH", config: { durable_name: "D", ack_policy: "explicit" } });
      if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
    }, 20_000);
    await r1On(nc, "BOTH", "D1", true, removed);
    await r1On(nc, "BOTH", "E", false, removed);
    const survivor = removed === "N1" ? cluster.ours : n1;
    const sys = await connect({ servers: `127.0.0.1:${survivor?.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    const steps = Object.fromEntries(Object.keys(streams).map((name) => [name, captureStreamSteps(sys, name, role)]));
    const consumers = Object.fromEntries(["D", "D1", "E"].map((name) => [name, captureConsumerSteps(sys, "BOTH", name, role)]));
    await sys.flush();
    await api(sys, "$JS.API.SERVER.REMOVE", { peer: removed }).catch(() => undefined);
    let leader: string | undefined;
    let t3Group: unknown;
    const metaLeader = async (): Promise<string | undefined> => (removed === "N1" ? (await cluster.peerJson().then((p) => (p as { leader?: string }).leader)) : (await getJson<{ meta_cluster?: MetaCluster }>(`${n1.monitorUrl}/jsz`)).meta_cluster?.leader);
    await waitUntil(async () => (leader = await metaLeader()) === survivorName, 30_000, `${survivorName} leads the meta group alone`, () => String(leader));
    // The removed server goes away (2.15.1's removed leader stops its groups only when it applied
    // its own removal before stepping down, a race: a BOTH leader left running keeps the survivor from evicting it).
    await (removed === "N1" ? cluster.nats[0]?.stop() : cluster.ours?.stop());
    await waitUntil(
      async () => {
        if (removed === "N1") t3Group = await cluster.group("BOTH").catch(() => undefined);
        const settled = (name: string): boolean => {
          const last = consumers[name].at(-1) as { desired?: unknown; peers?: string[] } | undefined;
          return last !== undefined && last.desired === undefined && !(last.peers ?? []).includes("removed");
        };
        const unpinned = steps.UNPINNED.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
        const unpinnedMoved = unpinned !== undefined && unpinned.desired === undefined && JSON.stringify(unpinned.peers) === '["survivor"]';
        return steps.BOTH.length > 0 && steps.BOTH.at(-1)?.desired === undefined && settled("D") && settled("D1") && consumers.E.at(-1)?.op === "removeConsumer" && unpinnedMoved;
      },
      60_000,
      `BOTH and its consumers mended, their desired states cleared, E removed`,
      () => JSON.stringify({ leader, steps, consumers, t3Group }),
    );
    // BOTH, led by the survivor alone, holds its messages and takes more.
    const ncS = await cluster.appOn(survivor as NonNullable<typeof survivor>);
    const info = await retry(async () => {
      const a = await api(ncS, "$JS.API.STREAM.INFO.BOTH");
      if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
      return a;
    }, 20_000);
    const ack = await retry(() => jetstream(ncS).publish("both.4", "m4"), 20_000);
    // The group's preferred member is chosen at random at the create: kept in desired state only when it is the survivor.
    const unpreferred = (list: Record<string, unknown>[]): unknown[] =>
      list.map((x) => {
        const d = x.desired as { preferred?: unknown; keys?: string[] } | undefined;
        return d === undefined ? x : { ...x, desired: { ...d, preferred: undefined, keys: d.keys?.filter((k) => k !== "preferred") } };
      });
    const folded = (list: Record<string, unknown>[]): Record<string, unknown>[] => list.filter((x, i) => i === 0 || JSON.stringify(x) !== JSON.stringify(list[i - 1]));
    return {
      BOTH: unpreferred(steps.BOTH),
      ONREMOVED: steps.ONREMOVED,
      UNPINNED: unpreferred(steps.UNPINNED),
      ONSURVIVOR: steps.ONSURVIVOR,
      consumers: Object.fromEntries(Object.entries(consumers).map(([name, list]) => [name, folded(list)])),
      both: [(info.state as { messages: number }).messages, ack.seq, (info.cluster as { leader?: string }).leader === survivorName],
    };
  } finally {
    await cluster.stop();
  }
}

test("a meta leader elected after its predecessor removed itself reconciles the streams it was in, T3 as a nats-server", { skip: referenceMissing(), timeout: 240_000 }, async (t) => {
  const byNats = await survivorMends("T3");
  t.diagnostic(`N1 surviving T3: ${JSON.stringify(byNats)}`);
  const byT3 = await survivorMends("N1");
  t.diagnostic(`T3 surviving N1: ${JSON.stringify(byT3)}`);
  assert.deepEqual(byNats.ONSURVIVOR, [], "a stream on the survivor alone is left as it is");
  assert.deepEqual(byNats.ONREMOVED, [], "an R1 stream on the removed server that placement can put nowhere else (its tag) is left assigned to it");
  assert.deepEqual((byNats.UNPINNED as { peers: string[] }[]).at(-1)?.peers, ["survivor"], "an R1 stream on the removed server without placement goes to the survivor");
  assert.deepEqual(byNats.both, [3, 4, true], "BOTH, led by the survivor alone, holds its 3 messages and takes a fourth");
  assert.deepEqual(byT3, byNats, "T3 mends the streams as N1 does");
});
