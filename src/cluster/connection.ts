// What routes, leaf node and gateway connections share: the socket, the server-to-server
// parser, the outbound buffer written once per event-loop turn, PING/PONG liveness, the
// subscriptions standing for the other side's interest, and teardown.
//
// The protocol of each kind (handshake, interest ops, message framing) is in its own file
// (route.ts, leafnode.ts, gateway.ts); they extend this class.
import type net from "node:net";
import type tls from "node:tls";
import type { ServerTls } from "../server/tls.js";
import type { Server } from "../server/server.js";
import { splitDeliveredReply, type Account } from "../server/account.js";
import type { RemoteDeliverer, Subscription, SublistResult } from "../server/sublist.js";
import { Outbound, copyInto, stallMarkFor, type Stallable } from "../server/outbound.js";
import { readIntoSharedBuffer } from "../server/shared_reads.js";
import { stallLimitMs } from "../server/stall_queue.js";
import { ProtoErr, ProtocolError } from "../protocol/errors.js";
import { MSG_TRACE_PROTO, MsgTrace, TraceKind, setActiveTrace } from "../server/msg_trace.js";
import { RemoteParser, type MsgOp, type RemoteParserHandler, type SubOp, type UnsubOp } from "./remote_parser.js";
import { parseHandshakeJson, redactPassword } from "./handshake.js";
import { S2Error, S2StreamDecoder } from "../storage/s2.js";
import {
  COMPRESSION_S2_AUTO,
  compressionForInfo,
  levelForRtt,
  needsCompression,
  S2WritingSocket,
  selectCompressionMode,
  type CompressionSetting,
} from "./compression.js";
import { peerAddress } from "../server/bind_address.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";
import { goDuration } from "../server/time.js";
import { RTT_MEASUREMENT_INTERVAL_MS } from "../server/client.js";

const PING = Buffer.from("PING\r\n");
const PONG = Buffer.from("PONG\r\n");
/** Close a socket whose peer does not read the last bytes within this time. */
const CLOSE_GRACE_MS = 2000;

/** Why a server-to-server connection closed (nats-server's ClosedState texts). */
export type RemoteCloseReason =
  | "Client Closed"
  | "Server Shutdown"
  | "Stale Connection"
  | "Protocol Violation"
  | "Parse Error"
  | "Authentication Failure"
  | "Authentication Timeout"
  | "Duplicate Route"
  | "Duplicate Server Name"
  | "Cluster Name Conflict"
  | "Route Removed"
  | "Wrong Port"
  | "Wrong Gateway"
  | "Slow Consumer (Pending Bytes)"
  | "Slow Consumer (Write Deadline)"
  | "Read Error"
  | "Write Error"
  | "TLS Handshake Failure"
  | "Missing Account"
  | "Lame Duck Mode"
  | "Kicked"
  | "Maximum Message Payload Exceeded"
  | "Leafnode Loop Detected"
  | "Cluster Names Identical"
  | "Maximum Account Connections Exceeded"
  | "Configuration Changed";

export abstract class RemoteConnection implements RemoteDeliverer, RemoteParserHandler {
  abstract readonly kind: "route" | "leaf" | "gateway";
  readonly cid: number;
  readonly start = new Date();
  readonly host: string;
  readonly port: number;
  // Counters and times start as double fields (server/double_zero.ts).
  inMsgs = DOUBLE_ZERO;
  inBytes = DOUBLE_ZERO;
  outMsgs = DOUBLE_ZERO;
  outBytes = DOUBLE_ZERO;
  lastActivity = Date.now();
  rttMs = DOUBLE_ZERO;
  closed = false;
  closeReason: RemoteCloseReason | undefined;
  stop: Date | undefined;
  dirty = false;
  /** The other side's interest, by a key unique per account, subject and queue. */
  readonly subs = new Map<string, Subscription>();
  /**
   * The compression in use (/routez, /leafz): "off", "not supported" (a peer before 2.10), or
   * the S2 level this side writes with.
   */
  compression = "off";
  /** Compression was negotiated (or found not to apply): later INFOs do not negotiate again. */
  protected compressionNegotiated = false;
  /** Writes go out as an S2 stream through this (between the outbound buffer and the socket, or beneath a WebSocket's frames). */
  private compressor: { setLevel(level: string): void } | undefined;
  /** Reads are an S2 stream. */
  private decompressor: S2StreamDecoder | undefined;
  /** The INFO just parsed switched reads to S2: what follows it is compressed. */
  private switchReads = false;
  /** No PINGs while compression is being negotiated: one could cross the switch to S2. */
  protected pingsHeld = false;

