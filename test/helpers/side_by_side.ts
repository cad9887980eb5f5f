// Shared test helper: the same sequence of requests sent to tsnats and to a reference
// nats-server (2.15 by default), with the answers reduced to what must agree and compared.
//
// A step is a publish/request on a subject. Its replies are collected on a private inbox:
// a JSON API answer (one message), or the messages and status replies of a pull request
// (until a terminal status, `n` messages, or `waitMs` of silence). Replies are recorded as
// plain values (`Observed`) with volatile values (clocks, ids, random names, the server's own
// version) blanked, so a test can compare them with `deepEqual` or list every difference at
// once (`differences`). The two servers run the steps at the same time, each in order.
import { connect, createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, type TestServer } from "./server.js";
import { METADATA_IN_ANSWERS } from "../../src/jetstream/consumer_config.js";
import { referenceBinary, startNatsServer, type ReferenceLine, type ReferenceServer } from "./nats_server.js";

type Json = Record<string, unknown>;

export interface Step {
  /** Subject to send to. */
  s: string;
  /** Body: a string as is, anything else JSON-encoded; undefined = empty. */
  b?: unknown;
  /** Headers to send. */
  h?: Record<string, string>;
  /**
   * How to collect the answer: "json" (default: one reply, parsed), "msgs" (messages and
   * statuses until a terminal status, `n` messages or `waitMs` quiet), "none" (publish only,
   * then a round trip so the server has processed it).
   */
  expect?: "json" | "msgs" | "none";
  /** For "msgs": stop after this many replies (statuses included). */
  n?: number;
  /** For "msgs": stop after this long without a reply (default 300 ms), for "json" the timeout. */
  waitMs?: number;
  /** Names in the reply are random: compare everything but them. */
  volatile?: boolean;
  /** Keys left out of this step's JSON answer on both sides (besides the volatile ones). */
  ignore?: string[];
  /** A setup step: sent to both, its answers not compared (e.g. parts another area owns). */
  setup?: boolean;
  /**
   * Subscribe to this subject on the step's connection (kept until the run ends), instead of
   * sending; with `async`, what arrives is gathered under that label for `collect` steps.
   */
  sub?: string;
  /**
   * Send as a request whose replies are gathered in the background under this label (the
   * step returns at once); a later step with `collect` set to the label returns them.
   */
  async?: string;
  /** Return what the `async` step of this label gathered (after `waitMs` of quiet, or its terminal status). */
  collect?: string;
  /** Wait this long before sending (for clocks the step depends on). */
  delayMs?: number;
  /**
   * A JSON answer with this err_code is asked again (every 200 ms, up to 3 s): a condition of
   * the server that is not the step's subject (nats-server 2.15 removes a deleted stream's
   * files in the background, and a create of the same name meanwhile can fail with 10049).
   */
  retryOnErrCode?: number;
  /**
   * Asked again (every 100 ms, up to 5 s) until the answer satisfies this: a state the next
   * step depends on that the server reaches in the background (nats-server 2.15 queues a pull
   * request to its consumer's goroutine, so a delete right after it can overtake it).
   */
  retryUntil?: (o: Observed) => boolean;
  /**
   * Send `b` to the ack reply of a message this connection received last (in the latest "msgs"
   * step that delivered any): the `ack`-th one, counted modulo how many there were. With
   * `expect` "msgs" it goes as a request (an ack that asks for a confirmation). Nothing is sent
   * when no message has been received yet.
   */
  ack?: number;
  /** A label for reports. */
  note?: string;
}

/** One observed reply message. */
export interface ObservedMsg {
  subject: string;
  /** Status line of a header-only status message ("408 Request Timeout"), if any. */
  status?: string;
  headers?: Record<string, string[]>;
  data?: string;
  /** The reply (ack) subject with its timestamp token blanked. */
  reply?: string;
}

/** What came back; `refused`: the client would not send it (an invalid subject), with its error. */
export type Observed = { json: unknown } | { msgs: ObservedMsg[] } | { timeout: true } | { sent: true } | { refused: string };

/**
 * Keys whose values are clocks or counters and are replaced by a marker (the key stays, so
 * a missing field is still a difference).
 */
export const VOLATILE_KEYS = new Set([
  "created",
  "ts",
  "first_ts",
  "last_ts",
  "time",
  "now",
  "last_active",
  "pinned_ts",
  "pause_remaining",
  "api",
  "level",
  "id",
  "server_id",
  "pinned_client_id",
  "leader",
]);
/** Headers whose values are clocks. */
const VOLATILE_HEADERS = new Set(["Nats-Time-Stamp"]);
/** Metadata keys with the server's own version and API level. */
const VERSION_META = new Set(["_nats.ver", "_nats.level"]);

