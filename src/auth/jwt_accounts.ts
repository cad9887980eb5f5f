// Operator mode's accounts: each account is known by its public key and built from the JWT
// the resolver gives for it, the first time a user of it connects (or it is imported). Account
// JWTs must be signed by a trusted operator key and pass validation (including expiry); claim
// updates (pushes, resolver changes, reloads) re-apply them to the live account.
import type { Account } from "../server/account.js";
import type { Server } from "../server/server.js";
import type { ServerOptions } from "../config/options.js";
import { decodeAccountClaims, validateAccountClaims, ValidationResults, type AccountClaims } from "./claims.js";
import { applyAccountClaims } from "./account_jwt.js";
import { MemoryResolver, UrlResolver, checkFetchable, type AccountResolver } from "./resolver.js";
import { TrustedOperators } from "./trusted_operators.js";
import { DirResolver } from "./dir_resolver.js";
import { JwtSharing } from "./jwt_sharing.js";

/** The account JWT is not signed by a trusted operator, or does not validate. */
export const ERR_ACCOUNT_VALIDATION = "account validation failed";
export const ERR_ACCOUNT_EXPIRED = "account expired";
/** A refetch of the same account within this window is skipped (nats-server's rate limit). */
const REFETCH_MIN_INTERVAL_MS = 1000;

/** A sync value or a promise of one: resolvers answer from memory or over the network. */
export type MaybePromise<T> = T | Promise<T>;

