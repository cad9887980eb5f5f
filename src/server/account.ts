// An account is an isolated subject space: its own sublist, clients and counters.
// Every connection and every internal service (JetStream, system events) lives in one.
// Message routing happens here, so imports/exports can later hook in at one place.
import { Sublist, type Deliverer, type RemoteDeliverer, type Subscription, type SublistResult } from "./sublist.js";
import type { Client } from "./client.js";
import type { Log } from "./log.js";
import { buildHeaders } from "../protocol/headers.js";

/** Handler of an internal subscription. `payload`/`hdr` may alias a read buffer: copy to keep. */
export type InternalHandler = (
  subject: string,
  reply: string,
  hdr: Buffer | undefined,
  payload: Buffer,
  origin: Client | undefined,
) => void;

let internalCid = 0;

/** A delivery target inside the server process (JetStream, system services). */
export class InternalClient implements Deliverer {
  readonly kind = "internal" as const;
  readonly cid = --internalCid;
  /** Set while a message from a client is being routed, so handlers know who sent it. */
  static currentOrigin: Client | undefined;
  constructor(
    readonly name: string,
    private readonly handler: InternalHandler,
    private readonly log: Log | undefined,
  ) {}
  deliver(_sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    try {
      this.handler(subject, reply, hdr, payload, InternalClient.currentOrigin);
    } catch (err) {
      // A failing service handler must not cost the publishing client its connection.
      this.log?.error(`Internal subscription ${this.name} on ${subject}: ${(err as Error).stack ?? String(err)}`);
    }
  }
}

export class Account {
  readonly sublist: Sublist;
  readonly clients = new Set<Client>();
  inMsgs = 0;
  inBytes = 0;
  outMsgs = 0;
  outBytes = 0;
  /** Clients of this account disconnected as slow consumers (accstatz, STATSZ). */
  slowConsumers = 0;
  /** Per-account JetStream state, attached by the JetStream layer when enabled. */
  jetstream: unknown;
  /** Subscription change listeners (interest tracking for JetStream push consumers, events). */
  private readonly interestListeners = new Set<(sub: Subscription, added: boolean) => void>();
  readonly created = new Date();
  /** Where internal handler failures are reported; set by the server. */
  log: Log | undefined;

  constructor(
    readonly name: string,
    useCache = true,
  ) {
    this.sublist = new Sublist(useCache);
  }

  get isSystem(): boolean {
    return this.name === "$SYS";
  }

  addSubscription(sub: Subscription): void {
    this.sublist.insert(sub);
    for (const l of this.interestListeners) l(sub, true);
  }

  removeSubscription(sub: Subscription): void {
    if (this.sublist.remove(sub)) {
      for (const l of this.interestListeners) l(sub, false);
    }
  }

  onInterestChange(listener: (sub: Subscription, added: boolean) => void): () => void {
    this.interestListeners.add(listener);
    return () => this.interestListeners.delete(listener);
  }

  /** Subscribe an in-process handler. */
  subscribeInternal(subject: string, handler: InternalHandler, queue?: string, name = "internal"): Subscription {
    const client = new InternalClient(name, handler, this.log);
    const sub: Subscription = { subject, queue, sid: String(-client.cid), client, max: 0, delivered: 0, closed: false };
    this.addSubscription(sub);
    return sub;
  }

  unsubscribeInternal(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    this.removeSubscription(sub);
  }

  /** Publish from inside the server. Returns the number of deliveries. */
  publish(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): number {
    return this.route(subject, reply, hdr, payload, undefined);
  }

  /**
   * Deliver to every plain subscription that matches, and to one member of each
   * matching queue group. Echo is suppressed for senders that asked for it.
   */
  route(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sender: Client | undefined): number {
    return this.routeTo(this.sublist.match(subject), subject, reply, hdr, payload, sender);
  }

