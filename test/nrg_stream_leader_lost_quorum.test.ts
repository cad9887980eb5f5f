// A stream leader cut off from its group steps down, in a nats-server 2.15 cluster with T3
// (`nrg_peer_lead`), side by side: Q led by T3 with N1 and N2 frozen, and QN led by N1 with N2
// and T3 frozen. nats-server's leader checks every lost-quorum interval (10 s) whether a quorum
// answered within it, and steps down to a follower without a leader otherwise (raft.go
// runAsLeader: lostQuorum); T3 kept leading alone for good (its leader half answering as the
// stream's leader, its subscriptions taking publishes that could never commit), and steps down
// as N1 does now. Both are led again once the others are let go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, type LeaderGroup } from "./helpers/nrg_cluster.js";
import type { ReferenceServer } from "./helpers/nats_server.js";

/** Whom a nats-server names as a stream's leader in its own /jsz ("" none). */
async function leaderSeenBy(s: ReferenceServer, stream: string): Promise<string | undefined> {
  const jsz = await getJson<{ account_details?: { name: string; stream_detail?: { name: string; cluster?: { leader?: string } }[] }[] }>(`${s.monitorUrl}/jsz?accounts=true&streams=true`);
  const d = jsz.account_details?.find((a) => a.name === "APP")?.stream_detail?.find((x) => x.name === stream);
  return d === undefined ? undefined : (d.cluster?.leader ?? "");
}

test("with nrg_peer_lead, T3 leading a stream steps down once no quorum of its group answered within the lost-quorum interval, as a nats-server leader does", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  const frozen = new Set<number>();
  const freeze = (pid: number): void => {
    process.kill(pid, "SIGSTOP");
    frozen.add(pid);
  };
  const thawAll = (): void => {
    for (const pid of frozen) process.kill(pid, "SIGCONT");
    frozen.clear();
  };
  try {
    const { n1, n2, nc1, nc2, jsm } = await c.upWithClients();
    for (const name of ["Q", "QN"]) await retry(() => jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3 }), 90_000);
    await c.leadOnT3(nc1, "Q");

    // T3 alone: it steps down.
    let g: LeaderGroup | undefined;
    const t3From = Date.now();
    freeze(n1.proc.pid as number);
    freeze(n2.proc.pid as number);
    await waitUntil(async () => (g = (await c.group("Q")) as LeaderGroup | undefined)?.campaign?.role !== "leader" && g?.stream_leader === undefined, 40_000, "T3 steps down from Q with N1 and N2 frozen", () => JSON.stringify(g));
    const t3After = Date.now() - t3From;
    assert.equal(g?.leader, "", "T3 names no leader of Q once stepped down");
    thawAll();
    await waitUntil(async () => ((g = (await c.group("Q")) as LeaderGroup | undefined)?.leader ?? "") !== "", 60_000, "Q led again", () => JSON.stringify(g));

    // N1 alone: the same, as nats-server does it (QN's leader may have changed while N1 was frozen).
    await c.leadOn(nc2, "N1", "QN");
    await waitUntil(async () => (await leaderSeenBy(n1, "QN")) === "N1", 30_000, "N1 sees itself lead QN");
    assert.equal(await leaderSeenBy(n1, "QN"), "N1", "N1 leads QN");
    const n1From = Date.now();
    freeze(n2.proc.pid as number);
    freeze(c.ours?.proc.pid as number);
    let seen: string | undefined;
    await waitUntil(async () => (seen = await leaderSeenBy(n1, "QN")) !== "N1", 40_000, "N1 steps down from QN with N2 and T3 frozen", () => String(seen));
    const n1After = Date.now() - n1From;
    thawAll();
    await waitUntil(async () => ((await c.group("QN"))?.leader ?? "") !== "", 60_000, "QN led again");
    t.diagnostic(`stepped down after ${t3After} ms (T3) and ${n1After} ms (N1)`);
  } catch (err) {
    t.diagnostic(`T3's Q group: ${JSON.stringify(await c.group("Q").catch(() => undefined))}`);
    throw err;
  } finally {
    thawAll();
    await c.stop();
  }
});
