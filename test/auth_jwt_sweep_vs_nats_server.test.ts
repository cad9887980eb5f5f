// Operator (JWT) mode side by side with nats-server 2.15: for each seed a random operator
// with two accounts (connection, subscription and payload limits, default permissions,
// revocations, plain and scoped signing keys whose templates use {{name()}}, {{subject()}},
// {{tag(..)}} and {{account-name()}}) and six users (permissions with allow/deny/resp, subs,
// payload and src limits, time ranges, bearer tokens, allowed connection types, expiry, tags),
// all preloaded in the memory resolver (odd seeds) or the full resolver (even seeds). Every user logs in (the -ERR text and the close must
// agree), then a random sequence of SUB, UNSUB, PUB and HPUB over the open connections, and
// claim updates pushed on $SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE (new limits, revocations, default
// permissions) whose answers and effects on live connections are compared as well.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { encodeAccount, type Account, type Permissions, type User } from "@nats-io/jwt";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { RawConn, connectLine, withoutConnectInfo } from "./helpers/raw.js";
import { framesReceived, syncAll } from "./helpers/raw_sweep.js";
import { prng } from "./helpers/fuzz.js";
import { UNLIMITED_ACCOUNT, newOperator, newUser, signNonce, type OperatorFixture, type UserFixture } from "./helpers/jwt.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

const PUB_SUBJECTS = ["a", "a.b", "a.c", "b.x", "q", "alice.x", "team.x", "_INBOX.r1", "$SYS.REQ.X", "x"];
const SUB_SUBJECTS = [...PUB_SUBJECTS, "a.*", "a.>", ">", "*", "alice.>", "team.>", "_INBOX.>"];
const PERM_SUBJECTS = ["a", "a.*", "a.>", ">", "*", "b.>", "q", "a.b", "_INBOX.>", "x", "alice.>", "team.>"];
const USERS = 6;
const PAYLOADS = [0, 2, 20, 100];

interface AccountPlan {
  name: string;
  kp: KeyPair;
  /** A plain account signing key, and a scoped one with a template. */
  plainKey: KeyPair;
  scopedKey: KeyPair;
  claims: Partial<Account>;
}

interface UserPlan {
  name: string;
  account: number;
  kp: KeyPair;
  signer: "account" | "plain" | "scoped" | "foreign";
  claims: Partial<User>;
  exp?: number;
  nbf?: number;
  /** Log in with the nonce signature, without, or with a wrong one. */
  sig: "good" | "none" | "bad";
  /** Revoked in its account's JWT. */
  revoked: boolean;
}

type Op =
  | { t: "sub"; who: number; subject: string; queue?: string; sid: number }
  | { t: "unsub"; who: number; sid: number }
  | { t: "pub" | "hpub"; who: number; subject: string; reply?: string; size: number }
  | { t: "update"; account: number; change: Partial<Account>; note: string; bad?: BadJwt };

/** Claim updates that must be refused: not a JWT, another account's, an outsider's, expired. */
type BadJwt = "garbage" | "other account" | "foreign operator" | "expired";

interface Scenario {
  /** Public keys in texts and the names they are replaced by (nkeys derives a key slowly). */
  names: Array<[string, string]>;
  op: OperatorFixture;
  accounts: AccountPlan[];
  users: UserPlan[];
  ops: Op[];
}

