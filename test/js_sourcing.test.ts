// Streams that feed streams (ADR-59/60): mirrors and sources through real clients, checked
// message by message (sequences, timestamps, headers, the Nats-Stream-Source header), across
// restarts, origin purges, expiry, deletion and recreation, with nats-server 2.15's answers
// for the config checks side by side.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { shortHash } from "../src/jetstream/util.js";
import { requestJson, requestJsonOk } from "./helpers/jetstream.js";

type Json = Record<string, any>;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-sourcing-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const api = requestJson;
const ok = requestJsonOk;

async function pub(nc: NatsConnection, subject: string, data: string, hdrs: Record<string, string> = {}): Promise<Json> {
  const h = headers();
  for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  const m = await nc.request(subject, data, { headers: Object.keys(hdrs).length > 0 ? h : undefined, timeout: 5000 });
  return m.json<Json>();
}

interface Msg {
  seq: number;
  subject: string;
  data: string;
  time: string;
  hdrs: string;
}

/** Every message of a stream, read with MSG.GET one by one. */
async function messages(nc: NatsConnection, stream: string): Promise<Msg[]> {
  const info = await ok(nc, `$JS.API.STREAM.INFO.${stream}`);
  const out: Msg[] = [];
  for (let seq = info.state.first_seq; seq > 0 && seq <= info.state.last_seq; seq++) {
    const r = await api(nc, `$JS.API.STREAM.MSG.GET.${stream}`, { seq });
    if (r.error !== undefined) continue;
    const m = r.message;
    out.push({
      seq: m.seq,
      subject: m.subject,
      data: Buffer.from(m.data ?? "", "base64").toString(),
      time: m.time,
      hdrs: Buffer.from(m.hdrs ?? "", "base64").toString(),
    });
  }
  return out;
}

async function state(nc: NatsConnection, stream: string): Promise<Json> {
  return (await ok(nc, `$JS.API.STREAM.INFO.${stream}`)).state;
}

async function waitForLast(nc: NatsConnection, stream: string, lastSeq: number, what = `${stream} at ${lastSeq}`): Promise<void> {
  let last = -1;
  const deadline = Date.now() + 15_000;
  while (last !== lastSeq) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last_seq ${last})`);
    const r = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
    last = r.error === undefined ? r.state.last_seq : -1;
    if (last !== lastSeq) await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForCount(nc: NatsConnection, stream: string, count: number): Promise<void> {
  let n = -1;
  const deadline = Date.now() + 15_000;
  while (n !== count) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${stream} to hold ${count} messages (has ${n})`);
    const r = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
    n = r.error === undefined ? r.state.messages : -1;
    if (n !== count) await new Promise((r) => setTimeout(r, 20));
  }
}

/** "NATS/1.0\r\nK: v\r\n..." → the value of one key. */
function header(hdrs: string, key: string): string | undefined {
  for (const line of hdrs.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0 && line.slice(0, i) === key) return line.slice(i + 1).trim();
  }
  return undefined;
}

async function withServer(fn: (nc: NatsConnection, srv: TestServer) => Promise<void>, opts: Parameters<typeof startTestServer>[0] = { jetstream: true }): Promise<void> {
  const srv = await startTestServer(opts);
  const nc = await connect({ servers: srv.url });
  try {
    await fn(nc, srv);
  } finally {
    await nc.close();
    await srv.close();
  }
}

