// The 2.11–2.15 stream features on replicated (R3) streams, through the stream's RAFT group:
// atomic batches committed as one entry (all or nothing on every member), and the same steps on
// a cluster of three nats-server 2.15 for comparison of every answer. Fail-over in the middle of
// a batch leaves none of it anywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { getHeader } from "../src/protocol/headers.js";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import type { Stream } from "../src/jetstream/stream.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import fs from "node:fs";

function streamOn(c: JsTestCluster, member: string, name: string): Stream | undefined {
  if (c.member(member).srv === undefined) return undefined;
  return c.js(member).accounts.get("$G")?.streams.get(name);
}

/** Every message of a member's copy: "seq subject data [headers that matter]". */
function contents(c: JsTestCluster, member: string, name: string): string[] {
  const s = streamOn(c, member, name);
  if (s === undefined) return [`${member} does not hold ${name}`];
  const out: string[] = [];
  const st = s.store.state();
  for (let seq = st.firstSeq; st.msgs > 0 && seq <= st.lastSeq; seq++) {
    const m = s.store.loadNextMsg("", seq);
    if (m === null) break;
    out.push(`${m.seq} ${m.subject} ${m.data.toString()}`);
    seq = m.seq;
  }
  return out;
}

/** Every running member holds the same messages (waited for: followers apply after the leader). */
async function sameEverywhere(c: JsTestCluster, name: string): Promise<string[]> {
  const running = c.members.filter((m) => m.srv !== undefined).map((m) => m.name);
  let first: string[] = [];
  await waitUntil(
    () => {
      first = contents(c, running[0], name);
      return running.every((m) => JSON.stringify(contents(c, m, name)) === JSON.stringify(first));
    },
    20_000,
    `the same messages of ${name} on every member`,
  );
  return first;
}

async function replicaLeader(c: JsTestCluster, name: string, not = ""): Promise<string> {
  let leader = "";
  await waitUntil(
    () => {
      const running = c.members.filter((m) => m.srv !== undefined);
      const seen = running.map((m) => streamOn(c, m.name, name)?.replica?.leader ?? "");
      leader = seen[0];
      return leader !== "" && leader !== not && seen.every((l) => l === leader) && streamOn(c, leader, name)?.replica?.node.leaderReady === true;
    },
    30_000,
    `a leader of ${name}`,
  );
  return leader;
}

/** One message of an atomic batch; the answer's text ("" for a staged message's empty ack, "no answer" on a timeout). */
async function batchMsg(nc: NatsConnection, subject: string, id: string, seq: number, data: string, more: Record<string, string> = {}): Promise<string> {
  const h = headers();
  h.set("Nats-Batch-Id", id);
  h.set("Nats-Batch-Sequence", String(seq));
  for (const [k, v] of Object.entries(more)) h.set(k, v);
  try {
    return (await nc.request(subject, data, { headers: h, timeout: 5000 })).string();
  } catch {
    return "no answer";
  }
}

/** The answer with what differs between servers (domain-free already) left as is: errors and acks compare whole. */
function norm(a: string): string {
  return a;
}

