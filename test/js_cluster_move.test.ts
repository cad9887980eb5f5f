// Moving a replicated stream to other servers (src/jetstream/cluster.ts moveRequested,
// stream_replica.ts moveStep), in a cluster of five tagged tsnats servers: a stream update that
// changes `placement.tags` moves the stream as nats-server 2.15 does (the new servers join its
// group and catch up, then the old ones leave and drop their copies; `cluster.desired` shows the
// move meanwhile), its durable consumer follows and continues where it was, a move can be
// cancelled (STREAM.CANCEL_MOVE: back to the servers it had), the system account moves one
// server's replica away (ACCOUNT.STREAM.MOVE), and the refusals are 2.15's (compared with a
// nats-server 2.15 cluster with the same tags when the reference binary is installed). Moves
// survive a restart of the leader they leave or of a server they go to; a log compacted before
// the move and single replicas (moved through a temporary group) keep their durable consumers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import { startNatsServer, freePort, referenceBinary, type ReferenceServer } from "./helpers/nats_server.js";
import { clusterApi, clusterPublish, type ClusterAnswer } from "./helpers/cluster_retry.js";

/** Poll a condition (sync or not) until it holds. */
async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, seen?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen !== undefined ? `; last seen: ${seen()}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Zone a: S1, S2; zone b: S3, S4; S5 has no zone.
const TAGS: Record<string, string[]> = { S1: ["zone:a"], S2: ["zone:a"], S3: ["zone:b"], S4: ["zone:b"], S5: [] };

interface ClusterInfo {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; pending?: boolean }>;
  desired?: { name: string; replicas: Array<{ name: string; peer: string }>; origin: { replicas: number; placement?: unknown }; status?: unknown };
}

type Info = ClusterAnswer & { cluster?: ClusterInfo; config?: { placement?: unknown }; state?: { messages: number; last_seq: number } };

/** The servers holding the stream, as its info reports them (leader first). */
function serversOf(ci: ClusterInfo | undefined): string[] {
  return ci === undefined ? [] : [ci.leader ?? "", ...(ci.replicas ?? []).map((r) => r.name)];
}

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
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url), user: "a", pass: "a", timeout: 20_000 });
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

test("a stream whose group's log was compacted moves with its durable consumers (they travel in the snapshot); a single replica moves by placement and by peer remove", { timeout: 300_000 }, async () => {
  const saved = StreamReplica.snapshotEntries;
  // Compacted every 40 entries: the consumer's creation and most of its acks are in no entry the new servers get.
  StreamReplica.snapshotEntries = 40;
  const c = await JsTestCluster.start(5, "MOVE", { serverTags: TAGS });
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url), timeout: 20_000 });
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "C", subjects: ["c.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.C", cfg)).error, undefined);
    await jsm.consumers.add("C", { durable_name: "D", ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000 });
    const N = 200;
    for (let i = 1; i <= N; i++) await js.publish("c.x", `c ${i}`);
    const consumer = await js.consumers.get("C", "D");
    let seen = 0;
    for await (const m of await consumer.fetch({ max_messages: 90, expires: 10_000 })) {
      assert.equal(m.seq, ++seen);
      // The last ten stay delivered and unacknowledged: redelivered after the move.
      if (seen <= 80) await m.ackAck();
      if (seen === 90) break;
    }
    await waitUntil(async () => (await jsm.consumers.info("C", "D")).ack_floor.stream_seq === 80, 20_000, "the consumer's acks");
    // A single-replica durable lives on one server (the stream's leader here, which the move leaves).
    await jsm.consumers.add("C", { durable_name: "R1D", ack_policy: AckPolicy.Explicit, num_replicas: 1 });
    const r1d = await js.consumers.get("C", "R1D");
    let r1seen = 0;
    for await (const m of await r1d.fetch({ max_messages: 10, expires: 10_000 })) {
      await m.ackAck();
      if (++r1seen === 10) break;
    }

    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.C", { ...cfg, placement: { tags: ["zone:b"] } })).error, undefined);
    await waitUntil(
      async () => {
        const si = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.C");
        return si.cluster?.desired === undefined && JSON.stringify(serversOf(si.cluster).sort()) === '["S3","S4"]' && si.state?.messages === N;
      },
      120_000,
      "C on S3 and S4 with its messages",
    );
    for (const s of ["S3", "S4"]) {
      const d = c.js(s).accounts.get("$G")?.streams.get("C")?.consumers.get("D");
      assert.ok(d !== undefined, `${s} has the durable consumer`);
      assert.ok(d.stateSnapshot().ack_floor.stream_seq >= 80, `${s}: the consumer's acks came along (${JSON.stringify(d.stateSnapshot().ack_floor)})`);
    }
    const ci = await jsm.consumers.info("C", "D");
    assert.equal(ci.ack_floor.stream_seq, 80);
    // The single-replica durable was handed to the stream's new leader with its acks.
    const r1On = (s: string): number | undefined => c.js(s).accounts.get("$G")?.streams.get("C")?.consumers.get("R1D")?.stateSnapshot().ack_floor.stream_seq;
    await waitUntil(() => r1On("S3") === 10 || r1On("S4") === 10, 30_000, "R1D on a new server with its acks");
    await waitUntil(async () => (await jsm.consumers.info("C", "R1D").catch(() => undefined))?.ack_floor.stream_seq === 10, 30_000, "R1D's info from its new server");
    for await (const m of await r1d.fetch({ max_messages: 1, expires: 10_000 })) assert.equal(m.seq, 11);
    // 81..90 come again (delivered, never acknowledged: after their ack wait), and the rest; nothing acknowledged comes again.
    const got = new Set<number>();
    const deadline = Date.now() + 60_000;
    while (got.size < N - 80 && Date.now() < deadline) {
      for await (const m of await consumer.fetch({ max_messages: 50, expires: 3_000 })) {
        assert.ok(m.seq > 80, `acknowledged message ${m.seq} delivered again`);
        assert.equal(m.string(), `c ${m.seq}`);
        got.add(m.seq);
        m.ack();
      }
    }
    assert.equal(got.size, N - 80, "every message after the ack floor delivered");

    // ---- a single replica moves too: by a placement update, then by STREAM.PEER.REMOVE ----
    const one = { name: "ONE", subjects: ["one.>"], num_replicas: 1, placement: { tags: ["zone:a"] } };
    const created = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.ONE", one);
    const from = serversOf(created.cluster)[0];
    for (let i = 1; i <= 50; i++) await js.publish("one.x", `one ${i}`);
    await jsm.consumers.add("ONE", { durable_name: "OD", ack_policy: AckPolicy.Explicit });
    const od = await js.consumers.get("ONE", "OD");
    let acked = 0;
    for await (const m of await od.fetch({ max_messages: 20, expires: 10_000 })) {
      await m.ackAck();
      if (++acked === 20) break;
    }
    const where = async (): Promise<string[]> => serversOf((await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.ONE")).cluster);
    const settled = async (what: string, ok: (servers: string[]) => boolean): Promise<string> => {
      let at: string[] = [];
      await waitUntil(
        async () => {
          const si = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.ONE");
          at = serversOf(si.cluster);
          return si.cluster?.desired === undefined && at.length === 1 && ok(at) && si.state?.messages === 50;
        },
        120_000,
        what,
      );
      return at[0];
    };
    const moved = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.ONE", { ...one, placement: { tags: ["zone:b"] } });
    assert.equal(moved.error, undefined, JSON.stringify(moved.error));
    const to = await settled("ONE on a zone b server", (at) => ["S3", "S4"].includes(at[0]));
    await waitUntil(() => c.js(from).accounts.get("$G")?.streams.has("ONE") === false, 30_000, `${from} to drop ONE`);
    assert.equal(c.js(to).accounts.get("$G")?.streams.get("ONE")?.replica, undefined, "a single replica again, without a group");
    assert.equal((await jsm.consumers.info("ONE", "OD")).ack_floor.stream_seq, 20);

    const removed = await clusterApi(nc, "$JS.API.STREAM.PEER.REMOVE.ONE", { peer: to });
    assert.deepEqual(removed, { type: "io.nats.jetstream.api.v1.stream_remove_peer_response", success: true });
    const then = await settled(`ONE off ${to}`, (at) => at[0] !== to && ["S3", "S4"].includes(at[0]));
    await waitUntil(() => c.js(to).accounts.get("$G")?.streams.has("ONE") === false, 30_000, `${to} to drop ONE`);
    assert.deepEqual(await where(), [then]);
    // The consumer followed twice and continues after its ack floor.
    assert.equal((await jsm.consumers.info("ONE", "OD")).ack_floor.stream_seq, 20);
    let next = 20;
    for await (const m of await od.fetch({ max_messages: 30, expires: 20_000 })) {
      assert.equal(m.seq, ++next);
      m.ack();
      if (next === 50) break;
    }
    assert.equal(next, 50);
  } finally {
    StreamReplica.snapshotEntries = saved;
    await nc?.close();
    await c.stop();
  }
});

