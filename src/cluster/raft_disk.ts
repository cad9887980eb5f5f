// The few file operations a RAFT group's store needs, behind an interface: `FsRaftDisk` is the
// real directory (writes go to the kernel with pwrite(2), `sync` is an fdatasync that runs off
// the event loop, plus an fsync of the directory after names changed), `MemRaftDisk` keeps
// everything in memory (groups of memory streams: nothing survives a restart, as their data).
// The deterministic RAFT tests implement it with a simulated disk that loses unsynced writes.
import fs from "node:fs";
import path from "node:path";
import { mkdirDurable } from "../storage/file_io.js";

export interface RaftDisk {
  /** Names of the files in the group's directory. */
  list(): string[];
  /** A whole file, or undefined when it does not exist. */
  read(name: string): Buffer | undefined;
  size(name: string): number;
  /** Bytes [pos, pos+len) of a file. */
  readAt(name: string, pos: number, len: number): Buffer;
  /** Write at a position (the file is created when missing). In the kernel on return, durable after `sync`. */
  writeAt(name: string, pos: number, data: Buffer): void;
  /** writeAt of `bufs` one after the other (`len` bytes in all), without joining them first. */
  writevAt?(name: string, pos: number, bufs: readonly Buffer[], len: number): void;
  /**
   * false: the disk keeps sizes only (nothing is read back), and writevAt is given the length
   * alone (no buffers). Otherwise every byte written is kept.
   */
  readonly keepsBytes?: boolean;
  /** Set a file's length (zero-filled when it grows). */
  truncate(name: string, size: number): void;
  remove(name: string): void;
  rename(from: string, to: string): void;
  /** Make these files' contents, and every name change so far, durable; `done` runs after. */
  sync(names: readonly string[], done: (err?: Error) => void): void;
  /** The same, blocking: for the rare step that must be durable before the next (a new segment). */
  syncNow(names: readonly string[]): void;
  /** Let go of open files (the group stops). */
  close(): void;
  /** Remove the whole directory (the group is deleted). */
  destroy(): void;
}

const EMPTY = Buffer.alloc(0);

/** Buffers per writev(2) call (IOV_MAX is 1024 on Linux). */
const WRITEV_MAX = 1024;

/** A group's directory on the file system. */
export class FsRaftDisk implements RaftDisk {
  private readonly fds = new Map<string, number>();
  private dirChanged = false;
  /**
   * Descriptors with an fdatasync in flight (how many): closing one then would fail that sync
   * (EBADF), or worse, let the number be reused by the next open and sync another file. A file
   * closed meanwhile (renamed, removed, the group stopping) is closed when its syncs finish.
   */
  private readonly syncing = new Map<number, number>();
  private readonly closeAfterSync = new Set<number>();

  constructor(readonly dir: string) {
    // A new group's directory is durable in its parent before anything in it is acknowledged.
    mkdirDurable(dir);
  }

