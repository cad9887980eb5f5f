// Adding a consumer to a stream, or updating the one of that name: nats-server's
// addConsumerWithAssignment for a standalone server. The config is normalized (defaults,
// checks), then an existing consumer is updated (or refused, for action "create"), else
// the stream's and account's limits and the work-queue rules are checked and the consumer
// is created. Every failure is an ApiError with nats-server's code and text.
import { subjectsCollide } from "../protocol/subject.js";
import * as adv from "./advisories.js";
import type { Consumer } from "./consumer.js";
import { buildHeaders, getHeader } from "../protocol/headers.js";
import {
  checkConsumerUpdate,
  differsForCreate,
  filtersOf,
  isValidAssetName,
  MAX_NAME_LEN,
  normalizeConsumerConfig,
  sourcingBecomesDurable,
  type ConsumerConfig,
} from "./consumer_config.js";
import { ApiError, jsError } from "./errors.js";
import type { JsAccount } from "./jetstream.js";
import { defaultMaxConsumers } from "./server_limits.js";
import type { Stream } from "./stream.js";
import type { StreamConfig } from "./stream_config.js";
import { shortHash } from "./util.js";

export type ConsumerAction = "" | "create" | "update";

/** nats-server's NewJSConsumerCreateError(err, Unless(err)): API errors pass, others become 10012. */
function asCreateError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return jsError("JSConsumerCreateErrF", { err: err instanceof Error ? err.message : String(err) });
}

/** Does any other (non-direct, non-sourcing) consumer's filter collide with `filters`? */
function partitionUnique(stream: Stream, name: string, filters: string[]): boolean {
  for (const f of filters) {
    for (const o of stream.consumers.values()) {
      if (o.name === name || o.cfg.direct || o.cfg.sourcing) continue;
      const theirs = filtersOf(o.cfg);
      if (theirs.length === 0) return false;
      for (const t of theirs) if (subjectsCollide(f, t)) return false;
    }
  }
  return true;
}

function limitableConsumers(stream: Stream): number {
  let n = 0;
  for (const c of stream.consumers.values()) if (!c.cfg.sourcing) n++;
  // A replicated stream's single-replica consumers placed on its other members count too.
  return n + (stream.replica?.remoteEphemerals().length ?? 0);
}

const NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A random consumer name like nats-server's (8 characters of a nuid-like alphabet). */
export function randomConsumerName(): string {
  let s = "";
  for (let i = 0; i < 8; i++) s += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return s;
}

/**
 * A CONSUMER.CREATE request's config with the names in its subject reconciled, in nats-server's
 * order of checks (jsConsumerCreateRequest: the subject against the request, before the stream
 * is looked up). A missing config is the zero config; `name` is "" for an unnamed ephemeral.
 */
export function createRequestConfig(
  req: { stream_name?: string; config?: Partial<ConsumerConfig> | null },
  streamName: string,
  subjName: string | undefined,
  subjFilter: string | undefined,
  legacyDurable: boolean,
): { raw: Partial<ConsumerConfig>; name: string } {
  if ((req.stream_name ?? "") !== streamName) throw jsError("JSStreamMismatchErr");
  const raw: Partial<ConsumerConfig> = req.config ?? {};
  const name = subjName ?? raw.name ?? "";
  if (name !== "" && /[\\/]/.test(name)) throw jsError("JSConsumerNameContainsPathSeparatorsErr");
  if (legacyDurable) {
    if (!raw.durable_name) throw jsError("JSConsumerDurableNameNotSetErr");
    if (raw.durable_name !== name) throw jsError("JSConsumerDurableNameNotMatchSubjectErr");
    raw.name = name;
  } else if (subjName !== undefined) {
    if (raw.durable_name && raw.durable_name !== subjName) throw jsError("JSConsumerDurableNameNotMatchSubjectErr");
    // The subject names the consumer; a different config name is overridden (nats-server does the same).
    raw.name = subjName;
  } else if (raw.durable_name) {
    throw jsError("JSConsumerEphemeralWithDurableNameErr");
  }
  if (subjFilter !== undefined && subjFilter !== "") {
    if (raw.filter_subjects && raw.filter_subjects.length > 0) throw jsError("JSConsumerMultipleFiltersNotAllowed");
    if ((raw.filter_subject ?? "") !== subjFilter) throw jsError("JSConsumerCreateFilterSubjectMismatchErr");
  }
  return { raw, name };
}

/**
 * The consumer a mirror or source asks its origin for (a direct or sourcing create). Its copy
 * names it stably: on a work-queue or interest origin it becomes a durable acknowledged by the
 * copy's flow control replies (2.14 AckFlowControl), so a message leaves the origin only once the
 * copy stored it and interest survives while the copy is away; elsewhere each request gets a
 * fresh suffix (an old one may still be winding down). The origin's identity (`identity`, of its
 * creation time) lets the copy notice that the stream was deleted and recreated: a request
 * expecting another is refused, the answer names it. `raw` is changed in place; the consumer's
 * name and the answer's header are returned.
 */
