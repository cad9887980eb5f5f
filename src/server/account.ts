// An account is an isolated subject space: its own sublist, clients and counters.
// Every connection and every internal service (JetStream, system events) lives in one.
// Message routing happens here, and so does what crosses account boundaries: exports and
// imports (imports.ts, exports.ts), subject mappings (mappings.ts) and per-account limits.
//
// An account without imports, exports or mappings pays nothing for them on the routing path:
// a subscription is shadowed into exporters only when the account has stream imports, a
// publish is mapped only when it has mappings, and service imports are plain internal
// subscriptions that the normal match finds.
import { Sublist, type Deliverer, type RemoteDeliverer, type Subscription, type SublistResult } from "./sublist.js";
import type { Stallable } from "./outbound.js";
import type { Client, ReplyWriter } from "./client.js";
import type { Log } from "./log.js";
import { buildHeaders } from "../protocol/headers.js";
import { isValidSubject, subjectIsSubsetOf, subjectsCollide } from "../protocol/subject.js";
import {
  AccountError,
  ServiceExport,
  StreamExport,
  ExportAuth,
  type ActivationCheck,
  type ExportAuthOptions,
  type ServiceExportOptions,
} from "./exports.js";
import {
  newShadow,
  ResponseTable,
  ServiceImport,
  StreamImport,
  untokenizeWildcards,
  type ImportRouting,
  type ServiceImportOptions,
  type ShadowSubscription,
  type StreamImportOptions,
} from "./imports.js";
import { MappingTable, newSubjectMapping } from "./mappings.js";
import { TraceError, activeTrace, setActiveTrace } from "./msg_trace.js";
import { isGatewayRoutedSubject, plainOfRouted, routeRoutedReply, routedReplyFor, trackGatewayReply, type GatewayReplyHolder } from "../cluster/gateway_reply.js";
import type { AccountJetStreamLimits, MappingDestination } from "../config/options.js";
import type { AccountJwtState } from "../auth/account_jwt.js";
import { DOUBLE_ZERO } from "./double_zero.js";

/** Handler of an internal subscription. `payload`/`hdr` may alias a read buffer: copy to keep. */
/** An in-process subscriber; returning false declines the message (it counts as not delivered). */
export type InternalHandler = (
  subject: string,
  reply: string,
  hdr: Buffer | undefined,
  payload: Buffer,
  origin: Client | undefined,
) => void | boolean;

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
  deliver(_sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void | boolean {
    try {
      // A declined message is not delivered: a requester with no other responder gets 503.
      if (this.handler(subject, reply, hdr, payload, InternalClient.currentOrigin) === false) return false;
    } catch (err) {
      // A failing service handler must not cost the publishing client its connection.
      this.log?.error(`Internal subscription ${this.name} on ${subject}: ${(err as Error).stack ?? String(err)}`);
    }
  }
}

/** Per-account limits (-1 = unlimited). nats-server applies the lower of these and the server's to each client. */
export interface AccountLimits {
  maxConnections: number;
  maxSubscriptions: number;
  maxPayload: number;
  maxLeafNodes: number;
}

export function unlimitedAccountLimits(): AccountLimits {
  return { maxConnections: -1, maxSubscriptions: -1, maxPayload: -1, maxLeafNodes: -1 };
}

export interface StreamImportRequest extends StreamImportOptions {
  /** Activation check for exports that require a token (operator mode). */
  activation?: ActivationCheck;
}

export interface ServiceImportRequest extends ServiceImportOptions {
  activation?: ActivationCheck;
  /** Server-made imports (system account services) skip the export authorization. */
  internal?: boolean;
}

/**
 * Routing of a message that crossed an import: shadow subscriptions must not send it on
 * to yet another account. Counts nested routings (an import can lead to another).
 */
let importedRouting = 0;
/**
 * While JetStream routes a delivery by its deliver subject (or pull request inbox) but shows
 * the stream message's own subject, this is the routing subject; import machinery needs it
 * to find its mapping, and shadow subscriptions leave the shown subject alone.
 */
let deliveryTarget: string | undefined;
/**
 * The route, leaf node or gateway whose message is being routed (undefined for local
 * publishers): held back when a receiver is behind, as a publishing client is.
 */
let remoteProducer: Stallable | undefined;

/**
 * The gateway-routed reply (`_GR_.<cluster>.<server>.<reply>`) of the message being routed:
 * routes and gateways carry it as is, local receivers see the plain reply and remember the
 * routed one for their answer (cluster/gateway_reply.ts).
 */
let gatewayReply: { routed: string; plain: string } | undefined;

/**
 * The reply of a JetStream delivery sent to another server: the ack reply and, after an `@`, the
 * message's own subject (the message itself travels by its deliver subject). Only JetStream
 * ack replies carry it, as in nats-server.
 */
export function encodeDeliveredReply(reply: string, subject: string): string {
  if (!reply.startsWith("$JS.ACK.") || deliveredReplyAt(reply) >= 0) return reply;
  return `${reply}@${subject}`;
}

/** Where the `@` of an encoded delivery reply is (after the 8 dots of the ack tokens), or -1. */
export function deliveredReplyAt(reply: string): number {
  if (reply.charCodeAt(0) !== 36 /* $ */ || !reply.startsWith("$JS.ACK.")) return -1;
  let dots = 0;
  for (let i = 0; i < reply.length; i++) {
    const c = reply.charCodeAt(i);
    if (c === 46) dots++;
    else if (c === 64 && dots >= 8) return i < reply.length - 1 ? i : -1;
  }
  return -1;
}

