// One leaf node connection, speaking nats-server's leafnode protocol (server/leafnode.go as
// facts). A leaf connection is bound to one account on each side:
//
//   hub (accepting)  → INFO {leaf info, nonce, client_id, leafnode_urls, info_on_connect}
//   leaf (soliciting)→ CONNECT {leafConnectInfo: credentials, name, cluster, remote_account...}
//   hub              → INFO {connect_info: true, remote_account}   (the leaf then registers)
//   both             → LS+ subj [queue weight] / LS- subj [queue]   interest, no account
//                      LMSG/HMSG subj [reply | + reply queues | | queues] [hdr] size
//
// Each side announces a "$LDS.<id>" subject per account; seeing its own come back over a leaf
// connection means a loop, which is refused. Interest from a hub is not passed on to routes
// (every server of a leaf cluster has its own connection to the hub).
import net from "node:net";
import tls from "node:tls";
import fs from "node:fs";
import type { Account } from "../server/account.js";
import { MSG_TRACE_PROTO, MsgTrace } from "../server/msg_trace.js";
import type { Client } from "../server/client.js";
import type { RemoteDeliverer } from "../server/sublist.js";
import type { LeafRemoteOptions } from "../config/options.js";
import { Permissions, permissionRules, type SubjectPermission } from "../auth/permissions.js";
import { ProtoErr, ProtocolError } from "../protocol/errors.js";
import { RemoteConnection } from "./connection.js";
import { authTimeoutMs, subjectPermissionJson } from "./handshake.js";
import type { LeafLogin } from "./leafnodes.js";
import { RoutedMsg } from "./routed_msg.js";
import type { MsgOp, SubOp, UnsubOp } from "./remote_parser.js";
import type { LeafNodes } from "./leafnodes.js";
import { isGatewayRoutedSubject, plainOfRouted, routeRoutedReply } from "./gateway_reply.js";
import { hasWildcard, subjectMatches, subjectsCollide } from "../protocol/subject.js";
import { clientTlsContext } from "../server/tls.js";
import { nkeysLibrary } from "../server/server_keys.js";
import { COMPRESSION_NOT_SUPPORTED, COMPRESSION_OFF, needsCompression, type CompressionSetting } from "./compression.js";
import type { WebSocketTransport } from "../server/websocket_transport.js";

export const LDS_PREFIX = "$LDS.";

/** The leafnode CONNECT (nats-server's leafConnectInfo). */
interface LeafConnect {
  version?: string;
  nkey?: string;
  jwt?: string;
  sig?: string;
  user?: string;
  pass?: string;
  auth_token?: string;
  server_id?: string;
  domain?: string;
  name?: string;
  is_hub?: boolean;
  cluster?: string;
  headers?: boolean;
  jetstream?: boolean;
  deny_pub?: string[];
  isolate?: boolean;
  compress_mode?: string;
  gateway?: string;
  remote_account?: string;
  protocol?: number;
  lang?: string;
}

/** A remote of ours: its URLs (the configured ones, then those the hub tells about). */
export interface LeafRemote {
  readonly options: LeafRemoteOptions;
  urls: URL[];
  next: number;
  /** Set when the hub reported a loop: wait this long before trying again. */
  delayMs: number;
  conn: LeafConnection | undefined;
  stopped: boolean;
  /** Failed dials since the last success (connect_reports.ts decides which are logged as errors). */
  failedAttempts: number;
  /** Reached once: later failures are reconnects (reconnect_error_reports). */
  everConnected: boolean;
}

