// A server that missed a stream's scale-down to one replica (which took it out of the stream's
// group) AND the scale-up back to three (which put it back), learning both only from the meta
// leader's SNAPSHOT, comes back as a fresh member of the group the scale-up grew: its copy holds
// the stream's current messages (none the stream deleted meanwhile, none missing), its consumer
// has the state the others have, and it follows the group's leader.
// The group grown again from the server the scale-down kept starts on a log of its own: the old
// copy's log (and its consumers' logs) are not a prefix of it. Live, the scale-down's entry drops
// the copy and the scale-up's entry creates a new member (joinGroup); from a snapshot, the
// assignment before and after both name this server, with the same stream created time.
// Second case: the group regrows from the stopped server itself (the single replica it held
// scaled up to three while it was down): back, it starts the group alone with what it holds (as
// the scale-up's entry would have had it do: peersChanged), and the others, waiting for a
// leader since the scale-up, join it.
// Three in-process servers (JsTestCluster), the meta group snapshotting every 8 entries in log
// segments of 4 KB; JsCluster.placeableUnheard lets the scale-up place on the stopped server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { copyOf, type JsTestCluster, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterPublish, clusterRetry } from "./helpers/cluster_retry.js";
import { backBySnapshot, goesOnFromLate, scaledDownToOne, scaledUpOntoLate, withCompactingCluster } from "./helpers/meta_compaction.js";
import { consume } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

/** The stream sequence of C's ack floor in a member's copy. */
function ackFloorOn(c: JsTestCluster, member: string): number | undefined {
  const co = streamOn(c, member, "S")?.consumers.get("C") as unknown as { st: { ack_floor: { stream_seq: number } } } | undefined;
  return co?.st.ack_floor.stream_seq;
}

test("a server that missed a stream's R3 -> R1 -> R3, learned from the meta snapshot, rejoins the regrown group with the stream's current messages and consumer state", { timeout: 150_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const names = c.members.map((m) => m.name);
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await clusterRetry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 3 }));
    for (let i = 1; i <= 4; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    await clusterRetry(() => jsm.consumers.add("S", { durable_name: "C", ack_policy: AckPolicy.Explicit }));
    assert.deepEqual(await consume(nc, "S", "C", 2), [1, 2]);
    await waitUntil(() => names.every((n) => streamOn(c, n, "S")?.store.state().msgs === 4 && ackFloorOn(c, n) === 2), 20_000, "S's 4 messages and C's acks on every server");
    const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
    await c.stopMember(late);

    // Down to one replica (kept by a running server), a message deleted, one more stored.
    await replicaLeader(c, "S");
    await clusterRetry(() => jsm.streams.update("S", { subjects: ["s.>"], num_replicas: 1 }));
    const kept = await scaledDownToOne(c);
    assert.notEqual(kept, late);
    assert.equal(await clusterRetry(() => jsm.streams.deleteMessage("S", 2)), true);
    await clusterPublish(nc, "s.5", "m5");

    // Up to three again, onto the stopped server too: the group grows from the kept server.
    await scaledUpOntoLate(c, jsm, late, names);
    for (let i = 6; i <= 7; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
    assert.deepEqual(await consume(nc, "S", "C", 1), [3]);
    const running = names.filter((n) => n !== late);
    await waitUntil(() => running.every((n) => streamOn(c, n, "S")?.store.state().msgs === 6), 30_000, `S's 6 messages on ${running.join(", ")}`);
    const current = copyOf(c, kept, "S");
    assert.deepEqual(current.map(([seq]) => seq), [1, 3, 4, 5, 6, 7]);

    await backBySnapshot(c, nc, late, heldByLate);
    // Its copy is the stream's: message 2 gone, 5 to 7 there.
    await waitUntil(() => streamOn(c, late, "S")?.store.state().lastSeq === 7 && streamOn(c, late, "S")?.store.state().msgs === 6, 30_000, `S's 6 messages up to 7 on ${late}`).catch((err: Error) => {
      const s = streamOn(c, late, "S")?.store.state();
      throw new Error(`${err.message} (${late} holds ${s === undefined ? "no copy" : `${s.msgs} messages, ${s.firstSeq}..${s.lastSeq}`})`);
    });
    assert.deepEqual(copyOf(c, late, "S"), current);
    // A member of the group, following its leader.
    const leader = await replicaLeader(c, "S");
    assert.deepEqual([...(streamOn(c, late, "S")?.replica?.node.config.voters ?? [])].sort(), names);
    await waitUntil(
      async () => {
        const si = await clusterRetry(() => jsm.streams.info("S"));
        return si.cluster?.leader === late || si.cluster?.replicas?.some((r) => r.name === late && r.current && r.offline !== true) === true;
      },
      30_000,
      `S's info lists ${late} current (leader ${leader})`,
    );
    // C led from the server back goes on from the acks made meanwhile.
    await goesOnFromLate(c, nc, late);
    assert.deepEqual(copyOf(c, late, "S"), copyOf(c, kept, "S"));
  });
});

