// What a client application does with JetStream, while T3 (nrg_peer_meta_lead) leads the meta
// group of a cluster with two nats-server 2.15: a KV bucket and an object store created, used
// and deleted through the npm clients, and ordered and ephemeral pull consumers, each asset
// assigned by T3 and served by the groups' leaders (nats-servers or T3), the nats-servers
// holding every stream T3 assigned.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn } from "./helpers/nrg_cluster.js";

test("KV, object store, ordered and ephemeral consumers work through T3 as the meta leader of a nats-server 2.15 cluster", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  try {
    const { n1, n2, nc1, nc2 } = await cluster.upWithClients();
    await cluster.metaLeadOnT3();
    // A manager made now asks T3 for the account info.
    const jsm = await jetstreamManager(nc2, { timeout: 10_000 });

    const kv = await retry(() => new Kvm(nc1).create("cfg", { replicas: 3, history: 3 }));
    for (let i = 1; i <= 3; i++) await kv.put("a.key", `v${i}`);
    await kv.put("b.key", "b");
    assert.equal((await kv.get("a.key"))?.string(), "v3");
    const history: string[] = [];
    for await (const e of await kv.history({ key: "a.key" })) history.push(e.string());
    assert.deepEqual(history, ["v1", "v2", "v3"]);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.deepEqual(keys.sort(), ["a.key", "b.key"]);
    await waitUntil(async () => (await streamStateOn(n1, "KV_cfg"))?.messages === 4 && (await streamStateOn(n2, "KV_cfg"))?.messages === 4, 20_000, "N1 and N2 hold KV_cfg's 4 values");
    const seen: string[] = [];
    const watch = await kv.watch({ key: "a.key" });
    for await (const e of watch) {
      seen.push(e.string());
      if (seen.length === 1) await kv.put("a.key", "v4");
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, ["v3", "v4"]);

    const os = await retry(() => new Objm(nc2).create("files", { replicas: 3 }));
    const blob = Buffer.alloc(300_000, 7);
    await os.putBlob({ name: "blob" }, blob);
    const back = await os.getBlob("blob");
    assert.equal(Buffer.compare(Buffer.from(back ?? new Uint8Array()), blob), 0);
    assert.deepEqual((await os.list()).map((i) => i.name), ["blob"]);

    // An ordered consumer and an ephemeral pull consumer of the KV stream.
    const js = jetstream(nc1);
    const ordered = await js.consumers.get("KV_cfg");
    const firstOrdered = await ordered.next({ expires: 5_000 });
    assert.ok(firstOrdered !== null, "the ordered consumer delivers");
    const eph = await jsm.consumers.add("KV_cfg", { ack_policy: "explicit" as never, inactive_threshold: 30_000_000_000 });
    const fetched = await (await js.consumers.get("KV_cfg", eph.name)).fetch({ max_messages: 10, expires: 5_000 });
    let count = 0;
    for await (const m of fetched) {
      m.ack();
      count++;
    }
    assert.equal(count, 4, "the ephemeral consumer delivers the KV stream's 4 messages (history 3 of a.key, b.key)");
    const info = await jsm.streams.info("KV_cfg");
    t.diagnostic(`KV_cfg led by ${info.cluster?.leader}, ${info.state.consumer_count} consumers; OBJ_files led by ${(await jsm.streams.info("OBJ_files")).cluster?.leader}`);

    await kv.destroy();
    assert.equal(await os.destroy(), true);
    await waitUntil(async () => (await streamStateOn(n1, "KV_cfg")) === undefined && (await streamStateOn(n2, "OBJ_files")) === undefined, 20_000, "the buckets are gone from N1 and N2");
    assert.deepEqual(await Promise.all([n1, n2].map((s) => cluster.metaLeaderOn(s))), ["T3", "T3"], "T3 led the meta group throughout");
  } finally {
    await cluster.stop();
  }
});
