// Operator (JWT) mode with the memory resolver: users log in with .creds through nats.js v3,
// nats v2 and the C client; the operator → account → user chain, signing keys, scoped
// templates, JWT permissions, user and account limits and expiry, compared with nats-server
// 2.15 where a client sees the difference.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createAccount, createOperator, createUser } from "@nats-io/nkeys";
import { Algorithms, encodeAccount, encodeOperator, encodeUser, newScopedSigner } from "@nats-io/jwt";
import { connect, credsAuthenticator, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { connect as connectV2, credsAuthenticator as credsAuthenticatorV2 } from "nats";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { loadConfigFile } from "../src/config/load.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { cClient, missingCToolchain, okSteps } from "./helpers/c_client.js";
import {
  epoch,
  jwtLogin,
  memoryResolverConfig,
  newAccount,
  newOperator,
  newUser,
  rawLogin,
  signNonce,
  startFromConfigText,
  type AccountFixture,
  type OperatorFixture,
  type UserFixture,
} from "./helpers/jwt.js";

const ref215 = referenceBinary("2.15");
const skipRef = ref215 === undefined ? "nats-server 2.15 not available" : false;

/** Run `scenario` against tsnats and nats-server 2.15 started with the same config. */
async function onBoth<T>(config: string, scenario: (port: number, which: "tsnats" | "nats-server") => Promise<T>): Promise<{ ts: T; ref: T }> {
  const srv = await startFromConfigText(config);
  let ref: ReferenceServer | undefined;
  try {
    const ts = await scenario(srv.port, "tsnats");
    ref = await startNatsServer([], config, "2.15");
    const r = await scenario(ref.port, "nats-server");
    return { ts, ref: r };
  } finally {
    await srv.close();
    await ref?.stop();
  }
}

async function roundTrip(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject, { max: 1 });
  const got = (async () => {
    for await (const m of sub) return m.string();
    return "";
  })();
  await nc.flush();
  nc.publish(subject, `hello ${subject}`);
  return got;
}

