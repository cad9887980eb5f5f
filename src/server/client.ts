// One client connection: protocol handling, subscriptions, outbound buffering, liveness.
//
// Outbound messages are encoded straight into a per-connection buffer and written to the
// socket once per event-loop turn (the server flushes every dirty client in a microtask),
// so a burst of deliveries costs one syscall. A publisher that outruns a subscriber is
// held back (a stall, see outbound.ts) instead of letting the subscriber's buffer grow; a
// subscriber whose pending bytes pass max_pending, or whose writes make no progress for
// write_deadline, is a slow consumer and is disconnected alone.
import net from "node:net";
import { goQuote } from "./go_quote.js";
import { goDuration } from "./time.js";
import { goJsonKind, goJsonSyntaxError } from "../jetstream/go_json.js";
import { clientOptsTypeError } from "./client_opts_json.js";
import { Parser, type ParserHandler } from "../protocol/parser.js";
import { MsgTrace, TraceKind, activeTrace, setActiveTrace, type TraceIngress } from "./msg_trace.js";
import { ProtoErr, ProtocolError } from "../protocol/errors.js";
import type { Deliverer, Subscription, SublistResult } from "./sublist.js";
import { isValidLiteralSubject, isValidSubject } from "../protocol/subject.js";
import type { Account } from "./account.js";
import type { Server } from "./server.js";
import type { ServerOptions } from "../config/options.js";
import { Permissions } from "../auth/permissions.js";
import { Outbound, copyBytes, copyInto, copyRange, stallMarkFor, type Stallable } from "./outbound.js";
import { stallLimitMs, type StalledPublisher } from "./stall_queue.js";
import { AuthFailure, type AuthResult, type JwtUser, type UserLimits } from "../auth/authenticator.js";
import type { ConnectionType } from "../auth/user_limits.js";
import { routeRoutedReply, routedReplyFor, type GatewayReplyHolder } from "../cluster/gateway_reply.js";
import { peerAddress } from "./bind_address.js";
import { readIntoSharedBuffer } from "./shared_reads.js";
import { TcpConnection } from "./tcp_connection.js";
import { DOUBLE_ZERO } from "./double_zero.js";

/**
 * What a Client needs of its connection: a TCP or TLS socket as is, or an adapter such as
 * the WebSocket transport (websocket_transport.ts). `write` gets one buffer per event-loop
 * turn (everything the connection produced in that turn) and returns false when the peer
 * is not keeping up ('drain' follows).
 */
export interface ClientTransport {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly writableLength: number;
  setNoDelay(noDelay: boolean): unknown;
  write(data: Buffer): boolean;
  cork?(): void;
  uncork?(): void;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
  destroy(): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "drain" | "close" | "end", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/** A reply subject that writes its own bytes (see jetstream/ack_reply.ts). */
export interface ReplyWriter {
  /** Its length in bytes. */
  readonly length: number;
  /** Write it at p; returns the position after it. */
  writeTo(out: Buffer, p: number): number;
  toString(): string;
}

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

/**
 * nats-server's closed state (/connz reason, WebSocket close status) for the errors a client's
 * input can end in, by the -ERR text; `logAfter`: logged after the close, as its read loop does;
 * `readError`: what its WebSocket read loop adds after the close.
 */
const CLOSED_BY_ERROR = new Map<string, { reason: CloseReason; logAfter?: boolean; readError?: string }>([
  [ProtoErr.MaxPayload, { reason: "Maximum Message Payload Exceeded", readError: "maximum payload exceeded" }],
  [ProtoErr.AuthViolation, { reason: "Authentication Failure", readError: "authentication error" }],
  [ProtoErr.MaxControlLine, { reason: "Maximum Control Line Exceeded", logAfter: true }],
  [ProtoErr.InvalidClientProtocol, { reason: "Bad Client Protocol Version", logAfter: true }],
]);

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
  | "Maximum Message Payload Exceeded"
  | "Maximum Control Line Exceeded"
  | "Bad Client Protocol Version"
  | "Maximum Connections Exceeded"
  | "Maximum Account Connections Exceeded"
  | "Lame Duck Mode"
  | "Read Error"
  | "Write Error"
  | "Kicked"
  | "TLS Handshake Failure"
  | "Maximum Account Connections Exceeded"
  | "Maximum Subscriptions Exceeded"
  | "Authentication Expired"
  | "Credentials Revoked";

const PING = Buffer.from("PING\r\n");
/** nats-server's first PING after CONNECT (firstClientPingInterval) and RTT refresh period. */
const FIRST_CLIENT_PING_MS = 2000;
export const RTT_MEASUREMENT_INTERVAL_MS = 3_600_000;
const PONG = Buffer.from("PONG\r\n");
const OK = Buffer.from("+OK\r\n");
/** nats-server lets the "maximum subscriptions exceeded" error out before closing. */
const MAX_SUBS_CLOSE_DELAY_MS = 20;


export class Client implements Deliverer, ParserHandler, GatewayReplyHolder, Stallable, StalledPublisher {
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
  /**
   * The first PING after CONNECT was answered (with the connect_info INFO for protocol 1): the
   * client is registered, async INFO updates reach it from now on.
   */
  connectInfoSent = false;
  /**
   * Credentials the transport carries (WebSocket cookies), used where the CONNECT leaves the
   * field empty, as nats-server does.
   */
  connectDefaults: Partial<Pick<ConnectOptions, "jwt" | "user" | "pass" | "authToken">> | undefined;
  /** The nonce of this connection's INFO, which an nkey user signs; set only when nkey users exist. */
  nonce: string | undefined;
  authorizedUser: string | undefined;
  /** The authenticated user's publish/subscribe permissions; undefined = unrestricted. */
  perms: Permissions | undefined;
  /** The permissions block `perms` was built from (config form), for $SYS.REQ.USER.INFO. */
  permissionsSource: unknown;
  /** Set when the user logged in with a JWT (operator mode, auth callout). */
  jwtUser: JwtUser | undefined;
  /** Subscriptions this connection may hold: the lowest of user, account and server limits; -1 = none. */
  maxSubs = -1;
  /** When the user's credentials expire (JWT `exp`, end of its connect times); 0 = never. */
  expiresAt = DOUBLE_ZERO;
  readonly subs = new Map<string, Subscription>();

  // Counters and times start as double fields (double_zero.ts).
  inMsgs = DOUBLE_ZERO;
  inBytes = DOUBLE_ZERO;
  outMsgs = DOUBLE_ZERO;
  outBytes = DOUBLE_ZERO;
  lastActivity = Date.now();
  rttMs = DOUBLE_ZERO;
  /** Requests from other clusters this client received: its answers go back through the gateway (gateway_reply.ts). */
  gwReplies: GatewayReplyHolder["gwReplies"];
  closed = false;
  closeReason: CloseReason | undefined;
  stop: Date | undefined;

