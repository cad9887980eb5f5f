// Leaf nodes: the leafnode listener (this server as a hub), the remotes this server connects to
// (as a leaf), the registry of leaf connections per account, who may log in as a leaf node and
// to which account it is bound, and loop detection.
import net from "node:net";
import type tls from "node:tls";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { createRequire } from "node:module";
import type WebSocket from "ws";
import type { Server, ServerService } from "../server/server.js";
import type { ServerOptions } from "../config/options.js";
import type { Account } from "../server/account.js";
import type { LeafNodeOptions } from "../config/options.js";
import { ProtoErr } from "../protocol/errors.js";
import { newNonce } from "../auth/authenticator.js";
import { LeafConnection, LDS_PREFIX, credentialsOf, type LeafConnect, type LeafRemote } from "./leafnode.js";
import { passwordMatches, serverInfoHead } from "./handshake.js";
import { LeafInterest } from "./interest.js";
import { clusterOf } from "./cluster.js";
import { hostPort, listenUrls, portsFileUrls } from "./urls.js";
import { ServerTls } from "../server/tls.js";
import type { RoutedReplySender } from "./gateway_reply.js";
import { WebSocketTransport } from "../server/websocket_transport.js";
import { clientTlsContext } from "../server/tls.js";
import { isWebSocketUrl } from "../config/leafnodes.js";
import { ListenerTimers } from "./timers.js";
import { anyEmptyDefaultDomain, emptyDefaultDomain } from "../jetstream/default_domain.js";
import { shouldReportConnectError } from "./connect_reports.js";
import { bindHost } from "../server/bind_address.js";

// `ws` is loaded only by a remote that dials over WebSocket (as the WebSocket listener does).
const requireCjs = createRequire(import.meta.url);

/** The header a leaf sends to ask the hub's WebSocket listener not to require masked frames, and the hub's yes. */
const WS_NO_MASKING_HEADER = "Nats-No-Masking";

/** The JetStream API a user account never passes over a leaf connection (nats-server's denyAllClientJs). */
const DENY_CLIENT_JS = ["$JS.API.>", "$KV.>", "$OBJ.>"];
/** The same plus JetStream's cluster traffic, for a system account that does not extend JetStream (denyAllJs). */
const DENY_ALL_JS = ["$JSC.>", "$NRG.>", "$JS.API.>", "$KV.>", "$OBJ.>"];

/** How long a leaf whose hub reported a loop waits before trying again (nats-server's value). */
const LOOP_RECONNECT_DELAY_MS = 30_000;

/** Who a leaf logged in as: the account it is bound to and, when it logged in as a user, that user's permissions as configured. */
export interface LeafLogin {
  account: Account;
  permissions?: unknown;
}
const DEFAULT_LEAFNODE_PORT = 7422;

export { leafNodesOf } from "../server/service_lookup.js";

export class LeafNodes implements ServerService, RoutedReplySender {
  readonly name = "leafnodes";
  readonly options: LeafNodeOptions;
  readonly interest: LeafInterest;
  /** Registered leaf connections. */
  readonly all = new Set<LeafConnection>();
  private readonly pending = new Set<LeafConnection>();
  private readonly remotes: LeafRemote[] = [];
  /** Per account, the subject whose return over a leaf connection means a loop. */
  private readonly loopSubjects = new Map<string, string>();
  private listener: net.Server | undefined;
  private readonly timers = new ListenerTimers();
  private stopping = false;
  /** Write deadlines of leaf connections, checked every second. */
  private housekeeping: NodeJS.Timeout | undefined;
  port = 0;

  constructor(readonly server: Server) {
    this.options = server.options.leafnodes as LeafNodeOptions;
    this.interest = new LeafInterest(this);
  }

  /** The listener's TLS (reloadable: new connections use the new certificates). */
  private tls: ServerTls | undefined;

  /** This cluster's leafnode URLs (ours and the route peers'), counted per server announcing them. */
  private readonly clusterUrls = new Map<string, number>();
  /** Route peer id → the leafnode URL it announced. */
  private readonly peerUrls = new Map<string, string>();
  /** Our own leafnode URL as peers and leaf nodes are told ("" without a listener). */
  ownUrl = "";

