// Memory of a large idle file stream: N messages of 16 bytes on 1000 subjects are published
// with many acks outstanding, then the server's RSS is read after publishing, 15 s later, after
// a restart (once the store opened, same wait), and after reads by sequence across the stream
// (each followed by the same wait). nats-server 2.15.1 (--ref) runs the same, first.
//
//   node bench/stream_index_memory.mjs [--msgs 2000000] [--window 2000] [--idle 15] [--ref] [--server CMD]
//   (--server: the tsnats entry point, default this checkout's dist/src/bin/tsnats-server.js)
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { freePort, waitPort, processRssMb, retry } from "./bench_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const N = Number(opt("--msgs", 2_000_000));
const WINDOW = Number(opt("--window", 2000));
const IDLE_S = Number(opt("--idle", 15));
const here = path.dirname(fileURLToPath(import.meta.url));
const TSNATS = opt("--server", path.join(here, "..", "dist", "src", "bin", "tsnats-server.js"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startServer(kind, storeDir, port) {
  const common = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir];
  const proc =
    kind === "ref"
      ? spawn(execFileSync(path.join("/work/shared/tools/nats-server-ref.sh")).toString().trim(), common, { stdio: "ignore" })
      : spawn(process.execPath, [TSNATS, ...common], { stdio: "ignore" });
  return proc;
}

async function stopServer(proc) {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  await exited;
}

async function run(kind) {
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "idxmem-"));
  const port = await freePort();
  const out = {};
  let proc = startServer(kind, storeDir, port);
  try {
    await waitPort(port);
    let nc = await retry(() => connect({ port }));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "BIG", subjects: ["big.>"], storage: "file" });
    const js = jetstream(nc);
    const body = new Uint8Array(16).fill(0x61);
    const t0 = performance.now();
    let inflight = 0;
    let waiters = [];
    for (let i = 0; i < N; i++) {
      while (inflight >= WINDOW) await new Promise((r) => waiters.push(r));
      inflight++;
      js.publish(`big.${i % 1000}`, body, { timeout: 60_000 }).then(
        () => {
          inflight--;
          const w = waiters;
          waiters = [];
          for (const f of w) f();
        },
        (e) => {
          throw e;
        },
      );
    }
    while (inflight > 0) await new Promise((r) => waiters.push(r));
    out.publishS = (performance.now() - t0) / 1000;
    out.afterPublish = processRssMb(proc.pid);
    await sleep(IDLE_S * 1000);
    out.idle = processRssMb(proc.pid);
    await nc.close();
    await stopServer(proc);
    proc = startServer(kind, storeDir, port);
    await waitPort(port);
    nc = await retry(() => connect({ port }));
    const jsm2 = await jetstreamManager(nc);
    const info = await retry(() => jsm2.streams.info("BIG"));
    if (info.state.messages !== N) throw new Error(`${kind}: ${info.state.messages} messages after the restart`);
    await sleep(IDLE_S * 1000);
    out.restart = processRssMb(proc.pid);
    // reads by sequence across the stream: each one loads a block (and its index) somewhere else
    const reads = [];
    for (let k = 1; k <= 4; k++) {
      const seq = Math.floor((N * k) / 5);
      const m = await jsm2.streams.getMessage("BIG", { seq });
      if (m?.seq !== seq) throw new Error(`${kind}: read of ${seq} failed`);
      reads.push(processRssMb(proc.pid));
    }
    out.readsPeak = Math.max(...reads);
    await sleep(IDLE_S * 1000);
    out.afterReads = processRssMb(proc.pid);
    await nc.close();
  } finally {
    await stopServer(proc);
    fs.rmSync(storeDir, { recursive: true, force: true });
  }
  return out;
}

const kinds = args.includes("--ref") ? ["ref", "tsnats"] : ["tsnats"];
for (const kind of kinds) {
  const r = await run(kind);
  const f = (x) => `${x.toFixed(0)} MB`;
  console.log(
    `${kind}: ${N} msgs published in ${r.publishS.toFixed(1)} s; RSS after publishing ${f(r.afterPublish)}, ${IDLE_S} s later ${f(r.idle)}, after a restart ${f(r.restart)}, during 4 reads across the stream ${f(r.readsPeak)}, ${IDLE_S} s after them ${f(r.afterReads)}`,
  );
}
