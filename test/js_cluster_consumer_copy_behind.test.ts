// A replicated consumer is led by any member of its stream's group and delivers from that
// member's copy of the stream, which may be behind (catching up) or emptied to be copied again
// (damaged). Neither makes a pending message gone (jepsen seed 181: a member of stream J whose
// copy was discarded twice led consumer D2, and D2 never delivered an acknowledged message again):
// - a member whose copy lacks the pending messages when their redelivery is due waits until its
//   copy has them, then redelivers them;
// - a member whose damaged copy is discarded at start keeps its consumers' pending messages (the
//   copy is emptied before the consumers are loaded: the truncation tells them nothing; told, each
//   pending message would count as acknowledged there).
// Three in-process servers (JsTestCluster).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, pauseRaft, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";

const STREAM = "B";
const DURABLE = "D";

function pendingOn(c: JsTestCluster, member: string): number[] | undefined {
  const st = streamOn(c, member, STREAM)?.consumers.get(DURABLE)?.stateSnapshot();
  return st === undefined ? undefined : [...st.pending.keys()].sort((a, b) => a - b);
}

/** Fetches (no ack) until `want` came, whatever else comes too; the stream sequences received. */
async function fetchUntil(nc: NatsConnection, want: number[], ms: number): Promise<number[]> {
  const js = jetstream(nc, { timeout: 5000 });
  const got: number[] = [];
  const deadline = Date.now() + ms;
  while (!want.every((s) => got.includes(s)) && Date.now() < deadline) {
    try {
      const consumer = await js.consumers.get(STREAM, DURABLE);
      for await (const m of await consumer.fetch({ max_messages: 10, expires: 1000 })) got.push(m.seq);
    } catch {
      // a leader change: asked again
    }
  }
  return got;
}

async function setUp(c: JsTestCluster, nc: NatsConnection, ackWaitNs: number): Promise<void> {
  await c.metaAllCurrent();
  const s = await clusterApi(nc, `$JS.API.STREAM.CREATE.${STREAM}`, { name: STREAM, subjects: ["b.>"], num_replicas: 3 });
  assert.equal(s.error, undefined, JSON.stringify(s.error));
  const d = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.${STREAM}.${DURABLE}`, { stream_name: STREAM, config: { durable_name: DURABLE, ack_policy: "explicit", ack_wait: ackWaitNs } });
  assert.equal(d.error, undefined, JSON.stringify(d.error));
}

test("a member leading a consumer while its copy of the stream is behind redelivers the pending messages once its copy has them", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await setUp(c, nc, 1_000_000_000);
    for (let i = 1; i <= 10; i++) await clusterPublish(nc, "b.x", `m${i}`);
    assert.deepEqual(await consume(nc, STREAM, DURABLE, 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const consumerLeader = (await infoWithLeader(nc, STREAM, DURABLE)).cluster?.leader ?? "";
    const streamLeader = await replicaLeader(c, STREAM);
    // A member leading neither, whose copy stops at 10.
    const behind = names.find((n) => n !== consumerLeader && n !== streamLeader) as string;
    await waitUntil(() => names.every((n) => streamOn(c, n, STREAM)?.store.state().lastSeq === 10), 20_000, "every copy with 10");
    const resume = pauseRaft(streamOn(c, behind, STREAM)?.replica?.node as never);
    try {
      for (let i = 11; i <= 15; i++) await clusterPublish(nc, "b.x", `m${i}`);
      // Delivered by the leader (from its copy) and not acknowledged: pending everywhere.
      const first = await fetchUntil(nc, [11, 12, 13, 14, 15], 30_000);
      for (let s = 11; s <= 15; s++) assert.ok(first.includes(s), `${s} delivered first: ${first.join(",")}`);
      await waitUntil(() => pendingOn(c, behind)?.includes(15) === true, 20_000, `${behind} holding 11-15 pending`);
      assert.equal(streamOn(c, behind, STREAM)?.store.state().lastSeq, 10);
      const moved = await clusterApi<Info>(nc, `$JS.API.CONSUMER.LEADER.STEPDOWN.${STREAM}.${DURABLE}`, { placement: { preferred: behind } });
      assert.equal(moved.error, undefined, JSON.stringify(moved.error));
      await waitUntil(() => streamOn(c, behind, STREAM)?.replica?.consumerGroup(DURABLE)?.leads === true, 30_000, `${behind} leading the consumer`);
      // Their redelivery is due (ack wait 1 s) while the copy has none of them: a pull waiting
      // meanwhile gets nothing, and they stay pending.
      const js = jetstream(nc, { timeout: 5000 });
      const early: number[] = [];
      for await (const m of await (await js.consumers.get(STREAM, DURABLE)).fetch({ max_messages: 10, expires: 2500 })) early.push(m.seq);
      assert.deepEqual(early, []);
      assert.deepEqual(pendingOn(c, behind), [11, 12, 13, 14, 15]);
    } finally {
      resume();
    }
    // The copy catches up: they come again.
    await waitUntil(() => streamOn(c, behind, STREAM)?.store.state().lastSeq === 15, 30_000, `${behind}'s copy with 15`);
    const again = await fetchUntil(nc, [11, 12, 13, 14, 15], 30_000);
    for (let s = 11; s <= 15; s++) assert.ok(again.includes(s), `${s} delivered again: ${again.join(",")}`);
    const info = await infoWithLeader(nc, STREAM, DURABLE);
    assert.equal(info.cluster?.leader, behind);
    assert.equal(info.ack_floor?.stream_seq, 10);
  } finally {
    await nc.close();
    await c.stop();
  }
});

