import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FileConsumerStore,
  FileStore,
  FileStoreOptions,
  listStoredAccounts,
  listStoredStreams,
  streamDir,
} from "../src/storage/filestore.js";
import { StateLog } from "../src/storage/state_log.js";
import { setFileIO } from "../src/storage/file_io.js";
import { StoredMsg, StreamStore, isStoreError, silentLogger } from "../src/storage/store.js";
import { PowerLossFS } from "./helpers/power_loss.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { waitUntil } from "./helpers/server.js";
import { runStoreSuite } from "./storage_suite.test.js";

const root = fs.mkdtempSync(join(tmpdir(), "tsnats-filestore-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirN = 0;
const newDir = (): string => join(root, `s${++dirN}`);

// small blocks so that every suite test spans several block files
runStoreSuite({
  name: "filestore",
  persistent: true,
  create: (cfg, opts) => new FileStore({ dir: newDir(), config: cfg, blockSize: 2048, logger: silentLogger, ...opts }),
  reopen: (s) => {
    const fsx = s as FileStore;
    fsx.stop();
    return new FileStore({ dir: fsx.dir, blockSize: 2048, logger: silentLogger });
  },
  destroy: (s) => s.delete(),
});

const b = (s: string): Buffer => Buffer.from(s);
const blkFiles = (dir: string): string[] =>
  fs
    .readdirSync(join(dir, "msgs"))
    .filter((f) => f.endsWith(".blk"))
    .sort((x, y) => parseInt(x) - parseInt(y));
const idxFiles = (dir: string): string[] => fs.readdirSync(join(dir, "msgs")).filter((f) => f.endsWith(".idx"));

function open(dir: string, extra: Partial<FileStoreOptions> = {}): FileStore {
  return new FileStore({ dir, blockSize: 4096, logger: silentLogger, ...extra });
}

/**
 * Copy a live store directory: that is exactly what a crash (SIGKILL) leaves behind once the
 * store's turn ended (its appends written: flush() does it now).
 */
function crashCopy(dir: string, live?: StreamStore): string {
  live?.flush();
  const to = `${dir}-crash${++dirN}`;
  fs.cpSync(dir, to, { recursive: true });
  return to;
}

function fillStd(s: StreamStore, n: number): void {
  for (let i = 1; i <= n; i++) s.storeMsg(`f.${i % 5}`, i % 4 === 0 ? b(`NATS/1.0\r\nI: ${i}\r\n\r\n`) : undefined, b(`payload-${i}`));
}

function snapshot(s: StreamStore): unknown {
  const st = s.state(true);
  const msgs: unknown[] = [];
  for (let m = s.loadNextMsg(">", 0); m; m = s.loadNextMsg(">", m.seq + 1)) {
    msgs.push([m.seq, m.subject, m.time.toString(), m.hdr?.toString(), m.data.toString()]);
  }
  return { st: { ...st, firstTime: st.firstTime.toString(), lastTime: st.lastTime.toString() }, msgs, subj: [...s.subjectsState(">")].sort((x, y) => (x[0] < y[0] ? -1 : 1)) };
}

describe("filestore: layout and metadata", () => {
  it("uses <storeDir>/<account>/streams/<stream> and lists them", () => {
    const storeDir = join(root, "jsroot");
    const dir = streamDir(storeDir, "ACC", "ORDERS");
    assert.equal(dir, join(storeDir, "ACC", "streams", "ORDERS"));
    const s = new FileStore({ dir, config: { name: "ORDERS" }, metadata: { subjects: ["orders.>"] }, logger: silentLogger });
    s.storeMsg("orders.1", undefined, b("x"));
    s.createConsumer("dur", { durable_name: "dur" });
    s.stop();
    assert.deepEqual(listStoredAccounts(storeDir), ["ACC"]);
    assert.deepEqual(listStoredStreams(storeDir, "ACC"), ["ORDERS"]);
    assert.ok(fs.existsSync(join(dir, "meta.json")));
    assert.deepEqual(blkFiles(dir), ["1.blk"]);
    assert.ok(fs.existsSync(join(dir, "obs", "dur", "meta.json")));
    assert.ok(fs.existsSync(join(dir, "obs", "dur", "o.dat")));
    const meta = FileStore.readMeta(dir);
    assert.equal(meta.config.name, "ORDERS");
    assert.deepEqual(meta.metadata, { subjects: ["orders.>"] });
    const s2 = new FileStore({ dir, logger: silentLogger });
    assert.deepEqual(s2.metadata(), { subjects: ["orders.>"] });
    s2.setMetadata({ subjects: ["orders.*"] });
    s2.stop();
    assert.deepEqual(FileStore.readMeta(dir).metadata, { subjects: ["orders.*"] });
    assert.throws(() => streamDir(storeDir, "ACC", "../x"), (e) => isStoreError(e, "ErrBadName"));
  });

  it("never deletes a stream whose meta is unreadable: typed error with the path", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "M" } });
    fillStd(s, 5);
    s.stop();
    const metaPath = join(dir, "meta.json");
    const before = fs.readFileSync(metaPath, "utf8");
    fs.writeFileSync(metaPath, before.replace('"maxMsgs": -1', '"maxMsgs": 5'));
    const blocks = blkFiles(dir);
    assert.throws(
      () => open(dir),
      (e) => isStoreError(e, "ErrCorruptMeta") && e.path === metaPath && /checksum/.test(e.message),
    );
    fs.writeFileSync(metaPath, "{not json");
    assert.throws(() => open(dir), (e) => isStoreError(e, "ErrCorruptMeta") && e.path === metaPath);
    fs.unlinkSync(metaPath);
    assert.throws(() => open(dir), (e) => isStoreError(e, "ErrCorruptMeta") && /missing/.test(e.message));
    assert.deepEqual(blkFiles(dir), blocks);
    // restoring the meta brings everything back
    fs.writeFileSync(metaPath, before);
    const s2 = open(dir);
    assert.equal(s2.state().msgs, 5);
    s2.delete();
    assert.equal(fs.existsSync(dir), false);
    assert.throws(() => open(newDir()), (e) => isStoreError(e, "ErrNotFound"));
  });
});

