#!/usr/bin/env node
// tsnats-server: the command-line server's entry. It sets V8's heap flags before anything else
// is loaded (heap_tuning.ts), then loads the command line (server_main.ts): ES module imports
// run before a module's own code, so the server's modules are imported dynamically, after it.
//
// The command line is loaded from the bundle `npm run build` makes (scripts/bundle.mjs: one
// CommonJS file instead of ~160 modules, a third less start-up time), compiled with the V8 code
// cache the build made for it (code_cache.ts: a quarter less again), unless the bundle is
// missing or older than the last compilation (dist/.tsbuildinfo, which tsc rewrites whenever it
// emits): after a bare `tsc`, the bin runs the freshly compiled modules, never a stale bundle.
// TSNATS_UNBUNDLED=1 runs the module tree always (profiles with one file per source).
//
// The client port given by flags or the config file is bound first of all (server/early_listener.ts): loading
// the server takes Node a few hundred milliseconds, and clients that connect meanwhile wait
// for INFO instead of being refused.
import { statSync } from "node:fs";
import { openEarlyListener } from "../server/early_listener.js";
import { runBundle } from "./code_cache.js";
import { holdYoungGeneration, startUpHeapFlags } from "./heap_tuning.js";

function mtime(relative: string): number | undefined {
  return statSync(new URL(relative, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
}

function bundleIsCurrent(): boolean {
  if (process.env.TSNATS_UNBUNDLED === "1") return false;
  const bundle = mtime("../bundle/server_main.cjs");
  if (bundle === undefined) return false;
  const compiled = mtime("../../.tsbuildinfo");
  return compiled === undefined || bundle >= compiled;
}

// listen() with a host binds only once the host's lookup calls back (next tick, for an IP
// address): without this turn the port would be bound after the bundle's synchronous load, the
// longest part of the start-up, that clients connecting early are meant to wait through.
if (openEarlyListener(process.argv.slice(2))) await new Promise((resolve) => setImmediate(resolve));
holdYoungGeneration();
if (bundleIsCurrent()) {
  runBundle(new URL("../bundle/server_main.cjs", import.meta.url), new URL("../bundle/server_main.cache", import.meta.url), startUpHeapFlags);
} else {
  const commandLine: string = "./server_main.js";
  await import(commandLine);
}
