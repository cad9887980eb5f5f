// Message tracing (ADR-41, nats-server 2.11+). A message published with `Nats-Trace-Dest:
// <subject>` (or, in an account with a `msg_trace` destination, with a sampled W3C
// `traceparent`) is followed through every server it crosses. Each server sends one event
// to the destination, in the account the message came in on, listing what happened there:
//   "in"  where it came in (client, route, leaf node), with the ingress error if refused;
//   "sm"  the account mapping that changed its subject;
//   "se"  a stream export that took it into an importing account;
//   "si"  a service import that took it into the exporting account;
//   "js"  the stream that stored it (its subject, "no interest", or the error);
//   "eg"  each connection it went out on: a client's subscription, or another server (with
//         the hop id that server's own event carries in `Nats-Trace-Hop`).
// `Nats-Trace-Only: true` (or 1, on) traces without delivering: subscribers are listed but
// get nothing, streams check the message but store nothing, other servers get the message
// and do the same. A message that is delivered but must not be traced further carries
// `Nats-Trace-Dest: trace disabled` (stored messages, imports without `allow_trace`).
// `Accept-Encoding` (gzip, snappy/s2) in the traced message compresses the event.
//
// Routing is synchronous, so the message being traced is held in `activeTrace` while it is
// routed (the same way account.ts holds its routing state); none of this runs for messages
// without a trace header (one byte search per message with headers).
import { gzipSync } from "node:zlib";
import type { Account } from "./account.js";
import { appendHeaders, setHeader } from "../protocol/headers.js";
import { isValidLiteralSubject } from "../protocol/subject.js";
import { rfc3339, nowNs } from "./time.js";
import { snappyEncodeStream } from "../storage/s2.js";

export const HDR_TRACE_DEST = "Nats-Trace-Dest";
export const HDR_TRACE_ONLY = "Nats-Trace-Only";
export const HDR_TRACE_HOP = "Nats-Trace-Hop";
export const HDR_TRACE_ORIGIN_ACCOUNT = "Nats-Trace-Origin-Account";
const HDR_TRACE_PARENT = "traceparent";
const HDR_ACCEPT_ENCODING = "Accept-Encoding";
/** The value that turns tracing off for a message (not a valid subject, on purpose). */
export const TRACE_DISABLED = "trace disabled";

const TRACE_KEY = Buffer.from(`\r\n${HDR_TRACE_DEST}:`, "latin1");
const HDR_LINE = Buffer.from("NATS/1.0\r\n", "latin1");

/** Connection kinds as nats-server numbers them in trace events. */
export const TraceKind = { client: 0, route: 1, gateway: 2, system: 3, leaf: 4, jetstream: 5, account: 6 } as const;

/** nats-server's egress errors. */
export const TraceError = {
  onlyNoSupport: "Not delivered because remote does not support message tracing",
  noSupport: "Message delivered but remote does not support message tracing so no trace event generated from there",
  noEcho: "Not delivered because of no echo",
  pubViolation: "Not delivered because publish denied for this subject",
  subDeny: "Not delivered because subscription denies this subject",
  subClosed: "Not delivered because subscription is closed",
  clientClosed: "Not delivered because client is closed",
  autoSubExceeded: "Not delivered because auto-unsubscribe exceeded",
} as const;

/** The server-to-server protocol level from which a peer traces messages (nats-server's MsgTraceProto). */
export const MSG_TRACE_PROTO = 3;

type Json = Record<string, unknown>;

/** The connection a message came in on, as a trace needs it. */
export interface TraceIngress {
  readonly kind: number;
  readonly cid: number;
  /** Client name, or the other server's name for routes and leaf nodes. */
  readonly name: string;
  /** The account the message is routed in (for a route, the message's account). */
  readonly account: Account;
  readonly subject: string;
  /** Size of headers + payload. */
  readonly size: number;
  /** May this connection publish to the trace destination? (its publish permissions) */
  mayPublish(dest: string): boolean;
  /** Report a refused destination (a client gets nats-server's -ERR; others only log). */
  refused(dest: string): void;
  logError(text: string): void;
  /** The server's info block (ServerInfo) for the event; undefined without a system account. */
  serverInfo(): Json | undefined;
}

