// Memory stream store: the shared index (base.ts) with message bodies kept in memory,
// in chunks of up to CHUNK entries. Nothing survives the process.

import { IndexBlock, StoreBase, Subj } from "./base.js";
import {
  ConsumerState,
  ConsumerStore,
  RemoveReason,
  StoreError,
  StoreOptions,
  StoredMsg,
  StreamStoreConfig,
  checkName,
  cloneConsumerState,
  emptyConsumerState,
} from "./store.js";

const CHUNK = 4096;

/** A chunk's first segment of message bytes; each next one is twice as big, up to SEGMENT_MAX. */
const ARENA_MIN = 64 * 1024;
/**
 * Largest segment (a bigger message gets one of its own size). A chunk's bytes were one buffer
 * that doubled when full, copying everything so far: a chunk of 4096 1 KiB messages grew to
 * 4 MiB, and the publishes that made it grow to 1, 2 and 4 MiB (the 512th, 1024th and 2048th of
 * each chunk) paid for a fresh allocation and a copy of half of it in one go, page faults on
 * every page of both: 1.8, 3.2-4 and 6-10 ms on this machine, 14 of the 20 slowest publishes of
 * jspub-sync-mem1k (its p99.9). Segments are never copied: a publish pays for at most one new
 * segment, whose pages are touched as messages fill it.
 */
const SEGMENT_MAX = 256 * 1024;
/** The segment of an empty message stored while its chunk had none. */
const NO_SEGMENT = 0xffff;

class MemBlock extends IndexBlock {
  /**
   * hdr + data of every message, one after the other in a few big buffers (segments): no
   * object per message for the collector to trace (a Buffer each cost ~100 bytes and GC time
   * at 16-byte payloads). Loads return views into them; a compacted chunk has new segments,
   * so a view stays valid (messages never change in place, except an erase, which zeroes them
   * on purpose). A message lies within one segment.
   */
  segments: Buffer[] = [];
  /** The segment appended to (the last one), EMPTY_ARENA before the first. */
  arena: Buffer = EMPTY_ARENA;
  /** Bytes used in `arena`. */
  used = 0;
  /**
   * Each entry's segment (NO_SEGMENT: an empty message stored before the chunk had any; at most
   * one new segment per entry, so CHUNK entries never need more than 16 bits), offset in it,
   * length (hdr + data) and header length.
   */
  segs: Uint16Array = new Uint16Array(64);
  offs: Uint32Array = new Uint32Array(64);
  lens: Uint32Array = new Uint32Array(64);
  hlens: Uint32Array = new Uint32Array(64);
  /** Bytes of removed messages still in the segments. */
  deadBytes = 0;
  /** Entries before this one are dead (see releaseDeadPrefix). */
  private deadPrefix = 0;
  /** Segments before this one were freed by releaseDeadPrefix. */
  private released = 0;

  protected override grow(cap: number): void {
    super.grow(cap);
    const keep = Math.min(this.n, cap);
    const g = new Uint16Array(cap);
    g.set(this.segs.subarray(0, keep));
    this.segs = g;
    const o = new Uint32Array(cap);
    o.set(this.offs.subarray(0, keep));
    this.offs = o;
    const l = new Uint32Array(cap);
    l.set(this.lens.subarray(0, keep));
    this.lens = l;
    const h = new Uint32Array(cap);
    h.set(this.hlens.subarray(0, keep));
    this.hlens = h;
  }

  /**
   * Room for `len` more bytes at `used` of `arena`: a new segment when the last is full, of
   * `want` bytes if given (at least `len`), else twice the last one's (ARENA_MIN..SEGMENT_MAX).
   */
  reserve(len: number, want?: number): void {
    if (this.arena.length - this.used >= len) return;
    const size = Math.max(len, want ?? Math.min(SEGMENT_MAX, Math.max(ARENA_MIN, this.arena.length * 2)));
    this.arena = Buffer.allocUnsafeSlow(size);
    this.segments.push(this.arena);
    this.used = 0;
  }

  /** The segment of entry `i`. */
  segmentOf(i: number): Buffer {
    return this.segments[this.segs[i]!] ?? EMPTY_ARENA;
  }

