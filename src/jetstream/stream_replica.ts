// A replicated stream (num_replicas > 1): one RAFT group (src/cluster/raft.ts) per stream, its
// members the servers the meta group placed the stream on (cluster.ts). Every member holds the
// stream (the same Stream, store and apply path as a single server); only the group's leader
// takes messages in. The members all subscribe the stream's subjects, so a publish on any
// server reaches the leader; the others drop it.
//
// The leader checks a message exactly as a single server does (Stream.prepare: sizes, expected-*
// headers, Nats-Msg-Id duplicates, rollups, counters), then proposes it. Once the entry is
// committed every member, the leader included, applies it through Stream.applyStreamOp. The
// PubAck goes out when the leader applies it: a quorum of the members has the message in its
// RAFT log, fsynced (RAFT acknowledges an append only after the fsync covering it; one fsync per
// event-loop turn covers every message of that turn: group commit).
//
// Linearizable checks: messages whose outcome depends on the stream's state (any `Nats-` header:
// expected-*, msg id, rollup, counters, TTL) are checked only when every earlier proposal is
// applied, so they see the state they will be applied to; plain messages are pipelined, and later
// messages queue behind a held one (the order is kept). A new leader takes messages only once it
// applied every entry of earlier terms (RaftNode.leaderReady): duplicates are caught across
// leader changes because every member records the ids it applied. An answer the leader makes
// from its own state (a failed check, a duplicate) waits until the group confirms it still led
// when it checked (RaftNode.confirmLeading): a leader deposed without knowing it, its copy
// stale, answers nothing.
//
// Each entry carries the stream sequence the leader gave it: a member applying an entry whose
// sequence it already has (the replay of the log after a restart: the store is usually ahead of
// the RAFT snapshot) skips it; a sequence ahead of the store (a message the leader gave a
// sequence to but that failed to apply) is skipped over on every member alike. Operations other
// than messages (purge, message delete through the API, removals of acknowledged messages of
// work-queue and interest streams) remember the last index applied in `<group>/applied`, written
// without an fsync and apart from the store: after a power cut it may say less than the store
// holds, or more. Each is safe to apply again: a purge takes nothing at or beyond the sequence
// its leader stamped on it (purge_bound.ts), a delete or removal of what is gone does nothing,
// a consumer's create, delete or restore from a handover changes nothing that is there already;
// and those that only remove messages run again on a replay even where the record says they
// were applied (unanswered), so a store that lost their effect gets it back.
//
// A member that missed entries the leader's log no longer holds gets a snapshot (the stream's
// first and last sequence) and copies the messages up to it from the leader over
// `$JSC.CATCHUP.<group>.<leader>` (restore).
//
// Replicated consumers run RAFT groups of their own (consumer_group.ts): this group commits their
// creation (naming the consumer group's members and first leader), deletion and scaling; their
// changes and leaders are their groups'. A consumer led by a member that does not lead the
// stream delivers from that member's copy (committed messages only: followers store what is
// committed); this group's leader, a member of every consumer's group, removes what their acks
// free on interest and work-queue streams. Consumer changes and `cleader` records in logs from
// before consumer groups are applied as changes / ignored.
//
// RAFT messages travel as system account messages on `$NRG.TS.<group>.<server name>`; the group's
// files are `<store_dir>/_raft/<group>`.
import { shuffleInPlace } from "../server/shuffle.js";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { RaftError, RaftNode, type RaftConfig, type RaftStateMachine } from "../cluster/raft.js";
import { REC_HDR, RaftStore, discardLogForRepair, logVerifies, readSnapshot } from "../cluster/raft_store.js";
import { FsRaftDisk, MemRaftDisk } from "../cluster/raft_disk.js";
import { FileStore } from "../storage/filestore.js";
import { fsyncDir, mkdirDurable, writeFileAtomic } from "../storage/file_io.js";
import { decodeRaftMsg, encodeRaftMsg } from "../cluster/raft_wire.js";
import { realRaftEnv } from "../cluster/raft_env.js";
import type { Subscription } from "../server/sublist.js";
import { rfc3339, nowNs } from "../server/time.js";
import { ApiError, jsError } from "./errors.js";
import { smallInt } from "../server/small_int.js";
import { BATCH_ID_KEY, storeErrorToApi, type Prepared, type Stream, type StreamOp } from "./stream.js";
import { FAST_BATCH_SUFFIX, parseFastBatchReply } from "./fast_batch.js";
import { getHeader } from "../protocol/headers.js";
import { HDR_BATCH_ID } from "./msg_headers.js";
import type { Consumer, ConsumerOp } from "./consumer.js";
import { replicatedConsumer, type ConsumerConfig } from "./consumer_config.js";
import type { ConsumerState, PendingEntry } from "../storage/store.js";
import { restoreConsumer } from "./snapshot.js";
import { applyPause } from "./api.js";
import { knownOf, knownOfHandedOver, pausedConfig, sameKnown, type KnownConsumer } from "./consumer_stand_in.js";
import { decodeConsumerOps, type NamedConsumerOp } from "./consumer_ops_wire.js";
import { ConsumerGroup, consumerGroupName, firstTermOf, type ConsumerGroupHost } from "./consumer_group.js";
import { ConsumerScaleDowns } from "./consumer_scale_down.js";
import * as adv from "./advisories.js";
import { bareClusterJson, groupReplicasJson, listRemoved, LiveMembers, type MembershipStatus, kindJsonEntry, peerId, readNumberFile, readPeersFile, sameServers, scaleUpClusterJson, writePeersFile } from "./group_common.js";
import { sweepRetention } from "./retention_sweep.js";
import { boundedPurge, boundedPurgeRequest } from "./purge_bound.js";

/** How often a stream group's leader checks its membership against its assignment while they differ. */
const MEMBERS_CHECK_MS = 100;
const ELECTION_MIN_MS = 1500;
const ELECTION_MAX_MS = 3000;
const HEARTBEAT_MS = 300;
/** A member answering within this many ms is live (a scale-down keeps it before others; nats-server's cut-off is three heartbeats). */
const LIVE_MS = 3 * HEARTBEAT_MS;
/**
 * Followers learn a commit with the next append; when none comes this soon (the stream is idle),
 * a notice is sent. Under load the next append always comes first: no extra message and answer per batch.
 */
const COMMIT_NOTICE_MS = 20;
/** Bytes of the `applied` file's record: a log index (at most 16 digits), spaces, a newline. */
const APPLIED_WIDTH = 24;
/** The body of an ack confirmation. */
const NO_BYTES = Buffer.alloc(0);
/** Messages a leader holds while it waits for earlier proposals (or for readiness). */
const MAX_HELD = 100_000;
/** The headers start of every header the publish checks look at. */
const NATS_KEY = Buffer.from("\r\nNats-", "latin1");
/** What follows "Nats-" in a source's own header (set by the leader that copies, checked by nothing). */
const SOURCE_KEY = Buffer.from("Stream-Source:", "latin1");

/** Bytes of messages per catch-up answer. */
const CATCHUP_BYTES = 512 * 1024;
const CATCHUP_TIMEOUT_MS = 5000;
/** nats-server's default `max_outstanding_catchup`: bytes a server sends at once to members catching up. */
const MAX_OUTSTANDING_CATCHUP = 64 * 1024 * 1024;

/**
 * The members each server is catching up (group and member -> time of its last request): every
 * one has one answer in flight at a time, so an answer gets its share of the server's
 * `max_outstanding_catchup`.
 */
const catchingUp = new WeakMap<object, Map<string, number>>();

function catchupShare(service: object, key: string, limit: number): number {
  let members = catchingUp.get(service);
  if (members === undefined) catchingUp.set(service, (members = new Map()));
  const now = Date.now();
  members.set(key, now);
  for (const [k, at] of members) if (now - at > CATCHUP_TIMEOUT_MS) members.delete(k);
  return Math.min(CATCHUP_BYTES, Math.floor(limit / members.size));
}

/** A new group's preferred first leader asks for votes again this often, this many times, until a leader is known. */
const CAMPAIGN_RETRY_MS = 100;
/** How often a consumer scaled up on a member asks the group's leader again to take it in. */
const ADOPT_RETRY_MS = 500;
const CAMPAIGN_RETRIES = 20;

/** Present while this member's copy is being copied again from the leader after damage. */
const REPAIR_FILE = "repair";
/** The consumers' scale-downs to one replica under way (consumer_scale_down.ts). */
const SCALE_DOWNS_FILE = "scale_downs.json";

const KIND_MSG = 1;
const KIND_SKIP = 2;
const KIND_OP = 3;
/** A mirror's copy of an origin message, with the origin's sequence and time. */
const KIND_COPY = 4;
/** An atomic batch: its messages (each a KIND_MSG or KIND_SKIP entry), applied together. */
const KIND_BATCH = 5;
const MSG_FIXED = 26;
/** A message with the time its leader gave it (what every member stores). */
const KIND_MSG_T = 6;
/** The replicated consumers' changes of one turn, as bytes (consumer_ops_wire.ts); KIND_OP's "consumers" JSON before. */
const KIND_CONSUMERS = 7;
const MSG_T_FIXED = 34;
/** Bytes of the buffers the leader encodes its records into (a larger record gets its own). */
const REC_SLAB_SIZE = 64 * 1024;
const COPY_FIXED = 23;

/** Operations other than messages, as entries. `api`: a request run on every member (purge, message delete). */
type ReplicatedOp =
  /** `upTo` (a purge): as an API purge's (below). */
  | { op: "stream"; s: StreamOp; upTo?: number }
  | { op: "consumer"; name: string; c: ConsumerOp }
  /** The durable consumers' changes of one turn, in order (a fetch's deliveries, a batch of acks). */
  | { op: "consumers"; list: Array<{ name: string; c: ConsumerOp }> }
  /** `name`: the name the leader gave an unnamed ephemeral consumer (every member creates it under that name). */
  /** `upTo` (a purge): the first sequence after every message proposed before it, which it never takes (purge_bound.ts). */
  | { op: "api"; rest: string; body: string; reply: string; hdr?: string; name?: string; cpeers?: string[]; single?: string; keep?: string; upTo?: number }
  /** Messages the leader's clock expired (max age, per-message TTL): removed by the others. */
  | { op: "expired"; seqs: number[] }
  /** A single-replica consumer moves from the server a move leaves to `to`, with this state. */
  | { op: "handover"; sc: SnapshotConsumer; from: string; to: string }
  /**
   * A consumer scaled up from R1: every member that lacks it creates it with this state; `peers`:
   * its group's members, the first leading it (absent: the stream's voters, led by the stream's leader).
   */
  | { op: "adopt"; sc: SnapshotConsumer; peers?: string[] }
  /**
   * An ephemeral consumer lives on `host` (R1, as nats-server places them), or is gone. `config`
   * and `created` (as its list entry shows them): what CONSUMER.LIST shows of it while that server
   * is down (consumer_stand_in.ts).
   */
  | { op: "eph"; name: string; host: string; gone?: boolean; direct?: boolean; deleted?: string; config?: ConsumerConfig; created?: string }
  /** A single-replica consumer on `host` paused (`until`, UTC) or resumed (none) while that server was down, at `at` (ns): it applies it when it catches up. */
  | { op: "pause"; name: string; host: string; until?: string; at: string }
  /** A replicated consumer is led by `leader` (one of the group's members) from here on. */
  | { op: "cleader"; name: string; leader: string }
  /**
   * A replicated consumer scaled down to one replica has `host` as its group's only member (its
   * leader says so): it lives there alone from here on, as a single replica. Counts only for
   * the scale-down round started at `since` (consumer_scale_down.ts).
   */
  | { op: "kept"; name: string; host: string; since: number };

/**
 * Where a single-replica consumer lives (`direct`: a source's reader, never listed), and, once its
 * server told, its config and creation time (listed for it while that server is down).
 */
interface SingleReplicaRecord extends Partial<KnownConsumer> {
  host: string;
  direct: boolean;
}

/** A single-replica consumer paused or resumed (`until`: none) or deleted at `at` (ns) while its `host` was down, by the entry at `index`. */
interface OfflineChange {
  host: string;
  at: string;
  index: number;
  until?: string;
  deleted?: true;
}

/** A durable consumer in a stream's snapshot: its config and state (maps as entry lists). */
export interface SnapshotConsumer {
  name: string;
  config: ConsumerConfig;
  created: string;
  state: { delivered: ConsumerState["delivered"]; ack_floor: ConsumerState["ack_floor"]; pending: Array<[number, PendingEntry]>; redelivered: Array<[number, number]> };
  /** A single-replica consumer handed over by a server a move leaves: that server. */
  from?: string;
  /** The member it goes to when not the group's leader (CONSUMER.PEER.REMOVE/EVACUATE). */
  to?: string;
  /** The voters of the consumer's group where the snapshot was taken (a member catching up that is one of them starts as a voter). */
  voters?: string[];
}

/** The name of a stream's RAFT group (a subject token and a directory name). */
export function streamGroupName(account: string, stream: string): string {
  return "S-" + crypto.createHash("sha256").update(`${account}\u0000${stream}`).digest("hex").slice(0, 16);
}

export interface ReplicaHost {
  readonly self: string;
  readonly clusterName: string;
  /** Where the groups' directories are. */
  readonly raftDir: string;
  /** The members the meta group assigned this stream to (the group's leader brings its membership there). */
  assignedPeers(stream: Stream): string[] | undefined;
  /** Is `server` this one or one a route leads to now (a server stopped or cut off is not)? */
  reachable(server: string): boolean;
  /** Leadership of a stream's group changed (advisories). */
  leaderChanged(replica: StreamReplica, leader: string): void;
  /** The servers the stream moves to, while it moves (its group goes there, then the others leave). */
  movingTo(stream: Stream): string[] | undefined;
  /** The servers of a scale-up by update (shown in its cluster info until they are all in the group). */
  scalingTo(stream: Stream): string[] | undefined;
  /** Is the stream's move a scale-down (its group leaves the servers one at a time, each removal recorded by the meta group)? Not before its servers are picked. */
  scalingDown(stream: Stream): boolean;
  /** Is the stream's scale-down waiting for its group's leader to pick its servers (its group and its consumers' stay as they are meanwhile)? */
  scaleDownPicking(stream: Stream): boolean;
  /** This leader picked the servers of the stream's scale-down: the first of `order` (its members as it keeps them); the meta leader records it (said again until recorded). */
  scaleDownPicked(stream: Stream, order: string[]): void;
  /** The group has exactly the servers of its move, or, scaling down, the ones left after a removal (said by its leader, repeated until recorded). */
  moveSettled(stream: Stream, peers: string[]): void;
  /** `desired` of the stream's cluster info while it moves or scales up (`status` known to the group's leader: what its membership waits for). */
  moveInfo(stream: Stream, status: MembershipStatus | undefined): Record<string, unknown> | undefined;
}

interface Held {
  subject: string;
  reply: string;
  hdr: Buffer | undefined;
  payload: Buffer;
  /** A source's copy (checked as such, never answered). */
  sourced: boolean;
  /** A source's copy dropped because an earlier one of its source was refused (that source asks again). */
  dropped?: boolean;
}

/** Does a message carry a header whose check depends on the stream's state (any `Nats-` header but a source's own)? */
function checkedAgainstState(hdr: Buffer | undefined): boolean {
  if (hdr === undefined || hdr.length <= 12) return false;
  for (let at = hdr.indexOf(NATS_KEY); at >= 0; at = hdr.indexOf(NATS_KEY, at + NATS_KEY.length)) {
    const from = at + NATS_KEY.length;
    // (A short header block ends before a whole source key could: compare only what is there.)
    if (from + SOURCE_KEY.length > hdr.length || hdr.compare(SOURCE_KEY, 0, SOURCE_KEY.length, from, from + SOURCE_KEY.length) !== 0) return true;
  }
  return false;
}

