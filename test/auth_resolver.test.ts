// Account JWT updates at run time: pushes to the MEMORY resolver, and the NATS-based full and
// cache resolvers ($SYS.REQ.CLAIMS.UPDATE/LOOKUP/LIST/DELETE), each answer compared with
// nats-server 2.15; a pushed JWT applies to live connections (limits, revocations, deletion).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeGeneric } from "@nats-io/jwt";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import type { TestServer } from "./helpers/server.js";
import {
  epoch,
  jwtLogin,
  memoryResolverConfig,
  newAccount,
  newOperator,
  newUser,
  reissueAccount,
  startFromConfigText,
  type AccountFixture,
  type OperatorFixture,
  type UserFixture,
} from "./helpers/jwt.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

/** A claims answer without the server header (which names the server). */
function body(raw: string): unknown {
  if (raw === "") return "";
  const v = JSON.parse(raw) as Record<string, unknown>;
  delete v.server;
  return v;
}

async function ask(nc: NatsConnection, subject: string, payload: string | Uint8Array = ""): Promise<string> {
  const m = await nc.request(subject, payload, { timeout: 3000 });
  return m.string();
}

interface Pair {
  ts: TestServer;
  ref: ReferenceServer;
  tsSys: NatsConnection;
  refSys: NatsConnection;
  dirs: string[];
}

/** tsnats and nats-server 2.15 started from `config(dir)` (each its own directory), with a system user on each. */
async function startPair(config: (dir: string) => string, sysUser: UserFixture): Promise<Pair> {
  const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-res-")), fs.mkdtempSync(path.join(os.tmpdir(), "nats-res-"))];
  const ts = await startFromConfigText(config(dirs[0]));
  const ref = await startNatsServer([], config(dirs[1]), "2.15");
  const tsSys = await connect({ servers: ts.url, authenticator: credsAuthenticator(sysUser.creds) });
  const refSys = await connect({ servers: `nats://127.0.0.1:${ref.port}`, authenticator: credsAuthenticator(sysUser.creds) });
  return { ts, ref, tsSys, refSys, dirs };
}

async function stopPair(p: Pair | undefined): Promise<void> {
  if (p === undefined) return;
  await p.tsSys.close();
  await p.refSys.close();
  await p.ts.close();
  await p.ref.stop();
  for (const d of p.dirs) fs.rmSync(d, { recursive: true, force: true });
}

/** Ask both servers the same thing; return tsnats' answer after checking nats-server's is the same. */
async function same(p: Pair, subject: string, payload: string | Uint8Array = ""): Promise<unknown> {
  const a = body(await ask(p.tsSys, subject, payload));
  const b = body(await ask(p.refSys, subject, payload));
  assert.deepEqual(a, b, `answers to ${subject}`);
  return a;
}

describe("claim pushes with the MEMORY resolver, as nats-server 2.15", { skip }, () => {
  let op: OperatorFixture;
  let acc: AccountFixture;
  let idle: AccountFixture;
  let sysUser: UserFixture;
  let p: Pair;

  before(async () => {
    op = await newOperator();
    acc = await newAccount(op, "A");
    idle = await newAccount(op, "IDLE");
    sysUser = await newUser(op.sys, "sys");
    p = await startPair(() => memoryResolverConfig(op, [acc, idle]), sysUser);
  });

  after(() => stopPair(p));

  it("a push to an account in use applies: revoked users go, limits change, others stay", async () => {
    const keep = await newUser(acc, "keep");
    const drop = await newUser(acc, "drop");
    const conns = [await jwtLogin(p.ts.port, keep), await jwtLogin(p.ts.port, drop), await jwtLogin(p.ref.port, keep), await jwtLogin(p.ref.port, drop)];
    for (const c of conns) assert.ok(c.ok, c.out);
    const next = await reissueAccount(op, acc, { revocations: { [drop.pub]: epoch(10) }, limits: { subs: 3 } });
    const answer = await same(p, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.UPDATE`, next.jwt);
    assert.deepEqual(answer, { data: { account: acc.pub, code: 200, message: "jwt updated" } });
    for (const dropped of [conns[1], conns[3]]) {
      const out = await dropped.conn.waitClosed();
      assert.ok(out.endsWith("-ERR 'User Authentication Revoked'\r\n"), out);
    }
    for (const kept of [conns[0], conns[2]]) {
      kept.conn.take();
      assert.equal(await kept.conn.ping(), "PONG\r\n");
      kept.conn.close();
    }
    assert.equal(p.ts.server.accounts.get(acc.pub)?.limits.maxSubscriptions, 3);
  });

  it("pushes nats-server skips or refuses get its answers", async () => {
    const idleNext = await reissueAccount(op, idle, { limits: { conn: 5 } });
    assert.deepEqual(await same(p, `$SYS.REQ.ACCOUNT.${idle.pub}.CLAIMS.UPDATE`, idleNext.jwt), {
      data: { account: idle.pub, code: 200, message: "jwt update skipped" },
    });
    await same(p, `$SYS.REQ.ACCOUNT.${idle.pub}.CLAIMS.UPDATE`, acc.jwt);
    await same(p, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.UPDATE`, "not a jwt");
    await same(p, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.UPDATE`, "");
    const foreign = await newAccount(await newOperator(), "X", {}, {}, acc.kp);
    // The account is in use and the JWT decodes, but its operator is not trusted.
    await jwtLogin(p.ts.port, await newUser(acc, "u")).then((l) => l.conn.close());
    await jwtLogin(p.ref.port, await newUser(acc, "u")).then((l) => l.conn.close());
    assert.deepEqual(await same(p, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.UPDATE`, foreign.jwt), {
      error: { account: acc.pub, code: 500, description: "jwt update resulted in error - account validation failed" },
    });
  });
});

