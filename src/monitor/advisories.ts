// Payloads of the system account's events, in nats-server's advisory shapes
// (schemas: server/advisory/v1/client_connect, client_disconnect, account_connections).
import { nuid } from "@nats-io/nuid";
import type { Client } from "../server/client.js";
import type { Account } from "../server/account.js";
import { goTime } from "./format.js";
import { msToNs } from "../server/time.js";
import { accountStat } from "./accountz.js";

const CLIENT_CONNECT_TYPE = "io.nats.server.advisory.v1.client_connect";
const CLIENT_DISCONNECT_TYPE = "io.nats.server.advisory.v1.client_disconnect";
const ACCOUNT_CONNECTIONS_TYPE = "io.nats.server.advisory.v1.account_connections";

/** The `client` object of connect/disconnect advisories. */
function clientInfo(c: Client, withStop: boolean, accountName?: string): Record<string, unknown> {
  const info: Record<string, unknown> = { start: goTime(c.start), host: c.host, id: c.cid, acc: accountName ?? c.account.name };
  if (c.authorizedUser) info.user = c.authorizedUser;
  else if (c.opts.user) info.user = c.opts.user;
  if (c.opts.name) info.name = c.opts.name;
  if (c.opts.lang) info.lang = c.opts.lang;
  if (c.opts.version) info.ver = c.opts.version;
  if (c.rttMs > 0) info.rtt = msToNs(c.rttMs);
  if (withStop) info.stop = goTime(c.stop ?? new Date());
  if (c.opts.jwt) info.jwt = c.opts.jwt;
  const u = c.jwtUser;
  if (u !== undefined) info.issuer_key = u.signingKey !== "" ? u.signingKey : c.account.name;
  if (u !== undefined && u.tags.length > 0) info.tags = u.tags;
  info.name_tag = c.account.claims?.nameTag || c.account.name;
  info.kind = "Client";
  info.client_type = "nats";
  return info;
}

export function connectAdvisory(server: Record<string, unknown>, c: Client): Record<string, unknown> {
  return { type: CLIENT_CONNECT_TYPE, id: nuid.next(), timestamp: goTime(new Date()), server, client: clientInfo(c, false) };
}

/**
 * A disconnect advisory; also the payload of CLIENT.AUTH.ERR. `sent`/`received` are from
 * the client's side: what it published and what it was delivered.
 */
export function disconnectAdvisory(server: Record<string, unknown>, c: Client, reason: string, accountName?: string): Record<string, unknown> {
  return {
    type: CLIENT_DISCONNECT_TYPE,
    id: nuid.next(),
    timestamp: goTime(c.stop ?? new Date()),
    server,
    client: clientInfo(c, true, accountName),
    sent: { msgs: c.inMsgs, bytes: c.inBytes },
    received: { msgs: c.outMsgs, bytes: c.outBytes },
    reason,
  };
}

export function accountConnectionsAdvisory(server: Record<string, unknown>, acc: Account): Record<string, unknown> {
  return { type: ACCOUNT_CONNECTIONS_TYPE, id: nuid.next(), timestamp: goTime(new Date()), server, ...accountStat(acc) };
}
