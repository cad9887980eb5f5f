// Gateways: the links of a super-cluster (nats-server's server/gateway.go as facts). This
// server listens for other clusters' servers (inbound connections), opens one connection to
// each other cluster (outbound), learns of clusters it was not configured with from gossip
// (implicit gateways), tells its own cluster's servers about them over routes so every server
// keeps its own outbound connection, and announces this cluster's gateway URLs.
//
// What crosses: a message published in this cluster goes out once per remote cluster, on this
// server's outbound connection, when that cluster has interest (queue groups only when no
// member in this cluster took it; the remote with the lowest RTT first); a message received
// from a gateway reaches this cluster's subscribers, routes and leaf nodes, never another
// gateway. Reply subjects that may outrun their interest are routed back with `_GR_.` (see
// gateway_reply.ts).
import { shuffleInPlace } from "../server/shuffle.js";
import net from "node:net";
import tls from "node:tls";
import { createHash } from "node:crypto";
import type { Server, ServerService } from "../server/server.js";
import { splitDeliveredReply, type Account } from "../server/account.js";
import type { GatewayOptions, ServerOptions, TlsOptions } from "../config/options.js";
import { clientTlsContext, ServerTls } from "../server/tls.js";
import { shortHash } from "../jetstream/util.js";
import { GatewayConnection, GATEWAY_CMD_GOSSIP, type GatewayInfo } from "./gateway.js";
import { GatewayInterest, type Tally } from "./gateway_interest.js";
import { GW_HASH_LEN, GW_REPLY_PREFIX, OLD_GW_REPLY_PREFIX, isGatewayRoutedSubject, plainOfRouted, type RoutedReplySender } from "./gateway_reply.js";
import { clusterOf, type Cluster } from "./cluster.js";
import type { Route, RouteInfo } from "./route.js";
import { hostPort, listenUrls, portsFileUrls } from "./urls.js";
import { serverInfoHead } from "./handshake.js";
import { ListenerTimers } from "./timers.js";
import { shouldReportConnectError } from "./connect_reports.js";
import { bindHost } from "../server/bind_address.js";

/** nats-server's gateway timings. */
const DEFAULT_SOLICIT_DELAY_MS = 1000;
const CONNECT_DELAY_MS = 1000;
const CONNECT_MAX_DELAY_MS = 30_000;
const RECONNECT_DELAY_MS = 1000;
const DIAL_TIMEOUT_MS = 1000;
/** Gateways ping at most this often, whatever the client ping interval. */
const MAX_PING_INTERVAL_MS = 15_000;
/** RS- sent for an account before it is switched to interest-only mode (nats-server's default). */
const DEFAULT_MAX_NO_INTEREST = 1000;
/** The TLS handshake timeout when the tls block sets none (seconds, nats-server's default). */
const DEFAULT_TLS_TIMEOUT_S = 2;

export { gatewaysOf } from "../server/service_lookup.js";

/** nats-server's old (pre 2.2) cluster hash: the first 4 hex digits of sha256(name). */
function oldHash(name: string): string {
  return createHash("sha256").update(name).digest("hex").slice(0, 4);
}

/** A remote cluster: configured (explicit) or learnt from gossip (implicit), with the URLs known for it. */
export class RemoteGateway {
  /** host:port → URL, the configured ones first. */
  readonly urls = new Map<string, URL>();
  readonly hash: string;
  readonly oldHash: string;
  connAttempts = 0;

  constructor(
    readonly name: string,
    private readonly configured: URL[],
    readonly implicit: boolean,
    /** TLS to the remote (reloadable). */
    public tls: TlsOptions | undefined,
  ) {
    this.hash = shortHash(name, GW_HASH_LEN);
    this.oldHash = oldHash(name);
    for (const u of configured) this.urls.set(u.host, u);
  }

  /** URLs the remote announced (host:port, no scheme) are added to the ones we know. */
  addUrls(hosts: readonly unknown[] | undefined): void {
    for (const h of hosts ?? []) {
      if (typeof h !== "string" || this.urls.has(h)) continue;
      const raw = `${this.tls !== undefined ? "tls" : "nats"}://${h}`;
      if (URL.canParse(raw)) this.urls.set(new URL(raw).host, new URL(raw));
    }
  }

