// A stream's scale-down leaves its consumers as they are until its leader picked the servers it
// keeps, as nats-server 2.15 remaps them only once its stream leader selected the peers to scale
// down to; a scale back up asked before that (R3 -> R1 -> R3 at once) leaves them untouched.
// tsnats rewrote the consumers asking for 3 to 1 as it applied the update to R1, so after the
// scale back they stayed R1 (nats-server's stay R3 on their three servers).
//
// Three in-process servers (JsTestCluster): the pick is held (each server's cluster ignores its
// stream leader's notice that it picked), so the scale back up comes first whatever the timing.
// The side-by-side runs with nats-server are js_cluster_stream_rescale_consumers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { consume, consumerLine, infoWithLeader, streamWithConsumers, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { JsCluster } from "../src/jetstream/cluster.js";

const CONSUMERS = [
  { name: "D3", config: { durable_name: "D3", num_replicas: 3 } },
  { name: "D", config: { durable_name: "D", num_replicas: 0 } },
  { name: "E", config: { name: "E", num_replicas: 3, inactive_threshold: 300e9 } },
];

async function lines(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  for (const k of CONSUMERS) out.push(`${k.name} ${consumerLine(await infoWithLeader(nc, "S", k.name))}`);
  return out;
}

test("R3 -> R1 -> R3 before the scale-down picked its server: the consumers keep their replicas and servers throughout", { timeout: 120_000 }, async () => {
  const pickFallbackMs = JsCluster.pickFallbackMs;
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    const cfg = await streamWithConsumers(nc, 3, CONSUMERS);
    let before: string[] = [];
    await waitUntil(async () => (before = await lines(nc)).every((l) => l.includes("ack floor 5") && l.split(" on ")[1].split(",").length === 3), 30_000, "every consumer on three servers, 5 acknowledged");

    // No stream leader's pick reaches a meta leader, and no meta leader picks instead.
    JsCluster.pickFallbackMs = Infinity;
    for (const n of names) Object.assign(c.js(n).cluster as object, { scaleDownPicked: () => undefined });
    const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 });
    assert.equal(down.error, undefined, JSON.stringify(down.error));
    await waitUntil(async () => ((await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.S")).cluster as { desired?: { status?: { description?: string } } } | undefined)?.desired?.status?.description === "selecting peers to scale down to", 30_000, "S selecting the server it keeps");
    assert.deepEqual(await lines(nc), before, "while the stream selects its server");
    for (const n of names) for (const k of CONSUMERS) assert.equal(streamOn(c, n, "S")?.consumers.get(k.name)?.cfg.num_replicas, k.config.num_replicas, `${k.name} on ${n}`);

    const up = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 });
    assert.equal(up.error, undefined, JSON.stringify(up.error));
    await waitUntil(
      async () => {
        const si = await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.S");
        const cl = si.cluster as { desired?: unknown; replicas?: Array<{ current?: boolean }> } | undefined;
        return si.config?.num_replicas === 3 && cl?.desired === undefined && cl?.replicas?.length === 2 && cl.replicas.every((r) => r.current === true);
      },
      30_000,
      "S settled as R3",
    );
    assert.deepEqual(await lines(nc), before, "once the stream is R3 again");
    for (const n of names) for (const k of CONSUMERS) assert.equal(streamOn(c, n, "S")?.consumers.get(k.name)?.cfg.num_replicas, k.config.num_replicas, `${k.name} on ${n}`);
    // Each goes on from its state.
    for (const k of CONSUMERS) assert.deepEqual(await consume(nc, "S", k.name, 2), [6, 7], k.name);
  } finally {
    JsCluster.pickFallbackMs = pickFallbackMs;
    await nc.close();
    await c.stop();
  }
});
