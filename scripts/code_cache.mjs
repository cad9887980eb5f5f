// Makes the V8 code cache of the server's bundle (dist/src/bundle/server_main.cache, read by
// src/start/code_cache.ts), run by `npm run build` after scripts/bundle.mjs: starts the built bin
// once (JetStream and monitoring on, ports chosen by the system, store in a temporary
// directory), waits for "Server is ready", sends it the clients' usual traffic
// (code_cache_training.mjs: so the publish, request, JetStream and monitoring paths are in the
// cache too, not only start-up), stops it with SIGTERM; the bin writes the code V8 compiled
// meanwhile at its exit. If it fails, the build goes on: the bin then compiles the bundle from
// source, as it does whenever V8 rejects the cache. If only the traffic fails, the cache is
// made all the same (with less in it) and the build says so.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trainServer } from "./code_cache_training.mjs";

const bundle = "dist/src/bundle/server_main.cjs";
const cache = "dist/src/bundle/server_main.cache";
rmSync(cache, { force: true });
if (!existsSync(bundle)) process.exit(0);

const storeDir = mkdtempSync(join(tmpdir(), "tsnats-code-cache-"));
const partial = `${cache}.partial`;
const child = spawn(process.execPath, ["dist/src/bin/tsnats-server.js", "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd", storeDir], {
  env: { ...process.env, TSNATS_WRITE_CODE_CACHE: partial },
  stdio: ["ignore", "ignore", "pipe"],
});
let log = "";
let stopped = false;
const timeout = setTimeout(() => {
  log += "\n(no \"Server is ready\" within 60 s)";
  child.kill("SIGKILL");
}, 60_000);
child.stderr.setEncoding("utf8");
child.stderr.on("data", (chunk) => {
  log += chunk;
  if (!stopped && log.includes("Server is ready")) {
    stopped = true;
    const port = Number(/Listening for client connections on [^\s]*:(\d+)/.exec(log)?.[1]);
    const monitorPort = Number(/Starting http monitor on [^\s]*:(\d+)/.exec(log)?.[1]);
    const trained = port ? trainServer(port, monitorPort) : Promise.resolve("no client port in the log");
    trained.then((problem) => {
      if (problem) process.stderr.write(`scripts/code_cache.mjs: the code cache misses some paths (its traffic failed: ${problem})\n`);
      child.kill("SIGTERM");
    });
  }
});
const code = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? signal)));
clearTimeout(timeout);
rmSync(storeDir, { recursive: true, force: true });
if (stopped && code === 0 && existsSync(partial)) {
  renameSync(partial, cache);
} else {
  rmSync(partial, { force: true });
  process.stderr.write(`scripts/code_cache.mjs: no code cache made (server exit ${code}); tsnats-server compiles its bundle at each start\n${log}\n`);
}
