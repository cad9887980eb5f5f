// Message tracing (ADR-41): Nats-Trace-Dest and Nats-Trace-Only, the trace events ("in",
// "eg", "js" with stream errors and no-interest) as nats-server 2.15 sends them, delivery
// (or not, trace-only) to subscribers and streams, and tracing switched off for what a
// stream stores; across accounts ("se", "si", allow_trace, the account's msg_trace
// destination for sampled traceparent headers, permissions, compressed events) and across
// servers (routes and leaf nodes: hop ids, each server's own event, service imports whose
// events come back through a reply import). Each scenario runs against tsnats and nats-server
// 2.15 and the events must agree once clocks, connection ids and the server block are masked.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { gunzipSync } from "node:zlib";
import { startTestServer, waitUntil } from "./helpers/server.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startConfigServer } from "./helpers/config_server.js";
import { s2DecodeStream } from "../src/storage/s2.js";

type Json = Record<string, any>;

function traceHeaders(extra: Record<string, string> = {}): ReturnType<typeof headers> {
  const h = headers();
  h.set("Nats-Trace-Dest", "trace.dest");
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return h;
}

/** Publishes traced messages on `url`; returns the trace events (masked) and what subscribers and the stream got. */
async function scenario(url: string): Promise<string[]> {
  const nc = await connect({ servers: url, name: "tracer" });
  const nc2 = await connect({ servers: url, name: "receiver" });
  const out: string[] = [];
  const traces: Json[] = [];
  try {
    nc.subscribe("trace.dest", {
      callback: (_e, m) => {
        traces.push(m.json<Json>());
      },
    });
    nc2.subscribe("foo", {
      callback: (_e, m) => {
        out.push(`foo got ${m.string()}`);
      },
    });
    nc2.subscribe("foo", {
      queue: "q",
      callback: (_e, m) => {
        out.push(`foo/q got ${m.string()}`);
      },
    });
    await nc2.flush();
    await nc.flush();
    nc.publish("foo", "delivered", { headers: traceHeaders() });
    nc.publish("foo", "trace-only", { headers: traceHeaders({ "Nats-Trace-Only": "true" }) });
    nc.publish("nobody.here", "x", { headers: traceHeaders() });
    nc.publish("foo", "no-trace", { headers: traceHeaders({ "Nats-Trace-Dest": "trace disabled" }) });
    await nc.request("$JS.API.STREAM.CREATE.T", JSON.stringify({ name: "T", subjects: ["js.*"] }));
    await nc.request("$JS.API.STREAM.CREATE.I", JSON.stringify({ name: "I", subjects: ["int.*"], retention: "interest" }));
    out.push(`ack ${(await nc.request("js.a", "stored", { timeout: 2000, headers: traceHeaders() })).string()}`);
    nc.publish("js.b", "only", { headers: traceHeaders({ "Nats-Trace-Only": "1", "Nats-Expected-Last-Sequence": "7" }) });
    nc.publish("js.c", "only", { headers: traceHeaders({ "Nats-Trace-Only": "on" }) });
    out.push(`ack ${(await nc.request("js.d", "x", { timeout: 2000, headers: traceHeaders({ "Nats-Expected-Stream": "NOPE" }) })).string()}`);
    out.push(`ack ${(await nc.request("int.a", "x", { timeout: 2000, headers: traceHeaders() })).string()}`);
    await nc.flush();
    await waitUntil(() => traces.length >= 8, 5000, "8 trace events");
    const info = (await nc.request("$JS.API.STREAM.INFO.T")).json<Json>();
    out.push(`stream T holds ${info.state.messages}`);
    const stored = (await nc.request("$JS.API.STREAM.MSG.GET.T", JSON.stringify({ seq: 1 }))).json<Json>();
    out.push(`stored headers ${Buffer.from(stored.message.hdrs, "base64").toString()}`);
    for (const t of traces) {
      assert.equal(typeof t.server.id, "string");
      const events = (t.events as Json[]).map(({ ts: _ts, cid: _cid, ...rest }) => rest);
      out.push(JSON.stringify({ request: t.request, events }));
    }
  } finally {
    await nc.close();
    await nc2.close();
  }
  return out;
}

