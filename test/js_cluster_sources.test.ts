// Mirrors and sources of replicated (R3) streams: the stream's leader runs the origin consumers
// and proposes what it copies through the stream's group, so every member holds the same copy;
// after a leader change the new leader resumes from the replicated position (the mirror's last
// sequence, the newest Nats-Stream-Source header, or the positions each member keeps before a
// purge) with no gap and no duplicate. The same steps on nats-server 2.15 give the same outcome
// (js_cluster_sources_vs_nats_server).
import { test } from "node:test";
import assert from "node:assert/strict";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { sourcesScenario, assertSourcesOutcome } from "./helpers/js_cluster_sources_scenario.js";

test("R3 mirror and source: copies replicated, resumed by a new leader with no gap and no duplicate", { timeout: 400_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Record<string, unknown>;
  try {
    await c.metaLeader();
    ours = await sourcesScenario(
      c.members.map((m) => m.url),
      // Every member's copy holds what the leader's holds.
      async (stream, expect) => {
        const held = (m: string): number => c.js(m).accounts.get("$G")?.streams.get(stream)?.store.state().msgs ?? -1;
        await waitUntil(() => c.members.every((m) => held(m.name) === expect), 30_000, `${expect} messages of ${stream} on every member`);
        const lastSeqs = c.members.map((m) => c.js(m.name).accounts.get("$G")?.streams.get(stream)?.store.state().lastSeq);
        assert.ok(lastSeqs.every((s) => s === lastSeqs[0]), `the same last sequence of ${stream} everywhere: ${lastSeqs.join(",")}`);
      },
    );
  } finally {
    await c.stop();
  }
  assertSourcesOutcome(ours);
});