  private readonly parser: Parser;
  private readonly outbound: Outbound;
  dirty = false;
  /** The reply subject of the last message delivered here (the parser's hint for a responder's PUB). */
  lastReplyDelivered = "";
  /** The last PUB's match, reused while the subject and the sublist stay the same. */
  private lastSubject = "";
  private lastGeneration = -1;
  private lastResult: SublistResult | undefined;
  private maxPending: number;
  /** Until CONNECT arrives when authentication is required: when auth_timeout expires (ms since the epoch; 0 = none). */
  private authDeadline = DOUBLE_ZERO;
  /** The next PING check (ms since the epoch; 0 = none). */
  private pingAt = DOUBLE_ZERO;
  /** This client's entry in the server's deadline queue: the earlier of authDeadline and pingAt (Deadlined). */
  deadlineIdx = -1;
  deadlineAt = DOUBLE_ZERO;
  private expiryTimer: NodeJS.Timeout | undefined;
  private pingsOut = 0;
  private pingSentAt = DOUBLE_ZERO;
  /** When the last PING went out (0: never), for the hourly RTT refresh. */
  private rttStart = DOUBLE_ZERO;
  private paused = false;
  /** While this client is stalled as a publisher: until when at the latest (the server's stall queue owns it). */
  stalledUntil = DOUBLE_ZERO;
  private trace: boolean;
  /** A connection of the server's own warm-up (warm_up.ts): connected without credentials or a connect event. */
  private unannounced = false;

  constructor(
    readonly server: Server,
    readonly cid: number,
    private socket: ClientTransport,
    account: Account,
    /** What kind of connection this is (the listener that accepted it says); an input of authentication. */
    readonly connectionType: ConnectionType = "STANDARD",
  ) {
    this.account = account;
    this.host = peerAddress(socket.remoteAddress);
    this.port = socket.remotePort ?? 0;
    const o = server.options;
    this.trace = server.log.traceEnabled;
    this.maxPending = o.maxPending;
    this.outbound = new Outbound(socket, stallMarkFor(o.maxPending));
    this.maxSubs = o.maxSubscriptions > 0 ? o.maxSubscriptions : -1;
    this.parser = new Parser(this, { maxControlLine: o.maxControlLine, maxPayload: o.maxPayload });
    socket.setNoDelay(true);
    // The listeners are shared functions that find this client on the transport: accepting a
    // connection allocates no closures.
    (socket as OwnedTransport)[kClient] = this;
    // A TCP or TLS socket reads into the shared buffer, which hands each read to onData
    // directly: no 'data' listener, whose flowing-mode machinery each connection would pay for.
    if (socket instanceof TcpConnection) socket.readInto(this);
    else if (!(socket instanceof net.Socket) || !readIntoSharedBuffer(socket, this)) socket.on("data", onTransportData);
    socket.on("drain", onTransportDrain);
    socket.on("error", onTransportError);
    socket.on("close", onTransportClose);
    socket.on("end", onTransportEnd);
    // auth_timeout and the first PING check share this client's one entry in the server's
    // deadline queue (no timer per connection).
    const now = Date.now();
    if (server.auth.requiredFor(connectionType)) this.authDeadline = now + server.auth.timeoutMsFor(connectionType);
    this.schedulePing(now);
  }

  /** The transport failed (reset, TLS error). */
  transportError(err: Error): void {
    this.server.log.debug(`${this.logPrefix()} - Client connection error: ${err.message}`);
    this.close("Read Error");
  }

  /**
   * EOF ends the connection, as in nats-server. Destroyed rather than ended: a TLS socket over
   * a net.Socket does not reach 'close' after ending once its peer is gone.
   */
  transportEnded(): void {
    if (this.closed) this.socket.destroy(); // we ended first: both sides are done
    else this.close("Client Closed", true);
  }

  /** Take reloaded limits and logging options. */
  applyOptions(o: ServerOptions): void {
    this.trace = this.server.log.traceEnabled;
    this.maxPending = o.maxPending;
    this.outbound.stallAt = stallMarkFor(o.maxPending);
    this.parser.limits = { maxControlLine: o.maxControlLine, maxPayload: o.maxPayload };
    if (this.connectReceived) this.applyAccountLimits(this.userLimits);
  }

  /** The user's own limits (operator mode), kept so a reload or claim update can recompute. */
  private userLimits: UserLimits | undefined;

  /**
   * Payload and subscription limits of this connection: the lowest of the user's, the
   * account's and the server's (nats-server's applyAccountLimits; -1 or 0 at the server = unlimited).
   */
  applyAccountLimits(user: UserLimits | undefined = this.userLimits): void {
    this.userLimits = user;
    const o = this.server.options;
    const lim = this.account.limits;
    const lowest = (...vals: Array<number | undefined>): number => {
      let out = -1;
      for (const v of vals) if (v !== undefined && v >= 0 && (out < 0 || v < out)) out = v;
      return out;
    };
    const payload = lowest(user?.payload, lim.maxPayload, o.maxPayload > 0 ? o.maxPayload : undefined);
    this.parser.limits = { maxControlLine: o.maxControlLine, maxPayload: payload < 0 ? Number.MAX_SAFE_INTEGER : payload };
    this.maxSubs = lowest(user?.subs, lim.maxSubscriptions, o.maxSubscriptions > 0 ? o.maxSubscriptions : undefined);
    // A connection already holding more subscriptions than it now may is told and closed, after
    // what is under way (nats-server does this on a goroutine of its own): a claim update that
    // also revokes the user closes it first, with only the revocation's error.
    if (this.maxSubs >= 0 && this.subs.size >= this.maxSubs && this.connectReceived) {
      setImmediate(() => {
        if (this.closed) return;
        this.maxSubsExceeded();
        setTimeout(() => this.close("Maximum Subscriptions Exceeded"), MAX_SUBS_CLOSE_DELAY_MS).unref();
      });
    }
  }

  private maxSubsExceeded(): void {
    this.server.log.error(`${this.logPrefix()} - ${ProtoErr.MaxSubscriptions}`);
    this.sendErr(ProtoErr.MaxSubscriptions);
  }

  /** The connection's credentials expired (JWT `exp`, connect times): tell it and close. */
  authExpired(): void {
    this.debugErr("User Authentication Expired");
    this.close("Authentication Expired");
  }

  /** The account's JWT expired or was deleted: every connection of it goes. */
  accountAuthExpired(): void {
    this.debugErr("Account Authentication Expired");
    this.close("Authentication Expired");
  }

  /** The account revoked this user's JWT. */
  credentialsRevoked(): void {
    this.debugErr("User Authentication Revoked");
    this.close("Credentials Revoked");
  }

  /** The account is at its connection limit. */
  maxAccountConnectionsExceeded(): void {
    this.server.log.error(`${this.logPrefix()} - ${ProtoErr.MaxAccountConnections}`);
    this.sendErr(ProtoErr.MaxAccountConnections);
    this.close("Maximum Account Connections Exceeded");
  }

  /** Credentials no longer accepted (reload, account update): -ERR, AUTH.ERR event, close. */
  authViolation(): void {
    if (this.closed) return;
    this.server.log.error(`${this.logPrefix()} - authentication error`);
    this.sendErr(ProtoErr.AuthViolation);
    this.server.onAuthError(this);
    this.close("Authentication Failure");
  }

  private debugErr(text: string): void {
    if (this.server.log.debugEnabled) this.server.log.debug(`${this.logPrefix()} - ${text}`);
    this.sendErr(text);
  }

