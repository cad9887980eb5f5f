// One route: a connection to another server of the same cluster, speaking nats-server's route
// protocol (server/route.go as facts):
//
//   accepting side  → INFO {route info}            soliciting side → CONNECT {connectInfo}
//   soliciting side → INFO (after the peer's INFO when pooled: it names the pool slot)
//   both            → RS+/RS- [acc] subj [queue weight]   interest of local subscribers
//                     LS+/LS- origin [acc] subj ...        interest of leaf nodes (origin cluster)
//                     RMSG/HMSG/LMSG [acc] subj [reply | + reply queues | | queues] [hdr] size
//
// The account is left out on a route pinned to one account. Messages from a route go to local
// subscribers only (never on to another route): the full mesh delivers each message in one hop.
// Registration, pooling, gossip and duplicate resolution are the cluster's (cluster.ts).
import type net from "node:net";
import type { Account } from "../server/account.js";
import { MsgTrace } from "../server/msg_trace.js";
import type { RemoteDeliverer, Subscription } from "../server/sublist.js";
import { Permissions } from "../auth/permissions.js";
import { ProtoErr, ProtocolError } from "../protocol/errors.js";
import { RemoteConnection } from "./connection.js";
import { authTimeoutMs, credentialsMatch } from "./handshake.js";
import { parseSize, RoutedMsg } from "./routed_msg.js";
import type { MsgOp, SubOp, UnsubOp } from "./remote_parser.js";
import type { Cluster } from "./cluster.js";
import type { LeafConnection } from "./leafnode.js";
import { COMPRESSION_NOT_SUPPORTED, COMPRESSION_OFF, needsCompression, type CompressionSetting } from "./compression.js";

/** How a route came to be: configured (retried forever) or learnt from a peer (gossip). */
export type RouteType = "explicit" | "implicit";

/** Gossip modes exchanged in INFO (values fixed by nats-server). */
export const GOSSIP_DEFAULT = 0;
export const GOSSIP_DISABLED = 1;
export const GOSSIP_OVERRIDE = 2;

/** The INFO fields a route reads (nats-server's Info struct, route part). */
export interface RouteInfo {
  server_id: string;
  server_name?: string;
  version?: string;
  proto?: number;
  host?: string;
  port?: number;
  headers?: boolean;
  auth_required?: boolean;
  tls_required?: boolean;
  jetstream?: boolean;
  ip?: string;
  nonce?: string;
  cluster?: string;
  cluster_dynamic?: boolean;
  domain?: string;
  connect_urls?: string[];
  ws_connect_urls?: string[];
  ldm?: boolean;
  compression?: string;
  import?: unknown;
  export?: unknown;
  lnoc?: boolean;
  lnocu?: boolean;
  route_pool_size?: number;
  /** The server's `server_tags` (JetStream placement reads them). */
  tags?: string[];
  /** tsnats' own: the server's JetStream store limits when configured (the meta leader places streams where their max_bytes fits; nats-server learns them from STATSZ). */
  js_limits?: { max_memory?: number; max_storage?: number };
  /**
   * tsnats' own: the server runs tsnats's JetStream, which serves the API in each account (its
   * `$JS.API.>` subscriptions cross routes). nats-server serves it in the system account.
   */
  js_account_api?: boolean;
  route_pool_idx?: number;
  route_account?: string;
  route_acc_add_reqid?: string;
  gossip_mode?: number;
  gateway?: string;
  gateway_url?: string;
  leafnode_urls?: string[];
  [k: string]: unknown;
}

/** The route CONNECT (nats-server's connectInfo). */
interface RouteConnect {
  echo?: boolean;
  verbose?: boolean;
  pedantic?: boolean;
  user?: string;
  pass?: string;
  tls_required?: boolean;
  headers?: boolean;
  name?: string;
  cluster?: string;
  cluster_dynamic?: boolean;
  lnoc?: boolean;
  lnocu?: boolean;
  gateway?: string;
  lang?: string;
}

