// The cluster: the route listener, the routes this server solicits (configured ones forever,
// gossiped ones a few times), the registry of routes by peer (a pool of connections per peer,
// plus one per pinned account), duplicate resolution, gossip of new peers so that a full mesh
// forms from one seed URL, the cluster name, and the peers' client URLs given to clients.
//
// Pooling (nats-server 2.10's v2 routes): each peer gets `pool_size` connections and every
// account is carried by the one at index fnv32a(account) % pool_size, so both servers agree
// without talking about it; the soliciting side picks each connection's slot and names it in
// its INFO. A peer that does not pool (2.9, or pool_size -1) gets one route for everything.
import net from "node:net";
import tls from "node:tls";
import type { Server, ServerService } from "../server/server.js";
import type { ClusterOptions, ServerOptions } from "../config/options.js";
import { Permissions } from "../auth/permissions.js";
import { ServerTls } from "../server/tls.js";
import { newNonce } from "../auth/authenticator.js";
import type { Account } from "../server/account.js";
import { Route, GOSSIP_DEFAULT, GOSSIP_DISABLED, GOSSIP_OVERRIDE, type RouteInfo, type RouteType } from "./route.js";
import { RouteInterest } from "./interest.js";
import { clientConnectUrls, hostPort, portsFileUrls } from "./urls.js";
import { COMPRESSION_S2_AUTO, needsCompression } from "./compression.js";
import { serverInfoHead, subjectPermissionJson } from "./handshake.js";
import { ListenerTimers } from "./timers.js";
import { shouldReportConnectError } from "./connect_reports.js";
import { bindHost } from "../server/bind_address.js";

/** nats-server's route timings. */
const ROUTE_CONNECT_DELAY_MS = 1000;
const ROUTE_CONNECT_MAX_DELAY_MS = 30_000;
const ROUTE_RECONNECT_DELAY_MS = 1000;
const ROUTE_DIAL_TIMEOUT_MS = 1000;
/** How long the client port waits for the configured routes at start-up (beforeClientListener). */
const ROUTES_FIRST_WAIT_MS = 2000;
/** Routes ping at most this often, whatever the client ping interval. */
const ROUTE_MAX_PING_INTERVAL_MS = 30_000;

