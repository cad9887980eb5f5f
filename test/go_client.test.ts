// The official Go client (nats.go from Debian's golang-github-nats-io-go-nats-dev, built in
// GOPATH mode) against tsnats: core pub/sub, request/reply, headers, queues; and JetStream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
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
  execFileSync("go", ["build", "-o", bin, "."], {
    cwd: srcDir,
    env: { ...process.env, GO111MODULE: "off", GOPATH: goPath, GOFLAGS: "" },
    stdio: "pipe",
    timeout: 180_000,
  });
  server = await startTestServer({ jetstream: true });
});

after(async () => {
  await server?.close();
  if (bin) fs.rmSync(path.dirname(bin), { recursive: true, force: true });
});

function run(mode: string): string {
  const r = spawnSync(bin, [server.url, mode], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `clientcheck ${mode} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test("Go client: core protocol", { skip }, () => {
  const out = run("core");
  for (const check of ["connect", "pubsub", "request", "no-responders", "queue"]) {
    assert.match(out, new RegExp(`PASS ${check}\\b`));
  }
});

test("Go client: JetStream streams, pull consumers, KV", { skip }, () => {
  const out = run("js");
  for (const check of ["add-stream", "publish", "fetch", "consumer-info", "kv"]) {
    assert.match(out, new RegExp(`PASS ${check}\\b`));
  }
});
