// nats-server's stream backup archive (2.15, "NATSARC1"): what a stream snapshot carries
// inside its S2 stream. It is a sequence of entries after the 8 magic bytes, each
//
//   uvarint name length | varint timestamp (ns) | uvarint sequence | uvarint header size |
//   uvarint payload size | name | header size + payload size bytes
//
// (Go's encoding/binary varints: 7 bits per byte, least significant first; signed values
// zig-zag encoded). A backup is `state.json` (the stream state), one `consumers/<name>` JSON
// entry per consumer ({config, state}), then one entry per message (name = subject,
// timestamp, sequence, headers then data), then an all-zero entry that marks its end.
//
// Both sides here are incremental: the writer hands back bytes entry by entry, the reader
// takes bytes in any pieces and returns whole entries, so a backup of any size passes
// through bounded memory (the largest entry plus one input piece).

export const ARCHIVE_MAGIC = Buffer.from("NATSARC1", "latin1");
/** Names longer than this are refused when reading (a corrupt length must not allocate). */
const MAX_NAME = 1 << 20;

export interface ArchiveEntry {
  name: string;
  /** ns since the epoch (0 for the end marker). */
  timestamp: bigint;
  /** 0 = not a message. */
  sequence: number;
  headerSize: number;
  payloadSize: number;
  /** header bytes followed by payload bytes. */
  body: Buffer;
}

export class ArchiveError extends Error {
  constructor(message: string) {
    super(`archive: ${message}`);
    this.name = "ArchiveError";
  }
}

function uvarintSize(v: number | bigint): number {
  let n = 1;
  let x = BigInt(v);
  while (x >= 0x80n) {
    x >>= 7n;
    n++;
  }
  return n;
}

function putUvarint(buf: Buffer, at: number, v: number): number {
  // Numbers here stay below 2^53: split the work between 32-bit steps and division.
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

function putUvarintBig(buf: Buffer, at: number, v: bigint): number {
  while (v >= 0x80n) {
    buf[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  buf[at++] = Number(v);
  return at;
}

/** Go's zig-zag: 2v for v >= 0, -2v-1 for v < 0. */
function zigzag(v: bigint): bigint {
  return v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
}

function unzigzag(u: bigint): bigint {
  return (u & 1n) === 0n ? u >> 1n : -((u + 1n) >> 1n);
}

/** Writes archive entries; each call returns the bytes to append to the archive. */
export class ArchiveWriter {
  private started = false;

  entry(name: string, timestamp: bigint, sequence: number, header: Uint8Array | undefined, payload: Uint8Array): Buffer {
    const nameBytes = Buffer.byteLength(name);
    const hs = header?.length ?? 0;
    const ts = zigzag(timestamp);
    const size =
      (this.started ? 0 : ARCHIVE_MAGIC.length) +
      uvarintSize(nameBytes) +
      uvarintSize(ts) +
      uvarintSize(sequence) +
      uvarintSize(hs) +
      uvarintSize(payload.length) +
      nameBytes +
      hs +
      payload.length;
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    if (!this.started) {
      ARCHIVE_MAGIC.copy(buf, 0);
      at = ARCHIVE_MAGIC.length;
      this.started = true;
    }
    at = putUvarint(buf, at, nameBytes);
    at = putUvarintBig(buf, at, ts);
    at = putUvarint(buf, at, sequence);
    at = putUvarint(buf, at, hs);
    at = putUvarint(buf, at, payload.length);
    at += buf.write(name, at, "utf8");
    if (hs > 0) {
      buf.set(header!, at);
      at += hs;
    }
    buf.set(payload, at);
    return buf;
  }

  /** The all-zero entry that closes a backup. */
  end(): Buffer {
    return this.entry("", 0n, 0, undefined, Buffer.alloc(0));
  }
}

/** Reads archive entries from bytes given in any pieces. */
export class ArchiveReader {
  private buf = Buffer.alloc(0);
  private sawMagic = false;

  /** Append bytes; returns the entries they complete. */
  push(data: Uint8Array): ArchiveEntry[] {
    if (data.length > 0) this.buf = this.buf.length === 0 ? Buffer.from(data) : Buffer.concat([this.buf, data]);
    const out: ArchiveEntry[] = [];
    let at = 0;
    if (!this.sawMagic) {
      if (this.buf.length < ARCHIVE_MAGIC.length) return out;
      if (!this.buf.subarray(0, ARCHIVE_MAGIC.length).equals(ARCHIVE_MAGIC)) throw new ArchiveError("not a NATSARC1 archive");
      this.sawMagic = true;
      at = ARCHIVE_MAGIC.length;
    }
    for (;;) {
      const e = this.parse(at);
      if (e === undefined) break;
      out.push(e.entry);
      at = e.next;
    }
    this.buf = at >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(at));
    return out;
  }

  /** Bytes received but not yet part of a whole entry (0 at a clean end). */
  get leftover(): number {
    return this.buf.length;
  }

  private parse(start: number): { entry: ArchiveEntry; next: number } | undefined {
    const b = this.buf;
    let at = start;
    const read = (): bigint | undefined => {
      let v = 0n;
      let shift = 0n;
      for (let i = 0; i < 10; i++) {
        if (at >= b.length) return undefined;
        const c = b[at++];
        v |= BigInt(c & 0x7f) << shift;
        if (c < 0x80) return v;
        shift += 7n;
      }
      throw new ArchiveError("bad varint");
    };
    const nameLen = read();
    const ts = read();
    const seq = read();
    const hs = read();
    const ps = read();
    if (nameLen === undefined || ts === undefined || seq === undefined || hs === undefined || ps === undefined) return undefined;
    if (nameLen > BigInt(MAX_NAME) || hs > BigInt(Number.MAX_SAFE_INTEGER) || ps > BigInt(Number.MAX_SAFE_INTEGER) || seq > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ArchiveError("invalid entry sizes");
    }
    const n = Number(nameLen);
    const body = Number(hs) + Number(ps);
    if (body > 1 << 30) throw new ArchiveError("entry too large");
    if (b.length - at < n + body) return undefined;
    const name = b.toString("utf8", at, at + n);
    at += n;
    const entry: ArchiveEntry = {
      name,
      timestamp: unzigzag(ts),
      sequence: Number(seq),
      headerSize: Number(hs),
      payloadSize: Number(ps),
      body: Buffer.from(b.subarray(at, at + body)),
    };
    return { entry, next: at + body };
  }
}
