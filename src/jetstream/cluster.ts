// JetStream in a cluster: the meta group. Every JetStream server of a cluster is a member of one
// RAFT group (src/cluster/raft.ts) whose log holds the assignments of streams to servers. Its
// leader answers the $JS.API requests about the set of streams (create, update, delete, names,
// list, account info, META.LEADER.STEPDOWN): a create or update is checked, placed on a server
// and proposed; once committed, every server records the assignment and the chosen server runs
// the original request through its own Api (the single-server code path) and answers the
// client. Requests about one stream (info, messages, purge, consumers, pull requests, direct
// gets, publishes) are answered by the server that holds it; requests about a stream that is
// not assigned are answered by the meta leader (with "not found").
//
// RAFT messages travel as system account messages on `$NRG.TS.<group>.<server name>` (routes
// carry them like any other); the group's files live in `<store_dir>/_raft/meta`.
//
// Streams with num_replicas > 1 are placed on that many servers, each running the stream's own
// RAFT group (stream_replica.ts); their group's leader answers the requests about them.
import fs from "node:fs";
import path from "node:path";
import { RaftError, RaftNode, type RaftStateMachine } from "../cluster/raft.js";
import { realRaftEnv } from "../cluster/raft_env.js";
import { RaftStore } from "../cluster/raft_store.js";
import { FsRaftDisk } from "../cluster/raft_disk.js";
import { decodeRaftMsg, encodeRaftMsg } from "../cluster/raft_wire.js";
import type { Cluster } from "../cluster/cluster.js";
import type { Subscription } from "../server/sublist.js";
import { subjectsCollide } from "../protocol/subject.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { createRequest, errorResponse, isEmptyRequest, isJsonObjectOrArray, pauseAnswer, restoreRequest } from "./api.js";
import { withoutDynamicMetadata } from "./api_level.js";
import { ApiError, jsError } from "./errors.js";
import { OFFLINE_ERROR_DELAY_MS } from "./offline.js";
import { LOST_QUORUM_MS, leaderlessLongEnough } from "./leaderless.js";
import { ClusterUsage, accountInfoJson } from "./account_info.js";
import { ApiRelay, type RelayedRequest } from "./api_relay.js";
import { askEach } from "./info_gather.js";
import { offlineStandIn } from "./consumer_stand_in.js";
import { consumerGroupName } from "./consumer_group.js";
import type { CountedStream, JetStreamService, JsAccount } from "./jetstream.js";
import { checkStreamUpdate, normalizeStreamConfig, type StreamConfig, type StreamConfigRequest } from "./stream_config.js";
import { maxDuplicateWindowNs } from "./server_limits.js";
import type { Stream } from "./stream.js";
import { StreamReplica, singleReplicaConsumersLeaving, streamGroupName, type ReplicaHost } from "./stream_replica.js";
import { migrationStatus, peerId as peerIdOf, readPeersFile, sameServers, scaleUpClusterJson, withCluster, writePeersFile, type MembershipStatus } from "./group_common.js";
import * as adv from "./advisories.js";
import { SKIP, PENDING, type Intercept } from "./intercept.js";
import { consumerPeerRemap, memberNamed, peerRemapKind, requestedPeer } from "./peer_remap.js";
import { decodeRequest, LIST_SHAPE, NAMES_SHAPE, type Shape } from "./json.js";
import { replicatedConsumer, sourcingBecomesDurable } from "./consumer_config.js";
import { randomConsumerName } from "./consumer_create.js";
import { LateHandovers } from "./late_handovers.js";
import { PendingHandovers, type OwedHandovers } from "./pending_handovers.js";
import { mkdirDurable } from "../storage/file_io.js";
import { gatewaysOf, leafNodesOf } from "../server/service_lookup.js";

/**
 * The held requests relayed to the server that answers them (api_relay.ts): reads, and changes
 * that are the same when repeated, which an answer from a server that heard it on arrival (an old
 * meta or stream leader) and one from the server it is relayed to leave as one would: the meta
 * leader's stream creates, updates and deletes; consumer creates that name the consumer (in the
 * subject, or durable_name or name in the config: a create with the same config answers the
 * consumer's info, as nats-server's does) and consumer deletes (a second finds nothing). Others
 * could run twice (an unnamed ephemeral's create would make a second consumer); they are left to
 * the requester's retry, as in nats-server (but an unnamed ephemeral's create that arrived while
 * no other server was connected, which nobody else heard: `onlyHere` in intercept).
 */
function relayable(t: string[], body: Buffer): boolean {
  if (t[0] === "INFO") return t.length === 1;
  if (t[0] === "STREAM" && (t[1] === "NAMES" || t[1] === "LIST" || t[1] === "CREATE" || t[1] === "UPDATE" || t[1] === "DELETE")) return true;
  return (t[0] === "STREAM" || t[0] === "CONSUMER") && safeToRepeat(t, body);
}

/** A stream's place in the cluster, as the meta group holds it. */
export interface StreamAssignment {
  account: string;
  name: string;
  /** The server that answers its creation (and the preferred first leader of its group). */
  owner: string;
  /** The servers holding it: [owner] for R1, the members of its RAFT group for R3/R5. */
  peers: string[];
  subjects: string[];
  created: string;
  /** The stream it mirrors (in this account), if it is a mirror: for the origin's `alternates`. */
  mirror?: string;
  /** The last create/update request body (base64): a server added to its group creates it from this. */
  config?: string;
  /** A move in progress (a placement update): `peers` holds the servers it leaves and those it goes to meanwhile. */
  move?: StreamMove;
  /**
   * Being restored from a backup (STREAM.RESTORE) on its owner, alone: once the backup is in,
   * the servers its num_replicas asks for join it (as a scale-up from R1); a failed restore
   * removes the assignment.
   */
  restoring?: true;
  /**
   * The STREAM.RESTORE request (its body, the client's reply subject, headers), kept while it
   * restores: an owner that learns of the assignment from a leader's snapshot (it missed the
   * entry) runs it as the entry would have (createMissingAssigned).
   */
  restoreRequest?: { body: string; reply: string; hdr?: string };
  /** A scale-up by update (more replicas): when, and the replicas before (nats-server 2.15 shows it as `desired` until the new servers are in). */
  scale?: StreamScale;
  /**
   * Where its group last started anew from a single server (a scale-up from one replica, a single
   * replica's move, a restore's replicas): the meta entry that did it, and that server. A copy of
   * another server from before holds a log that group does not have; a server caught up by a
   * snapshot tells by it that it missed that restart (restore: applyMissedChanges).
   */
  regrown?: { index: number; from: string };
}

export interface StreamScale {
  created: string;
  origin: { replicas: number };
}

/**
 * A stream moving to other servers (nats-server 2.15's "desired" state of a stream's group):
 * the servers it goes to, and where it came from (a cancel goes back there).
 */
export interface StreamMove {
  peers: string[];
  created: string;
  origin: { peers: string[]; replicas: number; placement?: unknown };
  /**
   * A scale-down (fewer replicas, the servers kept among those it has): its group's leader
   * removes the others one at a time, the meta group recording each removal before the next.
   */
  scaleDown?: true;
  /**
   * A scale-down's servers are picked (its group's leader said so, the meta group recorded it):
   * only then are its consumers rewritten to the replicas it leaves and do their groups and its
   * own start to shrink, as nats-server 2.15 remaps consumers only once the stream's leader
   * selected the peers to scale down to. A scale asked before (R3 -> R1 -> R3 at once) leaves
   * them as they were.
   */
  picked?: true;
}

/** A meta group entry. Request bodies travel base64 encoded. */
type MetaOp =
  | {
      op: "stream_add" | "stream_update";
      account: string;
      name: string;
      owner: string;
      peers?: string[];
      subjects: string[];
      created: string;
      body: string;
      reply: string;
      hdr?: string;
      /** A move starts (or is cancelled: back to its origin); null ends it, absent keeps it. */
      move?: StreamMove | null;
      /** The answer's type when not the update's (a cancelled move). */
      answerType?: string;
      /** The requester is in the system account (ACCOUNT.STREAM.MOVE / CANCEL_MOVE): answered there. */
      answerSys?: boolean;
      /** A STREAM.RESTORE request (base64): its owner restores the backup (`body` is its config). */
      restore?: string;
      /** An update that adds replicas. */
      scale?: StreamScale;
    }
  | { op: "stream_del"; account: string; name: string; body: string; reply: string; hdr?: string }
  /**
   * The servers of a stream change (peer removal, server removal); nothing else. `during`: the
   * move (its `created`) whose step or end this records: not applied once the assignment is in
   * no such move (a scale asked meanwhile replaced it: R3 -> R1 -> R3 at once).
   */
  | { op: "stream_peers"; account: string; name: string; peers: string[]; move?: StreamMove | null; during?: string };

const GROUP = "meta";
const ELECTION_MIN_MS = 1500;
/** How long the error answer of a create refused here waits for its assignment's removal. */
const REFUSED_ANSWER_WAIT_MS = 2000;
const ELECTION_MAX_MS = 3000;
const HEARTBEAT_MS = 300;
/** How long a request waits for a meta leader to be known. */
const WAIT_FOR_LEADER_MS = 10_000;
/** How long STREAM.LIST waits for the servers holding the streams. */
const LIST_GATHER_MS = 2000;
/** The entries of one CONSUMER.LIST page (nats-server's JSApiListLimit). */
const CONSUMER_LIST_LIMIT = 256;
/** How long a proposed create counts against the account's stream limit before it is applied (a lost proposal lapses). */
const PROPOSED_CREATE_MS = 10_000;
/** How long at most a stream scaled down to one replica waits for the single-replica consumers of the servers it left. */
const HANDOVER_WAIT_MS = 10_000;
/** The single-replica consumers of a copy left behind go to the group's leader this often, this many times (handOverLeftBehind). */
const LEFT_BEHIND_RESEND_MS = 2_000;
const LEFT_BEHIND_SENDS = 6;
/** To a stream kept by one other server, sent again until it answers: at most this far apart. */
const LEFT_BEHIND_MAX_MS = 8_000;
/** How long at most a server removed from a group stays while the others need it for a quorum. */
const QUORUM_HOLD_MS = 60_000;
/** A restore's final answer waits this long at most for its replicas' servers. */
const RESTORE_ANSWER_WAIT_MS = 4000;
/** The owner of a restore tells the meta leader it ended every RESTORE_NOTICE_MS, RESTORE_NOTICES times at most. */
const RESTORE_NOTICE_MS = 1000;
/** How often a server that replayed its meta log looks again whether it caught up with the meta leader (removeOrphans). */
const ORPHAN_CHECK_MS = 500;
const RESTORE_NOTICES = 60;

/**
 * The requests nats-server 2.15 answers 10008 at once when its meta group has no leader (their
 * handlers check isLeaderless first, or once they found the stream not led here), by their first
 * two tokens after `$JS.API.` (account info is `INFO` alone).
 */
const UNAVAILABLE_WITHOUT_META_LEADER = new Set([
  "STREAM.CREATE", "STREAM.UPDATE", "STREAM.DELETE", "STREAM.NAMES", "STREAM.LIST", "STREAM.PURGE", "STREAM.MSG",
  "STREAM.LEADER", "STREAM.CANCEL_MOVE", "STREAM.PEER",
  "CONSUMER.CREATE", "CONSUMER.DURABLE", "CONSUMER.NAMES", "CONSUMER.LIST", "CONSUMER.DELETE", "CONSUMER.PAUSE", "CONSUMER.LEADER", "CONSUMER.PEER",
]);

/** Token index of the stream name in a stream-scoped API subject, or -1. */
function streamToken(t: string[]): number {
  if (t[0] === "STREAM") {
    if (t[1] === "MSG" || t[1] === "LEADER" || t[1] === "PEER") return 3;
    if (t[1] === "NAMES" || t[1] === "LIST") return -1;
    return 2;
  }
  if (t[0] === "CONSUMER") {
    if (t[1] === "DURABLE" || t[1] === "MSG" || t[1] === "LEADER" || t[1] === "PEER") return 3;
    return 2;
  }
  if (t[0] === "DIRECT") return 2;
  return -1;
}

export class JsCluster implements RaftStateMachine, ReplicaHost {
  /** The meta group's snapshot (and log compaction) every that many applied entries (lowered by tests to compact soon). */
  static snapshotEntries = 256;
  /** The size of the meta log's segments (compaction drops whole segments; lowered by tests so that it drops some). */
  static segmentSize = 4 * 1024 * 1024;
  /**
   * How long a scale-down waits for its stream's leader to say it picked its servers before the
   * meta leader records the pick itself (watchPick). Tests that hold the pick set Infinity.
   */
  static pickFallbackMs = 3000;
  /**
   * Servers placement counts online though this leader has not heard from them lately (others it
   * knows are taken after those online, as nats-server places on a server marked offline); tests
   * name a server they stopped just before a stream is created, so that it lands there first.
   */
  static placeableUnheard: readonly string[] = [];
  node: RaftNode | undefined;
  readonly self: string;
  /** account → stream name → assignment. */
  readonly streams = new Map<string, Map<string, StreamAssignment>>();
  private readonly dir: string;
  private readonly peers = new Map<string, string>(); // server id → name
  private sub: Subscription | undefined;
  /** Where the meta leader hears that a stream's group reached the servers of its move. */
  private movedSub: Subscription | undefined;
  /** Where the meta leader hears that a restore ended on the stream's owner. */
  private restoredSub: Subscription | undefined;
  private refusedSub: Subscription | undefined;
  /** Account usage across the servers, for account info (account_info.ts). */
  private readonly usage: ClusterUsage;
  /** Entries up to here were applied before this start: replayed, not executed. */
  private replayUpTo = 0;
  /** The last entry applied before this start, as far as known (read at the first entry applied): replayBound. */
  private replayEndAtStart: number | undefined;
  /** Streams of ours whose deletion was replayed (removed at the end of the replay unless re-added). */
  private readonly replayedDeletes = new Set<string>();
  private reconciled = false;
  /** Polls until the meta group caught up, then removes the copies it does not assign here (removeOrphans). */
  private orphanTimer: NodeJS.Timeout | undefined;
  /** Requests that came while there was no meta leader. */
  /** Requests held for a meta leader; `alone`: it arrived while this server had no route, gateway or leaf connection (no other server got it). */
  private waiting: Array<{ jsa: JsAccount; rest: string; body: Buffer; reply: string; hdr: Buffer | undefined; at: number; alone: boolean }> = [];
  /** Set while a held request that arrived with no other server connected (`alone`) is decided again. */
  private heldAlone = false;
  /** Set by answerLeaderless when this server will answer the request being decided itself (later). */
  private answerArranged = false;
  private stopped = false;
  private waitTimer: NodeJS.Timeout | undefined;
  /** Held requests relayed to the server that answers them, answered once (api_relay.ts). */
  private readonly relay: ApiRelay;
  /** What waits for a meta leader that takes requests (whenMetaLeaderAnswers). */
  private leaderWaiters: Array<() => void> = [];
  /** Set while a held request is decided again (a skip then relays it to the server that answers it). */
  private retryingHeld = false;
  /** When the held request decided again (retryingHeld) arrived. */
  private heldAt = 0;
  /**
   * Set while a held or relayed request is decided: until when its requester may still wait. A
   * stream group without a leader then has it wait for one (answerLeaderless), not answer at once.
   */
  private heldUntil: number | undefined;
  /** When this server's JetStream cluster part started (nats-server's thresholds for saying a group has no leader: leaderless.ts). */
  private readonly startedAt = Date.now();
  private readonly onPeer = (peer: { id: string; name: string }, up: boolean): void => {
    if (up) this.peers.set(peer.id, peer.name);
    else this.peers.delete(peer.id);
    // Its server is gone (or cut off): the groups this server leads stop showing it current
    // until it answers again (a restarted member replays its log before it is).
    if (!up) this.lostContact(peer.name);
    if (up) {
      this.maybeBootstrap();
      // The meta leader's route is back: what waited for it goes to it now.
      this.drainWaiting();
    }
  };

  constructor(
    readonly service: JetStreamService,
    readonly cluster: Cluster,
  ) {
    this.self = service.server.name;
    this.dir = path.join(service.storeDir, "_raft", GROUP);
    this.usage = new ClusterUsage(service, this.self);
    this.relay = new ApiRelay(this.self);
  }

  /**
   * As nats-server: the cluster's size is known from the configured routes (a full mesh of
   * explicitly listed peers), less those found to be this server's own address; a restarted
   * server reads the members from its files.
   */
  private get expected(): number {
    const urls = new Set<string>();
    for (const raw of this.service.server.options.cluster?.routes ?? []) {
      const href = URL.canParse(raw) ? new URL(raw).href : raw;
      if (!this.cluster.selfRouteUrls.has(href)) urls.add(href);
    }
    return urls.size + 1;
  }

  private readonly onSelfRoute = (): void => this.maybeBootstrap();

  /** The JetStream domain, if any. */
  get domain(): string | undefined {
    return this.service.options.domain;
  }

  get clusterName(): string {
    return this.cluster.clusterName;
  }

  get isLeader(): boolean {
    return this.node?.isLeader === true;
  }

  get leader(): string {
    return this.node?.leader ?? "";
  }

  start(): void {
    // As nats-server's validateJetStreamOptions.
    if (!this.service.server.options.serverName) throw new Error("jetstream cluster requires `server_name` to be set");
    if (!this.service.server.options.cluster?.name) throw new Error("jetstream cluster requires `cluster.name` to be set");
    const sys = this.service.server.systemAccount;
    if (sys === undefined) throw new Error("jetstream cluster requires the system account");
    this.sub = sys.subscribeInternal(
      `$NRG.TS.${GROUP}.${this.self}`,
      (_s, _r, _h, payload) => {
        const d = decodeRaftMsg(payload);
        if (d !== undefined) this.node?.receive(d.from, d.msg);
      },
      undefined,
      "raft-meta",
    );
    this.usage.start(sys);
    this.relay.start(sys, (req) => this.onRelayed(req));
    this.lateHandovers.start(sys);
    // The hand-overs owed from before a restart, sent again once the meta group caught up (resumeHandOvers).
    this.owedAtStart = this.pendingHandovers.load();
    this.movedSub = sys.subscribeInternal("$JSC.MOVED", (_s, _r, _h, payload) => this.onMoveSettled(Buffer.from(payload)), undefined, "jetstream-cluster-moved");
    this.restoredSub = sys.subscribeInternal("$JSC.RESTORED", (_s, _r, _h, payload) => this.onRestored(Buffer.from(payload)), undefined, "jetstream-cluster-restored");
    this.refusedSub = sys.subscribeInternal("$JSC.REFUSED", (_s, _r, _h, payload) => this.onCreateRefused(Buffer.from(payload)), undefined, "jetstream-cluster-refused");
    this.cluster.peerListeners.add(this.onPeer);
    this.cluster.selfRouteListeners.add(this.onSelfRoute);
    this.maybeBootstrap();
  }

  stop(): void {
    this.stopped = true;
    this.leaderWaiters = [];
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    if (this.orphanTimer !== undefined) clearTimeout(this.orphanTimer);
    this.cluster.peerListeners.delete(this.onPeer);
    this.cluster.selfRouteListeners.delete(this.onSelfRoute);
    if (this.sub !== undefined) this.service.server.systemAccount?.unsubscribeInternal(this.sub);
    if (this.movedSub !== undefined) this.service.server.systemAccount?.unsubscribeInternal(this.movedSub);
    this.lateHandovers.stop(this.service.server.systemAccount);
    if (this.restoredSub !== undefined) this.service.server.systemAccount?.unsubscribeInternal(this.restoredSub);
    if (this.refusedSub !== undefined) this.service.server.systemAccount?.unsubscribeInternal(this.refusedSub);
    for (const r of this.restoreAnswers.values()) clearTimeout(r.timer);
    this.restoreAnswers.clear();
    for (const t of this.pickWatches.values()) clearTimeout(t);
    this.pickWatches.clear();
    this.usage.stop(this.service.server.systemAccount);
    this.relay.stop(this.service.server.systemAccount);
    this.node?.stop();
  }

  /** Start the meta group once its members are known (from the files, or a full mesh). */
  private maybeBootstrap(): void {
    if (this.node !== undefined || this.stopped) return;
    const peersFile = path.join(this.dir, "peers.json");
    // Missing or damaged (checksum): taken again from the full mesh.
    let voters = readPeersFile(peersFile);
    if (voters === undefined) {
      const names = new Set([...this.peers.values(), this.self]);
      if (names.size < this.expected) return;
      voters = [...names].sort();
      mkdirDurable(this.dir);
      writePeersFile(peersFile, voters);
    }
    const sys = this.service.server.systemAccount;
    const log = this.service.log;
    const node = new RaftNode({
      id: this.self,
      store: new RaftStore(new FsRaftDisk(this.dir), { segmentSize: JsCluster.segmentSize }),
      transport: { send: (to, msg) => void sys?.publish(`$NRG.TS.${GROUP}.${to}`, "", undefined, encodeRaftMsg(this.self, msg)) },
      env: realRaftEnv,
      sm: this,
      initial: { voters, learners: [] },
      electionMinMs: ELECTION_MIN_MS,
      electionMaxMs: ELECTION_MAX_MS,
      heartbeatMs: HEARTBEAT_MS,
      snapshotEntries: JsCluster.snapshotEntries,
      // Applied only once committed durably: a restart replays up to there before any leader.
      recordCommit: true,
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
      observer: {
        stateChanged: (role, leader) => {
          if (role === "leader") log.info(`JetStream cluster: this server is the meta leader (${voters?.length} peers)`);
          else if (leader !== "" && role === "follower") this.drainWaiting();
        },
        leaderReady: () => this.drainWaiting(),
      },
    });
    this.node = node;
    this.replayUpTo = this.readApplied();
    void node.start().then(() => {
      // (Without a recorded commit, the log's end: the commit index at most.)
      this.replayUpTo = node.commitRecordedAtStart !== undefined ? this.replayBound() : Math.max(this.replayBound(), node.commit);
      if (node.applied >= this.replayUpTo) this.reconcile();
    });
  }

