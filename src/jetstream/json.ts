// Strict decoding of JetStream API request bodies, as nats-server 2.12+ does by default:
// the body must be a JSON object, every field must be one the API knows (unknown fields
// are rejected with JSInvalidJSONErr) and carry the right JSON type. Each request kind
// declares its fields once below; the field lists follow jsm.go's request schemas.
import { jsError } from "./errors.js";

export type FieldType =
  | "string"
  | "int"
  | "uint"
  | "number"
  | "bool"
  | "strings"
  | "ints"
  | "map"
  | "any"
  | { object: Shape; name: string }
  | { array: Shape; name: string }
  | { oneOf: readonly string[]; error?: string };

export interface Shape {
  readonly [field: string]: FieldType;
}

function goType(t: FieldType): string {
  if (typeof t === "string") {
    switch (t) {
      case "string":
        return "string";
      case "int":
        return "int64";
      case "uint":
        return "uint64";
      case "number":
        return "float64";
      case "bool":
        return "bool";
      case "strings":
        return "[]string";
      case "ints":
        return "[]int64";
      case "map":
        return "map[string]string";
      default:
        return "interface {}";
    }
  }
  if ("oneOf" in t) return "string";
  return "object" in t ? t.name : `[]${t.name}`;
}

function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "object" ? "object" : typeof v;
}

function typeError(v: unknown, struct: string, field: string, t: FieldType): never {
  throw jsError("JSInvalidJSONErr", {
    err: `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${field} of type ${goType(t)}`,
  });
}

function checkValue(v: unknown, t: FieldType, struct: string, field: string): void {
  if (v === null) return; // Go leaves the zero value for null
  if (typeof t === "string") {
    switch (t) {
      case "string":
        if (typeof v !== "string") typeError(v, struct, field, t);
        return;
      case "int":
        if (typeof v !== "number" || !Number.isInteger(v)) typeError(v, struct, field, t);
        return;
      case "uint":
        if (typeof v !== "number" || !Number.isInteger(v)) typeError(v, struct, field, t);
        if (v < 0) {
          // Go names the offending number for a sign mismatch.
          throw jsError("JSInvalidJSONErr", { err: `json: cannot unmarshal number ${v} into Go struct field ${struct}.${field} of type uint64` });
        }
        return;
      case "number":
        if (typeof v !== "number") typeError(v, struct, field, t);
        return;
      case "bool":
        if (typeof v !== "boolean") typeError(v, struct, field, t);
        return;
      case "strings":
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) typeError(v, struct, field, t);
        return;
      case "ints":
        if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isInteger(x))) typeError(v, struct, field, t);
        return;
      case "map":
        if (jsonKind(v) !== "object" || Object.values(v as object).some((x) => typeof x !== "string")) {
          typeError(v, struct, field, t);
        }
        return;
      default:
        return;
    }
  }
  if ("oneOf" in t) {
    // nats-server's policy types have their own UnmarshalJSON: anything but a known
    // name fails with the raw JSON quoted by Go's %q.
    if (typeof v !== "string" || !t.oneOf.includes(v)) {
      throw jsError("JSInvalidJSONErr", { err: t.error ?? `can not unmarshal ${JSON.stringify(JSON.stringify(v))}` });
    }
    return;
  }
  if ("object" in t) {
    if (jsonKind(v) !== "object") typeError(v, struct, field, t);
    checkShape(v as Record<string, unknown>, t.object, t.name);
    return;
  }
  if (!Array.isArray(v)) typeError(v, struct, field, t);
  for (const item of v) {
    if (jsonKind(item) !== "object") typeError(item, struct, field, t);
    checkShape(item as Record<string, unknown>, t.array, t.name);
  }
}

export function checkShape(obj: Record<string, unknown>, shape: Shape, struct: string): void {
  for (const key of Object.keys(obj)) {
    const t = shape[key];
    if (t === undefined) throw jsError("JSInvalidJSONErr", { err: `json: unknown field "${key}"` });
    checkValue(obj[key], t, struct, key);
  }
}

/**
 * Decode a request body. An empty body is allowed when `emptyOk` (it means "no options");
 * anything else must be a JSON object that satisfies `shape`.
 */
export function decodeRequest<T>(payload: Buffer, shape: Shape, struct: string, emptyOk = true): T | undefined {
  if (payload.length === 0 || (payload.length <= 4 && payload.toString().trim() === "")) {
    if (emptyOk) return undefined;
    throw jsError("JSBadRequestErr");
  }
  let v: unknown;
  try {
    v = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    throw jsError("JSInvalidJSONErr", { err: (err as Error).message });
  }
  if (jsonKind(v) !== "object") {
    // Go names the request's type with its package here, and without it in field errors.
    throw jsError("JSInvalidJSONErr", { err: `json: cannot unmarshal ${jsonKind(v)} into Go value of type server.${struct}` });
  }
  checkShape(v as Record<string, unknown>, shape, struct);
  return v as T;
}

// ---- request shapes ----

