// The steps of js_cluster_consumer_offline on a cluster of three nats-server 2.15 (the same
// configuration files, run as processes): they must see what tsnats is expected to show.
import { test } from "node:test";
import assert from "node:assert/strict";
import { onRefJsCluster } from "./helpers/ref_js_cluster.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { offlineExpected, offlineScenario } from "./helpers/js_cluster_consumer_offline_scenario.js";

test("a single-replica consumer whose server is down: pulls refused at once, info and updates 'consumer is offline', a pause answered and applied on its return, back as it was (nats-server 2.15)", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const theirs = await onRefJsCluster(3, "O", "2.15", offlineScenario);
  assert.ok(theirs !== undefined);
  t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
  assert.deepEqual(theirs, offlineExpected);
});