export class LeafConnection extends RemoteConnection {
  readonly kind = "leaf" as const;
  account: Account;
  /** This server is the spoke: the other side is its hub (we solicited a non-hub remote, or the peer declared itself hub). */
  isSpoke: boolean;
  /** Do not pass other leaf nodes' interest to this one. */
  isolated: boolean;
  remoteServer = "";
  remoteCluster = "";
  remoteAccount = "";
  headers = false;
  nonce: string | undefined;
  registered = false;
  private infoReceived = false;
  /** deny_exports / deny_imports (and a leaf's deny_pub, on the hub): undefined when nothing is denied. */
  perms: Permissions | undefined;
  private pubDeny: string[] = [];
  private subDeny: string[] = [];
  /**
   * The permissions of the user the leaf logged in as, in this connection's directions: on the
   * hub, what the user may subscribe to is what may be sent to the leaf (`send`), what it may
   * publish is what the hub asks it for (`take`); the hub tells the leaf in its INFO (import,
   * export), and the leaf keeps to them.
   */
  private userSend: SubjectPermission | undefined;
  private userTake: SubjectPermission | undefined;
  /** The user's subscribe denies: part of the delivery filter's denies, on both sides. */
  private userDeliveryDeny: string[] = [];
  /** On the hub, the user's publish permissions, checked on every message the leaf sends. */
  private userExport: Permissions | undefined;
  /** On the hub, the user's permissions as the INFO names them (import: subscribe, export: publish). */
  private userInfo: { import?: SubjectPermission; export?: SubjectPermission } | undefined;
  /**
   * nats-server's delivery-time deny filter (its mperms): turned on, for good, by the first
   * wildcard subscription (or queue subscription the other side asks for) that overlaps a
   * subscribe deny; from then on no message whose subject a subscribe deny matches is sent over
   * this connection, whatever subscription it is for. On a leaf the subscribe denies are its
   * deny_imports (and JetStream's), so they then hold back what it would export too.
   */
  private deliveryFilter = false;
  /** The other side's JetStream domain ("" when it has none). */
  remoteDomain = "";
  /** The hub URL this (solicited) connection was made to. */
  url: URL | undefined;
  /** What we announced to the other side: interest key → count (nats-server's smap). */
  readonly smap = new Map<string, number>();
  /** The message being received, between its control line and its payload. */
  private readonly msg = new RoutedMsg();

  constructor(
    readonly leafs: LeafNodes,
    socket: net.Socket,
    readonly remote: LeafRemote | undefined,
    account: Account,
    /** Over WebSocket: "deflate" when per-message deflate was negotiated (then no S2), else "plain" (S2 beneath the frames). */
    readonly websocket?: "deflate" | "plain",
  ) {
    super(leafs.server, socket, remote !== undefined);
    this.account = account;
    this.isSpoke = remote !== undefined && !remote.options.hub;
    this.isolated = leafs.options.isolateLeafnodeInterest || (remote?.options.isolate ?? false);
    // At least 2 s whether or not TLS comes first (nats-server's leafnode default).
    if (remote === undefined) this.startAuthTimer(authTimeoutMs(leafs.options.authTimeoutMs, this.server.options.authTimeoutMs, true));
    // With compression configured, PINGs wait until it is negotiated (they would cross the switch).
    this.pingsHeld = needsCompression(this.compressionSetting().mode);
    this.startPings(this.server.options.pingIntervalMs, this.server.options.maxPingsOut);
    this.setWriteTimeout(leafs.options.writeDeadlineMs, leafs.options.writeTimeout);
    if (remote !== undefined) this.setDenies(remote.options.denyExports, remote.options.denyImports);
  }

  /**
   * What may cross this connection (nats-server's leaf permissions): messages on denied exports
   * are not sent to the other side, nor is its interest in them taken; denied imports are not
   * asked for, and messages on them from the other side are dropped.
   */
  private setDenies(exports: readonly string[], imports: readonly string[]): void {
    this.pubDeny = [...exports];
    this.subDeny = [...imports];
    this.rebuildPerms();
  }

  /** Add denies: `pub` not sent to the other side, `sub` not asked for nor taken from it. */
  addDenies(pub: readonly string[], sub: readonly string[]): void {
    for (const d of pub) if (!this.pubDeny.includes(d)) this.pubDeny.push(d);
    for (const d of sub) if (!this.subDeny.includes(d)) this.subDeny.push(d);
    this.rebuildPerms();
  }

