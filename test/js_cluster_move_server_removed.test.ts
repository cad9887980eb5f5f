// A stream move whose target server dies and is removed from the cluster ($JS.API.SERVER.REMOVE)
// before the move ends: another server of the zone takes its place and the move ends there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { waitUntil, connectWhenLed, waitForPlacement, type Info } from "./helpers/js_cluster_move.js";

test("a server the stream moves to dies and is removed from the cluster in the middle of the move: another server takes its place in the move", { timeout: 300_000 }, async () => {
  // Zone a: S1, S2; zone b: S3, S4, S5.
  const c = await JsTestCluster.start(5, "MOVE", { withSystemUser: true, serverTags: { S1: ["zone:a"], S2: ["zone:a"], S3: ["zone:b"], S4: ["zone:b"], S5: ["zone:b"] } });
  let nc: NatsConnection | undefined;
  let sys: NatsConnection | undefined;
  try {
    nc = await connectWhenLed(c, { user: "a", pass: "a" });
    sys = await connect({ servers: c.members.map((m) => m.url), user: "sys", pass: "sys", timeout: 20_000 });
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "SR", subjects: ["sr.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.SR", cfg)).error, undefined);
    const N = 500;
    const body = "y".repeat(1000);
    const acks = [];
    for (let i = 1; i <= N; i++) acks.push(js.publish("sr.x", `${i} ${body}`));
    await Promise.all(acks);
    const moved = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.SR", { ...cfg, placement: { tags: ["zone:b"] } });
    assert.equal(moved.error, undefined);
    const targets = (moved.cluster?.desired?.replicas ?? []).map((r) => r.name);
    assert.equal(targets.length, 2);
    // One of them dies before it caught up (the move cannot end with it) and is removed.
    const gone = targets[1];
    await c.stopMember(gone);
    const removed = await clusterApi(sys, "$JS.API.SERVER.REMOVE", { peer: gone });
    assert.equal(removed.error, undefined, JSON.stringify(removed));
    const expected = ["S3", "S4", "S5"].filter((s) => s !== gone);
    await waitForPlacement(nc, "SR", expected, N, 180_000, `SR on ${expected.join(" and ")}`);
    const holds = (server: string): number | undefined => c.js(server).accounts.get("$G")?.streams.get("SR")?.store.state().msgs;
    await waitUntil(() => expected.every((s) => holds(s) === N), 30_000, "the servers it moved to to hold every message");
  } finally {
    await sys?.close();
    await nc?.close();
    await c.stop();
  }
});