describe("mirrors", () => {
  it("copy the origin with its sequences, timestamps and headers", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"], allow_direct: true });
      for (let i = 1; i <= 6; i++) await pub(nc, `o.${i % 2}`, `m${i}`, { "Nats-Msg-Id": `id${i}`, "X-Custom": `c${i}`, "Nats-Expected-Stream": "O" });
      await ok(nc, "$JS.API.STREAM.MSG.DELETE.O", { seq: 2 });
      const created = await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "O" } });
      // nats-server: no subjects, no duplicate window, direct gets inherited from the origin.
      assert.equal(created.config.subjects, undefined);
      assert.equal(created.config.mirror_direct, true);
      assert.deepEqual(created.config.mirror, { name: "O" });
      assert.deepEqual(created.mirror, { name: "O", lag: 0, active: -1 });
      await waitForLast(nc, "M", 6);
      const origin = await messages(nc, "O");
      const copy = await messages(nc, "M");
      assert.deepEqual(
        copy.map((m) => [m.seq, m.subject, m.data, m.time]),
        origin.map((m) => [m.seq, m.subject, m.data, m.time]),
      );
      for (let i = 0; i < copy.length; i++) {
        assert.equal(header(copy[i].hdrs, "X-Custom"), header(origin[i].hdrs, "X-Custom"));
        assert.equal(header(copy[i].hdrs, "Nats-Msg-Id"), header(origin[i].hdrs, "Nats-Msg-Id"));
        assert.equal(header(copy[i].hdrs, "Nats-Expected-Stream"), undefined, "expectations are not copied");
        assert.equal(header(copy[i].hdrs, "Nats-Stream-Source"), undefined, "a mirror does not mark its messages");
      }
      const st = await state(nc, "M");
      assert.deepEqual([st.messages, st.first_seq, st.last_seq, st.num_deleted], [5, 1, 6, 1]);
      const info = await ok(nc, "$JS.API.STREAM.INFO.M");
      assert.equal(info.mirror.name, "O");
      assert.equal(info.mirror.lag, 0);
      assert.ok(info.mirror.active >= 0);
      // The origin lists no consumer: the mirror's is internal.
      assert.deepEqual((await ok(nc, "$JS.API.CONSUMER.NAMES.O")).consumers, []);
      assert.equal((await state(nc, "O")).consumer_count, 0);
      // New messages keep flowing.
      await pub(nc, "o.1", "m7");
      await waitForLast(nc, "M", 7);
    });
  });

  it("start at a sequence or a time, filter and transform subjects", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"] });
      for (let i = 1; i <= 6; i++) await pub(nc, i % 2 === 0 ? "o.even" : "o.odd", `m${i}`);
      await ok(nc, "$JS.API.STREAM.CREATE.FROM4", { name: "FROM4", mirror: { name: "O", opt_start_seq: 4 } });
      await ok(nc, "$JS.API.STREAM.CREATE.EVEN", { name: "EVEN", mirror: { name: "O", filter_subject: "o.even" } });
      await ok(nc, "$JS.API.STREAM.CREATE.TR", { name: "TR", mirror: { name: "O", subject_transforms: [{ src: "o.*", dest: "copy.$1" }] } });
      const t4 = (await messages(nc, "O"))[3].time;
      await ok(nc, "$JS.API.STREAM.CREATE.TIME4", { name: "TIME4", mirror: { name: "O", opt_start_time: t4 } });
      await waitForLast(nc, "FROM4", 6);
      await waitForLast(nc, "EVEN", 6);
      await waitForLast(nc, "TR", 6);
      await waitForLast(nc, "TIME4", 6);
      assert.deepEqual((await messages(nc, "FROM4")).map((m) => [m.seq, m.data]), [[4, "m4"], [5, "m5"], [6, "m6"]]);
      assert.deepEqual((await messages(nc, "TIME4")).map((m) => m.seq), [4, 5, 6]);
      // Filtered out sequences are skipped: the mirror keeps the origin's numbering.
      assert.deepEqual((await messages(nc, "EVEN")).map((m) => [m.seq, m.subject]), [[2, "o.even"], [4, "o.even"], [6, "o.even"]]);
      assert.deepEqual((await messages(nc, "TR")).map((m) => m.subject), ["copy.odd", "copy.even", "copy.odd", "copy.even", "copy.odd", "copy.even"]);
    });
  });

  it("refuse subjects and changes; removing the mirror promotes the copy (2.12)", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"] });
      await pub(nc, "o.a", "1");
      assert.equal((await api(nc, "$JS.API.STREAM.CREATE.M", { name: "M", subjects: ["m"], mirror: { name: "O" } })).error.err_code, 10034);
      await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "O" } });
      await waitForLast(nc, "M", 1);
      assert.equal((await api(nc, "$JS.API.STREAM.UPDATE.M", { name: "M", mirror: { name: "O", filter_subject: "o.b" } })).error.err_code, 10055);
      assert.equal((await api(nc, "$JS.API.STREAM.UPDATE.M", { name: "M", subjects: ["m"], mirror: { name: "O" } })).error.err_code, 10034);
      // Nothing can be published into a mirror: it listens on no subject.
      await assert.rejects(nc.request("M", "x", { timeout: 10_000 }), /503|no responders/i);
      const promoted = await ok(nc, "$JS.API.STREAM.UPDATE.M", { name: "M", subjects: ["m.>"] });
      assert.equal(promoted.config.mirror, undefined);
      assert.equal(promoted.mirror, undefined);
      assert.equal((await pub(nc, "m.x", "own")).seq, 2);
      await pub(nc, "o.a", "2");
      assert.deepEqual((await messages(nc, "M")).map((m) => m.data), ["1", "own"], "a promoted stream copies no more");
    });
  });

  it("keep their place when the origin is purged or its messages expire", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o"] });
      await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "O" } });
      for (let i = 1; i <= 3; i++) await pub(nc, "o", `a${i}`);
      await waitForLast(nc, "M", 3);
      await ok(nc, "$JS.API.STREAM.PURGE.O");
      for (let i = 1; i <= 2; i++) await pub(nc, "o", `b${i}`);
      await waitForLast(nc, "M", 5);
      assert.deepEqual((await messages(nc, "M")).map((m) => [m.seq, m.data]), [[1, "a1"], [2, "a2"], [3, "a3"], [4, "b1"], [5, "b2"]]);

      // A mirror made after the origin's first messages expired starts at its first sequence.
      await ok(nc, "$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e"], max_age: 300_000_000 });
      for (let i = 1; i <= 3; i++) await pub(nc, "e", `old${i}`);
      let st = await state(nc, "E");
      const deadline = Date.now() + 5000;
      while (st.messages > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        st = await state(nc, "E");
      }
      assert.equal(st.messages, 0);
      await ok(nc, "$JS.API.STREAM.CREATE.EM", { name: "EM", mirror: { name: "E" } });
      await pub(nc, "e", "new4");
      await waitForLast(nc, "EM", 4);
      const em = await state(nc, "EM");
      assert.deepEqual([em.messages, em.first_seq, em.last_seq], [1, 4, 4]);
    });
  });

  it("answer direct gets for their origin with mirror_direct", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"], allow_direct: true });
      await pub(nc, "o.k", "v1");
      await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "O" } });
      await waitForLast(nc, "M", 1);
      await ok(nc, "$JS.API.STREAM.DELETE.O");
      const r = await nc.request("$JS.API.DIRECT.GET.O", JSON.stringify({ seq: 1 }), { timeout: 2000 });
      assert.equal(r.string(), "v1");
      assert.equal(r.headers?.get("Nats-Stream"), "M");
      assert.equal(r.headers?.get("Nats-Sequence"), "1");
    });
  });
});

