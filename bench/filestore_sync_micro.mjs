// One synchronous publisher on the file store, without a server: store a message, wait until
// it is durable (whenDurable, what a PubAck waits for), repeat. Prints µs per message and, with
// STATDEV=<block device holding DIR and used by nothing else> (e.g. a loop-mounted ext4), the
// device write and flush requests per message: the cost of the fsync contract, load-independent.
// Run: node bench/filestore_sync_micro.mjs <dist dir> <DIR> [n] [payload bytes]
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [distArg, dirArg, nArg, sizeArg] = process.argv.slice(2);
const dist = resolve(distArg ?? "dist");
const dir = dirArg ?? "/tmp/fs-sync-micro";
const N = Number(nArg ?? 2000);
const SIZE = Number(sizeArg ?? 1024);
const { FileStore } = await import(pathToFileURL(join(dist, "src/storage/filestore.js")).href);
const statDev = process.env.STATDEV;
function devStat() {
  if (!statDev) return { writes: 0, flushes: 0 };
  const f = fs.readFileSync(`/sys/block/${statDev}/stat`, "utf8").trim().split(/\s+/).map(Number);
  return { writes: f[4], flushes: f[15] ?? 0 };
}
fs.rmSync(dir, { recursive: true, force: true });
const quiet = { info() {}, warn: console.warn, error: console.error, debug() {}, trace() {} };
const store = new FileStore({ dir, config: { name: "S", subjects: ["s"] }, logger: quiet });
const payload = Buffer.alloc(SIZE, 0x61);
const durable = () => new Promise((res, rej) => store.whenDurable((e) => (e ? rej(e) : res())));
for (let i = 0; i < 50; i++) {
  store.storeMsg("s", undefined, payload);
  await durable();
}
const times = [];
const s0 = devStat();
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const t = process.hrtime.bigint();
  store.storeMsg("s", undefined, payload);
  await durable();
  times.push(Number(process.hrtime.bigint() - t) / 1000);
}
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const s1 = devStat();
const cpu = process.cpuUsage();
store.stop();
const blk = fs.readdirSync(join(dir, "msgs")).filter((f) => f.endsWith(".blk"));
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(times.length * p))].toFixed(0);
console.log(
  `${dist}: ${N} x ${SIZE} B: ${(N / wall).toFixed(0)} msgs/s, p50 ${q(0.5)} µs p90 ${q(0.9)} p99 ${q(0.99)}` +
    (statDev ? `, dev writes/msg ${((s1.writes - s0.writes) / N).toFixed(2)} flushes/msg ${((s1.flushes - s0.flushes) / N).toFixed(2)}` : "") +
    `, cpu ${(((cpu.user + cpu.system) / N)).toFixed(0)} µs/msg, blocks ${blk.length}`,
);
fs.rmSync(dir, { recursive: true, force: true });
