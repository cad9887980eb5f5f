// Account `limits {}` in config mode: connections, subscriptions and payload per account,
// over raw TCP, with what nats-server 2.15 answers on the same configuration.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startConfigServer } from "./helpers/config_server.js";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { RawConn, withoutServerPings } from "./helpers/raw.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const CONF = `
accounts {
  L: {
    users: [{user: l, password: l}, {user: l2, password: l2}]
    limits: { max_connections: 1, max_subscriptions: 2, max_payload: 8 }
  }
  F: { users: [{user: f, password: f}] }
}
`;

async function login(port: number, user: string): Promise<RawConn> {
  const c = await RawConn.connect(port);
  c.send(`CONNECT {"verbose":false,"pedantic":false,"user":"${user}","pass":"${user}","protocol":1}\r\nPING\r\n`);
  await c.waitFor((t) => t.includes("PONG\r\n") || t.includes("-ERR"));
  return c;
}

/**
 * What the server sent, without what it sends on its own: PINGs (its first ~2 s after CONNECT,
 * which a loaded machine can reach mid-scenario) and nats-server 2.15's INFO after CONNECT
 * naming the account (connect_info), which may come after the PONG that ends the login.
 */
function answered(text: string): string {
  return withoutServerPings(text).replace(/^INFO .*\r\n/gm, "");
}

/** What a client sees on one server: the refused connection, the subscription and payload limits. */
async function scenario(port: number): Promise<Record<string, string | boolean>> {
  const out: Record<string, string | boolean> = {};
  const first = await login(port, "l");
  await first.waitFor("PONG\r\n");
  first.take();
  const second = await login(port, "l2");
  await second.waitClosed(30_000);
  out.secondConnection = answered(second.text());
  out.secondClosed = second.closed;
  // Another account is not affected.
  const other = await login(port, "f");
  out.otherAccount = answered(other.take());
  first.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
  out.subscriptions = answered(await first.waitFor("PONG\r\n"));
  first.take();
  first.send("PUB a 8\r\n12345678\r\nPING\r\n");
  out.payloadAtLimit = answered(await first.waitFor("PONG\r\n"));
  first.take();
  first.send("PUB a 9\r\n123456789\r\n");
  await first.waitClosed(30_000);
  out.payloadOver = answered(first.text());
  for (const c of [first, other]) c.socket.destroy();
  return out;
}

describe("account limits", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startConfigServer(CONF);
  });
  after(async () => {
    await srv.close();
  });

  it("refuses connections, subscriptions and payloads beyond the account's limits", async () => {
    const got = await scenario(srv.port);
    assert.deepEqual(got, {
      secondConnection: "-ERR 'maximum account active connections exceeded'\r\n",
      secondClosed: true,
      otherAccount: "PONG\r\n",
      subscriptions: "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n",
      payloadAtLimit: "MSG a 1 8\r\n12345678\r\nPONG\r\n",
      payloadOver: "-ERR 'Maximum Payload Violation'\r\n",
    });
  });

  it("behaves as nats-server 2.15", async (t) => {
    if (referenceBinary("2.15") === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    let ns: ReferenceServer | undefined;
    try {
      ns = await startNatsServer([], CONF, "2.15");
      // The first test's connections must be gone: L allows one at a time.
      await waitUntil(() => srv.server.accounts.get("L")?.clients.size === 0, 30_000, "L's connections closed");
      assert.deepEqual(await scenario(srv.port), await scenario(ns.port));
    } finally {
      await ns?.stop();
    }
  });
});
