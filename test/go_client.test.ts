// The official Go client (nats.go from Debian's golang-github-nats-io-go-nats-dev, built in
// GOPATH mode) against tsnats: core pub/sub, request/reply, headers, queues; and JetStream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTestServer, type TestServer } from "./helpers/server.js";

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/test -> test/go/clientcheck in the source tree
const srcDir = path.resolve(here, "../../test/go/clientcheck");
const goPath = "/usr/share/gocode";
const haveGo = spawnSync("go", ["version"]).status === 0 && fs.existsSync(path.join(goPath, "src/github.com/nats-io/nats.go"));
const skip = haveGo ? false : "needs go and golang-github-nats-io-go-nats-dev (Debian)";

let bin = "";
let server: TestServer;

before(async () => {
  if (skip) return;
  bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-go-")), "clientcheck");
  await promisify(execFile)("go", ["build", "-o", bin, "."], {
    cwd: srcDir,
    env: { ...process.env, GO111MODULE: "off", GOPATH: goPath, GOFLAGS: "" },
    timeout: 180_000,
  });
  server = await startTestServer({ jetstream: true });
});

after(async () => {
  await server?.close();
  if (bin) fs.rmSync(path.dirname(bin), { recursive: true, force: true });
});

/** Runs the Go program asynchronously: the server under test lives in this process's event loop. */
async function run(mode: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(bin, [server.url, mode], { encoding: "utf8", timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    assert.fail(`clientcheck ${mode} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

test("Go client: core protocol", { skip }, async () => {
  const out = await run("core");
  for (const check of ["connect", "pubsub", "request", "no-responders", "queue"]) {
    assert.match(out, new RegExp(`PASS ${check}\\b`));
  }
});

test("Go client: JetStream streams, pull consumers, KV", { skip }, async () => {
  const out = await run("js");
  for (const check of ["add-stream", "publish", "fetch", "consumer-info", "kv"]) {
    assert.match(out, new RegExp(`PASS ${check}\\b`));
  }
});