function hms(secs: number): string {
  const s = ((secs % 86_400) + 86_400) % 86_400;
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

async function scenario(seed: number, count: number): Promise<Scenario> {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const int = (n: number): number => Math.floor(rnd() * n);
  const list = (n: number): string[] => [...new Set(Array.from({ length: n }, () => pick(PERM_SUBJECTS)))];
  const permissions = (): Permissions => {
    const p: Permissions = {};
    if (rnd() < 0.5) p.pub = { allow: list(1 + int(3)) };
    if (rnd() < 0.3) p.pub = { ...(p.pub ?? {}), deny: list(1 + int(2)) };
    if (rnd() < 0.5) p.sub = { allow: list(1 + int(3)) };
    if (rnd() < 0.3) p.sub = { ...(p.sub ?? {}), deny: list(1 + int(2)) };
    if (rnd() < 0.2) p.resp = { max: 1 + int(2), ttl: 0 };
    return p;
  };
  const op = await newOperator({ signingKey: rnd() < 0.3 });
  const accounts: AccountPlan[] = [];
  for (const name of ["A", "B"]) {
    const claims: Partial<Account> = {
      limits: {
        ...UNLIMITED_ACCOUNT,
        conn: pick([-1, -1, 2, 3]),
        subs: pick([-1, -1, 2, 5]),
        payload: pick([-1, -1, 16, 64]),
        disallow_bearer: rnd() < 0.15,
      },
    };
    if (rnd() < 0.3) claims.default_permissions = permissions();
    if (rnd() < 0.2) claims.tags = ["env:test"];
    accounts.push({ name, kp: createAccount(), plainKey: createAccount(), scopedKey: createAccount(), claims });
  }
  const now = Math.floor(Date.now() / 1000);
  const users: UserPlan[] = [];
  const userNames = ["alice", "bob", "team", "a b", "carol", "x.y"];
  for (let i = 0; i < USERS; i++) {
    const signer = pick(["account", "account", "plain", "scoped", "scoped", "foreign"] as const);
    const claims: Partial<User> = { subs: -1, data: -1, payload: -1 };
    if (signer !== "scoped") {
      Object.assign(claims, rnd() < 0.6 ? permissions() : {});
      // Not 0: nats-server closes such a connection from a goroutine of its own right after the
      // login, and now and then not before later traffic.
      if (rnd() < 0.3) claims.subs = pick([1, 3]);
      if (rnd() < 0.3) claims.payload = pick([0, 10, 50]);
      if (rnd() < 0.15) claims.src = [pick(["127.0.0.1/32", "10.0.0.0/8", "127.0.0.0/8,10.1.0.0/16", "192.168.1.1"])];
      if (rnd() < 0.15) {
        // A range around now that outlasts the run, or one well away from it (the whole day when
        // either would cross midnight).
        const [start, end] = rnd() < 0.5 ? [now - 60, now + 3600] : [now + 3 * 3600, now + 3 * 3600 + 120];
        claims.times = [hms(start) < hms(end) ? { start: hms(start), end: hms(end) } : { start: "00:00:00", end: "23:59:59" }];
        claims.locale = "UTC";
      }
      if (rnd() < 0.15) claims.allowed_connection_types = [pick(["STANDARD", "WEBSOCKET", "LEAFNODE", "MQTT"] as const)];
    }
    if (rnd() < 0.2) claims.bearer_token = true;
    if (rnd() < 0.5) claims.tags = [pick(["team:red", "team:Blue", "role:x"])];
    users.push({
      name: pick(userNames),
      account: int(2),
      kp: createUser(),
      signer,
      claims,
      exp: rnd() < 0.08 ? now - 10 : rnd() < 0.1 ? now + 3600 : undefined,
      nbf: rnd() < 0.06 ? now + 3600 : undefined,
      sig: claims.bearer_token === true ? pick(["none", "good"] as const) : rnd() < 0.08 ? pick(["none", "bad"] as const) : "good",
      revoked: rnd() < 0.1,
    });
  }
  for (const [ai, a] of accounts.entries()) {
    const template: Partial<User> = {
      pub: { allow: pick([["{{name()}}.>"], ["{{tag(team)}}.>", "a.>"], ["{{account-name()}}.x", "q"], ["{{subject()}}.>", "x"]]) },
      sub: { allow: pick([["{{name()}}.>", "_INBOX.>"], ["{{tag(team)}}.>"], [">"], ["a.*"]]) },
      subs: pick([-1, 2]),
      payload: pick([-1, 30]),
      data: -1,
    };
    a.claims.signing_keys = [a.plainKey.getPublicKey(), { kind: "user_scope", key: a.scopedKey.getPublicKey(), role: "r", template }];
    const revoked = users.filter((u) => u.account === ai && u.revoked);
    if (revoked.length > 0) a.claims.revocations = Object.fromEntries(revoked.map((u) => [u.kp.getPublicKey(), now + 60]));
  }
  const ops: Op[] = [];
  const queues = new Set<string>();
  for (let i = 0; i < count; i++) {
    const t = pick(["sub", "sub", "pub", "pub", "pub", "hpub", "unsub", "update"] as const);
    const who = int(USERS);
    if (t === "sub") {
      // A queue group with two members delivers to one at random: every group has one member.
      let queue: string | undefined;
      if (rnd() < 0.2) {
        queue = `q${queues.size}`;
        queues.add(queue);
      }
      ops.push({ t, who, subject: pick(SUB_SUBJECTS), queue, sid: 100 + i });
    } else if (t === "unsub") {
      ops.push({ t, who, sid: 100 + int(i + 1) });
    } else if (t === "update") {
      const account = int(2);
      const kind = pick(["limits", "limits", "revoke", "perms", "unrevoke", "signing keys", "bearer", "bad"] as const);
      const target = users.filter((u) => u.account === account);
      if (kind === "limits") {
        const limits = { ...UNLIMITED_ACCOUNT, conn: pick([-1, 1, 2]), subs: pick([-1, 1, 3]), payload: pick([-1, 8, 64]) };
        ops.push({ t, account, change: { limits }, note: `limits ${JSON.stringify(limits)}` });
      } else if (kind === "revoke" && target.length > 0) {
        const u = pick(target);
        ops.push({ t, account, change: { revocations: { [u.kp.getPublicKey()]: now + 60 } }, note: `revoke ${users.indexOf(u)}` });
      } else if (kind === "signing keys") {
        // Users signed by a key the account no longer lists are closed.
        ops.push({ t, account, change: { signing_keys: rnd() < 0.5 ? [] : [accounts[account]!.plainKey.getPublicKey()] }, note: "fewer signing keys" });
      } else if (kind === "bearer") {
        const limits = { ...UNLIMITED_ACCOUNT, disallow_bearer: true };
        ops.push({ t, account, change: { limits }, note: "bearer tokens disallowed" });
      } else if (kind === "bad") {
        const bad = pick(["garbage", "other account", "foreign operator", "expired"] as const);
        ops.push({ t, account, change: {}, note: `refused: ${bad}`, bad });
      } else if (kind === "perms") {
        ops.push({ t, account, change: { default_permissions: permissions() }, note: "default permissions" });
      } else {
        ops.push({ t, account, change: { revocations: {}, default_permissions: {} }, note: "no revocations, no default permissions" });
      }
    } else {
      ops.push({ t, who, subject: pick(PUB_SUBJECTS), reply: rnd() < 0.3 ? pick(["_INBOX.r1", "a.b", "x"]) : undefined, size: pick(PAYLOADS) });
    }
  }
  const names: Array<[string, string]> = users.map((u, i) => [u.kp.getPublicKey(), `<u${i}>`]);
  for (const a of accounts) names.push([a.kp.getPublicKey(), `<${a.name}>`]);
  return { names, op, accounts, users, ops };
}

async function accountJwt(op: OperatorFixture, a: AccountPlan, claims: Partial<Account>): Promise<string> {
  return encodeAccount(a.name, a.kp, claims, { signer: op.signingKey ?? op.kp });
}

async function userFixture(s: Scenario, u: UserPlan): Promise<UserFixture> {
  const a = s.accounts[u.account]!;
  const accFixture = { name: a.name, kp: a.kp, pub: a.kp.getPublicKey(), jwt: "", claims: a.claims };
  const signer = u.signer === "plain" ? a.plainKey : u.signer === "scoped" ? a.scopedKey : u.signer === "foreign" ? createAccount() : undefined;
  return newUser(accFixture, u.name, u.claims, { signer, scoped: u.signer === "scoped", exp: u.exp, nbf: u.nbf, kp: u.kp });
}

/** The memory resolver, or with `dir` the full (NATS-based) resolver storing there. */
async function config(s: Scenario, dir?: string): Promise<string> {
  const preload = [`  ${s.op.sys.pub}: ${s.op.sys.jwt}`];
  for (const a of s.accounts) preload.push(`  ${a.kp.getPublicKey()}: ${await accountJwt(s.op, a, a.claims)}`);
  const resolver = dir === undefined ? "resolver: MEMORY" : `resolver: { type: full, dir: "${dir}", allow_delete: true }`;
  return `operator: ${s.op.jwt}\nsystem_account: ${s.op.sys.pub}\n${resolver}\nresolver_preload: {\n${preload.join("\n")}\n}\n`;
}

function wire(op: Exclude<Op, { t: "update" }>): string {
  if (op.t === "sub") return `SUB ${op.subject}${op.queue ? ` ${op.queue}` : ""} ${op.sid}\r\n`;
  if (op.t === "unsub") return `UNSUB ${op.sid}\r\n`;
  const reply = op.reply ? ` ${op.reply}` : "";
  const body = "p".repeat(op.size);
  return op.t === "pub" ? `PUB ${op.subject}${reply} ${op.size}\r\n${body}\r\n` : `HPUB ${op.subject}${reply} 12 ${12 + op.size}\r\nNATS/1.0\r\n\r\n${body}\r\n`;
}

function describeOp(op: Op): string {
  return op.t === "update" ? `update account ${op.account}: ${op.note}` : `${wire(op).split("\r\n")[0]} by u${op.who}`;
}

/** Public keys in texts replaced by names, so the two runs' texts compare. */
function named(s: Scenario, text: string): string {
  let out = text;
  for (const [key, name] of s.names) out = out.split(key).join(name);
  return out;
}

/**
 * What a connection received, keys named. A payload over the limit closes the connection as
 * soon as its PUB line is read, with the payload and the PINGs after it unread: the kernel may
 * then reset the connection and the client lose the -ERR before it (nats-server); the close is
 * compared, not that error.
 */
function received(s: Scenario, c: RawConn): string {
  const text = framesReceived(c);
  return named(s, c.closed ? text.replace("-ERR 'Maximum Payload Violation'\r\n", "") : text);
}

async function login(port: number, u: UserPlan, f: UserFixture): Promise<{ conn: RawConn; out: string }> {
  const conn = await RawConn.connect(port);
  const fields: Record<string, unknown> = { jwt: f.jwt, protocol: 1, headers: true, no_responders: true };
  if (u.sig === "good") fields.sig = signNonce(conn, f);
  if (u.sig === "bad") fields.sig = Buffer.from(createUser().sign(Buffer.from(String(conn.info.nonce)))).toString("base64url");
  conn.send(`${connectLine(fields)}PING\r\n`);
  let out = await conn.waitFor((t) => t.includes("PONG\r\n") || t.includes("-ERR"), 30_000, true);
  if (out.includes("-ERR")) out = await conn.waitClosed(30_000);
  else {
    await conn.waitFor(/"connect_info":true[^\r\n]*\r\n/, 30_000, true);
    // A connection over a limit from the start is told so right after its PONG, then closed.
    if (!conn.closed) await conn.ping(30_000).catch(() => "");
    out = conn.text();
    if (out.includes("-ERR")) await conn.waitClosed(30_000);
  }
  conn.take();
  // nats-server tells a connection over its subscription limit on a goroutine of its own: the
  // error and the PONGs come in any order and number.
  return { conn, out: withoutConnectInfo(out).replace(/PONG\r\n/g, "") + (conn.closed ? "<closed>" : "") };
}

async function run(server: ReferenceServer, s: Scenario, fixtures: UserFixture[], jwts: (op: Op & { t: "update" }) => Promise<string>): Promise<string[]> {
  const out: string[] = [];
  const conns: RawConn[] = [];
  const sys = await newUser(s.op.sys, "sys");
  const sysConn = await RawConn.connect(server.port);
  try {
    sysConn.send(`${connectLine({ jwt: sys.jwt, sig: signNonce(sysConn, sys), headers: true })}SUB _R.> 1\r\n`);
    await sysConn.ping(10_000);
    sysConn.take();
    for (const [i, u] of s.users.entries()) {
      const { conn, out: text } = await login(server.port, u, fixtures[i]!);
      conns.push(conn);
      out.push(`login u${i}: ${named(s, text)}`);
    }
    for (const op of s.ops) {
      if (op.t === "update") {
        sysConn.send(`PUB $SYS.REQ.ACCOUNT.${s.accounts[op.account]!.kp.getPublicKey()}.CLAIMS.UPDATE _R.x ${(await jwts(op)).length}\r\n${await jwts(op)}\r\n`);
        const got = await sysConn.waitFor(/MSG _R\.x [^\r\n]*\r\n\{[^\r\n]*\}\r\n/, 10_000);
        sysConn.take();
        // The answer without its server block (ids, clocks).
        const answer = JSON.parse(/\r\n(\{[^\r\n]*\})\r\n/.exec(got)![1]!) as Record<string, unknown>;
        const reply = JSON.stringify({ ...answer, server: undefined });
        // A claim update's effect on connections (closes, -ERRs) is applied by then on both; a
        // connection over its new subscription limit is closed a moment after its error.
        await syncAll(conns);
        for (const x of conns) if (x.text().includes("maximum subscriptions exceeded")) await x.waitClosed(10_000);
        out.push(`reply ${named(s, reply)} => ${conns.map((x, i) => `${i}: ${received(s, x)}`).join(" | ")}`);
        continue;
      }
      const c = conns[op.who]!;
      if (c.closed) {
        out.push("closed");
        continue;
      }
      c.send(wire(op));
      await syncAll(conns, c);
      out.push(conns.map((x, i) => `${i}: ${received(s, x)}`).join(" | "));
    }
    return out;
  } finally {
    for (const c of conns) c.close();
    sysConn.close();
  }
}

/** Every account's JWT after each update is made once, so both servers get the same ones. */
function updates(s: Scenario): (op: Op & { t: "update" }) => Promise<string> {
  const made = new Map<Op, Promise<string>>();
  const current = s.accounts.map((a) => ({ ...a.claims }));
  for (const op of s.ops) {
    if (op.t !== "update") continue;
    const a = s.accounts[op.account]!;
    if (op.bad === "garbage") made.set(op, Promise.resolve("eyJhbGciOiJlZDI1NTE5In0.e30.not-a-jwt"));
    else if (op.bad === "other account") made.set(op, accountJwt(s.op, s.accounts[1 - op.account]!, current[1 - op.account]!));
    else if (op.bad === "foreign operator") made.set(op, encodeAccount(a.name, a.kp, current[op.account]!, { signer: createOperator() }));
    else if (op.bad === "expired") made.set(op, encodeAccount(a.name, a.kp, current[op.account]!, { signer: s.op.signingKey ?? s.op.kp, exp: Math.floor(Date.now() / 1000) - 5 }));
    else {
      current[op.account] = { ...current[op.account], ...op.change };
      made.set(op, accountJwt(s.op, a, current[op.account]!));
    }
  }
  return (op) => made.get(op)!;
}

function userSummary(s: Scenario): string {
  return s.users
    .map((u, i) => `u${i} ${u.name} of ${s.accounts[u.account]!.name} signed ${u.signer} sig ${u.sig}${u.revoked ? " revoked" : ""}${u.exp ? ` exp ${u.exp}` : ""}${u.nbf ? " nbf" : ""} ${JSON.stringify(u.claims)}`)
    .concat(s.accounts.map((a) => `${a.name} ${JSON.stringify({ ...a.claims, signing_keys: undefined, revocations: undefined })} template ${JSON.stringify(a.claims.signing_keys?.[1])}`))
    .join("\n");
}

describe("operator mode side by side with nats-server 2.15 (random JWTs, logins, traffic and claim updates)", { skip }, () => {
  // Seeds 1-8, and seeds of the sweep that found differences.
  for (const seed of [...Array.from({ length: 8 }, (_, i) => i + 1), 19, 21]) {
    it(`seed ${seed}`, async () => {
      const s = await scenario(seed, 40);
      // Even seeds use the full resolver, each server with its own directory.
      const dirs = seed % 2 === 0 ? [fs.mkdtempSync(path.join(os.tmpdir(), "jwt-sweep-")), fs.mkdtempSync(path.join(os.tmpdir(), "jwt-sweep-"))] : [];
      const fixtures = await Promise.all(s.users.map((u) => userFixture(s, u)));
      const jwts = updates(s);
      const ref = await startNatsServer([], await config(s, dirs[0]), "2.15");
      const ts = await startNatsServer([], await config(s, dirs[1]), "tsnats");
      try {
        const [a, b] = await Promise.all([run(ref, s, fixtures, jwts), run(ts, s, fixtures, jwts)]);
        const diffs: string[] = [];
        const labels = [...s.users.map((_, i) => `login u${i}`), ...s.ops.map(describeOp)];
        for (let i = 0; i < a.length; i++) {
          if (a[i] !== b[i]) diffs.push(`#${i} ${labels[i]}\n  ref ${JSON.stringify(a[i])}\n  ts  ${JSON.stringify(b[i])}`);
        }
        assert.deepEqual(diffs, [], userSummary(s));
      } finally {
        await Promise.all([ref.stop(), ts.stop()]);
        for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
      }
    });
  }
});
