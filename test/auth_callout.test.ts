// Auth callout (ADR-26) with a service written here with @nats-io/jwt: config mode (plain and
// xkey-encrypted) and operator mode (account `authorization` claims), against tsnats and
// nats-server 2.15 side by side: placement, permissions, errors, timeouts, auth users.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createAccount, createCurve, type KeyPair } from "@nats-io/nkeys";
import { decode, encodeAuthorizationResponse, encodeUser, type AuthorizationRequest, type ClaimsData, type User } from "@nats-io/jwt";
import { connect, credsAuthenticator, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { epoch, memoryResolverConfig, newAccount, newOperator, newUser, rawLogin, startFromConfigText, type AccountFixture, type OperatorFixture } from "./helpers/jwt.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;
/** The auth timeout the callout servers are given (also how long a callout request is valid). */
const AUTH_TIMEOUT_S = 10;

interface Decision {
  /** The user JWT claims to grant, or an error to answer with. */
  grant?: Partial<User>;
  error?: string;
  /** Config mode: the account (name) to place the user in. */
  account?: string;
  exp?: number;
  /** Do not answer at all. */
  silent?: boolean;
}

/**
 * An auth callout service: answers `$SYS.REQ.USER.AUTH` with what `decide` says about the
 * decoded request, signing user JWTs with `userSigner` and responses with `responseSigner`;
 * with `xkey`, opens sealed requests and seals its answers.
 */
class CalloutService {
  readonly requests: ClaimsData<AuthorizationRequest>[] = [];

  static async start(
    nc: NatsConnection,
    o: { userSigner: KeyPair; responseSigner: KeyPair; issuerAccount?: string; xkey?: KeyPair; decide: (req: AuthorizationRequest) => Decision },
  ): Promise<CalloutService> {
    const svc = new CalloutService();
    nc.subscribe("$SYS.REQ.USER.AUTH", {
      callback: (_e, m) => {
        void svc.answer(m, o);
      },
    });
    await nc.flush();
    return svc;
  }

  private async answer(
    m: Msg,
    o: { userSigner: KeyPair; responseSigner: KeyPair; issuerAccount?: string; xkey?: KeyPair; decide: (req: AuthorizationRequest) => Decision },
  ): Promise<void> {
    let token = m.string();
    const serverXkey = m.headers?.get("Nats-Server-Xkey") ?? "";
    if (o.xkey !== undefined) token = new TextDecoder().decode(o.xkey.open(m.data, serverXkey) as Uint8Array);
    const claims = decode<AuthorizationRequest>(token);
    this.requests.push(claims);
    const req = claims.nats as AuthorizationRequest;
    const d = o.decide(req);
    if (d.silent) return;
    const user = req.user_nkey;
    const server = req.server_id.id;
    let data: { jwt?: string; error?: string };
    if (d.error !== undefined) data = { error: d.error };
    else {
      const opts = { aud: d.account, exp: d.exp, ...(o.issuerAccount !== undefined ? { signer: o.userSigner } : {}) };
      const issuer = o.issuerAccount !== undefined ? o.issuerAccount : o.userSigner;
      data = { jwt: await encodeUser("called-out", user, issuer, d.grant ?? {}, opts) };
    }
    const res = await encodeAuthorizationResponse(user, server, o.responseSigner, data, {});
    m.respond(o.xkey !== undefined ? o.xkey.seal(new TextEncoder().encode(res), serverXkey) : res);
  }
}

/** A raw login with user/password; what the server answered. */
async function tryLogin(port: number, user: string, pass: string): Promise<{ ok: boolean; out: string }> {
  const l = await rawLogin(port, () => ({ user, pass }));
  l.conn.close();
  return { ok: l.ok, out: l.out };
}

describe("auth callout in config mode, compared with nats-server 2.15", { skip }, () => {
  const issuer = createAccount();
  const xkey = createCurve();
  const config = (withXkey: boolean): string => `
accounts {
  AUTH { users: [ { user: auth, password: auth-pw } ] }
  APP {}
}
authorization {
  # The callout service answers from this test process, slow on a loaded machine: the auth
  # timeout (2 s by default) only matters to the silent service, which waits it out.
  timeout: ${AUTH_TIMEOUT_S}
  auth_callout {
    issuer: ${issuer.getPublicKey()}
    auth_users: [ auth ]
    account: AUTH
    ${withXkey ? `xkey: ${xkey.getPublicKey()}` : ""}
  }
}
`;
  const decide = (req: AuthorizationRequest): Decision => {
    const o = req.connect_opts;
    if (o.user === "silent") return { silent: true };
    if (o.user !== "alice" || o.pass !== "alice-pw") return { error: "bad password" };
    return { account: "APP", grant: { pub: { allow: ["app.>"] }, sub: { allow: ["app.>", "_INBOX.>"] } } };
  };

  for (const withXkey of [false, true]) {
    describe(withXkey ? "requests sealed for the service's xkey" : "plain requests", () => {
      let ts: TestServer;
      let ref: ReferenceServer;
      const services: { nc: NatsConnection; svc: CalloutService; port: number }[] = [];

      before(async () => {
        ts = await startFromConfigText(config(withXkey));
        ref = await startNatsServer([], config(withXkey), "2.15");
        for (const port of [ts.port, ref.port]) {
          const nc = await connect({ port, user: "auth", pass: "auth-pw" });
          const svc = await CalloutService.start(nc, { userSigner: issuer, responseSigner: issuer, xkey: withXkey ? xkey : undefined, decide });
          services.push({ nc, svc, port });
        }
      });

      after(async () => {
        for (const s of services) await s.nc.close();
        await ts?.close();
        await ref?.stop();
      });

      it("the service places a user in its account with its permissions", async () => {
        for (const port of [ts.port, ref.port]) {
          const nc = await connect({ port, user: "alice", pass: "alice-pw" });
          const sub = nc.subscribe("app.x", { max: 1 });
          await nc.flush();
          nc.publish("app.x", "hi");
          for await (const m of sub) assert.equal(m.string(), "hi");
          await nc.close();
        }
        const outs: string[] = [];
        for (const port of [ts.port, ref.port]) {
          const l = await rawLogin(port, () => ({ user: "alice", pass: "alice-pw" }));
          assert.ok(l.ok, l.out);
          l.conn.take();
          l.conn.send("PUB app.1 1\r\nx\r\nPUB other 1\r\nx\r\n");
          outs.push(await l.conn.ping());
          l.conn.close();
        }
        assert.equal(outs[0], outs[1]);
        assert.equal(outs[0], `-ERR 'Permissions Violation for Publish to "other"'\r\nPONG\r\n`);
        const c = [...ts.server.closedClients, ...[...ts.server.clients.values()].map((client) => ({ client }))].find((x) => x.client.authorizedUser === "called-out");
        assert.ok(c, "the user is known by the name the service gave");
        assert.equal(c.client.account.name, "APP");
      });

      it("a refusal, and a silent service, answer as nats-server does", async () => {
        const a = await tryLogin(ts.port, "alice", "wrong");
        const b = await tryLogin(ref.port, "alice", "wrong");
        assert.deepEqual(a, b);
        assert.equal(a.out, "-ERR 'Authorization Violation'\r\n");
        // Both wait out the auth timeout at once.
        const [sa, sb] = await Promise.all([tryLogin(ts.port, "silent", "x"), tryLogin(ref.port, "silent", "x")]);
        assert.equal(sa.ok, false);
        assert.equal(sb.ok, false);
        assert.equal(sa.out, sb.out);
      });

      it("the request carries the server, the one-time user key and the client's CONNECT", () => {
        const mine = services[0].svc.requests.find((r) => r.nats.connect_opts?.user === "alice");
        assert.ok(mine);
        const req = mine.nats as AuthorizationRequest;
        assert.equal(mine.aud, "nats-authorization-request");
        assert.equal(mine.iss, ts.server.id);
        assert.equal(mine.sub, issuer.getPublicKey());
        assert.equal(req.server_id.id, ts.server.id);
        assert.match(req.user_nkey, /^U[A-Z2-7]{55}$/);
        assert.equal(req.connect_opts.pass, "alice-pw");
        assert.equal(req.client_info.kind, "Client");
        assert.equal(req.client_info.type, "nats");
        if (withXkey) assert.equal(req.server_id.xkey, ts.server.xkey);
        // Valid for the auth timeout.
        const validFor = (mine.exp ?? 0) - mine.iat;
        assert.ok(validFor >= AUTH_TIMEOUT_S - 1 && validFor <= AUTH_TIMEOUT_S + 1, `request valid for ${validFor} s`);
      });

      it("auth users log in without the service", async () => {
        const before = services[0].svc.requests.length;
        const nc = await connect({ port: ts.port, user: "auth", pass: "auth-pw" });
        await nc.flush();
        await nc.close();
        assert.equal(services[0].svc.requests.length, before);
      });
    });
  }

  it("a placed user expires with its JWT; a refusal is reported in the callout account", async () => {
    const ts = await startFromConfigText(config(false));
    try {
      const svcConn = await connect({ port: ts.port, user: "auth", pass: "auth-pw" });
      const events: Record<string, unknown>[] = [];
      svcConn.subscribe("$SYS.ACCOUNT.CLIENT.AUTH.ERR", {
        callback: (_e, m) => {
          events.push(m.json());
        },
      });
      await CalloutService.start(svcConn, {
        userSigner: issuer,
        responseSigner: issuer,
        decide: (req) => (req.connect_opts.user === "short" ? { account: "APP", exp: epoch(4) } : { error: "no such user" }),
      });
      const l = await rawLogin(ts.port, () => ({ user: "short", pass: "x" }));
      assert.ok(l.ok, l.out);
      assert.ok((await l.conn.waitClosed(60_000)).endsWith("-ERR 'User Authentication Expired'\r\n"));
      await tryLogin(ts.port, "nobody", "x");
      await waitUntil(() => events.length > 0);
      assert.equal(events[0].reason, "Auth callout service returned an error: no such user");
      assert.equal((events[0].client as Record<string, unknown>).acc, "AUTH");
      await svcConn.close();
    } finally {
      await ts.close();
    }
  });
});

describe("auth callout in operator mode, compared with nats-server 2.15", { skip }, () => {
  let op: OperatorFixture;
  let authAcc: AccountFixture;
  let app: AccountFixture;
  let config: string;
  let svcUserCreds: Uint8Array;
  let sentinelJwt: string;

  before(async () => {
    op = await newOperator();
    app = await newAccount(op, "APP");
    const authKp = createAccount();
    const svcUser = await newUser({ name: "AUTH", kp: authKp, pub: authKp.getPublicKey(), jwt: "", claims: {} }, "svc");
    authAcc = await newAccount(op, "AUTH", { authorization: { auth_users: [svcUser.pub], allowed_accounts: [app.pub] } as never }, {}, authKp);
    svcUserCreds = svcUser.creds;
    sentinelJwt = (await newUser(authAcc, "sentinel", { bearer_token: true, pub: { deny: [">"] }, sub: { deny: [">"] } })).jwt;
    config = memoryResolverConfig(op, [authAcc, app], `authorization { timeout: ${AUTH_TIMEOUT_S} }\n`);
  });

  it("a sentinel login is decided by the account's service and placed in another account", async () => {
    const mine = await startFromConfigText(config);
    const ref = await startNatsServer([], config, "2.15");
    try {
      const out: Array<{ ok: boolean; out: string; placed?: string }> = [];
      for (const port of [mine.port, ref.port]) {
        const svc = await connect({ port, authenticator: credsAuthenticator(svcUserCreds) });
        await CalloutService.start(svc, {
          userSigner: app.kp,
          responseSigner: authAcc.kp,
          decide: (req) => (req.connect_opts.user === "bob" ? { grant: { pub: { allow: ["in.app.>"] } } } : { error: "unknown" }),
        });
        const good = await rawLogin(port, () => ({ jwt: sentinelJwt, user: "bob", pass: "x" }));
        good.conn.take();
        good.conn.send("PUB in.app.1 1\r\nx\r\nPUB elsewhere 1\r\nx\r\n");
        const after = await good.conn.ping();
        good.conn.close();
        const bad = await rawLogin(port, () => ({ jwt: sentinelJwt, user: "eve", pass: "x" }));
        bad.conn.close();
        out.push({ ok: good.ok, out: after }, { ok: bad.ok, out: bad.out });
        await svc.close();
      }
      assert.deepEqual(out.slice(0, 2), out.slice(2));
      assert.equal(out[0].ok, true);
      assert.equal(out[0].out, `-ERR 'Permissions Violation for Publish to "elsewhere"'\r\nPONG\r\n`);
      assert.equal(out[1].out, "-ERR 'Authorization Violation'\r\n");
      assert.ok([...mine.server.closedClients].some((c) => c.client.account.name === app.pub));
    } finally {
      await mine.close();
      await ref.stop();
    }
  });
});
