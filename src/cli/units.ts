// Durations and sizes as people type them on the command line and as tsnats prints them,
// following natscli's conventions (Go durations plus d/w/M/y, "1GB"/"1GiB" = 2^30 bytes,
// "-1" = unlimited) so the same command lines work.
import { parseDuration } from "../config/conf_parser.js";
import { CliError } from "./runtime.js";

const LONG_UNITS_MS: Record<string, number> = {
  y: 365 * 24 * 3600_000,
  M: 30 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
};

/**
 * Parse a duration in milliseconds: Go syntax ("1h30m", "500ms") plus the long units natscli
 * accepts (y, M = 30 days, w, d), in any combination ("1d12h"). A bare number is seconds.
 */
export function parseDurationMs(text: string, what = "duration"): number {
  const s = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  let total = 0;
  let rest = s;
  // Peel off leading long-unit terms; the remainder (if any) is a Go duration.
  for (;;) {
    const m = /^(\d+(?:\.\d+)?)([yMwd])/.exec(rest);
    if (!m) break;
    total += Number(m[1]) * LONG_UNITS_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (rest === "") {
    if (total === 0 && s !== "0") throw new CliError(`invalid ${what} "${text}"`, "use a duration like 90s, 5m, 1h30m, 2d or 1y");
    return total;
  }
  try {
    return total + parseDuration(rest);
  } catch {
    throw new CliError(`invalid ${what} "${text}"`, "use a duration like 90s, 5m, 1h30m, 2d or 1y");
  }
}

/** Duration in nanoseconds (the JetStream API unit). */
export function parseDurationNs(text: string, what = "duration"): number {
  return Math.round(parseDurationMs(text, what) * 1e6);
}

const SIZE_SHIFT: Record<string, number> = { B: 0, K: 10, KB: 10, KIB: 10, M: 20, MB: 20, MIB: 20, G: 30, GB: 30, GIB: 30, T: 40, TB: 40, TIB: 40 };

/** "1024", "1K", "10MB", "1GiB" → bytes; negative or empty → -1 (unlimited), as natscli does. */
export function parseBytes(text: string, what = "size"): number {
  const s = text.trim();
  if (s === "" || s.startsWith("-")) return -1;
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]+)$/.exec(s);
  const shift = m ? SIZE_SHIFT[m[2].toUpperCase()] : undefined;
  if (!m || shift === undefined) throw new CliError(`invalid ${what} "${text}"`, "use a number of bytes or a size like 512KB, 10MB, 1GB (-1 for unlimited)");
  return Math.round(Number(m[1]) * 2 ** shift);
}

/** An integer option; throws a CliError naming the flag. */
export function parseInteger(text: string, what: string, min = Number.MIN_SAFE_INTEGER): number {
  const s = text.trim();
  if (!/^-?\d+$/.test(s)) throw new CliError(`invalid ${what} "${text}": expected an integer`);
  const n = Number(s);
  if (n < min) throw new CliError(`invalid ${what} "${text}": must be at least ${min}`);
  return n;
}

/** 1234567 → "1,234,567" (natscli's humanize.Comma). */
export function fmtNum(n: number | bigint | undefined): string {
  if (n === undefined) return "0";
  if (typeof n === "number" && !Number.isInteger(n)) {
    return n.toLocaleString("en-US", { maximumFractionDigits: 3 });
  }
  return BigInt(n).toLocaleString("en-US");
}

const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** Bytes in IEC units like humanize.IBytes: "512 B", "1.5 KiB", "20 MiB". */
export function fmtBytes(n: number | undefined): string {
  if (n === undefined || n < 0) return "unlimited";
  if (n < 1024) return `${n} B`;
  let v = n;
  let i = 0;
  while (v >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  return v < 10 ? `${v.toFixed(1)} ${IEC[i]}` : `${Math.round(v)} ${IEC[i]}`;
}

/** A duration given in milliseconds, the way natscli prints them ("1d2h3m4s", "1.50s", "250ms"). */
export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms >= 9.2e15) return "never";
  if (ms < 0) return `-${fmtDuration(-ms)}`;
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const secs = Math.floor(ms / 1000);
  const mins = Math.floor(secs / 60);
  const hrs = Math.floor(mins / 60);
  const days = Math.floor(hrs / 24);
  const yrs = Math.floor(days / 365);
  if (yrs > 0) return `${yrs}y${days % 365}d${hrs % 24}h${mins % 60}m${secs % 60}s`;
  if (days > 0) return `${days}d${hrs % 24}h${mins % 60}m${secs % 60}s`;
  if (hrs > 0) return `${hrs}h${mins % 60}m${secs % 60}s`;
  if (mins > 0) return `${mins}m${secs % 60}s`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/** A duration in nanoseconds (JetStream API fields). */
export function fmtNanos(ns: number | undefined): string {
  return fmtDuration((ns ?? 0) / 1e6);
}

/** A timestamp in local time "2006-01-02 15:04:05" as natscli shows them. */
export function fmtTime(t: string | Date | undefined): string {
  if (t === undefined) return "";
  const d = typeof t === "string" ? new Date(t) : t;
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return "never";
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** How long ago a timestamp was ("5.00s", "3m2s"); "never" for the zero time. */
export function fmtAgo(t: string | Date | undefined, now = Date.now()): string {
  if (t === undefined) return "never";
  const d = typeof t === "string" ? new Date(t) : t;
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return "never";
  return fmtDuration(Math.max(0, now - d.getTime()));
}

/** Split a list typed as one argument ("a,b c") into items, as natscli does for subjects. */
export function splitList(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const part of v.split(/[,\s]+/)) if (part !== "") out.push(part);
  return out;
}