  /** Disconnect with "User Authentication Expired" at `at` (ms since epoch); 0 clears. */
  setExpiry(at: number): void {
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiresAt = at;
    if (at <= 0) return;
    // Timers fire at most ~24.8 days ahead; a later expiry re-arms on the way.
    const delay = Math.min(Math.max(0, at - Date.now()), 0x7fffffff);
    this.expiryTimer = setTimeout(() => {
      if (Date.now() + 5 < this.expiresAt) this.setExpiry(this.expiresAt);
      else this.authExpired();
    }, delay);
    this.expiryTimer.unref();
  }

  get pendingBytes(): number {
    return this.outbound.unsent + this.outbound.size;
  }

  /**
   * What nats-server adds to a client's log lines from its first CONNECT on: "v<version>:<lang>:<name>"
   * (those given) and "<account>/<user label>" when the client named a user, nkey, JWT or token.
   * Fixed at the first CONNECT as nats-server fixes it, but put into words (Go-quoted) only when
   * a line is logged: most connections never log one, and building it was a tenth of the
   * main-thread work of a connection's CONNECT (cpu profile of conns1000: makeLogTag, goQuote).
   */
  private logTag = "";
  /** What the log tag is made of, as it was at the first CONNECT; undefined once `logTag` is built. */
  private logTagSource: LogTagSource | undefined;

  logPrefix(): string {
    if (this.logTagSource !== undefined) {
      this.logTag = logTagText(this.logTagSource);
      this.logTagSource = undefined;
    }
    // nats-server tags a WebSocket client's lines wid:, a plain one's cid:.
    return `${this.host}:${this.port} - ${this.connectionType === "WEBSOCKET" ? "wid" : "cid"}:${this.cid}${this.logTag}`;
  }

  // ---- inbound ----

  /** One read from the socket (it may be a view into a shared buffer: see shared_reads.ts). */
  onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    const server = this.server;
    server.readStarted();
    try {
      this.parser.parse(chunk);
    } catch (err) {
      this.onInputError(err);
    } finally {
      server.readDone();
    }
  }

  private onInputError(err: unknown): void {
    if (err instanceof ProtocolError) {
      const ws = this.connectionType === "WEBSOCKET";
      // nats-server's WebSocket read loop takes what its parser returns as a read error, once
      // the errors that close the connection themselves are out of the way: logged so, and the
      // connection dropped with nothing more written (no -ERR, no close frame).
      if (ws && (err.text === "" || err.text === ProtoErr.UnknownOp)) {
        this.server.log.error(`${this.logPrefix()} - read error: ${err.message}`);
        this.close("Read Error", true);
        return;
      }
      const closed = CLOSED_BY_ERROR.get(err.text);
      if (closed?.logAfter !== true) this.server.log.error(`${this.logPrefix()} - ${err.message}`);
      if (err.text) this.sendErr(err.text);
      this.close(closed?.reason ?? "Protocol Violation");
      // nats-server closed these on the spot; its read loop then logs the error it got back.
      if (closed?.logAfter === true) this.server.log.error(`${this.logPrefix()} - ${ws ? "read error: " : ""}${err.message}`);
      else if (ws && closed?.readError !== undefined) this.server.log.error(`${this.logPrefix()} - read error: ${closed.readError}`);
    } else {
      // A bug of ours must not take the server down; this client pays for it alone.
      this.server.log.error(`${this.logPrefix()} - internal error: ${(err as Error).stack ?? String(err)}`);
      this.close("Protocol Violation");
    }
  }

  beforeOp(op: string): void {
    if (!this.connectReceived && op !== "CONNECT" && this.server.auth.requiredFor(this.connectionType)) {
      throw new ProtocolError(ProtoErr.AuthViolation, "Authorization Violation: op before CONNECT");
    }
    // Refused before its arguments are even read, as nats-server does.
    if (op === "HPUB" && !this.opts.headers) throw new ProtocolError("", "message headers not supported");
  }

  checkPublish(subject: string): void {
    // nats-server reports a bad subject to a pedantic client as soon as the PUB line is read,
    // and still routes the message.
    if (this.opts.pedantic && !isValidLiteralSubject(subject)) this.sendErr(ProtoErr.InvalidPublishSubject);
  }

