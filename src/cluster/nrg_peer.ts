// A voting member of one nats-server RAFT group that never campaigns unless told to (issue 12's
// moonshot, `cluster { nrg_peer: true }`; `nrg_peer_campaign` lets stream groups' members run
// elections and lead briefly, nrg_campaign.ts): the decisions of nats-server's follower (raft.go
// processAppendEntry, processVoteRequest; modelled and checked against real traffic in
// nrg_follower_log.ts) over a durable log (nrg_peer_log.ts). It is an observer in nats-server's
// sense: it stores and acknowledges append entries and grants votes, but its election timer
// never makes it a candidate, and a LeaderTransfer naming it is not acted on (raft.go's
// observer does the same: "Not switching to candidate, observer only").
// Pure of sockets and timers: each call returns the answer to send, if any, and the service
// (nrg_meta_peer.ts) sends it. Safety rules that go beyond nats-server, all "do not answer":
// - after a storage error the member answers nothing until restarted (nats-server's werr);
// - a position it cannot place (its last entry missing where the leader's previous term
//   differs) resets its log and asks for a catch-up instead of relabelling the position.
import { decodeNrgAppendEntry, decodeNrgPeerState, encodeNrgPeerState, NrgEntryType, type NrgAppendEntry, type NrgAppendEntryResponse, type NrgVoteRequest, type NrgVoteResponse } from "./nrg_wire.js";
import type { NrgPeerLog } from "./nrg_peer_log.js";

/** What to send after handling an append entry: an append entry response, maybe with a catch-up inbox as its reply. */
export interface NrgPeerAnswer {
  response: NrgAppendEntryResponse;
  /** Reply subject of the response: the `$NRG.CR.` inbox the leader is to send the catch-up to. */
  catchupInbox?: string;
}

interface Catchup {
  inbox: string;
  /** The leader's position that started it: caught up once the log reaches it. */
  cterm: number;
  cindex: number;
  /** Our position when last seen moving, and when (stall detection). */
  pindex: number;
  active: number;
}

/** nats-server's catch-up stall time (raft.go catchupStalled). */
const CATCHUP_STALL_MS = 2000;

/**
 * When the WAL is compacted up to the commit index (it would grow forever otherwise): this many
 * entries or bytes (nats-server's meta layer compacts its own at 8 MB, and whenever a peer is
 * added or removed). The snapshot left holds the membership only: this member never leads, so
 * it never sends a snapshot, and it applies no meta state.
 */
export interface NrgCompaction {
  entries: number;
  bytes: number;
}
const DEFAULT_COMPACTION: NrgCompaction = { entries: 8192, bytes: 8 * 1024 * 1024 };

/**
 * What a group's committed entries build (the meta state, a stream's store): entries are
 * applied in index order once committed, never before. A snapshot (the leader's, or our own
 * compaction's after a restart) replaces the state; its data is what `snapshot()` returns.
 */
export interface NrgApplier {
  apply(index: number, ae: NrgAppendEntry): void;
  install(data: Buffer, index: number): void;
  /** The log was reset: nothing applied is known to be in it any more. */
  reset(): void;
  /** `index`: the log position the snapshot stands for (at most the last applied). */
  snapshot(index: number): Buffer;
  /** True while applying waits (a stream fetching what a snapshot said it lacks); `resumeApply` goes on. */
  holding?(): boolean;
  /**
   * The last applied index whose effects are durable (a stream's store fsyncs on its own
   * schedule): the WAL is not compacted past it. Without it, applied means durable.
   */
  durableIndex?(): number;
  /**
   * Why the applier cannot go on from its log (a stream whose store and log disagree): the log
   * is reset and the leader catches the member up again (nats-server's resetClusteredState,
   * which deletes the group's RAFT state and keeps the store). Asked after each applying run.
   */
  resetWanted?(): string | undefined;
}

