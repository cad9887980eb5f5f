// Turns a parsed configuration tree into ServerOptions, following nats-server 2.9's keys.
//
// Keys are matched case-insensitively (as nats-server does). Type errors, unknown fields
// and invalid values raise a ConfigError located at the offending key. Unknown fields are
// errors, as in nats-server (unless the key was only used as a `$variable`, or
// `allowUnknownFields` is set, in which case they become warnings). Keys nats-server knows
// but tsnats does not implement are refused with the reason; a disabled mqtt block (no port)
// is kept in `unsupportedBlocks` with a warning, one that enables MQTT is refused.

import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { ConfigError, ConfigErrors, entryMeta, parseConfigFile, parseDuration, type ConfMap, type ConfValue, type ParseOptions } from "./conf_parser.js";
import { goType, kindName, kindOfEntry, lowerKeys, Reader, readStorageSize, typeError } from "./reader.js";
import { positionOf, readAccountLimits, readExports, readImports, readMappings, readMsgTrace } from "./accounts.js";
import { checkAccountsConfig } from "../server/account_setup.js";
import { goDuration, msToNs } from "../server/time.js";
import { readCluster, validateCluster } from "./cluster.js";
import { readLeafNodes, validateLeafNodes } from "./leafnodes.js";
import { readGateway, validateGateway } from "./gateway.js";
import {
  defaultOptions,
  unlimitedJetStream,
  defaultWebSocketOptions,
  type AccountConfig,
  type AccountJetStreamLimits,
  type JetStreamServerLimits,
  type AuthCalloutConfig,
  type ResolverConfig,
  type ServerOptions,
  type TlsOptions,
  type UserConfig,
  type WebSocketOptions,
} from "./options.js";
import { decodeOperatorClaims, decodeAccountClaims, decodeUserClaims, hasEmptyPermissions } from "../auth/claims.js";
import { NATS_FEATURE_VERSION } from "../server/version.js";
import { readOperatorJwt } from "../auth/trusted_operators.js";
import { isPublicKey } from "../auth/nkey_keys.js";
import { allowedConnectionTypes } from "../auth/user_limits.js";
import { invalidAllowedOrigin, invalidResponseHeader } from "../server/websocket_origin.js";
import { isCipherSuiteName, isCurveName, isInsecureCipherSuite } from "../server/tls_suites.js";
import { validateDefaultJsDomain } from "../jetstream/default_domain.js";

export interface LoadOptions {
  /** Options to apply the tree onto (default: defaultOptions()). Mutated and returned. */
  base?: ServerOptions;
  /** Turn unknown-field errors into warnings (nats-server's NoErrOnUnknownFields). */
  allowUnknownFields?: boolean;
}

/** The account of users not placed in any account (nats-server's reserved "$G"). */
const GLOBAL_ACCOUNT = "$G";

/** nats-server's wait for a TLS-first handshake before sending INFO (handshake_first: auto). */
const DEFAULT_HANDSHAKE_FIRST_FALLBACK_MS = 50;

/** Shortest lame duck duration nats-server accepts. */
export const MIN_LAME_DUCK_DURATION_MS = 30_000;

// A Map, not an object literal: config keys such as "constructor" must not hit Object.prototype.
const UNSUPPORTED_BLOCKS = new Map([["mqtt", "mqtt"]]);

/**
 * Top-level security settings tsnats does not implement: accepting them would serve without
 * what the operator asked for (a stapled OCSP status, TLS to the account server), so they
 * stop start-up with the reason.
 */
const UNSUPPORTED_TOP_LEVEL = new Map([
  ["ocsp", "OCSP stapling is not supported by tsnats"],
  ["resolver_tls", "TLS settings for the URL account resolver are not supported by tsnats yet"],
]);

/**
 * An mqtt block with a port (or listen address) other than 0 makes nats-server serve MQTT;
 * tsnats has no MQTT listener, so such a block stops start-up with the reason instead of
 * leaving MQTT clients without a server. A block without a port is disabled in nats-server
 * too: it stays accepted (with the "not served" warning).
 */
function refuseEnabledMqtt(r: Reader, m: ConfMap, key: string): void {
  if (kindOfEntry(m, key) !== "map") return;
  const block = m[key] as ConfMap;
  for (const field of Object.keys(block)) {
    const lf = field.toLowerCase();
    if (lf !== "port" && lf !== "listen") continue;
    const { port } = readListen(r, block, field);
    if (port !== 0) throw r.err(block, field, "mqtt: MQTT is not supported by tsnats (this block enables an MQTT listener)");
  }
}

/** The warning for a block tsnats reads but does not serve (nats-server would serve it). */
export function notServedWarning(block: string): string {
  return `${block} configuration parsed, but not served yet by tsnats`;
}

export function isNotServedWarning(w: string): boolean {
  return w.endsWith(", but not served yet by tsnats");
}

/** The spellings nats-server accepts for the trusted operator JWTs. */
const OPERATOR_KEYS = new Set(["operator", "operators", "roots", "root", "root_operators", "root_operator"]);

/** Windows certificate store options: nats-server refuses `cert_store` on other systems, tsnats everywhere. */
const TLS_CERT_STORE = new Set(["cert_store", "cert_match", "cert_match_by", "cert_match_skip_invalid", "ca_certs_match"]);

/** Options that route, gateway and leafnode TLS do not apply yet (they would let in peers the operator meant to refuse). */
const ROUTE_TLS_UNSUPPORTED: readonly (keyof TlsOptions)[] = ["verifyAndMap", "pinnedCerts", "rateLimit"];

/**
 * Encryption at rest: accepting these and writing plaintext would be a silent security hole,
 * so until the file store encrypts they stop start-up (nats-server's key names and aliases).
 */
/** Encryption keys held in a TPM: not supported, and never ignored (the data would be written in the clear). */
const JS_UNSUPPORTED = new Set(["tpm"]);

// ---------------------------------------------------------------------------------------
// helpers

interface HostPort {
  host: string;
  port: number;
}

/** Parse "host:port", "[v6]:port" or ":port" like Go's net.SplitHostPort + port parsing. */
export function parseHostPort(s: string): HostPort {
  let host: string;
  let portStr: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0 || s[end + 1] !== ":") throw new Error(`could not parse address string ${JSON.stringify(s)}`);
    host = s.slice(1, end);
    portStr = s.slice(end + 2);
  } else {
    const i = s.lastIndexOf(":");
    if (i < 0 || s.indexOf(":") !== i) throw new Error(`could not parse address string ${JSON.stringify(s)}`);
    host = s.slice(0, i);
    portStr = s.slice(i + 1);
  }
  if (!/^-?\d+$/.test(portStr)) throw new Error(`could not parse port ${JSON.stringify(portStr)}`);
  return { host, port: Number(portStr) };
}

/** host:port string or a bare port number. */
export function readListen(r: Reader, m: ConfMap, key: string): { host?: string; port: number } {
  const k = kindOfEntry(m, key);
  if (k === "int") return { port: m[key] as number };
  if (k !== "string") throw r.err(m, key, `expected port or host:port, got ${goType(k)}`);
  let hp: HostPort;
  try {
    hp = parseHostPort(m[key] as string);
  } catch (e) {
    throw r.err(m, key, (e as Error).message);
  }
  return { host: hp.host === "" ? undefined : hp.host, port: hp.port };
}

// ---------------------------------------------------------------------------------------
// blocks

export function readSubjectPermission(r: Reader, m: ConfMap, key: string): void {
  const k = kindOfEntry(m, key);
  if (k === "string") return;
  if (k === "array") {
    const arr = m[key] as ConfValue[];
    arr.forEach((_, i) => {
      if (kindOfEntry(arr, i) !== "string") throw r.err(arr, i, "Subject permissions must be strings");
    });
    return;
  }
  if (k !== "map") throw typeError(m, key, key, "a subject, a list of subjects or an allow/deny map", k, r.file);
  const pm = m[key] as ConfMap;
  for (const [orig, lk] of lowerKeys(pm)) {
    if (lk !== "allow" && lk !== "deny") {
      throw r.err(pm, orig, `Unknown field name ${JSON.stringify(orig)} parsing subject permissions, only 'allow' or 'deny' are permitted`);
    }
    readSubjectPermission(r, pm, orig);
  }
}

