// A directory of account JWTs, one `<account key>.jwt` file each, as the NATS-based account
// resolvers keep them (the same layout nats-server uses, so a directory moves between the two).
//
// The store indexes what it holds: a hash of every JWT (XOR of their SHA-256, compared with
// other servers' to know whether to exchange them), a limit on how many it keeps (the full
// resolver refuses more, the cache resolver evicts the least recently used), and an expiry per
// JWT (its `exp`, or the cache's ttl since last use) after which the file is removed.
// Deleting keeps the file as `<key>.jwt.deleted` or removes it, as configured.
//
// Durability: a JWT is written to a temporary file and renamed over the old one, so a crash
// leaves either the old or the new JWT on disk, never a torn one; it is on disk (page cache)
// when `save` returns.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { decodeJwt } from "./jwt.js";
import { isAnyPublicKey, isPublicKey } from "./nkey_keys.js";

const EXT = ".jwt";
const NO_EXPIRY = Number.MAX_SAFE_INTEGER;

export type DeleteMode = "none" | "rename" | "hard";

export interface JwtDirStoreOptions {
  dir: string;
  deleteMode: DeleteMode;
  /** How many JWTs the store holds at most. */
  limit: number;
  /** Over the limit: evict the least recently used (cache) or refuse (full). */
  evictOnLimit: boolean;
  /** Cache: a JWT expires this long after its last use (0: by its own `exp`). */
  ttlMs: number;
}

interface Entry {
  hash: Buffer;
  /** ms since epoch; NO_EXPIRY when it never expires. */
  expiresAt: number;
}

function sha256(s: string): Buffer {
  return crypto.createHash("sha256").update(s).digest();
}

function xorInto(acc: Buffer, h: Buffer): void {
  for (let i = 0; i < acc.length; i++) acc[i] ^= h[i];
}

export class JwtDirStore {
  readonly dir: string;
  /** Index of the JWTs held, in least-recently-used order (Map keeps insertion order). */
  private readonly index = new Map<string, Entry>();
  private readonly hashAll = Buffer.alloc(32);
  private sweepTimer: NodeJS.Timeout | undefined;
  /** A JWT was stored or replaced (not called for a write of the same JWT). */
  onChanged: ((key: string) => void) | undefined;
  /** A JWT was deleted by request. */
  onDeleted: ((key: string) => void) | undefined;

  constructor(private readonly o: JwtDirStoreOptions) {
    fs.mkdirSync(o.dir, { recursive: true });
    this.dir = path.resolve(o.dir);
    this.scan(false);
    // nats-server checks expirations every ttl/2, at most every minute.
    const every = Math.min(o.ttlMs > 0 ? o.ttlMs / 2 : 60_000, 60_000);
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  close(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  get size(): number {
    return this.index.size;
  }

  /** The hash of everything held (what servers compare before exchanging their JWTs). */
  hash(): Buffer {
    return Buffer.from(this.hashAll);
  }

  private file(key: string): string {
    return path.join(this.dir, key + EXT);
  }

  private expiryOf(jwt: string): number {
    if (this.o.ttlMs > 0) return Date.now() + this.o.ttlMs;
    try {
      const exp = decodeJwt(jwt).claims.exp ?? 0;
      return exp > 0 ? exp * 1000 : NO_EXPIRY;
    } catch {
      return NO_EXPIRY;
    }
  }

  private track(key: string, jwt: string): void {
    const old = this.index.get(key);
    if (old !== undefined) {
      xorInto(this.hashAll, old.hash);
      this.index.delete(key);
    }
    const e = { hash: sha256(jwt), expiresAt: this.expiryOf(jwt) };
    this.index.set(key, e);
    xorInto(this.hashAll, e.hash);
  }

  private untrack(key: string): void {
    const e = this.index.get(key);
    if (e === undefined) return;
    xorInto(this.hashAll, e.hash);
    this.index.delete(key);
  }

  /** Mark `key` used: most recent for eviction, and (cache) its ttl restarts. */
  private touch(key: string): void {
    const e = this.index.get(key);
    if (e === undefined) return;
    this.index.delete(key);
    if (this.o.ttlMs > 0) e.expiresAt = Date.now() + this.o.ttlMs;
    this.index.set(key, e);
  }

  /**
   * Index every `*.jwt` file in the directory. On reload, `notify` reports files whose
   * content changed (the cache reports every file: it may have been evicted meanwhile).
   */
  private scan(notify: boolean): void {
    const before = new Map(this.index);
    if (notify) {
      this.index.clear();
      this.hashAll.fill(0);
    }
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith(EXT)) continue;
      const key = name.slice(0, -EXT.length);
      let jwt: string;
      try {
        jwt = fs.readFileSync(path.join(this.dir, name), "utf8");
      } catch {
        continue;
      }
      this.track(key, jwt);
      if (!notify) continue;
      const old = before.get(key);
      if (this.o.evictOnLimit || old === undefined || !old.hash.equals(this.index.get(key)!.hash)) this.onChanged?.(key);
    }
  }

