// The monitoring core shared by the HTTP endpoints, /metrics and the system account's
// request/reply services: one per server, holding what must outlive a single request
// (CPU sampling, per-path HTTP request counts).
import type { Server } from "../server/server.js";
import { ProcessStats } from "./process-stats.js";

export class Monitor {
  readonly process = new ProcessStats();
  /** Requests served per HTTP path, for /varz `http_req_stats`. */
  readonly httpReqStats = new Map<string, number>();
  /** The bound monitoring ports, once listening (0 = off). */
  httpPort = 0;
  httpsPort = 0;

  constructor(readonly server: Server) {}

  countHttpRequest(path: string): void {
    this.httpReqStats.set(path, (this.httpReqStats.get(path) ?? 0) + 1);
  }

  /** Subscriptions in every account. */
  totalSubscriptions(): number {
    let n = 0;
    for (const acc of this.server.accounts.values()) n += acc.sublist.count;
    return n;
  }
}

const monitors = new WeakMap<Server, Monitor>();

/** The server's monitoring core, created on first use. */
export function monitorOf(server: Server): Monitor {
  let m = monitors.get(server);
  if (m === undefined) {
    m = new Monitor(server);
    monitors.set(server, m);
  }
  return m;
}
