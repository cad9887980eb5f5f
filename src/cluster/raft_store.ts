// The persistent state of one RAFT group member: its log, its latest snapshot, and its term and
// vote. Everything carries a checksum, and what cannot be trusted is reported, never used.
//
// FILES (in the group's RaftDisk)
//   seg-<first index, 16 hex>.log   log segments. A segment is preallocated to its full size
//       (sparse) when created, and that size is made durable before any record goes in, so a
//       segment that is shorter than its header says was truncated after the fact. Header (64
//       bytes): "TSNRAFT1", u32 size, u32 0, u64 first index, u32 CRC32 of the 24 bytes before,
//       4 bytes 0, then two watermark slots of 16 bytes (u64 index, u32 sequence, u32 CRC32 of
//       those 12 bytes and the first index), written alternately at the start of each sync with
//       the index the previous sync made durable: the log must reach it, and a record up to it
//       that fails its checksum was synced (damage), while one after it may be a torn write.
//       Then records, each (little endian):
//         0 u32 record length   4 u32 CRC32 of bytes [8, length)
//         8 u64 index           16 u64 term        24 u8 type, 3 bytes 0     28 data
//       and zeros after the last one. A full segment ends with a SEAL record (its last index),
//       written only once the next segment is durable: a sealed segment without a successor,
//       or an unsealed one that is not the last, is damage.
//   snapshot.dat   "TSNSNAP1", u32 version, u32 0, u64 index, u64 term, u32 config length,
//       config (JSON), u32 data length, data, u32 CRC32 of everything before. Replaced
//       atomically (temp file, fsync, rename, fsync of the directory).
//   state.a / state.b   term, vote, commit index, incarnation and a sequence number, with a
//       CRC32. Written alternately: a torn or flipped copy leaves the other one.
//   repair.pending   present while the member is damaged and not yet repaired (the reasons, one
//       a line): made durable before a damaged log is cut, reported again at every open. When
//       the log was intact and discarded with the state machine's copy, or one record of its
//       last segment fails its checksum while the records after it still chain to its end, a
//       line "vote floor: term T index I" keeps where that log ended (see LogPosition).
//
// DURABILITY   append/truncate/setState put bytes in the kernel (pwrite); `sync` makes all of
//   it durable with one fdatasync per file touched (group commit: callers during a sync share
//   the next one). The RAFT node answers an append, or grants a vote, only after that.
//
// DAMAGE   `open` verifies every record, the segments' sizes and continuity, the snapshot and the
//   state copies. A record after the watermark that fails its checksum at the very end of the
//   log, followed by zeros only, is a write torn by a power loss: it was never synced, so never
//   acknowledged, and is dropped quietly. Anything else that does not verify is damage: the log is cut before it
//   (a bad snapshot discards the log too, as it has no base) and `damaged` says why. A damaged
//   member must not lead until a leader has repaired it, and votes only by a vote floor (raft.ts).
import { readU64LE } from "../server/small_int.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";
import { objectArray } from "../server/object_array.js";
import { crc32 } from "../storage/crc32.js";
import type { RaftDisk } from "./raft_disk.js";

export const ENTRY_NORMAL = 0;
export const ENTRY_NOOP = 1;
export const ENTRY_CONFIG = 2;
/** Closes a full segment (never part of the log). */
const ENTRY_SEAL = 255;

/** Who votes, and who only follows (a new replica catching up before it votes). */
export interface RaftConfig {
  voters: string[];
  learners: string[];
}

/** One log entry. `rec` is its record, as on disk and on the wire; `data` is a view into it. */
export interface RaftEntry {
  readonly index: number;
  readonly term: number;
  readonly type: number;
  readonly data: Buffer;
  readonly rec: Buffer;
  /** The record's length (rec.length, without making the view). */
  readonly size: number;
  /**
   * The buffer holding the record, at `recOff` (rec without the view): records proposed one
   * after the other share a slab, and a follower's come in one buffer per append, so runs of
   * adjacent records are written and sent as one range (recordRuns).
   */
  readonly recBuf: Buffer;
  readonly recOff: number;
}

export interface RaftHardState {
  term: number;
  vote: string;
  commit: number;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  config: RaftConfig;
}

export const REC_HDR = 28;
const NO_BUFFERS: readonly Buffer[] = Object.freeze([]);
/** fdatasync rounds of one store running at once (Node's thread pool has 4 threads, shared). */
const SYNC_ROUNDS_IN_FLIGHT = 2;
/** A follower's fdatasync slower than this (ms) is not run on the event loop for a while (RaftStore.startSync). */
const INLINE_SYNC_MAX_MS = 2;
const INLINE_SYNC_BACKOFF = 64;
const SEG_HDR = 64;
const MARK_OFF = 32;
const SEG_MAGIC = Buffer.from("TSNRAFT1", "latin1");
const SNAP_MAGIC = Buffer.from("TSNSNAP1", "latin1");
const STATE_MAGIC = Buffer.from("TSNSTATE", "latin1");
const STATE_SIZE = 128;
const MAX_VOTE_LEN = 64;
const SNAPSHOT_FILE = "snapshot.dat";
const SNAPSHOT_TMP = "snapshot.tmp";
const STATE_FILES = ["state.a", "state.b"];
/**
 * Present while this member is damaged and not yet repaired by a leader. `open` cuts a damaged
 * log (and removes what follows the damage), so the next open would find a shorter log that
 * verifies: without this mark a member restarted before its repair could vote, and lead, without
 * entries it had acknowledged. Written durably before anything damaged is removed or cut.
 */
const REPAIR_MARK = "repair.pending";
/** What `open` reports while a repair mark from an earlier start is there. */
const REPAIR_UNFINISHED = "a repair from the leader did not finish";

/**
 * Where a log ended: its last entry's term and index. A member whose intact log was discarded
 * (its state machine's copy damaged) keeps the position it had as its "vote floor": RAFT's
 * election rule only asks of a voter that the candidate's log be at least as up to date as the
 * voter's, and every entry it ever acknowledged was in that log (or in the one it has since), so
 * comparing with the larger of the two positions is the rule as if it still had everything: a
 * quorum can still elect a leader, and never one missing an entry it held. A member whose log
 * itself was damaged (entries it acknowledged may be gone, where it ended is not known) has no
 * floor and votes for nobody until repaired, unless the records after the damaged one still say
 * where it ended (endPastDamage).
 */