  /**
   * Requests that waited WAIT_FOR_LEADER_MS for a meta leader in vain are answered "JetStream
   * system temporarily unavailable" (as nats-server answers when its meta group has no leader):
   * never silence. The timer re-arms while others still wait.
   */
  private expireWaiting(now: number): void {
    while (this.waiting.length > 0 && now - this.waiting[0].at >= WAIT_FOR_LEADER_MS) {
      const w = this.waiting.shift()!;
      this.answerError(w.jsa, w.rest, w.reply, jsError("JSClusterNotAvailErr"));
    }
    if (this.waiting.length > 0 && this.waitTimer === undefined && !this.stopped) {
      this.waitTimer = setTimeout(() => {
        this.waitTimer = undefined;
        this.expireWaiting(Date.now());
      }, Math.max(1, WAIT_FOR_LEADER_MS - (now - this.waiting[0].at)));
      this.waitTimer.unref();
    }
  }

  /** Answer an API request with an error from here (not through the Api: the request was held, or is answered late). */
  private answerError(jsa: JsAccount, rest: string, reply: string, err: ApiError): void {
    if (reply === "") return;
    jsa.account.publish(reply, "", undefined, Buffer.from(errorResponse(rest, err)));
  }

  /**
   * Is there a meta leader that takes requests: this server once it applied everything before its
   * term, or another one this server has a route to? A follower goes on believing in a leader
   * whose server stopped until its election timeout; a request it skipped meanwhile (leaving it
   * to that leader) would go unanswered, so it waits for the next leader instead.
   */
  private metaLeaderAnswers(node: RaftNode): boolean {
    if (node.leader === "") return false;
    if (node.isLeader) return node.leaderReady;
    for (const name of this.peers.values()) if (name === node.leader) return true;
    return false;
  }

  /**
   * Info of a stream, or of one of its consumers, that the replayed meta state assigns here and
   * that this server answers for (its single replica, or its group's leader): answered without a
   * meta leader, as nats-server's stream leader answers it (live, 2.15.1 with two of five servers
   * up: STREAM.INFO and CONSUMER.INFO of the R1 stream it holds answered at once, while
   * STREAM.NAMES, LIST, CREATE and INFO got 10008). Other requests wait for a meta leader.
   */
  private answeredWithoutMetaLeader(jsa: JsAccount, t: string[]): boolean {
    if (!this.reconciled || t[1] !== "INFO" || !((t[0] === "STREAM" && t.length === 3) || (t[0] === "CONSUMER" && t.length === 4))) return false;
    const sa = this.assignment(jsa.account.name, t[2]);
    return sa !== undefined && peersOf(sa).includes(this.self) && this.answersHere(sa);
  }

  /**
   * No meta leader answers and none can be elected now: fewer of the meta group's voters than a
   * quorum are this server or reachable over a route (the others stopped or cut off). nats-server
   * answers every request then at once (its isLeaderless: no leader, and running for
   * LOST_QUORUM_MS, so not at start); here a request waits for a leader only while one can be
   * elected (an election under way ends within ELECTION_MAX_MS and the request gets its real answer).
   */
  private metaQuorumLost(node: RaftNode): boolean {
    if (Date.now() - this.startedAt <= LOST_QUORUM_MS) return false;
    const reachable = node.config.voters.filter((v) => this.reachable(v)).length;
    return reachable < node.quorum;
  }

  /**
   * A request while the meta group has no leader and cannot elect one (metaQuorumLost), answered
   * as nats-server 2.15.1 answers it then (live, three servers, two stopped): those its handlers
   * answer 10008 "JetStream system temporarily unavailable" when it has no meta leader, at once;
   * the info of a stream or consumer assigned here (answeredWithoutMetaLeader), of a stream whose
   * group has no leader (its copy here) and a purge or message delete of a single-replica stream
   * held here as usual; other infos 10008 half a second later (a leader elsewhere may answer).
   * The others (snapshots, restores, the system account's requests...), which nats-server leaves
   * to a leader, wait for one (false).
   */
  private answerWithoutMetaQuorum(jsa: JsAccount, t: string[], reply: string): Intercept | false {
    // The system account's requests (system_api.ts): from any other account nobody answers them.
    if (t[0] === "META" || t[0] === "SERVER") return SKIP;
    const at = streamToken(t);
    const sa = at >= 0 && this.reconciled ? this.assignment(jsa.account.name, t[at]) : undefined;
    if (t[1] === "INFO" && ((t[0] === "STREAM" && t.length === 3) || (t[0] === "CONSUMER" && t.length === 4))) {
      if (sa !== undefined && t[0] === "STREAM" && this.streamGroupLeaderless(jsa, sa)) return undefined;
      if (sa !== undefined && t[0] === "CONSUMER" && this.consumerGroupLeaderless(jsa, sa.name, t[3])) throw jsError("JSClusterNotAvailErr");
      const rest = t.join(".");
      if (reply !== "") setTimeout(() => this.answerError(jsa, rest, reply, jsError("JSClusterNotAvailErr")), OFFLINE_ERROR_DELAY_MS).unref();
      return SKIP;
    }
    const removal = t[0] === "STREAM" && (t[1] === "PURGE" || (t[1] === "MSG" && t[2] === "DELETE"));
    if (removal && sa !== undefined && peersOf(sa).length <= 1 && this.answersHere(sa)) return undefined;
    if (UNAVAILABLE_WITHOUT_META_LEADER.has(`${t[0]}.${t[1]}`) || (t[0] === "INFO" && t.length === 1)) throw jsError("JSClusterNotAvailErr");
    return false;
  }

  /**
   * Is this server a member of the stream's group, which has no leader (long enough:
   * leaderless.ts)? Its info is answered from the copy here then, as nats-server's member
   * answers it (no leader named, itself listed current).
   */
  private streamGroupLeaderless(jsa: JsAccount, sa: StreamAssignment): boolean {
    if (peersOf(sa).length <= 1 || !peersOf(sa).includes(this.self)) return false;
    const replica = jsa.streams.get(sa.name)?.replica;
    return replica !== undefined && replica.leader === "" && leaderlessLongEnough(Date.now(), this.startedAt, replica);
  }

  /** Is this server in the group of a replicated consumer, which has no leader (long enough)? nats-server's member answers its info 10008 at once then. */
  private consumerGroupLeaderless(jsa: JsAccount, stream: string, consumer: string): boolean {
    const replica = jsa.streams.get(stream)?.replica;
    const group = replica?.consumerGroup(consumer);
    return group !== undefined && group.holds && group.leader === "" && leaderlessLongEnough(Date.now(), this.startedAt, group);
  }

  /**
   * Does a meta leader take requests now (metaLeaderAnswers)? If not, `fn` runs once one does.
   * For this server's own requests that only the meta leader answers (a source's consumer
   * create): sent before, one is held here and then left to the leader, which never got it if
   * this server had no route to it then (at start, its copies start before its routes).
   */
  whenMetaLeaderAnswers(fn: () => void): boolean {
    if (this.node !== undefined && this.metaLeaderAnswers(this.node)) return true;
    if (!this.stopped) this.leaderWaiters.push(fn);
    return false;
  }

