// Consumer configuration: nats-server's ConsumerConfig JSON, its defaults and the checks of
// a create/update request, in nats-server 2.15's order with its codes and texts (clients
// branch on them, and the first failing check decides which error a bad request gets).
//
// A request's config is first widened to every field with its zero value (as Go decodes
// it into a struct), then defaults are applied, then the checks run, and the result is
// narrowed back to the JSON form (zero values left out, as Go's `omitempty` does). The JSON
// form is what is stored, compared on re-create and shown in consumer info.
import { isValidSubject, hasWildcard, subjectIsSubsetOf, subjectMatches } from "../protocol/subject.js";
import { ApiError, jsError } from "./errors.js";
import { withStoredLevel } from "./api_level.js";
import { NATS_FEATURE_VERSION } from "../server/version.js";
import type { StreamConfig } from "./stream_config.js";
import { formatGoTime, goDuration, parseGoTime, parseRfc3339, MS_NS, SEC_NS } from "../server/time.js";

export type DeliverPolicy = "all" | "last" | "new" | "by_start_sequence" | "by_start_time" | "last_per_subject";
export type AckPolicy = "none" | "all" | "explicit" | "flow_control";
export type ReplayPolicy = "instant" | "original";
export type PriorityPolicy = "none" | "overflow" | "pinned_client" | "prioritized";

/** The JSON form (zero values omitted). */
export interface ConsumerConfig {
  durable_name?: string;
  name?: string;
  description?: string;
  deliver_policy: DeliverPolicy;
  opt_start_seq?: number;
  opt_start_time?: string;
  ack_policy: AckPolicy;
  ack_wait?: number;
  max_deliver?: number;
  backoff?: number[];
  filter_subject?: string;
  filter_subjects?: string[];
  replay_policy: ReplayPolicy;
  rate_limit_bps?: number;
  sample_freq?: string;
  max_waiting?: number;
  max_ack_pending?: number;
  flow_control?: boolean;
  headers_only?: boolean;
  max_batch?: number;
  max_expires?: number;
  max_bytes?: number;
  deliver_subject?: string;
  deliver_group?: string;
  idle_heartbeat?: number;
  inactive_threshold?: number;
  num_replicas: number;
  mem_storage?: boolean;
  /** A server-internal consumer (sourcing): not listed, not counted, not stored. */
  /** A server-internal consumer (mirrors and sources read through it): not listed, not counted, not stored. */
  direct?: boolean;
  /** Created by a mirror or source of another stream (2.14). */
  sourcing?: boolean;
  metadata?: Record<string, string>;
  pause_until?: string;
  priority_groups?: string[];
  priority_policy?: PriorityPolicy;
  priority_timeout?: number;
}

/** Every field with its zero value: what the checks work on. */
type Optional = "opt_start_time" | "pause_until" | "metadata";
type Full = { [K in Exclude<keyof ConsumerConfig, Optional>]-?: Exclude<ConsumerConfig[K], undefined> } & {
  opt_start_time: string | undefined;
  pause_until: string | undefined;
  metadata: Record<string, string> | undefined;
};

export const DEFAULT_ACK_WAIT_NS = 30 * SEC_NS;
export const DEFAULT_MAX_WAITING = 512;
export const DEFAULT_MAX_ACK_PENDING = 1000;
export const DEFAULT_EPHEMERAL_INACTIVE_NS = 5 * SEC_NS;
export const DEFAULT_PINNED_TTL_NS = 120 * SEC_NS;
/** Heartbeat of flow-control-acked (sourcing) consumers. */
const FLOW_CONTROL_ACK_HB_NS = SEC_NS;
const MAX_NAME_LEN = 255;
const MAX_DESCRIPTION = 4096;
const MAX_METADATA_BYTES = 128 * 1024;
const VALID_GROUP_NAME = /^[a-zA-Z0-9/_=-]{1,16}$/;

// ---- versioning metadata (ADR-44) ----

/**
 * Whether answers show consumer metadata with the server's `_nats.*` keys: only from the
 * 2.10 feature level on, where clients send metadata at all (nats.js refuses to send a
 * config with metadata to an older server, and an update sends back what info showed).
 */
