// Idle cost of many replicated durables: a cluster of three tsnats servers, one R3 file stream
// with a few messages, N R3 durable pull consumers; then nothing happens for a while, and the CPU
// time the three servers use per second of that idle time is measured (from /proc). Each checkout
// given runs its own build (its bench/js_cluster_lib.mjs starts its dist/), alternately, so the
// ratios come from one run on a shared machine.
//
//   node bench/js_idle_consumers.mjs [--consumers 1000] [--idle 10] [--rounds 2] [--ref] [<checkout> ...]
//   (default checkout: this one; --ref: nats-server 2.15 too, as the first)
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const N = Number(opt("--consumers", 1000));
const IDLE_S = Number(opt("--idle", 10));
const ROUNDS = Number(opt("--rounds", 2));
const roots = args.filter((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1].startsWith("--")));
if (roots.length === 0) roots.push(path.resolve(path.dirname(new URL(import.meta.url).pathname), ".."));
if (args.includes("--ref")) roots.unshift("ref");

async function retry(fn) {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

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
      for (let i = 0; i < N; i += 25) {
        const batch = [];
        for (let j = i; j < Math.min(N, i + 25); j++) batch.push(retry(() => jsm.consumers.add("IDLE", { durable_name: `D${j}`, ack_policy: AckPolicy.Explicit, num_replicas: 3 })));
        await Promise.all(batch);
      }
      const createS = (performance.now() - t0) / 1000;
      // Settle: elections and catch-up done.
      await new Promise((r) => setTimeout(r, 5000));
      const cpu0 = lib.clusterCpuMs(c);
      const w0 = performance.now();
      await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      const cpuMsPerS = (lib.clusterCpuMs(c) - cpu0) / ((performance.now() - w0) / 1000);
      return { createS, cpuMsPerS };
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
    console.log(`${root} round ${round + 1}: ${N} R3 durables created in ${r.createS.toFixed(1)} s; idle CPU of the three servers ${r.cpuMsPerS.toFixed(1)} ms/s`);
  }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const base = mean(results.get(roots[0]).map((r) => r.cpuMsPerS));
for (const root of roots) {
  const m = mean(results.get(root).map((r) => r.cpuMsPerS));
  console.log(`${root}: idle CPU mean ${m.toFixed(1)} ms/s (${(m / base).toFixed(2)}x of ${roots[0]})`);
}
