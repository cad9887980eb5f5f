// Stream backups ($JS.API.STREAM.SNAPSHOT / RESTORE) through a real client: the chunked
// protocol with flow-control acks, backup → delete → restore giving back the same state,
// messages (sequences, timestamps, headers, gaps) and consumers (delivered, ack floor,
// pending), error answers as nats-server's, and backups moving between tsnats and
// nats-server 2.15 in both directions.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { dumpStream, restoreSnapshot, takeSnapshot } from "./helpers/snapshot.js";
import { s2DecodeStream } from "../src/storage/s2.js";
import { ArchiveReader } from "../src/storage/archive.js";
import { prng } from "./helpers/fuzz.js";
import { requestJson, requestJsonOk } from "./helpers/jetstream.js";

type Json = Record<string, any>;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-snapshot-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const api = requestJson;
const ok = requestJsonOk;

async function pub(nc: NatsConnection, subject: string, data: string | Uint8Array, hdrs: Record<string, string> = {}): Promise<void> {
  const h = headers();
  for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  const r = (await nc.request(subject, data, { headers: Object.keys(hdrs).length > 0 ? h : undefined, timeout: 5000 })).json<Json>();
  assert.equal(r.error, undefined);
}

/** Pull `n` messages of a durable, returning their ack replies in order. */
async function pull(nc: NatsConnection, stream: string, consumer: string, n: number): Promise<string[]> {
  const inbox = `pull.${Math.random().toString(36).slice(2)}`;
  const replies: string[] = [];
  await new Promise<void>((resolve) => {
    const sub = nc.subscribe(inbox, {
      callback: (_e, m) => {
        if (m.reply) replies.push(m.reply);
        if (replies.length === n) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: n, expires: 2_000_000_000 }), { reply: inbox });
  });
  return replies;
}

/**
 * A stream with what a backup must carry: headers, a large message, gaps from deletes (inside
 * and at the end), a first sequence above 1, and consumers with pending and acked messages.
 */