test("a server restarted in the middle of a move: the move ends, nothing acknowledged is lost", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(5, "MOVE", { serverTags: TAGS });
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url), timeout: 20_000, maxReconnectAttempts: -1 });
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "RS", subjects: ["rs.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    const created = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.RS", cfg);
    assert.equal(created.error, undefined);
    const N = 1000;
    const body = "x".repeat(1000);
    const acks = [];
    for (let i = 1; i <= N; i++) acks.push(js.publish("rs.x", `${i} ${body}`));
    assert.equal((await Promise.all(acks)).length, N);
    await jetstreamManager(nc).then((jsm) => jsm.consumers.add("RS", { durable_name: "D", ack_policy: AckPolicy.Explicit }));

    const leader = serversOf(created.cluster)[0];
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.RS", { ...cfg, placement: { tags: ["zone:b"] } })).error, undefined);
    // The stream's leader (it leaves with the move) stops at once, and comes back.
    await c.stopMember(leader);
    await c.startMember(leader);
    let last: Info | undefined;
    await waitUntil(
      async () => {
        last = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.RS").catch(() => undefined);
        return last?.cluster?.desired === undefined && JSON.stringify(serversOf(last?.cluster).sort()) === '["S3","S4"]' && last?.state?.messages === N;
      },
      180_000,
      "RS on S3 and S4 with its messages after the restart",
      () => JSON.stringify(last?.cluster),
    );
    const holds = (server: string): number | undefined => c.js(server).accounts.get("$G")?.streams.get("RS")?.store.state().msgs;
    await waitUntil(() => holds("S3") === N && holds("S4") === N, 30_000, "both new servers to hold every message");
    await waitUntil(() => holds("S1") === undefined && holds("S2") === undefined, 60_000, "the old servers to drop RS");
    for (const server of ["S3", "S4"]) assert.ok(c.js(server).accounts.get("$G")?.streams.get("RS")?.consumers.has("D"), `${server} has the durable`);

    // Back to zone a; this time a server it goes to restarts in the middle.
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.RS", cfg)).error, undefined);
    await c.stopMember("S1");
    await c.startMember("S1");
    await waitUntil(
      async () => {
        last = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.RS").catch(() => undefined);
        return last?.cluster?.desired === undefined && JSON.stringify(serversOf(last?.cluster).sort()) === '["S1","S2"]' && last?.state?.messages === N;
      },
      180_000,
      "RS back on S1 and S2",
      () => JSON.stringify(last?.cluster),
    );
    await waitUntil(() => holds("S1") === N && holds("S2") === N, 30_000, "S1 and S2 to hold every message again");
    await waitUntil(() => holds("S3") === undefined && holds("S4") === undefined, 60_000, "S3 and S4 to drop RS");

    // A single replica whose server restarts in the middle of its move.
    const one = { name: "RONE", subjects: ["rone.>"], num_replicas: 1, placement: { tags: ["zone:a"] } };
    const from = serversOf((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.RONE", one)).cluster)[0];
    const oneAcks = [];
    for (let i = 1; i <= 300; i++) oneAcks.push(js.publish("rone.x", `${i} ${body}`));
    await Promise.all(oneAcks);
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.RONE", { ...one, placement: { tags: ["zone:b"] } })).error, undefined);
    await c.stopMember(from);
    await c.startMember(from);
    await waitUntil(
      async () => {
        last = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.RONE").catch(() => undefined);
        const at = serversOf(last?.cluster);
        return last?.cluster?.desired === undefined && at.length === 1 && ["S3", "S4"].includes(at[0]) && last?.state?.messages === 300;
      },
      180_000,
      "RONE on a zone b server with its messages after the restart",
      () => JSON.stringify(last?.cluster),
    );
    await waitUntil(() => c.js(from).accounts.get("$G")?.streams.has("RONE") === false, 60_000, `${from} to drop RONE`);
  } finally {
    await nc?.close();
    await c.stop();
  }
});

