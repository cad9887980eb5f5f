// The server: listener, accounts, connections, INFO, lifecycle (start, reload, lame duck,
// shutdown). Protocol handling is in client.ts, routing in account.ts.
import { featureFlagLog, featureFlagsReported } from "./feature_flags.js";
import net from "node:net";
import fs from "node:fs";
import path from "node:path";
import type { KeyPair } from "@nats-io/nkeys";
import { ServerKeys } from "./server_keys.js";
import { Account } from "./account.js";
import { Client, type CloseReason } from "./client.js";
import type { Log } from "./log.js";
import type { ServerOptions } from "../config/options.js";
import { AuthFailure, Authenticator, newNonce, type AuthVerdict } from "../auth/authenticator.js";
import { JwtAccounts } from "../auth/jwt_accounts.js";
import { AuthCallout } from "../auth/auth_callout.js";
import { DirResolver } from "../auth/dir_resolver.js";
import { releaseAccountClaims } from "../auth/account_jwt.js";
import { loadConfigFile, validateOptions, validateWebsocket } from "../config/load.js";
import { ProtoErr } from "../protocol/errors.js";
import { NATS_FEATURE_VERSION, TSNATS_VERSION } from "./version.js";
import { JS_API_LEVEL } from "../jetstream/api_level.js";
import { pinnedKeyOf, ServerTls, tlsStateOf } from "./tls.js";
import { DeadlineQueue } from "./deadline_queue.js";
import { StallQueue, type StalledPublisher } from "./stall_queue.js";
import { deferToMicrotask } from "./microtask.js";
import { ConnectionRate } from "./connection_rate.js";
import { configureAccounts, DEFAULT_SYSTEM_ACCOUNT, GLOBAL_ACCOUNT, type AccountRegistry } from "./account_setup.js";
import { applyDefaultJsDomain, goMapText } from "../jetstream/default_domain.js";
import type { WebSocketListener, CookieCredentials } from "./websocket.js";
import type { WebSocketTransport } from "./websocket_transport.js";
import { bindHost, goListenError, invalidListenPort, peerAddress, StartError } from "./bind_address.js";
import { portsFileUrls } from "../cluster/urls.js";
import { adoptEarlyListener } from "./early_listener.js";
import { DOUBLE_ZERO } from "./double_zero.js";
import { serveTcpHandles, TcpConnection, type TcpConnectionOwner } from "./tcp_connection.js";

/** A part of the server with its own lifecycle (JetStream, monitoring, system events). */
export interface ServerService {
  readonly name: string;
  start(): Promise<void>;
  shutdown(): Promise<void>;
  /** Re-read what can change at run time. */
  reload?(options: ServerOptions): void;
  /** Last words while clients are still connected (the system account's SHUTDOWN event). */
  beforeShutdown?(): void;
  /** Just before the client listener opens (routes, when the client port is fixed: cluster.ts). */
  beforeClientListener?(): Promise<void>;
  /** The client listener is up (its port is known): start what depends on it (routes). */
  listening?(): Promise<void>;
  /** Lame duck mode begins: tell peers before clients are closed. */
  enterLameDuck?(): void;
}

/** A connection whose outbound bytes are written once per event-loop turn. */
export interface Flushable {
  dirty: boolean;
  flush(): void;
}

/** What is kept of a closed connection for /connz?state=closed. */
export interface ClosedClient {
  client: Client;
  reason: CloseReason;
}

const MAX_CLOSED_CLIENTS = 10_000;
/** How late a client's PING check or auth_timeout may come so that those due together share a timer. */
const PING_CHECK_SLACK_MS = 10;

export class Server implements TcpConnectionOwner {
  readonly id: string;
  /** The server's nkey identity and curve key (generated natively, KeyPairs built on use). */
  private readonly keys = new ServerKeys();
  /** Its public curve key. */
  readonly xkey: string;
  /** Operator mode: accounts come from JWTs (undefined in config mode). */
  readonly jwtAccounts: JwtAccounts | undefined;
  /** Sends authorization requests to auth callout services. */
  readonly authCallout = new AuthCallout(this);
  readonly name: string;
  readonly start = new Date();
  options: ServerOptions;
  readonly log: Log;
  readonly accounts = new Map<string, Account>();
  readonly globalAccount: Account;
  readonly systemAccount: Account | undefined;
  readonly clients = new Map<number, Client>();
  readonly closedClients: ClosedClient[] = [];
  /** Every client's next PING check or auth_timeout, behind one timer (those due within PING_CHECK_SLACK_MS share a firing). */
  readonly pings = new DeadlineQueue<Client>((c) => this.clientDeadline(c), PING_CHECK_SLACK_MS);
  /** Publishers held back while a receiver catches up, behind one timer. */
  readonly stalls = new StallQueue<StalledPublisher>();
  /**
   * The ServerInfo header of events this server sends (message traces, system events).
   * The system account service installs its own (with the cluster and its sequence).
   */
  eventServerInfo: () => Record<string, unknown> = () => {
    const js = this.options.jetstream.enabled;
    return {
      name: this.name,
      host: this.options.host,
      id: this.id,
      ...(this.options.jetstream.domain ? { domain: this.options.jetstream.domain } : {}),
      ver: NATS_FEATURE_VERSION,
      jetstream: js,
      flags: js ? 1 : 0,
      seq: ++this.eventSeq,
      time: new Date().toISOString(),
    };
  };
  private eventSeq = 0;
  auth: Authenticator;
  /** TLS for client connections (and HTTPS monitoring); undefined when not configured. */
  tls: ServerTls | undefined;
  /** The WebSocket listener, when `websocket {}` has a port. */
  websocket: WebSocketListener | undefined;
  readonly services: ServerService[] = [];
  /** Listeners told about connection events (system account events, monitoring). */
  readonly events = {
    connect: new Set<(c: Client) => void>(),
    disconnect: new Set<(c: Client) => void>(),
    authError: new Set<(c: Client, failure: AuthFailure | undefined) => void>(),
    /** An account's JWT was (re)applied (operator mode). */
    accountClaims: new Set<(a: Account) => void>(),
    /** An account was created (at start or later): remote interest tracking hooks in here. */
    account: new Set<(a: Account) => void>(),
  };
  /**
   * `connect_urls` of the client INFO: this server's and its cluster peers' client URLs, set by
   * the cluster once it has peers (undefined: not sent, as nats-server before any route).
   */
  connectUrls: string[] | undefined;
  /**
   * The WebSocket URLs of this server and its peers, the `connect_urls` a WebSocket client gets
   * (nats-server's ws_connect_urls): set by the cluster once a peer gossiped some.
   */
  wsConnectUrls: string[] | undefined;

