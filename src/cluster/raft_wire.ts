// RAFT messages as bytes, for the route transport (and the deterministic tests, which send every
// message through this codec). Little endian; entries travel as their log records (raft_store.ts),
// each with the CRC32 its leader computed, checked again here on receipt: a message that does not
// decode, or an entry that does not verify, is dropped (the leader sends it again).
//
//   u8 kind, u8 sender length, sender, then by kind:
//   1 prevote / 2 vote     u64 term, u64 last index, u64 last term, u8 transfer
//   3 prevote_resp / 4 vote_resp   u64 term, u8 granted
//   5 append   u64 term, u64 prev index, u64 prev term, u64 commit, u64 leader's last index,
//              u32 count, records
//   6 append_resp   u64 term, u8 success, u64 index, u64 incarnation
//   7 snap     u64 term, u64 index, u64 snapshot term, u64 offset, u64 total, u32 crc,
//              u32 config length, config (JSON), chunk (the rest)
//   8 snap_resp    u64 term, u64 index, u64 offset, u8 done, u64 incarnation
//   9 timeout_now  u64 term
import type { RaftMsg } from "./raft.js";
import { decodeConfig, encodeConfig, readRecord, type RaftEntry } from "./raft_store.js";

const KIND = { prevote: 1, vote: 2, prevote_resp: 3, vote_resp: 4, append: 5, append_resp: 6, snap: 7, snap_resp: 8, timeout_now: 9 } as const;

class Writer {
  buf: Buffer;
  off = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  u8(v: number): void {
    this.buf[this.off++] = v;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.off);
    this.off += 4;
  }
  u64(v: number): void {
    this.buf.writeUInt32LE(v % 0x1_0000_0000, this.off);
    this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.off + 4);
    this.off += 8;
  }
  bytes(b: Buffer): void {
    b.copy(this.buf, this.off);
    this.off += b.length;
  }
}

class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number): void {
    if (this.off + n > this.buf.length) throw new RangeError("short message");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++];
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readUInt32LE(this.off) + this.buf.readUInt32LE(this.off + 4) * 0x1_0000_0000;
    this.off += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
}

/**
 * The last append encoded: a leader sends the same append (same entries, same position) to each
 * follower that is caught up, in one go; those get the same bytes instead of a copy each of
 * every entry. Receivers copy what they keep (decodeRaftMsg), nothing writes into it.
 */
let lastAppend: { from: string; m: Extract<RaftMsg, { t: "append" }>; bytes: Buffer } | undefined;

function sameAppend(a: Extract<RaftMsg, { t: "append" }>, b: Extract<RaftMsg, { t: "append" }>): boolean {
  const n = a.entries.length;
  return (
    n === b.entries.length &&
    a.term === b.term &&
    a.prevIndex === b.prevIndex &&
    a.prevTerm === b.prevTerm &&
    a.commit === b.commit &&
    a.leaderLast === b.leaderLast &&
    (n === 0 || (a.entries[0] === b.entries[0] && a.entries[n - 1] === b.entries[n - 1]))
  );
}

export function encodeRaftMsg(from: string, m: RaftMsg): Buffer {
  if (m.t === "append" && m.entries.length > 0) {
    if (lastAppend !== undefined && lastAppend.from === from && sameAppend(lastAppend.m, m)) return lastAppend.bytes;
    const bytes = encodeUncached(from, m);
    lastAppend = { from, m, bytes };
    return bytes;
  }
  return encodeUncached(from, m);
}

