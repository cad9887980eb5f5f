// Replicated streams (num_replicas 3) on a cluster of three tsnats servers over real routes:
// every member holds the stream, the group's leader takes publishes from any server, a PubAck
// means a quorum has the message, and every member ends with the same messages in the same
// order, through purges, a stop and restart of the leader, and the deletion of the stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";


async function sameEverywhere(c: JsTestCluster, name: string, expect: number): Promise<void> {
  const running = c.members.filter((m) => m.srv !== undefined).map((m) => m.name);
  await waitUntil(() => running.every((m) => (streamOn(c, m, name)?.store.state().msgs ?? -1) === expect), 20_000, `${expect} messages on every member`);
  const first = copyOf(c, running[0], name);
  for (const m of running.slice(1)) assert.deepEqual(copyOf(c, m, name), first, `${m} holds what ${running[0]} holds`);
}

/** waitUntil for conditions that need a request to check. */
async function pollUntil(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


test("R3 stream: created on three servers, publishes from any server go through its leader, replicas identical", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    for (const m of c.members) ncs.push(await connect({ servers: m.url }));
    const jsm = await jetstreamManager(ncs[0], { timeout: 20_000 });
    const created = await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3, duplicate_window: 60_000_000_000 });
    assert.equal(created.config.num_replicas, 3);
    assert.equal(created.cluster?.name, "JSC");
    assert.ok(created.cluster?.leader, "the create answer names the group's leader");
    // Each member creates its copy when it applies the meta group's entry (the answer comes from one of them).
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R3")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "R3");

    // Publishes from clients of every server, pipelined: every one acknowledged, in one order.
    const acks = [];
    for (let i = 0; i < 300; i++) acks.push(jetstream(ncs[i % 3]).publish(`r3.${i % 7}`, `m${i}`));
    const seqs = (await Promise.all(acks)).map((a) => a.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 300 }, (_, i) => i + 1));
    await sameEverywhere(c, "R3", 300);

    // Info from any server: the leader answers, with its replicas.
    const info = await (await jetstreamManager(ncs[2], { timeout: 20_000 })).streams.info("R3");
    assert.equal(info.state.messages, 300);
    assert.equal(info.cluster?.leader, leader);
    assert.deepEqual(info.cluster?.replicas?.map((r) => r.name).sort(), c.members.map((m) => m.name).filter((n) => n !== leader).sort());
    let current = false;
    for (let i = 0; i < 100 && !current; i++) {
      current = ((await jsm.streams.info("R3")).cluster?.replicas ?? []).every((r) => r.current);
      if (!current) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(current, "every replica current");

    // Checks decided by the leader: duplicates, expected last sequence.
    const js1 = jetstream(ncs[1]);
    const a = await js1.publish("r3.id", "x", { msgID: "id-1" });
    const d = await jetstream(ncs[2]).publish("r3.id", "x", { msgID: "id-1" });
    assert.equal(d.duplicate, true);
    assert.equal(d.seq, a.seq);
    await assert.rejects(js1.publish("r3.x", "y", { expect: { lastSequence: 1 } }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10071);
    const ok = await js1.publish("r3.x", "y", { expect: { lastSequence: a.seq } });
    assert.equal(ok.seq, a.seq + 1);
    const h = headers();
    h.set("Nats-Expected-Last-Subject-Sequence", String(ok.seq));
    const ok2 = await js1.publish("r3.x", "z", { headers: h });
    assert.equal(ok2.seq, ok.seq + 1);
    await sameEverywhere(c, "R3", 303);

    // Purge and message delete through the group.
    await jsm.streams.deleteMessage("R3", 1);
    await sameEverywhere(c, "R3", 302);
    const purged = await jsm.streams.purge("R3", { filter: "r3.0" });
    assert.ok(purged.purged > 0);
    await sameEverywhere(c, "R3", 302 - purged.purged);

    // The leader stops: the two others elect a new one and go on; a duplicate is still caught.
    const before = 302 - purged.purged;
    for (const nc of ncs) await nc.close();
    ncs.length = 0;
    await c.stopMember(leader);
    const rest = c.members.filter((m) => m.name !== leader);
    for (const m of rest) ncs.push(await connect({ servers: m.url }));
    const second = await replicaLeader(c, "R3", leader);
    assert.notEqual(second, leader);
    const js = jetstream(ncs[0], { timeout: 10_000 });
    const dup = await js.publish("r3.id", "x", { msgID: "id-1" });
    assert.equal(dup.duplicate, true);
    for (let i = 0; i < 50; i++) await js.publish("r3.after", `a${i}`);
    await sameEverywhere(c, "R3", before + 50);

    // The old leader comes back and catches up from the log.
    await c.startMember(leader);
    await sameEverywhere(c, "R3", before + 50);

    // Deleted everywhere.
    const jsm2 = await jetstreamManager(ncs[0], { timeout: 20_000 });
    assert.equal(await jsm2.streams.delete("R3"), true);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R3") === undefined), 20_000, "R3 gone everywhere");
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

test("R3 durable consumer: its state is replicated, it continues on the new leader without redelivering acked messages", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    for (const m of c.members) ncs.push(await connect({ servers: m.url }));
    const jsm = await jetstreamManager(ncs[0], { timeout: 20_000 });
    await jsm.streams.add({ name: "Q", subjects: ["q.>"], num_replicas: 3 });
    const leader = await replicaLeader(c, "Q");
    const js = jetstream(ncs[1], { timeout: 10_000 });
    for (let i = 1; i <= 20; i++) await js.publish("q.x", `m${i}`);
    await jsm.consumers.add("Q", { durable_name: "D", ack_policy: "explicit", ack_wait: 1_000_000_000 });
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Q")?.consumers.get("D") !== undefined), 20_000, "D on every member");

    // STREAM.LEADER.STEPDOWN moves the stream (and its consumers) to another member.
    const sd = JSON.parse((await ncs[2].request("$JS.API.STREAM.LEADER.STEPDOWN.Q", "", { timeout: 10_000 })).string()) as { type: string; success?: boolean };
    assert.deepEqual(sd, { type: "io.nats.jetstream.api.v1.stream_leader_stepdown_response", success: true });
    const second = await replicaLeader(c, "Q", leader);
    assert.notEqual(second, leader);

    // 10 delivered, the first 6 acked (and the acks replicated), through a client of another server.
    const consumer = await jetstream(ncs[0], { timeout: 10_000 }).consumers.get("Q", "D");
    const acked = new Set<string>();
    const batch = await consumer.fetch({ max_messages: 10, expires: 5000 });
    let n = 0;
    for await (const m of batch) {
      n++;
      if (n <= 6) {
        await m.ackAck();
        acked.add(m.string());
      }
    }
    assert.equal(n, 10);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "Q")?.consumers.get("D")?.infoJson().ack_floor !== undefined && (streamOn(c, m.name, "Q")?.consumers.get("D")?.infoJson().ack_floor as { stream_seq: number }).stream_seq === 6), 20_000, "ack floor 6 on every member");

    // The leader stops: another member's copy of D goes on from the replicated state.
    for (const nc of ncs) await nc.close();
    ncs.length = 0;
    await c.stopMember(second);
    const rest = c.members.filter((m) => m.name !== second);
    for (const m of rest) ncs.push(await connect({ servers: m.url }));
    const third = await replicaLeader(c, "Q", second);
    assert.notEqual(third, second);
    const js2 = jetstream(ncs[0], { timeout: 10_000 });
    const seen: string[] = [];
    const c2 = await js2.consumers.get("Q", "D");
    const deadline = Date.now() + 30_000;
    while (new Set(seen).size < 14 && Date.now() < deadline) {
      const b = await c2.fetch({ max_messages: 20, expires: 2000 });
      for await (const m of b) {
        seen.push(m.string());
        m.ack();
      }
    }
    for (const s of seen) assert.ok(!acked.has(s), `${s} was acked before the fail-over and came again`);
    assert.deepEqual([...new Set(seen)].sort(), Array.from({ length: 14 }, (_, i) => `m${i + 7}`).sort());
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