export class NrgPeer {
  /** The leader's id as last seen in this term ("" none), and when it was last heard from. */
  leader = "";
  leaderSeenAt = 0;
  commit: number;
  /** A member that has stored nothing yet (a new group's first election counts its vote as non-empty). */
  initializing: boolean;
  /** The group's peers and size as the applied membership entries say. */
  peers = new Set<string>();
  /** Peers a stored RemovePeer took out (raft.go's removed): their answers count no more. */
  readonly removedPeers = new Set<string>();
  clusterSize = 0;
  catchup: Catchup | undefined;
  /** A storage error: the member is silent from then on. */
  writeError: string | undefined;
  /**
   * The log index of a stored RemovePeer naming this member; once it is committed the member
   * is out of the group and silent (nats-server disables JetStream on a server removed from the
   * meta group: it must not answer, or the leader would add it back as a new peer).
   */
  removalIndex: number | undefined;
  /** The log index of the last stored AddPeer or RemovePeer. */
  private membershipIndex = 0;
  removed = false;
  counters = { appends: 0, stored: 0, acked: 0, catchups: 0, snapshots: 0, truncations: 0, resets: 0, ignored: 0, votesGranted: 0, votesRefused: 0, compactions: 0, applyErrors: 0 };
  /**
   * Appends are written without their own fsync; the caller makes the WAL durable (`log.syncWal`)
   * before it sends any answer given while `log.dirty` (several appends of one turn, one fsync).
   */
  coalesceSync = false;
  /**
   * Bumped whenever entries leave the log (truncation, reset, a snapshot installed): a success
   * answer given in an earlier epoch may name an entry no longer held, and must not be sent.
   */
  epoch = 0;
  /**
   * Follower unless this member campaigns (`nrg_peer_campaign`, nrg_campaign.ts): a candidate or
   * the leader. Any append from another leader in its term or later makes it a follower again.
   */
  role: "follower" | "candidate" | "leader" = "follower";
  /** A new append named this member in a LeaderTransfer entry: it is to campaign at once (raft.go xferCampaign). */
  transferToMe = false;
  /** When a vote was last granted (the election timer starts over then, as nats-server's). */
  voteGrantedAt = 0;
  /** The last index applied (always <= commit). */
  applied: number;
  lastApplyError: string | undefined;
  /** Entries stored but not applied yet, decoded when they arrived (read back from the WAL otherwise). */
  private readonly unapplied = new Map<number, NrgAppendEntry>();

  constructor(
    readonly id: string,
    readonly log: NrgPeerLog,
    private readonly newInbox: () => string,
    private readonly now: () => number = Date.now,
    private readonly compaction: NrgCompaction = DEFAULT_COMPACTION,
    private readonly applier?: NrgApplier,
  ) {
    // What the log holds is at least as committed as its snapshot; the entries after it are
    // applied once a leader says they are committed.
    this.commit = log.snapshot?.lastIndex ?? 0;
    this.applied = this.commit;
    this.initializing = log.empty;
    if (log.snapshot !== undefined) {
      this.applyPeerState(log.snapshot.peerState);
      this.applier?.install(log.snapshot.data, log.snapshot.lastIndex);
    }
    for (const e of log.entries()) {
      try {
        this.applyMembership(decodeNrgAppendEntry(e.appendEntry), e.index);
      } catch {
        // Stored bytes decoded when they arrived; nothing else to learn from them.
      }
    }
  }

  /** A storage error found outside this class (the WAL's coalesced fsync): silent from now on. */
  storageFailed(err: unknown): void {
    this.failed(err);
  }

  private failed(err: unknown): undefined {
    this.writeError = (err as Error).message;
    return undefined;
  }

  private setTerm(term: number, vote: string): boolean {
    try {
      this.log.setTermVote(term, vote);
      return true;
    } catch (err) {
      this.failed(err);
      return false;
    }
  }

  private cancelCatchup(): void {
    this.catchup = undefined;
  }

  private startCatchup(ae: NrgAppendEntry): NrgPeerAnswer {
    this.counters.catchups++;
    this.catchup = { inbox: this.newInbox(), cterm: ae.prevTerm, cindex: ae.prevIndex, pindex: this.log.lastIndex, active: this.now() };
    return { response: this.failure(this.log.lastTerm), catchupInbox: this.catchup.inbox };
  }

