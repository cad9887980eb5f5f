// The meta state of a tsnats member of a nats-server cluster's `_meta_` group
// (src/cluster/nrg_meta_state.ts over src/cluster/nrg_peer.ts), driven with nats-server-encoded
// meta entries: assignments apply only once committed, in order; removals take them out; the
// WAL's compaction snapshot holds the state in nats-server's meta snapshot format; a restart
// rebuilds it from that snapshot and, once a leader commits them again, the entries after it;
// a leader's catch-up snapshot replaces it. The live half is test/nrg_peer_stream.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NrgPeerLog } from "../src/cluster/nrg_peer_log.js";
import { NrgPeer } from "../src/cluster/nrg_peer.js";
import { NrgMetaState } from "../src/cluster/nrg_meta_state.js";
import { encodeNrgAppendEntry, encodeNrgPeerState, NrgEntryType, type NrgAppendEntry } from "../src/cluster/nrg_wire.js";
import { decodeNrgMetaSnapshot, NrgEntryOp } from "../src/jetstream/nrg_entries.js";
import { s2EncodeBlock } from "../src/storage/s2.js";

const LEADER = "LEADER01";
const OTHER = "OTHER002";
const ME = "MEMBER03";

function op(code: NrgEntryOp, body: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([code]), Buffer.from(JSON.stringify(body))]);
}

function streamAssignment(name: string, peers: string[], account = "APP"): Record<string, unknown> {
  return { client: { acc: account }, created: "2026-12-02T07:00:00Z", stream: { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: peers.length, storage: "file" }, group: { name: `S-R${peers.length}F-${name}`, peers, store: "file" }, sync: `_INBOX.${name}` };
}

function consumerAssignment(stream: string, name: string, peers: string[], account = "APP"): Record<string, unknown> {
  return { client: { acc: account }, created: "2026-12-02T07:00:01Z", name, stream, consumer: { durable_name: name, ack_policy: "explicit" }, group: { name: `C-R3F-${name}`, peers, store: "file" } };
}

function entry(term: number, prevIndex: number, commit: number, data: Buffer): NrgAppendEntry {
  return { leader: LEADER, term, commit, prevTerm: prevIndex === 0 ? 0 : term, prevIndex, entries: [{ type: NrgEntryType.Normal, data }], leaderTerm: 0 };
}

function send(p: NrgPeer, a: NrgAppendEntry, inbox?: string): ReturnType<NrgPeer["receiveAppend"]> {
  return p.receiveAppend(a, encodeNrgAppendEntry(a), inbox);
}

function names(state: NrgMetaState): string[] {
  return [...state.streams.values()].map((s) => `${s.account}/${s.config.name}:${[...s.consumers.keys()].join(",")}`).sort();
}

