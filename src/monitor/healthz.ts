// /healthz: is this server able to serve? Checks that it is not shutting down and, when
// JetStream is configured, that JetStream is up (and, unless js-server-only, that its
// layer reports no problem of its own).
import type { Monitor } from "./monitor.js";
import type { HealthzOptions } from "./endpoint-options.js";
import { jetStreamConfigured, jetStreamMonitorSource, jetStreamRunning } from "./jetstream-source.js";

export interface HealthStatus {
  status: "ok" | "unavailable";
  status_code?: number;
  error?: string;
}

export function checkHealth(m: Monitor, opts: HealthzOptions): HealthStatus {
  const s = m.server;
  if (s.isShuttingDown) return unavailable("server is shutting down");
  if (s.lameDuck) return unavailable("server is in lame duck mode");
  if (!jetStreamConfigured(s)) return { status: "ok" };
  if (!jetStreamRunning(s)) return unavailable("JetStream is not enabled");
  // js-server-only skips the per-stream and per-consumer checks the JetStream layer reports.
  if (opts.jsEnabledOnly || opts.jsServerOnly) return { status: "ok" };
  const err = jetStreamMonitorSource(s)?.healthError?.();
  return err === undefined ? { status: "ok" } : unavailable(err);
}

function unavailable(error: string): HealthStatus {
  return { status: "unavailable", status_code: 503, error };
}
