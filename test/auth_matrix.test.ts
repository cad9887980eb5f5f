// The authentication failure matrix: one test per rule, each run against tsnats and
// nats-server 2.15 started with the same configuration. Every refusal must look the same to
// the client (the -ERR text and the close), publish $SYS.SERVER.<id>.CLIENT.AUTH.ERR, and
// leave no secret in the server's log.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createAccount } from "@nats-io/nkeys";
import { connect, credsAuthenticator, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Log } from "../src/index.js";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { RawConn } from "./helpers/raw.js";
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
  type RawLogin,
  type UserFixture,
} from "./helpers/jwt.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

/** Every log line, debug and trace included. */
class FullLog implements Log {
  readonly debugEnabled = true;
  readonly traceEnabled = true;
  readonly lines: string[] = [];
  info(m: string): void {
    this.lines.push(m);
  }
  warn(m: string): void {
    this.lines.push(m);
  }
  error(m: string): void {
    this.lines.push(m);
  }
  fatal(m: string): void {
    this.lines.push(m);
  }
  debug(m: string): void {
    this.lines.push(m);
  }
  trace(m: string): void {
    this.lines.push(m);
  }
}

/** A UTC wall-clock range `fromH`..`toH` hours from now ("HH:MM:SS"). */
function utcRange(fromH: number, toH: number): { start: string; end: string } {
  const fmt = (d: Date): string => d.toISOString().slice(11, 19);
  return { start: fmt(new Date(Date.now() + fromH * 3_600_000)), end: fmt(new Date(Date.now() + toH * 3_600_000)) };
}

/** One server under test and a system-account listener for its AUTH.ERR events. */
interface Target {
  port: number;
  sys: NatsConnection;
  events: Record<string, unknown>[];
  sub: Subscription;
}

async function target(port: number, sysCreds: Uint8Array): Promise<Target> {
  const sys = await connect({ servers: `nats://127.0.0.1:${port}`, authenticator: credsAuthenticator(sysCreds) });
  const events: Record<string, unknown>[] = [];
  const sub = sys.subscribe("$SYS.SERVER.*.CLIENT.AUTH.ERR", {
    callback: (_e, m) => {
      events.push(m.json());
    },
  });
  await sys.flush();
  return { port, sys, events, sub };
}

