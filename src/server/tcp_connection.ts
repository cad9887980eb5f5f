// A plain TCP client connection served straight from the TCP handle the listener accepted,
// without a net.Socket.
//
// Node makes a net.Socket of every accepted connection: a Duplex stream with its readable
// and writable state, an EventEmitter, listeners, and a first read through the stream
// machinery. A client connection uses none of it: its reads go to the shared read buffer
// (shared_reads.ts) and its writes to the handle (direct_write.ts). Setting that socket up
// was about a sixth of the server's CPU per connection when a crowd connects (Go client as
// the conns benchmarks, perf: Socket, Duplex, ReadableState, onconnection, getpeername), and
// its objects about as much again in young-generation collections, since every connection's
// objects survive to the old generation. So the listener's handle hands new connections here
// (`serveTcpHandles`), which makes one small object per connection that does what a client
// needs of its transport: reads into the shared buffer, pause and resume, a graceful end
// (shutdown after the queued writes, as net.Socket's end()), destroy, and the events a Client
// listens to ('end' at EOF, 'error', then 'close' once the handle is closed).
//
// Connections that need a socket still get one from Node's own accept path: TLS (tls.ts wraps
// a net.Socket), and every connection when this Node's internals are not as expected or
// `TSNATS_STREAM_WRITES=1` / `TSNATS_NET_SOCKETS=1` asks for sockets.
import type net from "node:net";
import { getDefaultHighWaterMark } from "node:stream";
import { getSystemErrorMap } from "node:util";
import { deliverSharedRead, sharedReadBuffer, type ReadTarget } from "./shared_reads.js";
import { streamBinding, streamWritesOnly, uvError, type ShutdownRequest, type StreamHandle, type StreamWrapBinding } from "./stream_binding.js";

/** The TCPWrap calls made here (Node's net.js makes the same ones). */
interface TcpHandle extends StreamHandle {
  onread: ((this: TcpHandle) => void) | null;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string; port?: number }): number;
  shutdown(req: ShutdownRequest): number;
  close(callback: (this: TcpHandle) => void): void;
  unref(): void;
  [kConnection]?: TcpConnection;
}

/** The listening handle of a net.Server: Node calls its `onconnection` with each accepted handle. */
interface ListenHandle {
  onconnection: (this: ListenHandle, err: number, clientHandle: TcpHandle | undefined) => void;
}

/** Who is told when a connection's handle is closed. */
export interface TcpConnectionOwner {
  tcpConnectionClosed(conn: TcpConnection): void;
}

const kConnection = Symbol("tsnats.tcpConnection");
const binding = streamBinding as StreamWrapBinding;
/** libuv's end-of-stream code, as Node's error map names it. */
const UV_EOF = ((): number | undefined => {
  for (const [errno, [name]] of getSystemErrorMap()) if (name === "EOF") return errno;
  return undefined;
})();
/** A socket's default write high-water mark: where a connection counts as full (Outbound). */
const HIGH_WATER_MARK = typeof getDefaultHighWaterMark === "function" ? getDefaultHighWaterMark(false) : 16 * 1024;
const usable = !streamWritesOnly && process.env.TSNATS_NET_SOCKETS !== "1" && streamBinding !== undefined && UV_EOF !== undefined;

export class TcpConnection {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** What direct_write.ts writes to; null once destroyed. */
  _handle: TcpHandle | null;
  readonly connecting = false;
  readonly writableLength = 0;
  readonly writableHighWaterMark = HIGH_WATER_MARK;
  writableEnded = false;
  destroyed = false;
  private target: ReadTarget | undefined;
  /** Reads were asked for (readInto, resume) and not paused since. */
  private reading = false;
  private ended = false;
  private error: Error | undefined;
  private onEnd: (() => void) | undefined;
  private onError: ((err: Error) => void) | undefined;
  private onClose: (() => void) | undefined;

  constructor(
    handle: TcpHandle,
    private readonly owner: TcpConnectionOwner,
  ) {
    this._handle = handle;
    handle[kConnection] = this;
    handle.onread = onHandleRead;
    // As Node's listener with noDelay: every message goes out at once.
    handle.setNoDelay(true);
    const peer: { address?: string; port?: number } = {};
    if (handle.getpeername(peer) === 0) {
      this.remoteAddress = peer.address;
      this.remotePort = peer.port;
    }
  }

  /** Start reading: each read goes to `target` as a view of the shared read buffer. */
  readInto(target: ReadTarget): void {
    this.target = target;
    const h = this._handle;
    if (h === null) return;
    h.useUserBuffer(sharedReadBuffer());
    this.resume();
  }