export const METADATA_IN_ANSWERS = ((): boolean => {
  const [major, minor] = NATS_FEATURE_VERSION.split(".").map(Number);
  return major > 2 || (major === 2 && minor >= 10);
})();

/** A config as answers show it below 2.10: without the server's own metadata keys. */
export function withoutServerMetadata(cfg: ConsumerConfig): ConsumerConfig {
  if (cfg.metadata === undefined) return cfg;
  const md = Object.fromEntries(Object.entries(cfg.metadata).filter(([k]) => !k.startsWith("_nats.")));
  const out = { ...cfg, metadata: md };
  if (Object.keys(md).length === 0) delete (out as Partial<ConsumerConfig>).metadata;
  return out;
}

/** The API level a consumer config needs (what nats-server records in `_nats.req.level`). */
export function consumerRequiredLevel(cfg: ConsumerConfig): number {
  let level = 0;
  if (cfg.pause_until !== undefined && !isZeroTime(cfg.pause_until)) level = 1;
  if ((cfg.priority_policy ?? "none") !== "none" || (cfg.priority_timeout ?? 0) !== 0 || (cfg.priority_groups?.length ?? 0) > 0) level = 1;
  if (cfg.ack_policy === "flow_control") level = 4;
  return level;
}

// ---- widening and narrowing ----

function isZeroTime(t: string): boolean {
  return t.startsWith("0001-01-01T00:00:00");
}

/** A time as Go re-marshals what it read (same offset, trimmed fraction); decoding checked it. */
function goTime(s: string | null | undefined): string | undefined {
  if (s === undefined || s === null) return undefined;
  const t = parseGoTime(s);
  if (typeof t === "string") throw jsError("JSInvalidJSONErr", { err: t });
  return formatGoTime(t);
}

/** pause_until as an update stores it: in UTC. */
export function pauseUntilUtc(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = parseGoTime(s);
  return typeof t === "string" ? s : formatGoTime({ ...t, utc: true, offsetMin: 0 });
}

function widen(raw: Partial<ConsumerConfig>): Full {
  return {
    durable_name: raw.durable_name ?? "",
    name: raw.name ?? "",
    description: raw.description ?? "",
    // "undefined" is nats-server's spelling of the zero value: deliver all.
    deliver_policy: (raw.deliver_policy as string) === "undefined" ? "all" : (raw.deliver_policy ?? "all"),
    opt_start_seq: raw.opt_start_seq ?? 0,
    opt_start_time: goTime(raw.opt_start_time),
    ack_policy: raw.ack_policy ?? "none",
    ack_wait: raw.ack_wait ?? 0,
    max_deliver: raw.max_deliver ?? 0,
    backoff: raw.backoff ?? [],
    filter_subject: raw.filter_subject ?? "",
    filter_subjects: raw.filter_subjects ?? [],
    replay_policy: raw.replay_policy ?? "instant",
    rate_limit_bps: raw.rate_limit_bps ?? 0,
    sample_freq: raw.sample_freq ?? "",
    max_waiting: raw.max_waiting ?? 0,
    max_ack_pending: raw.max_ack_pending ?? 0,
    flow_control: raw.flow_control ?? false,
    headers_only: raw.headers_only ?? false,
    max_batch: raw.max_batch ?? 0,
    max_expires: raw.max_expires ?? 0,
    max_bytes: raw.max_bytes ?? 0,
    deliver_subject: raw.deliver_subject ?? "",
    deliver_group: raw.deliver_group ?? "",
    idle_heartbeat: raw.idle_heartbeat ?? 0,
    inactive_threshold: raw.inactive_threshold ?? 0,
    num_replicas: raw.num_replicas ?? 0,
    mem_storage: raw.mem_storage ?? false,
    direct: raw.direct ?? false,
    sourcing: raw.sourcing ?? false,
    metadata: raw.metadata ?? undefined,
    pause_until: goTime(raw.pause_until),
    priority_groups: raw.priority_groups ?? [],
    priority_policy: raw.priority_policy ?? "none",
    priority_timeout: raw.priority_timeout ?? 0,
  };
}

