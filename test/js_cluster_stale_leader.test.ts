// A replicated stream's leader deposed without knowing it must not answer from its stale copy.
// Every member of an R3 stream gets each publish and whichever believes it leads checks it; a
// leader paused while the two others elected a new one (here: its group's RAFT traffic stopped
// both ways and its heartbeats with it, the publishes made meanwhile kept from it) still
// believes it leads when it takes publishes again, until it hears the new term. A KV
// compare-and-set (Nats-Expected-Last-Subject-Sequence) or a Nats-Expected-Last-Sequence
// publish that the new leader passes and stores fails against that stale copy: answered, the
// publisher may take "wrong last sequence" for a message that is stored (found by the random
// fault schedules, seeds 44 and 57: a KV counter ahead of its acknowledged increments). Then,
// on a leader in good standing, failed checks and duplicates are still answered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import type { StreamReplica } from "../src/jetstream/stream_replica.js";
import type { RaftMsg } from "../src/cluster/raft.js";

/**
 * The member's group stops as a paused process does: it neither sends nor hears RAFT messages
 * and its heartbeats stop (so it keeps believing it leads), and publishes do not reach it.
 */
function pause(replica: StreamReplica): { takePublishes(): void; resume(): void } {
  const node = replica.node as unknown as {
    transport: { send(to: string, msg: RaftMsg): void };
    heartbeatTimer?: { cancel(): void };
    receive(from: string, msg: RaftMsg): void;
  };
  const send = node.transport.send;
  node.transport.send = () => undefined;
  node.heartbeatTimer?.cancel();
  node.receive = () => undefined;
  const intake = replica as unknown as { inbound(...a: unknown[]): void };
  intake.inbound = () => undefined;
  return {
    takePublishes: () => {
      delete (intake as Partial<typeof intake>).inbound;
    },
    resume: () => {
      node.transport.send = send;
      delete (node as Partial<typeof node>).receive;
    },
  };
}

test("R3 KV: a leader deposed while paused does not answer checks its stale copy fails; the new leader's answers stand", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    const admin = await connect({ servers: c.members[0].url });
    ncs.push(admin);
    const kv = await new Kvm(admin).create("LEASE", { replicas: 3 });
    const r1 = await kv.put("k", "1");
    const old = await replicaLeader(c, "KV_LEASE");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "KV_LEASE")?.store.state().lastSeq === r1), 20_000, "the first value on every member");
    const others = c.members.map((m) => m.name).filter((n) => n !== old);
    const nc = await connect({ servers: c.member(others[0]).url });
    ncs.push(nc);

    const paused = pause(streamOn(c, old, "KV_LEASE")!.replica!);
    // The two others elect a leader of their own; the old one still believes it leads.
    let fresh = "";
    await waitUntil(
      () => {
        const seen = others.map((n) => streamOn(c, n, "KV_LEASE")?.replica?.leader ?? "");
        fresh = seen[0];
        return fresh !== "" && fresh !== old && seen.every((l) => l === fresh) && streamOn(c, fresh, "KV_LEASE")?.replica?.node.leaderReady === true;
      },
      30_000,
      "a new leader among the two others",
    );
    assert.equal(streamOn(c, old, "KV_LEASE")?.replica?.node.isLeader, true, "the old leader believes it leads");
    const kvNew = await new Kvm(nc).open("LEASE");
    const r2 = await kvNew.update("k", "2", r1);
    assert.equal(streamOn(c, old, "KV_LEASE")?.store.state().lastSeq, r1, "the old leader's copy is stale");

    // It takes publishes again, before it hears the new term.
    paused.takePublishes();
    const inbox = createInbox();
    const answers: Array<{ to: string; body: Record<string, unknown> }> = [];
    const sub = nc.subscribe(`${inbox}.>`, {
      callback: (_e, m: Msg) => {
        answers.push({ to: m.subject.slice(inbox.length + 1), body: m.json() });
      },
    });
    await nc.flush();
    const cas = headers();
    cas.set("Nats-Expected-Last-Subject-Sequence", String(r2));
    nc.publish("$KV.LEASE.k", "3", { reply: `${inbox}.cas`, headers: cas });
    const last = headers();
    last.set("Nats-Expected-Last-Sequence", String(r2 + 1));
    nc.publish("$KV.LEASE.other", "x", { reply: `${inbox}.last`, headers: last });
    await waitUntil(() => answers.filter((a) => a.body.error === undefined).length >= 2, 20_000, "the new leader's PubAcks");
    assert.deepEqual(
      answers.filter((a) => a.body.error === undefined).map((a) => [a.to, a.body.seq]),
      [
        ["cas", r2 + 1],
        ["last", r2 + 2],
      ],
    );

    // It hears the new term and follows; whatever it would have answered is on the route before
    // a message its own server forwards after that.
    paused.resume();
    await waitUntil(() => streamOn(c, old, "KV_LEASE")?.replica?.leader === fresh, 20_000, "the old leader follows the new one");
    const ncOld = await connect({ servers: c.member(old).url });
    ncs.push(ncOld);
    ncOld.publish(`${inbox}.marker`, JSON.stringify({}));
    await ncOld.flush();
    await waitUntil(() => answers.some((a) => a.to === "marker"), 20_000, "the marker through the old leader's server");
    sub.unsubscribe();
    const refused = answers.filter((a) => a.body.error !== undefined);
    assert.deepEqual(refused, [], "no refusal of a message that was stored");

    const e = await kvNew.get("k");
    assert.equal(e?.string(), "3");
    assert.equal(e?.revision, r2 + 1);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "KV_LEASE")?.store.state().lastSeq === r2 + 2), 20_000, "every member caught up");
    const first = copyOf(c, others[0], "KV_LEASE");
    for (const m of c.members) assert.deepEqual(copyOf(c, m.name, "KV_LEASE"), first, `${m.name} holds what ${others[0]} holds`);

    // A leader in good standing still answers a failed check and a duplicate (once confirmed).
    await replicaLeader(c, "KV_LEASE");
    await assert.rejects(kvNew.update("k", "4", r1), /wrong last sequence/);
    await assert.rejects(kvNew.create("k", "5"), /wrong last sequence|key exists/);
    const js = jetstream(nc);
    const a1 = await js.publish("$KV.LEASE.dup", "d", { msgID: "once" });
    const a2 = await js.publish("$KV.LEASE.dup", "d", { msgID: "once" });
    assert.equal(a1.duplicate, false);
    assert.equal(a2.duplicate, true);
    assert.equal(a2.seq, a1.seq);
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});
