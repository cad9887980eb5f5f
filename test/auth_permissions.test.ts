// User publish/subscribe permissions over raw TCP: violations answer -ERR and keep the
// connection, queue-group grants, deny filtering of wildcard subscriptions, allow_responses,
// and a reload that takes a subscription away. Texts are nats-server 2.9's.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import type { UserConfig } from "../src/config/options.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";

const users: UserConfig[] = [
  { user: "a", password: "a", permissions: { publish: "foo.>", subscribe: ["foo.*", "q A"] } },
  { user: "d", password: "d", permissions: { subscribe: { deny: "foo.secret" } } },
  { user: "r", password: "r", permissions: { subscribe: "svc", allow_responses: true } },
  { user: "free", password: "free" },
];

async function login(port: number, user: string): Promise<RawConn> {
  const c = await RawConn.connect(port);
  c.send(`CONNECT {"verbose":false,"pedantic":false,"user":"${user}","pass":"${user}","protocol":1,"headers":true}\r\nPING\r\n`);
  await c.waitFor("PONG\r\n");
  c.take();
  return c;
}

describe("user permissions", () => {
  let srv: TestServer;
  const conns: RawConn[] = [];
  const open = async (user: string): Promise<RawConn> => {
    const c = await login(srv.port, user);
    conns.push(c);
    return c;
  };
  before(async () => {
    srv = await startTestServer({ users });
  });
  after(async () => {
    for (const c of conns) c.socket.destroy();
    await srv.close();
  });

  it("refuses forbidden SUB and PUB with -ERR and keeps the connection", async () => {
    const c = await open("a");
    c.send("SUB bar 1\r\nSUB foo.x 2\r\nPUB bar 2\r\nno\r\nPUB foo.x 2\r\nok\r\nPING\r\n");
    const out = await c.waitFor("PONG\r\n");
    assert.equal(
      out,
      `-ERR 'Permissions Violation for Subscription to "bar"'\r\n` +
        `-ERR 'Permissions Violation for Publish to "bar"'\r\n` +
        "MSG foo.x 2 2\r\nok\r\nPONG\r\n",
    );
    assert.equal(c.closed, false);
  });

  it("grants a queue group named in a subscribe entry, and only that group", async () => {
    const c = await open("a");
    c.send("SUB q 1\r\nSUB q B 2\r\nSUB q A 3\r\nPING\r\n");
    const out = await c.waitFor("PONG\r\n");
    assert.equal(
      out,
      `-ERR 'Permissions Violation for Subscription to "q"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "q" using queue "B"'\r\nPONG\r\n`,
    );
  });

  it("does not deliver denied subjects through a wildcard subscription", async () => {
    const d = await open("d");
    const pub = await open("free");
    d.send("SUB foo.* 1\r\nPING\r\n");
    await d.waitFor("PONG\r\n");
    d.take();
    pub.send("PUB foo.secret 1\r\ns\r\nPUB foo.open 1\r\no\r\nPING\r\n");
    await pub.waitFor("PONG\r\n");
    d.send("PING\r\n");
    assert.equal(await d.waitFor("PONG\r\n"), "MSG foo.open 1 1\r\no\r\nPONG\r\n");
  });

  it("allow_responses: one reply to each received request, nothing else", async () => {
    const r = await open("r");
    const req = await open("free");
    r.send("SUB svc 1\r\nPING\r\n");
    await r.waitFor("PONG\r\n");
    r.take();
    req.send("SUB inbox.1 9\r\nPUB svc inbox.1 1\r\n?\r\nPING\r\n");
    await r.waitFor("MSG svc 1 inbox.1 1\r\n?\r\n");
    r.take();
    r.send("PUB inbox.1 3\r\nyes\r\nPUB inbox.1 5\r\nagain\r\nPUB other 1\r\nx\r\nPING\r\n");
    const out = await r.waitFor("PONG\r\n");
    assert.equal(
      out,
      `-ERR 'Permissions Violation for Publish to "inbox.1"'\r\n` +
        `-ERR 'Permissions Violation for Publish to "other"'\r\nPONG\r\n`,
    );
    req.send("PING\r\n");
    const got = await req.waitFor(/PONG\r\n$/);
    assert.equal(got.match(/MSG inbox\.1 9/g)?.length, 1);
  });

  it("a reload that revokes a subscription drops it with -ERR", async () => {
    const c = await open("free");
    c.send("SUB news.today 1\r\nSUB keep 2\r\nPING\r\n");
    await c.waitFor("PONG\r\n");
    c.take();
    const next = users.map((u) => (u.user === "free" ? { ...u, permissions: { subscribe: { deny: "news.>" } } } : u));
    srv.server.reload({ ...srv.server.options, users: next });
    await c.waitFor(`-ERR 'Permissions Violation for Subscription to "news.today" (sid "1")'\r\n`);
    c.take();
    srv.server.reload({ ...srv.server.options, users });
    c.send("PING\r\n");
    assert.equal(await c.waitFor("PONG\r\n"), "PONG\r\n");
    assert.equal(c.closed, false);
  });
});
