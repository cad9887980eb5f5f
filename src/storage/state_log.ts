// A small state file kept current by appending (a consumer's o.dat).
//
// Each write appends one record holding the whole state to a file that stays open; the last
// record that checks out is the state. A write is one pwrite(2) on a descriptor kept open: no
// temp file, no rename, no open/close per write (rewriting the file atomically every few
// milliseconds cost a file creation, a rename and a directory update each time, on the
// event loop). When the file has grown past `compactBytes` (and many records), it is
// rewritten with just the last one, atomically (temp file, fsync, rename).
//
// A crash can tear only the record being appended: reading stops at the first record whose
// length or checksum is wrong, and the one before it is the state (older by one write).
// Durability: a record is on disk once `sync()` ran after it (the owner decides when: every
// write in sync mode "always", periodically otherwise); the file itself, once its directory
// entry is synced, which `sync()` also does after a rewrite.
//
// FILE   8 bytes "TSNSLOG1", then records: u32 payload length, u32 CRC32 of the payload,
//   payload (little endian). A file without the magic is a whole-file state written by older
//   versions: its content is the one payload, and the first write rewrites it as a log.
import { dirname } from "node:path";
import { crc32 } from "./crc32.js";
import { fsyncDir, io, writeFileAtomic, writeFull } from "./file_io.js";

const LOG_MAGIC = Buffer.from("TSNSLOG1", "latin1");
const FRAME = 8;
const MAX_RECORD = 0x40000000;
/** Rewrite once the file is larger than this... */
const DEFAULT_COMPACT_BYTES = 1 << 20;
/** ...and holds at least this many records' worth of the last one. */
const COMPACT_RECORDS = 16;

/** What a state file held. */
export interface StateLogContent {
  /** The last valid record (undefined: the file has none). */
  payload: Buffer | undefined;
  /** Bytes after the last valid record that did not check out (a torn or damaged tail). */
  droppedBytes: number;
  /** Records read (1 for a whole-file state of older versions). */
  records: number;
}

export class StateLog {
  private fd = -1;
  /** Append offset (= file size as written). */
  private size = 0;
  /** Appended since the last sync. */
  private unsynced = false;
  /** The file was rewritten (renamed into place) since the directory was last synced. */
  private dirUnsynced = false;
  /** Reused for the frame of each record. */
  private scratch = Buffer.allocUnsafe(4096);

  constructor(
    readonly path: string,
    private readonly compactBytes = DEFAULT_COMPACT_BYTES,
  ) {}

  /** Read the file (undefined when there is none). */
  static read(path: string): StateLogContent | undefined {
    let buf: Buffer;
    try {
      buf = io.readFileSync(path);
    } catch {
      return undefined;
    }
    return StateLog.parse(buf);
  }

  /** The last valid record of a file's bytes. */
  static parse(buf: Buffer): StateLogContent {
    if (buf.length < LOG_MAGIC.length || !buf.subarray(0, LOG_MAGIC.length).equals(LOG_MAGIC)) {
      return { payload: buf, droppedBytes: 0, records: 1 };
    }
    let payload: Buffer | undefined;
    let records = 0;
    let p = LOG_MAGIC.length;
    while (p + FRAME <= buf.length) {
      const len = buf.readUInt32LE(p);
      const end = p + FRAME + len;
      if (len > MAX_RECORD || end > buf.length) break;
      if (crc32(buf, p + FRAME, end) !== buf.readUInt32LE(p + 4)) break;
      payload = buf.subarray(p + FRAME, end);
      records++;
      p = end;
    }
    return { payload, droppedBytes: buf.length - p, records };
  }

  /**
   * Append `payload` as the new state (one write to the kernel). The first write of this
   * object, and a write that finds the file large, rewrite the file with it alone
   * (`durable`: fsynced before it replaces the old file).
   */
  append(payload: Buffer, durable: boolean): void {
    const need = FRAME + payload.length;
    if (this.fd < 0 || (this.size + need > this.compactBytes && this.size > need * COMPACT_RECORDS)) {
      this.rewrite(payload);
      if (durable) this.sync();
      return;
    }
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    const f = this.scratch;
    f.writeUInt32LE(payload.length, 0);
    f.writeUInt32LE(crc32(payload, 0, payload.length), 4);
    payload.copy(f, FRAME);
    try {
      writeFull(this.fd, f, 0, need, this.size);
    } catch (e) {
      // A partial append would shadow nothing (its checksum fails), but the next one must
      // not land after garbage: start over with a fresh file.
      this.close();
      throw e;
    }
    this.size += need;
    this.unsynced = true;
    if (durable) this.sync();
  }

  /** The file holds just `payload`: written to a temp file, fsynced, renamed into place. */
  private rewrite(payload: Buffer): void {
    this.close();
    const buf = Buffer.allocUnsafe(LOG_MAGIC.length + FRAME + payload.length);
    LOG_MAGIC.copy(buf, 0);
    buf.writeUInt32LE(payload.length, LOG_MAGIC.length);
    buf.writeUInt32LE(crc32(payload, 0, payload.length), LOG_MAGIC.length + 4);
    payload.copy(buf, LOG_MAGIC.length + FRAME);
    // fsynced before the rename: the file that replaces the old one is complete on disk
    writeFileAtomic(this.path, buf, true);
    this.fd = io.openSync(this.path, "r+");
    this.size = buf.length;
    this.unsynced = false;
    this.dirUnsynced = true;
  }

  /** Written since the last sync? */
  get dirty(): boolean {
    return this.unsynced || this.dirUnsynced;
  }

  /** fsync what was appended (and the directory entry of a rewritten file). */
  sync(): void {
    if (this.unsynced && this.fd >= 0) {
      io.fsyncSync(this.fd);
      this.unsynced = false;
    }
    if (this.dirUnsynced) {
      fsyncDir(dirname(this.path));
      this.dirUnsynced = false;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.size = 0;
    try {
      io.closeSync(fd);
    } catch {
      // already gone
    }
  }
}
