// A copy the stream's scale-down left behind takes no publishes (issue #12, random fault schedule
// seed 105: PubAcks naming sequences 80 below where their messages are stored). A server removed
// from an R3 stream's group keeps its copy for a while when it still leads a consumer of the
// stream (its copy goes once another member leads it). The stream scaled down to one replica
// then: the meta group's last step (the kept server alone, the move over) reached that server
// too, and it ran it as "this server keeps the stream alone": its group ended and the old copy,
// behind the stream, took the publishes as a single replica, storing them at its own sequences
// and answering each PubAck with one of them (often first: the publisher's own server). Here the
// server removed first is paused (its groups' RAFT traffic stopped both ways, its timers too),
// so it still believes it follows the stream's leader and leads consumer D when the scale-down
// ends; a publish through it is then answered by the kept server only, at the sequence that
// server stores it at. Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, pauseRaft, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

/**
 * An R3 stream Z of 25 messages; the server its leader will remove first when it scales down
 * (`left`, the leader removes its group's voters in order) paused while it leads consumer D,
 * so its copy (20 messages) stays after its removal until another member leads D.
 */
async function streamWithPausedMember(c: JsTestCluster, ncs: NatsConnection[]): Promise<{ kept: string; left: string; meta: string; scaleDown: () => Promise<unknown> }> {
  const meta = await c.metaAllCurrent();
  const admin = await connect({ servers: c.members[0].url });
  ncs.push(admin);
  const jsm = await jetstreamManager(admin, { timeout: 20_000 });
  const si = await jsm.streams.add({ name: "Z", subjects: ["z.>"], num_replicas: 3, duplicate_window: 120_000_000_000 });
  await jsm.consumers.add("Z", { durable_name: "D", ack_policy: AckPolicy.Explicit });
  const js = jetstream(admin, { timeout: 20_000 });
  for (let i = 1; i <= 20; i++) await js.publish("z.x", `m${i}`, { msgID: `m${i}` });
  await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Z")?.store.state().lastSeq === 20), 20_000, "every server holds every message");

  const kept = await replicaLeader(c, "Z");
  const voters = streamOn(c, kept, "Z")!.replica!.node.config.voters;
  const left = voters.find((v) => v !== kept) as string;
  await waitUntil(async () => {
    if (streamOn(c, left, "Z")?.replica?.consumerGroup("D")?.node.isLeader === true) return true;
    await admin.request("$JS.API.CONSUMER.LEADER.STEPDOWN.Z.D", JSON.stringify({ placement: { preferred: left } }), { timeout: 5000 }).catch(() => undefined);
    return false;
  }, 30_000, `D led by ${left}`);

  const leftReplica = streamOn(c, left, "Z")!.replica!;
  pauseRaft(leftReplica.node, true);
  pauseRaft(leftReplica.consumerGroup("D")!.node, true);
  // The stream goes on without it: its copy falls behind.
  for (let i = 21; i <= 25; i++) await js.publish("z.x", `m${i}`, { msgID: `m${i}` });
  assert.equal(streamOn(c, left, "Z")?.store.state().lastSeq, 20, `${left}'s copy is behind`);
  return { kept, left, meta, scaleDown: () => jsm.streams.update("Z", { ...si.config, num_replicas: 1 }) };
}

/** The scale-down's end as `member`'s meta group applied it: `kept` alone, the move over. */
async function scaleDownEnded(c: JsTestCluster, member: string, kept: string): Promise<void> {
  await waitUntil(
    () => {
      const sa = c.js(member).cluster?.assignment("$G", "Z");
      return sa?.peers.length === 1 && sa.peers[0] === kept && sa.move === undefined;
    },
    30_000,
    `the scale-down's end applied on ${member}`,
  );
}

/** A publish through `via` with a new id and its retry: both answered with the sequence `kept` stores it at (26), and no other copy stored it. */
async function probe(c: JsTestCluster, ncs: NatsConnection[], kept: string, via: string): Promise<void> {
  const nc = await connect({ servers: c.member(via).url });
  ncs.push(nc);
  const js = jetstream(nc, { timeout: 20_000 });
  const ack = await js.publish("z.x", "probe", { msgID: "probe" });
  const stored = copyOf(c, kept, "Z").find(([, , data]) => data === "probe");
  assert.deepEqual(stored?.[0], 26, `${kept} stores the probe after the 25 messages`);
  assert.equal(ack.seq, 26, "the PubAck names the sequence the message is stored at");
  for (const m of c.members) {
    if (m.name === kept) continue;
    const copy = streamOn(c, m.name, "Z");
    if (copy !== undefined && !copy.closed) assert.equal(copyOf(c, m.name, "Z").find(([, , data]) => data === "probe"), undefined, `${m.name}'s copy (out of the stream) stored nothing`);
  }
  // A retry of the same publish is a duplicate of the message stored there.
  const again = await js.publish("z.x", "probe", { msgID: "probe" });
  assert.equal(again.seq, 26);
  assert.equal(again.duplicate, true);
}

test("R3 -> R1 while a removed server still holds its copy: that copy takes no publish, every PubAck names where its message is stored", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    const { kept, left, meta, scaleDown } = await streamWithPausedMember(c, ncs);
    await scaleDown();
    await scaleDownEnded(c, left, kept);
    await scaleDownEnded(c, meta, kept);
    await probe(c, ncs, kept, left);
  } finally {
    for (const nc of ncs) await nc.close();
    await c.stop();
  }
});

test("R3 -> R1, the removed server restarted before its copy went: the copy it recovers takes no publish, and is removed once its meta group caught up", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    const { kept, left, meta, scaleDown } = await streamWithPausedMember(c, ncs);
    await scaleDown();
    // Stopped once it applied its removal (its copy, saying one replica, waits to go for D it leads).
    await waitUntil(() => c.js(left).cluster?.assignment("$G", "Z")?.peers.includes(left) === false, 30_000, `${left} applied its removal`);
    assert.equal(streamOn(c, left, "Z")?.cfg.num_replicas, 1, `${left}'s copy took the update`);
    await c.stopMember(left);
    // (Seen from a running server: the meta leader may be the one stopped.)
    await scaleDownEnded(c, meta === left ? kept : meta, kept);
    const copyDir = path.join(c.member(left).storeDir, "jetstream", "$G", "streams", "Z");
    assert.ok(fs.existsSync(copyDir), `${left} still holds its old copy`);
    await c.startMember(left);
    await c.fullMesh();
    await scaleDownEnded(c, left, kept);
    await probe(c, ncs, kept, left);
    // (nats-server's checkForOrphans: a stream the assignment does not name here goes.)
    await waitUntil(() => streamOn(c, left, "Z") === undefined && !fs.existsSync(copyDir), 30_000, `${left}'s old copy removed`);
    assert.equal(copyOf(c, kept, "Z").length, 26, `${kept} holds the stream`);
  } finally {
    for (const nc of ncs) await nc.close();
    await c.stop();
  }
});
