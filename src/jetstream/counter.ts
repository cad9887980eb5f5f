// Distributed counters (ADR-49): on a stream with allow_msg_counter every message is an
// increment (`Nats-Incr`, any size, signed) of its subject's counter. The stored message
// carries the new total as `{"val":"<n>"}` and keeps the increment header; the PubAck
// says `"val":"<n>"`. A counter fed by sources also records, per origin stream and
// subject, the last total it saw there (`Nats-Counter-Sources`), so that a sourced total
// turns into the right increment here.
import type { StoredMsg } from "../storage/store.js";
import { getHeader, setHeader } from "../protocol/headers.js";
import { jsError, type ApiError } from "./errors.js";
import { HDR_COUNTER_SOURCES, HDR_INCR } from "./msg_headers.js";
import { HDR_STREAM_SOURCE } from "./source_positions.js";

/** Origin stream -> origin subject -> last total seen there. */
type CounterSources = Record<string, Record<string, string>>;

export interface CounterUpdate {
  hdr: Buffer | undefined;
  data: Buffer;
  /** The new total, as the PubAck reports it. */
  value: string;
}

function total(payload: Buffer): bigint | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  const val = (v as { val?: unknown }).val;
  // A value that is not a number string counts as zero, as in nats-server.
  return typeof val === "string" && /^[+-]?\d+$/.test(val) ? BigInt(val) : 0n;
}

/** A counter's total and recorded source totals, from its subject's last message. */
export interface CounterState {
  total: bigint;
  sources: CounterSources | undefined;
}

/** The counter state in `last` (nothing stored: zero); an error when it is unreadable ("broken"). */
export function counterStateOf(last: StoredMsg | null): CounterState | ApiError {
  if (last === null) return { total: 0n, sources: undefined };
  const t = total(last.data);
  if (t === undefined) return jsError("JSMessageCounterBrokenErr");
  const recorded = getHeader(last.hdr, HDR_COUNTER_SOURCES);
  if (recorded === undefined || recorded === "") return { total: t, sources: undefined };
  try {
    return { total: t, sources: JSON.parse(recorded) as CounterSources };
  } catch {
    return jsError("JSMessageCounterBrokenErr");
  }
}

/**
 * Apply `incr` to a counter in `state` (which is updated). For a message that came from a
 * source, the increment is recomputed from the origin's total. Returns the message to
 * store, or the error to answer.
 */
export function applyCounter(state: CounterState, subject: string, hdr: Buffer | undefined, data: Buffer, incr: bigint): CounterUpdate | ApiError {
  const source = getHeader(hdr, HDR_STREAM_SOURCE);
  if (source !== undefined && source !== "") {
    // "<stream> <seq> <filter> <dest> <original subject>": the total there replaces ours for that origin.
    const fields = source.split(" ");
    const origin = fields[0]!;
    const originSubject = fields.length >= 5 ? fields[4]! : subject;
    const sourced = total(data);
    if (sourced === undefined) return jsError("JSMessageCounterBrokenErr");
    const sources = state.sources ?? {};
    const bySubject = (sources[origin] ??= {});
    const prev = bySubject[originSubject];
    const previous = prev !== undefined && /^[+-]?\d+$/.test(prev) ? BigInt(prev) : 0n;
    bySubject[originSubject] = sourced.toString();
    state.sources = sources;
    incr = sourced - previous;
    hdr = setHeader(hdr, HDR_INCR, incr.toString());
  }
  state.total += incr;
  const value = state.total.toString();
  if (state.sources !== undefined && Object.keys(state.sources).length > 0) hdr = setHeader(hdr, HDR_COUNTER_SOURCES, sortedJson(state.sources));
  return { hdr, data: Buffer.from(`{"val":"${value}"}`), value };
}

/** JSON with keys sorted at every level (how Go marshals maps). */
function sortedJson(v: CounterSources): string {
  const outer = Object.keys(v).sort();
  return `{${outer
    .map((k) => {
      const inner = v[k]!;
      return `${JSON.stringify(k)}:{${Object.keys(inner)
        .sort()
        .map((s) => `${JSON.stringify(s)}:${JSON.stringify(inner[s])}`)
        .join(",")}}`;
    })
    .join(",")}}`;
}
