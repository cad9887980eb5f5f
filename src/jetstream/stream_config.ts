// Stream configuration: the JSON shape of nats-server's StreamConfig, the defaults it
// fills in on create, and the checks it runs on create and update (with the same error
// codes and descriptions, because clients branch on them).
import { isValidSubject, subjectsCollide } from "../protocol/subject.js";
import { jsError, type ApiError } from "./errors.js";
import { nameProblem } from "./util.js";
import { SEC_NS } from "../server/time.js";
import { SubjectTransform } from "../server/subject_transform.js";
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
  template_owner?: string;
  duplicate_window: number; // ns
  placement?: { cluster?: string; tags?: string[]; preferred?: string };
  mirror?: StreamSourceJson;
  sources?: StreamSourceJson[];
  sealed: boolean;
  deny_delete: boolean;
  deny_purge: boolean;
  allow_rollup_hdrs: boolean;
  allow_direct: boolean;
  mirror_direct: boolean;
  republish?: { src?: string; dest: string; headers_only?: boolean };
  discard_new_per_subject?: boolean;
  subject_transform?: { src: string; dest: string };
  compression?: string;
  first_seq?: number;
  metadata?: Record<string, string>;
  consumer_limits?: { inactive_threshold?: number; max_ack_pending?: number };
  allow_msg_ttl?: boolean;
  subject_delete_marker_ttl?: number;
  allow_msg_counter?: boolean;
  allow_atomic?: boolean;
  allow_msg_schedules?: boolean;
  allow_batched?: boolean;
  persist_mode?: string;
}

export const DEFAULT_DUPLICATE_WINDOW_NS = 120 * SEC_NS;
const MIN_WINDOW_NS = 100_000_000;
const MAX_METADATA_BYTES = 128 * 1024;
const MAX_DESCRIPTION = 4 * 1024;

function invalid(err: string): ApiError {
  return jsError("JSStreamInvalidConfigF", { err });
}

/** Validate a stream name from a request subject or config. */
export function checkStreamName(name: string): void {
  const p = nameProblem(name);
  if (p === "path") throw jsError("JSStreamNameContainsPathSeparatorsErr");
  if (p === "long") throw invalid("stream name is too long, maximum allowed is 255");
  if (p !== undefined) throw invalid("stream name is required and can not contain '.', '*', '>'");
}

/**
 * Fill nats-server's defaults into a create/update request and check it on its own
 * (checks against other streams and the old config are done by the caller).
 */
