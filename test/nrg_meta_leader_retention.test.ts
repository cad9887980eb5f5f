// A replicated stream's retention changed from limits to interest side by side, through N1 as
// meta leader and then through T3 (nrg_peer_meta_lead). nats-server 2.15.1 takes the change
// through desired state (withRetentionChange): the group keeps its peers, the origin records
// the retention it runs at until then (limits), its R2 durable is scaled to the stream's three
// replicas first (an interest stream's consumers match its replicas), then the desired state is
// cleared and interest is in force. The same steps from first to last, the durable on three
// servers, the messages it has not acknowledged kept, and gone from every copy (T3's too) once it
// acknowledged them.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { throughNatsThenT3, type NrgCluster } from "./helpers/nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps, nudgeOnce } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

const NAMES = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** The first step with desired state and the last, by peer counts, desired peer count, origin and members (which servers varies). */
function ends(steps: Record<string, unknown>[]): unknown[] {
  const view = ({ op, peers, desired }: Record<string, unknown>): unknown => {
    const d = desired as { peers?: unknown[]; origin?: { replicas?: number; retention?: string; peers?: unknown[] }; members?: unknown[] } | undefined;
    return { op, peers: (peers as unknown[]).length, desired: d?.peers?.length, origin: d?.origin === undefined ? undefined : { replicas: d.origin.replicas, retention: d.origin.retention, peers: d.origin.peers?.length }, members: d?.members?.length };
  };
  const first = steps.findIndex((x) => x.desired !== undefined);
  return first < 0 ? steps.map(view) : [view(steps[first]), view(steps[steps.length - 1])];
}

async function changeRetention(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, suffix: string): Promise<Record<string, unknown>> {
  const name = `L${suffix}`;
  const subject = `${name.toLowerCase()}.>`;
  const steps = captureStreamSteps(sys, name, NAMES);
  const consumer = captureConsumerSteps(sys, name, "D", NAMES);
  await sys.flush();
  const created = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [subject], num_replicas: 3 });
  assert.equal(created.error, undefined, JSON.stringify(created));
  const js = jetstream(nc);
  await retry(() => js.publish(`${name.toLowerCase()}.1`, "m1"), 20_000);
  for (let i = 2; i <= 3; i++) await js.publish(`${name.toLowerCase()}.${i}`, `m${i}`);
  const d = await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${name}.D`, { stream_name: name, config: { durable_name: "D", ack_policy: "explicit", num_replicas: 2 } });
  assert.equal(d.error, undefined, JSON.stringify(d));
  const info = await api(nc, `$JS.API.STREAM.INFO.${name}`);
  const updated = await api(nc, `$JS.API.STREAM.UPDATE.${name}`, { ...(info.config as object), retention: "interest" });
  assert.ok(updated.error !== undefined || updated.config !== undefined, `the update's answer: ${JSON.stringify(updated)}; the info it was built on: ${JSON.stringify(info)}`);
  let now: Answer = {};
  let dNow: Answer & { cluster?: { replicas?: unknown[] } } = {};
  const nudge = nudgeOnce(nc, [name], 15_000);
  let nudged = false;
  await waitUntil(
    async () => {
      now = await api(nc, `$JS.API.STREAM.INFO.${name}`).catch(() => ({}));
      dNow = await api(nc, `$JS.API.CONSUMER.INFO.${name}.D`).catch(() => ({}));
      nudged = await nudge();
      const last = steps.at(-1);
      // `now` is what is compared: an info (a poll under load can time out or meet an election: asked again).
      return now.config !== undefined && steps.some((x) => x.desired !== undefined) && last?.desired === undefined && (dNow.cluster?.replicas ?? []).length === 2 && consumer.at(-1)?.desired === undefined;
    },
    60_000,
    `${name} at interest retention, D on three servers`,
    () => JSON.stringify({ info: now.error ?? now.cluster, steps: steps.slice(-2), consumer: consumer.slice(-2), d: dNow.cluster }),
  );
  // Interest in force on every copy: D's acks remove the messages on N1, N2 and T3.
  const c = await jetstream(nc).consumers.get(name, "D");
  const batch = await c.fetch({ max_messages: 3, expires: 5_000 });
  for await (const m of batch) await m.ackAck();
  await cluster.sameOnAll(name, (x) => x.messages === 0, `${name} empty on every copy once D acknowledged all`);
  const config = now.config as { retention?: string };
  const state = now.state as { messages?: number };
  return { nudged, updated: updated.error ?? (updated.config as { retention?: string }).retention, retention: config.retention, messages: state.messages, steps: ends(steps), consumer: ends(consumer), dPending: dNow.num_pending };
}

test("a replicated stream's retention changed through T3 as meta leader goes through the desired state a nats-server meta leader proposes", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (cluster, nc, sys, suffix) => changeRetention(cluster, nc, sys, suffix));
  const { nudged: _n1, ...nats } = byNats;
  const { nudged: _n2, ...t3 } = byT3;
  assert.equal(nats.retention, "interest");
  assert.deepEqual(t3, nats);
});
