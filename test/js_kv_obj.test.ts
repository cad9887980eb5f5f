// Key-value and object stores through @nats-io/kv and @nats-io/obj (streams with rollups,
// per-subject limits, Direct Get and ordered consumers underneath), and nats v2's
// jetstream() API (push, pull, ordered) against the same server.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect as connectV2, consumerOpts, AckPolicy, StringCodec } from "nats";
import { startTestServer, type TestServer } from "./helpers/server.js";

let srv: TestServer;
let nc: NatsConnection;

before(async () => {
  srv = await startTestServer({ jetstream: true });
  nc = await connect({ servers: srv.url });
});
after(async () => {
  await nc?.close();
  await srv?.close();
});

describe("key-value", () => {
  it("put/get/create/update/delete/purge, history, keys and watch", async () => {
    const kv = await new Kvm(nc).create("cfg", { history: 3 });
    const st0 = await kv.status();
    assert.equal(st0.streamInfo.config.allow_direct, true, "KV reads use Direct Get");
    assert.equal(await kv.put("a", "1"), 1);
    await kv.put("a", "2");
    await kv.put("a", "3");
    await kv.put("a", "4");
    await kv.put("b.c", "x");
    assert.equal((await kv.get("a"))?.string(), "4");
    const hist: string[] = [];
    for await (const e of await kv.history({ key: "a" })) hist.push(e.string());
    assert.deepEqual(hist, ["2", "3", "4"], "history limited to 3");
    await assert.rejects(kv.create("a", "no"), /wrong last sequence/);
    assert.equal(await kv.create("new", "yes"), 6);
    const cur = await kv.get("new");
    await kv.update("new", "updated", cur?.revision ?? 0);
    await assert.rejects(kv.update("new", "stale", cur?.revision ?? 0), /wrong last sequence/);
    await kv.delete("b.c");
    assert.equal((await kv.get("b.c"))?.operation, "DEL");
    await kv.purge("a");
    assert.equal((await kv.get("a"))?.operation, "PURGE");
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.deepEqual(keys.sort(), ["new"]);

    const seen: string[] = [];
    const w = await kv.watch({ key: "w.>" });
    const done = (async () => {
      for await (const e of w) {
        seen.push(`${e.key}=${e.string()}:${e.operation}`);
        if (seen.length === 3) break;
      }
    })();
    await kv.put("w.1", "a");
    await kv.put("w.2", "b");
    await kv.delete("w.1");
    await done;
    assert.deepEqual(seen, ["w.1=a:PUT", "w.2=b:PUT", "w.1=:DEL"]);
    // a: purge marker; b.c: put+del; new: create+update; w.1: put+del; w.2: put
    assert.equal((await kv.status()).values, 8);
  });
});

describe("key-value watchers and PubAcks", () => {
  // nats.js' own suite ("kv - initialized watch with modifications") closes the connection as
  // its watcher sees the last put: the put's PubAck must have come first on that connection,
  // although by default it waits for the message's fsync.
  it("a watcher on the publisher's connection gets each put after its PubAck", async () => {
    const own = await connect({ servers: srv.url });
    const kv = await new Kvm(own).create("watched");
    const iter = await kv.watch();
    const watching = (async () => {
      for await (const e of iter) {
        if (e.key === "k49") {
          await own.close();
          return;
        }
      }
    })();
    const puts = (async () => {
      for (let i = 0; i < 50; i++) {
        await kv.put(`k${i}`, "v");
      }
    })();
    await watching;
    await puts; // rejects if the connection closed before the last PubAck arrived
  });
});

describe("object store", () => {
  it("stores, lists, reads back and deletes multi-chunk objects", async () => {
    const os = await new Objm(nc).create("files");
    const data = new Uint8Array(300 * 1024).map((_, i) => (i * 7) % 251);
    const info = await os.putBlob({ name: "big.bin", description: "three chunks" }, data);
    assert.equal(info.size, data.length);
    assert.ok(info.chunks >= 3);
    const back = await os.getBlob("big.bin");
    assert.ok(back !== null && Buffer.from(back).equals(Buffer.from(data)));
    await os.putBlob({ name: "small.txt" }, new TextEncoder().encode("hello"));
    const names = (await os.list()).map((o) => o.name).sort();
    assert.deepEqual(names, ["big.bin", "small.txt"]);
    await os.delete("big.bin");
    assert.equal(await os.getBlob("big.bin"), null);
    const st = await os.status();
    assert.equal(st.sealed, false);
  });
});

describe("nats v2 jetstream()", () => {
  it("publishes, pulls, pushes and runs an ordered consumer", async () => {
    const sc = StringCodec();
    const v2 = await connectV2({ servers: srv.url });
    try {
      const jsm = await v2.jetstreamManager();
      await jsm.streams.add({ name: "V2", subjects: ["v2.*"] });
      const js = v2.jetstream();
      for (let i = 0; i < 10; i++) {
        const ack = await js.publish("v2.a", sc.encode(`m${i}`), { msgID: `v2-${i}` });
        assert.equal(ack.seq, i + 1);
      }
      const oc = consumerOpts();
      oc.orderedConsumer();
      const ordered = await js.subscribe("v2.*", oc);
      let n = 0;
      for await (const m of ordered) {
        assert.equal(sc.decode(m.data), `m${n}`);
        n++;
        if (m.info.pending === 0) break;
      }
      assert.equal(n, 10);

      const po = consumerOpts();
      po.durable("push");
      po.deliverTo("v2.deliver.push");
      po.ackExplicit();
      po.manualAck();
      const push = await js.subscribe("v2.a", po);
      let k = 0;
      for await (const m of push) {
        m.ack();
        if (++k === 10) break;
      }
      const ps = await js.pullSubscribe("v2.a", { config: { durable_name: "pull", ack_policy: AckPolicy.Explicit } });
      ps.pull({ batch: 4, expires: 1000 });
      let p = 0;
      for await (const m of ps) {
        m.ack();
        if (++p === 4) break;
      }
      const f = await js.fetch("V2", "pull", { batch: 10, expires: 1000 });
      let q = 0;
      for await (const m of f) {
        m.ack();
        q++;
      }
      assert.equal(q, 6);
      await assert.rejects(js.pull("V2", "pull"), /no messages/);
      const ci = await jsm.consumers.info("V2", "pull");
      assert.equal(ci.num_pending, 0);
      assert.equal(ci.delivered.stream_seq, 10);
    } finally {
      await v2.close();
    }
  });
});
