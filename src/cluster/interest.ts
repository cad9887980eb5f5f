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

  /** Whether a subscription speaks for this server (and so is announced to routes). */
  private static isLocal(sub: Subscription): boolean {
    const kind = sub.client.kind;
    return kind === "client" || kind === "internal" || kind === "leaf";
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
