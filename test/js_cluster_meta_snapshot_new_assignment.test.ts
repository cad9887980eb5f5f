// A server that learns of a stream assigned to it only from the meta leader's SNAPSHOT (it was
// stopped when the stream was created, and the meta log was compacted past the create before it
// came back) runs that stream: its copy joins the stream's group, gets the messages and the
// consumer created meanwhile, and the stream's info lists it current. A stream deleted meanwhile
// goes from it, and one deleted and created again has its old copy replaced by the new stream.
// Second case: an R1 stream scaled up to R3 onto the stopped server: back, it joins the group.
// nats-server applies a meta snapshot as the diff of the assignments it had and those it gets
// (applyMetaSnapshot: processStreamAssignment for each stream new in it, then its consumers; a
// stream whose created time changed is removed, then added);
// tsnats created a stream missing here only in its start-up check (reconcile), which runs once
// its own log is replayed, before any leader sends it a snapshot.
// Three in-process servers (JsTestCluster), the meta group snapshotting every 8 entries in log
// segments of 4 KB (compaction drops whole segments). Placement skips a server not heard from
// lately: JsCluster.placeableUnheard names the stopped one (as nats-server places on a server until
// it is marked offline).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { copyOf, JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { backBySnapshot, consumerLedFrom, withCompactingCluster } from "./helpers/meta_compaction.js";
import { consume, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

interface StreamInfo extends Info {
  state?: { messages: number; last_seq: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string; current: boolean; offline?: boolean }> };
}

/** `late` runs S: its copy has the messages and the consumer C (in a group of every server), S's info lists it current, and C led from it delivers `seqs`. */
async function runsThere(c: JsTestCluster, nc: NatsConnection, late: string, seqs: number[]): Promise<void> {
  const names = c.members.map((m) => m.name);
  await waitUntil(() => streamOn(c, late, "S") !== undefined, 20_000, `S created on ${late}`);
  await waitUntil(() => streamOn(c, late, "S")?.store.state().msgs === seqs.length, 30_000, `S's ${seqs.length} messages on ${late}`);
  // (A consumer created during a scale-up grows with it once the stream's group has them all.)
  const groupOn = (n: string): string => [...(streamOn(c, n, "S")?.replica?.consumerGroup("C")?.node.config.voters ?? [])].sort().join(",");
  await waitUntil(() => streamOn(c, late, "S")?.consumers.has("C") === true && names.every((n) => groupOn(n) === names.join(",")), 30_000, `C in a group of ${names.join(",")} on every server`).catch((err: Error) => {
    throw new Error(`${err.message} (${names.map((n) => `${n}: ${groupOn(n)}`).join("; ")})`);
  });
  let info: StreamInfo = {};
  await waitUntil(
    async () => {
      info = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.INFO.S");
      return info.cluster?.replicas?.some((r) => r.name === late && r.current && r.offline !== true) === true || info.cluster?.leader === late;
    },
    30_000,
    `S's info lists ${late} current`,
  );
  assert.equal(info.state?.messages, seqs.length);
  // Led from the server back, the consumer delivers what the others stored.
  await consumerLedFrom(nc, late);
  assert.deepEqual(await consume(nc, "S", "C", seqs.length), seqs);
}

/** A durable C on S, with explicit acks (num_replicas: the stream's). */
async function addConsumer(nc: NatsConnection): Promise<void> {
  const consumer = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: { durable_name: "C", ack_policy: "explicit" } });
  assert.equal(consumer.error, undefined, JSON.stringify(consumer.error));
}

test("a stream created while a server was stopped, learned by it from the meta snapshot after its start-up check, runs there with its messages and consumers", { timeout: 110_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const names = c.members.map((m) => m.name);
    // A stream held by every server, deleted while the stopped one is down: it goes there too.
    assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.GONE", { name: "GONE", subjects: ["gone"], num_replicas: 3 })).error, undefined);
    // A stream held by every server, deleted and created again while the stopped one is down:
    // its copy there is replaced by the new stream's.
    assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.AGAIN", { name: "AGAIN", subjects: ["again.>"], num_replicas: 3 })).error, undefined);
    for (const s of ["again.old1", "again.old2"]) await clusterPublish(nc, s, s);
    await waitUntil(() => names.every((n) => streamOn(c, n, "GONE") !== undefined && streamOn(c, n, "AGAIN")?.store.state().msgs === 2), 20_000, "GONE and AGAIN's 2 messages on every server");
    const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
    await c.stopMember(late);

    JsCluster.placeableUnheard = [late];
    try {
      const created = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 3 });
      assert.equal(created.error, undefined, JSON.stringify(created.error));
      assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.DELETE.AGAIN")).error, undefined);
      const again = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.AGAIN", { name: "AGAIN", subjects: ["again.>"], num_replicas: 3 });
      assert.equal(again.error, undefined, JSON.stringify(again.error));
    } finally {
      JsCluster.placeableUnheard = [];
    }
    const sa = c.js(await c.metaLeader()).cluster?.assignment("$G", "S");
    assert.ok(sa?.peers.includes(late) === true && sa.owner !== late, `S placed on ${late}, not owned by it: ${JSON.stringify(sa)}`);
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    await addConsumer(nc);
    assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.DELETE.GONE")).error, undefined);

    await backBySnapshot(c, nc, late, heldByLate);
    await runsThere(c, nc, late, [1, 2, 3, 4, 5]);
    await waitUntil(() => streamOn(c, late, "GONE") === undefined, 20_000, `GONE removed from ${late}`);
    await clusterPublish(nc, "again.new", "again.new");
    await waitUntil(() => streamOn(c, late, "AGAIN")?.store.state().lastSeq === 1, 30_000, `the new AGAIN on ${late}`);
    assert.deepEqual(copyOf(c, late, "AGAIN"), [[1, "again.new", "again.new"]]);
  });
});

test("a server added to a stream's group by a scale-up while it was stopped, learned by it from the meta snapshot, joins the group with its messages and consumers", { timeout: 110_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const created = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 1 });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    const owner = c.js(await c.metaLeader()).cluster?.assignment("$G", "S")?.owner;
    assert.notEqual(owner, late, "S is not on the server stopped");
    for (let i = 1; i <= 3; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
    await c.stopMember(late);

    JsCluster.placeableUnheard = [late];
    try {
      const up = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.UPDATE.S", { name: "S", subjects: ["s.>"], num_replicas: 3 });
      assert.equal(up.error, undefined, JSON.stringify(up.error));
    } finally {
      JsCluster.placeableUnheard = [];
    }
    assert.ok(c.js(await c.metaLeader()).cluster?.assignment("$G", "S")?.peers.includes(late) === true, `S scaled up onto ${late}`);
    for (let i = 4; i <= 5; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    await addConsumer(nc);

    await backBySnapshot(c, nc, late, heldByLate);
    await runsThere(c, nc, late, [1, 2, 3, 4, 5]);
  });
});
