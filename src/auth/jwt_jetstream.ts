// An account JWT's JetStream limits as the account model holds them (nats-server's
// jsLimits): one untiered set when the account-wide limits enable storage, else one set per
// tier ("R1", "R3"...); undefined when the claims do not enable JetStream.
import type { AccountJetStreamLimits } from "../config/options.js";
import { isJetStreamEnabled, type JetStreamLimits, type OperatorLimits } from "./claims.js";

/** JWTs write "no limit" as 0 or -1 for these; the account model uses -1. */
function unlimitedUnlessPositive(n: number): number {
  return n > 0 ? n : -1;
}

function toAccountLimits(l: JetStreamLimits): AccountJetStreamLimits {
  return {
    max_memory: l.mem_storage,
    max_storage: l.disk_storage,
    max_streams: l.streams,
    max_consumers: l.consumer,
    max_ack_pending: unlimitedUnlessPositive(l.max_ack_pending),
    memory_max_stream_bytes: unlimitedUnlessPositive(l.mem_max_stream_bytes),
    storage_max_stream_bytes: unlimitedUnlessPositive(l.disk_max_stream_bytes),
    max_bytes_required: l.max_bytes_required,
  };
}

export function jetStreamLimitsFromClaims(limits: OperatorLimits): Map<string, AccountJetStreamLimits> | undefined {
  if (!isJetStreamEnabled(limits)) return undefined;
  const flat = limits.jetstream;
  if (flat.disk_storage !== 0 || flat.mem_storage !== 0) return new Map([["", toAccountLimits(flat)]]);
  const out = new Map<string, AccountJetStreamLimits>();
  for (const [tier, l] of limits.tiered) out.set(tier, toAccountLimits(l));
  return out;
}