  onConnect(json: string): void {
    if (this.trace) this.traceIn("CONNECT", redactSecrets(json));
    // As nats-server: the auth timer only waits for the CONNECT; checking its credentials
    // (bcrypt, an account lookup, an auth callout) has its own limits.
    this.authDeadline = 0;
    // Also as nats-server: every CONNECT, before its credentials are checked, estimates the RTT
    // (INFO sent to CONNECT received) and brings the first PING forward; a login waiting on a
    // slow bcrypt check or auth callout is pinged like any other.
    this.rttMs = Math.max(0.001, performance.timeOrigin + performance.now() - this.start.getTime());
    this.scheduleFirstPing();
    let raw: Record<string, unknown>;
    try {
      // `null` decodes to "no fields" in Go, so nats-server accepts `CONNECT null`.
      raw = (JSON.parse(json) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new ProtocolError("", goJsonSyntaxError(json) ?? `CONNECT: ${(err as Error).message}`);
    }
    if (typeof raw !== "object" || Array.isArray(raw)) throw new ProtocolError("", `json: cannot unmarshal ${goJsonKind(raw)} into Go value of type server.ClientOpts`);
    const typeError = clientOptsTypeError(raw);
    if (typeError !== undefined) throw new ProtocolError("", typeError);
    // Decoded the way nats-server's typed JSON decoding does it: keys match case-insensitively, a
    // known field of the wrong type fails the CONNECT (silent close), null or absent fields keep
    // their current value (so a second CONNECT changes only what it names).
    const fields = lowerCaseKeys(raw);
    const prev = this.opts;
    const headersRequested = connectField(fields, "headers", "boolean", prev.headers);
    const headers = headersRequested && !this.server.options.noHeaderSupport;
    const noResponders = connectField(fields, "no_responders", "boolean", prev.noResponders);
    this.opts = {
      verbose: connectField(fields, "verbose", "boolean", prev.verbose),
      pedantic: connectField(fields, "pedantic", "boolean", prev.pedantic),
      echo: connectField(fields, "echo", "boolean", prev.echo),
      headers,
      noResponders,
      protocol: connectField(fields, "protocol", "number", prev.protocol),
      name: connectField(fields, "name", "string", prev.name),
      lang: connectField(fields, "lang", "string", prev.lang),
      version: connectField(fields, "version", "string", prev.version),
      user: connectField<string | undefined>(fields, "user", "string", prev.user),
      pass: connectField<string | undefined>(fields, "pass", "string", prev.pass),
      authToken: connectField<string | undefined>(fields, "auth_token", "string", prev.authToken),
      nkey: connectField<string | undefined>(fields, "nkey", "string", prev.nkey),
      jwt: connectField<string | undefined>(fields, "jwt", "string", prev.jwt),
      sig: connectField<string | undefined>(fields, "sig", "string", prev.sig),
      tlsRequired: connectField(fields, "tls_required", "boolean", prev.tlsRequired),
    };
    const d = this.connectDefaults;
    if (d !== undefined) {
      const o = this.opts;
      if (!o.jwt) o.jwt = d.jwt;
      if (!o.user) o.user = d.user;
      if (!o.pass) o.pass = d.pass;
      if (!o.authToken) o.authToken = d.authToken;
    }
    // nats-server rejects a client that names an account itself (a retired sandbox feature).
    const namesAccount = connectField(fields, "account", "string", "") !== "" || connectField(fields, "new_account", "boolean", false);
    const first = !this.connectReceived;
    if (!first) {
      // As nats-server 2.15: every CONNECT is authenticated (a second one with other credentials
      // fails, or binds the client to another account), and the subscriptions made since the
      // first one are dropped before, so none is left behind in the account it leaves.
      for (const sub of [...this.subs.values()]) this.removeSub(sub);
    }
    const outcome = namesAccount ? undefined : this.unannounced ? { account: this.account, user: undefined } : this.server.auth.authenticate(this);
    if (outcome instanceof Promise) {
      // A bcrypt check runs off the main thread: nothing after this CONNECT is processed until
      // it answers, as nats-server handles a connection's CONNECT before its next op.
      this.parser.held = true;
      this.socket.pause();
      void outcome.then((result) => {
        if (this.closed) return;
        this.parser.held = false;
        try {
          this.finishConnect(result, noResponders, headers, first);
          this.parser.parse(Buffer.alloc(0));
        } catch (err) {
          this.onInputError(err);
        }
        if (!this.paused && !this.closed) this.socket.resume();
      });
      return;
    }
    this.finishConnect(outcome, noResponders, headers, first);
  }

  private finishConnect(result: AuthResult | AuthFailure | undefined, noResponders: boolean, headers: boolean, first: boolean): void {
    if (result === undefined || result instanceof AuthFailure) {
      if (result !== undefined && this.server.log.debugEnabled) this.server.log.debug(`${this.logPrefix()} - ${result.reason}`);
      this.server.onAuthError(this, result);
      // nats-server names the login it refused (a token redacted).
      const o = this.opts;
      const who = o.nkey
        ? `Nkey ${goQuote(o.nkey)}`
        : o.user
          ? `User ${goQuote(o.user)}`
          : o.jwt
            ? `JWT User ${goQuote(this.jwtUser?.pubKey ?? "")}`
            : o.authToken
              ? `Token ${goQuote("[REDACTED]")}`
              : "";
      throw new ProtocolError(ProtoErr.AuthViolation, `authentication error${who !== "" ? ` - ${who}` : ""}`);
    }
    const acc = result.account;
    this.authorizedUser = result.user;
    this.jwtUser = result.jwt;
    this.permissionsSource = result.permissions;
    this.perms = Permissions.from(result.permissions);
    if (acc !== this.account) this.server.moveClient(this, acc);
    if (!first) {
      this.checkConnectOptions(noResponders, headers);
      return;
    }
    // As nats-server: registered with the account first, so the AUTH.ERR event names it.
    const maxConns = acc.limits.maxConnections;
    if (maxConns >= 0 && acc.clients.size > maxConns) {
      this.maxAccountConnectionsExceeded();
      this.server.onAuthError(this);
      return;
    }
    this.connectReceived = true;
    // The parts as they are now: a later CONNECT replaces opts, a claim update the name tag.
    this.logTagSource = { opts: this.opts, account: acc.name, nameTag: acc.claims?.nameTag, user: result.user, jwtKey: this.jwtUser?.pubKey };
    this.applyAccountLimits(result.limits);
    if (this.closed) return;
    if (result.expiresAt !== undefined && result.expiresAt > 0) this.setExpiry(result.expiresAt);
    if (!this.unannounced) this.server.onClientConnected(this);
    this.checkConnectOptions(noResponders, headers);
  }

  private checkConnectOptions(noResponders: boolean, headers: boolean): void {
    // Checked after authentication, in nats-server's order.
    if (this.opts.protocol < 0 || this.opts.protocol > 1) {
      throw new ProtocolError(ProtoErr.InvalidClientProtocol, "invalid client protocol");
    }
    if (noResponders && !headers) {
      throw new ProtocolError(ProtoErr.NoRespondersNeedsHeaders, "no responders requires headers support");
    }
    if (this.opts.verbose) this.sendOk();
  }

  /**
   * The CONNECT of a connection the server does not know (warm_up.ts): the steps of a client's
   * CONNECT, bound to the account it was made with whatever the server's authentication, and
   * not announced (no connect event).
   */
  connectUnannounced(json: string): void {
    this.unannounced = true;
    this.onData(Buffer.from(`CONNECT ${json}\r\nPING\r\n`));
    // No PING timer: nobody would answer, and it logs at debug level.
    this.server.pings.remove(this);
  }

  onInfo(json: string): void {
    // nats-server ignores INFO from clients, but only once it decodes as a JSON object.
    let info: unknown;
    try {
      info = JSON.parse(json);
    } catch {
      info = 0; // not JSON: rejected below
    }
    if (info !== null && (typeof info !== "object" || Array.isArray(info))) throw new ProtocolError("", "INFO: invalid JSON");
  }

  onClientErr(text: string): void {
    // A client reporting an error is closed, as nats-server does (without an -ERR back).
    throw new ProtocolError("", `Client Error ${text}`);
  }

  onPing(): void {
    if (this.trace) this.traceIn("PING", "");
    this.queue(PONG);
    if (this.trace) this.traceOut("PONG", "");
    // nats-server 2.15 answers the first PING after CONNECT with an INFO naming the account the
    // client is bound to (connect_info), for clients that take async INFO (protocol 1).
    if (!this.connectInfoSent && this.connectReceived) {
      this.connectInfoSent = true;
      if (this.opts.protocol >= 1) this.server.sendConnectInfo(this);
    }
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
    if (this.trace) this.traceIn("SUB", this.parser.argText);
    // nats-server's order: permissions (the internal "_sys_" queue is never a client's), the
    // subscription limit, a sid already in use (+OK, whatever the subject), and only then the
    // subject's validity, which its sublist checks on insert.
    if (queue === SYS_QUEUE || (this.perms !== undefined && !this.perms.canSubscribe(subject, queue))) {
      this.subPermissionViolation(subject, queue, sid);
      return;
    }
    const max = this.maxSubs;
    if (max !== -1 && this.subs.size >= max) {
      this.maxSubsExceeded();
      return;
    }
    if (this.subs.has(sid)) {
      if (this.opts.verbose) this.sendOk();
      return;
    }
    if (!isValidSubject(subject) || (queue !== undefined && !isValidQueue(queue))) {
      this.sendErr(ProtoErr.InvalidSubject);
      return;
    }
    const sub: Subscription = { subject, queue, sid, client: this, max: 0, delivered: 0, closed: false };
    this.subs.set(sid, sub);
    this.account.addSubscription(sub);
    if (this.opts.verbose) this.sendOk();
  }

  onUnsub(sid: string, max: number): void {
    if (this.trace) this.traceIn("UNSUB", this.parser.argText);
    const sub = this.subs.get(sid);
    if (sub !== undefined) {
      if (max > 0 && sub.delivered < max) sub.max = max;
      else this.removeSub(sub);
    }
    if (this.opts.verbose) this.sendOk();
  }

  onPub(subject: string, reply: string, hdrLen: number, buf: Buffer, start: number, end: number): void {
    const size = end - start;
    if (this.trace) this.tracePub(subject, reply, hdrLen, buf, start, end);
    if (hdrLen >= 0 && !this.opts.headers) throw new ProtocolError("", "message headers not supported");
    this.inMsgs++;
    this.inBytes += size;
    const server = this.server;
    server.inMsgs++;
    server.inBytes += size;
    const account = this.account;
    account.inMsgs++;
    account.inBytes += size;
    // A message that asks for a trace (ADR-41) is followed through its routing.
    let trace: MsgTrace | undefined;
    if (hdrLen > 0) {
      const hdrBlock = buf.subarray(start, start + hdrLen);
      if (MsgTrace.requested(hdrBlock, account)) {
        const t = MsgTrace.start(this.traceIngress(subject, size), hdrBlock);
        if (t.skip) return;
        trace = t.trace;
        if (t.disable) {
          // Delivered with tracing off, so no other server traces it either.
          const h = MsgTrace.disable(hdrBlock);
          buf = Buffer.concat([h, buf.subarray(start + hdrLen, end)]);
          start = 0;
          end = buf.length;
          hdrLen = h.length;
        }
      }
    }
    // Mappings apply first: permissions and routing see the mapped subject, as in nats-server.
    if (account.mappings !== undefined) {
      const mapped = account.mapSubject(subject);
      if (trace !== undefined && mapped !== subject) trace.mapped(mapped);
      subject = mapped;
    }
    if (trace !== undefined) {
      const prev = setActiveTrace(trace);
      try {
        this.routePub(subject, reply, hdrLen, buf, start, end, size);
      } finally {
        setActiveTrace(prev);
      }
      trace.send();
      return;
    }
    this.routePub(subject, reply, hdrLen, buf, start, end, size);
  }

  /** What a message trace needs of this connection (only for messages that ask for one). */
  private traceIngress(subject: string, size: number): TraceIngress {
    const server = this.server;
    return {
      kind: TraceKind.client,
      cid: this.cid,
      name: this.opts.name,
      account: this.account,
      subject,
      size,
      mayPublish: (dest) => this.perms === undefined || this.perms.publishRulesAllow(dest),
      refused: (dest) => this.pubPermissionViolation(dest),
      logError: (text) => server.log.error(`${this.logPrefix()} - ${text}`),
      serverInfo: () => (server.systemAccount !== undefined ? server.eventServerInfo() : undefined),
    };
  }

  /** A HPUB over the payload limit: a trace it asks for reports the refusal (only the headers already read are looked at). */
  onMaxPayloadHeaders(subject: string, size: number, hdr: Buffer): void {
    if (!MsgTrace.requested(hdr, this.account)) return;
    const t = MsgTrace.start(this.traceIngress(subject, size), hdr, "maximum payload exceeded");
    t.trace?.send();
  }

  private pubPermissionViolation(subject: string): void {
    const text = `Permissions Violation for Publish to ${goQuote(subject)}`;
    activeTrace?.ingressError(text);
    // The message is dropped; the connection stays up.
    this.sendErr(text);
    this.server.log.error(`${this.logPrefix()} - Publish Violation - ${this.authUserText()}, Subject ${goQuote(subject)}`);
  }

  /**
   * The rest of a PUB once its subject is final: permissions, then routing. Kept small (the rare
   * branches are methods of their own) so that V8 inlines it into onPub instead of compiling it
   * on its own the first time traffic makes it hot: with the V8 code cache, that first compile
   * ran during conns1000's measured round trips (45-74 ms of a worker thread, docs/performance.md).
   */
  private routePub(subject: string, reply: string, hdrLen: number, buf: Buffer, start: number, end: number, size: number): void {
    if (this.pubRefused(subject, reply)) return;
    // +OK goes out before any delivery, as nats-server orders it.
    if (this.opts.verbose) this.sendOk();
    if (this.gwReplies !== undefined && this.routeGatewayReply(subject, reply, hdrLen, buf, start, end)) return;
    const result = this.matchSubject(subject);
    let delivered: number;
    if (result.psubs.length === 0 && result.qsubs.length === 0) {
      // Nobody receives it: skip building Buffers for it.
      delivered = 0;
    } else if (hdrLen < 0 && result.qsubs.length === 0 && result.psubs.length === 1 && (delivered = this.account.routeToSoleClient(result.psubs[0], subject, reply, buf, start, end, this)) >= 0) {
      // Delivered to its one subscriber straight from the read.
    } else {
      const hdr = hdrLen >= 0 ? buf.subarray(start, start + hdrLen) : undefined;
      delivered = this.account.routeRange(result, subject, reply, hdr, buf, hdrLen >= 0 ? start + hdrLen : start, end, this);
    }
    if (delivered === 0 && reply !== "" && this.opts.noResponders) this.account.sendNoResponders(this, subject, reply);
  }

  /** Whether a PUB is refused by the publish permissions or for its reply subject (the error sent and logged). */
  private pubRefused(subject: string, reply: string): boolean {
    if ((this.perms !== undefined && !this.perms.canPublish(subject)) || isGatewayReplySubject(subject)) {
      this.pubPermissionViolation(subject);
      return true;
    }
    if (reply !== "" && isReservedReply(reply)) {
      this.replyPermissionViolation(reply);
      return true;
    }
    return false;
  }

  /** Reply subjects the server maps itself (service responses, JetStream acks) cannot be forged. */
  private replyPermissionViolation(reply: string): void {
    const text = `Permissions Violation for Publish with Reply of ${goQuote(reply)}`;
    activeTrace?.ingressError(text);
    this.sendErr(text);
    this.server.log.error(`${this.logPrefix()} - Publish Violation - Reply ${goQuote(reply)}`);
  }

  /** An answer to a request from another cluster goes back the way the request came: true when it was one. */
  private routeGatewayReply(subject: string, reply: string, hdrLen: number, buf: Buffer, start: number, end: number): boolean {
    const routed = routedReplyFor(this, subject);
    if (routed === undefined) return false;
    const hdr = hdrLen >= 0 ? buf.subarray(start, start + hdrLen) : undefined;
    routeRoutedReply(this.server.services, this.account, routed, reply, hdr, buf.subarray(hdrLen >= 0 ? start + hdrLen : start, end));
    return true;
  }

  /** The account's subscribers to `subject`, the last match kept while the subject and the sublist stay the same. */
  private matchSubject(subject: string): SublistResult {
    const sublist = this.account.sublist;
    let result = this.lastResult;
    if (subject !== this.lastSubject || sublist.generation !== this.lastGeneration || result === undefined) {
      result = sublist.match(subject);
      this.lastSubject = subject;
      this.lastGeneration = sublist.generation;
      this.lastResult = result;
    }
    return result;
  }

  private tracePub(subject: string, reply: string, hdrLen: number, buf: Buffer, start: number, end: number): void {
    const size = end - start;
    const r = reply ? reply + " " : "";
    if (hdrLen >= 0) this.traceIn("HPUB", `${subject} ${r}${hdrLen} ${size}`);
    else this.traceIn("PUB", `${subject} ${r}${size}`);
    // Like nats-server, the traced payload of an HPUB includes its header block.
    const shown = buf.toString("latin1", start, Math.min(end, start + 1024));
    this.server.log.trace(`${this.logPrefix()} - <<- MSG_PAYLOAD: [${JSON.stringify(shown)}]`);
  }

  // ---- outbound ----

  /** Encode one MSG/HMSG for this connection. */
  deliver(sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    this.encodeMsg(sub, subject, reply, hdr, payload, 0, payload.length);
  }

  /** deliver() of a message whose payload is `src[start, end)` (a range of the publisher's read, usually). */
  deliverRange(sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, src: Buffer, start: number, end: number): void {
    this.encodeMsg(sub, subject, reply, hdr, src, start, end);
  }

  private encodeMsg(sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, src: Buffer, start: number, end: number): void {
    if (this.closed) return;
    // Its subscribe deny rules were checked where the delivery was counted (Account).
    if (this.perms !== undefined) this.perms.delivered(reply);
    const useHdr = hdr !== undefined && this.opts.headers;
    const hlen = useHdr ? hdr.length : 0;
    const total = hlen + end - start;
    // The control line "MSG <subject> <sid> [reply] <size>\r\n" repeats for a run of messages
    // on one subject: once seen twice in a row it is kept encoded on the subscription and its
    // bytes are copied. A line that changes with every message (a request's reply subject, a
    // reply's inbox subject) is encoded straight into the outbound buffer: nothing allocated.
    const ob = this.outbound;
    const line = sub.encoded;
    const same = sub.encodedTotal === total && sub.encodedSubject === subject && sub.encodedReply === reply && sub.encodedHdr === hlen;
    let out: Buffer;
    let p: number;
    if (line !== undefined && same) {
      // Its length is kept beside it: DataView's byteLength getter is a call V8 does not inline.
      const n = sub.encodedLength as number;
      out = ob.reserve(n + total + 2);
      p = copyBytes(line, 0, n, ob.bufView, ob.pos);
    } else {
      const sid = sub.sid;
      // At most 3 bytes per UTF-16 unit, plus "HMSG", spaces, two sizes and CRLF.
      out = ob.reserve(3 * (subject.length + sid.length + reply.length) + 40 + total + 2);
      const start = ob.pos;
      p = encodeMsgLine(out, start, useHdr, subject, sid, reply, hlen, total);
      if (same) {
        sub.encodedLength = p - start;
        copyBytes(ob.bufView, start, p, (sub.encoded = new DataView(new ArrayBuffer(p - start))), 0);
      } else {
        sub.encoded = undefined;
        sub.encodedSubject = subject;
        sub.encodedReply = reply;
        sub.encodedHdr = hlen;
        sub.encodedTotal = total;
        sub.encodedLength = 0;
      }
    }
    if (useHdr) p = copyInto(hdr, out, p);
    p = copyRange(src, start, end, out, ob.bufView, p);
    out[p++] = 13;
    out[p++] = 10;
    if (this.trace) this.traceOut(useHdr ? "HMSG" : "MSG", `${subject} ${sub.sid} ${reply ? reply + " " : ""}${useHdr ? hlen + " " : ""}${total}`);
    ob.pos = p;
    if (reply !== "") this.lastReplyDelivered = reply;
    this.delivered(total);
  }

  /**
   * deliver() with a reply that writes its own bytes (a JetStream ack reply, different for
   * every message): no string is built for it. The caller checked what deliver() would refuse
   * (permissions, a closed connection) or uses deliver() for those.
   */
  deliverWithReply(sub: Subscription, subject: string, reply: ReplyWriter, hdr: Buffer | undefined, payload: Buffer): void {
    if (this.closed) return;
    const useHdr = hdr !== undefined && this.opts.headers;
    const hlen = useHdr ? hdr.length : 0;
    const total = hlen + payload.length;
    const ob = this.outbound;
    const sid = sub.sid;
    const out = ob.reserve(3 * (subject.length + sid.length) + reply.length + 40 + total + 2);
    let p = encodeMsgLine(out, ob.pos, useHdr, subject, sid, reply, hlen, total);
    if (useHdr) p = copyInto(hdr, out, p);
    p = copyInto(payload, out, p);
    out[p++] = 13;
    out[p++] = 10;
    if (this.trace) this.traceOut(useHdr ? "HMSG" : "MSG", `${subject} ${sub.sid} ${reply.toString()} ${useHdr ? hlen + " " : ""}${total}`);
    ob.pos = p;
    this.delivered(total);
  }

  /** Counts and flow control after a message was encoded. */
  private delivered(total: number): void {
    const ob = this.outbound;
    this.outMsgs++;
    this.outBytes += total;
    const server = this.server;
    server.outMsgs++;
    server.outBytes += total;
    const account = this.account;
    account.outMsgs++;
    account.outBytes += total;
    if (!this.dirty) {
      this.dirty = true;
      server.markDirty(this);
    }
    // Pending here and in the socket (as of its last write); past the stall mark, publishers
    // sending here are held back (account.deliverTo asks `behind`).
    const pending = ob.pending;
    if (pending > ob.stallAt) {
      if (pending > this.maxPending) this.slowConsumer("Slow Consumer (Pending Bytes)", `MaxPending of ${this.maxPending} Exceeded`);
      else ob.behind = true;
    }
  }

  /** This connection's pending bytes passed its stall mark: publishers sending to it wait. */
  get behind(): boolean {
    return this.outbound.behind;
  }

  /**
   * Hold `publisher` back until this connection catches up, or for a while at most: briefly for
   * a client, longer for a route, leaf node or gateway (see stall_queue.ts).
   */
  stallPublisherIfBehind(publisher: Stallable): void {
    if (publisher === this || this.closed) return;
    this.outbound.stall(publisher, stallLimitMs(publisher, this));
  }

  /** Stop reading this publisher's socket while a receiver catches up (`ms` at most). */
  pauseReading(ms: number): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.server.stalledClients++;
    this.socket.pause();
    this.server.stalls.add(this, ms);
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.server.stalls.remove(this);
    if (!this.closed) this.socket.resume();
  }

