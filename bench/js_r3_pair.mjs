// Two builds of tsnats side by side on replicated streams: a cluster of three servers from each
// checkout (A and B: the directories given, each built), both up at once, measured in turns
// (A B, B A, A B ...) so that both see the same background load. On a shared machine one build's
// figures spread 2-3x between runs of js_r3.mjs; the pairs of one run are much closer, and the
// CPU per message (from /proc) is steadier than any rate. Scenarios (R3, 16-byte messages, the
// client on a server that leads none of the streams when there is one):
//   sync-file:  300 publishes one at a time (msgs/s, median latency in ms, CPU µs per message);
//   async-file, async-mem: 5000 publishes, up to 256 PubAcks outstanding (msgs/s, CPU);
//   kv: 3000 KV puts on 1000 keys, 64 outstanding (puts/s, CPU);
//   consume: 3000 messages published to the file stream, then read by an R3 durable pull
//            consumer (fetches of 500, each message acknowledged) (msgs/s, CPU of the reading);
//   sync-watched: sync-file's publishes while an R3 durable reads and acknowledges each as it
//            comes (its deliveries and acks go through the consumer's group one by one).
// Each cluster is warmed up first (JIT). Prints per scenario the median of the rounds' B/A ratios,
// in how many rounds B did better, and the rounds' figures.
//
//   node bench/js_r3_pair.mjs /work/wt/before /work/wt/after [--rounds 6] [--scenarios sync-file,kv]
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import path from "node:path";
import { median } from "./bench_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const trees = args.filter((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1].startsWith("--"))).slice(0, 2);
if (trees.length !== 2) throw new Error("usage: js_r3_pair.mjs TREE_A TREE_B [--rounds N] [--scenarios ...]");
const ROUNDS = Number(opt("--rounds", 6));
const SCENARIOS = opt("--scenarios", "sync-file,async-file,async-mem,kv").split(",");
const payload = new Uint8Array(16);