  private fd(name: string): number {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      const p = path.join(this.dir, name);
      if (!fs.existsSync(p)) this.dirChanged = true;
      fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o640);
      this.fds.set(name, fd);
    }
    return fd;
  }

  list(): string[] {
    try {
      return fs.readdirSync(this.dir);
    } catch {
      return [];
    }
  }

  read(name: string): Buffer | undefined {
    try {
      return fs.readFileSync(path.join(this.dir, name));
    } catch {
      return undefined;
    }
  }

  size(name: string): number {
    try {
      return fs.fstatSync(this.fd(name)).size;
    } catch {
      return 0;
    }
  }

  readAt(name: string, pos: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    const n = fs.readSync(this.fd(name), out, 0, len, pos);
    return n === len ? out : out.subarray(0, n);
  }

  writeAt(name: string, pos: number, data: Buffer): void {
    const fd = this.fd(name);
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, pos + off);
  }

  writevAt(name: string, pos: number, bufs: readonly Buffer[], len: number): void {
    const fd = this.fd(name);
    let done = 0;
    for (let i = 0; i < bufs.length; i += WRITEV_MAX) {
      const part = bufs.length <= WRITEV_MAX ? (bufs as Buffer[]) : bufs.slice(i, i + WRITEV_MAX);
      let partLen = 0;
      for (const b of part) partLen += b.length;
      const n = fs.writevSync(fd, part, pos + done);
      // A short write (rare on a regular file): the rest the plain way.
      if (n < partLen) this.writeAt(name, pos + done + n, Buffer.concat(part, partLen).subarray(n));
      done += partLen;
    }
    if (done !== len) throw new Error(`raft disk: writev of ${done} bytes, ${len} expected`);
  }

  truncate(name: string, size: number): void {
    fs.ftruncateSync(this.fd(name), size);
  }

  private closeFd(fd: number): void {
    if (this.syncing.has(fd)) {
      this.closeAfterSync.add(fd);
      return;
    }
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  }

  remove(name: string): void {
    const fd = this.fds.get(name);
    if (fd !== undefined) {
      this.closeFd(fd);
      this.fds.delete(name);
    }
    fs.rmSync(path.join(this.dir, name), { force: true });
    this.dirChanged = true;
  }

  rename(from: string, to: string): void {
    for (const n of [from, to]) {
      const fd = this.fds.get(n);
      if (fd !== undefined) {
        this.closeFd(fd);
        this.fds.delete(n);
      }
    }
    fs.renameSync(path.join(this.dir, from), path.join(this.dir, to));
    this.dirChanged = true;
  }

  sync(names: readonly string[], done: (err?: Error) => void): void {
    const fds: number[] = [];
    for (const n of names) {
      const fd = this.fds.get(n);
      if (fd !== undefined) fds.push(fd);
    }
    const syncDir = this.dirChanged;
    this.dirChanged = false;
    let left = fds.length + (syncDir ? 1 : 0);
    if (left === 0) {
      done();
      return;
    }
    let failed: Error | undefined;
    const one = (err: Error | null): void => {
      if (err !== null && failed === undefined) failed = err;
      if (--left === 0) done(failed);
    };
    for (const fd of fds) {
      this.syncing.set(fd, (this.syncing.get(fd) ?? 0) + 1);
      fs.fdatasync(fd, (err) => {
        const n = (this.syncing.get(fd) ?? 1) - 1;
        if (n > 0) this.syncing.set(fd, n);
        else {
          this.syncing.delete(fd);
          if (this.closeAfterSync.delete(fd)) fs.close(fd, () => undefined);
        }
        one(err);
      });
    }
    if (syncDir) {
      fs.open(this.dir, fs.constants.O_RDONLY, (err, dfd) => {
        if (err !== null) return one(err);
        fs.fsync(dfd, (e) => fs.close(dfd, () => one(e)));
      });
    }
  }

  syncNow(names: readonly string[]): void {
    for (const n of names) {
      const fd = this.fds.get(n) ?? (fs.existsSync(path.join(this.dir, n)) ? this.fd(n) : undefined);
      if (fd !== undefined) fs.fdatasyncSync(fd);
    }
    if (this.dirChanged) {
      this.dirChanged = false;
      const dfd = fs.openSync(this.dir, fs.constants.O_RDONLY);
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    }
  }

  close(): void {
    for (const fd of this.fds.values()) this.closeFd(fd);
    this.fds.clear();
  }

  destroy(): void {
    this.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Files in memory: for groups whose data lives in memory anyway. `sync` completes at once. A
 * file has a logical size and the bytes written so far (a preallocated segment costs nothing).
 * `volatile`: the bytes are not kept, only the sizes (reads give zeros). For a store that is
 * opened once, on an empty disk, and never reads back (a memory stream's group starts from
 * nothing each time): the RAFT store holds its entries in memory anyway, so keeping every
 * record a second time here cost a copy per entry and the memory of the log twice.
 */
export class MemRaftDisk implements RaftDisk {
  protected readonly files = new Map<string, { data: Buffer; used: number; size: number }>();

  readonly keepsBytes: boolean;

  constructor(private readonly opts: { volatile?: boolean } = {}) {
    this.keepsBytes = opts.volatile !== true;
  }

  list(): string[] {
    return [...this.files.keys()];
  }

  read(name: string): Buffer | undefined {
    const f = this.files.get(name);
    return f === undefined ? undefined : this.readAt(name, 0, f.size);
  }

  size(name: string): number {
    return this.files.get(name)?.size ?? 0;
  }

  readAt(name: string, pos: number, len: number): Buffer {
    const f = this.files.get(name);
    if (f === undefined) return Buffer.alloc(0);
    const end = Math.min(f.size, pos + len);
    const out = Buffer.alloc(Math.max(0, end - pos));
    if (pos < f.used) f.data.copy(out, 0, pos, Math.min(f.used, end));
    return out;
  }

  writeAt(name: string, pos: number, data: Buffer): void {
    let f = this.files.get(name);
    if (f === undefined) {
      f = { data: Buffer.alloc(0), used: 0, size: 0 };
      this.files.set(name, f);
    }
    const end = pos + data.length;
    if (this.opts.volatile === true) {
      f.size = Math.max(f.size, end);
      return;
    }
    if (f.data.length < end) {
      const g = Buffer.alloc(Math.max(end, Math.min(f.data.length * 2, end + (1 << 20))));
      f.data.copy(g, 0, 0, f.used);
      f.data = g;
    }
    data.copy(f.data, pos);
    f.used = Math.max(f.used, end);
    f.size = Math.max(f.size, end);
  }

  writevAt(name: string, pos: number, bufs: readonly Buffer[], len: number): void {
    if (this.opts.volatile === true) {
      this.writeAt(name, pos + len, EMPTY);
      return;
    }
    let at = pos;
    for (const b of bufs) {
      this.writeAt(name, at, b);
      at += b.length;
    }
  }

  truncate(name: string, size: number): void {
    let f = this.files.get(name);
    if (f === undefined) {
      f = { data: Buffer.alloc(0), used: 0, size: 0 };
      this.files.set(name, f);
    }
    if (size < f.used) {
      f.data.fill(0, size, f.used);
      f.used = size;
    }
    f.size = size;
  }

  remove(name: string): void {
    this.files.delete(name);
  }

  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw new Error(`no such file: ${from}`);
    this.files.delete(from);
    this.files.set(to, f);
  }

  sync(_names: readonly string[], done: (err?: Error) => void): void {
    queueMicrotask(() => done());
  }

  syncNow(_names: readonly string[]): void {
    // nothing to wait for
  }

  close(): void {
    // nothing to let go
  }

  destroy(): void {
    this.files.clear();
  }
}