  /**
   * The transport is closed: the client (kept a while for /connz) lets go of it, so a ring of
   * closed connections does not hold their sockets' stream state.
   */
  transportClosed(): void {
    this.close("Client Closed");
    this.socket = DETACHED;
    this.outbound.socket = undefined;
  }

  /** The socket took what it held ('drain'). */
  transportDrained(): void {
    if (!this.closed) this.outbound.drained();
  }

  /** Queue raw protocol bytes (PING, PONG, +OK, -ERR, INFO). */
  queue(buf: Buffer): void {
    if (this.closed) return;
    this.outbound.append(buf);
  }

  flushSoon(): void {
    if (!this.dirty) {
      this.dirty = true;
      this.server.markDirty(this);
    }
  }

  /** Hand everything encoded so far to the socket (unless it is full). Called once per event-loop turn. */
  flush(): void {
    this.dirty = false;
    if (this.closed) return;
    if (this.outbound.flush() > this.maxPending) {
      this.slowConsumer("Slow Consumer (Pending Bytes)", `MaxPending of ${this.maxPending} Exceeded`);
    }
  }

  /** Checked by the server's housekeeping tick: a full socket that took nothing for write_deadline. */
  checkWriteDeadline(now: number): void {
    if (this.outbound.stuck(now, this.server.options.writeDeadlineMs)) {
      this.slowConsumer("Slow Consumer (Write Deadline)", `Write Deadline of ${this.server.options.writeDeadlineMs}ms Exceeded`);
    }
  }

