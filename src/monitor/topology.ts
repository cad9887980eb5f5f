// /routez, /gatewayz and /leafz in nats-server's shapes.
import type { Monitor } from "./monitor.js";
import { goTime, uptime } from "./format.js";
import { subDetail } from "./connz.js";
import { clusterOf, subjectPermissionJson } from "../cluster/cluster.js";
import { leafNodesOf } from "../cluster/leafnodes.js";
import type { RoutezOptions } from "./endpoint-options.js";

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

export function buildGatewayz(m: Monitor): Record<string, unknown> {
  return { server_id: m.server.id, now: goTime(new Date()), outbound_gateways: {}, inbound_gateways: {} };
}

export function buildLeafz(m: Monitor, opts: RoutezOptions = { subs: false, subsDetail: false }): Record<string, unknown> {
  const leafs = [...(leafNodesOf(m.server)?.all ?? [])];
  return {
    server_id: m.server.id,
    now: goTime(new Date()),
    leafnodes: leafs.length,
    // nats-server's empty list is a nil slice: null.
    leafs: leafs.length === 0 ? null : leafs.map((l) => {
      const li: Record<string, unknown> = { id: l.cid, name: l.remoteServer, is_spoke: l.isSpoke };
      if (l.isolated) li.is_isolated = true;
      Object.assign(li, { account: l.account.name, ip: l.host.replace(/^::ffff:/, ""), port: l.port });
      if (l.rttMs > 0) li.rtt = rttString(l.rttMs);
      Object.assign(li, { in_msgs: l.inMsgs, out_msgs: l.outMsgs, in_bytes: l.inBytes, out_bytes: l.outBytes, subscriptions: l.subs.size });
      if (opts.subs && l.subs.size > 0) li.subscriptions_list = [...l.subs.values()].map((sub) => sub.subject);
      li.compression = l.compression;
      return li;
    }),
  };
}