async function fill(nc: NatsConnection, storage: "file" | "memory"): Promise<void> {
  await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"], storage, max_msgs_per_subject: 100, description: "backed up" });
  for (let i = 1; i <= 40; i++) {
    await pub(nc, `o.${["a", "b", "c"][i % 3]}`, `message ${i}`, i % 4 === 0 ? { "Nats-Msg-Id": `id-${i}`, "X-Trace": `t${i}` } : {});
  }
  // Incompressible, so the archive spans many chunks.
  const rand = prng(42);
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = Math.floor(rand() * 256);
  await pub(nc, "o.big", big);
  await pub(nc, "o.a", "last");
  await ok(nc, "$JS.API.STREAM.PURGE.O", { seq: 5 });
  await ok(nc, "$JS.API.STREAM.MSG.DELETE.O", { seq: 9 });
  await ok(nc, "$JS.API.STREAM.MSG.DELETE.O", { seq: 20, no_erase: true });
  await ok(nc, "$JS.API.STREAM.MSG.DELETE.O", { seq: 42 });
  await ok(nc, "$JS.API.CONSUMER.CREATE.O.D", { stream_name: "O", config: { durable_name: "D", ack_policy: "explicit" } });
  await ok(nc, "$JS.API.CONSUMER.CREATE.O.F", { stream_name: "O", config: { durable_name: "F", ack_policy: "all", filter_subject: "o.b" } });
  const d = await pull(nc, "O", "D", 6);
  for (const r of [d[0], d[1], d[3]]) nc.publish(r, "+ACK");
  const f = await pull(nc, "O", "F", 4);
  nc.publish(f[2], "+ACK");
  await nc.flush();
  // Acks are processed asynchronously: wait until they show.
  for (let i = 0; i < 200; i++) {
    const c = await api(nc, "$JS.API.CONSUMER.INFO.O.D");
    const g = await api(nc, "$JS.API.CONSUMER.INFO.O.F");
    if (c.num_ack_pending === 3 && g.num_ack_pending === 1) break;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withServer<T>(fn: (nc: NatsConnection, srv: TestServer) => Promise<T>): Promise<T> {
  const srv = await startTestServer({ jetstream: true });
  const nc = await connect({ servers: srv.url });
  try {
    return await fn(nc, srv);
  } finally {
    await nc.close();
    await srv.close();
  }
}

describe("snapshot and restore", () => {
  for (const storage of ["file", "memory"] as const) {
    it(`backup → delete → restore gives back the same ${storage} stream`, async () => {
      await withServer(async (nc) => {
        await fill(nc, storage);
        const before = await dumpStream(nc, "O");
        assert.equal(before.consumers.length, 2);
        assert.ok(before.state.first_seq >= 5 && before.state.num_deleted >= 1);
        const snap = await takeSnapshot(nc, "O");
        assert.equal(snap.status, "204");
        assert.deepEqual(snap.resp.state.messages, before.state.messages);
        assert.equal(snap.resp.config.name, "O");
        await ok(nc, "$JS.API.STREAM.DELETE.O");
        const r = await restoreSnapshot(nc, snap.resp.config, snap.data);
        assert.equal(r.type, "io.nats.jetstream.api.v1.stream_create_response");
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.equal(r.config.description, "backed up");
        assert.deepEqual(await dumpStream(nc, "O"), before);
        // The restored stream works: publishes continue after the last sequence.
        await pub(nc, "o.a", "after");
        assert.equal((await api(nc, "$JS.API.STREAM.INFO.O")).state.last_seq, before.state.last_seq + 1);
      });
    });
  }

  it("sends nats-server's archive in acknowledged chunks of the asked size", async () => {
    await withServer(async (nc) => {
      await fill(nc, "file");
      const snap = await takeSnapshot(nc, "O", { chunk_size: 4096, no_consumers: true });
      assert.ok(snap.chunks > 10);
      assert.ok(snap.replies.every((r, i) => new RegExp(`^\\$JS\\.SNAPSHOT\\.ACK\\.O\\.\\w+\\.\\d+\\.${i + 1}$`).test(r)), snap.replies[0]);
      assert.ok(snap.replies.slice(0, -1).every((r) => r.split(".")[5] === "4096"));
      assert.equal(snap.resp.state.consumer_count, 0);
      // The archive: state.json, no consumers, messages, the end marker.
      const entries = new ArchiveReader().push(s2DecodeStream(snap.data));
      assert.equal(entries[0].name, "state.json");
      assert.equal(JSON.parse(entries[0].body.toString()).consumer_count, 0);
      assert.ok(entries.slice(1, -1).every((e) => e.sequence > 0 && e.name.startsWith("o.")));
      assert.deepEqual([entries.at(-1)?.name, entries.at(-1)?.sequence], ["", 0]);
      await ok(nc, "$JS.API.STREAM.DELETE.O");
      await restoreSnapshot(nc, snap.resp.config, snap.data, 1000);
      assert.deepEqual((await api(nc, "$JS.API.CONSUMER.NAMES.O")).consumers, []);
    });
  });

  it("stops with 408 when the receiver does not acknowledge", async () => {
    await withServer(async (nc) => {
      await fill(nc, "file");
      const snap = await takeSnapshot(nc, "O", { chunk_size: 1024, window_size: 2048 }, false);
      assert.equal(snap.status, "408 No Flow Response");
      assert.equal(snap.chunks, 2);
    });
  });

  it("refuses bad requests and incomplete backups, leaving nothing behind", async () => {
    await withServer(async (nc) => {
      await fill(nc, "file");
      assert.equal((await api(nc, "$JS.API.STREAM.SNAPSHOT.O")).error.err_code, 10003);
      assert.equal((await api(nc, "$JS.API.STREAM.SNAPSHOT.NOPE", { deliver_subject: "x" })).error.err_code, 10059);
      assert.equal((await api(nc, "$JS.API.STREAM.SNAPSHOT.O", { deliver_subject: "bad.*" })).error.err_code, 10015);
      const snap = await takeSnapshot(nc, "O");
      const exists = await restoreSnapshot(nc, snap.resp.config, snap.data);
      assert.equal(exists.error.err_code, 10130);
      assert.equal((await api(nc, "$JS.API.STREAM.RESTORE.O")).error.err_code, 10003);
      assert.equal((await api(nc, "$JS.API.STREAM.RESTORE.X", { config: { name: "Y" } })).error.err_code, 10056);
      const cfg = { ...snap.resp.config, name: "COPY", subjects: ["copy.>"] };
      const truncated = await restoreSnapshot(nc, cfg, snap.data.subarray(0, snap.data.length - 100));
      assert.equal(truncated.error?.err_code, 10062);
      assert.match(truncated.error?.description, /^restore failed: /);
      assert.equal((await api(nc, "$JS.API.STREAM.INFO.COPY")).error.err_code, 10059);
      const garbage = await restoreSnapshot(nc, cfg, Buffer.from("not a snapshot at all, certainly not s2"));
      assert.equal(garbage.error?.err_code, 10062);
      assert.equal((await api(nc, "$JS.API.STREAM.INFO.COPY")).error.err_code, 10059);
      // A good backup restores under another name (and subjects) too.
      const copy = await restoreSnapshot(nc, cfg, snap.data);
      assert.equal(copy.error, undefined);
      assert.equal(copy.state.messages, snap.resp.state.messages);
    });
  });
});

const ref = referenceBinary("2.15");
describe("backups move between tsnats and nats-server 2.15", { skip: ref === undefined ? "nats-server 2.15 not available" : false }, () => {
  const withRef = async <T>(name: string, fn: (nc: NatsConnection) => Promise<T>): Promise<T> => {
    const theirs = await startNatsServer(["-js", "-sd", path.join(tmp, name)], undefined, "2.15");
    const nc = await connect({ servers: `127.0.0.1:${theirs.port}` });
    try {
      return await fn(nc);
    } finally {
      await nc.close();
      await theirs.stop();
    }
  };

  it("a nats-server backup restores into tsnats, identical", async () => {
    const { snap, before } = await withRef("to-tsnats", async (nc) => {
      await fill(nc, "file");
      return { before: await dumpStream(nc, "O"), snap: await takeSnapshot(nc, "O") };
    });
    assert.equal(snap.status, "204");
    await withServer(async (nc) => {
      const r = await restoreSnapshot(nc, snap.resp.config, snap.data);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.deepEqual(await dumpStream(nc, "O"), before);
    });
  });

  it("a tsnats backup restores into nats-server, identical", async () => {
    const { snap, before } = await withServer(async (nc) => {
      await fill(nc, "file");
      return { before: await dumpStream(nc, "O"), snap: await takeSnapshot(nc, "O") };
    });
    await withRef("from-tsnats", async (nc) => {
      const r = await restoreSnapshot(nc, snap.resp.config, snap.data);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      const after = await dumpStream(nc, "O");
      // nats-server stamps the trailing deleted sequence it pads with the time of the
      // restore (tsnats keeps the backup's last_ts); everything else is identical.
      assert.deepEqual({ ...after, state: { ...after.state, last_ts: "" } }, { ...before, state: { ...before.state, last_ts: "" } });
    });
  });

  it("answers the same errors", async () => {
    const probe = async (nc: NatsConnection): Promise<unknown[]> => {
      await ok(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o"] });
      const out: unknown[] = [];
      out.push((await api(nc, "$JS.API.STREAM.SNAPSHOT.O")).error);
      out.push((await api(nc, "$JS.API.STREAM.SNAPSHOT.O", "{}")).error);
      out.push((await api(nc, "$JS.API.STREAM.SNAPSHOT.NOPE", { deliver_subject: "x" })).error);
      out.push((await api(nc, "$JS.API.STREAM.SNAPSHOT.O", { deliver_subject: "a.>" })).error);
      out.push((await api(nc, "$JS.API.STREAM.RESTORE.O")).error);
      out.push((await api(nc, "$JS.API.STREAM.RESTORE.O", { config: { name: "O", subjects: ["o"] } })).error);
      out.push((await api(nc, "$JS.API.STREAM.RESTORE.X", { config: { name: "Y" } })).error);
      const open = await api(nc, "$JS.API.STREAM.RESTORE.N", { config: { name: "N", subjects: ["n"] } });
      out.push([open.type, typeof open.deliver_subject, String(open.deliver_subject).startsWith("$JS.SNAPSHOT.RESTORE.N.")]);
      return out;
    };
    const expected = await withRef("errors", probe);
    await withServer(async (nc) => {
      assert.deepEqual(await probe(nc), expected);
    });
  });
});

const ref210 = referenceBinary("2.10");
describe("backups of older nats-server versions (tar of the file store)", { skip: ref210 === undefined ? "nats-server 2.10 not available" : false }, () => {
  it("a nats-server 2.10 backup restores into tsnats, identical", async () => {
    const theirs = await startNatsServer(["-js", "-sd", path.join(tmp, "v210")], undefined, "2.10");
    const nc = await connect({ servers: `127.0.0.1:${theirs.port}` });
    let before;
    let snap;
    try {
      await fill(nc, "file");
      before = await dumpStream(nc, "O");
      snap = await takeSnapshot(nc, "O");
    } finally {
      await nc.close();
      await theirs.stop();
    }
    assert.notEqual(s2DecodeStream(snap.data).subarray(0, 8).toString(), "NATSARC1", "2.10 writes the tar layout");
    await withServer(async (nc2) => {
      const r = await restoreSnapshot(nc2, snap.resp.config, snap.data);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.deepEqual(await dumpStream(nc2, "O"), before);
    });
  });
});
