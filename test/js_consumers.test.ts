// JetStream consumers through the real clients: pull (fetch/consume/next), push, ordered,
// acks of every kind, redelivery after ack_wait, max_deliver with its advisory, backoff,
// pull request statuses, interest and workqueue retention, and the ack metadata clients parse.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createInbox, headers, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { connect as connectV2, consumerOpts } from "nats";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { jetStreamFixture } from "./helpers/jetstream.js";

let srv: TestServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
jetStreamFixture((f) => ({ srv, nc, jsm, js } = f));

async function fill(stream: string, subject: string, n: number, storage: StorageType = StorageType.File): Promise<void> {
  await jsm.streams.add({ name: stream, subjects: [subject.replace(/\.[^.]+$/, ".>")], storage });
  for (let i = 1; i <= n; i++) await js.publish(subject, `m${i}`);
}

/** Collect messages on a subject until `n` arrived. */
function collect(subject: string, n: number, timeoutMs = 5000): Promise<Msg[]> {
  const got: Msg[] = [];
  return new Promise((resolve, reject) => {
    const sub = nc.subscribe(subject, {
      callback: (_e, m) => {
        got.push(m);
        if (got.length === n) {
          sub.unsubscribe();
          resolve(got);
        }
      },
    });
    setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`only ${got.length}/${n} on ${subject}`));
    }, timeoutMs).unref();
  });
}

describe("pull consumers", () => {
  it("fetch, next and consume with metadata from the ack subject", async () => {
    await fill("PULL", "pull.a", 10);
    await jsm.consumers.add("PULL", { durable_name: "w", ack_policy: AckPolicy.Explicit });
    const c = await js.consumers.get("PULL", "w");
    const batch = await c.fetch({ max_messages: 4, expires: 2000 });
    const seqs: number[] = [];
    for await (const m of batch) {
      seqs.push(m.seq);
      assert.equal(m.info.stream, "PULL");
      assert.equal(m.info.consumer, "w");
      assert.equal(m.info.deliveryCount, 1);
      assert.equal(m.info.pending, 10 - m.seq);
      assert.ok(Math.abs(m.info.timestampNanos / 1e6 - Date.now()) < 60_000);
      m.ack();
    }
    assert.deepEqual(seqs, [1, 2, 3, 4]);
    const one = await c.next({ expires: 2000 });
    assert.equal(one?.seq, 5);
    assert.equal(await one?.ackAck(), true);
    const it = await c.consume({ max_messages: 3 });
    let last = 0;
    for await (const m of it) {
      m.ack();
      last = m.seq;
      if (m.info.pending === 0) break;
    }
    assert.equal(last, 10);
    await waitUntil(() => true);
    const info = await c.info();
    assert.equal(info.delivered.stream_seq, 10);
    assert.equal(info.num_pending, 0);
    await waitUntil(() => true);
    await jsm.streams.delete("PULL");
  });

  it("answers 404 for no_wait, 408 on expiry with pending counts, 409 for limits", async () => {
    await fill("STAT", "stat.a", 1);
    await jsm.consumers.add("STAT", { durable_name: "s", ack_policy: AckPolicy.Explicit, max_batch: 5, max_expires: 2_000_000_000 });
    const req = async (body: unknown): Promise<Msg> => nc.request("$JS.API.CONSUMER.MSG.NEXT.STAT.s", JSON.stringify(body), { timeout: 3000 });
    // Messages keep their own subject (as nats-server sends them), so they need a plain inbox.
    const inbox1 = createInbox();
    const firstP = collect(inbox1, 1);
    nc.publish("$JS.API.CONSUMER.MSG.NEXT.STAT.s", JSON.stringify({ batch: 1, no_wait: true }), { reply: inbox1 });
    const [first] = await firstP;
    assert.equal(first.string(), "m1");
    assert.equal(first.subject, "stat.a");
    const nowait = await req({ batch: 1, no_wait: true });
    assert.equal(nowait.headers?.code, 404);
    assert.equal(nowait.headers?.description, "No Messages");
    const t0 = Date.now();
    const expired = await req({ batch: 3, expires: 200_000_000 });
    assert.equal(expired.headers?.code, 408);
    assert.equal(expired.headers?.get("Nats-Pending-Messages"), "3");
    assert.ok(Date.now() - t0 >= 150);
    const tooMany = await req({ batch: 10 });
    assert.equal(tooMany.headers?.code, 409);
    assert.equal(tooMany.headers?.description, "Exceeded MaxRequestBatch of 5");
    const tooLong = await req({ batch: 1, expires: 5_000_000_000 });
    assert.equal(tooLong.headers?.description, "Exceeded MaxRequestExpires of 2s");
    // a message larger than max_bytes
    await js.publish("stat.a", "x".repeat(200));
    const small = await req({ batch: 1, max_bytes: 50, expires: 1_000_000_000 });
    assert.equal(small.headers?.code, 409);
    assert.equal(small.headers?.description, "Message Size Exceeds MaxBytes");
    const inbox2 = createInbox();
    const bigP = collect(inbox2, 1);
    nc.publish("$JS.API.CONSUMER.MSG.NEXT.STAT.s", JSON.stringify({ batch: 1, expires: 1_000_000_000 }), { reply: inbox2 });
    assert.equal((await bigP)[0].data.length, 200);
    // heartbeats while a request waits, then the 408
    const inbox = createInbox();
    const hbs = collect(inbox, 3, 3000);
    nc.publish("$JS.API.CONSUMER.MSG.NEXT.STAT.s", JSON.stringify({ batch: 1, expires: 900_000_000, idle_heartbeat: 200_000_000 }), { reply: inbox });
    const statuses = (await hbs).map((m) => `${m.headers?.code} ${m.headers?.description}`);
    assert.deepEqual(statuses.slice(0, 2), ["100 Idle Heartbeat", "100 Idle Heartbeat"]);
    // a deleted consumer tells waiting requests
    const waiting = nc.request("$JS.API.CONSUMER.MSG.NEXT.STAT.s", JSON.stringify({ batch: 1, expires: 2_000_000_000 }), { timeout: 3000 });
    await new Promise((r) => setTimeout(r, 50));
    await jsm.consumers.delete("STAT", "s");
    assert.equal((await waiting).headers?.description, "Consumer Deleted");
    await jsm.streams.delete("STAT");
  });
});

