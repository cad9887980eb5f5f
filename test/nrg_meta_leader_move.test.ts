// Moving a stream through the meta leader, side by side: an R1 stream placed by tag on N1 moved
// to N2 by a new placement tag, first through a nats-server 2.15 meta leader, then through T3
// (nrg_peer_meta_lead). nats-server 2.15.1 moves through desired state marked `move` (the new
// peers placed as a create places them, the group's name kept); the stream's leader adds the new
// peers, hands its leadership over and removes the old ones, asking the meta leader for each
// step. The meta entries each meta leader proposed are compared (where each desired state starts
// and ends), and the moved stream holds its messages on its new server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn } from "./helpers/nrg_cluster.js";
import { onMetaEntries } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** A stream's meta entries with peer ids as server names, desired state's ids and times left out. */
function captureMeta(sys: NatsConnection, stream: string, names: Map<string, string>): Record<string, unknown>[] {
  const steps: Record<string, unknown>[] = [];
  const named = (ids: unknown): unknown => (Array.isArray(ids) ? ids.map((id) => names.get(id as string) ?? id) : ids === undefined ? undefined : (names.get(ids as string) ?? ids));
  onMetaEntries(sys, (entry) => {
    if ((entry.op !== "updateStream" && entry.op !== "assignStream") || entry.assignment.config.name !== stream) return;
    const g = entry.assignment.group;
    const d = g.desired as Record<string, unknown> | undefined;
    const origin = d?.origin as Record<string, unknown> | undefined;
    steps.push({
      op: entry.op,
      name: g.name.slice(0, 5),
      peers: named(g.peers),
      ...(g.scale_up === true ? { scaleUp: true } : {}),
      ...(d !== undefined
        ? { desired: { peers: named(d.peers), term: d.term !== undefined, move: d.move, preferred: named(d.preferred), members: named(d.members), removed: named(d.removed), origin: origin === undefined ? undefined : { ...origin, peers: named(origin.peers) }, keys: Object.keys(d).sort() } }
        : {}),
    });
  });
  return steps;
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
  const steps = captureMeta(sys, stream, names);
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
  let now: Answer = {};
  await waitUntil(
    async () => {
      now = await api(nc, `$JS.API.STREAM.INFO.${stream}`).catch(() => ({}));
      const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      return (now.cluster as { leader?: string } | undefined)?.leader === "N2" && last?.desired === undefined && JSON.stringify(last?.peers) === '["N2"]';
    },
    60_000,
    `${stream} moved to N2`,
    () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2) }),
  );
  await waitUntil(async () => (await streamStateOn(cluster.live()[0], stream)) === undefined, 30_000, `N1 no longer holds ${stream}`);
  assert.equal((await streamStateOn(cluster.live()[1], stream))?.messages, 5, `N2 holds ${stream}'s 5 messages`);
  return steps;
}

test("an R1 stream moved by its placement tags through T3 as meta leader goes through the steps a nats-server meta leader takes", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  for (const [name, az] of [["N1", "az:1"], ["N2", "az:2"], ["T3", "az:3"]]) cluster.tags.set(name, [az]);
  try {
    const { n1, nc1, jsm } = await cluster.upWithClients();
    const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    await retry(() => jsm.streams.add({ name: "WARM", subjects: ["warm.>"], num_replicas: 3 }), 60_000);
    const byNats = await moveTo(cluster, nc1, sys, "MN");
    t.diagnostic(`through the nats-server meta leader: ${JSON.stringify(byNats)}`);
    await cluster.metaLeadOnT3();
    const byT3 = await moveTo(cluster, nc1, sys, "MT");
    t.diagnostic(`through T3: ${JSON.stringify(byT3)}`);
    assert.deepEqual(milestones(byT3), milestones(byNats), "T3's move starts and ends as the nats-server meta leader's");
    assert.deepEqual(peerSets(byT3), peerSets(byNats), "the group's peers go N1, N1+N2, N2 under both");
  } finally {
    await cluster.stop();
  }
});