  protected readonly parser: RemoteParser;
  protected readonly outbound: Outbound;
  protected trace: boolean;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingsOut = 0;
  private pingSentAt = DOUBLE_ZERO;
  /** When a PONG last measured the RTT (ms since the epoch; 0: never). */
  private rttMeasuredAt = 0;
  /** write_deadline of this kind of connection (the server's unless its block sets one). */
  protected writeDeadlineMs: number;
  /**
   * write_timeout: "close" drops a connection whose socket stays full past the deadline;
   * "retry" (nats-server's default for server connections) only does when the peer took
   * nothing at all meanwhile, and otherwise counts a slow consumer and keeps going.
   */
  protected writeTimeoutPolicy: "close" | "retry" = "retry";
  /** Times the write deadline passed while the peer was still reading (retry policy). */
  slowConsumerEvents = 0;
  /** TLS is established on this connection. */
  tlsDone = false;
  private connectSeen = false;
  /** An accepted connection's CONNECT was read (it must come before anything else). */
  protected get connectReceived(): boolean {
    return this.connectSeen;
  }
  protected set connectReceived(yes: boolean) {
    this.connectSeen = yes;
    this.parser.awaitingConnect = !yes && !this.solicited;
  }
  /** Running from acceptance until the CONNECT logged in. */
  private authTimer: NodeJS.Timeout | undefined;
  /** The other server's protocol level (route and gateway INFO `proto`, leaf node INFO or CONNECT `protocol`). */
  peerProto = 0;
  /**
   * The control line of the last message sent and what it was made of: it often repeats. Its
   * bytes (`lastLine`) are made only once it does: a line seen once (a reply subject per
   * message: PubAcks, JetStream deliveries and acks) is encoded straight into the outbound
   * buffer, without a Buffer of its own.
   */
  private lastText = "";
  private lastLine: Buffer | undefined;
  private lastOp = "";
  private lastPrefix = "";
  private lastSubject = "";
  private lastReply = "";
  private lastQueues = "";
  private lastHdr = -1;
  private lastTotal = -1;

  constructor(
    readonly server: Server,
    protected socket: net.Socket,
    /** This server opened the connection (it "solicited" it). */
    readonly solicited: boolean,
  ) {
    this.cid = server.newCid();
    this.host = peerAddress(socket.remoteAddress);
    this.port = socket.remotePort ?? 0;
    this.trace = server.log.traceEnabled;
    const o = server.options;
    this.outbound = new Outbound(socket, stallMarkFor(o.maxPending));
    this.parser = new RemoteParser(this, o.maxControlLine * 16, Math.max(o.maxPayload, 64 * 1024 * 1024));
    const kind = this.kindName();
    this.parser.kind = kind === "Route" ? "Router" : kind === "Leafnode" ? "Leafnode" : "Gateway";
    this.parser.awaitingConnect = !solicited;
    this.parser.allowedFirst = (c0) => this.allowedBeforeConnect(c0);
    this.writeDeadlineMs = o.writeDeadlineMs;
    this.attach(socket);
  }

  /** The block's write_deadline and write_timeout ("default" is retry for server connections). */
  protected setWriteTimeout(deadlineMs: number | undefined, policy: "default" | "close" | "retry" | undefined): void {
    if (deadlineMs !== undefined && deadlineMs > 0) this.writeDeadlineMs = deadlineMs;
    this.writeTimeoutPolicy = policy === "close" ? "close" : "retry";
  }

  private readonly socketListeners = {
    data: (chunk: Buffer): void => this.onData(chunk),
    drain: (): void => this.onDrain(),
    error: (err: Error): void => {
      this.debug(`${this.kindName()} connection error: ${err.message}`);
      this.close("Read Error");
    },
    close: (): void => this.close("Client Closed"),
  };

  /** Listen to a socket. */
  protected attach(socket: net.Socket): void {
    this.socket = socket;
    this.outbound.attach(socket);
    socket.setNoDelay?.(true);
    const l = this.socketListeners;
    socket.on("data", l.data);
    readIntoSharedBuffer(socket, l.data);
    socket.on("drain", l.drain);
    socket.on("error", l.error);
    socket.on("close", l.close);
  }