  private slowConsumer(reason: CloseReason, detail: string): void {
    if (this.closed) return;
    this.server.log.info(`${this.logPrefix()} - Slow Consumer Detected: ${detail}`);
    this.server.onSlowConsumer(this);
    // Drop what is queued: the peer is not reading, so it would never get there.
    this.outbound.clear();
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
    this.sendInfoJson(JSON.stringify(info));
  }

  sendInfoJson(json: string): void {
    if (!this.closed) this.outbound.appendString(`INFO ${json} \r\n`);
    this.flushSoon();
  }

  /** An INFO whose bytes start with `head` (the server's part, encoded once) and go on with `rest`. */
  sendInfoParts(head: Buffer, rest: string): void {
    if (!this.closed) {
      this.outbound.append(head);
      this.outbound.appendString(`${rest} \r\n`);
    }
    this.flushSoon();
  }

  /** ping_interval, or the WebSocket listener's own (`websocket { ping_interval }`). */
  private get pingIntervalMs(): number {
    const o = this.server.options;
    const ws = this.connectionType === "WEBSOCKET" ? o.websocket?.pingIntervalMs : undefined;
    return ws !== undefined && ws > 0 ? ws : o.pingIntervalMs;
  }

  /** Until CONNECT: a PING check after the full interval (as nats-server). */
  private schedulePing(now: number): void {
    const interval = this.pingIntervalMs;
    this.pingAt = interval > 0 ? now + interval : 0;
    this.armDeadline();
  }