/** The batch steps, run the same on both clusters; every answer in order. */
async function batchSteps(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.AB", { name: "AB", subjects: ["ab.>"], num_replicas: 3, allow_atomic: true, max_msgs_per_subject: 3 });
  out.push(`create ${JSON.stringify(created.error ?? null)} ${(created as ClusterAnswer & { config?: { allow_atomic?: boolean } }).config?.allow_atomic}`);
  // A plain message first, retried while the group elects its leader.
  for (let i = 0; i < 100; i++) {
    try {
      const a = (await nc.request("ab.plain", "p", { timeout: 3000 })).string();
      if (!a.includes('"code":503')) {
        out.push(`plain ${a}`);
        break;
      }
    } catch {
      // no leader yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // A batch of three: empty acks, then the commit's PubAck with batch and count.
  out.push(await batchMsg(nc, "ab.a", "b1", 1, "1"));
  out.push(await batchMsg(nc, "ab.b", "b1", 2, "2"));
  out.push(await batchMsg(nc, "ab.c", "b1", 3, "3", { "Nats-Batch-Commit": "1" }));
  // Checks over the whole batch: a duplicate id in it refuses all of it.
  out.push(await batchMsg(nc, "ab.a", "b2", 1, "x", { "Nats-Msg-Id": "d" }));
  out.push(await batchMsg(nc, "ab.a", "b2", 2, "y", { "Nats-Msg-Id": "d", "Nats-Batch-Commit": "1" }));
  // The first message may say where the stream stands; a wrong one refuses the batch.
  out.push(await batchMsg(nc, "ab.e", "b3", 1, "e1", { "Nats-Expected-Last-Sequence": "3" }));
  out.push(await batchMsg(nc, "ab.e", "b3", 2, "e2", { "Nats-Batch-Commit": "1" }));
  out.push(await batchMsg(nc, "ab.e", "b4", 1, "e3", { "Nats-Expected-Last-Sequence": "4" }));
  out.push(await batchMsg(nc, "ab.e", "b4", 2, "e4", { "Nats-Batch-Commit": "eob" }));
  // Per-subject limits counted over the batch (discard old: the oldest go).
  for (let i = 1; i <= 5; i++) out.push(await batchMsg(nc, "ab.f", "b5", i, `f${i}`, i === 5 ? { "Nats-Batch-Commit": "1" } : {}));
  // A gap: the batch is incomplete.
  out.push(await batchMsg(nc, "ab.g", "b6", 1, "g1"));
  out.push(await batchMsg(nc, "ab.g", "b6", 3, "g3", { "Nats-Batch-Commit": "1" }));
  const info = await clusterApi<ClusterAnswer & { state?: { messages: number; last_seq: number; num_subjects: number } }>(nc, "$JS.API.STREAM.INFO.AB", {});
  out.push(`state ${info.state?.messages} ${info.state?.last_seq} ${info.state?.num_subjects}`);
  // What is stored, read back by sequence.
  for (let seq = 1; seq <= (info.state?.last_seq ?? 0); seq++) {
    const m = await clusterApi<ClusterAnswer & { message?: { subject: string; data: string; hdrs?: string } }>(nc, "$JS.API.STREAM.MSG.GET.AB", { seq });
    const hdrs = m.message?.hdrs !== undefined ? Buffer.from(m.message.hdrs, "base64").toString().includes("Nats-Batch-Commit: 1") : false;
    out.push(m.error !== undefined ? `get ${seq} ${m.error.err_code}` : `get ${seq} ${m.message?.subject} ${Buffer.from(m.message?.data ?? "", "base64").toString()}${hdrs ? " commit" : ""}`);
  }
  return out.map(norm);
}

test("R3 atomic batch: one entry on every member, answers as a nats-server 2.15 cluster", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ref = await startRefJsCluster(3);
  let nc: NatsConnection | undefined;
  let rnc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[1].url });
    const ours = await batchSteps(nc);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.match(ours[0], /^create null true$/);
    assert.match(ours[4], /"seq":4,"batch":"b1","count":3\}$/);
    const stored = await sameEverywhere(c, "AB");
    assert.ok(stored.length > 0);
    if (ref !== undefined) {
      rnc = await connect({ servers: ref.urls[1] });
      const theirs = await batchSteps(rnc);
      assert.deepEqual(ours, theirs, "the same answers as nats-server 2.15");
    }
  } finally {
    await nc?.close();
    await rnc?.close();
    await ref?.stop();
    await c.stop();
  }
});