/** fnv-1a 32 of the account name: the pool slot that carries it, the same on every server. */
export function routePoolIndex(poolSize: number, account: string): number {
  if (poolSize <= 1) return 0;
  let h = 0x811c9dc5;
  for (const b of Buffer.from(account)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % poolSize;
}

export { clusterOf } from "../server/service_lookup.js";

/** A peer (another server of the cluster) came or went: what replicated services watch. */
export type PeerListener = (peer: { id: string; name: string }, up: boolean) => void;

export class Cluster implements ServerService {
  readonly name = "cluster";
  readonly options: ClusterOptions;
  clusterName: string;
  /** The name was generated here and gives way to a configured or greater one. */
  nameDynamic: boolean;
  readonly interest: RouteInterest;
  routePermissions: Permissions | undefined;
  authRequired: boolean;
  readonly pingIntervalMs: number;
  /** Connections per peer (1 when pooling is off). */
  readonly poolSize: number;
  /** Peer server id → its pool of routes (slots may be empty while connecting). */
  readonly routes = new Map<string, Array<Route | undefined>>();
  /** Pinned account → peer server id → its dedicated route. */
  readonly accRoutes = new Map<string, Map<string, Route>>();
  /** Peers' pool sizes (they may differ from ours during a rolling change). */
  private readonly remotePoolSize = new Map<string, number>();
  /** Routes not registered yet (handshake in progress), so shutdown can close them. */
  private readonly pending = new Set<Route>();
  /** Every route ever registered that is still open, for monitoring. */
  readonly all = new Set<Route>();
  /** Peers' client URLs, counted per peer that announced them. */
  private readonly peerClientUrls = new Map<string, number>();
  /** The peers' WebSocket URLs (ws_connect_urls), counted the same way. */
  private readonly peerWsUrls = new Map<string, number>();
  private listener: net.Server | undefined;
  private tls: ServerTls | undefined;
  private readonly timers = new ListenerTimers();
  private stopping = false;
  /** The route port once listening, and the URL peers reach us on. */
  port = 0;
  private advertisedHost = "";
  private advertisedPort = 0;
  private advertisedIp = "";
  /** The tags and store limits of peers whose last route closed, by server name, as their last INFO told (serverTags). */
  private readonly departed = new Map<string, { tags: string[]; jsLimits: { max_memory?: number; max_storage?: number } | undefined }>();
  /** Told when a peer gets its first route and when it loses its last one. */
  readonly peerListeners = new Set<PeerListener>();
  /** Configured route URLs (normalized `href`) found to lead back to this server. */
  readonly selfRouteUrls = new Set<string>();
  /** Told when a configured route turns out to be this server itself (the cluster is one smaller). */
  readonly selfRouteListeners = new Set<() => void>();
  /** Hook for gateways: a routed message on a `_GR_.` reply subject (true: handled). */
  gatewayReply: ((route: Route, acc: Account, subject: string, reply: string, hdr: number, buf: Buffer, start: number, end: number) => boolean) | undefined;
  /** Hook for gateways: this server's gateway URL, announced to peers in the route INFO. */
  gatewayUrl: (() => string) | undefined;
  /** Hook for leaf nodes: this server's leafnode URL, announced to peers in the route INFO. */
  leafnodeUrl: (() => string) | undefined;
  /** Hook for gateways: a peer told us about a gateway (it has a connection to it). */
  gatewayInfoFromRoute: ((info: RouteInfo, route: Route) => void) | undefined;

  constructor(readonly server: Server) {
    const opts = server.options;
    const o = opts.cluster as ClusterOptions;
    const pinned = [...o.pinnedAccounts];
    // As nats-server: with pooling, the system account gets its own route.
    const sys = server.systemAccount?.name;
    if (o.poolSize > 0 && sys !== undefined && !pinned.includes(sys)) pinned.push(sys);
    this.options = { ...o, pinnedAccounts: pinned };
    this.poolSize = o.poolSize > 0 ? o.poolSize : 1;
    for (const a of pinned) this.accRoutes.set(a, new Map());
    this.nameDynamic = o.name === undefined || o.name === "";
    this.clusterName = this.nameDynamic ? newNonce().replace(/[^A-Za-z0-9]/g, "").slice(0, 22) : (o.name as string);
    this.authRequired = o.username !== undefined && o.username !== "";
    this.routePermissions = permissionsOf(o);
    const ping = o.pingIntervalMs ?? opts.pingIntervalMs;
    this.pingIntervalMs = Math.min(ping, ROUTE_MAX_PING_INTERVAL_MS);
    this.interest = new RouteInterest(this);
  }

  async start(): Promise<void> {
    // Routes always require a verified certificate from their peers, as in nats-server.
    const t = this.options.tls;
    this.tls = ServerTls.fromOptions(t === undefined ? undefined : { ...t, verify: true });
    for (const acc of this.server.accounts.values()) this.interest.attach(acc);
    this.server.events.account.add((acc) => this.interest.attach(acc));
  }

  /**
   * Before the client listener, when the client port is fixed and routes are configured: the
   * route listener opens and the configured routes are solicited first, and the client port
   * waits (ROUTES_FIRST_WAIT_MS at most) until each has answered a first round trip, its peer
   * has our client URLs and we its, or its first attempt failed. nats-server does it the other
   * way around (client port, then routes), but its routes are up within a millisecond; ours
   * take tens (hundreds under load) of an event loop busy starting, and a client, or a harness
   * that takes the client port accepting as "started" and spawns the next server, got a
   * partial connect_urls meanwhile (nats.c's GetServers, DiscoveredServersCb,
   * ServerPoolUpdatedOnClusterUpdate). A random client port is only known once bound: routes
   * follow it, as before.
   */
  async beforeClientListener(): Promise<void> {
    if (this.options.routes.length === 0 || this.server.options.port <= 0) return;
    const started = Date.now();
    let answered = 0;
    let left = this.options.routes.length;
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (done = resolve));
    await this.openRoutes(() => {
      answered++;
      if (--left === 0) done();
    });
    if (left > 0) await Promise.race([all, this.timers.sleep(ROUTES_FIRST_WAIT_MS)]);
    this.server.log.debug(`Configured routes before the client listener: ${answered} of ${this.options.routes.length} settled in ${Date.now() - started} ms`);
  }

  /** Called once the client listener is up: listen for routes, then solicit the configured ones (unless done before it). */
  async listening(): Promise<void> {
    if (!this.routesOpened) await this.openRoutes(undefined);
  }

  private routesOpened = false;

  /** Listen for routes, then solicit the configured ones; `settled` is told once per configured route (see beforeClientListener). */
  private async openRoutes(settled: (() => void) | undefined): Promise<void> {
    this.routesOpened = true;
    const log = this.server.log;
    log.info(`Cluster name is ${this.clusterName}`);
    if (this.nameDynamic) log.warn("Cluster name was dynamically generated, consider setting one");
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
      srv.once("error", (err) => reject(new Error(`Error listening on router port: ${this.options.port} - ${err.message}`)));
      srv.listen({ host: bindHost(this.options.host), port: this.options.port === -1 ? 0 : this.options.port }, () => {
        srv.removeAllListeners("error");
        srv.on("error", (err) => log.error(`Route listener error: ${err.message}`));
        this.listener = srv;
        this.port = (srv.address() as net.AddressInfo).port;
        log.info(`Listening for route connections on ${hostPort(this.options.host, this.port)}`);
        resolve();
      });
    });
    this.setAdvertised();
    if (this.tls !== undefined) log.info("TLS required for route connections");
    this.updatePortsFile();
    this.startHousekeeping();
    for (const u of this.options.routes) this.solicitConfigured(u, settled);
  }

  private setAdvertised(): void {
    const adv = this.options.advertise;
    if (adv !== undefined && adv !== "") {
      const u = parseHostPortLoose(adv, this.port);
      this.advertisedHost = u.host;
      this.advertisedPort = u.port;
      this.advertisedIp = `nats-route://${hostPort(u.host, u.port)}/`;
    } else {
      this.advertisedHost = this.options.host;
      this.advertisedPort = this.port;
      this.advertisedIp = "";
    }
  }

  private solicitConfigured(raw: string, settled?: () => void): void {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      this.server.log.error(`Error parsing route URL ${JSON.stringify(raw)}`);
      settled?.();
      return;
    }
    this.connectToRoute(url, "explicit", true, GOSSIP_DEFAULT, "", settled);
    for (const acc of this.options.pinnedAccounts) this.connectToRoute(url, "explicit", true, GOSSIP_DEFAULT, acc);
  }

  // ---- route INFO ----

  /**
   * The INFO of a new route (nats-server's generateRouteInitialInfoJSON). `compression` is the
   * mode it announces: the configured one by default, the chosen one once negotiated (s2_auto
   * stays s2_auto: the level is ours to change).
   */
  routeInfoJson(accName: string, poolIdx: number, gossipMode: number, compression = this.options.compression): string {
    const s = this.server;
    const o = this.options;
    const info = serverInfoHead(s, this.advertisedHost, this.advertisedPort);
    if (this.authRequired) info.auth_required = true;
    if (this.tls !== undefined) {
      info.tls_required = true;
      info.tls_verify = true;
    }
    info.max_payload = s.options.maxPayload;
    if (s.options.jetstream.enabled) info.jetstream = true;
    if (this.advertisedIp !== "") info.ip = this.advertisedIp;
    info.nonce = newNonce();
    info.cluster = this.clusterName;
    if (this.nameDynamic) info.cluster_dynamic = true;
    if (s.options.jetstream.domain) info.domain = s.options.jetstream.domain;
    if (!o.noAdvertise) {
      const urls = this.ownClientUrls();
      if (urls.length > 0) info.connect_urls = urls;
      const wsUrls = this.ownWsUrls();
      if (wsUrls.length > 0) info.ws_connect_urls = wsUrls;
    }
    info.compression = this.options.compression === COMPRESSION_S2_AUTO ? COMPRESSION_S2_AUTO : compression;
    if (o.permissions !== undefined) {
      if (o.permissions.import !== undefined) info.import = subjectPermissionJson(o.permissions.import);
      if (o.permissions.export !== undefined) info.export = subjectPermissionJson(o.permissions.export);
    }
    info.lnoc = true;
    info.lnocu = true;
    const lnUrl = this.leafnodeUrl?.();
    if (lnUrl !== undefined && lnUrl !== "") info.leafnode_urls = [lnUrl];
    const gwUrl = this.gatewayUrl?.();
    if (gwUrl !== undefined && gwUrl !== "") info.gateway_url = gwUrl;
    if (o.poolSize > 0) info.route_pool_size = o.poolSize;
    if (s.options.serverTags.length > 0) info.tags = s.options.serverTags;
    const jsLimits = ownJsLimits(s);
    if (jsLimits !== undefined) info.js_limits = jsLimits;
    // A peer of a nats-server cluster (nrg_peer) runs no JetStream of its own.
    if (s.options.jetstream.enabled && o.nrgPeer !== true) info.js_account_api = true;
    if (poolIdx > 0) info.route_pool_idx = poolIdx;
    if (accName !== "") info.route_account = accName;
    if (gossipMode !== GOSSIP_DEFAULT) info.gossip_mode = gossipMode;
    return JSON.stringify(info);
  }

  private ownClientUrls(): string[] {
    // In lame duck mode clients are sent elsewhere: this server stops offering itself.
    return this.lameDuck ? [] : clientConnectUrls(this.server);
  }

  /** This server's WebSocket URLs (ws_connect_urls), none without a WebSocket listener. */
  private ownWsUrls(): string[] {
    return this.lameDuck ? [] : (this.server.websocket?.connectUrls ?? []);
  }

  /**
   * The ports file lists the route listener as nats-server does (`cluster`), plus the cluster's
   * name and the peers' route URLs (rewritten as peers come and go).
   */
  private updatePortsFile(): void {
    const x = this.server.portsFileExtras;
    x.cluster = portsFileUrls("nats", this.options.host, this.port);
    x.cluster_name = [this.clusterName];
    x.cluster_peers = this.peers().map((p) => p.url);
    this.server.writePortsFile();
  }

  // ---- connections ----

  private accept(socket: net.Socket): void {
    if (this.stopping || this.server.isShuttingDown) {
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined);
    let conn: net.Socket = socket;
    const tlsConf = this.tls;
    if (tlsConf !== undefined) conn = tlsConf.wrapClient(socket);
    const route = new Route(this, conn, undefined, "implicit", GOSSIP_DEFAULT, "");
    if (tlsConf !== undefined) route.startServerTls(tlsConf, false, "TLS route handshake error");
    this.pending.add(route);
    route.info(`Route connection created`);
    route.sendInfo(this.routeInfoJson("", 0, GOSSIP_DEFAULT));
  }

  /**
   * Connect to a route URL: explicit routes are tried until they connect (while still
   * configured), implicit ones `connect_retries` more times. `settled`, once: the first attempt
   * failed, or its route answered a first PING or closed.
   */
  connectToRoute(url: URL, type: RouteType, firstConnect: boolean, gossipMode: number, accName: string, settled?: () => void): void {
    let attempts = 0;
    let delay = ROUTE_CONNECT_DELAY_MS;
    const attempt = (): void => {
      if (this.stopping) return;
      if (type === "explicit") {
        // The configuration may have changed (reload): use its URL, credentials included.
        const current = this.configuredUrl(url);
        if (current === undefined) {
          this.server.log.debug(`Not attempting to connect to explicit route ${redact(url)}, no longer part of configured routes`);
          settle();
          return;
        }
        url = current;
      }
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const port = Number(url.port === "" ? "6222" : url.port);
      this.server.log.debug(`Trying to connect to route on ${hostPort(host, port)}`);
      const socket = net.connect({ host, port, noDelay: true });
      const dialTimer = setTimeout(() => socket.destroy(new Error("i/o timeout")), ROUTE_DIAL_TIMEOUT_MS);
      const fail = (err: Error): void => {
        clearTimeout(dialTimer);
        socket.destroy();
        attempts++;
        const msg = `Error trying to connect to route (attempt ${attempts}): ${err.message}`;
        if (shouldReportConnectError(this.server.options, firstConnect, attempts)) this.server.log.error(msg);
        else this.server.log.debug(msg);
        settle();
        if (type !== "explicit" && attempts > this.options.connectRetries) return;
        if (this.options.connectBackoff) delay = Math.min(delay * 2, ROUTE_CONNECT_MAX_DELAY_MS);
        this.timers.later(attempt, delay);
      };
      socket.once("error", fail);
      socket.once("connect", () => {
        clearTimeout(dialTimer);
        socket.removeListener("error", fail);
        if (this.stopping || (type === "explicit" && this.configuredUrl(url) === undefined)) {
          socket.destroy();
          settle();
          return;
        }
        this.createSolicited(socket, url, type, gossipMode, accName).onSettled = settle;
      });
    };
    const settle = (): void => {
      const s = settled;
      settled = undefined;
      s?.();
    };
    attempt();
  }

  private createSolicited(socket: net.Socket, url: URL, type: RouteType, gossipMode: number, accName: string): Route {
    socket.on("error", () => undefined);
    let conn: net.Socket = socket;
    if (this.tls !== undefined) {
      const host = url.hostname.replace(/^\[|\]$/g, "");
      conn = tls.connect({
        socket,
        secureContext: this.tls.context,
        servername: net.isIP(host) === 0 ? host : undefined,
        rejectUnauthorized: this.options.tls?.ca !== undefined && this.options.tls.insecure !== true,
      });
    }
    const route = new Route(this, conn, url, type, gossipMode, accName);
    this.pending.add(route);
    if (this.server.log.debugEnabled) route.debug("Route connect msg sent");
    route.sendConnect(this.clusterName, this.tls !== undefined);
    // Pooled routes wait for the peer's INFO before sending theirs (it names the pool slot), and
    // so do routes configured for compression (their INFO depends on the peer's mode).
    if (!(accName === "" && this.options.poolSize >= 1) && !needsCompression(this.options.compression)) route.sendInfo(this.routeInfoJson(accName, 0, gossipMode));
    route.info("Route connection created");
    return route;
  }

  /** The configured route for the same host and port as `url`, if it is still configured. */
  private configuredUrl(url: URL): URL | undefined {
    const raw = this.options.routes.find((r) => sameUrl(r, url));
    return raw === undefined ? undefined : new URL(raw);
  }

  // ---- registration ----

  /**
   * Register a route whose first INFO was processed. False when it duplicates one we have
   * (the caller closes it). Sends the delayed INFO, our interest, and gossips the new peer.
   */
  addRoute(route: Route, info: RouteInfo, sendDelayedInfo: boolean, gossipMode: number): boolean {
    if (this.stopping) return false;
    const id = info.server_id;
    const accName = route.accName;
    const remotePool = typeof info.route_pool_size === "number" ? info.route_pool_size : 0;
    let pool = remotePool > 0;
    const effective = Math.max(this.poolSize, remotePool);
    let protoErr = "";
    if (remotePool <= 0 || this.options.poolSize < 0) {
      if (accName !== "") {
        protoErr = `Not possible to have a dedicated route for account ${JSON.stringify(accName)} between those servers`;
        route.noReconnect = true;
      } else {
        pool = false;
        route.poolIdx = 0;
        route.noPool = true;
      }
    } else if (route.didSolicit) {
      if ((info.route_pool_idx ?? 0) !== 0) protoErr = `Route pool index should not be set but is set to ${String(info.route_pool_idx)}`;
    } else {
      const idx = info.route_pool_idx ?? 0;
      if (!Number.isInteger(idx) || idx < 0 || idx >= effective) protoErr = `Invalid route pool index: ${idx} - pool size is ${remotePool}`;
    }
    if (protoErr !== "") {
      route.error(protoErr);
      route.sendErr(protoErr);
      route.close("Protocol Violation");
      return false;
    }
    if (accName !== "") return this.addAccountRoute(route, info, accName, sendDelayedInfo, gossipMode);

    let conns = this.routes.get(id);
    let idx = -1;
    let count = 0;
    const exists = conns !== undefined;
    if (conns === undefined) {
      conns = new Array<Route | undefined>(effective).fill(undefined);
      this.routes.set(id, conns);
      idx = route.noPool ? 0 : (info.route_pool_idx ?? 0);
    } else if (pool) {
      while (conns.length < effective) conns.push(undefined);
      if (!route.didSolicit) {
        idx = info.route_pool_idx ?? 0;
        const there = conns[idx];
        if (there !== undefined) {
          this.handleDuplicate(there, route, false);
          return false;
        }
        const solicited = conns.find((r) => r?.didSolicit === true);
        if (solicited !== undefined) route.upgradeToSolicited(solicited.url, solicited.routeType);
      } else {
        for (const r of conns) r?.upgradeToSolicited(route.url, route.routeType);
      }
      for (let i = 0; i < conns.length; i++) {
        const r = conns[i];
        if (idx === -1 && r === undefined) idx = i;
        else if (r !== undefined) count++;
      }
    } else {
      // One route per peer without pooling: the second one is a duplicate.
      this.handleDuplicate(conns[0], route, true);
      return false;
    }
    if (idx < 0) {
      route.debug(`Route pool size reached, closing extra connection to ${JSON.stringify(id)}`);
      route.noReconnect = true;
      return false;
    }
    route.connectUrls = stringsOf(info.connect_urls);
    route.wsConnectUrls = stringsOf(info.ws_connect_urls);
    route.poolIdx = idx;
    if (sendDelayedInfo) route.sendInfo(this.routeInfoJson("", idx, gossipMode, route.compression));
    if (pool && idx === 0) this.remotePoolSize.set(id, remotePool);
    conns[idx] = route;
    count++;
    this.pending.delete(route);
    this.all.add(route);
    const first = !pool || count === 1;
    if (first) {
      if (this.routes.size > 1) this.forwardNewRouteInfo(info, route.routeType, route.didSolicit, gossipMode);
      if (!this.options.noAdvertise) this.addPeerUrls(route);
      if (!exists) {
        this.server.log.info(`${route.logPrefix()} - Route connection to ${info.server_name ?? id} registered`);
        for (const l of this.peerListeners) l({ id, name: route.remoteName }, true);
        this.updatePortsFile();
      }
    }
    this.interest.sendAllTo(route, idx, "");
    if (pool && route.didSolicit && count !== effective && route.url !== undefined) {
      // Open the next connection of the pool once this one answers a PING (so it authenticated).
      route.startNewRoute = { url: route.url, type: route.routeType, gossipMode };
    }
    // A first round trip: its PONG measures the RTT (and opens the pool's next connection).
    route.sendPing();
    return true;
  }

  private addAccountRoute(route: Route, info: RouteInfo, accName: string, sendDelayedInfo: boolean, gossipMode: number): boolean {
    const id = info.server_id;
    const account = this.server.accounts.get(accName);
    if (account === undefined) {
      const text = `Unable to lookup account ${JSON.stringify(accName)}: account not found`;
      route.sendErr(text);
      route.error(text);
      route.close("Missing Account");
      return false;
    }
    const conns = this.accRoutes.get(accName);
    if (conns === undefined) {
      const text = `No route for account ${JSON.stringify(accName)}`;
      route.sendErr(text);
      route.error(text);
      route.close("Protocol Violation");
      return false;
    }
    const there = conns.get(id);
    if (there !== undefined) {
      this.handleDuplicate(there, route, true);
      return false;
    }
    conns.set(id, route);
    if (sendDelayedInfo) route.sendInfo(this.routeInfoJson(accName, 0, gossipMode, route.compression));
    this.pending.delete(route);
    this.all.add(route);
    if (conns.size > 1) this.forwardNewRouteInfo(info, route.routeType, route.didSolicit, gossipMode);
    this.interest.sendAllTo(route, -1, accName);
    route.sendPing();
    return true;
  }

  /**
   * Two connections to the same peer slot: keep the registered one, close the newcomer. The kept
   * one inherits the newcomer's solicited identity (so it reconnects), and is told to retry: both
   * sides may each have kept the connection the other closed.
   */
  private handleDuplicate(kept: Route | undefined, extra: Route, noReconnect: boolean): void {
    if (noReconnect) extra.noReconnect = true;
    if (kept === undefined) return;
    if (extra.didSolicit && !kept.didSolicit) {
      kept.didSolicit = true;
      kept.url = extra.url;
    }
    if (extra.routeType === "explicit") kept.routeType = "explicit";
    kept.retry = true;
  }

  /** A route closed: unregister it, update clients' URLs, and reconnect when it was ours to keep. */
  onRouteClosed(route: Route): void {
    route.settle();
    this.pending.delete(route);
    this.all.delete(route);
    const id = route.remoteId;
    let lastOfPeer = false;
    if (route.accName !== "") {
      const conns = this.accRoutes.get(route.accName);
      if (conns?.get(id) === route) conns.delete(id);
    } else if (route.poolIdx >= 0) {
      const conns = this.routes.get(id);
      if (conns !== undefined && conns[route.poolIdx] === route) {
        conns[route.poolIdx] = undefined;
        if (conns.every((r) => r === undefined)) {
          lastOfPeer = true;
          this.routes.delete(id);
          this.remotePoolSize.delete(id);
          if (!this.options.noAdvertise) this.removePeerUrls(route.connectUrls, route.wsConnectUrls);
        }
      }
    }
    if (lastOfPeer) {
      if (route.remoteName !== "") this.departed.set(route.remoteName, { tags: tagsOf(route.remoteInfo), jsLimits: route.remoteInfo?.js_limits });
      this.server.log.info(`${route.logPrefix()} - Route connection to ${route.remoteName || id} closed: ${route.closeReason}`);
      for (const l of this.peerListeners) l({ id, name: route.remoteName }, false);
      this.updatePortsFile();
    } else route.debug(`Route connection closed: ${route.closeReason}`);
    this.reconnect(route);
  }

  private reconnect(route: Route): void {
    if (this.stopping || this.server.isShuttingDown || route.noReconnect || route.closeReason === "Server Shutdown") return;
    const retryImplicit = route.retry || (route.didSolicit && route.routeType === "implicit");
    if (!route.didSolicit && !retryImplicit) return;
    const url = route.url;
    if (url === undefined) return;
    if (route.remoteId === this.server.id) return;
    if (route.accName === "" && this.options.poolSize < 1 && route.remoteId !== "" && this.routes.has(route.remoteId)) {
      if (route.didSolicit) this.routes.get(route.remoteId)?.[0]?.upgradeToSolicited(url, route.routeType);
      return;
    }
    if (route.routeType !== "implicit" || retryImplicit) {
      // Both sides may reconnect at once: a random delay makes a repeated tie unlikely.
      const delay = Math.floor(Math.random() * 100) + (route.routeType === "explicit" ? ROUTE_RECONNECT_DELAY_MS : 0);
      this.timers.later(() => this.connectToRoute(url, route.routeType, false, GOSSIP_DEFAULT, route.accName), delay);
    }
  }

  // ---- gossip ----

  /** Tell the other peers about a new one, so they connect to it (and the mesh stays full). */
  private forwardNewRouteInfo(info: RouteInfo, type: RouteType, didSolicit: boolean, localGossip: number): void {
    const fromGossip = didSolicit && type === "implicit";
    if ((fromGossip && localGossip !== GOSSIP_OVERRIDE) || info.gossip_mode === GOSSIP_DISABLED) return;
    const base: RouteInfo = { ...info };
    delete base.nonce;
    const json = (mode: number): string => JSON.stringify({ ...base, gossip_mode: mode === 0 ? undefined : mode });
    const forRoute = (r: Route): string => {
      if ((!didSolicit && r.routeType === "explicit") || (didSolicit && type === "explicit")) return json(GOSSIP_OVERRIDE);
      if (!didSolicit) return json(GOSSIP_DISABLED);
      return json(0);
    };
    const accName = typeof info.route_account === "string" ? info.route_account : "";
    const done = new Set<string>();
    if (accName !== "") {
      for (const [rid, r] of this.accRoutes.get(accName) ?? []) {
        if (rid !== info.server_id && !r.noPool) r.sendInfo(forRoute(r));
        done.add(rid);
      }
    }
    for (const [rid, conns] of this.routes) {
      if (rid === info.server_id || done.has(rid)) continue;
      const r = conns.find((c) => c !== undefined);
      if (r === undefined || (accName !== "" && r.noPool)) continue;
      r.sendInfo(forRoute(r));
    }
  }

  /** A peer told us about another server: connect to it unless we already are (or will be). */
  processImplicitRoute(info: RouteInfo, routeNoPool: boolean): void {
    const id = info.server_id;
    if (id === this.server.id || this.stopping) return;
    const accName = typeof info.route_account === "string" ? info.route_account : "";
    if (accName !== "") {
      if (this.options.poolSize <= 0) return;
      if (this.accRoutes.get(accName)?.has(id) === true) return;
      if (!this.accRoutes.has(accName)) return;
    } else if (this.routes.has(id)) return;
    if (this.hasThisRouteConfigured(info)) return;
    if (typeof info.ip !== "string" || info.ip === "") return;
    let url: URL;
    try {
      url = new URL(info.ip);
    } catch {
      this.server.log.error(`Error parsing URL from INFO: ${info.ip}`);
      return;
    }
    if (info.auth_required === true && this.options.username !== undefined) {
      url.username = encodeURIComponent(this.options.username);
      url.password = encodeURIComponent(this.options.password ?? "");
    }
    this.connectToRoute(url, "implicit", true, info.gossip_mode ?? GOSSIP_DEFAULT, accName);
    if (routeNoPool && accName === "") {
      for (const acc of this.options.pinnedAccounts) this.connectToRoute(url, "implicit", true, info.gossip_mode ?? GOSSIP_DEFAULT, acc);
    }
  }

  private hasThisRouteConfigured(info: RouteInfo): boolean {
    const port = String(info.port ?? "");
    const one = hostPort(info.host ?? "", Number(port)).toLowerCase();
    let two = "";
    if (typeof info.ip === "string" && URL.canParse(info.ip)) {
      two = hostPort(new URL(info.ip).hostname.replace(/^\[|\]$/g, ""), Number(port)).toLowerCase();
    }
    for (const r of this.server.options.cluster?.routes ?? []) {
      if (!URL.canParse(r)) continue;
      const h = new URL(r).host.toLowerCase();
      if (h === one || (two !== "" && h === two)) return true;
    }
    return false;
  }

  /** A dynamic cluster name gives way to a configured (or greater) one; routes of the old name go. */
  adoptName(name: string, dynamic: boolean, exceptId: string): void {
    this.clusterName = name;
    if (!dynamic) this.nameDynamic = false;
    this.server.log.info(`Cluster name updated to ${name}`);
    this.updatePortsFile();
    for (const r of [...this.all]) if (r.remoteId !== exceptId) r.close("Cluster Name Conflict");
  }

  // ---- client URLs (connect_urls, and ws_connect_urls for WebSocket clients) ----

  private addPeerUrls(route: Route): void {
    const clients = countUrls(this.peerClientUrls, route.connectUrls, 1);
    const websocket = countUrls(this.peerWsUrls, route.wsConnectUrls, 1);
    this.updateClientInfo(clients, websocket);
  }

  private removePeerUrls(clientUrls: string[], wsUrls: string[]): void {
    const clients = countUrls(this.peerClientUrls, clientUrls, -1);
    const websocket = countUrls(this.peerWsUrls, wsUrls, -1);
    this.updateClientInfo(clients, websocket);
  }

  /** New connect URLs for the clients whose list changed (this server's own first), sent to them. */
  private updateClientInfo(clients: boolean, websocket: boolean): void {
    if (!clients && !websocket) return;
    if (clients) this.server.connectUrls = [...this.ownClientUrls(), ...this.peerClientUrls.keys()];
    if (websocket) this.server.wsConnectUrls = [...this.ownWsUrls(), ...this.peerWsUrls.keys()];
    this.server.broadcastInfo({ clients, websocket });
  }

  /** A peer entered lame duck mode: its clients are about to move, so stop offering its URLs. */
  /**
   * A configured route reached this server itself: nats-server configs list every member's URL,
   * the server's own included, so it is not a peer (the JetStream meta group sizes itself on it).
   */
  onSelfRoute(url: URL): void {
    if (this.selfRouteUrls.has(url.href)) return;
    this.selfRouteUrls.add(url.href);
    for (const l of this.selfRouteListeners) l();
  }

  onPeerLameDuck(route: Route): void {
    if (this.options.noAdvertise) return;
    const { connectUrls, wsConnectUrls } = route;
    route.connectUrls = [];
    route.wsConnectUrls = [];
    this.removePeerUrls(connectUrls, wsConnectUrls);
  }

  private lameDuck = false;

  /**
   * This server enters lame duck mode: tell peers (they drop our URLs from their clients' lists),
   * and give our clients the peers' URLs only, so they reconnect there.
   */
  enterLameDuck(): void {
    this.lameDuck = true;
    this.server.connectUrls = this.options.noAdvertise ? [] : [...this.peerClientUrls.keys()];
    this.server.wsConnectUrls = this.options.noAdvertise ? [] : [...this.peerWsUrls.keys()];
    const info = JSON.parse(this.routeInfoJson("", 0, GOSSIP_DEFAULT)) as Record<string, unknown>;
    delete info.nonce;
    info.ldm = true;
    for (const r of this.all) r.sendAsyncInfo(info);
  }

  // ---- interest routing ----

  poolIndexOf(account: string): number {
    return this.accRoutes.has(account) ? -1 : routePoolIndex(this.poolSize, account);
  }

  /** The routes that carry an account's interest: one per peer. */
  routesForAccount(account: string): Route[] {
    const out: Route[] = [];
    const pinned = this.accRoutes.get(account);
    if (pinned !== undefined) {
      for (const r of pinned.values()) out.push(r);
      for (const conns of this.routes.values()) {
        const r = conns[0];
        if (r !== undefined && r.noPool) out.push(r);
      }
      return out;
    }
    const idx = routePoolIndex(this.poolSize, account);
    for (const conns of this.routes.values()) {
      const r = conns[idx];
      if (r !== undefined) out.push(r);
      else if (conns[0]?.noPool === true) out.push(conns[0]);
    }
    return out;
  }

  /** INFO about a gateway a peer connected to: ours to connect to as well, when we have gateways. */
  onGatewayInfoFromRoute(info: RouteInfo, route: Route): void {
    if (this.gatewayInfoFromRoute !== undefined) this.gatewayInfoFromRoute(info, route);
    else this.server.log.error(`Received information about gateway ${JSON.stringify(info.gateway)} from ${route.remoteId}, but gateway is not configured`);
  }

  /** Number of peers with at least one route. */
  get numPeers(): number {
    return this.routes.size;
  }

  /** Peers' names and ids (for the ports file and /varz). */
  peers(): Array<{ id: string; name: string; url: string }> {
    const out: Array<{ id: string; name: string; url: string }> = [];
    for (const [id, conns] of this.routes) {
      const r = conns.find((c) => c !== undefined);
      if (r !== undefined) out.push({ id, name: r.remoteName, url: r.url?.href ?? "" });
    }
    return out;
  }

  /**
   * A server's `server_tags`, this one's or a peer's from its route INFO, or from the last INFO of
   * a peer whose routes closed since this server started (as nats-server keeps a stopped server's
   * node info, offline, and places on it); undefined when no route ever led to it.
   */
  serverTags(name: string): string[] | undefined {
    if (name === this.server.name) return this.server.options.serverTags;
    const r = this.liveRouteTo(name);
    if (r !== undefined) return tagsOf(r.remoteInfo);
    return this.departed.get(name)?.tags;
  }

  /** A server's JetStream store limits (bytes; undefined: none set), this one's or a peer's from its route INFO (or its last one: serverTags). */
  serverJsLimits(name: string): { max_memory?: number; max_storage?: number } | undefined {
    if (name === this.server.name) return ownJsLimits(this.server);
    const r = this.liveRouteTo(name);
    if (r !== undefined) return r.remoteInfo?.js_limits;
    return this.departed.get(name)?.jsLimits;
  }

  private liveRouteTo(name: string): Route | undefined {
    for (const conns of this.routes.values()) {
      const r = conns.find((c) => c !== undefined);
      if (r !== undefined && r.remoteName === name) return r;
    }
    return undefined;
  }

  private housekeeping: NodeJS.Timeout | undefined;

  reload(options: ServerOptions): void {
    const next = options.cluster;
    if (next === undefined) return;
    // Routes no longer configured stop being retried; new ones are solicited.
    const before = this.options.routes;
    this.options.routes = [...next.routes];
    for (const u of next.routes) if (!before.some((b) => URL.canParse(u) && sameUrl(b, new URL(u)))) this.solicitConfigured(u);
    for (const r of [...this.all]) {
      if (r.routeType === "explicit" && r.url !== undefined && !next.routes.some((u) => sameUrl(u, r.url as URL))) {
        r.noReconnect = true;
        r.close("Route Removed");
      }
    }
    if (next.compression !== this.options.compression || JSON.stringify(next.compressionRttMs) !== JSON.stringify(this.options.compressionRttMs)) {
      const modeChanged = next.compression !== this.options.compression;
      this.options.compression = next.compression;
      this.options.compressionRttMs = next.compressionRttMs;
      // New thresholds apply at the next PONG; a new mode is negotiated again on new connections.
      if (modeChanged) for (const r of [...this.all]) r.close("Configuration Changed");
    }
    const authChanged = next.username !== this.options.username || next.password !== this.options.password;
    Object.assign(this.options, { username: next.username, password: next.password, authTimeoutMs: next.authTimeoutMs });
    this.authRequired = next.username !== undefined && next.username !== "";
    if (authChanged) {
      // Accepted routes authenticated with the old credentials: they must log in again.
      for (const r of [...this.all]) if (!r.didSolicit) r.close("Configuration Changed");
    }
    const permsChanged = JSON.stringify(next.permissions) !== JSON.stringify(this.options.permissions);
    if (permsChanged) {
      this.options.permissions = next.permissions;
      this.routePermissions = permissionsOf(next);
      const info = JSON.parse(this.routeInfoJson("", 0, GOSSIP_DEFAULT)) as Record<string, unknown>;
      delete info.nonce;
      for (const r of this.all) {
        r.perms = this.routePermissions;
        r.sendAsyncInfo(info);
        this.interest.sendAllTo(r, r.poolIdx, r.accName);
      }
    }
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.housekeeping !== undefined) clearInterval(this.housekeeping);
    this.timers.cancelAll();
    const listener = this.listener;
    this.listener = undefined;
    const closed = listener !== undefined ? new Promise<void>((r) => listener.close(() => r())) : Promise.resolve();
    for (const r of [...this.pending, ...this.all]) r.close("Server Shutdown");
    await closed;
  }

  /** Write deadlines of routes, checked every second. */
  startHousekeeping(): void {
    this.housekeeping = setInterval(() => {
      const now = Date.now();
      for (const r of this.all) r.checkWriteDeadline(now);
    }, 1000);
    this.housekeeping.unref();
  }
}

