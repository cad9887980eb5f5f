// A scale-up cancelled while the new servers catch up (nats-server 2.15 accepts both): an update
// back to R1 leaves the stream on its server with every message and the others drop what they
// had copied; a delete removes it everywhere. And the answers of STREAM.PEER.REMOVE's edge cases
// (bad requests, unknown peers and streams, no server to take the place, a removal during a
// scale-up). Every answer compared with a cluster of three nats-server 2.15.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, copyOf, streamOn } from "./helpers/js_cluster.js";
import { withReferenceR3 } from "./helpers/js_cluster_features.js";
import { clusterApi, clusterPublish, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";

type Json = Record<string, any>;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An answer without what differs between runs: its error, or what the update or removal did. */
function short(a: Json): string {
  if (a.error !== undefined) return JSON.stringify(a.error);
  if (a.success !== undefined) return `success ${a.success}`;
  return `replicas ${a.config?.num_replicas}`;
}

/** A stream of `n` messages of 8 KB, so a new server's catch-up takes a while. */
async function filled(nc: NatsConnection, name: string, n: number): Promise<string> {
  const created = await clusterApi(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 1 });
  if (created.error !== undefined) return `create ${name} ${JSON.stringify(created.error)}`;
  const big = "x".repeat(8000);
  // Acknowledged, 100 at a time (a core publish can be dropped by a busy server). Each one is
  // tried again while nobody answers: a nats-server cluster answers the create before the stream's
  // interest has crossed the route to the client's server (seen in CI). The ids make a retried
  // publish that did land count once.
  const js = jetstream(nc, { timeout: 20_000 });
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, k) => js.publish(`${name.toLowerCase()}.${(i + k) % 10}`, big, { msgID: `${name}-${i + k}`, retries: 20 })),
    );
  }
  let info: Json = {};
  for (let i = 0; i < 100 && info.state?.messages !== n; i++) {
    await sleep(100);
    info = await clusterApi(nc, `$JS.API.STREAM.INFO.${name}`);
  }
  return `${name} ${info.state?.messages}`;
}

/** Stream info until it shows `others` servers besides the leader, all current (up to 20 s): what it shows then. */
async function settled(nc: NatsConnection, name: string, others: number): Promise<string> {
  let info: Json = {};
  for (let i = 0; i < 100; i++) {
    info = await clusterApi(nc, `$JS.API.STREAM.INFO.${name}`);
    const replicas = (info.cluster?.replicas ?? []) as Json[];
    if (info.error !== undefined || (replicas.length === others && replicas.every((r) => r.current === true) && info.cluster?.desired === undefined)) break;
    await sleep(200);
  }
  if (info.error !== undefined) return `${name} ${JSON.stringify(info.error)}`;
  return `${name} msgs ${info.state?.messages} replicas ${info.config?.num_replicas} others ${(info.cluster?.replicas ?? []).length} leader ${info.cluster?.leader !== undefined} desired ${info.cluster?.desired !== undefined}`;
}

