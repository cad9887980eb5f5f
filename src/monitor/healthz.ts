// /healthz: is this server able to serve? Checks that it is not shutting down and, when
// JetStream is configured, that JetStream is up and (in a cluster, unless js-enabled-only or
// js-server-only) that every replicated stream held here is current: it knows its group's
// leader and has applied what is committed (nats-server's "JetStream stream '<account> >
// <stream>' is not current"). `account`, `stream` and `consumer` narrow the JetStream check to
// one asset that must exist, as nats-server 2.15 does (404 when it does not, 400 when the
// options are incomplete); `details` lists the problems as `errors`.
import type { Monitor } from "./monitor.js";
import { jetStreamRunning } from "./jetstream-stats.js";
import type { JetStreamService } from "../jetstream/jetstream.js";

export interface HealthzOptions {
  jsEnabledOnly?: boolean;
  jsServerOnly?: boolean;
  /** js-meta-only: the meta layer only, not each stream and consumer. */
  jsMetaOnly?: boolean;
  account?: string;
  stream?: string;
  consumer?: string;
  details?: boolean;
}

interface HealthIssue {
  type: "STREAM" | "CONSUMER" | "ACCOUNT";
  account: string;
  stream?: string;
  consumer?: string;
  error: string;
}

export interface HealthStatus {
  status: "ok" | "unavailable" | "error";
  status_code?: number;
  error?: string;
  errors?: HealthIssue[];
}

/** The health verdict and the HTTP status it is served with. */
export function checkHealthz(m: Monitor, opts: HealthzOptions = {}): { body: HealthStatus; code: number } {
  const s = m.server;
  if (s.isShuttingDown) return unavailable("server is shutting down");
  if (s.lameDuck) return unavailable("server is in lame duck mode");
  // A meta-group peer of a nats-server cluster (cluster.nrg_peer) runs no JetStream of its own: its health is its membership's.
  const nrgPeer = s.services.find((svc) => svc.name === "nrg-peer") as { healthError(metaOnly?: boolean): string | undefined } | undefined;
  if (nrgPeer !== undefined) {
    const error = opts.jsEnabledOnly === true ? undefined : nrgPeer.healthError(opts.jsServerOnly === true);
    return error === undefined ? { body: { status: "ok" }, code: 200 } : unavailable(error);
  }
  if (s.options.jetstream.enabled && !jetStreamRunning(s)) return unavailable("JetStream is not enabled");
  if (!s.options.jetstream.enabled || opts.jsEnabledOnly === true || opts.jsServerOnly === true) return { body: { status: "ok" }, code: 200 };
  const account = opts.account ?? "";
  const stream = opts.stream ?? "";
  const consumer = opts.consumer ?? "";
  if (consumer !== "" && stream === "") return badRequest('"stream" must not be empty when checking consumer health');
  if (stream !== "" && account === "") return badRequest('"account" must not be empty when checking stream health');
  const js = s.services.find((svc) => svc.name === "jetstream") as JetStreamService | undefined;
  if (account !== "") {
    const jsa = [...(js?.accounts.values() ?? [])].find((a) => a.account.name === account);
    if (jsa === undefined) return notFound(opts, { type: "ACCOUNT", account, error: `JetStream account ${JSON.stringify(account)} not found` });
    if (stream !== "") {
      const st = jsa.streams.get(stream);
      if (st === undefined) return notFound(opts, { type: "STREAM", account, stream, error: `JetStream stream ${JSON.stringify(stream)} not found on account ${JSON.stringify(account)}` });
      if (consumer !== "" && !st.consumers.has(consumer)) {
        return notFound(opts, { type: "CONSUMER", account, stream, consumer, error: `JetStream consumer ${JSON.stringify(consumer)} not found for stream ${JSON.stringify(stream)} on account ${JSON.stringify(account)}` });
      }
    }
  }
  for (const jsa of js?.accounts.values() ?? []) {
    if (account !== "" && jsa.account.name !== account) continue;
    for (const st of jsa.streams.values()) {
      if (stream !== "" && st.name !== stream) continue;
      if (st.replica !== undefined && !st.replica.current) return unavailable(`JetStream stream '${jsa.account.name} > ${st.name}' is not current`);
    }
  }
  return { body: { status: "ok" }, code: 200 };
}

/**
 * The verdict as `$SYS.REQ.SERVER.PING.HEALTHZ` answers it: with its status code in the body
 * (nats-server leaves the code out of the HTTP body only, where the response status carries it).
 */
export function checkHealth(m: Monitor, opts: HealthzOptions = {}): HealthStatus {
  const { body, code } = checkHealthz(m, opts);
  const { status, ...rest } = body;
  return { status, status_code: code, ...rest };
}

function unavailable(error: string): { body: HealthStatus; code: number } {
  return { body: { status: "unavailable", error }, code: 503 };
}

function badRequest(error: string): { body: HealthStatus; code: number } {
  return { body: { status: "error", error }, code: 400 };
}

function notFound(opts: HealthzOptions, issue: HealthIssue): { body: HealthStatus; code: number } {
  if (opts.details === true) return { body: { status: "error", errors: [issue] }, code: 404 };
  return { body: { status: "unavailable", error: issue.error }, code: 404 };
}
