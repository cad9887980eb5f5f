// Storage at rest: stream compression (s2). Messages of a file stream with compression "s2"
// are stored compressed (each record's header and payload as one S2 block when that is
// smaller), read back unchanged, survive a restart, and count in `bytes` as nats-server
// counts them (the uncompressed size). Changing the setting applies to what is written next.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { startServer } from "../src/index.js";
import { differences, referenceMissing, startSideBySide, type Step } from "./helpers/side_by_side.js";
import { requestJson } from "./helpers/jetstream.js";

const api = requestJson;

function blockBytes(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith(".blk")) {
        // the active block's file is preallocated: count up to its last record, not the zeros after
        const bytes = fs.readFileSync(path.join(d, e.name));
        let end = bytes.length;
        while (end > 0 && bytes[end - 1] === 0) end--;
        n += end;
      }
    }
  };
  walk(dir);
  return n;
}

describe("stream compression", () => {
  it("s2 streams store compressed, read back unchanged, across restarts and setting changes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-s2-"));
    const opts = { host: "127.0.0.1", port: -1, jetstream: { storeDir: dir } };
    const text = (i: number): string => `message ${i} `.repeat(40);
    try {
      let s = await startServer(opts);
      let nc = await connect({ servers: s.url });
      const created = await api(nc, "$JS.API.STREAM.CREATE.Z", { name: "Z", subjects: ["z.*"], compression: "s2" });
      assert.equal(created.config.compression, "s2");
      for (let i = 1; i <= 200; i++) await api(nc, `z.${i % 3}`, text(i), i % 2 ? { "X-I": String(i) } : undefined);
      await api(nc, "z.small", "tiny");
      const logical = (await api(nc, "$JS.API.STREAM.INFO.Z", {})).state.bytes;
      assert.ok(blockBytes(dir) < logical / 3, `on disk ${blockBytes(dir)} bytes for ${logical} logical`);
      // Erasing a compressed message works like any other.
      assert.equal((await api(nc, "$JS.API.STREAM.MSG.DELETE.Z", { seq: 2 })).success, true);
      await nc.close();
      await s.close();

      s = await startServer(opts);
      nc = await connect({ servers: s.url });
      const info = await api(nc, "$JS.API.STREAM.INFO.Z", {});
      assert.equal(info.state.messages, 200);
      const m7 = (await api(nc, "$JS.API.STREAM.MSG.GET.Z", { seq: 7 })).message;
      assert.equal(Buffer.from(m7.data, "base64").toString(), text(7));
      assert.match(Buffer.from(m7.hdrs, "base64").toString(), /X-I: 7/);
      assert.equal(Buffer.from((await api(nc, "$JS.API.STREAM.MSG.GET.Z", { seq: 201 })).message.data, "base64").toString(), "tiny");
      // Switching compression off keeps what is stored readable; new messages are stored as is.
      const up = await api(nc, "$JS.API.STREAM.UPDATE.Z", { name: "Z", subjects: ["z.*"], compression: "none" });
      assert.equal(up.config.compression, "none");
      const before = blockBytes(dir);
      await api(nc, "z.9", text(9));
      assert.ok(blockBytes(dir) - before > text(9).length, "stored uncompressed");
      assert.equal(Buffer.from((await api(nc, "$JS.API.STREAM.MSG.GET.Z", { seq: 8 })).message.data, "base64").toString(), text(8));
      await nc.close();
      await s.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers as nats-server 2.15 does: the setting, its updates and the uncompressed byte count", { skip: referenceMissing() }, async () => {
    const sides = await startSideBySide();
    try {
      const big = "y".repeat(500);
      const steps: Step[] = [
        { s: "$JS.API.STREAM.CREATE.Z", b: { name: "Z", subjects: ["z"], compression: "s2" } },
        { s: "z", b: big, h: { "X-A": "1" } },
        { s: "$JS.API.STREAM.INFO.Z" },
        { s: "$JS.API.STREAM.MSG.GET.Z", b: { seq: 1 } },
        { s: "$JS.API.STREAM.UPDATE.Z", b: { name: "Z", subjects: ["z"], compression: "none" } },
        { s: "$JS.API.STREAM.CREATE.ZM", b: { name: "ZM", subjects: ["zm"], compression: "s2", storage: "memory" } },
        { s: "$JS.API.STREAM.CREATE.ZX", b: { name: "ZX", subjects: ["zx"], compression: "zstd" } },
        { s: "$JS.API.INFO" },
      ];
      assert.deepEqual(differences(steps, await sides.run(steps)), []);
    } finally {
      await sides.close();
    }
  });
});
