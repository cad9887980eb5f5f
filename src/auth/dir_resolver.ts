// The NATS-based account resolvers: account JWTs kept in a directory (jwt_dir_store.ts) and
// exchanged with other servers over the system account (claims_service.ts answers the
// requests).
//   full   holds every account JWT (pushed with `$SYS.REQ.CLAIMS.UPDATE`); may allow
//          operator-signed deletions; refuses JWTs past its `limit`
//   cache  holds JWTs it looked up, least recently used evicted past `limit`, dropped `ttl`
//          after last use
// An account not in the directory is asked of the other servers
// (`$SYS.REQ.ACCOUNT.<id>.CLAIMS.LOOKUP`), waiting up to `timeout`.
import type { ResolverConfig } from "../config/options.js";
import { JwtDirStore } from "./jwt_dir_store.js";
import { ERR_MISSING_ACCOUNT, type AccountResolver } from "./resolver.js";

/** Asks the other servers for an account JWT ("" when they do not have it). */
export type ClaimsLookup = (name: string, timeoutMs: number) => Promise<string>;

export class DirResolver implements AccountResolver {
  readonly type: "full" | "cache";
  readonly readOnly = false;
  readonly tracksUpdates = true;
  readonly store: JwtDirStore;
  readonly timeoutMs: number;
  /** Full resolver: how often the store's hash is compared with other servers'. */
  readonly syncIntervalMs: number;
  readonly allowDelete: boolean;
  /** Set by the claims service once the system account is there. */
  lookup: ClaimsLookup | undefined;

  constructor(config: Extract<ResolverConfig, { type: "full" | "cache" }>) {
    this.type = config.type;
    this.timeoutMs = config.timeoutMs;
    if (config.type === "full") {
      this.syncIntervalMs = config.intervalMs;
      this.allowDelete = config.allowDelete;
      this.store = new JwtDirStore({
        dir: config.dir,
        deleteMode: !config.allowDelete ? "none" : config.hardDelete ? "hard" : "rename",
        limit: config.limit,
        evictOnLimit: false,
        ttlMs: 0,
      });
    } else {
      this.syncIntervalMs = 0;
      this.allowDelete = false;
      this.store = new JwtDirStore({ dir: config.dir, deleteMode: "hard", limit: config.limit, evictOnLimit: true, ttlMs: config.ttlMs });
    }
  }

  fetch(name: string): string | Promise<string> {
    const jwt = this.store.load(name);
    if (jwt !== undefined && jwt !== "") return jwt;
    const lookup = this.lookup;
    if (lookup === undefined) throw new Error(ERR_MISSING_ACCOUNT);
    return lookup(name, this.timeoutMs).then((found) => {
      if (found === "") throw new Error("account jwt not found");
      this.store.saveIfNewer(name, found);
      return found;
    });
  }

  /** `resolver_preload`: kept unless the directory has a newer JWT. */
  storeJwt(name: string, jwt: string): void {
    this.store.saveIfNewer(name, jwt);
  }

  close(): void {
    this.store.close();
  }
}