test("R3 atomic batch: the leader stops in the middle of a batch, none of it is stored anywhere; the next batch is stored everywhere", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    let nc = await connect({ servers: c.members[0].url });
    ncs.push(nc);
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.FB", { name: "FB", subjects: ["fb.>"], num_replicas: 3, allow_atomic: true });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "FB")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "FB");
    const other = c.members.find((m) => m.name !== leader)!;
    await nc.close();
    nc = await connect({ servers: other.url });
    ncs.push(nc);
    // One batch committed before the fail-over.
    for (let i = 1; i <= 3; i++) {
      const a = await batchMsg(nc, "fb.x", "before", i, `b${i}`, i === 3 ? { "Nats-Batch-Commit": "1" } : {});
      assert.equal(a, i < 3 ? "" : `{"stream":"FB","seq":3,"batch":"before","count":3}`);
    }
    // Half a batch staged on the leader, which then stops.
    for (let i = 1; i <= 4; i++) assert.equal(await batchMsg(nc, "fb.y", "cut", i, `c${i}`), "");
    await c.stopMember(leader);
    const second = await replicaLeader(c, "FB", leader);
    assert.notEqual(second, leader);
    // The rest of the batch reaches the new leader, which never saw its start: refused.
    let commit = "no answer";
    for (let i = 0; i < 20 && commit === "no answer"; i++) commit = await batchMsg(nc, "fb.y", "cut", 5, "c5", { "Nats-Batch-Commit": "1" });
    assert.match(commit, /"err_code":10176/, `the commit of a batch whose start the new leader never saw: ${commit}`);
    assert.deepEqual(await sameEverywhere(c, "FB"), ["1 fb.x b1", "2 fb.x b2", "3 fb.x b3"], "nothing of the cut batch anywhere");
    // A whole batch after the fail-over: stored on every member, the old leader's too once back.
    for (let i = 1; i <= 3; i++) {
      const a = await batchMsg(nc, "fb.z", "after", i, `a${i}`, i === 3 ? { "Nats-Batch-Commit": "1" } : {});
      assert.equal(a, i < 3 ? "" : `{"stream":"FB","seq":6,"batch":"after","count":3}`);
    }
    await c.startMember(leader);
    const all = await sameEverywhere(c, "FB");
    assert.deepEqual(all, ["1 fb.x b1", "2 fb.x b2", "3 fb.x b3", "4 fb.z a1", "5 fb.z a2", "6 fb.z a3"]);
    await waitUntil(() => contents(c, leader, "FB").length === 6, 30_000, "the old leader caught up");
  } finally {
    for (const x of ncs) await x.close().catch(() => undefined);
    await c.stop();
  }
});

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
  const c = await JsTestCluster.start(3);
  const ref = await startRefJsCluster(3);
  let nc: NatsConnection | undefined;
  let rnc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[2].url });
    const ours = await markerSteps(nc);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.equal(ours[0], "create null");
    await sameEverywhere(c, "MK");
    for (const m of c.members) assert.equal(streamOn(c, m.name, "MK")?.store.state().lastSeq, 7, `${m.name} stored the markers too`);
    if (ref !== undefined) {
      rnc = await connect({ servers: ref.urls[2] });
      assert.deepEqual(ours, await markerSteps(rnc), "the same as nats-server 2.15");
    }
  } finally {
    await nc?.close();
    await rnc?.close();
    await ref?.stop();
    await c.stop();
  }
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

