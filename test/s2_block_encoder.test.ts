// The S2 block encoder of route and leaf compression: every block decodes back to its input
// (with the decoder of storage/s2.ts; nats-server's decoder reads it in cluster_compression),
// on runs, periods around the copy limits, incompressible and random mixtures, and repeated
// messages compress to a few bytes (S2 repeats).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { encodeS2Block } from "../src/storage/s2_block_encoder.js";
import { s2DecodeBlock, s2DecodeStream, s2FrameChunks, S2_STREAM_IDENTIFIER } from "../src/storage/s2.js";

function roundTrip(what: string, data: Buffer): number {
  const z = encodeS2Block(data);
  assert.ok(s2DecodeBlock(z, 8 << 20).equals(data), `${what} (${data.length} bytes) decodes back`);
  return z.length;
}

describe("S2 block encoder", () => {
  it("round trips at every size around its limits, for runs, periods, text and noise", () => {
    for (const n of [0, 1, 3, 4, 15, 16, 17, 18, 63, 64, 65, 67, 68, 69, 100, 263, 264, 265, 4095, 65535, 65536, 65537, 65795, 65796, 65800, 200_000, 1 << 20]) {
      roundTrip("zeros", Buffer.alloc(n));
      roundTrip("noise", randomBytes(n));
      const text = Buffer.alloc(n);
      for (let i = 0; i < n; i++) text[i] = "the quick brown fox jumps over the lazy dog. ".charCodeAt(i % 45) ^ (i % 97 === 0 ? 1 : 0);
      roundTrip("text", text);
      for (const p of [1, 2, 3, 7, 64, 2047, 2048, 2049, 65535, 70_000]) {
        const seed = randomBytes(p);
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i++) b[i] = seed[i % p];
        roundTrip(`period ${p}`, b);
      }
    }
  });

  it("round trips random mixtures of literals and back references", () => {
    for (let k = 0; k < 200; k++) {
      const n = Math.floor(Math.random() * 30_000);
      const b = Buffer.alloc(n);
      let i = 0;
      while (i < n) {
        if (Math.random() < 0.3) {
          const len = Math.floor(Math.random() * 50);
          for (let j = 0; j < len && i < n; j++) b[i++] = Math.floor(Math.random() * 256);
        } else {
          const off = 1 + Math.floor(Math.random() * Math.min(i || 1, 70_000));
          const len = Math.floor(Math.random() * 300);
          for (let j = 0; j < len && i < n; j++, i++) b[i] = i - off >= 0 ? b[i - off] : 0;
        }
      }
      roundTrip(`mixture ${k}`, b);
    }
  });

  it("a flush of identical messages takes a few bytes; noise is left as it is by the framing", () => {
    const msg = Buffer.concat([Buffer.from("RMSG $G bench.subject 1024\r\n"), Buffer.alloc(1024), Buffer.from("\r\n")]);
    const flush = Buffer.concat(Array.from({ length: 900 }, () => msg));
    assert.ok(roundTrip("messages", flush) < 200);
    const noise = randomBytes(100_000);
    const framed = s2FrameChunks(noise, false);
    assert.equal(framed[0], 0x01, "stored as an uncompressed chunk");
    assert.ok(s2DecodeStream(Buffer.concat([S2_STREAM_IDENTIFIER, framed, s2FrameChunks(flush, false)])).equals(Buffer.concat([noise, flush])));
  });
});