/**
 * A JetStream delivery's reply from another server, split into the ack reply and the message's
 * subject; a gateway-routed prefix stays on the ack reply. Undefined for any other reply.
 */
export function splitDeliveredReply(reply: string): { reply: string; subject: string } | undefined {
  const c = reply.charCodeAt(0);
  if (c === 36 /* $ */) {
    const at = deliveredReplyAt(reply);
    return at < 0 ? undefined : { reply: reply.slice(0, at), subject: reply.slice(at + 1) };
  }
  if (c !== 95 /* _ */ || !isGatewayRoutedSubject(reply)) return undefined;
  const plain = plainOfRouted(reply);
  const at = deliveredReplyAt(plain);
  if (at < 0) return undefined;
  return { reply: reply.slice(0, reply.length - plain.length + at), subject: plain.slice(at + 1) };
}

/** The subject a message is routed by (differs from the shown one during a JetStream delivery). */
export function routingSubjectOf(shown: string): string {
  return deliveryTarget ?? shown;
}

export class Account implements ImportRouting, GatewayReplyHolder {
  readonly sublist: Sublist;
  /** Answers of this account's internal handlers to requests from other clusters (gateway_reply.ts). */
  gwReplies: GatewayReplyHolder["gwReplies"];
  /** The server's services (set by the server): where answers on routed replies go out. */
  services: readonly unknown[] = [];
  readonly clients = new Set<Client>();
  /**
   * Messages received into this account from its connections, as nats-server counts them: what
   * clients publish and what routes, gateways and leaf nodes bring (those also by kind), counted
   * once as they come in; internal publishes (API answers, advisories, deliveries of streams)
   * are not received from anyone.
   */
  inMsgs = DOUBLE_ZERO;
  inBytes = DOUBLE_ZERO;
  inRouteMsgs = DOUBLE_ZERO;
  inRouteBytes = DOUBLE_ZERO;
  inGatewayMsgs = DOUBLE_ZERO;
  inGatewayBytes = DOUBLE_ZERO;
  inLeafMsgs = DOUBLE_ZERO;
  inLeafBytes = DOUBLE_ZERO;
  /** Messages this account's subscribers were sent, those to routes, gateways and leaf nodes also by kind. */
  outMsgs = DOUBLE_ZERO;
  outBytes = DOUBLE_ZERO;
  outRouteMsgs = DOUBLE_ZERO;
  outRouteBytes = DOUBLE_ZERO;
  outGatewayMsgs = DOUBLE_ZERO;
  outGatewayBytes = DOUBLE_ZERO;
  outLeafMsgs = DOUBLE_ZERO;
  outLeafBytes = DOUBLE_ZERO;
  /** A message received from another server: counted in the total and by kind. */
  countReceivedRemote(kind: "route" | "leaf" | "gateway", size: number): void {
    this.inMsgs++;
    this.inBytes += size;
    if (kind === "route") {
      this.inRouteMsgs++;
      this.inRouteBytes += size;
    } else if (kind === "gateway") {
      this.inGatewayMsgs++;
      this.inGatewayBytes += size;
    } else {
      this.inLeafMsgs++;
      this.inLeafBytes += size;
    }
  }

  /** A message sent across to another server: counted in the total and by kind. */
  countSentRemote(kind: "route" | "leaf" | "gateway", size: number): void {
    this.outMsgs++;
    this.outBytes += size;
    if (kind === "route") {
      this.outRouteMsgs++;
      this.outRouteBytes += size;
    } else if (kind === "gateway") {
      this.outGatewayMsgs++;
      this.outGatewayBytes += size;
    } else {
      this.outLeafMsgs++;
      this.outLeafBytes += size;
    }
  }

  /** Clients of this account disconnected as slow consumers (accstatz, STATSZ). */
  slowConsumers = 0;
  /** Per-account JetStream state, attached by the JetStream layer when enabled. */
  jetstream: unknown;
  /** Subscription change listeners (interest tracking for JetStream push consumers, events). */
  private readonly interestListeners = new Set<(sub: Subscription, added: boolean) => void>();
  created = new Date();
  /** Where internal handler failures are reported; set by the server. */
  log: Log | undefined;
  /** The account's public nkey (config `nkey`, or its identity in operator mode). */
  nkey: string | undefined;
  limits: AccountLimits = unlimitedAccountLimits();
  /**
   * JetStream limits by tier: "" when untiered (config mode), "R1", "R3"... (operator mode);
   * undefined when JetStream is not enabled for the account.
   */
  jetStreamLimits: Map<string, AccountJetStreamLimits> | undefined;

  /** What other accounts may take from this one, by subject. */
  readonly streamExports = new Map<string, StreamExport>();
  readonly serviceExports = new Map<string, ServiceExport>();
  /** What this account takes from others. */
  readonly streamImports: StreamImport[] = [];
  readonly serviceImports: ServiceImport[] = [];
  /** Subject mappings; undefined while there are none (the publish path tests only that). */
  mappings: MappingTable | undefined;
  /** Reply subjects (`_R_.`) of requests that came in through service imports. */
  readonly responses: ResponseTable;
  /** Operator mode: what the account's JWT says (signing keys, revocations, expiry...). */
  claims: AccountJwtState | undefined;

  /** The name monitoring shows as `name_tag`: the account JWT's name, else the account's own. */
  get nameTag(): string {
    return this.claims?.nameTag || this.name;
  }

