// The S2 codec (src/storage/s2.ts): decodes blocks and streams written by the reference S2
// implementation (fixtures from test/fixtures/s2/gen.go, including S2-only repeat offsets
// and padding chunks), round-trips its own output, and refuses corrupt input with an error.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import snappy from "snappy";
import { S2Error, S2StreamDecoder, S2StreamEncoder, s2DecodeBlock, s2DecodeStream, s2EncodeBlock, s2EncodeStream } from "../src/storage/s2.js";
import { prng } from "./helpers/fuzz.js";

// dist/test -> project root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const fixtures = path.join(root, "test", "fixtures", "s2");
const expected = JSON.parse(fs.readFileSync(path.join(fixtures, "expected.json"), "utf8")) as Record<string, { length: number; sha256: string }>;

function digest(b: Buffer): { length: number; sha256: string } {
  return { length: b.length, sha256: createHash("sha256").update(b).digest("hex") };
}

function sample(rand: () => number, n: number): Buffer {
  // Compressible: words and runs with some noise.
  const words = ["alpha", "beta", "gamma", "$JS.ACK", "orders.new", "{\"seq\":", "}\n"];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = rand() < 0.1 ? String(Math.floor(rand() * 1e9)) : words[Math.floor(rand() * words.length)];
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join("").slice(0, n));
}

describe("S2 decoding of the reference implementation's output", () => {
  for (const file of fs.readdirSync(fixtures).filter((f) => f.endsWith(".s2")).sort()) {
    const [name, kind] = file.split(".");
    it(`${file}`, () => {
      const data = fs.readFileSync(path.join(fixtures, file));
      const out = kind === "stream" || kind === "padded" ? s2DecodeStream(data) : s2DecodeBlock(data, 64 << 20);
      assert.deepEqual(digest(out), expected[name]);
    });
  }

  it("the fixtures do use S2-only encodings (a Snappy decoder refuses some)", () => {
    let refused = 0;
    for (const file of fs.readdirSync(fixtures).filter((f) => /\.(better|best)\.s2$/.test(f))) {
      try {
        snappy.uncompressSync(fs.readFileSync(path.join(fixtures, file)));
      } catch {
        refused++;
      }
    }
    assert.ok(refused > 0, "expected repeat offsets in the better/best fixtures");
  });

  it("streams decode the same when fed in small pieces", () => {
    const data = fs.readFileSync(path.join(fixtures, "mixed.stream.s2"));
    const rand = prng(3);
    const d = new S2StreamDecoder();
    const parts: Buffer[] = [];
    for (let at = 0; at < data.length; ) {
      const n = 1 + Math.floor(rand() * 700);
      parts.push(...d.push(data.subarray(at, at + n)));
      at += n;
    }
    d.end();
    assert.deepEqual(digest(Buffer.concat(parts)), expected.mixed);
  });
});

describe("S2 encoding", () => {
  it("round-trips blocks and streams of all sizes", () => {
    const rand = prng(11);
    for (const n of [0, 1, 2, 59, 60, 61, 255, 256, 65535, 65536, 65537, 200_000, (1 << 20) + 17, 2_500_000]) {
      const data = rand() < 0.5 ? sample(rand, n) : Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
      assert.ok(s2DecodeBlock(s2EncodeBlock(data), 8 << 20).equals(data), `block of ${n}`);
      assert.ok(s2DecodeStream(s2EncodeStream(data)).equals(data), `stream of ${n}`);
    }
  });

  it("writes incrementally: pieces of any size give the same stream content", () => {
    const rand = prng(5);
    const data = sample(rand, 3_000_000);
    const e = new S2StreamEncoder();
    const out: Buffer[] = [];
    for (let at = 0; at < data.length; ) {
      const n = 1 + Math.floor(rand() * 300_000);
      out.push(...e.write(data.subarray(at, at + n)));
      at += n;
    }
    out.push(...e.flush());
    const z = Buffer.concat(out);
    assert.ok(z.length < data.length / 2, "compressible data gets smaller");
    assert.ok(s2DecodeStream(z).equals(data));
  });

  const go = spawnSync("sh", ["-c", "command -v go && test -d /usr/share/gocode/src/github.com/klauspost/compress/s2"], { encoding: "utf8" });
  it("the reference S2 reader accepts what we write", { skip: go.status !== 0 ? "go or golang-github-klauspost-compress-dev not installed" : false }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-s2-"));
    try {
      const data = sample(prng(9), 2_100_000);
      const file = path.join(dir, "ours.s2");
      fs.writeFileSync(file, s2EncodeStream(data));
      const r = spawnSync("go", ["run", "gen.go", "check", file], {
        cwd: fixtures,
        encoding: "utf8",
        env: { ...process.env, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOCACHE: path.join(dir, "gocache") },
        timeout: 120_000,
      });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(r.stdout.trim(), String(data.length));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("corrupt input is refused, never crashes", () => {
  const original = sample(prng(1), 100_000);
  const good = s2EncodeStream(original);

  it("a flipped byte fails the checksum or the block (or, in repetitive data, changes nothing)", () => {
    let failed = 0;
    for (let i = 10; i < good.length; i += 397) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x40;
      try {
        // A copy may point at other, identical bytes: the result is then still right.
        assert.ok(s2DecodeStream(bad).equals(original), `flip at ${i} decoded to different bytes`);
      } catch (e) {
        if (!(e instanceof S2Error)) throw e;
        failed++;
      }
    }
    assert.ok(failed > 50);
  });

  it("truncation, a bad identifier and reserved chunk types", () => {
    assert.throws(() => s2DecodeStream(good.subarray(0, good.length - 1)), /truncated/);
    const badId = Buffer.from(good);
    badId[4] = 0x41;
    assert.throws(() => s2DecodeStream(badId), /identifier/);
    const reserved = Buffer.concat([good.subarray(0, 10), Buffer.from([0x05, 1, 0, 0, 0])]);
    assert.throws(() => s2DecodeStream(reserved), /unsupported chunk type/);
    const skippable = Buffer.concat([good.subarray(0, 10), Buffer.from([0xfe, 2, 0, 0, 0, 0]), good.subarray(10)]);
    assert.equal(s2DecodeStream(skippable).length, 100_000);
    assert.throws(() => s2DecodeStream(good.subarray(10)), /identifier/);
  });

  it("blocks: copies before the start, repeats without an offset, lengths past the end", () => {
    // 5 bytes: literal "a", then a copy of offset 2 (before the start).
    assert.throws(() => s2DecodeBlock(Buffer.from([5, 0, 0x61, 0x02 | (1 << 2), 2, 0])), S2Error);
    // A repeat as the first copy has no offset to repeat.
    assert.throws(() => s2DecodeBlock(Buffer.from([5, 0, 0x61, 0x01, 0])), S2Error);
    // A literal longer than the announced length.
    assert.throws(() => s2DecodeBlock(Buffer.from([1, 4, 0x61, 0x62])), S2Error);
    // An announced length beyond the limit is refused before anything is allocated.
    assert.throws(() => s2DecodeBlock(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])), /exceeds/);
    // Random garbage: an error, not a crash.
    const rand = prng(17);
    for (let k = 0; k < 2000; k++) {
      const g = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
      try {
        s2DecodeBlock(g, 1 << 16);
      } catch (e) {
        assert.ok(e instanceof S2Error, String(e));
      }
    }
  });
});
