// The cost of single-replica durables on a replicated stream: three servers, one R3 file stream,
// N durables with num_replicas 1 created one after the other through one client (each waiting for
// its answer), then deleted the same way. Per checkout: one create's and one delete's latency
// (p50/p90/mean) and how much the stream group's RAFT log grew on disk (bytes per create/delete,
// on every server: the group records where each single-replica consumer lives, and since 4f21b8c
// also its config and creation time, for CONSUMER.LIST's stand-in entry while its server is down).
// Checkouts run alternately (each starts its own dist/ through its bench/js_cluster_lib.mjs).
//
//   node bench/js_r1_consumer_creates.mjs [<checkout> ...] [--consumers 500] [--rounds 2]
import fs from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { checkoutRoots, retry } from "./bench_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const N = Number(opt("--consumers", 500));
const ROUNDS = Number(opt("--rounds", 2));
const roots = checkoutRoots(args).filter((r) => r !== "ref");

/** Bytes allocated under a directory (the RAFT log's segments are preallocated sparse files: their blocks are what was written). */
function du(dir) {
  let n = 0;
  let entries = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) n += e.isDirectory() ? du(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).blocks * 512;
  return n;
}

/** The stream groups' RAFT logs of every server (tsnats keeps them under <store>/jetstream/_raft/S-*). */
function streamGroupBytes(c) {
  let n = 0;
  for (const node of c.nodes) {
    const raft = path.join(c.dir, node.name, "jetstream", "_raft");
    let groups = [];
    try {
      groups = fs.readdirSync(raft).filter((g) => g.startsWith("S-"));
    } catch {
      // none yet
    }
    for (const g of groups) n += du(path.join(raft, g));
  }
  return n / c.nodes.length;
}

const stats = (lat) => {
  const s = [...lat].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)], p90: s[Math.floor(s.length * 0.9)], mean: s.reduce((a, b) => a + b, 0) / s.length };
};

async function request(nc, subject, body) {
  return retry(async () => {
    const a = JSON.parse((await nc.request(subject, JSON.stringify(body), { timeout: 10_000 })).string());
    if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
    return a;
  });
}

async function once(root) {
  const lib = await import(path.join(root, "bench", "js_cluster_lib.mjs"));
  const c = await lib.startCluster("ts", "R1C");
  try {
    await lib.agreedMetaLeader(c.nodes);
    const nc = await connect({ servers: c.nodes.map((n) => `127.0.0.1:${n.port}`) });
    try {
      await request(nc, "$JS.API.STREAM.CREATE.R1C", { name: "R1C", subjects: ["r1c.>"], num_replicas: 3 });
      for (let i = 0; i < 10; i++) await retry(() => nc.request("r1c.x", "m", { timeout: 5000 }));
      await new Promise((r) => setTimeout(r, 1000));
      const b0 = streamGroupBytes(c);
      const create = [];
      for (let j = 0; j < N; j++) {
        const s = performance.now();
        await request(nc, `$JS.API.CONSUMER.CREATE.R1C.D${j}`, { stream_name: "R1C", config: { durable_name: `D${j}`, ack_policy: "explicit", num_replicas: 1 } });
        create.push(performance.now() - s);
      }
      await new Promise((r) => setTimeout(r, 1000));
      const b1 = streamGroupBytes(c);
      const del = [];
      for (let j = 0; j < N; j++) {
        const s = performance.now();
        await request(nc, `$JS.API.CONSUMER.DELETE.R1C.D${j}`, {});
        del.push(performance.now() - s);
      }
      await new Promise((r) => setTimeout(r, 1000));
      const b2 = streamGroupBytes(c);
      return { create: stats(create), del: stats(del), logPerCreate: (b1 - b0) / N, logPerDelete: (b2 - b1) / N };
    } finally {
      await nc.close();
    }
  } finally {
    await lib.stopCluster(c);
  }
}

const f = (x) => x.toFixed(2);
for (let r = 0; r < ROUNDS; r++) {
  for (const root of roots) {
    const o = await once(root);
    console.log(
      `${path.basename(root)} round ${r + 1}: ${N} R1 durables on an R3 stream; create ms p50 ${f(o.create.p50)} p90 ${f(o.create.p90)} mean ${f(o.create.mean)}; ` +
        `delete ms p50 ${f(o.del.p50)} p90 ${f(o.del.p90)} mean ${f(o.del.mean)}; stream group log bytes (allocated) per create ${Math.round(o.logPerCreate)}, per delete ${Math.round(o.logPerDelete)} (per server)`,
    );
  }
}