export class StreamReplica implements RaftStateMachine, ConsumerGroupHost {
  /** Entries applied between two snapshots (tests lower it to exercise catch-up). */
  static snapshotEntries = 100_000;
  readonly node: RaftNode;
  readonly group: string;
  /** True while a committed entry is applied (the stream's own changes then go straight to its store). */
  applying = false;
  private readonly dir: string;
  private readonly sub: Subscription | undefined;
  /** Where this member answers another's catch-up requests (it sent that member a snapshot). */
  private readonly catchupSub: Subscription | undefined;
  /** The leader's replies waiting for their entry to be applied, by RAFT index. */
  private readonly pending = new Map<number, { reply: string; val: string | undefined; batch?: string; done?: (r: number | ApiError) => void }>();
  /** The last index this leader proposed a message at. */
  private lastProposed = 0;
  /** The stream sequence the next proposed message gets. */
  private nextSeq = 0;
  /** Where the leader encodes the records it proposes (proposeMsg); a record once proposed is never rewritten. */
  private recSlab: Buffer | undefined;
  private recSlabUsed = 0;
  private held: Held[] = [];
  private heldHead = 0;
  /** The last index of an operation other than a message applied here (persisted). */
  private opsApplied: number;
  /** A memory stream: its RAFT log and applied index are kept in memory only. */
  private readonly inMemory: boolean;
  private leaderSinceNs: bigint | undefined;
  private onReady: Array<() => void> = [];
  /**
   * Where this stream's ephemeral consumers live (name → server). An ephemeral consumer is R1:
   * it stays on the member that created it across stream leader changes, delivering from that
   * member's copy, and that member answers the requests about it (as nats-server 2.15).
   */
  private readonly ephemerals = new Map<string, SingleReplicaRecord>();
  /**
   * Single-replica consumers paused (or resumed) or deleted while their server was down, by name,
   * with the index of the entry recording it: kept in the group's snapshots until that server has
   * the entry, so a server that returns after the log was compacted still pauses or drops its copy
   * (as nats-server's meta snapshot carries the consumer's assignment).
   */
  private readonly offlineChanges = new Map<string, OfflineChange>();
  private ephemeralsAnnounced = false;
  /** Callbacks waiting for an index to be applied here (a source's flow control answer waits for its copies). */
  private appliedWaiters: Array<{ index: number; fn: () => void }> = [];
  /** Where a member that hosts an ephemeral consumer tells the leader of it (the leader proposes). */
  private readonly ephSub: Subscription | undefined;
  /** Replicated consumers scaling down to one replica, one member at a time (consumer_scale_down.ts). */
  private readonly scaleDowns: ConsumerScaleDowns;
  constructor(
    readonly stream: Stream,
    private readonly host: ReplicaHost,
    peers: string[],
    fresh: boolean,
    /** A server added to an existing group: it waits for the group's leader (a snapshot, then the log). */
    joining = false,
    /** The group starts on a stream that has messages already (scaled up from one replica): members added later get them by snapshot. */
    private baseSnapshot = false,
  ) {
    this.joinedLate = joining;
    const jsa = stream.jsa;
    this.group = streamGroupName(jsa.account.name, stream.name);
    this.dir = path.join(host.raftDir, this.group);
    if (fresh) fs.rmSync(this.dir, { recursive: true, force: true });
    mkdirDurable(this.dir);
    const peersFile = path.join(this.dir, "peers.json");
    let voters = peers;
    const kept = fresh ? undefined : readPeersFile(peersFile);
    if (kept !== undefined) voters = kept;
    else if (fresh || peers.length > 1) writePeersFile(peersFile, peers);
    else {
      // Recovered before its assignment is known, its membership file missing or damaged: the
      // group is not this server alone (it would lead itself, beside the others' leader). It
      // takes the membership from its snapshot and log, or waits for the group's leader.
      jsa.service.log.warn(`stream '${jsa.account.name} > ${stream.name}': the group's membership file on this server is missing or damaged; waiting for the group's leader`);
      voters = [];
    }
    // A memory stream's log lives in memory, as its messages (nats-server does the same): no
    // fsync on the publish path; after a restart the member starts empty and the group's leader
    // catches it up (log, or snapshot plus messages). Only the membership is kept on disk.
    this.inMemory = stream.cfg.storage === "memory";
    if (this.inMemory) {
      for (const f of fs.readdirSync(this.dir)) if (f !== "peers.json") fs.rmSync(path.join(this.dir, f), { recursive: true, force: true });
    }
    const log = jsa.service.log;
    // Remembered on disk: restarted before its first snapshot, such a group must still take one
    // before a member joins (else the new member would get none of the messages from before it).
    const baseFile = path.join(this.dir, "base-snapshot");
    if (this.baseSnapshot) writeFileAtomic(baseFile, "", true);
    else this.baseSnapshot = fs.existsSync(baseFile);
    let damage = fresh || joining ? [] : this.localDamage();
    if (damage.length > 0 && (this.baseSnapshot || this.knownMembers(voters) < 2)) {
      // A group started on this server's own messages (scale-up, a single replica's move) may
      // have nobody else holding them: what is intact stays, as on a single server.
      log.warn(`stream '${jsa.account.name} > ${stream.name}': the copy on this server is damaged (${damage.join("; ")}); no other member may hold it, so the intact messages are kept`);
      damage = [];
    }
    if (damage.length > 0 && !this.rebuildFromOwnLog(damage)) this.discardForRepair(damage);
    this.opsApplied = this.inMemory ? 0 : readNumberFile(path.join(this.dir, "applied"));
    this.scaleDowns = new ConsumerScaleDowns(this.inMemory ? undefined : path.join(this.dir, SCALE_DOWNS_FILE));
    const sys = jsa.service.server.systemAccount;
    const prefix = `$NRG.TS.${this.group}.`;
    const self = host.self;
    this.node = new RaftNode({
      id: self,
      // Each start of a memory member is a new incarnation, later than any before (the clock: a
      // restarted server recreates the group from nothing), so its leader forgets what it held.
      store: new RaftStore(this.inMemory ? new MemRaftDisk({ volatile: true }) : new FsRaftDisk(this.dir), { firstIncarnation: Date.now() }),
      transport: { send: (to, msg) => void sys?.publish(prefix + to, "", undefined, encodeRaftMsg(self, msg)) },
      env: realRaftEnv,
      sm: this,
      initial: { voters, learners: [] },
      joining,
      ...(damage.length > 0 ? { damaged: damage } : {}),
      electionMinMs: ELECTION_MIN_MS,
      electionMaxMs: ELECTION_MAX_MS,
      heartbeatMs: HEARTBEAT_MS,
      commitNoticeMs: COMMIT_NOTICE_MS,
      snapshotEntries: StreamReplica.snapshotEntries,
      log: { info: (m) => log.debug?.(m) ?? undefined, warn: (m) => log.warn(`stream '${jsa.account.name} > ${stream.name}': ${m}`) },
      observer: {
        stateChanged: (role, leader) => {
          if (leader !== "" && leader !== this.lastLeaderKnown) this.leaderEpoch++;
          this.lastLeaderKnown = leader;
          if (role !== "leader") this.lostLeadership();
          this.stream.syncSubjects();
          if (role === "follower" && leader !== "" && !this.ephemeralsAnnounced) {
            // Ephemeral consumers recovered here at start: the leader records where they live.
            this.ephemeralsAnnounced = true;
            for (const c of this.stream.consumers.values()) if (!c.replicated) this.ephemeralChanged(c.name, false);
          }
          // The stream moves off this server and another leads: its single-replica consumers go there.
          if (role === "follower" && leader !== "" && this.host.movingTo(this.stream)?.includes(this.host.self) === false) this.handOverSingleReplicaConsumers();
          this.host.leaderChanged(this, leader);
        },
        leaderReady: () => this.becameReady(),
        configChanged: (config) => this.groupFormed(config),
        repaired: () => {
          fs.rmSync(path.join(this.dir, REPAIR_FILE), { force: true });
          fsyncDir(this.dir);
          log.info(`stream '${jsa.account.name} > ${stream.name}': repaired from the group's leader`);
        },
        // Publishes held while leadership was being handed over are taken in now.
        transferAbandoned: () => {
          this.drainHeld();
          if (!this.stream.closed) this.stream.store.expireNow();
        },
        quorumLost: () => {
          const replicas = this.replicasJson();
          const ctx = this.stream.jsa.advisoryContext;
          adv.streamQuorumLost(ctx, this.stream.name, replicas);
          for (const c of this.stream.consumers.values()) if (c.replicated) adv.consumerQuorumLost(ctx, this.stream.name, c.name, replicas);
        },
      },
    });
    this.sub = sys?.subscribeInternal(
      prefix + self,
      (_s, _r, _h, payload) => {
        const d = decodeRaftMsg(payload);
        if (d !== undefined) this.node.receive(d.from, d.msg);
      },
      undefined,
      `raft-${this.group}`,
    );
    this.catchupSub = sys?.subscribeInternal(`$JSC.CATCHUP.${this.group}.${self}`, (_s, reply, _h, payload) => this.serveCatchup(reply, payload), undefined, `raft-catchup-${this.group}`);
    this.ephSub = sys?.subscribeInternal(
      `$JSC.EPH.${this.group}`,
      (_s, _r, _h, payload) => {
        if (!this.node.isLeader) return;
        try {
          const e = JSON.parse(payload.toString()) as { name: string; host: string; gone?: boolean; direct?: boolean; config?: ConsumerConfig; created?: string };
          if (typeof e.name === "string" && typeof e.host === "string") this.proposeEphemeral(e.name, e.host, e.gone === true, e.direct === true, knownOf(e));
        } catch {
          // not ours
        }
      },
      undefined,
      `raft-eph-${this.group}`,
    );
    this.adoptSub = sys?.subscribeInternal(`$JSC.ADOPT.${this.group}`, (_s, _r, _h, payload) => this.adopt(Buffer.from(payload)), undefined, `raft-adopt-${this.group}`);
    this.consumerChangesSub = sys?.subscribeInternal(`$JSC.CO.${this.group}.${self}`, (_s, _r, _h, payload) => this.consumerChangesFrom(payload), undefined, `raft-co-${this.group}`);
  }

  private readonly adoptSub: Subscription | undefined;
  /** This server was added to an existing group: consumers it gets without a committed create join their groups. */
  private readonly joinedLate: boolean;
  /** Where the stream's leader takes in a consumer leader's request to delete its consumer (inactive). */
  private readonly consumerChangesSub: Subscription | undefined;
  /** While consumers come with a leader's snapshot: their groups are joined, not started. */
  private catchingUpNow = false;

  /**
   * A member the stream moved off hands over its single-replica consumers, durables and
   * ephemerals (they live on one member only): sent to the group, where its leader takes them in
   * with their state (nats-server 2.15 moves ephemerals with their stream too). What was sent.
   */
  handOverSingleReplicaConsumers(): SnapshotConsumer[] {
    for (const c of [...this.stream.consumers.values()]) {
      if (c.replicated || c.cfg.direct === true) continue;
      // It stops here at once (two copies would both deliver); sent again on the next call.
      this.handedOver.set(c.name, { ...snapshotConsumerOf(c), from: this.host.self });
      this.stream.consumers.delete(c.name);
      c.stop(false);
    }
    for (const sc of this.handedOver.values()) this.askLeaderToAdopt(sc);
    return [...this.handedOver.values()];
  }

  /** Ask the group's leader (whichever server it is) to take a consumer in, with its state: `adopt` below. */
  private askLeaderToAdopt(sc: SnapshotConsumer): void {
    this.stream.jsa.service.server.systemAccount?.publish(`$JSC.ADOPT.${this.group}`, "", undefined, Buffer.from(JSON.stringify(sc)));
  }

  /**
   * CONSUMER.PEER.REMOVE/EVACUATE of a single-replica consumer held here: it goes with its state
   * to `to` (a `handover` entry, proposed by the group's leader); this copy delivers until that
   * is committed (a redelivery at worst, never two copies for long).
   */
  moveSingleReplicaConsumer(name: string, to: string): void {
    const c = this.stream.consumers.get(name);
    if (c === undefined || c.replicated) return;
    const sc: SnapshotConsumer = { ...snapshotConsumerOf(c), from: this.host.self };
    if (this.node.isLeader) this.proposeOp({ op: "handover", sc, from: this.host.self, to });
    else this.askLeaderToAdopt({ ...sc, to });
  }