describe("sources", () => {
  it("aggregate several origins with filters and transforms next to their own subjects", async () => {
    await withServer(async (nc) => {
      const o1 = await ok(nc, "$JS.API.STREAM.CREATE.O1", { name: "O1", subjects: ["one.>"] });
      const o2 = await ok(nc, "$JS.API.STREAM.CREATE.O2", { name: "O2", subjects: ["two.>"] });
      for (let i = 1; i <= 4; i++) await pub(nc, i % 2 ? "one.keep" : "one.drop", `1-${i}`, { "X-N": String(i) });
      for (let i = 1; i <= 2; i++) await pub(nc, "two.x", `2-${i}`, { "Nats-Expected-Last-Sequence": String(i - 1) });
      const s = await ok(nc, "$JS.API.STREAM.CREATE.S", {
        name: "S",
        subjects: ["own"],
        sources: [
          { name: "O1", filter_subject: "one.keep" },
          { name: "O2", subject_transforms: [{ src: "two.*", dest: "moved.$1" }] },
        ],
      });
      assert.equal(s.config.duplicate_window, undefined, "no window: nats-server omits a zero duplicate_window");
      await pub(nc, "own", "mine");
      await waitForCount(nc, "S", 5);
      const got = await messages(nc, "S");
      const id1 = shortHash(o1.created);
      const id2 = shortHash(o2.created);
      const bySubject = got.filter((m) => m.subject !== "own");
      const sources = bySubject.map((m) => header(m.hdrs, "Nats-Stream-Source")).sort();
      assert.deepEqual(sources, [
        `O1 1 one.keep > one.keep ${id1}`,
        `O1 3 one.keep > one.keep ${id1}`,
        `O2 1 two.* moved.$1 two.x ${id2}`,
        `O2 2 two.* moved.$1 two.x ${id2}`,
      ]);
      for (const m of bySubject) {
        if (m.subject === "one.keep") assert.ok(["1", "3"].includes(header(m.hdrs, "X-N") ?? ""), "own headers kept");
        else assert.equal(m.subject, "moved.x");
        assert.equal(header(m.hdrs, "Nats-Expected-Last-Sequence"), undefined);
      }
      assert.equal(got.find((m) => m.subject === "own")?.hdrs, "");
      const info = await ok(nc, "$JS.API.STREAM.INFO.S");
      assert.deepEqual(
        info.sources.map((x: Json) => [x.name, x.lag, x.seq, x.filter_subject, x.subject_transforms]),
        [
          ["O1", 0, 3, "one.keep", undefined],
          ["O2", 0, 2, undefined, [{ src: "two.*", dest: "moved.$1" }]],
        ],
      );
      // Only a source may say where a message came from.
      const forged = await pub(nc, "own", "x", { "Nats-Stream-Source": "O1 9 > > one.keep" });
      assert.equal(forged.error?.err_code, 10227);
    });
  });

  it("chain: A → B → C, each hop marking its own origin", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.A", { name: "A", subjects: ["a"] });
      const b = await ok(nc, "$JS.API.STREAM.CREATE.B", { name: "B", sources: [{ name: "A" }] });
      await ok(nc, "$JS.API.STREAM.CREATE.C", { name: "C", sources: [{ name: "B" }] });
      for (let i = 1; i <= 5; i++) await pub(nc, "a", `v${i}`);
      await waitForCount(nc, "C", 5);
      const c = await messages(nc, "C");
      assert.deepEqual(c.map((m) => m.data), ["v1", "v2", "v3", "v4", "v5"]);
      assert.deepEqual(
        c.map((m) => header(m.hdrs, "Nats-Stream-Source")),
        [1, 2, 3, 4, 5].map((i) => `B ${i} > > a ${shortHash(b.created)}`),
      );
      // A source back into A would loop.
      const cycle = await api(nc, "$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a"], sources: [{ name: "C" }] });
      assert.equal(cycle.error?.description, "detected cycle");
    });
  });

  it("start when an origin that does not exist yet appears", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "LATER" }] });
      let info: Json = {};
      const deadline = Date.now() + 5000;
      while (info.sources?.[0]?.error === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        info = await ok(nc, "$JS.API.STREAM.INFO.S");
      }
      assert.deepEqual(info.sources[0].error, { code: 404, err_code: 10059, description: "stream not found" });
      await ok(nc, "$JS.API.STREAM.CREATE.LATER", { name: "LATER", subjects: ["later"] });
      await pub(nc, "later", "hello");
      await waitForCount(nc, "S", 1);
      info = await ok(nc, "$JS.API.STREAM.INFO.S");
      assert.equal(info.sources[0].error, undefined);
    });
  });

  it("after the origin is purged or deleted and recreated: no gap, no duplicate", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o"] });
      await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "O" }] });
      for (let i = 1; i <= 3; i++) await pub(nc, "o", `a${i}`);
      await waitForCount(nc, "S", 3);
      await ok(nc, "$JS.API.STREAM.PURGE.O");
      await pub(nc, "o", "a4");
      await waitForCount(nc, "S", 4);
      // Deleted and recreated: its sequences start over, and so does the source.
      await ok(nc, "$JS.API.STREAM.DELETE.O");
      const again = await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o"] });
      for (let i = 1; i <= 2; i++) await pub(nc, "o", `b${i}`);
      await waitForCount(nc, "S", 6);
      const got = await messages(nc, "S");
      assert.deepEqual(got.map((m) => m.data), ["a1", "a2", "a3", "a4", "b1", "b2"]);
      assert.deepEqual(
        got.slice(4).map((m) => header(m.hdrs, "Nats-Stream-Source")),
        [`O 1 > > o ${shortHash(again.created)}`, `O 2 > > o ${shortHash(again.created)}`],
      );
    });
  });

  it("the seed's ARCHIVE / REPORT example", async () => {
    await withServer(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["ORDERS.*"] });
      await ok(nc, "$JS.API.STREAM.CREATE.RETURNS", { name: "RETURNS", subjects: ["RETURNS.*"] });
      await ok(nc, "$JS.API.STREAM.CREATE.ARCHIVE", { name: "ARCHIVE", sources: [{ name: "ORDERS" }, { name: "RETURNS" }] });
      await ok(nc, "$JS.API.STREAM.CREATE.REPORT", { name: "REPORT", mirror: { name: "ARCHIVE" } });
      for (let i = 0; i < 30; i++) await pub(nc, "ORDERS.new", `order ${i}`);
      for (let i = 0; i < 10; i++) await pub(nc, "RETURNS.new", `return ${i}`);
      await waitForCount(nc, "ARCHIVE", 40);
      await waitForLast(nc, "REPORT", 40);
      const archive = await messages(nc, "ARCHIVE");
      const report = await messages(nc, "REPORT");
      assert.deepEqual(report, archive, "the mirror is identical, headers included");
      assert.deepEqual(archive.filter((m) => m.subject === "ORDERS.new").map((m) => m.data), [...Array(30).keys()].map((i) => `order ${i}`));
      const info = await ok(nc, "$JS.API.STREAM.INFO.ARCHIVE");
      assert.deepEqual(info.sources.map((s: Json) => [s.name, s.lag, s.seq]), [["ORDERS", 0, 30], ["RETURNS", 0, 10]]);
      assert.equal((await ok(nc, "$JS.API.STREAM.INFO.REPORT")).mirror.lag, 0);
    });
  });
});

