// S2 compression (klauspost/compress/s2), the format nats-server uses for stream snapshots
// and for compressed message blocks.
//
// Why a codec of our own: no npm package decodes S2. S2 extends Snappy's block format with
// "repeat offset" copies, so a Snappy decoder fails on what nats-server writes, while every
// S2 decoder reads Snappy blocks. So:
//   * encoding uses the `snappy` package (a maintained native binding): its blocks are valid
//     S2 blocks, framed here in S2's stream format;
//   * decoding is written here from the published format: Snappy's block format (varint
//     length, then literals and copies with 1-, 2- or 4-byte offsets) plus S2's extension:
//     a 1-byte-offset copy whose offset is 0 repeats the last offset, with its length coded
//     as 0-4 → 4-8, 5 → 8 + next byte, 6 → 260 + next 2 bytes, 7 → 65540 + next 3 bytes
//     (little endian). The first copy of a block can not be a repeat.
//
// Stream format (Snappy's framing with the S2 identifier): chunks of a 1-byte type and a
// 3-byte little-endian length. 0xff: stream identifier "S2sTwO" (Snappy's "sNaPpY" is read
// too); 0x00: compressed block preceded by the masked CRC-32C of its uncompressed bytes;
// 0x01: uncompressed bytes preceded by their masked CRC; 0x80-0xfe: skippable (padding,
// seek index); 0x02-0x7f: reserved, a stream that has one is refused.
import { createRequire } from "node:module";
import { encodeS2Block } from "./s2_block_encoder.js";

// The native codecs load on first use: a server without compressed streams or snapshots does
// not carry them (each binding costs several MB of resident memory).
const requireNative = createRequire(import.meta.url);
let snappyMod: typeof import("snappy") | undefined;
let crc32cFn: typeof import("@node-rs/crc32").crc32c | undefined;
function snappy(): typeof import("snappy") {
  return (snappyMod ??= requireNative("snappy") as typeof import("snappy"));
}
function crc32c(data: Uint8Array): number {
  return (crc32cFn ??= (requireNative("@node-rs/crc32") as typeof import("@node-rs/crc32")).crc32c)(data);
}

const CHUNK_IDENTIFIER = 0xff;
const CHUNK_COMPRESSED = 0x00;
const CHUNK_UNCOMPRESSED = 0x01;
const S2_MAGIC = Buffer.from("S2sTwO", "latin1");
const SNAPPY_MAGIC = Buffer.from("sNaPpY", "latin1");
/** S2 streams carry blocks of at most 4 MiB (uncompressed). */
export const S2_MAX_BLOCK = 4 << 20;
/** Snappy's framing format limits blocks to 64 KiB. */
const SNAPPY_MAX_BLOCK = 64 << 10;
/** What the encoder puts in one block (S2's default). */
const ENCODE_BLOCK = 1 << 20;

export class S2Error extends Error {
  constructor(message: string) {
    super(`s2: ${message}`);
    this.name = "S2Error";
  }
}

/** The checksum of a chunk: CRC-32C of the uncompressed bytes, rotated and offset (Snappy's mask). */
function maskedCrc(data: Uint8Array): number {
  const c = crc32c(data) >>> 0;
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

// ---------------------------------------------------------------------------
// Blocks

/** Length of the uncompressed data a block announces, and where its elements start. */
function blockHeader(src: Uint8Array): { length: number; at: number } {
  let length = 0;
  let shift = 0;
  for (let i = 0; i < src.length && i < 5; i++) {
    const b = src[i];
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      if (length > 0xffffffff) break;
      return { length, at: i + 1 };
    }
    shift += 7;
  }
  throw new S2Error("corrupt block: bad length");
}

/** The uncompressed length a block announces. */
export function s2DecodedLength(src: Uint8Array): number {
  return blockHeader(src).length;
}

/**
 * Decode one S2 (or Snappy) block. `maxLength` bounds what a corrupt or hostile block may
 * make us allocate.
 */