  private rebuildPerms(): void {
    const merged = (rules: SubjectPermission | undefined, denies: readonly string[]): SubjectPermission | undefined =>
      rules === undefined && denies.length === 0 ? undefined : { ...(rules?.allow !== undefined ? { allow: rules.allow } : {}), deny: [...(rules?.deny ?? []), ...denies] };
    const publish = merged(this.userSend, this.pubDeny);
    const subscribe = merged(this.userTake, this.subDeny);
    this.perms = publish === undefined && subscribe === undefined ? undefined : Permissions.from({ ...(publish ? { publish } : {}), ...(subscribe ? { subscribe } : {}) });
  }

  /**
   * The hub: the leaf logged in as a user with these permissions (as configured). nats-server
   * reverses them for the leaf connection and tells the leaf (INFO import/export).
   */
  private setUserPermissions(raw: unknown): void {
    const { publish, subscribe } = permissionRules(raw);
    if (publish === undefined && subscribe === undefined) return;
    this.userSend = subscribe;
    this.userTake = publish;
    this.userExport = publish === undefined ? undefined : Permissions.from({ publish });
    this.userDeliveryDeny = subscribe?.deny ?? [];
    this.userInfo = { ...(subscribe !== undefined ? { import: subscribe } : {}), ...(publish !== undefined ? { export: publish } : {}) };
    this.rebuildPerms();
  }

  /** The leaf: the hub's INFO named the permissions it holds us to (import: what we may take, export: what we may send). */
  private takeHubPermissions(info: Record<string, unknown>): void {
    if (info.import === undefined && info.export === undefined) return;
    const rules = (v: unknown): SubjectPermission | undefined => (v === undefined || v === null ? undefined : subjectPermissionJson(v));
    this.userSend = rules(info.export);
    this.userTake = rules(info.import);
    this.userDeliveryDeny = this.userTake?.deny ?? [];
    this.deliveryFilter = false;
    this.rebuildPerms();
  }

  /** A subscription carried over this connection, either way: does it turn the delivery filter on? */
  noteSubscription(subject: string, queue: boolean): void {
    if (this.deliveryFilter || (!queue && !hasWildcard(subject))) return;
    const collides = (d: string): boolean => subjectsCollide(denySubject(d), subject);
    this.deliveryFilter = this.userDeliveryDeny.some(collides) || this.subDeny.some(collides);
  }

  private deliveryDenied(subject: string): boolean {
    const matches = (d: string): boolean => !d.includes(" ") && subjectMatches(d, subject);
    return this.userDeliveryDeny.some(matches) || this.subDeny.some(matches);
  }

  /**
   * The hub's answer to a leaf breaking its user's permissions (it was told them): an error to
   * the leaf, one in our log, and the connection closed, as nats-server does.
   */
  private permissionViolation(publish: boolean, subject: string): void {
    this.sendErr(`Permissions Violation for ${publish ? "Publish" : "Subscription"} to ${JSON.stringify(subject)}`);
    this.error(`${publish ? "Publish" : "Subscription"} Violation on ${JSON.stringify(subject)} - Check other side configuration`);
    this.close("Protocol Violation");
  }

  /** The leaf cluster of messages from this connection, for no-echo across that cluster. */
  get originCluster(): string {
    return this.remoteCluster;
  }

  protected kindName(): string {
    return "Leafnode";
  }

  protected idTag(): string {
    // nats-server tags a leaf connection over WebSocket apart in its log lines.
    return this.websocket !== undefined ? "lid_ws" : "lid";
  }

  protected override onClosed(): void {
    this.leafs.onLeafClosed(this);
  }

  protected override alwaysPing(): boolean {
    return this.isSpoke;
  }

  /** A leaf configured for compression negotiates it with an INFO before its CONNECT. */
  protected override allowedBeforeConnect(c0: number): boolean {
    return c0 === 0x69 && needsCompression(this.compressionSetting().mode);
  }