describe("claim pushes reach exports, imports and default permissions, as nats-server 2.15", { skip }, () => {
  it("an exporter that drops its export cuts the importer off; new default permissions apply to users relying on them", async () => {
    const op = await newOperator();
    const sysUser = await newUser(op.sys, "sys");
    const exp = await newAccount(op, "EXP", { exports: [{ name: "f", subject: "feed", type: "stream" }] as never, default_permissions: { pub: { allow: ["feed", "x.>"] } } as never });
    const imp = await newAccount(op, "IMP", { imports: [{ name: "f", subject: "feed", account: exp.pub, type: "stream" }] as never });
    const pubUser = await newUser(exp, "pub");
    const subUser = await newUser(imp, "sub");
    const p = await startPair(() => memoryResolverConfig(op, [exp, imp]), sysUser);
    try {
      const run = async (port: number, sys: NatsConnection): Promise<string[]> => {
        const pub = await jwtLogin(port, pubUser);
        const sub = await jwtLogin(port, subUser);
        sub.conn.send("SUB feed 1\r\n");
        await sub.conn.ping();
        pub.conn.take();
        sub.conn.take();
        pub.conn.send("PUB feed 3\r\none\r\nPUB y 1\r\ny\r\n");
        const before = await pub.conn.ping();
        const got1 = await sub.conn.waitFor("one\r\n");
        const next = await reissueAccount(op, exp, { default_permissions: { pub: { allow: ["feed", "y"] } } as never });
        await ask(sys, `$SYS.REQ.ACCOUNT.${exp.pub}.CLAIMS.UPDATE`, next.jwt);
        pub.conn.take();
        sub.conn.take();
        pub.conn.send("PUB feed 3\r\ntwo\r\nPUB y 1\r\ny\r\n");
        const after = await pub.conn.ping();
        // The subscriber's round trip follows the publisher's: whatever was routed has arrived.
        const got2 = await sub.conn.ping();
        pub.conn.close();
        sub.conn.close();
        return [before, got1, after, got2];
      };
      const mine = await run(p.ts.port, p.tsSys);
      const theirs = await run(p.ref.port, p.refSys);
      assert.deepEqual(mine, theirs);
      assert.equal(mine[3], "PONG\r\n", "nothing crosses once the export is gone");
    } finally {
      await stopPair(p);
    }
  });
});

