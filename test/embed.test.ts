// The embedding API as an application uses it: imported by package name, persistence in a
// directory of its own, stopped and started again in the same process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NATS_FEATURE_VERSION } from "../src/server/version.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startServer, TSNATS_VERSION } from "tsnats";

test("embedded broker keeps its streams in a directory across restarts", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-embed-"));
  try {
    const first = await startServer({ port: -1, jetstream: { storeDir: dir } });
    assert.match(first.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    let nc = await connect({ servers: first.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"] });
    const js = jetstream(nc);
    for (let i = 0; i < 10; i++) await js.publish(`events.${i}`, `e${i}`);
    await nc.close();
    await first.close();

    const second = await startServer({ port: -1, jetstream: { storeDir: dir } });
    try {
      nc = await connect({ servers: second.url });
      const info = await (await jetstreamManager(nc)).streams.info("EVENTS");
      assert.equal(info.state.messages, 10);
      const m = await jetstream(nc).streams.get("EVENTS").then((s) => s.getMessage({ seq: 10 }));
      assert.equal(m?.string(), "e9");
      // tsnats' own version travels in its own INFO field; `version` is the nats-server level.
      const info2 = nc.info as unknown as Record<string, unknown>;
      assert.equal(info2.tsnats_version, TSNATS_VERSION);
      assert.equal(info2.version, NATS_FEATURE_VERSION);
      await nc.close();
    } finally {
      await second.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a start that fails (its cluster port taken) stops what it started: the embedding process ends by itself", { timeout: 120_000 }, async () => {
  // In a child process: left-over listeners or timers would keep it alive (seen here as a killed child).
  const { spawn } = await import("node:child_process");
  const script = `
    import net from "node:net";
    import os from "node:os";
    import fs from "node:fs";
    import path from "node:path";
    import { startServer } from "tsnats";
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, "127.0.0.1", r));
    const taken = blocker.address().port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-failed-start-"));
    let error = "";
    try {
      await startServer({ host: "127.0.0.1", port: -1, serverName: "F", jetstream: { storeDir: dir }, cluster: { name: "C", host: "127.0.0.1", port: taken, routes: [] } });
    } catch (err) {
      error = err.message;
    }
    blocker.close();
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify({ error }));
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: path.dirname(new URL(import.meta.url).pathname), stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(killer);
  assert.equal(code, 0, "the child ended by itself (killed: something of the failed start kept running)");
  assert.match((JSON.parse(out.trim()) as { error: string }).error, /address already in use/);
});
