// A tsnats server leading a stream group of a nats-server 2.15 cluster (`cluster { nrg_peer_lead:
// true }`, src/cluster/nrg_stream_leader.ts), live against two nats-server 2.15 followers: asked
// to take the leadership (a stepdown preferring it), T3 stays leader; publishes from clients of
// either nats-server reach it (only the leader subscribes to the stream's subjects), are checked
// as nats-server's leader checks them (duplicate ids, expected last sequence, expected last
// subject sequence, expected stream, discard-new limits, and a wrong Nats-Expected-Last-Msg-Id,
// which nats-server checks when applying and on which its members stop the stream), proposed as nats-server's stream message entries and acknowledged once
// committed; both nats-server followers apply them: their stream state equals T3's copy, and
// each one's direct get answers every message with the subject, payload and time T3 stored.
// T3 answers what a stream leader answers: STREAM.INFO (from clients of any server: its leader,
// replicas current, state, subjects), the meta leader's $JSC.SI for STREAM.LIST, the leader
// elected advisory, MSG.GET, MSG.DELETE, PURGE, a config update's answer (and its new subject's
// publishes), and STREAM.LEADER.STEPDOWN (N1 preferred: it leads, T3 follows it).
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { digest, NrgCluster, publishRequest as publish, readReplicaWhole, streamStateOn, type LeaderGroup, type StreamState } from "./helpers/nrg_cluster.js";
import type { ReferenceServer } from "./helpers/nats_server.js";
import { parseRfc3339 } from "../src/server/time.js";

/** T3 leads the stream's group with its leader half running. */
async function leadOnT3(c: NrgCluster, nc: NatsConnection, stream: string): Promise<LeaderGroup> {
  return (await c.leadOnT3(nc, stream)) as LeaderGroup;
}

const stateOn = streamStateOn;

/** One message as a server's direct get answers it: subject, payload digest, time (ns). */
async function directGet(nc: NatsConnection, stream: string, seq: number): Promise<{ seq: number; subject: string; data: string; time: bigint }> {
  const m = await nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq }), { timeout: 10_000 });
  const h = m.headers;
  assert.ok(h !== undefined && h.get("Nats-Sequence") === String(seq), `direct get of ${seq}: ${h?.code} ${h?.description}`);
  return { seq, subject: h.get("Nats-Subject"), data: digest(m.data), time: parseRfc3339(h.get("Nats-Time-Stamp")) ?? 0n };
}

