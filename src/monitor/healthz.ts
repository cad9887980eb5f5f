// /healthz: is this server able to serve? Checks that it is not shutting down and, when
// JetStream is configured, that JetStream is up and (in a cluster, unless js-enabled-only or
// js-server-only) that every replicated stream held here is current: it knows its group's
// leader and has applied what is committed (nats-server's "JetStream stream '<account> >
// <stream>' is not current").
import type { Monitor } from "./monitor.js";
import { jetStreamRunning } from "./jetstream-stats.js";
import type { JetStreamService } from "../jetstream/jetstream.js";

export interface HealthStatus {
  status: "ok" | "unavailable";
  status_code?: number;
  error?: string;
}

export function checkHealth(m: Monitor, opts: { jsEnabledOnly?: boolean; jsServerOnly?: boolean } = {}): HealthStatus {
  const s = m.server;
  if (s.isShuttingDown) return unavailable("server is shutting down");
  if (s.lameDuck) return unavailable("server is in lame duck mode");
  if (s.options.jetstream.enabled && !jetStreamRunning(s)) return unavailable("JetStream is not enabled");
  if (s.options.jetstream.enabled && opts.jsEnabledOnly !== true && opts.jsServerOnly !== true) {
    const js = s.services.find((svc) => svc.name === "jetstream") as JetStreamService | undefined;
    for (const jsa of js?.accounts.values() ?? []) {
      for (const stream of jsa.streams.values()) {
        if (stream.replica !== undefined && !stream.replica.current) return unavailable(`JetStream stream '${jsa.account.name} > ${stream.name}' is not current`);
      }
    }
  }
  return { status: "ok" };
}

function unavailable(error: string): HealthStatus {
  return { status: "unavailable", status_code: 503, error };
}
