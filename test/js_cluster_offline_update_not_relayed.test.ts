// An update of a single-replica consumer sent while its server is down and the meta group elects
// (that server led it): the servers left hold the request, decide it once they know a leader, and
// the stream's leader answers "consumer is offline" (nats-server's meta leader answers so). The
// request is settled there, never relayed to the others (api_relay.ts): relayed, it kept being
// resent while its requester might still wait, reached the consumer's server when it came back,
// and was applied there after its requester had been told it failed (seen in the full suite as
// js_cluster_consumer_offline's "info back" with the changed config). Three tsnats servers over
// real routes, nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy } from "@nats-io/jetstream";
import { JsTestCluster, managerOn, replicaLeader } from "./helpers/js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";

type ConsumerAnswer = ClusterAnswer & { config?: { max_ack_pending?: number; description?: string }; cluster?: { leader?: string } };

/** Relays sent from `server` that no server acknowledged yet (api_relay.ts). */
function pendingRelays(c: JsTestCluster, server: string): number {
  return (c.js(server).cluster as unknown as { relay: { pending: Map<string, unknown> } }).relay.pending.size;
}

test("an update of a single-replica consumer held through the meta election its server's stop started is answered 'consumer is offline' and not applied when that server returns", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { withSystemUser: true });
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { jsm } = await managerOn(c.members[0].url, ncs);
    await jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 });
    const ci = await jsm.consumers.add("O", { durable_name: "D1", ack_policy: AckPolicy.Explicit, num_replicas: 1 } as never);
    const host = ci.cluster?.leader ?? "";
    assert.ok(host !== "", "D1 has a server");
    // Its server leads the meta group too: its stop starts an election.
    const sys = await connect({ servers: c.members[0].url, user: "sys", pass: "sys" });
    ncs.push(sys);
    await waitUntil(
      async () => {
        if ((await c.metaLeader()) === host) return true;
        await sys.request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred: host } }), { timeout: 5000 }).catch(() => undefined);
        return false;
      },
      30_000,
      `${host} leads the meta group`,
    );
    const other = c.members.find((m) => m.name !== host)!;
    const nc = await connect({ servers: other.url });
    ncs.push(nc);
    // O's group led elsewhere, so that a leader of O answers the update while D1's server is down.
    await waitUntil(
      async () => {
        if ((await replicaLeader(c, "O")) === other.name) return true;
        await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.O", JSON.stringify({ placement: { preferred: other.name } }), { timeout: 5000 }).catch(() => undefined);
        return false;
      },
      30_000,
      `${other.name} leads O`,
    );
    assert.equal(await c.metaLeader(), host, `${host} still leads the meta group`);

    await c.stopMember(host);
    const update = { stream_name: "O", config: { durable_name: "D1", ack_policy: "explicit", num_replicas: 1, max_ack_pending: 7, description: "changed" } };
    const answer = JSON.parse((await nc.request("$JS.API.CONSUMER.CREATE.O.D1", JSON.stringify(update), { timeout: 10_000 })).string()) as ConsumerAnswer;
    assert.equal(answer.error?.err_code, 10119, `the update is answered 'consumer is offline': ${JSON.stringify(answer)}`);
    // Settled: neither server left has a relay of it under way (one would reach D1's server on its return).
    for (const m of c.members.filter((m) => m.name !== host)) {
      assert.equal(pendingRelays(c, m.name), 0, `${m.name} relays nothing`);
    }

    // Back within the time its requester might still have waited.
    await c.startMember(host);
    let back: ConsumerAnswer = {};
    await waitUntil(
      async () => {
        back = await clusterApi<ConsumerAnswer>(nc, "$JS.API.CONSUMER.INFO.O.D1");
        return back.error === undefined && back.cluster?.leader === host;
      },
      30_000,
      "D1 answered by its server again",
    );
    assert.equal(back.config?.max_ack_pending, 1000, "D1's config as it was");
    assert.equal(back.config?.description, undefined);
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