  /**
   * Go on over another socket wrapping this one (TLS started after the plain-text INFO): what
   * was queued is written first, then the old socket is only read through the new one.
   */
  protected upgradeSocket(next: net.Socket): void {
    if (this.outbound.size > 0) this.outbound.flushAll();
    this.dirty = false;
    const old = this.socket;
    const l = this.socketListeners;
    old.off("data", l.data);
    old.off("drain", l.drain);
    old.off("error", l.error);
    old.off("close", l.close);
    old.on("error", () => undefined);
    this.attach(next);
  }

  protected abstract kindName(): string;
  /** The short id tag in log lines: rid (route), lid (leaf node), gid (gateway). */
  protected abstract idTag(): string;
  /** Remove this connection from the server's registries; its subscriptions are gone already. */
  protected abstract onClosed(): void;

  logPrefix(): string {
    return `${this.host}:${this.port} - ${this.idTag()}:${this.cid}`;
  }

  debug(msg: string): void {
    if (this.server.log.debugEnabled) this.server.log.debug(`${this.logPrefix()} - ${msg}`);
  }

  info(msg: string): void {
    this.server.log.info(`${this.logPrefix()} - ${msg}`);
  }

  error(msg: string): void {
    this.server.log.error(`${this.logPrefix()} - ${msg}`);
  }

  protected traceIn(op: string, arg: string): void {
    this.server.log.trace(`${this.logPrefix()} - <<- [${op}${arg ? " " + arg : ""}]`);
  }

  protected traceOut(op: string, arg: string): void {
    this.server.log.trace(`${this.logPrefix()} - ->> [${op}${arg ? " " + arg : ""}]`);
  }

  /** Bytes encoded or handed to the socket and not yet sent. */
  get pendingBytes(): number {
    return this.outbound.unsent + this.outbound.size;
  }

  private onDrain(): void {
    if (!this.closed) this.outbound.drained();
  }

  /** Pending bytes passed the stall mark: publishers sending here wait (see outbound.ts). */
  get behind(): boolean {
    return this.outbound.behind;
  }

  /** Hold a publisher back until this connection catches up (or for a while, whichever first: see stall_queue.ts). */
  stallPublisher(publisher: Stallable): void {
    if (this.closed || publisher === this) return;
    this.outbound.stall(publisher, stallLimitMs(publisher, this));
  }

  /** While this connection's reads are paused for a receiver that is behind: until when at the latest (the server's stall queue owns it). */
  stalledUntil = 0;
  private readsPaused = false;

  /**
   * A local receiver of what this connection delivers is behind: stop reading for `ms` at most,
   * so the other server holds its messages (back-pressure across the connection).
   */
  pauseReading(ms: number): void {
    if (this.readsPaused || this.closed) return;
    this.readsPaused = true;
    this.socket.pause();
    this.server.stalls.add(this, ms);
  }

  resumeReading(): void {
    if (!this.readsPaused) return;
    this.readsPaused = false;
    this.server.stalls.remove(this);
    if (!this.closed) this.socket.resume();
  }

