// Account purge side by side: `$JS.API.ACCOUNT.PURGE.APP` from the system account, answered by a
// nats-server 2.15 meta leader, then by T3 (nrg_peer_meta_lead): the same answers (initiated,
// also for an account without streams; a name with a path separator refused), and every stream
// of the account gone with its consumers from every server: N1's and N2's own /jsz and T3's
// groups.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster } from "./helpers/nrg_cluster.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** The streams of account APP every server holds: N1's and N2's own (/jsz), T3's groups. */
async function held(cluster: NrgCluster): Promise<string[][]> {
  const out: string[][] = [];
  for (const s of cluster.live()) {
    const jsz = await getJson<{ account_details?: { name: string; stream_detail?: { name: string }[] }[] }>(`${s.monitorUrl}/jsz?accounts=true&streams=true`);
    out.push((jsz.account_details?.find((a) => a.name === "APP")?.stream_detail ?? []).map((d) => d.name).sort());
  }
  out.push([...new Set(((await cluster.peerJson()).groups ?? []).filter((g) => g.account === "APP").map((g) => g.stream))].sort());
  return out;
}

/** Two streams (R3 with a durable, R1) with messages, then the account purged; the answers. */
async function purged(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, suffix: string): Promise<Record<string, unknown>> {
  for (const [name, replicas] of [[`P${suffix}`, 3], [`Q${suffix}`, 1]] as const) {
    const created = await retry(() => api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: replicas }).then((a) => (a.error === undefined ? a : Promise.reject(new Error(JSON.stringify(a.error))))), 30_000);
    assert.equal(created.error, undefined);
    await retry(() => jetstream(nc).publish(`${name.toLowerCase()}.1`, "x"), 20_000);
  }
  assert.equal((await api(nc, `$JS.API.CONSUMER.CREATE.P${suffix}.D`, { stream_name: `P${suffix}`, config: { durable_name: "D", ack_policy: "explicit" } })).error, undefined);
  await waitUntil(async () => (await held(cluster)).slice(0, 2).every((h) => h.includes(`P${suffix}`)), 20_000, "N1 and N2 hold the R3 stream");
  const answer = await api(sys, "$JS.API.ACCOUNT.PURGE.APP");
  let now: string[][] = [];
  await waitUntil(
    async () => {
      now = await held(cluster);
      return now.every((h) => h.length === 0);
    },
    30_000,
    "no server holds a stream of APP",
    () => JSON.stringify(now),
  );
  assert.deepEqual((await api(nc, "$JS.API.STREAM.NAMES")).streams, null);
  return { answer, again: await api(sys, "$JS.API.ACCOUNT.PURGE.APP"), separator: await api(sys, "$JS.API.ACCOUNT.PURGE.A/B"), unknown: await api(sys, "$JS.API.ACCOUNT.PURGE.NOPE") };
}

test("an account purged through T3 as meta leader loses every stream and consumer on every server, answered as a nats-server meta leader answers", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  try {
    const { n1, nc1 } = await cluster.upWithClients();
    const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    const byNats = await purged(cluster, nc1, sys, "N");
    t.diagnostic(`the nats-server meta leader: ${JSON.stringify(byNats)}`);
    await cluster.metaLeadOnT3();
    const byT3 = await purged(cluster, nc1, sys, "T");
    assert.deepEqual(byT3, byNats, "T3 answers the purges as the nats-server meta leader");
  } finally {
    await cluster.stop();
  }
});