/** Validates a permissions block (publish/subscribe/allow_responses) and returns it as written. */
function readPermissions(r: Reader, m: ConfMap, key: string): unknown {
  const k = kindOfEntry(m, key);
  if (k !== "map") throw typeError(m, key, key, "a map", k, r.file);
  const p = m[key] as ConfMap;
  for (const [orig, lk] of lowerKeys(p)) {
    switch (lk) {
      case "publish":
      case "pub":
      case "subscribe":
      case "sub":
        readSubjectPermission(r, p, orig);
        break;
      case "allow_responses":
      case "allow_resp": {
        const kk = kindOfEntry(p, orig);
        if (kk !== "bool" && kk !== "map") throw typeError(p, orig, lk, "a boolean or a map", kk, r.file);
        break;
      }
      default:
        throw r.err(p, orig, `Unknown field ${JSON.stringify(orig)} parsing permissions`);
    }
  }
  return p;
}

function readUsers(r: Reader, m: ConfMap, key: string, account: string | undefined, seen: Map<string, true>): UserConfig[] {
  const k = kindOfEntry(m, key);
  if (k !== "array") {
    throw r.err(m, key, `Expected users field to be an array, got ${kindName(k)}`);
  }
  const arr = m[key] as ConfValue[];
  const out: UserConfig[] = [];
  arr.forEach((entry, i) => {
    if (kindOfEntry(arr, i) !== "map") throw r.err(arr, i, `Expected user entry to be a map/struct, got ${String(entry)}`);
    const um = entry as ConfMap;
    const u: UserConfig = {};
    for (const [orig, lk] of lowerKeys(um)) {
      switch (lk) {
        case "user":
        case "username":
          u.user = r.str(um, orig, lk);
          break;
        case "pass":
        case "password":
          u.password = r.str(um, orig, lk);
          break;
        case "nkey":
          u.nkey = r.str(um, orig, lk);
          break;
        // nats-server accepts all three spellings for a user's permissions block.
        case "permission":
        case "permissions":
        case "authorization":
          u.permissions = readPermissions(r, um, orig);
          break;
        case "allowed_connection_types":
        case "allowed_connection_type":
        case "allowed_conn_types":
        case "allowed_conn_type": {
          const kk = kindOfEntry(um, orig);
          if (kk === "string") u.allowedConnectionTypes = [um[orig] as string];
          else if (kk === "array") u.allowedConnectionTypes = (um[orig] as ConfValue[]).map(String);
          else throw typeError(um, orig, lk, "a string or an array of strings", kk, r.file);
          break;
        }
        default:
          r.unknown(um, orig);
      }
    }
    if (u.user === undefined && u.nkey === undefined) throw r.err(arr, i, "User entry requires a user");
    const id = u.user ?? u.nkey!;
    if (seen.has(id)) throw r.err(arr, i, `Duplicate user ${JSON.stringify(id)} detected`);
    seen.set(id, true);
    if (account !== undefined) u.account = account;
    out.push(u);
  });
  return out;
}

function readAuthorization(r: Reader, parent: ConfMap, key: string, opts: ServerOptions, seen: Map<string, true>): void {
  const m = r.map(parent, key, "authorization");
  let hasUsers = false;
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "user":
      case "username":
        opts.username = r.str(m, orig, lk);
        break;
      case "pass":
      case "password":
        opts.password = r.str(m, orig, lk);
        break;
      case "token":
        opts.authorization = r.str(m, orig, lk);
        break;
      case "timeout":
        opts.authTimeoutMs = r.seconds(m, orig, "authorization timeout");
        break;
      case "users":
        opts.users = readUsers(r, m, orig, undefined, seen);
        hasUsers = true;
        break;
      case "permissions":
      case "default_permissions":
      case "default_permission":
        opts.defaultPermissions = readPermissions(r, m, orig);
        break;
      case "auth_callout":
      case "auth_hook":
        opts.authCallout = readAuthCallout(r, m, orig);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  if ((opts.username !== undefined || opts.password !== undefined) && hasUsers) {
    throw r.err(parent, key, "Can not have a single user/pass and a users array");
  }
  if (opts.authorization !== undefined && hasUsers) throw r.err(parent, key, "Can not have a token and a users array");
  if (opts.authorization !== undefined && opts.username !== undefined) throw r.err(parent, key, "Cannot have a user/pass and token");
}

function readStringList(r: Reader, m: ConfMap, key: string, what: string): string[] {
  const k = kindOfEntry(m, key);
  if (k === "string") return [m[key] as string];
  if (k !== "array") throw r.err(m, key, `Expected ${what} field to be an array, got ${kindName(k)}`);
  const arr = m[key] as ConfValue[];
  return arr.map((v, i) => {
    if (kindOfEntry(arr, i) !== "string") throw r.err(arr, i, `error parsing ${what}: unsupported type in array ${goType(kindOfEntry(arr, i))}`);
    return v as string;
  });
}

/** `auth_callout { issuer, auth_users, account, xkey, allowed_accounts }` (ADR-26). */
function readAuthCallout(r: Reader, parent: ConfMap, key: string): AuthCalloutConfig {
  const k = kindOfEntry(parent, key);
  if (k !== "map") throw r.err(parent, key, `Expected authorization callout to be a map/struct, got ${kindName(k)}`);
  const m = parent[key] as ConfMap;
  const ac: AuthCalloutConfig = { issuer: "", account: "$G", authUsers: [], allowedAccounts: [] };
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "issuer":
        ac.issuer = r.str(m, orig, lk);
        if (!isPublicKey(ac.issuer, "A")) throw r.err(m, orig, `Expected callout user to be a valid public account nkey, got ${JSON.stringify(ac.issuer)}`);
        break;
      case "account":
      case "acc":
        ac.account = r.str(m, orig, lk);
        break;
      case "auth_users":
      case "users":
        ac.authUsers = readStringList(r, m, orig, "auth_users");
        break;
      case "xkey":
      case "key":
        ac.xkey = r.str(m, orig, lk);
        if (!isPublicKey(ac.xkey, "X")) throw r.err(m, orig, `Expected callout xkey to be a valid public xkey, got ${JSON.stringify(ac.xkey)}`);
        break;
      case "allowed_accounts":
        ac.allowedAccounts = readStringList(r, m, orig, "allowed accounts");
        break;
      default:
        r.unknown(m, orig, "parsing authorization callout");
    }
  }
  if (ac.issuer === "") throw r.err(parent, key, "Authorization callouts require an issuer to be specified");
  if (ac.authUsers.length === 0) throw r.err(parent, key, "Authorization callouts require authorized users to be specified");
  return ac;
}

/** `operator: <file or JWT>` or a list of them: the JWTs, decoded to check them. */
function readOperators(r: Reader, m: ConfMap, key: string, opts: ServerOptions): void {
  const k = kindOfEntry(m, key);
  if (k !== "string" && k !== "array") throw r.err(m, key, `error parsing operators: unsupported type ${kindName(k)}`);
  const files = k === "string" ? [m[key] as string] : readStringList(r, m, key, "operators");
  opts.operatorJwts = files.map((f) => {
    try {
      return readOperatorJwt(f);
    } catch (err) {
      throw r.err(m, key, `error parsing operator JWT: ${(err as Error).message}`);
    }
  });
}