  /**
   * Where a single-replica consumer held here can go: the other voters (on the leader, those it
   * heard from lately), holding the fewest single-replica consumers first.
   */
  singleReplicaTargets(): string[] {
    const heard = this.node.isLeader ? new Set(this.node.peerStatus().filter((p) => p.lastSeenMs >= 0 && p.lastSeenMs <= ELECTION_MAX_MS).map((p) => p.id)) : undefined;
    const held = new Map<string, number>();
    for (const e of this.ephemerals.values()) held.set(e.host, (held.get(e.host) ?? 0) + 1);
    return this.node.config.voters
      .filter((v) => v !== this.host.self && (heard === undefined || heard.has(v)))
      .sort((a, b) => (held.get(a) ?? 0) - (held.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The single-replica consumers this server handed over (a move leaves it), kept to send again. */
  private readonly handedOver = new Map<string, SnapshotConsumer>();

  /** On the leader leaving with a move: its single-replica consumers, with their state, go to `to` (a `handover` entry). */
  private proposeHandOver(to: string): void {
    for (const c of this.stream.consumers.values()) {
      if (c.replicated || c.cfg.direct === true) continue;
      try {
        this.proposeOp({ op: "handover", sc: snapshotConsumerOf(c), from: this.host.self, to });
      } catch {
        // no quorum: the hand-over when this server drops its copy remains
      }
    }
  }

  /**
   * An update changed whether a consumer is replicated. R1 → replicated (on the member that held
   * it): its config and state go to every member through the group (an `adopt` entry, proposed
   * by the leader). Replicated → R1 by a request committed in the stream's group (run by every
   * member): it stays replicated while its group's leader removes the other members one at a
   * time, as nats-server 2.15 scales a consumer's group down, and the member left alone keeps
   * it (a `kept` entry). Replicated → R1 otherwise (its stream scaled down to one replica): the
   * leader keeps it at once (recorded as living there), the others drop their copy.
   */
  consumerScaled(c: Consumer): void {
    // (Asked for one replica again while it scales down: the request's entry is its round now.)
    if (this.scaleDowns.has(c.name)) return;
    if (!c.replicated && this.requestIndex !== undefined && this.consumerGroups.has(c.name)) {
      this.scaleDowns.start(c.name, this.requestIndex);
      this.log(`consumer '${c.name}': scaling down to one replica, one member at a time`);
      return;
    }
    if (c.replicated) {
      this.adoptPending.add(c.name);
      this.sendAdopts();
      return;
    }
    if (this.scaleKeeper !== undefined ? this.scaleKeeper === this.host.self : this.node.isLeader) {
      this.ephemeralChanged(c.name, false);
    } else {
      this.stream.consumers.delete(c.name);
      c.stop(true);
    }
    // Its group goes (a stream scaled down to one replica keeps its own group until the others
    // left it, and waits for its consumers' groups: this one has no members to wait for).
    this.consumerStopped(c.name, true);
  }

  /** Consumers scaled up here whose `adopt` entry was not applied yet: asked again until it is (the group may have had no leader). */
  private readonly adoptPending = new Set<string>();
  private adoptTimer: NodeJS.Timeout | undefined;

  private readonly sendAdopts = (): void => {
    if (this.adoptTimer !== undefined) clearTimeout(this.adoptTimer);
    this.adoptTimer = undefined;
    if (this.stopped) return;
    for (const name of this.adoptPending) {
      const c = this.stream.consumers.get(name);
      if (c === undefined || !c.replicated) {
        this.adoptPending.delete(name);
        continue;
      }
      const sc = snapshotConsumerOf(c);
      if (!this.node.isLeader) this.askLeaderToAdopt(sc);
      else {
        try {
          this.proposeOp({ op: "adopt", sc, peers: this.scaleUpPeers(this.host.self, sc.config.num_replicas) });
        } catch {
          // no quorum now: asked again
        }
      }
    }
    if (this.adoptPending.size > 0) {
      this.adoptTimer = setTimeout(this.sendAdopts, ADOPT_RETRY_MS);
      this.adoptTimer.unref();
    }
  };

  /** On the group's leader: a single-replica consumer handed over by a member the stream left, created here (it lives here now), or a consumer scaled up, proposed to every member. */
  private adopt(payload: Buffer): void {
    if (!this.node.isLeader) return;
    let sc: SnapshotConsumer;
    try {
      sc = JSON.parse(payload.toString()) as SnapshotConsumer;
    } catch {
      return;
    }
    if (typeof sc.name !== "string") return;
    if (replicatedConsumer(sc.config, this.stream.cfg.retention)) {
      try {
        this.proposeOp({ op: "adopt", sc, peers: this.scaleUpPeers(this.ephemerals.get(sc.name)?.host ?? sc.from ?? this.host.self, sc.config.num_replicas) });
      } catch {
        // no quorum: its next update asks again
      }
      return;
    }
    // Recorded elsewhere since (a copy sent again after it was handed over): it stays where it went.
    const known = this.ephemerals.get(sc.name)?.host;
    if (this.stream.consumers.has(sc.name) || (known !== undefined && known !== sc.from)) return;
    // Deleted while its server was away (that server hands over the copy it kept): it stays deleted.
    const off = this.offlineChanges.get(sc.name);
    if (off?.deleted === true && off.host === sc.from && typeof sc.created === "string" && /^\d+$/.test(sc.created) && BigInt(sc.created) <= BigInt(off.at)) return;
    // Through the group: this server (or the member it was asked to go to) takes it in, the one it comes from (still a member) stops its copy.
    const to = sc.to ?? this.host.self;
    delete sc.to;
    if (to === this.host.self) {
      this.takingIn.set(sc.name, sc);
      // The stream is this server's alone now (scaled down to one replica): no group to go through.
      if (this.takeInAlone()) return;
    }
    try {
      this.proposeOp({ op: "handover", sc, from: sc.from ?? "", to });
      return;
    } catch {
      // no quorum: taken in here alone (a move asked for stays where it is)
      if (to !== this.host.self) return;
    }
    if (this.stream.consumers.has(sc.name)) return;
    this.restoreConsumers([sc]);
    if (this.stream.consumers.has(sc.name)) {
      this.ephemeralChanged(sc.name, false);
      this.log(`took in consumer '${sc.name}' from a server the stream moved off`);
    }
  }

  /** Single-replica consumers handed over to this server whose `handover` entry was not applied yet. */
  private readonly takingIn = new Map<string, SnapshotConsumer>();

  /**
   * When the stream is kept by this server alone (scaled down to one replica, the others' copies
   * dropped, so the group may never commit another entry): the consumers handed over to it are
   * taken in directly. True when it is so.
   */
  takeInAlone(): boolean {
    const assigned = this.host.assignedPeers(this.stream);
    if (assigned?.length !== 1 || assigned[0] !== this.host.self) return false;
    for (const sc of this.takingIn.values()) {
      this.restoreConsumers([sc]);
      if (this.stream.consumers.has(sc.name)) this.ephemerals.set(sc.name, { host: this.host.self, direct: false });
    }
    this.takingIn.clear();
    return true;
  }

  // ---- local damage ----

  /**
   * What makes this member's copy untrustworthy at start: records or bytes of its file store that
   * failed their checksums or were cut (FileStore.recoveryDamage, every block verified at open),
   * a store that ends before the group's snapshot says it held (only taken once the store had
   * it on disk), or a repair that a stop interrupted.
   */
  private localDamage(): string[] {
    const store = this.stream.store;
    if (!(store instanceof FileStore)) return [];
    const out = [...store.recoveryDamage];
    if (fs.existsSync(path.join(this.dir, REPAIR_FILE))) out.push("a repair from the leader did not finish");
    let snap: ReturnType<typeof readSnapshot>;
    try {
      snap = readSnapshot(fs.readFileSync(path.join(this.dir, "snapshot.dat")));
    } catch {
      snap = undefined;
    }
    if (snap !== undefined) {
      try {
        const held = (JSON.parse(snap.data.toString()) as { last?: unknown }).last;
        const last = store.state().lastSeq;
        if (typeof held === "number" && last < held) out.push(`the store ends at sequence ${last}, before the ${held} of its RAFT snapshot`);
      } catch {
        // not a snapshot of ours: the RAFT store reports it
      }
    }
    // A consumer that does not open (its metadata or state fails its checksum) would be missing
    // here for good: the copy is taken again from the leader, consumers included.
    for (const name of store.listConsumers()) {
      try {
        store.openConsumer(name);
      } catch (err) {
        out.push(`consumer '${name}': ${(err as Error).message}`);
      }
    }
    return out;
  }

  /**
   * A group started on this server's own messages has another voter: promoted once caught up,
   * i.e. after it copied the messages from before the group. This copy is no longer the only
   * one: from now on damage found here is repaired from the group's leader (the marker and a
   * membership file of this server alone kept it trusted for good, a consumer failing its
   * checksum here never repaired).
   */
  private groupFormed(config: RaftConfig): void {
    if (!this.baseSnapshot || !config.voters.some((v) => v !== this.host.self)) return;
    this.baseSnapshot = false;
    try {
      // (Either file left as it was by a crash keeps the copy trusted: the safe side.)
      writePeersFile(path.join(this.dir, "peers.json"), [...config.voters].sort());
      fs.rmSync(path.join(this.dir, "base-snapshot"), { force: true });
    } catch {
      // the directory is gone (the stream deleted or stopping)
    }
  }

  /** The members this group is known to have had here (its first membership, its snapshot's). */
  private knownMembers(voters: string[]): number {
    const known = new Set(voters);
    try {
      const snap = readSnapshot(fs.readFileSync(path.join(this.dir, "snapshot.dat")));
      for (const id of [...(snap?.meta.config.voters ?? []), ...(snap?.meta.config.learners ?? [])]) known.add(id);
    } catch {
      // no snapshot
    }
    return known.size;
  }

  /**
   * The copy here is damaged, but this member's RAFT log verifies and holds every entry from the
   * group's first (never compacted, no snapshot): the messages come back from it, as after a
   * restart whose store lagged behind its log (committed entries are applied again; those the
   * store holds are skipped, and it holds none). The member keeps its log and stays a voter
   * that may lead: nothing it acknowledged is discarded (seed 27 of the random fault schedules:
   * two members discarding their logs at once took the entries only they held). False: the log
   * cannot rebuild it (compacted, damaged, empty, a repair under way, a consumer's files
   * damaged), and the group's leader repairs it (discardForRepair).
   */
  private rebuildFromOwnLog(damage: string[]): boolean {
    if (damage.some((d) => d.startsWith("consumer '") || d === "a repair from the leader did not finish")) return false;
    if (fs.existsSync(path.join(this.dir, "snapshot.dat"))) return false;
    const log = new RaftStore(new FsRaftDisk(this.dir));
    let whole: boolean;
    try {
      whole = log.open().length === 0 && log.snapshotMeta === undefined && log.firstIndex === 1 && log.lastIndex > 0;
    } finally {
      log.close();
    }
    if (!whole) return false;
    const s = this.stream;
    s.jsa.service.log.warn(`stream '${s.jsa.account.name} > ${s.name}': the copy on this server is damaged (${damage.join("; ")}); it is emptied and rebuilt from this server's RAFT log (every entry from the first)`);
    s.store.truncate(0);
    // Durable before the log is applied again: the damaged blocks must not come back.
    if (s.store instanceof FileStore) s.store.syncBlocking();
    return true;
  }

  /**
   * The copy here is damaged: none of it is served or built on. Its messages go, and with them
   * this member's RAFT log and snapshot (term and vote stay): the member starts empty and
   * damaged, never campaigns, votes only by where its log ended (raft_store.ts, the vote floor),
   * and the group's leader brings it back by snapshot (the messages copied from the leader) plus
   * log, as a member that missed everything. A marker file keeps it damaged across a stop until
   * that is done.
   *
   * Durable step by step (seed 27 of the random fault schedules): the markers, in the group's
   * directory too, before anything goes; then the emptied store, its directory included. The
   * store's reset was left to its next periodic sync: a power cut after the repair brought the
   * damaged block back, the member discarded its log again, and when two members did so at
   * once the entries only they held were gone.
   */
  private discardForRepair(damage: string[]): void {
    const s = this.stream;
    s.jsa.service.log.warn(`stream '${s.jsa.account.name} > ${s.name}': the copy on this server is damaged (${damage.join("; ")}); it is discarded and copied again from the group's leader`);
    writeFileAtomic(path.join(this.dir, REPAIR_FILE), damage.join("\n"), true);
    const groupDisk = new FsRaftDisk(this.dir);
    try {
      discardLogForRepair(groupDisk, `the stream's copy: ${damage.join("; ")}`);
      if (groupDisk.list().includes("applied")) {
        groupDisk.remove("applied");
        groupDisk.syncNow([]);
      }
    } finally {
      groupDisk.close();
    }
    s.store.truncate(0);
    if (s.store instanceof FileStore) s.store.syncBlocking();
    // A consumer whose files do not open goes too: the leader's snapshot (or log) brings it back.
    const store = s.store;
    if (store instanceof FileStore) {
      for (const name of store.listConsumers()) {
        try {
          store.openConsumer(name);
        } catch (err) {
          fs.rmSync(path.join(store.dir, "obs", name), { recursive: true, force: true });
          const groupDir = path.join(this.host.raftDir, consumerGroupName(s.jsa.account.name, s.name, name));
          if (fs.existsSync(groupDir)) this.rebuildConsumerFromItsLog(groupDir, name, (err as Error).message);
        }
      }
    }
  }

  /**
   * A consumer's files were damaged: its state is rebuilt from its group's log and snapshot on
   * this server when they verify (what it applied is forgotten, so all of it is applied again
   * from the first entry or snapshot: the log starts with a leader's whole state), as nats-server
   * rebuilds a consumer from its RAFT log. The member stays a voter that may lead: discarded, its
   * log left it damaged, and a group still growing from the server that held the consumer (the
   * others learners, this server its only voter) waited for good for a leader to repair it.
   * A log that fails its checks goes, repaired by the group's leader.
   */
  private rebuildConsumerFromItsLog(groupDir: string, name: string, why: string): void {
    const disk = new FsRaftDisk(groupDir);
    try {
      if (logVerifies(disk)) this.stream.jsa.service.log.warn(`consumer '${this.stream.jsa.account.name} > ${this.stream.name} > ${name}': its files are damaged (${why}); its state is rebuilt from its RAFT log on this server`);
      else discardLogForRepair(disk, `the consumer's files: ${why}`);
      // Durable before the log is applied again: a remembered index would skip entries the emptied state needs.
      if (disk.list().includes("applied")) {
        disk.remove("applied");
        disk.syncNow([]);
      }
    } finally {
      disk.close();
    }
  }

  // ---- ephemeral consumers (R1, on the member that created them) ----

  /** The server an ephemeral consumer of this stream lives on: this one when it holds it, else what the group recorded. */
  ephemeralHost(name: string): string | undefined {
    const c = this.stream.consumers.get(name);
    if (c !== undefined && !c.replicated) return this.host.self;
    const host = this.ephemerals.get(name)?.host;
    // A server the stream left holds it no more (its hand-over did not reach a leader): the
    // leader answers for it (not found) instead of nobody.
    if (host === undefined || (!this.node.config.voters.includes(host) && !this.node.config.learners.includes(host))) return undefined;
    return host;
  }

  /** The single-replica consumers recorded on other servers and not here, by name: the server each lives on (late_handovers.ts). */
  remoteSingleReplicaHosts(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, e] of this.ephemerals) if (e.host !== this.host.self && !e.direct && !this.stream.consumers.has(name)) out.set(name, e.host);
    return out;
  }

  /** What this member's own copy of a consumer lists (its config and creation time), if it has one. */
  private localKnown(name: string): KnownConsumer | undefined {
    const c = this.stream.consumers.get(name);
    return c === undefined ? undefined : { config: c.listedConfig(), created: rfc3339(c.created) };
  }

  /** What the group knows of a single-replica consumer on another server (its config and creation time, once told). */
  remoteSingleReplica(name: string): { host: string; known: KnownConsumer | undefined } | undefined {
    const e = this.ephemerals.get(name);
    if (e === undefined || e.direct || e.host === this.host.self || this.stream.consumers.has(name)) return undefined;
    return { host: e.host, known: knownOf(e) };
  }

  /** The names of the ephemeral consumers other members hold, sources' own readers aside (CONSUMER.NAMES/LIST name them too). */
  remoteEphemerals(): string[] {
    const out: string[] = [];
    for (const [name, e] of this.ephemerals) if (e.host !== this.host.self && !e.direct && !this.stream.consumers.has(name)) out.push(name);
    return out;
  }

  /**
   * On the stream's leader: a single-replica consumer whose server is down is deleted (as
   * nats-server's meta leader deletes its assignment): the group records it gone, and that
   * server drops its copy when it applies the record. False: not proposed (no longer leading).
   */
  deleteOffline(name: string, host: string): boolean {
    if (this.ephemerals.get(name)?.host !== host) return false;
    try {
      this.proposeOp({ op: "eph", name, host, gone: true, deleted: String(nowNs()) });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * On the stream's leader: CONSUMER.PAUSE of a single-replica consumer whose server is down (as
   * nats-server's meta leader records it in the consumer's assignment): the group records it,
   * and that server pauses (or resumes) its copy when it applies the record. The entry's index,
   * or false: not proposed (no longer leading).
   */
  pauseOffline(name: string, host: string, until: string | undefined): number | false {
    if (this.ephemerals.get(name)?.host !== host) return false;
    try {
      return this.proposeOp({ op: "pause", name, host, ...(until !== undefined ? { until } : {}), at: String(nowNs()) }).index;
    } catch {
      return false;
    }
  }

  /** An ephemeral consumer was created (or is gone) here: the group records where it lives (and, listed, its config and creation time). */
  ephemeralChanged(name: string, gone: boolean): void {
    const c = this.stream.consumers.get(name);
    const direct = c?.cfg.direct === true;
    const known = !gone && !direct && c !== undefined ? { config: c.listedConfig(), created: rfc3339(c.created) } : undefined;
    if (this.node.isLeader) this.proposeEphemeral(name, this.host.self, gone, direct, known);
    else this.stream.jsa.service.server.systemAccount?.publish(`$JSC.EPH.${this.group}`, "", undefined, Buffer.from(JSON.stringify({ name, host: this.host.self, gone, direct, ...known })));
  }

  /** A single-replica consumer held here changed its config (an update, a pause): recorded again when the group has it recorded here. */
  singleReplicaConfigChanged(name: string): void {
    const e = this.ephemerals.get(name);
    const c = this.stream.consumers.get(name);
    if (e === undefined || e.direct || e.host !== this.host.self || c === undefined || c.replicated) return;
    if (e.config !== undefined && sameKnown(e, { config: c.listedConfig(), created: rfc3339(c.created) })) return;
    this.ephemeralChanged(name, false);
  }

  private proposeEphemeral(name: string, host: string, gone: boolean, direct: boolean, info?: KnownConsumer): void {
    const known = this.ephemerals.get(name);
    // (A gone from a server it no longer lives on is stale; a record the group has already, with what is listed of it, is not proposed again.)
    if (gone ? known === undefined || known.host !== host : known?.host === host && (info === undefined || sameKnown(known, info))) return;
    try {
      this.proposeOp({ op: "eph", name, host, ...(gone ? { gone: true } : {}), ...(direct ? { direct: true } : {}), ...(!gone && info !== undefined ? info : {}) });
    } catch {
      // no leader now: the next leader learns it again (becameReady)
    }
  }

  // ---- replicated consumers' groups ----

  /** The RAFT group of each replicated consumer this member holds (consumer_group.ts). */
  private readonly consumerGroups = new Map<string, ConsumerGroup>();
  /** While a committed entry creates consumers: how their groups start (the members the stream's leader chose, the first leader first). */
  private groupStart: { peers: string[]; campaign: string; fresh: boolean; firstTerm?: number; index?: number; scaledUp?: boolean } | undefined;

  get self(): string {
    return this.host.self;
  }

  get raftDir(): string {
    return this.host.raftDir;
  }

  get clusterName(): string {
    return this.host.clusterName;
  }

  /** The group of a replicated consumer held here (undefined: none, e.g. an R1 consumer). */
  /** The route to `server` is gone: this group and its consumers' groups do not count it current until it answers again. */
  lostContact(server: string): void {
    this.node.lostContact(server);
    for (const g of this.consumerGroups.values()) g.node.lostContact(server);
  }

  consumerGroup(name: string): ConsumerGroup | undefined {
    return this.consumerGroups.get(name);
  }

  /**
   * A consumer started here (created, recovered, restored from a snapshot, adopted): a
   * replicated one joins (or starts) its group. Without a committed entry naming its members:
   * a group on disk is opened; none (a consumer from before consumer groups) is started on the
   * stream's voters, and its first leader gives every member its state.
   */
  consumerStarted(c: Consumer, shrinking = false): void {
    if ((!c.replicated && !shrinking) || this.consumerGroups.has(c.name) || this.stopped) return;
    const g = this.groupStart;
    let group: ConsumerGroup;
    let campaign = false;
    let patient = false;
    if (g !== undefined) {
      // A server added to the stream's group later replays entries committed before it first
      // heard the group's leader: the members such an entry names are those of its time (this
      // server's too, from an earlier stay in the group). It joins and learns the membership
      // from the consumer group's leader: trusted, two such stale members could elect a leader
      // of their own, and the group's leader would count on a log this copy does not have.
      const history = this.joinedLate && g.index !== undefined && (this.node.leaderLastAtFirstContact < 0 || g.index <= this.node.leaderLastAtFirstContact);
      const member = g.peers.includes(this.host.self) && !history;
      const firstTerm = g.firstTerm !== undefined && !history ? { term: g.firstTerm, leader: g.campaign } : undefined;
      group = new ConsumerGroup(this, c.name, g.peers, { fresh: true, joining: !member, firstTerm, scaledUp: g.scaledUp });
      // (Named by the entry: it leads from its start, no election.)
      campaign = g.campaign === this.host.self && firstTerm === undefined && !history;
      if (!history) group.preferred = g.campaign;
    } else {
      const dir = path.join(this.host.raftDir, consumerGroupName(this.stream.jsa.account.name, this.stream.name, c.name));
      const known = this.snapshotGroupVoters?.get(c.name);
      if (fs.existsSync(path.join(dir, "peers.json"))) group = new ConsumerGroup(this, c.name, [], { fresh: false, joining: false });
      else if (known !== undefined && known.includes(this.host.self)) {
        // A voter of its group already (started on every assigned server at once): it votes and
        // may lead, its state coming from the group's log (or snapshot).
        group = new ConsumerGroup(this, c.name, known, { fresh: true, joining: false });
      } else if (this.joinedLate || this.catchingUpNow) group = new ConsumerGroup(this, c.name, [...this.node.config.voters].sort(), { fresh: true, joining: true });
      else if (this.node.config.voters.length === 1 && this.host.scalingTo(this.stream) !== undefined) {
        // The stream scaled up from one replica by an update: as nats-server 2.15 grows such a
        // consumer, its group starts here alone (it stays led, and delivers, meanwhile) and its
        // leader adds the servers the stream gets one at a time (learners caught up, then voters).
        // Each membership it commits goes to its membership file (ConsumerGroup.fileVoters), so
        // a copy here whose log is gone later (a memory stream restarted, a copy discarded as
        // damaged) rejoins the grown group.
        group = new ConsumerGroup(this, c.name, [this.host.self], { fresh: true, joining: false, scaledUp: true });
        campaign = true;
        group.preferred = this.host.self;
      } else {
        group = new ConsumerGroup(this, c.name, this.bootstrapVoters(), { fresh: true, joining: false });
        // The stream's group starting alone (restore, scale-up): this server leads the stream, and
        // its consumers too once another member is there (its copies are the ones a backup takes).
        if (this.node.config.voters.length === 1) {
          campaign = true;
          patient = true;
          group.preferred = this.host.self;
        }
      }
    }
    this.consumerGroups.set(c.name, group);
    group.start(campaign, patient);
  }

  /** While consumers come with a leader's snapshot: the voters of their groups it names. */
  private snapshotGroupVoters: Map<string, string[]> | undefined;

  /**
   * The members of a group started for a consumer the stream had before its group (a restore,
   * where the stream's group starts alone; a store from before consumer groups): every server
   * the stream is assigned to, at once, as nats-server starts a consumer's group on all its
   * peers. (Grown one member at a time instead, a leader stopped before the last one was
   * promoted left the group without a quorum; a scale-up by update grows it so all the same, as
   * nats-server does: consumerStarted.) The servers that join the stream later are voters of it
   * from their start (the snapshot they catch up from says so).
   */
  private bootstrapVoters(): string[] {
    const voters = [...this.node.config.voters];
    const staying = this.host.movingTo(this.stream) ?? this.host.assignedPeers(this.stream);
    if (staying !== undefined && staying.includes(this.host.self)) for (const p of staying) if (!voters.includes(p)) voters.push(p);
    return voters.sort();
  }

  /**
   * This server was removed from a replicated consumer's group (scaled down, R3 -> R2): its copy
   * stays outside the group, as on a server an R2 consumer was not placed on (its config kept
   * for a scale-up), and the group's files go.
   */
  consumerGroupLeft(name: string): void {
    const old = this.consumerGroups.get(name);
    if (old === undefined || old.holds || this.stopped) return;
    const voters = [...old.node.config.voters];
    // (Asked before its group goes: one made single-replica by the stream's scale-down is
    // replicated for as long as it has a group here, and this copy must not start delivering
    // on its own; it stays outside the group until the stream drops it here.)
    const c = this.stream.consumers.get(name);
    const replicated = c !== undefined && !c.closed && c.replicated;
    this.consumerStopped(name, true);
    if (c === undefined || !replicated || c.closed) return;
    const group = new ConsumerGroup(this, name, voters, { fresh: true, joining: true });
    this.consumerGroups.set(name, group);
    group.start(false);
  }

  /** A consumer stopped here: its group stops; `gone` (deleted, scaled down, this copy removed): its files go too. */
  consumerStopped(name: string, gone: boolean): void {
    const group = this.consumerGroups.get(name);
    if (group === undefined) return;
    this.consumerGroups.delete(name);
    if (gone) group.destroy();
    else group.stop();
  }

  /** Answer `reply` once the groups of `names` have leaders (at most an election timeout). */
  private answerWhenLed(names: string[], reply: string, json: string): void {
    const deadline = Date.now() + ELECTION_MAX_MS;
    const check = (): void => {
      const waiting = names.some((n) => {
        const g = this.consumerGroups.get(n);
        return g !== undefined && (g.leader === "" || (g.leader === this.host.self && !g.leads));
      });
      if (waiting && Date.now() < deadline && !this.stopped) {
        setTimeout(check, 5).unref();
        return;
      }
      // Its `cluster` as of now (the leader known), not as of the create.
      let out = json;
      const c = names.length === 1 ? this.stream.consumers.get(names[0]) : undefined;
      if (c !== undefined) {
        try {
          const a = JSON.parse(json) as Record<string, unknown>;
          // (Scaled down to one replica: answered with the group it had.)
          if (a.cluster !== undefined && !(c.replicated === false && (a.cluster as Record<string, unknown>).desired !== undefined)) {
            const now = c.clusterJson() as { cluster: Record<string, unknown> };
            // (An update's desired membership is as of the update.)
            const desired = (a.cluster as Record<string, unknown>).desired;
            out = JSON.stringify({ ...a, cluster: desired !== undefined ? { ...now.cluster, desired } : now.cluster });
          }
        } catch {
          // answered as it was
        }
      }
      this.stream.jsa.account.publish(reply, "", undefined, Buffer.from(out));
    };
    check();
  }

  /**
   * The members a new replicated consumer's group gets: the stream's voters, the one leading the
   * fewest consumers first (the stream's leader on a tie); one asking for fewer `replicas` than
   * the stream has gets that many of them at random among those heard from lately (as
   * nats-server shuffles the stream's active peers).
   */
  private newConsumerPeers(replicas?: number): string[] {
    const voters = [...this.node.config.voters];
    const counts = new Map<string, number>(voters.map((v) => [v, 0]));
    for (const g of this.consumerGroups.values()) {
      const leader = g.leader !== "" ? g.leader : g.preferred;
      const n = counts.get(leader);
      if (n !== undefined) counts.set(leader, n + 1);
    }
    const heard = new Set([this.host.self, ...this.node.peerStatus().filter((p) => p.lastSeenMs >= 0 && p.lastSeenMs <= ELECTION_MAX_MS).map((p) => p.id)]);
    const self = this.host.self;
    voters.sort((a, b) => {
      const ha = heard.has(a) ? 0 : 1;
      const hb = heard.has(b) ? 0 : 1;
      if (ha !== hb) return ha - hb;
      const d = (counts.get(a) as number) - (counts.get(b) as number);
      if (d !== 0) return d;
      return a === self ? -1 : b === self ? 1 : a < b ? -1 : a > b ? 1 : 0;
    });
    if (replicas === undefined || replicas <= 1 || replicas >= voters.length) return voters;
    const live = shuffleInPlace(voters.filter((v) => heard.has(v)));
    const chosen = new Set([...live, ...voters.filter((v) => !heard.has(v))].slice(0, replicas));
    return voters.filter((v) => chosen.has(v));
  }

  /** The server leading a replicated consumer (its group's leader; "" while unknown here). */
  consumerLeader(name: string): string {
    return this.consumerGroups.get(name)?.leader ?? "";
  }

  /** A replicated consumer's RAFT node here (none while it has no group here). */
  consumerGroupNode(name: string): RaftNode | undefined {
    return this.consumerGroups.get(name)?.node;
  }

  /**
   * Is this server a member of a replicated consumer's group? Not for a consumer with fewer
   * replicas than the stream placed on other members: its copy here only keeps the config for
   * a scale-up (it is neither counted nor shown as this server's, nor answers for it).
   */
  holdsConsumer(name: string): boolean {
    return this.consumerGroups.get(name)?.holds !== false;
  }

  /**
   * Who keeps a replicated consumer scaled down to one replica: its group's leader; seen from a
   * server outside its group (which hears nothing of it), the first of its members as known here.
   */
  consumerKeeper(name: string): string {
    const g = this.consumerGroups.get(name);
    if (g === undefined) return "";
    return g.holds ? g.leader : (g.node.config.voters[0] ?? "");
  }

  /** Replicated consumers whose group is on other members (copies here keep only their config). */
  consumersHeldElsewhere(): string[] {
    const out: string[] = [];
    for (const [name, g] of this.consumerGroups) if (!g.holds) out.push(name);
    return out;
  }

  /** Does a consumer group need this server for a quorum once the servers not in `after` are gone (a pair it is one of)? */
  consumersNeedThis(after: string[]): boolean {
    for (const g of this.consumerGroups.values()) if (g.needsForQuorum(after)) return true;
    return false;
  }

  /**
   * Who answers a committed change of a replicated consumer: the stream's leader when it is a
   * member of the consumer's group (`peers` for a new one), else the consumer's own leader (the
   * first of `peers` for a new one), as nats-server's consumer leader answers.
   */
  private answersConsumerChange(name: string | undefined, peers: string[] | undefined): boolean {
    const g = name !== undefined ? this.consumerGroups.get(name) : undefined;
    const leader = this.node.leader;
    if (g !== undefined) {
      const cfg = g.node.config;
      if (leader === "" || cfg.voters.includes(leader) || cfg.learners.includes(leader)) return this.node.isLeader;
      return g.leader === this.host.self;
    }
    // A create: its group's first leader (named by the entry, leading from its start) answers, as
    // nats-server's consumer leader answers its creation (with what it knows of the members).
    if (peers === undefined || peers.length === 0) return this.node.isLeader;
    return peers[0] === this.host.self;
  }

  /** Does this member lead the consumer (deliver, take acks and pull requests)? Its group's ready leader. */
  leadsConsumer(name: string): boolean {
    return this.consumerGroups.get(name)?.leads === true;
  }

  /** Members of a consumer's group from now on: the stream group's members that stay (while it moves, those it goes to). */
  consumerMembers(): string[] | undefined {
    const staying = this.host.movingTo(this.stream) ?? this.host.assignedPeers(this.stream);
    const members = [...this.node.config.voters, ...this.node.config.learners];
    const out = staying === undefined ? members : members.filter((m) => staying.includes(m));
    return out.length > 0 ? out : undefined;
  }

  streamMembers(): string[] {
    return [...this.node.config.voters, ...this.node.config.learners];
  }

  reachable(server: string): boolean {
    return this.host.reachable(server);
  }

  stayingServers(): string[] | undefined {
    return this.host.movingTo(this.stream) ?? this.host.assignedPeers(this.stream);
  }

  /** Is this server leaving the stream's group (not among the servers a move goes to, or no longer assigned)? */
  leavingGroup(): boolean {
    const staying = this.host.movingTo(this.stream) ?? this.host.assignedPeers(this.stream);
    return staying !== undefined && !staying.includes(this.host.self);
  }

  /**
   * A member applied changes of a consumer's leader: on an interest or work-queue stream the
   * stream's leader checks whether anyone still needs the messages acknowledged.
   */
  consumerChangesApplied(list: readonly NamedConsumerOp[]): void {
    if (!this.node.isLeader || this.stream.cfg.retention === "limits") return;
    for (const x of list) this.noteAckedElsewhere(x.c);
    if (this.ackedElsewhere.length > 0) this.checkAckedElsewhere();
  }

  get checksRetention(): boolean {
    return this.node.isLeader && this.stream.cfg.retention !== "limits";
  }

  consumerStateReplaced(released: readonly number[]): void {
    if (released.length === 0) return;
    for (const seq of released) this.ackedElsewhere.push(seq);
    this.checkAckedElsewhere();
  }

  /**
   * On the stream's leader, before a member leaves the group (a move, a scale-down, a peer
   * removal, this leader's own leaving): true once every replicated consumer's group has the
   * `staying` servers as voters and a leader among them (each group's leader brings its
   * membership there itself).
   */
  consumersLeaveFor(staying: string[]): boolean {
    if (!this.node.isLeader || !this.node.leaderReady) return false;
    return this.consumerMigrating(staying) === undefined;
  }

  /**
   * The first replicated consumer whose group is not on the `staying` servers yet (undefined:
   * none). Scaling down, a group must have left every other server first (nats-server 2.15's
   * stream waits "for consumer 'C' to migrate" before it removes a member of its own).
   */
  consumerMigrating(staying: string[]): string | undefined {
    const exactly = this.host.scalingDown(this.stream);
    for (const [name, g] of this.consumerGroups) if (!g.settledOn(staying, exactly)) return name;
    return undefined;
  }

  /** Does this member lead a replicated consumer now (its copy stays until another member does)? */
  leadsAnyConsumer(): boolean {
    for (const g of this.consumerGroups.values()) if (g.node.isLeader) return true;
    return false;
  }

  /** CONSUMER.LEADER.STEPDOWN on the consumer's leader: the preferred member, else the most up-to-date other one, leads it. */
  consumerStepDown(name: string, preferred: string | undefined): void {
    const g = this.consumerGroups.get(name);
    if (g === undefined || !g.node.isLeader) throw jsError("JSClusterNotAvailErr");
    if (preferred !== undefined && (!g.node.config.voters.includes(preferred) || preferred === this.host.self)) {
      throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${preferred}" not known` });
    }
    if (!g.stepDown(preferred)) throw jsError("JSClusterNoPeersErrF", { err: "no replacement peer connected" });
    this.log(`consumer '${name}': leadership handed over${preferred !== undefined ? ` to ${preferred}` : ""}`);
  }

  /**
   * `desired` of the answer to a replicated consumer's update to `replicas` members (nats-server
   * 2.15's desired state: when it was asked for; scaled up, the members it goes to, those it has
   * first, its leader first).
   */
  consumerDesired(name: string, replicas: number): Record<string, unknown> | undefined {
    const g = this.consumerGroups.get(name);
    if (g === undefined) return undefined;
    const out: Record<string, unknown> = { created: rfc3339(nowNs()), name: this.host.clusterName };
    const cfg = g.node.config;
    if (replicas > cfg.voters.length) {
      const leader = g.leader;
      const peers = [...(leader !== "" ? [leader] : []), ...cfg.voters.filter((v) => v !== leader)];
      for (const p of this.consumerMembers() ?? []) if (!peers.includes(p)) peers.push(p);
      out.replicas = peers.slice(0, replicas).map((p) => ({ name: p, peer: peerId(p) }));
    }
    return out;
  }

  /**
   * `cluster` of the answer to a single-replica consumer's update to `replicas` members, as
   * nats-server 2.15 answers it: its new group has no leader yet, the server that held it is its
   * only member so far, and `desired` names the members it goes to (that server first).
   */
  consumerScaleUpCluster(name: string, replicas: number): Record<string, unknown> {
    const holder = this.ephemerals.get(name)?.host ?? this.node.leader;
    const peers = this.scaleUpPeers(holder, replicas);
    return scaleUpClusterJson(this.host.clusterName, consumerGroupName(this.stream.jsa.account.name, this.stream.name, name), holder, peers, rfc3339(nowNs()));
  }

  /**
   * The members of the group a single-replica consumer scaled up gets (`replicas`: 0 for as many
   * as the stream has): the server that held it first (it leads it first, as nats-server's), then
   * the stream's other voters, those heard from lately first. (Chosen by the stream's leader,
   * which answers the update and proposes its group.)
   */
  private scaleUpPeers(holder: string, replicas: number | undefined): string[] {
    const voters = this.node.config.voters;
    const heard = new Set(this.node.isLeader ? this.node.peerStatus().filter((p) => p.lastSeenMs >= 0 && p.lastSeenMs <= ELECTION_MAX_MS).map((p) => p.id) : voters);
    heard.add(this.host.self);
    const others = voters.filter((v) => v !== holder).sort((a, b) => (heard.has(a) ? 0 : 1) - (heard.has(b) ? 0 : 1) || (a < b ? -1 : a > b ? 1 : 0));
    const n = replicas !== undefined && replicas > 0 ? Math.min(replicas, voters.length) : voters.length;
    return [...(voters.includes(holder) ? [holder] : []), ...others].slice(0, n);
  }

  /** `cluster` of the answer to a replicated consumer's update to one replica: its group as it was, and when that was asked for (nats-server 2.15's). */
  consumerScaleDownCluster(before: Record<string, unknown>): Record<string, unknown> {
    return { ...before, desired: { created: rfc3339(nowNs()), name: this.host.clusterName } };
  }

  /** `cluster` of a replicated consumer's info: its group's leader and members. */
  consumerClusterInfo(name: string): Record<string, unknown> {
    const g = this.consumerGroups.get(name);
    if (g !== undefined) return g.clusterInfo();
    // No group here yet (scaled up from one replica, its group not started): none leads it, as
    // nats-server shows a consumer's new group (not its stream's group).
    return bareClusterJson(this.host.clusterName, consumerGroupName(this.stream.jsa.account.name, this.stream.name, name));
  }

  /** An entry for the stream's leader to propose (`$JSC.CO.<group>.<leader>`: [sender length u16][sender][entry]). */
  private sendToStreamLeader(entry: Buffer): boolean {
    const leader = this.node.leader;
    const sys = this.stream.jsa.service.server.systemAccount;
    if (leader === "" || leader === this.host.self || sys === undefined) return false;
    const from = Buffer.from(this.host.self, "utf8");
    const msg = Buffer.allocUnsafe(2 + from.length + entry.length);
    msg.writeUInt16LE(from.length, 0);
    from.copy(msg, 2);
    entry.copy(msg, 2 + from.length);
    sys.publish(`$JSC.CO.${this.group}.${leader}`, "", undefined, msg);
    return true;
  }

  /**
   * On the stream's leader: a consumer's leader asks for its deletion (inactive), or, left alone
   * in its group scaled down to one replica, says it keeps it (`kept`); proposed while the sender
   * still leads it.
   */
  private consumerChangesFrom(payload: Buffer): void {
    if (!this.node.isLeader || !this.node.leaderReady || payload.length < 3) return;
    const n = payload.readUInt16LE(0);
    if (payload.length <= 2 + n) return;
    const from = payload.toString("utf8", 2, 2 + n);
    const entry = Buffer.from(payload.subarray(2 + n));
    if (entry[0] !== KIND_OP) return;
    let op: ReplicatedOp;
    try {
      op = JSON.parse(entry.toString("utf8", 1)) as ReplicatedOp;
    } catch {
      return;
    }
    let name: string | undefined;
    if (op.op === "api" && op.rest === `CONSUMER.DELETE.${this.stream.name}.${op.name}` && op.reply === "") name = op.name;
    // (Or a consumer's group leader left alone in it, scaled down to one replica: `kept`, from that member.)
    else if (op.op === "kept" && op.host === from && typeof op.since === "number") name = op.name;
    if (typeof name !== "string") return;
    const leader = this.consumerLeader(name);
    if (leader !== "" && leader !== from) return;
    try {
      this.node.propose(entry);
    } catch {
      // no room or no longer the leader: asked again after another threshold
    }
  }

  /** A consumer led here: its deletion (inactive) goes through the stream's leader. */
  proposeConsumerDelete(name: string): void {
    const rest = `CONSUMER.DELETE.${this.stream.name}.${name}`;
    if (this.node.isLeader) this.proposeApi(rest, Buffer.alloc(0), "", undefined);
    else if (!this.sendToStreamLeader(opEntry({ op: "api", rest, body: "", reply: "", name }))) throw jsError("JSClusterNotAvailErr");
  }

  /** Start the group; `campaign`: this member is the new stream's preferred first leader. */
  start(campaign: boolean): void {
    // Replicated consumers the stream had before its group (scaled up from one replica, restored
    // alone): their groups start here on this group's members, and take in those it adds.
    for (const c of this.stream.consumers.values()) if (c.replicated && !c.closed) this.consumerStarted(c);
    // Made single-replica by the stream's scale-down while this server was stopped in the middle
    // of it: its group goes on from its files (shrinksWithStream), else this copy would deliver
    // on its own beside the group's leader.
    if (this.stream.cfg.num_replicas <= 1) {
      for (const c of this.stream.consumers.values()) {
        if (!c.closed && !this.consumerGroups.has(c.name) && fs.existsSync(path.join(this.host.raftDir, consumerGroupName(this.stream.jsa.account.name, this.stream.name, c.name), "peers.json"))) this.consumerStarted(c, true);
      }
    }
    void this.node.start().then(() => {
      if (!campaign) return;
      this.node.campaignNow();
      // The other members create the group when they apply its assignment, maybe after this
      // pre-vote reached them (dropped: nobody listened yet): asked again shortly, for a while,
      // rather than after an election timeout.
      let tries = 0;
      const again = setInterval(() => {
        if (++tries > CAMPAIGN_RETRIES || this.node.stopped || this.node.leader !== "") clearInterval(again);
        else this.node.campaignNow();
      }, CAMPAIGN_RETRY_MS);
      again.unref();
    });
  }

  get isLeader(): boolean {
    return this.node.isLeader;
  }

  get leader(): string {
    return this.node.leader;
  }

  /** The group's current term (as this member knows it). */
  get term(): number {
    return this.node.term;
  }

  /**
   * How many times a leader became known here (one more at each election this member learns
   * of): a request decided later than it came checks that no other leader came in between,
   * which may have answered it already (and the client moved on).
   */
  leaderEpoch = 0;
  private lastLeaderKnown = "";

  /** When this member of the group started: when it says the group has no leader (leaderless.ts). */
  readonly createdAt = Date.now();

  /** Did this member ever know a leader of its group? */
  get hadLeader(): boolean {
    return this.leaderEpoch > 0;
  }

  /** Leading, with every entry of earlier terms applied here (where each consumer lives is known). */
  get leaderReady(): boolean {
    return this.node.isLeader && this.node.leaderReady;
  }

  get peers(): string[] {
    return [...this.node.config.voters];
  }

  /** Run `fn` once a leader of this group is known (or after `ms`). */
  whenLeaderKnown(ms: number, fn: () => void): void {
    if (this.node.leader !== "" && (!this.node.isLeader || this.node.leaderReady)) {
      fn();
      return;
    }
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      fn();
    };
    // A follower learns of the leader by its first append: polled (rare, at creation).
    const poll = setInterval(() => {
      if (this.node.leader !== "" && (!this.node.isLeader || this.node.leaderReady)) once();
    }, 10);
    poll.unref();
    setTimeout(once, ms).unref();
    this.onReady.push(once);
  }

  /**
   * On the group's leader: bring the membership to the assigned peers, one change at a time
   * (RAFT's rule): a new server joins as a learner (it catches up by snapshot and log and is
   * promoted once current), and only when no learner is pending is a server no longer assigned
   * removed, so the group never counts on a member that is not there yet. Checked again until
   * the membership matches.
   */
  syncMembers(): void {
    if (this.membersTimer !== undefined || this.stopped) return;
    if (!this.node.isLeader || !this.node.leaderReady) return;
    const target = this.host.assignedPeers(this.stream);
    if (target === undefined || target.length === 0) return;
    const cfg = this.node.config;
    const members = [...cfg.voters, ...cfg.learners];
    const moveTo = this.host.movingTo(this.stream);
    // While moving, only the servers it goes to join (those it leaves are removed, not added back).
    const add = (moveTo ?? target).find((p) => !members.includes(p));
    const remove = cfg.voters.find((p) => !target.includes(p) && p !== this.host.self);
    const stray = cfg.learners.find((p) => !(moveTo ?? target).includes(p));
    const picking = this.host.scaleDownPicking(this.stream);
    if (!picking) {
      this.pickingSince = 0;
      this.pickLiveOf?.reset();
    }
    if (add === undefined && remove === undefined && cfg.learners.length === 0 && moveTo === undefined && picking) {
      // A scale-down: this leader picks the servers it keeps (itself, then the live members:
      // keepOrder; the meta leader's guess from the assignment may name a stopped one) and says
      // so at the membership check after the one that
      // saw the scale-down (nats-server's stream leader records its term with the meta leader
      // at one check, selects the peers at the next), and only then do the consumers follow it.
      const now = Date.now();
      if (this.pickingSince === 0) this.pickingSince = now;
      else if (now - this.pickingSince >= MEMBERS_CHECK_MS) this.sayPicked(now);
    } else if (add === undefined && remove === undefined && cfg.learners.length === 0 && moveTo === undefined) {
      if (this.host.scalingTo(this.stream) === undefined) return;
      // A scale-up whose servers are all in: the meta group is told (it stops showing it).
      if (this.node.pendingConfigChange === undefined) this.saySettled(cfg.voters);
    } else try {
      if (add !== undefined && this.baseSnapshot && this.node.snapshotIndex === 0) {
        // The messages from before the group are in no entry: a snapshot first, so new members copy them.
        this.node.snapshotNow();
      } else if (stray !== undefined) {
        // A server that was joining but is no longer assigned (removed from the cluster meanwhile).
        this.node.removePeer(stray);
        this.log(`removing ${stray} from the group (no longer assigned)`);
      } else if (add !== undefined) {
        this.node.addPeer(add);
        this.log(`adding ${add} to the group`);
      } else if (cfg.learners.length === 0 && moveTo !== undefined) {
        this.moveStep(moveTo);
      } else if (cfg.learners.length === 0 && remove !== undefined && this.consumersLeaveFor(target)) {
        this.node.removePeer(remove);
        this.log(`removing ${remove} from the group`);
      }
    } catch (err) {
      if (!(err instanceof RaftError)) throw err; // a change in progress: next time
    }
    this.membersTimer = setTimeout(() => {
      this.membersTimer = undefined;
      this.syncMembers();
    }, MEMBERS_CHECK_MS);
    this.membersTimer.unref();
  }

  private membersTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** When this leader last handed its leadership over, or said its move settled (each repeated only after a while). */
  private handedOverAt = 0;
  private settledSaidAt = 0;
  private settledSaid = "";

  /**
   * A move, once every server it goes to is a caught-up voter: a leader the move leaves hands
   * its leadership to one of those servers; a leader that stays removes the servers left behind
   * one at a time (the group keeps its quorum throughout); when the group has exactly the new
   * servers the meta leader is told, and it ends the move (the servers left drop their copies).
   */
  private moveStep(moveTo: string[]): void {
    const cfg = this.node.config;
    const self = this.host.self;
    const now = Date.now();
    // Replicated consumers are led from the servers it goes to before any member leaves (else
    // a copy that goes would take their leadership, and the pulls waiting there, with it).
    if (!this.consumersLeaveFor(moveTo)) return;
    if (!moveTo.includes(self)) {
      const to = moveTo.find((p) => cfg.voters.includes(p));
      // Its single-replica consumers go with the leadership (committed before it moves, so the
      // server they go to has them even when the group ends with the move: a single replica's).
      if (to !== undefined && now - this.handedOverAt > ELECTION_MAX_MS) this.proposeHandOver(to);
      if (to !== undefined && now - this.handedOverAt > ELECTION_MAX_MS && this.node.stepDown(to)) {
        this.handedOverAt = now;
        this.log(`handing the leadership to ${to} (the stream moves there)`);
      }
      return;
    }
    // One that is not live goes first: removed after a live one, it would leave the group a
    // member short of its quorum (R3 -> R1 with a server down: {leader, down}). (Not "not
    // current": a server stopped a moment ago still is, for an election timeout.)
    const goes = cfg.voters.filter((p) => !moveTo.includes(p) && p !== self);
    // Scaling down, the meta group records each removal before the next one (as nats-server's
    // does): a server drops its copy once it is out of the group, never while it still counts.
    const unrecorded = this.host.scalingDown(this.stream) && this.node.pendingConfigChange === undefined && !sameServers(this.host.assignedPeers(this.stream) ?? [], cfg.voters);
    if (goes.length > 0 && !unrecorded) {
      const leaving = this.removalLive.keepOrder(goes)?.pop();
      if (leaving === undefined) return; // who is live is not known yet
      this.node.removePeer(leaving);
      this.removalLive.reset();
      this.log(`removing ${leaving} from the group (the stream ${this.host.scalingDown(this.stream) ? "scales down" : "moves off it"})`);
      return;
    }
    if (goes.length === 0) this.removalLive.reset();
    if ((cfg.voters.length === moveTo.length || unrecorded) && this.node.pendingConfigChange === undefined) this.saySettled(cfg.voters);
  }

  /** When this leader first saw the stream's scale-down waiting for its servers to be picked (0: not waiting). */
  private pickingSince = 0;
  /** When this leader last said it picked the servers of the stream's scale-down (repeated once a second until recorded). */
  private pickedSaidAt = 0;

  /** Picks the servers the scale-down keeps (this leader, then the live members, least behind: LiveMembers) and says so, once it is known who is live. */
  private sayPicked(now: number): void {
    if (now - this.pickedSaidAt <= 1000) return;
    const order = this.pickLive.keepOrder(this.node.config.voters);
    if (order === undefined) return;
    this.pickedSaidAt = now;
    this.host.scaleDownPicked(this.stream, order);
  }

  /** Who is live when this leader picks the servers of a scale-down, and when it removes a member. */
  private get pickLive(): LiveMembers {
    this.pickLiveOf ??= new LiveMembers(this.node, this.host.self, LIVE_MS, (s) => this.host.reachable(s));
    return this.pickLiveOf;
  }

  private get removalLive(): LiveMembers {
    this.removalLiveOf ??= new LiveMembers(this.node, this.host.self, LIVE_MS, (s) => this.host.reachable(s));
    return this.removalLiveOf;
  }

  private pickLiveOf: LiveMembers | undefined;
  private removalLiveOf: LiveMembers | undefined;

  /** Tell the meta leader the group has `voters` (at once for a new set, else once a second until it is recorded). */
  private saySettled(voters: readonly string[]): void {
    const now = Date.now();
    const said = voters.join(",");
    if (now - this.settledSaidAt <= 1000 && said === this.settledSaid) return;
    this.settledSaidAt = now;
    this.settledSaid = said;
    this.host.moveSettled(this.stream, [...voters]);
  }

  private log(msg: string): void {
    this.stream.jsa.service.log.info(`JetStream cluster: stream '${this.stream.jsa.account.name} > ${this.stream.name}': ${msg}`);
  }

  stop(): void {
    // A consumer change's index still to be recorded (its write was deferred to the turn's end).
    if (this.appliedWriteScheduled) this.writeApplied();
    this.stopped = true;
    if (this.membersTimer !== undefined) clearTimeout(this.membersTimer);
    this.membersTimer = undefined;
    if (this.adoptTimer !== undefined) clearTimeout(this.adoptTimer);
    this.adoptTimer = undefined;
    for (const g of this.consumerGroups.values()) g.stop();
    this.consumerGroups.clear();
    this.node.stop();
    this.closeApplied();
    const sys = this.stream.jsa.service.server.systemAccount;
    if (this.sub !== undefined) sys?.unsubscribeInternal(this.sub);
    if (this.catchupSub !== undefined) sys?.unsubscribeInternal(this.catchupSub);
    if (this.ephSub !== undefined) sys?.unsubscribeInternal(this.ephSub);
    if (this.adoptSub !== undefined) sys?.unsubscribeInternal(this.adoptSub);
    if (this.consumerChangesSub !== undefined) sys?.unsubscribeInternal(this.consumerChangesSub);
    this.lostLeadership();
  }

  /**
   * The stream is this server's alone now (scaled down to one replica) and its group ends: the
   * consumers whose groups it held stay here as single replicas, pulls waiting on them too (no
   * 409 Leadership Change), and deliver on.
   */
  endAlone(): void {
    for (const g of this.consumerGroups.values()) g.keepConsumer();
    const names = [...this.consumerGroups.keys()];
    this.destroy();
    for (const name of names) this.stream.consumers.get(name)?.kick();
  }

  /** Stop and remove the group's files (the stream is deleted). */
  destroy(): void {
    for (const g of this.consumerGroups.values()) g.destroy();
    this.consumerGroups.clear();
    this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- the leader's intake ----

  /** A message published to the stream's subjects (every member gets it; the leader takes it). */
  inbound(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (!this.node.isLeader) return;
    const ordered = checkedAgainstState(hdr);
    if (!this.node.leaderReady || this.heldHead < this.held.length || (ordered && this.node.applied < this.lastProposed)) {
      if (this.held.length - this.heldHead >= MAX_HELD) return; // no ack: the publisher retries
      // The buffers may alias a socket's read buffer.
      this.held.push({ subject, reply, hdr: hdr === undefined ? undefined : Buffer.from(hdr), payload: Buffer.from(payload), sourced: false });
      return;
    }
    this.process(subject, reply, hdr, payload, false);
  }

  /**
   * A message one of the stream's sources copied (the leader runs them, stream_source.ts):
   * checked as a single server checks a source's copy and proposed like a publish. Thrown when
   * it cannot be taken (not the leader, too much held): the source asks its origin again.
   */
  inboundSourced(subject: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (!this.node.isLeader) throw jsError("JSClusterNotAvailErr");
    const ordered = checkedAgainstState(hdr);
    if (!this.node.leaderReady || this.heldHead < this.held.length || (ordered && this.node.applied < this.lastProposed)) {
      if (this.held.length - this.heldHead >= MAX_HELD) throw jsError("JSClusterNotAvailErr");
      this.held.push({ subject, reply: "", hdr: hdr === undefined ? undefined : Buffer.from(hdr), payload: Buffer.from(payload), sourced: true });
      return;
    }
    this.process(subject, "", hdr, payload, true);
  }

  /** A mirror's copy (or a skip over origin sequences), made on the leader: proposed, applied by every member by sequence. */
  proposeCopy(op: Extract<StreamOp, { op: "mirror_msg" } | { op: "skip_msgs" }>): void {
    if (!this.node.isLeader) throw jsError("JSClusterNotAvailErr");
    if (op.op === "skip_msgs") {
      this.proposeOp({ op: "stream", s: op });
      return;
    }
    const subjLen = Buffer.byteLength(op.subject);
    const hdrLen = op.hdr?.length ?? 0;
    const b = Buffer.allocUnsafe(COPY_FIXED + subjLen + hdrLen + op.data.length);
    b[0] = KIND_COPY;
    b.writeDoubleLE(op.seq, 1);
    b.writeBigInt64LE(op.time, 9);
    b.writeUInt16LE(subjLen, 17);
    b.writeUInt32LE(hdrLen, 19);
    let o = COPY_FIXED + b.write(op.subject, COPY_FIXED, "utf8");
    if (op.hdr !== undefined) o += op.hdr.copy(b, o);
    op.data.copy(b, o);
    try {
      // A mirror takes no publishes: its last proposal is its last copy (whenApplied waits for it).
      this.lastProposed = this.node.propose(b);
    } catch (err) {
      if (err instanceof RaftError) throw jsError("JSClusterNotAvailErr");
      throw err;
    }
  }

  private applyCopy(data: Buffer): void {
    const s = this.stream;
    const seq = smallInt(data.readDoubleLE(1));
    // Copied before (a replay, or the mirror asked its origin again from a stale position).
    if (seq <= s.store.state().lastSeq) return;
    const subjLen = data.readUInt16LE(17);
    const hdrLen = data.readUInt32LE(19);
    let o = COPY_FIXED;
    const subject = data.toString("utf8", o, o + subjLen);
    o += subjLen;
    const hdr = hdrLen > 0 ? data.subarray(o, o + hdrLen) : undefined;
    o += hdrLen;
    try {
      const last = s.store.state().lastSeq;
      if (seq > last + 1 && s.store.state().msgs > 0) s.applyStreamOp({ op: "skip_msgs", seq: last + 1, num: seq - last - 1 });
      s.applyStreamOp({ op: "mirror_msg", subject, hdr, data: data.subarray(o), seq, time: data.readBigInt64LE(9) });
    } catch (err) {
      s.jsa.service.log.warn(`stream '${s.name}': mirror copy ${seq} failed: ${(err as Error).message}`);
    }
  }

  private process(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sourced: boolean): void {
    const s = this.stream;
    const wantAck = reply !== "" && !s.cfg.no_ack;
    try {
      if (!sourced && reply.length > 4 && reply.endsWith(FAST_BATCH_SUFFIX)) {
        const ref = parseFastBatchReply(reply);
        if (ref !== undefined) {
          // A fast batch: checked here message by message (fast_batch.ts), each proposed (pipelined
          // like any publish) and its flow control answered once applied (proposePrepared).
          s.fastBatches.process(ref, subject, reply, hdr, payload);
          return;
        }
      }
      if (!sourced && hdr !== undefined && hdr.length > 12 && hdr.indexOf(BATCH_ID_KEY) >= 0) {
        const batchId = getHeader(hdr, HDR_BATCH_ID);
        if (batchId !== undefined && batchId !== "") {
          // Staged here on the leader (a new leader knows nothing of it: the batch is incomplete
          // there); the commit is proposed as one entry (proposeBatch) and answered once applied.
          const ack = s.batches.process(batchId, subject, hdr, payload, wantAck ? reply : "");
          if (wantAck && ack !== null) s.replyToPublish(reply, ack);
          return;
        }
      }
      const p = s.prepare(sourced ? subject : s.transformedSubject(subject), hdr, payload, sourced, undefined);
      if (p.duplicateOf !== undefined) {
        if (wantAck) this.answerChecked(reply, `${s.pubAckPrefix}${p.duplicateOf},"duplicate":true}`);
        return;
      }
      const skip = s.cfg.retention === "interest" && !s.hasInterestIn(p.subject);
      const seq = this.nextSequence();
      const index = skip ? this.node.propose(encodeSkip(seq)) : this.proposeMsg(seq, p, nowNs());
      this.nextSeq = seq + 1;
      this.lastProposed = index;
      if (wantAck) this.pending.set(index, { reply, val: p.counterValue });
    } catch (err) {
      if (sourced) {
        if (err instanceof RaftError) throw jsError("JSClusterNotAvailErr");
        throw err;
      }
      if (!wantAck) return;
      if (err instanceof RaftError) {
        s.replyToPublish(reply, `{"error":${JSON.stringify(jsError("JSClusterNotAvailErr").toJSON())},"stream":${JSON.stringify(s.name)},"seq":0}`);
        return;
      }
      const e = err instanceof ApiError ? err : storeErrorToApi(err);
      this.answerChecked(reply, `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(s.name)},"seq":0}`);
    }
  }

  /**
   * An answer from this leader's own state (a failed check, a duplicate), not from applying an
   * entry: sent once the group confirms this member led when it checked (RaftNode.confirmLeading).
   * A leader deposed without knowing it yet (paused while the others elected) checked a stale
   * copy: "wrong last sequence" while the new leader stores the same message. It answers
   * nothing then; the publisher has the new leader's answer, or retries.
   */
  private answerChecked(reply: string, ack: string): void {
    this.node.confirmLeading((ok) => {
      if (ok && !this.stream.closed) this.stream.replyToPublish(reply, ack);
    });
  }

  /**
   * The sequence of the next message this leader proposes: the one after its last proposal, or,
   * once every proposal is applied, after the store's last message. Never one the store holds:
   * every member skips an entry whose sequence it has (the replay after a restart), so such a
   * message would be stored nowhere, or, on a member behind, at a sequence the others give
   * another message. (Advanced by the caller once its proposal is taken: a refused proposal
   * leaves no gap.)
   */
  private nextSequence(): number {
    const last = this.stream.store.lastSequence();
    if (this.node.applied >= this.lastProposed || this.nextSeq <= last) this.nextSeq = last + 1;
    return this.nextSeq;
  }

  /**
   * A message checked by the leader (a fast batch's, fast_batch.ts): proposed; `done` gets its
   * sequence or the error once applied (nothing when this member stops leading first).
   */
  proposePrepared(p: Prepared, done: (r: number | ApiError) => void): void {
    const s = this.stream;
    try {
      const skip = s.cfg.retention === "interest" && !s.hasInterestIn(p.subject);
      const seq = this.nextSequence();
      this.lastProposed = skip ? this.node.propose(encodeSkip(seq)) : this.proposeMsg(seq, p, nowNs());
      this.nextSeq = seq + 1;
      this.pending.set(this.lastProposed, { reply: "", val: undefined, done });
    } catch (err) {
      done(err instanceof RaftError ? jsError("JSClusterNotAvailErr") : err instanceof ApiError ? err : storeErrorToApi(err));
    }
  }

  /**
   * An atomic batch checked by the leader (batch.ts, as a single server checks it): proposed as
   * one entry with the sequences its messages get; `suffix` completes the commit's PubAck.
   */
  proposeBatch(prepared: Prepared[], suffix: string, reply: string): void {
    const s = this.stream;
    const first = this.nextSequence();
    const parts: Buffer[] = [Buffer.allocUnsafe(5)];
    parts[0][0] = KIND_BATCH;
    parts[0].writeUInt32LE(prepared.length, 1);
    // One time for the whole batch (as nats-server stamps it).
    const time = nowNs();
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i];
      const skip = s.cfg.retention === "interest" && !s.hasInterestIn(p.subject);
      const entry = skip ? encodeSkip(first + i) : encodeMsg(first + i, p, time);
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(entry.length, 0);
      parts.push(len, entry);
    }
    try {
      this.lastProposed = this.node.propose(Buffer.concat(parts));
    } catch (err) {
      if (err instanceof RaftError) throw jsError("JSClusterNotAvailErr");
      throw err;
    }
    this.nextSeq = first + prepared.length;
    if (reply !== "") this.pending.set(this.lastProposed, { reply, val: undefined, batch: suffix });
  }