describe("authentication failures match nats-server 2.15", { skip }, () => {
  let op: OperatorFixture;
  let accA: AccountFixture;
  let accNoBearer: AccountFixture;
  let accUnknown: AccountFixture;
  let accUntrusted: AccountFixture;
  const users: Record<string, UserFixture> = {};
  let log: FullLog;
  let srv: TestServer;
  let ref: ReferenceServer;
  let ts: Target;
  let ns: Target;
  let configText: string;

  before(async () => {
    op = await newOperator();
    const revoked = await newUser(await newAccount(op, "tmp"), "x"); // a key to revoke
    accA = await newAccount(op, "A", { revocations: { [revoked.pub]: epoch(60) } });
    users.revoked = await newUser(accA, "revoked", {}, { kp: revoked.kp });
    accNoBearer = await newAccount(op, "NOBEARER", { limits: { disallow_bearer: true } });
    accUnknown = await newAccount(op, "UNKNOWN");
    const otherOp = await newOperator();
    accUntrusted = await newAccount(otherOp, "UNTRUSTED");
    users.good = await newUser(accA, "good");
    users.expired = await newUser(accA, "expired", {}, { exp: epoch(-60) });
    users.notYet = await newUser(accA, "notyet", {}, { nbf: epoch(3600) });
    users.foreignSigned = await newUser(accA, "foreign", {}, { signer: createAccount() });
    users.unknownAccount = await newUser(accUnknown, "lost");
    users.untrusted = await newUser(accUntrusted, "untrusted");
    users.bearer = await newUser(accNoBearer, "bearer", { bearer_token: true });
    users.wsOnly = await newUser(accA, "ws", { allowed_connection_types: ["WEBSOCKET"] });
    users.mqttOnly = await newUser(accA, "mqtt", { allowed_connection_types: ["MQTT"] });
    users.unknownType = await newUser(accA, "unknowntype", { allowed_connection_types: ["CARRIER_PIGEON" as "MQTT"] });
    users.src = await newUser(accA, "src", { src: ["10.99.0.0/16"] });
    users.times = await newUser(accA, "times", { times: [utcRange(2, 3)], locale: "UTC" });
    users.sys = await newUser(op.sys, "sys");
    configText = memoryResolverConfig(op, [accA, accNoBearer, accUntrusted]);
    log = new FullLog();
    srv = await startFromConfigText(configText, { log });
    ref = await startNatsServer([], configText, "2.15");
    ts = await target(srv.port, users.sys.creds);
    ns = await target(ref.port, users.sys.creds);
  });

  after(async () => {
    for (const t of [ts, ns]) await t?.sys.close();
    await srv?.close();
    await ref?.stop();
  });

  /**
   * Run a login against both servers; both must refuse it the same way and report it on
   * AUTH.ERR. Returns tsnats' result for further checks.
   */
  async function refusedAlike(login: (port: number) => Promise<RawLogin>): Promise<RawLogin> {
    const before = [ts.events.length, ns.events.length];
    const mine = await login(ts.port);
    const theirs = await login(ns.port);
    mine.conn.close();
    theirs.conn.close();
    assert.equal(mine.ok, false, `tsnats let it in: ${mine.out}`);
    assert.equal(theirs.ok, false, `nats-server let it in: ${theirs.out}`);
    assert.equal(mine.out, theirs.out);
    assert.equal(mine.closed, theirs.closed);
    await waitUntil(() => ts.events.length > before[0] && ns.events.length > before[1], 5000, "AUTH.ERR events from both servers");
    const mineEvent = ts.events[ts.events.length - 1];
    const theirEvent = ns.events[ns.events.length - 1];
    assert.equal(mineEvent.reason, theirEvent.reason);
    assert.equal(mineEvent.type, theirEvent.type);
    const client = (e: Record<string, unknown>): Record<string, unknown> => e.client as Record<string, unknown>;
    assert.equal(client(mineEvent).acc, client(theirEvent).acc);
    assert.equal(client(mineEvent).jwt, client(theirEvent).jwt);
    return mine;
  }

  it("a good login works on both (the matrix baseline)", async () => {
    for (const port of [ts.port, ns.port]) {
      const l = await jwtLogin(port, users.good);
      assert.ok(l.ok, l.out);
      l.conn.close();
    }
  });

  it("no JWT at all", async () => {
    await refusedAlike((port) => rawLogin(port, () => ({})));
  });

  it("a user/password where a JWT is required", async () => {
    await refusedAlike((port) => rawLogin(port, () => ({ user: "admin", pass: "s3cret-pw" })));
    assert.ok(!log.lines.some((l) => l.includes("s3cret-pw")), "the password reached the log");
  });

  it("an expired user JWT", async () => {
    await refusedAlike((port) => jwtLogin(port, users.expired));
  });

  it("a user JWT not valid yet (nbf)", async () => {
    await refusedAlike((port) => jwtLogin(port, users.notYet));
  });

  it("a revoked user JWT", async () => {
    await refusedAlike((port) => jwtLogin(port, users.revoked));
  });

  it("a user JWT signed by a key the account does not know", async () => {
    await refusedAlike((port) => jwtLogin(port, users.foreignSigned));
  });

  it("a user of an account unknown to the resolver", async () => {
    await refusedAlike((port) => jwtLogin(port, users.unknownAccount));
  });

  it("a user of an account signed by another operator", async () => {
    await refusedAlike((port) => jwtLogin(port, users.untrusted));
  });

  it("a tampered user JWT (signature no longer matches)", async () => {
    const [h, p, s] = users.good.jwt.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    claims.name = "mallory";
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    await refusedAlike((port) => rawLogin(port, (c) => ({ jwt: forged, sig: signNonce(c, users.good) })));
  });

  it("a missing nonce signature", async () => {
    await refusedAlike((port) => rawLogin(port, () => ({ jwt: users.good.jwt })));
  });

  it("a replayed nonce signature (signed for another connection)", async () => {
    await refusedAlike(async (port) => {
      const other = await RawConn.connect(port);
      const stolen = signNonce(other, users.good);
      other.close();
      return rawLogin(port, () => ({ jwt: users.good.jwt, sig: stolen }));
    });
  });

  it("a nonce signed by another key", async () => {
    await refusedAlike((port) => rawLogin(port, (c) => ({ jwt: users.good.jwt, sig: signNonce(c, users.src) })));
  });

  it("a signature that is not base64", async () => {
    await refusedAlike((port) => rawLogin(port, () => ({ jwt: users.good.jwt, sig: "!!not base64!!" })));
  });

  it("a bearer token where the account does not allow them", async () => {
    await refusedAlike((port) => rawLogin(port, () => ({ jwt: users.bearer.jwt })));
  });

  it("a connection type the user may not use (WEBSOCKET only, over TCP)", async () => {
    await refusedAlike((port) => jwtLogin(port, users.wsOnly));
  });

  it("a connection type list naming only MQTT", async () => {
    await refusedAlike((port) => jwtLogin(port, users.mqttOnly));
  });

  it("a connection type list naming only unknown types", async () => {
    await refusedAlike((port) => jwtLogin(port, users.unknownType));
  });

  it("a source address outside the user's src networks", async () => {
    await refusedAlike((port) => jwtLogin(port, users.src));
    assert.ok(log.lines.some((l) => l.includes("Bad src Ip 127.0.0.1")), "the refusal is logged");
  });

  it("a login outside the user's connect times", async () => {
    await refusedAlike((port) => jwtLogin(port, users.times));
    assert.ok(log.lines.some((l) => l.includes("Outside connect times")), "the refusal is logged");
  });

  it("a JWT that is not a JWT", async () => {
    await refusedAlike((port) => rawLogin(port, (c) => ({ jwt: "not.a.jwt", sig: signNonce(c, users.good) })));
  });

  it("an account JWT presented as a user JWT", async () => {
    await refusedAlike((port) => rawLogin(port, (c) => ({ jwt: accA.jwt, sig: signNonce(c, users.good) })));
  });

  it("the log names no credential: no nonce signature, no user JWT signature", () => {
    const jwtSig = users.good.jwt.split(".")[2];
    assert.ok(!log.lines.some((l) => l.includes(jwtSig) && !l.includes('"jwt"')), "a JWT signature reached the log outside a traced CONNECT");
    assert.ok(log.lines.some((l) => l.includes('"sig":"[REDACTED]"')), "traced CONNECTs redact the signature");
  });
});

