// A replicated consumer's RAFT log is fsynced lazily (every sync_interval), as its state file is:
// a power loss of every server can take back committed entries, and the next leader's entries
// reuse their indexes for other changes. Jepsen seed 181: one member's state file had reached
// the disk past its log; back, it took the new leader's entries up to that index as applied
// (they were other deliveries) and applied the later ones on its older state, so a message
// delivered and never acknowledged was no longer pending there; once that member led, the
// consumer never delivered it again though its ack floor moved past it.
//
// Three in-process servers (JsTestCluster); the power loss is made on the stopped servers'
// files, deterministically: every member's consumer log is cut back to the entries every member
// had before the first delivery, the state files of two members go back there too, and the third
// keeps its state of ten messages acknowledged (its file had reached the disk). The two restart
// first and the consumer delivers and acknowledges again (the new history: message 11 delivered,
// not acknowledged); the third restarts, catches up and is made the consumer's leader. It must
// hold the group's state: message 11 pending, ack floor 10, as every other member.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, cutLog, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { consumerGroupName } from "../src/jetstream/consumer_group.js";
import type { ConsumerState } from "../src/storage/store.js";

const STREAM = "L";
const DURABLE = "D";

/** A member's copy of the consumer's state (undefined while its server is stopped). */
function stateOn(c: JsTestCluster, member: string): ConsumerState | undefined {
  return streamOn(c, member, STREAM)?.consumers.get(DURABLE)?.stateSnapshot();
}

function groupOn(c: JsTestCluster, member: string) {
  return streamOn(c, member, STREAM)?.replica?.consumerGroup(DURABLE);
}

function summary(st: ConsumerState | undefined): string {
  if (st === undefined) return "none";
  return `delivered ${st.delivered.stream_seq}, ack floor ${st.ack_floor.stream_seq}, pending [${[...st.pending.keys()].join(",")}]`;
}

test("a member whose consumer state outlived its log (power loss of all) takes the group's state, not a mix of both histories", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  let nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    const s = await clusterApi(nc, `$JS.API.STREAM.CREATE.${STREAM}`, { name: STREAM, subjects: ["l.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 30; i++) await clusterPublish(nc, "l.x", `m${i}`);
    // ack_wait far above the test's own steps: message 11 stays pending, not redelivered meanwhile.
    const d = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.${STREAM}.${DURABLE}`, { stream_name: STREAM, config: { durable_name: DURABLE, ack_policy: "explicit", ack_wait: 120_000_000_000 } });
    assert.equal(d.error, undefined, JSON.stringify(d.error));
    await infoWithLeader(nc, STREAM, DURABLE);
    // Every member applied the same entries, none delivering yet: the log every member keeps.
    let kept = 0;
    await waitUntil(
      () => {
        const applied = names.map((n) => groupOn(c, n)?.node.applied ?? -1);
        kept = applied[0];
        return kept > 0 && applied.every((a) => a === kept) && names.every((n) => groupOn(c, n)?.node.commit === kept);
      },
      30_000,
      "every member of the consumer's group at the same index",
    );

    // The history the power loss takes back: ten messages delivered and acknowledged one by one.
    for (let i = 1; i <= 10; i++) assert.deepEqual(await consume(nc, STREAM, DURABLE, 1), [i]);
    await waitUntil(() => names.every((n) => stateOn(c, n)?.ack_floor.stream_seq === 10), 30_000, "every member with ack floor 10");

    await nc.close();
    const ahead = names[0];
    const others = names.slice(1);
    for (const n of names) await c.stopMember(n);
    const groupDir = (n: string): string => path.join(c.member(n).storeDir, "jetstream", "_raft", consumerGroupName("$G", STREAM, DURABLE));
    const obsDir = (n: string): string => path.join(c.member(n).storeDir, "jetstream", "$G", "streams", STREAM, "obs", DURABLE);
    for (const n of names) cutLog(groupDir(n), kept);
    for (const n of others) {
      // Their state files went back to the state at that index (nothing delivered yet).
      fs.rmSync(path.join(obsDir(n), "o.dat"), { force: true });
      fs.writeFileSync(path.join(groupDir(n), "applied"), `${kept}\n`);
    }
    // (`ahead` keeps its state file: ten acknowledged, written at an index its log no longer reaches.)

    // The new history, without `ahead`: message 11 delivered and not acknowledged, the others acknowledged.
    for (const n of others) await c.startMember(n);
    nc = await connect({ servers: others.map((n) => c.member(n).url) });
    await infoWithLeader(nc, STREAM, DURABLE);
    const js = jetstream(nc, { timeout: 5000 });
    const got: number[] = [];
    for (const n of others) await waitUntil(() => groupOn(c, n) !== undefined, 30_000, `${n} running the consumer's group`);
    while (got.length < 11) {
      const consumer = await js.consumers.get(STREAM, DURABLE);
      for await (const m of await consumer.fetch({ max_messages: 11 - got.length, expires: 2000 })) {
        got.push(m.seq);
        if (m.seq !== 11) await m.ackAck({ timeout: 5000 });
      }
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // More entries than `ahead`'s state counted: messages 12 to 30 one by one.
    for (let i = 12; i <= 30; i++) assert.deepEqual(await consume(nc, STREAM, DURABLE, 1), [i]);
    const leader = (await infoWithLeader(nc, STREAM, DURABLE)).cluster?.leader ?? "";
    assert.ok(others.includes(leader), leader);
    const want = summary(stateOn(c, leader));
    assert.equal(want, "delivered 30, ack floor 10, pending [11]");

    // `ahead` comes back, catches up, and leads the consumer.
    await c.startMember(ahead);
    await c.fullMesh();
    await waitUntil(
      () => {
        const lead = groupOn(c, leader)?.node;
        const g = groupOn(c, ahead)?.node;
        return lead !== undefined && g !== undefined && g.applied === lead.commit && lead.commit === lead.applied;
      },
      30_000,
      `${ahead} applying everything the leader committed`,
    );
    assert.equal(summary(stateOn(c, ahead)), want, `${ahead}'s state once caught up`);
    const moved = await clusterApi<Info>(nc, `$JS.API.CONSUMER.LEADER.STEPDOWN.${STREAM}.${DURABLE}`, { placement: { preferred: ahead } });
    assert.equal(moved.error, undefined, JSON.stringify(moved.error));
    await waitUntil(() => groupOn(c, ahead)?.leads === true, 30_000, `${ahead} leading the consumer`);
    const info = await infoWithLeader(nc, STREAM, DURABLE);
    assert.equal(info.cluster?.leader, ahead);
    assert.deepEqual([info.ack_floor?.stream_seq, info.num_ack_pending, (info.delivered as { stream_seq?: number } | undefined)?.stream_seq], [10, 1, 30]);
    for (const n of names) assert.equal(summary(stateOn(c, n)), want, n);
  } finally {
    await nc.close();
    await c.stop();
  }
});