test("a single replica's server stopped while the stream scaled up to three, learned from the meta snapshot, starts the group with its messages and consumer, and the others join it", { timeout: 150_000 }, async () => {
  await withCompactingCluster(
    async (c, nc, late) => {
      const names = c.members.map((m) => m.name);
      const jsm = await jetstreamManager(nc, { timeout: 20_000 });
      await clusterRetry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 1, placement: { cluster: "JSC", tags: [`n:${late}`] } }));
      await waitUntil(() => streamOn(c, late, "S") !== undefined, 10_000, `S placed on ${late}`);
      for (let i = 1; i <= 3; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
      await clusterRetry(() => jsm.consumers.add("S", { durable_name: "C", ack_policy: AckPolicy.Explicit }));
      assert.deepEqual(await consume(nc, "S", "C", 1), [1]);
      const messages = copyOf(c, late, "S");
      const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
      await c.stopMember(late);

      // (No placement in the update: a scale only, which keeps the server it has.)
      JsCluster.placeableUnheard = [late];
      try {
        // (Asked again while not committed: its answer comes from the stream's server, stopped, if at all.)
        const answers: string[] = [];
        await waitUntil(
          async () => {
            if (c.js(await c.metaLeader()).cluster?.assignment("$G", "S")?.peers.length === 3) return true;
            const a = await nc.request("$JS.API.STREAM.UPDATE.S", JSON.stringify({ name: "S", subjects: ["s.>"], num_replicas: 3 }), { timeout: 3000 }).then((m) => m.string(), (err: Error) => err.message);
            answers.push(a);
            return false;
          },
          30_000,
          "the scale-up committed",
        ).catch((err: Error) => {
          throw new Error(`${err.message} (answers: ${answers.join(" | ")})`);
        });
      } finally {
        JsCluster.placeableUnheard = [];
      }

      await backBySnapshot(c, nc, late, heldByLate);
      await waitUntil(() => names.every((n) => streamOn(c, n, "S")?.store.state().msgs === 3), 30_000, "S's 3 messages on every server");
      await waitUntil(() => names.every((n) => [...(streamOn(c, n, "S")?.replica?.node.config.voters ?? [])].sort().join(",") === names.join(",")), 30_000, `S's group of ${names.join(",")} on every server`);
      for (const n of names) assert.deepEqual(copyOf(c, n, "S"), messages, n);
      await replicaLeader(c, "S");
      assert.equal((await clusterRetry(() => jsm.consumers.info("S", "C"))).ack_floor.stream_seq, 1);
      assert.deepEqual(await consume(nc, "S", "C", 2), [2, 3]);
      assert.equal(await clusterPublish(nc, "s.4", "m4"), 4);
      await waitUntil(() => names.every((n) => streamOn(c, n, "S")?.store.state().lastSeq === 4), 20_000, "message 4 on every server");
    },
    { serverTags: { S1: ["n:S1"], S2: ["n:S2"], S3: ["n:S3"] } },
  );
});
