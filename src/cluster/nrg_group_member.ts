// One RAFT group of a nats-server cluster that a tsnats server is a voting, never-campaigning
// member of (issue 12's moonshot, `cluster { nrg_peer: true }`): the `_meta_` group, and with
// `nrg_peer_streams` the stream and consumer groups placed on it. In the system account it
// listens to the group's append entries (`$NRG.AE.<group>`) and vote requests
// (`$NRG.V.<group>`), and answers as nats-server's follower would (nrg_peer.ts) from a durable
// log in its own directory (nrg_peer_log.ts); committed entries go to the group's applier (the
// meta state, a stream's store). Answers go only to a leader's `$NRG.R.` reply subject.
import { randomBytes } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { decodeNrgAppendEntry, decodeNrgAppendEntryResponse, decodeNrgVoteRequest, decodeNrgVoteResponse, encodeNrgAppendEntryResponse, encodeNrgVoteRequest, encodeNrgVoteResponse, NrgEntryType, nrgSubject, type NrgEntry } from "./nrg_wire.js";
import { NrgPeerLog } from "./nrg_peer_log.js";
import { NrgPeer, type NrgApplier, type NrgCompaction } from "./nrg_peer.js";
import { NrgCampaign } from "./nrg_campaign.js";

/** nats-server's election timeout range and leader heartbeat (raft.go minElectionTimeoutDefault, maxElectionTimeoutDefault, hbIntervalDefault). */
const ELECTION_MIN_MS = 4_000;
const ELECTION_MAX_MS = 9_000;
const HEARTBEAT_MS = 1_000;
const TICK_MS = 100;

function newInbox(): string {
  return `$NRG.R.${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`;
}

/** A group name nats-server makes (`_meta_`, `S-R3F-x`, `C-R3F-x`): one subject token, one directory name. */
export function plainGroupName(name: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name);
}

export class NrgGroupMember {
  readonly peer: NrgPeer;
  private subs: Subscription[] = [];
  private catchupSub: Subscription | undefined;
  undecodable = 0;
  lastError = "";
  votedIn: { term: number; candidate: string } | undefined;
  /** Called after an append was handled (the service reacts to removal, catch-up state...). */
  onAppended: (() => void) | undefined;
  /** With coalesced fsyncs: answers waiting for the WAL's fsync after the read that brought them, in order. */
  private outbox: { reply: string; inbox: string; payload: Buffer; epoch: number; success: boolean }[] = [];
  private flushScheduled = false;
  private stopped = false;
  /** With `nrg_peer_campaign`: the member's elections and leadership (nrg_campaign.ts), its inboxes and timer. */
  campaign: NrgCampaign | undefined;
  private voteInbox = "";
  private appendInbox = "";
  private timer: NodeJS.Timeout | undefined;
  private electionTimeout = 0;
  private campaignedAt = 0;
  private lastSent = 0;
  private readonly startedAt = Date.now();
  /** The leader half's entries waiting for this turn's append (nrg_stream_leader.ts). */
  private proposals: NrgEntry[] = [];
  private proposeScheduled = false;
  /** The commit index the last append we sent carried: a higher one is told to the followers at once. */
  private commitSent = 0;
  private wasLeading = false;
  /** Called when this member starts or stops leading with its state current (`NrgCampaign.leading`). */
  onLeadChange: ((leading: boolean) => void) | undefined;
  /**
   * Set before `start` for an R1 asset placed on this server (its group's one peer): nats-server
   * 2.15 runs one without a RAFT group (createRaftGroup returns none for a single peer), its
   * server storing and answering alone. So nothing of it goes on the wire: no subscriptions, no
   * votes or appends sent; with a campaign the member elects itself at once and commits each of
   * its appends when stored (a quorum of one), the same log and applier feeding its store.
   */
  solo = false;

