// The JSON of every monitoring endpoint and system-account service has nats-server
// 2.15's shape: the same requests go to a reference nats-server and to tsnats set up
// alike, with the same client activity, and every field nats-server sends must be in
// our answer with the same JSON type. Skipped when nats-server 2.15 is not available.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

type Kind = "null" | "array" | "object" | "string" | "number" | "boolean";
interface Shape {
  kind: Kind;
  fields?: Map<string, Shape>;
  elem?: Shape;
}

function kindOf(v: unknown): Kind {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v as Kind;
}

function merge(a: Shape | undefined, b: Shape): Shape {
  if (a === undefined || a.kind !== b.kind) return b;
  if (a.kind === "object") {
    const fields = new Map(a.fields);
    for (const [k, s] of b.fields ?? []) fields.set(k, merge(fields.get(k), s));
    return { kind: "object", fields };
  }
  if (a.kind === "array") return { kind: "array", elem: b.elem === undefined ? a.elem : merge(a.elem, b.elem) };
  return a;
}

/** The shape of a JSON value; array elements are merged into one shape. */
function shapeOf(v: unknown): Shape {
  const kind = kindOf(v);
  if (kind === "object") {
    const fields = new Map<string, Shape>();
    for (const [k, x] of Object.entries(v as object)) fields.set(k, shapeOf(x));
    return { kind, fields };
  }
  if (kind === "array") {
    let elem: Shape | undefined;
    for (const x of v as unknown[]) elem = merge(elem, shapeOf(x));
    return { kind, elem };
  }
  return { kind };
}

/** Paths whose keys are data (maps), not a fixed field set, or that tsnats lacks by design. */
const DYNAMIC_MAPS = new Set(["http_req_stats", "data.http_req_stats"]);
const NOT_IMPLEMENTED = new Set([
  "account_detail.imports", // service imports of the system account are internal subscriptions here
  "data.imports",
]);

function compare(ref: Shape, mine: Shape, path: string, diffs: string[]): void {
  if (NOT_IMPLEMENTED.has(path)) return;
  if (ref.kind !== mine.kind) {
    diffs.push(`${path || "<root>"}: nats-server ${ref.kind}, tsnats ${mine.kind}`);
    return;
  }
  if (ref.kind === "object" && !DYNAMIC_MAPS.has(path)) {
    for (const [k, s] of ref.fields ?? []) {
      const p = path ? `${path}.${k}` : k;
      if (NOT_IMPLEMENTED.has(p)) continue;
      const m = mine.fields?.get(k);
      if (m === undefined) diffs.push(`${p}: missing`);
      else compare(s, m, p, diffs);
    }
  }
  if (ref.kind === "array" && ref.elem !== undefined && mine.elem !== undefined) compare(ref.elem, mine.elem, `${path}[]`, diffs);
}

function assertSameShape(what: string, ref: unknown, mine: unknown): void {
  const diffs: string[] = [];
  compare(shapeOf(ref), shapeOf(mine), "", diffs);
  assert.deepEqual(diffs, [], `${what} differs from nats-server:\n${diffs.join("\n")}`);
}

const CONFIG = `
accounts {
  SYS: { users: [{user: sys, password: sys}] }
  APP: { users: [{user: app, password: app}] }
}
system_account: SYS
`;

const ACCOUNTS = [
  { name: "SYS", users: [{ user: "sys", password: "sys" }] },
  { name: "APP", users: [{ user: "app", password: "app" }] },
];

interface Side {
  monitor: string;
  natsUrl: string;
  sys: NatsConnection;
  app: NatsConnection;
  stop(): Promise<void>;
}

const installed = referenceBinary("2.15") !== undefined;
let ref: Side;
let mine: Side;

/** The same client activity on both servers. */
async function activity(url: string, monitor: string): Promise<{ sys: NatsConnection; app: NatsConnection }> {
  const sys = await connect({ servers: url, user: "sys", pass: "sys", name: "shape-sys" });
  const app = await connect({ servers: url, user: "app", pass: "app", name: "shape-app" });
  app.subscribe("shape.*");
  app.subscribe("shape.q", { queue: "workers" });
  for (let i = 0; i < 5; i++) app.publish("shape.a", "payload");
  await app.flush();
  // A connection that comes and goes, for the closed-connection listing.
  const gone = await connect({ servers: url, user: "app", pass: "app", name: "shape-gone" });
  gone.subscribe("gone.x");
  gone.publish("shape.a", "bye");
  await gone.flush();
  await gone.close();
  // The server notes the close on its side a moment later: wait until it lists it.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const closed = (await (await fetch(`${monitor}/connz?state=closed`)).json()) as { connections?: Array<{ name?: string }> };
    if (closed.connections?.some((c) => c.name === "shape-gone")) break;
    assert.ok(Date.now() < deadline, "the closed connection was never listed");
    await new Promise((r) => setTimeout(r, 20));
  }
  return { sys, app };
}

