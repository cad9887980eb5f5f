// The C client (libnats / cnats) against tsnats: test/c/basic.c is compiled with the system
// compiler and run as a separate process. Needs `cc` and libnats-dev (Debian: apt-get install
// -y gcc libnats-dev); the test is skipped with a note when they are missing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { missingCToolchain, cClient, okSteps } from "./helpers/c_client.js";
import { startTestServer, waitUntil } from "./helpers/server.js";

const skip = missingCToolchain();

describe("core with the C client (libnats)", () => {
  it("connects, publishes, subscribes, requests, uses headers and queues", { skip }, async () => {
    const client = cClient("basic.c");
    const srv = await startTestServer();
    try {
      const cc = await client.compile();
      assert.equal(cc.code, 0, `compile failed:\n${cc.out}`);
      const r = await client.run(srv.url);
      assert.equal(r.code, 0, `C client failed:\n${r.out}`);
      const steps = okSteps(r.out);
      assert.deepEqual(steps, ["connect", "pubsub", "headers", "request", "noresponders", "queue", "autounsub", "done"]);
      // The C program has exited; the server notices its closed socket a moment later.
      await waitUntil(() => srv.server.closedClients.some((c) => c.client.opts.lang === "C"), 5000, "a closed client with lang C");
    } finally {
      await srv.close();
      client.dispose();
    }
  });
});