  /** The server's system account (set by the server). */
  isSystem = false;
  /**
   * `msg_trace { dest, sampling }` (config, or the account JWT's `trace`): where messages with
   * a sampled `traceparent` header are traced (ADR-41), and the percentage sampled (1-100).
   */
  traceDest: string | undefined;
  traceSampling = 0;

  constructor(
    readonly name: string,
    useCache = true,
  ) {
    this.sublist = new Sublist(useCache);
    this.responses = new ResponseTable(
      this,
      (subject, d) => this.subscribeDeliverer(subject, d),
      (sub) => this.unsubscribeInternal(sub),
    );
  }

  // ---- subscriptions ----

  addSubscription(sub: Subscription): void {
    this.sublist.insert(sub);
    if (this.streamImports.length > 0 && sub.noImports !== true) this.addShadows(sub);
    for (const l of this.interestListeners) l(sub, true);
  }

  removeSubscription(sub: Subscription): void {
    if (this.sublist.remove(sub)) {
      if (sub.shadows !== undefined) this.removeShadows(sub);
      for (const l of this.interestListeners) l(sub, false);
    }
  }

  onInterestChange(listener: (sub: Subscription, added: boolean) => void): () => void {
    this.interestListeners.add(listener);
    return () => this.interestListeners.delete(listener);
  }

  /** Subscribe an in-process handler; `localOnly`: not announced to routes (every server has its own). */
  subscribeInternal(subject: string, handler: InternalHandler, queue?: string, name = "internal", localOnly = false): Subscription {
    const client = new InternalClient(name, handler, this.log);
    const sub: Subscription = { subject, queue, sid: String(-client.cid), client, max: 0, delivered: 0, closed: false };
    if (localOnly) sub.noRoutes = true;
    this.addSubscription(sub);
    return sub;
  }

  /** Subscribe import machinery (never shadowed into exporters). */
  private subscribeDeliverer(subject: string, client: Deliverer, noRoutes = false): Subscription {
    const sub: Subscription = { subject, queue: undefined, sid: String(-client.cid), client, max: 0, delivered: 0, closed: false, noImports: true };
    if (noRoutes) sub.noRoutes = true;
    this.addSubscription(sub);
    return sub;
  }

  unsubscribeInternal(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    this.removeSubscription(sub);
  }

  // ---- routing ----

  /** Publish from inside the server. Returns the number of deliveries. */
  publish(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): number {
    if (this.gwReplies !== undefined && this.answeredAcrossGateway(subject, reply, hdr, payload)) return 1;
    return this.route(subject, reply, hdr, payload, undefined);
  }

  /** An internal handler answering a request from another cluster: sent back the way it came. */
  private answeredAcrossGateway(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): boolean {
    const routed = routedReplyFor(this, subject);
    if (routed === undefined) return false;
    routeRoutedReply(this.services, this, routed, reply, hdr, payload);
    return true;
  }

  /**
   * Deliver to every plain subscription that matches, and to one member of each
   * matching queue group. Echo is suppressed for senders that asked for it.
   */
  route(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sender: Client | undefined): number {
    return this.routeFresh(this.sublist.match(subject), subject, reply, hdr, payload, sender);
  }

  /**
   * publish() to a subject used once, such as the reply inbox of a JetStream publish (its
   * PubAck): matched without filling the sublist's cache with it.
   */
  publishOnce(subject: string, hdr: Buffer | undefined, payload: Buffer): number {
    if (this.gwReplies !== undefined && this.answeredAcrossGateway(subject, "", hdr, payload)) return 1;
    return this.routeFresh(this.sublist.matchOnce(subject), subject, "", hdr, payload, undefined);
  }

  private routeFresh(result: SublistResult, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sender: Client | undefined): number {
    if (deliveryTarget === undefined && importedRouting === 0 && activeTrace === undefined) {
      return this.routeTo(result, subject, reply, hdr, payload, sender);
    }
    // A fresh message published while another is being delivered: none of that one's routing state applies.
    const prevTarget = deliveryTarget;
    const prevImported = importedRouting;
    const prevTrace = setActiveTrace(undefined);
    deliveryTarget = undefined;
    importedRouting = 0;
    try {
      return this.routeTo(result, subject, reply, hdr, payload, sender);
    } finally {
      deliveryTarget = prevTarget;
      importedRouting = prevImported;
      setActiveTrace(prevTrace);
    }
  }

  /**
   * JetStream delivery: routed by `target` (deliver subject or pull request inbox), shown
   * to the receiver with the stream message's own `subject`.
   */
  private lastDeliveryTarget = "";
  private lastDeliveryGeneration = -1;
  private lastDeliveryResult: SublistResult | undefined;

  /**
   * The subscriptions matching a delivery target, kept for the next call while the target and
   * the sublist are the same: a consumer delivers runs of messages to one target, and checks
   * before each that someone still listens there. A pull request's inbox
   * (`_INBOX.<id>.<serial>`) is a reply subject the sublist does not cache, so without this a
   * fetch of 500 walked the trie twice per message (interest, then routing), three times when
   * the requester is on another server (perf of bench/js_r3_pair consume: ~13% of the consumer
   * leader's main thread).
   */
  matchDeliveryTarget(target: string): SublistResult {
    const sublist = this.sublist;
    let result = this.lastDeliveryResult;
    if (target !== this.lastDeliveryTarget || sublist.generation !== this.lastDeliveryGeneration || result === undefined) {
      result = sublist.match(target);
      this.lastDeliveryTarget = target;
      this.lastDeliveryGeneration = sublist.generation;
      this.lastDeliveryResult = result;
    }
    return result;
  }

