// What an account's JWT means for the running server (operator mode): its signing keys and
// their scopes, user revocations, bearer-token policy, expiry, connection/subscription/payload
// limits and default permissions, attached to the Account as `account.claims`.
//
// `applyAccountClaims` installs a (verified) JWT on an account and brings its live
// connections in line, as nats-server does on every claim update: connections over the new
// connection limit are closed (newest first), the others get the new limits, revoked users
// and bearer users of an account that no longer allows them are disconnected, users whose
// signing key was removed or re-scoped are dropped, and an expired account closes them all.
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { Server } from "../server/server.js";
import { isValidLiteralSubject } from "../protocol/subject.js";
import { jetStreamLimitsFromClaims } from "./jwt_jetstream.js";
import { isRevoked, type AccountClaims, type ExternalAuthorization, type RevocationList, type SigningKeys, type UserScope } from "./claims.js";
import { jwtPermissionsToConfig } from "./permissions.js";
import { emptyShared, type SharedState } from "./jwt_sharing.js";

export class AccountJwtState {
  signingKeys: SigningKeys = new Map();
  revocations: RevocationList = new Map();
  disallowBearer = false;
  /** The JWT's `exp` passed (or the account was deleted): nobody may connect. */
  expired = false;
  /** Permissions of users whose JWT names none (config form). */
  defaultPermissions: Record<string, unknown> | undefined;
  /** Auth callout settings of the account (`authorization` claim). */
  externalAuth: ExternalAuthorization | undefined;
  /** When the claims were last applied (ms), to rate-limit refetches. */
  updatedAt = 0;
  /** The exports, imports and timers the JWT installed (jwt_sharing.ts). */
  readonly shared: SharedState = emptyShared();
  expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    public token: string,
    public claims: AccountClaims,
  ) {}

  get nameTag(): string {
    return this.claims.data.name ?? "";
  }

  get tags(): string[] {
    return this.claims.tags;
  }

  /** The operator key that signed the account JWT. */
  get issuer(): string {
    return this.claims.data.iss;
  }

  /**
   * May `key` sign users of this account? The scope when it is a scoped signing key, null
   * for the account key or a plain signing key, undefined when it may not.
   */
  signer(key: string): UserScope | null | undefined {
    return this.signingKeys.has(key) ? (this.signingKeys.get(key) ?? null) : undefined;
  }
}

