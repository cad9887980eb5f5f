// The JetStream API of a 3-server cluster through a client connected to a server that does not
// lead the stream, the same requests on tsnats and on nats-server 2.15 (started from the same
// configuration files): leader stepdowns of a replicated and a single-replica stream and
// consumer (bad bodies, placements nobody matches, unknown streams and consumers), a snapshot of
// a stream nobody holds, and STREAM.LIST's entries. The cases come from random requests sent to
// both clusters side by side. Server names and leaders are masked: which server nats-server
// picks is random.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { stableValue } from "./helpers/side_by_side.js";
import { referenceBinary } from "./helpers/nats_server.js";

type Json = Record<string, unknown>;

/** Replies, with what differs by nature (server names, leaders, RAFT ids, clocks) masked. */
function masked(v: unknown): unknown {
  if (typeof v === "string") return v.replace(/\bN[0-9]\b/g, "<server>");
  if (Array.isArray(v)) return v.map(masked);
  if (v === null || typeof v !== "object") return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v as Json)) {
    if (k === "leader_since" || k === "raft_group") out[k] = "<x>";
    else if (k === "replicas" && Array.isArray(x)) out[k] = x.length;
    else out[k] = masked(x);
  }
  return out;
}

/** A JSON API request asked again while the cluster answers 503; "no answer" when nobody answers within 3 s. */
async function ask(nc: NatsConnection, subject: string, body: string): Promise<unknown> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let a: Json;
    try {
      a = JSON.parse((await nc.request(subject, body, { timeout: 3000 })).string()) as Json;
    } catch {
      return "no answer";
    }
    if ((a.error as Json | undefined)?.code !== 503 || Date.now() > deadline) return masked(stableValue(a));
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A create asked again while a cluster just started has not heard from enough servers yet (10005 "no suitable peers", both implementations). */
async function created(nc: NatsConnection, subject: string, body: unknown): Promise<Json> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const a = await clusterApi(nc, subject, body);
    if (a.error?.err_code !== 10005 || Date.now() > deadline) return a;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function leaderOf(nc: NatsConnection, stream: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const a = await clusterApi<{ cluster?: { leader?: string } }>(nc, `$JS.API.STREAM.INFO.${stream}`);
    if (a.cluster?.leader) return a.cluster.leader;
    if (Date.now() > deadline) assert.fail(`no leader of ${stream}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const CASES: Array<[string, string]> = [
  ["$JS.API.STREAM.LEADER.STEPDOWN.NOPE", "true"],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.NOPE.C", "{}"],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.S.NOPE", ""],
  ["$JS.API.STREAM.LEADER.STEPDOWN.S", "{"],
  ["$JS.API.STREAM.LEADER.STEPDOWN.S", "[]"],
  ["$JS.API.STREAM.LEADER.STEPDOWN.S", JSON.stringify({ placement: { cluster: "X" } })],
  ["$JS.API.STREAM.LEADER.STEPDOWN.S", JSON.stringify({ placement: { preferred: "N9" } })],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", JSON.stringify({ placement: { tags: ["x"] } })],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", "[1]"],
  // Single replicas: nothing to hand over, a success before the body is read.
  ["$JS.API.STREAM.LEADER.STEPDOWN.T", "{"],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.S.D", "{"],
  ["$JS.API.STREAM.SNAPSHOT.NOPE", JSON.stringify({ deliver_subject: "x" })],
  ["$JS.API.STREAM.LIST", ""],
  ["$JS.API.STREAM.NAMES", "[]"],
  ["$JS.API.STREAM.NAMES", JSON.stringify({ offset: 5 })],
  ["$JS.API.STREAM.INFO.NOPE", JSON.stringify({ placement: {} })],
];
/** Stepdowns that move a leader (any member heard from may lead next): sent last. */
const MOVES: Array<[string, string]> = [
  ["$JS.API.STREAM.LEADER.STEPDOWN.S", JSON.stringify({ placement: { cluster: "C" } })],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", JSON.stringify({ placement: {} })],
];

async function run(line: "tsnats" | "2.15"): Promise<Json> {
  const c = await startRefJsCluster(3, "C", { line });
  assert.ok(c !== undefined);
  const seen: Json = {};
  try {
    const nc0 = await connect({ servers: c.urls[0] });
    const setup: Array<[string, unknown]> = [
      ["$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 3 }],
      ["$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["t.>"], num_replicas: 1 }],
      ["$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: { durable_name: "C", ack_policy: "explicit", num_replicas: 3 } }],
      ["$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { durable_name: "D", ack_policy: "explicit", num_replicas: 1 } }],
    ];
    for (const [s, b] of setup) assert.equal((await created(nc0, s, b)).error, undefined, `${line}: ${s}`);
    await leaderOf(nc0, "T");
    for (const [s, d] of [["s.a", "1"], ["s.b", "2"], ["t.a", "3"]]) await clusterPublish(nc0, s, d);
    const leader = await leaderOf(nc0, "S");
    await nc0.close();
    const nc = await connect({ servers: c.urls.find((_, i) => `N${i + 1}` !== leader) });
    try {
      for (const [i, [s, b]] of CASES.entries()) seen[`${i} ${s} ${b}`] = await ask(nc, s, b);
      // The single-replica consumer's stepdown left the stream's leader where it was.
      seen["stream leader kept"] = (await leaderOf(nc, "S")) === leader;
      seen["preferred is the leader"] = await ask(nc, "$JS.API.STREAM.LEADER.STEPDOWN.S", JSON.stringify({ placement: { preferred: leader } }));
      for (const [s, b] of MOVES) seen[`${s} ${b}`] = await ask(nc, s, b);
    } finally {
      await nc.close();
    }
  } finally {
    await c.stop();
  }
  return seen;
}

test("cluster API answers as nats-server 2.15's cluster, from a server not leading the stream", { skip: referenceBinary("2.15") === undefined ? "nats-server 2.15 is not available" : false, timeout: 300_000 }, async () => {
  const [ref, ours] = await Promise.all([run("2.15"), run("tsnats")]);
  assert.deepEqual(ours, ref);
  // What the cases are about, on nats-server's side too.
  const err = (k: string): unknown => ((ref[k] as Json).error as Json | undefined)?.description;
  assert.equal(err(`0 ${CASES[0][0]} ${CASES[0][1]}`), "stream not found");
  assert.equal(err(`3 ${CASES[3][0]} ${CASES[3][1]}`), "invalid JSON: unexpected EOF");
  assert.equal((ref[`9 ${CASES[9][0]} ${CASES[9][1]}`] as Json).success, true);
  assert.equal(ref[`11 ${CASES[11][0]} ${CASES[11][1]}`], "no answer");
  for (const [s, b] of MOVES) assert.equal((ref[`${s} ${b}`] as Json).success, true);
  assert.match(String(((ref["preferred is the leader"] as Json).error as Json).description), /is already leader/);
  assert.deepEqual((ref[`14 ${CASES[14][0]} ${CASES[14][1]}`] as Json).streams, []);
  for (const s of (ref[`12 ${CASES[12][0]} ${CASES[12][1]}`] as { streams: Json[] }).streams) {
    assert.equal("total" in s, false);
    assert.deepEqual(Object.keys((s.config as { metadata: Json }).metadata), ["_nats.req.level"]);
  }
});
