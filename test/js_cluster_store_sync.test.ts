// What a replicated file stream fsyncs when its members have consumers. A message is applied on a
// member only once committed (a quorum has it fsynced in its RAFT log), and each member's log
// keeps it until the member's store is synced (the group's snapshot waits for that), so a member
// hands a new message to its consumers without an fsync of its store: before, every publish round
// cost each member a second fsync (the store's) once the stream had a consumer. Checked with a
// durable that reads and acknowledges every message: no store fsync per publish on any member,
// and a member whose store then loses its tail (the part a power cut takes when it was never
// fsynced) gets it back from the group, every message where it was, the consumer's state intact.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

/** The newest block file of a member's copy. */
function lastBlock(storeDir: string, name: string): string {
  const dir = path.join(storeDir, "$G", "streams", name, "msgs");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".blk")).sort((a, b) => Number.parseInt(a) - Number.parseInt(b));
  return path.join(dir, files[files.length - 1]);
}

test("R3 file stream with a consumer: no store fsync per publish; a member's lost store tail comes back", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members[0].url });
  try {
    await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await jsm.streams.add({ name: "R", subjects: ["r"], num_replicas: 3, storage: "file" as never });
    const leader = await replicaLeader(c, "R");
    await jsm.consumers.add("R", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    const got: string[] = [];
    const msgs = await (await js.consumers.get("R", "D")).consume({ max_messages: 50 });
    const reading = (async () => {
      for await (const m of msgs) {
        got.push(m.string());
        m.ack();
      }
    })();

    const total = 100;
    const rounds = (): number[] => c.members.map((m) => (streamOn(c, m.name, "R")?.store as unknown as { syncRounds: number }).syncRounds);
    const before = rounds();
    // One at a time: each publish is a round of its own (before: one store fsync each, on every member).
    for (let i = 1; i <= total; i++) await js.publish("r", `m-${String(i).padStart(3, "0")}`);
    await waitUntil(() => got.length >= total, 20_000, "the consumer got every message");
    const after = rounds();
    for (let i = 0; i < c.members.length; i++) {
      const n = after[i] - before[i];
      assert.ok(n < total / 4, `${c.members[i].name}: ${n} store fsyncs for ${total} publishes`);
    }
    await waitUntil(async () => (await jsm.consumers.info("R", "D")).ack_floor.stream_seq === total, 20_000, "every message acknowledged");
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => `m-${String(i + 1).padStart(3, "0")}`), "each message once, in order");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R")?.store.state().lastSeq === total), 20_000, "every member holds every message");
    const expected = copyOf(c, leader, "R");

    // A follower's store loses its tail while it is down: it gets every message back.
    const victim = c.members.find((m) => m.name !== leader)?.name as string;
    const storeDir = c.js(victim).storeDir;
    await c.stopMember(victim);
    const file = lastBlock(storeDir, "R");
    const at = fs.readFileSync(file).indexOf(Buffer.from("m-061"));
    assert.ok(at > 0, "message 61 is in the last block");
    fs.truncateSync(file, at);
    await c.startMember(victim);
    await waitUntil(() => copyOf(c, victim, "R").length === total, 30_000, "the member holds every message again");
    assert.deepEqual(copyOf(c, victim, "R"), expected, "the member's copy is the leader's");
    const info = await jsm.consumers.info("R", "D");
    assert.deepEqual([info.delivered.stream_seq, info.ack_floor.stream_seq, info.num_ack_pending], [total, total, 0]);

    // It takes part again: a new message reaches every member and the consumer.
    await js.publish("r", "m-101");
    await waitUntil(() => got.length === total + 1 && c.members.every((m) => streamOn(c, m.name, "R")?.store.state().lastSeq === total + 1), 20_000, "the next message everywhere");
    await msgs.close();
    await reading;
  } finally {
    await nc.close();
    await c.stop();
  }
});
