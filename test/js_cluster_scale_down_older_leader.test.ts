// A rolling upgrade: a stream led by a server of an older tsnats (from before e1ad756, whose
// stream leader never says it picked the servers of a scale-down and goes on with it at once)
// scales down R3 -> R1 under a meta leader of this version. The scale-down completes on the
// servers the meta leader chose (its leader), and every server ends with the consumers as that
// leader has them (those asking for 3 rewritten to 1), as when the leader picks.
// Three in-process servers (JsTestCluster); the older leader is this version with its cluster's
// view of a scale-down as the older code had it: never "picking" (it moves at once, and its
// consumers follow the update as it applies it), and no pick said.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { consume, consumerLine, infoWithLeader, streamWithConsumers, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import type { Stream } from "../src/jetstream/stream.js";

const CONSUMERS = [
  { name: "D", config: { durable_name: "D", num_replicas: 0 } },
  { name: "D3", config: { durable_name: "D3", num_replicas: 3 } },
  { name: "E3", config: { name: "E3", num_replicas: 3, inactive_threshold: 300e9 } },
];

test("a stream led by an older server (it never says it picked) scales down R3 -> R1 on the server the meta leader chose; its consumers follow on every server", { timeout: 110_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    const meta = await c.metaAllCurrent();
    const cfg = await streamWithConsumers(nc, 3, CONSUMERS);
    // The stream led by a server that does not lead the meta group.
    let old = await replicaLeader(c, "S");
    const to = names.find((n) => n !== meta && n !== old) as string;
    if (old === meta) {
      await waitUntil(
        async () => {
          if ((await replicaLeader(c, "S")) !== meta) return true;
          await clusterApi(nc, "$JS.API.STREAM.LEADER.STEPDOWN.S", { placement: { preferred: to } });
          return false;
        },
        30_000,
        `S led off ${meta}`,
      );
      old = await replicaLeader(c, "S");
    }
    const cluster = c.js(old).cluster;
    assert.ok(cluster !== undefined);
    const move = (s: Stream) => cluster.assignment(s.jsa.account.name, s.name)?.move;
    Object.assign(cluster, {
      scaleDownPicking: () => false,
      scaleDownPicked: () => undefined,
      movingTo: (s: Stream) => move(s)?.peers,
      scalingDown: (s: Stream) => move(s)?.scaleDown === true,
    });

    const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 });
    assert.equal(down.error, undefined, JSON.stringify(down.error));
    await waitUntil(
      () => names.every((n) => {
        const sa = c.js(n).cluster?.assignment("$G", "S");
        return sa?.move === undefined && sa?.peers.join(",") === old && (n === old) === (streamOn(c, n, "S") !== undefined);
      }),
      60_000,
      `S on ${old} alone, the scale-down over`,
    );
    const expected = ["D R0", "D3 R1", "E3 R1"];
    await waitUntil(() => CONSUMERS.map((k) => `${k.name} R${streamOn(c, old, "S")?.consumers.get(k.name)?.cfg.num_replicas}`).join() === expected.join(), 30_000, `the consumers on ${old}: ${expected.join(", ")}`);
    for (const k of CONSUMERS) {
      const info = await infoWithLeader(nc, "S", k.name);
      assert.equal(consumerLine(info), `R${k.name === "D" ? 0 : 1} on ${old}: delivered 5 ack floor 5`, k.name);
      assert.deepEqual(await consume(nc, "S", k.name, 2), [6, 7], k.name);
    }
  } finally {
    await nc.close();
    await c.stop();
  }
});
