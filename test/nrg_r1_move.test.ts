// An R1 stream held by T3 alone moved to N2 by its placement tags, side by side with one held by
// N1: under a nats-server meta leader, then under T3 (nrg_peer_meta_lead). 2.15.1's holder (no
// RAFT group) gives the stream a group with itself its only member and drives the move: its
// term recorded, the assignment expanded to N2, N2 added and caught up, its leadership handed
// to N2, which removes the holder and reports the peers matched. T3 as holder drives its part
// the same way (nrg_stream_migration.ts). Compared: where each desired state starts and ends,
// and the group's peer sets in order, the holder's name neutral; N2 holds the 5 messages, the
// holder none.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { type NrgCluster, streamStateOn, throughNatsThenT3 } from "./helpers/nrg_cluster.js";
import { captureStreamSteps, waitMovedToN2 } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: unknown };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** Where each desired state starts (no term yet) and where it ends (none), the holder's zone neutral. */
function milestones(steps: Record<string, unknown>[], zone: string): string[] {
  return steps.filter((s) => s.desired === undefined || !(s.desired as { term: boolean }).term).map((s) => JSON.stringify(s).replaceAll(zone, "<zone>"));
}

/** The group's peer sets in order, each once. */
function peerSets(steps: Record<string, unknown>[]): string[] {
  const sets = steps.map((s) => [...(s.peers as string[])].sort().join("+"));
  return sets.filter((x, i) => x !== sets[i - 1]);
}

/** An R1 stream placed on `holder` by its zone, 5 messages, moved to N2 by tag. */
async function moveToN2(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string, holder: string, zone: string): Promise<Record<string, unknown>> {
  const names = new Map([[shortHash(holder), "<holder>"], [shortHash("N2"), "N2"]]);
  const steps = captureStreamSteps(sys, stream, names);
  await sys.flush();
  const lower = stream.toLowerCase();
  const created = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], placement: { tags: [zone] } });
  assert.equal((created.cluster as { leader?: string } | undefined)?.leader, holder, JSON.stringify(created));
  const js = jetstream(nc);
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 5; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  const info = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
  const moved = await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, { ...(info.config as object), placement: { tags: ["az:2"] } });
  await waitMovedToN2(nc, stream, steps);
  const [n1, n2] = cluster.live();
  const onHolder = async (): Promise<unknown> => (holder === "T3" ? (await cluster.group(stream))?.replica : await streamStateOn(n1, stream));
  await waitUntil(async () => (await onHolder()) === undefined, 30_000, `${holder} no longer holds ${stream}`);
  await waitUntil(async () => (await streamStateOn(n2, stream))?.messages === 5, 30_000, `N2 holds ${stream}'s 5 messages`);
  return { moved: moved.error ?? (moved.config as { placement?: unknown } | undefined)?.placement, milestones: milestones(steps, zone), peerSets: peerSets(steps) };
}

test("an R1 stream held by T3 moves to N2 as one held by N1, under either meta leader", { skip: referenceMissing(), timeout: 115_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, async (cluster, nc, sys, suffix) => {
    const onN1 = suffix === "N" ? await moveToN2(cluster, nc, sys, `MVN1${suffix}`, "N1", "az:1") : undefined;
    const onT3 = await moveToN2(cluster, nc, sys, `MVT3${suffix}`, "T3", "az:3");
    return { onN1, onT3 };
  });
  assert.deepEqual(byNats.onT3, byNats.onN1, "under the nats-server meta leader, T3's R1 moves as N1's");
  assert.deepEqual(byT3.onT3, byNats.onN1, "under T3 as meta leader, T3's R1 moves as N1's under N1");
});
