// A server that catches up from the meta leader's SNAPSHOT (it was stopped while its stream scaled
// down R5 -> R3, and the meta log was compacted past what it missed) ends with the stream and its
// consumers as the other servers have them: the stream's num_replicas, each consumer's num_replicas
// (rewritten to the replicas the stream keeps, as nats-server remaps them), its group's members, its
// CONSUMER.INFO (answered by that server, led there) and its deliveries.
// nats-server applies a meta snapshot as the diff of the assignments it had and those it gets
// (applyMetaSnapshot: processUpdateStreamAssignment for a changed stream, its consumers' updated
// assignments); tsnats replaced the assignments without applying what changed for its own copies.
// Two cases: stopped before the update (it misses the update and the pick), and stopped after it
// applied the update but before the stream's leader picked its servers (it misses the pick only).
// (A stream's leader keeps live servers: made to pick the stopped one, as when it stops between
// the pick said and recorded.)
// Five in-process servers (JsTestCluster), the meta group snapshotting every 8 entries in log
// segments of 4 KB (compaction drops whole segments).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { consume, consumerLine, infoWithLeader, streamWithConsumers, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";
import { compactMetaPast } from "./helpers/meta_compaction.js";
import type { Stream } from "../src/jetstream/stream.js";

const CONSUMERS = [
  { name: "D", config: { durable_name: "D", num_replicas: 0 } },
  { name: "D5", config: { durable_name: "D5", num_replicas: 5 } },
  { name: "E5", config: { name: "E5", num_replicas: 5, inactive_threshold: 300e9 } },
];

/** A member's view of a consumer: its num_replicas and its group's voters. */
function heldOn(c: JsTestCluster, member: string, name: string): string {
  const s = streamOn(c, member, "S");
  const co = s?.consumers.get(name);
  const voters = s?.replica?.consumerGroup(name)?.node.config.voters ?? [];
  return `${name} R${co?.cfg.num_replicas} group ${[...voters].sort().join(",")}`;
}

/**
 * The stream's leader on `member`, if it leads, picks `kept` (a leader picks the live servers: a
 * kept server misses the pick when it stops between the pick said and recorded, which this puts
 * at any moment).
 */
function pickKept(c: JsTestCluster, member: string, kept: string[]): void {
  const cluster = c.js(member).cluster as JsCluster;
  const picked = JsCluster.prototype.scaleDownPicked;
  Object.assign(cluster, { scaleDownPicked: (stream: Stream, order: string[]) => picked.call(cluster, stream, [...kept, ...order.filter((p) => !kept.includes(p))]) });
}

