// The $JS.API request/reply surface of one account: an internal subscription on
// `$JS.API.>` (and `$JS.<domain>.API.>` when a domain is set) that dispatches on the
// subject's tokens, decodes the request strictly, calls into JsAccount/Stream/Consumer and
// answers with nats-server's JSON (a `type` field, and `error` on failure).
import type { JetStreamOptions } from "../config/options.js";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { Subscription } from "../server/sublist.js";
import { subjectsCollide } from "../protocol/subject.js";
import * as adv from "./advisories.js";
import { consumerRequiredLevel, pauseUntilUtc, replicatedConsumer, validGroupName, type ConsumerConfig } from "./consumer_config.js";
import { addConsumerWithAction, createRequestConfig, sourcingConsumer, type ConsumerAction } from "./consumer_create.js";
import { maxDuplicateWindowNs } from "./server_limits.js";
import type { Consumer } from "./consumer.js";
import { handleDirectGet } from "./direct_get.js";
import { PENDING, SKIP } from "./intercept.js";
import { peerRemapKind } from "./peer_remap.js";
import { ApiError, jsError } from "./errors.js";
import type { JetStreamService, JsAccount } from "./jetstream.js";
import {
  CONSUMER_CREATE_SHAPE,
  CONSUMER_NAMES_SHAPE,
  CONSUMER_PAUSE_SHAPE,
  CONSUMER_RESET_SHAPE,
  CONSUMER_UNPIN_SHAPE,
  unmarshalLenient,
  decodeRequest,
  type Shape,
  LIST_SHAPE,
  MSG_DELETE_SHAPE,
  MSG_GET_SHAPE,
  NAMES_SHAPE,
  PURGE_SHAPE,
  STREAM_CREATE_SHAPE,
  STREAM_INFO_SHAPE,
  SNAPSHOT_SHAPE,
  RESTORE_SHAPE,
} from "./json.js";
import { startRestore, startSnapshot, type SnapshotRequest } from "./snapshot.js";
import { OFFLINE_ERROR_DELAY_MS, OfflineStream } from "./offline.js";
import type { AdvisoryClient } from "./advisories.js";
import type { Stream } from "./stream.js";
import { storeErrorToApi } from "./stream.js";
import {
  checkStreamName,
  normalizeStreamConfig,
  type StreamConfig,
  type StreamConfigRequest,
} from "./stream_config.js";
import { rfc3339 } from "../server/time.js";
import { buildHeaders, getHeader } from "../protocol/headers.js";
import { streamIdentity } from "./stream_source.js";
import { accountInfoJson } from "./account_info.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet, staticMetadata, streamRequiredLevel } from "./api_level.js";

const TYPE = "io.nats.jetstream.api.v1.";
/** First tokens of the JSON APIs (for the Nats-Required-Api-Level check). */
const API_AREAS = new Set(["INFO", "STREAM", "CONSUMER", "ACCOUNT", "META", "SERVER"]);
const NAMES_LIMIT = 1024;
/** Subjects one STREAM.INFO page lists (nats-server's JSMaxSubjectDetails). */
const SUBJECT_DETAILS_LIMIT = 100_000;
const LIST_LIMIT = 256;

type Json = Record<string, unknown>;

interface MsgGetRequest {
  seq?: number;
  last_by_subj?: string;
  next_by_subj?: string;
  start_time?: string;
  batch?: number;
  max_bytes?: number;
  no_hdr?: boolean;
}

/** A CONSUMER.UNPIN request's group, checked in nats-server's order (also read by the nrg consumer leader). */
export function parseUnpinGroup(body: Buffer): string {
  const req = unmarshalLenient(body, CONSUMER_UNPIN_SHAPE, "JSApiConsumerUnpinRequest");
  if (typeof req === "string") throw jsError("JSInvalidJSONErr", { err: req });
  const group = (req.group as string | undefined) ?? "";
  if (group === "") throw jsError("JSInvalidJSONErr", { err: "consumer group not specified" });
  if (!validGroupName(group)) throw jsError("JSConsumerInvalidGroupNameErr");
  return group;
}

/** A consumer paused until `until` (UTC), or resumed (undefined): CONSUMER.PAUSE, or a pause recorded while its server was down. */
export function applyPause(c: Consumer, until: string | undefined): void {
  const next: ConsumerConfig = { ...c.cfg };
  if (until === undefined) delete next.pause_until;
  else next.pause_until = until;
  next.metadata = staticMetadata(next.metadata, consumerRequiredLevel(next));
  c.updateConfig(next);
}

/** CONSUMER.PAUSE's answer: paused until `until` (undefined: resumed), `remainingNs` from now. */
export function pauseAnswer(until: string | undefined, remainingNs: number): Record<string, unknown> {
  return { paused: remainingNs > 0, pause_until: until ?? "0001-01-01T00:00:00Z", ...(remainingNs > 0 ? { pause_remaining: remainingNs } : {}) };
}

/** Response type names by API, for error replies too. */
function responseType(tokens: string[]): string {
  const [a, b, c] = tokens;
  if (a === "INFO") return "account_info_response";
  if (a === "STREAM") {
    if (b === "MSG") return c === "GET" ? "stream_msg_get_response" : "stream_msg_delete_response";
    if (b === "LEADER") return "stream_leader_stepdown_response";
    if (b === "PEER") return c === "EVACUATE" ? "stream_evacuate_peer_response" : "stream_remove_peer_response";
    return `stream_${(b ?? "").toLowerCase()}_response`;
  }
  if (a === "CONSUMER") {
    if (b === "DURABLE") return "consumer_create_response";
    if (b === "LEADER") return "consumer_leader_stepdown_response";
    if (b === "PEER") return c === "EVACUATE" ? "consumer_evacuate_peer_response" : "consumer_remove_peer_response";
    return `consumer_${(b ?? "").toLowerCase()}_response`;
  }
  if (a === "META" && b === "LEADER") return "meta_leader_stepdown_response";
  if (a === "SERVER" && b === "REMOVE") return "meta_server_remove_response";
  if (a === "SERVER" && b === "EVACUATE") return "meta_server_evacuate_response";
  if (a === "META" && b === "RESCUE") return "meta_rescue_response";
  if (a === "ACCOUNT" && b === "STREAM") return c === "MOVE" ? "stream_update_response" : "stream_cancel_move_response";
  if (a === "ACCOUNT" && b === "PURGE") return "account_purge_response";
  return "api_response";
}

