// How a nats-server RAFT follower answers the append entries it receives, as a pure state
// machine over its log position (issue 12's moonshot: the answering half of a tsnats peer of a
// nats-server 2.15 cluster; nrg_peer.ts applies the same rules over a durable log). Facts from nats-server's
// server/raft.go processAppendEntry, checked against the answers real followers sent
// (test/nrg_wire.test.ts replays captured traffic through it).
//
// The rules modelled:
// - one append entry with entries is one log index: the follower stores it when the entry's
//   previous term and index are its own last ones, and its position becomes (entry's term,
//   previous index + 1); a heartbeat (no entries) moves nothing;
// - every append entry arriving on the group's `$NRG.AE.` subject that matches is answered with
//   success, carrying the follower's last log term (not its current term) and last index;
// - one ahead of the follower's log (previous index beyond its last) is answered with failure,
//   its last term and index, and a reply inbox `$NRG.CR.<x>` where the leader then sends the
//   catch-up (a snapshot and the stored entries);
// - one behind or conflicting (previous index at or below its last, other term) makes it
//   truncate or ignore: not modelled here (`unmodelled`), as a real peer would need its log.
// Votes (processVoteRequest): a request of an older term is refused with ours; a newer term is
// adopted (forgetting the vote); the vote is granted when this member has not voted for another
// in the term and the candidate's last term is higher, or equal with a last index at least
// ours. `empty` says this member's log is empty, except while a new group is initializing (no
// entry stored yet), so that a new group's first election needs a quorum, not every member:
// a candidate counts empty votes only once every member has voted.
// Order: a member takes append entries and vote requests from two queues and serves whichever is
// ready (runAsFollower), so the order it applies them in is not always the order they arrived
// in: a candidate's first appends as leader can be stored before its vote request is answered.
import type { NrgAppendEntry, NrgAppendEntryResponse, NrgVoteRequest, NrgVoteResponse } from "./nrg_wire.js";

export type NrgFollowerAnswer =
  | { kind: "success"; response: NrgAppendEntryResponse }
  | { kind: "catchup"; response: NrgAppendEntryResponse }
  | { kind: "unmodelled"; reason: string };

export class NrgFollowerLog {
  /** Term of the last entry in the log, and its index (0, 0: empty). */
  lastTerm: number;
  lastIndex: number;

  constructor(
    readonly peer: string,
    lastTerm = 0,
    lastIndex = 0,
  ) {
    this.lastTerm = lastTerm;
    this.lastIndex = lastIndex;
  }

  /** The current term and the candidate voted for in it ("" none). */
  term = 0;
  votedFor = "";
  /** A new group's member that has stored nothing yet. */
  initializing = true;

  /** The leader's own log moves with what it sends. */
  sent(ae: NrgAppendEntry): void {
    this.term = Math.max(this.term, ae.term);
    if (ae.entries.length > 0 && ae.prevIndex === this.lastIndex) {
      this.initializing = false;
      this.lastTerm = ae.term;
      this.lastIndex = ae.prevIndex + 1;
    }
  }

  /** What this follower answers to an append entry on the group's subject. */
  receive(ae: NrgAppendEntry): NrgFollowerAnswer {
    // A catch-up's entries carry the leader's current term at their end.
    const leaderTerm = ae.leaderTerm !== undefined && ae.leaderTerm !== 0 ? ae.leaderTerm : ae.term;
    if (leaderTerm > this.term) {
      this.term = leaderTerm;
      this.votedFor = "";
    }
    if (ae.prevTerm === this.lastTerm && ae.prevIndex === this.lastIndex) {
      if (ae.entries.length > 0) {
        this.initializing = false;
        this.lastTerm = ae.term;
        this.lastIndex = ae.prevIndex + 1;
      }
      return { kind: "success", response: { term: this.lastTerm, index: this.lastIndex, peer: this.peer, success: true } };
    }
    if (ae.prevIndex > this.lastIndex) return { kind: "catchup", response: { term: this.lastTerm, index: this.lastIndex, peer: this.peer, success: false } };
    return { kind: "unmodelled", reason: `previous [${ae.prevTerm}:${ae.prevIndex}] against the log's [${this.lastTerm}:${this.lastIndex}]` };
  }

  /** A catch-up's first append installs the leader's snapshot: the log starts after it. */
  installSnapshot(lastTerm: number, lastIndex: number): void {
    this.lastTerm = lastTerm;
    this.lastIndex = lastIndex;
    this.initializing = false;
  }

  /** This member campaigns: a new term, its own vote. */
  campaign(vr: NrgVoteRequest): void {
    this.term = vr.term;
    this.votedFor = this.peer;
  }

  /** What this member answers to a vote request (the candidate answers its own too). */
  vote(vr: NrgVoteRequest): NrgVoteResponse {
    const response: NrgVoteResponse = { term: this.term, peer: this.peer, granted: false, empty: this.lastIndex === 0 };
    if (vr.term < this.term) return response;
    if (vr.term > this.term) {
      this.term = vr.term;
      this.votedFor = "";
    }
    const free = this.votedFor === "" || this.votedFor === vr.candidate;
    if (free && response.empty && this.initializing) response.empty = false;
    if (free && (vr.lastTerm > this.lastTerm || (vr.lastTerm === this.lastTerm && vr.lastIndex >= this.lastIndex))) {
      this.votedFor = vr.candidate;
      response.granted = true;
    }
    response.term = this.term;
    return response;
  }
}