test("with nrg_peer_lead, T3 leads a nats-server 2.15 stream group: publishes from clients of both nats-servers are checked, proposed and acknowledged by T3, and both nats-server followers hold the same messages", { skip: referenceMissing(), timeout: 400_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    await c.up();
    const [n1, n2] = c.live();
    const nc1 = await c.appOn(n1);
    const nc2 = await c.appOn(n2);
    const jsm: JetStreamManager = await retry(() => jetstreamManager(nc1, { timeout: 10_000 }));
    // The leader elected advisory comes from T3 once it leads (it may win the group's first
    // election: nats-server's members wait for the preferred member, which may be T3).
    const advisories: { leader: string; stream: string; replicas: { name: string }[] }[] = [];
    const advSub = nc2.subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.LEAD", { callback: (_e, m) => void advisories.push(m.json()) });
    await nc2.flush();
    await retry(() => jsm.streams.add({ name: "LEAD", subjects: ["lead.>"], num_replicas: 3, allow_direct: true, max_msgs_per_subject: 3, discard_new_per_subject: true, discard: "new" as never }), 90_000);
    for (let i = 1; i <= 3; i++) await retry(() => publish(nc1, `lead.a`, `before ${i}`).then((a) => (a.seq === undefined ? Promise.reject(new Error(JSON.stringify(a))) : a)), 90_000);

    // A nats-server leader's STREAM.INFO answer, to compare T3's with.
    const rawInfo = async (): Promise<Record<string, unknown>> => (await nc1.request("$JS.API.STREAM.INFO.LEAD", "", { timeout: 10_000 })).json();
    let natsInfo = await rawInfo();
    await waitUntil(async () => ((natsInfo = await rawInfo()).cluster as { replicas?: { current: boolean }[] } | undefined)?.replicas?.every((r) => r.current) === true, 60_000, "a nats-server leader reports both replicas current", () => JSON.stringify(natsInfo.cluster));
    // Asked to take the leadership until it leads with its state current.
    let g: LeaderGroup | undefined = await leadOnT3(c, nc1, "LEAD");
    assert.deepEqual(g?.stream_leader?.subjects, ["lead.>"]);
    assert.equal(g?.stream_leader?.clseq, 3, "the clustered sequence starts at the store's last");

    // Publishes from clients of either nats-server reach T3 (the followers no longer take them).
    const acked: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const nc = i % 2 === 0 ? nc2 : nc1;
      const ack = await retry(() => publish(nc, `lead.b.${i}`, `after ${i}`, { "Nats-Msg-Id": `m-${i}` }).then((a) => (a.seq === undefined ? Promise.reject(new Error(JSON.stringify(a))) : a)), 60_000);
      assert.deepEqual(ack, { stream: "LEAD", seq: 3 + i });
      acked.push(ack.seq ?? 0);
    }
    // The checks nats-server's leader runs before it proposes.
    assert.deepEqual(await publish(nc2, "lead.b.2", "again", { "Nats-Msg-Id": "m-2" }), { stream: "LEAD", seq: 5, duplicate: true });
    assert.deepEqual((await publish(nc1, "lead.c", "x", { "Nats-Expected-Last-Sequence": "4" })).error, { code: 400, err_code: 10071, description: "wrong last sequence: 9" });
    assert.deepEqual(await publish(nc1, "lead.c", "x", { "Nats-Expected-Last-Sequence": "9" }), { stream: "LEAD", seq: 10 });
    assert.deepEqual((await publish(nc2, "lead.c", "y", { "Nats-Expected-Last-Subject-Sequence": "3" })).error, { code: 400, err_code: 10071, description: "wrong last sequence: 10" });
    assert.deepEqual(await publish(nc2, "lead.c", "y", { "Nats-Expected-Last-Subject-Sequence": "10" }), { stream: "LEAD", seq: 11 });
    assert.deepEqual((await publish(nc1, "lead.d", "z", { "Nats-Expected-Stream": "OTHER" })).error, { code: 400, err_code: 10060, description: "expected stream does not match" });
    // lead.a holds 3 already: discard new per subject refuses a fourth before proposing it.
    assert.deepEqual((await publish(nc1, "lead.a", "fourth")).error, { code: 503, err_code: 10077, description: "maximum messages per subject exceeded" });
    // Refused before it is proposed (nats-server 2.15.1 checks it when applying, and its members
    // stop the stream on a mismatch: proposed, it would stop both followers).
    assert.deepEqual((await publish(nc2, "lead.e", "w", { "Nats-Expected-Last-Msg-Id": "nope" })).error, { code: 400, err_code: 10070, description: "wrong last msg ID: " });
    assert.deepEqual(await publish(nc2, "lead.e", "w", { "Nats-Msg-Id": "m-7" }), { stream: "LEAD", seq: 12 });
    assert.deepEqual(await publish(nc1, "lead.e", "v", { "Nats-Expected-Last-Msg-Id": "m-7" }), { stream: "LEAD", seq: 13 });

    // Both nats-server followers apply what T3 committed: their own copies equal T3's.
    g = (await c.group("LEAD")) as LeaderGroup;
    assert.equal(g.leader, "T3");
    const mine = g.replica;
    let states: (StreamState | undefined)[] = [];
    await waitUntil(
      async () => {
        g = (await c.group("LEAD")) as LeaderGroup;
        states = await Promise.all([n1, n2].map((s) => stateOn(s, "LEAD")));
        return states.every((st) => st?.last_seq === 13 && st.messages === 13 && st.messages === g?.replica?.messages && st.first_seq === g?.replica?.first_seq);
      },
      60_000,
      "N1 and N2 hold messages 1-13, as T3 does",
      () => JSON.stringify({ states, mine: g?.replica }),
    );
    assert.equal(states[0]?.bytes, states[1]?.bytes);
    t.diagnostic(`T3 leader half: ${JSON.stringify(g?.stream_leader)}; replica ${JSON.stringify(mine)}`);
    assert.equal(g?.stream_leader?.counters.refused, 5, "every refusal was answered before a proposal");

    // A durable consumer of the stream T3 leads (its group led by a nats-server, which delivers
    // from its own copy): it gets the 13 messages T3 acknowledged, in order.
    await retry(() => jsm.consumers.add("LEAD", { durable_name: "reader", ack_policy: AckPolicy.Explicit }), 90_000);
    const consumer = await jetstream(nc1).consumers.get("LEAD", "reader");
    const seen: number[] = [];
    while (seen.length < 13) {
      const batch = await consumer.fetch({ max_messages: 13 - seen.length, expires: 5_000 });
      for await (const m of batch) {
        seen.push(m.seq);
        m.ack();
      }
    }
    assert.deepEqual(seen, Array.from({ length: 13 }, (_, i) => i + 1));

    // T3 answers STREAM.INFO as the stream's leader (clients of either nats-server and its own).
    const ncT3 = await c.appOn(c.ours as ReferenceServer);
    for (const nc of [nc1, nc2, ncT3]) {
      const jsmOf = await jetstreamManager(nc, { timeout: 10_000 });
      let info = await jsmOf.streams.info("LEAD");
      assert.equal(info.cluster?.leader, "T3");
      assert.deepEqual([info.state.messages, info.state.first_seq, info.state.last_seq, info.state.bytes], [13, 1, 13, states[0]?.bytes]);
      assert.equal(info.config.max_msgs_per_subject, 3);
      await waitUntil(
        async () => (info = await jsmOf.streams.info("LEAD")).cluster?.replicas?.filter((r) => r.current).length === 2,
        30_000,
        "T3 reports N1 and N2 current",
        () => JSON.stringify(info.cluster),
      );
      assert.deepEqual(info.cluster?.replicas?.map((r) => r.name).sort(), ["N1", "N2"]);
    }
    // Side by side with the nats-server leader's answer: the same fields, the same config.
    const ours = await rawInfo();
    const shape = (info: Record<string, unknown>): unknown => {
      const cluster = info.cluster as Record<string, unknown>;
      return {
        top: Object.keys(info).sort(),
        state: Object.keys(info.state as object).sort(),
        cluster: Object.keys(cluster).sort(),
        replicas: (cluster.replicas as Record<string, unknown>[]).map((r) => Object.keys(r).filter((k) => k !== "lag").sort()),
        config: { ...(info.config as Record<string, unknown>), metadata: undefined },
        created: info.created,
        type: info.type,
      };
    };
    assert.deepEqual(shape(ours), shape(natsInfo));
    const withSubjects = await jsm.streams.info("LEAD", { subjects_filter: "lead.b.>" });
    assert.equal(Object.keys(withSubjects.state.subjects ?? {}).length, 6);
    // The meta leader's STREAM.LIST gathers it from T3 ($JSC.SI).
    const listed = await jsm.streams.list().next();
    assert.equal(listed.find((i) => i.config.name === "LEAD")?.cluster?.leader, "T3");
    assert.ok(advisories.some((a) => a.stream === "LEAD" && a.leader === "T3"), JSON.stringify(advisories));
    advSub.unsubscribe();

    // MSG.GET, MSG.DELETE and PURGE answered by T3, the deletes applied by every member.
    const got = await jsm.streams.getMessage("LEAD", { seq: 5 });
    assert.deepEqual([got?.subject, got?.seq, got?.string()], ["lead.b.2", 5, "after 2"]);
    assert.equal((await jsm.streams.getMessage("LEAD", { last_by_subj: "lead.c" }))?.seq, 11);
    assert.equal((await nc2.request("$JS.API.STREAM.MSG.GET.LEAD", JSON.stringify({ next_by_subj: "lead.e", seq: 1 }), { timeout: 10_000 })).json<{ message: { seq: number } }>().message.seq, 12);
    assert.deepEqual((await nc2.request("$JS.API.STREAM.MSG.GET.LEAD", JSON.stringify({ seq: 99 }), { timeout: 10_000 })).json(), { type: "io.nats.jetstream.api.v1.stream_msg_get_response", error: { code: 404, err_code: 10037, description: "no message found" } });
    assert.equal(await jsm.streams.deleteMessage("LEAD", 2), true);
    assert.deepEqual((await nc2.request("$JS.API.STREAM.MSG.DELETE.LEAD", JSON.stringify({ seq: 2 }), { timeout: 10_000 })).json(), { type: "io.nats.jetstream.api.v1.stream_msg_delete_response", error: { code: 400, err_code: 10043, description: "sequence 2 not found" } });
    assert.deepEqual((await nc2.request("$JS.API.STREAM.MSG.DELETE.LEAD", JSON.stringify({ seq: 99 }), { timeout: 10_000 })).json(), { type: "io.nats.jetstream.api.v1.stream_msg_delete_response", error: { code: 500, err_code: 10057, description: "stream store EOF" } });
    const purged = await jsm.streams.purge("LEAD", { filter: "lead.e" });
    assert.deepEqual([purged.success, purged.purged], [true, 2]);
    await waitUntil(
      async () => {
        states = await Promise.all([n1, n2].map((s) => stateOn(s, "LEAD")));
        return states.every((st) => st?.messages === 10 && st.last_seq === 13);
      },
      60_000,
      "N1 and N2 applied the delete and the purge",
      () => JSON.stringify(states),
    );

    // An update (committed by the meta leader) is answered by T3, the stream's leader, which
    // then takes the new subject's publishes too.
    const before = await jsm.streams.info("LEAD");
    const updated = await jsm.streams.update("LEAD", { ...before.config, subjects: ["lead.>", "more.>"] });
    assert.deepEqual([updated.config.subjects, updated.cluster?.leader, updated.state.last_seq], [["lead.>", "more.>"], "T3", 13]);
    assert.deepEqual(await retry(() => publish(nc1, "more.x", "new subject").then((a) => (a.seq === undefined ? Promise.reject(new Error(JSON.stringify(a))) : a)), 30_000), { stream: "LEAD", seq: 14 });

    // Asked to step down preferring N1: answered by T3, N1 leads, publishes go on, T3 follows.
    assert.equal((await jsm.streams.info("LEAD")).cluster?.leader, "T3");
    const down = (await nc1.request("$JS.API.STREAM.LEADER.STEPDOWN.LEAD", JSON.stringify({ placement: { preferred: "N1" } }), { timeout: 10_000 })).json<{ success?: boolean }>();
    assert.equal(down.success, true, JSON.stringify(down));
    let leaderNow = "";
    await waitUntil(async () => (leaderNow = (await jsm.streams.info("LEAD").catch(() => undefined))?.cluster?.leader ?? "") === "N1", 60_000, "N1 leads LEAD", () => leaderNow);
    assert.deepEqual(await retry(() => publish(nc2, "lead.f", "after stepdown").then((a) => (a.seq === undefined ? Promise.reject(new Error(JSON.stringify(a))) : a)), 60_000), { stream: "LEAD", seq: 15 });
    await waitUntil(async () => (g = (await c.group("LEAD")) as LeaderGroup)?.replica?.last_seq === 15 && g.stream_leader === undefined, 60_000, "T3 follows N1 and holds 15", () => JSON.stringify(g));
    states = await Promise.all([n1, n2].map((s) => stateOn(s, "LEAD")));

    // Each nats-server's direct get (its own copy) answers what T3 stored, time included.
    // (2 deleted, 12 and 13 purged.)
    const held = [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15];
    const n1Copy = await Promise.all(held.map((seq) => directGet(nc1, "LEAD", seq)));
    const n2Copy = await Promise.all(held.map((seq) => directGet(nc2, "LEAD", seq)));
    assert.deepEqual(n2Copy, n1Copy);
    const groupDir = path.join(c.storeDir, "jetstream", "nrg_peer", g?.group ?? "", "store");
    await c.ours?.stop();
    c.ours = undefined;
    const t3Copy = readReplicaWhole(groupDir).map((m) => ({ seq: m.seq, subject: m.subject, data: m.data, time: m.time }));
    assert.deepEqual(t3Copy, n1Copy, "T3's copy is the nats-servers' copy");
  } catch (err) {
    // What T3's /jsz says of the group, for the failure's report.
    t.diagnostic(`T3's LEAD group: ${JSON.stringify(await c.group("LEAD").catch(() => undefined))}`);
    throw err;
  } finally {
    await c.stop();
  }
});

