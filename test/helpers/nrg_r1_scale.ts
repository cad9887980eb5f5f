// Test helper: an R1 stream with a durable scaled up to R3, its meta steps and reconcile
// requests captured (test/nrg_r1_scale*.test.ts).
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { retry } from "./server.js";
import { waitUntil } from "./js_cluster_move.js";
import { streamStateOn, throughNatsThenT3 } from "./nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps } from "./nrg_meta_capture.js";
import { shortHash } from "../../src/jetstream/util.js";

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown> & { error?: unknown }> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** The reconcile requests a group's leader sends for `stream`: their fields (ids, terms left out), peers by name. */
function captureReconciles(sys: NatsConnection, stream: string, names: Map<string, string>): string[] {
  const seen: string[] = [];
  sys.subscribe("$SYS.JSC.STREAM.ASSIGNMENT.RECONCILE", {
    callback: (_e, m) => {
      const r = m.json<Record<string, unknown>>();
      if (r.stream !== stream) return;
      const named = (ids: unknown): string => (Array.isArray(ids) ? `[${(ids as string[]).map((id) => names.get(id) ?? id).sort().join(",")}]` : "");
      // `members` (the followers the leader saw caught up) depends on when it looked: left out;
      // each kind of request once (a leader asks again each second until the meta leader acts,
      // and the match is asked again while the consumers still move).
      const request = `${r.id === undefined || r.id === "" ? "noid" : "id"}${r.meta_peers !== undefined ? ` meta_peers${named(r.meta_peers)}` : ""}${r.match === true ? " match" : ""}`;
      if (!seen.includes(request)) seen.push(request);
    },
  });
  return seen;
}

/**
 * An R1 stream (`retention`) placed on `holder` by its zone, 3 messages, a durable D with the
 * first acknowledged and the second pending, scaled to R3: its meta steps and D's, the
 * reconcile requests, D's state and each server's copy at the end.
 */
export async function scaleUp(nc: NatsConnection, sys: NatsConnection, stream: string, holder: string, zone: string, servers: () => Promise<Record<string, unknown>>, retention = "limits"): Promise<Record<string, unknown>> {
  const names = new Map([["N1", "N1"], ["N2", "N2"], ["T3", "T3"]].map(([n]) => [shortHash(n), n === holder ? "<holder>" : "<other>"]));
  const steps = captureStreamSteps(sys, stream, names);
  const reconciles = captureReconciles(sys, stream, names);
  // The captures listen on the server before the create's entry goes out.
  await sys.flush();
  const lower = stream.toLowerCase();
  await retry(async () => {
    const a = await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], retention, num_replicas: 1, placement: { tags: [zone] } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
  }, 60_000);
  const js = jetstream(nc);
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 3; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  // A durable with one message acknowledged and one pending follows its stream to three servers.
  const consumerSteps = captureConsumerSteps(sys, stream, "D", names);
  await sys.flush();
  await retry(async () => {
    const a = await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.D`, { stream_name: stream, config: { durable_name: "D", ack_policy: "explicit", ack_wait: 60_000_000_000 } });
    if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
  }, 20_000);
  const batch = await (await js.consumers.get(stream, "D")).fetch({ max_messages: 2, expires: 5_000 });
  for await (const m of batch) if (m.seq === 1) assert.equal(await m.ackAck(), true);
  const info = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
  const { placement: _placement, ...config } = info.config as Record<string, unknown>;
  // The update is answered by the stream's leader once it applied it: for an R1 scale-up, late.
  let updated: unknown = "unanswered";
  const answer = api(nc, `$JS.API.STREAM.UPDATE.${stream}`, { ...config, num_replicas: 3 })
    .then((a) => (updated = (a.config as { num_replicas?: number } | undefined)?.num_replicas ?? a.error))
    .catch((err: Error) => (updated = err.message));
  let last: Record<string, unknown> = {};
  await waitUntil(
    async () => {
      const i = await api(nc, `$JS.API.STREAM.INFO.${stream}`).catch(() => undefined);
      const c = i?.cluster as { replicas?: { current?: boolean }[] } | undefined;
      last = { steps: steps.at(-1), replicas: c?.replicas };
      return steps.length > 1 && steps.at(-1)?.desired === undefined && c?.replicas?.length === 2 && c.replicas.every((r) => r.current === true);
    },
    60_000,
    `${stream} at three current replicas, its desired state cleared`,
    () => JSON.stringify({ last, steps, reconciles }),
  );
  let consumer: Record<string, unknown> = {};
  await waitUntil(
    async () => {
      const ci = await api(nc, `$JS.API.CONSUMER.INFO.${stream}.D`).catch(() => undefined);
      const c = ci?.cluster as { replicas?: { current?: boolean }[] } | undefined;
      consumer = { delivered: (ci?.delivered as { stream_seq?: number } | undefined)?.stream_seq, ack_floor: (ci?.ack_floor as { stream_seq?: number } | undefined)?.stream_seq, num_ack_pending: ci?.num_ack_pending, num_pending: ci?.num_pending, replicas: c?.replicas?.length };
      return consumerSteps.at(-1)?.desired === undefined && c?.replicas?.length === 2 && c.replicas.every((r) => r.current === true);
    },
    30_000,
    `${stream} > D at three current replicas, its desired state cleared`,
    () => JSON.stringify({ consumer, consumerSteps }),
  );
  // The copies: the three messages on each server (the acknowledged one gone from a work queue or interest stream).
  const kept = retention === "limits" ? 3 : 2;
  let copies: Record<string, unknown> = {};
  await waitUntil(
    async () => {
      copies = await servers();
      return Object.values(copies).every((c) => (c as { messages?: number } | undefined)?.messages === kept);
    },
    30_000,
    `every server holds ${stream}'s ${kept} messages`,
    () => JSON.stringify(copies),
  );
  const ack = await retry(() => js.publish(`${lower}.4`, "m4"), 20_000);
  await answer;
  // A step that only names more members (a follower seen caught up) comes or not with timing:
  // members left out, the peers' order (the leader's list) too, and repeats folded; the holder's
  // zone tag in the origin neutral.
  const folded: string[] = [];
  for (const step of steps) {
    const d = step.desired as Record<string, unknown> | undefined;
    const view = JSON.stringify({ ...step, peers: [...(step.peers as string[])].sort(), desired: d === undefined ? undefined : { ...d, members: undefined } }).replaceAll(zone, "<zone>");
    if (folded.at(-1) !== view) folded.push(view);
  }
  const next = await (await js.consumers.get(stream, "D")).next({ expires: 5_000 });
  const consumerFolded: string[] = [];
  for (const step of consumerSteps) {
    const d = step.desired as Record<string, unknown> | undefined;
    const view = JSON.stringify({ ...step, desired: d === undefined ? undefined : { ...d, members: undefined } });
    if (consumerFolded.at(-1) !== view) consumerFolded.push(view);
  }
  return { updated, steps: folded, reconciles, ack: ack.seq, consumer, consumerSteps: consumerFolded, next: next?.seq };
}


