// One gateway connection: a link between this server and a server of another cluster, speaking
// nats-server's gateway protocol (server/gateway.go as facts). Every server opens one outbound
// connection to each other cluster and accepts inbound ones from their servers; messages only
// travel on outbound connections, interest only on inbound ones:
//
//   accepting side  → INFO {gateway info: gateway, gateway_url(s), gateway_nrp, gateway_iom}
//   soliciting side → CONNECT {user, pass, name, gateway} then its own INFO
//   inbound side    → RS+ acc subj queue 1 (queue groups, at once), then for every account
//                     INFO {gateway_cmd: 2, payload: acc}, RS+ acc subj..., INFO {gateway_cmd: 3}
//                     (interest-only mode), RS+/RS- as interest changes, A-/A+ for accounts
//   outbound side   → RMSG/HMSG acc subj [reply | + reply queues | | queues] [hdr] size
//                     (reply prefixed `_GR_.<cluster>.<server>.` when it may beat its interest)
//
// On the outbound side the remote's interest lives in the accounts' sublists as subscriptions of
// this connection, so routing sends a message once per connection; a remote that keeps an account
// in optimistic mode (sends everything unless told otherwise) is stood for by a `>` subscription
// and the subjects it said it has no interest in.
import type net from "node:net";
import type { Account } from "../server/account.js";
import type { RemoteDeliverer, Subscription, SublistResult } from "../server/sublist.js";
import { ProtoErr, ProtocolError } from "../protocol/errors.js";
import { hasWildcard, subjectIsSubsetOf } from "../protocol/subject.js";
import { RemoteConnection } from "./connection.js";
import { authTimeoutMs, credentialsMatch } from "./handshake.js";
import { RoutedMsg } from "./routed_msg.js";
import type { MsgOp, SubOp, UnsubOp } from "./remote_parser.js";
import type { Gateways, RemoteGateway } from "./gateways.js";
import { GatewayInterest } from "./gateway_interest.js";
import { isGatewayRoutedSubject } from "./gateway_reply.js";
import type { CompressionSetting } from "./compression.js";

/** INFO commands of the gateway protocol. */
export const GATEWAY_CMD_GOSSIP = 1;
export const GATEWAY_CMD_ALL_SUBS_START = 2;
export const GATEWAY_CMD_ALL_SUBS_COMPLETE = 3;

/** An account's interest mode on a gateway connection (nats-server's names, shown in /gatewayz). */
export type InterestMode = "Optimistic" | "Transitioning" | "Interest-Only";

/** The INFO fields a gateway reads. */
export interface GatewayInfo {
  server_id?: string;
  server_name?: string;
  version?: string;
  proto?: number;
  headers?: boolean;
  auth_required?: boolean;
  tls_required?: boolean;
  gateway?: string;
  gateway_urls?: string[];
  gateway_url?: string;
  gateway_cmd?: number;
  gateway_cmd_payload?: string;
  gateway_nrp?: boolean;
  gateway_iom?: boolean;
  [k: string]: unknown;
}

/** The gateway CONNECT (nats-server's connectInfo). */
interface GatewayConnect {
  echo?: boolean;
  verbose?: boolean;
  pedantic?: boolean;
  user?: string;
  pass?: string;
  tls_required?: boolean;
  headers?: boolean;
  name?: string;
  cluster?: string;
  gateway?: string;
  lang?: string;
}

/** Outbound side: what the remote told us about one account. */
export interface OutAccount {
  mode: InterestMode;
  /** Subjects the remote has no interest in (while optimistic); undefined in interest-only mode. */
  ni: Set<string> | undefined;
  /** Queue subscriptions and plain subscriptions (interest-only) stored for the account. */
  qsubs: number;
  psubs: number;
  /** The `>` subscription that makes routing offer every message while optimistic. */
  optimistic: Subscription | undefined;
}

/** Inbound side: what we told the remote about one account. */
export interface InAccount {
  mode: InterestMode;
  /** Subjects we sent RS- for (optimistic mode); undefined once interest-only. */
  ni: Set<string> | undefined;
}

