// Outbound bytes of one connection (client, route, leaf node, gateway) and their flow control.
//
// Messages are encoded straight into a buffer and handed to the socket once per event-loop
// turn. When the buffer fills, what it holds is queued and encoding continues in a fresh one,
// so nothing is copied twice before the write.
//
// Flow control, as nats-server's: once the socket says it is full (write() returned false),
// nothing more is handed to it until 'drain'; what is encoded meanwhile waits here and goes
// out in one write when it drains. So the socket holds one batch at a time, and:
// - pending bytes (here + in the socket) above the stall mark set `behind`: publishers that
//   send to this connection are held back (their socket is not read) until it drains below
//   the mark, or for a short while at most (stall_queue.ts), so one stuck receiver cannot
//   block a publisher for good;
// - the write deadline counts from the last progress, not from the first refused write: a
//   drain, or the kernel taking bytes off the socket's queue. A receiver that reads slowly
//   but steadily never reaches it; one that stopped reading does.
// The owner decides what a slow consumer costs (max_pending, write_deadline): see `stuck`.
//
// A plain TCP socket is written through its libuv handle (direct_write.ts) instead of the
// socket's stream.Writable, which allocates a write request, a callback record and a tick per
// write (about 400 bytes, a fifth of what a request/reply allocated). The flow control above
// is the same: "full" is the handle's write queue at the socket's high-water mark, "drain" the
// completion of the last queued write.
import { DirectWriter, directWriterFor, type DirectWriteOwner } from "./direct_write.js";
import { DOUBLE_ZERO } from "./double_zero.js";

/**
 * Size of the encoding buffers, which are shared through a pool (a bigger message gets its own).
 * Twice a socket read (64 KiB, shared_reads.ts): what one read makes a receiver is a little more
 * than the read (each MSG line is longer than its PUB line), so with read-sized buffers nearly
 * every turn of a 1 KiB stream spilled into a second buffer and a two-part writev.
 */
const BUFFER_SIZE = 128 * 1024;
/** Spare buffers kept for reuse (all connections together). */
const POOL_MAX = 64;
/**
 * At most this much goes to a full socket per drain: the write deadline then measures the
 * time the peer takes to read a bounded amount, not everything that queued up.
 */
const MAX_BATCH = 1024 * 1024;

/**
 * Pending bytes above which publishers to a connection are stalled: three quarters of
 * max_pending as in nats-server, but no more than this, which keeps memory in check and is
 * plenty to keep a receiver busy while its publishers resume.
 */
const MAX_STALL_MARK = 4 * 1024 * 1024;

export function stallMarkFor(maxPending: number): number {
  return Math.min(Math.floor((maxPending / 4) * 3), MAX_STALL_MARK);
}

/**
 * Encoding buffers that a socket no longer references. A write that the kernel takes at once
 * (the socket's writableLength is 0 right after it) leaves nothing behind, so its buffers
 * come back here at once: a connection holds a buffer only while it has bytes to send, and
 * steady traffic allocates nothing (fresh ArrayBuffers cost V8 full collections under load).
 */
const pool: Buffer[] = [];
/** The DataView of each pooled buffer (copyBytes writes through it): pool[i]'s is poolViews[i]. */
const poolViews: DataView<ArrayBufferLike>[] = [];
/** A connection's DataView while it holds no buffer: a buffer it let go of is not kept alive through its view. */
const NO_VIEW: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
/** The DataView of the buffer takeBuffer returned last. */
let takenView = NO_VIEW;

function dataViewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

/** A buffer of at least `n` bytes; its DataView is then `takenView`. */
function takeBuffer(n: number): Buffer {
  const pooled = n > BUFFER_SIZE ? undefined : pool.pop();
  if (pooled !== undefined) {
    takenView = poolViews.pop() as DataView;
    return pooled;
  }
  const b = Buffer.allocUnsafeSlow(Math.max(n, BUFFER_SIZE));
  takenView = dataViewOf(b);
  return b;
}

