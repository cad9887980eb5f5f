// The server-wide JetStream bounds of `jetstream { limits {} }` (nats-server's JSLimitOpts),
// resolved to what streams, consumers and batches are held to, and shown in /varz and /jsz.
import type { JetStreamOptions } from "../config/options.js";

/** nats-server 2.15: a stream with unlimited max_consumers takes this many. */
export const DEFAULT_MAX_CONSUMERS = 1000;

/** Consumers a stream with unlimited max_consumers may have; 0 = no bound (configured negative). */
export function defaultMaxConsumers(o: JetStreamOptions): number {
  const v = o.limits?.defaultMaxConsumers ?? 0;
  if (v < 0) return 0;
  return v > 0 ? v : DEFAULT_MAX_CONSUMERS;
}

/** The largest duplicate_window a stream may have, in ns (0: no bound). */
export function maxDuplicateWindowNs(o: JetStreamOptions): number {
  const ms = o.limits?.duplicateWindowMs ?? 0;
  return ms > 0 ? ms * 1_000_000 : 0;
}

/** Batch publishing bounds configured (`limits { batch {} }`): unset ones leave each kind of batch its own default. */
export function batchOverrides(o: JetStreamOptions): { maxInflightPerStream?: number; maxInflightTotal?: number; maxMsgs?: number; timeoutMs?: number } {
  const b = o.limits?.batch ?? {};
  const set = (v: number | undefined): number | undefined => (v !== undefined && v > 0 ? v : undefined);
  return { maxInflightPerStream: set(b.maxInflightPerStream), maxInflightTotal: set(b.maxInflightTotal), maxMsgs: set(b.maxMsgs), timeoutMs: set(b.timeoutMs) };
}

/** The `limits` block of /varz and /jsz: what was configured (non-zero), and the consumers' default. */
export function serverLimitsJson(o: JetStreamOptions): Record<string, number> {
  const l = o.limits ?? {};
  const out: Record<string, number> = {};
  const put = (key: string, v: number | undefined): void => {
    if (v !== undefined && v !== 0) out[key] = v;
  };
  put("max_request_batch", l.maxRequestBatch);
  put("max_ack_pending", l.maxAckPending);
  put("max_ha_assets", l.maxHaAssets);
  put("max_duplicate_window", l.duplicateWindowMs !== undefined ? l.duplicateWindowMs * 1_000_000 : undefined);
  put("max_batch_inflight_per_stream", l.batch?.maxInflightPerStream);
  put("max_batch_inflight_total", l.batch?.maxInflightTotal);
  put("max_batch_size", l.batch?.maxMsgs);
  put("max_batch_timeout", l.batch?.timeoutMs !== undefined ? l.batch.timeoutMs * 1_000_000 : undefined);
  out.default_max_consumers = l.defaultMaxConsumers !== undefined && l.defaultMaxConsumers !== 0 ? l.defaultMaxConsumers : DEFAULT_MAX_CONSUMERS;
  return out;
}
