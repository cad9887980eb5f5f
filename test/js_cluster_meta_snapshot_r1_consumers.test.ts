// A server that was away while its stream left it (scaled down without it, or scaled down to one
// replica kept elsewhere and up again: its group regrown from another server) drops its copy when
// it is back, and the single-replica durable that lived on it (on that server only) goes to the
// stream group's leader with its state, as when the removal's entry is applied live (dropCopy:
// `$JSC.ADOPT.<group>`, a `handover` entry). Before, the durable went with the copy (its info
// answered 10014 "consumer not found").
// Cases: the scale-down learned from the meta leader's snapshot (the meta log compacted past what
// the server held: the copy goes as an orphan once the meta group caught up, removeOrphans, the
// path a restart replaying the removal from its own meta log takes too), and the R3 -> R1 -> R3
// learned from the snapshot (applyMissedChanges). (A server simply stopped during the scale-down
// gets the entries from the leader when back and applies them live: its durable was handed over
// before this change too.)
// Three in-process servers (JsTestCluster), the meta group snapshotting every 8 entries in log
// segments of 4 KB; JsCluster.placeableUnheard lets the scale-up place on the stopped server.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { type JsTestCluster, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish, clusterRetry, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { backBySnapshot, scaledDownToOne, scaledUpOntoLate, withCompactingCluster } from "./helpers/meta_compaction.js";
import { consume } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";

interface ConsumerAnswer extends ClusterAnswer {
  cluster?: { leader?: string };
  delivered?: { stream_seq: number };
  ack_floor?: { stream_seq: number };
}

/** S: R3, 4 messages. */
async function streamS(nc: NatsConnection, jsm: JetStreamManager): Promise<void> {
  await clusterRetry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 3 }));
  for (let i = 1; i <= 4; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
}

/**
 * A single-replica durable of S that lives on `late` (created under new names until the stream's
 * leader places one there), 2 of its messages delivered and acknowledged: its name.
 */
async function durableOnLate(c: JsTestCluster, nc: NatsConnection, jsm: JetStreamManager, late: string): Promise<string> {
  let name = "";
  for (let n = 1; n <= 30 && name === ""; n++) {
    await clusterRetry(() => jsm.consumers.add("S", { durable_name: `C${n}`, ack_policy: AckPolicy.Explicit, num_replicas: 1 }));
    const ci = await clusterApi<ConsumerAnswer>(nc, `$JS.API.CONSUMER.INFO.S.C${n}`);
    if (ci.cluster?.leader === late) name = `C${n}`;
  }
  assert.notEqual(name, "", `a single-replica durable placed on ${late}`);
  assert.deepEqual(await consume(nc, "S", name, 2), [1, 2]);
  await waitUntil(() => {
    const co = streamOn(c, late, "S")?.consumers.get(name) as unknown as { replicated: boolean; st: { ack_floor: { stream_seq: number } } } | undefined;
    return co !== undefined && !co.replicated && co.st.ack_floor.stream_seq === 2;
  }, 20_000, `${name}'s acks on ${late}`);
  return name;
}

/**
 * S's leader no longer hears from `late` (stopped): a scale-down to one replica removes it first.
 * (Asked while the leader still counts it as current, just after its stop, the scale-down removes
 * a live voter first and the group of the leader and the stopped one loses its quorum for good.)
 */
async function leaderMisses(c: JsTestCluster, late: string): Promise<void> {
  await waitUntil(
    () => {
      const leader = c.members.find((m) => m.name !== late && m.srv !== undefined && streamOn(c, m.name, "S")?.replica?.isLeader === true && streamOn(c, m.name, "S")?.replica?.node.leaderReady === true)?.name;
      const p = leader === undefined ? undefined : streamOn(c, leader, "S")?.replica?.node.peerStatus().find((x) => x.id === late);
      return p !== undefined && (p.lastSeenMs < 0 || p.lastSeenMs > 3500);
    },
    20_000,
    `S's leader misses ${late}`,
  );
}

/**
 * The server S's scale-down to two replicas leaves: the meta leader keeps the stream's leader and
 * the first other of its assignment (whether it runs or not: one stopped kept, the group of the
 * leader and it has no quorum and the scale-down never ends). Not the meta leader (it hands its
 * leadership to another when it is).
 */
async function leftByScaleDown(c: JsTestCluster): Promise<string> {
  const meta = await c.metaLeader();
  const lead = await replicaLeader(c, "S");
  const peers = c.js(meta).cluster?.assignment("$G", "S")?.peers ?? [];
  const kept = [lead, ...peers.filter((p) => p !== lead)].slice(0, 2);
  const left = peers.find((p) => !kept.includes(p)) ?? "";
  assert.notEqual(left, "");
  if (left === meta) {
    await waitUntil(
      async () => {
        if ((await c.metaLeader()) !== left) return true;
        c.js(left).cluster?.node?.stepDown(kept[0]);
        await new Promise((r) => setTimeout(r, 500));
        return false;
      },
      30_000,
      `a meta leader other than ${left}`,
    );
    await c.metaAllCurrent();
  }
  return left;
}

