// Accounts side by side with nats-server 2.15: for each seed a random `accounts {}` block of
// three accounts with stream and service exports (wildcards, private exports naming accounts,
// response types, response thresholds, latency tracking), imports of them (whole or narrower
// subjects, `prefix` and `to` mappings, imports of what is not exported or not to them) and
// subject mappings (wildcard, partition and split functions, a weight of 100%), then a random
// sequence of SUB, UNSUB, PUB and HPUB with reply subjects from four connections, and
// responses to the last request each connection received. After every operation all
// connections are synchronised with PING/PONG and what each received must agree: subjects,
// reply subjects (the random `_R_` ones blanked), headers and payloads. When the configuration
// is refused, both servers must refuse it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { RawConn, parseFrames, rawClient } from "./helpers/raw.js";
import { prng } from "./helpers/fuzz.js";
import { framesReceived, syncAll } from "./helpers/raw_sweep.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

const ACCOUNTS = ["A", "B", "C"];
const STREAM_EXPORTS = ["ev.>", "ev.*", "ev.a", "st.*.*", "pub.x"];
const SERVICE_EXPORTS = ["svc.a", "svc.*", "svc.>", "rq", "m.>"];
/** Subjects an importer may ask for, given an export subject (the same or narrower). */
const NARROWER: Record<string, string[]> = {
  "ev.>": ["ev.>", "ev.a", "ev.*", "ev.b.c"],
  "ev.*": ["ev.*", "ev.a"],
  "ev.a": ["ev.a"],
  "st.*.*": ["st.*.*", "st.a.*", "st.a.b"],
  "pub.x": ["pub.x"],
  "svc.a": ["svc.a"],
  "svc.*": ["svc.*", "svc.a", "svc.b"],
  "svc.>": ["svc.>", "svc.a", "svc.b.c"],
  rq: ["rq"],
  "m.>": ["m.>", "m.x"],
};
const PUB_SUBJECTS = ["ev.a", "svc.a", "svc.b", "rq", "ev.a", "ev.b", "ev.b.c", "st.a.b", "st.x.y", "pub.x", "svc.a", "svc.b", "svc.b.c", "rq", "m.x", "m.y.z", "in.a", "in.b.c", "loc.a", "p.ev.a", "imp.a", "x.y", "map.k1", "map.k2", "split.ab-cd-ef"];
const SUB_SUBJECTS = [...PUB_SUBJECTS, ">", "ev.>", "st.>", "svc.>", "in.>", "p.>", "loc.>", "imp.>", "*.*", "lat.>", "part.>", "sp.>", "x.>", "_INBOX.>"];
/** Connections: account index of each (A has two). */
const CONNS = [0, 0, 1, 2];

type Op =
  | { t: "sub"; who: number; subject: string; queue?: string; sid: number }
  | { t: "unsub"; who: number; sid: number }
  | { t: "pub" | "hpub"; who: number; subject: string; reply?: string }
  | { t: "respond"; who: number; n: number };

