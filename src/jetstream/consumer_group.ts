// A replicated consumer's own RAFT group (as nats-server's `C-<hash>` groups): its members are
// the servers of its stream's group, its log carries the consumer's changes (deliveries, acks,
// naks... the bytes of consumer_ops_wire.ts, a config update as JSON), its snapshot is the
// consumer's state, and its leader is the consumer's leader: the one copy that delivers and
// takes acks and pull requests. The stream's group carries only the consumer's creation,
// deletion and scaling (`api`/`adopt` entries), and the stream's leader removes the messages
// acknowledged on interest and work-queue streams when it applies the acks (it is a member).
//
// The leader applies its changes when it makes them, so it skips its own entries (by index) when
// they commit; an ack's confirmation (double ack) is sent once the entry carrying it commits.
// The other members apply committed entries through the same `applyConsumerOp`. The last index
// applied is remembered in `<group>/applied` (lazily, as the consumer's own state is written), so
// the replay of the log after a restart does not apply a change twice.
//
// The log is fsynced lazily (consumerLogSyncMs), so a power loss can take back entries a member
// already applied, and a majority's can take back committed ones: the next leader's entries then
// reuse those indexes for other changes. A member whose state holds changes its log no longer
// has (its state's index past its log at start, or applied entries replaced by a leader's) must
// not apply the group's later changes on top of it: mixed, its state could show a message as
// delivered that it never saw pending (jepsen seed 181: a consumer skipped an acknowledged
// message for good once such a member led it). So every leader proposes its whole state when it
// starts leading and when a member restarts, a member in that case applies nothing but such a
// state, and a state entry applies at any index (the entries after it again on top).
//
// Membership follows the stream's group: the consumer's leader adds the servers the stream's
// group has (learners, caught up by snapshot plus log), removes those it no longer has (one at
// a time), and hands its leadership to a staying member when its own server leaves. When the
// stream scales down, the consumer's group leaves the servers that go first (the stream's
// leader waits for it before removing any member of its own), as nats-server 2.15 orders it.
//
// RAFT messages travel batched with the other consumer groups' messages to the same server, on
// `$NRG.TSB.<server name>` (consumer_group_wire.ts); the group's files are `<store_dir>/_raft/<group>`.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { RaftError, RaftNode, type RaftMsg, type RaftStateMachine } from "../cluster/raft.js";
import { RaftStore } from "../cluster/raft_store.js";
import { FsRaftDisk, MemRaftDisk } from "../cluster/raft_disk.js";
import { coarseRaftEnv, consumerGroupWire, type ConsumerGroupWire } from "./consumer_group_wire.js";
import { rfc3339, nowNs } from "../server/time.js";
import type { Consumer, ConsumerOp } from "./consumer.js";
import type { Stream } from "./stream.js";
import type { ConsumerState, PendingEntry } from "../storage/store.js";
import { decodeConsumerOps, encodeConsumerOps, type NamedConsumerOp } from "./consumer_ops_wire.js";
import * as adv from "./advisories.js";
import { groupReplicasJson, keepOrder, kindJsonEntry, migrationStatus, peerId, readNumberFile, readPeersFile, writePeersFile } from "./group_common.js";
import { DEFAULT_SYNC_INTERVAL_MS } from "./store_factory.js";
import { mkdirDurable } from "../storage/file_io.js";

/**
 * The stream groups' election timing (nats-server's consumer groups: 4-9 s), so a consumer's
 * failover is as fast as its stream's; heartbeats every 500 ms (streams: 300; nats-server's
 * consumers: 1 s), three per shortest election timeout: every member of every replicated
 * consumer sends or answers one each interval, idle or not, and that is the idle cost of many
 * durables (batched per server, consumer_group_wire.ts).
 */
const ELECTION_MIN_MS = 1500;
const ELECTION_MAX_MS = 3000;
const HEARTBEAT_MS = 500;
/** A member answering within this many ms is live (a scale-down keeps it before others; nats-server's cut-off is three heartbeats). */
const LIVE_MS = 3 * HEARTBEAT_MS;
const COMMIT_NOTICE_MS = 20;
/** Bytes of the `applied` file's record: a log index, spaces, a newline. */
const APPLIED_WIDTH = 24;
const NO_BYTES = Buffer.alloc(0);
/** How often the group's leader brings the membership to the stream's. */
const MEMBERS_CHECK_MS = 250;
const CAMPAIGN_RETRY_MS = 100;
const CAMPAIGN_RETRIES = 20;
/** A first leader waiting for the others to start asks this often (below the election timeout: it is the one elected). */
const PATIENT_CAMPAIGN_RETRY_MS = 250;
/** Changes held while the leader's last entry is not committed, at most (then proposed anyway). */
const MAX_HELD_OPS = 8192;
/** Pull requests held while a new leader gets ready. */
const MAX_HELD_PULLS = 1024;

/**
 * How soon a replicated consumer's RAFT log is fsynced after a write (0: before an entry counts).
 * As the consumer's own state file: every sync_interval (nats-server's 2 minutes by default),
 * on every write with `sync_interval: always`. An acknowledgement a power loss takes back is
 * delivered again (at least once); the group's term, vote and membership are always fsynced
 * first. Before, every round of acks cost each member an fdatasync.
 */
export function consumerLogSyncMs(syncInterval: "always" | number | undefined): number {
  return syncInterval === "always" ? 0 : (syncInterval ?? DEFAULT_SYNC_INTERVAL_MS);
}

