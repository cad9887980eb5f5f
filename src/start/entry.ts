// tsnats-server's start-up, run by the bin (src/bin/tsnats-server.ts): it sets V8's heap flags
// before anything else is loaded (heap_tuning.ts), then loads the command line
// (server_main.ts).
//
// The command line is loaded from the bundle `npm run build` makes (scripts/bundle.mjs: one
// CommonJS file instead of ~160 modules, a third less start-up time), compiled with the V8 code
// cache the build made for it (code_cache.ts: a quarter less again), or, when the bin found
// that bundle missing or stale, from the module tree (see the bin).
//
// The client port given by flags or the config file is bound first of all
// (server/early_listener.ts): loading the server takes Node a few hundred milliseconds, and
// clients that connect meanwhile wait for INFO instead of being refused.
//
// Bundled too (dist/src/bundle/entry.cjs, what the bin requires when the bundle is current):
// loaded from the module tree, this file and its imports would be ES modules, and the
// server's ES modules would cost it Node's ESM loader (see the bin).
import { declaresCluster, openEarlyListener } from "../server/early_listener.js";
import { runBundle } from "./code_cache.js";
import { holdYoungGeneration, startUpHeapFlags } from "./heap_tuning.js";

/** Starts the server from the bundle (`bundled`) or from the module tree. */
export async function start(bundled: boolean): Promise<void> {
  // listen() with a host binds only once the host's lookup calls back (next tick, for an IP
  // address): without this turn the port would be bound after the bundle's synchronous load, the
  // longest part of the start-up, that clients connecting early are meant to wait through. Not
  // for a server with a cluster port (declaresCluster says why).
  if (openEarlyListener(process.argv.slice(2)) && !declaresCluster(process.argv.slice(2))) await new Promise((resolve) => setImmediate(resolve));
  holdYoungGeneration();
  if (bundled) {
    // import.meta.url is the entry bundle's own URL there (scripts/bundle.mjs), a sibling of server_main.cjs.
    runBundle(new URL("../bundle/server_main.cjs", import.meta.url), new URL("../bundle/server_main.cache", import.meta.url), startUpHeapFlags);
  } else {
    const commandLine: string = "./server_main.js";
    await import(commandLine);
  }
}
