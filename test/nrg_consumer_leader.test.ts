// A tsnats server leading a consumer group of a nats-server 2.15 cluster (`cluster { nrg_peer_lead:
// true }`, src/cluster/nrg_consumer_leader.ts), live against two nats-server 2.15 followers: asked
// to take the leadership of a durable pull consumer's group (a stepdown preferring it), T3 stays
// leader; pull requests from clients of either nats-server reach it (only the leader subscribes),
// it delivers from its copy of the stream once each delivery is committed, takes acks, a double
// ack (confirmed once committed) and a NAK (delivered again with its delivery count), and proposes
// each change as nats-server's consumer entries: both nats-server followers hold the same
// delivered sequences, ack floor and pending count as T3 answers in CONSUMER.INFO (asked from
// clients of every server; the same fields as a nats-server leader's answer), and the meta
// leader's CONSUMER.LIST gathers T3's info over $JSC.CI. Stepped down preferring N1, N1 leads
// from that state: the next message it delivers is the next one in the stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";
import type { ReferenceServer } from "./helpers/nats_server.js";
import { consumerOn, leadOnT3, pull, rawInfo, type ConsumerGroup, type ConsumerInfoJson } from "./helpers/nrg_consumer.js";

const keys = (o: Record<string, unknown> | undefined): string[] => Object.keys(o ?? {}).sort();

