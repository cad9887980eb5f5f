// Bundles tsnats-server's modules (tsc's output under dist/src) with esbuild, run by
// `npm run build` after tsc. Loading ~160 separate ES modules was most of the server's
// start-up time (each one resolved, read, compiled and linked on its own); the bin loads
// these few files instead. Modules the server imports dynamically (JetStream, monitoring,
// routes, leaf nodes, gateways, websockets, ...) stay separate chunks, loaded only when the
// configuration asks for them. The module tree under dist/src stays as it is: it is what
// the package's embedding API and the tests import, and the bin falls back to it when the
// bundle is older than the last tsc run (see src/bin/tsnats-server.ts).
import { rmSync, writeFileSync } from "node:fs";

// Chunk names carry a content hash: a previous build's chunks would otherwise pile up.
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
  entryPoints: { server_main: "dist/src/bin/server_main.js" },
  outdir: "dist/src/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // npm packages loaded at run time through createRequire (ws, snappy, ...) are resolved from
  // here exactly as from the module tree: dist/src/bundle is a sibling of dist/src/server.
  // The CommonJS packages inlined here (nkeys, tweetnacl) require Node's built-ins through it.
  banner: { js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);' },
  chunkNames: "chunk-[hash]",
  sourcemap: "linked",
  logLevel: "warning",
  metafile: process.env.BUNDLE_META !== undefined,
});
// BUNDLE_META=file writes esbuild's metafile (what each chunk holds), for size work.
if (result.metafile !== undefined) writeFileSync(process.env.BUNDLE_META, JSON.stringify(result.metafile));
