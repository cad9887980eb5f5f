// Large buffers kept for reuse, by power-of-two size class.
//
// The file store's block caches grow by doubling up to the block size (8 MiB by default) and
// are dropped when a block leaves the read cache. Allocating them afresh each time churns
// tens of megabytes a second under a publish load: the garbage collector runs for external
// memory pressure, and the C allocator keeps the freed space (resident memory grows far
// beyond what is in use). Taking them from a pool keeps the set of big buffers stable. The
// pool holds at most `maxBytes` of idle buffers; anything beyond is left to the collector.
//
// A buffer given back must no longer be referenced by its giver (the store only gives back
// caches it has just detached from a block; readers always get copies).

const MIN_SHIFT = 16; // 64 KiB: smaller buffers are cheap to allocate
const MAX_SHIFT = 30;

function shiftFor(n: number): number {
  let s = MIN_SHIFT;
  while (s < MAX_SHIFT && 2 ** s < n) s++;
  return s;
}

export class BufferPool {
  private readonly free: Buffer[][] = [];
  private idleBytes = 0;
  /** Statistics: buffers taken from the pool / allocated. */
  reused = 0;
  allocated = 0;

  constructor(private readonly maxBytes: number) {
    for (let s = 0; s <= MAX_SHIFT; s++) this.free.push([]);
  }

  /** The size class a request of `n` bytes gets (a power of two, at least 64 KiB). */
  static sizeFor(n: number): number {
    return n > 2 ** MAX_SHIFT ? n : 2 ** shiftFor(n);
  }

  /** A buffer of at least `n` bytes (its length is its size class); its content is garbage. */
  take(n: number): Buffer {
    if (n > 2 ** MAX_SHIFT) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(n);
    }
    const s = shiftFor(n);
    const list = this.free[s]!;
    const b = list.pop();
    if (b !== undefined) {
      this.idleBytes -= b.length;
      this.reused++;
      return b;
    }
    this.allocated++;
    return Buffer.allocUnsafeSlow(2 ** s);
  }

  /** Give a buffer back (ignored unless it is a whole buffer of a size class). */
  give(b: Buffer): void {
    const len = b.length;
    if (len < 2 ** MIN_SHIFT || len > 2 ** MAX_SHIFT || (len & (len - 1)) !== 0) return;
    if (b.byteOffset !== 0 || b.buffer.byteLength !== len) return;
    if (this.idleBytes + len > this.maxBytes) return;
    this.free[Math.log2(len)]!.push(b);
    this.idleBytes += len;
  }

  /** Idle bytes held. */
  get idle(): number {
    return this.idleBytes;
  }
}

/** Shared by every file store of the process: block caches and write scratch space. */
export const blockBuffers = new BufferPool(24 * 1024 * 1024);
