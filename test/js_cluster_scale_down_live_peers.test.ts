// A scale-down keeps the servers that are there (issue #12). nats-server 2.15.1, an R3 stream
// with a follower stopped and updated to R2: the update is answered at once, publishes go on,
// and within a second the stream is R2 on its leader and the live follower (its stream leader
// selects the peers to keep: itself, then online peers, least lag first; and removes offline
// ones first). tsnats kept the leader and the first other server of the assignment, stopped or
// not: the R2 group {leader, stopped} had no quorum, the stream stopped taking publishes and
// the scale-down never ended.
// Three in-process servers (JsTestCluster) over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, pauseRaft, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, consumerLine, infoWithLeader, streamWithConsumers, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";

test("R3 -> R2 with the assignment's first follower stopped: the stream keeps taking publishes and ends R2 on its leader and the live follower", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    const meta = await c.metaAllCurrent();
    const cfg = await streamWithConsumers(nc, 3, [{ name: "D", config: { durable_name: "D", num_replicas: 0 } }]);
    const leader = await replicaLeader(c, "S");
    // The follower the meta leader would keep after the leader (the first other of the assignment) is the one stopped.
    const assigned = c.js(meta).cluster?.assignment("$G", "S")?.peers ?? [];
    const stopped = assigned.find((p) => p !== leader) as string;
    const live = assigned.find((p) => p !== leader && p !== stopped) as string;
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "S")?.store.state().lastSeq === 20), 20_000, "every copy holds the 20 messages");
    await nc.close();
    nc = await connect({ servers: [c.member(leader).url, c.member(live).url] });
    await c.stopMember(stopped);

    const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 2 });
    assert.equal(down.error, undefined, JSON.stringify(down.error));
    assert.equal(down.config?.num_replicas, 2);
    assert.equal(await clusterPublish(nc, "s.x", "m21"), 21, "a publish during the scale-down");
    await waitUntil(
      () => [leader, live].every((n) => {
        const sa = c.js(n).cluster?.assignment("$G", "S");
        return sa?.move === undefined && [...(sa?.peers ?? [])].sort().join() === [leader, live].sort().join();
      }),
      30_000,
      `S assigned to ${leader} and ${live}, the scale-down over`,
    );
    await waitUntil(
      async () => {
        const si = await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.S");
        const cl = si.cluster as { leader?: string; desired?: unknown; replicas?: Array<{ name: string; current?: boolean }> } | undefined;
        return si.config?.num_replicas === 2 && cl?.desired === undefined && [cl?.leader, ...(cl?.replicas ?? []).map((r) => r.name)].sort().join() === [leader, live].sort().join() && cl?.replicas?.every((r) => r.current === true) === true;
      },
      30_000,
      `S's info: R2 on ${leader} and ${live}, both current`,
    );
    assert.equal(await clusterPublish(nc, "s.x", "m22"), 22, "a publish after the scale-down");
    // Its durable (following the stream's replicas) goes on from its state on the servers kept.
    assert.deepEqual(await consume(nc, "S", "D", 2), [6, 7]);
    assert.equal(consumerLine(await infoWithLeader(nc, "S", "D")), `R0 on ${[leader, live].sort().join()}: delivered 7 ack floor 7`);
  } finally {
    await nc.close();
    await c.stop();
  }
});

/**
 * R3 -> R1 asked right after a follower froze, as a process stopped by SIGSTOP: its groups
 * neither send nor hear (their timers stopped too), its routes stay up, and with nothing
 * committed since, its leaders still count it current for an election timeout. `pick` names the
 * one that freezes from the stream group's other voters, in its leader's order. Done when the stream is on its leader alone, writable, D goes on from its state, and
 * the live follower dropped its copy.
 */
async function scaleDownRightAfterFreeze(pick: (streamOthers: string[]) => string): Promise<void> {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    let meta = await c.metaAllCurrent();
    const cfg = await streamWithConsumers(nc, 3, [{ name: "D", config: { durable_name: "D", num_replicas: 0 } }]);
    const leader = await replicaLeader(c, "S");
    // D's group led by the stream's leader too (a frozen leader of it would hold its scale-down).
    await waitUntil(async () => {
      if (streamOn(c, leader, "S")?.replica?.consumerGroup("D")?.node.isLeader === true) return true;
      await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.S.D", JSON.stringify({ placement: { preferred: leader } }), { timeout: 5000 }).catch(() => undefined);
      return false;
    }, 30_000, `D led by ${leader}`);
    const replica = streamOn(c, leader, "S")?.replica;
    const others = (voters: readonly string[] | undefined): string[] => (voters ?? []).filter((p) => p !== leader);
    const frozen = pick(others(replica?.node.config.voters));
    const live = others(replica?.node.config.voters).find((p) => p !== frozen) as string;
    if (meta === frozen) {
      // (Not the meta leader: its group would elect another, which takes longer than the moment looked at.)
      c.js(meta).cluster?.node?.stepDown(leader);
      await waitUntil(async () => (meta = await c.metaLeader()) !== frozen, 20_000, `a meta leader other than ${frozen}`);
    }
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "S")?.store.state().lastSeq === 20), 20_000, "every copy holds the 20 messages");
    const frozenCopy = streamOn(c, frozen, "S")?.replica;
    assert.ok(frozenCopy !== undefined);
    pauseRaft(frozenCopy.node, true);
    pauseRaft(frozenCopy.consumerGroup("D")!.node, true);
    const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 });
    assert.equal(down.error, undefined, JSON.stringify(down.error));

    await waitUntil(
      () => [leader, live].every((n) => {
        const sa = c.js(n).cluster?.assignment("$G", "S");
        return sa?.move === undefined && sa?.peers.join() === leader;
      }),
      30_000,
      `S assigned to ${leader} alone, the scale-down over`,
    );
    assert.equal(await clusterPublish(nc, "s.x", "m21"), 21, "a publish after the scale-down");
    assert.deepEqual(await consume(nc, "S", "D", 2), [6, 7]);
    await waitUntil(() => streamOn(c, live, "S") === undefined, 20_000, `${live} drops its copy`);
  } finally {
    await nc.close();
    await c.stop();
  }
}

// With none looking down, the stream's leader removed the first of its other voters (removing
// the live one first left {leader, frozen}, without a quorum).
test("R3 -> R1 right after the stream leader's second other voter froze: the frozen one leaves the stream's group first", { timeout: 120_000 }, async () => {
  await scaleDownRightAfterFreeze((streamOthers) => streamOthers[1]);
});
