// Client protocol parser: a state machine over raw bytes. Control lines are located with
// Buffer.indexOf (native) instead of a JS byte loop; payloads are never decoded to strings,
// and a payload that is whole in the read buffer is handed on as a zero-copy subarray.
// Any op may be split at any byte across reads: an incomplete control line is kept and
// joined with the next read, an incomplete payload is copied into a buffer of its final size.
import { ProtoErr, ProtocolError } from "./errors.js";

export interface ParserHandler {
  onConnect(json: string): void;
  onPub(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void;
  onSub(subject: string, queue: string | undefined, sid: string): void;
  onUnsub(sid: string, max: number): void;
  onPing(): void;
  onPong(): void;
  onInfo(json: string): void;
  onClientErr(text: string): void;
  /** Called for every complete op, before it is processed (auth gating, tracing). */
  beforeOp?(op: string): void;
}

export interface ParserLimits {
  maxControlLine: number;
  maxPayload: number;
}

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const EMPTY = Buffer.alloc(0);

/** Split the argument part of a control line on runs of spaces and tabs. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      if (start >= 0) {
        out.push(line.substring(start, i));
        start = -1;
      }
    } else if (start < 0) start = i;
  }
  if (start >= 0) out.push(line.substring(start));
  return out;
}

function parseSize(s: string): number {
  // Digits only, like nats-server's parseSize; anything else is -1.
  if (s.length === 0 || s.length > 12) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

export class Parser {
  /** Unfinished control line from the previous read. */
  private partial: Buffer | undefined;
  /** Payload being assembled across reads. */
  private payload: Buffer | undefined;
  private payloadPos = 0;
  private pendingSubject = "";
  private pendingReply = "";
  private pendingHdr = -1;

  constructor(
    private readonly handler: ParserHandler,
    public limits: ParserLimits,
  ) {}

