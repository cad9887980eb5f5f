// The file store drops the per-message index of an idle sealed block and loads it back on its
// next use (filestore.ts dropIndex / reloadIndex). Every operation on a stream whose sealed
// blocks have no index in memory must answer exactly what it answers with them:
//  * store level: a seeded walk of stores, removals, purges by subject, compactions, erases and
//    reads, every step after dropping every index it can, compared with a memory store doing
//    the same (plain, s2-compressed, encrypted), then reopened; and an .idx damaged while its
//    index was dropped is never trusted (rebuilt from the block);
//  * server level, through real clients: reads by sequence, last-by-subject, direct gets, a
//    filtered consumer, purge by subject, a delete in the middle, a compaction, max_age
//    expiry, a restart and a SIGKILL, all while the sealed blocks' indexes are dropped.
// TSNATS_INDEX_IDLE_MS / TSNATS_BLOCK_SIZE make a server's idle time short and its blocks small.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { FileStore } from "../src/storage/filestore.js";
import { MemStore } from "../src/storage/memstore.js";
import { silentLogger, type StoredMsg, type StreamStore } from "../src/storage/store.js";
import type { JetStreamService } from "../src/jetstream/jetstream.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { waitUntil } from "./helpers/server.js";
import { startNatsServer, TSNATS_SERVER_BIN } from "./helpers/nats_server.js";
import { prng } from "./helpers/fuzz.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-idxdrop-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirN = 0;
const newDir = (): string => path.join(root, `d${++dirN}`);

const view = (m: StoredMsg | null): unknown => (m === null ? null : { seq: m.seq, subject: m.subject, data: Buffer.from(m.data).toString("hex") });

function sameAnswers(f: StreamStore, m: StreamStore, r: () => number, what: string): void {
  const fs0 = f.state();
  const ms0 = m.state();
  assert.deepEqual({ ...fs0, bytes: 0 }, { ...ms0, bytes: 0 }, `${what}: state`);
  const last = ms0.lastSeq;
  for (let k = 0; k < 8; k++) {
    const seq = 1 + Math.floor(r() * Math.max(last, 1));
    assert.deepEqual(view(f.loadMsg(seq)), view(m.loadMsg(seq)), `${what}: loadMsg(${seq})`);
  }
  const subj = `s.${Math.floor(r() * 12)}`;
  assert.deepEqual(view(f.loadLastMsg(subj)), view(m.loadLastMsg(subj)), `${what}: last ${subj}`);
  const from = 1 + Math.floor(r() * Math.max(last, 1));
  assert.deepEqual(view(f.loadNextMsg(subj, from)), view(m.loadNextMsg(subj, from)), `${what}: next ${subj} from ${from}`);
  assert.deepEqual(f.filteredState(from, subj), m.filteredState(from, subj), `${what}: filteredState ${subj}`);
  assert.equal(f.numPending(from, "s.*", false), m.numPending(from, "s.*", false), `${what}: numPending`);
  assert.deepEqual([...f.subjectsState(">")].sort(), [...m.subjectsState(">")].sort(), `${what}: subjectsState`);
}

