// How a nats-server RAFT follower answers the append entries it receives, as a pure state
// machine over its log position (issue 12's moonshot: the answering half a tsnats peer of a
// nats-server 2.15 cluster will need; nothing runs it yet). Facts from nats-server's
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
import type { NrgAppendEntry, NrgAppendEntryResponse } from "./nrg_wire.js";

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

  /** The leader's own log moves with what it sends. */
  sent(ae: NrgAppendEntry): void {
    if (ae.entries.length > 0 && ae.prevIndex === this.lastIndex) {
      this.lastTerm = ae.term;
      this.lastIndex = ae.prevIndex + 1;
    }
  }

  /** What this follower answers to an append entry on the group's subject. */
  receive(ae: NrgAppendEntry): NrgFollowerAnswer {
    if (ae.prevTerm === this.lastTerm && ae.prevIndex === this.lastIndex) {
      if (ae.entries.length > 0) {
        this.lastTerm = ae.term;
        this.lastIndex = ae.prevIndex + 1;
      }
      return { kind: "success", response: { term: this.lastTerm, index: this.lastIndex, peer: this.peer, success: true } };
    }
    if (ae.prevIndex > this.lastIndex) return { kind: "catchup", response: { term: this.lastTerm, index: this.lastIndex, peer: this.peer, success: false } };
    return { kind: "unmodelled", reason: `previous [${ae.prevTerm}:${ae.prevIndex}] against the log's [${this.lastTerm}:${this.lastIndex}]` };
  }
}
