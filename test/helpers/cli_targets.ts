// Shared test helper for CLI tests: the servers a CLI test runs against (a tsnats server and,
// when it can be had, nats-server 2.15), and probes for server features other issues add, so
// a test of a feature tsnats lacks today skips with the reason and runs once it lands.
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { referenceBinary, startNatsServer } from "./nats_server.js";
import { startTestServer } from "./server.js";

export interface CliTarget {
  name: string;
  url: string;
  /** true for tsnats (features may be missing), false for nats-server */
  tsnats: boolean;
  stop(): Promise<void>;
}

/** A JetStream-enabled tsnats server and nats-server 2.15 (skipped with a note when unavailable). */
export async function jetStreamTargets(opts: { reference?: boolean } = {}): Promise<CliTarget[]> {
  const out: CliTarget[] = [];
  const ts = await startTestServer({ jetstream: true });
  out.push({ name: "tsnats", url: ts.url, tsnats: true, stop: () => ts.close() });
  if (opts.reference !== false) {
    if (referenceBinary("2.15")) {
      const ref = await startNatsServer(["-js"], undefined, "2.15");
      out.push({ name: "nats-server 2.15", url: `nats://127.0.0.1:${ref.port}`, tsnats: false, stop: () => ref.stop() });
    } else {
      console.log("# nats-server 2.15 not available: these CLI tests run against tsnats only");
    }
  }
  return out;
}

/**
 * Does the server answer `subject` at all? A JetStream API the server implements answers
 * (even with an error about the missing stream); one it lacks gets no reply.
 */
export async function answers(url: string, subject: string, body = ""): Promise<boolean> {
  const nc = await connect({ servers: url });
  try {
    await nc.request(subject, body, { timeout: 1500 });
    return true;
  } catch {
    return false;
  } finally {
    await nc.close();
  }
}

/** Can this server create a stream with `cfg` (used to probe mirrors/sources)? Cleans up. */
export async function acceptsStream(url: string, cfg: Record<string, unknown>): Promise<boolean> {
  const nc = await connect({ servers: url });
  try {
    const r = await nc.request(`$JS.API.STREAM.CREATE.${cfg.name as string}`, JSON.stringify(cfg), { timeout: 2000 });
    const doc = r.json<{ error?: unknown }>();
    if (doc.error) return false;
    await nc.request(`$JS.API.STREAM.DELETE.${cfg.name as string}`, "", { timeout: 2000 });
    return true;
  } catch {
    return false;
  } finally {
    await nc.close();
  }
}

/** A server of a system-account test: its name in `server_name`, and how to reach it. */
export interface SystemTarget {
  name: string;
  serverName: string;
  url: string;
  stop(): Promise<void>;
}

/**
 * A tsnats server ("ts1") and nats-server 2.15 ("ref1", when it can be had) configured alike:
 * system account SYS (user sys/sys), JetStream account APP (user app/app).
 */
export async function systemAccountTargets(what: string): Promise<SystemTarget[]> {
  const targets: SystemTarget[] = [];
  const ts = await startTestServer({
    serverName: "ts1",
    systemAccount: "SYS",
    jetstream: true,
    accounts: [
      { name: "SYS", users: [{ user: "sys", password: "sys" }] },
      { name: "APP", jetstream: true, users: [{ user: "app", password: "app" }] },
    ] as never,
  });
  targets.push({ name: "tsnats", serverName: "ts1", url: ts.url, stop: () => ts.close() });
  if (referenceBinary("2.15")) {
    const conf = `server_name: ref1
system_account: SYS
jetstream { store_dir: "${path.join(ts.dir, "ref-store")}" }
accounts {
  SYS { users: [{ user: sys, password: sys }] }
  APP { jetstream: enabled, users: [{ user: app, password: app }] }
}`;
    const ref = await startNatsServer([], conf, "2.15");
    targets.push({ name: "nats-server 2.15", serverName: "ref1", url: `nats://127.0.0.1:${ref.port}`, stop: () => ref.stop() });
  } else console.log(`# nats-server 2.15 not available: ${what} CLI tests run against tsnats only`);
  return targets;
}
