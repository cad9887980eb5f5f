// Account resolvers: where operator mode finds an account's JWT by its public key.
//   MEMORY     the JWTs of `resolver_preload` (and claim updates pushed to the server)
//   URL(url)   an HTTP GET of <url><account key> (an account server)
//   full/cache a directory of JWTs kept in sync over NATS (dir_resolver.ts)
import type { ResolverConfig } from "../config/options.js";
import { isPublicKey } from "./nkey_keys.js";

/** The account JWT is not known to the resolver. */
export const ERR_MISSING_ACCOUNT = "account missing";

export interface AccountResolver {
  readonly type: ResolverConfig["type"];
  /** Resolvers that cannot store JWTs refuse `resolver_preload`. */
  readonly readOnly: boolean;
  /** The NATS-based resolvers serve `$SYS.REQ.CLAIMS.*` and follow claim pushes themselves. */
  readonly tracksUpdates: boolean;
  /** The account's JWT; throws (or rejects) with the reason when it cannot be had. */
  fetch(name: string): string | Promise<string>;
  /** Keep a JWT (`resolver_preload`). */
  storeJwt(name: string, jwt: string): void;
  /** Stop timers and requests. */
  close(): void;
}

export class MemoryResolver implements AccountResolver {
  readonly type = "memory" as const;
  readonly readOnly = false;
  readonly tracksUpdates = false;
  private readonly jwts = new Map<string, string>();

  fetch(name: string): string {
    const jwt = this.jwts.get(name);
    if (jwt === undefined) throw new Error(ERR_MISSING_ACCOUNT);
    return jwt;
  }

  storeJwt(name: string, jwt: string): void {
    this.jwts.set(name, jwt);
  }

  close(): void {}
}

/** nats-server gives an account server this long to answer. */
const URL_FETCH_TIMEOUT_MS = 1900;

export class UrlResolver implements AccountResolver {
  readonly type = "url" as const;
  readonly readOnly = true;
  readonly tracksUpdates = false;
  private readonly inflight = new Set<AbortController>();

  constructor(private readonly baseUrl: string) {}

  async fetch(name: string): Promise<string> {
    const url = this.baseUrl + name;
    const shown = redactUrl(url);
    const abort = new AbortController();
    this.inflight.add(abort);
    const timer = setTimeout(() => abort.abort(), URL_FETCH_TIMEOUT_MS);
    try {
      const res = await fetch(url, { signal: abort.signal });
      if (res.status !== 200) throw new Error(`could not fetch <${JSON.stringify(shown)}>: ${res.status} ${res.statusText}`);
      return await res.text();
    } catch (err) {
      if ((err as Error).message.startsWith("could not fetch")) throw err;
      throw new Error(`could not fetch <${JSON.stringify(shown)}>: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(abort);
    }
  }

  storeJwt(): void {
    throw new Error("store operation not supported for URL Resolver");
  }

  close(): void {
    for (const a of this.inflight) a.abort();
  }
}

/** Credentials in a URL never reach a log line or an error. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "xxxxx";
    return u.toString();
  } catch {
    return url;
  }
}

/** nats-server fetches only names that are account public keys. */
export function checkFetchable(name: string): void {
  if (!isPublicKey(name, "A")) throw new Error("will only fetch valid account keys");
}
