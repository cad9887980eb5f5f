// JetStream advisories: JSON events on $JS.EVENT.ADVISORY.> (and metrics on
// $JS.EVENT.METRIC.>) published into the account that owns the asset, with the type names
// and fields of jsm.go's advisory schemas. Nothing is built when nobody listens.
import { nuid } from "@nats-io/nuid";
import type { Account } from "../server/account.js";
import { nowNs, rfc3339 } from "../server/time.js";

const PREFIX = "$JS.EVENT.ADVISORY";
const TYPE = "io.nats.jetstream.advisory.v1";

export interface AdvisoryContext {
  account: Account;
  domain: string | undefined;
  serverName: string;
}

function publish(ctx: AdvisoryContext, subject: string, type: string, body: Record<string, unknown>): void {
  if (!ctx.account.sublist.hasInterest(subject)) return;
  const event = { type, id: nuid.next(), timestamp: rfc3339(nowNs()), ...body, ...(ctx.domain ? { domain: ctx.domain } : {}) };
  ctx.account.publish(subject, "", undefined, Buffer.from(JSON.stringify(event)));
}

export function streamAction(ctx: AdvisoryContext, action: "create" | "delete" | "modify", stream: string, template?: unknown): void {
  const verb = action === "create" ? "CREATED" : action === "delete" ? "DELETED" : "UPDATED";
  publish(ctx, `${PREFIX}.STREAM.${verb}.${stream}`, `${TYPE}.stream_action`, { stream, action, ...(template ? { template } : {}) });
}

export function consumerAction(ctx: AdvisoryContext, action: "create" | "delete" | "modify", stream: string, consumer: string): void {
  const verb = action === "create" ? "CREATED" : action === "delete" ? "DELETED" : "UPDATED";
  publish(ctx, `${PREFIX}.CONSUMER.${verb}.${stream}.${consumer}`, `${TYPE}.consumer_action`, { stream, consumer, action });
}

export function maxDeliveries(ctx: AdvisoryContext, stream: string, consumer: string, streamSeq: number, deliveries: number): void {
  publish(ctx, `${PREFIX}.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`, `${TYPE}.max_deliver`, {
    stream,
    consumer,
    stream_seq: streamSeq,
    deliveries,
  });
}

export function msgNaked(ctx: AdvisoryContext, stream: string, consumer: string, consumerSeq: number, streamSeq: number, deliveries: number): void {
  publish(ctx, `${PREFIX}.CONSUMER.MSG_NAKED.${stream}.${consumer}`, `${TYPE}.nak`, {
    stream,
    consumer,
    consumer_seq: consumerSeq,
    stream_seq: streamSeq,
    deliveries,
  });
}

export function msgTerminated(
  ctx: AdvisoryContext,
  stream: string,
  consumer: string,
  consumerSeq: number,
  streamSeq: number,
  deliveries: number,
  reason: string,
): void {
  publish(ctx, `${PREFIX}.CONSUMER.MSG_TERMINATED.${stream}.${consumer}`, `${TYPE}.terminated`, {
    stream,
    consumer,
    consumer_seq: consumerSeq,
    stream_seq: streamSeq,
    deliveries,
    ...(reason ? { reason } : {}),
  });
}

/** Ack latency metric, sampled per the consumer's sample_freq. */
export function ackMetric(
  ctx: AdvisoryContext,
  stream: string,
  consumer: string,
  consumerSeq: number,
  streamSeq: number,
  ackTimeNs: number,
  deliveries: number,
): void {
  publish(ctx, `$JS.EVENT.METRIC.CONSUMER.ACK.${stream}.${consumer}`, "io.nats.jetstream.metric.v1.consumer_ack", {
    stream,
    consumer,
    consumer_seq: consumerSeq,
    stream_seq: streamSeq,
    ack_time: ackTimeNs,
    deliveries,
  });
}

/** API audit advisory for every JetStream API request. */
export function apiAudit(
  ctx: AdvisoryContext,
  subject: string,
  request: string,
  response: string,
  client: { cid?: number; host?: string; name?: string; lang?: string; version?: string; user?: string } | undefined,
): void {
  const subj = `${PREFIX}.API`;
  if (!ctx.account.sublist.hasInterest(subj)) return;
  publish(ctx, subj, `${TYPE}.api_audit`, {
    server: ctx.serverName,
    client: {
      acc: ctx.account.name,
      ...(client?.cid !== undefined ? { id: client.cid } : {}),
      ...(client?.host ? { host: client.host } : {}),
      ...(client?.name ? { name: client.name } : {}),
      ...(client?.lang ? { lang: client.lang } : {}),
      ...(client?.version ? { version: client.version } : {}),
      ...(client?.user ? { user: client.user } : {}),
    },
    subject,
    request,
    response,
  });
}

/** Who asked for a snapshot or restore, as the `client` of its advisories. */
export type AdvisoryClient = { cid?: number; host?: string; name?: string; lang?: string; version?: string; user?: string } | undefined;

function clientJson(ctx: AdvisoryContext, client: AdvisoryClient): Record<string, unknown> {
  return {
    acc: ctx.account.name,
    ...(client?.cid !== undefined ? { id: client.cid } : {}),
    ...(client?.host ? { host: client.host } : {}),
    ...(client?.name ? { name: client.name } : {}),
    ...(client?.lang ? { lang: client.lang } : {}),
    ...(client?.version ? { version: client.version } : {}),
    ...(client?.user ? { user: client.user } : {}),
  };
}