  protected override compressBeneath(level: string): { setLevel(level: string): void } | undefined {
    return this.websocket === "plain" ? (this.socket as unknown as WebSocketTransport).compressBeneath(level) : undefined;
  }

  protected compressionSetting(): CompressionSetting {
    const o = this.remote?.options ?? this.leafs.options;
    return { mode: o.compression, rttThresholdsMs: o.compressionRttMs };
  }

  /**
   * Compression from the peer's first INFO (after TLS): false when the handshake goes on with
   * this INFO, true when it waits for the peer's next one (S2 from now on) or the connection closed.
   */
  private negotiateOnFirstInfo(info: Record<string, unknown>): boolean {
    if (this.compressionNegotiated) return false;
    this.compressionNegotiated = true;
    const peerMode = typeof info.compression === "string" ? info.compression : undefined;
    if (this.websocket === "deflate" && needsCompression(this.compressionSetting().mode)) {
      // No S2 on top of per-message deflate (nats-server's rule); without deflate S2 runs
      // beneath the WebSocket frames (compressBeneath).
      this.compression = COMPRESSION_OFF;
      this.compressionDone();
      return false;
    }
    if (!needsCompression(this.compressionSetting().mode)) {
      // A server before 2.10 announces nothing.
      this.compression = peerMode === undefined || peerMode === "" ? COMPRESSION_NOT_SUPPORTED : COMPRESSION_OFF;
      this.compressionDone();
      return false;
    }
    let compress: boolean;
    try {
      compress = this.negotiateCompression(peerMode, (mode) => {
        const ours = this.leafs.infoObject(this);
        ours.compression = mode;
        // The accepting side repeats the nonce the leaf is to sign.
        if (!this.solicited && this.nonce !== undefined) ours.nonce = this.nonce;
        this.sendInfo(JSON.stringify(ours));
      });
    } catch (err) {
      this.error((err as Error).message);
      this.sendErr((err as Error).message);
      this.close("Protocol Violation");
      return true;
    }
    this.compressionDone();
    return compress;
  }

  protected accountOfSub(): Account | undefined {
    return this.account;
  }

  // ---- handshake ----

  onInfo(json: string): void {
    const info = this.readInfo<Record<string, unknown>>(json);
    // The accepting side reads one INFO only: a leaf configured for compression sends it
    // before its CONNECT, to negotiate.
    if (!this.solicited) {
      if (!this.connectReceived) this.negotiateOnFirstInfo(info);
      return;
    }
    const remote = this.remote as LeafRemote;
    if (!this.infoReceived) {
      // Only a leafnode listener sends a client id and leafnode URLs in its first INFO.
      if (!(typeof info.client_id === "number" && info.client_id > 0) || !Array.isArray(info.leafnode_urls)) {
        this.error("attempted to connect to a non-leafnode port");
        this.close("Wrong Port");
        return;
      }
      // Over WebSocket, TLS is the WebSocket's (wss://).
      if (this.websocket === undefined && !this.tlsDone && (remote.options.tls !== undefined || this.url?.protocol === "tls:" || info.tls_required === true)) {
        // TLS starts after the hub's INFO; the rest of it is handled once the handshake is done.
        this.startClientTls(() => this.onInfo(json));
        return;
      }
      if (this.negotiateOnFirstInfo(info)) return;
      this.infoReceived = true;
      this.nonce = typeof info.nonce === "string" ? info.nonce : undefined;
      this.headers = !this.server.options.noHeaderSupport && info.headers === true;
      this.remoteServer = typeof info.server_name === "string" && info.server_name !== "" ? info.server_name : String(info.server_id ?? "");
      this.peerProto = typeof info.proto === "number" ? info.proto : 0;
      this.remoteCluster = typeof info.cluster === "string" ? info.cluster : "";
      this.remoteDomain = typeof info.domain === "string" ? info.domain : "";
      this.leafs.learnUrls(remote, info.leafnode_urls as unknown[]);
      this.sendConnect();
      if (info.info_on_connect !== true) this.finishConnect();
      return;
    }
    if (Array.isArray(info.leafnode_urls)) this.leafs.learnUrls(remote, info.leafnode_urls as unknown[]);
    if (typeof info.remote_account === "string") this.remoteAccount = info.remote_account;
    this.takeHubPermissions(info);
    if (info.connect_info === true && !this.registered) this.finishConnect();
  }

