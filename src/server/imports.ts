// What an account takes from other accounts, and how messages cross account boundaries.
//
// Stream imports: the importer's subscriptions that overlap an import get a "shadow"
// subscription in the exporter's sublist (same deliverer, exporter-side subject), so a
// message published in the exporter reaches them directly, its subject rewritten to the
// importer's side (prefix or `to` mapping) at delivery. No interest, no shadow: nothing is
// routed for imports nobody listens to.
//
// Service imports: an internal subscription in the importer on the local subject. A request
// that reaches it is re-published in the exporter on the exported subject, with its reply
// replaced by a fresh `_R_.<prefix>.<id>` subject of the exporter; the exporter's wildcard
// subscription on `_R_.<prefix>.>` sends what responders publish there back to the original
// reply in the importer (a ResponseImport), as long as the export's response type and
// threshold allow: one message for Singleton, any number within the threshold for Streamed,
// until an empty message for Chunked.
import { InternalClient, routingSubjectOf, type Account } from "./account.js";
import type { Client } from "./client.js";
import type { Deliverer, Subscription } from "./sublist.js";
import { AccountError, type ServiceExport } from "./exports.js";
import { SubjectTransform } from "./subject_transform.js";
import { hasWildcard, isValidSubject, subjectIsSubsetOf, subjectsCollide } from "../protocol/subject.js";
import { setHeader } from "../protocol/headers.js";
import { clientInfo } from "./client_info.js";
import { latencyEvent, sampleRequest, type LatencyTracking } from "./service_latency.js";
import { nowNs } from "./time.js";
import { shortHash } from "../jetstream/util.js";
import type { ResponseType } from "../config/options.js";
import { HDR_TRACE_DEST, MsgTrace, activeTrace, setActiveTrace } from "./msg_trace.js";

/** Header carrying the requester's identity to the service (nats-server's ClientInfoHdr). */
export const REQUEST_INFO_HEADER = "Nats-Request-Info";
/** Replies of JetStream acks cross imports unchanged (pull consumers served across accounts). */
const JS_ACK_PREFIX = "$JS.ACK.";
/** Prefix of the reply subjects that map service responses back across accounts. */
export const SERVICE_REPLY_PREFIX = "_R_.";

// ---------------------------------------------------------------------------------------
// wildcard mappings between the two sides of an import

/** `*` tokens become `$1`, `$2`... in order (nats-server's transformTokenize). */
export function tokenizeWildcards(subject: string): string {
  let n = 0;
  return subject
    .split(".")
    .map((t) => (t === "*" ? `$${++n}` : t))
    .join(".");
}

/** `$N` and `{{wildcard(N)}}` tokens become `*` (nats-server's transformUntokenize). */
export function untokenizeWildcards(subject: string): string {
  return subject
    .split(".")
    .map((t) => (/^\$\d+$/.test(t) || /^\{\{\s*wildcard\s*\(\s*\d+\s*\)\s*\}\}$/i.test(t) ? "*" : t))
    .join(".");
}

/** A strict transform (wildcard references only, all used) or an error worded as nats-server's. */
function strictTransform(src: string, dest: string, what: string, from: string, to: string): SubjectTransform {
  const tr = SubjectTransform.parse(src, dest);
  if (tr !== undefined && tr.isStrict) return tr;
  const wildcards = src.split(".").filter((t) => t === "*").length;
  let reason = "invalid mapping destination";
  const refs = dest.split(".").filter((t) => /^\$\d+$/.test(t));
  const outOfRange = refs.find((t) => Number(t.slice(1)) > wildcards);
  if (outOfRange !== undefined) reason += `: wildcard index out of range in ${outOfRange}: [${outOfRange.slice(1)}]`;
  else if (new Set(refs).size < wildcards) reason += `: not using all of the token wildcard(s) in ${dest}`;
  throw new AccountError(`failed to create mapping transform for ${what} subject from ${JSON.stringify(from)} to ${JSON.stringify(to)}: ${reason}`);
}