test("with nrg_peer_lead, T3 leading a stream catches up a nats-server follower that was down: from its log, and past its compacted log with a snapshot and $JSC.SYNC", { skip: referenceMissing(), timeout: 400_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    await c.up();
    const nc1 = await c.appOn(c.live()[0]);
    const jsm = await retry(() => jetstreamManager(nc1, { timeout: 10_000 }));
    await retry(() => jsm.streams.add({ name: "CATCH", subjects: ["catch.>"], num_replicas: 3, allow_direct: true }), 90_000);
    let seq = 0;
    const pub = async (payload: Uint8Array): Promise<void> => {
      const ack = await retry(() => publish(nc1, `catch.${seq % 7}`, Buffer.from(payload).toString("latin1")).then((a) => (a.seq === undefined ? Promise.reject(new Error(JSON.stringify(a))) : a)), 60_000);
      seq = ack.seq ?? 0;
    };
    for (let i = 0; i < 3; i++) await pub(Buffer.from(`m${i}`));
    await leadOnT3(c, nc1, "CATCH");

    // N2 down while T3 and N1 commit; back with an empty store, it is caught up from T3's log.
    const sameAsT3 = async (what: string): Promise<void> => {
      let st: StreamState | undefined;
      let g: LeaderGroup | undefined;
      await waitUntil(
        async () => {
          g = (await c.group("CATCH")) as LeaderGroup;
          st = await stateOn(c.nats[1] as ReferenceServer, "CATCH");
          return st !== undefined && st.last_seq === seq && st.messages === g.replica?.messages && st.bytes === (await stateOn(c.nats[0] as ReferenceServer, "CATCH"))?.bytes;
        },
        120_000,
        what,
        () => JSON.stringify({ n2: st, t3: g?.replica, leader: g?.stream_leader, campaign: g?.campaign }),
      );
    };
    // One phase: T3 leads, N2 goes down, `publishSome` while it is down, N2 comes back with an
    // empty store and is caught up. Done again when the leadership moved meanwhile (on a loaded
    // machine a nats-server may time out waiting for T3's heartbeats and win an election): the
    // point is T3 serving the catch-up.
    const phase = async (what: string, publishSome: () => Promise<void>, served: (g: LeaderGroup) => boolean): Promise<LeaderGroup> => {
      for (let attempt = 1; ; attempt++) {
        const before = await leadOnT3(c, nc1, "CATCH");
        await c.nats[1]?.stop();
        c.nats[1] = undefined;
        await publishSome();
        c.nats[1] = await c.startN(1);
        await sameAsT3(what);
        const after = (await c.group("CATCH")) as LeaderGroup;
        if (after.term === before.term && after.leader === "T3" && served(after)) return after;
        t.diagnostic(`${what}, attempt ${attempt}: the leadership moved (term ${before.term} -> ${after.term}, leader ${after.leader})`);
        assert.ok(attempt < 3, `${what}: T3 kept the leadership in none of 3 attempts`);
      }
    };
    let g = await phase(
      "N2 holds what T3 holds, from T3's log",
      async () => {
        for (let i = 0; i < 20; i++) await pub(Buffer.from(`while N2 is down ${i}`));
      },
      (x) => (x.campaign?.counters.catchupEntries ?? 0) > 0,
    );

    // Again, with more than 8 MiB published meanwhile: T3 compacts its log, so N2 gets T3's
    // snapshot (the stream's state), then asks T3 for the messages over $JSC.SYNC.
    g = await phase(
      "N2 holds what T3 holds, from T3's snapshot and $JSC.SYNC",
      async () => {
        for (let i = 0; i < 90; i++) await pub(randomBytes(100 * 1024));
        const x = (await c.group("CATCH")) as LeaderGroup;
        assert.ok((x.counters.compactions ?? 0) >= 1, `T3 compacted its log while leading: ${JSON.stringify(x.counters)}`);
      },
      (x) => (x.campaign?.counters.snapshotsSent ?? 0) >= 1 && (x.stream_leader?.catchups?.served ?? 0) >= 1,
    );
    t.diagnostic(`T3: ${JSON.stringify({ campaign: g.campaign?.counters, leader: g.stream_leader })}`);
    // N2's own copy (its direct get) is T3's, message by message.
    const nc2 = await c.appOn(c.nats[1] as ReferenceServer);
    const groupDir = path.join(c.storeDir, "jetstream", "nrg_peer", g.group, "store");
    const n2Copy = [];
    for (let s = 1; s <= seq; s++) n2Copy.push(await directGet(nc2, "CATCH", s));
    await c.ours?.stop();
    c.ours = undefined;
    assert.deepEqual(readReplicaWhole(groupDir).map((m) => ({ seq: m.seq, subject: m.subject, data: m.data, time: m.time })), n2Copy);
  } catch (err) {
    t.diagnostic(`T3's CATCH group: ${JSON.stringify(await c.group("CATCH").catch(() => undefined))}`);
    throw err;
  } finally {
    await c.stop();
  }
});