  /**
   * The TLS client handshake with the hub over this connection (after its INFO, or first with
   * handshake_first): the hub's certificate must chain to the remote's ca_file (else the system
   * roots) and name the host connected to. Input waits until it is done, then `then` runs.
   */
  startClientTls(then: () => void): void {
    const remote = this.remote as LeafRemote;
    const t = remote.options.tls;
    const host = (this.url?.hostname ?? "").replace(/^\[|\]$/g, "");
    let ts: tls.TLSSocket;
    try {
      ts = tls.connect({
        socket: this.socket,
        secureContext: clientTlsContext(t),
        servername: net.isIP(host) === 0 && host !== "" ? host : undefined,
        host,
        rejectUnauthorized: t?.insecure !== true,
      });
    } catch (err) {
      this.error(`TLS handshake error: ${(err as Error).message}`);
      this.close("TLS Handshake Failure", true);
      return;
    }
    this.parser.held = true;
    let done = false;
    const timer = setTimeout(() => fail("i/o timeout"), Math.round((t?.timeout ?? 2) * 1000));
    timer.unref();
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.error(`TLS handshake error: ${why}`);
      this.close("TLS Handshake Failure", true);
    };
    ts.prependListener("error", (err: Error) => fail(err.message));
    ts.once("secureConnect", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.tlsDone = true;
      this.parser.held = false;
      then();
      if (!this.closed) this.resumeInput();
    });
    this.upgradeSocket(ts);
  }

  private sendConnect(): void {
    const remote = this.remote as LeafRemote;
    const o = remote.options;
    const c: LeafConnect = {
      version: "2.9.10",
      server_id: this.server.id,
      name: this.server.name,
    };
    const domain = this.server.options.jetstream.domain;
    if (domain) c.domain = domain;
    if (o.hub) c.is_hub = true;
    const cluster = this.leafs.clusterName();
    if (cluster !== "") c.cluster = cluster;
    c.headers = !this.server.options.noHeaderSupport;
    if (this.server.options.jetstream.enabled) c.jetstream = true;
    if (o.denyImports.length > 0) c.deny_pub = o.denyImports;
    c.compress_mode = this.compression;
    c.remote_account = this.account.name;
    c.protocol = MSG_TRACE_PROTO;
    if (this.isolated && o.isolate) c.isolate = true;
    if (o.credentials !== undefined) {
      const { jwt, seed } = readCreds(o.credentials);
      const kp = nkeysLibrary().fromSeed(Buffer.from(seed));
      c.jwt = jwt;
      c.sig = Buffer.from(kp.sign(Buffer.from(this.nonce ?? ""))).toString("base64url");
    }
    const u = this.url;
    if (u !== undefined && u.username !== "") {
      c.user = decodeURIComponent(u.username);
      if (u.password !== "") c.pass = decodeURIComponent(u.password);
      else c.auth_token = c.user;
    }
    this.sendConnectOp(c);
  }

  /** The solicited side is accepted: register and announce our interest. */
  private finishConnect(): void {
    if (!this.leafs.admit(this)) return;
    this.registered = true;
    this.leafs.register(this);
  }

  onConnect(json: string): void {
    const c = this.readConnect<LeafConnect>(json);
    if (typeof c.lang === "string" && c.lang !== "") {
      this.sendErr("attempted to connect to leafnode port");
      this.close("Wrong Port");
      return;
    }
    this.whenChecked(this.leafs.authenticate(this, c), (account) => this.acceptConnect(c, account));
  }

  private acceptConnect(c: LeafConnect, login: LeafLogin | undefined): void {
    if (login === undefined) {
      this.refuseLogin("authentication error");
      return;
    }
    const account = login.account;
    this.stopAuthTimer();
    this.connectReceived = true;
    const cluster = typeof c.cluster === "string" ? c.cluster : "";
    if (cluster.includes(" ")) {
      this.sendErr("cluster name cannot contain spaces or new lines");
      this.close("Protocol Violation");
      return;
    }
    const ours = this.leafs.clusterName();
    if (ours !== "" && cluster !== "" && cluster === ours) {
      // nats-server's lines: the error sent and logged, the close, the handshake's failure.
      this.sendErr(SAME_CLUSTER_NAME);
      this.error(`${SAME_CLUSTER_NAME} - Account:${login.account.name}`);
      this.close("Cluster Names Identical");
      this.error(SAME_CLUSTER_NAME);
      return;
    }
    if (typeof c.gateway === "string" && c.gateway !== "") {
      this.reject(`Rejecting connection from gateway ${JSON.stringify(c.gateway)} on the leafnode port`, "Wrong Gateway");
      return;
    }
    this.account = account;
    // The leaf's deny_imports: it does not want those, so they are not sent to it.
    if (Array.isArray(c.deny_pub) && c.deny_pub.length > 0) this.setDenies(c.deny_pub.filter((x): x is string => typeof x === "string"), []);
    this.setUserPermissions(login.permissions);
    this.headers = !this.server.options.noHeaderSupport && c.headers === true;
    // A leaf that did not negotiate (its compression is off) says what it uses in its CONNECT.
    if (!this.compressionNegotiated) {
      this.compression = c.compress_mode === undefined || c.compress_mode === "" ? COMPRESSION_NOT_SUPPORTED : c.compress_mode;
      this.compressionDone();
    }
    this.remoteServer = c.name ?? "";
    this.remoteDomain = typeof c.domain === "string" ? c.domain : "";
    // The accepting side gets no INFO: the protocol level comes with the CONNECT.
    this.peerProto = typeof c.protocol === "number" ? c.protocol : 0;
    this.remoteAccount = c.remote_account ?? "";
    this.remoteCluster = cluster;
    this.isolated = this.isolated || c.isolate === true;
    if (c.is_hub === true) this.isSpoke = true;
    // The account's leaf node limit (its JWT's `leaf`, or the config's max_leafnodes).
    if (!this.leafs.admit(this)) return;
    this.registered = true;
    // Tell the leaf which account it is bound to; it registers when it gets this.
    const info = this.leafs.infoObject(this);
    if (this.userInfo?.import !== undefined) info.import = this.userInfo.import;
    if (this.userInfo?.export !== undefined) info.export = this.userInfo.export;
    info.remote_account = account.name;
    if (account.isSystem) info.acc_is_sys = true;
    info.connect_info = true;
    this.sendInfo(JSON.stringify(info));
    this.leafs.register(this);
  }

  // ---- interest ----

  onSub(op: SubOp, args: readonly string[], line: string): void {
    if (this.trace) this.traceIn(op, line);
    if (op !== "LS+") throw new ProtocolError(ProtoErr.UnknownOp, `${op} on a leafnode connection`);
    if (!this.registered) {
      this.sendErr(ProtoErr.AuthViolation);
      this.close("Protocol Violation");
      return;
    }
    let queue: string | undefined;
    let weight = 1;
    if (args.length === 3) {
      queue = args[1];
      const w = Number.parseInt(args[2], 10);
      weight = Number.isFinite(w) && w > 0 ? w : 1;
    } else if (args.length !== 1) throw new ProtocolError("", `processLeafSub Parse Error: '${line}'`);
    const subject = args[0];
    if (subject.startsWith(LDS_PREFIX) && subject === this.leafs.loopSubject(this.account)) {
      this.leafs.loopDetected(this, true);
      return;
    }
    if (this.perms !== undefined && !subject.startsWith(LDS_PREFIX) && !isGatewayRoutedSubject(subject) && !hasWildcard(subject) && !this.perms.canPublish(subject)) {
      // A leaf keeps to what it was told; a hub cuts one that does not.
      if (!this.isSpoke) this.permissionViolation(false, subject);
      this.debug(`Permissions Violation for Subscription to ${JSON.stringify(subject)}`);
      return;
    }
    if (!subject.startsWith(LDS_PREFIX) && !isGatewayRoutedSubject(subject)) this.noteSubscription(subject, queue !== undefined);
    const key = queue === undefined ? subject : `${subject} ${queue}`;
    const sub = this.addRemoteSub(this.account, key, subject, queue, weight);
    if (this.remoteCluster !== "") sub.origin = this.remoteCluster;
  }

  onUnsub(op: UnsubOp, args: readonly string[], line: string): void {
    if (this.trace) this.traceIn(op, line);
    if (op !== "LS-") throw new ProtocolError(ProtoErr.UnknownOp, `${op} on a leafnode connection`);
    if (!this.registered) return;
    if (args.length !== 1 && args.length !== 2) throw new ProtocolError("", `processLeafUnsub Parse Error: '${line}'`);
    this.removeRemoteSub(this.account, args.length === 2 ? `${args[0]} ${args[1]}` : args[0]);
  }

  /** Send LS+ (count > 0) or LS- for an interest key ("subject" or "subject queue"). */
  sendInterest(key: string, count: number): void {
    if (this.closed) return;
    let line: string;
    if (count > 0) line = key.includes(" ") ? `LS+ ${key} ${count}` : `LS+ ${key}`;
    else line = `LS- ${key}`;
    if (this.trace) this.traceOut(line.slice(0, 3), line.slice(4));
    this.queueString(line + "\r\n");
  }

  // ---- messages ----

  onMsgArgs(op: MsgOp, args: readonly string[]): number {
    // RMSG reads as LMSG here, as nats-server's parser takes either on a leaf connection.
    if (this.trace) this.traceIn(op === "HMSG" ? op : "LMSG", args.join(" "));
    const withHdr = op === "HMSG";
    // No account: the connection is bound to one.
    const size = this.msg.readArgs(args, 0, withHdr, withHdr ? "processLeafHeaderMsgArgs" : "processLeafMsgArgs");
    if (size > this.server.options.maxPayload) throw new ProtocolError(ProtoErr.MaxPayload, `maximum payload exceeded: ${size} vs ${this.server.options.maxPayload}`);
    return size;
  }

  onMsg(buf: Buffer, start: number, end: number): void {
    const size = end - start;
    this.inMsgs++;
    this.inBytes += size;
    this.server.inMsgs++;
    this.server.inBytes += size;
    this.server.inRemoteMsgs++;
    this.server.inRemoteBytes += size;
    if (!this.registered) return;
    const account = this.account;
    this.countReceived(account, size);
    const msg = this.msg;
    const wire = msg.subject;
    const hdrLen = msg.hdr;
    const hdr = hdrLen >= 0 ? buf.subarray(start, start + hdrLen) : undefined;
    const payload = buf.subarray(hdrLen >= 0 ? start + hdrLen : start, end);
    if (isGatewayRoutedSubject(wire)) {
      // An answer from the leaf to a request of another cluster: on towards that cluster.
      routeRoutedReply(this.server.services, account, wire, msg.reply, hdr, payload, this);
      return;
    }
    // The hub holds a leaf to its user's publish permissions (not to JetStream's denies).
    if (this.userExport !== undefined && !this.isSpoke && !this.userExport.publishRulesAllow(wire)) {
      this.permissionViolation(true, wire);
      return;
    }
    // A leaf takes from its hub only what it may import (the subject as sent; service replies
    // and JetStream acks always pass), as nats-server checks it.
    if (this.perms !== undefined && this.isSpoke && !wire.startsWith("_R_.") && !wire.startsWith("$JS.ACK.") && !this.perms.canSubscribe(wire, undefined)) {
      this.debug(`Not permitted to receive ${JSON.stringify(wire)} from the leafnode connection`);
      return;
    }
    // Account mappings apply to what leaf nodes publish, as to clients (the JetStream domain prefix among them).
    const subject = account.mappings !== undefined ? account.mapSubject(wire) : wire;
    const result = msg.match(account, subject);
    if (hdr !== undefined && hdrLen > 0 && MsgTrace.requested(hdr, account)) {
      this.routeTraced(account, subject, msg.reply, hdr, payload, size, msg.queues);
      return;
    }
    this.deliverInbound(account, result, subject, msg.reply, hdr, payload, size, msg.queues);
  }

  override get traceName(): string {
    return this.remoteServer;
  }

  override get traceAccount(): string | undefined {
    return this.account.name;
  }

  sendRouted(_account: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, queues: readonly string[]): void | false {
    if (this.perms !== undefined && !this.perms.canPublish(isGatewayRoutedSubject(subject) ? plainOfRouted(subject) : subject)) return false;
    if (this.deliveryFilter && this.deliveryDenied(subject)) return false;
    const h = this.headers ? hdr : undefined;
    this.writeMsg(h !== undefined ? "HMSG" : "LMSG", "", subject, reply, queues, h, payload);
  }

  mayForwardTo(to: RemoteDeliverer): boolean {
    if (to.kind === "route") return !this.isSpoke;
    // Other clusters of the super-cluster get what leaf nodes publish, as nats-server sends them.
    if (to.kind === "gateway") return true;
    if (to.kind === "leaf") {
      if (to === this) return false;
      const other = to as LeafConnection;
      return this.remoteCluster === "" || other.remoteCluster !== this.remoteCluster;
    }
    return false;
  }

  /**
   * A -ERR from the other side: logged, and the connection left for the other side to close (as
   * nats-server does on leaf connections); a hub with our cluster name has us wait before trying again.
   */
  override onErr(text: string): void {
    if (/Loop detected/i.test(text)) {
      this.leafs.loopDetected(this, false);
      return;
    }
    if (this.trace) this.traceIn("-ERR", text);
    this.error(`Leafnode Error ${text}`);
    if (text.includes(SAME_CLUSTER_NAME) && this.remote !== undefined) {
      this.remote.delayMs = SAME_CLUSTER_RECONNECT_DELAY_MS;
      this.error(`Leafnode connection dropped with same cluster name error. Delaying attempt to reconnect for ${SAME_CLUSTER_RECONNECT_DELAY_MS / 1000}s`);
    }
  }
}

