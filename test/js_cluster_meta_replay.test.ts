// A server restarted while the meta group has no leader replays its own meta log up to the
// commit index it recorded, at once (issue #12): nats-server replays its WAL up to the commit its
// stored appends carry before any election (raft.go initRaftNode), and its meta layer builds the
// assignments from that replay ("JetStream cluster recovering state", monitorCluster), removals
// first. Before, a tsnats server applied only up to the commit index of its last term or vote
// change and waited for a leader for the rest: a copy of a stream whose deletion was committed
// (the copy still on disk) took publishes meanwhile, and streams created since the meta group's
// last snapshot were unknown. Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, managerOn, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

const TAGS = { S1: ["at:1"], S2: ["at:2"], S3: ["at:3"] };

test("a server started alone (no meta leader) knows the streams its meta log committed and drops the copy of one whose deletion it committed", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { serverTags: TAGS });
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { nc, jsm } = await managerOn(c.members[0].url, ncs);
    const js = jetstream(nc, { timeout: 20_000 });
    const onS1 = { num_replicas: 1, placement: { tags: ["at:1"] } as never };
    await jsm.streams.add({ name: "A", subjects: ["a.>"], ...onS1 });
    await js.publish("a.x", "a1");
    await jsm.consumers.add("A", { durable_name: "D", ack_policy: "explicit" as never });
    // Q on S1, deleted; a copy of its directory kept aside stands for a copy the deletion has
    // not removed yet when S1 stopped.
    await jsm.streams.add({ name: "Q", subjects: ["q.>"], ...onS1 });
    await js.publish("q.x", "q1");
    const streams = path.join(c.member("S1").storeDir, "jetstream", "$G", "streams");
    const aside = path.join(c.member("S1").storeDir, "..", "Q-aside");
    fs.cpSync(path.join(streams, "Q"), aside, { recursive: true });
    await jsm.streams.delete("Q");
    await jsm.streams.add({ name: "C", subjects: ["c.>"], ...onS1 });
    await jsm.streams.add({ name: "R", subjects: ["r.>"], num_replicas: 3 });
    // S1 applied all of it (so its meta log has it committed).
    const meta = () => c.js("S1").cluster!;
    await waitUntil(() => meta().assignment("$G", "R") !== undefined && meta().assignment("$G", "Q") === undefined, 20_000, "S1 applied the creates and the delete");
    for (const nc2 of ncs.splice(0)) await nc2.close();
    for (const m of c.members) await c.stopMember(m.name);

    fs.cpSync(aside, path.join(streams, "Q"), { recursive: true });
    await c.startMember("S1");
    // No meta leader can be elected (the others are down), yet S1 knows what its log committed.
    await waitUntil(() => meta().assignment("$G", "C") !== undefined, 10_000, "S1 replayed C's creation without a meta leader");
    assert.deepEqual(["A", "C", "R"].map((n) => meta().assignment("$G", n)?.name), ["A", "C", "R"]);
    assert.equal(meta().assignment("$G", "Q"), undefined, "Q's deletion replayed");
    // The copy of Q is removed (its deletion was committed), and takes no publish meanwhile.
    await waitUntil(() => streamOn(c, "S1", "Q") === undefined && !fs.existsSync(path.join(streams, "Q")), 10_000, "S1 removed its copy of Q");
    const nc1 = await connect({ servers: c.member("S1").url });
    ncs.push(nc1);
    // The info of the streams it holds, and of their consumers, is answered without a meta leader
    // (nats-server 2.15.1, live, two of five servers up: its stream leader answers STREAM.INFO and
    // CONSUMER.INFO at once; STREAM.NAMES, LIST and INFO get 10008). Before, held 10 s, then 10008.
    const info = async (subject: string): Promise<Record<string, unknown>> => (await nc1.request(subject, "", { timeout: 3000 })).json<Record<string, unknown>>();
    const a = await info("$JS.API.STREAM.INFO.A");
    assert.deepEqual([(a.config as { name: string }).name, (a.state as { messages: number }).messages, (a.cluster as { leader?: string }).leader], ["A", 1, "S1"]);
    const d = await info("$JS.API.CONSUMER.INFO.A.D");
    assert.deepEqual([d.stream_name, d.name, d.num_pending], ["A", "D", 1]);
    assert.equal(((await info("$JS.API.STREAM.INFO.C")).config as { name: string }).name, "C");
    await assert.rejects(nc1.request("q.x", "q2", { timeout: 2000 }), /no responders/i, "nothing takes q.x");
    // The streams it holds and the meta log assigns here take publishes, as before.
    const js1 = jetstream(nc1, { timeout: 5000 });
    assert.equal((await js1.publish("a.x", "a2")).seq, 2);
    assert.equal((await js1.publish("c.x", "c1")).seq, 1);
    assert.equal(meta().leader ?? "", "", "still no meta leader");

    // The others come back: a leader is elected, nothing of Q comes back, A and C stay.
    for (const nc2 of ncs.splice(0)) await nc2.close();
    await c.startMember("S2");
    await c.startMember("S3");
    await c.metaLeader(30_000);
    const { jsm: jsm2 } = await managerOn(c.member("S2").url, ncs);
    await waitUntil(async () => (await jsm2.streams.names().next()).length === 3, 30_000, "three streams listed");
    assert.deepEqual((await jsm2.streams.names().next()).sort(), ["A", "C", "R"]);
    assert.equal((await jsm2.streams.info("A")).state.messages, 2);
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
