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
// accepts; the same switch is set here on an accepted socket before its first read (the
// server accepts with pauseOnConnect). When the socket's internals are not as expected,
// nothing is changed and the socket reads the usual way.
import net from "node:net";

const READ_SIZE = 64 * 1024;
const POISON = process.env.TSNATS_POISON_READS === "1";

let shared: Buffer | undefined;

interface SocketInternals {
  _handle?: { reading?: boolean; readStop?: () => number; useUserBuffer?: (buf: Uint8Array) => void } | null;
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

/**
 * Have `socket` (just accepted: nothing read yet) read into the shared buffer and call
 * `onData` with each read (a view into that buffer, valid until `onData` returns) instead of
 * emitting 'data'; reading starts at `socket.resume()`. Returns false when it cannot: the
 * socket then emits 'data' as usual.
 */
export function readIntoSharedBuffer(socket: net.Socket, onData: (chunk: Buffer) => void): boolean {
  const s = socket as unknown as SocketInternals;
  const handle = s._handle;
  if (symbols === undefined || handle === undefined || handle === null || socket.readableLength > 0) return false;
  if (typeof handle.useUserBuffer !== "function" || typeof handle.readStop !== "function") return false;
  // Node starts reading an accepted socket at once; no read has completed yet (that takes an
  // event-loop turn), so stopping here loses nothing. resume() starts it again.
  if (handle.reading === true) {
    if (handle.readStop() !== 0) return false;
    handle.reading = false;
  }
  const buf = (shared ??= Buffer.allocUnsafe(READ_SIZE));
  s[symbols.buffer] = buf;
  s[symbols.callback] = POISON
    ? (n: number, b: Buffer): void => {
        try {
          onData(b.subarray(0, n));
        } finally {
          b.fill(0xee, 0, n);
        }
      }
    : (n: number, b: Buffer): void => onData(b.subarray(0, n));
  handle.useUserBuffer(buf);
  return true;
}
