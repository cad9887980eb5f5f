// Client protocol parser: a state machine over raw bytes. Control lines are located with
// Buffer.indexOf (native) instead of a JS byte loop; payloads are never decoded to strings,
// and a payload that is whole in the read buffer is handed on as a zero-copy subarray.
// Any op may be split at any byte across reads: an incomplete control line is kept and
// joined with the next read, an incomplete payload is copied into a buffer of its final size.
// Nothing of a read is kept past parse() without a copy: reads may share one buffer
// (server/shared_reads.ts).
import { ProtoErr, ProtocolError } from "./errors.js";
import { type JoinedInputParser, parseJoined } from "./read_join.js";
import { parserError, MSG_END_N, MSG_END_R, payloadEndError, unknownOpError } from "./parse_error.js";

export interface ParserHandler {
  onConnect(json: string): void;
  /**
   * A message: its bytes are buf[start, end), the first `hdrLen` of them headers (-1: none).
   * Passed as offsets so a message nobody receives costs no Buffer allocation.
   */
  onPub(subject: string, reply: string, hdrLen: number, buf: Buffer, start: number, end: number): void;
  onSub(subject: string, queue: string | undefined, sid: string): void;
  onUnsub(sid: string, max: number): void;
  onPing(): void;
  onPong(): void;
  onInfo(json: string): void;
  onClientErr(text: string): void;
  /**
   * The reply subject of the last message this connection received ("" for none). A responder
   * publishes to the reply it was just sent: decodeSubject then reuses that string.
   */
  readonly lastReplyDelivered?: string;
  /** Called for every complete op, before it is processed (auth gating, tracing). */
  beforeOp?(op: string): void;
  /** PUB/HPUB line read, payload not yet: nats-server's pedantic subject check happens here. */
  checkPublish?(subject: string): void;
  /** An HPUB over the payload limit, with what this read holds of its headers (message tracing reports it). */
  onMaxPayloadHeaders?(subject: string, size: number, hdr: Buffer): void;
}

export interface ParserLimits {
  maxControlLine: number;
  maxPayload: number;
}

/** Longest PUB subject the parser remembers to reuse its string. */
const LAST_SUBJECT_MAX = 128;
const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;

/** Split the argument part of a SUB/UNSUB line on runs of blanks, CR and LF (as nats-server; PUB only on blanks). */
function splitArgs(line: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === SPACE || c === TAB || c === CR || c === LF) {
      if (start >= 0) {
        out.push(line.substring(start, i));
        start = -1;
      }
    } else if (start < 0) start = i;
  }
  if (start >= 0) out.push(line.substring(start));
  return out;
}

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Subjects are mostly ASCII: decode those as latin1 (fastest), anything else as UTF-8. */
function decodeToken(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    if (buf[i] >= 0x80) return buf.toString("utf8", start, end);
  }
  return (buf as Latin1Buffer).latin1Slice(start, end);
}