  constructor(
    private readonly sys: Account,
    readonly group: string,
    readonly id: string,
    dir: string,
    applier?: NrgApplier,
    compaction?: NrgCompaction,
    /** One fsync per read for all the appends it brought (stream and consumer groups), not one per append. */
    coalesceSync = false,
  ) {
    if (!plainGroupName(group)) throw new Error(`RAFT group name "${group}" is not a plain token`);
    const log = new NrgPeerLog(dir);
    try {
      this.peer = new NrgPeer(id, log, () => `$NRG.CR.${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`, Date.now, compaction, applier);
      this.peer.coalesceSync = coalesceSync;
    } catch (err) {
      log.close();
      throw err;
    }
  }

  start(): void {
    if (this.solo) return;
    // Payloads are copied: the raw bytes of a stored append entry outlive the delivery.
    this.subs.push(this.sys.subscribeInternal(nrgSubject("appendEntry", this.group), (_s, reply, _h, payload) => this.onAppend(Buffer.from(payload), reply, undefined), undefined, "nrg-peer-append"));
    this.subs.push(this.sys.subscribeInternal(nrgSubject("vote", this.group), (_s, reply, _h, payload) => this.onVote(Buffer.from(payload), reply), undefined, "nrg-peer-vote"));
  }

  /**
   * Campaign as nats-server's followers do (a random 4-9 s without a leader, or at once when a
   * LeaderTransfer names this member), lead in nats-server's dialect, and hand the leadership
   * over once its first entry is committed (see nrg_campaign.ts).
   */
  enableCampaign(): void {
    if (this.campaign !== undefined) return;
    this.campaign = new NrgCampaign(this.peer);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref?.();
    // Alone in its group: elected at once, nobody to hear from.
    if (this.solo) {
      this.peer.transferToMe = true;
      return;
    }
    this.voteInbox = newInbox();
    this.appendInbox = newInbox();
    this.subs.push(this.sys.subscribeInternal(this.voteInbox, (_s, _r, _h, payload) => this.onVoteResponse(Buffer.from(payload)), undefined, "nrg-peer-votes"));
    this.subs.push(this.sys.subscribeInternal(this.appendInbox, (_s, reply, _h, payload) => this.onAppendResponse(Buffer.from(payload), reply), undefined, "nrg-peer-responses"));
    this.newElectionTimeout();
  }

  private newElectionTimeout(): void {
    this.electionTimeout = ELECTION_MIN_MS + Math.floor(Math.random() * (ELECTION_MAX_MS - ELECTION_MIN_MS));
  }

  private tick(): void {
    const c = this.campaign;
    const p = this.peer;
    if (c === undefined || this.stopped) return;
    const now = Date.now();
    this.checkLead();
    if (p.role === "leader") {
      if (c.lostQuorum(this.groupPeers(), now)) {
        c.stepDownNoLeader();
        this.proposals = [];
        this.campaignedAt = now;
        this.newElectionTimeout();
        this.checkLead();
        return;
      }
      const handover = c.transfer();
      if (handover !== undefined) {
        this.sendAppend(handover);
        this.newElectionTimeout();
        this.campaignedAt = now;
        return;
      }
      if (!this.solo && now - this.lastSent >= HEARTBEAT_MS) {
        const hb = c.heartbeat();
        if (hb !== undefined) this.sendAppend(hb);
      }
      return;
    }
    if (p.transferToMe) {
      p.transferToMe = false;
      this.startCampaign(now);
      return;
    }
    if (this.solo) {
      this.startCampaign(now);
      return;
    }
    // The group's only member (an R1 stream being given a RAFT group, a survivor that evicted
    // the others): nobody else can lead it, so no election timeout is waited for (a new
    // preferred member campaigns at once too: createRaftGroup's CampaignImmediately).
    const alone = [...p.peers, ...(this.campaign?.members() ?? [])].every((m) => m === p.id);
    if (alone && now - this.campaignedAt >= HEARTBEAT_MS) {
      this.startCampaign(now);
      return;
    }
    const quietSince = p.role === "candidate" ? this.campaignedAt : Math.max(p.leaderSeenAt, p.voteGrantedAt, this.campaignedAt, this.startedAt);
    if (now - quietSince <= this.electionTimeout) return;
    // Leaderless: the peers an operator removed go first, so the rest can reach a quorum (checkEvictedPeers).
    const evict = this.evictable?.() ?? [];
    if (evict.length > 0) this.evicted.push(...p.evict(evict));
    this.startCampaign(now);
  }