describe("restarts", () => {
  it("copies resume exactly where they were, after a restart and after purging the copy", async () => {
    const storeDir = path.join(tmp, "restart");
    const run = async (fn: (nc: NatsConnection) => Promise<void>): Promise<void> => {
      const s: EmbeddedServer = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir } });
      const nc = await connect({ servers: s.url });
      try {
        await fn(nc);
      } finally {
        await nc.close();
        await s.close();
      }
    };
    await run(async (nc) => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o"] });
      await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "O" } });
      await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "O" }] });
      await ok(nc, "$JS.API.STREAM.CREATE.P", { name: "P", sources: [{ name: "O" }] });
      for (let i = 1; i <= 10; i++) await pub(nc, "o", `a${i}`);
      await waitForLast(nc, "M", 10);
      await waitForCount(nc, "S", 10);
      await waitForCount(nc, "P", 10);
      // Purging a copy forgets its messages, not how far its source got.
      await ok(nc, "$JS.API.STREAM.PURGE.P");
    });
    await run(async (nc) => {
      for (let i = 11; i <= 15; i++) await pub(nc, "o", `a${i}`);
      await waitForLast(nc, "M", 15);
      await waitForCount(nc, "S", 15);
      await waitForCount(nc, "P", 5);
      assert.deepEqual((await messages(nc, "M")).map((m) => m.seq), [...Array(15).keys()].map((i) => i + 1));
      assert.deepEqual((await messages(nc, "S")).map((m) => m.data), [...Array(15).keys()].map((i) => `a${i + 1}`));
      assert.deepEqual((await messages(nc, "P")).map((m) => m.data), ["a11", "a12", "a13", "a14", "a15"]);
    });
  });
});

