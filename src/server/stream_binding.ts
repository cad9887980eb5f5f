// Node's stream binding (`process.binding("stream_wrap")`): the request objects libuv
// completes writes and shutdowns on, and the shared state a handle's calls report through.
// Used by direct_write.ts (writes past a socket's stream.Writable) and tcp_connection.ts
// (connections served from their TCP handle, without a net.Socket). Undefined when this Node
// does not offer it as expected: callers then use the public socket API.
import { getSystemErrorName } from "node:util";

/** The part of a libuv stream handle (TCPWrap) that tsnats calls. */
export interface StreamHandle {
  writeBuffer(req: WriteRequest, data: Buffer): number;
  writev(req: WriteRequest, chunks: Buffer[], allBuffers: boolean): number;
  readonly writeQueueSize: number;
}

/** A WriteWrap: the request object libuv completes a queued write on. */
export interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  handle: StreamHandle;
  /** Keeps the bytes of a queued write alive until it completes. */
  buffer: Buffer | Buffer[] | undefined;
  writer: unknown;
}

/** A ShutdownWrap: completed once the handle's queued writes are out and its write side is shut. */
export interface ShutdownRequest {
  oncomplete: (this: ShutdownRequest, status: number) => void;
  handle: unknown;
}

export interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  /** Where a handle's `onread` finds the bytes read (or the negative error, UV_EOF at the end). */
  kReadBytesOrError: number;
}

/**
 * `TSNATS_STREAM_WRITES=1`: every write goes through the socket's stream.Writable (so every
 * connection is a net.Socket: tcp_connection.ts writes only this way).
 */
export const streamWritesOnly = process.env.TSNATS_STREAM_WRITES === "1";

export const streamBinding = ((): StreamWrapBinding | undefined => {
  try {
    const legacy = (process as unknown as { binding?: (name: string) => unknown }).binding;
    const b = legacy?.call(process, "stream_wrap") as Partial<StreamWrapBinding> | undefined;
    if (b === undefined || typeof b.WriteWrap !== "function" || typeof b.ShutdownWrap !== "function") return undefined;
    if (!(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== "number" || typeof b.kReadBytesOrError !== "number") return undefined;
    return b as StreamWrapBinding;
  } catch {
    return undefined;
  }
})();

/** A failed handle call as Node's streams report it ("write EPIPE", "read ECONNRESET": with code, errno, syscall). */
export function uvError(syscall: string, errno: number): Error {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `Unknown system error ${errno}`;
  }
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall });
}
