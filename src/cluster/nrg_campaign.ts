// A tsnats member of a nats-server stream group that campaigns (issue 12's moonshot, step 4,
// experimental: `cluster { nrg_peer_campaign: true }` with nrg_peer_streams). The RAFT half of
// leading, in nats-server's dialect (raft.go switchToCandidate, requestVote, runAsCandidate,
// switchToLeader, sendAppendEntry, processAppendEntryResponse, StepDown):
// - a candidate takes the next term and votes for itself (stored first), asks the group for
//   votes on `$NRG.V.<group>`, and wins with a quorum of granted votes from non-empty logs (or
//   with every member's vote); a higher term in an answer makes it a follower of that term;
// - elected, it appends its peer state (nats-server's no-op of a new leader), sends heartbeats,
//   counts the followers' acknowledgements into the commit index (an entry of its own term
//   stored by a quorum), and catches up a follower that answers behind with the entries of its
//   log, re-sent under its own leadership;
// - tsnats does not run a stream leader's JetStream half (it answers no publish), so once its
//   first entry is committed (its appends accepted by a quorum of nats-server followers) it
//   hands its leadership to an up-to-date follower with a LeaderTransfer entry, as
//   nats-server's StepDown(preferred) does, and follows again; unless `keep` says this member
//   runs the group's leader half (`nrg_peer_lead`, nrg_stream_leader.ts): then it stays leader
//   and proposes that half's entries (`propose`).
// Pure: the group member (nrg_group_member.ts) runs its timers and sends what it returns.
import { encodeNrgAppendEntry, encodeNrgPeerState, decodeNrgAppendEntry, NrgEntryType, type NrgAppendEntry, type NrgAppendEntryResponse, type NrgEntry, type NrgVoteRequest, type NrgVoteResponse } from "./nrg_wire.js";
import type { NrgPeer } from "./nrg_peer.js";

/** nats-server's lostQuorumInterval (raft.go: 10 heartbeats): a leader not heard from by a quorum this long steps down. */
export const LOST_QUORUM_MS = 10_000;

export class NrgCampaign {
  private readonly votes = new Set<string>();
  private readonly emptyVotes = new Set<string>();
  /** Followers' acknowledged last index, this term. */
  private readonly match = new Map<string, number>();
  /** When each follower last answered this term (ms). */
  private readonly seen = new Map<string, number>();
  /** When this member last became leader (ns), for stream info's leader_since. */
  leaderSinceNs = 0n;
  /** The index of this leadership's first entry: once committed, followers took our appends. */
  leadStartIndex = 0;
  /** The term this member last led and the commit it reached in it (for /jsz). */
  lastLed: { term: number; firstIndex: number; committed: number } | undefined;
  counters = { campaigns: 0, elected: 0, heartbeats: 0, catchupEntries: 0, transfers: 0, proposals: 0, snapshotsSent: 0, lostQuorum: 0 };
  /** The leader half's state as a snapshot for a follower behind our compacted log (undefined: none to send). */
  snapshotData: (() => Buffer | undefined) | undefined;
  /**
   * The group's members as its assignment names them (nats-server starts a group with that peer
   * set): before any membership entry is stored, the quorum is counted over them, never over
   * this member alone.
   */
  members: () => string[] = () => [];
  /** True while this member may keep the leadership (it runs the group's leader half). */
  keep: () => boolean = () => false;

  constructor(private readonly peer: NrgPeer) {}

  /**
   * Leading with everything of earlier terms applied: nats-server's leader tells its upper
   * layer only once its first entry is applied (raft.go aflr), so its state is the last leader's.
   */
  get leading(): boolean {
    const p = this.peer;
    return p.role === "leader" && this.leadStartIndex > 0 && p.applied >= this.leadStartIndex;
  }

  /** Entries of the leader half as one append of ours (stored first); undefined when not leading or on a write error. */
  propose(entries: NrgEntry[]): Buffer | undefined {
    if (this.peer.role !== "leader" || entries.length === 0) return undefined;
    const raw = this.append(entries);
    if (raw !== undefined) this.counters.proposals += entries.length;
    return raw;
  }