  /**
   * When the dead entries all come before the live ones (a stream trimmed from its front by
   * its limits), free the segments that hold dead entries only and return true: nothing is
   * copied. Compacting such a chunk copied its live half (2 MiB of 1 KiB messages) within one
   * publish, 8-11 ms here, once per 2048 publishes into a memory stream at its max_msgs; the
   * chunk dies whole once its last message goes. False when dead entries lie between live ones.
   * Used only while the live messages fill a segment or more (afterRemovals).
   */
  releaseDeadPrefix(): boolean {
    let p = this.deadPrefix;
    while (p < this.n && this.subj[p] === null) p++;
    this.deadPrefix = p;
    if (this.alive !== this.n - p) return false;
    const s = p < this.n ? this.segs[p]! : NO_SEGMENT;
    if (s === NO_SEGMENT) return true;
    for (let k = this.released; k < s; k++) this.segments[k] = EMPTY_ARENA;
    if (s > this.released) this.released = s;
    return true;
  }

  /** Drop every segment (the chunk holds no message bytes any more). */
  dropSegments(): void {
    this.released = 0;
    this.deadPrefix = 0;
    this.segments = [];
    this.arena = EMPTY_ARENA;
    this.used = 0;
  }

  /** Keep the segments up to entry `k - 1`'s (the entries from `k` on are gone). */
  cutSegments(k: number): void {
    if (k === 0) {
      this.dropSegments();
      return;
    }
    const s = this.segs[k - 1]!;
    if (s === NO_SEGMENT) {
      this.dropSegments();
      return;
    }
    this.segments.length = s + 1;
    this.arena = this.segments[s]!;
    if (this.released > s + 1) this.released = s + 1;
    if (this.deadPrefix > k) this.deadPrefix = k;
    this.used = this.offs[k - 1]! + this.lens[k - 1]!;
  }

  /** Drop dead entries from the arrays and their bytes from the segments (positions change). */
  compactEntries(): void {
    let j = 0;
    const n = this.n;
    let live = 0;
    for (let i = 0; i < n; i++) if (this.subj[i] !== null) live += this.lens[i]!;
    const old = this.segments;
    this.dropSegments();
    for (let i = 0; i < n; i++) {
      if (this.subj[i] === null) continue;
      const len = this.lens[i]!;
      const from = this.offs[i]!;
      const src = old[this.segs[i]!]!;
      // segments twice what is left to copy (ARENA_MIN..SEGMENT_MAX): the room in the last one
      // takes the next appends, as many as there are live messages (a stream at its limits
      // compacts again when they are in)
      this.reserve(len, Math.min(SEGMENT_MAX, Math.max(ARENA_MIN, 2 * live)));
      live -= len;
      src.copy(this.arena, this.used, from, from + len);
      this.seqs[j] = this.seqs[i]!;
      this.sizes[j] = this.sizes[i]!;
      this.ts[j] = this.ts[i]!;
      this.subj[j] = this.subj[i]!;
      this.segs[j] = this.segments.length > 0 ? this.segments.length - 1 : NO_SEGMENT;
      this.offs[j] = this.used;
      this.lens[j] = len;
      this.hlens[j] = this.hlens[i]!;
      this.used += len;
      j++;
    }
    this.deadBytes = 0;
    this.deadPrefix = 0;
    this.n = j;
    this.subj.length = j;
    this.lo = 0;
    if (this.seqs.length > 4 * Math.max(j, 16)) this.grow(Math.max(64, j * 2));
  }
}

const EMPTY_ARENA = Buffer.alloc(0);

export interface MemStoreOptions extends StoreOptions {}

export class MemStore extends StoreBase<MemBlock> {
  readonly type = "memory" as const;
  private touched = new Set<MemBlock>();
  private consumers = new Map<string, MemConsumerStore>();

  constructor(cfg: Partial<StreamStoreConfig>, opts?: MemStoreOptions) {
    super(cfg, opts);
    const f = this.cfg.firstSeq;
    if (f > 0) {
      this.firstSeq = f;
      this.lastSeq = f - 1;
    }
  }

  protected appendMsg(
    seq: number,
    subj: Subj,
    hdr: Buffer | undefined,
    data: Buffer,
    ts: bigint,
    _ttl: number,
    size: number,
  ): MemBlock {
    let b = this.blocks[this.blocks.length - 1];
    if (b === undefined || b.n >= CHUNK) {
      b = new MemBlock(64);
      this.blocks.push(b);
    }
    // a private copy of hdr + data in the chunk's last segment (callers may reuse their buffers)
    const hl = hdr ? hdr.length : 0;
    const len = hl + data.length;
    b.reserve(len);
    const arena = b.arena;
    const off = b.used;
    if (hdr) hdr.copy(arena, off);
    data.copy(arena, off + hl);
    b.used = off + len;
    const i = b.push(seq, subj, size, ts);
    b.segs[i] = b.segments.length > 0 ? b.segments.length - 1 : NO_SEGMENT;
    b.offs[i] = off;
    b.lens[i] = len;
    b.hlens[i] = hl;
    return b;
  }

