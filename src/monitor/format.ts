// Value formats of nats-server's monitoring JSON: Go's RFC 3339 timestamps with trimmed
// fractional seconds and nats-server's uptime strings ("1d2h3m4s"). Go durations are in
// server/time.ts.

/** A Date as Go prints a UTC time.Time in JSON: fractional seconds without trailing zeros. */
export function goTime(d: Date | number): string {
  const iso = (typeof d === "number" ? new Date(d) : d).toISOString(); // 2024-01-02T03:04:05.678Z
  const dot = iso.indexOf(".");
  if (dot < 0) return iso;
  let frac = iso.slice(dot + 1, iso.length - 1);
  frac = frac.replace(/0+$/, "");
  return frac === "" ? iso.slice(0, dot) + "Z" : `${iso.slice(0, dot)}.${frac}Z`;
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

/** Code-unit order of strings (as Go's sort of names), for Array.prototype.sort. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
