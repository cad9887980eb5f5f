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

/** A chunk's message bytes start in an arena this big and double as needed. */
const ARENA_MIN = 64 * 1024;

class MemBlock extends IndexBlock {
  /**
   * hdr + data of every message, one after the other in one buffer: no object per message for
   * the collector to trace (a Buffer each cost ~100 bytes and GC time at 16-byte payloads).
   * Loads return views into it; a grown or compacted arena is a new buffer, so a view stays
   * valid (messages never change in place, except an erase, which zeroes them on purpose).
   */
  arena: Buffer = EMPTY_ARENA;
  used = 0;
  offs: Uint32Array = new Uint32Array(64);
  lens: Uint32Array = new Uint32Array(64);
  hlens: Uint32Array = new Uint32Array(64);
  /** Bytes of removed messages still in the arena. */
  deadBytes = 0;

  protected override grow(cap: number): void {
    super.grow(cap);
    const keep = Math.min(this.n, cap);
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

  /** Room for `len` more bytes at `used`. */
  reserve(len: number): Buffer {
    if (this.arena.length - this.used < len) {
      const next = Buffer.allocUnsafeSlow(Math.max(ARENA_MIN, this.arena.length * 2, this.used + len));
      this.arena.copy(next, 0, 0, this.used);
      this.arena = next;
    }
    return this.arena;
  }

  /** Drop dead entries from the arrays and their bytes from the arena (positions change). */
  compactEntries(): void {
    let j = 0;
    const n = this.n;
    let live = 0;
    for (let i = 0; i < n; i++) if (this.subj[i] !== null) live += this.lens[i]!;
    const arena = live > 0 ? Buffer.allocUnsafeSlow(Math.max(live, 1)) : EMPTY_ARENA;
    let used = 0;
    for (let i = 0; i < n; i++) {
      if (this.subj[i] === null) continue;
      const len = this.lens[i]!;
      this.arena.copy(arena, used, this.offs[i]!, this.offs[i]! + len);
      this.seqs[j] = this.seqs[i]!;
      this.sizes[j] = this.sizes[i]!;
      this.ts[j] = this.ts[i]!;
      this.subj[j] = this.subj[i]!;
      this.offs[j] = used;
      this.lens[j] = len;
      this.hlens[j] = this.hlens[i]!;
      used += len;
      j++;
    }
    this.arena = arena;
    this.used = used;
    this.deadBytes = 0;
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
    // a private copy of hdr + data in the chunk's arena (callers may reuse their buffers)
    const hl = hdr ? hdr.length : 0;
    const len = hl + data.length;
    const arena = b.reserve(len);
    const off = b.used;
    if (hdr) hdr.copy(arena, off);
    data.copy(arena, off + hl);
    b.used = off + len;
    const i = b.push(seq, subj, size, ts);
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
    return {
      subject: b.subj[i]!.subject,
      seq: b.seqAt(i),
      time: b.ts[i]!,
      hdr: hl > 0 ? b.arena.subarray(off, off + hl) : undefined,
      data: b.arena.subarray(off + hl, end),
    };
  }

  protected entryRemoved(b: MemBlock, i: number, reason: RemoveReason): void {
    if (reason === "erase") b.arena.fill(0, b.offs[i]!, b.offs[i]! + b.lens[i]!);
    b.deadBytes += b.lens[i]!;
    this.touched.add(b);
  }

  protected canDropBlock(_b: MemBlock): boolean {
    return true;
  }

  protected releaseBlock(b: MemBlock): void {
    this.touched.delete(b);
    b.arena = EMPTY_ARENA;
    b.used = 0;
  }

  protected afterRemovals(_durable: boolean): void {
    if (this.touched.size === 0) return;
    for (const b of this.touched) {
      if (b.alive > 0 && b.n >= 64 && (b.n - b.alive) * 2 > b.n) b.compactEntries();
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
        b.used = k > 0 ? b.offs[k - 1]! + b.lens[k - 1]! : 0;
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
