// A stream's source resumes soon after a cluster restart whose servers come back one at a time.
// The server holding the sourcing copy (R1) starts first, alone: its copy starts its source before
// it has any route, and the consumer create it sends can only be answered by a meta leader. Held
// here and then left to the leader, which never got it, it went unanswered until its 30 s timeout
// and a backoff (about 40 s without sourcing); it now waits for a meta leader this server reaches.
// Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, managerOn, streamOn } from "./helpers/js_cluster.js";
import { retry, waitUntil } from "./helpers/server.js";

const TAGS = { S1: ["at:1"], S2: ["at:2"], S3: ["at:3"] };

test("a source whose server restarts before the others (no route, no meta leader) resumes once a meta leader is elected, without waiting out its create request's timeout", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { serverTags: TAGS });
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { nc, jsm } = await managerOn(c.members[0].url, ncs);
    await jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 1, placement: { tags: ["at:1"] } as never });
    await jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 1, sources: [{ name: "O" }], placement: { tags: ["at:2"] } as never });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 3; i++) await js.publish("o.x", `o${i}`);
    await waitUntil(() => streamOn(c, "S2", "S")?.store.state().lastSeq === 3, 20_000, "S sourced O's 3 messages");
    for (const nc2 of ncs.splice(0)) await nc2.close();
    for (const m of c.members) await c.stopMember(m.name);

    // S2 alone: its copy of S recovered and its source started (its consumer request sent, or
    // waiting for a meta leader), with no other server to answer it.
    await c.startMember("S2");
    // (The link's own state: its request in flight, or waiting for a meta leader.)
    const linkBusy = (): boolean => [...(streamOn(c, "S2", "S")?.sourcing?.sources.values() ?? [])].some((l) => {
      const state = l as unknown as { setupInProgress: boolean; awaitingApi?: boolean };
      return state.setupInProgress || state.awaitingApi === true;
    });
    await waitUntil(linkBusy, 20_000, "S's source on S2 asked for its consumer");
    await c.startMember("S1");
    await c.startMember("S3");
    const restarted = Date.now();
    await c.metaLeader(30_000);
    const nc1 = await connect({ servers: c.member("S1").url });
    ncs.push(nc1);
    await retry(() => jetstream(nc1, { timeout: 5000 }).publish("o.x", "o4", { msgID: "o4" }), 30_000);
    // Well before the ~40 s an unanswered first request cost (30 s timeout, then its backoff).
    await waitUntil(() => copyOf(c, "S2", "S").some(([, , d]) => d === "o4"), Math.max(0, 30_000 - (Date.now() - restarted)), "S on S2 sourced o4 within 30 s of the others' restart");
    assert.deepEqual(
      copyOf(c, "S2", "S").map(([, , d]) => d),
      ["o1", "o2", "o3", "o4"],
      "S holds each of O's messages once",
    );
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
