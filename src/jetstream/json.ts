// Strict decoding of JetStream API request bodies, as nats-server 2.12+ does by default:
// the body is read as Go's json.Decoder reads it (one value after another, each merged into
// the request), every field must be one the API knows (unknown fields are rejected with
// JSInvalidJSONErr) and carry the right JSON type. Field names match case-insensitively, as
// in Go. Each request kind declares its fields once below (the lists follow jsm.go's request
// schemas, the Go types nats-server's structs); errors carry Go's texts.
import { jsError } from "./errors.js";
import { GoJsonSyntaxError, plainValue, readGoJsonValue, readGoJsonValues, type GoNode } from "./go_json.js";
import { goTimeParseError } from "../server/time.js";

/** Go numeric types a field may have (integers are checked like strconv.ParseInt/ParseUint). */
export type GoNumber = "int" | "int64" | "int32" | "uint64" | "time.Duration" | "float64";

export type FieldType =
  | "string"
  | "int" // int64 (kept for the stream shapes)
  | "uint" // uint64
  | "number" // float64
  | "bool"
  | "strings"
  | "ints" // []int64
  | "map" // map[string]string
  | "time" // *time.Time, RFC 3339
  | "any"
  | { go: GoNumber }
  | { list: GoNumber }
  | { object: Shape; name: string }
  | { array: Shape; name: string; pointers?: boolean }
  /**
   * An enumeration decoded by the type itself. `viaString`: its UnmarshalJSON reads the value
   * into a Go string first, so a value that is not a string fails with Go's own type error.
   */
  | { oneOf: readonly string[]; unknown?: string; error?: string; viaString?: boolean }
  /** A Go type named over a string or an int (server.SortOpt, server.ConnState): decoded as its base, named in errors. */
  | { named: string; base: "string" | "int" };

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
      case "time":
        return "time.Time";
      default:
        return "interface {}";
    }
  }
  if ("go" in t) return t.go;
  if ("named" in t) return t.named;
  if ("list" in t) return `[]${t.list}`;
  if ("oneOf" in t) return "string";
  return "object" in t ? `server.${t.name}` : `[]${t.pointers ? "*" : ""}server.${t.name}`;
}

/** A request's first failure: type errors are kept and decoding goes on (Go's savedError). */
class Decoding {
  saved: string | undefined;
  constructor(
    readonly top: string,
    /** Unknown fields are errors (nats-server's strict API decoding), or ignored (json.Unmarshal). */
    readonly strict = true,
  ) {}

  typeError(n: GoNode, path: Array<string | number>, type: string, withValue = false): void {
    if (this.saved !== undefined) return;
    const what = withValue ? `number ${n.raw}` : n.kind === "bool" ? "bool" : n.kind;
    // Go names a field of a struct "Go struct field T.a.b"; an element of a list just "T.a.0".
    const where = typeof path[path.length - 1] === "number" ? `${this.top}.${path.join(".")}` : `Go struct field ${this.top}.${path.join(".")}`;
    this.saved = `json: cannot unmarshal ${what} into ${where} of type ${type}`;
  }

  unknownField(key: string): void {
    if (this.strict && this.saved === undefined) this.saved = `json: unknown field ${JSON.stringify(key)}`;
  }
}

/** Abort decoding with this text (a type's own UnmarshalJSON failed). */
function abort(err: string): never {
  throw jsError("JSInvalidJSONErr", { err });
}

