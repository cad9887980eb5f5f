// How a tsnats replica of a nats-server stream applies its group's committed entries
// (src/cluster/nrg_stream_peer.ts NrgStreamReplica over src/cluster/nrg_peer.ts), driven with
// nats-server-encoded stream entries: messages by the lseq rule (a replayed one skipped, a new
// store starting at the leader's sequence), flow-control replies not stored, deletes, delete
// ranges, purges bounded by the leader's stamped last sequence (a replay after a restart
// removes nothing newer), a purge with `keep` not replayed, a gap it cannot explain resetting
// the log (the leader's catch-up fills it); atomic batches applied at their commit, failed
// proposals counted (abandoned batches, store limits, expected last msg id), rollups; an entry
// that does not decode halting the applying while the RAFT member still stores and
// acknowledges; the WAL is compacted only up to what the store has fsynced; a message's Nats-TTL
// is kept. The live half is test/nrg_peer_stream.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NrgPeerLog } from "../src/cluster/nrg_peer_log.js";
import { NrgPeer } from "../src/cluster/nrg_peer.js";
import { NrgStreamReplica } from "../src/cluster/nrg_stream_peer.js";
import type { NrgMetaStream } from "../src/cluster/nrg_meta_state.js";
import type { Account } from "../src/server/account.js";
import { encodeNrgAppendEntry, NrgEntryType, type NrgAppendEntry } from "../src/cluster/nrg_wire.js";
import { encodeNrgStreamMsg, NrgEntryOp } from "../src/jetstream/nrg_entries.js";

const LEADER = "LEADER01";
const ME = "MEMBER03";
// Now: a message with a TTL is not expired on arrival.
const T0 = BigInt(Date.now()) * 1_000_000n;

const stream: NrgMetaStream = {
  account: "APP",
  created: "2026-12-02T07:00:00Z",
  config: { name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 },
  group: { name: "S-R3F-test", peers: [LEADER, "OTHER002", ME], store: "file" },
  sync: "$JSC.SYNC.test",
  consumers: new Map(),
};

function msg(lseq: number, subject: string, data: string, header = "", reply = ""): Buffer {
  return encodeNrgStreamMsg({ lastSequence: lseq, timestamp: T0 + BigInt(lseq), subject, reply, header: Buffer.from(header), data: Buffer.from(data), sourced: false, flags: undefined });
}

function json(op: NrgEntryOp, body: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([op]), Buffer.from(JSON.stringify(body))]);
}

class Group {
  peer: NrgPeer;
  replica: NrgStreamReplica;
  logs: string[] = [];
  index: number;
  /** The leader's log as this test sent it (index i at i-1), for a catch-up. */
  readonly leaderLog: NrgAppendEntry[] = [];
  constructor(
    readonly dir: string,
    compaction?: { entries: number; bytes: number },
    readonly s: NrgMetaStream = stream,
  ) {
    // The catch-up account is only used after a leader's snapshot, which this test does not send.
    this.replica = new NrgStreamReplica(undefined as unknown as Account, s, ME, path.join(dir, "store"), (m) => this.logs.push(m));
    this.peer = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x", Date.now, compaction, this.replica);
    this.replica.recoveredThrough = this.peer.log.lastIndex;
    this.index = this.peer.log.lastIndex;
  }
  /** Appends one entry and commits it (and everything before it). */
  send(data: Buffer): ReturnType<NrgPeer["receiveAppend"]> {
    const ae: NrgAppendEntry = { leader: LEADER, term: 1, commit: this.index, prevTerm: this.index === 0 ? 0 : 1, prevIndex: this.index, entries: [{ type: NrgEntryType.Normal, data }], leaderTerm: 0 };
    this.leaderLog.push(ae);
    const answer = this.peer.receiveAppend(ae, encodeNrgAppendEntry(ae));
    this.index++;
    this.heartbeat();
    return answer;
  }
  /** The leader's catch-up of a member that asked on `inbox`: its whole log again, then a commit. */
  catchUp(inbox: string): void {
    for (const ae of this.leaderLog) {
      const again = { ...ae, commit: this.index };
      this.peer.receiveAppend(again, encodeNrgAppendEntry(again), inbox);
    }
    this.heartbeat();
  }
  heartbeat(): void {
    const hb: NrgAppendEntry = { leader: LEADER, term: 1, commit: this.index, prevTerm: this.index === 0 ? 0 : 1, prevIndex: this.index, entries: [], leaderTerm: 0 };
    this.peer.receiveAppend(hb, encodeNrgAppendEntry(hb));
  }
  held(): string[] {
    const st = this.replica.store.state();
    const out: string[] = [];
    for (let seq = st.firstSeq; seq <= st.lastSeq; seq++) {
      const m = this.replica.store.loadMsg(seq);
      if (m !== null) out.push(`${seq}:${m.subject}:${m.data.toString()}`);
    }
    return out;
  }
  close(): void {
    this.peer.log.close();
    this.replica.close();
  }
}