/** The JSON form, in nats-server's field order, zero values left out (Go's omitempty). */
function narrow(c: Full): ConsumerConfig {
  const out: Record<string, unknown> = {};
  const put = (k: string, v: unknown, keep = false): void => {
    if (keep || (v !== "" && v !== 0 && v !== false && v !== undefined && !(Array.isArray(v) && v.length === 0))) out[k] = v;
  };
  put("durable_name", c.durable_name);
  put("name", c.name);
  put("description", c.description);
  put("deliver_policy", c.deliver_policy, true);
  put("opt_start_seq", c.opt_start_seq);
  put("opt_start_time", c.opt_start_time);
  put("ack_policy", c.ack_policy, true);
  put("ack_wait", c.ack_wait);
  put("max_deliver", c.max_deliver);
  put("backoff", c.backoff);
  put("filter_subject", c.filter_subject);
  put("filter_subjects", c.filter_subjects);
  put("replay_policy", c.replay_policy, true);
  put("rate_limit_bps", c.rate_limit_bps);
  put("sample_freq", c.sample_freq);
  put("max_waiting", c.max_waiting);
  put("max_ack_pending", c.max_ack_pending);
  put("flow_control", c.flow_control);
  put("headers_only", c.headers_only);
  put("max_batch", c.max_batch);
  put("max_expires", c.max_expires);
  put("max_bytes", c.max_bytes);
  put("deliver_subject", c.deliver_subject);
  put("deliver_group", c.deliver_group);
  put("idle_heartbeat", c.idle_heartbeat);
  put("inactive_threshold", c.inactive_threshold);
  put("num_replicas", c.num_replicas, true);
  put("mem_storage", c.mem_storage);
  put("direct", c.direct);
  put("sourcing", c.sourcing);
  if (c.metadata !== undefined && Object.keys(c.metadata).length > 0) out.metadata = c.metadata;
  put("pause_until", c.pause_until);
  put("priority_groups", c.priority_groups);
  if (c.priority_policy !== "none") out.priority_policy = c.priority_policy;
  put("priority_timeout", c.priority_timeout);
  return out as unknown as ConsumerConfig;
}

// ---- defaults ----

/** Account and server limits that bound a consumer. */
export interface ConsumerLimits {
  /** The account's max_ack_pending (<= 0: none). */
  maxAckPending: number;
  /** The server's (jetstream `limits { max_ack_pending }`, <= 0 or unset: none). */
  serverMaxAckPending?: number;
  /** The server's bound of pull consumers' max_batch (`limits { max_request_batch }`). */
  serverMaxRequestBatch?: number;
}

function pedanticErr(err: string): ApiError {
  return jsError("JSPedanticErrF", { err });
}

