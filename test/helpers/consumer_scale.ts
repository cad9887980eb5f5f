// Test helper: consumers of a stream S scaled between replica counts, the same steps on a tsnats
// and a nats-server cluster (RefJsCluster): the kinds of consumers, their state as one line, the
// wait until a scale settled, and a consumer created with some messages delivered and acknowledged.
import assert from "node:assert/strict";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./cluster_retry.js";
import { waitUntil } from "./server.js";

export type Json = Record<string, any>;

/** A consumer of stream S: its name and config; a push consumer's deliver subject. */
export interface ScaledConsumer {
  name: string;
  config: Json;
  push?: string;
}

/** Acknowledged explicitly, never redelivered during a test. */
export const EXPLICIT = { ack_policy: "explicit", ack_wait: 120e9 };
/** Ephemerals that outlive a test's idle moments. */
export const EPHEMERAL = { inactive_threshold: 300e9 };

/** Delivered and ack floor sequences and pending counts, as one line (or the error). */
export function consumerState(info: Json): string {
  if (info.error !== undefined) return `error ${info.error.err_code} ${info.error.description}`;
  return `delivered ${info.delivered.consumer_seq}/${info.delivered.stream_seq} ack floor ${info.ack_floor.consumer_seq}/${info.ack_floor.stream_seq} ack pending ${info.num_ack_pending} pending ${info.num_pending}`;
}

/** An update's answer: the replicas it set, or its error. */
export const replicasSaid = (a: Json): string => (a.error !== undefined ? `${a.error.err_code} ${a.error.description}` : `R${a.config?.num_replicas}`);

/**
 * Asks for the consumer's info until it has a leader, no desired state and `replicas - 1` current
 * other members (30 s at most; `byConfig`: and its config asks for that many); the last info.
 */
export async function settledInfo(nc: NatsConnection, stream: string, name: string, replicas: number, byConfig = true): Promise<Json> {
  let info: Json = {};
  await waitUntil(
    async () => {
      info = await clusterApi(nc, `$JS.API.CONSUMER.INFO.${stream}.${name}`).catch(() => ({}));
      const c = info.cluster ?? {};
      const others = (c.replicas ?? []) as Json[];
      return info.error === undefined && (c.leader ?? "") !== "" && c.desired === undefined && others.length === replicas - 1 && others.every((r) => r.current === true) && (!byConfig || info.config?.num_replicas === replicas);
    },
    30_000,
    `${name} settled as R${replicas}`,
  ).catch(() => undefined);
  return info;
}

/** `settledInfo` of a consumer of S as one line: its replicas, other members, desired state if any, and its state. */
export async function settled(nc: NatsConnection, name: string, replicas: number): Promise<string> {
  const info = await settledInfo(nc, "S", name, replicas);
  const c = info.cluster ?? {};
  return `R${info.config?.num_replicas} others ${(c.replicas ?? []).length}${c.desired !== undefined ? ` desired ${JSON.stringify(c.desired.status ?? {})}` : ""}: ${consumerState(info)}`;
}

/** Creates or updates a consumer of S with `replicas`. */
export async function scaleConsumer(nc: NatsConnection, k: ScaledConsumer, replicas: number): Promise<Json> {
  return clusterApi(nc, `$JS.API.CONSUMER.CREATE.S.${k.name}`, { stream_name: "S", config: { ...k.config, num_replicas: replicas } });
}

/**
 * Creates an R3 consumer of S holding `messages` messages and has it deliver 10 (pull) or all
 * (push), the first 5 acknowledged (waited for); a push consumer keeps its deliver subject's
 * interest afterwards.
 */