async function steps(nc: NatsConnection, afterCancels: () => Promise<void> = async () => undefined): Promise<string[]> {
  const out: string[] = [];
  const api = (subject: string, body?: unknown): Promise<ClusterAnswer> => clusterApi(nc, subject, body);
  // Asked once: "peer remap failed" is a 503, which clusterApi would ask again for 30 s.
  const once = async (subject: string, body?: unknown): Promise<Json> => (await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: 10_000 })).json<Json>();
  out.push(await filled(nc, "A", 2000));
  out.push(await filled(nc, "B", 2000));
  // R1 -> R3, then back to R1 while the two new servers copy.
  out.push(`A up ${short(await api("$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a.>"], num_replicas: 3 }))}`);
  out.push(`A down ${short(await api("$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a.>"], num_replicas: 1 }))}`);
  out.push(await settled(nc, "A", 0));
  // R1 -> R3, then deleted while the two new servers copy.
  out.push(`B up ${short(await api("$JS.API.STREAM.UPDATE.B", { name: "B", subjects: ["b.>"], num_replicas: 3 }))}`);
  out.push(`B delete ${short(await api("$JS.API.STREAM.DELETE.B"))}`);
  out.push(await settled(nc, "B", 0));
  out.push(`names ${JSON.stringify((await api("$JS.API.STREAM.NAMES")).streams)}`);
  await afterCancels();
  // The same stream scaled up again, to the end this time.
  out.push(`A up again ${short(await api("$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a.>"], num_replicas: 3 }))}`);
  out.push(await settled(nc, "A", 2));

  // STREAM.PEER.REMOVE's edge cases.
  out.push(`remove no body ${short(await once("$JS.API.STREAM.PEER.REMOVE.A"))}`);
  out.push(`remove {} ${short(await once("$JS.API.STREAM.PEER.REMOVE.A", {}))}`);
  out.push(`remove bad JSON ${short((await nc.request("$JS.API.STREAM.PEER.REMOVE.A", "{bad", { timeout: 10_000 })).json<Json>())}`);
  out.push(`remove unknown peer ${short(await once("$JS.API.STREAM.PEER.REMOVE.A", { peer: "nobody" }))}`);
  out.push(`remove from unknown stream ${short(await once("$JS.API.STREAM.PEER.REMOVE.NOPE", { peer: "nobody" }))}`);
  const info = await api("$JS.API.STREAM.INFO.A");
  const leader = (info.cluster as Json | undefined)?.leader as string;
  const follower = ((info.cluster as Json | undefined)?.replicas as Json[] | undefined)?.[0]?.name as string;
  // An R3 stream in a cluster of three: no server can take the place of one removed.
  out.push(`remove leader ${short(await once("$JS.API.STREAM.PEER.REMOVE.A", { peer: leader }))}`);
  out.push(`remove follower ${short(await once("$JS.API.STREAM.PEER.REMOVE.A", { peer: follower }))}`);
  out.push(await settled(nc, "A", 2));
  // R5 in a cluster of three; R2, then a server removed: the third takes its place.
  out.push(`A R5 ${short(await api("$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a.>"], num_replicas: 5 }))}`);
  out.push(`A R2 ${short(await api("$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a.>"], num_replicas: 2 }))}`);
  out.push(await settled(nc, "A", 1));
  const r2 = await api("$JS.API.STREAM.INFO.A");
  const second = ((r2.cluster as Json | undefined)?.replicas as Json[] | undefined)?.[0]?.name as string;
  out.push(`remove R2 follower ${short(await once("$JS.API.STREAM.PEER.REMOVE.A", { peer: second }))}`);
  let moved: Json = {};
  for (let i = 0; i < 100; i++) {
    moved = await api("$JS.API.STREAM.INFO.A");
    const names = [moved.cluster?.leader, ...((moved.cluster?.replicas ?? []) as Json[]).map((r) => r.name)];
    if (names.length === 2 && !names.includes(second) && (moved.cluster?.replicas as Json[]).every((r) => r.current === true)) break;
    await sleep(200);
  }
  const names = [moved.cluster?.leader, ...((moved.cluster?.replicas ?? []) as Json[]).map((r) => r.name)];
  out.push(`after removal: ${names.length} servers, the removed one among them: ${names.includes(second)}, msgs ${moved.state?.messages}`);
  // A removal while a scale-up copies: no server is left to take the place.
  out.push(await filled(nc, "C", 2000));
  // (Its server named before the update: nats-server's info names no leader for a moment after it.)
  const cServer = ((await api("$JS.API.STREAM.INFO.C")).cluster as Json | undefined)?.leader as string;
  out.push(`C up ${short(await api("$JS.API.STREAM.UPDATE.C", { name: "C", subjects: ["c.>"], num_replicas: 3 }))}`);
  out.push(`remove during scale-up ${short(await once("$JS.API.STREAM.PEER.REMOVE.C", { peer: cServer }))}`);
  out.push(await settled(nc, "C", 2));
  return out;
}

