// JetStream storage API: the types and interfaces shared by the memory store
// (memstore.ts) and the file store (filestore.ts).
//
// Conventions used throughout src/storage:
//  * Sequences are JS numbers (exact up to 2^53, far beyond any real stream).
//  * Message timestamps (`StoredMsg.time`, `StreamState.firstTime/lastTime`) are
//    `bigint` nanoseconds since the Unix epoch, so they round-trip exactly through
//    replication and can be rendered as RFC3339 with nanoseconds
//    (see `rfc3339` in server/time.ts). 0n means "no time".
//  * Durations in configs are milliseconds (`maxAgeMs`); per-message TTLs are seconds
//    (like nats-server's store interface).
//  * Limits use nats-server's JSON conventions: 0 or a negative value = unlimited.
//  * A header of length 0 is stored as "no header": loads return `hdr: undefined`.
//  * Buffers returned by loads must be treated as read-only.
//  * Bytes are accounted exactly like nats-server 2.9 accounts them, which differs per
//    store kind (see `memStoreMsgSize` / `fileStoreMsgSize`): clients compare
//    `state.bytes`, max_bytes limits and account usage with what nats-server reports.

export type StorageType = "memory" | "file";
export type DiscardPolicy = "old" | "new";

/** The limits a stream store enforces by itself. */
export interface StreamStoreConfig {
  /** Stream name (informational, used in log lines). */
  name: string;
  /** Max number of messages; <= 0 unlimited. */
  maxMsgs: number;
  /** Max total bytes (see storeMsgSize for how a message counts); <= 0 unlimited. */
  maxBytes: number;
  /** Max age in milliseconds; <= 0 unlimited. */
  maxAgeMs: number;
  /** Max messages kept per subject; <= 0 unlimited. */
  maxMsgsPerSubject: number;
  /** Max size of hdr + data of one message; <= 0 unlimited. */
  maxMsgSize: number;
  /** What to do when maxMsgs/maxBytes is reached: drop the oldest, or reject the new. */
  discard: DiscardPolicy;
  /** With discard "new": also reject when the subject is at maxMsgsPerSubject. */
  discardNewPerSubject: boolean;
  /** First sequence of a brand new stream (0/1 = start at 1). Only used on creation. */
  firstSeq: number;
  /** "s2": the file store compresses what it writes from now on (memory stores ignore it). */
  compression: "none" | "s2";
}

export const DEFAULT_STREAM_STORE_CONFIG: Readonly<StreamStoreConfig> = Object.freeze({
  name: "",
  maxMsgs: -1,
  maxBytes: -1,
  maxAgeMs: 0,
  maxMsgsPerSubject: -1,
  maxMsgSize: -1,
  discard: "old",
  discardNewPerSubject: false,
  firstSeq: 0,
  compression: "none",
});

/** Fill defaults and validate a (partial) config. Throws StoreError("ErrBadConfig"). */
export function normalizeStoreConfig(cfg: Partial<StreamStoreConfig> | undefined): StreamStoreConfig {
  const c: StreamStoreConfig = { ...DEFAULT_STREAM_STORE_CONFIG };
  for (const [k, v] of Object.entries(cfg ?? {})) {
    if (v !== undefined && k in DEFAULT_STREAM_STORE_CONFIG) (c as unknown as Record<string, unknown>)[k] = v;
  }
  for (const k of ["maxMsgs", "maxBytes", "maxAgeMs", "maxMsgsPerSubject", "maxMsgSize", "firstSeq"] as const) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isFinite(v) || !Number.isInteger(v)) {
      throw new StoreError("ErrBadConfig", `invalid ${k}: ${String(v)}`);
    }
  }
  // The literals themselves (interned): a policy read from JSON would throw away the optimized
  // code of the store path that compared interned ones before (jetstream/json.ts).
  if (c.discard === "old") c.discard = "old";
  else if (c.discard === "new") c.discard = "new";
  else throw new StoreError("ErrBadConfig", `invalid discard policy: ${String(c.discard)}`);
  if (c.firstSeq < 0) throw new StoreError("ErrBadConfig", `invalid firstSeq: ${c.firstSeq}`);
  if (c.compression === "none") c.compression = "none";
  else if (c.compression === "s2") c.compression = "s2";
  else throw new StoreError("ErrBadConfig", `invalid compression: ${String(c.compression)}`);
  c.discardNewPerSubject = !!c.discardNewPerSubject;
  c.name = String(c.name ?? "");
  return c;
}

