// Options of the monitoring endpoints, read either from an HTTP query string (/connz?sort=...)
// or from the JSON body of a system-account request ($SYS.REQ.SERVER.PING.CONNZ). Names,
// defaults and error texts follow nats-server so tools written for it behave the same.

export const DEFAULT_LIMIT = 1024;

export type ConnState = "open" | "closed" | "all";

export const SORT_OPTIONS = [
  "cid",
  "start",
  "subs",
  "pending",
  "msgs_to",
  "msgs_from",
  "bytes_to",
  "bytes_from",
  "last",
  "idle",
  "uptime",
  "stop",
  "reason",
] as const;
export type SortOption = (typeof SORT_OPTIONS)[number];

export interface ConnzOptions {
  sort: SortOption;
  auth: boolean;
  subs: boolean;
  subsDetail: boolean;
  offset: number;
  limit: number;
  cid: number;
  state: ConnState;
  user: string;
  account: string;
}

export interface SubszOptions {
  subs: boolean;
  offset: number;
  limit: number;
  account: string;
  test: string;
}

export interface JszOptions {
  account: string;
  accounts: boolean;
  streams: boolean;
  consumers: boolean;
  config: boolean;
  leaderOnly: boolean;
  offset: number;
  limit: number;
}

export interface HealthzOptions {
  jsEnabledOnly: boolean;
  jsServerOnly: boolean;
}

export interface AccountzOptions {
  account: string;
}

export interface AccstatzOptions {
  accounts: string[];
  includeUnused: boolean;
}

/** A request the endpoint refuses; `message` is the plain-text body of the 400 answer. */
export class OptionError extends Error {}

// ---- HTTP query strings ----

function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === "") return false;
  // Go's strconv.ParseBool spellings.
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw new OptionError(`Error decoding boolean for '${name}': strconv.ParseBool: parsing "${v}": invalid syntax`);
}

function queryInt(q: URLSearchParams, name: string, dflt: number): number {
  const v = q.get(name);
  if (v === null || v === "") return dflt;
  if (!/^[+-]?\d+$/.test(v)) throw new OptionError(`Error decoding int for '${name}': strconv.Atoi: parsing "${v}": invalid syntax`);
  return Number(v);
}

function queryUint(q: URLSearchParams, name: string): number {
  const v = q.get(name);
  if (v === null || v === "") return 0;
  if (!/^\d+$/.test(v)) throw new OptionError(`Error decoding uint64 for '${name}': strconv.ParseUint: parsing "${v}": invalid syntax`);
  return Number(v);
}

function parseSort(v: string | undefined | null, state: ConnState): SortOption {
  if (v === undefined || v === null || v === "") return "cid";
  if (!(SORT_OPTIONS as readonly string[]).includes(v)) throw new OptionError(`invalid sorting option: ${v}`);
  const sort = v as SortOption;
  if ((sort === "stop" || sort === "reason") && state === "open") {
    throw new OptionError(`sort by ${sort} only valid on closed connections`);
  }
  return sort;
}

export function connzFromQuery(q: URLSearchParams): ConnzOptions {
  const stateText = q.get("state") ?? "";
  let state: ConnState;
  if (stateText === "" || stateText === "open") state = "open";
  else if (stateText === "closed") state = "closed";
  else if (stateText === "any" || stateText === "all") state = "all";
  else throw new OptionError(`Error decoding state for ${stateText}`);
  const subsText = q.get("subs") ?? "";
  const subsDetail = subsText === "detail";
  const subs = subsDetail || queryBool(q, "subs");
  const opts: ConnzOptions = {
    sort: parseSort(q.get("sort"), state),
    auth: queryBool(q, "auth"),
    subs,
    subsDetail,
    offset: queryInt(q, "offset", 0),
    limit: queryInt(q, "limit", DEFAULT_LIMIT),
    cid: queryUint(q, "cid"),
    state,
    user: q.get("user") ?? "",
    account: q.get("acc") ?? "",
  };
  return normalizeConnz(opts);
}

export function subszFromQuery(q: URLSearchParams): SubszOptions {
  return normalizeSubsz({
    subs: queryBool(q, "subs"),
    offset: queryInt(q, "offset", 0),
    limit: queryInt(q, "limit", DEFAULT_LIMIT),
    account: q.get("acc") ?? "",
    test: q.get("test") ?? "",
  });
}