  private failure(term: number): NrgAppendEntryResponse {
    return { term, index: this.log.lastIndex, peer: this.id, success: false };
  }

  /**
   * An append entry from the group's subject (`viaCatchupInbox` undefined: a new one) or from a
   * catch-up inbox. Returns what to answer, or undefined for silence.
   */
  receiveAppend(ae: NrgAppendEntry, raw: Buffer, viaCatchupInbox?: string): NrgPeerAnswer | undefined {
    if (this.writeError !== undefined || this.removed) return undefined;
    this.counters.appends++;
    const log = this.log;
    const isNew = viaCatchupInbox === undefined;
    const lterm = ae.leaderTerm !== undefined && ae.leaderTerm !== 0 ? ae.leaderTerm : ae.term;
    let catchingUp = this.catchup !== undefined;
    // Only the current catch-up inbox is listened to (nats-server also takes entries from an old
    // one when they carry the leader's term and do not go back: stricter here, nothing lost).
    if (!isNew && (!catchingUp || this.catchup?.inbox !== viaCatchupInbox)) {
      this.counters.ignored++;
      return undefined;
    }
    if (lterm > log.term) {
      if (!this.setTerm(lterm, "")) return undefined;
    } else if (lterm < log.term && (isNew || (ae.leaderTerm ?? 0) !== 0)) {
      this.counters.ignored++;
      if (!isNew) return undefined;
      // A deposed leader: tell it our term.
      return { response: { term: log.term, index: log.lastIndex, peer: this.id, success: false } };
    }
    if (catchingUp && this.catchup !== undefined) {
      const cs = this.catchup;
      if (log.lastTerm >= cs.cterm && log.lastIndex >= cs.cindex) {
        this.cancelCatchup();
        catchingUp = false;
      } else if (isNew) {
        // New entries wait while catching up; a catch-up that stopped moving is asked for again.
        if (cs.pindex !== log.lastIndex) {
          cs.pindex = log.lastIndex;
          cs.active = this.now();
          return undefined;
        }
        if (this.now() - cs.active <= CATCHUP_STALL_MS) return undefined;
        return this.startCatchup(ae);
      }
    }
    if (isNew && ae.leader === this.id) return undefined; // our own append, heard back
    if (isNew && this.role !== "follower" && lterm >= log.term) this.role = "follower";
    if (isNew && this.leader !== ae.leader) this.leader = ae.leader;
    if (isNew && ae.leader !== "" && ae.leader === this.leader) this.leaderSeenAt = this.now();

    if (ae.prevTerm !== log.lastTerm || ae.prevIndex !== log.lastIndex) {
      if (ae.prevIndex <= log.lastIndex) {
        // Behind or conflicting: repair the log, never answer (a success here could give the
        // leader a quorum this log does not hold).
        const repaired = this.repair(ae, isNew);
        if (repaired !== "store") {
          // Unless the entry was already held, a catch-up in progress is abandoned.
          if (repaired === "silent") this.cancelCatchup();
          return undefined;
        }
        // Repaired to the append's previous position: store it below.
      } else if (catchingUp) {
        // The first entry of a catch-up the leader's WAL could not serve: its snapshot.
        return this.installSnapshot(ae);
      } else {
        return this.startCatchup(ae);
      }
    }

    if (this.removalIndex !== undefined && this.removalIndex > log.lastIndex) this.removalIndex = undefined; // truncated away
    if (ae.entries.length > 0) {
      try {
        log.append(ae.term, ae.prevIndex + 1, raw, !this.coalesceSync);
      } catch (err) {
        return this.failed(err);
      }
      this.counters.stored++;
      this.initializing = false;
      this.applyMembership(ae, log.lastIndex);
      if (this.applier !== undefined) this.unapplied.set(log.lastIndex, ae);
      if (isNew && ae.entries.some((e) => e.type === NrgEntryType.LeaderTransfer && e.data.toString("latin1") === this.id)) this.transferToMe = true;
    }
    if (ae.commit > this.commit) this.commit = Math.min(ae.commit, log.lastIndex);
    if (this.removalIndex !== undefined && this.commit >= this.removalIndex) {
      this.removed = true;
      return undefined;
    }
    const epoch = this.epoch;
    this.applyCommitted();
    // The applier had the log reset: nothing of this append is held any more.
    if (this.epoch !== epoch) return undefined;
    if (!this.compactIfDue()) return undefined;
    // Only new entries are acknowledged: a catch-up's entries never give the leader a quorum.
    if (!isNew) return undefined;
    this.counters.acked++;
    return { response: { term: log.lastTerm, index: log.lastIndex, peer: this.id, success: true } };
  }

