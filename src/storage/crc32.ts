// CRC-32 (IEEE 802.3, the zlib/PNG polynomial). Long ranges go to zlib's native crc32
// (Node 20.15+ and 22), several times faster on a 1 KiB message; short ones (record headers,
// small messages) stay with this slice-by-8 table, which beats the call into native code.
import zlib from "node:zlib";

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
/** From this many bytes the native crc32 is faster. */
const NATIVE_MIN = 192;

const T = new Int32Array(256 * 8);
(() => {
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    T[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let t = 1; t < 8; t++) {
      const prev = T[(t - 1) * 256 + i]!;
      T[t * 256 + i] = (prev >>> 8) ^ T[prev & 0xff]!;
    }
  }
})();

/**
 * Continue a CRC over buf[start, end). Start with crc = 0; feed the result of one call
 * into the next to checksum non-contiguous ranges. Returns an unsigned 32-bit value.
 */
export function crc32(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  if (end - start >= NATIVE_MIN && nativeCrc32 !== undefined) {
    return nativeCrc32(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start), crc);
  }
  let c = ~crc | 0;
  let i = start;
  const end8 = end - 8;
  while (i <= end8) {
    const lo = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    c =
      T[1792 + (lo & 0xff)]! ^
      T[1536 + ((lo >>> 8) & 0xff)]! ^
      T[1280 + ((lo >>> 16) & 0xff)]! ^
      T[1024 + (lo >>> 24)]! ^
      T[768 + (hi & 0xff)]! ^
      T[512 + ((hi >>> 8) & 0xff)]! ^
      T[256 + ((hi >>> 16) & 0xff)]! ^
      T[hi >>> 24]!;
    i += 8;
  }
  while (i < end) c = T[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