export function s2DecodeBlock(src: Uint8Array, maxLength = S2_MAX_BLOCK): Buffer {
  const { length, at } = blockHeader(src);
  if (length > maxLength) throw new S2Error(`block of ${length} bytes exceeds ${maxLength}`);
  const dst = Buffer.allocUnsafe(length);
  let d = 0;
  let s = at;
  const end = src.length;
  let lastOffset = 0;
  const corrupt = (): never => {
    throw new S2Error("corrupt block");
  };
  while (s < end) {
    const tag = src[s];
    let len: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        // Literal: length-1 in the tag's upper 6 bits, or in 1-4 following bytes.
        let n = tag >>> 2;
        if (n < 60) s += 1;
        else {
          const extra = n - 59;
          if (s + 1 + extra > end) corrupt();
          n = src[s + 1];
          if (extra > 1) n |= src[s + 2] << 8;
          if (extra > 2) n |= src[s + 3] << 16;
          if (extra > 3) n = (n | 0) + src[s + 4] * 0x1000000;
          s += 1 + extra;
        }
        len = n + 1;
        if (len > end - s || len > length - d) corrupt();
        dst.set(src.subarray(s, s + len), d);
        d += len;
        s += len;
        continue;
      }
      case 1: {
        if (s + 2 > end) corrupt();
        const code = (tag >>> 2) & 7;
        offset = ((tag & 0xe0) << 3) | src[s + 1];
        s += 2;
        if (offset !== 0) {
          len = code + 4;
        } else {
          // S2 repeat: the last offset again, with a longer length coding.
          offset = lastOffset;
          if (code < 5) len = code + 4;
          else if (code === 5) {
            if (s + 1 > end) corrupt();
            len = src[s] + 8;
            s += 1;
          } else if (code === 6) {
            if (s + 2 > end) corrupt();
            len = (src[s] | (src[s + 1] << 8)) + 260;
            s += 2;
          } else {
            if (s + 3 > end) corrupt();
            len = (src[s] | (src[s + 1] << 8) | (src[s + 2] << 16)) + 65540;
            s += 3;
          }
        }
        break;
      }
      case 2: {
        if (s + 3 > end) corrupt();
        len = (tag >>> 2) + 1;
        offset = src[s + 1] | (src[s + 2] << 8);
        s += 3;
        break;
      }
      default: {
        if (s + 5 > end) corrupt();
        len = (tag >>> 2) + 1;
        offset = (src[s + 1] | (src[s + 2] << 8) | (src[s + 3] << 16)) + src[s + 4] * 0x1000000;
        s += 5;
        break;
      }
    }
    if (offset <= 0 || offset > d || len > length - d) corrupt();
    lastOffset = offset;
    // A copy may overlap what it writes (a run of period `offset`): copy what is already
    // there, doubling each time; every piece but the last is a whole number of periods.
    const from = d - offset;
    if (offset >= len) {
      dst.copyWithin(d, from, from + len);
    } else {
      let copied = 0;
      while (copied < len) {
        const n = Math.min(len - copied, offset + copied);
        dst.copyWithin(d + copied, from, from + n);
        copied += n;
      }
    }
    d += len;
  }
  if (d !== length) throw new S2Error("corrupt block: short output");
  return dst;
}

/** Encode one block (Snappy-compatible output, which every S2 decoder reads). */
export function s2EncodeBlock(src: Uint8Array): Buffer {
  return snappy().compressSync(Buffer.from(src.buffer, src.byteOffset, src.byteLength));
}

// ---------------------------------------------------------------------------
// Streams

/**
 * Incremental S2 stream decoder: feed compressed bytes in any pieces, get the decompressed
 * bytes back as whole chunks are complete. Memory is bounded by one chunk (≤ 4 MiB).
 */
export class S2StreamDecoder {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private sawIdentifier = false;

  /** Decode what `data` completes; returns the uncompressed pieces (possibly none). */
  push(data: Uint8Array): Buffer[] {
    if (data.length > 0) {
      this.pending.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      this.pendingLen += data.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.pendingLen < 4) break;
      const head = this.peek(4);
      const type = head[0];
      const len = head[1] | (head[2] << 8) | (head[3] << 16);
      if (this.pendingLen < 4 + len) break;
      const chunk = this.take(4 + len).subarray(4);
      const piece = this.chunk(type, chunk);
      if (piece !== undefined && piece.length > 0) out.push(piece);
    }
    // What waits for the rest of its chunk must not be a view of the caller's buffer: readers
    // of sockets reuse theirs.
    if (this.pendingLen > 0 && this.pending.some((b) => b.buffer === data.buffer)) this.pending = [Buffer.concat(this.pending, this.pendingLen)];
    return out;
  }

  /** The stream must end on a chunk boundary. */
  end(): void {
    if (this.pendingLen > 0) throw new S2Error(`truncated stream (${this.pendingLen} bytes left over)`);
  }

  private chunk(type: number, body: Buffer): Buffer | undefined {
    if (type === CHUNK_IDENTIFIER) {
      if (body.length !== 6 || !(body.equals(S2_MAGIC) || body.equals(SNAPPY_MAGIC))) throw new S2Error("bad stream identifier");
      this.sawIdentifier = true;
      return undefined;
    }
    if (!this.sawIdentifier) throw new S2Error("stream does not start with an identifier");
    if (type === CHUNK_COMPRESSED || type === CHUNK_UNCOMPRESSED) {
      if (body.length < 4) throw new S2Error("chunk too short");
      const want = body.readUInt32LE(0);
      const data = type === CHUNK_COMPRESSED ? s2DecodeBlock(body.subarray(4)) : body.subarray(4);
      if (data.length > S2_MAX_BLOCK) throw new S2Error("chunk too large");
      if (maskedCrc(data) !== want) throw new S2Error("checksum mismatch");
      return type === CHUNK_UNCOMPRESSED ? Buffer.from(data) : data;
    }
    if (type >= 0x80) return undefined; // skippable (padding, index)
    throw new S2Error(`unsupported chunk type 0x${type.toString(16)}`);
  }

  private peek(n: number): Buffer {
    if (this.pending[0].length >= n) return this.pending[0];
    return Buffer.concat(this.pending, Math.min(this.pendingLen, Math.max(n, 4)));
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.pending[0];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const p = this.pending[0];
        const k = Math.min(p.length, n - at);
        p.copy(out, at, 0, k);
        at += k;
        if (k === p.length) this.pending.shift();
        else this.pending[0] = p.subarray(k);
      }
    }
    this.pendingLen -= n;
    return out;
  }
}

