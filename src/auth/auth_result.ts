// What authentication decides about a connection: the account and permissions it gets (and,
// for JWT users, what their JWT says), or why it was refused.
import type { Account } from "../server/account.js";

/** A user that logged in with a JWT (operator mode, or placed by an auth callout). */
export interface JwtUser {
  /** The user JWT as presented ("" for auth callout users: their JWT is not kept, as in nats-server). */
  token: string;
  /** The user's public nkey (the JWT subject). */
  pubKey: string;
  /** The JWT's `iat`: revocations apply to JWTs issued at or before their time. */
  issuedAt: number;
  /** The account signing key that issued the JWT; "" when the account key did. */
  signingKey: string;
  name: string;
  tags: string[];
  bearer: boolean;
  /** The JWT names no permissions: the account's default permissions apply (and follow updates). */
  defaultPermissions: boolean;
}

/** A user's own connection limits (from its JWT); -1 or absent = none. */
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
  jwt?: JwtUser;
  /** When the login expires (ms since epoch); absent or 0: never. */
  expiresAt?: number;
}

/** A refused login. The reason is for the server's debug log; the client sees "Authorization Violation". */
export class AuthFailure {
  constructor(
    readonly reason: string,
    /** The account whose owners hear of it ($SYS.ACCOUNT.CLIENT.AUTH.ERR); default: the client's. */
    readonly eventAccount?: Account,
    /** The reason that event gives (an auth callout's error); default "Authentication Failure". */
    readonly eventReason?: string,
  ) {}
}

/** Checking a bcrypt hash, or fetching an account JWT, finishes later: some outcomes are promises. */
export type AuthVerdict = AuthResult | AuthFailure | undefined;
export type AuthOutcome = AuthVerdict | Promise<AuthVerdict>;