test("a scale-up cancelled by an update or a delete while it copies, and STREAM.PEER.REMOVE's edge cases: as a nats-server 2.15 cluster", { timeout: 300_000 }, async () => {
  await withReferenceR3(0, async (c, nc, reference) => {
    // Cancelled: only the stream's own server holds it, with every message; the others dropped
    // their copies and RAFT groups, and the deleted stream left nothing anywhere.
    const cancelled = async (): Promise<void> => {
      await waitUntil(() => c.members.filter((m) => streamOn(c, m.name, "A") !== undefined).length === 1, 20_000, "A on one server");
      const holder = c.members.find((m) => streamOn(c, m.name, "A") !== undefined)!.name;
      assert.equal(copyOf(c, holder, "A").length, 2000, `${holder}: every message of A`);
      assert.equal(streamOn(c, holder, "A")?.replica, undefined, `${holder}: A runs no RAFT group as R1`);
      await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "B") === undefined), 20_000, "B on no server");
      for (const m of c.members) {
        const js = c.js(m.name);
        for (const name of ["A", "B"]) {
          if (m.name === holder && name === "A") continue;
          assert.equal(fs.existsSync(path.join(js.storeDir, "$G", "streams", name)), false, `${m.name}: no copy of ${name} left`);
        }
        const groups = fs.existsSync(js.cluster!.raftDir) ? fs.readdirSync(js.cluster!.raftDir) : [];
        assert.deepEqual(groups.filter((g) => g !== "meta"), [], `${m.name}: no RAFT group left of a removed copy`);
      }
    };
    const ours = await steps(nc, cancelled);
    if (process.env.SHOW_ANSWERS) console.log(ours.join("\n"));
    assert.equal(ours[4], "A msgs 2000 replicas 1 others 0 leader true desired false");
    // Scaled down to R2, then one of the two replaced: A is on two servers with every message, and
    // the server that left holds nothing of it (neither copy nor RAFT group).
    await waitUntil(() => c.members.filter((m) => streamOn(c, m.name, "A") !== undefined).length === 2, 20_000, "A on two servers");
    for (const m of c.members) {
      const a = streamOn(c, m.name, "A");
      if (a !== undefined) assert.equal(copyOf(c, m.name, "A").length, 2000, `${m.name}: every message of A`);
      const js = c.js(m.name);
      const live = new Set(["meta", ...["A", "C"].map((n) => streamOn(c, m.name, n)?.replica?.group).filter((g): g is string => g !== undefined)]);
      const groups = fs.existsSync(js.cluster!.raftDir) ? fs.readdirSync(js.cluster!.raftDir) : [];
      assert.deepEqual(groups.filter((g) => !live.has(g)), [], `${m.name}: no RAFT group of a copy it dropped`);
    }
    const rnc = await reference();
    if (rnc !== undefined) {
      const theirs = await steps(rnc);
      assert.deepEqual(ours, theirs, "the same answers as nats-server 2.15");
    }
  });
});

test("a scale-up in progress shows in stream info as desired until its servers are in the group (nats-server 2.15's shape)", { timeout: 180_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let nc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    // (Connected to S1, which stays.)
    nc = await connect({ servers: c.members[0].url });
    const created = await clusterApi(nc, "$JS.API.STREAM.CREATE.D", { name: "D", subjects: ["d.>"], num_replicas: 1 });
    assert.equal(created.error, undefined, JSON.stringify(created));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "d.x", `m${i}`);
    const owner = c.members.find((m) => streamOn(c, m.name, "D") !== undefined)!.name;
    const up = await clusterApi(nc, "$JS.API.STREAM.UPDATE.D", { name: "D", subjects: ["d.>"], num_replicas: 3 });
    assert.equal(up.error, undefined, JSON.stringify(up));
    // One of the two new servers stops: the scale-up cannot end while it is away.
    const away = c.members.find((m) => m.name !== owner && m !== c.members[0])!.name;
    await c.stopMember(away);
    let info: Json = {};
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      info = await clusterApi(nc, "$JS.API.STREAM.INFO.D");
      if (info.cluster?.desired?.status?.type === "catchup") break;
      await sleep(100);
    }
    const desired = info.cluster?.desired as Json;
    assert.ok(desired !== undefined, `desired while ${away} is away: ${JSON.stringify(info.cluster)}`);
    assert.deepEqual((desired.replicas as Json[]).map((r) => r.name).sort(), ["S1", "S2", "S3"]);
    assert.deepEqual(desired.origin, { replicas: 1 });
    assert.equal(desired.name, "JSC");
    assert.deepEqual(desired.status, { description: "waiting for peer to catch up before adding it", type: "catchup" });
    const listed = ((info.cluster?.replicas ?? []) as Json[]).find((r) => r.name === away);
    assert.equal(listed?.current, false, `${away} listed, not current: ${JSON.stringify(info.cluster?.replicas)}`);
    // Back: it catches up, and the scale-up is over.
    await c.startMember(away);
    const settledInfo = await settled(nc, "D", 2);
    assert.equal(settledInfo, "D msgs 20 replicas 3 others 2 leader true desired false");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "D")?.store.state().msgs === 20), 20_000, "20 messages on every member");
  } finally {
    await nc?.close();
    await c.stop();
  }
});