/** What `MsgTrace.start` decided. */
export interface TraceStart {
  trace: MsgTrace | undefined;
  /** Do not process the message (a trace-only message that cannot be traced, a refused destination). */
  skip: boolean;
  /** Process it with `Nats-Trace-Dest: trace disabled` (an unsampled traceparent, the legacy origin header). */
  disable: boolean;
}

const NONE: TraceStart = { trace: undefined, skip: false, disable: false };
const SKIP: TraceStart = { trace: undefined, skip: true, disable: false };
const DISABLE: TraceStart = { trace: undefined, skip: false, disable: true };

/** The other end of an egress to another server. */
export interface TraceRemote {
  readonly traceKind: number;
  readonly cid: number;
  readonly traceName: string;
  /** The account a leaf connection is bound to (named in the event when not the ingress one). */
  readonly traceAccount?: string;
  /** Does the other server trace (its protocol level is at least MSG_TRACE_PROTO)? */
  readonly tracesMessages: boolean;
}

type Compression = "" | "gzip" | "snappy" | "identity";

export class MsgTrace {
  private readonly events: Json[] = [];
  private js: Json | undefined;
  /** Copies sent to other servers (the event's "hops"). */
  private hops = 0;
  /** Inside a service import that allows tracing: the reply subject copies report to ("" outside). */
  private importDest = "";
  /** The reply imports made for this trace's remote events, and the events expected back through them. */
  private readonly replyImports: Array<() => void> = [];
  private replyTree: ReplyNode | undefined;

  private constructor(
    readonly dest: string,
    readonly traceOnly: boolean,
    /** The account the event goes to. */
    readonly account: Account,
    private readonly ingressAccount: string,
    /** This server's hop id (from Nats-Trace-Hop), "" at the origin. */
    readonly hop: string,
    readonly kind: number,
    private readonly header: Record<string, string[]>,
    private readonly msgSize: number,
    private readonly compression: Compression,
    private readonly serverInfo: () => Json | undefined,
  ) {}

  /**
   * Does a header block ask for a trace? The cheap test for every message with headers; a
   * `traceparent` counts only in an account with a trace destination.
   */
  static requested(hdr: Buffer, account: Account): boolean {
    if (hdr.indexOf(TRACE_KEY) >= 0) return true;
    return account.traceDest !== undefined && hdr.toString("latin1").toLowerCase().includes(HDR_TRACE_PARENT);
  }

  /** Start a trace for a message whose headers are `hdr` (nats-server's initMsgTrace). */
  static start(ing: TraceIngress, hdr: Buffer, ingressError?: string): TraceStart {
    const parsed = traceHeaders(hdr);
    if (parsed === undefined) return NONE;
    const { header, external } = parsed;
    const first = (k: string): string => header[k]?.[0] ?? "";
    let dest = "";
    let traceOnly = false;
    if (!external) {
      const only = first(HDR_TRACE_ONLY).toLowerCase();
      traceOnly = only === "1" || only === "true" || only === "on";
      dest = first(HDR_TRACE_DEST);
      if (dest === "") return traceOnly ? SKIP : NONE;
    }
    const origin = first(HDR_TRACE_ORIGIN_ACCOUNT);
    if (origin !== "") {
      // A pre-2.11 server's header: no tracing, delivered (unless trace-only) with tracing off.
      ing.logError(`Message tracing disabled because of header ${JSON.stringify(HDR_TRACE_ORIGIN_ACCOUNT)} with value=${JSON.stringify(origin)}`);
      if (traceOnly) return SKIP;
      return ingressError === undefined ? DISABLE : NONE;
    }
    const account = ing.account;
    if (external) {
      dest = account.traceDest ?? "";
      if (dest === "") return NONE;
      // Sampled once, where the message enters the system; other servers follow that choice.
      if (ing.kind === TraceKind.client && !sample(account.traceSampling)) return ingressError === undefined ? DISABLE : NONE;
    }
    if (!isValidLiteralSubject(dest)) {
      ing.logError(`Destination ${JSON.stringify(dest)} is not valid, won't be able to trace events`);
      return traceOnly ? SKIP : NONE;
    }
    if (!destinationAllowed(ing, dest)) {
      ing.refused(dest);
      return SKIP;
    }
    const t = new MsgTrace(
      dest,
      traceOnly,
      account,
      account.name,
      ing.kind === TraceKind.client ? "" : first(HDR_TRACE_HOP),
      ing.kind,
      header,
      ing.size,
      compressionOf(first(HDR_ACCEPT_ENCODING)),
      ing.serverInfo,
    );
    const e: Json = { type: "in", ts: now(), kind: ing.kind, cid: ing.cid };
    if (ing.name !== "") e.name = ing.name;
    e.acc = account.name;
    e.subj = ing.subject;
    if (ingressError !== undefined) e.error = ingressError;
    t.events.push(e);
    return { trace: t, skip: false, disable: false };
  }

