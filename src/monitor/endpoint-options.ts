// Options of the monitoring endpoints, read either from an HTTP query string (/connz?sort=...)
// or from the JSON body of a system-account request ($SYS.REQ.SERVER.PING.CONNZ). Each
// endpoint has one parser over an OptionReader; the two readers know how their source spells
// and types values. Names, defaults and error texts follow nats-server so tools written for
// it behave the same.

import type { HealthzOptions } from "./healthz.js";

const DEFAULT_LIMIT = 1024;

type ConnState = "open" | "closed" | "all";

const SORT_OPTIONS = [
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

export interface RoutezOptions {
  subs: boolean;
  subsDetail: boolean;
}

export interface LeafzOptions extends RoutezOptions {
  /** Only the leaf connections bound to this account ("" for all). */
  account: string;
}

export interface GatewayzOptions {
  /** Only this remote gateway. */
  name: string;
  /** Per-account interest of each connection. */
  accounts: boolean;
  /** Only this account (implies accounts). */
  account: string;
  subs: boolean;
  subsDetail: boolean;
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
  offset: number;
  limit: number;
  /** `raft`: the stream's and consumers' RAFT group names, and how many of them this server leads. */
  raft: boolean;
  /** `stream-leader-only`: only the streams this server leads. */
  streamLeaderOnly: boolean;
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

/**
 * An account an endpoint was asked about does not exist: a bad request over HTTP (400), but
 * over $SYS.REQ nats-server answers 500, as for any error of the endpoint itself.
 */
export class UnknownAccountError extends OptionError {}

/** One name, or several accepted spellings (first found wins; for flags, any set). */
type Names = string | readonly string[];

function names(n: Names): readonly string[] {
  return typeof n === "string" ? [n] : n;
}

/**
 * Typed option values from one source. Where the query string and the JSON body spell an
 * option differently, `json` names the JSON spelling (default: the same as `query`).
 */
export interface OptionReader {
  bool(query: Names, json?: Names): boolean;
  str(query: Names, json?: Names): string;
  int(name: string, dflt: number): number;
  uint(name: string): number;
  /** /connz `state`. */
  connState(): ConnState;
  /** /connz subscription details: `subs=detail` or `subscriptions_detail`. */
  subsDetail(): boolean;
  /** /accstatz account names: a comma-separated list or a JSON array. */
  accountList(): string[];
}

// ---- HTTP query strings (values validated with Go's strconv rules) ----

export function queryOptions(q: URLSearchParams): OptionReader {
  const bool = (name: string): boolean => {
    const v = q.get(name);
    if (v === null || v === "") return false;
    if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
    if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
    throw new OptionError(`Error decoding boolean for '${name}': strconv.ParseBool: parsing "${v}": invalid syntax`);
  };
  const str = (query: Names): string => {
    for (const n of names(query)) {
      const v = q.get(n);
      if (v !== null) return v;
    }
    return "";
  };
  return {
    bool: (query) => names(query).some(bool),
    str,
    int(name, dflt) {
      const v = q.get(name);
      if (v === null || v === "") return dflt;
      if (!/^[+-]?\d+$/.test(v)) throw new OptionError(`Error decoding int for '${name}': strconv.Atoi: parsing "${v}": invalid syntax`);
      // Go's int is 64 bits here.
      const big = BigInt(v);
      if (big > 2n ** 63n - 1n || big < -(2n ** 63n)) throw new OptionError(`Error decoding int for '${name}': strconv.Atoi: parsing "${v}": value out of range`);
      return Number(v);
    },
    uint(name) {
      const v = q.get(name);
      if (v === null || v === "") return 0;
      if (!/^\d+$/.test(v)) throw new OptionError(`Error decoding uint64 for '${name}': strconv.ParseUint: parsing "${v}": invalid syntax`);
      if (BigInt(v) > 2n ** 64n - 1n) throw new OptionError(`Error decoding uint64 for '${name}': strconv.ParseUint: parsing "${v}": value out of range`);
      return Number(v);
    },
    connState() {
      const v = str("state");
      if (v === "" || v === "open") return "open";
      if (v === "closed") return "closed";
      if (v === "any" || v === "all") return "all";
      throw new OptionError(`Error decoding state for ${v}`);
    },
    subsDetail: () => q.get("subs") === "detail",
    accountList() {
      const list = str(["accounts", "acc"]);
      return list === "" ? [] : list.split(",").map((s) => s.trim()).filter((s) => s !== "");
    },
  };
}

// ---- JSON bodies of system-account requests (values of the wrong type are ignored) ----

export function jsonOptions(o: Record<string, unknown>): OptionReader {
  const num = (name: string, dflt: number): number => {
    const v = o[name];
    return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : dflt;
  };
  return {
    bool: (query, json = query) => names(json).some((n) => o[n] === true),
    str(query, json = query) {
      for (const n of names(json)) if (typeof o[n] === "string") return o[n] as string;
      return "";
    },
    int: num,
    uint: (name) => num(name, 0),
    connState() {
      // nats-server's ConnState enum: 0 open, 1 closed, 2 all.
      const s = o.state;
      if (s === 1 || s === "closed") return "closed";
      if (s === 2 || s === "all" || s === "any") return "all";
      return "open";
    },
    subsDetail: () => o.subscriptions_detail === true,
    accountList: () => (Array.isArray(o.accounts) ? o.accounts.filter((a): a is string => typeof a === "string") : []),
  };
}

// ---- one parser per endpoint ----

function parseSort(v: string, state: ConnState): SortOption {
  if (v === "") return "cid";
  if (!(SORT_OPTIONS as readonly string[]).includes(v)) throw new OptionError(`invalid sorting option: ${v}`);
  const sort = v as SortOption;
  if ((sort === "stop" || sort === "reason") && state === "open") {
    throw new OptionError(`sort by ${sort} only valid on closed connections`);
  }
  return sort;
}

function offset(r: OptionReader): number {
  return Math.max(0, r.int("offset", 0));
}

function limit(r: OptionReader): number {
  const l = r.int("limit", DEFAULT_LIMIT);
  return l > 0 ? l : DEFAULT_LIMIT;
}

export function connzOptions(r: OptionReader): ConnzOptions {
  // Read in nats-server's order, so the first bad option is the one reported.
  const auth = r.bool("auth");
  const subsDetail = r.subsDetail();
  const subs = subsDetail || r.bool("subs", "subscriptions");
  const off = offset(r);
  const lim = limit(r);
  const cid = r.uint("cid");
  const state = r.connState();
  const opts: ConnzOptions = {
    sort: parseSort(r.str("sort"), state),
    auth,
    subs,
    subsDetail,
    offset: off,
    limit: lim,
    cid,
    state,
    user: r.str("user"),
    account: r.str("acc", ["acc", "account"]),
  };
  // Asking for one connection answers with at most one.
  if (opts.cid > 0) opts.limit = 1;
  return opts;
}

export function routezOptions(r: OptionReader): RoutezOptions {
  const subsDetail = r.subsDetail();
  return { subs: subsDetail || r.bool("subs", "subscriptions"), subsDetail };
}

/** /leafz: subs (a flag: no `detail` here, as nats-server), acc (HTTP); subscriptions, account (JSON). */
export function leafzOptions(r: OptionReader): LeafzOptions {
  return { subs: r.bool("subs", "subscriptions"), subsDetail: false, account: r.str("acc", "account") };
}

/** /gatewayz: gw_name, accs, acc_name, subs (HTTP); name, accounts, account_name, subscriptions[_detail] (JSON). */
export function gatewayzOptions(r: OptionReader): GatewayzOptions {
  const subsDetail = r.subsDetail();
  const account = r.str("acc_name", "account_name");
  return {
    name: r.str("gw_name", "name"),
    accounts: r.bool("accs", "accounts") || account !== "",
    account,
    subs: subsDetail || r.bool("subs", "subscriptions"),
    subsDetail,
  };
}

export function subszOptions(r: OptionReader): SubszOptions {
  return {
    subs: r.bool("subs", "subscriptions"),
    offset: offset(r),
    limit: limit(r),
    account: r.str("acc", ["account", "acc"]),
    test: r.str("test"),
  };
}

export function jszOptions(r: OptionReader): JszOptions {
  // Read in nats-server's order, so the first bad option is the one reported.
  const accounts = r.bool("accounts");
  const streams = r.bool("streams");
  const consumers = r.bool("consumers", ["consumer", "consumers"]); // JSON: nats-server's JSzOptions field is "consumer"
  // Validated only: tsnats copies mirrors and sources without consumers on the origin, so
  // there are no direct consumers to list.
  r.bool("direct-consumers", "direct_consumer");
  const config = r.bool("config");
  const off = offset(r);
  const lim = limit(r);
  r.bool("leader-only", "leader_only"); // validated only: on a single server this server leads every stream
  const raft = r.bool("raft");
  const streamLeaderOnly = r.bool("stream-leader-only", "stream_leader_only");
  return { account: r.str("acc", ["account", "acc"]), accounts, streams, consumers, config, offset: off, limit: lim, raft, streamLeaderOnly };
}

/**
 * /healthz's flags (js-enabled-only, spelled js-enabled in 2.9, and js-server-only) skip
 * checks a single server does not have; `account`, `stream` and `consumer` check one asset,
 * `details` lists every problem. Validated like nats-server does.
 */
export function checkHealthzOptions(r: OptionReader): HealthzOptions {
  // Read in nats-server's order (js-enabled, the 2.9 spelling, first).
  const jsEnabled = r.bool("js-enabled");
  const jsEnabledOnly = r.bool("js-enabled-only") || jsEnabled;
  const jsServerOnly = r.bool("js-server-only");
  const jsMetaOnly = r.bool("js-meta-only", "js-meta-only");
  const details = r.bool("details");
  return { jsEnabledOnly, jsServerOnly, jsMetaOnly, account: r.str("account"), stream: r.str("stream"), consumer: r.str("consumer"), details };
}

export function accountzOptions(r: OptionReader): AccountzOptions {
  return { account: r.str("acc", ["account", "acc"]) };
}

export function accstatzOptions(r: OptionReader): AccstatzOptions {
  return { accounts: r.accountList(), includeUnused: r.bool("unused", "include_unused") };
}