describe("message tracing", () => {
  it("traces publishes, trace-only messages and JetStream ingest as nats-server 2.15 does", async (t) => {
    const ours = await startTestServer({ jetstream: true });
    try {
      const mine = await scenario(ours.url);
      // What tsnats does on its own (kept even when the reference is missing).
      assert.ok(mine.includes("foo got delivered") && !mine.includes("foo got trace-only"), "trace-only messages are not delivered");
      assert.ok(mine.includes("stream T holds 1"), "trace-only messages are not stored");
      assert.ok(mine.some((l) => l.includes("Nats-Trace-Dest: trace disabled")), "tracing is off for the stored message");
      if (referenceBinary("2.15") === undefined) return t.skip("nats-server 2.15 not available");
      const ref = await startNatsServer(["-js"], undefined, "2.15");
      try {
        const theirs = await scenario(`127.0.0.1:${ref.port}`);
        assert.deepEqual(mine.sort(), theirs.sort());
      } finally {
        await ref.stop();
      }
    } finally {
      await ours.close();
    }
  });

  it("follows an account mapping and a request with its reply", async () => {
    const srv = await startTestServer({ accounts: [{ name: "A", users: [{ user: "a", password: "a" }], mappings: [{ subject: "old.subject", destinations: [{ subject: "new.subject", weight: 100 }] }] }] });
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: srv.url, user: "a", pass: "a" });
      const traces: Json[] = [];
      nc.subscribe("trace.dest", {
        callback: (_e, m) => {
          traces.push(m.json<Json>());
        },
      });
      nc.subscribe("new.subject", {
        callback: (_e, m) => {
          m.respond("pong");
        },
      });
      await nc.flush();
      const r = await nc.request("old.subject", "ping", { timeout: 2000, headers: traceHeaders() });
      assert.equal(r.string(), "pong");
      await waitUntil(() => traces.length >= 1, 5000, "a trace event");
      const types = (traces[0]!.events as Json[]).map((e) => e.type);
      assert.deepEqual(types, ["in", "sm", "eg"]);
      assert.equal(traces[0]!.events[0].subj, "old.subject");
      assert.equal(traces[0]!.events[1].to, "new.subject");
      assert.equal(traces[0]!.events[2].sub, "new.subject");
    } finally {
      await nc?.close();
      await srv.close();
    }
  });
});

/** Header values as a plain object (reply-import subjects and rtt masked). */
function headerObject(m: { headers?: { keys(): string[]; get(k: string): string } }): Record<string, string> | undefined {
  if (m.headers === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const k of m.headers.keys()) out[k] = m.headers.get(k).replace(/_R_\.[A-Za-z0-9]+\.[A-Za-z0-9]+/g, "_R_.X").replace(/"rtt":\d+/, '"rtt":N');
  return out;
}

/** A trace event with what differs from run to run masked; `server` reduced to name and cluster. */
function maskEvent(e: Json): string {
  return JSON.stringify(e, (k, v: unknown) => {
    if (k === "ts" || k === "cid") return "#";
    if (k === "server") {
      // A server without a configured name is named by its (random) id.
      const name = (v as Json).name as string;
      return { name: /^N[A-Z0-9]{55}$/.test(name) ? "#" : name, cluster: (v as Json).cluster };
    }
    if (typeof v === "string") return v.replace(/_R_\.[A-Za-z0-9]+\.[A-Za-z0-9]+/g, "_R_.X").replace(/"rtt":\d+/, '"rtt":N');
    if (k === "msgsize") return "#"; // carries the requester's rtt in Nats-Request-Info
    return v;
  });
}

const ACCOUNTS_CONF = `
accounts {
  A {
    users: [{user: a, password: a}]
    exports: [
      {stream: "s.>"}
      {stream: "u.>"}
      {service: "svc.>", allow_trace: true}
      {service: "nsvc.>"}
    ]
    msg_trace: {dest: "acc.trace", sampling: "100%"}
  }
  B {
    users: [{user: b, password: b, permissions: {publish: {deny: ["forbidden.>", "denied.trace"]}, subscribe: {deny: ["nosub.>"]}}}]
    imports: [
      {stream: {account: A, subject: "s.>"}, prefix: "imp", allow_trace: true}
      {stream: {account: A, subject: "u.>"}, prefix: "noallow"}
      {service: {account: A, subject: "svc.>"}, to: "bsvc.>"}
      {service: {account: A, subject: "nsvc.>"}}
    ]
  }
}
`;