async function walk(dir: string, extra: Record<string, unknown>, seed: number): Promise<void> {
  const cfg = { name: "W", ...((extra.config as object) ?? {}) };
  const open = (): FileStore => new FileStore({ ...(extra as object), dir, config: cfg, blockSize: 2048, logger: silentLogger });
  let f = open();
  const m = new MemStore({ name: "W" }, { logger: silentLogger });
  let clock = 1_700_000_000_000_000_000n;
  const r = prng(seed);
  let dropped = 0;
  try {
    for (let step = 0; step < 400; step++) {
      await f.sync();
      dropped += f.dropIndexesNow();
      const op = r();
      const last = m.state().lastSeq;
      const pick = (): number => 1 + Math.floor(r() * Math.max(last, 1));
      if (op < 0.55) {
        const n = 1 + Math.floor(r() * 20);
        for (let k = 0; k < n; k++) {
          const subj = `s.${Math.floor(r() * 12)}`;
          const data = Buffer.from(`${step}-${k}-${"x".repeat(Math.floor(r() * 200))}`);
          // the same time in both (the state's first/last time is compared)
          const seq = m.state().lastSeq + 1;
          clock += 1000n;
          f.storeRawMsg(subj, undefined, data, seq, clock);
          m.storeRawMsg(subj, undefined, data, seq, clock);
        }
      } else if (op < 0.75) {
        const seq = pick();
        assert.equal(f.removeMsg(seq), m.removeMsg(seq), `step ${step}: removeMsg(${seq})`);
      } else if (op < 0.8) {
        const seq = pick();
        assert.equal(f.eraseMsg(seq), m.eraseMsg(seq), `step ${step}: eraseMsg(${seq})`);
      } else if (op < 0.86) {
        const subj = `s.${Math.floor(r() * 12)}`;
        assert.equal(f.purgeEx(subj), m.purgeEx(subj), `step ${step}: purge ${subj}`);
      } else if (op < 0.9) {
        const seq = Math.max(1, last - Math.floor(r() * 200));
        assert.equal(f.compact(seq), m.compact(seq), `step ${step}: compact(${seq})`);
      } else if (op < 0.93) {
        const keep = Math.floor(r() * 5);
        const subj = `s.${Math.floor(r() * 12)}`;
        assert.equal(f.purgeEx(subj, 0, keep), m.purgeEx(subj, 0, keep), `step ${step}: purge ${subj} keep ${keep}`);
      } else if (op < 0.96) {
        f.stop();
        f = open();
      }
      await f.sync();
      f.dropIndexesNow();
      sameAnswers(f, m, r, `step ${step}`);
    }
    assert.ok(dropped >= 200, `indexes were dropped during the walk (${dropped} block drops)`);
    f.stop();
    f = open();
    sameAnswers(f, m, r, "after reopen");
  } finally {
    f.stop();
  }
}

