// The durable state of a tsnats voting member of a nats-server RAFT group (issue 12's moonshot,
// `cluster { nrg_peer: true }`): its log of append entries, its current term and vote, and the
// leader's snapshot it was caught up with. RAFT's safety needs all three on disk before the
// member answers: an append entry is stored (fsynced) before it is acknowledged, and the term
// and vote are stored before a vote is granted, or a restart could ack what it lost or vote
// twice in a term. Only the wire must match nats-server; the files are tsnats's own:
// - `tav`: term(8) voteLength(1) vote, then an 8-byte checksum; replaced atomically.
// - `state`: generation(8) hasSnapshot(1) [lastTerm(8) lastIndex(8) peerStateLength(4) peerState
//   data], then an 8-byte checksum; replaced atomically. The generation names the WAL file.
// - `wal-<generation>`: records of length(4) checksum(8) index(8) term(8) appendEntry, one per
//   stored append entry (one log index each), the bytes as the leader sent them.
// Installing a snapshot or resetting starts a new generation: the new empty WAL is made durable
// before `state` names it, so a crash at any point leaves one consistent log. A torn or corrupt
// last record (a crash mid-append) is cut off at recovery. The member's directory is made with
// its entry in its parent synced, and a new WAL's entry is synced before anything in it counts:
// a power cut must not take an acknowledged entry with a directory entry. Every call goes
// through the file store's I/O seam (`io`), so the power-loss layer of the tests sees them.
import path from "node:path";
import { createHash } from "node:crypto";
import { io, mkdirDurable, writeFull } from "../storage/file_io.js";

const CHECKSUM_LENGTH = 8;
const RECORD_HEAD = 4 + CHECKSUM_LENGTH + 8 + 8;

export class NrgLogError extends Error {}

function checksum(...parts: Buffer[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, CHECKSUM_LENGTH);
}