function scenario(seed: number, count: number): { config: string; ops: Op[] } {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const int = (n: number): number => Math.floor(rnd() * n);
  const exports: Array<Array<{ kind: "stream" | "service"; subject: string; to?: string[] }>> = ACCOUNTS.map(() => []);
  const blocks = ACCOUNTS.map((name, ai) => {
    const ex: string[] = [];
    const n = int(4);
    for (let i = 0; i < n; i++) {
      const kind = rnd() < 0.5 ? "stream" : "service";
      const subject = pick(kind === "stream" ? STREAM_EXPORTS : SERVICE_EXPORTS);
      if (exports[ai]!.some((e) => e.subject === subject)) continue;
      const parts = [`${kind}: "${subject}"`];
      let to: string[] | undefined;
      if (rnd() < 0.25) {
        to = [pick(ACCOUNTS.filter((a) => a !== name))];
        parts.push(`accounts: [${to.join(", ")}]`);
      }
      if (kind === "service") {
        if (rnd() < 0.4) parts.push(`response_type: ${pick(["singleton", "stream", "chunked"])}`);
        if (rnd() < 0.3) parts.push(`response_threshold: "${pick(["5s", "1m"])}"`);
        if (rnd() < 0.4) parts.push(`latency: { sampling: ${pick(["100", "100%", "headers"])}, subject: "lat.${name}" }`);
      }
      exports[ai]!.push({ kind, subject, to });
      ex.push(`{ ${parts.join(", ")} }`);
    }
    return { name, ex };
  });
  const config: string[] = [];
  for (const [ai, b] of blocks.entries()) {
    const im: string[] = [];
    for (const [xi, x] of exports.entries()) {
      if (xi === ai) continue;
      for (const e of x) {
        if (rnd() < 0.3) continue;
        // Mostly what the export allows; now and then an account it is not for, or a wider
        // subject (the configuration is then refused).
        if (e.to !== undefined && !e.to.includes(b.name) && rnd() < 0.9) continue;
        const subject = rnd() < 0.03 ? pick(SUB_SUBJECTS) : pick(NARROWER[e.subject]!);
        if (e.kind === "stream") {
          const map = pick(["", "", `, prefix: "p"`, `, to: "imp.${subject.replace(/^[^.]*\./, "")}"`, `, to: "in.>"`]);
          im.push(`{ stream: { account: ${ACCOUNTS[xi]}, subject: "${subject}" }${map} }`);
        } else {
          const map = pick(["", "", `, to: "loc.${subject.replace(/^[^.]*\./, "")}"`, `, to: "in.>"`]);
          im.push(`{ service: { account: ${ACCOUNTS[xi]}, subject: "${subject}" }${map} }`);
        }
      }
    }
    const mappings: string[] = [];
    if (rnd() < 0.4) mappings.push(`"map.*": "${pick(["ev.{{wildcard(1)}}", "svc.{{wildcard(1)}}", "part.{{partition(3,1)}}.{{wildcard(1)}}", "loc.a"])}"`);
    if (rnd() < 0.3) mappings.push(`"split.*": "sp.{{split(1,-)}}"`);
    if (rnd() < 0.3) mappings.push(`"x.y": [{ destination: "${pick(["rq", "ev.a", "x.z"])}", weight: 100% }]`);
    const parts = [`users: [{ user: u${ai}, password: p }]`];
    if (b.ex.length > 0) parts.push(`exports: [ ${b.ex.join(", ")} ]`);
    if (im.length > 0) parts.push(`imports: [ ${im.join(", ")} ]`);
    if (mappings.length > 0) parts.push(`mappings: { ${mappings.join(", ")} }`);
    config.push(`  ${b.name}: {\n    ${parts.join("\n    ")}\n  }`);
  }
  const ops: Op[] = [];
  let queues = 0;
  // Each connection starts with a few subscriptions, most of them wide, so traffic is seen.
  for (const [who] of CONNS.entries()) {
    ops.push({ t: "sub", who, subject: pick([">", ">", "*.>", "svc.>", "ev.>", "loc.>", "in.>"]), sid: 1 });
    ops.push({ t: "sub", who, subject: pick(SUB_SUBJECTS), sid: 2 });
  }
  for (let i = 0; i < count; i++) {
    const t = pick(["sub", "pub", "pub", "pub", "hpub", "respond", "respond", "unsub"] as const);
    const who = int(CONNS.length);
    if (t === "sub") ops.push({ t, who, subject: pick(SUB_SUBJECTS), queue: rnd() < 0.15 ? `q${queues++}` : undefined, sid: 100 + i });
    else if (t === "unsub") ops.push({ t, who, sid: 100 + int(i + 1) });
    // Half the responses come from whichever connection received a request last.
    else if (t === "respond") ops.push({ t, who: rnd() < 0.5 ? -1 : who, n: 1 + int(2) });
    else ops.push({ t, who, subject: pick(PUB_SUBJECTS), reply: rnd() < 0.5 ? pick(["_INBOX.r1", "rep.x"]) : undefined });
  }
  return { config: `accounts {\n${config.join("\n")}\n}\n`, ops };
}

function wire(op: Exclude<Op, { t: "respond" }>, i: number): string {
  if (op.t === "sub") return `SUB ${op.subject}${op.queue ? ` ${op.queue}` : ""} ${op.sid}\r\n`;
  if (op.t === "unsub") return `UNSUB ${op.sid}\r\n`;
  const reply = op.reply ? ` ${op.reply}` : "";
  const body = `m${i}`;
  const hdr = `NATS/1.0\r\nK: v${i}\r\n\r\n`;
  return op.t === "pub" ? `PUB ${op.subject}${reply} ${body.length}\r\n${body}\r\n` : `HPUB ${op.subject}${reply} ${hdr.length} ${hdr.length + body.length}\r\n${hdr}${body}\r\n`;
}

function describeOp(op: Op, i: number): string {
  return op.t === "respond" ? `respond x${op.n} by ${op.who < 0 ? "the last to get a request" : `c${op.who}`}` : `${wire(op, i).split("\r\n")[0]} by c${op.who}`;
}

