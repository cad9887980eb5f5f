// A replicated consumer's leader proposes its changes (deliveries, acks) to its group one entry
// at a time: those made while its last entry is not committed wait and go together in the next
// (consumer_group.ts). Through @nats-io/jetstream clients on three tsnats servers: plain acks of
// a whole batch and a double ack of its last message; once the double ack is confirmed every ack
// before it is committed too, so the member that leads after the leader's server is stopped has
// them all (ack floor at the batch's end, nothing redelivered), and every member's copy agrees.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { consume, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";

const N = 300;

test("plain acks of a batch then a confirmed double ack: all committed, kept by the next leader and every copy", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  try {
    await c.metaLeader();
    const nc = await connect({ servers: c.members.map((m) => m.url) });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.H", { name: "H", subjects: ["h.>"], num_replicas: 3 });
      assert.equal(s.error, undefined, JSON.stringify(s.error));
      const js = jetstream(nc, { timeout: 10_000 });
      for (let i = 1; i <= N + 5; i++) await js.publish("h.x", `m${i}`);
      await jsm.consumers.add("H", { durable_name: "B", ack_policy: AckPolicy.Explicit, num_replicas: 3 });
      const leader = (await infoWithLeader(nc, "H", "B")).cluster?.leader ?? "";
      assert.notEqual(leader, "");

      const consumer = await js.consumers.get("H", "B");
      const seqs: number[] = [];
      for await (const m of await consumer.fetch({ max_messages: N, expires: 10_000 })) {
        seqs.push(m.seq);
        if (seqs.length < N) m.ack();
        else await m.ackAck({ timeout: 10_000 });
      }
      assert.equal(seqs.length, N);

      // At once, the leader's server stops: the next leader has every ack; what follows is new.
      await c.stopMember(leader);
      const info = await infoWithLeader(nc, "H", "B", leader);
      assert.notEqual(info.cluster?.leader ?? "", "");
      assert.equal(info.ack_floor?.stream_seq, N);
      assert.equal(info.num_ack_pending, 0);
      // Every running member's copy comes to the same ack floor.
      await waitUntil(
        () =>
          c.members.filter((m) => m.srv !== undefined).every((m) => {
            const k = streamOn(c, m.name, "H")?.consumers.get("B");
            return k !== undefined && ((k.infoJson() as Info).ack_floor?.stream_seq ?? 0) >= N;
          }),
        30_000,
        `every copy of B has its ack floor at ${N} or later`,
      );
      assert.deepEqual(await consume(nc, "H", "B", 5), [N + 1, N + 2, N + 3, N + 4, N + 5]);
    } finally {
      await nc.close();
    }
  } finally {
    await c.stop();
  }
});