const SAME_CLUSTER_NAME = "remote leafnode has same cluster name";
/** How long a leaf whose hub has its cluster name waits before trying again (nats-server's value). */
const SAME_CLUSTER_RECONNECT_DELAY_MS = 30_000;

/** The subject of a deny entry, which may name a queue group after a blank ("foo.* workers"). */
function denySubject(d: string): string {
  const i = d.indexOf(" ");
  return i < 0 ? d : d.slice(0, i);
}

/** The user JWT and the seed of a .creds file. */
function readCreds(file: string): { jwt: string; seed: string } {
  const text = fs.readFileSync(file, "utf8");
  const blocks = [...text.matchAll(/-{3,}[^\n]*-{3,}\r?\n([\w\-.=]+)\r?\n-{3,}[^\n]*-{3,}/g)].map((m) => m[1]);
  if (blocks.length < 2) throw new Error(`credentials file ${file} malformed`);
  return { jwt: blocks[0], seed: blocks[1] };
}

/** What the server's client authentication reads of a connection, for leaf nodes that log in as users. */
export function credentialsOf(conn: LeafConnection, c: LeafConnect): Client {
  const shim = {
    opts: { user: c.user, pass: c.pass, authToken: c.auth_token, nkey: c.nkey, jwt: c.jwt, sig: c.sig },
    nonce: conn.nonce,
    connectionType: "LEAFNODE",
    host: conn.host,
    server: conn.server,
    logPrefix: () => conn.logPrefix(),
  };
  // The authenticator reads these fields only (it was written for client connections).
  return shim as unknown as Client;
}

export type { LeafConnect };
