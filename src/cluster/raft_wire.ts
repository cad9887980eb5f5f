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
//   6 append_resp   u64 term, u8 success, u64 index, u64 incarnation, u64 applied, u64 commit
//              (the sender's applied and commit indexes when it answered; absent from older senders)
//   7 snap     u64 term, u64 index, u64 snapshot term, u64 offset, u64 total, u32 crc,
//              u32 config length, config (JSON), chunk (the rest)
//   8 snap_resp    u64 term, u64 index, u64 offset, u8 done, u64 incarnation
//   9 timeout_now  u64 term
//
// Growing a message (rolling upgrades): every kind but append and snap has a fixed layout, and a
// newer version may only add fields at its end. A receiver reads the fields it knows, an optional
// one only when all its bytes are there, and ignores whatever follows: an older member reads a
// newer member's message, a newer member an older one's (its optional fields absent). Append and
// snap end with their payload (records, chunk) and cannot grow so: a field there needs a new kind.
// docs/architecture/cluster.md, "RAFT wire compatibility".
import type { RaftMsg } from "./raft.js";
import { readU64LE } from "../server/small_int.js";
import { decodeConfig, encodeConfig, readRecord, recordRuns, type RaftEntry } from "./raft_store.js";

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
  /** Bytes left after what was read: a field newer than this reader's version, or none. */
  get left(): number {
    return this.buf.length - this.off;
  }
  u64(): number {
    this.need(8);
    const v = readU64LE(this.buf, this.off);
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
let lastAppend: { from: string; m: Msg<"append">; bytes: Buffer } | undefined;

function sameAppend(a: Msg<"append">, b: Msg<"append">): boolean {
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

type Msg<T extends RaftMsg["t"]> = Extract<RaftMsg, { t: T }>;

/**
 * One encoder and one decoder per kind, each seeing one shape of message: a leader's steady
 * stream of appends and their responses runs code V8 optimized for those two shapes alone, and a
 * vote or a snapshot in another group (a new stream's election) does not throw that code away.
 */
export function encodeRaftMsg(from: string, m: RaftMsg): Buffer {
  switch (m.t) {
    case "append":
      return m.entries.length > 0 ? encodeAppendCached(from, m) : encodeAppend(from, m);
    case "append_resp":
      return encodeAppendResp(from, m);
    case "prevote":
    case "vote":
      return encodeVote(from, m);
    case "prevote_resp":
    case "vote_resp":
      return encodeVoteResp(from, m);
    case "snap":
      return encodeSnap(from, m);
    case "snap_resp":
      return encodeSnapResp(from, m);
    case "timeout_now":
      return encodeTimeoutNow(from, m);
  }
}

/** The sender's id as bytes: a server sends as one member id, made once, not per message. */
let lastFrom = "";
let lastFromBytes = Buffer.alloc(0);
function senderBytes(from: string): Buffer {
  if (from !== lastFrom) {
    const id = Buffer.from(from);
    if (id.length > 255) throw new Error("raft: member id too long");
    lastFrom = from;
    lastFromBytes = id;
  }
  return lastFromBytes;
}

/** A writer holding the kind and sender, with room for `body` more bytes. */
function header(kind: number, from: string, body: number): Writer {
  const id = senderBytes(from);
  const w = new Writer(2 + id.length + body);
  w.u8(kind);
  w.u8(id.length);
  w.bytes(id);
  return w;
}

function encodeAppendCached(from: string, m: Msg<"append">): Buffer {
  if (lastAppend !== undefined && lastAppend.from === from && sameAppend(lastAppend.m, m)) return lastAppend.bytes;
  const bytes = encodeAppend(from, m);
  lastAppend = { from, m, bytes };
  return bytes;
}

function encodeAppend(from: string, m: Msg<"append">): Buffer {
  const entries = m.entries;
  let size = 44;
  for (let i = 0; i < entries.length; i++) size += entries[i].size;
  const w = header(KIND.append, from, size);
  w.u64(m.term);
  w.u64(m.prevIndex);
  w.u64(m.prevTerm);
  w.u64(m.commit);
  w.u64(m.leaderLast);
  w.u32(entries.length);
  // Adjacent records (a leader's proposals share slabs) copied as one range each.
  const runs: Buffer[] = [];
  recordRuns(entries, 0, entries.length, runs);
  for (let i = 0; i < runs.length; i++) w.bytes(runs[i]);
  return w.buf;
}

function encodeAppendResp(from: string, m: Msg<"append_resp">): Buffer {
  const w = header(KIND.append_resp, from, 41);
  w.u64(m.term);
  w.u8(m.success ? 1 : 0);
  w.u64(m.index);
  w.u64(m.inc);
  w.u64(m.applied ?? 0);
  w.u64(m.commit ?? 0);
  return w.buf;
}

function encodeVote(from: string, m: Msg<"prevote" | "vote">): Buffer {
  const w = header(KIND[m.t], from, 25);
  w.u64(m.term);
  w.u64(m.lastIndex);
  w.u64(m.lastTerm);
  w.u8(m.transfer ? 1 : 0);
  return w.buf;
}

function encodeVoteResp(from: string, m: Msg<"prevote_resp" | "vote_resp">): Buffer {
  const w = header(KIND[m.t], from, 9);
  w.u64(m.term);
  w.u8(m.granted ? 1 : 0);
  return w.buf;
}

function encodeSnap(from: string, m: Msg<"snap">): Buffer {
  const cfg = encodeConfig(m.config);
  const w = header(KIND.snap, from, 48 + cfg.length + m.chunk.length);
  w.u64(m.term);
  w.u64(m.index);
  w.u64(m.snapTerm);
  w.u64(m.offset);
  w.u64(m.total);
  w.u32(m.crc);
  w.u32(cfg.length);
  w.bytes(cfg);
  w.bytes(m.chunk);
  return w.buf;
}

function encodeSnapResp(from: string, m: Msg<"snap_resp">): Buffer {
  const w = header(KIND.snap_resp, from, 33);
  w.u64(m.term);
  w.u64(m.index);
  w.u64(m.offset);
  w.u8(m.done ? 1 : 0);
  w.u64(m.inc);
  return w.buf;
}

function encodeTimeoutNow(from: string, m: Msg<"timeout_now">): Buffer {
  const w = header(KIND.timeout_now, from, 8);
  w.u64(m.term);
  return w.buf;
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
    let msg: RaftMsg | undefined;
    switch (kind) {
      case KIND.append:
        msg = decodeAppend(r);
        break;
      case KIND.append_resp:
        msg = decodeAppendResp(r);
        break;
      case KIND.prevote:
      case KIND.vote:
        msg = decodeVote(r, kind === KIND.prevote ? "prevote" : "vote");
        break;
      case KIND.prevote_resp:
      case KIND.vote_resp:
        msg = decodeVoteResp(r, kind === KIND.prevote_resp ? "prevote_resp" : "vote_resp");
        break;
      case KIND.snap:
        msg = decodeSnap(r);
        break;
      case KIND.snap_resp:
        msg = decodeSnapResp(r);
        break;
      case KIND.timeout_now:
        msg = { t: "timeout_now", term: r.u64() };
        break;
    }
    // Appends and snapshots take the rest of the message; after the fields of the others, bytes a
    // newer sender added are ignored (the rule at the top of this file).
    if (msg === undefined) return undefined;
    return { from, msg };
  } catch {
    return undefined;
  }
}

function decodeAppend(r: Reader): Msg<"append"> | undefined {
  const term = r.u64();
  const prevIndex = r.u64();
  const prevTerm = r.u64();
  const commit = r.u64();
  const leaderLast = r.u64();
  const n = r.u32();
  const entries: RaftEntry[] = [];
  const buf = r.buf;
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
  return { t: "append", term, prevIndex, prevTerm, commit, leaderLast, entries };
}

function decodeAppendResp(r: Reader): Msg<"append_resp"> {
  const m: Msg<"append_resp"> = { t: "append_resp", term: r.u64(), success: r.u8() === 1, index: r.u64(), inc: r.u64() };
  // Added since the first layout (25 bytes): the applied index (dcaa661, 33 bytes), the commit
  // index (34531f0, 41 bytes). Each is there only when all its bytes are.
  if (r.left >= 8) m.applied = r.u64();
  if (r.left >= 8) m.commit = r.u64();
  return m;
}

function decodeVote(r: Reader, t: "prevote" | "vote"): Msg<"prevote" | "vote"> {
  return { t, term: r.u64(), lastIndex: r.u64(), lastTerm: r.u64(), transfer: r.u8() === 1 };
}

function decodeVoteResp(r: Reader, t: "prevote_resp" | "vote_resp"): Msg<"prevote_resp" | "vote_resp"> {
  return { t, term: r.u64(), granted: r.u8() === 1 };
}

function decodeSnap(r: Reader): Msg<"snap"> {
  const term = r.u64();
  const index = r.u64();
  const snapTerm = r.u64();
  const offset = r.u64();
  const total = r.u64();
  const crc = r.u32();
  const config = decodeConfig(r.bytes(r.u32()));
  const chunk = Buffer.from(r.buf.subarray(r.off));
  return { t: "snap", term, index, snapTerm, config, offset, total, crc, chunk };
}

function decodeSnapResp(r: Reader): Msg<"snap_resp"> {
  return { t: "snap_resp", term: r.u64(), index: r.u64(), offset: r.u64(), done: r.u8() === 1, inc: r.u64() };
}