describe("config-mode failures match nats-server 2.15", { skip }, () => {
  it("wrong password, unknown user, missing credentials", async () => {
    const config = "authorization { users: [ { user: alice, password: right-pw } ] }\n";
    const mine = await startFromConfigText(config);
    const theirs = await startNatsServer([], config, "2.15");
    try {
      for (const fields of [{ user: "alice", pass: "wrong-pw" }, { user: "nobody", pass: "x" }, {}]) {
        const a = await rawLogin(mine.port, () => fields);
        const b = await rawLogin(theirs.port, () => fields);
        a.conn.close();
        b.conn.close();
        assert.equal(a.ok, false);
        assert.equal(a.out, b.out, JSON.stringify(fields));
        assert.equal(a.closed, b.closed);
      }
    } finally {
      await mine.close();
      await theirs.stop();
    }
  });

  it("allowed_connection_types of a config user is enforced", async () => {
    const config = "authorization { users: [ { user: ws, password: pw, allowed_connection_types: [WEBSOCKET] }, { user: tcp, password: pw, allowed_connection_types: [STANDARD] } ] }\n";
    const mine = await startFromConfigText(config);
    const theirs = await startNatsServer([], config, "2.15");
    try {
      for (const user of ["ws", "tcp"]) {
        const a = await rawLogin(mine.port, () => ({ user, pass: "pw" }));
        const b = await rawLogin(theirs.port, () => ({ user, pass: "pw" }));
        a.conn.close();
        b.conn.close();
        assert.equal(a.ok, b.ok, user);
        assert.equal(a.out, b.out, user);
      }
    } finally {
      await mine.close();
      await theirs.stop();
    }
  });
});
