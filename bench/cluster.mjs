// Cluster benchmarks side by side: two nats-server 2.15 (A) and two tsnats (B) servers joined by
// routes, a gateway (two clusters of one server) or a leaf connection (a hub and its leaf node), the same load on each pair in turn, medians of the
// rounds and the ratio B/A. The load generator is bench/clusterbench (Go, official client,
// built like ../shared/bench's natsbench); publishers sit on one server, subscribers or
// responders on the other, so every message crosses the route or leaf connection.
//
//   npm run build && node bench/cluster.mjs [--rounds 3] [--only route-pubsub16,leaf-reqlat]
import { spawn, spawnSync, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GEN, buildClusterbench as build, freePort, waitPort, parseResult as parse, median } from "./bench_lib.mjs";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, "..");
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ROUNDS = Number(opt("rounds", "3"));
const ONLY = opt("only", "")?.split(",").filter(Boolean) ?? [];
const SCALE = Number(process.env.BENCH_SCALE ?? "1");

const ref = execFileSync(path.resolve(ROOT, "..", "shared", "tools", "nats-server-ref.sh"), ["2.15"], { encoding: "utf8" }).trim();
const tsBin = path.join(ROOT, "dist", "src", "bin", "tsnats-server.js");

/** Start one server (impl "ref" or "ts") with a config file; returns its client port and a stopper. */
async function startServer(impl, conf) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clusterbench-"));
  const port = await freePort();
  const file = path.join(dir, "s.conf");
  fs.writeFileSync(file, conf);
  const cmd = impl === "ref" ? [ref, ["-a", "127.0.0.1", "-p", String(port), "-c", file]] : [process.execPath, [tsBin, "-a", "127.0.0.1", "-p", String(port), "-c", file]];
  const p = spawn(cmd[0], cmd[1], { stdio: ["ignore", "ignore", fs.openSync(path.join(dir, "log"), "w")] });
  await waitPort(port);
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        p.once("exit", () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        p.kill("SIGTERM");
        setTimeout(() => p.kill("SIGKILL"), 3000).unref();
      }),
  };
}

/**
 * Two servers joined by a route (topology "route"), a gateway ("gateway": clusters A and B) or a
 * leaf connection ("leaf": A is the hub). `compression` is the route or leaf compression mode
 * of both servers (unset: the defaults, accept for routes and s2_auto for leaf connections).
 */
async function startPair(impl, topology, compression) {
  const comp = compression === undefined ? "" : `, compression: ${compression}`;
  if (topology === "route") {
    const c1 = await freePort();
    const c2 = await freePort();
    const a = await startServer(impl, `cluster { name: bench, listen: "127.0.0.1:${c1}", routes: ["nats://127.0.0.1:${c2}"]${comp} }\n`);
    const b = await startServer(impl, `cluster { name: bench, listen: "127.0.0.1:${c2}", routes: ["nats://127.0.0.1:${c1}"]${comp} }\n`);
    return { a, b };
  }
  if (topology === "gateway") {
    const g1 = await freePort();
    const g2 = await freePort();
    const a = await startServer(impl, `gateway { name: A, listen: "127.0.0.1:${g1}", gateways: [ { name: B, url: "nats://127.0.0.1:${g2}" } ] }\n`);
    const b = await startServer(impl, `gateway { name: B, listen: "127.0.0.1:${g2}", gateways: [ { name: A, url: "nats://127.0.0.1:${g1}" } ] }\n`);
    return { a, b };
  }
  const lp = await freePort();
  const a = await startServer(impl, `leafnodes { listen: "127.0.0.1:${lp}"${comp} }\n`);
  const b = await startServer(impl, `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${lp}"${comp} } ] }\n`);
  return { a, b };
}