describe("filestore: restart recovery", () => {
  it("stop + reopen gives the same state, deletes, subjects, config and consumer state", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "R", maxMsgsPerSubject: 50 } });
    fillStd(s, 300);
    for (let i = 1; i <= 300; i += 7) s.removeMsg(i);
    s.eraseMsg(150);
    s.skipMsg();
    const cs = s.createConsumer("C", { ack: "explicit" });
    const cst = cs.state();
    cst.delivered = { consumer_seq: 12, stream_seq: 40 };
    cst.ack_floor = { consumer_seq: 10, stream_seq: 33 };
    cst.pending.set(35, { sequence: 11, timestamp: 1700000000000 });
    cst.redelivered.set(35, 1);
    cs.update(cst);
    const snap = snapshot(s);
    assert.ok(blkFiles(dir).length > 3);
    s.stop();
    assert.equal(idxFiles(dir).length, blkFiles(dir).length);
    const s2 = open(dir);
    assert.deepEqual(snapshot(s2), snap);
    assert.equal(s2.config().maxMsgsPerSubject, 50);
    assert.deepEqual(s2.openConsumer("C").state(), cst);
    assert.equal(s2.storeMsg("f.1", undefined, b("after")).seq, 302);
    s2.stop();
  });

  it("recovers the same state after a crash (no clean stop, no index files)", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "C" } });
    fillStd(s, 200);
    for (let i = 2; i <= 200; i += 5) s.removeMsg(i);
    s.purgeEx("f.3");
    const snap = snapshot(s);
    const crashed = crashCopy(dir, s);
    assert.equal(idxFiles(crashed).length, 0);
    const s2 = open(crashed);
    assert.deepEqual(snapshot(s2), snap);
    s2.stop();
    s.stop();
  });

  it("subjects in any script come back from the records themselves (crash: no index files)", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "U" } });
    // ASCII is copied byte by byte, anything else is encoded as UTF-8 (writeRecord)
    const subjects = ["orders.eu.1", "bestellungen.müller", "注文.東京", "emoji.😀.x", "a", "mix.é"];
    for (let i = 0; i < 60; i++) s.storeMsg(subjects[i % subjects.length]!, undefined, b(`m${i}`));
    const crashed = crashCopy(dir, s);
    const s2 = open(crashed);
    for (let seq = 1; seq <= 60; seq++) {
      const m = s2.loadMsg(seq);
      assert.equal(m?.subject, subjects[(seq - 1) % subjects.length]);
      assert.equal(m?.data.toString(), `m${seq - 1}`);
    }
    assert.equal(s2.filteredState(1, "bestellungen.müller").msgs, 10);
    assert.equal(s2.filteredState(1, "emoji.😀.x").msgs, 10);
    s2.stop();
    s.stop();
  });

  it("rebuilds a deleted, stale or corrupt index from its block", () => {
    const dir = newDir();
    let s = open(dir, { config: { name: "I" } });
    fillStd(s, 200);
    s.removeMsg(10);
    const snap = snapshot(s);
    s.stop();
    const idx = idxFiles(dir).sort();
    assert.ok(idx.length >= 3);
    fs.unlinkSync(join(dir, "msgs", idx[0]!)); // deleted
    const p1 = join(dir, "msgs", idx[1]!);
    const buf = fs.readFileSync(p1);
    buf[buf.length - 10] ^= 0x55; // corrupt
    fs.writeFileSync(p1, buf);
    const log = new CapturedLog();
    s = open(dir, { logger: log });
    assert.deepEqual(snapshot(s), snap);
    assert.ok(log.has("INF", /not usable.*checksum/), log.lines.join("\n"));
    s.stop();
    assert.equal(idxFiles(dir).length, blkFiles(dir).length);

    // stale: a block appended after its index was written (crash after more writes)
    s = open(dir);
    s.storeMsg("f.new", undefined, b("newer"));
    const snap2 = snapshot(s);
    const crashed = crashCopy(dir, s);
    s.stop();
    const log2 = new CapturedLog();
    const s3 = open(crashed, { logger: log2 });
    assert.deepEqual(snapshot(s3), snap2);
    s3.stop();
  });

  it("an index never resurrects a message deleted after it was written", () => {
    const dir = newDir();
    let s = open(dir, { config: { name: "X" } });
    fillStd(s, 100);
    s.stop();
    s = open(dir);
    s.removeMsg(3); // block 1 has an index on disk: it must be invalidated
    s.removeMsg(99);
    const crashed = crashCopy(dir, s);
    s.stop();
    const s2 = open(crashed);
    assert.equal(s2.loadMsg(3), null);
    assert.equal(s2.loadMsg(99), null);
    assert.equal(s2.state().msgs, 98);
    s2.stop();
  });

  it("purge and compact stay done even if old blocks come back (floor marker)", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "P" } });
    fillStd(s, 200);
    s.flush();
    const saved = new Map(blkFiles(dir).map((f) => [f, fs.readFileSync(join(dir, "msgs", f))]));
    s.purge();
    s.storeMsg("f.1", undefined, b("x"));
    s.stop();
    // simulate a crash in the middle of purge: old block files were not all unlinked
    for (const [f, data] of saved) if (!fs.existsSync(join(dir, "msgs", f))) fs.writeFileSync(join(dir, "msgs", f), data);
    const s2 = open(dir);
    const st = s2.state();
    assert.equal(st.msgs, 1);
    assert.equal(st.firstSeq, 201);
    assert.equal(st.lastSeq, 201);
    s2.stop();
    // old blocks below the floor are gone again
    assert.ok(blkFiles(dir).every((f) => !saved.has(f)));

    const d2 = newDir();
    const c = open(d2, { config: { name: "P2" } });
    fillStd(c, 200);
    c.compact(150);
    const crashed = crashCopy(d2, c);
    c.stop();
    const c2 = open(crashed);
    assert.equal(c2.state().firstSeq, 150);
    assert.equal(c2.state().msgs, 51);
    c2.stop();
  });

  it("fully deleted blocks are removed from disk; sparse blocks are compacted", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "D" }, blockSize: 64 * 1024 });
    const payload = Buffer.alloc(200, 1);
    for (let i = 0; i < 2000; i++) s.storeMsg(`d.${i % 10}`, undefined, payload);
    const n0 = blkFiles(dir).length;
    assert.ok(n0 >= 6);
    for (let i = 1; i <= 700; i++) s.removeMsg(i);
    assert.ok(blkFiles(dir).length < n0);
    // purge one subject: > REWRITE_MARKS marks are not needed, but blocks become sparse
    assert.equal(s.purgeEx("d.3"), 130);
    const snap = snapshot(s);
    s.stop();
    const s2 = open(dir, { blockSize: 64 * 1024 });
    assert.deepEqual(snapshot(s2), snap);
    s2.stop();
  });

  it("a bulk removal rewrites heavily hit sealed blocks", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "W" }, blockSize: 256 * 1024 });
    for (let i = 0; i < 12000; i++) s.storeMsg(i % 2 ? "w.odd" : "w.even", undefined, b(`v${i}`));
    assert.ok(blkFiles(dir).length >= 2);
    const size0 = fs.statSync(join(dir, "msgs", "1.blk")).size;
    assert.equal(s.purgeEx("w.odd"), 6000);
    const size1 = fs.statSync(join(dir, "msgs", "1.blk")).size;
    assert.ok(size1 < size0 * 0.7, `${size1} vs ${size0}`);
    const snap = snapshot(s);
    const crashed = crashCopy(dir, s);
    s.stop();
    const s2 = open(crashed, { blockSize: 256 * 1024 });
    assert.deepEqual(snapshot(s2), snap);
    s2.stop();
  });

  it("eraseMsg overwrites the bytes on disk", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "E" } });
    s.storeMsg("e", undefined, b("TOP-SECRET-PAYLOAD"));
    s.storeMsg("e", undefined, b("keep me"));
    s.eraseMsg(1);
    s.flush();
    const all = blkFiles(dir).map((f) => fs.readFileSync(join(dir, "msgs", f)).toString("latin1")).join("");
    assert.equal(all.includes("TOP-SECRET-PAYLOAD"), false);
    assert.equal(all.includes("keep me"), true);
    const crashed = crashCopy(dir, s);
    s.stop();
    const log = new CapturedLog();
    const s2 = open(crashed, { logger: log });
    assert.equal(s2.loadMsg(1), null);
    assert.equal(s2.loadMsg(2)!.data.toString(), "keep me");
    assert.equal(log.lines.filter((l) => !l.startsWith("INF")).length, 0, log.lines.join("\n"));
    s2.stop();
  });
});

