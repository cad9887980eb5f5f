// Replicated streams side by side: a cluster of three nats-server 2.15 (ref) and one of three
// tsnats (ts), the load from a nats.js client connected to a server that does not lead the
// stream (its publishes travel to the leader over a route). Scenarios (all R3):
//   async-file, async-mem: 16-byte publishes with up to 256 PubAcks outstanding (msgs/s);
//   sync-file, sync-mem:   one publish at a time (msgs/s, the PubAck latency p50 and p99);
//   consume: a durable pull consumer (explicit acks) on the file stream reads what async-file
//            stored, fetching batches of 500 (the last one what is left) and acknowledging each
//            message (msgs/s);
//   sync-watched: sync-file's publishes while a durable pull consumer reads and acknowledges them
//            (a stream with consumers: what each member does to hand a new message to them);
//   consume-away: the same with a second durable whose leader was moved (CONSUMER.LEADER.STEPDOWN
//            with placement.preferred) to the server that neither leads the stream nor has the client;
//   kv:      KV puts on an R3 bucket, 64 outstanding (puts/s);
//   failover: the file stream's leader killed with -9, the time until a publish (retried with a
//            250 ms timeout from a client of a surviving server) is acknowledged again.
// Also the largest peak RSS (VmHWM) of the three servers after the message scenarios (`peak-rss`, MB).
// For the message scenarios also the CPU time the three servers used per message (`<scenario>-cpu`,
// µs per message summed over the servers, from /proc): less noisy than rates on a shared machine.
// Each round starts a fresh cluster per server kind (ref, ts, ref, ts ...); medians of the rounds
// and the ratios ts/ref (msgs/s: higher is better; latency and fail-over: lower is better).
//
//   npm run build && node bench/js_r3.mjs [--rounds 3] [--async 20000] [--sync 2000] [--kv 10000] [--warmup 0]
//     [--only ts|ref] [--scenarios async-file,sync-file,...]
//   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the tsnats servers;
//   BENCH_PERF=<dir>, BENCH_SYSCALLS=<dir>: perf or strace on the servers while each scenario runs;
//   BENCH_STRACE_TIMED=<dir>: each server's fsyncs, reads and writes with times and durations (strace -ttt -T);
//   BENCH_IO=1: read/write system calls per message and server (from /proc, no tracing).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { median } from "./bench_lib.mjs";
import { agreedMetaLeader, clusterCpuMs, clusterPeakRssMb, startCluster, stopCluster } from "./js_cluster_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const ROUNDS = Number(opt("--rounds", 3));
const ASYNC_N = Number(opt("--async", 20000));
const SYNC_N = Number(opt("--sync", 2000));
const KV_N = Number(opt("--kv", 10000));
const WARMUP = Number(opt("--warmup", 0));
const IMPLS = opt("--only", "") === "" ? ["ref", "ts"] : [opt("--only", "")];
const ALL = ["async-file", "async-mem", "sync-file", "sync-mem", "consume", "consume-away", "sync-watched", "kv", "failover"];
const SCENARIOS = opt("--scenarios", ALL.join(",")).split(",");
const WINDOW = 256;
const KV_WINDOW = 64;
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