export function jszFromQuery(q: URLSearchParams): JszOptions {
  return {
    account: q.get("acc") ?? "",
    accounts: queryBool(q, "accounts"),
    streams: queryBool(q, "streams"),
    consumers: queryBool(q, "consumers"),
    config: queryBool(q, "config"),
    leaderOnly: queryBool(q, "leader-only"),
    offset: Math.max(0, queryInt(q, "offset", 0)),
    limit: positiveLimit(queryInt(q, "limit", DEFAULT_LIMIT)),
  };
}

export function healthzFromQuery(q: URLSearchParams): HealthzOptions {
  return {
    // 2.9 spelled the first one `js-enabled`; both are accepted.
    jsEnabledOnly: queryBool(q, "js-enabled-only") || queryBool(q, "js-enabled"),
    jsServerOnly: queryBool(q, "js-server-only"),
  };
}

export function accountzFromQuery(q: URLSearchParams): AccountzOptions {
  return { account: q.get("acc") ?? "" };
}

export function accstatzFromQuery(q: URLSearchParams): AccstatzOptions {
  const list = q.get("accounts") ?? q.get("acc") ?? "";
  return {
    accounts: list === "" ? [] : list.split(",").map((s) => s.trim()).filter((s) => s !== ""),
    includeUnused: queryBool(q, "unused"),
  };
}

// ---- JSON bodies of system-account requests ----

type Json = Record<string, unknown>;

function jBool(o: Json, ...names: string[]): boolean {
  for (const n of names) if (o[n] === true) return true;
  return false;
}

function jNum(o: Json, name: string, dflt: number): number {
  const v = o[name];
  return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : dflt;
}

function jStr(o: Json, ...names: string[]): string {
  for (const n of names) if (typeof o[n] === "string") return o[n] as string;
  return "";
}

export function connzFromJson(o: Json): ConnzOptions {
  // nats-server's ConnState enum: 0 open, 1 closed, 2 all.
  const s = o.state;
  const state: ConnState = s === 1 || s === "closed" ? "closed" : s === 2 || s === "all" || s === "any" ? "all" : "open";
  const detail = jBool(o, "subscriptions_detail");
  return normalizeConnz({
    sort: parseSort(typeof o.sort === "string" ? o.sort : undefined, state),
    auth: jBool(o, "auth"),
    subs: detail || jBool(o, "subscriptions"),
    subsDetail: detail,
    offset: jNum(o, "offset", 0),
    limit: jNum(o, "limit", DEFAULT_LIMIT),
    cid: jNum(o, "cid", 0),
    state,
    user: jStr(o, "user"),
    account: jStr(o, "acc", "account"),
  });
}

export function subszFromJson(o: Json): SubszOptions {
  return normalizeSubsz({
    subs: jBool(o, "subscriptions"),
    offset: jNum(o, "offset", 0),
    limit: jNum(o, "limit", DEFAULT_LIMIT),
    account: jStr(o, "account", "acc"),
    test: jStr(o, "test"),
  });
}

export function jszFromJson(o: Json): JszOptions {
  return {
    account: jStr(o, "account", "acc"),
    accounts: jBool(o, "accounts"),
    streams: jBool(o, "streams"),
    consumers: jBool(o, "consumers"),
    config: jBool(o, "config"),
    leaderOnly: jBool(o, "leader_only"),
    offset: Math.max(0, jNum(o, "offset", 0)),
    limit: positiveLimit(jNum(o, "limit", DEFAULT_LIMIT)),
  };
}

export function healthzFromJson(o: Json): HealthzOptions {
  return {
    jsEnabledOnly: jBool(o, "js-enabled-only", "js-enabled"),
    jsServerOnly: jBool(o, "js-server-only"),
  };
}

export function accountzFromJson(o: Json): AccountzOptions {
  return { account: jStr(o, "account", "acc") };
}

export function accstatzFromJson(o: Json): AccstatzOptions {
  const list = Array.isArray(o.accounts) ? o.accounts.filter((a): a is string => typeof a === "string") : [];
  return { accounts: list, includeUnused: jBool(o, "include_unused") };
}

// ---- shared defaults ----

function positiveLimit(limit: number): number {
  return limit > 0 ? limit : DEFAULT_LIMIT;
}

function normalizeConnz(o: ConnzOptions): ConnzOptions {
  o.offset = Math.max(0, o.offset);
  o.limit = positiveLimit(o.limit);
  // Asking for one connection answers with at most one.
  if (o.cid > 0) o.limit = 1;
  return o;
}

function normalizeSubsz(o: SubszOptions): SubszOptions {
  o.offset = Math.max(0, o.offset);
  o.limit = positiveLimit(o.limit);
  return o;
}