  /** Keep this client's deadline queue entry at the earlier of its auth and PING deadlines. */
  private armDeadline(): void {
    let at = this.pingAt;
    const auth = this.authDeadline;
    if (auth > 0 && (at === 0 || auth < at)) at = auth;
    if (at > 0) this.server.pings.add(this, at);
    else this.server.pings.remove(this);
  }

  /**
   * On CONNECT, nats-server brings the first PING forward to about 2 s (plus up to 20%
   * random spread, so reconnecting crowds do not ping in step) to measure the RTT early
   * and notice a dead peer soon; `disable_short_first_ping` keeps the full interval.
   */
  private scheduleFirstPing(): void {
    const o = this.server.options;
    let d = this.pingIntervalMs;
    if (d <= 0) return;
    if (!o.disableShortFirstPing && d > FIRST_CLIENT_PING_MS) d = FIRST_CLIENT_PING_MS;
    d += Math.floor(Math.random() * (d / 5));
    this.pingAt = Date.now() + d;
    this.armDeadline();
  }

  /** Due in the server's deadline queue: auth_timeout, or a PING check. */
  onDeadline(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.authDeadline > 0 && now >= this.authDeadline) {
      this.authDeadline = 0;
      this.sendErr(ProtoErr.AuthTimeout);
      this.close("Authentication Timeout");
      return;
    }
    if (this.pingAt > 0 && now >= this.pingAt) this.pingCheck(now);
    else this.armDeadline();
  }

  private pingCheck(now: number): void {
    const interval = this.pingIntervalMs;
    const debug = this.server.log.debugEnabled;
    if (debug) this.server.log.debug(`${this.logPrefix()} - Client Ping Timer`);
    // As nats-server: a client heard from within the interval needs no PING, unless its RTT
    // has not been measured by a PING yet or not for an hour.
    const needRtt = this.rttStart === 0 || now - this.rttStart > RTT_MEASUREMENT_INTERVAL_MS;
    if (!needRtt && now - this.lastActivity < interval && debug) {
      this.server.log.debug(`${this.logPrefix()} - Delaying PING due to remote client data or ping ${goDuration(Math.round((now - this.lastActivity) / 1000) * 1e9)} ago`);
    }
    if (needRtt || now - this.lastActivity >= interval) {
      if (this.pingsOut + 1 > this.server.options.maxPingsOut) {
        this.server.log.debug(`${this.logPrefix()} - Stale Client Connection - Closing`);
        this.server.staleConnections.clients++;
        this.sendErr(ProtoErr.StaleConnection);
        this.close("Stale Connection");
        return;
      }
      this.pingsOut++;
      this.pingSentAt = now;
      this.rttStart = now;
      if (this.trace) this.traceOut("PING", "");
      this.queue(PING);
      this.flushSoon();
    }
    this.schedulePing(now);
  }

  // ---- subscriptions and teardown ----

  private authUserText(): string {
    if (this.jwtUser !== undefined && this.jwtUser.token !== "") return `JWT User ${JSON.stringify(this.jwtUser.pubKey)}`;
    return this.authorizedUser !== undefined ? `User ${JSON.stringify(this.authorizedUser)}` : "";
  }

  private subPermissionViolation(subject: string, queue: string | undefined, sid: string): void {
    const q = queue !== undefined ? ` using queue ${goQuote(queue)}` : "";
    this.sendErr(`Permissions Violation for Subscription to ${goQuote(subject)}${q}`);
    const lq = queue !== undefined ? `, Queue: ${goQuote(queue)}` : "";
    this.server.log.error(
      `${this.logPrefix()} - Subscription Violation - ${this.authUserText()}, Subject ${goQuote(subject)}${lq}, SID ${sid}`,
    );
  }

  /** New permissions from a config reload: subscriptions they no longer allow are dropped. */
  setPermissions(raw: unknown): void {
    this.permissionsSource = raw;
    this.perms = Permissions.from(raw);
    const perms = this.perms;
    if (perms === undefined) return;
    for (const sub of [...this.subs.values()]) {
      if (!perms.canSubscribe(sub.subject, sub.queue)) {
        this.removeSub(sub);
        // Unlike a refused SUB, the error names the sid: the client did nothing just now.
        const q = sub.queue !== undefined ? ` using queue ${goQuote(sub.queue)}` : "";
        this.sendErr(`Permissions Violation for Subscription to ${goQuote(sub.subject)}${q} (sid ${goQuote(sub.sid)})`);
        this.server.log.info(`Removed sub ${goQuote(sub.subject)}${q} (sid ${goQuote(sub.sid)}) for ${this.authUserText() || 'User "N/A"'} - not authorized`);
      }
    }
  }

  removeSub(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    this.subs.delete(sub.sid);
    this.account.removeSubscription(sub);
  }

  close(reason: CloseReason, abort = false): void {
    if (this.closed) return;
    // After a read error nothing more is written (nats-server's skipFlush).
    if (this.outbound.size > 0 && reason !== "Read Error") this.outbound.flushAll();
    this.dirty = false;
    this.closed = true;
    this.closeReason = reason;
    this.stop = new Date();
    this.server.pings.remove(this);
    this.resumeReading();
    this.authDeadline = 0;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    for (const sub of this.subs.values()) {
      sub.closed = true;
      this.account.removeSubscription(sub);
    }
    // Closed connections stay in the /connz ring: keep their stats, drop what could pin
    // other objects (a match result references subscribers, e.g. a deleted stream).
    this.lastResult = undefined;
    this.outbound.release();
    this.parser.reset();
    if (abort) this.socket.destroy();
    else {
      this.socket.end();
      // Read on (what arrives is ignored) so the peer's FIN is seen and the socket closes; a
      // socket paused by a stall or a pending CONNECT would otherwise wait for the timer below.
      this.socket.resume();
      // A peer that never reads must not keep the socket forever.
      const socket = this.socket;
      setTimeout(() => socket.destroy(), 2000).unref();
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

/** Write `s` at `p`: ASCII byte by byte (subjects, sids and replies are short), anything else as UTF-8. */
function writeToken(out: Buffer, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return p - i + out.write(s, p - i, "utf8");
    out[p++] = c;
  }
  return p;
}

/** Write the decimal digits of `n` (a non-negative integer) at `p`. */
function writeInt(out: Buffer, p: number, n: number): number {
  if (n < 10) {
    out[p] = 48 + n;
    return p + 1;
  }
  let digits = 0;
  for (let v = n; v > 0; v = Math.floor(v / 10)) digits++;
  let q = p + digits;
  for (let v = n; v > 0; v = Math.floor(v / 10)) out[--q] = 48 + (v % 10);
  return p + digits;
}

/** "MSG <subject> <sid> [reply] <size>\r\n" or "HMSG <subject> <sid> [reply] <hdr> <size>\r\n" at `p`. */
function encodeMsgLine(out: Buffer, p: number, withHdr: boolean, subject: string, sid: string, reply: string | ReplyWriter, hlen: number, total: number): number {
  if (withHdr) out[p++] = 72; /* H */
  out[p++] = 77; /* M */
  out[p++] = 83; /* S */
  out[p++] = 71; /* G */
  out[p++] = 32;
  p = writeToken(out, p, subject);
  out[p++] = 32;
  p = writeToken(out, p, sid);
  out[p++] = 32;
  if (typeof reply !== "string") {
    p = reply.writeTo(out, p);
    out[p++] = 32;
  } else if (reply !== "") {
    p = writeToken(out, p, reply);
    out[p++] = 32;
  }
  if (withHdr) {
    p = writeInt(out, p, hlen);
    out[p++] = 32;
  }
  p = writeInt(out, p, total);
  out[p++] = 13;
  out[p++] = 10;
  return p;
}

/** What a closed client holds in place of its transport once that closed. */
const DETACHED: ClientTransport = {
  writableLength: 0,
  setNoDelay: () => undefined,
  write: () => false,
  pause: () => undefined,
  resume: () => undefined,
  end: () => undefined,
  destroy: () => undefined,
  on: () => undefined,
};

/** The client a transport belongs to, so its event listeners need no closure per connection. */
const kClient = Symbol("tsnats.client");
interface OwnedTransport {
  [kClient]?: Client;
}
function clientOf(transport: unknown): Client {
  return (transport as OwnedTransport)[kClient] as Client;
}
function onTransportData(this: unknown, chunk: Buffer): void {
  clientOf(this).onData(chunk);
}
function onTransportDrain(this: unknown): void {
  clientOf(this).transportDrained();
}
function onTransportError(this: unknown, err: Error): void {
  clientOf(this).transportError(err);
}
function onTransportClose(this: unknown): void {
  clientOf(this).transportClosed();
}
function onTransportEnd(this: unknown): void {
  clientOf(this).transportEnded();
}

type FieldType = "boolean" | "number" | "string";

/**
 * CONNECT's fields under lower-case names, the last of names differing only in case winning,
 * nulls left out (a null keeps the current value). Clients send lower-case names: the parsed
 * object is then used as it is (no copy per connection).
 */
function lowerCaseKeys(raw: Record<string, unknown>): Record<string, unknown> {
  let lower = true;
  for (const k in raw) {
    if (!Object.hasOwn(raw, k)) continue;
    if (k.toLowerCase() !== k) {
      lower = false;
      break;
    }
  }
  if (lower) return raw;
  const fields: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(raw)) if (v !== null) fields[k.toLowerCase()] = v;
  return fields;
}