  /** Parse one read. Throws ProtocolError on a violation; the caller closes the connection. */
  parse(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;
    if (this.payload !== undefined) {
      pos = this.continuePayload(chunk);
      if (pos < 0) return;
    } else if (this.partial !== undefined) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    const len = buf.length;
    const h = this.handler;
    while (pos < len) {
      const nl = buf.indexOf(LF, pos);
      if (nl < 0) {
        if (len - pos > this.limits.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
        this.partial = buf.subarray(pos);
        return;
      }
      const lineEnd = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl;
      const c0 = buf[pos] | 0x20; // lower-case the first letter
      const next = nl + 1;
      // PUB / HPUB: the hot path.
      if ((c0 === 0x70 || c0 === 0x68) && this.isOp(buf, pos, lineEnd, c0 === 0x70 ? "PUB" : "HPUB")) {
        if (lineEnd - pos > this.limits.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
        const opLen = c0 === 0x70 ? 3 : 4;
        const args = splitArgs(buf.toString("utf8", pos + opLen, lineEnd));
        const total = this.pubArgs(args, c0 === 0x68);
        h.beforeOp?.(c0 === 0x70 ? "PUB" : "HPUB");
        const need = total + 2;
        if (len - next >= need) {
          this.checkPayloadEnd(buf, next + total);
          this.dispatchPayload(buf.subarray(next, next + total));
          pos = next + need;
          continue;
        }
        // Payload spans reads: assemble it into its final-size buffer.
        this.payload = Buffer.allocUnsafe(need);
        this.payloadPos = buf.copy(this.payload, 0, next, len);
        return;
      }
      if (lineEnd - pos > this.limits.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
      this.controlOp(buf, pos, lineEnd);
      pos = next;
    }
  }

  private isOp(buf: Buffer, start: number, end: number, op: string): boolean {
    const n = op.length;
    if (end - start <= n) return false;
    for (let i = 0; i < n; i++) {
      if ((buf[start + i] & 0xdf) !== op.charCodeAt(i)) return false;
    }
    const sep = buf[start + n];
    return sep === SPACE || sep === TAB;
  }

  /** Validates PUB/HPUB arguments and remembers them; returns the payload size. */
  private pubArgs(args: string[], headers: boolean): number {
    let subject: string;
    let reply = "";
    let hdr = -1;
    let total: number;
    if (headers) {
      if (args.length === 3) [subject, hdr, total] = [args[0], parseSize(args[1]), parseSize(args[2])];
      else if (args.length === 4) [subject, reply, hdr, total] = [args[0], args[1], parseSize(args[2]), parseSize(args[3])];
      else throw new ProtocolError("", `processHeaderPub Parse Error: ${JSON.stringify(args.join(" "))}`);
      if (hdr < 0 || total < 0 || hdr > total) throw new ProtocolError("", `processHeaderPub Bad or Missing Size: ${JSON.stringify(args.join(" "))}`);
    } else {
      if (args.length === 2) [subject, total] = [args[0], parseSize(args[1])];
      else if (args.length === 3) [subject, reply, total] = [args[0], args[1], parseSize(args[2])];
      else throw new ProtocolError("", `processPub Parse Error: ${JSON.stringify(args.join(" "))}`);
      if (total < 0) throw new ProtocolError("", `processPub Bad or Missing Size: ${JSON.stringify(args.join(" "))}`);
    }
    if (total > this.limits.maxPayload) {
      throw new ProtocolError(ProtoErr.MaxPayload, `maximum payload exceeded: ${total} vs ${this.limits.maxPayload}`);
    }
    this.pendingSubject = subject;
    this.pendingReply = reply;
    this.pendingHdr = hdr;
    return total;
  }

  private checkPayloadEnd(buf: Buffer, at: number): void {
    if (buf[at] !== CR || buf[at + 1] !== LF) throw new ProtocolError(ProtoErr.UnknownOp, "Client parser ERROR: payload not followed by CRLF");
  }

  private dispatchPayload(body: Buffer): void {
    const hdrLen = this.pendingHdr;
    if (hdrLen >= 0) {
      this.handler.onPub(this.pendingSubject, this.pendingReply, body.subarray(0, hdrLen), body.subarray(hdrLen));
    } else {
      this.handler.onPub(this.pendingSubject, this.pendingReply, undefined, body.length === 0 ? EMPTY : body);
    }
  }

  /** Continues a payload split across reads; returns the offset after it, or -1 if still incomplete. */
  private continuePayload(chunk: Buffer): number {
    const p = this.payload as Buffer;
    const want = p.length - this.payloadPos;
    const n = Math.min(want, chunk.length);
    chunk.copy(p, this.payloadPos, 0, n);
    this.payloadPos += n;
    if (this.payloadPos < p.length) return -1;
    this.payload = undefined;
    const total = p.length - 2;
    this.checkPayloadEnd(p, total);
    this.dispatchPayload(p.subarray(0, total));
    return n;
  }

  private controlOp(buf: Buffer, start: number, end: number): void {
    // Find the op word.
    let i = start;
    while (i < end && buf[i] !== SPACE && buf[i] !== TAB) i++;
    const op = buf.toString("latin1", start, i).toUpperCase();
    const h = this.handler;
    // nats-server reads PING/PONG by their four letters and skips the rest of the line.
    if (op.startsWith("PING")) {
      h.beforeOp?.("PING");
      h.onPing();
      return;
    }
    if (op.startsWith("PONG")) {
      h.beforeOp?.("PONG");
      h.onPong();
      return;
    }
    switch (op) {
      case "SUB": {
        const args = splitArgs(buf.toString("utf8", i, end));
        h.beforeOp?.(op);
        if (args.length === 2) h.onSub(args[0], undefined, args[1]);
        else if (args.length === 3) h.onSub(args[0], args[1], args[2]);
        else throw new ProtocolError("", `processSub Parse Error: ${JSON.stringify(args.join(" "))}`);
        return;
      }
      case "UNSUB": {
        const args = splitArgs(buf.toString("utf8", i, end));
        h.beforeOp?.(op);
        if (args.length === 1) h.onUnsub(args[0], 0);
        else if (args.length === 2) {
          // nats-server ignores a max that is not a number.
          h.onUnsub(args[0], Math.max(0, parseSize(args[1])));
        } else throw new ProtocolError(ProtoErr.UnknownOp, `processUnsub Parse Error: ${JSON.stringify(args.join(" "))}`);
        return;
      }
      case "CONNECT":
        if (i === end) break;
        h.beforeOp?.(op);
        h.onConnect(buf.toString("utf8", i, end).trim());
        return;
      case "INFO":
        h.beforeOp?.(op);
        h.onInfo(buf.toString("utf8", i, end).trim());
        return;
      case "+OK":
        return;
      case "-ERR":
        h.onClientErr(buf.toString("utf8", i, end).trim());
        return;
    }
    throw new ProtocolError(ProtoErr.UnknownOp, `unknown op ${JSON.stringify(op.slice(0, 32))}`);
  }
}
