// Backups in the format nats-server wrote before 2.15 (and still restores): a tar (PAX) of
// its file-store directory. The way to move streams from nats-server 2.14 and older.
//
// What is read (facts from nats-server's filestore.go):
//   meta.inf            JSON: the stream config with its "Created" time;
//   msgs/<n>.blk        message records, little endian: u32 length (high bit: has headers),
//                       u64 sequence (bit 63: erased, bit 62: tombstone of a deleted
//                       sequence), i64 timestamp, u16 subject length, subject, [u32 header
//                       length, headers], data, 8-byte checksum (HighwayHash, not checked
//                       here: the records are re-checked by tsnats' own store once written);
//   obs/<c>/meta.inf    JSON: the consumer config with "Created" and "Name";
//   obs/<c>/o.dat       consumer state: magic 22, version, uvarint ack floor (consumer, stream),
//                       delivered (consumer, stream), pending (count, base time, then per entry
//                       stream seq and consumer seq as deltas from the ack floor and a time
//                       delta in seconds), redelivered (count, then seq delta and count);
//   msgs/index.db      the stream state: magic 11, version, uvarint msgs, bytes, first seq,
//                       varint first time, uvarint last seq, varint last time, the subjects
//                       (count; length, subject, total, first block[, last block]), then per
//                       block: index, bytes, first seq, varint first time, last seq, varint
//                       last time, deleted count[, ttls][, schedules] and, when deletes, the
//                       deleted sequences as an AVL sequence set (magic 22, version, u32 nodes,
//                       u32 size, per node: u64 base, 32 (v1: 64) u64 bit buckets, u16 height);
//   meta.sum and the like are not needed.
// Messages are stored in sequence order with their sequence and timestamp. What was deleted
// (erased records, tombstones, and what index.db records as deleted or below a block's first
// sequence) is removed once the whole backup is in, so every gap is where it was.
import { emptyConsumerState, type ConsumerState } from "../storage/store.js";
import { parseRfc3339 } from "../server/time.js";
import { normalizeConsumerConfig, type ConsumerConfig } from "./consumer_config.js";
import type { JsAccount } from "./jetstream.js";
import { restoreConsumer, type RestoreSink } from "./snapshot.js";
import type { Stream } from "./stream.js";
import type { StreamConfig } from "./stream_config.js";

const BLOCK = 512;
const HBIT = 0x80000000;
const MAX_FILE = 1 << 30;

export function restoreV1(jsa: JsAccount, cfg: StreamConfig): RestoreSink {
  return new TarRestore(jsa, cfg);
}

/** nats-server's ConsumerConfig JSON keys are tsnats' too; "Created" and "Name" are extra in meta.inf. */
function consumerConfigOf(j: Record<string, unknown>): Partial<ConsumerConfig> {
  const { Created: _c, Name: _n, ...rest } = j;
  return rest as Partial<ConsumerConfig>;
}

export function decodeConsumerStateV1(buf: Buffer): ConsumerState {
  if (buf.length < 2 || buf[0] !== 22 || (buf[1] !== 1 && buf[1] !== 2)) throw new Error("consumer state: bad header");
  const version = buf[1];
  let at = 2;
  const uvarint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= buf.length) throw new Error("consumer state: truncated");
      const b = buf[at++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error("consumer state: bad varint");
  };
  const varint = (): number => {
    const u = uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  };
  const st = emptyConsumerState();
  st.ack_floor.consumer_seq = uvarint();
  st.ack_floor.stream_seq = uvarint();
  st.delivered.consumer_seq = uvarint();
  st.delivered.stream_seq = uvarint();
  if (version === 1) {
    if (st.ack_floor.consumer_seq > 1) st.delivered.consumer_seq += st.ack_floor.consumer_seq - 1;
    if (st.ack_floor.stream_seq > 1) st.delivered.stream_seq += st.ack_floor.stream_seq - 1;
  }
  if (at >= buf.length) return st;
  const pending = uvarint();
  if (pending > 0) {
    const mints = varint();
    for (let i = 0; i < pending; i++) {
      const sseq = uvarint() + st.ack_floor.stream_seq;
      const dseq = version === 2 ? uvarint() + st.ack_floor.consumer_seq : 0;
      const ts = varint();
      const secs = version === 1 ? ts + mints : mints - ts;
      st.pending.set(sseq, { sequence: dseq, timestamp: secs * 1000 });
    }
  }
  if (at >= buf.length) return st;
  const redelivered = uvarint();
  for (let i = 0; i < redelivered; i++) {
    const seq = uvarint() + st.ack_floor.stream_seq;
    const n = uvarint();
    if (n > 0) st.redelivered.set(seq, n);
  }
  return st;
}