  /** Majority of the group as its membership says (nats-server's quorum). */
  private quorum(): number {
    return Math.floor(this.size() / 2) + 1;
  }

  private size(): number {
    return Math.max(this.peer.clusterSize, this.peer.peers.size, this.members().length, 1);
  }

  /** Start an election: the vote request to send, or undefined when this member may not run now. */
  campaign(): NrgVoteRequest | undefined {
    const p = this.peer;
    // nats-server does not campaign behind on applies, nor outside its group's peer set.
    const inGroup = p.peers.size > 0 ? p.peers.has(p.id) : this.members().includes(p.id);
    if (p.writeError !== undefined || p.removed || p.catchup !== undefined || p.applied < p.commit || !inGroup) return undefined;
    if (!p.startTerm()) return undefined;
    p.role = "candidate";
    this.votes.clear();
    this.emptyVotes.clear();
    this.votes.add(p.id);
    this.counters.campaigns++;
    return { term: p.log.term, lastTerm: p.log.lastTerm, lastIndex: p.log.lastIndex, candidate: p.id };
  }

  /** A candidate alone in its group (an R1 asset, `NrgGroupMember.solo`): its own vote is a quorum. */
  electedAlone(): boolean {
    return this.peer.role === "candidate" && this.votes.size >= this.quorum();
  }

  /** A group of one member: what it stored of this term is committed (no follower to answer). */
  commitAlone(): void {
    if (this.peer.role === "leader" && this.quorum() === 1) this.advanceCommit();
  }

  /** A vote answer: true when it makes this candidate the leader (then `becomeLeader`). */
  receiveVoteResponse(vr: NrgVoteResponse): boolean {
    const p = this.peer;
    if (p.role !== "candidate") return false;
    if (vr.term > p.log.term) {
      p.adoptTerm(vr.term);
      return false;
    }
    if (!vr.granted || vr.term !== p.log.term) return false;
    (vr.empty ? this.emptyVotes : this.votes).add(vr.peer);
    return this.votes.size >= this.quorum() || this.votes.size + this.emptyVotes.size >= this.size();
  }

  /** Elected: our peer state as this term's first entry, stored; the append to send. */
  becomeLeader(): Buffer | undefined {
    const p = this.peer;
    p.role = "leader";
    p.leader = p.id;
    this.match.clear();
    this.seen.clear();
    this.leaderSinceNs = BigInt(Date.now()) * 1_000_000n;
    const state = encodeNrgPeerState({ clusterSize: this.size(), knownPeers: [...new Set([...(p.peers.size > 0 ? p.peers : this.members()), p.id])], domainExtension: undefined });
    const raw = this.append([{ type: NrgEntryType.PeerState, data: state }]);
    if (raw === undefined) return undefined;
    this.counters.elected++;
    this.leadStartIndex = p.log.lastIndex;
    this.lastLed = { term: p.log.term, firstIndex: this.leadStartIndex, committed: p.commit };
    return raw;
  }

  /** An append entry of ours: stored first when it has entries. */
  private append(entries: NrgEntry[]): Buffer | undefined {
    const p = this.peer;
    const log = p.log;
    const ae: NrgAppendEntry = { leader: p.id, term: log.term, commit: p.commit, prevTerm: log.lastTerm, prevIndex: log.lastIndex, entries, leaderTerm: log.term };
    const raw = encodeNrgAppendEntry(ae);
    if (entries.length > 0 && !p.storeOwn(ae, raw)) {
      p.role = "follower";
      p.leader = "";
      return undefined;
    }
    return raw;
  }

  heartbeat(): Buffer | undefined {
    if (this.peer.role !== "leader") return undefined;
    this.counters.heartbeats++;
    return this.append([]);
  }

