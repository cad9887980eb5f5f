// The durable log of a tsnats member of a nats-server RAFT group (src/cluster/nrg_peer_log.ts)
// and the answers it gives (src/cluster/nrg_peer.ts), driven with nats-server-encoded append
// entries and vote requests: what is acknowledged is on disk (a reopened log holds it), a torn
// last record is cut, the term and vote survive a restart (no second vote in a term), a
// catch-up is asked for and its entries are stored but never acknowledged, a leader's snapshot
// is installed, a conflicting tail is truncated, and a storage error makes the member silent.
// The live half (three nats-server 2.15 servers) is test/nrg_peer.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NrgPeerLog } from "../src/cluster/nrg_peer_log.js";
import { NrgPeer } from "../src/cluster/nrg_peer.js";
import { NrgFollowerLog } from "../src/cluster/nrg_follower_log.js";
import { encodeNrgAppendEntry, encodeNrgPeerState, NrgEntryType, type NrgAppendEntry } from "../src/cluster/nrg_wire.js";

const LEADER = "LEADER01";
const OTHER = "OTHER002";
const ME = "MEMBER03";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "nrg-peer-log-"));
}

function ae(term: number, prevTerm: number, prevIndex: number, commit: number, data?: string, leaderTerm = 0, leader = LEADER): NrgAppendEntry {
  return { leader, term, commit, prevTerm, prevIndex, entries: data === undefined ? [] : [{ type: NrgEntryType.Normal, data: Buffer.from(data) }], leaderTerm };
}

function member(dir: string): NrgPeer {
  let n = 0;
  return new NrgPeer(ME, new NrgPeerLog(dir), () => `$NRG.CR.inbox${++n}`);
}

function send(p: NrgPeer, a: NrgAppendEntry, inbox?: string): ReturnType<NrgPeer["receiveAppend"]> {
  return p.receiveAppend(a, encodeNrgAppendEntry(a), inbox);
}

