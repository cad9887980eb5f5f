// /raftz on a JetStream cluster, side by side with nats-server 2.15: the same layout (account ->
// group -> figures, the meta group in the system account, a replicated stream's and consumer's
// groups under their account with `acc`), the same field names, filters and answers without a
// cluster; tsnats' figures agree with its own stream info and with each other (one leader).
// /jsz's raft and stream-leader-only options on the same clusters.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

type J = Record<string, any>;

async function raftz(url: string, q = ""): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}/raftz${q}`);
  return { status: r.status, text: await r.text() };
}

/** Field names of every group (and of its wal and peers), sorted: the layout without the values. */
function layout(body: J): string[] {
  const keys = new Set<string>();
  for (const [acc, groups] of Object.entries(body)) {
    for (const [name, g] of Object.entries(groups as J)) {
      const kind = name === "_meta_" ? "_meta_" : name.slice(0, 2);
      for (const k of Object.keys(g)) if (k !== "leader_since" && k !== "voted_for" && k !== "leader") keys.add(`${acc === "$SYS" ? "$SYS" : "acc"}/${kind}/${k}`);
      for (const k of Object.keys(g.wal)) keys.add(`wal/${k}`);
      for (const p of Object.values(g.peers as J)) for (const k of Object.keys(p)) if (k === "name" || k === "known") keys.add(`peer/${k}`);
    }
  }
  return [...keys].sort();
}

/** An R3 stream with an R3 durable and a few messages; /raftz of every server once all is settled. */
interface JszRaft {
  /** Sums over the servers of /jsz?raft=1's streams_leader and consumers_leader. */
  leaders: [number, number];
  /** Per server: the stream's raft group and its consumers' groups, as named by the stream's and consumer's info. */
  groups: Array<[boolean, string]>;
  /** How many servers list the stream with stream-leader-only. */
  leaderListings: number;
  badOptions: Array<[number, string]>;
}

async function jszRaft(urls: string[], streamGroup: string, consumerGroup: string): Promise<JszRaft> {
  const get = async (u: string, q: string): Promise<J> => (await (await fetch(`${u}/jsz?${q}`)).json()) as J;
  let leaders: [number, number] = [0, 0];
  const groups: Array<[boolean, string]> = [];
  let leaderListings = 0;
  for (const u of urls) {
    const top = await get(u, "raft=1");
    leaders = [leaders[0] + (top.streams_leader ?? 0), leaders[1] + (top.consumers_leader ?? 0)];
    const sd = (await get(u, "acc=%24G&streams=1&consumers=1&raft=1")).account_details[0].stream_detail[0] as J;
    groups.push([sd.stream_raft_group === streamGroup, JSON.stringify(sd.consumer_raft_groups).replace(consumerGroup, "<consumer group>")]);
    const only = (await get(u, "acc=%24G&streams=1&stream-leader-only=1")).account_details[0].stream_detail ?? [];
    leaderListings += only.length;
  }
  const badOptions: Array<[number, string]> = [];
  for (const q of ["raft=x", "stream-leader-only=maybe", "direct-consumers=2"]) {
    const r = await fetch(`${urls[0]}/jsz?${q}`);
    badOptions.push([r.status, await r.text()]);
  }
  return { leaders, groups, leaderListings, badOptions };
}

async function observe(line: "tsnats" | "2.15"): Promise<{ all: J[]; assets: J[]; filters: Array<[number, string]>; streamGroup: string; consumerGroup: string; jsz: JszRaft }> {
  const c = (await startRefJsCluster(3, "RZ", { line })) as RefJsCluster;
  try {
    const nc = await connect({ servers: c.urls[0] });
    try {
      let info: J = {};
      await waitUntil(async () => {
        try {
          info = JSON.parse((await nc.request("$JS.API.STREAM.CREATE.S", JSON.stringify({ name: "S", subjects: ["s"], num_replicas: 3 }), { timeout: 3000 })).string()) as J;
          return info.error === undefined;
        } catch {
          return false;
        }
      }, 60_000);
      const ci = JSON.parse((await nc.request("$JS.API.CONSUMER.CREATE.S.D", JSON.stringify({ stream_name: "S", config: { durable_name: "D", ack_policy: "explicit" } }), { timeout: 10_000 })).string()) as J;
      assert.equal(ci.error, undefined, JSON.stringify(ci));
      for (let i = 0; i < 5; i++) await nc.request("s", "x", { timeout: 5000 });
      const urls = c.servers.map((s) => s.monitorUrl as string);
      // Settled: every server's copy of the stream group has applied the five messages.
      let assets: J[] = [];
      await waitUntil(async () => {
        assets = await Promise.all(urls.map(async (u) => JSON.parse((await raftz(u, "?acc=%24G")).text) as J));
        return assets.every((a) => {
          const g = a.$G?.[info.cluster.raft_group];
          return g !== undefined && g.applied >= g.pindex && g.pindex >= 6 && Object.keys(a.$G).length === 2;
        });
      }, 30_000);
      const all = await Promise.all(urls.map(async (u) => JSON.parse((await raftz(u)).text) as J));
      const filters: Array<[number, string]> = [];
      for (const q of ["?acc=NOPE", "?acc=%24G&group=S-nope", "?group=_meta_&acc=%24G"]) {
        const r = await raftz(urls[0], q);
        filters.push([r.status, r.text.replace(/\s+/g, "")]);
      }
      const streamGroup = info.cluster.raft_group as string;
      const consumerGroup = ci.cluster.raft_group as string;
      return { all, assets, filters, streamGroup, consumerGroup, jsz: await jszRaft(urls, streamGroup, consumerGroup) };
    } finally {
      await nc.close();
    }
  } finally {
    await c.stop();
  }
}

test("/raftz shows the meta, stream and consumer groups as nats-server 2.15 does, and /jsz names them with raft=1", async () => {
  const ours = await observe("tsnats");
  // The meta group on every server, in the system account, with one leader they agree on.
  const metas = ours.all.map((b) => b.$SYS._meta_ as J);
  assert.equal(metas.length, 3);
  assert.equal(metas.filter((g) => g.state === "LEADER").length, 1);
  assert.equal(new Set(metas.map((g) => g.leader)).size, 1);
  assert.equal(new Set(metas.map((g) => g.id)).size, 3, "each server its own peer id");
  for (const g of metas) {
    assert.equal(g.size, 3);
    assert.equal(g.quorum_needed, 2);
    assert.equal(Object.keys(g.peers).length, 2);
    assert.ok(g.committed >= 1 && g.applied <= g.committed && g.pindex >= g.committed);
  }
  // The stream's and the consumer's groups, by the names their info gives.
  for (const a of ours.assets) {
    assert.deepEqual(Object.keys(a.$G).sort(), [ours.consumerGroup, ours.streamGroup].sort());
    const sg = a.$G[ours.streamGroup] as J;
    assert.equal(sg.wal.last_seq, sg.pindex);
    if (sg.state === "LEADER") for (const p of Object.values(sg.peers as J)) assert.equal(p.last_replicated_index, sg.pindex);
  }
  assert.equal(ours.assets.filter((a) => a.$G[ours.streamGroup].state === "LEADER").length, 1);
  // /jsz with raft: one leader of each, the groups named as their info names them.
  assert.deepEqual(ours.jsz.leaders, [1, 1]);
  assert.deepEqual(ours.jsz.groups, Array(3).fill([true, '[{"name":"D","raft_group":"<consumer group>"}]']));
  assert.equal(ours.jsz.leaderListings, 1);
  assert.deepEqual(ours.filters, [
    [200, "{}"],
    [200, "{}"],
    [200, "{}"],
  ]);

  // Without a cluster there are no groups.
  const single = await startNatsServer(["-js", "-m", "-1"], undefined, "tsnats");
  try {
    assert.deepEqual(await raftz(single.monitorUrl as string), { status: 404, text: "No Raft nodes registered" });
  } finally {
    await single.stop();
  }

  if (referenceBinary("2.15") === undefined) return;
  const ref = await observe("2.15");
  assert.deepEqual(layout(ours.assets[0]), layout(ref.assets[0]));
  assert.deepEqual(layout(ours.all[0]), layout(ref.all[0]));
  assert.deepEqual(ours.filters, ref.filters);
  assert.deepEqual(ours.jsz, ref.jsz);
  const refSingle = await startNatsServer(["-js", "-m", "-1"], undefined, "2.15");
  try {
    assert.deepEqual(await raftz(refSingle.monitorUrl as string), { status: 404, text: "No Raft nodes registered" });
  } finally {
    await refSingle.stop();
  }
});