/** The most specific subject both patterns match (they must collide). */
function intersect(a: string, b: string): string {
  const ta = a.split(".");
  const tb = b.split(".");
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === undefined && y === undefined) break;
    if (x === ">") return [...out, ...tb.slice(i)].join(".");
    if (y === ">") return [...out, ...ta.slice(i)].join(".");
    out.push(x === "*" ? (y as string) : (x as string));
  }
  return out.join(".");
}

// ---------------------------------------------------------------------------------------
// stream imports

export interface StreamImportOptions {
  /** Literal prefix put before the exported subject in the importer. */
  prefix?: string;
  /** Subject (mapping) in the importer; the exported subject when neither this nor a prefix is set. */
  to?: string;
  allowTrace?: boolean;
}

export class StreamImport {
  /** Subject pattern in the importer. */
  readonly to: string;
  /** Same subject on both sides (a wildcard import without renaming). */
  private readonly usePub: boolean;
  /** Exporter subject -> importer subject, when wildcards are renamed. */
  private readonly transform: SubjectTransform | undefined;
  /** Importer subject (pattern) -> exporter subject, for shadow subscriptions. */
  private readonly back: SubjectTransform | undefined;
  readonly allowTrace: boolean;
  /** Set when the export went away or was revoked (operator mode): nothing flows. */
  invalid = false;
  /** A prefix import of a wildcard subject: the local subject is this + the exported one. */
  private readonly prefix: string | undefined;
  /** The last subject mapped, and its result: runs of one subject map once. */
  private lastIn = "";
  private lastOut = "";

  constructor(
    readonly importer: Account,
    readonly exporter: Account,
    /** Subject in the exporter. */
    readonly from: string,
    o: StreamImportOptions = {},
  ) {
    let to = o.to ?? "";
    let prefix: string | undefined;
    if (o.prefix !== undefined && o.prefix !== "") {
      if (hasWildcard(o.prefix)) throw new AccountError("stream import prefix can not contain wildcard tokens");
      prefix = o.prefix.endsWith(".") ? o.prefix : `${o.prefix}.`;
      to = prefix + from;
    }
    this.prefix = prefix;
    if (to === "") to = from;
    this.allowTrace = o.allowTrace ?? false;
    this.usePub = false;
    if (hasWildcard(from)) {
      if (to === from) this.usePub = true;
      else {
        this.transform = strictTransform(from, tokenizeWildcards(to), "stream import", from, to);
        this.back = this.transform.reverse();
        to = untokenizeWildcards(to);
      }
    }
    this.to = to;
  }

  /** The subject a message published in the exporter on `subject` has in the importer. */
  localSubject(subject: string): string {
    if (this.usePub) return subject;
    if (this.transform === undefined) return this.to;
    if (subject === this.lastIn) return this.lastOut;
    const out = this.prefix !== undefined ? this.prefix + subject : (this.transform.apply(subject) ?? this.to);
    this.lastIn = subject;
    this.lastOut = out;
    return out;
  }

  /**
   * The exporter-side subject a subscription on `local` in the importer needs, or undefined
   * when the subscription and the import do not overlap.
   */
  exporterSubjectFor(local: string): string | undefined {
    if (local === this.to || subjectIsSubsetOf(this.to, local)) return this.from;
    let narrowed: string;
    if (subjectIsSubsetOf(local, this.to)) narrowed = local;
    else if (subjectsCollide(local, this.to)) narrowed = intersect(local, this.to);
    else return undefined;
    if (!hasWildcard(this.from)) return this.from;
    if (this.usePub) return narrowed;
    return this.back?.apply(narrowed) ?? this.from;
  }
}

/** A subscription in the exporter standing in for a subscription of the importer. */
export interface ShadowSubscription extends Subscription {
  readonly streamImport: StreamImport;
  /** The importer's subscription it stands for (delivery counts and auto-unsubscribe are its). */
  readonly shadowOf: Subscription;
}