test("appends are acknowledged only once stored, and a reopened log holds them; a torn last record is cut", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    assert.equal(p.initializing, true);
    const a1 = send(p, ae(1, 0, 0, 0, "one"));
    assert.deepEqual(a1, { response: { term: 1, index: 1, peer: ME, success: true } });
    assert.deepEqual(send(p, ae(1, 1, 1, 1, "two")), { response: { term: 1, index: 2, peer: ME, success: true } });
    // A heartbeat that matches is answered with the log's position and moves nothing.
    assert.deepEqual(send(p, ae(1, 1, 2, 2)), { response: { term: 1, index: 2, peer: ME, success: true } });
    assert.equal(p.commit, 2);
    p.log.close();

    const again = member(dir);
    assert.equal(again.log.lastIndex, 2);
    assert.equal(again.log.lastTerm, 1);
    assert.equal(again.log.term, 1);
    assert.equal(again.initializing, false);
    assert.deepEqual([...again.log.entries()].map((e) => e.index), [1, 2]);
    again.log.close();

    // A crash mid-append: half a record at the end.
    const wal = fs.readdirSync(dir).find((f) => f.startsWith("wal-")) as string;
    const bytes = fs.readFileSync(path.join(dir, wal));
    fs.appendFileSync(path.join(dir, wal), bytes.subarray(0, 20));
    const log = new NrgPeerLog(dir);
    assert.equal(log.recoveredCut, 1);
    assert.equal(log.lastIndex, 2);
    assert.equal(fs.statSync(path.join(dir, wal)).size, bytes.length);
    log.append(1, 3, Buffer.from("three"));
    log.close();
    assert.equal(new NrgPeerLog(dir).lastIndex, 3);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the vote is stored before it is granted: after a restart no second vote in that term", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    send(p, ae(1, 0, 0, 0, "one"));
    const granted = p.receiveVote({ term: 2, lastTerm: 1, lastIndex: 1, candidate: LEADER });
    assert.deepEqual(granted, { term: 2, peer: ME, granted: true, empty: false });
    p.log.close();
    const again = member(dir);
    assert.equal(again.log.term, 2);
    assert.equal(again.log.vote, LEADER);
    assert.deepEqual(again.receiveVote({ term: 2, lastTerm: 1, lastIndex: 1, candidate: OTHER }), { term: 2, peer: ME, granted: false, empty: false });
    // The same candidate asking again is granted again; an older term is refused with ours.
    assert.equal(again.receiveVote({ term: 2, lastTerm: 1, lastIndex: 1, candidate: LEADER })?.granted, true);
    assert.deepEqual(again.receiveVote({ term: 1, lastTerm: 1, lastIndex: 1, candidate: OTHER }), { term: 2, peer: ME, granted: false, empty: false });
    // A candidate whose log is behind ours is refused, though the term is adopted.
    assert.deepEqual(again.receiveVote({ term: 3, lastTerm: 0, lastIndex: 0, candidate: OTHER }), { term: 3, peer: ME, granted: false, empty: false });
    assert.equal(again.log.term, 3);
    assert.equal(again.log.vote, "");
    again.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("votes and appends answer as the nats-server follower model (nrg_follower_log.ts) does", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    const model = new NrgFollowerLog(ME);
    const steps: Array<{ append: NrgAppendEntry } | { vote: { term: number; lastTerm: number; lastIndex: number; candidate: string } }> = [
      { vote: { term: 1, lastTerm: 0, lastIndex: 0, candidate: LEADER } },
      { append: ae(1, 0, 0, 0, "a") },
      { append: ae(1, 1, 1, 1, "b") },
      { append: ae(1, 1, 2, 2) },
      { vote: { term: 2, lastTerm: 1, lastIndex: 1, candidate: OTHER } },
      { vote: { term: 3, lastTerm: 1, lastIndex: 2, candidate: OTHER } },
      { vote: { term: 3, lastTerm: 1, lastIndex: 2, candidate: LEADER } },
      { append: ae(3, 1, 2, 2, "c", 0, OTHER) },
      { vote: { term: 3, lastTerm: 3, lastIndex: 3, candidate: OTHER } },
    ];
    for (const s of steps) {
      if ("vote" in s) assert.deepEqual(p.receiveVote(s.vote), model.vote(s.vote), JSON.stringify(s));
      else {
        const expected = model.receive(s.append);
        assert.equal(expected.kind, "success");
        assert.deepEqual(send(p, s.append)?.response, expected.kind === "success" ? expected.response : undefined, JSON.stringify(s));
      }
    }
    p.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a member behind asks for a catch-up, stores its entries without acknowledging them, then acknowledges new ones", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    // The leader is at index 3: we have nothing.
    const ask = send(p, ae(2, 2, 3, 3));
    assert.deepEqual(ask, { response: { term: 0, index: 0, peer: ME, success: false }, catchupInbox: "$NRG.CR.inbox1" });
    // New entries wait while catching up.
    assert.equal(send(p, ae(2, 2, 3, 3)), undefined);
    // The catch-up's entries carry the leader's term at their end; never acknowledged.
    assert.equal(send(p, ae(1, 0, 0, 0, "a", 2), "$NRG.CR.inbox1"), undefined);
    // One from an old catch-up inbox is ignored.
    assert.equal(send(p, ae(1, 1, 1, 1, "b", 2), "$NRG.CR.old"), undefined);
    assert.equal(p.log.lastIndex, 1);
    assert.equal(send(p, ae(1, 1, 1, 1, "b", 2), "$NRG.CR.inbox1"), undefined);
    assert.equal(send(p, ae(2, 1, 2, 3, "c", 2), "$NRG.CR.inbox1"), undefined);
    assert.equal(p.log.lastIndex, 3);
    assert.equal(p.log.term, 2);
    // Caught up: the next new entry is stored and acknowledged.
    assert.deepEqual(send(p, ae(2, 2, 3, 3, "d")), { response: { term: 2, index: 4, peer: ME, success: true } });
    assert.equal(p.catchup, undefined);
    assert.equal(p.counters.acked, 1);
    p.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a catch-up that starts with the leader's snapshot installs it; the log starts after it, across restarts", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    send(p, ae(1, 0, 0, 0, "stale"));
    const ask = send(p, ae(3, 3, 50, 50));
    assert.equal(ask?.catchupInbox, "$NRG.CR.inbox1");
    const peerState = encodeNrgPeerState({ clusterSize: 4, knownPeers: [LEADER, OTHER, ME], domainExtension: 0 });
    const snap: NrgAppendEntry = { leader: LEADER, term: 3, commit: 50, prevTerm: 3, prevIndex: 48, entries: [{ type: NrgEntryType.Snapshot, data: Buffer.from("meta state") }, { type: NrgEntryType.PeerState, data: peerState }], leaderTerm: 0 };
    // The snapshot goes first with leader term 0, which is accepted on the current catch-up inbox only.
    assert.equal(send(p, snap, "$NRG.CR.inbox1"), undefined);
    assert.equal(p.log.lastIndex, 48);
    assert.equal(p.commit, 48);
    assert.deepEqual([...p.peers].sort(), [LEADER, ME, OTHER]);
    assert.equal(send(p, ae(3, 3, 48, 50, "49", 3), "$NRG.CR.inbox1"), undefined);
    assert.equal(send(p, ae(3, 3, 49, 50, "50", 3), "$NRG.CR.inbox1"), undefined);
    assert.deepEqual(send(p, ae(3, 3, 50, 50)), { response: { term: 3, index: 50, peer: ME, success: true } });
    p.log.close();
    const again = member(dir);
    assert.equal(again.log.snapshot?.lastIndex, 48);
    assert.equal(again.log.snapshot?.data.toString(), "meta state");
    assert.equal(again.log.lastIndex, 50);
    assert.equal(again.log.entryCount, 2);
    assert.equal(again.commit, 48);
    assert.deepEqual([...again.peers].sort(), [LEADER, ME, OTHER]);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith("wal-")).length, 1, "the old generation's WAL is gone");
    again.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a new leader's entry replaces a deposed leader's uncommitted one; a deposed leader is told the term; a late copy truncates nothing", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    send(p, ae(1, 0, 0, 0, "a"));
    send(p, ae(1, 1, 1, 1, "b"));
    send(p, ae(1, 1, 2, 1, "uncommitted"));
    assert.equal(p.log.lastIndex, 3);
    // The new leader (term 2) has index 2 and no index 3: its next entry replaces ours at 3.
    assert.deepEqual(send(p, ae(2, 1, 2, 2, "new 3", 0, OTHER)), { response: { term: 2, index: 3, peer: ME, success: true } });
    assert.equal(p.counters.truncations, 1);
    assert.match((p.log.entryAt(3) as Buffer).toString("latin1"), /new 3/);
    // The deposed leader's late append: refused with our term.
    assert.deepEqual(send(p, ae(1, 1, 3, 3, "old")), { response: { term: 2, index: 3, peer: ME, success: false } });
    send(p, ae(2, 2, 3, 2, "4", 0, OTHER));
    // A late copy of the entry at 4 (its predecessor and itself held): nothing truncated, no answer.
    const before = p.counters.truncations;
    assert.equal(send(p, ae(2, 2, 3, 2, "4", 0, OTHER)), undefined);
    assert.equal(p.counters.truncations, before);
    assert.equal(p.log.lastIndex, 4);
    p.log.close();
    const again = member(dir);
    assert.match((again.log.entryAt(3) as Buffer).toString("latin1"), /new 3/);
    assert.equal(again.log.lastIndex, 4);
    again.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the WAL is compacted up to the commit index: the entries after it are kept, and the log's position and answers do not change, across restarts", () => {
  const dir = tmpDir();
  try {
    const p = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x", Date.now, { entries: 3, bytes: 1 << 30 });
    const peerState = encodeNrgPeerState({ clusterSize: 3, knownPeers: [LEADER, OTHER], domainExtension: undefined });
    send(p, { leader: LEADER, term: 1, commit: 0, prevTerm: 0, prevIndex: 0, entries: [{ type: NrgEntryType.PeerState, data: peerState }], leaderTerm: 0 });
    send(p, { leader: LEADER, term: 1, commit: 1, prevTerm: 1, prevIndex: 1, entries: [{ type: NrgEntryType.AddPeer, data: Buffer.from(ME) }], leaderTerm: 0 });
    // Commits lag one behind: index 3 and 4 arrive with commit 2 and 3.
    send(p, ae(1, 1, 2, 2, "3"));
    assert.equal(p.counters.compactions, 0);
    const a4 = send(p, ae(1, 1, 3, 3, "4"));
    assert.deepEqual(a4, { response: { term: 1, index: 4, peer: ME, success: true } });
    assert.equal(p.counters.compactions, 1);
    assert.equal(p.log.snapshot?.lastIndex, 3);
    assert.equal(p.log.firstIndex, 4);
    assert.equal(p.log.entryCount, 1);
    assert.equal(p.log.lastIndex, 4);
    // A late copy of the entry at 4, whose predecessor was compacted: held, nothing truncated.
    assert.equal(send(p, ae(1, 1, 3, 3, "4")), undefined);
    assert.equal(p.log.lastIndex, 4);
    assert.deepEqual(send(p, ae(1, 1, 4, 4, "5")), { response: { term: 1, index: 5, peer: ME, success: true } });
    p.log.close();
    const again = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x", Date.now, { entries: 3, bytes: 1 << 30 });
    assert.equal(again.log.lastIndex, 5);
    assert.equal(again.log.snapshot?.lastIndex, 3);
    assert.deepEqual([...again.log.entries()].map((e) => e.index), [4, 5]);
    assert.deepEqual([...again.peers].sort(), [LEADER, ME, OTHER], "membership kept through the snapshot");
    // Votes still judge by the last entry: a candidate behind is refused.
    assert.equal(again.receiveVote({ term: 2, lastTerm: 1, lastIndex: 4, candidate: OTHER })?.granted, false);
    assert.equal(again.receiveVote({ term: 2, lastTerm: 1, lastIndex: 5, candidate: OTHER })?.granted, true);
    assert.deepEqual(send(again, ae(2, 1, 5, 5, "6", 0, OTHER)), { response: { term: 2, index: 6, peer: ME, success: true } });
    again.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a member whose removal is committed answers nothing more; a removal truncated away before its commit does not count", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    const remove = (term: number, prevTerm: number, prevIndex: number, commit: number, leader = LEADER): NrgAppendEntry => ({ leader, term, commit, prevTerm, prevIndex, entries: [{ type: NrgEntryType.RemovePeer, data: Buffer.from(ME) }], leaderTerm: 0 });
    send(p, ae(1, 0, 0, 0, "a"));
    // A removal the deposed leader never committed, replaced by the new leader's entry.
    assert.equal(send(p, remove(1, 1, 1, 1))?.response.success, true);
    assert.equal(p.removalIndex, 2);
    assert.equal(send(p, ae(2, 1, 1, 1, "b", 0, OTHER))?.response.success, true);
    assert.equal(p.removalIndex, undefined);
    assert.equal(p.removed, false);
    // A removal stored and then committed: silent from then on.
    assert.equal(send(p, remove(2, 2, 2, 2, OTHER))?.response.success, true);
    assert.equal(p.removed, false);
    assert.equal(send(p, ae(2, 2, 3, 3, undefined, 0, OTHER)), undefined);
    assert.equal(p.removed, true);
    assert.equal(send(p, ae(2, 2, 3, 3, undefined, 0, OTHER)), undefined);
    assert.equal(p.receiveVote({ term: 3, lastTerm: 2, lastIndex: 3, candidate: OTHER }), undefined);
    p.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a storage error makes the member silent: no vote and no acknowledgement it could not store", () => {
  const dir = tmpDir();
  const p = member(dir);
  send(p, ae(1, 0, 0, 0, "a"));
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(p.receiveVote({ term: 5, lastTerm: 1, lastIndex: 1, candidate: OTHER }), undefined);
  assert.notEqual(p.writeError, undefined);
  assert.equal(send(p, ae(5, 1, 1, 1, "b", 0, OTHER)), undefined);
  assert.equal(p.receiveVote({ term: 6, lastTerm: 1, lastIndex: 1, candidate: OTHER }), undefined);
  p.log.close();
});

test("coalesced fsyncs: appends are written without their own fsync and the log says so until syncWal; entries leaving the log bump the epoch", () => {
  const dir = tmpDir();
  try {
    const p = member(dir);
    p.coalesceSync = true;
    assert.equal(send(p, ae(1, 0, 0, 0, "one"))?.response.success, true);
    assert.equal(p.log.dirty, true, "an answer given now must wait for syncWal");
    assert.equal(send(p, ae(1, 1, 1, 1, "two"))?.response.success, true);
    const epoch = p.epoch;
    p.log.syncWal();
    assert.equal(p.log.dirty, false);
    // A new leader's entry replaces the uncommitted one at 2: the epoch moves, so a success
    // answer for the old entry 2 still waiting would be dropped.
    assert.deepEqual(send(p, ae(2, 1, 1, 1, "two-b", 0, OTHER)), { response: { term: 2, index: 2, peer: ME, success: true } });
    assert.ok(p.epoch > epoch);
    assert.equal(p.log.dirty, true);
    p.log.syncWal();
    p.log.close();
    const again = member(dir);
    assert.deepEqual([...again.log.entries()].map((e) => e.term), [1, 2]);
    again.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