/** Entry kinds: the same byte as the stream group's consumer entries, JSON for changes the bytes cannot carry, a whole state. */
const KIND_JSON = 3;
const KIND_CONSUMERS = 7;
/** The whole state of the consumer: its leader's, for every member (proposed when a leader starts and when a member restarted). */
const KIND_STATE = 8;

/** A consumer's state as JSON (maps as entry lists). */
interface StateJson {
  delivered: ConsumerState["delivered"];
  ack_floor: ConsumerState["ack_floor"];
  pending: Array<[number, PendingEntry]>;
  redelivered: Array<[number, number]>;
}

/** What a consumer's group needs from its stream's replica. */
export interface ConsumerGroupHost {
  readonly self: string;
  readonly raftDir: string;
  readonly clusterName: string;
  readonly stream: Stream;
  /** True while a committed change is applied (the consumer then does not propose it again). */
  applying: boolean;
  /** A member applied changes the consumer's leader made (the stream's leader checks retention). */
  consumerChangesApplied(list: readonly NamedConsumerOp[]): void;
  /** Does this member remove what acks free (the stream's leader, an interest or work-queue stream)? */
  readonly checksRetention: boolean;
  /** This member's copy of the consumer took its leader's state, which no longer needs the messages `released` (checked for retention). */
  consumerStateReplaced(released: readonly number[]): void;
  /** The servers the consumer's group should have now (the stream group's members that stay); undefined: unknown. */
  consumerMembers(): string[] | undefined;
  /** The servers the stream stays on (those a move goes to, else those assigned); undefined: unknown. */
  stayingServers(): string[] | undefined;
  /** The stream group's members (voters and learners) as this server knows them. */
  streamMembers(): string[];
  /** Is this server leaving the stream's group (a move, a removal)? */
  leavingGroup(): boolean;
  /** Is `server` this one or one a route leads to now (a server stopped or cut off is not)? */
  reachable(server: string): boolean;
  /** This server's member was removed from the consumer's group (it has the entry saying so): its copy stays outside the group. */
  consumerGroupLeft(name: string): void;
  /** Is the consumer scaling down to one replica (its config says one, its group still has others)? */
  scalingDownToOne(name: string): boolean;
  /** Is the stream scaling down (the consumer's group leaves the servers that go before the stream's does)? */
  streamScalingDown(): boolean;
  /** This member, its group's leader, is the group's only member while it scales down to one replica: the stream's group records it keeps the consumer. */
  consumerKept(name: string): void;
}

/**
 * The term a consumer's group created by the stream group's entry at `index` starts in, its
 * first leader (named by the entry) leading it at once (RaftOptions.firstTerm). Every member
 * that applies the entry starts there with its vote given, so nobody else wins that term; one
 * that got the consumer otherwise (a stream snapshot) starts at 0 and could only reach it
 * through 65536 elections per entry of the stream's log. Terms of an earlier group of the same
 * name (a consumer deleted and created again) are below it, so that group's late messages are
 * refused. Undefined for a stream log too long for that (2^36 entries).
 */
export function firstTermOf(index: number): number | undefined {
  const term = index * 65536;
  // (Past 2^52 a term could not grow exactly: such a group elects its first leader instead.)
  return term <= 2 ** 52 ? term : undefined;
}

/** The name of a replicated consumer's RAFT group. */
export function consumerGroupName(account: string, stream: string, consumer: string): string {
  return "C-" + crypto.createHash("sha256").update(`${account}\u0000${stream}\u0000${consumer}`).digest("hex").slice(0, 16);
}

/** Encode a consumer's state (group snapshot, KIND_STATE entry). */
export function stateJson(st: ConsumerState): StateJson {
  return { delivered: st.delivered, ack_floor: st.ack_floor, pending: [...st.pending], redelivered: [...st.redelivered] };
}

function stateOf(j: StateJson): ConsumerState {
  return {
    delivered: { ...j.delivered },
    ack_floor: { ...j.ack_floor },
    pending: new Map(j.pending),
    redelivered: new Map(j.redelivered),
  };
}

export class ConsumerGroup implements RaftStateMachine {
  readonly node: RaftNode;
  readonly group: string;
  private readonly dir: string;
  private readonly wire: ConsumerGroupWire;
  private readonly receiver = { receive: (from: string, msg: RaftMsg): void => this.node.receive(from, msg) };
  private readonly inMemory: boolean;
  private stopped = false;
  private leaderSinceNs: bigint | undefined;
  /** Changes not proposed yet: this turn's, or those made while the last entry was not committed. */
  private ops: ConsumerOp[] = [];
  private opsScheduled = false;
  /** The index of this leader's last entry of changes while it is not committed (0: none). */
  private inflight = 0;
  /** Ack confirmations of changes not proposed yet, then by the index of the entry carrying them. */
  private unproposedConfirms: string[] = [];
  private readonly confirmsAt = new Map<number, string[]>();
  /** Entries this member proposed as leader (applied when made), by index: skipped when they commit. */
  private readonly ownEntries = new Map<number, Buffer>();
  /** The last index applied here (persisted lazily). */
  private applied: number;
  private appliedWriteScheduled = false;
  private appliedFd: number | undefined;
  private readonly appliedBuf = Buffer.alloc(APPLIED_WIDTH);
  private membersTimer: NodeJS.Timeout | undefined;
  /**
   * The consumer's state here holds changes the group's log does not (lost by a power loss, or
   * replaced by a leader's): until a leader's whole state comes (an entry or a snapshot), this
   * member applies no change, so its state stays one the consumer really had (older at worst).
   */
  private unverified = false;