  // ---- inbound ----

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    const server = this.server;
    server.readStarted();
    try {
      this.parseInput(chunk);
    } catch (err) {
      this.failOnInput(err);
    } finally {
      server.readDone();
    }
  }

  /**
   * An op other than CONNECT that an accepted connection may send before it (its first byte,
   * lower-cased): none, but a leaf node's INFO negotiating compression.
   */
  protected allowedBeforeConnect(_c0: number): boolean {
    return false;
  }

  /** What the other side sent (or a check of it) failed: log why and close. */
  private failOnInput(err: unknown): void {
    // Closed by an op of this input (a refused CONNECT): nats-server reads no further.
    if (this.closed) return;
    if (err instanceof S2Error) {
      this.error(`${this.kindName()} decompression error: ${err.message}`);
      this.close("Read Error", true);
    } else if (err instanceof ProtocolError) {
      this.error(err.message);
      if (err.text) this.sendErr(err.text);
      this.close(err.text === ProtoErr.AuthViolation ? "Authentication Failure" : "Protocol Violation");
    } else {
      // A bug of ours must not take the server down; this connection pays for it alone.
      this.error(`internal error: ${(err as Error).stack ?? String(err)}`);
      this.close("Protocol Violation");
    }
  }

  private parseInput(chunk: Buffer): void {
    const d = this.decompressor;
    if (d === undefined) this.parser.parse(chunk);
    else for (const piece of d.push(chunk)) {
      if (this.closed) return;
      this.parser.parse(piece);
    }
    if (this.switchReads) this.startDecompressing();
  }

  /** Go on parsing what was held (an asynchronous check finished); a switch to S2 may follow. */
  protected resumeInput(): void {
    this.parser.resume();
    if (this.switchReads) this.startDecompressing();
  }

  /** From here on reads are an S2 stream, starting with what followed the switching INFO. */
  private startDecompressing(): void {
    this.switchReads = false;
    this.parser.held = false;
    this.decompressor = new S2StreamDecoder();
    const rest = this.parser.takeHeld();
    if (rest !== undefined && rest.length > 0) this.parseInput(rest);
  }

  /** Which compression this connection is configured for (its block's, or its remote's). */
  protected abstract compressionSetting(): CompressionSetting;

  /**
   * Negotiate compression from the mode the peer's first INFO announced (we are configured for
   * it). When both sides compress, `sendInfo(mode)` sends our INFO naming the mode: in plain text
   * before our writes switch to S2 when we solicited, compressed when we accepted (the peer
   * switches on ours); reads switch right after the INFO being parsed. Returns whether
   * compression is on (the handshake then goes on with the peer's next INFO). Throws on a mode
   * we do not know.
   */
  protected negotiateCompression(peerMode: string | undefined, sendInfo: (mode: string) => void): boolean {
    const setting = this.compressionSetting();
    let mode = selectCompressionMode(setting.mode, peerMode);
    // s2_auto starts with the time the connection took to get here as its RTT, which is then
    // the connection's RTT (shown by /leafz, /routez) until a PONG measures one.
    if (mode === COMPRESSION_S2_AUTO) {
      const rtt = Math.max(0.001, performance.timeOrigin + performance.now() - this.start.getTime());
      if (this.pingSentAt === 0) this.rttMs = rtt;
      mode = levelForRtt(rtt, setting.rttThresholdsMs);
    }
    this.compression = mode;
    if (!needsCompression(mode)) return false;
    const infoMode = compressionForInfo(setting, mode);
    if (this.solicited) sendInfo(infoMode);
    // What is queued so far goes out in plain text (our INFO when we solicited).
    if (this.outbound.size > 0) this.outbound.flushAll();
    const beneath = this.compressBeneath(mode);
    if (beneath !== undefined) {
      // The transport decompresses what it reads itself, from its next read on.
      this.compressor = beneath;
      if (!this.solicited) sendInfo(infoMode);
      return true;
    }
    const compressor = new S2WritingSocket(this.socket, mode);
    this.compressor = compressor;
    this.outbound.attach(compressor);
    if (!this.solicited) sendInfo(infoMode);
    this.switchReads = true;
    // Input after this INFO is kept for the decompressor.
    this.parser.held = true;
    return true;
  }

  /**
   * A transport that carries S2 itself, beneath its own framing (a leaf node over WebSocket),
   * switches to `level` here and returns the level's setter; undefined: S2 goes between the
   * outbound buffer and the socket.
   */
  protected compressBeneath(_level: string): { setLevel(level: string): void } | undefined {
    return undefined;
  }

  /** Negotiation is over either way: PINGs may go out. */
  protected compressionDone(): void {
    this.compressionNegotiated = true;
    this.pingsHeld = false;
  }

  // ---- handshake (the shared steps; handshake.ts has the rest) ----

  /**
   * The accepting side of TLS: `wrap` the socket now (after a plain-text INFO), or it is a
   * TLS one already (TLS first). A peer that does not complete the handshake in time, or whose
   * certificate is refused (verify, pinned_certs), is dropped; `what` starts the log line.
   */
  startServerTls(t: ServerTls, wrap: boolean, what = "TLS handshake error"): void {
    let ts: tls.TLSSocket;
    if (wrap) {
      this.flush();
      ts = t.wrapClient(this.socket);
      this.upgradeSocket(ts);
    } else ts = this.socket as tls.TLSSocket;
    t.watchPeerHandshake(this, ts, this.server.log, what, () => {
      this.tlsDone = true;
    });
  }

  /** An accepted connection must log in within `ms`, else it is told and closed. */
  protected startAuthTimer(ms: number): void {
    this.authTimer = setTimeout(() => {
      this.sendErr(ProtoErr.AuthTimeout);
      this.close("Authentication Timeout");
    }, ms);
    this.authTimer.unref();
  }

  /** The CONNECT logged in: no more auth timeout. */
  protected stopAuthTimer(): void {
    if (this.authTimer !== undefined) clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }

  /** The peer's INFO: traced and parsed. */
  protected readInfo<T extends object>(json: string): T {
    if (this.trace) this.traceIn("INFO", json);
    return parseHandshakeJson<T>(json, `${this.kindName().toLowerCase()} INFO`);
  }

  /** The peer's CONNECT: traced without its password, parsed; only once, and only on an accepted connection. */
  protected readConnect<T extends object>(json: string): T {
    if (this.trace) this.traceIn("CONNECT", redactPassword(json));
    if (this.solicited || this.connectReceived) throw new ProtocolError("", `unexpected CONNECT on a ${this.kindName().toLowerCase()} connection`);
    return parseHandshakeJson<T>(json, `${this.kindName().toLowerCase()} CONNECT`);
  }

  /**
   * An INFO on an accepted connection before its CONNECT: refused (the peer must log in first).
   * Returns whether it was refused.
   */
  protected refusedBeforeConnect(): boolean {
    if (this.solicited || this.connectReceived) return false;
    this.sendErr(ProtoErr.AuthViolation);
    this.close("Authentication Failure");
    return true;
  }

  sendInfo(json: string): void {
    if (this.trace) this.traceOut("INFO", json);
    this.queueString(`INFO ${json}\r\n`);
  }

  protected sendConnectOp(connect: object): void {
    const json = JSON.stringify(connect);
    if (this.trace) this.traceOut("CONNECT", redactPassword(json));
    this.queueString(`CONNECT ${json}\r\n`);
  }

  /**
   * Go on with the handshake once a check of the CONNECT is known: at once, or (a bcrypt
   * password, an auth callout) with input held until it is, then parsed in order.
   */
  protected whenChecked<T>(outcome: T | Promise<T>, then: (value: T) => void): void {
    if (!(outcome instanceof Promise)) {
      then(outcome);
      return;
    }
    this.parser.held = true;
    outcome.then(
      (value) => {
        if (this.closed) return;
        this.parser.held = false;
        try {
          then(value);
          if (!this.closed) this.resumeInput();
        } catch (err) {
          this.failOnInput(err);
        }
      },
      (err: unknown) => {
        if (this.closed) return;
        this.error(`authentication error: ${(err as Error)?.message ?? String(err)}`);
        this.sendErr(ProtoErr.AuthViolation);
        this.close("Authentication Failure");
      },
    );
  }

  /** The CONNECT's credentials were refused. */
  protected refuseLogin(logText: string): void {
    this.error(logText);
    this.sendErr(ProtoErr.AuthViolation);
    this.close("Authentication Failure");
  }

  /** Refuse the connection with an error the other side is sent too. */
  protected reject(text: string, reason: RemoteCloseReason): void {
    this.error(text);
    this.sendErr(text);
    this.close(reason);
  }

  abstract onInfo(json: string): void;
  abstract onConnect(json: string): void;
  abstract onSub(op: SubOp, args: readonly string[], line: string): void;
  abstract onUnsub(op: UnsubOp, args: readonly string[], line: string): void;
  abstract onMsgArgs(op: MsgOp, args: readonly string[]): number;
  abstract onMsg(buf: Buffer, start: number, end: number): void;

  // ---- message tracing (ADR-41) ----

  /** How trace events number this kind of connection. */
  get traceKind(): number {
    return this.kind === "route" ? TraceKind.route : this.kind === "leaf" ? TraceKind.leaf : TraceKind.gateway;
  }

  /** How trace events name the other side: its server name. */
  get traceName(): string {
    return "";
  }

  /** The account a leaf node connection is bound to; routes and gateways carry every account. */
  get traceAccount(): string | undefined {
    return undefined;
  }

  /** The other server traces what it receives (it speaks nats-server's MsgTraceProto). */
  get tracesMessages(): boolean {
    return this.peerProto >= MSG_TRACE_PROTO;
  }

  /**
   * Route a message from the other server whose headers ask for a trace: this server's part
   * of the trace is an event of its own (ingress from this connection), sent to the
   * destination in the message's account, which routes it back to whoever listens.
   */
  protected routeTraced(account: Account, subject: string, reply: string, hdr: Buffer, payload: Buffer, size: number, queues: readonly string[] | undefined): void {
    const server = this.server;
    const t = MsgTrace.start(
      {
        kind: this.traceKind,
        cid: this.cid,
        name: this.traceName,
        account,
        subject,
        size,
        mayPublish: () => true,
        refused: (dest) => this.error(`Publish Violation - Subject ${JSON.stringify(dest)}`),
        logError: (text) => this.error(text),
        serverInfo: () => (server.systemAccount !== undefined ? server.eventServerInfo() : undefined),
      },
      hdr,
    );
    if (t.skip) return;
    if (t.disable) hdr = MsgTrace.disable(hdr);
    const result = account.sublist.match(subject);
    const prev = setActiveTrace(t.trace);
    try {
      this.deliverInbound(account, result, subject, reply, hdr, payload, size, queues);
    } finally {
      setActiveTrace(prev);
    }
    t.trace?.send();
  }

  /** A message from the other server counted as received by its account (accstatz), by kind. */
  protected countReceived(account: Account, size: number): void {
    account.countReceivedRemote(this.kind, size);
  }

  /** Hand a message from the other server to the subscriptions it matched here. */
  protected deliverInbound(
    account: Account,
    result: SublistResult,
    subject: string,
    reply: string,
    hdr: Buffer | undefined,
    payload: Buffer,
    size: number,
    queues: readonly string[] | undefined,
  ): void {
    if (result.psubs.length === 0 && result.qsubs.length === 0) return;
    // A JetStream delivery from another server's consumer carries its subject after the ack reply.
    const js = reply.length > 8 ? splitDeliveredReply(reply) : undefined;
    if (js !== undefined) account.routeRemoteDelivery(result, subject, js.subject, js.reply, hdr, payload, this, queues);
    else account.routeTo(result, subject, reply, hdr, payload, undefined, this, queues);
  }
  abstract sendRouted(
    account: string,
    subject: string,
    reply: string,
    hdr: Buffer | undefined,
    payload: Buffer,
    queues: readonly string[],
    origin: string,
  ): void | false;
  abstract mayForwardTo(to: RemoteDeliverer, subject: string): boolean;

  /** Messages from other servers never reach a subscription of this kind directly. */
  deliver(): void {}

  onPing(): void {
    if (this.trace) this.traceIn("PING", "");
    this.queue(PONG);
    if (this.trace) this.traceOut("PONG", "");
  }

  onPong(): void {
    if (this.trace) this.traceIn("PONG", "");
    this.pingsOut = 0;
    if (this.pingSentAt > 0) {
      this.rttMs = Math.max(0.001, performance.now() - this.pingSentAt);
      this.pingSentAt = 0;
      this.rttMeasuredAt = Date.now();
      // s2_auto follows the RTT: a new level applies from the next flush.
      if (this.compressor !== undefined) {
        const setting = this.compressionSetting();
        if (setting.mode === COMPRESSION_S2_AUTO) {
          const level = levelForRtt(this.rttMs, setting.rttThresholdsMs);
          if (level !== this.compression) {
            this.debug(`Compression level changed from ${this.compression} to ${level} (RTT ${this.rttMs.toFixed(3)}ms)`);
            this.compression = level;
            this.compressor.setLevel(level);
          }
        }
      }
    }
  }

  onErr(text: string): void {
    if (this.trace) this.traceIn("-ERR", text);
    this.error(`${this.kindName()} Error ${text}`);
    this.close("Parse Error");
  }

  // ---- outbound ----

  queue(bytes: Buffer): void {
    if (this.closed) return;
    this.outbound.append(bytes);
    this.flushSoon();
  }

  protected queueString(s: string): void {
    this.queue(Buffer.from(s));
  }

  sendErr(text: string): void {
    if (this.trace) this.traceOut("-ERR", `'${text}'`);
    this.queueString(`-ERR '${text}'\r\n`);
  }

  sendPing(): void {
    this.pingsOut++;
    this.pingSentAt = performance.now();
    if (this.trace) this.traceOut("PING", "");
    this.queue(PING);
  }

  flushSoon(): void {
    if (!this.dirty) {
      this.dirty = true;
      this.server.markDirty(this);
    }
  }

  flush(): void {
    this.dirty = false;
    if (this.closed) return;
    if (this.outbound.flush() > this.server.options.maxPending) {
      this.error(`Slow Consumer Detected: MaxPending of ${this.server.options.maxPending} Exceeded`);
      this.outbound.clear();
      this.close("Slow Consumer (Pending Bytes)", true);
    }
  }

  /**
   * Checked by the owner's housekeeping: a socket full for longer than write_deadline is cut
   * when the peer took nothing meanwhile, or under write_timeout "close"; otherwise noted.
   */
  checkWriteDeadline(now: number): void {
    const ob = this.outbound;
    const deadline = this.writeDeadlineMs;
    // The peer took nothing for the whole deadline: cut, whatever the policy.
    const stuck = ob.stuck(now, deadline);
    if (!stuck) {
      if (ob.fullFor(now) <= deadline) return;
      if (this.writeTimeoutPolicy === "retry") {
        // Slow but reading: noted, and the deadline starts over.
        this.countSlowConsumer();
        this.info(`Slow Consumer State: WriteDeadline of ${deadline}ms exceeded`);
        ob.restartDeadline(now);
        return;
      }
    }
    this.error(`Slow Consumer Detected: WriteDeadline of ${this.writeDeadlineMs}ms Exceeded`);
    this.countSlowConsumer();
    this.outbound.clear();
    this.close("Slow Consumer (Write Deadline)", true);
  }

  private countSlowConsumer(): void {
    this.slowConsumerEvents++;
    const stats = this.server.remoteSlowConsumers;
    if (this.kind === "route") stats.routes++;
    else if (this.kind === "gateway") stats.gateways++;
    else stats.leafs++;
  }

  /**
   * Encode one message: `<op> <prefix><subject> [reply | + reply <queues> | | <queues>] [hdr] size`
   * then the payload. `prefix` carries what precedes the subject (the account on a shared route,
   * an origin cluster). The control line is kept and reused while it repeats.
   */
  protected writeMsg(
    op: string,
    prefix: string,
    subject: string,
    reply: string,
    queues: readonly string[],
    hdr: Buffer | undefined,
    payload: Buffer,
  ): void {
    if (this.closed) return;
    const hlen = hdr === undefined ? -1 : hdr.length;
    const total = payload.length + (hlen > 0 ? hlen : 0);
    const q = queues.length === 0 ? "" : queues.length === 1 ? queues[0] : queues.join(" ");
    if (
      this.lastText === "" ||
      this.lastTotal !== total ||
      this.lastSubject !== subject ||
      this.lastReply !== reply ||
      this.lastHdr !== hlen ||
      this.lastQueues !== q ||
      this.lastPrefix !== prefix ||
      this.lastOp !== op
    ) {
      let text = `${op} ${prefix}${subject} `;
      if (q !== "") text += reply !== "" ? `+ ${reply} ${q} ` : `| ${q} `;
      else if (reply !== "") text += `${reply} `;
      text += hlen >= 0 ? `${hlen} ${total}\r\n` : `${total}\r\n`;
      this.lastText = text;
      this.lastLine = undefined;
      this.lastOp = op;
      this.lastPrefix = prefix;
      this.lastSubject = subject;
      this.lastReply = reply;
      this.lastQueues = q;
      this.lastHdr = hlen;
      this.lastTotal = total;
    } else this.lastLine ??= Buffer.from(this.lastText);
    const text = this.lastText;
    if (this.trace) this.traceOut(op, text.slice(op.length + 1, text.length - 2));
    const ob = this.outbound;
    const line = this.lastLine;
    let out: Buffer;
    let p: number;
    if (line !== undefined) {
      out = ob.reserve(line.length + total + 2);
      p = copyInto(line, out, ob.pos);
    } else {
      // (At most three bytes of UTF-8 per UTF-16 unit.)
      out = ob.reserve(text.length * 3 + total + 2);
      p = ob.pos + out.write(text, ob.pos);
    }
    if (hlen > 0) p = copyInto(hdr as Buffer, out, p);
    p = copyInto(payload, out, p);
    out[p++] = 13;
    out[p++] = 10;
    ob.pos = p;
    this.outMsgs++;
    this.outBytes += total;
    this.server.outMsgs++;
    this.server.outBytes += total;
    this.server.outRemoteMsgs++;
    this.server.outRemoteBytes += total;
    this.flushSoon();
  }

  // ---- liveness ----

  private countStale(): void {
    const stale = this.server.staleConnections;
    if (this.kind === "route") stale.routes++;
    else if (this.kind === "leaf") stale.leafs++;
    else stale.gateways++;
  }

  /**
   * nats-server PINGs routes, gateways and a leaf node's link to its hub at every tick; a hub
   * puts its PING to a leaf node off while it hears from it (once its RTT is known).
   */
  protected alwaysPing(): boolean {
    return true;
  }

  /** PING every `intervalMs`; close as stale after `maxOut` unanswered. */
  protected startPings(intervalMs: number, maxOut: number): void {
    if (intervalMs <= 0 || this.pingTimer !== undefined) return;
    const tick = (): void => {
      if (this.closed) return;
      const debug = this.server.log.debugEnabled;
      if (debug) this.debug(`${this.parser.kind} Ping Timer`);
      const now = Date.now();
      const quietMs = now - this.lastActivity;
      const needRtt = this.rttMeasuredAt === 0 || now - this.rttMeasuredAt > RTT_MEASUREMENT_INTERVAL_MS;
      if (this.pingsHeld) {
        // Compression is being negotiated: no PING, but a peer that never finishes is stale.
        if (Date.now() - this.start.getTime() > intervalMs * maxOut) {
          this.debug(`Stale ${this.kindName()} Connection - Closing`);
          this.countStale();
          this.close("Stale Connection");
          return;
        }
      } else if (!this.alwaysPing() && quietMs < intervalMs && !needRtt) {
        if (debug) this.debug(`Delaying PING due to remote client data or ping ${goDuration(Math.round(quietMs / 1000) * 1e9)} ago`);
      } else {
        if (this.pingsOut + 1 > maxOut) {
          // nats-server's words for every kind of connection.
          this.debug("Stale Client Connection - Closing");
          this.countStale();
          this.sendErr("Stale Connection");
          this.close("Stale Connection");
          return;
        }
        this.sendPing();
      }
      this.pingTimer = setTimeout(tick, intervalMs);
      this.pingTimer.unref();
    };
    this.pingTimer = setTimeout(tick, intervalMs);
    this.pingTimer.unref();
  }

  // ---- interest and teardown ----

  /** Add the other side's subscription (or update a queue group's weight). */
  protected addRemoteSub(account: Account, key: string, subject: string, queue: string | undefined, weight: number, noImports = false): Subscription {
    const old = this.subs.get(key);
    if (old !== undefined) {
      if (queue !== undefined && old.weight !== weight) {
        // The sublist caches match results: re-insert so the new weight is seen.
        account.removeSubscription(old);
        old.weight = weight;
        account.addSubscription(old);
      }
      return old;
    }
    const sub: Subscription = { subject, queue, sid: key, client: this, max: 0, delivered: 0, closed: false };
    if (queue !== undefined) sub.weight = weight;
    if (noImports) sub.noImports = true;
    this.subs.set(key, sub);
    account.addSubscription(sub);
    return sub;
  }

  protected removeRemoteSub(account: Account, key: string): Subscription | undefined {
    const sub = this.subs.get(key);
    if (sub === undefined) return undefined;
    this.subs.delete(key);
    sub.closed = true;
    account.removeSubscription(sub);
    return sub;
  }

  /** The account a subscription of this connection belongs to. */
  protected abstract accountOfSub(sub: Subscription): Account | undefined;

  close(reason: RemoteCloseReason, abort = false): void {
    if (this.closed) return;
    if (this.outbound.size > 0) this.outbound.flushAll();
    this.dirty = false;
    this.closed = true;
    this.closeReason = reason;
    this.stop = new Date();
    this.resumeReading();
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.stopAuthTimer();
    for (const sub of this.subs.values()) {
      sub.closed = true;
      this.accountOfSub(sub)?.removeSubscription(sub);
    }
    this.subs.clear();
    this.parser.reset();
    this.decompressor = undefined;
    this.outbound.release();
    this.lastLine = undefined;
    this.lastText = "";
    if (abort) this.socket.destroy();
    else {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    this.onClosed();
  }
}
