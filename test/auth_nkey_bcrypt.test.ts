// NKey users (a signature over the INFO nonce) and bcrypt-hashed passwords and tokens, driven
// with the nats.js v3 client and raw TCP; the INFO nonce is compared with nats-server 2.9.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import { connect, nkeyAuthenticator, tokenAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { loadConfigFile } from "../src/config/load.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawConn, connectLine, withoutServerPings } from "./helpers/raw.js";
import { natsServerBinary, startNatsServer } from "./helpers/nats_server.js";

interface NkeyUser {
  kp: KeyPair;
  seed: Uint8Array;
  pub: string;
}

function newUser(): NkeyUser {
  const kp = createUser();
  return { kp, seed: kp.getSeed(), pub: kp.getPublicKey() };
}

/** Sign the nonce of `c`'s INFO as `u`, the signature encoded as asked. */
function signNonce(c: RawConn, u: NkeyUser, encoding: "base64url" | "base64" | "base64-unpadded"): string {
  const nonce = c.info.nonce;
  assert.equal(typeof nonce, "string");
  const sig = Buffer.from(u.kp.sign(Buffer.from(nonce as string)));
  if (encoding === "base64-unpadded") return sig.toString("base64").replace(/=+$/, "");
  return sig.toString(encoding);
}

/** Raw login; resolves with the connection and whether the server answered PONG (vs an error). */
async function rawLogin(port: number, fields: (c: RawConn) => Record<string, unknown>): Promise<{ c: RawConn; ok: boolean; out: string }> {
  const c = await RawConn.connect(port);
  c.send(`${connectLine(fields(c))}PING\r\n`);
  const out = await c.waitFor((t) => t.includes("PONG\r\n") || t.includes("-ERR"), 5000);
  return { c, ok: out.includes("PONG\r\n"), out };
}