test("a server the stream moves to dies and is removed from the cluster in the middle of the move: another server takes its place in the move", { timeout: 300_000 }, async () => {
  // Zone a: S1, S2; zone b: S3, S4, S5.
  const c = await JsTestCluster.start(5, "MOVE", { withSystemUser: true, serverTags: { S1: ["zone:a"], S2: ["zone:a"], S3: ["zone:b"], S4: ["zone:b"], S5: ["zone:b"] } });
  let nc: NatsConnection | undefined;
  let sys: NatsConnection | undefined;
  try {
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url), user: "a", pass: "a", timeout: 20_000 });
    sys = await connect({ servers: c.members.map((m) => m.url), user: "sys", pass: "sys", timeout: 20_000 });
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "SR", subjects: ["sr.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.SR", cfg)).error, undefined);
    const N = 500;
    const body = "y".repeat(1000);
    const acks = [];
    for (let i = 1; i <= N; i++) acks.push(js.publish("sr.x", `${i} ${body}`));
    await Promise.all(acks);
    const moved = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.SR", { ...cfg, placement: { tags: ["zone:b"] } });
    assert.equal(moved.error, undefined);
    const targets = (moved.cluster?.desired?.replicas ?? []).map((r) => r.name);
    assert.equal(targets.length, 2);
    // One of them dies before it caught up (the move cannot end with it) and is removed.
    const gone = targets[1];
    await c.stopMember(gone);
    const removed = await clusterApi(sys, "$JS.API.SERVER.REMOVE", { peer: gone });
    assert.equal(removed.error, undefined, JSON.stringify(removed));
    const expected = ["S3", "S4", "S5"].filter((s) => s !== gone);
    let last: Info | undefined;
    await waitUntil(
      async () => {
        last = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.SR").catch(() => undefined);
        return last?.cluster?.desired === undefined && JSON.stringify(serversOf(last?.cluster).sort()) === JSON.stringify(expected) && last?.state?.messages === N;
      },
      180_000,
      `SR on ${expected.join(" and ")}`,
      () => JSON.stringify(last?.cluster),
    );
    const holds = (server: string): number | undefined => c.js(server).accounts.get("$G")?.streams.get("SR")?.store.state().msgs;
    await waitUntil(() => expected.every((s) => holds(s) === N), 30_000, "the servers it moved to to hold every message");
  } finally {
    await sys?.close();
    await nc?.close();
    await c.stop();
  }
});