  private startCampaign(now: number): void {
    this.campaignedAt = now;
    this.newElectionTimeout();
    const before = this.peer.catchup?.inbox;
    const vr = this.campaign?.campaign();
    this.syncCatchupSub(before);
    // Its own vote is the quorum (an R1 asset; a meta group whose other members were removed).
    if (vr !== undefined && this.campaign?.electedAlone() === true) {
      const first = this.campaign.becomeLeader();
      if (first !== undefined) this.sendAppend(first);
      this.checkLead();
      return;
    }
    if (this.solo) {
      this.checkLead();
      return;
    }
    if (vr !== undefined) this.sys.publish(nrgSubject("vote", this.group), this.voteInbox, undefined, encodeNrgVoteRequest(vr));
  }

  private onVoteResponse(payload: Buffer): void {
    const c = this.campaign;
    if (c === undefined) return;
    let vr;
    try {
      vr = decodeNrgVoteResponse(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!c.receiveVoteResponse(vr)) return;
    const first = c.becomeLeader();
    if (first !== undefined) this.sendAppend(first);
    this.checkLead();
  }

  /** Tell the leader half when leading starts or stops (polled after anything that may change it). */
  private checkLead(): void {
    const leading = this.campaign?.leading === true && !this.stopped;
    if (leading === this.wasLeading) return;
    this.wasLeading = leading;
    if (!leading) this.proposals = [];
    this.onLeadChange?.(leading);
  }

  /** The group's members as this member knows them: its membership, else the assignment's. */
  private groupPeers(): string[] {
    const p = this.peer;
    return p.peers.size > 0 ? [...p.peers] : (this.campaign?.members() ?? []);
  }

  /** Hand the leadership over (a stream leader's STEPDOWN request): to `preferred` when it is up to date. */
  stepDown(preferred: string | undefined): void {
    const c = this.campaign;
    // Alone in its group there is nobody to hand it to (nats-server's R1 asset has no RAFT node to step down).
    if (c === undefined || this.solo) return;
    this.proposals = [];
    const raw = c.stepDown(preferred);
    if (raw !== undefined) this.sendAppend(raw);
    this.campaignedAt = Date.now();
    this.newElectionTimeout();
    this.checkLead();
  }

  /**
   * One entry of the leader half (a stream message...), sent with the others of this turn as
   * one append, stored first. False when this member does not lead (the entry is dropped).
   */
  propose(data: Buffer): boolean {
    if (this.campaign?.leading !== true || this.stopped) return false;
    this.proposals.push({ type: NrgEntryType.Normal, data });
    if (!this.proposeScheduled) {
      this.proposeScheduled = true;
      setImmediate(() => this.flushProposals());
    }
    return true;
  }

  /**
   * A membership change (AddPeer / RemovePeer naming `peer`) in an append of its own, after the
   * proposals already queued (raft.go sendMembershipChange). False when this member does not lead.
   */
  proposeMembership(type: NrgEntryType.AddPeer | NrgEntryType.RemovePeer, peer: string): boolean {
    if (this.campaign?.leading !== true || this.stopped) return false;
    this.flushProposals();
    const raw = this.campaign.propose([{ type, data: Buffer.from(peer, "latin1") }]);
    if (raw === undefined) return false;
    this.sendAppend(raw);
    this.checkLead();
    return true;
  }

  private flushProposals(): void {
    this.proposeScheduled = false;
    const entries = this.proposals;
    this.proposals = [];
    if (entries.length === 0 || this.stopped) return;
    const raw = this.campaign?.propose(entries);
    if (raw !== undefined) this.sendAppend(raw);
    this.checkLead();
  }

  /**
   * Set for a group whose membership its leader keeps itself (the meta group; stream and consumer
   * groups are the meta layer's): an answer from a server not among the peers (a new server
   * joining) makes the leader propose adding it, unless a RemovePeer took it out (raft.go
   * trackPeer; nats-server lets a removed one back after 5 minutes, this member never).
   */
  addsUnknownPeers = false;
  /**
   * With a campaign: the peers of its membership this member may drop on its own when the group
   * is leaderless (nats-server's checkEvictedPeers: those the assignment's desired state lists as
   * removed and its peers no longer name), asked before each campaign.
   */
  evictable: (() => string[]) | undefined;
  /** The peers it evicted (for /jsz). */
  readonly evicted: string[] = [];
  /** Peers whose AddPeer this leader proposed and has not stored yet. */
  private readonly adding = new Set<string>();

  private addIfUnknown(peer: string): void {
    const p = this.peer;
    if (!this.addsUnknownPeers || this.campaign?.leading !== true || peer === p.id || p.peers.has(peer) || p.removedPeers.has(peer) || this.adding.has(peer)) return;
    this.adding.add(peer);
    if (!this.proposeMembership(NrgEntryType.AddPeer, peer)) this.adding.delete(peer);
    // Stored (its peer now among the peers) or not: asked again at its next answer.
    else setImmediate(() => this.adding.delete(peer));
  }

  private onAppendResponse(payload: Buffer, reply: string): void {
    const c = this.campaign;
    if (c === undefined) return;
    let ar;
    try {
      ar = decodeNrgAppendEntryResponse(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    const entries = c.receiveAppendResponse(ar);
    if (this.leaveIfRemoved()) return;
    this.checkLead();
    this.addIfUnknown(ar.peer);
    // A new commit goes to the followers with the next append; without one coming this turn, at
    // once in a heartbeat (they apply, and answer reads, only what they know is committed).
    if (this.peer.role === "leader" && this.peer.commit > this.commitSent && !this.proposeScheduled) {
      const hb = c.heartbeat();
      if (hb !== undefined) this.sendAppend(hb);
    }
    // A follower behind answers with its catch-up inbox as the reply subject.
    if (entries === undefined || !reply.startsWith("$NRG.CR.")) return;
    for (const raw of entries) this.sys.publish(reply, this.appendInbox, undefined, raw);
  }

  /**
   * Leading, its own removal committed: the group handed to a follower and this member silent
   * for good (its owner told through `onAppended`, as when a follower learns of its removal).
   */
  private leaveIfRemoved(): boolean {
    // The commit that removed us goes to the followers first, with the transfer's append.
    const left = this.campaign?.leaveIfRemoved();
    if (left === undefined) return false;
    if (left.transfer !== undefined) this.sendAppend(left.transfer);
    this.proposals = [];
    this.checkLead();
    this.onAppended?.();
    return true;
  }

  private sendAppend(raw: Buffer): void {
    if (this.solo) {
      // Stored (fsynced) by this member, the whole group: committed and applied now.
      this.campaign?.commitAlone();
      return;
    }
    // A group of one member (the others removed) commits what it stored: nobody answers.
    this.campaign?.commitAlone();
    this.lastSent = Date.now();
    this.commitSent = Math.max(this.commitSent, this.peer.commit);
    this.sys.publish(nrgSubject("appendEntry", this.group), this.appendInbox, undefined, raw);
  }

  stop(): void {
    this.stopped = true;
    this.checkLead();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.outbox = [];
    for (const sub of this.subs) this.sys.unsubscribeInternal(sub);
    this.subs = [];
    if (this.catchupSub !== undefined) this.sys.unsubscribeInternal(this.catchupSub);
    this.catchupSub = undefined;
    this.peer.log.close();
  }

  private fail(err: unknown): void {
    this.undecodable++;
    this.lastError = (err as Error).message;
  }

  private onAppend(payload: Buffer, reply: string, viaCatchupInbox: string | undefined): void {
    const peer = this.peer;
    let ae;
    try {
      ae = decodeNrgAppendEntry(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    const inboxBefore = peer.catchup?.inbox;
    const answer = peer.receiveAppend(ae, payload, viaCatchupInbox);
    this.syncCatchupSub(inboxBefore);
    this.checkLead();
    this.onAppended?.();
    // An answer goes only where a leader asked for it.
    if (answer === undefined || !reply.startsWith("$NRG.R.")) return;
    const response = encodeNrgAppendEntryResponse(answer.response);
    // Written, not yet fsynced (or answers already waiting, kept in order): sent after the fsync.
    if (peer.log.dirty || this.outbox.length > 0) {
      this.outbox.push({ reply, inbox: answer.catchupInbox ?? "", payload: response, epoch: peer.epoch, success: answer.response.success });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the read that brought them is handled (its appends all written), before any I/O.
        queueMicrotask(() => this.flushOutbox());
      }
      return;
    }
    this.sys.publish(reply, answer.catchupInbox ?? "", undefined, response);
  }

  /** One fsync for the turn's appends, then their answers; a success naming an entry gone since is dropped. */
  private flushOutbox(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    const peer = this.peer;
    const batch = this.outbox;
    this.outbox = [];
    try {
      peer.log.syncWal();
    } catch (err) {
      peer.storageFailed(err);
      return;
    }
    for (const e of batch) {
      if (peer.writeError !== undefined) return;
      if (e.success && e.epoch !== peer.epoch) continue;
      this.sys.publish(e.reply, e.inbox, undefined, e.payload);
    }
  }

  /** Subscribe to the catch-up inbox the member asked for; drop one it no longer waits on. */
  private syncCatchupSub(before: string | undefined): void {
    const now = this.peer.catchup?.inbox;
    if (now === before) return;
    if (this.catchupSub !== undefined) this.sys.unsubscribeInternal(this.catchupSub);
    this.catchupSub = undefined;
    if (now !== undefined) this.catchupSub = this.sys.subscribeInternal(now, (_s, reply, _h, payload) => this.onAppend(Buffer.from(payload), reply, now), undefined, "nrg-peer-catchup");
  }

  private onVote(payload: Buffer, reply: string): void {
    const peer = this.peer;
    let vr;
    try {
      vr = decodeNrgVoteRequest(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!reply.startsWith("$NRG.R.")) return;
    const inboxBefore = peer.catchup?.inbox;
    const answer = peer.receiveVote(vr);
    this.syncCatchupSub(inboxBefore);
    this.checkLead();
    if (answer === undefined) return;
    if (answer.granted) this.votedIn = { term: answer.term, candidate: vr.candidate };
    this.sys.publish(reply, "", undefined, encodeNrgVoteResponse(answer));
  }

  /** /jsz's picture of the member (peer ids shown as names where known). */
  json(nameOf: (id: string) => string): Record<string, unknown> {
    const p = this.peer;
    const log = p.log;
    return {
      group: this.group,
      observer: this.campaign === undefined,
      ...(this.solo ? { solo: true } : {}),
      ...(this.evicted.length > 0 ? { evicted: this.evicted.map(nameOf) } : {}),
      term: log.term,
      vote: log.vote === "" ? "" : nameOf(log.vote),
      ...(this.votedIn !== undefined ? { last_vote_granted: { term: this.votedIn.term, candidate: nameOf(this.votedIn.candidate) } } : {}),
      leader: p.leader === "" ? "" : nameOf(p.leader),
      last_term: log.lastTerm,
      last_index: log.lastIndex,
      commit: p.commit,
      applied: p.applied,
      first_index: log.firstIndex ?? 0,
      entries: log.entryCount,
      ...(log.snapshot !== undefined ? { snapshot: { last_term: log.snapshot.lastTerm, last_index: log.snapshot.lastIndex, bytes: log.snapshot.data.length } } : {}),
      catching_up: p.catchup !== undefined,
      ...(this.campaign !== undefined ? { campaign: this.campaign.json() } : {}),
      ...(p.removed ? { removed: true } : {}),
      peers: [...p.peers].map(nameOf).sort(),
      cluster_size: p.clusterSize,
      counters: { ...p.counters },
      undecodable: this.undecodable,
      ...(this.lastError !== "" ? { last_error: this.lastError } : {}),
      ...(p.lastApplyError !== undefined ? { last_apply_error: p.lastApplyError } : {}),
      ...(p.writeError !== undefined ? { write_error: p.writeError } : {}),
    };
  }
}
