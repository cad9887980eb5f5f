// The system account's events and services.
//
// Events (published only when someone in the system account listens):
//   $SYS.ACCOUNT.<acc>.CONNECT / DISCONNECT            client connect/disconnect advisories
//   $SYS.ACCOUNT.<acc>.SERVER.CONNS (+ the older $SYS.SERVER.ACCOUNT.<acc>.CONNS)
//   $SYS.SERVER.<id>.CLIENT.AUTH.ERR                    failed authentication (and, in the client's
//                                                       own account, $SYS.ACCOUNT.CLIENT.AUTH.ERR)
//   $SYS.SERVER.<id>.STATSZ                             periodic server statistics
//   $SYS.SERVER.<id>.SHUTDOWN                           the server is going away
// Services (request/reply; JSON options in the request body):
//   $SYS.REQ.SERVER.PING[.<EP>], $SYS.REQ.SERVER.<id>.<EP>   EP: STATSZ VARZ CONNZ SUBSZ JSZ
//        HEALTHZ ACCOUNTZ IDZ ROUTEZ GATEWAYZ LEAFZ RAFTZ IPQUEUESZ EXPVARZ PROFILEZ (and RELOAD,
//        KICK, LDM by id); an endpoint that does not exist finds no responders
//   $SYS.REQ.ACCOUNT.<acc>.<EP>                         EP: INFO CONNZ SUBSZ JSZ STATZ CONNS LEAFZ
//   $SYS.REQ.USER.INFO                                  the requester's user, account, permissions
// The services are internal subscriptions in the system account, so only its users reach
// them; like nats-server, every other account also gets USER.INFO and its own CONNZ/STATZ.
import { featureFlagsReported, mergedFeatureFlags } from "../server/feature_flags.js";
import type { Server, ServerService } from "../server/server.js";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { AuthFailure } from "../auth/auth_result.js";
import type { Subscription } from "../server/sublist.js";
import type { Route } from "../cluster/route.js";
import type { ServerOptions } from "../config/options.js";
import { featureVersionAtLeast, NATS_FEATURE_VERSION } from "../server/version.js";
import { monitorOf, type Monitor } from "./monitor.js";
import { goTime } from "./format.js";
import {
  OptionError,
  accountzOptions,
  checkHealthzOptions,
  accstatzOptions,
  connzOptions,
  jsonOptions,
  jszOptions,
  routezOptions,
  leafzOptions,
  gatewayzOptions,
  subszOptions,
} from "./endpoint-options.js";
import { buildVarz } from "./varz.js";
import { buildConnz } from "./connz.js";
import { buildSubsz } from "./subsz.js";
import { accountDetail, accountStat, buildAccountz, buildAccstatz } from "./accountz.js";
import { accountJsz, buildJsz } from "./jsz.js";
import { checkHealth } from "./healthz.js";
import { buildGatewayz, buildLeafz, buildRoutez } from "./topology.js";
import { jetStreamAccount, jetStreamRunning, jetStreamSummary } from "./jetstream-stats.js";
import { accountConnectionsAdvisory, connectAdvisory, disconnectAdvisory } from "./advisories.js";
import { userInfo } from "./user-info.js";
import { clusterOf, gatewaysOf, leafNodesOf } from "../server/service_lookup.js";
import { buildRaftz } from "./raftz.js";
import { buildIpqueuesz, expvars } from "./debugz.js";
import { ACCOUNT_ENDPOINTS, SERVER_ENDPOINTS, SystemRequestError, decodeEventOptions, selectsServer } from "./system_request_options.js";
import { unmarshalLenient, type Shape } from "../jetstream/json.js";

const DEFAULT_STATSZ_INTERVAL_MS = 10_000;

/** A JSON message body; request handlers return the whole answer to send back. */
type Json = Record<string, unknown>;

/** The subjects of an account's connection events. */
interface AccountEventSubjects {
  readonly connect: string;
  readonly disconnect: string;
  readonly conns: string;
  readonly serverConns: string;
}


/** The whole JetStream API, as the system account exports it to accounts in mixed mode. */
const JS_ALL_API = "$JS.API.>";