/** nats-server's setConsumerConfigDefaults: negatives to zero (pedantic: refused), defaults filled. */
function applyDefaults(c: Full, stream: StreamConfig, limits: ConsumerLimits, pedantic: boolean): void {
  if (c.max_deliver === 0 || c.max_deliver < -1) {
    if (pedantic && c.max_deliver < -1) throw pedanticErr("max_deliver must be set to -1");
    c.max_deliver = -1;
  }
  const clampNegative = (key: "max_waiting" | "max_batch" | "max_expires" | "max_bytes" | "idle_heartbeat" | "inactive_threshold" | "priority_timeout", what: string): void => {
    if (c[key] < 0) {
      if (pedantic) throw pedanticErr(`${what} must not be negative`);
      c[key] = 0;
    }
  };
  clampNegative("max_waiting", "max_waiting");
  if (c.max_ack_pending < -1) {
    if (pedantic) throw pedanticErr("max_ack_pending must be set to -1");
    c.max_ack_pending = -1;
  }
  clampNegative("max_batch", "max_batch");
  clampNegative("max_expires", "max_expires");
  clampNegative("max_bytes", "max_bytes");
  clampNegative("idle_heartbeat", "idle_heartbeat");
  clampNegative("inactive_threshold", "inactive_threshold");
  clampNegative("priority_timeout", "priority_timeout");

  if (c.deliver_subject === "" && c.max_waiting === 0) c.max_waiting = DEFAULT_MAX_WAITING;
  if (c.ack_wait === 0 && (c.ack_policy === "explicit" || c.ack_policy === "all")) c.ack_wait = DEFAULT_ACK_WAIT_NS;
  // A backoff list overrides the ack wait with its first value.
  if (c.backoff.length > 0) {
    if (pedantic && c.ack_wait !== c.backoff[0]) throw pedanticErr("first backoff value has to equal batch AckWait");
    c.ack_wait = c.backoff[0];
  }
  const streamLimits = stream.consumer_limits ?? {};
  if (c.max_ack_pending === 0) {
    if (pedantic && (streamLimits.max_ack_pending ?? 0) > 0) throw pedanticErr("max_ack_pending must be set if it's configured in stream limits");
    c.max_ack_pending = streamLimits.max_ack_pending ?? 0;
  }
  if (c.inactive_threshold === 0) {
    if (pedantic && (streamLimits.inactive_threshold ?? 0) > 0) throw pedanticErr("inactive_threshold must be set if it's configured in stream limits");
    c.inactive_threshold = streamLimits.inactive_threshold ?? 0;
  }
  if (c.max_ack_pending === 0 && c.ack_policy !== "none") {
    // The default, lowered to the server's and then the account's bound.
    let pending = DEFAULT_MAX_ACK_PENDING;
    const srv = limits.serverMaxAckPending ?? 0;
    if (srv > 0 && srv < pending) pending = srv;
    if (limits.maxAckPending > 0 && limits.maxAckPending < pending) pending = limits.maxAckPending;
    c.max_ack_pending = pending;
  }
  const maxBatch = limits.serverMaxRequestBatch ?? 0;
  if (c.deliver_subject === "" && c.max_batch === 0 && maxBatch > 0) {
    if (pedantic) throw pedanticErr("max_request_batch must be set if it's JetStream limits are set");
    c.max_batch = maxBatch;
  }
  if (c.priority_policy === "pinned_client" && c.priority_timeout === 0) c.priority_timeout = DEFAULT_PINNED_TTL_NS;
  if (c.ack_policy === "flow_control" && !pedantic) {
    c.flow_control = true;
    c.idle_heartbeat = FLOW_CONTROL_ACK_HB_NS;
  }
}

// ---- checks ----

/**
 * Is a consumer of a replicated stream replicated (its state kept by a RAFT group of its own,
 * consumer_group.ts)? As nats-server's ConsumerConfig.replicas: durables unless they ask for one
 * replica, ephemerals that ask for more than one, and on an interest or work-queue stream every
 * consumer (nats-server refuses fewer replicas than the stream there; an ephemeral asking for
 * none gets the stream's, so every member drops a message once the consumers acked it). An R2
 * consumer of an R3 stream is kept on all three here, more copies than asked, never fewer. The
 * others are R1 on the member that created them.
 */
export function replicatedConsumer(cfg: { durable_name?: unknown; num_replicas?: unknown; direct?: unknown } | undefined, retention: StreamConfig["retention"]): boolean {
  const n = typeof cfg?.num_replicas === "number" ? cfg.num_replicas : 0;
  const durable = typeof cfg?.durable_name === "string" && cfg.durable_name !== "";
  // (A mirror's or source's direct reader lives on the stream's leader, outside of any group.)
  return n !== 1 && (durable || n > 1 || (retention !== "limits" && cfg?.direct !== true));
}

/**
 * A consumer's num_replicas once its stream's replicas or retention changed, as nats-server 2.15
 * rewrites it (undefined: unchanged). 0 (the stream's) stays 0. On a limits stream a consumer keeps
 * its count unless the stream now has fewer (it gets the stream's: an R1 stream's consumers are
 * all R1, and stay so when the stream grows again); on an interest or work-queue stream every
 * consumer has the stream's (a retention change to one scales its consumers up too).
 */
