// Connection set-up: the INFO each client gets (the server's part serialized once and reused
// while it is the same) and auth_timeout kept in the server's one deadline queue with the PING
// checks (no timer per connection).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, waitUntil } from "./helpers/server.js";
import { CONNECT_INFO, RawConn, withoutConnectInfo } from "./helpers/raw.js";

function connectLine(fields: Record<string, unknown> = {}): string {
  return `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, protocol: 1, ...fields })}\r\n`;
}

describe("connection set-up", () => {
  it("each connection's INFO: the same server fields, its own client_id and client_ip; a reload or lame duck shows in the next INFO", async () => {
    const srv = await startTestServer();
    try {
      const a = await RawConn.connect(srv.port);
      const b = await RawConn.connect(srv.port);
      assert.match(a.infoLine, /^INFO \{.*\} \r\n$/);
      assert.notEqual(a.info.client_id, b.info.client_id);
      assert.equal(a.info.client_ip, "127.0.0.1");
      const { client_id: _a, ...restA } = a.info;
      const { client_id: _b, ...restB } = b.info;
      assert.deepEqual(restA, restB);
      assert.equal(a.info.max_payload, 1024 * 1024);
      assert.equal(a.info.server_id, srv.server.id);
      assert.equal(a.info.auth_required, undefined);
      // What the server states changes: the next connection sees it.
      srv.server.reload({ ...srv.server.options, maxPayload: 4096 });
      const c = await RawConn.connect(srv.port);
      assert.equal(c.info.max_payload, 4096);
      assert.equal(typeof c.info.client_id, "number");
      // A PUB over the new limit is refused, as the INFO says.
      c.send(`${connectLine()}PUB x 5000\r\n`);
      assert.match(await c.waitClosed(10_000), /-ERR 'Maximum Payload Violation'/);
      srv.server.connectUrls = ["nats://127.0.0.1:1", "nats://127.0.0.1:2"];
      const d = await RawConn.connect(srv.port);
      assert.deepEqual(d.info.connect_urls, ["nats://127.0.0.1:1", "nats://127.0.0.1:2"]);
      srv.server.connectUrls = ["nats://127.0.0.1:1", "nats://127.0.0.1:3"];
      const e = await RawConn.connect(srv.port);
      assert.deepEqual(e.info.connect_urls, ["nats://127.0.0.1:1", "nats://127.0.0.1:3"]);
      for (const x of [a, b, d, e]) x.close();
    } finally {
      await srv.close();
    }
  });

  it("nonce and auth_required are per connection when users need them", async () => {
    const srv = await startTestServer({ users: [{ nkey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4" }] });
    try {
      const a = await RawConn.connect(srv.port);
      const b = await RawConn.connect(srv.port);
      assert.equal(a.info.auth_required, true);
      assert.equal(typeof a.info.nonce, "string");
      assert.notEqual(a.info.nonce, b.info.nonce);
      a.close();
      b.close();
    } finally {
      await srv.close();
    }
  });

  it("auth_timeout of many connections at once: each silent one is told and closed, those that sent CONNECT in time stay and are pinged", async () => {
    const TIMEOUT = 600;
    const srv = await startTestServer({ username: "a", password: "b", authTimeoutMs: TIMEOUT, pingIntervalMs: 1500 });
    try {
      const silent = await Promise.all(Array.from({ length: 20 }, () => RawConn.connect(srv.port)));
      const authed = await Promise.all(Array.from({ length: 5 }, () => RawConn.connect(srv.port)));
      // They answer every PING of the server and count them.
      const pings = authed.map(() => 0);
      authed.forEach((c, i) =>
        c.socket.on("data", (d: Buffer) => {
          const n = (d.toString().match(/PING\r\n/g) ?? []).length;
          for (let k = 0; k < n; k++) c.send("PONG\r\n");
          pings[i] += n;
        }),
      );
      for (const c of authed) c.send(`${connectLine({ user: "a", pass: "b" })}PING\r\n`);
      // PONG, then the INFO naming the account (connect_info) of a protocol 1 client.
      for (const c of authed) assert.equal(withoutConnectInfo(await c.waitFor(CONNECT_INFO, 10_000)), "PONG\r\n");
      for (const c of silent) assert.equal(await c.waitClosed(30_000), "-ERR 'Authentication Timeout'\r\n");
      const reasons = srv.server.closedClients.map((cc) => cc.reason);
      assert.equal(reasons.filter((r) => r === "Authentication Timeout").length, 20);
      // The authenticated ones outlive the timeout and get the server's PINGs (their one queue entry moved on).
      await waitUntil(() => pings.every((n) => n >= 2), 30_000, "two PINGs to each authenticated client");
      assert.ok(authed.every((c) => !c.closed));
      assert.equal(srv.server.clients.size, 5);
      assert.equal(srv.server.pings.size, 5, "one deadline entry per live client, none left by the closed ones");
      for (const c of authed) c.close();
      await waitUntil(() => srv.server.clients.size === 0, 10_000, "clients gone");
      assert.equal(srv.server.pings.size, 0);
    } finally {
      await srv.close();
    }
  });

  it("a CONNECT with bad credentials before auth_timeout is refused at once, not timed out", async () => {
    const srv = await startTestServer({ username: "a", password: "b", authTimeoutMs: 60_000 });
    try {
      const c = await RawConn.connect(srv.port);
      c.send(connectLine({ user: "a", pass: "wrong" }));
      assert.equal(await c.waitClosed(10_000), "-ERR 'Authorization Violation'\r\n");
      await waitUntil(() => srv.server.closedClients.length === 1, 5000, "closed");
      assert.equal(srv.server.closedClients[0]?.reason, "Authentication Failure");
      assert.equal(srv.server.pings.size, 0);
    } finally {
      await srv.close();
    }
  });
});
