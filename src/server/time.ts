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

// ---- Go's time.Parse(time.RFC3339, s), for JSON times in API requests ----

const RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00";

/** A time read the way Go reads it from JSON: the instant and the offset it was written with. */
export interface GoTime {
  ns: bigint;
  /** Offset from UTC in minutes as written ("Z" = 0). */
  offsetMin: number;
  utc: boolean;
}

function goQuote(s: string): string {
  return JSON.stringify(s);
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

const isDigitAt = (s: string, i: number): boolean => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

/** Go's getnum: one or two digits (exactly two when `fixed`). */
function getnum(s: string, fixed: boolean): [number, string] | undefined {
  if (!isDigitAt(s, 0)) return undefined;
  if (!isDigitAt(s, 1)) return fixed ? undefined : [s.charCodeAt(0) - 48, s.slice(1)];
  return [(s.charCodeAt(0) - 48) * 10 + (s.charCodeAt(1) - 48), s.slice(2)];
}

/**
 * Parse `s` as Go's time.Parse(time.RFC3339, s) does; a string is Go's error text (what
 * nats-server answers after "invalid JSON: ").
 */
export function parseGoTime(s: string): GoTime | string {
  const bad = (elem: string, valueElem: string): string => `parsing time ${goQuote(s)} as ${goQuote(RFC3339_LAYOUT)}: cannot parse ${goQuote(valueElem)} as ${goQuote(elem)}`;
  const range = (what: string): string => `parsing time ${goQuote(s)}: ${what} out of range`;
  let v = s;
  const lit = (c: string): string | undefined => {
    if (!v.startsWith(c)) return bad(c, v);
    v = v.slice(c.length);
    return undefined;
  };
  // year
  if (v.length < 4 || !/^[+-]?\d+$/.test(v.slice(0, 4))) return bad("2006", v);
  const year = Number(v.slice(0, 4));
  v = v.slice(4);
  let e = lit("-");
  if (e) return e;
  let hold = v;
  let r = getnum(v, true);
  if (r === undefined) return bad("01", hold);
  const month = r[0];
  v = r[1];
  if (month <= 0 || month > 12) return range("month");
  e = lit("-");
  if (e) return e;
  hold = v;
  r = getnum(v, true);
  if (r === undefined) return bad("02", hold);
  const day = r[0];
  v = r[1];
  if (day < 0 || day > 31) return range("day");
  e = lit("T");
  if (e) return e;
  hold = v;
  r = getnum(v, false);
  if (r === undefined) return bad("15", hold);
  const hour = r[0];
  v = r[1];
  if (hour < 0 || hour >= 24) return range("hour");
  e = lit(":");
  if (e) return e;
  hold = v;
  r = getnum(v, true);
  if (r === undefined) return bad("04", hold);
  const min = r[0];
  v = r[1];
  if (min < 0 || min >= 60) return range("minute");
  e = lit(":");
  if (e) return e;
  hold = v;
  r = getnum(v, true);
  if (r === undefined) return bad("05", hold);
  const sec = r[0];
  v = r[1];
  if (sec < 0 || sec >= 60) return range("second");
  // A fraction is taken even though the layout has none (Go's special case).
  let nanos = 0;
  if (v.length >= 2 && (v[0] === "." || v[0] === ",") && isDigitAt(v, 1)) {
    let n = 2;
    while (n < v.length && isDigitAt(v, n)) n++;
    const digits = v.slice(1, n);
    if (digits.length > 9) return range("fractional second");
    nanos = Number(digits.padEnd(9, "0"));
    v = v.slice(n);
  }
  // zone
  hold = v;
  let offsetMin = 0;
  let utc = false;
  if (v.length >= 1 && v[0] === "Z") {
    v = v.slice(1);
    utc = true;
  } else {
    if (v.length < 6 || v[3] !== ":") return bad("Z07:00", hold);
    const sign = v[0];
    const hh = getnum(v.slice(1, 3), true);
    const mm = getnum(v.slice(4, 6), true);
    if (hh === undefined || mm === undefined || (sign !== "+" && sign !== "-")) return bad("Z07:00", hold);
    if (hh[0] > 24) return range("time zone offset hour");
    if (mm[0] > 60) return range("time zone offset minute");
    offsetMin = (sign === "-" ? -1 : 1) * (hh[0] * 60 + mm[0]);
    v = v.slice(6);
  }
  if (v.length > 0) return `parsing time ${goQuote(s)}: extra text: ${goQuote(v)}`;
  if (day < 1 || day > daysIn(month, year)) return range("day");
  // setUTCFullYear, not Date.UTC: the latter reads years 0-99 as 1900-1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, min, sec, 0);
  const ms = d.getTime() - offsetMin * 60_000;
  return { ns: BigInt(ms) * 1_000_000n + BigInt(nanos), offsetMin, utc };
}

/** Go's error text for a JSON time string it cannot read, or undefined when it can. */
export function goTimeParseError(s: string): string | undefined {
  const t = parseGoTime(s);
  return typeof t === "string" ? t : undefined;
}

/** How Go marshals a time: RFC 3339 with trimmed nanoseconds, in the offset it carries. */
export function formatGoTime(t: GoTime): string {
  if (t.utc || t.offsetMin === 0) return rfc3339(t.ns);
  const shifted = rfc3339(t.ns + BigInt(t.offsetMin) * 60_000_000_000n).slice(0, -1);
  const a = Math.abs(t.offsetMin);
  return `${shifted}${t.offsetMin < 0 ? "-" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}
