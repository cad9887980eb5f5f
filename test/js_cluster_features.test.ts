// The 2.11–2.15 stream features on replicated (R3) streams, through the stream's RAFT group:
// atomic batches committed as one entry (all or nothing on every member), and the same steps on
// a cluster of three nats-server 2.15 for comparison of every answer. Fail-over in the middle of
// a batch leaves none of it anywhere. A memory stream's RAFT log stays in memory.
// The other features, one file each: js_cluster_features_markers (subject delete markers, TTLs,
// max age), js_cluster_features_schedules (message schedules), js_cluster_features_fast_batch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import fs from "node:fs";
import { streamOn, contents, times, sameEverywhere, replicaLeader, withReferenceR3 } from "./helpers/js_cluster_features.js";

/** One message of an atomic batch; the answer's text ("" for a staged message's empty ack, "no answer" on a timeout). */
async function batchMsg(nc: NatsConnection, subject: string, id: string, seq: number, data: string, more: Record<string, string> = {}): Promise<string> {
  const h = headers();
  h.set("Nats-Batch-Id", id);
  h.set("Nats-Batch-Sequence", String(seq));
  for (const [k, v] of Object.entries(more)) h.set(k, v);
  try {
    return (await nc.request(subject, data, { headers: h, timeout: 5000 })).string();
  } catch {
    return "no answer";
  }
}

/** The answer with what differs between servers (domain-free already) left as is: errors and acks compare whole. */
function norm(a: string): string {
  return a;
}

/** The batch steps, run the same on both clusters; every answer in order. */
async function batchSteps(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.AB", { name: "AB", subjects: ["ab.>"], num_replicas: 3, allow_atomic: true, max_msgs_per_subject: 3 });
  out.push(`create ${JSON.stringify(created.error ?? null)} ${(created as ClusterAnswer & { config?: { allow_atomic?: boolean } }).config?.allow_atomic}`);
  // A plain message first, retried while the group elects its leader.
  for (let i = 0; i < 100; i++) {
    try {
      const a = (await nc.request("ab.plain", "p", { timeout: 3000 })).string();
      if (!a.includes('"code":503')) {
        out.push(`plain ${a}`);
        break;
      }
    } catch {
      // no leader yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // A batch of three: empty acks, then the commit's PubAck with batch and count.
  out.push(await batchMsg(nc, "ab.a", "b1", 1, "1"));
  out.push(await batchMsg(nc, "ab.b", "b1", 2, "2"));
  out.push(await batchMsg(nc, "ab.c", "b1", 3, "3", { "Nats-Batch-Commit": "1" }));
  // Checks over the whole batch: a duplicate id in it refuses all of it.
  out.push(await batchMsg(nc, "ab.a", "b2", 1, "x", { "Nats-Msg-Id": "d" }));
  out.push(await batchMsg(nc, "ab.a", "b2", 2, "y", { "Nats-Msg-Id": "d", "Nats-Batch-Commit": "1" }));
  // The first message may say where the stream stands; a wrong one refuses the batch.
  out.push(await batchMsg(nc, "ab.e", "b3", 1, "e1", { "Nats-Expected-Last-Sequence": "3" }));
  out.push(await batchMsg(nc, "ab.e", "b3", 2, "e2", { "Nats-Batch-Commit": "1" }));
  out.push(await batchMsg(nc, "ab.e", "b4", 1, "e3", { "Nats-Expected-Last-Sequence": "4" }));
  out.push(await batchMsg(nc, "ab.e", "b4", 2, "e4", { "Nats-Batch-Commit": "eob" }));
  // Per-subject limits counted over the batch (discard old: the oldest go).
  for (let i = 1; i <= 5; i++) out.push(await batchMsg(nc, "ab.f", "b5", i, `f${i}`, i === 5 ? { "Nats-Batch-Commit": "1" } : {}));
  // A gap: the batch is incomplete.
  out.push(await batchMsg(nc, "ab.g", "b6", 1, "g1"));
  out.push(await batchMsg(nc, "ab.g", "b6", 3, "g3", { "Nats-Batch-Commit": "1" }));
  const info = await clusterApi<ClusterAnswer & { state?: { messages: number; last_seq: number; num_subjects: number } }>(nc, "$JS.API.STREAM.INFO.AB", {});
  out.push(`state ${info.state?.messages} ${info.state?.last_seq} ${info.state?.num_subjects}`);
  // What is stored, read back by sequence.
  for (let seq = 1; seq <= (info.state?.last_seq ?? 0); seq++) {
    const m = await clusterApi<ClusterAnswer & { message?: { subject: string; data: string; hdrs?: string } }>(nc, "$JS.API.STREAM.MSG.GET.AB", { seq });
    const hdrs = m.message?.hdrs !== undefined ? Buffer.from(m.message.hdrs, "base64").toString().includes("Nats-Batch-Commit: 1") : false;
    out.push(m.error !== undefined ? `get ${seq} ${m.error.err_code}` : `get ${seq} ${m.message?.subject} ${Buffer.from(m.message?.data ?? "", "base64").toString()}${hdrs ? " commit" : ""}`);
  }
  return out.map(norm);
}

test("R3 atomic batch: one entry on every member, answers as a nats-server 2.15 cluster", { timeout: 240_000 }, async () => {
  await withReferenceR3(1, async (c, nc, reference) => {
    const ours = await batchSteps(nc);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.match(ours[0], /^create null true$/);
    assert.match(ours[4], /"seq":4,"batch":"b1","count":3\}$/);
    const stored = await sameEverywhere(c, "AB");
    assert.ok(stored.length > 0);
    // Every member stamps a message with the time its leader gave it; a batch has one time.
    const stamped = times(c, "S1", "AB");
    for (const m of ["S2", "S3"]) assert.deepEqual(times(c, m, "AB"), stamped, `${m}: the same times as S1`);
    const batchTimes = new Set(stamped.filter((t) => /^[234]@/.test(t)).map((t) => t.split("@")[1]));
    assert.equal(batchTimes.size, 1, `one time for the batch: ${JSON.stringify(stamped)}`);
    const rnc = await reference();
    if (rnc !== undefined) {
      const theirs = await batchSteps(rnc);
      assert.deepEqual(ours, theirs, "the same answers as nats-server 2.15");
    }
  });
});

test("R3 atomic batch: the leader stops in the middle of a batch, none of it is stored anywhere; the next batch is stored everywhere", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    let nc = await connect({ servers: c.members[0].url });
    ncs.push(nc);
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.FB", { name: "FB", subjects: ["fb.>"], num_replicas: 3, allow_atomic: true });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "FB")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "FB");
    const other = c.members.find((m) => m.name !== leader)!;
    await nc.close();
    nc = await connect({ servers: other.url });
    ncs.push(nc);
    // One batch committed before the fail-over.
    for (let i = 1; i <= 3; i++) {
      const a = await batchMsg(nc, "fb.x", "before", i, `b${i}`, i === 3 ? { "Nats-Batch-Commit": "1" } : {});
      assert.equal(a, i < 3 ? "" : `{"stream":"FB","seq":3,"batch":"before","count":3}`);
    }
    // Half a batch staged on the leader, which then stops.
    for (let i = 1; i <= 4; i++) assert.equal(await batchMsg(nc, "fb.y", "cut", i, `c${i}`), "");
    await c.stopMember(leader);
    const second = await replicaLeader(c, "FB", leader);
    assert.notEqual(second, leader);
    // The rest of the batch reaches the new leader, which never saw its start: refused.
    let commit = "no answer";
    for (let i = 0; i < 20 && commit === "no answer"; i++) commit = await batchMsg(nc, "fb.y", "cut", 5, "c5", { "Nats-Batch-Commit": "1" });
    assert.match(commit, /"err_code":10176/, `the commit of a batch whose start the new leader never saw: ${commit}`);
    assert.deepEqual(await sameEverywhere(c, "FB"), ["1 fb.x b1", "2 fb.x b2", "3 fb.x b3"], "nothing of the cut batch anywhere");
    // A whole batch after the fail-over: stored on every member, the old leader's too once back.
    for (let i = 1; i <= 3; i++) {
      const a = await batchMsg(nc, "fb.z", "after", i, `a${i}`, i === 3 ? { "Nats-Batch-Commit": "1" } : {});
      assert.equal(a, i < 3 ? "" : `{"stream":"FB","seq":6,"batch":"after","count":3}`);
    }
    await c.startMember(leader);
    const all = await sameEverywhere(c, "FB");
    assert.deepEqual(all, ["1 fb.x b1", "2 fb.x b2", "3 fb.x b3", "4 fb.z a1", "5 fb.z a2", "6 fb.z a3"]);
    await waitUntil(() => contents(c, leader, "FB").length === 6, 30_000, "the old leader caught up");
  } finally {
    for (const x of ncs) await x.close().catch(() => undefined);
    await c.stop();
  }
});