/** `resolver: MEMORY`, `resolver: URL(url)` or `resolver { type: full|cache, dir, ... }`. */
function readResolver(r: Reader, m: ConfMap, key: string): ResolverConfig {
  const k = kindOfEntry(m, key);
  const generic =
    'error parsing account resolver, should be MEM or  URL("url") or a map containing dir and type state=[FULL|CACHE])';
  if (k === "string") {
    const v = m[key] as string;
    if (/(MEM|MEMORY)\s*/i.test(v)) return { type: "memory" };
    const url = /(?:URL){1}(?:\({1}\s*"?([^\s"]*)"?\s*\){1})?\s*/i.exec(v);
    if (url !== null && url[1] !== undefined) {
      try {
        const u = new URL(url[1]);
        if (u.host === "") throw new Error("no host");
      } catch {
        throw r.err(m, key, `error parsing account resolver url ${JSON.stringify(url[1])}`);
      }
      return { type: "url", url: url[1].endsWith("/") ? url[1] : `${url[1]}/` };
    }
    throw r.err(m, key, generic);
  }
  if (k !== "map") throw r.err(m, key, `error parsing operator resolver, wrong type ${kindName(k)}`);
  const rm = m[key] as ConfMap;
  let dir = "";
  let type = "";
  let allowDelete = false;
  let hardDelete: boolean | undefined;
  let limit = 0;
  let ttlMs = 0;
  let intervalMs = 0;
  let timeoutMs = 0;
  const dur = (orig: string): number => {
    if (kindOfEntry(rm, orig) !== "string") throw r.err(rm, orig, `${orig} must be a duration string`);
    try {
      return parseDuration(rm[orig] as string);
    } catch (e) {
      throw r.err(rm, orig, (e as Error).message);
    }
  };
  for (const [orig, lk] of lowerKeys(rm)) {
    switch (lk) {
      case "dir":
        dir = r.str(rm, orig, lk);
        break;
      case "type":
        type = r.str(rm, orig, lk).toUpperCase();
        break;
      case "allow_delete":
        allowDelete = r.bool(rm, orig, lk);
        break;
      case "hard_delete":
        hardDelete = r.bool(rm, orig, lk);
        break;
      case "limit":
        limit = r.int(rm, orig, lk);
        break;
      case "ttl":
        ttlMs = dur(orig);
        break;
      case "interval":
        intervalMs = dur(orig);
        break;
      case "timeout":
        timeoutMs = dur(orig);
        if (timeoutMs <= 0) throw r.err(rm, orig, `Fetch timeout ${String(rm[orig])} is too smal`);
        break;
      default:
        r.unknown(rm, orig, "parsing resolver");
    }
  }
  const checkDir = (): void => {
    if (dir === "") throw r.err(m, key, "dir has no value and needs to point to a directory");
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw r.err(m, key, "dir needs to point to an accessible directory");
  };
  switch (type) {
    case "CACHE":
      checkDir();
      if (intervalMs !== 0) throw r.err(m, key, "CACHE does not accept sync");
      if (allowDelete) throw r.err(m, key, "CACHE does not accept allow_delete");
      if (hardDelete !== undefined) throw r.err(m, key, "CACHE does not accept hard_delete");
      return { type: "cache", dir, ttlMs, limit: limit <= 0 ? 1000 : limit, timeoutMs: timeoutMs || DEFAULT_ACCOUNT_FETCH_TIMEOUT_MS };
    case "FULL":
      checkDir();
      if (ttlMs !== 0) throw r.err(m, key, "FULL does not accept ttl");
      if (hardDelete !== undefined && !allowDelete) throw r.err(m, key, "hard_delete has no effect without delete");
      return {
        type: "full",
        dir,
        allowDelete,
        hardDelete: hardDelete === true,
        intervalMs: intervalMs > 0 ? intervalMs : 60_000,
        limit: limit === 0 ? Number.MAX_SAFE_INTEGER : limit,
        timeoutMs: timeoutMs || DEFAULT_ACCOUNT_FETCH_TIMEOUT_MS,
      };
    case "MEM":
    case "MEMORY":
      return { type: "memory" };
    default:
      throw r.err(m, key, generic);
  }
}

/** nats-server's default wait for an account JWT lookup. */
const DEFAULT_ACCOUNT_FETCH_TIMEOUT_MS = 1900;

/** `resolver_preload { <account key>: <account JWT> }`. */
function readResolverPreload(r: Reader, m: ConfMap, key: string): Record<string, string> {
  if (kindOfEntry(m, key) !== "map") throw r.err(m, key, "preload should be a map of account_public_key:account_jwt");
  const pm = m[key] as ConfMap;
  const out: Record<string, string> = {};
  for (const name of Object.keys(pm)) {
    if (kindOfEntry(pm, name) !== "string") throw r.err(pm, name, "preload map value should be a string JWT");
    try {
      decodeAccountClaims(pm[name] as string);
    } catch {
      throw r.err(pm, name, "invalid account JWT");
    }
    out[name] = pm[name] as string;
  }
  return out;
}

/** `jetstream` as a switch (bool, "enabled"/"disabled") or a map of settings, server-wide or per account. */
function readJetStreamSwitch(r: Reader, m: ConfMap, key: string): boolean | ConfMap {
  const k = kindOfEntry(m, key);
  const v = m[key];
  if (k === "bool") return v as boolean;
  if (k === "string") {
    const s = (v as string).toLowerCase();
    if (s === "enabled" || s === "enable") return true;
    if (s === "disabled" || s === "disable") return false;
    throw r.err(m, key, `Expected 'enabled' or 'disabled' for string value, got '${v as string}'`);
  }
  if (k === "map") return v as ConfMap;
  throw r.err(m, key, `Expected map, bool or string to define JetStream, got ${kindName(k)}`);
}

/** An account's `jetstream`: a switch or limits, with nats-server's keys and error texts. */
function readAccountJetStream(r: Reader, m: ConfMap, key: string): boolean | AccountJetStreamLimits {
  const jm = readJetStreamSwitch(r, m, key);
  if (typeof jm === "boolean") return jm;
  const out = unlimitedJetStream();
  const size = (orig: string): number => {
    if (kindOfEntry(jm, orig) !== "int") throw r.err(jm, orig, `Expected a parseable size for ${JSON.stringify(orig)}, got ${String(jm[orig])}`);
    return jm[orig] as number;
  };
  for (const [orig, lk] of lowerKeys(jm)) {
    switch (lk) {
      case "max_memory":
      case "max_mem":
      case "mem":
      case "memory":
        out.max_memory = size(orig);
        break;
      case "max_store":
      case "max_file":
      case "max_disk":
      case "store":
      case "disk":
        out.max_storage = size(orig);
        break;
      case "max_streams":
      case "streams":
        out.max_streams = size(orig);
        break;
      case "max_consumers":
      case "consumers":
        out.max_consumers = size(orig);
        break;
      case "max_bytes_required":
      case "max_stream_bytes":
      case "max_bytes":
        if (kindOfEntry(jm, orig) !== "bool") throw r.err(jm, orig, `Expected a parseable bool for ${JSON.stringify(orig)}, got ${String(jm[orig])}`);
        out.max_bytes_required = jm[orig] as boolean;
        break;
      case "mem_max_stream_bytes":
      case "memory_max_stream_bytes":
        out.memory_max_stream_bytes = size(orig);
        break;
      case "disk_max_stream_bytes":
      case "store_max_stream_bytes":
        out.storage_max_stream_bytes = size(orig);
        break;
      case "max_ack_pending":
        out.max_ack_pending = size(orig);
        break;
      case "cluster_traffic": {
        const v = jm[orig];
        if (v !== "system" && v !== "owner" && v !== "") throw r.err(jm, orig, `Expected 'system' or 'owner' string value for ${JSON.stringify(orig)}, got ${String(v)}`);
        // Where replication traffic goes only matters in a JetStream cluster.
        break;
      }
      default:
        r.unknown(jm, orig);
    }
  }
  return out;
}

function readAccounts(r: Reader, parent: ConfMap, key: string, opts: ServerOptions, seen: Map<string, true>): void {
  const k = kindOfEntry(parent, key);
  const v = parent[key];
  // Errors found once every account is known point at the accounts block, as nats-server's do.
  const where = positionOf(r, parent, key);
  if (k === "array") {
    // `accounts: [A, B]`: accounts without users
    const arr = v as ConfValue[];
    const names = new Set<string>();
    arr.forEach((name, i) => {
      if (kindOfEntry(arr, i) !== "string") throw r.err(arr, i, "Expected account name to be a string");
      const n = name as string;
      if (n === GLOBAL_ACCOUNT) throw r.err(arr, i, `${JSON.stringify(n)} is a Reserved Account`);
      if (names.has(n)) throw r.err(arr, i, `Duplicate Account Entry: ${n}`);
      names.add(n);
      opts.accounts.push({ name: n, users: [] });
    });
    return;
  }
  if (k !== "map") throw typeError(parent, key, "accounts", "a map", k, r.file);
  const m = v as ConfMap;
  for (const name of Object.keys(m)) {
    if (entryMeta(m, name)?.usedAsVariable) continue;
    if (kindOfEntry(m, name) !== "map") throw r.err(m, name, "Expected map entries for accounts");
    if (name === GLOBAL_ACCOUNT) throw r.err(m, name, `${JSON.stringify(name)} is a Reserved Account`);
    const am = m[name] as ConfMap;
    const acc: AccountConfig = { name, users: [] };
    let usersKey: string | undefined;
    for (const [orig, lk] of lowerKeys(am)) {
      switch (lk) {
        case "users":
          acc.users = readUsers(r, am, orig, name, seen);
          usersKey = orig;
          break;
        case "jetstream":
          acc.jetstream = readAccountJetStream(r, am, orig);
          break;
        case "imports":
          acc.imports = readImports(r, am, orig, where);
          break;
        case "exports":
          acc.exports = readExports(r, am, orig, where);
          break;
        case "nkey": {
          const nk = am[orig];
          if (typeof nk !== "string" || !isPublicAccountKey(nk)) {
            throw r.err(am, orig, `Not a valid public nkey for an account: ${JSON.stringify(nk)}`);
          }
          acc.nkey = nk;
          break;
        }
        case "mappings":
        case "maps":
          acc.mappings = readMappings(r, am, orig);
          break;
        case "limits":
          acc.limits = readAccountLimits(r, am, orig);
          break;
        case "default_permissions":
          acc.defaultPermissions = readPermissions(r, am, orig);
          break;
        case "msg_trace":
        case "trace_dest": {
          const t = readMsgTrace(r, am, orig);
          acc.traceDest = t.dest;
          acc.traceSampling = t.sampling;
          break;
        }
        default:
          r.unknown(am, orig);
      }
    }
    if (usersKey !== undefined && acc.users.length > 0) {
      if (opts.username !== undefined) throw r.err(am, usersKey, "Can not have a single user/pass and accounts");
      if (opts.authorization !== undefined) throw r.err(am, usersKey, "Can not have a token and accounts");
    }
    opts.accounts.push(acc);
  }
}

