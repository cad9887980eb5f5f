// Message tracing (ADR-41, nats-server 2.11). A message published with `Nats-Trace-Dest:
// <subject>` is followed through this server: where it came in ("in"), the account
// mapping that changed its subject ("sm"), each subscription it went out to ("eg"), the
// stream that stored it ("js", with the subject, "no interest" or the error). The event
// goes to the destination subject in the publisher's account as JSON, with the server's
// info, the request's headers and size. `Nats-Trace-Only: true` (or 1, on) traces without
// delivering: subscribers are listed but get nothing, streams check the message but store
// nothing. A stored message carries `Nats-Trace-Dest: trace disabled`, so that deliveries
// from the stream are not traced again.
//
// Routing is synchronous, so the message being traced is held in `activeTrace` while it
// is routed (the same way account.ts holds its routing state); nothing of this runs for
// messages without the header (one byte search per message with headers).
import type { Account } from "./account.js";
import { setHeader } from "../protocol/headers.js";
import { isValidLiteralSubject } from "../protocol/subject.js";
import { rfc3339, nowNs } from "./time.js";

export const HDR_TRACE_DEST = "Nats-Trace-Dest";
export const HDR_TRACE_ONLY = "Nats-Trace-Only";
export const HDR_TRACE_ORIGIN_ACCOUNT = "Nats-Trace-Origin-Account";
/** The value that turns tracing off for a message (not a valid subject, on purpose). */
export const TRACE_DISABLED = "trace disabled";

const TRACE_KEY = Buffer.from(`\r\n${HDR_TRACE_DEST}:`, "latin1");

/** Connection kinds as nats-server numbers them in trace events. */
export const KIND_CLIENT = 0;

type Json = Record<string, unknown>;

/** What a trace needs of the publishing connection. */
export interface TraceOrigin {
  cid: number;
  opts: { name: string };
  account: Account;
}

/** What a trace needs of the receiving connection. */
export interface TraceReceiver {
  cid: number;
  opts: { name: string };
  account: Account;
}

export class MsgTrace {
  private readonly events: Json[] = [];
  private js: Json | undefined;

  private constructor(
    readonly dest: string,
    readonly traceOnly: boolean,
    private readonly account: Account,
    private readonly header: Record<string, string[]>,
    private readonly msgSize: number,
    private readonly serverInfo: () => Json,
  ) {}

  /** Does a header block ask for a trace? (the cheap test for every message with headers) */
  static requested(hdr: Buffer): boolean {
    return hdr.indexOf(TRACE_KEY) >= 0;
  }

  /**
   * Start a trace for a client's publish. `skip`: the message must not be processed (a
   * trace-only request whose trace cannot be made).
   */
  static start(origin: TraceOrigin, subject: string, hdr: Buffer, size: number, serverInfo: () => Json): { trace?: MsgTrace; skip: boolean } {
    const header = headerMap(hdr);
    const dest = header[HDR_TRACE_DEST]?.[0];
    if (dest === undefined || dest === TRACE_DISABLED) return { skip: false };
    const only = (header[HDR_TRACE_ONLY]?.[0] ?? "").toLowerCase();
    const traceOnly = only === "1" || only === "true" || only === "on";
    if (header[HDR_TRACE_ORIGIN_ACCOUNT] !== undefined) return { skip: traceOnly };
    if (!isValidLiteralSubject(dest)) return { skip: traceOnly };
    const t = new MsgTrace(dest, traceOnly, origin.account, header, size, serverInfo);
    t.events.push({ type: "in", ts: rfc3339(nowNs()), kind: KIND_CLIENT, cid: origin.cid, ...(origin.opts.name ? { name: origin.opts.name } : {}), acc: origin.account.name, subj: subject });
    return { trace: t, skip: false };
  }

  /** An account mapping changed the subject. */
  mapped(to: string): void {
    this.events.push({ type: "sm", ts: rfc3339(nowNs()), to });
  }

  /** The message went (or, trace-only, would go) to a client's subscription. */
  egress(receiver: TraceReceiver, sub: { subject: string; queue?: string }, error?: string): void {
    const e: Json = { type: "eg", ts: rfc3339(nowNs()), kind: KIND_CLIENT, cid: receiver.cid };
    if (receiver.opts.name) e.name = receiver.opts.name;
    if (receiver.account !== this.account) e.acc = receiver.account.name;
    e.sub = sub.subject;
    if (sub.queue !== undefined) e.queue = sub.queue;
    if (error !== undefined) e.error = error;
    this.events.push(e);
  }

  /** A stream received the message; `done` fills in what it did. */
  jetStream(stream: string): void {
    this.js = { type: "js", ts: rfc3339(nowNs()), stream };
    this.events.push(this.js);
  }

  jetStreamDone(subject: string | undefined, noInterest: boolean, error: string | undefined): void {
    const js = this.js;
    if (js === undefined) return;
    js.ts = rfc3339(nowNs());
    if (subject !== undefined) js.subject = subject;
    if (noInterest) js.nointerest = true;
    if (error !== undefined) js.error = error;
  }

  /** The headers a stream stores with a traced message: tracing off for its deliveries. */
  static disabledIn(hdr: Buffer): Buffer {
    return setHeader(hdr, HDR_TRACE_DEST, TRACE_DISABLED);
  }

  /** Publish the event to the destination, in the publisher's account. */
  send(): void {
    const event = {
      server: this.serverInfo(),
      // Sorted as Go marshals a map.
      request: { header: Object.fromEntries(Object.entries(this.header).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), msgsize: this.msgSize },
      events: this.events,
    };
    this.account.publish(this.dest, "", undefined, Buffer.from(JSON.stringify(event)));
  }
}

/** The headers as a map (names keep their case), like nats-server's trace request header. */
function headerMap(hdr: Buffer): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const text = hdr.toString("latin1");
  const lines = text.split("\r\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (value === "") continue;
    (out[key] ??= []).push(value);
  }
  return out;
}

/** The trace of the message being routed right now (see the file comment). */
export let activeTrace: MsgTrace | undefined;

export function setActiveTrace(t: MsgTrace | undefined): MsgTrace | undefined {
  const prev = activeTrace;
  activeTrace = t;
  return prev;
}