  /** The message was refused where it came in (permissions): the event says why. */
  ingressError(text: string): void {
    const e = this.events[0];
    if (e !== undefined) e.error = text;
  }

  /** An account mapping changed the subject. */
  mapped(to: string): void {
    this.events.push({ type: "sm", ts: now(), to });
  }

  /** A stream import took the message into `importer`, on subject `to`. */
  streamExport(importer: string, to: string): void {
    this.events.push({ type: "se", ts: now(), acc: importer, to });
  }

  /** A service import took the message from `from` into `exporter` on `to`. */
  serviceImport(exporter: string, from: string, to: string): void {
    this.events.push({ type: "si", ts: now(), acc: exporter, from, to });
  }

  /** The message went (or, trace-only, would go) to a client's subscription. */
  egress(receiver: { cid: number; opts: { name: string }; account: Account }, sub: { subject: string; queue?: string }, error?: string): void {
    const e: Json = { type: "eg", ts: now(), kind: TraceKind.client, cid: receiver.cid };
    if (receiver.opts.name) e.name = receiver.opts.name;
    if (receiver.account.name !== this.ingressAccount) e.acc = receiver.account.name;
    e.sub = sub.subject;
    if (sub.queue !== undefined) e.queue = sub.queue;
    if (error !== undefined) e.error = error;
    this.events.push(e);
  }

  /**
   * A copy of the message is about to go to another server. Returns its headers with the hop
   * id that server reports (`Nats-Trace-Hop`, and the service import's reply destination
   * when inside one), or undefined when it must not go (trace-only, and the peer does not
   * trace); the egress event is recorded either way.
   */
  toRemote(remote: TraceRemote, hdr: Buffer): Buffer | undefined {
    if (!remote.tracesMessages && this.traceOnly) {
      this.remoteEgress(remote, "", TraceError.onlyNoSupport);
      return undefined;
    }
    this.hops++;
    const nhop = this.hop !== "" ? `${this.hop}.${this.hops}` : String(this.hops);
    // Events of copies sent from inside a service import come back through its reply import.
    if (this.kind === TraceKind.client && this.importDest !== "") (this.replyTree ??= newReplyNode(0)).hops++;
    const out = setHeader(hdr, HDR_TRACE_HOP, nhop);
    this.remoteEgress(remote, nhop, remote.tracesMessages ? undefined : TraceError.noSupport);
    return out;
  }

  private remoteEgress(remote: TraceRemote, hop: string, error: string | undefined): void {
    const e: Json = { type: "eg", ts: now(), kind: remote.traceKind, cid: remote.cid };
    if (remote.traceName !== "") e.name = remote.traceName;
    if (hop !== "") e.hop = hop;
    if (remote.traceAccount !== undefined && remote.traceAccount !== this.ingressAccount) e.acc = remote.traceAccount;
    if (error !== undefined) e.error = error;
    this.events.push(e);
  }

  /** Where events of this server's copies go now: inside a service import, its reply subject. */
  get currentDest(): string {
    return this.importDest !== "" ? this.importDest : this.dest;
  }

  /**
   * A service import that allows tracing: what is routed in the exporter carries `dest` (a
   * reply subject of the exporter leading back to this trace's destination), so other servers'
   * events reach it; `remove` drops that reply import. Returns the state `leaveServiceImport` restores.
   */
  enterServiceImport(dest: string, remove: () => void): string {
    const prev = this.importDest;
    this.importDest = dest;
    this.replyImports.push(remove);
    return prev;
  }

