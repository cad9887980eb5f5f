// OPEN (fails on main, not landed): a follower of an R3 stream that loses power keeps nothing
// after restart, also without the purge (publish 20, power cut of a follower whose store blocks
// were never synced yet: after restart it shows current, its files hold no message). Not yet
// known whether the replay, the store or the power-loss layer is at fault.
//
// A purge applied again after a power cut must not take the messages acknowledged after it.
// A replicated stream's member remembers the last purge (or other non-message entry) it applied
// in `<group>/applied`; written without a sync, after a power cut it said less, the replay of
// the RAFT log ran the purge again, and the messages after it were gone on that member (skipped
// on replay: it had their sequences), while the stream's info showed it current.
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
    let leader = -1;
    await retry(
      "Q's replicas current",
      async () => {
        const si = await jsm.streams.info("Q");
        const r = si.cluster?.replicas ?? [];
        if (r.length !== 2 || !r.every((x) => x.current && (x.lag ?? 0) === 0)) throw new Error(JSON.stringify(si.cluster));
        leader = Number(si.cluster?.leader?.slice(1));
      },
      60_000,
    );
    const follower = (leader + 1) % 3;
    await c.servers[follower].powerLoss();
    await c.servers[follower].start();
    await retry(
      "Q's replicas current again",
      async () => {
        const si = await jsm.streams.info("Q");
        const r = si.cluster?.replicas ?? [];
        if (r.length !== 2 || !r.every((x) => x.current && (x.lag ?? 0) === 0)) throw new Error(JSON.stringify(si.cluster));
      },
      60_000,
    );
    for (const nc of c.conns) await nc.close();
    c.conns.length = 0;
    for (const s of c.servers) await s.stop();
    const expected = Array.from({ length: 10 }, (_, k) => `${k + 11}:m${k + 11}`);
    for (let i = 0; i < 3; i++) assert.deepEqual(readReplica(c.dirs[i], "Q").map(([seq, data]) => `${seq}:${data}`), expected, `n${i} holds 11..20`);
  });
});
