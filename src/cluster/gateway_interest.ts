// What this cluster wants from other clusters, as gateways announce it (nats-server's `pasi`
// tally and recent-subscription list, server/gateway.go as facts).
//
// Per account, a count of the subscriptions of the whole cluster (local clients and services,
// routes, leaf nodes; never other gateways) by "subject" or "subject queue". The inbound
// gateway connections (those other clusters opened to us, on which they receive our interest)
// are told when a subject gets its first or loses its last subscription: always for queue
// groups, and for plain subjects according to each connection's mode for the account.
//
// Subscriptions made in the last two seconds are also kept per account: a request whose reply
// subject matches one of them crosses a gateway with a `_GR_.` reply, because the remote may
// not have received that interest yet (see gateway_reply.ts).
import type { Account } from "../server/account.js";
import { Sublist, type Subscription } from "../server/sublist.js";
import { ServiceImport } from "../server/imports.js";
import type { Gateways } from "./gateways.js";

/** How long a new subscription counts as recent (nats-server's defaultGatewayRecentSubExpiration). */
const RECENT_SUB_MS = 2000;

/** One announced interest: a subject, or a subject and queue group, with its subscription count. */
export interface Tally {
  readonly subject: string;
  readonly queue: string | undefined;
  count: number;
}

export class GatewayInterest {
  /** Account name → interest key → tally. */
  private readonly byAccount = new Map<string, Map<string, Tally>>();
  /** Account name → subscriptions made in the last two seconds. */
  private readonly recent = new Map<string, Sublist>();
  /** The same subscriptions in the order they expire. */
  private readonly expiring: Array<{ account: string; sub: Subscription; at: number }> = [];
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly detach: Array<() => void> = [];

  constructor(private readonly gateways: Gateways) {}

  /** Start counting an account's subscriptions (every account, including those created later). */
  attach(account: Account): void {
    if (this.byAccount.has(account.name)) return;
    this.byAccount.set(account.name, new Map());
    for (const sub of account.sublist.all()) this.onChange(account, sub, true);
    this.detach.push(account.onInterestChange((sub, added) => this.onChange(account, sub, added)));
  }

  /**
   * Whether a subscription is interest of this cluster: clients, internal services, routes and
   * leaf nodes; not other gateways' subscriptions, and not service imports (their exporter's own
   * interest is what crosses).
   */
  static counted(sub: Subscription): boolean {
    const kind = sub.client.kind;
    if (kind === "gateway") return false;
    return !(sub.client instanceof ServiceImport);
  }

  private onChange(account: Account, sub: Subscription, added: boolean): void {
    if (!GatewayInterest.counted(sub)) return;
    const name = account.name;
    let m = this.byAccount.get(name);
    if (m === undefined) {
      m = new Map();
      this.byAccount.set(name, m);
    }
    const key = sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
    let t = m.get(key);
    let first = false;
    let last = false;
    if (added) {
      if (t === undefined) {
        t = { subject: sub.subject, queue: sub.queue, count: 0 };
        m.set(key, t);
        first = true;
      }
      t.count++;
      this.addRecent(name, sub);
    } else {
      if (t === undefined) return;
      t.count--;
      if (t.count <= 0) {
        m.delete(key);
        last = true;
      }
      this.recent.get(name)?.remove(sub);
    }
    if (first || last) this.gateways.interestChanged(name, t, first);
  }

  /** The tallies of an account ("" plain subjects or queue groups). */
  *entries(account: string, queues: boolean): Iterable<Tally> {
    const m = this.byAccount.get(account);
    if (m === undefined) return;
    for (const t of m.values()) if ((t.queue !== undefined) === queues) yield t;
  }

  accounts(): Iterable<string> {
    return this.byAccount.keys();
  }

  /** Whether the cluster has any interest in the account. */
  hasInterest(account: string): boolean {
    return (this.byAccount.get(account)?.size ?? 0) > 0;
  }

  // ---- recent subscriptions ----

  private addRecent(account: string, sub: Subscription): void {
    let sl = this.recent.get(account);
    if (sl === undefined) {
      sl = new Sublist(false);
      this.recent.set(account, sl);
    }
    sl.insert(sub);
    this.expiring.push({ account, sub, at: Date.now() + RECENT_SUB_MS });
    if (this.expiryTimer === undefined) this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    const head = this.expiring[0];
    if (head === undefined) {
      this.expiryTimer = undefined;
      return;
    }
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(1, head.at - Date.now()));
    this.expiryTimer.unref();
  }

  private expire(): void {
    const now = Date.now();
    let n = 0;
    while (n < this.expiring.length && this.expiring[n].at <= now) {
      const e = this.expiring[n++];
      const sl = this.recent.get(e.account);
      if (sl !== undefined) {
        sl.remove(e.sub);
        if (sl.count === 0) this.recent.delete(e.account);
      }
    }
    this.expiring.splice(0, n);
    this.scheduleExpiry();
  }

  /** A reply subject that a subscription of the last two seconds listens on (nats-server's shouldMapReplyForGatewaySend). */
  isRecentReply(account: string, reply: string): boolean {
    const sl = this.recent.get(account);
    return sl !== undefined && sl.hasInterest(reply);
  }

  stop(): void {
    for (const d of this.detach) d();
    this.detach.length = 0;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiring.length = 0;
    this.recent.clear();
  }
}