  /** A meta leader is known: decide the requests that waited for one (those too old are dropped: the requester gave up). */
  private drainWaiting(): void {
    if (this.node === undefined || !this.metaLeaderAnswers(this.node)) return;
    if (this.leaderWaiters.length > 0) {
      const waiters = this.leaderWaiters.splice(0);
      setImmediate(() => {
        for (const fn of waiters) fn();
      });
    }
    if (this.waiting.length === 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    const now = Date.now();
    setImmediate(() => {
      for (const w of waiting) {
        if (now - w.at >= WAIT_FOR_LEADER_MS) continue;
        this.retryingHeld = true;
        this.heldAlone = w.alone;
        this.heldAt = w.at;
        this.heldUntil = w.at + WAIT_FOR_LEADER_MS;
        try {
          w.jsa.executeApi(w.rest, w.reply, w.body, w.hdr, true);
        } finally {
          this.heldUntil = undefined;
          this.retryingHeld = false;
          this.heldAlone = false;
        }
      }
    });
  }

  /**
   * A request another server held, relayed here: decided as if it arrived now (the server that
   * answers it answers, the others skip it), once, unless answered here already; acknowledged
   * when answered here. Without a meta leader here it waits for the relayer's next copy.
   */
  private onRelayed(req: RelayedRequest): void {
    const jsa = this.service.accounts.get(req.account);
    const sys = this.service.server.systemAccount;
    if (jsa === undefined || sys === undefined || this.node === undefined) return;
    if (this.relay.wasAnswered(req.account, req.reply)) {
      this.relay.acknowledge(sys, req);
      return;
    }
    if (!this.metaLeaderAnswers(this.node) || !this.relay.firstDecision(req.account, req.reply)) return;
    // (The requester's time left as the relayer saw it; a relayer before that field: an election's.)
    this.heldUntil = Date.now() + (req.leftMs ?? ELECTION_MAX_MS);
    try {
      jsa.executeApi(req.rest, req.reply, req.body, req.hdr, true);
    } finally {
      this.heldUntil = undefined;
    }
    if (this.relay.wasAnswered(req.account, req.reply)) this.relay.acknowledge(sys, req);
  }

  /**
   * nats-server's `alternates` of a stream's info in a cluster: the stream and the streams that
   * mirror it (read replicas a client may prefer), or undefined when it has no mirror.
   */
  alternates(account: string, stream: string): Array<{ name: string; domain?: string; cluster: string }> | undefined {
    const domain = this.service.options.domain;
    const alts = [...(this.streams.get(account)?.values() ?? [])]
      .filter((sa) => sa.name === stream || sa.mirror === stream)
      .sort((a, b) => (a.name === stream ? -1 : b.name === stream ? 1 : 0))
      .map((sa) => ({ name: sa.name, ...(domain ? { domain } : {}), cluster: this.clusterName }));
    return alts.length > 1 ? alts : undefined;
  }

  // ---- the state machine ----

  private appliedFile(): string {
    return path.join(this.dir, "applied");
  }

  /**
   * The entries applied before this start are replayed, not executed (as nats-server recovers
   * its meta state): executing again an entry already applied can undo what came after it (a
   * stream_add placing a stream on one server, replayed on a server that holds it since a
   * scale-up, removed its copy: random fault schedules, seed 21, and js_cluster_power_loss_scale).
   * The meta group applies an entry only once a commit index covering it is durable
   * (`recordCommit`), so those are the entries up to the commit index recorded at start: all
   * replayed at once, before any leader is elected, and those after it were never applied. A
   * store from before that record has only the `applied` file, written without a sync (one per
   * meta entry would cost the event loop an fsync): it can say less than was applied after a
   * power cut, so there every entry the log held at start is replayed.
   */
  private replayBound(): number {
    if (this.replayEndAtStart === undefined && this.node !== undefined) {
      const recorded = this.node.commitRecordedAtStart;
      this.replayEndAtStart = recorded ?? this.node.lastIndex;
      this.replayUpTo = Math.max(this.replayUpTo, this.replayEndAtStart);
    }
    return this.replayUpTo;
  }

  /** The replay is over at `index`: past the log held at start, or that log's tail was replaced by a leader's and `index` is committed. */
  private replayOver(index: number): boolean {
    const upTo = this.replayBound();
    if (index >= upTo) return true;
    return this.node !== undefined && this.node.lastIndex < upTo && index >= this.node.commit;
  }

  private readApplied(): number {
    try {
      return Number(fs.readFileSync(this.appliedFile(), "utf8")) || 0;
    } catch {
      return 0;
    }
  }

  apply(data: Buffer, index: number): void {
    let op: MetaOp;
    try {
      op = JSON.parse(data.toString()) as MetaOp;
    } catch {
      this.service.log.warn(`JetStream cluster: meta entry ${index} does not decode`);
      return;
    }
    const live = this.reconciled || index > this.replayBound();
    let accStreams = this.streams.get(op.account);
    if (accStreams === undefined) {
      accStreams = new Map();
      this.streams.set(op.account, accStreams);
    }
    const prev = accStreams.get(op.name);
    this.proposedCreates.delete(`${op.account}\u0000${op.name}`);
    if (op.op === "stream_del") {
      accStreams.delete(op.name);
      // A create or restore refused here at its start: the stream of that name held here (if
      // any) is not the assignment's.
      const refused = this.refusedHere.delete(`${op.account}\u0000${op.name}`);
      if (refused && live) this.answerRefused(`${op.account}\u0000${op.name}`);
      if (prev !== undefined && peersOf(prev).includes(this.self) && !refused) {
        if (live) this.execute(op.account, `STREAM.DELETE.${op.name}`, op.body, this.answersHere(prev) ? op.reply : "", op.hdr);
        else this.replayedDeletes.add(`${op.account}\u0000${op.name}`);
      }
    } else if (op.op === "stream_peers") {
      // (A step of a move the assignment has left: proposed from the assignment before a scale
      // that replaced it was applied. Applied, it took the removed server out of the new R3.)
      if (prev !== undefined && (op.during === undefined || prev.move?.created === op.during)) {
        const sa: StreamAssignment = { ...prev, peers: op.peers, owner: op.peers.includes(prev.owner) ? prev.owner : op.peers[0] };
        noteRegrown(prev, sa, index);
        if (op.move === null) delete sa.move;
        else if (op.move !== undefined) sa.move = op.move;
        // The servers a restored stream's replicas ask for: its restore is over.
        delete sa.restoring;
        delete sa.restoreRequest;
        delete sa.scale;
        accStreams.set(op.name, sa);
        // (The same servers: a scale-up's end, nothing changes on them.)
        if (live && !sameServers(peersOf(prev), sa.peers)) this.peersChanged(prev, sa);
        // A scale-down's servers picked: the consumers of this server's copy take the replicas it leaves.
        // (Or ended on them: a stream leader of an older version goes on without saying it picked.)
        if (live && prev.move !== undefined && picking(prev.move) && pickedSince(prev.move, sa)) {
          const stream = this.service.accounts.get(op.account)?.streams.get(op.name);
          if (stream !== undefined) stream.jsa.consumersFollowScaleDown(stream, prev.move.origin.replicas);
        }
        if (live && prev.restoring === true) this.restoreScaled(sa);
      }
    } else {
      const sa: StreamAssignment = { account: op.account, name: op.name, owner: op.owner, peers: op.peers ?? [op.owner], subjects: op.subjects, created: op.created };
      const mirror = mirrorOf(op.body, prev);
      if (mirror !== undefined) sa.mirror = mirror;
      const config = op.body !== "" ? op.body : prev?.config;
      if (config !== undefined) sa.config = config;
      const move = op.move === undefined ? (op.op === "stream_update" ? prev?.move : undefined) : (op.move ?? undefined);
      if (move !== undefined) sa.move = move;
      if (op.op === "stream_add" && op.restore !== undefined) {
        sa.restoring = true;
        sa.restoreRequest = { body: op.restore, reply: op.reply, ...(op.hdr !== undefined ? { hdr: op.hdr } : {}) };
      }
      // A scale-up stays shown while its servers join, through updates that keep the same servers.
      const scale = op.scale ?? (op.op === "stream_update" && prev?.scale !== undefined && sameServers(peersOf(prev), sa.peers) ? prev.scale : undefined);
      if (scale !== undefined) sa.scale = scale;
      noteRegrown(prev, sa, index);
      accStreams.set(op.name, sa);
      const prevPeers = prev !== undefined ? peersOf(prev) : [];
      // The answer to a scale: nats-server 2.15's cluster of that moment.
      let scaleCluster: Record<string, unknown> | undefined;
      if (live && op.move?.scaleDown === true && sa.peers.includes(this.self)) {
        // (Its group as it still is, and the replicas it had, as nats-server answers before its group shrinks.)
        const before = this.service.accounts.get(op.account)?.streams.get(op.name)?.replica?.clusterInfo();
        if (before !== undefined) scaleCluster = { ...before, desired: { created: op.move.created, name: this.clusterName, origin: { replicas: op.move.origin.replicas } } };
      }
      if (sa.restoring === true) {
        // Restored on its owner alone first (the single server's restore), the others join later.
        if (live && sa.owner === this.self) this.runRestore(sa, { body: op.restore ?? "", reply: op.reply, ...(op.hdr !== undefined ? { hdr: op.hdr } : {}) });
      } else if (sa.peers.includes(this.self) && live) {
        const rest = `STREAM.${op.op === "stream_add" ? "CREATE" : "UPDATE"}.${op.name}`;
        if (op.op === "stream_add" && sa.peers.length > 1) {
          // Every member creates it; the owner answers once the new group has a leader (the
          // client may publish as soon as it has the answer).
          const answer = op.owner === this.self && op.reply !== "" ? (out: string) => this.answerWhenLed(op.account, op.name, op.reply, out) : undefined;
          this.execute(op.account, rest, op.body, "", op.hdr, this.noticeCreateRefused(op, answer));
        } else if (op.op === "stream_update" && prev !== undefined && !prevPeers.includes(this.self)) {
          // Added by a scale-up: created here, a member joining the stream's group.
          this.joinGroup(sa, prevPeers);
        } else {
          if (op.op === "stream_update" && prevPeers.length === 1 && sa.peers.length > 1 && sa.scale !== undefined) scaleCluster = scaleUpClusterJson(this.clusterName, streamGroupName(sa.account, sa.name), this.self, [this.self, ...sa.peers.filter((p) => p !== this.self)], sa.scale.created, sa.scale.origin);
          const answer = this.updateAnswer(op, sa.peers.length === 1 ? sa : (prev ?? sa), scaleCluster);
          this.execute(op.account, rest, op.body, "", op.hdr, op.op === "stream_add" ? this.noticeCreateRefused(op, answer) : answer);
          if (op.op === "stream_update" && prev !== undefined && sa.peers.length > 1) this.peersChanged(prev, sa);
        }
      }
    }
    this.syncCopy(op.account, op.name);
    this.watchPick(op.account, op.name);
    // Ours to remember: what was applied is not executed again after a restart.
    try {
      fs.writeFileSync(this.appliedFile(), String(index));
    } catch {
      // the directory is gone (stopping)
    }
    if (!this.reconciled && this.node !== undefined && this.replayOver(index)) this.reconcile();
  }

  /** The replay may end on entries that are not ours (a leader's no-op): reconciled all the same. */
  appliedUpTo(index: number): void {
    if (!this.reconciled && this.node !== undefined && this.replayOver(index)) this.reconcile();
  }

  snapshot(): { data: Buffer } {
    const all: StreamAssignment[] = [];
    for (const m of this.streams.values()) all.push(...m.values());
    return { data: Buffer.from(JSON.stringify(all)) };
  }

  restore(data: Buffer, _index: number, fromLeader: boolean): void {
    // What this server knew before a leader's snapshot (it was behind the leader's compacted log).
    const before = fromLeader ? new Map([...this.streams].map(([account, m]) => [account, new Map(m)])) : undefined;
    this.streams.clear();
    for (const sa of JSON.parse(data.toString()) as StreamAssignment[]) {
      sa.peers ??= [sa.owner];
      let m = this.streams.get(sa.account);
      if (m === undefined) {
        m = new Map();
        this.streams.set(sa.account, m);
      }
      m.set(sa.name, sa);
    }
    if (before !== undefined) this.applyMissedChanges(before);
    // Streams assigned here meanwhile (created, or this server added to their group) are created
    // now, as their entries would have done; before the start-up check, that check creates them.
    if (before !== undefined && this.reconciled) this.createMissingAssigned(false);
    for (const [account, m] of this.streams) for (const name of m.keys()) this.watchPick(account, name);
    // (At start the streams were recovered before the meta group's state: a copy left behind stops taking publishes now.)
    for (const jsa of this.service.accounts.values()) for (const name of jsa.streams.keys()) this.syncCopy(jsa.account.name, name);
    // A leader's snapshot while running (this server was far behind): the copies of streams it
    // no longer has here go too (at start, once the replay is over: reconcile).
    if (this.reconciled) setImmediate(() => this.checkOrphansWhenCaughtUp());
  }

  /**
   * A leader's snapshot replaced the assignments this server had (`before`): what the entries it
   * missed changed for the copies it keeps is done to them now, as those entries would have done
   * it (nats-server's applyMetaSnapshot runs each changed stream assignment). A scale-down whose
   * servers were picked meanwhile has the consumers follow it (rewritten to the replicas it left,
   * consumersFollowScaleDown), then a changed config is applied (an update missed: a scale-down
   * from R5 to R3 rewrites the consumers with it, unless its servers are still being picked).
   * Before, the copy kept its old config and consumers: a consumer asking for 5 replicas stayed
   * R5 on that server while the others had it R3. A copy of a stream deleted and created again
   * goes (createMissingAssigned creates the new one); copies it no longer has here go with
   * removeOrphans.
   */
  private applyMissedChanges(before: ReadonlyMap<string, ReadonlyMap<string, StreamAssignment>>): void {
    for (const jsa of this.service.accounts.values()) {
      const account = jsa.account.name;
      for (const stream of [...jsa.streams.values()]) {
        const sa = this.assignment(account, stream.name);
        const prev = before.get(account)?.get(stream.name);
        if (sa === undefined || prev === undefined || !peersOf(sa).includes(this.self)) continue;
        if (sa.created !== prev.created) {
          // Deleted and created again meanwhile (nats-server: a removal, then an add): this copy
          // holds the old stream's messages, consumers and logs; it goes (no advisories: the
          // deletion was advised when it was applied), and the new one is created here.
          this.service.log.info(`JetStream cluster: stream '${account} > ${stream.name}' was deleted and created again while this server was behind; its copy here is replaced`);
          stream.leftGroup = true;
          this.execute(account, `STREAM.DELETE.${stream.name}`, "", "", undefined);
          continue;
        }
        if (sa.regrown !== undefined && sa.regrown.index !== prev.regrown?.index && sa.regrown.from !== this.self) {
          // Its group started anew from another server meanwhile (scaled down to that server
          // alone, which took this one out, then up again): this copy's messages, consumers and
          // logs are from before, and its log is not the new group's. It goes, and this server
          // joins as a new member (createMissingAssigned), as the scale-down's entry (dropCopy)
          // then the scale-up's (joinGroup) would have done.
          this.service.log.info(`JetStream cluster: stream '${account} > ${stream.name}' left this server and came back while this server was behind; its copy here is replaced by a new member's`);
          this.handOverLeftBehind(sa, stream);
          stream.leftGroup = true;
          this.execute(account, `STREAM.DELETE.${stream.name}`, "", "", undefined);
          continue;
        }
        if (prev.move !== undefined && picking(prev.move) && pickedSince(prev.move, sa)) jsa.consumersFollowScaleDown(stream, prev.move.origin.replicas);
        if (sa.config !== undefined && sa.config !== prev.config) {
          this.service.log.info(`JetStream cluster: stream '${account} > ${stream.name}' changed while this server was behind; its update is applied here`);
          this.execute(account, `STREAM.UPDATE.${stream.name}`, sa.config, "", undefined);
        }
        // Its servers changed meanwhile, this one among them before and after: done here as
        // their entries would have (peersChanged): a single replica held here that moves or scales
        // up starts the group alone (the servers it goes to join it), a group brings its
        // membership to the assignment.
        if (peersOf(prev).includes(this.self) && !sameServers(peersOf(prev), peersOf(sa))) this.peersChanged(prev, sa);
      }
    }
  }

  /** Run a committed request on this server (its owner), answering the client when `reply` is set. */
  private execute(account: string, rest: string, body: string, reply: string, hdr: string | undefined, answer?: (json: string) => void): void {
    const jsa = this.service.accounts.get(account);
    if (jsa === undefined) {
      this.service.log.warn(`JetStream cluster: account ${account} has no JetStream here, cannot run ${rest}`);
      return;
    }
    jsa.executeApi(rest, reply, Buffer.from(body, "base64"), hdr === undefined ? undefined : Buffer.from(hdr, "base64"), false, answer);
  }

  /**
   * Who sends the answer of a committed update: the stream's server, or its group's leader. A
   * member that sees no leader (a leadership change, which a move makes) answers if it turns out
   * to be the leader once one is known: the answer is not lost between the two (a second answer
   * is dropped by the requester). The answer goes to the system account for its requests.
   */
  private updateAnswer(op: Extract<MetaOp, { op: "stream_add" | "stream_update" }>, sa: StreamAssignment, cluster?: Record<string, unknown>): ((out: string) => void) | undefined {
    if (op.reply === "") return undefined;
    const to = op.answerSys === true ? this.service.server.systemAccount : this.service.accounts.get(op.account)?.account;
    const answerType = op.answerType;
    const send = (answer: string): void => {
      const out = cluster !== undefined ? withCluster(answer, cluster) : answer;
      to?.publish(op.reply, "", undefined, Buffer.from(answerType === undefined ? out : out.replace(/^\{"type":"[^"]*"/, `{"type":"${answerType}"`)));
    };
    if (this.answersHere(sa)) return send;
    const replica = this.service.accounts.get(op.account)?.streams.get(op.name)?.replica;
    if (replica === undefined || replica.leader !== "") return undefined;
    return (out) => replica.whenLeaderKnown(WAIT_FOR_LEADER_MS, () => {
      if (replica.isLeader) send(out);
    });
  }

  /** The create answer of a replicated stream, sent once its group has a leader (with that leader in `cluster`). */
  private answerWhenLed(account: string, name: string, reply: string, out: string): void {
    const jsa = this.service.accounts.get(account);
    const replica = jsa?.streams.get(name)?.replica;
    if (jsa === undefined || replica === undefined) {
      jsa?.account.publish(reply, "", undefined, Buffer.from(out));
      return;
    }
    replica.whenLeaderKnown(WAIT_FOR_LEADER_MS, () => {
      let answer = out;
      try {
        const r = JSON.parse(out) as Record<string, unknown>;
        if (r.error === undefined) {
          r.cluster = replica.clusterInfo();
          answer = JSON.stringify(r);
        }
      } catch {
        // sent as it is
      }
      jsa.account.publish(reply, "", undefined, Buffer.from(answer));
    });
  }

  // ---- restores (STREAM.RESTORE in a cluster) ----

  /**
   * STREAM.RESTORE on the meta leader, checked in nats-server 2.15's order (the request, a name
   * in use: 10130, servers for its replicas: 10005; subjects overlapping another stream, which
   * nats-server finds when it creates the stream: a create's answer). It is assigned to one
   * server, the first of those placed, which restores the backup alone with the single server's
   * restore and answers the client; once the backup is in, the servers its replicas ask for join
   * it as a scale-up from R1 does (`$JSC.RESTORED`, then a `stream_peers` entry).
   */
  private placeRestore(jsa: JsAccount, name: string, sa: StreamAssignment | undefined, body: Buffer, reply: string, hdr: Buffer | undefined): Intercept {
    const { cfg, raw } = restoreRequest(name, body, true, this.service.options);
    if (sa !== undefined) throw jsError("JSStreamNameExistRestoreFailedErr");
    const account = jsa.account.name;
    // The account's stream count and reservations over the whole cluster, as for a create
    // (nats-server 2.15 refuses a restore past them at once: 10027, 10047/10028).
    jsa.checkClusterStreamLimits(cfg, ...this.countedFor(account, name));
    const peers = this.place(raw as Record<string, unknown>, Math.min(cfg.num_replicas, 5));
    const subjects = cfg.subjects ?? [];
    try {
      this.checkOverlap(account, name, subjects);
    } catch (err) {
      if (err instanceof ApiError) return { type: "io.nats.jetstream.api.v1.stream_create_response", error: err.toJSON() };
      throw err;
    }
    const owner = peers[0];
    this.proposeMeta({
      op: "stream_add",
      account,
      name,
      owner,
      peers: [owner],
      subjects,
      created: new Date().toISOString(),
      body: Buffer.from(JSON.stringify(raw)).toString("base64"),
      reply,
      hdr: hdr?.toString("base64"),
      restore: body.toString("base64"),
    });
    this.proposedCreates.set(`${account}\u0000${name}`, { until: Date.now() + PROPOSED_CREATE_MS, peers: [owner], config: Buffer.from(JSON.stringify(raw)).toString("base64") });
    return PENDING;
  }

  /**
   * On the owner of a committed restore (`sa`, assigned by the entry applied or learned from a
   * leader's snapshot): the single server's restore takes the backup here, its first answer (the
   * chunks' subject) to the client's request. Run once per restore assigned.
   */
  private runRestore(sa: StreamAssignment, request: { body: string; reply: string; hdr?: string }): void {
    const { account, name } = sa;
    const key = `${account}\u0000${name}`;
    if (this.restoresRun.has(restoreRun(sa))) return;
    this.restoresRun.add(restoreRun(sa));
    const to = this.service.accounts.get(account)?.account;
    if (to === undefined) {
      this.noticeRestore(account, name, false);
      return;
    }
    this.execute(account, `STREAM.RESTORE.${name}`, request.body, "", request.hdr, (out) => {
      if (request.reply !== "") to.publish(request.reply, "", undefined, Buffer.from(out));
      if (/^\{"type":"[^"]*","error":/.test(out)) {
        // Refused here (account limits, a stream of that name held here): the assignment goes,
        // and whatever this server holds under that name stays.
        this.refusedHere.add(key);
        this.noticeRestore(account, name, false);
      }
    });
  }

  /** The restores run here (account, name, the assignment's created time): each runs once, however often its assignment is seen. */
  private readonly restoresRun = new Set<string>();

  /**
   * A committed create this server refuses (a reason its config does not show, which the meta
   * leader could not check: its own store limits, say) would leave the assignment listed: the
   * meta leader is told and removes it, as nats-server's meta leader removes an assignment its
   * server answered an error for. The answer still goes to `answer`.
   */
  private noticeCreateRefused(op: Extract<MetaOp, { op: "stream_add" | "stream_update" }>, answer: ((out: string) => void) | undefined): (out: string) => void {
    return (out) => {
      if (!/^\{"type":"[^"]*","error":/.test(out)) {
        answer?.(out);
        return;
      }
      // Answered once the assignment is gone (a STREAM.NAMES right after the answer does not
      // list it), or after REFUSED_ANSWER_WAIT_MS without a meta leader to remove it.
      const key = `${op.account}\u0000${op.name}`;
      this.refusedHere.add(key);
      const timer = setTimeout(() => this.answerRefused(key), REFUSED_ANSWER_WAIT_MS);
      timer.unref();
      this.refusedAnswers.set(key, { send: () => answer?.(out), timer });
      this.service.server.systemAccount?.publish("$JSC.REFUSED", "", undefined, Buffer.from(JSON.stringify({ account: op.account, name: op.name, created: op.created })));
    };
  }

  /** Error answers of creates refused here, sent once their assignment is removed. */
  private readonly refusedAnswers = new Map<string, { send: () => void; timer: NodeJS.Timeout }>();

  private answerRefused(key: string): void {
    const pending = this.refusedAnswers.get(key);
    if (pending === undefined) return;
    this.refusedAnswers.delete(key);
    clearTimeout(pending.timer);
    pending.send();
  }

  /** On the meta leader: a server refused a committed create; its assignment (that one, not a later create of the name) goes. */
  private readonly onCreateRefused = (payload: Buffer): void => {
    if (!this.isLeader || this.node?.leaderReady !== true) return;
    const m = assetNotice(payload);
    if (m === undefined) return;
    const sa = this.assignment(m.account, m.name);
    if (sa === undefined || sa.created !== m.created || sa.restoring === true) return;
    this.proposeMeta({ op: "stream_del", account: m.account, name: m.name, body: "", reply: "" });
  };

  /** Creates and restores refused on this server at their start: the removal of their assignment leaves its stream of that name alone. */
  private readonly refusedHere = new Set<string>();
  /** Final answers of restores done here, sent once the stream's other servers are assigned. */
  private readonly restoreAnswers = new Map<string, { answer: () => void; timer: NodeJS.Timeout }>();

  /**
   * A restore ended on this server (snapshot.ts; `answer` sends the client its final answer). The
   * owner of a restore assigned by the meta group tells the meta leader, and answers a successful
   * one once the servers of the stream's replicas are assigned (the client's next request finds
   * them, as after nats-server's restore), or after RESTORE_ANSWER_WAIT_MS.
   */
  restoreEnded(account: string, name: string, ok: boolean, answer: () => void): void {
    const sa = this.assignment(account, name);
    if (sa?.restoring !== true || sa.owner !== this.self) {
      answer();
      return;
    }
    this.noticeRestore(account, name, ok);
    if (!ok) {
      answer();
      return;
    }
    const key = `${account}\u0000${name}`;
    const timer = setTimeout(() => {
      this.restoreAnswers.delete(key);
      answer();
    }, RESTORE_ANSWER_WAIT_MS);
    this.restoreAnswers.set(key, { answer, timer });
  }

  /** The servers of a restored stream are assigned (seen by each): its owner sends the restore's final answer once the group has a leader. */
  private restoreScaled(sa: StreamAssignment): void {
    const key = `${sa.account}\u0000${sa.name}`;
    const pending = this.restoreAnswers.get(key);
    if (pending === undefined) return;
    this.restoreAnswers.delete(key);
    clearTimeout(pending.timer);
    const replica = this.service.accounts.get(sa.account)?.streams.get(sa.name)?.replica;
    if (replica === undefined) pending.answer();
    else replica.whenLeaderKnown(RESTORE_ANSWER_WAIT_MS, pending.answer);
  }

  /** Tell the meta leader a restore ended here (repeated while the assignment says it restores: a new meta leader hears it too). */
  private noticeRestore(account: string, name: string, ok: boolean): void {
    const send = (): void => void this.service.server.systemAccount?.publish("$JSC.RESTORED", "", undefined, Buffer.from(JSON.stringify({ account, name, ok })));
    send();
    let tries = 0;
    const repeat = setInterval(() => {
      if (this.stopped || this.assignment(account, name)?.restoring !== true || ++tries > RESTORE_NOTICES) clearInterval(repeat);
      else send();
    }, RESTORE_NOTICE_MS);
    repeat.unref();
  }

  /** On the meta leader: a restore ended on its owner. Done: the other replicas' servers join; failed: the assignment goes. */
  private readonly onRestored = (payload: Buffer): void => {
    if (!this.isLeader || this.node?.leaderReady !== true) return;
    const m = assetNotice(payload);
    if (m === undefined) return;
    const sa = this.assignment(m.account, m.name);
    if (sa?.restoring !== true) return;
    const key = `${m.account}\u0000${m.name}\u0000restore`;
    if (this.settling.has(key)) return;
    this.settling.add(key);
    setTimeout(() => this.settling.delete(key), ELECTION_MAX_MS).unref();
    try {
      if (m.ok !== true) {
        this.service.log.warn(`JetStream cluster: restore of stream '${m.account} > ${m.name}' failed; its assignment is removed`);
        this.proposeMeta({ op: "stream_del", account: m.account, name: m.name, body: "", reply: "" });
        return;
      }
      const cfg = sa.config !== undefined ? parseConfig(Buffer.from(sa.config, "base64")) : {};
      const replicas = Math.min(typeof cfg.num_replicas === "number" && cfg.num_replicas > 0 ? cfg.num_replicas : 1, 5);
      const peers = peersOf(sa);
      const added = replicas > peers.length ? this.place(cfg, replicas - peers.length, peers) : [];
      if (added.length > 0) this.service.log.info(`JetStream cluster: stream '${m.account} > ${m.name}' restored on ${peers.join(", ")}; its replicas go to ${added.join(", ")}`);
      this.proposePeers(m.account, m.name, [...peers, ...added]);
    } catch (err) {
      // asked again by the owner (no servers for the replicas yet, no quorum)
      this.service.log.warn(`JetStream cluster: restored stream '${m.account} > ${m.name}': ${(err as Error).message}`);
    }
  };

  // ---- replicated streams ----

  /**
   * The servers of a replicated stream changed (peer removal, scale-up, server removal), seen by
   * a server of the old or the new group: a server added joins the group (its copy starts empty
   * and catches up from the leader), a server removed drops its copy (handing the leadership over
   * first when it leads), the group's leader brings the membership to the new servers.
   */
  private peersChanged(prev: StreamAssignment, sa: StreamAssignment): void {
    const before = peersOf(prev);
    const after = peersOf(sa);
    const jsa = this.service.accounts.get(sa.account);
    const stream = jsa?.streams.get(sa.name);
    // Its leader tells the account the stream changed, as nats-server's does for every change of its assignment.
    if (jsa !== undefined && stream !== undefined && this.answersHere(prev)) adv.streamAction(jsa.advisoryContext, "modify", sa.name);
    if (after.includes(this.self) && !before.includes(this.self)) {
      this.joinGroup(sa, before);
      return;
    }
    if (before.includes(this.self) && !after.includes(this.self)) {
      if (stream === undefined) return;
      const replica = stream.replica;
      const drop = (): void => {
        // Still not assigned here (a later change may have brought it back).
        if (this.assignment(sa.account, sa.name)?.peers.includes(this.self) !== true && jsa?.streams.get(sa.name) === stream) this.dropCopy(sa, stream);
      };
      // A voter the others need for a quorum (an R2 group losing one of its two) stays until the
      // group's leader changed the membership without it (it then hears no leader), else the
      // group could never commit the change: its learner would never be promoted.
      const needed = (): boolean => {
        const r = stream.replica;
        // (So is a voter of a consumer's group of two: the group's leader replaces it first.)
        if (r?.consumersNeedThis(after) === true) return true;
        if (r === undefined || r.isLeader || r.leader === "" || !r.node.config.voters.includes(this.self)) return false;
        const voters = r.node.config.voters;
        return voters.filter((v) => v !== this.self && after.includes(v)).length < Math.floor(voters.length / 2) + 1;
      };
      // A replicated consumer led here is led by a member that stays first (the group's leader
      // records it before this member leaves): the copy waits until it applied that record.
      const leadsConsumers = (): boolean => stream.replica?.leadsAnyConsumer() === true;
      if (replica?.isLeader !== true && (needed() || leadsConsumers())) {
        const deadline = Date.now() + QUORUM_HOLD_MS;
        const consumersDeadline = Date.now() + 2 * ELECTION_MAX_MS;
        const poll = setInterval(() => {
          if ((!needed() && (!leadsConsumers() || Date.now() > consumersDeadline)) || Date.now() > deadline || this.stopped) {
            clearInterval(poll);
            if (!this.stopped) drop();
          }
        }, 50);
        poll.unref();
      } else if (replica?.isLeader === true) {
        // Its consumers are led from members that stay, then the leadership goes to one of them
        // (it has every entry), then the copy goes.
        const consumersDeadline = Date.now() + ELECTION_MAX_MS;
        let deadline = Infinity;
        const poll = setInterval(() => {
          let done = !replica.isLeader || Date.now() > deadline || this.stopped;
          if (!done && deadline === Infinity && (replica.consumersLeaveFor(after) || Date.now() > consumersDeadline)) {
            deadline = Date.now() + ELECTION_MAX_MS;
            done = !replica.node.stepDown();
          }
          if (done) {
            clearInterval(poll);
            if (!this.stopped) drop();
          }
        }, 20);
        poll.unref();
      } else drop();
      return;
    }
    if (stream === undefined) return;
    // A copy still here on a server out of the group both before and after (its drop waits
    // above, e.g. for a consumer it leads) is none of the group's business: taken for the server
    // that keeps a stream scaled down to one replica, it ran as that single replica, behind the
    // stream, storing publishes at its own sequences and answering them (seed 105).
    if (!after.includes(this.self)) return;
    if (stream.replica === undefined && after.length > 1 && (stream.cfg.num_replicas > 1 || sa.move !== undefined)) {
      // Scaled up from one replica (or a single replica moving): the group starts here, alone,
      // with the messages it has; the other servers join it.
      this.attachReplica(stream, true, { alone: true });
    }
    if (stream.replica !== undefined && stream.cfg.num_replicas <= 1 && after.length === 1 && sa.move === undefined) {
      // A single replica moved here: the group it moved through is not needed anymore.
      this.endGroupAlone(stream);
      return;
    }
    stream.replica?.syncMembers();
  }

  /**
   * A stream kept by this server alone now (scaled down to one replica, a single replica moved
   * here): its group ends once the single-replica consumers of the servers it left came here
   * (handed over through the group, or taken in directly: StreamReplica.adopt), for a while at most.
   */
  private endGroupAlone(stream: Stream): void {
    const replica = stream.replica;
    if (replica === undefined) return;
    const deadline = Date.now() + HANDOVER_WAIT_MS;
    const end = (): void => {
      if (stream.replica !== replica || this.stopped) return;
      // Only the server the stream is assigned to alone runs it as a single replica (a scale-up
      // or a move committed while it waited keeps the group).
      const peers = this.assignedPeers(stream);
      if (peers?.length !== 1 || peers[0] !== this.self) return;
      replica.takeInAlone();
      if (replica.remoteEphemerals().length > 0 && Date.now() < deadline) {
        setTimeout(end, 50).unref();
        return;
      }
      // (Those still away: taken in when their server hands them over on its return.)
      const hosts = replica.remoteSingleReplicaHosts();
      const known = new Map([...hosts.keys()].flatMap((n) => {
        const k = replica.remoteSingleReplica(n)?.known;
        return k !== undefined ? [[n, k] as const] : [];
      }));
      this.lateHandovers.wait(streamGroupName(stream.jsa.account.name, stream.name), stream, hosts, known);
      stream.replica = undefined;
      replica.endAlone();
      stream.syncSubjects();
    };
    end();
  }

  /** Create a stream here as a server added to its group (it joins, waiting for the group's leader). */
  private joinGroup(sa: StreamAssignment, before: string[]): void {
    if (sa.config === undefined) {
      this.service.log.warn(`JetStream cluster: stream '${sa.account} > ${sa.name}' is assigned here but its configuration is not known; not created`);
      return;
    }
    // Still here from before a scale-down to one replica (its copy's drop waited, e.g. for a
    // removal it had not heard of yet): the group grows again from the server that kept the
    // stream, on a log of its own, which this copy's log and its consumers' logs conflict with
    // (the member would never catch up). It goes now, and this server joins as a new member.
    const left = before.length === 1 ? this.service.accounts.get(sa.account)?.streams.get(sa.name) : undefined;
    if (left !== undefined) this.dropCopy(sa, left);
    const key = `${sa.account}\u0000${sa.name}`;
    this.joining.add(key);
    try {
      this.execute(sa.account, `STREAM.CREATE.${sa.name}`, sa.config, "", undefined);
    } finally {
      this.joining.delete(key);
    }
  }

  /** This server's copy of a stream it is out of the group of goes (its single-replica consumers to the group's leader). */
  private dropCopy(sa: StreamAssignment, stream: Stream): void {
    this.service.log.info(`JetStream cluster: stream '${sa.account} > ${sa.name}' moved off this server; its copy here is removed`);
    // Its single-replica consumers live here only: the group's leader takes them over.
    const sent = stream.replica?.handOverSingleReplicaConsumers() ?? [];
    // Sent a few more times, as handOverLeftBehind sends them (each is taken once): a server just
    // back sends them before its routes carry the interest of the server that takes them, and a
    // stream now of a single replica whose group ended (late_handovers.ts) has no leader to ask
    // again. (The entry that took this server out may be a step of a scale-down to one replica
    // that names more servers still: caught up from the meta log, later entries come after.)
    if (sent.length > 0) this.sendHandOvers(sa, sent.map((sc) => Buffer.from(JSON.stringify(sc))), 1);
    stream.leftGroup = true;
    this.execute(sa.account, `STREAM.DELETE.${sa.name}`, "", "", undefined);
  }

  /**
   * A copy that goes because the meta group took the stream off this server while it was away
   * (moved, scaled down without it, its group regrown from another server: removeOrphans,
   * applyMissedChanges) hands its single-replica consumers, which live on this server only, to
   * the stream group's leader with their state, as dropCopy does when the entry is applied live.
   * Sent a few times (the leader takes each once: one it holds, or recorded elsewhere, is not
   * taken again); a stream now of a single replica runs no group: the server keeping it takes
   * those it still waited for when its group ended (late_handovers.ts).
   */
  private handOverLeftBehind(sa: StreamAssignment, stream: Stream): void {
    const payloads = singleReplicaConsumersLeaving(stream, this.self);
    if (payloads.length === 0) return;
    this.service.log.info(`JetStream cluster: stream '${sa.account} > ${sa.name}' left this server while it was away; its ${payloads.length} single-replica consumer(s) go to the stream's leader`);
    this.sendHandOvers(sa, payloads, 0);
  }

  /**
   * Hand-overs of single-replica consumers to the stream's leader (`$JSC.ADOPT.<group>`; `sent`
   * already). To a stream of one replica on another server (its group ended or ending: the
   * server keeping it takes them, late_handovers.ts), each is sent again, less and less often,
   * until that server answers it (it took it, or does not await it) or the meta group no longer
   * assigns the stream so; to a group that runs, LEFT_BEHIND_SENDS times (its leader takes each
   * once through the group). The payloads are kept on disk meanwhile (pending_handovers.ts,
   * written here, before the caller removes the copy's files): a restart sends them again
   * (resumeHandOvers).
   */
  private sendHandOvers(sa: StreamAssignment, payloads: Buffer[], sent: number): void {
    const sys = this.service.server.systemAccount;
    if (sys === undefined) return;
    const group = streamGroupName(sa.account, sa.name);
    const subject = `$JSC.ADOPT.${group}`;
    const pending = new Map<string, Buffer>();
    for (const p of payloads) {
      try {
        pending.set(String((JSON.parse(p.toString()) as { name?: unknown }).name), p);
      } catch {
        // not a consumer
      }
    }
    if (pending.size === 0) return;
    this.pendingHandovers.keep(sa.account, sa.name, group, pending);
    const inbox = `$JSC.ADOPTED.${this.self}.${Math.random().toString(36).slice(2)}`;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      sys.unsubscribeInternal(sub);
      // Given up (the stream gone, or a group that runs sent to enough times); a server that
      // stops keeps them for its restart.
      if (!this.stopped) this.pendingHandovers.done(sa.account, group, pending.keys());
    };
    const sub = sys.subscribeInternal(
      inbox,
      (_s, _r, _h, payload) => {
        try {
          const a = JSON.parse(payload.toString()) as { name?: unknown; taken?: unknown };
          if (typeof a.name === "string" && pending.delete(a.name)) {
            this.pendingHandovers.done(sa.account, group, [a.name]);
            this.service.log.info(`JetStream cluster: stream '${sa.account} > ${sa.name}': consumer '${a.name}' ${a.taken === true ? "taken in" : "not taken"} by the server keeping the stream`);
          }
        } catch {
          // not an answer
        }
        if (pending.size === 0) finish();
      },
      undefined,
      "jetstream-cluster-handover-answers",
    );
    const send = (): void => {
      for (const p of pending.values()) sys.publish(subject, inbox, undefined, p);
      sent++;
    };
    let delay = LEFT_BEHIND_RESEND_MS;
    const tick = (): void => {
      const now = this.assignment(sa.account, sa.name);
      const peers = now !== undefined ? peersOf(now) : [];
      const keptAlone = peers.length === 1 && peers[0] !== this.self;
      if (this.stopped || pending.size === 0 || now === undefined || (!keptAlone && sent >= LEFT_BEHIND_SENDS)) {
        finish();
        return;
      }
      send();
      if (keptAlone) delay = Math.min(delay * 2, LEFT_BEHIND_MAX_MS);
      timer = setTimeout(tick, delay);
      timer.unref();
    };
    if (sent === 0) send();
    timer = setTimeout(tick, delay);
    timer.unref();
  }

  /**
   * The hand-overs owed from before a restart (pending_handovers.ts), once the meta group caught
   * up: sent again as before, to the servers the stream's assignment names now (none: the stream
   * is gone, they are given up; a kept server that no longer awaits one answers "not taken").
   */
  private resumeHandOvers(): void {
    const owed = this.owedAtStart;
    this.owedAtStart = undefined;
    for (const o of owed ?? []) {
      const sa = this.assignment(o.account, o.stream);
      if (sa === undefined || streamGroupName(sa.account, sa.name) !== o.group) {
        this.service.log.info(`JetStream cluster: stream '${o.account} > ${o.stream}' is gone; the ${o.payloads.size} single-replica consumer(s) owed to its servers are dropped`);
        this.pendingHandovers.done(o.account, o.group, [...o.payloads.keys()]);
        continue;
      }
      this.service.log.info(`JetStream cluster: stream '${o.account} > ${o.stream}': its ${o.payloads.size} single-replica consumer(s) not taken before the restart are handed over again`);
      this.sendHandOvers(sa, [...o.payloads.values()], 0);
    }
  }

  /** Streams being created here as servers added to an existing group. */
  private readonly joining = new Set<string>();

  /**
   * May this server's copy of a stream that has no group here take publishes, as a single
   * replica? Not when the meta group assigns the stream to other servers only: that copy was
   * left behind (its drop waits, or the server restarted first), behind the stream, and would
   * store publishes at sequences of its own and answer them. A stream the meta group does not
   * know takes nothing either once the meta log is replayed (a copy whose deletion this server
   * missed: what it took would go with its removal, removeOrphans); before that (its state is
   * restored after the streams at start) it is left as it is.
   */
  runsAlone(stream: Stream): boolean {
    const sa = this.assignment(stream.jsa.account.name, stream.name);
    return sa === undefined ? !this.reconciled : peersOf(sa).includes(this.self);
  }

  /**
   * May this server's copy of a stream that has no group here run its mirror, sources and
   * message schedules? Only once the meta group's state is known (its log replayed) and assigns
   * the stream here. A copy recovered at start, before that state, may be one the meta group
   * does not assign here (it is removed once the meta group caught up, removeOrphans): its
   * sources would copy into it, take messages of a work-queue origin, and its schedules would
   * publish their messages a second time.
   */
  assignedHere(stream: Stream): boolean {
    if (!this.reconciled) return false;
    const sa = this.assignment(stream.jsa.account.name, stream.name);
    return sa !== undefined && peersOf(sa).includes(this.self);
  }

  /** The copy held here of a stream whose assignment changed takes publishes or not (runsAlone), runs its sources and schedules or not (assignedHere). */
  private syncCopy(account: string, name: string): void {
    const stream = this.service.accounts.get(account)?.streams.get(name);
    stream?.syncSubjects();
    stream?.startAssignedWork();
  }

  assignedPeers(stream: Stream): string[] | undefined {
    const sa = this.assignment(stream.jsa.account.name, stream.name);
    return sa === undefined ? undefined : peersOf(sa);
  }

  get raftDir(): string {
    return path.join(this.service.storeDir, "_raft");
  }

  /** A stream with num_replicas > 1 was created (fresh) or recovered here: its RAFT group starts. */
  attachReplica(stream: Stream, fresh: boolean, how: { alone?: boolean } = {}): void {
    const sa = this.assignment(stream.jsa.account.name, stream.name);
    // A single replica runs a group only while it moves (its messages and consumers go through it).
    if (stream.cfg.num_replicas <= 1 && !(sa?.move !== undefined && peersOf(sa).length > 1)) {
      // Restored at start: the durables it awaited from servers away when its group ended (late_handovers.ts).
      if (!fresh) this.lateHandovers.recover(streamGroupName(stream.jsa.account.name, stream.name), stream);
      return;
    }
    const joining = fresh && this.joining.has(`${stream.jsa.account.name}\u0000${stream.name}`);
    const peers = how.alone === true ? [this.self] : (sa?.peers ?? [this.self]);
    // Every member's copy has the creation time the meta group assigned: info answers from
    // any leader agree, and so does the stream's identity (what its sources check).
    // (A stream scaled up from R1 keeps its own, as the members joining it later take theirs.)
    const assigned = fresh && !joining && how.alone !== true && sa !== undefined ? parseRfc3339(sa.created) : undefined;
    if (assigned !== undefined && assigned !== stream.created) {
      stream.created = assigned;
      stream.writeMeta();
    }
    // Started alone on what this server holds (a scale-up from one replica): the members that join
    // copy its messages and consumers from a first snapshot (none in any entry), even when it has
    // consumers and no messages yet.
    const holds = stream.store.state().lastSeq > 0 || stream.consumers.size > 0;
    const replica = new StreamReplica(stream, this, peers, fresh, joining, how.alone === true && holds);
    stream.replica = replica;
    replica.start(fresh && !joining && (how.alone === true || sa?.owner === this.self));
  }

  leaderChanged(replica: StreamReplica, leader: string): void {
    if (leader === this.self) this.service.log.info(`JetStream cluster: this server leads stream '${replica.stream.jsa.account.name} > ${replica.stream.name}'`);
  }

  /** Does this server answer the requests about this stream: its server (R1), or its group's leader? */
  private answersHere(sa: StreamAssignment): boolean {
    if (peersOf(sa).length <= 1) return sa.owner === this.self;
    return this.service.accounts.get(sa.account)?.streams.get(sa.name)?.replica?.isLeader === true;
  }

  /**
   * The streams the meta state assigns here that this server does not hold are created: a member
   * of a replicated stream's group joins it (its leader catches it up: messages, consumers), a
   * single replica is created empty. At the start-up check, and when a leader's snapshot brought
   * assignments this server missed (nats-server's applyMetaSnapshot processes each stream new in
   * it). A restore this server owns is not one of them (`atStart`: the start-up check notices it).
   */
  private createMissingAssigned(atStart: boolean): void {
    for (const [account, m] of this.streams) {
      const jsa = this.service.accounts.get(account);
      if (jsa === undefined) continue;
      for (const sa of m.values()) {
        if (sa.restoring === true && sa.owner === this.self) {
          // A restore this server was taking when it stopped is lost (its partial copy was never
          // recovered); one that ended still needs its replicas.
          if (atStart) {
            // (Run before the stop, if at all: not again from a later snapshot.)
            this.restoresRun.add(restoreRun(sa));
            this.noticeRestore(account, sa.name, jsa.streams.has(sa.name));
          } else if (sa.restoreRequest !== undefined && !jsa.streams.has(sa.name)) {
            // Assigned here while this server was behind (its entry compacted into the leader's
            // snapshot): the restore runs now, as the entry would have run it. A client still
            // waiting for its first answer sends the backup; none sent, it idles out and fails,
            // and its assignment goes (noticeRestore), as any failed restore's.
            this.service.log.info(`JetStream cluster: restore of stream '${account} > ${sa.name}' was assigned here while this server was behind; it starts now`);
            this.runRestore(sa, sa.restoreRequest);
          }
          continue;
        }
        if (!peersOf(sa).includes(this.self) || jsa.streams.has(sa.name)) continue;
        if (atStart) this.service.log.warn(`JetStream cluster: stream '${account} > ${sa.name}' is assigned here but missing; it is created empty`);
        else this.service.log.info(`JetStream cluster: stream '${account} > ${sa.name}' was assigned here while this server was behind; it is created here`);
        const body = sa.config !== undefined ? Buffer.from(sa.config, "base64") : Buffer.from(JSON.stringify({ name: sa.name, subjects: sa.subjects }));
        // A member of a replicated stream's group rejoins it (its leader catches it up).
        const key = `${account}\u0000${sa.name}`;
        if (peersOf(sa).length > 1) this.joining.add(key);
        try {
          jsa.executeApi(`STREAM.CREATE.${sa.name}`, "", body, undefined);
        } finally {
          this.joining.delete(key);
        }
      }
    }
  }

  /**
   * After the replay of the meta log at start: create the streams assigned here that are
   * missing, remove those whose deletion was committed. A stream held here that the group does
   * not know is left alone (with a warning): data is never deleted on a possibly stale view.
   */
  private reconcile(): void {
    this.reconciled = true;
    this.createMissingAssigned(true);
    // A single replica in the middle of a move runs the group it moves through again (at
    // recovery its assignment, hence its move, was not known yet).
    for (const [account, m] of this.streams) {
      for (const sa of m.values()) {
        if (sa.move === undefined || peersOf(sa).length <= 1 || !peersOf(sa).includes(this.self)) continue;
        const stream = this.service.accounts.get(account)?.streams.get(sa.name);
        if (stream !== undefined && stream.replica === undefined) this.attachReplica(stream, false);
      }
    }
    // A group that elected this server before its assignment was known (a restart) brings its
    // membership to the assignment now (a move, scale-up or peer removal in progress goes on).
    for (const jsa of this.service.accounts.values()) for (const stream of jsa.streams.values()) stream.replica?.syncMembers();
    for (const key of this.replayedDeletes) {
      const [account, name] = key.split("\u0000");
      if (this.streams.get(account)?.has(name)) continue;
      const jsa = this.service.accounts.get(account);
      if (jsa?.streams.has(name)) jsa.executeApi(`STREAM.DELETE.${name}`, "", Buffer.alloc(0), undefined);
    }
    this.replayedDeletes.clear();
    for (const jsa of this.service.accounts.values()) {
      for (const name of jsa.streams.keys()) {
        const sa = this.streams.get(jsa.account.name)?.get(name);
        if (sa === undefined || !peersOf(sa).includes(this.self)) this.service.log.warn(`JetStream cluster: stream '${jsa.account.name} > ${name}' is held here but not assigned here by the meta group; removed once the meta group caught up`);
        // The meta state is known: those assigned here run their sources and schedules from now
        // on, those it does not know take no publishes.
        this.syncCopy(jsa.account.name, name);
      }
    }
    this.checkOrphansWhenCaughtUp();
  }

  /**
   * Has this server's meta group caught up with its leader? The leader once it applied every
   * entry before its term; a follower once it applied the leader's last entry as of the first
   * append it got since it started (a snapshot being installed, or a replay of its own log,
   * leaves it behind that). Only then does "not assigned here" say the meta group's state.
   */
  private metaCaughtUp(): boolean {
    const node = this.node;
    if (node === undefined || node.leader === "") return false;
    if (node.isLeader) return node.leaderReady;
    return node.leaderLastAtFirstContact >= 0 && node.applied >= node.leaderLastAtFirstContact;
  }

  private checkOrphansWhenCaughtUp(): void {
    if (this.stopped || this.orphanTimer !== undefined) return;
    if (!this.metaCaughtUp()) {
      this.orphanTimer = setTimeout(() => {
        this.orphanTimer = undefined;
        this.checkOrphansWhenCaughtUp();
      }, ORPHAN_CHECK_MS);
      this.orphanTimer.unref();
      return;
    }
    this.removeOrphans();
  }

  /**
   * Copies held here that the caught-up meta group does not assign here (nats-server's
   * checkForOrphans, and its removal of a stream an assignment no longer names): left behind by
   * a scale-down or move whose drop this server missed (it was stopped), or a stream deleted
   * while it was down whose deletion it only got in a snapshot. They go as a copy leaving its
   * group goes: no deletion advisories (the stream lives on elsewhere), the group's other members
   * untouched. Their sources and schedules never ran here (assignedHere).
   */
  private removeOrphans(): void {
    this.resumeHandOvers();
    for (const jsa of this.service.accounts.values()) {
      const account = jsa.account.name;
      for (const stream of [...jsa.streams.values()]) {
        const sa = this.assignment(account, stream.name);
        if ((sa !== undefined && peersOf(sa).includes(this.self)) || this.joining.has(`${account}\u0000${stream.name}`)) continue;
        this.service.log.warn(`Detected orphaned stream '${account} > ${stream.name}', will cleanup`);
        if (sa !== undefined) this.handOverLeftBehind(sa, stream);
        stream.leftGroup = true;
        this.execute(account, `STREAM.DELETE.${stream.name}`, "", "", undefined);
      }
    }
  }

  // ---- the API gate ----

  /** The bytes the other servers hold of the account's streams in `tier` ("" = all), memory or file, as they last reported. */
  remoteBytes(account: string, tier: string, memory: boolean): number {
    return this.usage.remoteBytes(account, tier, memory);
  }

  assignment(account: string, name: string): StreamAssignment | undefined {
    return this.streams.get(account)?.get(name);
  }

  /**
   * Decide who answers a JSON API request (tokens after `$JS.API.`): undefined when this server
   * answers it as a single server would, SKIP when another server does, PENDING when the answer
   * comes once a proposal is committed, or the answer itself.
   */
  intercept(jsa: JsAccount, t: string[], body: Buffer, reply: string, hdr: Buffer | undefined): Intercept {
    const node = this.node;
    if (node === undefined || (!this.metaLeaderAnswers(node) && !this.answeredWithoutMetaLeader(jsa, t))) {
      // No meta leader, and none can be elected: answered now, as nats-server answers.
      const answered = node !== undefined && this.metaQuorumLost(node) ? this.answerWithoutMetaQuorum(jsa, t, reply) : false;
      if (answered !== false) return answered;
      // No meta leader yet (starting, electing, or the leader's server is gone): the request waits for one, then is decided again.
      const now = Date.now();
      // Those the requester gave up on go (the queue stays bounded while no leader can be elected).
      this.waiting.push({ jsa, rest: t.join("."), body, reply, hdr, at: now, alone: this.alone() });
      this.expireWaiting(now);
      return PENDING;
    }
    const account = jsa.account.name;
    // A held request this server (a new leader) meanwhile answered as relayed by another.
    if (this.retryingHeld && this.relay.wasAnswered(account, reply)) return SKIP;
    this.answerArranged = false;
    const decided = this.decide(jsa, node, t, body, reply, hdr);
    // An unnamed ephemeral's create that arrived with no other server connected: nobody else
    // heard it, so the server that answers it runs it once (relayed copies are decided once
    // each); unless this server answers it itself (a member of the stream's group without a leader).
    const onlyHere = this.heldAlone && !this.answerArranged && unnamedConsumerCreate(t, body);
    if (decided !== SKIP) this.relay.noteAnswered(account, reply);
    else if (this.retryingHeld && reply !== "" && (relayable(t, body) || onlyHere) && !this.relay.wasAnswered(account, reply)) {
      // The server that answers it may have skipped it when it arrived (a new meta leader that
      // still followed the old one), or never got it (no route led there when it arrived).
      const sys = this.service.server.systemAccount;
      if (sys !== undefined) this.relay.relay(sys, () => new Set(this.peers.values()), { account, rest: t.join("."), reply, body, hdr }, this.heldAt + WAIT_FOR_LEADER_MS);
    }
    return decided;
  }

  private decide(jsa: JsAccount, node: RaftNode, t: string[], body: Buffer, reply: string, hdr: Buffer | undefined): Intercept {
    const leader = this.isLeader && node.leaderReady;
    if (t[0] === "INFO") return !leader ? SKIP : t.length === 1 ? this.accountInfo(jsa, reply) : undefined;
    // META.LEADER.STEPDOWN and SERVER.REMOVE are the system account's (system_api.ts): from
    // any other account nobody answers them, as in nats-server.
    if (t[0] === "META" || t[0] === "SERVER") return SKIP;
    const account = jsa.account.name;
    if (t[0] === "ACCOUNT" && t[1] === "STREAM" && (t[2] === "MOVE" || t[2] === "CANCEL_MOVE") && t.length === 5) {
      // The system account's stream moves, which an account may ask for its own streams too (as nats-server).
      if (!leader || t[3] !== account) return SKIP;
      return t[2] === "MOVE" ? this.systemMove(account, t[4], body, reply, false) : this.cancelMove(account, t[4], reply, "io.nats.jetstream.api.v1.stream_cancel_move_response");
    }
    if (t[0] === "ACCOUNT") return leader ? undefined : SKIP;
    if (t[0] === "STREAM" && (t[1] === "NAMES" || t[1] === "LIST")) {
      if (!leader) return SKIP;
      return t[1] === "NAMES" ? this.streamNames(account, body) : this.streamList(jsa, body, reply);
    }
    const at = streamToken(t);
    const name = at >= 0 ? t[at] : undefined;
    if (name === undefined) return leader ? undefined : SKIP;
    const sa = this.assignment(account, name);
    if (t[0] === "STREAM" && (t[1] === "CREATE" || t[1] === "UPDATE" || t[1] === "DELETE")) {
      // A create of an existing stream is answered by its server (the same config is fine).
      if (t[1] === "CREATE" && sa !== undefined) return this.answersHere(sa) ? undefined : SKIP;
      if (!leader) return SKIP;
      if (t[1] !== "CREATE" && sa === undefined) return undefined; // not found, answered here
      this.propose(account, t[1], name, sa, body, reply, hdr);
      return PENDING;
    }
    const remap = peerRemapKind(t);
    if (t[0] === "STREAM" && remap !== undefined) {
      if (!leader) return SKIP;
      return this.streamPeerRemap(account, sa, body, remap);
    }
    if (t[0] === "CONSUMER" && remap !== undefined) return this.consumerPeerRemap(jsa, sa, t, body, reply, hdr, remap, leader);
    if (t[0] === "STREAM" && t[1] === "CANCEL_MOVE") {
      if (!leader) return SKIP;
      return this.cancelMove(account, name, reply, "io.nats.jetstream.api.v1.stream_cancel_move_response");
    }
    if (t[0] === "STREAM" && t[1] === "RESTORE") {
      if (!leader) return SKIP;
      return this.placeRestore(jsa, name, sa, body, reply, hdr);
    }
    if (sa !== undefined) {
      // A new leader of the stream's group decides about its consumers once it applied the
      // group's earlier entries: until then it may not know where a single-replica one lives.
      const r = t[0] === "CONSUMER" ? jsa.streams.get(name)?.replica : undefined;
      if (r !== undefined && r.isLeader && !r.leaderReady) return this.whenLeaderReady(jsa, r, t, body, reply, hdr);
      // A single-replica consumer of a replicated stream is answered for by the member it lives on.
      const eph = this.ephemeralRequest(jsa, t, name, reply, body);
      if (eph !== false) return eph;
      // Info, a pause or an unpin of a replicated consumer led by another member than the
      // stream's: its leader answers (it holds the waiting pulls and the latest activity, and
      // runs the pins), as nats-server's consumer leader does.
      if (t[0] === "CONSUMER" && (t[1] === "INFO" || t[1] === "PAUSE" || t[1] === "UNPIN") && t.length === 4) {
        const replica = jsa.streams.get(name)?.replica;
        const c = jsa.streams.get(name)?.consumers.get(t[3]);
        // (A server outside a consumer's group, the stream's leader too, leaves it to its members.)
        if (c?.replicated === true && replica?.holdsConsumer(c.name) === false) return SKIP;
        const led = replica !== undefined && c?.replicated === true ? replica.consumerLeader(c.name) : "";
        if (led !== "" && led !== replica?.leader) return led === this.self ? undefined : SKIP;
      }
      // CONSUMER.LEADER.STEPDOWN of a replicated consumer: its group's leader hands it over.
      if (t[0] === "CONSUMER" && t[1] === "LEADER" && t[2] === "STEPDOWN" && t.length === 5) {
        const replica = jsa.streams.get(name)?.replica;
        const c = jsa.streams.get(name)?.consumers.get(t[4]);
        if (c?.replicated === true && replica?.holdsConsumer(c.name) === false) return SKIP;
        const led = replica !== undefined && c?.replicated === true ? replica.consumerLeader(c.name) : "";
        if (led === this.self && replica !== undefined) return this.consumerStepDown(replica, t[4], body);
        if (led !== "") return SKIP;
      }
      if (t[1] === "INFO" && t[0] === "STREAM" && t.length === 3 && this.streamGroupLeaderless(jsa, sa)) return undefined;
      if (t[1] === "INFO" && t[0] === "CONSUMER" && t.length === 4 && this.consumerGroupLeaderless(jsa, name, t[3])) throw jsError("JSClusterNotAvailErr");
      if (!this.answersHere(sa)) return this.answerLeaderless(jsa, sa, t, body, reply, hdr);
      const stream = jsa.streams.get(name);
      const replica = stream?.replica;
      if (t[1] === "LEADER" && t[2] === "STEPDOWN") {
        if (t[0] === "CONSUMER") {
          const c = stream?.consumers.get(t[4] ?? "");
          if (c === undefined) throw jsError("JSConsumerNotFoundErr");
          // A replicated consumer whose group has no leader known here: not available.
          if (replica !== undefined && c.replicated) return this.consumerStepDown(replica, c.name, body);
          // A single replica has no group of its own: nothing to hand over (the stream's leader stays).
          return { success: true };
        }
        return this.groupStepDown(replica, body);
      }
      if (t[0] === "CONSUMER" && t[1] === "LIST" && t.length === 3 && stream !== undefined && ((replica?.remoteEphemerals().length ?? 0) > 0 || (replica?.consumersHeldElsewhere().length ?? 0) > 0)) {
        return this.consumerList(jsa, stream, body, reply, hdr);
      }
      const change = replica !== undefined ? replicatedChange(t, body, stream) : false;
      if (replica !== undefined && change !== false) {
        // A change of a replicated stream: every member runs it once committed, the leader answers.
        replica.proposeApi(t.join("."), body, reply, hdr, change);
        return PENDING;
      }
      return undefined;
    }
    // A snapshot is answered by the stream's leader only: of a stream nobody holds, by no one (as nats-server).
    if (t[0] === "STREAM" && t[1] === "SNAPSHOT") return SKIP;
    // A leader stepdown or info of a stream nobody holds: the meta leader says so, before it reads the request.
    if ((t[1] === "LEADER" && t[2] === "STEPDOWN") || (t[0] === "STREAM" && t[1] === "INFO" && t.length === 3)) {
      if (!leader) return SKIP;
      throw jsError("JSStreamNotFoundErr");
    }
    return leader ? undefined : SKIP;
  }

  /** Decide a request again once this server's stream group leadership is ready (or answer that it is not available). */
  private whenLeaderReady(jsa: JsAccount, replica: StreamReplica, t: string[], body: Buffer, reply: string, hdr: Buffer | undefined): typeof PENDING {
    const rest = t.join(".");
    const term = replica.term;
    replica.whenLeaderKnown(ELECTION_MAX_MS, () => {
      // Run only by the leadership it came to: once that is lost, a member that saw no leader
      // may have answered "unavailable" and the client may have asked again and gone on (the
      // old request run then would undo what came after it, e.g. scale a consumer back).
      if (replica.isLeader && replica.leaderReady && replica.term === term) jsa.executeApi(rest, reply, body, hdr, true);
      else this.answerError(jsa, rest, reply, jsError("JSClusterNotAvailErr"));
    });
    return PENDING;
  }

  /**
   * A request naming a single-replica consumer (durable or ephemeral) of a replicated stream: it
   * lives on the member it was placed on, across stream leader changes (nats-server 2.15), so
   * that member answers (undefined: as a single server would), the others skip it. false: not
   * such a request, the stream's leader decides.
   */
  private ephemeralRequest(jsa: JsAccount, t: string[], streamName: string, reply: string, body: Buffer): Intercept | false {
    if (t[0] !== "CONSUMER") return false;
    const consumer = t[1] === "MSG" || t[1] === "LEADER" || t[1] === "DURABLE" ? t[4] : t[1] === "NAMES" || t[1] === "LIST" ? undefined : t[3];
    if (consumer === undefined || consumer === "") return false;
    const stream = jsa.streams.get(streamName);
    const replica = stream?.replica;
    if (stream !== undefined && replica === undefined) return this.awaitedRequest(jsa, t, stream, consumer, reply, body);
    const host = replica?.ephemeralHost(consumer);
    if (host === undefined) return false;
    if (host !== this.self) {
      // Its server is down: its info and its updates are answered "consumer is offline" by the
      // stream's leader, half a second later (nats-server's meta leader answers so; the update
      // is not applied when that server returns).
      const offlineAnswered = t[1] === "INFO" || t[1] === "CREATE" || t[1] === "DURABLE";
      // A delete is done at once (that server drops its copy when it returns).
      if (t[1] === "DELETE" && replica?.isLeader === true && !this.reachable(host)) {
        if (!replica.deleteOffline(consumer, host)) throw jsError("JSClusterNotAvailErr");
        // Answered once the record is applied here (the stream's names leave it out from then on).
        const deadline = Date.now() + ELECTION_MAX_MS;
        const answer = (): void => {
          if (replica.ephemeralHost(consumer) === host && Date.now() < deadline && !this.stopped) {
            setTimeout(answer, 5).unref();
            return;
          }
          const gone = replica.ephemeralHost(consumer) !== host;
          const json = gone ? JSON.stringify({ type: "io.nats.jetstream.api.v1.consumer_delete_response", success: true }) : errorResponse(t.join("."), jsError("JSClusterNotAvailErr"));
          if (reply !== "") jsa.account.publish(reply, "", undefined, Buffer.from(json));
        };
        answer();
        return PENDING;
      }
      // A pause is recorded and answered once applied here (listed paused from then on: the
      // stand-in's config); that server applies it when it returns.
      if (t[1] === "PAUSE" && t.length === 4 && replica?.isLeader === true && !this.reachable(host)) {
        const until = jsa.pauseUntilOf(body);
        const index = replica.pauseOffline(consumer, host, until);
        if (index === false) throw jsError("JSClusterNotAvailErr");
        replica.whenIndexApplied(index, () => {
          const leftMs = until === undefined ? 0 : Number((parseRfc3339(until) ?? 0n) / 1_000_000n) - Date.now();
          const answer = { type: "io.nats.jetstream.api.v1.consumer_pause_response", ...pauseAnswer(until, leftMs > 0 ? leftMs * 1e6 : 0) };
          if (reply !== "") jsa.account.publish(reply, "", undefined, Buffer.from(JSON.stringify(answer)));
        });
        return PENDING;
      }
      if (offlineAnswered && reply !== "" && !this.reachable(host)) {
        // Settled here, never relayed (api_relay.ts): a copy reaching its server on its return
        // would apply there an update its requester was told failed.
        this.relay.noteAnswered(jsa.account.name, reply);
        if (replica?.isLeader === true) {
          const rest = t.join(".");
          setTimeout(() => this.answerError(jsa, rest, reply, jsError("JSConsumerOfflineErr")), OFFLINE_ERROR_DELAY_MS).unref();
        }
      }
      return SKIP;
    }
    // An R1 consumer has no other member to hand over to; nats-server answers success.
    if (t[1] === "LEADER" && t[2] === "STEPDOWN") return { success: true };
    return undefined;
  }

  /**
   * A request naming a single-replica durable of a stream held here alone now, awaited from the
   * server it lives on (away since the stream's group ended: late_handovers.ts). The stream's
   * names show it, so, as for any single-replica consumer whose server is down, its info and
   * updates are answered "consumer is offline", a pause is answered at once and applied when it
   * comes, a delete is done at once (nats-server 2.15.1 would have recreated it here without its
   * state). false: not such a request.
   */
  private awaitedRequest(jsa: JsAccount, t: string[], stream: Stream, consumer: string, reply: string, body: Buffer): Intercept | false {
    const group = streamGroupName(jsa.account.name, stream.name);
    if (this.lateHandovers.awaitedHost(group, stream, consumer) === undefined) return false;
    if (t[1] === "PAUSE" && t.length === 4) {
      const until = jsa.pauseUntilOf(body);
      this.lateHandovers.pause(group, consumer, until);
      const leftMs = until === undefined ? 0 : Number((parseRfc3339(until) ?? 0n) / 1_000_000n) - Date.now();
      return pauseAnswer(until, leftMs > 0 ? leftMs * 1e6 : 0);
    }
    // A delete is done at once, as for a consumer whose server is down (that server drops its copy when it returns).
    if (t[1] === "DELETE" && t.length === 4) {
      if (!isEmptyRequest(body)) throw jsError("JSNotEmptyRequestErr");
      this.lateHandovers.forget(group, consumer);
      return { success: true };
    }
    if (t[1] !== "INFO" && t[1] !== "CREATE" && t[1] !== "DURABLE") return false;
    const rest = t.join(".");
    if (reply !== "") setTimeout(() => this.answerError(jsa, rest, reply, jsError("JSConsumerOfflineErr")), OFFLINE_ERROR_DELAY_MS).unref();
    return PENDING;
  }

  /** The single-replica durables of `stream`, held here alone, awaited from the servers they live on (named by CONSUMER.NAMES, missing from CONSUMER.LIST, counted in consumer_count). */
  awaitedConsumers(stream: Stream): string[] {
    return stream.replica === undefined ? this.lateHandovers.awaitedNames(streamGroupName(stream.jsa.account.name, stream.name), stream) : [];
  }

  /** CONSUMER.LIST's entry for an awaited durable of `stream` (as for a single-replica consumer whose server is down: consumer_stand_in.ts). */
  awaitedStandIn(stream: Stream, consumer: string): Record<string, unknown> | undefined {
    const a = this.lateHandovers.standIn(streamGroupName(stream.jsa.account.name, stream.name), stream, consumer);
    return a === undefined ? undefined : offlineStandIn(this.clusterName, a.host, a.known, consumerGroupName(stream.jsa.account.name, stream.name, consumer));
  }

  /** Every RAFT group here that `server` is a member of: no longer counted current until it answers again. */
  private lostContact(server: string): void {
    this.node?.lostContact(server);
    for (const jsa of this.service.accounts.values()) for (const st of jsa.streams.values()) st.replica?.lostContact(server);
  }

  /** No route, gateway or leaf node connection: a message arriving now reaches no other server. */
  private alone(): boolean {
    const server = this.service.server;
    const gateways = gatewaysOf(server);
    return this.cluster.all.size === 0 && (gateways === undefined || (gateways.out.size === 0 && gateways.in.size === 0)) && (leafNodesOf(server)?.all.size ?? 0) === 0;
  }

  /** Is `server` this one or one a route leads to now (a server stopped or cut off is not)? */
  reachable(server: string): boolean {
    return server === this.self || this.cluster.peers().some((p) => p.name === server);
  }

  /**
   * A pull request from a client of this server for a single-replica consumer of a stream this
   * server is a member of, held by a server no route leads to now: nobody can answer it. In
   * nats-server only the consumer subscribes to its pull subject, so the requester gets 503 no
   * responders at once (here every server's API subscription takes it: it would wait for nothing).
   */
  pullUnanswerable(jsa: JsAccount, stream: string, consumer: string): boolean {
    const host = jsa.streams.get(stream)?.replica?.ephemeralHost(consumer);
    return host !== undefined && !this.reachable(host);
  }

  /**
   * A request about a stream this server does not answer. Its group's leader answers it; when
   * the group has none, nats-server answers "JetStream system temporarily unavailable" after a
   * pause (so a leader that appears meanwhile answers first). Here a member that knows of no
   * leader does that, and the meta leader does it when no member is reachable at all.
   */
  private answerLeaderless(jsa: JsAccount, sa: StreamAssignment, t: string[], body: Buffer, reply: string, hdr: Buffer | undefined): typeof SKIP {
    if (reply === "" || !this.leaderless(jsa, sa)) return SKIP;
    this.answerArranged = true;
    const rest = t.join(".");
    const seen = jsa.streams.get(sa.name)?.replica;
    const epoch = seen?.leaderEpoch;
    const term = seen?.term ?? 0;
    const decideAgain = (): void => {
      // Decided again: a leader elected here meanwhile, the first leader since the request came,
      // answers it itself when running it twice changes nothing (the old leader may have run it
      // before it lost its leadership: an unnamed consumer create ran again made a second
      // consumer). After another leader it is not run: that leader may have answered it and the
      // client gone on (a consumer create run again then undid the update that followed it).
      // Otherwise "temporarily unavailable", as nats-server's leaderless member answers. A
      // leader elsewhere, or a member heard from again, did or will (it saw no leader either,
      // so it waited too).
      const replica = jsa.streams.get(sa.name)?.replica;
      if (replica?.isLeader === true) {
        // (A term skipped: a leader this member never heard of may have been in it.)
        const firstLeaderSince = epoch !== undefined && replica.leaderEpoch === epoch + 1 && replica.term <= term + 1;
        if (firstLeaderSince && safeToRepeat(t, body)) jsa.executeApi(rest, reply, body, hdr, true);
        else this.answerError(jsa, rest, reply, jsError("JSClusterNotAvailErr"));
      } else if (this.leaderless(jsa, sa)) this.answerError(jsa, rest, reply, jsError(this.streamOffline(sa, t) ? "JSStreamOfflineErr" : "JSClusterNotAvailErr"));
    };
    // A held or relayed request (its requester already waited: for a meta leader, or for a route
    // to the stream's servers) comes while the group is still electing after a restart: it waits
    // for the group's leader, up to an election's length within what the requester may still
    // wait, and is decided again once one is known. Any other is answered after half a second.
    // The meta leader, not a member, gives such a request the same time to hear from one of the
    // stream's servers: elected a moment ago, it may not have yet (under load a restarted server's
    // route comes late), and that server answers the request, relayed to it, once it can.
    const heldMs = this.heldUntil === undefined ? 0 : Math.min(ELECTION_MAX_MS, this.heldUntil - Date.now());
    if (seen !== undefined && heldMs > OFFLINE_ERROR_DELAY_MS) seen.whenLeaderKnown(heldMs, decideAgain);
    else if (seen === undefined && heldMs > OFFLINE_ERROR_DELAY_MS) this.untilHeard(jsa, sa, Date.now() + heldMs, decideAgain);
    else setTimeout(decideAgain, OFFLINE_ERROR_DELAY_MS).unref();
    return SKIP;
  }

  /**
   * STREAM.INFO asked of the meta leader about a stream none of whose servers a route leads to
   * (stopped): nats-server 2.15.1's meta leader answers it "stream is offline" (10118, after half
   * a second) when every server of the stream's group is offline (jsStreamInfoRequest,
   * allPeersOffline); other requests about it stay "temporarily unavailable".
   */
  private streamOffline(sa: StreamAssignment, t: string[]): boolean {
    return this.isLeader && t[0] === "STREAM" && t[1] === "INFO" && t.length === 3 && !peersOf(sa).some((p) => this.reachable(p));
  }

  /**
   * STREAM.LIST's entry for a stream none of whose servers is up, on the meta leader, as nats-server
   * 2.15.1's meta leader places it by hand (jsClusteredStreamListRequest, allPeersOffline): the
   * config and creation time of its assignment, a zeroed state, every server of its group offline;
   * its name stays under `missing`.
   */
  private offlineStreamStandIn(account: string, name: string): Record<string, unknown> | undefined {
    const sa = this.assignment(account, name);
    if (sa === undefined || sa.config === undefined || !this.streamOffline(sa, ["STREAM", "INFO", name])) return undefined;
    let config: StreamConfig;
    try {
      config = createRequest(name, Buffer.from(sa.config, "base64"), true, { ...this.service.options, strict: false });
    } catch {
      return undefined;
    }
    const zero = "0001-01-01T00:00:00Z";
    return {
      config,
      created: rfc3339(parseRfc3339(sa.created) ?? 0n),
      state: { messages: 0, bytes: 0, first_seq: 0, first_ts: zero, last_seq: 0, last_ts: zero, consumer_count: 0 },
      cluster: { name: this.clusterName, raft_group: streamGroupName(account, name), replicas: peersOf(sa).map((p) => ({ name: p, current: false, offline: true, active: 0, peer: peerIdOf(p) })) },
      ts: rfc3339(nowNs()),
    };
  }

  /** `fn` once a server of the stream is heard from (it answers then: nothing left to do), or at `deadline`. */
  private untilHeard(jsa: JsAccount, sa: StreamAssignment, deadline: number, fn: () => void): void {
    const check = (): void => {
      if (this.stopped || !this.leaderless(jsa, sa)) return;
      if (Date.now() >= deadline) fn();
      else setTimeout(check, 100).unref();
    };
    setTimeout(check, 100).unref();
  }

  /** Seen from here, nobody answers for this stream: as its member, its group has no leader; as the meta leader, none of its servers was heard from lately. */
  private leaderless(jsa: JsAccount, sa: StreamAssignment): boolean {
    const peers = peersOf(sa);
    if (peers.includes(this.self)) {
      const replica = jsa.streams.get(sa.name)?.replica;
      return replica !== undefined && replica.leader === "";
    }
    if (!this.isLeader || this.node === undefined) return false;
    const heard = this.heardPeers(false);
    return !peers.some((p) => heard.has(p));
  }

  private propose(account: string, what: string, name: string, sa: StreamAssignment | undefined, body: Buffer, reply: string, hdr: Buffer | undefined, streamLeader?: string): void {
    let op: MetaOp;
    const common = { account, name, body: body.toString("base64"), reply, hdr: hdr?.toString("base64") };
    if (what === "DELETE") op = { op: "stream_del", ...common };
    else {
      const cfg = parseConfig(body);
      const subjects = Array.isArray(cfg.subjects) ? cfg.subjects.filter((s): s is string => typeof s === "string") : cfg.subjects === undefined && what === "CREATE" ? [name] : (sa?.subjects ?? []);
      const replicas = replicasIn(cfg);
      this.checkAccountLimits(account, name, body, sa);
      let peers = sa !== undefined ? peersOf(sa) : undefined;
      if (sa !== undefined && peers !== undefined) this.checkPlacement(cfg);
      let move: StreamMove | undefined;
      let scale: StreamScale | undefined;
      if (sa !== undefined && peers !== undefined && what === "UPDATE") {
        move = this.moveRequested(sa, cfg, replicas);
        if (move !== undefined) peers = [...peers, ...move.peers.filter((p) => !peers?.includes(p))];
      }
      // A scale asked while a scale-down is under way replaces it, from the servers still in the
      // group (nats-server 2.15 lets scales stack: R3 -> R1 -> R3 at once is accepted).
      const restacked = sa?.move?.scaleDown === true && move === undefined && sa.config !== undefined && replicas !== replicasIn(parseConfig(Buffer.from(sa.config, "base64")));
      if (move !== undefined || (sa?.move !== undefined && !restacked)) {
        // Moving: the servers it goes to join its group first, the others leave later (see moveRequested).
      } else if (sa !== undefined && peers !== undefined && replicas < peers.length) {
        // Fewer replicas: down to one, the member that leads the group keeps the stream (it has
        // every committed message); down to more than one (R3 -> R2, R5 -> R3, as nats-server
        // 2.15 allows), the leader (when known here) and the first others stay, until the
        // stream's leader picks them (its live members first: onMoveSettled). As a move to
        // those kept: the group's leader removes the others one at a time, each removal
        // committed in the group and recorded by the meta group before the next, and a server
        // drops its copy once out of the group (as nats-server 2.15 scales down).
        const lead = streamLeader ?? this.service.accounts.get(account)?.streams.get(name)?.replica?.leader ?? "";
        let kept: string[];
        if (replicas === 1) {
          // Not a member (an earlier scale-down left this meta leader out): its leader says who it is.
          if (streamLeader === undefined && !peers.includes(this.self)) return this.proposeWithStreamLeader(account, what, name, body, reply, hdr);
          if (lead === "" || !peers.includes(lead)) throw jsError("JSClusterNotAvailErr");
          kept = [lead];
        } else {
          // (Servers a route leads to first; the stream's leader picks again from what it hears.)
          const others = [...peers.filter((p) => p !== lead && this.reachable(p)), ...peers.filter((p) => p !== lead && !this.reachable(p))];
          kept = (peers.includes(lead) ? [lead, ...others] : others).slice(0, replicas);
        }
        move = { peers: kept, created: new Date().toISOString(), origin: { peers, replicas: peers.length }, scaleDown: true };
      } else if (sa !== undefined && peers !== undefined && replicas > peers.length) {
        // More replicas: more servers join (the stream's group catches them up).
        scale = { created: new Date().toISOString(), origin: { replicas: peers.length } };
        peers = [...peers, ...this.place(cfg, replicas - peers.length, peers)];
      }
      this.checkOverlap(account, name, subjects);
      peers ??= this.place(cfg, Math.min(replicas, 5));
      const owner = sa !== undefined && peers.includes(sa.owner) ? sa.owner : peers[0];
      op = { op: what === "CREATE" ? "stream_add" : "stream_update", ...common, owner, peers, subjects, created: sa?.created ?? new Date().toISOString(), ...(move !== undefined ? { move } : restacked ? { move: null } : {}), ...(scale !== undefined ? { scale } : {}) };
    }
    this.proposeMeta(op);
    if (op.op === "stream_add") this.proposedCreates.set(`${account}\u0000${name}`, { until: Date.now() + PROPOSED_CREATE_MS, peers: op.peers ?? [], config: op.body });
  }

  /**
   * A scale-down to one replica of a stream this meta leader holds no copy of: its info, answered
   * by its leader, names the member that keeps it (as nats-server's meta leader asks the stream's
   * leader), then the update is proposed.
   */
  private proposeWithStreamLeader(account: string, what: string, name: string, body: Buffer, reply: string, hdr: Buffer | undefined): void {
    const jsa = this.service.accounts.get(account);
    if (jsa === undefined) return;
    askEach(jsa.account, this.self, [`$JS.API.STREAM.INFO.${name}`], LIST_GATHER_MS, ([info]) => {
      const leader = (info?.cluster as { leader?: unknown } | undefined)?.leader;
      try {
        if (!this.isLeader) throw jsError("JSClusterNotAvailErr");
        const sa = this.assignment(account, name);
        if (sa === undefined) throw jsError("JSStreamNotFoundErr");
        this.propose(account, what, name, sa, body, reply, hdr, typeof leader === "string" ? leader : "");
      } catch (err) {
        this.answerError(jsa, `STREAM.${what}.${name}`, reply, err instanceof ApiError ? err : jsError("JSClusterNotAvailErr"));
      }
    }, "jetstream-cluster-scale-leader");
  }

  /** Creates this meta leader proposed and that are not applied yet, by account and name, with when they lapse (a lost proposal). */
  private readonly proposedCreates = new Map<string, { until: number; peers: string[]; config: string }>();

  /** The servers and config (base64) of every stream assigned, and of the creates proposed and not applied yet (placement counts both). */
  private *placedStreams(): Generator<{ peers: string[]; config: string | undefined }> {
    for (const m of this.streams.values()) for (const sa of m.values()) yield { peers: peersOf(sa), config: sa.config };
    const now = Date.now();
    for (const [key, p] of this.proposedCreates) {
      const [acc, stream] = key.split("\u0000") as [string, string];
      if (p.until >= now && this.streams.get(acc)?.has(stream) !== true) yield p;
    }
  }

  /**
   * The account's stream count and reservations over every server, checked before a create or
   * an update (of `sa`) is proposed, as nats-server's meta leader does: the meta group's streams
   * of the account and the creates proposed meanwhile. Each server checked only what it held, so
   * an account could have max_streams streams on every server, and R1 streams' max_bytes on
   * different servers passed. An update whose config does not normalize, or that its stream does
   * not allow, is left to the stream's server, which answers its error (nats-server checks those first).
   */
  private checkAccountLimits(account: string, name: string, body: Buffer, sa: StreamAssignment | undefined): void {
    const jsa = this.service.accounts.get(account);
    if (jsa === undefined) return;
    const opts = { clustered: true, maxDuplicateWindowNs: maxDuplicateWindowNs(this.service.options) };
    // A create's config is checked here as its server would (an error is the answer): refused
    // there after its assignment was committed, the assignment stayed (STREAM.NAMES listed it).
    if (sa === undefined) return jsa.checkClusterStreamLimits(createRequest(name, body, true, this.service.options), ...this.countedFor(account, name));
    let cfg: StreamConfig;
    try {
      cfg = normalizeStreamConfig(parseConfig(body) as StreamConfigRequest, opts);
      if (sa.config !== undefined) checkStreamUpdate(normalizeStreamConfig(parseConfig(Buffer.from(sa.config, "base64")) as StreamConfigRequest, opts), cfg);
    } catch {
      return;
    }
    jsa.checkClusterStreamLimits(cfg, ...this.countedFor(account, name), countedOf(sa).replicas);
  }

  /** The account's assigned streams as its limits count them, and the creates proposed meanwhile (other than `name`). */
  private countedFor(account: string, name: string): [CountedStream[], number] {
    const assigned = this.streams.get(account);
    const now = Date.now();
    let pending = 0;
    for (const [key, { until }] of this.proposedCreates) {
      const [acc, stream] = key.split("\u0000") as [string, string];
      if (until < now) this.proposedCreates.delete(key);
      else if (acc === account && stream !== name && assigned?.has(stream) !== true) pending++;
    }
    return [[...(assigned?.values() ?? [])].map(countedOf), pending];
  }

  /**
   * An update of a replicated stream whose placement changed is a move, as in nats-server 2.15:
   * the servers the placement picks now (errors as for a create) join the stream's group, and
   * once they caught up the ones it leaves go (StreamReplica.syncMembers, then `moveSettled`).
   * A move and a change of replicas in one update are refused, and so is any of the two while a
   * move is on. undefined: not a move (or the placement picks the servers it is on).
   */
  private moveRequested(sa: StreamAssignment, cfg: Record<string, unknown>, replicas: number): StreamMove | undefined {
    const prevCfg = sa.config !== undefined ? parseConfig(Buffer.from(sa.config, "base64")) : {};
    const prevReplicas = replicasIn(prevCfg);
    const placement = normalPlacement(cfg.placement);
    const moving = placement !== undefined && JSON.stringify(placement) !== JSON.stringify(normalPlacement(prevCfg.placement) ?? null);
    const scaling = replicas !== prevReplicas;
    if (moving && scaling) throw jsError("JSStreamMoveAndScaleErr");
    // (A scale while a scale-down is under way replaces it: see propose.)
    if (sa.move !== undefined && (moving || (scaling && sa.move.scaleDown !== true))) throw jsError("JSStreamMoveInProgressErr");
    if (!moving) return undefined;
    const from = peersOf(sa);
    // A single replica stays where it is when its server fits the new placement.
    if (from.length <= 1 && this.failedTag(from[0], placementTags(placement.tags)) === undefined) return undefined;
    const to = this.place(cfg, replicas);
    if (to.length === from.length && to.every((p) => from.includes(p))) return undefined;
    const origin: StreamMove["origin"] = { peers: from, replicas: prevReplicas };
    const before = normalPlacement(prevCfg.placement);
    if (before !== undefined) origin.placement = before;
    this.service.log.info(`JetStream cluster: moving stream '${sa.account} > ${sa.name}' from [${from.join(", ")}] to [${to.join(", ")}]`);
    return { peers: to, created: new Date().toISOString(), origin };
  }

  /**
   * STREAM.CANCEL_MOVE (and ACCOUNT.STREAM.CANCEL_MOVE from the system account) on the meta
   * leader: the stream goes back to the configuration and servers it had before the move (the
   * servers it was going to leave its group again); answered by the stream's leader.
   */
  cancelMove(account: string, name: string, reply: string, answerAs: string, answerSys = false): typeof PENDING {
    const sa = this.assignment(account, name);
    if (sa === undefined) throw jsError("JSStreamNotFoundErr");
    const m = sa.move;
    if (m === undefined) throw jsError("JSStreamReconfigureNotInProgressErr");
    const op: MetaOp = {
      op: "stream_update",
      account,
      name,
      owner: m.origin.peers.includes(sa.owner) ? sa.owner : m.origin.peers[0],
      peers: [...m.origin.peers, ...peersOf(sa).filter((p) => !m.origin.peers.includes(p))],
      subjects: sa.subjects,
      created: sa.created,
      body: Buffer.from(JSON.stringify(revertedConfig(sa, m))).toString("base64"),
      reply,
      move: { peers: m.origin.peers, created: m.created, origin: m.origin },
      answerType: answerAs,
      ...(answerSys ? { answerSys } : {}),
    };
    this.service.log.info(`JetStream cluster: move of stream '${account} > ${name}' cancelled: back to [${m.origin.peers.join(", ")}]`);
    this.proposeMeta(op);
    return PENDING;
  }

  /**
   * ACCOUNT.STREAM.MOVE.<account>.<stream> from the system account, on the meta leader: one of
   * the stream's servers (`server`, else its first) is replaced by another that carries the
   * stream's placement tags and `tags`, as a move (the new server catches up, then the other
   * leaves); answered with the stream's info by its leader, in the system account.
   */
  systemMove(account: string, name: string, body: Buffer, reply: string, answerSys = true): typeof PENDING {
    const req = decodeRequest<{ server?: string; cluster?: string; domain?: string; tags?: string[] }>(body, STREAM_MOVE_SHAPE, "JSApiMetaServerStreamMoveRequest") ?? {};
    if (this.service.accounts.get(account) === undefined) throw jsError("JSNoAccountErr");
    const sa = this.assignment(account, name);
    if (sa === undefined) throw jsError("JSStreamNotFoundErr");
    if (sa.move !== undefined) throw jsError("JSStreamMoveInProgressErr");
    const peers = peersOf(sa);
    let from = peers[0];
    if (req.server) {
      const known = [...(this.node?.config.voters ?? []), ...(this.node?.config.learners ?? [])];
      if (!known.includes(req.server) || (req.cluster && req.cluster !== this.clusterName)) throw jsError("JSClusterServerNotMemberErr");
      if (!peers.includes(req.server)) throw jsError("JSClusterPeerNotMemberErr");
      from = req.server;
    }
    if (sa.config === undefined) throw jsError("JSPeerRemapErr");
    const { peers: during, move } = this.moveOff(sa, from, req.tags ?? []);
    this.service.log.info(`JetStream cluster: requested move of stream '${account} > ${name}' from [${peers.join(", ")}] to [${move.peers.join(", ")}]`);
    const op: MetaOp = {
      op: "stream_update",
      account,
      name,
      owner: sa.owner,
      peers: during,
      subjects: sa.subjects,
      created: sa.created,
      body: sa.config,
      reply,
      move,
      ...(answerSys ? { answerSys } : {}),
    };
    this.proposeMeta(op);
    return PENDING;
  }

  /**
   * A stream's group has exactly the servers of its move (its leader said so): the move ends.
   * Scaling down, a removal: the servers left (all it kept and some of the others) are recorded.
   */
  private readonly onMoveSettled = (payload: Buffer): void => {
    if (!this.isLeader || this.node?.leaderReady !== true) return;
    const m = assetNotice(payload);
    if (m === undefined || !Array.isArray(m.peers) || !m.peers.every((p): p is string => typeof p === "string")) return;
    const sa = this.assignment(m.account, m.name);
    if (typeof m.picked === "string") {
      // The servers of a scale-down picked (the same scale-down still): recorded, its consumers
      // follow. The stream's leader says which it keeps (as nats-server's stream leader selects
      // them): this meta leader named servers before, from the assignment's order, and a
      // stopped one among them left the smaller group without its quorum. (A leader of an
      // older version says none: the servers named stay.)
      if (sa?.move === undefined || !picking(sa.move) || sa.move.created !== m.picked) return;
      const order = Array.isArray(m.keep) ? m.keep.filter((p): p is string => typeof p === "string" && sa.peers.includes(p)) : [];
      const kept = [...new Set([...order, ...sa.move.peers, ...sa.peers])].slice(0, sa.move.peers.length);
      if (order.length > 0 && !sameServers(kept, sa.move.peers)) this.service.log.info(`JetStream cluster: stream '${m.account} > ${m.name}' scales down to [${kept.join(", ")}], picked by its leader`);
      try {
        this.proposePeers(m.account, m.name, sa.peers, { ...sa.move, peers: order.length > 0 ? kept : sa.move.peers, picked: true }, sa.move.created);
      } catch {
        // asked again by the stream's leader
      }
      return;
    }
    // (A scale-up's servers are all in its group: it ends the same way.)
    const to = sa?.move?.peers ?? (sa?.scale !== undefined ? sa.peers : undefined);
    const peers = m.peers;
    if (sa === undefined || to === undefined || !to.every((p) => peers.includes(p))) return;
    const done = peers.length === to.length;
    const removal = sa.move?.scaleDown === true && !done && peers.every((p) => sa.peers.includes(p)) && peers.length < sa.peers.length;
    if (!done && !removal) return;
    const key = `${m.account}\u0000${m.name}\u0000${peers.join(",")}`;
    if (this.settling.has(key)) return;
    this.settling.add(key);
    setTimeout(() => this.settling.delete(key), ELECTION_MAX_MS).unref();
    if (done) this.service.log.info(`JetStream cluster: stream '${m.account} > ${m.name}' ${sa.move === undefined ? "scaled up" : sa.move.scaleDown === true ? "scaled down" : "moved"} to [${to.join(", ")}]`);
    try {
      this.proposePeers(m.account, m.name, done ? [...to] : [...peers], done ? null : undefined, sa.move?.created);
    } catch {
      // asked again by the stream's leader
    }
  };

  /**
   * A scale-down whose servers its stream's leader has not said it picked within
   * pickFallbackMs: the meta leader records the pick itself (the servers it named in the move,
   * as nats-server's meta leader chose them itself before its stream leaders selected them). A
   * stream led by an older tsnats (from before the pick, e1ad756) never says it, and its
   * scale-down stalled for good in a rolling upgrade: that leader waits for the consumers'
   * groups to move onto the servers kept, which this version's consumer leaders start only once
   * the pick is recorded. Re-armed while the move is still picking (a meta leader elected
   * meanwhile, a proposal lost); a leader of this version says it within a few hundred ms.
   */
  private watchPick(account: string, name: string): void {
    const key = `${account}\u0000${name}`;
    const move = this.assignment(account, name)?.move;
    if (this.stopped || this.pickWatches.has(key) || move === undefined || !picking(move) || !Number.isFinite(JsCluster.pickFallbackMs)) return;
    const timer = setTimeout(() => {
      this.pickWatches.delete(key);
      const sa = this.assignment(account, name);
      if (sa?.move === undefined || !picking(sa.move)) return;
      if (sa.move.created === move.created && this.isLeader && this.node?.leaderReady === true) {
        this.service.log.info(`JetStream cluster: stream '${account} > ${name}': its leader said no pick for its scale-down; the meta leader picks [${sa.move.peers.join(", ")}]`);
        try {
          this.proposePeers(account, name, sa.peers, { ...sa.move, picked: true }, sa.move.created);
        } catch {
          // proposed again at the next turn
        }
      }
      this.watchPick(account, name);
    }, JsCluster.pickFallbackMs);
    timer.unref();
    this.pickWatches.set(key, timer);
  }

  /** The scale-downs waiting for their pick, by account and stream: when the meta leader picks instead (watchPick). */
  private readonly pickWatches = new Map<string, NodeJS.Timeout>();

  /** Single-replica durables that come back after their stream's group ended here (it runs alone now). */
  /** The hand-overs this server sends until answered, kept on its disk (sendHandOvers). */
  private readonly pendingHandovers = new PendingHandovers(
    () => this.service.storeDir,
    () => this.service.options.encryption,
    (msg) => this.service.log.warn(`JetStream cluster: ${msg}`),
  );
  /** Read at start, sent again once the meta group caught up (undefined: done). */
  private owedAtStart: OwedHandovers[] | undefined;

  private readonly lateHandovers = new LateHandovers(
    (stream) => {
      const peers = this.assignedPeers(stream);
      return peers === undefined ? undefined : stream.replica === undefined && peers.join() === this.self;
    },
    (msg) => this.service.log.info(`JetStream cluster: ${msg}`),
    (group) => {
      for (const jsa of this.service.accounts.values()) for (const s of jsa.streams.values()) if (streamGroupName(jsa.account.name, s.name) === group) return s;
      return undefined;
    },
  );

  /** Moves whose end was proposed lately (the stream's leader repeats its notice until the end is committed). */
  private readonly settling = new Set<string>();

  /** The servers a stream moves to, while it moves (the group's leader brings the membership there); a scale-down's once its servers are picked. */
  movingTo(stream: Stream): string[] | undefined {
    const move = this.assignment(stream.jsa.account.name, stream.name)?.move;
    return move !== undefined && !picking(move) ? move.peers : undefined;
  }

  /** Is the stream's scale-down waiting for its leader to pick its servers (nothing moves meanwhile)? */
  scaleDownPicking(stream: Stream): boolean {
    const move = this.assignment(stream.jsa.account.name, stream.name)?.move;
    return move !== undefined && picking(move);
  }

  /**
   * The stream's leader picked the servers of its scale-down: the meta leader records it
   * (`$JSC.MOVED` with `picked`, the scale-down's creation time, and `keep`, the members in the
   * order that leader keeps them: itself, then the live ones).
   */
  scaleDownPicked(stream: Stream, order: string[]): void {
    const move = this.assignment(stream.jsa.account.name, stream.name)?.move;
    if (move === undefined || !picking(move)) return;
    this.service.server.systemAccount?.publish("$JSC.MOVED", "", undefined, Buffer.from(JSON.stringify({ account: stream.jsa.account.name, name: stream.name, peers: move.origin.peers, picked: move.created, keep: order })));
  }

  /** The stream's group has the servers of its move: the meta leader ends the move (`$JSC.MOVED`, a system account message). */
  moveSettled(stream: Stream, peers: string[]): void {
    this.service.server.systemAccount?.publish("$JSC.MOVED", "", undefined, Buffer.from(JSON.stringify({ account: stream.jsa.account.name, name: stream.name, peers })));
  }

  scalingDown(stream: Stream): boolean {
    const move = this.assignment(stream.jsa.account.name, stream.name)?.move;
    return move?.scaleDown === true && !picking(move);
  }

  /** The servers of a scale-up (for its cluster info), while its assignment shows one. */
  scalingTo(stream: Stream): string[] | undefined {
    const sa = this.assignment(stream.jsa.account.name, stream.name);
    return sa?.scale !== undefined && sa.move === undefined ? peersOf(sa) : undefined;
  }

  /**
   * `desired` of a stream's `cluster` info while it moves, as nats-server 2.15 shows it (status
   * from the group's leader); also while a scale-up's servers join (nats-server 2.15 shows that
   * the same way, on the group's leader: gone once the meta group heard they are all in).
   */
  moveInfo(stream: Stream, status: MembershipStatus | undefined): Record<string, unknown> | undefined {
    const sa = this.assignment(stream.jsa.account.name, stream.name);
    let m = sa?.move;
    if (m === undefined && sa?.scale !== undefined && status !== undefined) {
      m = { peers: peersOf(sa), created: sa.scale.created, origin: { peers: [], replicas: sa.scale.origin.replicas } };
      status = { ...status, reporting: true };
    }
    if (m === undefined) return undefined;
    const origin: Record<string, unknown> = { replicas: m.origin.replicas };
    if (m.origin.placement !== undefined) origin.placement = m.origin.placement;
    const out: Record<string, unknown> = { created: m.created, name: this.clusterName, replicas: m.peers.map((p) => ({ name: p, peer: peerIdOf(p) })), origin };
    // (Scaling down, until the group's leader picked the servers it keeps.)
    if (status !== undefined) out.status = migrationStatus(picking(m) ? { ...status, selecting: true } : status);
    return out;
  }

  private checkOverlap(account: string, name: string, subjects: string[]): void {
    for (const other of this.streams.get(account)?.values() ?? []) {
      if (other.name === name) continue;
      for (const a of subjects) for (const b of other.subjects) if (subjectsCollide(a, b)) throw jsError("JSStreamSubjectOverlapErr");
    }
  }

  /** The placement cluster a stream must be in (this cluster, or none can hold it). */
  private checkPlacement(cfg: Record<string, unknown>): void {
    const placement = (cfg.placement ?? {}) as { cluster?: unknown };
    if (typeof placement.cluster === "string" && placement.cluster !== "" && placement.cluster !== this.clusterName) {
      throw jsError("JSClusterNoPeersErrF", { err: "no suitable peers for placement" });
    }
  }

  /**
   * The first of the placement's tags the server fails, in the order asked: one it lacks, or a
   * `!tag` it has (tags compare as servers keep them: lower case). nats-server 2.15 names only
   * that one for the server in its refusal.
   */
  private failedTag(server: string, checks: readonly PlacementTag[]): PlacementTag | undefined {
    if (checks.length === 0) return undefined;
    const tags = this.cluster.serverTags(server) ?? [];
    return checks.find((c) => tags.includes(c.tag) === c.exclude);
  }

  /** The value of the server's tag under `jetstream { unique_tag }` (e.g. "az:1"), if it has one. */
  private uniqueTagOf(server: string, prefix: string): string | undefined {
    return (this.cluster.serverTags(server) ?? []).find((t) => t.startsWith(prefix));
  }

  /**
   * The servers of `candidates` that cannot reserve the stream's max_bytes: their store limit
   * (max_mem_store or max_file_store, as their route INFO tells) less the max_bytes of the
   * streams the meta group assigned to them. A stream without max_bytes reserves nothing.
   */
  private withoutRoom(cfg: Record<string, unknown>, candidates: Iterable<string>): string[] {
    const maxBytes = typeof cfg.max_bytes === "number" ? cfg.max_bytes : -1;
    if (maxBytes <= 0) return [];
    const memory = cfg.storage === "memory";
    const out: string[] = [];
    for (const id of candidates) {
      const limits = this.cluster.serverJsLimits(id);
      const limit = memory ? limits?.max_memory : limits?.max_storage;
      if (limit === undefined) continue;
      let reserved = 0;
      for (const placed of this.placedStreams()) {
        if (placed.config === undefined || !placed.peers.includes(id)) continue;
        const other = parseConfig(Buffer.from(placed.config, "base64"));
        if ((other.storage === "memory") === memory && typeof other.max_bytes === "number" && other.max_bytes > 0) reserved += other.max_bytes;
      }
      if (reserved + maxBytes > limit) out.push(id);
    }
    return out;
  }

  /**
   * Choose servers for a stream: members online with the fewest streams first (the first one is
   * its owner), then members offline, other than those in `exclude` (the stream's servers
   * already, a server removed). `staying` are the servers the stream keeps, whose `unique_tag`
   * values are taken already.
   */
  private place(cfg: Record<string, unknown>, replicas: number, exclude: string[] = [], staying: string[] = exclude): string[] {
    this.checkPlacement(cfg);
    const placement = (cfg.placement ?? {}) as { preferred?: unknown; tags?: unknown };
    const checks = placementTags(placement.tags);
    // Online: servers heard from lately that a route leads to, as nats-server places on peers not
    // marked offline (a follower a few entries behind, just after an election, can hold a new
    // stream too; a server that shut down is offline at once, its routes closed).
    const online = new Set([this.self, ...[...this.heardPeers(true)].filter((id) => this.reachable(id)), ...JsCluster.placeableUnheard]);
    // Offline ones this server knows (their tags and limits from their last route INFO) are
    // candidates too, after those online: nats-server keeps a stopped server's node info and
    // places on it while the servers online make a quorum of the stream's replicas.
    const current = new Set(online);
    // A peer of the meta group this server never heard from since it started (no route INFO):
    // nats-server has no node info for it and names it "miscellaneous issue" when placement fails.
    let unknown = false;
    for (const id of this.node?.config.voters ?? []) {
      if (this.cluster.serverTags(id) !== undefined) current.add(id);
      else if (!online.has(id)) unknown = true;
    }
    for (const id of exclude) current.delete(id);
    // A server passed over adds one reason to a refusal, the first check it fails, in nats-server
    // 2.15's order: tags (its first failing tag), room, max_ha_assets, unique_tag.
    const missing = new Set<string>();
    const excluded = new Set<string>();
    for (const id of [...current]) {
      const failed = this.failedTag(id, checks);
      if (failed === undefined) continue;
      (failed.exclude ? excluded : missing).add(failed.shown);
      current.delete(id);
    }
    // A server whose store limit the stream's max_bytes does not fit in, beside what the streams
    // assigned to it reserve, takes no replica (nats-server: "insufficient storage").
    const roomless = this.withoutRoom(cfg, current);
    for (const id of roomless) current.delete(id);
    const count = new Map<string, number>();
    for (const id of current) count.set(id, 0);
    const ha = new Map<string, number>();
    for (const { peers } of this.placedStreams()) {
      for (const p of peers) {
        if (count.has(p)) count.set(p, (count.get(p) ?? 0) + 1);
        if (peers.length > 1) ha.set(p, (ha.get(p) ?? 0) + 1);
      }
    }
    // jetstream `limits { max_ha_assets }`: a server that holds that many replicated streams takes no more.
    const maxHa = this.service.options.limits?.maxHaAssets ?? 0;
    let haFull = false;
    if (replicas > 1 && maxHa > 0) {
      for (const id of [...count.keys()]) {
        if ((ha.get(id) ?? 0) < maxHa) continue;
        count.delete(id);
        haFull = true;
      }
    }
    const ranked = [...count.keys()].sort((a, b) => Number(!online.has(a)) - Number(!online.has(b)) || (count.get(a) ?? 0) - (count.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
    if (typeof placement.preferred === "string" && count.has(placement.preferred)) {
      ranked.splice(ranked.indexOf(placement.preferred), 1);
      ranked.unshift(placement.preferred);
    }
    // `unique_tag`: the replicas go to servers with different values of that tag (say, one per
    // availability zone), counting the zones of the servers the stream keeps; a server without the
    // tag takes no replica, even of a single one. A placement that names a value of the unique
    // tag itself (a zone, or `!zone`) turns the check off.
    const prefix = this.service.server.options.jetstream.uniqueTag ?? "";
    let notUnique = false;
    let pool = ranked;
    if (prefix !== "" && !checks.some((c) => c.tag.startsWith(prefix))) {
      const used = new Set(staying.map((id) => this.uniqueTagOf(id, prefix)).filter((t): t is string => t !== undefined));
      pool = ranked.filter((id) => {
        const value = this.uniqueTagOf(id, prefix);
        if (value === undefined || used.has(value)) {
          notUnique = true;
          return false;
        }
        used.add(value);
        return true;
      });
    }
    const refusal = (offline: boolean): ApiError =>
      jsError("JSClusterNoPeersErrF", {
        err:
          "no suitable peers for placement" +
          (offline ? ", peer offline" : "") +
          (roomless.length > 0 ? ", insufficient storage" : "") +
          (notUnique ? ", server tag not unique" : "") +
          (haFull || unknown ? ", miscellaneous issue" : "") +
          tagReason("tags not matched", missing) +
          tagReason("tags excluded", excluded),
      });
    if (pool.length < replicas) throw refusal(false);
    // Enough servers, but too few online for the group to elect a leader (with the servers it
    // keeps): nats-server's "peer offline".
    const onlineCount = pool.filter((id) => online.has(id)).length;
    if (onlineCount + staying.length < Math.floor((replicas + staying.length) / 2) + 1) throw refusal(true);
    return pool.slice(0, replicas);
  }

  /**
   * STREAM.PEER.REMOVE|EVACUATE on the meta leader: the server (by name or nats-server's peer id)
   * leaves the stream's group and another server takes its place. REMOVE takes it out at once
   * (the new one catches up from the group's leader); EVACUATE is a move: the new server joins,
   * and the evacuated one leaves once it caught up. A single replica always moves that way (its
   * messages are only there). Without a server to take its place nothing changes: "peer remap
   * failed", as nats-server 2.15 answers these requests.
   */
  private streamPeerRemap(account: string, sa: StreamAssignment | undefined, body: Buffer, kind: "REMOVE" | "EVACUATE"): Record<string, unknown> {
    const req = requestedPeer(body, kind === "REMOVE" ? "JSApiStreamRemovePeerRequest" : "JSApiStreamEvacuatePeerRequest");
    if (sa === undefined) throw jsError("JSStreamNotFoundErr");
    const peers = peersOf(sa);
    const peer = memberNamed(peers, req);
    if (peer === undefined) throw jsError("JSClusterPeerNotMemberErr");
    if (sa.config === undefined) throw jsError("JSPeerRemapErr");
    let off: { peers: string[]; move: StreamMove };
    try {
      off = this.moveOff(sa, peer);
    } catch (err) {
      if (err instanceof ApiError) throw jsError("JSPeerRemapErr");
      throw err;
    }
    if (peers.length === 1 || kind === "EVACUATE") {
      // A move: the new server joins the group and catches up (a single replica's messages are
      // only on the server it leaves), then the old one leaves. nats-server 2.15 moves a single
      // replica at once, without the copy.
      if (sa.move !== undefined) throw jsError("JSStreamMoveInProgressErr");
      this.proposePeers(account, sa.name, off.peers, off.move);
    } else this.proposePeers(account, sa.name, off.move.peers);
    this.service.log.info(`JetStream cluster: stream '${account} > ${sa.name}': ${peer} replaced by ${off.move.peers[off.move.peers.length - 1]}`);
    return { success: true };
  }

  /**
   * A move of a stream off `from`: its servers meanwhile (those it has and the one taking the
   * place of `from`) and the move (where it goes, where it came from for a cancel). Throws
   * when no server can take the place of `from`.
   */
  private moveOff(sa: StreamAssignment, from: string, tags: string[] = []): { peers: string[]; move: StreamMove } {
    const peers = peersOf(sa);
    const cfg = parseConfig(Buffer.from(sa.config ?? "", "base64"));
    const placement = { ...((cfg.placement as Record<string, unknown> | undefined) ?? {}) };
    if (tags.length > 0) placement.tags = [...((placement.tags as string[] | undefined) ?? []), ...tags];
    const staying = peers.filter((p) => p !== from);
    const added = this.place({ ...cfg, placement }, 1, [...peers], staying);
    const replicas = typeof cfg.num_replicas === "number" && cfg.num_replicas > 0 ? cfg.num_replicas : 1;
    const origin: StreamMove["origin"] = { peers, replicas };
    const before = normalPlacement(cfg.placement);
    if (before !== undefined) origin.placement = before;
    return { peers: [...peers, ...added], move: { peers: [...staying, ...added], created: new Date().toISOString(), origin } };
  }

  /**
   * CONSUMER.PEER.REMOVE|EVACUATE: answered by the server that holds the consumer's state (the
   * member holding a single-replica consumer, else the stream's leader), or by the meta leader
   * when the stream does not exist.
   */
  private consumerPeerRemap(jsa: JsAccount, sa: StreamAssignment | undefined, t: string[], body: Buffer, reply: string, hdr: Buffer | undefined, kind: "REMOVE" | "EVACUATE", leader: boolean): Intercept {
    if (sa === undefined) {
      if (!leader) return SKIP;
      requestedPeer(body, kind === "REMOVE" ? "JSApiConsumerRemovePeerRequest" : "JSApiConsumerEvacuatePeerRequest");
      throw jsError("JSStreamNotFoundErr");
    }
    const stream = jsa.streams.get(sa.name);
    const host = stream?.replica?.ephemeralHost(t[4]);
    if (host !== undefined && host !== this.self) return SKIP;
    if (host === undefined && !this.answersHere(sa)) return this.answerLeaderless(jsa, sa, t, body, reply, hdr);
    return consumerPeerRemap(stream, t[4], this.self, body, kind);
  }

  /** The meta group's members (only voters, or learners too) that answered this leader within an election timeout. */
  private heardPeers(votersOnly: boolean): Set<string> {
    return heardIn(this.node as RaftNode, votersOnly);
  }

  /** A change of the meta group's state: proposed by its leader, applied by every server once committed. */
  /**
   * ACCOUNT.PURGE on the meta leader: every stream of the account (and with it its consumers)
   * is deleted through the meta log. Returns how many deletions were proposed.
   */
  purgeAccount(account: string): number {
    const names = [...(this.streams.get(account)?.keys() ?? [])];
    for (const name of names) this.proposeMeta({ op: "stream_del", account, name, body: "", reply: "" });
    this.service.log.info(`Purge request for account ${account} (streams: ${names.length}, hasAccount: ${names.length > 0})`);
    return names.length;
  }

  private proposeMeta(op: MetaOp): void {
    try {
      (this.node as RaftNode).propose(Buffer.from(JSON.stringify(op)));
    } catch (err) {
      if (err instanceof RaftError) throw jsError("JSClusterNotAvailErr");
      throw err;
    }
  }

  private proposePeers(account: string, name: string, peers: string[], move?: StreamMove | null, during?: string): void {
    const op: MetaOp = { op: "stream_peers", account, name, peers, ...(move !== undefined ? { move } : {}), ...(during !== undefined ? { during } : {}) };
    this.proposeMeta(op);
  }

  /**
   * STREAM/CONSUMER.LEADER.STEPDOWN on the group's leader: hand the leadership over (placement
   * may name the next). A single replica has no group: nothing to hand over, which nats-server
   * answers as a success before it reads the request.
   */
  private groupStepDown(replica: StreamReplica | undefined, body: Buffer): Record<string, unknown> {
    if (replica === undefined) return { success: true };
    const preferred = this.stepDownTarget(replica.node, body);
    if (!replica.node.stepDown(preferred)) throw jsError("JSClusterNoPeersErrF", { err: "no replacement peer connected" });
    return { success: true };
  }

  /** CONSUMER.LEADER.STEPDOWN of a replicated consumer, on its group's leader (placement may name the next). */
  private consumerStepDown(replica: StreamReplica, name: string, body: Buffer): Record<string, unknown> {
    const group = replica.consumerGroupNode(name);
    if (group === undefined) throw jsError("JSClusterNotAvailErr");
    replica.consumerStepDown(name, this.stepDownTarget(group, body));
    return { success: true };
  }

  /**
   * META.LEADER.STEPDOWN from the system account, on the meta leader: hand the leadership to
   * `placement.preferred`, or to a current member matching `placement.cluster`/`tags`.
   */
  metaStepDown(body: Buffer): Record<string, unknown> {
    const node = this.node as RaftNode;
    const preferred = this.stepDownTarget(node, body);
    if (!node.stepDown(preferred)) throw jsError("JSClusterNoPeersErrF", { err: "no replacement peer connected" });
    return { success: true };
  }

  /**
   * The next leader a LEADER.STEPDOWN asks for, among the voters of a group this server leads:
   * `placement.preferred`, or a member it hears from matching `placement.cluster`/`tags`;
   * undefined: any. Options are read only from a JSON object or array, as nats-server does.
   */
  private stepDownTarget(group: RaftNode, body: Buffer): string | undefined {
    const voters = group.config.voters;
    if (!isJsonObjectOrArray(body)) return undefined;
    const placement = decodeRequest<{ placement?: { cluster?: string; tags?: string[]; preferred?: string } }>(body, STEPDOWN_SHAPE, "JSApiLeaderStepdownRequest")?.placement;
    if (placement === undefined) return undefined;
    if (placement.preferred) {
      if (placement.preferred === this.self) throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${placement.preferred}" is already leader` });
      if (!voters.includes(placement.preferred)) throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${placement.preferred}" not known` });
      return placement.preferred;
    }
    // A member heard from, or whose server a route reaches (nats-server: not marked offline): a
    // leader elected a moment ago has not heard from its members yet.
    const heard = heardIn(group, true);
    const possible = voters.filter(
      (id) => id !== this.self && (heard.has(id) || this.reachable(id)) && (!placement.cluster || placement.cluster === this.clusterName) && this.failedTag(id, placementTags(placement.tags)) === undefined,
    );
    if (possible.length === 0) throw jsError("JSClusterNoPeersErrF", { err: "no replacement peer connected" });
    return possible[Math.floor(Math.random() * possible.length)];
  }

  /** A SERVER.REMOVE this meta leader proposed: answered once the removal is committed. */
  private serverRemoval: { peer: string; index: number; answer: (json: string) => void } | undefined;

  /**
   * SERVER.REMOVE from the system account, on the meta leader: the server (by name, `peer`, or
   * by nats-server's peer id, `peer_id`) leaves the meta group; the answer goes out once that
   * is committed (undefined is returned then).
   */
  serverRemove(body: Buffer, answer: (json: string) => void): Record<string, unknown> | undefined {
    const node = this.node as RaftNode;
    if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
    const req = decodeRequest<{ peer?: string; peer_id?: string }>(body, SERVER_REMOVE_SHAPE, "JSApiMetaServerRemoveRequest") ?? {};
    if (this.serverRemoval !== undefined) throw jsError("JSClusterServerMemberChangeInflightErr");
    const members = [...node.config.voters, ...node.config.learners];
    const found = req.peer_id ? members.find((id) => peerIdOf(id) === req.peer_id) : members.find((id) => id === req.peer);
    if (found === undefined) throw jsError("JSClusterServerNotMemberErr");
    let index: number;
    try {
      index = node.removePeer(found);
    } catch (err) {
      if (err instanceof RaftError && err.code === "config_pending") throw jsError("JSClusterServerMemberChangeInflightErr");
      if (err instanceof RaftError) throw jsError("JSRaftGeneralErrF", { err: err.message });
      throw err;
    }
    this.serverRemoval = { peer: found, index, answer };
    this.service.log.info(`JetStream cluster: removing server '${found}' from the meta group`);
    this.moveAssetsOff(found);
    // Committed (or given up when this server stops leading): polled, a rare request.
    const poll = setInterval(() => {
      if (this.stopped || this.serverRemoval?.index !== index) clearInterval(poll);
      else this.metaConfigChanged();
    }, 50);
    poll.unref();
    return undefined;
  }

  /**
   * A server leaves the cluster (removed), or is evacuated (it stays): each replicated stream it
   * held gets another server in its place when one is available, or goes on without it. Evacuated,
   * a stream moves there (the new server joins, the evacuated one leaves once it caught up), a
   * single-replica stream too; removed, a single-replica stream stays assigned to it (its messages
   * are only there), with a warning.
   */
  private moveAssetsOff(server: string, evacuate = false): void {
    for (const [account, m] of this.streams) {
      for (const sa of m.values()) {
        const peers = peersOf(sa);
        if (!peers.includes(server)) continue;
        if (evacuate && sa.move === undefined && sa.config !== undefined) {
          let off: { peers: string[]; move: StreamMove } | undefined;
          try {
            off = this.moveOff(sa, server);
          } catch {
            // no server to take its place: a replicated stream goes on without it, below
          }
          try {
            if (off !== undefined) {
              this.proposePeers(account, sa.name, off.peers, off.move);
              continue;
            }
          } catch (err) {
            this.service.log.warn(`JetStream cluster: stream '${account} > ${sa.name}' could not move off '${server}': ${(err as Error).message}`);
            continue;
          }
        }
        if (peers.length === 1) {
          this.service.log.warn(`JetStream cluster: stream '${account} > ${sa.name}' has its only replica on ${evacuate ? "evacuated" : "removed"} server '${server}'; left there`);
          continue;
        }
        const move = sa.move;
        let replacement: string[] = [];
        // A server the stream is moving off anyway just goes; one it moves to is replaced in the move too.
        if (move === undefined || move.peers.includes(server)) {
          try {
            if (sa.config !== undefined) replacement = this.place(parseConfig(Buffer.from(sa.config, "base64")), 1, [...peers], (move?.peers ?? peers).filter((p) => p !== server));
          } catch {
            // no server to take its place: the stream goes on with one replica fewer
          }
        }
        try {
          const target = move?.peers.includes(server) === true ? { ...move, peers: [...move.peers.filter((p) => p !== server), ...replacement] } : undefined;
          this.proposePeers(account, sa.name, [...peers.filter((p) => p !== server), ...replacement], target);
        } catch (err) {
          this.service.log.warn(`JetStream cluster: stream '${account} > ${sa.name}' could not move off '${server}': ${(err as Error).message}`);
        }
      }
    }
  }

  /**
   * SERVER.EVACUATE from the system account, on the meta leader: every stream the server (by
   * name, `peer`, or by nats-server's peer id, `peer_id`) holds moves off it, with its
   * consumers; the server stays in the meta group. Answered once the moves are proposed.
   */
  serverEvacuate(body: Buffer): Record<string, unknown> {
    const node = this.node as RaftNode;
    if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
    const req = decodeRequest<{ peer?: string; peer_id?: string }>(body, SERVER_REMOVE_SHAPE, "JSApiMetaServerRemoveRequest") ?? {};
    const members = [...node.config.voters, ...node.config.learners];
    const found = req.peer_id ? members.find((id) => peerIdOf(id) === req.peer_id) : members.find((id) => id === req.peer);
    if (found === undefined) throw jsError("JSClusterServerNotMemberErr");
    this.service.log.info(`JetStream cluster: evacuating server '${found}'`);
    this.moveAssetsOff(found, true);
    return { success: true };
  }

  /**
   * META.RESCUE from the system account, on every server (each answers for itself): unsafely
   * lower the meta group's quorum to `quorum_needed` for five minutes, so the servers left after
   * a disaster elect a leader and remove the lost ones (SERVER.REMOVE). Only while no meta
   * leader is known, on a voting member with a log (RaftNode.rescueQuorum). The answer, and on
   * success the system account's advisory. `levelUnmet`: the request needs a higher API level.
   */
  metaRescue(body: Buffer, levelUnmet = false): { answer: Record<string, unknown>; advisory?: { server: string; server_id: string; prev_quorum: number; new_quorum: number; cluster: string } } {
    const server = this.service.server;
    const who = { server: this.self, server_id: server.id };
    try {
      if (levelUnmet) throw jsError("JSRequiredApiLevelErr");
      if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
      const req = decodeRequest<{ quorum_needed?: number }>(body, RESCUE_SHAPE, "JSApiMetaRescueRequest") ?? {};
      const node = this.node;
      if (node === undefined) throw jsError("JSClusterNotAvailErr");
      let r: { prev: number; cur: number };
      try {
        r = node.rescueQuorum(req.quorum_needed ?? 0, RESCUE_MS);
      } catch (err) {
        if (err instanceof RaftError) throw jsError("JSClusterRescueErr", { err: err.message });
        throw err;
      }
      return {
        answer: { ...who, prev_quorum: r.prev, new_quorum: r.cur },
        advisory: { ...who, prev_quorum: r.prev, new_quorum: r.cur, cluster: this.clusterName },
      };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return { answer: { error: err.toJSON(), ...who } };
    }
  }

  /** The meta group's membership changed: a committed SERVER.REMOVE is answered. */
  private metaConfigChanged(): void {
    const r = this.serverRemoval;
    const node = this.node;
    if (r === undefined || node === undefined) return;
    if (node.commit >= r.index || !node.isLeader) {
      this.serverRemoval = undefined;
      const gone = !node.config.voters.includes(r.peer) && !node.config.learners.includes(r.peer);
      r.answer(
        JSON.stringify(
          gone && node.commit >= r.index
            ? { type: "io.nats.jetstream.api.v1.meta_server_remove_response", success: true }
            : { type: "io.nats.jetstream.api.v1.meta_server_remove_response", error: jsError("JSClusterNotAvailErr").toJSON() },
        ),
      );
    }
  }

  private streamNames(account: string, body: Buffer): Record<string, unknown> {
    const { total, offset, page } = this.streamPage(account, body, 1024);
    // nats-server's cluster lists null only when the account has no stream at all: a page past the end is [].
    return { total, offset, limit: 1024, streams: total > 0 ? page : null };
  }

  /** The account's assigned streams by name (those with a subject colliding with the request's `subject`), the page at its `offset`. */
  private streamPage(account: string, body: Buffer, limit: number): { total: number; offset: number; page: string[] } {
    // Options only from a JSON object or array, decoded as the request's struct (as on one server).
    const [shape, struct] = limit === 1024 ? [NAMES_SHAPE, "JSApiStreamNamesRequest"] : [LIST_SHAPE, "JSApiStreamListRequest"];
    const req = (isJsonObjectOrArray(body) ? decodeRequest<{ offset?: number; subject?: string }>(body, shape, struct, true, this.service.options.strict !== false) : undefined) ?? {};
    const filter = typeof req.subject === "string" && req.subject !== "" ? req.subject : undefined;
    const names = [...(this.streams.get(account)?.values() ?? [])].filter((sa) => filter === undefined || sa.subjects.some((s) => subjectsCollide(s, filter))).map((sa) => sa.name).sort();
    const total = names.length;
    const offset = Math.min(Math.max(0, typeof req.offset === "number" ? req.offset : 0), total);
    return { total, offset, page: names.slice(offset, offset + limit) };
  }

  /**
   * CONSUMER.LIST of a replicated stream whose single-replica consumers live on other members too
   * (or whose replicated ones have groups without this server), as nats-server's meta leader
   * lists a stream's consumer assignments: every consumer by name, paged, the total counting
   * them all; each on the page is this member's own, or asked of the member holding it
   * (CONSUMER.INFO), or, its server down, a stand-in entry (consumer_stand_in.ts) and missing;
   * one not answered in time is missing only.
   */
  private consumerList(jsa: JsAccount, stream: Stream, body: Buffer, reply: string, hdr: Buffer | undefined): typeof PENDING {
    const replica = stream.replica;
    // Replicated consumers whose group does not include this server (its copy's state is not theirs): their own servers tell.
    const elsewhere = new Set(replica?.consumersHeldElsewhere() ?? []);
    const remote = new Set([...(replica?.remoteEphemerals() ?? []), ...elsewhere]);
    const here = stream.publicConsumers().map((c) => c.name).filter((n) => !remote.has(n));
    const names = [...new Set([...here, ...remote])].sort();
    let offset = 0;
    try {
      const req = parseConfig(body) as { offset?: unknown };
      if (typeof req.offset === "number" && req.offset > 0) offset = Math.floor(req.offset);
    } catch {
      // the local handler answers the bad request
    }
    offset = Math.min(offset, names.length);
    const page = names.slice(offset, offset + CONSUMER_LIST_LIMIT);
    const standIns: Array<Record<string, unknown>> = [];
    const missing: string[] = [];
    const asked: string[] = [];
    for (const n of page) {
      if (!remote.has(n)) continue;
      const single = elsewhere.has(n) ? undefined : replica?.remoteSingleReplica(n);
      if (single !== undefined && !this.reachable(single.host)) {
        standIns.push(offlineStandIn(this.clusterName, single.host, single.known, consumerGroupName(jsa.account.name, stream.name, n)));
        missing.push(n);
      } else asked.push(n);
    }
    const acc = jsa.account;
    askEach(acc, this.self, asked.map((n) => `$JS.API.CONSUMER.INFO.${stream.name}.${n}`), LIST_GATHER_MS, (answers) => {
      const infos = new Map<string, Record<string, unknown>>();
      answers.forEach((info, i) => {
        if (info === undefined) return;
        // As a LIST item: the stored metadata, without this server's version keys.
        const cfg = info.config as { metadata?: Record<string, string> } | undefined;
        if (cfg?.metadata !== undefined) cfg.metadata = withoutDynamicMetadata(cfg.metadata);
        infos.set(asked[i], info);
      });
      // (Run through the local handler: a bad request is answered as a single server answers it.)
      jsa.executeApi(`CONSUMER.LIST.${stream.name}`, "", Buffer.from(JSON.stringify({ offset: 0 })), hdr, false, (out) => {
        let answer = out;
        try {
          const r = JSON.parse(out) as { error?: unknown; consumers?: unknown[] };
          if (r.error === undefined && Array.isArray(r.consumers)) {
            const listed: Array<Record<string, unknown>> = [...standIns];
            for (const n of page) {
              const c = remote.has(n) ? undefined : stream.consumers.get(n);
              const info = c !== undefined ? c.infoJson(false) : infos.get(n);
              if (info !== undefined) listed.push(info);
            }
            for (const n of asked) if (!infos.has(n)) missing.push(n);
            // (Stand-ins have no name: they come first, in the order of their consumers' names.)
            listed.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
            const { missing: _localMissing, ...rest } = r as Record<string, unknown>;
            // (nats-server's meta leader answers a page past the end with a total of 0.)
            answer = JSON.stringify({ ...rest, total: page.length > 0 ? names.length : 0, offset, limit: CONSUMER_LIST_LIMIT, consumers: listed, ...(missing.length > 0 ? { missing } : {}) });
          }
        } catch {
          // sent as it is
        }
        if (reply !== "") acc.publish(reply, "", undefined, Buffer.from(answer));
      });
    }, "jetstream-cluster-consumer-list");
    return PENDING;
  }

  /**
   * Account info: the whole account's usage (every stream assigned, the bytes of every replica),
   * gathered from the servers holding its streams; those not connected are not waited for.
   */
  private accountInfo(jsa: JsAccount, reply: string): typeof PENDING {
    const sys = this.service.server.systemAccount;
    if (sys === undefined) return PENDING;
    const assigned = [...(this.streams.get(jsa.account.name)?.values() ?? [])].map((sa) => ({ name: sa.name, peers: peersOf(sa), config: sa.config }));
    const online = new Set([this.self, ...this.peers.values()]);
    const servers = new Set(assigned.flatMap((sa) => sa.peers).filter((p) => online.has(p)));
    servers.add(this.self);
    this.usage.gather(sys, jsa, assigned, [...servers], LIST_GATHER_MS, (usageOf) => {
      const out = { type: "io.nats.jetstream.api.v1.account_info_response", ...accountInfoJson(jsa, usageOf) };
      if (reply !== "") jsa.account.publish(reply, "", undefined, Buffer.from(JSON.stringify(out)));
      // Counted once answered, as on one server (an INFO does not count itself).
      jsa.apiTotal++;
    });
    return PENDING;
  }

  /** STREAM.LIST: ask each stream's server for its info (STREAM.INFO), answer with them all. */
  private streamList(jsa: JsAccount, body: Buffer, reply: string): typeof PENDING {
    const { total, offset, page } = this.streamPage(jsa.account.name, body, 256);
    const acc = jsa.account;
    askEach(acc, this.self, page.map((n) => `$JS.API.STREAM.INFO.${n}`), LIST_GATHER_MS, (answers) => {
      const streams = answers.filter((info) => info !== undefined).map(listedInfo);
      const missing = page.filter((_, i) => answers[i] === undefined);
      // (Before the others, as nats-server's list sorts by name after placing them first.)
      const standIns = missing.map((n) => this.offlineStreamStandIn(jsa.account.name, n)).filter((e) => e !== undefined);
      streams.unshift(...standIns);
      const out: Record<string, unknown> = { type: "io.nats.jetstream.api.v1.stream_list_response", total, offset, limit: 256, streams };
      if (missing.length > 0) out.missing = missing;
      acc.publish(reply, "", undefined, Buffer.from(JSON.stringify(out)));
    }, "jetstream-cluster-list");
    return PENDING;
  }

  // ---- monitoring ----

  /** RAFT groups running here, as nats-server's ha_assets counts them: the meta group and each replicated stream's. */
  haAssets(): number {
    let n = this.node !== undefined ? 1 : 0;
    for (const jsa of this.service.accounts.values()) for (const stream of jsa.streams.values()) if (stream.replica !== undefined) n++;
    return n;
  }

  /** /jsz meta_cluster. */
  metaClusterJson(): Record<string, unknown> {
    const node = this.node;
    const size = node?.config.voters.length ?? this.expected;
    const out: Record<string, unknown> = { name: this.clusterName, leader: node?.leader ?? "", peer: peerIdOf(this.self), cluster_size: size };
    // This server's quorum now (lowered while a META.RESCUE is on), as nats-server 2.15 shows it.
    out.quorum_needed = node?.quorum ?? Math.floor(size / 2) + 1;
    if (node?.inRescue === true) out.rescue = true;
    if (node?.isLeader) {
      out.replicas = node.peerStatus().map((p) => {
        const offline = p.lastSeenMs < 0 || p.lastSeenMs > ELECTION_MAX_MS;
        return { name: p.id, current: p.current, ...(offline ? { offline: true } : {}), active: Math.max(0, Math.round(p.lastSeenMs * 1e6)), peer: peerIdOf(p.id) };
      });
    }
    return out;
  }
}

/** The replicas a stream configuration asks for (1 when it names none). */
function replicasIn(cfg: Record<string, unknown>): number {
  return typeof cfg.num_replicas === "number" && cfg.num_replicas > 0 ? cfg.num_replicas : 1;
}

/**
 * A request about a stream (tokens after `$JS.API.`) that, run a second time, changes nothing
 * and answers the same: reads, and creates of a named consumer (the same config again); and a
 * consumer's delete, which run again changes nothing and answers "consumer not found" (10014):
 * the client got the first run's success already when there was one (a later answer to its
 * reply is dropped), else the consumer is gone either way, as the 10014 of its retry after a
 * "temporarily unavailable" would tell it.
 */
function safeToRepeat(t: string[], body: Buffer): boolean {
  if (t[1] === "INFO" || t[1] === "NAMES" || t[1] === "LIST" || (t[1] === "MSG" && t[2] === "GET")) return true;
  if (t[0] !== "CONSUMER") return false;
  if (t[1] === "DELETE") return t.length === 4;
  if (t[1] === "DURABLE" && t[2] === "CREATE") return true;
  if (t[1] !== "CREATE") return false;
  if (t.length > 3) return true;
  try {
    const cfg = (parseConfig(body) as { config?: { name?: unknown; durable_name?: unknown } }).config;
    return (typeof cfg?.name === "string" && cfg.name !== "") || (typeof cfg?.durable_name === "string" && cfg.durable_name !== "");
  } catch {
    return true; // answered as a bad request
  }
}

/** A consumer create that names no consumer (an unnamed ephemeral): run twice, it makes two. */
function unnamedConsumerCreate(t: string[], body: Buffer): boolean {
  return t[0] === "CONSUMER" && t[1] === "CREATE" && t.length === 3 && !safeToRepeat(t, body);
}

/**
 * Is this request about a replicated stream one that goes through its group (once committed)?
 * Purges, message deletes, and the creation and deletion of replicated consumers (their state is
 * replicated: every member runs them), and the creation of a single-replica consumer (`single`:
 * its name; the member it is placed on runs it, the others record where it lives). `name`: the
 * name chosen here for an unnamed ephemeral, so that every member knows the same one.
 */
function replicatedChange(t: string[], body: Buffer, stream: Stream | undefined): false | { name?: string; single?: string; keep?: string; replicas?: number } {
  if (t[0] === "STREAM") return t[1] === "PURGE" || (t[1] === "MSG" && t[2] === "DELETE") ? {} : false;
  if (t[0] !== "CONSUMER") return false;
  if (t[1] === "DELETE") return stream?.consumers.get(t[3] ?? "")?.replicated === true ? {} : false;
  if (t[1] === "CREATE" || (t[1] === "DURABLE" && t[2] === "CREATE")) {
    // A replicated consumer (on an interest or work-queue stream, every consumer but a mirror's
    // or source's direct reader): every member creates it. A new R1 one is placed on one member
    // through the group (every member knows where); a direct reader lives on the leader.
    const existing = stream?.consumers.get(t[1] === "DURABLE" ? (t[4] ?? "") : (t[3] ?? ""));
    if (existing !== undefined && !existing.replicated) return false;
    let req: { config?: { durable_name?: unknown; num_replicas?: unknown; sourcing?: unknown; direct?: unknown; name?: unknown } };
    try {
      req = parseConfig(body) as typeof req;
    } catch {
      return existing !== undefined ? {} : false; // answered as a bad request
    }
    if (existing !== undefined) {
      // Scaled down to one replica: it stays with its group's leader (as nats-server keeps it).
      const keep = !replicatedConsumer({ ...req.config, durable_name: existing.cfg.durable_name }, existing.stream.cfg.retention) ? stream?.replica?.consumerKeeper(existing.name) : undefined;
      return keep !== undefined && keep !== "" ? { keep } : {};
    }
    // A mirror's or source's consumer on a work-queue or interest stream is a durable there,
    // replicated like the user's durables.
    const sourcing = stream !== undefined && sourcingBecomesDurable(req.config, stream.cfg);
    const durable = t[1] === "DURABLE" || sourcing || (typeof req.config?.durable_name === "string" && req.config.durable_name !== "");
    const direct = !sourcing && req.config?.direct === true;
    const replicated = replicatedConsumer({ durable_name: durable ? "durable" : undefined, num_replicas: req.config?.num_replicas, direct }, stream?.cfg.retention ?? "limits");
    if (!replicated && (direct || stream === undefined)) return false;
    const given = t[1] === "DURABLE" ? t[4] : t.length > 3 ? t[3] : typeof req.config?.durable_name === "string" && req.config.durable_name !== "" ? req.config.durable_name : typeof req.config?.name === "string" ? req.config.name : "";
    // Fewer replicas than the stream (R2 of R3): its group gets that many of the stream's servers.
    const replicas = replicated && typeof req.config?.num_replicas === "number" && req.config.num_replicas > 1 ? { replicas: req.config.num_replicas } : {};
    if (given !== undefined && given !== "") return replicated ? replicas : { single: given };
    let name: string;
    do name = randomConsumerName();
    while (stream?.consumers.has(name) === true || stream?.replica?.ephemeralHost(name) !== undefined);
    return replicated ? { name, ...replicas } : { name, single: name };
  }
  return false;
}

/** The stream's configuration with the replicas and placement it had before its move (what a cancel sets). */
function revertedConfig(sa: StreamAssignment, m: StreamMove): Record<string, unknown> {
  const cfg = sa.config !== undefined ? parseConfig(Buffer.from(sa.config, "base64")) : { name: sa.name, subjects: sa.subjects };
  cfg.num_replicas = m.origin.replicas;
  if (m.origin.placement !== undefined) cfg.placement = m.origin.placement;
  else delete cfg.placement;
  return cfg;
}

/** A placement as a stream's config keeps it (nats-server's): cluster and tags when set, undefined when empty. */
/** One tag of a placement: `shown` as asked (less a leading "!"), `tag` as compared, `exclude` for "!tag". */
interface PlacementTag {
  shown: string;
  tag: string;
  exclude: boolean;
}

function placementTags(raw: unknown): PlacementTag[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((t): t is string => typeof t === "string")
    .map((t) => {
      const exclude = t.startsWith("!");
      const shown = exclude ? t.slice(1) : t;
      return { shown, tag: shown.trim().toLowerCase(), exclude };
    });
}

/** nats-server's list of tags in a refusal, e.g. `, tags not matched ['a', 'b']`. */
function tagReason(label: string, tags: Set<string>): string {
  return tags.size === 0 ? "" : `, ${label} ['${[...tags].join("', '")}']`;
}

function normalPlacement(raw: unknown): { cluster?: string; tags?: string[] } | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const p = raw as { cluster?: unknown; tags?: unknown };
  const out: { cluster?: string; tags?: string[] } = {};
  if (typeof p.cluster === "string" && p.cluster !== "") out.cluster = p.cluster;
  if (Array.isArray(p.tags) && p.tags.length > 0) out.tags = p.tags.filter((t): t is string => typeof t === "string");
  return out.cluster === undefined && out.tags === undefined ? undefined : out;
}

/** An assigned stream as the account's limits count it, from its last config. */
function countedOf(sa: StreamAssignment): CountedStream {
  let cfg: Record<string, unknown> = {};
  try {
    if (sa.config !== undefined) cfg = parseConfig(Buffer.from(sa.config, "base64"));
  } catch {
    // counted with the defaults
  }
  const replicas = typeof cfg.num_replicas === "number" && cfg.num_replicas > 0 ? cfg.num_replicas : 1;
  return { name: sa.name, replicas, memory: cfg.storage === "memory", maxBytes: typeof cfg.max_bytes === "number" ? cfg.max_bytes : -1 };
}

/**
 * A stream's STREAM.INFO answer as an entry of a clustered STREAM.LIST: nats-server lists what
 * each stream's leader reports, the bare stream info (no paging fields of an info answer, no
 * server version or level in the config's metadata: they are added only to direct answers).
 */
function listedInfo(info: Record<string, unknown>): Record<string, unknown> {
  const { total: _t, offset: _o, limit: _l, ...entry } = info;
  const config = entry.config as { metadata?: Record<string, string> } | undefined;
  if (config?.metadata !== undefined) {
    const metadata = withoutDynamicMetadata(config.metadata);
    entry.config = { ...config, metadata: Object.keys(metadata).length > 0 ? metadata : undefined };
  }
  return entry;
}

/** The members of a group its leader heard from lately (`votersOnly`: not its learners). */
function heardIn(node: RaftNode, votersOnly: boolean): Set<string> {
  const peers = node.peerStatus().filter((p) => (p.voter || !votersOnly) && p.lastSeenMs >= 0 && p.lastSeenMs < ELECTION_MAX_MS);
  return new Set(peers.map((p) => p.id));
}

function peersOf(sa: StreamAssignment): string[] {
  return sa.peers ?? [sa.owner];
}

/** A restore assigned (its stream and the assignment's created time): runRestore runs each once. */
function restoreRun(sa: StreamAssignment): string {
  return `${sa.account}\u0000${sa.name}\u0000${sa.created}`;
}

/** `sa` follows `prev` at meta entry `index`: a group started anew from prev's single server is noted, an earlier restart kept (StreamAssignment.regrown). */
function noteRegrown(prev: StreamAssignment | undefined, sa: StreamAssignment, index: number): void {
  if (prev === undefined || prev.created !== sa.created) return;
  const before = peersOf(prev);
  if (before.length === 1 && peersOf(sa).length > 1) sa.regrown = { index, from: before[0] };
  else if (prev.regrown !== undefined) sa.regrown = prev.regrown;
  else delete sa.regrown;
}

/** The local stream a create/update request mirrors (an update without a body keeps the previous one). */
function mirrorOf(body64: string, prev: StreamAssignment | undefined): string | undefined {
  if (body64 === "") return prev?.mirror;
  let cfg: Record<string, unknown>;
  try {
    cfg = parseConfig(Buffer.from(body64, "base64"));
  } catch {
    return undefined;
  }
  const m = cfg.mirror as { name?: unknown; external?: unknown } | null | undefined;
  return m !== null && typeof m === "object" && typeof m.name === "string" && m.external == null ? m.name : undefined;
}

const STEPDOWN_SHAPE: Shape = { placement: { object: { cluster: "string", tags: "strings", preferred: "string" }, name: "Placement" } };
const SERVER_REMOVE_SHAPE: Shape = { peer: "string", peer_id: "string" };
const RESCUE_SHAPE: Shape = { quorum_needed: "int" };
/** How long a META.RESCUE lowers the meta group's quorum (nats-server's five minutes). */
const RESCUE_MS = 5 * 60_000;
const STREAM_MOVE_SHAPE: Shape = { server: "string", cluster: "string", domain: "string", tags: "strings" };

function parseConfig(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const v: unknown = JSON.parse(body.toString());
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    throw jsError("JSInvalidJSONErr");
  }
}

/** A notice about one stream between servers (`$JSC.REFUSED`, `$JSC.RESTORED`, move settled): its account and name, and the rest unchecked. */
function assetNotice(payload: Buffer): ({ account: string; name: string } & Record<string, unknown>) | undefined {
  let m: unknown;
  try {
    m = JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
  if (typeof m !== "object" || m === null) return undefined;
  const n = m as Record<string, unknown>;
  return typeof n.account === "string" && typeof n.name === "string" ? (n as { account: string; name: string } & Record<string, unknown>) : undefined;
}

/**
 * Were the servers of the scale-down `move` picked by the time the assignment is `now`? Its move
 * picked, or ended on the servers it kept. (Ended otherwise, a scale asked meanwhile replaced it:
 * whether that came before the pick is not known from the assignment; taken as before, the
 * consumers left as they were.)
 */
function pickedSince(move: StreamMove, now: StreamAssignment): boolean {
  if (now.move !== undefined) return now.move.created === move.created && now.move.picked === true;
  return sameServers(peersOf(now), move.peers);
}

/** Is `move` a scale-down whose servers its stream's leader has not picked yet? */
function picking(move: StreamMove): boolean {
  return move.scaleDown === true && move.picked !== true;
}