export interface StoredMsg {
  subject: string;
  seq: number;
  /** Nanoseconds since the Unix epoch. */
  time: bigint;
  hdr: Buffer | undefined;
  data: Buffer;
}

export interface StoreResult {
  seq: number;
  /** Nanoseconds since the Unix epoch. */
  time: bigint;
}

export interface SimpleState {
  msgs: number;
  first: number;
  last: number;
}

export interface StreamState {
  msgs: number;
  bytes: number;
  firstSeq: number;
  /** ns since epoch of the first message, 0n when empty. */
  firstTime: bigint;
  lastSeq: number;
  /** ns since epoch of the last stored (or skipped) sequence, 0n if none. */
  lastTime: bigint;
  /** Sequences in [firstSeq, lastSeq] that hold no message. */
  numDeleted: number;
  /** The deleted sequences, only when requested with state(true). */
  deleted?: number[];
  numSubjects: number;
  /** Messages found corrupt (checksum mismatch) since the store was opened. */
  lost?: { msgs: number[]; bytes: number };
}

/** Why a message left the store (passed to the onRemove hook). */
export type RemoveReason =
  | "remove" // removeMsg()
  | "erase" // eraseMsg()
  | "limits" // maxMsgs / maxBytes / maxMsgsPerSubject with discard old
  | "maxAge"
  | "ttl" // per-message TTL
  | "purge" // purge(), purgeEx(), compact()
  | "truncate"
  | "corrupt"; // checksum mismatch detected on read

export type RemoveHandler = (seq: number, subject: string, reason: RemoveReason) => void;

/**
 * Asked when the last message of a subject reaches its max age or TTL: return true to keep
 * it for now (the caller replaces it, e.g. with a subject delete marker that rolls the
 * subject up), false to let it expire. Called synchronously from the expiry pass: the
 * handler must not call back into the store before returning.
 */
