// Two versions: the nats-server feature level tsnats really implements (clients gate
// features such as CONSUMER.CREATE subjects and Direct Get on it), and tsnats' own.
import { createRequire } from "node:module";

/**
 * Raised a line at a time, once every client-visible feature of that line is in (clients
 * switch features on by it, so it never runs ahead of the code): 2.11 (message TTLs and
 * delete markers, consumer pause, priority groups, batched/multi-last direct gets, message
 * tracing, 429 ingest limits), 2.12 (atomic batches, counters, schedules, prioritized
 * policy, persist_mode, required API level, offline assets) and 2.14/2.15 (fast batch
 * publish, cron schedules with time zones, CONSUMER.RESET, the flow_control ack policy and
 * mirrors/sources through a user's consumer (ADR-60), feature_flags) are complete.
 */
export const NATS_FEATURE_VERSION = "2.15.1";

/** Is the reported nats-server version at least `major.minor` (e.g. "2.14")? */
export function featureVersionAtLeast(minor: string): boolean {
  const [a = 0, b = 0] = NATS_FEATURE_VERSION.split(".").map(Number);
  const [x = 0, y = 0] = minor.split(".").map(Number);
  return a > x || (a === x && b >= y);
}

const require = createRequire(import.meta.url);
function ownVersion(): string {
  for (const p of ["../../../package.json", "../../package.json"]) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // try the next layout (dist/ vs src/)
    }
  }
  return "0.0.0";
}

export const TSNATS_VERSION = ownVersion();