/**
 * A JetStream request the mixed-mode import leaves alone: pull requests and direct gets, which
 * consumers and streams subscribe in the account itself (nats-server's special case), and any
 * request a route already takes to a server serving the account's API there (a tsnats JetStream
 * server does; through the system account as well it would be served twice). Any other
 * subscriber across a route (a client of a nats-server subscribed to `>`) does not count:
 * nats-server applies no import to a routed message, so only this server's import reaches its
 * JetStream.
 */
function jetStreamReachedDirectly(acc: Account, subject: string): boolean {
  if (subject.startsWith("$JS.API.CONSUMER.MSG.NEXT.") || subject.startsWith("$JS.API.DIRECT.GET.")) return true;
  return acc.sublist.match(subject).psubs.some((sub) => sub.client.kind === "route" && (sub.client as Route).remoteInfo?.js_account_api === true);
}

export class SystemAccountService implements ServerService {
  readonly name = "system-account";
  private readonly monitor: Monitor;
  private seq = 0;
  private readonly subs: Array<{ account: Account; sub: Subscription }> = [];
  private statszTimer: NodeJS.Timeout | undefined;
  private statszIntervalMs = DEFAULT_STATSZ_INTERVAL_MS;
  private stopping = false;
  private readonly eventSubjects = new WeakMap<Account, AccountEventSubjects>();
  private readonly onConnect = (c: Client): void => this.clientConnected(c);
  private readonly onDisconnect = (c: Client): void => this.clientDisconnected(c);
  private readonly onAuthError = (c: Client, failure: AuthFailure | undefined): void => this.authFailed(c, failure);
  /** Operator mode: accounts appear (and their JWTs change) while running; they get the system imports too. */
  private readonly onAccountClaims = (a: Account): void => this.importInto(a);

  constructor(
    private readonly server: Server,
    private readonly sys: Account,
  ) {
    this.monitor = monitorOf(server);
  }

  async start(): Promise<void> {
    const id = this.server.id;
    // Message traces and other server events carry the same ServerInfo as system events.
    this.server.eventServerInfo = () => this.serverInfo();
    this.subscribe(this.sys, "$SYS.REQ.SERVER.PING", (subject, body, origin, reply) =>
      this.answer(this.sys, reply, () => this.serverRequest("STATSZ", body)),
    );
    // One subscription per endpoint, as nats-server has them: a request to an endpoint that
    // does not exist finds no responders.
    for (const ep of Object.keys(SERVER_ENDPOINTS)) {
      for (const subject of [`$SYS.REQ.SERVER.PING.${ep}`, `$SYS.REQ.SERVER.${id}.${ep}`]) {
        this.subscribe(this.sys, subject, (_subject, body, _origin, reply) => this.answer(this.sys, reply, () => this.serverRequest(ep, body)));
      }
    }
    for (const subject of ["$SYS.REQ.SERVER.PING.IDZ", `$SYS.REQ.SERVER.${id}.IDZ`]) {
      // IDZ takes no options: the server's name, host and id, bare.
      this.subscribe(this.sys, subject, (_subject, _body, _origin, reply) => this.answer(this.sys, reply, () => ({ name: this.server.name, host: this.server.options.host, id: this.server.id })));
    }
    this.subscribe(this.sys, `$SYS.REQ.SERVER.${id}.RELOAD`, (_subject, body, _origin, reply) => this.answer(this.sys, reply, () => this.reloadRequest(body)));
    for (const op of ["KICK", "LDM"] as const) {
      this.subscribe(this.sys, `$SYS.REQ.SERVER.${id}.${op}`, (_subject, body, _origin, reply) => this.answer(this.sys, reply, () => this.clientRequest(op, body)));
    }
    for (const ep of [...Object.keys(ACCOUNT_ENDPOINTS), "CONNS"]) {
      this.subscribe(this.sys, `$SYS.REQ.ACCOUNT.*.${ep}`, (subject, body, _origin, reply) => {
        this.answer(this.sys, reply, () => this.accountRequest(subject.split(".")[3], ep, body, undefined));
      });
    }
    this.subscribe(this.sys, "$SYS.REQ.USER.*.INFO", (_subject, _body, origin, reply) =>
      this.answer(this.sys, reply, () => this.userInfoRequest(origin)),
    );
    // What every account may ask the system about itself, the account named in the subject.
    this.sys.addServiceExport("$SYS.REQ.ACCOUNT.*.CONNZ", { responseType: "Streamed", accountTokenPosition: 4 });
    this.sys.addServiceExport("$SYS.REQ.ACCOUNT.*.STATZ", { responseType: "Streamed", accountTokenPosition: 4 });
    this.sys.addServiceExport("$SYS.REQ.USER.*.INFO", { accountTokenPosition: 4 });
    if (this.reachesRemoteJetStream()) this.sys.addServiceExport(JS_ALL_API);
    this.importIntoAccounts();
    this.server.events.connect.add(this.onConnect);
    this.server.events.disconnect.add(this.onDisconnect);
    this.server.events.authError.add(this.onAuthError);
    this.server.events.accountClaims.add(this.onAccountClaims);
    this.scheduleStatsz();
    // nats-server announces its statistics once at start.
    this.publishStatsz();
  }

