// A tsnats server leading a push consumer's group in a nats-server 2.15 cluster (`nrg_peer_lead`,
// src/cluster/nrg_consumer_leader.ts): it delivers to the deliver subject while a client of a
// nats-server listens there, refuses pull requests as nats-server's leader does, redelivers what
// was not acknowledged within the ack wait, sends idle heartbeats; both nats-server followers hold
// its state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";
import { consumerOn, leadOnT3, pull, rawInfo, type ConsumerInfoJson } from "./helpers/nrg_consumer.js";

test("with nrg_peer_lead, T3 leads a nats-server 2.15 push consumer's group: it delivers to the deliver subject while a client of N1 listens, redelivers what was not acknowledged within the ack wait, and both nats-server followers hold its state", { skip: referenceMissing(), timeout: 400_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { n1, n2, nc1, nc2, jsm } = await c.upWithClients();
    await retry(() => jsm.streams.add({ name: "CP", subjects: ["cp.>"], num_replicas: 3 }), 90_000);
    const js2 = jetstream(nc2, { timeout: 10_000 });
    for (let i = 1; i <= 5; i++) await retry(() => js2.publish(`cp.${i}`, `p${i}`), 60_000);
    // Nobody listens on the deliver subject yet: nothing is delivered while T3 takes over.
    await retry(() => jsm.consumers.add("CP", { durable_name: "pushed", deliver_subject: "pushed.in", ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000, idle_heartbeat: 1_000_000_000 }), 90_000);
    await leadOnT3(c, nc1, "CP", "pushed");
    assert.equal((await rawInfo(nc2, "CP", "pushed")).cluster?.leader, "T3");

    // A pull request to a push consumer is refused by its leader.
    const refused = await nc2.request("$JS.API.CONSUMER.MSG.NEXT.CP.pushed", "", { timeout: 10_000 });
    assert.equal(refused.headers?.code, 409);
    assert.equal(refused.headers?.description, "Consumer is push based");

    // A client of N1 subscribes: T3 delivers 1-5 to it; it acknowledges all but 3, which comes
    // again (delivery count 2) once the ack wait passed, and is acknowledged then.
    const got: { seq: number; dc: number; data: string }[] = [];
    let heartbeats = 0;
    const sub = nc1.subscribe("pushed.in", {
      callback: (_e, m) => {
        if (m.headers?.code === 100) {
          heartbeats++;
          return;
        }
        const t = (m.reply ?? "").split(".");
        const seq = Number(t[5]);
        const dc = Number(t[4]);
        got.push({ seq, dc, data: m.string() });
        if (seq !== 3 || dc > 1) m.respond("");
      },
    });
    await nc1.flush();
    await waitUntil(async () => got.some((g) => g.seq === 3 && g.dc === 2), 60_000, "1-5 delivered, 3 again after its ack wait", () => JSON.stringify(got));
    assert.deepEqual(
      got.slice(0, 5).map((g) => [g.seq, g.dc, g.data]),
      [1, 2, 3, 4, 5].map((i) => [i, 1, `p${i}`]),
    );
    // Idle, T3 sends heartbeats to the deliver subject.
    await waitUntil(async () => heartbeats > 0, 30_000, "an idle heartbeat", () => String(heartbeats));
    let info = await rawInfo(nc2, "CP", "pushed");
    await waitUntil(async () => (info = await rawInfo(nc2, "CP", "pushed")).num_ack_pending === 0, 30_000, "every message acknowledged", () => JSON.stringify(info));
    assert.deepEqual([info.delivered.consumer_seq, info.delivered.stream_seq, info.ack_floor.consumer_seq, info.ack_floor.stream_seq, info.cluster?.leader], [6, 5, 6, 5, "T3"]);
    let states: (ConsumerInfoJson | undefined)[] = [];
    await waitUntil(
      async () => {
        states = await Promise.all([n1, n2].map((s) => consumerOn(s, "CP", "pushed")));
        return states.every((s) => s !== undefined && s.delivered.consumer_seq === 6 && s.delivered.stream_seq === 5 && s.ack_floor.consumer_seq === 6 && s.ack_floor.stream_seq === 5 && s.num_ack_pending === 0);
      },
      60_000,
      "N1 and N2 hold delivered 6/5 and ack floor 6/5, as T3",
      () => JSON.stringify(states),
    );
    // A message published now goes out at once.
    await js2.publish("cp.6", "p6");
    await waitUntil(async () => got.some((g) => g.seq === 6), 30_000, "message 6 delivered", () => JSON.stringify(got));
    sub.unsubscribe();

    // Flow control: 3 MiB to deliver, more than the first window (2 MiB): T3 asks for flow control
    // past half of it and goes on once the subscriber answers.
    await retry(() => jsm.streams.add({ name: "CF", subjects: ["cf.>"], num_replicas: 3 }), 90_000);
    const big = new Uint8Array(100 * 1024).fill(7);
    for (let i = 1; i <= 30; i++) await retry(() => js2.publish(`cf.${i}`, big), 60_000);
    await retry(() => jsm.consumers.add("CF", { durable_name: "fc", deliver_subject: "fc.in", ack_policy: AckPolicy.None, flow_control: true, idle_heartbeat: 1_000_000_000 }), 90_000);
    await leadOnT3(c, nc1, "CF", "fc");
    const fcSeqs: number[] = [];
    let fcRequests = 0;
    const fcSub = nc1.subscribe("fc.in", {
      callback: (_e, m) => {
        if (m.headers?.code === 100) {
          if (m.headers.description === "FlowControl Request") {
            fcRequests++;
            m.respond();
          }
          return;
        }
        fcSeqs.push(Number((m.reply ?? "").split(".")[5]));
      },
    });
    await nc1.flush();
    await waitUntil(async () => fcSeqs.length >= 30, 60_000, "30 messages delivered under flow control", () => JSON.stringify({ fcSeqs, fcRequests }));
    assert.deepEqual(fcSeqs, Array.from({ length: 30 }, (_, i) => i + 1));
    assert.ok(fcRequests >= 1, "flow control was asked for");
    fcSub.unsubscribe();

    // A paused pull consumer led by T3 delivers nothing (its requests expire: 408) until resumed
    // (CONSUMER.PAUSE without a time, committed by the meta leader).
    const pauseUntil = new Date(Date.now() + 3_600_000).toISOString();
    await retry(() => jsm.consumers.add("CP", { durable_name: "paused", ack_policy: AckPolicy.Explicit, pause_until: pauseUntil }), 90_000);
    await leadOnT3(c, nc1, "CP", "paused");
    const pausedInfo = (await rawInfo(nc2, "CP", "paused")) as ConsumerInfoJson & { paused?: boolean; pause_remaining?: number };
    assert.equal(pausedInfo.paused, true);
    assert.ok((pausedInfo.pause_remaining ?? 0) > 0);
    const expired = await nc2.request("$JS.API.CONSUMER.MSG.NEXT.CP.paused", JSON.stringify({ batch: 1, expires: 2_000_000_000 }), { timeout: 10_000 });
    assert.equal(expired.headers?.code, 408);
    const resumed = (await nc1.request("$JS.API.CONSUMER.PAUSE.CP.paused", "{}", { timeout: 10_000 })).json<{ paused?: boolean; error?: unknown }>();
    assert.equal(resumed.error, undefined);
    assert.deepEqual((await pull(nc2, "CP", "paused", 1)).map((m) => m.seq), [1]);
  } finally {
    await c.stop();
  }
});