/** A public account nkey: base32, starting with "A", 56 characters, valid checksum. */
function isPublicAccountKey(k: string): boolean {
  return isPublicKey(k, "A");
}

/** A TLS field that is a list of strings (cipher_suites, curve_preferences, pinned_certs). */
function readTlsList(r: Reader, m: ConfMap, key: string, what: string): [string[], ConfValue[]] {
  const k = kindOfEntry(m, key);
  if (k !== "array") throw r.err(m, key, `error parsing tls config, expected '${what}' to be a list`);
  const arr = m[key] as ConfValue[];
  const out = arr.map((v, i) => {
    if (kindOfEntry(arr, i) !== "string") throw r.err(arr, i, `error parsing tls config, '${what}' entries must be strings`);
    return v as string;
  });
  return [out, arr];
}

/**
 * A `tls {}` block, with nats-server's keys and errors. `context` is where it applies: the
 * client listeners (top level, websocket) or routes, which take fewer of the options yet.
 */
export function readTls(r: Reader, parent: ConfMap, key: string, context: "client" | "route" | "gateway" | "leafnode" = "client"): TlsOptions {
  const m = r.map(parent, key, "tls");
  const tls: TlsOptions = {};
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "cert_file":
        tls.cert = r.str(m, orig, lk);
        break;
      case "key_file":
        tls.key = r.str(m, orig, lk);
        break;
      case "ca_file":
        tls.ca = r.str(m, orig, lk);
        break;
      case "verify":
        tls.verify = r.bool(m, orig, lk);
        break;
      case "insecure":
        if (kindOfEntry(m, orig) !== "bool") throw r.err(m, orig, "error parsing tls config, expected 'insecure' to be a boolean");
        tls.insecure = m[orig] as boolean;
        break;
      case "verify_and_map": {
        const on = r.bool(m, orig, lk);
        if (on) tls.verify = true;
        tls.verifyAndMap = on;
        break;
      }
      case "verify_cert_and_check_known_urls":
        if (r.bool(m, orig, lk)) {
          // Only routes and gateways check known URLs in nats-server; tsnats routes do not yet.
          throw context === "client"
            ? r.err(parent, key, "verify_cert_and_check_known_urls not supported in this context")
            : r.err(m, orig, `tls field ${JSON.stringify(orig)} is not supported by tsnats yet for routes`);
        }
        break;
      case "timeout":
        tls.timeout = r.seconds(m, orig, "tls timeout") / 1000;
        break;
      case "handshake_first":
      case "first":
      case "immediate": {
        const kk = kindOfEntry(m, orig);
        const v = m[orig];
        if (kk === "bool") tls.handshakeFirst = v as boolean;
        else if (kk === "string") {
          const sv = (v as string).toLowerCase();
          if (sv === "true" || sv === "on") tls.handshakeFirst = true;
          else if (sv === "false" || sv === "off") tls.handshakeFirst = false;
          else if (sv === "auto" || sv === "auto_fallback") {
            tls.handshakeFirst = true;
            tls.handshakeFirstFallbackMs = DEFAULT_HANDSHAKE_FIRST_FALLBACK_MS;
          } else {
            let ms: number;
            try {
              ms = parseDuration(v as string);
            } catch {
              throw r.err(m, orig, `field ${JSON.stringify(orig)}'s value ${JSON.stringify(v)} is invalid`);
            }
            tls.handshakeFirst = true;
            tls.handshakeFirstFallbackMs = ms;
          }
        } else throw r.err(m, orig, `field ${JSON.stringify(orig)} should be a boolean or a string, got ${goType(kk)}`);
        break;
      }
      case "pinned_certs": {
        if (kindOfEntry(m, orig) !== "array") {
          throw r.err(m, orig, "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo");
        }
        const [list, arr] = readTlsList(r, m, orig, "pinned_certs");
        tls.pinnedCerts = list.map((e, i) => {
          const entry = e.toLowerCase();
          if (!/^[a-f0-9]{64}$/.test(entry)) {
            throw r.err(arr, i, `error parsing tls config, 'pinned_certs' key ${entry} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo`);
          }
          return entry;
        });
        if (tls.pinnedCerts.length === 0) tls.pinnedCerts = undefined;
        break;
      }
      case "min_version": {
        const kk = kindOfEntry(m, orig);
        const v = m[orig];
        if (kk !== "string") throw r.err(m, orig, `error parsing tls config: 'min_version' wrong type: ${String(v)}`);
        if (v === "1.0" || v === "1.1") throw r.err(m, orig, `error parsing tls config: unsupported TLS version: TLS ${v}`);
        if (v !== "1.2" && v !== "1.3") throw r.err(m, orig, `error parsing tls config: unknown version: ${v as string}`);
        tls.minVersion = v;
        break;
      }
      case "cipher_suites": {
        const [list, arr] = readTlsList(r, m, orig, "cipher_suites");
        if (list.length === 0) throw r.err(m, orig, "error parsing tls config, 'cipher_suites' cannot be empty");
        list.forEach((c, i) => {
          if (!isCipherSuiteName(c)) throw r.err(arr, i, `unrecognized cipher ${c}`);
        });
        tls.cipherSuites = list;
        break;
      }
      case "allow_insecure_cipher_suites":
        tls.allowInsecureCipherSuites = r.bool(m, orig, lk);
        break;
      case "curve_preferences": {
        const [list, arr] = readTlsList(r, m, orig, "curve_preferences");
        if (list.length === 0) throw r.err(m, orig, "error parsing tls config, 'curve_preferences' cannot be empty");
        list.forEach((c, i) => {
          if (!isCurveName(c)) throw r.err(arr, i, `unrecognized curve preference ${c}`);
        });
        tls.curvePreferences = list;
        break;
      }
      case "connection_rate_limit":
        if (kindOfEntry(m, orig) !== "int") throw r.err(m, orig, "error parsing tls config, 'connection_rate_limit' wrong type");
        tls.rateLimit = m[orig] as number;
        break;
      case "ocsp_peer":
        // Peer certificate revocation checks (OCSP) are not implemented: refusing is safer than accepting revoked certificates.
        throw r.err(m, orig, `tls field ${JSON.stringify(orig)} is not supported by tsnats: OCSP checks of peer certificates are not implemented`);
      case "certs":
      case "certificates":
        throw r.err(m, orig, `tls field ${JSON.stringify(orig)} is not supported by tsnats yet: use cert_file and key_file`);
      default:
        if (lk === "cert_store") throw r.err(parent, key, "cert_store not compatible with current operating system");
        if (TLS_CERT_STORE.has(lk)) throw r.err(m, orig, `tls field ${JSON.stringify(orig)} is not supported by tsnats (it selects from the Windows certificate store)`);
        r.unknown(m, orig, "error parsing tls config");
    }
  }
  const insecure = (tls.cipherSuites ?? []).filter(isInsecureCipherSuite);
  if (insecure.length > 0 && !tls.allowInsecureCipherSuites) {
    throw r.err(parent, key, `insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: ${insecure.join(", ")}`);
  }
  if (context !== "client") {
    for (const f of ROUTE_TLS_UNSUPPORTED) {
      if (tls[f] !== undefined && tls[f] !== false) {
        throw r.err(parent, key, `tls option ${f === "verifyAndMap" ? "verify_and_map" : f === "pinnedCerts" ? "pinned_certs" : "connection_rate_limit"} is not supported by tsnats yet for ${context}s`);
      }
    }
  }
  if (tls.cert !== undefined && tls.key === undefined) throw r.err(parent, key, "missing 'key_file' in TLS configuration");
  if (tls.key !== undefined && tls.cert === undefined) throw r.err(parent, key, "missing 'cert_file' in TLS configuration");
  for (const [f, label] of [
    [tls.cert, "X509 certificate/key pair"],
    [tls.key, "X509 certificate/key pair"],
    [tls.ca, "ca_file"],
  ] as const) {
    if (f !== undefined && !existsSync(f)) throw r.err(parent, key, `error parsing ${label}: open ${f}: no such file or directory`);
  }
  return tls;
}

