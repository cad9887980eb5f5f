// The in-memory index and all stream-store semantics shared by MemStore and FileStore.
//
// Index layout
//  * Messages live in "blocks" (memory chunks or block files). Each block keeps
//    parallel typed arrays over its entries in ascending sequence order:
//      seqs (Float64Array), sizes (Uint32Array), ts (BigInt64Array), subj (Subj|null)[]
//    An entry with subj === null is not a live message (deleted, skipped marker, corrupt).
//    Lookup by sequence is O(1) for gap-free blocks (seq - first) and O(log n) otherwise;
//    finding the block is O(1) for the last block and O(log #blocks) otherwise.
//  * Per subject (Map<string, Subj>) we keep the ascending list of its sequences with a
//    head pointer and lazy deletion, giving O(1) first/last/count, O(1) amortized
//    per-subject limit enforcement and O(log n) "next message on subject >= seq".
//  * Wildcard filters are resolved to a Set of Subj, cached per filter and maintained
//    incrementally as subjects appear / disappear.
//  * Max age is enforced by scanning from the first message (messages are in time order)
//    on one timer; per-message TTLs use a binary heap keyed by expiry time.
//
// Backends implement the abstract hooks (persist an append, read a body, persist a
// removal, release a block, purge / truncate the physical storage).

import {
  ConsumerStore,
  ErrMaxBytes,
  ErrMaxMsgs,
  ErrMaxMsgSize,
  ErrMaxMsgsPerSubject,
  ErrSequenceMismatch,
  ErrStoreClosed,
  Logger,
  RemoveHandler,
  ExpiryHandler,
  RemoveReason,
  SimpleState,
  StorageType,
  StoredMsg,
  StoreError,
  StoreOptions,
  StoreResult,
  StreamState,
  StreamStore,
  StreamStoreConfig,
  consoleLogger,
  normalizeStoreConfig,
  storeMsgSize,
} from "./store.js";
import { nowNs } from "../server/time.js";
import { smallInt } from "../server/small_int.js";
import { hasWildcard, isFullWildcard, subjectMatches } from "../protocol/subject.js";

/** Per-subject state: ascending sequences with lazy deletion. */
export class Subj {
  /** Ascending sequences; entries before `head` are gone; seqs[head] and the last entry are live. */
  seqs: number[] = [];
  head = 0;
  /** Live messages on this subject. */
  msgs = 0;
  /** Dead entries still present in seqs[head..]. */
  dead = 0;
  constructor(readonly subject: string) {}
  first(): number {
    return this.seqs[this.head]!;
  }
  last(): number {
    return this.seqs[this.seqs.length - 1]!;
  }
}

/** Index over a run of entries (a memory chunk or a block file). */
export class IndexBlock {
  n = 0;
  alive = 0;
  aliveBytes = 0;
  /** All entries before `lo` are dead (scan hint). */
  lo = 0;
  /**
   * The per-message arrays, behind getters: a file block's index may be dropped while it is
   * idle (filestore.ts, dropIndex) and is loaded again by the first access (load()). What the
   * store needs without loading (first/last seq, last time, counts) stays in fields.
   */
  protected _seqs: Float64Array;
  protected _sizes: Uint32Array;
  protected _ts: BigInt64Array;
  /** Entries [0, n) are valid; it may be longer (room made ahead, see the constructor). */
  protected _subj: (Subj | null)[];
  /** The arrays above were dropped (only ever for a sealed file block): load() before use. */
  unloaded = false;
  /** While unloaded: first and last sequence, time of the last entry (n > 0). */
  protected uFirst = 0;
  protected uLast = 0;
  protected uLastTs = 0n;
  /** seq -> per-message ttl (seconds, -1 = never) for messages stored with a TTL. */
  ttls: Map<number, number> | null = null;

  /**
   * `cap` entries are made room for at once: a block whose size is known ahead (a file block
   * after one filled up) never grows its arrays, and every growth leaves the old ones behind
   * as garbage until the next full collection (megabytes per block of small messages).
   */
  constructor(cap = 64) {
    this._seqs = new Float64Array(cap);
    this._sizes = new Uint32Array(cap);
    this._ts = new BigInt64Array(cap);
    // Filled, so every block's array holds objects from the start: a new block's first entry
    // would otherwise change its array's kind (small integers to objects) and throw away the
    // optimized push that had only seen arrays already changed.
    this._subj = new Array<Subj | null>(cap).fill(null);
  }

  get seqs(): Float64Array {
    if (this.unloaded) this.load();
    return this._seqs;
  }
  set seqs(v: Float64Array) {
    this._seqs = v;
  }
  get sizes(): Uint32Array {
    if (this.unloaded) this.load();
    return this._sizes;
  }
  set sizes(v: Uint32Array) {
    this._sizes = v;
  }
  get ts(): BigInt64Array {
    if (this.unloaded) this.load();
    return this._ts;
  }
  set ts(v: BigInt64Array) {
    this._ts = v;
  }
  get subj(): (Subj | null)[] {
    if (this.unloaded) this.load();
    return this._subj;
  }
  set subj(v: (Subj | null)[]) {
    this._subj = v;
  }

  /** Bring a dropped index back (file blocks override it). */
  protected load(): void {
    throw new Error("index block has no backing store to load from");
  }

  /** First sequence (n > 0), without loading a dropped index. */
  get first(): number {
    return this.unloaded ? this.uFirst : smallInt(this._seqs[0]!);
  }
  /** Last sequence (n > 0), without loading a dropped index. */
  get last(): number {
    return this.unloaded ? this.uLast : smallInt(this._seqs[this.n - 1]!);
  }
  /** Time of the last entry (n > 0), without loading a dropped index. */
  get lastTs(): bigint {
    return this.unloaded ? this.uLastTs : this._ts[this.n - 1]!;
  }

  /**
   * The sequence at `i` as a small integer where it fits: read from the Float64Array it is a
   * heap number, and the first one stored into a field that held small integers (the store's
   * firstSeq, once the first message is removed) changes the shape of every store and throws
   * away the optimized code of the publish path mid-run (server/small_int.ts).
   */
  seqAt(i: number): number {
    return smallInt(this.seqs[i]!);
  }

  protected grow(cap: number): void {
    if (this.unloaded) this.load();
    const s = new Float64Array(cap);
    s.set(this.seqs.subarray(0, this.n));
    this.seqs = s;
    const z = new Uint32Array(cap);
    z.set(this.sizes.subarray(0, this.n));
    this.sizes = z;
    const t = new BigInt64Array(cap);
    t.set(this.ts.subarray(0, this.n));
    this.ts = t;
  }