export function normalizeStreamConfig(
  raw: Partial<StreamConfig>,
  opts: { maxPayload: number; clustered: boolean },
): StreamConfig {
  const name = raw.name ?? "";
  checkStreamName(name);
  if (raw.description !== undefined && raw.description.length > MAX_DESCRIPTION) {
    throw invalid(`stream description is too long, maximum allowed is ${MAX_DESCRIPTION}`);
  }
  const retention = raw.retention ?? "limits";
  if (retention !== "limits" && retention !== "interest" && retention !== "workqueue") {
    throw invalid(`invalid retention policy: ${JSON.stringify(retention)}`);
  }
  const discard = raw.discard ?? "old";
  if (discard !== "old" && discard !== "new") throw invalid(`invalid discard policy: ${JSON.stringify(discard)}`);
  const storage = raw.storage ?? "file";
  if (storage !== "file" && storage !== "memory") throw invalid(`invalid storage type: ${JSON.stringify(storage)}`);
  if (raw.compression !== undefined && raw.compression !== "" && raw.compression !== "none" && raw.compression !== "s2") {
    throw invalid(`invalid compression algorithm: ${JSON.stringify(raw.compression)}`);
  }
  // Accepting s2 and storing uncompressed would misreport what is on disk: refused until implemented.
  if (raw.compression === "s2") throw invalid("stream compression is not supported by this server");
  const replicas = raw.num_replicas ?? 0;
  if (replicas < 0) throw jsError("JSReplicasCountCannotBeNegative");
  if (replicas > 5) throw invalid("maximum replicas is 5");
  if (replicas > 1 && !opts.clustered) throw jsError("JSStreamReplicasNotSupportedErr");

  const unl = (v: number | undefined): number => (v === undefined || v === 0 ? -1 : v);
  const cfg: StreamConfig = {
    name,
    ...(raw.description ? { description: raw.description } : {}),
    subjects: raw.subjects ? [...raw.subjects] : undefined,
    retention,
    max_consumers: unl(raw.max_consumers),
    max_msgs: unl(raw.max_msgs),
    max_bytes: unl(raw.max_bytes),
    max_age: raw.max_age ?? 0,
    max_msgs_per_subject: unl(raw.max_msgs_per_subject),
    max_msg_size: unl(raw.max_msg_size),
    discard,
    storage,
    num_replicas: replicas === 0 ? 1 : replicas,
    ...(raw.no_ack ? { no_ack: true } : {}),
    duplicate_window: raw.duplicate_window ?? 0,
    ...(raw.placement ? { placement: raw.placement } : {}),
    ...(raw.mirror ? { mirror: normalizeSource(raw.mirror) } : {}),
    ...(raw.sources && raw.sources.length > 0 ? { sources: raw.sources.map(normalizeSource) } : {}),
    sealed: raw.sealed ?? false,
    deny_delete: raw.deny_delete ?? false,
    deny_purge: raw.deny_purge ?? false,
    allow_rollup_hdrs: raw.allow_rollup_hdrs ?? false,
    allow_direct: raw.allow_direct ?? false,
    mirror_direct: raw.mirror_direct ?? false,
    ...(raw.republish ? { republish: raw.republish } : {}),
    ...(raw.discard_new_per_subject ? { discard_new_per_subject: true } : {}),
    ...(raw.subject_transform ? { subject_transform: raw.subject_transform } : {}),
    ...(raw.compression !== undefined && raw.compression !== "" ? { compression: raw.compression } : {}),
    ...(raw.first_seq ? { first_seq: raw.first_seq } : {}),
    ...(raw.metadata && Object.keys(raw.metadata).length > 0 ? { metadata: raw.metadata } : {}),
    ...(raw.consumer_limits ? { consumer_limits: raw.consumer_limits } : {}),
  };
  // nats-server's order: the window defaults from max_age first, so a negative max_age
  // shows up as a negative (or too large) window.
  // Mirrors and sourcing streams keep no duplicate window unless one is asked for: the copies
  // carry their origin's message ids, which the origin already de-duplicated.
  const sourcing = cfg.mirror !== undefined || cfg.sources !== undefined;
  if (cfg.duplicate_window === 0 && !sourcing) {
    cfg.duplicate_window = cfg.max_age !== 0 && cfg.max_age < DEFAULT_DUPLICATE_WINDOW_NS ? cfg.max_age : DEFAULT_DUPLICATE_WINDOW_NS;
  }
  if (cfg.max_age > 0 && cfg.max_age < MIN_WINDOW_NS) throw invalid("max age needs to be >= 100ms");
  if (cfg.duplicate_window < 0) throw invalid("duplicates window can not be negative");
  if (cfg.max_age !== 0 && cfg.duplicate_window > cfg.max_age) throw invalid("duplicates window can not be larger then max age");
  if (cfg.duplicate_window > 0 && cfg.duplicate_window < MIN_WINDOW_NS) throw invalid("duplicates window needs to be >= 100ms");
  if (cfg.deny_purge && cfg.allow_rollup_hdrs) throw invalid("roll-ups require the purge permission");
  if (cfg.metadata !== undefined) {
    let size = 0;
    for (const [k, v] of Object.entries(cfg.metadata)) size += k.length + v.length;
    if (size > MAX_METADATA_BYTES) throw invalid(`stream metadata exceeds maximum size of ${MAX_METADATA_BYTES} bytes`);
  }
  if (cfg.discard_new_per_subject) {
    if (cfg.discard !== "new") throw invalid("discard new per subject requires discard new policy to be set");
    if (cfg.max_msgs_per_subject <= 0) throw invalid("discard new per subject requires max msgs per subject > 0");
  }
  for (const flag of ["allow_msg_ttl", "allow_msg_counter", "allow_atomic", "allow_msg_schedules", "allow_batched"] as const) {
    if (raw[flag]) throw invalid(`${flag} is not supported by this server`);
  }
  if (raw.subject_delete_marker_ttl) throw invalid("subject delete markers are not supported by this server");
  if (sourcing) checkSourcingConfig(cfg, raw.subjects);
  if (cfg.first_seq !== undefined && cfg.first_seq < 0) throw invalid("first sequence can not be negative");

  // Subjects: default to the stream name (not for copies of other streams), each valid, no
  // duplicates or overlaps among them.
  if (cfg.subjects === undefined || cfg.subjects.length === 0) cfg.subjects = sourcing ? undefined : [name];
  const seen = new Set<string>();
  for (const s of cfg.subjects ?? []) {
    if (seen.has(s)) throw invalid("duplicate subjects detected");
    if (subjectsCollide(s, "$JS.API.>") && !cfg.no_ack) {
      throw invalid("subjects that overlap with jetstream api require no-ack to be true");
    }
    if (!isValidSubject(s)) throw invalid("invalid subject");
    seen.add(s);
  }
  // Subjects of one stream may not collide (a message would be stored twice).
  const subjects = cfg.subjects ?? [];
  for (let i = 0; i < subjects.length; i++) {
    for (let j = i + 1; j < subjects.length; j++) {
      const a = subjects[i];
      const b = subjects[j];
      if (subjectsCollide(a, b)) throw invalid(`subject ${JSON.stringify(a)} overlaps with ${JSON.stringify(b)}`);
    }
  }
  if (cfg.republish !== undefined) checkRepublish(cfg);
  return cfg;
}

