// The binary entry of a turn's replicated consumer changes (src/jetstream/consumer_ops_wire.ts):
// every kind of change comes back as it went in, what the format cannot carry is left to JSON,
// and bytes it did not make are refused. (The replication itself is exercised end to end by the
// js_cluster_consumer_* tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeConsumerOps, encodeConsumerOps, type NamedConsumerOp } from "../src/jetstream/consumer_ops_wire.js";

const KIND = 7;

test("consumer changes round-trip through their binary entry", () => {
  const list: NamedConsumerOp[] = [
    { name: "C", c: { op: "deliver", sseq: 1, dc: 1, now: 1764600000123, kind: "new" } },
    { name: "C", c: { op: "deliver", sseq: 2 ** 40 + 3, dc: 7, now: 1764600000124.5, kind: "re" } },
    { name: "Ünïcode-dürable", c: { op: "deliver", sseq: 9, dc: 2, now: 0, kind: "lps" } },
    { name: "C", c: { op: "ack", sseq: 1 } },
    { name: "C", c: { op: "ack_all", sseq: 5 } },
    { name: "C", c: { op: "nak", sseq: 6, delayMs: 2500 } },
    { name: "Ünïcode-dürable", c: { op: "progress", sseq: 9, now: 1764600001000 } },
    { name: "C", c: { op: "term", sseq: 10 } },
    { name: "C", c: { op: "max_delivered", sseq: 11 } },
    { name: "C", c: { op: "gone", sseq: 12 } },
    { name: "C", c: { op: "reset_start", sseq: 13 } },
    { name: "C", c: { op: "reset", sseq: 14 } },
  ];
  const b = encodeConsumerOps(KIND, list);
  assert.ok(b !== undefined);
  assert.equal(b[0], KIND);
  assert.deepEqual(decodeConsumerOps(b), list);
  // A delivery costs 34 bytes beside the names (JSON took about 90).
  const one = encodeConsumerOps(KIND, [list[0]]) as Buffer;
  assert.equal(one.length, 2 + 1 + 1 + 4 + 34);
});

test("what the binary entry cannot carry is left to JSON, and foreign bytes are refused", () => {
  assert.equal(encodeConsumerOps(KIND, [{ name: "C", c: { op: "update", config: { ack_policy: "explicit" } as never } }]), undefined);
  assert.equal(encodeConsumerOps(KIND, [{ name: "x".repeat(256), c: { op: "ack", sseq: 1 } }]), undefined);
  const many = Array.from({ length: 256 }, (_, i) => ({ name: `C${i}`, c: { op: "ack" as const, sseq: i } }));
  assert.equal(encodeConsumerOps(KIND, many), undefined);
  assert.equal(encodeConsumerOps(KIND, many.slice(0, 255))?.[1], 255);
  const b = encodeConsumerOps(KIND, [{ name: "C", c: { op: "ack", sseq: 1 } }]) as Buffer;
  assert.throws(() => decodeConsumerOps(Buffer.concat([b, Buffer.alloc(1)])), /does not decode/);
  const bad = Buffer.from(b);
  bad[bad.length - 9] = 99; // the change's code
  assert.throws(() => decodeConsumerOps(bad), /does not decode/);
  assert.throws(() => decodeConsumerOps(b.subarray(0, b.length - 3)));
});