async function startRef(): Promise<Side> {
  const r: ReferenceServer = await startNatsServer(["-m", "-1"], `${CONFIG}\nserver_name: shape\n`, "2.15");
  const natsUrl = `nats://127.0.0.1:${r.port}`;
  const { sys, app } = await activity(natsUrl, r.monitorUrl as string);
  return {
    monitor: r.monitorUrl as string,
    natsUrl,
    sys,
    app,
    stop: async () => {
      await sys.close();
      await app.close();
      await r.stop();
    },
  };
}

async function startMine(): Promise<Side> {
  const s: TestServer = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", accounts: ACCOUNTS, systemAccount: "SYS", serverName: "shape" });
  const { sys, app } = await activity(s.url, s.monitorUrl as string);
  return {
    monitor: s.monitorUrl as string,
    natsUrl: s.url,
    sys,
    app,
    stop: async () => {
      await sys.close();
      await app.close();
      await s.close();
    },
  };
}

before(async () => {
  if (!installed) return;
  ref = await startRef();
  mine = await startMine();
});

after(async () => {
  await ref?.stop();
  await mine?.stop();
});

const HTTP_PATHS = [
  "/varz",
  "/connz",
  "/connz?subs=detail&auth=1",
  "/connz?subs=1",
  "/connz?state=closed",
  "/connz?state=all&sort=bytes_to",
  "/routez",
  "/gatewayz",
  "/leafz",
  "/subsz",
  "/subsz?subs=1",
  "/subsz?subs=1&test=shape.a",
  "/accountz",
  "/accountz?acc=APP",
  "/accstatz",
  "/accstatz?unused=1",
  "/jsz",
  "/jsz?accounts=true",
  "/healthz",
];

test("HTTP endpoints have nats-server's field sets and types", { skip: !installed && "nats-server not installed" }, async () => {
  for (const p of HTTP_PATHS) {
    const [a, b] = await Promise.all([fetch(`${ref.monitor}${p}`), fetch(`${mine.monitor}${p}`)]);
    assert.equal(b.status, a.status, `${p} status`);
    assertSameShape(p, await a.json(), await b.json());
  }
});

const SYS_REQUESTS: Array<[string, unknown]> = [
  ["$SYS.REQ.SERVER.PING", undefined],
  ["$SYS.REQ.SERVER.PING.STATSZ", undefined],
  ["$SYS.REQ.SERVER.PING.VARZ", undefined],
  ["$SYS.REQ.SERVER.PING.CONNZ", { subscriptions_detail: true, auth: true }],
  ["$SYS.REQ.SERVER.PING.SUBSZ", { subscriptions: true }],
  ["$SYS.REQ.SERVER.PING.JSZ", undefined],
  ["$SYS.REQ.SERVER.PING.HEALTHZ", undefined],
  ["$SYS.REQ.SERVER.PING.ACCOUNTZ", undefined],
  ["$SYS.REQ.SERVER.PING.ROUTEZ", undefined],
  ["$SYS.REQ.SERVER.PING.LEAFZ", undefined],
  ["$SYS.REQ.SERVER.PING.GATEWAYZ", undefined],
  ["$SYS.REQ.ACCOUNT.APP.INFO", undefined],
  ["$SYS.REQ.ACCOUNT.APP.CONNZ", undefined],
  ["$SYS.REQ.ACCOUNT.APP.SUBSZ", undefined],
  ["$SYS.REQ.ACCOUNT.APP.STATZ", undefined],
  ["$SYS.REQ.ACCOUNT.PING.STATZ", undefined],
  ["$SYS.REQ.ACCOUNT.APP.CONNS", undefined],
];

test("system account services answer in nats-server's shapes", { skip: !installed && "nats-server not installed" }, async () => {
  for (const [subject, body] of SYS_REQUESTS) {
    const payload = body === undefined ? "" : JSON.stringify(body);
    const [a, b] = await Promise.all([
      ref.sys.request(subject, payload, { timeout: 10_000 }),
      mine.sys.request(subject, payload, { timeout: 10_000 }),
    ]);
    assertSameShape(subject, a.json(), b.json());
  }
});

