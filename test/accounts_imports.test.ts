// Accounts in config mode sharing subjects: stream imports (prefix, `to` mappings, wildcards,
// reply subjects kept), service imports (renamed and wildcard subjects, `_R_` reply mapping,
// Nats-Request-Info, response types and threshold, no responders), private exports and the
// rules that keep accounts apart. Real clients over TCP; behaviour checked against nats-server
// 2.15 where it shows (reply subject shapes, headers, error texts).
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { connect, headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { optionsFromText, startConfigServer } from "./helpers/config_server.js";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { CONNECT_INFO, RawConn, withoutConnectInfo } from "./helpers/raw.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const CONF = `
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [
      {stream: "ev.>"}
      {stream: "priv.>", accounts: [C]}
      {stream: "wild.*.*"}
      {service: "svc.>"}
      {service: "stream.svc", response_type: stream, response_threshold: "300ms"}
      {service: "chunk.svc", response_type: chunked}
      {service: "single.svc", response_threshold: "300ms"}
    ]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {stream: {account: A, subject: "ev.>"}, prefix: "froma"}
      {stream: {account: A, subject: "wild.*.*"}, to: "swapped.$2.$1"}
      {service: {account: A, subject: "svc.>"}, to: "asvc.>"}
      {service: {account: A, subject: "stream.svc"}}
      {service: {account: A, subject: "chunk.svc"}}
      {service: {account: A, subject: "single.svc"}}
    ]
  }
  C: {
    users: [{user: c, password: c}]
    imports: [
      {stream: {account: A, subject: "priv.>"}}
    ]
  }
}
`;

async function login(port: number, user: string): Promise<NatsConnection> {
  return connect({ port, user, pass: user, reconnect: false });
}

/** Collect messages of a subscription until `n` arrived. */
async function collect(nc: NatsConnection, subject: string, n: number, during: () => Promise<void>): Promise<Msg[]> {
  const got: Msg[] = [];
  const sub = nc.subscribe(subject, { callback: (_e, m) => void got.push(m) });
  await nc.flush();
  await during();
  await waitUntil(() => got.length >= n, 5000, `${n} messages on ${subject}`);
  sub.unsubscribe();
  return got;
}

describe("stream and service imports between config accounts", () => {
  let srv: TestServer;
  const conns: NatsConnection[] = [];
  const open = async (user: string): Promise<NatsConnection> => {
    const nc = await login(srv.port, user);
    conns.push(nc);
    return nc;
  };
  before(async () => {
    srv = await startConfigServer(CONF);
  });
  // Each test's responders and subscribers go away with it.
  afterEach(async () => {
    for (const nc of conns.splice(0)) await nc.close().catch(() => undefined);
  });
  after(async () => {
    await srv.close();
  });

  it("delivers an exported stream under the import's prefix, reply subject kept", async () => {
    const a = await open("a");
    const b = await open("b");
    const got = await collect(b, "froma.>", 1, async () => {
      a.publish("ev.one", "x", { reply: "my.reply" });
      await a.flush();
    });
    assert.equal(got[0].subject, "froma.ev.one");
    assert.equal(got[0].reply, "my.reply");
    assert.equal(got[0].string(), "x");
  });

  it("narrower and wider subscriptions get what overlaps the import", async () => {
    const a = await open("a");
    const b = await open("b");
    const narrow: string[] = [];
    const wide: string[] = [];
    b.subscribe("froma.ev.keep", { callback: (_e, m) => void narrow.push(m.subject) });
    b.subscribe(">", { callback: (_e, m) => void wide.push(m.subject) });
    await b.flush();
    a.publish("ev.skip", "1");
    a.publish("ev.keep", "2");
    await a.flush();
    await waitUntil(() => wide.length >= 2 && narrow.length >= 1);
    assert.deepEqual(narrow, ["froma.ev.keep"]);
    assert.deepEqual(wide.sort(), ["froma.ev.keep", "froma.ev.skip"]);
  });

  it("maps wildcard tokens of a stream import with `to`", async () => {
    const a = await open("a");
    const b = await open("b");
    const got = await collect(b, "swapped.*.*", 1, async () => {
      a.publish("wild.left.right", "x");
      await a.flush();
    });
    assert.equal(got[0].subject, "swapped.right.left");
  });

  it("nothing crosses without an import, nor from a private export to others", async () => {
    const a = await open("a");
    const b = await open("b");
    const c = await open("c");
    const leaked: string[] = [];
    b.subscribe("priv.>", { callback: (_e, m) => void leaked.push(`b:${m.subject}`) });
    b.subscribe("other.>", { callback: (_e, m) => void leaked.push(`b:${m.subject}`) });
    a.subscribe("froma.>", { callback: (_e, m) => void leaked.push(`a:${m.subject}`) });
    const cGot = await collect(c, "priv.>", 1, async () => {
      await Promise.all([b.flush(), a.flush()]);
      a.publish("priv.x", "1");
      a.publish("other.x", "2");
      b.publish("ev.back", "3");
      await Promise.all([a.flush(), b.flush()]);
    });
    assert.equal(cGot[0].subject, "priv.x");
    // A round trip through each connection: anything routed to them has arrived by now.
    await Promise.all([a.flush(), b.flush()]);
    assert.deepEqual(leaked, []);
  });

  it("forwards a request through a renamed wildcard service import, with _R_ reply and request info", async () => {
    const a = await open("a");
    const b = await open("b");
    let seen: Msg | undefined;
    a.subscribe("svc.>", {
      callback: (_e, m) => {
        seen = m;
        m.respond(`re:${m.subject}`);
      },
    });
    await a.flush();
    const r = await b.request("asvc.echo", "hi", { timeout: 2000 });
    assert.equal(r.string(), "re:svc.echo");
    assert.ok(seen !== undefined);
    assert.match(seen.reply ?? "", /^_R_\.[0-9A-Za-z]{6}\.[0-9A-Za-z]{6}$/);
    const info = JSON.parse(seen.headers?.get("Nats-Request-Info") ?? "{}") as Record<string, unknown>;
    assert.equal(info.acc, "B");
    assert.equal(typeof info.rtt, "number");
    assert.equal(info.user, undefined, "requester details are shared only with `share: true`");
  });

  it("a forged Nats-Request-Info is replaced by the server's", async () => {
    const a = await open("a");
    const b = await open("b");
    let info = "";
    a.subscribe("svc.forge", { callback: (_e, m) => void m.respond((info = m.headers?.get("Nats-Request-Info") ?? "")) });
    await a.flush();
    const h = natsHeaders();
    h.set("Nats-Request-Info", JSON.stringify({ acc: "A" }));
    await b.request("asvc.forge", "x", { timeout: 2000, headers: h });
    assert.equal((JSON.parse(info) as { acc: string }).acc, "B");
  });

  it("answers no responders (503) when the exporter has no subscriber", async () => {
    const b = await open("b");
    await assert.rejects(b.request("asvc.nobody", "x", { timeout: 2000 }), (e: Error) => /503|no responders/i.test(`${(e as { code?: string }).code} ${e.message}`));
  });

  it("Singleton: only the first response reaches the requester", async () => {
    const a = await open("a");
    const b = await open("b");
    a.subscribe("single.svc", {
      callback: (_e, m) => {
        m.respond("1");
        m.respond("2");
      },
    });
    await a.flush();
    const got: string[] = [];
    const inbox = b.subscribe("rep.single", { callback: (_e, m) => void got.push(m.string()) });
    b.publish("single.svc", "", { reply: "rep.single" });
    await b.flush();
    await waitUntil(() => got.length >= 1);
    await a.flush();
    await b.flush();
    inbox.unsubscribe();
    assert.deepEqual(got, ["1"]);
  });

  it("Streamed: every response within the threshold reaches the requester, none after", async () => {
    const a = await open("a");
    const b = await open("b");
    let replyTo = "";
    a.subscribe("stream.svc", {
      callback: (_e, m) => {
        replyTo = m.reply ?? "";
        for (const x of ["1", "2", "3"]) m.respond(x);
      },
    });
    await a.flush();
    const got: string[] = [];
    b.subscribe("rep.stream", { callback: (_e, m) => void got.push(m.string()) });
    b.publish("stream.svc", "", { reply: "rep.stream" });
    await b.flush();
    await waitUntil(() => got.length >= 3);
    assert.deepEqual(got, ["1", "2", "3"]);
    // The response window (300ms) ends once responses stop for that long.
    await new Promise((r) => setTimeout(r, 450));
    a.publish(replyTo, "late");
    await a.flush();
    await b.flush();
    assert.deepEqual(got, ["1", "2", "3"]);
  });

  it("Chunked: responses flow until an empty message ends them", async () => {
    const a = await open("a");
    const b = await open("b");
    a.subscribe("chunk.svc", {
      callback: (_e, m) => {
        m.respond("c1");
        m.respond("c2");
        m.respond(new Uint8Array(0));
        m.respond("after-end");
      },
    });
    await a.flush();
    const got: string[] = [];
    b.subscribe("rep.chunk", { callback: (_e, m) => void got.push(m.string()) });
    b.publish("chunk.svc", "", { reply: "rep.chunk" });
    await b.flush();
    await waitUntil(() => got.length >= 3);
    await a.flush();
    await b.flush();
    assert.deepEqual(got, ["c1", "c2", ""]);
  });

  it("a reply mapping dies with the response window: a late response is dropped", async () => {
    const a = await open("a");
    const b = await open("b");
    let reply = "";
    a.subscribe("single.svc", { callback: (_e, m) => void (reply = m.reply ?? "") });
    await a.flush();
    const got: string[] = [];
    b.subscribe("rep.late", { callback: (_e, m) => void got.push(m.string()) });
    b.publish("single.svc", "", { reply: "rep.late" });
    await b.flush();
    await waitUntil(() => reply !== "");
    await new Promise((r) => setTimeout(r, 450));
    a.publish(reply, "too late");
    await a.flush();
    await b.flush();
    assert.deepEqual(got, []);
  });

  it("clients cannot publish with a server-owned reply subject (_R_., $JS.ACK.)", async () => {
    const raw = await RawConn.connect(srv.port);
    raw.send(`CONNECT {"verbose":false,"user":"b","pass":"b","protocol":1}\r\nPUB x _R_.abc.def 1\r\n1\r\nPUB x $JS.ACK.s.c.1.1.1.1.0 1\r\n1\r\nPING\r\n`);
    const out = await raw.waitFor(CONNECT_INFO);
    raw.socket.destroy();
    assert.equal(
      withoutConnectInfo(out),
      `-ERR 'Permissions Violation for Publish with Reply of "_R_.abc.def"'\r\n` +
        `-ERR 'Permissions Violation for Publish with Reply of "$JS.ACK.s.c.1.1.1.1.0"'\r\n` +
        "PONG\r\n",
    );
  });
});

describe("imports compared with nats-server 2.15", () => {
  const ref = referenceBinary("2.15");
  let srv: TestServer;
  let ns: ReferenceServer | undefined;
  before(async () => {
    srv = await startConfigServer(CONF);
    if (ref !== undefined) ns = await startNatsServer([], CONF, "2.15");
  });
  after(async () => {
    await srv.close();
    await ns?.stop();
  });

  /** One scenario on one server: the reply and header shapes a responder sees, and what comes back. */
  async function scenario(port: number): Promise<Record<string, unknown>> {
    const a = await login(port, "a");
    const b = await login(port, "b");
    const seen: Record<string, unknown> = {};
    a.subscribe("svc.>", {
      callback: (_e, m) => {
        seen.subject = m.subject;
        seen.reply = (m.reply ?? "").replace(/[0-9A-Za-z]{6}/g, "X");
        seen.headerKeys = m.headers ? [...m.headers.keys()] : [];
        seen.infoKeys = Object.keys(JSON.parse(m.headers?.get("Nats-Request-Info") ?? "{}") as object).sort();
        m.respond("ok");
      },
    });
    await a.flush();
    seen.response = (await b.request("asvc.q", "x", { timeout: 2000 })).string();
    seen.noResponders = await b.request("asvc.none.x", "x", { timeout: 2000 }).then(
      () => "answered",
      (e: Error & { code?: string }) => String(e.code ?? e.message),
    );
    const streamed: string[] = [];
    const sub = b.subscribe("froma.>", { callback: (_e, m) => void streamed.push(`${m.subject} ${m.reply ?? ""}`) });
    await b.flush();
    a.publish("ev.z", "1", { reply: "keep" });
    await a.flush();
    await waitUntil(() => streamed.length >= 1);
    sub.unsubscribe();
    seen.streamed = streamed;
    await a.close();
    await b.close();
    return seen;
  }

  it("shows the same reply mapping, request info keys, no-responder status and stream subjects", async (t) => {
    if (ns === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    const ours = await scenario(srv.port);
    const theirs = await scenario(ns.port);
    assert.deepEqual(ours, theirs);
  });
});

describe("imports and reload", () => {
  const BASE = `