export function sourcingConsumer(raw: Partial<ConsumerConfig>, name: string, origin: StreamConfig, identity: string, requestHdr: Buffer | undefined): { name: string; responseHdr: Buffer } {
  if (raw.direct === true && raw.sourcing === true && raw.name) {
    if (sourcingBecomesDurable(raw, origin)) {
      raw.direct = false;
      raw.durable_name = raw.name;
      raw.ack_policy = "flow_control";
      raw.ack_wait = 0;
      raw.max_deliver = 0;
      raw.inactive_threshold = 0;
    } else {
      name = `${name}-${shortHash(randomConsumerName() + Date.now())}`;
      raw.name = name;
    }
  }
  const expected = getHeader(requestHdr, "Nats-Stream-Identity");
  if (expected !== undefined && expected !== "" && expected !== identity) throw jsError("JSConsumerStreamIdentityMismatchF", { msg: identity });
  return { name, responseHdr: buildHeaders([["Nats-Stream-Identity", identity]]) };
}

/**
 * Create the consumer `raw` describes on `stream`, or update the existing one of that name.
 * `raw` already carries the name the request decided (durable_name or name) and its
 * versioning metadata. `givenName`: the name a replicated stream's leader chose for an unnamed
 * ephemeral (every member of the group creates it under that name).
 */
export function addConsumerWithAction(jsa: JsAccount, stream: Stream, raw: Partial<ConsumerConfig>, action: ConsumerAction, pedantic: boolean, givenName?: string): Consumer {
  // The account's limits for the stream's tier (nats-server's selectLimits).
  const sel = jsa.selectLimits(stream.cfg.num_replicas);
  if (sel === undefined) throw jsError("JSNoLimitsErr");
  const limits = sel.limits;
  const srv = jsa.service.options.limits;
  const cfg = normalizeConsumerConfig(raw, stream.cfg, { maxAckPending: limits.max_ack_pending, serverMaxAckPending: srv?.maxAckPending, serverMaxRequestBatch: srv?.maxRequestBatch }, pedantic);
  const cName = cfg.durable_name || cfg.name || "";
  if (cName !== "") {
    const existing = stream.consumers.get(cName);
    if (existing !== undefined) {
      if (action === "create" && differsForCreate(existing.cfg, cfg)) throw jsError("JSConsumerAlreadyExists");
      if (stream.cfg.retention === "workqueue" && !partitionUnique(stream, cName, filtersOf(cfg))) throw jsError("JSConsumerWQConsumerNotUniqueErr");
      try {
        checkConsumerUpdate(existing.cfg, cfg, existing.deliverSubjectBound());
      } catch (err) {
        throw asCreateError(err);
      }
      existing.updateConfig(cfg);
      return existing;
    }
  }
  if (action === "update") throw jsError("JSConsumerDoesNotExist");

  // Limits: the stream's max_consumers (unlimited: the server's default, 1000 as in
  // nats-server 2.15), or the account's when that is lower.
  let maxc = stream.cfg.max_consumers;
  if (maxc <= 0) maxc = defaultMaxConsumers(jsa.service.options);
  const accMax = limits.max_consumers;
  if (maxc <= 0 || (accMax > 0 && accMax < maxc)) maxc = accMax;
  if (maxc > 0 && limitableConsumers(stream) >= maxc) throw jsError("JSMaximumConsumersLimitErr");

  // Work queue streams: explicit acks, deliver all, and no two consumers on one subject.
  if (stream.cfg.retention === "workqueue" && !cfg.direct && !cfg.sourcing) {
    if (cfg.ack_policy !== "explicit" && cfg.ack_policy !== "flow_control") throw jsError("JSConsumerWQRequiresExplicitAckErr");
    if (cfg.deliver_policy !== "all") throw jsError("JSConsumerWQConsumerNotDeliverAllErr");
    if (limitableConsumers(stream) > 0) {
      const filters = filtersOf(cfg);
      if (filters.length === 0) throw jsError("JSConsumerWQMultipleUnfilteredErr");
      if (!partitionUnique(stream, cName, filters)) throw jsError("JSConsumerWQConsumerNotUniqueErr");
    }
  }

  if (cfg.durable_name && cfg.durable_name.length > MAX_NAME_LEN) throw jsError("JSConsumerNameTooLongErrF", { max: MAX_NAME_LEN });
  let name = cName;
  if (name === "") {
    // A legacy ephemeral: the server names it (its config keeps no name, as in nats-server).
    if (givenName !== undefined) name = givenName;
    else {
      do name = randomConsumerName();
      while (stream.consumers.has(name));
    }
  }
  if (!isValidAssetName(name)) throw jsError("JSConsumerBadDurableNameErr");
  // The name is a directory of the stream's store: longer than a file name can be, the
  // store cannot be created (nats-server answers the same).
  if (Buffer.byteLength(name) > MAX_NAME_LEN) throw jsError("JSConsumerCreateErrF", { err: "error creating store for consumer" });
  const c = jsa.addConsumer(stream, name, cfg);
  adv.consumerAction(jsa.advisoryContext, "create", stream.name, name);
  return c;
}
