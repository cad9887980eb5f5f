// Restart recovery through the server: streams, messages and durable consumers written
// over real client connections come back after a restart with the same store directory,
// also when the last block file lost its tail or one record was damaged on disk.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy, type JetStreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { CapturedLog } from "./helpers/captured_log.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-js-recovery-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Running {
  srv: EmbeddedServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  js: JetStreamClient;
  log: CapturedLog;
}

async function start(storeDir: string): Promise<Running> {
  const log = new CapturedLog();
  const srv = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir }, log });
  const nc = await connect({ servers: srv.url });
  return { srv, nc, jsm: await jetstreamManager(nc), js: jetstream(nc), log };
}

async function stop(r: Running): Promise<void> {
  await r.nc.close();
  await r.srv.close();
}

function msgsDir(storeDir: string, stream: string): string {
  return path.join(storeDir, "jetstream", "$G", "streams", stream, "msgs");
}

function blockFiles(storeDir: string, stream: string): string[] {
  const dir = msgsDir(storeDir, stream);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".blk"))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    .map((f) => path.join(dir, f));
}

const body = (i: number): string => `payload-${String(i).padStart(4, "0")}`;

/**
 * The common starting point: stream R (file) with 50 messages on r.<i%5>, a durable pull
 * consumer that got 20 messages and acked 1..10 and 15, a second durable with nothing
 * delivered, and a memory stream that must not come back.
 */
async function populate(storeDir: string): Promise<void> {
  const r = await start(storeDir);
  try {
    await r.jsm.streams.add({ name: "R", subjects: ["r.*"], description: "recover me", max_msgs_per_subject: 100 });
    await r.jsm.streams.add({ name: "VOLATILE", subjects: ["v"], storage: "memory" as never });
    for (let i = 1; i <= 50; i++) await r.js.publish(`r.${i % 5}`, body(i), { msgID: `m-${i}` });
    await r.js.publish("v", "gone after a restart");
    await r.jsm.consumers.add("R", { durable_name: "work", ack_policy: AckPolicy.Explicit, ack_wait: 500_000_000 });
    await r.jsm.consumers.add("R", { durable_name: "idle", ack_policy: AckPolicy.Explicit, filter_subject: "r.1" });
    const c = await r.js.consumers.get("R", "work");
    const got = [];
    for await (const m of await c.fetch({ max_messages: 20, expires: 2000 })) got.push(m);
    assert.equal(got.length, 20);
    for (const m of got) if (m.seq <= 10 || m.seq === 15) await m.ackAck();
    const ci = await c.info();
    assert.deepEqual([ci.delivered.stream_seq, ci.ack_floor.stream_seq, ci.num_ack_pending, ci.num_pending], [20, 10, 9, 30]);
  } finally {
    await stop(r);
  }
}