async function scaleDownWhileStopped(stopAfterUpdate: boolean): Promise<void> {
  const saved = { entries: JsCluster.snapshotEntries, segment: JsCluster.segmentSize, pickFallbackMs: JsCluster.pickFallbackMs };
  JsCluster.snapshotEntries = 8;
  JsCluster.segmentSize = 4096;
  const c = await JsTestCluster.start(5);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    const meta = await c.metaAllCurrent();
    const cfg = await streamWithConsumers(nc, 5, CONSUMERS);
    const leader = await replicaLeader(c, "S");
    // The servers the scale-down keeps: the meta leader names them in the update's move (its picked servers).
    let stopped = "";
    let kept: string[] = [];
    let heldByStopped = 0;
    if (stopAfterUpdate) {
      // No stream leader's pick reaches a meta leader until the stopped server is down (and no meta leader picks instead).
      JsCluster.pickFallbackMs = Infinity;
      for (const n of names) Object.assign(c.js(n).cluster as object, { scaleDownPicked: () => undefined });
      const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 });
      assert.equal(down.error, undefined, JSON.stringify(down.error));
      await waitUntil(() => names.every((n) => c.js(n).cluster?.assignment("$G", "S")?.move?.scaleDown === true && streamOn(c, n, "S")?.cfg.num_replicas === 3), 20_000, "every server applied the update");
      kept = [...(c.js(meta).cluster?.assignment("$G", "S")?.move?.peers ?? [])];
      stopped = kept.find((p) => p !== leader && p !== meta) ?? "";
      heldByStopped = c.js(stopped).cluster?.node?.lastIndex ?? 0;
      await c.stopMember(stopped);
      for (const n of names) if (n !== stopped) pickKept(c, n, kept);
    } else {
      const peers = c.js(meta).cluster?.assignment("$G", "S")?.peers ?? [];
      kept = [leader, ...peers.filter((p) => p !== leader)].slice(0, 3);
      stopped = kept.find((p) => p !== leader && p !== meta) ?? "";
      heldByStopped = c.js(stopped).cluster?.node?.lastIndex ?? 0;
      await c.stopMember(stopped);
      for (const n of names) if (n !== stopped) pickKept(c, n, kept);
      const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 });
      assert.equal(down.error, undefined, JSON.stringify(down.error));
    }
    assert.notEqual(stopped, "");
    const running = kept.filter((n) => n !== stopped);
    // The scale-down ends without the stopped server (it stays in the stream's assignment).
    await waitUntil(
      () => {
        const sa = c.js(running[0]).cluster?.assignment("$G", "S");
        return sa !== undefined && sa.move === undefined && [...sa.peers].sort().join(",") === [...kept].sort().join(",");
      },
      60_000,
      "the scale-down ended on the servers kept",
    );
    const expected = new Map<string, string>();
    await waitUntil(
      () => {
        for (const k of CONSUMERS) expected.set(k.name, heldOn(c, running[0], k.name));
        return CONSUMERS.every((k) => expected.get(k.name)?.includes(`group ${[...kept].sort().join(",")}`) && running.every((n) => heldOn(c, n, k.name) === expected.get(k.name)));
      },
      30_000,
      "the consumers on the servers kept",
    );
    const before: string[] = [];
    for (const k of CONSUMERS) before.push(`${k.name} ${consumerLine(await infoWithLeader(nc, "S", k.name))}`);
    // Compacted past the first entry the stopped server misses: it catches up from the leader's snapshot.
    await compactMetaPast(c, nc, heldByStopped + 1);
    const missedUpTo = c.js(await c.metaLeader()).cluster?.node?.commit ?? 0;

    await c.startMember(stopped);
    // Caught up by the leader's snapshot.
    await waitUntil(() => (c.js(stopped).cluster?.node?.snapshotIndex ?? 0) >= missedUpTo, 30_000, `${stopped} installed the meta leader's snapshot`);
    await waitUntil(() => streamOn(c, stopped, "S")?.cfg.num_replicas === 3, 10_000, `the stream's replicas on ${stopped}: 3`);
    await waitUntil(() => CONSUMERS.every((k) => heldOn(c, stopped, k.name) === expected.get(k.name)), 30_000, `the consumers on ${stopped} as on ${running.join(", ")}`);
    for (const k of CONSUMERS) assert.equal(heldOn(c, stopped, k.name), expected.get(k.name));

    // Led from the server back, each consumer answers as before and goes on from its state.
    for (const k of CONSUMERS) {
      await waitUntil(
        async () => {
          const ci = await clusterApi<Info>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`);
          if (ci.cluster?.leader === stopped) return true;
          await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.S.${k.name}`, JSON.stringify({ placement: { preferred: stopped } }), { timeout: 5000 }).catch(() => undefined);
          return false;
        },
        30_000,
        `${k.name} led from ${stopped}`,
      );
    }
    const after: string[] = [];
    for (const k of CONSUMERS) after.push(`${k.name} ${consumerLine(await infoWithLeader(nc, "S", k.name))}`);
    assert.deepEqual(after, before);
    for (const k of CONSUMERS) assert.deepEqual(await consume(nc, "S", k.name, 2), [6, 7], k.name);
  } finally {
    JsCluster.snapshotEntries = saved.entries;
    JsCluster.segmentSize = saved.segment;
    JsCluster.pickFallbackMs = saved.pickFallbackMs;
    await nc.close();
    await c.stop();
  }
}

test("stopped before a stream's R5 -> R3, a kept server caught up by the meta snapshot holds the stream and its consumers as the others do", { timeout: 110_000 }, async () => {
  await scaleDownWhileStopped(false);
});

test("stopped after the update but before the stream's leader picked its servers, a kept server caught up by the meta snapshot rewrites its consumers as the others did", { timeout: 110_000 }, async () => {
  await scaleDownWhileStopped(true);
});