  /**
   * Propose a message: its entry is encoded straight into its RAFT record (REC_HDR bytes left for
   * the header), in a slab shared with the records proposed before it. The log keeps every record
   * until the next snapshot: one object per entry (the log's), not a buffer of its own as well.
   */
  private proposeMsg(seq: number, p: Prepared, time: bigint): number {
    const size = REC_HDR + msgEntrySize(p);
    if (size > REC_SLAB_SIZE / 8) {
      const rec = Buffer.allocUnsafe(size);
      writeMsgEntry(rec, REC_HDR, seq, p, time);
      return this.node.proposeRecord(rec);
    }
    if (this.recSlab === undefined || this.recSlabUsed + size > this.recSlab.length) {
      this.recSlab = Buffer.allocUnsafeSlow(REC_SLAB_SIZE);
      this.recSlabUsed = 0;
    }
    const at = this.recSlabUsed;
    writeMsgEntry(this.recSlab, at + REC_HDR, seq, p, time);
    // Taken only once proposed: a refused proposal leaves its room to the next.
    const index = this.node.proposeRecord(this.recSlab, at, size);
    this.recSlabUsed = at + size;
    return index;
  }

  /** Take the held messages in, up to the next one that must wait for the proposals before it. */
  private drainHeld(): void {
    while (this.heldHead < this.held.length && this.node.leaderReady) {
      const h = this.held[this.heldHead];
      const ordered = checkedAgainstState(h.hdr);
      if (ordered && this.node.applied < this.lastProposed) return;
      this.heldHead++;
      if (h.dropped === true) continue;
      try {
        this.process(h.subject, h.reply, h.hdr, h.payload, h.sourced);
      } catch {
        // A held source's copy refused now: its source asks its origin again from this message,
        // and the copies of that source held behind it go (they come again).
        const source = this.stream.sourcing?.copyRefused(h.hdr);
        if (source !== undefined) {
          for (let i = this.heldHead; i < this.held.length; i++) if (this.held[i].sourced && this.stream.sourcing?.sourceOf(this.held[i].hdr) === source) this.held[i].dropped = true;
        }
      }
    }
    if (this.heldHead >= this.held.length) {
      this.held = [];
      this.heldHead = 0;
      // Waiters that came while messages were held wait for what those became.
      for (const w of this.appliedWaiters) if (w.index === Number.MAX_SAFE_INTEGER) w.index = this.lastProposed;
      if (this.appliedWaiters.length > 0) this.runAppliedWaiters(this.node.applied);
    }
  }

