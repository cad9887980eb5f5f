// Outbound bytes of one connection (client, route, leaf node, gateway), encoded straight into
// a buffer and handed to the socket once per event-loop turn. When the buffer fills, what it
// holds is queued and encoding continues in a fresh one, so nothing is ever copied twice
// before the write.

const INITIAL = 16 * 1024;
/** Writes up to this size are copied into Node's pooled memory so the buffer can be reused. */
const SMALL_FLUSH = 4 * 1024;

/** Copy small buffers with a loop: cheaper than a native call for a few bytes. */
export function copyInto(src: Buffer, dst: Buffer, at: number): number {
  const n = src.length;
  if (n > 64) return at + src.copy(dst, at);
  for (let i = 0; i < n; i++) dst[at + i] = src[i];
  return at + n;
}

export class Outbound {
  /** The buffer being filled; bytes [0, pos) are encoded and not yet written. */
  buf: Buffer | undefined;
  pos = 0;
  private queue: Buffer[] = [];
  private queued = 0;

  /** Bytes encoded and not yet handed to the socket. */
  get size(): number {
    return this.queued + this.pos;
  }

  /** Make room for `n` more bytes at `pos`; returns the buffer to write them into. */
  reserve(n: number): Buffer {
    const buf = this.buf;
    if (buf === undefined) {
      this.pos = 0;
      return (this.buf = Buffer.allocUnsafe(Math.max(INITIAL, n)));
    }
    if (buf.length - this.pos >= n) return buf;
    // Keep what is encoded and continue in a new buffer.
    if (this.pos > 0) {
      this.queue.push(buf.subarray(0, this.pos));
      this.queued += this.pos;
    }
    this.pos = 0;
    return (this.buf = Buffer.allocUnsafe(Math.max(INITIAL * 4, n)));
  }

  append(bytes: Buffer): void {
    const buf = this.reserve(bytes.length);
    this.pos = copyInto(bytes, buf, this.pos);
  }

  /** Everything encoded so far, as one Buffer to write (undefined when there is nothing). */
  take(): Buffer | undefined {
    let data: Buffer | undefined;
    const pos = this.pos;
    if (this.queue.length > 0) {
      if (pos > 0) this.queue.push((this.buf as Buffer).subarray(0, pos));
      data = this.queue.length === 1 ? this.queue[0] : Buffer.concat(this.queue, this.queued + pos);
      this.queue = [];
      this.queued = 0;
      this.buf = undefined;
    } else if (pos > 0) {
      const buf = this.buf as Buffer;
      if (pos <= SMALL_FLUSH) data = Buffer.from(buf.subarray(0, pos));
      else {
        data = buf.subarray(0, pos);
        this.buf = undefined;
      }
    }
    this.pos = 0;
    return data;
  }

  /** Drop everything not yet written (the peer is gone or too slow to ever get it). */
  clear(): void {
    this.queue = [];
    this.queued = 0;
    this.pos = 0;
  }

  /** Release the buffers of a closed connection. */
  release(): void {
    this.clear();
    this.buf = undefined;
  }
}
