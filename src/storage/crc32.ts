// CRC-32 (IEEE 802.3, the zlib/PNG polynomial), slice-by-8 table implementation.
// node's zlib.crc32 only exists from node 22; we support node 20.

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