/** Return a buffer (or the pooled buffer a view of it belongs to) once no socket holds it; `view` is its DataView when known. */
function recycle(b: Buffer, view?: DataView): void {
  if (pool.length >= POOL_MAX || b.byteOffset !== 0 || b.buffer.byteLength !== BUFFER_SIZE) return;
  const whole = b.length === BUFFER_SIZE ? b : Buffer.from(b.buffer, 0, BUFFER_SIZE);
  pool.push(whole);
  poolViews.push(view ?? dataViewOf(whole));
}

/** Copy small buffers with a loop: cheaper than a native call for a few bytes. */
export function copyInto(src: Buffer, dst: Buffer, at: number): number {
  const n = src.length;
  if (n > 64) {
    // TypedArray's own set: Buffer.copy adds argument checks and clamping in JS around it.
    dst.set(src, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[i];
  return at + n;
}

/**
 * `from[start, end)` into `to` at `at`, four bytes at a time; returns the offset after it. For
 * the few bytes of a MSG line or a small payload: a byte loop over Buffers reloads both arrays'
 * base and length on every byte (they might be the same array), about twice the time.
 */
export function copyBytes(from: DataView, start: number, end: number, to: DataView, at: number): number {
  let i = start;
  for (; i + 4 <= end; i += 4, at += 4) to.setInt32(at, from.getInt32(i));
  for (; i < end; i++) to.setUint8(at++, from.getUint8(i));
  return at;
}

/**
 * The memory behind the last buffer copyRange copied from. Its payloads are ranges of one read
 * (every message of a read, and every receiver of a message, comes from the same view), and a
 * Buffer's ArrayBuffer and offset never change, while asking for them (the `buffer` getter) is
 * a call into V8's runtime: Buffer.subarray and Buffer.copy both ask for every range, about a
 * third of the cost of copying a 1 KiB payload. Holds on to one source buffer at most; its
 * DataView is made when a small range is first copied from it.
 */
let lastSource: Buffer | undefined;
let lastMemory: ArrayBufferLike = new ArrayBuffer(0);
let lastOffset = 0;
let lastView: DataView | undefined;

/** copyInto of `src[start, end)` into `dst` (whose DataView is `dstView`); copyBytes for a few bytes. */
export function copyRange(src: Buffer, start: number, end: number, dst: Buffer, dstView: DataView, at: number): number {
  const n = end - start;
  if (n > 64 && start === 0 && end === src.length) {
    dst.set(src, at);
    return at + n;
  }
  if (src !== lastSource) {
    lastSource = src;
    lastMemory = src.buffer;
    lastOffset = src.byteOffset;
    lastView = undefined;
  }
  if (n > 64) {
    dst.set(new Uint8Array(lastMemory, lastOffset + start, n), at);
    return at + n;
  }
  return copyBytes((lastView ??= new DataView(lastMemory, lastOffset, src.length)), start, end, dstView, at);
}

/** What Outbound needs of a socket (net.Socket, TLSSocket, the WebSocket transport). */
export interface OutboundSocket {
  readonly writableLength: number;
  write(data: Buffer): boolean;
  cork?(): void;
  uncork?(): void;
}

/** A publisher that can be held back: its socket is not read while it is stalled. */
export interface Stallable {
  /** "client", or the kind of server connection (see stallLimitMs). */
  readonly kind: string;
  /** Stop reading for `ms` at most (or until resumed). */
  pauseReading(ms: number): void;
  resumeReading(): void;
}

export class Outbound implements DirectWriteOwner {
  /** The buffer being filled; bytes [0, pos) are encoded and not yet written. */
  buf: Buffer | undefined;
  /** `buf`'s DataView (pooled with it): what copyBytes writes through. */
  bufView = NO_VIEW;
  pos = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  /** The socket said it is full: encoded bytes wait here until 'drain'. */
  private full = false;
  /** When the socket became full, or the deadline was restarted (ms since the epoch). */
  private fullSince = DOUBLE_ZERO;
  /** When the full socket last made progress (ms since the epoch). */
  private progressAt = DOUBLE_ZERO;
  /** The kernel write queue size seen at the last progress check (see `unsentBytes`). */
  private lastUnsent = -1;
  /** Bytes the socket held after the last write: exact at a write or drain, an upper bound in between. */
  private inSocket = 0;
  /** Pending bytes passed the stall mark: publishers sending here are held back. */
  behind = false;
  private stalled: Stallable[] | undefined;
  /** Writes to the socket's handle, bypassing its stream (plain TCP sockets only). */
  private direct: DirectWriter | undefined;
  /** The last view written of an encoding buffer (`viewOf`), and that buffer. */
  private viewBuf: Buffer | undefined;
  private view: Buffer | undefined;
  private _socket: OutboundSocket | undefined;

  constructor(
    /** Set by the owner once the socket is known (a TLS upgrade replaces it). */
    socket: OutboundSocket | undefined = undefined,
    /** Pending bytes above which publishers are stalled. */
    public stallAt = Number.MAX_SAFE_INTEGER,
  ) {
    this.socket = socket;
  }

  get socket(): OutboundSocket | undefined {
    return this._socket;
  }

  set socket(socket: OutboundSocket | undefined) {
    this._socket = socket;
    this.direct?.detach();
    this.direct = socket === undefined ? undefined : directWriterFor(socket, this);
  }

  /** Bytes handed to the socket and not yet sent. */
  get unsent(): number {
    return (this.direct?.queued ?? 0) + (this._socket?.writableLength ?? 0);
  }

  /** Bytes encoded and not yet handed to the socket. */
  get size(): number {
    return this.queued + this.pos;
  }

  /** Bytes not yet sent: encoded here, or queued in the socket. */
  get pending(): number {
    return this.queued + this.pos + this.inSocket;
  }

  /** Make room for `n` more bytes at `pos`; returns the buffer to write them into. */
  reserve(n: number): Buffer {
    const buf = this.buf;
    if (buf === undefined) {
      this.pos = 0;
      return this.take(n);
    }
    if (buf.length - this.pos >= n) return buf;
    // Keep what is encoded and continue in a new buffer.
    if (this.pos > 0) {
      this.queue.push(buf.subarray(0, this.pos));
      this.queued += this.pos;
    } else recycle(buf, this.bufView);
    this.pos = 0;
    return this.take(n);
  }

  private take(n: number): Buffer {
    const buf = (this.buf = takeBuffer(n));
    this.bufView = takenView;
    return buf;
  }

  append(bytes: Buffer): void {
    const buf = this.reserve(bytes.length);
    this.pos = copyInto(bytes, buf, this.pos);
  }

  /** `text` as UTF-8, encoded in place (no Buffer of its own). */
  appendString(text: string): void {
    const n = Buffer.byteLength(text);
    const buf = this.reserve(n);
    this.pos += buf.write(text, this.pos, n, "utf8");
  }

  /**
   * End of a turn: hand the socket what is encoded, unless it is full (then it waits for
   * 'drain'). Returns the pending bytes left, for the owner's max_pending check.
   */
  flush(): number {
    if (!this.full) this.writeOut(Number.MAX_SAFE_INTEGER);
    const pending = this.pending;
    if (pending > this.stallAt) this.behind = true;
    return pending;
  }

  /** Everything encoded goes to the socket now, full or not (the connection is closing). */
  flushAll(): void {
    this.writeOut(Number.MAX_SAFE_INTEGER, true);
  }

  /** The socket drained: progress. The next batch goes out, and stalled publishers may resume. */
  drained(): void {
    this.full = false;
    this.inSocket = 0;
    // Batch after batch while the socket takes them at once: nothing else would write what is
    // left once the publishers have stopped.
    while (!this.full && this.size > 0 && this.socket !== undefined) {
      const before = this.size;
      this.writeOut(MAX_BATCH);
      if (this.size === before) break; // a direct write still in flight: its completion goes on
    }
    if (this.behind && this.pending <= this.stallAt) this.releaseStalled();
  }

  /** Hold `publisher` back until this connection drains below the stall mark, `ms` at most. */
  stall(publisher: Stallable, ms: number): void {
    publisher.pauseReading(ms);
    const s = (this.stalled ??= []);
    if (!s.includes(publisher)) s.push(publisher);
  }

  /** Let every stalled publisher go (caught up, or closing). */
  releaseStalled(): void {
    this.behind = false;
    const stalled = this.stalled;
    if (stalled === undefined) return;
    this.stalled = undefined;
    for (let i = 0; i < stalled.length; i++) stalled[i].resumeReading();
  }

  /**
   * Has the socket been full, without taking anything, for longer than `ms`? Progress is a
   * drain, or the kernel taking bytes off the socket's write queue since the last check.
   */
  stuck(now: number, ms: number): boolean {
    if (!this.full) return false;
    const unsent = unsentBytes(this.socket);
    if (unsent !== undefined && unsent !== this.lastUnsent) {
      this.lastUnsent = unsent;
      this.progressAt = now;
      return false;
    }
    return now - this.progressAt > ms;
  }

  /** How long the socket has been full (since it filled up, or `restartDeadline`); 0 when it is not. */
  fullFor(now: number): number {
    return this.full ? now - this.fullSince : 0;
  }

  /** The owner noted a slow peer and keeps going: the deadline counts again from `now`. */
  restartDeadline(now: number): void {
    this.fullSince = now;
  }

  /** Write to `socket` from now on (a TLS upgrade wraps the old one): it starts empty. */
  attach(socket: OutboundSocket): void {
    this.socket = socket;
    this.full = false;
    this.inSocket = 0;
  }

  /**
   * A queued direct write completed: its encoding buffers go back to the pool (through a
   * stream they could not: nothing tells when the socket lets go of them), so a receiver that
   * is behind does not make every buffer a fresh ArrayBuffer.
   */
  directWritten(buffers: Buffer | Buffer[]): void {
    if (Array.isArray(buffers)) for (let i = 0; i < buffers.length; i++) recycle(buffers[i]);
    else recycle(buffers);
  }

  /** The handle took what was queued in it ('drain' of a direct writer): as `drained`, if the socket was full. */
  directDrained(): void {
    if (this.full) this.drained();
    else {
      this.inSocket = 0;
      // What was encoded while the write was in flight leaves now, in one write.
      if (this.size > 0) this.writeOut(Number.MAX_SAFE_INTEGER);
    }
  }

  private writeOut(max: number, evenIfBusy = false): void {
    const socket = this._socket;
    if (socket === undefined || this.queued + this.pos === 0) return;
    const direct = this.direct;
    if (direct !== undefined && direct.usable()) {
      if (direct.busy && !evenIfBusy) {
        // A write is in flight: what is encoded meanwhile waits here and leaves in one write
        // when it completes (a stream buffers the same way), instead of one queued write, one
        // request and one completion callback per turn. Past the high-water mark the socket
        // counts as full, as a stream's write() would say.
        if (!this.full && direct.queued + this.size >= direct.highWaterMark) this.becameFull();
        return;
      }
      this.writeOutDirect(direct, max);
      return;
    }
    let ok: boolean;
    const q = this.queue;
    let written = 0;
    let current = false;
    if (q.length === 0) {
      ok = socket.write((this.buf as Buffer).subarray(0, this.pos));
      current = true;
    } else {
      // Several buffers: corked, they leave in one writev, without being joined first.
      socket.cork?.();
      ok = true;
      let sent = 0;
      for (; written < q.length && sent < max; written++) {
        sent += q[written].length;
        ok = socket.write(q[written]) && ok;
      }
      this.queued -= sent;
      if (written === q.length && sent < max && this.pos > 0) {
        ok = socket.write((this.buf as Buffer).subarray(0, this.pos)) && ok;
        current = true;
      }
      socket.uncork?.();
    }
    const inSocket = socket.writableLength;
    this.inSocket = inSocket;
    // Nothing left in the socket: it holds no reference to what was written, so the buffers
    // go back to the pool; otherwise they are the socket's now.
    for (let i = 0; i < written; i++) if (inSocket === 0) recycle(q[i]);
    if (written > 0) this.queue = written === q.length ? [] : q.slice(written);
    if (current) {
      if (inSocket === 0) recycle(this.buf as Buffer, this.bufView);
      this.buf = undefined;
      this.bufView = NO_VIEW;
      this.pos = 0;
    }
    if (!ok && !this.full) this.becameFull();
  }

  /** The socket took no more: from now on the stall clock runs (see `stuck`). */
  private becameFull(): void {
    this.full = true;
    this.progressAt = this.fullSince = Date.now();
    this.lastUnsent = -1;
  }

  /**
   * The encoded bytes of the current buffer, [0, pos), as a Buffer to write. The view of the
   * last write is reused when it fits: the pool hands a connection that keeps up the same
   * buffer turn after turn, and request/reply encodes the same length every time, so most
   * writes need no new view (about 100 bytes each). A view of a pooled buffer is good for as
   * long as the buffer is this connection's.
   */
  private currentView(): Buffer {
    const buf = this.buf as Buffer;
    const v = this.view;
    if (v !== undefined && this.viewBuf === buf && v.length === this.pos) return v;
    this.viewBuf = buf;
    return (this.view = buf.subarray(0, this.pos));
  }

  /** writeOut through the socket's handle. */
  private writeOutDirect(direct: DirectWriter, max: number): void {
    const q = this.queue;
    let written = 0;
    let current = false;
    let held: boolean;
    if (q.length === 0) {
      held = direct.write(this.currentView());
      current = true;
    } else {
      // Several buffers leave in one writev, without being joined first.
      const chunks: Buffer[] = [];
      let sent = 0;
      for (; written < q.length && sent < max; written++) {
        sent += q[written].length;
        chunks.push(q[written]);
      }
      this.queued -= sent;
      if (written === q.length && sent < max && this.pos > 0) {
        chunks.push((this.buf as Buffer).subarray(0, this.pos));
        current = true;
      }
      held = direct.writev(chunks);
    }
    // What the kernel did not take at once waits in the handle's queue: the write request
    // holds those buffers, and they come back through directWritten once it completes.
    const inSocket = direct.queued;
    this.inSocket = inSocket;
    for (let i = 0; i < written; i++) if (!held) recycle(q[i]);
    if (written > 0) this.queue = written === q.length ? [] : q.slice(written);
    if (current) {
      if (!held) recycle(this.buf as Buffer, this.bufView);
      this.buf = undefined;
      this.bufView = NO_VIEW;
      this.pos = 0;
    }
    if (inSocket >= direct.highWaterMark && !this.full) this.becameFull();
  }

  /** Drop everything not yet written (the peer is gone or too slow to ever get it). */
  clear(): void {
    for (const b of this.queue) recycle(b); // never handed to the socket
    this.queue = [];
    this.queued = 0;
    this.pos = 0;
  }

  /** Release the buffers of a closed connection, and the publishers it held back. */
  release(): void {
    this.clear();
    if (this.buf !== undefined) recycle(this.buf, this.bufView);
    this.buf = undefined;
    this.bufView = NO_VIEW;
    this.view = this.viewBuf = undefined;
    this.releaseStalled();
  }
}

interface MaybeSocket {
  _parent?: unknown;
  rawSocket?: unknown;
  _handle?: { writeQueueSize?: unknown } | null;
}

/**
 * Bytes in the kernel-bound write queue of the TCP handle under `socket` (libuv updates it
 * as the kernel takes bytes), or undefined when it cannot be seen. A TLS socket's own handle
 * counts what it encrypted, so the TCP socket under it is asked (`_parent`); the WebSocket
 * transport names its socket `rawSocket`. Only read once a second for a full socket.
 */
function unsentBytes(socket: unknown): number | undefined {
  let s = socket as MaybeSocket | undefined;
  for (let depth = 0; s !== undefined && s !== null && depth < 4; depth++) {
    const inner = (s.rawSocket ?? s._parent) as MaybeSocket | undefined;
    if (inner === undefined || inner === null) {
      const q = s._handle?.writeQueueSize;
      return typeof q === "number" ? q : undefined;
    }
    s = inner;
  }
  return undefined;
}
