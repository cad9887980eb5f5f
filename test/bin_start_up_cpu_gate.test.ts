// A tsnats-server whose start-up shared the CPU with other busy processes (a client test suite
// starting a dozen servers at once) puts its warm-up off while the CPU stays contended
// (src/server/cpu_gate.ts), and warms up once the others are done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitUntil } from "./helpers/server.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, "../src/bin/tsnats-server.js");

/** CPU time (ms, all threads) a process has used, from /proc. */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e6;
}

const linuxWithProbe = fs.existsSync("/proc/self/task") && (fs.existsSync("/proc/pressure/cpu") || fs.existsSync("/proc/loadavg"));

test("a start-up that shared the CPU with busy processes warms up only once they are gone", { skip: !linuxWithProbe && "needs Linux's /proc" }, async () => {
  // Four busy loops a CPU: the server gets well under half a CPU while it starts.
  const loops: ChildProcess[] = Array.from({ length: 4 * os.availableParallelism() }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  const server = spawn(process.execPath, [BIN, "-a", "127.0.0.1", "-p", "-1", "-D"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  server.stdout?.on("data", (d) => (out += d));
  server.stderr?.on("data", (d) => (out += d));
  try {
    await waitUntil(() => out.includes("Server is ready"), 60_000);
    await waitUntil(() => /Start-up had 0\.\d\d of a CPU: its warm-up waits while the CPU is contended/.test(out), 5_000);
    // Held back: the warm-up's request/reply rounds (~100 ms of CPU and more) do not run.
    const held = cpuMs(server.pid as number);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(cpuMs(server.pid as number) - held < 40, `server CPU while held back: ${(cpuMs(server.pid as number) - held).toFixed(1)} ms`);
    assert.doesNotMatch(out, /Start-up warm-up done/);
    for (const l of loops) l.kill("SIGKILL");
    // The CPU is free (or the gate's 10 s are up on a machine that stays busy): it warms up.
    await waitUntil(() => /Start-up warm-up done, held back \d+ ms by CPU contention/.test(out), 30_000);
    assert.ok(cpuMs(server.pid as number) - held > 40, "the warm-up ran");
  } finally {
    for (const l of loops) l.kill("SIGKILL");
    server.kill("SIGTERM");
  }
});