/** Are buf[start, start + s.length) the ASCII characters of `s`? (Bytes above 0x7f never match: they decode as UTF-8.) */
function sameAscii(buf: Buffer, start: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = buf[start + i];
    if (c >= 0x80 || c !== s.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * nats-server reads sizes of at most 9 digits (999M): a longer one, even 0000000001 or one
 * that only a max_payload refusal would stop, is a bad size and closes the connection silently.
 */
const MAX_SIZE_DIGITS = 9;

function parseSizeBytes(buf: Buffer, start: number, end: number): number {
  if (end - start === 0 || end - start > MAX_SIZE_DIGITS) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function parseSize(s: string): number {
  // Digits only, like nats-server's parseSize; anything else is -1.
  if (s.length === 0 || s.length > MAX_SIZE_DIGITS) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

export class Parser implements JoinedInputParser {
  /** Unfinished control line from the previous read. */
  private partial: Buffer | undefined;
  /** While a joined input is parsed: how many of its bytes came in earlier reads (error offsets are the read's). */
  private readStart = 0;
  /** Payload being assembled across reads. */
  private payload: Buffer | undefined;
  private payloadPos = 0;
  private pendingSubject = "";
  private pendingReply = "";
  private pendingHdr = -1;
  private readonly tok = new Int32Array(12);
  /** The argument text of the SUB/UNSUB being dispatched, as sent (nats-server traces it verbatim). */
  argText = "";
  /** Set by the handler while an op completes asynchronously (CONNECT awaiting auth): input is kept, not parsed. */
  held = false;
  /** The last PUB subject, as bytes and string: publishers tend to repeat subjects. Made at the first PUB (most connections of a big server never publish). */
  private lastSubjectBytes: Buffer | undefined;
  private lastSubjectLen = -1;
  private lastSubject = "";

  constructor(
    private readonly handler: ParserHandler,
    public limits: ParserLimits,
  ) {}

  /** Drop buffered input (the connection is closed). */
  reset(): void {
    this.partial = undefined;
    this.payload = undefined;
    this.held = false;
  }

  /** Parse one read. Throws ProtocolError on a violation; the caller closes the connection. */
  parse(chunk: Buffer): void {
    if (this.held) {
      // Kept past this read: copied, since a read may be a view into a shared buffer.
      this.partial = this.partial === undefined ? Buffer.from(chunk) : Buffer.concat([this.partial, chunk]);
      return;
    }
    if (this.payload !== undefined) {
      const pos = this.continuePayload(chunk);
      if (pos >= 0) this.parseFrom(chunk, pos);
    } else if (this.partial === undefined) {
      this.parseFrom(chunk, 0);
    } else {
      // A control line cut by the previous read: parse its rest and this read from one copy
      // (in a buffer shared by all connections: read_join.ts).
      const partial = this.partial;
      this.partial = undefined;
      this.readStart = partial.length;
      try {
        parseJoined(partial, chunk, this);
      } finally {
        this.readStart = 0;
      }
    }
  }

  /** The previous read's unfinished control line and the next read, joined. */
  parseJoined(buf: Buffer): void {
    this.parseFrom(buf, 0);
  }

  /** Parse `buf` from `pos`: whole ops go to the handler, an unfinished one is kept. */
  private parseFrom(buf: Buffer, pos: number): void {
    const len = buf.length;
    const h = this.handler;
    while (pos < len) {
      // A well-formed PUB whose payload is in this read takes one pass over its bytes.
      if ((buf[pos] | 0x20) === 0x70) {
        const after = this.fastPub(buf, pos, len);
        if (after >= 0) {
          pos = after;
          continue;
        }
      }
      let nl = buf.indexOf(LF, pos);
      if (nl > pos && buf[nl - 1] !== CR && lfStartsArgument(buf, pos, nl)) nl = buf.indexOf(LF, nl + 1);
      if (nl < 0) {
        this.checkPartialLine(buf, pos, len);
        this.partial = Buffer.from(buf.subarray(pos)); // a copy: see above
        return;
      }
      const lineEnd = lineEndOf(buf, pos, nl);
      const c0 = buf[pos] | 0x20; // lower-case the first letter
      const next = nl + 1;
      // PUB / HPUB: the hot path.
      if ((c0 === 0x70 || c0 === 0x68) && this.isOp(buf, pos, lineEnd, c0 === 0x70 ? "PUB" : "HPUB")) {
        const isHpub = c0 === 0x68;
        h.beforeOp?.(isHpub ? "HPUB" : "PUB");
        // Like nats-server, the limit applies to the arguments, not to the op name.
        if (lineEnd - skipBlanks(buf, pos + (isHpub ? 4 : 3), lineEnd) > this.limits.maxControlLine) {
          throw new ProtocolError(ProtoErr.MaxControlLine);
        }
        const total = this.pubArgs(buf, pos + (isHpub ? 4 : 3), lineEnd, isHpub, next);
        h.checkPublish?.(this.pendingSubject);
        const need = total + 2;
        if (len - next >= need) {
          this.checkPayloadEnd(buf, next + total);
          h.onPub(this.pendingSubject, this.pendingReply, this.pendingHdr, buf, next, next + total);
          pos = next + need;
          continue;
        }
        // Payload spans reads: assemble it into its final-size buffer.
        if (len - next > total && buf[next + total] !== CR) this.checkPayloadEnd(buf, next + total);
        this.payload = Buffer.allocUnsafe(need);
        this.payloadPos = buf.copy(this.payload, 0, next, len);
        return;
      }
      this.controlOp(buf, pos, lineEnd);
      pos = next;
      if (this.held) {
        if (pos < len) this.partial = Buffer.from(buf.subarray(pos));
        return;
      }
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

  /** Splits the arguments in buf[from, to) into `tok` (start/end pairs); returns their count (max 5). */
  private scanArgs(buf: Buffer, from: number, to: number): number {
    const tok = this.tok;
    let n = 0;
    let i = from;
    while (i < to) {
      let c = buf[i];
      if (c === SPACE || c === TAB) {
        i++;
        continue;
      }
      if (n === 5) return 6;
      tok[2 * n] = i;
      while (i < to && (c = buf[i]) !== SPACE && c !== TAB) i++;
      tok[2 * n + 1] = i;
      n++;
    }
    return n;
  }

  /** Validates PUB/HPUB arguments straight from the bytes and remembers them; returns the payload size. */
  private pubArgs(buf: Buffer, from: number, to: number, headers: boolean, rest: number): number {
    const n = this.scanArgs(buf, from, to);
    const tok = this.tok;
    let hdr = -1;
    let total: number;
    let reply = "";
    if (headers) {
      if (n === 4) reply = decodeToken(buf, tok[2], tok[3]);
      else if (n !== 3) throw pubArgError(headers, "Parse Error", buf, from, to);
      hdr = parseSizeBytes(buf, tok[2 * n - 4], tok[2 * n - 3]);
      total = parseSizeBytes(buf, tok[2 * n - 2], tok[2 * n - 1]);
      if (hdr < 0 || total < 0 || hdr > total) throw pubArgError(headers, "Bad or Missing Size", buf, from, to);
    } else {
      if (n === 3) reply = decodeToken(buf, tok[2], tok[3]);
      else if (n !== 2) throw pubArgError(headers, "Parse Error", buf, from, to);
      total = parseSizeBytes(buf, tok[2 * n - 2], tok[2 * n - 1]);
      if (total < 0) throw pubArgError(headers, "Bad or Missing Size", buf, from, to);
    }
    if (total > this.limits.maxPayload) {
      // What of the headers this read holds may ask for a trace of the refusal (nats-server does the same).
      if (hdr > 0 && rest < buf.length && this.handler.onMaxPayloadHeaders !== undefined) {
        this.handler.onMaxPayloadHeaders(this.decodeSubject(buf, tok[0], tok[1]), total, buf.subarray(rest, Math.min(buf.length, rest + hdr)));
      }
      throw new ProtocolError(ProtoErr.MaxPayload, `maximum payload exceeded: ${total} vs ${this.limits.maxPayload}`);
    }
    this.pendingSubject = this.decodeSubject(buf, tok[0], tok[1]);
    this.pendingReply = reply;
    this.pendingHdr = hdr;
    return total;
  }

  /**
   * `PUB <subject> [reply] <size>\r\n<payload>\r\n`, complete in `buf`, with nothing unusual:
   * dispatched here in a single scan. Returns the offset after it, or -1 to let the general
   * path handle (and report) anything else: other ops, split reads, odd spacing, errors.
   */
  private fastPub(buf: Buffer, pos: number, len: number): number {
    // A read that ends within "PUB " is the slow path's (a partial line). Reading past the
    // buffer's end would give undefined, which the checks below reject too, but each such read
    // deoptimizes this function's optimized code ("out of bounds"): a 1 KiB stream cut its PUB
    // lines there three times in a run, and each recompilation of this function is about 10 ms
    // of compiler time while the stream waits for the CPU.
    if (pos + 4 >= len) return -1;
    if ((buf[pos + 1] | 0x20) !== 0x75 || (buf[pos + 2] | 0x20) !== 0x62) return -1;
    let c = buf[pos + 3];
    if (c !== SPACE && c !== TAB) return -1;
    const tok = this.tok;
    const limit = Math.min(len, pos + 4 + this.limits.maxControlLine);
    let i = pos + 4;
    let n = 0;
    while (i < limit) {
      c = buf[i];
      if (c === SPACE || c === TAB) {
        i++;
        continue;
      }
      if (c === CR || c === LF || n === 3) break;
      tok[2 * n] = i;
      while (++i < limit && (c = buf[i]) !== SPACE && c !== TAB && c !== CR && c !== LF);
      tok[2 * n + 1] = i;
      n++;
    }
    if (n < 2 || i + 1 >= limit || buf[i] !== CR || buf[i + 1] !== LF) return -1;
    const size = parseSizeBytes(buf, tok[2 * n - 2], tok[2 * n - 1]);
    const start = i + 2;
    if (size < 0 || size > this.limits.maxPayload || len - start < size + 2) return -1;
    if (buf[start + size] !== CR || buf[start + size + 1] !== LF) return -1;
    const h = this.handler;
    h.beforeOp?.("PUB");
    const subject = this.decodeSubject(buf, tok[0], tok[1]);
    const reply = n === 3 ? decodeToken(buf, tok[2], tok[3]) : "";
    h.checkPublish?.(subject);
    h.onPub(subject, reply, -1, buf, start, start + size);
    return start + size + 2;
  }

  /** Returns the same string object for a repeated subject, which keeps map lookups cheap downstream. */
  private decodeSubject(buf: Buffer, start: number, end: number): string {
    const n = end - start;
    const last = (this.lastSubjectBytes ??= Buffer.allocUnsafe(LAST_SUBJECT_MAX));
    if (n === this.lastSubjectLen) {
      let i = 0;
      while (i < n && buf[start + i] === last[i]) i++;
      if (i === n) return this.lastSubject;
    }
    // A reply to the message just delivered: the same subject as its reply, already a string
    // (request/reply would otherwise decode every reply inbox twice, once per side).
    const hint = this.handler.lastReplyDelivered;
    const subject = hint !== undefined && hint.length === n && sameAscii(buf, start, hint) ? hint : decodeToken(buf, start, end);
    if (n <= last.length) {
      // A byte loop: Buffer.copy of a range allocates a view of the source (a new subject per
      // message when every request has its own reply inbox).
      for (let i = 0; i < n; i++) last[i] = buf[start + i];
      this.lastSubjectLen = n;
      this.lastSubject = subject;
    }
    return subject;
  }

  private checkPayloadEnd(buf: Buffer, at: number): void {
    if (buf[at] !== CR || buf[at + 1] !== LF) throw payloadEndError(buf, at, this.readStart);
  }

  /** Continues a payload split across reads; returns the offset after it, or -1 if still incomplete. */
  private continuePayload(chunk: Buffer): number {
    const p = this.payload as Buffer;
    const want = p.length - this.payloadPos;
    const n = Math.min(want, chunk.length);
    chunk.copy(p, this.payloadPos, 0, n);
    // The payload's end is checked in the assembled copy, reported at its offset in this read.
    const offset = this.payloadPos;
    this.payloadPos += n;
    const total = p.length - 2;
    // A wrong byte where the payload's CR belongs is an error now, not after more reads.
    if (this.payloadPos > total && p[total] !== CR) throw parserError(MSG_END_R, chunk, total - offset);
    if (this.payloadPos < p.length) return -1;
    this.payload = undefined;
    if (p[total + 1] !== LF) throw parserError(MSG_END_N, chunk, total + 1 - offset);
    this.handler.onPub(this.pendingSubject, this.pendingReply, this.pendingHdr, p, 0, total);
    return n;
  }

  /**
   * A control line still waiting for its LF. nats-server parses byte by byte and rejects an
   * impossible op at once, so do the same with the bytes seen so far; and bound the line's size.
   */
  private checkPartialLine(buf: Buffer, pos: number, len: number): void {
    if (!couldStartOp(buf, pos, len)) throw unknownOpError(buf, pos, this.readStart);
    if (len - pos > this.limits.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
  }

  private controlOp(buf: Buffer, start: number, end: number): void {
    const h = this.handler;
    // As in nats-server: PING, PONG and +OK ignore the rest of their line; CONNECT and INFO take
    // everything after their name (blanks skipped) as argument; SUB, UNSUB and -ERR need a blank.
    if (matchWord(buf, start, end, "PING")) {
      h.beforeOp?.("PING");
      h.onPing();
      return;
    }
    if (matchWord(buf, start, end, "PONG")) {
      h.beforeOp?.("PONG");
      h.onPong();
      return;
    }
    if (matchWord(buf, start, end, "+OK")) return;
    const op = controlWord(buf, start, end);
    if (op === undefined) {
      // Before CONNECT, an auth-requiring server answers anything but a C... line with an auth violation.
      if ((buf[start] | 0x20) !== 0x63) h.beforeOp?.("?");
      throw unknownOpError(buf, start, this.readStart);
    }
    h.beforeOp?.(op);
    const argStart = skipBlanks(buf, start + op.length, end);
    if (end - argStart > this.limits.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
    switch (op) {
      case "SUB": {
        this.argText = decodeToken(buf, argStart, end);
        const args = splitArgs(this.argText);
        if (args.length === 2) h.onSub(args[0], undefined, args[1]);
        else if (args.length === 3) h.onSub(args[0], args[1], args[2]);
        else throw new ProtocolError("", `processSub Parse Error: ${JSON.stringify(args.join(" "))}`);
        return;
      }
      case "UNSUB": {
        this.argText = decodeToken(buf, argStart, end);
        const args = splitArgs(this.argText);
        if (args.length === 1) h.onUnsub(args[0], 0);
        else if (args.length === 2) {
          // nats-server ignores a max that is not a number.
          h.onUnsub(args[0], Math.max(0, parseSize(args[1])));
        } else throw new ProtocolError("", `processUnsub Parse Error: ${JSON.stringify(args.join(" "))}`);
        return;
      }
      case "CONNECT":
        h.onConnect(buf.toString("utf8", argStart, end));
        return;
      case "INFO":
        h.onInfo(buf.toString("utf8", argStart, end));
        return;
      default:
        h.onClientErr(buf.toString("utf8", argStart, end));
    }
  }
}

/**
 * nats-server quirk, kept so the two frame lines alike: a LF right after an op's blanks (or right
 * after CONNECT/INFO) is taken as the argument's first byte, so the line runs on to the next LF.
 */
function pubArgError(headers: boolean, what: string, buf: Buffer, from: number, to: number): ProtocolError {
  const args = JSON.stringify(buf.toString("utf8", from, to).trim());
  return new ProtocolError("", `${headers ? "processHeaderPub" : "processPub"} ${what}: ${args}`);
}

function lfStartsArgument(buf: Buffer, pos: number, nl: number): boolean {
  const last = buf[nl - 1];
  if (!isBlank(last) && nl - pos > 7) return false;
  for (const w of ["PUB", "HPUB", "SUB", "UNSUB", "-ERR", "CONNECT", "INFO"]) {
    if (!matchWord(buf, pos, nl, w)) continue;
    const needsBlank = w !== "CONNECT" && w !== "INFO";
    if (needsBlank && !isBlank(buf[pos + w.length])) continue;
    return skipBlanks(buf, pos + w.length, nl) === nl;
  }
  return false;
}

/**
 * Where a control line's text ends: before a CR+LF, else at the LF; but like nats-server, a CR
 * anywhere after the argument's first byte makes it drop the one byte before the LF.
 */
function lineEndOf(buf: Buffer, pos: number, nl: number): number {
  if (nl === pos) return nl;
  if (buf[nl - 1] === CR) return nl - 1;
  let i = pos;
  while (i < nl && !isBlank(buf[i])) i++;
  i = skipBlanks(buf, i, nl);
  return i + 1 < nl && buf.subarray(i + 1, nl).includes(CR) ? nl - 1 : nl;
}

function isBlank(c: number | undefined): boolean {
  return c === SPACE || c === TAB;
}

function skipBlanks(buf: Buffer, from: number, end: number): number {
  while (from < end && isBlank(buf[from])) from++;
  return from;
}

/**
 * The op of a control line other than PING, PONG and +OK, by its first letter: CONNECT and INFO
 * take what follows their name, SUB, UNSUB and -ERR need a blank after it.
 */
function controlWord(buf: Buffer, start: number, end: number): "CONNECT" | "INFO" | "SUB" | "UNSUB" | "-ERR" | undefined {
  switch (buf[start] | 0x20) {
    case 0x63 /* c */:
      return matchWord(buf, start, end, "CONNECT") ? "CONNECT" : undefined;
    case 0x69 /* i */:
      return matchWord(buf, start, end, "INFO") ? "INFO" : undefined;
    case 0x73 /* s */:
      return matchWord(buf, start, end, "SUB") && isBlank(buf[start + 3]) ? "SUB" : undefined;
    case 0x75 /* u */:
      return matchWord(buf, start, end, "UNSUB") && isBlank(buf[start + 5]) ? "UNSUB" : undefined;
    case 0x2d /* - */:
      return matchWord(buf, start, end, "-ERR") && isBlank(buf[start + 4]) ? "-ERR" : undefined;
    default:
      return undefined;
  }
}

/** Case-insensitive: does buf[start, end) begin with `word`? (letters folded, other bytes exact) */
function matchWord(buf: Buffer, start: number, end: number, word: string): boolean {
  const n = word.length;
  if (end - start < n) return false;
  for (let i = 0; i < n; i++) {
    let c = buf[start + i];
    if (c >= 0x61 && c <= 0x7a) c -= 32;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** Op names of the client protocol; `blank` ones must be followed by a space or tab. */
const OP_WORDS: ReadonlyArray<{ word: string; blank: boolean }> = [
  { word: "PUB", blank: true },
  { word: "HPUB", blank: true },
  { word: "SUB", blank: true },
  { word: "UNSUB", blank: true },
  { word: "-ERR", blank: true },
  { word: "PING", blank: false },
  { word: "PONG", blank: false },
  { word: "+OK", blank: false },
  { word: "CONNECT", blank: false },
  { word: "INFO", blank: false },
];

/** Could buf[start, end), an unfinished line, still become a valid control line? */
function couldStartOp(buf: Buffer, start: number, end: number): boolean {
  const n = end - start;
  for (const { word, blank } of OP_WORDS) {
    const k = Math.min(n, word.length);
    if (!matchWord(buf, start, start + k, word.slice(0, k))) continue;
    if (blank && n > word.length && !isBlank(buf[start + word.length])) continue;
    return true;
  }
  return false;
}
