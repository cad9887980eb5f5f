import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemStore } from "../src/storage/memstore.js";
import { silentLogger } from "../src/storage/store.js";
import { hasWildcard, subjectMatches } from "../src/protocol/subject.js";
import { crc32 } from "../src/storage/crc32.js";
import { runStoreSuite } from "./storage_suite.test.js";

runStoreSuite({
  name: "memstore",
  persistent: false,
  create: (cfg, opts) => new MemStore(cfg, { logger: silentLogger, ...opts }),
  reopen: (s) => s,
  destroy: (s) => s.delete(),
});

describe("subject matching", () => {
  it("matches NATS wildcards", () => {
    const yes: [string, string][] = [
      ["a", "a"],
      ["a.b", "a.b"],
      ["*", "a"],
      ["a.*", "a.b"],
      ["*.b", "a.b"],
      ["a.*.c", "a.b.c"],
      [">", "a"],
      [">", "a.b.c"],
      ["a.>", "a.b"],
      ["a.>", "a.b.c"],
      ["*.>", "a.b"],
      ["a.*.>", "a.b.c.d"],
    ];
    const no: [string, string][] = [
      ["a", "b"],
      ["a", "a.b"],
      ["a.b", "a"],
      ["*", "a.b"],
      ["a.*", "a"],
      ["a.*", "a.b.c"],
      ["a.>", "a"],
      ["*.>", "a"],
      ["a.b", "a.bb"],
      ["ab.*", "a.b"],
      ["a.*.c", "a.b.d"],
    ];
    for (const [f, s] of yes) assert.equal(subjectMatches(f, s), true, `${f} ~ ${s}`);
    for (const [f, s] of no) assert.equal(subjectMatches(f, s), false, `${f} !~ ${s}`);
    assert.equal(hasWildcard("a.*"), true);
    assert.equal(hasWildcard("a.>"), true);
    assert.equal(hasWildcard("a*.b"), false);
    assert.equal(hasWildcard("a.b>"), false);
  });

  it("crc32 matches the standard check value", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
    const big = Buffer.alloc(1001, 0xab);
    assert.equal(crc32(big, 500, 1001, crc32(big, 0, 500)), crc32(big));
  });
});

describe("memstore: volume", () => {
  it("handles many messages with interior deletes across chunks", () => {
    const s = new MemStore({ name: "V" }, { logger: silentLogger });
    const N = 50_000;
    for (let i = 1; i <= N; i++) s.storeMsg(`v.${i % 100}`, undefined, Buffer.from(String(i)));
    for (let i = 1; i <= N; i++) if (i % 3 !== 0) s.removeMsg(i);
    const st = s.state();
    assert.equal(st.msgs, Math.floor(N / 3));
    assert.equal(st.firstSeq, 3);
    for (let i = 3; i <= N; i += 3 * 997) assert.equal(s.loadMsg(i)!.data.toString(), String(i));
    let n = 0;
    for (let m = s.loadNextMsg("v.3", 0); m; m = s.loadNextMsg("v.3", m.seq + 1)) n++;
    assert.equal(n, s.filteredState(0, "v.3").msgs);
    assert.equal(s.numPending(0, "v.*", true), 100 / 1 - 0 - (100 - 100));
    s.stop();
  });
});