export function replicasAfterStreamChange(cfg: ConsumerConfig, old: StreamConfig, next: StreamConfig): number | undefined {
  const n = cfg.num_replicas ?? 0;
  if (n === 0 || cfg.direct === true) return undefined;
  if (old.num_replicas === next.num_replicas && old.retention === next.retention) return undefined;
  const want = next.retention !== "limits" || n > next.num_replicas ? next.num_replicas : n;
  return want !== n ? want : undefined;
}

/**
 * A mirror's or source's consumer request on a work-queue or interest origin: the origin keeps it
 * as a durable acknowledged by the copy's flow control (2.14 AckFlowControl), not as an ephemeral.
 */
export function sourcingBecomesDurable(cfg: { direct?: unknown; sourcing?: unknown; name?: unknown } | undefined, origin: StreamConfig): boolean {
  return cfg?.direct === true && cfg.sourcing === true && typeof cfg.name === "string" && cfg.name !== "" && origin.retention !== "limits";
}

/** nats-server's isValidAssetName: no whitespace, no `.`, `*`, `>`, no path separators. */
export function isValidAssetName(name: string): boolean {
  return name !== "" && !/[ \t\r\n\f.*>\\/]/.test(name);
}

function invalidConfig(err: string): ApiError {
  return jsError("JSStreamInvalidConfigF", { err });
}

function policyErr(err: string): ApiError {
  return jsError("JSConsumerInvalidPolicyErrF", { err });
}

/** Go's strconv.Atoi on a sample frequency ("50", "50%"); undefined when it fails. */
function goAtoi(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= -(2 ** 63) && n < 2 ** 63 ? n : undefined;
}

/** The filters as nats-server gathers them: filter_subjects, then filter_subject. */
export function gatherFilters(filterSubject: string | undefined, filterSubjects: string[] | undefined): string[] {
  const out = [...(filterSubjects ?? [])];
  if (filterSubject !== undefined && filterSubject !== "") out.push(filterSubject);
  return out;
}