/** A tsnats server from config text (the same text nats-server is given). */
async function startFromConfig(text: string): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-auth-conf-"));
  try {
    const file = path.join(dir, "server.conf");
    fs.writeFileSync(file, text);
    const { jetstream: _js, ...opts } = loadConfigFile(file);
    return await startTestServer({ ...opts, host: "127.0.0.1", port: -1 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Close every connection a suite opened, raw or client. */
async function closeAll(open: (NatsConnection | RawConn)[]): Promise<void> {
  for (const c of open) {
    if (c instanceof RawConn) c.socket.destroy();
    else await c.close();
  }
}

const NONCE_SHAPE = /^[A-Za-z0-9_-]{15}$/;

describe("nkey users", () => {
  const alice = newUser(); // authorization block, restricted publish
  const bob = newUser(); // account A
  const carol = newUser(); // account A
  const stranger = newUser(); // configured nowhere
  let srv: TestServer;
  const open: (NatsConnection | RawConn)[] = [];

  before(async () => {
    srv = await startTestServer({
      users: [
        { nkey: alice.pub, permissions: { publish: { allow: ["alice.>", "_INBOX.>"] } } },
        { user: "plain", password: "pw" },
      ],
      accounts: [{ name: "A", users: [{ nkey: bob.pub }, { nkey: carol.pub }] }],
    });
  });
  after(async () => {
    await closeAll(open);
    await srv.close();
  });

  it("logs an nkey user in with nkeyAuthenticator and refuses a wrong seed", async () => {
    const nc = await connect({ port: srv.port, authenticator: nkeyAuthenticator(alice.seed) });
    open.push(nc);
    const sub = nc.subscribe("alice.x", { max: 1 });
    nc.publish("alice.x", "hi");
    for await (const m of sub) assert.equal(m.string(), "hi");
    await assert.rejects(connect({ port: srv.port, authenticator: nkeyAuthenticator(stranger.seed), reconnect: false }));
    // A plain user beside the nkey users still logs in.
    const plain = await connect({ port: srv.port, user: "plain", pass: "pw" });
    open.push(plain);
    await plain.flush();
  });

  it("enforces the nkey user's permissions", async () => {
    const { c, ok } = await rawLogin(srv.port, (c) => ({ nkey: alice.pub, sig: signNonce(c, alice, "base64url") }));
    open.push(c);
    assert.ok(ok);
    c.take();
    c.send("PUB bob.x 1\r\nx\r\nPING\r\n");
    const out = await c.waitFor("PONG\r\n");
    assert.equal(out, `-ERR 'Permissions Violation for Publish to "bob.x"'\r\nPONG\r\n`);
  });

  it("accepts unpadded base64url and padded standard base64 signatures, as nats-server does", async () => {
    for (const enc of ["base64url", "base64"] as const) {
      const { c, ok, out } = await rawLogin(srv.port, (c) => ({ nkey: alice.pub, sig: signNonce(c, alice, enc) }));
      c.close();
      assert.ok(ok, `${enc}: ${out}`);
    }
    // Unpadded standard base64 is refused, but only observable when the signature holds a
    // '+' or '/' (otherwise it is valid base64url too): retry until one does.
    for (let attempt = 0; attempt < 20; attempt++) {
      let sig = "";
      const { c, ok, out } = await rawLogin(srv.port, (c) => {
        sig = signNonce(c, alice, "base64-unpadded");
        return { nkey: alice.pub, sig };
      });
      c.close();
      if (!/[+/]/.test(sig)) continue;
      assert.equal(ok, false);
      assert.match(out, /-ERR 'Authorization Violation'/);
      return;
    }
    assert.fail("no signature with '+' or '/' in 20 attempts");
  });

  it("refuses a missing signature, a signature by another key and a signature of another nonce", async () => {
    const cases: ((c: RawConn) => Record<string, unknown>)[] = [
      () => ({ nkey: alice.pub }),
      (c) => ({ nkey: alice.pub, sig: signNonce(c, bob, "base64url") }),
      () => ({ nkey: alice.pub, sig: Buffer.from(alice.kp.sign(Buffer.from("not-the-nonce"))).toString("base64url") }),
      () => ({ nkey: alice.pub, sig: "!!not base64!!" }),
      (c) => ({ nkey: stranger.pub, sig: signNonce(c, stranger, "base64url") }),
    ];
    for (const [i, fields] of cases.entries()) {
      const { c, ok, out } = await rawLogin(srv.port, fields);
      await c.waitFor(() => c.closed, 5000);
      assert.equal(ok, false, `case ${i}`);
      assert.match(out, /^-ERR 'Authorization Violation'\r\n/, `case ${i}`);
    }
  });

  it("puts an account's nkey users in that account, isolated from the others", async () => {
    const b = await connect({ port: srv.port, authenticator: nkeyAuthenticator(bob.seed) });
    const c = await connect({ port: srv.port, authenticator: nkeyAuthenticator(carol.seed) });
    const a = await connect({ port: srv.port, authenticator: nkeyAuthenticator(alice.seed) });
    open.push(b, c, a);
    const accountA = srv.server.accounts.get("A");
    assert.ok(accountA);
    const inA = [...accountA.clients].filter((cl) => cl.authorizedUser === bob.pub || cl.authorizedUser === carol.pub);
    assert.equal(inA.length, 2);
    const seenByAlice: string[] = [];
    const aliceSub = a.subscribe("alice.shared");
    void (async () => {
      for await (const m of aliceSub) seenByAlice.push(m.string());
    })();
    const carolSub = c.subscribe("alice.shared", { max: 1 });
    await a.flush();
    await c.flush();
    b.publish("alice.shared", "from-A");
    for await (const m of carolSub) assert.equal(m.string(), "from-A");
    // A round trip through $G after the publish: had it leaked, alice would have it by now.
    await a.flush();
    assert.deepEqual(seenByAlice, []);
  });

  it("sends a fresh nonce in every INFO", async () => {
    const x = await RawConn.connect(srv.port);
    const y = await RawConn.connect(srv.port);
    x.close();
    y.close();
    assert.match(String(x.info.nonce), NONCE_SHAPE);
    assert.match(String(y.info.nonce), NONCE_SHAPE);
    assert.notEqual(x.info.nonce, y.info.nonce);
  });
});

describe("INFO nonce matches nats-server", () => {
  const u = newUser();
  const configs = {
    nkeys: `authorization { users: [ { nkey: ${u.pub} } ] }\n`,
    accountNkeys: `accounts { A: { users: [ { nkey: ${u.pub} } ] } }\n`,
    passwords: `authorization { users: [ { user: a, password: b } ] }\n`,
    open: `max_payload: 1048576\n`,
  };

  async function nonceOf(port: number): Promise<unknown> {
    const c = await RawConn.connect(port);
    c.close();
    return c.info.nonce;
  }

  for (const [name, text] of Object.entries(configs)) {
    it(`${name}: nonce only when nkey users exist`, async (t) => {
      const ours = await startFromConfig(text);
      let tsNonce: unknown;
      try {
        tsNonce = await nonceOf(ours.port);
      } finally {
        await ours.close();
      }
      const expectNonce = name === "nkeys" || name === "accountNkeys";
      if (expectNonce) assert.match(String(tsNonce), NONCE_SHAPE);
      else assert.equal(tsNonce, undefined);
      if (natsServerBinary() === undefined) {
        t.skip("nats-server not installed");
        return;
      }
      const ref = await startNatsServer([], text);
      try {
        const refNonce = await nonceOf(ref.port);
        assert.equal(typeof tsNonce, typeof refNonce);
        if (refNonce !== undefined) assert.equal(String(tsNonce).length, String(refNonce).length);
      } finally {
        await ref.stop();
      }
    });
  }

  it("an nkey user logs in to nats-server and tsnats alike with a raw signed CONNECT", async (t) => {
    if (natsServerBinary() === undefined) {
      t.skip("nats-server not installed");
      return;
    }
    const ours = await startFromConfig(configs.nkeys);
    const ref = await startNatsServer([], configs.nkeys);
    try {
      for (const port of [ours.port, ref.port]) {
        const good = await rawLogin(port, (c) => ({ nkey: u.pub, sig: signNonce(c, u, "base64url") }));
        good.c.close();
        assert.ok(good.ok, good.out);
        // Signed by another key: refused by both. (An unpadded standard-base64 signature is not a
        // reliable negative case: without '+' or '/' it is also valid base64url.)
        const other = newUser();
        const bad = await rawLogin(port, (c) => ({ nkey: u.pub, sig: signNonce(c, other, "base64url") }));
        bad.c.close();
        assert.equal(bad.ok, false);
      }
    } finally {
      await ours.close();
      await ref.stop();
    }
  });
});

describe("bcrypt-hashed secrets", () => {
  // Low cost factors keep the test quick; the server does not care which cost a hash has.
  const passHash = bcrypt.hashSync("s3cret", 6);
  const slowHash = bcrypt.hashSync("slow", 12);
  let users: TestServer;
  const open: (NatsConnection | RawConn)[] = [];

  before(async () => {
    users = await startTestServer({
      users: [
        { user: "hashed", password: passHash },
        { user: "yprefix", password: `$2y$${passHash.slice(4)}` },
        { user: "slow", password: slowHash },
        { user: "plain", password: "plain" },
      ],
      accounts: [{ name: "B", users: [{ user: "inb", password: bcrypt.hashSync("b-pass", 6) }] }],
    });
  });
  after(async () => {
    await closeAll(open);
    await users.close();
  });

  it("accepts the right password and refuses a wrong one (users list and accounts)", async () => {
    const nc = await connect({ port: users.port, user: "hashed", pass: "s3cret" });
    open.push(nc);
    await nc.flush();
    const y = await connect({ port: users.port, user: "yprefix", pass: "s3cret" });
    open.push(y);
    await y.flush();
    const b = await connect({ port: users.port, user: "inb", pass: "b-pass" });
    open.push(b);
    await b.flush();
    assert.ok([...(users.server.accounts.get("B")?.clients ?? [])].some((c) => c.authorizedUser === "inb"));
    await assert.rejects(connect({ port: users.port, user: "hashed", pass: "wrong", reconnect: false }));
    // The hash itself is not a password.
    await assert.rejects(connect({ port: users.port, user: "hashed", pass: passHash, reconnect: false }));
  });

  it("holds ops sent after CONNECT until the hash is checked, without stalling other clients", async () => {
    const watcher = await RawConn.connect(users.port);
    open.push(watcher);
    watcher.send(`${connectLine({ user: "plain", pass: "plain" })}SUB held.> 1\r\nPING\r\n`);
    await watcher.waitFor("PONG\r\n");
    watcher.take();

    const good = await RawConn.connect(users.port);
    open.push(good);
    good.send(`${connectLine({ user: "slow", pass: "slow" })}PUB held.good 2\r\nok\r\nPING\r\n`);
    const bad = await RawConn.connect(users.port);
    open.push(bad);
    bad.send(`${connectLine({ user: "slow", pass: "nope" })}PUB held.bad 2\r\nno\r\nPING\r\n`);
    // While both cost-12 checks run, an established client is served at once.
    watcher.send("PING\r\n");
    await watcher.waitFor("PONG\r\n");
    assert.equal(good.text(), "", "answered before its password was checked");

    // Both checks queue on one worker thread, so on a loaded machine they can outlast the
    // server's first PING (2 s after CONNECT): those PINGs are left out of the comparisons.
    assert.equal(withoutServerPings(await good.waitFor("PONG\r\n", 30_000)), "PONG\r\n");
    const badOut = withoutServerPings(await bad.waitFor((t) => t.includes("-ERR") || bad.closed, 30_000));
    assert.match(badOut, /^-ERR 'Authorization Violation'\r\n/);
    assert.doesNotMatch(badOut, /PONG/);
    watcher.send("PING\r\n");
    const seen = withoutServerPings(await watcher.waitFor((t) => withoutServerPings(t).endsWith("PONG\r\n") && t.includes("MSG held.good")));
    assert.equal(seen, "PONG\r\nMSG held.good 1 2\r\nok\r\nPONG\r\n");
  });

  it("accepts the right token and refuses a wrong one", async () => {
    const tokenHash = bcrypt.hashSync("tok-en", 6);
    for (const hash of [tokenHash, `$2a$${tokenHash.slice(4)}`, `$2x$${tokenHash.slice(4)}`]) {
      const srv = await startTestServer({ authorization: hash });
      try {
        const nc = await connect({ port: srv.port, authenticator: tokenAuthenticator("tok-en") });
        await nc.flush();
        await nc.close();
        await assert.rejects(connect({ port: srv.port, token: "tok-EN", reconnect: false }));
        await assert.rejects(connect({ port: srv.port, reconnect: false }));
      } finally {
        await srv.close();
      }
    }
  });

  it("a single hashed user/password works as in nats-server", async (t) => {
    const hash = bcrypt.hashSync("pw", 6);
    const text = `authorization { user: u, password: "${hash}" }\n`;
    const ours = await startFromConfig(text);
    const ports = [ours.port];
    const ref = natsServerBinary() !== undefined ? await startNatsServer([], text) : undefined;
    if (ref !== undefined) ports.push(ref.port);
    else t.diagnostic("nats-server not installed: tsnats only");
    try {
      for (const port of ports) {
        const good = await rawLogin(port, () => ({ user: "u", pass: "pw" }));
        good.c.close();
        assert.ok(good.ok, `${port}: ${good.out}`);
        const bad = await rawLogin(port, () => ({ user: "u", pass: "pW" }));
        bad.c.close();
        assert.equal(bad.ok, false);
        assert.match(bad.out, /-ERR 'Authorization Violation'/);
      }
    } finally {
      await ours.close();
      await ref?.stop();
    }
  });
});
