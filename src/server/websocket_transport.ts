// A WebSocket connection seen by Client as a socket (ClientTransport): each flush of the
// client's outbound buffer goes out as one binary WebSocket message (one frame, or 4 KB
// fragments for browsers), messages received are handed to the protocol parser as they
// arrive. Frames, masking, ping/pong, the close handshake and per-message deflate are done
// by the `ws` library.
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type net from "node:net";
import type { ClientTransport, CloseReason } from "./client.js";
import { S2BeneathWebSocket } from "./websocket_s2.js";

/** nats-server limits frames to browsers to this size: browsers handle big frames badly. */
const BROWSER_FRAME_SIZE = 4096;

/** The close status nats-server sends for each reason (RFC 6455 section 7.4.1). */
export function closeStatusFor(reason: CloseReason | undefined): number {
  switch (reason) {
    case undefined:
    case "Client Closed":
      return 1000; // normal closure
    case "Authentication Timeout":
    case "Authentication Failure":
    case "Slow Consumer (Pending Bytes)":
    case "Slow Consumer (Write Deadline)":
    case "Maximum Connections Exceeded":
    case "Maximum Control Line Exceeded":
      return 1008; // policy violation
    case "Parse Error":
    case "Protocol Violation":
    case "Bad Client Protocol Version":
      return 1002; // protocol error
    case "Maximum Message Payload Exceeded":
      return 1009; // message too big
    case "Read Error":
    case "Write Error":
    case "Stale Connection":
    case "Server Shutdown":
      return 1001; // going away
    default:
      // nats-server would send 1015 for a TLS failure, but that code may not go on the wire
      // (and a WebSocket's TLS handshake is over before its client exists).
      return 1011; // internal error
  }
}

/**
 * nats-server's reason text for a frame the `ws` library refused (its error code and message
 * name the problem in other words); undefined keeps the library's own close.
 */
export function protocolErrorText(err: Error & { code?: string }, compressed: boolean): string | undefined {
  const n = /(\d+)$/.exec(err.message)?.[1];
  switch (err.code) {
    case "WS_ERR_UNEXPECTED_RSV_2_3":
      return "RSV2 and RSV3 must be clear";
    case "WS_ERR_UNEXPECTED_RSV_1":
      return compressed ? "control frame must not be compressed" : "compressed frame received without negotiated permessage-deflate";
    case "WS_ERR_EXPECTED_MASK":
      return "mask bit missing";
    case "WS_ERR_EXPECTED_FIN":
      return "control frame does not have final bit set";
    case "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH":
      return n === "1" ? "close frame payload cannot be 1 byte" : "control frame length bigger than maximum allowed of 125 bytes";
    case "WS_ERR_INVALID_CLOSE_CODE":
      return `invalid close status code ${n ?? ""}`;
    case "WS_ERR_INVALID_OPCODE":
      // A continuation with nothing to continue, a new message inside a fragmented one, or an
      // opcode RFC 6455 does not define.
      if (n === "0") return "invalid continuation frame";
      if (n === "1" || n === "2") return "new message started before final frame for previous message was received";
      return `unknown opcode ${n ?? ""}`;
    default:
      return undefined;
  }
}

/** The `ws` library's sender.close (lib/sender.js): the close frame, then `cb` once it is written. */
interface SenderClose {
  close(code: number, data: string | Buffer, mask: boolean, cb: (err?: Error | null) => void): void;
}

export interface WebSocketTransportOptions {
  /** Compression was negotiated: messages above the threshold are deflated. */
  compress: boolean;
  /** The peer is a browser (its User-Agent starts with "Mozilla/"): frames of at most 4 KB. */
  browser: boolean;
  /** Safari can't take fragmented compressed messages: those go out in one frame. */
  noCompressedFragments: boolean;
}