  /** The remote's current URL list replaces what it announced before (configured URLs stay). */
  updateUrls(hosts: readonly unknown[]): void {
    this.urls.clear();
    for (const u of this.configured) this.urls.set(u.host, u);
    this.addUrls(hosts);
  }

  /** URLs in random order, to try one after the other. */
  shuffled(): URL[] {
    return shuffleInPlace([...this.urls.values()]);
  }

  hosts(): string[] {
    return [...this.urls.keys()];
  }
}

export class Gateways implements ServerService, RoutedReplySender {
  readonly name = "gateways";
  readonly options: GatewayOptions;
  /** This cluster's gateway name. */
  readonly gatewayName: string;
  readonly interest: GatewayInterest;
  readonly pingIntervalMs: number;
  readonly forceInterestOnly: boolean;
  readonly maxNoInterestBeforeSwitch: number;
  /** `_GR_.<cluster hash>.<server hash>.` and the old `$GR.<hash>.` form. */
  readonly replyPrefix: string;
  readonly oldReplyPrefix: string;
  readonly clusterHash: string;
  readonly serverHash: string;
  private readonly ownOldHash: string;
  /** Remote clusters by gateway name. */
  readonly remotes = new Map<string, RemoteGateway>();
  /** Outbound connections by remote gateway name, and the same by increasing RTT. */
  readonly out = new Map<string, GatewayConnection>();
  outByRtt: GatewayConnection[] = [];
  /** Inbound connections by connection id. */
  readonly in = new Map<number, GatewayConnection>();
  private readonly pending = new Set<GatewayConnection>();
  /** This cluster's gateway URLs (ours and the route peers'), counted per server announcing them. */
  private readonly clusterUrls = new Map<string, number>();
  /** Route peer id → the gateway URL it announced. */
  private readonly peerUrls = new Map<string, string>();
  /** URLs configured for our own gateway name (reported in /varz). */
  ownConfiguredUrls: string[] = [];
  private listener: net.Server | undefined;
  private serverTls: ServerTls | undefined;
  private infoCache: string | undefined;
  private readonly timers = new ListenerTimers();
  private housekeeping: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly idHashes = new Map<string, string>();
  /** The listen port once listening, and the URL (host:port) this server is reached on. */
  port = 0;
  url = "";
  private infoHost = "";
  private infoPort = 0;

  constructor(readonly server: Server) {
    const o = server.options.gateway as GatewayOptions;
    this.options = o;
    this.gatewayName = o.name;
    this.interest = new GatewayInterest(this);
    this.pingIntervalMs = Math.min(server.options.pingIntervalMs, MAX_PING_INTERVAL_MS);
    this.forceInterestOnly = o.forceInterestOnly !== false;
    this.maxNoInterestBeforeSwitch = o.maxNoInterestBeforeSwitch ?? DEFAULT_MAX_NO_INTEREST;
    this.clusterHash = shortHash(o.name, GW_HASH_LEN);
    this.serverHash = shortHash(server.id, GW_HASH_LEN);
    this.ownOldHash = oldHash(o.name);
    this.replyPrefix = `${GW_REPLY_PREFIX}${this.clusterHash}.${this.serverHash}.`;
    this.oldReplyPrefix = `${OLD_GW_REPLY_PREFIX}${this.ownOldHash}.`;
    for (const rg of o.gateways) {
      if (rg.name === o.name) {
        this.ownConfiguredUrls = rg.urls.map((u) => (URL.canParse(u) ? new URL(u).host : u));
        continue;
      }
      const urls = rg.urls.filter((u) => URL.canParse(u)).map((u) => new URL(u));
      this.remotes.set(rg.name, new RemoteGateway(rg.name, urls, false, rg.tls ?? o.tls));
    }
  }