export function newShadow(sub: Subscription, im: StreamImport, subject: string): ShadowSubscription {
  return {
    subject,
    queue: sub.queue,
    sid: sub.sid,
    client: sub.client,
    max: 0,
    delivered: 0,
    closed: false,
    streamImport: im,
    shadowOf: sub,
  };
}

// ---------------------------------------------------------------------------------------
// service imports

export interface ServiceImportOptions {
  /** Local subject in the importer (default: the exported subject); may rename wildcards. */
  to?: string;
  /** Share the requester's details with the exporter. */
  share?: boolean;
  /** Requests (by importer subject) the import leaves alone: they reach their service another way. */
  skip?: (subject: string) => boolean;
}

/** The routing an import needs from the account model (implemented by Account). */
export interface ImportRouting {
  readonly name: string;
  /** Route a message that crossed an import: shadow subscriptions do not re-export it. */
  routeImported(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, origin: Client | undefined, shown?: string): number;
  /** This account's subject mappings applied to a subject entering it. */
  mapSubject(subject: string): string;
  readonly responses: ResponseTable;
}

let importCid = -1_000_000;

/** Exports a request is currently passing through: a request coming back to one is a loop. */
const activeExports: Array<ServiceExport | ServiceImport> = [];

export class ServiceImport implements Deliverer {
  readonly kind = "internal" as const;
  readonly cid = --importCid;
  /** Local subject (pattern) subscribed in the importer. */
  readonly from: string;
  /** The exported subject in the exporter. */
  readonly to: string;
  private readonly usePub: boolean;
  private readonly transform: SubjectTransform | undefined;
  share: boolean;
  invalid = false;
  /** Its subscription in the importer, once installed. */
  sub: Subscription | undefined;
  private readonly skip: ((subject: string) => boolean) | undefined;

  constructor(
    readonly importer: Account & ImportRouting,
    readonly exporter: Account & ImportRouting,
    /** The exported subject. */
    to: string,
    readonly exported: ServiceExport | undefined,
    o: ServiceImportOptions = {},
  ) {
    let from = o.to ?? to;
    if (from === "") from = to;
    if (!isValidSubject(from) || !isValidSubject(untokenizeWildcards(from)) || !isValidSubject(to)) throw new AccountError("invalid subject");
    this.usePub = false;
    if (hasWildcard(to)) {
      if (to === from) this.usePub = true;
      else {
        // Built exporter -> importer (only the importer side may use $N), then turned around.
        const local = untokenizeWildcards(from);
        const there = strictTransform(to, tokenizeWildcards(from), "service import", local, to);
        const back = there.reverse();
        if (back === undefined) {
          throw new AccountError(`failed to create mapping transform for service import subject from ${JSON.stringify(local)} to ${JSON.stringify(to)}: invalid mapping destination`);
        }
        this.transform = back;
        from = local;
      }
    }
    this.from = from;
    this.to = to;
    this.share = o.share ?? false;
    this.skip = o.skip;
  }

  get responseType(): ResponseType {
    return this.exported?.responseType ?? "Singleton";
  }

  /** The exporter-side subject for a request on `subject`. */
  exporterSubject(subject: string): string {
    if (this.usePub) return subject;
    if (this.transform !== undefined) return this.transform.apply(subject) ?? this.to;
    return this.to;
  }

  /** The request-info header block of the last requester without headers of its own, reused while it is the same. */
  private infoFor: Client | undefined;
  private infoRtt = -1;
  private infoHdr: Buffer | undefined;

