// JetStream with the C client (libnats / cnats): test/c/js.c is compiled with the system
// compiler and run as a child process against tsnats: js_AddStream, js_Publish with a
// message id (duplicate detection) and an expected last sequence, js_PullSubscribe +
// natsSubscription_Fetch + natsMsg_AckSync with the ack metadata, consumer info counters,
// and a KeyValue bucket (js_CreateKeyValue, kvStore_Put/Get). Skipped when cc or
// libnats-dev is missing. The child runs asynchronously: the server lives in this
// process's event loop.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { missingCToolchain, cClient, okSteps } from "./helpers/c_client.js";
import { startTestServer } from "./helpers/server.js";

const skip = missingCToolchain();

describe("JetStream with the C client (libnats)", () => {
  it("adds a stream, publishes with ids, pulls and acks, uses a KV bucket", { skip }, async () => {
    const client = cClient("js.c");
    const srv = await startTestServer({ jetstream: true });
    try {
      const cc = await client.compile();
      assert.equal(cc.code, 0, `compile failed:\n${cc.out}`);
      const r = await client.run(srv.url);
      assert.equal(r.code, 0, `C client failed:\n${r.out}`);
      const steps = okSteps(r.out);
      assert.deepEqual(steps, ["connect", "addstream", "publish", "pull", "kv", "done"]);
      // What the C program did is visible in the server's state.
      const jsa = srv.server.globalAccount.jetstream as { streams: Map<string, unknown> } | undefined;
      assert.ok(jsa !== undefined);
      assert.equal(jsa.streams.has("CORDERS"), false, "the C client deleted its stream");
      assert.equal(jsa.streams.has("KV_CCONF"), true, "the KV bucket is a stream");
    } finally {
      await srv.close();
      client.dispose();
    }
  });
});