test("assignments apply once committed and in order; the compaction snapshot holds them; a restart rebuilds them from it and the log", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-meta-state-"));
  const compaction = { entries: 4, bytes: 1 << 30 };
  try {
    const state = new NrgMetaState();
    const p = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x", Date.now, compaction, state);
    const peers = [LEADER, OTHER, ME];
    const ps = encodeNrgPeerState({ clusterSize: 3, knownPeers: peers, domainExtension: undefined });
    send(p, { leader: LEADER, term: 1, commit: 0, prevTerm: 0, prevIndex: 0, entries: [{ type: NrgEntryType.PeerState, data: ps }], leaderTerm: 0 });
    send(p, entry(1, 1, 1, op(NrgEntryOp.AssignStream, streamAssignment("ORDERS", peers))));
    // Stored, not committed: not applied.
    assert.deepEqual(names(state), []);
    send(p, entry(1, 2, 2, op(NrgEntryOp.AssignConsumer, consumerAssignment("ORDERS", "worker", peers))));
    assert.deepEqual(names(state), ["APP/ORDERS:"]);
    send(p, entry(1, 3, 3, op(NrgEntryOp.AssignStream, streamAssignment("LOGS", [OTHER]))));
    assert.deepEqual(names(state), ["APP/ORDERS:worker"]);
    assert.equal(state.stream("APP", "ORDERS")?.group.peers.includes(ME), true);
    assert.equal(state.stream("APP", "ORDERS")?.sync, "_INBOX.ORDERS");
    send(p, entry(1, 4, 4, op(NrgEntryOp.AssignStream, streamAssignment("GONE", [OTHER]))));
    send(p, entry(1, 5, 5, op(NrgEntryOp.RemoveStream, streamAssignment("GONE", [OTHER]))));
    assert.deepEqual(names(state), ["APP/GONE:", "APP/LOGS:", "APP/ORDERS:worker"]);
    // Index 6 arrives with commit 6 next: GONE is removed; the entry at 7 stays unapplied.
    send(p, entry(1, 6, 6, op(NrgEntryOp.AssignStream, streamAssignment("LATE", [OTHER]))));
    assert.deepEqual(names(state), ["APP/LOGS:", "APP/ORDERS:worker"]);
    assert.equal(p.applied, 6);
    assert.ok(p.counters.compactions >= 1, JSON.stringify(p.counters));
    // The compaction snapshot is nats-server's meta snapshot of what was applied at its index.
    const snap = p.log.snapshot;
    assert.ok(snap !== undefined && snap.lastIndex <= p.applied);
    const inSnapshot = decodeNrgMetaSnapshot(snap.data).map((s) => `${s.config.name}:${s.consumers.map((c) => c.name).join(",")}`).sort();
    assert.ok(inSnapshot.includes("ORDERS:worker"), JSON.stringify(inSnapshot));
    p.log.close();

    // Restart: the snapshot gives the state at its index; the rest applies when committed again.
    const again = new NrgMetaState();
    const q = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x", Date.now, compaction, again);
    assert.equal(q.applied, snap.lastIndex);
    assert.ok(names(again).includes("APP/ORDERS:worker"), JSON.stringify(names(again)));
    // The leader's heartbeat carries the commit: every stored entry up to it applies.
    assert.deepEqual(send(q, { leader: LEADER, term: 1, commit: 7, prevTerm: 1, prevIndex: 7, entries: [], leaderTerm: 0 }), { response: { term: 1, index: 7, peer: ME, success: true } });
    assert.deepEqual(names(again), ["APP/LATE:", "APP/LOGS:", "APP/ORDERS:worker"]);
    assert.equal(q.applied, 7);
    q.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a leader's catch-up snapshot (nats-server's meta snapshot) replaces the state; a consumer of an unknown stream and an undecodable entry are not applied", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-meta-state-"));
  try {
    const state = new NrgMetaState();
    let changes = 0;
    state.onChange = () => changes++;
    const p = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.inbox", Date.now, undefined, state);
    // Behind: the leader's append at 10 asks for a catch-up...
    const asked = send(p, entry(3, 10, 10, op(NrgEntryOp.AssignStream, streamAssignment("X", [OTHER]))));
    assert.equal(asked?.catchupInbox, "$NRG.CR.inbox");
    // ...which starts with [Snapshot, PeerState] at the leader's snapshot position.
    const snapshotStreams = [{ ...streamAssignment("KEPT", [LEADER, OTHER, ME]), Consumers: [{ ...consumerAssignment("KEPT", "c1", [LEADER, OTHER, ME]), stream: "" }] }];
    const ps = encodeNrgPeerState({ clusterSize: 3, knownPeers: [LEADER, OTHER, ME], domainExtension: undefined });
    const snapshot: NrgAppendEntry = { leader: LEADER, term: 3, commit: 9, prevTerm: 3, prevIndex: 9, entries: [{ type: NrgEntryType.Snapshot, data: s2EncodeBlock(Buffer.from(JSON.stringify(snapshotStreams))) }, { type: NrgEntryType.PeerState, data: ps }], leaderTerm: 0 };
    assert.equal(send(p, snapshot, "$NRG.CR.inbox"), undefined);
    assert.equal(p.counters.snapshots, 1);
    assert.deepEqual(names(state), ["APP/KEPT:c1"]);
    assert.equal(state.stream("APP", "KEPT")?.consumers.get("c1")?.stream, "KEPT");
    assert.ok(changes >= 1);
    // Then the replayed entry at 10 (committed) and new ones.
    send(p, entry(3, 9, 10, op(NrgEntryOp.AssignStream, streamAssignment("X", [OTHER]))), "$NRG.CR.inbox");
    assert.deepEqual(names(state), ["APP/KEPT:c1", "APP/X:"]);
    send(p, entry(3, 10, 10, op(NrgEntryOp.AssignConsumer, consumerAssignment("NOPE", "orphan", [OTHER]))));
    send(p, entry(3, 11, 11, Buffer.from([NrgEntryOp.AssignStream, 0x7b])));
    send(p, entry(3, 12, 12, op(NrgEntryOp.RemoveConsumer, consumerAssignment("KEPT", "c1", [OTHER]))));
    send(p, { leader: LEADER, term: 3, commit: 13, prevTerm: 3, prevIndex: 13, entries: [], leaderTerm: 0 });
    assert.equal(p.applied, 13);
    assert.deepEqual(names(state), ["APP/KEPT:", "APP/X:"]);
    assert.equal(state.failed, 1);
    assert.match(state.lastError, /stream assignment/);
    p.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