function then<T, R>(v: MaybePromise<T>, f: (t: T) => R | Promise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

export class JwtAccounts {
  readonly trusted: TrustedOperators;
  resolver: AccountResolver;
  /** Exports, imports and mappings of account JWTs, through the account model. */
  readonly sharing: JwtSharing;
  private pinned: ReadonlySet<string> | undefined;

  constructor(
    private readonly server: Server,
    options: ServerOptions,
    resolver?: AccountResolver,
  ) {
    this.trusted = new TrustedOperators(options.operatorJwts, options.trustedKeys);
    this.resolver = resolver ?? JwtAccounts.createResolver(options);
    this.sharing = new JwtSharing(server, (name) => this.lookup(name));
    this.pinned = options.resolverPinnedAccounts !== undefined ? new Set(options.resolverPinnedAccounts) : undefined;
    this.preload(options);
  }

  /** The resolver the options name (the NATS-based ones get their lookups once the system account runs). */
  static createResolver(options: ServerOptions): AccountResolver {
    const r = options.resolver;
    if (r?.type === "url") return new UrlResolver(r.url);
    if (r?.type === "full" || r?.type === "cache") return new DirResolver(r);
    return new MemoryResolver();
  }

  /** Store `resolver_preload` (start and reload). */
  preload(options: ServerOptions): void {
    const entries = Object.entries(options.resolverPreload);
    if (entries.length === 0) return;
    if (this.resolver.readOnly) throw new Error("resolver preloads only available for writeable resolver types MEM/DIR/CACHE_DIR");
    for (const [name, jwt] of entries) {
      try {
        decodeAccountClaims(jwt);
      } catch (err) {
        throw new Error(`preload account error for ${JSON.stringify(name)}: ${(err as Error).message}`);
      }
      this.resolver.storeJwt(name, jwt);
    }
  }

  /** Warn about preloaded JWTs that will not be accepted (expired, invalid). */
  checkPreloads(options: ServerOptions): void {
    for (const [name, jwt] of Object.entries(options.resolverPreload)) {
      const vr = new ValidationResults();
      try {
        validateAccountClaims(decodeAccountClaims(jwt), vr);
      } catch {
        this.server.log.error(`Preloaded account [${name}] not valid`);
        continue;
      }
      if (vr.isBlocking(true)) {
        this.server.log.warn(`Account [${name}] has validation issues:`);
        for (const i of vr.issues) this.server.log.warn(`  - ${i.description}`);
      }
    }
  }

  reloadOptions(options: ServerOptions): void {
    this.pinned = options.resolverPinnedAccounts !== undefined ? new Set(options.resolverPinnedAccounts) : undefined;
  }

  /** May users of this account log in (`resolver_pinned_accounts`)? */
  isPinned(name: string): boolean {
    return this.pinned === undefined || this.pinned.has(name);
  }

  /**
   * Decode an account JWT and check it is signed by a trusted operator and valid now.
   * Throws with the decoding error or "account validation failed".
   */
  verify(token: string): AccountClaims {
    const claims = decodeAccountClaims(token);
    if (!this.trusted.isTrusted(claims.data.iss)) throw new Error(ERR_ACCOUNT_VALIDATION);
    const vr = new ValidationResults();
    validateAccountClaims(claims, vr);
    if (vr.isBlocking(true)) throw new Error(ERR_ACCOUNT_VALIDATION);
    return claims;
  }

  /**
   * The account `name`, fetched from the resolver and built on first use; an expired
   * account is refetched once. Throws (or rejects) with the reason it cannot be had.
   */
  lookup(name: string): MaybePromise<Account> {
    const existing = this.server.accounts.get(name);
    if (existing?.claims !== undefined) {
      if (!existing.claims.expired) return existing;
      if (Date.now() - existing.claims.updatedAt < REFETCH_MIN_INTERVAL_MS) throw new Error(ERR_ACCOUNT_EXPIRED);
      return then(this.fetchVerified(name), ({ token, claims }) => {
        this.apply(existing, token, claims);
        if (existing.claims?.expired !== false) throw new Error(ERR_ACCOUNT_EXPIRED);
        return existing;
      });
    }
    return then(this.fetchVerified(name), ({ token, claims }) => {
      const acc = this.server.registerAccount(name);
      // A concurrent lookup may have built it meanwhile; the same JWT is applied once.
      if (acc.claims?.token !== token) this.apply(acc, token, claims);
      return acc;
    });
  }

  /** Fetch `name`'s JWT from the resolver and verify it is really that account's. */
  fetchVerified(name: string): MaybePromise<{ token: string; claims: AccountClaims }> {
    checkFetchable(name);
    const started = Date.now();
    return then(this.fetchLogged(name, started), (token) => {
      const claims = this.verify(token);
      if (claims.data.sub !== name) throw new Error(ERR_ACCOUNT_VALIDATION);
      return { token, claims };
    });
  }

  private fetchLogged(name: string, started: number): MaybePromise<string> {
    const log = this.server.log;
    const done = (): void => {
      const took = Date.now() - started;
      if (took > 1000) log.warn(`Account [${name}] fetch took ${took}ms`);
      else if (log.debugEnabled) log.debug(`Account [${name}] fetch took ${took}ms`);
    };
    const fail = (err: unknown): never => {
      log.warn(`Account fetch failed: ${(err as Error).message}`);
      throw err;
    };
    let result: MaybePromise<string>;
    try {
      result = this.resolver.fetch(name);
    } catch (err) {
      return fail(err);
    }
    if (result instanceof Promise) {
      return result.then(
        (t) => {
          done();
          return t;
        },
        (err: unknown) => fail(err),
      );
    }
    done();
    return result;
  }

  /** Apply a verified JWT to the account (no-op when it is the one in place). */
  apply(acc: Account, token: string, claims: AccountClaims): void {
    if (acc.claims?.token === token && !acc.claims.expired) return;
    applyAccountClaims(this.server, acc, token, claims, this.trusted.strictSigningKeys);
  }

  /**
   * A new JWT for an account: verified, then applied if the account is in use. Returns false
   * when the account is not loaded here (nothing to update). Throws when the JWT is refused.
   */
  update(name: string, token: string): boolean {
    const acc = this.server.accounts.get(name);
    if (acc === undefined || acc.claims === undefined) return false;
    if (acc.claims.token === token) return true;
    const claims = this.verify(token);
    if (claims.data.sub !== name) throw new Error(ERR_ACCOUNT_VALIDATION);
    this.apply(acc, token, claims);
    return true;
  }
}