  /**
   * A follower's answer to our appends: counted toward the commit when it stored them; a
   * follower behind gets the entries of our log after its position (undefined: nothing to send).
   */
  receiveAppendResponse(ar: NrgAppendEntryResponse): Buffer[] | undefined {
    const p = this.peer;
    if (p.role !== "leader") return undefined;
    if (ar.term > p.log.term) {
      p.adoptTerm(ar.term);
      return undefined;
    }
    this.seen.set(ar.peer, Date.now());
    if (ar.success) {
      if (ar.index > (this.match.get(ar.peer) ?? 0)) this.match.set(ar.peer, ar.index);
      this.advanceCommit();
      return undefined;
    }
    if (ar.index >= p.log.lastIndex) return undefined;
    const out: Buffer[] = [];
    let from = ar.index + 1;
    const first = p.log.firstIndex;
    if ((first === undefined || from < first) && p.log.entryAt(from) === undefined) {
      // Compacted away: the group's state as of what we applied, then our log after it.
      const snap = this.snapshotAt();
      if (snap === undefined) return undefined;
      out.push(snap);
      this.counters.snapshotsSent++;
      from = p.applied + 1;
    }
    for (let index = from; index <= p.log.lastIndex; index++) {
      const stored = p.log.entryAt(index);
      if (stored === undefined) return out.length > 0 ? out : undefined;
      const ae = decodeNrgAppendEntry(stored);
      out.push(encodeNrgAppendEntry({ ...ae, leader: p.id, commit: p.commit, leaderTerm: p.log.term }));
    }
    this.counters.catchupEntries += out.length;
    return out;
  }

  /**
   * A catch-up's first append for a follower behind our compacted log (raft.go sendSnapshotToFollower):
   * [Snapshot, PeerState] at our applied index, the snapshot the leader half's state there.
   */
  private snapshotAt(): Buffer | undefined {
    const p = this.peer;
    const data = this.snapshotData?.();
    if (data === undefined) return undefined;
    const at = p.applied;
    const stored = p.log.entryAt(at);
    const term = stored !== undefined ? decodeNrgAppendEntry(stored).term : p.log.snapshot?.lastIndex === at ? p.log.snapshot.lastTerm : undefined;
    if (term === undefined) return undefined;
    const state = encodeNrgPeerState({ clusterSize: this.size(), knownPeers: [...new Set([...p.peers, p.id])], domainExtension: undefined });
    return encodeNrgAppendEntry({ leader: p.id, term: p.log.term, commit: p.commit, prevTerm: term, prevIndex: at, entries: [{ type: NrgEntryType.Snapshot, data }, { type: NrgEntryType.PeerState, data: state }], leaderTerm: p.log.term });
  }

  /** The highest index a quorum (this member included) has stored, if it is of this term, becomes the commit. */
  private advanceCommit(): void {
    const p = this.peer;
    // A member removed from the group (RemovePeer stored) counts no more.
    const counted = ([peer]: [string, number]): boolean => peer !== p.id && !p.removedPeers.has(peer);
    // Nor does this leader once a RemovePeer naming it is stored (raft.go counts its own ack only while it is among its peers).
    const own = p.removedPeers.has(p.id) ? [] : [p.log.lastIndex];
    const stored = [...own, ...[...this.match.entries()].filter(counted).map(([, index]) => index)].sort((a, b) => b - a);
    const n = stored[this.quorum() - 1];
    if (n === undefined || n <= p.commit) return;
    const raw = p.log.entryAt(n);
    if (raw === undefined || decodeNrgAppendEntry(raw).term !== p.log.term) return;
    p.commitTo(n);
    if (this.lastLed !== undefined) this.lastLed.committed = p.commit;
  }

  /**
   * Once this leadership's first entry is committed: a LeaderTransfer to an up-to-date follower
   * (stored and to be sent), and this member follows again. Undefined while it must wait.
   */
  transfer(): Buffer | undefined {
    const p = this.peer;
    if (p.role !== "leader" || p.commit < this.leadStartIndex || this.keep()) return undefined;
    let to: string | undefined;
    for (const [peer, index] of this.match) if (peer !== p.id && index >= p.log.lastIndex && (to === undefined || peer < to)) to = peer;
    if (to === undefined) return undefined;
    const raw = this.append([{ type: NrgEntryType.LeaderTransfer, data: Buffer.from(to, "latin1") }]);
    p.role = "follower";
    p.leader = "";
    if (raw !== undefined) this.counters.transfers++;
    return raw;
  }