  /** The listener starts before the routes, so the route INFO carries our leafnode URL. */
  async start(): Promise<void> {
    const o = this.options;
    if (o.port !== 0) this.tls = ServerTls.fromOptions(o.tls);
    for (const acc of this.server.accounts.values()) this.interest.attach(acc);
    this.server.events.account.add((acc) => this.interest.attach(acc));
    this.server.events.accountClaims.add((acc) => this.enforceLimit(acc));
    if (o.port !== 0) {
      await new Promise<void>((resolve, reject) => {
        const srv = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
        srv.once("error", (err) => reject(new Error(`Error listening on leafnode port: ${o.port} - ${err.message}`)));
        srv.listen({ host: bindHost(o.host), port: o.port === -1 ? 0 : o.port }, () => {
          srv.removeAllListeners("error");
          srv.on("error", (err) => this.server.log.error(`Leafnode listener error: ${err.message}`));
          this.listener = srv;
          this.port = (srv.address() as net.AddressInfo).port;
          this.server.log.info(`Listening for leafnode connections on ${hostPort(o.host, this.port)}`);
          // nats-server warns here, for the block's tls (when accepting needs TLS) or any remote's.
          if ((o.tls !== undefined && o.tls.insecure === true) || o.remotes.some((r) => r.tls?.insecure === true)) {
            this.server.log.warn("TLS certificate chain and hostname of solicited leafnodes will not be verified. DO NOT USE IN PRODUCTION!");
          }
          resolve();
        });
      });
      this.server.portsFileExtras.leafnodes = portsFileUrls("nats-leaf", o.host, this.port);
      this.ownUrl = listenUrls(o.advertise, o.host, this.port)[0] ?? "";
      for (const u of listenUrls(o.advertise, o.host, this.port)) this.clusterUrls.set(u, 1);
      const cluster = clusterOf(this.server);
      if (cluster !== undefined && !o.noAdvertise) {
        cluster.leafnodeUrl = () => this.ownUrl;
        cluster.peerListeners.add((peer, up) => this.onPeer(cluster, peer.id, up));
      }
    }
  }

  /** A route peer came (its leafnode URL joins the list our leaf nodes may reconnect to) or went. */
  private onPeer(cluster: NonNullable<ReturnType<typeof clusterOf>>, id: string, up: boolean): void {
    if (up) {
      const info = cluster.routes.get(id)?.find((r) => r !== undefined)?.remoteInfo;
      const urls = info?.leafnode_urls;
      const u = Array.isArray(urls) && urls.length === 1 && typeof urls[0] === "string" ? urls[0] : undefined;
      if (u === undefined) return;
      this.peerUrls.set(id, u);
      const n = this.clusterUrls.get(u) ?? 0;
      this.clusterUrls.set(u, n + 1);
      if (n === 0) this.sendAsyncInfo();
      return;
    }
    const u = this.peerUrls.get(id);
    if (u === undefined) return;
    this.peerUrls.delete(id);
    const n = this.clusterUrls.get(u) ?? 0;
    if (n <= 1) {
      this.clusterUrls.delete(u);
      if (!this.stopping) this.sendAsyncInfo();
    } else this.clusterUrls.set(u, n - 1);
  }

  /** The leaf nodes we are the hub of learn the cluster's leafnode URLs (to reconnect elsewhere). */
  private sendAsyncInfo(): void {
    for (const c of this.all) if (!c.solicited) c.sendInfo(JSON.stringify(this.infoObject(c)));
  }

  /** Once every listener is up: connect to the remotes. */
  async listening(): Promise<void> {
    const o = this.options;
    this.housekeeping = setInterval(() => {
      const now = Date.now();
      for (const c of this.all) c.checkWriteDeadline(now);
    }, 1000);
    this.housekeeping.unref();
    for (const r of o.remotes) {
      const remote: LeafRemote = { options: r, urls: r.urls.map(withDefaultPort), next: 0, delayMs: 0, conn: undefined, stopped: false, failedAttempts: 0, everConnected: false };
      this.remotes.push(remote);
      this.connectRemote(remote);
    }
  }

