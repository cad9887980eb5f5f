// /connz: open and recently closed client connections, filtered, sorted and paged the way
// nats-server does it.
import type { Client } from "../server/client.js";
import type { Subscription } from "../server/sublist.js";
import type { Monitor } from "./monitor.js";
import type { ConnzOptions, SortOption } from "./endpoint-options.js";
import { compareStrings, goTime, uptime } from "./format.js";
import { goDuration } from "../server/time.js";
import { tlsStateOf } from "../server/tls.js";
import { GLOBAL_ACCOUNT } from "../server/account_setup.js";

interface Row {
  client: Client;
  closed: boolean;
  reason: string;
}

export function buildConnz(m: Monitor, opts: ConnzOptions): Record<string, unknown> {
  const s = m.server;
  const now = Date.now();
  let rows: Row[] = [];
  if (opts.state !== "closed") {
    for (const c of s.clients.values()) rows.push({ client: c, closed: false, reason: "" });
  }
  if (opts.state !== "open") {
    for (const cc of s.closedClients) rows.push({ client: cc.client, closed: true, reason: cc.reason });
  }
  if (opts.account !== "") rows = rows.filter((r) => r.client.account.name === opts.account);
  if (opts.user !== "") rows = rows.filter((r) => r.client.authorizedUser === opts.user);
  const total = rows.length;
  if (opts.cid > 0) rows = rows.filter((r) => r.client.cid === opts.cid);
  sortRows(rows, opts.sort, now);
  const page = rows.slice(opts.offset, opts.offset + opts.limit);
  return {
    server_id: s.id,
    now: goTime(now),
    num_connections: page.length,
    total,
    offset: opts.offset,
    limit: opts.limit,
    connections: page.map((r) => connInfo(r, opts, now)),
  };
}

function endTime(r: Row, now: number): number {
  return r.closed ? (r.client.stop?.getTime() ?? now) : now;
}

/** Sort keys by number; cid and start sort ascending, the rest largest first (busiest on top), like nats-server. */
const SORT_KEYS: Record<Exclude<SortOption, "reason">, (r: Row, now: number) => number> = {
  cid: (r) => r.client.cid,
  start: (r) => r.client.start.getTime(),
  subs: (r) => r.client.subs.size,
  pending: (r) => (r.closed ? 0 : r.client.pendingBytes),
  msgs_to: (r) => r.client.outMsgs,
  msgs_from: (r) => r.client.inMsgs,
  bytes_to: (r) => r.client.outBytes,
  bytes_from: (r) => r.client.inBytes,
  last: (r) => r.client.lastActivity,
  idle: (r, now) => endTime(r, now) - r.client.lastActivity,
  uptime: (r, now) => endTime(r, now) - r.client.start.getTime(),
  stop: (r) => r.client.stop?.getTime() ?? 0,
};

function sortRows(rows: Row[], sort: SortOption, now: number): void {
  if (sort === "reason") {
    rows.sort((a, b) => compareStrings(a.reason, b.reason) || a.client.cid - b.client.cid);
    return;
  }
  const key = SORT_KEYS[sort];
  const sign = sort === "cid" || sort === "start" ? 1 : -1;
  rows.sort((a, b) => sign * (key(a, now) - key(b, now)) || a.client.cid - b.client.cid);
}

function connInfo(r: Row, opts: ConnzOptions, now: number): Record<string, unknown> {
  const c = r.client;
  const end = endTime(r, now);
  const info: Record<string, unknown> = {
    cid: c.cid,
    kind: "Client",
    type: c.connectionType === "WEBSOCKET" ? "websocket" : "nats",
    ip: c.host,
    port: c.port,
    start: goTime(c.start),
    last_activity: goTime(c.lastActivity),
  };
  if (r.closed) {
    info.stop = goTime(c.stop ?? new Date(now));
    info.reason = r.reason;
  }
  Object.assign(info, {
    rtt: goDuration(c.rttMs * 1e6),
    uptime: uptime(end - c.start.getTime()),
    idle: uptime(end - c.lastActivity),
    pending_bytes: r.closed ? 0 : c.pendingBytes,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    subscriptions: c.subs.size,
  });
  if (c.opts.name) info.name = c.opts.name;
  if (c.opts.lang) info.lang = c.opts.lang;
  if (c.opts.version) info.version = c.opts.version;
  const tls = tlsStateOf(c);
  if (tls !== undefined) {
    info.tls_version = tls.version;
    info.tls_cipher_suite = tls.cipherSuite;
  }
  if (opts.auth) {
    if (c.authorizedUser) info.authorized_user = c.authorizedUser;
    // As nats-server: the global account is not named; its tag shows only for open connections.
    const acc = c.account;
    const global = acc.name === GLOBAL_ACCOUNT;
    if (!global) info.account = acc.name;
    if (!global || !r.closed) info.name_tag = acc.nameTag;
  }
  if (opts.subsDetail) {
    info.subscriptions_list_detail = [...c.subs.values()].map((sub) => subDetail(sub, undefined));
  } else if (opts.subs) {
    info.subscriptions_list = [...c.subs.values()].map((sub) => sub.subject);
  }
  return info;
}

/** One subscription as /subsz and /connz?subs=detail list it (`accountTag`: the account's JWT name). */
export function subDetail(sub: Subscription, account: string | undefined, accountTag?: string): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (account !== undefined) d.account = account;
  if (accountTag !== undefined && accountTag !== "") d.account_tag = accountTag;
  d.subject = sub.subject;
  if (sub.queue !== undefined) d.qgroup = sub.queue;
  d.sid = sub.sid;
  d.msgs = sub.delivered;
  if (sub.max > 0) d.max = sub.max;
  // In-process subscribers (JetStream, system services) have no connection id.
  d.cid = sub.client.kind === "internal" ? 0 : sub.client.cid;
  return d;
}
