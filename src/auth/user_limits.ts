// Where and when a user may connect: allowed connection types, source networks (`src`) and
// connect times (`times` in `times_location`), as nats-server checks them at CONNECT. The
// connection type is an input (a WebSocket or MQTT listener says what it is), so these checks
// do not depend on the transport.
import { parseCidr, parseClock, parseIp, type TimeRange } from "./claims.js";

/** The kinds of connection a user may be restricted to. */
export type ConnectionType = "STANDARD" | "WEBSOCKET" | "LEAFNODE" | "LEAFNODE_WS" | "MQTT" | "MQTT_WS" | "IN_PROCESS";

const KNOWN_TYPES: ReadonlySet<string> = new Set<ConnectionType>(["STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS", "IN_PROCESS"]);

export interface AllowedConnectionTypes {
  /** The known types, upper-cased; empty means every type. */
  readonly types: ReadonlySet<string>;
  /** Names that are not connection types this server knows. */
  readonly unknown: string[];
}

/** Upper-case the list and split it into known and unknown types. */
export function allowedConnectionTypes(list: readonly string[] | undefined): AllowedConnectionTypes {
  const types = new Set<string>();
  const unknown: string[] = [];
  for (const t of list ?? []) {
    const u = t.toUpperCase();
    if (KNOWN_TYPES.has(u)) types.add(u);
    else unknown.push(u);
  }
  return { types, unknown };
}

/**
 * May a connection of type `type` log in? An empty set allows all; a list that names only
 * unknown types allows none (its intent was to restrict the user to them).
 */
export function connectionTypeAllowed(allowed: AllowedConnectionTypes, type: ConnectionType): boolean {
  if (allowed.types.size === 0) return allowed.unknown.length === 0;
  return allowed.types.has(type);
}

/** Is the client's address inside one of the `src` networks? No list allows every address. */
export function sourceAllowed(cidrs: readonly string[], host: string): boolean {
  if (cidrs.length === 0) return true;
  const ip = parseIp(host);
  if (ip === undefined) return false;
  for (const text of cidrs) {
    const net = parseCidr(text);
    if (net === undefined) return false; // an invalid JWT; validation refuses it earlier
    if (net.family !== ip.family) continue;
    const width = net.family === 4 ? 32 : 128;
    const shift = BigInt(width - net.bits);
    if (ip.value >> shift === net.base >> shift) return true;
  }
  return false;
}

/** Seconds since local midnight (in `timeZone`, or the server's zone) at `now`. */
function secondsOfDay(now: Date, timeZone: string): number {
  const zone = timeZone === "" || timeZone === "Local" ? undefined : timeZone;
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(now);
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get("hour") * 3600 + get("minute") * 60 + get("second") + now.getMilliseconds() / 1000;
}

/**
 * Is `now` inside one of the time ranges (wall-clock times in `timeZone`), and for how many
 * milliseconds more? A range whose end is before its start crosses midnight. No ranges
 * allow any time (validForMs 0: no limit).
 */
export function connectTimeAllowed(times: readonly TimeRange[], timeZone: string, now = new Date()): { ok: boolean; validForMs: number } {
  if (times.length === 0) return { ok: true, validForMs: 0 };
  let zone: number;
  try {
    zone = secondsOfDay(now, timeZone);
  } catch {
    return { ok: false, validForMs: 0 };
  }
  let ok = false;
  let validFor = 0;
  for (const t of times) {
    const start = parseClock(t.start);
    const end = parseClock(t.end);
    if (start === undefined || end === undefined) return { ok: false, validForMs: 0 };
    let left: number | undefined;
    if (start < zone && end > zone) left = end - zone;
    else if (start > end) {
      if (end > zone) left = end - zone;
      else if (start < zone) left = end + 86_400 - zone;
    }
    if (left !== undefined && (!ok || left > validFor)) {
      ok = true;
      validFor = left;
    }
  }
  return { ok, validForMs: Math.round(validFor * 1000) };
}