test("a move that cannot end (a server it goes to is down) is cancelled: the stream stays where it was, with every message", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(5, "MOVE", { serverTags: TAGS });
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url), timeout: 20_000 });
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "CM", subjects: ["cm.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.CM", cfg)).error, undefined);
    const N = 300;
    const acks = [];
    for (let i = 1; i <= N; i++) acks.push(js.publish("cm.x", `cm ${i}`));
    await Promise.all(acks);
    await c.stopMember("S4");
    // With S4 down zone b has one server that is current: no room for two replicas there.
    const refused = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.CM", { ...cfg, placement: { tags: ["zone:b"] } });
    assert.equal(refused.error?.err_code, 10005, JSON.stringify(refused.error));
    await c.startMember("S4");
    await c.metaLeader(60_000);
    let moved: Info | undefined;
    await waitUntil(
      async () => {
        moved = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.UPDATE.CM", { ...cfg, placement: { tags: ["zone:b"] } });
        return moved.error === undefined;
      },
      60_000,
      "the move to be accepted once S4 is back",
      () => JSON.stringify(moved?.error),
    );
    // S4 goes down again before the move could end: the move waits for it.
    await c.stopMember("S4");
    const cancelled = await clusterApi<Info>(nc, "$JS.API.STREAM.CANCEL_MOVE.CM");
    assert.equal(cancelled.error, undefined, JSON.stringify(cancelled.error));
    let last: Info | undefined;
    await waitUntil(
      async () => {
        last = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.CM").catch(() => undefined);
        return last?.cluster?.desired === undefined && JSON.stringify(serversOf(last?.cluster).sort()) === '["S1","S2"]' && last?.state?.messages === N;
      },
      120_000,
      "CM back on S1 and S2",
      () => JSON.stringify(last?.cluster),
    );
    await waitUntil(() => c.js("S3").accounts.get("$G")?.streams.has("CM") === false, 30_000, "S3 to drop CM");
    // S4 comes back: what it had of CM goes.
    await c.startMember("S4");
    await waitUntil(() => c.js("S4").accounts.get("$G")?.streams.has("CM") !== true, 60_000, "S4 not to keep CM");
    assert.equal((await js.publish("cm.x", "after")).seq, N + 1);
  } finally {
    await nc?.close();
    await c.stop();
  }
});
