// Feature flags (nats-server 2.14+, `feature_flags { name: bool }`): switches for behaviours
// that change how servers of different versions talk to each other. nats-server reports the
// merged set in every ServerInfo and in /varz, and logs the configured ones at startup.
// tsnats knows nats-server 2.15's flags and their defaults; those that opt in to a format it
// does not produce stay off (with a warning), so what is reported is what tsnats does.
import { featureVersionAtLeast } from "./version.js";

/** nats-server 2.15's flags and defaults. */
const DEFAULTS: ReadonlyMap<string, boolean> = new Map([
  ["js_ack_fc_v2", false],
  ["js_api_reply_v2", false],
  ["js_raft_delete_range", true],
  ["js_snapshot_sources", false],
]);

/** Flags whose "on" tsnats does not implement (v2 ack / API reply subjects, clustered stream snapshots). */
const NOT_IMPLEMENTED_ON = new Set(["js_ack_fc_v2", "js_api_reply_v2", "js_snapshot_sources"]);

/** Does the reported version have feature flags? */
export function featureFlagsReported(): boolean {
  return featureVersionAtLeast("2.14");
}

/** The flags in effect: defaults, overridden by the configured values of known flags. */
export function mergedFeatureFlags(configured: Readonly<Record<string, boolean>> | undefined): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [k, v] of DEFAULTS) out[k] = v;
  for (const [k, v] of Object.entries(configured ?? {})) {
    if (!DEFAULTS.has(k)) continue;
    out[k] = v && NOT_IMPLEMENTED_ON.has(k) ? false : v;
  }
  return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]!]));
}

/** nats-server's startup lines for configured flags (none when none is configured), and tsnats' warnings. */
export function featureFlagLog(configured: Readonly<Record<string, boolean>> | undefined): { info: string[]; warn: string[] } {
  const keys = Object.keys(configured ?? {}).sort();
  if (keys.length === 0) return { info: [], warn: [] };
  const conf: string[] = [];
  const unsupported: string[] = [];
  const warn: string[] = [];
  for (const k of keys) {
    const def = DEFAULTS.get(k);
    if (def === undefined) {
      unsupported.push(k);
      continue;
    }
    const v = configured![k]!;
    conf.push(`${k} (${def ? (v ? "enabled" : "opt-out") : v ? "opt-in" : "disabled"})`);
    if (v && NOT_IMPLEMENTED_ON.has(k)) warn.push(`Feature flag ${k} is not implemented by tsnats, it stays disabled`);
  }
  const info = ["  Feature flags:"];
  if (conf.length > 0) info.push(`    Configured:    ${conf.join(", ")}`);
  if (unsupported.length > 0) info.push(`    Unsupported:   ${unsupported.join(", ")}`);
  return { info, warn };
}