class TarRestore implements RestoreSink {
  private buf = Buffer.alloc(0);
  private file: { name: string; size: number; data: Buffer[]; got: number } | undefined;
  private pad = 0;
  private pax: Record<string, string> = {};
  private ended = false;
  private stream: Stream | undefined;
  private lseq = 0;
  private readonly tombstones: number[] = [];
  /** First sequence stored from each block, to drop what index.db says a block no longer holds. */
  private readonly blockFirst = new Map<number, number>();
  private index: IndexDb | undefined;
  private erasedTo = 0;
  private readonly consumerMeta = new Map<string, Record<string, unknown>>();
  private readonly consumerState = new Map<string, ConsumerState>();

  constructor(
    private readonly jsa: JsAccount,
    private readonly cfg: StreamConfig,
  ) {}

  push(data: Buffer): void {
    this.buf = this.buf.length === 0 ? Buffer.from(data) : Buffer.concat([this.buf, data]);
    let at = 0;
    for (;;) {
      if (this.file !== undefined) {
        const n = Math.min(this.file.size - this.file.got, this.buf.length - at);
        if (n > 0) {
          this.file.data.push(Buffer.from(this.buf.subarray(at, at + n)));
          this.file.got += n;
          at += n;
        }
        if (this.file.got < this.file.size) break;
        const f = this.file;
        this.file = undefined;
        this.pad = (BLOCK - (f.size % BLOCK)) % BLOCK;
        this.entry(f.name, Buffer.concat(f.data));
      }
      if (this.pad > 0) {
        const n = Math.min(this.pad, this.buf.length - at);
        this.pad -= n;
        at += n;
        if (this.pad > 0) break;
      }
      if (this.buf.length - at < BLOCK) break;
      const h = this.buf.subarray(at, at + BLOCK);
      at += BLOCK;
      if (h.every((b) => b === 0)) {
        this.ended = true;
        continue;
      }
      if (this.ended) throw new Error("data after the end of the tar archive");
      const str = (o: number, n: number): string => {
        const s = h.toString("utf8", o, o + n);
        const z = s.indexOf("\0");
        return z >= 0 ? s.slice(0, z) : s;
      };
      let size = parseInt(str(124, 12).trim() || "0", 8);
      const type = String.fromCharCode(h[156] || 48);
      let name = str(0, 100);
      if (h.toString("latin1", 257, 262) === "ustar") {
        const prefix = str(345, 155);
        if (prefix !== "") name = `${prefix}/${name}`;
      }
      if (this.pax.path !== undefined) name = this.pax.path;
      if (this.pax.size !== undefined) size = Number(this.pax.size);
      if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE) throw new Error(`unexpected content: bad tar entry size for ${JSON.stringify(name)}`);
      if (type === "x" || type === "g") {
        this.file = { name: type === "x" ? "\0pax" : "\0gpax", size, data: [], got: 0 };
      } else if (type === "0" || type === "\0") {
        this.pax = {};
        this.file = { name, size, data: [], got: 0 };
      } else {
        throw new Error(`unexpected content: tar entry ${JSON.stringify(name)} of type ${JSON.stringify(type)}`);
      }
      if (size === 0) {
        const f = this.file;
        this.file = undefined;
        this.entry(f.name, Buffer.alloc(0));
      }
    }
    this.buf = at >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(at));
  }

  private entry(name: string, data: Buffer): void {
    if (name === "\0gpax") return;
    if (name === "\0pax") {
      // "<len> <key>=<value>\n" records apply to the next entry.
      const text = data.toString("utf8");
      for (let at = 0; at < text.length; ) {
        const sp = text.indexOf(" ", at);
        if (sp < 0) break;
        const len = Number(text.slice(at, sp));
        if (!(len > 0)) break;
        const rec = text.slice(sp + 1, at + len - 1);
        const eq = rec.indexOf("=");
        if (eq > 0) this.pax[rec.slice(0, eq)] = rec.slice(eq + 1);
        at += len;
      }
      return;
    }
    const clean = name.replace(/^\.\//, "");
    if (clean.split("/").some((p) => p === "..")) throw new Error("unexpected content");
    if (clean === "meta.inf") {
      const j = JSON.parse(data.toString("utf8")) as Record<string, unknown>;
      if (j.name !== undefined && j.name !== this.cfg.name) {
        // nats-server's check: the backup is of the stream named in the request.
        throw new Error("stream names do not match");
      }
      const created = typeof j.Created === "string" ? parseRfc3339(j.Created) : undefined;
      this.stream = this.jsa.createStreamForRestore(this.cfg, created !== undefined && created > 0n ? created : undefined);
      return;
    }
    const blk = /^msgs\/(\d+)\.blk$/.exec(clean);
    if (blk !== null) {
      this.records(Number(blk[1]), data);
      return;
    }
    if (clean === "msgs/index.db") {
      this.index = decodeIndexDb(data);
      return;
    }
    const obs = /^obs\/([^/]+)\/(meta\.inf|o\.dat)$/.exec(clean);
    if (obs !== null) {
      if (obs[2] === "meta.inf") this.consumerMeta.set(obs[1], JSON.parse(data.toString("utf8")) as Record<string, unknown>);
      else this.consumerState.set(obs[1], decodeConsumerStateV1(data));
    }
  }

  private records(block: number, buf: Buffer): void {
    const stream = this.stream;
    if (stream === undefined) throw new Error("message block before meta.inf");
    for (let at = 0; at + 22 <= buf.length; ) {
      const rl0 = buf.readUInt32LE(at);
      const hasHdr = (rl0 & HBIT) !== 0;
      const rl = rl0 & ~HBIT;
      if (rl < 30 || at + rl > buf.length) throw new Error("corrupt message block");
      const hi = buf.readUInt32LE(at + 8);
      const lo = buf.readUInt32LE(at + 4);
      const erased = (hi & 0x80000000) !== 0;
      const tomb = (hi & 0x40000000) !== 0;
      const seq = (hi & 0x3fffffff) * 0x100000000 + lo;
      const ts = buf.readBigInt64LE(at + 12);
      const slen = buf.readUInt16LE(at + 20);
      if (tomb) this.tombstones.push(seq);
      else if (erased) {
        // An erased message still holds its sequence (the gap is made before the next stored one, or at the end).
        this.erasedTo = Math.max(this.erasedTo, seq);
      } else if (!erased && seq > this.lseq) {
        if (!this.blockFirst.has(block)) this.blockFirst.set(block, seq);
        let p = at + 22;
        const subject = buf.toString("utf8", p, p + slen);
        p += slen;
        let hdr: Buffer | undefined;
        if (hasHdr) {
          const hl = buf.readUInt32LE(p);
          p += 4;
          hdr = buf.subarray(p, p + hl);
          p += hl;
        }
        const data = buf.subarray(p, at + rl - 8);
        if (seq > this.lseq + 1) stream.store.skipMsgs(this.lseq + 1, seq - this.lseq - 1);
        stream.store.storeRawMsg(subject, hdr !== undefined && hdr.length > 0 ? hdr : undefined, data, seq, ts);
        this.lseq = seq;
      }
      at += rl;
    }
  }

  finish(): Stream {
    if (!this.ended && (this.file !== undefined || this.buf.length > 0)) throw new Error("backup was truncated");
    const stream = this.stream;
    if (stream === undefined) throw new Error("backup has no meta.inf");
    for (const seq of this.tombstones) stream.store.removeMsg(seq);
    const idx = this.index;
    if (idx !== undefined) {
      for (const b of idx.blocks) {
        const first = this.blockFirst.get(b.index);
        if (first !== undefined) for (let seq = first; seq < b.firstSeq; seq++) stream.store.removeMsg(seq);
        for (const seq of b.deleted) stream.store.removeMsg(seq);
      }
      if (idx.firstSeq > 1) stream.store.compact(idx.firstSeq);
    }
    const last = stream.store.state().lastSeq;
    const target = Math.max(idx?.lastSeq ?? 0, this.erasedTo);
    if (target > last) stream.store.skipMsgs(last + 1, target - last, idx !== undefined && idx.lastTime > 0n ? idx.lastTime : undefined);
    for (const [name, meta] of this.consumerMeta) {
      const cfg = normalizeConsumerConfig(consumerConfigOf(meta), stream.cfg);
      const created = typeof meta.Created === "string" ? parseRfc3339(meta.Created) : undefined;
      restoreConsumer(stream, name, cfg, this.consumerState.get(name) ?? emptyConsumerState(), created);
    }
    this.jsa.completeRestore(stream);
    return stream;
  }

  abort(): void {
    if (this.stream !== undefined) this.jsa.abortRestore(this.stream);
  }
}