/** `websocket { authorization {} }`: a single user or token and a timeout (no users list, as nats-server). */
function readWebsocketAuth(r: Reader, parent: ConfMap, key: string, ws: WebSocketOptions): void {
  const m = r.map(parent, key, "authorization");
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "user":
      case "username":
        ws.username = r.str(m, orig, lk);
        break;
      case "pass":
      case "password":
        ws.password = r.str(m, orig, lk);
        break;
      case "token":
        ws.token = r.str(m, orig, lk);
        break;
      case "timeout": {
        const kk = kindOfEntry(m, orig);
        if (kk !== "int" && kk !== "float") throw typeError(m, orig, "timeout", "a number of seconds", kk, r.file);
        ws.authTimeoutMs = (m[orig] as number) * 1000;
        break;
      }
      default:
        r.unknown(m, orig);
    }
  }
}

/** `websocket {}` (alias `ws`), with nats-server's keys and aliases. */
function readWebsocket(r: Reader, parent: ConfMap, key: string): WebSocketOptions {
  const k = kindOfEntry(parent, key);
  if (k !== "map") throw r.err(parent, key, `Expected websocket to be a map, got ${goType(k)}`);
  const m = parent[key] as ConfMap;
  const ws = defaultWebSocketOptions();
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "listen": {
        const hp = readListen(r, m, orig);
        ws.host = hp.host ?? "";
        ws.port = hp.port;
        break;
      }
      case "port":
        ws.port = r.int(m, orig, lk);
        break;
      case "host":
      case "net":
        ws.host = r.str(m, orig, lk);
        break;
      case "advertise":
        ws.advertise = r.str(m, orig, lk);
        break;
      case "no_tls":
        ws.noTls = r.bool(m, orig, lk);
        break;
      case "tls":
        ws.tls = readTls(r, m, orig);
        break;
      case "same_origin":
        ws.sameOrigin = r.bool(m, orig, lk);
        break;
      case "allowed_origins":
      case "allowed_origin":
      case "allow_origins":
      case "allow_origin":
      case "origins":
      case "origin":
        ws.allowedOrigins = readStringList(r, m, orig, "allowed origins");
        break;
      case "handshake_timeout": {
        const kk = kindOfEntry(m, orig);
        if (kk === "int") ws.handshakeTimeoutMs = (m[orig] as number) * 1000;
        else if (kk === "string") ws.handshakeTimeoutMs = r.duration(m, orig, lk);
        else throw r.err(m, orig, `error parsing handshake timeout: unsupported type ${goType(kk)}`);
        break;
      }
      case "compress":
      case "compression":
        ws.compression = r.bool(m, orig, lk);
        break;
      case "authorization":
      case "authentication":
        readWebsocketAuth(r, m, orig, ws);
        break;
      case "jwt_cookie":
        ws.jwtCookie = r.str(m, orig, lk);
        break;
      case "user_cookie":
        ws.userCookie = r.str(m, orig, lk);
        break;
      case "pass_cookie":
        ws.passCookie = r.str(m, orig, lk);
        break;
      case "token_cookie":
        ws.tokenCookie = r.str(m, orig, lk);
        break;
      case "no_auth_user":
        ws.noAuthUser = r.str(m, orig, lk);
        break;
      case "headers": {
        const kk = kindOfEntry(m, orig);
        if (kk !== "map") throw r.err(m, orig, `error parsing headers: unsupported type ${goType(kk)}`);
        const hm = m[orig] as ConfMap;
        ws.headers = {};
        for (const name of Object.keys(hm)) {
          const hk = kindOfEntry(hm, name);
          if (hk !== "string") throw r.err(hm, name, `error parsing header key ${name}: unsupported type ${goType(hk)}`);
          ws.headers[name] = hm[name] as string;
        }
        break;
      }
      case "ping_interval":
        ws.pingIntervalMs = r.duration(m, orig, lk);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  return ws;
}

function readJetStream(r: Reader, parent: ConfMap, key: string, opts: ServerOptions): void {
  const js = opts.jetstream;
  const m = readJetStreamSwitch(r, parent, key);
  if (typeof m === "boolean") {
    js.enabled = m;
    return;
  }
  js.enabled = true;
  let sawStoreDir = false;
  let encKey: string | undefined;
  let prevKey: string | undefined;
  let cipher: "chachapoly" | "aes" = "chachapoly";
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "enabled":
      case "enable":
        js.enabled = r.bool(m, orig, lk);
        break;
      case "store_dir":
      case "store":
      case "storedir":
        if (sawStoreDir) throw r.err(m, orig, "Duplicate 'store_dir' configuration");
        sawStoreDir = true;
        js.storeDir = r.str(m, orig, "store_dir");
        break;
      case "max_memory_store":
      case "max_mem_store":
      case "max_mem":
        js.maxMemoryStore = readStorageSize(r, m, orig, "max_mem_store");
        break;
      case "max_file_store":
      case "max_file":
        js.maxFileStore = readStorageSize(r, m, orig, "max_file_store");
        break;
      case "domain":
        js.domain = r.str(m, orig, lk);
        break;
      case "unique_tag":
        js.uniqueTag = r.str(m, orig, lk).trim().toLowerCase();
        break;
      case "key":
      case "ek":
      case "encryption_key":
        encKey = r.str(m, orig, lk);
        break;
      case "prev_key":
      case "prev_ek":
      case "prev_encryption_key":
        prevKey = r.str(m, orig, lk);
        break;
      case "cipher": {
        const c = r.str(m, orig, lk).toLowerCase();
        if (c === "chacha" || c === "chachapoly") cipher = "chachapoly";
        else if (c === "aes") cipher = "aes";
        else throw r.err(m, orig, `Unknown cipher type: ${JSON.stringify(r.str(m, orig, lk))}`);
        break;
      }
      case "max_buffered_size":
        js.maxBufferedSize = readStorageSize(r, m, orig, lk);
        break;
      case "max_buffered_msgs":
        if (kindOfEntry(m, orig) !== "int") throw r.err(m, orig, `Expected a parseable size for ${JSON.stringify(orig)}, got ${String(m[orig])}`);
        js.maxBufferedMsgs = m[orig] as number;
        break;
      case "sync_interval":
      case "sync": {
        const kk = kindOfEntry(m, orig);
        if (kk === "string" && (m[orig] as string).toLowerCase() === "always") js.syncInterval = "always";
        else {
          const ms = r.duration(m, orig, "sync_interval");
          if (ms <= 0) throw r.err(m, orig, `sync_interval must be a positive duration or "always"`);
          js.syncInterval = ms;
        }
        break;
      }
      case "limits":
        js.limits = readJetStreamLimits(r, m, orig);
        break;
      case "strict":
        js.strict = r.bool(m, orig, lk);
        break;
      case "extension_hint": {
        const hint = r.str(m, orig, lk).toLowerCase();
        if (hint !== "will_extend" && hint !== "no_extend" && hint !== "") throw r.err(m, orig, `expected 'no_extend' for string value, got '${hint}'`);
        js.extensionHint = hint === "" ? undefined : hint;
        break;
      }
      case "max_outstanding_catchup": {
        const n = readStorageSize(r, m, orig, lk);
        if (n < 0) throw r.err(m, orig, "jetstream max catchup cannot be negative");
        js.maxOutstandingCatchup = n;
        break;
      }
      default:
        if (JS_UNSUPPORTED.has(lk)) {
          throw r.err(m, orig, `jetstream field ${JSON.stringify(orig)}: keys held in a TPM are not supported by tsnats yet`);
        }
        r.unknown(m, orig);
    }
  }
  // A key (from the file or a $VAR) turns encryption on; the cipher defaults to ChaCha20-Poly1305.
  if (encKey !== undefined && encKey !== "") js.encryption = { cipher, key: encKey, ...(prevKey ? { prevKey } : {}) };
  else if (prevKey !== undefined && prevKey !== "") throw r.err(m, "prev_encryption_key", "prev_encryption_key needs the current key as well");
}

