// Subject delete markers, per-message TTLs and max age on replicated (R3) streams: decided by the
// stream's leader, the same on every member, compared with a cluster of three nats-server 2.15.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { getHeader } from "../src/protocol/headers.js";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import { streamOn, contents, sameEverywhere, replicaLeader, withReferenceR3 } from "./helpers/js_cluster_features.js";

/** Subject delete markers and per-message TTLs on an R3 stream: what an ordered consumer sees, then the stream's end state. */
async function markerSteps(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.MK", {
    name: "MK",
    subjects: ["mk.>"],
    num_replicas: 3,
    allow_msg_ttl: true,
    subject_delete_marker_ttl: 1_000_000_000,
    max_age: 2_000_000_000,
  });
  out.push(`create ${JSON.stringify(created.error ?? null)}`);
  const js = jetstream(nc, { timeout: 10_000 });
  const seen: string[] = [];
  const oc = await js.consumers.get("MK");
  const iter = await oc.consume();
  void (async () => {
    for await (const m of iter) {
      seen.push(`${m.seq} ${m.subject} ${m.string()} ${m.headers?.get("Nats-Marker-Reason") ?? "-"} ${m.headers?.get("Nats-TTL") ?? "-"}`);
    }
  })();
  const pub = async (subject: string, data: string, ttl?: string): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        const a = await js.publish(subject, data, ttl !== undefined ? { ttl } : {});
        out.push(`pub ${subject} ${a.seq}`);
        return;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  // The TTL'd message first: it expires before the others whatever the publishes' pace (the
  // order of the markers does not depend on the machine's load).
  await pub("mk.c", "1", "1s");
  await pub("mk.a", "2");
  await pub("mk.a", "3");
  await pub("mk.b", "4");
  // Max age and the TTL take the messages; the last of each subject is replaced by a marker,
  // which expires in its turn.
  const deadline = Date.now() + 60_000;
  let state = "";
  for (;;) {
    const info = await clusterApi<ClusterAnswer & { state?: { messages: number; last_seq: number } }>(nc, "$JS.API.STREAM.INFO.MK", {});
    state = `state ${info.state?.messages} ${info.state?.last_seq}`;
    if (info.state?.messages === 0 && seen.length >= 7) break;
    if (Date.now() > deadline) throw new Error(`markers never came and went: ${state}, seen ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  iter.stop();
  out.push(state, ...seen);
  return out;
}

test("R3 subject delete markers and TTLs: decided by the leader, the same on every member, as a nats-server 2.15 cluster", { timeout: 240_000 }, async () => {
  await withReferenceR3(2, async (c, nc, reference) => {
    const ours = await markerSteps(nc);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.equal(ours[0], "create null");
    await sameEverywhere(c, "MK");
    for (const m of c.members) assert.equal(streamOn(c, m.name, "MK")?.store.state().lastSeq, 7, `${m.name} stored the markers too`);
    const rnc = await reference();
    if (rnc !== undefined) assert.deepEqual(ours, await markerSteps(rnc), "the same as nats-server 2.15");
  });
});

test("R3 max age: a member without a leader never expires on its own clock; the leader's expiry and markers reach every member", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[0].url });
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.AGE", { name: "AGE", subjects: ["age.>"], num_replicas: 3, max_age: 2_000_000_000, subject_delete_marker_ttl: 600_000_000_000 });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "AGE")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "AGE");
    const js = jetstream(nc, { timeout: 10_000 });
    for (const s of ["a", "b", "a"]) await js.publish(`age.${s}`, s);
    const t0 = Date.now();
    await sameEverywhere(c, "AGE");
    await nc.close();
    nc = undefined;
    // Two members stop (the leader among them): the last one has no quorum and leads nothing.
    const stopped = [leader, c.members.find((m) => m.name !== leader)!.name];
    const alone = c.members.find((m) => !stopped.includes(m.name))!.name;
    for (const s of stopped) await c.stopMember(s);
    await waitUntil(() => Date.now() > t0 + 4000, 10_000, "twice the max age");
    assert.equal(streamOn(c, alone, "AGE")?.store.state().msgs, 3, "a follower keeps what its own clock says is too old");
    for (const s of stopped) await c.startMember(s);
    await replicaLeader(c, "AGE");
    // The leader's expiry: the older a goes, the last a and b are replaced by markers, on every member.
    await waitUntil(() => c.members.every((m) => contents(c, m.name, "AGE").length === 2 && streamOn(c, m.name, "AGE")?.store.state().lastSeq === 5), 30_000, "markers on every member");
    const all = await sameEverywhere(c, "AGE");
    assert.equal(all.length, 2, `two markers: ${JSON.stringify(all)}`);
    for (const m of c.members) {
      const s = streamOn(c, m.name, "AGE")!;
      for (const seq of [4, 5]) assert.equal(getHeader(s.store.loadMsg(seq)?.hdr, "Nats-Marker-Reason"), "MaxAge", `${m.name} ${seq} is a marker`);
    }
  } finally {
    await nc?.close();
    await c.stop();
  }
});
