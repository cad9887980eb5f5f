// /accountz (accounts and one account's detail) and /accstatz (per-account traffic).
import type { Account } from "../server/account.js";
import type { Server } from "../server/server.js";
import type { ExportAuth, ServiceLatency } from "../server/exports.js";
import type { Monitor } from "./monitor.js";
import { UnknownAccountError, type AccountzOptions, type AccstatzOptions } from "./endpoint-options.js";
import { compareStrings, goTime } from "./format.js";
import { sublistStats } from "./subsz.js";
import { jetStreamAccount } from "./jetstream-stats.js";

export function buildAccountz(m: Monitor, opts: AccountzOptions): Record<string, unknown> {
  const s = m.server;
  const out: Record<string, unknown> = { server_id: s.id, now: goTime(new Date()) };
  if (s.systemAccount !== undefined) out.system_account = s.systemAccount.name;
  if (opts.account === "") {
    out.accounts = [...s.accounts.keys()].sort(compareStrings);
    return out;
  }
  const acc = s.accounts.get(opts.account);
  if (acc === undefined) throw new UnknownAccountError(`Account ${opts.account} does not exist`);
  out.account_detail = accountDetail(m, acc);
  return out;
}

/** What /accountz?acc= and $SYS.REQ.ACCOUNT.<acc>.INFO say about one account. */
export function accountDetail(m: Monitor, acc: Account): Record<string, unknown> {
  const s = m.server;
  const d: Record<string, unknown> = {
    account_name: acc.name,
    update_time: goTime(acc.created),
    expired: false,
    complete: true,
    jetstream_enabled: jetStreamAccount(s, acc.name) !== undefined,
    leafnode_connections: 0,
    client_connections: acc.clients.size,
    subscriptions: acc.sublist.count,
  };
  if (s.systemAccount === acc) d.is_system = true;
  if (acc.mappings !== undefined) {
    const mappings: Record<string, unknown> = {};
    for (const m of acc.mappings.entries) mappings[m.src] = m.toJson();
    d.mappings = mappings;
  }
  const exports = exportsJson(acc);
  if (exports.length > 0) d.exports = exports;
  const imports = importsJson(acc, jetStreamImport(s, acc));
  if (imports.length > 0) d.imports = imports;
  d.name_tag = acc.nameTag;
  d.sublist_stats = sublistStats([acc]);
  return d;
}

function latencyJson(l: ServiceLatency | undefined): Record<string, unknown> | undefined {
  return l === undefined ? undefined : { sampling: l.sampling, results: l.subject };
}

/** nats-server's ExtExport list: services, then streams. */
function exportsJson(acc: Account): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const auth = (e: Record<string, unknown>, a: ExportAuth): void => {
    if (a.tokenRequired) e.token_req = true;
    if (a.approved !== undefined) e.approved_accounts = [...a.approved];
  };
  for (const se of acc.serviceExports.values()) {
    const e: Record<string, unknown> = { subject: se.subject, type: "service" };
    auth(e, se.auth);
    e.response_type = se.responseType;
    const lat = latencyJson(se.latency);
    if (lat !== undefined) e.service_latency = lat;
    if (se.allowTrace) e.allow_trace = true;
    out.push(reorder(e, ["subject", "type", "token_req", "response_type", "service_latency", "allow_trace", "approved_accounts"]));
  }
  for (const st of acc.streamExports.values()) {
    const e: Record<string, unknown> = { subject: st.subject, type: "stream" };
    auth(e, st.auth);
    out.push(e);
  }
  return out;
}

function reorder(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * nats-server serves the JetStream API from the system account through a `$JS.API.>` import
 * in every account (unless the account imports another account's API); tsnats answers it
 * inside each account, and lists the import so /accountz reads the same.
 */
function jetStreamImport(s: Server, acc: Account): Record<string, unknown> | undefined {
  if (!s.options.jetstream.enabled || s.systemAccount === undefined || acc === s.systemAccount) return undefined;
  if (acc.serviceImports.some((si) => si.from === "$JS.API.>")) return undefined;
  return serviceImportJson({ to: "$JS.API.>", from: "$JS.API.>", exporter: s.systemAccount.name, share: true, invalid: false });
}

function serviceImportJson(si: { to: string; from: string; exporter: string; share: boolean; invalid: boolean; latency?: ServiceLatency }): Record<string, unknown> {
  const e: Record<string, unknown> = {
    subject: si.to,
    account: si.exporter,
    to: si.from,
    local_subject: si.from,
    type: "service",
    invalid: si.invalid,
    share: si.share,
    tracking: false,
  };
  const lat = latencyJson(si.latency);
  if (lat !== undefined) e.latency = lat;
  return e;
}

/** nats-server's ExtImport list: streams, then services. */
function importsJson(acc: Account, jsImport: Record<string, unknown> | undefined): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const im of acc.streamImports) {
    out.push({ subject: im.from, account: im.exporter.name, local_subject: im.to, type: "stream", invalid: im.invalid, share: false, tracking: false });
  }
  for (const si of acc.serviceImports) {
    out.push(
      serviceImportJson({ to: si.to, from: si.from, exporter: si.exporter.name, share: si.share, invalid: si.invalid, latency: si.exported?.latency }),
    );
  }
  if (jsImport !== undefined) out.push(jsImport);
  return out;
}

/** One account's connection and traffic counts (accstatz, STATZ, CONNS events). */
export function accountStat(acc: Account): Record<string, unknown> {
  // Traffic by connection kind, as nats-server 2.15 splits it.
  return {
    acc: acc.name,
    name: acc.nameTag,
    conns: acc.clients.size,
    leafnodes: 0,
    total_conns: acc.clients.size,
    num_subscriptions: acc.sublist.count,
    sent: {
      msgs: acc.outMsgs,
      bytes: acc.outBytes,
      gateways: { msgs: acc.outGatewayMsgs, bytes: acc.outGatewayBytes },
      routes: { msgs: acc.outRouteMsgs, bytes: acc.outRouteBytes },
      leafs: { msgs: acc.outLeafMsgs, bytes: acc.outLeafBytes },
    },
    received: {
      msgs: acc.inMsgs,
      bytes: acc.inBytes,
      gateways: { msgs: acc.inGatewayMsgs, bytes: acc.inGatewayBytes },
      routes: { msgs: acc.inRouteMsgs, bytes: acc.inRouteBytes },
      leafs: { msgs: acc.inLeafMsgs, bytes: acc.inLeafBytes },
    },
    slow_consumers: acc.slowConsumers,
  };
}

export function buildAccstatz(m: Monitor, opts: AccstatzOptions): Record<string, unknown> {
  const s = m.server;
  let accounts: Account[];
  if (opts.accounts.length > 0) {
    accounts = opts.accounts.map((n) => s.accounts.get(n)).filter((a): a is Account => a !== undefined);
  } else {
    accounts = [...s.accounts.values()];
  }
  accounts.sort((a, b) => compareStrings(a.name, b.name));
  // Without include_unused, only accounts that have connections are listed.
  const stats = accounts.filter((a) => opts.includeUnused || a.clients.size > 0).map(accountStat);
  return { server_id: s.id, now: goTime(new Date()), account_statz: stats };
}
