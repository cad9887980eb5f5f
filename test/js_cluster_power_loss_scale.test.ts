// A stream scaled up from one replica, then a power cut of both servers that copied it: they
// keep every acknowledged message, and without the server they copied from they elect a leader
// and serve them. Found by the random fault schedules (js_cluster_jepsen_random, seeds 20 and
// 21): the members added by a scale-up copied the messages into their stores without syncing
// them, while the RAFT snapshot saying they held them was synced, and each group's membership
// file (peers.json) was written without a sync. After a power cut a member held an empty copy it
// took for the only one (its membership gone), led, and acknowledged messages were lost on two
// replicas of three; when every server lost power, every member waited for a leader forever.
// And the meta group's `applied` file (unsynced) went back: restarted, the servers executed
// again the stream's creation on its first server only, and removed their own copies.
//
// Three tsnats processes in network namespaces under the power-loss layer
// (helpers/power_loss_process.ts: SIGPWR undoes every write not yet synced, then kills the
// process). Deterministic: the power goes out once the scale-up is reported complete.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NetnsLab } from "./helpers/netns.js";
import { NetnsJsCluster, retry } from "./helpers/netns_js_cluster.js";
import { readReplica } from "./helpers/replica_files.js";

const skip = NetnsLab.unavailable() ?? false;

describe("a stream scaled up from R1, then a power cut of the servers that copied it", { skip }, () => {
  let cluster: NetnsJsCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });

  it("keeps every acknowledged message on them, and they lead without the original holder", { timeout: 110_000 }, async () => {
    cluster = await NetnsJsCluster.start({ name: "PLSCALE", http: false, dirPrefix: "tsnats-plscale", powerLoss: true });
    const c = cluster;
    const admin = await connect(c.clientOpts(0));
    c.conns.push(admin);
    const jsm = await retry("jsm", () => jetstreamManager(admin, { timeout: 5000 }));
    const js = jetstream(admin, { timeout: 5000 });
    await retry("create P", () => jsm.streams.add({ name: "P", subjects: ["p.>"], num_replicas: 1 }), 60_000);
    const holder = Number((await jsm.streams.info("P")).cluster?.leader?.slice(1));
    assert.ok(holder >= 0 && holder <= 2, "P is held by one of n0..n2");
    for (let i = 1; i <= 100; i++) assert.equal((await js.publish(`p.${i % 7}`, `m${i}`)).seq, i);

    await retry("P to R3", async () => {
      const cfg = (await jsm.streams.info("P")).config;
      await jsm.streams.update("P", { ...cfg, num_replicas: 3 });
    });
    await retry(
      "P's three replicas current",
      async () => {
        const si = await jsm.streams.info("P");
        const r = si.cluster?.replicas ?? [];
        if (r.length !== 2 || !r.every((x) => x.current && (x.lag ?? 0) === 0)) throw new Error(JSON.stringify(si.cluster));
      },
      60_000,
    );

    // The original holder goes (kill -9: its files stay as they were); the two others lose power.
    const copies = [0, 1, 2].filter((i) => i !== holder);
    await c.servers[holder].kill9();
    await Promise.all(copies.map((i) => c.servers[i].powerLoss()));
    for (const i of copies) {
      const held = readReplica(c.dirs[i], "P");
      assert.deepEqual(
        held.map(([seq, data]) => `${seq}:${data}`),
        Array.from({ length: 100 }, (_, k) => `${k + 1}:m${k + 1}`),
        `n${i} holds every acknowledged message after the power cut`,
      );
    }

    // Back without the holder: the two elect a leader and serve the messages.
    await Promise.all(copies.map((i) => c.servers[i].start()));
    const nc = await connect(c.clientOpts(copies[0]));
    c.conns.push(nc);
    const jsm2 = await jetstreamManager(nc, { timeout: 5000 });
    await retry(
      "P led by one of the two",
      async () => {
        const si = await jsm2.streams.info("P");
        if (!copies.map((i) => `n${i}`).includes(si.cluster?.leader ?? "") || si.state.messages !== 100) throw new Error(`leader ${si.cluster?.leader}, ${si.state.messages} messages`);
      },
      45_000,
    ).catch((e: Error) => {
      for (const i of copies) console.log(`# n${i} log:\n${c.servers[i].log()}`);
      throw e;
    });
  });
});
