// Small helpers shared by the JetStream files: ADR-6 name checks, nats-server's short hashes.
import { createHash } from "node:crypto";

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

// ---- short hashes ----

const HASH_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * nats-server's getHash: the first 8 bytes of SHA-256(name), each mapped to a base-62 digit.
 * Names derived from it (stream identities, sourcing consumer names, source index names)
 * must match nats-server's, so a copy made by one server can be continued by the other.
 */
export function shortHash(name: string, size = 8): string {
  const b = createHash("sha256").update(name).digest();
  let s = "";
  for (let i = 0; i < size; i++) s += HASH_DIGITS[b[i] % 62];
  return s;
}

/** A random token of base-62 digits (nats-server's reply and deliver subject suffixes). */
export function randomToken(size = 8): string {
  let s = "";
  for (let i = 0; i < size; i++) s += HASH_DIGITS[Math.floor(Math.random() * 62)];
  return s;
}

// ---- bytes ----

/** Write a non-negative integer (up to 2^53) in decimal at `p`; returns the position after it. */
export function writeDecimal(buf: Uint8Array, p: number, n: number): number {
  if (n < 10) {
    buf[p] = 48 + n;
    return p + 1;
  }
  let len = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
  let q = p + len;
  for (let x = n; x > 0; ) {
    const d = x % 10;
    buf[--q] = 48 + d;
    x = (x - d) / 10;
  }
  return p + len;
}

/** The decimal number in str[start, end) (digits only), NaN when empty or not all digits. */
export function parseDecimal(str: string, start: number, end: number): number {
  if (end <= start) return NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = str.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    n = n * 10 + c;
  }
  return n;
}