describe("filestore: corruption", () => {
  /** Offset of the record holding `needle` in a block file. */
  const findRecord = (file: string, needle: string): number => {
    const buf = fs.readFileSync(file);
    const at = buf.indexOf(needle);
    assert.ok(at > 0, `${needle} not found in ${file}`);
    return at;
  };

  it("truncated tail: the partial record is cut away with a warning", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "T" } });
    for (let i = 1; i <= 20; i++) s.storeMsg("t", undefined, b(`message-${i}`));
    const crashed = crashCopy(dir, s);
    s.stop();
    const last = join(crashed, "msgs", blkFiles(crashed).pop()!);
    // The active block's file is preallocated (zeros after the last record): cut the last
    // record short and keep the file's length, as a crash during the append leaves it.
    const bytes = fs.readFileSync(last);
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    assert.ok(bytes.length > end, "the active block's file is preallocated");
    fs.truncateSync(last, end - 7);
    fs.truncateSync(last, bytes.length);
    const log = new CapturedLog();
    const s2 = open(crashed, { logger: log });
    assert.ok(log.has("WRN", /partial record.*truncating/), log.lines.join("\n"));
    const st = s2.state();
    assert.equal(st.msgs, 19);
    assert.equal(st.lastSeq, 19);
    assert.equal(s2.loadMsg(19)!.data.toString(), "message-19");
    assert.equal(s2.storeMsg("t", undefined, b("message-20b")).seq, 20);
    s2.stop();
    const log2 = new CapturedLog();
    const s3 = open(crashed, { logger: log2 });
    assert.equal(s3.loadMsg(20)!.data.toString(), "message-20b");
    assert.equal(log2.lines.filter((l) => !l.startsWith("INF")).length, 0);
    s3.stop();
  });

  it("preallocated block files: a crash's zero tail is dropped quietly, sealed and stopped blocks end at their last record", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "P" }, blockSize: 64 * 1024 });
    const payload = Buffer.alloc(200, 3);
    for (let i = 1; i <= 1000; i++) s.storeMsg(`p.${i % 7}`, undefined, payload);
    const files = blkFiles(dir);
    assert.ok(files.length >= 3);
    const active = join(dir, "msgs", files[files.length - 1]!);
    s.flush();
    assert.ok(fs.statSync(active).size >= 64 * 1024, "the active block's file is extended ahead of its appends");
    for (const f of files.slice(0, -1)) {
      const size = fs.statSync(join(dir, "msgs", f)).size;
      assert.ok(size < 64 * 1024, `sealed block ${f} trimmed to its last record (${size} bytes)`);
    }
    const snap = snapshot(s);
    const crashed = crashCopy(dir, s);
    s.stop();
    const stopped = fs.statSync(active).size;
    assert.ok(stopped < 64 * 1024, `a stopped store's active block ends at its last record (${stopped} bytes)`);
    const log = new CapturedLog();
    const s2 = open(crashed, { blockSize: 64 * 1024, logger: log });
    assert.deepEqual(snapshot(s2), snap);
    assert.equal(log.lines.filter((l) => !l.startsWith("INF")).length, 0, log.lines.join("\n"));
    assert.equal(s2.storeMsg("p.x", undefined, payload).seq, 1001);
    s2.stop();
    const s3 = open(crashed, { blockSize: 64 * 1024 });
    assert.equal(s3.loadMsg(1001)!.subject, "p.x");
    assert.equal(s3.state().msgs, 1001);
    s3.stop();
  });

  /** Bytes a file occupies on disk (holes take none). */
  const onDisk = (file: string): number => fs.statSync(file).blocks * 512;
  /**
   * End of the last record of a block file: its records walked by their lengths (stripping the
   * zero tail instead would stop short whenever the last record's CRC ends in a zero byte).
   */
  const dataEnd = (file: string): number => {
    const bytes = fs.readFileSync(file);
    const blockHeader = 8;
    const recordMagic = 0x52534e54;
    let end = blockHeader;
    while (end + 8 <= bytes.length && bytes.readUInt32LE(end) === recordMagic) end += bytes.readUInt32LE(end + 4);
    return end;
  };

  it("zeros written ahead of a busy active block (fsynced acks): on disk past the last record, not stored bytes, cut when stopped; none for a tiny stream or in interval mode", () => {
    const payload = Buffer.alloc(1000, 7);
    const fill = (s: FileStore, n: number): void => {
      for (let i = 1; i <= n; i++) s.storeMsg(`z.${i % 3}`, undefined, payload);
      s.flush();
    };
    const busyDir = newDir();
    const busy = open(busyDir, { config: { name: "Z" }, blockSize: 1024 * 1024 });
    fill(busy, 300);
    const active = join(busyDir, "msgs", blkFiles(busyDir).pop()!);
    const end = dataEnd(active);
    // ~300 KB of records: a 256 KiB window, kept at least half a window ahead
    assert.ok(onDisk(active) >= end + 128 * 1024, `zeros written ahead: ${onDisk(active)} bytes on disk, records end at ${end}`);
    const lazyDir = newDir();
    const lazy = open(lazyDir, { config: { name: "Z" }, blockSize: 1024 * 1024, sync: 120_000 });
    fill(lazy, 300);
    const lazyActive = join(lazyDir, "msgs", blkFiles(lazyDir).pop()!);
    assert.ok(onDisk(lazyActive) < dataEnd(lazyActive) + 64 * 1024, `interval mode: no zeros written ahead (${onDisk(lazyActive)} bytes on disk)`);
    // the zeros are not stored bytes: both stores report the same
    assert.deepEqual(busy.state().bytes, lazy.state().bytes);
    assert.ok(busy.state().bytes < end);
    const tinyDir = newDir();
    const tiny = open(tinyDir, { config: { name: "Z" }, blockSize: 1024 * 1024 });
    fill(tiny, 5);
    const tinyActive = join(tinyDir, "msgs", blkFiles(tinyDir).pop()!);
    assert.ok(onDisk(tinyActive) <= 16 * 1024, `a tiny stream's block takes ${onDisk(tinyActive)} bytes on disk`);
    for (const s of [busy, lazy, tiny]) s.stop();
    assert.equal(fs.statSync(active).size, end, "a stopped store's active block ends at its last record");
    assert.ok(onDisk(active) < end + 8192, `zeros freed on stop (${onDisk(active)} bytes on disk for ${end})`);
  });

  it("no zeros written ahead while sync rounds are large (many publishes per fsync)", async () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "ZL" }, blockSize: 4 * 1024 * 1024 });
    const payload = Buffer.alloc(1000, 6);
    for (let r = 0; r < 12; r++) {
      for (let i = 0; i < 60; i++) s.storeMsg("zl", undefined, payload);
      await s.syncPending();
    }
    const active = join(dir, "msgs", blkFiles(dir).pop()!);
    const end = dataEnd(active);
    assert.ok(end > 700_000);
    assert.ok(onDisk(active) < end + 16 * 1024, `${onDisk(active)} bytes on disk for ${end}`);
    assert.equal(s.state().msgs, 720);
    s.stop();
  });

  it("zeros written ahead are given back when the stream goes idle; appends go on", async () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "ZI" }, blockSize: 1024 * 1024, cacheExpireMs: 30 });
    const payload = Buffer.alloc(1000, 5);
    for (let i = 1; i <= 100; i++) s.storeMsg("zi", undefined, payload);
    s.flush();
    const active = join(dir, "msgs", blkFiles(dir).pop()!);
    const end = dataEnd(active);
    assert.ok(onDisk(active) >= end + 32 * 1024, `zeros written ahead (${onDisk(active)} bytes on disk for ${end})`);
    await waitUntil(() => fs.statSync(active).size === end, 30_000, "idle active block trimmed to its last record");
    assert.ok(onDisk(active) < end + 8192, `${onDisk(active)} bytes on disk for ${end}`);
    for (let i = 101; i <= 200; i++) s.storeMsg("zi", undefined, payload);
    s.flush();
    assert.ok(onDisk(active) >= dataEnd(active) + 32 * 1024, "busy again: zeros written ahead again");
    assert.equal(s.state().msgs, 200);
    s.stop();
    const s2 = open(dir, { blockSize: 1024 * 1024 });
    assert.equal(s2.state().msgs, 200);
    assert.equal(s2.loadMsg(200)!.data.length, 1000);
    s2.stop();
  });

  it("zeros written ahead: recovery after a crash (SIGKILL copy) ends the block at its last record; a torn last record is cut with a warning", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "ZR" }, blockSize: 1024 * 1024 });
    const payload = Buffer.alloc(1000, 9);
    for (let i = 1; i <= 300; i++) s.storeMsg(`zr.${i % 4}`, undefined, payload);
    s.storeMsg("zr.last", undefined, b("the last one"));
    const snap = snapshot(s);
    const crashed = crashCopy(dir, s);
    const torn = crashCopy(dir, s);
    const tornHalf = crashCopy(dir, s);
    s.stop();
    const activeOf = (d: string): string => join(d, "msgs", blkFiles(d).pop()!);
    assert.ok(fs.statSync(activeOf(crashed)).size > dataEnd(activeOf(crashed)) + 64 * 1024, "the copy ends in the zeros");
    // a crash: the zero tail is the end, quietly
    const log = new CapturedLog();
    const s2 = open(crashed, { blockSize: 1024 * 1024, logger: log });
    assert.deepEqual(snapshot(s2), snap);
    assert.equal(log.lines.filter((l) => !l.startsWith("INF")).length, 0, log.lines.join("\n"));
    assert.equal(s2.storeMsg("zr.next", undefined, b("after the crash")).seq, 302);
    s2.stop();
    const s3 = open(crashed, { blockSize: 1024 * 1024 });
    assert.equal(s3.loadMsg(302)!.data.toString(), "after the crash");
    assert.equal(s3.loadMsg(301)!.data.toString(), "the last one");
    assert.equal(s3.state().msgs, 302);
    s3.stop();
    // torn writes of the last record over the zeros: its end never reached the disk (cut short,
    // the zeros still there), or only its first bytes did
    const end = dataEnd(activeOf(torn));
    const recLen = 36 + "zr.last".length + "the last one".length + 4;
    const cuts: [string, number][] = [
      [torn, end - 5],
      [tornHalf, end - recLen + 12],
    ];
    for (const [d, from] of cuts) {
      const fd = fs.openSync(activeOf(d), "r+");
      fs.writeSync(fd, Buffer.alloc(end - from), 0, end - from, from);
      fs.closeSync(fd);
      const tlog = new CapturedLog();
      const t = open(d, { blockSize: 1024 * 1024, logger: tlog });
      assert.ok(tlog.has("WRN", /partial record.*truncating/), tlog.lines.join("\n"));
      assert.equal(tlog.lines.filter((l) => l.startsWith("ERR")).length, 0, tlog.lines.join("\n"));
      assert.equal(t.state().msgs, 300);
      assert.equal(t.state().lastSeq, 300);
      assert.equal(t.storeMsg("zr.again", undefined, b("again")).seq, 301);
      t.stop();
      const t2 = open(d, { blockSize: 1024 * 1024 });
      assert.equal(t2.loadMsg(301)!.data.toString(), "again");
      assert.equal(t2.loadMsg(300)!.data.length, 1000);
      t2.stop();
    }
  });

  it("bit flip found by the recovery scan: exactly that message is missing, reported, the rest kept", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "B" } });
    for (let i = 1; i <= 60; i++) s.storeMsg(`b.${i % 3}`, undefined, b(`body-${String(i).padStart(3, "0")}`));
    const crashed = crashCopy(dir, s); // no index files: the blocks get scanned
    s.stop();
    let file = "";
    for (const f of blkFiles(crashed)) {
      if (fs.readFileSync(join(crashed, "msgs", f)).includes("body-030")) file = join(crashed, "msgs", f);
    }
    const off = findRecord(file, "body-030");
    const buf = fs.readFileSync(file);
    buf[off + 6] ^= 0x04;
    fs.writeFileSync(file, buf);
    const log = new CapturedLog();
    const s2 = open(crashed, { logger: log });
    assert.ok(log.has("ERR", new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} offset \\d+: checksum mismatch.*seq 30`)), log.lines.join("\n"));
    const st = s2.state(true);
    assert.equal(st.msgs, 59);
    assert.deepEqual(st.deleted, [30]);
    assert.deepEqual(st.lost?.msgs, [30]);
    for (let i = 1; i <= 60; i++) {
      const m = s2.loadMsg(i);
      if (i === 30) assert.equal(m, null);
      else assert.equal(m!.data.toString(), `body-${String(i).padStart(3, "0")}`);
    }
    assert.deepEqual(s2.subjectsTotals(">"), new Map([["b.1", 20], ["b.2", 20], ["b.0", 19]]));
    s2.stop();
  });

  it("bit flip in a record header: resynchronizes on the next record", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "H" }, blockSize: 1 << 20 });
    for (let i = 1; i <= 30; i++) s.storeMsg("h", undefined, b(`hdr-${String(i).padStart(3, "0")}`));
    const crashed = crashCopy(dir, s);
    s.stop();
    const file = join(crashed, "msgs", "1.blk");
    const off = findRecord(file, "hdr-010");
    const buf = fs.readFileSync(file);
    // the record starts REC_HDR(36)+subject(1) bytes before the payload: corrupt its length field
    const rec = off - 37;
    buf.writeUInt32LE(0x00ffffff, rec + 4);
    fs.writeFileSync(file, buf);
    const log = new CapturedLog();
    const s2 = open(crashed, { logger: log });
    assert.ok(log.has("ERR", /corrupt data at offset/), log.lines.join("\n"));
    const st = s2.state(true);
    assert.equal(st.msgs, 29);
    assert.deepEqual(st.deleted, [10]);
    assert.equal(s2.loadMsg(11)!.data.toString(), "hdr-011");
    assert.equal(s2.loadMsg(30)!.data.toString(), "hdr-030");
    s2.stop();
  });

  it("bit flip behind a valid index: detected on read (or on open with verifyOnOpen)", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "L" }, blockSize: 1 << 20 });
    for (let i = 1; i <= 40; i++) s.storeMsg("l", undefined, b(`lazy-${String(i).padStart(3, "0")}`));
    s.stop();
    const file = join(dir, "msgs", "1.blk");
    const off = findRecord(file, "lazy-020");
    const buf = fs.readFileSync(file);
    buf[off + 2] ^= 0x10;
    fs.writeFileSync(file, buf);

    const d2 = crashCopy(dir);
    const log = new CapturedLog();
    const s2 = open(dir, { logger: log });
    assert.equal(s2.state().msgs, 40); // the index is trusted until the record is read
    assert.equal(s2.loadMsg(19)!.data.toString(), "lazy-019");
    assert.equal(s2.loadMsg(20), null);
    assert.ok(log.has("ERR", /offset \d+: checksum mismatch for seq 20/), log.lines.join("\n"));
    assert.equal(s2.state().msgs, 39);
    assert.deepEqual(s2.state().lost?.msgs, [20]);
    assert.equal(s2.loadNextMsg(">", 20)!.seq, 21);
    s2.stop();

    const log2 = new CapturedLog();
    const s3 = open(d2, { logger: log2, verifyOnOpen: true });
    assert.ok(log2.has("ERR", /checksum mismatch in record for seq 20/), log2.lines.join("\n"));
    assert.equal(s3.state().msgs, 39);
    assert.equal(s3.loadMsg(20), null);
    s3.stop();
  });

  it("a corrupt consumer state file is set aside, not fatal", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "CS" } });
    const c = s.createConsumer("c1", { x: 1 });
    const st = c.state();
    st.delivered.stream_seq = 9;
    c.update(st);
    s.stop();
    const odat = join(dir, "obs", "c1", "o.dat");
    const buf = fs.readFileSync(odat);
    buf[9] ^= 1;
    fs.writeFileSync(odat, buf);
    const log = new CapturedLog();
    const s2 = open(dir, { logger: log });
    const c2 = s2.openConsumer("c1");
    assert.equal(c2.state().delivered.stream_seq, 0);
    assert.deepEqual(c2.config(), { x: 1 });
    assert.ok(log.has("ERR", /unreadable.*checksum/));
    assert.ok(fs.readdirSync(join(dir, "obs", "c1")).some((f) => f.startsWith("o.dat.corrupt-")));
    s2.stop();
  });
});

describe("filestore: sync modes and caching", () => {
  it("syncPending coalesces callers into group commits", async () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "S" }, sync: "always" });
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      s.storeMsg("s", undefined, b(`${i}`));
      ps.push(s.syncPending());
    }
    await Promise.all(ps);
    await s.syncPending(); // nothing new: resolves at once
    await s.sync();
    assert.equal(s.state().msgs, 500);
    s.stop();
    const s2 = open(dir, { config: { name: "S" } });
    await s2.syncPending(); // interval mode: immediate
    s2.stop();
  });

  it("reads across many blocks with a small cache", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "K" }, blockSize: 8192, cacheBlocks: 2 });
    for (let i = 1; i <= 3000; i++) s.storeMsg(`k.${i % 7}`, undefined, b(`value-${i}`));
    s.stop();
    const s2 = open(dir, { blockSize: 8192, cacheBlocks: 2 });
    for (let r = 0; r < 2; r++) {
      for (let i = 1; i <= 3000; i += r ? 37 : 1) assert.equal(s2.loadMsg(i)!.data.toString(), `value-${i}`);
    }
    let n = 0;
    for (let m = s2.loadNextMsg("k.3", 0); m; m = s2.loadNextMsg("k.3", m.seq + 1)) {
      assert.equal(m.subject, "k.3");
      n++;
    }
    assert.equal(n, s2.filteredState(0, "k.3").msgs);
    s2.stop();
  });

  it("consumer state is written in the background and survives a crash", async () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "CC" } });
    const c = s.createConsumer("d", {});
    const st = c.state();
    for (let i = 1; i <= 100; i++) {
      st.delivered = { consumer_seq: i, stream_seq: i * 2 };
      st.pending.set(i * 2, { sequence: i, timestamp: 1000 + i });
      c.update(st);
    }
    // Written by a background timer, not by update(): wait until the file holds the last state.
    const stateFile = join(dir, "obs", "d", "o.dat");
    const written = (): boolean => {
      try {
        return FileConsumerStore.readStateFile(stateFile).delivered.stream_seq === 200;
      } catch {
        return false; // not written yet, or caught mid-write
      }
    };
    await waitUntil(written, 30_000, "consumer state written in the background");
    const crashed = crashCopy(dir, s);
    s.stop();
    const decoded = FileConsumerStore.readStateFile(join(crashed, "obs", "d", "o.dat"));
    assert.equal(decoded.delivered.stream_seq, 200);
    assert.equal(decoded.pending.size, 100);
  });
});

describe("filestore: borrowed loads", () => {
  for (const compression of ["none", "s2"] as const) {
    it(`a borrowed load has the bytes of a copied one; a copy stays intact when the cache is reused (compression ${compression})`, () => {
      const dir = newDir();
      const s = open(dir, { config: { name: "BR", compression }, blockSize: 8192, cacheBlocks: 1 });
      const body = (i: number): Buffer => Buffer.from(`payload ${i} `.repeat(1 + (i % 9)));
      for (let i = 1; i <= 400; i++) s.storeMsg(`br.${i % 3}`, i % 2 === 0 ? b(`NATS/1.0\r\nI: ${i}\r\n\r\n`) : undefined, body(i));
      const copies: StoredMsg[] = [];
      for (let m = s.loadNextMsg("br.1", 0); m; m = s.loadNextMsg("br.1", m.seq + 1)) copies.push(m);
      let n = 0;
      for (let m = s.loadNextMsg("br.1", 0, true); m; m = s.loadNextMsg("br.1", m.seq + 1, true), n++) {
        const c = copies[n]!;
        assert.equal(m.seq, c.seq);
        assert.equal(m.subject, c.subject);
        assert.deepEqual(m.hdr, c.hdr);
        assert.deepEqual(m.data, c.data);
        assert.deepEqual(s.loadMsg(m.seq, true)!.data, c.data);
      }
      assert.equal(n, copies.length);
      // reading every block again (one cached block at a time) reuses the cache buffers: copies keep their bytes
      for (let i = 1; i <= 400; i++) s.loadMsg(i, true);
      for (const c of copies) assert.deepEqual(c.data, body(c.seq));
      s.stop();
    });
  }
});

describe("filestore: consumer state log (o.dat)", () => {
  const stateOf = (seq: number) => {
    const st = { delivered: { consumer_seq: seq, stream_seq: seq }, ack_floor: { consumer_seq: seq - 1, stream_seq: seq - 1 }, pending: new Map([[seq, { sequence: seq, timestamp: 1000 + seq }]]), redelivered: new Map<number, number>() };
    return st;
  };

  it("appends each write to the open file; a torn last record falls back to the one before", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "SL" } });
    const c = s.createConsumer("c", {});
    for (let i = 1; i <= 3; i++) {
      c.update(stateOf(i));
      c.flush();
    }
    const odat = join(dir, "obs", "c", "o.dat");
    const content = StateLog.read(odat)!;
    assert.equal(fs.readFileSync(odat).subarray(0, 8).toString("latin1"), "TSNSLOG1");
    // the first write rewrote the file with one record, the next two were appended
    assert.equal(content.records, 3);
    assert.equal(content.droppedBytes, 0);
    assert.equal(FileConsumerStore.readStateFile(odat).delivered.stream_seq, 3);
    const crashed = crashCopy(dir, s);
    s.stop();
    // a crash in the middle of the last append: its record is cut short
    const torn = join(crashed, "obs", "c", "o.dat");
    fs.truncateSync(torn, fs.statSync(torn).size - 5);
    const log = new CapturedLog();
    const s2 = open(crashed, { logger: log });
    const st = s2.openConsumer("c").state();
    assert.equal(st.delivered.stream_seq, 2);
    assert.deepEqual([...st.pending.keys()], [2]);
    assert.ok(log.has("WRN", /dropped a torn or damaged tail/), log.lines.join("\n"));
    // the next write starts a fresh file: the torn bytes never come back
    const c2 = s2.openConsumer("c");
    c2.update(stateOf(7));
    c2.flush();
    assert.deepEqual({ ...StateLog.read(torn)!, payload: undefined }, { payload: undefined, droppedBytes: 0, records: 1 });
    s2.stop();
    assert.equal(open(crashed).openConsumer("c").state().delivered.stream_seq, 7);
  });

  it("rewrites the file with the last record once it has grown", () => {
    const dir = newDir();
    fs.mkdirSync(dir, { recursive: true });
    const path = join(dir, "state");
    const log = new StateLog(path, 4096);
    let maxSize = 0;
    for (let i = 0; i < 1000; i++) {
      log.append(Buffer.from(`state number ${i} `.repeat(4)), false);
      maxSize = Math.max(maxSize, fs.statSync(path).size);
    }
    log.close();
    assert.ok(maxSize <= 4096, `file grew to ${maxSize}`);
    const content = StateLog.read(path)!;
    assert.equal(content.payload!.toString(), "state number 999 ".repeat(4));
    assert.ok(content.records < 1000);
    assert.equal(content.droppedBytes, 0);
    assert.ok(!fs.existsSync(`${path}.tmp`));
  });

  it("reads a whole-file state of older versions and turns it into a log on the next write", () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "OLD" } });
    s.createConsumer("c", {}).flush();
    s.stop();
    const odat = join(dir, "obs", "c", "o.dat");
    fs.writeFileSync(odat, FileConsumerStore.encode(stateOf(42)));
    const s2 = open(dir);
    const c = s2.openConsumer("c");
    assert.equal(c.state().delivered.stream_seq, 42);
    c.update(stateOf(43));
    c.flush();
    assert.equal(StateLog.read(odat)!.records, 1);
    s2.stop();
    assert.equal(open(dir).openConsumer("c").state().delivered.stream_seq, 43);
  });

  for (const mode of ["always", "acks"] as const) {
    it(`consumer state survives a power loss once synced (sync ${mode})`, async () => {
      const base = newDir();
      const live = join(base, "live");
      // the stream's directory exists (durably) before the layer: the model cannot sync its root
      fs.mkdirSync(join(live, "s"), { recursive: true });
      const plfs = new PowerLossFS(live);
      const prev = setFileIO(plfs);
      let cutDir: string;
      try {
        const s = open(join(live, "s"), { config: { name: "PL" }, sync: mode });
        const c = s.createConsumer("c", {});
        for (let i = 1; i <= 5; i++) {
          c.update(stateOf(i));
          c.flush();
        }
        // "always": every write is fsynced; otherwise the store's sync (the periodic one) does it
        if (mode === "acks") await c.sync();
        c.update(stateOf(6));
        c.flush(); // written, not synced in mode "acks"
        cutDir = join(base, "cut");
        plfs.cut(cutDir);
        s.stop();
      } finally {
        setFileIO(prev);
      }
      const s2 = open(join(cutDir, "s"));
      assert.equal(s2.openConsumer("c").state().delivered.stream_seq, mode === "always" ? 6 : 5);
      s2.stop();
    });
  }
});

describe("filestore: background work", () => {
  it("writes indexes of sealed blocks periodically and compacts sparse blocks when idle", async () => {
    const dir = newDir();
    const s = open(dir, { config: { name: "BG" }, blockSize: 128 * 1024, sync: 40, cacheExpireMs: 20 });
    const payload = Buffer.alloc(100, 7);
    for (let i = 1; i <= 4000; i++) s.storeMsg(`bg.${i % 4}`, undefined, payload);
    assert.ok(blkFiles(dir).length >= 3);
    // remove 3 out of 4 messages of the first block, fewer than the bulk-rewrite threshold
    const first = fs.statSync(join(dir, "msgs", "1.blk")).size;
    for (let i = 1; i <= 900; i++) if (i % 4 !== 0) s.removeMsg(i);
    const snap = snapshot(s);
    // The background timers (sync every 40 ms, cache expiry after 20 ms) do the work: wait
    // for its effects rather than for a fixed time.
    const compacted = (): boolean => fs.statSync(join(dir, "msgs", "1.blk")).size < first / 2;
    const indexed = (): boolean => idxFiles(dir).length >= blkFiles(dir).length - 1;
    await waitUntil(() => compacted() && indexed(), 30_000, "block 1 compacted and sealed blocks indexed");
    const after1 = fs.statSync(join(dir, "msgs", "1.blk")).size;
    assert.ok(after1 < first / 2, `block 1 not compacted: ${after1} vs ${first}`);
    const sealed = blkFiles(dir).length - 1;
    assert.ok(idxFiles(dir).length >= sealed, `${idxFiles(dir).length} idx for ${sealed} sealed blocks`);
    assert.deepEqual(snapshot(s), snap);
    const crashed = crashCopy(dir, s);
    s.stop();
    const log = new CapturedLog();
    const s2 = open(crashed, { blockSize: 128 * 1024, logger: log });
    assert.deepEqual(snapshot(s2), snap);
    assert.equal(log.lines.filter((l) => !l.startsWith("INF")).length, 0, log.lines.join("\n"));
    s2.stop();
  });
});

describe("filestore: randomized crash consistency", () => {
  it("a crash copy taken at any point recovers to the same state", () => {
    let seed = Number(process.env.TSNATS_SEED ?? 777);
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const dir = newDir();
    const cfg = { name: "RC", maxMsgsPerSubject: 5, maxMsgs: 400, maxBytes: 400 * 70 };
    let s = open(dir, { config: cfg, blockSize: 3000, cacheBlocks: 1 });
    for (let step = 0; step < 3000; step++) {
      const op = rnd(100);
      if (op < 70) {
        s.storeMsg(`rc.${rnd(40)}`, rnd(3) === 0 ? b("NATS/1.0\r\nX: y\r\n\r\n") : undefined, b("z".repeat(rnd(60))), rnd(50) === 0 ? -1 : 0);
      } else if (op < 85) {
        const st = s.state();
        s.removeMsg(st.firstSeq + rnd(Math.max(st.lastSeq - st.firstSeq + 1, 1)));
      } else if (op < 87) {
        s.eraseMsg(s.state().lastSeq - rnd(50));
      } else if (op < 89) {
        s.purgeEx(`rc.${rnd(40)}`, 0, rnd(2));
      } else if (op < 90) {
        s.compact(s.state().lastSeq - rnd(200));
      } else if (op < 91) {
        const st = s.state();
        if (st.lastSeq > 10) s.truncate(st.lastSeq - rnd(10));
      } else if (op < 92) {
        s.skipMsgs(0, 1 + rnd(3));
      } else if (op < 93) {
        s.updateConfig({ maxMsgsPerSubject: 2 + rnd(6) });
      }
      if (step % 150 === 149) {
        const snap = snapshot(s);
        const crashed = crashCopy(dir, s);
        const log = new CapturedLog();
        const c = open(crashed, { blockSize: 3000, logger: log });
        assert.deepEqual(snapshot(c), snap, `step ${step}`);
        assert.equal(log.lines.filter((l) => !l.startsWith("INF")).length, 0, log.lines.join("\n"));
        c.delete();
      }
      if (step % 700 === 699) {
        s.stop();
        s = open(dir, { blockSize: 3000, cacheBlocks: 1 });
      }
    }
    s.stop();
  });
});
