// Payloads of the system account's events, in nats-server's advisory shapes
// (schemas: server/advisory/v1/client_connect, client_disconnect, account_connections).
import { nuid } from "@nats-io/nuid";
import type { Client } from "../server/client.js";
import type { Account } from "../server/account.js";
import { goTime } from "./format.js";
import { clientInfo } from "../server/client_info.js";
import { accountStat } from "./accountz.js";

const CLIENT_CONNECT_TYPE = "io.nats.server.advisory.v1.client_connect";
const CLIENT_DISCONNECT_TYPE = "io.nats.server.advisory.v1.client_disconnect";
const ACCOUNT_CONNECTIONS_TYPE = "io.nats.server.advisory.v1.account_connections";

/** The `client` object of connect/disconnect advisories. */
function eventClient(c: Client, withStop: boolean, accountName?: string): Record<string, unknown> {
  return clientInfo(c, { detailed: true, withStop, accountName });
}

export function connectAdvisory(server: Record<string, unknown>, c: Client): Record<string, unknown> {
  return { type: CLIENT_CONNECT_TYPE, id: nuid.next(), timestamp: goTime(new Date()), server, client: eventClient(c, false) };
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
    client: eventClient(c, true, accountName),
    sent: { msgs: c.inMsgs, bytes: c.inBytes },
    received: { msgs: c.outMsgs, bytes: c.outBytes },
    reason,
  };
}

export function accountConnectionsAdvisory(server: Record<string, unknown>, acc: Account): Record<string, unknown> {
  return { type: ACCOUNT_CONNECTIONS_TYPE, id: nuid.next(), timestamp: goTime(new Date()), server, ...accountStat(acc) };
}