describe("operator mode: logging in with .creds (memory resolver)", () => {
  let op: OperatorFixture;
  let accA: AccountFixture;
  let accB: AccountFixture;
  let alice: UserFixture;
  let bob: UserFixture;
  let srv: TestServer;
  const open: NatsConnection[] = [];

  before(async () => {
    op = await newOperator();
    accA = await newAccount(op, "A");
    accB = await newAccount(op, "B");
    alice = await newUser(accA, "alice");
    bob = await newUser(accB, "bob");
    srv = await startFromConfigText(memoryResolverConfig(op, [accA, accB]));
  });

  after(async () => {
    for (const nc of open) await nc.close();
    await srv.close();
  });

  it("nats.js credsAuthenticator logs in to the account of the JWT", async () => {
    const nc = await connect({ servers: srv.url, authenticator: credsAuthenticator(alice.creds) });
    open.push(nc);
    assert.equal(await roundTrip(nc, "a.hello"), "hello a.hello");
    const c = [...srv.server.clients.values()].find((x) => x.authorizedUser === alice.pub);
    assert.ok(c, "the client is known by its user key");
    assert.equal(c.account.name, accA.pub);
  });

  it("nats.js jwtAuthenticator (JWT + seed) logs in too", async () => {
    const nc = await connect({ servers: srv.url, authenticator: jwtAuthenticator(alice.jwt, alice.seed) });
    open.push(nc);
    assert.equal(await roundTrip(nc, "a.jwt"), "hello a.jwt");
  });

  it("nats v2 logs in with the same .creds", async () => {
    const nc = await connectV2({ servers: srv.url, authenticator: credsAuthenticatorV2(alice.creds) });
    try {
      const sub = nc.subscribe("v2.x", { max: 1 });
      await nc.flush();
      nc.publish("v2.x", new TextEncoder().encode("v2"));
      for await (const m of sub) assert.equal(new TextDecoder().decode(m.data), "v2");
    } finally {
      await nc.close();
    }
  });

  it("accounts are separate subject spaces", async () => {
    const a = await connect({ servers: srv.url, authenticator: credsAuthenticator(alice.creds) });
    const b = await connect({ servers: srv.url, authenticator: credsAuthenticator(bob.creds) });
    open.push(a, b);
    let leaked = 0;
    b.subscribe("shared.subject", {
      callback: () => {
        leaked++;
      },
    });
    await b.flush();
    assert.equal(await roundTrip(a, "shared.subject"), "hello shared.subject");
    await b.flush();
    assert.equal(leaked, 0, "a message of account A reached account B");
    assert.equal(await roundTrip(b, "shared.subject"), "hello shared.subject");
  });

  it("the C client logs in with a .creds file", { skip: missingCToolchain() }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-creds-"));
    const client = cClient("creds.c");
    try {
      const file = path.join(dir, "user.creds");
      fs.writeFileSync(file, alice.creds);
      const cc = await client.compile();
      assert.equal(cc.code, 0, `compile failed:\n${cc.out}`);
      const r = await client.run(srv.url, { NATS_TEST_CREDS: file });
      assert.equal(r.code, 0, `C client failed:\n${r.out}`);
      assert.deepEqual(okSteps(r.out), ["connect", "pubsub", "done"]);
    } finally {
      client.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("INFO always carries a nonce (and an xkey) in operator mode, like nats-server 2.15", { skip: skipRef }, async () => {
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [accA]), async (port) => {
      const l = await rawLogin(port, () => ({}));
      l.conn.close();
      return l.conn.info;
    });
    for (const info of [ts, ref]) {
      assert.match(String(info.nonce), /^[A-Za-z0-9_-]{15}$/);
      assert.equal(info.auth_required, true);
      assert.match(String(info.xkey), /^X[A-Z2-7]{55}$/);
    }
  });

  it("the system account is an account JWT too: its users reach $SYS services", async () => {
    const sysUser = await newUser(op.sys, "sys");
    const nc = await connect({ servers: srv.url, authenticator: credsAuthenticator(sysUser.creds) });
    open.push(nc);
    const r = await nc.request(`$SYS.REQ.SERVER.${srv.server.id}.IDZ`, "", { timeout: 2000 });
    assert.equal((r.json() as { id: string }).id, srv.server.id); // IDZ answers bare, as nats-server
  });
});

describe("operator mode: signing keys and scoped templates", () => {
  let op: OperatorFixture;
  let acc: AccountFixture;
  let plainSigner: ReturnType<typeof createAccount>;
  let scopedSigner: ReturnType<typeof createAccount>;
  let srv: TestServer;

  before(async () => {
    op = await newOperator({ signingKey: true });
    plainSigner = createAccount();
    scopedSigner = createAccount();
    const scope = newScopedSigner(scopedSigner, "writers", {
      pub: { allow: ["out.{{name()}}.>", "user.{{subject()}}", "acct.{{account-name()}}", "team.{{tag(team)}}"], deny: [] },
      sub: { allow: ["in.{{name()}}", "_INBOX.>"], deny: [] },
    });
    acc = await newAccount(op, "ACC", { signing_keys: [plainSigner.getPublicKey(), scope] });
    srv = await startFromConfigText(memoryResolverConfig(op, [acc]));
  });

  after(async () => {
    await srv.close();
  });

  it("a user signed by a plain account signing key logs in", async () => {
    const u = await newUser(acc, "signed", {}, { signer: plainSigner });
    const l = await jwtLogin(srv.port, u);
    assert.ok(l.ok, l.out);
    l.conn.close();
  });

  it("a user signed by a key the account does not list is refused", async () => {
    const stranger = createAccount();
    const u = await newUser(acc, "stranger", {}, { signer: stranger });
    const l = await jwtLogin(srv.port, u);
    assert.equal(l.out, "-ERR 'Authorization Violation'\r\n");
    assert.ok(l.closed);
  });

  it("a scoped key's template expands name(), subject(), account-name() and tag()", async () => {
    const u = await newUser(acc, "carol", { tags: ["team:blue", "team:red"] }, { signer: scopedSigner, scoped: true });
    const l = await jwtLogin(srv.port, u);
    assert.ok(l.ok, l.out);
    const c = l.conn;
    c.take();
    for (const subject of ["out.carol.x", `user.${u.pub}`, "acct.ACC", "team.blue", "team.red"]) {
      c.send(`PUB ${subject} 1\r\nx\r\n`);
    }
    c.send("PUB out.dave.x 1\r\nx\r\nSUB in.carol 1\r\nSUB in.dave 2\r\n");
    const out = await c.ping();
    assert.equal(
      out,
      `-ERR 'Permissions Violation for Publish to "out.dave.x"'\r\n-ERR 'Permissions Violation for Subscription to "in.dave"'\r\nPONG\r\n`,
    );
    c.close();
  });

  it("a scoped user that carries its own permissions is refused", async () => {
    const u = await newUser(acc, "bad", { pub: { allow: [">"] } }, { signer: scopedSigner });
    const l = await jwtLogin(srv.port, u);
    assert.equal(l.out, "-ERR 'Authorization Violation'\r\n");
  });
});