export async function consumerWithAcks(nc: NatsConnection, k: ScaledConsumer, messages: number): Promise<void> {
  const got: Msg[] = [];
  const sub = nc.subscribe(k.push ?? `pull.${k.name}`, { callback: (_e, m) => void got.push(m) });
  const c = await scaleConsumer(nc, k, 3);
  assert.equal(c.error, undefined, `${k.name}: ${JSON.stringify(c.error)}`);
  // A pull request is taken only by the consumer's leader: one sent while the new group is
  // still electing (nats-server answers the create before that, under load) reaches nobody.
  if (k.push === undefined) {
    await waitUntil(async () => typeof (await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`)).cluster?.leader === "string", 20_000, `${k.name}: a leader`);
  }
  if (k.push === undefined) nc.publish(`$JS.API.CONSUMER.MSG.NEXT.S.${k.name}`, JSON.stringify({ batch: 10, expires: 10e9 }), { reply: `pull.${k.name}` });
  const wanted = k.push === undefined ? 10 : messages;
  await waitUntil(() => got.length >= wanted, 20_000, `${k.name}: ${wanted} messages`);
  for (const m of got.slice(0, 5)) m.respond();
  await waitUntil(async () => (await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`)).ack_floor?.stream_seq === 5, 20_000, `${k.name}: 5 acknowledged`);
  sub.unsubscribe();
  if (k.push !== undefined) nc.subscribe(k.push, { callback: () => undefined });
}

/** The R3 stream S with `messages` messages, and each consumer of `kinds` as consumerWithAcks makes it; each one's settled state as created. */
export async function streamWithConsumers(nc: NatsConnection, kinds: readonly ScaledConsumer[], messages: number): Promise<string[]> {
  const created = await createStreamWhenPlaced(nc, { name: "S", subjects: ["s.>"], num_replicas: 3 });
  assert.equal(created.error, undefined, JSON.stringify(created.error));
  for (let i = 1; i <= messages; i++) await clusterPublish(nc, "s.x", `m${i}`);
  const out: string[] = [];
  for (const k of kinds) {
    await consumerWithAcks(nc, k, messages);
    out.push(`${k.name} as created: ${await settled(nc, k.name, 3)}`);
  }
  return out;
}

/** The state consumerWithAcks leaves a consumer in, of a stream of `messages` messages (consumerState's line). */
export function stateAsCreated(k: ScaledConsumer, messages: number): string {
  return k.push === undefined ? `delivered 10/10 ack floor 5/5 ack pending 5 pending ${messages - 10}` : `delivered ${messages}/${messages} ack floor 5/5 ack pending ${messages - 5} pending 0`;
}

/** What streamWithConsumers gives for `kinds`. */
export function asCreated(kinds: readonly ScaledConsumer[], messages: number): string[] {
  return kinds.map((k) => `${k.name} as created: R3 others 2: ${stateAsCreated(k, messages)}`);
}

/** What a scale scenario expects: `kinds` as created, then the lines `after` gives each kind (with its state as created). */
export function expectedAfterCreate(kinds: readonly ScaledConsumer[], messages: number, after: (k: ScaledConsumer, state: string) => string[]): string[] {
  const out = asCreated(kinds, messages);
  for (const k of kinds) out.push(...after(k, stateAsCreated(k, messages)));
  return out;
}

/** Pulls `batch` messages (15 s at most), acknowledging those `ack` says; their numbers (message n says "<letter><n>"). */
export async function pullSeqs(nc: NatsConnection, stream: string, name: string, batch: number, ack: (i: number) => boolean): Promise<number[]> {
  const got: Msg[] = [];
  const inbox = `pull.${name}.${Date.now()}`;
  // (Status messages, 408/409, have no data.)
  const sub = nc.subscribe(inbox, { callback: (_e, m) => void (m.data.length > 0 && got.push(m)) });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, JSON.stringify({ batch, expires: 10e9 }), { reply: inbox });
  await waitUntil(() => got.length >= batch, 15_000, `${name}: ${batch} messages`).catch(() => undefined);
  sub.unsubscribe();
  got.forEach((m, i) => {
    if (ack(i)) m.respond();
  });
  await nc.flush();
  // (Message n says "<stream letter><n>".)
  return got.map((m) => Number(m.string().slice(1)));
}

/** Numbers as a range ("11..15") when they follow each other, else listed. */
export const seqSpan = (seqs: number[]): string => (seqs.length === 0 ? "none" : seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1) ? `${seqs[0]}..${seqs[seqs.length - 1]}` : seqs.join(","));
