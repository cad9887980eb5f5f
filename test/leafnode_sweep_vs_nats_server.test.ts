// Leaf nodes side by side with nats-server 2.15: for each seed a random hub and leaf (accounts on
// each side, the account the leaf is bound to on the hub by a leafnodes user, a single
// leafnodes user or a regular user with permissions, the remote's local account, deny_imports
// and deny_exports, JetStream with or without a domain on either side, the link over WebSocket
// with or without deflate) and random operations on raw clients of both sides (subscriptions
// plain and in queue groups, several members per group, wildcards, max messages, unsubscribes,
// publishes with reply subjects and headers, JetStream API requests with and without a domain). The same seed runs on nats-server hub and leaf, on tsnats
// hub and leaf, and on the two mixed pairs; after each operation every client's frames (queue
// deliveries counted per side and group, not per member) must agree, and so must /leafz and the
// operator's leafnode log lines. Links the hub refuses (same cluster name, wrong password): the
// log lines of the first attempt on both sides.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { rawClient, type RawConn } from "./helpers/raw.js";
import { framesReceived } from "./helpers/raw_sweep.js";
import { prng } from "./helpers/fuzz.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

type Impl = "2.15" | "tsnats";
type Side = "hub" | "leaf";

const SUB_SUBJECTS = ["foo", "foo.bar", "foo.baz", "foo.*", "foo.>", "bar.x", ">", "secret.x", "secret.>", "priv.a", "*.bar", "q.job"];
const PUB_SUBJECTS = ["foo", "foo.bar", "foo.baz", "bar.x", "secret.x", "secret.y", "priv.a", "a.bar", "q.job", "q.job", "foo.bar"];
const DENY_POOL = ["secret.>", "foo.bar", "foo.*", "priv.a", "q.job", "bar.>"];

interface Login {
  user: string;
  pass: string;
}

interface Ports {
  leaf: number;
  ws: number;
}

interface Scenario {
  hubConf: (p: Ports) => string;
  leafConf: (p: Ports) => string;
  /** JetStream on the hub / on the leaf. */
  js: { hub: boolean; leaf: boolean };
  /** The client login on each side that lands in the account the link binds. */
  hubLogin?: Login;
  leafLogin?: Login;
  ops: Op[];
  text: string;
}

type Op =
  | { kind: "sub"; side: Side; conn: number; subject: string; queue?: string; max?: number }
  | { kind: "unsub"; side: Side; conn: number; nth: number }
  | { kind: "pub"; side: Side; conn: number; subject: string; reply?: string; header?: string; payload: string }
  | { kind: "js"; side: Side; subject: string };

const CONNS = 2;

