// A single-replica stream moved (placement update) while one of the two servers of its move was
// stopped, learned by that server only from the meta leader's SNAPSHOT: the move goes on and ends
// on the server it goes to, with the messages and the consumer's state.
// A single replica moves through a group its server starts alone, which the server it goes to
// joins (the move's entry: peersChanged, attachReplica alone). Source case: the server holding
// the stream missed that entry; its copy, before and after the snapshot assigned to it, had no
// group, and nothing started one (only the start-up check restarted a move's group, for moves in
// the meta state its own log held). Destination case: the server the stream goes to missed it;
// it creates the stream as a member joining the move's group (createMissingAssigned); its meta
// member is cut off (pauseRaft) rather than stopped while the move is placed, so that its tags
// (known from its routes) place the move on it.
// Three in-process servers (JsTestCluster) tagged n:S1..n:S3, the meta group snapshotting every 8
// entries in log segments of 4 KB; JsCluster.placeableUnheard lets the move place on the stopped server.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { copyOf, type JsTestCluster, pauseRaft, streamOn } from "./helpers/js_cluster.js";
import type { RaftNode } from "../src/cluster/raft.js";
import { clusterPublish, clusterRetry } from "./helpers/cluster_retry.js";
import { backBySnapshot, withCompactingCluster } from "./helpers/meta_compaction.js";
import { consume } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

const TAGS = { serverTags: { S1: ["n:S1"], S2: ["n:S2"], S3: ["n:S3"] } };

/** The assignment of S as the server out of the move (never stopped) holds it. */
function assigned(c: JsTestCluster, from: string, to: string): { peers: string[]; moving: boolean } {
  const third = c.members.map((m) => m.name).find((n) => n !== from && n !== to) ?? "";
  const sa = c.js(third).cluster?.assignment("$G", "S");
  return { peers: [...(sa?.peers ?? [])].sort(), moving: sa?.move !== undefined };
}

/** S on `from` (3 messages, durable C with 1 acked) moved to `to` while `stopped` (one of them) is down; it comes back by the meta snapshot and the move ends on `to`. */
async function moveWhileStopped(c: JsTestCluster, nc: NatsConnection, from: string, to: string, stopped: string): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 20_000 });
  await clusterRetry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 1, placement: { cluster: "JSC", tags: [`n:${from}`] } }));
  await waitUntil(() => assigned(c, from, to).peers.join(",") === from, 10_000, `S placed on ${from}`);
  for (let i = 1; i <= 3; i++) await clusterPublish(nc, `s.${i}`, `m${i}`);
  await clusterRetry(() => jsm.consumers.add("S", { durable_name: "C", ack_policy: AckPolicy.Explicit }));
  assert.deepEqual(await consume(nc, "S", "C", 1), [1]);
  const messages = copyOf(c, from, "S");
  const heldByStopped = c.js(stopped).cluster?.node?.lastIndex ?? 0;
  // The server the move goes to must be placeable (its tags are known from its routes): its meta
  // group member is cut off (it misses the move's entry), the server stopped once the move is in.
  const resume = stopped === to ? pauseRaft(c.js(stopped).cluster?.node as RaftNode, true) : undefined;
  if (resume === undefined) await c.stopMember(stopped);

  JsCluster.placeableUnheard = [stopped];
  try {
    // (Answered by the stream's server once it runs the update: not when that server is the one stopped.)
    const cfg = { name: "S", subjects: ["s.>"], num_replicas: 1, placement: { cluster: "JSC", tags: [`n:${to}`] } };
    await nc.request("$JS.API.STREAM.UPDATE.S", JSON.stringify(cfg), { timeout: 5000 }).catch(() => undefined);
    await waitUntil(() => assigned(c, from, to).moving, 20_000, "the move committed");
  } finally {
    JsCluster.placeableUnheard = [];
  }
  if (resume !== undefined) {
    assert.equal(c.js(stopped).cluster?.node?.lastIndex, heldByStopped, `${stopped} missed the move`);
    await c.stopMember(stopped);
  }
  assert.deepEqual(assigned(c, from, to), { peers: [from, to].sort(), moving: true });

  await backBySnapshot(c, nc, stopped, heldByStopped);
  await waitUntil(
    () => {
      const a = assigned(c, from, to);
      return !a.moving && a.peers.join(",") === to;
    },
    60_000,
    `S moved to ${to}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (${JSON.stringify(assigned(c, from, to))}; group on ${from}: ${streamOn(c, from, "S")?.replica?.node.config.voters.join(",") ?? "none"}, on ${to}: ${streamOn(c, to, "S")?.replica?.node.config.voters.join(",") ?? "none"})`);
  });
  await waitUntil(() => streamOn(c, from, "S") === undefined && streamOn(c, to, "S")?.replica === undefined, 30_000, `S's copy gone from ${from}, ${to} holds it alone`);
  assert.deepEqual(copyOf(c, to, "S"), messages);
  const ci = await clusterRetry(() => jsm.consumers.info("S", "C"));
  assert.equal(ci.ack_floor.stream_seq, 1);
  assert.deepEqual(await consume(nc, "S", "C", 2), [2, 3]);
  await clusterPublish(nc, "s.4", "m4");
  assert.deepEqual(copyOf(c, to, "S").map(([seq]) => seq), [1, 2, 3, 4]);
}

test("a single replica's server stopped while a placement update moved it, learned from the meta snapshot, starts the move's group and the move ends", { timeout: 150_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const to = c.members.map((m) => m.name).find((n) => n !== late) ?? "";
    await moveWhileStopped(c, nc, late, to, late);
  }, TAGS);
});

test("the server a single replica moves to, stopped when the move was placed on it and learned from the meta snapshot, joins the move's group and the move ends", { timeout: 150_000 }, async () => {
  await withCompactingCluster(async (c, nc, late) => {
    const from = c.members.map((m) => m.name).find((n) => n !== late) ?? "";
    await moveWhileStopped(c, nc, from, late, late);
  }, TAGS);
});