/** Decode a whole S2 stream held in memory. */
export function s2DecodeStream(data: Uint8Array): Buffer {
  const d = new S2StreamDecoder();
  const parts = d.push(data);
  d.end();
  return Buffer.concat(parts);
}

/**
 * Incremental S2 stream encoder: `write` buffers up to one block and returns the framed
 * chunks completed so far; `flush` frames what is buffered (e.g. at the end).
 */
export class S2StreamEncoder {
  private started = false;
  private buf: Buffer;
  private used = 0;

  constructor(
    private readonly blockSize = ENCODE_BLOCK,
    /** Snappy's identifier instead of S2's (blocks of at most 64 KiB): readable by any Snappy framing reader. */
    private readonly magic = S2_MAGIC,
  ) {
    this.buf = Buffer.allocUnsafe(blockSize);
  }

  write(data: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    this.start(out);
    let at = 0;
    while (at < data.length) {
      const n = Math.min(data.length - at, this.blockSize - this.used);
      this.buf.set(data.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === this.blockSize) this.frame(out);
    }
    return out;
  }

  flush(): Buffer[] {
    const out: Buffer[] = [];
    this.start(out);
    if (this.used > 0) this.frame(out);
    return out;
  }

  private start(out: Buffer[]): void {
    if (this.started) return;
    this.started = true;
    const id = Buffer.allocUnsafe(10);
    id[0] = CHUNK_IDENTIFIER;
    id.writeUIntLE(6, 1, 3);
    this.magic.copy(id, 4);
    out.push(id);
  }

  private frame(out: Buffer[]): void {
    const raw = this.buf.subarray(0, this.used);
    const crc = maskedCrc(raw);
    const z = s2EncodeBlock(raw);
    const compressed = z.length < raw.length;
    const body = compressed ? z : raw;
    const head = Buffer.allocUnsafe(8);
    head[0] = compressed ? CHUNK_COMPRESSED : CHUNK_UNCOMPRESSED;
    head.writeUIntLE(body.length + 4, 1, 3);
    head.writeUInt32LE(crc, 4);
    out.push(head, compressed ? body : Buffer.from(body));
    this.used = 0;
  }
}

/** The chunk every S2 stream starts with (a stream may repeat it: concatenated streams). */
export const S2_STREAM_IDENTIFIER: Buffer = (() => {
  const id = Buffer.allocUnsafe(10);
  id[0] = CHUNK_IDENTIFIER;
  id.writeUIntLE(6, 1, 3);
  S2_MAGIC.copy(id, 4);
  return id;
})();

/**
 * `data` framed as whole stream chunks (no identifier) in one buffer: blocks of at most
 * 1 MiB, each compressed (with s2_block_encoder.ts: faster than the binding, and S2's repeats)
 * unless `uncompressed` is asked or compressing does not make it smaller. For connections
 * that compress each flush (routes, leaf nodes).
 */
export function s2FrameChunks(data: Buffer, uncompressed: boolean): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (let at = 0; at < data.length; at += ENCODE_BLOCK) {
    const raw = data.subarray(at, Math.min(data.length, at + ENCODE_BLOCK));
    const z = uncompressed ? undefined : encodeS2Block(raw);
    const compressed = z !== undefined && z.length < raw.length;
    const body = compressed ? (z as Buffer) : raw;
    const head = Buffer.allocUnsafe(8);
    head[0] = compressed ? CHUNK_COMPRESSED : CHUNK_UNCOMPRESSED;
    head.writeUIntLE(body.length + 4, 1, 3);
    head.writeUInt32LE(maskedCrc(raw), 4);
    parts.push(head, body);
    total += 8 + body.length;
  }
  return Buffer.concat(parts, total);
}

/** Encode a whole buffer in Snappy's framing format (nats-server's "snappy" Content-Encoding: S2's Snappy-compatible writer). */
export function snappyEncodeStream(data: Uint8Array): Buffer {
  const e = new S2StreamEncoder(SNAPPY_MAX_BLOCK, SNAPPY_MAGIC);
  return Buffer.concat([...e.write(data), ...e.flush()]);
}

/** Encode a whole buffer as an S2 stream. */
export function s2EncodeStream(data: Uint8Array): Buffer {
  const e = new S2StreamEncoder();
  return Buffer.concat([...e.write(data), ...e.flush()]);
}
