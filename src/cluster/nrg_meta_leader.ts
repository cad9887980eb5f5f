// The meta leader's half of a tsnats member leading a nats-server 2.15 cluster's meta group
// (issue 12's moonshot, experimental: `cluster { nrg_peer_meta_lead: true }`). nats-server's
// API handlers run on every server, and for the requests only the meta leader decides on
// (jetstream_api.go: "only the leader" checks, jetstream_cluster.go jsClustered*Request) the
// others stay silent; so while this member leads `_meta_` with its state current
// (`NrgCampaign.leading`) it subscribes in the system account to
// - `$JS.API.STREAM.CREATE.<stream>`: the request checked as the single server checks it
//   (`createRequest`), an equal existing assignment proposed again, another refused (10058),
//   subjects overlapping another stream of the account refused, then a RAFT group placed on
//   members of the meta group heard from within the lost-quorum interval (never this server
//   alone: it holds no R1 stream) and the assignment proposed (assignStreamOp, nats-server's
//   JSON); the new group's first leader answers the client from the assignment's reply;
// - `$JS.API.STREAM.DELETE.<stream>`: removeStreamOp with the request's reply (the stream's
//   leader answers it);
// - `$JS.API.CONSUMER.CREATE.<stream>[.<consumer>[.<filter>]]` and
//   `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<durable>`: the config checked against the
//   stream's (`normalizeConsumerConfig`), a group on the stream's members (a random subset of
//   those heard from for fewer replicas) and assignConsumerOp; an existing consumer is updated
//   with the new config unless the action is create and the config differs (10148); Direct
//   consumers are their origin leader's, never the meta leader's;
// - `$JS.API.CONSUMER.DELETE.<stream>.<consumer>`: removeConsumerOp (the consumer's leader answers);
// - `$JS.API.STREAM.INFO.<stream>` and `$JS.API.CONSUMER.INFO.<stream>.<consumer>` of an
//   unassigned stream or consumer: not found (assigned ones are their leaders' to answer);
// - `$JS.API.STREAM.NAMES`: the account's assigned streams, by name, optionally by subject;
// - `$JS.API.META.LEADER.STEPDOWN` (system account only): success, then a LeaderTransfer to the
//   preferred member, or to another up-to-date one;
// - `$NRG.P._meta_`: proposals the other members forward to the meta leader (raft.go
//   ForwardProposal: a consumer's removal once inactive...), appended as they come.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { randomBytes } from "node:crypto";
import { nowNs, rfc3339 } from "../server/time.js";
import { getHeader } from "../protocol/headers.js";
import { ApiError, jsError } from "../jetstream/errors.js";
import { createRequest, errorResponse, isEmptyRequest, isJsonObjectOrArray, pauseAnswer } from "../jetstream/api.js";
import { shortHash } from "../jetstream/util.js";
import { CONSUMER_CREATE_SHAPE, CONSUMER_NAMES_SHAPE, CONSUMER_PAUSE_SHAPE, decodeRequest, NAMES_SHAPE, STREAM_CREATE_SHAPE, type Shape } from "../jetstream/json.js";
import { askEach } from "../jetstream/info_gather.js";
import { maxDuplicateWindowNs } from "../jetstream/server_limits.js";
import { consumerRequiredLevel, normalizeConsumerConfig, pauseUntilUtc, type ConsumerConfig } from "../jetstream/consumer_config.js";
import { createRequestConfig, randomConsumerName } from "../jetstream/consumer_create.js";
import { checkStreamUpdate, normalizeStreamConfig, subjectsOverlap, type StreamConfig, type StreamConfigRequest } from "../jetstream/stream_config.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet, staticMetadata, streamRequiredLevel } from "../jetstream/api_level.js";
import type { AccountJetStreamLimits, JetStreamOptions } from "../config/options.js";
import { JS_API_LEVEL } from "../jetstream/api_level.js";
import { domainLeaderElected } from "../jetstream/advisories.js";
import { NrgEntryOp, type NrgRaftGroup } from "../jetstream/nrg_entries.js";
import { available, type NrgServerRoom } from "./nrg_server_stats.js";
import { selectPlacement } from "./nrg_placement.js";
import { stepDownPlacement, type NrgStepDownPlacement } from "./nrg_stepdown_placement.js";
import { consumerReplicas, consumerScaledGroup, retentionChangedGroup, currentPeers, desiredOf, moveInFlight, movedGroup, parseReconcile, peerRemovedGroup, reconcileGroup, remapConsumer, scaledGroup, shuffled } from "./nrg_meta_desired.js";
import { nrgLeadRefusal } from "./nrg_stream_leader.js";
import { nrgHoldsSingleConsumer } from "./nrg_consumer_leader.js";
import { assignmentAccount, type NrgMetaConsumer, type NrgMetaState, type NrgMetaStream } from "./nrg_meta_state.js";

const TYPE = "io.nats.jetstream.api.v1.";
const HDR_REQUEST_INFO = "Nats-Request-Info";
/** nats-server's JSApiNamesLimit and JSApiListLimit. */
const NAMES_LIMIT = 1024;
const LIST_LIMIT = 256;
/** How long a list waits for the streams' and consumers' leaders (jsClusteredStreamListRequest's 4 s). */
const LIST_WAIT_MS = 4_000;
/** How long a proposed group stands for its stream before the committed one again (a proposal lost with a leadership). */
const INFLIGHT_MS = 5_000;
/** How long a new leader waits for its members' first answers before it checks every group's peers. */
const RECONCILE_AFTER_MS = 2_500;
const SERVER_REMOVE_SHAPE: Shape = { peer: "string", peer_id: "string" };
const HASH_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** nats-server's syncSubject alphabet (digits, base 62). */
const SYNC_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** What the meta leader half needs of its server and its RAFT member. */
export interface NrgMetaLeaderServer {
  sys: Account;
  /** This member's peer id. */
  selfId: string;
  clusterName: string;
  jetstream: JetStreamOptions;
  /** This server's `jetstream { limits { max_ha_assets } }`, 0 for none (nats-server applies the meta leader's own to every server). */
  maxHaAssets: number;
  /** The meta group's members heard from within the lost-quorum interval (this one included). */
  onlinePeers(): string[];
  /** A server name's peer id among the meta group's members, or undefined. */
  idOf(name: string): string | undefined;
  /** A peer id's server name (the id itself when unknown). */
  nameOf(peer: string): string;
  /** The meta group's members as its membership says (this one included). */
  metaPeers(): string[];
  /** A RemovePeer entry of ours, in an append of its own (false: not leading). */
  proposeRemovePeer(peer: string): boolean;
  /** One meta entry of ours (false: not leading, dropped as nats-server drops a failed proposal). */
  propose(data: Buffer): boolean;
  stepDown(preferred: string | undefined): void;
  /** Where a META.LEADER.STEPDOWN with this placement hands the leadership (nrg_stepdown_placement.ts); throws its refusal. */
  stepDownTarget(placement: NrgStepDownPlacement | undefined): string | undefined;
  /** An account's JetStream limits by tier ("" untiered); undefined without JetStream. */
  accountLimits(account: string): Map<string, AccountJetStreamLimits> | undefined;
  /** An account's usage over the cluster (nrg_account_usage.ts). */
  usage(account: string): { memory: number; storage: number; api: number; errors: number };
  domain: string | undefined;
  /** A member's JetStream room as its STATSZ last showed it (nrg_server_stats.ts). */
  room(peer: string): NrgServerRoom | undefined;
  /** The meta group's members as nats-server's PeerInfo (name, current, active, lag, peer), this one included. */
  replicas(): Record<string, unknown>[];
  /** A member's server tags, lower-cased (its STATSZ; undefined when not heard). */
  tags(peer: string): string[] | undefined;
  log(text: string): void;
}

