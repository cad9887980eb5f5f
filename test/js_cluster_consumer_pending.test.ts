// A replicated consumer's num_pending after its leadership moves (three tsnats servers, nats.js):
// the members that follow apply the leader's deliveries without delivering, so the count each
// keeps of what is left to deliver is recounted when it starts leading. Before, a new leader
// reported the messages delivered while it followed as still pending, for good.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

test("an R3 durable's num_pending stays right across consumer leader stepdowns (nothing left to deliver: 0)", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await jsm.streams.add({ name: "N", subjects: ["n.>"], num_replicas: 3 });
    await jsm.consumers.add("N", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    const consumer = await js.consumers.get("N", "D");
    let total = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) await js.publish("n.x", `m${++total}`);
      let got = 0;
      while (got < 40) {
        const batch = await consumer.fetch({ max_messages: 40 - got, expires: 5000 });
        for await (const m of batch) {
          await m.ackAck();
          got++;
        }
      }
      await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "N")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === total), 20_000, "every member's ack floor at the end");
      const before = await jsm.consumers.info("N", "D");
      assert.deepEqual([before.num_pending, before.num_ack_pending], [0, 0], `round ${round}, leader ${before.cluster?.leader}`);
      const r = await jsm.consumers.info("N", "D");
      await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.N.D", "", { timeout: 20_000 });
      // The new leader answers once ready; its count must come to 0 (it stayed at what was delivered while it followed).
      let seen = "";
      await waitUntil(
        async () => {
          const i = await jsm.consumers.info("N", "D").catch(() => undefined);
          seen = `leader ${i?.cluster?.leader}, ${i?.num_pending} pending, ${i?.num_ack_pending} unacknowledged`;
          return i?.cluster?.leader !== undefined && i.cluster.leader !== r.cluster?.leader && i.num_pending === 0 && i.num_ack_pending === 0;
        },
        20_000,
        "the new leader with nothing pending",
      ).catch((e: Error) => assert.fail(`round ${round}: ${e.message}; last seen: ${seen}`));
    }
  } finally {
    await nc.close();
    await c.stop();
  }
});
