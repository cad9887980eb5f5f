// Replicated consumers of an R5 stream, the same steps on five tsnats servers and on five
// nats-server 2.15 (split from js_cluster_consumer_groups.test.ts, whose file ran over the test
// runner's 120 s limit under load): an R3 durable and an R3 ephemeral, their own replicas,
// stepdown, and the server leading them killed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { scenario, type Observed } from "./helpers/js_cluster_consumer_groups.js";

test("R3 durable and R3 ephemeral of an R5 stream on five servers: own replicas, stepdown, leader killed, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(5);
  let ours: Observed;
  try {
    await c.metaLeader(60_000);
    ours = await scenario(
      c.members.map((m) => m.url),
      (server) => c.stopMember(server),
      ["E3", "D3"],
      { stream: 5, durable: 3 },
    );
  } finally {
    await c.stop();
  }
  const rest = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  assert.deepEqual(ours.create, ["D3 ok r=3", "ephemeral ok r=3"]);
  assert.deepEqual(ours.replicas, { D3: 2, E3: 2 });
  assert.deepEqual(ours.stepdownMoved, { D3: true, E3: true });
  for (const k of ["D3", "E3"]) {
    assert.deepEqual(ours.afterKill[k]?.seqs, rest, k);
    assert.equal(ours.afterKill[k]?.ackFloor, 20, k);
  }
  const ref = await startRefJsCluster(5);
  if (ref === undefined) return;
  let theirs: Observed;
  try {
    // Both survive there too: an R3 group loses at most one of its servers.
    theirs = await scenario(
      ref.urls,
      async (server) => {
        await ref.servers[Number(server.slice(1)) - 1].stop();
      },
      ["E3", "D3"],
      { stream: 5, durable: 3 },
    );
  } finally {
    await ref.stop();
  }
  assert.deepEqual(ours.create, theirs.create);
  assert.deepEqual(ours.replicas, theirs.replicas);
  assert.deepEqual(ours.stepdownMoved, theirs.stepdownMoved);
  for (const k of ["D3", "E3"]) {
    assert.deepEqual(ours.afterKill[k]?.seqs, theirs.afterKill[k]?.seqs, k);
    assert.equal(ours.afterKill[k]?.ackFloor, theirs.afterKill[k]?.ackFloor, k);
  }
});
