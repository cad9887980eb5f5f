// Time as JetStream carries it: nanoseconds since the epoch (bigint), rendered as Go's
// time.Time marshals it (RFC3339 with up to 9 fractional digits, trailing zeros trimmed).

let wallBaseNs = BigInt(Date.now()) * 1_000_000n;
let hrBase = process.hrtime.bigint();
let lastNow = 0n;
let nowCalls = 0;

/** Current time in ns since the Unix epoch (wall clock with ns resolution, never repeats). */
export function nowNs(): bigint {
  let t = wallBaseNs + (process.hrtime.bigint() - hrBase);
  if ((++nowCalls & 1023) === 0) {
    // re-anchor if the wall clock was adjusted
    const wallMs = Date.now();
    const drift = Number(t / 1_000_000n) - wallMs;
    if (drift > 500 || drift < -500) {
      wallBaseNs = BigInt(wallMs) * 1_000_000n;
      hrBase = process.hrtime.bigint();
      t = wallBaseNs;
    }
  }
  if (t <= lastNow) t = lastNow + 1n;
  lastNow = t;
  return t;
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

/** Milliseconds to nanoseconds, the unit of Go's time.Duration in JSON. */
export function msToNs(ms: number): number {
  return Math.round(ms * 1e6);
}

/** `v / 10^digits` printed with the fractional part's trailing zeros removed. */
function fraction(v: number, digits: number): string {
  const div = 10 ** digits;
  const whole = Math.floor(v / div);
  const rest = v - whole * div;
  if (rest === 0) return String(whole);
  return `${whole}.${String(rest).padStart(digits, "0").replace(/0+$/, "")}`;
}

/** Go's time.Duration.String() for a duration given in nanoseconds ("1.5ms", "2m3.25s", "0s"). */
export function goDuration(ns: number): string {
  ns = Math.round(ns);
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    // Below one second Go picks the largest unit that keeps the integer part non-zero.
    if (u < 1e3) out = `${u}ns`;
    else if (u < 1e6) out = `${fraction(u, 3)}µs`;
    else out = `${fraction(u, 6)}ms`;
  } else {
    const h = Math.floor(u / 3.6e12);
    u -= h * 3.6e12;
    const m = Math.floor(u / 6e10);
    u -= m * 6e10;
    out = `${fraction(u, 9)}s`;
    if (h > 0) out = `${h}h${m}m${out}`;
    else if (m > 0) out = `${m}m${out}`;
  }
  return neg ? `-${out}` : out;
}