/** A known CONNECT field: `cur` when absent or null; of the wrong type, the CONNECT fails. */
function connectField<T>(fields: Record<string, unknown>, k: string, type: FieldType, cur: T): T {
  const v = Object.hasOwn(fields, k) ? fields[k] : undefined;
  if (v === undefined || v === null) return cur;
  if (typeof v !== type || (type === "number" && !Number.isInteger(v))) {
    // Go's json.Unmarshal into nats-server's ClientOpts names the field and its Go type.
    const what = typeof v === "number" && type === "number" ? `number ${String(v)}` : goJsonKind(v);
    throw new ProtocolError("", `json: cannot unmarshal ${what} into Go struct field ClientOpts.${k} of type ${type === "number" ? "int" : type === "boolean" ? "bool" : "string"}`);
  }
  return v as T;
}

/** Credentials never reach the log: nats-server traces CONNECT with secrets redacted. */
function redactSecrets(connectJson: string): string {
  return connectJson.replace(/"(pass|auth_token|sig)"(\s*):(\s*)"(?:[^"\\]|\\.)*"/gi, '"$1"$2:$3"[REDACTED]"');
}

/** `_R_.` (service reply mappings) and `$JS.ACK.` replies belong to the server. */
/** `_GR_.` subjects are the gateways' (routed replies): clients may not publish on them (nats-server's hasGWRoutedReplyPrefix). */
function isGatewayReplySubject(subject: string): boolean {
  return subject.charCodeAt(0) === 95 /* _ */ && subject.length > 5 && subject.startsWith("_GR_.");
}

function isReservedReply(reply: string): boolean {
  const c = reply.charCodeAt(0);
  if (c === 95 /* _ */) return reply.startsWith("_R_.") || isGatewayReplySubject(reply);
  if (c === 36 /* $ */) return reply.startsWith("$JS.ACK.");
  return false;
}

/** The queue group nats-server keeps for its own subscriptions: refused to clients. */
const SYS_QUEUE = "_sys_";

function isValidQueue(q: string): boolean {
  for (let i = 0; i < q.length; i++) {
    const c = q.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 10) return false;
  }
  return q.length > 0;
}

/** The parts of a client's log tag (see Client.logPrefix). */
interface LogTagSource {
  opts: ConnectOptions;
  account: string;
  nameTag: string | undefined;
  /** The user the login found (no_auth_user counts as the user it names). */
  user: string | undefined;
  jwtKey: string | undefined;
}

function logTagText(t: LogTagSource): string {
  const o = t.opts;
  const client = [o.version ? `v${o.version}` : "", o.lang, o.name].filter((x) => x !== "").join(":");
  // The login's label as nats-server words it; no_auth_user counts as the user it names.
  const label = o.nkey
    ? `nkey:${o.nkey}`
    : o.user || (t.user !== undefined && !o.jwt && !o.authToken)
      ? `user:${o.user || t.user}`
      : o.jwt
        ? `jwt:${t.jwtKey ?? ""}`
        : o.authToken
          ? "token"
          : "";
  const accountLabel = t.nameTag ? `${t.account}/${t.nameTag}` : t.account;
  const login = label !== "" ? `${accountLabel}/${label}` : "";
  return [client, login].filter((x) => x !== "").map((x) => ` - ${goQuote(x)}`).join("");
}