function permissionsOf(o: ClusterOptions): Permissions | undefined {
  const p = o.permissions;
  if (p === undefined) return undefined;
  // Import is what we may receive (a publish right), export what peers may ask of us (a subscribe right).
  return Permissions.from({ publish: p.import, subscribe: p.export });
}

function parseHostPortLoose(s: string, defPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (m === null) return { host: s, port: defPort };
  return { host: m[1], port: m[2] !== undefined ? Number(m[2]) : defPort };
}

function sameUrl(raw: string, u: URL): boolean {
  if (!URL.canParse(raw)) return false;
  const a = new URL(raw);
  return a.hostname.toLowerCase() === u.hostname.toLowerCase() && a.port === u.port;
}

function redact(u: URL): string {
  if (u.password === "") return u.href;
  const c = new URL(u.href);
  c.password = "xxxxx";
  return c.href;
}

function stringsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((u): u is string => typeof u === "string") : [];
}

/**
 * Count `urls` in or out of `counts` (several peers, or a peer's pooled routes, may offer one
 * URL); true when a URL appeared or disappeared.
 */
function countUrls(counts: Map<string, number>, urls: string[], delta: 1 | -1): boolean {
  let changed = false;
  for (const u of urls) {
    const n = counts.get(u) ?? 0;
    if (delta > 0) {
      counts.set(u, n + 1);
      if (n === 0) changed = true;
    } else if (n > 0) {
      if (n === 1) {
        counts.delete(u);
        changed = true;
      } else counts.set(u, n - 1);
    }
  }
  return changed;
}

/** The JetStream store limits this server's config sets (max_mem_store, max_file_store), for its peers' placement. */
function ownJsLimits(s: Server): { max_memory?: number; max_storage?: number } | undefined {
  const js = s.options.jetstream;
  if (!js.enabled) return undefined;
  const out: { max_memory?: number; max_storage?: number } = {};
  if (js.maxMemoryStore > 0) out.max_memory = js.maxMemoryStore;
  if (js.maxFileStore > 0) out.max_storage = js.maxFileStore;
  return out.max_memory === undefined && out.max_storage === undefined ? undefined : out;
}

/** The `server_tags` a route's INFO carries. */
function tagsOf(info: RouteInfo | undefined): string[] {
  return (info?.tags ?? []).filter((t): t is string => typeof t === "string");
}