describe("restart through the server", () => {
  it("brings back streams, messages, consumer positions and redelivers what was not acked", async () => {
    const storeDir = path.join(tmp, "clean");
    await populate(storeDir);
    const r = await start(storeDir);
    try {
      assert.deepEqual(await r.jsm.streams.names().next(), ["R"], "memory streams do not survive");
      const si = await r.jsm.streams.info("R", { subjects_filter: ">" });
      assert.equal(si.config.description, "recover me");
      assert.deepEqual([si.state.messages, si.state.first_seq, si.state.last_seq, si.state.consumer_count], [50, 1, 50, 2]);
      assert.deepEqual(si.state.subjects, { "r.0": 10, "r.1": 10, "r.2": 10, "r.3": 10, "r.4": 10 });
      for (const seq of [1, 25, 50]) assert.equal((await r.jsm.streams.getMessage("R", { seq }))?.string(), body(seq));
      // the de-duplication window survived
      assert.equal((await r.js.publish("r.0", "again", { msgID: "m-50" })).duplicate, true);

      const c = await r.js.consumers.get("R", "work");
      const ci = await c.info();
      assert.deepEqual([ci.delivered.stream_seq, ci.delivered.consumer_seq, ci.ack_floor.stream_seq, ci.num_ack_pending, ci.num_pending], [20, 20, 10, 9, 30]);
      const idle = await (await r.js.consumers.get("R", "idle")).info();
      assert.deepEqual([idle.delivered.stream_seq, idle.num_pending], [0, 10]);
      // The nine unacked (11..14, 16..20) come back once their ack wait (0.5 s, counted from
      // the delivery before the restart) is over, with delivery count 2, before anything new.
      await new Promise((res) => setTimeout(res, 600));
      const back: Array<[number, number]> = [];
      for await (const m of await c.fetch({ max_messages: 9, expires: 3000 })) {
        back.push([m.seq, m.info.deliveryCount]);
        m.ack();
      }
      assert.deepEqual(
        back.sort((a, b) => a[0] - b[0]),
        [11, 12, 13, 14, 16, 17, 18, 19, 20].map((s) => [s, 2]),
      );
      const next = await c.next({ expires: 2000 });
      assert.equal(next?.seq, 21);
      assert.equal(next?.info.deliveryCount, 1);
      await next?.ackAck();
      const after = await c.info();
      assert.deepEqual([after.ack_floor.stream_seq, after.num_ack_pending, after.num_redelivered], [21, 0, 0]);
    } finally {
      await stop(r);
    }
  });

  it("a last block cut off in the middle of a record: earlier messages are there, a warning is logged, the server serves", async () => {
    const storeDir = path.join(tmp, "truncated");
    await populate(storeDir);
    const blocks = blockFiles(storeDir, "R");
    const last = blocks[blocks.length - 1];
    const raw = fs.readFileSync(last);
    const at = raw.lastIndexOf(body(50));
    assert.ok(at > 0, "the last message is in the last block");
    fs.truncateSync(last, at + 3); // inside the record of seq 50
    const r = await start(storeDir);
    try {
      assert.ok(r.log.has("WRN", /partial record|truncat/i), r.log.lines.join("\n"));
      const st = (await r.jsm.streams.info("R")).state;
      assert.deepEqual([st.messages, st.first_seq, st.last_seq], [49, 1, 49]);
      for (const seq of [1, 20, 49]) assert.equal((await r.jsm.streams.getMessage("R", { seq }))?.string(), body(seq));
      assert.equal(await r.jsm.streams.getMessage("R", { seq: 50 }).catch(() => null), null);
      // it serves: new messages go on from the recovered end, consumers still work
      const ack = await r.js.publish("r.0", "after the cut");
      assert.equal(ack.seq, 50);
      const c = await r.js.consumers.get("R", "idle");
      const seen: number[] = [];
      for await (const m of await c.fetch({ max_messages: 10, expires: 1500 })) {
        seen.push(m.seq);
        m.ack();
      }
      assert.deepEqual(seen, [1, 6, 11, 16, 21, 26, 31, 36, 41, 46]);
    } finally {
      await stop(r);
    }
  });

  it("one damaged record: exactly that message is missing and reported, the rest intact, the stream works", async () => {
    const storeDir = path.join(tmp, "bitflip");
    await populate(storeDir);
    const victim = 30;
    const file = blockFiles(storeDir, "R").find((f) => fs.readFileSync(f).includes(body(victim)));
    assert.ok(file !== undefined);
    const buf = fs.readFileSync(file);
    const at = buf.indexOf(body(victim));
    buf[at + 2] ^= 0x20; // one bit inside the payload of seq 30
    fs.writeFileSync(file, buf);

    const r = await start(storeDir);
    try {
      // every other message reads back unchanged; the damaged one is gone
      for (let seq = 1; seq <= 50; seq++) {
        const m = await r.jsm.streams.getMessage("R", { seq }).catch(() => null);
        if (seq === victim) assert.equal(m, null, "the damaged message is not served");
        else assert.equal(m?.string(), body(seq), `seq ${seq}`);
      }
      assert.ok(r.log.has("ERR", new RegExp(`checksum mismatch.*seq ${victim}`)), r.log.lines.join("\n"));
      const st = (await r.jsm.streams.info("R", { deleted_details: true })).state;
      assert.equal(st.messages, 49);
      assert.deepEqual(st.deleted, [victim]);
      assert.deepEqual(st.lost?.msgs, [victim]);
      // publish and consume across the hole
      assert.equal((await r.js.publish("r.0", "new")).seq, 51);
      await r.jsm.consumers.add("R", { durable_name: "after", ack_policy: AckPolicy.Explicit, deliver_policy: "by_start_sequence" as never, opt_start_seq: 28 });
      const c = await r.js.consumers.get("R", "after");
      const seen: number[] = [];
      for await (const m of await c.fetch({ max_messages: 4, expires: 1500 })) {
        seen.push(m.seq);
        m.ack();
      }
      assert.deepEqual(seen, [28, 29, 31, 32]);
    } finally {
      await stop(r);
    }
  });
});