export class Route extends RemoteConnection {
  readonly kind = "route" as const;
  /** The peer's server id and name, from its INFO (or the CONNECT's name until then). */
  remoteId = "";
  remoteName = "";
  routeType: RouteType;
  /** The URL this route was solicited on (or built from the peer's INFO). */
  url: URL | undefined;
  /** Slot in the peer's pool; -1 until registered. */
  poolIdx = -1;
  /** A route dedicated to one account: the account name is left out of its protocol. */
  accName: string;
  /** The peer does not pool (a server before 2.10, or pool_size -1): one route carries all accounts. */
  noPool = false;
  /** The peer understands LS+/LMSG with an origin cluster (lnoc), and LS- with it (lnocu). */
  lnoc = false;
  lnocu = false;
  /** Both sides support headers. */
  headers = false;
  /** The peer's client URLs, for connect_urls in our client INFO. */
  connectUrls: string[] = [];
  /** The peer's WebSocket URLs, for the connect_urls of our WebSocket clients. */
  wsConnectUrls: string[] = [];
  remoteInfo: RouteInfo | undefined;
  infoReceived = false;
  /** Set when this route lost a duplicate race, so its reconnect is tried even if implicit. */
  retry = false;
  gossipMode: number;
  /** After the first PONG of a pooled route: open the next connection of the pool. */
  startNewRoute: { url: URL; type: RouteType; gossipMode: number } | undefined;
  /** Our cluster permissions: import (what we ask peers for) and export (what we accept). */
  perms: Permissions | undefined;
  /** The peer's permissions as its INFO announces them. */
  remoteImport: unknown;
  remoteExport: unknown;
  /** Whether this server solicited the route; an accepted route is "upgraded" when a pool has a solicited one. */
  didSolicit: boolean;
  /** A reconnect should not be tried (pool full, peer cannot pool an account...). */
  noReconnect = false;
  /** The message being received, between its control line and its payload. */
  private readonly msg = new RoutedMsg();
  private msgAccount = "";
  /** The leaf cluster an LMSG came from: it must not go back there. */
  msgOrigin = "";

  constructor(
    readonly cluster: Cluster,
    socket: net.Socket,
    url: URL | undefined,
    type: RouteType,
    gossipMode: number,
    accName: string,
  ) {
    super(cluster.server, socket, url !== undefined);
    this.didSolicit = this.solicited;
    this.url = url;
    this.routeType = type;
    this.gossipMode = gossipMode;
    this.accName = accName;
    const c = cluster.options;
    if (this.solicited) this.perms = cluster.routePermissions;
    if (!this.solicited && cluster.authRequired) this.startAuthTimer(authTimeoutMs(c.authTimeoutMs, this.server.options.authTimeoutMs, c.tls !== undefined));
    // With compression configured, PINGs wait until it is negotiated (they would cross the switch).
    this.pingsHeld = needsCompression(c.compression);
    this.startPings(cluster.pingIntervalMs, c.maxPingsOut ?? this.server.options.maxPingsOut);
    this.setWriteTimeout(c.writeDeadlineMs, c.writeTimeout);
  }

  protected kindName(): string {
    return "Route";
  }

  protected idTag(): string {
    return "rid";
  }

  protected override onClosed(): void {
    this.cluster.onRouteClosed(this);
  }

  protected compressionSetting(): CompressionSetting {
    const c = this.cluster.options;
    return { mode: c.compression, rttThresholdsMs: c.compressionRttMs };
  }

  protected accountOfSub(sub: Subscription): Account | undefined {
    return this.server.accounts.get(accountOfKey(sub.sid));
  }

  /** Messages for `account` on this route carry its name unless the route is pinned to it. */
  private accountPrefix(account: string): string {
    return this.accName !== "" ? "" : account + " ";
  }

  // ---- handshake ----

  /** The first bytes of a solicited route: our CONNECT (the INFO follows the peer's when pooled). */
  sendConnect(clusterName: string, tlsRequired: boolean): void {
    const u = this.url;
    const connect: RouteConnect = {
      echo: true,
      verbose: false,
      pedantic: false,
    };
    if (u !== undefined && u.username !== "") connect.user = decodeURIComponent(u.username);
    if (u !== undefined && u.password !== "") connect.pass = decodeURIComponent(u.password);
    connect.tls_required = tlsRequired;
    connect.headers = !this.server.options.noHeaderSupport;
    connect.name = this.server.id;
    connect.cluster = clusterName;
    if (this.cluster.nameDynamic) connect.cluster_dynamic = true;
    connect.lnoc = true;
    connect.lnocu = true;
    this.sendConnectOp(connect);
  }

