// Interest propagation over routes: every server tells its peers which subjects its own
// subscribers (clients, internal services, leaf nodes) want, per account, so a publisher's
// server knows where to send each message without flooding.
//
// Per account a count of local subscriptions by "subject" or "subject queue" (nats-server's
// `rm`): a plain subject is announced when its count goes 0 → 1 (RS+) and withdrawn at 1 → 0
// (RS-); a queue group is announced with its member count (the weight peers use when they
// pick a member) on every change. Subscriptions of routes themselves are never announced to
// routes: each server only speaks for its own subscribers.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import type { Cluster } from "./cluster.js";
import type { Route } from "./route.js";
import { LDS_PREFIX, type LeafConnection } from "./leafnode.js";
import type { LeafNodes } from "./leafnodes.js";
import { isOptimisticSubscription } from "./gateway.js";

/** Subjects a hub with gateways asks its leaf nodes for: routed replies (nats-server's `_GR_.>` and `$GR.*.>`). */
const GATEWAY_REPLY_INTEREST = ["_GR_.>", "$GR.*.>"];

/** One announced interest: subject, queue group and leaf origin cluster, with its count. */
interface Interest {
  subject: string;
  queue: string | undefined;
  origin: string | undefined;
  count: number;
}

export class RouteInterest {
  /** Account name → interest key → interest. */
  private readonly byAccount = new Map<string, Map<string, Interest>>();

  constructor(private readonly cluster: Cluster) {}

  /** Start tracking an account (every account, including those created later). */
  attach(account: Account): void {
    if (!this.byAccount.has(account.name)) this.byAccount.set(account.name, new Map());
    for (const sub of account.sublist.all()) this.onChange(account, sub, true);
    account.onInterestChange((sub, added) => this.onChange(account, sub, added));
  }

  /**
   * Whether a subscription speaks for this server (and so is announced to routes): its clients
   * and services, and leaf nodes it is the hub of (a hub's interest stays off our routes).
   */
  private static isLocal(sub: Subscription): boolean {
    if (sub.noRoutes === true) return false;
    const kind = sub.client.kind;
    return kind === "client" || kind === "internal" || (kind === "leaf" && !(sub.client as LeafConnection).isSpoke);
  }

  private onChange(account: Account, sub: Subscription, added: boolean): void {
    if (!RouteInterest.isLocal(sub)) return;
    let m = this.byAccount.get(account.name);
    if (m === undefined) {
      m = new Map();
      this.byAccount.set(account.name, m);
    }
    // A leaf node's subscription carries its cluster, so peers do not send its messages back there.
    const origin = sub.client.kind === "leaf" ? sub.origin : undefined;
    let key = sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
    if (origin !== undefined) key = `${key}\u0000${origin}`;
    let it = m.get(key);
    const delta = sub.weight ?? 1;
    if (added) {
      if (it === undefined) {
        it = { subject: sub.subject, queue: sub.queue, origin, count: 0 };
        m.set(key, it);
      }
      it.count += delta;
      if (it.queue === undefined && it.count !== delta) return; // already announced
    } else {
      if (it === undefined) return;
      it.count -= delta;
      if (it.count <= 0) m.delete(key);
      else if (it.queue === undefined) return; // still wanted
    }
    const weight = Math.max(0, it.count);
    for (const r of this.cluster.routesForAccount(account.name)) {
      if (r.canImport(it.subject)) r.sendInterest(account.name, it.subject, it.queue, weight, it.origin);
    }
  }

  /**
   * Everything this server wants, sent to a new route: the accounts of its pool slot (all of them
   * for a peer that does not pool), or the one account it is dedicated to.
   */
  sendAllTo(route: Route, poolIdx: number, accName: string): void {
    const lines: string[] = [];
    for (const [name, m] of this.byAccount) {
      if (accName !== "") {
        if (name !== accName) continue;
      } else if (!route.noPool && this.cluster.poolIndexOf(name) !== poolIdx) continue;
      const acc = route.accName !== "" ? "" : `${name} `;
      for (const it of m.values()) {
        if (!route.canImport(it.subject)) continue;
        let line = it.origin !== undefined && route.lnoc ? `LS+ ${it.origin} ${acc}${it.subject}` : `RS+ ${acc}${it.subject}`;
        if (it.queue !== undefined) line += ` ${it.queue} ${it.count}`;
        lines.push(line);
      }
    }
    if (lines.length === 0) return;
    route.queue(Buffer.from(lines.join("\r\n") + "\r\n"));
    route.debug("Sent local subscriptions to route");
  }