/** Traced messages across accounts; returns what every subscriber got, in order per step. */
async function accountsScenario(url: string): Promise<string[]> {
  const ncA = await connect({ servers: url, user: "a", pass: "a", name: "ca" });
  const ncB = await connect({ servers: url, user: "b", pass: "b", name: "cb" });
  const out: string[] = [];
  let got: string[] = [];
  const errors: string[] = [];
  (async () => {
    for await (const s of ncB.status()) if (s.type === "error") errors.push(String((s as { error?: unknown }).error));
  })().catch(() => {});
  try {
    const collect = (nc: NatsConnection, subj: string, tag: string): void => {
      nc.subscribe(subj, {
        callback: (_e, m) => {
          const enc = m.headers?.get("Content-Encoding") ?? "";
          let body: string;
          if (enc === "gzip") body = gunzipSync(m.data).toString();
          else if (enc === "snappy") body = s2DecodeStream(m.data).toString();
          else body = m.string();
          const isTrace = body.startsWith('{"server"');
          got.push(`${tag} ${m.subject} ${JSON.stringify(headerObject(m))} ${isTrace ? maskEvent(JSON.parse(body) as Json) : body}`);
        },
      });
    };
    collect(ncA, "acc.trace", "A");
    collect(ncA, "t.a", "A");
    collect(ncB, "t.b", "B");
    collect(ncB, "imp.s.>", "B");
    collect(ncB, "noallow.u.>", "B");
    ncA.subscribe("svc.>", {
      callback: (_e, m) => {
        got.push(`A svc got ${m.subject} ${JSON.stringify(headerObject(m))}`);
        m.respond("resp");
      },
    });
    ncA.subscribe("nsvc.>", {
      callback: (_e, m) => {
        got.push(`A nsvc got ${m.subject} ${JSON.stringify(headerObject(m))}`);
        m.respond("resp");
      },
    });
    ncB.subscribe("nosub.>", { callback: () => {} });
    ncB.subscribe(">", { callback: () => {} });
    await ncA.flush();
    await ncB.flush();
    const h = (o: Record<string, string>): ReturnType<typeof headers> => {
      const x = headers();
      for (const [k, v] of Object.entries(o)) x.set(k, v);
      return x;
    };
    const steps: Array<[string, () => Promise<void>, number]> = [
      ["stream import", async () => ncA.publish("s.x", "1", { headers: h({ "Nats-Trace-Dest": "t.a" }) }), 2],
      ["stream import, trace only", async () => ncA.publish("s.x", "1", { headers: h({ "Nats-Trace-Dest": "t.a", "Nats-Trace-Only": "true" }) }), 1],
      ["stream import without allow_trace", async () => ncA.publish("u.x", "1", { headers: h({ "Nats-Trace-Dest": "t.a" }) }), 2],
      ["stream import without allow_trace, trace only", async () => ncA.publish("u.x", "1", { headers: h({ "Nats-Trace-Dest": "t.a", "Nats-Trace-Only": "true" }) }), 1],
      ["service import allowing traces", async () => void got.push(`reply ${(await ncB.request("bsvc.q", "x", { timeout: 2000, headers: h({ "Nats-Trace-Dest": "t.b" }) })).string()}`), 3],
      ["service import allowing traces, trace only", async () => ncB.publish("bsvc.q", "x", { headers: h({ "Nats-Trace-Dest": "t.b", "Nats-Trace-Only": "true" }) }), 1],
      ["service import without allow_trace", async () => void got.push(`reply ${(await ncB.request("nsvc.q", "x", { timeout: 2000, headers: h({ "Nats-Trace-Dest": "t.b" }) })).string()}`), 3],
      ["service import without allow_trace, trace only", async () => ncB.publish("nsvc.q", "x", { headers: h({ "Nats-Trace-Dest": "t.b", "Nats-Trace-Only": "true" }) }), 1],
      [
        "traceparent sampled and not",
        async () => {
          ncA.publish("s.y", "1", { headers: h({ traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }) });
          ncA.publish("s.y", "2", { headers: h({ TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" }) });
        },
        3,
      ],
      ["publish denied", async () => ncB.publish("forbidden.x", "1", { headers: h({ "Nats-Trace-Dest": "t.b" }) }), 1],
      ["destination denied", async () => ncB.publish("ok.x", "1", { headers: h({ "Nats-Trace-Dest": "denied.trace" }) }), 0],
      ["subscription denies", async () => ncB.publish("nosub.x", "1", { headers: h({ "Nats-Trace-Dest": "t.b" }) }), 1],
      ["invalid destination, trace only", async () => ncB.publish("ok.y", "1", { headers: h({ "Nats-Trace-Dest": "bad.*", "Nats-Trace-Only": "1" }) }), 0],
      ["legacy origin header", async () => ncA.publish("s.z", "1", { headers: h({ "Nats-Trace-Dest": "t.a", "Nats-Trace-Origin-Account": "A" }) }), 1],
      [
        "compressed events",
        async () => {
          for (const enc of ["gzip", "snappy", "br"]) ncA.publish("zz", "1", { headers: h({ "Nats-Trace-Dest": "t.a", "Accept-Encoding": enc }) });
        },
        3,
      ],
    ];
    for (const [name, step, n] of steps) {
      got = [];
      await step();
      await ncA.flush();
      await ncB.flush();
      // Each step's messages are counted before the next; what may come in any order is sorted.
      if (n > 0) await waitUntil(() => got.length >= n, 5000, `${name}: ${n} messages`);
      await ncB.flush();
      out.push(`== ${name}`, ...got.sort());
    }
    await waitUntil(() => errors.length >= 2, 5000, "two permission errors");
    out.push(...errors.sort());
  } finally {
    await ncA.close();
    await ncB.close();
  }
  return out;
}

describe("message tracing across accounts", () => {
  it("se/si events, allow_trace, msg_trace sampling, permissions and compression as nats-server 2.15", async (t) => {
    const ours = await startConfigServer(ACCOUNTS_CONF);
    let mine: string[];
    try {
      mine = await accountsScenario(ours.url);
      // The reply import a traced request made for remote events is gone (nothing went to another server).
      assert.equal(ours.server.accounts.get("A")!.responses.size, 0);
    } finally {
      await ours.close();
    }
    assert.ok(mine.some((l) => l.includes('"type":"se"')) && mine.some((l) => l.includes('"type":"si"')), mine.join("\n"));
    if (referenceBinary("2.15") === undefined) return t.skip("nats-server 2.15 not available");
    const ref = await startNatsServer([], ACCOUNTS_CONF, "2.15");
    try {
      const theirs = await accountsScenario(`127.0.0.1:${ref.port}`);
      assert.deepEqual(mine, theirs);
    } finally {
      await ref.stop();
    }
  });

  it("reports an HPUB over the payload limit in the trace (ingress error)", async (t) => {
    const run = async (url: string): Promise<string> => {
      const traces: string[] = [];
      const nc = await connect({ servers: url });
      nc.subscribe("t.max", {
        callback: (_e, m) => {
          traces.push(maskEvent(m.json<Json>()));
        },
      });
      await nc.flush();
      const raw = await import("node:net");
      const [host, port] = url.replace(/^nats:\/\//, "").split(":");
      const sock = raw.connect(Number(port), host);
      await new Promise((r) => sock.once("connect", r));
      const hdr = "NATS/1.0\r\nNats-Trace-Dest: t.max\r\n\r\n";
      sock.write(`CONNECT {"headers":true,"verbose":false,"name":"big"}\r\nHPUB big.subject ${hdr.length} 2000000\r\n${hdr}`);
      await waitUntil(() => traces.length >= 1, 5000, "the ingress error event");
      sock.destroy();
      await nc.close();
      return traces[0]!;
    };
    const ours = await startTestServer({});
    let mine: string;
    try {
      mine = await run(ours.url);
    } finally {
      await ours.close();
    }
    assert.match(mine, /"error":"maximum payload exceeded"/);
    if (referenceBinary("2.15") === undefined) return t.skip("nats-server 2.15 not available");
    const ref = await startNatsServer([], undefined, "2.15");
    try {
      const noServer = (e: string): string => e.replace(/"server":\{[^}]*\}/, '"server":{}');
      assert.equal(noServer(mine), noServer(await run(`127.0.0.1:${ref.port}`)));
    } finally {
      await ref.stop();
    }
  });
});

/** Requests `subject` until it is answered (interest has crossed the servers). */
async function untilAnswered(nc: NatsConnection, subject: string, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await nc.request(subject, "", { timeout: 300 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Two servers in a cluster (S2 also a leaf node hub) and a leaf node L1 of S2, all from config text. */
async function startTraceCluster(line: "tsnats" | "2.15"): Promise<{ urls: string[]; stop(): Promise<void> }> {
  const [c1, c2, lp] = [await freePort(), await freePort(), await freePort()];
  const accounts = `
accounts {
  A { users: [{user: a, password: a}], exports: [{stream: "s.>"}, {service: "svc.>", allow_trace: true}] }
  B { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: "s.>"}, prefix: "imp", allow_trace: true}, {service: {account: A, subject: "svc.>"}, to: "bsvc.>"}] }
}`;
  const routes = `routes: ["nats-route://127.0.0.1:${c1}", "nats-route://127.0.0.1:${c2}"]`;
  const servers: ReferenceServer[] = [];
  try {
    servers.push(await startNatsServer([], `server_name: S1\ncluster { name: C, listen: 127.0.0.1:${c1}, ${routes} }\n${accounts}`, line));
    servers.push(await startNatsServer([], `server_name: S2\ncluster { name: C, listen: 127.0.0.1:${c2}, ${routes} }\nleafnodes { listen: 127.0.0.1:${lp} }\n${accounts}`, line));
    servers.push(
      await startNatsServer([], `server_name: L1\nleafnodes { remotes: [{url: "nats-leaf://a:a@127.0.0.1:${lp}", account: A}] }\naccounts { A { users: [{user: a, password: a}] } }`, line),
    );
  } catch (err) {
    for (const s of servers) await s.stop();
    throw err;
  }
  return {
    urls: servers.map((s) => `127.0.0.1:${s.port}`),
    stop: async () => {
      for (const s of servers) await s.stop();
    },
  };
}

/** Traced messages crossing a route and a leaf node connection; each step's events sorted by server. */
async function clusterScenario(urls: string[]): Promise<string[]> {
  const [u1, u2, ul] = urls as [string, string, string];
  const a1 = await connect({ servers: u1, user: "a", pass: "a", name: "a1" });
  const b1 = await connect({ servers: u1, user: "b", pass: "b", name: "b1" });
  const a2 = await connect({ servers: u2, user: "a", pass: "a", name: "a2" });
  const b2 = await connect({ servers: u2, user: "b", pass: "b", name: "b2" });
  const al = await connect({ servers: ul, user: "a", pass: "a", name: "al" });
  const conns = [a1, b1, a2, b2, al];
  const out: string[] = [];
  let got: string[] = [];
  try {
    const collect = (nc: NatsConnection, subj: string, tag: string, respond = false): void => {
      nc.subscribe(subj, {
        callback: (_e, m) => {
          // The set-up probes below are not part of the scenario: a copy (svc.probe at the leaf
          // node's svc.> subscriber) may arrive after its request was answered, during a step.
          if (m.subject.endsWith("probe")) {
            if (respond) m.respond("resp");
            return;
          }
          const body = m.string();
          if (body.startsWith('{"server"')) got.push(`${tag} ${maskEvent(JSON.parse(body) as Json)}`);
          else got.push(`${tag} ${m.subject} ${JSON.stringify(headerObject(m))}`);
          if (respond) m.respond("resp");
        },
      });
    };
    collect(a1, "t.a", "a1");
    collect(b1, "t.b", "b1");
    collect(a1, "foo", "a1");
    collect(a2, "foo", "a2");
    collect(al, "foo", "al");
    collect(b2, "imp.s.>", "b2");
    collect(a2, "svc.>", "a2", true);
    collect(al, "svc.>", "al");
    for (const c of conns) await c.flush();
    // Interest reaches every server: a probe from the leaf node answered by S1, and the other way.
    const probe = a1.subscribe("probe", {
      callback: (_e, m) => {
        m.respond();
      },
    });
    await a1.flush();
    await untilAnswered(al, "probe", "interest across the cluster and leaf node");
    probe.unsubscribe();
    await untilAnswered(b1, "bsvc.probe", "the service import across the cluster");
    const h = (o: Record<string, string>): ReturnType<typeof headers> => {
      const x = headers();
      for (const [k, v] of Object.entries(o)) x.set(k, v);
      return x;
    };
    const steps: Array<[string, () => Promise<void>, number]> = [
      ["fan out to a route and a leaf node", async () => a1.publish("foo", "1", { headers: h({ "Nats-Trace-Dest": "t.a" }) }), 6],
      ["trace only across servers", async () => a1.publish("foo", "1", { headers: h({ "Nats-Trace-Dest": "t.a", "Nats-Trace-Only": "true" }) }), 3],
      ["stream import on the other server", async () => a1.publish("s.x", "1", { headers: h({ "Nats-Trace-Dest": "t.a" }) }), 3],
      ["service import answered on the other server", async () => void got.push(`reply ${(await b1.request("bsvc.q", "x", { timeout: 2000, headers: h({ "Nats-Trace-Dest": "t.b" }) })).string()}`), 6],
    ];
    for (const [name, step, n] of steps) {
      got = [];
      await step();
      await waitUntil(() => got.length >= n, 5000, `${name}: ${n} messages`);
      for (const c of conns) await c.flush();
      out.push(`== ${name}`, ...got.sort());
    }
  } finally {
    for (const c of conns) await c.close();
  }
  return out;
}

describe("message tracing across servers", () => {
  it("routes and leaf nodes: hop ids, one event per server, service import events back through the reply import (as nats-server 2.15)", async (t) => {
    const ours = await startTraceCluster("tsnats");
    let mine: string[];
    try {
      mine = await clusterScenario(ours.urls);
    } finally {
      await ours.stop();
    }
    assert.ok(mine.some((l) => l.includes('"hop":"1.1"')), mine.join("\n"));
    if (referenceBinary("2.15") === undefined) return t.skip("nats-server 2.15 not available");
    const ref = await startTraceCluster("2.15");
    try {
      assert.deepEqual(mine, await clusterScenario(ref.urls));
    } finally {
      await ref.stop();
    }
  });

  it("removes the reply import of a traced request once every remote event came back", async () => {
    const [c1, c2] = [await freePort(), await freePort()];
    const accounts = `accounts {
  A { users: [{user: a, password: a}], exports: [{service: "svc.>", allow_trace: true}] }
  B { users: [{user: b, password: b}], imports: [{service: {account: A, subject: "svc.>"}}] }
}`;
    const routes = `routes: ["nats-route://127.0.0.1:${c1}", "nats-route://127.0.0.1:${c2}"]`;
    const s1 = await startConfigServer(`server_name: S1\ncluster { name: C, listen: 127.0.0.1:${c1}, ${routes} }\n${accounts}`);
    const s2 = await startConfigServer(`server_name: S2\ncluster { name: C, listen: 127.0.0.1:${c2}, ${routes} }\n${accounts}`);
    const a2 = await connect({ servers: s2.url, user: "a", pass: "a" });
    const b1 = await connect({ servers: s1.url, user: "b", pass: "b" });
    try {
      a2.subscribe("svc.>", {
        callback: (_e, m) => {
          m.respond("ok");
        },
      });
      const events: Json[] = [];
      b1.subscribe("t.b", {
        callback: (_e, m) => {
          events.push(m.json<Json>());
        },
      });
      await a2.flush();
      await b1.flush();
      await untilAnswered(b1, "svc.probe", "the service across the route");
      const h = headers();
      h.set("Nats-Trace-Dest", "t.b");
      assert.equal((await b1.request("svc.x", "", { timeout: 2000, headers: h })).string(), "ok");
      await waitUntil(() => events.length >= 2, 5000, "both servers' events");
      // The request's own reply mapping is gone with its response, the trace's once S2's event came back.
      await waitUntil(() => s1.server.accounts.get("A")!.responses.size === 0, 5000, "reply imports removed");
    } finally {
      await a2.close();
      await b1.close();
      await s1.close();
      await s2.close();
    }
  });
});
