// Shared StreamStore test suite, run over MemStore (storage_memstore.test.ts) and
// FileStore (storage_filestore.test.ts). This file registers no tests by itself.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ErrMaxBytes,
  ErrMaxMsgs,
  ErrMaxMsgSize,
  ErrMaxMsgsPerSubject,
  ErrSequenceMismatch,
  RemoveReason,
  StoreError,
  StreamStore,
  StreamStoreConfig,
  isStoreError,
  storeMsgSize,
} from "../src/storage/store.js";
import { nowNs, parseRfc3339, rfc3339 } from "../src/server/time.js";
import { subjectMatches } from "../src/protocol/subject.js";
import { waitUntil } from "./helpers/server.js";

export interface StoreFactory {
  name: string;
  persistent: boolean;
  create(cfg: Partial<StreamStoreConfig>, opts?: { onRemove?: (seq: number, subj: string, why: RemoveReason) => void }): StreamStore;
  /** Stop and open again (memory: same instance). */
  reopen(s: StreamStore): StreamStore;
  destroy(s: StreamStore): void;
}

const b = (s: string): Buffer => Buffer.from(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function runStoreSuite(f: StoreFactory): void {
  // nats-server accounts bytes differently per store kind (file: record framing, memory: +16).
  const msgSize = (subject: string, hdr: Buffer | undefined, data: Buffer): number =>
    storeMsgSize(f.persistent ? "file" : "memory", subject, hdr, data);
  const live: StreamStore[] = [];
  const mk = (cfg: Partial<StreamStoreConfig> = {}, opts?: Parameters<StoreFactory["create"]>[1]): StreamStore => {
    const s = f.create({ name: "T", ...cfg }, opts);
    live.push(s);
    return s;
  };
  const re = (s: StreamStore): StreamStore => {
    const n = f.reopen(s);
    live.push(n);
    return n;
  };
  after(() => {
    for (const s of live) {
      try {
        f.destroy(s);
      } catch {
        // already gone
      }
    }
  });

  describe(`${f.name}: basics`, () => {
    it("stores and loads with sequences, times, headers and sizes", () => {
      const s = mk();
      const st0 = s.state();
      assert.equal(st0.msgs, 0);
      assert.equal(st0.firstSeq, 0);
      assert.equal(st0.lastSeq, 0);
      const t0 = nowNs();
      const r1 = s.storeMsg("foo", undefined, b("one"));
      const r2 = s.storeMsg("bar.baz", b("NATS/1.0\r\nA: b\r\n\r\n"), b("two"));
      const r3 = s.storeMsg("foo", Buffer.alloc(0), Buffer.alloc(0));
      assert.deepEqual([r1.seq, r2.seq, r3.seq], [1, 2, 3]);
      assert.ok(r1.time >= t0 && r2.time > r1.time && r3.time > r2.time);
      const m1 = s.loadMsg(1)!;
      assert.equal(m1.subject, "foo");
      assert.equal(m1.seq, 1);
      assert.equal(m1.time, r1.time);
      assert.equal(m1.hdr, undefined);
      assert.equal(m1.data.toString(), "one");
      const m2 = s.loadMsg(2)!;
      assert.equal(m2.hdr!.toString(), "NATS/1.0\r\nA: b\r\n\r\n");
      assert.equal(m2.data.toString(), "two");
      const m3 = s.loadMsg(3)!;
      assert.equal(m3.hdr, undefined);
      assert.equal(m3.data.length, 0);
      assert.equal(s.loadMsg(4), null);
      assert.equal(s.loadMsg(0), null);
      const st = s.state();
      assert.equal(st.msgs, 3);
      assert.equal(st.firstSeq, 1);
      assert.equal(st.lastSeq, 3);
      assert.equal(st.firstTime, r1.time);
      assert.equal(st.lastTime, r3.time);
      assert.equal(st.numSubjects, 2);
      assert.equal(st.numDeleted, 0);
      const bytes =
        msgSize("foo", undefined, b("one")) +
        msgSize("bar.baz", b("NATS/1.0\r\nA: b\r\n\r\n"), b("two")) +
        msgSize("foo", undefined, Buffer.alloc(0));
      assert.equal(st.bytes, bytes);
      // nats-server 2.9: file = 22 + subject + (4 + headers) + data + 8, memory = subject + headers + data + 16
      assert.equal(msgSize("foo", undefined, b("one")), f.persistent ? 22 + 3 + 3 + 8 : 3 + 3 + 16);
      assert.equal(
        msgSize("bar.baz", b("NATS/1.0\r\nA: b\r\n\r\n"), b("two")),
        f.persistent ? 22 + 7 + 4 + 18 + 3 + 8 : 7 + 18 + 3 + 16,
      );
    });

    it("copies input buffers", () => {
      const s = mk();
      const data = b("hello");
      s.storeMsg("a", undefined, data);
      data.write("XXXXX");
      assert.equal(s.loadMsg(1)!.data.toString(), "hello");
    });

    it("rejects empty subjects", () => {
      const s = mk();
      assert.throws(() => s.storeMsg("", undefined, b("x")), (e) => isStoreError(e, "ErrBadSubject"));
    });

    it("storeRawMsg requires the next sequence; skipMsg / skipMsgs", () => {
      const s = mk();
      s.storeRawMsg("a", undefined, b("1"), 1, 1000n);
      s.storeRawMsg("a", undefined, b("2"), 0, 2000n);
      assert.equal(s.loadMsg(2)!.time, 2000n);
      assert.throws(() => s.storeRawMsg("a", undefined, b("x"), 5, 3000n), ErrSequenceMismatch);
      assert.equal(s.skipMsg(), 3);
      assert.throws(() => s.skipMsg(7), ErrSequenceMismatch);
      s.skipMsgs(4, 3); // 4,5,6
      const r = s.storeMsg("a", undefined, b("7"));
      assert.equal(r.seq, 7);
      const st = s.state(true);
      assert.equal(st.msgs, 3);
      assert.equal(st.lastSeq, 7);
      assert.deepEqual(st.deleted, [3, 4, 5, 6]);
      assert.equal(st.numDeleted, 4);
    });

    it("skips on an empty store move firstSeq", () => {
      const s = mk();
      s.skipMsg();
      s.skipMsgs(2, 4);
      let st = s.state();
      assert.equal(st.lastSeq, 5);
      assert.equal(st.firstSeq, 6);
      assert.equal(st.msgs, 0);
      s.storeMsg("x", undefined, b("6"));
      st = s.state();
      assert.equal(st.firstSeq, 6);
      assert.equal(st.lastSeq, 6);
    });

    it("honours config firstSeq", () => {
      const s = mk({ firstSeq: 100 });
      let st = s.state();
      assert.equal(st.firstSeq, 100);
      assert.equal(st.lastSeq, 99);
      assert.equal(s.storeMsg("a", undefined, b("x")).seq, 100);
      const s2 = re(s);
      st = s2.state();
      assert.equal(st.firstSeq, 100);
      assert.equal(st.lastSeq, 100);
      assert.equal(s2.storeMsg("a", undefined, b("y")).seq, 101);
    });

    it("throws ErrStoreClosed after stop", () => {
      const s = mk();
      s.storeMsg("a", undefined, b("x"));
      s.stop();
      assert.equal(s.isClosed, true);
      assert.throws(() => s.storeMsg("a", undefined, b("x")), (e) => isStoreError(e, "ErrStoreClosed"));
      assert.throws(() => s.loadMsg(1), (e) => isStoreError(e, "ErrStoreClosed"));
    });
  });

  describe(`${f.name}: filters and loads`, () => {
    const fill = (s: StreamStore): void => {
      // 1 orders.new.1, 2 orders.new.2, 3 orders.shipped.1, 4 events.x, 5 orders.new.1, 6 events.y.z, 7 orders.shipped.2
      for (const subj of ["orders.new.1", "orders.new.2", "orders.shipped.1", "events.x", "orders.new.1", "events.y.z", "orders.shipped.2"]) {
        s.storeMsg(subj, undefined, b(subj));
      }
    };

    it("loadNextMsg with literal, * and > filters", () => {
      const s = mk();
      fill(s);
      assert.equal(s.loadNextMsg("", 1)!.seq, 1);
      assert.equal(s.loadNextMsg(">", 3)!.seq, 3);
      assert.equal(s.loadNextMsg("orders.new.1", 2)!.seq, 5);
      assert.equal(s.loadNextMsg("orders.new.1", 6), null);
      assert.equal(s.loadNextMsg("orders.*.2", 1)!.seq, 2);
      assert.equal(s.loadNextMsg("orders.*.2", 3)!.seq, 7);
      assert.equal(s.loadNextMsg("events.>", 1)!.seq, 4);
      assert.equal(s.loadNextMsg("events.>", 5)!.seq, 6);
      assert.equal(s.loadNextMsg("events.*", 5), null);
      assert.equal(s.loadNextMsg("*.shipped.*", 0)!.seq, 3);
      assert.equal(s.loadNextMsg("nothing", 1), null);
      assert.equal(s.loadNextMsg(">", 8), null);
      s.removeMsg(3);
      assert.equal(s.loadNextMsg("*.shipped.*", 1)!.seq, 7);
      assert.equal(s.loadNextMsg(">", 3)!.seq, 4);
    });

    it("loadNextMsgMulti", () => {
      const s = mk();
      fill(s);
      assert.equal(s.loadNextMsgMulti(["events.y.z", "orders.shipped.*"], 1)!.seq, 3);
      assert.equal(s.loadNextMsgMulti(["events.y.z", "orders.shipped.*"], 4)!.seq, 6);
      assert.equal(s.loadNextMsgMulti(["events.y.z", "orders.shipped.*"], 7)!.seq, 7);
      assert.equal(s.loadNextMsgMulti(["nope", "nope.>"], 1), null);
    });

    it("loadLastMsg / loadPrevMsg", () => {
      const s = mk();
      fill(s);
      assert.equal(s.loadLastMsg("orders.new.1")!.seq, 5);
      assert.equal(s.loadLastMsg("orders.new.*")!.seq, 5);
      assert.equal(s.loadLastMsg("events.>")!.seq, 6);
      assert.equal(s.loadLastMsg(">")!.seq, 7);
      assert.equal(s.loadLastMsg("")!.seq, 7);
      assert.equal(s.loadLastMsg("zzz"), null);
      s.removeMsg(7);
      assert.equal(s.loadLastMsg(">")!.seq, 6);
      assert.equal(s.loadLastMsg("orders.shipped.*")!.seq, 3);
      assert.equal(s.loadPrevMsg(4)!.seq, 4);
      assert.equal(s.loadPrevMsg(4, "orders.new.*")!.seq, 2);
      assert.equal(s.loadPrevMsg(0), null);
      assert.equal(s.loadPrevMsg(100)!.seq, 6);
    });

    it("filteredState, subjectsState, subjectsTotals, numPending", () => {
      const s = mk();
      fill(s);
      assert.deepEqual(s.filteredState(1, ">"), { msgs: 7, first: 1, last: 7 });
      assert.deepEqual(s.filteredState(3, ""), { msgs: 5, first: 3, last: 7 });
      assert.deepEqual(s.filteredState(1, "orders.new.1"), { msgs: 2, first: 1, last: 5 });
      assert.deepEqual(s.filteredState(2, "orders.new.1"), { msgs: 1, first: 5, last: 5 });
      assert.deepEqual(s.filteredState(1, "orders.*.*"), { msgs: 5, first: 1, last: 7 });
      assert.deepEqual(s.filteredState(4, "orders.>"), { msgs: 2, first: 5, last: 7 });
      assert.deepEqual(s.filteredState(8, ">"), { msgs: 0, first: 0, last: 0 });
      assert.deepEqual(s.filteredState(1, "none"), { msgs: 0, first: 0, last: 0 });
      const ss = s.subjectsState("orders.>");
      assert.deepEqual(ss.get("orders.new.1"), { msgs: 2, first: 1, last: 5 });
      assert.deepEqual(ss.get("orders.shipped.2"), { msgs: 1, first: 7, last: 7 });
      assert.equal(ss.size, 4);
      const tot = s.subjectsTotals(">");
      assert.equal(tot.size, 6);
      assert.equal(tot.get("orders.new.1"), 2);
      assert.deepEqual([...s.subjectsTotals("events.*")], [["events.x", 1]]);
      assert.equal(s.numPending(1, ">", false), 7);
      assert.equal(s.numPending(5, "orders.>", false), 2);
      assert.equal(s.numPending(1, ">", true), 6);
      assert.equal(s.numPending(2, "orders.new.*", true), 2);
      assert.equal(s.numPending(6, "orders.new.*", true), 0);
      s.removeMsg(5);
      assert.deepEqual(s.filteredState(1, "orders.new.1"), { msgs: 1, first: 1, last: 1 });
      assert.equal(s.numPending(2, "orders.new.*", true), 1);
    });

    it("getSeqFromTime and multiLastSeqs", () => {
      const s = mk();
      s.storeRawMsg("a.1", undefined, b("x"), 1, 100n);
      s.storeRawMsg("a.2", undefined, b("x"), 2, 200n);
      s.storeRawMsg("a.1", undefined, b("x"), 3, 300n);
      s.storeRawMsg("b.1", undefined, b("x"), 4, 400n);
      assert.equal(s.getSeqFromTime(0n), 1);
      assert.equal(s.getSeqFromTime(150n), 2);
      assert.equal(s.getSeqFromTime(300n), 3);
      assert.equal(s.getSeqFromTime(401n), 5);
      s.removeMsg(2);
      assert.equal(s.getSeqFromTime(150n), 3);
      assert.deepEqual(s.multiLastSeqs(["a.*"], 0, 0), [1, 3].slice(1));
      assert.deepEqual(s.multiLastSeqs([">"], 0, 0), [3, 4]);
      assert.deepEqual(s.multiLastSeqs([">"], 2, 0), [1]);
      assert.throws(() => s.multiLastSeqs([">"], 0, 1), (e) => isStoreError(e, "ErrTooManyResults"));
    });
  });

  describe(`${f.name}: removal`, () => {
    it("removeMsg first / middle / last and state", () => {
      const s = mk();
      for (let i = 1; i <= 10; i++) s.storeMsg(`s.${i % 2}`, undefined, b(`m${i}`));
      assert.equal(s.removeMsg(1), true);
      assert.equal(s.removeMsg(1), false);
      assert.equal(s.removeMsg(5), true);
      assert.equal(s.removeMsg(10), true);
      assert.equal(s.removeMsg(99), false);
      let st = s.state(true);
      assert.equal(st.msgs, 7);
      assert.equal(st.firstSeq, 2);
      assert.equal(st.lastSeq, 10);
      assert.deepEqual(st.deleted, [5, 10]);
      assert.equal(st.numDeleted, 2);
      assert.equal(s.loadMsg(5), null);
      s.removeMsg(2);
      s.removeMsg(3);
      s.removeMsg(4);
      st = s.state();
      assert.equal(st.firstSeq, 6);
      assert.equal(st.firstTime, s.loadMsg(6)!.time);
      for (const q of [6, 7, 8, 9]) s.removeMsg(q);
      st = s.state();
      assert.equal(st.msgs, 0);
      assert.equal(st.bytes, 0);
      assert.equal(st.firstSeq, 11);
      assert.equal(st.lastSeq, 10);
      assert.equal(st.numSubjects, 0);
      assert.equal(s.storeMsg("x", undefined, b("y")).seq, 11);
    });

    it("eraseMsg removes the message", () => {
      const s = mk();
      s.storeMsg("a", undefined, b("secret-1"));
      s.storeMsg("a", undefined, b("secret-2"));
      assert.equal(s.eraseMsg(1), true);
      assert.equal(s.loadMsg(1), null);
      assert.equal(s.loadMsg(2)!.data.toString(), "secret-2");
      assert.equal(s.state().msgs, 1);
      assert.equal(s.eraseMsg(1), false);
    });

    it("onRemove hook reports every removal with its reason", () => {
      const seen: [number, string, RemoveReason][] = [];
      const s = mk({ maxMsgs: 5 }, { onRemove: (q, subj, why) => seen.push([q, subj, why]) });
      for (let i = 1; i <= 7; i++) s.storeMsg(`h.${i}`, undefined, b("x"));
      s.removeMsg(4);
      s.purgeEx("h.5");
      s.purge();
      assert.deepEqual(seen, [
        [1, "h.1", "limits"],
        [2, "h.2", "limits"],
        [4, "h.4", "remove"],
        [5, "h.5", "purge"],
        [3, "h.3", "purge"],
        [6, "h.6", "purge"],
        [7, "h.7", "purge"],
      ]);
    });
  });

  describe(`${f.name}: limits`, () => {
    it("maxMsgs with discard old", () => {
      const s = mk({ maxMsgs: 3 });
      for (let i = 1; i <= 5; i++) s.storeMsg("a", undefined, b(`${i}`));
      const st = s.state();
      assert.equal(st.msgs, 3);
      assert.equal(st.firstSeq, 3);
      assert.equal(st.lastSeq, 5);
    });

    it("maxBytes with discard old", () => {
      const sz = msgSize("a", undefined, Buffer.alloc(10));
      const s = mk({ maxBytes: sz * 3 });
      for (let i = 1; i <= 5; i++) s.storeMsg("a", undefined, Buffer.alloc(10, i));
      const st = s.state();
      assert.equal(st.msgs, 3);
      assert.equal(st.bytes, sz * 3);
      assert.equal(st.firstSeq, 3);
    });

    it("maxMsgs / maxBytes / maxMsgSize with discard new", () => {
      const s = mk({ maxMsgs: 2, discard: "new" });
      s.storeMsg("a", undefined, b("1"));
      s.storeMsg("a", undefined, b("2"));
      assert.throws(() => s.storeMsg("a", undefined, b("3")), ErrMaxMsgs);
      assert.throws(() => s.storeMsg("a", undefined, b("3")), (e) => e instanceof StoreError && e.code === "ErrMaxMsgs");
      assert.equal(s.state().lastSeq, 2);

      const sz = msgSize("a", undefined, Buffer.alloc(10));
      // nats-server 2.14+ (both stores): refused when the record would take the total past
      // maxBytes; reaching it exactly is allowed.
      const s2 = mk({ maxBytes: sz * 3, discard: "new" });
      for (let i = 0; i < 3; i++) s2.storeMsg("a", undefined, Buffer.alloc(10));
      assert.equal(s2.state().bytes, sz * 3);
      assert.throws(() => s2.storeMsg("a", undefined, Buffer.alloc(10)), ErrMaxBytes);
      const s4 = mk({ maxBytes: sz * 3 - 1, discard: "new" });
      for (let i = 0; i < 2; i++) s4.storeMsg("a", undefined, Buffer.alloc(10));
      assert.throws(() => s4.storeMsg("a", undefined, Buffer.alloc(10)), ErrMaxBytes);
      assert.deepEqual([s4.state().msgs, s4.state().bytes], [2, sz * 2]);

      const s3 = mk({ maxMsgSize: 8 });
      s3.storeMsg("a", b("1234"), b("1234"));
      assert.throws(() => s3.storeMsg("a", b("1234"), b("12345")), ErrMaxMsgSize);
      assert.equal(s3.state().msgs, 1);
    });

    it("maxMsgsPerSubject keeps the newest per subject", () => {
      const s = mk({ maxMsgsPerSubject: 2 });
      for (let i = 1; i <= 9; i++) s.storeMsg(`kv.${i % 3}`, undefined, b(`${i}`));
      const st = s.state(true);
      assert.equal(st.msgs, 6);
      assert.equal(st.firstSeq, 4);
      assert.deepEqual(st.deleted, []);
      assert.deepEqual(s.subjectsState("kv.1").get("kv.1"), { msgs: 2, first: 4, last: 7 });
      assert.equal(s.loadLastMsg("kv.0")!.data.toString(), "9");

      const kv = mk({ maxMsgsPerSubject: 1 });
      for (let i = 0; i < 1000; i++) kv.storeMsg(`key.${i % 10}`, undefined, b(`${i}`));
      assert.equal(kv.state().msgs, 10);
      assert.equal(kv.state().firstSeq, 991);
      assert.equal(kv.loadLastMsg("key.3")!.data.toString(), "993");
    });

    it("discard new per subject", () => {
      const s = mk({ maxMsgsPerSubject: 1, discard: "new", discardNewPerSubject: true, maxMsgs: 100 });
      s.storeMsg("k.1", undefined, b("1"));
      assert.throws(() => s.storeMsg("k.1", undefined, b("2")), ErrMaxMsgsPerSubject);
      s.storeMsg("k.2", undefined, b("3"));
      // without discardNewPerSubject the per-subject limit replaces, even at maxMsgs
      const s2 = mk({ maxMsgsPerSubject: 1, discard: "new", maxMsgs: 2 });
      s2.storeMsg("k.1", undefined, b("1"));
      s2.storeMsg("k.2", undefined, b("2"));
      s2.storeMsg("k.1", undefined, b("3"));
      assert.throws(() => s2.storeMsg("k.3", undefined, b("4")), ErrMaxMsgs);
      assert.equal(s2.state().firstSeq, 2);
      assert.deepEqual(s2.state(true).deleted, []);
      assert.equal(s2.loadLastMsg("k.1")!.data.toString(), "3");
    });

    it("updateConfig applies new limits immediately", () => {
      const s = mk();
      for (let i = 1; i <= 20; i++) s.storeMsg(`u.${i % 4}`, undefined, b(`${i}`));
      s.updateConfig({ maxMsgsPerSubject: 3 });
      assert.equal(s.state().msgs, 12);
      s.updateConfig({ maxMsgs: 5 });
      let st = s.state();
      assert.equal(st.msgs, 5);
      assert.equal(st.firstSeq, 16);
      assert.equal(s.config().maxMsgs, 5);
      s.updateConfig({ maxMsgs: -1, maxBytes: msgSize("u.1", undefined, b("20")) * 2 });
      st = s.state();
      assert.equal(st.msgs, 2);
      s.updateConfig({ maxAgeMs: undefined, discard: "old" });
      assert.equal(s.config().maxMsgsPerSubject, 3);
      const s2 = re(s);
      assert.equal(s2.config().maxMsgsPerSubject, 3);
      assert.equal(s2.state().msgs, 2);
    });

    // Expiry runs on the stores' own timers (nothing here calls expireNow before the end), so
    // the tests wait for it to happen. That a message is kept while it is younger than its
    // limit is asserted when the check itself ran within that age, measured on the store's
    // clock: a machine stalled past the limit cannot make a kept message look lost.
    const ageMs = (storedAt: bigint): number => Number(nowNs() - storedAt) / 1e6;

    it("max age expires old messages on its timer", async (t) => {
      const AGE = 1000;
      const s = mk({ maxAgeMs: AGE });
      s.storeMsg("a", undefined, b("1"));
      s.storeMsg("a", undefined, b("2"));
      await sleep(AGE / 2);
      const stored3 = s.storeMsg("a", undefined, b("3")).time;
      await waitUntil(() => s.state().firstSeq >= 3, 30_000, "1 and 2 expired");
      const age3 = ageMs(stored3);
      let st = s.state();
      if (age3 < AGE) {
        assert.equal(st.msgs, 1);
        assert.equal(st.firstSeq, 3);
      } else t.diagnostic(`3 was ${age3} ms old when checked: its survival not checked`);
      await waitUntil(() => s.state().msgs === 0, 30_000, "3 expired");
      st = s.state();
      assert.equal(st.msgs, 0);
      assert.equal(st.firstSeq, 4);
    });

    it("per-message TTL, and ttl -1 survives max age", async (t) => {
      const s = mk({ maxAgeMs: 250 });
      s.storeMsg("t", undefined, b("long-ttl"), 30); // a positive TTL does not extend max age
      s.storeMsg("t", undefined, b("never"), -1);
      s.storeMsg("t", undefined, b("default"));
      const s2 = mk();
      const storedShort = s2.storeMsg("t", undefined, b("short"), 1).time;
      s2.storeMsg("t", undefined, b("keep"));
      await waitUntil(() => s.state().msgs === 1, 30_000, "max age expired 1 and 3");
      assert.equal(s.loadMsg(1), null);
      assert.equal(s.loadMsg(2)!.data.toString(), "never");
      assert.equal(s.loadMsg(3), null);
      const shortAge = ageMs(storedShort);
      const short = s2.loadMsg(1);
      // (TTL deadlines are kept in Date.now() ms, the store's clock in ns: a margin for the two)
      if (shortAge < 900) assert.equal(short?.data.toString(), "short");
      else t.diagnostic(`the 1 s TTL message was ${shortAge} ms old when checked: its survival not checked`);
      await waitUntil(() => s2.loadMsg(1) === null, 30_000, "the 1 s TTL expired");
      assert.equal(s2.loadMsg(2)!.data.toString(), "keep");
      assert.equal(s2.expireNow(), 0);
      assert.equal(s.expireNow(), 0);
      assert.equal(s.state().firstSeq, 2);
    });

    it("TTLs survive a restart", async () => {
      let s = mk();
      s.storeMsg("t", undefined, b("short"), 1);
      s.storeMsg("t", undefined, b("keep"));
      s = re(s);
      await waitUntil(() => s.loadMsg(1) === null, 30_000, "the 1 s TTL expired after the restart");
      assert.equal(s.loadMsg(2)!.data.toString(), "keep");
    });
  });

  describe(`${f.name}: purge, compact, truncate`, () => {
    const fill = (s: StreamStore, n: number): void => {
      for (let i = 1; i <= n; i++) s.storeMsg(`p.${i % 3}`, undefined, b(`${i}`));
    };

    it("purge", () => {
      const s = mk();
      fill(s, 10);
      assert.equal(s.purge(), 10);
      let st = s.state();
      assert.equal(st.msgs, 0);
      assert.equal(st.bytes, 0);
      assert.equal(st.firstSeq, 11);
      assert.equal(st.lastSeq, 10);
      assert.equal(st.numSubjects, 0);
      assert.equal(s.storeMsg("p.1", undefined, b("x")).seq, 11);
      const s2 = re(s);
      st = s2.state();
      assert.equal(st.msgs, 1);
      assert.equal(st.firstSeq, 11);
      assert.equal(s2.loadMsg(11)!.data.toString(), "x");
      assert.equal(s2.loadMsg(3), null);
    });

    it("purgeEx by subject, with keep, with seq", () => {
      let s = mk();
      fill(s, 12); // p.1: 1,4,7,10  p.2: 2,5,8,11  p.0: 3,6,9,12
      assert.equal(s.purgeEx("p.1"), 4);
      assert.equal(s.state().msgs, 8);
      assert.equal(s.loadNextMsg("p.1", 1), null);
      assert.equal(s.purgeEx("p.2", 0, 1), 3);
      assert.deepEqual(s.filteredState(1, "p.2"), { msgs: 1, first: 11, last: 11 });
      assert.equal(s.purgeEx("p.0", 9), 2); // 3 and 6
      assert.deepEqual(s.filteredState(1, "p.0"), { msgs: 2, first: 9, last: 12 });
      assert.equal(s.purgeEx("p.*", 0, 2), 1); // keep last 2 matching of 9, 11, 12
      assert.equal(s.state().firstSeq, 11);
      assert.deepEqual(s.state(true).deleted, []);
      s = re(s);
      assert.equal(s.state().msgs, 2);
      assert.equal(s.state().firstSeq, 11);

      const w = mk();
      fill(w, 10);
      assert.equal(w.purgeEx("", 4), 3); // compact to 4
      assert.equal(w.state().firstSeq, 4);
      assert.equal(w.purgeEx(">", 0, 3), 4); // keep last 3
      assert.equal(w.state().firstSeq, 8);
      assert.equal(w.purgeEx(">", 0, 5), 0);
      w.removeMsg(9);
      assert.equal(w.purgeEx(">", 0, 1), 1); // keeps exactly one message (10)
      assert.equal(w.state().msgs, 1);
      assert.equal(w.state().firstSeq, 10);
      assert.equal(w.purgeEx(), 1);
      assert.equal(w.state().firstSeq, 11);
    });

    it("compact", () => {
      const s = mk();
      fill(s, 10);
      assert.equal(s.compact(6), 5);
      let st = s.state();
      assert.equal(st.firstSeq, 6);
      assert.equal(st.msgs, 5);
      assert.equal(s.compact(3), 0);
      assert.equal(s.compact(20), 5);
      st = s.state();
      assert.equal(st.msgs, 0);
      assert.equal(st.firstSeq, 20);
      assert.equal(st.lastSeq, 19);
      assert.equal(s.storeMsg("x", undefined, b("x")).seq, 20);
      const s2 = re(s);
      st = s2.state();
      assert.equal(st.firstSeq, 20);
      assert.equal(st.lastSeq, 20);
      assert.equal(st.msgs, 1);
    });

    it("truncate", () => {
      const s = mk();
      fill(s, 10);
      s.removeMsg(6);
      s.truncate(6);
      let st = s.state();
      assert.equal(st.lastSeq, 6);
      assert.equal(st.msgs, 5);
      assert.equal(st.lastTime, s.loadMsg(5)!.time);
      assert.equal(s.loadLastMsg("p.1")!.seq, 4);
      assert.equal(s.subjectsTotals(">").get("p.1"), 2);
      assert.throws(() => s.truncate(100), (e) => isStoreError(e, "ErrInvalidSequence"));
      assert.equal(s.storeMsg("p.1", undefined, b("new7")).seq, 7);
      assert.equal(s.loadLastMsg("p.1")!.data.toString(), "new7");
      const s2 = re(s);
      st = s2.state(true);
      assert.equal(st.lastSeq, 7);
      assert.equal(st.msgs, 6);
      assert.deepEqual(st.deleted, [6]);
      assert.equal(s2.loadMsg(7)!.data.toString(), "new7");
      s2.truncate(0);
      st = s2.state();
      assert.equal(st.msgs, 0);
      assert.equal(st.lastSeq, 0);
      assert.equal(s2.storeMsg("z", undefined, b("z")).seq, 1);
    });
  });

  describe(`${f.name}: consumer stores`, () => {
    it("create, update, state, list, delete", async () => {
      let s = mk();
      const cs = s.createConsumer("C1", { durable_name: "C1", ack_policy: "explicit" });
      assert.deepEqual(cs.state().delivered, { consumer_seq: 0, stream_seq: 0 });
      const st = cs.state();
      st.delivered = { consumer_seq: 5, stream_seq: 10 };
      st.ack_floor = { consumer_seq: 2, stream_seq: 4 };
      st.pending.set(7, { sequence: 3, timestamp: 1700000000123 });
      st.pending.set(10, { sequence: 5, timestamp: 1700000000456 });
      st.redelivered.set(7, 2);
      cs.update(st);
      const copy = cs.state();
      assert.notEqual(copy.pending, st.pending);
      assert.deepEqual(copy, st);
      s.createConsumer("C2", { durable_name: "C2" });
      assert.deepEqual(s.listConsumers().sort(), ["C1", "C2"]);
      assert.throws(() => s.openConsumer("nope"), (e) => isStoreError(e, "ErrNotFound"));
      await cs.sync();
      s = re(s);
      if (f.persistent) {
        assert.deepEqual(s.listConsumers().sort(), ["C1", "C2"]);
        const c1 = s.openConsumer("C1");
        assert.deepEqual(c1.config(), { durable_name: "C1", ack_policy: "explicit" });
        assert.deepEqual(c1.state(), st);
      }
      s.openConsumer("C2").delete();
      assert.deepEqual(s.listConsumers(), ["C1"]);
    });
  });

  describe(`${f.name}: randomized against a model`, () => {
    it("matches a reference model through random operations", () => {
      let seed = Number(process.env.TSNATS_SEED ?? 12345);
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const subjects = ["a.b", "a.c", "x.y.z", "x.y.w", ...Array.from({ length: 20 }, (_, i) => `k.${i}`)];
      const filters = [">", "a.*", "x.>", "x.y.*", "k.*", "k.7", "a.b", "*.y.*", "nomatch"];
      const maxPer = 8;
      let s = mk({ maxMsgsPerSubject: maxPer });
      const model = new Map<number, { subject: string; data: string }>();
      let lastSeq = 0;
      let everStored = false;
      const modelFirst = (): number => {
        let m = Infinity;
        for (const k of model.keys()) if (k < m) m = k;
        return m === Infinity ? (everStored ? lastSeq + 1 : 0) : m;
      };
      const sorted = (): number[] => Array.from(model.keys()).sort((x, y) => x - y);
      const check = (): void => {
        const st = s.state();
        assert.equal(st.msgs, model.size, "msgs");
        assert.equal(st.lastSeq, lastSeq, "lastSeq");
        assert.equal(st.firstSeq, modelFirst(), "firstSeq");
        let bytes = 0;
        for (const v of model.values()) bytes += msgSize(v.subject, undefined, b(v.data));
        assert.equal(st.bytes, bytes, "bytes");
        const subjCount = new Set(Array.from(model.values(), (v) => v.subject)).size;
        assert.equal(st.numSubjects, subjCount, "numSubjects");
        const seqs = sorted();
        for (let k = 0; k < 20; k++) {
          const q = 1 + rnd(lastSeq + 2);
          const m = s.loadMsg(q);
          const e = model.get(q);
          if (!e) assert.equal(m, null, `load ${q}`);
          else {
            assert.ok(m, `load ${q}`);
            assert.equal(m.subject, e.subject);
            assert.equal(m.data.toString(), e.data);
          }
        }
        for (const flt of filters) {
          const start = 1 + rnd(lastSeq + 2);
          const exp = seqs.find((q) => q >= start && subjectMatches(flt, model.get(q)!.subject));
          assert.equal(s.loadNextMsg(flt, start)?.seq ?? 0, exp ?? 0, `next ${flt} ${start}`);
          const match = seqs.filter((q) => q >= start && subjectMatches(flt, model.get(q)!.subject));
          const fs = s.filteredState(start, flt);
          assert.equal(fs.msgs, match.length, `filtered ${flt} ${start}`);
          if (match.length) {
            assert.equal(fs.first, match[0], `filtered first ${flt} ${start}`);
            assert.equal(fs.last, match[match.length - 1], `filtered last ${flt} ${start}`);
          }
          const lastMatch = seqs.filter((q) => subjectMatches(flt, model.get(q)!.subject)).pop();
          assert.equal(s.loadLastMsg(flt)?.seq ?? 0, lastMatch ?? 0, `last ${flt}`);
          const lps = new Set<string>();
          for (const q of seqs) {
            const sj = model.get(q)!.subject;
            if (subjectMatches(flt, sj)) lps.add(sj);
          }
          let lpsCount = 0;
          for (const sj of lps) {
            const lastOf = seqs.filter((q) => model.get(q)!.subject === sj).pop()!;
            if (lastOf >= start) lpsCount++;
          }
          assert.equal(s.numPending(start, flt, true), lpsCount, `numPending lps ${flt} ${start}`);
        }
        const tot = s.subjectsTotals(">");
        const mt = new Map<string, number>();
        for (const v of model.values()) mt.set(v.subject, (mt.get(v.subject) ?? 0) + 1);
        assert.deepEqual(new Map([...tot].sort()), new Map([...mt].sort()));
      };
      for (let step = 0; step < 6000; step++) {
        const op = rnd(100);
        if (op < 60) {
          const subj = subjects[rnd(subjects.length)]!;
          const data = `d${step}-${"x".repeat(rnd(40))}`;
          const r = s.storeMsg(subj, undefined, b(data));
          lastSeq = r.seq;
          everStored = true;
          model.set(r.seq, { subject: subj, data });
          const same = sorted().filter((q) => model.get(q)!.subject === subj);
          while (same.length > maxPer) model.delete(same.shift()!);
        } else if (op < 78) {
          const seqs = sorted();
          const q = seqs.length && rnd(4) ? seqs[rnd(seqs.length)]! : 1 + rnd(lastSeq + 1);
          assert.equal(s.removeMsg(q), model.delete(q));
        } else if (op < 80) {
          const flt = filters[rnd(filters.length)]!;
          const keep = rnd(3);
          const matching = sorted().filter((q) => subjectMatches(flt, model.get(q)!.subject));
          const n = s.purgeEx(flt === ">" ? "x.>" : flt, 0, keep);
          const m2 = flt === ">" ? sorted().filter((q) => subjectMatches("x.>", model.get(q)!.subject)) : matching;
          const del = keep >= m2.length ? [] : m2.slice(0, m2.length - keep);
          for (const q of del) model.delete(q);
          assert.equal(n, del.length, "purgeEx count");
        } else if (op < 81) {
          const upto = lastSeq + 3 - rnd(30);
          if (upto >= 1) {
            s.compact(upto);
            for (const q of Array.from(model.keys())) if (q < upto) model.delete(q);
            if (upto > lastSeq) {
              lastSeq = upto - 1;
              everStored = true;
            }
          }
        } else if (op < 82 && lastSeq > 0) {
          const to = Math.max(lastSeq - rnd(20), modelFirst() === 0 ? 1 : Math.max(modelFirst() - 1, 1));
          if (to <= lastSeq) {
            s.truncate(to);
            for (const q of Array.from(model.keys())) if (q > to) model.delete(q);
            lastSeq = to;
          }
        } else if (op < 84) {
          lastSeq = s.skipMsg();
          everStored = true;
        } else if (op < 85 && f.persistent) {
          s = re(s);
        } else if (op < 86 && rnd(10) === 0) {
          s.purge();
          model.clear();
        }
        if (step % 97 === 0) check();
      }
      check();
      s = re(s);
      check();
    });
  });

  describe(`${f.name}: time helpers`, () => {
    it("RFC3339 round trip with nanoseconds", () => {
      const t = 1714558272123456789n;
      const str = rfc3339(t);
      assert.equal(str, "2024-05-01T10:11:12.123456789Z");
      assert.equal(parseRfc3339(str), t);
      assert.equal(rfc3339(1714558272000000000n), "2024-05-01T10:11:12Z");
      assert.equal(parseRfc3339("2024-05-01T12:11:12.5+02:00"), 1714558272500000000n);
    });
  });
}
