// Many servers started at once, as client test suites start them: the nats.js suites
// (@nats-io/nst's NatsServer.start) run a describe block's tests concurrently, each starting a
// server from a config file (random client port, monitoring, a leaf node and a websocket
// listener, `ports_file_dir`) and failing when its ports file has not appeared within 5 s.
// Prints, per round, the time from spawn to each server's ports file (first, median, last) and
// the CPU each server had used by then and ~IDLE_MS later.
//
//   node bench/concurrent_start.mjs [--servers 13] [--rounds 3] [--busy N] [--idle-ms 3000]
//        [--js] [--tls CERTDIR] 'SERVER COMMAND' ['SERVER COMMAND' ...]
//
// Each command gets `-c FILE` appended. --busy N runs N busy loops (child processes) meanwhile;
// --js adds a jetstream block (nst's jsopts), --tls a tls block with CERTDIR's server.pem,
// key.pem and ca.pem (the nats.js tests' layout: transport-node/tests/certs).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { processCpuMs, processRssMb } from "./bench_lib.mjs";

const args = process.argv.slice(2);
let servers = 13;
let rounds = 3;
let busy = 0;
let idleMs = 3000;
let js = false;
let tls;
const commands = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--servers") servers = Number(args[++i]);
  else if (args[i] === "--rounds") rounds = Number(args[++i]);
  else if (args[i] === "--busy") busy = Number(args[++i]);
  else if (args[i] === "--idle-ms") idleMs = Number(args[++i]);
  else if (args[i] === "--js") js = true;
  else if (args[i] === "--tls") tls = resolve(args[++i]);
  else commands.push(args[i]);
}
if (commands.length === 0) {
  process.stderr.write("usage: node bench/concurrent_start.mjs [--servers N] [--rounds N] [--busy N] [--idle-ms MS] [--js] [--tls] 'CMD' ...\n");
  process.exit(2);
}

/** CPU time (user + system, ms) a process has used so far (10 ms ticks). */


/** A config as nst's confDefaults writes it (plus jsopts / a tls block when asked). */
function config(dir, i) {
  const lines = [
    'host: "127.0.0.1"',
    "port: -1",
    'http: "127.0.0.1:-1"',
    'leafnodes { listen: "127.0.0.1:-1" }',
    `server_tags [ id:S${i} ]`,
    "websocket { port: -1, no_tls: true }",
    `ports_file_dir: ${dir}`,
  ];
  if (js) lines.push(`jetstream { max_file_store: 1048576, max_mem_store: 1048576, store_dir: "${join(dir, `js${i}`)}" }`);
  if (tls) lines.push(`tls { cert_file: "${tls}/server.pem", key_file: "${tls}/key.pem", ca_file: "${tls}/ca.pem" }`);
  const file = join(dir, `s${i}.conf`);
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function round(command) {
  const dir = mkdtempSync(join(tmpdir(), "concurrent-start-"));
  const files = Array.from({ length: servers }, (_, i) => config(dir, i));
  const t0 = performance.now();
  const children = files.map((f) => spawn("sh", ["-c", `exec ${command} -c ${f}`], { stdio: ["ignore", "ignore", "pipe"] }));
  const logs = children.map(() => "");
  children.forEach((c, i) => c.stderr.on("data", (d) => (logs[i] += d)));
  const at = new Array(servers).fill(NaN);
  const cpuAt = new Array(servers).fill(NaN);
  while (at.some(Number.isNaN) && performance.now() - t0 < 60_000) {
    for (let i = 0; i < servers; i++) {
      if (!Number.isNaN(at[i])) continue;
      if (existsSync(join(dir, `nats-server_${children[i].pid}.ports`))) {
        at[i] = performance.now() - t0;
        cpuAt[i] = processCpuMs(children[i].pid);
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, idleMs));
  const cpuIdle = children.map((c) => processCpuMs(c.pid));
  const rss = children.map((c) => processRssMb(c.pid));
  await Promise.all(children.map((c) => new Promise((r) => {
    if (c.exitCode !== null) return r();
    c.once("exit", r);
    c.kill("SIGTERM");
  })));
  rmSync(dir, { recursive: true, force: true });
  const missing = at.filter(Number.isNaN).length;
  if (missing > 0) process.stderr.write(`${missing} server(s) wrote no ports file within 60 s; a log:\n${logs[at.findIndex(Number.isNaN)].slice(-2000)}\n`);
  const ok = at.filter((t) => !Number.isNaN(t));
  return {
    first: Math.min(...ok),
    median: median(ok),
    last: Math.max(...ok),
    over5s: at.filter((t) => !(t <= 5000)).length,
    cpuToPorts: median(cpuAt.filter((c) => !Number.isNaN(c))),
    cpuIdle: median(cpuIdle),
    rss: median(rss),
  };
}

const loops = Array.from({ length: busy }, () => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
try {
  for (let r = 0; r < rounds; r++) {
    for (const command of commands) {
      const res = await round(command);
      const f = (x) => (x / 1000).toFixed(2);
      process.stdout.write(
        `round ${r + 1} ${command.slice(0, 60).padEnd(60)} ports file first ${f(res.first)} s, median ${f(res.median)} s, last ${f(res.last)} s, over 5 s: ${res.over5s}/${servers}; ` +
          `CPU per server to ports file ${res.cpuToPorts} ms, after ${idleMs} ms ${res.cpuIdle} ms; RSS ${res.rss.toFixed(1)} MB; load ${loadavg()[0].toFixed(1)}\n`,
      );
    }
  }
} finally {
  for (const l of loops) l.kill("SIGKILL");
}