/**
 * Below the 2.10 feature level tsnats shows no `_nats.*` consumer metadata (clients of an
 * older server could not send it back); until the level is raised those keys are left out
 * of both sides' consumer configs.
 */
const MASK_SERVER_METADATA = !METADATA_IN_ANSWERS;

export function stableValue(v: unknown, volatileNames = false, ignore?: ReadonlySet<string>): unknown {
  if (Array.isArray(v)) return v.map((x) => stableValue(x, volatileNames, ignore));
  if (v === null || typeof v !== "object") return v;
  const out: Json = {};
  for (const k of Object.keys(v as Json).sort()) {
    if (ignore?.has(k) === true) continue;
    let x = (v as Json)[k];
    if (MASK_SERVER_METADATA && k === "metadata" && x !== null && typeof x === "object" && "ack_policy" in (v as Json)) {
      const md = Object.fromEntries(Object.entries(x as Json).filter(([mk]) => !mk.startsWith("_nats.")));
      if (Object.keys(md).length === 0) continue;
      x = md;
    }
    if (VOLATILE_KEYS.has(k)) out[k] = "<volatile>";
    else if (VERSION_META.has(k)) out[k] = "<version>";
    else if (volatileNames && (k === "name" || k === "consumers" || k === "streams") && (typeof x === "string" || Array.isArray(x))) {
      out[k] = typeof x === "string" ? "<name>" : stableValue(x, volatileNames, ignore);
    } else out[k] = stableValue(x, volatileNames, ignore);
  }
  return out;
}

function observeMsg(m: Msg): ObservedMsg {
  // Replies to a request go to its random inbox.
  const o: ObservedMsg = { subject: m.subject.startsWith("_INBOX.") ? "<inbox>" : m.subject };
  const h = m.headers;
  if (h !== undefined) {
    if (h.code > 0) o.status = `${h.code}${h.description ? ` ${h.description}` : ""}`;
    const hs: Record<string, string[]> = {};
    for (const k of h.keys()) {
      // A pin id is a random nuid: its presence is what must agree.
      // A no-responders answer to an ack names the ack subject, with its timestamp.
      hs[k] = k === "Nats-Pin-Id" ? ["<pin>"] : VOLATILE_HEADERS.has(k) ? ["<volatile>"] : k === "Nats-Subject" ? h.values(k).map((v) => (v.startsWith("$JS.ACK.") ? blankAckTimestamp(v) : v)) : h.values(k);
    }
    if (Object.keys(hs).length > 0) o.headers = hs;
  }
  if (m.data.length > 0) o.data = m.string();
  if (m.reply) o.reply = m.reply.startsWith("$JS.ACK.") ? blankAckTimestamp(m.reply) : m.reply.startsWith("$JS.FC.") ? "$JS.FC.<id>" : "<reply>";
  return o;
}

/** `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>`: the timestamp differs. */
function blankAckTimestamp(reply: string): string {
  const t = reply.split(".");
  if (t.length >= 9) t[t.length - 2] = "<ts>";
  return t.join(".");
}

function isTerminalStatus(m: ObservedMsg): boolean {
  return m.status !== undefined && !m.status.startsWith("100");
}

/** The ack replies of the messages each connection received in its latest "msgs" step that had any. */
const lastAckReplies = new WeakMap<NatsConnection, string[]>();

/** Replies gathered for `async` steps (requests, or subscriptions: `incremental`), per connection and label. */
interface Gathered {
  msgs: ObservedMsg[];
  acks: string[];
  done: boolean;
  last: number;
  incremental: boolean;
}
const gathered = new WeakMap<NatsConnection, Map<string, Gathered>>();

function gatheredFor(nc: NatsConnection, label: string, incremental: boolean): Gathered {
  let labels = gathered.get(nc);
  if (labels === undefined) gathered.set(nc, (labels = new Map()));
  const g: Gathered = { msgs: [], acks: [], done: false, last: Date.now(), incremental };
  labels.set(label, g);
  return g;
}

function gatherInto(g: Gathered, m: Msg): void {
  const o = observeMsg(m);
  g.msgs.push(o);
  if (m.reply?.startsWith("$JS.ACK.") === true) g.acks.push(m.reply);
  g.last = Date.now();
  // A subscription's gathering never ends; a request's ends with its terminal status.
  if (!g.incremental && isTerminalStatus(o)) g.done = true;
}

