// A member of a replicated file stream whose copy was damaged while its server was stopped: a
// bit flipped in the middle of a message block, or a block cut short. At start it finds the
// damage (every record's checksum is verified), serves none of it, and copies the stream again
// from the group's leader (snapshot plus log), so every member ends with every acknowledged
// message, the same everywhere. Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import { ConsumerGroup } from "../src/jetstream/consumer_group.js";
import { FileConsumerStore } from "../src/storage/filestore.js";
import type { ConsumerState } from "../src/storage/store.js";



/** The block files of a member's copy, oldest first. */
function blocks(storeDir: string, name: string): string[] {
  const dir = path.join(storeDir, "$G", "streams", name, "msgs");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".blk"))
    .sort((a, b) => Number.parseInt(a) - Number.parseInt(b))
    .map((f) => path.join(dir, f));
}

type Damage = "flip" | "cut";

async function damagedMemberRepaired(damage: Damage, compacted: boolean): Promise<void> {
  const saved = StreamReplica.snapshotEntries;
  if (compacted) StreamReplica.snapshotEntries = 50;
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    // Placement takes the servers the meta leader sees current.
    await c.metaAllCurrent();
    const nc = await connect({ servers: c.members[0].url });
    ncs.push(nc);
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await jsm.streams.add({ name: "R", subjects: ["r.>"], num_replicas: 3, storage: "file" as never });
    const leader = await replicaLeader(c, "R");
    const victim = c.members.find((m) => m.name !== leader)?.name as string;
    const js = jetstream(nc, { timeout: 20_000 });
    const total = 300;
    // Every message is acknowledged: a quorum has it.
    for (let i = 1; i <= total; i++) await js.publish(`r.${i % 5}`, `payload-${String(i).padStart(4, "0")}-${"x".repeat(40)}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R")?.store.state().lastSeq === total), 20_000, "every member holds every message");
    const expected = copyOf(c, leader, "R");
    assert.equal(expected.length, total);
    if (compacted) await waitUntil(() => (streamOn(c, victim, "R")?.replica?.node.snapshotIndex ?? 0) > 100, 20_000, "the victim's log compacted");

    const storeDir = c.js(victim).storeDir;
    const group = streamOn(c, victim, "R")?.replica?.group ?? "";
    await c.stopMember(victim);
    const files = blocks(storeDir, "R");
    const file = files[files.length - 1];
    const bytes = fs.readFileSync(file);
    if (damage === "flip") {
      // One bit in the middle of a message in the middle of the block (not the tail).
      const at = bytes.indexOf(Buffer.from("payload-0150-"));
      assert.ok(at > 0, "message 150 is in the last block");
      bytes[at + 20] ^= 0x10;
      fs.writeFileSync(file, bytes);
    } else {
      // The block cut in the middle of a record, short of half its messages.
      const at = bytes.indexOf(Buffer.from("payload-0140-"));
      assert.ok(at > 0, "message 140 is in the last block");
      fs.truncateSync(file, at + 7);
    }

    await c.startMember(victim);
    // Repaired: identical to the leader's copy, every acknowledged message there.
    await waitUntil(() => streamOn(c, victim, "R")?.store.state().lastSeq === total && streamOn(c, victim, "R")?.replica?.node.damaged === false, 30_000, "the damaged member caught up");
    await waitUntil(() => copyOf(c, victim, "R").length === total, 20_000, "every message on the repaired member");
    assert.deepEqual(copyOf(c, victim, "R"), expected, "the repaired copy is the leader's");
    assert.ok(!fs.existsSync(path.join(storeDir, "_raft", group, "repair")), "the repair is finished");

    // It takes part again: a new message reaches every member.
    await js.publish("r.new", "after");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R")?.store.state().lastSeq === total + 1), 20_000, "the new message everywhere");
    const after = copyOf(c, leader, "R");
    for (const m of c.members) assert.deepEqual(copyOf(c, m.name, "R"), after, `${m.name} holds what the leader holds`);
  } finally {
    StreamReplica.snapshotEntries = saved;
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
}

test("R3 file stream: a bit flipped in the middle of a stopped member's block is found at start and repaired from the leader (log compacted: by snapshot)", { timeout: 120_000 }, async () => {
  await damagedMemberRepaired("flip", true);
});

test("R3 file stream: a stopped member's block cut short is found at start and repaired from the leader (log compacted: by snapshot)", { timeout: 120_000 }, async () => {
  await damagedMemberRepaired("cut", true);
});

test("R3 file stream: a bit flipped in a stopped member's block is repaired from the leader's log (not compacted)", { timeout: 120_000 }, async () => {
  await damagedMemberRepaired("flip", false);
});

// Found by random fault schedules (seed 8): a stream scaled R1 -> R3 has its messages from
// before the group in its leader's first snapshot only, while the log still holds the entries
// around it (compaction drops whole segments). A member whose copy was then discarded as damaged
// was sent those entries instead of the snapshot, and came back without the older messages.
test("R3 file stream scaled up from one replica: a member's block cut short is repaired with the messages from before its group", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const nc = await connect({ servers: c.members[0].url });
    ncs.push(nc);
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const si = await jsm.streams.add({ name: "U", subjects: ["u.>"], num_replicas: 1 });
    const js = jetstream(nc, { timeout: 20_000 });
    const before = 200;
    for (let i = 1; i <= before; i++) await js.publish(`u.${i % 5}`, `payload-${String(i).padStart(4, "0")}-${"x".repeat(40)}`);
    await jsm.streams.update("U", { ...si.config, num_replicas: 3 });
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "U")?.store.state().lastSeq === before), 60_000, "every member copied the messages from before the group");
    const total = before + 20;
    for (let i = before + 1; i <= total; i++) await js.publish(`u.${i % 5}`, `payload-${String(i).padStart(4, "0")}-${"x".repeat(40)}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "U")?.store.state().lastSeq === total), 20_000, "every member holds every message");
    const leader = await replicaLeader(c, "U");
    const expected = copyOf(c, leader, "U");
    assert.equal(expected.length, total);

    const victim = c.members.find((m) => m.name !== leader)?.name as string;
    const storeDir = c.js(victim).storeDir;
    await c.stopMember(victim);
    const files = blocks(storeDir, "U");
    const file = files[files.length - 1];
    const at = fs.readFileSync(file).indexOf(Buffer.from("payload-0210-"));
    assert.ok(at > 0, "message 210 is in the last block");
    fs.truncateSync(file, at + 7);

    await c.startMember(victim);
    await waitUntil(() => streamOn(c, victim, "U")?.store.state().lastSeq === total && streamOn(c, victim, "U")?.replica?.node.damaged === false, 30_000, "the damaged member caught up");
    assert.deepEqual(copyOf(c, victim, "U"), expected, "the repaired copy is the leader's, the messages from before the group included");
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

