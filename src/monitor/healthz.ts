// /healthz: is this server able to serve? As nats-server 2.15 decides it, in its order: the
// options (400 when `stream` lacks `account` or `consumer` lacks `stream`), the server itself
// (shutting down, lame duck), JetStream configured and running; in a JetStream cluster the meta
// layer (a meta leader is known and this server has applied what it committed), then every
// replicated stream and consumer group held here (nats-server's "JetStream stream '<account> >
// <stream>' is not current: ..."). `account`, `stream` and `consumer` narrow the JetStream check
// to one asset that must exist (404 when it does not); js-server-only and js-enabled-only stop
// before JetStream's assets, js-meta-only after the meta layer. `details` lists every problem
// as `errors` (with their kind) instead of the first one as `error`.
import type { Monitor } from "./monitor.js";
import { jetStreamRunning } from "./jetstream-stats.js";
import type { JetStreamService } from "../jetstream/jetstream.js";
import type { RaftNode } from "../cluster/raft.js";

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

type IssueKind = "CONNECTION" | "BAD_REQUEST" | "JETSTREAM" | "ACCOUNT" | "STREAM" | "CONSUMER";

interface HealthIssue {
  type: IssueKind;
  account?: string;
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

type Verdict = { body: HealthStatus; code: number };

/** Collects problems: the first one decides without `details`, all are listed with it. */
class Findings {
  private readonly issues: HealthIssue[] = [];
  private code = 0;

  constructor(private readonly details: boolean) {}

  /** Records a problem; true when the check ends here (always without details). */
  add(issue: HealthIssue, code = 503): boolean {
    this.issues.push(issue);
    if (this.code === 0) this.code = code;
    return !this.details;
  }

  verdict(): Verdict {
    const code = this.code !== 0 ? this.code : 200;
    if (this.details) return { body: this.issues.length > 0 ? { status: "error", errors: this.issues } : { status: "ok" }, code };
    const first = this.issues[0];
    if (first === undefined) return { body: { status: "ok" }, code };
    return { body: { status: first.type === "BAD_REQUEST" ? "error" : "unavailable", error: first.error }, code };
  }
}

/** A RAFT group member in step with its group: it knows a leader and has applied what is committed. */
function inStep(node: RaftNode): boolean {
  return !node.stopped && !node.damaged && node.leader !== "" && node.applied >= node.commit;
}

/** The health verdict and the HTTP status it is served with. */
export function checkHealthz(m: Monitor, opts: HealthzOptions = {}): Verdict {
  const s = m.server;
  const found = new Findings(opts.details === true);
  const account = opts.account ?? "";
  const stream = opts.stream ?? "";
  const consumer = opts.consumer ?? "";
  if (stream !== "" && account === "") {
    found.add({ type: "BAD_REQUEST", error: '"account" must not be empty when checking stream health' }, 400);
    return found.verdict();
  }
  if (consumer !== "" && stream === "") {
    found.add({ type: "BAD_REQUEST", error: '"stream" must not be empty when checking consumer health' }, 400);
    return found.verdict();
  }
  if (s.isShuttingDown || s.lameDuck) {
    found.add({ type: "CONNECTION", error: s.isShuttingDown ? "server is shutting down" : "server is in lame duck mode" });
    return found.verdict();
  }
  // A meta-group peer of a nats-server cluster (cluster.nrg_peer) runs no JetStream of its own: its health is its membership's.
  const nrgPeer = s.services.find((svc) => svc.name === "nrg-peer") as { healthError(metaOnly?: boolean): string | undefined } | undefined;
  if (nrgPeer !== undefined) {
    const error = opts.jsEnabledOnly === true ? undefined : nrgPeer.healthError(opts.jsServerOnly === true);
    if (error !== undefined) found.add({ type: "JETSTREAM", error });
    return found.verdict();
  }
  if (opts.jsServerOnly === true || !s.options.jetstream.enabled) return found.verdict();
  if (!jetStreamRunning(s)) {
    found.add({ type: "JETSTREAM", error: "JetStream not enabled (10076)" });
    return found.verdict();
  }
  if (opts.jsEnabledOnly === true) return found.verdict();
  const js = s.services.find((svc) => svc.name === "jetstream") as JetStreamService | undefined;
  const cluster = js?.cluster;
  if (cluster !== undefined) {
    const meta = cluster.node;
    if (meta === undefined || meta.leader === "" || meta.stopped) {
      found.add({ type: "JETSTREAM", error: "JetStream has not established contact with a meta leader" });
      return found.verdict();
    }
    if (!inStep(meta)) {
      found.add({ type: "JETSTREAM", error: "JetStream is not current with the meta leader" });
      return found.verdict();
    }
    if (opts.jsMetaOnly === true) return found.verdict();
  }
  const accounts = [...(js?.accounts.values() ?? [])];
  if (account !== "") {
    const jsa = accounts.find((a) => a.account.name === account);
    if (jsa === undefined) {
      found.add({ type: "ACCOUNT", account, error: `JetStream account ${JSON.stringify(account)} not found` }, 404);
      return found.verdict();
    }
    if (stream !== "") {
      const st = jsa.streams.get(stream);
      if (st === undefined) {
        found.add({ type: "STREAM", account, stream, error: `JetStream stream ${JSON.stringify(stream)} not found on account ${JSON.stringify(account)}` }, 404);
        return found.verdict();
      }
      if (consumer !== "" && !st.consumers.has(consumer)) {
        found.add({ type: "CONSUMER", account, stream, consumer, error: `JetStream consumer ${JSON.stringify(consumer)} not found for stream ${JSON.stringify(stream)} on account ${JSON.stringify(account)}` }, 404);
        return found.verdict();
      }
    }
  }
  for (const jsa of accounts) {
    const acc = jsa.account.name;
    if (account !== "" && acc !== account) continue;
    for (const st of jsa.streams.values()) {
      if (stream !== "" && st.name !== stream) continue;
      const replica = st.replica;
      if (replica === undefined) continue;
      if (!inStep(replica.node)) {
        if (found.add({ type: "STREAM", account: acc, stream: st.name, error: `JetStream stream '${acc} > ${st.name}' is not current: group node unhealthy` })) return found.verdict();
        continue;
      }
      for (const name of st.consumers.keys()) {
        if (consumer !== "" && name !== consumer) continue;
        const group = replica.consumerGroup(name);
        // (A copy outside the consumer's group, R2 of R3 or scaled down, runs no RAFT member: nats-server's server has no such consumer.)
        if (group === undefined || !group.holds || inStep(group.node)) continue;
        const issue: HealthIssue = { type: "CONSUMER", account: acc, stream: st.name, consumer: name, error: `JetStream consumer '${acc} > ${st.name} > ${name}' is not current: group node unhealthy` };
        if (found.add(issue)) return found.verdict();
      }
    }
  }
  return found.verdict();
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
