// Test helper: the meta leader's log compacted past an entry (tests lower JsCluster.snapshotEntries
// and JsCluster.segmentSize), so that a server that missed that entry catches up from the
// leader's snapshot, not from its log.
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster } from "./js_cluster.js";
import { clusterApi, clusterPublish, clusterRetry, type ClusterAnswer } from "./cluster_retry.js";
import type { JetStreamManager } from "@nats-io/jetstream";
import { consume } from "./js_cluster_consumer_groups.js";
import { streamOn } from "./js_cluster.js";
import { waitUntil } from "./server.js";
import { JsCluster } from "../../src/jetstream/cluster.js";

/** The first entry the meta leader's log still holds (those before are in its snapshot only). */
export function metaLogStart(c: JsTestCluster, meta: string): number {
  const node = c.js(meta).cluster?.node as unknown as { store: { firstIndex: number } } | undefined;
  return node?.store.firstIndex ?? 0;
}

/** The meta leader's log no longer holds entry `index` (filler streams created and deleted until compaction dropped it). */
export async function compactMetaPast(c: JsTestCluster, nc: NatsConnection, index: number): Promise<void> {
  let n = 0;
  await waitUntil(
    async () => {
      if (metaLogStart(c, await c.metaLeader()) > index) return true;
      const name = `F${++n}`;
      assert.equal((await clusterApi<ClusterAnswer>(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`f${n}`], num_replicas: 1 })).error, undefined);
      assert.equal((await clusterApi<ClusterAnswer>(nc, `$JS.API.STREAM.DELETE.${name}`)).error, undefined);
      return false;
    },
    40_000,
    `the meta log compacted past ${index}`,
  );
}

/** The meta log compacted past what `late` (stopped) holds, then `late` started: it catches up from the meta leader's snapshot. */
export async function backBySnapshot(c: JsTestCluster, nc: NatsConnection, late: string, heldByLate: number): Promise<void> {
  await compactMetaPast(c, nc, heldByLate + 1);
  const missedUpTo = c.js(await c.metaLeader()).cluster?.node?.commit ?? 0;
  await c.startMember(late);
  // (Its own log ends at heldByLate: a snapshot past it is the leader's.)
  await waitUntil(() => (c.js(late).cluster?.node?.snapshotIndex ?? 0) > heldByLate && (c.js(late).cluster?.node?.applied ?? 0) >= missedUpTo, 30_000, `${late} installed the meta leader's snapshot`);
}

/**
 * `size` (3) servers whose meta group snapshots every 8 entries in 4 KB segments (compaction drops
 * whole segments), a client, and the server to stop: the last by name that does not lead the
 * meta group. `opts`: JsTestCluster.start's (server tags...).
 */
export async function withCompactingCluster(run: (c: JsTestCluster, nc: NatsConnection, late: string) => Promise<void>, opts: Parameters<typeof JsTestCluster.start>[2] = {}, size = 3): Promise<void> {
  const saved = { entries: JsCluster.snapshotEntries, segment: JsCluster.segmentSize };
  JsCluster.snapshotEntries = 8;
  JsCluster.segmentSize = 4096;
  const c = await JsTestCluster.start(size, "JSC", opts);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    const meta = await c.metaAllCurrent();
    // (Placement ranks servers holding as many streams by name, and the first placed answers a
    // create: the stopped server is never the one that answers.)
    await run(c, nc, [...c.members.map((m) => m.name)].reverse().find((n) => n !== meta) ?? "");
  } finally {
    JsCluster.snapshotEntries = saved.entries;
    JsCluster.segmentSize = saved.segment;
    JsCluster.placeableUnheard = [];
    await nc.close();
    await c.stop();
  }
}

/** The durable `consumer` of `stream` led from `server` (step-downs preferring it until it leads). */
export async function consumerLedFrom(nc: NatsConnection, server: string, stream = "S", consumer = "C"): Promise<void> {
  await waitUntil(
    async () => {
      const ci = await clusterApi<{ cluster?: { leader?: string } }>(nc, `$JS.API.CONSUMER.INFO.${stream}.${consumer}`);
      if (ci.cluster?.leader === server) return true;
      await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${consumer}`, JSON.stringify({ placement: { preferred: server } }), { timeout: 5000 }).catch(() => undefined);
      return false;
    },
    30_000,
    `${consumer} led from ${server}`,
  );
}

/**
 * The scenario of a server back after 7 messages of S, 3 of them acknowledged by C: C led from
 * `late` goes on from those acks (ack floor 3, then 4..7), and `late` stores the next message.
 */
export async function goesOnFromLate(c: JsTestCluster, nc: NatsConnection, late: string): Promise<void> {
  await consumerLedFrom(nc, late);
  const ci = await clusterApi<{ ack_floor?: { stream_seq: number } }>(nc, "$JS.API.CONSUMER.INFO.S.C");
  assert.equal(ci.ack_floor?.stream_seq, 3);
  assert.deepEqual(await consume(nc, "S", "C", 4), [4, 5, 6, 7]);
  assert.equal(await clusterPublish(nc, "s.8", "m8"), 8);
  await waitUntil(() => streamOn(c, late, "S")?.store.state().lastSeq === 8, 20_000, `message 8 on ${late}`);
}

/** Waits until `stream` is down to one replica (assigned to one server, its move over, running there alone); returns that server. */
export async function scaledDownToOne(c: JsTestCluster, stream = "S"): Promise<string> {
  let kept = "";
  await waitUntil(
    async () => {
      const sa = c.js(await c.metaLeader()).cluster?.assignment("$G", stream);
      kept = sa?.peers.length === 1 && sa.move === undefined ? sa.peers[0] : "";
      return kept !== "" && streamOn(c, kept, stream)?.replica === undefined;
    },
    60_000,
    `${stream} scaled down to one replica`,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message} (${JSON.stringify(c.js(await c.metaLeader()).cluster?.assignment("$G", stream))})`);
  });
  return kept;
}

/** S scaled up to three again, onto the stopped server `late` too (placed there though unheard); every server of `names` then holds it. */
export async function scaledUpOntoLate(c: JsTestCluster, jsm: JetStreamManager, late: string, names: string[]): Promise<void> {
  JsCluster.placeableUnheard = [late];
  try {
    await clusterRetry(() => jsm.streams.update("S", { subjects: ["s.>"], num_replicas: 3 }));
  } finally {
    JsCluster.placeableUnheard = [];
  }
  assert.deepEqual([...(c.js(await c.metaLeader()).cluster?.assignment("$G", "S")?.peers ?? [])].sort(), names, "S scaled up onto every server");
}
