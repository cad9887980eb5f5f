// How a tsnats replica of a nats-server stream applies its group's committed entries
// (src/cluster/nrg_stream_peer.ts NrgStreamReplica over src/cluster/nrg_peer.ts), driven with
// nats-server-encoded stream entries: messages by the lseq rule (a replayed one skipped, a new
// store starting at the leader's sequence), flow-control replies not stored, deletes, delete
// ranges, purges bounded by the leader's stamped last sequence (a replay after a restart
// removes nothing newer), a purge with `keep` not replayed, and a gap it cannot explain halting
// the applying while the RAFT member still stores and acknowledges; the WAL is compacted only
// up to what the store has fsynced; a message's Nats-TTL is kept. The live half is
// test/nrg_peer_stream.test.ts.
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
  constructor(
    readonly dir: string,
    compaction?: { entries: number; bytes: number },
  ) {
    // The catch-up account is only used after a leader's snapshot, which this test does not send.
    this.replica = new NrgStreamReplica(undefined as unknown as Account, stream, ME, path.join(dir, "store"), (m) => this.logs.push(m));
    this.peer = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x", Date.now, compaction, this.replica);
    this.replica.recoveredThrough = this.peer.log.lastIndex;
    this.index = this.peer.log.lastIndex;
  }
  /** Appends one entry and commits it (and everything before it). */
  send(data: Buffer): ReturnType<NrgPeer["receiveAppend"]> {
    const ae: NrgAppendEntry = { leader: LEADER, term: 1, commit: this.index, prevTerm: this.index === 0 ? 0 : 1, prevIndex: this.index, entries: [{ type: NrgEntryType.Normal, data }], leaderTerm: 0 };
    const answer = this.peer.receiveAppend(ae, encodeNrgAppendEntry(ae));
    this.index++;
    this.heartbeat();
    return answer;
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

test("committed stream entries apply as nats-server's followers apply them; a replay after a restart changes nothing; a gap halts the applying, not the member", () => {
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
    assert.equal(again.peer.applied, 0);
    again.heartbeat();
    assert.equal(again.peer.applied, again.peer.log.lastIndex);
    assert.deepEqual(again.held(), ["9:orders.9:nine", "10:orders.10:ten"], "a replayed purge removes nothing newer than its stamp");
    assert.equal(again.replica.halted, undefined);
    // A message whose lseq is ahead of the store (a failed proposal this server did not count):
    // the applying halts; the member still stores and acknowledges.
    const answer = again.send(msg(20, "orders.21", "twenty-one"));
    assert.equal(answer?.response.success, true);
    assert.match(again.replica.halted ?? "", /does not follow the store's last 10/);
    const ack = again.send(msg(10, "orders.11", "eleven"));
    assert.equal(ack?.response.success, true);
    assert.deepEqual(again.held(), ["9:orders.9:nine", "10:orders.10:ten"], "nothing applied past the gap");
    assert.equal(again.logs.length, 1);
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a replica without messages starts at the leader's sequence; an atomic batch halts it", () => {
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
    const inner = msg(151, "orders.y", "batched");
    const id = Buffer.from("batch-1");
    const head = Buffer.alloc(3 + id.length);
    head[0] = NrgEntryOp.BatchCommitMsg;
    head.writeUInt16LE(id.length, 1);
    id.copy(head, 3);
    g.send(Buffer.concat([head, Buffer.from([1]), inner]));
    assert.match(g.replica.halted ?? "", /atomic batch batch-1/);
    assert.deepEqual(g.held(), ["151:orders.z:hundred-fifty-one"]);
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
    // Halted by a gap: the entries it did not apply stay in the WAL however long it grows.
    const haltedAt = g.index + 1;
    g.send(msg(40, "orders.41", "gap"));
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
    assert.ok(again.replica.halted !== undefined, "the same gap halts it again after the restart");
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
