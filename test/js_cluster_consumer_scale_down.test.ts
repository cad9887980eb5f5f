// Consumers scaled down to one replica and up again keep every acknowledged state, side by side
// with three nats-server 2.15 servers (both run as processes from the same configuration files).
// nats-server 2.15 scales a consumer's group down one member at a time (its leader removes the
// others, then the meta group records the consumer's one server); tsnats does the same, and the
// member left alone keeps the consumer through a `kept` entry of the stream's group. Four kinds:
// durable and ephemeral, pull and push, each with 10 (pull) or 40 (push) messages delivered and
// the first 5 acknowledged; then, for each, R3 -> R2 -> R1 -> R3 asked at once (each scale
// replaces the one under way), R1 with its leader stepping down while its group shrinks, and
// R3 again. After each, the consumer settles (a leader, no desired state, the members asked for
// all current) with the same delivered and ack floor sequences and the same pending counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";

type Json = Record<string, any>;

interface Kind {
  name: string;
  config: Json;
  /** A push consumer's deliver subject. */
  push?: string;
}

const WAIT = { ack_policy: "explicit", ack_wait: 120e9 };
const KINDS: Kind[] = [
  { name: "D", config: { durable_name: "D", ...WAIT } },
  { name: "E", config: { name: "E", inactive_threshold: 300e9, ...WAIT } },
  { name: "PD", config: { durable_name: "PD", deliver_subject: "in.PD", ...WAIT }, push: "in.PD" },
  { name: "PE", config: { name: "PE", deliver_subject: "in.PE", inactive_threshold: 300e9, ...WAIT }, push: "in.PE" },
];

const MESSAGES = 40;

function stateOf(info: Json): string {
  if (info.error !== undefined) return `error ${info.error.err_code} ${info.error.description}`;
  return `delivered ${info.delivered.consumer_seq}/${info.delivered.stream_seq} ack floor ${info.ack_floor.consumer_seq}/${info.ack_floor.stream_seq} ack pending ${info.num_ack_pending} pending ${info.num_pending}`;
}

const said = (a: Json): string => (a.error !== undefined ? `${a.error.err_code} ${a.error.description}` : `R${a.config?.num_replicas}`);

/** Asks for the consumer's info until it has a leader, no desired state and `replicas - 1` current other members (30 s at most); its state then. */
async function settled(nc: NatsConnection, name: string, replicas: number): Promise<string> {
  let info: Json = {};
  await waitUntil(
    async () => {
      info = await clusterApi(nc, `$JS.API.CONSUMER.INFO.S.${name}`).catch(() => ({}));
      const c = info.cluster ?? {};
      const others = (c.replicas ?? []) as Json[];
      return info.error === undefined && (c.leader ?? "") !== "" && c.desired === undefined && others.length === replicas - 1 && others.every((r) => r.current === true) && info.config?.num_replicas === replicas;
    },
    30_000,
    `${name} settled as R${replicas}`,
  ).catch(() => undefined);
  const c = info.cluster ?? {};
  return `R${info.config?.num_replicas} others ${(c.replicas ?? []).length}${c.desired !== undefined ? ` desired ${JSON.stringify(c.desired.status ?? {})}` : ""}: ${stateOf(info)}`;
}

async function update(nc: NatsConnection, k: Kind, replicas: number): Promise<Json> {
  return clusterApi(nc, `$JS.API.CONSUMER.CREATE.S.${k.name}`, { stream_name: "S", config: { ...k.config, num_replicas: replicas } });
}

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  try {
    const created = await createStreamWhenPlaced(nc, { name: "S", subjects: ["s.>"], num_replicas: 3 });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    for (let i = 1; i <= MESSAGES; i++) await clusterPublish(nc, "s.x", `m${i}`);
    for (const k of KINDS) {
      const got: Msg[] = [];
      const inbox = `in.${k.name}`;
      const sub = nc.subscribe(k.push ?? `pull.${k.name}`, { callback: (_e, m) => void got.push(m) });
      const c = await update(nc, k, 3);
      assert.equal(c.error, undefined, `${k.name}: ${JSON.stringify(c.error)}`);
      if (k.push === undefined) nc.publish(`$JS.API.CONSUMER.MSG.NEXT.S.${k.name}`, JSON.stringify({ batch: 10, expires: 10e9 }), { reply: `pull.${k.name}` });
      const wanted = k.push === undefined ? 10 : MESSAGES;
      await waitUntil(() => got.length >= wanted, 20_000, `${k.name}: ${wanted} messages (${inbox})`);
      for (const m of got.slice(0, 5)) m.respond();
      await waitUntil(async () => (await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`)).ack_floor?.stream_seq === 5, 20_000, `${k.name}: 5 acknowledged`);
      sub.unsubscribe();
      // (Push consumers keep their deliver subject's interest: a subscription of their own.)
      if (k.push !== undefined) nc.subscribe(k.push, { callback: () => undefined });
      out.push(`${k.name} as created: ${await settled(nc, k.name, 3)}`);
    }
    for (const k of KINDS) {
      const answers = [];
      for (const r of [2, 1, 3]) answers.push(said(await update(nc, k, r)));
      out.push(`${k.name} R2, R1, R3 at once: ${answers.join(", ")}; ${await settled(nc, k.name, 3)}`);
    }
    for (const k of KINDS) {
      const answer = said(await update(nc, k, 1));
      // Its leader steps down while its group shrinks (once it is alone, there is nobody to hand it to).
      await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.S.${k.name}`, "", { timeout: 5000 }).catch(() => undefined);
      out.push(`${k.name} R1, its leader stepping down: ${answer}; ${await settled(nc, k.name, 1)}`);
      out.push(`${k.name} R3 again: ${said(await update(nc, k, 3))}; ${await settled(nc, k.name, 3)}`);
    }
    return out;
  } finally {
    await nc.close();
  }
}

function expected(): string[] {
  const out: string[] = [];
  const pull = "delivered 10/10 ack floor 5/5 ack pending 5 pending 30";
  const push = "delivered 40/40 ack floor 5/5 ack pending 35 pending 0";
  const st = (k: Kind): string => (k.push === undefined ? pull : push);
  for (const k of KINDS) out.push(`${k.name} as created: R3 others 2: ${st(k)}`);
  for (const k of KINDS) out.push(`${k.name} R2, R1, R3 at once: R2, R1, R3; R3 others 2: ${st(k)}`);
  for (const k of KINDS) {
    out.push(`${k.name} R1, its leader stepping down: R1; R1 others 0: ${st(k)}`);
    out.push(`${k.name} R3 again: R3; R3 others 2: ${st(k)}`);
  }
  return out;
}

test("consumers scaled R3 -> R2 -> R1 -> R3 at once, then to R1 with a leader change and back, keep their state (tsnats)", { timeout: 120_000 }, async () => {
  assert.deepEqual(await onRefJsCluster(3, "X", "tsnats", scenario), expected());
});

test("the same steps on nats-server 2.15", { timeout: 120_000 }, async (t) => {
  const theirs = await onRefJsCluster(3, "X", "2.15", scenario);
  if (theirs === undefined) return t.skip("nats-server 2.15 not installed");
  assert.deepEqual(theirs, expected());
});
