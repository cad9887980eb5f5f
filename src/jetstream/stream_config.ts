// Stream configuration: the JSON shape of nats-server's StreamConfig, the defaults it
// fills in on create and update, and the checks it runs (nats-server 2.15's
// checkStreamCfg and update rules, in its order and with its error codes and texts,
// because clients branch on them). `pedantic` requests get errors instead of silent
// adjustments, as in nats-server.
import { isValidSubject, subjectIsSubsetOf, subjectsCollide } from "../protocol/subject.js";
import { jsError, type ApiError } from "./errors.js";
import { SEC_NS, goDuration } from "../server/time.js";
import { SubjectTransform, SubjectTransformError, TransformErr } from "../server/subject_transform.js";
import { checkSourcingConfig, normalizeSource } from "./source_config.js";

export type RetentionPolicy = "limits" | "interest" | "workqueue";
export type StorageKind = "file" | "memory";

export interface StreamSourceJson {
  name: string;
  opt_start_seq?: number;
  opt_start_time?: string;
  filter_subject?: string;
  subject_transforms?: Array<{ src: string; dest: string }>;
  external?: { api: string; deliver?: string };
  /** Durable sourcing (2.14): a consumer the user created on the origin, with AckFlowControl. */
  consumer?: { name: string; deliver_subject: string };
}

export interface ConsumerLimits {
  inactive_threshold?: number;
  max_ack_pending?: number;
}

/** Fields in nats-server's order (and omitempty rules), so answers read the same. */
export interface StreamConfig {
  name: string;
  description?: string;
  subjects?: string[];
  retention: RetentionPolicy;
  max_consumers: number;
  max_msgs: number;
  max_bytes: number;
  max_age: number; // ns
  max_msgs_per_subject: number;
  max_msg_size: number;
  discard: "old" | "new";
  storage: StorageKind;
  num_replicas: number;
  no_ack?: boolean;
  /** ns; absent (0) on copies of other streams that ask for none. */
  duplicate_window?: number;
  placement?: { cluster?: string; tags?: string[]; preferred?: string };
  mirror?: StreamSourceJson;
  sources?: StreamSourceJson[];
  compression: "none" | "s2";
  first_seq?: number;
  subject_transform?: { src: string; dest: string };
  republish?: { src?: string; dest: string; headers_only?: boolean };
  allow_direct: boolean;
  mirror_direct: boolean;
  discard_new_per_subject?: boolean;
  sealed: boolean;
  deny_delete: boolean;
  deny_purge: boolean;
  allow_rollup_hdrs: boolean;
  consumer_limits: ConsumerLimits;
  allow_msg_ttl: boolean;
  subject_delete_marker_ttl?: number; // ns
  allow_msg_counter?: boolean;
  allow_atomic?: boolean;
  allow_msg_schedules?: boolean;
  persist_mode?: "async";
  allow_batched?: boolean;
  metadata?: Record<string, string>;
}

/** What a create/update request may carry (as decoded by json.ts). */
export type StreamConfigRequest = Partial<Omit<StreamConfig, "persist_mode" | "compression">> & {
  persist_mode?: string;
  compression?: string;
};

export const DEFAULT_DUPLICATE_WINDOW_NS = 120 * SEC_NS;
const MIN_WINDOW_NS = 100_000_000;
const MAX_METADATA_BYTES = 128 * 1024;
const MAX_DESCRIPTION = 4 * 1024;
const MAX_NAME = 255;
const MAX_REPLICAS = 5;

function invalid(err: string): ApiError {
  return jsError("JSStreamInvalidConfigF", { err });
}

function pedanticErr(err: string): ApiError {
  return jsError("JSPedanticErrF", { err });
}

/** nats-server's isValidAssetName: non-empty, none of ` \t\r\n\f.*>\/`. */
export function isValidAssetName(name: string): boolean {
  return name !== "" && !/[ \t\r\n\f.*>\\/]/.test(name);
}

/** Validate a stream name from a request subject or config. */
export function checkStreamName(name: string): void {
  if (/[\\/]/.test(name)) throw jsError("JSStreamNameContainsPathSeparatorsErr");
  if (!isValidAssetName(name)) throw invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'");
  if (name.length > MAX_NAME) throw invalid(`stream name is too long, maximum allowed is ${MAX_NAME}`);
}

