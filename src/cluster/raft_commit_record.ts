// A RAFT member's commit index, kept durable in its group's files for a member that applies an
// entry only once a commit index covering it is on disk (RaftOptions.recordCommit: the
// JetStream meta group). A restarted member then replays its own log up to that index before
// any leader is elected, as nats-server replays its WAL up to the commit its stored appends
// carry, and it knows that nothing it applied before it stopped lies beyond it.
//
// FILES   commit.a / commit.b, 32 bytes each: "TSNCOMIT", u64 sequence, u64 commit index,
//   u32 CRC32 of the 24 bytes before, 4 bytes 0. Written alternately, each write made durable
//   before the next one starts: a write torn by a power cut leaves the other copy, which holds
//   the index written before it (never less than what was applied). The highest sequence of
//   the valid copies counts; a copy that fails its checksum is either such a torn write or a
//   synced copy damaged since (whose index the other copy may not reach), which cannot be told
//   apart: the index read is then a commit index still (safe to apply up to), but not one
//   known to cover everything applied (`intact` false).
//
// The index is only ever written once the log entries it covers are durable (the caller syncs
// the log first), so after any crash the entries up to it that the log still holds, checksummed,
// are the committed ones: `open` of the store drops a torn tail, and the caller applies up to
// the lesser of this index and the log's end.
import { readU64LE } from "../server/small_int.js";
import { crc32 } from "../storage/crc32.js";
import type { RaftDisk } from "./raft_disk.js";

const MAGIC = Buffer.from("TSNCOMIT", "latin1");
const SIZE = 32;
const FILES = ["commit.a", "commit.b"] as const;

export class CommitRecord {
  private seq = 0;
  private writing = false;

  constructor(private readonly disk: RaftDisk) {}

  /**
   * The index last made durable (undefined when no copy verifies: a store from before this
   * record, or a new one), and whether both copies there verify (see FILES).
   */
  read(): { commit: number | undefined; intact: boolean } {
    let best: { seq: number; commit: number } | undefined;
    let intact = true;
    for (const name of FILES) {
      const b = this.disk.read(name);
      if (b === undefined) continue;
      const rec = decode(b);
      if (rec === undefined) intact = false;
      else if (best === undefined || rec.seq > best.seq) best = rec;
    }
    if (best === undefined) return { commit: undefined, intact };
    this.seq = best.seq;
    return { commit: best.commit, intact };
  }

  /** A write is in flight (one at a time: the copy not being written holds the last durable index). */
  get busy(): boolean {
    return this.writing;
  }

  /** Make `commit` durable, then call `done`. Only when not `busy`. */
  write(commit: number, done: (err?: Error) => void): void {
    if (this.writing) throw new Error("raft: commit record written twice at once");
    this.writing = true;
    this.seq++;
    const name = FILES[this.seq % 2];
    const b = Buffer.alloc(SIZE);
    MAGIC.copy(b, 0);
    b.writeBigUInt64LE(BigInt(this.seq), 8);
    b.writeBigUInt64LE(BigInt(commit), 16);
    b.writeUInt32LE(crc32(b, 0, 24), 24);
    try {
      this.disk.writeAt(name, 0, b);
    } catch (err) {
      this.writing = false;
      done(err as Error);
      return;
    }
    this.disk.sync([name], (err) => {
      this.writing = false;
      done(err);
    });
  }
}

function decode(b: Buffer | undefined): { seq: number; commit: number } | undefined {
  if (b === undefined || b.length < SIZE || !b.subarray(0, 8).equals(MAGIC)) return undefined;
  if (crc32(b, 0, 24) !== b.readUInt32LE(24)) return undefined;
  return { seq: readU64LE(b, 8), commit: readU64LE(b, 16) };
}