  /** The cluster name this server gives leaf nodes ("" when not clustered). */
  clusterName(): string {
    return clusterOf(this.server)?.clusterName ?? "";
  }

  /** The hub's INFO (nats-server's leafNodeInfo). */
  infoObject(conn: LeafConnection): Record<string, unknown> {
    const s = this.server;
    const o = this.options;
    const info = serverInfoHead(s, o.host, this.port);
    info.auth_required = true;
    info.max_payload = s.options.maxPayload;
    if (s.options.jetstream.enabled) info.jetstream = true;
    info.client_id = conn.cid;
    const cluster = this.clusterName();
    if (cluster !== "") info.cluster = cluster;
    if (s.options.jetstream.domain) info.domain = s.options.jetstream.domain;
    info.leafnode_urls = o.noAdvertise ? [] : [...this.clusterUrls.keys()];
    if (this.tls !== undefined) {
      info.tls_required = true;
      if (this.tls.verify) info.tls_verify = true;
    }
    info.info_on_connect = true;
    return info;
  }

  // ---- hub side ----

  private accept(socket: net.Socket): void {
    if (this.stopping || this.server.isShuttingDown) {
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined);
    const t = this.tls;
    // With handshake_first, TLS comes before anything else; otherwise INFO goes out in plain text first.
    const conn = new LeafConnection(this, t?.handshakeFirst === true ? t.wrapClient(socket) : socket, undefined, this.server.globalAccount);
    this.greet(conn, this.options.compression);
    if (t !== undefined) conn.startServerTls(t, !t.handshakeFirst);
  }

  /** The hub's first INFO to a new leaf connection (with the nonce it signs and our compression mode). */
  private greet(conn: LeafConnection, compression: string | undefined): void {
    this.pending.add(conn);
    // nats-server's line ends with the peer's name from its CONNECT, not known yet: a blank.
    conn.info("Leafnode connection created ");
    conn.nonce = newNonce();
    const info = this.infoObject(conn);
    info.nonce = conn.nonce;
    // Only the first INFO announces our compression mode (the leaf negotiates from it).
    if (compression !== undefined) info.compression = compression;
    conn.sendInfo(JSON.stringify(info));
  }

  /**
   * A leaf node came in on the WebSocket listener (path /leafnode). TLS, if any, is the
   * listener's (wss). With per-message deflate the INFO announces no compression mode (as
   * nats-server's: no S2 on top of deflate); without it, the configured one (S2 then runs
   * beneath the WebSocket frames).
   */
  acceptWebSocket(transport: WebSocketTransport, deflate: boolean): void {
    if (this.stopping || this.server.isShuttingDown) {
      transport.destroy();
      return;
    }
    const conn = new LeafConnection(this, transport as unknown as net.Socket, undefined, this.server.globalAccount, deflate ? "deflate" : "plain");
    this.greet(conn, deflate ? undefined : this.options.compression);
  }

  /**
   * The account a connecting leaf node is bound to: from `leafnodes { authorization }` when
   * configured, else as a client of this server would log in (its users and accounts), then
   * with that user's permissions too.
   */
  authenticate(conn: LeafConnection, c: LeafConnect): LeafLogin | undefined | Promise<LeafLogin | undefined> {
    const o = this.options;
    const lookup = (name: string | undefined): LeafLogin | undefined => {
      const account = name === undefined ? this.server.globalAccount : this.server.accounts.get(name);
      return account === undefined ? undefined : { account };
    };
    const check = (want: string, account: string | undefined): LeafLogin | undefined | Promise<LeafLogin | undefined> => {
      const ok = passwordMatches(c.pass ?? "", want);
      if (typeof ok === "boolean") return ok ? lookup(account) : undefined;
      return ok.then((yes) => (yes ? lookup(account) : undefined));
    };
    if (o.username !== undefined && o.username !== "") {
      if (c.user !== o.username) return undefined;
      return check(o.password ?? "", o.account);
    }
    if (o.users.length > 0) {
      const u = o.users.find((x) => x.user === c.user);
      return u === undefined ? undefined : check(u.password, u.account);
    }
    const outcome = this.server.auth.authenticate(credentialsOf(conn, c));
    const loginOf = (r: unknown): LeafLogin | undefined => {
      if (r === undefined || r === null || typeof r !== "object" || !("account" in r)) return undefined;
      const { account, permissions } = r as { account?: Account; permissions?: unknown };
      return account === undefined ? undefined : { account, permissions };
    };
    if (outcome instanceof Promise) return outcome.then(loginOf);
    return loginOf(outcome);
  }