export class GatewayConnection extends RemoteConnection {
  readonly kind = "gateway" as const;
  /** The remote cluster's gateway name (from our configuration, or its INFO for an inbound connection). */
  name: string;
  /** The remote's configuration entry (outbound connections). */
  readonly remote: RemoteGateway | undefined;
  /** The URL this outbound connection was made to. */
  readonly url: URL | undefined;
  remoteId = "";
  remoteName = "";
  headers = false;
  /** The remote only knows the old `$GR.` reply prefix. */
  useOldPrefix = false;
  /** The remote switches every account to interest-only mode at once (gateway_iom): no optimistic sends. */
  remoteInterestOnly = false;
  registered = false;
  private infoReceived = false;
  /** Outbound: per account, the remote's interest state; null after an A- (no interest at all). */
  readonly outsim = new Map<string, OutAccount | null>();
  /** Inbound: per account, what we announced; null after we sent an A-. */
  readonly insim = new Map<string, InAccount | null>();
  /** A reconnect should not be tried (duplicate, wrong gateway...). */
  noReconnect = false;
  /** The message being received, between its control line and its payload. */
  private readonly msg = new RoutedMsg();
  private msgAccount = "";

  constructor(
    readonly gateways: Gateways,
    socket: net.Socket,
    remote: RemoteGateway | undefined,
    url: URL | undefined,
  ) {
    super(gateways.server, socket, remote !== undefined);
    this.remote = remote;
    this.url = url;
    this.name = remote?.name ?? "";
    const o = gateways.options;
    if (remote === undefined) this.startAuthTimer(authTimeoutMs(o.authTimeoutMs, this.server.options.authTimeoutMs, o.tls !== undefined));
    this.startPings(gateways.pingIntervalMs, this.server.options.maxPingsOut);
    this.setWriteTimeout(o.writeDeadlineMs, o.writeTimeout);
  }

  protected kindName(): string {
    return "Gateway";
  }

  protected idTag(): string {
    return "gid";
  }

  protected override onClosed(): void {
    this.gateways.onGatewayClosed(this);
  }

  /** nats-server does not compress gateways (its gateway block has no compression setting). */
  protected compressionSetting(): CompressionSetting {
    return { mode: "off" };
  }

  protected accountOfSub(sub: Subscription): Account | undefined {
    return this.server.accounts.get(accountOfKey(sub.sid));
  }

  // ---- handshake ----

  onConnect(json: string): void {
    const c = this.readConnect<GatewayConnect>(json);
    this.whenChecked(credentialsMatch(c, this.gateways.options), (ok) => (ok ? this.acceptConnect(c) : this.refuseLogin("authentication error")));
  }

  private acceptConnect(c: GatewayConnect): void {
    this.stopAuthTimer();
    // Clients and routes connecting to the gateway port name no gateway.
    if (typeof c.gateway !== "string" || c.gateway === "") {
      this.reject("attempted to connect to gateway port", "Wrong Port");
      return;
    }
    if (this.gateways.options.rejectUnknown && this.gateways.remote(c.gateway) === undefined) {
      this.error(`Rejecting connection from gateway ${JSON.stringify(c.gateway)}`);
      this.sendErr(`Connection to gateway ${JSON.stringify(this.gateways.gatewayName)} rejected`);
      this.close("Wrong Gateway");
      return;
    }
    this.connectReceived = true;
  }

  onInfo(json: string): void {
    const info = this.readInfo<GatewayInfo>(json);
    if (this.refusedBeforeConnect()) return;
    const first = !this.infoReceived;
    this.infoReceived = true;
    if (first) {
      this.remoteId = typeof info.server_id === "string" ? info.server_id : "";
      this.remoteName = typeof info.server_name === "string" ? info.server_name : "";
      if (!this.solicited) this.name = typeof info.gateway === "string" ? info.gateway : "";
    }
    if (this.solicited) this.onOutboundInfo(info, first);
    else if (first) this.onInboundFirstInfo(info);
  }