  private listener: net.Server | undefined;
  /** Plain TCP connections served from their handle (tcp_connection.ts) whose handle is not closed yet. */
  private tcpOpen = 0;
  /** Shutdown waits for the last of them to close, as a net.Server's close waits for its sockets. */
  private tcpAllClosed: (() => void) | undefined;
  private nextCid = 0;
  /** Connections with bytes to write at the end of this turn: dirty[0, dirtyCount). */
  private dirty: Array<Flushable | undefined> = [];
  private dirtyCount = 0;
  private flushScheduled = false;
  /** Socket reads being handled (readStarted/readDone): nested only by a read that reads another. */
  private readDepth = 0;
  private housekeeping: NodeJS.Timeout | undefined;
  private portsFile: string | undefined;
  private listenersReady = false;
  private shuttingDown = false;
  lameDuck = false;
  configLoadTime = new Date();

  totalConnections = 0;
  inMsgs = DOUBLE_ZERO;
  inBytes = DOUBLE_ZERO;
  outMsgs = DOUBLE_ZERO;
  outBytes = DOUBLE_ZERO;
  /** The part of the four counts above that routes, gateways and leaf nodes carried (/varz *_client_* is the rest). */
  inRemoteMsgs = DOUBLE_ZERO;
  inRemoteBytes = DOUBLE_ZERO;
  outRemoteMsgs = DOUBLE_ZERO;
  outRemoteBytes = DOUBLE_ZERO;
  slowConsumers = 0;
  /** Slow consumer events of server connections (routes, gateways, leaf nodes), by kind. */
  readonly remoteSlowConsumers = { routes: 0, gateways: 0, leafs: 0 };
  /** Connections closed as stale (PINGs unanswered), by kind. */
  readonly staleConnections = { clients: 0, routes: 0, gateways: 0, leafs: 0 };
  /** Times a client publisher was held back for a slow receiver (/varz stalled_clients). */
  stalledClients = 0;

  /** Traffic with clients only: the totals less what routes, gateways and leaf nodes carried. */
  clientTraffic(): { inMsgs: number; inBytes: number; outMsgs: number; outBytes: number } {
    return { inMsgs: this.inMsgs - this.inRemoteMsgs, inBytes: this.inBytes - this.inRemoteBytes, outMsgs: this.outMsgs - this.outRemoteMsgs, outBytes: this.outBytes - this.outRemoteBytes };
  }

  get staleConnectionsTotal(): number {
    const s = this.staleConnections;
    return s.clients + s.routes + s.gateways + s.leafs;
  }
  /** tls { connection_rate_limit }: new TLS client connections per second. */
  private tlsRate: ConnectionRate | undefined;
  /** Bound port, once listening. */
  port = 0;
  host = "";

  constructor(options: ServerOptions, log: Log) {
    this.options = options;
    this.log = log;
    this.xkey = this.keys.xkey;
    this.id = this.keys.id;
    this.name = options.serverName ?? this.id;
    this.globalAccount = this.registerAccount(GLOBAL_ACCOUNT);
    configureAccounts(options, this.accountRegistry);
    const operatorMode = options.operatorJwts.length > 0 || options.trustedKeys.length > 0;
    if (operatorMode) this.jwtAccounts = new JwtAccounts(this, options);
    const sysName = options.systemAccount ?? DEFAULT_SYSTEM_ACCOUNT;
    this.systemAccount = options.noSystemAccount ? undefined : this.registerAccount(sysName);
    if (this.systemAccount !== undefined) this.systemAccount.isSystem = true;
    this.auth = this.newAuthenticator(options);
    // Account JWTs replace an account's mappings: its default domain's come back after them.
    this.events.accountClaims.add((acc) => applyDefaultJsDomain(acc, this.options, this.log));
  }

  /** The server's nkey identity: signs what it sends as the server (auth callout requests). */
  get keyPair(): KeyPair {
    return this.keys.keyPair;
  }

  /** The server's curve key: encrypts auth callout requests for services that ask for it. */
  get xkeyPair(): KeyPair {
    return this.keys.xkeyPair;
  }

  private newAuthenticator(options: ServerOptions): Authenticator {
    return new Authenticator(
      options,
      (n) => this.lookupAccount(n),
      this.globalAccount,
      this.jwtAccounts,
      this.authCallout,
      (n) => this.accounts.get(n),
    );
  }