const n = (x) => String(Math.max(1000, Math.round(x * SCALE)));
// name | topology | generator args (PUB/SUB replaced by the servers' URLs) | compression of both servers
const SCENARIOS = [
  ["route-pubsub16", "route", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(2_000_000), "-size", "16", "-subs", "1"]],
  ["route-pubsub1k", "route", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(500_000), "-size", "1024", "-subs", "1"]],
  ["route-pubsub1k-s2fast", "route", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(500_000), "-size", "1024", "-subs", "1"], "s2_fast"],
  ["route-pubsub1k-s2auto", "route", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(500_000), "-size", "1024", "-subs", "1"], "s2_auto"],
  ["route-fanout16", "route", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(500_000), "-size", "16", "-subs", "4"]],
  ["route-queue16", "route", ["queue", "-pub", "PUB", "-sub", "SUB,PUB", "-n", n(1_000_000), "-size", "16", "-subs", "4"]],
  ["route-reqlat", "route", ["req", "-pub", "PUB", "-sub", "SUB", "-n", n(10_000), "-c", "1"]],
  ["route-reqtput16", "route", ["req", "-pub", "PUB", "-sub", "SUB", "-n", n(50_000), "-c", "16"]],
  ["gw-pubsub16", "gateway", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(2_000_000), "-size", "16", "-subs", "1"]],
  ["gw-pubsub1k", "gateway", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(500_000), "-size", "1024", "-subs", "1"]],
  ["gw-fanout16", "gateway", ["pubsub", "-pub", "PUB", "-sub", "SUB", "-n", n(500_000), "-size", "16", "-subs", "4"]],
  ["gw-reqlat", "gateway", ["req", "-pub", "PUB", "-sub", "SUB", "-n", n(10_000), "-c", "1"]],
  ["gw-reqtput16", "gateway", ["req", "-pub", "PUB", "-sub", "SUB", "-n", n(50_000), "-c", "16"]],
  ["leaf-pubsub16", "leaf", ["pubsub", "-pub", "SUB", "-sub", "PUB", "-n", n(2_000_000), "-size", "16", "-subs", "1"]],
  ["leaf-pubsub1k-off", "leaf", ["pubsub", "-pub", "SUB", "-sub", "PUB", "-n", n(500_000), "-size", "1024", "-subs", "1"], "off"],
  ["leaf-pubsub1k-s2fast", "leaf", ["pubsub", "-pub", "SUB", "-sub", "PUB", "-n", n(500_000), "-size", "1024", "-subs", "1"], "s2_fast"],
  ["leaf-reqlat", "leaf", ["req", "-pub", "SUB", "-sub", "PUB", "-n", n(10_000), "-c", "1"]],
  ["leaf-reqtput16", "leaf", ["req", "-pub", "SUB", "-sub", "PUB", "-n", n(50_000), "-c", "16"]],
];

build();
const results = {};
for (const [name, topology, genArgs, compression] of SCENARIOS) {
  if (ONLY.length > 0 && !ONLY.includes(name)) continue;
  for (let round = 0; round < ROUNDS; round++) {
    for (const impl of ["ref", "ts"]) {
      const { a, b } = await startPair(impl, topology, compression);
      const argv = genArgs.map((x) => x.replace("PUB", a.url).replace("SUB", b.url));
      const r = spawnSync(GEN, argv, { encoding: "utf8", timeout: 120_000 });
      await a.stop();
      await b.stop();
      const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT"));
      if (line === undefined) {
        console.log(`# ${name} ${impl} round ${round + 1} failed: ${(r.stderr ?? "").trim().slice(0, 300)}`);
        continue;
      }
      const res = parse(line);
      console.log(`# ${name} ${impl} round ${round + 1}: ${line}`);
      ((results[name] ??= {})[impl] ??= []).push(res);
    }
  }
}

console.log("\nscenario | nats-server 2.15 | tsnats | ratio tsnats/nats-server");
for (const [name, byImpl] of Object.entries(results)) {
  const fig = (impl, k) => median((byImpl[impl] ?? []).map((x) => x[k]).filter((v) => typeof v === "number"));
  const lost = Math.max(...(byImpl.ts ?? []).map((x) => x.lost ?? 0), 0);
  const a = fig("ref", "msgs_per_sec");
  const b = fig("ts", "msgs_per_sec");
  let line = `${name} | ${Math.round(a)} msgs/s | ${Math.round(b)} msgs/s | ${(b / a).toFixed(2)}`;
  if (name.includes("req")) line += ` | p50 ${fig("ref", "p50_us")}/${fig("ts", "p50_us")} µs, p99 ${fig("ref", "p99_us")}/${fig("ts", "p99_us")} µs`;
  if (lost > 0) line += ` | tsnats lost ${lost}`;
  console.log(line);
}
