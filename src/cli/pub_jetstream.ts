// What `tsnats pub` adds for JetStream beyond a plain acknowledged publish: message schedules
// (ADR-51 headers from --schedule-*) and atomic batches (ADR-50, --atomic): every message
// but the last is published with the batch headers, the last commits the batch and its
// acknowledgement covers the whole batch.
import { headers as newHeaders, nuid, type MsgHdrs } from "@nats-io/transport-node";
import type { Session } from "./connection.js";
import { jsRequest } from "./js_api.js";
import { CliError } from "./runtime.js";
import { parseDurationMs } from "./units.js";

export interface ScheduleFlags {
  scheduleAfter?: string;
  scheduleAt?: string;
  scheduleCron?: string;
  scheduleDest?: string;
  scheduleEvery?: string;
  scheduleSource?: string;
  scheduleTtl?: string;
}

/** A duration as Go prints it (the server parses schedule intervals and TTLs as Go durations). */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return s >= 1 ? `${s}s` : `${ms}ms`;
}

/** True when any --schedule-* flag was given (they imply --jetstream). */
export function wantsSchedule(o: ScheduleFlags): boolean {
  return [o.scheduleAfter, o.scheduleAt, o.scheduleCron, o.scheduleDest, o.scheduleEvery, o.scheduleSource, o.scheduleTtl].some((v) => v !== undefined);
}

/**
 * The schedule headers of the flags, checked as natscli checks them (one kind of schedule,
 * a target subject, positive intervals). `now` fixes --schedule-after's moment.
 */
export function scheduleHeaders(o: ScheduleFlags, now = Date.now()): Record<string, string> {
  if (!o.scheduleDest) throw new CliError("schedule destination is required when setting schedule properties", "give --schedule-dest SUBJECT, the subject the message is published to when the schedule fires");
  const after = o.scheduleAfter !== undefined ? parseDurationMs(o.scheduleAfter, "--schedule-after") : undefined;
  const every = o.scheduleEvery !== undefined ? parseDurationMs(o.scheduleEvery, "--schedule-every") : undefined;
  if (after !== undefined && after <= 0) throw new CliError("--schedule-after must be greater than 0");
  if (every !== undefined && every <= 0) throw new CliError("--schedule-every must be greater than 0");
  if (o.scheduleAt && after !== undefined) throw new CliError("--schedule-at and --schedule-after are mutually exclusive");
  if (every !== undefined && (o.scheduleAt || after !== undefined)) throw new CliError("--schedule-every may not be used with --schedule-at or --schedule-after");
  if (o.scheduleCron && (o.scheduleAt || after !== undefined || every !== undefined)) throw new CliError("--schedule-at, --schedule-every and --schedule-after may not be used with --schedule-cron");
  const h: Record<string, string> = { "Nats-Schedule-Target": o.scheduleDest };
  const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  if (o.scheduleAt) {
    const t = Date.parse(o.scheduleAt);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(o.scheduleAt) || Number.isNaN(t)) throw new CliError(`invalid --schedule-at "${o.scheduleAt}": expected an RFC3339 time like 2026-01-02T15:04:05Z`);
    h["Nats-Schedule"] = `@at ${rfc3339(t)}`;
  } else if (after !== undefined) {
    h["Nats-Schedule"] = `@at ${rfc3339(now + after)}`;
  } else if (every !== undefined) {
    h["Nats-Schedule"] = `@every ${goDuration(every)}`;
  } else if (o.scheduleCron) {
    h["Nats-Schedule"] = o.scheduleCron;
  }
  if (o.scheduleTtl !== undefined) {
    const ttl = parseDurationMs(o.scheduleTtl, "--schedule-ttl");
    if (ttl > 0) h["Nats-Schedule-TTL"] = goDuration(ttl);
  }
  if (o.scheduleSource) h["Nats-Schedule-Source"] = o.scheduleSource;
  return h;
}

/** Add `extra` to a header set (creating one when the message has none). */
export function withHeaders(h: MsgHdrs | undefined, extra: Record<string, string>): MsgHdrs {
  const out = h ?? newHeaders();
  for (const [k, v] of Object.entries(extra)) out.set(k, v);
  return out;
}

export interface BatchMessage {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs;
}

export interface BatchAck {
  stream: string;
  seq: number;
  batch?: string;
  count?: number;
  domain?: string;
  val?: string;
}

/**
 * Publish `msgs` as one atomic batch. The stream (found by the first subject) must allow
 * atomic publishing; the server stores all of them or none, and answers the commit.
 */
export async function publishAtomicBatch(s: Session, msgs: BatchMessage[]): Promise<BatchAck> {
  if (msgs.length === 0) throw new CliError("no messages to publish in atomic batch");
  const names = await jsRequest<{ streams?: string[] | null }>(s, "STREAM.NAMES", { subject: msgs[0].subject });
  const stream = names.streams?.[0];
  if (!stream) throw new CliError(`no stream matches subject ${msgs[0].subject}`, "atomic batches are stored by a stream: create one whose subjects match");
  const info = await jsRequest<{ config: { allow_atomic?: boolean } }>(s, `STREAM.INFO.${stream}`, undefined, { stream });
  if (!info.config.allow_atomic) throw new CliError(`atomic publishing is not allowed for stream ${stream} with subject ${msgs[0].subject}`, `tsnats stream edit ${stream} --allow-batch`);
  const nc = await s.nc();
  const id = nuid.next();
  for (let i = 0; i < msgs.length - 1; i++) {
    nc.publish(msgs[i].subject, msgs[i].data, { headers: withHeaders(msgs[i].headers, { "Nats-Batch-Id": id, "Nats-Batch-Sequence": String(i + 1) }) });
  }
  const last = msgs[msgs.length - 1];
  const commit = withHeaders(last.headers, { "Nats-Batch-Id": id, "Nats-Batch-Sequence": String(msgs.length), "Nats-Batch-Commit": "1" });
  const res = await nc.request(last.subject, last.data, { headers: commit, timeout: s.timeoutMs });
  const ack = res.json<BatchAck & { error?: { code: number; err_code?: number; description?: string } }>();
  if (ack.error) throw new CliError(`atomic batch failed: ${ack.error.description ?? ack.error.code}${ack.error.err_code ? ` (${ack.error.err_code})` : ""}`);
  return ack;
}
