// The file system calls of the file store, behind one replaceable object.
//
// Every byte the file store (filestore.ts) puts on or reads from disk goes through `io`:
// block appends, in-place marks, fsync/fdatasync, atomic meta and state files, directory
// entries. Production uses Node's `fs` as it is; tests install a layer that can simulate a
// power loss (forget every write not yet fsynced) under a running server, which is how the
// durability contract of the store is checked (test/helpers/power_loss.ts).
import * as fs from "node:fs";

export interface FileIO {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  writeSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number;
  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number;
  fsyncSync(fd: number): void;
  /** Asynchronous (thread pool) data sync of a file: the group commit's fsync. */
  fdatasync(fd: number, cb: (err: Error | null) => void): void;
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