  private onOutboundInfo(info: GatewayInfo, first: boolean): void {
    const gw = this.gateways;
    const gwName = this.name;
    const theirs = typeof info.gateway === "string" ? info.gateway : "";
    if (theirs === "") {
      this.reject(`Attempt to connect to gateway ${JSON.stringify(gwName)} using wrong port`, "Wrong Port");
      return;
    }
    if (theirs !== gwName) {
      // Another gateway the remote knows of: connect to it too (unless only configured ones are allowed).
      if (!first && info.gateway_cmd === GATEWAY_CMD_GOSSIP) {
        if (gw.options.rejectUnknown && gw.remote(theirs) === undefined) return;
        gw.processImplicitGateway(info);
        return;
      }
      this.error(`Failing connection to gateway ${JSON.stringify(gwName)}, remote gateway name is ${JSON.stringify(theirs)}`);
      this.sendErr(`Connection from ${JSON.stringify(gw.gatewayName)} rejected, wanted to connect to ${JSON.stringify(gwName)}, this is ${JSON.stringify(theirs)}`);
      this.close("Wrong Gateway");
      return;
    }
    if (first && gw.isDuplicateServerName(this.remoteName)) {
      this.error(`Remote server has a duplicate name: ${JSON.stringify(this.remoteName)}`);
      this.close("Duplicate Server Name");
      return;
    }
    if (Array.isArray(info.gateway_urls) && info.gateway_urls.length > 0) this.remote?.updateUrls(info.gateway_urls);
    if (first) {
      this.remoteInterestOnly = info.gateway_iom === true;
      this.useOldPrefix = info.gateway_nrp !== true;
      this.headers = !this.server.options.noHeaderSupport && info.headers === true;
      this.sendConnect();
      this.sendInfo(gw.infoJson());
      if (!gw.registerOutbound(this)) {
        this.noReconnect = true;
        this.close("Wrong Gateway");
        return;
      }
      this.info(`Outbound gateway connection to ${JSON.stringify(gwName)} (${this.remoteId}) registered`);
      this.registered = true;
      this.startOptimistic();
      // A first round trip measures the RTT (outbound connections are ordered by it).
      this.sendPing();
    } else if (typeof info.gateway_cmd === "number" && info.gateway_cmd > 0) {
      switch (info.gateway_cmd) {
        case GATEWAY_CMD_ALL_SUBS_START:
          this.allSubsStart(info);
          return;
        case GATEWAY_CMD_ALL_SUBS_COMPLETE:
          this.allSubsComplete(info);
          return;
        default:
          this.server.log.warn(`Received unknown command ${info.gateway_cmd} from gateway ${JSON.stringify(gwName)}`);
          return;
      }
    }
    // Tell our cluster about this gateway: every server keeps its own outbound connection to it.
    gw.forwardNewGatewayToLocalCluster(info);
  }

  private sendConnect(): void {
    const o = this.gateways.options;
    const u = this.url;
    let user = o.username;
    let pass = o.password;
    if (u !== undefined && u.username !== "") {
      user = decodeURIComponent(u.username);
      pass = decodeURIComponent(u.password);
    }
    const c: GatewayConnect = { echo: false, verbose: false, pedantic: false };
    if (user !== undefined && user !== "") c.user = user;
    if (pass !== undefined && pass !== "") c.pass = pass;
    c.tls_required = this.remote?.tls !== undefined;
    c.headers = false;
    c.name = this.server.id;
    c.cluster = "";
    c.gateway = this.gateways.gatewayName;
    this.sendConnectOp(c);
    this.debug(`Gateway connect protocol sent to ${JSON.stringify(this.name)}`);
  }

  private onInboundFirstInfo(info: GatewayInfo): void {
    const gw = this.gateways;
    if (gw.isDuplicateServerName(this.remoteName)) {
      this.error(`Remote server has a duplicate name: ${JSON.stringify(this.remoteName)}`);
      this.close("Duplicate Server Name");
      return;
    }
    this.headers = !this.server.options.noHeaderSupport && info.headers === true;
    gw.registerInbound(this);
    this.registered = true;
    this.sendPing();
    this.info(`Inbound gateway connection from ${JSON.stringify(this.name)} (${this.remoteId}) registered`);
    gw.sendQueueSubsTo(this);
    // Connect back to that cluster (a no-op when we already have an outbound connection to it).
    gw.processImplicitGateway(info);
    gw.gossipGatewaysTo(this, this.name);
    if (gw.forceInterestOnly) for (const acc of gw.accountNames()) this.switchToInterestOnly(acc);
  }

  // ---- interest (inbound side: what we tell the remote) ----

  /** INFO carrying a command for one account. */
  private sendCmd(cmd: number, account: string): void {
    this.sendInfo(
      JSON.stringify({
        server_id: "",
        server_name: "",
        version: "",
        proto: 0,
        go: "",
        host: "",
        port: 0,
        headers: false,
        max_payload: 0,
        gateway: this.gateways.gatewayName,
        gateway_cmd: cmd,
        gateway_cmd_payload: Buffer.from(account).toString("base64"),
      }),
    );
  }

