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

class MemBlock extends IndexBlock {
  /** hdr + data in one private buffer per message (null once removed). */
  bufs: (Buffer | null)[] = [];
  hlens: Uint32Array = new Uint32Array(64);

  protected override grow(cap: number): void {
    super.grow(cap);
    const h = new Uint32Array(cap);
    h.set(this.hlens.subarray(0, Math.min(this.n, cap)));
    this.hlens = h;
  }

  /** Drop dead entries from the arrays (positions change). */
  compactEntries(): void {
    let j = 0;
    const n = this.n;
    for (let i = 0; i < n; i++) {
      if (this.subj[i] === null) continue;
      if (i !== j) {
        this.seqs[j] = this.seqs[i]!;
        this.sizes[j] = this.sizes[i]!;
        this.ts[j] = this.ts[i]!;
        this.subj[j] = this.subj[i]!;
        this.bufs[j] = this.bufs[i]!;
        this.hlens[j] = this.hlens[i]!;
      }
      j++;
    }
    this.n = j;
    this.subj.length = j;
    this.bufs.length = j;
    this.lo = 0;
    if (this.seqs.length > 4 * Math.max(j, 16)) this.grow(Math.max(64, j * 2));
  }
}

export interface MemStoreOptions extends StoreOptions {}

export class MemStore extends StoreBase<MemBlock> {
  readonly type = "memory" as const;
  private touched = new Set<MemBlock>();
  private consumers = new Map<string, MemConsumerStore>();

  constructor(cfg: Partial<StreamStoreConfig>, opts?: MemStoreOptions) {
    super(cfg, opts);
    const f = this.cfg.firstSeq;
    if (f > 1) {
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
    // one private copy holding hdr + data (callers may reuse their buffers)
    const hl = hdr ? hdr.length : 0;
    const buf = Buffer.allocUnsafe(hl + data.length);
    if (hdr) hdr.copy(buf, 0);
    data.copy(buf, hl);
    const i = b.push(seq, subj, size, ts);
    b.bufs.push(buf);
    b.hlens[i] = hl;
    return b;
  }

  protected appendSkip(_seq: number, _ts: bigint): void {}
  protected appendFloor(_floor: number): void {}

  protected readEntry(b: MemBlock, i: number): StoredMsg | null {
    const buf = b.bufs[i]!;
    const hl = b.hlens[i]!;
    return {
      subject: b.subj[i]!.subject,
      seq: b.seqs[i]!,
      time: b.ts[i]!,
      hdr: hl > 0 ? buf.subarray(0, hl) : undefined,
      data: hl > 0 ? buf.subarray(hl) : buf,
    };
  }

  protected entryRemoved(b: MemBlock, i: number, reason: RemoveReason): void {
    if (reason === "erase") b.bufs[i]?.fill(0);
    b.bufs[i] = null;
    this.touched.add(b);
  }

  protected canDropBlock(_b: MemBlock): boolean {
    return true;
  }

  protected releaseBlock(b: MemBlock): void {
    this.touched.delete(b);
    b.bufs = [];
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
        b.bufs.length = k;
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
