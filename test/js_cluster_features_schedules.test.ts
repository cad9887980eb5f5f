// Message schedules on replicated (R3) streams: checked and fired as on a cluster of three
// nats-server 2.15, fired by the leader only, and by a new leader when the old one stopped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { getHeader } from "../src/protocol/headers.js";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import { streamOn, sameEverywhere, replicaLeader, withReferenceR3 } from "./helpers/js_cluster_features.js";

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
  await withReferenceR3(1, async (c, nc, reference) => {
    const ours = await scheduleSteps(nc);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.deepEqual(await sameEverywhere(c, "SC"), ["2 sc.o.once fired"]);
    const rnc = await reference();
    if (rnc !== undefined) assert.deepEqual(ours, await scheduleSteps(rnc), "the same as nats-server 2.15");
  });
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