  onConnect(json: string): void {
    const c = this.readConnect<RouteConnect>(json);
    // Clients name their language, servers do not: a client on the route port is told so.
    if (typeof c.lang === "string" && c.lang !== "") {
      this.sendErr(ProtoErr.RoutePort);
      this.close("Wrong Port");
      return;
    }
    this.whenChecked(credentialsMatch(c, this.cluster.options), (ok) => (ok ? this.acceptConnect(c) : this.refuseLogin("Router authentication failure")));
  }

  private acceptConnect(c: RouteConnect): void {
    this.stopAuthTimer();
    if (typeof c.gateway === "string" && c.gateway !== "") {
      this.reject(`Rejecting connection from gateway ${JSON.stringify(c.gateway)} on the Route port`, "Wrong Gateway");
      return;
    }
    const ours = this.cluster.clusterName;
    const theirs = typeof c.cluster === "string" ? c.cluster : "";
    if (theirs !== ours) {
      if (this.cluster.nameDynamic && (c.cluster_dynamic !== true || ours < theirs)) {
        this.cluster.adoptName(theirs, c.cluster_dynamic === true, c.name ?? "");
      } else {
        this.reject(`Rejecting connection, cluster name ${JSON.stringify(theirs)} does not match ${JSON.stringify(ours)}`, "Cluster Name Conflict");
        // nats-server's read loop then logs the error its CONNECT handling returned.
        this.error("cluster name from remote server conflicts");
        return;
      }
    }
    this.connectReceived = true;
    this.remoteId = c.name ?? "";
    this.lnoc = c.lnoc === true;
    this.lnocu = c.lnocu === true;
    this.perms = this.cluster.routePermissions;
    this.headers = !this.server.options.noHeaderSupport && c.headers === true;
  }

  onInfo(json: string): void {
    const info = this.readInfo<RouteInfo>(json);
    if (typeof info.server_id !== "string") throw new ProtocolError("", "route INFO: missing server_id");
    if (this.refusedBeforeConnect()) return;
    if (this.infoReceived) {
      this.onAsyncInfo(info);
      return;
    }
    this.onFirstInfo(info);
  }

