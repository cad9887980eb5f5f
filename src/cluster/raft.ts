// A RAFT group member: leader election with pre-vote, log replication with batching and
// back-pressure, commit, snapshots and compaction, catch-up of a lagging or new member by
// snapshot plus log, membership changes one member at a time (new members join as learners and
// are promoted once caught up; a removed member is sent the entry removing it, also when it asks
// for votes later, so it stops campaigning), leadership transfer.
//
// It knows nothing of sockets, timers or files: messages go through a RaftTransport, time and
// randomness come from a RaftEnv, state lives in a RaftStore (raft_store.ts), and committed
// entries go to a RaftStateMachine. The server wires it to routes (the `$NRG.` subjects) and
// real timers; the deterministic tests wire it to a simulated network, clock and disk.
//
// Safety beyond the RAFT paper:
//   - Anything that acknowledges durable state (an append's success, a vote) is sent only after
//     the store's fsync covering it (group commit: one fsync per batch). With `lazySyncMs` (a
//     replicated consumer's group) ordinary entries are acknowledged once written to the kernel
//     and fsynced within that many ms; term, vote and membership entries stay synchronous.
//   - Every entry carries a CRC32 from the moment its leader made it (checked on receipt, on
//     disk and on load); the store reports damage instead of trusting it. A damaged member (log
//     cut by corruption or truncation, snapshot or term/vote lost) neither votes nor campaigns
//     until a leader has brought its log up to that leader's last index as of first contact:
//     then it holds every entry committed before its damage. A member whose term and vote were
//     lost also never votes again in a term it may have voted in (only after the repairing term).
//     One whose log was intact but discarded with its state machine's damaged copy never
//     campaigns either, but votes by where that log ended (its vote floor, raft_store.ts
//     LogPosition): a quorum of live members still elects, never a leader missing an entry
//     the damaged member acknowledged.
//   - Each start of a member is a new incarnation, sent with its answers: the leader forgets
//     what it believed the member had (match index) when the incarnation changes, so an entry is
//     never counted on a copy that is gone.
//   - Pre-vote and leader stickiness: a member that hears from a leader grants no (pre-)votes, so
//     a returning or partitioned member cannot depose a working leader.
//   - A leader that has not heard from a quorum for an election timeout steps down.
//   - A leader answers from its own state (a failed check) only after confirmLeading: it may be
//     deposed without knowing it (paused while the others elected), and no clock tells it so.
import {
  ENTRY_CONFIG,
  ENTRY_NOOP,
  ENTRY_NORMAL,
  decodeConfig,
  encodeConfig,
  entryOfRecord,
  laterPosition,
  makeEntry,
  type RaftConfig,
  type RaftEntry,
  type RaftStore,
  type SnapshotMeta,
} from "./raft_store.js";
import { crc32 } from "../storage/crc32.js";
import { CommitRecord } from "./raft_commit_record.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";
import { objectArray } from "../server/object_array.js";

export type { RaftConfig, RaftEntry } from "./raft_store.js";

// ---- messages ----

export type RaftMsg =
  | { t: "prevote" | "vote"; term: number; lastIndex: number; lastTerm: number; transfer: boolean }
  | { t: "prevote_resp" | "vote_resp"; term: number; granted: boolean }
  | { t: "append"; term: number; prevIndex: number; prevTerm: number; commit: number; leaderLast: number; entries: RaftEntry[] }
  /** `index`: on success the last index now matching the leader's log; on failure where to retry after. */
  /** `applied`, `commit`: the sender's indexes when it answered (what its leader shows as current). */
  | { t: "append_resp"; term: number; success: boolean; index: number; inc: number; applied?: number; commit?: number }
  | { t: "snap"; term: number; index: number; snapTerm: number; config: RaftConfig; offset: number; total: number; crc: number; chunk: Buffer }
  /** `offset`: the next byte wanted; `done` once installed. */
  | { t: "snap_resp"; term: number; index: number; offset: number; done: boolean; inc: number }
  | { t: "timeout_now"; term: number };

export interface RaftTransport {
  send(to: string, msg: RaftMsg): void;
}

export interface RaftTimer {
  cancel(): void;
}

/** Time, timers and randomness: real ones in the server, simulated ones in tests. */
export interface RaftEnv {
  /** Milliseconds, monotonic. */
  now(): number;
  timer(ms: number, fn: () => void): RaftTimer;
  /** Run `fn` after the current event (batches everything that happens in one turn). */
  defer(fn: () => void): void;
  /**
   * Run `fn` once the current event's work is done, before the loop reads more (a microtask),
   * in call order with other `soon` work. Without it, `defer`.
   */
  soon?(fn: () => void): void;
  random(): number;
}

/** What a group replicates. */
export interface RaftStateMachine {
  /** A committed entry, in log order, exactly once per index (again after a restore). */
  apply(data: Buffer, index: number): void;
  /**
   * The state as of the last applied entry. `ready` (optional) resolves once the state it
   * describes is durable (a stream fsyncs its store): the log is compacted only then.
   */
  snapshot(): { data: Buffer; ready?: Promise<void> };
  /**
   * Replace the state with a snapshot's: at start from the local snapshot (`fromLeader` false:
   * the state machine's own durable state is usually ahead of it already), or one a leader sent.
   */
  restore(data: Buffer, index: number, fromLeader: boolean): void | Promise<void>;
  /**
   * Everything up to `index` is applied (after each round of applying, a snapshot installed
   * too), entries of every kind: a log that ends with a leader's no-op or a membership change
   * calls apply() for none of them.
   */
  appliedUpTo?(index: number): void;
}

export type RaftRole = "follower" | "precandidate" | "candidate" | "leader";

export interface RaftObserver {
  /** Role, leader or term changed. */
  stateChanged?(role: RaftRole, leader: string, term: number): void;
  /** The leader has applied everything before its term: it may take requests. */
  leaderReady?(term: number): void;
  /** A leadership transfer timed out: this member leads on (and takes requests again). */
  transferAbandoned?(term: number): void;
  /** A leader lost its quorum (it steps down). */
  quorumLost?(term: number): void;
  /** The membership changed (an entry appended or a snapshot installed). */
  configChanged?(config: RaftConfig): void;
  /**
   * A membership is committed here: its entry applied, or the leader's snapshot installed (its
   * membership). A member keeping its membership apart from the log (nats-server's peers.idx)
   * writes it then, so a log discarded later leaves it with the group it really has.
   */
  configCommitted?(config: RaftConfig): void;
  /**
   * A leader heard a member answer as a new incarnation (it restarted): after a power loss its
   * state machine may reflect entries its log lost (lazySyncMs).
   */
  memberRestarted?(id: string): void;
  /**
   * This follower's log from `index` on was replaced by its leader's: a state machine that
   * applied entries there holds changes the group's log no longer has (lazySyncMs).
   */
  logReplaced?(index: number): void;
  /** The local state was found damaged, and later repaired. */
  damaged?(reasons: string[]): void;
  repaired?(): void;
  /** A safety check failed (tests fail on it). */
  violation?(what: string): void;
}

export interface RaftLogger {
  info(msg: string): void;
  warn(msg: string): void;
  debug?(msg: string): void;
}

export interface RaftOptions {
  id: string;
  store: RaftStore;
  transport: RaftTransport;
  env: RaftEnv;
  sm: RaftStateMachine;
  /** Membership of a group that has neither log nor snapshot yet. */
  initial: RaftConfig;
  /** Joining an existing group: wait for its leader before trusting `initial`. */
  joining?: boolean;
  /**
   * A new group's members all start in `term` with their vote in it given to `leader` (named by
   * an entry every member applies): that voter leads at once, without an election, and nobody
   * else can win `term`, every vote in it being spent. Only for a store with no term, log or
   * snapshot yet (a restart keeps the stored term and vote: a leader is never made twice).
   */
  firstTerm?: { term: number; leader: string };
  /**
   * The state machine's own state was found damaged, and the group's log and snapshot on this
   * member were discarded with it (why, as the store reports its own damage): the member is
   * damaged until a leader repaired it, as when its log is.
   */
  damaged?: string[];
  /** Tests hold learners back (a group caught mid-growth): false while held. */
  mayPromote?: () => boolean;
  electionMinMs?: number;
  electionMaxMs?: number;
  heartbeatMs?: number;
  /** Per append message. */
  maxAppendEntries?: number;
  maxAppendBytes?: number;
  /** Append messages in flight per follower. */
  maxInflight?: number;
  /** Back-pressure: proposals are refused while this many bytes are uncommitted. */
  maxUncommittedBytes?: number;
  /**
   * A follower learns a new commit index with the next append; when none carries it within this
   * many ms, an append is sent for it alone (0: at once). Under steady load the next append
   * comes first, so no message (and no answer) is spent on it.
   */
  commitNoticeMs?: number;
  /**
   * Ordinary entries count as held (a follower's answer, the leader's own copy in the commit)
   * once written to the kernel, and are fsynced within this many ms (0: before, the default).
   * Term, vote and membership entries are fsynced before they count either way, so a term never
   * has two leaders. Safe against a kill -9 (the kernel keeps what was written; a restarted
   * member is a new incarnation, whose copy the leader does not count again). A power loss can
   * take back the last committed entries (of a majority; of one member, when the next leader is
   * elected without the others that held them); a member that applied them then takes the
   * leader's log (warned) rather than refusing it. For state whose loss only repeats work: a
   * replicated consumer's acks (their messages are delivered again), as its state file is synced
   * lazily too.
   */
  lazySyncMs?: number;
  /**
   * Apply an entry only once a commit index covering it is durable in the group's files
   * (raft_commit_record.ts; one more fsync before a commit is applied). A restarted member then
   * applies its own log up to that index at once, before any leader is elected (nats-server
   * replays its WAL up to the commit its stored appends carry), and nothing it applied before
   * it stopped lies beyond it (`commitRecordedAtStart`). Not with lazySyncMs (whose commit may
   * go back). For the JetStream meta group, whose entries are few.
   */
  recordCommit?: boolean;
  /** Take a snapshot once this many entries or bytes were applied since the last. */
  snapshotEntries?: number;
  snapshotBytes?: number;
  snapshotChunk?: number;
  observer?: RaftObserver;
  log?: RaftLogger;
}