export function scenario(seed: number): Scenario {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const some = <T>(a: readonly T[], p: number): T[] => a.filter(() => rnd() < p);
  const q = (s: string): string => JSON.stringify(s);
  const list = (a: string[]): string => `[${a.map(q).join(", ")}]`;

  // JetStream on either side, with a domain or not; the link over WebSocket or not.
  const js = { hub: rnd() < 0.3, leaf: rnd() < 0.3 };
  const domain = { hub: js.hub && rnd() < 0.7 ? "HUB" : "", leaf: js.leaf && rnd() < 0.7 ? "LEAF" : "" };
  const jsBlock = (side: Side): string => (js[side] ? `jetstream { ${domain[side] !== "" ? `domain: ${domain[side]}` : ""} }\n` : "");
  const accJs = (side: Side): string => (js[side] ? "jetstream: enabled, " : "");
  const ws = rnd() < 0.3;
  const wsCompression = rnd() < 0.5;
  // The hub: no accounts ($G), or accounts A and B; the leaf is bound by a leafnodes users
  // entry, by a single leafnodes user, or (no leafnodes authorization) as a regular user.
  const hubAccounts = rnd() < 0.7;
  let hubLogin: Login | undefined;
  let leafAuth = "";
  let remoteCreds = "";
  let perms = "";
  if (hubAccounts) {
    hubLogin = { user: "a", pass: "pa" };
    const how = pick(["users", "single", "regular", "regular"] as const);
    if (how === "users") {
      leafAuth = `authorization { users: [ { user: "leafa", password: "lp", account: "A" }, { user: "leafb", password: "lp", account: "B" } ] }`;
      remoteCreds = "leafa:lp@";
    } else if (how === "single") {
      leafAuth = `authorization { user: "leafa", password: "lp", account: "A" }`;
      remoteCreds = "leafa:lp@";
    } else {
      remoteCreds = "lu:lp@";
      const pub = some(["secret.>", "foo.bar", "priv.a"], 0.4);
      const sub = some(["secret.>", "foo.baz", "q.job", "priv.a"], 0.4);
      const parts: string[] = [];
      if (pub.length > 0) parts.push(`publish: { deny: ${list(pub)} }`);
      if (sub.length > 0) parts.push(`subscribe: { deny: ${list(sub)} }`);
      if (parts.length > 0) perms = `, permissions: { ${parts.join(", ")} }`;
    }
  }
  const hubAccountsBlock = hubAccounts
    ? `accounts {\n  A: { ${accJs("hub")}users: [ { user: "a", password: "pa" }${remoteCreds === "lu:lp@" ? `, { user: "lu", password: "lp"${perms} }` : ""} ] }\n  B: { users: [ { user: "b", password: "pb" } ] }\n}\n`
    : "";
  // The leaf: no accounts, or accounts L and M with the remote bound to L.
  const leafAccounts = rnd() < 0.5;
  const leafLogin = leafAccounts ? { user: "l", pass: "pl" } : undefined;
  const leafAccountsBlock = leafAccounts ? `accounts {\n  L: { ${accJs("leaf")}users: [ { user: "l", password: "pl" } ] }\n  M: { users: [ { user: "m", password: "pm" } ] }\n}\n` : "";
  const denyImports = some(DENY_POOL, 0.2);
  const denyExports = some(DENY_POOL, 0.2);
  const remoteExtra = [
    leafAccounts ? `account: "L"` : "",
    denyImports.length > 0 ? `deny_imports: ${list(denyImports)}` : "",
    denyExports.length > 0 ? `deny_exports: ${list(denyExports)}` : "",
  ]
    .filter((s) => s !== "")
    .map((s) => `, ${s}`)
    .join("");

  const ops: Op[] = [];
  const subsPer = new Map<string, number>();
  const n = 10 + Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) {
    const side: Side = rnd() < 0.5 ? "hub" : "leaf";
    const conn = Math.floor(rnd() * CONNS);
    const key = `${side}${conn}`;
    const r = rnd();
    if (r < 0.2 && (js.hub || js.leaf)) {
      ops.push({ kind: "js", side, subject: pick(["$JS.API.INFO", "$JS.HUB.API.INFO", "$JS.LEAF.API.INFO", "$JS.API.STREAM.NAMES"]) });
    } else if (r < 0.4) {
      const queue = rnd() < 0.3 ? pick(["g1", "g2"]) : undefined;
      const subject = queue !== undefined && rnd() < 0.6 ? "q.job" : pick(SUB_SUBJECTS);
      // JetStream's advisories reach a `>` at their own pace: no max on one there.
      const max = rnd() < 0.15 && !(subject === ">" && (js.hub || js.leaf)) ? 1 + Math.floor(rnd() * 2) : undefined;
      ops.push({ kind: "sub", side, conn, subject, queue, max });
      subsPer.set(key, (subsPer.get(key) ?? 0) + 1);
    } else if (r < 0.5 && (subsPer.get(key) ?? 0) > 0) {
      ops.push({ kind: "unsub", side, conn, nth: Math.floor(rnd() * (subsPer.get(key) ?? 1)) });
    } else {
      const reply = rnd() < 0.3 ? pick(["rep.1", "_INBOX.abc"]) : undefined;
      const header = rnd() < 0.3 ? pick(["X-A: 1", "Nats-Msg-Id: m1"]) : undefined;
      ops.push({ kind: "pub", side, conn, subject: pick(PUB_SUBJECTS), reply, header, payload: pick(["", "x", "hello"]) });
      if (rnd() < 0.3) ops.push({ kind: "pub", side, conn, subject: pick(PUB_SUBJECTS), payload: "again" });
    }
  }
  const hubConf = (p: Ports): string =>
    `server_name: HUB\n${jsBlock("hub")}${hubAccountsBlock}leafnodes { listen: "127.0.0.1:${p.leaf}"${leafAuth !== "" ? `, ${leafAuth}` : ""} }\n` +
    (ws ? `websocket { listen: "127.0.0.1:${p.ws}", no_tls: true, compression: ${wsCompression} }\n` : "");
  const leafConf = (p: Ports): string =>
    `server_name: LEAF\n${jsBlock("leaf")}${leafAccountsBlock}leafnodes { remotes: [ { url: "${ws ? "ws" : "nats-leaf"}://${remoteCreds}127.0.0.1:${ws ? p.ws : p.leaf}"${remoteExtra} } ] }\n`;
  const text = `--- hub\n${hubConf({ leaf: 0, ws: 0 })}--- leaf\n${leafConf({ leaf: 0, ws: 0 })}--- ops\n${ops.map((o) => JSON.stringify(o)).join("\n")}`;
  return { hubConf, leafConf, js, hubLogin, leafLogin, ops, text };
}