/**
 * Fill nats-server's defaults into a create/update request and check it on its own
 * (checks against other streams, account limits and the old config are the caller's).
 */
export function normalizeStreamConfig(raw: StreamConfigRequest, opts: { clustered: boolean; pedantic?: boolean; maxDuplicateWindowNs?: number }): StreamConfig {
  const pedantic = opts.pedantic === true;
  const name = raw.name ?? "";
  if (!isValidAssetName(name)) throw invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'");
  if (name.length > MAX_NAME) throw invalid(`stream name is too long, maximum allowed is ${MAX_NAME}`);
  if (raw.description !== undefined && raw.description.length > MAX_DESCRIPTION) {
    throw invalid(`stream description is too long, maximum allowed is ${MAX_DESCRIPTION}`);
  }
  if (raw.metadata !== undefined && raw.metadata !== null) {
    let size = 0;
    for (const [k, v] of Object.entries(raw.metadata)) size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > MAX_METADATA_BYTES) throw invalid(`stream metadata exceeds maximum size of ${MAX_METADATA_BYTES} bytes`);
  }
  const replicas = raw.num_replicas === undefined || raw.num_replicas === 0 ? 1 : raw.num_replicas;
  if (replicas > MAX_REPLICAS) throw invalid(`maximum replicas is ${MAX_REPLICAS}`);
  if (replicas < 0) throw jsError("JSReplicasCountCannotBeNegative");

  // Limits: 0 or below -1 mean "unlimited" (-1); pedantic requests must say -1.
  const unlimited = (v: number | undefined, field: string): number => {
    if (v === undefined || v === 0 || v < -1) {
      if (pedantic && v !== undefined && v < -1) throw pedanticErr(`${field} must be set to -1`);
      return -1;
    }
    return v;
  };
  const maxMsgs = unlimited(raw.max_msgs, "max_msgs");
  const maxPer = unlimited(raw.max_msgs_per_subject, "max_msgs_per_subject");
  const maxBytes = unlimited(raw.max_bytes, "max_bytes");
  const maxMsgSize = unlimited(raw.max_msg_size, "max_msg_size");
  const maxConsumers = unlimited(raw.max_consumers, "max_consumers");
  const maxAge = raw.max_age ?? 0;
  if (maxAge < 0) throw invalid("max age can not be negative");
  if (maxAge !== 0 && maxAge < MIN_WINDOW_NS) throw invalid("max age needs to be >= 100ms");

  const mirrored = raw.mirror !== undefined && raw.mirror !== null;
  const sourced = raw.sources !== undefined && raw.sources !== null && raw.sources.length > 0;
  let window = raw.duplicate_window ?? 0;
  // The server's bound (jetstream `limits { duplicate_window }`), if any.
  const windowLimit = opts.maxDuplicateWindowNs ?? 0;
  if (window === 0 && !mirrored && !sourced) {
    let maxWindow = DEFAULT_DUPLICATE_WINDOW_NS;
    if (windowLimit > 0 && maxWindow > windowLimit) {
      if (pedantic) throw pedanticErr("duplicate window limits are higher than current limits");
      maxWindow = windowLimit;
    }
    if (maxAge !== 0 && maxAge < maxWindow) {
      if (pedantic) throw pedanticErr("duplicate window cannot be bigger than max age");
      window = maxAge;
    } else {
      window = maxWindow;
    }
  }
  if (window < 0) throw invalid("duplicates window can not be negative");
  if (maxAge !== 0 && window > maxAge) throw invalid("duplicates window can not be larger then max age");
  if (windowLimit > 0 && window > windowLimit) throw invalid(`duplicates window can not be larger then server limit of ${goDuration(windowLimit)}`);
  if (window > 0 && window < MIN_WINDOW_NS) throw invalid("duplicates window needs to be >= 100ms");

  // Policies as the literals here (interned strings; the request decoder has checked them): hot
  // paths compare them with literals, and a parsed string there throws away their optimized code.
  const discard = raw.discard === "new" ? "new" : "old";
  const retention = raw.retention === "interest" ? "interest" : raw.retention === "workqueue" ? "workqueue" : "limits";
  let allowRollup = raw.allow_rollup_hdrs === true;
  let denyPurge = raw.deny_purge === true;
  let allowTtl = raw.allow_msg_ttl === true;
  if (denyPurge && allowRollup) throw invalid("roll-ups require the purge permission");

  if (raw.allow_msg_counter) {
    if (discard === "new") throw invalid("counter stream cannot use discard new");
    if (allowTtl) throw invalid("counter stream cannot use message TTLs");
    if (raw.allow_msg_schedules) throw invalid("counter stream cannot use message schedules");
    if (retention !== "limits") throw invalid("counter stream can only use limits retention");
  }
  if (raw.discard_new_per_subject) {
    if (discard !== "new") throw invalid("discard new per subject requires discard new policy to be set");
    if (maxPer <= 0) throw invalid("discard new per subject requires max msgs per subject > 0");
  }
  const markerTtl = raw.subject_delete_marker_ttl ?? 0;
  if (markerTtl > 0) {
    if (markerTtl < SEC_NS) throw invalid("subject delete marker TTL must be at least 1 second");
    if (!allowTtl) {
      if (pedantic) throw invalid("subject delete marker cannot be set if message TTLs are disabled");
      allowTtl = true;
    }
    if (!allowRollup) {
      if (pedantic) throw invalid("subject delete marker cannot be set if roll-ups are disabled");
      allowRollup = true;
      denyPurge = false;
    }
  } else if (markerTtl < 0) {
    throw invalid("subject delete marker TTL must not be negative");
  }
  if (raw.allow_msg_schedules) {
    if (discard === "new") throw invalid("message scheduling cannot use discard new");
    if (!allowRollup) {
      if (pedantic) throw invalid("message scheduling cannot be set if roll-ups are disabled");
      allowRollup = true;
      denyPurge = false;
    }
  }
  const storage = raw.storage === "memory" ? "memory" : "file";
  if (raw.persist_mode === "async") {
    if (storage !== "file") throw invalid("async persist mode is only supported on file storage");
    if (replicas > 1) throw invalid("async persist mode is not supported on replicated streams");
    if (raw.allow_atomic) throw invalid("async persist mode is not supported with atomic batch publish");
  }
  const mirror = mirrored ? normalizeSource(raw.mirror!) : undefined;
  const sources = sourced ? raw.sources!.map(normalizeSource) : undefined;
  if (mirror === undefined && sources !== undefined && raw.allow_msg_schedules) throw jsError("JSSourceWithMsgSchedulesErr");
  if (mirror !== undefined || sources !== undefined) {
    const features = { allow_msg_counter: raw.allow_msg_counter, allow_atomic: raw.allow_atomic, allow_batched: raw.allow_batched, allow_msg_schedules: raw.allow_msg_schedules };
    checkSourcingConfig({ mirror, sources, first_seq: raw.first_seq, subject_delete_marker_ttl: markerTtl, ...features } as StreamConfig, raw.subjects ?? undefined);
  }

  // Subjects: default to the stream name; each valid, no duplicates, API subjects only
  // without acks, no overlaps among them.
  let subjects = raw.subjects !== undefined && raw.subjects !== null ? [...raw.subjects] : [];
  if (subjects.length === 0) {
    // Copies of other streams (mirrors, sourcing streams) have no subjects of their own.
    if (mirror === undefined && sources === undefined) subjects = [name];
  } else {
    const seen = new Set<string>();
    for (let i = 0; i < subjects.length; i++) {
      const subj = subjects[i]!;
      if (!isValidSubject(subj)) throw invalid("invalid subject");
      if (seen.has(subj)) throw invalid("duplicate subjects detected");
      if (subj === ">") {
        if (!raw.no_ack) throw invalid("capturing all subjects requires no-ack to be true");
        if (replicas !== 1) throw invalid("capturing all subjects requires replicas of 1");
      }
      if (!raw.no_ack) {
        for (const ns of ["$JS.>", "$JSC.>", "$NRG.>"]) {
          if (subjectsCollide(subj, ns) && !subjectIsSubsetOf(subj, "$JS.EVENT.>")) {
            throw invalid("subjects that overlap with jetstream api require no-ack to be true");
          }
        }
        if (subjectsCollide(subj, "$SYS.>") && !subjectIsSubsetOf(subj, "$SYS.ACCOUNT.>")) {
          throw invalid("subjects that overlap with system api require no-ack to be true");
        }
      }
      for (const other of subjects.slice(i + 1)) {
        if (subjectsCollide(other, subj)) throw invalid(`subject ${JSON.stringify(subj)} overlaps with ${JSON.stringify(other)}`);
      }
      seen.add(subj);
    }
  }

  const tr = raw.subject_transform ?? undefined;
  if (tr !== undefined && tr !== null) {
    const src = tr.src ?? "";
    const dest = tr.dest ?? "";
    if (src !== "" && !isValidSubject(src)) {
      throw jsError("JSStreamTransformInvalidSource", { err: `${TransformErr.badSubject} ${src}` });
    }
    try {
      SubjectTransform.validateMapping(src, dest);
    } catch (err) {
      if (err instanceof SubjectTransformError) throw jsError("JSStreamTransformInvalidDestination", { err: err.message });
      throw err;
    }
  }

  let republish: StreamConfig["republish"];
  if (raw.republish !== undefined && raw.republish !== null) {
    republish = { src: raw.republish.src ?? "", dest: raw.republish.dest ?? "" };
    if (raw.republish.headers_only) republish.headers_only = true;
    if (republish.src === "") {
      if (pedantic) throw pedanticErr("republish source can not be empty");
      republish.src = ">";
    }
    // '>' to '>' with a transform of the stream's only subject: republish what the
    // transform produced (implicit republish).
    if (republish.dest === ">" && republish.src === ">" && tr && subjects.length === 1 && tr.src === subjects[0]) {
      if (pedantic) throw pedanticErr("implicit republish based on subject transform");
      republish.src = tr.dest;
      republish.dest = tr.dest;
    }
    if (subjects.some((s) => subjectsCollide(republish!.dest, s))) {
      throw invalid("stream configuration for republish destination forms a cycle");
    }
    try {
      SubjectTransform.create(republish.src!, republish.dest);
    } catch {
      throw invalid(`stream configuration for republish with transform from '${republish.src}' to '${republish.dest}' not valid`);
    }
  }

  let placement = raw.placement ?? undefined;
  if (placement !== undefined && placement !== null) {
    const empty = !placement.cluster && (placement.tags === undefined || placement.tags === null) && !placement.preferred;
    if (empty) placement = undefined;
    else if (placement.preferred) throw invalid("preferred server not permitted in placement");
    else {
      // Kept, and echoed with Go's omitempty: an empty cluster or tag list is left out.
      const { cluster, tags } = placement;
      placement = { ...(cluster ? { cluster } : {}), ...(tags !== undefined && tags !== null && tags.length > 0 ? { tags } : {}) };
    }
  }

  const limits: ConsumerLimits = {};
  if (raw.consumer_limits?.inactive_threshold) limits.inactive_threshold = raw.consumer_limits.inactive_threshold;
  if (raw.consumer_limits?.max_ack_pending) limits.max_ack_pending = raw.consumer_limits.max_ack_pending;

  const cfg: StreamConfig = {
    name,
    ...(raw.description ? { description: raw.description } : {}),
    ...(subjects.length > 0 ? { subjects } : {}),
    retention,
    max_consumers: maxConsumers,
    max_msgs: maxMsgs,
    max_bytes: maxBytes,
    max_age: maxAge,
    max_msgs_per_subject: maxPer,
    max_msg_size: maxMsgSize,
    discard,
    storage,
    num_replicas: replicas,
    ...(raw.no_ack ? { no_ack: true } : {}),
    ...(window !== 0 ? { duplicate_window: window } : {}),
    ...(placement ? { placement } : {}),
    ...(mirror !== undefined ? { mirror } : {}),
    ...(sources !== undefined ? { sources } : {}),
    compression: raw.compression === "s2" ? "s2" : "none",
    ...(raw.first_seq ? { first_seq: raw.first_seq } : {}),
    ...(tr ? { subject_transform: { src: tr.src ?? "", dest: tr.dest ?? "" } } : {}),
    ...(republish ? { republish } : {}),
    allow_direct: raw.allow_direct === true,
    mirror_direct: raw.mirror_direct === true,
    ...(raw.discard_new_per_subject ? { discard_new_per_subject: true } : {}),
    sealed: raw.sealed === true,
    deny_delete: raw.deny_delete === true,
    deny_purge: denyPurge,
    allow_rollup_hdrs: allowRollup,
    consumer_limits: limits,
    allow_msg_ttl: allowTtl,
    ...(markerTtl > 0 ? { subject_delete_marker_ttl: markerTtl } : {}),
    ...(raw.allow_msg_counter ? { allow_msg_counter: true } : {}),
    ...(raw.allow_atomic ? { allow_atomic: true } : {}),
    ...(raw.allow_msg_schedules ? { allow_msg_schedules: true } : {}),
    ...(raw.persist_mode === "async" ? { persist_mode: "async" as const } : {}),
    ...(raw.allow_batched ? { allow_batched: true } : {}),
    ...(raw.metadata && Object.keys(raw.metadata).length > 0 ? { metadata: { ...raw.metadata } } : {}),
  };
  if (cfg.num_replicas > 1 && !opts.clustered) throw jsError("JSStreamReplicasNotSupportedErr");
  return cfg;
}

