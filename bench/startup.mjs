// Start-up time and idle memory, side by side: each command is started ROUNDS times
// (interleaved A B A B ...), timed from spawn to its "Server is ready" log line, left idle for
// IDLE_MS, its resident memory and CPU time read from /proc, then stopped. Prints medians and ratios B/A.
//
//   node bench/startup.mjs [--rounds 10] [--idle-ms 1500] [--busy N] 'CMD A' 'CMD B' ...
//
// PORT and MPORT in a command are replaced by free ports, STOREDIR by a fresh directory.
// --busy N runs N busy loops (child processes) meanwhile: start-up under CPU load.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { processCpuMs, processRssMb } from "./bench_lib.mjs";

const args = process.argv.slice(2);
let rounds = 10;
let idleMs = 1500;
let busy = 0;
const commands = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--rounds") rounds = Number(args[++i]);
  else if (args[i] === "--idle-ms") idleMs = Number(args[++i]);
  else if (args[i] === "--busy") busy = Number(args[++i]);
  else commands.push(args[i]);
}
if (commands.length === 0) {
  process.stderr.write("usage: node bench/startup.mjs [--rounds N] [--idle-ms MS] [--busy N] 'CMD A' ['CMD B' ...]\n");
  process.exit(2);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** CPU time (user + system, ms) the process has used so far, from /proc (10 ms ticks). */


async function startOnce(template) {
  const dir = mkdtempSync(join(tmpdir(), "startup-"));
  const cmd = template
    .replaceAll("MPORT", String(await freePort()))
    .replaceAll("PORT", String(await freePort()))
    .replaceAll("STOREDIR", dir);
  const t0 = process.hrtime.bigint();
  const child = spawn("sh", ["-c", `exec ${cmd}`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let readyCpu = NaN;
  const readyMs = await new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d.toString();
      if (out.includes("Server is ready")) {
        readyCpu = processCpuMs(child.pid);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited (${code}) before ready:\n${out}`)));
  });
  await new Promise((r) => setTimeout(r, idleMs));
  const rss = processRssMb(child.pid);
  const idleCpu = processCpuMs(child.pid);
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  rmSync(dir, { recursive: true, force: true });
  return { readyMs, cpuMs: readyCpu, idleCpuMs: idleCpu, rssMb: rss };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

const loops = [];
for (let i = 0; i < busy; i++) loops.push(spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
try {
  const results = commands.map(() => ({ ready: [], cpu: [], idleCpu: [], rss: [] }));
  for (let r = 0; r < rounds; r++) {
    for (let c = 0; c < commands.length; c++) {
      const { readyMs, cpuMs, idleCpuMs, rssMb } = await startOnce(commands[c]);
      results[c].idleCpu.push(idleCpuMs);
      results[c].ready.push(readyMs);
      results[c].cpu.push(cpuMs);
      results[c].rss.push(rssMb);
    }
  }
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  process.stdout.write(`rounds=${rounds} busy=${busy} load=${load}\n`);
  const base = results[0];
  commands.forEach((cmd, c) => {
    const rd = median(results[c].ready);
    const rs = median(results[c].rss);
    const cpu = median(results[c].cpu);
    const idleCpu = median(results[c].idleCpu);
    const ratio = c === 0 ? "" : `  ready x${(rd / median(base.ready)).toFixed(2)}  cpu x${(cpu / median(base.cpu)).toFixed(2)}  rss x${(rs / median(base.rss)).toFixed(2)}`;
    const min = Math.min(...results[c].ready);
    const max = Math.max(...results[c].ready);
    process.stdout.write(
      `${String.fromCharCode(65 + c)}: ready median ${rd.toFixed(0)} ms (${min.toFixed(0)}-${max.toFixed(0)})  cpu to ready ${cpu.toFixed(0)} ms, after idle ${idleCpu.toFixed(0)} ms  idle RSS median ${rs.toFixed(1)} MB${ratio}\n   ${cmd}\n`,
    );
  });
} finally {
  for (const l of loops) l.kill("SIGKILL");
}