  /**
   * One listener each: the Client's, called as a method of this connection. Writes go through
   * the handle (direct_write.ts), so there is never a 'drain'; reads go to the read target,
   * never to 'data'.
   */
  on(event: "data", listener: (chunk: Buffer) => void): this;
  on(event: "drain" | "close" | "end", listener: () => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: string, listener: (arg: never) => void): this {
    if (event === "end") this.onEnd = listener as () => void;
    else if (event === "error") this.onError = listener as (err: Error) => void;
    else if (event === "close") this.onClose = listener as () => void;
    return this;
  }

  setNoDelay(): void {
    // Set when accepted.
  }

  /** The connection no longer keeps the process alive (as a socket's unref()). */
  unref(): void {
    this._handle?.unref();
  }

  /** Writes go to the handle through a DirectWriter; this one is only reached once ended or destroyed. */
  write(): boolean {
    return false;
  }

  pause(): void {
    if (!this.reading) return;
    this.reading = false;
    if (this._handle !== null && !this.ended) this._handle.readStop();
  }

  resume(): void {
    if (this.reading || this.target === undefined) return;
    this.reading = true;
    const h = this._handle;
    if (h === null || this.ended) return;
    const err = h.readStart();
    if (err !== 0) this.destroy(uvError("read", err));
  }

  /** Shut the write side once the queued writes are out (net.Socket's end()); reading goes on until EOF. */
  end(): void {
    const h = this._handle;
    if (this.writableEnded || h === null) return;
    this.writableEnded = true;
    const req = new binding.ShutdownWrap();
    req.oncomplete = onShutdown;
    req.handle = h;
    const err = h.shutdown(req);
    if (err !== 0) this.destroy(uvError("shutdown", err));
  }

  /** Close the handle (queued writes are dropped); 'error' (when given) and 'close' follow once it is closed. */
  destroy(err?: Error): void {
    const h = this._handle;
    if (h === null) return;
    this._handle = null;
    this.destroyed = true;
    this.error = err;
    h.close(onHandleClosed);
  }

  /** A read ended the stream: EOF, or an error (reset). */
  readFailed(errno: number): void {
    if (errno === UV_EOF) {
      this.ended = true;
      this.onEnd?.call(this);
    } else this.destroy(uvError("read", errno));
  }

  handleClosed(): void {
    const err = this.error;
    this.error = undefined;
    if (err !== undefined) this.onError?.call(this, err);
    this.onClose?.call(this);
    this.owner.tcpConnectionClosed(this);
  }

  /** Bytes read: to the read target. */
  read(n: number): void {
    if (this.target !== undefined && this._handle !== null) deliverSharedRead(this.target, n);
  }
}

// Node calls these as methods of the handle (or the request); the connection is found on it.
function onHandleRead(this: TcpHandle): void {
  const conn = this[kConnection] as TcpConnection;
  const n = binding.streamBaseState[binding.kReadBytesOrError];
  if (n > 0) conn.read(n);
  else if (n < 0) conn.readFailed(n);
}

function onHandleClosed(this: TcpHandle): void {
  (this[kConnection] as TcpConnection).handleClosed();
}

function onShutdown(): void {
  // Nothing to do: the peer's FIN ('end') or the Client's timer closes the connection.
}

/**
 * From now on, connections `listener` accepts are served from their TCP handle: `accept`
 * gets each as a TcpConnection, unless `wantsSocket()` says this one needs a net.Socket (then
 * Node's own accept path makes one and emits 'connection' as before). Returns false, changing
 * nothing, when this Node's listener is not as expected.
 */
export function serveTcpHandles(
  listener: net.Server,
  owner: TcpConnectionOwner,
  wantsSocket: () => boolean,
  accept: (conn: TcpConnection) => void,
): boolean {
  const handle = (listener as unknown as { _handle?: Partial<ListenHandle> | null })._handle;
  if (!usable || handle === undefined || handle === null || typeof handle.onconnection !== "function") return false;
  const nodeAccept = handle.onconnection;
  handle.onconnection = function (this: ListenHandle, err: number, clientHandle: TcpHandle | undefined): void {
    if (err !== 0 || clientHandle === undefined || wantsSocket() || !isTcpHandle(clientHandle)) {
      nodeAccept.call(this, err, clientHandle);
      return;
    }
    accept(new TcpConnection(clientHandle, owner));
  };
  return true;
}

function isTcpHandle(h: Partial<TcpHandle>): boolean {
  return (
    typeof h.readStart === "function" &&
    typeof h.useUserBuffer === "function" &&
    typeof h.writeBuffer === "function" &&
    typeof h.shutdown === "function" &&
    typeof h.getpeername === "function" &&
    typeof h.setNoDelay === "function"
  );
}
