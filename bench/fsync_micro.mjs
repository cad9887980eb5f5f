// Micro-benchmark: the cost of making one small append durable, by how the block file was
// prepared and how the write is made durable. Run: node bench/fsync_micro.mjs [dir] [n] [size]
// Variants interleave in rounds so machine load hits them alike; prints median/p90 µs per op.
import * as fs from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";

const dir = process.argv[2] ?? "/work/tmp-fsync-micro";
const N = Number(process.argv[3] ?? 400);
const SIZE = Number(process.argv[4] ?? 80);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const FILE_BYTES = 8 * 1024 * 1024;
fs.mkdirSync(dir, { recursive: true });
const C = fs.constants;
const payload = Buffer.alloc(SIZE, 0x61);

function prepare(path, how) {
  fs.rmSync(path, { force: true });
  const fd = fs.openSync(path, "w");
  if (how === "sparse") fs.ftruncateSync(fd, FILE_BYTES);
  if (how === "zeros") {
    const z = Buffer.alloc(1 << 20);
    for (let p = 0; p < FILE_BYTES; p += z.length) fs.writeSync(fd, z, 0, z.length, p);
  }
  if (how === "fallocate") execFileSync("fallocate", ["-l", String(FILE_BYTES), path]);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  // settle: make the preparation's journal commit not count
  execFileSync("sync");
}

const variants = {
  // file prep, open flags, sync style
  "append+fdatasync": ["none", "r+", "fdatasync"],
  "sparse+fdatasync": ["sparse", "r+", "fdatasync"],
  "fallocate+fdatasync": ["fallocate", "r+", "fdatasync"],
  "zeros+fdatasync": ["zeros", "r+", "fdatasync"],
  "zeros+fdatasync-async": ["zeros", "r+", "async"],
  "append+O_DSYNC": ["none", C.O_RDWR | C.O_DSYNC, "none"],
  "zeros+O_DSYNC": ["zeros", C.O_RDWR | C.O_DSYNC, "none"],
  "zeros+fsync": ["zeros", "r+", "fsync"],
};

// All variants' files are open at once and take turns op by op, so load hits them alike.
const names = Object.keys(variants);
const all = Object.fromEntries(names.map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) {
  const open = names.map((name) => {
    const [prep, flags] = variants[name];
    const path = join(dir, name.replace(/[^a-z0-9]/gi, "_") + ".blk");
    prepare(path, prep);
    return { name, path, fd: fs.openSync(path, flags), how: variants[name][2], pos: 0 };
  });
  for (let i = 0; i < N; i++) {
    for (const f of open) {
      const t0 = process.hrtime.bigint();
      fs.writeSync(f.fd, payload, 0, SIZE, f.pos);
      if (f.how === "fdatasync") fs.fdatasyncSync(f.fd);
      else if (f.how === "fsync") fs.fsyncSync(f.fd);
      else if (f.how === "async") await new Promise((res, rej) => fs.fdatasync(f.fd, (e) => (e ? rej(e) : res())));
      all[f.name].push(Number(process.hrtime.bigint() - t0) / 1000);
      f.pos += SIZE;
    }
  }
  for (const f of open) {
    fs.closeSync(f.fd);
    fs.rmSync(f.path, { force: true });
  }
}
// STATDEV=<block device> (e.g. loop0 holding the test dir's file system, used by nothing
// else): each variant alone, counting the device's write and flush requests per op.
const statDev = process.env.STATDEV;
function devStat() {
  const f = fs.readFileSync(`/sys/block/${statDev}/stat`, "utf8").trim().split(/\s+/).map(Number);
  return { writes: f[4], flushes: f[15] ?? 0 };
}
const perOp = {};
if (statDev) {
  for (const name of names) {
    const [prep, flags, how] = variants[name];
    const path = join(dir, name.replace(/[^a-z0-9]/gi, "_") + ".blk");
    prepare(path, prep);
    const fd = fs.openSync(path, flags);
    const s0 = devStat();
    let pos = 0;
    for (let i = 0; i < N; i++) {
      fs.writeSync(fd, payload, 0, SIZE, pos);
      if (how === "fdatasync" || how === "async") fs.fdatasyncSync(fd);
      else if (how === "fsync") fs.fsyncSync(fd);
      pos += SIZE;
    }
    const s1 = devStat();
    perOp[name] = `dev writes/op ${((s1.writes - s0.writes) / N).toFixed(2)} flushes/op ${((s1.flushes - s0.flushes) / N).toFixed(2)}`;
    fs.closeSync(fd);
    fs.rmSync(path, { force: true });
  }
}
const q = (a, p) => a[Math.min(a.length - 1, Math.floor(a.length * p))];
for (const [name, t] of Object.entries(all)) {
  t.sort((a, b) => a - b);
  console.log(`${name.padEnd(24)} median ${q(t, 0.5).toFixed(0).padStart(5)} µs  p90 ${q(t, 0.9).toFixed(0).padStart(5)} µs  (n=${t.length})  ${perOp[name] ?? ""}`);
}
fs.rmSync(dir, { recursive: true, force: true });
