// A stream move refused while a server of the target zone is down (10005), accepted once it is
// back, then cancelled while that server is down again (the move cannot end): the stream stays on
// its servers with every message and the servers it had started to move to drop their copies.
// Five tagged tsnats servers (test/helpers/js_cluster_move.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { waitUntil, TAGS, connectWhenLed, waitForPlacement, type Info } from "./helpers/js_cluster_move.js";

test("a move that cannot end (a server it goes to is down) is cancelled: the stream stays where it was, with every message", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(5, "MOVE", { serverTags: TAGS });
  let nc: NatsConnection | undefined;
  try {
    nc = await connectWhenLed(c);
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "CM", subjects: ["cm.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.CM", cfg)).error, undefined);
    const N = 300;
    const acks = [];
    for (let i = 1; i <= N; i++) acks.push(js.publish("cm.x", `cm ${i}`));
    await Promise.all(acks);
    await c.stopMember("S4");
    // With S4 down zone b has one server that is current: no room for two replicas there.
    const refused = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.CM", { ...cfg, placement: { tags: ["zone:b"] } });
    assert.equal(refused.error?.err_code, 10005, JSON.stringify(refused.error));
    await c.startMember("S4");
    await c.metaLeader(60_000);
    let moved: Info | undefined;
    await waitUntil(
      async () => {
        moved = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.UPDATE.CM", { ...cfg, placement: { tags: ["zone:b"] } });
        return moved.error === undefined;
      },
      60_000,
      "the move to be accepted once S4 is back",
      () => JSON.stringify(moved?.error),
    );
    // S4 goes down again before the move could end: the move waits for it.
    await c.stopMember("S4");
    const cancelled = await clusterApi<Info>(nc, "$JS.API.STREAM.CANCEL_MOVE.CM");
    assert.equal(cancelled.error, undefined, JSON.stringify(cancelled.error));
    await waitForPlacement(nc, "CM", ["S1", "S2"], N, 120_000, "CM back on S1 and S2");
    await waitUntil(() => c.js("S3").accounts.get("$G")?.streams.has("CM") === false, 30_000, "S3 to drop CM");
    // S4 comes back: what it had of CM goes.
    await c.startMember("S4");
    await waitUntil(() => c.js("S4").accounts.get("$G")?.streams.has("CM") !== true, 60_000, "S4 not to keep CM");
    assert.equal((await js.publish("cm.x", "after")).seq, N + 1);
  } finally {
    await nc?.close();
    await c.stop();
  }
});
