// bcrypt-hashed passwords and tokens, recognised the way nats-server does: by their prefix.
//
// Why a worker thread: bcryptjs is plain JavaScript and, at nats-server's usual cost factor 11,
// one comparison measured ~215 ms here. compareSync would freeze every connection for that long
// per login attempt (and any unauthenticated peer could repeat it at will); bcryptjs's async
// compare only slices the same work into ~100 ms blocking chunks. A worker keeps the event loop
// free, at the price of CONNECT becoming asynchronous (the client holds its parser meanwhile).
import { createRequire } from "node:module";
import type { Worker } from "node:worker_threads";

/** worker_threads, loaded at the first bcrypt check (most servers have no bcrypt secrets). */
const requireBuiltin = createRequire(import.meta.url);

const BCRYPT_PREFIXES = ["$2a$", "$2b$", "$2x$", "$2y$"];

export function isBcryptHash(s: string): boolean {
  return BCRYPT_PREFIXES.some((p) => s.startsWith(p));
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, (ok: boolean) => void>();

function failAll(): void {
  worker = undefined;
  for (const resolve of pending.values()) resolve(false);
  pending.clear();
}

function getWorker(): Worker {
  if (worker !== undefined) return worker;
  const { Worker: WorkerThread } = requireBuiltin("node:worker_threads") as typeof import("node:worker_threads");
  // Through the auth directory: the path holds from this module (dist/src/auth) and from the
  // bin's bundle (dist/src/bundle, scripts/bundle.mjs), where this code is inlined.
  const w = new WorkerThread(new URL("../auth/bcrypt_worker.js", import.meta.url));
  w.on("message", (m: { id: number; ok: boolean }) => {
    const resolve = pending.get(m.id);
    pending.delete(m.id);
    resolve?.(m.ok);
    if (pending.size === 0) w.unref();
  });
  w.on("error", failAll);
  w.on("exit", () => {
    if (worker === w) failAll();
  });
  worker = w;
  return w;
}

/** Whether `secret` matches the bcrypt `hash`; a malformed hash matches nothing. */
export function bcryptMatches(secret: string, hash: string): Promise<boolean> {
  // Go's bcrypt ignores the minor version letter; bcryptjs only knows a, b and y, and
  // computes the same hash for all of them, so "$2x$" is checked as "$2a$".
  const h = hash.startsWith("$2x$") ? `$2a$${hash.slice(4)}` : hash;
  return new Promise((resolve) => {
    const w = getWorker();
    const id = ++nextId;
    pending.set(id, resolve);
    // Referenced only while a comparison is outstanding: an idle worker never keeps the process up.
    w.ref();
    w.postMessage({ id, secret, hash: h });
  });
}