  private onFirstInfo(info: RouteInfo): void {
    const cluster = this.cluster;
    const server = this.server;
    if (info.server_id === server.id) {
      // A route to ourselves (our own address among the routes, or gossiped back).
      this.remoteId = info.server_id;
      this.noReconnect = true;
      if (this.didSolicit && this.routeType === "explicit" && this.url !== undefined) cluster.onSelfRoute(this.url);
      this.close("Duplicate Route");
      return;
    }
    const theirs = info.cluster ?? "";
    if (theirs !== "" && theirs !== cluster.clusterName) {
      if (cluster.nameDynamic && (info.cluster_dynamic !== true || cluster.clusterName < theirs)) {
        cluster.adoptName(theirs, info.cluster_dynamic === true, info.server_id);
      } else {
        this.close("Cluster Name Conflict");
        return;
      }
    }
    if (!this.didSolicit && info.server_name !== undefined && info.server_name === server.name) {
      this.error(`Remote server has a duplicate name: ${JSON.stringify(info.server_name)}`);
      this.close("Duplicate Server Name");
      return;
    }
    let sendDelayedInfo: boolean;
    if (needsCompression(cluster.options.compression)) {
      if (!this.compressionNegotiated) {
        this.compressionNegotiated = true;
        let compress: boolean;
        try {
          compress = this.negotiateCompression(info.compression, (mode) => this.sendInfo(cluster.routeInfoJson(this.accName, 0, GOSSIP_DEFAULT, mode)));
        } catch (err) {
          this.error((err as Error).message);
          this.sendErr((err as Error).message);
          this.close("Protocol Violation");
          return;
        }
        // Compressed from here: the peer's next INFO (over S2) goes on with the handshake.
        if (compress) return;
      }
      this.compressionDone();
      // A solicited route configured for compression held its INFO back until now.
      sendDelayedInfo = this.didSolicit;
    } else {
      // A server before 2.10 sends no compression field at all.
      this.compression = info.compression === undefined || info.compression === "" ? COMPRESSION_NOT_SUPPORTED : COMPRESSION_OFF;
      this.compressionDone();
      sendDelayedInfo = this.didSolicit && this.accName === "" && cluster.options.poolSize >= 1;
    }
    this.infoReceived = true;
    this.remoteInfo = info;
    this.headers = !server.options.noHeaderSupport && info.headers === true;
    this.remoteId = info.server_id;
    this.remoteName = info.server_name ?? "";
    this.peerProto = typeof info.proto === "number" ? info.proto : 0;
    this.lnoc = info.lnoc === true;
    this.lnocu = info.lnocu === true;
    this.remoteImport = info.import;
    this.remoteExport = info.export;
    if (this.url === undefined) {
      const host = info.host ?? this.host;
      this.url = new URL(`nats-route://${host.includes(":") ? `[${host}]` : host}:${info.port ?? 0}/`);
    }
    // The URL peers should use to reach this one: its advertised address, else where it
    // connected from with its route port.
    if (info.ip === undefined || info.ip === "") {
      const h = this.host.replace(/^::ffff:/, "");
      info.ip = `nats-route://${h.includes(":") ? `[${h}]` : h}:${info.port ?? 0}/`;
    }
    if (this.didSolicit && this.accName !== "") info.route_account = this.accName;
    else if (!this.didSolicit && typeof info.route_account === "string" && info.route_account !== "") this.accName = info.route_account;
    const gossipMode = this.gossipMode;
    this.gossipMode = GOSSIP_DEFAULT;
    if (cluster.addRoute(this, info, sendDelayedInfo, gossipMode)) {
      this.debug(this.accName !== "" ? `Registering remote route ${JSON.stringify(info.server_id)} for account ${JSON.stringify(this.accName)}` : `Registering remote route ${JSON.stringify(info.server_id)}`);
    } else if (!this.closed) {
      this.debug(`Detected duplicate remote route ${JSON.stringify(info.server_id)}`);
      this.close("Duplicate Route");
    }
  }

  private onAsyncInfo(info: RouteInfo): void {
    if (typeof info.route_acc_add_reqid === "string" && info.route_acc_add_reqid !== "") {
      // A peer pinning an account on reload: tsnats pins accounts at start only.
      this.debug(`Ignoring request to pin account ${JSON.stringify(info.route_account ?? "")} at run time`);
      return;
    }
    if (typeof info.gateway === "string" && info.gateway !== "") {
      this.cluster.onGatewayInfoFromRoute(info, this);
      return;
    }
    if (this.remoteId !== "" && info.server_id !== this.remoteId) {
      this.cluster.processImplicitRoute(info, this.noPool);
      return;
    }
    if (info.ldm === true) {
      this.cluster.onPeerLameDuck(this);
      return;
    }
    if (JSON.stringify(info.import) !== JSON.stringify(this.remoteImport) || JSON.stringify(info.export) !== JSON.stringify(this.remoteExport)) {
      this.remoteImport = info.import;
      this.remoteExport = info.export;
      this.cluster.interest.resendForPermissions(this);
    }
  }

  /** Told once, at the first PONG or the close (Cluster.connectToRoute's `settled`). */
  onSettled: (() => void) | undefined;

  /** The first round trip is over (our INFO went before the PING, so the peer has our URLs), or the route closed. */
  settle(): void {
    const s = this.onSettled;
    this.onSettled = undefined;
    s?.();
  }

  override onPong(): void {
    super.onPong();
    this.settle();
    const next = this.startNewRoute;
    if (next !== undefined) {
      this.startNewRoute = undefined;
      this.cluster.connectToRoute(next.url, next.type, true, next.gossipMode, "");
    }
  }

  /** Take over the solicited identity of another connection of the pool (so it reconnects). */
  upgradeToSolicited(url: URL | undefined, type: RouteType): void {
    if (!this.didSolicit || (type === "explicit" && this.routeType !== "explicit")) this.url = url;
    this.didSolicit = true;
    if (type === "explicit") this.routeType = "explicit";
  }

