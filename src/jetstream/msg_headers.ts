// The message headers a stream interprets when it stores a message, and how nats-server
// reads their values (TTLs, counter increments, batch sequences). Names are case-sensitive,
// as nats-server compares them.
import { parseDuration } from "../config/conf_parser.js";

export const HDR_MSG_ID = "Nats-Msg-Id";
export const HDR_EXPECTED_STREAM = "Nats-Expected-Stream";
export const HDR_EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence";
export const HDR_EXPECTED_LAST_SUBJ_SEQ = "Nats-Expected-Last-Subject-Sequence";
export const HDR_EXPECTED_LAST_SUBJ_SEQ_SUBJ = "Nats-Expected-Last-Subject-Sequence-Subject";
export const HDR_EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id";
export const HDR_ROLLUP = "Nats-Rollup";
export const HDR_TTL = "Nats-TTL";
export const HDR_MARKER_REASON = "Nats-Marker-Reason";
export const HDR_INCR = "Nats-Incr";
export const HDR_COUNTER_SOURCES = "Nats-Counter-Sources";
export const HDR_BATCH_ID = "Nats-Batch-Id";
export const HDR_BATCH_SEQ = "Nats-Batch-Sequence";
export const HDR_BATCH_COMMIT = "Nats-Batch-Commit";
export const HDR_SCHEDULE = "Nats-Schedule";
export const HDR_SCHEDULE_TTL = "Nats-Schedule-TTL";
export const HDR_SCHEDULE_TARGET = "Nats-Schedule-Target";
export const HDR_SCHEDULE_SOURCE = "Nats-Schedule-Source";
export const HDR_SCHEDULE_ROLLUP = "Nats-Schedule-Rollup";
export const HDR_SCHEDULE_TIME_ZONE = "Nats-Schedule-Time-Zone";
export const HDR_SCHEDULE_NEXT = "Nats-Schedule-Next";
export const HDR_SCHEDULER = "Nats-Scheduler";
export const HDR_KV_OPERATION = "KV-Operation";

/** Nats-Schedule-Next value that tells the stream to purge a one-shot schedule. */
export const SCHEDULE_NEXT_PURGE = "purge";
/** Nats-Marker-Reason of a marker left when a subject's last message expired (ADR-43). */
export const MARKER_REASON_MAX_AGE = "MaxAge";

/**
 * A Nats-TTL value as nats-server reads it: "never" (any case) is -1, a Go duration of at
 * least one second or a plain number of seconds is that many seconds (truncated), "00"-like
 * zeros mean no TTL (0); anything else, and durations under a second, are invalid.
 */
export function parseMessageTTL(v: string): number | "invalid" {
  if (v.toLowerCase() === "never") return -1;
  let ms: number | undefined;
  try {
    ms = parseDuration(v);
  } catch {
    ms = undefined;
  }
  if (ms !== undefined) return ms < 1000 ? "invalid" : Math.trunc(ms / 1000);
  // Not a duration: only decimal digits (no sign) make a number of seconds.
  if (!/^\d+$/.test(v) || v.length > 18) return "invalid";
  return Number(v);
}

/** A Nats-Incr value: an optionally signed decimal integer of any size. */
export function parseIncrement(v: string): bigint | undefined {
  return /^[+-]?\d+$/.test(v) ? BigInt(v) : undefined;
}

/** A subject delete marker, or a KV purge (which marks a deleted subject too). */
export function isDeleteMarker(getHeaderOf: (key: string) => string | undefined): boolean {
  const reason = getHeaderOf(HDR_MARKER_REASON);
  return (reason !== undefined && reason !== "") || getHeaderOf(HDR_KV_OPERATION) === "PURGE";
}