describe("external origins and monitoring", () => {
  it("source and mirror through a JetStream domain's API prefix", async () => {
    await withServer(
      async (nc, srv) => {
        await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o"] });
        await pub(nc, "o", "x");
        const api = "$JS.hub.API";
        await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "O", external: { api, deliver: "dlv" } }] });
        await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "O", external: { api } } });
        await waitForCount(nc, "S", 1);
        await waitForLast(nc, "M", 1);
        const [m] = await messages(nc, "S");
        assert.match(header(m.hdrs, "Nats-Stream-Source") ?? "", new RegExp(`^O:${shortHash(api)} 1 > > o \\S+$`));
        const info = await ok(nc, "$JS.API.STREAM.INFO.S");
        assert.deepEqual(info.sources[0].external, { api, deliver: "dlv" });
        // /jsz and /metrics show where copies stand.
        const jsz = (await (await fetch(`${srv.monitorUrl}/jsz?streams=true`)).json()) as Json;
        const streams = jsz.account_details[0].stream_detail as Json[];
        assert.equal(streams.find((s) => s.name === "M")?.mirror.name, "O");
        assert.equal(streams.find((s) => s.name === "S")?.sources[0].lag, 0);
        const metrics = await (await fetch(`${srv.monitorUrl}/metrics`)).text();
        assert.match(metrics, /nats_stream_source_lag\{account="\$G",stream="S",origin="O",kind="source"\} 0/);
        assert.match(metrics, /nats_stream_source_error\{account="\$G",stream="M",origin="O",kind="mirror"\} 0/);
      },
      { jetstream: { domain: "hub" }, httpPort: -1 },
    );
  });
});

// ---- side by side with nats-server 2.15 ----

