// Moving a stream through the meta leader, side by side: an R1 stream placed by tag on N1 moved
// to N2 by a new placement tag, first through a nats-server 2.15 meta leader, then through T3
// (nrg_peer_meta_lead). nats-server 2.15.1 moves through desired state marked `move` (the new
// peers placed as a create places them, the group's name kept); the stream's leader adds the new
// peers, hands its leadership over and removes the old ones, asking the meta leader for each
// step. The meta entries each meta leader proposed are compared (where each desired state starts
// and ends), and the moved stream holds its messages on its new server.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn, throughNatsThenT3 } from "./helpers/nrg_cluster.js";
import { captureStreamSteps, waitMovedToN2 } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** Where the desired state starts (no term yet) and where it ends (none). */
function milestones(steps: Record<string, unknown>[]): Record<string, unknown>[] {
  return steps.filter((s) => s.desired === undefined || !(s.desired as { term: boolean }).term);
}

/** The group's peer sets in order, each once (the leader reports members as they catch up, a step each or not). */
function peerSets(steps: Record<string, unknown>[]): string[] {
  const sets = steps.map((s) => [...(s.peers as string[])].sort().join("+"));
  return sets.filter((x, i) => x !== sets[i - 1]);
}

/** An R1 stream placed on N1 by tag, 5 messages, moved to N2 by tag; its meta entries. */
async function moveTo(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string): Promise<Record<string, unknown>[]> {
  const names = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));
  const steps = captureStreamSteps(sys, stream, names);
  await sys.flush();
  const lower = stream.toLowerCase();
  const created = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], placement: { tags: ["az:1"] } });
  assert.equal((created.cluster as { leader?: string } | undefined)?.leader, "N1", JSON.stringify(created));
  const js = jetstream(nc);
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 5; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  const info = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
  const moved = await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, { ...(info.config as object), placement: { tags: ["az:2"] } });
  assert.equal(moved.error, undefined, JSON.stringify(moved));
  await waitMovedToN2(nc, stream, steps);
  await waitUntil(async () => (await streamStateOn(cluster.live()[0], stream)) === undefined, 30_000, `N1 no longer holds ${stream}`);
  assert.equal((await streamStateOn(cluster.live()[1], stream))?.messages, 5, `N2 holds ${stream}'s 5 messages`);
  return steps;
}

test("an R1 stream moved by its placement tags through T3 as meta leader goes through the steps a nats-server meta leader takes", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (cluster, nc, sys, suffix) => moveTo(cluster, nc, sys, `M${suffix}`));
  assert.deepEqual(milestones(byT3), milestones(byNats), "T3's move starts and ends as the nats-server meta leader's");
  assert.deepEqual(peerSets(byT3), peerSets(byNats), "the group's peers go N1, N1+N2, N2 under both");
});