  /** A change of the stream other than a message, made on the leader (e.g. an acked work-queue message): proposed. */
  forward(op: StreamOp): void {
    // Only the leader's consumers change the stream; acks of consumers led by other members are
    // checked by the leader once it applies them (noteAckedElsewhere).
    if (!this.node.isLeader) return;
    this.proposeOp({ op: "stream", s: op, ...(op.op === "purge" ? { upTo: this.firstSeqAfterProposed() } : {}) });
  }

  /**
   * A change of a replicated consumer's state on its leader (a delivery, an ack): proposed in
   * the consumer's own group, with the other changes of this turn in one entry.
   */
  forwardConsumer(name: string, op: ConsumerOp): void {
    // A copy standing by changes on its own (e.g. a message removed): every member does the same.
    const g = this.consumerGroups.get(name);
    if (g !== undefined && g.leads) g.forward(op);
  }

  /** Reply to `reply` (an ack confirmation) once the consumer's changes so far are committed by its group. */
  confirmAfterCommit(name: string, reply: string): void {
    const g = this.consumerGroups.get(name);
    if (g !== undefined) g.confirmAfterCommit(reply);
    else this.stream.jsa.account.publishOnce(reply, undefined, NO_BYTES);
  }

  /**
   * The leader's store expired a message (max age, TTL): the others remove it when the entry
   * comes (one entry per turn). Lost with a leader change before it commits: the next leader's
   * own expiry takes the message then.
   */
  expired(seq: number): void {
    if (!this.node.isLeader) return;
    this.expiredSeqs.push(seq);
    if (this.expiredSeqs.length === 1) queueMicrotask(this.flushExpired);
  }

