// The C client (libnats / cnats) against tsnats: test/c/basic.c is compiled with the system
// compiler and run as a separate process. Needs `cc` and libnats-dev (Debian: apt-get install
// -y gcc libnats-dev); the test is skipped with a note when they are missing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { missingCToolchain, cSource, run } from "./helpers/c_client.js";
import { startTestServer, waitUntil } from "./helpers/server.js";

// dist/test/<this>.js -> repo root -> test/c/basic.c
const source = cSource("basic.c");

const skip = missingCToolchain();

describe("core with the C client (libnats)", () => {
  it("connects, publishes, subscribes, requests, uses headers and queues", { skip }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-c-"));
    const exe = path.join(dir, "basic");
    const srv = await startTestServer();
    try {
      const cc = await run("cc", ["-O1", "-o", exe, source, "-lnats"], 60_000);
      assert.equal(cc.code, 0, `compile failed:\n${cc.out}`);
      const r = await run(exe, [srv.url], 30_000);
      assert.equal(r.code, 0, `C client failed:\n${r.out}`);
      const steps = r.out
        .split("\n")
        .filter((l) => l.startsWith("ok "))
        .map((l) => l.split(" ")[1]);
      assert.deepEqual(steps, ["connect", "pubsub", "headers", "request", "noresponders", "queue", "autounsub", "done"]);
      // The C program has exited; the server notices its closed socket a moment later.
      await waitUntil(() => srv.server.closedClients.some((c) => c.client.opts.lang === "C"), 5000, "a closed client with lang C");
    } finally {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