export type ExpiryHandler = (seq: number, subject: string, hdr: Buffer | undefined) => boolean;

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export const consoleLogger: Logger = {
  info: () => {},
  warn: (m) => console.warn(`[WRN] ${m}`),
  error: (m) => console.error(`[ERR] ${m}`),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** Options common to both stores. */
export interface StoreOptions {
  logger?: Logger;
  /**
   * Called (synchronously, after the store is consistent again) once per message that
   * leaves the store, for every reason, including limits, age, purge and explicit
   * removal. Exceptions thrown by the handler are logged and ignored.
   */
  onRemove?: RemoveHandler;
  /** See ExpiryHandler; given at construction so that expiry during recovery asks too. */
  onExpire?: ExpiryHandler;
  /**
   * While it returns true nothing expires by this store's clock (a replicated stream's
   * follower: its leader decides and the removals come as entries); expireNow then catches up.
   */
  holdExpiry?: () => boolean;
}

export interface StreamStore {
  readonly type: StorageType;

  /**
   * Append a message with the next sequence. Enforces limits: with discard "old" the
   * oldest messages are removed after the append; with discard "new" the call throws
   * ErrMaxMsgs / ErrMaxBytes / ErrMaxMsgsPerSubject. ErrMaxMsgSize in both modes.
   * @param ttl per-message TTL in seconds: > 0 expires after ttl seconds, -1 = never
   *            expires (not even by maxAge), 0/undefined = no per-message TTL.
   */
  storeMsg(subject: string, hdr: Buffer | undefined, data: Buffer, ttl?: number): StoreResult;
  /**
   * Store with a given sequence (must be lastSeq+1, or 0 for "next") and timestamp.
   * `limitsChecked`: a replica applying what its leader checked (nats-server's StoreRawMsg with
   * discardNewCheck false): nothing is refused for a discard "new" limit or max_msg_size, and
   * only the per-subject limit removes messages, as a clustered nats-server's store does (a
   * refusal on one member would make the replicas drift).
   */
  storeRawMsg(subject: string, hdr: Buffer | undefined, data: Buffer, seq: number, time: bigint, ttl?: number, limitsChecked?: boolean): void;
  /** Consume the next sequence without storing anything. seq, if given, must be lastSeq+1. */
  skipMsg(seq?: number): number;
  /** Skip num sequences starting at seq (which must be lastSeq+1); `time` (ns) is the last one's time (default now). */
  skipMsgs(seq: number, num: number, time?: bigint): void;

  /**
   * The message with this sequence. `borrow`: its hdr/data may be views of the store's own
   * buffers, valid only until the next call on this store: for a delivery that encodes the
   * message at once (no copy per message). Otherwise they are the caller's to keep.
   */
  loadMsg(seq: number, borrow?: boolean): StoredMsg | null;
  /** First message with sequence >= startSeq whose subject matches filter ("" or ">" = all); `borrow` as loadMsg. */
  loadNextMsg(filter: string, startSeq: number, borrow?: boolean): StoredMsg | null;
  /** Like loadNextMsg with several filters (a message matching any of them). */
  loadNextMsgMulti(filters: string[], startSeq: number, borrow?: boolean): StoredMsg | null;
  /** Last message whose subject matches filter (may contain wildcards). */
  loadLastMsg(filter: string): StoredMsg | null;
  /** Last message with sequence <= startSeq (optionally matching filter). */
  loadPrevMsg(startSeq: number, filter?: string): StoredMsg | null;
  /** First sequence whose message time is >= time (lastSeq+1 if none). */
  getSeqFromTime(time: bigint): number;
  /** For each subject matching the filters, its last sequence <= maxSeq (0 = lastSeq); sorted. */
  multiLastSeqs(filters: string[], maxSeq: number, maxAllowed: number): number[];

  removeMsg(seq: number): boolean;
  /** Remove and overwrite the message's bytes (file store: with random data, on disk). */
  eraseMsg(seq: number): boolean;
  /** Remove all messages; firstSeq becomes lastSeq+1. Returns the number purged. */
  purge(): number;
  /**
   * ADR-10 purge: subject filter (""/">" = all), seq = purge up to but not including seq,
   * keep = keep the last N (matching) messages. Returns the number purged.
   */
  purgeEx(subject?: string, seq?: number, keep?: number): number;
  /** Remove all messages with sequence < seq. Returns the number purged. */
  compact(seq: number): number;
  /** Remove all messages with sequence > seq; lastSeq becomes seq. truncate(0) resets. */
  truncate(seq: number): void;

  state(includeDeleted?: boolean): StreamState;
  /** state().lastSeq without building the state (a replicated stream asks it per message). */
  lastSequence(): number;
  filteredState(startSeq: number, filter: string): SimpleState;
  subjectsState(filter: string): Map<string, SimpleState>;
  subjectsTotals(filter: string): Map<string, number>;
  numPending(startSeq: number, filter: string, lastPerSubject: boolean): number;
  /** Messages from startSeq on whose subject matches any of `filters` (each counted once). */
  numPendingMulti(startSeq: number, filters: string[]): number;

  config(): StreamStoreConfig;
  /** Apply new limits immediately (removing what they no longer allow). */
  updateConfig(cfg: Partial<StreamStoreConfig>): void;
  /** Run max-age / TTL expiry now (it also runs on an internal timer). Returns msgs removed. */
  expireNow(): number;
  setRemoveHandler(h: RemoveHandler | undefined): void;

  /**
   * Push anything buffered to the kernel: the appends of this turn (the file store writes
   * them with one write(2) at the end of the turn, or here) and pending (lazy) delete marks.
   * Cheap; a no-op once stopped. Consumer stores flush their own state (ConsumerStore.flush).
   */
  flush(): void;
  /** fsync everything written so far. */
  sync(): Promise<void>;
  /**
   * Call `cb` once everything stored so far may be acknowledged under the store's sync
   * policy: fsynced by a group commit (file store default and "always": concurrent callers
   * share one fsync), written to the kernel (file store with a sync interval), or at once
   * (memory). `cb` gets the error when the data could not be written or synced.
   */
  whenDurable(cb: (err: Error | null) => void): void;
  /** whenDurable as a promise. */
  syncPending(): Promise<void>;

  /** Create (or reopen, keeping its state) a consumer store and persist its config. */
  createConsumer(name: string, config: unknown): ConsumerStore;
  /** Open an existing consumer store. Throws ErrNotFound / ErrCorruptMeta. */
  openConsumer(name: string): ConsumerStore;
  listConsumers(): string[];

  /** Flush, sync, close. Further calls throw ErrStoreClosed. */
  stop(): void;
  /** Stop and remove all data (including consumers). */
  delete(): void;
  readonly isClosed: boolean;
}

// ---------------------------------------------------------------------------
// Consumer store

export interface SequencePair {
  consumer_seq: number;
  stream_seq: number;
}

export interface PendingEntry {
  /** Consumer sequence of the (last) delivery. */
  sequence: number;
  /** Time of the last delivery, ms since epoch. */
  timestamp: number;
}

export interface ConsumerState {
  delivered: SequencePair;
  ack_floor: SequencePair;
  /** Keyed by stream sequence. */
  pending: Map<number, PendingEntry>;
  /** stream sequence -> redelivery count. */
  redelivered: Map<number, number>;
}

export function emptyConsumerState(): ConsumerState {
  return {
    delivered: { consumer_seq: 0, stream_seq: 0 },
    ack_floor: { consumer_seq: 0, stream_seq: 0 },
    pending: new Map(),
    redelivered: new Map(),
  };
}

export function cloneConsumerState(s: ConsumerState): ConsumerState {
  const pending = new Map<number, PendingEntry>();
  for (const [k, v] of s.pending) pending.set(k, { sequence: v.sequence, timestamp: v.timestamp });
  return {
    delivered: { consumer_seq: s.delivered.consumer_seq, stream_seq: s.delivered.stream_seq },
    ack_floor: { consumer_seq: s.ack_floor.consumer_seq, stream_seq: s.ack_floor.stream_seq },
    pending,
    redelivered: new Map(s.redelivered),
  };
}

export interface ConsumerStore {
  readonly name: string;
  /** The opaque config given at creation / last updateConfig. */
  config(): unknown;
  updateConfig(config: unknown): void;
  /**
   * Record the consumer's current state. The store keeps a reference to `state` and
   * serializes it on its next (coalesced, ~next event-loop turn) write, so this call is
   * O(1): call it after every change; do not call it with an object you will later
   * reuse for another consumer.
   */
  update(state: ConsumerState): void;
  /** A deep copy of the last recorded state. */
  state(): ConsumerState;
  /** Write pending state now (to the kernel). */
  flush(): void;
  /** Write and fsync. */
  sync(): Promise<void>;
  stop(): void;
  delete(): void;
  /**
   * A replicated consumer's group sets it: the index of the group's log the state reflects,
   * written in the same record as each state, so a restart applies exactly the entries after it
   * (a separate mark written apart from the state lets a kill between the two skip entries).
   */
  markSource?: (() => number) | undefined;
  /** The mark the state read at open was written with (undefined: none). */
  readonly recoveredMark?: number;
}

// ---------------------------------------------------------------------------
// Errors

export type StoreErrorCode =
  | "ErrMaxMsgs"
  | "ErrMaxBytes"
  | "ErrMaxMsgsPerSubject"
  | "ErrMaxMsgSize"
  | "ErrStoreClosed"
  | "ErrSequenceMismatch"
  | "ErrInvalidSequence"
  | "ErrBadSubject"
  | "ErrBadConfig"
  | "ErrBadName"
  | "ErrCorruptMeta"
  | "ErrNotFound"
  | "ErrTooManyResults"
  | "ErrStoreWrite";

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** File involved, when relevant (ErrCorruptMeta, ErrStoreWrite...). */
  readonly path?: string;
  constructor(code: StoreErrorCode, message?: string, path?: string, options?: { cause?: unknown }) {
    super(message ?? code, options);
    this.code = code;
    this.name = code;
    if (path !== undefined) this.path = path;
  }
}

