// A tsnats server leading a stream group of a nats-server 2.15 cluster (`nrg_peer_lead`): messages
// expire by max age and Nats-TTL on its store and on both nats-server followers' as on nats-server;
// with subject delete markers it does what nats-server's leader does: a marker for the last
// expired message of each subject (its rollup removes the message everywhere) and a proposed
// removal of every other expired message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster, publishRequest as publish, type LeaderGroup } from "./helpers/nrg_cluster.js";

test("with nrg_peer_lead, messages expire (max age, Nats-TTL) on T3 and both nats-server followers while T3 leads; with subject delete markers T3 places the markers and has the followers remove what expired", { skip: referenceMissing(), timeout: 400_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const ok = (a: { seq?: number }): Promise<{ seq?: number }> | { seq?: number } => (a.seq === undefined ? Promise.reject(new Error(JSON.stringify(a))) : a);


    // Max age and per-message TTLs: every member's store expires them (nats-server's do too); a
    // message whose TTL is "never" stays.
    await retry(() => jsm.streams.add({ name: "AGE", subjects: ["age.>"], num_replicas: 3, max_age: 2_000_000_000, allow_msg_ttl: true }), 90_000);
    await c.leadOnT3(nc1, "AGE");
    await retry(() => publish(nc1, "age.a", "one").then(ok), 60_000);
    await retry(() => publish(nc2, "age.b", "two", { "Nats-TTL": "1s" }).then(ok), 60_000);
    await retry(() => publish(nc1, "age.c", "kept", { "Nats-TTL": "never" }).then(ok), 60_000);
    const [age] = await c.sameOnAll("AGE", (s) => s.last_seq === 3 && s.messages === 1 && s.first_seq === 3, "N1, N2 and T3 expired 1 and 2, and keep 3");
    assert.equal(age.messages, 1);
    assert.equal(((await c.group("AGE")) as LeaderGroup).leader, "T3");

    // Subject delete markers: T3 proposes the removal of age.x's older message and a marker for
    // the last message of each subject (sourced, Nats-Marker-Reason MaxAge, its rollup removes
    // the message on every member).
    await retry(() => jsm.streams.add({ name: "SDM", subjects: ["sdm.>"], num_replicas: 3, max_age: 2_000_000_000, allow_msg_ttl: true, subject_delete_marker_ttl: 60_000_000_000, allow_direct: true }), 90_000);
    await c.leadOnT3(nc1, "SDM");
    await retry(() => publish(nc1, "sdm.x", "x1").then(ok), 60_000);
    await retry(() => publish(nc2, "sdm.x", "x2").then(ok), 60_000);
    await retry(() => publish(nc1, "sdm.y", "y1").then(ok), 60_000);
    await c.sameOnAll("SDM", (s) => s.last_seq === 5 && s.messages === 2 && s.first_seq === 4, "N1, N2 and T3 hold only the two markers (4 and 5)");
    const markers = await Promise.all([4, 5].map((seq) => nc2.request("$JS.API.DIRECT.GET.SDM", JSON.stringify({ seq }), { timeout: 10_000 })));
    assert.deepEqual(
      markers.map((m) => [m.headers?.get("Nats-Subject"), m.headers?.get("Nats-Marker-Reason"), m.headers?.get("Nats-TTL"), m.data.length]).sort(),
      [
        ["sdm.x", "MaxAge", "1m0s", 0],
        ["sdm.y", "MaxAge", "1m0s", 0],
      ],
    );
    const g = (await c.group("SDM")) as LeaderGroup;
    assert.equal(g.leader, "T3");
    t.diagnostic(`T3 SDM leader: ${JSON.stringify(g.stream_leader)}`);
  } finally {
    await c.stop();
  }
});