const INT_RANGE: Record<string, [bigint, bigint]> = {
  int: [-(2n ** 63n), 2n ** 63n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  "time.Duration": [-(2n ** 63n), 2n ** 63n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** A number node as Go would store it in `type`, or undefined when Go refuses it. */
function goNumber(n: GoNode & { kind: "number" }, type: GoNumber): number | undefined {
  if (type === "float64") return Number(n.raw);
  // strconv.ParseInt/ParseUint: digits only (a sign for signed types), within range.
  const unsigned = type === "uint64";
  if (!(unsigned ? /^\d+$/ : /^-?\d+$/).test(n.raw)) return undefined;
  const v = BigInt(n.raw);
  const [lo, hi] = INT_RANGE[type];
  if (v < lo || v > hi) return undefined;
  return Number(v);
}

function decodeValue(d: Decoding, n: GoNode, t: FieldType, path: Array<string | number>, prev: unknown): unknown {
  // Go leaves the previous (zero) value for null, except where a type decodes itself.
  if (n.kind === "null" && !(typeof t === "object" && "oneOf" in t)) return t === "time" ? undefined : prev;
  if (typeof t === "object" && "oneOf" in t) {
    if (n.kind === "string") {
      // The list's own string (a constant V8 interned), not the one parsed: hot paths compare
      // these with literals (discard === "new"), and optimized code built on interned strings is
      // thrown away at the first parsed one it meets.
      const i = t.oneOf.indexOf(n.value);
      if (i >= 0) return t.oneOf[i];
    }
    if (t.viaString && n.kind !== "string" && n.kind !== "null") abort(`json: cannot unmarshal ${n.kind} into Go value of type string`);
    // Some say so in their own words, some quote the raw JSON (Go's %q), others append it.
    if (t.error !== undefined) abort(t.error);
    abort(t.unknown !== undefined ? `${t.unknown}${n.raw}` : `can not unmarshal ${JSON.stringify(n.raw)}`);
  }
  if (typeof t === "object" && "named" in t) {
    if (t.base === "string") return n.kind === "string" ? n.value : (d.typeError(n, path, t.named), prev);
    if (n.kind !== "number") return d.typeError(n, path, t.named), prev;
    const v = goNumber(n, "int");
    return v === undefined ? (d.typeError(n, path, t.named, true), prev) : v;
  }
  if (typeof t === "object" && ("go" in t || "list" in t)) {
    if ("list" in t) {
      if (n.kind !== "array") return d.typeError(n, path, goType(t)), prev;
      return n.items.map((item, i) => decodeValue(d, item, { go: t.list }, [...path, i], 0));
    }
    if (n.kind !== "number") return d.typeError(n, path, t.go), prev;
    const v = goNumber(n, t.go);
    if (v === undefined) return d.typeError(n, path, t.go, true), prev;
    return v;
  }
  if (typeof t === "object" && "object" in t) {
    if (n.kind !== "object") return d.typeError(n, path, goType(t)), prev;
    return decodeObject(d, n, t.object, path, (prev as Record<string, unknown> | undefined) ?? {});
  }
  if (typeof t === "object" && "array" in t) {
    if (n.kind !== "array") return d.typeError(n, path, goType(t)), prev;
    return n.items.map((item, i) => {
      if (item.kind !== "object") return d.typeError(item, [...path, i], `server.${t.name}`), undefined;
      return decodeObject(d, item, t.array, [...path, i], {});
    });
  }
  switch (t) {
    case "any":
      return plainValue(n);
    case "string":
      if (n.kind !== "string") return d.typeError(n, path, "string"), prev;
      return n.value;
    case "bool":
      if (n.kind !== "bool") return d.typeError(n, path, "bool"), prev;
      return n.value;
    case "int":
    case "uint":
    case "number": {
      const go: GoNumber = t === "int" ? "int64" : t === "uint" ? "uint64" : "float64";
      return decodeValue(d, n, { go }, path, prev);
    }
    case "ints":
      return decodeValue(d, n, { list: "int64" }, path, prev);
    case "strings":
      if (n.kind !== "array") return d.typeError(n, path, "[]string"), prev;
      return n.items.map((item, i) => (item.kind === "string" ? item.value : (d.typeError(item, [...path, i], "string"), "")));
    case "map": {
      if (n.kind !== "object") return d.typeError(n, path, "map[string]string"), prev;
      const out: Record<string, string> = { ...((prev as Record<string, string> | undefined) ?? {}) };
      for (const [k, v] of n.entries) {
        if (v.kind === "string") out[k] = v.value;
        else if (v.kind !== "null") d.typeError(v, [...path, k], "string");
      }
      return out;
    }
    case "time": {
      // time.Time decodes itself: a JSON string in RFC 3339, else its own errors.
      if (n.kind !== "string") return d.typeError(n, path, "time.Time"), prev;
      const err = goTimeParseError(n.value);
      if (err !== undefined) abort(err);
      return n.value;
    }
  }
}

function decodeObject(d: Decoding, n: GoNode & { kind: "object" }, shape: Shape, path: Array<string | number>, into: Record<string, unknown>): Record<string, unknown> {
  for (const [key, v] of n.entries) {
    // Go matches the exact name first, then one that differs only in case.
    let field: string | undefined = Object.prototype.hasOwnProperty.call(shape, key) ? key : undefined;
    if (field === undefined) {
      const lower = key.toLowerCase();
      field = Object.keys(shape).find((k) => k.toLowerCase() === lower);
    }
    if (field === undefined) {
      d.unknownField(key);
      continue;
    }
    const value = decodeValue(d, v, shape[field], [...path, field], into[field]);
    if (value === undefined) delete into[field];
    else into[field] = value;
  }
  return into;
}

/** Check a plain object (read from elsewhere than a request body, e.g. a backup) against a shape. */
export function checkShape(obj: Record<string, unknown>, shape: Shape, struct: string): void {
  decodeRequest(Buffer.from(JSON.stringify(obj)), shape, struct);
}

/**
 * Go's error decoding a stored object strictly (json.Decoder with DisallowUnknownFields), as
 * nats-server reads its meta files at startup: undefined when it decodes, else the text
 * ("json: unknown field \"x\"", a type error...).
 */
export function strictDecodeError(obj: unknown, shape: Shape, struct: string): string | undefined {
  try {
    decodeRequest(Buffer.from(JSON.stringify(obj)), shape, struct, true);
    return undefined;
  } catch (err) {
    const e = err as { description?: string };
    if (typeof e.description === "string") return e.description.replace(/^invalid JSON: /, "");
    throw err;
  }
}

/**
 * Decode one JSON value as json.Unmarshal does into a struct of `shape` (unknown fields
 * ignored): the decoded object, or Go's error text.
 */
export function unmarshalLenient(payload: Buffer, shape: Shape, struct: string): Record<string, unknown> | string {
  let node: GoNode;
  try {
    node = readGoJsonValue(payload);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) return err.message;
    throw err;
  }
  if (node.kind === "null") return {};
  if (node.kind !== "object") return `json: cannot unmarshal ${node.kind} into Go value of type server.${struct}`;
  const d = new Decoding(struct, false);
  try {
    const out = decodeObject(d, node, shape, [], {});
    return d.saved ?? out;
  } catch (err) {
    const e = err as { description?: string };
    if (typeof e.description === "string") return e.description.replace(/^invalid JSON: /, "");
    throw err;
  }
}

/**
 * Decode a request body. An empty body (or null) is "no options": undefined when `emptyOk`,
 * else JSBadRequestErr. Anything else must be JSON objects that satisfy `shape`; `struct` is
 * the Go type's name for messages.
 */
export function decodeRequest<T>(payload: Buffer, shape: Shape, struct: string, emptyOk = true, strict = true): T | undefined {
  let values: GoNode[];
  try {
    values = readGoJsonValues(payload);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) throw jsError("JSInvalidJSONErr", { err: err.message });
    throw err;
  }
  let out: Record<string, unknown> | undefined;
  for (const v of values) {
    // Go decodes null into a struct as nothing at all.
    if (v.kind === "null") continue;
    if (v.kind !== "object") {
      throw jsError("JSInvalidJSONErr", { err: `json: cannot unmarshal ${v.kind} into Go value of type server.${struct}` });
    }
    const d = new Decoding(struct, strict);
    out = decodeObject(d, v, shape, [], out ?? {});
    if (d.saved !== undefined) throw jsError("JSInvalidJSONErr", { err: d.saved });
  }
  if (out === undefined) {
    if (emptyOk) return undefined;
    throw jsError("JSBadRequestErr");
  }
  return out as T;
}

// ---- request shapes ----

const subjectTransform: Shape = { src: "string", dest: "string" };
const externalStream: Shape = { api: "string", deliver: "string" };
const streamSource: Shape = {
  name: "string",
  opt_start_seq: { go: "uint64" },
  opt_start_time: "time",
  filter_subject: "string",
  subject_transforms: { array: subjectTransform, name: "SubjectTransformConfig" },
  external: { object: externalStream, name: "ExternalStream" },
  consumer: { object: { name: "string", deliver_subject: "string" }, name: "StreamConsumerSource" },
};

export const STREAM_CONFIG_SHAPE: Shape = {
  name: "string",
  description: "string",
  subjects: "strings",
  retention: { oneOf: ["limits", "interest", "workqueue"] },
  max_consumers: { go: "int" },
  max_msgs: "int",
  max_bytes: "int",
  max_age: { go: "time.Duration" },
  max_msgs_per_subject: "int",
  max_msg_size: { go: "int32" },
  discard: { oneOf: ["old", "new"] },
  storage: { oneOf: ["file", "memory"] },
  num_replicas: { go: "int" },
  no_ack: "bool",
  duplicate_window: { go: "time.Duration" },
  placement: { object: { cluster: "string", tags: "strings", preferred: "string" }, name: "Placement" },
  mirror: { object: streamSource, name: "StreamSource" },
  sources: { array: streamSource, name: "StreamSource", pointers: true },
  sealed: "bool",
  deny_delete: "bool",
  deny_purge: "bool",
  allow_rollup_hdrs: "bool",
  allow_direct: "bool",
  mirror_direct: "bool",
  republish: { object: { src: "string", dest: "string", headers_only: "bool" }, name: "RePublish" },
  discard_new_per_subject: "bool",
  subject_transform: { object: subjectTransform, name: "SubjectTransformConfig" },
  compression: { oneOf: ["none", "s2"], error: "unknown compression algorithm", viaString: true },
  first_seq: "uint",
  metadata: "map",
  consumer_limits: { object: { inactive_threshold: { go: "time.Duration" }, max_ack_pending: { go: "int" } }, name: "StreamConsumerLimits" },
  allow_msg_ttl: "bool",
  subject_delete_marker_ttl: { go: "time.Duration" },
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
  opt_start_seq: { go: "uint64" },
  opt_start_time: "time",
  ack_policy: { oneOf: ["none", "all", "explicit", "flow_control"] },
  ack_wait: { go: "time.Duration" },
  max_deliver: { go: "int" },
  backoff: { list: "time.Duration" },
  filter_subject: "string",
  filter_subjects: "strings",
  replay_policy: { oneOf: ["instant", "original"] },
  rate_limit_bps: { go: "uint64" },
  sample_freq: "string",
  max_waiting: { go: "int" },
  max_ack_pending: { go: "int" },
  flow_control: "bool",
  idle_heartbeat: { go: "time.Duration" },
  headers_only: "bool",
  max_batch: { go: "int" },
  max_expires: { go: "time.Duration" },
  max_bytes: { go: "int" },
  deliver_subject: "string",
  deliver_group: "string",
  inactive_threshold: { go: "time.Duration" },
  num_replicas: { go: "int" },
  mem_storage: "bool",
  direct: "bool",
  metadata: "map",
  pause_until: "time",
  priority_groups: "strings",
  priority_policy: { oneOf: ["none", "overflow", "pinned_client", "prioritized"], unknown: "unknown priority policy: " },
  priority_timeout: { go: "time.Duration" },
  sourcing: "bool",
};

export const CONSUMER_CREATE_SHAPE: Shape = {
  stream_name: "string",
  config: { object: CONSUMER_CONFIG_SHAPE, name: "ConsumerConfig" },
  action: { oneOf: ["", "create", "update"], unknown: "unknown consumer action: " },
  pedantic: "bool",
};

export const STREAM_INFO_SHAPE: Shape = { deleted_details: "bool", subjects_filter: "string", offset: "int" };
export const NAMES_SHAPE: Shape = { offset: "int", subject: "string" };
export const CONSUMER_NAMES_SHAPE: Shape = { offset: "int" };
export const CONSUMER_PAUSE_SHAPE: Shape = { pause_until: "time" };
export const CONSUMER_UNPIN_SHAPE: Shape = { group: "string" };
export const CONSUMER_RESET_SHAPE: Shape = { seq: { go: "uint64" } };
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
/** A pull request ($JS.API.CONSUMER.MSG.NEXT): JSApiConsumerGetNextRequest with its PriorityGroup. */
export const PULL_REQUEST_SHAPE: Shape = {
  expires: { go: "time.Duration" },
  batch: { go: "int" },
  max_bytes: { go: "int" },
  no_wait: "bool",
  idle_heartbeat: { go: "time.Duration" },
  group: "string",
  min_pending: { go: "int64" },
  min_ack_pending: { go: "int64" },
  id: "string",
  priority: { go: "int" },
};
