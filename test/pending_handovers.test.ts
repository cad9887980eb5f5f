// The hand-overs a server owes (pending_handovers.ts) on disk: read back by a new instance (a
// restart), gone once all are answered, and, with an encrypted store, sealed (no consumer name
// or state in the clear) and unreadable with another key (left on disk, reported).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PendingHandovers } from "../src/jetstream/pending_handovers.js";
import type { EncryptionConfig } from "../src/storage/encryption.js";

const payload = (name: string): Buffer => Buffer.from(JSON.stringify({ name, config: { durable_name: name }, created: "1", state: { delivered: { consumer_seq: 5, stream_seq: 5 }, ack_floor: { consumer_seq: 5, stream_seq: 5 }, pending: [], redelivered: [] }, from: "N2" }));

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

for (const enc of [undefined, { cipher: "chachapoly", key: "s3cret" } satisfies EncryptionConfig]) {
  test(`owed hand-overs survive a restart and go once answered (${enc === undefined ? "plain" : "encrypted"} store)`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pending-handovers-"));
    try {
      const logs: string[] = [];
      const a = new PendingHandovers(() => dir, () => enc, (m) => logs.push(m));
      assert.equal(a.keep("$G", "S", "S-0123456789abcdef", new Map([["D1", payload("D1")], ["D2", payload("D2")]])), true);
      const written = files(dir);
      assert.ok(written.some((f) => f.endsWith(path.join("$G", "handovers", "S-0123456789abcdef", "pending.json"))), JSON.stringify(written));
      const clear = written.some((f) => fs.readFileSync(f).includes("D1"));
      assert.equal(clear, enc === undefined, "the consumer's name in the clear only when the store is not encrypted");

      // Restarted: read back as written.
      const b = new PendingHandovers(() => dir, () => enc, (m) => logs.push(m));
      const owed = b.load();
      assert.deepEqual(owed.map((o) => [o.account, o.stream, o.group, [...o.payloads.keys()].sort()]), [["$G", "S", "S-0123456789abcdef", ["D1", "D2"]]]);
      assert.deepEqual(JSON.parse(owed[0]!.payloads.get("D1")!.toString()), JSON.parse(payload("D1").toString()));
      if (enc !== undefined) {
        // Another key: not read, left as it is, reported.
        const wrong: string[] = [];
        assert.deepEqual(new PendingHandovers(() => dir, () => ({ ...enc, key: "other" }), (m) => wrong.push(m)).load(), []);
        assert.equal(wrong.length, 1, JSON.stringify(wrong));
      }
      b.done("$G", "S-0123456789abcdef", ["D1"]);
      assert.deepEqual([...new PendingHandovers(() => dir, () => enc, () => undefined).load()[0]!.payloads.keys()], ["D2"]);
      b.done("$G", "S-0123456789abcdef", ["D2"]);
      assert.deepEqual(files(dir), [], "nothing left once all are answered");
      assert.deepEqual(logs, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
