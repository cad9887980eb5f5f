// JetStream behaviour through @nats-io/jetstream for what js_api / js_consumers do not
// already cover: the remaining stream config fields (max_bytes, max_consumers,
// duplicate_window expiry, allow_direct off, no_ack, metadata, memory vs file, workqueue and
// interest details) and consumer options (by_start_time, ack none, max_waiting,
// filter_subjects, replay original, rate_limit_bps, headers_only, max_bytes, push with
// deliver_group), nak with delay, working, double acks and the info counters.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createInbox, type NatsConnection, type Msg } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type JetStreamClient,
} from "@nats-io/jetstream";
import { waitUntil } from "./helpers/server.js";
import { jetStreamFixture } from "./helpers/jetstream.js";

let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
jetStreamFixture((f) => ({ nc, jsm, js } = f));

type Json = Record<string, any>;
async function api(subject: string, body: unknown): Promise<Json> {
  return (await nc.request(subject, JSON.stringify(body), { timeout: 3000 })).json<Json>();
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pull request straight to the API; collects what arrives on the inbox until a status or `n` messages. */
async function pull(stream: string, consumer: string, req: Json, n: number, timeoutMs = 3000): Promise<Msg[]> {
  const inbox = createInbox();
  const got: Msg[] = [];
  const sub = nc.subscribe(inbox);
  const done = (async () => {
    for await (const m of sub) {
      got.push(m);
      if (got.length >= n || m.headers?.code !== undefined) break;
    }
  })();
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(req), { reply: inbox });
  const t = setTimeout(() => sub.unsubscribe(), timeoutMs);
  await done;
  clearTimeout(t);
  sub.unsubscribe();
  return got;
}

