// T3 removed from the meta group by a nats-server 2.15 meta leader ($JS.API.SERVER.REMOVE through
// N1): an R2 stream on N1 and T3 loses T3 at once and N2 takes its place, the durable follows
// (the steps 2.15.1 takes for N2 removed from the same layout, nrg_meta_leader_server_remove),
// and T3 stops serving JetStream. nats-server disables JetStream on a removed server;
// T3 stops its stream and consumer groups (their data stays on disk), offers no JetStream in its
// STATSZ any more and answers nothing in the meta group.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, r2StreamWithDurable, streamStateOn, type PeerJson } from "./helpers/nrg_cluster.js";
import { captureStreamSteps, nudgeOnce, removalEnds } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

interface Outcome {
  /** Whether S, stuck in desired state, was nudged with an update of its own config. */
  nudged: boolean;
  answer: Answer;
  steps: Record<string, unknown>[];
  pending: number;
  /** S's messages on N1 and on the replacement. */
  messages: (number | undefined)[];
  removedServes: string;
}

/** N1 (meta leader) removes T3 while S, an R2 stream with a durable, is on N1 and T3; S's steps with the servers as roles. */
async function removeT3(): Promise<Outcome> {
  const roles = new Map([[shortHash("N1"), "N1"], [shortHash("T3"), "removed"], [shortHash("N2"), "replacement"]]);
  const cluster = await NrgCluster.zoned();
  try {
    const { n1, n2, nc1, jsm, sys } = await cluster.upWithMetaLeader("N1");
    const steps = captureStreamSteps(sys, "S", roles);
    await sys.flush();
    await r2StreamWithDurable(nc1, jsm, "az:2");
    await waitUntil(async () => (await cluster.group("S"))?.replica?.messages === 4, 30_000, "T3 holds S's 4 messages");
    const answer = await api(sys, "$JS.API.SERVER.REMOVE", { peer: "T3" });
    let now: Answer = {};
    const nudge = nudgeOnce(nc1, ["S"], 15_000);
    let nudged = false;
    await waitUntil(
      async () => {
        now = await api(nc1, "$JS.API.STREAM.INFO.S").catch(() => ({}));
        nudged = await nudge();
        const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
        return last?.desired === undefined && JSON.stringify([...(last?.peers ?? [])].sort()) === JSON.stringify(["N1", "replacement"]);
      },
      60_000,
      "S on N1 and the replacement",
      () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2), nudged }),
    );
    const onReplacement = async (): Promise<number | undefined> => (await streamStateOn(n2, "S"))?.messages;
    await waitUntil(async () => (await onReplacement()) === 4, 30_000, "the replacement holds S's 4 messages");
    let d: Answer & { num_pending?: number; cluster?: { leader?: string; replicas?: { name: string }[] } } = {};
    await waitUntil(
      async () => {
        d = await api(nc1, "$JS.API.CONSUMER.INFO.S.D").catch(() => ({}));
        const servers = [d.cluster?.leader, ...(d.cluster?.replicas ?? []).map((r) => r.name)].sort();
        return JSON.stringify(servers) === JSON.stringify(["N1", "N2"]);
      },
      30_000,
      "D on N1 and the replacement",
      () => JSON.stringify(d.cluster),
    );
    // What T3 still serves: removed, no groups, healthz unavailable, no JetStream in its STATSZ.
    let peer: PeerJson & { removed?: boolean } = {};
    await waitUntil(
      async () => {
        peer = (await cluster.peerJson()) as PeerJson & { removed?: boolean };
        return peer.removed === true && (peer.groups ?? []).length === 0;
      },
      20_000,
      "T3 removed, its groups stopped",
      () => JSON.stringify(peer),
    );
    const health = await fetch(`${cluster.ours?.monitorUrl}/healthz`);
    const t3Id = (await getJson<{ server_id: string }>(`${cluster.ours?.monitorUrl}/varz`)).server_id;
    const statsz = await sys.request(`$SYS.REQ.SERVER.${t3Id}.STATSZ`, "", { timeout: 5_000 }).then((m) => m.json<{ statsz?: { jetstream?: unknown } }>());
    const removedServes = health.status === 503 && statsz.statsz !== undefined && statsz.statsz.jetstream === undefined ? "nothing" : `healthz ${health.status}, statsz ${JSON.stringify(statsz).slice(0, 200)}`;
    return { nudged, answer, steps, pending: Number(d.num_pending), messages: [(await streamStateOn(n1, "S"))?.messages, await onReplacement()], removedServes };
  } finally {
    await cluster.stop();
  }
}

test("T3 removed from the meta group by a nats-server meta leader gives up its streams as a removed nats-server does", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const t3 = await removeT3();
  t.diagnostic(`T3 removed: ${JSON.stringify(t3)}`);
  assert.deepEqual(t3.answer, { type: "io.nats.jetstream.api.v1.meta_server_remove_response", success: true });
  // The steps 2.15.1 took for N2 removed from the same layout (test/nrg_meta_leader_server_remove.test.ts, under N1).
  assert.deepEqual(removalEnds(t3.steps), [
    { op: "assignStream", peers: ["N1"], desired: ["N1", "replacement"], removed: ["removed"], members: ["N1"] },
    { peers: ["N1", "replacement"], desired: undefined, removed: undefined, members: undefined },
  ]);
  assert.equal(t3.pending, 4, "D's 4 messages pending on its new peers");
  assert.deepEqual(t3.messages, [4, 4], "S's 4 messages on N1 and N2");
  assert.equal(t3.removedServes, "nothing");
});
