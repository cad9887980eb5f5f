// Cron patterns for message schedules (ADR-51, nats-server 2.14): six fields (second,
// minute, hour, day of month, month, day of week) of `*`/`?`, numbers, names (jan..dec,
// sun..sat), ranges `a-b`, steps `/n` and lists. Day of month and day of week combine as
// in classic cron: when either is a star both must match, otherwise either may. Times are
// computed in the schedule's time zone (an IANA name, UTC when none), and a pattern with no
// match within five years is refused.

interface Field {
  /** allowed[v] for every value the field may take. */
  allowed: Uint8Array;
  /** The field was written with a star (matters for the day-of-month/day-of-week rule). */
  star: boolean;
}

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const SECONDS: Bounds = { min: 0, max: 59 };
const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DAYS: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = {
  min: 1,
  max: 12,
  names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 },
};
const WEEKDAYS: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

function number(text: string, b: Bounds): number | undefined {
  const named = b.names?.[text.toLowerCase()];
  if (named !== undefined) return named;
  return /^[+-]?\d+$/.test(text) && Number(text) >= 0 ? Number(text) : undefined;
}

/** One field of a pattern; undefined when it does not parse or leaves its bounds. */
function parseField(text: string, b: Bounds): Field | undefined {
  const allowed = new Uint8Array(64);
  let star = false;
  const parts = text.split(",").filter((p) => p !== "");
  for (const part of parts) {
    const stepParts = part.split("/");
    if (stepParts.length > 2) return undefined;
    const range = stepParts[0]!.split("-");
    let start: number;
    let end: number;
    let partStar = false;
    if (range[0] === "*" || range[0] === "?") {
      start = b.min;
      end = b.max;
      partStar = true;
    } else {
      if (range.length > 2) return undefined;
      const s = number(range[0]!, b);
      if (s === undefined) return undefined;
      start = s;
      if (range.length === 2) {
        const e = number(range[1]!, b);
        if (e === undefined) return undefined;
        end = e;
      } else {
        end = s;
      }
    }
    let step = 1;
    if (stepParts.length === 2) {
      if (!/^[+-]?\d+$/.test(stepParts[1]!) || Number(stepParts[1]) < 0) return undefined;
      step = Number(stepParts[1]);
      // "n/step" runs from n to the field's end.
      if (range.length === 1) end = b.max;
      if (step > 1) partStar = false;
    }
    if (start < b.min || end > b.max || start > end || step === 0) return undefined;
    for (let v = start; v <= end; v += step) allowed[v] = 1;
    if (partStar) star = true;
  }
  return { allowed, star };
}

export interface CronSchedule {
  second: Field;
  minute: Field;
  hour: Field;
  day: Field;
  month: Field;
  weekday: Field;
}

export function parseCron(pattern: string): CronSchedule | undefined {
  const f = pattern.trim().split(/\s+/);
  if (f.length !== 6) return undefined;
  const second = parseField(f[0]!, SECONDS);
  const minute = parseField(f[1]!, MINUTES);
  const hour = parseField(f[2]!, HOURS);
  const day = parseField(f[3]!, DAYS);
  const month = parseField(f[4]!, MONTHS);
  const weekday = parseField(f[5]!, WEEKDAYS);
  if (!second || !minute || !hour || !day || !month || !weekday) return undefined;
  return { second, minute, hour, day, month, weekday };
}

// ---- time zones ----

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter for wall-clock fields in `zone`; undefined for an unknown zone. */
function zoneFormatter(zone: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(zone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch {
      return undefined;
    }
    formatters.set(zone, f);
  }
  return f;
}

/** Is `zone` a time zone this server can compute with (Go's time.LoadLocation)? */
export function isKnownTimeZone(zone: string): boolean {
  return zone !== "" && zoneFormatter(zone) !== undefined;
}

/** The wall clock of `zone` at `ms`, as milliseconds of a UTC clock showing the same fields. */
function wallClock(ms: number, zone: string | undefined): number {
  if (zone === undefined) return ms;
  const parts = zoneFormatter(zone)!.formatToParts(new Date(ms));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)!.value);
  return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second")) + (ms % 1000);
}

/** The instant at which `zone`'s wall clock shows `wall` (the earlier one around DST changes). */
function instantOf(wall: number, zone: string | undefined): number {
  if (zone === undefined) return wall;
  // Offsets move at most a few hours: two corrections settle on the zone's offset there.
  let t = wall - (wallClock(wall, zone) - wall);
  t = wall - (wallClock(t, zone) - t);
  return t;
}

function dayMatches(c: CronSchedule, d: Date): boolean {
  const dom = c.day.allowed[d.getUTCDate()] === 1;
  const dow = c.weekday.allowed[d.getUTCDay()] === 1;
  return c.day.star || c.weekday.star ? dom && dow : dom || dow;
}

/**
 * The first time (ms since the epoch) after `afterMs`, at a whole second, that the pattern
 * matches in `zone`; undefined when there is none within five years.
 */
export function nextCronTime(c: CronSchedule, afterMs: number, zone?: string): number | undefined {
  // Work on the zone's wall clock held in a Date's UTC fields, one field at a time from the
  // month down; a field that wraps sends the search back to the month.
  const d = new Date(Math.floor(wallClock(afterMs, zone) / 1000) * 1000 + 1000);
  const yearLimit = d.getUTCFullYear() + 5;
  let truncated = false;
  for (;;) {
    if (d.getUTCFullYear() > yearLimit) return undefined;
    let wrapped = false;
    while (c.month.allowed[d.getUTCMonth() + 1] !== 1) {
      if (!truncated) {
        truncated = true;
        d.setUTCDate(1);
        d.setUTCHours(0, 0, 0, 0);
      }
      d.setUTCMonth(d.getUTCMonth() + 1);
      if (d.getUTCMonth() === 0) {
        wrapped = true;
        break;
      }
    }
    if (wrapped) continue;
    while (!dayMatches(c, d)) {
      if (!truncated) {
        truncated = true;
        d.setUTCHours(0, 0, 0, 0);
      }
      d.setUTCDate(d.getUTCDate() + 1);
      if (d.getUTCDate() === 1) {
        wrapped = true;
        break;
      }
    }
    if (wrapped) continue;
    while (c.hour.allowed[d.getUTCHours()] !== 1) {
      if (!truncated) {
        truncated = true;
        d.setUTCMinutes(0, 0, 0);
      }
      d.setUTCHours(d.getUTCHours() + 1);
      if (d.getUTCHours() === 0) {
        wrapped = true;
        break;
      }
    }
    if (wrapped) continue;
    while (c.minute.allowed[d.getUTCMinutes()] !== 1) {
      if (!truncated) {
        truncated = true;
        d.setUTCSeconds(0, 0);
      }
      d.setUTCMinutes(d.getUTCMinutes() + 1);
      if (d.getUTCMinutes() === 0) {
        wrapped = true;
        break;
      }
    }
    if (wrapped) continue;
    while (c.second.allowed[d.getUTCSeconds()] !== 1) {
      if (!truncated) {
        truncated = true;
        d.setUTCMilliseconds(0);
      }
      d.setUTCSeconds(d.getUTCSeconds() + 1);
      if (d.getUTCSeconds() === 0) {
        wrapped = true;
        break;
      }
    }
    if (wrapped) continue;
    return instantOf(d.getTime(), zone);
  }
}
