// A server that missed a stream's scale-down R5 -> R3 (which took it out of the group) and the
// scale-up back to R5 (which put it back), learning both only from the meta leader's SNAPSHOT,
// ends with the stream's current messages and consumer state and follows the group. Unlike a
// scale-down to one replica (js_cluster_meta_snapshot_regrown_group) the group went on with its
// log throughout: the copy's log is a prefix of it, and the group's leader catches it up (the
// deletion made meanwhile included) as any member behind.
// Five in-process servers (JsTestCluster), the meta group snapshotting every 8 entries in log
// segments of 4 KB; JsCluster.placeableUnheard lets the scale-up place on the stopped server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterPublish, clusterRetry } from "./helpers/cluster_retry.js";
import { backBySnapshot, goesOnFromLate, withCompactingCluster } from "./helpers/meta_compaction.js";
import { consume } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

test("a server that missed a stream's R5 -> R3 -> R5, learned from the meta snapshot, holds its current messages and consumer state and follows the group", { timeout: 180_000 }, async () => {
  await withCompactingCluster(
    async (c, nc) => {
      const names = c.members.map((m) => m.name);
      const jsm = await jetstreamManager(nc, { timeout: 20_000 });
      await clusterRetry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 5 }));
      for (let i = 1; i <= 4; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
      await clusterRetry(() => jsm.consumers.add("S", { durable_name: "C", ack_policy: AckPolicy.Explicit }));
      assert.deepEqual(await consume(nc, "S", "C", 2), [1, 2]);
      await waitUntil(() => names.every((n) => streamOn(c, n, "S")?.store.state().msgs === 4), 20_000, "S's 4 messages on every server");
      // The server to stop: one the scale-down leaves (the meta leader keeps the stream's leader
      // and the first others of its assignment), not the meta leader.
      const meta = await c.metaLeader();
      const leader = await replicaLeader(c, "S");
      const peers = c.js(meta).cluster?.assignment("$G", "S")?.peers ?? [];
      const kept = [leader, ...peers.filter((p) => p !== leader)].slice(0, 3);
      const late = peers.find((p) => !kept.includes(p) && p !== meta) ?? "";
      assert.notEqual(late, "");
      const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
      await c.stopMember(late);

      await clusterRetry(() => jsm.streams.update("S", { subjects: ["s.>"], num_replicas: 3 }));
      await waitUntil(
        () => {
          const sa = c.js(meta).cluster?.assignment("$G", "S");
          return sa !== undefined && sa.move === undefined && sa.peers.length === 3;
        },
        60_000,
        "S scaled down to three",
      );
      assert.ok(!(c.js(meta).cluster?.assignment("$G", "S")?.peers ?? []).includes(late), `${late} left the group`);
      assert.equal(await clusterRetry(() => jsm.streams.deleteMessage("S", 2)), true);
      await clusterPublish(nc, "s.5", "m5");
      assert.deepEqual(await consume(nc, "S", "C", 1), [3]);

      JsCluster.placeableUnheard = [late];
      try {
        await clusterRetry(() => jsm.streams.update("S", { subjects: ["s.>"], num_replicas: 5 }));
      } finally {
        JsCluster.placeableUnheard = [];
      }
      assert.deepEqual([...(c.js(meta).cluster?.assignment("$G", "S")?.peers ?? [])].sort(), names, "S back on every server");
      for (let i = 6; i <= 7; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
      const running = names.filter((n) => n !== late);
      await waitUntil(() => running.every((n) => streamOn(c, n, "S")?.store.state().lastSeq === 7), 30_000, `S up to 7 on ${running.join(", ")}`);
      const current = copyOf(c, leader, "S");
      assert.deepEqual(current.map(([seq]) => seq), [1, 3, 4, 5, 6, 7]);

      await backBySnapshot(c, nc, late, heldByLate);
      await waitUntil(() => streamOn(c, late, "S")?.store.state().lastSeq === 7 && streamOn(c, late, "S")?.store.state().msgs === 6, 30_000, `S's 6 messages up to 7 on ${late}`).catch((err: Error) => {
        const s = streamOn(c, late, "S")?.store.state();
        throw new Error(`${err.message} (${late} holds ${s === undefined ? "no copy" : `${s.msgs} messages, ${s.firstSeq}..${s.lastSeq}`})`);
      });
      assert.deepEqual(copyOf(c, late, "S"), current);
      await waitUntil(() => [...(streamOn(c, late, "S")?.replica?.node.config.voters ?? [])].sort().join(",") === names.join(","), 30_000, `${late} in a group of every server`);
      // C led from the server back goes on from the acks made meanwhile.
      await goesOnFromLate(c, nc, late);
    },
    {},
    5,
  );
});
