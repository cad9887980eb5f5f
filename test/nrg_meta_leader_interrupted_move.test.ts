// A move interrupted by a meta leader change: an R1 stream with a durable, placed on N1 by tag,
// moved to N2 by a new tag through N1 as meta leader, the meta leadership handed to T3
// (nrg_peer_meta_lead) right after the update's answer; then another moved the same way through
// T3, the leadership handed back to N1 right after. The stream's leader goes on asking the new
// meta leader for each next step of the desired state already committed, and each move ends as
// an uninterrupted one (nrg_meta_leader_move.test.ts): the group's peers N1, N1+N2, N2, no
// desired state left, the durable on N2 with its pending count, N2 holding the messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn } from "./helpers/nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps, onMetaEntries, waitMovedToN2 } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

const NAMES = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** Who proposed each of a stream's meta entries (the leader of the append that carried it), by server name. */
function captureProposers(sys: NatsConnection, stream: string): string[] {
  const out: string[] = [];
  onMetaEntries(sys, (entry, leader) => {
    if ((entry.op === "updateStream" || entry.op === "assignStream") && entry.assignment.config.name === stream) out.push(NAMES.get(leader) ?? leader);
  });
  return out;
}

/** The group's peer sets in order, each once. */
function peerSets(steps: Record<string, unknown>[]): string[] {
  const sets = steps.map((s) => [...(s.peers as string[])].sort().join("+"));
  return sets.filter((x, i) => x !== sets[i - 1]);
}

/** `stream` (R1 on N1 by tag, 5 messages, durable D with 5 pending) moved to N2 through the meta leader, the leadership handed to `next` at once. */
async function moveHandingOver(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string, next: string): Promise<Record<string, unknown>> {
  const steps = captureStreamSteps(sys, stream, NAMES);
  const proposers = captureProposers(sys, stream);
  const d = captureConsumerSteps(sys, stream, "D", NAMES);
  await sys.flush();
  const lower = stream.toLowerCase();
  const created = await retry(async () => {
    const a = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], placement: { tags: ["az:1"] } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a));
    return a;
  }, 30_000);
  assert.equal((created.cluster as { leader?: string } | undefined)?.leader, "N1", JSON.stringify(created));
  const js = jetstream(nc);
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 5; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  await retry(async () => {
    const a = await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.D`, { stream_name: stream, config: { durable_name: "D", ack_policy: "explicit" } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a));
  }, 20_000);
  const moved = await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, { ...(created.config as object), placement: { tags: ["az:2"] } });
  assert.equal(moved.error, undefined, JSON.stringify(moved));
  const handed = await api(sys, "$JS.API.META.LEADER.STEPDOWN", { placement: { preferred: next } });
  assert.equal(handed.error, undefined, JSON.stringify(handed));
  await cluster.metaLeadOn(next);
  await waitMovedToN2(nc, stream, steps);
  let dInfo: Answer = {};
  await waitUntil(
    async () => {
      const last = d.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      dInfo = await api(nc, `$JS.API.CONSUMER.INFO.${stream}.D`).catch(() => ({}));
      return last?.desired === undefined && JSON.stringify(last?.peers) === '["N2"]' && (dInfo.cluster as { leader?: string } | undefined)?.leader === "N2";
    },
    60_000,
    `D moved to N2 with ${stream}`,
    () => JSON.stringify({ d: d.slice(-2), cluster: dInfo.cluster }),
  );
  await waitUntil(async () => (await streamStateOn(cluster.live()[0], stream)) === undefined, 30_000, `N1 no longer holds ${stream}`);
  return {
    proposers: [proposers[0], proposers.at(-1)],
    peers: peerSets(steps),
    d: peerSets(d),
    pending: dInfo.num_pending,
    onN2: (await streamStateOn(cluster.live()[1], stream))?.messages,
  };
}

test("a move interrupted by a meta leader change from N1 to T3, and from T3 to N1, ends as an uninterrupted one", { skip: referenceMissing(), timeout: 240_000 }, async (t) => {
  const cluster = await NrgCluster.zoned();
  try {
    const { nc1, sys } = await cluster.upWithMetaLeader("N1");
    const toT3 = await moveHandingOver(cluster, nc1, sys, "MA", "T3");
    t.diagnostic(`begun under N1, finished under T3: ${JSON.stringify(toT3)}`);
    const toN1 = await moveHandingOver(cluster, nc1, sys, "MB", "N1");
    t.diagnostic(`begun under T3, finished under N1: ${JSON.stringify(toN1)}`);
    const end = { peers: ["N1", "N1+N2", "N2"], d: ["N1", "N1+N2", "N2"], pending: 5, onN2: 5 };
    assert.deepEqual(toT3, { proposers: ["N1", "T3"], ...end });
    assert.deepEqual(toN1, { proposers: ["T3", "N1"], ...end });
  } finally {
    await cluster.stop();
  }
});
