// LEADER.STEPDOWN with a placement, side by side: a stream's, a consumer's and the meta group's
// leadership asked to move by tags (`placement.tags`), cluster and preferred server, answered by
// a nats-server 2.15 leader (N1) and by T3 leading (nrg_peer_lead, nrg_peer_meta_lead). As
// nats-server's getStepDownPreferredPlacement: a preferred server among the group's peers (not
// the leader itself, not an unknown one), else a peer other than the leader in the cluster named
// and with every tag named; refused when none is.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** The refusals every leader answers, `leader` being the one asked (its own name is refused as preferred). */
async function refusals(nc: NatsConnection, subject: string, leader: string): Promise<Record<string, Answer>> {
  return {
    noTag: await api(nc, subject, { placement: { tags: ["az:9"] } }),
    otherCluster: await api(nc, subject, { placement: { cluster: "OTHER" } }),
    unknown: await api(nc, subject, { placement: { preferred: "NOPE" } }),
    itself: await api(nc, subject, { placement: { preferred: leader } }),
    badJson: await api(nc, subject, { placement: { tags: "az:1" } }),
  };
}

/** Its text with the leader's name as LEADER (the refusal of the leader as preferred names it). */
function anonymous(answers: Record<string, Answer>, leader: string): string {
  return JSON.stringify(answers).replaceAll(`\\"${leader}\\"`, "LEADER");
}

test("a stream's, a consumer's and the meta group's leadership moves by a STEPDOWN's placement through T3 as through a nats-server leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.zoned();
  try {
    const { nc1, jsm, sys } = await cluster.upWithMetaLeader("N1");
    await retry(() => jsm.streams.add({ name: "P", subjects: ["p.>"], num_replicas: 3 }), 60_000);
    await retry(() => jsm.consumers.add("P", { durable_name: "C", ack_policy: "explicit" } as never), 20_000);
    const leaderOf = async (subject: string): Promise<string | undefined> => ((await api(nc1, subject).catch(() => ({}))) as { cluster?: { leader?: string } }).cluster?.leader;
    const moved = async (what: string, info: string, to: string): Promise<void> => {
      let now: string | undefined;
      await waitUntil(async () => (now = await leaderOf(info)) === to, 30_000, `${what} led by ${to}`, () => String(now));
    };
    const results: Record<string, unknown> = {};
    for (const [what, info, stepdown, consumer] of [
      ["P", "$JS.API.STREAM.INFO.P", "$JS.API.STREAM.LEADER.STEPDOWN.P", undefined],
      ["C", "$JS.API.CONSUMER.INFO.P.C", "$JS.API.CONSUMER.LEADER.STEPDOWN.P.C", "C"],
    ] as const) {
      await cluster.leadOn(nc1, "N1", "P", consumer);
      const byN1 = await refusals(nc1, stepdown, "N1");
      // By tag to T3, the only server in zone az:3.
      const toT3 = await api(nc1, stepdown, { placement: { tags: ["az:3"] } });
      await moved(what, info, "T3");
      const byT3 = await refusals(nc1, stepdown, "T3");
      // By cluster and tag to N2.
      const toN2 = await api(nc1, stepdown, { placement: { cluster: "NRG", tags: ["az:2"] } });
      await moved(what, info, "N2");
      assert.equal(anonymous(byT3, "T3"), anonymous(byN1, "N1"), `${what}: T3 refuses as N1 refuses`);
      assert.deepEqual(toN2, toT3, `${what}: T3 hands the leadership over as N1 does`);
      results[what] = { refusals: byN1, moved: toT3 };
    }
    // The meta group: N1 to T3 by tag, T3 to N2 by cluster and tag, refusals by both.
    const metaLeader = async (): Promise<string | undefined> => cluster.metaLeaderOn(cluster.live()[0]);
    const byN1 = await refusals(sys, "$JS.API.META.LEADER.STEPDOWN", "N1");
    const toT3 = await api(sys, "$JS.API.META.LEADER.STEPDOWN", { placement: { tags: ["az:3"] } });
    let now: string | undefined;
    await waitUntil(async () => (now = await metaLeader()) === "T3", 30_000, "T3 leads the meta group", () => String(now));
    await waitUntil(async () => ((await cluster.peerJson()) as { meta_leader?: unknown }).meta_leader !== undefined, 30_000, "T3's meta leader half runs");
    const byT3 = await refusals(sys, "$JS.API.META.LEADER.STEPDOWN", "T3");
    const toN2 = await api(sys, "$JS.API.META.LEADER.STEPDOWN", { placement: { cluster: "NRG", tags: ["az:2"] } });
    await waitUntil(async () => (now = await metaLeader()) === "N2", 30_000, "N2 leads the meta group", () => String(now));
    t.diagnostic(JSON.stringify({ ...results, meta: { byN1, byT3, toT3, toN2 } }));
    assert.equal(anonymous(byT3, "T3"), anonymous(byN1, "N1"), "meta: T3 refuses as N1 refuses");
    assert.deepEqual(toN2, toT3, "meta: T3 hands the leadership over as N1 does");
  } finally {
    await cluster.stop();
  }
});