  /**
   * Give every account the imports nats-server wires from the system account: its own
   * CONNZ and STATZ (as `$SYS.REQ.SERVER.PING.CONNZ`, `$SYS.REQ.ACCOUNT.PING.CONNZ` and
   * `$SYS.REQ.ACCOUNT.PING.STATZ`) and USER.INFO (the system account imports that one too).
   */
  private importIntoAccounts(): void {
    for (const acc of this.server.accounts.values()) this.importInto(acc);
  }

  private importInto(acc: Account): void {
    const sys = this.sys;
    const imports: Array<[string, string, boolean]> = [[`$SYS.REQ.USER.${acc.name}.INFO`, "$SYS.REQ.USER.INFO", true]];
    if (acc !== sys) {
      imports.push(
        [`$SYS.REQ.ACCOUNT.${acc.name}.CONNZ`, "$SYS.REQ.SERVER.PING.CONNZ", false],
        [`$SYS.REQ.ACCOUNT.${acc.name}.STATZ`, "$SYS.REQ.ACCOUNT.PING.STATZ", false],
        [`$SYS.REQ.ACCOUNT.${acc.name}.CONNZ`, "$SYS.REQ.ACCOUNT.PING.CONNZ", false],
      );
    }
    // Mixed mode: without JetStream here, the accounts that have it reach the cluster's JetStream
    // servers through the system account, as nats-server's servers without JetStream do (the
    // requester's identity travels in Nats-Request-Info).
    if (acc !== sys && this.reachesRemoteJetStream() && this.jetStreamAccount(acc)) imports.push([JS_ALL_API, JS_ALL_API, true]);
    for (const [subject, to, share] of imports) {
      if (acc.serviceImports.some((si) => si.exporter === sys && si.from === to)) continue;
      try {
        acc.addServiceImport(sys, subject, { to, share, internal: true, ...(to === JS_ALL_API ? { skip: (s: string) => jetStreamReachedDirectly(acc, s) } : {}) });
      } catch (err) {
        this.server.log.warn(`System import ${to} into account ${acc.name}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * No JetStream on this server, but a cluster whose other servers may run it. (nats-server
   * does the same with gateways only; tsnats has no JetStream across gateways, and a tsnats
   * JetStream server over a gateway is reached through the account directly.) A meta-group
   * peer of a nats-server cluster (cluster.nrg_peer) runs no JetStream of its own either.
   */
  private reachesRemoteJetStream(): boolean {
    const o = this.server.options;
    return (!o.jetstream.enabled || this.runsNrgPeer()) && o.cluster !== undefined;
  }

  /** The server runs as a meta-group peer of a nats-server cluster (fixed for the process: a reload cannot turn it on or off). */
  private runsNrgPeer(): boolean {
    return this.server.services.some((svc) => svc.name === "nrg-peer");
  }

  /**
   * An account with JetStream in the cluster: one configured with it (`jetstream: enabled`, JWT
   * limits) or, when the configuration has no accounts of its own, the global account.
   */
  private jetStreamAccount(acc: Account): boolean {
    if (acc.jetStreamLimits !== undefined) return true;
    const others = [...this.server.accounts.values()].filter((a) => a !== this.sys && a !== this.server.globalAccount);
    return acc === this.server.globalAccount && others.length === 0 && this.server.jwtAccounts === undefined;
  }

  /** Change how often STATSZ is published (tests, tuning). */
  setStatszInterval(ms: number): void {
    this.statszIntervalMs = ms;
    this.scheduleStatsz();
  }

  reload(_options: ServerOptions): void {
    // Accounts added by the new configuration get their imports too.
    this.importIntoAccounts();
  }

  /** Called before clients are closed, so SHUTDOWN still reaches listeners. */
  beforeShutdown(): void {
    if (this.stopping) return;
    this.publishEvent(`$SYS.SERVER.${this.server.id}.SHUTDOWN`, () => ({ server: this.serverInfo() }));
    this.stopping = true;
  }

  async shutdown(): Promise<void> {
    this.beforeShutdown();
    if (this.statszTimer !== undefined) clearInterval(this.statszTimer);
    this.statszTimer = undefined;
    this.server.events.connect.delete(this.onConnect);
    this.server.events.disconnect.delete(this.onDisconnect);
    this.server.events.authError.delete(this.onAuthError);
    this.server.events.accountClaims.delete(this.onAccountClaims);
    for (const { account, sub } of this.subs.splice(0)) account.unsubscribeInternal(sub);
    for (const acc of this.server.accounts.values()) {
      for (const si of [...acc.serviceImports]) if (si.exporter === this.sys) acc.removeServiceImport(si);
    }
    for (const subject of ["$SYS.REQ.ACCOUNT.*.CONNZ", "$SYS.REQ.ACCOUNT.*.STATZ", "$SYS.REQ.USER.*.INFO"]) this.sys.serviceExports.delete(subject);
  }

  // ---- plumbing ----

  private subscribe(
    account: Account,
    subject: string,
    handler: (subject: string, body: Buffer, origin: Client | undefined, reply: string) => void,
  ): void {
    const sub = account.subscribeInternal(
      subject,
      (subj, reply, _hdr, payload, origin) => {
        if (reply === "" || this.stopping) return;
        // The payload may alias a socket buffer and we answer later: copy it now.
        const body = Buffer.from(payload);
        // Json outside the publisher's routing, after the current protocol op.
        setImmediate(() => handler(subj, body, origin, reply));
      },
      undefined,
      "system-account",
    );
    this.subs.push({ account, sub });
  }

  /**
   * The cluster's name. Without a cluster block nats-server names it after the gateway, and a
   * server that only connects to hubs as a leaf node takes its own name.
   */
  private clusterName(): string | undefined {
    const s = this.server;
    const named = clusterOf(s)?.clusterName ?? gatewaysOf(s)?.gatewayName;
    if (named !== undefined) return named;
    return (s.options.leafnodes?.remotes.length ?? 0) > 0 ? s.name : undefined;
  }

  /** The ServerInfo header of every message this server sends as the system (also used by the claims service). */
  serverInfo(): Json {
    const s = this.server;
    const js = s.options.jetstream.enabled;
    const info: Json = { name: s.name, host: s.options.host, id: s.id };
    const clusterName = this.clusterName();
    if (clusterName !== undefined) info.cluster = clusterName;
    if (s.options.jetstream.domain) info.domain = s.options.jetstream.domain;
    info.ver = NATS_FEATURE_VERSION;
    if (s.options.serverTags.length > 0) info.tags = s.options.serverTags;
    if (featureFlagsReported()) info.feature_flags = mergedFeatureFlags(s.options.featureFlags);
    // nats-server's capability flags: JetStream, binary stream snapshots, and (2.11+) account NRG.
    const flags = js ? (featureVersionAtLeast("2.11") ? 7 : 3) : 0;
    Object.assign(info, { jetstream: js, flags, seq: ++this.seq, time: goTime(new Date()) });
    return info;
  }

  /** A service's answer: the ServerInfo header and the endpoint's data. */
  private wrap(data: unknown): Json {
    return { server: this.serverInfo(), data };
  }

  private answer(account: Account, reply: string, build: () => Json | undefined): void {
    let msg: Json | undefined;
    try {
      msg = build();
    } catch (err) {
      // Options that decoded but that the endpoint refuses are its failure (500), as in nats-server's zReq.
      const code = err instanceof SystemRequestError ? err.code : 500;
      if (!(err instanceof SystemRequestError || err instanceof OptionError)) {
        this.server.log.error(`System request failed: ${(err as Error).stack ?? String(err)}`);
      }
      // An endpoint's own failure (500) comes with its empty result, as nats-server's typed nil.
      msg = { server: this.serverInfo(), ...(code === 500 ? { data: null } : {}), error: { code, description: (err as Error).message } };
    }
    if (msg === undefined) return; // filtered out: another server is meant
    account.publish(reply, "", undefined, Buffer.from(JSON.stringify(msg)));
  }

  private publishEvent(subject: string, build: () => Json): void {
    if (this.wanted(subject)) this.publishJson(subject, build());
  }

  // ---- events ----

  // Every client's connect and disconnect runs these, usually with nobody listening: the
  // subjects are made once per account and the advisory only when a subscriber wants it.
  private clientConnected(c: Client): void {
    const subjects = this.accountEventSubjects(c.account);
    if (this.wanted(subjects.connect)) this.publishJson(subjects.connect, connectAdvisory(this.serverInfo(), c));
    this.publishAccountConns(c.account, subjects);
  }

  private clientDisconnected(c: Client): void {
    const subjects = this.accountEventSubjects(c.account);
    if (this.wanted(subjects.disconnect)) this.publishJson(subjects.disconnect, disconnectAdvisory(this.serverInfo(), c, c.closeReason ?? "Client Closed"));
    this.publishAccountConns(c.account, subjects);
  }

  private publishAccountConns(acc: Account, subjects: AccountEventSubjects): void {
    // As nats-server (accConnsUpdate): never for the global account, whose clients come and go
    // without an update; $SYS.REQ.ACCOUNT.$G.CONNS still answers for it.
    if (acc === this.server.globalAccount) return;
    if (this.wanted(subjects.conns)) this.publishJson(subjects.conns, accountConnectionsAdvisory(this.serverInfo(), acc));
    if (this.wanted(subjects.serverConns)) this.publishJson(subjects.serverConns, accountConnectionsAdvisory(this.serverInfo(), acc));
  }

  private accountEventSubjects(acc: Account): AccountEventSubjects {
    let subjects = this.eventSubjects.get(acc);
    if (subjects === undefined) {
      const name = acc.name;
      subjects = {
        connect: `$SYS.ACCOUNT.${name}.CONNECT`,
        disconnect: `$SYS.ACCOUNT.${name}.DISCONNECT`,
        conns: `$SYS.ACCOUNT.${name}.SERVER.CONNS`,
        serverConns: `$SYS.SERVER.ACCOUNT.${name}.CONNS`,
      };
      this.eventSubjects.set(acc, subjects);
    }
    return subjects;
  }

  private wanted(subject: string): boolean {
    return !this.stopping && this.sys.sublist.hasInterest(subject);
  }

  private publishJson(subject: string, msg: Json): void {
    this.sys.publish(subject, "", undefined, Buffer.from(JSON.stringify(msg)));
  }

  private authFailed(c: Client, failure: AuthFailure | undefined): void {
    // Raised just before the connection is closed; report once it is: to the operator in the
    // system account, and to the owners of the account concerned (the client's, or the auth
    // callout's, with the callout's reason).
    const account = failure?.eventAccount ?? c.account;
    const reason = failure?.eventReason ?? "Authentication Failure";
    setImmediate(() => {
      this.publishEvent(`$SYS.SERVER.${this.server.id}.CLIENT.AUTH.ERR`, () =>
        disconnectAdvisory(this.serverInfo(), c, "Authentication Failure", c.account.name),
      );
      const subject = "$SYS.ACCOUNT.CLIENT.AUTH.ERR";
      if (!this.stopping && account.sublist.hasInterest(subject)) {
        account.publish(subject, "", undefined, Buffer.from(JSON.stringify(disconnectAdvisory(this.serverInfo(), c, reason, account.name))));
      }
    });
  }

  private scheduleStatsz(): void {
    if (this.statszTimer !== undefined) clearInterval(this.statszTimer);
    this.statszTimer = setInterval(() => this.publishStatsz(), this.statszIntervalMs);
    this.statszTimer.unref();
  }

  private publishStatsz(): void {
    this.publishEvent(`$SYS.SERVER.${this.server.id}.STATSZ`, () => this.statszMessage());
  }

  /** STATSZ events and PING replies: the ServerInfo header and the server's statistics. */
  private statszMessage(): Json {
    return { server: this.serverInfo(), statsz: this.statsz() };
  }

  private statsz(): Json {
    const s = this.server;
    const m = this.monitor;
    let active = 0;
    for (const acc of s.accounts.values()) if (acc.clients.size > 0) active++;
    const clients = s.clientTraffic();
    const out: Json = {
      start: goTime(s.start),
      mem: m.process.rss(),
      cores: m.process.cores(),
      cpu: m.process.cpuPercent(),
      connections: s.clients.size,
      total_connections: s.totalConnections,
      active_accounts: active,
      subscriptions: m.totalSubscriptions(),
      sent: { msgs: s.outMsgs, bytes: s.outBytes },
      sent_to_clients: { msgs: clients.outMsgs, bytes: clients.outBytes },
      received: { msgs: s.inMsgs, bytes: s.inBytes },
      received_from_clients: { msgs: clients.inMsgs, bytes: clients.inBytes },
      slow_consumers: s.slowConsumers,
    };
    // As nats-server: the by-kind stats only once one of them is not zero.
    const slow = { clients: s.slowConsumers, ...s.remoteSlowConsumers };
    if (Object.values(slow).some((n) => n !== 0)) out.slow_consumer_stats = slow;
    if (s.staleConnectionsTotal > 0) {
      out.stale_connections = s.staleConnectionsTotal;
      out.stale_connection_stats = { ...s.staleConnections };
    }
    if (s.stalledClients > 0) out.stalled_clients = s.stalledClients;
    out.gomaxprocs = m.process.cores();
    const cluster = clusterOf(s);
    if (cluster !== undefined && cluster.all.size > 0) {
      out.routes = [...cluster.all].map((r) => ({
        rid: r.cid,
        name: r.remoteName,
        sent: { msgs: r.outMsgs, bytes: r.outBytes },
        received: { msgs: r.inMsgs, bytes: r.inBytes },
        pending: r.pendingBytes,
      }));
    }
    const gw = gatewaysOf(s);
    if (gw !== undefined && gw.out.size > 0) {
      // Per remote cluster: our outbound connection, and what came in from its servers.
      out.gateways = [...gw.out.values()].map((c) => {
        const inbound = [...gw.in.values()].filter((i) => i.name === c.name);
        return {
          gwid: c.cid,
          name: c.name,
          sent: { msgs: c.outMsgs, bytes: c.outBytes },
          received: { msgs: inbound.reduce((n, i) => n + i.inMsgs, 0), bytes: inbound.reduce((n, i) => n + i.inBytes, 0) },
          inbound_connections: inbound.length,
        };
      });
    }
    out.active_servers = 1 + (cluster?.numPeers ?? 0);
    // A meta-group peer of a nats-server cluster (cluster.nrg_peer) runs no streams: without
    // JetStream config and stats nats-server never places one on it.
    if (s.options.jetstream.enabled && !this.runsNrgPeer()) out.jetstream = jetStreamSummary(s, false);
    else if (s.options.jetstream.enabled) {
      // Unless it holds stream replicas too (cluster.nrg_peer_streams, fixed for the process).
      const nrgPeer = s.services.find((svc) => svc.name === "nrg-peer") as { statszJetStream?(): Record<string, unknown> | undefined } | undefined;
      const js = nrgPeer?.statszJetStream?.();
      if (js !== undefined) out.jetstream = js;
    }
    return out;
  }

  // ---- services ----

  /** Is this request meant for this server? Its options, decoded (400 when they do not), and its filter. */
  private optionsFor(body: Buffer, endpoint: { struct: string; shape: Shape }): Json | undefined {
    const filter = decodeEventOptions(body, endpoint);
    return selectsServer(this.server, this.clusterName() ?? "", filter) ? filter : undefined;
  }

  private serverRequest(endpoint: string, body: Buffer): Json | undefined {
    const filter = this.optionsFor(body, SERVER_ENDPOINTS[endpoint]);
    if (filter === undefined) return undefined;
    const opts = jsonOptions(filter);
    const m = this.monitor;
    switch (endpoint) {
      case "STATSZ":
        return this.statszMessage();
      case "VARZ":
        return this.wrap(buildVarz(m));
      case "CONNZ":
        return this.wrap(buildConnz(m, connzOptions(opts)));
      case "SUBSZ":
        return this.wrap(buildSubsz(m, subszOptions(opts)));
      case "JSZ":
        return this.wrap(buildJsz(m, jszOptions(opts)));
      case "HEALTHZ":
        return this.wrap(checkHealth(m, checkHealthzOptions(opts)));
      case "ACCOUNTZ":
        return this.wrap(buildAccountz(m, accountzOptions(opts)));
      case "PROFILEZ": {
        // nats-server's profiles are Go's (pprof): a Node process has none of them.
        const name = opts.str("name");
        return this.wrap({ profile: null, error: name === "" ? "Profile name not specified" : `Profile ${JSON.stringify(name)} not found` });
      }
      case "ROUTEZ":
        return this.wrap(buildRoutez(m, routezOptions(opts)));
      case "GATEWAYZ":
        return this.wrap(buildGatewayz(m, gatewayzOptions(opts)));
      case "LEAFZ":
        return this.wrap(buildLeafz(m, leafzOptions(opts)));
      case "RAFTZ":
        // No groups (no JetStream cluster): the same empty map nats-server sends.
        return this.wrap(buildRaftz(m, { account: opts.str("account"), group: opts.str("group") }) ?? {});
      case "IPQUEUESZ":
        return this.wrap(buildIpqueuesz(m, opts.bool("all"), opts.str("filter")));
      case "EXPVARZ":
        return this.wrap(expvars());
      default:
        throw new SystemRequestError(400, `unknown endpoint ${endpoint}`);
    }
  }

  /** $SYS.REQ.SERVER.<id>.RELOAD: re-read the configuration file. */
  private reloadRequest(body: Buffer): Json | undefined {
    if (this.optionsFor(body, { struct: "EventFilterOptions", shape: {} }) === undefined) return undefined;
    try {
      const notApplied = this.server.reloadConfig();
      return this.wrap({ config_load_time: goTime(this.server.configLoadTime), not_applied: notApplied });
    } catch (err) {
      this.server.log.error(`Failed to reload server configuration: ${(err as Error).message}`);
      throw new SystemRequestError(500, (err as Error).message);
    }
  }

  /**
   * $SYS.REQ.SERVER.<id>.KICK and LDM: close one client (or leaf node) connection, or tell one
   * client the server is in lame duck mode (an INFO with ldm), by its id `cid`. A body that is
   * not such a request is not answered, as nats-server does.
   */
  private clientRequest(op: "KICK" | "LDM", body: Buffer): Json | undefined {
    const req = unmarshalLenient(body, { cid: "uint" }, op === "KICK" ? "KickClientReq" : "LDMClientReq");
    if (typeof req === "string") return undefined;
    if (this.optionsFor(body, { struct: "EventFilterOptions", shape: { cid: "uint" } }) === undefined) return undefined;
    const cid = typeof req.cid === "number" ? req.cid : 0;
    const client = this.server.clients.get(cid);
    if (op === "KICK") {
      if (client !== undefined) client.close("Kicked");
      else {
        const leaf = [...(leafNodesOf(this.server)?.all ?? [])].find((l) => l.cid === cid);
        if (leaf === undefined) throw new SystemRequestError(500, "no such client or leafnode id");
        leaf.close("Kicked");
      }
      return { server: this.serverInfo() };
    }
    if (client === undefined) throw new SystemRequestError(500, "no such client id");
    if (!client.connectReceived || client.opts.protocol < 1) throw new SystemRequestError(500, "client does not support Lame Duck Mode or is not ready to receive the notification");
    const info = this.server.infoFor(client);
    delete info.nonce;
    client.sendInfo({ ...info, ldm: true });
    return { server: this.serverInfo() };
  }

  /**
   * Requests about one account. `PING` as the account name means every account (from the
   * system account) or, through an import, the requesting account (`scope`).
   */
  private accountRequest(name: string, endpoint: string, body: Buffer, scope: Account | undefined): Json | undefined {
    const spec = ACCOUNT_ENDPOINTS[endpoint];
    const opts = spec === undefined ? parseBody(body) : this.optionsFor(body, spec);
    if (opts === undefined) return undefined;
    const s = this.server;
    const m = this.monitor;
    const all = name === "PING" && scope === undefined;
    let acc: Account | undefined = scope;
    if (acc === undefined && !all) acc = s.accounts.get(name);
    // An account this server does not know gets what nats-server 2.15 answers per endpoint:
    // an error for INFO, empty lists for CONNZ/SUBSZ, no answer for STATZ.
    const unknown = acc === undefined && !all;
    switch (endpoint) {
      case "INFO":
        if (all) throw new SystemRequestError(400, "INFO needs an account name");
        if (acc === undefined) throw new SystemRequestError(500, `Account ${name} does not exist`);
        return this.wrap(accountDetail(m, acc));
      case "CONNZ": {
        const o = connzOptions(jsonOptions(opts));
        if (!all) o.account = acc?.name ?? name;
        return this.wrap(buildConnz(m, o));
      }
      case "SUBSZ": {
        const o = subszOptions(jsonOptions({ subscriptions: true, ...opts }));
        if (!all) o.account = acc?.name ?? name;
        return this.wrap(buildSubsz(m, o));
      }
      case "JSZ": {
        const o = jszOptions(jsonOptions(opts));
        if (acc === undefined) return this.wrap(buildJsz(m, { ...o, accounts: true }));
        // nats-server 2.15 answers a server without JetStream so.
        if (!jetStreamRunning(s)) throw new SystemRequestError(500, "jetstream not enabled");
        // An account without JetStream: no data, and why (nats-server sends both fields).
        if (jetStreamAccount(s, acc.name) === undefined) return { server: this.serverInfo(), data: null, error: { code: 500, description: `account ${JSON.stringify(acc.name)} not jetstream enabled` } };
        return this.wrap(accountJsz(m, acc.name, o));
      }
      case "STATZ": {
        if (unknown) return undefined;
        if (acc !== undefined) {
          // Like /accstatz: an account without connections is left out unless asked for.
          if (acc.clients.size === 0 && opts.include_unused !== true) return undefined;
          return this.wrap({ server_id: s.id, now: goTime(new Date()), account_statz: [accountStat(acc)] });
        }
        return this.wrap(buildAccstatz(m, accstatzOptions(jsonOptions(opts))));
      }
      case "CONNS":
        if (all) throw new SystemRequestError(400, "CONNS needs an account name");
        if (acc === undefined) throw new SystemRequestError(500, `Account ${name} does not exist`);
        return accountConnectionsAdvisory(this.serverInfo(), acc);
      case "LEAFZ":
        return this.wrap(buildLeafz(m, { ...leafzOptions(jsonOptions(opts)), ...(all ? {} : { account: acc?.name ?? name }) }));
      default:
        throw new SystemRequestError(400, `unknown account endpoint ${endpoint}`);
    }
  }

  private userInfoRequest(origin: Client | undefined): Json {
    if (origin === undefined) throw new SystemRequestError(400, "USER.INFO answers client connections only");
    return this.wrap(userInfo(origin));
  }
}


function parseBody(body: Buffer): Json {
  const text = body.toString("utf8").trim();
  if (text === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new SystemRequestError(400, `invalid request: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new SystemRequestError(400, "invalid request: expected a JSON object");
  return v as Json;
}