  // ---- interest ----

  /** May this server ask the peer for `subject` (our import permission)? */
  canImport(subject: string): boolean {
    return this.perms === undefined || this.perms.canPublish(subject);
  }

  /** May the peer ask this server for `subject` (our export permission)? */
  private canExport(subject: string): boolean {
    return this.perms === undefined || this.perms.canSubscribe(subject, undefined);
  }

  onSub(op: SubOp, args: readonly string[], line: string): void {
    if (this.trace) this.traceIn(op, line);
    if (op === "A+") throw new ProtocolError(ProtoErr.UnknownOp, "A+ on a route");
    if (!this.registered()) return;
    const leaf = op === "LS+";
    let i = 0;
    const origin = leaf ? args[i++] : undefined;
    const accName = this.accName !== "" ? this.accName : args[i++];
    const subject = args[i++];
    let queue: string | undefined;
    let weight = 1;
    if (args.length === i + 2) {
      queue = args[i];
      weight = parseWeight(args[i + 1]);
    } else if (args.length !== i || subject === undefined || accName === undefined) {
      throw new ProtocolError("", `processRemoteSub Parse Error: '${line}'`);
    }
    const account = this.server.accountForPeer(accName);
    if (account === undefined) {
      this.debug(`Unknown account ${JSON.stringify(accName)} for remote subject ${JSON.stringify(subject)}`);
      return;
    }
    if (!this.canExport(subject)) {
      this.debug(`Can not export ${JSON.stringify(subject)}, ignoring remote subscription request`);
      return;
    }
    const sub = this.addRemoteSub(account, subKey(leaf, accName, subject, queue, this.lnocu ? origin : undefined), subject, queue, weight);
    if (origin !== undefined) sub.origin = origin;
  }

  onUnsub(op: UnsubOp, args: readonly string[], line: string): void {
    if (this.trace) this.traceIn(op, line);
    if (op === "A-") throw new ProtocolError(ProtoErr.UnknownOp, "A- on a route");
    if (!this.registered()) return;
    const leaf = op === "LS-";
    let i = 0;
    const origin = leaf && this.lnocu ? args[i++] : undefined;
    const accName = this.accName !== "" ? this.accName : args[i++];
    const subject = args[i++];
    let queue: string | undefined;
    if (args.length === i + 1) queue = args[i];
    else if (args.length !== i || subject === undefined || accName === undefined) {
      throw new ProtocolError("", `processRemoteUnsub parse error: '${line}'`);
    }
    const account = this.server.accounts.get(accName);
    if (account === undefined) return;
    this.removeRemoteSub(account, subKey(leaf, accName, subject, queue, origin));
  }

  /** Interest and messages count only once the peer is known (its INFO was processed). */
  private registered(): boolean {
    return this.poolIdx >= 0 || (this.accName !== "" && this.infoReceived);
  }

  /** RS+/LS+ (or RS-/LS-) for one subject of a local or leaf subscription. */
  sendInterest(account: string, subject: string, queue: string | undefined, weight: number, origin: string | undefined): void {
    if (this.closed) return;
    const acc = this.accountPrefix(account);
    let line: string;
    if (weight > 0) {
      if (origin !== undefined && this.lnoc) line = `LS+ ${origin} ${acc}${subject}`;
      else line = `RS+ ${acc}${subject}`;
      if (queue !== undefined) line += ` ${queue} ${weight}`;
    } else {
      if (origin !== undefined && this.lnoc) line = this.lnocu ? `LS- ${origin} ${acc}${subject}` : `LS- ${acc}${subject}`;
      else line = `RS- ${acc}${subject}`;
      if (queue !== undefined) line += ` ${queue}`;
    }
    if (this.trace) this.traceOut(line.slice(0, 3), line.slice(4));
    this.queueString(line + "\r\n");
  }

  // ---- messages ----