describe("file store: dropped block indexes (store level)", () => {
  it("a seeded walk answers what a memory store answers (plain)", () => walk(newDir(), {}, 1));
  it("a seeded walk answers what a memory store answers (s2)", () => walk(newDir(), { config: { compression: "s2" } }, 2));
  it("a seeded walk answers what a memory store answers (encrypted)", () =>
    walk(newDir(), { encryption: { config: { cipher: "chachapoly", key: "k3y" }, account: "A", stream: "W" } }, 3));

  for (const damage of ["missing", "corrupt", "stale"] as const) {
    it(`an .idx ${damage} while its index is dropped is rebuilt from the block, never trusted`, async () => {
      const dir = newDir();
      const log = new CapturedLog();
      let f = new FileStore({ dir, config: { name: "D" }, blockSize: 2048, logger: log });
      try {
        for (let i = 0; i < 300; i++) f.storeMsg(`s.${i % 7}`, undefined, Buffer.from(`m${i}-${"y".repeat(i % 50)}`));
        await f.sync();
        const want = Array.from({ length: 300 }, (_, i) => view(f.loadMsg(i + 1)));
        assert.ok(f.dropIndexesNow() >= 5);
        const idx = fs.readdirSync(path.join(dir, "msgs")).filter((n) => n.endsWith(".idx")).sort((a, b) => parseInt(a) - parseInt(b));
        const victim = path.join(dir, "msgs", idx[2]!);
        if (damage === "missing") fs.rmSync(victim);
        else if (damage === "corrupt") {
          const b = fs.readFileSync(victim);
          b[b.length >> 1] ^= 0xff;
          fs.writeFileSync(victim, b);
        } else {
          // another block's index: well formed, but not this block's
          fs.copyFileSync(path.join(dir, "msgs", idx[3]!), victim);
        }
        for (let i = 0; i < 300; i++) assert.deepEqual(view(f.loadMsg(i + 1)), want[i], `seq ${i + 1}`);
        assert.deepEqual(f.filteredState(1, "s.3"), { msgs: 43, first: 4, last: 298 });
        assert.ok(!log.has("ERR", /./), log.lines.join("\n"));
        f.stop();
        f = new FileStore({ dir, blockSize: 2048, logger: log });
        for (let i = 0; i < 300; i++) assert.deepEqual(view(f.loadMsg(i + 1)), want[i], `after reopen: seq ${i + 1}`);
      } finally {
        f.stop();
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Server level, through real clients

const SUBJECTS = 40;
const TOTAL = 3000;
const body = (i: number): string => `msg-${i}-${"p".repeat(80 + (i % 40))}`;

type Model = Map<number, { subject: string; data: string }>;

function storeOf(s: EmbeddedServer, stream: string): FileStore {
  const js = s.server.services.find((x) => x.name === "jetstream") as JetStreamService | undefined;
  const st = js?.accounts.get("$G")?.streams.get(stream);
  if (st === undefined) throw new Error(`no stream ${stream}`);
  return st.store as FileStore;
}

async function allDropped(s: EmbeddedServer, stream: string, what: string): Promise<void> {
  const st = storeOf(s, stream);
  await waitUntil(() => st.sealedBlocks() >= 5 && st.droppedIndexes() === st.sealedBlocks(), 20_000, `every sealed block's index dropped (${what})`);
}

async function publishAll(nc: NatsConnection, stream: string, model: Model, n = TOTAL): Promise<void> {
  const js = jetstream(nc);
  const acks = [];
  for (let i = 1; i <= n; i++) {
    const subject = `${stream.toLowerCase()}.${i % SUBJECTS}`;
    acks.push(js.publish(subject, body(i)).then((a) => model.set(a.seq, { subject, data: body(i) })));
    if (acks.length >= 200) await Promise.all(acks.splice(0));
  }
  await Promise.all(acks);
}

/** Every message of the stream through an ordered consumer equals the model. */
async function checkAll(nc: NatsConnection, jsm: JetStreamManager, stream: string, model: Model, what: string): Promise<void> {
  const info = await jsm.streams.info(stream);
  assert.equal(info.state.messages, model.size, `${what}: messages`);
  if (model.size === 0) return;
  const seqs = [...model.keys()].sort((a, b) => a - b);
  assert.equal(info.state.first_seq, seqs[0], `${what}: first_seq`);
  const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const got: Array<[number, string, string]> = [];
  const it = await c.consume();
  for await (const m of it) {
    got.push([m.seq, m.subject, m.string()]);
    if (got.length === model.size) break;
  }
  assert.deepEqual(got, seqs.map((q) => [q, model.get(q)!.subject, model.get(q)!.data]), `${what}: every message`);
}

describe("file store: dropped block indexes (through a server)", () => {
  const servers: EmbeddedServer[] = [];
  before(() => {
    process.env.TSNATS_INDEX_IDLE_MS = "100";
    process.env.TSNATS_BLOCK_SIZE = "16384";
  });
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    delete process.env.TSNATS_INDEX_IDLE_MS;
    delete process.env.TSNATS_BLOCK_SIZE;
  });
  const start = async (storeDir: string): Promise<EmbeddedServer> => {
    const s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir }, log: new CapturedLog() });
    servers.push(s);
    return s;
  };

  it("reads, a filtered consumer, purge, delete, compact and a restart on dropped indexes", async () => {
    const storeDir = newDir();
    let s = await start(storeDir);
    let nc = await connect({ port: s.port });
    const model: Model = new Map();
    try {
      let jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "S", subjects: ["s.>"], allow_direct: true });
      await publishAll(nc, "S", model);
      await allDropped(s, "S", "1");

      // by sequence, across the stream
      for (let q = 1; q <= TOTAL; q += 97) {
        const m = await jsm.streams.getMessage("S", { seq: q });
        assert.equal(m?.string(), model.get(q)!.data, `seq ${q}`);
      }
      await allDropped(s, "S", "2");
      // last by subject, and direct gets
      for (let k = 0; k < SUBJECTS; k++) {
        const last = Math.max(...[...model].filter(([, v]) => v.subject === `s.${k}`).map(([q]) => q));
        const m = await jsm.streams.getMessage("S", { last_by_subj: `s.${k}` });
        assert.equal(m?.seq, last, `last of s.${k}`);
      }
      await allDropped(s, "S", "3");
      for (let q = 5; q <= TOTAL; q += 211) {
        const m = await jsm.direct.getMessage("S", { seq: q });
        assert.equal(m?.string(), model.get(q)!.data, `direct seq ${q}`);
      }
      const dl = await jsm.direct.getMessage("S", { last_by_subj: "s.7" });
      assert.equal(dl?.seq, Math.max(...[...model].filter(([, v]) => v.subject === "s.7").map(([q]) => q)));
      await allDropped(s, "S", "4");

      // a filtered consumer
      const c = await jetstream(nc).consumers.get("S", { filter_subjects: ["s.3"] });
      const want3 = [...model].filter(([, v]) => v.subject === "s.3").map(([q]) => q);
      const got3: number[] = [];
      for await (const m of await c.consume()) {
        got3.push(m.seq);
        if (got3.length === want3.length) break;
      }
      assert.deepEqual(got3, want3);
      await allDropped(s, "S", "5");

      // purge by subject
      assert.equal((await jsm.streams.purge("S", { filter: "s.5" })).purged, want3.length);
      for (const [q, v] of model) if (v.subject === "s.5") model.delete(q);
      await allDropped(s, "S", "6");
      // delete in the middle
      for (const q of [1500, 1501, 777]) {
        assert.equal(await jsm.streams.deleteMessage("S", q), true);
        model.delete(q);
      }
      await allDropped(s, "S", "7");
      // compact: keep from 400 on
      await jsm.streams.purge("S", { seq: 400 });
      for (const q of [...model.keys()]) if (q < 400) model.delete(q);
      await allDropped(s, "S", "8");
      await checkAll(nc, jsm, "S", model, "after purge, delete, compact");
      const st = await jsm.streams.info("S", { subjects_filter: ">" });
      assert.equal(st.state.subjects?.["s.5"], undefined);

      // a restart, then everything again on indexes dropped after it
      await nc.close();
      await s.close();
      s = await start(storeDir);
      nc = await connect({ port: s.port });
      jsm = await jetstreamManager(nc);
      await allDropped(s, "S", "9");
      await checkAll(nc, jsm, "S", model, "after a restart");
      await allDropped(s, "S", "10");
      const m = await jsm.streams.getMessage("S", { last_by_subj: "s.9" });
      assert.equal(m?.seq, Math.max(...[...model].filter(([, v]) => v.subject === "s.9").map(([q]) => q)));
    } finally {
      await nc.close();
      await s.close();
    }
  });

  it("max_age expires messages of blocks whose index is dropped", async () => {
    const s = await start(newDir());
    const nc = await connect({ port: s.port });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "A", subjects: ["a.>"], max_age: 4_000_000_000 });
      await publishAll(nc, "A", new Map(), 1500);
      const st = storeOf(s, "A");
      await waitUntil(() => st.sealedBlocks() >= 5 && st.droppedIndexes() === st.sealedBlocks(), 20_000, "indexes dropped before the messages expire");
      const kept: Model = new Map();
      await publishAll(nc, "A", kept, 5);
      await waitUntil(async () => (await jsm.streams.info("A")).state.messages === 5, 20_000, "the first 1500 expired");
      const info = await jsm.streams.info("A");
      assert.equal(info.state.first_seq, 1501);
      assert.equal((await jsm.streams.getMessage("A", { seq: 1503 }))?.string(), kept.get(1503)!.data);
    } finally {
      await nc.close();
      await s.close();
    }
  });

  it("a server killed with SIGKILL while indexes are dropped (and some were loaded to delete) recovers every message", { skip: !fs.existsSync(TSNATS_SERVER_BIN) && "server binary not built" }, async () => {
    const storeDir = newDir();
    const env = { TSNATS_INDEX_IDLE_MS: "100", TSNATS_BLOCK_SIZE: "16384" };
    const first = await startNatsServer(["-js", "-sd", storeDir], undefined, "tsnats", [], env);
    const model: Model = new Map();
    let nc = await connect({ port: first.port });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "K", subjects: ["k.>"] });
      await publishAll(nc, "K", model);
      // a sealed block's .idx is written when its index is dropped (else only every 2 minutes)
      const msgs = path.join(storeDir, "jetstream", "$G", "streams", "K", "msgs");
      const blocks = (): number[] => fs.readdirSync(msgs).filter((n) => n.endsWith(".blk")).map((n) => parseInt(n)).sort((a, b) => a - b);
      const sealedIndexed = (): boolean => {
        const b = blocks();
        return b.length >= 6 && b.slice(0, -1).every((id) => fs.existsSync(path.join(msgs, `${id}.idx`)));
      };
      await waitUntil(sealedIndexed, 20_000, "every sealed block indexed on disk");
      for (const q of [10, 11, 1200, 2500]) {
        assert.equal(await jsm.streams.deleteMessage("K", q), true);
        model.delete(q);
      }
      await jsm.streams.purge("K", { filter: "k.13" });
      for (const [q, v] of model) if (v.subject === "k.13") model.delete(q);
      await nc.close();
      first.proc.kill("SIGKILL");
      await new Promise((r) => first.proc.once("exit", r));
      await first.stop();
      const second = await startNatsServer(["-js", "-sd", storeDir], undefined, "tsnats", [], env);
      try {
        nc = await connect({ port: second.port });
        await checkAll(nc, await jetstreamManager(nc), "K", model, "after SIGKILL");
      } finally {
        await nc.close();
        await second.stop();
      }
    } finally {
      await nc.close().catch(() => undefined);
      await first.stop();
    }
  });
});
