// One client connection: protocol handling, subscriptions, outbound buffering, liveness.
//
// Outbound messages are encoded straight into a per-connection buffer and written to the
// socket once per event-loop turn (the server flushes every dirty client in a microtask),
// so a burst of deliveries costs one syscall. A publisher that outruns a subscriber is
// paused for a short while (a stall) instead of letting the subscriber's buffer grow; a
// subscriber whose pending bytes pass max_pending, or whose writes are stuck longer than
// write_deadline, is a slow consumer and is disconnected alone.
import type { Socket } from "node:net";
import { Parser, type ParserHandler } from "../protocol/parser.js";
import { ProtoErr, ProtocolError } from "../protocol/errors.js";
import type { Deliverer, Subscription } from "./sublist.js";
import { isValidLiteralSubject, isValidSubject } from "./subject.js";
import type { Account } from "./account.js";
import type { Server } from "./server.js";

export interface ConnectOptions {
  verbose: boolean;
  pedantic: boolean;
  echo: boolean;
  headers: boolean;
  noResponders: boolean;
  protocol: number;
  name: string;
  lang: string;
  version: string;
  user?: string;
  pass?: string;
  authToken?: string;
  nkey?: string;
  jwt?: string;
  sig?: string;
  tlsRequired: boolean;
}

export type CloseReason =
  | "Client Closed"
  | "Server Shutdown"
  | "Stale Connection"
  | "Slow Consumer (Pending Bytes)"
  | "Slow Consumer (Write Deadline)"
  | "Authentication Failure"
  | "Authentication Timeout"
  | "Protocol Violation"
  | "Parse Error"
  | "Maximum Payload Exceeded"
  | "Maximum Connections Exceeded"
  | "Lame Duck Mode"
  | "Read Error"
  | "Write Error"
  | "Kicked";

const CRLF = Buffer.from("\r\n");
const PING = Buffer.from("PING\r\n");
const PONG = Buffer.from("PONG\r\n");
const OK = Buffer.from("+OK\r\n");
const OUT_INITIAL = 16 * 1024;
const SMALL_FLUSH = 4 * 1024;
/** How long a fast publisher is paused while a subscriber drains. */
const STALL_MS = 20;

export class Client implements Deliverer, ParserHandler {
  readonly kind = "client" as const;
  readonly start = new Date();
  readonly host: string;
  readonly port: number;
  account: Account;
  opts: ConnectOptions = {
    verbose: true,
    pedantic: true,
    echo: true,
    headers: false,
    noResponders: false,
    protocol: 0,
    name: "",
    lang: "",
    version: "",
    tlsRequired: false,
  };
  connectReceived = false;
  authorizedUser: string | undefined;
  readonly subs = new Map<string, Subscription>();

  inMsgs = 0;
  inBytes = 0;
  outMsgs = 0;
  outBytes = 0;
  lastActivity = Date.now();
  rttMs = 0;
  closed = false;
  closeReason: CloseReason | undefined;
  stop: Date | undefined;

  private readonly parser: Parser;
  private out: Buffer | undefined;
  private outPos = 0;
  private outQueue: Buffer[] = [];
  private outQueued = 0;
  dirty = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private pingsOut = 0;
  private pingSentAt = 0;
  private lastInAtPing = 0;
  private writeStalledSince = 0;
  private stalledPublishers: Client[] | undefined;
  private paused = false;
  private readonly trace: boolean;

