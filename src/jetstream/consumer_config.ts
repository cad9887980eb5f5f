// Consumer configuration: nats-server's ConsumerConfig JSON, its defaults and the checks of
// a create/update request (same codes and texts, clients branch on them).
import { isValidSubject, hasWildcard, subjectsCollide } from "../protocol/subject.js";
import { jsError } from "./errors.js";
import type { StreamConfig } from "./stream_config.js";
import { nameProblem } from "./util.js";
import { parseRfc3339, MS_NS, SEC_NS } from "../server/time.js";

export type DeliverPolicy = "all" | "last" | "new" | "by_start_sequence" | "by_start_time" | "last_per_subject";
export type AckPolicy = "none" | "all" | "explicit";
export type ReplayPolicy = "instant" | "original";

export interface ConsumerConfig {
  durable_name?: string;
  name?: string;
  description?: string;
  deliver_policy: DeliverPolicy;
  opt_start_seq?: number;
  opt_start_time?: string;
  ack_policy: AckPolicy;
  ack_wait?: number;
  max_deliver: number;
  backoff?: number[];
  filter_subject?: string;
  filter_subjects?: string[];
  replay_policy: ReplayPolicy;
  rate_limit_bps?: number;
  sample_freq?: string;
  max_waiting?: number;
  max_ack_pending?: number;
  flow_control?: boolean;
  idle_heartbeat?: number;
  headers_only?: boolean;
  max_batch?: number;
  max_expires?: number;
  max_bytes?: number;
  deliver_subject?: string;
  deliver_group?: string;
  inactive_threshold?: number;
  num_replicas: number;
  mem_storage?: boolean;
  /** A server-internal consumer (sourcing): not listed, not counted, not stored. */
  direct?: boolean;
  /** Created by a mirror or source of another stream (2.14). */
  sourcing?: boolean;
  metadata?: Record<string, string>;
}

export const DEFAULT_ACK_WAIT_NS = 30 * SEC_NS;
export const DEFAULT_MAX_WAITING = 512;
export const DEFAULT_MAX_ACK_PENDING = 1000;
export const DEFAULT_EPHEMERAL_INACTIVE_NS = 5 * SEC_NS;
const MAX_DESCRIPTION = 4096;
const MAX_METADATA_BYTES = 128 * 1024;

const DELIVER_POLICIES = new Set(["all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"]);

function policyErr(err: string) {
  return jsError("JSConsumerInvalidPolicyErrF", { err });
}

export function checkConsumerName(name: string, durable: boolean): void {
  const p = nameProblem(name);
  if (p === "path") throw jsError("JSConsumerNameContainsPathSeparatorsErr");
  if (p === "long") throw jsError("JSConsumerNameTooLongErrF", { max: 255 });
  if (p !== undefined) throw durable ? jsError("JSConsumerBadDurableNameErr") : jsError("JSConsumerBadDurableNameErr");
}

/** The consumer's filters as a list (empty = the whole stream). */
export function filtersOf(cfg: ConsumerConfig): string[] {
  if (cfg.filter_subjects !== undefined && cfg.filter_subjects.length > 0) return cfg.filter_subjects;
  if (cfg.filter_subject !== undefined && cfg.filter_subject !== "" && cfg.filter_subject !== ">") return [cfg.filter_subject];
  return [];
}

/**
 * Defaults and stand-alone checks of a consumer config, with the stream's config for the
 * checks that depend on it. `ephemeral` is decided by the caller (no durable name).
 */