/** Up to `window` operations outstanding, `n` in all (or CAP_MS); returns operations/s and how many were done. */
async function windowed(n, window, op) {
  let sent = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (sent - done < window && sent < n && performance.now() - t0 < CAP_MS) {
        sent++;
        op(sent).then(() => {
          done++;
          if (done === sent && (sent >= n || performance.now() - t0 >= CAP_MS)) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  return { rate: done / ((performance.now() - t0) / 1000), n: done };
}

/**
 * Tools attached to the three servers while one scenario runs (not during set-up and warm-up):
 * BENCH_PERF=<dir> `perf record -g` (<impl>-<scenario>.data; run tsnats with
 * BENCH_NODE_ARGS=--perf-basic-prof for JavaScript's names), BENCH_SYSCALLS=<dir> `strace -f -c`
 * per server (<impl>-<scenario>-<server>). <impl>-<scenario>.json names the servers' pids.
 */
async function attachTools(c, impl, name) {
  const procs = [];
  const tag = `${impl}-${name}`;
  const pids = c.nodes.map((n) => n.proc.pid);
  for (const dir of [process.env.BENCH_PERF, process.env.BENCH_SYSCALLS, process.env.BENCH_STRACE_TIMED]) if (dir) fs.writeFileSync(path.join(dir, `${tag}.json`), JSON.stringify({ pids: Object.fromEntries(c.nodes.map((n) => [n.proc.pid, n.name])), roles: c.roles }));
  if (process.env.BENCH_PERF) procs.push(spawn("perf", ["record", "-F", "999", "-g", "-o", path.join(process.env.BENCH_PERF, `${tag}.data`), "-p", pids.join(",")], { stdio: "ignore" }));
  if (process.env.BENCH_SYSCALLS) for (const n of c.nodes) procs.push(spawn("strace", ["-f", "-c", "-o", path.join(process.env.BENCH_SYSCALLS, `${tag}-${n.name}`), "-p", String(n.proc.pid)], { stdio: "ignore" }));
  if (process.env.BENCH_STRACE_TIMED) for (const n of c.nodes) procs.push(spawn("strace", ["-f", "-ttt", "-T", "-e", "trace=fdatasync,fsync,write,writev,read,pwrite64,pwritev", "-o", path.join(process.env.BENCH_STRACE_TIMED, `${tag}-${n.name}`), "-p", String(n.proc.pid)], { stdio: "ignore" }));
  if (procs.length > 0) await new Promise((r) => setTimeout(r, 500)); // attached
  return async () => {
    const exits = procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : p.once("exit", r))));
    for (const p of procs) p.kill("SIGINT");
    await Promise.all(exits);
  };
}

/** Runs `fn` (returning { rate, n }: operations/s and how many) and records `name` and `name-cpu` in `out`. */
async function measured(c, out, name, fn) {
  const detach = await attachTools(c, c.impl, name);
  const marks0 = stdoutMarks(c);
  const cpu0 = clusterCpuMs(c);
  const io0 = process.env.BENCH_IO ? syscallCounts(c) : undefined;
  const r = await fn();
  if (io0 !== undefined && r.n > 0) {
    const io1 = syscallCounts(c);
    const per = c.nodes.map((n, i) => `${n.name} ${((io1[i][0] - io0[i][0]) / r.n).toFixed(2)}/${((io1[i][1] - io0[i][1]) / r.n).toFixed(2)}`);
    console.log(`${c.impl} ${name}: read/write system calls per message ${per.join(", ")} (roles ${JSON.stringify(c.roles)})`);
  }
  out[name] = r.rate;
  if (r.n > 0) out[`${name}-cpu`] = ((clusterCpuMs(c) - cpu0) * 1000) / r.n;
  if (process.env.BENCH_STDOUT) {
    const marks1 = stdoutMarks(c);
    const marks = Object.fromEntries(c.nodes.map((n) => [n.name, [marks0[n.name], marks1[n.name]]]));
    fs.writeFileSync(path.join(process.env.BENCH_STDOUT, `${c.impl}-${name}.marks.json`), JSON.stringify(marks));
  }
  await detach();
  return r;
}

/**
 * BENCH_IO=1: each server's read and write system calls so far (/proc/<pid>/io syscr, syscw:
 * sockets and files alike), counted by the kernel, so unlike strace they slow nothing down.
 */
function syscallCounts(c) {
  return c.nodes.map((n) => {
    const t = fs.readFileSync(`/proc/${n.proc.pid}/io`, "utf8");
    return [Number(/syscr: (\d+)/.exec(t)?.[1] ?? 0), Number(/syscw: (\d+)/.exec(t)?.[1] ?? 0)];
  });
}

/**
 * With BENCH_STDOUT, how far each server's standard output had got: <impl>-<scenario>.marks.json
 * gives the byte range written while the scenario ran (V8 buffers its traces, so a few lines
 * either side may belong to the neighbours), for trace_opt.mjs.
 */
function stdoutMarks(c) {
  const m = {};
  if (!process.env.BENCH_STDOUT) return m;
  for (const n of c.nodes) m[n.name] = fs.statSync(path.join(process.env.BENCH_STDOUT, `${c.impl}-${n.name}.out`)).size;
  return m;
}