/** The requesting client's ClientInfo (the Nats-Request-Info header), without the fields nats-server leaves out of a proposal. */
function requestClient(hdr: Buffer | undefined): Record<string, unknown> | undefined {
  const text = getHeader(hdr, HDR_REQUEST_INFO);
  if (text === undefined) return undefined;
  try {
    const ci = JSON.parse(text) as unknown;
    if (typeof ci !== "object" || ci === null || Array.isArray(ci)) return undefined;
    const { jwt: _jwt, issuer_key: _issuer, ...rest } = ci as Record<string, unknown>;
    return rest;
  } catch {
    return undefined;
  }
}

function randomToken(length: number, alphabet: string): string {
  const bytes = randomBytes(length);
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

/** nats-server's groupName: `<S|C>-R<n><F|M>-<hash>`. */
function groupName(prefix: "S" | "C", peers: number, store: string): string {
  return `${prefix}-R${peers}${store === "memory" ? "M" : "F"}-${randomToken(8, HASH_CHARS)}`;
}

/** A meta entry: the op byte, then the assignment's JSON with a newline (Go's json.Encoder). */
function metaEntry(op: NrgEntryOp, body: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([op]), Buffer.from(JSON.stringify(body) + "\n")]);
}

/** The request's subject and reply as an assignment carries them (Go's omitempty). */
function requestFields(subject: string, reply: string): Record<string, string> {
  return { ...(subject !== "" ? { subject } : {}), ...(reply !== "" ? { reply } : {}) };
}

function streamBody(s: Pick<NrgMetaStream, "client" | "created" | "config" | "group" | "sync">, subject: string, reply: string, client: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...(client !== undefined ? { client } : s.client !== undefined ? { client: s.client } : {}), created: s.created, stream: s.config, group: s.group, sync: s.sync, ...requestFields(subject, reply) };
}

function consumerBody(c: NrgMetaConsumer, subject: string, reply: string, client: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...(client !== undefined ? { client } : c.client !== undefined ? { client: c.client } : {}), created: c.created, name: c.name, stream: c.stream, consumer: c.config, group: c.group, ...requestFields(subject, reply) };
}

export class NrgMetaLeader {
  private subs: Subscription[] = [];
  /** Assignments whose create was answered with a member's refusal (once each, as nats-server's sa.responded). */
  private readonly refusalsAnswered = new Set<string>();
  counters = { streamsProposed: 0, streamsUpdated: 0, streamsRemoved: 0, consumersProposed: 0, consumersPaused: 0, consumersRemoved: 0, forwarded: 0, refused: 0, memberRefusals: 0, reconciled: 0, purges: 0, peersRemoved: 0, serversRemoved: 0, peersReconciled: 0 };
  /** The server removal proposed and not committed yet (nats-server's peerRemoveReply; one at a time). */
  private removal: { peer: string; subject: string; reply: string; at: number } | undefined;
  /** The check of every group's peers a new leader runs once it has heard from the live members. */
  private reconcileTimer: NodeJS.Timeout | undefined;
  /** Groups this leader proposed, by `<account> > <stream>[ > <consumer>]`, until applied (or 5 s). */
  private readonly inflight = new Map<string, { group: NrgRaftGroup; at: number }>();

  constructor(
    private readonly srv: NrgMetaLeaderServer,
    private readonly meta: NrgMetaState,
  ) {}

  /**
   * Meta peers whose first STATSZ as a JetStream server this leader waits for (nats-server's
   * prNewPeers: those not selectable when it was elected, seedNewPeers, and each server added
   * since, processAddPeer); that STATSZ re-places onto it the groups left short of peers
   * (processPeerStatsz, signalPeerReconcile).
   */
  private readonly awaitingStatsz = new Set<string>();

  start(): void {
    this.awaitingStatsz.clear();
    for (const p of this.srv.metaPeers()) if (p !== this.srv.selfId && this.srv.room(p) === undefined) this.awaitingStatsz.add(p);
    // After a heartbeat round every live member has answered, so placement knows who is online.
    this.reconcileTimer = setTimeout(() => this.reconcilePeers(), RECONCILE_AFTER_MS);
    this.reconcileTimer.unref?.();
    // nats-server's new meta leader announces itself (processLeaderChange).
    domainLeaderElected({ account: this.srv.sys, domain: this.srv.domain, serverName: "" }, this.srv.selfId, this.srv.replicas(), this.srv.clusterName);
    const on = (subject: string, handler: (subject: string, reply: string, hdr: Buffer | undefined, body: Buffer) => void): void => {
      this.subs.push(
        this.srv.sys.subscribeInternal(
          subject,
          (s, reply, hdr, payload) => handler(s, reply, hdr === undefined ? undefined : Buffer.from(hdr), Buffer.from(payload)),
          undefined,
          "nrg-meta-leader",
        ),
      );
    };
    on("$JS.API.STREAM.CREATE.*", (s, reply, hdr, body) => this.answer(s, reply, "stream_create_response", () => this.streamCreate(s, reply, hdr, body)));
    on("$JS.API.STREAM.DELETE.*", (s, reply, hdr) => this.answer(s, reply, "stream_delete_response", () => this.streamDelete(s, reply, hdr)));
    on("$JS.API.CONSUMER.CREATE.>", (s, reply, hdr, body) => this.answer(s, reply, "consumer_create_response", () => this.consumerCreate(s, reply, hdr, body, false)));
    on("$JS.API.CONSUMER.DURABLE.CREATE.*.*", (s, reply, hdr, body) => this.answer(s, reply, "consumer_create_response", () => this.consumerCreate(s, reply, hdr, body, true)));
    on("$JS.API.CONSUMER.PAUSE.*.*", (s, reply, hdr, body) => this.answer(s, reply, "consumer_pause_response", () => this.consumerPause(s, hdr, body)));
    on("$JS.API.CONSUMER.DELETE.*.*", (s, reply, hdr) => this.answer(s, reply, "consumer_delete_response", () => this.consumerDelete(s, reply, hdr)));
    on("$JS.API.STREAM.INFO.*", (s, reply, hdr) => this.answer(s, reply, "stream_info_response", () => this.unassigned(s, hdr, false)));
    on("$JS.API.CONSUMER.INFO.*.*", (s, reply, hdr) => this.answer(s, reply, "consumer_info_response", () => this.unassigned(s, hdr, true)));
    on("$JS.API.INFO", (s, reply, hdr) => this.answer(s, reply, "account_info_response", () => this.accountInfo(hdr)));
    on("$JS.API.STREAM.UPDATE.*", (s, reply, hdr, body) => this.answer(s, reply, "stream_update_response", () => this.streamUpdate(s, reply, hdr, body)));
    on("$JS.API.STREAM.NAMES", (s, reply, hdr, body) => this.answer(s, reply, "stream_names_response", () => this.streamNames(hdr, body)));
    on("$JS.API.STREAM.LIST", (s, reply, hdr, body) => this.answer(s, reply, "stream_list_response", () => this.streamList(reply, hdr, body)));
    on("$JS.API.CONSUMER.NAMES.*", (s, reply, hdr, body) => this.answer(s, reply, "consumer_names_response", () => this.consumerNames(s, hdr, body)));
    on("$JS.API.CONSUMER.LIST.*", (s, reply, hdr, body) => this.answer(s, reply, "consumer_list_response", () => this.consumerList(s, reply, hdr, body)));
    on("$JS.API.META.LEADER.STEPDOWN", (s, reply, hdr, body) => this.answer(s, reply, "meta_leader_stepdown_response", () => this.stepDown(hdr, body)));
    on("$JS.API.STREAM.PEER.REMOVE.*", (s, reply, hdr, body) => this.answer(s, reply, "stream_remove_peer_response", () => this.streamPeerRemove(s, hdr, body)));
    on("$JS.API.SERVER.REMOVE", (s, reply, hdr, body) => this.answer(s, reply, "meta_server_remove_response", () => this.serverRemove(s, reply, hdr, body)));
    on("$JS.API.ACCOUNT.PURGE.*", (s, reply, hdr) => this.answer(s, reply, "account_purge_response", () => this.accountPurge(s, hdr)));
    on("$SYS.JSC.STREAM.ASSIGNMENT.RESULT", (_s, _reply, _hdr, body) => this.streamResult(body));
    on("$SYS.JSC.CONSUMER.ASSIGNMENT.RESULT", (_s, _reply, _hdr, body) => this.consumerResult(body));
    on("$SYS.JSC.STREAM.ASSIGNMENT.RECONCILE", (_s, _reply, _hdr, body) => this.streamReconcile(body));
    on("$SYS.JSC.CONSUMER.ASSIGNMENT.RECONCILE", (_s, _reply, _hdr, body) => this.consumerReconcile(body));
    on("$NRG.P._meta_", (_s, _reply, _hdr, body) => {
      if (body.length > 0 && this.srv.propose(body)) this.counters.forwarded++;
    });
  }