export class RaftError extends Error {
  constructor(
    readonly code: "not_leader" | "busy" | "config_pending" | "stopped" | "rescue",
    msg: string,
  ) {
    super(msg);
  }
}

interface Progress {
  match: number;
  next: number;
  mode: "probe" | "replicate" | "snapshot";
  /** Last index of each append in flight (replicate mode). */
  inflight: number[];
  /** When the oldest append in flight was sent. */
  inflightSince: number;
  lastResp: number;
  /** The peer answered this leader (lastResp starts at the election, as a grace for quorum checks). */
  answered: boolean;
  lastSent: number;
  /** The commit index the last append told it. */
  commitSent: number;
  /**
   * The last index it said it applied (its answers carry it): it is current only once this
   * reaches the commit index, not when its log merely holds the entries (a restarted member
   * replays them onto its state machine first).
   */
  applied: number;
  /** Its last answer said it had applied every entry it knew committed (it is not replaying its log). */
  appliedAllKnown: boolean;
  /**
   * The connection to its server was lost (its process died, its route was cut): what it
   * answered before may be gone with it (a power cut), so it is not current until it answers again.
   */
  contactLost: boolean;
  inc: number;
  snapOffset: number;
  snapIndex: number;
  /** A member the configuration at this index removed: still sent appends until it has that entry (and so knows it is out). */
  removedAt?: number;
}

const NO_LEADER = "";

export class RaftNode {
  readonly id: string;
  role: RaftRole = "follower";
  term = 0;
  vote = "";
  leader = NO_LEADER;
  commit = 0;
  applied = 0;
  config: RaftConfig;
  damaged = false;
  stopped = false;

  private readonly store: RaftStore;
  private readonly env: RaftEnv;
  private readonly sm: RaftStateMachine;
  private readonly transport: RaftTransport;
  private readonly observer: RaftObserver;
  private readonly log: RaftLogger | undefined;
  private readonly mayPromote: (() => boolean) | undefined;
  private readonly o: Required<Pick<RaftOptions, "electionMinMs" | "electionMaxMs" | "heartbeatMs" | "maxAppendEntries" | "maxAppendBytes" | "maxInflight" | "maxUncommittedBytes" | "commitNoticeMs" | "snapshotEntries" | "snapshotBytes" | "snapshotChunk">>;

  /** Config entries in the log (index, config), after the snapshot's. */
  private configs: Array<{ index: number; config: RaftConfig }> = [];
  private snapConfig: RaftConfig;
  private joining: boolean;
  private readonly firstTerm: { term: number; leader: string } | undefined;
  private readonly stateDamage: string[];
  private electionTimer: RaftTimer | undefined;
  private heartbeatTimer: RaftTimer | undefined;
  private commitNoticeTimer: RaftTimer | undefined;
  private lastLeaderContact = -Infinity;
  /** Wall-clock ms when the current leader became known (0: none). */
  private leaderSince = DOUBLE_ZERO;
  private votes = new Set<string>();
  private readonly progress = new Map<string, Progress>();
  /** First index of the leader's term (its no-op): applied means the leader is ready. */
  private termStart = 0;
  private readyTold = false;
  private lastQuorumCheck = DOUBLE_ZERO;
  /**
   * When the election and heartbeat timers are due (a late one tells of a pause). These times
   * start as double fields (server/double_zero.ts): the first clock value stored would otherwise
   * change the shape of every member and throw away their optimized code.
   */
  private electionDue = DOUBLE_ZERO;
  /** When the armed election timer fires (never after electionDue). */
  private electionTimerAt = DOUBLE_ZERO;
  private heartbeatDue = DOUBLE_ZERO;
  /** One late timer was forgiven since the leader was last heard (or the quorum last checked). */
  private stallForgiven = false;
  /** An unsafe quorum rescue (rescueQuorum): the lowered quorum, until its timer ends it. */
  private rescue: { quorum: number; timer: RaftTimer } | undefined;
  /** When this member last answered an append. */
  private lastAnswerAt = -Infinity;
  /**
   * The leader's last index in the first append this member received since it started (-1:
   * none yet). A member that joined an existing group applies the entries up to it as history.
   */
  leaderLastAtFirstContact = -1;
  private pendingAppend: RaftEntry[] = objectArray();
  private appendScheduled = false;
  private uncommittedBytes = 0;
  private durableOut: Array<[string, RaftMsg]> = objectArray();
  private durableAfter: Array<() => void> = objectArray();
  private durableScheduled = false;
  private transfer: { to: string; deadline: number } | undefined;
  /** Damage repair: the leader's term and last index at first contact. */
  private repair: { term: number; target: number } | undefined;
  /** When term and vote were lost: no vote in any term up to this one. */
  private noVoteUpTo = 0;
  private restoring = false;
  private snapshotting = false;
  private appliedBytesSinceSnap = 0;
  /** When this leader last advanced its commit index (peerStatus: are entries being committed now?). */
  private commitAdvancedAt = -Infinity;
  private incoming: { index: number; term: number; config: RaftConfig; total: number; crc: number; parts: Buffer[]; have: number } | undefined;
  private applyScheduled = false;
  /** advanceCommit's working array. */
  private readonly matchScratch: number[] = [];
  /** confirmLeading's waiters, by index (ascending): told once that index is applied in `term`. */
  private confirms: Array<{ index: number; term: number; done: (ok: boolean) => void }> = [];
  /** RaftOptions.lazySyncMs (0: every entry fsynced before it counts). */
  private readonly lazySyncMs: number;
  private lazySyncTimer: RaftTimer | undefined;
  /** Lazy: the last membership entry appended; entries count unsynced only once it is durable. */
  private configBarrier = 0;
  /** RaftOptions.recordCommit: where the commit index is kept durable. */
  private readonly commitRecord: CommitRecord | undefined;
  /** recordCommit: entries up to here may be applied (a commit index covering them is durable). */
  private commitDurable = 0;
  private recordingCommit = false;
  /**
   * recordCommit: the commit index found recorded at start (at most the end of the log that
   * verified), applied before any leader is known and covering every entry applied before;
   * undefined when none was recorded (a store from before the record, or a new one) or a copy
   * of it was damaged (raft_commit_record.ts).
   */
  commitRecordedAtStart: number | undefined;

  constructor(opts: RaftOptions) {
    this.id = opts.id;
    this.store = opts.store;
    this.env = opts.env;
    this.sm = opts.sm;
    this.transport = opts.transport;
    this.observer = opts.observer ?? {};
    this.log = opts.log;
    this.joining = opts.joining === true;
    this.firstTerm = opts.firstTerm;
    this.stateDamage = opts.damaged ?? [];
    this.mayPromote = opts.mayPromote;
    const electionMinMs = opts.electionMinMs ?? 4000;
    this.o = {
      electionMinMs,
      electionMaxMs: opts.electionMaxMs ?? electionMinMs * 2,
      heartbeatMs: opts.heartbeatMs ?? Math.max(1, Math.floor(electionMinMs / 4)),
      maxAppendEntries: opts.maxAppendEntries ?? 512,
      maxAppendBytes: opts.maxAppendBytes ?? 1024 * 1024,
      maxInflight: opts.maxInflight ?? 8,
      maxUncommittedBytes: opts.maxUncommittedBytes ?? 64 * 1024 * 1024,
      commitNoticeMs: opts.commitNoticeMs ?? 0,
      snapshotEntries: opts.snapshotEntries ?? 65536,
      snapshotBytes: opts.snapshotBytes ?? 64 * 1024 * 1024,
      snapshotChunk: opts.snapshotChunk ?? 256 * 1024,
    };
    this.lazySyncMs = opts.lazySyncMs ?? 0;
    if (opts.recordCommit === true && this.lazySyncMs > 0) throw new Error("raft: recordCommit with lazySyncMs (a lazily synced commit may go back)");
    this.commitRecord = opts.recordCommit === true ? new CommitRecord(opts.store.disk) : undefined;
    this.snapConfig = opts.initial;
    this.config = opts.initial;
  }

  /** Open the store, restore the snapshot, and start the timers. */
  async start(): Promise<void> {
    const damage = [...this.store.open(), ...this.stateDamage];
    const hs = this.store.state;
    this.term = hs.term;
    this.vote = hs.vote;
    const snap = this.store.snapshotMeta;
    if (snap !== undefined) {
      this.snapConfig = snap.config;
      this.joining = false;
      this.restoring = true;
      try {
        const r = this.sm.restore(this.store.snapshotData ?? Buffer.alloc(0), snap.index, false);
        if (r instanceof Promise) await r;
      } finally {
        this.restoring = false;
      }
      this.applied = snap.index;
      this.commit = snap.index;
    }
    this.rebuildConfigs();
    if (this.configs.length > 0) this.joining = false;
    // A commit index persisted earlier is still committed (it never goes back).
    this.commit = Math.max(this.commit, Math.min(hs.commit, this.store.lastIndex));
    if (this.commitRecord !== undefined) {
      // Everything known committed now is durable (the state file's commit, the snapshot's)...
      this.commitDurable = this.commit;
      // ... and the record's, as far as the log still holds it, checksummed (a power cut may have
      // cut its tail; entries up to the recorded index were durable before it was written, so the
      // log holds them unless damaged, and then it was cut before the damage). A state file's
      // commit above it was never applied: applied only once recorded (a crash after would
      // apply it again).
      const recorded = this.commitRecord.read();
      if (recorded.commit !== undefined) {
        const known = Math.max(this.applied, Math.min(recorded.commit, this.store.lastIndex));
        this.commit = Math.max(this.commit, known);
        // (A copy that fails its checksum may have held a higher index, applied: not known to cover it.)
        if (recorded.intact) this.commitRecordedAtStart = this.commitDurable = known;
        else this.log?.warn(`RAFT member ${this.id}: a copy of its recorded commit index fails its checksum; replaying up to ${this.commit}`);
      }
    }
    if (damage.length > 0) {
      this.damaged = true;
      // The state machine's damage too: kept across a restart until repaired.
      this.store.markRepairPending(damage);
      if (damage.some((d) => d.startsWith("term and vote lost"))) this.noVoteUpTo = Number.MAX_SAFE_INTEGER;
      this.log?.warn(`RAFT member ${this.id}: local state damaged, repairing from the leader: ${damage.join("; ")}`);
      this.observer.damaged?.(damage);
    }
    const first = this.firstTerm;
    if (first !== undefined && first.term > 0 && hs.term === 0 && snap === undefined && this.store.lastIndex === 0 && !this.damaged && this.isVoter(first.leader)) {
      this.term = first.term;
      this.vote = first.leader;
      this.persist();
      if (first.leader === this.id) {
        this.setRole("candidate", NO_LEADER);
        // Its vote (the term's only leader) durable before it acts as the leader.
        this.afterDurable(() => {
          if (this.role === "candidate" && this.term === first.term && !this.stopped) this.becomeLeader();
        });
      }
    }
    this.resetElectionTimer();
    this.scheduleApply(true);
    // Alone in the group: nobody to wait for.
    if (this.config.voters.length === 1 && this.isVoter() && !this.damaged && !this.joining) this.env.defer(() => {
      if (this.role === "follower" && !this.stopped) this.startPreVote();
    });
  }

