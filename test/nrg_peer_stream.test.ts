// A tsnats server holding a replica of an R3 stream in a nats-server 2.15 cluster
// (`cluster { nrg_peer: true, nrg_peer_streams: true }`, src/cluster/nrg_stream_peer.ts), live
// against two real nats-server 2.15 servers: its STATSZ makes it selectable, so an R3 stream is
// placed on all three; publishes are acknowledged; with the stream's leader stopped, the other
// nats-server is elected with T3's vote and publishes commit with T3's acknowledgement; T3's
// copy holds exactly the acknowledged messages in order (a deleted one gone); killed with
// SIGKILL while more are published (over 8 MB: the leader compacts its log into a snapshot),
// restarted, it installs the leader's snapshot and fetches the messages over `$JSC.SYNC`;
// a deleted stream takes its replica's files with it. Second test: atomic batches applied whole;
// a replica whose store lost messages resets its log and is caught up byte for byte; a memory
// stream held in memory and caught up after a restart. Consumers and nrg_peer_campaign: part two,
// nrg_peer_stream_consumers.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer } from "./helpers/nats_server.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { FileStore } from "../src/storage/filestore.js";
import { encodeNrgAppendEntry, NrgEntryType } from "../src/cluster/nrg_wire.js";
import { assertSameAsLeader, digest, NrgCluster, readReplica, type GroupJson } from "./helpers/nrg_cluster.js";