test("a member whose damaged copy of the stream is discarded at start keeps its consumers' pending messages", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await setUp(c, nc, 120_000_000_000);
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "b.x", `payload-${String(i).padStart(4, "0")}-${"x".repeat(40)}`);
    const first = await fetchUntil(nc, [1, 2, 3, 4, 5], 30_000);
    assert.deepEqual(first.slice(0, 5), [1, 2, 3, 4, 5]);
    const want = [...new Set(first)].sort((a, b) => a - b);
    await waitUntil(() => names.every((n) => pendingOn(c, n)?.length === want.length), 20_000, "every member with the same messages pending");
    const streamLeader = await replicaLeader(c, STREAM);
    const victim = names.find((n) => n !== streamLeader) as string;
    const storeDir = c.js(victim).storeDir;
    await c.stopMember(victim);
    // Its block cut in the middle of message 12: damaged, discarded at start and copied again.
    const dir = path.join(storeDir, "$G", "streams", STREAM, "msgs");
    const file = path.join(dir, fs.readdirSync(dir).filter((f) => f.endsWith(".blk")).sort((a, b) => Number.parseInt(a) - Number.parseInt(b)).pop() as string);
    const at = fs.readFileSync(file).indexOf(Buffer.from("payload-0012-"));
    assert.ok(at > 0, "message 12 is in the last block");
    fs.truncateSync(file, at + 7);
    await c.startMember(victim);
    // As it started, before anything came from the consumer's leader: its copy discarded, its state intact.
    assert.deepEqual(pendingOn(c, victim), want);
    await waitUntil(() => streamOn(c, victim, STREAM)?.store.state().lastSeq === 20 && streamOn(c, victim, STREAM)?.replica?.node.damaged === false, 30_000, `${victim} repaired`);
    assert.deepEqual(pendingOn(c, victim), want);
    const moved = await clusterApi<Info>(nc, `$JS.API.CONSUMER.LEADER.STEPDOWN.${STREAM}.${DURABLE}`, { placement: { preferred: victim } });
    assert.equal(moved.error, undefined, JSON.stringify(moved.error));
    await waitUntil(() => streamOn(c, victim, STREAM)?.replica?.consumerGroup(DURABLE)?.leads === true, 30_000, `${victim} leading the consumer`);
    const info = await infoWithLeader(nc, STREAM, DURABLE);
    assert.deepEqual([info.cluster?.leader, info.ack_floor?.stream_seq, info.num_ack_pending], [victim, 0, want.length]);
  } finally {
    await nc.close();
    await c.stop();
  }
});
