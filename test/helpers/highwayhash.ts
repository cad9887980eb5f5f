// HighwayHash-64 (a port of github.com/minio/highwayhash's generic code), only for tests:
// nats-server checks its stream meta files with it (meta.sum, keyed by sha256 of the stream
// name), so a test that edits a reference server's stored config must re-sign it.
import { createHash } from "node:crypto";

const M = (1n << 64n) - 1n;
const INIT0 = [0xdbe6d5d5fe4cce2fn, 0xa4093822299f31d0n, 0x13198a2e03707344n, 0x243f6a8885a308d3n];
const INIT1 = [0x3bd39e10cb0ef593n, 0xc0acf169b5f18a8cn, 0xbe5466cf34e90c6cn, 0x452821e638d01377n];
const V0 = 0;
const V1 = 4;
const MUL0 = 8;
const MUL1 = 12;

const rot32 = (x: bigint): bigint => ((x >> 32n) | (x << 32n)) & M;
const lo32 = (x: bigint): bigint => x & 0xffffffffn;

function zipper(val0: bigint, val1: bigint): [bigint, bigint] {
  const b = (v: bigint, i: number): bigint => v & (0xffn << BigInt(i * 8));
  let res = b(val0, 2);
  let res2 = b(val0, 7) + b(val1, 2);
  res += b(val1, 7) >> 8n;
  res2 += b(val0, 6) >> 8n;
  res += (b(val0, 5) + b(val1, 6)) >> 16n;
  res2 += b(val1, 5) >> 16n;
  res += (b(val0, 3) + b(val1, 4)) >> 24n;
  res2 += (b(val1, 3) + b(val0, 4)) >> 24n;
  res += b(val0, 1) << 32n;
  res2 += (val1 & 0xffn) << 48n;
  res += val0 << 56n;
  res2 += b(val1, 1) << 24n;
  return [res & M, res2 & M];
}

function update(st: bigint[], msg: Buffer): void {
  for (let off = 0; off + 32 <= msg.length; off += 32) {
    for (let i = 0; i < 4; i++) {
      st[V1 + i] = (st[V1 + i]! + msg.readBigUInt64LE(off + i * 8) + st[MUL0 + i]!) & M;
      st[MUL0 + i] = st[MUL0 + i]! ^ ((lo32(st[V1 + i]!) * (st[V0 + i]! >> 32n)) & M);
      st[V0 + i] = (st[V0 + i]! + st[MUL1 + i]!) & M;
      st[MUL1 + i] = st[MUL1 + i]! ^ ((lo32(st[V0 + i]!) * (st[V1 + i]! >> 32n)) & M);
    }
    for (const [a, b] of [
      [V1, V0],
      [V1 + 2, V0 + 2],
    ] as const) {
      const [r, r2] = zipper(st[a]!, st[a + 1]!);
      st[b] = (st[b]! + r) & M;
      st[b + 1] = (st[b + 1]! + r2) & M;
    }
    for (const [a, b] of [
      [V0, V1],
      [V0 + 2, V1 + 2],
    ] as const) {
      const [r, r2] = zipper(st[a]!, st[a + 1]!);
      st[b] = (st[b]! + r) & M;
      st[b + 1] = (st[b + 1]! + r2) & M;
    }
  }
}

function hashBuffer(st: bigint[], buffer: Buffer, offset: number): void {
  const block = Buffer.alloc(32);
  const mod32 = (BigInt(offset) << 32n) + BigInt(offset);
  for (let i = 0; i < 4; i++) st[i] = (st[i]! + mod32) & M;
  for (let i = 0; i < 4; i++) {
    const rotl = (x: bigint): bigint => ((x << BigInt(offset)) | (x >> BigInt(32 - offset))) & 0xffffffffn;
    const t0 = rotl(lo32(st[i + 4]!));
    const t1 = rotl(st[i + 4]! >> 32n);
    st[i + 4] = (t1 << 32n) | t0;
  }
  const mod4 = offset & 3;
  const remain = offset - mod4;
  buffer.copy(block, 0, 0, remain);
  if (offset >= 16) {
    buffer.copy(block, 28, offset - 4, offset);
  } else if (mod4 !== 0) {
    const last = buffer[remain]! + (buffer[remain + (mod4 >> 1)]! << 8) + (buffer[offset - 1]! << 16);
    block.writeUInt32LE(last >>> 0, 16);
  }
  update(st, block);
}

/** HighwayHash-64 of `data` with a 32-byte key, as 8 little-endian bytes. */
export function highwayHash64(key: Buffer, data: Buffer): Buffer {
  const k = [0, 1, 2, 3].map((i) => key.readBigUInt64LE(i * 8));
  const st: bigint[] = new Array(16).fill(0n);
  for (let i = 0; i < 4; i++) {
    st[MUL0 + i] = INIT0[i]!;
    st[MUL1 + i] = INIT1[i]!;
    st[V0 + i] = INIT0[i]! ^ k[i]!;
    st[V1 + i] = INIT1[i]! ^ rot32(k[i]!);
  }
  const full = data.length & ~31;
  update(st, data.subarray(0, full));
  const rest = data.length - full;
  if (rest > 0) {
    const buf = Buffer.alloc(32);
    data.copy(buf, 0, full);
    hashBuffer(st, buf, rest);
  }
  for (let r = 0; r < 4; r++) {
    const tmp = Buffer.alloc(32);
    tmp.writeBigUInt64LE(rot32(st[V0 + 2]!), 0);
    tmp.writeBigUInt64LE(rot32(st[V0 + 3]!), 8);
    tmp.writeBigUInt64LE(rot32(st[V0 + 0]!), 16);
    tmp.writeBigUInt64LE(rot32(st[V0 + 1]!), 24);
    update(st, tmp);
  }
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE((st[V0]! + st[V1]! + st[MUL0]! + st[MUL1]!) & M);
  return out;
}

/** nats-server's meta.sum of a stream's meta.inf: hex HighwayHash-64 keyed by sha256(stream name). */
export function natsMetaSum(streamName: string, metaInf: Buffer): string {
  return highwayHash64(createHash("sha256").update(streamName).digest(), metaInf).toString("hex");
}