/** An R1 file stream V with a durable D and 30 messages: the set-up of the scale-up repairs. */
async function r1StreamWithConsumer(nc: NatsConnection, jsm: JetStreamManager) {
  const si = await jsm.streams.add({ name: "V", subjects: ["v.>"], num_replicas: 1 });
  const holder = si.cluster?.leader as string;
  await jsm.consumers.add("V", { durable_name: "D", ack_policy: AckPolicy.Explicit });
  const js = jetstream(nc, { timeout: 20_000 });
  for (let i = 1; i <= 30; i++) await js.publish("v.x", `m${i}`);
  return { si, holder, js };
}

// Found by random fault schedules (seed 14): the server that held a stream before it was scaled
// up from one replica kept trusting its copy for good ("no other member may hold it"), long after
// the others had copied it: a consumer failing its checksum there was never repaired.
test("R3 file stream scaled up from one replica: the server that held it, its consumer metadata failing its checksum, is repaired from the leader", { timeout: 120_000 }, async () => {
  await withR3Stream("W", "w", async ({ c, nc, jsm }) => {
    const { si, holder, js } = await r1StreamWithConsumer(nc, jsm);
    await jsm.streams.update("V", { ...si.config, num_replicas: 3 });
    // (D's group grows from the holder one server at a time, as nats-server's: the holder is
    // usually stopped below while the group has two voters, its vote then needed for a quorum.)
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "V")?.consumers.get("D")?.replicated === true && streamOn(c, m.name, "V")?.store.state().lastSeq === 30), 60_000, "V and D on every member");
    // (A pull may be cut while D's new group settles on its leader: pulled again.)
    const acked = new Set<number>();
    await waitUntil(async () => {
      try {
        const got = await (await js.consumers.get("V", "D")).fetch({ max_messages: 10 - acked.size, expires: 2000 });
        for await (const m of got) if (m.seq <= 10 && (await m.ackAck())) acked.add(m.seq);
      } catch {
        // pulled again
      }
      return acked.size === 10;
    }, 60_000, "messages 1-10 acknowledged");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "V")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10), 20_000, "every member's D at ack floor 10");
    const file = path.join(c.js(holder).storeDir, "$G", "streams", "V", "obs", "D", "meta.json");
    await c.stopMember(holder);
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace('"ack_wait"', '"ack_wai4"'));

    await c.startMember(holder);
    await waitUntil(() => streamOn(c, holder, "V")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10, 30_000, "D back on the server that held V, with its ack floor");
    await waitUntil(() => streamOn(c, holder, "V")?.store.state().lastSeq === 30, 20_000, "its messages");
    const leader = await replicaLeader(c, "V");
    assert.deepEqual(copyOf(c, holder, "V"), copyOf(c, leader, "V"));
    assert.equal((await jsm.consumers.info("V", "D")).config.ack_wait, 30_000_000_000, "D's configuration as created");
  });
});