  /**
   * processAppendEntry's "pindex less than or equal to ours": "store" when the log now ends at
   * the append's previous position, "held" when it is an entry this log already has (silence),
   * "silent" otherwise.
   */
  private repair(ae: NrgAppendEntry, viaNew: boolean): "store" | "held" | "silent" {
    const log = this.log;
    const at = (term: number, index: number): "store" | "silent" => (log.lastTerm === term && log.lastIndex === index ? "store" : "silent");
    if (ae.prevIndex < this.commit) return "held";
    try {
      // The append's own entry is held already at that position in its term (a late copy):
      // keeping what follows it is safe, truncating could drop entries this member acknowledged.
      const next = ae.entries.length > 0 ? log.entryAt(ae.prevIndex + 1) : undefined;
      if (next !== undefined) {
        const held = decodeNrgAppendEntry(next);
        if (held.term === ae.term && held.prevTerm === ae.prevTerm) return "held";
      }
      const stored = log.entryAt(ae.prevIndex);
      if (stored === undefined) {
        const snap = log.snapshot;
        if (snap !== undefined && snap.lastIndex === ae.prevIndex && snap.lastTerm === ae.prevTerm) {
          this.counters.truncations++;
          log.truncate(snap.lastTerm, snap.lastIndex);
          this.truncated();
          return at(ae.prevTerm, ae.prevIndex);
        }
        if (ae.prevTerm === log.lastTerm && viaNew) return "held";
        // A position we cannot place (nats-server relabels it at our last index): start over.
        this.resetLog();
        return "silent";
      }
      const entry = decodeNrgAppendEntry(stored);
      if (entry.term === ae.prevTerm) {
        this.counters.truncations++;
        log.truncate(ae.prevTerm, ae.prevIndex);
        this.truncated();
        return at(ae.prevTerm, ae.prevIndex);
      }
      // Our entry at that index is another term's: drop it and everything after it.
      if (entry.prevIndex < this.commit) return "held";
      this.counters.truncations++;
      log.truncate(entry.prevTerm, entry.prevIndex);
      this.truncated();
      return "silent";
    } catch (err) {
      this.failed(err);
      return "silent";
    }
  }

  /** After a truncation: entries gone are not applied; a truncation that reset the log starts the state over. */
  private truncated(): void {
    this.epoch++;
    for (const index of this.unapplied.keys()) if (index > this.log.lastIndex) this.unapplied.delete(index);
    if (this.applied > this.log.lastIndex) {
      this.applied = 0;
      this.commit = Math.min(this.commit, this.log.lastIndex);
      this.applier?.reset();
    }
  }

  /**
   * Compacts the WAL up to what is applied and durable once it holds more than the compaction
   * bounds (a follower's, and a leader's: a follower that needs what was compacted gets a
   * snapshot). False on a storage error (the member is silent from then on).
   */
  private compactIfDue(force = false): boolean {
    const log = this.log;
    const compactAt = Math.min(this.applied, this.applier?.durableIndex?.() ?? this.applied);
    if ((force || log.entryCount > this.compaction.entries || log.walBytes > this.compaction.bytes) && log.firstIndex !== undefined && compactAt >= log.firstIndex) {
      try {
        log.compact(compactAt, encodeNrgPeerState({ clusterSize: this.clusterSize, knownPeers: [...this.peers], domainExtension: undefined }), this.applier?.snapshot(compactAt) ?? Buffer.alloc(0));
        this.counters.compactions++;
      } catch (err) {
        this.failed(err);
        return false;
      }
    }
    return true;
  }