  /** Back from a service import: when no copy went to another server through any import, its reply import is not needed. */
  leaveServiceImport(prev: string, remove: () => void): void {
    this.importDest = prev;
    if (this.replyTree === undefined) {
      remove();
      const i = this.replyImports.indexOf(remove);
      if (i >= 0) this.replyImports.splice(i, 1);
    }
  }

  /**
   * Another server's event came back through a reply import: once the event of every copy
   * sent (and of the copies those servers sent on) is in, the reply imports go.
   */
  replyEventArrived(payload: Buffer): void {
    const root = this.replyTree;
    if (root === undefined) return;
    let e: { hops?: unknown; request?: { header?: Record<string, unknown> } };
    try {
      e = JSON.parse(payload.toString()) as typeof e;
    } catch {
      return; // compressed or foreign: the reply imports expire with their threshold
    }
    const hop = e.request?.header?.[HDR_TRACE_HOP];
    if (!Array.isArray(hop) || hop.length !== 1 || typeof hop[0] !== "string") return;
    const path = hop[0].split(".");
    let parent = root;
    for (let i = 0; i < path.length; i++) {
      const tree = (parent.tree ??= new Map());
      let node = tree.get(path[i]!);
      if (node === undefined) {
        node = newReplyNode(-1);
        tree.set(path[i]!, node);
      }
      if (node.hops === -1 && i === path.length - 1) {
        node.hops = typeof e.hops === "number" ? e.hops : 0;
        parent.received++;
      }
      parent = node;
    }
    if (allReceived(root)) {
      for (const remove of this.replyImports) remove();
      this.replyImports.length = 0;
      this.replyTree = undefined;
    }
  }

  /** A stream received the message; `jetStreamDone` fills in what it did. */
  jetStream(stream: string): void {
    this.js = { type: "js", ts: now(), stream };
    this.events.push(this.js);
  }

  jetStreamDone(subject: string | undefined, noInterest: boolean, error: string | undefined): void {
    const js = this.js;
    if (js === undefined) return;
    js.ts = now();
    if (subject !== undefined) js.subject = subject;
    if (noInterest) js.nointerest = true;
    if (error !== undefined) js.error = error;
  }

  /** The headers a stream stores with a traced message: tracing off for its deliveries. */
  static disabledIn(hdr: Buffer): Buffer {
    return replaceHeaderValue(hdr, HDR_TRACE_DEST, TRACE_DISABLED);
  }

  /** Headers with tracing switched off (nats-server's setHeader: the old value removed, the new one appended). */
  static disable(hdr: Buffer): Buffer {
    return setHeader(hdr, HDR_TRACE_DEST, TRACE_DISABLED);
  }

  /** Publish the event to the destination, in the trace's account. */
  send(): void {
    const server = this.serverInfo();
    if (server === undefined) return;
    const event: Json = { server, request: {} };
    const request = event.request as Json;
    if (Object.keys(this.header).length > 0) request.header = sortedMap(this.header);
    if (this.msgSize > 0) request.msgsize = this.msgSize;
    if (this.hops > 0) event.hops = this.hops;
    event.events = this.events;
    let body: Buffer = Buffer.from(JSON.stringify(event));
    let hdr: Buffer | undefined;
    if (this.compression !== "") {
      if (this.compression === "gzip") body = gzipSync(body);
      else if (this.compression === "snappy") body = snappyEncodeStream(body);
      hdr = appendHeaders(undefined, [["Content-Encoding", this.compression]]);
    }
    this.account.publish(this.dest, "", hdr, body);
  }
}

/** One hop of the events expected back through reply imports: how many copies it sent on, how many reported. */
interface ReplyNode {
  hops: number;
  received: number;
  tree?: Map<string, ReplyNode>;
}

function newReplyNode(hops: number): ReplyNode {
  return { hops, received: 0 };
}

function allReceived(n: ReplyNode): boolean {
  if (n.hops !== n.received) return false;
  if (n.tree !== undefined) for (const c of n.tree.values()) if (!allReceived(c)) return false;
  return true;
}

