// Rolling upgrades between tsnats versions: the RAFT append answer grew from 25 to 33 bytes (the
// follower's applied index, dcaa661) and to 41 (its commit index, 34531f0). The rule in
// raft_wire.ts: a message of fixed layout only grows at its end, and a receiver ignores the bytes
// after the fields it knows. Before it, a receiver refused any answer longer than its own layout
// (an older leader dropped every answer of a newer follower), and read both optional fields or
// none (a 33-byte answer of a dcaa661 follower failed on the missing commit index).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimCluster, runSeed } from "./helpers/raft_sim.js";
import { ENTRY_NORMAL, makeEntry } from "../src/cluster/raft_store.js";
import { decodeRaftMsg, encodeRaftMsg } from "../src/cluster/raft_wire.js";
import type { RaftMsg } from "../src/cluster/raft.js";

const SENDER = "server-1";
/** kind and sender: u8 kind, u8 sender length, the sender's id. */
const HEAD = 2 + SENDER.length;

/** The append answer of the first layout, written out field by field (little endian). */
function firstLayoutAnswer(term: number, success: boolean, index: number, inc: number): Buffer {
  const b = Buffer.alloc(HEAD + 25);
  b[0] = 6;
  b[1] = SENDER.length;
  b.write(SENDER, 2);
  b.writeBigUInt64LE(BigInt(term), HEAD);
  b[HEAD + 8] = success ? 1 : 0;
  b.writeBigUInt64LE(BigInt(index), HEAD + 9);
  b.writeBigUInt64LE(BigInt(inc), HEAD + 17);
  return b;
}

function withExtra(b: Buffer, n: number): Buffer {
  return Buffer.concat([b, Buffer.alloc(n, 0xa5)]);
}

test("raft wire: an append answer longer than this version's layout is read, its known fields as they are; the older layouts are unchanged", () => {
  const answer: RaftMsg = { t: "append_resp", term: 7, success: true, index: 2 ** 33 + 5, inc: 4, applied: 2 ** 33 + 3, commit: 2 ** 33 + 4 };
  const bytes = encodeRaftMsg(SENDER, answer);
  assert.equal(bytes.length, HEAD + 41, "this version's answer: 41 bytes after the sender");
  // The fields of the first layout stay where they were; the new ones follow them.
  assert.deepEqual(bytes.subarray(0, HEAD + 25), firstLayoutAnswer(7, true, 2 ** 33 + 5, 4), "the first 25 bytes are the first layout");
  assert.equal(Number(bytes.readBigUInt64LE(HEAD + 25)), 2 ** 33 + 3, "then the applied index");
  assert.equal(Number(bytes.readBigUInt64LE(HEAD + 33)), 2 ** 33 + 4, "then the commit index");

  // A newer member's answer: one more field (8 bytes), or a few bytes of one; read, extra ignored.
  for (const extra of [8, 3, 64]) {
    const d = decodeRaftMsg(withExtra(bytes, extra));
    assert.ok(d !== undefined, `an answer with ${extra} bytes more is read`);
    assert.equal(d.from, SENDER);
    assert.deepEqual(d.msg, answer, `${extra} bytes more: the known fields as sent`);
  }

  // Older members' answers: the first layout (25 bytes), and dcaa661's (33, no commit index).
  const first = decodeRaftMsg(firstLayoutAnswer(7, false, 12, 2));
  assert.deepEqual(first?.msg, { t: "append_resp", term: 7, success: false, index: 12, inc: 2 }, "a 25-byte answer: no applied or commit index");
  const applied = decodeRaftMsg(bytes.subarray(0, HEAD + 33));
  assert.deepEqual(applied?.msg, { t: "append_resp", term: 7, success: true, index: 2 ** 33 + 5, inc: 4, applied: 2 ** 33 + 3 }, "a 33-byte answer: its applied index, no commit index");
  // Shorter than the first layout is not an answer.
  assert.equal(decodeRaftMsg(bytes.subarray(0, HEAD + 24)), undefined, "24 bytes: refused");
});

test("raft wire: every message of fixed layout is read with bytes a newer version added; an append with bytes after its records is refused", () => {
  const fixed: RaftMsg[] = [
    { t: "prevote", term: 4, lastIndex: 7, lastTerm: 2, transfer: false },
    { t: "vote", term: 5, lastIndex: 9, lastTerm: 3, transfer: true },
    { t: "prevote_resp", term: 4, granted: true },
    { t: "vote_resp", term: 5, granted: false },
    { t: "snap_resp", term: 2, index: 50, offset: 30, done: true, inc: 1 },
    { t: "timeout_now", term: 9 },
  ];
  for (const m of fixed) {
    const d = decodeRaftMsg(withExtra(encodeRaftMsg(SENDER, m), 8));
    assert.deepEqual(d?.msg, m, `${m.t} with 8 bytes more: read as sent`);
  }
  // An append ends with its records: bytes after them are no record, and it cannot grow so.
  const e = makeEntry(8, 2, ENTRY_NORMAL, Buffer.from("v8"));
  const append: RaftMsg = { t: "append", term: 2, prevIndex: 7, prevTerm: 2, commit: 6, leaderLast: 8, entries: [e] };
  assert.equal(decodeRaftMsg(withExtra(encodeRaftMsg(SENDER, append), 8)), undefined, "an append with 8 bytes after its records is refused");
});

test("raft: a group whose members all send a newer version's longer messages elects a leader and commits, as with this version's", async () => {
  // Each member receives every vote, answer and timeout-now with 8 bytes it does not know; the
  // simulation counts a message its receiver cannot decode as a violation.
  const sim = new SimCluster({ seed: 21, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 20, faults: false, corruption: false, membership: false, newerFieldBytes: 8 });
  try {
    await sim.startAll();
    await sim.advance(2000, 20);
    assert.equal(sim.leaderTerms.length, 1, `one leader elected (terms led: ${sim.leaderTerms.join(", ")})`);
    assert.ok(sim.acked.size > 20, `entries are committed (${sim.acked.size})`);
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
  // With faults, crashes, power losses and membership changes too: the usual safety checks hold.
  for (const seed of [3, 8, 15]) {
    const r = await runSeed(seed, { newerFieldBytes: 8 });
    assert.deepEqual(r.violations, [], `seed ${seed}\n${r.log.slice(-20).join("\n")}`);
    assert.ok(r.acked > 0, `seed ${seed}: entries acknowledged`);
  }
});
