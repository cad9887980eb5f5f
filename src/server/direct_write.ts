// Writes to a plain TCP socket's libuv handle, past the socket's stream.Writable.
//
// Every socket.write() goes through Writable (a state update and a tick to run its callback)
// and net's write path, which creates a WriteWrap request object per write. The request is only
// needed when the kernel does not take the bytes at once: libuv then queues them and reports
// completion on the request. So one request object is kept per connection and reused for as
// long as writes complete at once, which is every write of a connection keeping up; a write
// left queued keeps its request (and its buffers) until completion, and the next write gets a
// new one. Node's own write path does the same calls on the same handle (writeBuffer, writev,
// the shared stream state that says whether the last write was queued).
//
// Used only while the socket is what this expects: a net.Socket (not TLS) with its TCP handle,
// connected, not ended, and nothing buffered in its Writable (so these bytes cannot overtake
// bytes written the usual way). Otherwise the owner writes through the stream as before.
// Closing is the socket's: end() shuts the handle down after the queued writes, destroy()
// cancels them (their completions are then ignored). A write error destroys the socket with
// the error, as a stream write error does ('error', then 'close').
import net from "node:net";
import { streamBinding, streamWritesOnly, uvError, type StreamHandle, type StreamWrapBinding, type WriteRequest } from "./stream_binding.js";
import { TcpConnection } from "./tcp_connection.js";

interface SocketInternals {
  _handle?: unknown;
  connecting?: boolean;
  destroyed?: boolean;
  writableEnded?: boolean;
  writableLength: number;
  writableHighWaterMark: number;
  destroy(err?: Error): void;
}

const binding = streamBinding;

/** What a DirectWriter reports to. */
export interface DirectWriteOwner {
  /** A queued write completed: libuv no longer reads these buffers. */
  directWritten(buffers: Buffer | Buffer[]): void;
  /** Every queued write completed: the handle's queue is empty. */
  directDrained(): void;
}

function onWriteComplete(this: WriteRequest, status: number): void {
  const writer = this.writer as DirectWriter | undefined;
  const buffers = this.buffer;
  this.buffer = undefined;
  this.writer = undefined;
  writer?.completed(status, buffers);
}

export class DirectWriter {
  /** The request for the next write; a queued write takes it along. */
  private req: WriteRequest | undefined;
  /** Queued writes not yet completed. */
  private inFlight = 0;
  private detached = false;

  constructor(
    private readonly socket: SocketInternals,
    private readonly handle: StreamHandle,
    private readonly owner: DirectWriteOwner,
  ) {}

  /** Can the next write go to the handle? */
  usable(): boolean {
    const s = this.socket;
    return !this.detached && s._handle === this.handle && s.writableLength === 0 && s.writableEnded !== true && s.destroyed !== true;
  }

  /** A queued write has not completed yet. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Bytes in the handle's queue: what the kernel has not taken yet. */
  get queued(): number {
    return this.socket._handle === this.handle ? this.handle.writeQueueSize : 0;
  }

  /** The queue size at which the socket counts as full (the stream's own mark). */
  get highWaterMark(): number {
    return this.socket.writableHighWaterMark;
  }

  /**
   * Returns true when the bytes were queued: the request holds the buffers until it completes
   * (then `directWritten` hands them back); false when they are free again at once.
   */
  write(data: Buffer): boolean {
    const req = this.request();
    return this.after(req, req.handle.writeBuffer(req, data), data);
  }

  /** write() of several buffers in one writev. */
  writev(chunks: Buffer[]): boolean {
    const req = this.request();
    return this.after(req, req.handle.writev(req, chunks, true), chunks);
  }

  /** The owner writes to another socket from now on: completions of this one are ignored. */
  detach(): void {
    this.detached = true;
  }

  private request(): WriteRequest {
    let req = this.req;
    if (req === undefined) {
      req = new (binding as StreamWrapBinding).WriteWrap();
      req.handle = this.handle;
      req.oncomplete = onWriteComplete;
      req.buffer = undefined;
      req.writer = undefined;
      this.req = req;
    }
    return req;
  }

  private after(req: WriteRequest, err: number, data: Buffer | Buffer[]): boolean {
    if (err !== 0) {
      this.socket.destroy(uvError("write", err));
      return false;
    }
    const b = binding as StreamWrapBinding;
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) return false; // taken at once: the request is free again
    // Queued: libuv reads the bytes from these buffers until it completes the request.
    req.buffer = data;
    req.writer = this;
    this.req = undefined;
    this.inFlight++;
    return true;
  }

  completed(status: number, buffers: Buffer | Buffer[] | undefined): void {
    if (this.inFlight > 0) this.inFlight--;
    if (this.detached || this.socket.destroyed === true) return;
    if (status < 0) {
      this.socket.destroy(uvError("write", status));
      return;
    }
    if (buffers !== undefined) this.owner.directWritten(buffers);
    // The completed request is not reused: its native part is gone, the next queued write gets a new one.
    if (this.inFlight === 0) this.owner.directDrained();
  }
}

/** A DirectWriter for `socket` when it is a plain TCP socket of this Node; undefined otherwise. */
export function directWriterFor(socket: unknown, owner: DirectWriteOwner): DirectWriter | undefined {
  if (streamWritesOnly || binding === undefined) return undefined;
  // A connection served from its TCP handle (tcp_connection.ts) has no other way to write.
  if (!(socket instanceof TcpConnection) && (!(socket instanceof net.Socket) || socket.constructor !== net.Socket)) return undefined;
  const s = socket as unknown as SocketInternals;
  const handle = s._handle as Partial<StreamHandle> | null | undefined;
  if (handle === undefined || handle === null || s.connecting === true) return undefined;
  if (typeof handle.writeBuffer !== "function" || typeof handle.writev !== "function" || typeof handle.writeQueueSize !== "number") return undefined;
  return new DirectWriter(s, handle as StreamHandle, owner);
}
