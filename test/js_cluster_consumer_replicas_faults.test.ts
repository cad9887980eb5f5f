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
    // Listed as missing while its server is down, counted in the total, with a stand-in entry (no
    // name, its config, its server offline), as nats-server 2.15.1 lists it.
    type Entry = { name?: string; config?: { durable_name?: string }; cluster?: { replicas?: Array<{ name: string; offline?: boolean; peer?: string }> } };
    const listed = await clusterApi<Info & { total?: number; consumers?: Entry[]; missing?: string[] }>(nc, "$JS.API.CONSUMER.LIST.L");
    const entry = listed.consumers?.[0];
    assert.deepEqual([listed.total, listed.consumers?.length, listed.missing], [1, 1, ["D1"]]);
    assert.deepEqual([entry?.name, entry?.config?.durable_name, entry?.cluster?.replicas], ["", "D1", [{ name: host, current: false, offline: true, active: 0, peer: entry?.cluster?.replicas?.[0]?.peer }]]);
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

// R1 durables live on any member of their stream (placed at random, as nats-server places them):
// a scale-down of the stream to one replica hands those of the servers it leaves, with their
// state, to the server that keeps it.
test("a stream scaled down to one replica keeps the R1 durables of the servers it leaves, with their ack floors", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaLeader();
    const created = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 3 });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "s.x", `m${i}`);
    // R1 durables until every member holds one (each placed on one of three at random).
    const hosts = new Map<string, string>();
    for (let k = 0; k < 60 && new Set(hosts.values()).size < 3; k++) {
      const d = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.S.D${k}`, { stream_name: "S", config: { durable_name: `D${k}`, ack_policy: "explicit", num_replicas: 1 } });
      assert.equal(d.error, undefined, JSON.stringify(d.error));
      hosts.set(`D${k}`, d.cluster?.leader ?? "");
    }
    assert.deepEqual([...new Set(hosts.values())].sort(), [...names].sort());
    // Each acknowledges as many messages as its number, plus one.
    const floors = new Map<string, number>();
    for (const [i, name] of [...hosts.keys()].entries()) {
      const n = (i % 5) + 1;
      assert.deepEqual(await consume(nc, "S", name, n), Array.from({ length: n }, (_, k) => k + 1), name);
      floors.set(name, n);
    }
    const si = await clusterApi<Info & { config?: Record<string, unknown> }>(nc, "$JS.API.STREAM.INFO.S");
    const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...si.config, num_replicas: 1 });
    assert.equal(down.error, undefined, JSON.stringify(down.error));
    const kept = down.cluster?.leader ?? "";
    assert.ok(names.includes(kept), kept);
    await waitUntil(() => [...hosts.keys()].every((n) => streamOn(c, kept, "S")?.consumers.has(n) === true), 30_000, "the kept server holding every durable");
    for (const [name, floor] of floors) {
      const info = await clusterApi<Info>(nc, `$JS.API.CONSUMER.INFO.S.${name}`);
      assert.equal(info.cluster?.leader, kept, name);
      assert.equal(info.ack_floor?.stream_seq, floor, name);
      assert.deepEqual(await consume(nc, "S", name, 1), [floor + 1], name);
    }
    const count = await clusterApi<Info & { state?: { consumer_count?: number } }>(nc, "$JS.API.STREAM.INFO.S");
    assert.equal(count.state?.consumer_count, hosts.size);
  } finally {
    await nc.close();
    await c.stop();
  }
});
