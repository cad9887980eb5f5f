// /routez, /gatewayz and /leafz in nats-server's shapes.
import type { Monitor } from "./monitor.js";
import { goTime, uptime } from "./format.js";
import { subDetail } from "./connz.js";
import { clusterOf, gatewaysOf, leafNodesOf } from "../server/service_lookup.js";
import { subjectPermissionJson } from "../cluster/handshake.js";
import type { GatewayzOptions, LeafzOptions, RoutezOptions } from "./endpoint-options.js";
import type { GatewayConnection } from "../cluster/gateway.js";

/** Go's time.Duration.String() of a round trip in ms ("276µs", "1.2ms"), as /routez shows rtt. */
export function rttString(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${Number(ms.toFixed(3))}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}

export function buildRoutez(m: Monitor, opts: RoutezOptions = { subs: false, subsDetail: false }): Record<string, unknown> {
  const s = m.server;
  const now = new Date();
  const cluster = clusterOf(s);
  const out: Record<string, unknown> = { server_id: s.id, server_name: s.name, now: goTime(now) };
  const perms = cluster?.options.permissions;
  if (perms?.import !== undefined) out.import = subjectPermissionJson(perms.import);
  if (perms?.export !== undefined) out.export = subjectPermissionJson(perms.export);
  const routes = cluster === undefined ? [] : [...cluster.all];
  out.num_routes = routes.length;
  out.routes = routes.map((r) => {
    const ri: Record<string, unknown> = {
      rid: r.cid,
      remote_id: r.remoteId,
      remote_name: r.remoteName,
      did_solicit: r.didSolicit,
      is_configured: r.routeType === "explicit",
      ip: r.host.replace(/^::ffff:/, ""),
      port: r.port,
      start: goTime(r.start),
      last_activity: goTime(new Date(r.lastActivity)),
    };
    if (r.rttMs > 0) ri.rtt = rttString(r.rttMs);
    ri.uptime = uptime(now.getTime() - r.start.getTime());
    ri.idle = uptime(now.getTime() - r.lastActivity);
    if (r.remoteImport !== undefined) ri.import = r.remoteImport;
    if (r.remoteExport !== undefined) ri.export = r.remoteExport;
    Object.assign(ri, {
      pending_size: r.pendingBytes,
      in_msgs: r.inMsgs,
      out_msgs: r.outMsgs,
      in_bytes: r.inBytes,
      out_bytes: r.outBytes,
      subscriptions: r.subs.size,
    });
    if (r.subs.size > 0) {
      if (opts.subsDetail) ri.subscriptions_list_detail = [...r.subs.values()].map((sub) => subDetail(sub, accountOfRouteSub(sub.sid)));
      else if (opts.subs) ri.subscriptions_list = [...r.subs.values()].map((sub) => sub.subject);
    }
    if (r.accName !== "") ri.account = r.accName;
    ri.compression = r.compression;
    return ri;
  });
  return out;
}

/** A route subscription's key is "R|L <account> <subject>...". */
function accountOfRouteSub(key: string): string {
  const a = key.indexOf(" ") + 1;
  return key.slice(a, key.indexOf(" ", a));
}

const NO_GATEWAYZ_OPTIONS: GatewayzOptions = { name: "", accounts: false, account: "", subs: false, subsDetail: false };

/** nats-server's Gatewayz: outbound connections by remote name, inbound ones (a list per remote). */
export function buildGatewayz(m: Monitor, opts: GatewayzOptions = NO_GATEWAYZ_OPTIONS): Record<string, unknown> {
  const now = new Date();
  const gw = gatewaysOf(m.server);
  if (gw === undefined) return { server_id: m.server.id, now: goTime(now), outbound_gateways: {}, inbound_gateways: {} };
  const out: Record<string, unknown> = { server_id: m.server.id, now: goTime(now), name: gw.gatewayName, host: gw.options.host, port: gw.port };
  const outbound: Record<string, unknown> = {};
  for (const c of gw.out.values()) {
    if (opts.name !== "" && c.name !== opts.name) continue;
    const rgw: Record<string, unknown> = { configured: c.remote !== undefined && !c.remote.implicit, connection: gatewayConnInfo(c, now) };
    if (opts.accounts) rgw.accounts = outboundAccounts(c, opts);
    outbound[c.name] = rgw;
  }
  const inbound: Record<string, Array<Record<string, unknown>>> = {};
  for (const c of gw.in.values()) {
    if (opts.name !== "" && c.name !== opts.name) continue;
    const rgw: Record<string, unknown> = { configured: false, connection: gatewayConnInfo(c, now) };
    if (opts.accounts) rgw.accounts = inboundAccounts(c, opts);
    (inbound[c.name] ??= []).push(rgw);
  }
  out.outbound_gateways = outbound;
  out.inbound_gateways = inbound;
  return out;
}

