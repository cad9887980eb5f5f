// Value formats of nats-server's monitoring JSON: Go's RFC 3339 timestamps with trimmed
// fractional seconds, Go's Duration strings (rtt), nats-server's uptime strings
// ("1d2h3m4s"), and durations as integer nanoseconds.

/** A Date as Go prints a UTC time.Time in JSON: fractional seconds without trailing zeros. */
export function goTime(d: Date | number): string {
  const iso = (typeof d === "number" ? new Date(d) : d).toISOString(); // 2024-01-02T03:04:05.678Z
  const dot = iso.indexOf(".");
  if (dot < 0) return iso;
  let frac = iso.slice(dot + 1, iso.length - 1);
  frac = frac.replace(/0+$/, "");
  return frac === "" ? iso.slice(0, dot) + "Z" : `${iso.slice(0, dot)}.${frac}Z`;
}

/** Milliseconds to nanoseconds, the unit of Go's time.Duration in JSON. */
export function msToNs(ms: number): number {
  return Math.round(ms * 1e6);
}

/**
 * How long a server or connection has been up, as nats-server prints it: only the
 * units that matter, whole seconds, days and years ("45s", "3m2s", "1d0h0m5s", "1y2d3h4m5s").
 */
export function uptime(ms: number): string {
  const secs = Math.max(0, Math.floor(ms / 1000));
  const mins = Math.floor(secs / 60);
  const hours = Math.floor(mins / 60);
  const days = Math.floor(hours / 24);
  const years = Math.floor(days / 365);
  if (years > 0) return `${years}y${days % 365}d${hours % 24}h${mins % 60}m${secs % 60}s`;
  if (days > 0) return `${days}d${hours % 24}h${mins % 60}m${secs % 60}s`;
  if (hours > 0) return `${hours}h${mins % 60}m${secs % 60}s`;
  if (mins > 0) return `${mins}m${secs % 60}s`;
  return `${secs}s`;
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

/** `v / 10^digits` printed with the fractional part's trailing zeros removed. */
function fraction(v: number, digits: number): string {
  const div = 10 ** digits;
  const whole = Math.floor(v / div);
  const rest = v - whole * div;
  if (rest === 0) return String(whole);
  return `${whole}.${String(rest).padStart(digits, "0").replace(/0+$/, "")}`;
}

/** Code-unit order of strings (as Go's sort of names), for Array.prototype.sort. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