describe("the full resolver, as nats-server 2.15", { skip }, () => {
  let op: OperatorFixture;
  let sysUser: UserFixture;
  let p: Pair;
  const fullConfig = (dir: string): string =>
    `operator: ${op.jwt}\nsystem_account: ${op.sys.pub}\nresolver { type: full, dir: "${dir}", allow_delete: true, interval: "2m" }\nresolver_preload { ${op.sys.pub}: ${op.sys.jwt} }\n`;

  before(async () => {
    op = await newOperator();
    sysUser = await newUser(op.sys, "sys");
    p = await startPair(fullConfig, sysUser);
  });

  after(() => stopPair(p));

  it("an account pushed with $SYS.REQ.CLAIMS.UPDATE is stored, listed, looked up, and its users log in", async () => {
    const acc = await newAccount(op, "PUSHED");
    const u = await newUser(acc, "u");
    for (const port of [p.ts.port, p.ref.port]) assert.equal((await jwtLogin(port, u)).out, "-ERR 'Authorization Violation'\r\n");
    assert.deepEqual(await same(p, "$SYS.REQ.CLAIMS.UPDATE", acc.jwt), { data: { account: acc.pub, code: 200, message: "jwt updated" } });
    assert.ok(fs.existsSync(path.join(p.dirs[0], `${acc.pub}.jwt`)), "stored in the directory");
    const list = (await same(p, "$SYS.REQ.CLAIMS.LIST")) as { data: string[] };
    assert.deepEqual([...list.data].sort(), [acc.pub, op.sys.pub].sort());
    assert.equal(await ask(p.tsSys, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.LOOKUP`), acc.jwt);
    for (const port of [p.ts.port, p.ref.port]) {
      const l = await jwtLogin(port, u);
      assert.ok(l.ok, l.out);
      l.conn.close();
    }
  });

  it("an update of an account in use applies to its connections", async () => {
    const acc = await newAccount(op, "LIVE");
    await same(p, "$SYS.REQ.CLAIMS.UPDATE", acc.jwt);
    const drop = await newUser(acc, "drop");
    const conns = [await jwtLogin(p.ts.port, drop), await jwtLogin(p.ref.port, drop)];
    const next = await reissueAccount(op, acc, { revocations: { [drop.pub]: epoch(10) } });
    assert.deepEqual(await same(p, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.UPDATE`, next.jwt), {
      data: { account: acc.pub, code: 200, message: "jwt updated" },
    });
    for (const c of conns) assert.ok((await c.conn.waitClosed()).endsWith("-ERR 'User Authentication Revoked'\r\n"));
  });

  it("refused updates: not a JWT, wrong subject, invalid claims", async () => {
    const acc = await newAccount(op, "R");
    await same(p, "$SYS.REQ.CLAIMS.UPDATE", "garbage");
    await same(p, `$SYS.REQ.ACCOUNT.${op.sys.pub}.CLAIMS.UPDATE`, acc.jwt);
    const invalid = await newAccount(op, "BAD", { exports: [{ name: "e", subject: "a b", type: "stream" }] as never });
    await same(p, "$SYS.REQ.CLAIMS.UPDATE", invalid.jwt);
  });

  it("an operator-signed delete removes accounts and closes their connections", async () => {
    const acc = await newAccount(op, "DOOMED");
    await same(p, "$SYS.REQ.CLAIMS.UPDATE", acc.jwt);
    const u = await newUser(acc, "u");
    const conns = [await jwtLogin(p.ts.port, u), await jwtLogin(p.ref.port, u)];
    for (const c of conns) assert.ok(c.ok, c.out);
    const unsigned = await encodeGeneric("delete", acc.kp, "generic", { accounts: [acc.pub] });
    await same(p, "$SYS.REQ.CLAIMS.DELETE", unsigned);
    const sysDelete = await encodeGeneric("delete", op.kp, "generic", { accounts: [op.sys.pub] });
    await same(p, "$SYS.REQ.CLAIMS.DELETE", sysDelete);
    const request = await encodeGeneric("delete", op.kp, "generic", { accounts: [acc.pub] });
    assert.deepEqual(await same(p, "$SYS.REQ.CLAIMS.DELETE", request), { data: { code: 200, message: "deleted 1 accounts" } });
    for (const c of conns) assert.ok((await c.conn.waitClosed()).endsWith("-ERR 'Account Authentication Expired'\r\n"));
    assert.ok(fs.existsSync(path.join(p.dirs[0], `${acc.pub}.jwt.deleted`)), "kept as .deleted");
    assert.equal(await ask(p.tsSys, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.LOOKUP`), "");
  });

  it("the directory survives a restart", async () => {
    const acc = await newAccount(op, "KEPT");
    await ask(p.tsSys, "$SYS.REQ.CLAIMS.UPDATE", acc.jwt);
    const again = await startFromConfigText(fullConfig(p.dirs[0]));
    try {
      const l = await jwtLogin(again.port, await newUser(acc, "u"));
      assert.ok(l.ok, l.out);
      l.conn.close();
    } finally {
      await again.close();
    }
  });
});

describe("the full resolver without allow_delete, and the cache resolver, as nats-server 2.15", { skip }, () => {
  it("delete refused without allow_delete; the cache resolver skips accounts not in use", async () => {
    const op = await newOperator();
    const sysUser = await newUser(op.sys, "sys");
    const acc = await newAccount(op, "A");
    let p = await startPair(
      (dir) => `operator: ${op.jwt}\nsystem_account: ${op.sys.pub}\nresolver { type: full, dir: "${dir}" }\nresolver_preload { ${op.sys.pub}: ${op.sys.jwt} }\n`,
      sysUser,
    );
    try {
      await same(p, "$SYS.REQ.CLAIMS.UPDATE", acc.jwt);
      await same(p, "$SYS.REQ.CLAIMS.DELETE", await encodeGeneric("delete", op.kp, "generic", { accounts: [acc.pub] }));
    } finally {
      await stopPair(p);
    }
    p = await startPair(
      (dir) => `operator: ${op.jwt}\nsystem_account: ${op.sys.pub}\nresolver { type: cache, dir: "${dir}", timeout: "200ms" }\nresolver_preload { ${op.sys.pub}: ${op.sys.jwt} }\n`,
      sysUser,
    );
    try {
      assert.deepEqual(await same(p, "$SYS.REQ.CLAIMS.UPDATE", acc.jwt), { data: { account: acc.pub, code: 200, message: "jwt update cache skipped" } });
      await same(p, `$SYS.REQ.ACCOUNT.${acc.pub}.CLAIMS.UPDATE`, acc.jwt);
      const list = (await same(p, "$SYS.REQ.CLAIMS.LIST")) as { data: string[] };
      assert.deepEqual(list.data, [op.sys.pub]);
    } finally {
      await stopPair(p);
    }
  });
});
