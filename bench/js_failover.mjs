// JetStream meta leader fail-over side by side: a cluster of three nats-server 2.15 (ref) and one
// of three tsnats (ts) servers with JetStream, each listing the other two in `routes`. The meta
// leader is killed with -9; measured: the time until the two others agree on a new leader
// (/jsz meta_cluster.leader), and until the $JS.API answers a stream create again (a client of a
// surviving server retrying every 100 ms with a 250 ms timeout). Medians of the rounds, and the
// ratio ts/ref (lower is better for both).
//
//   npm run build && node bench/js_failover.mjs [--rounds 3]
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { freePort, waitPort, median } from "./bench_lib.mjs";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, "..");
const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 3) || 3;
const ref = execFileSync(path.resolve(ROOT, "..", "shared", "tools", "nats-server-ref.sh"), ["2.15"], { encoding: "utf8" }).trim();
const tsBin = path.join(ROOT, "dist", "src", "bin", "tsnats-server.js");

async function startCluster(impl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jsfailover-"));
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push({ name: `n${i}`, port: await freePort(), route: await freePort(), http: await freePort() });
  for (const n of nodes) {
    const routes = nodes.filter((x) => x !== n).map((x) => `"nats://127.0.0.1:${x.route}"`);
    const conf = path.join(dir, `${n.name}.conf`);
    fs.writeFileSync(conf, `server_name: ${n.name}\nlisten: "127.0.0.1:${n.port}"\nhttp: "127.0.0.1:${n.http}"\njetstream { store_dir: "${path.join(dir, n.name)}" }\ncluster { name: FO, listen: "127.0.0.1:${n.route}", routes: [${routes.join(", ")}] }\n`);
    const cmd = impl === "ref" ? [ref, ["-c", conf]] : [process.execPath, [tsBin, "-c", conf]];
    n.proc = spawn(cmd[0], cmd[1], { stdio: ["ignore", "ignore", fs.openSync(path.join(dir, `${n.name}.log`), "w")] });
  }
  for (const n of nodes) await waitPort(n.port);
  return { dir, nodes };
}

async function leaderOf(n) {
  try {
    const r = await fetch(`http://127.0.0.1:${n.http}/jsz`, { signal: AbortSignal.timeout(500) });
    return (await r.json()).meta_cluster?.leader ?? "";
  } catch {
    return "";
  }
}

async function agreed(nodes, not = "") {
  for (;;) {
    const seen = await Promise.all(nodes.map(leaderOf));
    if (seen[0] !== "" && seen[0] !== not && seen.every((x) => x === seen[0])) return seen[0];
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function round(impl, k) {
  const c = await startCluster(impl);
  try {
    const leader = await agreed(c.nodes);
    const victim = c.nodes.find((n) => n.name === leader);
    const rest = c.nodes.filter((n) => n !== victim);
    const nc = await connect({ servers: `127.0.0.1:${rest[0].port}` });
    // The API answers before the kill.
    for (;;) {
      const r = await nc.request(`$JS.API.STREAM.CREATE.W${k}`, JSON.stringify({ name: `W${k}`, subjects: [`w${k}`] }), { timeout: 1000 }).catch(() => undefined);
      if (r !== undefined) break;
    }
    const t0 = performance.now();
    victim.proc.kill("SIGKILL");
    let apiMs = -1;
    const api = (async () => {
      for (;;) {
        const r = await nc.request(`$JS.API.STREAM.CREATE.F${k}`, JSON.stringify({ name: `F${k}`, subjects: [`f${k}`] }), { timeout: 250 }).catch(() => undefined);
        if (r !== undefined && JSON.parse(r.string()).error === undefined) {
          apiMs = performance.now() - t0;
          return;
        }
        await new Promise((r2) => setTimeout(r2, 100));
      }
    })();
    await agreed(rest, leader);
    const leaderMs = performance.now() - t0;
    await api;
    await nc.close();
    return { leaderMs, apiMs };
  } finally {
    for (const n of c.nodes) n.proc.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(c.dir, { recursive: true, force: true });
  }
}

const results = {};
for (const impl of ["ref", "ts"]) {
  const rs = [];
  for (let k = 0; k < ROUNDS; k++) rs.push(await round(impl, k));
  results[impl] = { leaderMs: median(rs.map((r) => r.leaderMs)), apiMs: median(rs.map((r) => r.apiMs)), rounds: rs.map((r) => `${Math.round(r.leaderMs)}/${Math.round(r.apiMs)}`) };
  console.log(`${impl}: new meta leader after ${Math.round(results[impl].leaderMs)} ms, API answering after ${Math.round(results[impl].apiMs)} ms (rounds leader/api: ${results[impl].rounds.join(" ")})`);
}
console.log(`RESULT scenario=js-meta-failover leader_ratio=${(results.ts.leaderMs / results.ref.leaderMs).toFixed(2)} api_ratio=${(results.ts.apiMs / results.ref.apiMs).toFixed(2)}`);