  /** Is this member waiting for the leader's whole state (its own holds changes the group's log does not)? */
  get awaitingState(): boolean {
    return this.unverified;
  }

  /** The member asked to lead first (counted as the leader until one is known). */
  preferred = "";

  /** When this member of the group started, and whether it ever knew a leader: when it says the group has none (leaderless.ts). */
  readonly createdAt = Date.now();
  hadLeader = false;

  constructor(
    private readonly host: ConsumerGroupHost,
    readonly name: string,
    peers: string[],
    how: { fresh: boolean; joining: boolean; firstTerm?: { term: number; leader: string }; scaledUp?: boolean },
  ) {
    // Started by a scale-up from one replica: shown as scaling until its members caught up.
    if (how.scaledUp === true) {
      this.scaleSince = new Date().toISOString();
      this.scaleFrom = peers.length;
    }
    const stream = host.stream;
    const jsa = stream.jsa;
    this.group = consumerGroupName(jsa.account.name, stream.name, name);
    this.dir = path.join(host.raftDir, this.group);
    if (how.fresh) fs.rmSync(this.dir, { recursive: true, force: true });
    mkdirDurable(this.dir);
    const peersFile = path.join(this.dir, "peers.json");
    this.peersFile = peersFile;
    let voters = peers;
    if (how.fresh || !fs.existsSync(peersFile)) writePeersFile(peersFile, peers);
    else {
      // Missing or damaged: the RAFT log and snapshot hold the membership too.
      voters = readPeersFile(peersFile) ?? peers;
    }
    this.filedVoters = [...voters].sort();
    this.inMemory = stream.cfg.storage === "memory";
    if (this.inMemory) {
      for (const f of fs.readdirSync(this.dir)) if (f !== "peers.json") fs.rmSync(path.join(this.dir, f), { recursive: true, force: true });
    }
    this.applied = this.inMemory ? 0 : readNumberFile(path.join(this.dir, "applied"));
    // The state's own record says which entries it reflects: those after it are applied again,
    // none skipped (the applied file is written apart from the state, and may be ahead of it).
    const cstore = this.consumer?.cstore;
    if (cstore !== undefined && !this.inMemory) {
      if (!how.fresh && cstore.recoveredMark !== undefined) this.applied = cstore.recoveredMark;
      cstore.markSource = this.stateMark;
    }
    const log = jsa.service.log;
    const sys = jsa.service.server.systemAccount;
    const self = host.self;
    const wire = consumerGroupWire(jsa.service, sys, self);
    this.wire = wire;
    const group = this.group;
    this.node = new RaftNode({
      id: self,
      store: new RaftStore(this.inMemory ? new MemRaftDisk({ volatile: true }) : new FsRaftDisk(this.dir), { firstIncarnation: Date.now() }),
      transport: { send: (to, msg) => wire.send(to, group, msg) },
      env: coarseRaftEnv,
      sm: this,
      initial: { voters, learners: [] },
      joining: how.joining,
      firstTerm: how.firstTerm,
      electionMinMs: ELECTION_MIN_MS,
      electionMaxMs: ELECTION_MAX_MS,
      heartbeatMs: HEARTBEAT_MS,
      commitNoticeMs: COMMIT_NOTICE_MS,
      snapshotEntries: ConsumerGroup.snapshotEntries,
      mayPromote: () => !ConsumerGroup.promotionsHeld,
      lazySyncMs: consumerLogSyncMs(jsa.service.options.syncInterval),
      log: { info: (m) => log.debug?.(m) ?? undefined, warn: (m) => log.warn(`consumer '${jsa.account.name} > ${stream.name} > ${name}': ${m}`) },
      observer: {
        stateChanged: (role, leader) => {
          if (leader !== "") this.hadLeader = true;
          if (role !== "leader") this.lostLeadership();
        },
        configCommitted: (config) => {
          this.fileVoters(config.voters);
          // Removed (a scale-down): once the entry removing it is committed, as nats-server acts on
          // a peer removal; received only, it may still be replaced by a leader that never had it,
          // and this member is one again (meanwhile it neither campaigns nor counts as holding it).
          const holds = config.voters.includes(this.host.self) || config.learners.includes(this.host.self);
          if (this.held && !holds && !this.stopped) setImmediate(() => this.host.consumerGroupLeft(name));
          this.held = holds;
        },
        leaderReady: () => this.becameReady(),
        transferAbandoned: () => this.becameReady(),
        memberRestarted: () => this.proposeState(),
        logReplaced: (index) => {
          if (index <= this.applied) this.distrustState(`entries from ${index} it applied were replaced by the leader's`);
        },
        quorumLost: () => {
          const ctx = stream.jsa.advisoryContext;
          adv.consumerQuorumLost(ctx, stream.name, name, this.replicasJson());
        },
      },
    });
    wire.register(group, this.receiver);
    this.held = this.holds;
  }

  /** Was this server a member when a membership was last committed here? */
  private held = false;

  /** The group's membership file, and the voters it names. */
  private readonly peersFile: string;
  private filedVoters: string[];

