// A single-replica consumer of an R3 stream whose server is down, on three tsnats servers run as
// processes: the steps and what is expected are in helpers/js_cluster_consumer_offline_scenario.ts,
// the same on nats-server 2.15 in js_cluster_consumer_offline_ref.
import { test } from "node:test";
import assert from "node:assert/strict";
import { onRefJsCluster } from "./helpers/ref_js_cluster.js";
import { offlineExpected, offlineScenario } from "./helpers/js_cluster_consumer_offline_scenario.js";

test("a single-replica consumer whose server is down: pulls refused at once, info and updates 'consumer is offline', a pause answered and applied on its return, back as it was (tsnats)", { timeout: 300_000 }, async (t) => {
  const mine = await onRefJsCluster(3, "O", "tsnats", offlineScenario);
  assert.ok(mine !== undefined);
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  assert.deepEqual(mine, offlineExpected);
});
