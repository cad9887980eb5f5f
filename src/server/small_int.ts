// Numbers decoded from bytes, kept as V8 small integers (Smis) where they fit. A value computed in
// floating point (readDoubleLE, or lo + hi * 2^32) comes out of optimized code as a heap number
// even when it is a small integer; stored into an object field that held Smis until then, it
// changes the field to a boxed double for every object of that shape: the shape is replaced
// (optimized code built for the old one is thrown away), and from then on each such object made
// allocates a box per field. Sequences, RAFT indexes and terms decoded on one member and counted
// up locally on another meet in the same stores and log entries, so they must have one form.

/** `v` as a small integer when it is one (-0 becomes 0), else unchanged. */
export function smallInt(v: number): number {
  const i = v | 0;
  return i === v ? i : v;
}

/** An unsigned 64-bit little-endian integer at `off` (exact up to 2^53), a small integer when it fits. */
export function readU64LE(b: Buffer, off: number): number {
  const hi = b.readUInt32LE(off + 4);
  const lo = b.readUInt32LE(off);
  return hi === 0 ? lo : lo + hi * 0x1_0000_0000;
}