export function normalizeConsumerConfig(raw: Partial<ConsumerConfig>, stream: StreamConfig, accountMaxAckPending = -1): ConsumerConfig {
  const push = raw.deliver_subject !== undefined && raw.deliver_subject !== "";
  const durable = raw.durable_name !== undefined && raw.durable_name !== "";
  if (raw.durable_name !== undefined && raw.durable_name !== "") checkConsumerName(raw.durable_name, true);
  if (raw.name !== undefined && raw.name !== "") checkConsumerName(raw.name, false);
  if (raw.description !== undefined && raw.description.length > MAX_DESCRIPTION) {
    throw jsError("JSConsumerDescriptionTooLongErrF", { max: MAX_DESCRIPTION });
  }
  if (raw.metadata !== undefined) {
    let size = 0;
    for (const [k, v] of Object.entries(raw.metadata)) size += k.length + v.length;
    if (size > MAX_METADATA_BYTES) throw jsError("JSConsumerMetadataLengthErrF", { limit: `${MAX_METADATA_BYTES / 1024}KB` });
  }
  // "undefined" is nats-server's spelling of the zero value: deliver all.
  const deliverPolicy = (raw.deliver_policy === undefined || (raw.deliver_policy as string) === "undefined" ? "all" : raw.deliver_policy) as DeliverPolicy;
  if (!DELIVER_POLICIES.has(deliverPolicy)) throw policyErr(`deliver policy "${deliverPolicy}" is not valid`);
  const ackPolicy = (raw.ack_policy ?? "none") as AckPolicy;
  if (ackPolicy !== "none" && ackPolicy !== "all" && ackPolicy !== "explicit") throw jsError("JSConsumerAckPolicyInvalidErr");
  const replay = (raw.replay_policy ?? "instant") as ReplayPolicy;
  if (replay !== "instant" && replay !== "original") throw jsError("JSConsumerReplayPolicyInvalidErr");

  if (raw.ack_wait !== undefined && raw.ack_wait < 0) throw jsError("JSConsumerAckWaitNegativeErr");
  if (raw.backoff !== undefined && raw.backoff.some((b) => b <= 0)) throw jsError("JSConsumerBackOffNegativeErr");

  // Start position options must agree with the deliver policy.
  const hasSeq = raw.opt_start_seq !== undefined && raw.opt_start_seq > 0;
  const hasTime = raw.opt_start_time !== undefined && raw.opt_start_time !== "" && !raw.opt_start_time.startsWith("0001-01-01");
  if (deliverPolicy === "by_start_sequence") {
    if (!hasSeq) throw policyErr("consumer delivery policy is deliver by start sequence, but optional start sequence is not set");
    if (hasTime) throw policyErr("consumer delivery policy is deliver by start sequence, but optional start time is also set");
  } else if (deliverPolicy === "by_start_time") {
    if (!hasTime) throw policyErr("consumer delivery policy is deliver by start time, but optional start time is not set");
    if (hasSeq) throw policyErr("consumer delivery policy is deliver by start time, but optional start sequence is also set");
    if (parseRfc3339(raw.opt_start_time as string) === undefined) throw jsError("JSInvalidJSONErr", { err: "invalid opt_start_time" });
  } else {
    if (hasSeq) throw policyErr(`consumer delivery policy is deliver ${policyWord(deliverPolicy)}, but optional start sequence is also set`);
    if (hasTime) throw policyErr(`consumer delivery policy is deliver ${policyWord(deliverPolicy)}, but optional start time is also set`);
    if (deliverPolicy === "last_per_subject" && !raw.filter_subject && !(raw.filter_subjects && raw.filter_subjects.length > 0)) {
      throw policyErr("consumer delivery policy is deliver last per subject, but optional filter subject is not set");
    }
  }

  if (push) {
    const ds = raw.deliver_subject as string;
    if (!isValidSubject(ds)) throw jsError("JSConsumerInvalidDeliverSubject");
    if (hasWildcard(ds)) throw jsError("JSConsumerDeliverToWildcardsErr");
    for (const s of stream.subjects ?? []) if (subjectsCollide(s, ds)) throw jsError("JSConsumerDeliverCycleErr");
    if (raw.max_waiting !== undefined && raw.max_waiting !== 0) throw jsError("JSConsumerPushMaxWaitingErr");
    // Only push consumers refuse a pending limit without acks (pull ones ignore it).
    if (raw.max_ack_pending !== undefined && raw.max_ack_pending > 0 && ackPolicy === "none") throw jsError("JSConsumerMaxPendingAckPolicyRequiredErr");
    if (raw.max_batch) throw policyErr("consumer in push mode can not set max batch");
    if (raw.max_expires) throw policyErr("consumer in push mode can not set max expires");
    if (raw.max_bytes) throw policyErr("consumer in push mode can not set max bytes");
  } else {
    if (raw.rate_limit_bps) throw jsError("JSConsumerPullWithRateLimitErr");
    if (raw.max_waiting !== undefined && raw.max_waiting < 0) throw jsError("JSConsumerMaxWaitingNegativeErr");
    if (raw.idle_heartbeat) throw jsError("JSConsumerHBRequiresPushErr");
    if (raw.flow_control) throw jsError("JSConsumerFCRequiresPushErr");
    if (raw.max_batch !== undefined && raw.max_batch < 0) throw jsError("JSConsumerMaxRequestBatchNegativeErr");
    if (raw.max_expires !== undefined && raw.max_expires !== 0 && raw.max_expires < MS_NS) throw jsError("JSConsumerMaxRequestExpiresTooSmall");
  }
  if (raw.idle_heartbeat !== undefined && raw.idle_heartbeat > 0 && raw.idle_heartbeat < 100 * MS_NS) {
    throw jsError("JSConsumerSmallHeartbeatErr");
  }
  if (raw.flow_control && !(raw.idle_heartbeat && raw.idle_heartbeat > 0)) throw jsError("JSConsumerWithFlowControlNeedsHeartbeats");
  // Direct consumers (the ones mirrors and sources create) are push ephemerals.
  if (raw.direct && !push) throw jsError("JSConsumerDirectRequiresPushErr");
  if (raw.direct && durable) throw jsError("JSConsumerDirectRequiresEphemeralErr");

  // Filters.
  if (raw.filter_subject && raw.filter_subjects && raw.filter_subjects.length > 0) throw jsError("JSConsumerDuplicateFilterSubjects");
  const filters = raw.filter_subjects && raw.filter_subjects.length > 0 ? raw.filter_subjects : raw.filter_subject ? [raw.filter_subject] : [];
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i];
    if (f === "") throw jsError("JSConsumerEmptyFilter");
    if (!isValidSubject(f)) throw jsError("JSConsumerFilterNotSubsetErr");
    for (let j = i + 1; j < filters.length; j++) if (subjectsCollide(f, filters[j])) throw jsError("JSConsumerOverlappingSubjectFilters");
  }

  const maxDeliver = raw.max_deliver === undefined || raw.max_deliver === 0 ? -1 : raw.max_deliver;
  if (raw.backoff !== undefined && raw.backoff.length > 0 && maxDeliver !== -1 && maxDeliver <= raw.backoff.length) {
    throw jsError("JSConsumerMaxDeliverBackoffErr");
  }

  const cfg: ConsumerConfig = {
    ...(durable ? { durable_name: raw.durable_name } : {}),
    ...(raw.name ? { name: raw.name } : {}),
    ...(raw.description ? { description: raw.description } : {}),
    deliver_policy: deliverPolicy,
    ...(hasSeq ? { opt_start_seq: raw.opt_start_seq } : {}),
    ...(hasTime ? { opt_start_time: raw.opt_start_time } : {}),
    ack_policy: ackPolicy,
    ...(ackPolicy !== "none" ? { ack_wait: raw.ack_wait && raw.ack_wait > 0 ? raw.ack_wait : DEFAULT_ACK_WAIT_NS } : raw.ack_wait ? { ack_wait: raw.ack_wait } : {}),
    max_deliver: maxDeliver,
    ...(raw.backoff && raw.backoff.length > 0 ? { backoff: raw.backoff } : {}),
    ...(raw.filter_subject ? { filter_subject: raw.filter_subject } : {}),
    ...(raw.filter_subjects && raw.filter_subjects.length > 0 ? { filter_subjects: raw.filter_subjects } : {}),
    replay_policy: replay,
    ...(raw.rate_limit_bps ? { rate_limit_bps: raw.rate_limit_bps } : {}),
    ...(raw.sample_freq ? { sample_freq: raw.sample_freq } : {}),
    ...(!push ? { max_waiting: raw.max_waiting && raw.max_waiting > 0 ? raw.max_waiting : DEFAULT_MAX_WAITING } : {}),
    ...(ackPolicy !== "none"
      ? {
          max_ack_pending:
            raw.max_ack_pending !== undefined && raw.max_ack_pending !== 0
              ? raw.max_ack_pending
              : stream.consumer_limits?.max_ack_pending ||
                // The default, or the account's limit when that is lower (as nats-server).
                (accountMaxAckPending > 0 && accountMaxAckPending < DEFAULT_MAX_ACK_PENDING ? accountMaxAckPending : DEFAULT_MAX_ACK_PENDING),
        }
      : raw.max_ack_pending
        ? { max_ack_pending: raw.max_ack_pending }
        : {}),
    ...(raw.idle_heartbeat ? { idle_heartbeat: raw.idle_heartbeat } : {}),
    ...(raw.flow_control ? { flow_control: true } : {}),
    ...(raw.headers_only ? { headers_only: true } : {}),
    ...(raw.max_batch ? { max_batch: raw.max_batch } : {}),
    ...(raw.max_expires ? { max_expires: raw.max_expires } : {}),
    ...(raw.max_bytes ? { max_bytes: raw.max_bytes } : {}),
    ...(push ? { deliver_subject: raw.deliver_subject } : {}),
    ...(raw.deliver_group ? { deliver_group: raw.deliver_group } : {}),
    ...(!durable
      ? { inactive_threshold: raw.inactive_threshold && raw.inactive_threshold > 0 ? raw.inactive_threshold : stream.consumer_limits?.inactive_threshold || DEFAULT_EPHEMERAL_INACTIVE_NS }
      : raw.inactive_threshold
        ? { inactive_threshold: raw.inactive_threshold }
        : {}),
    num_replicas: raw.num_replicas ?? 0,
    ...(raw.mem_storage ? { mem_storage: true } : {}),
    ...(raw.direct ? { direct: true } : {}),
    ...(raw.sourcing === true ? { sourcing: true } : {}),
    ...(raw.metadata && Object.keys(raw.metadata).length > 0 ? { metadata: raw.metadata } : {}),
  };
  if (cfg.num_replicas < 0) throw jsError("JSReplicasCountCannotBeNegative");
  if (cfg.num_replicas > stream.num_replicas) throw jsError("JSConsumerReplicasExceedsStream");
  if (cfg.sample_freq !== undefined && !/^\s*\d+(\.\d+)?\s*%?\s*$/.test(cfg.sample_freq)) {
    throw jsError("JSConsumerInvalidSamplingErrF", { err: `invalid sample frequency ${JSON.stringify(cfg.sample_freq)}` });
  }
  return cfg;
}