  /**
   * Send every plain subscription of an account and tell the remote it now knows all of them:
   * from then on it sends only what it has interest in (nats-server's gatewaySwitchAccountToSendAllSubs).
   */
  switchToInterestOnly(account: string): void {
    if (this.closed) return;
    let e = this.insim.get(account);
    if (e === undefined || e === null) {
      e = { mode: "Optimistic", ni: undefined };
      this.insim.set(account, e);
    }
    if (e.mode !== "Optimistic") return;
    e.ni = undefined;
    e.mode = "Transitioning";
    this.debug(`Gateway ${JSON.stringify(this.name)}: switching account ${JSON.stringify(account)} to Interest-Only mode`);
    this.sendCmd(GATEWAY_CMD_ALL_SUBS_START, account);
    const lines: string[] = [];
    for (const t of this.gateways.interest.entries(account, false)) lines.push(`RS+ ${account} ${t.subject}`);
    if (lines.length > 0) {
      if (this.trace) for (const l of lines) this.traceOut("RS+", l.slice(4));
      this.queueString(lines.join("\r\n") + "\r\n");
    }
    this.sendCmd(GATEWAY_CMD_ALL_SUBS_COMPLETE, account);
    e.mode = "Interest-Only";
    this.debug(`Gateway ${JSON.stringify(this.name)}: switching account ${JSON.stringify(account)} to Interest-Only mode complete`);
  }

  /** A plain subject of the cluster got its first (or lost its last) subscription. */
  plainInterestChanged(account: string, subject: string, added: boolean): void {
    const e = this.insim.get(account);
    if (e === undefined) return;
    if (e === null) {
      // We told the remote we had no interest in the account at all: a new subscription lifts it.
      if (!added) return;
      this.insim.delete(account);
      this.sendProto(`A+ ${account}`);
      return;
    }
    if (e.ni !== undefined) {
      if (!added) return;
      // Optimistic: only a subject we said "no" to needs an RS+ to lift it.
      let lift = false;
      if (hasWildcard(subject)) {
        for (const s of e.ni) {
          if (subjectIsSubsetOf(s, subject)) {
            e.ni.delete(s);
            lift = true;
          }
        }
      } else if (e.ni.delete(subject)) lift = true;
      if (lift) this.sendProto(`RS+ ${account} ${subject}`);
      return;
    }
    if (e.mode === "Interest-Only") this.sendProto(`${added ? "RS+" : "RS-"} ${account} ${subject}`);
  }

  /** A queue group of the cluster got its first (or lost its last) member: always announced. */
  queueInterestChanged(account: string, subject: string, queue: string, added: boolean): void {
    // A queue subscription clears an A- without an A+ (the remote keeps an entry for its queues).
    if (added && this.insim.get(account) === null) this.insim.delete(account);
    this.sendProto(added ? `RS+ ${account} ${subject} ${queue} 1` : `RS- ${account} ${subject} ${queue}`);
  }

  private sendProto(line: string): void {
    if (this.closed) return;
    if (this.trace) {
      const sp = line.indexOf(" ");
      this.traceOut(line.slice(0, sp), line.slice(sp + 1));
    }
    this.queueString(line + "\r\n");
  }

  /** A message came for an account the cluster has no interest in: say so once (A-). */
  private accountNoInterest(account: string): void {
    if (this.gateways.interest.hasInterest(account)) return;
    const e = this.insim.get(account);
    if (e === null) return;
    this.insim.set(account, null);
    this.sendProto(`A- ${account}`);
  }

  /** A message came for a subject nobody here wants: RS- it (optimistic mode), or switch the account when there are too many. */
  private subjectNoInterest(account: Account, subject: string): void {
    const name = account.name;
    if (!this.gateways.interest.hasInterest(name) && account.sublist.count === 0) {
      this.accountNoInterest(name);
      return;
    }
    let e = this.insim.get(name);
    if (e === null) return;
    if (e === undefined) {
      e = { mode: "Optimistic", ni: new Set([subject]) };
      this.insim.set(name, e);
      this.sendProto(`RS- ${name} ${subject}`);
      return;
    }
    if (e.ni === undefined || e.ni.has(subject)) return;
    if (e.ni.size >= this.gateways.maxNoInterestBeforeSwitch) {
      this.switchToInterestOnly(name);
      return;
    }
    e.ni.add(subject);
    this.sendProto(`RS- ${name} ${subject}`);
  }

