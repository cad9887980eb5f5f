// What nats-server 2.15's JetStream replicates (src/jetstream/nrg_entries.ts), decoded from the
// RAFT traffic of a live cluster of three (captured in its system account) and checked against
// what the test did: the assignments of the streams and consumers it created, updated and
// deleted, each message it published (one large enough to travel S2-compressed), a delete, a
// purge, the consumer's deliveries and acks, the snapshot a scale-up sends, and the meta
// snapshot a server stores when it shuts down.
import { describe, before, after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { jetstream, AckPolicy } from "@nats-io/jetstream";
import { decodeNrgMessage, decodeNrgSnapshotFile, encodeNrgAppendEntry, NrgEntryType, NrgDecodeError, type NrgEntry, type NrgAppendEntry, type NrgSnapshotFile, type NrgMessage } from "../src/cluster/nrg_wire.js";
import { NrgFollowerLog } from "../src/cluster/nrg_follower_log.js";
import {
  decodeNrgMetaEntry,
  decodeNrgStreamEntry,
  decodeNrgConsumerEntry,
  decodeNrgMetaSnapshot,
  decodeNrgStreamState,
  encodeNrgDeleteRange,
  encodeNrgStreamMsg,
  encodeNrgStreamState,
  encodeNrgConsumerEntry,
  NrgEntryOp,
  type NrgMetaEntry,
  type NrgStreamEntry,
  type NrgConsumerEntry,
  type NrgMetaSnapshotStream,
} from "../src/jetstream/nrg_entries.js";
import { s2EncodeStream, s2EncodeBlock } from "../src/storage/s2.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { highwayHash64 } from "./helpers/highwayhash.js";
import { startNrgCaptureCluster, type NrgCaptureCluster } from "./helpers/nrg_capture.js";
import { takeSnapshot, restoreSnapshot } from "./helpers/snapshot.js";

const BIG = Buffer.from("a large order line that S2 squeezes well. ".repeat(500));

interface Entries {
  meta: { entry: NrgEntry; decoded: NrgMetaEntry }[];
  stream: Map<string, { entry: NrgEntry; decoded: NrgStreamEntry }[]>;
  consumer: Map<string, { entry: NrgEntry; decoded: NrgConsumerEntry }[]>;
}

function push<T>(m: Map<string, T[]>, key: string, value: T): void {
  const list = m.get(key);
  if (list === undefined) m.set(key, [value]);
  else list.push(value);
}

describe("nats-server 2.15's JetStream entries, decoded from a live cluster's RAFT traffic", { skip: referenceMissing(), timeout: 240_000 }, () => {
  let c: NrgCaptureCluster;
  const entries: Entries = { meta: [], stream: new Map(), consumer: new Map() };
  const catchups: { raw: { data: Buffer }; ae: NrgAppendEntry }[] = [];
  let traffic: { raw: { subject: string; reply: string; data: Buffer }; m: NrgMessage }[] = [];
  const groupSnapshots = new Map<string, NrgSnapshotFile>();
  let metaSnapshot: { streams: NrgMetaSnapshotStream[]; checksumOk: boolean; lastIndex: number } | undefined;

  before(async () => {
    c = await startNrgCaptureCluster();
    const { jsm, app } = c;
    const js = jetstream(app);
    await retry(() => jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 }));
    for (let i = 1; i <= 10; i++) await retry(() => js.publish(`orders.${i}`, `order ${i}`));
    await retry(() => js.publish("orders.big", BIG, { headers: undefined }));
    await jsm.streams.deleteMessage("ORDERS", 3);
    await retry(() => jsm.consumers.add("ORDERS", { durable_name: "worker", ack_policy: AckPolicy.Explicit, num_replicas: 3 }));
    const consumer = await js.consumers.get("ORDERS", "worker");
    let acked = 0;
    while (acked < 5) {
      for await (const m of await consumer.fetch({ max_messages: 5 - acked, expires: 2000 })) {
        await m.ackAck();
        acked++;
      }
    }
    await jsm.streams.update("ORDERS", { subjects: ["orders.>", "more.>"] });
    await jsm.streams.purge("ORDERS", { filter: "orders.1" });
    await retry(() => jsm.consumers.add("ORDERS", { durable_name: "keeper", ack_policy: AckPolicy.Explicit, num_replicas: 3 }));
    // A backup of ORDERS (with worker and keeper) restored as RESTORED: its leader hands the
    // consumers to the meta leader as compressed assignments forwarded over `$NRG.P._meta_`.
    const backup = await takeSnapshot(app, "ORDERS");
    assert.equal(backup.resp.error, undefined, JSON.stringify(backup.resp));
    assert.ok(backup.data.length > 0);
    const restored = await restoreSnapshot(app, { ...backup.resp.config, name: "RESTORED", subjects: ["restored.>"], num_replicas: 3 }, backup.data, undefined, undefined, 10_000);
    assert.equal(restored.error, undefined, JSON.stringify(restored));
    await waitUntil(async () => (await jsm.consumers.list("RESTORED").next()).length === 2, 60_000, "RESTORED's two consumers");
    // An R1 stream scaled up to R3: its leader sends its state as a snapshot entry.
    await retry(() => jsm.streams.add({ name: "SMALL", subjects: ["small.>"], num_replicas: 1 }));
    for (let i = 1; i <= 3; i++) await retry(() => js.publish(`small.${i}`, `s${i}`));
    await retry(() => jsm.streams.update("SMALL", { subjects: ["small.>"], num_replicas: 3 }));
    await waitUntil(async () => (await jsm.streams.info("SMALL")).cluster?.replicas?.filter((r) => r.current).length === 2, 60_000, "SMALL's replicas current");
    // An R1 consumer with three of six deliveries acked, scaled up to R3: its new group's
    // leader catches the new members up with the consumer's state as a snapshot entry.
    await retry(() => jsm.streams.add({ name: "WORK", subjects: ["work.>"], num_replicas: 3 }));
    for (let i = 1; i <= 10; i++) await retry(() => js.publish(`work.${i}`, `job ${i}`));
    await retry(() => jsm.consumers.add("WORK", { durable_name: "solo", ack_policy: AckPolicy.Explicit, num_replicas: 1 }));
    const solo = await js.consumers.get("WORK", "solo");
    let fetched = 0;
    while (fetched < 6) {
      for await (const m of await solo.fetch({ max_messages: 6 - fetched, expires: 2000 })) {
        if (m.seq % 2 === 1) await m.ackAck();
        fetched++;
      }
    }
    await retry(() => jsm.consumers.update("WORK", "solo", { num_replicas: 3 }));
    await waitUntil(async () => (await jsm.consumers.info("WORK", "solo")).cluster?.replicas?.filter((r) => r.current).length === 2, 60_000, "solo's replicas current");
    await jsm.consumers.delete("ORDERS", "worker");
    await jsm.streams.delete("SMALL");
    await app.flush();
    await waitUntil(() => c.captured.some((x) => x.subject === "$NRG.AE._meta_" && x.data.includes('"SMALL"') && x.data.includes(Buffer.from([NrgEntryOp.RemoveStream, 0x7b]))), 30_000, "SMALL's removal in the meta log");
    // N3 shuts down cleanly: it stores a meta snapshot first.
    const storeDir = ((await (await fetch(`${c.servers[2].monitorUrl}/jsz`)).json()) as { config: { store_dir: string } }).config.store_dir;
    const exited = new Promise((r) => c.servers[2].proc.once("exit", r));
    c.servers[2].proc.kill("SIGTERM");
    await exited;
    // The system account here is SYS: <store>/SYS/_js_/_meta_/snapshots.
    const snapDir = path.join(storeDir, "SYS", "_js_", "_meta_", "snapshots");
    const files = fs.readdirSync(snapDir).filter((f) => f.startsWith("snap."));
    assert.equal(files.length, 1, files.join());
    const file = decodeNrgSnapshotFile(fs.readFileSync(path.join(snapDir, files[0])));
    const key = createHash("sha256").update("_meta_").digest();
    metaSnapshot = { streams: decodeNrgMetaSnapshot(file.data), checksumOk: highwayHash64(key, file.covered).equals(file.checksum), lastIndex: file.lastIndex };
    assert.equal(files[0], `snap.${file.lastTerm}.${file.lastIndex}`);
    // The stream groups (their traffic is the system account's here) store theirs too.
    const groupsDir = path.join(storeDir, "SYS", "_js_");
    for (const group of fs.readdirSync(groupsDir).filter((g) => g.startsWith("S-"))) {
      const dir = path.join(groupsDir, group, "snapshots");
      const snaps = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith("snap.")) : [];
      if (snaps.length === 1) groupSnapshots.set(group, decodeNrgSnapshotFile(fs.readFileSync(path.join(dir, snaps[0]))));
    }

    // A catch-up's appends go to the follower's `$NRG.CR.` inbox: their group is the one whose
    // appends name the same leader inbox as reply.
    const groupByLeaderInbox = new Map<string, string>();
    const decoded = c.captured.map((raw) => ({ raw, m: decodeNrgMessage(raw.subject, raw.data) }));
    traffic = decoded;
    for (const { raw, m } of decoded) if (m.kind === "appendEntry" && m.group !== undefined) groupByLeaderInbox.set(raw.reply, m.group);
    for (const { raw, m } of decoded) {
      if (m.kind !== "appendEntry") continue;
      const group = m.group ?? groupByLeaderInbox.get(raw.reply);
      if (m.catchupInbox !== undefined) catchups.push({ raw, ae: m.message });
      assert.ok(group !== undefined, `a catch-up of no known group: ${raw.subject}`);
      for (const entry of m.message.entries) {
        if (group === "_meta_") entries.meta.push({ entry, decoded: decodeNrgMetaEntry(entry) });
        else if (group.startsWith("S-")) push(entries.stream, group, { entry, decoded: decodeNrgStreamEntry(entry) });
        else if (group.startsWith("C-")) push(entries.consumer, group, { entry, decoded: decodeNrgConsumerEntry(entry) });
        else assert.fail(`a group of unknown kind: ${group}`);
      }
    }
  });

  after(async () => {
    await c?.stop();
  });

  function streamAssignments(op: "assignStream" | "updateStream" | "removeStream", name: string) {
    return entries.meta.flatMap((e) => (e.decoded.op === op && e.decoded.assignment.config.name === name ? [e.decoded.assignment] : []));
  }

  test("the meta group assigns ORDERS (its subjects, three replicas, a group of the three servers), updates it, and assigns and removes its consumer", () => {
    const ids = [...c.peerIds.values()].sort();
    const [orders] = streamAssignments("assignStream", "ORDERS");
    assert.ok(orders !== undefined, "no assignment of ORDERS");
    assert.deepEqual(orders.config.subjects, ["orders.>"]);
    assert.equal(orders.config.num_replicas, 3);
    assert.equal(orders.config.storage, "file");
    assert.deepEqual([...orders.group.peers].sort(), ids);
    assert.match(orders.group.name, /^S-R3F-/);
    assert.equal(orders.group.store, "file");
    assert.ok(!Number.isNaN(Date.parse(orders.created)));
    // The stream's own group is the one whose traffic carries its messages.
    assert.ok(entries.stream.has(orders.group.name), "no traffic in ORDERS's group");
    const [update] = streamAssignments("updateStream", "ORDERS");
    assert.deepEqual(update.config.subjects, ["orders.>", "more.>"]);
    assert.equal(update.group.name, orders.group.name);

    const consumers = entries.meta.flatMap((e) => (e.decoded.op === "assignConsumer" ? [e.decoded.assignment] : []));
    const worker = consumers.find((a) => a.name === "worker");
    assert.ok(worker !== undefined);
    assert.equal(worker.stream, "ORDERS");
    assert.equal(worker.config.durable_name, "worker");
    assert.equal(worker.config.ack_policy, "explicit");
    assert.match(worker.group.name, /^C-R3F-/);
    assert.deepEqual([...worker.group.peers].sort(), ids);
    assert.ok(entries.consumer.has(worker.group.name), "no traffic in worker's group");
    assert.ok(entries.meta.some((e) => e.decoded.op === "removeConsumer" && e.decoded.assignment.name === "worker"));
    assert.equal(streamAssignments("removeStream", "SMALL").length >= 1, true);
    // SMALL starts as R1 and is scaled up by an update to three servers.
    assert.equal(streamAssignments("assignStream", "SMALL")[0].group.peers.length, 1);
    assert.ok(streamAssignments("updateStream", "SMALL").some((a) => a.group.peers.length === 3 && a.config.num_replicas === 3));
  });

  test("ORDERS's group carries each published message: sequence, subject, payload, a rising time; the large one S2-compressed", () => {
    const group = streamAssignments("assignStream", "ORDERS")[0].group.name;
    const msgs = new Map<number, Extract<NrgStreamEntry, { op: "msg" }>>();
    for (const { entry, decoded } of entries.stream.get(group) ?? []) {
      if (decoded.op !== "msg") continue;
      msgs.set(decoded.msg.lastSequence + 1, decoded);
      // Uncompressed message entries encode back to the same bytes.
      if (!decoded.compressed) assert.deepEqual(encodeNrgStreamMsg(decoded.msg), entry.data);
    }
    for (let seq = 1; seq <= 10; seq++) {
      const m = msgs.get(seq);
      assert.ok(m !== undefined, `message ${seq} not seen`);
      assert.equal(m.msg.subject, `orders.${seq}`);
      assert.equal(m.msg.data.toString(), `order ${seq}`);
      assert.equal(m.compressed, false);
      assert.equal(m.msg.sourced, false);
      if (seq > 1) assert.ok(m.msg.timestamp >= (msgs.get(seq - 1)?.msg.timestamp ?? 0n));
    }
    const now = BigInt(Date.now()) * 1_000_000n;
    assert.ok(now - (msgs.get(1)?.msg.timestamp ?? 0n) < 600_000_000_000n, "a timestamp in nanoseconds of today");
    const big = msgs.get(11);
    assert.ok(big !== undefined);
    assert.equal(big.compressed, true);
    assert.equal(big.msg.subject, "orders.big");
    assert.deepEqual(big.msg.data, BIG);
  });

  test("ORDERS's group carries the delete of message 3 and the purge of orders.1", () => {
    const group = streamAssignments("assignStream", "ORDERS")[0].group.name;
    const decoded = (entries.stream.get(group) ?? []).map((e) => e.decoded);
    const del = decoded.find((d) => d.op === "deleteMsg");
    assert.ok(del !== undefined && del.op === "deleteMsg");
    assert.equal(del.delete.stream, "ORDERS");
    assert.equal(del.delete.seq, 3);
    const purge = decoded.find((d) => d.op === "purge");
    assert.ok(purge !== undefined && purge.op === "purge");
    assert.equal(purge.purge.stream, "ORDERS");
    assert.equal(purge.purge.request?.filter, "orders.1");
    assert.equal(purge.purge.last_seq, 11);
  });

  test("SMALL's scale-up moves it to a new R3 group whose leader catches the new servers up with a snapshot entry: three messages, 1 to 3", () => {
    // nats-server 2.15 gives the scaled-up stream a new group (S-R1F- becomes S-R3F-), which
    // starts with the one server and adds the others (AddPeer entries) once caught up.
    const scaled = streamAssignments("updateStream", "SMALL").find((a) => a.group.peers.length === 3);
    assert.ok(scaled !== undefined);
    const group = scaled.group.name;
    assert.match(group, /^S-R3F-/);
    assert.match(streamAssignments("assignStream", "SMALL")[0].group.name, /^S-R1F-/);
    const added = (entries.stream.get(group) ?? []).flatMap((e) => (e.decoded.op === "addPeer" ? [e.decoded.peer] : []));
    assert.ok(added.length >= 2, `added peers: ${added.join()}`);
    const snaps = (entries.stream.get(group) ?? []).flatMap((e) => (e.decoded.op === "snapshot" ? [e.decoded] : []));
    assert.ok(snaps.length >= 1, "no snapshot entry in SMALL's group");
    // The catch-up's appends travel to the new servers' `$NRG.CR.` inboxes and re-encode byte
    // for byte. The snapshot goes first, built fresh (trailing leader term 0, its previous
    // index the snapshot's); stored entries replayed after it carry the leader's current term.
    assert.ok(catchups.some(({ ae }) => ae.entries.some((e) => e.type === NrgEntryType.Snapshot)), "no catch-up snapshot seen");
    for (const { raw, ae } of catchups) {
      assert.deepEqual(encodeNrgAppendEntry(ae), raw.data);
      const isSnapshot = ae.entries.some((e) => e.type === NrgEntryType.Snapshot);
      if (isSnapshot) assert.equal(ae.leaderTerm, 0);
      else assert.ok(ae.leaderTerm !== undefined && ae.leaderTerm >= ae.term, `leader term ${ae.leaderTerm} of a term ${ae.term} entry`);
    }
    // Each new member asked for its catch-up as nats-server's follower rules predict: a failed
    // response with its (empty) log's last term and index, and a `$NRG.CR.` inbox as reply,
    // to which the leader then sent the snapshot first.
    // A member's log exists from the meta entry that puts it in the group (the group starts
    // with SMALL's one server; the others join by the update that scales it up).
    const logs = new Map<string, NrgFollowerLog>();
    const lastAnswer = new Map<string, string>();
    const inboxOwner = new Map<string, string>();
    const leaderInboxes = new Set<string>();
    let requests = 0;
    for (const { raw, m } of traffic) {
      if (m.kind === "appendEntry" && m.group === "_meta_") {
        for (const e of m.message.entries) {
          const d = e.type === NrgEntryType.Normal ? decodeNrgMetaEntry(e) : undefined;
          if ((d?.op === "assignStream" || d?.op === "updateStream") && d.assignment.group.name === group) {
            for (const peer of d.assignment.group.peers) if (!logs.has(peer)) logs.set(peer, new NrgFollowerLog(peer));
          }
        }
      } else if (m.kind === "appendEntry" && m.group === group) {
        leaderInboxes.add(raw.reply);
        logs.get(m.message.leader)?.sent(m.message);
        for (const [peer, log] of logs) if (peer !== m.message.leader) lastAnswer.set(peer, log.receive(m.message).kind);
      } else if (m.kind === "appendEntryResponse" && leaderInboxes.has(raw.subject) && !m.message.success && raw.reply.startsWith("$NRG.CR.")) {
        const log = logs.get(m.message.peer);
        assert.ok(log !== undefined);
        assert.equal(lastAnswer.get(m.message.peer), "catchup", `${m.message.peer} asked for a catch-up the rules did not predict`);
        assert.deepEqual([m.message.term, m.message.index], [log.lastTerm, log.lastIndex]);
        inboxOwner.set(raw.reply.slice("$NRG.CR.".length), m.message.peer);
        requests++;
      } else if (m.kind === "appendEntry" && m.catchupInbox !== undefined && inboxOwner.has(m.catchupInbox)) {
        const log = logs.get(inboxOwner.get(m.catchupInbox) ?? "");
        if (m.message.entries[0]?.type === NrgEntryType.Snapshot) log?.installSnapshot(m.message.prevTerm, m.message.prevIndex);
        else log?.receive(m.message);
      }
    }
    assert.ok(requests >= 2, `${requests} catch-up requests`);
    const state = snaps[0].state;
    assert.ok(state !== undefined, "not nats-server's binary stream state");
    assert.equal(state.messages, 3);
    assert.equal(state.firstSequence, 1);
    assert.equal(state.lastSequence, 3);
    assert.ok(state.bytes > 0);
  });

  test("worker's group carries the deliveries of messages 1, 2, 4, 5, 6 (3 was deleted) and their acks", () => {
    const worker = entries.meta.flatMap((e) => (e.decoded.op === "assignConsumer" && e.decoded.assignment.name === "worker" ? [e.decoded.assignment] : []))[0];
    const list = entries.consumer.get(worker.group.name) ?? [];
    const delivered = new Map<number, number>();
    const acked = new Map<number, number>();
    for (const { entry, decoded } of list) {
      if (decoded.op === "delivered") {
        delivered.set(decoded.deliverySequence, decoded.streamSequence);
        assert.equal(decoded.deliveryCount, 1);
      }
      if (decoded.op === "ack") acked.set(decoded.deliverySequence, decoded.streamSequence);
      if (decoded.op !== "peerState" && decoded.op !== "snapshot" && entry.type === NrgEntryType.Normal) assert.deepEqual(encodeNrgConsumerEntry(decoded), entry.data);
    }
    assert.deepEqual([...delivered.entries()].sort((a, b) => a[0] - b[0]), [[1, 1], [2, 2], [3, 4], [4, 5], [5, 6]]);
    assert.deepEqual([...acked.entries()].sort((a, b) => a[0] - b[0]), [[1, 1], [2, 2], [3, 4], [4, 5], [5, 6]]);
  });

  test("the meta snapshot N3 stores at shutdown holds ORDERS with keeper, RESTORED with both, WORK with solo, not SMALL or ORDERS's worker, under a valid checksum", () => {
    assert.ok(metaSnapshot !== undefined);
    assert.ok(metaSnapshot.checksumOk, "HighwayHash-64 keyed by SHA-256 of the group name");
    // Go writes the assignments in map order: compare by name.
    assert.deepEqual(metaSnapshot.streams.map((s) => s.config.name).sort(), ["ORDERS", "RESTORED", "WORK"]);
    const restored = metaSnapshot.streams.find((s) => s.config.name === "RESTORED");
    assert.deepEqual(restored?.consumers.map((x) => x.name).sort(), ["keeper", "worker"]);
    const orders = metaSnapshot.streams.find((s) => s.config.name === "ORDERS");
    assert.ok(orders !== undefined);
    const work = metaSnapshot.streams.find((s) => s.config.name === "WORK");
    assert.deepEqual(work?.consumers.map((x) => [x.name, x.config.num_replicas, x.group.peers.length]), [["solo", 3, 3]]);
    assert.deepEqual(orders.config.subjects, ["orders.>", "more.>"]);
    assert.equal(orders.group.name, streamAssignments("assignStream", "ORDERS")[0].group.name);
    assert.deepEqual(orders.consumers.map((x) => [x.name, x.stream, x.config.durable_name]), [["keeper", "ORDERS", "keeper"]]);
  });

  test("every captured entry cut at every length decodes or is refused with an NrgDecodeError, never a RangeError or TypeError", () => {
    let refused = 0;
    const cutAll = (entry: NrgEntry, decode: (e: NrgEntry) => unknown): void => {
      for (let cutAt = 0; cutAt < entry.data.length; cutAt++) {
        try {
          decode({ type: entry.type, data: entry.data.subarray(0, cutAt) });
        } catch (err) {
          assert.ok(err instanceof NrgDecodeError, `entry type ${entry.type} op ${entry.data[0]} cut at ${cutAt}: ${String(err)}`);
          refused++;
        }
      }
    };
    for (const { entry } of entries.meta) cutAll(entry, decodeNrgMetaEntry);
    for (const list of entries.stream.values()) for (const { entry } of list.slice(0, 40)) cutAll(entry, decodeNrgStreamEntry);
    for (const list of entries.consumer.values()) for (const { entry } of list) cutAll(entry, decodeNrgConsumerEntry);
    assert.ok(refused > 100, `${refused} refusals`);
    // A meta snapshot whose JSON is not what nats-server writes is refused too.
    for (const json of ["[null]", '[{"stream":{"name":"X"},"group":{"name":"S-1","peers":[]},"Consumers":[null]}]', "{}", "[1]"]) {
      assert.throws(() => decodeNrgMetaSnapshot(s2EncodeBlock(Buffer.from(json))), NrgDecodeError, json);
    }
  });

  test("the stream snapshot N3 stores at shutdown holds ORDERS's state: 2 to 11, 9 messages, 3 deleted in between", () => {
    const group = streamAssignments("assignStream", "ORDERS")[0].group.name;
    const file = groupSnapshots.get(group);
    assert.ok(file !== undefined, `no snapshot of ${group}: ${[...groupSnapshots.keys()].join()}`);
    assert.ok(highwayHash64(createHash("sha256").update(group).digest(), file.covered).equals(file.checksum), "checksum keyed by the group's name");
    assert.deepEqual([...file.peerState.knownPeers].sort(), [...c.peerIds.values()].sort());
    const state = decodeNrgStreamState(file.data);
    assert.ok(state !== undefined);
    assert.equal(state.firstSequence, 2);
    assert.equal(state.lastSequence, 11);
    assert.equal(state.messages, 9);
    assert.equal(state.failed, 0);
    assert.ok(state.bytes > BIG.length);
    const deleted = state.deleted.flatMap((b) => (b.kind === "set" ? b.sequences : Array.from({ length: b.count }, (_, i) => b.first + i)));
    assert.deepEqual(deleted, [3]);
    for (let cutAt = 0; cutAt < file.data.length; cutAt++) {
      try {
        decodeNrgStreamState(file.data.subarray(0, cutAt));
      } catch (err) {
        assert.ok(err instanceof NrgDecodeError, `cut at ${cutAt}: ${String(err)}`);
      }
    }
  });

  test("solo's scale-up to R3 catches its new members up with its state: ack floor 1, delivered 6, pending 2, 4, 6", () => {
    const groups = entries.meta.flatMap((e) => (e.decoded.op === "assignConsumer" && e.decoded.assignment.name === "solo" ? [e.decoded.assignment.group] : []));
    const r3 = groups.find((g) => g.peers.length === 3);
    assert.ok(r3 !== undefined, JSON.stringify(groups));
    const snaps = (entries.consumer.get(r3.name) ?? []).flatMap((e) => (e.decoded.op === "snapshot" ? [e.decoded.state] : []));
    assert.ok(snaps.length >= 1, "no consumer snapshot entry");
    for (const state of snaps) {
      assert.deepEqual(state.ackFloor, { consumer: 1, stream: 1 });
      assert.deepEqual(state.delivered, { consumer: 6, stream: 6 });
      assert.deepEqual(state.pending.map((p) => [p.streamSequence, p.deliverySequence]), [[2, 2], [4, 4], [6, 6]]);
      const now = Date.now() / 1000;
      for (const p of state.pending) assert.ok(Math.abs(now - p.timestampSeconds) < 600, `a delivery time of today: ${p.timestampSeconds}`);
      assert.deepEqual(state.redelivered, []);
    }
  });

  test("a restore's consumers travel as compressed assignments (an S2 stream around the JSON, with their state) in the meta log, forwarded over $NRG.P._meta_ by a stream leader that does not lead the meta group", () => {
    const forwarded = traffic.flatMap(({ m }) => (m.kind === "proposal" && m.group === "_meta_" ? [decodeNrgMetaEntry({ type: NrgEntryType.Normal, data: m.data })] : []));
    const logged = entries.meta.flatMap((e) => (e.decoded.op === "assignConsumer" && e.decoded.compressed ? [e.decoded.assignment] : []));
    assert.deepEqual([...new Set(logged.map((a) => `${a.stream}/${a.name}`))].sort(), ["RESTORED/keeper", "RESTORED/worker"]);
    // A stream leader that is not the meta leader forwards them (the meta leader proposes its
    // own directly): what was forwarded is what the log holds.
    const compressed = forwarded.flatMap((d) => (d.op === "assignConsumer" && d.compressed ? [d.assignment] : []));
    for (const a of compressed) assert.ok(logged.some((l) => l.raw.equals(a.raw)), `${a.name} forwarded but not logged`);
    const worker = logged.find((a) => a.stream === "RESTORED" && a.name === "worker");
    assert.ok(worker !== undefined, "no compressed assignment of RESTORED's worker in the meta log");
    // The consumer's state rides along: worker had delivered and acked five messages.
    const state = worker.state as { delivered?: { consumer_seq?: number }; ack_floor?: { consumer_seq?: number } } | undefined;
    assert.equal(state?.delivered?.consumer_seq, 5);
    assert.equal(state?.ack_floor?.consumer_seq, 5);
  });

  test("a compressed consumer assignment (an S2 stream around the same JSON, as a restore sends) decodes as the plain one", () => {
    const plain = entries.meta.find((e) => e.decoded.op === "assignConsumer" && e.decoded.assignment.name === "keeper");
    assert.ok(plain !== undefined && plain.decoded.op === "assignConsumer");
    const compressed = Buffer.concat([Buffer.from([NrgEntryOp.AssignCompressedConsumer]), s2EncodeStream(plain.entry.data.subarray(1))]);
    const d = decodeNrgMetaEntry({ type: NrgEntryType.Normal, data: compressed });
    assert.ok(d.op === "assignConsumer" && d.compressed);
    assert.equal(d.assignment.name, "keeper");
    assert.deepEqual(d.assignment.group, plain.decoded.assignment.group);
  });
});

test("a stream state as a tsnats leader's snapshot encodes it (version 1, deleted runs as run-length blocks) and a delete range entry decode back", () => {
  const state = decodeNrgStreamState(encodeNrgStreamState({ messages: 6, bytes: 321, firstSequence: 2, lastSequence: 11, failed: 1, deleted: [9, 4, 3, 5] }));
  assert.deepEqual(state, {
    version: 1,
    messages: 6,
    bytes: 321,
    firstSequence: 2,
    lastSequence: 11,
    failed: 1,
    sources: [],
    deleted: [
      { kind: "range", first: 3, count: 3 },
      { kind: "range", first: 9, count: 1 },
    ],
  });
  assert.deepEqual(decodeNrgStreamState(encodeNrgStreamState({ messages: 0, bytes: 0, firstSequence: 0, lastSequence: 0, failed: 0, deleted: [] }))?.deleted, []);
  assert.deepEqual(decodeNrgStreamEntry({ type: NrgEntryType.Normal, data: encodeNrgDeleteRange(12, 30) }), { op: "deleteRange", first: 12, num: 30 });
});