  /**
   * A leader that grows its group from a log that never had a snapshot compacts it now, up to
   * what is applied (raft.go NeedSnapshot / InstallSnapshot in runStreamMigration): a new member
   * is then caught up with the stream's state and `$JSC.SYNC`, not with the whole history. False
   * on a storage error.
   */
  compactNow(): boolean {
    return this.compactIfDue(true);
  }

  /** An AddPeer or RemovePeer stored and not committed yet (raft.go MembershipChangeInProgress). */
  get membershipChanging(): boolean {
    return this.membershipIndex > this.commit && this.membershipIndex <= this.log.lastIndex;
  }

  /** Applies what was held back while the applier was holding. */
  resumeApply(): void {
    if (this.writeError === undefined) this.applyCommitted();
  }

  /** Applies the committed entries not applied yet, in index order. */
  private applyCommitted(): void {
    const applier = this.applier;
    if (applier === undefined) {
      this.applied = this.commit;
      return;
    }
    while (this.applied < this.commit) {
      if (applier.holding?.() === true) break;
      const index = this.applied + 1;
      let ae = this.unapplied.get(index);
      if (ae === undefined) {
        const raw = this.log.entryAt(index);
        if (raw === undefined) break; // not held (cannot happen: commit never passes the log's end)
        try {
          ae = decodeNrgAppendEntry(raw);
        } catch {
          break;
        }
      }
      this.unapplied.delete(index);
      this.applied = index;
      try {
        applier.apply(index, ae);
      } catch (err) {
        // The applier keeps its own state consistent (a stream halts); the log goes on.
        this.counters.applyErrors++;
        this.lastApplyError = (err as Error).message;
      }
    }
    if (applier.resetWanted?.() !== undefined) this.resetLog();
  }

  /** Starts the log over (term and vote kept): the leader's next append finds it empty and catches it up. */
  private resetLog(): void {
    try {
      this.log.reset();
    } catch (err) {
      this.failed(err);
      return;
    }
    this.counters.resets++;
    this.epoch++;
    this.commit = 0;
    this.applied = 0;
    this.unapplied.clear();
    this.cancelCatchup();
    this.removalIndex = undefined;
    this.applier?.reset();
  }

  /** A catch-up's first append when the leader sends its snapshot: [Snapshot, PeerState]. */
  private installSnapshot(ae: NrgAppendEntry): undefined {
    if (ae.entries.length !== 2 || ae.entries[0].type !== NrgEntryType.Snapshot || ae.entries[1].type !== NrgEntryType.PeerState) {
      this.cancelCatchup();
      return undefined;
    }
    try {
      decodeNrgPeerState(ae.entries[1].data);
    } catch {
      this.cancelCatchup();
      return undefined;
    }
    try {
      this.log.installSnapshot({ lastTerm: ae.prevTerm, lastIndex: ae.prevIndex, peerState: Buffer.from(ae.entries[1].data), data: Buffer.from(ae.entries[0].data) });
    } catch (err) {
      return this.failed(err);
    }
    this.counters.snapshots++;
    this.epoch++;
    // The log it was read from is gone: the snapshot's peer state says who is in.
    this.removalIndex = undefined;
    this.applyPeerState(ae.entries[1].data);
    this.commit = ae.prevIndex;
    this.applied = ae.prevIndex;
    this.unapplied.clear();
    this.initializing = false;
    this.applier?.install(ae.entries[0].data, ae.prevIndex);
    return undefined;
  }

  private applyPeerState(data: Buffer): void {
    try {
      const ps = decodeNrgPeerState(data);
      this.peers = new Set(ps.knownPeers);
      this.clusterSize = ps.clusterSize;
    } catch {
      // A snapshot's peer state is checked before it is stored.
    }
  }