  /** Operator mode: the system account is an account JWT too, and must resolve before start. */
  private async resolveSystemAccount(): Promise<void> {
    const jwt = this.jwtAccounts;
    const sys = this.systemAccount;
    if (jwt === undefined || sys === undefined || sys.name === "$SYS") return;
    jwt.checkPreloads(this.options);
    try {
      await jwt.lookup(sys.name);
    } catch (err) {
      throw new Error(`error resolving system account: ${(err as Error).message}`);
    }
  }

  registerAccount(name: string): Account {
    let acc = this.accounts.get(name);
    if (acc === undefined) {
      acc = new Account(name, !this.options.disableSublistCache);
      acc.log = this.log;
      acc.services = this.services;
      acc.clusterName = () => (this.services.find((s) => s.name === "cluster") as { clusterName?: string } | undefined)?.clusterName;
      this.accounts.set(name, acc);
      for (const l of this.events.account) l(acc);
    }
    return acc;
  }

  lookupAccount(name: string): Account {
    return this.accounts.get(name) ?? this.registerAccount(name);
  }

  /**
   * The account a route's interest names (nats-server's LookupAccount on RS+). Operator mode
   * loads accounts on first use, so a peer may announce interest in one this server has not
   * loaded yet: it is loaded from the resolver now. Dropping the interest instead left this
   * server's clients of that account unable to reach the peer's subscribers for good (the
   * peer announces once): `$JS.API` requests to another server of a JetStream cluster timed
   * out. A resolver that answers later gets a placeholder that holds the interest meanwhile,
   * completed when the fetch started here returns (a login fetches again if it failed), as
   * nats-server's incomplete account; a name the memory resolver does not know stays unknown.
   */
  accountForPeer(name: string): Account | undefined {
    const known = this.accounts.get(name);
    if (known !== undefined || this.jwtAccounts === undefined) return known;
    let found: Account | Promise<Account>;
    try {
      found = this.jwtAccounts.lookup(name);
    } catch {
      return undefined;
    }
    if (!(found instanceof Promise)) return found;
    found.catch(() => undefined);
    return this.registerAccount(name);
  }


  /** The accounts as the account model's setup sees them. */
  get accountRegistry(): AccountRegistry {
    return { register: (n) => this.registerAccount(n), lookup: (n) => this.accounts.get(n) };
  }

  get clientUrl(): string {
    return `nats://${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}`;
  }

  async startServer(): Promise<void> {
    for (const w of this.options.warnings) this.log.warn(w);
    if (Object.keys(this.options.defaultJsDomain ?? {}).length > 0) {
      this.log.warn("The option `default_js_domain` is a temporary backwards compatibility measure and will be removed");
    }
    this.log.info(`Starting tsnats-server`);
    this.log.info(`  Version:  ${TSNATS_VERSION} (NATS protocol level ${NATS_FEATURE_VERSION})`);
    this.log.info(`  Node:     ${process.version}`);
    this.log.info(`  Name:     ${this.name}`);
    this.log.info(`  ID:       ${this.id}`);
    if (this.options.configFile) this.log.info(`Using configuration file: ${this.options.configFile}`);
    if (featureFlagsReported()) {
      const ff = featureFlagLog(this.options.featureFlags);
      for (const l of ff.info) this.log.info(l);
      for (const l of ff.warn) this.log.warn(l);
    }
    // Before services start: HTTPS monitoring serves with the same context.
    this.tls = ServerTls.fromOptions(this.options.tls);
    const rate = this.options.tls?.rateLimit;
    if (rate !== undefined && rate > 0) this.tlsRate = new ConnectionRate(rate);
    await this.resolveSystemAccount();
    for (const acc of this.accounts.values()) applyDefaultJsDomain(acc, this.options, this.log);
    if (this.options.pidFile) fs.writeFileSync(this.options.pidFile, String(process.pid));
    const ws = this.options.websocket;
    if (ws !== undefined && ws.port !== 0) {
      // Checked here too: embedded servers do not go through the command line's validation.
      validateWebsocket(this.options, ws);
      // Loaded only here: the listener brings node:http and its upgrade handling.
      const { WebSocketListener } = await import("./websocket.js");
      this.websocket = new WebSocketListener(this, ws);
    }
    for (const svc of this.services) await svc.start();
    await this.websocket?.listen();
    for (const svc of this.services) await svc.beforeClientListener?.();
    await this.listen();
    for (const svc of this.services) await svc.listening?.();
    this.housekeeping = setInterval(() => this.tick(), 1000);
    this.housekeeping.unref();
    this.listenersReady = true;
    this.writePortsFile();
    this.log.info("Server is ready");
  }

