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