accounts {
  A: { users: [{user: a, password: a}], exports: [{stream: "ev.>"}, {service: "svc.>"}] }
  B: { users: [{user: b, password: b}] IMPORTS }
}
`;
  const WITH = BASE.replace(
    "IMPORTS",
    `, imports: [{stream: {account: A, subject: "ev.>"}, prefix: "froma"}, {service: {account: A, subject: "svc.>"}}]`,
  );
  const WITHOUT = BASE.replace("IMPORTS", "");

  it("applies imports added or removed by a reload to live connections and subscriptions", async () => {
    const srv = await startConfigServer(WITHOUT);
    const a = await login(srv.port, "a");
    const b = await login(srv.port, "b");
    try {
      const got: string[] = [];
      b.subscribe("froma.>", { callback: (_e, m) => void got.push(m.subject) });
      a.subscribe("svc.>", { callback: (_e, m) => void m.respond("ok") });
      await Promise.all([a.flush(), b.flush()]);
      const roundTrip = async (): Promise<string> => {
        a.publish("ev.1", "x");
        await a.flush();
        await b.flush();
        const r = await b.request("svc.1", "", { timeout: 10_000 }).then(
          (m) => m.string(),
          (e: Error) => (/no responders|503/i.test(e.message) ? "503" : e.message),
        );
        return r;
      };
      assert.equal(await roundTrip(), "503");
      assert.deepEqual(got, []);
      srv.server.reload(optionsFromText(WITH));
      assert.equal(await roundTrip(), "ok");
      await waitUntil(() => got.length === 1);
      assert.deepEqual(got, ["froma.ev.1"]);
      srv.server.reload(optionsFromText(WITHOUT));
      assert.equal(await roundTrip(), "503");
      assert.deepEqual(got, ["froma.ev.1"]);
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});