/** jetstream `limits {}` (nats-server's key names; its batch block as `batch {}`). */
function readJetStreamLimits(r: Reader, parent: ConfMap, key: string): JetStreamServerLimits {
  const m = r.map(parent, key, "limits");
  const out: JetStreamServerLimits = {};
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "max_ack_pending":
        out.maxAckPending = r.int(m, orig, lk);
        break;
      case "max_ha_assets":
        out.maxHaAssets = r.int(m, orig, lk);
        break;
      case "max_request_batch":
        out.maxRequestBatch = r.int(m, orig, lk);
        break;
      case "duplicate_window":
        out.duplicateWindowMs = r.duration(m, orig, lk);
        break;
      case "default_max_consumers":
        out.defaultMaxConsumers = r.int(m, orig, lk);
        break;
      case "batch": {
        const b = r.map(m, orig, lk);
        const batch: NonNullable<JetStreamServerLimits["batch"]> = {};
        for (const [bo, bk] of lowerKeys(b)) {
          if (bk === "max_inflight_per_stream") batch.maxInflightPerStream = r.int(b, bo, bk);
          else if (bk === "max_inflight_total") batch.maxInflightTotal = r.int(b, bo, bk);
          else if (bk === "max_msgs") batch.maxMsgs = r.int(b, bo, bk);
          else if (bk === "timeout") batch.timeoutMs = r.duration(b, bo, bk);
          else r.unknown(b, bo);
        }
        out.batch = batch;
        break;
      }
      default:
        r.unknown(m, orig);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// top level

/** ServerOptions fields typed to hold a value of type V (fields typed `unknown` excluded). */
type FieldFor<V> = {
  [K in keyof ServerOptions]-?: unknown extends ServerOptions[K] ? never : [V] extends [ServerOptions[K]] ? K : never;
}[keyof ServerOptions];

/** Inverts `{ field: [key, alias...] }` into lower-case config key -> field. */
function byKey<F extends string>(fields: Partial<Record<F, readonly string[]>>): Map<string, F> {
  const out = new Map<string, F>();
  for (const [field, keys] of Object.entries(fields) as [F, readonly string[]][]) for (const k of keys) out.set(k, field);
  return out;
}

// Top-level keys that copy one typed value into one option; keys needing more live in the switch.
const STRING_OPTIONS = byKey<FieldFor<string>>({
  host: ["host", "net"],
  serverName: ["server_name"],
  clientAdvertise: ["client_advertise"],
  httpBasePath: ["http_base_path"],
  systemAccount: ["system_account", "system"],
  noAuthUser: ["no_auth_user"],
  logFile: ["log_file", "logfile"],
  remoteSyslog: ["remote_syslog"],
  pidFile: ["pid_file", "pidfile"],
  portsFileDir: ["ports_file_dir"],
});
const INT_OPTIONS = byKey<FieldFor<number>>({
  maxPayload: ["max_payload"],
  maxControlLine: ["max_control_line"],
  maxConnections: ["max_connections", "max_conn"],
  maxSubscriptions: ["max_subscriptions", "max_subs"],
  maxPending: ["max_pending"],
  maxTracedMsgLen: ["max_traced_msg_len"],
  maxPingsOut: ["ping_max"],
  logSizeLimit: ["logfile_size_limit", "log_size_limit"],
  logMaxFiles: ["logfile_max_num", "log_max_num"],
  profPort: ["prof_port"],
  connectErrorReports: ["connect_error_reports"],
  reconnectErrorReports: ["reconnect_error_reports"],
});
const PORT_OPTIONS = byKey<FieldFor<number>>({
  port: ["port"],
  httpPort: ["http_port", "monitor_port"],
  httpsPort: ["https_port"],
});
const DURATION_OPTIONS = byKey<FieldFor<number>>({
  writeDeadlineMs: ["write_deadline"],
  pingIntervalMs: ["ping_interval"],
});
const BOOL_OPTIONS = byKey<FieldFor<boolean>>({
  noHeaderSupport: ["no_header_support"],
  disableShortFirstPing: ["disable_short_first_ping"],
  disableSublistCache: ["disable_sublist_cache", "no_sublist_cache"],
  noSystemAccount: ["no_sys_acc", "no_system_account", "no_system"],
  debug: ["debug"],
  trace: ["trace"],
  logtime: ["logtime"],
  logtimeUtc: ["logtime_utc"],
  syslog: ["syslog"],
});

/** Scalar keys nats-server serves and tsnats only parses: set to anything but off, they are refused. */
const UNBUILT_SCALARS = ["syslog", "remote_syslog", "prof_port"] as const;

/** Why the unbuilt scalar `key` (one of UNBUILT_SCALARS), as `o` has it, stops start-up; undefined when off. */
function unbuiltScalarRefusal(o: ServerOptions, key: string): string | undefined {
  switch (key) {
    case "syslog":
      return o.syslog ? "syslog is not supported by tsnats: log to stderr or to a file (log_file, -l)" : undefined;
    case "remote_syslog":
      return o.remoteSyslog !== undefined && o.remoteSyslog !== "" ? "remote_syslog is not supported by tsnats: log to stderr or to a file (log_file, -l)" : undefined;
    case "prof_port":
      return o.profPort !== undefined && o.profPort > 0 ? "prof_port is not supported by tsnats: profile with node --cpu-prof instead" : undefined;
    default:
      return undefined;
  }
}

/** Reads `key` if it is one of the table-driven scalar options; false if it is not. */
function readScalarOption(r: Reader, m: ConfMap, key: string, lk: string, opts: ServerOptions): boolean {
  const str = STRING_OPTIONS.get(lk);
  if (str !== undefined) {
    opts[str] = r.str(m, key, lk);
    return true;
  }
  const int = INT_OPTIONS.get(lk);
  if (int !== undefined) {
    opts[int] = r.int(m, key, lk);
    return true;
  }
  const port = PORT_OPTIONS.get(lk);
  if (port !== undefined) {
    opts[port] = r.int(m, key, lk);
    return true;
  }
  const dur = DURATION_OPTIONS.get(lk);
  if (dur !== undefined) {
    opts[dur] = r.duration(m, key, lk);
    return true;
  }
  const bool = BOOL_OPTIONS.get(lk);
  if (bool !== undefined) {
    opts[bool] = r.bool(m, key, lk);
    return true;
  }
  return false;
}

/** `default_js_domain { ACCOUNT: domain }`: account names to domain names (strings). */
function readDefaultJsDomain(r: Reader, m: ConfMap, key: string): Record<string, string> {
  const kk = kindOfEntry(m, key);
  if (kk !== "map") throw r.err(m, key, `error default_js_domain config: unsupported type ${goType(kk)}`);
  const dm = m[key] as ConfMap;
  const out = Object.create(null) as Record<string, string>;
  for (const acc of Object.keys(dm)) out[acc] = r.str(dm, acc, `default_js_domain.${acc}`);
  return out;
}

/**
 * Apply a parsed configuration tree onto defaultOptions() (or `lo.base`).
 * `file` (the config file path) is used for messages and recorded as `configFile`.
 */
export function optionsFromConfig(tree: ConfMap, file?: string, lo: LoadOptions = {}): ServerOptions {
  const opts = lo.base ?? defaultOptions();
  if (file !== undefined) opts.configFile = file;
  const r = new Reader(opts.warnings, file, lo.allowUnknownFields ?? false);
  const seenUsers = new Map<string, true>();
  const m = tree;
  if (file !== undefined && Object.keys(m).length === 0) opts.warnings.push(`${file}: config has no values or is empty`);
  // Each top-level key is read on its own and every failure reported, as nats-server does.
  const errors: ConfigError[] = [];
  for (const [key, lk] of lowerKeys(m)) {
    try {
      readTopLevel(r, m, key, lk, opts, seenUsers);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e);
    }
  }
  // With the file's own warnings, not tsnats' notes on what it does not serve.
  const warnings = opts.warnings.filter((w) => !isNotServedWarning(w));
  if (errors.length === 1 && warnings.length === 0) throw errors[0];
  if (errors.length > 0) throw new ConfigErrors(errors, warnings);
  applyOperatorDefaults(opts);
  return opts;
}

