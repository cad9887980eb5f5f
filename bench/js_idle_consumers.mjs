// Creating and then idling many replicated durables: a cluster of three servers, one R3 file
// stream with a few messages, N durable pull consumers created `--concurrency` at a time (each
// waiting for its answer: the total time and one create's latency); then nothing happens for a
// while, and the CPU time the three servers use per second of that idle time is measured (from
// /proc; --idle 0: creation only). Each checkout given runs its own build (its
// bench/js_cluster_lib.mjs starts its dist/), alternately, so the ratios come from one run on a
// shared machine.
//
//   node bench/js_idle_consumers.mjs [<checkout> ...] [--consumers 1000] [--concurrency 25] [--replicas 3] [--idle 10] [--rounds 2] [--ref]
//   (default checkout: this one; --ref: nats-server 2.15 too, as the first)
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { checkoutRoots, retry } from "./bench_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const N = Number(opt("--consumers", 1000));
const IDLE_S = Number(opt("--idle", 10));
const ROUNDS = Number(opt("--rounds", 2));
const CONCURRENCY = Number(opt("--concurrency", 25));
const REPLICAS = Number(opt("--replicas", 3));
const roots = checkoutRoots(args);


async function once(root) {
  const ref = root === "ref";
  const lib = await import(path.join(ref ? roots[1] : root, "bench", "js_cluster_lib.mjs"));
  const c = await lib.startCluster(ref ? "ref" : "ts", "IDLE");
  try {
    await lib.agreedMetaLeader(c.nodes);
    const nc = await connect({ servers: c.nodes.map((n) => `127.0.0.1:${n.port}`) });
    try {
      const jsm = await retry(() => jetstreamManager(nc, { timeout: 20_000 }));
      await retry(() => jsm.streams.add({ name: "IDLE", subjects: ["idle.>"], num_replicas: 3 }));
      const js = jsm.jetstream();
      for (let i = 0; i < 10; i++) await retry(() => js.publish("idle.x", "m"));
      const t0 = performance.now();
      const lat = [];
      let next = 0;
      const creator = async () => {
        while (next < N) {
          const j = next++;
          const s = performance.now();
          await retry(() => jsm.consumers.add("IDLE", { durable_name: `D${j}`, ack_policy: AckPolicy.Explicit, num_replicas: REPLICAS }));
          lat.push(performance.now() - s);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, creator));
      const createS = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      const createMs = { p50: lat[Math.floor(lat.length * 0.5)], p90: lat[Math.floor(lat.length * 0.9)], max: lat[lat.length - 1] };
      if (IDLE_S === 0) return { createS, createMs, cpuMsPerS: 0 };
      // Settle: elections and catch-up done.
      await new Promise((r) => setTimeout(r, 5000));
      const cpu0 = lib.clusterCpuMs(c);
      const w0 = performance.now();
      await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      const cpuMsPerS = (lib.clusterCpuMs(c) - cpu0) / ((performance.now() - w0) / 1000);
      return { createS, createMs, cpuMsPerS };
    } finally {
      await nc.close();
    }
  } finally {
    await lib.stopCluster(c);
  }
}

const results = new Map(roots.map((r) => [r, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const root of roots) {
    const r = await once(root);
    results.get(root).push(r);
    const l = r.createMs;
    console.log(
      `${root} round ${round + 1}: ${N} R${REPLICAS} durables created (${CONCURRENCY} at a time) in ${r.createS.toFixed(1)} s, one create p50 ${l.p50.toFixed(0)} ms p90 ${l.p90.toFixed(0)} ms max ${l.max.toFixed(0)} ms; idle CPU of the three servers ${r.cpuMsPerS.toFixed(1)} ms/s`,
    );
  }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const [what, of] of [["creation time", (r) => r.createS], ["idle CPU", (r) => r.cpuMsPerS]]) {
  if (what === "idle CPU" && IDLE_S === 0) continue;
  const base = mean(results.get(roots[0]).map(of));
  for (const root of roots) {
    const m = mean(results.get(root).map(of));
    console.log(`${root}: ${what} mean ${m.toFixed(1)} (${(m / base).toFixed(2)}x of ${roots[0]})`);
  }
}