  stop(): void {
    for (const sub of this.subs) this.srv.sys.unsubscribeInternal(sub);
    this.subs = [];
    if (this.reconcileTimer !== undefined) clearTimeout(this.reconcileTimer);
    this.reconcileTimer = undefined;
    // nats-server's leader change clears peerRemoveReply: the next leader answers nothing of ours.
    this.removal = undefined;
  }

  /**
   * Run a handler: its answer (undefined: none now, the proposal's outcome answers) or its
   * refusal sent to the reply; a request without a reply is still acted on.
   */
  private answer(subject: string, reply: string, type: string, handler: () => Record<string, unknown> | undefined): void {
    let body: Record<string, unknown> | undefined;
    try {
      body = handler();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.counters.refused++;
      // With the zero fields nats-server's response types carry beside an error (paging...).
      if (reply !== "") this.srv.sys.publish(reply, "", undefined, Buffer.from(errorResponse(subject.slice("$JS.API.".length), err)));
      return;
    }
    if (body !== undefined) this.send(reply, type, body);
  }

  /** The account a request names (its Nats-Request-Info); undefined for one not meant for us (no header: the system account's own). */
  private account(hdr: Buffer | undefined): string | undefined {
    const client = requestClient(hdr);
    return client === undefined ? undefined : assignmentAccount(client);
  }

  /** A stream create's or update's client, account and stream name (the subject's last token); undefined for a request not through an account. */
  private streamRequest(subject: string, hdr: Buffer | undefined): { client: Record<string, unknown>; account: string; name: string } | undefined {
    const client = requestClient(hdr);
    if (client === undefined) return undefined;
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    return { client, account: assignmentAccount(client), name: subject.split(".")[4] };
  }