  /**
   * A leader whose own removal (a RemovePeer naming it) is committed: a LeaderTransfer to an
   * up-to-date follower (stored, to be sent), and the member is out of the group for good, as
   * raft.go's leader steps down and stops on errNodeRemoved. Undefined when that is not the case.
   */
  leaveIfRemoved(): { transfer: Buffer | undefined } | undefined {
    const p = this.peer;
    if (p.role !== "leader" || p.removalIndex === undefined || p.commit < p.removalIndex) return undefined;
    const transfer = this.stepDown(undefined);
    p.removed = true;
    return { transfer };
  }

  /**
   * Leading for the lost-quorum interval without a quorum of members (this one included) heard
   * from within it: nats-server's leader then steps down to a follower without a leader
   * (runAsLeader's lostQuorum check), so a leader cut off from its group stops answering as one
   * and its clients go to the new leader. `members`: the group's peers.
   */
  lostQuorum(members: string[], now: number): boolean {
    const p = this.peer;
    if (p.role !== "leader" || now - Number(this.leaderSinceNs / 1_000_000n) < LOST_QUORUM_MS) return false;
    let live = 1;
    for (const id of members) {
      const seen = this.seen.get(id);
      if (id !== p.id && seen !== undefined && now - seen < LOST_QUORUM_MS) live++;
    }
    return live < this.quorum();
  }

  /** Step down to a follower without a leader (nats-server's stepdown(noLeader)): nothing appended. */
  stepDownNoLeader(): void {
    const p = this.peer;
    if (p.role !== "leader") return;
    p.role = "follower";
    p.leader = "";
    this.counters.lostQuorum++;
  }

  /**
   * What the leader knows of each other member (nats-server's Peer: current once it has stored
   * what is committed and answered within the lost-quorum interval; lag in entries; last answer).
   */
  followers(members: string[], lostQuorumMs: number): { id: string; current: boolean; lag: number; lastSeenMs: number | undefined }[] {
    const p = this.peer;
    const now = Date.now();
    return members
      .filter((id) => id !== p.id)
      .map((id) => {
        const index = this.match.get(id) ?? 0;
        const seen = this.seen.get(id);
        const lastSeenMs = seen === undefined ? undefined : now - seen;
        return { id, current: seen !== undefined && index >= p.commit && lastSeenMs !== undefined && lastSeenMs <= lostQuorumMs, lag: Math.max(0, p.log.lastIndex - index), lastSeenMs };
      });
  }

  /**
   * nats-server's StepDown(preferred): a LeaderTransfer to the preferred member when it is up to
   * date (else to another that is), stored and to be sent; without one up to date, just a follower.
   */
  stepDown(preferred: string | undefined): Buffer | undefined {
    const p = this.peer;
    if (p.role !== "leader") return undefined;
    const upToDate = (peer: string): boolean => peer !== p.id && (this.match.get(peer) ?? 0) >= p.log.lastIndex;
    let to = preferred !== undefined && upToDate(preferred) ? preferred : undefined;
    if (to === undefined) for (const peer of [...this.match.keys()].sort()) if (upToDate(peer)) to = to ?? peer;
    const raw = to === undefined ? undefined : this.append([{ type: NrgEntryType.LeaderTransfer, data: Buffer.from(to, "latin1") }]);
    p.role = "follower";
    p.leader = "";
    if (raw !== undefined) this.counters.transfers++;
    return raw;
  }

  json(): Record<string, unknown> {
    return { role: this.peer.role, counters: { ...this.counters }, ...(this.lastLed !== undefined ? { last_led: { ...this.lastLed } } : {}) };
  }
}