  /** The request's headers with the requester's identity set (a forged one replaced). */
  private withRequestInfo(origin: Client, hdr: Buffer | undefined, chained: boolean): Buffer {
    const reusable = hdr === undefined && !chained;
    if (reusable && origin === this.infoFor && origin.rttMs === this.infoRtt && this.infoHdr !== undefined) return this.infoHdr;
    // Into the system account (or shared): this server and its cluster too, as nats-server adds them.
    const where = this.share || this.exporter === origin.server.systemAccount ? { server: origin.server.name, cluster: this.importer.clusterName?.() } : undefined;
    const info = clientInfo(origin, { detailed: this.share, service: chained ? this.importer.name : undefined, origin: where });
    const out = setHeader(hdr, REQUEST_INFO_HEADER, JSON.stringify(info));
    if (reusable) {
      this.infoFor = origin;
      this.infoRtt = origin.rttMs;
      this.infoHdr = out;
    }
    return out;
  }

  /** A request in the importer: forward it to the exporter. Returns whether anyone got it. */
  deliver(_sub: Subscription, shown: string, reply: string, hdr: Buffer | undefined, payload: Buffer): boolean {
    if (this.invalid) return false;
    // A JetStream delivery is routed by its deliver subject but shows the stream's subject.
    const subject = routingSubjectOf(shown);
    if (this.skip !== undefined && this.skip(subject)) return false;
    const keepShown = subject !== shown ? shown : undefined;
    const loopKey = this.exported ?? this;
    if (activeExports.includes(loopKey)) return false;
    const origin = currentOrigin();
    // Latency tracking of the export: is this request one of those measured?
    const latency = this.exported?.latency;
    let tracking: LatencyTracking | undefined;
    if (latency !== undefined && origin !== undefined) {
      const sampled = sampleRequest(latency, hdr);
      if (sampled !== false) {
        tracking = { latency, requestor: origin, share: this.share, header: sampled.header, startNs: nowNs() };
        if (reply === "") {
          // A measured request nobody can answer: reported as a bad request.
          publishLatency(this.exporter, tracking, 400, undefined);
          tracking = undefined;
        }
      }
    }
    let response: ResponseImport | undefined;
    let newReply = "";
    if (reply !== "") {
      if (reply.startsWith(JS_ACK_PREFIX)) newReply = reply;
      else {
        response = this.exporter.responses.add(this.importer, reply, this.responseType, this.exported?.responseThresholdMs, tracking);
        newReply = response.subject;
      }
    }
    const to = this.exporter.mapSubject(this.exporterSubject(subject));
    if (origin !== undefined) hdr = this.withRequestInfo(origin, hdr, activeExports.length > 0);
    const trace = activeTrace;
    if (trace !== undefined && hdr !== undefined) return this.deliverTraced(trace, subject, to, newReply, response, hdr, payload, origin, keepShown, loopKey);
    activeExports.push(loopKey);
    let delivered: number;
    try {
      delivered = this.exporter.routeImported(to, newReply, hdr, payload, origin, keepShown);
    } finally {
      activeExports.pop();
    }
    if (delivered === 0 && response !== undefined) {
      this.exporter.responses.remove(response.subject);
      if (response.tracking !== undefined) publishLatency(this.exporter, response.tracking, 503, undefined);
    }
    return delivered > 0;
  }

