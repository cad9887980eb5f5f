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
import { createRequest, isJsonObjectOrArray } from "../jetstream/api.js";
import { CONSUMER_CREATE_SHAPE, decodeRequest, NAMES_SHAPE, type Shape } from "../jetstream/json.js";
import { consumerRequiredLevel, normalizeConsumerConfig, type ConsumerConfig } from "../jetstream/consumer_config.js";
import { createRequestConfig, randomConsumerName } from "../jetstream/consumer_create.js";
import { subjectsOverlap, type StreamConfig } from "../jetstream/stream_config.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet, staticMetadata } from "../jetstream/api_level.js";
import type { JetStreamOptions } from "../config/options.js";
import { NrgEntryOp, type NrgRaftGroup } from "../jetstream/nrg_entries.js";
import { assignmentAccount, type NrgMetaConsumer, type NrgMetaState, type NrgMetaStream } from "./nrg_meta_state.js";

const TYPE = "io.nats.jetstream.api.v1.";
const HDR_REQUEST_INFO = "Nats-Request-Info";
/** nats-server's JSApiNamesLimit. */
const NAMES_LIMIT = 1024;
const STEPDOWN_SHAPE: Shape = { placement: { object: { cluster: "string", tags: "strings", preferred: "string" }, name: "Placement" } };
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
  /** The meta group's members heard from within the lost-quorum interval (this one included). */
  onlinePeers(): string[];
  /** A server name's peer id among the meta group's members, or undefined. */
  idOf(name: string): string | undefined;
  /** One meta entry of ours (false: not leading, dropped as nats-server drops a failed proposal). */
  propose(data: Buffer): boolean;
  stepDown(preferred: string | undefined): void;
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

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A meta entry: the op byte, then the assignment's JSON with a newline (Go's json.Encoder). */
function metaEntry(op: NrgEntryOp, body: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([op]), Buffer.from(JSON.stringify(body) + "\n")]);
}

function streamBody(s: Pick<NrgMetaStream, "client" | "created" | "config" | "group" | "sync">, subject: string, reply: string, client: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...(client !== undefined ? { client } : s.client !== undefined ? { client: s.client } : {}), created: s.created, stream: s.config, group: s.group, sync: s.sync, subject, reply };
}

function consumerBody(c: NrgMetaConsumer, subject: string, reply: string, client: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...(client !== undefined ? { client } : c.client !== undefined ? { client: c.client } : {}), created: c.created, name: c.name, stream: c.stream, consumer: c.config, group: c.group, subject, reply };
}

export class NrgMetaLeader {
  private subs: Subscription[] = [];
  counters = { streamsProposed: 0, streamsRemoved: 0, consumersProposed: 0, consumersRemoved: 0, forwarded: 0, refused: 0 };

  constructor(
    private readonly srv: NrgMetaLeaderServer,
    private readonly meta: NrgMetaState,
  ) {}

  start(): void {
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
    on("$JS.API.STREAM.CREATE.*", (s, reply, hdr, body) => this.answer(reply, "stream_create_response", () => this.streamCreate(s, reply, hdr, body)));
    on("$JS.API.STREAM.DELETE.*", (s, reply, hdr) => this.answer(reply, "stream_delete_response", () => this.streamDelete(s, reply, hdr)));
    on("$JS.API.CONSUMER.CREATE.>", (s, reply, hdr, body) => this.answer(reply, "consumer_create_response", () => this.consumerCreate(s, reply, hdr, body, false)));
    on("$JS.API.CONSUMER.DURABLE.CREATE.*.*", (s, reply, hdr, body) => this.answer(reply, "consumer_create_response", () => this.consumerCreate(s, reply, hdr, body, true)));
    on("$JS.API.CONSUMER.DELETE.*.*", (s, reply, hdr) => this.answer(reply, "consumer_delete_response", () => this.consumerDelete(s, reply, hdr)));
    on("$JS.API.STREAM.INFO.*", (s, reply, hdr) => this.answer(reply, "stream_info_response", () => this.unassigned(s, hdr, false)));
    on("$JS.API.CONSUMER.INFO.*.*", (s, reply, hdr) => this.answer(reply, "consumer_info_response", () => this.unassigned(s, hdr, true)));
    on("$JS.API.STREAM.NAMES", (_s, reply, hdr, body) => this.answer(reply, "stream_names_response", () => this.streamNames(hdr, body)));
    on("$JS.API.META.LEADER.STEPDOWN", (_s, reply, hdr, body) => this.answer(reply, "meta_leader_stepdown_response", () => this.stepDown(hdr, body)));
    on("$NRG.P._meta_", (_s, _reply, _hdr, body) => {
      if (body.length > 0 && this.srv.propose(body)) this.counters.forwarded++;
    });
  }