test("with nrg_peer_lead, T3 leads a nats-server 2.15 consumer group: pull requests from clients of both nats-servers are served, acks and naks taken, and both nats-server followers hold T3's consumer state", { skip: referenceMissing(), timeout: 400_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { n1, n2, nc1, nc2, jsm } = await c.upWithClients();
    await retry(() => jsm.streams.add({ name: "CL", subjects: ["cl.>"], num_replicas: 3 }), 90_000);
    const js1 = jetstream(nc1, { timeout: 10_000 });
    for (let i = 1; i <= 10; i++) await retry(() => js1.publish(`cl.${i % 2 === 0 ? "even" : "odd"}`, `m${i}`), 60_000);
    await retry(() => jsm.consumers.add("CL", { durable_name: "work", ack_policy: AckPolicy.Explicit, ack_wait: 120_000_000_000 }), 90_000);

    // A nats-server leader's CONSUMER.INFO answer, to compare T3's with (T3 may win the group's
    // first election: then it hands the leadership to N1).
    let natsInfo = await retry(() => rawInfo(nc1, "CL", "work"), 30_000);
    let askedAt = 0;
    await waitUntil(
      async () => {
        natsInfo = await rawInfo(nc1, "CL", "work").catch(() => natsInfo);
        if (natsInfo.cluster?.leader === "T3" && Date.now() - askedAt > 10_000) {
          askedAt = Date.now();
          await nc1.request("$JS.API.CONSUMER.LEADER.STEPDOWN.CL.work", JSON.stringify({ placement: { preferred: "N1" } }), { timeout: 10_000 }).catch(() => undefined);
        }
        return natsInfo.cluster?.leader !== undefined && natsInfo.cluster.leader !== "T3" && natsInfo.cluster.replicas?.every((r) => r.current) === true;
      },
      60_000,
      "a nats-server leader reports both replicas current",
      () => JSON.stringify(natsInfo.cluster),
    );

    await leadOnT3(c, nc1, "CL", "work");

    // Pull requests from a client of N2 reach T3 (only the leader subscribes to them).
    const first = await pull(nc2, "CL", "work", 4);
    assert.deepEqual(
      first.map((m) => [m.seq, m.info.deliveryCount, m.info.deliverySequence, m.subject, m.string()]),
      [1, 2, 3, 4].map((i) => [i, 1, i, `cl.${i % 2 === 0 ? "even" : "odd"}`, `m${i}`]),
    );
    assert.deepEqual(first.map((m) => m.info.pending), [9, 8, 7, 6], "each ack reply counts what is left after its message");
    // A double ack is confirmed (once the ack is committed), a plain one taken, a NAK delivered again.
    assert.equal(await first[0].ackAck({ timeout: 10_000 }), true);
    first[1].ack();
    first[2].nak();
    const second = await pull(nc1, "CL", "work", 2);
    assert.deepEqual(
      second.map((m) => [m.seq, m.info.deliveryCount, m.info.deliverySequence]),
      [
        [3, 2, 5],
        [5, 1, 6],
      ],
    );
    assert.equal(await second[0].ackAck({ timeout: 10_000 }), true);
    assert.equal(await second[1].ackAck({ timeout: 10_000 }), true);

    // T3 answers CONSUMER.INFO (from clients of every server) with the state it committed.
    const ncT3 = await c.appOn(c.ours as ReferenceServer);
    const expected = { delivered: { consumer_seq: 6, stream_seq: 5 }, ack_floor: { consumer_seq: 3, stream_seq: 3 }, num_ack_pending: 1, num_redelivered: 0, num_pending: 5 };
    for (const nc of [nc1, nc2, ncT3]) {
      const info = await rawInfo(nc, "CL", "work");
      assert.equal(info.cluster?.leader, "T3");
      assert.deepEqual(
        { delivered: { consumer_seq: info.delivered.consumer_seq, stream_seq: info.delivered.stream_seq }, ack_floor: { consumer_seq: info.ack_floor.consumer_seq, stream_seq: info.ack_floor.stream_seq }, num_ack_pending: info.num_ack_pending, num_redelivered: info.num_redelivered, num_pending: info.num_pending },
        expected,
      );
    }
    let t3Info = await rawInfo(nc2, "CL", "work");
    await waitUntil(async () => (t3Info = await rawInfo(nc2, "CL", "work")).cluster?.replicas?.filter((r) => r.current).length === 2, 30_000, "T3 reports N1 and N2 current", () => JSON.stringify(t3Info.cluster));
    // The same fields as a nats-server leader's answer.
    assert.deepEqual(keys(t3Info as unknown as Record<string, unknown>), keys(natsInfo as unknown as Record<string, unknown>));
    assert.deepEqual(keys(t3Info.config), keys(natsInfo.config));
    assert.deepEqual(keys(t3Info.cluster), keys(natsInfo.cluster));
    // (nats-server's answer came before any delivery: its delivered and ack floor have no last_active yet.)

    // Both nats-server followers applied T3's entries: their own state is T3's.
    let states: (ConsumerInfoJson | undefined)[] = [];
    await waitUntil(
      async () => {
        states = await Promise.all([n1, n2].map((s) => consumerOn(s, "CL", "work")));
        return states.every((s) => s !== undefined && s.delivered.consumer_seq === 6 && s.delivered.stream_seq === 5 && s.ack_floor.consumer_seq === 3 && s.ack_floor.stream_seq === 3 && s.num_ack_pending === 1);
      },
      60_000,
      "N1 and N2 hold delivered 6/5, ack floor 3/3 and one message pending, as T3",
      () => JSON.stringify(states),
    );

    // The meta leader's CONSUMER.LIST gathers T3's info ($JSC.CI).
    const listed = await (async () => {
      const out = [];
      for await (const ci of jsm.consumers.list("CL")) out.push(ci);
      return out;
    })();
    assert.deepEqual(
      listed.map((ci) => [ci.name, ci.delivered.stream_seq, ci.ack_floor.stream_seq, ci.num_ack_pending, ci.cluster?.leader]),
      [["work", 5, 3, 1, "T3"]],
    );
    const g = (await c.group("CL", "work")) as ConsumerGroup;
    t.diagnostic(`T3 consumer leader: ${JSON.stringify(g.consumer_leader)}`);

    // Stepped down preferring N1: N1 leads from the state T3 committed and delivers the next message.
    const down = (await nc1.request("$JS.API.CONSUMER.LEADER.STEPDOWN.CL.work", JSON.stringify({ placement: { preferred: "N1" } }), { timeout: 10_000 })).json<{ success?: boolean }>();
    assert.equal(down.success, true);
    let after: ConsumerInfoJson | undefined;
    await waitUntil(async () => (after = await rawInfo(nc2, "CL", "work").catch(() => undefined))?.cluster?.leader === "N1", 60_000, "N1 leads the consumer", () => JSON.stringify(after?.cluster));
    const third = await pull(nc2, "CL", "work", 1);
    assert.deepEqual(
      third.map((m) => [m.seq, m.info.deliveryCount, m.info.deliverySequence]),
      [[6, 1, 7]],
    );

    // Headers only, with back-off: T3 leads it, sends each message's size instead of its payload,
    // and delivers again what was not acknowledged (delivery counts 2 and 3, the back-off's waits).
    await retry(() => jsm.consumers.add("CL", { durable_name: "heads", ack_policy: AckPolicy.Explicit, headers_only: true, backoff: [1_000_000_000, 2_000_000_000], max_deliver: 4 }), 90_000);
    await leadOnT3(c, nc1, "CL", "heads");
    const heads = await pull(nc2, "CL", "heads", 10);
    assert.deepEqual(heads[0] && [heads[0].seq, heads[0].data.length, heads[0].headers?.get("Nats-Msg-Size"), heads[0].info.deliveryCount], [1, 0, "2", 1]);
    assert.deepEqual(heads.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const m of heads.slice(1)) assert.equal(await m.ackAck({ timeout: 10_000 }), true);
    // Only 1 is left to deliver: again after each back-off wait.
    for (const dc of [2, 3]) assert.deepEqual((await pull(nc2, "CL", "heads", 1)).map((m) => [m.seq, m.info.deliveryCount]), [[1, dc]]);

    // A consumer with an inactivity threshold, kept active by a waiting pull request until T3
    // leads it: idle under T3, T3 has the meta leader remove it (nats-server's deleteNotActive).
    await retry(() => jsm.consumers.add("CL", { durable_name: "idle", ack_policy: AckPolicy.Explicit, inactive_threshold: 5_000_000_000 }), 90_000);
    const inbox = nc2.subscribe("idle.inbox");
    nc2.publish("$JS.API.CONSUMER.MSG.NEXT.CL.idle", JSON.stringify({ batch: 1, expires: 120_000_000_000 }), { reply: "idle.inbox" });
    await leadOnT3(c, nc1, "CL", "idle");
    inbox.unsubscribe();
    let gone: ConsumerInfoJson | undefined;
    await waitUntil(async () => ((gone = await rawInfo(nc2, "CL", "idle").catch(() => undefined))?.error as { err_code?: number } | undefined)?.err_code === 10014, 60_000, "the idle consumer removed", () => JSON.stringify(gone));
    await waitUntil(async () => (await Promise.all([n1, n2].map((s) => consumerOn(s, "CL", "idle")))).every((x) => x === undefined), 30_000, "N1 and N2 removed it too");
  } finally {
    await c.stop();
  }
});