/**
 * S scaled down to two replicas while `late` (the one it leaves) is stopped. (Once it is missed:
 * a server stopped a moment ago still counts as heard, and the next streams created, placed
 * on the server holding the fewest, would go to it and wait for its answer.)
 */
async function scaleDownWithout(c: JsTestCluster, jsm: JetStreamManager, late: string): Promise<void> {
  await leaderMisses(c, late);
  await clusterRetry(() => jsm.streams.update("S", { subjects: ["s.>"], num_replicas: 2 }));
  await waitUntil(
    async () => {
      const sa = c.js(await c.metaLeader()).cluster?.assignment("$G", "S");
      return sa !== undefined && sa.move === undefined && sa.peers.length === 2;
    },
    60_000,
    "S scaled down to two",
  );
  assert.ok(!(c.js(await c.metaLeader()).cluster?.assignment("$G", "S")?.peers ?? []).includes(late), `${late} left S's group`);
}

/** The info of the durable `name` of S once a server other than `late` leads it. */
async function ledOffLate(nc: NatsConnection, late: string, name: string): Promise<ConsumerAnswer> {
  let ci: ConsumerAnswer = {};
  await waitUntil(
    async () => {
      ci = await clusterApi<ConsumerAnswer>(nc, `$JS.API.CONSUMER.INFO.S.${name}`);
      return ci.error === undefined && ci.cluster?.leader !== undefined && ci.cluster.leader !== late;
    },
    30_000,
    `${name} off ${late}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (${JSON.stringify(ci)})`);
  });
  return ci;
}

/** `late` holds no copy of S, and the durable lives on a server of S's with its state: it goes on from its acks. */
async function handedOver(c: JsTestCluster, nc: NatsConnection, late: string, name: string, next: number[]): Promise<void> {
  await waitUntil(() => streamOn(c, late, "S") === undefined, 30_000, `${late}'s copy of S dropped`);
  const ci = await ledOffLate(nc, late, name);
  const peers = c.js(await c.metaLeader()).cluster?.assignment("$G", "S")?.peers ?? [];
  assert.ok(peers.includes(ci.cluster?.leader ?? ""), `${name} on a server of S (${ci.cluster?.leader}; S on ${peers.join(",")})`);
  assert.equal(streamOn(c, ci.cluster?.leader ?? "", "S")?.consumers.get(name) !== undefined, true, `${ci.cluster?.leader} holds ${name}`);
  assert.equal(ci.delivered?.stream_seq, 2, `${name} keeps what it delivered`);
  assert.equal(ci.ack_floor?.stream_seq, 2, `${name} keeps its acks`);
  assert.deepEqual(await consume(nc, "S", name, next.length), next);
}

test("a server back by the meta snapshot after its stream was scaled down without it hands its single-replica durable to the stream's leader with its state", { timeout: 180_000 }, async () => {
  await withCompactingCluster(async (c, nc) => {
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await streamS(nc, jsm);
    const late = await leftByScaleDown(c);
    const name = await durableOnLate(c, nc, jsm, late);
    const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
    await c.stopMember(late);
    await scaleDownWithout(c, jsm, late);
    for (let i = 5; i <= 6; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    await backBySnapshot(c, nc, late, heldByLate);
    await handedOver(c, nc, late, name, [3, 4, 5, 6]);
  });
});

test("a server back by the meta snapshot after its stream's R3 -> R1 -> R3 (the group regrown from another server) hands its single-replica durable to the new group's leader with its state", { timeout: 180_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const names = c.members.map((m) => m.name);
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await streamS(nc, jsm);
    const name = await durableOnLate(c, nc, jsm, late);
    const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
    await c.stopMember(late);

    await leaderMisses(c, late);
    await clusterRetry(() => jsm.streams.update("S", { subjects: ["s.>"], num_replicas: 1 }));
    const kept = await scaledDownToOne(c);
    assert.notEqual(kept, late);
    await clusterPublish(nc, "s.5", "m5");
    await scaledUpOntoLate(c, jsm, late, names);
    await clusterPublish(nc, "s.6", "m6");

    await backBySnapshot(c, nc, late, heldByLate);
    // (The server back joins the regrown group anew: its new copy holds no durable of its own.)
    await waitUntil(() => streamOn(c, late, "S")?.store.state().lastSeq === 6, 30_000, `S up to 6 on ${late}`);
    const ci = await ledOffLate(nc, late, name);
    assert.equal(ci.delivered?.stream_seq, 2, `${name} keeps what it delivered`);
    assert.equal(ci.ack_floor?.stream_seq, 2, `${name} keeps its acks`);
    assert.deepEqual(await consume(nc, "S", name, 4), [3, 4, 5, 6]);
  });
});