  /**
   * `route` with the match already done (the client keeps its last match while the sublist is
   * unchanged). Subscriptions of other servers' connections (routes, leaf nodes) get the message
   * once per connection, with the queue groups whose member was picked there. A message that came
   * from another server (`from`) follows that connection's forwarding rules, and `queues` (the
   * groups the sender picked this server for) limits queue delivery to local members of those.
   */
  routeTo(
    result: SublistResult,
    subject: string,
    reply: string,
    hdr: Buffer | undefined,
    payload: Buffer,
    sender: Client | undefined,
    from?: RemoteDeliverer,
    queues?: readonly string[],
  ): number {
    this.inMsgs++;
    this.inBytes += payload.length + (hdr?.length ?? 0);
    const psubs = result.psubs;
    const qsubs = result.qsubs;
    if (psubs.length === 0 && qsubs.length === 0) return 0;
    const noEcho = sender !== undefined && !sender.opts.echo;
    const prevOrigin = InternalClient.currentOrigin;
    InternalClient.currentOrigin = sender;
    let count = 0;
    let remote: RemoteTargets | undefined;
    try {
      for (let i = 0; i < psubs.length; i++) {
        const sub = psubs[i];
        const dst = sub.client;
        if (dst.kind === "client" || dst.kind === "internal") {
          if (noEcho && dst === sender) continue;
          if (this.deliverTo(sub, subject, reply, hdr, payload, sender)) count++;
        } else if (!sub.closed && (from === undefined || from.mayForwardTo(dst as RemoteDeliverer, subject))) {
          (remote ??= RemoteTargets.acquire()).add(dst as RemoteDeliverer, undefined);
        }
      }
      // A message from a route carries the queue groups it is for; without any, none.
      const fromRoute = from !== undefined && from.kind === "route";
      if (qsubs.length > 0 && !(fromRoute && (queues === undefined || queues.length === 0))) {
        for (let g = 0; g < qsubs.length; g++) {
          const group = qsubs[g];
          if (queues !== undefined && !queues.includes(group[0].queue as string)) continue;
          const n = group.length;
          // Start at a random member and take the first that can receive. Members on other
          // servers fill as many slots as they have members there; a leaf node's member is kept
          // as the fallback when no member in this cluster can take the message.
          const start = n === 1 ? 0 : Math.floor(Math.random() * n);
          let fallback: Subscription | undefined;
          let done = false;
          for (let k = 0; k < n; k++) {
            const sub = group[(start + k) % n];
            const dst = sub.client;
            if (dst.kind === "client" || dst.kind === "internal") {
              if (noEcho && dst === sender) continue;
              if (this.deliverTo(sub, subject, reply, hdr, payload, sender)) {
                count++;
                done = true;
                break;
              }
              continue;
            }
            if (sub.closed || (from !== undefined && !from.mayForwardTo(dst as RemoteDeliverer, subject))) continue;
            if (dst.kind === "leaf" || fromRoute) {
              // From a route, only this server's own members take the message (the sender chose
              // this server for them); a leaf member is the way out when there is none.
              if (dst.kind === "leaf") fallback ??= sub;
              continue;
            }
            (remote ??= RemoteTargets.acquire()).add(dst as RemoteDeliverer, sub.queue);
            done = true;
            break;
          }
          if (!done && fallback !== undefined) {
            (remote ??= RemoteTargets.acquire()).add(fallback.client as RemoteDeliverer, fallback.queue);
          }
        }
      }
      if (remote !== undefined) count += remote.send(this, subject, reply, hdr, payload);
    } finally {
      if (remote !== undefined) RemoteTargets.release(remote);
      InternalClient.currentOrigin = prevOrigin;
    }
    return count;
  }

  private deliverTo(
    sub: Subscription,
    subject: string,
    reply: string,
    hdr: Buffer | undefined,
    payload: Buffer,
    sender: Client | undefined,
  ): boolean {
    if (sub.closed) return false;
    const n = ++sub.delivered;
    if (sub.max > 0 && n > sub.max) return false;
    sub.client.deliver(sub, subject, reply, hdr, payload);
    if (sender !== undefined && sub.client.kind === "client" && (sub.client as Client).behind) {
      (sub.client as Client).stallPublisherIfBehind(sender);
    }
    if (sub.max > 0 && n >= sub.max) {
      if (sub.client.kind === "client") (sub.client as Client).removeSub(sub);
      else this.unsubscribeInternal(sub);
    }
    return true;
  }

  /** The 503 status a requester gets when nothing is subscribed to the request subject. */
  sendNoResponders(requester: Client, subject: string, reply: string): void {
    const r = this.sublist.match(reply);
    const hdr = buildHeaders([["Nats-Subject", subject]], "503");
    const empty = Buffer.alloc(0);
    for (const sub of r.psubs) {
      if (sub.client === requester) this.deliverTo(sub, reply, "", hdr, empty, undefined);
    }
    for (const group of r.qsubs) {
      const sub = group.find((s) => s.client === requester);
      if (sub !== undefined) this.deliverTo(sub, reply, "", hdr, empty, undefined);
    }
  }
}

/**
 * The connections to other servers one message goes out on, each once, with the queue groups
 * picked on its side. Instances are reused; deliveries can nest (an internal handler publishing
 * while a message is routed), hence a small stack of them.
 */
class RemoteTargets {
  private static readonly free: RemoteTargets[] = [];
  private readonly conns: RemoteDeliverer[] = [];
  /** Queue groups per connection; each array is reused across messages. */
  private readonly queues: string[][] = [];
  private n = 0;

  static acquire(): RemoteTargets {
    return RemoteTargets.free.pop() ?? new RemoteTargets();
  }

  static release(t: RemoteTargets): void {
    for (let i = 0; i < t.n; i++) t.queues[i].length = 0;
    t.conns.length = 0;
    t.n = 0;
    RemoteTargets.free.push(t);
  }

  add(conn: RemoteDeliverer, queue: string | undefined): void {
    let i = 0;
    while (i < this.n && this.conns[i] !== conn) i++;
    if (i === this.n) {
      this.conns[i] = conn;
      if (this.queues.length === i) this.queues.push([]);
      this.n++;
    }
    if (queue !== undefined) this.queues[i].push(queue);
  }

  /** Send to every connection; returns how many connections got the message. */
  send(account: Account, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): number {
    const size = payload.length + (hdr?.length ?? 0);
    for (let i = 0; i < this.n; i++) {
      this.conns[i].sendRouted(account.name, subject, reply, hdr, payload, this.queues[i]);
      account.outMsgs++;
      account.outBytes += size;
    }
    return this.n;
  }
}