/** Top-level scalars nats-server checks beyond their type, with its texts. */
function checkScalarOption(r: Reader, m: ConfMap, key: string, lk: string, opts: ServerOptions): void {
  switch (lk) {
    case "server_name":
      if (opts.serverName?.includes(" ")) throw r.err(m, key, "server name cannot contain spaces");
      break;
    case "max_payload":
    case "max_control_line":
      // Kept in 32 bits by nats-server: the key as written names the refusal.
      if ((m[key] as number) > 2 ** 31 - 1) throw r.err(m, key, `${key} value is too big`);
      break;
  }
}

function readTopLevel(r: Reader, m: ConfMap, key: string, lk: string, opts: ServerOptions, seenUsers: Map<string, true>): void {
  if ((lk === "system_account" || lk === "system") && kindOfEntry(m, key) !== "string") throw r.err(m, key, "system account name must be a string");
  if (readScalarOption(r, m, key, lk, opts)) {
    checkScalarOption(r, m, key, lk, opts);
    const why = unbuiltScalarRefusal(opts, lk);
    if (why !== undefined) throw r.err(m, key, why);
    return;
  }
  switch (lk) {
    case "listen": {
      const hp = readListen(r, m, key);
      if (hp.host !== undefined) opts.host = hp.host;
      opts.port = hp.port;
      break;
    }
    case "http": {
      const hp = readListen(r, m, key);
      if (hp.host !== undefined) opts.httpHost = hp.host;
      opts.httpPort = hp.port;
      break;
    }
    case "https": {
      const hp = readListen(r, m, key);
      if (hp.host !== undefined) opts.httpHost = hp.host;
      opts.httpsPort = hp.port;
      break;
    }
    case "lame_duck_duration": {
      const ms = r.durationString(m, key, lk);
      if (ms < MIN_LAME_DUCK_DURATION_MS) {
        throw r.err(m, key, `invalid lame_duck_duration of ${formatGoDuration(ms)}, minimum is ${MIN_LAME_DUCK_DURATION_MS / 1000} seconds`);
      }
      opts.lameDuckDurationMs = ms;
      break;
    }
    case "lame_duck_grace_period": {
      const ms = r.durationString(m, key, lk);
      if (ms < 0) throw r.err(m, key, "invalid lame_duck_grace_period, needs to be positive");
      opts.lameDuckGracePeriodMs = ms;
      break;
    }
    case "authorization":
      readAuthorization(r, m, key, opts, seenUsers);
      break;
    case "accounts":
      readAccounts(r, m, key, opts, seenUsers);
      break;
    case "mappings":
    case "maps":
      opts.mappings = readMappings(r, m, key);
      break;
    case "tls":
      opts.tls = readTls(r, m, key);
      break;
    case "jetstream":
      readJetStream(r, m, key, opts);
      break;
    case "cluster":
      readCluster(r, m, key, opts);
      break;
    case "leafnodes":
    case "leaf":
      readLeafNodes(r, m, key, opts);
      break;
    case "gateway":
      readGateway(r, m, key, opts);
      break;
    case "trusted":
    case "trusted_keys": {
      opts.trustedKeys = readStringList(r, m, key, "trusted");
      for (const k of opts.trustedKeys) {
        if (!isPublicKey(k, "O")) throw r.err(m, key, `trust key ${JSON.stringify(k)} required to be a valid public operator nkey`);
      }
      break;
    }
    case "resolver":
    case "account_resolver":
    case "accounts_resolver":
      opts.resolver = readResolver(r, m, key);
      break;
    case "resolver_preload":
      opts.resolverPreload = readResolverPreload(r, m, key);
      break;
    case "resolver_pinned_accounts":
      opts.resolverPinnedAccounts = readStringList(r, m, key, "resolver_pinned_accounts");
      break;
    case "default_sentinel":
      opts.defaultSentinel = r.str(m, key, lk);
      break;
    case "websocket":
    case "ws":
      opts.websocket = readWebsocket(r, m, key);
      break;
    case "allow_non_tls":
      opts.allowNonTls = r.bool(m, key, lk);
      break;
    case "feature_flags": {
      const kk = kindOfEntry(m, key);
      if (kk !== "map") throw r.err(m, key, `error parsing feature flags: unsupported type ${goType(kk)}`);
      const fm = m[key] as ConfMap;
      for (const name of Object.keys(fm)) {
        const fk = kindOfEntry(fm, name);
        if (fk !== "bool") throw r.err(fm, name, `error parsing feature flag ${JSON.stringify(name)}: expected bool, got ${goType(fk)}`);
        (opts.featureFlags ??= {})[name] = fm[name] as boolean;
      }
      break;
    }
    case "server_tags":
      opts.serverTags = readServerTags(r, m, key);
      break;
    case "default_js_domain":
      opts.defaultJsDomain = readDefaultJsDomain(r, m, key);
      break;
    case "trace_verbose":
      opts.traceVerbose = r.bool(m, key, lk);
      if (opts.traceVerbose) opts.trace = true;
      break;
    default: {
      const block = UNSUPPORTED_BLOCKS.get(lk);
      if (block !== undefined) {
        refuseEnabledMqtt(r, m, key);
        opts.unsupportedBlocks[block] = m[key];
        r.warn(m, key, notServedWarning(block));
      } else if (OPERATOR_KEYS.has(lk)) {
        readOperators(r, m, key, opts);
      } else if (UNSUPPORTED_TOP_LEVEL.has(lk)) {
        throw r.err(m, key, `${JSON.stringify(key)}: ${UNSUPPORTED_TOP_LEVEL.get(lk) as string}`);
      } else {
        r.unknown(m, key);
      }
    }
  }
}

/**
 * A single operator JWT supplies what the config leaves out: the system account, and an
 * account resolver when the operator names an account server.
 */
function applyOperatorDefaults(opts: ServerOptions): void {
  if (opts.operatorJwts.length !== 1) return;
  const op = decodeOperatorClaims(opts.operatorJwts[0]);
  if (opts.resolver === undefined && op.accountServerUrl !== "") {
    opts.resolver = { type: "url", url: `${op.accountServerUrl.replace(/\/+$/, "")}/accounts/` };
  }
  if (opts.systemAccount === undefined && op.systemAccount !== "") opts.systemAccount = op.systemAccount;
}

/** Parse a config file and turn it into ServerOptions (relative paths stay as written). */
export function loadConfigFile(path: string, lo: LoadOptions & ParseOptions = {}): ServerOptions {
  const tree = parseConfigFile(path, lo);
  const opts = optionsFromConfig(tree, path, lo);
  opts.configDigest = configDigest(tree);
  return opts;
}

/**
 * /varz `config_digest` and `-t`'s answer: "sha256:" and the hash of the parsed configuration
 * (includes and variables resolved) as nats-server computes it, so the two servers agree on
 * the digest of the same file: Go's JSON encoding of the tree (keys sorted, `<`, `>`, `&`,
 * U+2028 and U+2029 escaped, dates in RFC 3339, a final newline).
 */
export function configDigest(tree: ConfMap): string {
  const canonical = (v: ConfValue): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v instanceof Date) return v.toISOString().replace(/\.?0+Z$/, "Z");
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]!);
      return out;
    }
    return v;
  };
  const json = JSON.stringify(canonical(tree)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `sha256:${createHash("sha256").update(`${json}\n`).digest("hex")}`;
}

/**
 * Cross-field checks nats-server does once all options are known (config and flags).
 * Throws an Error with nats-server's wording.
 */