// Found by CI: the server that held the stream stopped while its consumer's group was still
// growing (the others learners, it the only voter), its consumer's files then failing their
// checksum: its group's log went with them, and a damaged member never campaigns, so the group
// had no leader for good. Its log verifies: the consumer is rebuilt from it, and it leads again.
test("R3 file stream scaled up from one replica: the server that held it stopped while the consumer's group had it as the only voter, the consumer's files then damaged: rebuilt from its own log, the group goes on", { timeout: 120_000 }, async () => {
  await withR3Stream("W", "w", async ({ c, nc, jsm }) => {
    const { si, holder, js } = await r1StreamWithConsumer(nc, jsm);
    const got = await (await js.consumers.get("V", "D")).fetch({ max_messages: 10, expires: 5000 });
    for await (const m of got) assert.ok(await m.ackAck());
    ConsumerGroup.promotionsHeld = true;
    try {
      await jsm.streams.update("V", { ...si.config, num_replicas: 3 });
      // (The stream's own group grows; the consumer's keeps the others as learners.)
      await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "V")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10 && streamOn(c, m.name, "V")?.store.state().lastSeq === 30), 60_000, "V and D on every member");
      await waitUntil(() => streamOn(c, holder, "V")?.replica?.consumerGroup("D")?.node.config.learners.length === 2, 20_000, "D's group: the holder its only voter, the others learners");
      assert.deepEqual(streamOn(c, holder, "V")?.replica?.consumerGroup("D")?.node.config.voters, [holder]);
      const file = path.join(c.js(holder).storeDir, "$G", "streams", "V", "obs", "D", "meta.json");
      await c.stopMember(holder);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"ack_wait"', '"ack_wai4"'));
    } finally {
      ConsumerGroup.promotionsHeld = false;
    }
    await c.startMember(holder);
    await waitUntil(() => streamOn(c, holder, "V")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10, 30_000, "D back on the server that held V, with its ack floor");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "V")?.replica?.consumerGroup("D")?.node.config.voters.length === 3), 30_000, "D's group grown to three voters");
    const info = await jsm.consumers.info("V", "D");
    assert.equal(info.ack_floor.stream_seq, 10);
    assert.equal(info.config.ack_wait, 30_000_000_000, "D's configuration as created");
    // The group goes on: the next messages are delivered and acknowledged on every member.
    const more = await (await js.consumers.get("V", "D")).fetch({ max_messages: 5, expires: 5000 });
    for await (const m of more) assert.ok(await m.ackAck());
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "V")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 15), 20_000, "every member's D at ack floor 15");
  });
});