/** nats-server's checkConsumerCfg, check by check in its order. */
function checkConfig(c: Full, stream: StreamConfig, limits: ConsumerLimits): void {
  if (c.name !== "" && !isValidAssetName(c.name)) throw invalidConfig("consumer name can not contain '.', '*', '>', '\\', '/'");
  if (c.durable_name !== "" && !isValidAssetName(c.durable_name)) throw invalidConfig("consumer durable name can not contain '.', '*', '>', '\\', '/'");
  if (c.num_replicas > 0 && c.num_replicas > stream.num_replicas) throw jsError("JSConsumerReplicasExceedsStream");
  if (c.num_replicas < 0) throw jsError("JSReplicasCountCannotBeNegative");
  if ((stream.retention === "interest" || stream.retention === "workqueue") && c.num_replicas !== 0 && c.num_replicas !== stream.num_replicas) {
    throw jsError("JSConsumerReplicasShouldMatchStream");
  }
  if (c.backoff.some((b) => b < 0)) throw jsError("JSConsumerBackOffNegativeErr");
  if (c.ack_wait < 0) throw jsError("JSConsumerAckWaitNegativeErr");

  const push = c.deliver_subject !== "";
  if (c.ack_policy === "flow_control") {
    if (!push) throw jsError("JSConsumerAckFCRequiresPushErr");
    if (!c.flow_control) throw jsError("JSConsumerAckFCRequiresFCErr");
    if (c.idle_heartbeat !== FLOW_CONTROL_ACK_HB_NS) throw invalidConfig("flow control ack policy heartbeat needs to be 1s");
    if (c.max_ack_pending <= 0) throw jsError("JSConsumerAckFCRequiresMaxAckPendingErr");
    if (c.ack_wait !== 0 || c.backoff.length > 0) throw jsError("JSConsumerAckFCRequiresNoAckWaitErr");
    if (c.max_deliver > 0) throw jsError("JSConsumerAckFCRequiresNoMaxDeliverErr");
  }
  if (c.backoff.length > 0 && c.max_deliver !== -1 && c.backoff.length > c.max_deliver) throw jsError("JSConsumerMaxDeliverBackoffErr");
  if (c.description.length > MAX_DESCRIPTION) throw jsError("JSConsumerDescriptionTooLongErrF", { max: MAX_DESCRIPTION });

  if (push) {
    if (hasWildcard(c.deliver_subject)) throw jsError("JSConsumerDeliverToWildcardsErr");
    if (!isValidSubject(c.deliver_subject)) throw jsError("JSConsumerInvalidDeliverSubject");
    for (const s of stream.subjects ?? []) if (subjectMatches(s, c.deliver_subject)) throw jsError("JSConsumerDeliverCycleErr");
    if (c.max_waiting !== 0) throw jsError("JSConsumerPushMaxWaitingErr");
    if (c.max_ack_pending > 0 && c.ack_policy === "none") throw jsError("JSConsumerMaxPendingAckPolicyRequiredErr");
    if (c.idle_heartbeat > 0 && c.idle_heartbeat < 100 * MS_NS) throw jsError("JSConsumerSmallHeartbeatErr");
  } else {
    if (c.ack_policy === "none" && stream.retention === "workqueue") throw jsError("JSConsumerPullRequiresAckErr");
    if (c.rate_limit_bps > 0) throw jsError("JSConsumerPullWithRateLimitErr");
    if (c.max_waiting < 0) throw jsError("JSConsumerMaxWaitingNegativeErr");
    if (c.idle_heartbeat > 0) throw jsError("JSConsumerHBRequiresPushErr");
    if (c.flow_control) throw jsError("JSConsumerFCRequiresPushErr");
    if (c.max_batch < 0) throw jsError("JSConsumerMaxRequestBatchNegativeErr");
    const srvBatch = limits.serverMaxRequestBatch ?? 0;
    if (srvBatch > 0 && c.max_batch > srvBatch) throw jsError("JSConsumerMaxRequestBatchExceededF", { limit: srvBatch });
    if (c.max_expires !== 0 && c.max_expires < MS_NS) throw jsError("JSConsumerMaxRequestExpiresTooSmall");
  }
  const srvPending = limits.serverMaxAckPending ?? 0;
  if (srvPending > 0 && c.max_ack_pending > srvPending) throw jsError("JSConsumerMaxPendingAckExcessErrF", { limit: srvPending });
  if (limits.maxAckPending > 0 && c.max_ack_pending > limits.maxAckPending) throw jsError("JSConsumerMaxPendingAckExcessErrF", { limit: limits.maxAckPending });
  const sl = stream.consumer_limits ?? {};
  if ((sl.max_ack_pending ?? 0) > 0 && c.max_ack_pending > (sl.max_ack_pending ?? 0)) throw jsError("JSConsumerMaxPendingAckExcessErrF", { limit: sl.max_ack_pending ?? 0 });
  if ((sl.inactive_threshold ?? 0) > 0 && c.inactive_threshold > (sl.inactive_threshold ?? 0)) {
    throw jsError("JSConsumerInactiveThresholdExcess", { limit: goDuration(sl.inactive_threshold ?? 0) });
  }
  if (c.direct) {
    if (!push) throw jsError("JSConsumerDirectRequiresPushErr");
    if (c.durable_name !== "") throw jsError("JSConsumerDirectRequiresEphemeralErr");
  }

  // Filters (ADR-34): one form or the other, valid, none empty, none inside another.
  if (c.filter_subject !== "" && c.filter_subjects.length > 0) throw jsError("JSConsumerDuplicateFilterSubjects");
  if (c.filter_subject !== "" && !isValidSubject(c.filter_subject)) throw invalidConfig("invalid subject");
  if (c.filter_subjects.some((f) => f === "")) throw jsError("JSConsumerEmptyFilter");
  const filters = gatherFilters(c.filter_subject, c.filter_subjects);
  for (let i = 0; i < filters.length; i++) {
    if (!isValidSubject(filters[i])) throw invalidConfig("invalid subject");
    for (let j = 0; j < filters.length; j++) {
      if (i !== j && subjectIsSubsetOf(filters[i], filters[j])) throw jsError("JSConsumerOverlappingSubjectFilters");
    }
  }

  // Start position options must agree with the deliver policy.
  const hasTime = c.opt_start_time !== undefined;
  const badStart = (dp: string, start: string): ApiError => policyErr(`consumer delivery policy is deliver ${dp}, but optional start ${start} is also set`);
  const notSet = (dp: string, what: string): ApiError => policyErr(`consumer delivery policy is deliver ${dp}, but optional ${what} is not set`);
  switch (c.deliver_policy) {
    case "all":
    case "last":
    case "new":
    case "last_per_subject": {
      const word = c.deliver_policy === "last_per_subject" ? "last per subject" : c.deliver_policy;
      if (c.opt_start_seq > 0) throw badStart(word, "sequence");
      if (hasTime) throw badStart(word, "time");
      if (c.deliver_policy === "last_per_subject" && filters.length === 0) throw notSet(word, "filter subject");
      break;
    }
    case "by_start_sequence":
      if (c.opt_start_seq === 0) throw notSet("by start sequence", "start sequence");
      if (hasTime) throw badStart("by start sequence", "time");
      break;
    case "by_start_time":
      if (!hasTime) throw notSet("by start time", "start time");
      if (c.opt_start_seq !== 0) throw badStart("by start time", "start sequence");
      break;
  }

  if (c.sample_freq !== "") {
    const s = c.sample_freq.endsWith("%") ? c.sample_freq.slice(0, -1) : c.sample_freq;
    const n = goAtoi(s);
    if (n === undefined) {
      const why = /^[+-]?\d+$/.test(s) ? "value out of range" : "invalid syntax";
      throw jsError("JSConsumerInvalidSamplingErrF", { err: `strconv.Atoi: parsing ${JSON.stringify(s)}: ${why}` });
    }
    if (n < 0) throw jsError("JSConsumerInvalidSamplingErrF", { err: "<nil>" });
  }
  if (c.flow_control && c.idle_heartbeat === 0) throw jsError("JSConsumerWithFlowControlNeedsHeartbeats");
  if (c.durable_name !== "" && c.name !== "" && c.name !== c.durable_name) throw jsError("JSConsumerCreateDurableAndNameMismatch");

  let metaLen = 0;
  for (const [k, v] of Object.entries(c.metadata ?? {})) metaLen += Buffer.byteLength(k) + Buffer.byteLength(v);
  if (metaLen > MAX_METADATA_BYTES) throw jsError("JSConsumerMetadataLengthErrF", { limit: `${MAX_METADATA_BYTES / 1024}KB` });

  if (c.priority_policy !== "none") {
    if (push) throw jsError("JSConsumerPushWithPriorityGroupErr");
    if (c.priority_groups.length === 0) throw jsError("JSConsumerPriorityPolicyWithoutGroup");
    for (const g of c.priority_groups) {
      if (g === "") throw jsError("JSConsumerEmptyGroupName");
      if (!VALID_GROUP_NAME.test(g)) throw jsError("JSConsumerInvalidGroupNameErr");
    }
  } else {
    if (c.priority_groups.length > 0) throw jsError("JSConsumerPriorityGroupWithPolicyNone");
    if (c.priority_timeout > 0) throw jsError("JSConsumerPinnedTTLWithoutPriorityPolicyNone");
  }
}