describe("operator mode: JWT permissions and limits", () => {
  it("user permissions (pub/sub allow, deny, resp) are enforced, with nats-server 2.15's errors", { skip: skipRef }, async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A");
    const u = await newUser(acc, "u", {
      pub: { allow: ["ok.>"], deny: ["ok.secret"] },
      sub: { allow: ["in.>", "_INBOX.>"], deny: ["in.secret"] },
    });
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [acc]), async (port) => {
      const l = await jwtLogin(port, u);
      assert.ok(l.ok, l.out);
      l.conn.take();
      l.conn.send("PUB ok.a 1\r\nx\r\nPUB ok.secret 1\r\nx\r\nPUB other 1\r\nx\r\nSUB in.a 1\r\nSUB in.secret 2\r\nSUB nope 3\r\n");
      const out = await l.conn.ping();
      l.conn.close();
      return out;
    });
    assert.equal(ts, ref);
  });

  it("account default permissions apply to users without their own", async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A", { default_permissions: { pub: { allow: ["dflt.>"] }, sub: { allow: [] as string[], deny: [] as string[] } } });
    const u = await newUser(acc, "u");
    const srv = await startFromConfigText(memoryResolverConfig(op, [acc]));
    try {
      const l = await jwtLogin(srv.port, u);
      assert.ok(l.ok, l.out);
      l.conn.take();
      l.conn.send("PUB dflt.a 1\r\nx\r\nPUB other 1\r\nx\r\n");
      assert.equal(await l.conn.ping(), `-ERR 'Permissions Violation for Publish to "other"'\r\nPONG\r\n`);
      l.conn.close();
    } finally {
      await srv.close();
    }
  });

  it("user subs and payload limits, as nats-server 2.15 enforces them", { skip: skipRef }, async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A");
    const u = await newUser(acc, "u", { subs: 2, payload: 8 });
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [acc]), async (port) => {
      const l = await jwtLogin(port, u);
      assert.ok(l.ok, l.out);
      l.conn.take();
      l.conn.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB a 8\r\n12345678\r\n");
      const first = await l.conn.ping();
      l.conn.send("PUB a 9\r\n123456789\r\n");
      const second = await l.conn.waitClosed();
      return { first, second: second.slice(first.length) };
    });
    assert.equal(ts.first, ref.first);
    assert.equal(ts.second, ref.second);
  });

  it("account limits: connections, subscriptions and payload, as nats-server 2.15", { skip: skipRef }, async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A", { limits: { conn: 1, subs: 1, payload: 4 } });
    const u = await newUser(acc, "u");
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [acc]), async (port) => {
      const first = await jwtLogin(port, u);
      assert.ok(first.ok, first.out);
      first.conn.take();
      first.conn.send("SUB a 1\r\nSUB b 2\r\n");
      const subs = await first.conn.ping();
      const second = await jwtLogin(port, u);
      first.conn.send("PUB a 5\r\n12345\r\n");
      const payload = await first.conn.waitClosed();
      return { subs, second: second.out, secondClosed: second.closed, payload: payload.slice(subs.length) };
    });
    assert.deepEqual(ts, ref);
    assert.equal(ts.second, "-ERR 'maximum account active connections exceeded'\r\n");
  });

  it("a user is disconnected when its JWT expires", async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A");
    const u = await newUser(acc, "short", {}, { exp: epoch(5) });
    const srv = await startFromConfigText(memoryResolverConfig(op, [acc]));
    try {
      const l = await jwtLogin(srv.port, u);
      assert.ok(l.ok, l.out);
      const out = await l.conn.waitClosed(9000);
      assert.ok(out.endsWith("-ERR 'User Authentication Expired'\r\n"), out);
      await waitUntil(() => srv.server.closedClients.some((c) => c.reason === "Authentication Expired"));
    } finally {
      await srv.close();
    }
  });

  it("an account's connections are closed when the account JWT expires", async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A", {}, { exp: epoch(5) });
    const u = await newUser(acc, "u");
    const srv = await startFromConfigText(memoryResolverConfig(op, [acc]));
    try {
      const l = await jwtLogin(srv.port, u);
      assert.ok(l.ok, l.out);
      const out = await l.conn.waitClosed(9000);
      assert.ok(out.endsWith("-ERR 'Account Authentication Expired'\r\n"), out);
      const again = await jwtLogin(srv.port, u);
      assert.equal(again.out, "-ERR 'Authorization Violation'\r\n");
    } finally {
      await srv.close();
    }
  });

  it("a bearer token logs in without signing the nonce", async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A");
    const u = await newUser(acc, "bearer", { bearer_token: true });
    const srv = await startFromConfigText(memoryResolverConfig(op, [acc]));
    try {
      const l = await rawLogin(srv.port, () => ({ jwt: u.jwt }));
      assert.ok(l.ok, l.out);
      l.conn.close();
      const signed = await rawLogin(srv.port, (c) => ({ jwt: u.jwt, sig: signNonce(c, u) }));
      assert.ok(signed.ok, signed.out);
      signed.conn.close();
    } finally {
      await srv.close();
    }
  });
});

