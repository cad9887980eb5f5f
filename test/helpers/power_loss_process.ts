// A simulated power loss for a whole server process (the random Jepsen-style scheduler's
// "power loss" fault). Loaded before the server with `node --import <this file>`; the store
// directory comes from TSNATS_POWER_LOSS_ROOT. Nothing changes while the server runs: every
// call reaches the real file system. Alongside, each change under the root made since the
// file's last fsync/fdatasync is kept as an undo record (the bytes a write overwrote, the
// length a truncation cut, a file or directory created, renamed or removed while its directory
// was not yet synced). On SIGPWR the process undoes those records, newest first, and kills
// itself with SIGKILL: what is left on disk is what a power cut at that moment may leave
// (POSIX's promise and no more, the model of power_loss.ts: a file's content is durable as of
// its last sync, a new, renamed or removed directory entry once its directory was synced).
//
// A removal (unlink, rm -r) keeps a copy of what it removed until the directory that held it
// is synced: the cut puts it back (its content as it was at the removal, older undo records
// then take back what of it was not synced). A new directory not yet synced in its parent
// goes on the cut with everything in it.
import fs from "node:fs";
import path from "node:path";
import { syncBuiltinESMExports } from "node:module";

const root = process.env.TSNATS_POWER_LOSS_ROOT;

/** One change not yet durable, undone on power loss (newest first). */
type Undo =
  /** A write or truncation of a file: its length before, and the bytes it replaced. */
  | { kind: "bytes"; ino: number; pos: number; old: Buffer; oldSize: number }
  /** A file replaced as a whole (writeFileSync): its content before, null when it did not exist. */
  | { kind: "content"; ino: number; old: Buffer | null }
  /** A file created while its directory's entries were not synced: gone after the cut. */
  | { kind: "created"; ino: number; dir: string }
  /** A rename not yet made durable by a sync of the directories involved. */
  | { kind: "rename"; ino: number; from: string; to: string; oldTo: Buffer | null; dirs: string[] }
  /** A directory renamed, not yet durable in either directory: renamed back. */
  | { kind: "dirRename"; from: string; to: string; dirs: string[] }
  /** A directory made while its parent's entries were not synced: gone after the cut, with what it holds. */
  | { kind: "mkdir"; path: string; dir: string }
  /** A file or a tree removed while its directory's entries were not synced: back after the cut. */
  | { kind: "removed"; path: string; dir: string; entries: Removed[] };

/** One file or directory of a removed tree (`rel` from its root, "" for the root itself), with the inode id its undo records name. */
interface Removed {
  rel: string;
  content: Buffer | null;
  ino?: number;
}

if (root !== undefined && root !== "") installPowerLossLayer(path.resolve(root));

