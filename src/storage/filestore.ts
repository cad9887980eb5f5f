// File stream store.
//
// DURABILITY CONTRACT
//   storeMsg() (and skipMsg, markers) puts the record in the active block's cache; the
//   records of one event-loop turn reach the block file in ONE write(2), at the end of the
//   turn or when flush(), whenDurable(), a read of the file or any other write needs them
//   first. From then on they survive a crash or SIGKILL of this process. They survive a power
//   loss or kernel crash once fdatasync'ed, and when that happens is the sync mode:
//     "acks" (default)  whenDurable(cb) / syncPending() report a message once it is
//                       fdatasync'ed: a group commit (group_commit.ts), where every caller of
//                       the same turn, or of the time an fsync is in flight, shares the next
//                       fsync. The JetStream layer sends a PubAck only from whenDurable, so an
//                       acknowledged message is on disk. Consumer state, indexes and
//                       metadata are fsynced every 2 minutes (metadata: at once).
//     "always"          the same for messages; consumer state is fsynced on each write too.
//     <ms>              nats-server's sync_interval: everything is fsynced every <ms>;
//                       whenDurable only writes to the kernel. Acknowledged messages of the
//                       last interval can be lost on power failure.
//   Removals caused by limits / max age / TTL are persisted lazily (next event-loop
//   turn, or flush()); that is safe because recovery re-applies the persisted limits
//   and expiry before anything else. Explicit removals (removeMsg, eraseMsg, purge*,
//   compact, truncate) are written to the kernel before the call returns, fsynced by the
//   next sync round (sync() or any whenDurable after them).
//
// READS   The active block's bytes stay in memory as they are written (the append
//   buffer doubles as read cache). Sealed blocks: an isolated miss reads just the record
//   (e.g. KV gets); a second miss within 1 s loads the whole block into an LRU of
//   `cacheBlocks` blocks (sequential consumption). Caches idle for `cacheExpireMs` are
//   dropped. Records read from disk have their checksum verified; loads return copies.
//
// INDEX   Every block has a per-message index in memory (sequence, size, time, offset,
//   subject: 32 bytes a message). A sealed block's index unused for `indexExpireMs` (10 s)
//   is dropped once its .idx on disk says exactly what the memory does (the block fsynced,
//   no delete marks waiting; the .idx written then if it was not), keeping what the store
//   reads without it (first/last sequence, last time, live count and bytes, floor, TTLs;
//   the per-subject index is kept whole). Its first use loads it back from the .idx, checked
//   against what was dropped (block length, entries, first/last sequence, live count), or,
//   when that is missing, corrupt or does not match, from a scan of the block (checksums
//   verified, nothing changed on disk). Every change to a sealed block goes through its
//   index, so it is loaded first and its .idx removed before the change, as always.
//
// ON-DISK LAYOUT   <storeDir>/<account>/streams/<stream>/
//   meta.json           {version, created, config, metadata, checksum}; atomic writes
//                       (temp file, fsync, rename, fsync dir). Never deleted on error.
//   msgs/<id>.blk       append-only block files; a new block is started when the current
//                       one would exceed `blockSize` (default 8 MiB). The active block's
//                       file is extended with zeros ahead of its appends (PREALLOC_MAX;
//                       written zeros when busy and acks are fsynced: ZERO_AHEAD_MAX),
//                       trimmed to its last record when sealed, idle or on stop.
//   msgs/<id>.idx       index of a block (written on clean stop, periodically for
//                       sealed blocks and when a sealed block's index is dropped (INDEX);
//                       removed before a block is modified in place; rebuilt from the
//                       block when missing, stale or corrupt).
//   obs/<consumer>/meta.json   consumer config (atomic, fsynced).
//   obs/<consumer>/o.dat       consumer state, binary with CRC32, appended to an open file
//                       (state_log.ts: the last valid record counts) at most every 20 ms
//                       after update(), and on stop; rewritten atomically when it grows.
//
// BLOCK FILE   8-byte header "TSNBLK01", then records (little endian):
//   0  u32 magic 0x52534E54        4  u32 record length (all of it)
//   8  u32 state: 0 live, 0xFFFFFFFF deleted (NOT checksummed; classified by popcount so
//      a few flipped bits cannot resurrect or delete a message)
//   12 u64 sequence (lo, hi)       20 i64 timestamp ns
//   28 u16 subject length          30 u16 flags (1 ttl, 2 skip marker, 4 floor marker)
//   32 u32 header length           36 [f64 ttl seconds if flag 1]
//   .. subject, header, data       last 4: CRC32 of everything except the state word
//   Removal writes the state word in place; erase also overwrites subject/hdr/data with
//   random bytes and rewrites the checksum. A skip marker carries the new last sequence,
//   a floor marker "every sequence < seq is gone" (written before purge/compact drop
//   anything, so those operations are atomic across a crash).
//
// RECOVERY   Blocks with a valid .idx are loaded from it (checksums are then verified
//   when a record is first read); other blocks (or all with verifyOnOpen) are scanned
//   and every record's checksum verified: a torn tail is truncated (warning), a corrupt
//   record is reported (file, offset, seq) and skipped, resynchronizing on the next
//   valid record so everything else is kept.

import { randomFillSync } from "node:crypto";
import { join } from "node:path";
import { IndexBlock, StoreBase, Subj } from "./base.js";
import { crc32 } from "./crc32.js";
import { fsyncDir, io, mkdirDurable, readFull, writeFileAtomic, writeFull } from "./file_io.js";
import { GroupCommit } from "./group_commit.js";
import { StateLog } from "./state_log.js";
import { BufferPool, blockBuffers } from "./buffer_pool.js";
import { s2DecodeBlock, s2DecodedLength, s2EncodeBlock } from "./s2.js";
import {
  ConsumerState,
  ConsumerStore,
  ErrCorruptMeta,
  PendingEntry,
  RemoveReason,
  StoreError,
  StoreOptions,
  StoredMsg,
  StreamStoreConfig,
  checkName,
  cloneConsumerState,
  emptyConsumerState,
  fileStoreSizeOf,
  normalizeStoreConfig,
} from "./store.js";
import { nowNs, rfc3339 } from "../server/time.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";
import { smallInt } from "../server/small_int.js";
import { EncryptionError, isSealed, StreamCrypto, type BlockStream, type EncryptionConfig } from "./encryption.js";

const BLK_MAGIC = Buffer.from("TSNBLK01", "latin1");
const BLK_HDR = 8;
const REC_MAGIC = 0x52534e54;
const REC_MAGIC_BYTES = Buffer.from([0x54, 0x4e, 0x53, 0x52]);
const REC_HDR = 36;
const REC_MIN = REC_HDR + 4;
const REC_MAX = 0x40000000;
const F_TTL = 1;
const F_SKIP = 2;
/** The bytes after the subject are one S2 block of header + data; the header length field is the uncompressed one. */
const F_S2 = 8;
/** Smaller messages are stored as they are: compressing them would not pay. */
const S2_MIN = 64;
const F_FLOOR = 4;
const ST_DEL = 0xffffffff;
// 02: entry sizes follow fileStoreMsgSize (01 indexes are rebuilt from the blocks).
const IDX_MAGIC = Buffer.from("TSNIDX02", "latin1");
const IDX_ENTRY = 36;
const CS_MAGIC = Buffer.from("TSNCS001", "latin1");
const TWO32 = 0x100000000;
const META_VERSION = 1;

const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;
/**
 * The active block's file is extended (ftruncate) this far ahead of its appends: an append
 * that does not change the file's length needs no inode update, so its fdatasync is a data
 * flush without a journal commit (here: 140 µs instead of 210 µs per fsync). The zeros past
 * the last record are trimmed when the block is sealed or the store stops, and recovery
 * drops a zero tail without a warning (a crash leaves one).
 */
const PREALLOC_MAX = 4 * 1024 * 1024;
const PREALLOC_MIN = 64 * 1024;
/**
 * A busy active block also gets zeros WRITTEN ahead of its appends (modes "acks"/"always"):
 * an append into a hole (the ftruncate above) still allocates its 4 KiB file system block, and
 * that allocation makes the fdatasync commit the journal too (2 device flushes instead of 1):
 * once per 4 KiB of messages, i.e. every ~4th ack of 1 KB messages. Measured on a dedicated
 * ext4 (bench/fsync_micro.mjs, device requests per 1.1 KB append + fdatasync): append 2.0
 * flushes, ftruncate-ahead 1.27, fallocate 1.27, zeros written ahead 1.00. The zeros are
 * written (page cache, from the event loop, so an append can never race them) at most a
 * window ahead that grows with the data the block holds (no more zeros than data, at most
 * ZERO_AHEAD_MAX); the next fdatasync allocates them once for the window. Only while sync
 * rounds are small (on average less than a file system block: synchronous publishers): a
 * round covering more allocates its blocks in one journal commit anyway, and zeros would
 * double the bytes written (measured with 256 publishes outstanding: slower). A block holding
 * less than ZERO_AHEAD_MIN_DATA gets none (tiny streams keep sparse files). Like the sparse
 * zeros, they are cut off when the block is sealed or the store stops, and recovery takes a
 * zero tail as the end of the block; they are never counted as stored bytes.
 */
const ZERO_AHEAD_MIN_DATA = 16 * 1024;
const ZERO_AHEAD_MAX = 256 * 1024;
const FS_BLOCK = 4096;
let zeroPage: Buffer | undefined;
const DEFAULT_SYNC_MS = 120_000;
const DEFAULT_CACHE_BLOCKS = 4;
const DEFAULT_CACHE_EXPIRE_MS = 10_000;
/**
 * A sealed block's index unused this long is dropped (dropIndex), as long as its byte cache
 * is kept (nats-server drops a block's cache and per-subject state after the same idle time).
 * Loading it back costs reading its .idx (36 bytes a message).
 */
const DEFAULT_INDEX_EXPIRE_MS = 10_000;
/** Largest active-block cache buffer kept (emptied) when nobody reads the block, see shedWriteCache. */
const WRITE_CACHE_KEEP = 64 * 1024;
/**
 * Group-commit rounds in flight at once: concurrent fdatasyncs share journal commits and
 * device flushes, so overlapping rounds cut the wait of an ack to about one fsync. Node's
 * thread pool has 4 threads: one is left for the rest.
 */
const SYNC_ROUNDS_IN_FLIGHT = 3;
/** Marks above this count on one sealed block are applied by rewriting the block. */
const REWRITE_MARKS = 2048;
/** Delete marks at most this far apart in a cached block are written together (the bytes between rewritten as they are). */
const MARK_RUN_GAP = 4096;

export interface FileStoreOptions extends StoreOptions {
  /** The stream directory, see streamDir(). */
  dir: string;
  /**
   * Required to create a stream. When the stream exists, the persisted config is used,
   * overridden by any field given here (the result is persisted).
   */
  config?: Partial<StreamStoreConfig>;
  /** Opaque JSON-able data persisted in meta.json (e.g. the full JetStream config). */
  metadata?: unknown;
  /** Roll to a new block file beyond this many bytes (default 8 MiB). */
  blockSize?: number;
  /**
   * When what is stored is fsynced (see the DURABILITY CONTRACT above): "acks" (the default)
   * = before whenDurable()/syncPending() report it, in a group commit; "always" = the same, and
   * consumer state and metadata fsynced on every write too; a number = every that many ms
   * (nats-server's lazy sync_interval: acknowledged messages may be lost on power failure).
   */
  sync?: "always" | "acks" | number;
  /** Sealed blocks kept in the read cache (default 4). */
  cacheBlocks?: number;
  /** Drop a block's cache / close its file after this much idle time (default 10 s). */
  cacheExpireMs?: number;
  /**
   * Drop the per-message index of a sealed block unused for this long (default 10 s; the
   * TSNATS_INDEX_IDLE_MS environment variable overrides it, for tests): it is loaded again
   * from the block's .idx file (or a scan of the block) on its next use.
   */
  indexExpireMs?: number;
  /** Scan and checksum every block on open even when its index file is valid. */
  verifyOnOpen?: boolean;
  /** Encryption at rest (encryption.ts): the configured key and cipher, and the names the keys derive from. */
  encryption?: StoreEncryption;
}

/** The effective sync policy of a file store. */
export type FileSyncMode = "acks" | "always" | "interval";

export interface StoreEncryption {
  config: EncryptionConfig | undefined;
  account: string;
  stream: string;
}