describe("stream config fields", () => {
  for (const storage of [StorageType.File, StorageType.Memory]) {
    it(`max_bytes keeps the newest messages under the limit (${storage})`, async () => {
      const name = `MB_${storage}`;
      const file = storage === StorageType.File;
      // A message accounts 22 + subject(3) + data(30) + 8 = 63 bytes in a file stream,
      // subject(3) + data(30) + 16 = 49 in a memory stream (nats-server 2.9.10's numbers).
      await jsm.streams.add({ name, subjects: [`mb${storage[0]}`], max_bytes: 200, storage });
      for (let i = 1; i <= 10; i++) await js.publish(`mb${storage[0]}`, String(i).padStart(30, "0"));
      const st = (await jsm.streams.info(name)).state;
      assert.deepEqual([st.messages, st.first_seq, st.last_seq, st.bytes], file ? [3, 8, 10, 189] : [4, 7, 10, 196]);
      await jsm.streams.update(name, { max_bytes: 100 });
      assert.equal((await jsm.streams.info(name)).state.messages, file ? 1 : 2, "a lower limit applies at once");
      // Discard new, 40-byte payloads: a message is refused when its whole record would take the
      // stream past max_bytes (nats-server 2.14+): 22 + 4 + 40 + 8 = 74 bytes in a file stream
      // (one fits in 130), 4 + 40 + 16 = 60 in a memory stream (two fit).
      await jsm.streams.add({ name: `${name}N`, subjects: [`mbn${storage[0]}`], max_bytes: 130, discard: DiscardPolicy.New, storage });
      await js.publish(`mbn${storage[0]}`, "x".repeat(40));
      if (!file) await js.publish(`mbn${storage[0]}`, "x".repeat(40));
      const refused = (await nc.request(`mbn${storage[0]}`, "x".repeat(40))).json<Json>();
      assert.equal(refused.error.err_code, 10077);
      assert.equal(refused.error.description, "maximum bytes exceeded");
      const sn = (await jsm.streams.info(`${name}N`)).state;
      assert.deepEqual([sn.messages, sn.bytes], file ? [1, 74] : [2, 120]);
      await jsm.streams.delete(name);
      await jsm.streams.delete(`${name}N`);
    });
  }

  it("max_consumers refuses one consumer too many", async () => {
    await jsm.streams.add({ name: "MC", subjects: ["mc"], max_consumers: 2, storage: StorageType.Memory });
    await jsm.consumers.add("MC", { durable_name: "a", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add("MC", { durable_name: "b", ack_policy: AckPolicy.Explicit });
    await assert.rejects(jsm.consumers.add("MC", { durable_name: "c", ack_policy: AckPolicy.Explicit }), /maximum consumers limit reached/);
    await jsm.consumers.delete("MC", "a");
    await jsm.consumers.add("MC", { durable_name: "c", ack_policy: AckPolicy.Explicit });
    assert.equal((await jsm.streams.info("MC")).state.consumer_count, 2);
    await jsm.streams.delete("MC");
  });

  it("duplicate_window: an id is a duplicate inside the window only", async () => {
    await jsm.streams.add({ name: "DW", subjects: ["dw"], duplicate_window: 300_000_000, storage: StorageType.Memory });
    const a = await js.publish("dw", "1", { msgID: "x" });
    assert.equal((await js.publish("dw", "1", { msgID: "x" })).duplicate, true);
    await sleep(400);
    const b = await js.publish("dw", "1", { msgID: "x" });
    assert.equal(b.duplicate, false);
    assert.equal(b.seq, a.seq + 1);
    assert.equal((await jsm.streams.info("DW")).config.duplicate_window, 300_000_000);
    await jsm.streams.delete("DW");
  });

  it("allow_direct: direct gets are only answered when enabled", async () => {
    await jsm.streams.add({ name: "AD", subjects: ["ad"], storage: StorageType.Memory });
    await js.publish("ad", "v");
    await assert.rejects(nc.request("$JS.API.DIRECT.GET.AD", JSON.stringify({ seq: 1 }), { timeout: 300 }));
    await jsm.streams.update("AD", { allow_direct: true });
    assert.equal((await jsm.direct.getMessage("AD", { seq: 1 }))?.string(), "v");
    await jsm.streams.delete("AD");
  });

  it("no_ack: messages are stored without an ack reply", async () => {
    await jsm.streams.add({ name: "NA", subjects: ["na"], no_ack: true, storage: StorageType.Memory });
    await assert.rejects(nc.request("na", "quiet", { timeout: 300 }));
    nc.publish("na", "two");
    await nc.flush();
    await waitUntil(() => true);
    const st = (await jsm.streams.info("NA")).state;
    assert.equal(st.messages, 2);
    assert.equal((await jsm.streams.info("NA")).config.no_ack, true);
    await jsm.streams.delete("NA");
  });

  it("metadata, description and first_seq are kept and updatable", async () => {
    const r = await api("$JS.API.STREAM.CREATE.MD", { name: "MD", subjects: ["md"], metadata: { owner: "team-a" }, description: "first", first_seq: 1000 });
    assert.equal(r.error, undefined);
    assert.equal((await js.publish("md", "x")).seq, 1000);
    const up = await api("$JS.API.STREAM.UPDATE.MD", { ...r.config, metadata: { owner: "team-b", tier: "1" }, description: "second" });
    const { "_nats.req.level": _l, "_nats.ver": _v, "_nats.level": _sl, ...md } = up.config.metadata;
    assert.deepEqual(md, { owner: "team-b", tier: "1" });
    assert.equal(up.config.description, "second");
    assert.equal(up.config.first_seq, 1000);
    await jsm.streams.delete("MD");
  });

  it("memory and file streams behave the same for the client; only file streams report the file store", async () => {
    for (const storage of [StorageType.File, StorageType.Memory]) {
      const name = `ST_${storage}`;
      const si = await jsm.streams.add({ name, subjects: [`st.${storage}`], storage });
      assert.equal(si.config.storage, storage);
      for (let i = 0; i < 3; i++) await js.publish(`st.${storage}`, `m${i}`);
      assert.equal((await jsm.streams.getMessage(name, { seq: 2 }))?.string(), "m1");
    }
    const ai = await jsm.getAccountInfo();
    assert.ok(ai.memory > 0 && ai.storage > 0, "usage is accounted per storage type");
    await assert.rejects(api("$JS.API.STREAM.UPDATE.ST_file", { name: "ST_file", subjects: ["st.file"], storage: "memory" }).then((r) => {
      if (r.error) throw new Error(r.error.description);
    }), /can not change storage type/);
    await jsm.streams.delete("ST_file");
    await jsm.streams.delete("ST_memory");
  });
});

describe("retention", () => {
  it("workqueue: one consumer per subject, explicit acks, acked messages leave", async () => {
    await jsm.streams.add({ name: "WQ2", subjects: ["wq2.*"], retention: RetentionPolicy.Workqueue, storage: StorageType.Memory });
    await jsm.consumers.add("WQ2", { durable_name: "all", ack_policy: AckPolicy.Explicit });
    const second = await api("$JS.API.CONSUMER.CREATE.WQ2.other", { stream_name: "WQ2", config: { durable_name: "other", ack_policy: "explicit" } });
    assert.equal(second.error.err_code, 10099, "multiple non-filtered consumers");
    const push = await api("$JS.API.CONSUMER.CREATE.WQ2.p", { stream_name: "WQ2", config: { durable_name: "p", ack_policy: "none", deliver_subject: "x", filter_subject: "wq2.b" } });
    assert.equal(push.error.err_code, 10098, "workqueue requires explicit acks");
    const notAll = await api("$JS.API.CONSUMER.CREATE.WQ2.q", { stream_name: "WQ2", config: { durable_name: "q", ack_policy: "explicit", deliver_policy: "last", filter_subject: "wq2.b" } });
    assert.equal(notAll.error.err_code, 10101, "workqueue consumers deliver all");
    for (let i = 0; i < 4; i++) await js.publish("wq2.a", String(i));
    const c = await js.consumers.get("WQ2", "all");
    const got = [];
    for await (const m of await c.fetch({ max_messages: 4, expires: 1000 })) got.push(m);
    await got[0].ackAck();
    got[1].term();
    await got[2].ackAck();
    await waitUntil(() => true);
    const st = (await jsm.streams.info("WQ2")).state;
    assert.equal(st.messages, 1, "acked and terminated messages are gone, the unacked one stays");
    await jsm.streams.delete("WQ2");
  });

  it("interest: ack none consumers remove interest on delivery; ack all clears up to the acked one", async () => {
    await jsm.streams.add({ name: "IN2", subjects: ["in2"], retention: RetentionPolicy.Interest, storage: StorageType.Memory });
    await jsm.consumers.add("IN2", { durable_name: "none", ack_policy: AckPolicy.None });
    await jsm.consumers.add("IN2", { durable_name: "all", ack_policy: AckPolicy.All });
    for (let i = 0; i < 5; i++) await js.publish("in2", String(i));
    const n = await js.consumers.get("IN2", "none");
    for await (const m of await n.fetch({ max_messages: 5, expires: 1000 })) void m;
    assert.equal((await jsm.streams.info("IN2")).state.messages, 5, "the ack-all consumer still needs them");
    const a = await js.consumers.get("IN2", "all");
    const ms = [];
    for await (const m of await a.fetch({ max_messages: 5, expires: 1000 })) ms.push(m);
    await ms[2].ackAck(); // acks 1..3
    const st = (await jsm.streams.info("IN2")).state;
    assert.deepEqual([st.messages, st.first_seq], [2, 4]);
    await jsm.streams.delete("IN2");
  });
});

describe("consumer options", () => {
  before(async () => {
    await jsm.streams.add({ name: "CO", subjects: ["co.*"], storage: StorageType.Memory });
    for (let i = 1; i <= 10; i++) {
      await js.publish(i % 2 ? "co.odd" : "co.even", `m${i}`, { headers: undefined });
      if (i === 5) await sleep(30); // a time gap for by_start_time
    }
  });
  after(async () => {
    await jsm.streams.delete("CO");
  });

  it("deliver_policy by_start_time starts at the first message at or after the time", async () => {
    const m6 = await jsm.streams.getMessage("CO", { seq: 6 });
    assert.ok(m6 !== null);
    const ci = await jsm.consumers.add("CO", { name: "bt", deliver_policy: DeliverPolicy.StartTime, opt_start_time: m6.time.toISOString(), ack_policy: AckPolicy.None });
    assert.equal(ci.num_pending, 5);
    const c = await js.consumers.get("CO", "bt");
    assert.equal((await c.next({ expires: 1000 }))?.seq, 6);
  });

  it("ack_policy none: nothing is pending, the ack floor follows delivery", async () => {
    await jsm.consumers.add("CO", { name: "an", ack_policy: AckPolicy.None });
    const c = await js.consumers.get("CO", "an");
    const seqs: number[] = [];
    for await (const m of await c.fetch({ max_messages: 4, expires: 1000 })) seqs.push(m.seq);
    assert.deepEqual(seqs, [1, 2, 3, 4]);
    const ci = await c.info();
    assert.deepEqual([ci.num_ack_pending, ci.ack_floor.stream_seq, ci.delivered.stream_seq, ci.num_pending], [0, 4, 4, 6]);
  });

  it("filter_subjects: several filters select their union in stream order", async () => {
    await jsm.streams.add({ name: "FS", subjects: ["fs.*"], storage: StorageType.Memory });
    for (const s of ["a", "b", "c", "a", "c", "b"]) await js.publish(`fs.${s}`, s);
    // filter_subjects is a 2.10 field: the client will not send it to a server announcing 2.9.
    const ci = await api("$JS.API.CONSUMER.CREATE.FS.ac", { stream_name: "FS", config: { name: "ac", filter_subjects: ["fs.a", "fs.c"], ack_policy: "explicit" } });
    assert.equal(ci.num_pending, 4);
    const c = await js.consumers.get("FS", "ac");
    const seen: string[] = [];
    for await (const m of await c.fetch({ max_messages: 4, expires: 1000 })) {
      seen.push(`${m.seq}${m.string()}`);
      m.ack();
    }
    assert.deepEqual(seen, ["1a", "3c", "4a", "5c"]);
    const overlap = await api("$JS.API.CONSUMER.CREATE.FS.x", { stream_name: "FS", config: { name: "x", filter_subjects: ["fs.*", "fs.a"] } });
    assert.equal(overlap.error.err_code, 10138);
    await jsm.streams.delete("FS");
  });

  it("max_waiting: pull requests beyond the limit get 409 Exceeded MaxWaiting; num_waiting counts them", async () => {
    await jsm.consumers.add("CO", { durable_name: "mw", ack_policy: AckPolicy.Explicit, max_waiting: 1, deliver_policy: DeliverPolicy.New });
    const first = pull("CO", "mw", { batch: 1, expires: 2_000_000_000 }, 1);
    await waitUntil(() => true);
    await sleep(50);
    const info = await (await js.consumers.get("CO", "mw")).info();
    assert.equal(info.num_waiting, 1);
    const second = await pull("CO", "mw", { batch: 1, expires: 1_000_000_000 }, 1);
    assert.equal(second[0].headers?.code, 409);
    assert.equal(second[0].headers?.description, "Exceeded MaxWaiting");
    await js.publish("co.odd", "late");
    const [m] = await first;
    assert.equal(m.string(), "late");
  });

  it("max_bytes of the consumer caps a pull request's max_bytes", async () => {
    await jsm.consumers.add("CO", { durable_name: "mb", ack_policy: AckPolicy.Explicit, max_bytes: 1000 });
    const [st] = await pull("CO", "mb", { batch: 1, max_bytes: 5000 }, 1);
    assert.equal(st.headers?.code, 409);
    assert.equal(st.headers?.description, "Exceeded MaxRequestMaxBytes of 1000");
    const ok = await pull("CO", "mb", { batch: 2, max_bytes: 1000, expires: 500_000_000 }, 2);
    assert.equal(ok.length, 2);
  });

  it("headers_only delivers the headers and Nats-Msg-Size, not the data", async () => {
    await jsm.consumers.add("CO", { durable_name: "ho", ack_policy: AckPolicy.None, headers_only: true });
    const c = await js.consumers.get("CO", "ho");
    const m = await c.next({ expires: 1000 });
    assert.equal(m?.data.length, 0);
    assert.equal(m?.headers?.get("Nats-Msg-Size"), "2");
  });

  it("replay_policy original spaces messages like they were published", async () => {
    await jsm.streams.add({ name: "RP", subjects: ["rp"], storage: StorageType.Memory });
    await js.publish("rp", "1");
    await sleep(300);
    await js.publish("rp", "2");
    await jsm.consumers.add("RP", { durable_name: "orig", ack_policy: AckPolicy.None, replay_policy: ReplayPolicy.Original });
    const c = await js.consumers.get("RP", "orig");
    const times: number[] = [];
    for await (const m of await c.fetch({ max_messages: 2, expires: 3000 })) {
      assert.equal(m.seq, times.length + 1);
      times.push(Date.now());
    }
    assert.equal(times.length, 2);
    assert.ok(times[1] - times[0] >= 250, `second message came ${times[1] - times[0]} ms after the first`);
    await jsm.streams.delete("RP");
  });

  it("rate_limit_bps slows a push consumer down", async () => {
    // nats-server's budget holds the stream's max_msg_size and starts full: the first ~560 byte
    // delivery goes at once, the other three wait for it to refill.
    await jsm.streams.add({ name: "RL", subjects: ["rl"], storage: StorageType.Memory, max_msg_size: 600 });
    for (let i = 0; i < 4; i++) await js.publish("rl", "x".repeat(500));
    const deliver = createInbox();
    const sub = nc.subscribe(deliver);
    const t0 = Date.now();
    // 8000 bits/s = 1000 bytes/s: three ~560 byte deliveries past the burst take well over a second
    await jsm.consumers.add("RL", { durable_name: "slow", deliver_subject: deliver, ack_policy: AckPolicy.None, rate_limit_bps: 8000 });
    let n = 0;
    for await (const m of sub) {
      if (m.headers?.code === undefined && ++n === 4) break;
    }
    const took = Date.now() - t0;
    assert.ok(took >= 900, `4 x 500 bytes at 1000 B/s took only ${took} ms`);
    await jsm.streams.delete("RL");
  });

  it("push with deliver_group: each message goes to one member of the queue group", async () => {
    const deliver = createInbox();
    const counts = [0, 0];
    const done = new Promise<void>((resolve) => {
      let total = 0;
      for (const i of [0, 1]) {
        nc.subscribe(deliver, {
          queue: "workers",
          callback: (_e, m) => {
            counts[i]++;
            m.respond();
            if (++total === 11) resolve();
          },
        });
      }
    });
    await nc.flush();
    const ci = await jsm.consumers.add("CO", { durable_name: "grp", deliver_subject: deliver, deliver_group: "workers", ack_policy: AckPolicy.Explicit });
    assert.equal(ci.config.deliver_group, "workers");
    assert.equal(ci.push_bound, true);
    await done;
    assert.equal(counts[0] + counts[1], 11, "ten messages from before() and one from the max_waiting test");
    assert.ok(counts[0] > 0 && counts[1] > 0, `both members got messages (${counts.join("/")})`);
    await waitUntil(() => true);
    await sleep(50);
    assert.equal((await jsm.consumers.info("CO", "grp")).num_ack_pending, 0);
  });
});

describe("acks and counters", () => {
  it("nak with delay, working, term and ackAck; num_redelivered and num_ack_pending follow", async () => {
    await jsm.streams.add({ name: "AK", subjects: ["ak"], storage: StorageType.Memory });
    for (let i = 1; i <= 4; i++) await js.publish("ak", `m${i}`);
    await jsm.consumers.add("AK", { durable_name: "k", ack_policy: AckPolicy.Explicit, ack_wait: 600_000_000 });
    const c = await js.consumers.get("AK", "k");
    const ms = [];
    for await (const m of await c.fetch({ max_messages: 4, expires: 1000 })) ms.push(m);
    assert.equal(ms.length, 4);
    let ci = await c.info();
    assert.deepEqual([ci.num_ack_pending, ci.num_pending, ci.delivered.stream_seq, ci.ack_floor.stream_seq], [4, 0, 4, 0]);

    const t0 = Date.now();
    ms[0].nak(300); // back in 300 ms, not at once
    assert.equal(await ms[1].ackAck(), true);
    // A second ack of the same message is confirmed as well (the client itself would not send it).
    const i1 = ms[1].info;
    const ackSubject = `$JS.ACK.${i1.stream}.${i1.consumer}.${i1.deliveryCount}.${i1.streamSequence}.${i1.deliverySequence}.${i1.timestampNanos}.${i1.pending}`;
    const again2 = await nc.request(ackSubject, "+ACK", { timeout: 10_000 });
    assert.equal(again2.data.length, 0);
    ms[2].term();
    const again = await c.next({ expires: 2000 });
    assert.equal(again?.seq, 1);
    assert.ok(Date.now() - t0 >= 250, `nak delay honoured (${Date.now() - t0} ms)`);
    assert.equal(again?.info.deliveryCount, 2);
    ci = await c.info();
    assert.equal(ci.num_redelivered, 1);
    assert.equal(ci.num_ack_pending, 2, "seq 1 (redelivered) and 4");
    assert.equal(ci.ack_floor.stream_seq, 0, "seq 1 still pending");
    await again?.ackAck();

    // working: each progress ack restarts the ack wait of seq 4
    for (let i = 0; i < 3; i++) {
      await sleep(300);
      ms[3].working();
    }
    await sleep(100);
    ci = await c.info();
    assert.equal(ci.num_redelivered, 0, "seq 4 was kept alive past its ack wait by working()");
    assert.equal(ci.num_ack_pending, 1);
    await ms[3].ackAck();
    ci = await c.info();
    assert.deepEqual([ci.num_ack_pending, ci.ack_floor.stream_seq, ci.ack_floor.consumer_seq, ci.delivered.consumer_seq], [0, 4, 5, 5]);
    await jsm.streams.delete("AK");
  });
});