/** Checks of an update against the current config (nats-server's configUpdateCheck), in its order. */
export function checkStreamUpdate(old: StreamConfig, next: StreamConfig): void {
  if (old.name !== next.name) throw invalid("stream configuration name must match original");
  if (old.storage !== next.storage) throw invalid("stream configuration update can not change storage type");
  if (old.retention !== next.retention && (old.retention === "workqueue" || next.retention === "workqueue")) {
    throw invalid("stream configuration update can not change retention policy to/from workqueue");
  }
  if (old.sealed && !next.sealed) throw invalid("stream configuration update can not unseal a sealed stream");
  if (old.deny_delete && !next.deny_delete) throw invalid("stream configuration update can not cancel deny message deletes");
  if (old.deny_purge && !next.deny_purge) throw invalid("stream configuration update can not cancel deny purge");
  if (next.mirror !== undefined && JSON.stringify(next.mirror) !== JSON.stringify(old.mirror)) throw jsError("JSStreamMirrorNotUpdatableErr");
  if (old.allow_msg_ttl && !next.allow_msg_ttl) throw invalid("message TTL status can not be disabled");
  if (!!old.allow_msg_counter !== !!next.allow_msg_counter) throw invalid("stream configuration update can not change message counter setting");
  if (old.allow_msg_schedules && !next.allow_msg_schedules) throw invalid("message schedules can not be disabled");
  if ((old.persist_mode ?? "default") !== (next.persist_mode ?? "default")) throw invalid("stream configuration update can not change persist mode");
  // first_seq is taken as sent (as nats-server does); it only mattered at creation.
}

/**
 * An update that lowers consumer_limits must not leave existing consumers above them
 * (nats-server: "change to limits violates consumers: a, b", a stream update error).
 */
export function consumersViolatingLimits(
  old: StreamConfig,
  next: StreamConfig,
  consumers: Iterable<{ name: string; cfg: { max_ack_pending?: number; inactive_threshold?: number } }>,
): string[] {
  const oi = old.consumer_limits?.inactive_threshold ?? 0;
  const ni = next.consumer_limits?.inactive_threshold ?? 0;
  const om = old.consumer_limits?.max_ack_pending ?? 0;
  const nm = next.consumer_limits?.max_ack_pending ?? 0;
  if (!((ni > 0 && ni !== oi) || (nm > 0 && nm !== om))) return [];
  const bad: string[] = [];
  for (const c of consumers) {
    if ((ni > 0 && (c.cfg.inactive_threshold ?? 0) > ni) || (nm > 0 && (c.cfg.max_ack_pending ?? 0) > nm)) bad.push(c.name);
  }
  return bad;
}

/** Subjects overlap check against other streams of the account. */
export function subjectsOverlap(a: string[], b: string[]): boolean {
  for (const x of a) for (const y of b) if (subjectsCollide(x, y)) return true;
  return false;
}
