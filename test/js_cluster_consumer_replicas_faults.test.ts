// Consumers with fewer replicas than their stream when a server stops (three tsnats servers):
// - an R1 durable of an R3 limits stream: while the server holding it is down the stream goes on
//   without it (the other members store what is published); back, the durable delivers
//   everything from where it was, and every member's copy is the same;
// - an ephemeral of an R3 interest stream has the stream's three replicas (nats-server's rule):
//   the server leading it stops midway, another member leads it on, and every member (the
//   stopped one once back) drops each message once acknowledged, none before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, copyOf, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";

test("an R1 durable's server stops and comes back; an interest stream's ephemeral is led on by another member", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaLeader();
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.L", { name: "L", subjects: ["l.>"], num_replicas: 3 });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    const d1 = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.L.D1", { stream_name: "L", config: { durable_name: "D1", ack_policy: "explicit", num_replicas: 1 } });
    assert.equal(d1.error, undefined, JSON.stringify(d1.error));
    assert.equal(d1.cluster?.replicas, undefined);
    const host = d1.cluster?.leader ?? "";
    // Only its server holds it.
    assert.deepEqual(names.filter((n) => streamOn(c, n, "L")?.consumers.has("D1") === true), [host]);
    for (let i = 1; i <= 10; i++) await clusterPublish(nc, "l.x", `a${i}`);
    assert.deepEqual(await consume(nc, "L", "D1", 4), [1, 2, 3, 4]);

    await c.stopMember(host);
    for (let i = 1; i <= 10; i++) await clusterPublish(nc, "l.x", `b${i}`);
    const others = names.filter((n) => n !== host);
    await waitUntil(() => others.every((n) => streamOn(c, n, "L")?.store.state().msgs === 20), 30_000, "the others storing 20");
    await c.startMember(host);
    // Back with its state: everything after what was acknowledged.
    const rest = await consume(nc, "L", "D1", 16);
    assert.deepEqual(rest, Array.from({ length: 16 }, (_, i) => i + 5));
    await waitUntil(() => names.every((n) => streamOn(c, n, "L")?.store.state().msgs === 20), 30_000, "every copy with 20");
    const want = copyOf(c, others[0], "L");
    for (const n of names) assert.deepEqual(copyOf(c, n, "L"), want, n);

    // An interest stream's ephemeral: every member holds it, and drops what it acknowledged.
    const i = await clusterApi(nc, "$JS.API.STREAM.CREATE.I", { name: "I", subjects: ["i.>"], num_replicas: 3, retention: "interest" });
    assert.equal(i.error, undefined, JSON.stringify(i.error));
    const e = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.I", { stream_name: "I", config: { ack_policy: "explicit", inactive_threshold: 300_000_000_000 } });
    assert.equal(e.error, undefined, JSON.stringify(e.error));
    const eph = e.name ?? "";
    assert.equal(e.cluster?.replicas?.length, 2);
    await waitUntil(() => names.every((n) => streamOn(c, n, "I")?.consumers.has(eph) === true), 30_000, "every member holding the ephemeral");
    for (let k = 1; k <= 10; k++) await clusterPublish(nc, "i.x", `i${k}`);
    assert.deepEqual(await consume(nc, "I", eph, 4), [1, 2, 3, 4]);
    await waitUntil(() => names.every((n) => streamOn(c, n, "I")?.store.state().msgs === 6), 30_000, "every member dropping the 4 acknowledged");
    const leader = (await infoWithLeader(nc, "I", eph)).cluster?.leader ?? "";
    assert.ok(names.includes(leader), leader);
    await c.stopMember(leader);
    const led = await infoWithLeader(nc, "I", eph, leader);
    assert.notEqual(led.cluster?.leader, leader);
    assert.equal(led.ack_floor?.stream_seq, 4);
    assert.deepEqual(await consume(nc, "I", eph, 6), [5, 6, 7, 8, 9, 10]);
    const up = names.filter((n) => n !== leader);
    await waitUntil(() => up.every((n) => streamOn(c, n, "I")?.store.state().msgs === 0), 30_000, "the running members empty");
    await c.startMember(leader);
    await waitUntil(() => streamOn(c, leader, "I")?.store.state().msgs === 0, 60_000, "the restarted member empty too");
    for (const n of names) assert.equal(streamOn(c, n, "I")?.store.state().firstSeq, 11, n);
  } finally {
    await nc.close();
    await c.stop();
  }
});
