// The answers to stream and consumer updates to or from one replica (R1 -> R3, R3 -> R1, R1 ->
// R2, R2 -> R1), side by side with a cluster of three nats-server 2.15 servers (both run as
// processes from the same configuration files). nats-server answers a scale-up from R1 with the
// group it starts (no leader yet, the server that held it its only member) and `desired` (the
// servers it goes to, that one first; a stream's also `origin`: the replicas it had), a scale-down
// to R1 with the group as it was and `desired` (when it was asked for; a stream's `origin`). What
// is compared: the fields of each answer's cluster and desired, who they name, and each
// stream's and consumer's info once the scale is over (its fields, its members, its state).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { sleep } from "./helpers/js_cluster_consumer_groups.js";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";

interface Peer {
  name: string;
  current?: boolean;
}

interface Answer {
  error?: { code: number; err_code: number; description: string };
  config?: Record<string, unknown> & { num_replicas?: number };
  ack_floor?: { stream_seq?: number };
  num_pending?: number;
  state?: { messages?: number };
  cluster?: { leader?: string; replicas?: Peer[]; desired?: Record<string, unknown> & { replicas?: Peer[]; origin?: unknown } } & Record<string, unknown>;
  [k: string]: unknown;
}

/** What an update's answer says of its cluster: its fields, its members, and `desired` (`held`: the server that held it before). */
function answerShape(a: Answer, held: string): string {
  if (a.error !== undefined) return `${a.error.code} ${a.error.err_code} ${a.error.description}`;
  const c = a.cluster ?? {};
  const d = c.desired;
  const parts = [`cluster ${Object.keys(c).sort().join(",")}`, `${c.replicas?.length ?? 0} replicas`];
  if (c.leader === undefined) parts.push(`its member the server that held it: ${c.replicas?.length === 1 && c.replicas[0].name === held}`);
  else parts.push(`its leader the one that held it: ${c.leader === held}`);
  if (d === undefined) parts.push("no desired");
  else {
    // (nats-server's sometimes carries a status already: not compared.)
    parts.push(`desired ${Object.keys(d).filter((k) => k !== "status").sort().join(",")}`);
    if (d.replicas !== undefined) parts.push(`${d.replicas.length} desired, the server that held it first: ${d.replicas[0]?.name === held}`);
    if (d.origin !== undefined) parts.push(`origin ${JSON.stringify(d.origin)}`);
  }
  return parts.join("; ");
}

/** The info (STREAM.INFO or CONSUMER.INFO) once it names a leader, `servers - 1` current others and no desired state (or after 60 s). */
async function settled(nc: NatsConnection, subject: string, servers: number): Promise<Answer> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const a = await clusterApi<Answer>(nc, subject);
    const others = a.cluster?.replicas ?? [];
    if ((a.error === undefined && (a.cluster?.leader ?? "") !== "" && a.cluster?.desired === undefined && others.length === servers - 1 && others.every((r) => r.current === true)) || Date.now() > deadline) return a;
    await sleep(200);
  }
}

function settledShape(a: Answer): string {
  if (a.error !== undefined) return `${a.error.code} ${a.error.err_code}`;
  const c = a.cluster ?? {};
  const keys = Object.keys(c).sort().join(",");
  const state = a.state !== undefined ? `messages ${a.state.messages}` : `ack floor ${a.ack_floor?.stream_seq}, pending ${a.num_pending}`;
  return `r=${a.config?.num_replicas ?? 1}; cluster ${keys}; ${(c.replicas ?? []).length} others; ${state}`;
}

/** Pulls one message and acknowledges it (the ack confirmed); its payload. */
async function pullAck(nc: NatsConnection, stream: string, name: string): Promise<string> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: 1, timeout: 10_000 });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, JSON.stringify({ batch: 1, expires: 5_000_000_000 }), { reply: inbox });
  for await (const m of sub) {
    if (m.reply !== undefined && m.reply !== "") await nc.request(m.reply, "+ACK", { timeout: 10_000 });
    return m.string();
  }
  return "";
}

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  try {
    const created = await createStreamWhenPlaced<Answer>(nc, { name: "S", subjects: ["s.>"], num_replicas: 1 });
    out.push(`create S: ${created.error === undefined ? "ok" : created.error.err_code}`);
    const first = created.cluster?.leader ?? "";
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "s.x", `m${i}`);
    const cfg = (await clusterApi<Answer>(nc, "$JS.API.STREAM.INFO.S")).config ?? {};

    out.push(`S to R3: ${answerShape(await clusterApi<Answer>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 }), first)}`);
    const s3 = await settled(nc, "$JS.API.STREAM.INFO.S", 3);
    out.push(`  settled: ${settledShape(s3)}, led by the server that held it: ${s3.cluster?.leader === first}`);

    // A single-replica consumer of the R3 stream, one message acknowledged.
    const cc = { durable_name: "C", ack_policy: "explicit", num_replicas: 1 };
    const c1 = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: cc });
    out.push(`create C: ${c1.error === undefined ? "ok" : c1.error.err_code}`);
    out.push(`  read: ${await pullAck(nc, "S", "C")}`);
    let holder = (await settled(nc, "$JS.API.CONSUMER.INFO.S.C", 1)).cluster?.leader ?? "";
    for (const replicas of [3, 1, 2, 1]) {
      const a = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: { ...cc, num_replicas: replicas } });
      out.push(`C to R${replicas}: ${answerShape(a, holder)}`);
      const info = await settled(nc, "$JS.API.CONSUMER.INFO.S.C", replicas);
      // (Scaled down to one replica, the group's leader keeps it, as in nats-server.)
      out.push(`  settled: ${settledShape(info)}${replicas === 1 ? `, kept by the leader: ${info.cluster?.leader === holder}` : ""}`);
      holder = info.cluster?.leader ?? "";
    }
    out.push(`  read after: ${await pullAck(nc, "S", "C")}`);

    const leader = s3.cluster?.leader ?? "";
    out.push(`S to R1: ${answerShape(await clusterApi<Answer>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 }), leader)}`);
    const s1 = await settled(nc, "$JS.API.STREAM.INFO.S", 1);
    out.push(`  settled: ${settledShape(s1)}, kept by its leader: ${s1.cluster?.leader === leader}`);
    out.push(`  C: ${settledShape(await settled(nc, "$JS.API.CONSUMER.INFO.S.C", 1))}`);
    return out;
  } finally {
    await nc.close();
  }
}

test("updates to and from one replica are answered with the group started (or left) and desired, as nats-server 2.15 answers", { timeout: 300_000 }, async (t) => {
  const mine = await onRefJsCluster(3, "X", "tsnats", scenario);
  assert.ok(mine !== undefined);
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  for (const line of mine) assert.doesNotMatch(line, /: false/, line);
  const theirs = await onRefJsCluster(3, "X", "2.15", scenario);
  if (theirs === undefined) return;
  t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
  assert.deepEqual(mine, theirs);
});
