// A STREAM.RESTORE assigned to a server that learns of it only from the meta leader's snapshot
// (it was stopped when the restore's entry was committed, and the meta log was compacted past it
// before it came back). It stayed "restoring" for good: the restore ran only from the entry
// applied live. Now it runs when the snapshot brings it, as the entry would have: a client still
// waiting for the restore's first answer gets it and sends the backup, which ends restored there;
// a client that gave up sends nothing, the restore idles out and fails, and its assignment goes
// (no stream left listed), as any failed restore's.
// nats-server 2.15.1 (source, server/jetstream_cluster.go): its meta snapshot carries no restore
// state nor reply (writeableStreamAssignment), so applyMetaSnapshot's processClusterCreateStream
// creates the stream empty from its config and nobody answers the client; not reproduced here.
// Three in-process servers (JsTestCluster) tagged by name, the meta group snapshotting every 8
// entries in log segments of 4 KB; JsCluster.placeableUnheard places the restore on the stopped one
// (the others hold a stream each).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { type JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish, clusterRetry, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { backBySnapshot, withCompactingCluster } from "./helpers/meta_compaction.js";
import { consume } from "./helpers/js_cluster_consumer_groups.js";
import { sendBackup, takeSnapshot } from "./helpers/snapshot.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

const TAGS = { serverTags: { S1: ["n:S1"], S2: ["n:S2"], S3: ["n:S3"] } };

type Json = Record<string, any>;



/**
 * A backup of A (10 messages, durable D with 3 acknowledged), A deleted; `late` stopped, and the
 * restore of A on `late` asked (`timeoutMs`: how long the client waits for its first answer) and
 * committed. Returns the backup and the pending first answer.
 */
async function restoreOnStopped(c: JsTestCluster, nc: NatsConnection, late: string, timeoutMs: number): Promise<{ data: Buffer; heldByLate: number; first: Promise<Json> }> {
  const jsm = await jetstreamManager(nc, { timeout: 20_000 });
  await clusterRetry(() => jsm.streams.add({ name: "A", subjects: ["a.>"], num_replicas: 1 }));
  for (let i = 1; i <= 10; i++) await clusterPublish(nc, `a.${i}`, `m${i}`);
  await clusterRetry(() => jsm.consumers.add("A", { durable_name: "D", ack_policy: AckPolicy.Explicit }));
  assert.deepEqual(await consume(nc, "A", "D", 3), [1, 2, 3]);
  const snap = await takeSnapshot(nc, "A");
  assert.equal(snap.resp.error, undefined, JSON.stringify(snap.resp));
  assert.equal(snap.resp.state.messages, 10);
  await clusterRetry(() => jsm.streams.delete("A"));
  const heldByLate = c.js(late).cluster?.node?.lastIndex ?? 0;
  await c.stopMember(late);

  // (Placed on the server holding the fewest streams: the others hold one each.)
  for (const other of c.members.map((m) => m.name).filter((n) => n !== late)) {
    await clusterRetry(() => jsm.streams.add({ name: `P${other}`, subjects: [`p.${other}`], num_replicas: 1, placement: { cluster: "JSC", tags: [`n:${other}`] } }));
  }
  const config = { ...snap.resp.config, num_replicas: 1 };
  JsCluster.placeableUnheard = [late];
  let first: Promise<Json>;
  try {
    first = nc.request("$JS.API.STREAM.RESTORE.A", JSON.stringify({ config, state: snap.resp.state }), { timeout: timeoutMs }).then(
      (m) => m.json<Json>(),
      (err: Error) => ({ failed: err.message }),
    );
    await waitUntil(
      async () => {
        const sa = c.js(await c.metaLeader()).cluster?.assignment("$G", "A");
        return sa?.restoring === true && sa.owner === late;
      },
      20_000,
      `the restore of A assigned to ${late}`,
    ).catch(async (err: Error) => {
      const answered = await Promise.race([first, new Promise((r) => setTimeout(() => r("no answer yet"), 100))]);
      throw new Error(`${err.message} (answer: ${JSON.stringify(answered)})`);
    });
  } finally {
    JsCluster.placeableUnheard = [];
  }
  return { data: snap.data, heldByLate, first };
}

test("a restore assigned to a server that learns of it from the meta snapshot runs there: the client still waiting sends the backup, restored with its durable", { timeout: 240_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const { data, heldByLate, first } = await restoreOnStopped(c, nc, late, 120_000);
    await backBySnapshot(c, nc, late, heldByLate);
    const answer = await first;
    assert.equal(typeof answer.deliver_subject, "string", `the restore's first answer: ${JSON.stringify(answer)}`);
    const done = await sendBackup(nc, answer.deliver_subject as string, data, 1024);
    assert.equal(done.error, undefined, JSON.stringify(done));
    assert.equal(done.state?.messages, 10);
    await waitUntil(
      async () => {
        const sa = c.js(await c.metaLeader()).cluster?.assignment("$G", "A");
        return sa !== undefined && sa.restoring !== true;
      },
      20_000,
      "A's restore over in the meta group",
    );
    assert.equal(streamOn(c, late, "A")?.store.state().msgs, 10);
    const info = await clusterApi<ClusterAnswer & { state?: { messages: number }; cluster?: { leader?: string } }>(nc, "$JS.API.STREAM.INFO.A");
    assert.equal(info.error, undefined, JSON.stringify(info));
    assert.equal(info.state?.messages, 10);
    assert.equal(info.cluster?.leader, late);
    const d = await clusterApi<{ ack_floor?: { stream_seq: number } }>(nc, "$JS.API.CONSUMER.INFO.A.D");
    assert.equal(d.ack_floor?.stream_seq, 3, JSON.stringify(d));
    assert.deepEqual(await consume(nc, "A", "D", 2), [4, 5]);
    assert.equal(await clusterPublish(nc, "a.11", "m11"), 11);
  }, TAGS);
});

test("a restore assigned to a server that learns of it from the meta snapshot, its client gone: it fails there and its assignment goes", { timeout: 240_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const { heldByLate, first } = await restoreOnStopped(c, nc, late, 2000);
    assert.equal(typeof (await first).failed, "string", "the client gave up waiting");
    await backBySnapshot(c, nc, late, heldByLate);
    await waitUntil(async () => c.js(await c.metaLeader()).cluster?.assignment("$G", "A") === undefined, 30_000, "A's assignment removed").catch(async (err: Error) => {
      throw new Error(`${err.message} (${JSON.stringify(c.js(await c.metaLeader()).cluster?.assignment("$G", "A"))})`);
    });
    const names = await clusterApi<{ streams?: string[] | null }>(nc, "$JS.API.STREAM.NAMES");
    assert.ok(!(names.streams ?? []).includes("A"), JSON.stringify(names));
    const info = await clusterApi(nc, "$JS.API.STREAM.INFO.A");
    assert.equal(info.error?.err_code, 10059);
    assert.equal(streamOn(c, late, "A"), undefined);
    // The name is free again.
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await clusterRetry(() => jsm.streams.add({ name: "A", subjects: ["a.>"], num_replicas: 1 }));
  }, TAGS);
});
