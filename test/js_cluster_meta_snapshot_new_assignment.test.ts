// A server that learns of a stream assigned to it only from the meta leader's SNAPSHOT (it was
// stopped when the stream was created, and the meta log was compacted past the create before it
// came back) runs that stream: its copy joins the stream's group, gets the messages and the
// consumer created meanwhile, and the stream's info lists it current. A stream deleted meanwhile
// goes from it, and one deleted and created again has its old copy replaced by the new stream.
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
import { connect } from "@nats-io/transport-node";
import { copyOf, JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { compactMetaPast } from "./helpers/meta_compaction.js";
import { consume, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

interface StreamInfo extends Info {
  state?: { messages: number; last_seq: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string; current: boolean; offline?: boolean }> };
}

test("a stream created while a server was stopped, learned by it from the meta snapshot after its start-up check, runs there with its messages and consumers", { timeout: 110_000 }, async () => {
  const saved = { entries: JsCluster.snapshotEntries, segment: JsCluster.segmentSize };
  JsCluster.snapshotEntries = 8;
  JsCluster.segmentSize = 4096;
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    const meta = await c.metaAllCurrent();
    // A stream held by every server, deleted while the stopped one is down: it goes there too.
    assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.GONE", { name: "GONE", subjects: ["gone"], num_replicas: 3 })).error, undefined);
    await waitUntil(() => names.every((n) => streamOn(c, n, "GONE") !== undefined), 20_000, "GONE on every server");
    // Placement ranks servers holding as many streams by name, the first placed answers the
    // create: the stopped server is the last by name that does not lead the meta group.
    const late = [...names].reverse().find((n) => n !== meta) ?? "";
    // A stream held by every server, deleted and created again while the stopped one is down:
    // its copy there is replaced by the new stream's.
    assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.AGAIN", { name: "AGAIN", subjects: ["again.>"], num_replicas: 3 })).error, undefined);
    for (const s of ["again.old1", "again.old2"]) await clusterPublish(nc, s, s);
    await waitUntil(() => names.every((n) => streamOn(c, n, "AGAIN")?.store.state().msgs === 2), 20_000, "AGAIN's 2 messages on every server");
    const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
    await c.stopMember(late);

    JsCluster.placeableUnheard = [late];
    let created: StreamInfo;
    try {
      created = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 3 });
      assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.DELETE.AGAIN")).error, undefined);
      const again = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.CREATE.AGAIN", { name: "AGAIN", subjects: ["again.>"], num_replicas: 3 });
      assert.equal(again.error, undefined, JSON.stringify(again.error));
    } finally {
      JsCluster.placeableUnheard = [];
    }
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    const sa = c.js(meta).cluster?.assignment("$G", "S");
    assert.ok(sa?.peers.includes(late) === true && sa.owner !== late, `S placed on ${late}, not owned by it: ${JSON.stringify(sa)}`);
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    const consumer = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: { durable_name: "C", ack_policy: "explicit" } });
    assert.equal(consumer.error, undefined, JSON.stringify(consumer.error));
    assert.equal((await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.DELETE.GONE")).error, undefined);

    // Compacted past the create: the server back catches up from the leader's snapshot.
    await compactMetaPast(c, nc, heldByLate + 1);
    const missedUpTo = c.js(await c.metaLeader()).cluster?.node?.commit ?? 0;
    await c.startMember(late);
    // (Its own log ends at heldByLate: a snapshot past it is the leader's.)
    await waitUntil(() => (c.js(late).cluster?.node?.snapshotIndex ?? 0) > heldByLate && (c.js(late).cluster?.node?.applied ?? 0) >= missedUpTo, 30_000, `${late} installed the meta leader's snapshot`);

    await waitUntil(() => streamOn(c, late, "S") !== undefined, 20_000, `S created on ${late}`);
    await waitUntil(() => streamOn(c, late, "S")?.store.state().msgs === 5, 30_000, `S's 5 messages on ${late}`);
    await waitUntil(() => streamOn(c, late, "S")?.consumers.has("C") === true, 30_000, `C on ${late}`);
    const voters = streamOn(c, late, "S")?.replica?.consumerGroup("C")?.node.config.voters ?? [];
    assert.deepEqual([...voters].sort(), [...names].sort(), `C's group as seen on ${late}`);
    await waitUntil(() => streamOn(c, late, "GONE") === undefined, 20_000, `GONE removed from ${late}`);
    await clusterPublish(nc, "again.new", "again.new");
    await waitUntil(() => streamOn(c, late, "AGAIN")?.store.state().lastSeq === 1, 30_000, `the new AGAIN on ${late}`);
    assert.deepEqual(copyOf(c, late, "AGAIN"), [[1, "again.new", "again.new"]]);
    let info: StreamInfo = {};
    await waitUntil(
      async () => {
        info = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.INFO.S");
        return info.cluster?.replicas?.some((r) => r.name === late && r.current && r.offline !== true) === true || info.cluster?.leader === late;
      },
      30_000,
      `S's info lists ${late} current`,
    );
    assert.equal(info.state?.messages, 5);

    // Led from the server back, the consumer delivers what the others stored.
    await waitUntil(
      async () => {
        const ci = await clusterApi<Info>(nc, "$JS.API.CONSUMER.INFO.S.C");
        if (ci.cluster?.leader === late) return true;
        await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", JSON.stringify({ placement: { preferred: late } }), { timeout: 5000 }).catch(() => undefined);
        return false;
      },
      30_000,
      `C led from ${late}`,
    );
    assert.deepEqual(await consume(nc, "S", "C", 5), [1, 2, 3, 4, 5]);
  } finally {
    JsCluster.snapshotEntries = saved.entries;
    JsCluster.segmentSize = saved.segment;
    JsCluster.placeableUnheard = [];
    await nc.close();
    await c.stop();
  }
});