/** STREAM.LEADER.STEPDOWN.<s>, STREAM.PEER.REMOVE|EVACUATE.<s>, CONSUMER.PEER.REMOVE|EVACUATE.<s>.<c>, CONSUMER.LEADER.STEPDOWN.<s>.<c>. */
function isClusterOnlyRequest(t: string[]): boolean {
  if (t[0] === "STREAM" && t.length === 3 && t[1] === "CANCEL_MOVE") return true;
  if (peerRemapKind(t) !== undefined) return true;
  if (t[0] === "STREAM") return t.length === 4 && t[1] === "LEADER" && t[2] === "STEPDOWN";
  return t[0] === "CONSUMER" && t.length === 5 && t[1] === "LEADER" && t[2] === "STEPDOWN";
}

/**
 * Fields nats-server's response structs carry even on errors (they are not omitempty):
 * paged responses keep their paging, a purge its count.
 */
function errorExtras(tokens: string[]): Json {
  const [a, b] = tokens;
  if (a === "STREAM" && b === "INFO") return { total: 0, offset: 0, limit: 0 };
  if (a === "STREAM" && b === "PURGE") return { purged: 0 };
  if (a === "STREAM" && b === "RESTORE") return { deliver_subject: "" };
  if (a === "STREAM" && b === "NAMES") return { total: 0, offset: 0, limit: 0, streams: null };
  if (a === "STREAM" && b === "LIST") return { total: 0, offset: 0, limit: 0, streams: [] };
  if (a === "CONSUMER" && (b === "NAMES" || b === "LIST")) return { total: 0, offset: 0, limit: 0, consumers: [] };
  if (a === "CONSUMER" && b === "PAUSE") return { paused: false, pause_until: "0001-01-01T00:00:00Z" };
  return {};
}

/**
 * A STREAM.RESTORE request's stream config, checked (the single server's restore, and the meta
 * leader placing a restore in a cluster); `raw`: the config as asked for.
 */
export function restoreRequest(name: string, body: Buffer, clustered: boolean, js: JetStreamOptions): { cfg: StreamConfig; raw: StreamConfigRequest } {
  if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
  const req = decodeRequest<{ config?: StreamConfigRequest; state?: unknown }>(body, RESTORE_SHAPE, "JSApiStreamRestoreRequest", true, js.strict !== false);
  const raw = { ...(req?.config ?? {}) };
  if ((raw.name ?? "") === "") raw.name = name;
  if (raw.name !== name) throw jsError("JSStreamMismatchErr");
  if (/[\\/]/.test(name)) throw jsError("JSStreamNameContainsPathSeparatorsErr");
  const cfg = normalizeStreamConfig(raw, { clustered, maxDuplicateWindowNs: maxDuplicateWindowNs(js) });
  cfg.metadata = staticMetadata(cfg.metadata, streamRequiredLevel(cfg));
  return { cfg, raw };
}

/**
 * A STREAM.CREATE request's stream config, checked in nats-server's order (the stream's server,
 * and the meta leader of a cluster, which refuses a bad one before it is assigned).
 */
export function createRequest(name: string, body: Buffer, clustered: boolean, js: JetStreamOptions): StreamConfig {
  // No body decodes to the zero config (nats-server's decoder sees no input).
  const raw = decodeRequest<StreamConfigRequest & { pedantic?: boolean }>(body, STREAM_CREATE_SHAPE, "StreamConfigRequest", true, js.strict !== false) ?? {};
  const pedantic = raw.pedantic === true;
  delete raw.pedantic;
  // The config must name the stream of the subject (nats-server: no name is a mismatch too).
  if ((raw.name ?? "") !== name) throw jsError("JSStreamMismatchErr");
  checkStreamName(name);
  if (raw.sealed) throw jsError("JSStreamInvalidConfigF", { err: "stream configuration for create can not be sealed" });
  if (raw.mirror_direct && (raw.mirror === undefined || raw.mirror === null)) {
    throw jsError("JSStreamInvalidConfigF", { err: "stream has no mirror but does have mirror direct" });
  }
  const cfg = normalizeStreamConfig(raw, { clustered, pedantic, maxDuplicateWindowNs: maxDuplicateWindowNs(js) });
  cfg.metadata = staticMetadata(cfg.metadata, streamRequiredLevel(cfg));
  return cfg;
}

/** The JSON error answer to the API request `rest` (tokens after `$JS.API.`), with its response type and fields. */
export function errorResponse(rest: string, err: ApiError): string {
  const tokens = rest.split(".");
  return JSON.stringify({ type: TYPE + responseType(tokens), error: err.toJSON(), ...errorExtras(tokens) });
}

/** nats-server's isEmptyRequest: no body, or a JSON object without fields. */
export function isEmptyRequest(body: Buffer): boolean {
  if (body.length === 0) return true;
  try {
    const v: unknown = JSON.parse(body.toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0;
  } catch {
    return false;
  }
}

/**
 * nats-server's isJSONObjectOrArray: the requests whose options are optional (names, lists,
 * info, purge, pause) read a body only when it starts, after JSON whitespace, with '{' or '[';
 * anything else ("true", "1", a stray byte) counts as no options, not as bad JSON.
 */
export function isJsonObjectOrArray(body: Buffer): boolean {
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0a || body[i] === 0x0d)) i++;
  return i < body.length && (body[i] === 0x7b || body[i] === 0x5b);
}

/** An error nats-server answers after a pause (about an offline asset). */
class OfflineApiError extends ApiError {}

/** An error nats-server sends as an ordinary response (its API error counter stays). */
class UncountedApiError extends ApiError {}

function closedStreamError(name: "JSStreamGeneralErrorF" | "JSStreamMsgDeleteFailedF"): ApiError {
  const e = jsError(name, { err: "stream closed" });
  return new UncountedApiError(e.code, e.errCode, e.description);
}

function offlineError(name: "JSStreamOfflineReasonErrF" | "JSConsumerOfflineReasonErrF", reason: string): ApiError {
  const e = jsError(name, { err: reason });
  return new OfflineApiError(e.code, e.errCode, e.description);
}

/** Paging as nats-server does it: an offset past the end is clamped to the total. */
function pageOffset(requested: number | undefined, total: number): number {
  return Math.min(Math.max(0, requested ?? 0), total);
}

