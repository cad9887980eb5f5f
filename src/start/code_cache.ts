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
import { closeSync, fstatSync, openSync, readSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

/** How the command line was loaded, for the server's debug log (read from the bundle's copy). */
interface CodeCacheState {
  fromCache: boolean;
}

// Process-wide: the entry (entry.ts, bundled on its own) sets it from its copy of this module,
// the bundled server reads it from the server bundle's copy.
const STATE_KEY = Symbol.for("tsnats.codeCache");

function state(): CodeCacheState {
  return ((globalThis as Record<symbol, CodeCacheState | undefined>)[STATE_KEY] ??= { fromCache: false });
}

/** Did this process compile its server from the code cache? */
export function startedFromCodeCache(): boolean {
  return state().fromCache;
}

// Neither file is read into a Buffer, as readFileSync would: a block that size (2.2 MB,
// 1 MB) is one glibc's malloc maps on its own, and freeing it raises malloc's trim threshold
// to twice its size (glibc's dynamic mmap threshold). From then on each arena of V8's worker
// threads (where its compilers and concurrent marker allocate) kept that much freed memory
// instead of handing it back: after the start-up warm-up's compilations, 5.8 MB of an idle
// server's RSS (0.8 MB with the threshold pinned by MALLOC_TRIM_THRESHOLD_). They are read
// into WebAssembly memory, which V8 maps and unmaps itself, outside malloc.

/** The CommonJS wrapper Module.wrap puts around a module's text. */
const WRAP_HEAD = Buffer.from("(function (exports, require, module, __filename, __dirname) { ");
const WRAP_TAIL = Buffer.from("\n});");

/** `file`'s bytes with `head` before and `tail` after, in memory malloc never sees if it can. */
function readFile(file: string, head = Buffer.alloc(0), tail = Buffer.alloc(0)): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const total = head.length + size + tail.length;
    let into: Buffer;
    try {
      into = Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(total / 65536) }).buffer, 0, total);
    } catch {
      // No WebAssembly (--jitless) or no address space for it.
      into = Buffer.allocUnsafeSlow(total);
    }
    head.copy(into, 0);
    for (let at = 0, n; at < size; at += n) {
      n = readSync(fd, into, head.length + at, size - at, at);
      if (n === 0) return undefined;
    }
    tail.copy(into, head.length + size);
    return into;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The bundle compiled, with the code cache if there is one and V8 accepts it. In a frame of its
 * own: the files' memory is garbage when it returns, and freed by the first scavenge, not kept
 * (promoted by the bundle's start-up) until the first full collection seconds later.
 */
function compile(filename: string, cacheFile: string | undefined): vm.Script {
  const bytes = readFile(filename, WRAP_HEAD, WRAP_TAIL);
  if (bytes === undefined) throw new Error(`cannot read ${filename}`);
  // The bundle is ASCII only (scripts/bundle.mjs): read as latin1 it is a one-byte string;
  // UTF-8 text makes a two-byte string, measured ~36 ms more to read and compile.
  const source = bytes.toString(isAscii(bytes) ? "latin1" : "utf8");
  const cachedData = cacheFile === undefined ? undefined : readFile(cacheFile);
  const script = new vm.Script(source, {
    filename,
    cachedData,
    // No import handler: the bundle has no import() (scripts/bundle.mjs), and V8 would not
    // give one to the functions it takes from the cache.
  });
  state().fromCache = cachedData !== undefined && !script.cachedDataRejected;
  return script;
}

/**
 * Runs a CommonJS bundle, compiled with the code cache in cacheFile when V8 accepts it.
 * `flagsAtLoad` restores, while the cache is written, the V8 flags the bundle was compiled
 * under (V8 keys a cache by its flags; the server changes a heap flag once it is ready).
 */
export function runBundle(bundleUrl: URL, cacheFile: URL, flagsAtLoad: () => () => void): void {
  const filename = fileURLToPath(bundleUrl);
  const writeTo = process.env.TSNATS_WRITE_CODE_CACHE;
  const script = compile(filename, writeTo ? undefined : fileURLToPath(cacheFile));
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
