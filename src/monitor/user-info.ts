// $SYS.REQ.USER.INFO: who the requesting connection is, its account and permissions
// (as the nats.js `context()` call and `nats account info` expect them).
import type { Client } from "../server/client.js";

interface PermissionList {
  allow?: string[];
  deny?: string[];
}

function stringList(v: unknown): string[] | undefined {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  return undefined;
}

/** A publish/subscribe permission written as a subject, a list, or {allow, deny}. */
function permissionList(v: unknown): PermissionList | undefined {
  if (v === undefined || v === null) return undefined;
  const plain = stringList(v);
  if (plain !== undefined) return { allow: plain };
  if (typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  const out: PermissionList = {};
  const allow = stringList(o.allow);
  const deny = stringList(o.deny);
  // Empty lists are left out (Go's omitempty).
  if (allow !== undefined && allow.length > 0) out.allow = allow;
  if (deny !== undefined && deny.length > 0) out.deny = deny;
  return out;
}

function pick(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const [k, v] of Object.entries(o)) if (keys.includes(k.toLowerCase())) return v;
  return undefined;
}

/** Permissions of a configured user in the shape of nats-server's user info. */
function permissionsJson(raw: unknown): Record<string, unknown> | undefined {
  if (raw === undefined || raw === null || typeof raw !== "object") return undefined;
  const o = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const pub = permissionList(pick(o, "publish", "pub"));
  const sub = permissionList(pick(o, "subscribe", "sub"));
  if (pub !== undefined) out.publish = pub;
  if (sub !== undefined) out.subscribe = sub;
  const resp = pick(o, "allow_responses", "allow_resp");
  if (resp === true) out.responses = { max: 1, ttl: 0 };
  else if (resp !== undefined && resp !== null && typeof resp === "object") {
    const r = resp as Record<string, unknown>;
    const max = pick(r, "max", "max_msgs", "max_messages", "max_responses");
    out.responses = { max: typeof max === "number" && max !== 0 ? max : 1, ttl: durationNs(pick(r, "expires", "expiration", "ttl")) };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A duration as written in a permissions block ("3s", "500ms", seconds) in nanoseconds. */
function durationNs(v: unknown): number {
  if (typeof v === "number") return v * 1e9;
  if (typeof v !== "string") return 0;
  const units: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  for (const m of v.matchAll(/([\d.]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (units[m[2]] ?? 0);
  return Math.round(total);
}

/**
 * The requester: its user, account (and the names their JWTs give), effective permissions
 * (publish and subscribe both listed once any is set, as nats-server shows them) and, for
 * expiring credentials, the time left in whole seconds (as nanoseconds).
 */
export function userInfo(c: Client): Record<string, unknown> {
  const out: Record<string, unknown> = { user: c.authorizedUser ?? "", account: c.account.name };
  out.account_name = c.account.nameTag;
  const userName = c.jwtUser?.name ?? "";
  if (userName !== "") out.user_name = userName;
  const perms = permissionsJson(c.permissionsSource);
  if (perms !== undefined) out.permissions = { publish: perms.publish ?? {}, subscribe: perms.subscribe ?? {}, ...(perms.responses !== undefined ? { responses: perms.responses } : {}) };
  if (c.expiresAt > 0) {
    const left = Math.floor((c.expiresAt - Date.now()) / 1000);
    if (left > 0) out.expires = left * 1e9;
  }
  return out;
}