  private expiredSeqs: number[] = [];

  private readonly flushExpired = (): void => {
    const seqs = this.expiredSeqs;
    this.expiredSeqs = [];
    if (seqs.length === 0 || !this.node.isLeader) return;
    try {
      this.proposeOp({ op: "expired", seqs });
    } catch {
      // no room or not the leader: the next leader's expiry removes them
    }
  };

  /**
   * An API request that changes the stream (purge, message delete): run on every member once
   * committed; the leader answers. `single`: the create of a single-replica consumer named so
   * (durable or ephemeral): it is placed on one member, and every member records where before
   * that member creates it and answers. `keep`: a replicated consumer scaled down to one replica
   * stays on that member (its group's leader), which answers.
   */
  proposeApi(rest: string, body: Buffer, reply: string, hdr: Buffer | undefined, change: { name?: string; single?: string; keep?: string; replicas?: number } = {}): void {
    const { name, single, keep } = change;
    // A consumer create names the members of the consumer's group, its first leader first.
    const creates = rest.startsWith("CONSUMER.CREATE.") || rest.startsWith("CONSUMER.DURABLE.CREATE.");
    const cpeers = single !== undefined ? [this.singleReplicaHost()] : creates ? this.newConsumerPeers(change.replicas) : undefined;
    const upTo = rest.startsWith("STREAM.PURGE.") ? this.firstSeqAfterProposed() : undefined;
    this.proposeOp({
      op: "api",
      rest,
      body: body.toString("base64"),
      reply,
      hdr: hdr?.toString("base64"),
      ...(name !== undefined ? { name } : {}),
      ...(cpeers !== undefined ? { cpeers } : {}),
      ...(single !== undefined ? { single } : {}),
      ...(keep !== undefined ? { keep } : {}),
      ...(upTo !== undefined ? { upTo } : {}),
    });
  }

  /**
   * The first sequence after every message proposed so far (their sequences are given when
   * proposed). A mirror's copies in flight keep their origin's sequences and are not counted: a
   * purge proposed meanwhile leaves them, on every member alike.
   */
  private firstSeqAfterProposed(): number {
    const stored = this.stream.store.lastSequence() + 1;
    return this.node.applied >= this.lastProposed ? stored : Math.max(stored, this.nextSeq);
  }

  /** Where a new single-replica consumer goes: any member heard from lately, at random (as nats-server picks among the stream's active peers). */
  private singleReplicaHost(): string {
    const heard = [this.host.self, ...this.node.peerStatus().filter((p) => p.voter && p.lastSeenMs >= 0 && p.lastSeenMs <= ELECTION_MAX_MS).map((p) => p.id)];
    const live = [...new Set(heard)].filter((p) => this.node.config.voters.includes(p));
    return live[Math.floor(Math.random() * live.length)] ?? this.host.self;
  }

  /** While a committed consumer create runs: the name the leader gave the unnamed ephemeral it creates. */
  ephemeralName: string | undefined;
  /** While a committed scale-down to one replica runs: the member that keeps the consumer (its group's leader when proposed). */
  private scaleKeeper: string | undefined;
  /** While a committed request about a consumer runs: the index of its entry. */
  private requestIndex: number | undefined;

  /** Is a replicated consumer scaling down to one replica here (its config says one, its group still has others)? */
  scalingDownToOne(name: string): boolean {
    return this.scaleDowns.has(name);
  }

  /**
   * Is a consumer made single-replica by its stream's scale-down to one replica still replicated
   * here? Its group stays until the stream's ends, as nats-server 2.15 keeps it: the consumer's
   * leader moves it onto the server the stream keeps one member at a time (ConsumerGroup), the
   * stream's leader removes its own members only after that, and the consumer is that server's
   * alone once the stream's group ends (its state never left the group meanwhile).
   */
  shrinksWithStream(name: string): boolean {
    return this.stream.cfg.num_replicas <= 1 && this.consumerGroups.has(name);
  }

  /** Is the stream's scale-down waiting for its servers to be picked (its consumers keep their replicas meanwhile)? */
  get scaleDownPicking(): boolean {
    return this.host.scaleDownPicking(this.stream);
  }

  /** Runs `fn`, a change every member makes to its own copies, without sending it through the consumers' groups (as a committed change is applied). */
  applyLocally(fn: () => void): void {
    const was = this.applying;
    this.applying = true;
    try {
      fn();
    } finally {
      this.applying = was;
    }
  }

  /** Is the stream scaling down (its group leaving servers one at a time, its consumers' groups leaving them first)? */
  streamScalingDown(): boolean {
    return this.host.scalingDown(this.stream);
  }

  /**
   * On a consumer's group leader left alone in it while it scales down to one replica: the
   * stream's group records that it lives here from now on (a `kept` entry, through the stream's
   * leader; sent again until applied).
   */
  consumerKept(name: string): void {
    const since = this.scaleDowns.round(name);
    if (since === undefined || !this.scaleDowns.sendNow(name, Date.now())) return;
    const op: ReplicatedOp = { op: "kept", name, host: this.host.self, since };
    if (!this.node.isLeader) {
      this.sendToStreamLeader(opEntry(op));
      return;
    }
    try {
      this.proposeOp(op);
    } catch {
      // no quorum now: sent again
    }
  }

  /**
   * A `kept` entry: once its round counts (no request about the consumer since it started),
   * every member records that the consumer lives on `host` (again on every replay), and, when it
   * is applied for the first time, `host` keeps it as a single replica (its group ends there:
   * pulls waiting on it stay), the other members drop their copies (in or out of its group).
   */
  private applyKept(op: Extract<ReplicatedOp, { op: "kept" }>, index: number): void {
    if (!this.scaleDowns.counts(op.name, op.since)) return;
    this.ephemerals.set(op.name, { host: op.host, direct: false, ...this.localKnown(op.name) });
    if (index <= this.opsApplied || this.scaleDowns.round(op.name) !== op.since) return;
    this.scaleDowns.end(op.name);
    const c = this.stream.consumers.get(op.name);
    if (c === undefined || c.closed) return;
    if (op.host === this.host.self) {
      this.consumerGroups.get(op.name)?.keepConsumer();
      this.consumerStopped(op.name, true);
      c.kick();
      this.log(`consumer '${op.name}': scaled down to one replica, kept here`);
    } else {
      this.stream.consumers.delete(op.name);
      c.stop(true, true);
    }
  }

  private proposeOp(op: ReplicatedOp): { index: number; data: Buffer } {
    const entry = opEntry(op);
    try {
      return { index: this.node.propose(entry), data: entry };
    } catch (err) {
      if (err instanceof RaftError) throw jsError("JSClusterNotAvailErr");
      throw err;
    }
  }

  private becameReady(): void {
    this.leaderSinceNs = nowNs();
    this.lastProposed = 0;
    this.nextSeq = this.stream.store.state().lastSeq + 1;
    const ready = this.onReady;
    this.onReady = [];
    for (const fn of ready) fn();
    // The single-replica consumers held here deliver (replicated ones follow their own groups).
    for (const c of this.stream.consumers.values()) if (!c.replicated) c.resume();
    const replicas = this.replicasJson();
    const ctx = this.stream.jsa.advisoryContext;
    adv.streamLeaderElected(ctx, this.stream.name, this.host.self, replicas);
    // The ephemeral consumers held here (recovered after a restart, created while the group had
    // no leader) are recorded; those recorded here that are gone are dropped.
    for (const c of this.stream.consumers.values()) if (!c.replicated) this.proposeEphemeral(c.name, this.host.self, false, c.cfg.direct === true);
    for (const [name, e] of this.ephemerals) if (e.host === this.host.self && !this.stream.consumers.has(name)) this.proposeEphemeral(name, e.host, true, e.direct);
    this.drainHeld();
    this.syncMembers();
    this.sweepAckedAfterElection();
    // Expiry and schedules are this member's to run now: what came due while it followed goes
    // (and is proposed), schedules due and not produced fire.
    this.stream.markersProposed.clear();
    if (this.stream.schedules.size > 0) this.stream.schedules.resume();
    if (!this.stream.closed) {
      try {
        this.stream.store.expireNow();
      } catch (err) {
        this.stream.jsa.service.log.warn(`stream '${this.stream.name}': expiry failed: ${(err as Error).message}`);
      }
    }
    // The mirror or sources run here now, from the positions every member holds (the last
    // sequence for a mirror, the newest Nats-Stream-Source headers or sources.json for sources).
    if (!this.stream.closed) this.stream.sourcing?.start();
  }

  /** Not the leader (anymore): what waited here gets no answer (its publisher retries). */
  private lostLeadership(): void {
    this.pickLiveOf?.reset();
    this.removalLiveOf?.reset();
    this.stream.sourcing?.stop(true);
    this.appliedWaiters = [];
    this.pending.clear();
    this.held = [];
    this.heldHead = 0;
    this.lastProposed = 0;
    this.leaderSinceNs = undefined;
  }

  // ---- the state machine ----

  apply(data: Buffer, index: number): void {
    this.applying = true;
    try {
      if (data[0] === KIND_MSG_T || data[0] === KIND_MSG || data[0] === KIND_SKIP) this.applyMsg(data, index);
      else if (data[0] === KIND_BATCH) this.applyBatch(data, index);
      else if (data[0] === KIND_OP) this.applyOp(data, index);
      else if (data[0] === KIND_COPY) this.applyCopy(data);
      else if (data[0] === KIND_CONSUMERS) this.applyConsumerEntry(data, index);
    } finally {
      this.applying = false;
    }
    if (this.ackedElsewhere.length > 0) this.checkAckedElsewhere();
    if (this.heldHead < this.held.length && index >= this.lastProposed) this.drainHeld();
    if (this.appliedWaiters.length > 0 && index >= this.appliedWaiters[0].index) this.runAppliedWaiters(index);
  }

  /**
   * Run `fn` once every message proposed so far (and held before now) is committed and applied
   * here: what a source's flow control answer confirms to an AckFlowControl origin (which then
   * drops those messages) is on a quorum. Dropped when this member stops leading.
   */
  whenApplied(fn: () => void): void {
    if (this.heldHead >= this.held.length && this.node.applied >= this.lastProposed) {
      fn();
      return;
    }
    // Held messages get indexes later: counted by re-checking once they are proposed.
    const index = this.heldHead < this.held.length ? Number.MAX_SAFE_INTEGER : this.lastProposed;
    this.appliedWaiters.push({ index, fn });
  }

  /** Run `fn` once the entry at `index` is applied here (dropped when this member stops leading). */
  whenIndexApplied(index: number, fn: () => void): void {
    if (this.node.applied >= index) {
      fn();
      return;
    }
    // (Kept in index order: each applied entry looks at the first.)
    const at = this.appliedWaiters.findIndex((w) => w.index > index);
    this.appliedWaiters.splice(at < 0 ? this.appliedWaiters.length : at, 0, { index, fn });
  }