  /**
   * A traced request (ADR-41): an "si" event, then, when the export allows tracing, routed in
   * the exporter under the trace, with a reply import that brings other servers' events back
   * to the trace's destination; otherwise trace-only stops here and a delivery is not traced.
   */
  private deliverTraced(
    trace: MsgTrace,
    subject: string,
    to: string,
    newReply: string,
    response: ResponseImport | undefined,
    hdr: Buffer,
    payload: Buffer,
    origin: Client | undefined,
    keepShown: string | undefined,
    loopKey: ServiceExport | ServiceImport,
  ): boolean {
    trace.serviceImport(this.exporter.name, subject, to);
    const allow = this.exported?.allowTrace === true;
    if (!allow && trace.traceOnly) {
      if (response !== undefined) this.exporter.responses.remove(response.subject);
      return false;
    }
    let reply: ResponseImport | undefined;
    let prevDest = "";
    const removeReply = (): void => {
      if (reply !== undefined) this.exporter.responses.remove(reply.subject);
    };
    if (allow) {
      reply = this.exporter.responses.add(this.importer, trace.currentDest, this.responseType, this.exported?.responseThresholdMs, undefined, trace);
      hdr = setHeader(hdr, HDR_TRACE_DEST, reply.subject);
      prevDest = trace.enterServiceImport(reply.subject, removeReply);
    } else hdr = MsgTrace.disable(hdr);
    activeExports.push(loopKey);
    const prev = setActiveTrace(allow ? trace : undefined);
    let delivered: number;
    try {
      delivered = this.exporter.routeImported(to, newReply, hdr, payload, origin, keepShown);
    } finally {
      setActiveTrace(prev);
      activeExports.pop();
      if (allow) trace.leaveServiceImport(prevDest, removeReply);
    }
    if (response !== undefined && (delivered === 0 || trace.traceOnly)) this.exporter.responses.remove(response.subject);
    return delivered > 0;
  }
}

/** The client whose message is being routed (undefined for messages from inside the server). */
function currentOrigin(): Client | undefined {
  return InternalClient.currentOrigin;
}

// ---------------------------------------------------------------------------------------
// responses

/** A pending reply mapping: responders publish on `subject`, the requester gets it on `reply` in `dest`. */
export interface ResponseImport {
  readonly subject: string;
  readonly dest: Account & ImportRouting;
  readonly reply: string;
  readonly responseType: ResponseType;
  readonly thresholdMs: number;
  /** Last time it was created or used (ms). */
  ts: number;
  /** Set when the request is measured for latency; cleared once reported. */
  tracking: LatencyTracking | undefined;
  /** A reply import for the trace events of other servers (ADR-41): it stays until they all came back. */
  readonly trace?: MsgTrace;
}

/** Publish a latency event in the exporting account, where the export's owner listens for it. */
function publishLatency(exporter: Account, t: LatencyTracking, status: 200 | 400 | 503 | 504, responder: Client | undefined): void {
  exporter.publish(t.latency.subject, "", undefined, Buffer.from(JSON.stringify(latencyEvent(t, status, responder))));
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * `n` (up to 8) base62 characters. Reply subjects need to be unique among pending ones, not
 * secret (the table is checked for a clash), so Math.random serves, as fastrand does nats-server.
 */
function randomToken(n: number): string {
  let v = Math.floor(Math.random() * 62 ** n);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += BASE62[v % 62];
    v = Math.floor(v / 62);
  }
  return s;
}

/** Longest a sweep waits, so expired mappings never pile up for long. */
const MAX_SWEEP_MS = 30_000;

/**
 * The reply mappings an account's `_R_.<prefix>.>` subscription serves. Created lazily on
 * the first request that needs one; entries expire after their export's response threshold.
 */
export class ResponseTable implements Deliverer {
  readonly kind = "internal" as const;
  readonly cid = --importCid;
  private readonly entries = new Map<string, ResponseImport>();
  private prefix: string | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;