function installPowerLossLayer(rootDir: string): void {
  const real = {
    openSync: fs.openSync,
    open: fs.open,
    closeSync: fs.closeSync,
    close: fs.close,
    writeSync: fs.writeSync,
    writevSync: fs.writevSync,
    ftruncateSync: fs.ftruncateSync,
    truncateSync: fs.truncateSync,
    fsyncSync: fs.fsyncSync,
    fdatasyncSync: fs.fdatasyncSync,
    fsync: fs.fsync,
    fdatasync: fs.fdatasync,
    renameSync: fs.renameSync,
    unlinkSync: fs.unlinkSync,
    rmSync: fs.rmSync,
    mkdirSync: fs.mkdirSync,
    writeFileSync: fs.writeFileSync,
  };
  const inside = (p: string): boolean => {
    const r = path.relative(rootDir, p);
    return r !== "" && !r.startsWith("..") && !path.isAbsolute(r);
  };

  let nextIno = 1;
  /** path -> inode id (files only). */
  const inoOf = new Map<string, number>();
  /** inode id -> path, as it is now. */
  const pathOf = new Map<number, string>();
  /** fd -> what it is open on: a file's inode, or a directory's path; cursor for writes without a position. */
  const fds = new Map<number, { ino?: number; dir?: string; cursor: number }>();
  /** Every undo record, oldest first (null once made durable). */
  const undo: Array<Undo | null> = [];
  /** Busy inside one of our own calls (writeFileSync may call the patched ones). */
  let depth = 0;

  const inodeFor = (p: string): number => {
    let ino = inoOf.get(p);
    if (ino === undefined) {
      ino = nextIno++;
      inoOf.set(p, ino);
      pathOf.set(ino, p);
    }
    return ino;
  };
  const forget = (p: string): void => {
    for (const [q, ino] of [...inoOf]) {
      if (q === p || q.startsWith(p + path.sep)) {
        inoOf.delete(q);
        pathOf.delete(ino);
      }
    }
  };
  const sizeOf = (fd: number): number => fs.fstatSync(fd).size;
  /** Bytes [pos, pos+len) of an open file (through a read-only fd of its own when it is open write-only). */
  const readRange = (fd: number, pos: number, len: number): Buffer => {
    const read = (from: number): Buffer => {
      const out = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const n = fs.readSync(from, out, got, len - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      return out.subarray(0, got);
    };
    try {
      return read(fd);
    } catch {
      const f = fds.get(fd);
      const p = f?.ino !== undefined ? pathOf.get(f.ino) : undefined;
      if (p === undefined) throw new Error("power-loss layer: cannot read back a write-only file");
      const rfd = real.openSync(p, "r");
      try {
        return read(rfd);
      } finally {
        real.closeSync(rfd);
      }
    }
  };
  /** Before `len` bytes are written at `pos` of an fd: keep what they replace. */
  const beforeWrite = (fd: number, pos: number, len: number): void => {
    const f = fds.get(fd);
    if (f?.ino === undefined || len <= 0) return;
    const size = sizeOf(fd);
    const old = pos < size ? readRange(fd, pos, Math.min(len, size - pos)) : Buffer.alloc(0);
    undo.push({ kind: "bytes", ino: f.ino, pos, old, oldSize: size });
  };
  /** A sync of an fd: its file's changes are durable, or a directory's entries. */
  const synced = (fd: number): void => {
    const f = fds.get(fd);
    if (f === undefined) return;
    for (let i = 0; i < undo.length; i++) {
      const u = undo[i];
      if (u === null) continue;
      if (f.ino !== undefined && (u.kind === "bytes" || u.kind === "content") && u.ino === f.ino) undo[i] = null;
      if (f.dir !== undefined && (u.kind === "created" || u.kind === "mkdir" || u.kind === "removed") && u.dir === f.dir) undo[i] = null;
      if (f.dir !== undefined && (u.kind === "rename" || u.kind === "dirRename")) {
        u.dirs = u.dirs.filter((d) => d !== f.dir);
        if (u.dirs.length === 0) undo[i] = null;
      }
    }
    // keep the list short: drop the durable head
    let head = 0;
    while (head < undo.length && undo[head] === null) head++;
    if (head > 0) undo.splice(0, head);
  };
  /** What a removal takes (before it does): every file's content and inode id, directories first. */
  const removedEntries = (abs: string): Removed[] => {
    const out: Removed[] = [];
    const walk = (p: string, rel: string): void => {
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out.push({ rel, content: null });
        for (const name of fs.readdirSync(p)) walk(path.join(p, name), rel === "" ? name : path.join(rel, name));
      } else if (st.isFile()) out.push({ rel, content: fs.readFileSync(p), ino: inoOf.get(p) });
    };
    try {
      walk(abs, "");
    } catch {
      // gone meanwhile: what was read is kept
    }
    return out;
  };
  /** A removal under the root: undone on the cut until its directory is synced. */
  const removing = (p: fs.PathLike, remove: () => void): void => {
    const abs = typeof p === "string" ? path.resolve(p) : undefined;
    if (depth > 0 || abs === undefined || !inside(abs) || !fs.existsSync(abs)) {
      remove();
      if (abs !== undefined) forget(abs);
      return;
    }
    const entries = removedEntries(abs);
    remove();
    forget(abs);
    undo.push({ kind: "removed", path: abs, dir: path.dirname(abs), entries });
  };
  const opened = (p: string, fd: number, flags: string | number | undefined, existed: boolean): void => {
    const abs = path.resolve(p);
    fds.delete(fd); // a number reused after an fd we did not see closed
    // (The root itself only as a directory synced: entries made in it are undone until it is.)
    if (!inside(abs) && abs !== rootDir) return;
    let isDir = false;
    try {
      isDir = fs.fstatSync(fd).isDirectory();
    } catch {
      return;
    }
    if (isDir) {
      fds.set(fd, { dir: abs, cursor: 0 });
      return;
    }
    const ino = inodeFor(abs);
    if (!existed) undo.push({ kind: "created", ino, dir: path.dirname(abs) });
    const append = typeof flags === "string" ? flags.startsWith("a") : typeof flags === "number" && (flags & fs.constants.O_APPEND) !== 0;
    fds.set(fd, { ino, cursor: append ? sizeOf(fd) : 0 });
  };

  const patched = {
    openSync(p: fs.PathLike, flags: fs.OpenMode = "r", mode?: fs.Mode | null): number {
      if (depth > 0 || typeof p !== "string") {
        const fd = real.openSync(p, flags, mode);
        fds.delete(fd);
        return fd;
      }
      const existed = fs.existsSync(p);
      const abs = path.resolve(p);
      let before: Buffer | null = null;
      const truncates = typeof flags === "string" ? flags.startsWith("w") : typeof flags === "number" && (flags & fs.constants.O_TRUNC) !== 0;
      if (existed && truncates && inside(abs)) {
        try {
          before = fs.readFileSync(abs);
        } catch {
          before = null;
        }
      }
      const fd = real.openSync(p, flags, mode);
      if (before !== null) {
        // emptied by the open: undo brings the old content back
        const ino = inodeFor(abs);
        undo.push({ kind: "content", ino, old: before });
        fds.set(fd, { ino, cursor: 0 });
        return fd;
      }
      opened(p, fd, flags, existed);
      return fd;
    },
    closeSync(fd: number): void {
      fds.delete(fd);
      real.closeSync(fd);
    },
    close(fd: number, cb?: fs.NoParamCallback): void {
      fds.delete(fd);
      real.close(fd, cb);
    },
    writeSync(fd: number, buffer: unknown, a?: unknown, b?: unknown, c?: unknown): number {
      const f = fds.get(fd);
      if (depth > 0 || f?.ino === undefined) return (real.writeSync as (...x: unknown[]) => number)(fd, buffer, a, b, c);
      let len: number;
      let pos: number | null | undefined;
      if (typeof buffer === "string") {
        len = Buffer.byteLength(buffer, typeof b === "string" ? (b as BufferEncoding) : "utf8");
        pos = typeof a === "number" ? a : null;
      } else {
        const view = buffer as ArrayBufferView;
        const off = typeof a === "number" ? a : 0;
        len = typeof b === "number" ? b : view.byteLength - off;
        pos = typeof c === "number" ? c : null;
      }
      const at = pos ?? f.cursor;
      beforeWrite(fd, at, len);
      const n = (real.writeSync as (...x: unknown[]) => number)(fd, buffer, a, b, c);
      if (pos === null || pos === undefined) f.cursor = at + n;
      return n;
    },
    writevSync(fd: number, buffers: readonly NodeJS.ArrayBufferView[], position?: number | null): number {
      const f = fds.get(fd);
      if (depth > 0 || f?.ino === undefined) return real.writevSync(fd, buffers, position ?? undefined);
      const len = buffers.reduce((s, v) => s + v.byteLength, 0);
      const at = position ?? f.cursor;
      beforeWrite(fd, at, len);
      const n = real.writevSync(fd, buffers, position ?? undefined);
      if (position === null || position === undefined) f.cursor = at + n;
      return n;
    },
    ftruncateSync(fd: number, len?: number): void {
      const f = fds.get(fd);
      if (depth === 0 && f?.ino !== undefined) {
        const size = sizeOf(fd);
        const to = len ?? 0;
        undo.push({ kind: "bytes", ino: f.ino, pos: to, old: to < size ? readRange(fd, to, size - to) : Buffer.alloc(0), oldSize: size });
      }
      real.ftruncateSync(fd, len);
    },
    truncateSync(p: fs.PathLike, len?: number): void {
      if (depth === 0 && typeof p === "string" && inside(path.resolve(p)) && fs.existsSync(p)) {
        const fd = real.openSync(p, "r");
        try {
          const size = sizeOf(fd);
          const to = len ?? 0;
          undo.push({ kind: "bytes", ino: inodeFor(path.resolve(p)), pos: to, old: to < size ? readRange(fd, to, size - to) : Buffer.alloc(0), oldSize: size });
        } finally {
          real.closeSync(fd);
        }
      }
      real.truncateSync(p, len);
    },
    fsyncSync(fd: number): void {
      real.fsyncSync(fd);
      synced(fd);
    },
    fdatasyncSync(fd: number): void {
      real.fdatasyncSync(fd);
      synced(fd);
    },
    // The asynchronous syncs count as done when asked: the cut may keep them (nothing waiting
    // on them was answered yet), as power_loss.ts models it.
    fsync(fd: number, cb: fs.NoParamCallback): void {
      synced(fd);
      real.fsync(fd, cb);
    },
    fdatasync(fd: number, cb: fs.NoParamCallback): void {
      synced(fd);
      real.fdatasync(fd, cb);
    },
    renameSync(from: fs.PathLike, to: fs.PathLike): void {
      if (depth > 0 || typeof from !== "string" || typeof to !== "string" || !inside(path.resolve(to))) return real.renameSync(from, to);
      const a = path.resolve(from);
      const b = path.resolve(to);
      let oldTo: Buffer | null = null;
      try {
        oldTo = fs.statSync(b).isFile() ? fs.readFileSync(b) : null;
      } catch {
        oldTo = null;
      }
      const isFile = fs.statSync(a).isFile();
      real.renameSync(from, to);
      if (!isFile) {
        // a directory renamed: the files inside follow it (and back if the cut undoes it)
        for (const [q, ino] of [...inoOf]) {
          if (q === a || q.startsWith(a + path.sep)) {
            const moved = b + q.slice(a.length);
            inoOf.delete(q);
            inoOf.set(moved, ino);
            pathOf.set(ino, moved);
          }
        }
        undo.push({ kind: "dirRename", from: a, to: b, dirs: [...new Set([path.dirname(a), path.dirname(b)])] });
        return;
      }
      const ino = inodeFor(a);
      const replaced = inoOf.get(b);
      if (replaced !== undefined) pathOf.delete(replaced);
      inoOf.delete(a);
      inoOf.set(b, ino);
      pathOf.set(ino, b);
      undo.push({ kind: "rename", ino, from: a, to: b, oldTo, dirs: [...new Set([path.dirname(a), path.dirname(b)])] });
    },
    unlinkSync(p: fs.PathLike): void {
      removing(p, () => real.unlinkSync(p));
    },
    rmSync(p: fs.PathLike, opts?: fs.RmOptions): void {
      removing(p, () => real.rmSync(p, opts));
    },
    mkdirSync(p: fs.PathLike, opts?: fs.Mode | fs.MakeDirectoryOptions | null): string | undefined {
      if (depth > 0 || typeof p !== "string") return real.mkdirSync(p, opts as fs.MakeDirectoryOptions);
      // The directories this call makes, outermost first: each new in its parent until that is synced.
      const made: string[] = [];
      for (let q = path.resolve(p); inside(q) && !fs.existsSync(q); q = path.dirname(q)) made.unshift(q);
      const r = real.mkdirSync(p, opts as fs.MakeDirectoryOptions);
      for (const d of made) if (fs.existsSync(d)) undo.push({ kind: "mkdir", path: d, dir: path.dirname(d) });
      return r;
    },
    writeFileSync(file: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, opts?: fs.WriteFileOptions): void {
      if (depth > 0 || typeof file !== "string" || !inside(path.resolve(file))) return real.writeFileSync(file, data, opts);
      const abs = path.resolve(file);
      let old: Buffer | null = null;
      try {
        old = fs.readFileSync(abs);
      } catch {
        old = null;
      }
      const ino = inodeFor(abs);
      if (old === null) undo.push({ kind: "created", ino, dir: path.dirname(abs) });
      undo.push({ kind: "content", ino, old: old ?? Buffer.alloc(0) });
      depth++;
      try {
        real.writeFileSync(file, data, opts);
      } finally {
        depth--;
      }
    },
  };
  // fs.open (asynchronous) is used to fsync directories: remember what the fd is.
  const patchedOpen = function (this: unknown, p: fs.PathLike, ...rest: unknown[]): void {
    const cb = rest[rest.length - 1] as (err: NodeJS.ErrnoException | null, fd: number) => void;
    const flags = rest.length > 1 ? (rest[0] as fs.OpenMode) : undefined;
    const existed = typeof p === "string" && fs.existsSync(p);
    const args = [...rest.slice(0, -1), (err: NodeJS.ErrnoException | null, fd: number): void => {
      if (err === null && typeof p === "string") opened(p, fd, flags, existed);
      cb(err, fd);
    }];
    (real.open as (...x: unknown[]) => void)(p, ...args);
  };
  Object.assign(fs, patched, { open: patchedOpen });
  syncBuiltinESMExports();

  process.on("SIGPWR", () => {
    cutPower(undo, pathOf, real);
    process.kill(process.pid, "SIGKILL");
  });
}