export class ErrMaxMsgs extends StoreError {
  constructor() {
    super("ErrMaxMsgs", "maximum messages exceeded");
  }
}
export class ErrMaxBytes extends StoreError {
  constructor() {
    super("ErrMaxBytes", "maximum bytes exceeded");
  }
}
export class ErrMaxMsgsPerSubject extends StoreError {
  constructor() {
    super("ErrMaxMsgsPerSubject", "maximum messages per subject exceeded");
  }
}
export class ErrMaxMsgSize extends StoreError {
  constructor() {
    super("ErrMaxMsgSize", "message size exceeds maximum allowed");
  }
}
export class ErrStoreClosed extends StoreError {
  constructor() {
    super("ErrStoreClosed", "store is closed");
  }
}
export class ErrSequenceMismatch extends StoreError {
  constructor(expected: number, got: number) {
    super("ErrSequenceMismatch", `expected sequence ${expected}, got ${got}`);
  }
}
export class ErrCorruptMeta extends StoreError {
  constructor(path: string, why: string) {
    super("ErrCorruptMeta", `stream/consumer metadata unreadable at ${path}: ${why}`, path);
  }
}

export function isStoreError(e: unknown, code?: StoreErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}

// ---------------------------------------------------------------------------
// Helpers

/** Accounted size of a message in a memory store (nats-server's memory store: payload + 16). */
export function memStoreMsgSize(subject: string, hdr: Buffer | undefined, data: Buffer): number {
  return Buffer.byteLength(subject) + (hdr ? hdr.length : 0) + data.length + 16;
}

