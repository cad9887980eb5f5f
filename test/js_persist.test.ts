// JetStream persistence: a clean restart brings back file streams (config, messages, dedup
// window) and durable consumer state (delivered, ack floor, pending); a SIGKILLed server
// process loses no message it acknowledged.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy, StorageType } from "@nats-io/jetstream";
import { startServer } from "../src/index.js";
import { startNatsServer, TSNATS_SERVER_BIN, type ReferenceServer } from "./helpers/nats_server.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-js-persist-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("restart recovery", () => {
  it("streams, messages, dedup and durable consumer state come back", async () => {
    const storeDir = path.join(tmp, "restart");
    let s = await startServer({ jetstream: { storeDir } });
    let nc = await connect({ servers: s.url });
    let created: string;
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const si = await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"], max_msgs_per_subject: 1000, description: "kept" });
      created = si.created as unknown as string;
      await jsm.streams.add({ name: "MEM", subjects: ["mem"], storage: StorageType.Memory });
      for (let i = 1; i <= 100; i++) await js.publish(`keep.${i % 3}`, `v${i}`, { msgID: `id-${i}` });
      await js.publish("mem", "gone after restart");
      await jsm.consumers.add("KEEP", { durable_name: "d", ack_policy: AckPolicy.Explicit, ack_wait: 5_000_000_000 });
      const c = await js.consumers.get("KEEP", "d");
      const ms = [];
      for await (const m of await c.fetch({ max_messages: 10, expires: 1000 })) ms.push(m);
      assert.equal(ms.length, 10);
      for (const m of ms.slice(0, 5)) await m.ackAck();
      const before = await c.info();
      assert.deepEqual([before.delivered.stream_seq, before.ack_floor.stream_seq, before.num_ack_pending], [10, 5, 5]);
    } finally {
      await nc.close();
      await s.close();
    }

    s = await startServer({ jetstream: { storeDir } });
    nc = await connect({ servers: s.url });
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const names = (await jsm.streams.names().next()).sort();
      assert.deepEqual(names, ["KEEP"], "memory streams do not survive a restart");
      const si = await jsm.streams.info("KEEP");
      assert.equal(si.config.description, "kept");
      assert.equal(si.config.max_msgs_per_subject, 1000);
      assert.equal(si.created as unknown as string, created);
      assert.deepEqual([si.state.messages, si.state.first_seq, si.state.last_seq, si.state.consumer_count], [100, 1, 100, 1]);
      assert.equal((await jsm.streams.getMessage("KEEP", { seq: 42 }))?.string(), "v42");
      const dup = await js.publish("keep.0", "again", { msgID: "id-100" });
      assert.equal(dup.duplicate, true);
      assert.equal(dup.seq, 100);
      const c = await js.consumers.get("KEEP", "d");
      const ci = await c.info();
      assert.deepEqual([ci.delivered.stream_seq, ci.ack_floor.stream_seq, ci.num_ack_pending, ci.num_pending], [10, 5, 5, 90]);
      // Delivery continues at 11; the unacked 6..10 come back once their ack_wait is over
      // (5 s: a loaded machine may take a second or two from the restart to this fetch).
      const fresh: number[] = [];
      for await (const m of await c.fetch({ max_messages: 3, expires: 2000 })) {
        fresh.push(m.seq);
        m.ack();
      }
      assert.deepEqual(fresh, [11, 12, 13]);
      // Past the recovered pending set's ack_wait (waiting longer changes nothing): redelivered first.
      await new Promise((r) => setTimeout(r, 5_500));
      const again: Array<[number, number]> = [];
      for await (const m of await c.fetch({ max_messages: 5, expires: 10_000 })) {
        again.push([m.seq, m.info.deliveryCount]);
        m.ack();
      }
      assert.deepEqual(again.sort((a, b) => a[0] - b[0]), [[6, 2], [7, 2], [8, 2], [9, 2], [10, 2]]);
    } finally {
      await nc.close();
      await s.close();
    }
  });
});

describe("crash safety", () => {
  const servers: ReferenceServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  async function spawnServer(storeDir: string): Promise<{ child: ChildProcess; url: string }> {
    const s = await startNatsServer(["-js", "-sd", storeDir], undefined, "tsnats");
    servers.push(s);
    return { child: s.proc, url: `nats://127.0.0.1:${s.port}` };
  }

  it("every acknowledged message survives SIGKILL", { skip: !fs.existsSync(TSNATS_SERVER_BIN) && "server binary not built" }, async () => {
    const storeDir = path.join(tmp, "kill");
    const first = await spawnServer(storeDir);
    const acked = new Map<number, string>();
    let nc = await connect({ servers: first.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "CRASH", subjects: ["crash.>"] });
      const js = jetstream(nc);
      // Async publishing in windows, killing the server while acks are still in flight.
      let n = 0;
      const killAt = 3000;
      const inflight = new Set<Promise<void>>();
      while (n < 20_000) {
        const body = `payload-${n}`;
        const p: Promise<void> = js
          .publish(`crash.${n % 7}`, body, { timeout: 2000 })
          .then((ack) => {
            acked.set(ack.seq, body);
          })
          .catch(() => undefined)
          .finally(() => inflight.delete(p));
        inflight.add(p);
        n++;
        if (n === killAt) first.child.kill("SIGKILL");
        if (inflight.size >= 256) await Promise.race(inflight);
        if (first.child.exitCode !== null || first.child.signalCode !== null) break;
      }
      await Promise.allSettled([...inflight]);
    } finally {
      await nc.close().catch(() => undefined);
    }
    await new Promise<void>((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r() : first.child.once("exit", () => r())));
    assert.ok(acked.size > 0, "some publishes were acknowledged before the kill");

    const second = await spawnServer(storeDir);
    nc = await connect({ servers: second.url });
    try {
      const jsm = await jetstreamManager(nc);
      const st = (await jsm.streams.info("CRASH")).state;
      const maxAcked = Math.max(...acked.keys());
      assert.ok(st.last_seq >= maxAcked, `last_seq ${st.last_seq} >= highest acked ${maxAcked}`);
      for (const [seq, body] of acked) {
        const m = await jsm.streams.getMessage("CRASH", { seq });
        assert.equal(m?.string(), body, `seq ${seq}`);
      }
    } finally {
      await nc.close();
      second.child.kill("SIGTERM");
      await new Promise<void>((r) => (second.child.exitCode !== null ? r() : second.child.once("exit", () => r())));
    }
  });
});
