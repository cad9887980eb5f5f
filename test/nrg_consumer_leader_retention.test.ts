// A tsnats server leading a work-queue or interest stream of a nats-server 2.15 cluster
// (`nrg_peer_lead`): as the stream's leader it applies the acks of the consumers' groups it is a
// member of (led by a nats-server or by itself) and proposes the removal of each message no
// consumer needs any more; both nats-server followers remove them too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";
import { pull } from "./helpers/nrg_consumer.js";

test("with nrg_peer_lead, T3 leading a work-queue or interest stream (and its consumers' groups) removes each message once no consumer needs it, on both nats-server followers too", { skip: referenceMissing(), timeout: 400_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    const pullAndAck = async (stream: string, consumer: string, n: number): Promise<number[]> => {
      const got = await pull(nc1, stream, consumer, n);
      for (const m of got) assert.equal(await m.ackAck({ timeout: 10_000 }), true);
      return got.map((m) => m.seq);
    };

    // Work queue: T3 leads the stream; the consumer's leader (whoever it is) proposes the acks, T3
    // applies them in the consumer's group and proposes each message's removal.
    await retry(() => jsm.streams.add({ name: "WQ", subjects: ["wq.>"], num_replicas: 3, retention: "workqueue" as never }), 90_000);
    await retry(() => jsm.consumers.add("WQ", { durable_name: "w", ack_policy: AckPolicy.Explicit }), 90_000);
    await c.leadOnT3(nc1, "WQ");
    for (let i = 1; i <= 4; i++) await retry(() => js2.publish(`wq.${i}`, `w${i}`), 60_000);
    assert.deepEqual(await pullAndAck("WQ", "w", 4), [1, 2, 3, 4]);
    await c.sameOnAll("WQ", (s) => s.messages === 0 && s.first_seq === 5 && s.last_seq === 4, "N1, N2 and T3 removed the four acknowledged messages");
    // T3 leads the consumer too.
    await c.leadOnT3(nc1, "WQ", "w");
    for (let i = 5; i <= 7; i++) await retry(() => js2.publish(`wq.${i}`, `w${i}`), 60_000);
    assert.deepEqual(await pullAndAck("WQ", "w", 3), [5, 6, 7]);
    await c.sameOnAll("WQ", (s) => s.messages === 0 && s.first_seq === 8 && s.last_seq === 7, "N1, N2 and T3 removed 5-7");
    assert.equal((await c.group("WQ"))?.leader, "T3");

    // Interest: a message stays until both consumers acknowledged it.
    await retry(() => jsm.streams.add({ name: "INT", subjects: ["int.>"], num_replicas: 3, retention: "interest" as never }), 90_000);
    await retry(() => jsm.consumers.add("INT", { durable_name: "a", ack_policy: AckPolicy.Explicit }), 90_000);
    await retry(() => jsm.consumers.add("INT", { durable_name: "b", ack_policy: AckPolicy.Explicit }), 90_000);
    await c.leadOnT3(nc1, "INT");
    await c.leadOnT3(nc1, "INT", "a");
    for (let i = 1; i <= 2; i++) await retry(() => js2.publish(`int.${i}`, `i${i}`), 60_000);
    assert.deepEqual(await pullAndAck("INT", "a", 2), [1, 2]);
    // b has not acknowledged them: they stay everywhere.
    await c.sameOnAll("INT", (s) => s.messages === 2 && s.first_seq === 1 && s.last_seq === 2, "N1, N2 and T3 keep 1-2 for b");
    assert.deepEqual(await pullAndAck("INT", "b", 2), [1, 2]);
    await c.sameOnAll("INT", (s) => s.messages === 0 && s.first_seq === 3 && s.last_seq === 2, "N1, N2 and T3 removed 1-2 once both acknowledged them");
  } finally {
    await c.stop();
  }
});