function errCodeOf(o: Observed): unknown {
  return "json" in o ? ((o.json as { error?: { err_code?: unknown } } | null)?.error?.err_code) : undefined;
}

/** Send one step on a connection and observe what comes back. */
export async function sendStep(nc: NatsConnection, step: Step): Promise<Observed> {
  try {
    let o = await observeStep(nc, step);
    for (let i = 0; i < 15 && step.retryOnErrCode !== undefined && errCodeOf(o) === step.retryOnErrCode; i++) {
      await new Promise((r) => setTimeout(r, 200));
      o = await observeStep(nc, step);
    }
    for (let i = 0; i < 50 && step.retryUntil !== undefined && !step.retryUntil(o); i++) {
      await new Promise((r) => setTimeout(r, 100));
      o = await observeStep(nc, step);
    }
    return o;
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

async function observeStep(nc: NatsConnection, step: Step): Promise<Observed> {
  if (step.delayMs !== undefined) await new Promise((r) => setTimeout(r, step.delayMs));
  if (step.collect !== undefined) {
    const g = gathered.get(nc)?.get(step.collect);
    if (g === undefined) return { msgs: [] };
    // The quiet window starts no earlier than this step: the steps since the \`async\` one may
    // have taken longer than it on a loaded machine (a 409 sent when a consumer is deleted can
    // come after the delete's answer). A request that has had no reply yet gets the first-reply
    // allowance of a "msgs" step.
    const start = Date.now();
    const quiet = !g.incremental && g.msgs.length === 0 ? Math.max(step.waitMs ?? 300, 1500) : (step.waitMs ?? 300);
    while (!g.done && Date.now() - Math.max(g.last, start) < quiet) await new Promise((r) => setTimeout(r, 10));
    if (g.acks.length > 0) lastAckReplies.set(nc, g.acks);
    const msgs = g.msgs;
    if (g.incremental) {
      g.msgs = [];
      g.acks = [];
    }
    return { msgs };
  }
  const body = step.b === undefined ? "" : typeof step.b === "string" ? step.b : JSON.stringify(step.b);
  let h: MsgHdrs | undefined;
  if (step.h !== undefined) {
    h = natsHeaders();
    for (const [k, v] of Object.entries(step.h)) h.set(k, v);
  }
  const mode = step.expect ?? "json";
  if (step.ack !== undefined) {
    const replies = lastAckReplies.get(nc) ?? [];
    if (replies.length === 0) return { sent: true };
    const target = replies[step.ack % replies.length];
    if (mode !== "msgs") {
      nc.publish(target, body);
      await nc.flush();
      return { sent: true };
    }
    step = { ...step, s: target };
  }
  if (step.sub !== undefined) {
    if (step.async === undefined) nc.subscribe(step.sub, { callback: () => undefined });
    else {
      // What arrives is gathered under the label; each `collect` takes what came since the last.
      const g = gatheredFor(nc, step.async, true);
      nc.subscribe(step.sub, { callback: (_err, m) => gatherInto(g, m) });
    }
    await nc.flush();
    return { sent: true };
  }
  if (mode === "none") {
    nc.publish(step.s, body, { headers: h });
    await nc.flush();
    return { sent: true };
  }
  const inbox = createInbox();
  if (step.async !== undefined) {
    const g = gatheredFor(nc, step.async, false);
    nc.subscribe(inbox, { callback: (_err, m) => gatherInto(g, m) });
    nc.publish(step.s, body, { reply: inbox, headers: h });
    await nc.flush();
    return { sent: true };
  }
  const got: ObservedMsg[] = [];
  const quiet = step.waitMs ?? (mode === "json" ? 2000 : 300);
  return await new Promise<Observed>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const acks: string[] = [];
    const finish = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      sub.unsubscribe();
      if (acks.length > 0) lastAckReplies.set(nc, acks);
      if (mode === "json") {
        if (got.length === 0) return resolve({ timeout: true });
        try {
          resolve({ json: JSON.parse(got[0].data ?? "") });
        } catch {
          resolve({ msgs: got });
        }
        return;
      }
      resolve({ msgs: got });
    };
    // The first reply may take a while on a loaded machine; after it, `quiet` ends the step.
    const arm = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(finish, got.length === 0 && mode === "msgs" ? Math.max(quiet, 1500) : quiet);
    };
    const sub = nc.subscribe(inbox, {
      callback: (_err, m) => {
        const o = observeMsg(m);
        got.push(o);
        if (m.reply?.startsWith("$JS.ACK.") === true) acks.push(m.reply);
        if (mode === "json" || isTerminalStatus(o) || (step.n !== undefined && got.length >= step.n)) finish();
        else arm();
      },
    });
    arm();
    try {
      nc.publish(step.s, body, { reply: inbox, headers: h });
    } catch (err) {
      clearTimeout(timer);
      sub.unsubscribe();
      resolve({ refused: (err as Error).message });
    }
  });
}

