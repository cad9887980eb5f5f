// /healthz: is this server able to serve? Checks that it is not shutting down and, when
// JetStream is configured, that JetStream is up. nats-server's further checks (streams and
// consumers current in their clusters) have nothing to look at on a single server, so
// js-enabled-only and js-server-only are validated but change nothing.
import type { Monitor } from "./monitor.js";
import { jetStreamRunning } from "./jetstream-stats.js";

export interface HealthStatus {
  status: "ok" | "unavailable";
  status_code?: number;
  error?: string;
}

export function checkHealth(m: Monitor): HealthStatus {
  const s = m.server;
  if (s.isShuttingDown) return unavailable("server is shutting down");
  if (s.lameDuck) return unavailable("server is in lame duck mode");
  if (s.options.jetstream.enabled && !jetStreamRunning(s)) return unavailable("JetStream is not enabled");
  return { status: "ok" };
}

function unavailable(error: string): HealthStatus {
  return { status: "unavailable", status_code: 503, error };
}