  // ---- interest (outbound side: what the remote tells us) ----

  onSub(op: SubOp, args: readonly string[], line: string): void {
    if (this.trace) this.traceIn(op, line);
    if (op === "LS+") throw new ProtocolError(ProtoErr.UnknownOp, "LS+ on a gateway connection");
    if (!this.solicited) {
      this.error(`Received ${op} from gateway on inbound connection`);
      this.close("Protocol Violation");
      return;
    }
    if (!this.registered) return;
    if (op === "A+") {
      if (args.length !== 1) throw new ProtocolError("", `processGatewayAccountSub Parse Error: '${line}'`);
      this.accountSub(args[0]);
      return;
    }
    let queue: string | undefined;
    if (args.length === 4) queue = args[2];
    else if (args.length !== 2) throw new ProtocolError("", `processGatewaySubjectSub Parse Error: '${line}'`);
    this.remoteSub(args[0], args[1], queue);
  }

  onUnsub(op: UnsubOp, args: readonly string[], line: string): void {
    if (this.trace) this.traceIn(op, line);
    if (op === "LS-") throw new ProtocolError(ProtoErr.UnknownOp, "LS- on a gateway connection");
    if (!this.solicited) {
      this.error(`Received ${op} from gateway on inbound connection`);
      this.close("Protocol Violation");
      return;
    }
    if (!this.registered) return;
    if (op === "A-") {
      if (args.length !== 1) throw new ProtocolError("", `processGatewayAccountUnsub Parse Error: '${line}'`);
      this.accountUnsub(args[0]);
      return;
    }
    let queue: string | undefined;
    if (args.length === 3) queue = args[2];
    else if (args.length !== 2) throw new ProtocolError("", `processGatewaySubjectUnsub Parse Error: '${line}'`);
    this.remoteUnsub(args[0], args[1], queue);
  }

  /** Whether routing should offer this account's messages to the remote without known interest. */
  private wantsOptimistic(e: OutAccount | null | undefined): boolean {
    if (this.remoteInterestOnly) return false;
    if (e === undefined) return true;
    return e !== null && e.ni !== undefined;
  }

  /** Add or drop the `>` subscription that stands for optimistic sends in an account. */
  refreshOptimistic(accName: string): void {
    if (this.closed || !this.registered || !this.solicited) return;
    const e = this.outsim.get(accName);
    const want = this.wantsOptimistic(e);
    const account = this.server.accounts.get(accName);
    if (account === undefined) return;
    const key = `O ${accName}`;
    if (want && !this.subs.has(key)) {
      const sub: Subscription = { subject: ">", queue: undefined, sid: key, client: this, max: 0, delivered: 0, closed: false, noImports: true };
      optimisticSubs.add(sub);
      this.subs.set(key, sub);
      account.addSubscription(sub);
      if (e !== undefined && e !== null) e.optimistic = sub;
    } else if (!want && this.subs.has(key)) {
      this.removeRemoteSub(account, key);
      if (e !== undefined && e !== null) e.optimistic = undefined;
    }
  }

  /** A remote that does not force interest-only mode gets everything until it says otherwise. */
  private startOptimistic(): void {
    if (this.remoteInterestOnly) return;
    for (const name of this.server.accounts.keys()) this.refreshOptimistic(name);
  }

  private entryFor(accName: string): OutAccount {
    let e = this.outsim.get(accName);
    if (e === undefined || e === null) {
      e = { mode: "Optimistic", ni: new Set(), qsubs: 0, psubs: 0, optimistic: undefined };
      this.outsim.set(accName, e);
      const o = this.subs.get(`O ${accName}`);
      if (o !== undefined) e.optimistic = o;
    }
    return e;
  }

  private accountSub(accName: string): void {
    const e = this.outsim.get(accName);
    if (e === null) this.outsim.delete(accName);
    else if (e !== undefined && e.qsubs === 0 && e.psubs === 0 && e.ni !== undefined && e.ni.size === 0) this.outsim.delete(accName);
    this.refreshOptimistic(accName);
  }