async function leaderOf(jsm, stream) {
  for (let i = 0; ; i++) {
    try {
      const l = (await jsm.streams.info(stream)).cluster?.leader;
      if (l) return l;
    } catch (e) {
      if (i > 200) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Up to `window` operations outstanding, `n` in all; operations/s. */
async function windowed(n, window, op) {
  let sent = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (sent - done < window && sent < n) {
        sent++;
        op(sent).then(() => {
          done++;
          if (done === n) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  return n / ((performance.now() - t0) / 1000);
}

/** Fetch (500 at a time) and acknowledge every message the consumer has pending; how many. */
async function readAll(consumer, nc) {
  const total = (await consumer.info()).num_pending;
  let got = 0;
  while (got < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(500, total - got), expires: 2000 });
    for await (const m of batch) {
      m.ack();
      got++;
    }
  }
  await nc.flush();
  return got;
}

async function setUp(tree) {
  const lib = await import(path.resolve(tree, "bench", "js_cluster_lib.mjs"));
  const c = await lib.startCluster("ts", "PAIR");
  try {
    await lib.agreedMetaLeader(c.nodes);
    const admin = await connect({ servers: `127.0.0.1:${c.nodes[0].port}` });
    const jsm = await jetstreamManager(admin, { timeout: 5000 });
    await jsm.streams.add({ name: "F", subjects: ["f"], num_replicas: 3, storage: "file" });
    await jsm.streams.add({ name: "M", subjects: ["m"], num_replicas: 3, storage: "memory" });
    await new Kvm(admin).create("KV", { replicas: 3 });
    const leaders = [await leaderOf(jsm, "F"), await leaderOf(jsm, "M"), await leaderOf(jsm, "KV_KV")];
    const other = c.nodes.find((n) => !leaders.includes(n.name)) ?? c.nodes.find((n) => n.name !== leaders[0]);
    const nc = await connect({ servers: `127.0.0.1:${other.port}` });
    const js = jetstream(nc, { timeout: 10_000 });
    const kv = await new Kvm(nc).open("KV");
    await windowed(3000, 256, () => js.publish("f", payload));
    await windowed(3000, 256, () => js.publish("m", payload));
    await windowed(2000, 64, (i) => kv.put(`k${i % 1000}`, payload));
    await jsm.consumers.add("F", { durable_name: "C", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
    const consumer = await js.consumers.get("F", "C");
    await readAll(consumer, nc); // warm-up
    return { tree, lib, c, admin, jsm, nc, js, kv, consumer, placement: `leaders F ${leaders[0]}, M ${leaders[1]}, KV ${leaders[2]}; client on ${other.name}` };
  } catch (e) {
    await lib.stopCluster(c);
    throw e;
  }
}

async function measure(s, out) {
  const cpu = () => s.lib.clusterCpuMs(s.c);
  const rec = (k, v) => (out[k] ??= []).push(v);
  for (const name of ["sync-file", "sync-watched"]) {
    if (!SCENARIOS.includes(name)) continue;
    // A new durable each time (what the other scenarios publish is not its backlog), removed after.
    if (name === "sync-watched") await s.jsm.consumers.add("F", { durable_name: "W", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New });
    const watch = name === "sync-watched" ? await (await s.js.consumers.get("F", "W")).consume({ max_messages: 100 }) : undefined;
    const reading = watch === undefined ? undefined : (async () => {
      for await (const m of watch) m.ack();
    })();
    const lat = [];
    const c0 = cpu();
    const t0 = performance.now();
    for (let j = 0; j < 300; j++) {
      const a = performance.now();
      await s.js.publish("f", payload);
      lat.push(performance.now() - a);
    }
    rec(name, 300 / ((performance.now() - t0) / 1000));
    rec(`${name}-p50`, median(lat));
    rec(`${name}-cpu`, ((cpu() - c0) * 1000) / 300);
    if (watch !== undefined) {
      await watch.close();
      await reading;
      await s.jsm.consumers.delete("F", "W");
    }
  }
  for (const [name, subject] of [["async-file", "f"], ["async-mem", "m"]]) {
    if (!SCENARIOS.includes(name)) continue;
    const c0 = cpu();
    rec(name, await windowed(5000, 256, () => s.js.publish(subject, payload)));
    rec(`${name}-cpu`, ((cpu() - c0) * 1000) / 5000);
  }
  if (SCENARIOS.includes("consume")) {
    await windowed(3000, 256, () => s.js.publish("f", payload));
    const c0 = cpu();
    const t0 = performance.now();
    const n = await readAll(s.consumer, s.nc);
    rec("consume", n / ((performance.now() - t0) / 1000));
    rec("consume-cpu", ((cpu() - c0) * 1000) / n);
  }
  if (SCENARIOS.includes("kv")) {
    const c0 = cpu();
    rec("kv", await windowed(3000, 64, (j) => s.kv.put(`k${j % 1000}`, payload)));
    rec("kv-cpu", ((cpu() - c0) * 1000) / 3000);
  }
}

const setups = [];
try {
  for (const t of trees) setups.push(await setUp(t));
  const res = [{}, {}];
  for (let r = 0; r < ROUNDS; r++) for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) await measure(setups[i], res[i]);
  const fmt = (x) => (x < 100 ? x.toFixed(2) : String(Math.round(x)));
  for (const k of Object.keys(res[0])) {
    // The ratio of each round's pair (taken within seconds of each other), then their median:
    // the load drifts between rounds far more than within one.
    const pairs = median(res[0][k].map((a, r) => res[1][k][r] / a));
    const better = res[0][k].filter((a, r) => (k.endsWith("-p50") || k.endsWith("-cpu") ? res[1][k][r] < a : res[1][k][r] > a)).length;
    console.log(`${k.padEnd(14)} B/A ${pairs.toFixed(2)} (B better in ${better} of ${ROUNDS})  A [${res[0][k].map(fmt).join(" ")}]  B [${res[1][k].map(fmt).join(" ")}]`);
  }
  console.log("(msgs/s: higher is better; p50 in ms and cpu in µs per message: lower is better)");
  for (const s of setups) console.log(`${s.tree}: ${s.placement}`);
} finally {
  for (const s of setups) {
    await s.nc.close();
    await s.admin.close();
    await s.lib.stopCluster(s.c);
  }
}