const ref = referenceBinary("2.15");
describe("config checks as nats-server 2.15", { skip: ref === undefined ? "nats-server 2.15 not available" : false }, () => {
  const cases: Json[] = [
    { name: "M1", mirror: { name: "O" }, subjects: ["a"] },
    { name: "M2", mirror: { name: "O" }, first_seq: 5 },
    { name: "M3", mirror: { name: "O", filter_subject: "a", subject_transforms: [{ src: "a", dest: "b" }] } },
    { name: "M5", mirror: { name: "O", subject_transforms: [{ src: "a..b", dest: "b" }] } },
    { name: "M6", mirror: { name: "O", subject_transforms: [{ src: "a.>", dest: "b.>" }, { src: "a.b", dest: "c" }] } },
    { name: "M7", mirror: { name: "O.x" } },
    { name: "M9", mirror: { name: "O", external: { api: "$JS.API" } } },
    { name: "M10", mirror: { name: "O", external: { api: "$JS.hub.API", deliver: "foo.*" } } },
    { name: "M11", mirror: { name: "O", consumer: { name: "c", deliver_subject: "d.*" } } },
    { name: "M12", mirror: { name: "O" }, sources: [{ name: "X" }] },
    { name: "S1", sources: [{ name: "A" }, { name: "A" }] },
    { name: "S2", sources: [{ name: "A", filter_subject: "x", subject_transforms: [{ src: "x", dest: "y" }] }] },
    { name: "S3", sources: [{ name: "A.b" }] },
    { name: "S4", sources: [{ name: "A", subject_transforms: [{ src: "a.>", dest: "b.>" }, { src: "a.b", dest: "c" }] }] },
    { name: "S6", sources: [{ name: "A", subject_transforms: [{ src: "a b", dest: "b" }] }] },
    { name: "S8", sources: [{ name: "A", external: { api: "x.*" } }] },
    { name: "S9", sources: [{ name: "A", consumer: { name: "c", deliver_subject: "d" }, opt_start_seq: 3 }] },
    { name: "S11", sources: [{ name: "S11" }] },
    { name: "S12", sources: [{ name: "" }] },
    // accepted, echoed in nats-server's shape
    { name: "OK1", mirror: { name: "O", opt_start_seq: 5, filter_subject: "a" } },
    { name: "OK2", subjects: ["ok2"], sources: [{ name: "A", external: { api: "$JS.x.API" } }, { name: "B", subject_transforms: [{ src: "", dest: "" }] }] },
  ];
  const answers = async (nc: NatsConnection): Promise<Json[]> => {
    const out: Json[] = [];
    for (const c of cases) {
      const r = await api(nc, `$JS.API.STREAM.CREATE.${c.name}`, c);
      out.push(r.error ?? { mirror: r.config.mirror, sources: r.config.sources, subjects: r.config.subjects, dup: r.config.duplicate_window ?? 0 });
    }
    return out;
  };
  it("errors and echoed configs match", async () => {
    const theirs = await startNatsServer(["-js", "-sd", path.join(tmp, "ref-cfg")], undefined, "2.15");
    let expected: Json[];
    const rnc = await connect({ servers: `127.0.0.1:${theirs.port}` });
    try {
      expected = await answers(rnc);
    } finally {
      await rnc.close();
      await theirs.stop();
    }
    await withServer(async (nc) => {
      assert.deepEqual(await answers(nc), expected);
    });
  });

  it("writes the same Nats-Stream-Source header", async () => {
    const theirs = await startNatsServer(["-js", "-sd", path.join(tmp, "ref-hdr")], undefined, "2.15");
    const scenario = async (nc: NatsConnection): Promise<string[]> => {
      const o = await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"] });
      await pub(nc, "o.b", "x", { A: "1" });
      await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "O", subject_transforms: [{ src: "o.b", dest: "q.b" }, { src: "o.c", dest: "" }] }] });
      await waitForCount(nc, "S", 1);
      const [m] = await messages(nc, "S");
      return [m.subject, m.hdrs.replace(shortHash(o.created), "<identity>")];
    };
    const rnc = await connect({ servers: `127.0.0.1:${theirs.port}` });
    let expected: string[];
    try {
      expected = await scenario(rnc);
    } finally {
      await rnc.close();
      await theirs.stop();
    }
    assert.equal(expected[1], "NATS/1.0\r\nA: 1\r\nNats-Stream-Source: O 1 o.b\fo.c q.b\f> o.b <identity>\r\n\r\n");
    await withServer(async (nc) => {
      assert.deepEqual(await scenario(nc), expected);
    });
  });
});