interface Pair {
  hub: ReferenceServer;
  leaf: ReferenceServer;
  stop(): Promise<void>;
}

async function startPair(s: Scenario, hubImpl: Impl, leafImpl: Impl): Promise<Pair> {
  for (let attempt = 1; ; attempt++) {
    const ports = { leaf: await freePort(), ws: await freePort() };
    let hub: ReferenceServer;
    try {
      // Not waited for by connecting to it: the hub would log that probe as a leaf connection.
      hub = await startNatsServer(["-m", "-1", ...(s.js.hub ? ["-js"] : [])], s.hubConf(ports), hubImpl);
    } catch (err) {
      if (attempt < 5 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
    const leaf = await startNatsServer(["-m", "-1", ...(s.js.leaf ? ["-js"] : [])], s.leafConf(ports), leafImpl);
    // The leaf goes first, and the hub is given the time to log its leaving (an operator's line compared).
    const stop = async (): Promise<void> => {
      await leaf.stop();
      const deadline = Date.now() + 5000;
      while (!/Leafnode connection closed/.test(hub.log()) && /Leafnode connection created/.test(hub.log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await hub.stop();
    };
    return { hub, leaf, stop };
  }
}

async function leafz(url: string | undefined): Promise<Record<string, unknown>> {
  return (await (await fetch(`${url}/leafz?subs=1`)).json()) as Record<string, unknown>;
}

/** /leafz without what differs per run (ids, addresses, ports, times, counters). */
function stableLeafz(z: Record<string, unknown>): unknown {
  const leafs = (z.leafs as Array<Record<string, unknown>> | undefined) ?? [];
  return {
    leafnodes: z.leafnodes,
    leafs: leafs.map((l) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(l)) {
        if (["id", "ip", "port", "rtt", "in_msgs", "out_msgs", "in_bytes", "out_bytes"].includes(k)) o[k] = typeof v;
        // JetStream's API interest is announced differently (nats-server: its $JS.API.> service
        // import from the hub, no domain mappings from the leaf; tsnats: $JS.<domain>.API.>); the
        // answers clients get across the link are compared by the js operations instead.
        else if (k === "subscriptions_list") o[k] = [...(v as string[])].filter((x) => !x.startsWith("$LDS.") && !/^\$JS\.(\w+\.)?API\.>$/.test(x)).sort();
        else if (k === "subscriptions") o[k] = "number";
        // s2_auto's level follows the time the handshake took (over 10 ms is s2_fast): timing.
        else if (k === "compression" && typeof v === "string" && v.startsWith("s2_") && v !== "s2_auto") o[k] = "s2_<by rtt>";
        else o[k] = v;
      }
      return o;
    }),
  };
}

/** Lines of the log an operator reads about leaf nodes, without times, ids, addresses and ports. */
function leafLogLines(log: string): string[] {
  return log
    .split("\n")
    .filter((l) => /leaf|Permissions|Loop|Authorization|JetStream (using|not)|System account|Extending/i.test(l))
    .map((l) =>
      l
        .replace(/^\[\d+\] [\d/]+ [\d:.]+ /, "")
        .replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "<addr>")
        .replace(/\b(lid_ws|lid|rid|cid):\d+/g, "$1:<n>")
        .replace(/\b[A-Z0-9]{56}\b/g, "<id>")
        .replace(/"[A-Za-z0-9]{22}"/g, '"<name>"')
        .replace(/\$LDS\.[A-Za-z0-9]+/g, "$LDS.<x>")
        .replace(/\d+(\.\d+)?(ms|µs|s)\b/g, "<dur>")
        // The hub reads EOF or a reset when a leaf shuts down, as its last writes arrive or not.
        .replace(/closed: (Client Closed|Read Error|Write Error) - Remote: LEAF/, "closed: <leaf gone> - Remote: LEAF"),
    )
    .filter((l) => !/Listening for leafnode connections|Starting nats-server|Version|Git|Name:|ID:/.test(l));
}

/** A JetStream API answer without what differs per server: its type, domain and error, or "no responders". */
function jsAnswer(received: string, inbox: string): string {
  const text = received.slice(received.search(new RegExp(`H?MSG ${inbox.replace(/\./g, "\\.")} `)));
  if (/^HMSG \S+ \d+ \d+ \d+\r\nNATS\/1\.0 503/.test(text)) return `no responders ${JSON.stringify(text.slice(0, text.indexOf("\r\n\r\n")))}`;
  const body = text.slice(text.indexOf("\r\n") + 2);
  try {
    const j = JSON.parse(body.slice(0, body.lastIndexOf("}") + 1)) as Record<string, unknown>;
    return JSON.stringify({ type: j.type, domain: j.domain, error: j.error, streams: j.streams === undefined ? undefined : "…" });
  } catch {
    return JSON.stringify(text);
  }
}

interface Client {
  c: RawConn;
  sids: Array<{ sid: number; label: string; live: boolean }>;
  nextSid: number;
}

interface Run {
  steps: string[];
  leafz: { hub: unknown; leaf: unknown };
  log: { hub: string[]; leaf: string[] };
}

export async function runScenario(s: Scenario, hubImpl: Impl, leafImpl: Impl): Promise<Run> {
  const pair = await startPair(s, hubImpl, leafImpl);
  const all: RawConn[] = [];
  try {
    const port = { hub: pair.hub.port, leaf: pair.leaf.port };
    const login = { hub: s.hubLogin, leaf: s.leafLogin };
    const open = async (side: Side, extra: Record<string, unknown> = {}): Promise<RawConn> => {
      const l = login[side];
      const c = await rawClient(port[side], { headers: true, ...extra, ...(l !== undefined ? { user: l.user, pass: l.pass } : {}) });
      all.push(c);
      return c;
    };
    const clients: Record<Side, Client[]> = { hub: [], leaf: [] };
    for (const side of ["hub", "leaf"] as const) for (let i = 0; i < CONNS; i++) clients[side].push({ c: await open(side), sids: [], nextSid: 1 });
    const sync: Record<Side, RawConn> = { hub: await open("hub"), leaf: await open("leaf") };
    // JetStream requests come from their own client on each side, told when nobody answers.
    const jsc: Record<Side, RawConn> = { hub: await open("hub", { no_responders: true }), leaf: await open("leaf", { no_responders: true }) };
    jsc.hub.send("SUB _INBOX.js.hub.> 1\r\n");
    jsc.leaf.send("SUB _INBOX.js.leaf.> 1\r\n");
    sync.hub.send("SUB sync.hub 1\r\n");
    sync.leaf.send("SUB sync.leaf 1\r\n");
    await sync.hub.ping();
    await sync.leaf.ping();
    // The link is up and each side knows the other's sync subscription (asked again until then).
    const other = (side: Side): Side => (side === "hub" ? "leaf" : "hub");
    const deadline = Date.now() + 30_000;
    for (const side of ["hub", "leaf"] as const) {
      for (;;) {
        sync[side].send(`PUB sync.${other(side)} 0\r\n\r\n`);
        try {
          await sync[other(side)].waitFor("MSG sync.", 250);
          break;
        } catch {
          if (Date.now() > deadline) throw new Error(`no leaf link (${hubImpl} hub, ${leafImpl} leaf)\n${pair.hub.log()}\n${pair.leaf.log()}`);
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    sync.hub.take();
    sync.leaf.take();
    // Everything sent so far on either side has been processed by both servers and written out
    // to the clients: PINGs on one side, a message across to the other, PINGs there; both ways.
    let token = 0;
    const barrier = async (): Promise<void> => {
      // Every client's operation first, on both sides (a subscription must be in place before
      // a sync message that it matches arrives).
      for (const side of ["hub", "leaf"] as const) for (const cl of clients[side]) await cl.c.ping(10_000);
      for (const side of ["hub", "leaf"] as const) {
        const t = `t${++token}`;
        sync[side].send(`PUB sync.${other(side)} ${t.length}\r\n${t}\r\n`);
        await sync[other(side)].waitFor(`\r\n${t}\r\n`, 10_000);
        for (const cl of clients[other(side)]) await cl.c.ping(10_000);
      }
      // The last sync message's copies to subscriptions on its own side.
      for (const cl of clients.leaf) await cl.c.ping(10_000);
    };
    const labelled = (side: Side, i: number, cl: Client): string => {
      // A queue member's deliveries count for its group on its side, whichever member took them.
      let text = framesReceived(cl.c);
      text = text.replace(/^(H?MSG \S+ )(\d+)/gm, (_m, head: string, sid: string) => {
        const e = cl.sids.find((x) => x.sid === Number(sid));
        return `${head}${e?.label ?? sid}`;
      });
      return `${side}${i}:${text}`;
    };
    const steps: string[] = [];
    let jsReq = 0;
    for (const op of s.ops) {
      let answer = "";
      if (op.kind === "js") {
        const inbox = `_INBOX.js.${op.side}.${++jsReq}`;
        jsc[op.side].send(`PUB ${op.subject} ${inbox} 0\r\n\r\n`);
        // Sent where the other side said it has interest but then not taken there, a request gets
        // no answer at all: the wait is the only way to tell (an answer comes within milliseconds).
        const text = await jsc[op.side].waitFor(`${inbox} `, 5000).catch(() => "");
        jsc[op.side].take();
        answer = `\n  answer: ${text === "" ? "none" : jsAnswer(text, inbox)}`;
        await barrier();
      }
      const cl = op.kind === "js" ? undefined : clients[op.side][op.conn]!;
      if (cl === undefined) {
        // answered above
      } else if (op.kind === "sub") {
        const sid = cl.nextSid++;
        cl.sids.push({ sid, label: op.queue !== undefined ? `<${op.side}:${op.queue}>` : `${sid}`, live: true });
        cl.c.send(`SUB ${op.subject}${op.queue !== undefined ? ` ${op.queue}` : ""} ${sid}\r\n${op.max !== undefined ? `UNSUB ${sid} ${op.max}\r\n` : ""}`);
      } else if (op.kind === "unsub") {
        const e = cl.sids[op.nth];
        if (e !== undefined) cl.c.send(`UNSUB ${e.sid}\r\n`);
      } else if (op.kind === "pub") {
        const reply = op.reply !== undefined ? ` ${op.reply}` : "";
        if (op.header !== undefined) {
          const h = `NATS/1.0\r\n${op.header}\r\n\r\n`;
          cl.c.send(`HPUB ${op.subject}${reply} ${h.length} ${h.length + op.payload.length}\r\n${h}${op.payload}\r\n`);
        } else cl.c.send(`PUB ${op.subject}${reply} ${op.payload.length}\r\n${op.payload}\r\n`);
      }
      await barrier();
      // Queue deliveries are merged per side: which member of a side took one is not specified.
      const seen: string[] = [];
      for (const side of ["hub", "leaf"] as const) {
        const merged: string[] = [];
        clients[side].forEach((x, i) => {
          const t = labelled(side, i, x);
          const frames = t
            .slice(t.indexOf(":") + 1)
            .split(/(?=HMSG |(?<!H)MSG |-ERR )/)
            .filter((f) => f !== "" && !/^H?MSG \$JS\.EVENT\./.test(f))
            .map((f) => (/^H?MSG _INBOX\.js\./.test(f) ? `${f.slice(0, f.indexOf("\r\n"))} <JetStream's answer>\r\n` : f));
          const own = frames.filter((f) => !/^H?MSG \S+ </.test(f));
          merged.push(...frames.filter((f) => /^H?MSG \S+ </.test(f)));
          seen.push(`${side}${i}: ${own.join("")}`);
        });
        seen.push(`${side} queues: ${merged.sort().join("")}`);
      }
      steps.push(`${JSON.stringify(op)}${answer}\n  ${seen.join("\n  ")}`);
    }
    const z = { hub: stableLeafz(await leafz(pair.hub.monitorUrl)), leaf: stableLeafz(await leafz(pair.leaf.monitorUrl)) };
    for (const c of all) c.close();
    await pair.stop();
    return { steps, leafz: z, log: { hub: leafLogLines(pair.hub.log()), leaf: leafLogLines(pair.leaf.log()) } };
  } finally {
    for (const c of all) c.close();
    await pair.stop();
  }
}

/** The lines of `b` that `a` has not, and the reverse (both as JSON, keys in order). */
function lineDiff(a: unknown, b: unknown): string | undefined {
  const la = JSON.stringify(a, null, 1).split("\n");
  const lb = JSON.stringify(b, null, 1).split("\n");
  if (la.join("\n") === lb.join("\n")) return undefined;
  const onlyA = la.filter((x) => !lb.includes(x));
  const onlyB = lb.filter((x) => !la.includes(x));
  return `nats-server only: ${onlyA.join(" ")}\n tsnats only: ${onlyB.join(" ")}`;
}

function firstDifference(a: Run, b: Run): string | undefined {
  for (let i = 0; i < Math.max(a.steps.length, b.steps.length); i++) {
    if (a.steps[i] !== b.steps[i]) return `step ${i}\n nats-server: ${a.steps[i]}\n tsnats:      ${b.steps[i]}`;
  }
  for (const k of ["hub", "leaf"] as const) {
    const z = lineDiff(a.leafz[k], b.leafz[k]);
    if (z !== undefined) return `/leafz on the ${k}: ${z}`;
    const l = lineDiff(a.log[k], b.log[k]);
    if (l !== undefined) return `log of the ${k}: ${l}`;
  }
  return undefined;
}

const PAIRS: Array<[Impl, Impl]> = [
  ["tsnats", "tsnats"],
  ["2.15", "tsnats"],
  ["tsnats", "2.15"],
];

export async function sweepSeed(seed: number): Promise<string[]> {
  const s = scenario(seed);
  const ref = await runScenario(s, "2.15", "2.15");
  const out: string[] = [];
  for (const [h, l] of PAIRS) {
    const got = await runScenario(s, h, l);
    const d = firstDifference(ref, got);
    if (d !== undefined) out.push(`seed ${seed}, ${h} hub, ${l} leaf: ${d}\n${s.text}`);
  }
  return out;
}

// Seeds that found differences: 1, 4, 33 (a leaf logged in as a user with permissions: the
// link was cut), 12 (over WebSocket: /leafz's websocket flag, lid_ws in the log), 7, 11 (rtt);
// 23, 29 (JetStream domains on both sides) and 56 (WebSocket, JetStream, permissions) added;
// LEAF_SWEEP_SEEDS=1,2,3 runs others.
const SEEDS = (process.env.LEAF_SWEEP_SEEDS ?? "1,4,7,11,12,23,29,33,56").split(",").filter((x) => x !== "").map(Number);

describe("leaf nodes side by side with nats-server 2.15 (random configs and operations)", { skip }, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const diffs = await sweepSeed(seed);
      assert.deepEqual(diffs, []);
    });
  }
});

