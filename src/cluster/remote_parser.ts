// Parser of the server-to-server protocols (routes, leaf nodes, gateways): the same byte-level
// framing as the client protocol, with the ops servers exchange. Which ops a connection may send
// and what their arguments mean is for the connection to decide; this only frames them:
//
//   INFO {json} | CONNECT {json} | PING | PONG | +OK | -ERR <text>
//   RS+ / RS- / LS+ / LS- / A+ / A- <args>          interest (subscriptions) of the other side
//   RMSG / LMSG <args> <size> | HMSG <args> <hdr> <size>   then <payload>\r\n
//
// A message whose payload is whole in the read buffer is handed on as offsets into it (no copy);
// a payload split across reads is assembled into a buffer of its final size. The control line of
// a message repeats for a run of messages on one subject, so its parsed arguments are reused when
// its bytes are the same as the previous one's.
import { ProtocolError, ProtoErr } from "../protocol/errors.js";
import { type JoinedInputParser, parseJoined } from "../protocol/read_join.js";
import { MSG_END_N, MSG_END_R, parserError, payloadEndError, unknownOpError, type ParserKind } from "../protocol/parse_error.js";

export type SubOp = "RS+" | "LS+" | "A+";
export type UnsubOp = "RS-" | "LS-" | "A-";
export type MsgOp = "RMSG" | "HMSG" | "LMSG";

export interface RemoteParserHandler {
  onInfo(json: string): void;
  onConnect(json: string): void;
  onPing(): void;
  onPong(): void;
  onErr(text: string): void;
  onSub(op: SubOp, args: readonly string[], line: string): void;
  onUnsub(op: UnsubOp, args: readonly string[], line: string): void;
  /** A message line was read: return the payload size (headers included) its arguments announce. */
  onMsgArgs(op: MsgOp, args: readonly string[]): number;
  /** The payload of the last message line: bytes buf[start, end), without the trailing CRLF. */
  onMsg(buf: Buffer, start: number, end: number): void;
}

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
/** The last message line is remembered up to this size for the repeated-line shortcut. */
const LAST_LINE_MAX = 512;

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

function decode(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return buf.toString("utf8", start, end);
  return (buf as Latin1Buffer).latin1Slice(start, end);
}