/**
 * The side-by-side run: an R1 stream on N1 and one on T3 (`prefix` + holder + N or T) scaled up
 * under the nats-server meta leader, then under T3 (N1's under T3 only with `n1UnderT3`); the
 * assertions that T3 as holder and as meta leader does what N1 under N1 does.
 */
export async function scaleUpBothWays(t: TestContext, prefix: string, retention = "limits", n1UnderT3 = true): Promise<void> {
  const { byNats, byT3 } = await throughNatsThenT3(t, async (cluster, nc, sys, suffix) => {
    const servers = (stream: string) => async (): Promise<Record<string, unknown>> => {
      const [n1, n2] = cluster.live();
      const t3 = (await cluster.group(stream))?.replica as { messages?: number } | undefined;
      return { N1: await streamStateOn(n1, stream), N2: await streamStateOn(n2, stream), T3: t3 };
    };
    // N1 holding under T3 as meta leader: left out where the file must stay short (the limits run compares it).
    const onN1 = suffix === "T" && !n1UnderT3 ? undefined : await scaleUp(nc, sys, `${prefix}N1${suffix}`, "N1", "az:1", servers(`${prefix}N1${suffix}`), retention);
    t.diagnostic(`N1 holding, meta leader ${suffix}: ${JSON.stringify(onN1)}`);
    const onT3 = await scaleUp(nc, sys, `${prefix}T3${suffix}`, "T3", "az:3", servers(`${prefix}T3${suffix}`), retention);
    return { onN1, onT3 };
  });
  assert.deepEqual(byNats.onT3, byNats.onN1, "under the nats-server meta leader, T3 scales its R1 up as N1 does");
  if (n1UnderT3) assert.deepEqual(byT3.onN1, byNats.onN1, "T3 as meta leader scales N1's R1 up as a nats-server meta leader does");
  assert.deepEqual(byT3.onT3, byNats.onN1, "T3 as meta leader and holder scales its R1 up as N1 does");
}
