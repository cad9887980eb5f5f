// Decides which account a connecting client belongs to, from its CONNECT credentials.
// Covers the single user/password, token and users-list forms of nats-server's
// `authorization` block, the users of `accounts`, nkey users (a signature over the nonce
// of the connection's INFO), bcrypt-hashed passwords and tokens, and in operator mode the
// user JWT chain (user_jwt.ts). The connection type (STANDARD, WEBSOCKET...) is an input:
// a user restricted by `allowed_connection_types` only logs in over the types it names.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { ServerOptions, UserConfig } from "../config/options.js";
import { bcryptMatches, isBcryptHash } from "./bcrypt.js";
import { AuthFailure, type AuthOutcome, type AuthResult } from "./auth_result.js";
import type { JwtAccounts } from "./jwt_accounts.js";
import { authenticateUserJwt, nonceSignedBy } from "./user_jwt.js";
import { allowedConnectionTypes, connectionTypeAllowed, type AllowedConnectionTypes, type ConnectionType } from "./user_limits.js";

export { AuthFailure } from "./auth_result.js";
export type { AuthOutcome, AuthResult, AuthVerdict, JwtUser, UserLimits } from "./auth_result.js";

/** The single user/password, token and no_auth_user of a listener. */
interface SimpleAuth {
  username?: string;
  password?: string;
  token?: string;
  noAuthUser?: string;
}

interface UserEntry {
  user: UserConfig;
  account: string;
  permissions: unknown;
  connectionTypes: AllowedConnectionTypes;
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

export class Authenticator {
  readonly required: boolean;
  private readonly simple: SimpleAuth;
  /**
   * `websocket { authorization {} / no_auth_user }`: when it names a user, token or
   * no_auth_user, it replaces the server's for WebSocket clients (users lists still apply).
   */
  private readonly websocketSimple: SimpleAuth | undefined;
  private readonly users = new Map<string, UserEntry>();
  private readonly nkeys = new Map<string, UserEntry>();

  constructor(
    private readonly options: ServerOptions,
    private readonly lookupAccount: (name: string) => Account,
    private readonly globalAccount: Account,
    /** Operator mode: the accounts built from JWTs. Users then log in with user JWTs only. */
    private readonly jwtAccounts?: JwtAccounts,
  ) {
    const add = (u: UserConfig, account: string, permissions: unknown): void => {
      const entry = { user: u, account, permissions, connectionTypes: allowedConnectionTypes(u.allowedConnectionTypes) };
      if (u.nkey !== undefined) this.nkeys.set(u.nkey, entry);
      else if (u.user !== undefined) this.users.set(u.user, entry);
    };
    for (const u of options.users) add(u, u.account ?? "$G", u.permissions ?? options.defaultPermissions);
    for (const acc of options.accounts) {
      for (const u of acc.users) add(u, acc.name, u.permissions ?? acc.defaultPermissions);
    }
    this.required =
      jwtAccounts !== undefined ||
      options.username !== undefined ||
      options.authorization !== undefined ||
      this.users.size > 0 ||
      this.nkeys.size > 0;
    this.simple = { username: options.username, password: options.password, token: options.authorization, noAuthUser: options.noAuthUser };
    const ws = options.websocket;
    if (ws !== undefined && (ws.username !== undefined || ws.token !== undefined || ws.noAuthUser !== undefined)) {
      this.websocketSimple = { username: ws.username, password: ws.password, token: ws.token, noAuthUser: ws.noAuthUser };
    }
  }

  /** Must a connection of this type authenticate (CONNECT first, auth_required in INFO)? */
  requiredFor(type: ConnectionType): boolean {
    return this.required || (type === "WEBSOCKET" && this.websocketSimple !== undefined);
  }

  /** How long a connection of this type has to send its CONNECT when authentication is required. */
  timeoutMsFor(type: ConnectionType): number {
    const ws = type === "WEBSOCKET" ? this.options.websocket?.authTimeoutMs : undefined;
    return ws !== undefined && ws > 0 ? ws : this.options.authTimeoutMs;
  }

  /** Whether connections need a nonce in their INFO: when nkey users can log in, and always in operator mode. */
  get nonceRequired(): boolean {
    return this.nkeys.size > 0 || this.jwtAccounts !== undefined;
  }

  get operatorMode(): boolean {
    return this.jwtAccounts !== undefined;
  }

  authenticate(client: Client): AuthOutcome {
    const c = client.opts;
    if (this.jwtAccounts !== undefined) return authenticateUserJwt(this.jwtAccounts, client, this.options.defaultSentinel);
    const o = (client.connectionType === "WEBSOCKET" ? this.websocketSimple : undefined) ?? this.simple;
    if (!this.requiredFor(client.connectionType)) return { account: this.globalAccount, user: undefined };
    // A client presenting an nkey is judged by it alone once nkey users exist.
    if (this.nkeys.size > 0 && c.nkey !== undefined) {
      const entry = this.nkeys.get(c.nkey);
      if (entry === undefined) return undefined;
      if (!connectionTypeAllowed(entry.connectionTypes, client.connectionType)) return new AuthFailure("Connection type not allowed");
      const bad = nonceSignedBy(c.nkey, client.nonce, c.sig);
      if (bad !== undefined) return bad;
      return { account: this.lookupAccount(entry.account), user: c.nkey, permissions: entry.permissions };
    }
    if (o.token !== undefined && c.authToken !== undefined) {
      const ok = secretMatches(c.authToken, o.token);
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
        if (!connectionTypeAllowed(entry.connectionTypes, client.connectionType)) return new AuthFailure("Connection type not allowed");
        return { account: this.lookupAccount(entry.account), user: o.noAuthUser, permissions: entry.permissions };
      }
    }
    if (c.user !== undefined) {
      const entry = this.users.get(c.user);
      if (entry !== undefined) {
        if (!connectionTypeAllowed(entry.connectionTypes, client.connectionType)) return new AuthFailure("Connection type not allowed");
        const result = { account: this.lookupAccount(entry.account), user: c.user, permissions: entry.permissions };
        return resultIf(secretMatches(c.pass ?? "", entry.user.password ?? ""), result);
      }
    }
    return undefined;
  }
}