  /** Append an index entry; returns its position. Does not touch alive counters. */
  push(seq: number, subj: Subj | null, size: number, ts: bigint): number {
    if (this.unloaded) this.load();
    if (this.n === this._seqs.length) this.grow(Math.max(64, this.n * 2));
    const i = this.n++;
    this._seqs[i] = seq;
    this._sizes[i] = size;
    this._ts[i] = ts;
    // i <= subj.length: within the room made ahead, or appended (V8 grows it)
    this._subj[i] = subj;
    return i;
  }

  /** Position of seq, or -1. */
  find(seq: number): number {
    const n = this.n;
    if (n === 0) return -1;
    const seqs = this.seqs;
    const g = seq - this.seqAt(0);
    if (g >= 0 && g < n && seqs[g] === seq) return g;
    const i = this.lowerBound(seq);
    return i < n && seqs[i] === seq ? i : -1;
  }

  /** First position whose seq >= seq (n if none). */
  lowerBound(seq: number): number {
    return lowerBoundArr(this.seqs, seq, 0, this.n);
  }

  /** Drop entries from position k on (index only). */
  cut(k: number): void {
    for (let i = k; i < this.n; i++) {
      if (this.subj[i] !== null) throw new Error("cut over a live entry");
    }
    this.n = k;
    this.subj.length = k;
    if (this.lo > k) this.lo = k;
  }
}