async function syncPublishes(js, subject) {
  const lat = [];
  const t1 = performance.now();
  for (let i = 0; i < SYNC_N && performance.now() - t1 < CAP_MS; i++) {
    const s = performance.now();
    await js.publish(subject, payload);
    lat.push(performance.now() - s);
  }
  const rate = lat.length / ((performance.now() - t1) / 1000);
  const n = lat.length;
  lat.sort((a, b) => a - b);
  return { rate, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)], n };
}

async function streamLeader(jsm, name) {
  return retry(async () => {
    const l = (await jsm.streams.info(name)).cluster?.leader;
    if (!l) throw new Error("no leader yet");
    return l;
  });
}

async function round(impl) {
  const c = await startCluster(impl, "R3BENCH");
  c.impl = impl;
  const out = {};
  try {
    await agreedMetaLeader(c.nodes);
    const admin = await connect({ servers: `127.0.0.1:${c.nodes[0].port}` });
    const jsm = await retry(() => jetstreamManager(admin, { timeout: 5000 }));
    await retry(() => jsm.streams.add({ name: "R3", subjects: ["r3"], num_replicas: 3, storage: "file" }));
    await retry(() => jsm.streams.add({ name: "R3M", subjects: ["r3m"], num_replicas: 3, storage: "memory" }));
    const leader = await streamLeader(jsm, "R3");
    await streamLeader(jsm, "R3M");
    const other = c.nodes.find((n) => n.name !== leader);
    c.roles = { leader, client: other.name };
    const nc = await connect({ servers: `127.0.0.1:${other.port}` });
    const js = jetstream(nc, { timeout: 10_000 });
    // The first publishes are asked again until the client's server knows the leaders' interest
    // in the subjects (a create is answered before every server heard of it, on nats-server too).
    await retry(() => js.publish("r3", payload));
    await retry(() => js.publish("r3m", payload));
    for (let i = 0; i < 200; i++) await js.publish("r3", payload); // warm-up
    for (let i = 0; i < 200; i++) await js.publish("r3m", payload);
    // --warmup N: N more publishes (256 outstanding) to each stream first, so tsnats' JIT has compiled the hot paths.
    if (WARMUP > 0) for (const subject of ["r3", "r3m"]) await windowed(WARMUP, WINDOW, () => js.publish(subject, payload));

    if (SCENARIOS.includes("async-file")) await measured(c, out, "async-file", () => windowed(ASYNC_N, WINDOW, () => js.publish("r3", payload)));
    if (SCENARIOS.includes("async-mem")) await measured(c, out, "async-mem", () => windowed(ASYNC_N, WINDOW, () => js.publish("r3m", payload)));
    if (SCENARIOS.includes("sync-file")) {
      const r = await measured(c, out, "sync-file", () => syncPublishes(js, "r3"));
      out["sync-file-p50"] = r.p50;
      out["sync-file-p99"] = r.p99;
    }
    if (SCENARIOS.includes("sync-mem")) {
      const r = await measured(c, out, "sync-mem", () => syncPublishes(js, "r3m"));
      out["sync-mem-p50"] = r.p50;
      out["sync-mem-p99"] = r.p99;
    }
    for (const scenario of ["consume", "consume-away"]) {
      if (!SCENARIOS.includes(scenario)) continue;
      // What the stream holds now (the publishes above), read once with explicit acks.
      const total = (await jsm.streams.info("R3")).state.messages;
      const durable = scenario === "consume" ? "C" : "CA";
      await retry(() => jsm.consumers.add("R3", { durable_name: durable, ack_policy: AckPolicy.Explicit }));
      if (scenario === "consume-away") {
        const third = c.nodes.find((n) => n.name !== leader && n !== other);
        await retry(async () => {
          const now = (await jsm.consumers.info("R3", durable)).cluster?.leader;
          if (now === third.name) return;
          await admin.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.R3.${durable}`, JSON.stringify({ placement: { preferred: third.name } }), { timeout: 5000 });
          throw new Error("not moved yet");
        });
      }
      const consumer = await js.consumers.get("R3", durable);
      await measured(c, out, scenario, async () => {
        let got = 0;
        const t0 = performance.now();
        while (got < total && performance.now() - t0 < CAP_MS) {
          try {
            // No more than what is left: a last fetch asking more than the stream holds would
            // wait out its 2 s expiry, idle time on both sides that hid the reading's rate.
            const batch = await consumer.fetch({ max_messages: Math.min(500, total - got), expires: 2000 });
            for await (const m of batch) {
              m.ack();
              got++;
            }
          } catch {
            // a leader change ended the fetch: asked again
          }
        }
        await nc.flush();
        return { rate: got / ((performance.now() - t0) / 1000), n: got };
      });
    }
    if (SCENARIOS.includes("sync-watched")) {
      await retry(() => jsm.consumers.add("R3", { durable_name: "W", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New }));
      const msgs = await (await js.consumers.get("R3", "W")).consume({ max_messages: 100 });
      const reading = (async () => {
        for await (const m of msgs) m.ack();
      })();
      const r = await measured(c, out, "sync-watched", () => syncPublishes(js, "r3"));
      out["sync-watched-p50"] = r.p50;
      out["sync-watched-p99"] = r.p99;
      await msgs.close();
      await reading;
    }
    if (SCENARIOS.includes("kv")) {
      const kv = await retry(() => new Kvm(nc).create("R3KV", { replicas: 3 }));
      c.roles.kvLeader = await streamLeader(jsm, "KV_R3KV");
      for (let i = 0; i < 100; i++) await kv.put(`k${i % 100}`, payload); // warm-up
      // --warmup N: the bucket too (64 outstanding): a new stream's first messages run code the
      // JIT compiled for the streams before it, part of which it compiles again.
      if (WARMUP > 0) await windowed(WARMUP, KV_WINDOW, (i) => kv.put(`k${i % 1000}`, payload));
      await measured(c, out, "kv", () => windowed(KV_N, KV_WINDOW, (i) => kv.put(`k${i % 1000}`, payload)));
    }
    out["peak-rss"] = clusterPeakRssMb(c);
    if (SCENARIOS.includes("failover")) {
      const victim = c.nodes.find((n) => n.name === leader);
      const survivor = c.nodes.find((n) => n !== victim && n !== other) ?? other;
      await nc.close();
      await admin.close();
      const nc2 = await connect({ servers: `127.0.0.1:${survivor.port}` });
      const js2 = jetstream(nc2, { timeout: 250 });
      await retry(() => js2.publish("r3", payload));
      const t2 = performance.now();
      victim.proc.kill("SIGKILL");
      for (;;) {
        const ok = await js2.publish("r3", payload).then(() => true, () => false);
        if (ok) break;
      }
      out.failover = performance.now() - t2;
      await nc2.close();
    } else {
      await nc.close();
      await admin.close();
    }
    return out;
  } finally {
    await stopCluster(c);
  }
}

const rounds = { ref: [], ts: [] };
for (let k = 0; k < ROUNDS; k++) for (const impl of IMPLS) rounds[impl].push(await round(impl));
const results = {};
const KEYS = [...ALL.flatMap((s) => (s.startsWith("sync") ? [s, `${s}-p50`, `${s}-p99`, `${s}-cpu`] : [s, `${s}-cpu`])), "peak-rss"].filter((k) => rounds[IMPLS[0]][0][k] !== undefined);
const UNIT = { failover: "ms", "sync-file-p50": "ms p50", "sync-mem-p50": "ms p50", "sync-file-p99": "ms p99", "sync-mem-p99": "ms p99", "sync-watched-p50": "ms p50", "sync-watched-p99": "ms p99", kv: "puts/s", "peak-rss": "MB" };
for (const k of KEYS) if (k.endsWith("-cpu")) UNIT[k] = "cpu-µs/msg";
for (const impl of IMPLS) {
  results[impl] = {};
  for (const k of KEYS) results[impl][k] = median(rounds[impl].map((r) => r[k]));
  console.log(`${impl}: ${KEYS.map((k) => `${k} ${results[impl][k] < 100 ? results[impl][k].toFixed(2) : Math.round(results[impl][k])} ${UNIT[k] ?? "msgs/s"}`).join(", ")}`);
}
if (IMPLS.length === 2) {
  const ratios = KEYS.map((k) => `${k}=${(results.ts[k] / results.ref[k]).toFixed(2)}`);
  console.log(`RESULT scenario=js-r3 ${ratios.join(" ")} (msgs/s: higher is better; p50, p99, cpu and failover: lower is better)`);
}
