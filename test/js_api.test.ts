// JetStream API: stream CRUD and config fields through @nats-io/jetstream, publish checks
// (limits, discard, dedup, expected-* headers, rollups), purge variants, message get/delete,
// direct get, paging, and bad input answered with nats-server's err_code.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { startTestServer } from "./helpers/server.js";
import { jetStreamFixture } from "./helpers/jetstream.js";
import { JS_API_LEVEL } from "../src/jetstream/api_level.js";
import { NATS_FEATURE_VERSION } from "../src/server/version.js";
import { unlimitedJetStream } from "../src/config/options.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";

let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
jetStreamFixture((f) => ({ nc, jsm, js } = f));

type Json = Record<string, any>;
async function api(subject: string, body?: unknown): Promise<Json> {
  const data = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const m = await nc.request(subject, data, { timeout: 3000 });
  return m.json<Json>();
}
async function pub(subject: string, data: string, hdrs: Record<string, string> = {}): Promise<Json> {
  const h = headers();
  for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  const m = await nc.request(subject, data, { headers: Object.keys(hdrs).length > 0 ? h : undefined, timeout: 3000 });
  return m.json<Json>();
}

describe("stream CRUD", () => {
  it("creates with nats-server's defaults, is idempotent, updates, lists and deletes", async () => {
    // metadata is a 2.10 field: the v3 client refuses to send it to a 2.9 server, so raw API here.
    const created = await api("$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["orders.>"], description: "d", metadata: { team: "a" } });
    assert.equal(created.type, "io.nats.jetstream.api.v1.stream_create_response");
    assert.equal(created.did_create, true);
    const si = await jsm.streams.info("ORDERS");
    assert.equal(si.config.retention, "limits");
    assert.equal(si.config.storage, "file");
    assert.equal(si.config.max_msgs, -1);
    assert.equal(si.config.max_bytes, -1);
    assert.equal(si.config.max_msg_size, -1);
    assert.equal(si.config.max_msgs_per_subject, -1);
    assert.equal(si.config.max_consumers, -1);
    assert.equal(si.config.discard, "old");
    assert.equal(si.config.num_replicas, 1);
    assert.equal(si.config.duplicate_window, 120_000_000_000);
    assert.equal(si.config.description, "d");
    // The stored metadata gains the required API level; answers add the server's version and level.
    assert.deepEqual(si.config.metadata, { team: "a", "_nats.req.level": "0", "_nats.ver": NATS_FEATURE_VERSION, "_nats.level": String(JS_API_LEVEL) });
    assert.equal(si.state.messages, 0);
    assert.match(si.created as unknown as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // same config again: no error
    const again = await api("$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["orders.>"], description: "d", metadata: { team: "a" } });
    assert.equal(again.error, undefined);
    assert.equal(again.did_create, true, "nats-server says did_create for an identical re-create too");
    // different config under the same name
    const clash = await api("$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["other"] });
    assert.equal(clash.error.err_code, 10058);

    const up = await jsm.streams.update("ORDERS", { subjects: ["orders.>", "returns.*"], max_msgs: 100, deny_delete: true });
    assert.deepEqual(up.config.subjects, ["orders.>", "returns.*"]);
    assert.equal(up.config.max_msgs, 100);
    const bad = await api("$JS.API.STREAM.UPDATE.ORDERS", { ...up.config, storage: "memory" });
    assert.equal(bad.error.err_code, 10052);
    assert.equal(bad.error.description, "stream configuration update can not change storage type");

    const names = await api("$JS.API.STREAM.NAMES");
    assert.equal(names.type, "io.nats.jetstream.api.v1.stream_names_response");
    assert.deepEqual(names.streams, ["ORDERS"]);
    const byName = await jsm.streams.find("returns.x");
    assert.equal(byName, "ORDERS");
    const list = await jsm.streams.list().next();
    assert.equal(list.length, 1);
    assert.ok(await jsm.streams.delete("ORDERS"));
    const gone = await api("$JS.API.STREAM.INFO.ORDERS");
    assert.deepEqual(gone.error, { code: 404, err_code: 10059, description: "stream not found" });
  });

  it("accepts every modelled config field and reports them back", async () => {
    const cfg = {
      name: "ALLF",
      subjects: ["allf.*"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
      max_consumers: 5,
      max_msgs: 1000,
      max_bytes: 1 << 20,
      max_age: 3_600_000_000_000,
      max_msg_size: 4096,
      max_msgs_per_subject: 10,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      duplicate_window: 60_000_000_000,
      sealed: false,
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false, // with deny_purge nats-server refuses roll-ups ("roll-ups require the purge permission")
      allow_direct: true,
      no_ack: false,
      first_seq: 100,
      description: "all fields",
      metadata: { a: "b" },
    };
    const r = await api("$JS.API.STREAM.CREATE.ALLF", cfg);
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    for (const [k, v] of Object.entries(cfg)) {
      if (k === "sealed" || k === "no_ack") continue;
      if (k === "metadata") assert.equal(r.config.metadata.a, "b");
      else assert.deepEqual(r.config[k], v, k);
    }
    const ack = await pub("allf.x", "hi");
    assert.equal(ack.seq, 100, "first_seq honoured");
    // deny_delete / deny_purge
    const del = await api("$JS.API.STREAM.MSG.DELETE.ALLF", { seq: 100 });
    assert.equal(del.error.err_code, 10057);
    const pur = await api("$JS.API.STREAM.PURGE.ALLF");
    assert.equal(pur.error.err_code, 10110);
    // sealing is one-way
    const sealed = await api("$JS.API.STREAM.UPDATE.ALLF", { ...r.config, sealed: true });
    assert.equal(sealed.config.sealed, true);
    const afterSeal = await pub("allf.y", "x");
    assert.equal(afterSeal.error.err_code, 10109);
    const unseal = await api("$JS.API.STREAM.UPDATE.ALLF", { ...r.config, sealed: false });
    assert.equal(unseal.error.err_code, 10052);
    await jsm.streams.delete("ALLF");
  });
});

describe("bad input", () => {
  it("malformed JSON, unknown fields and wrong types get 10025", async () => {
    const r1 = await api("$JS.API.STREAM.CREATE.BAD", "{not json");
    assert.equal(r1.error.err_code, 10025);
    assert.equal(r1.error.code, 400);
    assert.match(r1.error.description, /^invalid JSON: /);
    const r2 = await api("$JS.API.STREAM.CREATE.BAD", { name: "BAD", subjects: ["bad"], bogus_field: 1 });
    assert.equal(r2.error.err_code, 10025);
    assert.equal(r2.error.description, 'invalid JSON: json: unknown field "bogus_field"');
    const r3 = await api("$JS.API.STREAM.CREATE.BAD", { name: "BAD", max_msgs: "lots" });
    assert.equal(r3.error.err_code, 10025);
    await jsm.streams.add({ name: "OK1", subjects: ["ok1"] });
    const r4 = await api("$JS.API.CONSUMER.CREATE.OK1.c", { stream_name: "OK1", config: { name: "c", ack_policy: "explicit", wat: true } });
    assert.equal(r4.error.err_code, 10025);
    const r5 = await api("$JS.API.STREAM.PURGE.OK1", { filter: "ok1", what: 1 });
    assert.equal(r5.error.err_code, 10025);
    // nothing stored is lost by bad requests
    await js.publish("ok1", "keep");
    await api("$JS.API.STREAM.UPDATE.OK1", "[]");
    assert.equal((await jsm.streams.info("OK1")).state.messages, 1);
    await jsm.streams.delete("OK1");
  });

  it("invalid names, mismatches and overlaps get their codes", async () => {
    const dot = await api("$JS.API.STREAM.CREATE.A", { name: "A.B" });
    assert.equal(dot.error.err_code, 10056, "name in subject differs");
    const star = await api("$JS.API.STREAM.CREATE.A*", { name: "A*" });
    assert.equal(star.error.err_code, 10052);
    const slash = await api("$JS.API.STREAM.CREATE.A/B", { name: "A/B" });
    assert.equal(slash.error.err_code, 10128);
    await jsm.streams.add({ name: "OV1", subjects: ["ov.>"] });
    const ov = await api("$JS.API.STREAM.CREATE.OV2", { name: "OV2", subjects: ["ov.a.b"] });
    assert.deepEqual(ov.error, { code: 400, err_code: 10065, description: "subjects overlap with an existing stream" });
    const dup = await api("$JS.API.STREAM.CREATE.OV3", { name: "OV3", subjects: ["x.*", "x.a"] });
    assert.equal(dup.error.err_code, 10052);
    const repl = await api("$JS.API.STREAM.CREATE.R3", { name: "R3", num_replicas: 3 });
    assert.equal(repl.error.err_code, 10074);
    const wild = await api("$JS.API.STREAM.CREATE.W", { name: "W", subjects: ["bad..subject"] });
    assert.equal(wild.error.err_code, 10052);
    const badC = await api("$JS.API.CONSUMER.CREATE.OV1.a", { stream_name: "OV1", config: { durable_name: "b", ack_policy: "explicit" } });
    assert.equal(badC.error.err_code, 10017);
    const eph = await api("$JS.API.CONSUMER.CREATE.OV1", { stream_name: "OV1", config: { durable_name: "x", ack_policy: "explicit" } });
    assert.equal(eph.error.err_code, 10020);
    const hb = await api("$JS.API.CONSUMER.CREATE.OV1", { stream_name: "OV1", config: { deliver_subject: "d", idle_heartbeat: 50_000_000 } });
    assert.equal(hb.error.err_code, 10083);
    const wc = await api("$JS.API.CONSUMER.CREATE.OV1.c1", { stream_name: "OV1", config: { name: "c1", deliver_subject: "d.*" } });
    assert.equal(wc.error.err_code, 10079);
    // nats-server 2.10+ accept a filter outside the stream's subjects; an invalid one is a config error.
    const filt = await api("$JS.API.CONSUMER.CREATE.OV1.c2", { stream_name: "OV1", config: { name: "c2", filter_subject: "bad..x" } });
    assert.deepEqual(filt.error, { code: 500, err_code: 10052, description: "invalid subject" });
    const missing = await api("$JS.API.CONSUMER.INFO.OV1.nope");
    assert.deepEqual(missing.error, { code: 404, err_code: 10014, description: "consumer not found" });
    await jsm.streams.delete("OV1");
  });

  it("accounts without JetStream answer 10039, and limits are enforced", async () => {
    const s2 = await startTestServer({
      jetstream: true,
      accounts: [
        { name: "A", users: [{ user: "a", password: "a" }], jetstream: { ...unlimitedJetStream(), max_streams: 1, max_consumers: 1, max_memory: 2000 } },
        { name: "B", users: [{ user: "b", password: "b" }] },
      ],
    });
    const a = await connect({ servers: s2.url, user: "a", pass: "a" });
    const b = await connect({ servers: s2.url, user: "b", pass: "b" });
    try {
      const rb = (await b.request("$JS.API.INFO", "", { timeout: 2000 })).json<Json>();
      assert.equal(rb.error.err_code, 10039);
      const ja = await jetstreamManager(a);
      await ja.streams.add({ name: "ONE", subjects: ["one"] });
      const second = (await a.request("$JS.API.STREAM.CREATE.TWO", JSON.stringify({ name: "TWO", subjects: ["two"] }), { timeout: 2000 })).json<Json>();
      assert.equal(second.error.err_code, 10027);
      await ja.consumers.add("ONE", { durable_name: "c1", ack_policy: "explicit" as never });
      const c2 = (await a.request("$JS.API.CONSUMER.CREATE.ONE.c2", JSON.stringify({ stream_name: "ONE", config: { durable_name: "c2", ack_policy: "explicit" } }), { timeout: 2000 })).json<Json>();
      assert.equal(c2.error.err_code, 10026);
      const info = await ja.getAccountInfo();
      assert.equal(info.limits.max_streams, 1);
      assert.equal(info.streams, 1);
      // storage limit of the account: publishing past it fails with 10002, nothing is lost
      await ja.streams.delete("ONE");
      await ja.streams.add({ name: "SMALL", subjects: ["small"], storage: StorageType.Memory });
      let err: Json | undefined;
      let stored = 0;
      for (let i = 0; i < 50 && err === undefined; i++) {
        const r = (await a.request("small", "x".repeat(100), { timeout: 2000 })).json<Json>();
        if (r.error) err = r.error;
        else stored++;
      }
      assert.equal(err?.err_code, 10002);
      assert.equal((await ja.streams.info("SMALL")).state.messages, stored);
    } finally {
      await a.close();
      await b.close();
      await s2.close();
    }
  });
});

describe("publish checks", () => {
  it("pub acks, de-duplication and expected-* headers", async () => {
    await jsm.streams.add({ name: "P", subjects: ["p.>"], duplicate_window: 2_000_000_000 });
    const a1 = await js.publish("p.a", "1", { msgID: "m1" });
    assert.deepEqual([a1.stream, a1.seq, a1.duplicate], ["P", 1, false]);
    const a2 = await js.publish("p.a", "1", { msgID: "m1" });
    assert.deepEqual([a2.seq, a2.duplicate], [1, true]);
    assert.equal((await pub("p.b", "x", { "Nats-Expected-Stream": "OTHER" })).error.err_code, 10060);
    const wrongSeq = await pub("p.b", "x", { "Nats-Expected-Last-Sequence": "7" });
    assert.deepEqual(wrongSeq.error, { code: 400, err_code: 10071, description: "wrong last sequence: 1" });
    assert.equal((await pub("p.b", "x", { "Nats-Expected-Last-Sequence": "1" })).seq, 2);
    const subjSeq = await pub("p.a", "x", { "Nats-Expected-Last-Subject-Sequence": "2" });
    assert.deepEqual(subjSeq.error, { code: 400, err_code: 10071, description: "wrong last sequence: 1" });
    assert.equal((await pub("p.a", "x", { "Nats-Expected-Last-Subject-Sequence": "1" })).seq, 3);
    await js.publish("p.c", "y", { msgID: "m2" });
    const lastId = await pub("p.c", "z", { "Nats-Expected-Last-Msg-Id": "nope" });
    assert.deepEqual(lastId.error, { code: 400, err_code: 10070, description: "wrong last msg ID: m2" });
    assert.equal((await pub("p.c", "z", { "Nats-Expected-Last-Msg-Id": "m2" })).seq, 5);
    // plain PUB without reply is stored too
    nc.publish("p.plain", "fire and forget");
    await nc.flush();
    assert.equal((await jsm.streams.info("P")).state.messages, 6);
    await jsm.streams.delete("P");
  });

  it("limits with discard old and new, max_msg_size, per subject", async () => {
    await jsm.streams.add({ name: "L", subjects: ["l.*"], max_msgs: 3, storage: StorageType.Memory });
    for (let i = 0; i < 5; i++) await js.publish("l.a", String(i));
    let st = (await jsm.streams.info("L")).state;
    assert.deepEqual([st.messages, st.first_seq, st.last_seq], [3, 3, 5]);
    await jsm.streams.add({ name: "LN", subjects: ["ln.*"], max_msgs: 2, discard: DiscardPolicy.New, max_msg_size: 10 });
    await js.publish("ln.a", "1");
    await js.publish("ln.a", "2");
    const full = await pub("ln.a", "3");
    assert.deepEqual(full.error, { code: 503, err_code: 10077, description: "maximum messages exceeded" });
    const big = await pub("ln.b", "01234567890");
    assert.equal(big.error.err_code, 10054);
    await jsm.streams.add({ name: "PS", subjects: ["ps.*"], max_msgs_per_subject: 2 });
    for (let i = 0; i < 4; i++) await js.publish("ps.a", String(i));
    await js.publish("ps.b", "b");
    st = (await jsm.streams.info("PS", { subjects_filter: ">" })).state;
    assert.equal(st.messages, 3);
    assert.deepEqual(st.subjects, { "ps.a": 2, "ps.b": 1 });
    await jsm.streams.add({ name: "DNP", subjects: ["dnp.*"], max_msgs_per_subject: 1, discard: DiscardPolicy.New, discard_new_per_subject: true });
    await js.publish("dnp.a", "1");
    assert.equal((await pub("dnp.a", "2")).error.err_code, 10077);
    assert.equal((await pub("dnp.b", "2")).seq, 2);
    for (const n of ["L", "LN", "PS", "DNP"]) await jsm.streams.delete(n);
  });

  it("max_age expires messages", async () => {
    await jsm.streams.add({ name: "AGE", subjects: ["age"], max_age: 300_000_000 });
    await js.publish("age", "x");
    assert.equal((await jsm.streams.info("AGE")).state.messages, 1);
    const deadline = Date.now() + 5000;
    while ((await jsm.streams.info("AGE")).state.messages !== 0) {
      assert.ok(Date.now() < deadline, "message did not expire");
      await new Promise((r) => setTimeout(r, 100));
    }
    await jsm.streams.delete("AGE");
  });

  it("rollups need allow_rollup_hdrs and keep only the rolled-up message", async () => {
    await jsm.streams.add({ name: "RU", subjects: ["ru.*"] });
    const denied = await pub("ru.a", "x", { "Nats-Rollup": "sub" });
    assert.deepEqual(denied.error, { code: 500, err_code: 10111, description: "rollup not permitted" });
    await jsm.streams.update("RU", { allow_rollup_hdrs: true });
    for (let i = 0; i < 3; i++) await js.publish("ru.a", String(i));
    await js.publish("ru.b", "b");
    await pub("ru.a", "rolled", { "Nats-Rollup": "sub" });
    let st = (await jsm.streams.info("RU")).state;
    assert.equal(st.messages, 2);
    await pub("ru.c", "all", { "Nats-Rollup": "all" });
    st = (await jsm.streams.info("RU")).state;
    assert.equal(st.messages, 1);
    assert.equal((await jsm.streams.getMessage("RU", { last_by_subj: "ru.c" }))?.string(), "all");
    assert.equal((await pub("ru.a", "x", { "Nats-Rollup": "bogus" })).error.err_code, 10111);
    await jsm.streams.delete("RU");
  });
});

describe("purge, get, delete, direct get", () => {
  it("purges whole, by filter, by seq and keep", async () => {
    await jsm.streams.add({ name: "PU", subjects: ["pu.*"] });
    for (let i = 1; i <= 10; i++) await js.publish(i % 2 ? "pu.odd" : "pu.even", String(i));
    assert.equal((await jsm.streams.purge("PU", { filter: "pu.odd" })).purged, 5);
    assert.equal((await jsm.streams.purge("PU", { seq: 6 })).purged, 2); // 2 and 4 are < 6
    assert.equal((await jsm.streams.purge("PU", { keep: 1 })).purged, 2);
    const st = (await jsm.streams.info("PU")).state;
    assert.deepEqual([st.messages, st.first_seq, st.last_seq], [1, 10, 10]);
    const both = await api("$JS.API.STREAM.PURGE.PU", { seq: 3, keep: 1 });
    assert.equal(both.error.err_code, 10003);
    assert.equal((await jsm.streams.purge("PU")).purged, 1);
    const after = (await jsm.streams.info("PU")).state;
    assert.deepEqual([after.messages, after.first_seq, after.last_seq], [0, 11, 10]);
    await jsm.streams.delete("PU");
  });

  it("gets and deletes messages, reports deleted details", async () => {
    await jsm.streams.add({ name: "G", subjects: ["g.*"] });
    const h = headers();
    h.set("X-Test", "yes");
    await js.publish("g.a", "one", { headers: h });
    await js.publish("g.b", "two");
    await js.publish("g.a", "three");
    const m1 = await jsm.streams.getMessage("G", { seq: 1 });
    assert.equal(m1?.string(), "one");
    assert.equal(m1?.header.get("X-Test"), "yes");
    assert.equal((await jsm.streams.getMessage("G", { last_by_subj: "g.a" }))?.seq, 3);
    assert.equal((await api("$JS.API.STREAM.MSG.GET.G", { next_by_subj: "g.b", seq: 1 })).message.seq, 2);
    const raw = await api("$JS.API.STREAM.MSG.GET.G", { seq: 2 });
    assert.equal(raw.message.subject, "g.b");
    assert.equal(Buffer.from(raw.message.data, "base64").toString(), "two");
    assert.match(raw.message.time, /\.\d+Z$/);
    assert.deepEqual((await api("$JS.API.STREAM.MSG.GET.G", { seq: 99 })).error, { code: 404, err_code: 10037, description: "no message found" });
    assert.ok(await jsm.streams.deleteMessage("G", 2)); // secure erase (the default)
    const info = await jsm.streams.info("G", { deleted_details: true });
    assert.equal(info.state.messages, 2);
    assert.equal(info.state.num_deleted, 1);
    assert.deepEqual(info.state.deleted, [2]);
    assert.ok(await jsm.streams.deleteMessage("G", 1, false));
    const st = (await jsm.streams.info("G")).state;
    assert.deepEqual([st.messages, st.first_seq, st.num_deleted ?? 0], [1, 3, 0]);
    // Below the first sequence nats-server's file store fails with "no message found".
    assert.equal((await api("$JS.API.STREAM.MSG.DELETE.G", { seq: 2 })).error.err_code, 10057);
    await jsm.streams.delete("G");
  });

  it("direct get by sequence, last by subject and next by subject", async () => {
    await jsm.streams.add({ name: "DG", subjects: ["dg.*"], allow_direct: true });
    await js.publish("dg.a", "a1");
    await js.publish("dg.b", "b1");
    await js.publish("dg.a", "a2");
    const bySeq = await jsm.direct.getMessage("DG", { seq: 2 });
    assert.equal(bySeq?.string(), "b1");
    assert.equal(bySeq?.subject, "dg.b");
    assert.equal(bySeq?.seq, 2);
    assert.ok(bySeq?.time instanceof Date && !Number.isNaN(bySeq.time.getTime()));
    assert.equal((await jsm.direct.getMessage("DG", { last_by_subj: "dg.a" }))?.string(), "a2");
    assert.equal((await jsm.direct.getMessage("DG", { next_by_subj: "dg.a", seq: 2 }))?.seq, 3);
    const missing = await nc.request("$JS.API.DIRECT.GET.DG", JSON.stringify({ seq: 50 }), { timeout: 2000 });
    assert.equal(missing.headers?.code, 404);
    const lastBySubjectToken = await nc.request("$JS.API.DIRECT.GET.DG.dg.b", "", { timeout: 2000 });
    assert.equal(lastBySubjectToken.string(), "b1");
    assert.equal(lastBySubjectToken.headers?.get("Nats-Sequence"), "2");
    await jsm.streams.delete("DG");
  });

  it("pages NAMES and LIST with offset/total/limit", async () => {
    for (let i = 0; i < 5; i++) await jsm.streams.add({ name: `PG${i}`, subjects: [`pg${i}`], storage: StorageType.Memory });
    const n = await api("$JS.API.STREAM.NAMES", { offset: 3 });
    assert.equal(n.total, 5);
    assert.equal(n.offset, 3);
    assert.equal(n.limit, 1024);
    assert.deepEqual(n.streams, ["PG3", "PG4"]);
    const l = await api("$JS.API.STREAM.LIST", { subject: "pg1" });
    assert.equal(l.total, 1);
    assert.equal(l.streams[0].config.name, "PG1");
    for (let i = 0; i < 3; i++) await jsm.consumers.add("PG0", { durable_name: `c${i}`, ack_policy: "explicit" as never });
    const cn = await api("$JS.API.CONSUMER.NAMES.PG0", { offset: 1 });
    assert.deepEqual([cn.total, cn.consumers], [3, ["c1", "c2"]]);
    const cl = await api("$JS.API.CONSUMER.LIST.PG0");
    assert.equal(cl.consumers.length, 3);
    const ai = await jsm.getAccountInfo();
    assert.equal(ai.streams, 5);
    assert.equal(ai.consumers, 3);
    assert.ok(ai.api.total > 0);
    for (let i = 0; i < 5; i++) await jsm.streams.delete(`PG${i}`);
  });
});

describe("replica-group requests outside a cluster", () => {
  it("stream/consumer leader stepdown, stream peer remove and cancel move answer 10010, as nats-server 2.15 does", async () => {
    const subjects = ["$JS.API.STREAM.LEADER.STEPDOWN.RG", "$JS.API.STREAM.PEER.REMOVE.RG", "$JS.API.STREAM.CANCEL_MOVE.RG", "$JS.API.CONSUMER.LEADER.STEPDOWN.RG.C", "$JS.API.STREAM.LEADER.STEPDOWN.NONE", "$JS.API.CONSUMER.LEADER.STEPDOWN.NONE.X"];
    const answersOf = async (conn: NatsConnection): Promise<Json[]> => {
      await conn.request("$JS.API.STREAM.CREATE.RG", JSON.stringify({ name: "RG", subjects: ["rg.>"] }), { timeout: 5000 });
      await conn.request("$JS.API.CONSUMER.CREATE.RG.C", JSON.stringify({ stream_name: "RG", config: { durable_name: "C" } }), { timeout: 5000 });
      const out: Json[] = [];
      for (const s of subjects) out.push((await conn.request(s, JSON.stringify({ peer: "someone" }), { timeout: 5000 })).json<Json>());
      await conn.request("$JS.API.STREAM.DELETE.RG", "", { timeout: 5000 });
      return out;
    };
    const ours = await answersOf(nc);
    for (const [i, a] of ours.entries()) {
      assert.equal(a.error?.err_code, 10010, subjects[i]);
      assert.equal(a.error?.description, "JetStream clustering support required");
    }
    if (referenceBinary("2.15") === undefined) return;
    const ref = await startNatsServer(["-js"], undefined, "2.15");
    const rc = await connect({ port: ref.port });
    try {
      assert.deepEqual(ours, await answersOf(rc));
    } finally {
      await rc.close();
      await ref.stop();
    }
  });
});