interface IndexDb {
  firstSeq: number;
  lastSeq: number;
  lastTime: bigint;
  blocks: Array<{ index: number; firstSeq: number; deleted: number[] }>;
}

/** The parts of nats-server's msgs/index.db a restore needs (see the file header). */
function decodeIndexDb(buf: Buffer): IndexDb {
  if (buf.length < 2 || buf[0] !== 11 || buf[1] < 1 || buf[1] > 4) throw new Error("index.db: unknown format");
  const version = buf[1];
  let at = 2;
  const u = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= buf.length) throw new Error("index.db: truncated");
      const b = buf[at++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error("index.db: bad varint");
  };
  const ubig = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (at >= buf.length) throw new Error("index.db: truncated");
      const b = buf[at++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
    throw new Error("index.db: bad varint");
  };
  const i64 = (): bigint => {
    const z = ubig();
    return (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
  };
  u(); // msgs
  u(); // bytes
  const firstSeq = u();
  i64(); // first time
  const lastSeq = u();
  const lastTime = i64();
  const subjects = u();
  for (let k = 0; k < subjects; k++) {
    const len = u();
    at += len;
    const total = u();
    u(); // first block
    if (total > 1 || version >= 4) u(); // last block
  }
  const blocks: IndexDb["blocks"] = [];
  const n = u();
  for (let k = 0; k < n; k++) {
    const index = u();
    u(); // bytes
    const fseq = u();
    i64();
    u(); // last seq
    i64();
    const numDeleted = u();
    if (version >= 2) u(); // ttls
    if (version >= 3) u(); // schedules
    const deleted: number[] = [];
    if (numDeleted > 0) at = decodeSeqSet(buf, at, deleted);
    blocks.push({ index, firstSeq: fseq, deleted });
  }
  return { firstSeq, lastSeq, lastTime, blocks };
}

/** nats-server's AVL sequence set encoding: returns where it ends, adds its sequences to `out`. */
function decodeSeqSet(buf: Buffer, at: number, out: number[]): number {
  if (buf.length < at + 10 || buf[at] !== 22) throw new Error("index.db: bad delete map");
  const version = buf[at + 1];
  const buckets = version === 1 ? 64 : version === 2 ? 32 : 0;
  if (buckets === 0) throw new Error("index.db: unknown delete map version");
  const nodes = buf.readUInt32LE(at + 2);
  at += 10;
  if (nodes > (buf.length - at) / ((buckets + 1) * 8 + 2)) throw new Error("index.db: bad delete map");
  for (let k = 0; k < nodes; k++) {
    const base = Number(buf.readBigUInt64LE(at));
    at += 8;
    for (let b = 0; b < buckets; b++) {
      const lo = buf.readUInt32LE(at);
      const hi = buf.readUInt32LE(at + 4);
      at += 8;
      for (let bit = 0; bit < 32; bit++) {
        if (lo & (1 << bit)) out.push(base + b * 64 + bit);
        if (hi & (1 << bit)) out.push(base + b * 64 + 32 + bit);
      }
    }
    at += 2;
  }
  return at;
}