  private accountUnsub(accName: string): void {
    const e = this.outsim.get(accName);
    if (e !== undefined && e !== null) {
      // Queue subscriptions keep the entry; the subjects said "no" to are forgotten.
      if (e.qsubs > 0) {
        e.ni = new Set();
        return;
      }
    } else if (e === null) return;
    this.outsim.set(accName, null);
    this.refreshOptimistic(accName);
  }

  private remoteSub(accName: string, subject: string, queue: string | undefined): void {
    const cur = this.outsim.get(accName);
    let e: OutAccount;
    if (cur !== undefined && cur !== null) e = cur;
    else if (queue === undefined) return; // a plain RS+ only lifts an RS- we never got
    else e = this.entryFor(accName);
    const key = subKey(accName, subject, queue);
    if (queue !== undefined || e.mode !== "Optimistic") {
      if (this.subs.has(key)) return;
      const account = this.server.accounts.get(accName);
      if (account === undefined) {
        this.debug(`Unknown account ${JSON.stringify(accName)} for gateway subject ${JSON.stringify(subject)}`);
        return;
      }
      // Not shadowed into exporters: the remote cluster announces its own imports' interest.
      this.addRemoteSub(account, key, subject, queue, 1, true);
      if (queue !== undefined) e.qsubs++;
      else e.psubs++;
      return;
    }
    // Optimistic: lift the "no interest" of this subject (and of those a wildcard covers).
    if (e.ni === undefined) return;
    if (hasWildcard(subject)) {
      for (const s of e.ni) if (subjectIsSubsetOf(s, subject)) e.ni.delete(s);
    } else e.ni.delete(subject);
  }

  private remoteUnsub(accName: string, subject: string, queue: string | undefined): void {
    const cur = this.outsim.get(accName);
    if ((cur === undefined || cur === null) && queue !== undefined) {
      this.debug(`Received RS- without prior RS+ for subject ${JSON.stringify(subject)}, queue ${JSON.stringify(queue)}`);
      return;
    }
    const e = cur === undefined || cur === null ? this.entryFor(accName) : cur;
    if (queue !== undefined || e.mode !== "Optimistic") {
      const account = this.server.accounts.get(accName);
      if (account === undefined) return;
      if (this.removeRemoteSub(account, subKey(accName, subject, queue)) === undefined) return;
      if (queue !== undefined) e.qsubs--;
      else e.psubs--;
      if (e.qsubs === 0 && e.psubs === 0 && e.mode === "Optimistic" && e.ni !== undefined && e.ni.size === 0) this.outsim.delete(accName);
      return;
    }
    e.ni?.add(subject);
    this.refreshOptimistic(accName);
  }

  private cmdAccount(info: GatewayInfo, cmd: string): string {
    const p = info.gateway_cmd_payload;
    if (typeof p !== "string" || p === "") {
      const text = `Account absent from receive-all-subscriptions-${cmd} command`;
      this.error(text);
      this.sendErr(text);
      this.close("Protocol Violation");
      return "";
    }
    return Buffer.from(p, "base64").toString("utf8");
  }

  /** The remote is about to send all its subscriptions of an account. */
  private allSubsStart(info: GatewayInfo): void {
    const acc = this.cmdAccount(info, "start");
    if (acc === "") return;
    this.debug(`Gateway ${JSON.stringify(info.gateway ?? "")}: switching account ${JSON.stringify(acc)} to Interest-Only mode`);
    this.entryFor(acc).mode = "Transitioning";
  }

  /** The remote sent all its subscriptions of an account: from now on, only what it wants. */
  private allSubsComplete(info: GatewayInfo): void {
    const acc = this.cmdAccount(info, "complete");
    if (acc === "") return;
    const e = this.outsim.get(acc);
    if (e === undefined || e === null) return;
    e.ni = undefined;
    e.mode = "Interest-Only";
    this.refreshOptimistic(acc);
    this.debug(`Gateway ${JSON.stringify(info.gateway ?? "")}: switching account ${JSON.stringify(acc)} to Interest-Only mode complete`);
  }

  /** An account created after the connection: optimistic sends cover it too. */
  onAccountCreated(account: Account): void {
    if (this.solicited && this.registered && !this.remoteInterestOnly) this.refreshOptimistic(account.name);
  }

  // ---- messages ----

