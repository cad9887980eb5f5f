// The official Go client (nats.go from Debian's golang-github-nats-io-go-nats-dev, built in
// GOPATH mode) against tsnats: core pub/sub, request/reply, headers, queues; JetStream; and
// replicated JetStream on a cluster of three across the loss of a stream's leader.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import readline from "node:readline";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { copyOf, JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";

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

/** The checks the cluster mode passes, in order (test/go/clientcheck/cluster.go). */
const CLUSTER_CHECKS = ["add-stream", "publish", "stream-info", "fetch", "kv", "publish-after", "new-leader", "fetch-after", "consumer-after", "kv-after"];

/**
 * Runs the cluster mode against `urls`, stopping the server it names (the stream's leader) with
 * `stop` when it asks; returns the member it named.
 */
async function runClusterCheck(urls: string[], stop: (name: string) => Promise<void>): Promise<string> {
  const child = spawn(bin, [urls.join(","), "cluster"], { stdio: ["pipe", "pipe", "pipe"] });
  const out: string[] = [];
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const killer = setTimeout(() => child.kill("SIGKILL"), 240_000);
  let stopped = "";
  for await (const line of readline.createInterface({ input: child.stdout })) {
    out.push(line);
    const asked = /^STOP (\S+)$/.exec(line);
    if (asked !== null) {
      stopped = asked[1]!;
      await stop(stopped);
      child.stdin.write("STOPPED\n");
    }
  }
  clearTimeout(killer);
  const code = await exited;
  const text = out.join("\n");
  assert.equal(code, 0, `clientcheck cluster exited ${code}\n${text}\n${stderr}`);
  assert.deepEqual(out.filter((l) => l.startsWith("PASS ")), CLUSTER_CHECKS.map((c) => `PASS ${c}`));
  return stopped;
}

test("Go client: an R3 stream, durable and KV bucket across the loss of the stream's leader", { skip }, async () => {
  const c = await JsTestCluster.start(3, "GOC");
  try {
    await c.metaAllCurrent();
    const stopped = await runClusterCheck(c.members.map((m) => m.url), (name) => c.stopMember(name));
    // The stopped leader, back, is caught up with what was published while it was away.
    assert.ok(c.members.some((m) => m.name === stopped), `the program named a member to stop: ${stopped}`);
    await c.startMember(stopped);
    await waitUntil(() => streamOn(c, stopped, "GOR3")?.store.state().msgs === 200, 30_000, `${stopped}'s copy of GOR3 caught up`);
    const copies = c.members.map((m) => copyOf(c, m.name, "GOR3"));
    for (const copy of copies.slice(1)) assert.deepEqual(copy, copies[0]);
    assert.deepEqual(copies[0]!.map(([seq, , data]) => `${seq}:${data}`), Array.from({ length: 200 }, (_, i) => `${i + 1}:m-${i + 1}`));
  } finally {
    await c.stop();
  }
});

for (const line of ["tsnats", "2.15"] as const) {
  const who = line === "tsnats" ? "three tsnats-server processes started from configuration files, used at once" : "three nats-server 2.15";
  test(`Go client: the same cluster checks pass on ${who}`, { skip }, async (t) => {
    const c = await startRefJsCluster(3, "GOREF", { line });
    if (c === undefined) return t.skip("nats-server 2.15 not installed");
    try {
      await runClusterCheck(c.urls, (name) => c.stopServer(Number(name.slice(1)) - 1));
    } finally {
      await c.stop();
    }
  });
}