test("committed stream entries apply as nats-server's followers apply them; a replay after a restart changes nothing; a gap resets the log and the leader's catch-up fills it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-stream-replica-"));
  try {
    const g = new Group(dir);
    g.send(msg(0, "orders.1", "one"));
    g.send(msg(1, "orders.2", "two"));
    g.send(msg(2, "orders.3", "three"));
    assert.deepEqual(g.held(), ["1:orders.1:one", "2:orders.2:two", "3:orders.3:three"]);
    assert.equal(g.replica.store.loadMsg(3)?.time, T0 + 2n, "the leader's timestamp");
    // The same message proposed again (lseq 1): already held.
    g.send(msg(1, "orders.2", "two"));
    assert.equal(g.replica.counters.skipped, 1);
    // A flow-control reply goes through the group but is not stored.
    g.send(msg(3, "", "", "NATS/1.0 100 FlowControl Request\r\n\r\n", "$JS.FC.ORDERS.x"));
    g.send(json(NrgEntryOp.DeleteMsg, { stream: "ORDERS", seq: 2 }));
    g.send(json(NrgEntryOp.DeleteRange, { First: 4, Num: 3 }));
    assert.equal(g.replica.store.lastSequence(), 6);
    g.send(msg(6, "orders.7", "seven"));
    assert.deepEqual(g.held(), ["1:orders.1:one", "3:orders.3:three", "7:orders.7:seven"]);
    // A purge stamped with the leader's last sequence 7, then a message after it.
    g.send(json(NrgEntryOp.PurgeStream, { stream: "ORDERS", last_seq: 7 }));
    g.send(msg(7, "orders.8", "eight"));
    g.send(msg(8, "orders.9", "nine"));
    // Purge keeping the last one (no sequence): applied live, not replayed.
    g.send(json(NrgEntryOp.PurgeStream, { stream: "ORDERS", last_seq: 9, request: { keep: 1 } }));
    g.send(msg(9, "orders.10", "ten"));
    assert.deepEqual(g.held(), ["9:orders.9:nine", "10:orders.10:ten"]);
    assert.equal(g.replica.halted, undefined);
    g.close();

    // Restart: every entry of the WAL is applied again once committed; nothing changes.
    const again = new Group(dir);
    again.leaderLog.push(...g.leaderLog);
    assert.equal(again.peer.applied, 0);
    again.heartbeat();
    assert.equal(again.peer.applied, again.peer.log.lastIndex);
    assert.deepEqual(again.held(), ["9:orders.9:nine", "10:orders.10:ten"], "a replayed purge removes nothing newer than its stamp");
    assert.equal(again.replica.halted, undefined);
    // The store lost its last message (10 gone: a damaged copy); the next message's lseq is
    // ahead of it: stored and acknowledged, and once committed the log is reset (the store kept),
    // nothing applied past the gap.
    again.replica.store.truncate(9);
    const answer = again.send(msg(10, "orders.11", "eleven"));
    assert.equal(answer?.response.success, true);
    assert.equal(again.peer.log.lastIndex, 0);
    assert.equal(again.replica.store.lastSequence(), 9);
    assert.equal(again.replica.counters.resets, 1);
    assert.match(again.replica.lastReset ?? "", /does not follow the store's last 9/);
    assert.equal(again.replica.halted, undefined);
    // The leader's next append asks for a catch-up; the leader sends its log again: the gap is filled.
    const ask = again.send(msg(11, "orders.12", "twelve"));
    assert.equal(ask?.response.success, false);
    assert.equal(ask?.response.index, 0);
    again.catchUp(ask?.catchupInbox ?? "");
    assert.equal(again.peer.applied, again.index);
    assert.deepEqual(again.held(), ["9:orders.9:nine", "10:orders.10:ten", "11:orders.11:eleven", "12:orders.12:twelve"]);
    assert.equal(again.replica.halted, undefined);
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a replica without messages starts at the leader's sequence", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-stream-replica-"));
  try {
    const g = new Group(dir);
    g.send(msg(100, "orders.x", "hundred-one"));
    assert.deepEqual(g.held(), ["101:orders.x:hundred-one"]);
    // Emptied by a purge, then a message from further on (a leader whose snapshot moved past): re-based too.
    g.send(json(NrgEntryOp.PurgeStream, { stream: "ORDERS", last_seq: 101 }));
    g.send(msg(150, "orders.z", "hundred-fifty-one"));
    assert.deepEqual(g.held(), ["151:orders.z:hundred-fifty-one"]);
    assert.equal(g.replica.halted, undefined);
    assert.equal(g.replica.halted, undefined);
    g.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A batch entry as nats-server encodes it: op, id length and id, batch sequence, the stream message entry. */
function batchMsg(id: string, batchSeq: number, commit: boolean, inner: Buffer): Buffer {
  const idb = Buffer.from(id);
  const head = Buffer.alloc(3 + idb.length);
  head[0] = commit ? NrgEntryOp.BatchCommitMsg : NrgEntryOp.BatchMsg;
  head.writeUInt16LE(idb.length, 1);
  idb.copy(head, 3);
  return Buffer.concat([head, Buffer.from([batchSeq]), inner]);
}

test("atomic batches are applied whole at their commit; an abandoned one counts its entries as failed proposals; expected last msg ids count too; store limits refuse nothing; rollups apply", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-stream-replica-"));
  try {
    const limited: NrgMetaStream = { ...stream, config: { ...stream.config, max_msgs_per_subject: 1, discard: "new", discard_new_per_subject: true, allow_rollup_hdrs: true } };
    const g = new Group(dir, undefined, limited);
    g.send(msg(0, "orders.a", "a"));
    // A batch of three over three entries: nothing before the commit, all three at it.
    g.send(batchMsg("b1", 1, false, msg(1, "orders.b", "b")));
    g.send(batchMsg("b1", 2, false, msg(2, "orders.c", "c")));
    assert.deepEqual(g.held(), ["1:orders.a:a"]);
    assert.equal(g.replica.durableIndex() <= 1, true, "the WAL keeps an open batch from its start");
    g.send(batchMsg("b1", 3, true, msg(3, "orders.d", "d")));
    assert.deepEqual(g.held(), ["1:orders.a:a", "2:orders.b:b", "3:orders.c:c", "4:orders.d:d"]);
    assert.equal(g.replica.counters.batches, 1);
    // A batch abandoned by a plain message: its two entries are failed proposals (clfs 2), so the
    // plain message proposed after them (lseq 6) follows the store's last 4.
    g.send(batchMsg("b2", 1, false, msg(4, "orders.e", "e")));
    g.send(batchMsg("b2", 2, false, msg(5, "orders.f", "f")));
    g.send(msg(6, "orders.g", "g"));
    assert.equal(g.replica.clfs, 2);
    assert.deepEqual(g.held().slice(-1), ["5:orders.g:g"]);
    // Discard new per subject: the leader checks it before proposing; a second orders.g that
    // reaches the members anyway (a mirror's copy) replaces the first, as a clustered nats-server's
    // store does (it stores with discardNewCheck off: a refusal on one member would make them drift).
    g.send(msg(7, "orders.g", "g2"));
    assert.equal(g.replica.clfs, 2);
    assert.deepEqual(g.held().slice(-2), ["4:orders.d:d", "6:orders.g:g2"]);
    g.send(msg(8, "orders.h", "h", "NATS/1.0\r\nNats-Msg-Id: id-h\r\n\r\n"));
    // Expected last msg id: right, then wrong (failed).
    g.send(msg(9, "orders.i", "i", "NATS/1.0\r\nNats-Expected-Last-Msg-Id: id-h\r\n\r\n"));
    g.send(msg(10, "orders.j", "j", "NATS/1.0\r\nNats-Expected-Last-Msg-Id: id-h\r\n\r\n"));
    assert.equal(g.replica.clfs, 3);
    // A rollup of everything keeps the rollup message only.
    g.send(msg(11, "orders.k", "k", "NATS/1.0\r\nNats-Rollup: all\r\n\r\n"));
    assert.deepEqual(g.held(), ["9:orders.k:k"]);
    assert.equal(g.replica.halted, undefined);
    assert.equal(g.replica.counters.resets, 0);
    g.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the WAL is compacted only up to what the replica's store has made durable; a message's TTL is kept", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-stream-replica-"));
  try {
    const g = new Group(dir, { entries: 2, bytes: 1 << 30 });
    for (let i = 0; i < 4; i++) g.send(msg(i, `orders.${i + 1}`, `m${i + 1}`));
    // Applied, not yet fsynced by the store (its group commit runs after this turn): kept in the WAL.
    assert.equal(g.peer.applied, 4);
    assert.equal(g.peer.counters.compactions, 0);
    const deadline = Date.now() + 10_000;
    while (g.replica.durableIndex() < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(g.replica.durableIndex(), 4);
    g.send(msg(4, "orders.5", "m5", "NATS/1.0\r\nNats-TTL: 1h\r\n\r\n"));
    assert.equal(g.peer.counters.compactions, 1);
    assert.ok((g.peer.log.snapshot?.lastIndex ?? 0) >= 4 && (g.peer.log.snapshot?.lastIndex ?? 0) <= g.replica.durableIndex(), JSON.stringify(g.peer.log.snapshot?.lastIndex));
    assert.deepEqual(g.held(), ["1:orders.1:m1", "2:orders.2:m2", "3:orders.3:m3", "4:orders.4:m4", "5:orders.5:m5"]);
    // The TTL goes to the store: a message whose 1 s TTL is over expires; the 1 h one stays.
    g.send(encodeNrgStreamMsg({ lastSequence: 5, timestamp: T0 - 10_000_000_000n, subject: "orders.6", reply: "", header: Buffer.from("NATS/1.0\r\nNats-TTL: 1s\r\n\r\n"), data: Buffer.from("m6"), sourced: false, flags: undefined }));
    g.replica.store.expireNow();
    assert.deepEqual(g.held(), ["1:orders.1:m1", "2:orders.2:m2", "3:orders.3:m3", "4:orders.4:m4", "5:orders.5:m5"]);
    assert.equal(g.replica.store.lastSequence(), 6);
    // Halted by an entry no server could decode (nats-server stops such a stream too): the
    // entries it did not apply stay in the WAL however long it grows.
    const haltedAt = g.index + 1;
    g.send(Buffer.from([99, 1, 2]));
    assert.ok(g.replica.halted !== undefined);
    for (let i = 0; i < 5; i++) g.send(msg(41 + i, `orders.${42 + i}`, "after"));
    // The store fsyncs all of it (without the halt, the next append would compact past it).
    for (let i = 0; i < 3; i++) {
      await g.replica.store.syncPending();
      await new Promise((r) => setImmediate(r));
    }
    g.send(msg(46, "orders.47", "after"));
    assert.ok((g.peer.log.snapshot?.lastIndex ?? 0) < haltedAt, `compacted to ${g.peer.log.snapshot?.lastIndex}, halted at ${haltedAt}`);
    assert.ok(g.peer.log.entryAt(haltedAt) !== undefined, "the entry that halted it is kept");
    g.close();
    // Reopened: the snapshot stands for what the store holds; nothing is lost or doubled.
    const again = new Group(dir, { entries: 2, bytes: 1 << 30 });
    again.heartbeat();
    assert.deepEqual(again.held(), ["1:orders.1:m1", "2:orders.2:m2", "3:orders.3:m3", "4:orders.4:m4", "5:orders.5:m5"]);
    assert.equal(again.replica.store.lastSequence(), 6);
    assert.ok(again.replica.halted !== undefined, "the same entry halts it again after the restart");
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the failed count survives a restart in the WAL's compaction snapshot (no reset); a Nats-TTL below the delete marker TTL is raised as nats-server stores it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-stream-replica-"));
  try {
    const limited: NrgMetaStream = { ...stream, config: { ...stream.config, max_msgs_per_subject: 2, discard: "new", discard_new_per_subject: true, allow_msg_ttl: true, subject_delete_marker_ttl: 60_000_000_000 } };
    const g = new Group(dir, { entries: 3, bytes: 1 << 30 }, limited);
    g.send(msg(0, "orders.a", "a"));
    g.send(msg(1, "orders.a", "a2"));
    g.send(msg(2, "orders.a", "a3", "NATS/1.0\r\nNats-Expected-Last-Msg-Id: none\r\n\r\n")); // failed 1
    g.send(msg(3, "orders.b", "b"));
    assert.equal(g.replica.clfs, 1);
    assert.deepEqual(g.held(), ["1:orders.a:a", "2:orders.a:a2", "3:orders.b:b"]);
    const deadline = Date.now() + 10_000;
    while (g.replica.durableIndex() < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    g.send(msg(4, "orders.c", "c", "NATS/1.0\r\nNats-TTL: 5s\r\n\r\n"));
    g.send(msg(5, "orders.d", "d"));
    assert.ok(g.peer.counters.compactions >= 1, "the WAL was compacted past the failed proposal");
    assert.equal(g.replica.store.loadMsg(4)?.hdr?.toString(), "NATS/1.0\r\nNats-TTL: 60\r\n\r\n");
    g.close();
    const again = new Group(dir, { entries: 3, bytes: 1 << 30 }, limited);
    again.leaderLog.push(...g.leaderLog);
    again.heartbeat();
    assert.equal(again.replica.clfs, 1, "from the compaction snapshot");
    again.send(msg(6, "orders.e", "e"));
    assert.equal(again.replica.counters.resets, 0);
    assert.deepEqual(again.held(), ["1:orders.a:a", "2:orders.a:a2", "3:orders.b:b", "4:orders.c:c", "5:orders.d:d", "6:orders.e:e"]);
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
