// The steps of js_cluster_sources (replicated mirror and source across leader changes, a purge,
// a work-queue origin) on a cluster of three nats-server 2.15 servers: the outcome tsnats is
// held to is what nats-server shows.
import { test } from "node:test";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { sourcesScenario, assertSourcesOutcome } from "./helpers/js_cluster_sources_scenario.js";

test("R3 mirror and source on nats-server 2.15: the outcome js_cluster_sources expects", { timeout: 400_000 }, async (t) => {
  const ref = await startRefJsCluster(3);
  if (ref === undefined) {
    t.skip("nats-server 2.15 is not installed");
    return;
  }
  try {
    assertSourcesOutcome(await sourcesScenario(ref.urls));
  } finally {
    await ref.stop();
  }
});
