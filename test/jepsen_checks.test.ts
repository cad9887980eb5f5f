// The checks of the random Jepsen-style scheduler (helpers/jepsen_checks.ts) on small made-up
// histories: each finds the violation it is for, and passes a history that has none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkReplicas, checkRealTimeOrder, checkCas, checkDelivered, type CasOp, type Op } from "./helpers/jepsen_checks.js";

const keyOf = (id: string): string | undefined => id.split(":")[0];

test("jepsen checks: replicas that agree and hold every acknowledged message pass", () => {
  const r: Array<[number, string]> = [
    [1, "a"],
    [2, "b"],
    [3, "c"],
  ];
  const ops: Op[] = [
    { id: "a", invokedAt: 0, answeredAt: 1, seq: 1 },
    { id: "c", invokedAt: 0, answeredAt: 5, seq: 3 },
    { id: "x", invokedAt: 0 },
  ];
  assert.deepEqual(checkReplicas("J", [r, r, r], ops), []);
});

test("jepsen checks: a lost, moved or duplicated message and a replica out of order are named with the replica", () => {
  const good: Array<[number, string]> = [
    [1, "a"],
    [2, "b"],
  ];
  const ops: Op[] = [
    { id: "a", invokedAt: 0, answeredAt: 1, seq: 1 },
    { id: "b", invokedAt: 0, answeredAt: 1, seq: 2 },
  ];
  const lost = checkReplicas("J", [good, [[1, "a"]], good], ops);
  assert.ok(lost.some((v) => v.includes("n1: b acknowledged at 2 is missing")), lost.join("\n"));
  assert.ok(lost.some((v) => v.includes("n1 differs from n0 at its message #1")), lost.join("\n"));
  const moved = checkReplicas("J", [good, good, [[1, "a"], [3, "b"]]], ops);
  assert.ok(moved.some((v) => v.includes("n2: b acknowledged at 2 is stored at 3")), moved.join("\n"));
  const dup = checkReplicas("J", [[...good, [3, "a"]], good, good], ops);
  assert.ok(dup.some((v) => v.includes("n0: a stored twice, at 1 and 3")), dup.join("\n"));
});

test("jepsen checks: an acknowledged publish sequenced before one acknowledged earlier breaks real-time order", () => {
  const ok: Op[] = [
    { id: "a", invokedAt: 0, answeredAt: 10, seq: 1 },
    { id: "b", invokedAt: 5, answeredAt: 8, seq: 2 }, // concurrent with a: any order
    { id: "c", invokedAt: 11, answeredAt: 12, seq: 3 },
  ];
  assert.deepEqual(checkRealTimeOrder("J", ok), []);
  const bad: Op[] = [
    { id: "a", invokedAt: 0, answeredAt: 10, seq: 5 },
    { id: "c", invokedAt: 11, answeredAt: 12, seq: 4 },
  ];
  assert.match(checkRealTimeOrder("J", bad).join("\n"), /a was acknowledged at 5 before c was sent, which got the lower sequence 4/);
});

test("jepsen checks: compare-and-set histories: a chain of writes each expecting the last passes; refusals while another write raced pass", () => {
  const ops: CasOp[] = [
    { id: "k:1", key: "k", expected: 0, invokedAt: 0, answeredAt: 2, seq: 1 },
    { id: "k:2", key: "k", expected: 1, invokedAt: 3, answeredAt: 5, seq: 3 },
    // expected 1 too, sent before k:2 was answered: refused rightly
    { id: "k:3", key: "k", expected: 1, invokedAt: 4, answeredAt: 6, refused: true },
    { id: "k:4", key: "k", expected: 3, invokedAt: 7 }, // never answered, not stored: fine
  ];
  const stored: Array<[number, string]> = [
    [1, "k:1"],
    [3, "k:2"],
  ];
  assert.deepEqual(checkCas("KV", stored, keyOf, ops), []);
});

test("jepsen checks: compare-and-set: a refused write that is stored, a write stored on the wrong base, a refusal nothing justified", () => {
  const applied: CasOp[] = [
    { id: "k:1", key: "k", expected: 0, invokedAt: 0, answeredAt: 2, seq: 1 },
    { id: "k:2", key: "k", expected: 1, invokedAt: 3, answeredAt: 4, refused: true },
  ];
  assert.match(checkCas("KV", [[1, "k:1"], [2, "k:2"]], keyOf, applied).join("\n"), /k:2 \(key k, expected 1\) was refused with "wrong last sequence" but is stored at 2/);

  const wrongBase: CasOp[] = [
    { id: "k:1", key: "k", expected: 0, invokedAt: 0, answeredAt: 2, seq: 1 },
    { id: "k:2", key: "k", expected: 0, invokedAt: 3, answeredAt: 4, seq: 2 },
  ];
  assert.match(checkCas("KV", [[1, "k:1"], [2, "k:2"]], keyOf, wrongBase).join("\n"), /k:2 on key k expected last sequence 0 but was stored at 2 after the key's write at 1/);

  const stale: CasOp[] = [
    { id: "k:1", key: "k", expected: 0, invokedAt: 0, answeredAt: 2, seq: 1 },
    // 1 was the last write from before this was sent until after its refusal
    { id: "k:2", key: "k", expected: 1, invokedAt: 3, answeredAt: 4, refused: true },
    { id: "k:3", key: "k", expected: 1, invokedAt: 5, answeredAt: 6, seq: 2 },
  ];
  assert.match(checkCas("KV", [[1, "k:1"], [2, "k:3"]], keyOf, stale).join("\n"), /k:2 on key k expecting 1 was refused .* \(the next, k:3, was sent after\)/);
});

test("jepsen checks: every acknowledged message delivered to a consumer, or the missing ones named in sequence order", () => {
  const ops: Op[] = [
    { id: "a", invokedAt: 0, answeredAt: 1, seq: 1 },
    { id: "b", invokedAt: 0, answeredAt: 1, seq: 2 },
    { id: "u", invokedAt: 0 },
  ];
  assert.deepEqual(checkDelivered("D1", ops, new Set(["a", "b"])), []);
  assert.deepEqual(checkDelivered("D1", ops, new Set(["a"])), ["consumer D1: 1 acknowledged messages never delivered: b@2"]);
});