export interface LogPosition {
  term: number;
  index: number;
}

/** a later than b (RAFT's order of logs: the last term first, then the last index). */
export function laterPosition(a: LogPosition, b: LogPosition): boolean {
  return a.term > b.term || (a.term === b.term && a.index > b.index);
}

const FLOOR_LINE = /^vote floor: term (\d+) index (\d+)$/;

function floorLine(p: LogPosition): string {
  return `vote floor: term ${p.term} index ${p.index}`;
}

/** A repair mark's text: the reasons, and the vote floor when known. */
function readRepairMark(text: string): { reasons: string[]; floor: LogPosition | undefined } {
  const reasons: string[] = [];
  let floor: LogPosition | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = FLOOR_LINE.exec(line);
    if (m === null) reasons.push(line);
    else floor = { term: Number(m[1]), index: Number(m[2]) };
  }
  return { reasons, floor };
}

function repairMarkText(reasons: readonly string[], floor: LogPosition | undefined): Buffer {
  return Buffer.from([...reasons, ...(floor === undefined ? [] : [floorLine(floor)])].join("\n") + "\n");
}

function putU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % 0x1_0000_0000, off);
  b.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}


/**
 * An entry as the log keeps it: its record, with index, term and type read out. `data` is a view
 * made when asked (on apply): a log holds tens of thousands of entries until its next snapshot,
 * and every object each keeps is copied by the young-generation GC and then promoted.
 */
class LogEntry implements RaftEntry {
  constructor(
    readonly index: number,
    readonly term: number,
    readonly type: number,
    /** Holds the record at [recOff, recOff + size): the leader's own record, or a follower's received append (shared by its entries). */
    readonly recBuf: Buffer,
    readonly recOff: number,
    readonly size: number,
  ) {}

  get rec(): Buffer {
    return this.recOff === 0 && this.size === this.recBuf.length ? this.recBuf : this.recBuf.subarray(this.recOff, this.recOff + this.size);
  }

  get data(): Buffer {
    return this.recBuf.subarray(this.recOff + REC_HDR, this.recOff + this.size);
  }
}

/**
 * The records of `entries[from, to)` as few buffers as they allow: adjacent records of one buffer
 * (a leader's proposals in their slab, a follower's append) make one range. A turn's hundreds of
 * small records were as many iovecs of one writev (Node checks and converts each) and as many
 * copies into an append message.
 */