/**
 * Republish (2.9): the source defaults to ">" and must overlap the stream's subjects, the
 * destination must not feed back into the stream, and src -> dest must be a valid
 * transform. Same order and descriptions as nats-server.
 */
function checkRepublish(cfg: StreamConfig): void {
  const rp = cfg.republish!;
  if (typeof rp !== "object" || rp === null) throw invalid("stream configuration for republish not valid");
  const src = rp.src === undefined || rp.src === "" ? ">" : rp.src;
  const dest = typeof rp.dest === "string" ? rp.dest : "";
  const subjects = cfg.subjects ?? [];
  if (!isValidSubject(src) || !subjects.some((s) => subjectsCollide(src, s))) {
    throw invalid("stream configuration for republish source is not valid subset of subjects");
  }
  if (dest !== "" && isValidSubject(dest) && subjects.some((s) => subjectsCollide(dest, s))) {
    throw invalid("stream configuration for republish destination forms a cycle");
  }
  if (SubjectTransform.parse(src, dest) === undefined) throw invalid("stream configuration for republish not valid");
  cfg.republish = { src, dest, ...(rp.headers_only ? { headers_only: true } : {}) };
}

/** Checks of an update against the current config (nats-server's checkStreamCfg update rules). */
export function checkStreamUpdate(old: StreamConfig, next: StreamConfig): void {
  if (old.name !== next.name) throw jsError("JSStreamMismatchErr");
  if (old.storage !== next.storage) throw invalid("stream configuration update can not change storage type");
  if (old.retention !== next.retention) {
    const wq = old.retention === "workqueue" || next.retention === "workqueue";
    if (wq) throw invalid("stream configuration update can not change retention policy to/from workqueue");
  }
  if (old.max_consumers !== next.max_consumers) {
    throw invalid("stream configuration update can not change MaxConsumers");
  }
  if (old.sealed && !next.sealed) throw invalid("stream configuration update can not unseal a sealed stream");
  if (old.deny_delete && !next.deny_delete) throw invalid("stream configuration update can not cancel deny message deletes");
  if (old.deny_purge && !next.deny_purge) throw invalid("stream configuration update can not cancel deny purge");
  // A mirror stays as it is, except that removing it promotes the copy to a normal stream (2.12).
  if (next.mirror !== undefined && JSON.stringify(next.mirror) !== JSON.stringify(old.mirror)) throw jsError("JSStreamMirrorNotUpdatableErr");
  if (JSON.stringify(old.republish ?? null) !== JSON.stringify(next.republish ?? null)) {
    throw invalid("stream configuration update can not change RePublish");
  }
  if ((old.first_seq ?? 0) !== (next.first_seq ?? 0)) {
    // first_seq only applies at creation; a changed value would not be honoured.
    next.first_seq = old.first_seq;
    if (next.first_seq === undefined) delete next.first_seq;
  }
}

/** Subjects overlap check against other streams of the account. */
export function subjectsOverlap(a: string[], b: string[]): boolean {
  for (const x of a) for (const y of b) if (subjectsCollide(x, y)) return true;
  return false;
}
