#!/usr/bin/env node
// tsnats-server: the command-line server's entry (the start-up itself: start/entry.ts).
//
// A CommonJS file (src/bin/package.json; the build copies it to dist/src/bin): Node runs an ES
// module given as the main script through its ESM loader, ~20 more of its own modules and
// 1.1 MB more resident memory for the server's whole life (an idle server with JetStream, 4
// alternated starts each: 60.0-60.1 MB RSS as an ES module, 58.9-59.0 as CommonJS; a bare
// `node` listening on a socket: 44.3 vs 43.2 MB). So this file loads nothing as an ES module
// when it can help it: with a current bundle it requires the start-up's own bundle
// (dist/src/bundle/entry.cjs), which loads the server's (scripts/bundle.mjs).
//
// The bundle is used unless it is missing or older than the last compilation
// (dist/.tsbuildinfo, which tsc rewrites whenever it emits): after a bare `tsc`, the bin runs
// the freshly compiled modules, never a stale bundle. TSNATS_UNBUNDLED=1 runs the module tree
// always (profiles with one file per source).
import { statSync } from "node:fs";
import { join } from "node:path";

interface Entry {
  start(bundled: boolean): Promise<void>;
}

function mtime(relative: string): number | undefined {
  return statSync(join(__dirname, relative), { throwIfNoEntry: false })?.mtimeMs;
}

function bundleIsCurrent(): boolean {
  if (process.env.TSNATS_UNBUNDLED === "1") return false;
  const entry = mtime("../bundle/entry.cjs");
  const bundle = mtime("../bundle/server_main.cjs");
  if (entry === undefined || bundle === undefined) return false;
  const compiled = mtime("../../.tsbuildinfo");
  return compiled === undefined || Math.min(entry, bundle) >= compiled;
}

if (bundleIsCurrent()) {
  void (require("../bundle/entry.cjs") as Entry).start(true);
} else {
  const tree: string = "../start/entry.js";
  void (import(tree) as Promise<Entry>).then((entry) => entry.start(false));
}