export function recordRuns(entries: readonly RaftEntry[], from: number, to: number, out: Buffer[]): void {
  let buf: Buffer | undefined;
  let start = 0;
  let end = 0;
  for (let i = from; i < to; i++) {
    const e = entries[i];
    if (e.recBuf === buf && e.recOff === end) {
      end += e.size;
      continue;
    }
    if (buf !== undefined) out.push(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    buf = e.recBuf;
    start = e.recOff;
    end = start + e.size;
  }
  if (buf !== undefined) out.push(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
}

/** A new entry's record (what a leader makes when it appends). */
export function makeEntry(index: number, term: number, type: number, data: Buffer): RaftEntry {
  const rec = Buffer.allocUnsafe(REC_HDR + data.length);
  data.copy(rec, REC_HDR);
  return entryOfRecord(index, term, type, rec, 0, rec.length);
}

/**
 * A new entry from a record whose data the proposer wrote at REC_HDR (its first REC_HDR bytes
 * are this header's): no copy of the data. The record, `len` bytes at `off` of `rec` (several
 * records may share one buffer), belongs to the log from here on.
 */
export function entryOfRecord(index: number, term: number, type: number, rec: Buffer, off = 0, len = rec.length - off): RaftEntry {
  rec.writeUInt32LE(len, off);
  putU64(rec, off + 8, index);
  putU64(rec, off + 16, term);
  rec.writeUInt32LE(type, off + 24);
  rec.writeUInt32LE(crc32(rec, off + 8, off + len), off + 4);
  return new LogEntry(index, term, type, rec, off, len);
}

/**
 * Read the record at `off` of `buf`: the entry (a copy when `copy`), "end" for zeros (no more
 * records), or "bad" when it does not verify. Used for segments and for entries on the wire.
 */
export function readRecord(buf: Buffer, off: number, copy: boolean): RaftEntry | "end" | "bad" {
  if (off + 4 > buf.length) return off === buf.length ? "end" : "bad";
  const len = buf.readUInt32LE(off);
  if (len === 0) return "end";
  if (len < REC_HDR || off + len > buf.length) return "bad";
  if (crc32(buf, off + 8, off + len) !== buf.readUInt32LE(off + 4)) return "bad";
  if (copy) return new LogEntry(readU64LE(buf, off + 8), readU64LE(buf, off + 16), buf.readUInt32LE(off + 24), Buffer.from(buf.subarray(off, off + len)), 0, len);
  // No view per entry: the entry keeps `buf` and its position (one object per entry, not two).
  return new LogEntry(readU64LE(buf, off + 8), readU64LE(buf, off + 16), buf.readUInt32LE(off + 24), buf, off, len);
}

/**
 * Where the last segment's log ended when one record in it fails its checksum (a flipped bit,
 * not a torn write): the records after it, read by the damaged record's length, still chain on
 * (index by index, each verifying) to the zeros after the last one, past everything synced. A
 * member can then vote by that position (LogPosition) instead of not at all: every entry it
 * acknowledged is at or below it. undefined when the chain does not verify to the end (the
 * length itself may be the damaged part: nothing is known then).
 */
function endPastDamage(buf: Buffer, badOff: number, badIndex: number, synced: number): LogPosition | undefined {
  const len = badOff + 4 <= buf.length ? buf.readUInt32LE(badOff) : 0;
  if (len < REC_HDR || badOff + len > buf.length) return undefined;
  // The damaged record's own index and term fields may be what flipped: only its length is used.
  let off = badOff + len;
  let next = badIndex + 1;
  let end: LogPosition | undefined;
  for (;;) {
    const r = readRecord(buf, off, false);
    if (r === "end") break;
    if (r === "bad" || r.type === ENTRY_SEAL || r.index !== next) return undefined;
    end = { term: r.term, index: r.index };
    off += r.size;
    next++;
  }
  if (end === undefined || !allZero(buf, off) || end.index < synced) return undefined;
  return end;
}

function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

export function encodeConfig(c: RaftConfig): Buffer {
  return Buffer.from(JSON.stringify({ voters: c.voters, learners: c.learners }));
}

export function decodeConfig(b: Buffer): RaftConfig {
  const o = JSON.parse(b.toString()) as { voters?: unknown; learners?: unknown };
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  return { voters: list(o.voters), learners: list(o.learners) };
}

interface SyncRound {
  /** The last index when it started. */
  upto: number;
  /** Lowest truncation point since it started (its entries from there are not the ones it syncs). */
  cut: number;
  /** The state write it covers. */
  stateSeq: number;
  waiters: Array<(err?: Error) => void>;
  done: boolean;
  err: Error | undefined;
}

interface Segment {
  name: string;
  first: number;
  size: number;
  /** Where the next record goes. */
  pos: number;
  /** The index the next record must have. */
  next: number;
  /** Watermark slots: sequence of the last write, and the index last written. */
  markSeq: number;
  mark: number;
}

export interface RaftStoreOptions {
  /** Bytes per log segment (preallocated, sparse). */
  segmentSize?: number;
  /**
   * The incarnation of a store that opens empty (1 by default). A store whose files do not
   * outlive the process (MemRaftDisk), or whose directory may be made anew for a member that
   * was in the group before (its copy recreated), gives a number that grows across restarts
   * (the clock), so that the leader forgets what the member held before instead of taking its
   * answers for late ones from an earlier incarnation.
   */
  firstIncarnation?: number;
}

export class RaftStore {
  readonly segmentSize: number;
  state: RaftHardState = { term: 0, vote: "", commit: 0 };
  /**
   * Goes up by one each time the store is opened (and jumps when the count was lost). A double
   * field from the start (server/double_zero.ts): memory groups start at Date.now().
   */
  incarnation = DOUBLE_ZERO;
  snapshotMeta: SnapshotMeta | undefined;
  snapshotData: Buffer | undefined;
  /** Entries after the snapshot: entries[0] has index `firstIndex`. */
  private entries: RaftEntry[] = objectArray();
  /** Where each entry's record starts in its segment (numbers, not an object per entry). */
  private positions: number[] = [];
  private segments: Segment[] = objectArray();
  private stateSeq = 0;
  /** The last state write made durable. */
  private stateSeqSynced = 0;
  private readonly dirty = new Set<string>();
  /** Sync rounds in flight, oldest first (completed in this order). */
  private rounds: SyncRound[] = objectArray();
  private syncWaiters: Array<(err?: Error) => void> = objectArray();
  /** Inline-eligible rounds still to send to the thread pool after a slow inline fdatasync. */
  private inlineBackoff = 0;
  private closed = false;

  constructor(
    readonly disk: RaftDisk,
    opts: RaftStoreOptions = {},
  ) {
    this.segmentSize = opts.segmentSize ?? 4 * 1024 * 1024;
    this.firstIncarnation = opts.firstIncarnation ?? 1;
  }

  private readonly firstIncarnation: number;

  /** Index of the first entry held (the one after the snapshot when the log is empty). */
  get firstIndex(): number {
    return this.entries.length > 0 ? this.entries[0].index : (this.snapshotMeta?.index ?? 0) + 1;
  }

  get lastIndex(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].index : (this.snapshotMeta?.index ?? 0);
  }

  get lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].term : (this.snapshotMeta?.term ?? 0);
  }

  /** Bytes of the entries held. */
  logBytes = 0;
  /** Entries up to here are durable (synced). */
  durableIndex = 0;

  /** Term, vote and commit as last set are durable (an answer that depends on them may leave). */
  get stateDurable(): boolean {
    return this.stateSeqSynced === this.stateSeq;
  }

  entry(index: number): RaftEntry | undefined {
    const i = index - this.firstIndex;
    return i >= 0 && i < this.entries.length ? this.entries[i] : undefined;
  }

  /** The term of an entry (or of the snapshot's last one); undefined when not known here. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    const s = this.snapshotMeta;
    if (s !== undefined && index === s.index) return s.term;
    return this.entry(index)?.term;
  }

  /** Entries from `from`, at most `maxCount` and about `maxBytes` (at least one). */
  slice(from: number, maxCount: number, maxBytes: number): RaftEntry[] {
    const out: RaftEntry[] = [];
    let bytes = 0;
    for (let i = from - this.firstIndex; i >= 0 && i < this.entries.length && out.length < maxCount; i++) {
      const e = this.entries[i];
      // The sum is taken for the first entry too: its first use would otherwise be the first
      // slice of two entries, which throws away the leader's optimized append path (no feedback).
      const next = bytes + e.size;
      if (next > maxBytes && out.length > 0) break;
      out.push(e);
      bytes = next;
    }
    return out;
  }

  // ---- open ----

  /** Load and verify everything; returns what was found damaged (empty: all intact). */
  open(): string[] {
    const damaged: string[] = [];
    const files = this.disk.list();
    const fresh = files.length === 0;
    if (files.includes(REPAIR_MARK)) {
      // Damaged at an earlier start (its log may verify now: it was cut), never repaired since.
      const mark = readRepairMark((this.disk.read(REPAIR_MARK) ?? Buffer.alloc(0)).toString());
      this.repairReasons = mark.reasons;
      this.voteFloor = mark.floor;
      damaged.push(REPAIR_UNFINISHED);
      // Lost term and vote keep their consequence (no vote in a term it may have voted in).
      for (const r of this.repairReasons) if (r.startsWith("term and vote lost")) damaged.push(r);
    }
    // State: the valid copy with the highest sequence.
    let best: { seq: number; hs: RaftHardState; inc: number } | undefined;
    let badCopies = 0;
    for (const f of STATE_FILES) {
      if (!files.includes(f)) continue;
      const st = readState(this.disk.read(f));
      if (st === undefined) badCopies++;
      else if (best === undefined || st.seq > best.seq) best = st;
    }
    // Snapshot.
    if (files.includes(SNAPSHOT_FILE)) {
      const snap = readSnapshot(this.disk.read(SNAPSHOT_FILE));
      if (snap === undefined) this.damageFound(damaged, "snapshot fails its checksum");
      else {
        this.snapshotMeta = snap.meta;
        this.snapshotData = snap.data;
      }
    }
    if (files.includes(SNAPSHOT_TMP)) this.disk.remove(SNAPSHOT_TMP);
    // Log segments, in order of their first index.
    const segNames = files.filter((f) => /^seg-[0-9a-f]{16}\.log$/.test(f)).sort();
    if (!this.snapshotBad) this.loadSegments(segNames, damaged);
    else for (const n of segNames) this.disk.remove(n);
    if (best !== undefined) {
      this.state = best.hs;
      this.stateSeq = best.seq;
      this.incarnation = best.inc + 1;
      if (badCopies > 0) {
        // One copy is enough (the other was torn or flipped); rewrite it below.
      }
    } else if (!fresh && (segNames.length > 0 || this.snapshotMeta !== undefined || badCopies > 0)) {
      this.damageFound(damaged, "term and vote lost (no valid state file)");
      // The incarnation must still grow: derive it from the clock-free largest term seen.
      this.incarnation = Math.max(1_000_000 + this.lastTerm, this.firstIncarnation);
      this.state = { term: this.lastTerm, vote: "", commit: 0 };
    } else {
      this.incarnation = this.firstIncarnation;
    }
    if (this.state.commit > this.lastIndex) this.state.commit = this.lastIndex;
    if (this.snapshotMeta !== undefined && this.state.commit < this.snapshotMeta.index) this.state.commit = this.snapshotMeta.index;
    if (this.state.term < this.lastTerm) this.state.term = this.lastTerm;
    this.writeState();
    this.durableIndex = this.lastIndex;
    // A new store (no state, log or snapshot found) has nothing to lose: its state file is made
    // durable by its first sync (a replicated consumer's group starts on each member with every
    // consumer created: no blocking fsync each).
    if (best === undefined && badCopies === 0 && segNames.length === 0 && this.snapshotMeta === undefined && damaged.length === 0) return damaged;
    // What survived in the kernel's cache (a killed process) is made durable before it counts.
    this.disk.syncNow([...new Set([...this.dirty, ...this.segments.map((s) => s.name)])]);
    this.dirty.clear();
    this.stateSeqSynced = this.stateSeq;
    return damaged;
  }

  /** Damage found by `open`: the repair mark goes to disk before anything is cut or removed. */
  private damageFound(damaged: string[], what: string, floor?: LogPosition): void {
    damaged.push(what);
    if (what === "snapshot fails its checksum") this.snapshotBad = true;
    else this.damagedHere = true;
    // Entries acknowledged here may be gone: where this member's log ended is no longer known,
    // unless it could be read past the damage (`floor`, see endPastDamage).
    this.voteFloor = floor;
    this.markRepairPending([what], true);
  }

  private snapshotBad = false;
  private damagedHere = false;
  /** Why this member is damaged, as in REPAIR_MARK; undefined: not marked. */
  private repairReasons: string[] | undefined;

  /**
   * A damaged member's vote floor (see LogPosition): where the intact log it had before its
   * state machine's copy was discarded ended. undefined: none (not damaged, or its log was).
   */
  voteFloor: LogPosition | undefined;

  /** Keep this member damaged across restarts until `repaired` (see REPAIR_MARK); durable on return. */
  markRepairPending(reasons: readonly string[], floorChanged = false): void {
    const have = this.repairReasons ?? [];
    const add = reasons.filter((r) => !have.includes(r));
    if (this.repairReasons !== undefined && add.length === 0 && !floorChanged) return;
    this.repairReasons = [...have, ...add];
    this.disk.truncate(REPAIR_MARK, 0);
    this.disk.writeAt(REPAIR_MARK, 0, repairMarkText(this.repairReasons, this.voteFloor));
    this.disk.syncNow([REPAIR_MARK]);
  }

  /**
   * A leader repaired this member (what it had at first contact is durable here). Durable on
   * return: left to the next append's sync, a power cut of an idle group's member made it
   * damaged again and repaired once more.
   */
  repaired(): void {
    if (this.repairReasons === undefined) return;
    this.repairReasons = undefined;
    this.voteFloor = undefined;
    this.disk.remove(REPAIR_MARK);
    this.disk.syncNow([]);
  }

  private loadSegments(names: string[], damaged: string[]): void {
    const snapIndex = this.snapshotMeta?.index ?? 0;
    let expect = -1; // next index expected (-1: not known yet)
    let prevSealed = true;
    let leftovers = false;
    for (let n = 0; n < names.length; n++) {
      const name = names[n];
      if (leftovers || this.damagedHere) {
        this.disk.remove(name);
        continue;
      }
      const buf = this.disk.read(name) ?? Buffer.alloc(0);
      const isLast = n === names.length - 1;
      const hdr = readSegmentHeader(buf);
      if (hdr === undefined) {
        // A segment is made durable (header and size) before anything goes in it: one without
        // a valid header was being created when the process stopped, unless it is truncated
        // in the middle of the log.
        if (isLast && prevSealed && buf.length === 0) {
          if (this.segments.length > 0) this.damageFound(damaged, `${name}: empty segment after a sealed one`);
          this.disk.remove(name);
          continue;
        }
        this.damageFound(damaged, `${name}: bad segment header`);
        this.disk.remove(name);
        continue;
      }
      if (!prevSealed) {
        // The previous segment was cut (truncated log): this one is a leftover the removal of
        // which did not reach the disk.
        leftovers = true;
        this.disk.remove(name);
        continue;
      }
      if (expect !== -1 && hdr.first !== expect) {
        this.damageFound(damaged, `${name}: starts at ${hdr.first}, expected ${expect}`);
        this.disk.remove(name);
        continue;
      }
      const seg: Segment = { name, first: hdr.first, size: hdr.size, pos: SEG_HDR, next: hdr.first, markSeq: 0, mark: 0 };
      const mark = readMark(buf, hdr.first);
      seg.markSeq = mark.seq;
      seg.mark = mark.index;
      // Only the last segment's watermark matters (earlier ones are sealed and fully checked).
      const synced = isLast ? mark.index : 0;
      if (isLast && mark.bad) {
        this.damageFound(damaged, `${name}: both watermark slots fail their checksums`);
      }
      const truncated = buf.length < hdr.size;
      let off = SEG_HDR;
      let next = hdr.first;
      let sealed = false;
      let torn = false;
      let bad = "";
      // Where the log ended, read past one damaged record of the last segment (see endPastDamage).
      let floorPastDamage: LogPosition | undefined;
      for (;;) {
        const r = readRecord(buf, off, true);
        if (r === "end") break;
        if (r === "bad") {
          const len = off + 4 <= buf.length ? buf.readUInt32LE(off) : 0;
          const tornTail = isLast && !truncated && next > synced && len >= REC_HDR && off + len <= buf.length && allZero(buf, off + len);
          if (!tornTail) {
            bad = `${name}: record at offset ${off} (index ${next}) fails its checksum`;
            if (isLast && !truncated) floorPastDamage = endPastDamage(buf, off, next, synced);
          } else {
            torn = true;
            this.cutSegment(seg, off, buf.length);
          }
          break;
        }
        if (r.type === ENTRY_SEAL) {
          sealed = true;
          off += r.size;
          break;
        }
        if (r.index !== next) {
          bad = `${name}: record at offset ${off} has index ${r.index}, expected ${next}`;
          break;
        }
        if (r.index > snapIndex) {
          if (this.entries.length === 0 && r.index !== snapIndex + 1) {
            bad = `${name}: log starts at ${r.index}, snapshot ends at ${snapIndex}`;
            break;
          }
          this.entries.push(r);
          this.positions.push(off);
          this.logBytes += r.size;
        }
        off += r.size;
        next++;
      }
      seg.pos = off;
      seg.next = next;
      if (bad === "" && !sealed && !torn && !allZero(buf, off)) bad = `${name}: data after the end of the log at offset ${off}`;
      if (bad === "" && isLast && next - 1 < synced) bad = `${name}: log ends at ${next - 1}, but ${synced} was synced`;
      if (bad === "" && truncated) bad = `${name}: truncated to ${buf.length} of ${hdr.size} bytes`;
      if (bad === "" && sealed && isLast) bad = `${name}: sealed, but the next segment is missing`;
      this.segments.push(seg);
      if (bad !== "") {
        // A floor survives only if nothing else was lost: no earlier damage in this open, and a
        // repair left unfinished by an earlier start knew where its log ended then.
        const prior = this.voteFloor;
        const priorKnown = damaged.every((d) => d === REPAIR_UNFINISHED) && (this.repairReasons === undefined || prior !== undefined);
        const floor = floorPastDamage === undefined || !priorKnown ? undefined : prior !== undefined && laterPosition(prior, floorPastDamage) ? prior : floorPastDamage;
        this.damageFound(damaged, bad, floor);
        // The cut below is this damage's, kept in the mark with the floor: the watermark goes down
        // with it (as a truncation's), so the next open does not take the cut for new damage.
        if (floor !== undefined && seg.mark > next - 1) this.writeMark(seg, next - 1);
        // Keep what verified; the rest of this segment is zeroed so appends go on from here.
        this.cutSegment(seg, off, buf.length);
        prevSealed = false;
        continue;
      }
      prevSealed = sealed;
      expect = next;
    }
    if (this.entries.length === 0 && snapIndex === 0 && this.segments.length > 0) {
      // Nothing usable: start over with a clean segment later.
    }
  }

  /** Zero a segment from `from` (and restore its full size), making `from` its append point. */
  private cutSegment(seg: Segment, from: number, have: number): void {
    if (have < seg.size) this.disk.truncate(seg.name, seg.size);
    const end = Math.min(have, seg.size);
    if (end > from) this.disk.writeAt(seg.name, from, Buffer.alloc(end - from));
    seg.pos = from;
    this.dirty.add(seg.name);
  }

  // ---- log changes ----

  /** Append entries (their indexes follow `lastIndex`). In the kernel on return. */
  append(entries: readonly RaftEntry[]): void {
    if (entries.length === 0) return;
    if (entries[0].index !== this.lastIndex + 1) throw new Error(`raft log: append of ${entries[0].index} after ${this.lastIndex}`);
    let seg = this.segments.length > 0 ? this.segments[this.segments.length - 1] : undefined;
    if (seg !== undefined && seg.next !== entries[0].index) {
      // The log was emptied by a snapshot: what the segments hold is all in it.
      this.clearLog();
      seg = undefined;
    }
    // A disk that keeps no bytes (a memory stream's group) is told the lengths only: no view of each record.
    const sizesOnly = this.disk.keepsBytes === false;
    // The entries [batchFrom, i) go to the current segment at batchStart in one write.
    let batchFrom = 0;
    let batchStart = 0;
    let batchLen = 0;
    const flush = (to: number): void => {
      if (seg === undefined || to === batchFrom) return;
      if (sizesOnly) this.disk.writevAt?.(seg.name, batchStart, NO_BUFFERS, batchLen);
      else {
        const bufs: Buffer[] = [];
        recordRuns(entries, batchFrom, to, bufs);
        if (bufs.length === 1) this.disk.writeAt(seg.name, batchStart, bufs[0]);
        else if (this.disk.writevAt !== undefined) this.disk.writevAt(seg.name, batchStart, bufs, batchLen);
        else this.disk.writeAt(seg.name, batchStart, Buffer.concat(bufs, batchLen));
      }
      this.dirty.add(seg.name);
      batchFrom = to;
      batchLen = 0;
    };
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const room = seg === undefined ? -1 : seg.size - seg.pos - REC_HDR; // keep room for a seal
      if (seg === undefined || e.size > room) {
        flush(i);
        seg = this.newSegment(e.index, e.size, seg);
      }
      seg.next = e.index + 1;
      if (batchLen === 0) batchStart = seg.pos;
      batchLen += e.size;
      this.entries.push(e);
      this.positions.push(seg.pos);
      this.logBytes += e.size;
      seg.pos += e.size;
    }
    flush(entries.length);
  }

  /**
   * Start a segment at `first`: preallocated and made durable before use; then the previous one
   * is sealed (so a sealed segment always has a durable successor).
   */
  private newSegment(first: number, need: number, prev: Segment | undefined): Segment {
    const size = Math.max(this.segmentSize, SEG_HDR + need + REC_HDR);
    const name = `seg-${first.toString(16).padStart(16, "0")}.log`;
    const hdr = Buffer.alloc(SEG_HDR);
    SEG_MAGIC.copy(hdr, 0);
    hdr.writeUInt32LE(size, 8);
    putU64(hdr, 16, first);
    hdr.writeUInt32LE(crc32(hdr, 0, 24), 24);
    this.disk.truncate(name, size);
    this.disk.writeAt(name, 0, hdr);
    this.disk.syncNow([name]);
    const seg: Segment = { name, first, size, pos: SEG_HDR, next: first, markSeq: 0, mark: 0 };
    if (prev !== undefined) {
      const seal = makeEntry(first - 1, 0, ENTRY_SEAL, Buffer.alloc(0));
      this.disk.writeAt(prev.name, prev.pos, seal.rec);
      prev.pos += seal.rec.length;
      this.dirty.add(prev.name);
    }
    this.segments.push(seg);
    return seg;
  }

  /** writeMark's bytes, reused: every sync round writes one mark (writeAt has them in the kernel on return). */
  private readonly markBuf = Buffer.alloc(16);
  private readonly markFirst = Buffer.alloc(8);

  /** Record in a segment's header that entries up to `index` were synced. */
  private writeMark(seg: Segment, index: number): void {
    seg.markSeq++;
    seg.mark = index;
    const b = this.markBuf;
    putU64(b, 0, index);
    b.writeUInt32LE(seg.markSeq, 8);
    const first = this.markFirst;
    putU64(first, 0, seg.first);
    b.writeUInt32LE(crc32(first, 0, 8, crc32(b, 0, 12)), 12);
    this.disk.writeAt(seg.name, MARK_OFF + (seg.markSeq % 2) * 16, b);
    this.dirty.add(seg.name);
  }

  /** Remove entries from `index` on (a follower's log conflicts with its leader's). */
  truncateFrom(index: number): void {
    if (index > this.lastIndex) return;
    const i = Math.max(0, index - this.firstIndex);
    const loc = this.locate(i);
    this.durableIndex = Math.min(this.durableIndex, index - 1);
    for (const r of this.rounds) r.cut = Math.min(r.cut, index);
    for (let k = i; k < this.entries.length; k++) this.logBytes -= this.entries[k].size;
    this.entries.length = i;
    this.positions.length = i;
    if (loc === undefined) return;
    // Later segments go; the one holding `index` is zeroed from there (unsealed: it is the active one again).
    const at = this.segments.indexOf(loc.seg);
    for (const s of this.segments.splice(at + 1)) {
      this.disk.remove(s.name);
      this.dirty.delete(s.name);
    }
    this.disk.writeAt(loc.seg.name, loc.pos, Buffer.alloc(loc.seg.pos - loc.pos));
    loc.seg.pos = loc.pos;
    loc.seg.next = index;
    if (loc.seg.mark > index - 1) this.writeMark(loc.seg, index - 1);
    this.dirty.add(loc.seg.name);
  }

  /** The segment holding entries[i] (the last one starting at or before it) and the record's position in it. */
  private locate(i: number): { seg: Segment; pos: number } | undefined {
    const e = this.entries[i];
    if (e === undefined) return undefined;
    for (let k = this.segments.length - 1; k >= 0; k--) if (this.segments[k].first <= e.index) return { seg: this.segments[k], pos: this.positions[i] };
    return undefined;
  }

  /** Drop entries up to `index` (they are in a durable snapshot): whole segments only. */
  compact(index: number): void {
    while (this.segments.length > 1) {
      const next = this.segments[1];
      if (next.first - 1 > index) break;
      const s = this.segments.shift() as Segment;
      this.disk.remove(s.name);
      this.dirty.delete(s.name);
    }
    const first = this.segments.length > 0 ? this.segments[0].first : this.lastIndex + 1;
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop].index < first) drop++;
    if (drop > 0) {
      for (let k = 0; k < drop; k++) this.logBytes -= this.entries[k].size;
      this.entries.splice(0, drop);
      this.positions.splice(0, drop);
    }
  }

  /** Term, vote and commit: written now (to the copy not written last), durable after `sync`. */
  setState(hs: RaftHardState): void {
    this.state = { ...hs };
    this.writeState();
  }

  private writeState(): void {
    this.stateSeq++;
    const name = STATE_FILES[this.stateSeq % 2];
    const b = Buffer.alloc(STATE_SIZE);
    STATE_MAGIC.copy(b, 0);
    putU64(b, 8, this.stateSeq);
    putU64(b, 16, this.state.term);
    putU64(b, 24, this.state.commit);
    putU64(b, 32, this.incarnation);
    const vote = Buffer.from(this.state.vote);
    if (vote.length > MAX_VOTE_LEN) throw new Error("raft: peer id too long");
    b.writeUInt16LE(vote.length, 40);
    vote.copy(b, 42);
    b.writeUInt32LE(crc32(b, 0, STATE_SIZE - 4), STATE_SIZE - 4);
    this.disk.writeAt(name, 0, b);
    this.dirty.add(name);
  }

  /**
   * Make every write so far durable, then call `done`. Group commit: the callers of one turn
   * share a round (one fdatasync per file touched); a round starts while up to
   * SYNC_ROUNDS_IN_FLIGHT - 1 earlier ones are still running (an fsync covers every write made
   * before it is called, so a caller waits about one fsync, not the rest of the running one plus
   * its own); beyond that, callers share the next round. Rounds complete in the order they
   * started: a round's files are those written since the previous round began, so it reports
   * durability only once every earlier round did.
   */
  sync(done: (err?: Error) => void, inline = false): void {
    if (this.closed) {
      done(new Error("raft store closed"));
      return;
    }
    this.syncWaiters.push(done);
    if (this.rounds.length < SYNC_ROUNDS_IN_FLIGHT) this.startSync(inline);
  }

  /**
   * `inline` (a follower's answer or the leader's commit waits on it, nothing else would run meanwhile): with no round
   * running, the fdatasync runs here on the event loop and `done` is called before sync returns.
   * The thread pool's hand-off adds two wake-ups to every answer (a worker's, then the loop's by
   * its completion), and on a busy machine each of them waits for a CPU. A disk whose fdatasync took longer than INLINE_SYNC_MAX_MS would
   * stall the server's other work that long: the next INLINE_SYNC_BACKOFF rounds go to the pool.
   */
  private startSync(inline = false): void {
    const active = this.segments.length > 0 ? this.segments[this.segments.length - 1] : undefined;
    if (active !== undefined && active.mark !== this.durableIndex && this.durableIndex <= this.lastIndex) this.writeMark(active, this.durableIndex);
    const names = [...this.dirty];
    this.dirty.clear();
    const round: SyncRound = { upto: this.lastIndex, cut: Infinity, stateSeq: this.stateSeq, waiters: this.syncWaiters, done: false, err: undefined };
    this.syncWaiters = objectArray();
    this.rounds.push(round);
    if (inline && this.rounds.length === 1 && this.inlineBackoff-- <= 0) {
      this.inlineBackoff = 0;
      const t0 = performance.now();
      try {
        this.disk.syncNow(names);
      } catch (err) {
        round.err = err as Error;
      }
      if (performance.now() - t0 > INLINE_SYNC_MAX_MS) this.inlineBackoff = INLINE_SYNC_BACKOFF;
      round.done = true;
      this.finishRounds();
      return;
    }
    this.disk.sync(names, (err) => {
      round.done = true;
      round.err = err;
      this.finishRounds();
    });
  }

  /** Report the rounds done, oldest first, up to the first one still running. */
  private finishRounds(): void {
    while (this.rounds.length > 0 && this.rounds[0].done) {
      const r = this.rounds.shift() as SyncRound;
      // A failed round leaves the rounds started alongside it unsure (they did not sync its files).
      if (r.err !== undefined) for (const later of this.rounds) later.err ??= r.err;
      if (r.err === undefined) {
        this.durableIndex = Math.max(this.durableIndex, Math.min(r.upto, r.cut - 1));
        if (r.stateSeq > this.stateSeqSynced) this.stateSeqSynced = r.stateSeq;
      }
      for (const w of r.waiters) w(r.err);
    }
    // Whoever asked meanwhile shares the next round.
    if (this.syncWaiters.length > 0 && !this.closed && this.rounds.length < SYNC_ROUNDS_IN_FLIGHT) this.startSync();
  }

  // ---- snapshots ----

  /** Snapshot writes waiting for the one running (they share the temp file). */
  private snapQueue: Array<() => void> = [];
  private snapWriting = false;

  /**
   * Write a snapshot durably (atomic replace); `done` after, then the log may be compacted.
   * Writes run one at a time, in call order; one that is not newer than the snapshot already
   * held when its turn comes is skipped (`done(undefined, false)`): a local snapshot that was
   * being written when a newer one arrived from the leader never replaces it.
   */
  saveSnapshot(meta: SnapshotMeta, data: Buffer, done: (err?: Error, saved?: boolean) => void): void {
    this.snapQueue.push(() => this.writeSnapshot(meta, data, (err, saved) => {
      this.snapWriting = false;
      const next = this.snapQueue.shift();
      if (next !== undefined) {
        this.snapWriting = true;
        next();
      }
      done(err, saved);
    }));
    if (!this.snapWriting) {
      this.snapWriting = true;
      (this.snapQueue.shift() as () => void)();
    }
  }

  private writeSnapshot(meta: SnapshotMeta, data: Buffer, done: (err?: Error, saved?: boolean) => void): void {
    if (this.closed) return done(new Error("raft store closed"), false);
    if (this.snapshotMeta !== undefined && meta.index <= this.snapshotMeta.index) return done(undefined, false);
    const cfg = encodeConfig(meta.config);
    const b = Buffer.alloc(8 + 8 + 16 + 4 + cfg.length + 4 + data.length + 4);
    let o = 0;
    SNAP_MAGIC.copy(b, o);
    o += 8;
    b.writeUInt32LE(1, o);
    o += 8;
    putU64(b, o, meta.index);
    putU64(b, o + 8, meta.term);
    o += 16;
    b.writeUInt32LE(cfg.length, o);
    cfg.copy(b, o + 4);
    o += 4 + cfg.length;
    b.writeUInt32LE(data.length, o);
    data.copy(b, o + 4);
    o += 4 + data.length;
    b.writeUInt32LE(crc32(b, 0, o), o);
    this.disk.truncate(SNAPSHOT_TMP, 0);
    this.disk.writeAt(SNAPSHOT_TMP, 0, b);
    this.disk.sync([SNAPSHOT_TMP], (err) => {
      if (err !== undefined || this.closed) return done(err ?? new Error("raft store closed"), false);
      this.disk.rename(SNAPSHOT_TMP, SNAPSHOT_FILE);
      this.snapshotMeta = { index: meta.index, term: meta.term, config: meta.config };
      this.snapshotData = data;
      this.sync((e) => done(e, e === undefined));
    });
  }

  /**
   * A snapshot from the leader replaces the log up to its index: entries after it are kept only
   * when the log has the snapshot's last entry (same index and term), else all go.
   */
  installSnapshot(meta: SnapshotMeta, data: Buffer, done: (err?: Error) => void): void {
    // The snapshot is durable before any entry goes: entries this member acknowledged are never
    // in neither place.
    this.saveSnapshot(meta, data, (err, saved) => {
      if (err === undefined && saved !== true) err = new Error(`snapshot ${meta.index} is not newer than the one held`);
      if (err === undefined) {
        if (this.entry(meta.index)?.term === meta.term) this.compact(meta.index);
        else this.clearLog();
      }
      done(err);
    });
  }

  /** Drop every entry; the next append starts a fresh segment. */
  private clearLog(): void {
    for (const s of this.segments) {
      this.disk.remove(s.name);
      this.dirty.delete(s.name);
    }
    this.segments = objectArray();
    this.entries = objectArray();
    this.positions = [];
    this.logBytes = 0;
    this.durableIndex = this.snapshotMeta?.index ?? 0;
    for (const r of this.rounds) r.cut = 0;
  }

  close(): void {
    this.closed = true;
    this.disk.close();
  }

  /** Remove everything (the group is gone for good). */
  destroy(): void {
    this.closed = true;
    this.disk.destroy();
  }
}