test("R3 stream: leader-elected advisories, /jsz per-stream cluster, /healthz while a replica is behind", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    for (const m of c.members) ncs.push(await connect({ servers: m.url }));
    const elected: Array<Record<string, unknown>> = [];
    const sub = ncs[0].subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.>", { callback: (_e, m) => void elected.push(m.json()) });
    const consumerElected: Array<Record<string, unknown>> = [];
    const sub2 = ncs[0].subscribe("$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.>", { callback: (_e, m) => void consumerElected.push(m.json()) });
    await ncs[0].flush();
    const jsm = await jetstreamManager(ncs[0], { timeout: 20_000 });
    await jsm.streams.add({ name: "A", subjects: ["a.>"], num_replicas: 3 });
    const leader = await replicaLeader(c, "A");
    await waitUntil(() => elected.length >= 1, 20_000, "a LEADER_ELECTED advisory");
    assert.equal(elected[0].type, "io.nats.jetstream.advisory.v1.stream_leader_elected");
    assert.equal(elected[0].stream, "A");
    assert.equal(elected[0].leader, leader);
    assert.ok(typeof elected[0].id === "string" && typeof elected[0].timestamp === "string");
    assert.deepEqual((elected[0].replicas as Array<{ name: string }>).map((r) => r.name).sort(), c.members.map((m) => m.name).filter((n) => n !== leader).sort());
    await jsm.consumers.add("A", { durable_name: "D", ack_policy: "explicit" });

    // A consumer stepdown elects another leader of the durable only (it has a leader of its own,
    // as in nats-server 2.15): an advisory names it, the stream keeps its leader.
    const sd = JSON.parse((await ncs[1].request("$JS.API.CONSUMER.LEADER.STEPDOWN.A.D", "", { timeout: 10_000 })).string()) as { type: string; success?: boolean };
    assert.deepEqual(sd, { type: "io.nats.jetstream.api.v1.consumer_leader_stepdown_response", success: true });
    await waitUntil(() => consumerElected.some((e) => e.consumer === "D" && e.leader !== leader), 20_000, "an advisory for the durable's new leader");
    assert.equal(await replicaLeader(c, "A"), leader);
    // A stream stepdown elects another stream leader: a new advisory names it.
    const ssd = JSON.parse((await ncs[1].request("$JS.API.STREAM.LEADER.STEPDOWN.A", "", { timeout: 10_000 })).string()) as { type: string; success?: boolean };
    assert.deepEqual(ssd, { type: "io.nats.jetstream.api.v1.stream_leader_stepdown_response", success: true });
    const second = await replicaLeader(c, "A", leader);
    await waitUntil(() => elected.some((e) => e.leader === second), 20_000, "an advisory for the new leader");
    const missing = JSON.parse((await ncs[1].request("$JS.API.CONSUMER.LEADER.STEPDOWN.A.NOPE", "", { timeout: 10_000 })).string()) as { error?: { err_code: number } };
    assert.equal(missing.error?.err_code, 10014);

    // /jsz on the leader: the stream's cluster block names the leader and the replicas.
    const url = c.member(second).srv?.monitorUrl;
    assert.ok(url !== undefined);
    const jsz = (await (await fetch(`${url}/jsz?streams=true`)).json()) as { account_details: Array<{ stream_detail: Array<{ name: string; cluster: { leader: string; replicas: Array<{ name: string }> } }> }> };
    const sdz = jsz.account_details[0].stream_detail.find((s) => s.name === "A");
    assert.equal(sdz?.cluster.leader, second);
    assert.equal(sdz?.cluster.replicas.length, 2);

    // /healthz: ok everywhere once settled; a member that lost its leader (both others stopped) is not current.
    for (const m of c.members) {
      await pollUntil(async () => (await fetch(`${c.member(m.name).srv?.monitorUrl}/healthz`)).status === 200, `${m.name} healthy`);
    }
    const lone = c.members.find((m) => m.name !== second)?.name as string;
    for (const nc of ncs) await nc.close();
    ncs.length = 0;
    for (const m of c.members) if (m.name !== lone) await c.stopMember(m.name);
    let body: { status?: string; error?: string } = {};
    await pollUntil(async () => {
      const r = await fetch(`${c.member(lone).srv?.monitorUrl}/healthz`);
      body = (await r.json()) as typeof body;
      return r.status === 503;
    }, "the lone member unhealthy");
    // First what lost its leader first (the stream's or the consumer's group), then, as nats-server
    // says it once the meta group has no leader either, the meta layer.
    assert.match(body.error ?? "", /^JetStream (stream '\$G > A'|consumer '\$G > A > D') is not current: group node unhealthy$|^JetStream has not established contact with a meta leader$/);
    await pollUntil(async () => {
      const r = await fetch(`${c.member(lone).srv?.monitorUrl}/healthz`);
      body = (await r.json()) as typeof body;
      return body.error === "JetStream has not established contact with a meta leader";
    }, "the lone member has no meta leader");
    const detailed = (await (await fetch(`${c.member(lone).srv?.monitorUrl}/healthz?details=true`)).json()) as { status: string; errors: Array<{ type: string }> };
    assert.deepEqual(detailed, { status: "error", errors: [{ type: "JETSTREAM", error: "JetStream has not established contact with a meta leader" }] });
    const only = await fetch(`${c.member(lone).srv?.monitorUrl}/healthz?js-enabled-only=true`);
    assert.equal(only.status, 200);
    sub.unsubscribe();
    sub2.unsubscribe();
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

// The stopped member may be the meta leader too: the account info asked right after is held by
// the others until they elect the next one (js_cluster_meta tests that on its own).
test("R3 stream: a member that missed entries the leader's log no longer has catches up from a snapshot plus the leader's messages", { timeout: 120_000 }, async () => {
  const saved = StreamReplica.snapshotEntries;
  StreamReplica.snapshotEntries = 50;
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    const jsm = await jetstreamManager(await connect({ servers: c.members[0].url }).then((nc) => (ncs.push(nc), nc)), { timeout: 20_000 });
    await jsm.streams.add({ name: "C", subjects: ["c.>"], num_replicas: 3, max_msgs_per_subject: 100 });
    const leader = await replicaLeader(c, "C");
    const follower = c.members.find((m) => m.name !== leader)?.name as string;
    const other = c.members.find((m) => m.name !== leader && m.name !== follower)?.name as string;
    const js = jetstream(ncs[0], { timeout: 10_000 });
    for (let i = 0; i < 20; i++) await js.publish(`c.${i % 3}`, `before${i}`);
    await sameEverywhere(c, "C", 20);
    for (const nc of ncs) await nc.close();
    ncs.length = 0;
    await c.stopMember(follower);
    const nc = await connect({ servers: c.member(leader).url });
    ncs.push(nc);
    const js2 = jetstream(nc, { timeout: 10_000 });
    // Well past the snapshot threshold (the leader's log is compacted), with a limit and a delete in between.
    for (let i = 0; i < 400; i++) await js2.publish(`c.${i % 3}`, `during${i}`);
    await (await jetstreamManager(nc, { timeout: 20_000 })).streams.deleteMessage("C", 400);
    await waitUntil(() => (streamOn(c, leader, "C")?.replica?.node.snapshotIndex ?? 0) > 100, 20_000, "the leader's log compacted");
    const expected = 300 - 1;
    await c.startMember(follower);
    await sameEverywhere(c, "C", expected);
    assert.deepEqual(copyOf(c, follower, "C"), copyOf(c, other, "C"));
    // It takes part again: a new message reaches it.
    await js2.publish("c.9", "after");
    await sameEverywhere(c, "C", expected + 1);
  } finally {
    StreamReplica.snapshotEntries = saved;
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});