export class Api {
  private subs: Subscription[] = [];
  /** Set by a handler whose answer nats-server sends outside the API counters and audit. */
  private unaccounted = false;

  constructor(private readonly jsa: JsAccount) {}

  install(): void {
    const acc = this.jsa.account;
    const prefixes = ["$JS.API."];
    const domain = this.jsa.service.options.domain;
    if (domain) prefixes.push(`$JS.${domain}.API.`);
    for (const prefix of prefixes) {
      this.subs.push(
        acc.subscribeInternal(
          `${prefix}>`,
          (subject, reply, hdr, payload, origin) => {
            // Pull requests and direct gets are for a consumer / stream that subscribes itself in
            // nats-server: without one nobody listens, and a requester gets 503 no responders.
            if (!this.hasOwnResponder(subject.substring(prefix.length))) {
              // (In a cluster every server's API subscription takes it: a client of this server
              // asking a consumer whose server is down gets that 503 from here.)
              if (origin === undefined || reply === "" || !this.unanswerablePull(subject.substring(prefix.length))) return false;
              if (origin.opts.noResponders) acc.sendNoResponders(origin, subject, reply);
              return true;
            }
            // Keep what we need (the read buffer is reused) and answer after the publisher's turn.
            const body = Buffer.from(payload);
            const h = hdr !== undefined && hdr.length > 0 ? Buffer.from(hdr) : undefined;
            const rest = subject.substring(prefix.length);
            queueMicrotask(() => this.dispatch(rest, reply, body, origin, h));
          },
          undefined,
          "jetstream-api",
        ),
      );
    }
  }

  uninstall(): void {
    for (const s of this.subs) this.jsa.account.unsubscribeInternal(s);
    this.subs = [];
  }

  /** Accounts without JetStream answer every API request with "not enabled for account". */
  static installNotEnabled(acc: Account, service: JetStreamService): Subscription {
    void service;
    return acc.subscribeInternal(
      "$JS.API.>",
      (subject, reply) => {
        if (reply === "") return;
        const tokens = subject.substring(8).split(".");
        if (tokens[0] === "DIRECT" || (tokens[0] === "CONSUMER" && tokens[1] === "MSG")) return;
        const body = JSON.stringify({ type: TYPE + responseType(tokens), error: jsError("JSNotEnabledForAccountErr").toJSON() });
        queueMicrotask(() => acc.publish(reply, "", undefined, Buffer.from(body)));
      },
      undefined,
      "jetstream-api-disabled",
    );
  }

  /** Headers of the request being handled, and of its response (set by a handler). */
  private requestHdr: Buffer | undefined;
  private responseHdr: Buffer | undefined;
  /** Who sent the request being handled (for advisories). */
  private requestClient: AdvisoryClient;

  /** Is there a consumer (MSG.NEXT) or direct-get stream (DIRECT.GET) for this request? Others: yes. */
  private hasOwnResponder(rest: string): boolean {
    if (rest.startsWith("CONSUMER.MSG.NEXT.")) {
      const t = rest.split(".");
      const c = t.length === 5 ? this.jsa.streams.get(t[3])?.consumers.get(t[4]) : undefined;
      return c !== undefined && (!c.standby || c.electedHere);
    }
    if (rest.startsWith("DIRECT.GET.")) {
      const end = rest.indexOf(".", 11);
      return this.directGetter(end < 0 ? rest.substring(11) : rest.substring(11, end)) !== undefined;
    }
    return true;
  }

  /** A pull request for a consumer no server of the cluster can answer now (cluster.ts pullUnanswerable). */
  private unanswerablePull(rest: string): boolean {
    const cluster = this.jsa.service.cluster;
    if (cluster === undefined || !rest.startsWith("CONSUMER.MSG.NEXT.")) return false;
    const t = rest.split(".");
    return t.length === 5 && cluster.pullUnanswerable(this.jsa, t[3], t[4]);
  }

  /** A request the meta group assigned to this server (cluster.ts): answered when `reply` is set. */
  execute(rest: string, reply: string, body: Buffer, hdr: Buffer | undefined, gated = false, answer?: (json: string) => void): void {
    this.dispatch(rest, reply, body, undefined, hdr, !gated, answer);
  }