function now(): string {
  return rfc3339(nowNs());
}

/** nats-server's sampling: 1..99 percent of messages (a draw of 0..99 at most `sampling`). */
function sample(sampling: number): boolean {
  if (sampling <= 0 || sampling >= 100) return true;
  return Math.floor(Math.random() * 100) <= sampling;
}

/** Reply subjects of gateways and the client side of NRG are never trace destinations. */
function destinationAllowed(ing: TraceIngress, dest: string): boolean {
  if (dest.startsWith("_GR_.")) return false;
  if (dest.startsWith("$NRG.") && !ing.account.isSystem) return false;
  return ing.mayPublish(dest);
}

function compressionOf(acceptEncoding: string): Compression {
  if (acceptEncoding === "") return "";
  const v = acceptEncoding.toLowerCase();
  if (v.includes("snappy") || v.includes("s2")) return "snappy";
  if (v.includes("gzip")) return "gzip";
  return "identity";
}

/** Keys sorted as Go marshals a map. */
function sortedMap(m: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const k of Object.keys(m).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = m[k]!;
  return out;
}

/**
 * The headers as a map (names keep their case) when they ask for a trace: `Nats-Trace-Dest`
 * (exact name; "trace disabled" means no) or a `traceparent` (any case) whose flags say
 * sampled, then `external` (the account's destination applies). As nats-server reads them:
 * values trimmed of blanks, empty ones skipped, a status line means no headers.
 */
function traceHeaders(hdr: Buffer): { header: Record<string, string[]>; external: boolean } | undefined {
  if (hdr.length < HDR_LINE.length || hdr.compare(HDR_LINE, 0, HDR_LINE.length, 0, HDR_LINE.length) !== 0) return undefined;
  const text = hdr.toString("latin1");
  const keys: string[] = [];
  const vals: string[] = [];
  let destFound = false;
  let parentFound = false;
  let i = HDR_LINE.length;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const key = text.slice(i, colon);
    let vs = colon + 1;
    while (vs < text.length && (text[vs] === " " || text[vs] === "\t")) vs++;
    const nl = text.indexOf("\r\n", vs);
    if (nl < 0) break;
    let ve = nl;
    while (ve > vs && (text[ve - 1] === " " || text[ve - 1] === "\t")) ve--;
    const val = text.slice(vs, ve);
    if (key.length > 0 && val.length > 0) {
      vals.push(val);
      if (!parentFound && key.toLowerCase() === HDR_TRACE_PARENT) {
        const tk = val.split("-");
        if (tk.length === 4 && tk[3]!.length === 2 && /^[0-9a-fA-F]{2}$/.test(tk[3]!) && (parseInt(tk[3]!, 16) & 1) === 1) parentFound = true;
      } else if (!destFound && key === HDR_TRACE_DEST) {
        if (val === TRACE_DISABLED) return undefined;
        destFound = true;
      }
      keys.push(key);
    }
    i = nl + 2;
  }
  if (!destFound && !parentFound) return undefined;
  const header: Record<string, string[]> = {};
  for (let k = 0; k < keys.length; k++) (header[keys[k]!] ??= []).push(vals[k]!);
  return { header, external: !destFound };
}

/** `key`'s value replaced where it stands (nats-server's package-level setHeader), appended when absent. */
function replaceHeaderValue(hdr: Buffer, key: string, value: string): Buffer {
  const text = hdr.toString("latin1");
  const at = text.indexOf(`\r\n${key}:`);
  if (at < 0) return setHeader(hdr, key, value);
  let vs = at + 2 + key.length + 1;
  if (text[vs] === " ") vs++;
  const ve = text.indexOf("\r", vs);
  if (ve < 0) return hdr;
  return Buffer.from(text.slice(0, vs) + value + text.slice(ve), "latin1");
}

/** The trace of the message being routed right now (see the file comment). */
export let activeTrace: MsgTrace | undefined;

export function setActiveTrace(t: MsgTrace | undefined): MsgTrace | undefined {
  const prev = activeTrace;
  activeTrace = t;
  return prev;
}
