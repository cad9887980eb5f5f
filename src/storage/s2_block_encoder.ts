// A fast block encoder for S2 streams, written from the published block formats: Snappy's (a
// varint of the uncompressed length, then literals (tag 00, length-1 in the tag or in 1-4
// following bytes) and copies with a 1-byte offset (tag 01, length 4-11, offset < 2048) or a
// 2-byte offset (tag 10, length 1-64, offset < 65536)) plus S2's repeat: a 1-byte-offset copy
// whose offset is 0 copies again from the last offset, its length coded as 0-4 → 4-8,
// 5 → 8 + next byte, 6 → 260 + next 2 bytes, 7 → 65540 + next 3 bytes. Long matches are one
// copy of 64 and one repeat, so a run of repeated messages costs a few bytes. Only S2 decoders
// read repeats (storage/s2.ts's, nats-server's): the output is for S2 streams.
//
// Why our own: the `snappy` binding costs a native call and copies per block and compresses
// at well under 100 MB/s here, too slow for compressing route and leaf traffic on every flush.
// Matches are found through a hash table of 4-byte sequences over a 64 KiB window; the search
// step grows while nothing matches, so incompressible input goes by fast.

const HASH_BITS = 14;
const HASH_SHIFT = 32 - HASH_BITS;
/** Offsets must fit in 2 bytes. */
const MAX_OFFSET = 65535;
/** Below this a block is one literal; a match is not looked for in the last bytes either. */
const INPUT_MARGIN = 16;

/** Positions + 1 of the last 4-byte sequence with each hash (0: none); cleared per block. */
const table = new Int32Array(1 << HASH_BITS);
let scratch = Buffer.allocUnsafe(64 * 1024);

function load32(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
}

function hash(u: number): number {
  return Math.imul(u, 0x1e35a7bd) >>> HASH_SHIFT;
}

/** Literal src[from, to) at dst[d]; returns the new d. */
function emitLiteral(dst: Buffer, d: number, src: Uint8Array, from: number, to: number): number {
  const n = to - from - 1;
  if (n < 60) dst[d++] = n << 2;
  else if (n < 1 << 8) {
    dst[d++] = 60 << 2;
    dst[d++] = n;
  } else if (n < 1 << 16) {
    dst[d++] = 61 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = n >>> 8;
  } else if (n < 1 << 24) {
    dst[d++] = 62 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = (n >>> 8) & 0xff;
    dst[d++] = n >>> 16;
  } else {
    dst[d++] = 63 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = (n >>> 8) & 0xff;
    dst[d++] = (n >>> 16) & 0xff;
    dst[d++] = n >>> 24;
  }
  const len = to - from;
  if (len > 32) dst.set(src.subarray(from, to), d);
  else for (let i = 0; i < len; i++) dst[d + i] = src[from + i];
  return d + len;
}

/** Copy of `len` (≥ 4) bytes from `offset` back; returns the new d. */
function emitCopy(dst: Buffer, d: number, offset: number, len: number): number {
  if (len > 64) {
    // A copy of 60-64 bytes, then a repeat of the rest (at least 4).
    const first = len - 64 >= 4 ? 64 : len - 4;
    dst[d++] = 2 | ((first - 1) << 2);
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    return emitRepeat(dst, d, len - first);
  }
  if (len >= 12 || offset >= 2048) {
    dst[d++] = 2 | ((len - 1) << 2);
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
  } else {
    dst[d++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    dst[d++] = offset & 0xff;
  }
  return d;
}

/** S2's repeat of the last offset for `len` (4 to 65540 + 2^24 - 1) bytes; returns the new d. */
function emitRepeat(dst: Buffer, d: number, len: number): number {
  if (len <= 8) {
    dst[d++] = 1 | ((len - 4) << 2);
    dst[d++] = 0;
  } else if (len < 264) {
    dst[d++] = 1 | (5 << 2);
    dst[d++] = 0;
    dst[d++] = len - 8;
  } else if (len < 65796) {
    const n = len - 260;
    dst[d++] = 1 | (6 << 2);
    dst[d++] = 0;
    dst[d++] = n & 0xff;
    dst[d++] = n >>> 8;
  } else {
    const n = len - 65540;
    dst[d++] = 1 | (7 << 2);
    dst[d++] = 0;
    dst[d++] = n & 0xff;
    dst[d++] = (n >>> 8) & 0xff;
    dst[d++] = n >>> 16;
  }
  return d;
}

/** Encode one block (at most 4 MiB: a repeat's length must fit); the result is a fresh buffer. */
export function encodeS2Block(src: Uint8Array): Buffer {
  const len = src.length;
  const worst = 32 + len + Math.ceil(len / 6);
  if (scratch.length < worst) scratch = Buffer.allocUnsafe(worst);
  const dst = scratch;
  let d = 0;
  // The uncompressed length, as a varint.
  for (let v = len; ; ) {
    if (v < 0x80) {
      dst[d++] = v;
      break;
    }
    dst[d++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  let nextEmit = 0;
  if (len >= INPUT_MARGIN + 1) {
    table.fill(0);
    const sLimit = len - INPUT_MARGIN;
    let s = 1;
    let candidate = 0;
    outer: for (;;) {
      // Look for a 4-byte match, stepping further while none is found.
      let skip = 32;
      let nextS = s;
      for (;;) {
        s = nextS;
        const step = skip >> 5;
        nextS = s + step;
        skip += step;
        if (nextS > sLimit) break outer;
        const cur = load32(src, s);
        const h = hash(cur);
        candidate = table[h] - 1;
        table[h] = s + 1;
        if (candidate >= 0 && s - candidate <= MAX_OFFSET && load32(src, candidate) === cur) break;
      }
      d = emitLiteral(dst, d, src, nextEmit, s);
      // Emit the match, then try for another one right where it ends.
      for (;;) {
        const base = s;
        let m = s + 4;
        let c = candidate + 4;
        while (m + 4 <= len && load32(src, m) === load32(src, c)) {
          m += 4;
          c += 4;
        }
        while (m < len && src[m] === src[c]) {
          m++;
          c++;
        }
        d = emitCopy(dst, d, base - candidate, m - base);
        s = m;
        nextEmit = s;
        if (s >= sLimit) break outer;
        table[hash(load32(src, s - 1))] = s;
        const cur = load32(src, s);
        const h = hash(cur);
        candidate = table[h] - 1;
        table[h] = s + 1;
        if (!(candidate >= 0 && s - candidate <= MAX_OFFSET && load32(src, candidate) === cur)) break;
      }
      s++;
    }
  }
  if (nextEmit < len) d = emitLiteral(dst, d, src, nextEmit, len);
  return Buffer.from(dst.subarray(0, d));
}