/** Undo every change not durable, newest first, with the real calls. */
function cutPower(
  undo: Array<Undo | null>,
  pathOf: Map<number, string>,
  real: {
    openSync: typeof fs.openSync;
    closeSync: typeof fs.closeSync;
    writeSync: typeof fs.writeSync;
    ftruncateSync: typeof fs.ftruncateSync;
    renameSync: typeof fs.renameSync;
    unlinkSync: typeof fs.unlinkSync;
    rmSync: typeof fs.rmSync;
    mkdirSync: typeof fs.mkdirSync;
    writeFileSync: typeof fs.writeFileSync;
  },
): void {
  let undone = 0;
  for (let i = undo.length - 1; i >= 0; i--) {
    const u = undo[i];
    if (u === null) continue;
    const p = "ino" in u ? pathOf.get(u.ino) : undefined;
    try {
      if (u.kind === "bytes") {
        if (p === undefined) continue;
        const fd = real.openSync(p, "r+");
        try {
          real.ftruncateSync(fd, u.oldSize);
          if (u.old.length > 0) real.writeSync(fd, u.old, 0, u.old.length, u.pos);
        } finally {
          real.closeSync(fd);
        }
      } else if (u.kind === "content") {
        if (p !== undefined) real.writeFileSync(p, u.old ?? Buffer.alloc(0));
      } else if (u.kind === "created") {
        if (p !== undefined) {
          real.unlinkSync(p);
          pathOf.delete(u.ino);
        }
      } else if (u.kind === "mkdir") {
        real.rmSync(u.path, { recursive: true, force: true });
      } else if (u.kind === "removed") {
        // (Directories come first: a file's directory is back before it is.)
        for (const e of u.entries) {
          const at = e.rel === "" ? u.path : path.join(u.path, e.rel);
          if (e.content === null) real.mkdirSync(at, { recursive: true });
          else real.writeFileSync(at, e.content);
          if (e.ino !== undefined) pathOf.set(e.ino, at);
        }
      } else if (u.kind === "dirRename") {
        real.renameSync(u.to, u.from);
        for (const [ino, q] of [...pathOf]) if (q === u.to || q.startsWith(u.to + path.sep)) pathOf.set(ino, u.from + q.slice(u.to.length));
      } else {
        // rename undone: the file back under its old name, the one it replaced back in place
        if (p === undefined) continue;
        real.renameSync(p, u.from);
        pathOf.set(u.ino, u.from);
        if (u.oldTo !== null) real.writeFileSync(u.to, u.oldTo);
      }
      undone++;
    } catch {
      // a file gone meanwhile: nothing to undo there
    }
  }
  try {
    fs.writeSync(2, `power loss: ${undone} changes not yet durable undone\n`);
  } catch {
    // stderr closed
  }
}