/** The ConnInfo of a gateway connection (nats-server fills the client fields that apply). */
function gatewayConnInfo(c: GatewayConnection, now: Date): Record<string, unknown> {
  const ci: Record<string, unknown> = {
    cid: c.cid,
    kind: "Gateway",
    ip: c.host.replace(/^::ffff:/, ""),
    port: c.port,
    start: goTime(c.start),
    last_activity: goTime(new Date(c.lastActivity)),
  };
  if (c.rttMs > 0) ci.rtt = rttString(c.rttMs);
  Object.assign(ci, {
    uptime: uptime(now.getTime() - c.start.getTime()),
    idle: uptime(now.getTime() - c.lastActivity),
    pending_bytes: c.pendingBytes,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    subscriptions: [...c.subs.keys()].filter((k) => k.startsWith("G ")).length,
  });
  if (c.remoteId !== "") ci.name = c.remoteId;
  return ci;
}

const INTEREST_ONLY_THRESHOLD_DEFAULT = 1000;

function outboundAccounts(c: GatewayConnection, opts: GatewayzOptions): Array<Record<string, unknown>> {
  const names = [...c.outsim.keys()].filter((n) => opts.account === "" || n === opts.account).sort();
  return names.map((name) => {
    const e = c.outsim.get(name);
    const a: Record<string, unknown> = { name, interest_mode: e === null || e === undefined ? "Optimistic" : e.mode };
    if (e !== null && e !== undefined) {
      if (e.ni !== undefined && e.ni.size > 0) a.no_interest_count = e.ni.size;
      a.interest_only_threshold = c.gateways.maxNoInterestBeforeSwitch || INTEREST_ONLY_THRESHOLD_DEFAULT;
      const subs = [...c.subs.values()].filter((sub) => sub.sid.startsWith(`G ${name} `));
      if (subs.length > 0) a.num_subs = subs.length;
      if (e.qsubs > 0) a.num_queue_subs = e.qsubs;
      if (subs.length > 0) {
        if (opts.subsDetail) a.subscriptions_list_detail = subs.map((sub) => ({ ...subDetail(sub, undefined), sid: "" }));
        else if (opts.subs) a.subscriptions_list = subs.map((sub) => sub.subject);
      }
    } else a.interest_only_threshold = c.gateways.maxNoInterestBeforeSwitch;
    return a;
  });
}

function inboundAccounts(c: GatewayConnection, opts: GatewayzOptions): Array<Record<string, unknown>> {
  const names = [...c.insim.keys()].filter((n) => opts.account === "" || n === opts.account).sort();
  return names.map((name) => {
    const e = c.insim.get(name);
    const a: Record<string, unknown> = { name, interest_mode: e === null || e === undefined ? "Optimistic" : e.mode };
    if (e !== null && e !== undefined && e.ni !== undefined && e.ni.size > 0) a.no_interest_count = e.ni.size;
    a.interest_only_threshold = c.gateways.maxNoInterestBeforeSwitch;
    return a;
  });
}

export function buildLeafz(m: Monitor, opts: LeafzOptions = { subs: false, subsDetail: false, account: "" }): Record<string, unknown> {
  const leafs = [...(leafNodesOf(m.server)?.all ?? [])].filter((l) => opts.account === "" || l.account.name === opts.account);
  return {
    server_id: m.server.id,
    now: goTime(new Date()),
    leafnodes: leafs.length,
    // nats-server 2.15 lists none as [] (2.9 gave null).
    leafs: leafs.map((l) => {
      const li: Record<string, unknown> = { id: l.cid, name: l.remoteServer, is_spoke: l.isSpoke };
      if (l.isolated) li.is_isolated = true;
      Object.assign(li, { account: l.account.name, ip: l.host.replace(/^::ffff:/, ""), port: l.port });
      // Always there, "0s" until measured (nats-server's getRTT().String()).
      li.rtt = rttString(l.rttMs);
      Object.assign(li, { in_msgs: l.inMsgs, out_msgs: l.outMsgs, in_bytes: l.inBytes, out_bytes: l.outBytes, subscriptions: l.subs.size });
      if (opts.subs && l.subs.size > 0) li.subscriptions_list = [...l.subs.values()].map((sub) => sub.subject);
      li.compression = l.compression;
      if (l.websocket !== undefined) li.websocket = true;
      return li;
    }),
  };
}
