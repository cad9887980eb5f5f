// Stream moves survive a restart in the middle: of the leader they leave, of a server they go to,
// and of the server a single replica moves off; nothing acknowledged is lost and the old servers
// drop their copies. Five tagged tsnats servers (test/helpers/js_cluster_move.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi } from "./helpers/cluster_retry.js";
import { waitUntil, TAGS, serversOf, connectWhenLed, waitForPlacement, type Info } from "./helpers/js_cluster_move.js";

test("a server restarted in the middle of a move: the move ends, nothing acknowledged is lost", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(5, "MOVE", { serverTags: TAGS });
  let nc: NatsConnection | undefined;
  try {
    nc = await connectWhenLed(c, { maxReconnectAttempts: -1 });
    const js = jetstream(nc, { timeout: 30_000 });
    const cfg = { name: "RS", subjects: ["rs.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    const created = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.RS", cfg);
    assert.equal(created.error, undefined);
    const N = 1000;
    const body = "x".repeat(1000);
    const acks = [];
    for (let i = 1; i <= N; i++) acks.push(js.publish("rs.x", `${i} ${body}`));
    assert.equal((await Promise.all(acks)).length, N);
    await jetstreamManager(nc).then((jsm) => jsm.consumers.add("RS", { durable_name: "D", ack_policy: AckPolicy.Explicit }));

    const leader = serversOf(created.cluster)[0];
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.RS", { ...cfg, placement: { tags: ["zone:b"] } })).error, undefined);
    // The stream's leader (it leaves with the move) stops at once, and comes back.
    await c.stopMember(leader);
    await c.startMember(leader);
    await waitForPlacement(nc, "RS", ["S3", "S4"], N, 90_000, "RS on S3 and S4 with its messages after the restart");
    const holds = (server: string): number | undefined => c.js(server).accounts.get("$G")?.streams.get("RS")?.store.state().msgs;
    await waitUntil(() => holds("S3") === N && holds("S4") === N, 30_000, "both new servers to hold every message");
    await waitUntil(() => holds("S1") === undefined && holds("S2") === undefined, 60_000, "the old servers to drop RS");
    for (const server of ["S3", "S4"]) assert.ok(c.js(server).accounts.get("$G")?.streams.get("RS")?.consumers.has("D"), `${server} has the durable`);

    // Back to zone a; this time a server it goes to restarts in the middle.
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.RS", cfg)).error, undefined);
    await c.stopMember("S1");
    await c.startMember("S1");
    await waitForPlacement(nc, "RS", ["S1", "S2"], N, 90_000, "RS back on S1 and S2");
    await waitUntil(() => holds("S1") === N && holds("S2") === N, 30_000, "S1 and S2 to hold every message again");
    await waitUntil(() => holds("S3") === undefined && holds("S4") === undefined, 60_000, "S3 and S4 to drop RS");

    // A single replica whose server restarts in the middle of its move.
    const one = { name: "RONE", subjects: ["rone.>"], num_replicas: 1, placement: { tags: ["zone:a"] } };
    const from = serversOf((await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.RONE", one)).cluster)[0];
    const oneAcks = [];
    for (let i = 1; i <= 300; i++) oneAcks.push(js.publish("rone.x", `${i} ${body}`));
    await Promise.all(oneAcks);
    assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.RONE", { ...one, placement: { tags: ["zone:b"] } })).error, undefined);
    await c.stopMember(from);
    await c.startMember(from);
    let last: Info | undefined;
    await waitUntil(
      async () => {
        last = await clusterApi<Info>(nc as NatsConnection, "$JS.API.STREAM.INFO.RONE").catch(() => undefined);
        const at = serversOf(last?.cluster);
        return last?.cluster?.desired === undefined && at.length === 1 && ["S3", "S4"].includes(at[0]) && last?.state?.messages === 300;
      },
      90_000,
      "RONE on a zone b server with its messages after the restart",
      () => JSON.stringify(last?.cluster),
    );
    await waitUntil(() => c.js(from).accounts.get("$G")?.streams.has("RONE") === false, 60_000, `${from} to drop RONE`);
  } finally {
    await nc?.close();
    await c.stop();
  }
});