function readSegmentHeader(buf: Buffer): { size: number; first: number } | undefined {
  if (buf.length < SEG_HDR || !buf.subarray(0, 8).equals(SEG_MAGIC)) return undefined;
  if (crc32(buf, 0, 24) !== buf.readUInt32LE(24)) return undefined;
  return { size: buf.readUInt32LE(8), first: readU64LE(buf, 16) };
}

/** The valid watermark slot with the highest sequence (zeroed slots: nothing synced yet). */
function readMark(buf: Buffer, first: number): { index: number; seq: number; bad: boolean } {
  let best: { index: number; seq: number } | undefined;
  let bad = 0;
  const fb = Buffer.alloc(8);
  putU64(fb, 0, first);
  for (let k = 0; k < 2; k++) {
    const off = MARK_OFF + k * 16;
    if (buf.length < off + 16) {
      bad++;
      continue;
    }
    if (allZeroRange(buf, off, off + 16)) continue;
    if (crc32(fb, 0, 8, crc32(buf, off, off + 12)) !== buf.readUInt32LE(off + 12)) {
      bad++;
      continue;
    }
    const seq = buf.readUInt32LE(off + 8);
    if (best === undefined || seq > best.seq) best = { index: readU64LE(buf, off), seq };
  }
  return { index: best?.index ?? 0, seq: best?.seq ?? 0, bad: bad === 2 };
}