  stop(): void {
    for (const sub of this.subs) this.srv.sys.unsubscribeInternal(sub);
    this.subs = [];
  }

  /**
   * Run a handler: its answer (undefined: none now, the proposal's outcome answers) or its
   * refusal sent to the reply; a request without a reply is still acted on.
   */
  private answer(reply: string, type: string, handler: () => Record<string, unknown> | undefined): void {
    let body: Record<string, unknown> | undefined;
    try {
      body = handler();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.counters.refused++;
      body = { error: err.toJSON() };
    }
    if (body === undefined || reply === "") return;
    this.srv.sys.publish(reply, "", undefined, Buffer.from(JSON.stringify({ type: TYPE + type, ...body })));
  }

  /** The account a request names (its Nats-Request-Info); undefined for one not meant for us (no header: the system account's own). */
  private account(hdr: Buffer | undefined): string | undefined {
    const client = requestClient(hdr);
    return client === undefined ? undefined : assignmentAccount(client);
  }

  private streamCreate(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const client = requestClient(hdr);
    if (client === undefined) return undefined;
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
    const account = assignmentAccount(client);
    const name = subject.slice("$JS.API.STREAM.CREATE.".length);
    const cfg = createRequest(name, body, true, this.srv.jetstream) as unknown as Record<string, unknown> & { name: string };
    const existing = this.meta.stream(account, name);
    if (existing !== undefined) {
      // nats-server keeps the assignment's metadata and compares the rest.
      const same = JSON.stringify({ ...existing.config, metadata: undefined }) === JSON.stringify({ ...cfg, metadata: undefined });
      if (!same) throw jsError("JSStreamNameExistErr");
    }
    const subjects = (cfg.subjects as string[] | undefined) ?? [];
    for (const other of this.meta.streams.values()) {
      if (other.account !== account || other.config.name === name) continue;
      if (subjectsOverlap(subjects, (other.config.subjects as string[] | undefined) ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    const store = cfg.storage === "memory" ? "memory" : "file";
    const group = existing?.group ?? this.placeStream(cfg, store);
    const assignment = { client, created: existing?.created ?? rfc3339(nowNs()), config: existing !== undefined ? { ...cfg, metadata: existing.config.metadata } : cfg, group, sync: existing?.sync ?? `$JSC.SYNC.${randomToken(8, SYNC_DIGITS)}` };
    if (this.srv.propose(metaEntry(NrgEntryOp.AssignStream, streamBody(assignment, subject, reply, client)))) this.counters.streamsProposed++;
    return undefined;
  }

  /** nats-server's createGroupForStream over what this member knows: the meta group's members heard from lately. */
  private placeStream(cfg: Record<string, unknown>, store: string): NrgRaftGroup {
    const replicas = Math.max(1, Number(cfg.num_replicas ?? 1));
    const placement = cfg.placement as { cluster?: string; tags?: string[] } | undefined;
    if (placement?.cluster !== undefined && placement.cluster !== "" && placement.cluster !== this.srv.clusterName) throw jsError("JSClusterNoPeersErrF", { err: "no suitable peers for placement" });
    // Tags are in each server's STATSZ, which this member does not read: it places nothing it cannot check.
    if ((placement?.tags?.length ?? 0) > 0) throw jsError("JSClusterNoPeersErrF", { err: `no suitable peers for placement, tags not matched ['${(placement?.tags ?? []).join("', '")}']` });
    // This server holds replicas only through its RAFT members: never an R1 stream alone.
    const online = this.srv.onlinePeers().filter((id) => replicas > 1 || id !== this.srv.selfId);
    if (online.length < replicas) throw jsError("JSClusterNoPeersErrF", { err: "no suitable peers for placement" });
    const peers = shuffled(online).slice(0, replicas);
    return { name: groupName("S", peers.length, store), peers, store, cluster: this.srv.clusterName, preferred: peers[Math.floor(Math.random() * peers.length)] };
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
      assignment = { ...existing, config: { ...cfg, pause_until: existing.config.pause_until } };
      if (assignment.config.pause_until === undefined) delete assignment.config.pause_until;
    } else {
      if (action === "update") throw jsError("JSConsumerDoesNotExist");
      const group = this.placeConsumer(cfg, s);
      assignment = { created: rfc3339(nowNs()), name: name !== "" ? name : randomConsumerName(), stream: streamName, config: cfg, group };
    }
    if (this.srv.propose(metaEntry(NrgEntryOp.AssignConsumer, consumerBody(assignment, subject, reply, client)))) this.counters.consumersProposed++;
    return undefined;
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
      // Never this server alone: it leads no R1 consumer.
      const eligible = active.filter((id) => replicas > 1 || id !== this.srv.selfId);
      if (eligible.length < replicas) throw jsError("JSInsufficientResourcesErr");
      peers = shuffled(eligible).slice(0, replicas);
    }
    const store = cfg.mem_storage === true ? "memory" : s.group.store;
    const preferredFrom = peers.filter((id) => online.has(id));
    const pool = preferredFrom.length > 0 ? preferredFrom : peers;
    return { name: groupName("C", peers.length, store), peers, store, cluster: s.group.cluster, preferred: pool[Math.floor(Math.random() * pool.length)] };
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

  private streamNames(hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    const account = this.account(hdr);
    if (account === undefined) return undefined;
    const req = isJsonObjectOrArray(body) ? (decodeRequest<{ offset?: number; subject?: string }>(body, NAMES_SHAPE, "JSApiStreamNamesRequest") ?? {}) : {};
    const filter = req.subject ?? "";
    const names = [...this.meta.streams.values()]
      .filter((s) => s.account === account && (filter === "" || subjectsOverlap([filter], (s.config.subjects as string[] | undefined) ?? [])))
      .map((s) => s.config.name)
      .sort();
    const offset = Math.max(0, Math.min(req.offset ?? 0, names.length));
    return { total: names.length, offset, limit: NAMES_LIMIT, streams: names.slice(offset, offset + NAMES_LIMIT) };
  }

  private stepDown(hdr: Buffer | undefined, body: Buffer): Record<string, unknown> | undefined {
    // From the system account only: a request through an account's import names that account.
    const client = requestClient(hdr);
    if (client !== undefined && assignmentAccount(client) !== this.srv.sys.name) return undefined;
    let preferred: string | undefined;
    if (isJsonObjectOrArray(body)) {
      const req = decodeRequest<{ placement?: { preferred?: string } }>(body, STEPDOWN_SHAPE, "JSApiLeaderStepdownRequest") ?? {};
      const want = req.placement?.preferred ?? "";
      if (want !== "") {
        preferred = this.srv.idOf(want);
        if (preferred === this.srv.selfId) throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${want}" is already leader` });
        if (preferred === undefined) throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${want}" not known` });
      }
    }
    // Answered first: the leadership goes with the next turn.
    setImmediate(() => this.srv.stepDown(preferred));
    return { success: true };
  }

  json(): Record<string, unknown> {
    return { counters: { ...this.counters } };
  }
}
