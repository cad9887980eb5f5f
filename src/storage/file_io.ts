// The file system calls of the file store, behind one replaceable object.
//
// Every byte the file store (filestore.ts) puts on or reads from disk goes through `io`:
// block appends, in-place marks, fsync/fdatasync, atomic meta and state files, directory
// entries. Production uses Node's `fs` as it is; tests install a layer that can simulate a
// power loss (forget every write not yet fsynced) under a running server, which is how the
// durability contract of the store is checked (test/helpers/power_loss.ts).
import * as fs from "node:fs";
import { dirname } from "node:path";

export interface FileIO {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  writeSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number;
  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number;
  fsyncSync(fd: number): void;
  /** Asynchronous (thread pool) data sync of a file: the group commit's fsync. */
  fdatasync(fd: number, cb: (err: Error | null) => void): void;
  /** Data sync of a file on the calling thread (a RAFT log that answers once it returns). */
  fdatasyncSync(fd: number): void;
  ftruncateSync(fd: number, len: number): void;
  truncateSync(path: string, len: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  readFileSync(path: string): Buffer;
  statSync(path: string): { size: number };
  mkdirSync(path: string, opts: { recursive: true }): void;
  readdirSync(path: string): string[];
  /** Sub-directories of a directory, sorted ([] when it does not exist). */
  listDirs(path: string): string[];
  existsSync(path: string): boolean;
  rmSync(path: string, opts: { recursive: true; force: true }): void;
}

function nodeListDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/** Node's fs, unchanged. */
export const nodeFileIO: FileIO = {
  openSync: (p, f) => fs.openSync(p, f),
  closeSync: (fd) => fs.closeSync(fd),
  writeSync: (fd, b, o, l, p) => fs.writeSync(fd, b, o, l, p),
  readSync: (fd, b, o, l, p) => fs.readSync(fd, b, o, l, p),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fdatasync: (fd, cb) => fs.fdatasync(fd, cb),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  ftruncateSync: (fd, l) => fs.ftruncateSync(fd, l),
  truncateSync: (p, l) => fs.truncateSync(p, l),
  renameSync: (a, b) => fs.renameSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
  readFileSync: (p) => fs.readFileSync(p),
  statSync: (p) => fs.statSync(p),
  mkdirSync: (p, o) => void fs.mkdirSync(p, o),
  readdirSync: (p) => fs.readdirSync(p),
  listDirs: nodeListDirs,
  existsSync: (p) => fs.existsSync(p),
  rmSync: (p, o) => fs.rmSync(p, o),
};

/** The file system calls in use (a live binding: `setFileIO` changes what every store calls). */
export let io: FileIO = nodeFileIO;

/** Replace the file system layer (tests); returns the previous one. */
export function setFileIO(next: FileIO): FileIO {
  const prev = io;
  io = next;
  return prev;
}

// ---------------------------------------------------------------------------
// Helpers over `io` (so the power-loss layer sees them too)

export function writeFull(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  while (len > 0) {
    const n = io.writeSync(fd, buf, off, len, pos);
    off += n;
    len -= n;
    pos += n;
  }
}

export function readFull(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  let total = 0;
  while (len > 0) {
    const n = io.readSync(fd, buf, off, len, pos);
    if (n === 0) break;
    off += n;
    len -= n;
    pos += n;
    total += n;
  }
  return total;
}

export function fsyncDir(dir: string): void {
  let fd = -1;
  try {
    fd = io.openSync(dir, "r");
    io.fsyncSync(fd);
  } catch {
    // some platforms cannot fsync directories
  } finally {
    if (fd >= 0) io.closeSync(fd);
  }
}

/**
 * mkdir -p, then fsync the parent of each directory it made: a directory entry is durable
 * only once its parent is synced (a stream whose messages are on disk must not vanish with
 * its directory entry on power loss).
 */
export function mkdirDurable(path: string): void {
  const made: string[] = [];
  for (let p = path; !io.existsSync(p); ) {
    made.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (made.length === 0) return;
  io.mkdirSync(path, { recursive: true });
  for (let k = made.length - 1; k >= 0; k--) fsyncDir(dirname(made[k]!));
}

/** write temp, (fsync), rename, (fsync dir) */
export function writeFileAtomic(path: string, data: Buffer | string, durable: boolean): void {
  const tmp = `${path}.tmp`;
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  const fd = io.openSync(tmp, "w");
  try {
    writeFull(fd, buf, 0, buf.length, 0);
    if (durable) io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
  io.renameSync(tmp, path);
  if (durable) fsyncDir(dirname(path));
}