export class WebSocketTransport extends EventEmitter implements ClientTransport {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Where the close reason comes from when the server ends the connection (set by the owner). */
  closeReason: () => CloseReason | undefined = () => undefined;
  private readonly whole: { binary: true; compress: boolean; fin: true };
  private readonly fragmentSize: number;
  /** A leaf node connection negotiated S2: it runs beneath the frames (websocket_s2.ts). */
  private s2: S2BeneathWebSocket | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly raw: Duplex & { remoteAddress?: string; remotePort?: number; setNoDelay?(on: boolean): unknown },
    o: WebSocketTransportOptions,
  ) {
    super();
    this.remoteAddress = raw.remoteAddress;
    this.remotePort = raw.remotePort;
    this.whole = { binary: true, compress: o.compress, fin: true };
    this.fragmentSize = o.browser && !(o.compress && o.noCompressedFragments) ? BROWSER_FRAME_SIZE : 0;
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => this.emit("data", data));
    ws.on("error", (err: Error) => this.emit("error", err));
    // A refused frame: the library closes with the status only, when its receiver reports the
    // error; closing first, with nats-server's words as the reason, leaves that close a no-op.
    const receiver = (ws as unknown as { _receiver?: EventEmitter })._receiver;
    receiver?.prependListener("error", (err: Error & { code?: string }) => {
      const text = protocolErrorText(err, o.compress);
      if (text !== undefined) ws.close(1002, text);
    });
    ws.on("close", () => this.emit("close"));
    raw.on("drain", () => this.emit("drain"));
    // The peer ended its side without a close frame: nats-server answers with one ("Client
    // Closed", 1000) before its own FIN; `ws` would only end the socket.
    raw.prependListener("end", () => {
      if (ws.readyState === ws.OPEN) ws.close(closeStatusFor("Client Closed"), "Client Closed");
    });
  }

  /** Bytes not yet handed to the kernel: the socket's buffer plus what `ws` still queues (compression). */
  get writableLength(): number {
    return this.ws.bufferedAmount;
  }

  /** The socket under the WebSocket: Outbound reads the progress of a full socket from it. */
  get rawSocket(): Duplex {
    return this.raw;
  }

  /** Messages sent between cork and uncork leave in one write (and one S2 chunk). */
  cork(): void {
    this.raw.cork();
    this.s2?.cork();
  }

  uncork(): void {
    this.s2?.uncork();
    this.raw.uncork();
  }

  /**
   * From now on the bytes on the socket are an S2 stream of the frames, both ways (nats-server's
   * leaf node compression over WebSocket without deflate). Returns the level's setter (s2_auto).
   */
  compressBeneath(level: string): { setLevel(level: string): void } {
    const s2 = new S2BeneathWebSocket(this.ws, this.raw as net.Socket, level, (err) => this.emit("error", err));
    this.s2 = s2;
    return s2;
  }

  setNoDelay(noDelay: boolean): void {
    this.raw.setNoDelay?.(noDelay);
  }

  write(data: Buffer): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return true; // closing: nothing more goes out
    const size = this.fragmentSize;
    if (size === 0 || data.length <= size) {
      this.ws.send(data, this.whole);
    } else {
      const compress = this.whole.compress;
      for (let at = 0; at < data.length; at += size) {
        const end = Math.min(at + size, data.length);
        this.ws.send(data.subarray(at, end), { binary: true, compress, fin: end === data.length });
      }
    }
    return !this.raw.writableNeedDrain;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /**
   * A close frame with nats-server's status and the reason as text, after what is queued; then
   * the TCP connection is ended at once, as nats-server does, without waiting for the peer's
   * close frame (`ws` would wait for it).
   */
  end(): void {
    const reason = this.closeReason();
    if (this.ws.readyState === this.ws.OPEN) {
      const sender = (this.ws as unknown as { _sender: SenderClose })._sender;
      const close = sender.close.bind(sender);
      sender.close = (code, data, mask, cb) =>
        close(code, data, mask, (err) => {
          cb(err);
          if (err === undefined || err === null) this.raw.end();
        });
    }
    this.ws.close(closeStatusFor(reason), reason ?? "");
  }

  destroy(): void {
    this.ws.terminate();
  }
}