  onMsgArgs(op: MsgOp, args: readonly string[]): number {
    if (this.trace) this.traceIn(op, args.join(" "));
    const withHdr = op !== "RMSG";
    const name = op === "LMSG" ? "processRoutedOriginClusterMsgArgs" : withHdr ? "processRoutedHeaderMsgArgs" : "processRoutedMsgArgs";
    // [origin] [account] subject ...: the origin on LMSG, no account on a pinned route.
    let i = 0;
    if (op === "LMSG") this.msgOrigin = args[i++] ?? "";
    else this.msgOrigin = "";
    if (this.accName !== "") this.msgAccount = this.accName;
    else this.msgAccount = args[i++] ?? "";
    return this.msg.readArgs(args, i, withHdr, name);
  }

  onMsg(buf: Buffer, start: number, end: number): void {
    const size = end - start;
    this.inMsgs++;
    this.inBytes += size;
    const server = this.server;
    server.inMsgs++;
    server.inBytes += size;
    server.inRemoteMsgs++;
    server.inRemoteBytes += size;
    if (!this.registered()) return;
    const msg = this.msg;
    const subject = msg.subject;
    const account = msg.accountNamed(server, this.msgAccount);
    if (account === undefined) {
      this.debug(`Unknown account ${JSON.stringify(this.msgAccount)} for routed message on subject: ${JSON.stringify(subject)}`);
      return;
    }
    if (this.cluster.gatewayReply?.(this, account, subject, msg.reply, msg.hdr, buf, start, end) === true) return;
    this.countReceived(account, size);
    const result = msg.match(account, subject);
    const hdrLen = msg.hdr;
    const hdr = hdrLen >= 0 ? buf.subarray(start, start + hdrLen) : undefined;
    const payload = buf.subarray(hdrLen >= 0 ? start + hdrLen : start, end);
    if (hdr !== undefined && hdrLen > 0 && MsgTrace.requested(hdr, account)) {
      this.routeTraced(account, subject, msg.reply, hdr, payload, size, msg.queues);
      return;
    }
    this.deliverInbound(account, result, subject, msg.reply, hdr, payload, size, msg.queues);
  }

  override get traceName(): string {
    return this.remoteName;
  }

  sendRouted(account: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, queues: readonly string[], origin: string): void {
    if (origin !== "" && this.lnoc) {
      // From a leaf node of cluster `origin`: LMSG, which always carries a header size (0 without headers).
      this.writeMsg("LMSG", `${origin} ${this.accountPrefix(account)}`, subject, reply, queues, hdr ?? EMPTY, payload);
      return;
    }
    // A peer without header support gets the payload alone, as nats-server does.
    const h = this.headers ? hdr : undefined;
    this.writeMsg(h !== undefined ? "HMSG" : "RMSG", this.accountPrefix(account), subject, reply, queues, h, payload);
  }

  /** The leaf node cluster of the LMSG being routed ("" for RMSG). */
  get originCluster(): string {
    return this.msgOrigin;
  }

  mayForwardTo(to: RemoteDeliverer, subject: string): boolean {
    // One hop across the mesh: never from a route to another route or to a gateway. A leaf node
    // gets it when this server is its hub (or for a service reply), unless the message came from
    // the leaf's own cluster (cluster-wide no-echo).
    if (to.kind !== "leaf") return false;
    const leaf = to as LeafConnection;
    if (this.msgOrigin !== "" && leaf.remoteCluster === this.msgOrigin) return false;
    return !leaf.isSpoke || subject.startsWith("_R_.");
  }

  /** Tell the peer about another server of the cluster, or about our lame duck mode. */
  sendAsyncInfo(info: Record<string, unknown>): void {
    this.sendInfo(JSON.stringify(info));
  }
}

const EMPTY = Buffer.alloc(0);

/** The key of a peer's subscription: type, account, subject, queue (and leaf origin when LS- names it). */
function subKey(leaf: boolean, account: string, subject: string, queue: string | undefined, origin: string | undefined): string {
  let k = `${leaf ? "L" : "R"} ${account} ${subject}`;
  if (queue !== undefined) k += ` ${queue}`;
  if (origin !== undefined) k += ` ${origin}`;
  return k;
}

function accountOfKey(key: string): string {
  const a = key.indexOf(" ") + 1;
  return key.slice(a, key.indexOf(" ", a));
}

/** A queue weight: the number of members on the other side (at least one). */
function parseWeight(s: string): number {
  const n = parseSize(s);
  return n < 1 ? 1 : n;
}