/** First position in a[lo..hi) (ascending) whose value is >= v (hi if none). */
function lowerBoundArr(a: ArrayLike<number>, v: number, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const MAX_FILTER_CACHE = 32;
const LINEAR_SCAN_LIMIT = 256;

export abstract class StoreBase<B extends IndexBlock> implements StreamStore {
  abstract readonly type: StorageType;

  protected cfg: StreamStoreConfig;
  protected log: Logger;
  protected blocks: B[] = [];
  protected subjects = new Map<string, Subj>();
  protected msgs = 0;
  protected bytes = 0;
  protected firstSeq = 0;
  protected lastSeq = 0;
  protected lastTime = 0n;
  protected closed = false;
  protected lostSeqs: number[] = [];
  protected lostBytes = 0;

  /** Result slots of locate()/iteration helpers (avoid allocating tuples). */
  protected lb: B | null = null;
  protected li = -1;

  private firstDirty = false;
  private emptied: B[] = [];
  private opDurable = false;
  private onRemoveH: RemoveHandler | undefined;
  private onExpireH: ExpiryHandler | undefined;
  private holdExpiryH: (() => boolean) | undefined;
  private hookSeq: number[] = [];
  private hookSubj: string[] = [];
  private hookWhy: RemoveReason[] = [];
  private filterCache = new Map<string, Set<Subj>>();
  // TTL heap (expiry ms, seq)
  private heapT: number[] = [];
  private heapS: number[] = [];
  private ttlLive = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;

  constructor(cfg: Partial<StreamStoreConfig>, opts: StoreOptions | undefined) {
    this.cfg = normalizeStoreConfig(cfg);
    this.log = opts?.logger ?? consoleLogger;
    this.onRemoveH = opts?.onRemove;
    this.onExpireH = opts?.onExpire;
    this.holdExpiryH = opts?.holdExpiry;
  }

  // ---------------------------------------------------------------------------
  // Backend hooks

  /** Persist a message and push its index entry (alive counters are the core's job). */
  protected abstract appendMsg(
    seq: number,
    subj: Subj,
    hdr: Buffer | undefined,
    data: Buffer,
    ts: bigint,
    ttl: number,
    size: number,
  ): B;
  /** Persist that the last sequence is now `seq` (skip). */
  protected abstract appendSkip(seq: number, ts: bigint): void;
  /** Read the body of a live entry; null if it turned out to be corrupt (backend calls dropCorrupt). */
  /** A record as a StoredMsg; `borrow`: hdr/data may be views of the store's buffers (see loadMsg). */
  protected abstract readEntry(b: B, i: number, borrow?: boolean): StoredMsg | null;
  /** An entry was just marked dead in the index. */
  protected abstract entryRemoved(b: B, i: number, reason: RemoveReason): void;
  /** May this block (no live entries) be released? */
  protected abstract canDropBlock(b: B): boolean;
  /** Release a block's resources (it is already out of `blocks`). */
  protected abstract releaseBlock(b: B): void;
  /** End of an operation that removed entries. durable: removals must reach the disk now. */
  protected abstract afterRemovals(durable: boolean): void;
  /**
   * Everything is gone: the index is already cleared and `lastSeq`/`lastTime` hold the new
   * values. The backend must persist the new floor (firstSeq) BEFORE releasing `old`.
   */
  protected abstract resetStorage(old: B[]): void;
  /** compact(): persist "every sequence < floor is gone" before the entries are removed. */
  protected abstract appendFloor(floor: number): void;
  /**
   * Physically drop entries with seq > seq (live ones were already removed); the new last
   * sequence is seq with time lastTime (persist it if seq is not a live message).
   */
  protected abstract truncateStorage(seq: number, lastTime: bigint): void;
  protected abstract persistConfig(): void;

  abstract flush(): void;
  abstract sync(): Promise<void>;
  abstract syncPending(): Promise<void>;
  abstract whenDurable(cb: (err: Error | null) => void): void;
  abstract createConsumer(name: string, config: unknown): ConsumerStore;
  abstract openConsumer(name: string): ConsumerStore;
  abstract listConsumers(): string[];
  abstract stop(): void;
  abstract delete(): void;

  get isClosed(): boolean {
    return this.closed;
  }

  protected checkOpen(): void {
    if (this.closed) throw new ErrStoreClosed();
  }

  setRemoveHandler(h: RemoveHandler | undefined): void {
    this.onRemoveH = h;
  }

  config(): StreamStoreConfig {
    return { ...this.cfg };
  }

  // ---------------------------------------------------------------------------
  // Location helpers

  /** Position of seq (any entry, live or not) in this.lb, or -1. */
  protected locate(seq: number): number {
    const bl = this.blocks;
    const nb = bl.length;
    if (nb === 0) return -1;
    const last = bl[nb - 1]!;
    if (last.n > 0 && seq >= last.first) {
      this.lb = last;
      return last.find(seq);
    }
    // seq is below the last block's first entry (or that block is empty)
    const k = this.blockIdxLE(seq);
    if (k < 0) return -1;
    const b = bl[k]!;
    this.lb = b;
    return b.find(seq);
  }

  /** Index of the first block whose last entry >= seq (blocks.length if none). */
  protected blockIdxGE(seq: number): number {
    const bl = this.blocks;
    let lo = 0;
    let hi = bl.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = bl[mid]!;
      if (b.n === 0 || b.last < seq) lo = mid + 1;
      else hi = mid;
    }
    // an empty last block has no entries >= seq
    while (lo < bl.length && bl[lo]!.n === 0) lo++;
    return lo;
  }

  /** Index of the last block whose first entry <= seq (-1 if none). */
  protected blockIdxLE(seq: number): number {
    const bl = this.blocks;
    let lo = 0;
    let hi = bl.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = bl[mid]!;
      if (b.n > 0 && b.first <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Is seq a live message of subject s? */
  private aliveFor(seq: number, s: Subj): boolean {
    const i = this.locate(seq);
    return i >= 0 && this.lb!.subj[i] === s;
  }

  /** First live seq >= seq (0 if none); sets lb/li. */
  protected nextAlive(seq: number): number {
    const bl = this.blocks;
    for (let k = this.blockIdxGE(seq); k < bl.length; k++) {
      const b = bl[k]!;
      if (b.alive === 0) continue;
      const subj = b.subj;
      const n = b.n;
      let i = b.seqs[0]! >= seq ? b.lo : Math.max(b.lo, b.lowerBound(seq));
      const fromLo = i === b.lo;
      while (i < n && subj[i] === null) i++;
      if (fromLo) b.lo = i;
      if (i < n) {
        this.lb = b;
        this.li = i;
        return b.seqAt(i);
      }
    }
    return 0;
  }

  /** Last live seq <= seq (0 if none); sets lb/li. */
  protected prevAlive(seq: number): number {
    const bl = this.blocks;
    for (let k = this.blockIdxLE(seq); k >= 0; k--) {
      const b = bl[k]!;
      if (b.alive === 0) continue;
      let i = b.n > 0 && b.seqs[b.n - 1]! <= seq ? b.n - 1 : b.lowerBound(seq + 1) - 1;
      const subj = b.subj;
      while (i >= b.lo && subj[i] === null) i--;
      if (i >= b.lo && i >= 0) {
        this.lb = b;
        this.li = i;
        return b.seqAt(i);
      }
    }
    return 0;
  }

  private lastAlive(): number {
    return this.msgs === 0 ? 0 : this.prevAlive(this.lastSeq);
  }

  // ---------------------------------------------------------------------------
  // Subjects

  private addSubject(s: Subj): void {
    this.subjects.set(s.subject, s);
    for (const [f, set] of this.filterCache) {
      if (subjectMatches(f, s.subject)) set.add(s);
    }
  }

  private subjRemove(s: Subj, seq: number): void {
    s.msgs--;
    if (s.msgs <= 0) {
      this.subjects.delete(s.subject);
      for (const set of this.filterCache.values()) set.delete(s);
      s.seqs = [];
      s.head = 0;
      s.dead = 0;
      s.msgs = 0;
      return;
    }
    const a = s.seqs;
    if (a[s.head] === seq) {
      s.head++;
      while (!this.aliveFor(a[s.head]!, s)) {
        s.head++;
        s.dead--;
      }
      if (s.head * 2 >= a.length) {
        // in place; amortized O(1) since at most head entries move
        a.copyWithin(0, s.head);
        a.length -= s.head;
        s.head = 0;
      }
    } else if (a[a.length - 1] === seq) {
      a.pop();
      while (!this.aliveFor(a[a.length - 1]!, s)) {
        a.pop();
        s.dead--;
      }
    } else {
      s.dead++;
      if (s.dead > 32 && s.dead > s.msgs) {
        const out: number[] = [];
        for (let k = s.head; k < a.length; k++) {
          const q = a[k]!;
          if (this.aliveFor(q, s)) out.push(q);
        }
        s.seqs = out;
        s.head = 0;
        s.dead = 0;
      }
    }
  }

  /** Live seq of subject s that is >= seq (0 if none). */
  private subjNext(s: Subj, seq: number): number {
    if (s.msgs === 0) return 0;
    if (seq <= s.first()) return s.first();
    if (seq > s.last()) return 0;
    const a = s.seqs;
    for (let k = lowerBoundArr(a, seq, s.head, a.length); k < a.length; k++) {
      if (s.dead === 0 || this.aliveFor(a[k]!, s)) return a[k]!;
    }
    return 0;
  }

  /** Live seq of subject s that is <= seq (0 if none). */
  private subjPrev(s: Subj, seq: number): number {
    if (s.msgs === 0 || seq < s.first()) return 0;
    if (seq >= s.last()) return s.last();
    const a = s.seqs;
    for (let k = lowerBoundArr(a, seq + 1, s.head, a.length) - 1; k >= s.head; k--) {
      if (s.dead === 0 || this.aliveFor(a[k]!, s)) return a[k]!;
    }
    return 0;
  }

  /** Number of live messages of s with seq >= seq. */
  private subjCountFrom(s: Subj, seq: number): number {
    if (s.msgs === 0 || seq > s.last()) return 0;
    if (seq <= s.first()) return s.msgs;
    const a = s.seqs;
    const k0 = lowerBoundArr(a, seq, s.head, a.length);
    if (s.dead === 0) return a.length - k0;
    let c = 0;
    for (let k = k0; k < a.length; k++) if (this.aliveFor(a[k]!, s)) c++;
    return c;
  }

  /** Subjects matching a wildcard filter (cached, kept up to date). */
  private matchSet(filter: string): Set<Subj> {
    let set = this.filterCache.get(filter);
    if (set) return set;
    set = new Set();
    for (const s of this.subjects.values()) if (subjectMatches(filter, s.subject)) set.add(s);
    if (this.filterCache.size >= MAX_FILTER_CACHE) {
      const oldest = this.filterCache.keys().next().value;
      if (oldest !== undefined) this.filterCache.delete(oldest);
    }
    this.filterCache.set(filter, set);
    return set;
  }

  /** Snapshot of the subjects matching filter. */
  private matching(filter: string): Subj[] {
    if (isFullWildcard(filter)) return Array.from(this.subjects.values());
    if (!hasWildcard(filter)) {
      const s = this.subjects.get(filter);
      return s ? [s] : [];
    }
    return Array.from(this.matchSet(filter));
  }

  /** Next live seq >= start whose subject matches filter (0 if none). */
  protected nextMatch(filter: string, start: number): number {
    if (this.msgs === 0) return 0;
    if (start < 1) start = 1;
    if (isFullWildcard(filter)) return this.nextAlive(start);
    // A wildcard filter seen before is in the cache (no scan of the filter for wildcards).
    let set = this.filterCache.get(filter);
    if (set === undefined) {
      if (!hasWildcard(filter)) {
        const s = this.subjects.get(filter);
        return s ? this.subjNext(s, start) : 0;
      }
      set = this.matchSet(filter);
    }
    if (set.size === 0) return 0;
    // Every subject stored matches (a consumer filtered on the stream's own subjects): no filtering.
    if (set.size === this.subjects.size) return this.nextAlive(start);
    if (set.size > 8) {
      // Dense matches are found fastest by walking the sequence space a little.
      let q = this.nextAlive(start);
      const limit = Math.max(LINEAR_SCAN_LIMIT, set.size * 16);
      for (let steps = 0; q !== 0 && steps < limit; steps++) {
        const b = this.lb!;
        let i = this.li;
        const s = b.subj[i]!;
        if (set.has(s)) return q;
        // advance within the block
        i++;
        while (i < b.n && b.subj[i] === null) i++;
        if (i < b.n) {
          this.li = i;
          q = b.seqAt(i);
        } else {
          q = this.nextAlive(b.seqs[b.n - 1]! + 1);
        }
      }
      if (q === 0) return 0;
      start = q;
    }
    let best = 0;
    for (const s of set) {
      const q = this.subjNext(s, start);
      if (q !== 0 && (best === 0 || q < best)) best = q;
    }
    return best;
  }

  /** Last live seq <= max whose subject matches filter (0 if none). */
  private prevMatch(filter: string, max: number): number {
    if (this.msgs === 0 || max < 1) return 0;
    if (isFullWildcard(filter)) return this.prevAlive(max);
    if (!hasWildcard(filter)) {
      const s = this.subjects.get(filter);
      return s ? this.subjPrev(s, max) : 0;
    }
    let best = 0;
    for (const s of this.matchSet(filter)) {
      const q = this.subjPrev(s, max);
      if (q > best) best = q;
    }
    return best;
  }

  // ---------------------------------------------------------------------------
  // Removal machinery

  /** Remove the live entry at (b, i). Caller must finish() the operation. */
  protected removeAt(b: B, i: number, reason: RemoveReason): void {
    const s = b.subj[i];
    if (!s) return;
    const seq = b.seqAt(i);
    const size = b.sizes[i]!;
    b.subj[i] = null;
    b.alive--;
    b.aliveBytes -= size;
    this.msgs--;
    this.bytes -= size;
    if (b.ttls !== null) {
      const t = b.ttls.get(seq);
      if (t !== undefined) {
        b.ttls.delete(seq);
        if (t > 0) this.ttlLive--;
      }
    }
    this.subjRemove(s, seq);
    if (seq <= this.firstSeq || this.msgs === 0) this.firstDirty = true;
    this.entryRemoved(b, i, reason);
    if (b.alive === 0) this.emptied.push(b);
    if (reason === "remove" || reason === "erase" || reason === "purge") this.opDurable = true;
    if (this.onRemoveH) {
      this.hookSeq.push(seq);
      this.hookSubj.push(s.subject);
      this.hookWhy.push(reason);
    }
  }

  protected removeSeq(seq: number, reason: RemoveReason): boolean {
    const i = this.locate(seq);
    if (i < 0) return false;
    const b = this.lb!;
    if (b.subj[i] === null) return false;
    this.removeAt(b, i, reason);
    return true;
  }

  private removeFirst(reason: RemoveReason): boolean {
    const q = this.nextAlive(this.firstDirty ? 1 : this.firstSeq);
    if (q === 0) return false;
    this.removeAt(this.lb!, this.li, reason);
    return true;
  }

  /** Called by backends when a checksum error is found on read. Finishes by itself. */
  protected dropCorrupt(b: B, i: number): void {
    const s = b.subj[i];
    if (!s) return;
    this.lostSeqs.push(b.seqAt(i));
    this.lostBytes += b.sizes[i]!;
    this.removeAt(b, i, "corrupt");
    this.finish();
  }

  private recomputeFirst(): void {
    this.firstDirty = false;
    if (this.msgs === 0) {
      this.firstSeq = this.lastSeq + 1;
      return;
    }
    const q = this.nextAlive(1);
    if (q !== 0) this.firstSeq = q;
  }

  /** Complete an operation: fix first, release empty blocks, persist, run hooks. */
  protected finish(): void {
    if (this.firstDirty) this.recomputeFirst();
    if (this.emptied.length > 0) {
      const keep: B[] = [];
      let drop = false;
      for (const b of this.emptied) {
        if (b.alive !== 0) continue;
        if (this.canDropBlock(b)) drop = true;
        else keep.push(b);
      }
      if (drop) {
        const gone: B[] = [];
        this.blocks = this.blocks.filter((b) => {
          if (b.alive === 0 && this.canDropBlock(b)) {
            gone.push(b);
            return false;
          }
          return true;
        });
        for (const b of gone) this.releaseBlock(b);
      }
      this.emptied = keep.filter((b) => this.blocks.includes(b));
    }
    const durable = this.opDurable;
    this.opDurable = false;
    this.afterRemovals(durable);
    this.runHooks();
  }

  private runHooks(): void {
    const h = this.onRemoveH;
    if (!h || this.hookSeq.length === 0) {
      if (this.hookSeq.length) {
        this.hookSeq = [];
        this.hookSubj = [];
        this.hookWhy = [];
      }
      return;
    }
    const seqs = this.hookSeq;
    const subjs = this.hookSubj;
    const why = this.hookWhy;
    this.hookSeq = [];
    this.hookSubj = [];
    this.hookWhy = [];
    for (let k = 0; k < seqs.length; k++) {
      try {
        h(seqs[k]!, subjs[k]!, why[k]!);
      } catch (e) {
        this.log.error(`stream ${this.cfg.name}: onRemove handler threw: ${String(e)}`);
      }
    }
  }

  /** Drop the whole index (purge / reset). Hooks are queued for every live message. */
  private clearIndex(reason: RemoveReason): B[] {
    if (this.onRemoveH) {
      for (const b of this.blocks) {
        for (let i = 0; i < b.n; i++) {
          const s = b.subj[i];
          if (s) {
            this.hookSeq.push(b.seqAt(i));
            this.hookSubj.push(s.subject);
            this.hookWhy.push(reason);
          }
        }
      }
    }
    const old = this.blocks;
    this.blocks = [];
    this.subjects.clear();
    this.filterCache.clear();
    this.emptied = [];
    this.heapT = [];
    this.heapS = [];
    this.ttlLive = 0;
    this.msgs = 0;
    this.bytes = 0;
    this.firstDirty = false;
    return old;
  }

  // ---------------------------------------------------------------------------
  // Store

  storeMsg(subject: string, hdr: Buffer | undefined, data: Buffer, ttl?: number): StoreResult {
    this.checkOpen();
    const ts = nowNs();
    const seq = this.lastSeq + 1;
    this.storeInternal(subject, hdr, data, seq, ts, ttl ?? 0);
    return { seq, time: ts };
  }

  storeRawMsg(subject: string, hdr: Buffer | undefined, data: Buffer, seq: number, time: bigint, ttl?: number, limitsChecked?: boolean): void {
    this.checkOpen();
    if (seq === 0) seq = this.lastSeq + 1;
    else if (seq !== this.lastSeq + 1) throw new ErrSequenceMismatch(this.lastSeq + 1, seq);
    this.storeInternal(subject, hdr, data, seq, time, ttl ?? 0, limitsChecked === true);
  }

  private storeInternal(subject: string, hdr: Buffer | undefined, data: Buffer, seq: number, ts: bigint, ttl: number, limitsChecked = false): void {
    if (typeof subject !== "string" || subject.length === 0) {
      throw new StoreError("ErrBadSubject", "a message needs a subject");
    }
    if (hdr !== undefined && hdr.length === 0) hdr = undefined;
    if (!Number.isFinite(ttl) || (ttl < 0 && ttl !== -1)) {
      throw new StoreError("ErrBadConfig", `invalid message ttl: ${ttl}`);
    }
    ttl = Math.floor(ttl);
    const c = this.cfg;
    const payload = (hdr ? hdr.length : 0) + data.length;
    if (c.maxMsgSize > 0 && payload > c.maxMsgSize && !limitsChecked) throw new ErrMaxMsgSize();
    const size = storeMsgSize(this.type, subject, hdr, data);
    let s = this.subjects.get(subject);
    const maxPer = c.maxMsgsPerSubject;
    const asl = maxPer > 0 && s !== undefined && s.msgs >= maxPer;
    if (c.discard === "new" && !limitsChecked) {
      if (asl && c.discardNewPerSubject) throw new ErrMaxMsgsPerSubject();
      if (c.maxMsgs > 0 && this.msgs >= c.maxMsgs && !asl) throw new ErrMaxMsgs();
      // As nats-server 2.14+: refused when the record would take the total past maxBytes, unless
      // it replaces a subject's oldest record (at its per-subject limit) at least as large.
      if (c.maxBytes > 0 && this.bytes + size > c.maxBytes) {
        if (!asl) throw new ErrMaxBytes();
        const i = this.locate(s!.first());
        if (i < 0 || this.lb!.sizes[i]! < size) throw new ErrMaxBytes();
      }
    }
    const isNew = s === undefined;
    if (s === undefined) s = new Subj(subject);
    const b = this.appendMsg(seq, s, hdr, data, ts, ttl, size);
    if (isNew) this.addSubject(s);
    s.seqs.push(seq);
    s.msgs++;
    b.alive++;
    b.aliveBytes += size;
    this.msgs++;
    this.bytes += size;
    if (this.msgs === 1) {
      this.firstSeq = seq;
      this.firstDirty = false;
    }
    this.lastSeq = seq;
    this.lastTime = ts;
    if (ttl !== 0) {
      (b.ttls ??= new Map()).set(seq, ttl);
      if (ttl > 0) {
        this.ttlLive++;
        const at = Number(ts / 1_000_000n) + ttl * 1000;
        this.heapPush(at, seq);
        this.armTimer(at);
      }
    }
    if (c.maxAgeMs > 0) this.armTimer(Date.now() + c.maxAgeMs);

    // limits: per subject first, then msgs / bytes (discard old only)
    let removed = false;
    if (maxPer > 0 && s.msgs > maxPer) {
      while (s.msgs > maxPer) this.removeSeq(s.first(), "limits");
      removed = true;
    }
    if (c.discard === "old" && c.maxMsgs > 0) {
      while (this.msgs > c.maxMsgs && this.removeFirst("limits")) removed = true;
    }
    // Also with discard "new": a record admitted in place of a subject's oldest may still take
    // the total past maxBytes; like nats-server, the oldest then make room.
    if (c.maxBytes > 0 && (c.discard === "old" || !limitsChecked)) {
      while (this.bytes > c.maxBytes && this.removeFirst("limits")) removed = true;
    }
    if (removed) this.finish();
  }

  skipMsg(seq?: number): number {
    this.checkOpen();
    const next = this.lastSeq + 1;
    if (seq !== undefined && seq !== 0 && seq !== next) throw new ErrSequenceMismatch(next, seq);
    const ts = nowNs();
    this.appendSkip(next, ts);
    this.lastSeq = next;
    this.lastTime = ts;
    if (this.msgs === 0) this.firstSeq = next + 1;
    return next;
  }

  skipMsgs(seq: number, num: number, time?: bigint): void {
    this.checkOpen();
    const next = this.lastSeq + 1;
    if (seq !== 0 && seq !== next) throw new ErrSequenceMismatch(next, seq);
    if (!Number.isInteger(num) || num < 1) return;
    const last = next + num - 1;
    const ts = time !== undefined && time > 0n ? time : nowNs();
    this.appendSkip(last, ts);
    this.lastSeq = last;
    this.lastTime = ts;
    if (this.msgs === 0) this.firstSeq = last + 1;
  }

  // ---------------------------------------------------------------------------
  // Loads

  loadMsg(seq: number, borrow = false): StoredMsg | null {
    this.checkOpen();
    const i = this.locate(seq);
    if (i < 0) return null;
    const b = this.lb!;
    if (b.subj[i] === null) return null;
    return this.readEntry(b, i, borrow);
  }

  loadNextMsg(filter: string, startSeq: number, borrow = false): StoredMsg | null {
    this.checkOpen();
    let start = startSeq;
    for (;;) {
      const q = this.nextMatch(filter, start);
      if (q === 0) return null;
      const m = this.loadMsg(q, borrow);
      if (m) return m;
      start = q + 1; // it was corrupt and got dropped
    }
  }

  loadNextMsgMulti(filters: string[], startSeq: number, borrow = false): StoredMsg | null {
    this.checkOpen();
    let start = startSeq;
    for (;;) {
      let best = 0;
      for (const f of filters) {
        const q = this.nextMatch(f, start);
        if (q !== 0 && (best === 0 || q < best)) best = q;
        if (best === start) break;
      }
      if (best === 0) return null;
      const m = this.loadMsg(best, borrow);
      if (m) return m;
      start = best + 1;
    }
  }

  loadLastMsg(filter: string): StoredMsg | null {
    this.checkOpen();
    return this.loadPrevMsg(this.lastSeq, filter);
  }

  loadPrevMsg(startSeq: number, filter = ""): StoredMsg | null {
    this.checkOpen();
    let max = startSeq;
    for (;;) {
      const q = this.prevMatch(filter, max);
      if (q === 0) return null;
      const m = this.loadMsg(q);
      if (m) return m;
      max = q - 1;
    }
  }

  getSeqFromTime(time: bigint): number {
    this.checkOpen();
    if (this.msgs === 0) return this.lastSeq + 1;
    const bl = this.blocks;
    let lo = 0;
    let hi = bl.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = bl[mid]!;
      if (b.n === 0 || b.lastTs < time) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= bl.length) return this.lastSeq + 1;
    const b = bl[lo]!;
    let l = 0;
    let h = b.n;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (b.ts[mid]! < time) l = mid + 1;
      else h = mid;
    }
    const q = this.nextAlive(b.seqs[l]!);
    return q === 0 ? this.lastSeq + 1 : q;
  }

  multiLastSeqs(filters: string[], maxSeq: number, maxAllowed: number): number[] {
    this.checkOpen();
    if (this.msgs === 0) return [];
    if (!maxSeq) maxSeq = this.lastSeq;
    const out = new Set<number>();
    for (const f of filters) {
      for (const s of this.matching(f)) {
        const q = this.subjPrev(s, maxSeq);
        if (q !== 0) out.add(q);
      }
      if (maxAllowed > 0 && out.size > maxAllowed) {
        throw new StoreError("ErrTooManyResults", "too many results");
      }
    }
    return Array.from(out).sort((a, b) => a - b);
  }

  // ---------------------------------------------------------------------------
  // Removal API

  removeMsg(seq: number): boolean {
    this.checkOpen();
    const ok = this.removeSeq(seq, "remove");
    this.finish();
    return ok;
  }

  eraseMsg(seq: number): boolean {
    this.checkOpen();
    const ok = this.removeSeq(seq, "erase");
    this.finish();
    return ok;
  }

  purge(): number {
    this.checkOpen();
    const purged = this.msgs;
    const old = this.clearIndex("purge");
    this.firstSeq = this.lastSeq + 1;
    this.resetStorage(old);
    this.runHooks();
    return purged;
  }

  compact(seq: number): number {
    this.checkOpen();
    if (seq <= 0) return this.purge();
    if (seq > this.lastSeq) {
      const purged = this.msgs;
      const old = this.clearIndex("purge");
      this.lastSeq = seq - 1;
      this.firstSeq = seq;
      this.resetStorage(old);
      this.runHooks();
      return purged;
    }
    if (this.firstDirty) this.recomputeFirst();
    if (this.msgs === 0 || seq <= this.firstSeq) return 0;
    let purged = 0;
    this.appendFloor(seq);
    try {
      for (let q = this.nextAlive(1); q !== 0 && q < seq; q = this.nextAlive(q + 1)) {
        this.removeAt(this.lb!, this.li, "purge");
        purged++;
      }
      this.opDurable = true;
    } finally {
      this.finish();
    }
    return purged;
  }

  purgeEx(subject = "", seq = 0, keep = 0): number {
    this.checkOpen();
    seq = seq || 0;
    keep = keep || 0;
    // "Up to but not including 1" removes nothing (nats-server 2.15; older servers purged all).
    if (seq === 1) return 0;
    if (isFullWildcard(subject)) {
      if (keep === 0 && seq === 0) return this.purge();
      if (seq > 1) return this.compact(seq);
      if (keep > 0) {
        if (keep >= this.msgs) return 0;
        // the first kept message is the keep-th from the end
        let q = this.lastSeq;
        for (let k = 0; k < keep; k++) q = this.prevAlive(q) - 1;
        return this.compact(q + 1);
      }
      return 0;
    }
    const ss = this.filteredState(1, subject);
    if (ss.msgs === 0) return 0;
    let toPurge = ss.msgs;
    if (keep > 0) {
      if (keep >= ss.msgs) return 0;
      toPurge -= keep;
    }
    const last = seq > 1 ? seq - 1 : ss.last;
    // candidates in ascending order
    const cand: number[] = [];
    for (const s of this.matching(subject)) {
      const a = s.seqs;
      for (let k = s.head; k < a.length; k++) {
        const q = a[k]!;
        if (q > last) break;
        if (s.dead === 0 || this.aliveFor(q, s)) cand.push(q);
      }
    }
    cand.sort((a, b) => a - b);
    let purged = 0;
    try {
      for (const q of cand) {
        if (purged >= toPurge) break;
        if (this.removeSeq(q, "purge")) purged++;
      }
      this.opDurable = true;
    } finally {
      this.finish();
    }
    return purged;
  }

  truncate(seq: number): void {
    this.checkOpen();
    if (seq <= 0) {
      const old = this.clearIndex("truncate");
      this.lastSeq = 0;
      this.firstSeq = 0;
      this.lastTime = 0n;
      this.resetStorage(old);
      this.runHooks();
      return;
    }
    if (seq > this.lastSeq) throw new StoreError("ErrInvalidSequence", `truncate past last sequence ${this.lastSeq}`);
    if (seq === this.lastSeq) return;
    try {
      for (let q = this.prevAlive(this.lastSeq); q > seq; q = this.prevAlive(q - 1)) {
        this.removeAt(this.lb!, this.li, "truncate");
      }
      // new last time: the message at seq, else the last message before it
      let lt = 0n;
      if (this.prevAlive(seq) !== 0) {
        lt = this.lb!.ts[this.li]!;
      } else {
        const k = this.blockIdxLE(seq);
        if (k >= 0) {
          const b = this.blocks[k]!;
          const i = b.lowerBound(seq + 1) - 1;
          if (i >= 0) lt = b.ts[i]!;
        }
      }
      this.truncateStorage(seq, lt);
      this.lastSeq = seq;
      this.lastTime = lt;
      this.firstDirty = true;
      this.opDurable = true;
    } finally {
      this.finish();
    }
  }

  // ---------------------------------------------------------------------------
  // State

  lastSequence(): number {
    this.checkOpen();
    return this.lastSeq;
  }

  state(includeDeleted = false): StreamState {
    this.checkOpen();
    if (this.firstDirty) this.recomputeFirst();
    let firstTime = 0n;
    if (this.msgs > 0) {
      const i = this.locate(this.firstSeq);
      if (i >= 0) firstTime = this.lb!.ts[i]!;
    }
    const numDeleted = this.msgs > 0 ? this.lastSeq - this.firstSeq + 1 - this.msgs : 0;
    const st: StreamState = {
      msgs: this.msgs,
      bytes: this.bytes,
      firstSeq: this.firstSeq,
      firstTime,
      lastSeq: this.lastSeq,
      lastTime: this.lastTime,
      numDeleted,
      numSubjects: this.subjects.size,
    };
    if (includeDeleted) {
      const del: number[] = [];
      if (this.msgs > 0) {
        let expect = this.firstSeq;
        for (let q = this.nextAlive(this.firstSeq); q !== 0; q = this.nextAlive(q + 1)) {
          for (; expect < q; expect++) del.push(expect);
          expect = q + 1;
        }
        for (; expect <= this.lastSeq; expect++) del.push(expect);
      }
      st.deleted = del;
    }
    if (this.lostSeqs.length > 0) st.lost = { msgs: this.lostSeqs.slice(), bytes: this.lostBytes };
    return st;
  }

  filteredState(startSeq: number, filter: string): SimpleState {
    this.checkOpen();
    if (this.firstDirty) this.recomputeFirst();
    const none: SimpleState = { msgs: 0, first: 0, last: 0 };
    let sseq = startSeq < this.firstSeq ? this.firstSeq : startSeq;
    if (this.msgs === 0 || sseq > this.lastSeq) return none;
    if (isFullWildcard(filter)) {
      if (sseq <= this.firstSeq) return { msgs: this.msgs, first: this.firstSeq, last: this.lastAlive() };
      const first = this.nextAlive(sseq);
      if (first === 0) return none;
      let msgs = 0;
      const bl = this.blocks;
      for (let k = this.blockIdxGE(sseq); k < bl.length; k++) {
        const b = bl[k]!;
        if (b.alive === 0) continue;
        if (b.seqs[0]! >= sseq) {
          msgs += b.alive;
        } else {
          for (let i = b.lowerBound(sseq); i < b.n; i++) if (b.subj[i] !== null) msgs++;
        }
      }
      return { msgs, first, last: this.lastAlive() };
    }
    const subs = this.matching(filter);
    let msgs = 0;
    let first = 0;
    let last = 0;
    if (subs.length > 1 && this.lastSeq - sseq + 1 < subs.length * 4) {
      // small range: scan it
      const set = new Set(subs);
      for (let q = this.nextAlive(sseq); q !== 0; q = this.nextAlive(q + 1)) {
        if (set.has(this.lb!.subj[this.li]!)) {
          msgs++;
          if (first === 0) first = q;
          last = q;
        }
      }
      return msgs === 0 ? none : { msgs, first, last };
    }
    for (const s of subs) {
      const c = this.subjCountFrom(s, sseq);
      if (c === 0) continue;
      msgs += c;
      const f = this.subjNext(s, sseq);
      if (first === 0 || f < first) first = f;
      if (s.last() > last) last = s.last();
    }
    return msgs === 0 ? none : { msgs, first, last };
  }

  subjectsState(filter: string): Map<string, SimpleState> {
    this.checkOpen();
    const out = new Map<string, SimpleState>();
    for (const s of this.matching(filter)) {
      if (s.msgs > 0) out.set(s.subject, { msgs: s.msgs, first: s.first(), last: s.last() });
    }
    return out;
  }

  subjectsTotals(filter: string): Map<string, number> {
    this.checkOpen();
    const out = new Map<string, number>();
    for (const s of this.matching(filter)) if (s.msgs > 0) out.set(s.subject, s.msgs);
    return out;
  }

  numPending(startSeq: number, filter: string, lastPerSubject: boolean): number {
    this.checkOpen();
    if (!lastPerSubject) return this.filteredState(startSeq, filter).msgs;
    if (this.firstDirty) this.recomputeFirst();
    const sseq = startSeq < this.firstSeq ? this.firstSeq : startSeq;
    if (this.msgs === 0 || sseq > this.lastSeq) return 0;
    let n = 0;
    for (const s of this.matching(filter)) if (s.msgs > 0 && s.last() >= sseq) n++;
    return n;
  }

  numPendingMulti(startSeq: number, filters: string[]): number {
    this.checkOpen();
    if (filters.length === 1) return this.filteredState(startSeq, filters[0]!).msgs;
    if (this.firstDirty) this.recomputeFirst();
    const sseq = startSeq < this.firstSeq ? this.firstSeq : startSeq;
    if (this.msgs === 0 || sseq > this.lastSeq) return 0;
    // Filters may overlap without one containing the other (a.*.c and a.b.*): count each
    // subject once.
    const seen = new Set<Subj>();
    let n = 0;
    for (const f of filters) {
      for (const s of this.matching(f)) {
        if (seen.has(s)) continue;
        seen.add(s);
        n += this.subjCountFrom(s, sseq);
      }
    }
    return n;
  }

  // ---------------------------------------------------------------------------
  // Config & expiry

  updateConfig(cfg: Partial<StreamStoreConfig>): void {
    this.checkOpen();
    const next = normalizeStoreConfig({ ...this.cfg, ...cfg, firstSeq: this.cfg.firstSeq });
    const oldPer = this.cfg.maxMsgsPerSubject;
    this.cfg = next;
    this.persistConfig();
    try {
      if (next.discard === "old") {
        if (next.maxMsgs > 0) while (this.msgs > next.maxMsgs && this.removeFirst("limits"));
        if (next.maxBytes > 0) while (this.bytes > next.maxBytes && this.removeFirst("limits"));
      }
      const per = next.maxMsgsPerSubject;
      if (per > 0 && (oldPer <= 0 || per < oldPer)) {
        for (const s of Array.from(this.subjects.values())) {
          while (s.msgs > per) this.removeSeq(s.first(), "limits");
        }
      }
    } finally {
      this.finish();
    }
    if (this.timer && next.maxAgeMs <= 0 && this.ttlLive === 0) this.clearTimer();
    this.expireNow();
  }

  /** Enforce all limits (used after recovery). */
  protected enforceLimits(): void {
    const c = this.cfg;
    try {
      const per = c.maxMsgsPerSubject;
      if (per > 0) {
        for (const s of Array.from(this.subjects.values())) {
          while (s.msgs > per) this.removeSeq(s.first(), "limits");
        }
      }
      if (c.discard === "old") {
        if (c.maxMsgs > 0) while (this.msgs > c.maxMsgs && this.removeFirst("limits"));
        if (c.maxBytes > 0) while (this.bytes > c.maxBytes && this.removeFirst("limits"));
      }
    } finally {
      this.finish();
    }
  }

  expireNow(): number {
    this.checkOpen();
    if (this.holdExpiryH?.() === true) {
      // Held: the timer re-arms with the next message that has a TTL; stale heap entries still go.
      this.clearTimer();
      if (this.heapT.length > 2 * this.ttlLive + 1024) this.rebuildHeap();
      return 0;
    }
    const c = this.cfg;
    let removed = 0;
    let nextAt = 0;
    const nowMs = Date.now();
    try {
      if (c.maxAgeMs > 0 && this.msgs > 0) {
        const cutoff = nowNs() - BigInt(c.maxAgeMs) * 1_000_000n;
        for (let q = this.nextAlive(1); q !== 0; ) {
          const b = this.lb!;
          const i = this.li;
          const ts = b.ts[i]!;
          if (ts > cutoff) {
            nextAt = Number(ts / 1_000_000n) + c.maxAgeMs;
            break;
          }
          if (!(b.ttls !== null && b.ttls.get(q) === -1) && !this.heldAtExpiry(b, i)) {
            this.removeAt(b, i, "maxAge");
            removed++;
          }
          q = this.nextAlive(q + 1);
        }
      }
      // per-message TTLs
      while (this.heapT.length > 0 && this.heapT[0]! <= nowMs) {
        const at = this.heapT[0]!;
        const seq = this.heapS[0]!;
        this.heapPop();
        const i = this.locate(seq);
        if (i < 0) continue;
        const b = this.lb!;
        if (b.subj[i] === null || b.ttls === null) continue;
        const ttl = b.ttls.get(seq);
        if (ttl === undefined || ttl <= 0) continue;
        if (Number(b.ts[i]! / 1_000_000n) + ttl * 1000 !== at) continue; // stale heap entry
        if (this.heldAtExpiry(b, i)) continue;
        this.removeAt(b, i, "ttl");
        removed++;
      }
      if (this.heapT.length > 2 * this.ttlLive + 1024) this.rebuildHeap();
    } finally {
      this.finish();
    }
    this.clearTimer();
    if (this.heapT.length > 0 && (nextAt === 0 || this.heapT[0]! < nextAt)) nextAt = this.heapT[0]!;
    if (nextAt !== 0) this.armTimer(nextAt);
    return removed;
  }

  /** The expiry handler keeps the last message of its subject (see ExpiryHandler). */
  private heldAtExpiry(b: B, i: number): boolean {
    const h = this.onExpireH;
    const s = b.subj[i];
    if (h === undefined || s === null || s === undefined || s.msgs !== 1) return false;
    const seq = b.seqAt(i);
    const m = this.readEntry(b, i);
    if (m === null) return false;
    return h(seq, s.subject, m.hdr);
  }

  private armTimer(atMs: number): void {
    if (this.closed) return;
    if (this.timer !== null && this.timerAt <= atMs) return;
    this.clearTimer();
    const delay = Math.min(Math.max(atMs - Date.now() + 1, 1), 0x7fffffff);
    this.timerAt = atMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed) return;
      try {
        this.expireNow();
      } catch (e) {
        this.log.error(`stream ${this.cfg.name}: expiry failed: ${String(e)}`);
      }
    }, delay);
    this.timer.unref();
  }

  protected clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Register a recovered TTL message (used by backends during recovery). */
  protected noteTtl(b: B, seq: number, ts: bigint, ttl: number): void {
    (b.ttls ??= new Map()).set(seq, ttl);
    if (ttl > 0) {
      this.ttlLive++;
      this.heapPush(Number(ts / 1_000_000n) + ttl * 1000, seq);
    }
  }

  private rebuildHeap(): void {
    this.heapT = [];
    this.heapS = [];
    for (const b of this.blocks) {
      if (b.ttls === null) continue;
      for (const [seq, ttl] of b.ttls) {
        if (ttl <= 0) continue;
        const i = b.find(seq);
        if (i < 0) continue;
        this.heapPush(Number(b.ts[i]! / 1_000_000n) + ttl * 1000, seq);
      }
    }
  }

  private heapPush(t: number, s: number): void {
    const T = this.heapT;
    const S = this.heapS;
    let i = T.length;
    T.push(t);
    S.push(s);
    while (i > 0) {
      const p = (i - 1) >>> 1;
      if (T[p]! <= t) break;
      T[i] = T[p]!;
      S[i] = S[p]!;
      i = p;
    }
    T[i] = t;
    S[i] = s;
  }

  private heapPop(): void {
    const T = this.heapT;
    const S = this.heapS;
    const lastT = T.pop()!;
    const lastS = S.pop()!;
    const n = T.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && T[r]! < T[l]! ? r : l;
      if (T[c]! >= lastT) break;
      T[i] = T[c]!;
      S[i] = S[c]!;
      i = c;
    }
    T[i] = lastT;
    S[i] = lastS;
  }

  // ---------------------------------------------------------------------------
  // Recovery support for backends

  /** Register a live entry already pushed into block b at position i (recovery). */
  protected recoverEntry(b: B, i: number, subject: string): void {
    let s = this.subjects.get(subject);
    if (s === undefined) {
      s = new Subj(subject);
      this.subjects.set(subject, s);
    }
    b.subj[i] = s;
    s.seqs.push(b.seqAt(i));
    s.msgs++;
    b.alive++;
    b.aliveBytes += b.sizes[i]!;
    this.msgs++;
    this.bytes += b.sizes[i]!;
  }

  /** After backends pushed all recovered blocks: derive first/last. */
  protected recoverFinish(lastSeq: number, lastTime: bigint): void {
    this.lastSeq = lastSeq;
    this.lastTime = lastTime;
    this.filterCache.clear();
    if (this.msgs === 0) this.firstSeq = lastSeq === 0 ? 0 : lastSeq + 1;
    else this.firstSeq = this.nextAlive(1);
    this.firstDirty = false;
    for (const b of this.blocks) if (b.alive === 0) this.emptied.push(b);
  }

  /** Stop timers (backends call this from stop()). */
  protected closeCore(): void {
    this.closed = true;
    this.clearTimer();
  }
}