  // ---- public API ----

  get isLeader(): boolean {
    return this.role === "leader";
  }

  /** Leader that has applied everything of earlier terms. */
  get leaderReady(): boolean {
    return this.role === "leader" && this.applied >= this.termStart && this.transfer === undefined;
  }

  get lastIndex(): number {
    return this.store.lastIndex;
  }

  get quorum(): number {
    const natural = Math.floor(this.config.voters.length / 2) + 1;
    return this.rescue !== undefined && this.rescue.quorum < natural ? this.rescue.quorum : natural;
  }

  /** Is an unsafe quorum rescue (rescueQuorum) on? */
  get inRescue(): boolean {
    return this.rescue !== undefined;
  }

  /**
   * Unsafely lower the quorum for `forMs` (nats-server's META.RESCUE): the disaster recovery of a
   * group that lost for good so many members that it cannot elect a leader, so that the members
   * left elect one and remove the lost ones. Only on a voting member with a log, while no leader
   * is known; the quorum may only go down. It ends when its time is up or once the members left
   * need no more. Throws RaftError("rescue") with nats-server's reasons.
   */
  rescueQuorum(quorum: number, forMs: number): { prev: number; cur: number } {
    if (this.stopped) throw new RaftError("stopped", "raft: node is closed");
    const prev = this.quorum;
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > prev) throw new RaftError("rescue", "raft: rescue quorum must be between 1 and current quorum");
    if (this.leader !== "") throw new RaftError("rescue", "raft: leader is known");
    if (!this.config.voters.includes(this.id)) throw new RaftError("rescue", "raft: not a voting member");
    // A member without a log could be elected by the others' votes while the lost members hold the only copies.
    if (this.store.lastIndex === 0) throw new RaftError("rescue", "raft: log is empty");
    this.rescue?.timer.cancel();
    const rescue: { quorum: number; timer: RaftTimer } = {
      quorum,
      timer: this.env.timer(forMs, () => {
        if (this.rescue !== rescue) return;
        this.rescue = undefined;
        this.log?.warn(`RAFT member ${this.id}: unsafe quorum rescue expired, quorum restored to ${this.quorum}`);
      }),
    };
    this.rescue = rescue;
    this.log?.warn(`RAFT member ${this.id}: unsafe quorum rescue applied, quorum lowered ${prev} -> ${quorum} for ${Math.round(forMs / 1000)}s`);
    this.resetElectionTimer();
    return { prev, cur: quorum };
  }

  /**
   * Propose an entry (leader only). Returns its index; it is applied (everywhere) once
   * committed. Throws RaftError("not_leader" | "busy").
   */
  propose(data: Buffer): number {
    if (this.role !== "leader" || this.stopped) throw new RaftError("not_leader", "not the leader");
    if (this.transfer !== undefined) throw new RaftError("not_leader", "leadership transfer in progress");
    if (this.uncommittedBytes > this.o.maxUncommittedBytes) throw new RaftError("busy", "too many uncommitted entries");
    return this.appendLocal(ENTRY_NORMAL, data);
  }

  /**
   * propose() of a record the caller built: the record is `len` bytes at `off` of `rec`, its
   * data from REC_HDR on (its first REC_HDR bytes are filled here), so the data is not copied.
   * Those bytes are the log's now (the rest of `rec` may hold other records).
   */
  proposeRecord(rec: Buffer, off = 0, len = rec.length - off): number {
    if (this.role !== "leader" || this.stopped) throw new RaftError("not_leader", "not the leader");
    if (this.transfer !== undefined) throw new RaftError("not_leader", "leadership transfer in progress");
    if (this.uncommittedBytes > this.o.maxUncommittedBytes) throw new RaftError("busy", "too many uncommitted entries");
    return this.appendEntry(entryOfRecord(this.store.lastIndex + this.pendingAppend.length + 1, this.term, ENTRY_NORMAL, rec, off, len));
  }

  /**
   * `done(true)` once this member is known to have led, in its current term, at the time of the
   * call: an entry appended after the call (the turn's last proposal, else a no-op) is committed
   * and applied in that term; `done(false)` when it stops leading first (never from within the call).
   *
   * For answers a leader gives from its own state rather than by applying an entry (a failed
   * check, a duplicate): a leader paused while the others elected another believes it leads
   * until it hears the new term, and its state misses what the new leader committed. Once an
   * entry sent after the call is committed in its term, no other leader had been elected at the
   * time of the call: a quorum accepted the entry, and any election needs a vote from one of
   * them, which refuses the old term's appends once it has voted in a newer one. No clock is
   * trusted: a lease would rest on leader stickiness, which a member restarted within it (it
   * forgot whom it heard) and a transfer's vote do not keep.
   */
  confirmLeading(done: (ok: boolean) => void): void {
    if (this.role !== "leader" || this.stopped) {
      this.env.defer(() => done(false));
      return;
    }
    // A proposal of this turn is sent after now: it serves, and adds nothing to the log.
    const n = this.pendingAppend.length;
    const index = n > 0 ? this.pendingAppend[n - 1].index : this.appendLocal(ENTRY_NOOP, Buffer.alloc(0));
    this.confirms.push({ index, term: this.term, done });
  }

  /** confirmLeading's waiters up to the applied index (all of them, failed, once not leading). */
  private settleConfirms(leading: boolean): void {
    if (this.confirms.length === 0) return;
    let i = 0;
    if (leading) while (i < this.confirms.length && this.confirms[i].index <= this.applied && this.confirms[i].term === this.term) i++;
    else i = this.confirms.length;
    if (i === 0) return;
    const done = this.confirms.splice(0, i);
    for (const c of done) c.done(leading);
  }

  /** An entry of the log (status and tests). */
  entryAt(index: number): RaftEntry | undefined {
    return this.store.entry(index);
  }

  get snapshotIndex(): number {
    return this.store.snapshotMeta?.index ?? 0;
  }

  /** Room for proposals (back-pressure): false while too much is uncommitted. */
  get canPropose(): boolean {
    return this.role === "leader" && this.transfer === undefined && this.uncommittedBytes <= this.o.maxUncommittedBytes;
  }

  /** Add a member (as a learner; promoted to voter once caught up). */
  addPeer(id: string): number {
    this.checkConfigChange();
    if (this.config.voters.includes(id) || this.config.learners.includes(id)) throw new RaftError("config_pending", `${id} is already a member`);
    return this.appendConfig({ voters: [...this.config.voters], learners: [...this.config.learners, id] });
  }

  /** Remove a member (the leader itself steps down once the change is committed). */
  removePeer(id: string): number {
    this.checkConfigChange();
    if (!this.config.voters.includes(id) && !this.config.learners.includes(id)) throw new RaftError("config_pending", `${id} is not a member`);
    const voters = this.config.voters.filter((v) => v !== id);
    if (voters.length === 0) throw new RaftError("config_pending", "cannot remove the last voter");
    return this.appendConfig({ voters, learners: this.config.learners.filter((v) => v !== id) });
  }

  /** The membership change appended and not committed yet: the voters it adds and the members it removes (undefined: none). */
  get pendingConfigChange(): { voters: string[]; removed: string[] } | undefined {
    const last = this.configs.length > 0 ? this.configs[this.configs.length - 1] : undefined;
    if (last === undefined || last.index <= this.commit) return undefined;
    const before = this.configAt(last.index - 1);
    const members = [...last.config.voters, ...last.config.learners];
    return { voters: last.config.voters.filter((v) => !before.voters.includes(v)), removed: [...before.voters, ...before.learners].filter((m) => !members.includes(m)) };
  }

  private checkConfigChange(): void {
    if (this.role !== "leader") throw new RaftError("not_leader", "not the leader");
    const last = this.configs.length > 0 ? this.configs[this.configs.length - 1].index : 0;
    // One change at a time, and only once the leader committed in its own term.
    if (last > this.commit || this.commit < this.termStart) throw new RaftError("config_pending", "a membership change is in progress");
  }

  private appendConfig(c: RaftConfig): number {
    const index = this.appendLocal(ENTRY_CONFIG, encodeConfig(c));
    return index;
  }

  /**
   * Step down: hand leadership to `preferred` (or the most up-to-date voter) once it has every
   * entry. Returns false when there is no one to hand it to.
   */
  stepDown(preferred?: string): boolean {
    if (this.role !== "leader") return false;
    let to = preferred;
    if (to !== undefined && (!this.config.voters.includes(to) || to === this.id)) return false;
    if (to === undefined) {
      let best = -1;
      for (const v of this.config.voters) {
        if (v === this.id) continue;
        const p = this.progress.get(v);
        if (p === undefined) continue;
        const fresh = this.env.now() - p.lastResp < this.o.electionMinMs;
        const score = (fresh ? 1e15 : 0) + p.match;
        if (score > best) {
          best = score;
          to = v;
        }
      }
    }
    if (to === undefined) return false;
    this.transfer = { to, deadline: this.env.now() + this.o.electionMaxMs };
    this.log?.info(`RAFT member ${this.id}: transferring leadership to ${to}`);
    const p = this.progress.get(to);
    if (p !== undefined && p.match >= this.store.lastIndex) this.send(to, { t: "timeout_now", term: this.term });
    else if (p !== undefined) this.sendAppend(to, p, true);
    return true;
  }

  /**
   * Start an election now instead of at the next timeout (a new group's preferred leader: its
   * first leader is known in a round trip, not an election timeout). Pre-vote still applies; a
   * pre-vote round under way is started again (its requests may have reached members that did
   * not run the group yet).
   */
  campaignNow(): void {
    if (this.stopped || (this.role !== "follower" && this.role !== "precandidate") || this.leader !== NO_LEADER) return;
    if (!this.isVoter() || this.damaged || this.joining || this.restoring || this.incoming !== undefined) return;
    this.startPreVote();
  }

  /** The term of the entry at `index` in this member's log (undefined: not there, e.g. compacted). */
  termAt(index: number): number | undefined {
    return this.store.termAt(index);
  }

  /**
   * The connection to member `id`'s server is gone (its process died, its route was cut): the
   * leader no longer counts it current until it answers again. Nothing else changes (its match
   * index stays: an incarnation change in its next answer says whether its copy is gone).
   */
  lostContact(id: string): void {
    const p = this.progress.get(id);
    if (p !== undefined) p.contactLost = true;
  }

  /** Status of the members as the leader sees it (for stream/consumer info). */
  peerStatus(): Array<{ id: string; voter: boolean; match: number; lag: number; current: boolean; lastSeenMs: number }> {
    const now = this.env.now();
    // A member is current once it applied the commit index. While entries are committed one
    // after another it is always a round behind that: then, once it applied all it knew
    // committed when it last answered (it keeps up; one replaying its log after a restart does not).
    const busy = now - this.commitAdvancedAt < this.o.heartbeatMs;
    const out = [];
    for (const id of [...this.config.voters, ...this.config.learners]) {
      if (id === this.id) continue;
      const p = this.progress.get(id);
      const match = p?.match ?? 0;
      const current = p !== undefined && !p.contactLost && match >= this.commit && now - p.lastResp < this.o.electionMinMs && (p.applied >= this.commit || (busy && p.appliedAllKnown));
      out.push({
        id,
        voter: this.config.voters.includes(id),
        match,
        // Entries it lacks, or (not current for it) committed entries it has not applied yet:
        // never "not current" with no lag (nats-server's lag counts what a member lacks, and a
        // member holding everything is current there).
        lag: Math.max(0, this.store.lastIndex - match, current || p === undefined ? 0 : this.commit - p.applied),
        current,
        lastSeenMs: p === undefined || !p.answered ? -1 : now - p.lastResp,
      });
    }
    return out;
  }

  /** The log and leadership figures /raftz shows (nats-server's RaftzGroup). */
  raftzStatus(): {
    firstIndex: number;
    lastIndex: number;
    lastTerm: number;
    entries: number;
    bytes: number;
    leaderSince: number;
    leaderContactAgoMs: number;
    /** Proposals not yet in the log, answers waiting for an fsync, committed entries not yet applied. */
    proposalsQueued: number;
    answersQueued: number;
    applyQueued: number;
  } {
    const s = this.store;
    const now = this.env.now();
    return {
      firstIndex: s.firstIndex,
      lastIndex: s.lastIndex,
      lastTerm: s.lastTerm,
      entries: s.lastIndex - s.firstIndex + 1,
      bytes: s.logBytes,
      leaderSince: this.leaderSince,
      leaderContactAgoMs: this.lastLeaderContact === -Infinity ? -1 : now - this.lastLeaderContact,
      proposalsQueued: this.pendingAppend.length,
      answersQueued: this.durableOut.length,
      applyQueued: Math.max(0, this.commit - this.applied),
    };
  }

  /** Ask for a snapshot now (e.g. before a planned stop), when enough was applied since the last. */
  snapshotNow(): void {
    this.maybeSnapshot(true);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.electionTimer?.cancel();
    this.heartbeatTimer?.cancel();
    this.commitNoticeTimer?.cancel();
    this.rescue?.timer.cancel();
    this.lazySyncTimer?.cancel();
    this.store.close();
    this.settleConfirms(false);
  }

  /** Stop and remove the group's files. */
  destroy(): void {
    this.stop();
    this.store.destroy();
  }

  // ---- roles ----

  private setRole(role: RaftRole, leader: string): void {
    const changed = role !== this.role || leader !== this.leader;
    if (role !== this.role) this.stallForgiven = false;
    this.role = role;
    if (leader !== this.leader) this.leaderSince = leader === NO_LEADER ? 0 : Date.now();
    this.leader = leader;
    if (changed) this.observer.stateChanged?.(role, leader, this.term);
  }

  private becomeFollower(term: number, leader: string): void {
    if (term > this.term) {
      this.term = term;
      this.vote = "";
      this.persist();
    }
    if (this.role === "leader") {
      this.heartbeatTimer?.cancel();
      this.heartbeatTimer = undefined;
      this.commitNoticeTimer?.cancel();
      this.commitNoticeTimer = undefined;
      this.progress.clear();
      this.transfer = undefined;
      this.pendingAppend = [];
    }
    this.votes.clear();
    this.setRole("follower", leader);
    this.settleConfirms(false);
  }

  private persist(): void {
    this.store.setState({ term: this.term, vote: this.vote, commit: this.commit });
  }

  private isVoter(id = this.id): boolean {
    return this.config.voters.includes(id);
  }

  /**
   * The membership as committed here (the entry applied, or the snapshot installed): a member
   * leaves its group only once the entry removing it is committed, as nats-server acts on
   * EntryRemovePeer in applyCommit. Until then the removal can still be replaced (a leader that
   * never had it) and the member is one again.
   */
  get committedMembership(): RaftConfig {
    return this.committedConfig();
  }

  /** Does this member's log remove it, the removal not known committed here? */
  private removalUncommitted(): boolean {
    if (this.config.voters.includes(this.id) || this.config.learners.includes(this.id)) return false;
    const committed = this.committedConfig();
    return committed.voters.includes(this.id) || committed.learners.includes(this.id);
  }

  /**
   * A member its log removes, that heard from no leader for an election timeout, asks the
   * members it had for a pre-vote it cannot use (it does not campaign): a leader that committed
   * the removal sends it the entry and its commit then (tellRemoved), so it learns it left even
   * when the leader that removed it went before it could tell; a leader that never had the
   * removal is sending it its own log already, which replaces it (the member is one again).
   */
  private askAboutRemoval(): void {
    const msg: RaftMsg = { t: "prevote", term: this.term + 1, lastIndex: this.store.lastIndex, lastTerm: this.store.lastTerm, transfer: false };
    for (const v of this.committedConfig().voters) if (v !== this.id) this.send(v, msg);
  }

  /**
   * The election timeout starts over (a leader was heard, a vote given...). Only `electionDue`
   * moves: the timer armed earlier fires first and arms itself again for what is left, so a
   * follower does not cancel and create a timer for every append it gets (each a new timer list
   * in Node, its durations being random). A timer is armed anew only when the new due time comes
   * before the armed one's.
   */
  private resetElectionTimer(): void {
    if (this.stopped) {
      this.electionTimer?.cancel();
      return;
    }
    const span = this.o.electionMaxMs - this.o.electionMinMs;
    const ms = this.o.electionMinMs + Math.floor(this.env.random() * (span + 1));
    this.electionDue = this.env.now() + ms;
    if (this.electionTimer === undefined || this.electionTimerAt > this.electionDue) this.armElectionTimer(ms);
  }

  private armElectionTimer(ms: number): void {
    this.electionTimer?.cancel();
    this.electionTimerAt = this.env.now() + ms;
    this.electionTimer = this.env.timer(ms, () => this.electionTimeout());
  }

  /**
   * A timer that fires this late means this process did not run meanwhile (a long pause: GC, a
   * blocking call, an overloaded machine): what the others sent in that time is still unread,
   * and a runtime runs due timers before it reads sockets. Judging the others now would depose
   * a working leader (or make a leader with a quorum step down), so the wait starts over, once.
   */
  private stalled(due: number): boolean {
    return this.env.now() - due > this.o.heartbeatMs;
  }

  private electionTimeout(): void {
    if (this.stopped) return;
    this.electionTimer = undefined;
    // Reset since this timer was armed: wait for the rest.
    const left = this.electionDue - this.env.now();
    if (left > 0) {
      this.armElectionTimer(Math.ceil(left));
      return;
    }
    const stall = this.stalled(this.electionDue);
    this.resetElectionTimer();
    if (this.role === "leader") return;
    if (stall && !this.stallForgiven && this.role === "follower" && this.leader !== NO_LEADER) {
      this.stallForgiven = true;
      return;
    }
    if (!this.isVoter() || this.damaged || this.joining || this.restoring || this.incoming !== undefined) {
      // Not ours to campaign: forget a leader we no longer hear from.
      if (this.leader !== NO_LEADER && this.env.now() - this.lastLeaderContact >= this.o.electionMinMs) this.setRole("follower", NO_LEADER);
      if (this.removalUncommitted()) this.askAboutRemoval();
      return;
    }
    this.startPreVote();
  }

  private startPreVote(): void {
    this.setRole("precandidate", NO_LEADER);
    this.votes = new Set([this.id]);
    if (this.votes.size >= this.quorum) {
      this.campaign(false);
      return;
    }
    const msg: RaftMsg = { t: "prevote", term: this.term + 1, lastIndex: this.store.lastIndex, lastTerm: this.store.lastTerm, transfer: false };
    for (const v of this.config.voters) if (v !== this.id) this.send(v, msg);
  }

  private campaign(transfer: boolean): void {
    this.term++;
    this.vote = this.id;
    this.persist();
    this.setRole("candidate", NO_LEADER);
    this.votes = new Set([this.id]);
    this.resetElectionTimer();
    if (this.votes.size >= this.quorum) {
      // Our own vote must be durable before we act on it.
      this.afterDurable(() => {
        if (this.role === "candidate" && this.votes.size >= this.quorum) this.becomeLeader();
      });
      return;
    }
    const msg: RaftMsg = { t: "vote", term: this.term, lastIndex: this.store.lastIndex, lastTerm: this.store.lastTerm, transfer };
    for (const v of this.config.voters) if (v !== this.id) this.sendDurable(v, msg);
  }

  private becomeLeader(): void {
    this.setRole("leader", this.id);
    this.log?.info(`RAFT member ${this.id}: leader for term ${this.term}`);
    this.progress.clear();
    const now = this.env.now();
    for (const id of [...this.config.voters, ...this.config.learners]) {
      if (id !== this.id) this.progress.set(id, newProgress(this.store.lastIndex + 1, now));
    }
    this.transfer = undefined;
    this.readyTold = false;
    this.lastQuorumCheck = now;
    this.uncommittedBytes = 0;
    for (let i = this.commit + 1; i <= this.store.lastIndex; i++) this.uncommittedBytes += this.store.entry(i)?.size ?? 0;
    this.termStart = this.appendLocal(ENTRY_NOOP, Buffer.alloc(0));
    this.heartbeatTimer?.cancel();
    const beat = (): void => {
      if (this.role !== "leader" || this.stopped) return;
      this.heartbeat();
      this.heartbeatDue = this.env.now() + this.o.heartbeatMs;
      this.heartbeatTimer = this.env.timer(this.o.heartbeatMs, beat);
    };
    this.heartbeatDue = now + this.o.heartbeatMs;
    this.heartbeatTimer = this.env.timer(this.o.heartbeatMs, beat);
  }

  // ---- the leader's log ----

  private appendLocal(type: number, data: Buffer): number {
    return this.appendEntry(makeEntry(this.store.lastIndex + this.pendingAppend.length + 1, this.term, type, data));
  }

  private appendEntry(e: RaftEntry): number {
    const index = e.index;
    this.pendingAppend.push(e);
    this.uncommittedBytes += e.size;
    if (!this.appendScheduled) {
      this.appendScheduled = true;
      this.env.defer(() => this.flushAppends());
    }
    return index;
  }

  /** The turn's proposals: one write, one fsync, one append message per follower. */
  private flushAppends(): void {
    this.appendScheduled = false;
    if (this.role !== "leader" || this.pendingAppend.length === 0 || this.stopped) {
      this.pendingAppend = [];
      return;
    }
    const batch = this.pendingAppend;
    this.pendingAppend = objectArray();
    this.store.append(batch);
    for (const e of batch) if (e.type === ENTRY_CONFIG) this.addConfig(e.index, decodeConfig(e.data));
    for (const [id, p] of this.progress) if (p.mode !== "snapshot") this.sendAppend(id, p, false);
    if (this.lazySyncMs > 0 && this.store.durableIndex >= Math.min(this.configBarrier, this.store.lastIndex)) {
      // Nothing here waits on the fsync: it comes with the timer.
      this.syncLazily();
      this.advanceCommit();
      return;
    }
    // The leader's own fsync is asked for once the appends are on their way (the server writes
    // them to the routes at the end of this job, before this microtask): the followers' fsyncs,
    // one of which every commit waits for, start without waiting on the thread-pool hand-off.
    const term = this.term;
    if (this.env.soon !== undefined) this.env.soon(() => this.syncLeaderLog(term));
    else this.syncLeaderLog(term);
  }

  private syncLeaderLog(term: number): void {
    if (this.stopped) return;
    // A lone entry (a synchronous publisher waits on it, nothing else is in the log's pipe) is
    // synced inline when no round is running (RaftStore.sync): the appends are on the routes
    // already, so the followers' fsyncs run meanwhile in their processes, and this loop has
    // nothing to do before their answers come; the thread pool's two hand-offs cost a loaded
    // machine about as much as the fdatasync itself. Batches go to the pool: while it syncs,
    // the loop takes in the next ones (inline, async publishing lost a fifth of its rate).
    const lone = this.store.lastIndex - this.store.durableIndex <= 1;
    this.store.sync((err) => {
      if (err !== undefined) {
        this.log?.warn(`RAFT member ${this.id}: log sync failed: ${err.message}`);
        return;
      }
      if (this.role === "leader" && this.term === term) this.advanceCommit();
    }, lone);
  }

  private heartbeat(): void {
    const now = this.env.now();
    this.forgetRemoved(now);
    for (const [id, p] of this.progress) {
      if (p.inflight.length > 0 && now - p.inflightSince > this.o.heartbeatMs * 3) {
        // Not confirmed for a while: what was in flight is lost; probe again.
        p.mode = "probe";
        p.inflight = [];
        p.next = p.match + 1;
      }
      if (p.mode === "snapshot") {
        if (now - p.lastSent >= this.o.heartbeatMs * 2) this.sendSnapshotChunk(id, p);
        continue;
      }
      this.sendAppend(id, p, true);
    }
    if (this.transfer !== undefined && now > this.transfer.deadline) {
      this.log?.info(`RAFT member ${this.id}: leadership transfer to ${this.transfer.to} timed out`);
      this.transfer = undefined;
      this.observer.transferAbandoned?.(this.term);
    }
    if (this.stalled(this.heartbeatDue) && !this.stallForgiven) {
      // The answers to what was sent before the pause are unread yet: judge the quorum later.
      this.stallForgiven = true;
      this.lastQuorumCheck = now;
    } else if (now - this.lastQuorumCheck >= this.o.electionMinMs) {
      this.stallForgiven = false;
      let heard = this.isVoter() ? 1 : 0;
      for (const v of this.config.voters) {
        if (v === this.id) continue;
        const p = this.progress.get(v);
        if (p !== undefined && now - p.lastResp < this.o.electionMinMs) heard++;
      }
      this.lastQuorumCheck = now;
      if (heard < this.quorum) {
        this.log?.warn(`RAFT member ${this.id}: lost quorum in term ${this.term}, stepping down`);
        this.observer.quorumLost?.(this.term);
        this.becomeFollower(this.term, NO_LEADER);
        this.resetElectionTimer();
      }
    }
  }

  /** Send what a follower is missing (`force`: even an empty heartbeat or a repeated probe). */
  private sendAppend(id: string, p: Progress, force: boolean): void {
    if (p.mode === "snapshot") return;
    const first = this.store.firstIndex;
    // A member that has nothing (new, or restarted with its copy discarded as damaged) gets the
    // snapshot even where the log still holds the entries before it (compaction drops whole
    // segments only): the state machine's snapshot may hold state no entry carries (a stream
    // scaled up from one replica has messages from before its group).
    const fresh = p.match === 0 && p.next <= this.snapshotIndex;
    if (fresh || p.next < first || (p.next - 1 > 0 && this.store.termAt(p.next - 1) === undefined)) {
      if (this.store.snapshotMeta !== undefined) {
        this.startSnapshot(id, p);
        return;
      }
      p.next = first;
    }
    const hasMore = p.next <= this.store.lastIndex;
    if (p.mode === "probe") {
      // One probe at a time (or per heartbeat).
      if (!force && p.inflight.length > 0) return;
    } else if (p.inflight.length >= this.o.maxInflight) {
      if (!force) return;
    } else if (!hasMore && !force) return;
    const room = p.mode === "probe" || p.inflight.length < this.o.maxInflight;
    const entries = hasMore && room ? this.store.slice(p.next, this.o.maxAppendEntries, this.o.maxAppendBytes) : [];
    // A heartbeat to a pipelined follower checks what it confirmed, not what is still in flight.
    const prevIndex = entries.length === 0 && p.mode === "replicate" ? Math.min(p.next - 1, p.match) : p.next - 1;
    const prevTerm = this.store.termAt(prevIndex) ?? 0;
    const commit = this.commitTold;
    this.send(id, { t: "append", term: this.term, prevIndex, prevTerm, commit, leaderLast: this.store.lastIndex, entries });
    p.lastSent = this.env.now();
    p.commitSent = commit;
    if (entries.length > 0) {
      const last = entries[entries.length - 1].index;
      if (p.inflight.length === 0 || p.mode === "probe") p.inflightSince = p.lastSent;
      if (p.mode === "replicate") {
        p.next = last + 1;
        p.inflight.push(last);
      } else p.inflight = [last];
    } else if (p.mode === "probe") {
      p.inflight = [prevIndex];
      p.inflightSince = p.lastSent;
    }
    // In replicate mode keep the pipe full.
    if (p.mode === "replicate" && p.next <= this.store.lastIndex && p.inflight.length < this.o.maxInflight) this.sendAppend(id, p, false);
  }

  private advanceCommit(): void {
    if (this.role !== "leader") return;
    // Called for every answer and every fsync of the leader: the voters' durable indexes sorted
    // high to low in place, in an array kept for it (no array and no sort callback per call).
    const matches = this.matchScratch;
    const voters = this.config.voters;
    matches.length = voters.length;
    for (let i = 0; i < voters.length; i++) {
      const v = voters[i];
      const m = v === this.id ? this.heldIndex() : (this.progress.get(v)?.match ?? 0);
      let j = i - 1;
      for (; j >= 0 && matches[j] < m; j--) matches[j + 1] = matches[j];
      matches[j + 1] = m;
    }
    const n = matches[this.quorum - 1] ?? 0;
    // Only entries of the current term are committed by counting (RAFT §5.4.2).
    if (n > this.commit && this.store.termAt(n) === this.term) {
      for (let i = this.commit + 1; i <= n; i++) this.uncommittedBytes -= this.store.entry(i)?.size ?? 0;
      if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
      this.commit = n;
      this.commitAdvancedAt = this.env.now();
      this.scheduleApply();
      // Followers learn the new commit index with the next append (or by a notice, when idle).
      this.noticeCommit();
      // A leader the committed configuration leaves out steps down.
      if (!this.committedConfig().voters.includes(this.id)) {
        this.log?.info(`RAFT member ${this.id}: removed from the group, stepping down`);
        this.becomeFollower(this.term, NO_LEADER);
      }
    }
  }

  /**
   * The commit index a leader tells its followers: with recordCommit, once it recorded it (so
   * it has applied an entry before any follower can: a client answered by a follower finds the
   * leader knows it too, as without the record).
   */
  private get commitTold(): number {
    return this.commitRecord === undefined ? this.commit : this.commitDurable;
  }

  /** A follower that has every entry, nothing in flight, and was told an older commit index. */
  private needsCommitNotice(p: Progress): boolean {
    return p.mode === "replicate" && p.inflight.length === 0 && p.next > this.store.lastIndex && p.commitSent < this.commitTold;
  }

  /** Tell idle followers the commit index: now, or after commitNoticeMs unless an append told them first. */
  private noticeCommit(): void {
    if (this.o.commitNoticeMs <= 0) {
      this.sendCommitNotices();
      return;
    }
    if (this.commitNoticeTimer !== undefined) return;
    this.commitNoticeTimer = this.env.timer(this.o.commitNoticeMs, () => {
      this.commitNoticeTimer = undefined;
      if (this.role === "leader" && !this.stopped) this.sendCommitNotices();
    });
  }

  private sendCommitNotices(): void {
    for (const [id, p] of this.progress) if (this.needsCommitNotice(p)) this.sendAppend(id, p, true);
  }

  // ---- snapshots sent ----

  private startSnapshot(id: string, p: Progress): void {
    const meta = this.store.snapshotMeta;
    if (meta === undefined) return;
    p.mode = "snapshot";
    p.snapOffset = 0;
    p.snapIndex = meta.index;
    p.inflight = [];
    this.sendSnapshotChunk(id, p);
  }

  private sendSnapshotChunk(id: string, p: Progress): void {
    const meta = this.store.snapshotMeta;
    const data = this.store.snapshotData;
    if (meta === undefined || data === undefined) return;
    if (meta.index !== p.snapIndex) {
      // A newer snapshot was taken meanwhile: start over with it.
      p.snapIndex = meta.index;
      p.snapOffset = 0;
    }
    const chunk = data.subarray(p.snapOffset, p.snapOffset + this.o.snapshotChunk);
    this.send(id, { t: "snap", term: this.term, index: meta.index, snapTerm: meta.term, config: meta.config, offset: p.snapOffset, total: data.length, crc: crc32(data), chunk });
    p.lastSent = this.env.now();
  }

  // ---- local snapshots and compaction ----

  private maybeSnapshot(force: boolean): void {
    if (this.snapshotting || this.restoring || this.stopped) return;
    const base = this.store.snapshotMeta?.index ?? 0;
    const entries = this.applied - base;
    if (entries <= 0) return;
    if (!force && entries < this.o.snapshotEntries && this.appliedBytesSinceSnap < this.o.snapshotBytes) return;
    const index = this.applied;
    const term = this.store.termAt(index);
    if (term === undefined) return;
    const meta: SnapshotMeta = { index, term, config: this.configAt(index) };
    const snap = this.sm.snapshot();
    this.snapshotting = true;
    this.appliedBytesSinceSnap = 0;
    const write = (): void => {
      if (this.stopped) return;
      this.store.saveSnapshot(meta, snap.data, (err, saved) => {
        this.snapshotting = false;
        if (err !== undefined) {
          this.log?.warn(`RAFT member ${this.id}: snapshot failed: ${err.message}`);
          return;
        }
        // A newer snapshot (from the leader) was installed meanwhile: it stands.
        if (saved !== true) return;
        this.snapConfig = meta.config;
        this.configs = this.configs.filter((c) => c.index > meta.index);
        this.store.compact(meta.index);
      });
    };
    if (snap.ready === undefined) write();
    else
      snap.ready.then(write, (err: Error) => {
        this.snapshotting = false;
        this.log?.warn(`RAFT member ${this.id}: snapshot failed: ${err.message}`);
      });
  }

  // ---- configuration ----

  private rebuildConfigs(): void {
    this.configs = [];
    for (let i = this.store.firstIndex; i <= this.store.lastIndex; i++) {
      const e = this.store.entry(i);
      if (e !== undefined && e.type === ENTRY_CONFIG && i > (this.store.snapshotMeta?.index ?? 0)) this.configs.push({ index: i, config: decodeConfig(e.data) });
    }
    this.config = this.configs.length > 0 ? this.configs[this.configs.length - 1].config : this.snapConfig;
  }

  /**
   * The last entry this member counts as held: what is fsynced, or with lazySyncMs everything
   * written once the last membership entry is fsynced.
   */
  private heldIndex(): number {
    const last = this.store.lastIndex;
    if (this.lazySyncMs > 0 && this.store.durableIndex >= Math.min(this.configBarrier, last)) return last;
    return this.store.durableIndex;
  }

  /** lazySyncMs: an fsync of what was written comes within that time. */
  private syncLazily(): void {
    if (this.lazySyncTimer !== undefined) return;
    this.lazySyncTimer = this.env.timer(this.lazySyncMs, () => {
      this.lazySyncTimer = undefined;
      if (this.stopped || this.store.durableIndex >= this.store.lastIndex) return;
      this.store.sync((err) => {
        if (err !== undefined) this.log?.warn(`RAFT member ${this.id}: log sync failed: ${err.message}`);
      });
    });
  }

  private addConfig(index: number, c: RaftConfig): void {
    if (index > this.configBarrier) this.configBarrier = index;
    this.configs.push({ index, config: c });
    this.config = c;
    if (this.rescue !== undefined && Math.floor(c.voters.length / 2) + 1 <= this.rescue.quorum) {
      // The members left need no more than the rescue's quorum: it has done its work.
      this.rescue.timer.cancel();
      this.rescue = undefined;
      this.log?.warn(`RAFT member ${this.id}: unsafe quorum rescue stopped, quorum updated to ${this.quorum}`);
    }
    this.joining = false;
    this.observer.configChanged?.(c);
    if (this.role === "leader") {
      const now = this.env.now();
      for (const id of [...c.voters, ...c.learners]) {
        if (id === this.id) continue;
        // (One removed and added again may come back with nothing: what it had is not counted on.)
        const p = this.progress.get(id);
        if (p === undefined || p.removedAt !== undefined) this.progress.set(id, newProgress(this.store.lastIndex + 1, now));
      }
      // A member removed is told so: it gets the entry removing it (and then neither campaigns nor
      // votes) before the leader forgets it (forgetRemoved).
      for (const [id, p] of this.progress) if (!c.voters.includes(id) && !c.learners.includes(id)) p.removedAt ??= index;
    }
  }

  private configAt(index: number): RaftConfig {
    let c = this.snapConfig;
    for (const x of this.configs) if (x.index <= index) c = x.config;
    return c;
  }

  private committedConfig(): RaftConfig {
    return this.configAt(this.commit);
  }

  // ---- messages in ----

  /** A message from another member. */
  receive(from: string, msg: RaftMsg): void {
    if (this.stopped || from === this.id) return;
    switch (msg.t) {
      case "prevote":
        this.onPreVote(from, msg);
        return;
      case "vote":
        this.onVote(from, msg);
        return;
      case "prevote_resp":
      case "vote_resp":
        this.onVoteResp(from, msg);
        return;
      case "append":
        this.onAppend(from, msg);
        return;
      case "append_resp":
        this.onAppendResp(from, msg);
        return;
      case "snap":
        this.onSnapshot(from, msg);
        return;
      case "snap_resp":
        this.onSnapshotResp(from, msg);
        return;
      case "timeout_now":
        if (msg.term === this.term && from === this.leader && this.isVoter() && !this.damaged) {
          this.log?.info(`RAFT member ${this.id}: asked to take over leadership`);
          this.campaign(true);
        }
        return;
    }
  }

  private logUpToDate(lastIndex: number, lastTerm: number): boolean {
    let mine = { term: this.store.lastTerm, index: this.store.lastIndex };
    // A damaged member's own log may be shorter than what it acknowledged before the discard.
    const floor = this.damaged ? this.store.voteFloor : undefined;
    if (floor !== undefined && laterPosition(floor, mine)) mine = floor;
    return lastTerm > mine.term || (lastTerm === mine.term && lastIndex >= mine.index);
  }

  /** Heard from a leader within the minimum election timeout: it is alive, keep it. */
  private leaderAlive(): boolean {
    if (this.role === "leader") return true;
    return this.leader !== NO_LEADER && this.env.now() - this.lastLeaderContact < this.o.electionMinMs;
  }

  /** A damaged member votes only by a vote floor (see logUpToDate); never in a term it may have voted in. */
  private mayVote(term: number): boolean {
    return (!this.damaged || this.store.voteFloor !== undefined) && term > this.noVoteUpTo;
  }

  private onPreVote(from: string, m: { term: number; lastIndex: number; lastTerm: number }): void {
    this.tellRemoved(from);
    const granted = m.term > this.term && !this.leaderAlive() && this.mayVote(m.term) && this.logUpToDate(m.lastIndex, m.lastTerm);
    this.send(from, { t: "prevote_resp", term: granted ? m.term : this.term, granted });
  }

  private onVote(from: string, m: { term: number; lastIndex: number; lastTerm: number; transfer: boolean }): void {
    this.tellRemoved(from);
    if (m.term > this.term) {
      // A disruptive candidate (we hear from a live leader) is ignored, unless the leader asked.
      if (!m.transfer && this.leaderAlive()) {
        this.send(from, { t: "vote_resp", term: this.term, granted: false });
        return;
      }
      this.becomeFollower(m.term, NO_LEADER);
    }
    if (m.term < this.term) {
      this.send(from, { t: "vote_resp", term: this.term, granted: false });
      return;
    }
    const granted = (this.vote === "" || this.vote === from) && this.mayVote(m.term) && this.logUpToDate(m.lastIndex, m.lastTerm);
    if (granted) {
      this.vote = from;
      this.persist();
      this.resetElectionTimer();
    }
    this.sendDurable(from, { t: "vote_resp", term: this.term, granted });
  }

  private onVoteResp(from: string, m: { t: "prevote_resp" | "vote_resp"; term: number; granted: boolean }): void {
    if (m.term > this.term && !(m.t === "prevote_resp" && m.granted)) {
      this.becomeFollower(m.term, NO_LEADER);
      this.resetElectionTimer();
      return;
    }
    if (!m.granted) return;
    if (m.t === "prevote_resp" && this.role === "precandidate" && m.term === this.term + 1) {
      this.votes.add(from);
      if (this.countVotes() >= this.quorum) this.campaign(false);
    } else if (m.t === "vote_resp" && this.role === "candidate" && m.term === this.term) {
      this.votes.add(from);
      if (this.countVotes() >= this.quorum) this.afterDurable(() => {
        if (this.role === "candidate" && m.term === this.term) this.becomeLeader();
      });
    }
  }

  private countVotes(): number {
    let n = 0;
    for (const v of this.votes) if (this.config.voters.includes(v)) n++;
    return n;
  }

  private onAppend(from: string, m: Extract<RaftMsg, { t: "append" }>): void {
    if (m.term < this.term) {
      this.send(from, { t: "append_resp", term: this.term, success: false, index: this.store.lastIndex, inc: this.store.incarnation });
      return;
    }
    if (m.term === this.term && this.role === "leader") {
      this.violation(`two leaders in term ${m.term}: ${this.id} and ${from}`);
      return;
    }
    if (m.term > this.term || this.role !== "follower" || this.leader !== from) this.becomeFollower(m.term, from);
    if (this.leaderLastAtFirstContact < 0) this.leaderLastAtFirstContact = m.leaderLast;
    this.lastLeaderContact = this.env.now();
    this.stallForgiven = false;
    this.resetElectionTimer();
    if (this.restoring) return;
    // The leader sends appends again: a snapshot it was sending is abandoned.
    this.incoming = undefined;
    if (this.damaged && (this.repair === undefined || this.repair.term !== m.term)) this.repair = { term: m.term, target: Math.max(m.leaderLast, m.commit) };
    let prevIndex = m.prevIndex;
    let prevTerm = m.prevTerm;
    let entries = m.entries;
    const snap = this.store.snapshotMeta;
    if (snap !== undefined && prevIndex < snap.index) {
      // What the snapshot holds is committed, hence the same as the leader's: skip it.
      entries = entries.filter((e) => e.index > snap.index);
      if (entries.length === 0 && m.entries.length > 0 && m.entries[m.entries.length - 1].index <= snap.index) {
        this.ackAppend(from, m.term, Math.min(snap.index, m.entries[m.entries.length - 1].index), m.commit);
        return;
      }
      prevIndex = snap.index;
      prevTerm = snap.term;
    }
    const have = this.store.termAt(prevIndex);
    if (have === undefined || have !== prevTerm) {
      this.send(from, { t: "append_resp", term: this.term, success: false, index: this.retryHint(prevIndex, have), inc: this.store.incarnation });
      return;
    }
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i];
      const t = this.store.termAt(e.index);
      if (t === undefined) break;
      if (t !== e.term) {
        if (e.index <= this.commit) {
          if (this.lazySyncMs === 0) {
            this.violation(`leader ${from} would overwrite committed entry ${e.index}`);
            return;
          }
          // The majority that held it lost power before its fsync (lazySyncMs): the group's log
          // is the leader's; what this member applied from the lost entries stays applied.
          this.log?.warn(`RAFT member ${this.id}: committed entries from ${e.index} were lost by a majority (unsynced); taking leader ${from}'s`);
          this.commit = e.index - 1;
        }
        this.store.truncateFrom(e.index);
        this.observer.logReplaced?.(e.index);
        this.rebuildConfigsAfterTruncate(e.index);
        break;
      }
    }
    const fresh = i === 0 ? entries : entries.slice(i);
    if (fresh.length > 0) {
      this.store.append(fresh);
      for (const e of fresh) if (e.type === ENTRY_CONFIG) this.addConfig(e.index, decodeConfig(e.data));
      if (this.lazySyncMs > 0) this.syncLazily();
    }
    const matched = prevIndex + entries.length;
    this.ackAppend(from, m.term, matched, m.commit);
  }

  private ackAppend(from: string, term: number, matched: number, leaderCommit: number): void {
    // The commit index learned here is in the answer (it says how far this member applied of it).
    const newCommit = Math.min(leaderCommit, matched);
    const learned = newCommit > this.commit;
    if (learned) this.commit = newCommit;
    const resp: RaftMsg = { t: "append_resp", term, success: true, index: matched, inc: this.store.incarnation };
    // Already durable (a heartbeat, or entries an earlier round synced): answered now.
    if (matched <= this.heldIndex() && this.store.stateDurable) this.send(from, resp);
    else {
      this.sendDurable(from, resp);
      // The leader's liveness check must not wait on this member's fsyncs (one that takes longer
      // than an election timeout on a loaded disk would make a working leader step down): when
      // nothing was answered for a heartbeat interval, what is durable already is confirmed now.
      if (this.store.stateDurable && this.env.now() - this.lastAnswerAt >= this.o.heartbeatMs) {
        this.send(from, { t: "append_resp", term, success: true, index: Math.min(matched, this.store.durableIndex), inc: this.store.incarnation });
      }
    }
    // Applied after the answer's fsync was asked for (deferred work runs in order): the fsync
    // the leader waits on runs while this member applies, instead of after it.
    if (learned) this.scheduleApply();
    this.checkRepaired(from, term, matched);
  }

  /** A damaged member is repaired once what its leader had at first contact is durable here. */
  private checkRepaired(from: string, term: number, matched: number): void {
    if (this.damaged && this.repair !== undefined && this.repair.term === term && matched >= this.repair.target) {
      const target = this.repair.target;
      this.afterDurable(() => {
        if (!this.damaged || this.term !== term) return;
        this.damaged = false;
        this.store.repaired();
        if (this.noVoteUpTo === Number.MAX_SAFE_INTEGER) this.noVoteUpTo = term;
        this.repair = undefined;
        this.log?.info(`RAFT member ${this.id}: repaired from leader ${from} (log up to ${target})`);
        this.observer.repaired?.();
      });
    }
  }

  /** Where the leader should retry after a mismatch at `prevIndex` (`have`: our term there). */
  private retryHint(prevIndex: number, have: number | undefined): number {
    const last = this.store.lastIndex;
    if (have === undefined) return Math.min(last, prevIndex - 1);
    // Skip the whole conflicting term (it will be replaced), but not below what is committed.
    let i = prevIndex - 1;
    while (i > this.commit && this.store.termAt(i) === have) i--;
    return Math.max(this.commit, i);
  }

  private rebuildConfigsAfterTruncate(from: number): void {
    this.configs = this.configs.filter((c) => c.index < from);
    this.config = this.configs.length > 0 ? this.configs[this.configs.length - 1].config : this.snapConfig;
    this.observer.configChanged?.(this.config);
  }

  private onAppendResp(from: string, m: Extract<RaftMsg, { t: "append_resp" }>): void {
    if (m.term > this.term) {
      this.becomeFollower(m.term, NO_LEADER);
      this.resetElectionTimer();
      return;
    }
    if (this.role !== "leader" || m.term !== this.term) return;
    const p = this.progress.get(from);
    if (p === undefined) return;
    if (m.inc < p.inc) return;
    if (m.inc > p.inc) {
      // The member restarted: what it had before is not to be counted on.
      const restarted = p.inc > 0;
      p.inc = m.inc;
      p.match = 0;
      p.applied = 0;
      p.inflight = [];
      if (p.mode !== "snapshot") p.mode = "probe";
      if (restarted) this.env.defer(() => this.observer.memberRestarted?.(from));
    }
    p.lastResp = this.env.now();
    p.answered = true;
    p.contactLost = false;
    // (An older member does not say: what its log holds counts as applied, as before.)
    const applied = m.applied ?? (m.success ? m.index : 0);
    if (applied > p.applied) p.applied = applied;
    p.appliedAllKnown = m.applied === undefined || m.commit === undefined || m.applied >= m.commit;
    if (p.mode === "snapshot") return;
    if (m.success) {
      if (m.index > p.match) p.match = m.index;
      if (p.removedAt !== undefined && p.match >= p.removedAt) {
        // It has the entry removing it.
        this.progress.delete(from);
        return;
      }
      if (p.next <= p.match) p.next = p.match + 1;
      if (p.inflight.length > 0 && p.inflight[0] <= m.index) {
        while (p.inflight.length > 0 && p.inflight[0] <= m.index) p.inflight.shift();
        // The rest were sent later; count their wait from now.
        p.inflightSince = this.env.now();
      }
      if (p.mode === "probe") {
        p.mode = "replicate";
        p.inflight = [];
        p.next = p.match + 1;
      }
      this.advanceCommit();
      this.maybePromote(from, p);
      if (this.transfer !== undefined && this.transfer.to === from && p.match >= this.store.lastIndex) this.send(from, { t: "timeout_now", term: this.term });
      this.sendAppend(from, p, false);
      // Idle now, and behind on the commit index (it advanced while this member's appends were in flight).
      if (this.needsCommitNotice(p)) this.noticeCommit();
    } else {
      p.mode = "probe";
      p.inflight = [];
      if (m.index < p.match) {
        // It lacks entries it confirmed in this term and incarnation (its group's files were
        // replaced under the same incarnation, or appends were lost before a conflict): what it
        // confirmed is not counted on until it confirms again, and it is sent what it lacks.
        // (Kept, the old match would hold `next` above its log forever: it could never catch up.)
        p.match = 0;
      }
      p.next = Math.max(p.match + 1, Math.min(p.next - 1, m.index + 1));
      this.sendAppend(from, p, true);
    }
  }

  /**
   * On the leader: one the configuration leaves out asks for votes (it was away when it was
   * removed, and its log still names it): it is sent the log (or snapshot) up to the entry
   * removing it, after which it asks no more.
   */
  private tellRemoved(from: string): void {
    if (this.role !== "leader" || this.progress.has(from) || this.config.voters.includes(from) || this.config.learners.includes(from)) return;
    const p = newProgress(this.store.lastIndex + 1, this.env.now());
    p.removedAt = this.configs.length > 0 ? this.configs[this.configs.length - 1].index : this.snapshotIndex;
    this.progress.set(from, p);
    this.sendAppend(from, p, true);
  }

  /**
   * Removed members not heard from for an election timeout once their removal is committed are
   * forgotten (down, or cut off: one that returns hears nothing more and, its log behind, wins
   * no vote).
   */
  private forgetRemoved(now: number): void {
    for (const [id, p] of this.progress) {
      if (p.removedAt !== undefined && this.commit >= p.removedAt && now - p.lastResp >= this.o.electionMaxMs) this.progress.delete(id);
    }
  }

  /** A learner that caught up becomes a voter (one change at a time). */
  private maybePromote(id: string, p: Progress): void {
    if (!this.config.learners.includes(id) || p.match < this.commit || this.mayPromote?.() === false) return;
    try {
      this.checkConfigChange();
    } catch {
      return;
    }
    this.appendConfig({ voters: [...this.config.voters, id], learners: this.config.learners.filter((l) => l !== id) });
  }

  // ---- snapshots received ----

  private onSnapshot(from: string, m: Extract<RaftMsg, { t: "snap" }>): void {
    if (m.term < this.term) {
      this.send(from, { t: "snap_resp", term: this.term, index: m.index, offset: 0, done: false, inc: this.store.incarnation });
      return;
    }
    if (m.term > this.term || this.role !== "follower" || this.leader !== from) this.becomeFollower(m.term, from);
    this.lastLeaderContact = this.env.now();
    this.resetElectionTimer();
    if (this.restoring) return;
    let inc = this.incoming;
    if (inc === undefined || inc.index !== m.index || inc.term !== m.snapTerm || inc.crc !== m.crc) {
      if (m.offset !== 0) {
        this.send(from, { t: "snap_resp", term: this.term, index: m.index, offset: 0, done: false, inc: this.store.incarnation });
        return;
      }
      inc = { index: m.index, term: m.snapTerm, config: m.config, total: m.total, crc: m.crc, parts: [], have: 0 };
      this.incoming = inc;
    }
    if (m.offset !== inc.have) {
      this.send(from, { t: "snap_resp", term: this.term, index: m.index, offset: inc.have, done: false, inc: this.store.incarnation });
      return;
    }
    inc.parts.push(Buffer.from(m.chunk));
    inc.have += m.chunk.length;
    if (inc.have < inc.total) {
      this.send(from, { t: "snap_resp", term: this.term, index: m.index, offset: inc.have, done: false, inc: this.store.incarnation });
      return;
    }
    const data = Buffer.concat(inc.parts, inc.total);
    this.incoming = undefined;
    if (crc32(data) !== inc.crc) {
      this.log?.warn(`RAFT member ${this.id}: snapshot from ${from} fails its checksum, asking again`);
      this.send(from, { t: "snap_resp", term: this.term, index: m.index, offset: 0, done: false, inc: this.store.incarnation });
      return;
    }
    if ((m.index <= this.commit && !this.damaged) || m.index <= this.snapshotIndex) {
      // Nothing new in it.
      this.send(from, { t: "snap_resp", term: this.term, index: m.index, offset: inc.total, done: true, inc: this.store.incarnation });
      return;
    }
    const meta: SnapshotMeta = { index: m.index, term: m.snapTerm, config: m.config };
    const term = this.term;
    this.restoring = true;
    this.store.installSnapshot(meta, data, (err) => {
      if (err !== undefined) {
        this.restoring = false;
        this.log?.warn(`RAFT member ${this.id}: could not store snapshot: ${err.message}`);
        return;
      }
      const finish = (): void => {
        this.restoring = false;
        if (this.stopped) return;
        this.snapConfig = meta.config;
        this.joining = false;
        this.rebuildConfigs();
        this.observer.configChanged?.(this.config);
        this.observer.configCommitted?.(meta.config);
        // The state is the snapshot's now: entries after it (kept in the log) apply again.
        this.applied = meta.index;
        this.commit = Math.max(this.commit, meta.index);
        this.commitDurable = Math.max(this.commitDurable, meta.index);
        this.appliedBytesSinceSnap = 0;
        if (this.term === term) {
          this.sendDurable(from, { t: "snap_resp", term, index: meta.index, offset: inc.total, done: true, inc: this.store.incarnation });
          this.checkRepaired(from, term, meta.index);
        }
        this.scheduleApply(true);
      };
      let r: void | Promise<void>;
      try {
        r = this.sm.restore(data, meta.index, true);
      } catch (e) {
        this.restoring = false;
        this.log?.warn(`RAFT member ${this.id}: snapshot restore failed: ${(e as Error).message}`);
        return;
      }
      if (r instanceof Promise)
        r.then(finish, (e: Error) => {
          this.restoring = false;
          this.log?.warn(`RAFT member ${this.id}: snapshot restore failed: ${e.message}`);
        });
      else finish();
    });
  }

  private onSnapshotResp(from: string, m: Extract<RaftMsg, { t: "snap_resp" }>): void {
    if (m.term > this.term) {
      this.becomeFollower(m.term, NO_LEADER);
      this.resetElectionTimer();
      return;
    }
    if (this.role !== "leader" || m.term !== this.term) return;
    const p = this.progress.get(from);
    if (p === undefined) return;
    if (m.inc < p.inc) return;
    if (m.inc > p.inc) {
      p.inc = m.inc;
      p.match = 0;
      p.applied = 0;
    }
    p.lastResp = this.env.now();
    p.answered = true;
    p.contactLost = false;
    if (p.mode !== "snapshot" || m.index !== p.snapIndex) return;
    if (m.done) {
      p.match = Math.max(p.match, m.index);
      // Installed: its state machine holds the snapshot's state.
      p.applied = Math.max(p.applied, m.index);
      p.appliedAllKnown = true;
      p.next = p.match + 1;
      p.mode = "probe";
      p.inflight = [];
      this.advanceCommit();
      this.sendAppend(from, p, true);
      return;
    }
    p.snapOffset = m.offset;
    this.sendSnapshotChunk(from, p);
  }

  // ---- applying ----

  /**
   * Apply what is committed once the current event is handled (the leader's PubAcks leave in the
   * turn the commit was learned, not a check phase later); `later`: after the loop read again
   * (the rest of a long backlog, so applying does not starve I/O).
   */
  private scheduleApply(later = false): void {
    if (this.applyScheduled || this.stopped) return;
    this.applyScheduled = true;
    const run = (): void => {
      this.applyScheduled = false;
      this.applyCommitted();
    };
    if (!later && this.env.soon !== undefined) this.env.soon(run);
    else this.env.defer(run);
  }

  private applyCommitted(): void {
    if (this.restoring || this.stopped) return;
    let upTo = this.commit;
    if (this.commitRecord !== undefined) {
      if (this.commitDurable < this.commit) this.recordCommitIndex();
      upTo = this.commitDurable;
    }
    let budget = 1024;
    while (this.applied < upTo && budget-- > 0) {
      const e = this.store.entry(this.applied + 1);
      if (e === undefined) {
        this.violation(`entry ${this.applied + 1} committed but not in the log (first ${this.store.firstIndex}, last ${this.store.lastIndex})`);
        return;
      }
      this.applied = e.index;
      if (e.type === ENTRY_NORMAL) {
        this.appliedBytesSinceSnap += e.size;
        this.sm.apply(e.data, e.index);
        if (this.stopped || this.restoring) return;
      } else if (e.type === ENTRY_CONFIG) this.observer.configCommitted?.(this.configAt(e.index));
    }
    this.sm.appliedUpTo?.(this.applied);
    if (this.stopped || this.restoring) return;
    if (this.role === "leader") this.settleConfirms(true);
    if (this.applied < upTo) this.scheduleApply(true);
    if (this.role === "leader" && !this.readyTold && this.applied >= this.termStart) {
      this.readyTold = true;
      this.observer.leaderReady?.(this.term);
    }
    this.maybeSnapshot(false);
  }

  /**
   * recordCommit: make the commit index durable (after the log entries it covers), then apply up
   * to it. One write at a time; a commit learned meanwhile is written next.
   */
  private recordCommitIndex(): void {
    const rec = this.commitRecord;
    if (rec === undefined || this.recordingCommit || this.stopped || this.commit <= this.commitDurable) return;
    const target = this.commit;
    this.recordingCommit = true;
    const done = (err?: Error): void => {
      this.recordingCommit = false;
      if (this.stopped) return;
      // Retried when the next commit is learned; until then nothing more is applied.
      if (err !== undefined) {
        this.log?.warn(`RAFT member ${this.id}: could not record commit index ${target}: ${err.message}`);
        return;
      }
      if (target > this.commitDurable) this.commitDurable = target;
      this.scheduleApply();
      if (this.role === "leader") this.noticeCommit();
    };
    const write = (): void => rec.write(target, done);
    // The index never covers entries that are not durable yet (a follower's last append).
    if (this.store.durableIndex >= target) write();
    else this.store.sync((err) => (err !== undefined || this.stopped ? done(err) : write()));
  }

  // ---- messages out ----

  private send(to: string, msg: RaftMsg): void {
    if (msg.t === "append_resp") {
      this.lastAnswerAt = this.env.now();
      // As of when it leaves (an answer waiting on an fsync leaves after entries were applied meanwhile).
      msg.applied = this.applied;
      msg.commit = this.commit;
    }
    this.transport.send(to, msg);
  }

  /** Send once everything written so far is durable (group commit). */
  private sendDurable(to: string, msg: RaftMsg): void {
    this.durableOut.push([to, msg]);
    this.scheduleDurable();
  }

  private afterDurable(fn: () => void): void {
    this.durableAfter.push(fn);
    this.scheduleDurable();
  }

  private scheduleDurable(): void {
    if (this.durableScheduled) return;
    this.durableScheduled = true;
    // At the end of the current event (the read that brought the entries): the fsync the leader
    // waits on starts before the loop handles other sockets.
    const run = (): void => {
      this.durableScheduled = false;
      const out = this.durableOut;
      const after = this.durableAfter;
      this.durableOut = objectArray();
      this.durableAfter = objectArray();
      if (this.stopped) return;
      // A follower's answers wait on nothing but this fdatasync: run inline (RaftStore.sync).
      this.store.sync((err) => {
        if (err !== undefined || this.stopped) {
          if (err !== undefined) this.log?.warn(`RAFT member ${this.id}: sync failed: ${err.message}`);
          return;
        }
        for (const [to, msg] of out) this.send(to, msg);
        for (const fn of after) fn();
      }, this.role !== "leader");
    };
    if (this.env.soon !== undefined) this.env.soon(run);
    else this.env.defer(run);
  }

  private violation(what: string): void {
    this.log?.warn(`RAFT member ${this.id}: ${what}`);
    this.observer.violation?.(what);
  }
}

function newProgress(next: number, now: number): Progress {
  return { match: 0, next, mode: "probe", inflight: [], inflightSince: now, lastResp: now, answered: false, lastSent: -Infinity, commitSent: 0, applied: 0, appliedAllKnown: false, contactLost: false, inc: DOUBLE_ZERO, snapOffset: 0, snapIndex: 0 };
}