test("a tsnats server with nrg_peer_streams holds a replica of an R3 stream of a nats-server 2.15 cluster: placed, acks when a nats-server is down, holds exactly the acknowledged messages, catches up after SIGKILL", { skip: referenceMissing(), timeout: 400_000 }, async (t) => {
  const c = await NrgCluster.create();
  try {
    await c.up();
    const nc = await c.appOn(c.live()[0]);
    const jsm: JetStreamManager = await retry(() => jetstreamManager(nc, { timeout: 10_000 }));
    // Placement needs T3's STATSZ with JetStream config and stats: R3 on three servers fails until then.
    await retry(() => jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 }), 90_000);
    let info = await retry(() => jsm.streams.info("ORDERS"), 90_000);
    const placedOn = [info.cluster?.leader ?? "", ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
    assert.deepEqual(placedOn, ["N1", "N2", "T3"], "the R3 stream is placed on both nats-servers and T3");
    assert.ok(["N1", "N2"].includes(info.cluster?.leader ?? ""), "a nats-server leads it (T3 never campaigns)");

    const acked = new Map<number, string>();
    const publish = async (c: NatsConnection, i: number, payload: Uint8Array = Buffer.from(`order ${i}`)): Promise<void> => {
      const js = jetstream(c, { timeout: 10_000 });
      // A message id: a publish retried after a lost PubAck is not stored twice.
      const ack = await retry(() => js.publish(`orders.${i}`, payload, { msgID: `order-${i}` }), 90_000);
      acked.set(ack.seq, `orders.${i} ${digest(payload)}`);
    };
    for (let i = 1; i <= 5; i++) await publish(nc, i);
    // A deleted message leaves the replica too.
    assert.equal(await jsm.streams.deleteMessage("ORDERS", 2), true);
    acked.delete(2);

    const group = async (): Promise<GroupJson | undefined> => (await c.peerJson()).groups?.find((g) => g.kind === "stream" && g.stream === "ORDERS");
    let g: GroupJson | undefined;
    await waitUntil(
      async () => {
        g = await group();
        return g?.replica?.last_seq === 5 && g.replica.messages === 4 && g.replica.counters.deletes === 1;
      },
      60_000,
      "T3's replica holds messages 1-5 without 2",
      () => JSON.stringify(g),
    );
    const groupName = g?.group ?? "";
    assert.match(groupName, /^S-R3F-/);
    // The stream's leader reports T3 as a current replica.
    await waitUntil(
      async () => {
        info = await jsm.streams.info("ORDERS").catch(() => info);
        return info.cluster?.replicas?.some((r) => r.name === "T3" && r.current) === true;
      },
      60_000,
      "the stream's leader reports T3 current",
      () => JSON.stringify(info.cluster),
    );
    // A durable consumer is placed with the stream: T3 is a RAFT member of its group (stores,
    // acknowledges and votes; applies nothing, as it never leads it).
    // (A new group whose preferred peer is T3 waits for an election timeout, 4-9 s, before a
    // nats-server campaigns: T3 never does. The create is retried, the same config each time.)
    await retry(() => jsm.consumers.add("ORDERS", { durable_name: "worker", ack_policy: AckPolicy.Explicit }), 90_000);
    const consumer = async (): Promise<GroupJson | undefined> => (await c.peerJson()).groups?.find((x) => x.kind === "consumer" && x.consumer === "worker");
    let cg: GroupJson | undefined;
    await waitUntil(
      async () => {
        cg = await consumer();
        return cg !== undefined && cg.commit > 0 && cg.leader !== "";
      },
      60_000,
      "T3 is a member of the consumer's group",
      () => JSON.stringify(cg),
    );

    // Garbage and every truncation of an append on the stream group's subjects: counted, no
    // crash, nothing stored or answered; the replica goes on.
    const sysT3 = await connect({ servers: `127.0.0.1:${c.ours?.port}`, user: "sys", pass: "sys" });
    c.conns.push(sysT3);
    const bogus = encodeNrgAppendEntry({ leader: "ABCDEFGH", term: 1_000_000, commit: 1, prevTerm: 1, prevIndex: 1, entries: [{ type: NrgEntryType.Normal, data: Buffer.from([4, 1, 2, 3]) }], leaderTerm: 0 });
    for (let cut = 1; cut < bogus.length; cut += 5) sysT3.publish(`$NRG.AE.${groupName}`, bogus.subarray(0, cut), { reply: "$NRG.R.garbage" });
    sysT3.publish(`$NRG.V.${groupName}`, Buffer.from("short"), { reply: "$NRG.R.garbage" });
    await sysT3.flush();
    await waitUntil(async () => ((g = await group())?.undecodable ?? 0) >= 3, 30_000, "the garbage is counted", () => JSON.stringify(g));
    assert.equal(g?.write_error, undefined);
    assert.equal(g?.replica?.halted, undefined);

    // R1 streams and consumers are placed at random, T3 included; T3 refuses them at once
    // (insufficient resources) instead of leaving them unserved. The others land on a nats-server.
    const refusals = { stream: 0, consumer: 0 };
    for (let i = 0; i < 40 && (refusals.stream === 0 || refusals.consumer === 0); i++) {
      if (refusals.stream === 0) {
        try {
          const si = await jsm.streams.add({ name: `SINGLE${i}`, subjects: [`single${i}.>`], num_replicas: 1 });
          assert.ok(["N1", "N2"].includes(si.cluster?.leader ?? ""), JSON.stringify(si.cluster));
        } catch (err) {
          assert.match((err as Error).message, /insufficient resources/);
          refusals.stream++;
          await waitUntil(async () => (await jsm.streams.info(`SINGLE${i}`).then(() => "exists", (e: Error) => e.message)).includes("not found"), 30_000, `the refused SINGLE${i} is not kept`);
        }
      }
      if (refusals.consumer === 0) {
        try {
          const ci = await jsm.consumers.add("ORDERS", { name: `single${i}`, ack_policy: AckPolicy.Explicit, num_replicas: 1 });
          assert.ok(["N1", "N2"].includes(ci.cluster?.leader ?? ""), JSON.stringify(ci.cluster));
        } catch (err) {
          assert.match((err as Error).message, /insufficient resources/);
          refusals.consumer++;
        }
      }
    }
    assert.deepEqual(refusals, { stream: 1, consumer: 1 }, "an R1 stream and an R1 consumer placed on T3 were refused");

    // The stream's leader stopped: the other nats-server needs T3's vote to lead, and T3's
    // acknowledgement to commit (2 of 3).
    const leaderName = info.cluster?.leader ?? "";
    const stopped = Number(leaderName.slice(1)) - 1;
    await c.nats[stopped]?.stop();
    c.nats[stopped] = undefined;
    const other = c.live()[0];
    const nc2 = await c.appOn(other);
    for (let i = 6; i <= 10; i++) await publish(nc2, i);
    const jsm2 = await retry(() => jetstreamManager(nc2, { timeout: 10_000 }));
    info = await retry(() => jsm2.streams.info("ORDERS"));
    assert.equal(info.cluster?.leader, `N${2 - stopped}`, "the remaining nats-server leads the stream");
    assert.equal(info.state.last_seq, 10);
    await waitUntil(
      async () => {
        g = await group();
        return g?.replica?.last_seq === 10;
      },
      60_000,
      "T3's replica holds messages up to 10",
      () => JSON.stringify(g),
    );
    assert.equal(g?.replica?.halted, undefined);
    assert.equal((await c.peerJson()).last_vote_granted !== undefined, true, "T3 granted a vote");
    // The consumer's group keeps its quorum with T3: fetches and acks go on.
    const commitBefore = (await consumer())?.commit ?? 0;
    const js2 = jetstream(nc2, { timeout: 5000 });
    const fetched: number[] = [];
    await retry(async () => {
      const c = await js2.consumers.get("ORDERS", "worker");
      const batch = await c.fetch({ max_messages: 3, expires: 2000 });
      for await (const m of batch) {
        fetched.push(m.seq);
        await m.ackAck();
      }
      if (fetched.length < 3) throw new Error(`fetched ${JSON.stringify(fetched)}`);
    }, 90_000);
    assert.deepEqual(fetched.slice(0, 3), [1, 3, 4]);
    await waitUntil(async () => ((cg = await consumer())?.commit ?? 0) > commitBefore, 60_000, "T3 stores the consumer's new entries", () => JSON.stringify(cg));

    // SIGKILL T3; the stopped nats-server back, more publishes commit without T3.
    c.ours?.proc.kill("SIGKILL");
    await c.ours?.stop();
    c.ours = undefined;
    const replicaDir = path.join(c.storeDir, "jetstream", "nrg_peer", groupName, "store");
    assert.deepEqual([...readReplica(replicaDir).entries()], [...acked.entries()].sort((a, b) => a[0] - b[0]), "T3's copy holds exactly the acknowledged messages, in order");
    c.nats[stopped] = await c.startN(stopped);
    for (let i = 11; i <= 15; i++) await publish(nc2, i);
    // Over 8 MB of log: the stream's leader compacts it into a snapshot, so the restarted T3's
    // RAFT catch-up starts with that snapshot and the messages come over $JSC.SYNC.
    const BIG = 96;
    for (let i = 16; i < 16 + BIG; i++) await publish(nc2, i, randomBytes(100 * 1024));
    const last = 15 + BIG;

    // Restarted, T3 catches up.
    c.ours = await c.startOurs();
    await waitUntil(
      async () => {
        g = await group();
        return g?.replica?.last_seq === last && !g.catching_up && g.replica.catching_up === false;
      },
      120_000,
      `the restarted T3 catches up to ${last}`,
      () => JSON.stringify(g),
    );
    assert.equal(g?.replica?.halted, undefined);
    assert.ok((g?.counters.catchups ?? 0) >= 1, `caught up through the group's RAFT catch-up: ${JSON.stringify(g?.counters)}`);
    // Healthy: the meta group and every group placed on T3 are current.
    await waitUntil(async () => (await fetch(`${c.ours?.monitorUrl}/healthz`)).status === 200, 30_000, "T3 healthy after its catch-up", () => "");
    // Whether the leader's snapshot came first (then the messages came over $JSC.SYNC) is the
    // leader's choice of timing; when it did, the replica says so.
    const viaSync = (g?.counters.snapshots ?? 0) >= 1;
    t.diagnostic(`T3's catch-up: RAFT ${JSON.stringify(g?.counters)}, replica ${JSON.stringify(g?.replica)}`);
    if (viaSync) assert.ok((g?.replica?.counters.catchups ?? 0) >= 1 && (g?.replica?.counters.catchupMsgs ?? 0) > 0, JSON.stringify(g?.replica));
    await c.ours?.stop();
    c.ours = undefined;
    assert.deepEqual([...readReplica(replicaDir).entries()], [...acked.entries()].sort((a, b) => a[0] - b[0]), `after the catch-up too (snapshot and $JSC.SYNC: ${viaSync})`);
    await assertSameAsLeader(jsm2, "ORDERS", replicaDir);

    // A deleted stream: its replica and its consumer's group go, files and all.
    c.ours = await c.startOurs();
    await waitUntil(async () => (await group())?.replica?.last_seq === last, 60_000, "T3 back with its replica");
    // A committed config update reaches the replica's store: max_msgs 50 keeps the last 50 there too.
    const cfg = (await retry(() => jsm2.streams.info("ORDERS"))).config;
    await retry(() => jsm2.streams.update("ORDERS", { ...cfg, max_msgs: 50 }));
    await waitUntil(
      async () => {
        g = await group();
        return g?.replica?.messages === 50 && g.replica.first_seq === last - 49;
      },
      60_000,
      "T3's replica keeps the last 50",
      () => JSON.stringify(g?.replica),
    );
    await retry(() => jsm2.streams.delete("ORDERS"));
    await waitUntil(async () => (await c.peerJson()).groups?.length === 0 && !fs.existsSync(path.join(c.storeDir, "jetstream", "nrg_peer", groupName)), 60_000, "the replica is gone", () => String(fs.readdirSync(path.join(c.storeDir, "jetstream", "nrg_peer"))));
  } finally {
    await c.stop();
  }
});

