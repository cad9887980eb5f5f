// A replicated consumer's member removed by a scale-down (R3 -> R2) leaves the consumer's group
// only once the entry removing it is committed, as nats-server acts on a peer removal in
// applyCommit: until then a leader that never had the entry may replace it, and the member is
// one again. Here the group's leader, from the moment its membership leaves a member out, reaches
// only that member: the removal is received there and cannot commit (the one member left in the
// new membership never gets it). The removed member keeps its group (it dropped it on receipt
// before). Once the leader reaches both again the removal commits, and the member leaves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import type { RaftMsg, RaftNode } from "../src/cluster/raft.js";

test("a consumer's member that received the entry removing it keeps its group until the removal is committed, then leaves", { timeout: 90_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    assert.equal((await createStreamWhenPlaced(nc, { name: "S", subjects: ["s.>"], num_replicas: 3 })).error, undefined);
    for (const m of ["m1", "m2", "m3"]) await clusterPublish(nc, "s.x", m);
    assert.equal((await clusterApi(nc, "$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { durable_name: "D", ack_policy: "explicit" } })).error, undefined);
    const names = c.members.map((m) => m.name);
    const groupNode = (server: string): RaftNode | undefined => streamOn(c, server, "S")?.replica?.consumerGroupNode("D");
    let leader = "";
    await waitUntil(
      () => {
        const seen = names.map((n) => groupNode(n)?.leader ?? "");
        leader = seen[0];
        return leader !== "" && seen.every((l) => l === leader) && groupNode(leader)?.leaderReady === true;
      },
      30_000,
      "the consumer's group led",
    );
    const lnode = groupNode(leader) as RaftNode;
    const transport = (lnode as unknown as { transport: { send(to: string, msg: RaftMsg): void } }).transport;
    const send = transport.send;
    let removed = "";
    transport.send = (to, msg) => {
      const out = names.find((n) => n !== leader && !lnode.config.voters.includes(n) && !lnode.config.learners.includes(n));
      if (out !== undefined) {
        removed = out;
        if (to !== out) return;
      }
      send.call(transport, to, msg);
    };
    const before = new Map(names.map((n) => [n, groupNode(n) as RaftNode]));
    // (Answered once the removal commits: not waited for here.)
    nc.request("$JS.API.CONSUMER.CREATE.S.D", JSON.stringify({ stream_name: "S", config: { durable_name: "D", ack_policy: "explicit", num_replicas: 2 } }), { timeout: 30_000 }).catch(() => undefined);
    await waitUntil(() => removed !== "" && !(before.get(removed) as RaftNode).config.voters.includes(removed), 30_000, "the removed member has the entry removing it");
    const g = before.get(removed) as RaftNode;
    assert.ok(g.committedMembership.voters.includes(removed), "its removal is not committed");
    assert.equal(groupNode(removed), g, `${removed} keeps the consumer's group`);
    assert.equal(g.stopped, false, "its group still runs");
    // The leader reaches every member again: the removal commits, then the member leaves.
    transport.send = send;
    await waitUntil(() => groupNode(removed) !== g && g.stopped, 30_000, `${removed} left the group once its removal committed`);
    await waitUntil(
      async () => {
        const ci = await clusterApi<{ config?: { num_replicas?: number }; cluster?: { leader?: string; replicas?: Array<{ name: string }> } }>(nc, "$JS.API.CONSUMER.INFO.S.D");
        const members = [ci.cluster?.leader ?? "", ...(ci.cluster?.replicas ?? []).map((r) => r.name)];
        return ci.config?.num_replicas === 2 && members.length === 2 && !members.includes(removed);
      },
      30_000,
      `the consumer R2, without ${removed}`,
    );
  } finally {
    await nc.close();
    await c.stop();
  }
});