// Found by random fault schedules (seed 13): a bit flipped in a stopped member's membership
// file (peers.json of its stream's group) made it unreadable; restarted before its assignment
// was known, the member took itself for the whole group, led it alone and acknowledged
// publishes beside the others' leader. A damaged file is now found (JSON, names, checksum).
for (const flip of [
  { what: "unreadable", change: (text: string): string => text.replace('","', '"-"') },
  // Another member's name turned into its own: it would count twice in a group of three.
  { what: "a name changed into its own", change: (text: string, victim: string, leader: string): string => text.replace(`"${leader}"`, `"${victim}"`) },
]) {
  test(`R3 file stream: a stopped member's membership file damaged (${flip.what}) is not trusted: the member follows the group's leader, never leads alone`, { timeout: 120_000 }, async () => {
    const c = await JsTestCluster.start(3);
    const ncs: NatsConnection[] = [];
    try {
      await c.metaAllCurrent();
      const nc = await connect({ servers: c.members.map((m) => m.url) });
      ncs.push(nc);
      const jsm = await jetstreamManager(nc, { timeout: 20_000 });
      await jsm.streams.add({ name: "P", subjects: ["p.>"], num_replicas: 3 });
      const js = jetstream(nc, { timeout: 20_000 });
      for (let i = 1; i <= 50; i++) await js.publish("p.x", `m${i}`);
      await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "P")?.store.state().lastSeq === 50), 20_000, "every member holds every message");
      const leader = await replicaLeader(c, "P");
      const victim = c.members.find((m) => m.name !== leader)?.name as string;
      const file = path.join(c.js(victim).storeDir, "_raft", streamOn(c, victim, "P")?.replica?.group ?? "", "peers.json");
      await c.stopMember(victim);
      const text = fs.readFileSync(file, "utf8");
      const damaged = flip.change(text, victim, leader);
      assert.notEqual(damaged, text);
      fs.writeFileSync(file, damaged);

      await c.startMember(victim);
      // With the file trusted the victim led a group of its own at once, never agreeing on one leader.
      const after = await replicaLeader(c, "P");
      assert.notEqual(after, victim);
      // Through the leader's server (the restarted one may not know the leader's interest yet).
      const lc = await connect({ servers: c.member(after).url });
      ncs.push(lc);
      const ljs = jetstream(lc, { timeout: 20_000 });
      for (let i = 51; i <= 60; i++) await ljs.publish("p.x", `m${i}`);
      await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "P")?.store.state().lastSeq === 60), 20_000, "every member holds every message");
      const want = copyOf(c, after, "P");
      for (const m of c.members) assert.deepEqual(copyOf(c, m.name, "P"), want, `${m.name} holds what the leader holds`);
    } finally {
      for (const nc of ncs) await nc.close().catch(() => undefined);
      await c.stop();
    }
  });
}

/** A cluster of three with R3 stream `name` (subjects `<subject>.>`) once the meta group is current; `fn` gets a client of the first server. */
async function withR3Stream(name: string, subject: string, fn: (x: { c: JsTestCluster; nc: NatsConnection; jsm: JetStreamManager }) => Promise<void>, withSystemUser = false): Promise<void> {
  const c = await JsTestCluster.start(3, "JSC", { withSystemUser });
  let nc: NatsConnection | undefined;
  try {
    await c.metaAllCurrent();
    nc = await connect({ servers: c.members[0].url });
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await jsm.streams.add({ name, subjects: [`${subject}.>`], num_replicas: 3 });
    await fn({ c, nc, jsm });
  } finally {
    await nc?.close().catch(() => undefined);
    await c.stop();
  }
}

// Found by random fault schedules (seed 14): a bit flipped in a stopped member's consumer
// metadata (obs/<name>/meta.json, which fails its checksum) left the consumer unrecovered there
// for good: its group ran on two members, the third copy offline forever.
test("R3 file stream: a stopped member's consumer metadata failing its checksum is repaired from the leader (the consumer is back on every member)", { timeout: 120_000 }, async () => {
  await withR3Stream("Q", "q", async ({ c, nc, jsm }) => {
    await jsm.consumers.add("Q", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 30; i++) await js.publish("q.x", `m${i}`);
    const consumer = await js.consumers.get("Q", "D");
    const got = await consumer.fetch({ max_messages: 10, expires: 5000 });
    for await (const m of got) await m.ackAck();
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Q")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10), 20_000, "every member's D at ack floor 10");
    const leader = await replicaLeader(c, "Q");
    const victim = c.members.find((m) => m.name !== leader)?.name as string;
    const file = path.join(c.js(victim).storeDir, "$G", "streams", "Q", "obs", "D", "meta.json");
    await c.stopMember(victim);
    const text = fs.readFileSync(file, "utf8");
    assert.ok(text.includes('"ack_wait"'), text);
    fs.writeFileSync(file, text.replace('"ack_wait"', '"ack_wai4"'));

    await c.startMember(victim);
    await waitUntil(() => streamOn(c, victim, "Q")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10, 30_000, "D back on the restarted member, with its ack floor");
    await waitUntil(() => streamOn(c, victim, "Q")?.store.state().lastSeq === 30, 20_000, "the restarted member's messages");
    assert.deepEqual(copyOf(c, victim, "Q"), copyOf(c, leader, "Q"));
    const info = await jsm.consumers.info("Q", "D");
    assert.equal(info.config.ack_wait, 30_000_000_000, "D's configuration as created");
  });
});