  /** Does anyone listen on a delivery target (a pull request's inbox)? matchDeliveryTarget's kept match. */
  hasDeliveryInterest(target: string): boolean {
    const r = this.matchDeliveryTarget(target);
    return r.psubs.length > 0 || r.qsubs.length > 0;
  }

  /**
   * routeDelivery() with an ack reply that writes its own bytes. The common case, one client
   * subscribed to the target, gets the reply encoded straight into its buffer; anything else
   * (several receivers, other servers, imports, permissions, traces) takes routeDelivery()
   * with the reply as text.
   */
  routeDeliveryWithReply(target: string, subject: string, reply: ReplyWriter, hdr: Buffer | undefined, payload: Buffer): number {
    if (this.gwReplies === undefined && activeTrace === undefined && importedRouting === 0) {
      // A consumer delivers runs of messages to one target: its match is kept for the next one.
      const result = this.matchDeliveryTarget(target);
      if (result.qsubs.length === 0 && result.psubs.length === 1) {
        const sub = result.psubs[0];
        const dst = sub.client;
        if (dst.kind === "client" && (sub as ShadowSubscription).streamImport === undefined && (dst as Client).perms === undefined) {
          // What routeTo → deliverTo → deliverOwned do for this one receiver.
          if (sub.closed) return 0;
          const n = ++sub.delivered;
          if (sub.max > 0 && n > sub.max) return 0;
          const client = dst as Client;
          client.deliverWithReply(sub, subject, reply, hdr, payload);
          if (client.behind && remoteProducer !== undefined) client.stallPublisherIfBehind(remoteProducer);
          if (sub.max > 0 && n >= sub.max) client.removeSub(sub);
          return 1;
        }
      }
    }
    return this.routeDelivery(target, subject, reply.toString(), hdr, payload);
  }

  /**
   * routeTo() for a client's message without headers that matched one subscription and nothing
   * else (a request, and its reply, usually): when that is a plain client subscription, the
   * payload is encoded into the receiver's buffer straight from the publisher's read
   * (`buf[start, end)`), without a Buffer view of it per message. Returns -1, having done
   * nothing, when the message needs routeTo() (a trace, imports, a gateway reply, a stream
   * import's shadow, echo suppression).
   */
  routeToSoleClient(sub: Subscription, subject: string, reply: string, buf: Buffer, start: number, end: number, sender: Client): number {
    const dst = sub.client;
    if (dst.kind !== "client" || activeTrace !== undefined || importedRouting !== 0 || deliveryTarget !== undefined || gatewayReply !== undefined) return -1;
    if ((sub as ShadowSubscription).streamImport !== undefined || (dst === sender && !sender.opts.echo)) return -1;
    // Length first: charCodeAt(0) of an empty reply reads out of bounds, which throws away this
    // function's optimized code the first time (every reply message has an empty reply).
    const r0 = reply.length > 0 ? reply.charCodeAt(0) : 0;
    if ((r0 === 95 /* _ */ || r0 === 36) /* $ */ && isGatewayRoutedSubject(reply)) return -1;
    // What routeTo → deliverTo → deliverOwned do for this one receiver.
    if (sub.closed) return 0;
    const client = dst as Client;
    if (client.perms !== undefined && client.perms.deniesDelivery(sub.subject, subject, sub.queue)) return 0;
    const n = ++sub.delivered;
    if (sub.max > 0 && n > sub.max) return 0;
    client.deliverRange(sub, subject, reply, undefined, buf, start, end);
    if (client.behind) client.stallPublisherIfBehind(sender);
    if (sub.max > 0 && n >= sub.max) client.removeSub(sub);
    return 1;
  }

  routeDelivery(target: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): number {
    if (this.gwReplies !== undefined) {
      // The pull request came from another cluster moments ago: deliver back the way it came.
      const routed = routedReplyFor(this, target);
      if (routed !== undefined) {
        routeRoutedReply(this.services, this, routed, encodeDeliveredReply(reply, subject), hdr, payload);
        return 1;
      }
    }
    const prev = deliveryTarget;
    deliveryTarget = target;
    try {
      return this.routeTo(this.matchDeliveryTarget(target), subject, reply, hdr, payload, undefined);
    } finally {
      deliveryTarget = prev;
    }
  }

  /**
   * A JetStream delivery from another server (its ack reply carried the message's subject):
   * routed by the deliver subject `target`, shown with `subject`, with that connection's
   * forwarding rules.
   */
  routeRemoteDelivery(result: SublistResult, target: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, from: RemoteDeliverer, queues: readonly string[] | undefined): number {
    const prev = deliveryTarget;
    deliveryTarget = target;
    try {
      return this.routeTo(result, subject, reply, hdr, payload, undefined, from, queues);
    } finally {
      deliveryTarget = prev;
    }
  }

  /** Route a message that came through an import (a request, or a response going back). */
  routeImported(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, origin: Client | undefined, shown?: string): number {
    importedRouting++;
    // What this account delivers of it is counted as sent by this account (below, per delivery).
    try {
      if (shown !== undefined) {
        const prev = deliveryTarget;
        deliveryTarget = subject;
        try {
          return this.routeTo(this.sublist.match(subject), shown, reply, hdr, payload, origin);
        } finally {
          deliveryTarget = prev;
        }
      }
      return this.routeTo(this.sublist.match(subject), subject, reply, hdr, payload, origin);
    } finally {
      importedRouting--;
    }
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
    return this.routeRange(result, subject, reply, hdr, payload, 0, payload.length, sender, from, queues);
  }