/** Split on runs of blanks (and stray CR/LF, as nats-server's argument splitting does). */
export function splitArgs(line: string): string[] {
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

export class RemoteParser implements JoinedInputParser {
  private partial: Buffer | undefined;
  private payload: Buffer | undefined;
  private payloadPos = 0;
  private readonly lastLine = Buffer.allocUnsafe(LAST_LINE_MAX);
  private lastLineLen = -1;
  private lastOp: MsgOp = "RMSG";
  private lastArgs: string[] = [];
  /** Longest control line accepted (nats-server allows 16 times max_control_line on these connections). */
  maxControlLine: number;
  maxPayload: number;
  /** Set by the handler while an op completes asynchronously (a bcrypt check): input is kept, not parsed. */
  held = false;
  /** The connection's kind as parse errors name it. */
  kind: ParserKind = "Router";
  /**
   * An accepted connection before its CONNECT: anything but CONNECT (and what `allowedFirst`
   * lets through) is an authentication error, as nats-server's parser has it.
   */
  awaitingConnect = false;
  allowedFirst: (c0: number) => boolean = () => false;
  /** While a joined input is parsed: how many of its bytes came in earlier reads (error offsets are the read's). */
  private readStart = 0;

  constructor(
    private readonly handler: RemoteParserHandler,
    maxControlLine: number,
    maxPayload: number,
  ) {
    this.maxControlLine = maxControlLine;
    this.maxPayload = maxPayload;
  }

  reset(): void {
    this.partial = undefined;
    this.payload = undefined;
    this.held = false;
  }

  /** What was kept while held, handed over (it will not be parsed here). */
  takeHeld(): Buffer | undefined {
    const rest = this.partial;
    this.partial = undefined;
    return rest;
  }

  /** Parse what was kept while held (call after clearing `held`). */
  resume(): void {
    this.parse(Buffer.alloc(0));
  }

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
      // A control line cut by the previous read: its rest and this read are parsed from one
      // copy, in a buffer shared by all connections (read_join.ts).
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

  /** Parse `buf` from `pos`: whole ops go to the handler, an unfinished one is copied and kept. */
  private parseFrom(buf: Buffer, pos: number): void {
    const len = buf.length;
    while (pos < len) {
      const nl = buf.indexOf(LF, pos);
      if (nl < 0) {
        if (len - pos > this.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
        this.partial = Buffer.from(buf.subarray(pos)); // a copy: see above
        return;
      }
      if (nl - pos > this.maxControlLine) throw new ProtocolError(ProtoErr.MaxControlLine);
      const end = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl;
      const next = nl + 1;
      const size = this.controlLine(buf, pos, end);
      if (size < 0) {
        pos = next;
        if (this.held) {
          if (pos < len) this.partial = Buffer.from(buf.subarray(pos));
          return;
        }
        continue;
      }
      // A message: its payload follows.
      const need = size + 2;
      if (len - next >= need) {
        if (buf[next + size] !== CR || buf[next + size + 1] !== LF) throw payloadEndError(buf, next + size, this.readStart, this.kind);
        this.handler.onMsg(buf, next, next + size);
        pos = next + need;
        continue;
      }
      this.payload = Buffer.allocUnsafe(need);
      this.payloadPos = buf.copy(this.payload, 0, next, len);
      return;
    }
  }

  private continuePayload(chunk: Buffer): number {
    const p = this.payload as Buffer;
    const n = Math.min(p.length - this.payloadPos, chunk.length);
    chunk.copy(p, this.payloadPos, 0, n);
    // The payload's end is checked in the assembled copy, reported at its offset in this read.
    const offset = this.payloadPos;
    this.payloadPos += n;
    const size = p.length - 2;
    if (this.payloadPos > size && p[size] !== CR) throw parserError(MSG_END_R, chunk, size - offset, 0, this.kind);
    if (this.payloadPos < p.length) return -1;
    this.payload = undefined;
    if (p[size + 1] !== LF) throw parserError(MSG_END_N, chunk, size + 1 - offset, 0, this.kind);
    this.handler.onMsg(p, 0, size);
    return n;
  }

  /** Dispatch one control line; returns the payload size for a message line, else -1. */
  private controlLine(buf: Buffer, start: number, end: number): number {
    const h = this.handler;
    const c0 = buf[start] | 0x20;
    if (this.awaitingConnect && c0 !== 0x63 && !this.allowedFirst(c0)) throw new ProtocolError(ProtoErr.AuthViolation, "authentication error");
    if (end === start) return -1;
    // The message ops first: they are the traffic.
    if ((c0 === 0x72 || c0 === 0x6c || c0 === 0x68) && isWord(buf, start, end, c0 === 0x68 ? "HMSG" : c0 === 0x72 ? "RMSG" : "LMSG", true)) {
      return this.msgLine(buf, start, end, c0 === 0x68 ? "HMSG" : c0 === 0x72 ? "RMSG" : "LMSG");
    }
    if (isWord(buf, start, end, "PING", false)) {
      h.onPing();
      return -1;
    }
    if (isWord(buf, start, end, "PONG", false)) {
      h.onPong();
      return -1;
    }
    if (isWord(buf, start, end, "+OK", false)) return -1;
    for (const op of ["RS+", "LS+", "A+"] as const) {
      if (isWord(buf, start, end, op, true)) {
        const line = decode(buf, start + op.length, end).trim();
        h.onSub(op, splitArgs(line), line);
        return -1;
      }
    }
    for (const op of ["RS-", "LS-", "A-"] as const) {
      if (isWord(buf, start, end, op, true)) {
        const line = decode(buf, start + op.length, end).trim();
        h.onUnsub(op, splitArgs(line), line);
        return -1;
      }
    }
    if (isWord(buf, start, end, "INFO", false)) {
      h.onInfo(buf.toString("utf8", start + 4, end).trim());
      return -1;
    }
    if (isWord(buf, start, end, "CONNECT", false)) {
      h.onConnect(buf.toString("utf8", start + 7, end).trim());
      return -1;
    }
    if (isWord(buf, start, end, "-ERR", false)) {
      h.onErr(buf.toString("utf8", start + 4, end).trim());
      return -1;
    }
    throw unknownOpError(buf, start, this.readStart, this.kind);
  }

  private msgLine(buf: Buffer, start: number, end: number, op: MsgOp): number {
    const n = end - start;
    const last = this.lastLine;
    let args: string[];
    if (n === this.lastLineLen && op === this.lastOp) {
      let i = 0;
      while (i < n && buf[start + i] === last[i]) i++;
      args = i === n ? this.lastArgs : this.splitMsgLine(buf, start, end, op);
    } else args = this.splitMsgLine(buf, start, end, op);
    const size = this.handler.onMsgArgs(op, args);
    if (size > this.maxPayload) {
      throw new ProtocolError(ProtoErr.MaxPayload, `maximum payload exceeded: ${size} vs ${this.maxPayload}`);
    }
    return size;
  }

  private splitMsgLine(buf: Buffer, start: number, end: number, op: MsgOp): string[] {
    const args = splitArgs(decode(buf, start + op.length + 1, end));
    const n = end - start;
    if (n <= LAST_LINE_MAX) {
      buf.copy(this.lastLine, 0, start, end);
      this.lastLineLen = n;
      this.lastOp = op;
      this.lastArgs = args;
    } else this.lastLineLen = -1;
    return args;
  }
}

/** Does buf[start, end) begin with `word` (case-insensitive), followed by a blank when `needsArg`? */
function isWord(buf: Buffer, start: number, end: number, word: string, needsArg: boolean): boolean {
  const n = word.length;
  if (end - start < n) return false;
  for (let i = 0; i < n; i++) {
    let c = buf[start + i];
    if (c >= 0x61 && c <= 0x7a) c -= 32;
    if (c !== word.charCodeAt(i)) return false;
  }
  if (end - start === n) return !needsArg;
  const sep = buf[start + n];
  return sep === SPACE || sep === TAB || (!needsArg && (word === "INFO" || word === "CONNECT" || word === "-ERR" || sep === CR));
}
