// What the JetStream cluster benchmarks share: a cluster of three servers (nats-server 2.15 "ref"
// or tsnats "ts"), each listing the other two in `routes`, with monitoring; the meta leader as
// /jsz reports it.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, waitPort } from "./bench_lib.mjs";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, "..");
const tsBin = path.join(ROOT, "dist", "src", "bin", "tsnats-server.js");
let refBin;

/** The reference server's script: next to the checkout (/work/main) or to the worktrees' parent (/work/wt/<name>). */
function refScript() {
  for (const up of [[".."], ["..", ".."]]) {
    const p = path.resolve(ROOT, ...up, "shared", "tools", "nats-server-ref.sh");
    if (fs.existsSync(p)) return p;
  }
  throw new Error("nats-server-ref.sh not found (../shared/tools or ../../shared/tools)");
}

export async function startCluster(impl, name = "BENCH") {
  refBin ??= execFileSync(refScript(), ["2.15"], { encoding: "utf8" }).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jscluster-"));
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push({ name: `n${i}`, port: await freePort(), route: await freePort(), http: await freePort() });
  for (const n of nodes) {
    const routes = nodes.filter((x) => x !== n).map((x) => `"nats://127.0.0.1:${x.route}"`);
    const conf = path.join(dir, `${n.name}.conf`);
    fs.writeFileSync(conf, `server_name: ${n.name}\nlisten: "127.0.0.1:${n.port}"\nhttp: "127.0.0.1:${n.http}"\njetstream { store_dir: "${path.join(dir, n.name)}" }\ncluster { name: ${name}, listen: "127.0.0.1:${n.route}", routes: [${routes.join(", ")}] }\n`);
    // BENCH_NODE_ARGS: extra node options for the tsnats servers (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
    const cmd = impl === "ref" ? [refBin, ["-c", conf]] : [process.execPath, [...nodeArgs, tsBin, "-c", conf]];
    // BENCH_STDOUT=<dir>: the servers' standard output (V8's --trace-* options) kept in <dir>/<impl>-<server>.out.
    const stdout = process.env.BENCH_STDOUT ? fs.openSync(path.join(process.env.BENCH_STDOUT, `${impl}-${n.name}.out`), "w") : "ignore";
    n.proc = spawn(cmd[0], cmd[1], { stdio: ["ignore", stdout, fs.openSync(path.join(dir, `${n.name}.log`), "w")] });
  }
  for (const n of nodes) await waitPort(n.port);
  // BENCH_STRACE=<dir>: `strace -f -c` attached to every server, its summary written to <dir>/<impl>-<name> at the stop.
  if (process.env.BENCH_STRACE) {
    for (const n of nodes) n.strace = spawn("strace", ["-f", "-c", "-o", path.join(process.env.BENCH_STRACE, `${impl}-${n.name}`), "-p", String(n.proc.pid)], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 500)); // attached
  }
  return { dir, nodes };
}

export async function stopCluster(c) {
  // SIGINT when profiling (the profile is written at exit), SIGKILL otherwise.
  const sig = process.env.BENCH_NODE_ARGS ? "SIGINT" : "SIGKILL";
  const straces = c.nodes.filter((n) => n.strace !== undefined).map((n) => new Promise((r) => n.strace.once("exit", r)));
  for (const n of c.nodes) n.strace?.kill("SIGINT");
  await Promise.all(straces);
  for (const n of c.nodes) n.proc.kill(sig);
  if (sig === "SIGINT") await Promise.all(c.nodes.map((n) => (n.proc.exitCode !== null || n.proc.signalCode !== null ? undefined : new Promise((r) => n.proc.once("exit", r)))));
  await new Promise((r) => setTimeout(r, 300));
  fs.rmSync(c.dir, { recursive: true, force: true });
}

/** CPU time (user + system, ms) the cluster's servers used so far, from /proc (0 where unreadable). */
export function clusterCpuMs(c) {
  let ms = 0;
  for (const n of c.nodes) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const f = fs.readFileSync(`/proc/${n.proc.pid}/stat`, "utf8").split(") ")[1].split(" ");
      ms += ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
    } catch {
      // gone
    }
  }
  return ms;
}
const CLK_TCK = 100;

/** The servers' peak resident memory (VmHWM, MB over the process's life), largest of the three (0 where unreadable). */
export function clusterPeakRssMb(c) {
  let mb = 0;
  for (const n of c.nodes) {
    try {
      const kb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${n.proc.pid}/status`, "utf8"))?.[1] ?? 0);
      mb = Math.max(mb, kb / 1024);
    } catch {
      // gone
    }
  }
  return mb;
}

export async function metaLeaderOf(n) {
  try {
    const r = await fetch(`http://127.0.0.1:${n.http}/jsz`, { signal: AbortSignal.timeout(500) });
    return (await r.json()).meta_cluster?.leader ?? "";
  } catch {
    return "";
  }
}

/** The meta leader every listed node agrees on (other than `not`). */
export async function agreedMetaLeader(nodes, not = "") {
  for (;;) {
    const seen = await Promise.all(nodes.map(metaLeaderOf));
    if (seen[0] !== "" && seen[0] !== not && seen.every((x) => x === seen[0])) return seen[0];
    await new Promise((r) => setTimeout(r, 10));
  }
}
