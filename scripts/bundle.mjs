// Bundles tsnats-server's modules (tsc's output under dist/src) with esbuild, run by
// `npm run build` after tsc. Loading ~160 separate ES modules was most of the server's
// start-up time (each one resolved, read, compiled and linked on its own); the bin loads
// this one CommonJS file instead, through node:vm with a V8 code cache (src/start/code_cache.ts;
// the cache is made next, by scripts/code_cache.mjs). One file compiled from the cache costs
// less CPU than separate lazily loaded chunks compiled from source (measured 0.76x CPU to
// ready). The module tree under dist/src stays as it is: it is what the package's embedding
// API and the tests import, and the bin falls back to it when the bundle is older than the
// last tsc run (see src/bin/tsnats-server.ts).
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";

// The bins are CommonJS (src/bin/package.json, see src/bin/tsnats-server.ts): tsc emits them
// as such but does not copy the package.json that tells Node so.
copyFileSync("src/bin/package.json", "dist/src/bin/package.json");
// A previous build's files (the ESM chunks of older builds, a stale code cache) go.
rmSync("dist/src/bundle", { recursive: true, force: true });
let build;
try {
  ({ build } = await import("esbuild"));
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND") throw err;
  // A checkout whose node_modules predate the devDependency: the bin runs the module tree.
  process.stderr.write("scripts/bundle.mjs: esbuild is not installed (npm install); tsnats-server runs unbundled\n");
  process.exit(0);
}
const result = await build({
  // server_main: the server's command line; entry: what the bin requires first (early listener,
  // heap flags, code cache), so that no ES module is loaded (src/bin/tsnats-server.ts).
  entryPoints: { server_main: "dist/src/start/server_main.js", entry: "dist/src/start/entry.js" },
  outdir: "dist/src/bundle",
  outExtension: { ".js": ".cjs" },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // ASCII only: a file with any other byte is read as a two-byte string (measured ~36 ms more
  // for this bundle). esbuild leaves some (comments, regular expressions): escaped below.
  charset: "ascii",
  // V8 keeps a script's whole text for as long as it runs (lazy compilation, toString): without
  // indentation and line breaks it is 1.45 MB instead of 2.25 of an idle server's RSS. Names
  // stay; stack traces point into the bundle either way (the source map maps them back).
  minifyWhitespace: true,
  // import.meta.url is the bundle's URL: npm packages loaded at run time through createRequire
  // (ws, snappy, ...) and files found relative to it (the bcrypt worker) are resolved from here
  // exactly as from the module tree: dist/src/bundle is a sibling of dist/src/server.
  define: { "import.meta.url": "__importMetaUrl" },
  // import() of what stays outside (built-ins) becomes require(): V8 does not restore a
  // script's dynamic import handler for functions it takes from a code cache
  // (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
  supported: { "dynamic-import": false },
  banner: { js: 'var __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  sourcemap: "linked",
  logLevel: "warning",
  metafile: process.env.BUNDLE_META !== undefined,
});
// Every non-ASCII UTF-16 unit left becomes a \uXXXX escape, which means the same character in
// strings, templates, regular expressions and identifiers (comments do not matter).
for (const bundleFile of ["dist/src/bundle/server_main.cjs", "dist/src/bundle/entry.cjs"]) {
  const text = readFileSync(bundleFile, "utf8");
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (ascii !== text) writeFileSync(bundleFile, ascii);
}
// BUNDLE_META=file writes esbuild's metafile (what each chunk holds), for size work.
if (result.metafile !== undefined) writeFileSync(process.env.BUNDLE_META, JSON.stringify(result.metafile));