  /** Listen before the cluster's routes start, so the route INFO carries our gateway URL. */
  async start(): Promise<void> {
    const o = this.options;
    this.serverTls = ServerTls.fromOptions(o.tls === undefined ? undefined : { ...o.tls, verify: true });
    for (const acc of this.server.accounts.values()) this.interest.attach(acc);
    this.server.events.account.add((acc) => this.onAccount(acc));
    const log = this.server.log;
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
      srv.once("error", (err) => reject(new Error(`Error listening on gateway port: ${o.port} - ${err.message}`)));
      srv.listen({ host: bindHost(o.host), port: o.port === -1 ? 0 : o.port }, () => {
        srv.removeAllListeners("error");
        srv.on("error", (err) => log.error(`Gateway listener error: ${err.message}`));
        this.listener = srv;
        this.port = (srv.address() as net.AddressInfo).port;
        resolve();
      });
    });
    log.info(`Gateway name is ${this.gatewayName}`);
    log.info(`Listening for gateways connections on ${hostPort(o.host, this.port)}`);
    this.setUrl();
    if (this.serverTls !== undefined) log.info("TLS required for gateway connections");
    if ((o.tls !== undefined && o.tls.insecure === true) || o.gateways.some((g) => g.tls?.insecure === true)) {
      log.warn("TLS certificate chain and hostname of solicited gateways will not be verified. DO NOT USE IN PRODUCTION!");
    }
    const cluster = clusterOf(this.server);
    if (cluster !== undefined) this.hookCluster(cluster);
    const x = this.server.portsFileExtras;
    x.gateway = portsFileUrls("nats", o.host, this.port);
  }

  /** Once every listener is up: solicit the configured gateways after a delay (the cluster forms first). */
  async listening(): Promise<void> {
    this.housekeeping = setInterval(() => this.tick(), 1000);
    this.housekeeping.unref();
    this.timers.later(() => {
      for (const cfg of this.remotes.values()) if (!cfg.implicit) void this.solicit(cfg, true);
    }, this.options.solicitDelayMs ?? DEFAULT_SOLICIT_DELAY_MS);
  }

  private setUrl(): void {
    const o = this.options;
    let host = o.host;
    let port = this.port;
    if (o.advertise !== undefined && o.advertise !== "") {
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(o.advertise) ?? /^([^:]+)(?::(\d+))?$/.exec(o.advertise);
      if (m !== null) {
        host = m[1];
        if (m[2] !== undefined) port = Number(m[2]);
      }
      this.server.log.info(`Advertise address for gateway ${JSON.stringify(this.gatewayName)} is set to ${hostPort(host, port)}`);
    } else {
      if (host === "0.0.0.0" || host === "::") {
        const ips = listenUrls(undefined, host, port);
        if (ips.length === 0) this.server.log.error(`Could not find any non-local IP for gateway ${JSON.stringify(this.gatewayName)} with listen specification ${JSON.stringify(host)}`);
        else host = ips[0].replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      }
      this.server.log.info(`Address for gateway ${JSON.stringify(this.gatewayName)} is ${hostPort(host, port)}`);
    }
    this.infoHost = host;
    this.infoPort = port;
    this.url = hostPort(host, port);
    this.addClusterUrl(this.url);
  }

  // ---- INFO ----

  /** The INFO of our gateway connections (nats-server's gateway info). */
  infoJson(): string {
    if (this.infoCache !== undefined) return this.infoCache;
    const s = this.server;
    const o = this.options;
    const info = serverInfoHead(s, this.infoHost, this.infoPort, true);
    if (o.username !== undefined && o.username !== "") info.auth_required = true;
    if (this.serverTls !== undefined) {
      info.tls_required = true;
      info.tls_verify = true;
    }
    info.max_payload = s.options.maxPayload;
    info.gateway = this.gatewayName;
    info.gateway_urls = [...this.clusterUrls.keys()];
    info.gateway_url = this.url;
    info.gateway_nrp = true;
    if (this.forceInterestOnly) info.gateway_iom = true;
    this.infoCache = JSON.stringify(info);
    return this.infoCache;
  }

  private addClusterUrl(u: string): boolean {
    const n = this.clusterUrls.get(u) ?? 0;
    this.clusterUrls.set(u, n + 1);
    if (n > 0) return false;
    this.infoCache = undefined;
    return true;
  }

  private removeClusterUrl(u: string): boolean {
    const n = this.clusterUrls.get(u);
    if (n === undefined) return false;
    if (n > 1) {
      this.clusterUrls.set(u, n - 1);
      return false;
    }
    this.clusterUrls.delete(u);
    this.infoCache = undefined;
    return true;
  }

  /** Our cluster's URL list changed: tell the clusters connected to us. */
  private sendAsyncInfo(): void {
    const json = this.infoJson();
    for (const c of this.in.values()) c.sendInfo(json);
  }

  // ---- the cluster's side: gateway URLs and gossip over routes ----

  private hookCluster(cluster: Cluster): void {
    cluster.gatewayUrl = () => this.url;
    cluster.gatewayInfoFromRoute = (info, route) => this.onGatewayInfoFromRoute(info, route);
    cluster.gatewayReply = (route, acc, subject, reply, hdrLen, buf, start, end) => {
      if (!isGatewayRoutedSubject(subject)) return false;
      const hdr = hdrLen >= 0 ? buf.subarray(start, start + hdrLen) : undefined;
      this.handleRoutedReply(route, acc.name, subject, reply, hdr, buf.subarray(hdrLen >= 0 ? start + hdrLen : start, end));
      return true;
    };
    cluster.peerListeners.add((peer, up) => this.onPeer(cluster, peer.id, up));
  }

  private onPeer(cluster: Cluster, id: string, up: boolean): void {
    if (up) {
      const route = firstRoute(cluster, id);
      const u = route?.remoteInfo?.gateway_url;
      if (typeof u === "string" && u !== "") {
        this.peerUrls.set(id, u);
        if (this.addClusterUrl(u)) this.sendAsyncInfo();
      }
      if (route !== undefined) this.sendGatewayConfigsTo(route);
      return;
    }
    const u = this.peerUrls.get(id);
    if (u === undefined) return;
    this.peerUrls.delete(id);
    if (!this.stopping && this.removeClusterUrl(u)) this.sendAsyncInfo();
  }

  /** A route peer told us about a gateway (it connected to it): we connect to it too. */
  private onGatewayInfoFromRoute(info: RouteInfo, route: Route): void {
    if (info.gateway_cmd === GATEWAY_CMD_GOSSIP) this.processImplicitGateway(info as GatewayInfo);
    else this.server.log.error(`Unknown command ${String(info.gateway_cmd)} from server ${route.remoteId}`);
  }

  /** INFO that names a gateway, in the form routes carry it. */
  private gossipInfo(id: string, name: string, gateway: string, urls: string[]): Record<string, unknown> {
    return { server_id: id, server_name: name, version: "", proto: 0, go: "", host: "", port: 0, headers: false, max_payload: 0, gateway, gateway_urls: urls, gateway_cmd: GATEWAY_CMD_GOSSIP };
  }

  /** The gateways we have outbound connections to, told to a new route peer. */
  private sendGatewayConfigsTo(route: Route): void {
    for (const c of this.out.values()) {
      const cfg = c.remote;
      if (cfg === undefined) continue;
      const urls = cfg.hosts();
      // "GW" + our id: a server that does not know gateways must not take it for a route peer.
      if (urls.length > 0) route.sendAsyncInfo(this.gossipInfo(`GW${this.server.id}`, "", cfg.name, urls));
    }
  }

  /** A gateway connected to (or its URLs): every server of our cluster should have its own outbound connection to it. */
  forwardNewGatewayToLocalCluster(info: GatewayInfo): void {
    const cluster = clusterOf(this.server);
    if (cluster === undefined) return;
    const urls = Array.isArray(info.gateway_urls) ? info.gateway_urls.filter((u): u is string => typeof u === "string") : [];
    const msg = this.gossipInfo(`GW${this.server.id}`, this.server.name, info.gateway ?? "", urls);
    for (const id of cluster.routes.keys()) firstRoute(cluster, id)?.sendAsyncInfo(msg);
  }

  /** The other gateways we know of, told to a new inbound connection (the super-cluster becomes a full mesh). */
  gossipGatewaysTo(conn: GatewayConnection, except: string): void {
    for (const [name, cfg] of this.remotes) {
      if (name === except) continue;
      const urls = cfg.hosts();
      if (urls.length > 0) conn.sendInfo(JSON.stringify(this.gossipInfo(this.server.id, "", name, urls)));
    }
  }

  /** A cluster we heard of (gossip, an inbound connection): connect to it unless we know it already. */
  processImplicitGateway(info: GatewayInfo): void {
    const name = typeof info.gateway === "string" ? info.gateway : "";
    if (name === "" || name === this.gatewayName || this.stopping) return;
    const known = this.remotes.get(name);
    if (known !== undefined) {
      known.addUrls(info.gateway_urls);
      return;
    }
    const cfg = new RemoteGateway(name, [], true, this.options.tls);
    cfg.addUrls(info.gateway_urls);
    if (cfg.urls.size === 0) return;
    this.remotes.set(name, cfg);
    void this.solicit(cfg, true);
  }

  remote(name: string): RemoteGateway | undefined {
    return this.remotes.get(name);
  }

  /** A server name already used in our cluster (ours or a route peer's). */
  isDuplicateServerName(name: string): boolean {
    if (name === "") return false;
    if (name === this.server.name) return true;
    return (clusterOf(this.server)?.peers() ?? []).some((p) => p.name === name);
  }

  accountNames(): Iterable<string> {
    return this.server.accounts.keys();
  }

  // ---- connections ----

  private accept(socket: net.Socket): void {
    if (this.stopping || this.server.isShuttingDown) {
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined);
    let conn: net.Socket = socket;
    const t = this.serverTls;
    if (t !== undefined) conn = t.wrapClient(socket);
    const gw = new GatewayConnection(this, conn, undefined, undefined);
    if (t !== undefined) gw.startServerTls(t, false, "TLS gateway handshake error");
    this.pending.add(gw);
    gw.info("Processing inbound gateway connection");
    gw.sendInfo(this.infoJson());
  }

  /** Try the remote's URLs until one connects; implicit remotes are given up after connect_retries. */
  private async solicit(cfg: RemoteGateway, firstConnect: boolean): Promise<void> {
    const type = cfg.implicit ? "implicit" : "explicit";
    const log = this.server.log;
    let attempts = 0;
    let delay = CONNECT_DELAY_MS;
    while (!this.stopping && this.remotes.get(cfg.name) === cfg && !this.out.has(cfg.name)) {
      const urls = cfg.shuffled();
      if (urls.length === 0) break;
      attempts++;
      const report = shouldReportConnectError(this.server.options, firstConnect, attempts);
      for (const u of urls) {
        const text = `${type} gateway ${JSON.stringify(cfg.name)} (${u.host}) at ${u.host} (attempt ${attempts})`;
        if (report) log.info(`Connecting to ${text}`);
        else log.debug(`Connecting to ${text}`);
        const socket = await dial(u);
        if (this.stopping) {
          if (!(socket instanceof Error)) socket.destroy();
          return;
        }
        if (!(socket instanceof Error)) {
          this.createOutbound(cfg, u, socket);
          return;
        }
        const msg = `Error connecting to ${text}: ${socket.message}`;
        if (report) log.error(msg);
        else log.debug(msg);
      }
      if (cfg.implicit && (this.options.connectRetries === 0 || attempts > this.options.connectRetries)) {
        // An inbound connection from that cluster exists: keep trying to connect back.
        if (![...this.in.values()].some((c) => c.name === cfg.name)) {
          this.remotes.delete(cfg.name);
          return;
        }
      }
      await this.timers.sleep(delay);
      if (this.options.connectBackoff) delay = Math.min(delay * 2, CONNECT_MAX_DELAY_MS);
    }
  }

  private createOutbound(cfg: RemoteGateway, url: URL, socket: net.Socket): void {
    socket.on("error", () => undefined);
    cfg.connAttempts++;
    let conn: net.Socket = socket;
    const t = cfg.tls;
    if (t !== undefined) {
      const host = url.hostname.replace(/^\[|\]$/g, "");
      conn = tls.connect({
        socket,
        // The connecting side's context: its ca_file checks the other gateway's certificate.
        secureContext: clientTlsContext(t),
        servername: net.isIP(host) === 0 ? host : undefined,
        rejectUnauthorized: t.ca !== undefined && t.insecure !== true,
      });
    }
    const gw = new GatewayConnection(this, conn, cfg, url);
    if (t !== undefined) {
      const timer = setTimeout(() => gw.close("TLS Handshake Failure", true), Math.round((t.timeout ?? DEFAULT_TLS_TIMEOUT_S) * 1000));
      timer.unref();
      (conn as tls.TLSSocket).once("secureConnect", () => clearTimeout(timer));
    }
    this.pending.add(gw);
    gw.info(`Creating outbound gateway connection to ${JSON.stringify(cfg.name)}`);
  }

  registerOutbound(conn: GatewayConnection): boolean {
    if (this.out.has(conn.name)) return false;
    this.pending.delete(conn);
    this.out.set(conn.name, conn);
    this.outByRtt.push(conn);
    this.orderByRtt();
    return true;
  }

  registerInbound(conn: GatewayConnection): void {
    this.pending.delete(conn);
    this.in.set(conn.cid, conn);
  }

  private orderByRtt(): void {
    this.outByRtt.sort((a, b) => (a.rttMs || Number.MAX_VALUE) - (b.rttMs || Number.MAX_VALUE));
  }

  onGatewayClosed(conn: GatewayConnection): void {
    this.pending.delete(conn);
    if (conn.solicited) {
      if (this.out.get(conn.name) === conn) {
        this.out.delete(conn.name);
        this.outByRtt = this.outByRtt.filter((c) => c !== conn);
      }
    } else this.in.delete(conn.cid);
    const who = conn.remoteName !== "" ? ` - Remote: ${conn.remoteName}` : "";
    conn.info(`Gateway connection closed: ${conn.closeReason ?? "Client Closed"}${who}`);
    if (!conn.solicited || conn.noReconnect || this.stopping || this.server.isShuttingDown) return;
    const cfg = conn.remote;
    if (cfg === undefined || this.remotes.get(cfg.name) !== cfg) return;
    const delay = Math.floor(Math.random() * 100) + (cfg.implicit ? 0 : RECONNECT_DELAY_MS);
    this.timers.later(() => void this.solicit(cfg, false), delay);
  }

  // ---- interest ----

  /** A subject or queue group of this cluster got its first or lost its last subscription. */
  interestChanged(account: string, t: Tally, added: boolean): void {
    for (const c of this.in.values()) {
      if (t.queue !== undefined) c.queueInterestChanged(account, t.subject, t.queue, added);
      else c.plainInterestChanged(account, t.subject, added);
    }
  }

  /** Every queue group of every account, to a new inbound connection. */
  sendQueueSubsTo(conn: GatewayConnection): void {
    const lines: string[] = [];
    for (const acc of this.interest.accounts()) {
      for (const t of this.interest.entries(acc, true)) lines.push(`RS+ ${acc} ${t.subject} ${t.queue as string} 1`);
    }
    if (lines.length === 0) return;
    conn.queue(Buffer.from(lines.join("\r\n") + "\r\n"));
    conn.debug("Sent queue subscriptions to gateway");
  }

  private onAccount(acc: Account): void {
    this.interest.attach(acc);
    for (const c of this.in.values()) if (this.forceInterestOnly) c.switchToInterestOnly(acc.name);
    for (const c of this.out.values()) c.onAccountCreated(acc);
  }

  // ---- routed replies ----

  /** The route to the server of our cluster whose id hashes to `hash`, for an account. */
  private routeToServer(hash: string, account: string): Route | undefined {
    const cluster = clusterOf(this.server);
    if (cluster === undefined) return undefined;
    for (const r of cluster.routesForAccount(account)) {
      let h = this.idHashes.get(r.remoteId);
      if (h === undefined) {
        h = shortHash(r.remoteId, GW_HASH_LEN);
        this.idHashes.set(r.remoteId, h);
      }
      if (h === hash) return r;
    }
    return undefined;
  }

  /**
   * A message on a `_GR_.` subject (an answer to a request of this cluster) from a gateway or a
   * route: on to the requester's server when it is another one of our cluster, else delivered here.
   */
  handleRoutedReply(from: GatewayConnection | Route, accName: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    const old = subject.charCodeAt(0) === 36;
    // Not for our cluster: dropped (nats-server does the same).
    if (old ? subject.slice(OLD_GW_REPLY_PREFIX.length, OLD_GW_REPLY_PREFIX.length + 4) !== this.ownOldHash : subject.slice(5, 5 + GW_HASH_LEN) !== this.clusterHash) return;
    if (from.kind === "gateway" && !old) {
      const srv = subject.slice(6 + GW_HASH_LEN, 6 + 2 * GW_HASH_LEN);
      if (srv !== this.serverHash) {
        const route = this.routeToServer(srv, accName);
        if (route !== undefined) {
          route.sendRouted(accName, subject, reply, hdr, payload, [], "");
          return;
        }
      }
    }
    const account = this.server.accounts.get(accName);
    if (account === undefined) return;
    const plain = plainOfRouted(subject);
    const js = splitDeliveredReply(reply);
    if (js !== undefined) account.routeRemoteDelivery(account.sublist.match(plain), plain, js.subject, js.reply, hdr, payload, from, undefined);
    else account.routeTo(account.sublist.match(plain), plain, reply, hdr, payload, undefined, from);
  }

  /** An answer on a routed reply: straight to the cluster the hash names (RoutedReplySender). */
  sendRoutedReply(account: Account, routed: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    const old = routed.charCodeAt(0) === 36;
    const hash = old ? routed.slice(OLD_GW_REPLY_PREFIX.length, OLD_GW_REPLY_PREFIX.length + 4) : routed.slice(5, 5 + GW_HASH_LEN);
    for (const c of this.outByRtt) {
      const cfg = c.remote;
      if (cfg === undefined || (old ? cfg.oldHash : cfg.hash) !== hash) continue;
      c.writeRouted(account.name, routed, reply, hdr, payload, []);
      account.countSentRemote("gateway", payload.length + (hdr?.length ?? 0));
    }
  }

  // ---- housekeeping, reload, shutdown ----

  private tick(): void {
    const now = Date.now();
    for (const c of this.out.values()) c.checkWriteDeadline(now);
    for (const c of this.in.values()) c.checkWriteDeadline(now);
    this.orderByRtt();
  }

  /** Only TLS can change at run time (the server refuses any other gateway change): new connections use it. */
  reload(options: ServerOptions): void {
    const next = options.gateway;
    if (next === undefined) return;
    this.serverTls = ServerTls.fromOptions(next.tls === undefined ? undefined : { ...next.tls, verify: true });
    for (const cfg of this.remotes.values()) {
      const rg = next.gateways.find((g) => g.name === cfg.name);
      cfg.tls = rg?.tls ?? next.tls;
    }
    this.infoCache = undefined;
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.housekeeping !== undefined) clearInterval(this.housekeeping);
    this.timers.cancelAll();
    const listener = this.listener;
    this.listener = undefined;
    const closed = listener !== undefined ? new Promise<void>((r) => listener.close(() => r())) : Promise.resolve();
    for (const c of [...this.pending, ...this.out.values(), ...this.in.values()]) c.close("Server Shutdown");
    this.interest.stop();
    await closed;
  }
}

function firstRoute(cluster: Cluster, id: string): Route | undefined {
  return cluster.routes.get(id)?.find((r) => r !== undefined);
}

/** Open a TCP connection within the dial timeout. */
function dial(u: URL): Promise<net.Socket | Error> {
  return new Promise((resolve) => {
    const host = u.hostname.replace(/^\[|\]$/g, "");
    const port = Number(u.port === "" ? "7222" : u.port);
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error("i/o timeout")), DIAL_TIMEOUT_MS);
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
  });
}