export function validateOptions(o: ServerOptions): void {
  if (o.maxPayload > o.maxPending) {
    throw new Error(`max_payload (${o.maxPayload}) cannot be higher than max_pending (${o.maxPending})`);
  }
  if (o.lameDuckGracePeriodMs >= o.lameDuckDurationMs) {
    throw new Error(
      `lame duck grace period (${formatGoDuration(o.lameDuckGracePeriodMs)}) should be strictly lower than lame duck duration (${formatGoDuration(o.lameDuckDurationMs)})`,
    );
  }
  // Accepted by the parser (nats-server's flags and keys) but not built: refused, never ignored.
  // (A config file's keys are refused where they stand, by optionsFromConfig; this catches flags.)
  for (const key of UNBUILT_SCALARS) {
    const why = unbuiltScalarRefusal(o, key);
    if (why !== undefined) throw new Error(why);
  }
  validateOperatorMode(o);
  for (const u of [...o.users, ...o.accounts.flatMap((a) => a.users)]) {
    const unknown = allowedConnectionTypes(u.allowedConnectionTypes).unknown;
    if (unknown.length > 0) throw new Error(`unknown connection type ${JSON.stringify(u.allowedConnectionTypes?.find((t) => t.toUpperCase() === unknown[0]))}`);
  }
  if (o.noAuthUser !== undefined) checkNoAuthUser(o, o.noAuthUser);
  if (o.websocket !== undefined) validateWebsocket(o, o.websocket);
  validateGateway(o);
  validateCluster(o);
  validateLeafNodes(o);
  validateDefaultJsDomain(o);
  const operatorMode = o.operatorJwts.length > 0 || o.trustedKeys.length > 0;
  if (o.authCallout !== undefined && !operatorMode) {
    for (const acc of o.authCallout.allowedAccounts) {
      if (!o.accounts.some((a) => a.name === acc)) throw new Error(`auth_callout allowed account ${JSON.stringify(acc)} not found in configured accounts`);
    }
  }
  if (o.systemAccount !== undefined && !o.noSystemAccount && o.systemAccount !== "$SYS" && !operatorMode) {
    if (!o.accounts.some((a) => a.name === o.systemAccount)) throw new Error("error resolving system account: account missing");
  }
  // Imports, exports and mappings can only be judged with every account known.
  checkAccountsConfig(o);
}

/** nats-server's checks of operator mode (validateTrustedOperators), with its wording. */
function validateOperatorMode(o: ServerOptions): void {
  if (o.operatorJwts.length === 0) {
    if (o.defaultSentinel !== undefined) throw new Error("default sentinel requires operators and accounts");
    return;
  }
  const operators = o.operatorJwts.map((t) => decodeOperatorClaims(t));
  if (o.defaultSentinel !== undefined) {
    let bearer = false;
    let scopedLooking = false;
    try {
      const u = decodeUserClaims(o.defaultSentinel);
      bearer = u.limits.bearerToken;
      scopedLooking = u.issuerAccount !== "" && hasEmptyPermissions(u.limits);
    } catch {
      throw new Error("default sentinel JWT not valid");
    }
    if (!bearer && !scopedLooking) throw new Error("default sentinel must be a bearer token");
  }
  if (o.resolver === undefined) throw new Error("operators require an account resolver to be configured");
  if (o.accounts.length > 0) throw new Error("operators do not allow Accounts to be configured directly");
  if (o.users.length > 0) throw new Error("operators do not allow users to be configured directly");
  if (o.trustedKeys.length > 0) throw new Error("conflicting options for 'TrustedKeys' and 'TrustedOperators'");
  if (o.systemAccount !== undefined) {
    const named = operators.filter((op) => op.systemAccount !== "");
    if (named.length > 0 && !named.some((op) => op.systemAccount === o.systemAccount)) {
      throw new Error("system_account in config and operator JWT must be identical");
    }
  } else if (operators[0].systemAccount === "" && (o.resolver.type === "full" || o.resolver.type === "cache")) {
    throw new Error("using nats based account resolver - the system account needs to be specified in configuration or the operator jwt");
  }
  for (const op of operators) {
    const v = assertedVersion(op.assertServerVersion);
    if (typeof v === "string") throw new Error(`operator ${op.data.sub} expects version ${op.assertServerVersion} got error instead: ${v}`);
    const [maj, min, upd] = v;
    const [sMaj, sMin, sUpd] = NATS_FEATURE_VERSION.split(".").map(Number);
    if (maj > sMaj) throw new Error(`operator ${op.data.sub} expected major version ${maj} > server major version ${sMaj}`);
    if (maj === sMaj && min > sMin) throw new Error(`operator ${op.data.sub} expected minor version ${min} > server minor version ${sMin}`);
    if (maj === sMaj && min === sMin && upd > sUpd) throw new Error(`operator ${op.data.sub} expected update version ${upd} > server update version ${sUpd}`);
  }
  for (const key of o.resolverPinnedAccounts ?? []) {
    if (!isPublicKey(key, "A")) throw new Error(`pinned account key ${JSON.stringify(key)} is not a valid public account nkey`);
  }
  if (o.authCallout !== undefined) throw new Error("operators do not allow authorization callouts to be configured directly");
  if (o.noAuthUser !== undefined) throw new Error("no_auth_user not compatible with Trusted Operator");
}

/** An operator's `assert_server_version` ("2.10.0") as numbers, or the reason it is not one. */
function assertedVersion(v: string): [number, number, number] | string {
  if (v === "") return [0, 0, 0];
  const parts = v.split(".");
  if (parts.length !== 3) return "asserted server version must be of the form <major>.<minor>.<update>";
  const nums: number[] = [];
  for (const p of parts) {
    if (!/^[+-]?\d+$/.test(p)) return `asserted server version cant parse ${p} to int`;
    nums.push(Number(p));
  }
  if (nums.some((n) => n < 0)) return `asserted server version can'b contain negative values: ${v}`;
  return nums as [number, number, number];
}

function checkNoAuthUser(o: ServerOptions, name: string): void {
  if (o.operatorJwts.length > 0) throw new Error("no_auth_user not compatible with Trusted Operator");
  const all = [...o.users, ...o.accounts.flatMap((a) => a.users)];
  if (all.length === 0) throw new Error(`no_auth_user: ${JSON.stringify(name)} present, but users/nkeys are not defined`);
  if (!all.some((u) => u.user === name || u.nkey === name)) {
    throw new Error(`no_auth_user: ${JSON.stringify(name)} not present as user or nkey in authorization block or account configuration`);
  }
}

/** nats-server's validateWebsocketOptions: a block without a port is off and not checked. */
export function validateWebsocket(o: ServerOptions, ws: WebSocketOptions): void {
  if (ws.port === 0) return;
  if (ws.tls === undefined && !ws.noTls) throw new Error("websocket requires TLS configuration");
  const badOrigin = invalidAllowedOrigin(ws.allowedOrigins);
  if (badOrigin !== undefined) throw new Error(badOrigin);
  if (ws.noAuthUser !== undefined) checkNoAuthUser(o, ws.noAuthUser);
  const hasUsers = o.users.length > 0;
  if (hasUsers && ws.username !== undefined) throw new Error("websocket authentication username not compatible with presence of users/nkeys");
  if (hasUsers && ws.token !== undefined) throw new Error("websocket authentication token not compatible with presence of users/nkeys");
  if (ws.jwtCookie && o.operatorJwts.length === 0 && o.trustedKeys.length === 0) {
    throw new Error(`trusted operators or trusted keys configuration is required for JWT authentication via cookie ${JSON.stringify(ws.jwtCookie)}`);
  }
  const badHeader = invalidResponseHeader(ws.headers);
  if (badHeader !== undefined) throw new Error(badHeader);
}

/** Format milliseconds like Go's time.Duration.String() ("1h0m0s", "2m0s", "500ms"). */
export function formatGoDuration(ms: number): string {
  return goDuration(msToNs(ms));
}

/**
 * `server_tags`: one string or a list of strings, kept as nats-server keeps them (lower case,
 * trimmed, empty ones and duplicates dropped), so placement compares them as it does.
 */
function readServerTags(r: Reader, m: ConfMap, key: string): string[] {
  const kind = kindOfEntry(m, key);
  const raw: ConfValue[] = kind === "array" ? (m[key] as ConfValue[]) : [m[key]];
  const tags: string[] = [];
  raw.forEach((v, i) => {
    if (typeof v !== "string") {
      // nats-server's texts, Go type names included.
      throw r.err(m, key, kind === "array" ? "error parsing tags: unsupported type *conf.token where string is expected" : `error parsing tags: unsupported type ${goType(kind)}`);
    }
    const tag = v.trim().toLowerCase();
    if (tag !== "" && !tags.includes(tag)) tags.push(tag);
  });
  return tags;
}