  /** nats-server's subjectsOverlap: another stream of the account taking any of these subjects. */
  private checkOverlap(account: string, name: string, subjects: string[]): void {
    for (const other of this.meta.streams.values()) {
      if (other.account !== account || other.config.name === name) continue;
      if (subjectsOverlap(subjects, (other.config.subjects as string[] | undefined) ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
  }

  private streamCreate(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const req = this.streamRequest(subject, hdr);
    if (req === undefined) return undefined;
    const { client, account, name } = req;
    const cfg = createRequest(name, body, true, this.srv.jetstream) as unknown as Record<string, unknown> & { name: string };
    const existing = this.meta.stream(account, name);
    if (existing !== undefined) {
      // nats-server keeps the assignment's metadata and compares the rest.
      const same = JSON.stringify({ ...existing.config, metadata: undefined }) === JSON.stringify({ ...cfg, metadata: undefined });
      if (!same) throw jsError("JSStreamNameExistErr");
    }
    this.checkOverlap(account, name, (cfg.subjects as string[] | undefined) ?? []);
    const store = cfg.storage === "memory" ? "memory" : "file";
    const group = existing?.group ?? this.placeStream(cfg, store);
    const assignment = { client, created: existing?.created ?? rfc3339(nowNs()), config: existing !== undefined ? { ...cfg, metadata: existing.config.metadata } : cfg, group, sync: existing?.sync ?? `$JSC.SYNC.${randomToken(8, SYNC_DIGITS)}` };
    if (this.srv.propose(metaEntry(NrgEntryOp.AssignStream, streamBody(assignment, subject, reply, client)))) this.counters.streamsProposed++;
    return undefined;
  }

  /** nats-server's createGroupForStream over what this member knows: the meta group's members heard from lately. */
  private placeStream(cfg: Record<string, unknown>, store: string): NrgRaftGroup {
    const replicas = Math.max(1, Number(cfg.num_replicas ?? 1));
    const peers = this.selectPeers(cfg, store, replicas, []);
    return { name: groupName("S", peers.length, store), peers, store, cluster: this.srv.clusterName, preferred: peers[Math.floor(Math.random() * peers.length)] };
  }

  /**
   * The peers of a stream of `replicas` (`existing` kept first), chosen as selectPeerGroup
   * chooses (`nrg_placement.ts`) among the members heard from lately, from their STATSZ (tags,
   * room) and the meta state (streams each holds). This server alone only for a stream its
   * leader half runs (an R1 stream it holds as its leader, without a RAFT group).
   */
  private selectPeers(cfg: Record<string, unknown>, store: string, replicas: number, existing: string[], ignore: string[] = []): string[] {
    const placement = cfg.placement as { cluster?: string; tags?: string[] } | undefined;
    if (placement?.cluster !== undefined && placement.cluster !== "" && placement.cluster !== this.srv.clusterName) throw jsError("JSClusterNoPeersErrF", { err: "no suitable peers for placement" });
    const streams = new Map<string, number>();
    const replicated = new Map<string, number>();
    for (const s of this.meta.streams.values()) {
      for (const p of s.group.peers) {
        streams.set(p, (streams.get(p) ?? 0) + 1);
        if (s.group.peers.length > 1) replicated.set(p, (replicated.get(p) ?? 0) + 1);
      }
    }
    // This server holds an R1 stream alone only as its leader (NrgGroupMember.solo), so only one its leader half runs.
    const selfAlone = nrgLeadRefusal(cfg) === undefined;
    const candidates = shuffled(this.srv.onlinePeers().filter((id) => (replicas > 1 || id !== this.srv.selfId || selfAlone) && !ignore.includes(id))).map((id) => {
      const room = this.srv.room(id);
      return { id, tags: (this.srv.tags(id) ?? []).map((t) => t.toLowerCase()), available: room === undefined ? 0 : available(room, store === "memory"), streams: streams.get(id) ?? 0, replicated: replicated.get(id) ?? 0, haAssets: room?.haAssets };
    });
    return selectPlacement(candidates, { replicas, tags: placement?.tags ?? [], maxBytes: Number(cfg.max_bytes ?? -1), uniqueTag: this.srv.jetstream.uniqueTag ?? "", existing, tagsOf: (id) => this.srv.tags(id)?.map((t) => t.toLowerCase()), maxHaAssets: this.srv.maxHaAssets });
  }

  private streamDelete(subject: string, reply: string, hdr: Buffer | undefined): Record<string, unknown> | undefined {
    const client = requestClient(hdr);
    if (client === undefined) return undefined;
    const s = this.meta.stream(assignmentAccount(client), subject.slice("$JS.API.STREAM.DELETE.".length));
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    if (this.srv.propose(metaEntry(NrgEntryOp.RemoveStream, streamBody(s, subject, reply, client)))) this.counters.streamsRemoved++;
    return undefined;
  }

  private consumerCreate(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer, legacyDurable: boolean): Record<string, unknown> | undefined {
    const client = requestClient(hdr);
    if (client === undefined) return undefined;
    let req: { stream_name?: string; config?: Partial<ConsumerConfig> | null; action?: string; pedantic?: boolean };
    try {
      req = decodeRequest<typeof req>(body, CONSUMER_CREATE_SHAPE, "CreateConsumerRequest") ?? {};
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw jsError("JSInvalidJSONErr", { err: (err as Error).message });
    }
    const t = subject.split(".");
    const streamName = legacyDurable ? t[5] : t[4];
    const s = this.meta.stream(assignmentAccount(client), streamName);
    const retention = s?.config.retention;
    // A Direct consumer is its origin leader's; on a work-queue or interest origin a sourcing one becomes a durable acknowledged by flow control, the meta leader's.
    if (req.config?.direct === true) {
      if (!(req.config.sourcing === true && (req.config.name ?? "") !== "" && retention !== undefined && retention !== "limits")) return undefined;
      Object.assign(req.config, { direct: false, durable_name: req.config.name, ack_policy: "flow_control", ack_wait: 0, max_deliver: 0, inactive_threshold: 0 });
    }
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    const { raw, name: asked } = legacyDurable ? createRequestConfig(req, t[5], t[6], undefined, true) : createRequestConfig(req, t[4], t[5], t.length > 6 ? t.slice(6).join(".") : undefined, false);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    raw.metadata = staticMetadata(raw.metadata ?? undefined, consumerRequiredLevel({ ...raw } as ConsumerConfig));
    const streamCfg = s.config as unknown as StreamConfig;
    const cfg = normalizeConsumerConfig(raw, streamCfg, { maxAckPending: 0 }, req.pedantic === true) as unknown as Record<string, unknown>;
    const action = req.action ?? "";
    const name = asked !== "" ? asked : (typeof cfg.durable_name === "string" && cfg.durable_name !== "" ? cfg.durable_name : "");
    const existing = name !== "" ? s.consumers.get(name) : undefined;
    let assignment: NrgMetaConsumer;
    if (existing !== undefined) {
      if (action === "create" && JSON.stringify({ ...existing.config, metadata: undefined }) !== JSON.stringify({ ...cfg, metadata: undefined })) throw jsError("JSConsumerAlreadyExists");
      // A running consumer keeps its pause as configured (nats-server does not update pause_until here).
      assignment = { ...existing, group: this.rescaledConsumer(s, existing, cfg), config: { ...cfg, pause_until: existing.config.pause_until } };
      if (assignment.config.pause_until === undefined) delete assignment.config.pause_until;
    } else {
      if (action === "update") throw jsError("JSConsumerDoesNotExist");
      const group = this.placeConsumer(cfg, s);
      assignment = { created: rfc3339(nowNs()), name: name !== "" ? name : randomConsumerName(), stream: streamName, config: cfg, group };
    }
    if (this.srv.propose(metaEntry(NrgEntryOp.AssignConsumer, consumerBody(assignment, subject, reply, client)))) this.counters.consumersProposed++;
    return undefined;
  }

  /**
   * An existing consumer's group under an update (jsClusteredConsumerRequest): as it is, or
   * through desired state when the update changes its replicas (more: its stream's peers added at
   * random, refused 10126 beyond the stream's; fewer: marked for its leader to pick); a finished
   * scale-up's mark dropped. Its leader then asks for each step (`consumerReconcile`).
   */
  private rescaledConsumer(s: NrgMetaStream, c: NrgMetaConsumer, cfg: Record<string, unknown>): NrgRaftGroup {
    const group = this.pendingGroup(`${s.account} > ${s.config.name} > ${c.name}`, c.group);
    const before = consumerReplicas(c.config, s.config);
    const after = consumerReplicas(cfg, s.config);
    const store = group.store === "memory" ? "memory" : "file";
    if (before < after) {
      if (s.group.peers.length < after) throw jsError("JSConsumerReplicasExceedsStream");
      const added = [...group.peers];
      for (const p of shuffled(s.group.peers)) if (added.length < after && !added.includes(p)) added.push(p);
      return consumerScaledGroup(group, added, () => groupName("C", after, store));
    }
    if (before > after) return consumerScaledGroup(group, undefined, () => group.name);
    if (desiredOf(group) !== undefined) return group;
    const { scale_up: _done, ...rest } = group;
    return rest;
  }

  /** nats-server's createGroupForConsumer: the stream's members, or a random subset of those heard from for fewer replicas. */
  private placeConsumer(cfg: Record<string, unknown>, s: NrgMetaStream): NrgRaftGroup {
    const asked = Number(cfg.num_replicas ?? 0);
    const replicas = asked > 0 ? asked : s.group.peers.length;
    if (replicas > s.group.peers.length) throw jsError("JSInsufficientResourcesErr");
    const online = new Set(this.srv.onlinePeers());
    const active = s.group.peers.filter((id) => online.has(id));
    if (Math.floor(replicas / 2) + 1 > active.length) throw jsError("JSInsufficientResourcesErr");
    let peers = [...s.group.peers];
    if (replicas < peers.length) {
      // This server alone only with a consumer it holds as its leader (NrgGroupMember.solo).
      const selfAlone = nrgHoldsSingleConsumer(cfg, s, this.srv.selfId);
      const eligible = active.filter((id) => replicas > 1 || id !== this.srv.selfId || selfAlone);
      if (eligible.length < replicas) throw jsError("JSInsufficientResourcesErr");
      peers = shuffled(eligible).slice(0, replicas);
    }
    // A replicated consumer on a server past the HA-asset limit is refused (jsClusteredConsumerRequest).
    const max = this.srv.maxHaAssets;
    if (peers.length > 1 && max > 0 && peers.some((id) => (this.srv.room(id)?.haAssets ?? 0) > max)) throw jsError("JSInsufficientResourcesErr");
    const store = cfg.mem_storage === true ? "memory" : s.group.store;
    const preferredFrom = peers.filter((id) => online.has(id));
    const pool = preferredFrom.length > 0 ? preferredFrom : peers;
    return { name: groupName("C", peers.length, store), peers, store, cluster: s.group.cluster, preferred: pool[Math.floor(Math.random() * pool.length)] };
  }

  /**
   * CONSUMER.PAUSE (jsConsumerPauseRequest in a cluster): the consumer's assignment proposed again
   * with pause_until set (or cleared to resume), answered at once by the meta leader.
   */
  private consumerPause(subject: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const asked = isJsonObjectOrArray(body) ? (decodeRequest<{ pause_until?: string }>(body, CONSUMER_PAUSE_SHAPE, "JSApiConsumerPauseRequest") ?? {}).pause_until : undefined;
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    if (this.srv.accountLimits(account) === undefined) throw jsError("JSNotEnabledForAccountErr");
    const t = subject.split(".");
    const s = this.meta.stream(account, t[4]);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    const c = s.consumers.get(t[5]);
    if (c === undefined) throw jsError("JSConsumerNotFoundErr");
    // Go's zero time is no pause.
    const until = pauseUntilUtc(asked !== undefined && !asked.startsWith("0001-01-01T00:00:00") ? asked : undefined);
    const config: Record<string, unknown> = { ...c.config };
    if (until === undefined) delete config.pause_until;
    else config.pause_until = until;
    config.metadata = staticMetadata(config.metadata as Record<string, string> | undefined, consumerRequiredLevel(config as unknown as ConsumerConfig));
    if (!this.srv.propose(metaEntry(NrgEntryOp.AssignConsumer, consumerBody({ ...c, config }, "", "", undefined)))) return undefined;
    this.counters.consumersPaused++;
    const remainingMs = until !== undefined ? Date.parse(until) - Date.now() : 0;
    return pauseAnswer(until, remainingMs > 0 ? remainingMs * 1_000_000 : 0);
  }

  private consumerDelete(subject: string, reply: string, hdr: Buffer | undefined): Record<string, unknown> | undefined {
    const client = requestClient(hdr);
    if (client === undefined) return undefined;
    const t = subject.split(".");
    const s = this.meta.stream(assignmentAccount(client), t[4]);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    const c = s.consumers.get(t[5]);
    if (c === undefined) throw jsError("JSConsumerNotFoundErr");
    if (this.srv.propose(metaEntry(NrgEntryOp.RemoveConsumer, consumerBody(c, subject, reply, client)))) this.counters.consumersRemoved++;
    return undefined;
  }

  /** A result body's JSON object, or undefined (nats-server ignores what does not decode). */
  private result(body: Buffer): Record<string, unknown> | undefined {
    try {
      const r = JSON.parse(body.toString("utf8")) as unknown;
      return typeof r === "object" && r !== null && !Array.isArray(r) ? (r as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A member could not create a stream it was assigned (`$SYS.JSC.STREAM.ASSIGNMENT.RESULT`,
   * jetstream_cluster.go processStreamAssignmentResults): its answer goes to the create's
   * client once, and an assignment younger than 5 s (not an update) is removed again, so the
   * name is free. (Placement in other clusters, nats-server's retry, does not apply: one cluster.)
   */
  private streamResult(body: Buffer): void {
    const r = this.result(body);
    if (r === undefined || typeof r.account !== "string" || typeof r.stream !== "string") return;
    const s = this.meta.stream(r.account, r.stream);
    if (s === undefined) return;
    const response = (r.create_response ?? r.restore_response) as Record<string, unknown> | undefined;
    const key = `${s.account} > ${s.config.name} > ${s.created}`;
    if (response !== undefined && s.reply !== undefined && !this.refusalsAnswered.has(key)) {
      this.refusalsAnswered.add(key);
      this.srv.sys.publish(s.reply, "", undefined, Buffer.from(JSON.stringify(response)));
    }
    const age = Date.now() - Date.parse(s.created);
    if (r.is_update === true || !(age < 5_000)) return;
    this.srv.log(`NRG meta leader: stream assignment for '${s.account} > ${s.config.name}' rejected by an assigned member: ${JSON.stringify((response as { error?: unknown } | undefined)?.error)}`);
    if (this.srv.propose(metaEntry(NrgEntryOp.RemoveStream, streamBody(s, "", "", undefined)))) this.counters.memberRefusals++;
  }

  /** A member could not create a consumer (processConsumerAssignmentResults): its answer goes to the create's client once; the assignment stays. */
  private consumerResult(body: Buffer): void {
    const r = this.result(body);
    if (r === undefined || typeof r.account !== "string" || typeof r.stream !== "string" || typeof r.consumer !== "string") return;
    const c = this.meta.stream(r.account, r.stream)?.consumers.get(r.consumer);
    const response = r.response as Record<string, unknown> | undefined;
    if (c === undefined || response === undefined || c.reply === undefined) return;
    const key = `${r.account} > ${r.stream} > ${c.name} > ${c.created}`;
    if (this.refusalsAnswered.has(key)) return;
    this.refusalsAnswered.add(key);
    this.counters.memberRefusals++;
    this.srv.sys.publish(c.reply, "", undefined, Buffer.from(JSON.stringify(response)));
  }

  /** Info of a stream or consumer nobody is assigned: the meta leader's not found. */
  private unassigned(subject: string, hdr: Buffer | undefined, consumer: boolean): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const t = subject.split(".");
    const s = this.meta.stream(account, t[4]);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    if (consumer && !s.consumers.has(t[5])) throw jsError("JSConsumerNotFoundErr");
    return undefined;
  }

  /** The paging of a names or list request (offset, and a subject filter for streams). */
  private paging(body: Buffer, shape: Shape, struct: string): { offset: number; subject: string } {
    const req = isJsonObjectOrArray(body) ? (decodeRequest<{ offset?: number; subject?: string }>(body, shape, struct) ?? {}) : {};
    return { offset: Math.max(0, req.offset ?? 0), subject: req.subject ?? "" };
  }

  /** The account's assigned streams a names or list request asks for, by name (nats-server matches a stream without subjects by its name). */
  private streamsOf(account: string, filter: string): NrgMetaStream[] {
    const matches = (s: NrgMetaStream): boolean => {
      if (filter === "") return true;
      const subjects = (s.config.subjects as string[] | undefined) ?? [];
      return subjectsOverlap([filter], subjects.length > 0 ? subjects : [s.config.name]);
    };
    return [...this.meta.streams.values()].filter((s) => s.account === account && matches(s)).sort((a, b) => (a.config.name < b.config.name ? -1 : a.config.name > b.config.name ? 1 : 0));
  }

  private streamNames(hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const { offset: asked, subject } = this.paging(body, NAMES_SHAPE, "JSApiStreamNamesRequest");
    const names = this.streamsOf(account, subject).map((s) => s.config.name);
    const offset = Math.min(asked, names.length);
    const page = names.slice(offset, offset + NAMES_LIMIT);
    // Go's nil slice: null when nothing matched (an offset past the end leaves an empty one).
    return { total: names.length, offset, limit: NAMES_LIMIT, streams: names.length > 0 ? page : null };
  }

  /**
   * STREAM.LIST: each stream's info asked of its leader (`$JSC.SI.<account>.<stream>`), those
   * not answering within 4 s named `missing`, as jsClusteredStreamListRequest gathers them.
   */
  private streamList(reply: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const { offset: asked, subject } = this.paging(body, NAMES_SHAPE, "JSApiStreamListRequest");
    const all = this.streamsOf(account, subject);
    const offset = Math.min(asked, all.length);
    const page = all.slice(offset, offset + LIST_LIMIT);
    const paged = { total: all.length, offset, limit: LIST_LIMIT };
    if (page.length === 0) return { ...paged, streams: [] };
    this.gather(page.map((s) => `$JSC.SI.${account}.${s.config.name}`), (answers) => {
      const streams: Record<string, unknown>[] = [];
      const missing: string[] = [];
      page.forEach((s, i) => {
        const info = answers[i];
        if (info === undefined) return void missing.push(s.config.name);
        // The leader counts the consumers it runs; the meta leader knows every assigned one.
        const state = info.state as Record<string, unknown> | undefined;
        if (state !== undefined && s.consumers.size > 0) state.consumer_count = s.consumers.size;
        streams.push(info);
      });
      this.send(reply, "stream_list_response", { ...paged, streams, ...(missing.length > 0 ? { missing } : {}) });
    });
    return undefined;
  }

  private consumerNames(subject: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const { offset: asked } = this.paging(body, CONSUMER_NAMES_SHAPE, "JSApiConsumersRequest");
    const s = this.meta.stream(account, subject.split(".")[4]);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    const names = [...s.consumers.keys()].sort();
    const offset = Math.min(asked, names.length);
    const page = names.slice(offset, offset + NAMES_LIMIT);
    return { total: names.length, offset, limit: NAMES_LIMIT, consumers: page };
  }

  /** CONSUMER.LIST: each consumer's info asked of its leader (`$JSC.CI.<account>.<stream>.<consumer>`), as jsClusteredConsumerListRequest. */
  private consumerList(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const { offset: asked } = this.paging(body, CONSUMER_NAMES_SHAPE, "JSApiConsumersRequest");
    const s = this.meta.stream(account, subject.split(".")[4]);
    // nats-server lists no consumers of a stream it does not know, without an error.
    const names = [...(s?.consumers.keys() ?? [])].sort();
    const offset = Math.min(asked, names.length);
    const page = names.slice(offset, offset + LIST_LIMIT);
    const paged = { total: names.length, offset, limit: LIST_LIMIT };
    if (s === undefined || page.length === 0) return { ...paged, consumers: [] };
    this.gather(page.map((c) => `$JSC.CI.${account}.${s.config.name}.${c}`), (answers) => {
      const consumers: Record<string, unknown>[] = [];
      const missing: string[] = [];
      page.forEach((c, i) => {
        const info = answers[i];
        if (info === undefined) missing.push(c);
        else consumers.push(info);
      });
      this.send(reply, "consumer_list_response", { ...paged, consumers, ...(missing.length > 0 ? { missing } : {}) });
    });
    return undefined;
  }

  private gather(subjects: string[], done: (answers: Array<Record<string, unknown> | undefined>) => void): void {
    askEach(this.srv.sys, this.srv.selfId, subjects, LIST_WAIT_MS, done, "nrg-meta-leader-list");
  }

  private send(reply: string, type: string, body: Record<string, unknown>): void {
    if (reply === "") return;
    this.srv.sys.publish(reply, "", undefined, Buffer.from(JSON.stringify({ type: TYPE + type, ...body })));
  }

  /**
   * STREAM.UPDATE (jsClusteredStreamUpdateRequest): the config checked against the assignment's
   * as the single server checks an update, subjects against the account's other streams, then
   * updateStreamOp; the stream's leader answers it. Without a change of replicas the group's
   * preferred member is cleared. A change of replicas goes through desired state
   * (`nrg_meta_desired.ts`): more peers placed as a create places them (the current ones kept),
   * or fewer marked as a scale-down the group's leader picks; the group's leader then asks for
   * each step (`streamReconcile`). A move (another placement) too: new peers placed as a create
   * places them, the desired state marked `move`.
   */
  private streamUpdate(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const req = this.streamRequest(subject, hdr);
    if (req === undefined) return undefined;
    const { client, account, name } = req;
    const raw = decodeRequest<StreamConfigRequest & { pedantic?: boolean }>(body, STREAM_CREATE_SHAPE, "StreamConfigRequest") ?? {};
    const pedantic = raw.pedantic === true;
    delete raw.pedantic;
    const opts = { clustered: true, pedantic, maxDuplicateWindowNs: maxDuplicateWindowNs(this.srv.jetstream) };
    const cfg = normalizeStreamConfig(raw, opts);
    if (cfg.name !== name) throw jsError("JSStreamMismatchErr");
    const s = this.meta.stream(account, name);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    cfg.metadata = staticMetadata(cfg.metadata, streamRequiredLevel(cfg));
    const old = normalizeStreamConfig({ ...(s.config as unknown as StreamConfigRequest) }, { clustered: true });
    checkStreamUpdate(old, cfg);
    this.checkOverlap(account, name, cfg.subjects ?? []);
    const base = this.pendingGroup(`${account} > ${name}`, s.group);
    const replicas = cfg.num_replicas ?? 1;
    const scaling = replicas !== (old.num_replicas ?? 1);
    const moving = cfg.placement !== undefined && cfg.placement !== null && JSON.stringify(cfg.placement) !== JSON.stringify(old.placement ?? null);
    if (moving && scaling) throw jsError("JSStreamMoveAndScaleErr");
    // One move at a time, and none beside another change under way (their peers would pile up).
    if ((moving || scaling) && moveInFlight(base)) throw jsError("JSStreamMoveInProgressErr");
    if (moving && desiredOf(base) !== undefined) throw jsError("JSStreamReconfigureInProgressErr");
    let group: NrgRaftGroup;
    if (moving) {
      const store = base.store === "memory" ? "memory" : "file";
      const placed = this.selectPeers(cfg as unknown as Record<string, unknown>, store, replicas, []);
      group = movedGroup(base, placed, old.num_replicas ?? 1, old.placement);
    } else if (scaling) {
      const keep = currentPeers(base);
      const store = base.store === "memory" ? "memory" : "file";
      let added: string[] | undefined;
      if (replicas > keep.length) {
        added = this.selectPeers(cfg as unknown as Record<string, unknown>, store, replicas, keep);
      }
      group = scaledGroup(base, added, () => groupName("S", replicas, store), old.num_replicas ?? 1, old.placement);
    } else {
      const { preferred: _preferred, ...rest } = base;
      group = rest;
    }
    // A retention change goes through desired state, so the consumers can be scaled first.
    group = retentionChangedGroup(group, base, old.retention ?? "limits", cfg.retention ?? "limits", old.num_replicas ?? 1, old.placement);
    const assignment = { client, created: s.created, config: cfg as unknown as NrgMetaStream["config"], group, sync: s.sync };
    if (this.srv.propose(metaEntry(NrgEntryOp.UpdateStream, streamBody(assignment, subject, reply, client)))) {
      this.counters.streamsUpdated++;
      this.inflight.set(`${account} > ${name}`, { group, at: Date.now() });
    }
    return undefined;
  }

  /**
   * The group as this meta leader last proposed it while that proposal is not applied yet
   * (nats-server's streamAssignmentOrInflight), else as committed: a step asked for twice
   * before the first answer commits is answered once.
   */
  private pendingGroup(key: string, committed: NrgRaftGroup): NrgRaftGroup {
    const p = this.inflight.get(key);
    if (p === undefined) return committed;
    if (Date.now() - p.at > INFLIGHT_MS || JSON.stringify(p.group) === JSON.stringify(committed)) {
      this.inflight.delete(key);
      return committed;
    }
    return p.group;
  }

  /**
   * A stream group's leader asks for the next step of its desired state
   * (`$SYS.JSC.STREAM.ASSIGNMENT.RECONCILE`, reconcileDesiredStreamAssignment): the step's group
   * proposed as the stream's update, without a reply (the update was answered), then each
   * consumer that must follow the stream's target peers (`remapConsumer`) as its assignment. The
   * stream's desired state is cleared only once none had to move and none is still moving.
   */
  private streamReconcile(body: Buffer): void {
    const req = parseReconcile(body, false);
    if (req === undefined || req.term === 0) return;
    const s = this.meta.stream(req.account, req.stream);
    if (s === undefined) return;
    const base = this.pendingGroup(`${s.account} > ${s.config.name}`, s.group);
    const store = base.store === "memory" ? "memory" : "file";
    const remapped: NrgMetaConsumer[] = [];
    const deleted: NrgMetaConsumer[] = [];
    let done = true;
    const d = desiredOf(base);
    // A scale-down's consumers wait for the peers the leader keeps.
    if (d !== undefined && d.scale_down !== true) {
      const r = this.remapConsumers(s, base);
      remapped.push(...r.remapped);
      deleted.push(...r.deleted);
      done = r.done;
    }
    const group = reconcileGroup(base, req, Number(s.config.num_replicas ?? 1), done, () => groupName("S", 1, store));
    if (group !== undefined) {
      if (!this.srv.propose(metaEntry(NrgEntryOp.UpdateStream, streamBody({ ...s, group }, "", "", undefined)))) return;
      this.counters.reconciled++;
      this.inflight.set(`${s.account} > ${s.config.name}`, { group, at: Date.now() });
    }
    this.proposeConsumers(s, remapped, deleted);
  }

  /**
   * The stream's consumers that must follow `group` (its target peers), the ephemeral ones that
   * lost every peer (deleted), and whether none moves or is still moving.
   */
  private remapConsumers(s: NrgMetaStream, group: NrgRaftGroup): { remapped: NrgMetaConsumer[]; deleted: NrgMetaConsumer[]; done: boolean } {
    const remapped: NrgMetaConsumer[] = [];
    const deleted: NrgMetaConsumer[] = [];
    let done = true;
    for (const c of s.consumers.values()) {
      const current = this.pendingGroup(`${s.account} > ${s.config.name} > ${c.name}`, c.group);
      if (desiredOf(current) !== undefined) done = false;
      const next = remapConsumer({ group, config: s.config }, { group: current, config: c.config }, (n) => groupName("C", n, c.group.store === "memory" ? "memory" : "file"));
      if (next === undefined) continue;
      done = false;
      if (next === "delete") deleted.push(c);
      else remapped.push({ ...c, ...next });
    }
    return { remapped, deleted, done };
  }

  /** The consumers' new assignments, then the removals of those deleted, after their stream's (removePeerFromStreamLocked's order). */
  private proposeConsumers(s: NrgMetaStream, consumers: NrgMetaConsumer[], deleted: NrgMetaConsumer[] = []): void {
    for (const c of consumers) {
      if (!this.srv.propose(metaEntry(NrgEntryOp.AssignConsumer, consumerBody(c, "", "", undefined)))) return;
      this.counters.reconciled++;
      this.inflight.set(`${s.account} > ${s.config.name} > ${c.name}`, { group: c.group, at: Date.now() });
    }
    for (const c of deleted) {
      if (!this.srv.propose(metaEntry(NrgEntryOp.RemoveConsumer, consumerBody(c, "", "", undefined)))) return;
      this.counters.consumersRemoved++;
    }
  }

  /**
   * STREAM.PEER.REMOVE.<stream> (jsStreamRemovePeerRequest): the peer (a server name, or a peer
   * id) out of the group at once, a replacement placed among the other servers (fewer replicas
   * tried down to one more than those left; refused when the stream would miss replicas),
   * proposed as the stream's assignment with the peer under desired `removed`, its consumers
   * remapped; answered at once. The stream's leader then adds the replacement through its
   * reconcile requests.
   */
  private streamPeerRemove(subject: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const client = requestClient(hdr);
    if (client === undefined) return undefined;
    const account = assignmentAccount(client);
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    if (this.srv.accountLimits(account) === undefined) throw jsError("JSNotEnabledForAccountErr");
    if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
    let req: { peer?: unknown };
    try {
      req = JSON.parse(body.toString("utf8")) as { peer?: unknown };
    } catch (err) {
      throw jsError("JSInvalidJSONErr", { err: (err as Error).message });
    }
    if (typeof req !== "object" || req === null || typeof req.peer !== "string" || req.peer === "") throw jsError("JSBadRequestErr");
    const s = this.meta.stream(account, subject.split(".")[5]);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    const base = this.pendingGroup(`${s.account} > ${s.config.name}`, s.group);
    const d = desiredOf(base);
    const isMember = (p: string): boolean => base.peers.includes(p) || (d?.peers.includes(p) ?? false);
    const byName = this.srv.idOf(req.peer) ?? shortHash(req.peer);
    const peer = isMember(byName) ? byName : req.peer;
    if (!isMember(peer)) throw jsError("JSClusterPeerNotMemberErr");
    const proposed = this.removePeerFromStream(s, peer, true);
    if (proposed === "no replacement") throw jsError("JSPeerRemapErr");
    if (proposed === "not leading") return undefined;
    this.counters.peersRemoved++;
    return { success: true };
  }

  /**
   * A peer out of a stream's group at once (removePeerFromStreamLocked with remove): a
   * replacement placed among the other servers (fewer replicas tried down to one more than
   * those left), proposed as the stream's assignment with the peer under desired `removed`,
   * then its consumers remapped and the ephemeral ones that lost every peer removed.
   * `requireReplicas` (STREAM.PEER.REMOVE) refuses a group left short of its replicas; a server
   * removal (SERVER.REMOVE) takes it short. A group left with no member (an R1 stream on the
   * peer) goes to the server placement picks, without its data, as 2.15.1 moves it; nothing is
   * proposed when placement finds none (the group stays assigned to the peer).
   */
  private removePeerFromStream(s: NrgMetaStream, peer: string, requireReplicas: boolean): "proposed" | "no replacement" | "not leading" {
    return this.reassignStreamPeers(s, [peer], requireReplicas, 0);
  }

  /**
   * `peers` (none: only grown) out of a stream's group at once with replacements placed, the
   * group grown toward `minReplicas` (nats-server's reassignStreamPeers with remove: a target of
   * the base peers or `minReplicas`, whichever is more, tried down to one more than those kept).
   */
  private reassignStreamPeers(s: NrgMetaStream, peers: string[], requireReplicas: boolean, minReplicas: number, ignore: string[] = []): "proposed" | "no replacement" | "not leading" {
    const key = `${s.account} > ${s.config.name}`;
    const base = this.pendingGroup(key, s.group);
    const d = desiredOf(base);
    const basePeers = d?.peers ?? base.peers;
    const retain = basePeers.filter((p) => !peers.includes(p));
    // With no member left (an R1 stream on the server gone) the group is placed anew, empty, as
    // 2.15.1 places it; where placement finds no server it stays assigned as it is.
    const store = base.store === "memory" ? "memory" : "file";
    let placed = retain;
    for (let r = Math.max(basePeers.length, minReplicas); r > retain.length; r--) {
      try {
        placed = this.selectPeers(s.config, store, r, retain, [...peers, ...ignore]);
        break;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
      }
    }
    if (requireReplicas && placed.length < Number(s.config.num_replicas ?? 1)) return "no replacement";
    // Nothing to change: no peer out and none added.
    if (peers.length === 0 && placed.length === retain.length) return "no replacement";
    const group = peerRemovedGroup(base, peers, placed);
    if (group === undefined) return "no replacement";
    if (!this.srv.propose(metaEntry(NrgEntryOp.AssignStream, streamBody({ ...s, group }, "", "", undefined)))) return "not leading";
    this.inflight.set(key, { group, at: Date.now() });
    const { remapped, deleted } = this.remapConsumers(s, group);
    this.proposeConsumers(s, remapped, deleted);
    return "proposed";
  }

  /**
   * SERVER.REMOVE (jsLeaderServerRemoveRequest, system account only): the meta group's member
   * named by `peer_id`, else by server name (`peer`), proposed out of the group as a RemovePeer
   * entry of its own; one change at a time (10202). Answered once the removal is committed
   * (`peerRemoved`), as 2.15.1 answers; this server itself too, as 2.15.1's leader removes itself:
   * committed by the others, answered, the group handed to a follower with a LeaderTransfer.
   */
  private serverRemove(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    if (!this.fromSystem(hdr)) return undefined;
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
    const req = decodeRequest<{ peer?: string; peer_id?: string }>(body, SERVER_REMOVE_SHAPE, "JSApiMetaServerRemoveRequest") ?? {};
    if (this.removal !== undefined && Date.now() - this.removal.at < INFLIGHT_MS) throw jsError("JSClusterServerMemberChangeInflightErr");
    const members = this.srv.metaPeers();
    const found = req.peer_id !== undefined && req.peer_id !== "" ? members.find((p) => p === req.peer_id) : members.find((p) => this.srv.nameOf(p) === req.peer);
    if (found === undefined) throw jsError("JSClusterServerNotMemberErr");
    // Itself too: committed by the others, then the group is handed over (NrgGroupMember.leaveIfRemoved).
    if (!this.srv.proposeRemovePeer(found)) throw jsError("JSRaftGeneralErrF", { err: "proposal failed: not leading" });
    this.removal = { peer: found, subject, reply, at: Date.now() };
    this.counters.serversRemoved++;
    this.srv.log(`NRG meta leader: proposed the removal of ${this.srv.nameOf(found)} (${found}) from the meta group`);
    return undefined;
  }

  /**
   * A committed RemovePeer (processRemovePeer on the meta leader): the removal's request
   * answered, then every stream the peer is a member of (or a desired member) loses it, a
   * replacement placed where there is one.
   */
  peerRemoved(peer: string): void {
    const r = this.removal;
    if (r !== undefined && r.peer === peer) {
      this.removal = undefined;
      this.send(r.reply, "meta_server_remove_response", { success: true });
    }
    // This server removed: it leaves at once; its streams are the next meta leader's to mend
    // (2.15.1's removed leader proposes nothing for them before it steps down and stops).
    if (peer === this.srv.selfId) return;
    for (const s of [...this.meta.streams.values()]) {
      const base = this.pendingGroup(`${s.account} > ${s.config.name}`, s.group);
      if (!base.peers.includes(peer) && !(desiredOf(base)?.peers.includes(peer) ?? false)) continue;
      if (this.removePeerFromStream(s, peer, false) === "not leading") return;
    }
  }

  /** A server added to the meta group (a committed AddPeer): its first STATSZ is waited for. */
  peerAdded(peer: string): void {
    if (peer !== this.srv.selfId) this.awaitingStatsz.add(peer);
  }

  /**
   * A server's STATSZ with a JetStream block: the first of a new meta peer (processPeerStatsz)
   * re-places onto it alone the groups left short of peers (or naming servers out of the meta
   * group), as a new leader's look at every stream does (reconcilePeerAssignments with the peer).
   */
  peerStatsz(peer: string): void {
    if (!this.awaitingStatsz.has(peer) || !this.srv.metaPeers().includes(peer)) return;
    this.awaitingStatsz.delete(peer);
    this.reconcilePeers(peer);
  }

  /**
   * A new meta leader's look at every stream (processLeaderChange's reconcilePeerAssignments):
   * peers no longer in the meta group (a leader removed itself, which 2.15.1 leaves to its
   * successor) go at once with replacements placed, and a group with fewer target peers than
   * its replicas is grown where placement finds room; the consumers follow their stream. With
   * `only` (a new server's first STATSZ), placement may add that server alone.
   */
  private reconcilePeers(only?: string): void {
    if (only === undefined) this.reconcileTimer = undefined;
    const members = new Set(this.srv.metaPeers());
    const ignore = only === undefined ? [] : [...members].filter((p) => p !== only);
    for (const s of [...this.meta.streams.values()]) {
      const base = this.pendingGroup(`${s.account} > ${s.config.name}`, s.group);
      const d = desiredOf(base);
      const stale = [...new Set([...base.peers, ...(d?.peers ?? [])])].filter((p) => !members.has(p));
      const target = d !== undefined && d.scale_down !== true ? d.peers : base.peers;
      const replicas = Math.max(1, Number(s.config.num_replicas ?? 1));
      if (stale.length === 0 && (target.length >= replicas || (d === undefined && base.peers.length > replicas))) continue;
      const outcome = this.reassignStreamPeers(s, stale, false, replicas, ignore);
      if (outcome === "not leading") return;
      if (outcome === "proposed") {
        this.counters.peersReconciled++;
        this.srv.log(`NRG meta leader: '${s.account} > ${s.config.name}' reconciled${only !== undefined ? ` at ${this.srv.nameOf(only)}'s first STATSZ` : ""}: ${stale.length > 0 ? `${stale.map((p) => this.srv.nameOf(p)).join(", ")} out` : "grown to its replicas"}`);
      }
    }
  }

  /**
   * A consumer group's leader asks for the next step of its desired state
   * (`$SYS.JSC.CONSUMER.ASSIGNMENT.RECONCILE`, reconcileDesiredConsumerAssignment): never onto a
   * peer its stream does not have yet; the step proposed as the consumer's assignment.
   */
  private consumerReconcile(body: Buffer): void {
    const req = parseReconcile(body, true);
    if (req === undefined || req.term === 0 || req.consumer === undefined) return;
    const s = this.meta.stream(req.account, req.stream);
    const c = s?.consumers.get(req.consumer);
    if (s === undefined || c === undefined) return;
    const key = `${s.account} > ${s.config.name} > ${c.name}`;
    const base = this.pendingGroup(key, c.group);
    if ((req.meta_peers ?? []).some((p) => !base.peers.includes(p) && !s.group.peers.includes(p))) return;
    const store = base.store === "memory" ? "memory" : "file";
    const group = reconcileGroup(base, req, consumerReplicas(c.config, s.config), true, () => groupName("C", 1, store));
    if (group === undefined) return;
    if (!this.srv.propose(metaEntry(NrgEntryOp.AssignConsumer, consumerBody({ ...c, group }, "", "", undefined)))) return;
    this.counters.reconciled++;
    this.inflight.set(key, { group, at: Date.now() });
  }

  /**
   * Account info (jsAccountInfoRequest, JetStreamUsage in a cluster): the usage every server
   * reports, the account's assigned streams and their consumers, the storage their max_bytes
   * reserve, the untiered limits. Tiered accounts (operator mode) are not answered per tier.
   */
  private accountInfo(hdr: Buffer | undefined): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    const limits = this.srv.accountLimits(account);
    if (limits === undefined) throw jsError("JSNotEnabledForAccountErr");
    const streams = [...this.meta.streams.values()].filter((s) => s.account === account);
    let reservedMemory = 0;
    let reservedStorage = 0;
    let consumers = 0;
    for (const s of streams) {
      consumers += s.consumers.size;
      const maxBytes = Number(s.config.max_bytes ?? -1);
      if (maxBytes <= 0) continue;
      if (s.config.storage === "memory") reservedMemory += maxBytes;
      else reservedStorage += maxBytes;
    }
    const u = this.srv.usage(account);
    const flat = limits.get("");
    return {
      memory: u.memory,
      storage: u.storage,
      reserved_memory: reservedMemory,
      reserved_storage: reservedStorage,
      streams: streams.length,
      consumers,
      limits: flat !== undefined ? { ...flat } : {},
      ...(this.srv.domain ? { domain: this.srv.domain } : {}),
      api: { level: JS_API_LEVEL, total: u.api, errors: u.errors },
    };
  }

  /** A request from the system account itself (a request through an account's import names that account). */
  private fromSystem(hdr: Buffer | undefined): boolean {
    const client = requestClient(hdr);
    return client === undefined || assignmentAccount(client) === this.srv.sys.name;
  }

  /**
   * ACCOUNT.PURGE.<account> (jsLeaderAccountPurgeRequest, system account only): every consumer's
   * and then its stream's removal proposed, for each stream of the account, with the request's
   * subject and no reply (the meta leader answers `initiated` at once, also for an account
   * without streams).
   */
  private accountPurge(subject: string, hdr: Buffer | undefined): Record<string, unknown> | undefined {
    if (!this.fromSystem(hdr)) return undefined;
    const account = subject.slice("$JS.API.ACCOUNT.PURGE.".length);
    if (/[\\/]/.test(account)) throw jsError("JSStreamGeneralErrorF", { err: "account name can not contain path separators" });
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    let streams = 0;
    let consumers = 0;
    for (const s of [...this.meta.streams.values()].filter((x) => x.account === account)) {
      for (const c of s.consumers.values()) {
        if (!this.srv.propose(metaEntry(NrgEntryOp.RemoveConsumer, consumerBody(c, subject, "", undefined)))) throw jsError("JSStreamGeneralErrorF", { err: "proposal failed: not leading" });
        consumers++;
      }
      if (!this.srv.propose(metaEntry(NrgEntryOp.RemoveStream, streamBody(s, subject, "", undefined)))) throw jsError("JSStreamGeneralErrorF", { err: "proposal failed: not leading" });
      streams++;
    }
    this.counters.purges++;
    this.srv.log(`NRG meta leader: purge request for account ${account} (streams: ${streams}, consumers: ${consumers}, hasAccount: ${streams > 0})`);
    return { initiated: true };
  }

  private stepDown(hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    if (!this.fromSystem(hdr)) return undefined;
    const preferred = this.srv.stepDownTarget(stepDownPlacement(body));
    // Answered first: the leadership goes with the next turn.
    setImmediate(() => this.srv.stepDown(preferred));
    return { success: true };
  }

  json(): Record<string, unknown> {
    return { counters: { ...this.counters } };
  }
}