  protected appendSkip(_seq: number, _ts: bigint): void {}
  protected appendFloor(_floor: number): void {}

  protected readEntry(b: MemBlock, i: number): StoredMsg | null {
    const off = b.offs[i]!;
    const hl = b.hlens[i]!;
    const end = off + b.lens[i]!;
    const seg = b.segmentOf(i);
    return {
      subject: b.subj[i]!.subject,
      seq: b.seqAt(i),
      time: b.ts[i]!,
      hdr: hl > 0 ? seg.subarray(off, off + hl) : undefined,
      data: seg.subarray(off + hl, end),
    };
  }

  protected entryRemoved(b: MemBlock, i: number, reason: RemoveReason): void {
    if (reason === "erase") b.segmentOf(i).fill(0, b.offs[i]!, b.offs[i]! + b.lens[i]!);
    b.deadBytes += b.lens[i]!;
    this.touched.add(b);
  }

  protected canDropBlock(_b: MemBlock): boolean {
    return true;
  }

  protected releaseBlock(b: MemBlock): void {
    this.touched.delete(b);
    b.dropSegments();
  }

  protected afterRemovals(_durable: boolean): void {
    if (this.touched.size === 0) return;
    for (const b of this.touched) {
      if (b.alive > 0 && b.n >= 64 && (b.n - b.alive) * 2 > b.n) {
        // Little left to copy: compaction is cheap and keeps a small stream small (a chunk of
        // a few live messages in a segment of their size, its index arrays shrunk); a freed
        // front would keep up to two big segments and the whole index until the chunk dies.
        if (b.aliveBytes < SEGMENT_MAX || !b.releaseDeadPrefix()) b.compactEntries();
      }
    }
    this.touched.clear();
  }

  protected resetStorage(old: MemBlock[]): void {
    for (const b of old) this.releaseBlock(b);
    this.touched.clear();
  }

  protected truncateStorage(seq: number, _lastTime: bigint): void {
    while (this.blocks.length > 0) {
      const b = this.blocks[this.blocks.length - 1]!;
      if (b.n > 0 && b.seqs[0]! <= seq) {
        const k = b.lowerBound(seq + 1);
        b.cut(k);
        b.cutSegments(k);
        if (b.n === 0) {
          this.blocks.pop();
          this.releaseBlock(b);
        }
        break;
      }
      this.blocks.pop();
      this.releaseBlock(b);
    }
  }

  protected persistConfig(): void {}

  flush(): void {}
  sync(): Promise<void> {
    return Promise.resolve();
  }
  syncPending(): Promise<void> {
    return Promise.resolve();
  }
  whenDurable(cb: (err: Error | null) => void): void {
    cb(null);
  }

  createConsumer(name: string, config: unknown): ConsumerStore {
    this.checkOpen();
    checkName("consumer", name);
    let c = this.consumers.get(name);
    if (c) {
      c.updateConfig(config);
      return c;
    }
    c = new MemConsumerStore(name, config, () => this.consumers.delete(name));
    this.consumers.set(name, c);
    return c;
  }

  openConsumer(name: string): ConsumerStore {
    this.checkOpen();
    const c = this.consumers.get(name);
    if (!c) throw new StoreError("ErrNotFound", `consumer ${name} not found`);
    return c;
  }

  listConsumers(): string[] {
    return Array.from(this.consumers.keys());
  }

  stop(): void {
    if (this.closed) return;
    this.closeCore();
  }

  delete(): void {
    this.stop();
    for (const c of Array.from(this.consumers.values())) c.delete();
    this.resetStorage(this.blocks);
    this.blocks = [];
    this.subjects.clear();
  }
}

export class MemConsumerStore implements ConsumerStore {
  private cfg: unknown;
  private cur: ConsumerState = emptyConsumerState();

  constructor(
    readonly name: string,
    config: unknown,
    private readonly onDelete?: () => void,
  ) {
    this.cfg = config;
  }

  config(): unknown {
    return this.cfg;
  }
  updateConfig(config: unknown): void {
    this.cfg = config;
  }
  update(state: ConsumerState): void {
    this.cur = state;
  }
  state(): ConsumerState {
    return cloneConsumerState(this.cur);
  }
  flush(): void {}
  sync(): Promise<void> {
    return Promise.resolve();
  }
  stop(): void {}
  delete(): void {
    this.onDelete?.();
  }
}