describe("operator mode: configuration reload", () => {
  it("a reload with new preloaded JWTs keeps allowed users and applies revocations and limits", async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A");
    const keep = await newUser(acc, "keep");
    const drop = await newUser(acc, "drop");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-jwt-reload-"));
    const file = path.join(dir, "server.conf");
    fs.writeFileSync(file, memoryResolverConfig(op, [acc]));
    const srv = await startTestServer({ ...loadConfigFile(file), host: "127.0.0.1", port: -1, configFile: file });
    try {
      const k = await connect({ servers: srv.url, authenticator: credsAuthenticator(keep.creds) });
      const d = await jwtLogin(srv.port, drop);
      assert.ok(d.ok, d.out);
      const revokedAcc = await newAccount(op, "A", { revocations: { [drop.pub]: epoch(10) }, limits: { subs: 5 } }, {}, acc.kp);
      fs.writeFileSync(file, memoryResolverConfig(op, [revokedAcc]));
      srv.server.reloadConfig();
      const out = await d.conn.waitClosed();
      assert.ok(out.endsWith("-ERR 'User Authentication Revoked'\r\n"), out);
      assert.equal(await roundTrip(k, "still.here"), "hello still.here");
      assert.equal(srv.server.accounts.get(acc.pub)?.limits.maxSubscriptions, 5);
      // Reloading the same configuration again drops nobody.
      srv.server.reloadConfig();
      assert.equal(await roundTrip(k, "still.here"), "hello still.here");
      await k.close();
    } finally {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("operator mode: version 1 JWTs", () => {
  it("v1 operator, account and user JWTs log in (absent user limits mean none), as nats-server 2.15", { skip: skipRef }, async () => {
    const v1 = { algorithm: Algorithms.v1 };
    const opKp = createOperator();
    const sysKp = createAccount();
    const accKp = createAccount();
    const userKp = createUser();
    const opJwt = await encodeOperator("OP1", opKp, {}, v1);
    const sysJwt = await encodeAccount("SYS1", sysKp, { limits: { conn: -1, subs: -1, payload: -1, data: -1, imports: -1, exports: -1, wildcards: true } }, { ...v1, signer: opKp });
    const accJwt = await encodeAccount("A1", accKp, { limits: { conn: -1, subs: -1, payload: -1, data: -1, imports: -1, exports: -1, wildcards: true } }, { ...v1, signer: opKp });
    const userJwt = await encodeUser("u1", userKp, accKp, { pub: {}, sub: {} }, { ...v1, scopedUser: true });
    const config = `operator: ${opJwt}\nsystem_account: ${sysKp.getPublicKey()}\nresolver: MEMORY\nresolver_preload { ${sysKp.getPublicKey()}: ${sysJwt}\n ${accKp.getPublicKey()}: ${accJwt} }\n`;
    const u = { kp: userKp, jwt: userJwt };
    const { ts, ref } = await onBoth(config, async (port) => {
      const l = await rawLogin(port, (c) => ({ jwt: u.jwt, sig: signNonce(c, u) }));
      l.conn.take();
      l.conn.send("SUB a 1\r\nSUB b 2\r\nPUB a 2\r\nhi\r\n");
      const out = l.ok ? await l.conn.ping() : l.out;
      l.conn.close();
      return out;
    });
    assert.equal(ts, ref);
    assert.equal(ts, "MSG a 1 2\r\nhi\r\nPONG\r\n");
  });
});

describe("operator mode: $SYS.REQ.USER.INFO", () => {
  it("names the user and account, their JWT names, effective permissions and the time left, as nats-server 2.15", { skip: skipRef }, async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "ACCNAME", { default_permissions: { pub: { allow: ["d.>", "$SYS.REQ.USER.INFO"] } } });
    const alice = await newUser(
      acc,
      "alice",
      { pub: { allow: ["a.>", "_INBOX.>", "$SYS.REQ.USER.INFO"], deny: ["a.x"] }, sub: { allow: ["b.>", "_INBOX.>"] }, resp: { max: 3, ttl: 5_000_000_000 } },
      { exp: epoch(100) },
    );
    const bob = await newUser(acc, "bob");
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [acc]), async (port) => {
      const out: unknown[] = [];
      for (const u of [alice, bob]) {
        const nc = await connect({ port, authenticator: credsAuthenticator(u.creds) });
        const r = (await nc.request("$SYS.REQ.USER.INFO", "", { timeout: 2000 })).json<Record<string, unknown>>();
        const data = r.data as Record<string, unknown>;
        // nats-server lists permissions in its sublist's order: compare them sorted.
        const perms = data.permissions as Record<string, Record<string, string[] | undefined>> | undefined;
        for (const side of ["publish", "subscribe"]) for (const k of ["allow", "deny"]) perms?.[side]?.[k]?.sort();
        // The seconds left tick between the two servers' runs: compared apart, roughly.
        out.push({ ...data, expires: typeof data.expires === "number" ? "set" : "unset" }, data.expires);
        await nc.close();
      }
      return out;
    });
    assert.deepEqual([ts[0], ts[2]], [ref[0], ref[2]]);
    assert.equal(ts[3], undefined);
    const [mine, theirs] = [ts[1] as number, ref[1] as number];
    assert.ok(mine > 80e9 && mine <= 100e9 && Math.abs(mine - theirs) <= 15e9, `expires ${mine} vs ${theirs}`);
  });
});