  /** Re-read the directory (config reload): changed files are applied. */
  reload(): void {
    this.scan(true);
  }

  /** The JWT stored for `key`, or undefined. */
  load(key: string): string | undefined {
    if (!isAnyPublicKey(key)) throw new Error("invalid public key");
    let jwt: string;
    try {
      jwt = fs.readFileSync(this.file(key), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    this.touch(key);
    return jwt;
  }

  /** Write `jwt` for `key` (whatever was there before). Throws when the store is full. */
  save(key: string, jwt: string): void {
    if (!isAnyPublicKey(key)) throw new Error("invalid public key");
    if (this.write(key, jwt)) this.onChanged?.(key);
  }

  /** Write `jwt` unless the stored one is the same or newer (`iat`). */
  saveIfNewer(key: string, jwt: string): void {
    if (!isAnyPublicKey(key)) throw new Error("invalid public key");
    const existing = this.readRaw(key);
    if (existing !== undefined) {
      const next = decodeJwt(jwt).claims;
      let old;
      try {
        old = decodeJwt(existing).claims;
      } catch {
        old = undefined; // an unreadable stored JWT is replaced
      }
      if (old !== undefined) {
        if (old.jti !== undefined && old.jti === next.jti) return;
        if ((old.iat ?? 0) > (next.iat ?? 0)) return;
        if (next.sub !== key) throw new Error("jwt subject nkey and provided nkey do not match");
        if (old.sub !== next.sub) throw new Error("subject of existing and new jwt do not match");
      }
    }
    if (this.write(key, jwt)) this.onChanged?.(key);
  }

  private readRaw(key: string): string | undefined {
    try {
      return fs.readFileSync(this.file(key), "utf8");
    } catch {
      return undefined;
    }
  }

  /** Returns whether the stored JWT changed. */
  private write(key: string, jwt: string): boolean {
    if (jwt.length === 0) throw new Error("invalid JWT");
    const existing = this.index.get(key);
    if (existing !== undefined) {
      this.touch(key);
      if (existing.hash.equals(sha256(jwt))) return false;
    } else if (this.index.size >= this.o.limit) {
      if (!this.o.evictOnLimit) throw new Error("jwt store is full");
      const lru = this.index.keys().next().value as string;
      fs.rmSync(this.file(lru), { force: true });
      this.untrack(lru);
    }
    const file = this.file(key);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, jwt, { mode: 0o644 });
    fs.renameSync(tmp, file);
    this.track(key, jwt);
    return true;
  }

  /** Delete `key` as configured (rename to .deleted or remove). A missing JWT is no error. */
  delete(key: string): void {
    if (this.o.deleteMode === "none") throw new Error("store is not set up to for delete");
    const file = this.file(key);
    try {
      if (this.o.deleteMode === "rename") fs.renameSync(file, `${file}.deleted`);
      else fs.rmSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    this.untrack(key);
    this.onDeleted?.(key);
  }

  /** The account keys held, as a pack lists them (expired JWTs left out). */
  keys(): string[] {
    return this.pack(1).map((line) => line.slice(0, line.indexOf("|")));
  }

  /**
   * Every held JWT as `key|jwt` lines, `perMessage` per chunk (nats-server's pack format),
   * in file name order; expired JWTs are left out.
   */
  pack(perMessage: number): string[] {
    const out: string[] = [];
    let chunk: string[] = [];
    const now = Math.floor(Date.now() / 1000);
    // In file name order, as nats-server walks the directory.
    for (const key of [...this.index.keys()].sort()) {
      const jwt = this.readRaw(key);
      if (jwt === undefined || jwt.length === 0) continue;
      try {
        const exp = decodeJwt(jwt).claims.exp ?? 0;
        if (exp > 0 && exp < now) continue;
      } catch {
        // kept as stored
      }
      chunk.push(`${key}|${jwt}`);
      if (chunk.length === perMessage) {
        out.push(chunk.join("\n"));
        chunk = [];
      }
    }
    if (chunk.length > 0) out.push(chunk.join("\n"));
    return out;
  }

  /** Store the JWTs of a pack message (each only if newer). Throws on a malformed line. */
  merge(pack: string): void {
    for (const line of pack.split("\n")) {
      if (line === "") continue;
      const parts = line.split("|");
      if (parts.length !== 2) throw new Error(`line in package didn't contain 2 entries: ${JSON.stringify(line)}`);
      if (!isPublicKey(parts[0], "A")) throw new Error("key to merge is not a valid public account key");
      this.saveIfNewer(parts[0], parts[1]);
    }
  }

  /** Remove JWTs past their expiry (their `exp`, or the cache ttl). */
  sweep(now = Date.now()): void {
    for (const [key, e] of [...this.index]) {
      if (e.expiresAt > now) continue;
      try {
        fs.rmSync(this.file(key));
        this.untrack(key);
      } catch {
        // kept until the next sweep
      }
    }
  }
}
