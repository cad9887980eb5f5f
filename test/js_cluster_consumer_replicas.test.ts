// Consumer num_replicas and mem_storage on a JetStream cluster, compared with a cluster of three
// nats-server 2.15 servers: on R3 (file and memory) and R1 streams, durables and ephemerals with
// num_replicas -1, 0, 1, 2, 3, 5, with and without mem_storage; what is accepted, what is
// refused with which error, and the `cluster` of the answer (R1: name and leader; replicated:
// raft group, leader and leader_since, whichever member answers, system account, replicas). tsnats replicates a consumer through its
// stream's group; R2 consumers of an R3 stream and replicated ephemerals, which nats-server runs
// in groups of their own, are kept by all of the stream's servers and list their own replicas.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";

interface Answer {
  error?: { code: number; err_code: number; description: string };
  config?: { num_replicas?: number; mem_storage?: boolean };
  cluster?: Record<string, unknown> & { replicas?: unknown[] };
  [k: string]: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function api(nc: NatsConnection, subject: string, body?: unknown): Promise<Answer> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const a = JSON.parse((await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: 5000 })).string()) as Answer;
      if (a.error?.err_code !== 10008 || Date.now() > deadline) return a;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(200);
  }
}

function shape(a: Answer): string {
  if (a.error !== undefined) return `${a.error.code} ${a.error.err_code} ${a.error.description}`;
  const keys = Object.keys(a.cluster ?? {})
    .sort()
    .join(",");
  return `ok r=${a.config?.num_replicas} mem=${a.config?.mem_storage === true} cluster=${keys} replicas=${a.cluster?.replicas?.length ?? 0}`;
}

async function sweep(url: string): Promise<Map<string, string>> {
  const nc = await connect({ servers: url });
  const out = new Map<string, string>();
  try {
    for (const [name, extra] of [
      ["S3", { num_replicas: 3 }],
      ["SM", { num_replicas: 3, storage: "memory" }],
      ["S1", { num_replicas: 1 }],
    ] as const) {
      const a = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], ...extra });
      assert.equal(a.error, undefined, JSON.stringify(a.error));
    }
    for (const stream of ["S3", "SM", "S1"]) {
      for (const r of [-1, 0, 1, 2, 3, 5]) {
        for (const mem of [false, true]) {
          for (const durable of [true, false]) {
            const n = `D${r < 0 ? "m" : r}${mem ? "M" : ""}`;
            const config = { ack_policy: "explicit", num_replicas: r, ...(mem ? { mem_storage: true } : {}), ...(durable ? { durable_name: n } : {}) };
            const a = await api(nc, durable ? `$JS.API.CONSUMER.CREATE.${stream}.${n}` : `$JS.API.CONSUMER.CREATE.${stream}`, { stream_name: stream, config });
            out.set(`${stream} ${durable ? "durable" : "ephemeral"} r=${r}${mem ? " mem" : ""}`, shape(a));
          }
        }
      }
    }
    // Updates: the storage type stays.
    await api(nc, "$JS.API.CONSUMER.CREATE.S3.U", { stream_name: "S3", config: { durable_name: "U", ack_policy: "explicit" } });
    const upd = await api(nc, "$JS.API.CONSUMER.CREATE.S3.U", { stream_name: "S3", action: "update", config: { durable_name: "U", ack_policy: "explicit", mem_storage: true } });
    out.set("S3 update to mem_storage", shape(upd));
    for (const s of ["S3", "SM", "S1"]) await api(nc, `$JS.API.STREAM.DELETE.${s}`);
  } finally {
    await nc.close();
  }
  return out;
}

test("consumer num_replicas and mem_storage in a cluster, as nats-server 2.15", { timeout: 400_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Map<string, string>;
  try {
    await c.metaLeader();
    ours = await sweep(c.members[0].url);
  } finally {
    await c.stop();
  }
  const replicated = "ok r=%R mem=%M cluster=leader,leader_since,name,raft_group,replicas,system_account,traffic_account replicas=2";
  const r1 = "ok r=%R mem=%M cluster=leader,name replicas=0";
  assert.equal(ours.get("S3 durable r=0"), replicated.replace("%R", "0").replace("%M", "false"));
  assert.equal(ours.get("S3 durable r=3 mem"), replicated.replace("%R", "3").replace("%M", "true"));
  assert.equal(ours.get("S3 durable r=1"), r1.replace("%R", "1").replace("%M", "false"));
  assert.equal(ours.get("S3 ephemeral r=0"), r1.replace("%R", "0").replace("%M", "false"));
  assert.equal(ours.get("S3 durable r=5"), "400 10126 consumer config replica count exceeds parent stream");
  assert.equal(ours.get("S1 durable r=2"), "400 10126 consumer config replica count exceeds parent stream");
  assert.equal(ours.get("S3 durable r=-1"), "400 10133 replicas count cannot be negative");
  assert.equal(ours.get("S3 durable r=2"), replicated.replace("%R", "2").replace("%M", "false").replace("replicas=2", "replicas=1"));
  assert.equal(ours.get("S3 ephemeral r=3"), replicated.replace("%R", "3").replace("%M", "false"));
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  let theirs: Map<string, string>;
  try {
    theirs = await sweep(ref.urls[0]);
  } finally {
    await ref.stop();
  }
  // Everything nats-server answers the same.
  for (const [k, v] of theirs) assert.equal(ours.get(k), v, k);
});