  /**
   * A membership committed here: its voters go to the membership file (durably) when they differ
   * from those it names, as nats-server writes peers.idx on each change. The file is what a
   * member starts from when its log is gone (a memory stream's, at a restart; one discarded as
   * damaged): started from the membership it was created with, a group grown from this server
   * alone (its stream's scale-up from one replica) was a group of this server alone again, and
   * led itself beside the real group's leader.
   */
  private fileVoters(voters: readonly string[]): void {
    const sorted = [...voters].sort();
    if (this.stopped || (sorted.length === this.filedVoters.length && sorted.every((v, i) => v === this.filedVoters[i]))) return;
    try {
      writePeersFile(this.peersFile, sorted);
      this.filedVoters = sorted;
    } catch {
      // the group's directory is gone (the consumer deleted, the stream stopping)
    }
  }

  /**
   * The index the consumer's state reflects, written with it: what is applied, and on a leader
   * its own entries too (its changes are in the state as soon as made).
   */
  private readonly stateMark = (): number => {
    let m = this.applied;
    for (const i of this.ownEntries.keys()) if (i > m) m = i;
    return m;
  };

  /** Entries applied between two snapshots (tests lower it). */
  static snapshotEntries = 4096;

  /** Learners stay learners (tests catch a group mid-growth). */
  static promotionsHeld = false;

  private get consumer(): Consumer | undefined {
    const c = this.host.stream.consumers.get(this.name);
    return c !== undefined && !c.closed ? c : undefined;
  }

  /**
   * Start the group; `campaign`: this member is the consumer's preferred first leader (it asks
   * for votes at once and again for a while); `patient`: until a leader is known, however long
   * the others take to start (a group started before its other members have the consumer).
   */
  start(campaign: boolean, patient = false): void {
    void this.node.start().then(() => {
      this.nodeStarted = true;
      // Its state says it reflects entries the log lost (a power loss took back the log's unsynced tail).
      if (this.applied > this.node.lastIndex) this.distrustState(`its state reflects entries up to ${this.applied}, its log ends at ${this.node.lastIndex}`);
      // What its members sent before this server had the group (its first leader's appends).
      this.wire.release(this.group);
      // Its log says its removal was committed (while this server was stopped before it dropped the group).
      const committed = this.node.committedMembership;
      if (this.held && !committed.voters.includes(this.host.self) && !committed.learners.includes(this.host.self) && !this.stopped) {
        this.held = false;
        this.host.consumerGroupLeft(this.name);
        return;
      }
      if (!campaign) return;
      this.node.campaignNow();
      let tries = 0;
      const again = setInterval(
        () => {
          if ((!patient && ++tries > CAMPAIGN_RETRIES) || this.node.stopped || this.stopped || this.node.leader !== "") clearInterval(again);
          else this.node.campaignNow();
        },
        patient ? PATIENT_CAMPAIGN_RETRY_MS : CAMPAIGN_RETRY_MS,
      );
      again.unref();
    });
  }

  private nodeStarted = false;

  /**
   * The consumer asks for fewer members than the group has while this member knows no leader
   * (scaled down while its server was down): a pre-vote now, which a leader that removed it
   * answers with the entry removing it (RaftNode), so it leaves the group in a round trip.
   */
  checkMembership(): void {
    const n = this.consumer?.cfg.num_replicas ?? 0;
    if (this.nodeStarted && !this.stopped && this.node.leader === "" && this.holds && n > 0 && n < this.node.config.voters.length) this.node.campaignNow();
  }

  /** Does this member lead the consumer (deliver, take acks and pulls)? Only once its group's earlier entries are applied here. */
  get leads(): boolean {
    return this.node.isLeader && this.node.leaderReady && !this.stopped;
  }

  get leader(): string {
    return this.node.leader;
  }

  // ---- the leader's changes ----