  /**
   * Peers dropped from the membership without a log entry (raft.go EvictPeers): a group that
   * lost quorum with them can elect a leader again. Only peers an operator removed (the caller's
   * check); returns those dropped.
   */
  evict(peers: string[]): string[] {
    const dropped = peers.filter((p) => p !== this.id && this.peers.has(p));
    for (const p of dropped) {
      this.peers.delete(p);
      this.removedPeers.add(p);
    }
    if (dropped.length > 0 && this.peers.size > 0) this.clusterSize = this.peers.size;
    return dropped;
  }

  /** Membership as the stored entries say (nats-server applies it at store time too). */
  private applyMembership(ae: NrgAppendEntry, index: number): void {
    for (const e of ae.entries) {
      if ((e.type === NrgEntryType.AddPeer || e.type === NrgEntryType.RemovePeer) && e.data.length === 8) this.membershipIndex = index;
      if (e.type === NrgEntryType.PeerState) this.applyPeerState(e.data);
      else if (e.type === NrgEntryType.AddPeer && e.data.length === 8) {
        const peer = e.data.toString("latin1");
        this.peers.add(peer);
        this.removedPeers.delete(peer);
        if (peer === this.id) this.removalIndex = undefined;
      } else if (e.type === NrgEntryType.RemovePeer && e.data.length === 8) {
        const peer = e.data.toString("latin1");
        this.peers.delete(peer);
        this.removedPeers.add(peer);
        // raft.go adjustClusterSizeAndQuorum: the group's size (and quorum) is its peers now.
        if (this.peers.size > 0) this.clusterSize = this.peers.size;
        if (peer === this.id) this.removalIndex = index;
      }
    }
  }

  // ---- for a campaigning member (nrg_campaign.ts) ----

  /** A new term with our own vote, stored before any vote request leaves. */
  startTerm(): boolean {
    this.cancelCatchup();
    this.leader = "";
    return this.setTerm(this.log.term + 1, this.id);
  }

  /** A higher term seen in an answer: a follower of it, without a vote yet. */
  adoptTerm(term: number): void {
    if (term <= this.log.term) return;
    this.role = "follower";
    this.leader = "";
    this.setTerm(term, "");
  }

  /** An append entry this member leads with: stored (fsynced) before it is sent. */
  storeOwn(ae: NrgAppendEntry, raw: Buffer): boolean {
    try {
      this.log.append(ae.term, ae.prevIndex + 1, raw, true);
    } catch (err) {
      this.failed(err);
      return false;
    }
    this.counters.stored++;
    this.initializing = false;
    this.applyMembership(ae, this.log.lastIndex);
    if (this.applier !== undefined) this.unapplied.set(this.log.lastIndex, ae);
    return true;
  }

  /** The leader's commit index moved (a quorum stored up to it): apply up to there. */
  commitTo(index: number): void {
    if (index <= this.commit || index > this.log.lastIndex) return;
    this.commit = index;
    this.applyCommitted();
    this.compactIfDue();
  }

  /** A vote request: the answer (nats-server's processVoteRequest), or undefined for silence. */
  receiveVote(vr: NrgVoteRequest): NrgVoteResponse | undefined {
    if (this.writeError !== undefined || this.removed) return undefined;
    // Our own request, heard back.
    if (vr.candidate === this.id) return undefined;
    const log = this.log;
    const response: NrgVoteResponse = { term: log.term, peer: this.id, granted: false, empty: log.lastIndex === 0 };
    if (vr.term < log.term) {
      this.counters.votesRefused++;
      return response;
    }
    if (vr.term > log.term) {
      this.cancelCatchup();
      if (!this.setTerm(vr.term, "")) return undefined;
      this.leader = "";
      this.role = "follower";
    }
    const free = log.vote === "" || log.vote === vr.candidate;
    if (free && response.empty && this.initializing) response.empty = false;
    if (free && (vr.lastTerm > log.lastTerm || (vr.lastTerm === log.lastTerm && vr.lastIndex >= log.lastIndex))) {
      // Stored before it is granted.
      if (this.setTerm(vr.term, vr.candidate)) response.granted = true;
      else return undefined;
    }
    if (response.granted) {
      this.counters.votesGranted++;
      this.voteGrantedAt = this.now();
    }
    else this.counters.votesRefused++;
    response.term = log.term;
    return response;
  }
}
