// JetStream meta leader fail-over side by side: a cluster of three nats-server 2.15 (ref) and one
// of three tsnats (ts) servers with JetStream, each listing the other two in `routes`. The meta
// leader is killed with -9; measured: the time until the two others agree on a new leader
// (/jsz meta_cluster.leader), and until the $JS.API answers a stream create again (a client of a
// surviving server retrying every 100 ms with a 250 ms timeout). Medians of the rounds, and the
// ratio ts/ref (lower is better for both).
//
//   npm run build && node bench/js_failover.mjs [--rounds 3]
import { connect } from "@nats-io/transport-node";
import { median } from "./bench_lib.mjs";
import { agreedMetaLeader as agreed, startCluster, stopCluster } from "./js_cluster_lib.mjs";

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 3) || 3;

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
    await stopCluster(c);
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
