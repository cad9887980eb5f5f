// Stream moves (src/jetstream/stream_replica.ts moveStep) when the stream's group log was compacted
// before the move: its durable consumers travel in the snapshot the new servers get, a
// single-replica durable is handed to the new leader with its acks; a single-replica stream moves
// (through a temporary group) by a placement update and by STREAM.PEER.REMOVE, keeping its durable.
// Five tagged tsnats servers (test/helpers/js_cluster_move.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { waitUntil, TAGS, serversOf, connectWhenLed, type Info } from "./helpers/js_cluster_move.js";

test("a stream whose group's log was compacted moves with its durable consumers (they travel in the snapshot); a single replica moves by placement and by peer remove", { timeout: 300_000 }, async () => {
  const saved = StreamReplica.snapshotEntries;
  // Compacted every 40 entries: the consumer's creation and most of its acks are in no entry the new servers get.
  StreamReplica.snapshotEntries = 40;
  const c = await JsTestCluster.start(5, "MOVE", { serverTags: TAGS });
  let nc: NatsConnection | undefined;
  try {
    nc = await connectWhenLed(c);
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