  /**
   * routeTo() of the payload `src[start, end)`, a range of the sender's read. Client receivers
   * encode it from there; a Buffer view of it is made only for an internal handler or another
   * server. A view per message cost a queue group or fan-out of small messages about a tenth of
   * the server's CPU (Node's subarray asks V8's runtime for the read's ArrayBuffer every time).
   */
  routeRange(
    result: SublistResult,
    subject: string,
    reply: string,
    hdr: Buffer | undefined,
    src: Buffer,
    start: number,
    end: number,
    sender: Client | undefined,
    from?: RemoteDeliverer,
    queues?: readonly string[],
  ): number {
    const r0 = reply.length > 0 ? reply.charCodeAt(0) : 0; // length first, as in routeToSoleClient
    if ((r0 === 95 /* _ */ || r0 === 36) /* $ */ && gatewayReply?.routed !== reply && isGatewayRoutedSubject(reply)) {
      const prev = gatewayReply;
      gatewayReply = { routed: reply, plain: plainOfRouted(reply) };
      try {
        return this.routeRange(result, subject, reply, hdr, src, start, end, sender, from, queues);
      } finally {
        gatewayReply = prev;
      }
    }
    const psubs = result.psubs;
    const qsubs = result.qsubs;
    if (psubs.length === 0 && qsubs.length === 0) return 0;
    const noEcho = sender !== undefined && !sender.opts.echo;
    const prevOrigin = InternalClient.currentOrigin;
    InternalClient.currentOrigin = sender;
    // What another server sent (and whatever it leads to) holds that connection back when a receiver is behind.
    const prevRemote = remoteProducer;
    if (from !== undefined) remoteProducer = from;
    let count = 0;
    let remote: RemoteTargets | undefined;
    try {
      for (let i = 0; i < psubs.length; i++) {
        const sub = psubs[i];
        const dst = sub.client;
        if (dst.kind === "client" || dst.kind === "internal") {
          if (noEcho && dst === sender) {
            activeTrace?.egress(dst as Client, sub, TraceError.noEcho);
            continue;
          }
          if (this.deliverTo(sub, subject, reply, hdr, src, start, end, sender)) count++;
        } else if (!sub.closed && (from === undefined || from.mayForwardTo(dst as RemoteDeliverer, subject))) {
          (remote ??= RemoteTargets.acquire()).add(dst as RemoteDeliverer, undefined);
        }
      }
      // A message from another server carries the queue groups it is for; without any, none.
      const fromRoute = from !== undefined && from.kind === "route";
      if (qsubs.length > 0 && !(from !== undefined && (queues === undefined || queues.length === 0))) {
        for (let g = 0; g < qsubs.length; g++) {
          const group = qsubs[g];
          if (queues !== undefined && !queues.includes(group[0].queue as string)) continue;
          const n = group.length;
          // Start at a random member and take the first that can receive. Members on other
          // servers fill as many slots as they have members there; a leaf node's member is kept
          // as the fallback when no member in this cluster can take the message.
          const first = n === 1 ? 0 : Math.floor(Math.random() * n);
          let fallback: Subscription | undefined;
          let gatewayFallback: Subscription | undefined;
          let done = false;
          for (let k = 0; k < n; k++) {
            const sub = group[(first + k) % n];
            const dst = sub.client;
            if (dst.kind === "client" || dst.kind === "internal") {
              if (noEcho && dst === sender) {
                activeTrace?.egress(dst as Client, sub, TraceError.noEcho);
                continue;
              }
              if (this.deliverTo(sub, subject, reply, hdr, src, start, end, sender)) {
                count++;
                done = true;
                break;
              }
              continue;
            }
            if (sub.closed || (from !== undefined && !from.mayForwardTo(dst as RemoteDeliverer, subject))) continue;
            if (dst.kind === "gateway") {
              // Another cluster only when none of ours has a member: the closest one (lowest RTT).
              if (gatewayFallback === undefined || (dst as RemoteDeliverer & { rttMs: number }).rttMs < (gatewayFallback.client as RemoteDeliverer & { rttMs: number }).rttMs) gatewayFallback = sub;
              continue;
            }
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
          if (!done && (fallback ??= gatewayFallback) !== undefined) {
            (remote ??= RemoteTargets.acquire()).add(fallback.client as RemoteDeliverer, fallback.queue);
          }
        }
      }
      if (remote !== undefined) {
        const payload = payloadOf(src, start, end);
        const target = deliveryTarget;
        if (target === undefined || target === subject) count += remote.send(this, subject, reply, hdr, payload, from?.originCluster ?? "", sender);
        else {
          // A JetStream delivery crosses by its deliver subject; the message's own subject rides
          // at the end of the ack reply (nats-server's `$JS.ACK...@<subject>`).
          count += remote.send(this, target, encodeDeliveredReply(reply, subject), hdr, payload, from?.originCluster ?? "", sender);
        }
      }
    } finally {
      if (remote !== undefined) RemoteTargets.release(remote);
      InternalClient.currentOrigin = prevOrigin;
      remoteProducer = prevRemote;
    }
    return count;
  }

  private deliverTo(sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, src: Buffer, start: number, end: number, sender: Client | undefined): boolean {
    if (sub.closed) {
      if (activeTrace !== undefined && sub.client.kind === "client") activeTrace.egress(sub.client as Client, sub, TraceError.subClosed);
      return false;
    }
    // A shadow delivers for an importer's subscription: counts and auto-unsubscribe are that one's.
    let owner = sub;
    if ((sub as ShadowSubscription).streamImport !== undefined) {
      const shadow = sub as ShadowSubscription;
      // What crossed a service import is not passed on to stream importers (nats-server does the same).
      if (importedRouting > 0 || shadow.streamImport.invalid) return false;
      if (deliveryTarget === undefined) subject = shadow.streamImport.localSubject(subject);
      owner = shadow.shadowOf;
      if (owner.closed) return false;
      const trace = activeTrace;
      if (trace !== undefined) {
        trace.streamExport(shadow.streamImport.importer.name, subject);
        if (!shadow.streamImport.allowTrace) {
          // The import does not pass traces on: trace-only stops here, a delivery is not traced.
          if (trace.traceOnly) return true;
          setActiveTrace(undefined);
          try {
            return this.deliverOwned(sub, owner, subject, this.gatewayReplyOf(sub, reply), hdr, src, start, end, sender);
          } finally {
            setActiveTrace(trace);
          }
        }
      }
    }
    reply = this.gatewayReplyOf(sub, reply);
    const trace = activeTrace;
    if (trace !== undefined && sub.client.kind === "client") {
      // Traced: the subscription is listed (with why it does not get the message); a trace-only message goes no further.
      const c = sub.client as Client;
      if (c.perms !== undefined && c.perms.deniesDelivery(sub.subject, subject, sub.queue)) {
        trace.egress(c, sub, TraceError.subDeny);
        return false;
      }
      if (trace.traceOnly) {
        trace.egress(c, sub);
        return true;
      }
      if (c.closed) {
        trace.egress(c, sub, TraceError.clientClosed);
        return false;
      }
      trace.egress(c, sub);
    }
    return this.deliverOwned(sub, owner, subject, reply, hdr, src, start, end, sender);
  }

  /** A request from another cluster: the receiver answers on the plain reply, sent back the way it came. */
  private gatewayReplyOf(sub: Subscription, reply: string): string {
    const gw = gatewayReply;
    if (gw === undefined || reply !== gw.routed) return reply;
    trackGatewayReply(sub.client.kind === "client" ? (sub.client as Client) : this, gw.plain, gw.routed);
    return gw.plain;
  }

  private deliverOwned(sub: Subscription, owner: Subscription, subject: string, reply: string, hdr: Buffer | undefined, src: Buffer, start: number, end: number, sender: Client | undefined): boolean {
    // Refused by the receiver's subscribe deny rules: not delivered, not counted (nats-server).
    const dst = sub.client;
    if (dst.kind === "client" && (dst as Client).perms !== undefined && (dst as Client).perms!.deniesDelivery(sub.subject, subject, sub.queue)) return false;
    const n = ++owner.delivered;
    if (owner.max > 0 && n > owner.max) return false;
    if (dst.kind === "client") (dst as Client).deliverRange(sub, subject, reply, hdr, src, start, end);
    else if (dst.kind === "internal" && remoteProducer !== undefined) {
      // An internal handler (JetStream, services) works on its own: what it then sends to
      // clients that are behind does not hold back the route the message came from.
      const prev = remoteProducer;
      remoteProducer = undefined;
      try {
        if (dst.deliver(sub, subject, reply, hdr, payloadOf(src, start, end)) === false) return false;
      } finally {
        remoteProducer = prev;
      }
    } else if (dst.deliver(sub, subject, reply, hdr, payloadOf(src, start, end)) === false) return false;
    if (owner !== sub && sub.client.kind === "client") {
      // A stream import delivery is sent by the exporting account (where it was routed), as in nats-server.
      const size = end - start + (hdr !== undefined && (sub.client as Client).opts.headers ? hdr.length : 0);
      const importer = (sub.client as Client).account;
      importer.outMsgs--;
      importer.outBytes -= size;
      this.outMsgs++;
      this.outBytes += size;
    }
    if (sub.client.kind === "client" && (sub.client as Client).behind) {
      // The publisher waits while the receiver catches up: a client briefly, a route, leaf node
      // or gateway until it has (see stall_queue.ts), so the receiver is not cut and loses nothing.
      const producer = sender ?? remoteProducer;
      if (producer !== undefined) (sub.client as Client).stallPublisherIfBehind(producer);
    }
    if (owner.max > 0 && n >= owner.max) {
      if (owner.client.kind === "client") (owner.client as Client).removeSub(owner);
      else if (owner === sub) this.unsubscribeInternal(owner);
      else (sub as ShadowSubscription).streamImport.importer.unsubscribeInternal(owner);
    }
    return true;
  }

  /** The 503 status a requester gets when nothing is subscribed to the request subject. */
  sendNoResponders(requester: Client, subject: string, reply: string): void {
    // As nats-server: to the requester's first plain subscription on the reply subject only
    // (a queue subscription of its own on it gets nothing).
    const sub = this.sublist.match(reply).psubs.find((s) => s.client === requester);
    if (sub === undefined) return;
    const hdr = buildHeaders([["Nats-Subject", subject]], "503");
    this.deliverTo(sub, reply, "", hdr, NO_PAYLOAD, 0, 0, undefined);
  }

  // ---- mappings ----

  /** Add (or replace) the mapping of `src`; nats-server's checks and error texts. */
  addMapping(src: string, destinations: readonly MappingDestination[]): void {
    const m = newSubjectMapping(src, destinations);
    (this.mappings ??= new MappingTable()).set(m);
  }

  removeMapping(src: string): boolean {
    const removed = this.mappings?.remove(src) ?? false;
    if (this.mappings !== undefined && this.mappings.size === 0) this.mappings = undefined;
    return removed;
  }

  clearMappings(): void {
    this.mappings = undefined;
  }

  /** The subject a message published to `subject` in this account is routed to. */
  mapSubject(subject: string): string {
    return this.mappings === undefined ? subject : this.mappings.map(subject, this.clusterName);
  }

  /** The server's cluster name, for cluster-scoped mapping destinations (set by the server). */
  clusterName: (() => string | undefined) | undefined;

  // ---- exports ----

  addStreamExport(subject: string, o: ExportAuthOptions = {}): StreamExport {
    if (!isValidSubject(subject)) throw new AccountError("invalid subject");
    const e = new StreamExport(this, subject, new ExportAuth(subject, o));
    this.streamExports.set(subject, e);
    return e;
  }

  addServiceExport(subject: string, o: ServiceExportOptions = {}): ServiceExport {
    if (!isValidSubject(subject)) throw new AccountError("invalid subject");
    const e = new ServiceExport(this, subject, o);
    this.serviceExports.set(subject, e);
    // Imports made before the export learn its response type and latency tracking.
    return e;
  }

  /** The stream export covering `subject` (exactly, or as a wildcard superset). */
  findStreamExport(subject: string): StreamExport | undefined {
    return findExport(this.streamExports, subject);
  }

  findServiceExport(subject: string): ServiceExport | undefined {
    return findExport(this.serviceExports, subject);
  }

  /** Drop every export (operator mode: the account's claims changed). Imports of them turn invalid. */
  clearExports(): void {
    this.streamExports.clear();
    this.serviceExports.clear();
  }

  // ---- imports ----

  /** Import `subject` exported as a stream by `exporter`; nats-server's checks and errors. */
  addStreamImport(exporter: Account, subject: string, o: StreamImportRequest = {}): StreamImport {
    if (!isValidSubject(subject)) throw new AccountError("stream import not authorized");
    const exp = exporter.findStreamExport(subject);
    const tokens = exp !== undefined && exp.subject !== subject ? subject.split(".") : undefined;
    if (exp === undefined || !exp.auth.authorizes(exporter, this, subject, tokens, o.activation)) {
      throw new AccountError("stream import not authorized");
    }
    const im = new StreamImport(this, exporter, subject, o);
    if (streamImportFormsCycle(this, exporter, im.to) || streamImportFormsCycle(this, exporter, subject)) {
      throw new AccountError("import forms a cycle");
    }
    if (this.streamImports.some((x) => x.exporter === exporter && x.from === subject)) throw new AccountError("stream import already exists");
    this.streamImports.push(im);
    // Subscriptions made before the import start receiving through it.
    for (const sub of this.sublist.all()) {
      if (sub.noImports !== true && (sub as ShadowSubscription).streamImport === undefined) this.addShadow(sub, im);
    }
    return im;
  }

  /** Import the service `subject` of `exporter`, reachable here on `o.to` (default: the same subject). */
  addServiceImport(exporter: Account, subject: string, o: ServiceImportRequest = {}): ServiceImport {
    const local = o.to === undefined || o.to === "" ? subject : o.to;
    if (!isValidSubject(subject) || !isValidSubject(untokenizeWildcards(local))) throw new AccountError("invalid subject");
    const exp = exporter.findServiceExport(subject);
    if (o.internal !== true) {
      const tokens = exp !== undefined && exp.subject !== subject ? subject.split(".") : undefined;
      if (exp === undefined || !exp.auth.authorizes(exporter, this, subject, tokens, o.activation)) {
        throw new AccountError("service import not authorized");
      }
    }
    if (serviceImportFormsCycle(this, exporter, untokenizeWildcards(local))) throw new AccountError("import forms a cycle");
    const si = new ServiceImport(this, exporter, subject, exp, { to: local, share: o.share, skip: o.skip });
    const dup = this.serviceImports.find((x) => x.exporter === exporter && x.from === si.from);
    if (dup !== undefined) {
      throw new AccountError(
        `duplicate service import subject ${JSON.stringify(si.from)}, previously used in import for account ${JSON.stringify(exporter.name)}, subject ${JSON.stringify(dup.to)}`,
      );
    }
    this.serviceImports.push(si);
    // Every server has the import, so a request is taken in where it is published: not announced to routes.
    si.sub = this.subscribeDeliverer(si.from, si, true);
    return si;
  }

  removeServiceImport(si: ServiceImport): void {
    const i = this.serviceImports.indexOf(si);
    if (i < 0) return;
    this.serviceImports.splice(i, 1);
    if (si.sub !== undefined) this.unsubscribeInternal(si.sub);
    si.sub = undefined;
  }

  removeStreamImport(im: StreamImport): void {
    const i = this.streamImports.indexOf(im);
    if (i < 0) return;
    this.streamImports.splice(i, 1);
    for (const sub of this.sublist.all()) {
      const shadows = sub.shadows;
      if (shadows === undefined) continue;
      for (let k = shadows.length - 1; k >= 0; k--) {
        const sh = shadows[k] as ShadowSubscription;
        if (sh.streamImport !== im) continue;
        shadows.splice(k, 1);
        this.dropShadow(sh);
      }
    }
  }

  /** Drop every import (reload, operator mode claim update). */
  clearImports(): void {
    for (const si of [...this.serviceImports]) this.removeServiceImport(si);
    for (const im of [...this.streamImports]) this.removeStreamImport(im);
  }

  private addShadows(sub: Subscription): void {
    for (const im of this.streamImports) this.addShadow(sub, im);
  }

  private addShadow(sub: Subscription, im: StreamImport): void {
    const subject = im.exporterSubjectFor(sub.subject);
    if (subject === undefined) return;
    const shadow = newShadow(sub, im, subject);
    (sub.shadows ??= []).push(shadow);
    const exporter = im.exporter;
    // Straight into the exporter's sublist: shadows are not imported further (as nats-server).
    exporter.sublist.insert(shadow);
    for (const l of exporter.interestListeners) l(shadow, true);
  }

  private removeShadows(sub: Subscription): void {
    const shadows = sub.shadows as Subscription[];
    sub.shadows = undefined;
    for (const sh of shadows) this.dropShadow(sh as ShadowSubscription);
  }

  private dropShadow(sh: ShadowSubscription): void {
    sh.closed = true;
    const exporter = sh.streamImport.exporter;
    if (exporter.sublist.remove(sh)) for (const l of exporter.interestListeners) l(sh, false);
  }

  /** Stop: pending reply mappings and their subscription go away. */
  close(): void {
    this.responses.close();
  }
}

/** The empty payload of a message the server makes up (a 503 no-responders status). */
const NO_PAYLOAD = Buffer.alloc(0);

/** `src[start, end)` as a Buffer, for receivers that keep or parse it: `src` itself when it is all of it. */
function payloadOf(src: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === src.length ? src : src.subarray(start, end);
}

function findExport<E extends { subject: string }>(exports: Map<string, E>, subject: string): E | undefined {
  const exact = exports.get(subject);
  if (exact !== undefined) return exact;
  for (const e of exports.values()) if (subjectIsSubsetOf(subject, e.subject)) return e;
  return undefined;
}

/** Longest import chain followed when looking for a cycle (nats-server's search depth). */
const MAX_CYCLE_SEARCH_DEPTH = 1024;

/**
 * Would `importer` importing (to local subject `local`) from `exporter` close a loop of
 * service imports? Follows the exporter's imports whose exported subject collides.
 */
function serviceImportFormsCycle(importer: Account, exporter: Account, local: string): boolean {
  const visited = new Set<string>([importer.name]);
  const walk = (acc: Account, from: string): boolean => {
    if (visited.size >= MAX_CYCLE_SEARCH_DEPTH) throw new AccountError("search cycle depth exhausted");
    for (const si of acc.serviceImports) {
      if (!subjectsCollide(from, si.to)) continue;
      if (visited.has(si.exporter.name)) return true;
      visited.add(acc.name);
      if (walk(si.exporter, subjectIsSubsetOf(si.from, from) ? si.from : from)) return true;
    }
    return false;
  };
  return walk(exporter, local);
}

function streamImportFormsCycle(importer: Account, exporter: Account, subject: string): boolean {
  const visited = new Set<string>([importer.name]);
  const walk = (acc: Account, to: string): boolean => {
    if (visited.size >= MAX_CYCLE_SEARCH_DEPTH) throw new AccountError("search cycle depth exhausted");
    if (![...acc.streamExports.keys()].some((s) => subjectIsSubsetOf(to, s))) return false;
    for (const im of acc.streamImports) {
      if (!subjectsCollide(to, im.to)) continue;
      if (visited.has(im.exporter.name)) return true;
      visited.add(acc.name);
      if (walk(im.exporter, subjectIsSubsetOf(im.to, to) ? im.to : to)) return true;
    }
    return false;
  };
  return walk(exporter, subject);
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

  /**
   * Emptied in place, `n` saying how much is used: setting an array's length is a call into V8's
   * runtime (its length accessor) even in optimized code, and the next add grew the emptied
   * array's elements again: twice per message sent to another server (perf of bench/js_r3_pair
   * async-mem: a tenth of a replicated stream leader's PubAck sends). A connection stays in
   * `conns` until the next message to another server takes its slot.
   */
  static release(t: RemoteTargets): void {
    for (let i = 0; i < t.n; i++) {
      const q = t.queues[i];
      if (q.length !== 0) q.length = 0;
    }
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
  send(account: Account, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, origin: string, sender: Client | undefined): number {
    const trace = activeTrace;
    let sent = 0;
    for (let i = 0; i < this.n; i++) {
      const conn = this.conns[i];
      let h = hdr;
      if (trace !== undefined && h !== undefined) {
        // Each copy carries its hop id, so the other server's trace event can be matched to this one.
        h = trace.toRemote(conn, h);
        if (h === undefined) continue;
      }
      // A gateway offered a message optimistically may know the other side does not want it.
      if (conn.sendRouted(account.name, subject, reply, h, payload, this.queues[i], origin) === false) continue;
      // A route or leaf connection falling behind slows the publisher down, as a slow subscriber does.
      if (conn.behind) {
        const producer = sender ?? remoteProducer;
        if (producer !== undefined) conn.stallPublisher(producer);
      }
      account.countSentRemote(conn.kind, payload.length + (h?.length ?? 0));
      sent++;
    }
    return sent;
  }
}
