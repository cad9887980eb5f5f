// Operator mode login: a client presents a user JWT (and signs the INFO nonce with the user's
// nkey). The chain is checked as nats-server checks it, in its order:
//   the JWT decodes and its signature verifies; it is not expired or not yet valid;
//   its account (issuer_account, else the issuer) resolves to a trusted, unexpired account JWT;
//   the issuer is the account key or one of its signing keys (a scoped key imposes its
//   template); bearer tokens are allowed by the account; the connection type is allowed;
//   the nonce is signed by the user (unless a bearer token); the user is not revoked; the
//   client's address is in `src`; now is inside `times`.
// Every refusal is an AuthFailure whose reason nats-server logs at debug level (or error for
// src/times); the client only ever sees "Authorization Violation".
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import { AuthFailure, type AuthResult } from "./authenticator.js";
import { decodeUserClaims, hasEmptyPermissions, isRevoked, validateUserClaims, ValidationResults, type UserClaims } from "./claims.js";
import { JwtError } from "./jwt.js";
import type { JwtAccounts, MaybePromise } from "./jwt_accounts.js";
import { verifySignature } from "./nkey_keys.js";
import { jwtPermissionsToConfig } from "./permissions.js";
import { applyUserTemplate } from "./templates.js";
import { allowedConnectionTypes, connectTimeAllowed, connectionTypeAllowed, sourceAllowed } from "./user_limits.js";

type Outcome = AuthResult | AuthFailure;

// nats-server decodes the signature as unpadded base64url, else as padded standard base64.
const RAW_URL_B64 = /^[A-Za-z0-9_-]*$/;
const STD_B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A nonce signature as sent in CONNECT `sig`, or undefined when it is not base64. */
export function decodeNonceSignature(sig: string): Buffer | undefined {
  if (RAW_URL_B64.test(sig) && sig.length % 4 !== 1) return Buffer.from(sig, "base64url");
  if (STD_B64.test(sig) && sig.length % 4 === 0) return Buffer.from(sig, "base64");
  return undefined;
}

/** Does `sig` (CONNECT's) sign the connection's nonce with `nkey`? */
export function nonceSignedBy(nkey: string, nonce: string | undefined, sig: string | undefined): AuthFailure | undefined {
  if (sig === undefined || sig === "") return new AuthFailure("Signature missing");
  const bytes = decodeNonceSignature(sig);
  if (bytes === undefined) return new AuthFailure("Signature not valid base64");
  if (nonce === undefined || !verifySignature(nkey, Buffer.from(nonce), bytes)) return new AuthFailure("Signature not verified");
  return undefined;
}

/**
 * The user JWT a client presents, decoded; the server's default sentinel stands in when it
 * presents none (or something that is not a user JWT), as in nats-server.
 */
function presentedJwt(client: Client, defaultSentinel: string | undefined): { token: string; juc: UserClaims } | AuthFailure {
  const given = client.opts.jwt;
  let error: Error | undefined;
  if (given !== undefined && given !== "") {
    try {
      return { token: given, juc: decodeUserClaims(given) };
    } catch (err) {
      error = err as Error;
    }
  }
  const token = defaultSentinel ?? (given !== undefined && given !== "" ? given : undefined);
  if (token === undefined) return new AuthFailure("Authentication requires a user JWT");
  if (token === given && error !== undefined) return new AuthFailure(`User JWT not valid: ${error.message}`);
  try {
    return { token, juc: decodeUserClaims(token) };
  } catch (err) {
    return new AuthFailure(`User JWT not valid: ${(err as JwtError).message}`);
  }
}

/** Authenticate an operator-mode client from its user JWT. */
export function authenticateUserJwt(accounts: JwtAccounts, client: Client, defaultSentinel: string | undefined): MaybePromise<Outcome> {
  const presented = presentedJwt(client, defaultSentinel);
  if (presented instanceof AuthFailure) return presented;
  const { token, juc } = presented;
  const vr = new ValidationResults();
  validateUserClaims(juc, vr);
  if (vr.isBlocking(true)) return new AuthFailure(`User JWT no longer valid: ${vr.issues.map((i) => i.description).join(", ")}`);
  const issuer = juc.issuerAccount !== "" ? juc.issuerAccount : juc.data.iss;
  if (!accounts.isPinned(issuer)) return new AuthFailure(`Account ${issuer} not listed as operator pinned account`);
  let acc: MaybePromise<Account>;
  try {
    acc = accounts.lookup(issuer);
  } catch (err) {
    return new AuthFailure(`Account JWT lookup error: ${(err as Error).message}`);
  }
  if (acc instanceof Promise) {
    return acc.then(
      (a) => checkUser(accounts, client, token, juc, a),
      (err: unknown) => new AuthFailure(`Account JWT lookup error: ${(err as Error).message}`),
    );
  }
  return checkUser(accounts, client, token, juc, acc);
}

