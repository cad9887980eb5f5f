// A consumer's own change of replicas through the meta leader, side by side: a durable of an R3
// stream updated to one replica and back to three, through a nats-server 2.15 meta leader, then
// through T3 (nrg_peer_meta_lead). nats-server 2.15.1 scales a consumer through desired state
// too (down: marked for its leader to pick the peer it keeps; up: its stream's peers added), its
// leader asking for each step on `$SYS.JSC.CONSUMER.ASSIGNMENT.RECONCILE`. Where each desired
// state starts and ends is compared, and the consumer keeps its pending count.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { throughNatsThenT3, type NrgCluster } from "./helpers/nrg_cluster.js";
import { onMetaEntries } from "./helpers/nrg_meta_capture.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

interface ConsumerStep {
  name: string;
  peers: number;
  replicas: unknown;
  desired?: { peers: number; scaleDown?: boolean };
}

/** D of `stream` to `replicas`, until its meta assignment has that many peers and no desired state (and its leader's info agrees). */
async function rescale(nc: NatsConnection, stream: string, replicas: number, steps: ConsumerStep[]): Promise<Answer> {
  const info = await api(nc, `$JS.API.CONSUMER.INFO.${stream}.D`);
  const updated = await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.D`, { stream_name: stream, config: { ...(info.config as object), num_replicas: replicas }, action: "update" });
  assert.equal(updated.error, undefined, JSON.stringify(updated));
  let now: Answer = {};
  await waitUntil(
    async () => {
      now = await api(nc, `$JS.API.CONSUMER.INFO.${stream}.D`).catch(() => ({}));
      const last = steps.at(-1);
      // An info that did not come (a leader change under way) is no answer: at R1 its missing replicas would pass.
      const cluster = now.cluster as { replicas?: unknown[] } | undefined;
      return cluster !== undefined && last?.desired === undefined && last?.peers === replicas && (cluster.replicas ?? []).length === replicas - 1;
    },
    60_000,
    `${stream} > D at R${replicas}`,
    () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2) }),
  );
  return now;
}

async function downAndUp(_cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string): Promise<ConsumerStep[]> {
  const steps: ConsumerStep[] = [];
  onMetaEntries(sys, (entry) => {
    if (entry.op !== "assignConsumer" || entry.assignment.stream !== stream || entry.assignment.name !== "D") return;
    const g = entry.assignment.group;
    const d = g.desired as { peers: string[]; scale_down?: boolean } | undefined;
    steps.push({ name: g.name.slice(0, 5), peers: g.peers.length, replicas: entry.assignment.config.num_replicas, ...(d !== undefined ? { desired: { peers: d.peers.length, ...(d.scale_down === true ? { scaleDown: true } : {}) } } : {}) });
  });
  await sys.flush();
  const created = await retry(() => api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${stream.toLowerCase()}.>`], num_replicas: 3 }).then((a) => (a.error === undefined ? a : Promise.reject(new Error(JSON.stringify(a.error))))), 30_000);
  assert.equal(created.error, undefined);
  const js = jetstream(nc);
  await retry(() => js.publish(`${stream.toLowerCase()}.1`, "m1"), 20_000);
  for (let i = 2; i <= 3; i++) await js.publish(`${stream.toLowerCase()}.${i}`, `m${i}`);
  assert.equal((await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.D`, { stream_name: stream, config: { durable_name: "D", ack_policy: "explicit" } })).error, undefined);
  const one = await rescale(nc, stream, 1, steps);
  assert.equal(one.num_pending, 3, JSON.stringify(one));
  const three = await rescale(nc, stream, 3, steps);
  assert.equal(three.num_pending, 3, JSON.stringify(three));
  return steps;
}

test("a consumer scaled R3 -> R1 -> R3 by its own update through T3 as meta leader goes through a nats-server meta leader's steps", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (cluster, nc, sys, suffix) => downAndUp(cluster, nc, sys, `CS${suffix}`));
  // Where each desired state starts (its first entry) and ends (none): the leader's reports may add steps between, or not.
  const milestones = (steps: ConsumerStep[]): ConsumerStep[] => steps.filter((s, i) => s.desired === undefined || steps[i - 1]?.desired === undefined);
  assert.deepEqual(milestones(byT3), milestones(byNats), "T3's steps start and end as the nats-server meta leader's");
});