  /**
   * A change the consumer made as leader: proposed with the other changes of this turn as one
   * entry, or, while its last entry is not committed, with those made until it is (one entry in
   * flight: under load, each delivery and ack an entry of its own cost every member an append,
   * a write and an answer; nothing waits on these entries but double acks).
   */
  forward(op: ConsumerOp): void {
    this.ops.push(op);
    if (!this.opsScheduled && (this.inflight === 0 || this.ops.length >= MAX_HELD_OPS)) {
      this.opsScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** An ack's confirmation, sent once the changes made before it are committed (a confirmed ack survives this leader's loss). */
  confirmAfterCommit(reply: string): void {
    if (this.ops.length > 0) {
      this.unproposedConfirms.push(reply);
      return;
    }
    let last = -1;
    for (const i of this.ownEntries.keys()) if (i > last) last = i;
    if (last < 0 || !this.node.isLeader) {
      if (last < 0) this.host.stream.jsa.account.publishOnce(reply, undefined, NO_BYTES);
      return;
    }
    const list = this.confirmsAt.get(last);
    if (list === undefined) this.confirmsAt.set(last, [reply]);
    else list.push(reply);
  }

  private readonly flush = (): void => {
    this.opsScheduled = false;
    const ops = this.ops;
    if (ops.length === 0) return;
    this.ops = [];
    const confirms = this.unproposedConfirms;
    this.unproposedConfirms = [];
    const list = ops.map((c) => ({ name: this.name, c }));
    const entry = encodeConsumerOps(KIND_CONSUMERS, list) ?? kindJsonEntry(KIND_JSON, { list: ops });
    try {
      const index = this.node.propose(entry);
      this.ownEntries.set(index, entry);
      this.inflight = index;
      if (confirms.length > 0) this.confirmsAt.set(index, confirms);
    } catch {
      // no longer the leader (or no room): the other members miss these changes (a redelivery at worst), the acks are not confirmed
    }
  };

  // ---- leadership ----

  private becameReady(): void {
    if (!this.node.isLeader || this.stopped) return;
    this.leaderSinceNs = nowNs();
    const c = this.consumer;
    if (c === undefined) return;
    // This leader's state for all: members whose state the log does not explain take it (and a
    // group started on each member's own copy, from before consumers had groups, starts equal).
    this.proposeState();
    this.wasLeading = true;
    c.resume();
    const held = this.heldPulls;
    this.heldPulls = [];
    for (const fn of held) fn();
    const stream = this.host.stream;
    const ctx = stream.jsa.advisoryContext;
    const replicas = this.replicasJson();
    adv.consumerLeaderElected(ctx, stream.name, this.name, this.host.self, replicas);
    this.scheduleMembersCheck();
  }

  private wasLeading = false;

  /** On the leader (once it applied the earlier terms' entries): its whole state as an entry, which every other member takes as its own. */
  private proposeState(): void {
    const c = this.consumer;
    if (c === undefined || !this.leads) return;
    // Changes made and not proposed yet go first: the state holds them (after it they would count twice).
    if (this.ops.length > 0) this.flush();
    try {
      // (Its own: not applied here again when it commits, which would undo the changes made meanwhile.)
      const entry = kindJsonEntry(KIND_STATE, stateJson(c.stateSnapshot()));
      this.ownEntries.set(this.node.propose(entry), entry);
      // Leading, its state is the group's from this entry on.
      this.unverified = false;
    } catch {
      // no longer the leader: proposed by the next one
    }
  }

  private distrustState(why: string): void {
    if (this.unverified) return;
    this.unverified = true;
    this.host.stream.jsa.service.log.warn(`consumer '${this.host.stream.name} > ${this.name}': ${why}; it applies no change until the leader's state comes`);
  }

  /** The consumer stays here as a single replica (scaled down, this member left alone): the group ends without telling waiting pulls the leader moved. */
  keepConsumer(): void {
    this.wasLeading = false;
  }

  /** Pull requests that reached this member while it was elected and not yet ready (served once it leads). */
  private heldPulls: Array<() => void> = [];

  /** Run `fn` once this elected member leads (dropped if it loses the election's outcome first). */
  whenLeading(fn: () => void): void {
    if (this.heldPulls.length < MAX_HELD_PULLS) this.heldPulls.push(fn);
  }

  private lostLeadership(): void {
    this.heldPulls = [];
    this.ops = [];
    this.inflight = 0;
    this.unproposedConfirms = [];
    this.confirmsAt.clear();
    this.leaderSinceNs = undefined;
    if (this.membersTimer !== undefined) clearTimeout(this.membersTimer);
    this.membersTimer = undefined;
    // Waiting pulls learn the leader moved (409 Leadership Change; none when this server leaves).
    const c = this.consumer;
    if (c !== undefined && this.wasLeading) c.leadershipMoved(this.host.leavingGroup());
    this.wasLeading = false;
  }

  /** CONSUMER.LEADER.STEPDOWN on the consumer's leader: `preferred`, else the most up-to-date member, leads. False: nobody to hand it to. */
  stepDown(preferred: string | undefined): boolean {
    return this.node.stepDown(preferred);
  }

  private scheduleMembersCheck(): void {
    if (this.membersTimer !== undefined || this.stopped) return;
    this.membersTimer = setTimeout(() => {
      this.membersTimer = undefined;
      if (this.stopped || !this.node.isLeader) return;
      this.syncMembers();
      this.scheduleMembersCheck();
    }, MEMBERS_CHECK_MS);
    this.membersTimer.unref();
  }

  /**
   * On the group's leader: the membership goes toward the stream's (one change at a time):
   * servers the stream has are added (learners until caught up), those it left removed; this
   * leader hands its leadership over first when its own server leaves.
   */
  syncMembers(): void {
    const node = this.node;
    if (!node.isLeader || !node.leaderReady) return;
    const want = this.host.consumerMembers();
    if (want === undefined || want.length === 0) return;
    const have = [...node.config.voters, ...node.config.learners];
    if (this.replicasWanted(want.length) < want.length) {
      this.syncFewer(want, have);
      return;
    }
    if (this.host.streamScalingDown()) {
      this.shrinkOnto(want);
      return;
    }
    try {
      const add = want.find((p) => !have.includes(p));
      if (add !== undefined) {
        node.addPeer(add);
        return;
      }
      if (node.config.learners.length > 0) return; // promoted once caught up
      if (!want.includes(this.host.self)) {
        const to = want.find((p) => node.config.voters.includes(p));
        if (to !== undefined) node.stepDown(to);
        return;
      }
      // (A member the stream stays on is kept though it is not in the stream's group yet: a group
      // started on every assigned server at once has it before the stream's group does. A member
      // the stream leaves is kept until the stream's group removed it: the stream's leader, which
      // waits for the consumers to be led from the servers that stay before it removes anyone,
      // learns that from its own copy of this group, which stops hearing once removed.)
      const staying = this.host.stayingServers() ?? want;
      const streamMembers = this.host.streamMembers();
      const remove = have.find((p) => !want.includes(p) && !staying.includes(p) && !streamMembers.includes(p));
      if (remove !== undefined) node.removePeer(remove);
      else this.keptIfAlone();
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      // a change in progress: the next check goes on
    }
  }

  /**
   * The stream scales down to `want` (its leader removes none of its own members before this
   * group is there): as nats-server 2.15 moves a consumer's group, this leader removes the
   * members on servers that go one at a time, then, if its own server goes too, hands its
   * leadership to a member that stays, and that leader removes it. A group with fewer members on
   * the servers that stay than it has replicas gets one of them first.
   */
  private shrinkOnto(want: string[]): void {
    const node = this.node;
    const cfg = node.config;
    const self = this.host.self;
    try {
      if (cfg.learners.length > 0) return; // promoted once caught up
      // (Fewer members on the servers that stay than it has replicas, R3 -> R2 with a member on
      // the server that goes: one that stays is added first, as nats-server backfills from them.)
      const add = want.find((p) => !cfg.voters.includes(p));
      if (add !== undefined && cfg.voters.filter((p) => want.includes(p)).length < this.replicasWanted(want.length)) {
        node.addPeer(add);
        return;
      }
      const going = this.keepOrder(cfg.voters.filter((p) => p !== self && !want.includes(p))).pop();
      if (going !== undefined) {
        node.removePeer(going);
        return;
      }
      const to = want.find((p) => cfg.voters.includes(p));
      if (!want.includes(self) && to !== undefined) node.stepDown(to);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      // a change in progress: the next check goes on
    }
  }

  /** How many servers the group should have when the stream stays on `servers`: the consumer's num_replicas when it asks for fewer (R2 of R3). */
  private replicasWanted(servers: number): number {
    const n = this.consumer?.cfg.num_replicas ?? 0;
    return n > 0 && n < servers ? n : servers;
  }

  /**
   * The membership of a consumer with fewer replicas than its stream (nats-server: a group of
   * that many of the stream's servers): a staying server is added while fewer of them are
   * voters (one that is heard from first), a server the stream leaves is removed once the
   * stream's group removed it; scaled down by an update (R3 -> R2), the member to go is removed
   * (and learns it from the entry removing it: ConsumerGroupHost.consumerGroupLeft).
   */
  private syncFewer(want: string[], have: string[]): void {
    const node = this.node;
    const n = this.replicasWanted(want.length);
    const self = this.host.self;
    try {
      if (node.config.learners.length > 0) return; // promoted once caught up
      const kept = node.config.voters.filter((p) => want.includes(p));
      if (kept.length < n) {
        // (A server a route leads to first: one stopped would join as a learner never promoted.)
        const add = this.keepOrder(want.filter((p) => !have.includes(p)))[0];
        if (add !== undefined) node.addPeer(add);
        return;
      }
      if (kept.length > n && kept.includes(self)) {
        // Scaled down (R3 -> R2): this leader stays, the member to go is the last to keep; the
        // entry removing it tells it so.
        const order = this.keepOrder(kept);
        node.removePeer(order[order.length - 1]);
        return;
      }
      if (!want.includes(self)) {
        node.stepDown(kept[0]);
        return;
      }
      const staying = this.host.stayingServers() ?? want;
      const streamMembers = this.host.streamMembers();
      const leaving = have.find((p) => !want.includes(p) && !staying.includes(p) && !streamMembers.includes(p));
      if (leaving !== undefined) {
        node.removePeer(leaving);
        return;
      }
      this.keptIfAlone();
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      // a change in progress: the next check goes on
    }
  }

  /**
   * Scaled down to one replica, this leader alone in the group and its removals committed: the
   * stream's group records that the consumer lives here from now on (ConsumerGroupHost.consumerKept).
   */
  private keptIfAlone(): void {
    const node = this.node;
    const cfg = node.config;
    if (cfg.voters.length === 1 && cfg.voters[0] === this.host.self && cfg.learners.length === 0 && node.pendingConfigChange === undefined && this.host.scalingDownToOne(this.name)) this.host.consumerKept(this.name);
  }

  /**
   * `members` in the order a scale-down keeps them: this leader, then those live (a route leads
   * to their server, heard from within a few heartbeats), least behind (as nats-server keeps its
   * leader, then online peers, least lag first): group_common's keepOrder.
   */
  private keepOrder(members: readonly string[]): string[] {
    const heard = new Set(this.node.peerStatus().filter((p) => p.lastSeenMs >= 0 && p.lastSeenMs <= LIVE_MS).map((p) => p.id));
    return keepOrder(this.node, this.host.self, members, (id) => heard.has(id), (s) => this.host.reachable(s));
  }

  /** When this leader saw its membership start to differ from the replicas asked for, or the group was started by a scale-up (nats-server's desired `created`). */
  private scaleSince: string | undefined;
  /** How many voters the group had then. */
  private scaleFrom = 0;

  /**
   * `desired` of the consumer's cluster info while its group grows or shrinks to the replicas
   * asked for: the servers it goes to, and what its leader waits for (nats-server 2.15 shows it
   * until the group has them).
   */
  private desiredJson(): Record<string, unknown> | undefined {
    const node = this.node;
    if (!node.isLeader) return undefined;
    const want = this.host.consumerMembers();
    const n = want !== undefined ? this.replicasWanted(want.length) : 0;
    const cfg = node.config;
    const change = node.pendingConfigChange;
    const kept = cfg.voters.filter((p) => want?.includes(p) === true);
    // (A group a scale-up started on all its members at once: until they caught up.)
    const behind = this.scaleSince !== undefined ? node.peerStatus().filter((p) => !p.current).map((p) => p.id) : [];
    // (Scaled down to one replica, alone in its group: until the stream's group recorded that it keeps it.)
    const settled = change === undefined && cfg.learners.length === 0 && kept.length === n && cfg.voters.length === n && behind.length === 0 && !this.host.scalingDownToOne(this.name);
    if (want === undefined || want.length === 0 || settled) {
      this.scaleSince = undefined;
      return undefined;
    }
    if (this.scaleSince === undefined) {
      this.scaleSince = new Date().toISOString();
      this.scaleFrom = cfg.voters.length;
    }
    const to = [...this.keepOrder(kept), ...cfg.learners, ...want.filter((p) => !cfg.voters.includes(p) && !cfg.learners.includes(p))].slice(0, n);
    // A member left behind while the group shrinks is waited for as the peer set settling, not
    // as a peer to add: nobody is added then (nats-server shows no catch-up phase in a scale-down).
    const shrinking = this.scaleFrom > n;
    const pending = [...want.filter((p) => !cfg.voters.includes(p) && !cfg.learners.includes(p) && to.includes(p)), ...(shrinking ? [] : behind)];
    return {
      created: this.scaleSince,
      name: this.host.clusterName,
      replicas: to.map((p) => ({ name: p, peer: peerId(p) })),
      // (Scaling down by an update, until this leader removed a first member; following its
      // stream's scale-down there is nothing to select: the servers are the stream's.)
      status: migrationStatus({ voters: cfg.voters, pending, learners: cfg.learners.length, change, selecting: change === undefined && cfg.voters.length > n && cfg.voters.length === this.scaleFrom && !this.host.streamScalingDown() }),
    };
  }

  /** Is this server a member of the group (a voter or a learner)? A copy of a consumer with fewer replicas than its stream on another server is not. */
  get holds(): boolean {
    const cfg = this.node.config;
    return cfg.voters.includes(this.host.self) || cfg.learners.includes(this.host.self);
  }

  /**
   * Do the group's voters include every `staying` server (as many of them as the consumer asks
   * for, if fewer), with a leader among them? A server outside the group cannot tell: true
   * (a member the stream leaves waits until the group does not need it, cluster.ts).
   */
  settledOn(staying: string[], exactly = false): boolean {
    const node = this.node;
    if (!this.holds) return true;
    const n = this.replicasWanted(staying.length);
    const cfg = node.config;
    // (`exactly`, a scale-down: and no member on a server that goes, learners or a change in flight included.)
    if (exactly && (cfg.learners.length > 0 || node.pendingConfigChange !== undefined || cfg.voters.some((p) => !staying.includes(p)))) return false;
    return node.leader !== "" && staying.includes(node.leader) && cfg.voters.filter((p) => staying.includes(p)).length >= n;
  }

  /**
   * Does the group need this server for a quorum once the servers not in `after` are gone (a
   * voter, the others there too few)? Not once it hears no leader: removed (a removed member is
   * never told), or the group has no quorum anyway.
   */
  needsForQuorum(after: string[]): boolean {
    const voters = this.node.config.voters;
    if (!voters.includes(this.host.self) || this.node.leader === "") return false;
    return voters.filter((v) => v !== this.host.self && after.includes(v)).length < Math.floor(voters.length / 2) + 1;
  }

  // ---- the state machine ----

  apply(data: Buffer, index: number): void {
    const own = this.ownEntries.get(index);
    if (own !== undefined) this.ownEntries.delete(index);
    if (this.inflight !== 0 && index >= this.inflight) {
      // The changes made meanwhile go now.
      this.inflight = 0;
      if (this.ops.length > 0 && !this.opsScheduled) {
        this.opsScheduled = true;
        queueMicrotask(this.flush);
      }
    }
    if (this.ownEntries.size > 0) for (const i of this.ownEntries.keys()) if (i < index) this.ownEntries.delete(i);
    if (this.confirmsAt.size > 0) this.sendConfirms(index);
    if (data[0] === KIND_STATE && own === undefined) {
      // A leader's whole state replaces this copy's at any index: one this member applied before
      // (a replay after a restart: the entries after it are applied again on it, as they were)
      // or not; a state the log did not explain is the group's again.
      this.applyEntry(data, index);
      this.unverified = false;
    } else {
      if (index <= this.applied) return; // applied before this start
      if (own === undefined || !own.equals(data)) this.applyEntry(data, index);
    }
    this.applied = index;
    if (!this.appliedWriteScheduled) {
      this.appliedWriteScheduled = true;
      setImmediate(() => {
        this.appliedWriteScheduled = false;
        this.writeApplied();
      });
    }
  }

  private applyEntry(data: Buffer, index: number): void {
    const c = this.consumer;
    const stream = this.host.stream;
    let list: NamedConsumerOp[];
    try {
      if (data[0] === KIND_CONSUMERS) list = decodeConsumerOps(data);
      else if (data[0] === KIND_JSON) list = (JSON.parse(data.toString("utf8", 1)) as { list: ConsumerOp[] }).list.map((op) => ({ name: this.name, c: op }));
      else if (data[0] === KIND_STATE) {
        this.takeState(stateOf(JSON.parse(data.toString("utf8", 1)) as StateJson));
        return;
      } else return;
    } catch {
      stream.jsa.service.log.warn(`consumer '${stream.name} > ${this.name}': RAFT entry ${index} does not decode`);
      return;
    }
    if (c === undefined) return;
    // A state the log does not explain takes no delivery or ack until the leader's state comes
    // (a config update is not part of that state: it applies).
    if (this.unverified) list = list.filter((x) => x.c.op === "update");
    this.host.applying = true;
    try {
      for (const x of list) c.applyConsumerOp(x.c);
    } finally {
      this.host.applying = false;
    }
    this.host.consumerChangesApplied(list);
  }

  /**
   * The consumer's state becomes `next` (a leader's state entry or snapshot). The acks it holds
   * that this copy had not applied (it skipped them waiting for this state, or missed compacted
   * entries) free messages of interest and work-queue streams as the acks themselves would have:
   * the stream's leader is told, or those messages would stay on every copy of the stream.
   */
  private takeState(next: ConsumerState): void {
    const c = this.consumer;
    if (c === undefined) return;
    const before = this.host.checksRetention ? c.stateSnapshot() : undefined;
    c.replaceState(next);
    if (before !== undefined) this.host.consumerStateReplaced(c.releasedSince(before));
  }

  private sendConfirms(index: number): void {
    for (const [at, replies] of this.confirmsAt) {
      if (at > index) continue;
      this.confirmsAt.delete(at);
      for (const reply of replies) this.host.stream.jsa.account.publishOnce(reply, undefined, NO_BYTES);
    }
  }

  snapshot(): { data: Buffer } {
    const c = this.consumer;
    return { data: Buffer.from(JSON.stringify(c === undefined ? {} : stateJson(c.stateSnapshot()))) };
  }

  /** At start the consumer's own store is at or past the snapshot; from the leader (this member missed compacted entries) its state replaces this copy's. */
  restore(data: Buffer, index: number, fromLeader: boolean): void {
    // At start the consumer's store usually holds at least what the snapshot does (entries up to
    // it are not applied again); a state older than it (its last writes lost) is the snapshot's.
    if (!fromLeader && this.applied >= index) return;
    if (!fromLeader) this.applied = index;
    try {
      const j = JSON.parse(data.toString()) as StateJson;
      if (j.delivered !== undefined) this.takeState(stateOf(j));
    } catch {
      this.host.stream.jsa.service.log.warn(`consumer '${this.host.stream.name} > ${this.name}': the leader's snapshot does not decode`);
    }
    this.applied = index;
    if (fromLeader) this.unverified = false;
    this.writeApplied();
  }

  private writeApplied(): void {
    if (this.inMemory || this.stopped) return;
    try {
      this.appliedFd ??= fs.openSync(path.join(this.dir, "applied"), fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
      this.appliedBuf.fill(0x20);
      this.appliedBuf.write(String(this.applied), 0, "latin1");
      this.appliedBuf[APPLIED_WIDTH - 1] = 0x0a;
      fs.writeSync(this.appliedFd, this.appliedBuf, 0, APPLIED_WIDTH, 0);
    } catch {
      // the group is being removed
    }
  }

  // ---- info ----

  /** `cluster` of the consumer's info: its group's leader and the other members. */
  clusterInfo(): Record<string, unknown> {
    const node = this.node;
    // (No leader known: none named, as nats-server leaves it out.)
    const out: Record<string, unknown> = { name: this.host.clusterName, raft_group: this.group, ...(node.leader !== "" ? { leader: node.leader } : {}) };
    if (node.isLeader && this.leaderSinceNs !== undefined) out.leader_since = rfc3339(this.leaderSinceNs);
    else if (!node.isLeader && node.leader !== "") {
      // A member answering for a consumer another member leads (the stream's leader answers its
      // create): since it heard of that leader, which was elected about then (nats-server's
      // consumer leader answers, with its own).
      const heardMs = node.raftzStatus().leaderSince;
      if (heardMs > 0) out.leader_since = rfc3339(BigInt(heardMs) * 1_000_000n);
    }
    out.system_account = true;
    out.traffic_account = "$SYS";
    const replicas = this.replicasJson();
    if (replicas.length > 0) out.replicas = replicas;
    const desired = this.desiredJson();
    if (desired !== undefined) out.desired = desired;
    return out;
  }

  private replicasJson(): Array<Record<string, unknown>> {
    const node = this.node;
    return groupReplicasJson(node, this.host.self, node.leader !== "" && node.applied >= node.commit, ELECTION_MAX_MS, (s) => this.host.reachable(s));
  }

  // ---- lifetime ----

  stop(): void {
    if (this.stopped) return;
    if (this.appliedWriteScheduled) this.writeApplied();
    const cstore = this.consumer?.cstore;
    if (cstore?.markSource === this.stateMark) cstore.markSource = undefined;
    this.lostLeadership();
    this.stopped = true;
    this.node.stop();
    if (this.appliedFd !== undefined) {
      try {
        fs.closeSync(this.appliedFd);
      } catch {
        // closed already
      }
      this.appliedFd = undefined;
    }
    this.wire.unregister(this.group, this.receiver);
  }

  /** Stop and remove the group's files (the consumer is deleted, scaled down or gone from this server). */
  destroy(): void {
    this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}



