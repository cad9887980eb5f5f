// A simulated power loss under the file store (installed with setFileIO, src/storage/file_io.ts).
//
// Every call goes to the real file system, so the server runs as usual, and is also played
// on a model of what the disk holds durably, as POSIX promises it and no more:
//  - a file's content is durable as of its last fsync/fdatasync; writes and truncations
//    after that are lost;
//  - a directory entry (a file or directory created, renamed or removed) is durable once its
//    directory was fsynced; until then the entry is as it was at that directory's last fsync.
// `cut(to)` writes the disk as a power loss at that moment would leave it into a new
// directory: the server restarted on it shows what survived. Everything under `root` that
// existed before the layer was installed counts as durable.
import * as fs from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { nodeFileIO, type FileIO } from "../../src/storage/file_io.js";

type Op = { pos: number; data: Buffer } | { truncate: number };

/** A file: what is durable, and the changes made since its last fsync. */
interface Inode {
  durable: Buffer;
  ops: Op[];
}

type Node = { dir: true } | { dir: false; ino: Inode };

export class PowerLossFS implements FileIO {
  /** path -> node, as the files are now. */
  private readonly current = new Map<string, Node>();
  /** path -> node, as a power loss would leave them. */
  private readonly durable = new Map<string, Node>();
  private readonly fds = new Map<number, { path: string; node: Node }>();
  /** fsync calls seen (files and directories). */
  syncs = 0;

  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
    this.adopt(root);
  }

  /** Take what exists under `dir` as durable. */
  private adopt(dir: string): void {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const node: Node = e.isDirectory() ? { dir: true } : { dir: false, ino: { durable: fs.readFileSync(p), ops: [] } };
      this.current.set(p, node);
      this.durable.set(p, node);
      if (e.isDirectory()) this.adopt(p);
    }
  }

  private inside(p: string): boolean {
    const r = relative(this.root, p);
    return r !== "" && !r.startsWith("..") && !r.startsWith(sep);
  }

  /** The node of a path (a file the model did not see being made is taken as durable). */
  private nodeOf(p: string): Node | undefined {
    let n = this.current.get(p);
    if (n === undefined && this.inside(p) && fs.existsSync(p)) {
      n = fs.statSync(p).isDirectory() ? { dir: true } : { dir: false, ino: { durable: fs.readFileSync(p), ops: [] } };
      this.current.set(p, n);
      this.durable.set(p, n);
    }
    return n;
  }

  // ---- the calls that change something ----

  openSync(path: string, flags: string): number {
    const existed = fs.existsSync(path);
    const fd = nodeFileIO.openSync(path, flags);
    // The root's own fsync makes the entries made in it durable (e.g. the store's jetstream/).
    if (path === this.root) this.fds.set(fd, { path, node: { dir: true } });
    if (!this.inside(path)) return fd;
    let node = existed ? this.nodeOf(path) : undefined;
    if (node === undefined) {
      node = { dir: false, ino: { durable: Buffer.alloc(0), ops: [] } };
      this.current.set(path, node);
    } else if (!node.dir && flags.startsWith("w")) {
      node.ino.ops.push({ truncate: 0 });
    }
    this.fds.set(fd, { path, node });
    return fd;
  }

  closeSync(fd: number): void {
    this.fds.delete(fd);
    nodeFileIO.closeSync(fd);
  }

  writeSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
    const n = nodeFileIO.writeSync(fd, buf, off, len, pos);
    const f = this.fds.get(fd);
    if (f !== undefined && !f.node.dir) f.node.ino.ops.push({ pos, data: Buffer.from(buf.subarray(off, off + n)) });
    return n;
  }

  fsyncSync(fd: number): void {
    nodeFileIO.fsyncSync(fd);
    this.synced(fd);
  }

  fdatasync(fd: number, cb: (err: Error | null) => void): void {
    // durable as of the call: a cut before the callback keeps it (nothing was acknowledged yet)
    this.synced(fd);
    nodeFileIO.fdatasync(fd, cb);
  }

  fdatasyncSync(fd: number): void {
    nodeFileIO.fdatasyncSync(fd);
    this.synced(fd);
  }

  ftruncateSync(fd: number, len: number): void {
    nodeFileIO.ftruncateSync(fd, len);
    const f = this.fds.get(fd);
    if (f !== undefined && !f.node.dir) f.node.ino.ops.push({ truncate: len });
  }

  truncateSync(path: string, len: number): void {
    nodeFileIO.truncateSync(path, len);
    const n = this.nodeOf(path);
    if (n !== undefined && !n.dir) n.ino.ops.push({ truncate: len });
  }

  renameSync(from: string, to: string): void {
    nodeFileIO.renameSync(from, to);
    const moved: Array<[string, Node]> = [];
    for (const [p, n] of this.current) {
      if (p === from || p.startsWith(from + sep)) moved.push([p, n]);
    }
    for (const [p] of moved) this.current.delete(p);
    this.dropUnder(to);
    for (const [p, n] of moved) this.current.set(to + p.slice(from.length), n);
    for (const f of this.fds.values()) if (f.path === from) f.path = to;
  }

  unlinkSync(path: string): void {
    nodeFileIO.unlinkSync(path);
    this.current.delete(path);
  }

  mkdirSync(path: string, opts: { recursive: true }): void {
    const made: string[] = [];
    for (let p = path; this.inside(p) && !fs.existsSync(p); p = dirname(p)) made.push(p);
    nodeFileIO.mkdirSync(path, opts);
    for (const p of made) this.current.set(p, { dir: true });
  }

  rmSync(path: string, opts: { recursive: true; force: true }): void {
    nodeFileIO.rmSync(path, opts);
    this.dropUnder(path);
  }

  private dropUnder(path: string): void {
    for (const p of [...this.current.keys()]) if (p === path || p.startsWith(path + sep)) this.current.delete(p);
  }

  // ---- reads: the files as they are now ----

  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
    return nodeFileIO.readSync(fd, buf, off, len, pos);
  }
  readFileSync(path: string): Buffer {
    return nodeFileIO.readFileSync(path);
  }
  statSync(path: string): { size: number } {
    return nodeFileIO.statSync(path);
  }
  readdirSync(path: string): string[] {
    return nodeFileIO.readdirSync(path);
  }
  listDirs(path: string): string[] {
    return nodeFileIO.listDirs(path);
  }
  existsSync(path: string): boolean {
    return nodeFileIO.existsSync(path);
  }

  /** fsync of an open file (its content) or directory (its entries). */
  private synced(fd: number): void {
    this.syncs++;
    const f = this.fds.get(fd);
    if (f === undefined) return;
    if (!f.node.dir) {
      const ino = f.node.ino;
      let d = Buffer.alloc(ino.durable.length);
      ino.durable.copy(d);
      let len = d.length;
      const fit = (n: number): void => {
        if (n <= d.length) return;
        const g = Buffer.alloc(Math.max(n, d.length * 2));
        d.copy(g, 0, 0, len);
        d = g;
      };
      for (const op of ino.ops) {
        if ("truncate" in op) {
          fit(op.truncate);
          if (op.truncate < len) d.fill(0, op.truncate, len);
          len = op.truncate;
          continue;
        }
        const end = op.pos + op.data.length;
        fit(end);
        op.data.copy(d, op.pos);
        if (end > len) len = end;
      }
      ino.durable = Buffer.from(d.subarray(0, len));
      ino.ops = [];
      return;
    }
    // a directory: its entries become what they are now
    const dir = f.path;
    for (const p of [...this.durable.keys()]) if (dirname(p) === dir && !this.current.has(p)) this.dropDurableUnder(p);
    for (const [p, n] of this.current) if (dirname(p) === dir) this.durable.set(p, n);
  }

  private dropDurableUnder(path: string): void {
    for (const p of [...this.durable.keys()]) if (p === path || p.startsWith(path + sep)) this.durable.delete(p);
  }

  /**
   * The power goes out now: write what the disk holds durably into `to` (a new directory
   * standing for `root`). Entries whose directory is not durably there are lost with it.
   */
  cut(to: string): { files: number; bytes: number } {
    fs.mkdirSync(to, { recursive: true });
    let files = 0;
    let bytes = 0;
    const paths = [...this.durable.keys()].sort();
    for (const p of paths) {
      // reachable only through durable directories
      let ok = true;
      for (let d = dirname(p); d !== this.root && this.inside(d); d = dirname(d)) {
        const n = this.durable.get(d);
        if (n === undefined || !n.dir) ok = false;
      }
      if (!ok) continue;
      const target = join(to, relative(this.root, p));
      const n = this.durable.get(p)!;
      if (n.dir) fs.mkdirSync(target, { recursive: true });
      else {
        fs.mkdirSync(dirname(target), { recursive: true });
        fs.writeFileSync(target, n.ino.durable);
        files++;
        bytes += n.ino.durable.length;
      }
    }
    return { files, bytes };
  }

  /** Paths of the model (tests of the layer itself). */
  entries(which: "current" | "durable"): string[] {
    return [...(which === "current" ? this.current : this.durable).keys()].map((p) => relative(this.root, p)).sort();
  }

}
