// T3 (nrg_peer_meta_lead) after the loss of the nats-server meta leader: N1, leading the meta
// group, is stopped; N2 and T3 elect a leader between them (T3 campaigns as nats-server's
// members do; if N2 wins, its step-down preferring T3 hands T3 the group); with N1 down T3
// places an R3 stream only where it can (refused: two live members) and an R1 stream on N2 or T3;
// N1 comes back with an empty store and T3, its meta leader, catches it up from its log or
// its meta snapshot (nats-server's format): N1's own /jsz then shows the streams created before
// and during its absence, and N1 takes its part of a new R3 stream T3 places. Then T3 itself is
// lost: N1 and N2 elect a leader and place an R2 stream; T3, restarted with its log, applies it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, streamStateOn, type MetaCluster } from "./helpers/nrg_cluster.js";
import type { ReferenceServer } from "./helpers/nats_server.js";

async function metaOn(s: ReferenceServer): Promise<MetaCluster> {
  return (await getJson<{ meta_cluster?: MetaCluster }>(`${s.monitorUrl}/jsz`)).meta_cluster ?? {};
}

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown> & { error?: { code: number; err_code: number; description: string } }> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** An R3 stream (subjects `<name lowercased>.>`) created, asked again until the meta leader sees three servers live. */
async function createOnceLive(nc: NatsConnection, name: string): Promise<void> {
  let answer: Awaited<ReturnType<typeof api>> = {};
  await waitUntil(
    async () => {
      answer = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3 });
      return answer.error === undefined;
    },
    30_000,
    `${name} is placed on three live servers`,
    () => JSON.stringify(answer),
  );
}

test("after the nats-server meta leader is lost T3 leads the meta group, places streams on the live servers and catches the returning server up", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  try {
    const { n1, n2, nc2 } = await cluster.upWithClients();
    // Created by the nats-server meta leader once it sees every server online.
    await createOnceLive(nc2, "OLD");
    // N1 leads the meta group, then is lost.
    const sysOn = async (s: ReferenceServer): Promise<NatsConnection> => {
      const nc = await connect({ servers: `127.0.0.1:${s.port}`, user: "sys", pass: "sys" });
      cluster.conns.push(nc);
      return nc;
    };
    const sys1 = await sysOn(n1);
    let leader: string | undefined;
    let askedAt = 0;
    await waitUntil(
      async () => {
        leader = (await metaOn(n1)).leader;
        if (leader === "N1") return true;
        if (Date.now() - askedAt < 10_000 || leader === undefined) return false;
        askedAt = Date.now();
        await api(sys1, "$JS.API.META.LEADER.STEPDOWN", { placement: { preferred: "N1" } }).catch(() => undefined);
        return false;
      },
      40_000,
      "N1 leads the meta group",
      () => String(leader),
    );
    await cluster.nats[0]?.stop();
    cluster.nats[0] = undefined;

    const sys2 = await sysOn(n2);
    let elected: string | undefined;
    askedAt = 0;
    await waitUntil(
      async () => {
        elected = (await metaOn(n2)).leader;
        if (elected === "T3") return true;
        if (elected !== "N2" || Date.now() - askedAt < 10_000) return false;
        askedAt = Date.now();
        await api(sys2, "$JS.API.META.LEADER.STEPDOWN", { placement: { preferred: "T3" } }).catch(() => undefined);
        return false;
      },
      60_000,
      "T3 leads the meta group without N1",
      () => String(elected),
    );
    const campaign = ((await getJson<{ nrg_meta_peer: { campaign?: { counters: Record<string, number> } } }>(`${cluster.ours?.monitorUrl}/jsz`)).nrg_meta_peer.campaign?.counters) ?? {};
    t.diagnostic(`T3's meta campaign: ${JSON.stringify(campaign)}`);

    // Two live members: an R3 stream has no placement, an R1 stream goes to N2 or to T3 (which holds one alone, as its leader).
    const r3 = await api(nc2, "$JS.API.STREAM.CREATE.WIDE", { name: "WIDE", subjects: ["wide.>"], num_replicas: 3 });
    assert.equal(r3.error?.err_code, 10005, JSON.stringify(r3));
    const r1 = await api(nc2, "$JS.API.STREAM.CREATE.ONE", { name: "ONE", subjects: ["one.>"] });
    assert.equal(r1.error, undefined, JSON.stringify(r1));
    assert.ok(["N2", "T3"].includes((r1.cluster as { leader?: string }).leader ?? ""), JSON.stringify(r1.cluster));

    // N1 returns empty: caught up by T3, it holds what was assigned before and during its absence.
    cluster.nats[0] = await cluster.startN(0);
    const n1b = cluster.nats[0];
    await waitUntil(async () => (await streamStateOn(n1b, "OLD")) !== undefined, 40_000, "the returning N1 holds OLD again");
    let meta: MetaCluster = {};
    await waitUntil(
      async () => {
        meta = await metaOn(n1b);
        return meta.leader === "T3";
      },
      30_000,
      "N1 follows T3",
      () => JSON.stringify(meta),
    );
    const names = await api(nc2, "$JS.API.STREAM.NAMES");
    assert.deepEqual(names.streams, ["OLD", "ONE"]);
    // Three live members again: an R3 stream is placed on all of them.
    await createOnceLive(nc2, "WIDE");
    await waitUntil(async () => (await streamStateOn(n1b, "WIDE")) !== undefined && (await streamStateOn(n2, "WIDE")) !== undefined, 20_000, "N1 and N2 hold WIDE");
    const after = (await getJson<{ nrg_meta_peer: { campaign?: { counters: Record<string, number> } } }>(`${cluster.ours?.monitorUrl}/jsz`)).nrg_meta_peer.campaign?.counters ?? {};
    t.diagnostic(`T3's meta campaign at the end: ${JSON.stringify(after)}`);
    assert.ok((after.catchupEntries ?? 0) + (after.snapshotsSent ?? 0) > 0, "T3 caught N1 up");

    // T3, the meta leader, lost: N1 and N2 elect one of them and go on from T3's entries; T3
    // restarted keeps its log, follows, and applies what was assigned without it.
    await cluster.ours?.stop();
    let next: string | undefined;
    await waitUntil(
      async () => {
        next = (await metaOn(n2)).leader;
        return next === "N1" || next === "N2";
      },
      40_000,
      "N1 and N2 elect a meta leader without T3",
      () => String(next),
    );
    let two: Awaited<ReturnType<typeof api>> = {};
    await waitUntil(
      async () => {
        two = await api(nc2, "$JS.API.STREAM.CREATE.TWO", { name: "TWO", subjects: ["two.>"], num_replicas: 2 });
        return two.error === undefined;
      },
      30_000,
      "TWO is placed on N1 and N2",
      () => JSON.stringify(two),
    );
    cluster.ours = await cluster.startOurs();
    let mine: string[] = [];
    await waitUntil(
      async () => {
        mine = ((await cluster.peerJson()).streams ?? []).map((x) => x.name).sort();
        return JSON.stringify(mine) === JSON.stringify(["OLD", "ONE", "TWO", "WIDE"]);
      },
      40_000,
      "the restarted T3 holds every assignment, TWO included",
      () => JSON.stringify(mine),
    );
  } finally {
    await cluster.stop();
  }
});
