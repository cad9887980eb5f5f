// A replicated consumer deleted while one member of its stream's group was down, its deletion in
// entries the group's leader compacted away (issue #12): the member caught up from the leader's
// snapshot kept its copy for good, its consumer group campaigning forever with no other member.
// nats-server removes a consumer its snapshot no longer has (getOrphans after a catch-up); tsnats
// now removes it when it installs the stream leader's snapshot ("Detected orphaned durable
// consumer"), and keeps the others. Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { JsTestCluster, managerOn, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import { consumerGroupName } from "../src/jetstream/consumer_group.js";

test("a replicated consumer deleted while a member was down, its deletion compacted away: the member removes its copy when it installs the leader's snapshot, keeps the others", { timeout: 120_000 }, async () => {
  const saved = StreamReplica.snapshotEntries;
  StreamReplica.snapshotEntries = 50;
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { nc, jsm } = await managerOn(c.members[0].url, ncs);
    await jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 3 });
    await jsm.consumers.add("S", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add("S", { durable_name: "K", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 5; i++) await js.publish("s.x", `m${i}`);
    const leader = await replicaLeader(c, "S");
    const down = c.members.find((m) => m.name !== leader && m.name !== "S1")?.name ?? c.members.find((m) => m.name !== leader)!.name;
    await waitUntil(() => streamOn(c, down, "S")?.store.state().lastSeq === 5 && streamOn(c, down, "S")?.consumers.has("K") === true, 20_000, `${down} holds S, D and K`);
    const consumerDir = (name: string): string => path.join(c.member(down).storeDir, "jetstream", "$G", "streams", "S", "obs", name);
    const groupDir = (name: string): string => path.join(c.member(down).storeDir, "jetstream", "_raft", consumerGroupName("$G", "S", name));
    assert.ok(fs.existsSync(consumerDir("D")) && fs.existsSync(groupDir("D")), `${down} holds D's files`);

    await c.stopMember(down);
    const { nc: njs, jsm: jsm2 } = await managerOn(c.members.find((m) => m.name !== down)!.url, ncs);
    await jsm2.consumers.delete("S", "D");
    // More than a log segment (4 MiB) past the snapshot threshold: the group's log no longer
    // has D's deletion, the member is caught up from a snapshot.
    const js2 = jetstream(njs, { timeout: 20_000 });
    const big = Buffer.alloc(64 * 1024, 120);
    for (let i = 6; i <= 130; i++) await js2.publish("s.x", i <= 110 ? big : `m${i}`);
    const lead = await replicaLeader(c, "S");
    await waitUntil(() => (streamOn(c, lead, "S")?.replica?.node.snapshotIndex ?? 0) >= 100, 20_000, "the leader compacted its log").catch((e: Error) => {
      throw new Error(`${e.message}: ${c.members.map((m) => `${m.name} ${streamOn(c, m.name, "S")?.replica?.node.snapshotIndex} ${streamOn(c, m.name, "S")?.replica?.node.applied}`).join(", ")}`);
    });

    await c.startMember(down);
    await c.fullMesh();
    await waitUntil(() => streamOn(c, down, "S")?.store.state().lastSeq === 130, 30_000, `${down} caught up`);
    assert.ok((streamOn(c, down, "S")?.replica?.node.snapshotIndex ?? 0) >= 100, `${down} was caught up from the leader's snapshot`);
    await waitUntil(() => streamOn(c, down, "S")?.consumers.has("D") === false, 30_000, `${down} removed D`);
    assert.ok(!fs.existsSync(consumerDir("D")), "D's state files are gone");
    assert.ok(!fs.existsSync(groupDir("D")), "D's RAFT group directory is gone");
    assert.equal(streamOn(c, down, "S")?.consumers.has("K"), true, "K stays");
    const names: string[] = [];
    for await (const ci of jsm2.consumers.list("S")) names.push(ci.name);
    assert.deepEqual(names.sort(), ["K"]);
  } finally {
    StreamReplica.snapshotEntries = saved;
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
