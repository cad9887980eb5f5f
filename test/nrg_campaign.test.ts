// A campaigning tsnats member of a nats-server RAFT group (src/cluster/nrg_campaign.ts over
// src/cluster/nrg_peer.ts), deterministic: a candidate's term and self-vote stored before its
// request, elected by a quorum of non-empty votes, a higher term in an answer ends the campaign,
// the leader's first entry (its peer state) committed once a follower stored it, a follower
// behind caught up with the leader's log re-sent under its leadership, and the LeaderTransfer to
// an up-to-date follower that ends the leadership. The live half is test/nrg_peer_stream.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NrgPeerLog } from "../src/cluster/nrg_peer_log.js";
import { NrgPeer } from "../src/cluster/nrg_peer.js";
import { NrgCampaign } from "../src/cluster/nrg_campaign.js";
import { decodeNrgAppendEntry, encodeNrgAppendEntry, encodeNrgPeerState, NrgEntryType, type NrgAppendEntry } from "../src/cluster/nrg_wire.js";

const ME = "MEMBER03";
const A = "NATSSRV1";
const B = "NATSSRV2";

test("a campaigning member is elected by a quorum, commits its first entry once a follower stored it, catches a follower up, and hands its leadership to an up-to-date follower", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-campaign-"));
  try {
    const peer = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x");
    // Two entries from A's leadership in term 1: the group's peer state, then one more.
    const first: NrgAppendEntry = { leader: A, term: 1, commit: 0, prevTerm: 0, prevIndex: 0, entries: [{ type: NrgEntryType.PeerState, data: encodeNrgPeerState({ clusterSize: 3, knownPeers: [A, B, ME], domainExtension: undefined }) }], leaderTerm: 0 };
    const second: NrgAppendEntry = { leader: A, term: 1, commit: 1, prevTerm: 1, prevIndex: 1, entries: [{ type: NrgEntryType.Normal, data: Buffer.from([4]) }], leaderTerm: 0 };
    for (const ae of [first, second]) peer.receiveAppend(ae, encodeNrgAppendEntry(ae));
    peer.receiveAppend({ ...second, prevIndex: 2, commit: 2, entries: [] }, encodeNrgAppendEntry({ ...second, prevIndex: 2, commit: 2, entries: [] }));
    assert.equal(peer.commit, 2);
    const c = new NrgCampaign(peer);

    // A higher term in an answer: back to follower of it.
    const vr1 = c.campaign();
    assert.deepEqual(vr1, { term: 2, lastTerm: 1, lastIndex: 2, candidate: ME });
    assert.equal(peer.log.vote, ME, "the self-vote is stored before the request leaves");
    assert.equal(c.receiveVoteResponse({ term: 5, peer: A, granted: false, empty: false }), false);
    assert.equal(peer.role, "follower");
    assert.equal(peer.log.term, 5);

    // Elected with B's vote (2 of 3); an empty log's vote alone is not a quorum.
    const vr2 = c.campaign();
    assert.equal(vr2?.term, 6);
    assert.equal(c.receiveVoteResponse({ term: 6, peer: A, granted: true, empty: true }), false);
    assert.equal(c.receiveVoteResponse({ term: 6, peer: B, granted: true, empty: false }), true);
    const raw = c.becomeLeader();
    assert.ok(raw !== undefined);
    const ae = decodeNrgAppendEntry(raw);
    assert.deepEqual([ae.leader, ae.term, ae.prevTerm, ae.prevIndex, ae.leaderTerm, ae.entries[0].type], [ME, 6, 1, 2, 6, NrgEntryType.PeerState]);
    assert.equal(peer.log.lastIndex, 3, "stored before it is sent");
    assert.equal(c.transfer(), undefined, "nothing handed over before the first entry is committed");

    // B stored it: committed (2 of 3). A answers from index 1: it gets entries 2 and 3 under our leadership.
    assert.equal(c.receiveAppendResponse({ term: 6, index: 3, peer: B, success: true }), undefined);
    assert.equal(peer.commit, 3);
    const catchup = c.receiveAppendResponse({ term: 6, index: 1, peer: A, success: false })?.map((b) => decodeNrgAppendEntry(b));
    assert.deepEqual(
      catchup?.map((e) => [e.leader, e.term, e.prevIndex, e.leaderTerm]),
      [
        [ME, 1, 1, 6],
        [ME, 6, 2, 6],
      ],
    );
    // Handed to B, the up-to-date follower: a stored LeaderTransfer, and a follower again.
    const handover = c.transfer();
    assert.ok(handover !== undefined);
    const t = decodeNrgAppendEntry(handover);
    assert.deepEqual([t.entries[0].type, t.entries[0].data.toString("latin1"), t.prevIndex], [NrgEntryType.LeaderTransfer, B, 3]);
    assert.equal(peer.role, "follower");
    assert.equal(c.heartbeat(), undefined);
    peer.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a LeaderTransfer naming this member in a new append asks it to campaign", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-campaign-"));
  try {
    const peer = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x");
    const ae: NrgAppendEntry = { leader: A, term: 1, commit: 0, prevTerm: 0, prevIndex: 0, entries: [{ type: NrgEntryType.LeaderTransfer, data: Buffer.from(ME) }], leaderTerm: 0 };
    peer.receiveAppend(ae, encodeNrgAppendEntry(ae));
    assert.equal(peer.transferToMe, true);
    peer.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a member of a new group that has stored no membership yet counts its quorum over the assigned members, never over itself alone", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-campaign-"));
  try {
    const peer = new NrgPeer(ME, new NrgPeerLog(dir), () => "$NRG.CR.x");
    const c = new NrgCampaign(peer);
    assert.equal(c.campaign(), undefined, "no known membership: it does not run");
    c.members = () => [A, B, ME];
    const vr = c.campaign();
    assert.deepEqual(vr, { term: 1, lastTerm: 0, lastIndex: 0, candidate: ME });
    assert.equal(peer.role, "candidate", "its own vote is not a quorum of three");
    assert.equal(c.receiveVoteResponse({ term: 1, peer: A, granted: true, empty: false }), true);
    const first = decodeNrgAppendEntry(c.becomeLeader() ?? Buffer.alloc(0));
    assert.equal(first.entries[0].type, NrgEntryType.PeerState);
    // Its first entry commits only once a follower stored it.
    assert.equal(peer.commit, 0);
    assert.equal(c.leading, false);
    c.receiveAppendResponse({ term: 1, index: 1, peer: B, success: true });
    assert.equal(peer.commit, 1);
    assert.equal(c.leading, true);
    peer.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
