// Decides which account a connecting client belongs to, from its CONNECT credentials.
// Covers the single user/password, token and users-list forms of nats-server's
// `authorization` block, the users of `accounts`, nkey users (a signature over the nonce
// of the connection's INFO) and bcrypt-hashed passwords and tokens.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { fromPublic } from "@nats-io/nkeys";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { ServerOptions, UserConfig } from "../config/options.js";
import { bcryptMatches, isBcryptHash } from "./bcrypt.js";

/** A user's own connection limits (operator mode user claims); -1 or absent = none. */
export interface UserLimits {
  subs?: number;
  payload?: number;
}

export interface AuthResult {
  account: Account;
  user: string | undefined;
  /** The user's permissions block as configured (or its default); enforced per client. */
  permissions?: unknown;
  limits?: UserLimits;
}

/** Checking a bcrypt hash runs off the main thread, so some outcomes arrive later. */
export type AuthOutcome = AuthResult | undefined | Promise<AuthResult | undefined>;

interface UserEntry {
  user: UserConfig;
  account: string;
  permissions: unknown;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A client's secret against the configured one, which may be a bcrypt hash. */
function secretMatches(given: string, configured: string): boolean | Promise<boolean> {
  return isBcryptHash(configured) ? bcryptMatches(given, configured) : sameSecret(given, configured);
}

function resultIf(ok: boolean | Promise<boolean>, result: AuthResult): AuthOutcome {
  if (typeof ok === "boolean") return ok ? result : undefined;
  return ok.then((yes) => (yes ? result : undefined));
}

/** nats-server's nonce: 11 random bytes, base64url without padding (15 characters). */
export function newNonce(): string {
  return randomBytes(11).toString("base64url");
}

// nats-server decodes the signature as unpadded base64url, else as padded standard base64;
// Buffer's decoder is lenient about both alphabet and padding, so the shapes are checked first.
const RAW_URL_B64 = /^[A-Za-z0-9_-]*$/;
const STD_B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeSignature(sig: string): Buffer | undefined {
  if (RAW_URL_B64.test(sig) && sig.length % 4 !== 1) return Buffer.from(sig, "base64url");
  if (STD_B64.test(sig) && sig.length % 4 === 0) return Buffer.from(sig, "base64");
  return undefined;
}

function nonceSignedBy(nkey: string, nonce: string, sig: string): boolean {
  const sigBytes = decodeSignature(sig);
  if (sigBytes === undefined) return false;
  try {
    return fromPublic(nkey).verify(Buffer.from(nonce), sigBytes);
  } catch {
    return false; // not a public key, or a signature of the wrong size
  }
}

export class Authenticator {
  readonly required: boolean;
  private readonly users = new Map<string, UserEntry>();
  private readonly nkeys = new Map<string, UserEntry>();

  constructor(
    private readonly options: ServerOptions,
    private readonly lookupAccount: (name: string) => Account,
    private readonly globalAccount: Account,
  ) {
    const add = (u: UserConfig, account: string, permissions: unknown): void => {
      const entry = { user: u, account, permissions };
      if (u.nkey !== undefined) this.nkeys.set(u.nkey, entry);
      else if (u.user !== undefined) this.users.set(u.user, entry);
    };
    for (const u of options.users) add(u, u.account ?? "$G", u.permissions ?? options.defaultPermissions);
    for (const acc of options.accounts) {
      for (const u of acc.users) add(u, acc.name, u.permissions ?? acc.defaultPermissions);
    }
    this.required =
      options.username !== undefined || options.authorization !== undefined || this.users.size > 0 || this.nkeys.size > 0;
  }

  /** Whether connections need a nonce in their INFO: only when nkey users can log in. */
  get nonceRequired(): boolean {
    return this.nkeys.size > 0;
  }

  authenticate(client: Client): AuthOutcome {
    const o = this.options;
    const c = client.opts;
    if (!this.required) return { account: this.globalAccount, user: undefined };
    // A client presenting an nkey is judged by it alone once nkey users exist.
    if (this.nkeys.size > 0 && c.nkey !== undefined) {
      const entry = this.nkeys.get(c.nkey);
      if (entry === undefined || client.nonce === undefined || c.sig === undefined) return undefined;
      if (!nonceSignedBy(c.nkey, client.nonce, c.sig)) return undefined;
      return { account: this.lookupAccount(entry.account), user: c.nkey, permissions: entry.permissions };
    }
    if (o.authorization !== undefined && c.authToken !== undefined) {
      const ok = secretMatches(c.authToken, o.authorization);
      if (ok === true) return { account: this.globalAccount, user: undefined };
      // A hashed token is the only credential of its block (nats-server allows no users beside it).
      if (ok !== false) return resultIf(ok, { account: this.globalAccount, user: undefined });
    }
    if (o.username !== undefined && c.user === o.username) {
      return resultIf(secretMatches(c.pass ?? "", o.password ?? ""), { account: this.globalAccount, user: c.user });
    }
    if (c.user === undefined && c.authToken === undefined && o.noAuthUser !== undefined) {
      const entry = this.users.get(o.noAuthUser);
      if (entry !== undefined) {
        return { account: this.lookupAccount(entry.account), user: o.noAuthUser, permissions: entry.permissions };
      }
    }
    if (c.user !== undefined) {
      const entry = this.users.get(c.user);
      if (entry !== undefined) {
        const result = { account: this.lookupAccount(entry.account), user: c.user, permissions: entry.permissions };
        return resultIf(secretMatches(c.pass ?? "", entry.user.password ?? ""), result);
      }
    }
    return undefined;
  }
}
