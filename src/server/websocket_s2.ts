// S2 beneath a WebSocket's frames, as nats-server runs it on a leaf node connection over
// WebSocket without per-message deflate (server/client.go flushOutbound and readLoop, as
// facts): once both sides chose an S2 level, what crosses the TCP connection is an S2 stream
// whose content is the WebSocket frames themselves (headers, masks and control frames
// included), both ways. The `ws` library keeps doing the frames; this sits between it and its
// socket: its sender writes into the S2 framer, its receiver is fed what the decoder gives back.
//
// The switch needs no care for bytes in flight: each side sends its first compressed bytes
// only after it read the other's INFO that completed the negotiation (leafnode.ts).
import type net from "node:net";
import type { Writable } from "node:stream";
import type { WebSocket } from "ws";
import { S2StreamDecoder } from "../storage/s2.js";
import { S2WritingSocket } from "../cluster/compression.js";

type WriteCallback = (err?: Error | null) => void;

/** What the `ws` library's sender uses of its socket (lib/sender.js). */
interface SenderSocket {
  write(data: Buffer, cb?: WriteCallback): boolean;
  cork(): void;
  uncork(): void;
  readonly destroyed: boolean;
}

export class S2BeneathWebSocket {
  private readonly writer: S2WritingSocket;
  private corks = 0;
  /** Frames written while corked: compressed together at the last uncork (one S2 chunk, a better ratio). */
  private held: Buffer[] = [];
  private heldCallbacks: WriteCallback[] = [];

  constructor(
    ws: WebSocket,
    private readonly raw: net.Socket,
    level: string,
    /** The peer's bytes are no S2 stream: the connection is to close. */
    onError: (err: Error) => void,
  ) {
    this.writer = new S2WritingSocket(raw, level);
    const internals = ws as unknown as { _sender: { _socket: SenderSocket }; _receiver: Writable };
    const senderSocket: SenderSocket = {
      write: (data, cb) => this.write(data, cb),
      cork: () => this.cork(),
      uncork: () => this.uncork(),
      get destroyed() {
        return raw.destroyed;
      },
    };
    internals._sender._socket = senderSocket;
    // The socket's data listener (and the library's last read at close) feed the receiver
    // through write(): decompressed here first.
    const receiver = internals._receiver;
    const frames = receiver.write.bind(receiver) as (chunk: Buffer) => boolean;
    const decoder = new S2StreamDecoder();
    let failed = false;
    receiver.write = ((chunk: Buffer): boolean => {
      if (failed) return true;
      let pieces: Buffer[];
      try {
        pieces = decoder.push(chunk);
      } catch (err) {
        failed = true;
        onError(err as Error);
        return true;
      }
      let more = true;
      for (const piece of pieces) more = frames(piece) && more;
      return more;
    }) as Writable["write"];
  }

  /** s2_auto picked another level: it applies from the next write. */
  setLevel(level: string): void {
    this.writer.setLevel(level);
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0) return;
    if (--this.corks > 0 || this.held.length === 0) return;
    const data = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held);
    const callbacks = this.heldCallbacks;
    this.held = [];
    this.heldCallbacks = [];
    this.writer.write(data, callbacks.length === 0 ? undefined : (err) => callbacks.forEach((cb) => cb(err)));
  }

  private write(data: Buffer, cb?: WriteCallback): boolean {
    if (this.corks === 0) return this.writer.write(data, cb);
    this.held.push(data);
    if (cb !== undefined) this.heldCallbacks.push(cb);
    return !this.raw.writableNeedDrain;
  }
}
