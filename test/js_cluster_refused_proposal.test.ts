// A publish the stream's leader could not propose leaves no gap in the stream's sequences (issue
// #12, the leader's sequence counter). The leader gives each message the sequence after its last
// proposal while earlier ones are still being committed; a proposal RAFT refuses (too many
// uncommitted bytes, a leadership transfer under way: answered 503) used to take a sequence all
// the same, so the next message was stored one further and every member skipped the one between.
// Here the followers are paused (nothing commits), the leader's RAFT refuses one proposal, and
// the messages before and after it are stored at consecutive sequences once the group commits.
// Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, pauseRaft, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { RaftError } from "../src/cluster/raft.js";

test("R3: a proposal the leader's RAFT refuses takes no sequence; the next message is stored right after the one before", { timeout: 60_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members[0].url });
  try {
    await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await jsm.streams.add({ name: "G", subjects: ["g.>"], num_replicas: 3 });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 3; i++) await js.publish("g.x", `m${i}`);
    const leader = await replicaLeader(c, "G");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "G")?.store.state().lastSeq === 3), 20_000, "every server holds the first messages");

    const resumes = c.members.filter((m) => m.name !== leader).map((m) => pauseRaft(streamOn(c, m.name, "G")!.replica!.node));
    const node = streamOn(c, leader, "G")!.replica!.node;
    const proposed = node.lastIndex;
    // m4 is proposed and waits for the paused followers.
    const a = js.publish("g.x", "m4");
    await waitUntil(() => node.lastIndex > proposed, 10_000, "m4 proposed");
    // The next proposal is refused, as RAFT refuses one past its cap of uncommitted bytes.
    const proposeRecord = node.proposeRecord;
    node.proposeRecord = () => {
      throw new RaftError("busy", "too many uncommitted entries");
    };
    await assert.rejects(js.publish("g.x", "refused"), (e: Error) => /503|unavailable|not available/i.test(e.message), "the refused publish is answered 503");
    node.proposeRecord = proposeRecord;
    const b = js.publish("g.x", "m5");
    await waitUntil(() => node.lastIndex > proposed + 1, 10_000, "m5 proposed");
    for (const resume of resumes) resume();

    assert.equal((await a).seq, 4);
    assert.equal((await b).seq, 5, "m5 right after m4");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "G")?.store.state().lastSeq === 5), 20_000, "every server holds m5");
    for (const m of c.members) {
      assert.deepEqual(
        copyOf(c, m.name, "G").map(([seq, , data]) => [seq, data]),
        [[1, "m1"], [2, "m2"], [3, "m3"], [4, "m4"], [5, "m5"]],
        `${m.name}: no gap where the refused publish was`,
      );
    }
  } finally {
    await nc.close();
    await c.stop();
  }
});
