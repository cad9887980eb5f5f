// Shared test helper: operators, accounts and users made with @nats-io/jwt and
// @nats-io/nkeys (as nsc makes them: limits default to -1, "unlimited"), `.creds` files, and
// operator-mode config text that tsnats and nats-server are both started with.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds, type Account, type Operator, type User } from "@nats-io/jwt";
import { loadConfigFile } from "../../src/config/load.js";
import type { EmbeddedOptions } from "../../src/index.js";
import { startTestServer, type TestServer } from "./server.js";
import { RawConn, connectLine } from "./raw.js";

export interface OperatorFixture {
  kp: KeyPair;
  pub: string;
  jwt: string;
  /** An operator signing key, when asked for. */
  signingKey?: KeyPair;
  sys: AccountFixture;
}

export interface AccountFixture {
  name: string;
  kp: KeyPair;
  pub: string;
  jwt: string;
  /** Claims it was issued with (to re-issue it with changes). */
  claims: Partial<Account>;
}

export interface UserFixture {
  kp: KeyPair;
  pub: string;
  jwt: string;
  seed: Uint8Array;
  /** The `.creds` file contents. */
  creds: Uint8Array;
}

export interface Validity {
  exp?: number;
  nbf?: number;
}

/** Account limits as nsc writes them: everything unlimited, JetStream off. */
export const UNLIMITED_ACCOUNT = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export async function newOperator(opts: { signingKey?: boolean; strict?: boolean; sysName?: string } = {}): Promise<OperatorFixture> {
  const kp = createOperator();
  const signingKey = opts.signingKey || opts.strict ? createOperator() : undefined;
  const sysKp = createAccount();
  const claims: Partial<Operator> = { system_account: sysKp.getPublicKey() };
  if (signingKey !== undefined) claims.signing_keys = [signingKey.getPublicKey()];
  if (opts.strict) (claims as Record<string, unknown>).strict_signing_key_usage = true;
  const jwt = await encodeOperator("OP", kp, claims);
  const op: OperatorFixture = { kp, pub: kp.getPublicKey(), jwt, signingKey, sys: undefined as unknown as AccountFixture };
  op.sys = await newAccount(op, opts.sysName ?? "SYS", {}, {}, sysKp);
  return op;
}

/** An account of `op`, signed by the operator's signing key when it has one. */
export async function newAccount(
  op: OperatorFixture,
  name: string,
  claims: Partial<Account> = {},
  validity: Validity = {},
  kp: KeyPair = createAccount(),
): Promise<AccountFixture> {
  const full: Partial<Account> = { ...claims, limits: { ...UNLIMITED_ACCOUNT, ...(claims.limits ?? {}) } };
  const jwt = await encodeAccount(name, kp, full, { signer: op.signingKey ?? op.kp, ...validity });
  return { name, kp, pub: kp.getPublicKey(), jwt, claims };
}

/** Re-issue an account JWT with other claims (same key). */
export async function reissueAccount(op: OperatorFixture, acc: AccountFixture, claims: Partial<Account>, validity: Validity = {}): Promise<AccountFixture> {
  return newAccount(op, acc.name, claims, validity, acc.kp);
}

/**
 * A user of `acc`. `signer` is an account signing key (the JWT then names the account in
 * `issuer_account`); `scoped` writes no permissions or limits (as a scoped key requires).
 */
export async function newUser(
  acc: AccountFixture,
  name: string,
  user: Partial<User> = {},
  opts: Validity & { signer?: KeyPair; scoped?: boolean; kp?: KeyPair } = {},
): Promise<UserFixture> {
  const kp = opts.kp ?? createUser();
  const { signer, scoped, exp, nbf } = opts;
  const jwt = await encodeUser(name, kp, acc.kp, user, { signer, scopedUser: scoped, exp, nbf });
  return { kp, pub: kp.getPublicKey(), jwt, seed: kp.getSeed(), creds: fmtCreds(jwt, kp) };
}

/** Seconds since the epoch, `delta` seconds from now. */
export function epoch(delta = 0): number {
  return Math.floor(Date.now() / 1000) + delta;
}

/** Operator-mode config with the memory resolver preloaded with `accounts` (and the system account). */
export function memoryResolverConfig(op: OperatorFixture, accounts: AccountFixture[], extra = ""): string {
  const preload = [op.sys, ...accounts].map((a) => `  ${a.pub}: ${a.jwt}`).join("\n");
  return `operator: ${op.jwt}\nsystem_account: ${op.sys.pub}\nresolver: MEMORY\nresolver_preload: {\n${preload}\n}\n${extra}`;
}

/** A tsnats server started from config text (as nats-server would read it), with embedding extras (a log). */
export async function startFromConfigText(text: string, extra: EmbeddedOptions = {}): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-jwt-conf-"));
  try {
    const file = path.join(dir, "server.conf");
    fs.writeFileSync(file, text);
    const { jetstream: _js, ...opts } = loadConfigFile(file);
    return await startTestServer({ ...opts, ...extra, host: "127.0.0.1", port: -1 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Sign the INFO nonce of a raw connection as the user. */
export function signNonce(c: RawConn, u: { kp: KeyPair }): string {
  const nonce = c.info.nonce;
  if (typeof nonce !== "string") throw new Error("INFO has no nonce");
  return Buffer.from(u.kp.sign(Buffer.from(nonce))).toString("base64url");
}

/** What a raw login got: the text after CONNECT+PING, and whether the server closed. */
export interface RawLogin {
  conn: RawConn;
  ok: boolean;
  out: string;
  closed: boolean;
}

/**
 * Log in over raw TCP: CONNECT with `fields(conn)` (the nonce is known by then), PING, and
 * wait for PONG or an error; on error also wait for the close.
 */
export async function rawLogin(port: number, fields: (c: RawConn) => Record<string, unknown>): Promise<RawLogin> {
  const conn = await RawConn.connect(port);
  conn.send(`${connectLine(fields(conn))}PING\r\n`);
  // Generous safety deadlines: a login can wait out an auth timeout or a slow callout service.
  let out = await conn.waitFor((t) => t.includes("PONG\r\n") || t.includes("-ERR"), 30_000, true);
  const ok = out.includes("PONG\r\n");
  if (!ok) out = await conn.waitClosed(30_000);
  return { conn, ok, out, closed: conn.closed };
}

/** A JWT login with the user's nonce signature (unless `sig` overrides it). */
export function jwtLogin(port: number, u: UserFixture, extra: Record<string, unknown> = {}): Promise<RawLogin> {
  return rawLogin(port, (c) => ({ jwt: u.jwt, sig: signNonce(c, u), ...extra }));
}