function encodeUncached(from: string, m: RaftMsg): Buffer {
  const id = Buffer.from(from);
  if (id.length > 255) throw new Error("raft: member id too long");
  let size = 2 + id.length;
  let cfg: Buffer | undefined;
  switch (m.t) {
    case "append":
      size += 44;
      for (const e of m.entries) size += e.size;
      break;
    case "snap":
      cfg = encodeConfig(m.config);
      size += 48 + cfg.length + m.chunk.length;
      break;
    default:
      size += 40;
  }
  const w = new Writer(size);
  w.u8(KIND[m.t]);
  w.u8(id.length);
  w.bytes(id);
  switch (m.t) {
    case "prevote":
    case "vote":
      w.u64(m.term);
      w.u64(m.lastIndex);
      w.u64(m.lastTerm);
      w.u8(m.transfer ? 1 : 0);
      break;
    case "prevote_resp":
    case "vote_resp":
      w.u64(m.term);
      w.u8(m.granted ? 1 : 0);
      break;
    case "append":
      w.u64(m.term);
      w.u64(m.prevIndex);
      w.u64(m.prevTerm);
      w.u64(m.commit);
      w.u64(m.leaderLast);
      w.u32(m.entries.length);
      for (const e of m.entries) w.off = e.copyRec(w.buf, w.off);
      break;
    case "append_resp":
      w.u64(m.term);
      w.u8(m.success ? 1 : 0);
      w.u64(m.index);
      w.u64(m.inc);
      break;
    case "snap":
      w.u64(m.term);
      w.u64(m.index);
      w.u64(m.snapTerm);
      w.u64(m.offset);
      w.u64(m.total);
      w.u32(m.crc);
      w.u32((cfg as Buffer).length);
      w.bytes(cfg as Buffer);
      w.bytes(m.chunk);
      break;
    case "snap_resp":
      w.u64(m.term);
      w.u64(m.index);
      w.u64(m.offset);
      w.u8(m.done ? 1 : 0);
      w.u64(m.inc);
      break;
    case "timeout_now":
      w.u64(m.term);
      break;
  }
  return w.off === w.buf.length ? w.buf : w.buf.subarray(0, w.off);
}

/**
 * Decode a message; undefined when it is malformed or an entry fails its checksum. Entries are
 * copied out of `buf` (it may be a reused read buffer).
 */
export function decodeRaftMsg(buf: Buffer): { from: string; msg: RaftMsg } | undefined {
  try {
    const r = new Reader(buf);
    const kind = r.u8();
    const from = r.bytes(r.u8()).toString();
    let msg: RaftMsg;
    switch (kind) {
      case 1:
      case 2:
        msg = { t: kind === 1 ? "prevote" : "vote", term: r.u64(), lastIndex: r.u64(), lastTerm: r.u64(), transfer: r.u8() === 1 };
        break;
      case 3:
      case 4:
        msg = { t: kind === 3 ? "prevote_resp" : "vote_resp", term: r.u64(), granted: r.u8() === 1 };
        break;
      case 5: {
        const term = r.u64();
        const prevIndex = r.u64();
        const prevTerm = r.u64();
        const commit = r.u64();
        const leaderLast = r.u64();
        const n = r.u32();
        const entries: RaftEntry[] = [];
        // One copy of all the records (the log keeps them): views into it, not a copy each.
        const recs = n > 0 ? Buffer.from(buf.subarray(r.off)) : buf.subarray(buf.length);
        let off = 0;
        for (let i = 0; i < n; i++) {
          const e = readRecord(recs, off, false);
          if (typeof e === "string") return undefined;
          if (e.index !== prevIndex + 1 + i) return undefined;
          entries.push(e);
          off += e.size;
        }
        if (off !== recs.length) return undefined;
        msg = { t: "append", term, prevIndex, prevTerm, commit, leaderLast, entries };
        break;
      }
      case 6:
        msg = { t: "append_resp", term: r.u64(), success: r.u8() === 1, index: r.u64(), inc: r.u64() };
        break;
      case 7: {
        const term = r.u64();
        const index = r.u64();
        const snapTerm = r.u64();
        const offset = r.u64();
        const total = r.u64();
        const crc = r.u32();
        const config = decodeConfig(r.bytes(r.u32()));
        const chunk = Buffer.from(buf.subarray(r.off));
        msg = { t: "snap", term, index, snapTerm, config, offset, total, crc, chunk };
        break;
      }
      case 8:
        msg = { t: "snap_resp", term: r.u64(), index: r.u64(), offset: r.u64(), done: r.u8() === 1, inc: r.u64() };
        break;
      case 9:
        msg = { t: "timeout_now", term: r.u64() };
        break;
      default:
        return undefined;
    }
    if (kind !== 5 && kind !== 7 && r.off !== buf.length) return undefined;
    return { from, msg };
  } catch {
    return undefined;
  }
}