test("nrg_peer_streams is refused at start-up without nrg_peer, or with a value that is not a boolean (file, line, reason); nrg_peer_campaign without nrg_peer_streams, nrg_peer_lead without nrg_peer_campaign", { timeout: 60_000 }, async () => {
  const port = await freePort();
  await assert.rejects(
    startNatsServer(["-js"], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer_streams: true\n}\n`, "tsnats"),
    (err: Error) => /nrg_peer_streams needs cluster.nrg_peer/.test(err.message),
  );
  await assert.rejects(
    startNatsServer(["-js"], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer: true\n  nrg_peer_streams: "yes"\n}\n`, "tsnats"),
    // Go's words for a wrong type, as nats-server reports them (file:line:column).
    (err: Error) => /server\.conf:6:3: interface conversion: interface \{\} is string, not bool/.test(err.message),
  );
  await assert.rejects(
    startNatsServer(["-js"], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer: true\n  nrg_peer_campaign: true\n}\n`, "tsnats"),
    (err: Error) => /nrg_peer_campaign needs cluster.nrg_peer_streams/.test(err.message),
  );
  await assert.rejects(
    startNatsServer(["-js"], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer: true\n  nrg_peer_streams: true\n  nrg_peer_lead: true\n}\n`, "tsnats"),
    (err: Error) => /nrg_peer_lead needs cluster.nrg_peer_campaign/.test(err.message),
  );
});