test("connect/disconnect events in nats-server's shapes", { skip: !installed && "nats-server not installed" }, async () => {
  const capture = async (side: Side): Promise<Record<string, unknown>> => {
    const got: Record<string, unknown> = {};
    const sub = side.sys.subscribe("$SYS.ACCOUNT.APP.>");
    await side.sys.flush();
    const nc = await connect({ servers: side.natsUrl, user: "app", pass: "app", name: "evt" });
    nc.publish("x", "1");
    await nc.flush();
    await nc.close();
    const deadline = setTimeout(() => sub.unsubscribe(), 3000);
    for await (const m of sub) {
      got[m.subject] = m.json();
      if (["CONNECT", "DISCONNECT", "SERVER.CONNS"].every((k) => `$SYS.ACCOUNT.APP.${k}` in got)) break;
    }
    clearTimeout(deadline);
    sub.unsubscribe();
    return got;
  };
  const [a, b] = [await capture(ref), await capture(mine)];
  for (const k of ["CONNECT", "DISCONNECT", "SERVER.CONNS"]) {
    const subj = `$SYS.ACCOUNT.APP.${k}`;
    assert.ok(a[subj], `nats-server sent ${subj}`);
    assert.ok(b[subj], `tsnats sent ${subj}`);
    assertSameShape(subj, a[subj], b[subj]);
  }
});

test("JetStream blocks of varz, jsz and statsz", { skip: !installed && "nats-server not installed" }, async () => {
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-shape-js-"));
  const jsConfig = CONFIG.replace("APP: { users", "APP: { jetstream: enabled, users");
  const r = await startNatsServer(["-js", "-sd", storeDir, "-m", "-1"], jsConfig, "2.15");
  const jsAccounts = [ACCOUNTS[0], { ...ACCOUNTS[1], jetstream: true }];
  const s = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", accounts: jsAccounts, systemAccount: "SYS", jetstream: true });
  const sides = [
    { monitor: r.monitorUrl as string, url: `nats://127.0.0.1:${r.port}` },
    { monitor: s.monitorUrl as string, url: s.url },
  ];
  const conns: NatsConnection[] = [];
  try {
    const sysConns: NatsConnection[] = [];
    for (const side of sides) {
      const app = await connect({ servers: side.url, user: "app", pass: "app" });
      const sys = await connect({ servers: side.url, user: "sys", pass: "sys" });
      conns.push(app, sys);
      sysConns.push(sys);
      const jsm = await jetstreamManager(app);
      await jsm.streams.add({ name: "SHAPE", subjects: ["shape.js.>"] });
      await jsm.consumers.add("SHAPE", { durable_name: "dur", ack_policy: AckPolicy.Explicit });
      await jetstream(app).publish("shape.js.one", "x");
    }
    const jszPaths = ["/jsz?accounts=true&streams=true&consumers=true&config=true", "/jsz?acc=APP&streams=true", "/jsz?streams=true", "/jsz?consumers=true"];
    for (const p of ["/varz", "/jsz", ...jszPaths, "/healthz"]) {
      const [a, b] = await Promise.all(sides.map((side) => fetch(`${side.monitor}${p}`)));
      assert.equal(b.status, a.status, p);
      const ja = (await a.json()) as Record<string, unknown>;
      const jb = (await b.json()) as Record<string, unknown>;
      // Streams or consumers without accounts=1 still list the accounts (nats-server implies it).
      if (jszPaths.includes(p)) assert.ok(Array.isArray(jb.account_details) && jb.account_details.length > 0, `${p}: account_details`);
      assertSameShape(p, p === "/varz" ? { jetstream: ja.jetstream } : ja, p === "/varz" ? { jetstream: jb.jetstream } : jb);
    }
    for (const subject of ["$SYS.REQ.SERVER.PING.STATSZ", "$SYS.REQ.SERVER.PING.JSZ", "$SYS.REQ.ACCOUNT.APP.JSZ"]) {
      const [a, b] = await Promise.all(sysConns.map((c) => c.request(subject, "", { timeout: 2000 })));
      assertSameShape(`${subject} with JetStream`, a.json(), b.json());
    }
  } finally {
    for (const c of conns) await c.close();
    await s.close();
    await r.stop();
    fs.rmSync(storeDir, { recursive: true, force: true });
  }
});