  private async listen(): Promise<void> {
    const port = this.options.port === -1 ? 0 : this.options.port;
    // nats-server's words when the listener cannot be had, the port as it tried it (-1 is 0).
    const refused = (why: string): StartError => new StartError(`Error listening on port: ${this.options.host}:${port}, ${JSON.stringify(why)}`);
    const invalid = invalidListenPort(this.options.port);
    if (invalid !== undefined) throw refused(invalid);
    // The command line's entry may have bound this port already (server/early_listener.ts).
    const early = await adoptEarlyListener(this.options.host, port);
    return new Promise((resolve, reject) => {
      let srv: net.Server;
      if (early !== undefined) {
        srv = early.server;
        srv.on("connection", (socket: net.Socket) => this.accept(socket));
      } else {
        srv = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
      }
      srv.maxConnections = Number.MAX_SAFE_INTEGER;
      const failed = (err: NodeJS.ErrnoException): void => reject(refused(goListenError(this.options.host, port, err)));
      srv.once("error", failed);
      const listening = (): void => {
        srv.removeListener("error", failed);
        srv.on("error", (err) => this.log.error(`Client listener error: ${err.message}`));
        const addr = srv.address() as net.AddressInfo;
        this.port = addr.port;
        this.host = this.options.host;
        this.listener = srv;
        // Plain connections skip the net.Socket Node would make of them; TLS ones need it.
        serveTcpHandles(srv, this, () => this.tls !== undefined, (conn) => this.acceptTcp(conn));
        this.log.info(`Listening for client connections on ${this.options.host}:${this.port}`);
        const tls = this.tls;
        if (tls !== undefined) {
          // "TLS Handshake First" without a fallback always requires the handshake, allow_non_tls or not.
          const firstOnly = tls.handshakeFirst && tls.handshakeFirstFallbackMs === 0;
          this.log.info(`TLS ${this.options.allowNonTls && !firstOnly ? "available" : "required"} for client connections`);
          if (firstOnly) this.log.warn('Clients that are not using "TLS Handshake First" option will fail to connect');
        }
        resolve();
      };
      if (early !== undefined) {
        listening();
        // Served once port and host are set: their INFO names them.
        this.log.debug(`Serving the client listener opened at start-up (${early.waiting.length} connection(s) waiting)`);
        for (const socket of early.waiting) this.accept(socket);
      } else srv.listen({ host: bindHost(this.options.host), port, backlog: 4096 }, listening);
    });
  }

  /** Extra fields for the ports file and /varz, filled in by services (monitoring). */
  readonly portsFileExtras: Record<string, string[]> = {};

  /** Write the ports file (when configured); services call it again when their extras change. */
  writePortsFile(): void {
    const dir = this.options.portsFileDir;
    if (!dir || !this.listenersReady || this.shuttingDown) return;
    const data: Record<string, string[]> = { nats: portsFileUrls("nats", this.options.host, this.port), ...this.portsFileExtras };
    if (this.websocket !== undefined) data.websocket = portsFileUrls(this.websocket.scheme, this.websocket.host, this.websocket.port);
    const base = path.basename(process.argv[1] ?? "nats-server").replace(/\.js$/, "");
    // Client test harnesses look for nats-server_<pid>.ports; keep that name.
    const file = path.join(dir, `${base.startsWith("tsnats") ? "nats-server" : base}_${process.pid}.ports`);
    fs.mkdirSync(dir, { recursive: true });
    // Harnesses poll for the file and read it as soon as it exists: it must appear whole.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(data));
    fs.renameSync(`${file}.tmp`, file);
    this.portsFile = file;
  }

  /** The INFO object; per-client fields are added by `infoFor`. */
  info(): Record<string, unknown> {
    const o = this.options;
    const info: Record<string, unknown> = {
      server_id: this.id,
      server_name: this.name,
      version: NATS_FEATURE_VERSION,
      proto: 1,
      go: `node${process.version}`,
      host: o.host,
      port: this.port,
      headers: !o.noHeaderSupport,
      ...this.tls?.infoFields(this.options.allowNonTls === true),
      max_payload: o.maxPayload,
    };
    if (this.auth.required) info.auth_required = true;
    if (o.jetstream.enabled) info.jetstream = true;
    // nats-server 2.11+ states its JetStream API level to every client, with or without JetStream.
    if (JS_API_LEVEL > 0) info.api_lvl = JS_API_LEVEL;
    info.xkey = this.xkey;
    if (o.jetstream.domain) info.domain = o.jetstream.domain;
    if (this.connectUrls !== undefined && this.connectUrls.length > 0) info.connect_urls = this.connectUrls;
    if (this.lameDuck) info.ldm = true;
    info.tsnats_version = TSNATS_VERSION;
    return info;
  }

  /** The INFO a client gets (its listener may adjust host, port and TLS fields). */
  infoFor(c: Client): Record<string, unknown> {
    const info = this.infoForConnection(c.cid, c.host, c.nonce);
    if (info.auth_required === undefined && this.auth.requiredFor(c.connectionType)) info.auth_required = true;
    if (c.connectionType === "WEBSOCKET") this.websocket?.adjustInfo(info);
    return info;
  }

  /**
   * The server's part of the INFO, encoded as `INFO {...` without the closing brace, and what
   * it was made from.
   */
  private infoCache: InfoCache | undefined;

  /**
   * The bytes every plain TCP client's INFO begins with: the server's part is serialized and
   * encoded once and reused while it stays the same; a client's INFO adds only its own fields
   * (`clientInfoTail`), so each connection encodes a few dozen bytes instead of the whole INFO.
   * What `info()` reads is replaced, never changed in place (options, TLS and authentication
   * on reload, connect_urls with the cluster, lame duck), so the cache is checked by those
   * inputs alone: building info() for the check was most of a connection's INFO cost.
   */
  private infoHead(): Buffer {
    const cache = this.infoCache;
    if (
      cache !== undefined &&
      cache.options === this.options &&
      cache.tls === this.tls &&
      cache.auth === this.auth &&
      cache.port === this.port &&
      cache.connectUrls === this.connectUrls &&
      cache.lameDuck === this.lameDuck
    ) {
      return cache.head;
    }
    const json = JSON.stringify(this.info());
    const head = Buffer.from(`INFO ${json.slice(0, -1)}`);
    this.infoCache = { options: this.options, tls: this.tls, auth: this.auth, port: this.port, connectUrls: this.connectUrls, lameDuck: this.lameDuck, head };
    return head;
  }