function checkUser(accounts: JwtAccounts, client: Client, token: string, juc: UserClaims, acc: Account): Outcome {
  const state = acc.claims;
  if (state === undefined || !accounts.trusted.isTrusted(state.issuer)) return new AuthFailure("Account JWT not signed by trusted operator");
  const scope = state.signer(juc.data.iss);
  if (scope === undefined) return new AuthFailure("User JWT issuer is not known");
  let limits = juc.limits;
  if (scope !== null) {
    if (!hasEmptyPermissions(juc.limits)) return new AuthFailure("User JWT is not valid: scoped users require no permissions or limits set");
    try {
      limits = applyUserTemplate(scope.template, {
        userName: juc.data.name ?? "",
        userSubject: juc.data.sub,
        userTags: juc.tags,
        accountSubject: juc.issuerAccount,
        accountName: state.nameTag,
        accountTags: state.tags,
      });
    } catch {
      return new AuthFailure("User JWT generated invalid permissions");
    }
  }
  if (state.expired) return new AuthFailure("Account JWT has expired");
  if (limits.bearerToken && state.disallowBearer) return new AuthFailure("Account does not allow bearer tokens");
  const types = allowedConnectionTypes(limits.allowedConnectionTypes);
  if (types.unknown.length > 0 && types.types.size === 0) return new AuthFailure(`invalid connection types ${JSON.stringify(types.unknown)}`);
  if (!connectionTypeAllowed(types, client.connectionType)) return new AuthFailure("Connection type not allowed");
  // Bearer tokens skip the nonce signature: the JWT alone is the credential.
  if (!limits.bearerToken) {
    const bad = nonceSignedBy(juc.data.sub, client.nonce, client.opts.sig);
    if (bad !== undefined) return bad;
  }
  if (isRevoked(state.revocations, juc.data.sub, juc.data.iat ?? 0)) return new AuthFailure("User authentication revoked");
  if (!sourceAllowed(limits.src, client.host)) {
    client.server.log.error(`${client.logPrefix()} - Bad src Ip ${client.host}`);
    return new AuthFailure(`Bad src Ip ${client.host}`);
  }
  const times = connectTimeAllowed(limits.times, limits.locale);
  if (!times.ok) {
    client.server.log.error(`${client.logPrefix()} - Outside connect times`);
    return new AuthFailure("Outside connect times");
  }
  const userPerms = jwtPermissionsToConfig(limits.permissions);
  const usesDefaults = userPerms === undefined;
  return {
    account: acc,
    user: juc.data.sub,
    permissions: usesDefaults ? state.defaultPermissions : userPerms,
    expiresAt: expiryOf(juc, times.validForMs),
    limits: { subs: limits.subs, payload: limits.payload },
    jwt: {
      token,
      pubKey: juc.data.sub,
      issuedAt: juc.data.iat ?? 0,
      signingKey: juc.issuerAccount !== "" ? juc.data.iss : "",
      name: juc.data.name ?? "",
      tags: juc.tags,
      bearer: limits.bearerToken,
      defaultPermissions: usesDefaults,
    },
  };
}

/** When the login ends: the JWT's `exp` or the end of the current connect time window. */
export function expiryOf(juc: UserClaims, validForMs: number): number {
  const now = Date.now();
  const windowEnd = validForMs > 0 ? now + validForMs : 0;
  const exp = juc.data.exp !== undefined && juc.data.exp > 0 ? juc.data.exp * 1000 : 0;
  if (exp === 0) return windowEnd;
  const expAt = Math.max(now, exp);
  return windowEnd !== 0 && windowEnd < expAt ? windowEnd : expAt;
}
