// nats-server's ClientInfo: who a client is, as events, latency metrics and the
// Nats-Request-Info header of requests crossing a service import describe it.
import type { Client } from "./client.js";
import { msToNs, rfc3339 } from "./time.js";

export interface ClientInfoOptions {
  /** Everything (connect/disconnect events, a shared service import); else only account and RTT. */
  detailed: boolean;
  /** The account to name instead of the client's own (an auth error's target). */
  accountName?: string;
  /** The account whose service import the request passed last (chained imports). */
  service?: string;
  /** The server's name, for a detailed requestor or responder of a service. */
  server?: string;
  /**
   * Where the request entered: this server and its cluster, given even when not detailed (a
   * request into the system account, as nats-server adds them: JetStream places by them).
   */
  origin?: { server: string; cluster?: string };
  /** When the connection ended (disconnect events). */
  withStop?: boolean;
}

function time(d: Date): string {
  return rfc3339(BigInt(d.getTime()) * 1_000_000n);
}

/** The fields in nats-server's order; absent ones are left out as its omitempty does. */
export function clientInfo(c: Client, o: ClientInfoOptions): Record<string, unknown> {
  const info: Record<string, unknown> = {};
  if (o.detailed) {
    info.start = time(c.start);
    info.host = c.host;
    info.id = c.cid;
  }
  info.acc = o.accountName ?? c.account.name;
  if (o.service !== undefined) info.svc = o.service;
  if (o.detailed) {
    const user = c.authorizedUser || c.opts.user;
    if (user) info.user = user;
    if (c.opts.name) info.name = c.opts.name;
    if (c.opts.lang) info.lang = c.opts.lang;
    if (c.opts.version) info.ver = c.opts.version;
  }
  if (c.rttMs > 0) info.rtt = msToNs(c.rttMs);
  if (o.origin !== undefined) {
    info.server = o.origin.server;
    if (o.origin.cluster) info.cluster = o.origin.cluster;
  } else if (o.detailed && o.server !== undefined) info.server = o.server;
  if (o.detailed) {
    if (o.withStop) info.stop = time(c.stop ?? new Date());
    if (c.opts.jwt) info.jwt = c.opts.jwt;
    const u = c.jwtUser;
    if (u !== undefined) info.issuer_key = u.signingKey !== "" ? u.signingKey : c.account.name;
    info.name_tag = c.account.nameTag;
    if (u !== undefined && u.tags.length > 0) info.tags = u.tags;
    info.kind = "Client";
    info.client_type = "nats";
  }
  return info;
}
