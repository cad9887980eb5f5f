// Shared test helper: the same sequence of requests and publishes against tsnats and a
// reference nats-server (2.15 by default), answers compared value by value once clocks,
// ids and the server's own version/level are masked. Replies with headers (Direct Get,
// statuses) are compared as "<status> <description> | header=value ... | payload".
import { connect, createInbox, headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, type TestServer } from "./server.js";
import { referenceBinary, startNatsServer, type ReferenceLine, type ReferenceServer } from "./nats_server.js";

export type Json = Record<string, unknown>;

export interface Step {
  /** Subject to send to. */
  s: string;
  /** Body: a string as is, anything else JSON-encoded; undefined = empty. */
  b?: unknown;
  /** Headers. */
  h?: Record<string, string>;
  /** Publish without waiting for an answer. */
  pub?: boolean;
  /** Keys left out of this step's answer on both sides (besides the global volatile ones). */
  ignore?: string[];
  /** Wait this many ms before the step (for clocks the step depends on, e.g. TTLs). */
  waitMs?: number;
  /** Several replies (Direct Get batches): collect them up to a status reply (204 EOB, 4xx). */
  multi?: boolean;
}

/** Values that differ between any two servers: clocks, ids, the server's version and level. */
const VOLATILE = new Set(["created", "ts", "first_ts", "last_ts", "time", "_nats.ver", "_nats.level", "leader", "server_id", "now", "level"]);
const VOLATILE_HEADERS = new Set(["Nats-Time-Stamp"]);

export function masked(v: unknown, ignore: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(v)) return v.map((x) => masked(x, ignore));
  if (v === null || typeof v !== "object") return v;
  const out: Json = {};
  for (const k of Object.keys(v as Json).sort()) {
    if (ignore.has(k)) continue;
    out[k] = VOLATILE.has(k) ? "~" : masked((v as Json)[k], ignore);
  }
  return out;
}

export interface Sides {
  ours: TestServer;
  ref: ReferenceServer | undefined;
  ncOurs: NatsConnection;
  ncRef: NatsConnection | undefined;
  /** Closes connections and servers. */
  close(): Promise<void>;
}

/**
 * tsnats and the reference side by side, both with JetStream. `ref` is undefined when the
 * reference binary cannot be had (the caller then skips the comparison).
 */
export async function startSides(line: ReferenceLine = "2.15", refConfig?: string): Promise<Sides> {
  const ours = await startTestServer({ jetstream: true });
  const ncOurs = await connect({ servers: ours.url });
  let ref: ReferenceServer | undefined;
  let ncRef: NatsConnection | undefined;
  if (referenceBinary(line) !== undefined) {
    ref = await startNatsServer(["-js"], refConfig, line);
    ncRef = await connect({ servers: `127.0.0.1:${ref.port}` });
  }
  return {
    ours,
    ref,
    ncOurs,
    ncRef,
    async close() {
      await ncOurs.close();
      await ncRef?.close();
      await ours.close();
      await ref?.stop();
    },
  };
}

/** One answer as comparable text. */
export async function send(nc: NatsConnection, step: Step): Promise<string> {
  if (step.waitMs) await new Promise((r) => setTimeout(r, step.waitMs));
  const body = step.b === undefined ? "" : typeof step.b === "string" ? step.b : JSON.stringify(step.b);
  let h;
  if (step.h !== undefined) {
    h = natsHeaders();
    for (const [k, v] of Object.entries(step.h)) h.set(k, v);
  }
  if (step.pub) {
    nc.publish(step.s, body, { headers: h });
    await nc.flush();
    return "(published)";
  }
  const describe = (m: Msg): string => {
    let text = "";
    if (m.headers) {
      const pairs = [...m.headers.keys()].sort().map((k) => `${k}=${VOLATILE_HEADERS.has(k) ? "~" : m.headers!.values(k).join(",")}`);
      text = `${m.headers.code} ${m.headers.description} | ${pairs.join(" ")} | `;
    }
    let payload: string;
    try {
      payload = JSON.stringify(masked(m.json<Json>(), new Set(step.ignore ?? [])));
    } catch {
      payload = m.string();
    }
    return text + payload;
  };
  if (step.multi) {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox);
    nc.publish(step.s, body, { headers: h, reply: inbox });
    const got: string[] = [];
    const timer = setTimeout(() => sub.unsubscribe(), 2000);
    for await (const m of sub) {
      got.push(describe(m));
      if (m.headers !== undefined && m.headers.code >= 200) break;
    }
    clearTimeout(timer);
    sub.unsubscribe();
    return got.join("\n    ");
  }
  try {
    return describe(await nc.request(step.s, body, { timeout: 2000, headers: h }));
  } catch (err) {
    return `no answer: ${(err as Error).message}`;
  }
}

/**
 * Run the steps on both sides, each step on the two at once (the servers and connections are
 * independent: one side waiting for an answer or a clock need not hold the other up); return
 * the differences as readable lines.
 */
export async function compareSteps(sides: Sides, steps: Step[]): Promise<string[]> {
  const ncRef = sides.ncRef;
  if (ncRef === undefined) return [];
  const diffs: string[] = [];
  for (const [i, step] of steps.entries()) {
    const [a, b] = await Promise.all([send(ncRef, step), send(sides.ncOurs, step)]);
    if (a !== b) {
      const what = `#${i} ${step.s} ${step.b === undefined ? "" : typeof step.b === "string" ? step.b : JSON.stringify(step.b)}`;
      diffs.push(`${what}\n  nats-server: ${a}\n  tsnats:      ${b}`);
    }
  }
  return diffs;
}
