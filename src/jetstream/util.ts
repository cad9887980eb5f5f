// Small helpers shared by the JetStream files: nanosecond time, RFC3339 rendering as Go's
// time.Time marshals it, header block parsing/building, and ADR-6 name checks.

/** Wall clock in nanoseconds since the epoch. hrtime gives sub-ms precision, anchored once. */
const anchorMs = Date.now();
const anchorHr = process.hrtime.bigint();
export function nowNs(): bigint {
  return BigInt(anchorMs) * 1_000_000n + (process.hrtime.bigint() - anchorHr);
}

export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** RFC3339 with nanoseconds, trailing zeros trimmed like Go's RFC3339Nano. 0 → Go's zero time. */
export function rfc3339(ns: bigint | number): string {
  const n = typeof ns === "bigint" ? ns : BigInt(Math.trunc(ns));
  if (n === 0n) return ZERO_TIME;
  const ms = Number(n / 1_000_000n);
  const frac = n % 1_000_000_000n;
  const base = new Date(ms).toISOString().slice(0, 19);
  if (frac === 0n) return `${base}Z`;
  const f = frac.toString().padStart(9, "0").replace(/0+$/, "");
  return `${base}.${f}Z`;
}

/** Parse an RFC3339 timestamp (any fraction length) to ns. Undefined when malformed. */
export function parseRfc3339(s: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0") || "0");
  return BigInt(ms) * 1_000_000n + frac;
}

export const MS_NS = 1_000_000;
export const SEC_NS = 1_000_000_000;

// ---- headers ----

const HDR_PREFIX = "NATS/1.0";

/**
 * Read one header's first value from a raw header block without decoding the whole block.
 * Keys compare case-sensitively (ADR-4), as nats-server does for its own headers.
 */
export function getHeader(hdr: Buffer | undefined, key: string): string | undefined {
  if (hdr === undefined) return undefined;
  const needle = `\r\n${key}:`;
  const at = hdr.indexOf(needle, 0, "latin1");
  if (at < 0) return undefined;
  let start = at + needle.length;
  const end = hdr.indexOf("\r\n", start, "latin1");
  if (end < 0) return undefined;
  while (start < end && (hdr[start] === 32 || hdr[start] === 9)) start++;
  let stop = end;
  while (stop > start && (hdr[stop - 1] === 32 || hdr[stop - 1] === 9)) stop--;
  return hdr.toString("latin1", start, stop);
}

/** Parse a header block into ordered [key, value] pairs (status line excluded). */
export function parseHeaders(hdr: Buffer): Array<[string, string]> {
  const text = hdr.toString("latin1");
  const lines = text.split("\r\n");
  const out: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const c = line.indexOf(":");
    if (c <= 0) continue;
    out.push([line.slice(0, c), line.slice(c + 1).trim()]);
  }
  return out;
}

/** Build a header block; `status` like "404 No Messages". */
export function buildHeaders(pairs: Array<[string, string]>, status?: string): Buffer {
  let s = status !== undefined ? `${HDR_PREFIX} ${status}\r\n` : `${HDR_PREFIX}\r\n`;
  for (const [k, v] of pairs) s += `${k}: ${v}\r\n`;
  s += "\r\n";
  return Buffer.from(s, "latin1");
}

/** Remove the given keys from a header block; undefined when nothing but the status line is left. */
export function removeHeaders(hdr: Buffer, keys: string[]): Buffer | undefined {
  const pairs = parseHeaders(hdr).filter(([k]) => !keys.includes(k));
  if (pairs.length === 0) return undefined;
  return buildHeaders(pairs);
}

/** Append headers to an existing block (or start one). */
export function appendHeaders(hdr: Buffer | undefined, pairs: Array<[string, string]>): Buffer {
  if (hdr === undefined || hdr.length < 12) return buildHeaders(pairs);
  let add = "";
  for (const [k, v] of pairs) add += `${k}: ${v}\r\n`;
  // Insert before the final blank line.
  return Buffer.concat([hdr.subarray(0, hdr.length - 2), Buffer.from(add, "latin1"), Buffer.from("\r\n")]);
}

// ---- names (ADR-6) ----

/** Stream/consumer names: printable, no whitespace, no `.`, `*`, `>`, no path separators. */
export function nameProblem(name: string): "empty" | "chars" | "path" | "long" | undefined {
  if (name.length === 0) return "empty";
  if (name.length > 255) return "long";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 47 || c === 92) return "path";
    if (c === 46 || c === 42 || c === 62 || c <= 32 || c === 127) return "chars";
  }
  return undefined;
}

/** Tokens of a subject without allocating an array, for the few hot-path checks. */
export function tokenCount(subject: string): number {
  let n = 1;
  for (let i = 0; i < subject.length; i++) if (subject.charCodeAt(i) === 46) n++;
  return n;
}