test("R3 memory stream: its RAFT log stays in memory; a restarted member starts empty and catches up from the others", { timeout: 240_000 }, async () => {
  const snapshotEntries = StreamReplica.snapshotEntries;
  // Snapshots often: the restarted member gets one (and the messages behind it) as well as log entries.
  StreamReplica.snapshotEntries = 40;
  const c = await JsTestCluster.start(3);
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[0].url });
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.MEM", { name: "MEM", subjects: ["mem.>"], num_replicas: 3, storage: "memory" });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "MEM")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "MEM");
    const js = jetstream(nc, { timeout: 10_000 });
    const acks = [];
    for (let i = 0; i < 150; i++) acks.push(js.publish(`mem.${i % 5}`, `m${i}`));
    await Promise.all(acks);
    await sameEverywhere(c, "MEM");
    // Nothing of the group but its membership is on disk.
    for (const m of c.members) {
      const dir = (streamOn(c, m.name, "MEM")!.replica as unknown as { dir: string }).dir;
      assert.deepEqual(fs.readdirSync(dir), ["peers.json"], `${m.name}: ${dir}`);
    }
    const follower = c.members.find((m) => m.name !== leader && m.srv?.server !== undefined)!.name;
    await c.stopMember(follower);
    for (let i = 150; i < 300; i++) acks.push(js.publish(`mem.${i % 5}`, `m${i}`));
    await Promise.all(acks);
    await c.startMember(follower);
    await waitUntil(() => streamOn(c, follower, "MEM")?.replica !== undefined, 30_000, "the restarted member's replica");
    const all = await sameEverywhere(c, "MEM");
    assert.equal(all.length, 300);
    assert.equal(all[299], "300 mem.4 m299");
    // The leader restarts too: the group goes on with what the others hold.
    await c.stopMember(leader);
    await replicaLeader(c, "MEM", leader);
    await c.startMember(leader);
    await waitUntil(() => contents(c, leader, "MEM").length === 300, 30_000, "the old leader caught up");
    assert.deepEqual(await sameEverywhere(c, "MEM"), all);
  } finally {
    StreamReplica.snapshotEntries = snapshotEntries;
    await nc?.close();
    await c.stop();
  }
});
