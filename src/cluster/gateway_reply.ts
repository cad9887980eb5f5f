// Replies to requests that crossed a gateway (nats-server's `_GR_.` reply mapping,
// server/gateway.go and client.go as facts).
//
// A request sent to another cluster right after its requester subscribed to the reply subject
// may get there before that subscription's interest does (interest and messages travel on two
// different connections). So the sending server prefixes the reply with
// `_GR_.<cluster hash>.<server hash>.`: an answer published on such a subject goes straight back
// to the requester's cluster, and from there over a route to the requester's server, without
// any interest being needed.
//
// A receiver never sees the prefix: a client or internal handler that gets a message with a
// routed reply sees the plain reply, and for a little while its answer on that plain subject
// is sent on the routed one instead (the mapping is kept on the client, or on the account for
// internal handlers, as nats-server does).
import type { Account } from "../server/account.js";

export const GW_REPLY_PREFIX = "_GR_.";
/** The prefix of servers before 2.2 (and of peers that do not announce gateway_nrp). */
export const OLD_GW_REPLY_PREFIX = "$GR.";
/** Length of the cluster and server hashes. */
export const GW_HASH_LEN = 6;
/** Where the original subject starts: "_GR_." + 6 + "." + 6 + ".". */
export const GW_SUBJECT_OFFSET = GW_REPLY_PREFIX.length + GW_HASH_LEN + 1 + GW_HASH_LEN + 1;
/** "$GR." + 4 hash characters + ".". */
export const OLD_GW_SUBJECT_OFFSET = OLD_GW_REPLY_PREFIX.length + 4 + 1;
/** How long an answer on the plain reply is mapped back (nats-server's recent subscription expiration). */
const MAPPING_TTL_MS = 2000;

/** A `_GR_.` (or old `$GR.`) subject long enough to hold a subject after its hashes. */
export function isGatewayRoutedSubject(s: string): boolean {
  const c = s.charCodeAt(0);
  if (c === 95 /* _ */) return s.length > GW_SUBJECT_OFFSET && s.startsWith(GW_REPLY_PREFIX);
  if (c === 36 /* $ */) return s.length > OLD_GW_SUBJECT_OFFSET && s.startsWith(OLD_GW_REPLY_PREFIX);
  return false;
}

/** The subject inside a gateway-routed one. */
export function plainOfRouted(s: string): string {
  return s.slice(s.charCodeAt(0) === 95 ? GW_SUBJECT_OFFSET : OLD_GW_SUBJECT_OFFSET);
}

/** Clients and accounts remember the routed form of replies they received. */
export interface GatewayReplyHolder {
  gwReplies: Map<string, { routed: string; expires: number }> | undefined;
}

const holders = new Set<GatewayReplyHolder>();
let sweeper: NodeJS.Timeout | undefined;

/** `holder` received a message whose reply was routed: its answer on `plain` goes to `routed`. */
export function trackGatewayReply(holder: GatewayReplyHolder, plain: string, routed: string): void {
  const m = (holder.gwReplies ??= new Map());
  m.set(plain, { routed, expires: Date.now() + MAPPING_TTL_MS });
  holders.add(holder);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, MAPPING_TTL_MS / 2);
    sweeper.unref();
  }
}

/** The routed subject an answer on `subject` must use, if `holder` has one. */
export function routedReplyFor(holder: GatewayReplyHolder, subject: string): string | undefined {
  const e = holder.gwReplies?.get(subject);
  if (e === undefined) return undefined;
  if (e.expires < Date.now()) {
    holder.gwReplies?.delete(subject);
    return undefined;
  }
  return e.routed;
}

function sweep(): void {
  const now = Date.now();
  for (const h of holders) {
    const m = h.gwReplies;
    if (m !== undefined) for (const [k, e] of m) if (e.expires < now) m.delete(k);
    if (m === undefined || m.size === 0) {
      h.gwReplies = undefined;
      holders.delete(h);
    }
  }
  if (holders.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** What sends an answer on a routed reply subject out of this server (the gateways; leaf connections whose other side asked for routed replies). */
export interface RoutedReplySender {
  /** `from`: the connection it came in on, not to send it back to. */
  sendRoutedReply(account: Account, routed: string, reply: string, hdr: Buffer | undefined, payload: Buffer, from?: unknown): void;
}

function isSender(s: unknown): s is RoutedReplySender {
  return typeof (s as Partial<RoutedReplySender>).sendRoutedReply === "function";
}

/**
 * An answer published on a plain reply that maps to `routed`: it goes to the requester's cluster
 * (through the gateway named by the hash, or the hub of a leaf node), never to local subscribers.
 */
export function routeRoutedReply(services: readonly unknown[], account: Account, routed: string, reply: string, hdr: Buffer | undefined, payload: Buffer, from?: unknown): void {
  for (const svc of services) if (isSender(svc)) svc.sendRoutedReply(account, routed, reply, hdr, payload, from);
}