  /**
   * The peer's permissions changed: send what it may now take and did not get before. (Our own
   * import permissions decide what we ask for; the peer's export list only informs us.)
   */
  resendForPermissions(route: Route): void {
    this.sendAllTo(route, route.poolIdx, route.accName);
  }

  /** Number of distinct interests announced for an account (for monitoring). */
  count(account: string): number {
    return this.byAccount.get(account)?.size ?? 0;
  }
}

/**
 * Interest propagation to leaf nodes: per leaf connection a count of the interest announced to
 * it (nats-server's smap), by "subject" or "subject queue". A hub tells its leaf nodes about
 * every subscriber it knows (its clients, its cluster's, other leaf nodes'); a leaf tells its
 * hub only about its own clients (and the leaf nodes it is itself the hub of). Nothing goes
 * back to the cluster it came from, and an isolated leaf gets no other leaf's interest.
 */
export class LeafInterest {
  constructor(private readonly leafs: LeafNodes) {}

  attach(account: Account): void {
    account.onInterestChange((sub, added) => this.onChange(account, sub, added));
  }

  private static wanted(conn: LeafConnection, sub: Subscription): boolean {
    const dst = sub.client;
    if (dst === conn) return false;
    const kind = dst.kind;
    // A gateway's optimistic `>` stands for "everything, unless refused": not interest to pass on.
    if (kind === "gateway" && isOptimisticSubscription(sub)) return false;
    const lds = sub.subject.startsWith(LDS_PREFIX);
    if (kind === "leaf" && conn.isolated && !lds) return false;
    if (sub.origin !== undefined && sub.origin === conn.remoteCluster) return false;
    if (conn.isSpoke && !lds) {
      if (kind === "route" || kind === "gateway") return false;
      if (kind === "leaf" && (dst as LeafConnection).isSpoke) return false;
    }
    // Denied imports are not asked for (nor what the other side may not send us).
    if (conn.perms !== undefined && !lds && !conn.perms.canSubscribe(sub.subject, undefined)) return false;
    return true;
  }

  private onChange(account: Account, sub: Subscription, added: boolean): void {
    for (const conn of this.leafs.all) {
      if (conn.account !== account || !LeafInterest.wanted(conn, sub)) continue;
      if (added) conn.noteSubscription(sub.subject, false);
      const key = sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
      const n = conn.smap.get(key) ?? 0;
      const next = n + (added ? (sub.weight ?? 1) : -(sub.weight ?? 1));
      if (next > 0) conn.smap.set(key, next);
      else conn.smap.delete(key);
      // A queue group's weight changes go out every time; a subject only when it appears or goes.
      if (sub.queue !== undefined || (n <= 0 && next > 0) || (n > 0 && next <= 0)) conn.sendInterest(key, Math.max(0, next));
    }
  }

  /** A new leaf connection: everything it should know, and our loop detection subject. */
  sendAllTo(conn: LeafConnection): void {
    conn.smap.clear();
    for (const sub of conn.account.sublist.all()) {
      if (!LeafInterest.wanted(conn, sub)) continue;
      conn.noteSubscription(sub.subject, false);
      const key = sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
      conn.smap.set(key, (conn.smap.get(key) ?? 0) + (sub.weight ?? 1));
    }
    // Mapped subjects and imported services are served here whoever subscribes (nats-server's
    // leaf "ims"): the JetStream domain prefix `$JS.<domain>.API.>` among them.
    for (const subject of importedAndMapped(conn.account)) {
      if (conn.perms !== undefined && conn.isSpoke && !conn.perms.canSubscribe(subject, undefined)) continue;
      conn.smap.set(subject, (conn.smap.get(subject) ?? 0) + 1);
    }
    conn.smap.set(this.leafs.loopSubject(conn.account), 1);
    if (this.leafs.server.options.gateway !== undefined && this.leafs.server.options.gateway.name !== "") {
      // Answers to requests from other clusters come back on routed replies: the leaf sends them here.
      for (const k of GATEWAY_REPLY_INTEREST) conn.smap.set(k, (conn.smap.get(k) ?? 0) + 1);
    }
    const lines: string[] = [];
    for (const [key, n] of conn.smap) lines.push(key.includes(" ") ? `LS+ ${key} ${n}` : `LS+ ${key}`);
    conn.queue(Buffer.from(lines.join("\r\n") + "\r\n"));
  }
}

/** The sources of an account's subject mappings and the subjects of its service imports. */
function importedAndMapped(account: Account): string[] {
  const out: string[] = [];
  for (const si of account.serviceImports) out.push(si.from);
  for (const m of account.mappings?.entries ?? []) out.push(m.src);
  return out;
}