  /** `answer`: the JSON answer goes there instead of to `reply` (a replicated stream's create answers once its group has a leader). */
  private dispatch(rest: string, reply: string, body: Buffer, origin: Client | undefined, hdr?: Buffer, assigned = false, answer?: (json: string) => void): void {
    const tokens = rest.split(".");
    // Message paths (no JSON response): pull requests and direct gets.
    if (tokens[0] === "CONSUMER" && tokens[1] === "MSG" && tokens[2] === "NEXT") {
      if (tokens.length !== 5 || reply === "") return;
      const c = this.jsa.streams.get(tokens[3])?.consumers.get(tokens[4]);
      const level = hdr !== undefined ? getHeader(hdr, HDR_REQUIRED_API_LEVEL) : undefined;
      // A replicated consumer answers on its leader only (held while just elected: consumer.ts pullRequest).
      if (c !== undefined) c.pullRequest(reply, body, requiredLevelUnmet(level));
      return;
    }
    if (tokens[0] === "CONSUMER" && tokens[1] === "RESET") {
      // Answered by the consumer itself in nats-server: nothing when there is none, and
      // outside the API counters.
      if (tokens.length !== 4 || reply === "") return;
      const c = this.jsa.streams.get(tokens[2])?.consumers.get(tokens[3]);
      const level = hdr !== undefined ? getHeader(hdr, HDR_REQUIRED_API_LEVEL) : undefined;
      if (c !== undefined && !c.standby) this.consumerReset(c, reply, body, hdr, requiredLevelUnmet(level));
      return;
    }
    if (tokens[0] === "DIRECT" && tokens[1] === "GET") {
      if (tokens.length < 3 || reply === "") return;
      const stream = this.directGetter(tokens[2]);
      if (stream === undefined) return;
      const subj = tokens.length > 3 ? tokens.slice(3).join(".") : undefined;
      handleDirectGet(stream, stream.jsa.service.server.options.maxPending, subj, reply, body, hdr);
      return;
    }
    if (reply === "" && !assigned && answer === undefined) return;
    const type = TYPE + responseType(tokens);
    let resp: Json;
    let failed = false;
    let delayMs = 0;
    this.requestHdr = hdr;
    this.responseHdr = undefined;
    this.requestClient = origin && {
      cid: origin.cid,
      host: origin.host,
      name: origin.opts.name,
      lang: origin.opts.lang,
      version: origin.opts.version,
      user: origin.authorizedUser,
    };
    try {
      // Every JSON API refuses a request that needs a higher API level than this server's.
      if (API_AREAS.has(tokens[0]!) && requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
      // In a cluster the meta group decides who answers (cluster.ts).
      const cluster = assigned ? undefined : this.jsa.service.cluster;
      const gate = cluster?.intercept(this.jsa, tokens, body, reply, hdr);
      if (gate === SKIP || gate === PENDING) return;
      const r = gate ?? this.handle(tokens, body);
      if (r === undefined) return; // not an API we serve: nats-server stays silent
      resp = { type, ...r };
    } catch (err) {
      // nats-server answers some failures as plain responses: not counted as API errors.
      failed = !(err instanceof UncountedApiError);
      const e = err instanceof ApiError ? err : jsError("JSStreamGeneralErrorF", { err: (err as Error).message ?? String(err) });
      if (err instanceof OfflineApiError) delayMs = OFFLINE_ERROR_DELAY_MS;
      if (!(err instanceof ApiError)) this.jsa.service.log.error(`JetStream API ${rest}: ${(err as Error).stack ?? String(err)}`);
      resp = { type, error: e.toJSON(), ...errorExtras(tokens) };
    }
    const out = JSON.stringify(resp);
    if (answer !== undefined) {
      answer(out);
    } else if (reply === "") {
      // An assigned request replayed without a requester: nothing to answer.
    } else if (delayMs > 0) {
      // nats-server answers requests about offline assets after a pause.
      const rhdr = this.responseHdr;
      setTimeout(() => this.jsa.account.publish(reply, "", rhdr, Buffer.from(out)), delayMs).unref();
    } else {
      this.jsa.account.publish(reply, "", this.responseHdr, Buffer.from(out));
    }
    this.requestHdr = undefined;
    this.responseHdr = undefined;
    if (this.unaccounted) {
      this.unaccounted = false;
      return;
    }
    // Counted once answered, so an INFO request does not count itself (as in nats-server).
    this.jsa.apiTotal++;
    if (failed) this.jsa.apiErrors++;
    adv.apiAudit(this.jsa.advisoryContext, `$JS.API.${rest}`, body.toString("utf8"), out, origin && {
      cid: origin.cid,
      host: origin.host,
      name: origin.opts.name,
      lang: origin.opts.lang,
      version: origin.opts.version,
      user: origin.authorizedUser,
    });
  }

  /**
   * Who answers a direct get for `name`: the stream itself when it allows direct gets, else
   * a caught-up mirror of it with mirror_direct (nats-server has both in one queue group).
   */
  private directGetter(name: string): Stream | undefined {
    const own = this.jsa.streams.get(name);
    // A replicated stream's leader answers (the others may not have the latest message yet).
    if (own !== undefined && own.cfg.allow_direct) return own.replica === undefined || own.replica.isLeader ? own : undefined;
    for (const s of this.jsa.streams.values()) {
      if (s.cfg.mirror?.name === name && s.sourcing?.mirrorDirectReady === true && s.cfg.mirror_direct) return s;
    }
    return undefined;
  }

  private handle(t: string[], body: Buffer): Json | undefined {
    // As nats-server outside a cluster: the replica-group requests are answered, never ignored.
    if (this.jsa.service.cluster === undefined && isClusterOnlyRequest(t)) throw jsError("JSClusterRequiredErr");
    switch (t[0]) {
      case "INFO":
        return t.length === 1 ? this.accountInfo() : undefined;
      case "STREAM":
        return this.handleStream(t, body);
      case "CONSUMER":
        return this.handleConsumer(t, body);
      default:
        return undefined;
    }
  }

  // ---- account ----

  private accountInfo(): Json {
    return accountInfoJson(this.jsa, (tier) => this.jsa.usage(tier));
  }

  // ---- streams ----

  private streamOf(name: string): Stream {
    const s = this.jsa.streams.get(name);
    if (s === undefined) throw jsError("JSStreamNotFoundErr");
    return s;
  }

  private handleStream(t: string[], body: Buffer): Json | undefined {
    const op = t[1];
    if (op === "NAMES" || op === "LIST") {
      if (t.length !== 2) return undefined;
      return op === "NAMES" ? this.streamNames(body) : this.streamList(body);
    }
    if (op === "MSG") {
      if (t.length !== 4) return undefined;
      if (t[2] === "GET") return this.msgGet(t[3], body);
      if (t[2] === "DELETE") return this.msgDelete(t[3], body);
      return undefined;
    }
    if (t.length !== 3) return undefined;
    const name = t[2];
    const off = this.jsa.offline.get(name);
    if (off !== undefined && op !== "CREATE" && op !== "DELETE" && op !== "RESTORE") return this.offlineStreamOp(off, op, body);
    switch (op) {
      case "CREATE":
        return this.streamCreate(name, body, false);
      case "UPDATE":
        return this.streamCreate(name, body, true);
      case "INFO":
        return this.streamInfo(name, body);
      case "DELETE": {
        if (!isEmptyRequest(body)) throw jsError("JSNotEmptyRequestErr");
        if (off === undefined) this.streamOf(name);
        this.jsa.deleteStream(name);
        return { success: true };
      }
      case "PURGE":
        return this.streamPurge(name, body);
      case "SNAPSHOT": {
        if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
        const s = this.streamOf(name);
        const req = this.decode<SnapshotRequest>(body, SNAPSHOT_SHAPE, "JSApiStreamSnapshotRequest") ?? {};
        return startSnapshot(s, req, this.requestClient);
      }
      case "RESTORE":
        return this.streamRestore(name, body);
      default:
        return undefined;
    }
  }

  /**
   * A request's JSON as its struct: strictly (unknown fields refused, nats-server's default), or
   * with unknown fields ignored under `jetstream { strict: false }`.
   */
  private decode<T>(body: Buffer, shape: Shape, struct: string, emptyOk = true): T | undefined {
    return decodeRequest<T>(body, shape, struct, emptyOk, this.jsa.service.options.strict !== false);
  }

  /** Optional options: read only from a JSON object or array (isJsonObjectOrArray). */
  private decodeOptions<T>(body: Buffer, shape: Shape, struct: string): T | undefined {
    return isJsonObjectOrArray(body) ? this.decode<T>(body, shape, struct) : undefined;
  }

  private streamCreate(name: string, body: Buffer, update: boolean): Json {
    const clustered = this.jsa.service.cluster !== undefined;
    if (update) {
      // No body decodes to the zero config (nats-server's decoder sees no input).
      const raw = this.decode<StreamConfigRequest & { pedantic?: boolean }>(body, STREAM_CREATE_SHAPE, "StreamConfigRequest") ?? {};
      const pedantic = raw.pedantic === true;
      delete raw.pedantic;
      // Replicas on a standalone server are refused only once the stream is found (updateStream),
      // as nats-server does: an update of a missing stream answers "stream not found".
      const opts = { clustered: true, pedantic, maxDuplicateWindowNs: maxDuplicateWindowNs(this.jsa.service.options) };
      // nats-server's order: the config is checked on its own first, then against the subject.
      const cfg = normalizeStreamConfig(raw, opts);
      if (cfg.name !== name) throw jsError("JSStreamMismatchErr");
      const off = this.jsa.offline.get(name);
      if (off !== undefined) throw offlineError("JSStreamOfflineReasonErrF", off.reason);
      cfg.metadata = staticMetadata(cfg.metadata, streamRequiredLevel(cfg));
      const updated = this.jsa.updateStream(cfg);
      return this.withClusterInfo(updated.infoJson(), updated);
    }
    const cfg = createRequest(name, body, clustered, this.jsa.service.options);
    // An offline stream of that name: nats-server finds the same config (metadata aside) and
    // answers with it, closed; anything else is taken.
    const off = this.jsa.offline.get(name);
    if (off !== undefined) {
      if (!off.sameConfig(cfg)) throw jsError("JSStreamNameExistErr");
      return { ...off.closedInfoJson(), did_create: true };
    }
    // nats-server answers did_create: true for a new stream and for an identical re-create.
    const { stream } = this.jsa.createStream(cfg);
    return { ...this.withClusterInfo(stream.infoJson(), stream), did_create: true };
  }

  /** Where a stream runs: nats-server names the cluster (when clustered) and the leader. */
  private clusterInfo(stream: Stream): Json {
    if (stream.replica !== undefined) return stream.replica.clusterInfo();
    const cluster = this.jsa.service.cluster;
    return cluster !== undefined ? { name: cluster.clusterName, leader: this.jsa.service.server.name } : { leader: this.jsa.service.server.name };
  }

  /** Create and update answers carry `cluster` in a cluster (as nats-server's stream leader sends them). */
  private withClusterInfo(info: Json, stream: Stream): Json {
    return this.jsa.service.cluster !== undefined ? { ...info, cluster: this.clusterInfo(stream) } : info;
  }

  private streamRestore(name: string, body: Buffer): Json {
    const { cfg } = restoreRequest(name, body, this.jsa.service.cluster !== undefined, this.jsa.service.options);
    return startRestore(this.jsa, cfg, this.requestClient);
  }

  private streamInfo(name: string, body: Buffer): Json {
    const req = this.decodeOptions<{ deleted_details?: boolean; subjects_filter?: string; offset?: number }>(body, STREAM_INFO_SHAPE, "JSApiStreamInfoRequest") ?? {};
    const s = this.streamOf(name);
    const info: Json = { ...s.infoJson(req), cluster: this.clusterInfo(s) };
    const alternates = this.jsa.service.cluster?.alternates(this.jsa.account.name, name);
    if (alternates !== undefined) info.alternates = alternates;
    const state = info.state as Json;
    const subjects = state.subjects as Record<string, number> | undefined;
    if (subjects !== undefined) {
      const names = Object.keys(subjects);
      const total = names.length;
      let offset = Math.max(req.offset ?? 0, 0);
      // Past the first page (or beyond the limit) the page is taken from the sorted names.
      if (offset > 0 || total > SUBJECT_DETAILS_LIMIT) {
        names.sort();
        offset = Math.min(offset, total);
        const page = names.slice(offset, offset + SUBJECT_DETAILS_LIMIT);
        if (page.length > 0) state.subjects = Object.fromEntries(page.map((n) => [n, subjects[n]]));
        else delete state.subjects;
      }
      return { total, offset, limit: SUBJECT_DETAILS_LIMIT, ...info };
    }
    return { total: 0, offset: 0, limit: 0, ...info };
  }

  private streamPurge(name: string, body: Buffer): Json {
    const req = this.decodeOptions<{ filter?: string; seq?: number; keep?: number }>(body, PURGE_SHAPE, "JSApiStreamPurgeRequest") ?? {};
    // nats-server's order: the request on its own, then the stream.
    if ((req.seq ?? 0) > 0 && (req.keep ?? 0) > 0) throw jsError("JSBadRequestErr");
    const s = this.streamOf(name);
    if (s.cfg.sealed) throw jsError("JSStreamSealedErr");
    if (s.cfg.deny_purge) throw jsError("JSStreamPurgeFailedF", { err: "stream purge not permitted" });
    const hasOpts = (req.filter !== undefined && req.filter !== "") || (req.seq ?? 0) > 0 || (req.keep ?? 0) > 0;
    let purged: number;
    try {
      purged = s.applyStreamOp(hasOpts ? { op: "purge", filter: req.filter, seq: req.seq, keep: req.keep } : { op: "purge" }) as number;
    } catch (err) {
      throw err instanceof ApiError ? err : jsError("JSStreamPurgeFailedF", { err: (err as Error).message });
    }
    return { success: true, purged };
  }

  private streamNames(body: Buffer): Json {
    const req = this.decodeOptions<{ offset?: number; subject?: string }>(body, NAMES_SHAPE, "JSApiStreamNamesRequest") ?? {};
    const names = this.filteredStreams(req.subject).map((s) => s.name);
    const offset = pageOffset(req.offset, names.length);
    const page = names.slice(offset, offset + NAMES_LIMIT);
    // nats-server marshals an empty name list as null.
    return { total: names.length, offset, limit: NAMES_LIMIT, streams: page.length > 0 ? page : null };
  }

  private streamList(body: Buffer): Json {
    const req = this.decodeOptions<{ offset?: number; subject?: string }>(body, LIST_SHAPE, "JSApiStreamListRequest") ?? {};
    const streams = this.filteredStreams(req.subject);
    const offset = pageOffset(req.offset, streams.length);
    // Offline streams take no place in the page: they are named under `offline` and `missing`.
    const page: Json[] = [];
    const missing: string[] = [];
    const offline: Record<string, string> = {};
    for (const s of streams.slice(offset)) {
      if (s instanceof OfflineStream) {
        offline[s.name] = s.reason;
        missing.push(s.name);
        continue;
      }
      page.push(s.infoJson({ dynamic: false }));
      if (page.length >= LIST_LIMIT) break;
    }
    return {
      total: streams.length,
      offset,
      limit: LIST_LIMIT,
      streams: page,
      ...(missing.length > 0 ? { missing, offline } : {}),
    };
  }

  /** The account's streams (offline ones too) by name, those with a subject colliding with `subject` if given. */
  private filteredStreams(subject: string | undefined): Array<Stream | OfflineStream> {
    const all: Array<Stream | OfflineStream> = [...this.jsa.streams.values(), ...this.jsa.offline.values()];
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (subject === undefined || subject === "") return all;
    return all.filter((s) => (s instanceof OfflineStream ? s.subjects : (s.cfg.subjects ?? [])).some((x) => subjectsCollide(x, subject)));
  }

  /**
   * The stream APIs on an offline stream, as nats-server answers them: info and update say
   * why it is offline (after a pause), the rest find it closed, a message get is not answered.
   */
  private offlineStreamOp(off: OfflineStream, op: string | undefined, body: Buffer): Json | undefined {
    switch (op) {
      case "INFO":
        this.decodeOptions(body, STREAM_INFO_SHAPE, "JSApiStreamInfoRequest");
        throw offlineError("JSStreamOfflineReasonErrF", off.reason);
      case "UPDATE":
        return this.streamCreate(off.name, body, true);
      case "PURGE":
        this.decodeOptions(body, PURGE_SHAPE, "JSApiStreamPurgeRequest");
        throw closedStreamError("JSStreamGeneralErrorF");
      case "SNAPSHOT":
        if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
        this.decode(body, SNAPSHOT_SHAPE, "JSApiStreamSnapshotRequest");
        throw jsError("JSStreamSnapshotErrF", { err: "stream closed" });
      default:
        return undefined;
    }
  }

  private msgGet(name: string, body: Buffer): Json | undefined {
    if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
    const req = this.decode<MsgGetRequest>(body, MSG_GET_SHAPE, "JSApiMsgGetRequest", false);
    if (req === undefined) throw jsError("JSBadRequestErr");
    // Batches are Direct Get's; seq, last_by_subj and start_time exclude each other, and
    // next_by_subj may go with seq or start_time (as its starting point).
    if ((req.batch ?? 0) > 0 || (req.max_bytes ?? 0) > 0) throw jsError("JSBadRequestErr");
    const seq = req.seq ?? 0;
    const last = req.last_by_subj ?? "";
    const next = req.next_by_subj ?? "";
    const time = req.start_time;
    if (
      (seq > 0 && last !== "") ||
      (seq === 0 && last === "" && next === "" && time === undefined) ||
      (seq > 0 && time !== undefined) ||
      (time !== undefined && last !== "") ||
      (last !== "" && next !== "")
    ) {
      throw jsError("JSBadRequestErr");
    }
    if (this.jsa.offline.has(name)) return undefined;
    const s = this.streamOf(name);
    const m = s.getMessage(req);
    const message: Json = { subject: m.subject, seq: m.seq };
    if (req.no_hdr !== true && m.hdr !== undefined && m.hdr.length > 0) message.hdrs = m.hdr.toString("base64");
    if (m.data.length > 0) message.data = m.data.toString("base64");
    message.time = rfc3339(m.time);
    // nats-server answers a found message outside the API accounting (not counted, not audited).
    this.unaccounted = true;
    return { message };
  }

  private msgDelete(name: string, body: Buffer): Json {
    if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
    const req = this.decode<{ seq?: number; no_erase?: boolean }>(body, MSG_DELETE_SHAPE, "JSApiMsgDeleteRequest", false);
    if (req === undefined) throw jsError("JSBadRequestErr");
    if (this.jsa.offline.has(name)) throw closedStreamError("JSStreamMsgDeleteFailedF");
    const s = this.streamOf(name);
    if (s.cfg.sealed) throw jsError("JSStreamSealedErr");
    if (s.cfg.deny_delete) throw jsError("JSStreamMsgDeleteFailedF", { err: "message delete not permitted" });
    const seq = req.seq ?? 0;
    let ok = false;
    if (seq > 0) {
      try {
        ok = s.applyStreamOp({ op: "delete_msg", seq, erase: req.no_erase !== true }) as boolean;
      } catch (err) {
        throw jsError("JSStreamMsgDeleteFailedF", { err: storeErrorToApi(err).description });
      }
    }
    if (!ok) {
      // nats-server's file store fails outside the range it holds (past the end: EOF; before
      // the first message: not found); a gap inside it, and any miss of its memory store,
      // is just "not removed".
      const st = s.state();
      if (s.cfg.storage === "file" && seq > st.lastSeq) throw jsError("JSStreamMsgDeleteFailedF", { err: "stream store EOF" });
      if (s.cfg.storage === "file" && (seq === 0 || seq < st.firstSeq)) throw jsError("JSStreamMsgDeleteFailedF", { err: "no message found" });
      throw jsError("JSSequenceNotFoundErrF", { seq });
    }
    return { success: true };
  }

  // ---- consumers ----

  private handleConsumer(t: string[], body: Buffer): Json | undefined {
    const op = t[1];
    if (op === "CREATE") {
      if (t.length < 3) return undefined;
      const name = t.length >= 4 ? t[3] : undefined;
      const filter = t.length >= 5 ? t.slice(4).join(".") : undefined;
      return this.consumerCreate(t[2], name, filter, false, body);
    }
    if (op === "DURABLE") {
      if (t[2] !== "CREATE" || t.length !== 5) return undefined;
      return this.consumerCreate(t[3], t[4], undefined, true, body);
    }
    const off = t.length >= 3 ? this.jsa.offline.get(t[2]!) : undefined;
    if (off !== undefined && op !== "CREATE" && op !== "DURABLE") return this.offlineConsumerOp(off, t, body);
    if (op === "NAMES" || op === "LIST") {
      if (t.length !== 3) return undefined;
      const s = this.streamOf(t[2]);
      const req = this.decodeOptions<{ offset?: number }>(body, CONSUMER_NAMES_SHAPE, "JSApiConsumersRequest") ?? {};
      const all = s.publicConsumers().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const offset = pageOffset(req.offset, all.length);
      if (op === "NAMES") {
        // A replicated stream's ephemeral consumers that live on other members are named too.
        const names = all.map((c) => c.name);
        const remote = s.replica?.remoteEphemerals() ?? [];
        names.push(...remote);
        // (And, held here alone, its single-replica durables awaited from their servers: late_handovers.ts.)
        names.push(...(this.jsa.service.cluster?.awaitedConsumers(s) ?? []));
        names.sort();
        const at = pageOffset(req.offset, names.length);
        return { total: names.length, offset: at, limit: NAMES_LIMIT, consumers: names.slice(at, at + NAMES_LIMIT) };
      }
      // Its single-replica durables awaited from their servers (held here alone: late_handovers.ts)
      // are listed as a single-replica consumer whose server is down is (cluster.ts consumerList):
      // counted and paged among the others by name, a stand-in entry each (no name: first), missing.
      // (In a cluster a page past the end has a total of 0, as nats-server's meta leader answers it.)
      const cluster = this.jsa.service.cluster;
      const awaited = new Set(cluster?.awaitedConsumers(s) ?? []);
      const totalOf = (n: number, listed: number): number => (cluster !== undefined && listed === 0 ? 0 : n);
      if (awaited.size === 0) {
        const page = all.slice(offset, offset + LIST_LIMIT);
        return { total: totalOf(all.length, page.length), offset, limit: LIST_LIMIT, consumers: page.map((c) => c.infoJson(false)) };
      }
      const names = [...all.map((c) => c.name), ...awaited].sort();
      const at = pageOffset(req.offset, names.length);
      const page = names.slice(at, at + LIST_LIMIT);
      const missing = page.filter((n) => awaited.has(n));
      const standIns = missing.flatMap((n) => cluster?.awaitedStandIn(s, n) ?? []);
      const infos = page.flatMap((n) => (awaited.has(n) ? [] : (s.consumers.get(n)?.infoJson(false) ?? [])));
      const listed = { total: totalOf(names.length, page.length), offset: at, limit: LIST_LIMIT, consumers: [...standIns, ...infos] };
      return missing.length > 0 ? { ...listed, missing } : listed;
    }
    if (t.length !== 4) return undefined;
    if (op === "PAUSE") return this.consumerPause(t[2], t[3], body);
    if (op === "UNPIN") return this.consumerUnpin(t[2], t[3], body);
    if ((op === "INFO" || op === "DELETE") && !isEmptyRequest(body)) throw jsError("JSNotEmptyRequestErr");
    const s = this.streamOf(t[2]);
    switch (op) {
      case "INFO": {
        const c = s.consumers.get(t[3]);
        if (c === undefined) throw jsError("JSConsumerNotFoundErr");
        return c.infoJson();
      }
      case "DELETE": {
        if (!this.jsa.deleteConsumer(s, t[3], "api")) throw jsError("JSConsumerNotFoundErr");
        return { success: true };
      }
      default:
        return undefined;
    }
  }

  /**
   * The consumer APIs on an offline stream: its unsupported consumers are listed (as missing
   * and offline), their info says why (after a pause); others are not found; pause and unpin
   * are not answered. A delete answers success but, as in nats-server (whose stand-in for the
   * consumer is closed already), leaves the consumer and its files as they are.
   */
  private offlineConsumerOp(off: OfflineStream, t: string[], body: Buffer): Json | undefined {
    const op = t[1];
    if (op === "NAMES" || op === "LIST") {
      if (t.length !== 3) return undefined;
      const req = this.decodeOptions<{ offset?: number }>(body, CONSUMER_NAMES_SHAPE, "JSApiConsumersRequest") ?? {};
      const names = [...off.consumers.keys()].sort();
      const offset = pageOffset(req.offset, names.length);
      if (op === "NAMES") return { total: names.length, offset, limit: NAMES_LIMIT, consumers: names.slice(offset, offset + NAMES_LIMIT) };
      const page = names.slice(offset);
      const offline: Record<string, string> = {};
      for (const n of page) offline[n] = off.consumers.get(n)!.reason;
      return { total: names.length, offset, limit: LIST_LIMIT, consumers: [], ...(page.length > 0 ? { missing: page, offline } : {}) };
    }
    if (t.length !== 4 || (op !== "INFO" && op !== "DELETE")) return undefined;
    if (!isEmptyRequest(body)) throw jsError("JSNotEmptyRequestErr");
    const c = off.consumers.get(t[3]!);
    if (c === undefined) throw jsError("JSConsumerNotFoundErr");
    if (op === "INFO") throw offlineError("JSConsumerOfflineReasonErrF", c.reason);
    return { success: true };
  }

  /** CONSUMER.PAUSE: pause until a time (or resume with none); answers the pause state. */
  private consumerPause(streamName: string, consumerName: string, body: Buffer): Json {
    const until = this.pauseUntilOf(body);
    const stream = this.streamOf(streamName);
    const c = stream.consumers.get(consumerName);
    if (c === undefined) throw jsError("JSConsumerNotFoundErr");
    applyPause(c, until);
    return pauseAnswer(until, c.pauseRemainingNs());
  }

  /**
   * The time a CONSUMER.PAUSE request asks to pause until, in UTC (undefined: resume). Only a
   * JSON object (or array) is read; any other body means "resume". Throws its decoding errors.
   */
  pauseUntilOf(body: Buffer): string | undefined {
    let pauseUntil: string | undefined;
    const first = body.toString("latin1").trimStart()[0];
    if (first === "{" || first === "[") {
      const req = this.decodeOptions<{ pause_until?: string }>(body, CONSUMER_PAUSE_SHAPE, "JSApiConsumerPauseRequest") ?? {};
      pauseUntil = req.pause_until;
    }
    return pauseUntilUtc(pauseUntil !== undefined && !pauseUntil.startsWith("0001-01-01T00:00:00") ? pauseUntil : undefined);
  }

  /** CONSUMER.RESET (2.14): move the consumer back to its ack floor or to a sequence. */
  private consumerReset(c: Consumer, reply: string, body: Buffer, hdr: Buffer | undefined, levelUnmet: boolean): void {
    const type = `${TYPE}consumer_reset_response`;
    let resp: Json;
    let rhdr: Buffer | undefined;
    try {
      if (levelUnmet) throw jsError("JSRequiredApiLevelErr");
      let seq = 0;
      if (body.length > 0) {
        const req = unmarshalLenient(body, CONSUMER_RESET_SHAPE, "JSApiConsumerResetRequest");
        if (typeof req === "string") throw jsError("JSInvalidJSONErr", { err: req });
        seq = (req.seq as number | undefined) ?? 0;
      }
      const resetSeq = c.reset(seq);
      resp = { type, ...c.infoJson(), reset_seq: resetSeq };
      // A copy reading through this durable asks for the origin's identity, to notice a
      // deleted and recreated origin (the request is not refused on a mismatch).
      if (getHeader(hdr, "Nats-Stream-Identity") !== undefined) rhdr = buildHeaders([["Nats-Stream-Identity", streamIdentity(c.stream.created)]]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      resp = { type, error: err.toJSON(), reset_seq: 0 };
    }
    this.jsa.account.publish(reply, "", rhdr, Buffer.from(JSON.stringify(resp)));
  }

  /** CONSUMER.UNPIN: end the pin of a priority group (ADR-42). */
  private consumerUnpin(streamName: string, consumerName: string, body: Buffer): Json {
    const group = parseUnpinGroup(body);
    const stream = this.streamOf(streamName);
    const c = stream.consumers.get(consumerName);
    if (c === undefined) throw jsError("JSConsumerNotFoundErr");
    if (!(c.cfg.priority_groups ?? []).includes(group)) throw jsError("JSConsumerInvalidPriorityGroupErr");
    c.unpin(group);
    return {};
  }

  private consumerCreate(streamName: string, subjName: string | undefined, subjFilter: string | undefined, legacyDurable: boolean, body: Buffer): Json {
    // No body is the zero request (and then a stream name mismatch), as in nats-server.
    const req =
      this.decode<{ stream_name?: string; config?: Partial<ConsumerConfig> | null; action?: ConsumerAction; pedantic?: boolean }>(
        body,
        CONSUMER_CREATE_SHAPE,
        "CreateConsumerRequest",
      ) ?? {};
    const { raw, name } = createRequestConfig(req, streamName, subjName, subjFilter, legacyDurable);
    let consumerName = name;
    // A standalone server has no peers to replicate to.
    if ((raw.num_replicas ?? 0) > 1 && this.jsa.service.cluster === undefined) throw jsError("JSStreamReplicasNotSupportedErr");
    const off = this.jsa.offline.get(streamName);
    if (off !== undefined) throw offlineError("JSStreamOfflineReasonErrF", off.reason);
    const stream = this.streamOf(streamName);
    // In a cluster: more replicas than the stream (or fewer than zero) are refused by the config
    // checks as nats-server refuses them; a consumer is replicated through its stream's group or
    // R1 on the member that creates it (consumer_config.ts replicatedConsumer).
    if (raw.direct === true || raw.sourcing === true) {
      const sourcing = sourcingConsumer(raw, consumerName, stream.cfg, streamIdentity(stream.created), this.requestHdr);
      consumerName = sourcing.name;
      this.responseHdr = sourcing.responseHdr;
    }
    // An update never moves the pause deadline (CONSUMER.PAUSE does).
    const existing = consumerName !== "" ? stream.consumers.get(consumerName) : undefined;
    // An update between replicated (through the stream's group) and R1: the group takes its
    // state in, or the leader keeps it alone (StreamReplica.consumerScaled).
    const scaled = existing !== undefined && stream.replica !== undefined && existing.replicated !== replicatedConsumer(raw, stream.cfg.retention);
    const replicasBefore = existing?.replicated === true ? existing.cfg.num_replicas || stream.cfg.num_replicas : 0;
    // Its group as it was (an update to one replica is answered with it, as nats-server's).
    const clusterBefore = scaled && existing?.replicated === true ? (existing.clusterJson().cluster as Json | undefined) : undefined;
    if (existing !== undefined) {
      if (existing.cfg.pause_until !== undefined) raw.pause_until = existing.cfg.pause_until;
      else delete raw.pause_until;
      // A copy asking again for its durable keeps where that durable started: the reset
      // below moves it back to its ack floor instead.
      if (raw.sourcing === true && raw.durable_name) {
        raw.deliver_policy = existing.cfg.deliver_policy;
        raw.opt_start_seq = existing.cfg.opt_start_seq;
        raw.opt_start_time = existing.cfg.opt_start_time;
      }
    }
    raw.metadata = staticMetadata(raw.metadata ?? undefined, consumerRequiredLevel({ ...raw } as ConsumerConfig));
    const c = addConsumerWithAction(this.jsa, stream, raw, req.action ?? "", req.pedantic === true, stream.replica?.applying === true ? stream.replica.ephemeralName : undefined);
    if (scaled) stream.replica?.consumerScaled(c);
    // A copy (re)starting on its consumer gets everything above the ack floor again: what it
    // had not confirmed as stored may have been lost on the way (nats-server does the same).
    if (c.cfg.sourcing === true) c.reset(0);
    const info = c.infoJson();
    // A replicated consumer scaled (R3 <-> R2): the answer names the membership asked for, as nats-server's.
    const replicasAfter = c.replicated ? c.cfg.num_replicas || stream.cfg.num_replicas : 0;
    if (replicasBefore > 1 && replicasAfter > 1 && replicasBefore !== replicasAfter && info.cluster !== undefined) {
      const desired = stream.replica?.consumerDesired(c.name, replicasAfter);
      if (desired !== undefined) info.cluster = { ...(info.cluster as Json), desired };
    } else if (scaled && stream.replica !== undefined) {
      // To or from one replica: the group it gets (or had), as nats-server 2.15 answers.
      const cluster = replicasAfter > 1 ? stream.replica.consumerScaleUpCluster(c.name, replicasAfter) : clusterBefore !== undefined ? stream.replica.consumerScaleDownCluster(clusterBefore) : undefined;
      if (cluster !== undefined) info.cluster = cluster;
    }
    if (c.isPaused()) c.sendPauseAdvisory();
    return info;
  }
}