/** One message through the client: the answer's text (a PubAck or an error). */
async function pubWith(nc: NatsConnection, subject: string, data: string, hdrs: Record<string, string>): Promise<string> {
  const h = headers();
  for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  for (let i = 0; ; i++) {
    try {
      const a = (await nc.request(subject, data, { headers: h, timeout: 5000 })).string();
      if (!a.includes('"code":503') || i > 50) return a;
    } catch (err) {
      if (i > 50) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Message schedules on an R3 stream: the publish checks, then a one-shot schedule that fires and is purged. */
async function scheduleSteps(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.SC", { name: "SC", subjects: ["sc.>"], num_replicas: 3, allow_msg_schedules: true });
  out.push(`create ${JSON.stringify(created.error ?? null)}`);
  out.push(await pubWith(nc, "sc.s.bad", "x", { "Nats-Schedule": "@every 1ms", "Nats-Schedule-Target": "sc.o.bad" }));
  out.push(await pubWith(nc, "sc.s.bad", "x", { "Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "elsewhere" }));
  const at = new Date(Date.now() + 2000).toISOString().replace(/\.\d+Z$/, "Z");
  out.push(await pubWith(nc, "sc.s.once", "fired", { "Nats-Schedule": `@at ${at}`, "Nats-Schedule-Target": "sc.o.once" }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const info = await clusterApi<ClusterAnswer & { state?: { messages: number; last_seq: number } }>(nc, "$JS.API.STREAM.INFO.SC", {});
    if (info.state?.last_seq === 2 && info.state.messages === 1) break;
    if (Date.now() > deadline) throw new Error(`the schedule never fired: ${JSON.stringify(info.state)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = await clusterApi<ClusterAnswer & { message?: { subject: string; data: string; hdrs?: string } }>(nc, "$JS.API.STREAM.MSG.GET.SC", { seq: 2 });
  const hdrs = Buffer.from(m.message?.hdrs ?? "", "base64").toString();
  out.push(`produced ${m.message?.subject} ${Buffer.from(m.message?.data ?? "", "base64").toString()} ${/Nats-Scheduler: (\S+)/.exec(hdrs)?.[1]} ${/Nats-Schedule-Next: (\S+)/.exec(hdrs)?.[1]}`);
  const gone = await clusterApi(nc, "$JS.API.STREAM.MSG.GET.SC", { seq: 1 });
  out.push(`schedule ${gone.error?.err_code}`);
  return out;
}

test("R3 message schedules: checked and fired as on a nats-server 2.15 cluster, the produced message on every member", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ref = await startRefJsCluster(3);
  let nc: NatsConnection | undefined;
  let rnc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[1].url });
    const ours = await scheduleSteps(nc);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.deepEqual(await sameEverywhere(c, "SC"), ["2 sc.o.once fired"]);
    if (ref !== undefined) {
      rnc = await connect({ servers: ref.urls[1] });
      assert.deepEqual(ours, await scheduleSteps(rnc), "the same as nats-server 2.15");
    }
  } finally {
    await nc?.close();
    await rnc?.close();
    await ref?.stop();
    await c.stop();
  }
});

test("R3 message schedules: fired by the leader only, once; a new leader fires what was pending when the old one stopped", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    const created = await clusterApi((nc = await connect({ servers: c.members[0].url })), "$JS.API.STREAM.CREATE.SF", { name: "SF", subjects: ["sf.>"], num_replicas: 3, allow_msg_schedules: true });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "SF")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "SF");
    await nc.close();
    const other = c.members.find((m) => m.name !== leader)!;
    nc = await connect({ servers: other.url });
    const at = new Date(Date.now() + 3000).toISOString().replace(/\.\d+Z$/, "Z");
    assert.match(await pubWith(nc, "sf.s1", "one", { "Nats-Schedule": `@at ${at}`, "Nats-Schedule-Target": "sf.o1" }), /"seq":1\}/);
    assert.match(await pubWith(nc, "sf.s2", "every", { "Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "sf.o2" }), /"seq":2\}/);
    // Every member knows both schedules; the leader stops before the one-shot is due.
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "SF")?.schedules.size === 2), 20_000, "both schedules on every member");
    await c.stopMember(leader);
    await replicaLeader(c, "SF", leader);
    const produced = (m: string, subject: string): string[] => {
      const s = streamOn(c, m, "SF");
      const out: string[] = [];
      if (s === undefined) return out;
      for (let q = s.store.state().firstSeq; q <= s.store.state().lastSeq; q++) {
        const msg = s.store.loadNextMsg(subject, q);
        if (msg === null) break;
        out.push(getHeader(msg.hdr, "Nats-Schedule-Next") ?? "?");
        q = msg.seq;
      }
      return out;
    };
    const running = c.members.filter((m) => m.name !== leader).map((m) => m.name);
    await waitUntil(() => running.every((m) => produced(m, "sf.o1").length === 1 && produced(m, "sf.o2").length >= 3), 30_000, "the pending schedules fired by the new leader");
    // The old leader comes back as a follower: it fires nothing of its own.
    await c.startMember(leader);
    await waitUntil(() => produced(leader, "sf.o2").length >= 5, 30_000, "the old leader applies the new leader's produced messages");
    // A plain message on the repeating schedule's subject ends it.
    assert.match(await pubWith(nc, "sf.s2", "stop", {}), /"seq":\d+\}/);
    const all = await sameEverywhere(c, "SF");
    for (const m of c.members) {
      assert.deepEqual(produced(m.name, "sf.o1"), ["purge"], `${m.name}: the one-shot fired once`);
      const nexts = produced(m.name, "sf.o2");
      assert.equal(new Set(nexts).size, nexts.length, `${m.name}: each repetition fired once: ${JSON.stringify(nexts)}`);
      assert.equal(streamOn(c, m.name, "SF")?.schedules.size, 0, `${m.name}: no schedule left`);
    }
    assert.ok(!all.some((l) => / sf\.s1 /.test(l)), "the one-shot schedule was purged by its produced message");
  } finally {
    await nc?.close();
    await c.stop();
  }
});

/**
 * Fast batch publish (2.14) on an R3 stream: every reply of each step, sorted within the step.
 * A batch that ends while messages are still being applied is answered on the reply subject of
 * the last of them, else on the ending message's: which one is a race on nats-server's cluster
 * as here, so a PubAck's reply subject is shown by batch id only. `expect`: how many replies each step waits
 * for (nats-server's counts; without it a step ends once its replies stop coming for a while).
 */
async function fastBatchSteps(nc: NatsConnection, expect?: number[]): Promise<string[]> {
  const out: string[] = [];
  const got: string[] = [];
  const sub = nc.subscribe("ib.>", {
    callback: (_e, m) => {
      const text = m.string();
      got.push(`${text.includes('"batch":') ? m.subject.split(".")[1] : m.subject.substring(3)} ${text}`);
    },
  });
  const counts: number[] = [];
  const step = async (label: string): Promise<void> => {
    await nc.flush();
    const want = expect?.[counts.length];
    if (want !== undefined) await waitUntil(() => got.length >= want, 30_000, `${want} replies to "${label}"`);
    else {
      // nats-server's cluster: replies stop coming (the reference run only).
      for (let seen = -1; seen !== got.length; ) {
        seen = got.length;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    counts.push(got.length);
    out.push(`== ${label}`, ...got.splice(0).sort());
  };
  const pub = (subj: string, data: string, reply: string, h?: Record<string, string>): void => {
    let hh;
    if (h !== undefined) {
      hh = headers();
      for (const [k, v] of Object.entries(h)) hh.set(k, v);
    }
    nc.publish(subj, data, { reply, headers: hh });
  };
  const R = (id: string, flow: number, gap: string, seq: number, op: number): string => `ib.${id}.${flow}.${gap}.${seq}.${op}.$FI`;
  const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.FB", { name: "FB", subjects: ["fb.>"], num_replicas: 3, allow_batched: true });
  out.push(`create ${JSON.stringify(created.error ?? null)}`);
  // The group's leader is there once a plain publish is answered.
  for (let i = 0; i < 100; i++) {
    try {
      const a = (await nc.request("fb.plain", "p", { timeout: 3000 })).string();
      if (!a.includes('"code":503')) break;
    } catch {
      // no leader yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  pub("fb.a", "1", R("b2", 2, "fail", 1, 0));
  for (let i = 2; i <= 4; i++) pub("fb.a", String(i), R("b2", 2, "fail", i, 1));
  pub("fb.a", "5", R("b2", 2, "fail", 5, 2));
  await step("commit with the last message, flow 2");
  pub("fb.b", "1", R("b3", 1, "fail", 1, 0));
  pub("fb.b", "2", R("b3", 1, "fail", 2, 1));
  pub("fb.b", "", R("b3", 1, "fail", 3, 3));
  await step("end of batch");
  pub("fb.c", "1", R("b4", 10, "fail", 1, 0));
  pub("fb.c", "3", R("b4", 10, "fail", 3, 1));
  await step("a gap in fail mode ends the batch");
  pub("fb.d", "1", R("b5", 10, "ok", 1, 0));
  pub("fb.d", "3", R("b5", 10, "ok", 3, 1));
  pub("fb.d", "", R("b5", 10, "ok", 3, 4));
  pub("fb.d", "6", R("b5", 10, "ok", 6, 2));
  await step("gaps in ok mode, a ping, the commit");
  pub("fb.e", "1", R("b6", 10, "fail", 1, 0), { "Nats-Msg-Id": "m1" });
  pub("fb.e", "2", R("b6", 10, "fail", 2, 1), { "Nats-Msg-Id": "m1" });
  pub("fb.e", "3", R("b6", 10, "fail", 3, 1), { "Nats-Expected-Last-Sequence": "1" });
  await step("a duplicate, then a failing message in fail mode");
  pub("fb.f", "1", R("c1", 100, "fail", 1, 0));
  for (let i = 2; i <= 12; i++) pub("fb.f", String(i), R("c1", 100, "fail", i, 1));
  pub("fb.f", "", R("c1", 100, "fail", 13, 3));
  await step("a longer batch");
  const info = await clusterApi<ClusterAnswer & { state?: { messages: number; last_seq: number } }>(nc, "$JS.API.STREAM.INFO.FB", {});
  out.push(`state ${info.state?.messages} ${info.state?.last_seq}`);
  sub.unsubscribe();
  if (expect === undefined) out.push(`counts ${JSON.stringify(counts)}`);
  return out;
}

test("R3 fast batch publish: each message through the group, flow control once applied, as a nats-server 2.15 cluster", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ref = await startRefJsCluster(3);
  let nc: NatsConnection | undefined;
  let rnc: NatsConnection | undefined;
  try {
    let theirs: string[] | undefined;
    let counts: number[] | undefined;
    if (ref !== undefined) {
      rnc = await connect({ servers: ref.urls[0] });
      theirs = await fastBatchSteps(rnc);
      counts = JSON.parse(theirs.pop()!.slice("counts ".length)) as number[];
    }
    await c.metaLeader();
    nc = await connect({ servers: c.members[0].url });
    const ours = await fastBatchSteps(nc, counts ?? [3, 3, 3, 4, 3, 3]);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.ok(ours.includes('b2 {"stream":"FB","seq":6,"batch":"b2","count":5}'), ours.join("\n"));
    await sameEverywhere(c, "FB");
    if (theirs !== undefined) assert.deepEqual(ours, theirs, "the same replies as nats-server 2.15");
  } finally {
    await nc?.close();
    await rnc?.close();
    await ref?.stop();
    await c.stop();
  }
});

test("R3 memory stream: its RAFT log stays in memory; a restarted member starts empty and catches up from the others", { timeout: 240_000 }, async () => {
  const snapshotEntries = StreamReplica.snapshotEntries;
  // Snapshots often: the restarted member gets one (and the messages behind it) as well as log entries.
  StreamReplica.snapshotEntries = 40;
  const c = await JsTestCluster.start(3);
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[0].url });
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.MEM", { name: "MEM", subjects: ["mem.>"], num_replicas: 3, storage: "memory" });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "MEM")?.replica !== undefined), 20_000, "a replica on every member");
    const leader = await replicaLeader(c, "MEM");
    const js = jetstream(nc, { timeout: 10_000 });
    const acks = [];
    for (let i = 0; i < 150; i++) acks.push(js.publish(`mem.${i % 5}`, `m${i}`));
    await Promise.all(acks);
    await sameEverywhere(c, "MEM");
    // Nothing of the group but its membership is on disk.
    for (const m of c.members) {
      const dir = (streamOn(c, m.name, "MEM")!.replica as unknown as { dir: string }).dir;
      assert.deepEqual(fs.readdirSync(dir), ["peers.json"], `${m.name}: ${dir}`);
    }
    const follower = c.members.find((m) => m.name !== leader && m.srv?.server !== undefined)!.name;
    await c.stopMember(follower);
    for (let i = 150; i < 300; i++) acks.push(js.publish(`mem.${i % 5}`, `m${i}`));
    await Promise.all(acks);
    await c.startMember(follower);
    await waitUntil(() => streamOn(c, follower, "MEM")?.replica !== undefined, 30_000, "the restarted member's replica");
    const all = await sameEverywhere(c, "MEM");
    assert.equal(all.length, 300);
    assert.equal(all[299], "300 mem.4 m299");
    // The leader restarts too: the group goes on with what the others hold.
    await c.stopMember(leader);
    await replicaLeader(c, "MEM", leader);
    await c.startMember(leader);
    await waitUntil(() => contents(c, leader, "MEM").length === 300, 30_000, "the old leader caught up");
    assert.deepEqual(await sameEverywhere(c, "MEM"), all);
  } finally {
    StreamReplica.snapshotEntries = snapshotEntries;
    await nc?.close();
    await c.stop();
  }
});