function sameScope(a: UserScope | null | undefined, b: UserScope | null | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Every connection of the account, oldest first (internal clients are not in the set). */
function clientsOf(acc: Account): Client[] {
  return [...acc.clients].sort((x, y) => x.start.getTime() - y.start.getTime() || x.cid - y.cid);
}

/** Close the account's connections: its JWT expired or was removed. */
export function expireAccount(acc: Account): void {
  const state = acc.claims;
  if (state !== undefined) state.expired = true;
  for (const c of clientsOf(acc)) c.accountAuthExpired();
}

function scheduleExpiry(acc: Account, state: AccountJwtState, exp: number | undefined): void {
  if (state.expiryTimer !== undefined) clearTimeout(state.expiryTimer);
  state.expiryTimer = undefined;
  if (exp === undefined || exp === 0) {
    state.expired = false;
    return;
  }
  const nowSec = Math.floor(Date.now() / 1000);
  if (exp <= nowSec) {
    state.expired = true;
    return;
  }
  state.expired = false;
  const fire = (): void => {
    const left = exp * 1000 - Date.now();
    // setTimeout holds at most ~24.8 days; re-arm until the real moment.
    if (left > 0) state.expiryTimer = setTimeout(fire, Math.min(left, 0x7fffffff)).unref();
    else expireAccount(acc);
  };
  state.expiryTimer = setTimeout(fire, Math.min((exp - nowSec) * 1000, 0x7fffffff)).unref();
}

/**
 * Install `claims` (already verified) as the account's JWT and apply them to its live
 * connections. `strictSigningKeys` are operator keys whose accounts must sign users with
 * signing keys (the account key itself may not).
 */
export function applyAccountClaims(server: Server, acc: Account, token: string, claims: AccountClaims, strictSigningKeys: ReadonlySet<string>): void {
  if (server.log.debugEnabled) server.log.debug(`Updating account claims: ${acc.name}/${claims.data.name ?? ""}`);
  const prev = acc.claims;
  const oldKeys = prev?.signingKeys ?? new Map<string, UserScope | null>();
  const oldDefaults = JSON.stringify(prev?.defaultPermissions ?? null);
  const state = prev ?? new AccountJwtState(token, claims);
  state.token = token;
  state.claims = claims;
  acc.claims = state;
  scheduleExpiry(acc, state, claims.data.exp);

  const auth = claims.authorization;
  state.externalAuth = auth.authUsers.length > 0 ? { authUsers: [...auth.authUsers], allowedAccounts: [...auth.allowedAccounts], xkey: auth.xkey } : undefined;

  // Signing keys: the account key signs users too, unless its operator requires signing keys.
  const keys: SigningKeys = new Map(claims.signingKeys);
  if (!strictSigningKeys.has(claims.data.iss)) keys.set(acc.name, null);
  const altered = new Set<string>();
  let signersChanged = keys.size !== oldKeys.size;
  for (const [k, scope] of keys) {
    if (!oldKeys.has(k)) signersChanged = true;
    else if (!sameScope(scope, oldKeys.get(k))) {
      signersChanged = true;
      altered.add(k);
    }
  }
  state.signingKeys = keys;

  // Message tracing of sampled traceparent headers (nats-server: an invalid destination means
  // none, a sampling outside 1..100 means all).
  const t = claims.trace;
  if (t !== undefined && isValidLiteralSubject(t.dest)) {
    acc.traceDest = t.dest;
    acc.traceSampling = t.sampling <= 0 || t.sampling > 100 ? 100 : t.sampling;
  } else {
    acc.traceDest = undefined;
    acc.traceSampling = 0;
  }

  const l = claims.limits;
  acc.limits.maxSubscriptions = l.subs;
  acc.limits.maxPayload = l.payload;
  acc.limits.maxConnections = l.conn;
  acc.limits.maxLeafNodes = l.leaf;
  state.disallowBearer = l.disallowBearer;
  state.revocations = claims.revocations;
  state.defaultPermissions = jwtPermissionsToConfig(claims.defaultPermissions);
  const defaultsChanged = JSON.stringify(state.defaultPermissions ?? null) !== oldDefaults;
  state.updatedAt = Date.now();
  server.jwtAccounts?.sharing.apply(acc, claims);
  // JetStream follows the claims' limits (enabled, changed or taken away) on accountClaims.
  acc.jetStreamLimits = jetStreamLimitsFromClaims(claims.limits);

  const checkUsers = claims.revocations.size > 0 || claims.jwt.claims.nats.revocations !== undefined || l.disallowBearer;
  let count = 0;
  for (const c of clientsOf(acc)) {
    if (c.closed) continue;
    if (l.conn !== -1 && count >= l.conn) {
      c.maxAccountConnectionsExceeded();
      continue;
    }
    count++;
    c.applyAccountLimits();
    if (c.closed) continue;
    const u = c.jwtUser;
    if (u === undefined) continue;
    if (defaultsChanged && u.defaultPermissions) c.setPermissions(state.defaultPermissions);
    if (checkUsers && u.token !== "") {
      if (u.bearer && l.disallowBearer) {
        if (server.log.debugEnabled) server.log.debug(`${c.logPrefix()} - Bearer User JWT not allowed`);
        c.authViolation();
        continue;
      }
      if (isRevoked(claims.revocations, u.pubKey, u.issuedAt) || u.issuedAt === 0) {
        c.credentialsRevoked();
        continue;
      }
    }
    // Users of an auth callout carry no JWT: their nkey and issue time are checked instead.
    if (u.token === "" && u.issuedAt > 0 && isRevoked(claims.revocations, u.pubKey, u.issuedAt)) {
      c.credentialsRevoked();
      continue;
    }
  }
  if (signersChanged) {
    for (const c of clientsOf(acc)) {
      const sk = c.jwtUser?.signingKey ?? "";
      if (c.closed || sk === "") continue;
      if (altered.has(sk) || !keys.has(sk)) c.close("Authentication Failure");
    }
  }
  if (state.expired) expireAccount(acc);
  for (const l of server.events.accountClaims) l(acc);
}

/** An account JWT was deleted: lock out new connections and close the existing ones. */
export function disableAccount(acc: Account): void {
  acc.limits.maxSubscriptions = 0;
  acc.limits.maxPayload = 0;
  acc.limits.maxConnections = 0;
  acc.limits.maxLeafNodes = 0;
  expireAccount(acc);
  const state = acc.claims;
  if (state?.expiryTimer !== undefined) clearTimeout(state.expiryTimer);
  if (state !== undefined) state.expiryTimer = undefined;
}

/** Stop the account's timers (server shutdown, account dropped). */
export function releaseAccountClaims(acc: Account): void {
  const state = acc.claims;
  if (state === undefined) return;
  if (state.expiryTimer !== undefined) clearTimeout(state.expiryTimer);
  state.expiryTimer = undefined;
  for (const t of state.shared.timers) clearTimeout(t);
  state.shared.timers = [];
}