/** Reduce an observation to what must agree between servers. */
export function comparable(o: Observed, step: Step): unknown {
  if ("json" in o) return { json: stableValue(o.json, step.volatile === true, step.ignore === undefined ? undefined : new Set(step.ignore)) };
  return o;
}

/** The `error` of a JSON reply, if any. */
export function errorOf(o: Observed): Json | undefined {
  if (!("json" in o) || o.json === null || typeof o.json !== "object") return undefined;
  return (o.json as Json).error as Json | undefined;
}

export interface SideBySide {
  ours: TestServer;
  ref: ReferenceServer;
  ncOurs: NatsConnection;
  ncRef: NatsConnection;
  /** Run the steps on both servers at once (each its own sequence); one pair of observations per step. */
  run(steps: Step[]): Promise<Array<[Observed, Observed]>>;
  close(): Promise<void>;
}

/** Why comparison tests must skip, or false when the reference server can be had. */
export function referenceMissing(line: ReferenceLine = "2.15"): string | false {
  return referenceBinary(line) === undefined ? `nats-server ${line} is not available` : false;
}

/**
 * Start tsnats (JetStream on) and the reference nats-server with `-js` in a fresh store dir
 * (and `refConfig` as its configuration file, if given).
 */
export async function startSideBySide(line: ReferenceLine = "2.15", refConfig?: string): Promise<SideBySide> {
  const ref = await startNatsServer(["-js"], refConfig, line);
  const ours = await startTestServer({ jetstream: true });
  const ncRef = await connect({ servers: `127.0.0.1:${ref.port}` });
  const ncOurs = await connect({ servers: ours.url });
  return {
    ours,
    ref,
    ncOurs,
    ncRef,
    async run(steps) {
      // The two sequences share nothing (own server, own connection): the quiet windows and
      // expiries one side waits out need not add to the other's.
      const sequence = async (nc: NatsConnection): Promise<Observed[]> => {
        const seen: Observed[] = [];
        for (const s of steps) seen.push(await sendStep(nc, s));
        return seen;
      };
      const [refObs, ourObs] = await Promise.all([sequence(ncRef), sequence(ncOurs)]);
      return steps.map((_, i) => [refObs[i], ourObs[i]]);
    },
    async close() {
      await ncRef.close();
      await ncOurs.close();
      await ref.stop();
      await ours.close();
    },
  };
}

/** Paths where two JSON values differ, as `path: ref … / tsnats …` lines. */
function pathDiffs(a: unknown, b: unknown, p: string, out: string[]): void {
  const isObj = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const q = p ? `${p}.${k}` : k;
      if (!(k in a)) out.push(`${q}: missing in ref, tsnats ${JSON.stringify(b[k])}`);
      else if (!(k in b)) out.push(`${q}: ref ${JSON.stringify(a[k])}, missing in tsnats`);
      else pathDiffs(a[k], b[k], q, out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => pathDiffs(x, b[i], `${p}[${i}]`, out));
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${p || "$"}: ref ${JSON.stringify(a)}, tsnats ${JSON.stringify(b)}`);
}

/**
 * Every difference between the reference's and tsnats's observations: one entry per step
 * that differs, listing the differing paths (empty when they agree).
 */
export function differences(steps: Step[], pairs: Array<[Observed, Observed]>): string[] {
  const out: string[] = [];
  steps.forEach((step, i) => {
    const [r, o] = pairs[i];
    if (step.setup) return;
    const lines: string[] = [];
    pathDiffs(comparable(r, step), comparable(o, step), "", lines);
    if (lines.length > 0) {
      const body = step.b === undefined ? "" : typeof step.b === "string" ? step.b : JSON.stringify(step.b);
      out.push(`#${i}${step.note ? ` (${step.note})` : ""} ${step.s} ${body.length > 200 ? `${body.slice(0, 200)}...` : body}\n   ${lines.join("\n   ")}`);
    }
  });
  return out;
}