describe("acks and redelivery", () => {
  it("a pending message deleted from the stream counts as acknowledged and is reported terminated (as nats-server 2.15)", async () => {
    await fill("DELP", "delp.a", 3);
    await jsm.consumers.add("DELP", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    const c = await js.consumers.get("DELP", "d");
    const ms = [];
    for await (const m of await c.fetch({ max_messages: 3, expires: 2000 })) ms.push(m);
    assert.equal(ms.length, 3);
    assert.equal((await c.info()).ack_floor.last_active, undefined);
    const termed = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.DELP.d", { max: 1 });
    await jsm.streams.deleteMessage("DELP", 2);
    for await (const m of termed) {
      const a = m.json<Record<string, unknown>>();
      assert.deepEqual(
        { type: a.type, stream: a.stream, consumer: a.consumer, consumer_seq: a.consumer_seq, stream_seq: a.stream_seq, deliveries: a.deliveries, reason: a.reason },
        { type: "io.nats.jetstream.advisory.v1.terminated", stream: "DELP", consumer: "d", consumer_seq: 2, stream_seq: 2, deliveries: 1, reason: "Unacknowledged message was deleted" },
      );
    }
    const info = await c.info();
    assert.equal(info.num_ack_pending, 2);
    assert.deepEqual([info.ack_floor.consumer_seq, info.ack_floor.stream_seq], [0, 0]);
    assert.equal(typeof info.ack_floor.last_active, "string");
    await jsm.streams.delete("DELP");
  });

  it("a rollup moves consumers on as a purge does (values as nats-server 2.15 gives them)", async () => {
    await jsm.streams.add({ name: "RU", subjects: ["ru.>"], allow_rollup_hdrs: true });
    await jsm.consumers.add("RU", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add("RU", { durable_name: "k", ack_policy: AckPolicy.Explicit, filter_subject: "ru.k" });
    for (const s of ["ru.a", "ru.k", "ru.a", "ru.k"]) await js.publish(s, "x");
    const d = await js.consumers.get("RU", "d");
    const k = await js.consumers.get("RU", "k");
    const got = [];
    for await (const m of await d.fetch({ max_messages: 2, expires: 2000 })) got.push(m);
    assert.equal(got.length, 2);
    const gist = async (c: typeof d): Promise<number[]> => {
      const i = await c.info();
      return [i.delivered.stream_seq, i.ack_floor.stream_seq, i.num_pending, i.num_ack_pending];
    };
    const sub = headers();
    sub.set("Nats-Rollup", "sub");
    await js.publish("ru.k", "r", { headers: sub });
    // k reads only ru.k: it moves on to the rollup message; d (all subjects) keeps its place
    assert.deepEqual(await gist(d), [2, 0, 2, 1]);
    assert.deepEqual(await gist(k), [4, 4, 1, 0]);
    const all = headers();
    all.set("Nats-Rollup", "all");
    await js.publish("ru.a", "r", { headers: all });
    assert.deepEqual(await gist(d), [5, 5, 1, 0]);
    assert.deepEqual(await gist(k), [5, 5, 0, 0]);
    await jsm.streams.delete("RU");
  });

  it("ack policy all: a TERM or a deleted pending message acknowledges everything before it (as nats-server 2.15)", async () => {
    for (const retention of [RetentionPolicy.Limits, RetentionPolicy.Interest]) {
      const name = `AA${retention}`;
      await jsm.streams.add({ name, subjects: [`${name}.>`], retention });
      await jsm.consumers.add(name, { durable_name: "d", ack_policy: AckPolicy.All });
      await jsm.consumers.add(name, { durable_name: "e", ack_policy: AckPolicy.All });
      for (let i = 0; i < 5; i++) await js.publish(`${name}.a`, "x");
      const d = await js.consumers.get(name, "d");
      const e = await js.consumers.get(name, "e");
      const ds = [];
      for await (const m of await d.fetch({ max_messages: 5, expires: 2000 })) ds.push(m);
      for await (const _m of await e.fetch({ max_messages: 5, expires: 2000 })) void _m;
      assert.equal(ds.length, 5);
      ds[2].term();
      await waitUntil(async () => (await d.info()).ack_floor.stream_seq === 3);
      assert.equal((await d.info()).num_ack_pending, 2);
      assert.equal((await jsm.streams.info(name)).state.messages, 5, "e still needs them all");
      await jsm.streams.deleteMessage(name, 4);
      await waitUntil(async () => (await e.info()).ack_floor.stream_seq === 4);
      const [di, ei] = [await d.info(), await e.info()];
      assert.deepEqual([di.ack_floor.stream_seq, di.num_ack_pending, ei.ack_floor.stream_seq, ei.num_ack_pending], [4, 1, 4, 1]);
      // interest: 1-3 acknowledged by both and 4 deleted leave only 5; limits keep all but 4
      await waitUntil(async () => (await jsm.streams.info(name)).state.messages === (retention === RetentionPolicy.Interest ? 1 : 4));
      await jsm.streams.delete(name);
    }
  });

  it("nak, term, working, redelivery after ack_wait, ackAll", async () => {
    await fill("ACK", "ack.a", 4, StorageType.Memory);
    await jsm.consumers.add("ACK", { durable_name: "a", ack_policy: AckPolicy.Explicit, ack_wait: 400_000_000 });
    const c = await js.consumers.get("ACK", "a");
    const naked = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.ACK.a", { max: 1 });
    const termed = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ACK.a", { max: 1 });
    const ms = [];
    for await (const m of await c.fetch({ max_messages: 4, expires: 2000 })) ms.push(m);
    assert.equal(ms.length, 4);
    ms[0].nak(); // back right away
    ms[1].term("bad payload");
    ms[2].working();
    // ms[3] left alone: redelivered after ack_wait
    const again = await c.next({ expires: 2000 });
    assert.equal(again?.seq, 1);
    assert.equal(again?.info.deliveryCount, 2);
    assert.equal(again?.redelivered, true);
    again?.ack();
    for await (const m of naked) assert.equal(m.json<{ stream_seq: number }>().stream_seq, 1);
    for await (const m of termed) assert.equal(m.json<{ reason: string }>().reason, "bad payload");
    ms[2].ack();
    const late = await c.next({ expires: 3000 });
    assert.equal(late?.seq, 4);
    assert.equal(late?.info.deliveryCount, 2);
    late?.ack();
    await new Promise((r) => setTimeout(r, 50));
    const info = await c.info();
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.ack_floor.consumer_seq, info.delivered.consumer_seq);
    assert.equal(info.ack_floor.stream_seq, 4);

    // ack policy all
    await jsm.consumers.add("ACK", { durable_name: "all", ack_policy: AckPolicy.All });
    const ca = await js.consumers.get("ACK", "all");
    const got = [];
    for await (const m of await ca.fetch({ max_messages: 4, expires: 2000 })) got.push(m);
    got[2].ack();
    await got[2].ackAck().catch(() => undefined);
    const ai = await ca.info();
    assert.equal(ai.num_ack_pending, 1);
    assert.equal(ai.ack_floor.stream_seq, 3);
    await jsm.streams.delete("ACK");
  });

  it("max_deliver stops redelivery and advises, backoff spaces redeliveries", async () => {
    await fill("MD", "md.a", 1, StorageType.Memory);
    await jsm.consumers.add("MD", { durable_name: "m", ack_policy: AckPolicy.Explicit, max_deliver: 3, backoff: [100_000_000, 300_000_000] });
    const adv = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.MD.m", { max: 1 });
    const c = await js.consumers.get("MD", "m");
    const times: number[] = [];
    const t0 = Date.now();
    const first = await c.next({ expires: 2000 });
    times.push(Date.now() - t0);
    assert.equal(first?.info.deliveryCount, 1);
    const second = await c.next({ expires: 2000 });
    times.push(Date.now() - t0);
    assert.equal(second?.info.deliveryCount, 2);
    assert.ok(times[1] >= 80, `backoff honoured (${times[1]} ms)`);
    const third = await c.next({ expires: 2000 });
    times.push(Date.now() - t0);
    assert.equal(third?.info.deliveryCount, 3);
    // 300 ms after the second delivery, measured from its arrival here (which a loaded machine
    // delays): clearly more than the first step's 100 ms.
    assert.ok(times[2] - times[1] >= 180, `second backoff step honoured (${times[2] - times[1]} ms)`);
    const none = await c.next({ expires: 1000 });
    assert.equal(none, null);
    for await (const m of adv) {
      const a = m.json<{ stream_seq: number; deliveries: number; type: string }>();
      assert.equal(a.type, "io.nats.jetstream.advisory.v1.max_deliver");
      assert.equal(a.stream_seq, 1);
      assert.equal(a.deliveries, 3);
    }
    // More backoff steps than deliveries is refused (as many is fine: nats-server 2.15's rule).
    const bad = await nc.request(
      "$JS.API.CONSUMER.CREATE.MD.b",
      JSON.stringify({ stream_name: "MD", config: { name: "b", ack_policy: "explicit", max_deliver: 2, backoff: [1e9, 2e9, 3e9] } }),
    );
    assert.equal(bad.json<{ error: { err_code: number } }>().error.err_code, 10116);
    await jsm.streams.delete("MD");
  });

  it("max_ack_pending holds back delivery until acks arrive", async () => {
    await fill("MAP", "map.a", 5, StorageType.Memory);
    await jsm.consumers.add("MAP", { durable_name: "p", ack_policy: AckPolicy.Explicit, max_ack_pending: 2 });
    const c = await js.consumers.get("MAP", "p");
    const got = [];
    for await (const m of await c.fetch({ max_messages: 5, expires: 1000 })) got.push(m);
    assert.equal(got.length, 2);
    got[0].ack();
    const more = await c.next({ expires: 1000 });
    assert.equal(more?.seq, 3);
    await jsm.streams.delete("MAP");
  });
});

describe("push and ordered consumers", () => {
  it("push with deliver group, flow control and idle heartbeats", async () => {
    await fill("PUSH", "push.a", 3, StorageType.Memory);
    const deliver = createInbox();
    const got = collect(deliver, 3);
    await jsm.consumers.add("PUSH", { durable_name: "p", deliver_subject: deliver, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    const msgs = await got;
    assert.deepEqual(msgs.map((m) => m.subject), ["push.a", "push.a", "push.a"]);
    assert.match(msgs[0].reply ?? "", /^\$JS\.ACK\.PUSH\.p\.1\.1\.1\.\d+\.2$/);

    const hbSubject = createInbox();
    const hb = collect(hbSubject, 1, 3000);
    await jsm.consumers.add("PUSH", { durable_name: "hb", deliver_subject: hbSubject, deliver_policy: DeliverPolicy.New, idle_heartbeat: 200_000_000, flow_control: true });
    const [beat] = await hb;
    assert.equal(beat.headers?.code, 100);
    assert.equal(beat.headers?.description, "Idle Heartbeat");
    assert.equal(beat.headers?.get("Nats-Last-Consumer"), "0");

    // flow control: a big backlog produces FC requests the client must answer
    const fcStream = "FC";
    await jsm.streams.add({ name: fcStream, subjects: ["fc.>"], storage: StorageType.Memory });
    const payload = "x".repeat(64 * 1024);
    for (let i = 0; i < 40; i++) await js.publish("fc.a", payload);
    const fcDeliver = createInbox();
    let data = 0;
    let fc = 0;
    const done = new Promise<void>((resolve) => {
      nc.subscribe(fcDeliver, {
        callback: (_e, m) => {
          if (m.headers?.code === 100 && m.reply) {
            fc++;
            m.respond();
          } else if (!m.headers || m.headers.code !== 100) {
            data++;
            if (data === 40) resolve();
          }
        },
      });
    });
    await jsm.consumers.add(fcStream, { durable_name: "f", deliver_subject: fcDeliver, flow_control: true, idle_heartbeat: 1_000_000_000, ack_policy: AckPolicy.None });
    await done;
    assert.ok(fc >= 1, "flow control requests were sent");
    await jsm.streams.delete(fcStream);
    await jsm.streams.delete("PUSH");
  });

  it("ordered consumers of both clients, deliver policies", async () => {
    await jsm.streams.add({ name: "ORD", subjects: ["ord.*"] });
    for (let i = 1; i <= 20; i++) await js.publish(i % 2 ? "ord.a" : "ord.b", String(i));
    const oc = await js.consumers.get("ORD", { opt_start_seq: 11 });
    const seen: number[] = [];
    for await (const m of await oc.consume()) {
      seen.push(m.seq);
      if (m.info.pending === 0) break;
    }
    assert.deepEqual(seen, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    // a filtered consumer through the 2.9 subject form CONSUMER.CREATE.<s>.<name>.<filter>
    await jsm.consumers.add("ORD", { name: "fa", filter_subject: "ord.a", ack_policy: AckPolicy.None });
    const fa = await js.consumers.get("ORD", "fa");
    const odd: number[] = [];
    for await (const m of await fa.fetch({ max_messages: 10, expires: 1000 })) odd.push(m.seq);
    assert.deepEqual(odd, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);

    const v2 = await connectV2({ servers: srv.url });
    try {
      const js2 = v2.jetstream();
      const opts = consumerOpts();
      opts.orderedConsumer();
      const sub = await js2.subscribe("ord.*", opts);
      let n = 0;
      for await (const m of sub) {
        n++;
        if (m.info.pending === 0) break;
      }
      assert.equal(n, 20);
      const po = consumerOpts();
      po.durable("lps");
      po.deliverLastPerSubject();
      po.ackExplicit();
      po.deliverTo(createInbox());
      const lps = await js2.subscribe("ord.*", po);
      const last: string[] = [];
      for await (const m of lps) {
        m.ack();
        last.push(`${m.subject}=${m.seq}`);
        if (last.length === 2) break;
      }
      assert.deepEqual(last.sort(), ["ord.a=19", "ord.b=20"]);
    } finally {
      await v2.close();
    }
    const byStart = await jsm.consumers.add("ORD", { name: "bs", deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 15, ack_policy: AckPolicy.None });
    assert.equal(byStart.num_pending, 6);
    const last = await jsm.consumers.add("ORD", { name: "ls", deliver_policy: DeliverPolicy.Last, ack_policy: AckPolicy.None });
    assert.equal(last.num_pending, 1);
    const fresh = await jsm.consumers.add("ORD", { name: "nw", deliver_policy: DeliverPolicy.New, ack_policy: AckPolicy.None });
    assert.equal(fresh.num_pending, 0);
    await jsm.streams.delete("ORD");
  });

  it("ephemeral consumers go away after inactive_threshold", async () => {
    await jsm.streams.add({ name: "EPH", subjects: ["eph"], storage: StorageType.Memory });
    const ci = await jsm.consumers.add("EPH", { ack_policy: AckPolicy.Explicit, inactive_threshold: 300_000_000 });
    assert.equal(ci.config.inactive_threshold, 300_000_000);
    await waitUntil(() => srv.server.accounts.get("$G") !== undefined);
    const deadline = Date.now() + 3000;
    for (;;) {
      const names = (await jsm.consumers.list("EPH").next()).map((c) => c.name);
      if (!names.includes(ci.name)) break;
      assert.ok(Date.now() < deadline, "ephemeral consumer was not removed");
      await new Promise((r) => setTimeout(r, 100));
    }
    await jsm.streams.delete("EPH");
  });
});

describe("retention", () => {
  it("workqueue removes acked messages and rejects overlapping consumers", async () => {
    await jsm.streams.add({ name: "WQ", subjects: ["wq.*"], retention: RetentionPolicy.Workqueue });
    for (let i = 0; i < 3; i++) await js.publish("wq.a", String(i));
    await js.publish("wq.b", "b");
    await jsm.consumers.add("WQ", { durable_name: "wa", ack_policy: AckPolicy.Explicit, filter_subject: "wq.a" });
    const dup = await nc.request("$JS.API.CONSUMER.CREATE.WQ.x", JSON.stringify({ stream_name: "WQ", config: { name: "x", ack_policy: "explicit", filter_subject: "wq.*" } }));
    assert.equal(dup.json<{ error: { err_code: number } }>().error.err_code, 10100);
    const noAck = await nc.request("$JS.API.CONSUMER.CREATE.WQ.y", JSON.stringify({ stream_name: "WQ", config: { name: "y", ack_policy: "none", filter_subject: "wq.b" } }));
    assert.equal(noAck.json<{ error: { err_code: number } }>().error.err_code, 10084);
    const c = await js.consumers.get("WQ", "wa");
    for await (const m of await c.fetch({ max_messages: 3, expires: 1000 })) await m.ackAck();
    const st = (await jsm.streams.info("WQ")).state;
    assert.equal(st.messages, 1);
    await jsm.streams.delete("WQ");
  });

  it("interest keeps messages only while a consumer still needs them", async () => {
    await jsm.streams.add({ name: "INT", subjects: ["int.*"], retention: RetentionPolicy.Interest });
    const skipped = await js.publish("int.a", "nobody");
    assert.equal(skipped.seq, 1);
    assert.equal((await jsm.streams.info("INT")).state.messages, 0);
    await jsm.consumers.add("INT", { durable_name: "c1", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add("INT", { durable_name: "c2", ack_policy: AckPolicy.Explicit });
    await js.publish("int.a", "both");
    const c1 = await js.consumers.get("INT", "c1");
    const m1 = await c1.next({ expires: 1000 });
    await m1?.ackAck();
    assert.equal((await jsm.streams.info("INT")).state.messages, 1, "c2 still needs it");
    const c2 = await js.consumers.get("INT", "c2");
    const m2 = await c2.next({ expires: 1000 });
    await m2?.ackAck();
    assert.equal((await jsm.streams.info("INT")).state.messages, 0);
    await js.publish("int.a", "again");
    await jsm.consumers.delete("INT", "c1");
    await jsm.consumers.delete("INT", "c2");
    assert.equal((await jsm.streams.info("INT")).state.messages, 0, "no interest left");
    await jsm.streams.delete("INT");
  });
});

describe("advisories", () => {
  it("stream and consumer actions and API audit", async () => {
    const events: string[] = [];
    const sub = nc.subscribe("$JS.EVENT.ADVISORY.>", {
      callback: (_e, m) => {
        events.push(`${m.subject} ${m.json<{ type: string }>().type}`);
      },
    });
    await nc.flush();
    await jsm.streams.add({ name: "ADV", subjects: ["adv"], storage: StorageType.Memory });
    await jsm.consumers.add("ADV", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    await jsm.streams.update("ADV", { max_msgs: 10 });
    await jsm.consumers.delete("ADV", "d");
    await jsm.streams.delete("ADV");
    await nc.flush();
    await waitUntil(() => events.some((e) => e.startsWith("$JS.EVENT.ADVISORY.STREAM.DELETED.ADV")), 2000, "delete advisory");
    sub.unsubscribe();
    const has = (s: string) => assert.ok(events.some((e) => e.startsWith(s)), `${s} in ${events.join("\n")}`);
    has("$JS.EVENT.ADVISORY.STREAM.CREATED.ADV io.nats.jetstream.advisory.v1.stream_action");
    has("$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.d io.nats.jetstream.advisory.v1.consumer_action");
    has("$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV");
    has("$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.d");
    has("$JS.EVENT.ADVISORY.API io.nats.jetstream.advisory.v1.api_audit");
  });
});