  // ---- leaf side ----

  /** A failed dial of a remote: an error on the attempts connect_reports.ts picks, debug otherwise. */
  private reportConnectError(remote: LeafRemote, where: string, err: Error): void {
    remote.failedAttempts++;
    const msg = `Error trying to connect as leafnode to remote server ${JSON.stringify(where)} (attempt ${remote.failedAttempts}): ${err.message}`;
    if (shouldReportConnectError(this.server.options, !remote.everConnected, remote.failedAttempts)) this.server.log.error(msg);
    else this.server.log.debug(msg);
  }

  private connectRemote(remote: LeafRemote): void {
    if (this.stopping || remote.stopped) return;
    const account = remote.options.account === undefined ? this.server.globalAccount : this.server.accounts.get(remote.options.account);
    if (account === undefined) {
      this.server.log.error(`Unable to lookup account ${remote.options.account} for solicited leafnode connection`);
      return;
    }
    const url = remote.urls[remote.next % remote.urls.length];
    remote.next = (remote.next + 1) % remote.urls.length;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port === "" ? DEFAULT_LEAFNODE_PORT : url.port);
    if (isWebSocketUrl(url.href)) {
      this.connectRemoteWebSocket(remote, account, url, host, port);
      return;
    }
    this.server.log.debug(`Trying to connect as leafnode to remote server on ${hostPort(host, port)}`);
    const socket = net.connect({ host, port, noDelay: true });
    const retry = (): void => this.timers.later(() => this.connectRemote(remote), remote.delayMs > 0 ? remote.delayMs : this.options.reconnectMs);
    socket.once("error", (err) => {
      socket.destroy();
      this.reportConnectError(remote, hostPort(host, port), err);
      retry();
    });
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      socket.on("error", () => undefined);
      if (this.stopping) {
        socket.destroy();
        return;
      }
      remote.delayMs = 0;
      remote.failedAttempts = 0;
      remote.everConnected = true;
      const conn = new LeafConnection(this, socket, remote, account);
      conn.url = url;
      remote.conn = conn;
      // handshake_first: TLS right away, the hub's INFO comes over it.
      if (remote.options.tls?.handshakeFirst === true) conn.startClientTls(() => undefined);
      this.pending.add(conn);
      conn.info(`Leafnode connection created for account: ${account.name} `);
    });
  }

  /**
   * Dial a hub's WebSocket listener as nats-server does: GET <path>/leafnode, per-message
   * deflate asked for with ws_compression (no context takeover either way), and with
   * ws_no_masking the Nats-No-Masking header: frames go unmasked only if the hub says yes.
   */
  private connectRemoteWebSocket(remote: LeafRemote, account: Account, url: URL, host: string, port: number): void {
    const o = remote.options;
    const secure = url.protocol.toLowerCase() === "wss:";
    const base = url.pathname === "/" ? "" : url.pathname;
    const target = `${secure ? "wss" : "ws"}://${hostPort(host, port)}${path.posix.join("/", base, "leafnode")}`;
    let unmasked = false;
    const headers: Record<string, string> = {};
    if (o.wsNoMasking === true) headers[WS_NO_MASKING_HEADER] = "true";
    const opts: WebSocket.ClientOptions = {
      headers,
      perMessageDeflate: o.wsCompression === true ? { clientNoContextTakeover: true, serverNoContextTakeover: true } : false,
      handshakeTimeout: 5000,
      maxPayload: 0,
    };
    if (secure) {
      // The hub's certificate must chain to the remote's ca_file (else the system roots).
      const t = opts as WebSocket.ClientOptions & tls.ConnectionOptions;
      t.secureContext = clientTlsContext(o.tls);
      t.servername = net.isIP(host) === 0 ? host : undefined;
      t.rejectUnauthorized = o.tls?.insecure !== true;
    }
    this.server.log.debug(`Trying to connect as leafnode to remote server on ${hostPort(host, port)} (websocket)`);
    const retry = (): void => this.timers.later(() => this.connectRemote(remote), remote.delayMs > 0 ? remote.delayMs : this.options.reconnectMs);
    let ws: WebSocket;
    try {
      const { WebSocket: WsClient } = requireCjs("ws") as typeof import("ws");
      ws = new WsClient(target, opts);
    } catch (err) {
      this.server.log.error(`Error trying to connect as leafnode to remote server ${hostPort(host, port)}: ${(err as Error).message}`);
      retry();
      return;
    }
    let opened = false;
    ws.on("upgrade", (res) => {
      unmasked = o.wsNoMasking === true && res.headers[WS_NO_MASKING_HEADER.toLowerCase()] === "true";
    });
    ws.once("error", (err) => {
      if (opened) return;
      this.reportConnectError(remote, hostPort(host, port), err);
      ws.terminate();
      retry();
    });
    ws.once("open", () => {
      opened = true;
      remote.failedAttempts = 0;
      remote.everConnected = true;
      if (this.stopping) {
        ws.terminate();
        return;
      }
      remote.delayMs = 0;
      // The hub granted Nats-No-Masking: our frames go without a mask. `ws` masks what a client
      // sends and has no option against it; its frames are sent as a server's (unmasked) when
      // told it is one (only sending looks at this once the connection is open).
      if (unmasked) (ws as unknown as { _isServer: boolean })._isServer = true;
      const raw = (ws as unknown as { _socket: net.Socket })._socket;
      const deflate = ws.extensions.includes("permessage-deflate");
      const transport = new WebSocketTransport(ws, raw, { compress: deflate, browser: false, noCompressedFragments: false });
      const conn = new LeafConnection(this, transport as unknown as net.Socket, remote, account, deflate ? "deflate" : "plain");
      conn.url = url;
      remote.conn = conn;
      this.pending.add(conn);
      conn.info(`Leafnode connection created for account: ${account.name} `);
      conn.debug(`Leafnode over websocket, compression=${deflate}, masking=${!unmasked}`);
    });
  }

  /** The URLs known for remote `i` (the configured ones, then those its hub told about). */
  remoteUrls(i: number): string[] {
    return (this.remotes[i]?.urls ?? []).map((u) => u.host);
  }

  /** URLs the hub tells about (its cluster's leafnode listeners) become ours to try. */
  learnUrls(remote: LeafRemote, urls: unknown[]): void {
    // They are leafnode (TCP) listeners: a remote over WebSocket keeps its own URLs (nats-server
    // takes WebSocket URLs only, which tsnats hubs do not gossip).
    if (remote.urls.some((u) => isWebSocketUrl(u.href))) return;
    for (const u of urls) {
      if (typeof u !== "string") continue;
      const cred = remote.options.urls[0] !== undefined && URL.canParse(remote.options.urls[0]) ? new URL(remote.options.urls[0]) : undefined;
      const parsed = URL.canParse(`nats-leaf://${u}`) ? new URL(`nats-leaf://${u}`) : undefined;
      if (parsed === undefined) continue;
      if (cred !== undefined) {
        parsed.username = cred.username;
        parsed.password = cred.password;
      }
      if (!remote.urls.some((x) => x.host === parsed.host)) remote.urls.push(parsed);
    }
  }

  // ---- registry ----

  /** Leaf connections bound to an account. */
  private leafsOf(account: Account): LeafConnection[] {
    return [...this.all].filter((c) => c.account === account);
  }

  /**
   * Whether the account may have one more leaf connection (its JWT's `leaf` limit, or the
   * config's max_leafnodes; -1 = unlimited); refused with nats-server's error otherwise.
   */
  admit(conn: LeafConnection): boolean {
    const max = conn.account.limits.maxLeafNodes;
    if (max < 0 || this.leafsOf(conn.account).filter((c) => c !== conn).length < max) return true;
    this.refuseOverLimit(conn);
    return false;
  }

  private refuseOverLimit(conn: LeafConnection): void {
    conn.error(ProtoErr.MaxAccountConnections);
    conn.sendErr(ProtoErr.MaxAccountConnections);
    conn.close("Maximum Account Connections Exceeded");
  }

  /** New account claims lowered the leaf limit: the newest connections over it go. */
  private enforceLimit(account: Account): void {
    const max = account.limits.maxLeafNodes;
    if (max < 0) return;
    const leafs = this.leafsOf(account).sort((a, b) => a.start.getTime() - b.start.getTime() || a.cid - b.cid);
    for (const c of leafs.slice(max)) this.refuseOverLimit(c);
  }

  /**
   * JetStream across a leaf connection, as nats-server decides it: the plain JetStream API
   * (`$JS.API.>`, `$KV.>`, `$OBJ.>`) never crosses for a user account (its domain's prefix,
   * `$JS.<domain>.API.>`, does, through the account's domain mappings); the system account
   * extends JetStream only between servers of the same domain. When the domains differ, requests
   * for our own domain do not leave through this connection.
   */
  private applyJetStreamDenies(conn: LeafConnection): void {
    const s = this.server;
    const js = s.options.jetstream;
    const local = js.domain ?? "";
    const sys = s.systemAccount;
    const isSys = conn.account === sys;
    let blockOutgoing = false;
    // default_js_domain: an account mapped to "" keeps the plain API open (set-ups from before
    // domains); the system account then does not extend JetStream over leaf nodes.
    let forceSysDeny = false;
    if (isSys && anyEmptyDefaultDomain(s.options)) {
      conn.info(`Not extending remote JetStream domain ${JSON.stringify(conn.remoteDomain)} due to presence of empty default domain`);
      forceSysDeny = true;
    } else if (!isSys && emptyDefaultDomain(s.options, conn.account.name)) {
      conn.debug(`Skipping deny "$JS.API.>" for account ${JSON.stringify(conn.account.name)} due to default domain`);
      return;
    }
    // A server without JetStream extends a JetStream of no domain only when told it will (`extension_hint: will_extend`).
    if (local !== conn.remoteDomain || (!js.enabled && local === "" && js.extensionHint !== "will_extend") || sys === undefined || forceSysDeny) {
      if (isSys) {
        conn.info(`JetStream not extended, domains differ`);
        conn.addDenies(DENY_ALL_JS, DENY_ALL_JS);
      } else {
        conn.info(`JetStream using domains: local ${JSON.stringify(local)}, remote ${JSON.stringify(conn.remoteDomain)}`);
        conn.addDenies(DENY_CLIENT_JS, DENY_CLIENT_JS);
      }
      blockOutgoing = true;
    } else if (!isSys) conn.addDenies(DENY_CLIENT_JS, DENY_CLIENT_JS);
    if (local !== "" && js.enabled && blockOutgoing) conn.addDenies([`$JS.${local}.API.>`], []);
  }

  register(conn: LeafConnection): void {
    this.pending.delete(conn);
    this.applyJetStreamDenies(conn);
    this.all.add(conn);
    const who = conn.remoteServer !== "" ? conn.remoteServer : conn.host;
    conn.debug(`Leafnode connection to ${who} registered (account ${conn.account.name}${conn.isSpoke ? ", as spoke" : ""})`);
    this.interest.sendAllTo(conn);
  }

  onLeafClosed(conn: LeafConnection): void {
    this.pending.delete(conn);
    this.all.delete(conn);
    // A notice, as its creation was (nats-server's line, naming the peer once its CONNECT or INFO did).
    conn.info(`Leafnode connection closed: ${conn.closeReason}${conn.remoteServer !== "" ? ` - Remote: ${conn.remoteServer}` : ""}`);
    const remote = conn.remote;
    if (remote !== undefined && remote.conn === conn) {
      remote.conn = undefined;
      if (!this.stopping && !this.server.isShuttingDown && !remote.stopped) {
        this.timers.later(() => this.connectRemote(remote), remote.delayMs > 0 ? remote.delayMs : this.options.reconnectMs);
      }
    }
  }

  /**
   * An answer on a routed reply (gateway_reply.ts): to the leaf connections whose other side
   * asked for routed replies (a hub with gateways announces `_GR_.>`), except where it came from.
   */
  sendRoutedReply(account: Account, routed: string, reply: string, hdr: Buffer | undefined, payload: Buffer, from?: unknown): void {
    const r = account.sublist.match(routed);
    const done = new Set<LeafConnection>();
    for (const sub of r.psubs) {
      const c = sub.client;
      if (c.kind !== "leaf" || c === from || done.has(c as LeafConnection)) continue;
      done.add(c as LeafConnection);
      (c as LeafConnection).sendRouted(account.name, routed, reply, hdr, payload, []);
    }
  }

  /** Reload: new leaf connections use the new TLS certificates (established ones keep their session). */
  reload(options: ServerOptions): void {
    if (this.options.port !== 0) this.tls = ServerTls.fromOptions(options.leafnodes?.tls);
    // Compression: new thresholds apply at the next PONG; a new mode is negotiated again, so
    // the connections it concerns reconnect.
    const next = options.leafnodes;
    if (next === undefined) return;
    const changed = (a: { compression: string; compressionRttMs?: readonly number[] }, b: { compression: string; compressionRttMs?: readonly number[] }): "mode" | "rtt" | undefined =>
      a.compression !== b.compression ? "mode" : JSON.stringify(a.compressionRttMs) !== JSON.stringify(b.compressionRttMs) ? "rtt" : undefined;
    const listener = changed(this.options, next);
    if (listener !== undefined) {
      this.options.compression = next.compression;
      this.options.compressionRttMs = next.compressionRttMs;
      if (listener === "mode") for (const c of [...this.all, ...this.pending]) if (!c.solicited) c.close("Configuration Changed");
    }
    this.remotes.forEach((r, i) => {
      const o = next.remotes[i];
      if (o === undefined || JSON.stringify(o.urls) !== JSON.stringify(r.options.urls)) return;
      const what = changed(r.options, o);
      if (what === undefined) return;
      r.options.compression = o.compression;
      r.options.compressionRttMs = o.compressionRttMs;
      if (what === "mode") r.conn?.close("Configuration Changed");
    });
  }

  /** The loop detection subject of an account: "$LDS." and a random id, made once. */
  loopSubject(account: Account): string {
    let s = this.loopSubjects.get(account.name);
    if (s === undefined) {
      s = LDS_PREFIX + randomBytes(11).toString("base64url").replace(/[^A-Za-z0-9]/g, "");
      this.loopSubjects.set(account.name, s);
    }
    return s;
  }

  /** Our own loop detection subject came back (or the hub said so): refuse, and wait before retrying. */
  loopDetected(conn: LeafConnection, sendErr: boolean): void {
    const delay = conn.remote !== undefined ? LOOP_RECONNECT_DELAY_MS : 0;
    if (conn.remote !== undefined) conn.remote.delayMs = LOOP_RECONNECT_DELAY_MS;
    const text = `Loop detected for leafnode account=${JSON.stringify(conn.account.name)}. Delaying attempt to reconnect for ${delay / 1000}s`;
    if (sendErr) conn.sendErr(text);
    conn.error(text);
    conn.close("Leafnode Loop Detected");
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.housekeeping !== undefined) clearInterval(this.housekeeping);
    this.timers.cancelAll();
    for (const r of this.remotes) r.stopped = true;
    const listener = this.listener;
    this.listener = undefined;
    const closed = listener !== undefined ? new Promise<void>((r) => listener.close(() => r())) : Promise.resolve();
    for (const c of [...this.pending, ...this.all]) c.close("Server Shutdown");
    await closed;
  }
}

function withDefaultPort(raw: string): URL {
  const u = new URL(raw);
  if (u.port === "") u.port = String(DEFAULT_LEAFNODE_PORT);
  return u;
}
