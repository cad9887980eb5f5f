// A follower of an R3 stream loses power before its store was ever synced (a replicated
// stream's members sync their stores only for a snapshot or every 2 minutes: the RAFT log is what
// is durable): it comes back with an empty store and replays its log onto it. Its stream leader
// showed it current at once, on what it had answered before the cut (its log held every entry),
// while it had applied nothing yet: a check that waited for "current", then stopped the servers,
// found its files empty. `current` now means it has applied the commit index, said in its
// answers (and not before it answered again once its route dropped).
//
// The purge first: a purge applied again on the replay must not take the messages acknowledged
// after it (here the store is empty, so the replay applies all of it again, in order).
//
// Three tsnats processes in network namespaces under the power-loss layer
// (helpers/power_loss_process.ts). Deterministic: the power goes out once every replica is current.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NetnsLab } from "./helpers/netns.js";
import { NetnsJsCluster, retry } from "./helpers/netns_js_cluster.js";
import { readReplica } from "./helpers/replica_files.js";

const skip = NetnsLab.unavailable() ?? false;

describe("a purge, then more messages, then a power cut of a follower", { skip }, () => {
  let cluster: NetnsJsCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });

  it("the follower keeps the messages acknowledged after the purge", { timeout: 110_000 }, async () => {
    cluster = await NetnsJsCluster.start({ name: "PLPURGE", http: false, dirPrefix: "tsnats-plpurge", powerLoss: true });
    const c = cluster;
    const admin = await connect(c.clientOpts(0));
    c.conns.push(admin);
    const jsm = await retry("jsm", () => jetstreamManager(admin, { timeout: 5000 }));
    const js = jetstream(admin, { timeout: 5000 });
    await retry("create Q", () => jsm.streams.add({ name: "Q", subjects: ["q.>"], num_replicas: 3 }), 60_000);
    for (let i = 1; i <= 10; i++) await retry("publish", () => js.publish("q.a", `m${i}`));
    await retry("purge", () => jsm.streams.purge("Q"));
    for (let i = 11; i <= 20; i++) assert.equal((await retry("publish", () => js.publish("q.a", `m${i}`))).seq, i);
    /** Q's leader once both other replicas are current (index of its server). */
    const replicasCurrent = (what: string): Promise<number> =>
      retry(
        what,
        async () => {
          const si = await jsm.streams.info("Q");
          const r = si.cluster?.replicas ?? [];
          if (r.length !== 2 || !r.every((x) => x.current && (x.lag ?? 0) === 0)) throw new Error(JSON.stringify(si.cluster));
          return Number(si.cluster?.leader?.slice(1));
        },
        60_000,
      );
    const follower = ((await replicasCurrent("Q's replicas current")) + 1) % 3;
    await c.servers[follower].powerLoss();
    await c.servers[follower].start();
    await replicasCurrent("Q's replicas current again");
    for (const nc of c.conns) await nc.close();
    c.conns.length = 0;
    for (const s of c.servers) await s.stop();
    const expected = Array.from({ length: 10 }, (_, k) => `${k + 11}:m${k + 11}`);
    for (let i = 0; i < 3; i++) assert.deepEqual(readReplica(c.dirs[i], "Q").map(([seq, data]) => `${seq}:${data}`), expected, `n${i} holds 11..20`);
  });
});
