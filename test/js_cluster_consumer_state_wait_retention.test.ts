// A replicated consumer's member whose state holds changes its log lost (its log's unsynced tail
// gone with a power cut) applies no delivery or ack until the consumer's leader proposes its
// whole state (consumer_group.ts). On an interest or work-queue stream the acks it skips
// meanwhile are the ones that free messages, and on the stream's leader (a member of every
// consumer's group) they are what makes it propose those messages' removal: skipped, and the
// leader's state then taken as a whole, the messages stayed on every copy of the stream for
// good. nats-server keeps only what is not acknowledged.
//
// Three in-process servers (JsTestCluster); the lost tail is made on the stopped server's files
// (as js_cluster_consumer_lost_log does), after a snapshot: a state entry left in its log would be
// applied again at the restart and explain its state. The wait is held open by pausing that
// member's consumer groups (pauseRaft) while it leads both streams and the other two acknowledge
// messages 6 to 10.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster, copyOf, pauseRaft, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, cutLog, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { consumerGroupName } from "../src/jetstream/consumer_group.js";

const DURABLE = "D";
const STREAMS = [
  { name: "I", retention: "interest", subject: "i.x" },
  { name: "W", retention: "workqueue", subject: "w.x" },
] as const;
const MESSAGES = 20;

function groupOn(c: JsTestCluster, member: string, stream: string) {
  return streamOn(c, member, stream)?.replica?.consumerGroup(DURABLE);
}