  /** The client's own INFO fields after the server's part, without the closing brace; the nonce unless `withNonce` is false. */
  private clientInfoTail(c: Client, withNonce: boolean): string {
    let json = `,"client_id":${c.cid},"client_ip":${JSON.stringify(c.host)}`;
    if (withNonce && c.nonce !== undefined) json += `,"nonce":${JSON.stringify(c.nonce)}`;
    if (!this.auth.required && this.auth.requiredFor(c.connectionType)) json += `,"auth_required":true`;
    return json;
  }

  /** Queue the INFO a plain TCP client gets on connecting (what `infoFor` gives). */
  private sendClientInfo(c: Client): void {
    c.sendInfoParts(this.infoHead(), `${this.clientInfoTail(c, true)}}`);
  }

  /**
   * Queue the INFO answering a client's first PING after CONNECT (`connectInfoFor`): every
   * connection sends one first PING, so this is part of each connection's set-up.
   */
  sendConnectInfo(c: Client): void {
    if (c.connectionType === "WEBSOCKET") {
      c.sendInfo(this.connectInfoFor(c));
      return;
    }
    let tail = `${this.clientInfoTail(c, false)},"connect_info":true,"remote_account":${JSON.stringify(c.account.name)}`;
    if (c.account.isSystem) tail += `,"acc_is_sys":true`;
    c.sendInfoParts(this.infoHead(), `${tail}}`);
  }

  /**
   * The INFO answering a client's first PING after CONNECT (nats-server 2.15): the server's
   * INFO with the account the client is bound to; no nonce, it was for the login.
   */
  connectInfoFor(c: Client): Record<string, unknown> {
    const info = this.infoFor(c);
    delete info.nonce;
    info.connect_info = true;
    info.remote_account = c.account.name;
    if (c.account.isSystem) info.acc_is_sys = true;
    return info;
  }

  private infoForConnection(cid: number, host: string, nonce: string | undefined): Record<string, unknown> {
    const info = this.info();
    info.client_id = cid;
    info.client_ip = host;
    if (nonce !== undefined) info.nonce = nonce;
    return info;
  }

  private accept(socket: net.Socket): void {
    if (this.shuttingDown || this.lameDuck) {
      socket.destroy();
      return;
    }
    const cid = this.newCid();
    const tls = this.tls;
    const nonce = this.auth.nonceRequired ? newNonce() : undefined;
    if (tls === undefined) {
      // The client's own error listener is on before any error can be emitted (they come on a later tick).
      this.startClient(socket, cid, nonce, false);
      return;
    }
    socket.on("error", ignoreError);
    // With TLS, INFO goes out in plain text and the client then starts the handshake on this
    // connection, unless the handshake comes first (INFO then follows over TLS). With a
    // fallback delay, a client that sends nothing in that time gets INFO the usual way.
    const infoFirst = (): void => {
      socket.write(`INFO ${JSON.stringify(this.infoForConnection(cid, peerAddress(socket.remoteAddress), nonce))} \r\n`);
      if (!this.options.allowNonTls) this.startTls(socket, cid, nonce, false);
      // allow_non_tls: the client's first byte says which it chose (0x16 begins a TLS handshake).
      else afterFirstBytes(socket, tls.timeoutMs, (first) => (first === 0x16 ? this.startTls(socket, cid, nonce, false) : this.startClient(socket, cid, nonce, true)));
    };
    if (!tls.handshakeFirst) infoFirst();
    else if (tls.handshakeFirstFallbackMs === 0) this.startTls(socket, cid, nonce, true);
    else afterFirstBytes(socket, tls.handshakeFirstFallbackMs, (first) => (first !== undefined ? this.startTls(socket, cid, nonce, true) : infoFirst()));
  }

  /** A plain TCP connection served from its handle (no TLS configured). */
  private acceptTcp(conn: TcpConnection): void {
    this.tcpOpen++;
    if (this.shuttingDown || this.lameDuck) {
      conn.destroy();
      return;
    }
    this.startClient(conn, this.newCid(), this.auth.nonceRequired ? newNonce() : undefined, false);
  }

  tcpConnectionClosed(): void {
    if (--this.tcpOpen === 0 && this.tcpAllClosed !== undefined) this.tcpAllClosed();
  }

  /** Resolves once every connection served from its handle is closed. */
  private tcpConnectionsClosed(): Promise<void> | undefined {
    if (this.tcpOpen === 0) return undefined;
    return new Promise((resolve) => {
      this.tcpAllClosed = resolve;
    });
  }

  /** A client over plain TCP (no TLS configured, or allow_non_tls and the client chose plain). */
  private startClient(socket: net.Socket | TcpConnection, cid: number, nonce: string | undefined, infoSent: boolean): void {
    const client = new Client(this, cid, socket, this.globalAccount);
    client.nonce = nonce;
    if (!infoSent) this.sendClientInfo(client);
    // A socket reads from its creation on; only one that afterFirstBytes paused needs resuming.
    if (this.admit(client) && socket instanceof net.Socket && socket.isPaused()) socket.resume();
  }

  /** A client whose TLS handshake starts now; `tlsFirst`: its INFO goes out over TLS. */
  private startTls(socket: net.Socket, cid: number, nonce: string | undefined, tlsFirst: boolean): void {
    const tls = this.tls as ServerTls;
    if (this.tlsRate !== undefined && !this.tlsRate.allow()) {
      const refused = new Client(this, cid, socket, this.globalAccount);
      if (!this.admit(refused)) return;
      refused.sendErr("Connection throttling is active. Please try again later.");
      refused.close("Maximum Connections Exceeded");
      return;
    }
    const conn = tls.wrapClient(socket);
    // Decrypted bytes land in the shared read buffer too (the TLS socket starts reading on the next tick).
    const client = new Client(this, cid, conn, this.globalAccount);
    client.nonce = nonce;
    if (tlsFirst) {
      const info = this.infoFor(client);
      delete info.tls_available;
      info.tls_required = true;
      client.sendInfo(info);
    }
    if (!this.admit(client)) return;
    tls.watchHandshake(client, conn, this.log);
  }