  private runAppliedWaiters(index: number): void {
    const ready = this.appliedWaiters.filter((w) => w.index <= index);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > index);
    for (const w of ready) w.fn();
  }

  private applyMsg(data: Buffer, index: number): void {
    const s = this.stream;
    const waiting = this.pending.get(index);
    if (waiting !== undefined) this.pending.delete(index);
    let out: string | number | undefined;
    try {
      const seq = this.storeEntry(data);
      // Applied before (a replay after a restart): the store has it already.
      if (seq === undefined) return;
      if (waiting?.done !== undefined) {
        waiting.done(seq);
        return;
      }
      out = waiting?.val !== undefined ? `${s.pubAckPrefix}${seq},"val":"${waiting.val}"}` : seq;
    } catch (err) {
      if (waiting?.done !== undefined) {
        waiting.done(err instanceof ApiError ? err : storeErrorToApi(err));
        return;
      }
      out = this.errorAck(err);
    }
    if (waiting !== undefined && waiting.reply !== "") s.replyToPublish(waiting.reply, out);
  }

  /**
   * An atomic batch: every message stored in order (each skipped when the store has it, so the
   * replay of a batch a crash cut in half completes it); the commit's PubAck names the last.
   */
  private applyBatch(data: Buffer, index: number): void {
    const s = this.stream;
    const waiting = this.pending.get(index);
    if (waiting !== undefined) this.pending.delete(index);
    const n = data.readUInt32LE(1);
    let last = 0;
    let out: string;
    try {
      for (let i = 0, o = 5; i < n; i++) {
        const len = data.readUInt32LE(o);
        last = this.storeEntry(data.subarray(o + 4, o + 4 + len)) ?? smallInt(data.readDoubleLE(o + 5));
        o += 4 + len;
      }
      out = `${s.pubAckPrefix}${last}${waiting?.batch ?? ""}}`;
    } catch (err) {
      out = this.errorAck(err);
    }
    if (waiting !== undefined && waiting.reply !== "") s.replyToPublish(waiting.reply, out);
  }

  private errorAck(err: unknown): string {
    const e = err instanceof ApiError ? err : storeErrorToApi(err);
    return `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(this.stream.name)},"seq":0}`;
  }

  /** Store one KIND_MSG/KIND_SKIP entry; its sequence, or undefined when the store has it already. Throws what the store refuses. */
  private storeEntry(data: Buffer): number | undefined {
    const s = this.stream;
    const seq = smallInt(data.readDoubleLE(1));
    const last = s.store.lastSequence();
    if (seq <= last) return undefined;
    // Sequences the leader gave to messages that failed to apply: skipped alike everywhere.
    if (seq > last + 1) s.applyStreamOp({ op: "skip_msgs", seq: last + 1, num: seq - last - 1 });
    if (data[0] === KIND_SKIP) {
      s.applyStreamOp({ op: "skip" });
      return seq;
    }
    const rollup = data[17];
    const subjLen = data.readUInt16LE(18);
    const idLen = data.readUInt16LE(20);
    const hdrLen = data.readUInt32LE(22);
    // Entries written before times were replicated (KIND_MSG) are stamped by this member's clock.
    const timed = data[0] === KIND_MSG_T;
    let o = timed ? MSG_T_FIXED : MSG_FIXED;
    const subject = data.toString("utf8", o, o + subjLen);
    o += subjLen;
    const msgId = idLen > 0 ? data.toString("utf8", o, o + idLen) : undefined;
    o += idLen;
    const hdr = hdrLen > 0 ? data.subarray(o, o + hdrLen) : undefined;
    o += hdrLen;
    return s.applyStreamOp({
      op: "msg",
      subject,
      hdr,
      data: data.subarray(o),
      msgId,
      rollup: rollup === 1 ? "sub" : rollup === 2 ? "all" : undefined,
      ttl: smallInt(data.readDoubleLE(9)),
      at: timed ? { seq, time: data.readBigInt64LE(26) } : undefined,
    }) as number;
  }

  private applyOp(data: Buffer, index: number): void {
    let op: ReplicatedOp;
    try {
      op = JSON.parse(data.toString("utf8", 1)) as ReplicatedOp;
    } catch {
      this.stream.jsa.service.log.warn(`stream '${this.stream.name}': RAFT entry ${index} does not decode`);
      return;
    }
    // Every entry about a consumer ends a scale-down round started before it (a record, replayed too).
    const about = consumerOf(op);
    if (about !== undefined) this.scaleDowns.requestApplied(about, index);
    if (op.op === "kept") {
      this.applyKept(op, index);
      if (index > this.opsApplied) {
        this.opsApplied = index;
        this.writeApplied();
      }
      return;
    }
    if (op.op === "eph") {
      // Where an ephemeral lives: a record, applied again on every replay (it is not persisted elsewhere).
      if (op.gone === true) {
        this.ephemerals.delete(op.name);
        if (op.deleted !== undefined) this.offlineChanges.set(op.name, { host: op.host, at: op.deleted, index, deleted: true });
        else this.offlineChanges.delete(op.name);
        const c = this.stream.consumers.get(op.name);
        if (op.deleted !== undefined && op.host === this.host.self && c !== undefined && !c.replicated && !c.closed && c.created <= BigInt(op.deleted)) {
          // Deleted while this server was down: its copy goes now (one created since stays).
          this.stream.jsa.executeApi(`CONSUMER.DELETE.${this.stream.name}.${op.name}`, "", Buffer.alloc(0), undefined, false);
        } else if (op.host === this.host.self && c !== undefined && !c.replicated && !c.closed) this.ephemeralChanged(op.name, false);
        // (Created here again since its deletion, the same name: recorded again.)
      } else {
        // (A record without what is listed keeps what was known of the consumer on that server.)
        const prev = this.ephemerals.get(op.name);
        const known = knownOf(op) ?? (prev?.host === op.host ? knownOf(prev) : undefined);
        this.ephemerals.set(op.name, { host: op.host, direct: op.direct === true, ...known });
      }
      return;
    }
    // Consumer leaders recorded in the stream's group (before consumers had groups of their own): their groups elect them now.
    if (op.op === "cleader") return;
    if (op.op === "pause") {
      this.offlineChanges.set(op.name, { host: op.host, at: op.at, index, ...(op.until !== undefined ? { until: op.until } : {}) });
      // Listed paused (or not) from now on, as nats-server's assignment records the pause.
      const e = this.ephemerals.get(op.name);
      if (e?.host === op.host && e.config !== undefined) e.config = pausedConfig(e.config, op.until);
    }
    if (op.op === "api" && op.single !== undefined) {
      this.applySingleCreate(op, index);
      return;
    }
    if (op.op === "expired") {
      // Removing what is gone already is nothing: applied again on a replay without harm.
      for (const seq of op.seqs) this.stream.applyStreamOp({ op: "remove_acked", seq });
      return;
    }
    // Applied before this start, its record says. Written apart from the store, the record may
    // say so while the store does not hold the change (a power cut kept the one, not the other):
    // an entry that only removes messages runs again, unanswered, as it safely can (a purge
    // takes nothing proposed after it, a removal of what is gone does nothing); others do not.
    const again = index <= this.opsApplied;
    if (again && !removesMessagesOnly(op)) return;
    if (op.op === "stream") {
      try {
        // Only operations without Buffers or bigints are forwarded (JSON carries them as they are).
        // A purge applied again (a replay) takes nothing proposed after it.
        const bounded = op.s.op === "purge" && op.upTo !== undefined ? boundedPurge(this.stream.store, op.s, op.upTo) : undefined;
        this.stream.applyStreamOp(bounded !== undefined ? { op: "purge", ...bounded } : op.s);
      } catch (err) {
        this.stream.jsa.service.log.warn(`stream '${this.stream.name}': ${op.s.op} failed: ${(err as Error).message}`);
      }
    } else if (op.op === "handover") {
      const self = this.host.self;
      this.takingIn.delete(op.sc.name);
      if (self === op.to) this.restoreConsumers([op.sc]);
      else {
        // It lives on `to` now: a copy here stops (its files go with the stream's copy here).
        const c = this.stream.consumers.get(op.sc.name);
        if (c !== undefined && !c.replicated) {
          this.stream.consumers.delete(op.sc.name);
          c.stop(false);
        }
      }
      this.ephemerals.set(op.sc.name, { host: op.to, direct: false, ...knownOfHandedOver(op.sc) });
    } else if (op.op === "pause") {
      // Paused while this server was down (once: entries applied before a restart are not again).
      const c = this.stream.consumers.get(op.name);
      if (op.host === this.host.self && c !== undefined && !c.replicated && !c.closed && c.created <= BigInt(op.at)) applyPause(c, op.until);
    } else if (op.op === "adopt") {
      // It is replicated from here on: no longer recorded as living on one member.
      this.ephemerals.delete(op.sc.name);
      this.adoptPending.delete(op.sc.name);
      // Its group starts on the server that held it, alone (its leader adds the others one at a
      // time, as learners caught up before they vote, as nats-server 2.15 grows it); on the
      // stream's voters, led first by the stream's leader, when the entry names none (older entries).
      this.groupStart = { ...(op.peers !== undefined && op.peers.length > 0 ? { peers: [op.peers[0]], campaign: op.peers[0] } : { peers: [...this.node.config.voters].sort(), campaign: this.node.leader }), fresh: true, scaledUp: true };
      try {
        this.restoreConsumers([op.sc]);
        const c = this.stream.consumers.get(op.sc.name);
        if (c !== undefined && c.replicated) this.consumerStarted(c);
      } finally {
        this.groupStart = undefined;
      }
    } else if (op.op === "consumer" || op.op === "consumers") {
      this.applyConsumerChanges(op.op === "consumer" ? [{ name: op.name, c: op.c }] : op.list, index);
      return;
    } else {
      // (A scale-down to one replica is answered by the member keeping the consumer.)
      const t = op.rest.split(".");
      const named = op.name ?? (t[1] === "DURABLE" ? t[4] : t[3]);
      if (t[0] === "CONSUMER" && named !== undefined && this.runOnSingleHost(op, named, index)) return;
      const consumerChange = t[0] === "CONSUMER" && named !== undefined && (this.consumerGroups.has(named) || op.cpeers !== undefined);
      const reply = !again && (op.keep !== undefined ? op.keep === this.host.self : consumerChange ? this.answersConsumerChange(named, op.cpeers) : this.node.isLeader) ? op.reply : "";
      const wasReplicated = named !== undefined && this.stream.consumers.get(named)?.replicated === true;
      this.ephemeralName = op.name;
      this.scaleKeeper = op.keep;
      this.requestIndex = index;
      // A consumer it creates starts its group on the members the stream's leader named (older entries name none: the stream's voters).
      this.groupStart =
        op.cpeers !== undefined
          ? { peers: op.cpeers, campaign: op.cpeers[0], fresh: true, firstTerm: firstTermOf(index), index }
          : { peers: [...this.node.config.voters].sort(), campaign: this.node.leader, fresh: true };
      const waits = op.cpeers !== undefined && reply !== "";
      let answer: string | undefined;
      let body: Buffer = Buffer.from(op.body, "base64");
      // A purge applied again (a replay) takes nothing proposed after it.
      if (op.upTo !== undefined && t[0] === "STREAM" && t[1] === "PURGE") body = boundedPurgeRequest(this.stream.store, body, op.upTo);
      try {
        this.stream.jsa.executeApi(op.rest, reply, body, op.hdr === undefined ? undefined : Buffer.from(op.hdr, "base64"), false, waits ? (json) => (answer = json) : undefined);
      } finally {
        this.ephemeralName = undefined;
        this.groupStart = undefined;
        this.scaleKeeper = undefined;
        this.requestIndex = undefined;
      }
      // A request about a consumer scaling down to one replica: it goes on (asked for one replica
      // again, or only another setting changed: a round from this entry), or it is over (scaled
      // up again: its group grows back; deleted).
      if (t[0] === "CONSUMER" && named !== undefined && this.scaleDowns.has(named)) {
        const c = this.stream.consumers.get(named);
        if (c === undefined || c.closed || replicatedConsumer(c.cfg, this.stream.cfg.retention)) this.scaleDowns.end(named);
        else this.scaleDowns.start(named, index);
      }
      // Scaled down to one replica: every member records where it stays.
      if (op.keep !== undefined && wasReplicated && named !== undefined && this.stream.consumers.get(named)?.replicated !== true) {
        this.ephemerals.set(named, { host: op.keep, direct: false, ...this.localKnown(named) });
      }
      // A replicated consumer's create (or the same create again) is answered once its group has a
      // leader (as nats-server's consumer leader answers its creation).
      if (waits && answer !== undefined) {
        this.answerWhenLed(named !== undefined && this.consumerGroups.has(named) ? [named] : [], reply, answer);
      }
      // Scaled down while this member knew no leader of its group (its server was down): it asks
      // at once whether it is still a member (a leader tells one it removed), instead of showing
      // the consumer until an election timeout.
      if (named !== undefined) this.consumerGroups.get(named)?.checkMembership();
      // Groups of consumers deleted or scaled down to one replica go.
      for (const name of [...this.consumerGroups.keys()]) if (this.stream.consumers.get(name)?.replicated !== true) this.consumerStopped(name, true);
    }
    if (again) return;
    this.opsApplied = index;
    this.writeApplied();
  }

  /**
   * A request about a consumer that lives on one member now (recorded so), decided while it was
   * replicated (its scale-down to one replica ended by a `kept` entry between the two): that
   * member runs it and answers, the others do nothing (they would create it again, without its
   * state). False: not such a request.
   */
  private runOnSingleHost(op: Extract<ReplicatedOp, { op: "api" }>, name: string, index: number): boolean {
    const recorded = this.ephemerals.get(name);
    if (recorded === undefined || recorded.direct || this.stream.consumers.get(name)?.replicated === true) return false;
    this.opsApplied = index;
    this.writeApplied();
    if (recorded.host !== this.host.self) return true;
    this.ephemeralName = op.name;
    try {
      this.stream.jsa.executeApi(op.rest, op.reply, Buffer.from(op.body, "base64"), op.hdr === undefined ? undefined : Buffer.from(op.hdr, "base64"), false);
    } finally {
      this.ephemeralName = undefined;
    }
    return true;
  }

  /**
   * The create of a single-replica consumer placed on one member (`cpeers[0]`): every member
   * records where it lives (again on every replay, as `eph` entries), so whoever leads the
   * stream next routes its requests there; that member creates it and answers. A create it
   * refuses drops the record again.
   */
  private applySingleCreate(op: Extract<ReplicatedOp, { op: "api" }>, index: number): void {
    const name = op.single as string;
    const host = op.cpeers?.[0] ?? "";
    // (One of that name held here already, created meanwhile by another request, stays recorded here.)
    if (!this.stream.consumers.has(name)) {
      const prev = this.ephemerals.get(name);
      this.ephemerals.set(name, prev?.host === host ? prev : { host, direct: false });
    }
    if (index <= this.opsApplied) return;
    this.opsApplied = index;
    this.writeApplied();
    if (host !== this.host.self) return;
    this.ephemeralName = op.name;
    try {
      this.stream.jsa.executeApi(op.rest, op.reply, Buffer.from(op.body, "base64"), op.hdr === undefined ? undefined : Buffer.from(op.hdr, "base64"), false);
    } finally {
      this.ephemeralName = undefined;
    }
    if (!this.stream.consumers.has(name) && this.ephemerals.get(name)?.host === host) this.ephemeralChanged(name, true);
  }

  /** A KIND_CONSUMERS entry of a log from before consumers had groups of their own: applied as it was then. */
  private applyConsumerEntry(data: Buffer, index: number): void {
    if (index <= this.opsApplied) return;
    let list: NamedConsumerOp[] = [];
    try {
      list = decodeConsumerOps(data);
    } catch {
      this.stream.jsa.service.log.warn(`stream '${this.stream.name}': RAFT entry ${index} does not decode`);
    }
    this.applyConsumerChanges(list, index);
  }

  /** Consumer changes carried by the stream's group (logs from before consumer groups, replayed at start): applied to every copy. */
  private applyConsumerChanges(list: readonly NamedConsumerOp[], index: number): void {
    for (const x of list) this.stream.consumers.get(x.name)?.applyConsumerOp(x.c);
    if (this.node.isLeader && this.stream.cfg.retention !== "limits") for (const x of list) this.noteAckedElsewhere(x.c);
    this.opsApplied = index;
    if (!this.appliedWriteScheduled) {
      this.appliedWriteScheduled = true;
      setImmediate(() => {
        this.appliedWriteScheduled = false;
        this.writeApplied();
      });
    }
  }

  /** Sequences acknowledged by consumers led on other members, to check for retention (`applying` over). */
  private ackedElsewhere: number[] = [];

  private noteAckedElsewhere(op: ConsumerOp): void {
    if (op.op === "ack" || op.op === "term" || op.op === "deliver") this.ackedElsewhere.push(op.sseq);
    else if (op.op === "ack_all") {
      const store = this.stream.store;
      for (let m = store.loadNextMsg("", store.state().firstSeq); m !== null && m.seq <= op.sseq; m = store.loadNextMsg("", m.seq + 1)) this.ackedElsewhere.push(m.seq);
    }
  }

  /**
   * A new leader of an interest or work-queue stream: acks its member applied while another
   * member led the stream were the old leader's to turn into removals (consumerChangesApplied
   * runs on the leader only), and that leader may have stopped before it did. Every message
   * is checked once, a thousand per turn, while this member leads. What a lagging copy of a
   * consumer does not know yet it still needs, so nothing is removed early.
   */
  private sweepAckedAfterElection(): void {
    const stream = this.stream;
    if (stream.cfg.retention === "limits" || stream.consumers.size === 0) return;
    sweepRetention({
      store: stream.store,
      keepUntaken: stream.cfg.retention === "workqueue",
      alive: () => !this.stopped && !stream.closed && this.node.isLeader,
      takes: () => {
        const consumers = [...stream.consumers.values()];
        return (subject) => consumers.some((c) => c.matchesSubject(subject));
      },
      check: (seq, subject) => stream.checkRetention(seq, subject),
    });
  }

  private checkAckedElsewhere(): void {
    const seqs = this.ackedElsewhere;
    this.ackedElsewhere = [];
    if (!this.node.isLeader) return;
    for (const seq of seqs) this.stream.checkRetention(seq, undefined);
  }

  private appliedWriteScheduled = false;
  /** The `applied` file, open while the group runs (written once per turn of consumer changes). */
  private appliedFd: number | undefined;
  private readonly appliedBuf = Buffer.alloc(APPLIED_WIDTH);

  /**
   * One pwrite of a fixed-width record over the file's start (no open, truncate and close per
   * write): the number padded with spaces, which Number() reads back as before.
   */
  private writeApplied(): void {
    if (this.inMemory || this.stopped) return;
    try {
      this.appliedFd ??= fs.openSync(path.join(this.dir, "applied"), fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
      this.appliedBuf.fill(0x20);
      this.appliedBuf.write(String(this.opsApplied), 0, "latin1");
      this.appliedBuf[APPLIED_WIDTH - 1] = 0x0a;
      fs.writeSync(this.appliedFd, this.appliedBuf, 0, APPLIED_WIDTH, 0);
    } catch {
      // the group is being removed
    }
  }

  private closeApplied(): void {
    if (this.appliedFd === undefined) return;
    try {
      fs.closeSync(this.appliedFd);
    } catch {
      // closed already
    }
    this.appliedFd = undefined;
  }

  /** The stream's state as of the last applied entry; the log is compacted once the store has it on disk. */
  snapshot(): { data: Buffer; ready: Promise<void> } {
    const st = this.stream.store.state();
    const eph = Object.fromEntries(this.ephemerals);
    // The durable consumers with their state: a member that gets the snapshot (a server added
    // by a move or a scale-up, one far behind) has them too, though their creation and acks are
    // in entries compacted away.
    const consumers: SnapshotConsumer[] = [];
    for (const c of this.stream.consumers.values()) {
      if (!c.replicated) continue;
      const sc = snapshotConsumerOf(c);
      const g = this.consumerGroups.get(c.name);
      if (g !== undefined) sc.voters = [...g.node.config.voters];
      consumers.push(sc);
    }
    // (`scaling`: the consumers scaling down to one replica, by the index their round started at.)
    const snap = { first: st.firstSeq, last: st.lastSeq, eph, consumers, offline: this.pendingOfflineChanges(), scaling: this.scaleDowns.json() };
    return { data: Buffer.from(JSON.stringify(snap)), ready: this.stream.store.syncPending() };
  }

  /**
   * The offline pauses and deletes a snapshot carries: those whose server may not have their
   * entry yet (on the leader, the ones its server's log has not reached; this server's own are
   * applied here already).
   */
  private pendingOfflineChanges(): Record<string, OfflineChange> {
    const match = new Map(this.node.isLeader ? this.node.peerStatus().map((p) => [p.id, p.match]) : []);
    for (const [name, o] of this.offlineChanges) {
      const m = match.get(o.host);
      if (o.host === this.host.self || (m !== undefined && m >= o.index)) this.offlineChanges.delete(name);
    }
    return Object.fromEntries(this.offlineChanges);
  }

  /**
   * From the leader's snapshot (this server missed the entries): its single-replica consumers
   * paused or deleted while it was down are paused or dropped now (one created since stays as it is).
   */
  private applyOfflineChanges(): void {
    for (const [name, o] of this.offlineChanges) {
      if (o.host !== this.host.self) continue;
      this.offlineChanges.delete(name);
      const c = this.stream.consumers.get(name);
      if (c === undefined || c.replicated || c.closed || c.created > BigInt(o.at)) continue;
      if (o.deleted === true) this.stream.jsa.executeApi(`CONSUMER.DELETE.${this.stream.name}.${name}`, "", Buffer.alloc(0), undefined, false);
      else applyPause(c, o.until);
    }
  }

  /**
   * Replicated consumers held here that the leader's snapshot does not have: deleted while this
   * member was down, their deletion in entries compacted away. Their groups would campaign
   * forever (no other member has them) and their files stay for good; they go as nats-server
   * removes a consumer its meta snapshot no longer assigns (getOrphans after a catch-up). Kept:
   * one the snapshot knows as a single replica (`eph`, moved or scaled down) or that scales down.
   */
  private removeOrphanedConsumers(list: SnapshotConsumer[] | undefined, eph: Record<string, unknown> | undefined): void {
    const s = this.stream;
    const known = new Set((list ?? []).map((sc) => sc.name));
    for (const c of [...s.consumers.values()]) {
      if (!c.replicated || known.has(c.name) || (eph !== undefined && c.name in eph) || this.scalingDownToOne(c.name)) continue;
      s.jsa.service.log.warn(`Detected orphaned durable consumer '${s.jsa.account.name} > ${s.name} > ${c.name}', will cleanup`);
      s.consumers.delete(c.name);
      // (As a copy leaving its group: no deletion status to pulls, the others are not told.)
      c.stop(true, true);
    }
  }

  /** The snapshot's durable consumers this member does not have: created with their state (they stand by unless it leads). */
  private restoreConsumers(list: SnapshotConsumer[] | undefined): void {
    const s = this.stream;
    for (const sc of list ?? []) {
      if (s.consumers.has(sc.name)) continue;
      try {
        const state: ConsumerState = {
          delivered: sc.state.delivered,
          ack_floor: sc.state.ack_floor,
          pending: new Map(sc.state.pending),
          redelivered: new Map(sc.state.redelivered),
        };
        restoreConsumer(s, sc.name, sc.config, state, BigInt(sc.created));
        s.consumers.get(sc.name)?.start();
      } catch (err) {
        s.jsa.service.log.warn(`stream '${s.name}': consumer '${sc.name}' from the leader's snapshot not created: ${(err as Error).message}`);
      }
    }
  }

  /**
   * A snapshot: at start the store is at or past its own (nothing to do); from the leader (this
   * member missed entries the leader's log no longer has), the messages up to the snapshot's
   * last sequence are copied from the leader in batches (`$JSC.CATCHUP.<group>.<leader>`), with
   * their sequences and times; the sequences the leader no longer has are skipped. Rejected (the
   * leader sends the snapshot again) when the leader does not answer.
   */
  async restore(data: Buffer, index: number, fromLeader: boolean): Promise<void> {
    const s = this.stream;
    let snap: { first: number; last: number; eph?: Record<string, SingleReplicaRecord>; consumers?: SnapshotConsumer[]; offline?: Record<string, OfflineChange>; scaling?: unknown };
    try {
      snap = JSON.parse(data.toString()) as typeof snap;
    } catch {
      return;
    }
    this.ephemerals.clear();
    for (const [name, e] of Object.entries(snap.eph ?? {})) if (typeof e?.host === "string") this.ephemerals.set(name, { host: e.host, direct: e.direct === true, ...knownOf(e) });
    this.offlineChanges.clear();
    for (const [name, o] of Object.entries(snap.offline ?? {})) {
      if (typeof o?.host === "string" && typeof o.at === "string" && typeof o.index === "number") this.offlineChanges.set(name, { host: o.host, at: o.at, index: o.index, ...(typeof o.until === "string" ? { until: o.until } : {}), ...(o.deleted === true ? { deleted: true } : {}) });
    }
    // Scale-downs to one replica under way: from the leader, this member's own (its consumers
    // restored below are scaling down, hence replicated); at start, the rounds the log replays from.
    this.scaleDowns.restore(snap.scaling, fromLeader);
    // (`cleaders` of snapshots from before consumer groups: their groups elect the leaders now.)
    if (!fromLeader) {
      if (snap.last > s.store.state().lastSeq) s.jsa.service.log.warn(`stream '${s.name}': the store is behind its RAFT snapshot (${s.store.state().lastSeq} < ${snap.last}); messages in between are missing here`);
      return;
    }
    const leader = this.node.leader;
    this.applying = true;
    try {
      let from = s.store.state().lastSeq + 1;
      if (snap.first > from) {
        // Gone at the leader too (limits, purges): skipped.
        s.applyStreamOp({ op: "skip_msgs", seq: from, num: snap.first - from });
        from = snap.first;
      }
      while (from <= snap.last) {
        this.applying = false;
        const answer = await this.request(`$JSC.CATCHUP.${this.group}.${leader}`, Buffer.from(JSON.stringify({ from, to: snap.last, by: s.jsa.service.server.name })));
        this.applying = true;
        const next = smallInt(answer.readDoubleLE(0));
        for (let o = 8; o < answer.length; ) {
          const seq = smallInt(answer.readDoubleLE(o));
          const time = answer.readBigInt64LE(o + 8);
          const subjLen = answer.readUInt16LE(o + 16);
          const hdrLen = answer.readUInt32LE(o + 18);
          const dataLen = answer.readUInt32LE(o + 22);
          o += 26;
          const subject = answer.toString("utf8", o, o + subjLen);
          o += subjLen;
          const hdr = hdrLen > 0 ? answer.subarray(o, o + hdrLen) : undefined;
          o += hdrLen;
          const msg = answer.subarray(o, o + dataLen);
          o += dataLen;
          const last = s.store.state().lastSeq;
          if (seq <= last) continue;
          if (seq > last + 1) s.applyStreamOp({ op: "skip_msgs", seq: last + 1, num: seq - last - 1 });
          s.applyStreamOp({ op: "mirror_msg", subject, hdr, data: msg, seq, time });
        }
        if (next <= from) throw new Error(`catch-up from ${leader} made no progress at ${from}`);
        from = next;
      }
      const last = s.store.state().lastSeq;
      if (last < snap.last) s.applyStreamOp({ op: "skip_msgs", seq: last + 1, num: snap.last - last });
      // On disk before the leader hears the snapshot is in: from then on it counts this member
      // as holding the messages, and a quorum may be this member and one other. Copied into the
      // store unsynced, a power cut here took them back while the RAFT snapshot (synced) still
      // said they were held (random fault schedule, seed 20: acknowledged messages lost on two
      // of three replicas after a scale-up and two single-server power losses).
      await s.store.sync();
      // Their groups are joined (their leaders add this server).
      this.catchingUpNow = true;
      this.snapshotGroupVoters = new Map();
      for (const sc of snap.consumers ?? []) if (Array.isArray(sc.voters)) this.snapshotGroupVoters.set(sc.name, sc.voters);
      try {
        this.restoreConsumers(snap.consumers);
      } finally {
        this.catchingUpNow = false;
        this.snapshotGroupVoters = undefined;
      }
      this.removeOrphanedConsumers(snap.consumers, snap.eph);
      this.applyOfflineChanges();
      s.jsa.service.log.info(`stream '${s.jsa.account.name} > ${s.name}': caught up to ${snap.last} from ${leader} (snapshot at index ${index})`);
    } finally {
      this.applying = false;
    }
  }

  /** A member catching up asks for messages [from, to]: answered with the next sequence to ask for, then the messages. */
  private serveCatchup(reply: string, payload: Buffer): void {
    if (reply === "") return;
    let req: { from: number; to: number; by?: string };
    try {
      req = JSON.parse(payload.toString()) as { from: number; to: number; by?: string };
    } catch {
      return;
    }
    const service = this.stream.jsa.service;
    const share = catchupShare(service, `${this.group} ${req.by ?? reply}`, service.options.maxOutstandingCatchup || MAX_OUTSTANDING_CATCHUP);
    const store = this.stream.store;
    const parts: Buffer[] = [Buffer.alloc(8)];
    let bytes = 0;
    let next = Math.max(1, req.from);
    // At least one message per answer, however small the share.
    while (next <= req.to && (bytes === 0 || bytes < share)) {
      const m = store.loadNextMsg("", next);
      if (m === null || m.seq > req.to) {
        next = req.to + 1;
        break;
      }
      const subjLen = Buffer.byteLength(m.subject);
      const hdrLen = m.hdr?.length ?? 0;
      const rec = Buffer.allocUnsafe(26 + subjLen + hdrLen + m.data.length);
      rec.writeDoubleLE(m.seq, 0);
      rec.writeBigInt64LE(m.time, 8);
      rec.writeUInt16LE(subjLen, 16);
      rec.writeUInt32LE(hdrLen, 18);
      rec.writeUInt32LE(m.data.length, 22);
      let o = 26 + rec.write(m.subject, 26, "utf8");
      if (m.hdr !== undefined) o += m.hdr.copy(rec, o);
      m.data.copy(rec, o);
      parts.push(rec);
      bytes += rec.length;
      next = m.seq + 1;
    }
    parts[0].writeDoubleLE(next, 0);
    this.stream.jsa.service.server.systemAccount?.publish(reply, "", undefined, Buffer.concat(parts));
  }

  /** One request over the system account. */
  private request(subject: string, body: Buffer): Promise<Buffer> {
    const sys = this.stream.jsa.service.server.systemAccount;
    if (sys === undefined) return Promise.reject(new Error("no system account"));
    const inbox = `$JSC.R.${this.group}.${crypto.randomBytes(8).toString("hex")}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sys.unsubscribeInternal(sub);
        reject(new Error(`no answer on ${subject}`));
      }, CATCHUP_TIMEOUT_MS);
      const sub = sys.subscribeInternal(
        inbox,
        (_s, _r, _h, payload) => {
          clearTimeout(timer);
          sys.unsubscribeInternal(sub);
          resolve(Buffer.from(payload));
        },
        undefined,
        "raft-catchup-reply",
      );
      sys.publish(subject, inbox, undefined, body);
    });
  }

  // ---- monitoring ----

  /** `cluster` of stream info, as nats-server's stream leader reports it. */
  clusterInfo(): Record<string, unknown> {
    const node = this.node;
    // (No leader known: none named, as nats-server leaves it out.)
    const out: Record<string, unknown> = { name: this.host.clusterName, raft_group: this.group, ...(node.leader !== "" ? { leader: node.leader } : {}) };
    if (node.isLeader && this.leaderSinceNs !== undefined) out.leader_since = rfc3339(this.leaderSinceNs);
    // The group's traffic goes through the system account (as nats-server reports it).
    out.system_account = true;
    out.traffic_account = "$SYS";
    const replicas = this.replicasJson();
    // While the stream moves or scales up: the servers it goes to that are not in its group yet, as nats-server 2.15 lists them.
    const moveTo = this.host.movingTo(this.stream) ?? this.host.scalingTo(this.stream);
    const members = [...node.config.voters, ...node.config.learners];
    const pending = moveTo?.filter((p) => !members.includes(p)) ?? [];
    for (const p of pending) replicas.push({ name: p, current: false, active: 0, peer: peerId(p), pending: true });
    // Scaling down: a server removed from the group is listed (not current) until the meta group recorded its removal, as nats-server lists it.
    if (this.host.scalingDown(this.stream)) for (const p of this.host.assignedPeers(this.stream) ?? []) if (!members.includes(p)) listRemoved(replicas, p, node.leader);
    if (replicas.length > 0) out.replicas = replicas;
    // (Scaling down, its leader removes no member of its own while a consumer's group still has a server that goes.)
    const blockedBy = node.isLeader && moveTo !== undefined && this.host.scalingDown(this.stream) && node.pendingConfigChange === undefined ? this.consumerMigrating(moveTo) : undefined;
    const desired = this.host.moveInfo(this.stream, node.isLeader ? { voters: node.config.voters, pending, learners: node.config.learners.length, change: node.pendingConfigChange, ...(blockedBy !== undefined ? { blockedBy } : {}) } : undefined);
    if (desired !== undefined) out.desired = desired;
    return out;
  }

  /** The members other than the leader, as nats-server's PeerInfo (what the leader knows of them). */
  private replicasJson(): Array<Record<string, unknown>> {
    return groupReplicasJson(this.node, this.host.self, this.current, ELECTION_MAX_MS, (s) => this.host.reachable(s));
  }

  /** This member knows its leader and has applied everything committed that it knows of (/healthz). */
  get current(): boolean {
    return this.node.leader !== "" && this.node.applied >= this.node.commit && !this.node.damaged;
  }
}

/**
 * An entry that only removes messages, safe to apply again: a purge stamped with the sequence it
 * stops at (purge_bound.ts; one from an older leader is not), a message delete, a removal of
 * acknowledged messages.
 */
function removesMessagesOnly(op: ReplicatedOp): boolean {
  if (op.op === "stream") return op.s.op === "delete_msg" || op.s.op === "remove_acked" || (op.s.op === "purge" && op.upTo !== undefined);
  return op.op === "api" && (op.rest.startsWith("STREAM.MSG.DELETE.") || (op.rest.startsWith("STREAM.PURGE.") && op.upTo !== undefined));
}

/** The consumer an entry other than `kept` is about (undefined: none). */
function consumerOf(op: ReplicatedOp): string | undefined {
  switch (op.op) {
    case "api": {
      const t = op.rest.split(".");
      if (t[0] !== "CONSUMER") return undefined;
      return op.single ?? op.name ?? (t[1] === "DURABLE" ? t[4] : t[3]);
    }
    case "adopt":
    case "handover":
      return op.sc.name;
    case "eph":
    case "pause":
      return op.name;
    default:
      return undefined;
  }
}

/** A consumer's config and state as a group's snapshot (and an `adopt` entry) carry them. */
function snapshotConsumerOf(c: Consumer): SnapshotConsumer {
  const cs = c.stateSnapshot();
  return {
    name: c.name,
    config: c.cfg,
    created: String(c.created),
    state: { delivered: cs.delivered, ack_floor: cs.ack_floor, pending: [...cs.pending], redelivered: [...cs.redelivered] },
  };
}

/**
 * The single-replica consumers of a copy that goes while its group does not run here (the meta
 * group took the stream off this server while it was away: an orphan, a group regrown elsewhere),
 * as `$JSC.ADOPT` payloads with their state: the group's leader takes them in, as from a member a
 * move leaves (handOverSingleReplicaConsumers). They stop here at once.
 */
export function singleReplicaConsumersLeaving(stream: Stream, self: string): Buffer[] {
  const out: Buffer[] = [];
  for (const c of [...stream.consumers.values()]) {
    if (c.replicated || c.cfg.direct === true) continue;
    out.push(Buffer.from(JSON.stringify({ ...snapshotConsumerOf(c), from: self })));
    stream.consumers.delete(c.name);
    c.stop(false);
  }
  return out;
}

/** An operation as a log entry: KIND_OP, then its JSON. */
function opEntry(op: ReplicatedOp): Buffer {
  return kindJsonEntry(KIND_OP, op);
}



function encodeSkip(seq: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = KIND_SKIP;
  b.writeDoubleLE(seq, 1);
  return b;
}

/** [kind][seq f64][ttl f64][rollup u8][subject len u16][msg id len u16][hdr len u32][time i64] subject, msg id, hdr, data. */
function msgEntrySize(p: Prepared): number {
  return MSG_T_FIXED + Buffer.byteLength(p.subject) + (p.msgId === undefined ? 0 : Buffer.byteLength(p.msgId)) + (p.hdr === undefined ? 0 : p.hdr.length) + p.data.length;
}

/** A message's entry, written at `at` of `b` (room checked by the caller, msgEntrySize); returns where it ends. */
function writeMsgEntry(b: Buffer, at: number, seq: number, p: Prepared, time: bigint): number {
  b[at] = KIND_MSG_T;
  b.writeDoubleLE(seq, at + 1);
  b.writeDoubleLE(p.ttl, at + 9);
  b[at + 17] = p.rollup === "sub" ? 1 : p.rollup === "all" ? 2 : 0;
  b.writeUInt32LE(p.hdr === undefined ? 0 : p.hdr.length, at + 22);
  b.writeBigInt64LE(time, at + 26);
  let o = at + MSG_T_FIXED;
  const subjLen = b.write(p.subject, o, "utf8");
  b.writeUInt16LE(subjLen, at + 18);
  o += subjLen;
  const idLen = p.msgId === undefined ? 0 : b.write(p.msgId, o, "utf8");
  b.writeUInt16LE(idLen, at + 20);
  o += idLen;
  if (p.hdr !== undefined) o += p.hdr.copy(b, o);
  return o + p.data.copy(b, o);
}

/** A message's entry in a buffer of its own. */
function encodeMsg(seq: number, p: Prepared, time: bigint): Buffer {
  const b = Buffer.allocUnsafe(msgEntrySize(p));
  writeMsgEntry(b, 0, seq, p, time);
  return b;
}