/**
 * Random parts blanked: `_R_` reply subjects, the clocks in Nats-Request-Info headers (with
 * the frame's lengths, which follow them), and latency events (their keys kept).
 */
function normalized(text: string): string {
  return text
    .replace(/_R_\.[A-Za-z0-9]+\.[A-Za-z0-9]+(\.[A-Za-z0-9]+)?/g, "<R>")
    .split(/(?=HMSG |(?<!H)MSG )/)
    .map((frame) => {
      if (!frame.includes("Nats-Request-Info: {")) return frame;
      return frame
        .replace(/^(HMSG [^\r\n]*?) \d+ \d+\r\n/, "$1 <lengths>\r\n")
        .replace(/Nats-Request-Info: (\{[^\r\n]*\})/, (_h, j: string) => `Nats-Request-Info: ${JSON.stringify({ ...(JSON.parse(j) as object), rtt: "<rtt>" })}`);
    })
    .join("")
    // nats-server writes its own events with an empty reply field ("MSG lat.A 1  279").
    .replace(/MSG (\S+ \S+) +\d+\r\n(\{"type":"io\.nats\.server\.metric\.v1\.service_latency"[^\r\n]*\})/g, (_m, head: string, j: string) => `MSG ${head} <length>\r\n<latency ${Object.keys(JSON.parse(j) as object).sort().join(",")}>`);
}

/** The reply subject of each message a connection received last, for `respond`. */
function replies(text: string): string[] {
  return parseFrames(text)
    .frames.filter((f) => (f.op === "MSG" && f.args.length === 4) || (f.op === "HMSG" && f.args.length === 5))
    .map((f) => f.args[2]!);
}

async function run(server: ReferenceServer, ops: Op[]): Promise<string[]> {
  const conns: RawConn[] = [];
  const lastReplies: string[][] = CONNS.map(() => []);
  let lastRequested = 0;
  try {
    for (const a of CONNS) conns.push(await rawClient(server.port, { user: `u${a}`, pass: "p", protocol: 1, headers: true, no_responders: true }));
    const out: string[] = [];
    for (const [i, op] of ops.entries()) {
      const who = op.who < 0 ? lastRequested : op.who;
      const c = conns[who]!;
      if (op.t === "respond") {
        const rs = lastReplies[who]!.slice(-1);
        for (const r of rs) for (let k = 0; k < op.n; k++) c.send(`PUB ${r} 2\r\nr${k}\r\n`);
      } else c.send(wire(op, i));
      await syncAll(conns, c);
      out.push(
        conns
          .map((x, ci) => {
            const text = x.text();
            const rs = replies(text);
            if (rs.length > 0) {
              lastReplies[ci] = rs;
              lastRequested = ci;
            }
            return `${ci}: ${normalized(framesReceived(x))}`;
          })
          .join(" | "),
      );
    }
    return out;
  } finally {
    for (const c of conns) c.close();
  }
}

/** Start a server from `config`, or the reason it refused. */
async function start(config: string, line: "2.15" | "tsnats"): Promise<ReferenceServer | string> {
  try {
    return await startNatsServer([], config, line);
  } catch (err) {
    return (err as Error).message;
  }
}

describe("accounts side by side with nats-server 2.15 (random exports, imports, mappings and traffic)", { skip }, () => {
  // Seeds 1-12, and the seeds of the sweep (1-100) that found differences.
  for (const seed of [...Array.from({ length: 12 }, (_, i) => i + 1), 16, 42, 56, 73]) {
    it(`seed ${seed}`, async () => {
      const { config, ops } = scenario(seed, 50);
      const [ref, ts] = await Promise.all([start(config, "2.15"), start(config, "tsnats")]);
      try {
        if (typeof ref === "string" || typeof ts === "string") {
          assert.equal(typeof ts, typeof ref, `configuration:\n${config}\nref: ${typeof ref === "string" ? ref : "started"}\ntsnats: ${typeof ts === "string" ? ts : "started"}`);
          return;
        }
        const [a, b] = await Promise.all([run(ref, ops), run(ts, ops)]);
        const diffs: string[] = [];
        for (let i = 0; i < ops.length; i++) {
          if (a[i] !== b[i]) diffs.push(`#${i} ${describeOp(ops[i]!, i)}\n  ref ${JSON.stringify(a[i])}\n  ts  ${JSON.stringify(b[i])}`);
        }
        assert.deepEqual(diffs, [], `configuration:\n${config}`);
      } finally {
        for (const s of [ref, ts]) if (typeof s !== "string") await s.stop();
      }
    });
  }
});