  /**
   * A connection upgraded by the WebSocket listener becomes a client like any other (its
   * INFO names the listener). Undefined when it was refused.
   */
  acceptWebSocket(
    transport: WebSocketTransport,
    cookies: CookieCredentials,
  ): Client | undefined {
    if (this.shuttingDown || this.lameDuck) {
      transport.destroy();
      return undefined;
    }
    const client = new Client(this, ++this.nextCid, transport, this.globalAccount, "WEBSOCKET");
    transport.closeReason = () => client.closeReason;
    client.nonce = this.auth.nonceRequired ? newNonce() : undefined;
    client.connectDefaults = cookies;
    client.sendInfo(this.infoFor(client));
    return this.admit(client) ? client : undefined;
  }

  /** Count a new connection and register it, unless max_connections is reached. */
  private admit(client: Client): boolean {
    this.totalConnections++;
    if (this.clients.size >= this.options.maxConnections) {
      this.log.error(`${client.logPrefix()} - maximum connections exceeded`);
      client.sendErr(ProtoErr.MaxConnections);
      client.close("Maximum Connections Exceeded");
      return false;
    }
    this.clients.set(client.cid, client);
    this.globalAccount.clients.add(client);
    if (this.log.debugEnabled) this.log.debug(`${client.logPrefix()} - Client connection created`);
    return true;
  }

  moveClient(c: Client, to: Account): void {
    c.account.clients.delete(c);
    c.account = to;
    to.clients.add(c);
  }

  onClientConnected(c: Client): void {
    for (const l of this.events.connect) l(c);
  }

  onAuthError(c: Client, failure?: AuthFailure): void {
    for (const l of this.events.authError) l(c, failure);
  }

  onSlowConsumer(c: Client): void {
    this.slowConsumers++;
    c.account.slowConsumers++;
  }

  onClientClosed(c: Client): void {
    if (!this.clients.delete(c.cid)) return;
    c.account.clients.delete(c);
    this.closedClients.push({ client: c, reason: c.closeReason ?? "Client Closed" });
    if (this.closedClients.length > MAX_CLOSED_CLIENTS) this.closedClients.shift();
    if (this.log.debugEnabled) this.log.debug(`${c.logPrefix()} - Client connection closed: ${c.closeReason}`);
    if (c.connectReceived) for (const l of this.events.disconnect) l(c);
  }

  /** A connection id, shared by clients and the connections to other servers (as nats-server). */
  newCid(): number {
    return ++this.nextCid;
  }

  /** Queue a connection for the end-of-turn flush. */
  markDirty(c: Flushable): void {
    this.dirty[this.dirtyCount++] = c;
    // Inside a connection's read the read's end flushes (readDone); otherwise the end of the
    // current job does, through a microtask.
    if (!this.flushScheduled && this.readDepth === 0) {
      this.flushScheduled = true;
      deferToMicrotask(this.flushDirty);
    }
  }

  /**
   * A connection starts handling one socket read. What the read makes dirty is flushed when it
   * is done (readDone), which is when the microtask would have run anyway (Node runs the
   * microtasks after every read callback): the same writes, without queueing a microtask per
   * read (a promise, a reaction and a job: about 100 bytes each, a tenth of what a
   * request/reply allocated).
   */
  readStarted(): void {
    this.readDepth++;
  }

  /**
   * A client's PING check or auth_timeout is due. What it writes is flushed at its end, as a
   * read's writes are: no microtask per timer turn, and the same write path as replies (the
   * first PING, 2 s after CONNECT, otherwise took markDirty's microtask branch for the first
   * time and deoptimized it).
   */
  private clientDeadline(c: Client): void {
    this.readStarted();
    try {
      c.onDeadline();
    } finally {
      this.readDone();
    }
  }

  /** The read that readStarted announced is handled: flush what it made dirty. */
  readDone(): void {
    if (--this.readDepth !== 0 || this.dirtyCount === 0 || this.flushScheduled) return;
    try {
      this.flushDirty();
    } catch (err) {
      // As a throw from the microtask would be (an unhandled rejection): logged, not fatal.
      this.log.error(`Flush failed: ${(err as Error)?.stack ?? String(err)}`);
    }
  }

  /**
   * The connections being flushed. The two lists take turns and keep their backing stores
   * (emptied by count and slot, never by `length = 0`, which would free the store and make
   * the next turn's first markDirty allocate a new one).
   */
  private flushing: Array<Flushable | undefined> = [];