  onMsgArgs(op: MsgOp, args: readonly string[]): number {
    if (this.trace) this.traceIn(op, args.join(" "));
    if (op === "LMSG") throw new ProtocolError(ProtoErr.UnknownOp, "LMSG on a gateway connection");
    const withHdr = op === "HMSG";
    // account subject ...
    this.msgAccount = args[0] ?? "";
    return this.msg.readArgs(args, 1, withHdr, withHdr ? "processGatewayHeaderMsgArgs" : "processGatewayMsgArgs");
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
    if (this.solicited) {
      // Messages only come on inbound connections.
      this.error("Received a message on an outbound gateway connection");
      this.close("Protocol Violation");
      return;
    }
    if (!this.registered) return;
    const msg = this.msg;
    const hdrLen = msg.hdr;
    const hdr = hdrLen >= 0 ? buf.subarray(start, start + hdrLen) : undefined;
    const payload = buf.subarray(hdrLen >= 0 ? start + hdrLen : start, end);
    const subject = msg.subject;
    if (isGatewayRoutedSubject(subject)) {
      this.gateways.handleRoutedReply(this, this.msgAccount, subject, msg.reply, hdr, payload);
      return;
    }
    const account = msg.accountNamed(server, this.msgAccount);
    if (account === undefined) {
      this.debug(`Unknown account ${JSON.stringify(this.msgAccount)} for gateway message on subject: ${JSON.stringify(subject)}`);
      this.accountNoInterest(this.msgAccount);
      return;
    }
    this.countReceived(account, size);
    const result = msg.match(account, subject);
    const queues = msg.queues;
    const ie = this.insim.get(account.name);
    if ((ie === undefined || ie === null || ie.ni !== undefined) && !hasPlainInterest(result) && !subject.startsWith("_R_.")) {
      // Only while the remote may send optimistically: tell it what we do not want.
      this.subjectNoInterest(account, subject);
      if (queues === undefined || queues.length === 0) return;
    }
    this.deliverInbound(account, result, subject, msg.reply, hdr, payload, size, queues);
  }

  /** Send one message to the remote cluster (outbound connections only). */
  sendRouted(account: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, queues: readonly string[]): void | false {
    const e = this.outsim.get(account);
    if (e !== undefined && queues.length === 0) {
      // Offered through the optimistic `>`: not for subjects the remote refused.
      if (e === null) return false;
      if (e.optimistic !== undefined && e.ni?.has(subject) === true && !this.hasStoredPlainInterest(account, subject)) return false;
    }
    this.writeRouted(account, subject, reply, hdr, payload, queues);
  }

  /** Write one RMSG/HMSG, with the reply routed back through us when it may beat its interest. */
  writeRouted(account: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, queues: readonly string[]): void {
    if (reply !== "" && this.gateways.interest.isRecentReply(account, reply)) {
      reply = (this.useOldPrefix ? this.gateways.oldReplyPrefix : this.gateways.replyPrefix) + reply;
    }
    const h = this.headers ? hdr : undefined;
    this.writeMsg(h !== undefined ? "HMSG" : "RMSG", `${account} `, subject, reply, queues, h, payload);
  }

  private hasStoredPlainInterest(account: string, subject: string): boolean {
    const acc = this.server.accounts.get(account);
    if (acc === undefined) return false;
    for (const s of acc.sublist.match(subject).psubs) if (s.client === this && s.subject !== ">") return true;
    return false;
  }

  mayForwardTo(to: RemoteDeliverer): boolean {
    // A message from another cluster reaches this cluster's routes and leaf nodes, never another gateway.
    return to.kind !== "gateway";
  }
}

/** The `>` subscriptions that stand for optimistic sends (not interest: never passed on to leaf nodes). */
const optimisticSubs = new WeakSet<Subscription>();

export function isOptimisticSubscription(sub: Subscription): boolean {
  return optimisticSubs.has(sub);
}

/** Interest of this cluster's own subscribers (not other gateways', not service imports). */
function hasPlainInterest(r: SublistResult): boolean {
  for (const s of r.psubs) if (GatewayInterest.counted(s)) return true;
  return false;
}

function subKey(account: string, subject: string, queue: string | undefined): string {
  return queue === undefined ? `G ${account} ${subject}` : `G ${account} ${subject} ${queue}`;
}

function accountOfKey(key: string): string {
  const a = key.indexOf(" ") + 1;
  const b = key.indexOf(" ", a);
  return b < 0 ? key.slice(a) : key.slice(a, b);
}