/** Write a small file whole and durably: temp file, fsync, rename, fsync of the directory. */
function replaceFile(dir: string, name: string, body: Buffer): void {
  const tmp = path.join(dir, `${name}.tmp`);
  const fd = io.openSync(tmp, "w");
  try {
    writeFull(fd, body, 0, body.length, 0);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
  io.renameSync(tmp, path.join(dir, name));
  syncDir(dir);
}

function syncDir(dir: string): void {
  const fd = io.openSync(dir, "r");
  try {
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
}

/** A body followed by its checksum; undefined when the checksum does not match. */
function checked(buf: Buffer): Buffer | undefined {
  if (buf.length < CHECKSUM_LENGTH) return undefined;
  const body = buf.subarray(0, buf.length - CHECKSUM_LENGTH);
  return checksum(body).equals(buf.subarray(buf.length - CHECKSUM_LENGTH)) ? body : undefined;
}

function withChecksum(body: Buffer): Buffer {
  return Buffer.concat([body, checksum(body)]);
}

export interface NrgLogSnapshot {
  lastTerm: number;
  lastIndex: number;
  /** The PeerState entry's data the leader sent with it. */
  peerState: Buffer;
  data: Buffer;
}

interface RecordPosition {
  index: number;
  term: number;
  offset: number;
  length: number;
}

export class NrgPeerLog {
  term = 0;
  /** The candidate voted for in `term` ("" none). */
  vote = "";
  /** Term and index of the last entry (or of the snapshot when the WAL is empty). */
  lastTerm = 0;
  lastIndex = 0;
  snapshot: NrgLogSnapshot | undefined;
  private generation = 0;
  private fd: number;
  private size = 0;
  /** The WAL's records, in index order, contiguous after the snapshot. */
  private records: RecordPosition[] = [];
  /** Records cut at recovery (a torn or corrupt tail). */
  readonly recoveredCut: number;

  constructor(readonly dir: string) {
    mkdirDurable(dir);
    this.readTermVote();
    this.readState();
    const wal = this.walPath(this.generation);
    const made = !io.existsSync(wal);
    this.fd = io.openSync(wal, made ? "w+" : "r+");
    // A first WAL's entry: its appends are fsynced, but without this a cut could take the file.
    if (made) syncDir(dir);
    this.recoveredCut = this.recoverWal();
    this.removeStaleWals();
  }

  private walPath(generation: number): string {
    return path.join(this.dir, `wal-${generation}`);
  }

  private readTermVote(): void {
    const file = path.join(this.dir, "tav");
    if (!io.existsSync(file)) return;
    const body = checked(io.readFileSync(file));
    if (body === undefined || body.length < 9 || body.length !== 9 + body[8]) throw new NrgLogError(`${file} is corrupt`);
    this.term = Number(body.readBigUInt64LE(0));
    this.vote = body.toString("latin1", 9);
  }

  private readState(): void {
    const file = path.join(this.dir, "state");
    if (!io.existsSync(file)) return;
    const body = checked(io.readFileSync(file));
    if (body === undefined || body.length < 9) throw new NrgLogError(`${file} is corrupt`);
    this.generation = Number(body.readBigUInt64LE(0));
    if (body[8] === 1) {
      if (body.length < 9 + 20) throw new NrgLogError(`${file} is corrupt`);
      const lastTerm = Number(body.readBigUInt64LE(9));
      const lastIndex = Number(body.readBigUInt64LE(17));
      const psLength = body.readUInt32LE(25);
      if (29 + psLength > body.length) throw new NrgLogError(`${file} is corrupt`);
      this.snapshot = { lastTerm, lastIndex, peerState: Buffer.from(body.subarray(29, 29 + psLength)), data: Buffer.from(body.subarray(29 + psLength)) };
      this.lastTerm = lastTerm;
      this.lastIndex = lastIndex;
    }
  }

  /** Reads the WAL's records; cuts the file at the first one that is torn, corrupt or out of order. */
  private recoverWal(): number {
    const buf = io.readFileSync(this.walPath(this.generation));
    let at = 0;
    let expect = this.lastIndex + 1;
    while (at + RECORD_HEAD <= buf.length) {
      const length = buf.readUInt32LE(at);
      if (length < 16 || at + 4 + CHECKSUM_LENGTH + length > buf.length) break;
      const body = buf.subarray(at + 4 + CHECKSUM_LENGTH, at + 4 + CHECKSUM_LENGTH + length);
      if (!checksum(body).equals(buf.subarray(at + 4, at + 4 + CHECKSUM_LENGTH))) break;
      const index = Number(body.readBigUInt64LE(0));
      const term = Number(body.readBigUInt64LE(8));
      if (index !== expect) break;
      this.records.push({ index, term, offset: at, length: 4 + CHECKSUM_LENGTH + length });
      this.lastIndex = index;
      this.lastTerm = term;
      expect++;
      at += 4 + CHECKSUM_LENGTH + length;
    }
    this.size = at;
    if (at < buf.length) {
      io.ftruncateSync(this.fd, at);
      io.fsyncSync(this.fd);
      return 1;
    }
    return 0;
  }

  private removeStaleWals(): void {
    for (const f of io.readdirSync(this.dir)) {
      if (/^wal-\d+$/.test(f) && f !== `wal-${this.generation}`) io.rmSync(path.join(this.dir, f), { recursive: true, force: true });
    }
  }

  get empty(): boolean {
    return this.lastIndex === 0;
  }

  /** How many entries the WAL holds (after the snapshot). */
  get entryCount(): number {
    return this.records.length;
  }

  /** The first index the WAL holds, or undefined when it holds none. */
  get firstIndex(): number | undefined {
    return this.records[0]?.index;
  }

  /** Stores the term and vote durably; throws when it cannot (then nothing may be granted). */
  setTermVote(term: number, vote: string): void {
    if (term === this.term && vote === this.vote) return;
    if (vote.length > 255) throw new NrgLogError(`vote "${vote}" is too long`);
    const body = Buffer.alloc(9 + vote.length);
    body.writeBigUInt64LE(BigInt(term), 0);
    body[8] = vote.length;
    body.write(vote, 9, "latin1");
    replaceFile(this.dir, "tav", withChecksum(body));
    this.term = term;
    this.vote = vote;
  }

  /** Written appends not yet fsynced (appends with `sync` false). */
  dirty = false;

  /**
   * Stores one append entry as the next index (its previous index must be the log's last) and
   * fsyncs, or with `sync` false leaves the fsync to `syncWal` (several appends, one fsync).
   */
  append(term: number, index: number, appendEntry: Buffer, sync = true): void {
    if (index !== this.lastIndex + 1) throw new NrgLogError(`append at ${index} after ${this.lastIndex}`);
    const head = Buffer.alloc(16);
    head.writeBigUInt64LE(BigInt(index), 0);
    head.writeBigUInt64LE(BigInt(term), 8);
    const record = Buffer.alloc(4 + CHECKSUM_LENGTH + 16 + appendEntry.length);
    record.writeUInt32LE(16 + appendEntry.length, 0);
    checksum(head, appendEntry).copy(record, 4);
    head.copy(record, 4 + CHECKSUM_LENGTH);
    appendEntry.copy(record, 4 + CHECKSUM_LENGTH + 16);
    let written = 0;
    while (written < record.length) written += io.writeSync(this.fd, record, written, record.length - written, this.size + written);
    if (sync) {
      io.fdatasyncSync(this.fd);
      this.dirty = false;
    } else this.dirty = true;
    this.records.push({ index, term, offset: this.size, length: record.length });
    this.size += record.length;
    this.lastIndex = index;
    this.lastTerm = term;
  }

  /** Makes every written append durable. */
  syncWal(): void {
    if (!this.dirty) return;
    io.fdatasyncSync(this.fd);
    this.dirty = false;
  }

  private position(index: number): RecordPosition | undefined {
    const first = this.records[0];
    if (first === undefined || index < first.index) return undefined;
    return this.records[index - first.index];
  }

  /** The stored append entry at an index (undefined when the WAL does not hold it). */
  entryAt(index: number): Buffer | undefined {
    const p = this.position(index);
    if (p === undefined) return undefined;
    const buf = Buffer.alloc(p.length - 4 - CHECKSUM_LENGTH - 16);
    io.readSync(this.fd, buf, 0, buf.length, p.offset + 4 + CHECKSUM_LENGTH + 16);
    return buf;
  }

  /** Every stored append entry in index order (recovery: membership). */
  *entries(): Generator<{ index: number; term: number; appendEntry: Buffer }> {
    for (const p of this.records) {
      const e = this.entryAt(p.index);
      if (e !== undefined) yield { index: p.index, term: p.term, appendEntry: e };
    }
  }

  /**
   * Drops every entry after `index`, and takes (term, index) as the log's last position (as
   * nats-server's truncateWAL). Below the snapshot's index the snapshot goes too: a reset.
   */
  truncate(term: number, index: number): void {
    if (index < this.lastIndex - this.records.length || (this.snapshot !== undefined && index < this.snapshot.lastIndex)) {
      // Not a position the WAL holds: a full reset (the member is caught up again from scratch).
      this.reset();
      return;
    }
    const keep = this.records.filter((r) => r.index <= index);
    const size = keep.length === 0 ? 0 : keep[keep.length - 1].offset + keep[keep.length - 1].length;
    io.ftruncateSync(this.fd, size);
    io.fsyncSync(this.fd);
    this.dirty = false;
    this.records = keep;
    this.size = size;
    this.lastTerm = term;
    this.lastIndex = index;
  }

  /** Forgets the whole log (and snapshot): nats-server's resetWAL. The term and vote stay. */
  reset(): void {
    this.newGeneration(undefined);
    this.lastTerm = 0;
    this.lastIndex = 0;
  }

  /** Installs a leader's snapshot as the log's start: the log is empty after it. */
  installSnapshot(snapshot: NrgLogSnapshot): void {
    this.newGeneration(snapshot);
    this.lastTerm = snapshot.lastTerm;
    this.lastIndex = snapshot.lastIndex;
  }

  /** The WAL's bytes: how much compaction would give back. */
  get walBytes(): number {
    return this.size;
  }

  /**
   * Compacts the WAL: entries up to `index` (which must be held and committed) give way to a
   * snapshot at that position with this peer state and data; the entries after it are kept.
   */
  compact(index: number, peerState: Buffer, data: Buffer): void {
    const p = this.position(index);
    if (p === undefined) throw new NrgLogError(`cannot compact at ${index}: not in the WAL`);
    const kept = this.records.filter((r) => r.index > index);
    const tail = Buffer.alloc(this.size - (p.offset + p.length));
    if (tail.length > 0) io.readSync(this.fd, tail, 0, tail.length, p.offset + p.length);
    const lastTerm = this.lastTerm;
    const lastIndex = this.lastIndex;
    this.newGeneration({ lastTerm: p.term, lastIndex: index, peerState, data }, tail);
    // The records kept moved to the front of the new WAL.
    const shift = p.offset + p.length;
    this.records = kept.map((r) => ({ ...r, offset: r.offset - shift }));
    this.size = tail.length;
    this.lastTerm = lastTerm;
    this.lastIndex = lastIndex;
  }

  private newGeneration(snapshot: NrgLogSnapshot | undefined, walStart?: Buffer): void {
    const generation = this.generation + 1;
    const fd = io.openSync(this.walPath(generation), "w+");
    if (walStart !== undefined && walStart.length > 0) {
      let written = 0;
      while (written < walStart.length) written += io.writeSync(fd, walStart, written, walStart.length - written, written);
    }
    io.fsyncSync(fd);
    syncDir(this.dir);
    const head = Buffer.alloc(9);
    head.writeBigUInt64LE(BigInt(generation), 0);
    let body = head;
    if (snapshot !== undefined) {
      head[8] = 1;
      const s = Buffer.alloc(20);
      s.writeBigUInt64LE(BigInt(snapshot.lastTerm), 0);
      s.writeBigUInt64LE(BigInt(snapshot.lastIndex), 8);
      s.writeUInt32LE(snapshot.peerState.length, 16);
      body = Buffer.concat([head, s, snapshot.peerState, snapshot.data]);
    }
    try {
      replaceFile(this.dir, "state", withChecksum(body));
    } catch (err) {
      io.closeSync(fd);
      throw err;
    }
    const old = this.generation;
    io.closeSync(this.fd);
    this.fd = fd;
    this.dirty = false;
    this.generation = generation;
    this.records = [];
    this.size = 0;
    this.snapshot = snapshot === undefined ? undefined : { ...snapshot, peerState: Buffer.from(snapshot.peerState), data: Buffer.from(snapshot.data) };
    io.rmSync(this.walPath(old), { recursive: true, force: true });
  }

  close(): void {
    io.closeSync(this.fd);
  }
}