/** The lines of a log up to the second "connection created": the first attempt's story. */
function firstAttempt(lines: string[]): string[] {
  const second = lines.findIndex((l, i) => l.includes("connection created") && lines.slice(0, i).some((x) => x.includes("connection created")));
  return second < 0 ? lines : lines.slice(0, second);
}

// A link the hub refuses: what the operator reads on both sides about the first attempt (the
// errors, the close reasons, the leaf's delay before trying again).
const REFUSED: Array<{ name: string; hub: (lp: number) => string; leaf: (lp: number) => string; done: (hub: string, leaf: string) => boolean }> = [
  {
    name: "the leaf has the hub's cluster name",
    hub: (lp) => `server_name: HUB\ncluster { name: C, listen: "127.0.0.1:-1" }\nleafnodes { listen: "127.0.0.1:${lp}" }\n`,
    leaf: (lp) => `server_name: LEAF\ncluster { name: C, listen: "127.0.0.1:-1" }\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${lp}" } ] }\n`,
    done: (hub, leaf) => /has same cluster name\n/.test(hub) && /Leafnode connection closed/.test(leaf),
  },
  {
    name: "a wrong password",
    hub: (lp) => `server_name: HUB\nleafnodes { listen: "127.0.0.1:${lp}", authorization { user: u, password: p } }\n`,
    leaf: (lp) => `server_name: LEAF\nleafnodes { remotes: [ { url: "nats-leaf://u:wrong@127.0.0.1:${lp}" } ] }\n`,
    done: (hub, leaf) => /Leafnode connection closed/.test(hub) && /Leafnode connection closed/.test(leaf),
  },
];

describe("leaf links a nats-server 2.15 hub refuses, side by side", { skip }, () => {
  for (const c of REFUSED) {
    it(c.name, async () => {
      const seen = new Map<string, unknown>();
      for (const [h, l] of [["2.15", "2.15"], ...PAIRS] as Array<[Impl, Impl]>) {
        const lp = await freePort();
        const hub = await startNatsServer([], c.hub(lp), h);
        const leaf = await startNatsServer([], c.leaf(lp), l);
        try {
          const deadline = Date.now() + 30_000;
          while (!c.done(hub.log(), leaf.log())) {
            if (Date.now() > deadline) throw new Error(`no refusal seen (${h} hub, ${l} leaf)\n${hub.log()}\n${leaf.log()}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          seen.set(`${h} hub, ${l} leaf`, { hub: firstAttempt(leafLogLines(hub.log())), leaf: firstAttempt(leafLogLines(leaf.log())) });
        } finally {
          await leaf.stop();
          await hub.stop();
        }
      }
      const ref = seen.get("2.15 hub, 2.15 leaf");
      for (const [k, v] of seen) assert.deepEqual(v, ref, k);
    });
  }
});
