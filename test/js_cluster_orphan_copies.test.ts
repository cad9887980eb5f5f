// A copy of a stream held on a server that the meta group does not assign there, or of a stream
// it deleted (issue #12): it was kept out of publishes, and stayed on disk for good. nats-server removes such a copy at start
// once its meta group is current (checkForOrphans: "Detected orphaned stream '$G > S', will
// cleanup"); tsnats now does too, and never before its meta group caught up with the leader: while
// it waits, the copy runs neither its sources nor its message schedules nor its consumers.
// Three tsnats servers over real routes, driven by nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, managerOn, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

const TAGS = { S1: ["at:1"], S2: ["at:2"], S3: ["at:3"] };

test("copies found at start that the meta group assigns elsewhere or no longer knows: their sources, schedules and consumers do not run while the meta group has no leader; removed once it caught up", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { serverTags: TAGS });
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { nc, jsm } = await managerOn(c.members[0].url, ncs);
    // O on S1; on S2, S sources O and has a push consumer, T has message schedules.
    await jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 1, placement: { tags: ["at:1"] } as never });
    await jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 1, sources: [{ name: "O" }], placement: { tags: ["at:2"] } as never });
    await jsm.streams.add({ name: "T", subjects: ["t.>"], num_replicas: 1, allow_msg_schedules: true, placement: { tags: ["at:2"] } as never } as never);
    assert.deepEqual([(await jsm.streams.info("S")).cluster?.leader, (await jsm.streams.info("T")).cluster?.leader], ["S2", "S2"]);
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 3; i++) await js.publish("o.x", `o${i}`);
    await waitUntil(() => streamOn(c, "S2", "S")?.store.state().lastSeq === 3, 20_000, "S sourced O's 3 messages");
    await jsm.consumers.add("S", { durable_name: "P", deliver_subject: "deliver.p", ack_policy: "none" as never });
    // Q on S2, deleted: a copy of its directory kept aside is one the meta group knows nothing of.
    await jsm.streams.add({ name: "Q", subjects: ["q.>"], num_replicas: 1, placement: { tags: ["at:2"] } as never });
    await js.publish("q.x", "q1");
    const streamsOf = (member: string): string => path.join(c.member(member).storeDir, "jetstream", "$G", "streams");
    const aside = path.join(c.member("S2").storeDir, "..", "Q-aside");
    fs.cpSync(path.join(streamsOf("S2"), "Q"), aside, { recursive: true });
    await jsm.streams.delete("Q");
    // A one-shot schedule, due once every server is down.
    const due = Date.now() + 3000;
    const h = headers();
    h.set("Nats-Schedule", `@at ${new Date(due).toISOString().replace(/\.\d+Z$/, "Z")}`);
    h.set("Nats-Schedule-Target", "t.tick");
    await js.publish("t.sched", "tick", { headers: h });
    for (const nc2 of ncs.splice(0)) await nc2.close();
    for (const m of c.members) await c.stopMember(m.name);

    // S1 gets copies of S2's S and T (the meta group assigns them to S2 alone) and of the deleted Q.
    for (const name of ["S", "T"]) fs.cpSync(path.join(streamsOf("S2"), name), path.join(streamsOf("S1"), name), { recursive: true });
    fs.cpSync(aside, path.join(streamsOf("S1"), "Q"), { recursive: true });
    await c.startMember("S1");
    const copy = streamOn(c, "S1", "S");
    assert.ok(copy !== undefined && streamOn(c, "S1", "T") !== undefined && streamOn(c, "S1", "Q") !== undefined, "S1 recovered the copies");
    const held = [copyOf(c, "S1", "S"), copyOf(c, "S1", "T"), copyOf(c, "S1", "Q")];

    // S1 alone: no meta leader. O (S1's) takes publishes; the copy sources none of them, fires no
    // schedule once due, delivers nothing to P's deliver subject.
    const nc1 = await connect({ servers: c.member("S1").url });
    ncs.push(nc1);
    const delivered: string[] = [];
    const sub = nc1.subscribe("deliver.p", { callback: (_e, m) => void delivered.push(m.string()) });
    const ticks: string[] = [];
    nc1.subscribe("t.tick", { callback: (_e, m) => void ticks.push(m.string()) });
    await nc1.flush();
    const js1 = jetstream(nc1, { timeout: 5000 });
    await waitUntil(async () => (await js1.publish("o.x", "o4").then(() => true, () => false)), 30_000, "O on S1 takes a publish");
    await js1.publish("o.x", "o5");
    await waitUntil(() => Date.now() > due + 1500, 10_000, "the schedule's time passed");
    assert.equal(c.js("S1").cluster?.leader ?? "", "", "no meta leader");
    assert.deepEqual([copyOf(c, "S1", "S"), copyOf(c, "S1", "T"), copyOf(c, "S1", "Q")], held, "the copies took nothing: no source copied O's new messages, no schedule fired");
    assert.equal(copy.sourcing?.sources.size ?? 0, 0, "its sources are not running");
    assert.deepEqual(ticks, [], "no scheduled message was published");
    assert.deepEqual(delivered, [], "its push consumer delivered nothing");
    sub.unsubscribe();

    // The other two come back: S1's meta group catches up, the copy goes; S on S2 fires its
    // schedule and sources O's new messages, each once.
    await c.startMember("S2");
    await c.startMember("S3");
    await c.metaLeader(30_000);
    const gone = (name: string): boolean => streamOn(c, "S1", name) === undefined && !fs.existsSync(path.join(streamsOf("S1"), name));
    await waitUntil(() => gone("S") && gone("T") && gone("Q"), 30_000, "S1's copies removed");
    assert.ok(streamOn(c, "S1", "O") !== undefined, "O stays on S1");
    await waitUntil(() => copyOf(c, "S2", "T").some(([, subj]) => subj === "t.tick") && copyOf(c, "S2", "S").some(([, , d]) => d === "o5"), 30_000, "T on S2 fired its schedule, S sourced o4 and o5");
    assert.deepEqual(copyOf(c, "S2", "S").map(([, subj, d]) => `${subj} ${d}`), ["o.x o1", "o.x o2", "o.x o3", "o.x o4", "o.x o5"], "S holds each of O's messages once");
    assert.deepEqual(copyOf(c, "S2", "T").map(([, subj, d]) => `${subj} ${d}`), ["t.tick tick"], "T holds the scheduled message once (the schedule itself purged)");
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
