// Loads the command line's CommonJS bundle (dist/src/bundle/server_main.cjs, scripts/bundle.mjs)
// with V8's code cache: the functions compiled while a server started once, at build time
// (scripts/code_cache.mjs), saved by V8 next to the bundle. With the cache V8 skips parsing and
// compiling them again: about a quarter less CPU to "Server is ready".
//
// V8 rejects a cache made by another Node/V8 version or under other V8 flags
// (script.cachedDataRejected): the bundle is then compiled as without one, nothing else
// changes. The cache is written only when TSNATS_WRITE_CODE_CACHE names a file (the build does
// that), at the process's exit, never into the package otherwise.
import { isAscii } from "node:buffer";
import { readFileSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

/** How the command line was loaded, for the server's debug log (read from the bundle's copy). */
interface CodeCacheState {
  fromCache: boolean;
}

// Process-wide: the bin sets it from its copy of this module, the bundled server reads it from
// the bundle's copy.
const STATE_KEY = Symbol.for("tsnats.codeCache");

function state(): CodeCacheState {
  return ((globalThis as Record<symbol, CodeCacheState | undefined>)[STATE_KEY] ??= { fromCache: false });
}

/** Did this process compile its server from the code cache? */
export function startedFromCodeCache(): boolean {
  return state().fromCache;
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Runs a CommonJS bundle, compiled with the code cache in cacheFile when V8 accepts it.
 * `flagsAtLoad` restores, while the cache is written, the V8 flags the bundle was compiled
 * under (V8 keys a cache by its flags; the server changes a heap flag once it is ready).
 */
export function runBundle(bundleUrl: URL, cacheFile: URL, flagsAtLoad: () => () => void): void {
  const filename = fileURLToPath(bundleUrl);
  // The bundle is ASCII only (scripts/bundle.mjs): read as latin1 it is a one-byte string;
  // UTF-8 text makes a two-byte string, measured ~36 ms more to read and compile.
  const bytes = readFileSync(filename);
  const source = bytes.toString(isAscii(bytes) ? "latin1" : "utf8");
  const writeTo = process.env.TSNATS_WRITE_CODE_CACHE;
  const cachedData = writeTo ? undefined : readCache(fileURLToPath(cacheFile));
  const script = new vm.Script(Module.wrap(source), {
    filename,
    cachedData,
    // No import handler: the bundle has no import() (scripts/bundle.mjs), and V8 would not
    // give one to the functions it takes from the cache.
  });
  state().fromCache = cachedData !== undefined && !script.cachedDataRejected;
  if (writeTo) {
    process.once("exit", () => {
      const restore = flagsAtLoad();
      try {
        writeFileSync(writeTo, script.createCachedData());
      } finally {
        restore();
      }
    });
  }
  const moduleWrapper = script.runInThisContext() as (
    exports: object,
    require: NodeRequire,
    module: { exports: object },
    __filename: string,
    __dirname: string,
  ) => void;
  const module = { exports: {} };
  moduleWrapper.call(module.exports, module.exports, createRequire(filename), module, filename, dirname(filename));
}