function policyWord(p: DeliverPolicy): string {
  switch (p) {
    case "all":
      return "all";
    case "last":
      return "last";
    case "new":
      return "new";
    case "last_per_subject":
      return "last per subject";
    default:
      return p;
  }
}

/** Fields a consumer update may not change (nats-server's checkNewConsumerConfig rules and texts). */
export function checkConsumerUpdate(old: ConsumerConfig, next: ConsumerConfig): void {
  const fail = (err: string): never => {
    throw jsError("JSConsumerCreateErrF", { err });
  };
  if (old.deliver_policy !== next.deliver_policy) fail("deliver policy can not be updated");
  if (!!old.mem_storage !== !!next.mem_storage) fail("storage type can not be updated");
  if ((old.opt_start_seq ?? 0) !== (next.opt_start_seq ?? 0)) fail("start sequence can not be updated");
  if ((old.opt_start_time ?? "") !== (next.opt_start_time ?? "")) fail("start time can not be updated");
  if (old.ack_policy !== next.ack_policy) fail("ack policy can not be updated");
  if (old.replay_policy !== next.replay_policy) fail("replay policy can not be updated");
  if ((old.idle_heartbeat ?? 0) !== (next.idle_heartbeat ?? 0)) fail("heart beats can not be updated");
  if (!!old.flow_control !== !!next.flow_control) fail("flow control can not be updated");
  if ((old.max_waiting ?? 0) !== (next.max_waiting ?? 0)) fail("max waiting can not be updated");
  if ((old.deliver_subject ?? "") !== (next.deliver_subject ?? "")) {
    if (!old.deliver_subject) fail("can not update pull consumer to push based");
    if (!next.deliver_subject) fail("can not update push consumer to pull based");
  }
}

/** Same effective config? (create with an identical config is idempotent) */
export function sameConsumerConfig(a: ConsumerConfig, b: ConsumerConfig): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(",")}}`;
}

export { stableJson };