// Message bytes live in segments of up to 256 KiB (memstore.ts, SEGMENT_MAX): never copied as a
// chunk grows, so every message must read back from the segment it was written to.
describe("memstore: message segments", () => {
  const body = (seq: number, len: number): Buffer => Buffer.alloc(len, seq % 251);

  it("reads back messages of every size across segments, empty ones and ones bigger than a segment", () => {
    const s = new MemStore({ name: "SEG" }, { logger: silentLogger });
    const sizes = [0, 1, 1024, 0, 70_000, 300_000, 5, 0, 131_072, 262_144, 1024];
    const lens: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const len = sizes[i % sizes.length]! + (i % 7);
      const hdr = i % 5 === 0 ? Buffer.from("NATS/1.0\r\nA: b\r\n\r\n") : undefined;
      const { seq } = s.storeMsg(`seg.${i % 10}`, hdr, body(i + 1, len));
      lens[seq] = len;
    }
    for (let seq = 1; seq <= 3000; seq++) {
      const m = s.loadMsg(seq)!;
      assert.equal(m.data.length, lens[seq], `seq ${seq}`);
      assert.ok(m.data.every((b) => b === seq % 251), `seq ${seq} bytes`);
      assert.equal(m.hdr?.toString(), (seq - 1) % 5 === 0 ? "NATS/1.0\r\nA: b\r\n\r\n" : undefined);
    }
    s.stop();
  });

  it("a chunk that starts with empty messages takes its first segment later", () => {
    const s = new MemStore({ name: "EMPTY" }, { logger: silentLogger });
    for (let i = 0; i < 3; i++) s.storeMsg("e", undefined, Buffer.alloc(0));
    s.storeMsg("e", undefined, Buffer.from("x"));
    assert.deepEqual([1, 2, 3, 4].map((q) => s.loadMsg(q)!.data.toString()), ["", "", "", "x"]);
    // cut back into the empty prefix, then store again
    s.truncate(2);
    s.storeMsg("e", undefined, Buffer.from("yz"));
    assert.deepEqual([1, 2, 3].map((q) => s.loadMsg(q)!.data.toString()), ["", "", "yz"]);
    s.stop();
  });

  it("keeps loaded views valid through compaction, truncation and later appends", () => {
    const s = new MemStore({ name: "VIEWS" }, { logger: silentLogger });
    const N = 2000;
    for (let i = 1; i <= N; i++) s.storeMsg("v", undefined, body(i, 1000));
    const kept = s.loadMsg(N - 1)!.data;
    // removing most of the chunk compacts it into new segments
    for (let i = 1; i <= N; i++) if (i % 10 !== 0) s.removeMsg(i);
    for (let i = 10; i <= N; i += 10) assert.ok(s.loadMsg(i)!.data.equals(body(i, 1000)), `seq ${i} after compaction`);
    assert.ok(kept.equals(body(N - 1, 1000)), "a view taken before the compaction");
    // truncation back into an earlier segment, then appends over the cut-off bytes
    s.truncate(1000);
    const before = s.loadMsg(1000)!.data;
    for (let i = 0; i < 600; i++) s.storeMsg("v", undefined, body(7, 1000));
    assert.ok(before.equals(body(1000, 1000)), "a message before the cut is untouched");
    assert.equal(s.state().lastSeq, 1600);
    assert.ok(s.loadMsg(1600)!.data.equals(body(7, 1000)));
    s.stop();
  });

  it("a stream trimmed from its front by max_msgs frees whole segments and keeps every live message", () => {
    const s = new MemStore({ name: "LIM", maxMsgs: 3000 }, { logger: silentLogger });
    const N = 20_000;
    const views = new Map<number, Buffer>();
    for (let i = 1; i <= N; i++) {
      s.storeMsg("l", undefined, body(i, 1000));
      if (i % 997 === 0) views.set(i, s.loadMsg(i)!.data);
    }
    const st = s.state();
    assert.equal(st.msgs, 3000);
    assert.equal(st.firstSeq, N - 2999);
    for (let q = N - 2999; q <= N; q++) assert.ok(s.loadMsg(q)!.data.equals(body(q, 1000)), `seq ${q}`);
    for (const [q, v] of views) assert.ok(v.equals(body(q, 1000)), `view of seq ${q}`);
    // a removal between live messages of a chunk whose front was freed: compaction copies the live ones
    for (let q = N - 2999; q <= N - 1500; q += 2) s.removeMsg(q);
    for (let q = N - 2998; q <= N; q += q <= N - 1500 ? 2 : 1) assert.ok(s.loadMsg(q)!.data.equals(body(q, 1000)), `seq ${q} after interior removals`);
    s.truncate(N - 100);
    for (let i = 0; i < 50; i++) s.storeMsg("l", undefined, body(3, 1000));
    assert.ok(s.loadMsg(N - 100)!.data.equals(body(N - 100, 1000)));
    assert.ok(s.loadMsg(N - 50)!.data.equals(body(3, 1000)));
    s.stop();
  });

  it("erasing a message zeroes its bytes only", () => {
    const s = new MemStore({ name: "ERASE" }, { logger: silentLogger });
    for (let i = 1; i <= 600; i++) s.storeMsg("x", undefined, body(i, 1000));
    const neighbour = s.loadMsg(301)!.data;
    const erased = s.loadMsg(300)!.data;
    s.eraseMsg(300);
    assert.ok(erased.every((b) => b === 0));
    assert.ok(neighbour.equals(body(301, 1000)));
    assert.equal(s.loadMsg(300), null);
    s.stop();
  });
});
