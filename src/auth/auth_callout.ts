// Auth callout (ADR-26): an external service decides who a client is. The server sends an
// authorization request JWT, signed with its own nkey, on `$SYS.REQ.USER.AUTH` in the callout
// account (sealed for the service's curve key when one is configured, the server's own xkey in
// the `Nats-Server-Xkey` header) and waits, up to the auth timeout, for an authorization
// response JWT: signed by the callout issuer (config mode) or the account or one of its
// signing keys (operator mode), for the server and the one-time user key the request named. Its
// user JWT places the client in an account with that JWT's permissions, limits and expiry.
//
// Config mode: `authorization { auth_callout { issuer, auth_users, account, xkey, allowed_accounts } }`;
// every user except `auth_users` is decided by the service. Operator mode: accounts whose JWT has
// `authorization` claims (auth_users, allowed_accounts, xkey); their users connect with a
// sentinel JWT first.
import { nuid } from "@nats-io/nuid";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { Server } from "../server/server.js";
import { tlsStateOf } from "../server/tls.js";
import { nkeysLibrary } from "../server/server_keys.js";
import { buildHeaders } from "../protocol/headers.js";
import { NATS_FEATURE_VERSION } from "../server/version.js";
import { AuthFailure, type AuthResult } from "./auth_result.js";
import {
  decodeAuthorizationResponseClaims,
  decodeUserClaims,
  hasEmptyPermissions,
  validateAuthorizationResponse,
  validateUserClaims,
  ValidationResults,
  type UserClaims,
  type UserPermissionLimits,
} from "./claims.js";
import { JWT_PREFIX, encodeJwt } from "./jwt.js";
import { jwtPermissionsToConfig } from "./permissions.js";
import { applyUserTemplate } from "./templates.js";
import { allowedConnectionTypes, connectTimeAllowed } from "./user_limits.js";
import { expiryOf } from "./user_jwt.js";

export const AUTH_CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH";
const AUTH_REQUEST_AUDIENCE = "nats-authorization-request";
const XKEY_HEADER = "Nats-Server-Xkey";

/** Where a callout goes and whom the answer must come from. */
export interface CalloutTarget {
  /** The account the service runs in: the request is published there. */
  account: Account;
  /** Config mode: the `issuer` key; operator mode: the account itself. */
  issuer: string;
  /** The service's curve key: the request is sealed for it. */
  xkey: string | undefined;
  operatorMode: boolean;
  /** Operator mode: accounts the service may place users in ("*": any). */
  allowedAccounts: readonly string[];
  /** Resolves the account a response places the user in. */
  lookup: (name: string) => Account | Promise<Account>;
}

/** First letter upper-cased, as nats-server reports callout errors. */
function titleCase(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1);
}

/** Drop absent and empty fields (Go's omitempty). */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === "" || v === 0 || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

class CalloutError extends Error {}

export class AuthCallout {
  constructor(private readonly server: Server) {}

  /** What nats-server reports as the user of a client (getRawAuthUser). */
  static rawUser(c: Client): string {
    const o = c.opts;
    if (o.nkey) return o.nkey;
    if (o.user) return o.user;
    if (o.jwt) return c.jwtUser?.pubKey ?? "";
    if (o.authToken) return "[REDACTED]";
    return "";
  }