// Found by random fault schedules (seed 42): a member whose stream metadata (meta.json) fails its
// checksum has the stream created again, empty, its RAFT directory new. That store began again at
// incarnation 1: a member restarted before had a higher one at the leader, which then took every
// answer of the new copy for a late one and ignored it (the member offline for good).
test("R3 file stream: a member restarted before, its stream metadata failing its checksum, is created again and caught up", { timeout: 120_000 }, async () => {
  await withR3Stream("M", "m", async ({ c, nc, jsm }) => {
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 20; i++) await js.publish("m.x", `m${i}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "M")?.store.state().lastSeq === 20), 20_000, "every member holds every message");
    const leader = await replicaLeader(c, "M");
    const victim = c.members.find((m) => m.name !== leader)?.name as string;
    // A restart first: the leader knows this member at its second incarnation.
    await c.stopMember(victim);
    await c.startMember(victim);
    for (let i = 21; i <= 30; i++) await js.publish("m.x", `m${i}`);
    await waitUntil(() => streamOn(c, victim, "M")?.store.state().lastSeq === 30, 20_000, "the restarted member follows");
    const file = path.join(c.js(victim).storeDir, "$G", "streams", "M", "meta.json");
    await c.stopMember(victim);
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace('"metadata": {', '"metadata": y'));
    assert.notEqual(fs.readFileSync(file, "utf8"), text);
    await c.startMember(victim);
    await waitUntil(() => streamOn(c, victim, "M")?.store.state().lastSeq === 30, 30_000, "the stream created again on the member, caught up");
    for (let i = 31; i <= 40; i++) await js.publish("m.x", `m${i}`);
    await waitUntil(() => streamOn(c, victim, "M")?.store.state().lastSeq === 40, 20_000, "and following");
    assert.deepEqual(copyOf(c, victim, "M"), copyOf(c, leader, "M"));
  });
});

// Found by random fault schedules (seeds 37, 52): the same, after meta leader changes. A
// restarted server creates the streams assigned to it but missing once it has replayed the meta
// log up to the commit it knew; that was noticed only when a stream operation was applied, so a
// log ending with the no-ops of new meta leaders (past the last stream operation) never had it
// noticed, and the stream stayed missing there (offline for good) until the next stream change.
test("R3 file stream: a member whose stream metadata fails its checksum, the meta log ending with leader no-ops, has the stream created again", { timeout: 120_000 }, async () => {
  await withR3Stream(
    "N",
    "n",
    async ({ c, nc }) => {
      const js = jetstream(nc, { timeout: 20_000 });
      for (let i = 1; i <= 20; i++) await js.publish("n.x", `m${i}`);
      await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "N")?.store.state().lastSeq === 20), 20_000, "every member holds every message");
      const leader = await replicaLeader(c, "N");
      const victim = c.members.find((m) => m.name !== leader)?.name as string;
      const others = c.members.map((m) => m.name).filter((n) => n !== victim);
      const sys = await connect({ servers: c.member(victim).url, user: "sys", pass: "sys" });
      try {
        // Two new meta leaders (never the victim): the victim learns the first one's no-op is
        // committed, and the second's term makes it write that commit index to its state file.
        for (let round = 0; round < 2; round++) {
          const before = await c.metaLeader();
          const preferred = others.find((n) => n !== before) as string;
          const r = JSON.parse((await sys.request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred } }), { timeout: 20_000 })).string()) as { success?: boolean };
          assert.equal(r.success, true);
          await waitUntil(() => c.js(victim).cluster?.leader === preferred, 20_000, `${preferred} the meta leader`);
          const node = c.js(victim).cluster?.node;
          await waitUntil(() => node !== undefined && node.applied === node.lastIndex, 20_000, "the victim applied the new leader's no-op");
        }
      } finally {
        await sys.close();
      }
      const file = path.join(c.js(victim).storeDir, "$G", "streams", "N", "meta.json");
      await c.stopMember(victim);
      const text = fs.readFileSync(file, "utf8");
      fs.writeFileSync(file, text.replace('"metadata": {', '"metadata": y'));
      await c.startMember(victim);
      await waitUntil(() => streamOn(c, victim, "N")?.store.state().lastSeq === 20, 30_000, "the stream created again on the member, caught up");
      await js.publish("n.x", "m21");
      await waitUntil(() => streamOn(c, victim, "N")?.store.state().lastSeq === 21, 20_000, "and following");
      assert.deepEqual(copyOf(c, victim, "N"), copyOf(c, leader, "N"));
    },
    true,
  );
});

/** The state records of a consumer's o.dat (a state log: magic, then [u32 length][u32 crc][payload] each), with where each ends. */
function stateRecords(file: string): Array<{ end: number; state: ConsumerState; mark: number | undefined }> {
  const b = fs.readFileSync(file);
  const out: Array<{ end: number; state: ConsumerState; mark: number | undefined }> = [];
  for (let o = 8; o + 8 <= b.length; ) {
    const len = b.readUInt32LE(o);
    const end = o + 8 + len;
    if (len === 0 || end > b.length) break;
    out.push({ end, ...FileConsumerStore.decodeMarked(b.subarray(o + 8, end)) });
    o = end;
  }
  return out;
}

// Found by random fault schedules (seed 4): a replicated consumer's members held different
// delivered consumer sequences at the same ack floor. A member's state (o.dat, written at most
// every 20 ms) and the index of its group's log it had applied (a separate file, written at
// once) were two writes: killed between them, it came back with the older state and skipped the
// entries in between. The index is now written in the state's own record.
test("R3 consumer: a member whose last state writes were lost applies the entries after the state it has, none skipped", { timeout: 120_000 }, async () => {
  await withR3Stream("Y", "y", async ({ c, nc, jsm }) => {
    await jsm.consumers.add("Y", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    const total = 20;
    for (let i = 1; i <= total; i++) await js.publish("y.x", `m${i}`);
    const acked = new Set<number>();
    await waitUntil(async () => {
      try {
        const got = await (await js.consumers.get("Y", "D")).fetch({ max_messages: 5, expires: 2000 });
        for await (const m of got) if (await m.ackAck()) acked.add(m.seq);
      } catch {
        // pulled again
      }
      return acked.size === total;
    }, 60_000, "every message acknowledged");
    const stateOn = (name: string): ConsumerState | undefined => streamOn(c, name, "Y")?.consumers.get("D")?.stateSnapshot();
    await waitUntil(() => c.members.every((m) => stateOn(m.name)?.ack_floor.stream_seq === total), 20_000, "every member's D at the last ack");
    const leader = (await jsm.consumers.info("Y", "D")).cluster?.leader as string;
    const member = c.members.find((m) => m.name !== leader)?.name as string;
    const want = stateOn(leader) as ConsumerState;
    const odat = path.join(c.js(member).storeDir, "$G", "streams", "Y", "obs", "D", "o.dat");
    await c.stopMember(member);
    // The last writes of its state lost (a kill before they were made): an earlier record is the last.
    const earlier = stateRecords(odat).filter((r) => r.mark !== undefined && r.state.ack_floor.stream_seq < total);
    assert.ok(earlier.length > 0, "a state written before the last acks");
    fs.truncateSync(odat, earlier[earlier.length - 1].end);

    await c.startMember(member);
    await waitUntil(() => stateOn(member)?.ack_floor.stream_seq === total, 30_000, "the member's D at the last ack again");
    assert.deepEqual(
      [stateOn(member)?.delivered, stateOn(member)?.ack_floor, stateOn(member)?.pending.size],
      [want.delivered, want.ack_floor, 0],
      "the same state as the leader's",
    );
  });
});

test("R3 file stream: a member stopped cleanly and started again is not taken for damaged (nothing copied again)", { timeout: 120_000 }, async () => {
  await withR3Stream("K", "k", async ({ c, nc, jsm }) => {
    const leader = await replicaLeader(c, "K");
    const member = c.members.find((m) => m.name !== leader)?.name as string;
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 0; i < 100; i++) await js.publish(`k.${i % 3}`, `m${i}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "K")?.store.state().lastSeq === 100), 20_000, "every member holds every message");
    await c.stopMember(member);
    await c.startMember(member);
    const s = streamOn(c, member, "K");
    assert.equal(s?.replica?.node.damaged, false, "not damaged");
    assert.equal(s?.store.state().msgs, 100, "its messages are kept, not copied again");
  });
});
