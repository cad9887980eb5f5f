// The traffic the build sends to its throwaway server before it writes the V8 code cache
// (scripts/code_cache_training.mjs, run by scripts/code_cache.mjs): it must run clean against
// the current server, or the cache silently misses the paths it is there for. Checked here
// against a test server: it reports no problem, and the server saw every kind of traffic the
// cache is meant to hold (publishes and deliveries, many connections, JetStream stores in file
// and memory, acked pulls, an ordered push consumer, a KV bucket, purge and delete, the
// monitoring endpoints), and it leaves no connection open.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, waitUntil } from "./helpers/server.js";

interface Training {
  trainServer(port: number, monitorPort: number): Promise<string | undefined>;
}

async function getJson(url: string): Promise<Record<string, any>> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return (await res.json()) as Record<string, any>;
}

test("the code cache's training traffic runs clean and reaches every path it is meant to compile", async () => {
  // dist/test/ -> the package's scripts/ (not compiled by tsc: plain ES module).
  const training = (await import(new URL("../../scripts/code_cache_training.mjs", import.meta.url).href)) as Training;
  const srv = await startTestServer({ jetstream: true, httpPort: -1 });
  try {
    const monitor = srv.monitorUrl!;
    const problem = await training.trainServer(srv.port, Number(new URL(monitor).port));
    assert.equal(problem, undefined);

    const varz = await getJson(`${monitor}/varz`);
    assert.ok(varz.in_msgs > 1000, `in_msgs ${varz.in_msgs}`);
    assert.ok(varz.out_msgs > 1000, `out_msgs ${varz.out_msgs}`);
    // Two rounds of responder + requester, and 64 short-lived connections.
    assert.ok(varz.total_connections >= 68, `total_connections ${varz.total_connections}`);
    // The training closes its connections; the server may see the last closes a moment later.
    await waitUntil(() => srv.server.clients.size === 0, 10_000, "training connections closed");

    const jsz = await getJson(`${monitor}/jsz?streams=true&consumers=true`);
    const streams = new Map<string, any>((jsz.account_details?.[0]?.stream_detail ?? []).map((s: any) => [s.name, s]));
    for (const name of ["TRAIN_FILE", "TRAIN_MEMORY"]) {
      const stream = streams.get(name);
      assert.ok(stream, `stream ${name}`);
      // 10 synchronous + 100 windowed + 3 distinct message ids of 5 publishes.
      assert.equal(stream.state.messages, 113, `${name} messages`);
      const pull = (stream.consumer_detail ?? []).find((c: any) => c.name === "PULL");
      assert.ok(pull, `${name} pull consumer`);
      assert.equal(pull.ack_floor.stream_seq, 113, `${name} pulls all acked`);
      const pushed = (stream.consumer_detail ?? []).find((c: any) => c.name !== "PULL");
      assert.ok(pushed, `${name} ordered push consumer`);
      assert.equal(pushed.delivered.stream_seq, 113, `${name} ordered consumer delivered all`);
    }
    assert.equal(streams.has("TRAIN_GONE"), false, "the purged stream was deleted");
    const kv = streams.get("KV_TRAIN");
    assert.ok(kv, "KV bucket stream");
    // 3 keys, one of them deleted (a delete marker is the key's last message).
    assert.equal(kv.state.messages, 3);
  } finally {
    await srv.close();
  }
});
