// Moving a replicated stream to other servers (src/jetstream/cluster.ts moveRequested,
// stream_replica.ts moveStep), in a cluster of five tagged tsnats servers: a stream update that
// changes `placement.tags` moves the stream as nats-server 2.15 does (the new servers join its
// group and catch up, then the old ones leave and drop their copies; `cluster.desired` shows the
// move meanwhile), its durable consumer follows and continues where it was, a move can be
// cancelled (STREAM.CANCEL_MOVE: back to the servers it had), the system account moves one
// server's replica away (ACCOUNT.STREAM.MOVE), and the refusals are 2.15's (compared with a
// nats-server 2.15 cluster with the same tags when the reference binary is installed).
// The other move tests, one cluster each: js_cluster_move_compacted (a compacted log, single
// replicas), js_cluster_move_restart (restarts in the middle), js_cluster_move_server_removed,
// js_cluster_move_cancel_down (a move that cannot end is cancelled).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startNatsServer, freePort, referenceBinary, type ReferenceServer } from "./helpers/nats_server.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { waitUntil, TAGS, serversOf, connectWhenLed, type Info } from "./helpers/js_cluster_move.js";

/** The refusals of a placement update, in the order asked: what a client sees. */
async function refusals(nc: NatsConnection): Promise<unknown[]> {
  const base = { name: "R", subjects: ["r.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
  const created = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.R", base);
  assert.equal(created.error, undefined, JSON.stringify(created.error));
  const out: unknown[] = [];
  const ask = async (subject: string, body?: unknown): Promise<void> => {
    const a = await clusterApi(nc, subject, body);
    out.push({ type: a.type, error: a.error });
  };
  await ask("$JS.API.STREAM.CANCEL_MOVE.R");
  await ask("$JS.API.STREAM.UPDATE.R", { ...base, num_replicas: 1, placement: { tags: ["zone:b"] } });
  await ask("$JS.API.STREAM.UPDATE.R", { ...base, placement: { tags: ["zone:c"] } });
  await ask("$JS.API.STREAM.UPDATE.R", { ...base, placement: { cluster: "ELSEWHERE" } });
  await ask("$JS.API.STREAM.UPDATE.R", { ...base, num_replicas: 3, placement: { tags: ["zone:b"] } });
  await ask("$JS.API.STREAM.CANCEL_MOVE.NOPE");

  // A move as a client sees it: the update's answer (cluster.desired) and where the stream ends.
  const js = jetstream(nc, { timeout: 20_000 });
  for (let i = 1; i <= 10; i++) await js.publish("r.x", `r ${i}`);
  const moved = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.R", { ...base, placement: { tags: ["zone:b"] } });
  const d = moved.cluster?.desired;
  out.push({
    type: moved.type,
    placement: moved.config?.placement,
    desiredKeys: Object.keys(d ?? {}).filter((k) => k !== "status").sort(),
    desired: d && { name: typeof d.name, replicas: d.replicas.map((r) => Object.keys(r).sort().join(",") + ":" + r.name).sort(), origin: d.origin },
  });
  let end: Info | undefined;
  await waitUntil(
    async () => {
      end = await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.R");
      return end.cluster?.desired === undefined && serversOf(end.cluster).length === 2 && (end.cluster?.replicas ?? []).every((r) => r.current);
    },
    120_000,
    "R's move to end",
    () => JSON.stringify(end?.cluster),
  );
  out.push({ servers: serversOf(end?.cluster).sort(), messages: end?.state?.messages, clusterKeys: Object.keys(end?.cluster ?? {}).sort() });
  return out;
}

test("a stream moves to other servers by a placement update; its durable consumer follows; refusals as nats-server 2.15", { timeout: 420_000 }, async () => {
  const c = await JsTestCluster.start(5, "MOVE", { withSystemUser: true, serverTags: TAGS });
  let nc: NatsConnection | undefined;
  let ours: unknown[] = [];
  try {
    nc = await connectWhenLed(c, { user: "a", pass: "a" });
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    const js = jetstream(nc, { timeout: 30_000 });
    const holds = (server: string, stream: string): number | undefined => c.js(server).accounts.get("$G")?.streams.get(stream)?.store.state().msgs;

    ours = await refusals(nc);

    // ---- a single replica whose server fits the new placement stays there ----
    const one = { name: "ONE", subjects: ["one.>"], num_replicas: 1, placement: { tags: ["zone:a"] } };
    const oneAt = serversOf((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.ONE", one)).cluster)[0];
    assert.ok(["S1", "S2"].includes(oneAt));
    const kept = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.ONE", { ...one, placement: { cluster: "MOVE", tags: ["zone:a"] } });
    assert.equal(kept.error, undefined, JSON.stringify(kept.error));
    assert.equal(serversOf(kept.cluster)[0], oneAt);

    // ---- an R2 stream in zone a, 300 acknowledged messages, a durable consumer part-way ----
    const cfg = { name: "M", subjects: ["m.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    const created = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.M", cfg);
    assert.equal(created.error, undefined);
    assert.deepEqual(serversOf(created.cluster).sort(), ["S1", "S2"]);
    const N = 300;
    for (let i = 1; i <= N; i++) assert.equal((await js.publish(`m.${i % 5}`, `msg ${i}`)).seq, i);
    await jsm.consumers.add("M", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get("M", "D");
    const first = await consumer.fetch({ max_messages: 120, expires: 10_000 });
    let seen = 0;
    for await (const m of first) {
      assert.equal(m.seq, ++seen);
      await m.ackAck();
      if (seen === 120) break;
    }
    assert.equal(seen, 120);
    await waitUntil(async () => (await jsm.consumers.info("M", "D")).ack_floor.stream_seq === 120, 20_000, "the consumer's acks");

    // ---- the move: zone a -> zone b ----
    const moved = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.M", { ...cfg, placement: { tags: ["zone:b"] } });
    assert.equal(moved.error, undefined, JSON.stringify(moved.error));
    assert.deepEqual(moved.config?.placement, { tags: ["zone:b"] });
    assert.deepEqual(
      moved.cluster?.desired?.replicas.map((r) => r.name).sort(),
      ["S3", "S4"],
      `the update's answer shows where the stream goes: ${JSON.stringify(moved.cluster)}`,
    );
    assert.deepEqual(moved.cluster?.desired?.origin, { replicas: 2, placement: { tags: ["zone:a"] } });
    // One move at a time, and no scaling meanwhile.
    const again = await clusterApi(nc, "$JS.API.STREAM.UPDATE.M", { ...cfg, placement: { tags: ["zone:a"] } });
    assert.deepEqual(again.error, { code: 400, err_code: 10124, description: "stream move already in progress" });

    // Publishes go on while the stream moves (its leader changes hands): every acknowledged one must be kept.
    const live = new Map<number, string>();
    let moving = true;
    const publisher = (async () => {
      for (let k = 1; moving && k <= 2000; k++) {
        const data = `live ${k}`;
        live.set(await clusterPublish(nc as NatsConnection, "m.live", data), data);
      }
    })();
    let lastInfo: Info | undefined;
    await waitUntil(
      async () => {
        const si = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.M");
        lastInfo = si;
        const servers = serversOf(si.cluster).sort();
        return si.cluster?.desired === undefined && JSON.stringify(servers) === '["S3","S4"]' && (si.cluster?.replicas ?? []).every((r) => r.current);
      },
      60_000,
      "M to be on S3 and S4 only, its move over",
      () => JSON.stringify(lastInfo?.cluster),
    );
    moving = false;
    await publisher;
    const total = N + live.size;
    assert.ok(live.size > 0, "publishes were acknowledged during the move");
    if (process.env.TSNATS_TEST_LOG) console.error(`${live.size} messages acknowledged during the move`);
    // Every acknowledged message is on the new servers; the old ones no longer have the stream.
    await waitUntil(() => holds("S3", "M") === total && holds("S4", "M") === total, 30_000, `S3 and S4 to hold the ${total} messages of M`);
    for (const server of ["S3", "S4"]) {
      const store = c.js(server).accounts.get("$G")?.streams.get("M")?.store;
      for (const [seq, data] of live) assert.equal(store?.loadMsg(seq)?.data.toString(), data, `${server} has message ${seq}, acknowledged during the move`);
    }
    await waitUntil(() => holds("S1", "M") === undefined && holds("S2", "M") === undefined, 30_000, "S1 and S2 to drop their copies of M");
    const si = await jsm.streams.info("M");
    assert.equal(si.state.messages, total);
    assert.equal(si.state.last_seq, total);

    // The durable consumer moved with it and continues where it was.
    const ci = await jsm.consumers.info("M", "D");
    assert.equal(ci.ack_floor.stream_seq, 120);
    assert.ok(["S3", "S4"].includes(ci.cluster?.leader ?? ""), `consumer led on a new server: ${JSON.stringify(ci.cluster)}`);
    const rest = await consumer.fetch({ max_messages: N - 120, expires: 20_000 });
    let next = 120;
    for await (const m of rest) {
      assert.equal(m.seq, ++next, "continues after the last acknowledged message, in order");
      assert.equal(m.string(), `msg ${next}`);
      m.ack();
      if (next === N) break;
    }
    assert.equal(next, N);

    // New messages are taken by the stream on its new servers.
    assert.equal((await js.publish("m.0", "after")).seq, total + 1);

    // ---- a move cancelled: back to the servers and placement it had ----
    const vcfg = { name: "V", subjects: ["v.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.V", vcfg)).error, undefined);
    for (let i = 1; i <= 50; i++) await js.publish("v.x", `v ${i}`);
    const vm = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.V", { ...vcfg, placement: { tags: ["zone:b"] } });
    assert.equal(vm.error, undefined);
    const cancelled = await clusterApi<Info>(nc, "$JS.API.STREAM.CANCEL_MOVE.V");
    assert.equal(cancelled.type, "io.nats.jetstream.api.v1.stream_cancel_move_response");
    assert.equal(cancelled.error, undefined, JSON.stringify(cancelled.error));
    assert.deepEqual(cancelled.config?.placement, { tags: ["zone:a"] });
    assert.deepEqual(cancelled.cluster?.desired?.replicas.map((r) => r.name).sort(), ["S1", "S2"]);
    await waitUntil(
      async () => {
        const v = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.V");
        return v.cluster?.desired === undefined && JSON.stringify(serversOf(v.cluster).sort()) === '["S1","S2"]' && v.state?.messages === 50;
      },
      120_000,
      "V back on S1 and S2 with its 50 messages",
    );
    await waitUntil(() => holds("S3", "V") === undefined && holds("S4", "V") === undefined, 30_000, "S3 and S4 to drop what they had of V");

    // ---- the system account moves one server's replica away ----
    const sys = await connect({ servers: c.members[0].url, user: "sys", pass: "sys", timeout: 20_000 });
    try {
      const none = await clusterApi(sys, "$JS.API.ACCOUNT.STREAM.MOVE.$G.NOPE", {});
      assert.deepEqual(none, { type: "io.nats.jetstream.api.v1.stream_update_response", error: { code: 404, err_code: 10059, description: "stream not found" } });
      const noMove = await clusterApi(sys, "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.$G.V");
      assert.deepEqual(noMove.error, { code: 400, err_code: 10129, description: "stream reconfiguration not in progress" });
      // W, R2 without placement: one of its servers is replaced by a server it is not on.
      assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.W", { name: "W", subjects: ["w.>"], num_replicas: 2 })).error, undefined);
      for (let i = 1; i <= 30; i++) await js.publish("w.x", `w ${i}`);
      const wInfo = await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.W");
      const off = serversOf(wInfo.cluster)[1];
      const sm = await clusterApi<Info>(sys, "$JS.API.ACCOUNT.STREAM.MOVE.$G.W", { server: off });
      assert.equal(sm.type, "io.nats.jetstream.api.v1.stream_update_response");
      assert.equal(sm.error, undefined, JSON.stringify(sm.error));
      assert.equal(sm.cluster?.desired?.replicas.length, 2);
      assert.ok(!sm.cluster?.desired?.replicas.some((r) => r.name === off), `${off} is left: ${JSON.stringify(sm.cluster?.desired)}`);
      await waitUntil(
        async () => {
          const w = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.W");
          const servers = serversOf(w.cluster);
          return w.cluster?.desired === undefined && servers.length === 2 && !servers.includes(off) && w.state?.messages === 30;
        },
        120_000,
        `W off ${off} with its 30 messages`,
      );
      await waitUntil(() => holds(off, "W") === undefined, 30_000, `${off} to drop its copy of W`);
    } finally {
      await sys.close();
    }
  } finally {
    await nc?.close();
    await c.stop();
  }

  if (referenceBinary("2.15") === undefined) return;
  const ref = await startRefCluster();
  try {
    const rc = await connect({ servers: ref.url, user: "a", pass: "a" });
    try {
      // A cluster just started answers nothing until its meta leader is elected.
      await waitUntil(async () => (await clusterApi(rc, "$JS.API.INFO").catch(() => undefined))?.error === undefined, 30_000, "the reference cluster's meta leader");
      const theirs = await refusals(rc);
      if (process.env.TSNATS_TEST_LOG) console.error(JSON.stringify({ ours, theirs }));
      assert.deepEqual(ours, theirs, "refused and moved as nats-server 2.15 does");
    } finally {
      await rc.close();
    }
  } finally {
    await ref.stop();
  }
});

/** Five nats-server 2.15 servers with the same tags and users (a/a in account A, sys/sys in the system account). */
async function startRefCluster(): Promise<{ url: string; stop: () => Promise<void> }> {
  const names = Object.keys(TAGS);
  const ports: number[] = [];
  for (let i = 0; i < names.length; i++) ports.push(await freePort());
  const routes = ports.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const servers: ReferenceServer[] = await Promise.all(
    names.map((name, i) =>
      startNatsServer(
        ["-js"],
        `server_name: ${name}\nserver_tags: ${JSON.stringify(TAGS[name])}\n` +
          "accounts { A { jetstream: enabled, users: [{user: a, password: a}] }, SYS { users: [{user: sys, password: sys}] } }\nsystem_account: SYS\n" +
          `jetstream { max_mem_store: 256MB, max_file_store: 1GB }\ncluster { name: MOVE, listen: 127.0.0.1:${ports[i]}, routes: [${routes}] }\n`,
        "2.15",
      ),
    ),
  );
  return { url: `nats://127.0.0.1:${servers[0].port}`, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
}