export interface StreamMeta {
  version: number;
  created: string;
  config: StreamStoreConfig;
  metadata?: unknown;
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function unlinkQuiet(p: string): void {
  try {
    io.unlinkSync(p);
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------
// Meta files (stream and consumer)

function metaChecksum(payload: object): string {
  return crc32(Buffer.from(JSON.stringify(payload))).toString(16).padStart(8, "0");
}

/** How a whole file is sealed/opened when the stream is encrypted (role: its authenticated name). */
interface FileSealer {
  crypto: StreamCrypto | undefined;
  role: string;
}

function sealed(s: FileSealer | undefined, data: Buffer): Buffer {
  return s?.crypto !== undefined ? s.crypto.sealFile(s.role, data) : data;
}

/** The plaintext of a file that may be sealed (files written before encryption are not). */
function opened(s: FileSealer | undefined, path: string, data: Buffer): Buffer {
  if (!isSealed(data)) return data;
  if (s?.crypto === undefined) throw new EncryptionError(`${path} is encrypted but no encryption key is configured`);
  return s.crypto.openFile(s.role, data);
}

function writeMeta(path: string, version: number, created: string, config: unknown, metadata: unknown, sealer?: FileSealer): void {
  const payload = { version, created, config, metadata };
  const doc = { ...payload, checksum: metaChecksum(payload) };
  writeFileAtomic(path, sealed(sealer, Buffer.from(JSON.stringify(doc, null, 1))), true);
}

function readMetaFile(path: string, sealer?: FileSealer): { version: number; created: string; config: unknown; metadata: unknown } {
  let text: string;
  try {
    text = opened(sealer, path, io.readFileSync(path)).toString("utf8");
  } catch (e) {
    if (e instanceof EncryptionError) throw new ErrCorruptMeta(path, `cannot decrypt: ${e.message}`);
    throw new ErrCorruptMeta(path, `cannot read: ${(e as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ErrCorruptMeta(path, `invalid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object") throw new ErrCorruptMeta(path, "not an object");
  const payload = { version: doc.version, created: doc.created, config: doc.config, metadata: doc.metadata };
  if (doc.checksum !== metaChecksum(payload)) throw new ErrCorruptMeta(path, "checksum mismatch");
  if (typeof doc.version !== "number" || doc.version > META_VERSION) {
    throw new ErrCorruptMeta(path, `unsupported version ${String(doc.version)}`);
  }
  return payload as { version: number; created: string; config: unknown; metadata: unknown };
}

// ---------------------------------------------------------------------------
// Directory helpers for the JetStream layer

/** <storeDir>/<account>/streams/<stream> */
export function streamDir(storeDir: string, account: string, stream: string): string {
  checkName("account", account);
  checkName("stream", stream);
  return join(storeDir, account, "streams", stream);
}

/** Accounts that have a streams directory under storeDir. */
export function listStoredAccounts(storeDir: string): string[] {
  return io.listDirs(storeDir).filter((a) => io.existsSync(join(storeDir, a, "streams")));
}

/** Stream directories of an account. */
export function listStoredStreams(storeDir: string, account: string): string[] {
  return io.listDirs(join(storeDir, account, "streams"));
}

// ---------------------------------------------------------------------------
// Blocks

class FileBlock extends IndexBlock {
  /** Each entry's record offset in the block file (dropped with the rest of the index, see dropIndex). */
  private _offs: Uint32Array;
  /** Loads a dropped index back (FileStore.reloadIndex); null for the scratch blocks of recovery. */
  loader: ((b: FileBlock) => void) | null = null;
  /** Time (Date.now()) of the last use of the index: it is dropped after the store's indexExpireMs. */
  indexUse = DOUBLE_ZERO;
  readonly path: string;
  readonly idxPath: string;
  fd = -1;
  /** Length including the appends still waiting in the cache (= append position). */
  size = 0;
  /** Length actually written to the file (size - written bytes wait in the cache, see writePending). */
  written = 0;
  /**
   * File length set ahead of the appends (preallocation, see writePending); 0 = none. Only
   * ever larger than `written` while the block is active; trimmed to `size` when sealed.
   */
  allocated = 0;
  /** End of the zeros written ahead of the appends (see ZERO_AHEAD_MAX); 0 = none. */
  zeroed = 0;
  /** Highest floor marker in this block. */
  floor = 0;
  cache: Buffer | null = null;
  /** DataView over `cache` (fast 64-bit writes). */
  cacheView: DataView | null = null;
  cacheBase = 0;
  cacheLen = 0;
  /** Cache content written by us (no need to verify checksums on read). */
  cacheTrusted = false;
  /** Times (Date.now()) start as double fields (server/double_zero.ts): no shape change at the first. */
  lastUse = DOUBLE_ZERO;
  /** Time of the last read of a message (cache hit or not). */
  lastRead = DOUBLE_ZERO;
  /** Time of the last cache miss (a second one soon after loads the whole block). */
  lastMiss = DOUBLE_ZERO;
  idxOnDisk = false;
  /** Written since its last fsync (it is in FileStore.dirty). */
  syncDirty = false;
  inflight = 0;
  closePending = false;
  released = false;
  /** Encrypted blocks: the file's nonce (its first 8 bytes); null = a plain block; undefined = not read yet. */
  nonce: Buffer | null | undefined = undefined;
  /** The keystream positioned at the end of the file, for appends. */
  appendStream: BlockStream | undefined;

  constructor(
    readonly id: number,
    dir: string,
    cap = 64,
  ) {
    super(cap);
    this._offs = new Uint32Array(cap);
    this.path = join(dir, `${id}.blk`);
    this.idxPath = join(dir, `${id}.idx`);
  }

  get offs(): Uint32Array {
    if (this.unloaded) this.load();
    return this._offs;
  }
  set offs(v: Uint32Array) {
    this._offs = v;
  }

  protected override load(): void {
    if (this.loader === null) throw new Error(`index of block ${this.path} dropped without a loader`);
    this.loader(this);
  }

  /** Drop the per-message arrays, keeping the summaries IndexBlock reads while unloaded (n > 0). */
  unload(): void {
    this.uFirst = smallInt(this._seqs[0]!);
    this.uLast = smallInt(this._seqs[this.n - 1]!);
    this.uLastTs = this._ts[this.n - 1]!;
    this._seqs = EMPTY_F64;
    this._sizes = EMPTY_U32;
    this._ts = EMPTY_I64;
    this._subj = EMPTY_SUBJ;
    this._offs = EMPTY_U32;
    this.unloaded = true;
  }

  /** Take the arrays of a rebuilt index (same entries as when it was dropped). */
  adopt(t: FileBlock, subj: (Subj | null)[]): void {
    this._seqs = t._seqs;
    this._sizes = t._sizes;
    this._ts = t._ts;
    this._offs = t._offs;
    this._subj = subj;
    this.unloaded = false;
  }

  protected override grow(cap: number): void {
    super.grow(cap);
    const o = new Uint32Array(cap);
    o.set(this._offs.subarray(0, Math.min(this.n, cap)));
    this._offs = o;
  }
}

/** Memory of one index entry: seqs, sizes, ts, offs and the subject array's slot. */
const INDEX_ENTRY_BYTES = 8 + 4 + 8 + 4 + 8;

/** Tell the process (start/heap_tuning.ts collectDroppedIndexes) how many index bytes were just dropped. */
function indexesDropped(bytes: number): void {
  const hook = (globalThis as Record<symbol, unknown>)[Symbol.for("tsnats.indexesDropped")];
  if (typeof hook === "function") (hook as (b: number) => void)(bytes);
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_I64 = new BigInt64Array(0);
const EMPTY_SUBJ: (Subj | null)[] = [];

interface ParsedRec {
  seq: number;
  ts: bigint;
  flags: number;
  deleted: boolean;
  ttl: number;
  subjStart: number;
  subjLen: number;
  hdrStart: number;
  hdrLen: number;
  dataStart: number;
  dataLen: number;
  rlen: number;
}

const enum Check {
  OK,
  INCOMPLETE,
  BAD_HEADER,
  BAD_CRC,
}

/**
 * Little-endian reads on the read path: plain byte arithmetic, which V8 inlines (Buffer's
 * readUInt32LE/readUInt16LE validate their offset through non-inlined checks, a noticeable
 * share of a delivery). Callers stay within bounds.
 */
function u32(buf: Buffer, p: number): number {
  return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16)) + buf[p + 3]! * 0x1000000;
}
function u16(buf: Buffer, p: number): number {
  return buf[p]! | (buf[p + 1]! << 8);
}

function checkRecord(buf: Buffer, pos: number, end: number): Check {
  if (end - pos < REC_MIN) return Check.INCOMPLETE;
  if (u32(buf, pos) !== REC_MAGIC) return Check.BAD_HEADER;
  const rlen = u32(buf, pos + 4);
  if (rlen < REC_MIN || rlen > REC_MAX) return Check.BAD_HEADER;
  if (pos + rlen > end) return Check.INCOMPLETE;
  let c = crc32(buf, pos, pos + 8);
  c = crc32(buf, pos + 12, pos + rlen - 4, c);
  if (c !== u32(buf, pos + rlen - 4)) return Check.BAD_CRC;
  const flags = u16(buf, pos + 30);
  const body = REC_HDR + (flags & F_TTL ? 8 : 0) + u16(buf, pos + 28) + (flags & F_S2 ? 0 : u32(buf, pos + 32)) + 4;
  if (body > rlen) return Check.BAD_CRC;
  return Check.OK;
}

/** Are buf[from, to) all zero bytes? */
function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** The u64 sequence of the record at pos (stored as lo, hi u32 words). */
function recordSeq(buf: Buffer, pos: number): number {
  return u32(buf, pos + 12) + u32(buf, pos + 16) * TWO32;
}

function parseRecord(buf: Buffer, pos: number): ParsedRec {
  const rlen = buf.readUInt32LE(pos + 4);
  const state = buf.readUInt32LE(pos + 8);
  const seq = recordSeq(buf, pos);
  const ts = buf.readBigInt64LE(pos + 20);
  const subjLen = buf.readUInt16LE(pos + 28);
  const flags = buf.readUInt16LE(pos + 30);
  const hdrLen = buf.readUInt32LE(pos + 32);
  let p = pos + REC_HDR;
  let ttl = 0;
  if (flags & F_TTL) {
    ttl = buf.readDoubleLE(p);
    p += 8;
  }
  const subjStart = p;
  const hdrStart = subjStart + subjLen;
  // A compressed record: hdrStart..end is the S2 block; hdrLen is the uncompressed header's.
  const dataStart = flags & F_S2 ? hdrStart : hdrStart + hdrLen;
  return {
    seq,
    ts,
    flags,
    deleted: popcount32(state) >= 16,
    ttl,
    subjStart,
    subjLen,
    hdrStart,
    hdrLen,
    dataStart,
    dataLen: pos + rlen - 4 - dataStart,
    rlen,
  };
}

/** Entries recovered for one block before they are registered in the index. */
interface Loaded {
  b: FileBlock;
  names: (string | null)[];
  ttls: Map<number, number>;
  /** seq and ts of the record carrying this block's highest sequence (incl. markers). */
  maxSeq: number;
  maxTs: bigint;
}

// ---------------------------------------------------------------------------

export class FileStore extends StoreBase<FileBlock> {
  readonly type = "file" as const;
  readonly dir: string;
  private readonly msgsDir: string;
  private readonly metaPath: string;
  private meta: StreamMeta;
  private readonly blockSize: number;
  /** When acknowledged messages are on disk: see the DURABILITY CONTRACT above. */
  readonly syncMode: FileSyncMode;
  private readonly syncAlways: boolean;
  /** Write zeros ahead of a busy active block's appends (acks are fsynced: see ZERO_AHEAD_MAX). */
  private readonly zeroAhead: boolean;
  /** Appended bytes written since the last sync round started, and their moving average per round (1/8 weight). */
  private bytesSinceRound = 0;
  private roundBytes = 0;
  private readonly syncMs: number;
  private readonly cacheBlocks: number;
  private readonly cacheExpireMs: number;
  private readonly indexExpireMs: number;
  /** Set while a dropped index is rebuilt by a scan of its block: it must not change the file. */
  private reloading = false;
  /** A sync round asked for by dropIndex is under way. */
  private idleSyncAsked = false;
  private readonly indexLoader = (b: FileBlock): void => this.reloadIndex(b);
  private nextId = 1;
  private lru = new Map<FileBlock, true>();
  /** The block and entry index of the last read (to see a linear scan). */
  private lastReadBlock: FileBlock | null = null;
  private lastReadIdx = -1;
  /** A sealed block a linear scan has read to its end (dropped from the cache at the next read elsewhere). */
  private scannedOut: FileBlock | null = null;

  // pending delete marks (flattened): block, index, seq
  private pmB: FileBlock[] = [];
  private pmI: number[] = [];
  private pmS: number[] = [];
  private markFlushScheduled = false;

  // sync machinery: block files written since their last fsync, and the group commit
  private dirty = new Set<FileBlock>();
  private spareDirty = new Set<FileBlock>();
  private dirDirty = false;
  private readonly commit = new GroupCommit((done) => this.syncRound(done), SYNC_ROUNDS_IN_FLIGHT);
  /** Blocks and directory fsyncs in flight: a round that starts meanwhile syncs them again (see syncRound). */
  private syncingBlocks = new Set<FileBlock>();
  private dirSyncsInFlight = 0;
  /** Appends of this turn wait in the active block's cache for one write(2) (writePending). */
  private pendingWrite = false;
  /** A write(2) of appends failed: retried by the next writePending, reported to the acks waiting. */
  private writeError: StoreError | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private maintTimer: NodeJS.Timeout | null = null;

  private consumers = new Map<string, FileConsumerStore>();

  /**
   * The stream's keys, when its files are encrypted (a `meta.key` exists). Throws, touching
   * nothing, when they can not be opened: with nats-server's message.
   */
  static openCrypto(dir: string, enc: StoreEncryption | undefined): StreamCrypto | undefined {
    let key: Buffer;
    try {
      key = io.readFileSync(join(dir, "meta.key"));
    } catch {
      return undefined;
    }
    try {
      return StreamCrypto.open(enc?.config, key, enc?.account ?? "", enc?.stream ?? "");
    } catch (e) {
      throw new StoreError("ErrCorruptMeta", `Error decrypting our stream metafile: ${(e as Error).message}`, join(dir, "meta.key"));
    }
  }

  /** Read a stream's meta.json. Throws ErrCorruptMeta (with .path) if unreadable. */
  static readMeta(dir: string, enc?: StoreEncryption, crypto = FileStore.openCrypto(dir, enc)): StreamMeta {
    const path = join(dir, "meta.json");
    const m = readMetaFile(path, { crypto, role: "meta.json" });
    let config: StreamStoreConfig;
    try {
      config = normalizeStoreConfig(m.config as Partial<StreamStoreConfig>);
    } catch (e) {
      throw new ErrCorruptMeta(path, `bad config: ${(e as Error).message}`);
    }
    return { version: m.version, created: m.created, config, metadata: m.metadata };
  }

  /**
   * The stored configs of a stream directory's consumers, read without opening the stream
   * (what recovery checks before it starts a stream). Unreadable ones are left out.
   */
  static readConsumerMetas(dir: string, enc?: StoreEncryption): Array<{ name: string; config: unknown; created: string }> {
    const crypto = FileStore.openCrypto(dir, enc);
    const out: Array<{ name: string; config: unknown; created: string }> = [];
    for (const name of io.listDirs(join(dir, "obs"))) {
      const p = join(dir, "obs", name, "meta.json");
      if (!io.existsSync(p)) continue;
      try {
        const m = readMetaFile(p, { crypto, role: `obs/${name}/meta.json` });
        out.push({ name, config: m.config, created: m.created });
      } catch {
        // recovery reports it when it opens the consumer
      }
    }
    return out;
  }

  constructor(opts: FileStoreOptions) {
    const dir = opts.dir;
    const metaPath = join(dir, "meta.json");
    const msgsDir = join(dir, "msgs");
    let meta: StreamMeta;
    let created = false;
    let metaChanged = false;
    let newConfig: StreamStoreConfig | undefined;
    // Keys first: a wrong or missing key stops here, before any file is touched.
    let crypto = FileStore.openCrypto(dir, opts.encryption);
    if (io.existsSync(metaPath)) {
      meta = FileStore.readMeta(dir, opts.encryption, crypto);
      if (opts.config) {
        // applied after recovery: the persisted limits must be re-applied first (limit
        // removals are persisted lazily, a crash can leave them undone on disk)
        const merged = normalizeStoreConfig({ ...meta.config, ...opts.config, firstSeq: meta.config.firstSeq });
        if (JSON.stringify(merged) !== JSON.stringify(meta.config)) newConfig = merged;
      }
      if (opts.metadata !== undefined && JSON.stringify(opts.metadata) !== JSON.stringify(meta.metadata)) {
        meta.metadata = opts.metadata;
        metaChanged = true;
      }
    } else {
      if (!opts.config) {
        if (io.existsSync(msgsDir)) throw new ErrCorruptMeta(metaPath, "missing (message blocks exist)");
        throw new StoreError("ErrNotFound", `no stream at ${dir}`, dir);
      }
      meta = {
        version: META_VERSION,
        created: rfc3339(nowNs()),
        config: normalizeStoreConfig(opts.config),
        metadata: opts.metadata,
      };
      created = !io.existsSync(msgsDir);
      metaChanged = true;
    }
    const adopting = !created && !io.existsSync(metaPath);
    super(meta.config, opts);
    const enc = opts.encryption;
    let keyChanged = crypto?.rekeyed === true;
    if (crypto === undefined && enc?.config !== undefined) {
      // Encryption enabled (for a new stream, or on existing plain data: what is there stays
      // readable, everything written from now on is encrypted).
      crypto = StreamCrypto.create(enc.config);
      keyChanged = true;
      metaChanged = true;
    }
    this.crypto = crypto;
    if (keyChanged && crypto !== undefined && enc?.config !== undefined) {
      mkdirDurable(dir);
      writeFileAtomic(join(dir, "meta.key"), crypto.metaKey(enc.config, enc.account, enc.stream), true);
      metaChanged = true;
    }
    this.dir = dir;
    this.msgsDir = msgsDir;
    this.metaPath = metaPath;
    this.meta = meta;
    // TSNATS_BLOCK_SIZE: small blocks for tests (many sealed blocks from little data)
    const envBlock = Number(process.env.TSNATS_BLOCK_SIZE);
    this.blockSize = Math.min(Math.max(envBlock > 0 ? envBlock : (opts.blockSize ?? DEFAULT_BLOCK_SIZE), 1024), 1 << 30);
    this.syncMode = opts.sync === "always" ? "always" : typeof opts.sync === "number" && opts.sync > 0 ? "interval" : "acks";
    this.syncAlways = this.syncMode === "always";
    this.zeroAhead = this.syncMode !== "interval";
    this.syncMs = typeof opts.sync === "number" && opts.sync > 0 ? opts.sync : DEFAULT_SYNC_MS;
    this.cacheBlocks = Math.max(opts.cacheBlocks ?? DEFAULT_CACHE_BLOCKS, 1);
    this.cacheExpireMs = Math.max(opts.cacheExpireMs ?? DEFAULT_CACHE_EXPIRE_MS, 10);
    const envIdle = Number(process.env.TSNATS_INDEX_IDLE_MS);
    this.indexExpireMs = Math.max(envIdle > 0 ? envIdle : (opts.indexExpireMs ?? DEFAULT_INDEX_EXPIRE_MS), 10);

    mkdirDurable(msgsDir);
    mkdirDurable(join(dir, "obs"));
    if (adopting) this.log.warn(`${this.tag()}: ${metaPath} missing, recreating it and adopting existing message blocks`);
    if (metaChanged) this.writeMetaNow();

    this.recover(!!opts.verifyOnOpen);
    this.encryptActiveBlock();
    if (created && this.cfg.firstSeq > 0 && this.lastSeq === 0) {
      this.lastSeq = this.cfg.firstSeq - 1;
      this.firstSeq = this.cfg.firstSeq;
      this.writeFloorRecord(this.cfg.firstSeq, 0n, true);
    }
    this.enforceLimits();
    if (newConfig) this.updateConfig(newConfig);
    this.expireNow();

    this.syncTimer = setInterval(() => this.periodicSync(), this.syncMs);
    this.syncTimer.unref();
    this.maintTimer = setInterval(() => this.maintenance(), Math.max(Math.min(this.cacheExpireMs, this.indexExpireMs, 5000) >>> 1, 5));
    this.maintTimer.unref();
  }

  /**
   * What the recovery at open found damaged (records failing their checksums, corrupt or cut
   * bytes, a block shorter than its index says): empty when every block read back intact. A
   * replicated stream's member takes none of it on trust (stream_replica.ts repairs it).
   */
  get recoveryDamage(): readonly string[] {
    return this.damageFound;
  }

  private readonly damageFound: string[] = [];

  private tag(): string {
    return `filestore [${this.cfg.name || this.dir}]`;
  }

  private writeMetaNow(): void {
    writeMeta(this.metaPath, this.meta.version, this.meta.created, this.meta.config, this.meta.metadata, { crypto: this.crypto, role: "meta.json" });
  }

  /** The stream's keys when it is encrypted. */
  readonly crypto: StreamCrypto | undefined;

  /** @internal How a file of this stream is sealed. */
  sealer(role: string): FileSealer {
    return { crypto: this.crypto, role };
  }

  /** Write a file of the stream's directory (sealed when the stream is encrypted), atomically. */
  writeAuxFile(name: string, data: Buffer, durable: boolean): void {
    writeFileAtomic(join(this.dir, name), sealed({ crypto: this.crypto, role: name }, data), durable);
  }

  /** Remove a file written by writeAuxFile (none: nothing done). */
  removeAuxFile(name: string): void {
    const path = join(this.dir, name);
    if (io.existsSync(path)) io.unlinkSync(path);
  }

  /** Read a file written by writeAuxFile (undefined when there is none). */
  readAuxFile(name: string): Buffer | undefined {
    const path = join(this.dir, name);
    let data: Buffer;
    try {
      data = io.readFileSync(path);
    } catch {
      return undefined;
    }
    return opened({ crypto: this.crypto, role: name }, path, data);
  }

  // ---- block file I/O (the only place block bytes meet the disk: encryption happens here) ----

  /** Is the block encrypted? Reads its first 8 bytes once. */
  private blockNonce(b: FileBlock, fd: number): Buffer | null {
    if (b.nonce !== undefined) return b.nonce;
    if (this.crypto === undefined) return (b.nonce = null);
    const head = Buffer.alloc(BLK_HDR);
    const got = readFull(fd, head, 0, BLK_HDR, 0);
    b.nonce = got === BLK_HDR && !head.equals(BLK_MAGIC) ? head : null;
    return b.nonce;
  }

  /** write(2) block bytes at `pos`; encrypted blocks get the keystream (and their nonce where the magic is). */
  private pwrite(b: FileBlock, fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
    const nonce = this.blockNonce(b, fd);
    if (nonce === null || this.crypto === undefined) {
      writeFull(fd, buf, off, len, pos);
      return;
    }
    const out = len >= 65536 ? blockBuffers.take(len) : Buffer.allocUnsafe(len);
    let k = 0;
    // The header bytes of an encrypted block hold its nonce, in the clear.
    while (pos + k < BLK_HDR && k < len) {
      out[k] = nonce[pos + k];
      k++;
    }
    if (k < len) {
      let st = b.appendStream;
      if (st === undefined || st.pos !== pos + k) st = this.crypto.blockStream(b.id, nonce, pos + k);
      st.xor(buf, off + k, len - k, out, k);
      b.appendStream = st;
    }
    try {
      writeFull(fd, out, 0, len, pos);
    } finally {
      blockBuffers.give(out);
    }
  }

  /** read(2) block bytes at `pos` (decrypted, with the plain magic where an encrypted block has its nonce). */
  private pread(b: FileBlock, fd: number, buf: Buffer, off: number, len: number, pos: number): number {
    const nonce = this.blockNonce(b, fd);
    const got = readFull(fd, buf, off, len, pos);
    if (nonce === null || this.crypto === undefined || got === 0) return got;
    this.decryptInPlace(b, nonce, buf, off, got, pos);
    return got;
  }

  private decryptInPlace(b: FileBlock, nonce: Buffer, buf: Buffer, off: number, len: number, pos: number): void {
    let k = 0;
    while (pos + k < BLK_HDR && k < len) {
      buf[off + k] = BLK_MAGIC[pos + k];
      k++;
    }
    if (k < len) this.crypto!.blockStream(b.id, nonce, pos + k).xor(buf, off + k, len - k);
  }

  /** A whole block file as read from disk, decrypted in place. */
  private decryptFile(b: FileBlock, buf: Buffer): void {
    if (this.crypto === undefined || buf.length < BLK_HDR) {
      b.nonce = null;
      return;
    }
    const head = Buffer.from(buf.subarray(0, BLK_HDR));
    b.nonce = head.equals(BLK_MAGIC) ? null : head;
    if (b.nonce !== null) this.decryptInPlace(b, b.nonce, buf, 0, buf.length, 0);
  }

  /**
   * Encryption just enabled on plain data: the plain blocks stay as they are (readable), but
   * nothing more is appended to one: an empty one gets an encrypted header, a used one is
   * sealed by starting a new block.
   */
  private encryptActiveBlock(): void {
    if (this.crypto === undefined) return;
    const a = this.active;
    const fd = this.openFd(a);
    if (this.blockNonce(a, fd) !== null) return;
    if (a.n === 0 && a.size <= BLK_HDR) {
      io.ftruncateSync(fd, 0);
      writeFull(fd, this.newBlockHeader(a), 0, BLK_HDR, 0);
      a.size = BLK_HDR;
      a.written = BLK_HDR;
      this.dropCache(a);
      this.markDirty(a);
      return;
    }
    this.roll();
  }

  /** The 8 header bytes of a new block file: its nonce when encrypted, else the magic. */
  private newBlockHeader(b: FileBlock): Buffer {
    if (this.crypto === undefined) {
      b.nonce = null;
      return BLK_MAGIC;
    }
    b.nonce = StreamCrypto.blockNonce(BLK_MAGIC);
    b.appendStream = undefined;
    return b.nonce;
  }

  /** The persisted opaque metadata. */
  metadata(): unknown {
    return this.meta.metadata;
  }

  /** Replace the persisted opaque metadata (e.g. after a stream update). */
  setMetadata(md: unknown): void {
    this.checkOpen();
    this.meta.metadata = md;
    this.writeMetaNow();
  }

  protected persistConfig(): void {
    this.flushMarks();
    this.meta.config = { ...this.cfg };
    this.writeMetaNow();
  }

  // ---------------------------------------------------------------------------
  // Recovery

  private recover(verifyAll: boolean): void {
    let names: string[];
    try {
      names = io.readdirSync(this.msgsDir);
    } catch {
      names = [];
    }
    const ids: number[] = [];
    const idxIds = new Set<number>();
    for (const n of names) {
      let m = /^(\d+)\.blk$/.exec(n);
      if (m) {
        ids.push(Number(m[1]));
        continue;
      }
      m = /^(\d+)\.idx$/.exec(n);
      if (m) {
        idxIds.add(Number(m[1]));
        continue;
      }
      if (n.endsWith(".tmp")) unlinkQuiet(join(this.msgsDir, n));
    }
    ids.sort((a, b) => a - b);
    const have = new Set(ids);
    for (const id of idxIds) if (!have.has(id)) unlinkQuiet(join(this.msgsDir, `${id}.idx`));

    const loaded: Loaded[] = [];
    let maxSeq = 0;
    let maxTs = 0n;
    let floor = 0;
    for (const id of ids) {
      const b = new FileBlock(id, this.msgsDir);
      const l: Loaded = { b, names: [], ttls: new Map(), maxSeq, maxTs };
      let ok = false;
      if (!verifyAll) ok = this.loadIdx(l, maxSeq);
      else this.checkIdxLength(b);
      if (!ok) this.scanBlock(l, maxSeq);
      if (l.maxSeq > maxSeq) {
        maxSeq = l.maxSeq;
        maxTs = l.maxTs;
      }
      if (b.floor > floor) floor = b.floor;
      loaded.push(l);
      this.nextId = id + 1;
    }
    if (floor - 1 > maxSeq) maxSeq = floor - 1;

    // register entries; empty blocks that are not the last are dropped (after the marks
    // below, since such a block may hold the floor marker that justifies them)
    const empty: FileBlock[] = [];
    let dropped = 0;
    for (let k = 0; k < loaded.length; k++) {
      const { b, names: nm, ttls } = loaded[k]!;
      if (b.n === 0 && k < loaded.length - 1) {
        empty.push(b);
        continue;
      }
      for (let i = 0; i < b.n; i++) {
        const name = nm[i];
        if (name === null || name === undefined) continue;
        const seq = b.seqAt(i);
        if (seq < floor) {
          // removed by a purge/compact whose marks did not all reach the disk
          this.pmB.push(b);
          this.pmI.push(i);
          this.pmS.push(seq);
          continue;
        }
        this.recoverEntry(b, i, name);
        const ttl = ttls.get(i);
        if (ttl !== undefined) this.noteTtl(b, seq, b.ts[i]!, ttl);
      }
      this.blocks.push(b);
      // A sealed block loaded from its .idx needs its index only when used (INDEX): dropped
      // at once, so opening a large stream never holds every block's index at the same time.
      if (k < loaded.length - 1 && b.idxOnDisk && b.n > 0 && this.pmB.length === 0) {
        b.loader = this.indexLoader;
        b.unload();
        dropped += b.n;
      }
    }
    if (this.blocks.length === 0) this.blocks.push(this.createBlock());
    const last = this.blocks[this.blocks.length - 1]!;
    this.openFd(last);
    this.recoverFinish(maxSeq, maxTs);
    this.finish();
    this.flushMarks();
    for (const b of empty) this.releaseBlock(b);
    if (dropped > 0) indexesDropped(dropped * INDEX_ENTRY_BYTES);
  }

  /** A block shorter than its (intact) index says was cut while the store was closed: damage, though what is left may scan clean. */
  private checkIdxLength(b: FileBlock): void {
    try {
      const buf = opened(this.sealer(`msgs/${b.id}.idx`), b.idxPath, io.readFileSync(b.idxPath));
      if (buf.length < 36 || !buf.subarray(0, 8).equals(IDX_MAGIC) || crc32(buf, 0, buf.length - 4) !== buf.readUInt32LE(buf.length - 4)) return;
      const size = io.statSync(b.path).size;
      const fileLen = buf.readDoubleLE(8);
      if (size < fileLen) this.damageFound.push(`${b.path} is ${size} bytes, its index says ${fileLen}`);
    } catch {
      // no index (or unreadable): the scan decides
    }
  }

  private loadIdx(l: Loaded, minSeq: number): boolean {
    const b = l.b;
    let buf: Buffer;
    let size: number;
    try {
      buf = opened(this.sealer(`msgs/${b.id}.idx`), b.idxPath, io.readFileSync(b.idxPath));
      size = io.statSync(b.path).size;
    } catch {
      return false;
    }
    try {
      if (buf.length < 36 || !buf.subarray(0, 8).equals(IDX_MAGIC)) throw new Error("bad magic");
      if (crc32(buf, 0, buf.length - 4) !== buf.readUInt32LE(buf.length - 4)) throw new Error("checksum mismatch");
      const fileLen = buf.readDoubleLE(8);
      if (fileLen !== size) throw new Error(`stale (block is ${size} bytes, index says ${fileLen})`);
      const n = buf.readUInt32LE(16);
      const bfloor = buf.readDoubleLE(20);
      const nsub = buf.readUInt32LE(28);
      let p = 32;
      const subs: string[] = [];
      for (let k = 0; k < nsub; k++) {
        const len = buf.readUInt16LE(p);
        subs.push(buf.toString("utf8", p + 2, p + 2 + len));
        p += 2 + len;
      }
      if (p + n * IDX_ENTRY + 4 !== buf.length) throw new Error("bad length");
      const names: (string | null)[] = [];
      const ttls = new Map<number, number>();
      let prev = minSeq;
      let maxTs = l.maxTs;
      const tmp = new FileBlock(b.id, this.msgsDir, Math.max(n, 16));
      for (let i = 0; i < n; i++, p += IDX_ENTRY) {
        const seq = buf.readDoubleLE(p);
        const off = buf.readUInt32LE(p + 8);
        const sz = buf.readUInt32LE(p + 12);
        const ts = buf.readBigInt64LE(p + 16);
        const si = buf.readInt32LE(p + 24);
        const ttl = buf.readDoubleLE(p + 28);
        if (!(seq > prev) || off >= size || si >= nsub || si < -1) throw new Error("bad entry");
        prev = seq;
        maxTs = ts;
        tmp.push(seq, null, sz, ts);
        tmp.offs[i] = off;
        names.push(si >= 0 ? subs[si]! : null);
        if (ttl !== 0 && si >= 0) ttls.set(i, ttl);
      }
      b.adopt(tmp, tmp.subj);
      b.n = tmp.n;
      b.size = size;
      b.written = size;
      b.floor = bfloor;
      b.idxOnDisk = true;
      l.names = names;
      l.ttls = ttls;
      if (n > 0) {
        l.maxSeq = prev;
        l.maxTs = maxTs;
      }
      return true;
    } catch (e) {
      this.log.info(`${this.tag()}: index ${b.idxPath} not usable (${(e as Error).message}), rebuilding from block`);
      unlinkQuiet(b.idxPath);
      return false;
    }
  }

  private scanBlock(l: Loaded, minSeq: number): void {
    const b = l.b;
    unlinkQuiet(b.idxPath);
    b.idxOnDisk = false;
    let buf: Buffer;
    try {
      buf = io.readFileSync(b.path);
      this.decryptFile(b, buf);
    } catch (e) {
      this.log.error(`${this.tag()}: cannot read block ${b.path}: ${(e as Error).message}`);
      buf = Buffer.alloc(0);
    }
    const len = buf.length;
    let truncateAt = -1;
    let pos = BLK_HDR;
    if (len < BLK_HDR) {
      if (len > 0) this.log.warn(`${this.tag()}: block ${b.path} has a partial header (${len} bytes), truncating`);
      truncateAt = 0;
      pos = len;
    } else if (!buf.subarray(0, BLK_HDR).equals(BLK_MAGIC)) {
      this.log.error(`${this.tag()}: block ${b.path} has a bad header, scanning for records`);
    }
    let maxSeq = minSeq;
    const names: (string | null)[] = [];
    const ttls = new Map<number, number>();

    const resync = (from: number): number => {
      let q = from;
      for (;;) {
        q = buf.indexOf(REC_MAGIC_BYTES, q);
        if (q < 0 || q + REC_MIN > len) return -1;
        if (checkRecord(buf, q, len) === Check.OK) {
          const seq = recordSeq(buf, q);
          if (seq > maxSeq || buf.readUInt16LE(q + 30) & F_FLOOR) return q;
        }
        q++;
      }
    };

    while (pos < len) {
      const c = checkRecord(buf, pos, len);
      if (c === Check.OK) {
        const r = parseRecord(buf, pos);
        if (r.flags & F_FLOOR) {
          if (r.seq > b.floor) b.floor = r.seq;
          if (r.seq - 1 > maxSeq) {
            const i = b.push(r.seq - 1, null, 0, r.ts);
            b.offs[i] = pos;
            names.push(null);
            maxSeq = r.seq - 1;
            l.maxTs = r.ts;
          }
        } else if (r.seq <= maxSeq) {
          this.log.error(
            `${this.tag()}: ${b.path} offset ${pos}: sequence ${r.seq} out of order (after ${maxSeq}), skipping record`,
          );
        } else if (r.flags & F_SKIP) {
          const i = b.push(r.seq, null, 0, r.ts);
          b.offs[i] = pos;
          names.push(null);
          maxSeq = r.seq;
          l.maxTs = r.ts;
        } else {
          const size = fileStoreSizeOf(r.subjLen, r.hdrLen, r.flags & F_S2 ? s2DecodedLength(buf.subarray(r.dataStart, r.dataStart + r.dataLen)) - r.hdrLen : r.dataLen);
          const i = b.push(r.seq, null, size, r.ts);
          b.offs[i] = pos;
          names.push(r.deleted ? null : buf.toString("utf8", r.subjStart, r.subjStart + r.subjLen));
          if (r.ttl !== 0 && !r.deleted) ttls.set(i, r.ttl);
          maxSeq = r.seq;
          l.maxTs = r.ts;
        }
        pos += r.rlen;
        continue;
      }
      if (c === Check.BAD_CRC) {
        const rlen = buf.readUInt32LE(pos + 4);
        if (pos + rlen < len && allZero(buf, pos + rlen, len)) {
          // the last record before the preallocated zeros, written in part: a torn tail
          // (Not damage: a write torn by a power loss was never acknowledged by this store's
          // fsync; a replicated stream's member gets it again from its RAFT log.)
          this.log.warn(`${this.tag()}: ${b.path}: partial record at offset ${pos}, truncating`);
          truncateAt = pos;
          break;
        }
        const state = buf.readUInt32LE(pos + 8);
        const seq = recordSeq(buf, pos);
        if (popcount32(state) >= 16) {
          this.log.warn(`${this.tag()}: ${b.path} offset ${pos}: deleted record (seq ${seq}) has a bad checksum, ignoring`);
        } else {
          this.log.error(
            `${this.tag()}: ${b.path} offset ${pos}: checksum mismatch in record for seq ${seq} (${rlen} bytes), message lost; skipping it`,
          );
          this.damageFound.push(`${b.path} offset ${pos}: checksum mismatch (seq ${seq})`);
          if (seq > maxSeq && seq - maxSeq < 1e9) {
            this.lostSeqs.push(seq);
            this.lostBytes += Math.max(rlen - 24, 0);
          }
        }
        const next = pos + rlen;
        if (next === len || (next < len && checkRecord(buf, next, len) === Check.OK)) {
          pos = next;
          continue;
        }
        const q = resync(pos + 1);
        if (q >= 0) {
          this.log.error(`${this.tag()}: ${b.path}: skipped corrupt bytes [${pos}, ${q})`);
          this.damageFound.push(`${b.path}: corrupt bytes [${pos}, ${q})`);
          pos = q;
          continue;
        }
        this.log.warn(`${this.tag()}: ${b.path}: no valid record after offset ${next}, truncating ${len - Math.min(next, len)} trailing bytes`);
        this.damageFound.push(`${b.path}: no valid record after offset ${next}`);
        truncateAt = Math.min(next, len);
        break;
      }
      // INCOMPLETE or BAD_HEADER
      if (allZero(buf, pos, len)) {
        // the preallocated end of the active block (see PREALLOC_MAX): not data, nothing lost
        truncateAt = pos;
        break;
      }
      const q = resync(pos + 1);
      if (q >= 0) {
        this.log.error(`${this.tag()}: ${b.path}: corrupt data at offset ${pos}, skipped bytes [${pos}, ${q})`);
        this.damageFound.push(`${b.path}: corrupt data, bytes [${pos}, ${q})`);
        pos = q;
        continue;
      }
      this.log.warn(
        `${this.tag()}: ${b.path}: ${c === Check.INCOMPLETE ? "partial record" : "garbage"} at offset ${pos} (${len - pos} bytes at the tail), truncating`,
      );
      this.damageFound.push(`${b.path}: ${c === Check.INCOMPLETE ? "partial record" : "garbage"} at offset ${pos}`);
      truncateAt = pos;
      break;
    }
    b.size = len;
    b.written = len;
    if (truncateAt >= 0 && !this.reloading) {
      try {
        io.truncateSync(b.path, truncateAt);
        b.size = truncateAt;
        b.written = truncateAt;
      } catch (e) {
        this.log.error(`${this.tag()}: cannot truncate ${b.path}: ${(e as Error).message}`);
      }
      if (b.size < BLK_HDR) {
        // rewrite a clean header so the block can take appends
        try {
          const fd = io.openSync(b.path, "r+");
          try {
            io.ftruncateSync(fd, 0);
            writeFull(fd, this.newBlockHeader(b), 0, BLK_HDR, 0);
          } finally {
            io.closeSync(fd);
          }
          b.size = BLK_HDR;
          b.written = BLK_HDR;
        } catch (e) {
          this.log.error(`${this.tag()}: cannot rewrite header of ${b.path}: ${(e as Error).message}`);
        }
      }
    }
    l.names = names;
    l.ttls = ttls;
    if (maxSeq > l.maxSeq) l.maxSeq = maxSeq;
  }

  // ---------------------------------------------------------------------------
  // Block files

  /** A new active block, with index room for `entries` records (see IndexBlock). */
  private createBlock(entries = 64): FileBlock {
    const b = new FileBlock(this.nextId++, this.msgsDir, entries);
    try {
      b.fd = io.openSync(b.path, "w+");
      writeFull(b.fd, this.newBlockHeader(b), 0, BLK_HDR, 0);
    } catch (e) {
      if (b.fd >= 0) io.closeSync(b.fd);
      throw new StoreError("ErrStoreWrite", `cannot create block ${b.path}: ${(e as Error).message}`, b.path, { cause: e });
    }
    b.size = BLK_HDR;
    b.written = BLK_HDR;
    b.lastUse = Date.now();
    this.dirDirty = true;
    this.markDirty(b);
    return b;
  }

  private openFd(b: FileBlock): number {
    if (b.fd < 0) {
      try {
        b.fd = io.openSync(b.path, "r+");
      } catch (e) {
        throw new StoreError("ErrStoreWrite", `cannot open block ${b.path}: ${(e as Error).message}`, b.path, { cause: e });
      }
    }
    // in use again: cancel a close deferred behind an in-flight fsync
    if (!b.released) b.closePending = false;
    return b.fd;
  }

  private closeFd(b: FileBlock): void {
    if (b.fd < 0) return;
    if (b.inflight > 0) {
      b.closePending = true;
      return;
    }
    try {
      io.closeSync(b.fd);
    } catch {
      // ignore
    }
    b.fd = -1;
    b.closePending = false;
  }

  /** A write to b that the next sync round must cover. */
  private markDirty(b: FileBlock): void {
    this.commit.noteWrite();
    if (!b.syncDirty) this.markSyncDirty(b);
  }

  private markSyncDirty(b: FileBlock): void {
    b.syncDirty = true;
    this.dirty.add(b);
  }

  private invalidateIdx(b: FileBlock): void {
    if (b.idxOnDisk) {
      unlinkQuiet(b.idxPath);
      b.idxOnDisk = false;
      // the unlink is made durable with the change (the next sync round fsyncs the
      // directory): a stale .idx back after a power loss would be trusted (same length)
      this.dirDirty = true;
    }
  }

  private get active(): FileBlock {
    return this.blocks[this.blocks.length - 1]!;
  }

  /**
   * Append one record to the active block (rolling if needed) via its cache buffer and a
   * single write(2). Returns the block; the record offset is left in this.lastOff.
   */
  private lastOff = 0;
  private writeRecord(
    seq: number,
    ts: bigint,
    flags: number,
    subject: string,
    subjLen: number,
    hdr: Buffer | undefined,
    data: Buffer | undefined,
    ttl: number,
    allowRoll: boolean,
    /** F_S2 records: the uncompressed header length, written in the header length field. */
    packedHdrLen = 0,
  ): FileBlock {
    const hdrLen = hdr ? hdr.length : 0;
    const dataLen = data ? data.length : 0;
    if (ttl !== 0) flags |= F_TTL;
    const rlen = REC_HDR + (ttl !== 0 ? 8 : 0) + subjLen + hdrLen + dataLen + 4;
    if (rlen > REC_MAX) throw new StoreError("ErrMaxMsgSize", "message too large for the file store");
    let b = this.active;
    if (allowRoll && b.n > 0 && b.size + rlen > this.blockSize) b = this.roll();
    // the cache must end exactly at the append position (and hold what waits to be written)
    if (b.cache === null || b.cacheBase + b.cacheLen !== b.size) {
      this.writePending();
      this.dropCache(b);
      b.cache = blockBuffers.take(rlen + BLK_HDR);
      b.cacheView = null;
      b.cacheTrusted = true;
      if (b.size === BLK_HDR) {
        // a fresh block: cache it whole so it stays cached once sealed
        BLK_MAGIC.copy(b.cache, 0);
        b.cacheBase = 0;
        b.cacheLen = BLK_HDR;
      } else {
        b.cacheBase = b.size;
        b.cacheLen = 0;
      }
    }
    if (b.cache.length - b.cacheLen < rlen) {
      // Outgrown its first 64 KiB: straight to what the block can hold. Pages of a fresh
      // buffer become resident only as they are written, so this costs no memory up front,
      // and no chain of ever larger copies (each left idle in the pool) is made per block.
      const need = b.cacheLen + rlen;
      // A cache of the block's tail only (after shedWriteCache) grows by doubling.
      const nb = blockBuffers.take(Math.max(need, b.cacheBase > 0 ? 2 * b.cache.length : BufferPool.sizeFor(this.blockSize)));
      b.cache.copy(nb, 0, 0, b.cacheLen);
      blockBuffers.give(b.cache);
      b.cache = nb;
      b.cacheView = null;
    }
    const buf = b.cache;
    let view = b.cacheView;
    if (view === null || view.buffer !== buf.buffer) {
      view = b.cacheView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    // DataView stores: TurboFan inlines them (Buffer's writeUInt32LE checks each value and
    // offset in calls of their own: a tenth of a small message's store).
    const p = b.cacheLen;
    view.setUint32(p, REC_MAGIC, true);
    view.setUint32(p + 4, rlen, true);
    view.setUint32(p + 8, 0, true);
    view.setUint32(p + 12, seq >>> 0, true);
    view.setUint32(p + 16, Math.floor(seq / TWO32), true);
    view.setBigInt64(p + 20, ts, true);
    view.setUint16(p + 28, subjLen, true);
    view.setUint16(p + 30, flags, true);
    view.setUint32(p + 32, flags & F_S2 ? packedHdrLen : hdrLen, true);
    let q = p + REC_HDR;
    if (ttl !== 0) {
      view.setFloat64(q, ttl, true);
      q += 8;
    }
    if (subjLen === subject.length) {
      // ASCII (one byte per character): copied here, where Buffer.write would call into C++
      // to encode a few dozen bytes (another tenth of a small message's store).
      for (let k = 0; k < subjLen; k++) buf[q + k] = subject.charCodeAt(k);
      q += subjLen;
    } else q += buf.write(subject, q, subjLen, "utf8");
    if (hdrLen > 0) {
      buf.set(hdr!, q);
      q += hdrLen;
    }
    if (dataLen > 0) {
      buf.set(data!, q);
      q += dataLen;
    }
    let c = crc32(buf, p, p + 8);
    c = crc32(buf, p + 12, q, c);
    buf.writeUInt32LE(c, q);
    // The record waits in the cache: the turn's appends reach the file in one write(2).
    this.lastOff = b.size;
    b.cacheLen += rlen;
    b.size += rlen;
    b.lastUse = Date.now();
    this.markDirty(b);
    if (!this.pendingWrite) {
      this.pendingWrite = true;
      setImmediate(this.writePendingLater);
    }
    return b;
  }

  private readonly writePendingLater = (): void => {
    if (this.closed) return;
    try {
      this.writePending();
      this.shedWriteCache(this.active);
    } catch (e) {
      this.log.error(`${this.tag()}: ${(e as Error).message}`);
    }
  };

  /**
   * After the turn's write: the active block's bytes stay cached for its readers only. Nobody
   * read it for cacheExpireMs (a publish-only load): the cache restarts empty at the append
   * position, as nats-server empties its write buffer without load interest. A publish load
   * then keeps what waits to be written, not the whole block (up to blockSize per stream,
   * plus the buffer it had grown out of). A reader that comes loads the block (loadCache).
   */
  private shedWriteCache(b: FileBlock): void {
    const buf = b.cache;
    if (buf === null || b.written !== b.size || this.crypto !== undefined) return;
    if (b.cacheLen <= BLK_HDR || Date.now() - b.lastRead < this.cacheExpireMs) return;
    if (buf.length > WRITE_CACHE_KEEP) {
      this.dropCache(b);
      return;
    }
    b.cacheBase = b.size;
    b.cacheLen = 0;
  }

  /**
   * Write the appends waiting in the active block's cache with one write(2). Everything that
   * reads the files or writes them elsewhere calls this first. A failed write leaves them
   * waiting (retried next time) and is thrown.
   */
  private writePending(): void {
    if (!this.pendingWrite) return;
    const b = this.active;
    if (b.written < b.size && b.cache !== null) {
      const off = b.written - b.cacheBase;
      try {
        const fd = this.openFd(b);
        if (b.size > b.allocated && this.crypto === undefined) this.preallocate(b, fd);
        this.pwrite(b, fd, b.cache, off, b.size - b.written, b.written);
      } catch (e) {
        this.writeError = new StoreError("ErrStoreWrite", `write to ${b.path} failed: ${(e as Error).message}`, b.path, { cause: e });
        throw this.writeError;
      }
      this.bytesSinceRound += b.size - b.written;
      b.written = b.size;
      if (b.allocated > 0 && this.zeroAhead && this.roundBytes < FS_BLOCK && b.size - BLK_HDR >= ZERO_AHEAD_MIN_DATA) this.writeZerosAhead(b);
    }
    this.pendingWrite = false;
    this.writeError = null;
  }

  /** Extend the active block's file ahead of its appends (see PREALLOC_MAX). */
  private preallocate(b: FileBlock, fd: number): void {
    const chunk = Math.min(PREALLOC_MAX, Math.max(PREALLOC_MIN, this.blockSize));
    const len = Math.ceil((b.size + 1) / chunk) * chunk;
    io.ftruncateSync(fd, len);
    b.allocated = len;
  }

  /**
   * Keep zeros written at least half a window ahead of the appends (see ZERO_AHEAD_MAX). Not
   * synced here: the next fdatasync of the block (a group commit) allocates them. A failure
   * (e.g. the disk is full) only costs the speed-up: the appends go into the sparse end.
   */
  private writeZerosAhead(b: FileBlock): void {
    let window = ZERO_AHEAD_MAX;
    const data = b.size - BLK_HDR;
    while (window > data) window >>>= 1;
    if (b.zeroed - b.size >= window >>> 1) return;
    const from = Math.max(b.zeroed, Math.ceil(b.size / FS_BLOCK) * FS_BLOCK);
    // past the preallocated length the zeros extend the file (nothing past the block's size)
    const to = Math.min(this.blockSize, Math.ceil((b.size + window) / FS_BLOCK) * FS_BLOCK);
    if (to <= from) return;
    zeroPage ??= Buffer.alloc(ZERO_AHEAD_MAX);
    try {
      writeFull(this.openFd(b), zeroPage, 0, to - from, from);
      b.zeroed = to;
      if (to > b.allocated) b.allocated = to;
    } catch (e) {
      b.zeroed = Math.max(b.allocated, this.blockSize);
      this.log.warn(`${this.tag()}: cannot write zeros ahead in ${b.path}: ${(e as Error).message}`);
    }
  }

  /** Cut the preallocated zeros off a block's file: a sealed or closed block ends at its last record. */
  private trimAllocated(b: FileBlock): void {
    b.zeroed = 0;
    if (b.allocated <= b.written || b.released) {
      b.allocated = 0;
      return;
    }
    try {
      io.ftruncateSync(this.openFd(b), b.written);
      b.allocated = 0;
      this.markDirty(b);
    } catch (e) {
      // harmless: recovery drops a zero tail
      this.log.warn(`${this.tag()}: cannot trim ${b.path}: ${(e as Error).message}`);
    }
  }

  private roll(): FileBlock {
    this.writePending();
    const old = this.active;
    this.trimAllocated(old);
    // The next block most likely holds about as many records as the one that just filled up.
    const b = this.createBlock(Math.max(64, old.n + (old.n >>> 3)));
    this.blocks.push(b);
    // A sealed block that consumers read lately stays hot (they read on into it): its cache
    // goes to the LRU. Nobody reading (a publish-only load): its buffer serves the next block.
    if (old.cache !== null) {
      if (old.cacheBase === 0 && old.cacheLen === old.size && Date.now() - old.lastRead < this.cacheExpireMs) {
        this.lruTouch(old);
      } else {
        this.dropCache(old);
      }
    }
    return b;
  }

  private lruLast: FileBlock | null = null;
  private lruTouch(b: FileBlock): void {
    if (this.lruLast === b && this.lru.has(b)) return;
    this.lruLast = b;
    this.lru.delete(b);
    this.lru.set(b, true);
    while (this.lru.size > this.cacheBlocks) {
      const victim = this.lru.keys().next().value as FileBlock;
      this.lru.delete(victim);
      if (victim !== this.active) this.dropCache(victim);
    }
  }

  /** Detach a block's cache; its buffer goes back to the pool (nothing else refers to it: reads are copies). */
  private dropCache(b: FileBlock): void {
    if (b.cache === null) return;
    blockBuffers.give(b.cache);
    b.cache = null;
    b.cacheView = null;
  }

  /** Read one record at off (without caching the block). */
  private preadRecord(b: FileBlock, off: number): Buffer {
    this.writePending();
    const fd = this.openFd(b);
    const want = Math.min(4096, b.size - off);
    let buf = Buffer.allocUnsafe(Math.max(want, 0));
    let got = this.pread(b, fd, buf, 0, want, off);
    if (got >= 8) {
      const rlen = buf.readUInt32LE(4);
      if (rlen > got && rlen <= REC_MAX && off + rlen <= b.size) {
        const full = Buffer.allocUnsafe(rlen);
        buf.copy(full, 0, 0, got);
        got += this.pread(b, fd, full, got, rlen - got, off + got);
        buf = full;
      }
    }
    return buf.subarray(0, got);
  }

  private loadCache(b: FileBlock): void {
    this.writePending();
    const fd = this.openFd(b);
    const size = b.size;
    const isActive = b === this.active;
    const buf = blockBuffers.take(isActive ? Math.max(size, this.blockSize) : size);
    const got = this.pread(b, fd, buf, 0, size, 0);
    if (got !== size) {
      this.log.error(`${this.tag()}: short read of ${b.path}: ${got} of ${size} bytes`);
    }
    this.dropCache(b);
    b.cache = buf;
    b.cacheBase = 0;
    b.cacheLen = got;
    b.cacheTrusted = false;
    if (!isActive) this.lruTouch(b);
  }

  // ---------------------------------------------------------------------------
  // Backend hooks

  protected appendMsg(
    seq: number,
    subj: Subj,
    hdr: Buffer | undefined,
    data: Buffer,
    ts: bigint,
    ttl: number,
    size: number,
  ): FileBlock {
    const subjLen = Buffer.byteLength(subj.subject);
    if (subjLen > 0xffff) throw new StoreError("ErrBadSubject", "subject too long");
    const hl = hdr?.length ?? 0;
    let b: FileBlock;
    const packed = this.cfg.compression === "s2" && hl + data.length >= S2_MIN ? s2EncodeBlock(hl > 0 ? Buffer.concat([hdr!, data]) : data) : undefined;
    if (packed !== undefined && packed.length < hl + data.length) {
      b = this.writeRecord(seq, ts, F_S2, subj.subject, subjLen, undefined, packed, ttl, true, hl);
    } else {
      b = this.writeRecord(seq, ts, 0, subj.subject, subjLen, hdr, data, ttl, true);
    }
    const i = b.push(seq, subj, size, ts);
    b.offs[i] = this.lastOff;
    return b;
  }

  protected appendSkip(seq: number, ts: bigint): void {
    const b = this.writeRecord(seq, ts, F_SKIP, "", 0, undefined, undefined, 0, true);
    const i = b.push(seq, null, 0, ts);
    b.offs[i] = this.lastOff;
  }

  protected appendFloor(floor: number): void {
    this.writeFloorRecord(floor, nowNs(), false);
  }

  /** Write a floor marker; index it (as seq floor-1) when that is the new last sequence. */
  private writeFloorRecord(floor: number, ts: bigint, indexed: boolean): void {
    const b = this.writeRecord(floor, ts, F_FLOOR, "", 0, undefined, undefined, 0, false);
    if (floor > b.floor) b.floor = floor;
    if (indexed && floor - 1 > 0 && (b.n === 0 || b.seqs[b.n - 1]! < floor - 1)) {
      const i = b.push(floor - 1, null, 0, ts);
      b.offs[i] = this.lastOff;
    }
  }

  protected readEntry(b: FileBlock, i: number, borrow = false): StoredMsg | null {
    // A sealed block read through to its last message by a linear scan leaves the cache once
    // the reader is in another block (as nats-server expires it): its buffer serves the next
    // block's load instead of a second one staying resident. Not before: what the last read
    // returned may be a view of it until this call.
    const done = this.scannedOut;
    if (done !== null && done !== b) {
      this.scannedOut = null;
      if (done !== this.active && done.cache !== null) {
        this.lru.delete(done);
        this.dropCache(done);
      }
    }
    const off = b.offs[i]!;
    let buf = b.cache;
    let p = off - b.cacheBase;
    let end = b.cacheLen;
    let trusted = b.cacheTrusted;
    const now = Date.now();
    if (buf === null || p < 0 || p + REC_MIN > b.cacheLen || p + u32(buf, p + 4) > b.cacheLen) {
      try {
        if (now - b.lastMiss < 1000 || b === this.active) {
          // repeated (e.g. sequential) access: cache the whole block
          this.loadCache(b);
          buf = b.cache!;
          p = off;
          end = b.cacheLen;
          trusted = false;
        } else {
          // isolated access (e.g. a KV get): read just this record
          buf = this.preadRecord(b, off);
          p = 0;
          end = buf.length;
          trusted = false;
        }
        b.lastMiss = now;
      } catch (e) {
        this.log.error(`${this.tag()}: cannot read ${b.path}: ${(e as Error).message}`);
        return null;
      }
    } else if (b !== this.active && b.cacheBase === 0) {
      this.lruTouch(b);
    }
    b.lastUse = now;
    b.lastRead = now;
    if (i === b.n - 1 && this.lastReadBlock === b && this.lastReadIdx === i - 1 && b !== this.active) this.scannedOut = b;
    this.lastReadBlock = b;
    this.lastReadIdx = i;
    const seq = b.seqAt(i);
    if (!trusted) {
      const c = checkRecord(buf, p, end);
      const bad = c !== Check.OK || recordSeq(buf, p) !== seq;
      if (bad) {
        this.log.error(
          `${this.tag()}: ${b.path} offset ${off}: ${c === Check.BAD_CRC ? "checksum mismatch" : "corrupt record"} for seq ${seq}, message lost`,
        );
        this.invalidateIdx(b);
        this.dropCorrupt(b, i);
        return null;
      }
    }
    // The record's fields read in place (a delivery path: no parsed-record object).
    const flags = u16(buf, p + 30);
    const hdrLen = u32(buf, p + 32);
    const start = p + REC_HDR + (flags & F_TTL ? 8 : 0) + u16(buf, p + 28);
    const stop = p + u32(buf, p + 4) - 4;
    let out: Buffer;
    if (flags & F_S2) {
      out = s2DecodeBlock(buf.subarray(start, stop));
    } else if (borrow) {
      // a view: the caller encodes it before its next call on this store, which is the
      // earliest the cache's buffer can go back to the pool
      out = buf.subarray(start, stop);
    } else {
      // a copy: the cache's buffer is reused once the block leaves the cache
      out = Buffer.allocUnsafe(stop - start);
      buf.copy(out, 0, start, stop);
    }
    return {
      subject: b.subj[i]!.subject,
      seq,
      time: b.ts[i]!,
      hdr: hdrLen > 0 ? out.subarray(0, hdrLen) : undefined,
      data: hdrLen > 0 ? out.subarray(hdrLen) : out,
    };
  }

  protected entryRemoved(b: FileBlock, i: number, reason: RemoveReason): void {
    if (reason === "truncate" || reason === "corrupt") return;
    if (reason === "erase") {
      this.eraseRecord(b, i);
      return;
    }
    this.pmB.push(b);
    this.pmI.push(i);
    this.pmS.push(b.seqAt(i));
  }

  protected canDropBlock(b: FileBlock): boolean {
    const last = this.active;
    return b !== last && last.n > 0;
  }

  protected releaseBlock(b: FileBlock): void {
    b.released = true;
    if (this.lastReadBlock === b) this.lastReadBlock = null;
    if (this.scannedOut === b) this.scannedOut = null;
    this.lru.delete(b);
    this.dirty.delete(b);
    b.syncDirty = false;
    this.dropCache(b);
    this.closeFd(b);
    unlinkQuiet(b.path);
    unlinkQuiet(b.idxPath);
    b.idxOnDisk = false;
    this.dirDirty = true;
  }

  protected afterRemovals(durable: boolean): void {
    if (this.pmB.length === 0) return;
    if (durable) {
      this.flushMarks();
    } else if (!this.markFlushScheduled) {
      this.markFlushScheduled = true;
      setImmediate(() => {
        this.markFlushScheduled = false;
        if (this.closed) return;
        try {
          this.flushMarks();
        } catch (e) {
          this.log.error(`${this.tag()}: writing delete marks failed: ${(e as Error).message}`);
        }
      }).unref();
    }
  }

  /** Persist pending delete marks (in place, or by rewriting a heavily hit sealed block). */
  private flushMarks(): void {
    const n = this.pmB.length;
    if (n === 0) return;
    this.writePending();
    const B = this.pmB;
    const I = this.pmI;
    const S = this.pmS;
    this.pmB = [];
    this.pmI = [];
    this.pmS = [];
    const perBlock = new Map<FileBlock, number>();
    for (let k = 0; k < n; k++) {
      const b = B[k]!;
      if (!b.released) perBlock.set(b, (perBlock.get(b) ?? 0) + 1);
    }
    const rewritten = new Set<FileBlock>();
    for (const [b, count] of perBlock) {
      if (count >= REWRITE_MARKS && b !== this.active && b.alive > 0) {
        if (this.rewriteBlock(b)) rewritten.add(b);
      }
    }
    // Marks close together in a block leave in one write of their span (the bytes between written
    // as they are: from the block's cache when it holds them, else read first): a KV bucket's puts
    // remove the previous revisions in order, one write per turn instead of one per message.
    let runBlock: FileBlock | null = null;
    let runStart = 0;
    let runEnd = 0;
    const runMarks: number[] = [];
    const writeRun = (): void => {
      const rb = runBlock;
      if (rb === null) return;
      runBlock = null;
      const len = runEnd - runStart;
      try {
        const fd = this.openFd(rb);
        const cp = runStart - rb.cacheBase;
        if (rb.cache !== null && cp >= 0 && cp + len <= rb.cacheLen) {
          for (const off of runMarks) rb.cache.writeUInt32LE(ST_DEL, off - rb.cacheBase);
          this.pwrite(rb, fd, rb.cache, cp, len, runStart);
        } else {
          const span = Buffer.allocUnsafe(len);
          if (this.pread(rb, fd, span, 0, len, runStart) !== len) throw new Error("short read");
          for (const off of runMarks) span.writeUInt32LE(ST_DEL, off - runStart);
          this.pwrite(rb, fd, span, 0, len, runStart);
          // A cache that holds part of the span gets its marks too.
          if (rb.cache !== null) {
            for (const off of runMarks) {
              const c = off - rb.cacheBase;
              if (c >= 0 && c + 4 <= rb.cacheLen) rb.cache.writeUInt32LE(ST_DEL, c);
            }
          }
        }
      } catch (e) {
        this.log.error(`${this.tag()}: cannot write delete marks in ${rb.path}: ${(e as Error).message}`);
        return;
      } finally {
        runMarks.length = 0;
      }
      this.markDirty(rb);
    };
    for (let k = 0; k < n; k++) {
      const b = B[k]!;
      const i = I[k]!;
      if (b.released || rewritten.has(b)) continue;
      if (i >= b.n || b.seqs[i] !== S[k] || b.subj[i] !== null) continue;
      this.invalidateIdx(b);
      const off = b.offs[i]! + 8;
      if (runBlock !== b || off < runEnd || off - runEnd > MARK_RUN_GAP) {
        writeRun();
        runBlock = b;
        runStart = off;
      }
      runEnd = off + 4;
      runMarks.push(off);
    }
    writeRun();
  }

  private eraseRecord(b: FileBlock, i: number): void {
    const off = b.offs[i]!;
    try {
      this.writePending();
      const fd = this.openFd(b);
      const head = Buffer.allocUnsafe(8);
      this.pread(b, fd, head, 0, 8, off);
      const rlen = head.readUInt32LE(4);
      if (head.readUInt32LE(0) !== REC_MAGIC || rlen < REC_MIN || off + rlen > b.size) {
        throw new Error("record header unreadable");
      }
      const rec = Buffer.allocUnsafe(rlen);
      this.pread(b, fd, rec, 0, rlen, off);
      const r = parseRecord(rec, 0);
      randomFillSync(rec, r.subjStart, rlen - 4 - r.subjStart);
      rec.writeUInt32LE(ST_DEL, 8);
      let c = crc32(rec, 0, 8);
      c = crc32(rec, 12, rlen - 4, c);
      rec.writeUInt32LE(c, rlen - 4);
      this.invalidateIdx(b);
      this.pwrite(b, fd, rec, 0, rlen, off);
      const cp = off - b.cacheBase;
      if (b.cache !== null && cp >= 0 && cp + rlen <= b.cacheLen) rec.copy(b.cache, cp);
      this.markDirty(b);
    } catch (e) {
      this.log.error(`${this.tag()}: erase of seq ${b.seqs[i]} in ${b.path} failed (${(e as Error).message}); marking deleted`);
      this.pmB.push(b);
      this.pmI.push(i);
      this.pmS.push(b.seqAt(i));
    }
  }

  /**
   * Rewrite a sealed block with only its live records (temp file, fsync, rename).
   * Returns false (block untouched) on failure.
   */
  private rewriteBlock(b: FileBlock): boolean {
    if (b.released || b === this.active) return false;
    let src: Buffer;
    try {
      if (b.cache === null || b.cacheBase !== 0 || b.cacheLen !== b.size) this.loadCache(b);
      src = b.cache!;
    } catch (e) {
      this.log.error(`${this.tag()}: cannot read ${b.path} for compaction: ${(e as Error).message}`);
      return false;
    }
    const live: number[] = [];
    let total = BLK_HDR;
    for (let i = 0; i < b.n; i++) {
      if (b.subj[i] === null) continue;
      live.push(i);
      total += src.readUInt32LE(b.offs[i]! + 4);
    }
    const out = Buffer.allocUnsafe(total);
    BLK_MAGIC.copy(out, 0);
    const newOffs = new Uint32Array(Math.max(live.length, 16));
    let p = BLK_HDR;
    for (let k = 0; k < live.length; k++) {
      const off = b.offs[live[k]!]!;
      const rlen = src.readUInt32LE(off + 4);
      src.copy(out, p, off, off + rlen);
      newOffs[k] = p;
      p += rlen;
    }
    const tmp = `${b.path}.tmp`;
    // Encrypted: the new file gets a new nonce (a keystream is never reused for other bytes).
    let nonce: Buffer | null = null;
    if (this.crypto !== undefined) {
      nonce = StreamCrypto.blockNonce(BLK_MAGIC);
      this.crypto.blockStream(b.id, nonce, BLK_HDR).xor(out, BLK_HDR, total - BLK_HDR);
      nonce.copy(out, 0);
    }
    try {
      this.invalidateIdx(b);
      const fd = io.openSync(tmp, "w");
      try {
        writeFull(fd, out, 0, total, 0);
        io.fsyncSync(fd);
      } finally {
        io.closeSync(fd);
      }
      this.closeFd(b);
      if (b.fd >= 0) {
        // an fsync is in flight on the old file; retry later
        unlinkQuiet(tmp);
        return false;
      }
      io.renameSync(tmp, b.path);
      fsyncDir(this.msgsDir);
    } catch (e) {
      unlinkQuiet(tmp);
      this.log.error(`${this.tag()}: compaction of ${b.path} failed: ${(e as Error).message}`);
      return false;
    }
    // rebuild the index arrays with the live entries only
    const m = live.length;
    const seqs = new Float64Array(Math.max(m, 16));
    const sizes = new Uint32Array(Math.max(m, 16));
    const ts = new BigInt64Array(Math.max(m, 16));
    const subj: (Subj | null)[] = [];
    for (let k = 0; k < m; k++) {
      const i = live[k]!;
      seqs[k] = b.seqAt(i);
      sizes[k] = b.sizes[i]!;
      ts[k] = b.ts[i]!;
      subj.push(b.subj[i]!);
    }
    b.seqs = seqs;
    b.sizes = sizes;
    b.ts = ts;
    b.offs = newOffs;
    b.subj = subj;
    b.n = m;
    b.lo = 0;
    b.size = total;
    b.written = total;
    b.allocated = 0;
    b.zeroed = 0;
    b.floor = 0;
    this.dirty.delete(b);
    b.syncDirty = false;
    if (nonce !== null) {
      // `out` holds the encrypted bytes: the cache is re-read (and decrypted) on next use.
      b.nonce = nonce;
      b.appendStream = undefined;
      this.dropCache(b);
      this.lru.delete(b);
      return true;
    }
    this.dropCache(b);
    b.cache = out;
    b.cacheBase = 0;
    b.cacheLen = total;
    b.cacheTrusted = true;
    this.lruTouch(b);
    return true;
  }

  protected resetStorage(old: FileBlock[]): void {
    // the old blocks go away: their waiting appends with them
    this.pendingWrite = false;
    this.pmB = [];
    this.pmI = [];
    this.pmS = [];
    const nb = this.createBlock();
    this.blocks = [nb];
    if (this.lastSeq > 0) {
      this.writeFloorRecord(this.lastSeq + 1, this.lastTime, true);
    }
    if (this.syncAlways) {
      try {
        io.fsyncSync(nb.fd);
      } catch (e) {
        this.log.error(`${this.tag()}: fsync of ${nb.path} failed: ${(e as Error).message}`);
      }
      fsyncDir(this.msgsDir);
    }
    for (const b of old) this.releaseBlock(b);
  }

  protected truncateStorage(seq: number, lastTime: bigint): void {
    this.writePending();
    this.flushMarks();
    while (this.blocks.length > 1) {
      const b = this.active;
      if (b.n === 0 || b.seqs[0]! > seq) {
        this.blocks.pop();
        this.releaseBlock(b);
      } else break;
    }
    const b = this.active;
    // keep the record of seq only if it is a live message; otherwise a skip marker below
    // records the new last sequence and time
    const at = b.find(seq);
    const live = at >= 0 && b.subj[at] !== null;
    const k = live ? at + 1 : b.lowerBound(seq);
    if (k < b.n) {
      const cutOff = b.offs[k]!;
      this.invalidateIdx(b);
      try {
        io.ftruncateSync(this.openFd(b), cutOff);
      } catch (e) {
        throw new StoreError("ErrStoreWrite", `truncate of ${b.path} failed: ${(e as Error).message}`, b.path, { cause: e });
      }
      b.cut(k);
      b.size = cutOff;
      b.written = cutOff;
      b.allocated = 0;
      b.zeroed = 0;
      if (b.cache !== null) {
        if (b.cacheBase <= cutOff && b.cacheBase + b.cacheLen > cutOff) b.cacheLen = cutOff - b.cacheBase;
        else if (b.cacheBase > cutOff) this.dropCache(b);
      }
      this.lru.delete(b);
      this.markDirty(b);
    }
    this.openFd(b);
    if (!live) this.appendSkip(seq, lastTime);
  }

  // ---------------------------------------------------------------------------
  // Index files

  private writeIdx(b: FileBlock): void {
    if (b.released) return;
    const subIdx = new Map<string, number>();
    const subs: Buffer[] = [];
    let subBytes = 0;
    for (let i = 0; i < b.n; i++) {
      const s = b.subj[i];
      if (s && !subIdx.has(s.subject)) {
        subIdx.set(s.subject, subs.length);
        const sb = Buffer.from(s.subject, "utf8");
        subs.push(sb);
        subBytes += 2 + sb.length;
      }
    }
    const total = 32 + subBytes + b.n * IDX_ENTRY + 4;
    const buf = Buffer.allocUnsafe(total);
    IDX_MAGIC.copy(buf, 0);
    buf.writeDoubleLE(b.size, 8);
    buf.writeUInt32LE(b.n, 16);
    buf.writeDoubleLE(b.floor, 20);
    buf.writeUInt32LE(subs.length, 28);
    let p = 32;
    for (const sb of subs) {
      buf.writeUInt16LE(sb.length, p);
      sb.copy(buf, p + 2);
      p += 2 + sb.length;
    }
    for (let i = 0; i < b.n; i++, p += IDX_ENTRY) {
      const s = b.subj[i];
      const seq = b.seqAt(i);
      buf.writeDoubleLE(seq, p);
      buf.writeUInt32LE(b.offs[i]!, p + 8);
      buf.writeUInt32LE(b.sizes[i]!, p + 12);
      buf.writeBigInt64LE(b.ts[i]!, p + 16);
      buf.writeInt32LE(s ? subIdx.get(s.subject)! : -1, p + 24);
      const ttl = s && b.ttls !== null ? b.ttls.get(seq) ?? 0 : 0;
      buf.writeDoubleLE(ttl, p + 28);
    }
    buf.writeUInt32LE(crc32(buf, 0, p), p);
    try {
      writeFileAtomic(b.idxPath, sealed(this.sealer(`msgs/${b.id}.idx`), buf), false);
      b.idxOnDisk = true;
    } catch (e) {
      this.log.warn(`${this.tag()}: cannot write index ${b.idxPath}: ${(e as Error).message}`);
    }
  }

  // ---------------------------------------------------------------------------
  // Sync

  flush(): void {
    // the turn's appends and pending delete marks reach the kernel (consumers flush on their own)
    if (this.closed) return;
    this.writePending();
    this.flushMarks();
  }

  sync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.writePending();
    this.flushMarks();
    // also what needs no ack: block files released or created, marks written
    if (this.dirDirty || this.dirty.size > 0) this.commit.noteWrite();
    return new Promise<void>((resolve, reject) => this.commit.whenDurable((err) => (err === null ? resolve() : reject(err))));
  }

  /**
   * Everything written so far durable before returning (blocking fsyncs of the blocks written
   * and of the directory): for a reset that must not come back after a power cut, as a
   * replicated stream's copy discarded as damaged (stream_replica.ts) is, at start.
   */
  syncBlocking(): void {
    if (this.closed) return;
    this.writePending();
    this.flushMarks();
    for (const b of this.blocks) if (b.fd >= 0) io.fsyncSync(b.fd);
    fsyncDir(this.msgsDir);
  }

  syncPending(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.whenDurable((err) => (err === null ? resolve() : reject(err))));
  }

  /**
   * Call `cb` once what was stored so far may be acknowledged: fsynced (modes "acks" and
   * "always", in a group commit shared with every other caller of this turn or of the time an
   * fsync is in flight), or written to the kernel (interval mode, at once). `cb` gets the
   * error when the write or fsync failed.
   */
  whenDurable(cb: (err: Error | null) => void): void {
    if (this.closed) {
      cb(null);
      return;
    }
    if (this.syncMode === "interval") {
      try {
        this.writePending();
      } catch (e) {
        cb(e as Error);
        return;
      }
      cb(null);
      return;
    }
    this.commit.whenDurable(cb);
  }

  /** fsync rounds run so far (statistics: acknowledged messages per fsync). */
  get syncRounds(): number {
    return this.commit.rounds;
  }

  /**
   * One group-commit round: write what waits, fdatasync every block written since its last
   * sync. A block (or the directory) whose fsync from an earlier round is still in flight is
   * synced again: this round must not report it durable before that fsync is done, and an
   * fsync covers every write made before it is called.
   */
  private syncRound(done: (err: Error | null) => void): void {
    try {
      this.writePending();
    } catch (e) {
      done(e as Error);
      return;
    }
    this.roundBytes += (this.bytesSinceRound - this.roundBytes) / 8;
    this.bytesSinceRound = 0;
    const blocks = this.dirty;
    this.dirty = this.spareDirty;
    this.spareDirty = blocks;
    for (const b of this.syncingBlocks) blocks.add(b);
    const dir = this.dirDirty || this.dirSyncsInFlight > 0;
    this.dirDirty = false;
    let pending = 1;
    let failure: Error | null = null;
    const finish = (): void => {
      if (--pending > 0) return;
      if (failure !== null) this.log.error(`${this.tag()}: fsync failed: ${failure.message}`);
      done(failure === null ? null : new StoreError("ErrStoreWrite", `fsync failed: ${failure.message}`));
    };
    for (const b of blocks) {
      b.syncDirty = false;
      if (b.released) continue;
      let fd: number;
      try {
        fd = this.openFd(b);
      } catch (e) {
        failure = e as Error;
        continue;
      }
      pending++;
      if (b.inflight++ === 0) this.syncingBlocks.add(b);
      io.fdatasync(fd, (err) => {
        if (--b.inflight === 0) {
          this.syncingBlocks.delete(b);
          if (b.closePending) this.closeFd(b);
        }
        if (err && !b.released) {
          failure = err;
          this.markSyncDirty(b);
        }
        finish();
      });
    }
    blocks.clear();
    if (dir) {
      // new or removed block files: their directory entries
      let fd = -1;
      try {
        fd = io.openSync(this.msgsDir, "r");
      } catch {
        // some platforms cannot open directories
      }
      if (fd >= 0) {
        pending++;
        this.dirSyncsInFlight++;
        io.fdatasync(fd, () => {
          this.dirSyncsInFlight--;
          try {
            io.closeSync(fd);
          } catch {
            // ignore
          }
          finish();
        });
      }
    }
    finish();
  }

  private periodicSync(): void {
    if (this.closed) return;
    try {
      this.writePending();
      this.flushMarks();
    } catch (e) {
      this.log.error(`${this.tag()}: ${(e as Error).message}`);
    }
    if (this.dirDirty || this.dirty.size > 0) this.commit.noteWrite();
    this.commit.whenDurable((err) => {
      if (this.closed || err !== null) return;
      // sealed blocks modified since their index was written get a fresh index
      for (const b of this.blocks) {
        if (b !== this.active && !b.idxOnDisk && !b.syncDirty) this.writeIdx(b);
      }
    });
    // consumer state written since its last fsync is fsynced now (in "always" mode it always is)
    if (!this.syncAlways) for (const c of this.consumers.values()) c.syncIfWritten();
  }

  private maintenance(): void {
    if (this.closed) return;
    const now = Date.now();
    const active = this.active;
    let compacted = false;
    let dropped = 0;
    for (const b of this.blocks) {
      const idle = now - b.lastUse > this.cacheExpireMs;
      if (idle && b.cache !== null && b.written === b.size) {
        this.dropCache(b);
        this.lru.delete(b);
      }
      if (b !== active && idle && b.fd >= 0 && !b.syncDirty && b.inflight === 0) this.closeFd(b);
      // a stream no longer busy gives its written zeros back (appends extend the file again)
      if (b === active && idle && b.zeroed > 0 && !this.pendingWrite) this.trimAllocated(b);
      // reclaim space of mostly-deleted sealed blocks (one per tick)
      if (!compacted && b !== active && b.alive > 0 && b.size > 65536) {
        const liveBytes = b.aliveBytes + b.alive * 24;
        if (liveBytes * 2 < b.size) {
          this.flushMarks();
          compacted = this.rewriteBlock(b);
          if (compacted && idle) {
            this.dropCache(b);
            this.lru.delete(b);
          }
        }
      }
      // an idle sealed block's index goes (loaded again on its next use)
      if (b !== active && !b.unloaded && now - b.lastUse > this.indexExpireMs && now - b.indexUse > this.indexExpireMs) {
        const n = b.n;
        this.dropIndex(b);
        if (b.unloaded) dropped += n;
      }
    }
    if (dropped > 0) indexesDropped(dropped * INDEX_ENTRY_BYTES);
  }

  /**
   * Drop the per-message index of an idle sealed block (nats-server likewise drops a block's
   * cache and per-subject state when idle): an idle stream's memory no longer grows with its
   * message count. Only a block whose .idx on disk says exactly what the memory does (written
   * now if needed; no delete marks waiting) is dropped, so loading it back is exact.
   */
  private dropIndex(b: FileBlock): void {
    if (b.n === 0 || b.released || b.inflight > 0 || b.written !== b.size || b.allocated > b.size || this.pmB.length > 0) return;
    if (b.syncDirty) {
      // its .idx may only describe what is fsynced: ask for the sync round (removals made it
      // dirty; in "acks" mode nothing else would run one before the 2-minute periodic sync),
      // the next sweep drops it
      if (!this.idleSyncAsked && this.syncMode !== "interval") {
        this.idleSyncAsked = true;
        this.commit.noteWrite();
        this.commit.whenDurable(() => {
          this.idleSyncAsked = false;
        });
      }
      return;
    }
    if (!b.idxOnDisk) this.writeIdx(b);
    if (!b.idxOnDisk) return;
    if (this.lastReadBlock === b) this.lastReadBlock = null;
    if (this.scannedOut === b) this.scannedOut = null;
    b.loader = this.indexLoader;
    b.unload();
  }

  /**
   * Load a dropped index back: from the block's .idx when it is intact and matches what was
   * dropped (length of the block, entries, first/last sequence, live messages), else from a
   * scan of the block file (checksums verified, nothing changed on disk). Entries take their
   * subjects from the subject index, which was kept.
   */
  private reloadIndex(b: FileBlock): void {
    const first = b.first;
    const last = b.last;
    const tmp = new FileBlock(b.id, this.msgsDir, 0);
    let l: Loaded = { b: tmp, names: [], ttls: new Map(), maxSeq: first - 1, maxTs: 0n };
    let ok = b.idxOnDisk && this.loadIdx(l, first - 1);
    if (ok && (tmp.size !== b.size || !this.sameEntries(b, tmp, l.names, first, last))) {
      this.log.warn(`${this.tag()}: index ${b.idxPath} does not match block ${b.id}, rebuilding it from the block`);
      ok = false;
    }
    if (!ok) {
      b.idxOnDisk = false;
      const scratch = new FileBlock(b.id, this.msgsDir, b.n);
      l = { b: scratch, names: [], ttls: new Map(), maxSeq: first - 1, maxTs: 0n };
      const lost = this.lostSeqs.length;
      const lostBytes = this.lostBytes;
      this.reloading = true;
      try {
        this.scanBlock(l, first - 1);
      } finally {
        this.reloading = false;
        // what the scan finds damaged is dropped on read (readEntry), as with any loaded index
        this.lostSeqs.length = lost;
        this.lostBytes = lostBytes;
      }
      if (scratch.size !== b.size || !this.sameEntries(b, scratch, l.names, first, last)) {
        this.log.error(
          `${this.tag()}: block ${b.path} changed while its index was not in memory (${scratch.n} entries, ${b.n} expected): its index is rebuilt from what the block holds`,
        );
        this.damageFound.push(`${b.path}: changed while its index was dropped`);
      }
      l.b = scratch;
    }
    const t = l.b;
    const names = l.names;
    const subj = new Array<Subj | null>(t.n).fill(null);
    for (let i = 0; i < t.n; i++) {
      const name = names[i];
      if (name !== null && name !== undefined) subj[i] = this.subjects.get(name) ?? null;
    }
    b.n = t.n;
    if (b.lo > t.n) b.lo = t.n;
    b.adopt(t, subj);
    b.indexUse = Date.now();
  }

  /** @internal Sealed blocks whose index is not in memory now (tests, benchmarks). */
  droppedIndexes(): number {
    let n = 0;
    for (const b of this.blocks) if (b.unloaded) n++;
    return n;
  }

  /** @internal Sealed blocks that hold entries (the most droppedIndexes() can reach). */
  sealedBlocks(): number {
    let n = 0;
    const active = this.active;
    for (const b of this.blocks) if (b !== active && b.n > 0) n++;
    return n;
  }

  /** @internal Drop every sealed block's index that can be, idle or not (tests). */
  dropIndexesNow(): number {
    this.flushMarks();
    const active = this.active;
    for (const b of this.blocks) if (b !== active && !b.unloaded) this.dropIndex(b);
    return this.droppedIndexes();
  }

  /** Does a rebuilt index t hold what block b held when dropped? (n, first/last, live count) */
  private sameEntries(b: FileBlock, t: FileBlock, names: (string | null)[], first: number, last: number): boolean {
    if (t.n !== b.n || t.n === 0 || t.first !== first || t.last !== last) return false;
    let alive = 0;
    for (let i = 0; i < t.n; i++) if (names[i] !== null && names[i] !== undefined) alive++;
    return alive === b.alive;
  }

  // ---------------------------------------------------------------------------
  // Consumers

  private consumerDir(name: string): string {
    checkName("consumer", name);
    return join(this.dir, "obs", name);
  }

  createConsumer(name: string, config: unknown): ConsumerStore {
    this.checkOpen();
    const dir = this.consumerDir(name);
    const open = this.consumers.get(name);
    if (open) {
      open.updateConfig(config);
      return open;
    }
    let read: { state: ConsumerState; mark: number | undefined } = { state: emptyConsumerState(), mark: undefined };
    let created = rfc3339(nowNs());
    if (io.existsSync(join(dir, "meta.json"))) {
      const m = readMetaFile(join(dir, "meta.json"), this.sealer(`obs/${name}/meta.json`));
      created = m.created;
      read = FileConsumerStore.readState(dir, this.log, this.sealer(`obs/${name}/o.dat`));
    }
    const state = read.state;
    mkdirDurable(dir);
    writeMeta(join(dir, "meta.json"), META_VERSION, created, config, undefined, this.sealer(`obs/${name}/meta.json`));
    const c = new FileConsumerStore(this, name, dir, config, created, state, this.syncAlways, this.log, read.mark);
    if (!io.existsSync(join(dir, "o.dat"))) c.update(state);
    this.consumers.set(name, c);
    return c;
  }

  openConsumer(name: string): ConsumerStore {
    this.checkOpen();
    const open = this.consumers.get(name);
    if (open) return open;
    const dir = this.consumerDir(name);
    const metaPath = join(dir, "meta.json");
    if (!io.existsSync(metaPath)) {
      if (io.existsSync(join(dir, "o.dat"))) throw new ErrCorruptMeta(metaPath, "missing (state exists)");
      throw new StoreError("ErrNotFound", `consumer ${name} not found`, dir);
    }
    const m = readMetaFile(metaPath, this.sealer(`obs/${name}/meta.json`));
    const { state, mark } = FileConsumerStore.readState(dir, this.log, this.sealer(`obs/${name}/o.dat`));
    const c = new FileConsumerStore(this, name, dir, m.config, m.created, state, this.syncAlways, this.log, mark);
    this.consumers.set(name, c);
    return c;
  }

  listConsumers(): string[] {
    return io.listDirs(join(this.dir, "obs")).filter((n) => io.existsSync(join(this.dir, "obs", n, "meta.json")));
  }

  /** @internal */
  forgetConsumer(name: string): void {
    this.consumers.delete(name);
  }

  // ---------------------------------------------------------------------------
  // Lifecycle

  stop(): void {
    if (this.closed) return;
    for (const c of Array.from(this.consumers.values())) c.stop();
    try {
      this.writePending();
      this.flushMarks();
    } catch (e) {
      this.log.error(`${this.tag()}: ${(e as Error).message}`);
    }
    this.closeCore();
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.maintTimer) clearInterval(this.maintTimer);
    if (this.pendingWrite === false) this.trimAllocated(this.active);
    for (const b of this.blocks) {
      if (b.fd >= 0 && (b.syncDirty || b.inflight > 0)) {
        try {
          io.fsyncSync(b.fd);
        } catch (e) {
          this.log.error(`${this.tag()}: fsync of ${b.path} failed: ${(e as Error).message}`);
        }
      }
    }
    if (this.dirDirty || this.dirSyncsInFlight > 0) fsyncDir(this.msgsDir);
    this.dirty.clear();
    this.dirDirty = false;
    for (const b of this.blocks) {
      if (!b.idxOnDisk) this.writeIdx(b);
      this.closeFd(b);
      this.dropCache(b);
    }
    this.lru.clear();
    // everything was fsynced above: acks waiting for it may go
    this.commit.markAllDurable();
  }

  delete(): void {
    if (!this.closed) {
      for (const c of Array.from(this.consumers.values())) c.stop();
      this.closeCore();
      if (this.syncTimer) clearInterval(this.syncTimer);
      if (this.maintTimer) clearInterval(this.maintTimer);
      for (const b of this.blocks) this.closeFd(b);
      this.commit.failAll(new StoreError("ErrStoreClosed", "stream store deleted"));
    }
    this.consumers.clear();
    io.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Consumer store

const CONSUMER_MIN_WRITE_MS = 20;

export class FileConsumerStore implements ConsumerStore {
  markSource: (() => number) | undefined;
  readonly recoveredMark: number | undefined;
  private cur: ConsumerState;
  private cfg: unknown;
  private dirty = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private lastWrite = DOUBLE_ZERO;
  private closed = false;
  /** o.dat, kept open and appended to. */
  private readonly stateLog: StateLog;

  constructor(
    private readonly parent: FileStore,
    readonly name: string,
    private readonly dir: string,
    config: unknown,
    private readonly created: string,
    state: ConsumerState,
    private readonly syncAlways: boolean,
    private readonly log: { error(m: string): void; warn(m: string): void },
    recoveredMark?: number,
  ) {
    this.cfg = config;
    this.cur = state;
    this.recoveredMark = recoveredMark;
    this.stateLog = new StateLog(join(dir, "o.dat"));
  }

  /** A state record; `mark` (a replicated consumer's group log index) follows the redelivered counts when given. */
  static encode(s: ConsumerState, mark?: number): Buffer {
    const np = s.pending.size;
    const nr = s.redelivered.size;
    const buf = Buffer.allocUnsafe(8 + 32 + 4 + np * 24 + 4 + nr * 12 + (mark !== undefined ? 8 : 0) + 4);
    CS_MAGIC.copy(buf, 0);
    buf.writeDoubleLE(s.delivered.consumer_seq, 8);
    buf.writeDoubleLE(s.delivered.stream_seq, 16);
    buf.writeDoubleLE(s.ack_floor.consumer_seq, 24);
    buf.writeDoubleLE(s.ack_floor.stream_seq, 32);
    buf.writeUInt32LE(np, 40);
    let p = 44;
    for (const [sseq, e] of s.pending) {
      buf.writeDoubleLE(sseq, p);
      buf.writeDoubleLE(e.sequence, p + 8);
      buf.writeDoubleLE(e.timestamp, p + 16);
      p += 24;
    }
    buf.writeUInt32LE(nr, p);
    p += 4;
    for (const [sseq, n] of s.redelivered) {
      buf.writeDoubleLE(sseq, p);
      buf.writeUInt32LE(n >>> 0, p + 8);
      p += 12;
    }
    if (mark !== undefined) {
      buf.writeDoubleLE(mark, p);
      p += 8;
    }
    buf.writeUInt32LE(crc32(buf, 0, p), p);
    return buf;
  }

  static decode(buf: Buffer): ConsumerState {
    return FileConsumerStore.decodeMarked(buf).state;
  }

  static decodeMarked(buf: Buffer): { state: ConsumerState; mark: number | undefined } {
    if (buf.length < 52 || !buf.subarray(0, 8).equals(CS_MAGIC)) throw new Error("bad magic");
    if (crc32(buf, 0, buf.length - 4) !== buf.readUInt32LE(buf.length - 4)) throw new Error("checksum mismatch");
    const s = emptyConsumerState();
    s.delivered.consumer_seq = buf.readDoubleLE(8);
    s.delivered.stream_seq = buf.readDoubleLE(16);
    s.ack_floor.consumer_seq = buf.readDoubleLE(24);
    s.ack_floor.stream_seq = buf.readDoubleLE(32);
    const np = buf.readUInt32LE(40);
    let p = 44;
    if (p + np * 24 + 8 > buf.length) throw new Error("bad length");
    for (let k = 0; k < np; k++, p += 24) {
      const e: PendingEntry = { sequence: buf.readDoubleLE(p + 8), timestamp: buf.readDoubleLE(p + 16) };
      s.pending.set(buf.readDoubleLE(p), e);
    }
    const nr = buf.readUInt32LE(p);
    p += 4;
    const marked = p + nr * 12 + 12 === buf.length;
    if (p + nr * 12 + 4 !== buf.length && !marked) throw new Error("bad length");
    for (let k = 0; k < nr; k++, p += 12) s.redelivered.set(buf.readDoubleLE(p), buf.readUInt32LE(p + 8));
    return { state: s, mark: marked ? buf.readDoubleLE(p) : undefined };
  }

  /**
   * Load o.dat (a state log: the last record that checks out). A file with no valid state is
   * kept aside (o.dat.corrupt-<ms>) and an empty state returned; a torn or damaged tail is
   * dropped (the state before it is used) with a warning.
   */
  static readState(dir: string, log: { error(m: string): void; warn(m: string): void }, sealer?: FileSealer): { state: ConsumerState; mark: number | undefined } {
    const path = join(dir, "o.dat");
    let content;
    try {
      content = StateLog.read(path);
    } catch (e) {
      log.error(`consumer state ${path} unreadable (${(e as Error).message}), starting empty`);
      return { state: emptyConsumerState(), mark: undefined };
    }
    if (content === undefined) return { state: emptyConsumerState(), mark: undefined };
    try {
      if (content.payload === undefined) throw new Error("checksum mismatch: no valid record");
      const st = FileConsumerStore.decodeMarked(opened(sealer, path, content.payload));
      if (content.droppedBytes > 0) log.warn(`consumer state ${path}: dropped a torn or damaged tail of ${content.droppedBytes} bytes after record ${content.records}`);
      return st;
    } catch (e) {
      const aside = `${path}.corrupt-${Date.now()}`;
      log.error(`consumer state ${path} unreadable (${(e as Error).message}); moved to ${aside}, starting empty`);
      try {
        io.renameSync(path, aside);
      } catch {
        // leave it
      }
      return { state: emptyConsumerState(), mark: undefined };
    }
  }

  /** The state a state file holds (tests and tools; throws when it holds none). */
  static readStateFile(path: string, sealer?: FileSealer): ConsumerState {
    const content = StateLog.read(path);
    if (content?.payload === undefined) throw new Error(`${path}: no consumer state`);
    return FileConsumerStore.decode(opened(sealer, path, content.payload));
  }

  config(): unknown {
    return this.cfg;
  }

  updateConfig(config: unknown): void {
    this.cfg = config;
    writeMeta(join(this.dir, "meta.json"), META_VERSION, this.created, config, undefined, this.parent.sealer(`obs/${this.name}/meta.json`));
  }

  update(state: ConsumerState): void {
    if (this.closed) throw new StoreError("ErrStoreClosed", "consumer store is closed");
    this.cur = state;
    this.dirty = true;
    if (this.timer !== null) return;
    const wait = this.lastWrite + CONSUMER_MIN_WRITE_MS - Date.now();
    if (wait <= 0) {
      const im = setImmediate(() => this.timedWrite());
      im.unref();
      this.timer = im;
    } else {
      const t = setTimeout(() => this.timedWrite(), wait);
      t.unref();
      this.timer = t;
    }
  }

  private timedWrite(): void {
    this.timer = null;
    if (this.closed) return;
    try {
      this.flush();
    } catch (e) {
      this.log.error(`consumer ${this.name}: writing state failed: ${(e as Error).message}`);
    }
  }

  state(): ConsumerState {
    return cloneConsumerState(this.cur);
  }

  /** Append the current state to o.dat (one write; fsynced in "always" mode). */
  private writeState(durable: boolean): void {
    this.stateLog.append(sealed(this.parent.sealer(`obs/${this.name}/o.dat`), FileConsumerStore.encode(this.cur, this.markSource?.())), durable);
    this.dirty = false;
    this.lastWrite = Date.now();
  }

  flush(): void {
    if (!this.dirty || this.closed) return;
    this.writeState(this.syncAlways);
  }

  /** The stream's periodic sync: state written without fsync since the last one is fsynced now. */
  syncIfWritten(): void {
    if (this.closed) return;
    try {
      if (this.dirty) this.writeState(false);
      if (this.stateLog.dirty) this.stateLog.sync();
    } catch (e) {
      this.log.error(`consumer ${this.name}: writing state failed: ${(e as Error).message}`);
    }
  }

  async sync(): Promise<void> {
    if (this.closed) return;
    this.writeState(true);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = null;
    }
  }

  stop(): void {
    if (this.closed) return;
    this.clearTimer();
    try {
      if (this.dirty) this.writeState(true);
      else if (this.stateLog.dirty) this.stateLog.sync();
    } catch (e) {
      this.log.error(`consumer ${this.name}: writing state failed: ${(e as Error).message}`);
    }
    this.stateLog.close();
    this.closed = true;
    this.parent.forgetConsumer(this.name);
  }

  delete(): void {
    this.clearTimer();
    this.stateLog.close();
    this.closed = true;
    this.parent.forgetConsumer(this.name);
    io.rmSync(this.dir, { recursive: true, force: true });
  }
}