export function snapshotCreate(ctx: AdvisoryContext, stream: string, state: Record<string, unknown>, client: AdvisoryClient): void {
  publish(ctx, `${PREFIX}.STREAM.SNAPSHOT_CREATE.${stream}`, `${TYPE}.snapshot_create`, { stream, state, client: clientJson(ctx, client) });
}

export function snapshotComplete(ctx: AdvisoryContext, stream: string, start: bigint, end: bigint, client: AdvisoryClient, error?: string): void {
  publish(ctx, `${PREFIX}.STREAM.SNAPSHOT_COMPLETE.${stream}`, `${TYPE}.snapshot_complete`, {
    stream,
    start: rfc3339(start),
    end: rfc3339(end),
    client: clientJson(ctx, client),
    ...(error ? { error } : {}),
  });
}

export function restoreCreate(ctx: AdvisoryContext, stream: string, client: AdvisoryClient): void {
  publish(ctx, `${PREFIX}.STREAM.RESTORE_CREATE.${stream}`, `${TYPE}.restore_create`, { stream, client: clientJson(ctx, client) });
}

export function restoreComplete(ctx: AdvisoryContext, stream: string, start: bigint, end: bigint, bytes: number, client: AdvisoryClient): void {
  publish(ctx, `${PREFIX}.STREAM.RESTORE_COMPLETE.${stream}`, `${TYPE}.restore_complete`, {
    stream,
    start: rfc3339(start),
    end: rfc3339(end),
    bytes,
    client: clientJson(ctx, client),
  });
}

/** An atomic batch was given up (ADR-50): "timeout", "large", "incomplete" or "unsupported". */
export function batchAbandoned(ctx: AdvisoryContext, stream: string, batch: string, reason: string): void {
  publish(ctx, `${PREFIX}.STREAM.BATCH_ABANDONED.${stream}`, `${TYPE}.stream_batch_abandoned`, {
    stream,
    batch,
    reason,
  });
}

/** A consumer was paused or resumed (CONSUMER.PAUSE, a create with pause_until, or the deadline passing). */
export function consumerPause(ctx: AdvisoryContext, stream: string, consumer: string, paused: boolean, pauseUntil: string | undefined): void {
  publish(ctx, `${PREFIX}.CONSUMER.PAUSE.${stream}.${consumer}`, `${TYPE}.consumer_pause`, {
    stream,
    consumer,
    paused,
    ...(pauseUntil !== undefined ? { pause_until: pauseUntil } : {}),
  });
}

/** A priority group of a pinned_client consumer has a new pinned client (ADR-42). */
export function groupPinned(ctx: AdvisoryContext, stream: string, consumer: string, group: string, pinnedId: string): void {
  publish(ctx, `${PREFIX}.CONSUMER.PINNED.${stream}.${consumer}`, `${TYPE}.consumer_group_pinned`, {
    account: ctx.account.name,
    stream,
    consumer,
    group,
    pinned_id: pinnedId,
  });
}

/** A priority group lost its pinned client: "admin" (CONSUMER.UNPIN) or "timeout". */
export function groupUnpinned(ctx: AdvisoryContext, stream: string, consumer: string, group: string, reason: "admin" | "timeout"): void {
  publish(ctx, `${PREFIX}.CONSUMER.UNPINNED.${stream}.${consumer}`, `${TYPE}.consumer_group_unpinned`, {
    account: ctx.account.name,
    stream,
    consumer,
    group,
    reason,
  });
}

/** A replicated stream's group elected a leader (sent by that leader). */
export function streamLeaderElected(ctx: AdvisoryContext, stream: string, leader: string, replicas: unknown[]): void {
  publish(ctx, `${PREFIX}.STREAM.LEADER_ELECTED.${stream}`, `${TYPE}.stream_leader_elected`, { stream, leader, replicas });
}

/** A replicated stream's leader stopped hearing from a quorum of its group (it steps down). */
export function streamQuorumLost(ctx: AdvisoryContext, stream: string, replicas: unknown[]): void {
  publish(ctx, `${PREFIX}.STREAM.QUORUM_LOST.${stream}`, `${TYPE}.stream_quorum_lost`, { stream, replicas });
}

/** A replicated consumer has a leader (its stream's: consumers are replicated through the stream's group). */
export function consumerLeaderElected(ctx: AdvisoryContext, stream: string, consumer: string, leader: string, replicas: unknown[]): void {
  publish(ctx, `${PREFIX}.CONSUMER.LEADER_ELECTED.${stream}.${consumer}`, `${TYPE}.consumer_leader_elected`, { stream, consumer, leader, replicas });
}

export function consumerQuorumLost(ctx: AdvisoryContext, stream: string, consumer: string, replicas: unknown[]): void {
  publish(ctx, `${PREFIX}.CONSUMER.QUORUM_LOST.${stream}.${consumer}`, `${TYPE}.consumer_quorum_lost`, { stream, consumer, replicas });
}

/** The meta group (a JetStream domain) elected a leader: its RAFT peer id, the other members as PeerInfo, the cluster (sendDomainLeaderElectAdvisory). */
export function domainLeaderElected(ctx: AdvisoryContext, leader: string, replicas: unknown[], cluster: string): void {
  publish(ctx, `${PREFIX}.DOMAIN.LEADER_ELECTED`, `${TYPE}.domain_leader_elected`, { leader, replicas, cluster });
}

/** A server unsafely lowered the meta group's quorum (META.RESCUE), in the system account. */
export function metaRescue(ctx: AdvisoryContext, body: { server: string; server_id: string; prev_quorum: number; new_quorum: number; cluster: string }): void {
  publish(ctx, `${PREFIX}.SERVER.META_RESCUE`, `${TYPE}.meta_rescue`, body);
}
