// The servers of a replicated stream change (src/jetstream/cluster.ts, stream_replica.ts), in a
// cluster of four tsnats servers: STREAM.PEER.REMOVE replaces a server of an R3 stream by the
// fourth (it joins the stream's RAFT group and catches up from its leader), the replacement then
// leads and serves every acknowledged message; an R1 stream scaled to R3 by a stream update gets
// its messages on the two new servers; the answers and refusals are nats-server 2.15's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";

/** Poll a condition (sync or not) until it holds. */
async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ApiAnswer {
  type?: string;
  success?: boolean;
  error?: { code: number; err_code: number; description: string };
}

async function api(nc: NatsConnection, subject: string, body: unknown): Promise<ApiAnswer> {
  const m = await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: 30_000 });
  return JSON.parse(m.string()) as ApiAnswer;
}

/** The stream's servers as its info reports them (leader first), once it has a leader. */
async function streamServers(jsm: JetStreamManager, name: string): Promise<{ leader: string; replicas: Array<{ name: string; current: boolean }> }> {
  const si = await jsm.streams.info(name);
  return { leader: si.cluster?.leader ?? "", replicas: (si.cluster?.replicas ?? []).map((r) => ({ name: r.name, current: r.current })) };
}

test("stream peer remove, replacement and scale-up in a cluster of four", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(4);
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url), timeout: 20_000 });
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    const js = jetstream(nc, { timeout: 30_000 });
    const holds = (server: string, stream: string): number | undefined => c.js(server).accounts.get("$G")?.streams.get(stream)?.store.state().msgs;

    // ---- an R3 stream loses a server: the fourth takes its place ----
    await jsm.streams.add({ name: "M", subjects: ["m.>"], num_replicas: 3 });
    for (let i = 0; i < 40; i++) await js.publish(`m.${i % 4}`, `msg ${i}`);
    let servers = await streamServers(jsm, "M");
    const before = [servers.leader, ...servers.replicas.map((r) => r.name)];
    const spare = c.members.map((m) => m.name).find((n) => !before.includes(n)) as string;
    const removed = servers.replicas[0].name;

    // Refusals first, as nats-server 2.15 answers them.
    assert.deepEqual(await api(nc, "$JS.API.STREAM.PEER.REMOVE.M", {}), { type: "io.nats.jetstream.api.v1.stream_remove_peer_response", error: { code: 400, err_code: 10003, description: "bad request" } });
    assert.deepEqual((await api(nc, "$JS.API.STREAM.PEER.REMOVE.M", { peer: spare })).error, { code: 400, err_code: 10040, description: "peer not a member" });
    assert.equal((await api(nc, "$JS.API.STREAM.PEER.REMOVE.NOPE", { peer: spare })).error?.err_code, 10059);

    assert.deepEqual(await api(nc, "$JS.API.STREAM.PEER.REMOVE.M", { peer: removed }), { type: "io.nats.jetstream.api.v1.stream_remove_peer_response", success: true });
    await waitUntil(
      async () => {
        const s = await streamServers(jsm, "M").catch(() => undefined);
        if (s === undefined || s.leader === "") return false;
        const names = [s.leader, ...s.replicas.map((r) => r.name)].sort();
        return JSON.stringify(names) === JSON.stringify(before.filter((n) => n !== removed).concat(spare).sort()) && s.replicas.every((r) => r.current);
      },
      90_000,
      `${spare} to replace ${removed} in the group of M`,
    );
    await waitUntil(() => holds(removed, "M") === undefined, 30_000, `${removed} to drop its copy of M`);
    await waitUntil(() => holds(spare, "M") === 40, 30_000, `${spare} to hold the 40 messages of M`);

    // Acknowledged while the membership changed hands: kept too.
    for (let i = 40; i < 50; i++) await js.publish(`m.${i % 4}`, `msg ${i}`);

    // The replacement leads and serves every acknowledged message.
    servers = await streamServers(jsm, "M");
    if (servers.leader !== spare) {
      const sd = await api(nc, "$JS.API.STREAM.LEADER.STEPDOWN.M", { placement: { preferred: spare } });
      assert.equal(sd.success, true, JSON.stringify(sd));
      await waitUntil(async () => (await streamServers(jsm, "M").catch(() => undefined))?.leader === spare, 60_000, `${spare} to lead M`);
    }
    const consumer = await jsm.consumers.add("M", { durable_name: "READ", ack_policy: "none" });
    assert.equal(consumer.num_pending, 50);
    const cons = await js.consumers.get("M", "READ");
    const got: string[] = [];
    const iter = await cons.fetch({ max_messages: 50, expires: 20_000 });
    for await (const m of iter) got.push(m.string());
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `msg ${i}`));

    // ---- an R1 stream scaled to R3 by an update: the new servers get its messages ----
    await jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 1 });
    for (let i = 0; i < 25; i++) await js.publish("s.x", `s ${i}`);
    const cfg = (await jsm.streams.info("S")).config;
    // More replicas than servers: nats-server's answer.
    await assert.rejects(jsm.streams.update("S", { ...cfg, num_replicas: 5 }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10005 && e.message === "no suitable peers for placement");
    // A placement no server matches.
    await assert.rejects(jsm.streams.update("S", { ...cfg, num_replicas: 3, placement: { cluster: "elsewhere", tags: [] } }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10005);
    const up = await jsm.streams.update("S", { ...cfg, num_replicas: 3 });
    assert.equal(up.config.num_replicas, 3);
    let holders: string[] = [];
    await waitUntil(
      async () => {
        const s = await streamServers(jsm, "S").catch(() => undefined);
        if (s === undefined || s.leader === "" || s.replicas.length !== 2 || !s.replicas.every((r) => r.current)) return false;
        holders = [s.leader, ...s.replicas.map((r) => r.name)];
        return holders.every((h) => holds(h, "S") === 25);
      },
      90_000,
      "S on three servers with its 25 messages each",
    );
    // Another server leads: every message is there.
    const other = holders.find((h) => h !== holders[0]) as string;
    assert.equal((await api(nc, "$JS.API.STREAM.LEADER.STEPDOWN.S", { placement: { preferred: other } })).success, true);
    await waitUntil(async () => (await streamServers(jsm, "S").catch(() => undefined))?.leader === other, 60_000, `${other} to lead S`);
    await js.publish("s.x", "s 25");
    const sc = await jsm.consumers.add("S", { durable_name: "READ", ack_policy: "none" });
    assert.equal(sc.num_pending, 26);
    const sget = await js.consumers.get("S", "READ");
    const sgot: string[] = [];
    for await (const m of await sget.fetch({ max_messages: 26, expires: 20_000 })) sgot.push(m.string());
    assert.deepEqual(sgot, Array.from({ length: 26 }, (_, i) => `s ${i}`));
  } finally {
    await nc?.close().catch(() => undefined);
    await c.stop();
  }
});