/**
 * Accounted size of a message in a file store: nats-server 2.9 counts its on-disk record,
 * 22 bytes of record header + subject + (4-byte header length + headers, when there are
 * headers) + data + 8 bytes of checksum.
 */
export function fileStoreMsgSize(subject: string, hdr: Buffer | undefined, data: Buffer): number {
  return fileStoreSizeOf(Buffer.byteLength(subject), hdr !== undefined ? hdr.length : 0, data.length);
}

/** fileStoreMsgSize from byte lengths (a header block of length 0 is "no headers"). */
export function fileStoreSizeOf(subjectLen: number, hdrLen: number, dataLen: number): number {
  return 22 + subjectLen + (hdrLen > 0 ? 4 + hdrLen : 0) + dataLen + 8;
}

/** Accounted size of a message in a store of the given kind. */
export function storeMsgSize(type: StorageType, subject: string, hdr: Buffer | undefined, data: Buffer): number {
  return type === "file" ? fileStoreMsgSize(subject, hdr, data) : memStoreMsgSize(subject, hdr, data);
}


/** Validate a stream/consumer/account name used as a directory name. */
export function checkName(kind: string, name: string): void {
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    name.length > 255 ||
    name === "." ||
    name === ".." ||
    /[/\\\0]/.test(name)
  ) {
    throw new StoreError("ErrBadName", `invalid ${kind} name: ${JSON.stringify(name)}`);
  }
}
