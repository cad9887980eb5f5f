// Regressions found by running the nats.js test suite against tsnats, reproduced here with
// the npm clients (@nats-io/jetstream, @nats-io/kv, @nats-io/obj). Expected values are
// what nats-server 2.9.10 answers to the same requests (checked side by side).
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KvEntry } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { parseConfigString } from "../src/config/conf_parser.js";
import { optionsFromConfig } from "../src/config/load.js";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { jetStreamFixture, requestJson } from "./helpers/jetstream.js";
import { differences, referenceMissing, startSideBySide, type Step } from "./helpers/side_by_side.js";
import { JS_API_LEVEL } from "../src/jetstream/api_level.js";

const api = requestJson;

function errorOf(r: Record<string, unknown>): { code: number; err_code: number; description: string } | undefined {
  return r.error as { code: number; err_code: number; description: string } | undefined;
}

describe("nats.js regressions", () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  jetStreamFixture((f) => ({ nc, jsm } = f));

  describe("consumer filter subjects (jetstream_test 'watcher deliver_subject')", () => {
    it("accepts a wildcard filter wider than a stream subject, as an ordered push consumer sends", async () => {
      await jsm.streams.add({ name: "WIDE", subjects: ["a"] });
      const js = jetstream(nc, { watcherPrefix: "hola" });
      const pc = await js.consumers.getPushConsumer("WIDE");
      const { config } = await pc.info(true);
      assert.equal(config.filter_subject, ">");
      assert.equal(config.deliver_subject?.split(".")[0], "hola");
      await pc.delete();
    });

    it("accepts any valid filter, covered by the stream's subjects or not (nats-server 2.10+), refuses invalid ones", async () => {
      const cases: Array<[string[], string, boolean]> = [
        [["foo.bar"], "foo.*", true],
        [["foo.*"], "foo.>", true],
        [["foo.>"], "foo.*", true],
        [["foo.bar.baz"], "*.>", true],
        [["foo.*"], "*.bar", true],
        [["foo.*"], "*.*.*", true],
        [["a.b", "c"], "c.>", true],
        [["foo.*"], "bar", true],
        [["foo.*"], "foo..bar", false],
        [["foo.*"], "foo.>.bar", false],
      ];
      let i = 0;
      for (const [subjects, filter, ok] of cases) {
        const name = `FLT${i++}`;
        await jsm.streams.add({ name, subjects });
        const r = await api(nc, `$JS.API.CONSUMER.CREATE.${name}`, { stream_name: name, config: { filter_subject: filter, ack_policy: "none" } });
        if (ok) assert.equal(errorOf(r), undefined, `${subjects} / ${filter}`);
        else assert.deepEqual(errorOf(r), { code: 500, err_code: 10052, description: "invalid subject" }, `${subjects} / ${filter}: ${JSON.stringify(r)}`);
        await jsm.streams.delete(name);
      }
    });
  });

  describe("byte accounting (consumers_test 'threshold_messages bytes')", () => {
    const hdrs = headers();
    hdrs.set("K0", "v0");
    // The header block exactly as the client sends it (and the server stores it).
    const hlen = (hdrs as unknown as { encode(): Uint8Array }).encode().length;

    it("file and memory streams count messages like nats-server 2.9 (state.bytes and account usage)", async () => {
      const js = jetstream(nc);
      const before = await jsm.getAccountInfo();
      const expect: Record<string, number> = {};
      for (const storage of ["file", "memory"] as const) {
        const name = `BYTES_${storage}`;
        await jsm.streams.add({ name, subjects: [`${name}.>`], storage });
        let total = 0;
        for (const [subj, n, withHdr] of [
          ["x", 0, false],
          ["abc.def", 10, false],
          ["abc", 0, true],
          ["abc", 5, true],
        ] as Array<[string, number, boolean]>) {
          const subject = `${name}.${subj}`;
          await js.publish(subject, new Uint8Array(n), withHdr ? { headers: hdrs } : undefined);
          const h = withHdr ? hlen : 0;
          // file: 22 + subject + (4 + headers) + data + 8; memory: subject + headers + data + 16
          const size = storage === "file" ? 22 + subject.length + (h > 0 ? 4 + h : 0) + n + 8 : subject.length + h + n + 16;
          total += size;
          const si = await jsm.streams.info(name);
          assert.equal(si.state.bytes, total, `${storage} ${subject} (${n} bytes, headers ${h})`);
        }
        expect[storage] = total;
      }
      // nats-server 2.9.10 reported 37, 53, 63 and 68 bytes for these messages under a
      // 5-character prefix ("Bfile"); this prefix is 5 characters longer.
      assert.equal(expect.file, 37 + 53 + 63 + 68 + 4 * 5);
      const ai = await jsm.getAccountInfo();
      assert.equal(ai.storage - before.storage, expect.file);
      assert.equal(ai.memory - before.memory, expect.memory);
      await jsm.streams.delete("BYTES_file");
      await jsm.streams.delete("BYTES_memory");
    });

    it("a file stream's max_bytes uses the file store's sizes", async () => {
      const js = jetstream(nc);
      const size = 22 + "mb".length + 10 + 8; // 42 per message
      await jsm.streams.add({ name: "MB", subjects: ["mb"], max_bytes: size * 3, discard: "old" });
      for (let i = 0; i < 5; i++) await js.publish("mb", new Uint8Array(10));
      const si = await jsm.streams.info("MB");
      assert.equal(si.state.messages, 3);
      assert.equal(si.state.bytes, size * 3);
      await jsm.streams.delete("MB");
    });

    it("the sizes survive a restart of a file stream (indexes rebuilt with the new accounting)", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-bytes-"));
      let s: EmbeddedServer | undefined = await startServer({ port: -1, jetstream: { storeDir: dir } });
      try {
        let c = await connect({ servers: s.url });
        let m = await jetstreamManager(c);
        await m.streams.add({ name: "RB", subjects: ["rb"] });
        const js = jetstream(c);
        await js.publish("rb", new Uint8Array(7));
        await js.publish("rb", new Uint8Array(3), { headers: hdrs });
        const want = 22 + 2 + 7 + 8 + (22 + 2 + 4 + hlen + 3 + 8);
        assert.equal((await m.streams.info("RB")).state.bytes, want);
        await c.close();
        await s.close();
        s = await startServer({ port: -1, jetstream: { storeDir: dir } });
        c = await connect({ servers: s.url });
        m = await jetstreamManager(c);
        assert.equal((await m.streams.info("RB")).state.bytes, want);
        await c.close();
      } finally {
        await s?.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("pull requests count max_bytes as subject + reply + headers + data", async () => {
      const js = jetstream(nc);
      await jsm.streams.add({ name: "PB", subjects: ["pb.>"] });
      for (let i = 0; i < 10; i++) await js.publish("pb.sub", new Uint8Array(10), i % 2 === 1 ? { headers: hdrs } : undefined);
      for (const maxBytes of [30, 80, 150, 300]) {
        const durable = `c${maxBytes}`;
        await jsm.consumers.add("PB", { durable_name: durable, ack_policy: "none" });
        const inbox = createInbox();
        const got: Msg[] = [];
        let status: Msg | undefined;
        const sub = nc.subscribe(inbox, {
          callback: (_e, m) => {
            if (m.data.length === 0 && m.headers?.code) {
              status = m;
              sub.unsubscribe();
            } else got.push(m);
          },
        });
        nc.publish(`$JS.API.CONSUMER.MSG.NEXT.PB.${durable}`, JSON.stringify({ batch: 100, max_bytes: maxBytes, expires: 2_000_000_000 }), { reply: inbox });
        await waitUntil(() => status !== undefined, 3000, "the 409 that ends the request");
        let used = 0;
        for (const m of got) used += m.subject.length + (m.reply ?? "").length + (m.headers ? hlen : 0) + m.data.length;
        assert.equal(status!.headers!.code, 409);
        assert.equal(status!.headers!.description, "Message Size Exceeds MaxBytes");
        assert.equal(Number(status!.headers!.get("Nats-Pending-Bytes")), maxBytes - used, `max_bytes ${maxBytes}`);
        assert.equal(Number(status!.headers!.get("Nats-Pending-Messages")), 100 - got.length);
      }
      // 30 bytes do not fit a single message (6 + 43 + 10): nothing is delivered.
      await jsm.streams.delete("PB");
    });
  });

  describe("republish (2.9)", () => {
    it("republishes stored messages with stream headers after the original ones", async () => {
      const si = await jsm.streams.add({ name: "RP", subjects: ["l.*"], republish: { src: "l.*", dest: "lr.{{wildcard(1)}}" } });
      assert.deepEqual(si.config.republish, { src: "l.*", dest: "lr.{{wildcard(1)}}" });
      const got: Msg[] = [];
      const sub = nc.subscribe("lr.>", {
        callback: (_e, m) => {
          got.push(m);
        },
      });
      const js = jetstream(nc);
      const h = headers();
      h.set("X-Mine", "1");
      for (const s of ["l.a", "l.b", "l.a"]) await js.publish(s, "d", s === "l.b" ? { headers: h } : undefined);
      await waitUntil(() => got.length === 3, 2000, "3 republished messages");
      sub.unsubscribe();
      assert.deepEqual(
        got.map((m) => [m.subject, m.headers?.get("Nats-Stream"), m.headers?.get("Nats-Subject"), m.headers?.get("Nats-Sequence"), m.headers?.get("Nats-Last-Sequence"), m.string()]),
        [
          ["lr.a", "RP", "l.a", "1", "0", "d"],
          ["lr.b", "RP", "l.b", "2", "0", "d"],
          ["lr.a", "RP", "l.a", "3", "1", "d"],
        ],
      );
      // The publisher's headers come first, untouched.
      assert.equal(got[1].headers?.get("X-Mine"), "1");
      assert.equal(got[1].headers?.keys()[0], "X-Mine");
      // 2.15 stamps the republished message with the stored time.
      assert.match(got[0].headers?.get("Nats-Time-Stamp") ?? "", /^\d{4}-\d\d-\d\dT/);
      // Since 2.10 a republish config may change on update.
      const upd = await api(nc, "$JS.API.STREAM.UPDATE.RP", { name: "RP", subjects: ["l.*"], republish: { src: "l.*", dest: "other.{{wildcard(1)}}" } });
      assert.equal(errorOf(upd), undefined);
      assert.deepEqual((upd.config as { republish: unknown }).republish, { src: "l.*", dest: "other.{{wildcard(1)}}" });
      await jsm.streams.delete("RP");
    });

    it("headers_only sends no payload and the size in Nats-Msg-Size; src defaults to '>'", async () => {
      const created = await api(nc, "$JS.API.STREAM.CREATE.RPH", { name: "RPH", subjects: ["h.>"], republish: { dest: "hr.>", headers_only: true } });
      assert.deepEqual((created.config as { republish: unknown }).republish, { src: ">", dest: "hr.>", headers_only: true });
      const sub = nc.subscribe("hr.>", { max: 1 });
      await jetstream(nc).publish("h.x.y", "payload!");
      for await (const m of sub) {
        assert.equal(m.subject, "hr.h.x.y");
        assert.equal(m.data.length, 0);
        assert.equal(m.headers?.get("Nats-Msg-Size"), "8");
        assert.equal(m.headers?.get("Nats-Sequence"), "1");
      }
      await jsm.streams.delete("RPH");
    });

    it("validates the config as nats-server 2.15 does", { skip: referenceMissing() }, async () => {
      const cases: Array<[string[], Record<string, unknown>]> = [
        [["x.>"], { dest: "x.y" }],
        [["x.>"], { src: "y.>", dest: "z.>" }],
        [["x.>"], { src: "x.>", dest: "z.*" }],
        [["x.>"], { src: "x.*", dest: "z.>" }],
        [["x.>"], { src: "x.>", dest: "" }],
        [["x.>"], { src: "x.>", dest: "z" }],
        [["x.*"], { src: "x.*", dest: "z" }],
        [["x.*.*"], { src: "x.*.*", dest: "z.{{wildcard(2)}}" }],
        [["x.*"], { src: "x.*", dest: "z.{{wildcard(3)}}" }],
        [["x.*"], { src: "x.*", dest: "z.{{foo(1)}}" }],
        [["x.a"], { src: "x.a", dest: "x.a" }],
        [["x.*.*"], { src: "x.*.*", dest: "z.$2.$1" }],
        [["x.*"], { src: "x.*", dest: "z.{{ wildcard(1) }}.q" }],
        [["x.>"], { src: "x.*.>", dest: "y.{{wildcard(1)}}.>" }],
        [["x.*"], { src: "x.a", dest: "z" }],
      ];
      const steps: Step[] = [];
      cases.forEach(([subjects, republish], i) => {
        steps.push({ s: `$JS.API.STREAM.CREATE.RPV${i}`, b: { name: `RPV${i}`, subjects, republish } });
        steps.push({ s: `$JS.API.STREAM.DELETE.RPV${i}` });
      });
      const sides = await startSideBySide();
      try {
        assert.deepEqual(differences(steps, await sides.run(steps)), []);
      } finally {
        await sides.close();
      }
    });

    it("transforms with $N and partition as nats-server does", async () => {
      await jsm.streams.add({ name: "RPP", subjects: ["p.*.*"], republish: { src: "p.*.*", dest: "pr.{{partition(5,1,2)}}.{{partition(7,2)}}.$2.$1" } });
      const got: string[] = [];
      const sub = nc.subscribe("pr.>", {
        callback: (_e, m) => {
          got.push(m.subject);
        },
      });
      const js = jetstream(nc);
      for (const s of ["p.a.b", "p.hello.world", "p.1.2", "p.abc.xyz", "p.foo.bar"]) await js.publish(s, "d");
      await waitUntil(() => got.length === 5, 2000, "5 republished messages");
      sub.unsubscribe();
      // nats-server 2.9.10's subjects for the same messages
      assert.deepEqual(got, ["pr.1.6.b.a", "pr.2.0.world.hello", "pr.0.3.2.1", "pr.0.4.xyz.abc", "pr.0.2.bar.foo"]);
      await jsm.streams.delete("RPP");
    });

    it("republishing into a KV bucket keeps entries readable (kv_test 'republish header handling')", async () => {
      await jsm.streams.add({ name: "RKV", subjects: ["A.>"], storage: "memory", republish: { src: ">", dest: "$KV.rkv.>" } });
      const js = jetstream(nc);
      const kvm = new Kvm(js);
      const kv = await kvm.create("rkv");
      nc.publish("A.orange", "hey");
      await js.publish("A.tomato", "hello");
      await kv.put("A.potato", "yo");
      for (const allow_direct of [false, true]) {
        const b = await kvm.create("rkv", { allow_direct });
        assert.equal((await b.get("A.orange"))?.string(), "hey");
        assert.equal((await b.get("A.tomato"))?.string(), "hello");
        assert.equal((await b.get("A.potato"))?.string(), "yo");
      }
      await jsm.streams.delete("RKV");
      await kv.destroy();
    });
  });

  describe("direct get statuses (jsm_direct_test 'direct - get')", () => {
    it("answers 408 Empty / Malformed / Bad Request like nats-server 2.9.10", async () => {
      await jsm.streams.add({ name: "DG", subjects: ["dg.>"], allow_direct: true });
      await jetstream(nc).publish("dg.a", "x");
      const cases: Array<[string, string]> = [
        [JSON.stringify({ seq: 0 }), "Empty Request"],
        ["{}", "Empty Request"],
        ["", "Empty Request"],
        ["{bad", "Malformed Request"],
        [JSON.stringify({ seq: 1, last_by_subj: "dg.a" }), "Bad Request"],
        [JSON.stringify({ last_by_subj: "dg.a", next_by_subj: "dg.a" }), "Bad Request"],
      ];
      for (const [body, want] of cases) {
        const m = await nc.request("$JS.API.DIRECT.GET.DG", body, { timeout: 2000 });
        assert.equal(m.headers?.code, 408, body);
        assert.equal(m.headers?.description, want, body);
      }
      const ok = await nc.request("$JS.API.DIRECT.GET.DG", JSON.stringify({ seq: 1, next_by_subj: "dg.a" }), { timeout: 2000 });
      assert.equal(ok.headers?.get("Nats-Sequence"), "1");
      assert.equal(ok.string(), "x");
      await jsm.streams.delete("DG");
    });
  });

  describe("object store: empty objects and rollups on the first message", () => {
    it("an empty object stored first is found by get, info and list", async () => {
      const os = await new Objm(nc).create("empty");
      assert.deepEqual(await os.list(), []);
      const oi = await os.putBlob({ name: "a" }, new Uint8Array(0));
      assert.equal(oi.chunks, 0);
      const r = await os.get("a");
      assert.ok(r !== null);
      const chunks: Uint8Array[] = [];
      for await (const c of r.data) chunks.push(c);
      assert.equal(chunks.reduce((n, c) => n + c.length, 0), 0);
      assert.equal(await r.error, null);
      const list = await os.list();
      assert.deepEqual(
        list.map((i) => i.name),
        ["a"],
      );
      await os.delete("a");
      const info = await os.info("a");
      assert.equal(info?.deleted, true);
      await assert.rejects(os.link("b", info!), /object is deleted/);
      await os.destroy();
    });

    it("a rollup message that is the stream's first keeps itself", async () => {
      await jsm.streams.add({ name: "RU1", subjects: ["ru.*"], allow_rollup_hdrs: true });
      const js = jetstream(nc);
      const h = headers();
      h.set("Nats-Rollup", "sub");
      await js.publish("ru.a", "first", { headers: h });
      let si = await jsm.streams.info("RU1");
      assert.equal(si.state.messages, 1);
      const all = headers();
      all.set("Nats-Rollup", "all");
      await js.publish("ru.b", "x");
      await js.publish("ru.c", "y", { headers: all });
      si = await jsm.streams.info("RU1");
      assert.equal(si.state.messages, 1);
      assert.equal(si.state.first_seq, 3);
      await jsm.streams.delete("RU1");
    });

    it("purge with seq 1 (up to but not including 1) removes nothing, as nats-server 2.15's stores do", async () => {
      for (const storage of ["file", "memory"] as const) {
        await jsm.streams.add({ name: "P1", subjects: ["p1.*"], storage });
        const js = jetstream(nc);
        for (const s of ["p1.a", "p1.b", "p1.a"]) await js.publish(s);
        assert.deepEqual(await api(nc, "$JS.API.STREAM.PURGE.P1", { seq: 1 }), { type: "io.nats.jetstream.api.v1.stream_purge_response", success: true, purged: 0 });
        assert.deepEqual(await api(nc, "$JS.API.STREAM.PURGE.P1", { seq: 1, filter: "p1.a" }), { type: "io.nats.jetstream.api.v1.stream_purge_response", success: true, purged: 0 });
        assert.equal((await jsm.streams.info("P1")).state.messages, 3);
        assert.deepEqual(await api(nc, "$JS.API.STREAM.PURGE.P1", { seq: 0, filter: "p1.a" }), { type: "io.nats.jetstream.api.v1.stream_purge_response", success: true, purged: 2 });
        await jsm.streams.delete("P1");
      }
    });
  });
});

describe("account JetStream limits from an accounts block (jsm_test 'account limits')", () => {
  let srv: TestServer;
  after(async () => {
    await srv?.close();
  });

  it("answers $JS.API.INFO with the configured limits, as nats-server 2.15 does", async () => {
    const opts = optionsFromConfig(
      parseConfigString(`accounts {
        A { jetstream { max_mem: 1M, max_file: 2M, max_streams: 10, max_consumers: 20 }, users [{user: a, password: a}] }
        B { users [{user: b, password: b}] }
      }`),
    );
    srv = await startTestServer({ jetstream: true, accounts: opts.accounts });
    const a = await connect({ servers: srv.url, user: "a", pass: "a" });
    const b = await connect({ servers: srv.url, user: "b", pass: "b" });
    try {
      const info = await api(a, "$JS.API.INFO");
      assert.deepEqual(info, {
        type: "io.nats.jetstream.api.v1.account_info_response",
        memory: 0,
        storage: 0,
        reserved_memory: 0,
        reserved_storage: 0,
        streams: 0,
        consumers: 0,
        limits: {
          max_memory: 1000000,
          max_storage: 2000000,
          max_streams: 10,
          max_consumers: 20,
          max_ack_pending: -1,
          memory_max_stream_bytes: -1,
          storage_max_stream_bytes: -1,
          max_bytes_required: false,
        },
        api: { level: JS_API_LEVEL, total: 0, errors: 0 },
      });
      const ai = await (await jetstreamManager(a)).getAccountInfo();
      assert.equal(ai.limits.max_storage, 2000000);
      const nb = await api(b, "$JS.API.INFO");
      assert.deepEqual(errorOf(nb), { code: 503, err_code: 10039, description: "JetStream not enabled for account" });
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("watchers resume after a restart (kv_test 'watcher on server restart')", () => {
  it("ephemeral consumers of file streams are recovered, so an ordered watcher keeps going", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-restart-"));
    let s: EmbeddedServer | undefined = await startServer({ port: -1, jetstream: { storeDir: dir } });
    const port = s.port;
    const nc = await connect({ servers: s.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const kv = await new Kvm(jetstream(nc)).create("A");
      const iter = await kv.watch();
      const first = new Promise<KvEntry>((resolve) => {
        void (async () => {
          for await (const e of iter) {
            resolve(e);
            break;
          }
        })();
      });
      const before = (await (await jetstreamManager(nc)).consumers.list("KV_A").next()).map((c) => c.name);
      assert.equal(before.length, 1);

      // Requests made while disconnected would time out (client side, with nats-server too):
      // wait for the reconnect before talking to the new server.
      const reconnected = (async () => {
        for await (const st of nc.status()) if (st.type === "reconnect") return;
      })();
      await s.close();
      s = await startServer({ port, jetstream: { storeDir: dir } });
      await reconnected;
      // The watcher's ephemeral consumer came back with the stream (nats-server does the same).
      const after = (await (await jetstreamManager(nc)).consumers.list("KV_A").next()).map((c) => c.name);
      assert.deepEqual(after, before);
      let put = false;
      for (let i = 0; i < 20 && !put; i++) {
        try {
          await kv.put("hello", "world");
          put = true;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(put);
      // Well within the client's heartbeat-based recovery (2 missed 5 s heartbeats).
      const e = await Promise.race([first, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
      assert.equal(e?.key, "hello");
      assert.equal(e?.string(), "world");
      iter.stop();
    } finally {
      await nc.close();
      await s?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