/** A priority group name as nats-server accepts it (1-16 of A-Z a-z 0-9 - _ / =). */
export function validGroupName(group: string): boolean {
  return VALID_GROUP_NAME.test(group);
}

/**
 * Defaults and checks of a consumer config (nats-server's setConsumerConfigDefaults then
 * checkConsumerCfg). Throws the first failing check's ApiError.
 */
export function normalizeConsumerConfig(raw: Partial<ConsumerConfig>, stream: StreamConfig, limits: ConsumerLimits = { maxAckPending: 0 }, pedantic = false): ConsumerConfig {
  const c = widen(raw);
  applyDefaults(c, stream, limits, pedantic);
  checkConfig(c, stream, limits);
  return narrow(c);
}

/** The JSON form of a config recovered from disk (older tsnats wrote zero values too). */
export function storedConsumerConfig(raw: Partial<ConsumerConfig>): ConsumerConfig {
  return narrow(widen(raw));
}

/** The time a by_start_time consumer starts from, in ns. */
export function optStartTimeNs(cfg: ConsumerConfig): bigint {
  return parseRfc3339(cfg.opt_start_time ?? "") ?? 0n;
}

/** The filters of a consumer config as a list (empty = the whole stream). */
export function filtersOf(cfg: ConsumerConfig): string[] {
  return gatherFilters(cfg.filter_subject, cfg.filter_subjects);
}

