// Replicated streams side by side: a cluster of three nats-server 2.15 (ref) and one of three
// tsnats (ts), an R3 file stream on each, the load from a nats.js client connected to a server
// that does not lead the stream (its publishes travel to the leader over a route):
//   async: 16-byte publishes with up to 256 PubAcks outstanding (msgs/s);
//   sync:  one publish at a time (msgs/s and the median PubAck latency);
//   fail-over: the stream's leader killed with -9, the time until a publish (retried with a
//   250 ms timeout from a client of a surviving server) is acknowledged again.
// Each round starts a fresh cluster; medians of the rounds and the ratios ts/ref (msgs/s: higher
// is better; latency and fail-over: lower is better).
//
//   npm run build && node bench/js_r3.mjs [--rounds 3] [--async 20000] [--sync 2000]
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { median } from "./bench_lib.mjs";
import { agreedMetaLeader, startCluster, stopCluster } from "./js_cluster_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const ROUNDS = opt("--rounds", 3);
const ASYNC_N = opt("--async", 20000);
const SYNC_N = opt("--sync", 2000);
const WINDOW = 256;
const CAP_MS = 10_000;
const payload = new Uint8Array(16);

async function retry(fn) {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function round(impl) {
  const c = await startCluster(impl, "R3BENCH");
  try {
    await agreedMetaLeader(c.nodes);
    const admin = await connect({ servers: `127.0.0.1:${c.nodes[0].port}` });
    const jsm = await retry(() => jetstreamManager(admin, { timeout: 5000 }));
    await retry(() => jsm.streams.add({ name: "R3", subjects: ["r3"], num_replicas: 3, storage: "file" }));
    const leader = await retry(async () => {
      const l = (await jsm.streams.info("R3")).cluster?.leader;
      if (!l) throw new Error("no leader yet");
      return l;
    });
    const other = c.nodes.find((n) => n.name !== leader);
    const nc = await connect({ servers: `127.0.0.1:${other.port}` });
    const js = jetstream(nc, { timeout: 10_000 });
    for (let i = 0; i < 200; i++) await js.publish("r3", payload); // warm-up

    // async
    let sent = 0;
    let acked = 0;
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const pump = () => {
        while (sent - acked < WINDOW && sent < ASYNC_N && performance.now() - t0 < CAP_MS) {
          sent++;
          js.publish("r3", payload).then(() => {
            acked++;
            if (acked === sent && (sent >= ASYNC_N || performance.now() - t0 >= CAP_MS)) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    const asyncRate = acked / ((performance.now() - t0) / 1000);

    // sync
    const lat = [];
    const t1 = performance.now();
    for (let i = 0; i < SYNC_N && performance.now() - t1 < CAP_MS; i++) {
      const s = performance.now();
      await js.publish("r3", payload);
      lat.push(performance.now() - s);
    }
    const syncRate = lat.length / ((performance.now() - t1) / 1000);
    lat.sort((a, b) => a - b);
    const syncP50 = lat[Math.floor(lat.length / 2)];

    // fail-over of the stream leader
    const victim = c.nodes.find((n) => n.name === leader);
    const survivor = c.nodes.find((n) => n !== victim && n !== other) ?? other;
    await nc.close();
    await admin.close();
    const nc2 = await connect({ servers: `127.0.0.1:${survivor.port}` });
    const js2 = jetstream(nc2, { timeout: 250 });
    await js2.publish("r3", payload);
    const t2 = performance.now();
    victim.proc.kill("SIGKILL");
    for (;;) {
      const ok = await js2.publish("r3", payload).then(() => true, () => false);
      if (ok) break;
    }
    const failoverMs = performance.now() - t2;
    await nc2.close();
    return { asyncRate, syncRate, syncP50, failoverMs };
  } finally {
    await stopCluster(c);
  }
}

const results = {};
const rounds = { ref: [], ts: [] };
for (let k = 0; k < ROUNDS; k++) for (const impl of ["ref", "ts"]) rounds[impl].push(await round(impl));
for (const impl of ["ref", "ts"]) {
  const rs = rounds[impl];
  results[impl] = {
    asyncRate: median(rs.map((r) => r.asyncRate)),
    syncRate: median(rs.map((r) => r.syncRate)),
    syncP50: median(rs.map((r) => r.syncP50)),
    failoverMs: median(rs.map((r) => r.failoverMs)),
  };
  const r = results[impl];
  console.log(`${impl}: R3 async ${Math.round(r.asyncRate)} msgs/s, sync ${Math.round(r.syncRate)} msgs/s (p50 ${r.syncP50.toFixed(2)} ms), stream leader fail-over ${Math.round(r.failoverMs)} ms (rounds: ${rs.map((x) => Math.round(x.failoverMs)).join(" ")})`);
}
const t = results.ts;
const f = results.ref;
console.log(`RESULT scenario=js-r3 async_ratio=${(t.asyncRate / f.asyncRate).toFixed(2)} sync_ratio=${(t.syncRate / f.syncRate).toFixed(2)} sync_p50_ratio=${(t.syncP50 / f.syncP50).toFixed(2)} failover_ratio=${(t.failoverMs / f.failoverMs).toFixed(2)}`);