  /** Ask the service about `client`; resolves with the login it grants or the reason it does not. */
  run(client: Client, target: CalloutTarget): Promise<AuthResult | AuthFailure> {
    const server = this.server;
    const ukp = nkeysLibrary().createUser();
    const userKey = ukp.getPublicKey();
    const account = target.account;
    const sealed = target.xkey !== undefined && target.xkey !== "";
    const timeoutMs = server.options.authTimeoutMs;
    const request = this.requestJwt(client, target, userKey, sealed, timeoutMs);
    const inbox = `$SYS._INBOX.${server.id.slice(0, 8)}.${nuid.next()}`;
    const fail = (why: string): AuthFailure => {
      server.log.warn(why);
      return new AuthFailure(why, account, why);
    };
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: AuthResult | AuthFailure): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        account.unsubscribeInternal(sub);
        resolve(r);
      };
      const timer = setTimeout(() => {
        if (server.log.debugEnabled) server.log.debug(`Authorization callout response not received in time on account ${JSON.stringify(account.name)}`);
        finish(new AuthFailure(`Authorization callout response not received in time on account ${JSON.stringify(account.name)}`, account, "Authentication Failure"));
      }, timeoutMs);
      const sub = account.subscribeInternal(
        inbox,
        (_s, _r, _h, payload) => {
          const body = Buffer.from(payload);
          // Answered outside the routing of the service's publish.
          setImmediate(() => {
            void this.decide(client, target, userKey, sealed, body).then(
              (r) => finish(r),
              (err: unknown) => finish(fail(err instanceof CalloutError ? err.message : titleCase((err as Error).message))),
            );
          });
        },
        undefined,
        "auth-callout",
      );
      let payload = Buffer.from(request);
      let hdr: Buffer | undefined;
      if (sealed) {
        payload = Buffer.from(server.xkeyPair.seal(payload, target.xkey as string));
        hdr = buildHeaders([[XKEY_HEADER, server.xkey]]);
      }
      account.publish(AUTH_CALLOUT_SUBJECT, inbox, hdr, payload);
    });
  }

  /** The signed authorization request (ADR-26's shape). */
  private requestJwt(client: Client, target: CalloutTarget, userKey: string, sealed: boolean, timeoutMs: number): string {
    const server = this.server;
    const o = client.opts;
    const serverId = compact({
      name: server.name,
      host: server.options.host,
      id: server.id,
      version: NATS_FEATURE_VERSION,
      xkey: sealed ? server.xkey : undefined,
    });
    // The name/host/id fields are always present in nats-server's request.
    serverId.name = server.name;
    serverId.host = server.options.host;
    serverId.id = server.id;
    const clientInfo = compact({
      host: client.host,
      id: client.cid,
      user: AuthCallout.rawUser(client),
      name: o.name,
      kind: "Client",
      type: client.connectionType === "WEBSOCKET" ? "websocket" : "nats",
      nonce: o.sig ? client.nonce : undefined,
    });
    const connectOpts = compact({
      jwt: o.jwt,
      nkey: o.nkey,
      sig: o.sig,
      auth_token: o.authToken,
      user: o.user,
      pass: o.pass,
      name: o.name,
      lang: o.lang,
      version: o.version,
    });
    connectOpts.protocol = o.protocol;
    const nats: Record<string, unknown> = { server_id: serverId, user_nkey: userKey, client_info: clientInfo, connect_opts: connectOpts };
    const tls = tlsStateOf(client);
    if (tls !== undefined) nats.client_tls = { version: tls.version, cipher: tls.cipherSuite };
    nats.type = "authorization_request";
    nats.version = 2;
    return encodeJwt(
      { aud: AUTH_REQUEST_AUDIENCE, exp: Math.floor((Date.now() + timeoutMs) / 1000), sub: target.issuer, nats },
      this.server.keyPair,
    );
  }

  /** Check the service's answer and turn it into a login (or throw why not). */
  private async decide(client: Client, target: CalloutTarget, userKey: string, sealed: boolean, body: Buffer): Promise<AuthResult> {
    const account = target.account;
    if (body.length === 0) throw new CalloutError(`Auth callout violation: ${JSON.stringify("no reason supplied")} on account ${JSON.stringify(account.name)}`);
    let text = body.toString("utf8");
    let encrypted = false;
    if (sealed && !text.startsWith(JWT_PREFIX)) {
      const opened = this.server.xkeyPair.open(body, target.xkey as string);
      if (opened === null) throw new CalloutError(`Error decrypting auth callout response on account ${JSON.stringify(account.name)}: nkeys: decryption failed`);
      text = Buffer.from(opened).toString("utf8");
      encrypted = true;
    }
    const cr = decodeAuthorizationResponseClaims(text);
    const vr = new ValidationResults();
    validateAuthorizationResponse(cr, vr);
    if (vr.issues.length > 0) throw new CalloutError(`Authorization response had validation errors: ${vr.issues[0].description}`);
    if (cr.data.sub !== userKey) throw new CalloutError("Auth callout violation: auth callout response is not for expected user");
    if (cr.data.aud !== this.server.id) throw new CalloutError("Auth callout violation: auth callout response is not for server");
    if (cr.error !== "") throw new CalloutError(`Auth callout service returned an error: ${cr.error}`);
    if (target.operatorMode && !encrypted) {
      const signer = cr.issuerAccount !== "" ? cr.issuerAccount : cr.data.iss;
      if (signer !== account.name && account.claims?.signer(signer) === undefined) throw new CalloutError("Auth callout signing key is unknown");
    }
    const arc = decodeUserClaims(cr.userJwt);
    const uvr = new ValidationResults();
    validateUserClaims(arc, uvr);
    if (uvr.issues.length > 0) throw new CalloutError(`Error validating user JWT: ${uvr.issues[0].description}`);
    if (arc.data.sub !== userKey) {
      throw new CalloutError(`Expected authorized user of ${JSON.stringify(userKey)} but got ${JSON.stringify(arc.data.sub)} on account ${JSON.stringify(account.name)}`);
    }
    const times = connectTimeAllowed(arc.limits.times, arc.limits.locale);
    if (!times.ok) {
      this.server.log.error(`${client.logPrefix()} - Outside connect times`);
      throw new CalloutError(`Authorized user on account ${JSON.stringify(account.name)} outside of valid connect times`);
    }
    const types = allowedConnectionTypes(arc.limits.allowedConnectionTypes);
    if (types.unknown.length > 0 && types.types.size === 0) {
      throw new CalloutError(`Authorized user on account ${JSON.stringify(account.name)} using invalid connection type`);
    }
    const { target: placed, limits } = await this.placement(arc, target);
    const userPerms = jwtPermissionsToConfig(limits.permissions);
    const usesDefaults = userPerms === undefined;
    let permissions = usesDefaults ? placed.claims?.defaultPermissions : userPerms;
    // A user placed in the callout's own account may not answer callouts itself.
    if (placed === account) permissions = denyPublish(permissions, AUTH_CALLOUT_SUBJECT);
    return {
      account: placed,
      user: arc.data.name !== undefined && arc.data.name !== "" ? arc.data.name : arc.data.sub,
      permissions,
      limits: { subs: limits.subs, payload: limits.payload },
      expiresAt: expiryOf(arc, times.validForMs),
      jwt: {
        token: "",
        pubKey: arc.data.sub,
        issuedAt: arc.data.iat ?? 0,
        signingKey: arc.issuerAccount !== "" ? arc.data.iss : "",
        name: arc.data.name ?? "",
        tags: arc.tags,
        bearer: limits.bearerToken,
        defaultPermissions: usesDefaults,
      },
    };
  }

  /** The account the user JWT places the client in, and its effective permissions and limits. */
  private async placement(arc: UserClaims, target: CalloutTarget): Promise<{ target: Account; limits: UserPermissionLimits }> {
    const account = target.account;
    let jwtIssuer = arc.data.iss;
    if (arc.issuerAccount !== "") {
      if (!target.operatorMode) throw new CalloutError(`Error non operator mode account ${JSON.stringify(account.name)}: attempted to use issuer_account`);
      jwtIssuer = arc.issuerAccount;
    }
    if (jwtIssuer !== target.issuer) {
      if (!target.operatorMode) {
        throw new CalloutError(
          `Wrong issuer for auth callout response on account ${JSON.stringify(account.name)}, expected ${JSON.stringify(target.issuer)} got ${JSON.stringify(jwtIssuer)}`,
        );
      }
      const allowed = target.allowedAccounts;
      if (!(allowed.length === 1 && allowed[0] === "*") && !allowed.includes(jwtIssuer)) {
        throw new CalloutError(`Account ${JSON.stringify(arc.data.iss)} not permitted as valid account option for auth callout for account ${JSON.stringify(account.name)}`);
      }
    }
    // Config mode names the account in the user JWT's audience; operator mode by its issuer.
    const placement = target.operatorMode ? jwtIssuer : (arc.data.aud ?? "");
    let placed: Account;
    try {
      placed = await target.lookup(placement);
    } catch (err) {
      throw new CalloutError(`No valid account ${JSON.stringify(placement)} for auth callout response on account ${JSON.stringify(account.name)}: ${(err as Error).message}`);
    }
    let limits = arc.limits;
    if (target.operatorMode) {
      const scope = placed.claims?.signer(arc.data.iss);
      if (scope === undefined) throw new CalloutError(`User JWT issuer ${JSON.stringify(arc.data.iss)} is not known`);
      if (scope !== null) {
        if (!hasEmptyPermissions(arc.limits)) throw new CalloutError("User JWT is not valid: scoped users require no permissions or limits set");
        try {
          limits = applyUserTemplate(scope.template, {
            userName: arc.data.name ?? "",
            userSubject: arc.data.sub,
            userTags: arc.tags,
            accountSubject: arc.issuerAccount,
            accountName: placed.claims?.nameTag ?? "",
            accountTags: placed.claims?.tags ?? [],
          });
        } catch (err) {
          throw new CalloutError(`User JWT generated invalid permissions: ${(err as Error).message}`);
        }
      }
    }
    return { target: placed, limits };
  }
}

/** Add `subject` to the publish deny list of a permissions block (config form). */
function denyPublish(permissions: unknown, subject: string): Record<string, unknown> {
  const p = typeof permissions === "object" && permissions !== null ? { ...(permissions as Record<string, unknown>) } : {};
  const pub = p.publish;
  let block: Record<string, unknown>;
  if (pub === undefined) block = {};
  else if (typeof pub === "string" || Array.isArray(pub)) block = { allow: pub };
  else block = { ...(pub as Record<string, unknown>) };
  const deny = block.deny;
  block.deny = [...(deny === undefined ? [] : Array.isArray(deny) ? deny : [deny]), subject];
  p.publish = block;
  return p;
}
