// A turn's changes of replicated consumers (deliveries, acks, naks...) as the bytes of one RAFT
// entry of a replicated stream (stream_replica.ts), instead of JSON: a fetch of 500 with explicit
// acks makes 1000 changes, which every member writes to its log, fsyncs and applies.
//
//   [kind u8] [names u8] names: ([len u8] [utf8])...  [ops u32] ops: ([name index u8] [code u8] [fields f64...])...
//
// Every number is a float64 (a JS number round-trips exactly). Changes that carry more than
// numbers (a config update) are not encoded here: `encodeConsumerOps` returns undefined and the
// caller writes JSON as before; so does a turn with more than 255 consumers or a longer name.
import type { ConsumerOp } from "./consumer.js";

export interface NamedConsumerOp {
  name: string;
  c: ConsumerOp;
}

const DELIVER = 1;
const ACK = 2;
const ACK_ALL = 3;
const NAK = 4;
const PROGRESS = 5;
const TERM = 6;
const MAX_DELIVERED = 7;
const GONE = 8;
const RESET_START = 9;
const RESET = 10;
const DELIVERY_KINDS = ["new", "lps", "re"] as const;

/** Fields after the code, by code (in the order written). */
const FIELDS: Record<number, number> = { [DELIVER]: 4, [ACK]: 1, [ACK_ALL]: 1, [NAK]: 2, [PROGRESS]: 2, [TERM]: 1, [MAX_DELIVERED]: 1, [GONE]: 1, [RESET_START]: 1, [RESET]: 1 };

function codeOf(c: ConsumerOp): number {
  switch (c.op) {
    case "deliver":
      return DELIVER;
    case "ack":
      return ACK;
    case "ack_all":
      return ACK_ALL;
    case "nak":
      return NAK;
    case "progress":
      return PROGRESS;
    case "term":
      return TERM;
    case "max_delivered":
      return MAX_DELIVERED;
    case "gone":
      return GONE;
    case "reset_start":
      return RESET_START;
    case "reset":
      return RESET;
    default:
      return 0;
  }
}

/** The entry (its first byte `kind`), or undefined when a change or a name does not fit the format. */
export function encodeConsumerOps(kind: number, list: readonly NamedConsumerOp[]): Buffer | undefined {
  const names: string[] = [];
  const index = new Map<string, number>();
  let size = 2 + 4;
  for (const { name, c } of list) {
    const code = codeOf(c);
    if (code === 0) return undefined;
    if (!index.has(name)) {
      const len = Buffer.byteLength(name);
      if (len > 255 || names.length === 255) return undefined;
      index.set(name, names.length);
      names.push(name);
      size += 1 + len;
    }
    size += 2 + 8 * FIELDS[code];
  }
  const b = Buffer.allocUnsafe(size);
  b[0] = kind;
  b[1] = names.length;
  let o = 2;
  for (const n of names) {
    const len = b.write(n, o + 1, "utf8");
    b[o] = len;
    o += 1 + len;
  }
  b.writeUInt32LE(list.length, o);
  o += 4;
  for (const { name, c } of list) {
    b[o] = index.get(name) as number;
    const code = codeOf(c);
    b[o + 1] = code;
    o += 2;
    o = b.writeDoubleLE((c as { sseq: number }).sseq, o);
    if (c.op === "deliver") {
      o = b.writeDoubleLE(c.dc, o);
      o = b.writeDoubleLE(c.now, o);
      o = b.writeDoubleLE(DELIVERY_KINDS.indexOf(c.kind), o);
    } else if (c.op === "nak") o = b.writeDoubleLE(c.delayMs, o);
    else if (c.op === "progress") o = b.writeDoubleLE(c.now, o);
  }
  return b;
}

/** The changes of an entry `encodeConsumerOps` made. Throws on bytes it did not make. */
export function decodeConsumerOps(b: Buffer): NamedConsumerOp[] {
  const names: string[] = [];
  let o = 2;
  for (let i = 0; i < b[1]; i++) {
    const len = b[o];
    names.push(b.toString("utf8", o + 1, o + 1 + len));
    o += 1 + len;
  }
  const n = b.readUInt32LE(o);
  o += 4;
  const out: NamedConsumerOp[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const name = names[b[o]];
    const code = b[o + 1];
    if (name === undefined || FIELDS[code] === undefined) throw new Error("consumer changes entry does not decode");
    o += 2;
    const sseq = b.readDoubleLE(o);
    o += 8;
    let c: ConsumerOp;
    switch (code) {
      case DELIVER: {
        const kind = DELIVERY_KINDS[b.readDoubleLE(o + 16)];
        if (kind === undefined) throw new Error("consumer changes entry does not decode");
        c = { op: "deliver", sseq, dc: b.readDoubleLE(o), now: b.readDoubleLE(o + 8), kind };
        o += 24;
        break;
      }
      case NAK:
        c = { op: "nak", sseq, delayMs: b.readDoubleLE(o) };
        o += 8;
        break;
      case PROGRESS:
        c = { op: "progress", sseq, now: b.readDoubleLE(o) };
        o += 8;
        break;
      case ACK:
        c = { op: "ack", sseq };
        break;
      case ACK_ALL:
        c = { op: "ack_all", sseq };
        break;
      case TERM:
        c = { op: "term", sseq };
        break;
      case MAX_DELIVERED:
        c = { op: "max_delivered", sseq };
        break;
      case GONE:
        c = { op: "gone", sseq };
        break;
      case RESET_START:
        c = { op: "reset_start", sseq };
        break;
      default:
        c = { op: "reset", sseq };
    }
    out[i] = { name, c };
  }
  if (o !== b.length) throw new Error("consumer changes entry does not decode");
  return out;
}
