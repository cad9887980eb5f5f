// STREAM.PEER.REMOVE of a stream with consumers, side by side: an R2 stream on N1 and N2 with a
// durable D on both, an R1 durable D1 and an R1 ephemeral E on N2 loses N2, first through a
// nats-server 2.15.1 meta leader, then through T3 (nrg_peer_meta_lead). 2.15.1 proposes the
// stream's new assignment (N2 under desired `removed`, T3 its replacement) and then each
// consumer's (removePeerFromStreamLocked's remapConsumerAssignments): D keeps N1 with a desired
// state of its own toward N1 and T3, D1, which lost its only peer, goes straight to a peer of
// the stream's target, and E, an ephemeral that lost every peer, is removed. The same steps
// under T3, and the same end: S and D on N1 and T3, D1 on one of them, E gone.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, throughNatsThenT3 } from "./helpers/nrg_cluster.js";
import { captureStreamSteps, nudgeOnce, onMetaEntries } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

const NAMES = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** Each consumer's assignments and removals of a stream: op, peers and desired peers by name (sorted), removed, scale_down. */
function captureConsumers(sys: NatsConnection, stream: string): Map<string, Record<string, unknown>[]> {
  const named = (ids: unknown): unknown => (Array.isArray(ids) ? (ids as string[]).map((id) => NAMES.get(id) ?? id).sort() : ids);
  const out = new Map<string, Record<string, unknown>[]>();
  onMetaEntries(sys, (entry) => {
    if ((entry.op !== "assignConsumer" && entry.op !== "removeConsumer") || entry.assignment.stream !== stream) return;
    const g = entry.assignment.group;
    const d = g.desired as { peers?: string[]; removed?: string[]; scale_down?: boolean } | undefined;
    const list = out.get(entry.assignment.name) ?? [];
    out.set(entry.assignment.name, list);
    list.push({ op: entry.op, peers: named(g.peers), ...(d !== undefined ? { desired: { peers: named(d.peers), removed: named(d.removed), scaleDown: d.scale_down === true } } : {}) });
  });
  return out;
}

/** An R1 consumer `name` of `stream` created (again) until its one server is N2 (placement picks one of the stream's two at random). */
async function r1OnN2(nc: NatsConnection, stream: string, name: string, durable: boolean): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const config = { ...(durable ? { durable_name: name } : { name, inactive_threshold: 600_000_000_000 }), ack_policy: "explicit", num_replicas: 1 };
    const created = await retry(async () => {
      const a = await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.${name}`, { stream_name: stream, config });
      if (a.error !== undefined) throw new Error(JSON.stringify(a));
      return a;
    }, 20_000);
    if ((created.cluster as { leader?: string } | undefined)?.leader === "N2") return;
    const deleted = await api(nc, `$JS.API.CONSUMER.DELETE.${stream}.${name}`);
    assert.equal(deleted.error, undefined, JSON.stringify(deleted));
  }
  assert.fail(`${name} never placed on N2`);
}

interface Outcome {
  answer: Answer;
  stream: Record<string, unknown>[];
  consumers: Record<string, Record<string, unknown>[]>;
  d1On: string[];
  messages: number | undefined;
}

async function removeN2(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string): Promise<Outcome> {
  const steps = captureStreamSteps(sys, stream, NAMES);
  const consumers = captureConsumers(sys, stream);
  await sys.flush();
  const lower = stream.toLowerCase();
  await retry(async () => {
    const a = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], num_replicas: 2, placement: { tags: ["!az:3"] } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a));
  }, 30_000);
  const js = jetstream(nc);
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 4; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  const { placement: _placement, ...rest } = (await api(nc, `$JS.API.STREAM.INFO.${stream}`)).config as Record<string, unknown>;
  assert.equal((await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, rest)).error, undefined);
  await retry(async () => {
    const a = await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.D`, { stream_name: stream, config: { durable_name: "D", ack_policy: "explicit" } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a));
  }, 20_000);
  await r1OnN2(nc, stream, "D1", true);
  await r1OnN2(nc, stream, "E", false);
  await cluster.leadOn(nc, "N1", stream);
  // Only the removal's steps are compared (the creates before it were retried at random).
  const markS = steps.length;
  const mark = new Map([...consumers].map(([k, v]) => [k, v.length]));
  const answer = await api(nc, `$JS.API.STREAM.PEER.REMOVE.${stream}`, { peer: "N2" });
  let now: Answer = {};
  const nudge = nudgeOnce(nc, [stream], 20_000);
  const settled = (name: string): boolean => {
    const last = consumers.get(name)?.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
    return last !== undefined && last.desired === undefined && !(last.peers ?? []).includes("N2");
  };
  await waitUntil(
    async () => {
      now = await api(nc, `$JS.API.STREAM.INFO.${stream}`).catch(() => ({}));
      await nudge();
      const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      return last?.desired === undefined && JSON.stringify([...(last?.peers ?? [])].sort()) === '["N1","T3"]' && settled("D") && settled("D1") && consumers.get("E")?.at(-1)?.op === "removeConsumer";
    },
    90_000,
    `${stream} and its consumers off N2`,
    () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2), consumers: Object.fromEntries(consumers) }),
  );
  const since = (name: string): Record<string, unknown>[] => (consumers.get(name) ?? []).slice(mark.get(name) ?? 0);
  const d1 = since("D1");
  // D1 goes to one of the stream's target peers at random: its peers as a count.
  const counted = d1.map((x) => ({ ...x, peers: (x.peers as string[]).length, desired: x.desired === undefined ? undefined : { ...(x.desired as object), peers: ((x.desired as { peers: string[] }).peers ?? []).length } }));
  const sorted = (ids: unknown): unknown => (Array.isArray(ids) ? [...(ids as string[])].sort() : ids);
  const stepsS = steps
    .slice(markS)
    .map(({ desired, peers, op }) => ({ op, peers: sorted(peers), desired: sorted((desired as { peers?: unknown } | undefined)?.peers), removed: (desired as { removed?: unknown } | undefined)?.removed }))
    .filter((x, i, all) => i === 0 || JSON.stringify(x) !== JSON.stringify(all[i - 1]));
  const dedupe = (list: Record<string, unknown>[]): Record<string, unknown>[] => list.filter((x, i) => i === 0 || JSON.stringify(x) !== JSON.stringify(list[i - 1]));
  return {
    answer,
    stream: stepsS,
    consumers: { D: dedupe(since("D")), D1: dedupe(counted), E: since("E") },
    d1On: (d1.at(-1)?.peers as string[]) ?? [],
    messages: (now.state as { messages?: number } | undefined)?.messages,
  };
}

test("a peer removed from a stream with consumers through T3 as meta leader remaps and removes them as a nats-server meta leader does", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (cluster, nc, sys, suffix) => removeN2(cluster, nc, sys, `P${suffix}`));
  for (const r of [byNats, byT3]) {
    assert.equal(r.d1On.length, 1);
    assert.ok(["N1", "T3"].includes(r.d1On[0]), `D1 on N1 or T3: ${r.d1On.join()}`);
  }
  assert.deepEqual(byNats.consumers.E.at(-1)?.op, "removeConsumer", "2.15.1 removes the ephemeral that lost its only peer");
  const { d1On: _a, ...nats } = byNats;
  const { d1On: _b, ...ours } = byT3;
  assert.deepEqual(ours, nats, "T3 proposes the stream's and its consumers' steps as the nats-server meta leader");
});