  private readonly flushDirty = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    const n = this.dirtyCount;
    this.dirty = this.flushing;
    this.dirtyCount = 0;
    this.flushing = list;
    let i = 0;
    try {
      for (; i < n; i++) {
        const c = list[i] as Flushable;
        list[i] = undefined;
        c.flush();
      }
    } finally {
      // A flush that threw leaves the rest for the next turn (they are still marked dirty).
      for (i++; i < n; i++) {
        const c = list[i] as Flushable;
        list[i] = undefined;
        this.markDirty(c);
      }
    }
  };

  private tick(): void {
    const now = Date.now();
    for (const c of this.clients.values()) c.checkWriteDeadline(now);
    const refused = this.tlsRate?.takeRefused() ?? 0;
    if (refused > 0) this.log.warn(`Rejected ${refused} connections due to TLS rate limiting`);
  }

  /**
   * Send the current INFO to clients that understand async INFO (protocol >= 1) once they are
   * registered (their first PING answered, as nats-server): to TCP clients, WebSocket clients
   * or both, as their connect URLs changed.
   */
  broadcastInfo(to: { clients: boolean; websocket: boolean } = { clients: true, websocket: true }): void {
    for (const c of this.clients.values()) {
      if (c.opts.protocol < 1 || !c.connectInfoSent) continue;
      if (c.connectionType === "WEBSOCKET" ? to.websocket : to.clients) c.sendInfo(this.infoFor(c));
    }
  }

  /**
   * How to rebuild the options on reload. The binary sets this to "config file, then the
   * same command-line flags"; by default the config file alone is read again.
   */
  configReloader: (() => ServerOptions) | undefined;

  /** Re-read the configuration (SIGHUP, `--signal reload`, $SYS RELOAD) and apply it. */
  reloadConfig(): string[] {
    let next: ServerOptions;
    if (this.configReloader !== undefined) next = this.configReloader();
    else {
      const file = this.options.configFile;
      if (!file) throw new Error("can only reload config when a file is provided using -c or --config");
      next = loadConfigFile(file);
      next.configFile = file;
    }
    validateOptions(next);
    return this.reload(next);
  }

  /** Apply a reloaded configuration: what nats-server can change at run time. */
  reload(next: ServerOptions): string[] {
    const notApplied: string[] = [];
    const cur = this.options;
    // Built first: unreadable certificates fail the reload before anything is applied.
    const nextTls = ServerTls.fromOptions(next.tls);
    const applyWebsocket = this.websocket?.prepareReload(next.websocket);
    if (this.websocket === undefined && next.websocket !== undefined && next.websocket.port !== 0) {
      throw new Error("config reload not supported for websocket");
    }
    if (gatewayChanged(cur, next)) throw new Error("config reload not supported for Gateway");
    if (goMapText(cur.defaultJsDomain) !== goMapText(next.defaultJsDomain)) {
      throw new Error(`config reload not supported for JsAccDefaultDomain: old=${goMapText(cur.defaultJsDomain)}, new=${goMapText(next.defaultJsDomain)}`);
    }
    if (next.port !== cur.port && next.port !== -1) notApplied.push("port");
    if (next.host !== cur.host) notApplied.push("host");
    if (next.jetstream.storeDir !== cur.jetstream.storeDir && cur.jetstream.enabled) notApplied.push("jetstream.store_dir");
    // The trust root is fixed for the life of the process.
    if (JSON.stringify([next.operatorJwts, next.trustedKeys]) !== JSON.stringify([cur.operatorJwts, cur.trustedKeys])) notApplied.push("operator");
    const keep = {
      port: cur.port,
      host: cur.host,
      jetstream: cur.jetstream,
      operatorJwts: cur.operatorJwts,
      trustedKeys: cur.trustedKeys,
      // The listener keeps its block; only its TLS can change (prepareReload).
      websocket: cur.websocket !== undefined && next.websocket !== undefined ? { ...cur.websocket, tls: next.websocket.tls } : cur.websocket,
    };
    this.options = { ...next, ...keep };
    // New connections use the new certificates; established ones keep their session.
    this.tls = nextTls;
    applyWebsocket?.();
    this.log.setOptions?.(this.options);
    // Accounts are updated in place: their clients stay, their imports, exports and mappings are replaced.
    configureAccounts(this.options, this.accountRegistry);
    for (const acc of this.accounts.values()) applyDefaultJsDomain(acc, this.options, this.log);
    this.reloadAccountJwts(next);
    this.auth = this.newAuthenticator(this.options);
    // Clients whose credentials no longer authenticate, or now map to another account, are
    // disconnected; the others keep their connection with the new limits and permissions.
    for (const c of [...this.clients.values()]) {
      c.applyOptions(this.options);
      // pinned_certs changed: connections whose certificate is no longer pinned go.
      const pinned = (c.connectionType === "WEBSOCKET" ? this.websocket?.tlsConfig : this.tls)?.pinnedCerts;
      const tlsState = tlsStateOf(c);
      if (pinned !== undefined && tlsState !== undefined && pinnedKeyOf(tlsState.peerCertificate, pinned) === undefined) {
        this.log.error(`${c.logPrefix()} - TLS handshake error: certificate not pinned`);
        c.close("TLS Handshake Failure");
        continue;
      }
      if (!c.connectReceived) continue;
      const recheck = (r: AuthVerdict): void => {
        if (c.closed) return;
        if (r === undefined || r instanceof AuthFailure || r.account !== c.account) {
          if (r instanceof AuthFailure && this.log.debugEnabled) this.log.debug(`${c.logPrefix()} - ${r.reason}`);
          c.authViolation();
        } else {
          c.setPermissions(r.permissions);
        }
      };
      // bcrypt-hashed secrets are checked off the main thread, so their verdict arrives later.
      const outcome = this.auth.authenticate(c);
      if (outcome instanceof Promise) void outcome.then(recheck);
      else recheck(outcome);
    }
    if (next.maxPayload !== cur.maxPayload || next.noHeaderSupport !== cur.noHeaderSupport) this.broadcastInfo();
    for (const svc of this.services) svc.reload?.(this.options);
    this.configLoadTime = new Date();
    this.log.info("Reloaded server configuration");
    for (const n of notApplied) this.log.warn(`Config reload: ${n} can not be changed at run time; restart to apply`);
    return notApplied;
  }

  /**
   * Operator mode reload: the memory resolver takes the new `resolver_preload`, and every
   * account in use is brought to its (possibly new) JWT; accounts whose JWT is gone are
   * dropped, so their users fail the re-authentication that follows.
   */
  private reloadAccountJwts(next: ServerOptions): void {
    const jwt = this.jwtAccounts;
    if (jwt === undefined) return;
    jwt.reloadOptions(next);
    if (!jwt.resolver.readOnly) jwt.preload(next);
    // The NATS-based resolvers re-read their directory: changed JWTs apply to accounts in use.
    if (jwt.resolver instanceof DirResolver) jwt.resolver.store.reload();
    if (jwt.resolver.type !== "memory") return;
    jwt.checkPreloads(next);
    for (const acc of [...this.accounts.values()]) {
      if (acc.claims === undefined) continue;
      try {
        const r = jwt.fetchVerified(acc.name);
        if (r instanceof Promise) continue; // the memory resolver answers at once
        jwt.apply(acc, r.token, r.claims);
      } catch (err) {
        const why = (err as Error).message === "account missing" ? "removed" : "bad claims";
        this.log.info(`Reloaded: deleting account [${why}]: ${JSON.stringify(acc.name)}`);
        releaseAccountClaims(acc);
        this.accounts.delete(acc.name);
      }
    }
  }

  /**
   * Lame duck mode: stop accepting, tell clients (ldm in INFO) so they reconnect elsewhere,
   * then close them spread over the lame duck duration and shut down.
   */
  async enterLameDuckMode(): Promise<void> {
    if (this.lameDuck || this.shuttingDown) return;
    this.lameDuck = true;
    this.log.info("Entering lame duck mode, stop accepting new clients");
    this.listener?.close();
    for (const svc of this.services) svc.enterLameDuck?.();
    void this.websocket?.close();
    this.broadcastInfo();
    const grace = this.options.lameDuckGracePeriodMs;
    const duration = Math.max(0, this.options.lameDuckDurationMs - grace);
    await sleep(Math.min(grace, this.options.lameDuckDurationMs));
    const clients = [...this.clients.values()];
    if (clients.length > 0) this.log.info("Closing existing clients");
    // As nats-server: the closes are spread over the duration, but never more than a second
    // apart (a few clients need not wait out a 2-minute duration), each pause a random part of
    // the step so that reconnecting clients do not arrive in lockstep, and none after the last.
    const step = Math.min(duration / Math.max(clients.length, 1), 1000);
    for (let i = 0; i < clients.length; i++) {
      clients[i].close("Lame Duck Mode");
      if (i < clients.length - 1 && step >= 1) await sleep(step / 2 + Math.random() * (step / 2));
    }
    await this.shutdown();
  }

  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info("Initiating Shutdown...");
    if (this.housekeeping !== undefined) clearInterval(this.housekeeping);
    const listener = this.listener;
    this.listener = undefined;
    const listenerClosed = listener !== undefined && listener.listening ? new Promise<void>((r) => listener.close(() => r())) : undefined;
    const websocketClosed = this.websocket?.close();
    for (const svc of this.services) svc.beforeShutdown?.();
    for (const c of [...this.clients.values()]) c.close("Server Shutdown");
    // Asked once every client is closing (connections not yet admitted are closing already).
    const closed = Promise.all([listenerClosed, websocketClosed, this.tcpConnectionsClosed()]);
    this.pings.stop();
    this.stalls.stop();
    for (const svc of [...this.services].reverse()) {
      try {
        await svc.shutdown();
      } catch (err) {
        this.log.error(`Error stopping ${svc.name}: ${(err as Error).message}`);
      }
    }
    await closed;
    for (const acc of this.accounts.values()) {
      acc.close();
      releaseAccountClaims(acc);
    }
    this.jwtAccounts?.resolver.close();
    if (this.portsFile) fs.rmSync(this.portsFile, { force: true });
    if (this.options.pidFile) fs.rmSync(this.options.pidFile, { force: true });
    this.log.info("Server Exiting..");
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}

