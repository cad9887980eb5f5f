// $SYS.REQ.USER.INFO: who the requesting connection is, its account and permissions
// (as the nats.js `context()` call and `nats account info` expect them).
import type { Client } from "../server/client.js";
import type { ServerOptions, UserConfig } from "../config/options.js";

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
  if (allow !== undefined) out.allow = allow;
  if (deny !== undefined) out.deny = deny;
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
    out.responses = { max: typeof r.max === "number" ? r.max : 1, ttl: typeof r.ttl === "number" ? r.ttl : 0 };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function findUser(options: ServerOptions, name: string): UserConfig | undefined {
  for (const u of options.users) if (u.user === name) return u;
  for (const a of options.accounts) for (const u of a.users) if (u.user === name) return u;
  return undefined;
}

export function userInfo(options: ServerOptions, c: Client): Record<string, unknown> {
  const user = c.authorizedUser ?? "";
  const out: Record<string, unknown> = { user, account: c.account.name };
  if (user !== "") {
    const perms = permissionsJson(findUser(options, user)?.permissions);
    if (perms !== undefined) out.permissions = perms;
  }
  return out;
}