/** The name a consumer's ephemeral inactivity stamps into its config (5 s), as nats-server does. */
export function stampInactiveThreshold(cfg: ConsumerConfig): ConsumerConfig {
  if ((cfg.durable_name ?? "") === "" && (cfg.inactive_threshold ?? 0) <= 0) return { ...cfg, inactive_threshold: DEFAULT_EPHEMERAL_INACTIVE_NS };
  return cfg;
}

/**
 * nats-server's checkNewConsumerConfig: the fields an update may not change (plain
 * messages become JSConsumerCreateErrF at the API edge). `deliverBound` tells whether the
 * old deliver subject has interest now.
 */
export function checkConsumerUpdate(old: ConsumerConfig, next: ConsumerConfig, deliverBound: boolean): void {
  if (sameConsumerConfig(old, next)) return;
  const fail = (err: string): never => {
    throw jsError("JSConsumerCreateErrF", { err });
  };
  if (old.deliver_policy !== next.deliver_policy) fail("deliver policy can not be updated");
  if (!!old.mem_storage !== !!next.mem_storage) fail("storage type can not be updated");
  if (!!old.direct !== !!next.direct) fail("direct can not be updated");
  if (!!old.sourcing !== !!next.sourcing) fail("sourcing can not be updated");
  if ((old.opt_start_seq ?? 0) !== (next.opt_start_seq ?? 0)) fail("start sequence can not be updated");
  if (old.opt_start_time !== undefined && next.opt_start_time !== undefined) {
    if (parseRfc3339(old.opt_start_time) !== parseRfc3339(next.opt_start_time)) fail("start time can not be updated");
  } else if (old.opt_start_time !== undefined || next.opt_start_time !== undefined) fail("start time can not be updated");
  if (old.ack_policy !== next.ack_policy) fail("ack policy can not be updated");
  if (old.replay_policy !== next.replay_policy) fail("replay policy can not be updated");
  if ((old.idle_heartbeat ?? 0) !== (next.idle_heartbeat ?? 0)) fail("heart beats can not be updated");
  if (!!old.flow_control !== !!next.flow_control) fail("flow control can not be updated");
  if ((old.deliver_subject ?? "") !== (next.deliver_subject ?? "")) {
    if (!old.deliver_subject) fail("can not update pull consumer to push based");
    if (!next.deliver_subject) fail("can not update push consumer to pull based");
    if (deliverBound) throw jsError("JSConsumerNameExistErr");
  }
  if ((old.max_waiting ?? 0) !== (next.max_waiting ?? 0)) fail("max waiting can not be updated");
  const bo = next.backoff?.length ?? 0;
  if (bo > 0 && (next.max_deliver ?? -1) !== -1 && bo > (next.max_deliver ?? -1)) throw jsError("JSConsumerMaxDeliverBackoffErr");
}

/**
 * Would a create with action "create" be refused for this existing consumer? The re-sent
 * config must equal the stored one, versioning metadata taken from the stored config.
 */
export function differsForCreate(existing: ConsumerConfig, next: ConsumerConfig): boolean {
  const md = withStoredLevel(next.metadata, existing.metadata);
  const cmp: ConsumerConfig = { ...next };
  if (md === undefined) delete cmp.metadata;
  else cmp.metadata = md;
  return !sameConsumerConfig(existing, cmp);
}

/** Same effective config? */
export function sameConsumerConfig(a: ConsumerConfig, b: ConsumerConfig): boolean {
  return stableJson(a) === stableJson(b);
}

export function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(",")}}`;
}

export { MAX_NAME_LEN };
