// A replicated durable's counters as clients read them: the stream's leader applies its own
// consumer changes when it makes them, and must not apply them a second time when their RAFT
// entry commits (before: 5 deliveries showed as consumer_seq 10 on the leader, 5 elsewhere, and
// a source's consumer reset twice on a work-queue origin never got its flow control acks).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";

interface ConsumerInfo {
  delivered: { consumer_seq: number; stream_seq: number };
  ack_floor: { consumer_seq: number; stream_seq: number };
  num_ack_pending: number;
}

test("R3 durable: delivered and ack floor counted once on the leader and on every member", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members[0].url });
  try {
    await c.metaLeader();
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.D", { name: "D", subjects: ["d.>"], num_replicas: 3 });
    assert.equal(created.error, undefined, JSON.stringify(created));
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "d.x", `m${i}`);
    const added = await clusterApi(nc, "$JS.API.CONSUMER.CREATE.D.C", { stream_name: "D", config: { durable_name: "C", ack_policy: "explicit" } });
    assert.equal(added.error, undefined, JSON.stringify(added));
    const consumer = await jetstream(nc).consumers.get("D", "C");
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 3, expires: 5000 })) {
      got++;
      m.ack();
    }
    assert.equal(got, 3);
    // Two delivered and not acknowledged.
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 5000 })) void m;
    const held = (name: string): string => {
      const k = c.js(name).accounts.get("$G")?.streams.get("D")?.consumers.get("C")?.infoJson() as ConsumerInfo | undefined;
      return k === undefined ? "none" : `${k.delivered.consumer_seq}/${k.delivered.stream_seq} ack ${k.ack_floor.consumer_seq}/${k.ack_floor.stream_seq} pending ${k.num_ack_pending}`;
    };
    await waitUntil(() => c.members.every((m) => held(m.name) === "5/5 ack 3/3 pending 2"), 20_000, `the same state on every member: ${c.members.map((m) => held(m.name)).join(", ")}`);
    const info = (await clusterApi(nc, "$JS.API.CONSUMER.INFO.D.C")) as unknown as ConsumerInfo;
    assert.deepEqual([info.delivered.consumer_seq, info.delivered.stream_seq, info.ack_floor.consumer_seq, info.ack_floor.stream_seq, info.num_ack_pending], [5, 5, 3, 3, 2]);
  } finally {
    await nc.close();
    await c.stop();
  }
});
