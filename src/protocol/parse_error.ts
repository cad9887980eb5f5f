// The log line of a parse error, as nats-server 2.15 writes it:
//
//   <Client|Router|Gateway|Leafnode> parser ERROR, state=<n>, i=<i>: proto='<%q of up to 32 bytes from i>...'
//
// nats-server parses byte by byte: <n> is its parser state when the offending byte came
// (server/parser.go numbers them in one list, as facts: 0 before an op, 29 after "P", 41 where
// a payload's CR belongs, 42 its LF ...), <i> that byte's offset in the read (or WebSocket
// frame) it came in, and the snippet starts there; when fewer than 32 bytes follow, the
// read's last byte is left out (nats-server's protoSnippet). tsnats parses whole lines, so the
// state is found again by walking the op name through the same states.
import { ProtoErr, ProtocolError } from "./errors.js";
import { goQuoteBytes } from "../server/go_quote.js";

/** Who sent what did not parse, as nats-server names the kind of connection. */
export type ParserKind = "Client" | "Router" | "Gateway" | "Leafnode";

interface OpName {
  word: string;
  states: readonly number[];
  blank: boolean;
}

/** nats-server's parser states after each letter of the op names every kind of connection may send. */
const OPS: readonly OpName[] = [
  { word: "PUB", states: [29, 30, 31], blank: true },
  { word: "PING", states: [29, 34, 35, 36], blank: false },
  { word: "PONG", states: [29, 37, 38, 39], blank: false },
  { word: "HPUB", states: [18, 19, 20, 21], blank: true },
  { word: "HMSG", states: [18, 24, 25, 26], blank: true },
  { word: "SUB", states: [43, 44, 45], blank: true },
  { word: "UNSUB", states: [59, 60, 61, 62, 63], blank: true },
  { word: "CONNECT", states: [10, 11, 12, 13, 14, 15, 16], blank: false },
  { word: "INFO", states: [71, 72, 73, 74], blank: false },
  { word: "+OK", states: [1, 2, 3], blank: false },
  { word: "-ERR", states: [4, 5, 6, 7], blank: true },
];

/** Server connections' ops ("LS"/"LMSG" only from routes and leaf nodes). */
const SERVER_OPS: readonly OpName[] = [
  { word: "RS+", states: [57, 58, 45], blank: true },
  { word: "RS-", states: [57, 58, 63], blank: true },
  { word: "RMSG", states: [57, 66, 67, 68], blank: true },
  { word: "A+", states: [48, 49], blank: true },
  { word: "A-", states: [48, 52], blank: true },
];
const LS_OPS: readonly OpName[] = [
  { word: "LS+", states: [55, 56, 45], blank: true },
  { word: "LS-", states: [55, 56, 63], blank: true },
  { word: "LMSG", states: [55, 66, 67, 68], blank: true },
];
const OPS_OF: Record<ParserKind, readonly OpName[]> = {
  Client: OPS,
  Router: [...OPS, ...SERVER_OPS, ...LS_OPS],
  Leafnode: [...OPS, ...SERVER_OPS, ...LS_OPS],
  Gateway: [...OPS, ...SERVER_OPS],
};

/** Where a payload's CR and LF belong. */
export const MSG_END_R = 41;
export const MSG_END_N = 42;

const SNIPPET = 32;

/**
 * Walks the op name in buf[start, end) through nats-server's states: the state and offset of
 * the first byte it refuses, or undefined when every byte so far fits an op.
 */
export function opNameError(buf: Uint8Array, start: number, end: number, kind: ParserKind = "Client"): { state: number; at: number } | undefined {
  let state = 0;
  let candidates = OPS_OF[kind];
  for (let k = 0; start + k < end; k++) {
    const c = buf[start + k];
    const upper = c >= 0x61 && c <= 0x7a ? c - 32 : c;
    const done = candidates.find((o) => o.word.length === k);
    if (done !== undefined) {
      // The name is complete: a blank-requiring op needs one now; the others take anything.
      if (!done.blank || c === 0x20 || c === 0x09) return undefined;
      return { state, at: start + k };
    }
    const next = candidates.filter((o) => o.word.charCodeAt(k) === upper);
    if (next.length === 0) return { state, at: start + k };
    candidates = next;
    state = next[0].states[k];
  }
  return undefined;
}

/**
 * The error for an offending byte at `at` of `buf`, whose first `readStart` bytes came in an
 * earlier read (a control line cut by it): the offset and snippet are the current read's.
 */
export function parserError(state: number, buf: Uint8Array, at: number, readStart = 0, kind: ParserKind = "Client"): ProtocolError {
  const read = at >= readStart ? buf.subarray(readStart) : buf;
  const i = at >= readStart ? at - readStart : at;
  let snippet = '""';
  if (i < read.length) {
    const stop = i + SNIPPET > read.length ? read.length - 1 : i + SNIPPET;
    snippet = goQuoteBytes(read.subarray(i, stop));
  }
  return new ProtocolError(ProtoErr.UnknownOp, `${kind} parser ERROR, state=${state}, i=${i}: proto='${snippet}...'`);
}

/** A line from `start` (up to the end of `buf`, its CR LF included) that is no op of the protocol. */
export function unknownOpError(buf: Uint8Array, start: number, readStart = 0, kind: ParserKind = "Client"): ProtocolError {
  const e = opNameError(buf, start, buf.length, kind) ?? { state: 0, at: start };
  return parserError(e.state, buf, e.at, readStart, kind);
}

/** The two bytes at `at` should end a payload (CR LF). */
export function payloadEndError(buf: Uint8Array, at: number, readStart = 0, kind: ParserKind = "Client"): ProtocolError {
  return buf[at] !== 0x0d ? parserError(MSG_END_R, buf, at, readStart, kind) : parserError(MSG_END_N, buf, at + 1, readStart, kind);
}