  constructor(
    private readonly owner: Account & ImportRouting,
    private readonly subscribe: (subject: string, d: Deliverer) => Subscription,
    private readonly unsubscribe: (sub: Subscription) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** A new reply subject in the owner that leads back to `reply` in `dest`. */
  add(
    dest: Account & ImportRouting,
    reply: string,
    responseType: ResponseType,
    thresholdMs: number | undefined,
    tracking?: LatencyTracking,
    trace?: MsgTrace,
  ): ResponseImport {
    if (this.prefix === undefined) {
      this.prefix = `${SERVICE_REPLY_PREFIX}${randomToken(6)}.`;
      this.sub = this.subscribe(`${this.prefix}>`, this);
    }
    // A request measured for latency shows it in its reply, as nats-server's do: the server's
    // hash and a `T` after the random token.
    const suffix = tracking !== undefined ? `.${shortHash(tracking.requestor.server.name)}.T` : "";
    let subject: string;
    do subject = this.prefix + randomToken(6) + suffix;
    while (this.entries.has(subject));
    const r: ResponseImport = {
      subject,
      dest,
      reply,
      responseType,
      thresholdMs: thresholdMs ?? 2 * 60 * 1000,
      ts: Date.now(),
      // Only a singleton's response can be measured (nats-server tracks singletons only).
      tracking: responseType === "Singleton" ? tracking : undefined,
      ...(trace !== undefined ? { trace } : {}),
    };
    this.entries.set(subject, r);
    this.scheduleSweep(r.thresholdMs);
    return r;
  }

  remove(subject: string): void {
    this.entries.delete(subject);
  }

  /** A responder's message on one of our reply subjects: send it back where it belongs. */
  deliver(_sub: Subscription, shown: string, reply: string, hdr: Buffer | undefined, payload: Buffer): boolean {
    const subject = routingSubjectOf(shown);
    const r = this.entries.get(subject);
    if (r === undefined) return false;
    const now = Date.now();
    if (now - r.ts > r.thresholdMs) {
      // The response window has passed: the requester is no longer waiting here.
      this.expire(r);
      return false;
    }
    const origin = currentOrigin();
    let newReply = "";
    let nested: ResponseImport | undefined;
    if (reply !== "") {
      if (reply.startsWith(JS_ACK_PREFIX)) newReply = reply;
      else {
        // A response that itself expects an answer: map that reply back the same way.
        nested = r.dest.responses.add(this.owner, reply, r.responseType, r.thresholdMs);
        newReply = nested.subject;
      }
    }
    const delivered = r.dest.routeImported(r.reply, newReply, hdr, payload, origin, subject !== shown ? shown : undefined);
    if (r.trace !== undefined) {
      // Trace events coming back: counted where they reach the trace's own destination.
      r.ts = now;
      if (!r.reply.startsWith(SERVICE_REPLY_PREFIX)) r.trace.replyEventArrived(payload);
      return delivered > 0;
    }
    if (delivered > 0 && r.tracking !== undefined && origin !== undefined) {
      publishLatency(this.owner, r.tracking, 200, origin);
      r.tracking = undefined;
    }
    const endOfChunks = r.responseType === "Chunked" && payload.length === 0 && (hdr === undefined || hdr.length === 0);
    if (delivered === 0 || r.responseType === "Singleton" || endOfChunks) this.entries.delete(subject);
    else r.ts = now;
    if (delivered === 0 && nested !== undefined) r.dest.responses.remove(nested.subject);
    return delivered > 0;
  }

  private scheduleSweep(thresholdMs: number): void {
    if (this.sweeper !== undefined) return;
    const every = Math.max(10, Math.min(thresholdMs, MAX_SWEEP_MS));
    this.sweeper = setTimeout(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private sweep(): void {
    this.sweeper = undefined;
    const now = Date.now();
    let minThreshold = Infinity;
    for (const r of [...this.entries.values()]) {
      if (now - r.ts > r.thresholdMs) this.expire(r);
      else minThreshold = Math.min(minThreshold, r.thresholdMs);
    }
    if (this.entries.size > 0) this.scheduleSweep(minThreshold);
  }

  /** A mapping whose response window passed: gone, and a measured request reports a timeout. */
  private expire(r: ResponseImport): void {
    this.entries.delete(r.subject);
    if (r.tracking !== undefined) publishLatency(this.owner, r.tracking, 504, undefined);
    r.tracking = undefined;
  }

  /** Drop every mapping and the wildcard subscription (account going away, shutdown). */
  close(): void {
    if (this.sweeper !== undefined) clearTimeout(this.sweeper);
    this.sweeper = undefined;
    this.entries.clear();
    if (this.sub !== undefined) this.unsubscribe(this.sub);
    this.sub = undefined;
    this.prefix = undefined;
  }
}