const subjectTransform: Shape = { src: "string", dest: "string" };
const externalStream: Shape = { api: "string", deliver: "string" };
const streamSource: Shape = {
  name: "string",
  opt_start_seq: "int",
  opt_start_time: "string",
  filter_subject: "string",
  subject_transforms: { array: subjectTransform, name: "SubjectTransformConfig" },
  external: { object: externalStream, name: "ExternalStream" },
  consumer: { object: { name: "string", deliver_subject: "string" }, name: "StreamConsumerSource" },
  domain: "string",
};

export const STREAM_CONFIG_SHAPE: Shape = {
  name: "string",
  description: "string",
  subjects: "strings",
  retention: { oneOf: ["limits", "interest", "workqueue"] },
  max_consumers: "int",
  max_msgs: "int",
  max_bytes: "int",
  max_age: "int",
  max_msgs_per_subject: "int",
  max_msg_size: "int",
  discard: { oneOf: ["old", "new"] },
  storage: { oneOf: ["file", "memory"] },
  num_replicas: "int",
  no_ack: "bool",
  duplicate_window: "int",
  placement: { object: { cluster: "string", tags: "strings", preferred: "string" }, name: "Placement" },
  mirror: { object: streamSource, name: "StreamSource" },
  sources: { array: streamSource, name: "StreamSource" },
  sealed: "bool",
  deny_delete: "bool",
  deny_purge: "bool",
  allow_rollup_hdrs: "bool",
  allow_direct: "bool",
  mirror_direct: "bool",
  republish: { object: { src: "string", dest: "string", headers_only: "bool" }, name: "RePublish" },
  discard_new_per_subject: "bool",
  subject_transform: { object: subjectTransform, name: "SubjectTransformConfig" },
  compression: { oneOf: ["none", "s2"], error: "unknown compression algorithm" },
  first_seq: "uint",
  metadata: "map",
  consumer_limits: { object: { inactive_threshold: "int", max_ack_pending: "int" }, name: "StreamConsumerLimits" },
  allow_msg_ttl: "bool",
  subject_delete_marker_ttl: "int",
  allow_msg_counter: "bool",
  allow_atomic: "bool",
  allow_msg_schedules: "bool",
  allow_batched: "bool",
  persist_mode: { oneOf: ["default", "async", ""] },
};

export const STREAM_CREATE_SHAPE: Shape = { ...STREAM_CONFIG_SHAPE, pedantic: "bool" };

export const CONSUMER_CONFIG_SHAPE: Shape = {
  durable_name: "string",
  name: "string",
  description: "string",
  deliver_policy: { oneOf: ["all", "undefined", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"] },
  opt_start_seq: "int",
  opt_start_time: "string",
  ack_policy: { oneOf: ["none", "all", "explicit"] },
  ack_wait: "int",
  max_deliver: "int",
  backoff: "ints",
  filter_subject: "string",
  filter_subjects: "strings",
  replay_policy: { oneOf: ["instant", "original"] },
  rate_limit_bps: "int",
  sample_freq: "string",
  max_waiting: "int",
  max_ack_pending: "int",
  flow_control: "bool",
  idle_heartbeat: "int",
  headers_only: "bool",
  max_batch: "int",
  max_expires: "int",
  max_bytes: "int",
  deliver_subject: "string",
  deliver_group: "string",
  inactive_threshold: "int",
  num_replicas: "int",
  mem_storage: "bool",
  direct: "bool",
  metadata: "map",
  pause_until: "string",
  priority_groups: "strings",
  priority_policy: "string",
  priority_timeout: "int",
  sourcing: "bool",
};

export const CONSUMER_CREATE_SHAPE: Shape = {
  stream_name: "string",
  config: { object: CONSUMER_CONFIG_SHAPE, name: "ConsumerConfig" },
  action: "string",
  pedantic: "bool",
};

export const STREAM_INFO_SHAPE: Shape = { deleted_details: "bool", subjects_filter: "string", offset: "int" };
export const NAMES_SHAPE: Shape = { offset: "int", subject: "string" };
export const LIST_SHAPE: Shape = { offset: "int", subject: "string" };
export const PURGE_SHAPE: Shape = { filter: "string", seq: "uint", keep: "uint" };
export const MSG_GET_SHAPE: Shape = {
  seq: "uint",
  last_by_subj: "string",
  next_by_subj: "string",
  batch: "int",
  max_bytes: "int",
  start_time: "string",
  multi_last: "strings",
  up_to_seq: "int",
  up_to_time: "string",
  no_hdr: "bool",
};
export const MSG_DELETE_SHAPE: Shape = { seq: "uint", no_erase: "bool" };

export const SNAPSHOT_SHAPE: Shape = { deliver_subject: "string", no_consumers: "bool", chunk_size: "int", window_size: "int", jsck: "bool" };
export const RESTORE_SHAPE: Shape = { config: { object: STREAM_CONFIG_SHAPE, name: "StreamConfig" }, state: "any" };
