// `no_auth_user` placing anonymous clients in an account, and `default_permissions` (account
// level and the authorization block's) for users without their own, over raw TCP and
// compared with nats-server 2.15.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startConfigServer } from "./helpers/config_server.js";
import { RawConn } from "./helpers/raw.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";

const CONF = `
authorization {
  default_permissions: { publish: "top.>", subscribe: ">" }
  users: [{user: t, password: t}]
}
accounts {
  A: {
    users: [
      {user: a, password: a}
      {user: own, password: own, permissions: {publish: "own.>"}}
    ]
    default_permissions: { publish: "acc.>", subscribe: ">" }
  }
}
no_auth_user: a
`;

/** What a client (with these credentials, or none) may publish: each subject's outcome. */
async function publishes(port: number, creds: string): Promise<string> {
  const c = await RawConn.connect(port);
  c.send(`CONNECT {"verbose":false,"pedantic":false${creds}}\r\nSUB > 1\r\n`);
  c.send("PUB acc.x 1\r\n1\r\nPUB top.x 1\r\n2\r\nPUB own.x 1\r\n3\r\nPUB other 1\r\n4\r\nPING\r\n");
  const out = await c.waitFor((t) => t.includes("PONG\r\n") || c.closed);
  c.socket.destroy();
  return out.replace(/^INFO .*\r\n/m, "");
}

async function scenario(port: number): Promise<Record<string, string>> {
  return {
    anonymous: await publishes(port, ""),
    accountDefault: await publishes(port, ',"user":"a","pass":"a"'),
    own: await publishes(port, ',"user":"own","pass":"own"'),
    globalDefault: await publishes(port, ',"user":"t","pass":"t"'),
  };
}

describe("no_auth_user and default_permissions", () => {
  it("puts anonymous clients in the no_auth_user's account and applies default permissions, as nats-server 2.15", async () => {
    const srv = await startConfigServer(CONF);
    let ours: Record<string, string>;
    try {
      ours = await scenario(srv.port);
    } finally {
      await srv.close();
    }
    const deny = (s: string): string => `-ERR 'Permissions Violation for Publish to "${s}"'\r\n`;
    assert.deepEqual(ours, {
      anonymous: `MSG acc.x 1 1\r\n1\r\n${deny("top.x")}${deny("own.x")}${deny("other")}PONG\r\n`,
      accountDefault: `MSG acc.x 1 1\r\n1\r\n${deny("top.x")}${deny("own.x")}${deny("other")}PONG\r\n`,
      own: `${deny("acc.x")}${deny("top.x")}MSG own.x 1 1\r\n3\r\n${deny("other")}PONG\r\n`,
      globalDefault: `${deny("acc.x")}MSG top.x 1 1\r\n2\r\n${deny("own.x")}${deny("other")}PONG\r\n`,
    });
    if (referenceBinary("2.15") !== undefined) {
      const ns = await startNatsServer([], CONF, "2.15");
      try {
        assert.deepEqual(ours, await scenario(ns.port));
      } finally {
        await ns.stop();
      }
    }
  });
});