/** One message of an atomic batch, published as a request (the commit's answer is the PubAck). */
async function batchMsg(nc: NatsConnection, subject: string, id: string, seq: number, commit: boolean): Promise<string> {
  const h = headers();
  h.set("Nats-Batch-Id", id);
  h.set("Nats-Batch-Sequence", String(seq));
  if (commit) h.set("Nats-Batch-Commit", "1");
  return (await nc.request(subject, `${id}-${seq}`, { headers: h, timeout: 10_000 })).string();
}

test("a tsnats replica of nats-server 2.15 streams never halts: atomic batches are applied whole; a store that lost messages resets its log and is caught up again, byte for byte; a memory stream is held in memory and caught up after a restart; a Nats-TTL below the delete marker TTL is raised as on nats-server", { skip: referenceMissing(), timeout: 400_000 }, async () => {
  const c = await NrgCluster.create();
  try {
    await c.up();
    const nc = await c.appOn(c.live()[0]);
    const jsm = await retry(() => jetstreamManager(nc, { timeout: 10_000 }));
    const batched = { name: "BATCHED", subjects: ["b.>"], num_replicas: 3, allow_atomic: true } as Parameters<JetStreamManager["streams"]["add"]>[0];
    await retry(() => jsm.streams.add(batched), 90_000);
    await retry(() => jsm.streams.add({ name: "MEM", subjects: ["mem.>"], num_replicas: 3, storage: StorageType.Memory }), 90_000);
    const js = jetstream(nc, { timeout: 10_000 });
    const pub = (subject: string, payload: Uint8Array | string = subject): Promise<unknown> => retry(() => js.publish(subject, payload), 90_000);
    await pub("b.plain.1");
    // Two atomic batches: nats-server proposes each message as its own entry, the last the commit.
    for (const id of ["one", "two"]) {
      for (let i = 1; i <= 4; i++) {
        const answer = await retry(() => batchMsg(nc, `b.batch.${id}`, id, i, i === 4), 90_000);
        if (i === 4) assert.match(answer, new RegExp(`"batch":"${id}","count":4`));
      }
    }
    await pub("b.plain.2");
    for (let i = 1; i <= 5; i++) await pub(`mem.${i}`);
    // A message TTL below the stream's delete marker TTL: raised in the stored header, on T3 as on nats-server.
    const marked = { name: "MARK", subjects: ["mark.>"], num_replicas: 3, allow_msg_ttl: true, subject_delete_marker_ttl: 60_000_000_000 } as Parameters<JetStreamManager["streams"]["add"]>[0];
    await retry(() => jsm.streams.add(marked), 90_000);
    await retry(() => js.publish("mark.1", "short", { ttl: "5s" }), 90_000);
    await retry(() => js.publish("mark.2", "plain"), 90_000);
    let markGroup: GroupJson | undefined;
    await waitUntil(async () => (markGroup = await c.group("MARK"))?.replica?.last_seq === 2, 60_000, "T3 holds MARK's two", () => JSON.stringify(markGroup));
    let g: GroupJson | undefined;
    await waitUntil(async () => (g = await c.group("BATCHED"))?.replica?.last_seq === 10, 60_000, "T3 holds both batches", () => JSON.stringify(g));
    assert.equal(g?.replica?.counters.batches, 2);
    assert.equal(g?.replica?.halted, undefined);
    let mg: GroupJson | undefined;
    await waitUntil(async () => (mg = await c.group("MEM"))?.replica?.messages === 5, 60_000, "T3 holds the memory stream", () => JSON.stringify(mg));
    assert.equal(mg?.replica?.storage, "memory");
    const groupName = g?.group ?? "";

    // Over 8 MB: T3 compacts the group's log past what it applied.
    for (let i = 1; i <= 96; i++) await pub(`b.big.${i}`, randomBytes(100 * 1024));
    await waitUntil(async () => ((g = await c.group("BATCHED"))?.replica?.last_seq === 106 && (g?.snapshot?.last_index ?? 0) > 0), 60_000, "T3 compacted its log", () => JSON.stringify(g));

    // T3 stopped; its copy loses everything after sequence 20 (a damaged store), its log stays.
    await c.ours?.stop();
    c.ours = undefined;
    const replicaDir = path.join(c.storeDir, "jetstream", "nrg_peer", groupName, "store");
    const damaged = new FileStore({ dir: replicaDir });
    damaged.truncate(20);
    damaged.stop();
    c.ours = await c.startOurs();
    for (let i = 1; i <= 5; i++) await pub(`b.after.${i}`);
    for (let i = 6; i <= 8; i++) await pub(`mem.${i}`);
    // What T3 replays, or the next message, does not follow its store: the log is reset and the
    // leader catches it up (its log, or its snapshot and $JSC.SYNC).
    await waitUntil(
      async () => {
        g = await c.group("BATCHED");
        return g?.replica?.last_seq === 111 && g.replica.counters.resets >= 1 && !g.catching_up && !g.replica.catching_up;
      },
      120_000,
      "T3 reset its log and was caught up to 111",
      () => JSON.stringify(g),
    );
    assert.match(g?.replica?.last_reset ?? "", /does not follow the store's last 20/);
    assert.equal(g?.replica?.halted, undefined);
    // The memory stream's replica started empty with a new log, and was caught up.
    await waitUntil(async () => (mg = await c.group("MEM"))?.replica?.messages === 8 && mg?.replica?.last_seq === 8, 60_000, "T3 caught up the memory stream", () => JSON.stringify(mg));
    await waitUntil(async () => (await fetch(`${c.ours?.monitorUrl}/healthz`)).status === 200, 30_000, "T3 healthy", () => "");
    await c.ours.stop();
    c.ours = undefined;
    await assertSameAsLeader(jsm, "BATCHED", replicaDir);
    await assertSameAsLeader(jsm, "MARK", path.join(c.storeDir, "jetstream", "nrg_peer", markGroup?.group ?? "", "store"));
  } finally {
    await c.stop();
  }
});
