// Decides which account a connecting client belongs to, from its CONNECT credentials.
// Covers the single user/password, token and users-list forms of nats-server's
// `authorization` block, the users of `accounts`, nkey users (a signature over the nonce
// of the connection's INFO), bcrypt-hashed passwords and tokens, and in operator mode the
// user JWT chain (user_jwt.ts). The connection type (STANDARD, WEBSOCKET...) is an input:
// a user restricted by `allowed_connection_types` only logs in over the types it names.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { AuthCalloutConfig, ServerOptions, UserConfig } from "../config/options.js";
import { bcryptMatches, isBcryptHash } from "./bcrypt.js";
import { certificateNames, mapCertificateToUser, type CertificateNames } from "./cert_names.js";
import { tlsStateOf } from "../server/tls.js";
import { AuthFailure, type AuthOutcome, type AuthResult } from "./auth_result.js";
import type { JwtAccounts } from "./jwt_accounts.js";
import { AuthCallout } from "./auth_callout.js";
import type { AuthVerdict } from "./auth_result.js";
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

/** Continue with a verdict that may still be on its way (bcrypt, account fetch, callout). */
function then(outcome: AuthOutcome, f: (r: AuthVerdict) => AuthVerdict | Promise<AuthVerdict>): AuthOutcome {
  return outcome instanceof Promise ? outcome.then(f) : f(outcome);
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
    /** Sends authorization requests to an auth callout service (config `auth_callout`, or accounts with `authorization` claims). */
    private readonly callout?: AuthCallout,
    /** Configured accounts only (never creates one): where a callout may place users. */
    private readonly existingAccount: (name: string) => Account | undefined = () => undefined,
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
    if (this.jwtAccounts !== undefined) {
      const outcome = authenticateUserJwt(this.jwtAccounts, client, this.options.defaultSentinel);
      return this.callout === undefined ? outcome : then(outcome, (r) => this.operatorCallout(client, r));
    }
    const outcome = this.authenticateConfigured(client);
    return this.callout === undefined || this.options.authCallout === undefined ? outcome : then(outcome, (r) => this.configCallout(client, r));
  }

  /**
   * Config mode with `auth_callout`: every user but the service's own (`auth_users`) is
   * decided by the service, whatever the local verdict, except users bound to an account
   * outside `allowed_accounts` (when it lists some).
   */
  private configCallout(client: Client, r: AuthVerdict): AuthVerdict | Promise<AuthVerdict> {
    const ac = this.options.authCallout as AuthCalloutConfig;
    const bound = r !== undefined && !(r instanceof AuthFailure) ? r.account : this.globalAccount;
    if (bound !== this.globalAccount && ac.allowedAccounts.length > 0 && !ac.allowedAccounts.includes(bound.name)) return r;
    if (ac.authUsers.includes(AuthCallout.rawUser(client))) return r;
    const account = this.existingAccount(ac.account);
    if (account === undefined) {
      const why = `No valid account ${JSON.stringify(ac.account)} for auth callout request: account missing`;
      return new AuthFailure(why);
    }
    const existing = this.existingAccount;
    return (this.callout as AuthCallout).run(client, {
      account,
      issuer: ac.issuer,
      xkey: ac.xkey,
      operatorMode: false,
      allowedAccounts: [],
      lookup: (name) => {
        const a = existing(name);
        if (a === undefined) throw new Error("account missing");
        return a;
      },
    });
  }

  /**
   * Operator mode: a user logged in (with a sentinel JWT) to an account whose JWT has
   * `authorization` claims is decided by that account's service, unless it is one of the
   * service's own users.
   */
  private operatorCallout(client: Client, r: AuthVerdict): AuthVerdict | Promise<AuthVerdict> {
    if (r === undefined || r instanceof AuthFailure) return r;
    const ext = r.account.claims?.externalAuth;
    if (ext === undefined || ext.authUsers.includes(r.jwt?.pubKey ?? "")) return r;
    const accounts = this.jwtAccounts as JwtAccounts;
    return (this.callout as AuthCallout).run(client, {
      account: r.account,
      issuer: r.account.name,
      xkey: ext.xkey === "" ? undefined : ext.xkey,
      operatorMode: true,
      allowedAccounts: ext.allowedAccounts,
      lookup: (name) => accounts.lookup(name),
    });
  }

  private authenticateConfigured(client: Client): AuthOutcome {
    const c = client.opts;
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
    const tlsMap = this.mapsCertificates(client.connectionType);
    if (tlsMap && this.users.size > 0) return this.authenticateByCertificate(client);
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
        // A user without a password is a certificate identity where a listener maps
        // certificates: it cannot log in elsewhere by naming itself with an empty password.
        if (!entry.user.password && this.isCertificateIdentity(entry)) return new AuthFailure(`User "${c.user}" requires a client certificate`);
        const result = { account: this.lookupAccount(entry.account), user: c.user, permissions: entry.permissions };
        return resultIf(secretMatches(c.pass ?? "", entry.user.password ?? ""), result);
      }
    }
    return undefined;
  }

  /** Does the listener of this connection type map client certificates to users (verify_and_map)? */
  private mapsCertificates(type: ConnectionType): boolean {
    const o = this.options;
    if (type === "STANDARD") return o.tls?.verifyAndMap === true;
    if (type === "WEBSOCKET") return o.websocket?.tls?.verifyAndMap === true;
    return false;
  }

  /** Could a listener that maps certificates select this user (nats-server's canTLSMap)? */
  private isCertificateIdentity(entry: UserEntry): boolean {
    const ws = this.options.websocket;
    return (
      (this.mapsCertificates("STANDARD") && connectionTypeAllowed(entry.connectionTypes, "STANDARD")) ||
      (ws !== undefined && ws.port !== 0 && this.mapsCertificates("WEBSOCKET") && connectionTypeAllowed(entry.connectionTypes, "WEBSOCKET"))
    );
  }

  /**
   * verify_and_map: the verified client certificate names the user (SAN e-mail, DNS or URI,
   * or the subject DN; see cert_names.ts). The user's password, if it has one, must still match.
   */
  private authenticateByCertificate(client: Client): AuthOutcome {
    const cert = tlsStateOf(client)?.peerCertificate;
    if (cert === undefined) return new AuthFailure("User required in cert, no peer certificates found");
    let names: CertificateNames;
    try {
      names = certificateNames(cert.raw);
    } catch (err) {
      return new AuthFailure(`User required in cert, certificate not readable: ${(err as Error).message}`);
    }
    const candidates: string[] = [];
    for (const [name, e] of this.users) if (connectionTypeAllowed(e.connectionTypes, client.connectionType)) candidates.push(name);
    const user = mapCertificateToUser(names, candidates);
    if (user === undefined) return new AuthFailure(`User in cert [${names.rdnString}], not found`);
    const entry = this.users.get(user) as UserEntry;
    const result = { account: this.lookupAccount(entry.account), user, permissions: entry.permissions };
    return resultIf(secretMatches(client.opts.pass ?? "", entry.user.password ?? ""), result);
  }
}
