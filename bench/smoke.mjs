// Benchmark smoke run, cheap enough for CI: the core scenarios of ../shared/bench at a tenth of
// their message counts (BENCH_SCALE, default 0.1), nats-server and tsnats on this machine one
// after the other (a fresh server each run, the best of SMOKE_ROUNDS=2 runs each). It fails only
// on gross regressions, which machine noise cannot produce:
//   - tsnats lost messages where nats-server lost none;
//   - tsnats below SMOKE_FLOOR (default 0.15) × nats-server's throughput (on a 2-core machine
//     tsnats runs at 0.35–1.2× of nats-server 2.15 in these scenarios);
//   - tsnats' peak RSS above SMOKE_MAX_RSS_MB (default 1024).
// The load generator is bench/clusterbench (Go, the official client) with both ends on one
// server. Without Go, Debian's nats.go or a nats-server it says so and exits 0.
//
//   npm run build && node bench/smoke.mjs
import { spawn, spawnSync, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GEN, GOPATH, buildClusterbench, freePort, waitPort, parseResult } from "./bench_lib.mjs";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, "..");
const SCALE = Number(process.env.BENCH_SCALE ?? "0.1");
const ROUNDS = Number(process.env.SMOKE_ROUNDS ?? "2");
const FLOOR = Number(process.env.SMOKE_FLOOR ?? "0.15");
const MAX_RSS_MB = Number(process.env.SMOKE_MAX_RSS_MB ?? "1024");
const tsBin = path.join(ROOT, "dist", "src", "bin", "tsnats-server.js");

function skip(why) {
  console.log(`bench smoke skipped: ${why}`);
  process.exit(0);
}

/**
 * nats-server 2.15: the one .ci/run fetched (NATS_SERVER_2_15_BIN), else fetched by
 * .ci/nats-server-ref.sh, else the one on PATH (Debian's 2.9.10).
 */
function referenceServer() {
  const fetched = process.env.NATS_SERVER_2_15_BIN;
  if (fetched !== undefined && fetched !== "none" && fs.existsSync(fetched)) return fetched;
  const tool = path.join(ROOT, ".ci", "nats-server-ref.sh");
  if (fetched === undefined && fs.existsSync(tool)) {
    try {
      const p = execFileSync(tool, ["2.15"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      if (p !== "") return p;
    } catch {
      // fall back to PATH
    }
  }
  const r = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const n = (x) => String(Math.max(1000, Math.round(x * SCALE)));
// name | generator args (URL replaced by the server's)
const SCENARIOS = [
  ["pubsub16", ["pubsub", "-n", n(2_000_000), "-size", "16", "-subs", "1"]],
  ["pubsub1k", ["pubsub", "-n", n(500_000), "-size", "1024", "-subs", "1"]],
  ["fanout16", ["pubsub", "-n", n(1_000_000), "-size", "16", "-subs", "4"]],
  ["queue16", ["queue", "-n", n(2_000_000), "-size", "16", "-subs", "4"]],
  ["reqlat", ["req", "-n", n(20_000), "-c", "1"]],
  ["reqtput16", ["req", "-n", n(100_000), "-c", "16"]],
];

/** Start a server on a free port; `stop` resolves with its peak RSS in MB (undefined where /proc is missing). */
async function startServer(impl, ref) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-smoke-"));
  const port = await freePort();
  const argv = ["-a", "127.0.0.1", "-p", String(port)];
  const [cmd, args] = impl === "ref" ? [ref, argv] : [process.execPath, [tsBin, ...argv]];
  const p = spawn(cmd, args, { stdio: ["ignore", "ignore", fs.openSync(path.join(dir, "log"), "w")] });
  await waitPort(port);
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        let peak;
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p.pid}/status`, "utf8"));
          if (m !== null) peak = Number(m[1]) / 1024;
        } catch {
          // no /proc: no RSS check
        }
        p.once("exit", () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve(peak);
        });
        p.kill("SIGTERM");
        setTimeout(() => p.kill("SIGKILL"), 3000).unref();
      }),
  };
}

const ref = referenceServer();
if (ref === undefined) skip("no nats-server to compare with");
if (!fs.existsSync(tsBin)) {
  console.error(`bench smoke: ${tsBin} is missing (npm run build first)`);
  process.exit(1);
}
if (spawnSync("go", ["version"]).status !== 0) skip("Go is not installed");
if (!fs.existsSync(path.join(GOPATH, "src", "github.com", "nats-io", "nats.go"))) skip("nats.go is not installed (golang-github-nats-io-go-nats-dev)");
buildClusterbench();

const failures = [];
console.log(`bench smoke: BENCH_SCALE=${SCALE}, best of ${ROUNDS}, floor ${FLOOR}× of ${ref}`);
console.log("scenario   | nats-server msgs/s | tsnats msgs/s | ratio | tsnats peak RSS");
for (const [name, genArgs] of SCENARIOS) {
  const best = { ref: { msgs_per_sec: 0, lost: 0 }, ts: { msgs_per_sec: 0, lost: 0 } };
  let peakRss = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const impl of ["ref", "ts"]) {
      const server = await startServer(impl, ref);
      const r = spawnSync(GEN, [...genArgs, "-pub", server.url, "-sub", server.url], { encoding: "utf8", timeout: 120_000 });
      const peak = await server.stop();
      if (impl === "ts" && peak !== undefined) peakRss = Math.max(peakRss, peak);
      const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT"));
      if (line === undefined) {
        failures.push(`${name}: ${impl === "ts" ? "tsnats" : "nats-server"} run failed: ${(r.stderr ?? "").trim().slice(0, 300)}`);
        continue;
      }
      const res = parseResult(line);
      const b = best[impl];
      if (res.msgs_per_sec > b.msgs_per_sec) b.msgs_per_sec = res.msgs_per_sec;
      // Lost in every run counts, not just the best one.
      b.lost = Math.max(b.lost, res.lost ?? 0);
    }
  }
  const ratio = best.ref.msgs_per_sec > 0 ? best.ts.msgs_per_sec / best.ref.msgs_per_sec : 0;
  console.log(`${name.padEnd(10)} | ${String(best.ref.msgs_per_sec).padStart(18)} | ${String(best.ts.msgs_per_sec).padStart(13)} | ${ratio.toFixed(2).padStart(5)} | ${peakRss.toFixed(0)} MB`);
  if (best.ts.lost > 0 && best.ref.lost === 0) failures.push(`${name}: tsnats lost ${best.ts.lost} messages, nats-server none`);
  if (best.ref.msgs_per_sec > 0 && ratio < FLOOR) failures.push(`${name}: tsnats at ${ratio.toFixed(2)}× nats-server's throughput (floor ${FLOOR}×)`);
  if (peakRss > MAX_RSS_MB) failures.push(`${name}: tsnats peak RSS ${peakRss.toFixed(0)} MB (limit ${MAX_RSS_MB} MB)`);
}
if (failures.length > 0) {
  console.error(`bench smoke FAILED:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
console.log("bench smoke passed");