/** The stream sequences a member's copy holds. */
function seqsOn(c: JsTestCluster, member: string, stream: string): number[] {
  return copyOf(c, member, stream).map(([seq]) => seq);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("acks a consumer's member skips while it waits for the leader's state still free messages of interest and work-queue streams on every copy", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    let nc = await connect({ servers: c.members.map((m) => m.url) });
    ncs.push(nc);
    const kept: Record<string, number> = {};
    for (const s of STREAMS) {
      const made = await clusterApi(nc, `$JS.API.STREAM.CREATE.${s.name}`, { name: s.name, subjects: [`${s.subject.slice(0, 1)}.>`], retention: s.retention, num_replicas: 3 });
      assert.equal(made.error, undefined, JSON.stringify(made.error));
      // (An interest stream keeps only messages published while a consumer exists: the consumer first.)
      const d = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.${s.name}.${DURABLE}`, { stream_name: s.name, config: { durable_name: DURABLE, ack_policy: "explicit", ack_wait: 120_000_000_000 } });
      assert.equal(d.error, undefined, JSON.stringify(d.error));
      await infoWithLeader(nc, s.name, DURABLE);
      for (let i = 1; i <= MESSAGES; i++) await clusterPublish(nc, s.subject, `m${i}`);
      // Messages 1 to 3 acknowledged, every member at the same index of the consumer's log and
      // its snapshot there (the group's first state entry compacted away): where the lost tail starts.
      assert.deepEqual(await consume(nc, s.name, DURABLE, 3), range(1, 3));
      await waitUntil(
        () => {
          const applied = names.map((n) => groupOn(c, n, s.name)?.node.applied ?? -1);
          kept[s.name] = applied[0];
          return applied[0] > 0 && applied.every((a) => a === applied[0]) && names.every((n) => groupOn(c, n, s.name)?.node.commit === applied[0]);
        },
        30_000,
        `every member of ${s.name}'s consumer group at the same index`,
      );
      for (const n of names) groupOn(c, n, s.name)?.node.snapshotNow();
      await waitUntil(() => names.every((n) => groupOn(c, n, s.name)?.node.snapshotIndex === kept[s.name]), 30_000, `${s.name}'s consumer group snapshots at ${kept[s.name]}`);
      // Messages 4 and 5 acknowledged by every member: the state the stopped member keeps past its log.
      assert.deepEqual(await consume(nc, s.name, DURABLE, 2), range(4, 5));
    }
    for (const s of STREAMS) {
      await waitUntil(() => names.every((n) => seqsOn(c, n, s.name).join() === range(6, MESSAGES).join()), 30_000, `${s.name}: every copy holding 6 to ${MESSAGES}`);
      await waitUntil(() => names.every((n) => streamOn(c, n, s.name)?.consumers.get(DURABLE)?.stateSnapshot().ack_floor.stream_seq === 5), 30_000, `${s.name}: every member with ack floor 5`);
    }
    await nc.close();

    // The member restarted leads neither consumer (a leader stopped, the other two would elect
    // one, whose first entry is its state: then the acks below come after a state, not before).
    const back = names.find((n) => STREAMS.every((s) => groupOn(c, n, s.name)?.node.leader !== n)) ?? "";
    assert.notEqual(back, "", "a member leading no consumer");
    const others = names.filter((n) => n !== back);
    await c.stopMember(back);
    for (const s of STREAMS) cutLog(path.join(c.member(back).storeDir, "jetstream", "_raft", consumerGroupName("$G", s.name, DURABLE)), kept[s.name]);
    // The other members' consumer groups hear nothing until `back`'s are paused in turn: its groups
    // find their state past their logs and nobody proposes a state to them before the acks below.
    const resumeOthers = others.flatMap((n) => STREAMS.map((s) => pauseRaft(groupOn(c, n, s.name)!.node)));
    await c.startMember(back);
    const resumeBack: Array<() => void> = [];
    for (const s of STREAMS) {
      await waitUntil(() => groupOn(c, back, s.name)?.awaitingState === true, 30_000, `${back}'s ${s.name} consumer waiting for the leader's state`);
      resumeBack.push(pauseRaft(groupOn(c, back, s.name)!.node));
    }
    for (const resume of resumeOthers) resume();
    await c.fullMesh();

    nc = await connect({ servers: others.map((n) => c.member(n).url) });
    ncs.push(nc);
    for (const s of STREAMS) {
      // `back` leads the stream: the removals the acks below free are its to propose.
      if (streamOn(c, back, s.name)?.replica?.isLeader !== true) {
        const moved = await clusterApi(nc, `$JS.API.STREAM.LEADER.STEPDOWN.${s.name}`, { placement: { preferred: back } });
        assert.ok(moved.error === undefined || /already leader/.test(moved.error.description), JSON.stringify(moved.error));
      }
      await waitUntil(() => streamOn(c, back, s.name)?.replica?.leaderReady === true, 30_000, `${back} leading ${s.name}`);
      const leader = (await infoWithLeader(nc, s.name, DURABLE)).cluster?.leader ?? "";
      assert.ok(others.includes(leader), `${s.name}'s consumer led by ${leader}`);
      assert.deepEqual(await consume(nc, s.name, DURABLE, 5), range(6, 10));
      assert.equal(groupOn(c, back, s.name)?.awaitingState, true, `${back}'s ${s.name} consumer still waiting`);
    }

    // `back` hears its consumer groups again: it takes the acks (after the leader's state) and,
    // leading the streams, removes what they freed from every copy.
    for (const resume of resumeBack) resume();
    for (const s of STREAMS) {
      await waitUntil(() => groupOn(c, back, s.name)?.awaitingState === false, 30_000, `${back}'s ${s.name} consumer taking the leader's state`);
      const want = range(11, MESSAGES).join();
      await waitUntil(() => names.every((n) => seqsOn(c, n, s.name).join() === want), 20_000, `${s.name}: every copy holding 11 to ${MESSAGES}`).catch((err: Error) => {
        throw new Error(`${err.message}; ${names.map((n) => `${n} holds ${seqsOn(c, n, s.name).join(",")}`).join("; ")}`);
      });
      for (const n of names) assert.equal(streamOn(c, n, s.name)?.consumers.get(DURABLE)?.stateSnapshot().ack_floor.stream_seq, 10, `${s.name} on ${n}`);
      const info = await infoWithLeader(nc, s.name, DURABLE);
      assert.deepEqual([info.ack_floor?.stream_seq, info.num_ack_pending, info.num_pending], [10, 0, MESSAGES - 10]);
    }
  } finally {
    for (const nc of ncs) await nc.close();
    await c.stop();
  }
});
