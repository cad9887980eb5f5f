// A stream scaled down to one replica and at once up again (R3 -> R1 -> R3): found by random
// fault schedules (seeds 90, 91). A server leaving the group drops its copy only once the others
// no longer need it; one that had not heard of its removal yet still waited when the scale-up
// assigned it again, and kept its copy: the group grew again from the server that kept the
// stream, on a new log, which that copy's log (and its consumers' logs) conflicted with ('leader
// would overwrite committed entry'), and the member never caught up. Three tsnats servers over
// real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

test("R3 -> R1 -> R3 at once: every server holds the stream again and follows its group", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members[0].url });
  try {
    const meta = await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const si = await jsm.streams.add({ name: "Z", subjects: ["z.>"], num_replicas: 3 });
    await jsm.consumers.add("Z", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 20; i++) await js.publish("z.x", `m${i}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Z")?.store.state().lastSeq === 20), 20_000, "every server holds every message");
    // D led by a server that leaves (its leadership moves before its copy goes).
    const leader = await replicaLeader(c, "Z");
    const other = c.members.map((x) => x.name).find((n) => n !== leader) as string;
    await waitUntil(async () => {
      const ci = await jsm.consumers.info("Z", "D").catch(() => undefined);
      if (ci?.cluster?.leader === other) return true;
      await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.Z.D", JSON.stringify({ placement: { preferred: other } }), { timeout: 5000 }).catch(() => undefined);
      return false;
    }, 30_000, `D led by ${other}`);

    await jsm.streams.update("Z", { ...si.config, num_replicas: 1 });
    await waitUntil(() => c.js(meta).cluster?.assignment("$G", "Z")?.peers.length === 1, 30_000, "one replica recorded");
    await jsm.streams.update("Z", { ...si.config, num_replicas: 3 });
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Z")?.store.state().lastSeq === 20), 30_000, "every server holds the stream again");
    await js.publish("z.x", "m21");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Z")?.store.state().lastSeq === 21), 30_000, "a new message on every server");
    const now = await replicaLeader(c, "Z");
    for (const m of c.members) assert.deepEqual(copyOf(c, m.name, "Z"), copyOf(c, now, "Z"), `${m.name} holds what the leader holds`);
    await waitUntil(async () => (await jsm.consumers.info("Z", "D").catch(() => undefined))?.cluster?.replicas?.every((r) => r.current) === true, 30_000, "D current on every server");
  } finally {
    await nc.close();
    await c.stop();
  }
});