/** The encoded head of the server's INFO and the inputs of `Server.info()` it was made from. */
interface InfoCache {
  options: ServerOptions;
  tls: ServerTls | undefined;
  auth: Authenticator;
  port: number;
  connectUrls: string[] | undefined;
  lameDuck: boolean;
  head: Buffer;
}

/** Errors before a connection has its client (the client's own listener takes over then). */
function ignoreError(): void {}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Call `then` with the first byte the peer sends (undefined if nothing comes within `ms`),
 * leaving that data unread on the paused socket for whoever reads it next.
 */
function afterFirstBytes(socket: net.Socket, ms: number, then: (first: number | undefined) => void): void {
  const done = (): void => {
    clearTimeout(timer);
    socket.removeListener("data", onData);
    socket.removeListener("close", onClose);
  };
  const onData = (chunk: Buffer): void => {
    done();
    socket.pause();
    socket.unshift(chunk);
    then(chunk[0]);
  };
  const onClose = (): void => done();
  const timer = setTimeout(() => {
    done();
    socket.pause();
    then(undefined);
  }, ms);
  socket.on("data", onData);
  socket.once("close", onClose);
}

/** A gateway setting other than TLS changed (nats-server refuses such a reload; TLS applies to new connections). */
function gatewayChanged(cur: ServerOptions, next: ServerOptions): boolean {
  const strip = (o: ServerOptions): string => {
    const g = o.gateway;
    if (g === undefined) return "";
    const { tls: _tls, solicitDelayMs: _d, forceInterestOnly: _f, maxNoInterestBeforeSwitch: _m, ...rest } = g;
    return JSON.stringify({ ...rest, gateways: g.gateways.map(({ tls: _t, ...r }) => r) });
  };
  return strip(cur) !== strip(next);
}