function allZeroRange(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

function readState(b: Buffer | undefined): { seq: number; hs: RaftHardState; inc: number } | undefined {
  if (b === undefined || b.length < STATE_SIZE || !b.subarray(0, 8).equals(STATE_MAGIC)) return undefined;
  if (crc32(b, 0, STATE_SIZE - 4) !== b.readUInt32LE(STATE_SIZE - 4)) return undefined;
  const vlen = b.readUInt16LE(40);
  if (vlen > MAX_VOTE_LEN) return undefined;
  return {
    seq: readU64LE(b, 8),
    hs: { term: readU64LE(b, 16), commit: readU64LE(b, 24), vote: b.subarray(42, 42 + vlen).toString() },
    inc: readU64LE(b, 32),
  };
}

export function readSnapshot(b: Buffer | undefined): { meta: SnapshotMeta; data: Buffer } | undefined {
  if (b === undefined || b.length < 40 || !b.subarray(0, 8).equals(SNAP_MAGIC)) return undefined;
  const end = b.length - 4;
  if (crc32(b, 0, end) !== b.readUInt32LE(end)) return undefined;
  try {
    const index = readU64LE(b, 16);
    const term = readU64LE(b, 24);
    const clen = b.readUInt32LE(32);
    const config = decodeConfig(b.subarray(36, 36 + clen));
    const dlen = b.readUInt32LE(36 + clen);
    if (40 + clen + dlen !== end) return undefined;
    return { meta: { index, term, config }, data: Buffer.from(b.subarray(40 + clen, 40 + clen + dlen)) };
  } catch {
    return undefined;
  }
}

/** Does the log (or snapshot) in `disk` verify, with something in it and no repair pending? */
export function logVerifies(disk: RaftDisk): boolean {
  const store = new RaftStore(disk);
  const damage = store.open();
  return damage.length === 0 && (store.lastIndex > 0 || store.snapshotMeta !== undefined);
}

/**
 * A member whose state machine's copy was discarded as damaged (a stream's messages, a
 * consumer's files) loses its log and snapshot too, keeping term and vote, and opens damaged
 * until a leader has given it everything again: with the log alone it would take entries as
 * applied to a state it no longer has. An empty log that votes could elect a leader missing
 * committed entries: the mark keeps where the log ended when it verified (its vote floor, the
 * larger of it and any floor an unfinished repair left), so the member still votes by it. The
 * mark is durable, in the directory too, before anything goes; the removals are durable on return.
 */
export function discardLogForRepair(disk: RaftDisk, reason: string): void {
  const files = disk.list();
  if (files.length === 0) return;
  const store = new RaftStore(disk);
  const damage = store.open();
  const mark = files.includes(REPAIR_MARK) ? readRepairMark((disk.read(REPAIR_MARK) ?? Buffer.alloc(0)).toString()) : { reasons: [], floor: undefined };
  let floor: LogPosition | undefined;
  // (A mark without a floor: this member's log was damaged before, nothing it had is known.)
  const floorKnown = damage.every((d) => d === REPAIR_UNFINISHED) && (!files.includes(REPAIR_MARK) || mark.floor !== undefined);
  if (floorKnown) {
    floor = { term: store.lastTerm, index: store.lastIndex };
    if (mark.floor !== undefined && laterPosition(mark.floor, floor)) floor = mark.floor;
  } else {
    // The log itself damaged, read past the damage to its end (open's floor, see endPastDamage).
    floor = store.voteFloor;
  }
  const reasons = readRepairMark((disk.read(REPAIR_MARK) ?? Buffer.alloc(0)).toString()).reasons;
  if (!reasons.includes(reason)) reasons.push(reason);
  disk.truncate(REPAIR_MARK, 0);
  disk.writeAt(REPAIR_MARK, 0, repairMarkText(reasons, floor));
  disk.syncNow([REPAIR_MARK]);
  for (const f of disk.list()) if (f === SNAPSHOT_FILE || f === SNAPSHOT_TMP || /^seg-[0-9a-f]{16}\.log$/.test(f)) disk.remove(f);
  disk.syncNow([]);
}