  constructor(
    readonly server: Server,
    readonly cid: number,
    private readonly socket: Socket,
    account: Account,
  ) {
    this.account = account;
    this.host = socket.remoteAddress ?? "";
    this.port = socket.remotePort ?? 0;
    const o = server.options;
    this.trace = server.log.traceEnabled;
    this.parser = new Parser(this, { maxControlLine: o.maxControlLine, maxPayload: o.maxPayload });
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.onDrain());
    socket.on("error", (err) => {
      this.server.log.debug(`${this.logPrefix()} - Client connection error: ${err.message}`);
      this.close("Read Error");
    });
    socket.on("close", () => this.close("Client Closed"));
    if (server.auth.required) {
      this.authTimer = setTimeout(() => {
        this.sendErr(ProtoErr.AuthTimeout);
        this.close("Authentication Timeout");
      }, o.authTimeoutMs);
    }
    this.schedulePing();
  }

  get pendingBytes(): number {
    return this.socket.writableLength + this.outQueued + this.outPos;
  }

  logPrefix(): string {
    const name = this.opts.name ? ` - "${this.opts.lang ? `v${this.opts.version}:${this.opts.lang}` : ""}:${this.opts.name}"` : "";
    return `${this.host}:${this.port} - cid:${this.cid}${name}`;
  }

  // ---- inbound ----

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    try {
      this.parser.parse(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.server.log.error(`${this.logPrefix()} - ${err.message}`);
        if (err.text) this.sendErr(err.text);
        this.close(err.text === ProtoErr.MaxPayload ? "Maximum Payload Exceeded" : "Protocol Violation");
      } else {
        // A bug of ours must not take the server down; this client pays for it alone.
        this.server.log.error(`${this.logPrefix()} - internal error: ${(err as Error).stack ?? String(err)}`);
        this.close("Protocol Violation");
      }
    }
  }

  beforeOp(op: string): void {
    if (!this.connectReceived && op !== "CONNECT" && this.server.auth.required) {
      throw new ProtocolError(ProtoErr.AuthViolation, "Authorization Violation: op before CONNECT");
    }
  }

  onConnect(json: string): void {
    if (this.trace) this.traceIn("CONNECT", json);
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(json) as Record<string, unknown>;
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new Error("not an object");
    } catch (err) {
      throw new ProtocolError("", `CONNECT: ${(err as Error).message}`);
    }
    const bool = (k: string, dflt: boolean): boolean => (typeof raw[k] === "boolean" ? (raw[k] as boolean) : dflt);
    const str = (k: string): string | undefined => (typeof raw[k] === "string" ? (raw[k] as string) : undefined);
    const headers = bool("headers", false) && !this.server.options.noHeaderSupport;
    this.opts = {
      verbose: bool("verbose", true),
      pedantic: bool("pedantic", true),
      echo: bool("echo", true),
      headers,
      noResponders: headers && bool("no_responders", false),
      protocol: typeof raw.protocol === "number" ? raw.protocol : 0,
      name: str("name") ?? "",
      lang: str("lang") ?? "",
      version: str("version") ?? "",
      user: str("user"),
      pass: str("pass"),
      authToken: str("auth_token"),
      nkey: str("nkey"),
      jwt: str("jwt"),
      sig: str("sig"),
      tlsRequired: bool("tls_required", false),
    };
    if (this.opts.protocol < 0 || this.opts.protocol > 1) {
      throw new ProtocolError(ProtoErr.InvalidClientProtocol, "invalid client protocol");
    }
    if (!this.connectReceived) {
      const result = this.server.auth.authenticate(this);
      if (result === undefined) {
        this.server.onAuthError(this);
        throw new ProtocolError(ProtoErr.AuthViolation, "authentication error");
      }
      if (this.authTimer !== undefined) clearTimeout(this.authTimer);
      this.authTimer = undefined;
      this.authorizedUser = result.user;
      if (result.account !== this.account) this.server.moveClient(this, result.account);
      this.connectReceived = true;
      this.server.onClientConnected(this);
    }
    if (this.opts.verbose) this.sendOk();
  }

  onInfo(): void {
    // Clients have no reason to send INFO; nats-server ignores it from clients.
  }

  onClientErr(text: string): void {
    this.server.log.debug(`${this.logPrefix()} - client sent -ERR ${text}`);
  }

  onPing(): void {
    if (this.trace) this.traceIn("PING", "");
    this.queue(PONG);
    if (this.trace) this.traceOut("PONG", "");
    this.flushSoon();
  }

  onPong(): void {
    if (this.trace) this.traceIn("PONG", "");
    this.pingsOut = 0;
    if (this.pingSentAt > 0) {
      this.rttMs = Date.now() - this.pingSentAt;
      this.pingSentAt = 0;
    }
  }

  onSub(subject: string, queue: string | undefined, sid: string): void {
    if (this.trace) this.traceIn("SUB", `${subject} ${queue ?? ""} ${sid}`);
    if (!isValidSubject(subject) || (queue !== undefined && !isValidQueue(queue))) {
      this.sendErr(ProtoErr.InvalidSubject);
      return;
    }
    if (this.subs.has(sid)) {
      if (this.opts.verbose) this.sendOk();
      return;
    }
    const max = this.server.options.maxSubscriptions;
    if (max > 0 && this.subs.size >= max) {
      this.server.log.error(`${this.logPrefix()} - maximum subscriptions exceeded`);
      this.sendErr(ProtoErr.MaxSubscriptions);
      return;
    }
    const sub: Subscription = { subject, queue, sid, client: this, max: 0, delivered: 0, closed: false };
    this.subs.set(sid, sub);
    this.account.addSubscription(sub);
    if (this.opts.verbose) this.sendOk();
  }

  onUnsub(sid: string, max: number): void {
    if (this.trace) this.traceIn("UNSUB", `${sid} ${max > 0 ? max : ""}`);
    const sub = this.subs.get(sid);
    if (sub !== undefined) {
      if (max > 0 && sub.delivered < max) sub.max = max;
      else this.removeSub(sub);
    }
    if (this.opts.verbose) this.sendOk();
  }

  onPub(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (this.trace) {
      const size = payload.length + (hdr?.length ?? 0);
      if (hdr !== undefined) this.traceIn("HPUB", `${subject} ${reply ? reply + " " : ""}${hdr.length} ${size}`);
      else this.traceIn("PUB", `${subject} ${reply ? reply + " " : ""}${size}`);
      this.server.log.trace(`${this.logPrefix()} - <<- MSG_PAYLOAD: [${JSON.stringify(payload.toString("latin1", 0, 256))}]`);
    }
    if (hdr !== undefined && !this.opts.headers) throw new ProtocolError("", "message headers not supported");
    this.inMsgs++;
    const size = payload.length + (hdr?.length ?? 0);
    this.inBytes += size;
    if (this.opts.pedantic && !isValidLiteralSubject(subject)) {
      this.sendErr(ProtoErr.InvalidPublishSubject);
      return;
    }
    const delivered = this.account.route(subject, reply, hdr, payload, this);
    if (delivered === 0 && reply !== "" && this.opts.noResponders) this.account.sendNoResponders(this, subject, reply);
    if (this.opts.verbose) this.sendOk();
  }

  // ---- outbound ----

  /** Encode one MSG/HMSG for this connection. */
  deliver(sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (this.closed) return;
    const useHdr = hdr !== undefined && this.opts.headers;
    const hlen = useHdr ? hdr.length : 0;
    const total = hlen + payload.length;
    // Upper bound of the control line's size, to reserve room without measuring UTF-8.
    const lineMax = 32 + 3 * (subject.length + sub.sid.length + reply.length);
    this.reserve(lineMax + total + 2);
    const out = this.out as Buffer;
    let p = this.outPos;
    if (useHdr) {
      p += out.write("HMSG ", p, "latin1");
    } else {
      p += out.write("MSG ", p, "latin1");
    }
    p += out.write(subject, p, "utf8");
    out[p++] = 32;
    p += out.write(sub.sid, p, "utf8");
    out[p++] = 32;
    if (reply !== "") {
      p += out.write(reply, p, "utf8");
      out[p++] = 32;
    }
    if (useHdr) {
      p += out.write(`${hlen} ${total}\r\n`, p, "latin1");
      p += hdr.copy(out, p);
    } else {
      p += out.write(`${total}\r\n`, p, "latin1");
    }
    p += payload.copy(out, p);
    out[p++] = 13;
    out[p++] = 10;
    if (this.trace) this.traceOut(useHdr ? "HMSG" : "MSG", `${subject} ${sub.sid} ${reply ? reply + " " : ""}${useHdr ? hlen + " " : ""}${total}`);
    this.outPos = p;
    this.outMsgs++;
    this.outBytes += total;
    this.account.outMsgs++;
    this.account.outBytes += total;
    this.flushSoon();
    const pending = this.pendingBytes;
    if (pending > this.server.options.maxPending) {
      this.slowConsumer("Slow Consumer (Pending Bytes)", `MaxPending of ${this.server.options.maxPending} Exceeded`);
    }
  }

  /** Pause `publisher` briefly if this connection is falling behind. */
  stallPublisherIfBehind(publisher: Client): void {
    if (publisher === this || this.closed) return;
    if (this.socket.writableLength < (this.server.options.maxPending >> 2)) return;
    publisher.pauseReading();
    (this.stalledPublishers ??= []).push(publisher);
  }

  private pauseReading(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.socket.pause();
    setTimeout(() => this.resumeReading(), STALL_MS).unref();
  }

  private resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed) this.socket.resume();
  }

  private onDrain(): void {
    this.writeStalledSince = 0;
    const stalled = this.stalledPublishers;
    if (stalled !== undefined) {
      this.stalledPublishers = undefined;
      for (const c of stalled) c.resumeReading();
    }
  }

  private reserve(n: number): void {
    const out = this.out;
    if (out === undefined) {
      this.out = Buffer.allocUnsafe(Math.max(OUT_INITIAL, n));
      this.outPos = 0;
      return;
    }
    if (out.length - this.outPos >= n) return;
    // Keep what is encoded and continue in a new buffer.
    if (this.outPos > 0) {
      this.outQueue.push(out.subarray(0, this.outPos));
      this.outQueued += this.outPos;
    }
    this.out = Buffer.allocUnsafe(Math.max(OUT_INITIAL * 4, n));
    this.outPos = 0;
  }

  /** Queue raw protocol bytes (PING, PONG, +OK, -ERR, INFO). */
  queue(buf: Buffer): void {
    if (this.closed) return;
    this.reserve(buf.length);
    this.outPos += buf.copy(this.out as Buffer, this.outPos);
  }

  flushSoon(): void {
    if (!this.dirty) {
      this.dirty = true;
      this.server.markDirty(this);
    }
  }

  /** Hand everything encoded so far to the socket. Called once per event-loop turn. */
  flush(): void {
    this.dirty = false;
    if (this.closed) return;
    let data: Buffer | undefined;
    const pos = this.outPos;
    if (this.outQueue.length > 0) {
      if (pos > 0) this.outQueue.push((this.out as Buffer).subarray(0, pos));
      data = this.outQueue.length === 1 ? this.outQueue[0] : Buffer.concat(this.outQueue, this.outQueued + pos);
      this.outQueue = [];
      this.outQueued = 0;
      this.out = undefined;
    } else if (pos > 0) {
      const out = this.out as Buffer;
      if (pos <= SMALL_FLUSH) {
        // Small writes copy into Node's pooled memory and keep the buffer for reuse.
        data = Buffer.from(out.subarray(0, pos));
      } else {
        data = out.subarray(0, pos);
        this.out = undefined;
      }
    }
    this.outPos = 0;
    if (data === undefined) return;
    const ok = this.socket.write(data);
    if (!ok && this.writeStalledSince === 0) this.writeStalledSince = Date.now();
  }

  /** Checked by the server's housekeeping tick. */
  checkWriteDeadline(now: number): void {
    if (this.writeStalledSince > 0 && now - this.writeStalledSince > this.server.options.writeDeadlineMs) {
      this.slowConsumer("Slow Consumer (Write Deadline)", `Write Deadline of ${this.server.options.writeDeadlineMs}ms Exceeded`);
    }
  }

  private slowConsumer(reason: CloseReason, detail: string): void {
    if (this.closed) return;
    this.server.log.info(`${this.logPrefix()} - Slow Consumer Detected: ${detail}`);
    this.server.onSlowConsumer(this);
    // Drop what is queued: the peer is not reading, so it would never get there.
    this.outQueue = [];
    this.outQueued = 0;
    this.outPos = 0;
    this.close(reason, true);
  }

  sendOk(): void {
    this.queue(OK);
    this.flushSoon();
  }

  sendErr(text: string): void {
    if (this.trace) this.traceOut("-ERR", `'${text}'`);
    this.queue(Buffer.from(`-ERR '${text}'\r\n`));
    this.flushSoon();
  }

  sendInfo(info: object): void {
    this.queue(Buffer.from(`INFO ${JSON.stringify(info)} \r\n`));
    this.flushSoon();
  }

  private schedulePing(): void {
    const interval = this.server.options.pingIntervalMs;
    if (interval <= 0) return;
    this.pingTimer = setTimeout(() => this.onPingTimer(), interval);
    this.pingTimer.unref();
  }

  private onPingTimer(): void {
    if (this.closed) return;
    // Traffic from the client since the last check proves it is alive.
    if (this.lastActivity > this.lastInAtPing && this.pingsOut === 0) {
      this.lastInAtPing = this.lastActivity;
    } else if (this.pingsOut + 1 > this.server.options.maxPingsOut) {
      this.server.log.debug(`${this.logPrefix()} - Stale Client Connection - Closing`);
      this.sendErr(ProtoErr.StaleConnection);
      this.close("Stale Connection");
      return;
    }
    this.pingsOut++;
    this.pingSentAt = Date.now();
    if (this.trace) this.traceOut("PING", "");
    this.queue(PING);
    this.flushSoon();
    this.schedulePing();
  }

  // ---- subscriptions and teardown ----

  removeSub(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    this.subs.delete(sub.sid);
    this.account.removeSubscription(sub);
  }

  close(reason: CloseReason, abort = false): void {
    if (this.closed) return;
    if (this.dirty || this.outPos > 0) this.flush();
    this.closed = true;
    this.closeReason = reason;
    this.stop = new Date();
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    if (this.authTimer !== undefined) clearTimeout(this.authTimer);
    for (const sub of this.subs.values()) {
      sub.closed = true;
      this.account.removeSubscription(sub);
    }
    this.onDrain();
    if (abort) this.socket.destroy();
    else {
      this.socket.end();
      // A peer that never reads must not keep the socket forever.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    this.server.onClientClosed(this);
  }

  private traceIn(op: string, arg: string): void {
    this.server.log.trace(`${this.logPrefix()} - <<- [${op}${arg ? " " + arg : ""}]`);
  }

  private traceOut(op: string, arg: string): void {
    this.server.log.trace(`${this.logPrefix()} - ->> [${op}${arg ? " " + arg : ""}]`);
  }
}

function isValidQueue(q: string): boolean {
  for (let i = 0; i < q.length; i++) {
    const c = q.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 10) return false;
  }
  return q.length > 0;
}

export { CRLF };
