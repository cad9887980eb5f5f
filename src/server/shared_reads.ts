// Socket reads into one buffer shared by every plain TCP connection.
//
// By default Node allocates a new ArrayBuffer for every read of every socket. At hundreds of
// MB/s that external memory makes V8 run a full mark-compact every few tens of milliseconds
// ("external memory pressure"): a large share of the CPU, and the pauses that make up the
// tail latencies. nats-server reads into a buffer per connection that it reuses; here one
// buffer serves every connection, which is safe because a read is parsed and routed to the
// end before the next read is taken (the event loop runs one callback at a time).
//
// The contract that makes it safe, kept since the first parser: nothing may keep a reference
// into a read chunk beyond the synchronous handling of that read. The parser copies partial
// lines and split payloads; receivers copy what they keep (client and route outbound buffers
// encode a copy, internal handlers copy: see InternalHandler in account.ts). Setting
// TSNATS_POISON_READS=1 overwrites the buffer after every read, so tests catch a violation.
//
// Node offers this through the `onread` option of sockets it connects, not of sockets it
// accepts or wraps in TLS; the same switch is set here on such a socket before its first
// read. When the socket's internals are not as expected, nothing is changed and the socket
// reads the usual way.
import net from "node:net";

const READ_SIZE = 64 * 1024;
const POISON = process.env.TSNATS_POISON_READS === "1";

let shared: Buffer | undefined;

interface SocketInternals {
  _handle?: { reading?: boolean; readStop?: () => number; readStart?: () => number; useUserBuffer?: (buf: Uint8Array) => void } | null;
  [key: symbol]: unknown;
}

/** The Socket's own symbols for the `onread` buffer and callback, found once. */
const symbols = ((): { buffer: symbol; callback: symbol } | undefined => {
  const probe = new net.Socket();
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(probe)) {
    if (s.description === "kBuffer") buffer = s;
    else if (s.description === "kBufferCb") callback = s;
  }
  probe.destroy();
  return buffer !== undefined && callback !== undefined ? { buffer, callback } : undefined;
})();

/** Whoever handles a socket's reads. */
export interface ReadTarget {
  onData(chunk: Buffer): void;
}

/** Where a socket's reads go: kept on the socket, so one callback serves every socket. */
const kReadTarget = Symbol("tsnats.readTarget");

interface TargetedSocket {
  [kReadTarget]: ReadTarget;
}

/**
 * Views of the shared buffer's first n bytes, by n, made once: a read hands one to its target
 * instead of a new Buffer view per read (about 100 bytes each; in request/reply every read has
 * the same few lengths). A view is valid exactly as long as a new one would be: until the
 * target returns.
 */
const VIEW_CACHE_MAX = 4096;
const views: Array<Buffer | undefined> = [];

function viewOf(b: Buffer, n: number): Buffer {
  if (n > VIEW_CACHE_MAX || b !== shared) return b.subarray(0, n);
  let v = views[n];
  if (v === undefined) {
    v = b.subarray(0, n);
    views[n] = v;
  }
  return v;
}

// Node calls the `onread` callback as a method of the socket.
function onSharedRead(this: TargetedSocket, n: number, b: Buffer): void {
  this[kReadTarget].onData(viewOf(b, n));
}

function onSharedReadPoisoned(this: TargetedSocket, n: number, b: Buffer): void {
  try {
    this[kReadTarget].onData(viewOf(b, n));
  } finally {
    b.fill(0xee, 0, n);
  }
}

/** The shared buffer, made on first use: a TCP handle served without a socket reads into it too (tcp_connection.ts). */
export function sharedReadBuffer(): Buffer {
  return (shared ??= Buffer.allocUnsafe(READ_SIZE));
}

/** Hand the first `n` bytes of the shared buffer to `target` (a view valid until `onData` returns). */
export function deliverSharedRead(target: ReadTarget, n: number): void {
  const b = shared as Buffer;
  if (!POISON) {
    target.onData(viewOf(b, n));
    return;
  }
  try {
    target.onData(viewOf(b, n));
  } finally {
    b.fill(0xee, 0, n);
  }
}

/**
 * From its next read on, have `socket` read into the shared buffer and hand each read (a view
 * into that buffer, valid until `onData` returns) to `target` instead of emitting 'data'.
 * Returns false when it cannot: the socket then emits 'data' as usual. Nothing may wait in
 * the socket's readable buffer (it would be delivered by 'data' after newer reads).
 */
export function readIntoSharedBuffer(socket: net.Socket, target: ReadTarget | ((chunk: Buffer) => void)): boolean {
  const s = socket as unknown as SocketInternals;
  const handle = s._handle;
  if (symbols === undefined || handle === undefined || handle === null || socket.readableLength > 0) return false;
  if (typeof handle.useUserBuffer !== "function" || typeof handle.readStop !== "function" || typeof handle.readStart !== "function") return false;
  // Switched between reads: a read in progress completes in a later event-loop turn.
  const reading = handle.reading === true;
  if (reading && handle.readStop() !== 0) return false;
  const buf = sharedReadBuffer();
  s[symbols.buffer] = buf;
  (socket as unknown as TargetedSocket)[kReadTarget] = typeof target === "function" ? { onData: target } : target;
  s[symbols.callback] = POISON ? onSharedReadPoisoned : onSharedRead;
  handle.useUserBuffer(buf);
  if (reading && handle.readStart() !== 0) socket.destroy(new Error("read could not resume"));
  return true;
}
