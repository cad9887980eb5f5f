// The `cluster {}` block and the cluster command-line flags, read into ClusterOptions with
// nats-server's keys, aliases and error texts.
import { goQuote } from "../server/go_quote.js";
import type { ConfMap, ConfValue } from "./conf_parser.js";
import { defaultClusterOptions, type ClusterOptions, type ServerOptions, type WriteTimeoutPolicy } from "./options.js";
import { readListen, readSubjectPermission, readTls } from "./load.js";
import { kindOfEntry, lowerKeys, type Reader } from "./reader.js";
import { parseDuration } from "./conf_parser.js";
import { normaliseRttThresholds, type CompressionSetting } from "../cluster/compression.js";

/** Compression modes nats-server accepts, by the spelling a config may use. */
const COMPRESSION_MODES = new Map([
  ["not supported", "not supported"],
  ["not_supported", "not supported"],
  ["off", "off"],
  ["disabled", "off"],
  ["false", "off"],
  ["accept", "accept"],
  ["auto", "s2_auto"],
  ["s2_auto", "s2_auto"],
  ["fast", "s2_fast"],
  ["s2_fast", "s2_fast"],
  ["better", "s2_better"],
  ["s2_better", "s2_better"],
  ["best", "s2_best"],
  ["s2_best", "s2_best"],
]);

/** A duration as Go prints it (nats-server's error texts list thresholds so). */
function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1) return `${+(ms * 1000).toFixed(3)}µs`;
  if (ms < 1000) return `${+ms.toFixed(6)}ms`;
  const totalS = ms / 1000;
  if (totalS < 60) return `${+totalS.toFixed(9)}s`;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const sec = +(totalS % 60).toFixed(9);
  return `${h > 0 ? `${h}h` : ""}${m}m${sec}s`;
}

/**
 * A compression setting (string, bool or `{ mode, rtt_thresholds }`) normalised to a mode and
 * s2_auto's thresholds (ms). `onMode` is what "on"/true means in this block (s2_fast for routes,
 * s2_auto for leafnodes); `dflt` is the block's default, used by a map without `mode`.
 */
export function readCompression(r: Reader, m: ConfMap, key: string, onMode: string, dflt: string): CompressionSetting {
  const k = kindOfEntry(m, key);
  let raw: string;
  let rtts: number[] | undefined;
  let shown: string[] = [];
  if (k === "bool") raw = (m[key] as boolean) ? onMode : "off";
  else if (k === "string") raw = m[key] as string;
  else if (k === "map") {
    const cm = m[key] as ConfMap;
    raw = dflt;
    for (const [orig, lk] of lowerKeys(cm)) {
      if (lk === "mode") raw = r.str(cm, orig, lk);
      else if (lk === "rtt_thresholds" || lk === "thresholds" || lk === "rtts" || lk === "rtt") {
        const list = cm[orig];
        if (!Array.isArray(list)) throw r.err(cm, orig, `interface conversion: interface {} is ${kindOfEntry(cm, orig)}, not []interface {}`);
        rtts = [];
        for (let i = 0; i < list.length; i++) {
          if (typeof list[i] !== "string") throw r.err(list, i, `interface conversion: interface {} is ${kindOfEntry(list as unknown as ConfMap, String(i))}, not string`);
          try {
            rtts.push(parseDuration(list[i] as string));
          } catch (err) {
            throw r.err(cm, orig, (err as Error).message);
          }
        }
        shown = rtts.map(goDuration);
      } else r.unknown(cm, orig);
    }
  } else throw r.err(m, key, `field "${key}" should be a boolean or a structure, got ${k}`);
  const lower = raw.toLowerCase();
  const mode = COMPRESSION_MODES.get(lower === "on" || lower === "enabled" || lower === "true" ? onMode : lower);
  // nats-server checks the mode and thresholds when the server starts (no file position).
  if (mode === undefined) throw new Error(`unsupported compression mode ${JSON.stringify(raw)}`);
  if (mode !== "s2_auto" || rtts === undefined) return { mode };
  return { mode, rttThresholdsMs: normaliseRttThresholds(raw, rtts, shown) };
}

/** `write_timeout` of the cluster, gateway and leafnodes blocks. */
export function readWriteTimeout(r: Reader, m: ConfMap, key: string): WriteTimeoutPolicy {
  const v = r.str(m, key, key);
  if (v !== "default" && v !== "close" && v !== "retry") throw r.err(m, key, "write_timeout must be 'default', 'close' or 'retry'");
  return v;
}

function readPermissionBlock(r: Reader, m: ConfMap, key: string): { import?: unknown; export?: unknown } {
  const k = kindOfEntry(m, key);
  if (k !== "map") throw r.err(m, key, `Expected permissions to be a map, got ${k}`);
  const p = m[key] as ConfMap;
  const out: { import?: unknown; export?: unknown } = {};
  for (const [orig, lk] of lowerKeys(p)) {
    switch (lk) {
      case "import":
        readSubjectPermission(r, p, orig);
        out.import = p[orig];
        break;
      case "export":
        readSubjectPermission(r, p, orig);
        out.export = p[orig];
        break;
      case "publish":
      case "pub":
        // The user-permission spelling is accepted too: publish = import, subscribe = export.
        readSubjectPermission(r, p, orig);
        out.import = p[orig];
        break;
      case "subscribe":
      case "sub":
        readSubjectPermission(r, p, orig);
        out.export = p[orig];
        break;
      case "allow_responses":
      case "allow_resp":
        throw r.err(p, orig, "Cluster permissions do not support dynamic responses");
      default:
        throw r.err(p, orig, `Unknown field ${JSON.stringify(orig)} parsing permissions`);
    }
  }
  return out;
}

function readClusterAuthorization(r: Reader, parent: ConfMap, key: string, c: ClusterOptions): void {
  const m = r.map(parent, key, "authorization");
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "user":
      case "username":
        c.username = r.str(m, orig, lk);
        break;
      case "pass":
      case "password":
        c.password = r.str(m, orig, lk);
        break;
      case "timeout":
        c.authTimeoutMs = r.seconds(m, orig, "authorization timeout");
        break;
      case "users":
        throw r.err(parent, key, "Cluster authorization does not allow multiple users");
      case "token":
        throw r.err(parent, key, "Cluster authorization does not support tokens");
      case "auth_callout":
        throw r.err(parent, key, "Cluster authorization does not support callouts");
      case "permissions":
      case "default_permissions":
        r.warn(m, orig, `setting "permissions" within cluster authorization block is deprecated`);
        if (c.permissions === undefined) c.permissions = readPermissionBlock(r, m, orig);
        break;
      default:
        r.unknown(m, orig);
    }
  }
}

/** URL list of `routes` (an array, or one string), duplicates dropped with a warning. */
export function readUrlList(r: Reader, m: ConfMap, key: string, what: string): string[] {
  const k = kindOfEntry(m, key);
  const values: ConfValue[] = k === "array" ? (m[key] as ConfValue[]) : k === "string" ? [m[key]] : [];
  if (k !== "array" && k !== "string") throw r.err(m, key, `Expected ${key} to be a list of URLs, got ${k}`);
  const seen = new Set<string>();
  const out: string[] = [];
  values.forEach((v, i) => {
    if (typeof v !== "string") throw r.err(k === "array" ? (m[key] as ConfValue[]) : m, k === "array" ? i : key, `${what} url must be a string`);
    const u = v.trim();
    if (seen.has(u)) {
      r.warn(m, key, `Duplicate ${what} entry detected`);
      return;
    }
    seen.add(u);
    if (!URL.canParse(u)) throw r.err(m, key, `error parsing ${what} url [${JSON.stringify(u)}]`);
    out.push(u);
  });
  return out;
}

export function readCluster(r: Reader, parent: ConfMap, key: string, opts: ServerOptions): void {
  const m = r.map(parent, key, "cluster");
  const c = opts.cluster ?? defaultClusterOptions();
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "name": {
        const name = r.str(m, orig, lk);
        if (name.includes(" ")) throw r.err(m, orig, "cluster name cannot contain spaces or new lines");
        c.name = name;
        break;
      }
      case "listen": {
        const hp = readListen(r, m, orig);
        if (hp.host !== undefined) c.host = hp.host;
        c.port = hp.port;
        break;
      }
      case "port":
        c.port = r.int(m, orig, lk);
        break;
      case "host":
      case "net":
        c.host = r.str(m, orig, lk);
        break;
      case "authorization":
        readClusterAuthorization(r, m, orig, c);
        break;
      case "routes":
        c.routes = readUrlList(r, m, orig, "route");
        break;
      case "tls":
        c.tls = readTls(r, m, orig, "route");
        break;
      case "cluster_advertise":
      case "advertise":
        c.advertise = r.str(m, orig, lk);
        break;
      case "no_advertise":
        c.noAdvertise = r.bool(m, orig, lk);
        break;
      case "connect_retries":
        c.connectRetries = r.int(m, orig, lk);
        break;
      case "connect_backoff":
        c.connectBackoff = r.bool(m, orig, lk);
        break;
      case "permissions":
        c.permissions = readPermissionBlock(r, m, orig);
        break;
      case "pool_size":
        c.poolSize = r.int(m, orig, lk);
        break;
      case "accounts": {
        const k = kindOfEntry(m, orig);
        if (k !== "array") throw r.err(m, orig, `error parsing accounts: expected an array of account names, got ${k}`);
        const arr = m[orig] as ConfValue[];
        c.pinnedAccounts = arr.map((v, i) => {
          if (typeof v !== "string") throw r.err(arr, i, "error parsing accounts: account names must be strings");
          return v;
        });
        break;
      }
      case "compression":
        ({ mode: c.compression, rttThresholdsMs: c.compressionRttMs } = readCompression(r, m, orig, "s2_fast", c.compression));
        break;
      case "ping_interval":
        c.pingIntervalMs = r.duration(m, orig, lk);
        break;
      case "ping_max":
        c.maxPingsOut = r.int(m, orig, lk);
        break;
      case "write_deadline":
        c.writeDeadlineMs = r.duration(m, orig, lk);
        break;
      case "write_timeout":
        c.writeTimeout = readWriteTimeout(r, m, orig);
        break;
      case "nrg_follow":
        c.nrgFollow = r.bool(m, orig, lk);
        break;
      case "nrg_peer":
        c.nrgPeer = r.bool(m, orig, lk);
        break;
      case "nrg_peer_streams":
        c.nrgPeerStreams = r.bool(m, orig, lk);
        break;
      case "nrg_peer_campaign":
        c.nrgPeerCampaign = r.bool(m, orig, lk);
        break;
      case "nrg_peer_lead":
        c.nrgPeerLead = r.bool(m, orig, lk);
        break;
      case "nrg_peer_meta_lead":
        c.nrgPeerMetaLead = r.bool(m, orig, lk);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  opts.cluster = c;
}

/**
 * `-cluster <url>`: host and port of the route listener ("...:-1" for a random port), and
 * cluster credentials from the URL's user info (a user without password is refused).
 */
export function applyClusterListenFlag(c: ClusterOptions, listen: string): void {
  // An empty --cluster turns the route listener off, as nats-server.
  if (listen === "") {
    c.port = 0;
    return;
  }
  const goError = goUrlError(listen.endsWith(":-1") ? `${listen.slice(0, -3)}:0` : listen);
  if (goError !== undefined) throw new Error(goError);
  let s = listen;
  let random = false;
  if (s.endsWith(":-1")) {
    random = true;
    s = s.slice(0, -3) + ":0";
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`invalid cluster URL ${JSON.stringify(listen)}`);
  }
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  if (u.port === "" && !/:0$/.test(s)) throw new Error(`address ${u.host}: missing port in address`);
  c.host = host;
  c.port = random ? -1 : Number(u.port === "" ? 0 : u.port);
  if (u.username !== "") {
    if (u.password === "") throw new Error("expected cluster password to be set");
    c.username = decodeURIComponent(u.username);
    c.password = decodeURIComponent(u.password);
  } else {
    c.username = undefined;
    c.password = undefined;
  }
}

/**
 * What Go's url.Parse and net.SplitHostPort say of a --cluster value nats-server cannot use,
 * in their words: no scheme, a port that is not a number, no port.
 */
function goUrlError(s: string): string | undefined {
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(s);
  if (scheme === null) {
    if (s.split("/")[0].includes(":")) return `parse ${goQuote(s)}: first path segment in URL cannot contain colon`;
    return "missing port in address";
  }
  const rest = s.slice(scheme[0].length);
  if (!rest.startsWith("//")) return "missing port in address";
  const authority = rest.slice(2).split(/[/?#]/)[0];
  const hostport = authority.slice(authority.lastIndexOf("@") + 1);
  const colon = hostport.lastIndexOf(":");
  const port = colon >= 0 && !hostport.slice(colon).includes("]") ? hostport.slice(colon) : "";
  if (port !== "" && !/^:\d*$/.test(port)) return `parse ${goQuote(s)}: invalid port ${goQuote(port)} after host`;
  if (port === "") return hostport === "" ? "missing port in address" : `address ${hostport}: missing port in address`;
  return undefined;
}

/** Why the options cannot run `cluster { nrg_peer: true }`, or undefined. */
export function nrgPeerOptionsRefusal(o: ServerOptions): string | undefined {
  if (o.cluster?.nrgPeer !== true) return undefined;
  if (!o.jetstream.enabled) return "cluster.nrg_peer needs JetStream enabled (it stores the meta group's log under the store directory)";
  if (o.cluster.nrgFollow === true) return "cluster.nrg_peer and cluster.nrg_follow cannot both be set";
  return undefined;
}

/** Why the options cannot run `cluster { nrg_peer_streams: true }`, or undefined. */
export function nrgPeerStreamsOptionsRefusal(o: ServerOptions): string | undefined {
  if (o.cluster?.nrgPeerStreams !== true) return undefined;
  if (o.cluster.nrgPeer !== true) return "cluster.nrg_peer_streams needs cluster.nrg_peer (the streams placed on this server come from the meta group it is a member of)";
  return undefined;
}

/** Why the options cannot run `cluster { nrg_peer_campaign: true }`, or undefined. */
export function nrgPeerCampaignOptionsRefusal(o: ServerOptions): string | undefined {
  if (o.cluster?.nrgPeerCampaign !== true) return undefined;
  if (o.cluster.nrgPeerStreams !== true) return "cluster.nrg_peer_campaign needs cluster.nrg_peer_streams (it campaigns in the stream groups placed on this server)";
  return undefined;
}

/** Why the options cannot run `cluster { nrg_peer_lead: true }`, or undefined. */
export function nrgPeerLeadOptionsRefusal(o: ServerOptions): string | undefined {
  if (o.cluster?.nrgPeerLead !== true) return undefined;
  if (o.cluster.nrgPeerCampaign !== true) return "cluster.nrg_peer_lead needs cluster.nrg_peer_campaign (it leads the stream groups it is elected in)";
  return undefined;
}

/** Why the options cannot run `cluster { nrg_peer_meta_lead: true }`, or undefined. */
export function nrgPeerMetaLeadOptionsRefusal(o: ServerOptions): string | undefined {
  if (o.cluster?.nrgPeerMetaLead !== true) return undefined;
  if (o.cluster.nrgPeerLead !== true) return "cluster.nrg_peer_meta_lead needs cluster.nrg_peer_lead (a meta leader's streams are answered by their leaders, this server's included)";
  return undefined;
}

/** Cross-field checks of the cluster block (nats-server's validateCluster). */
export function validateCluster(o: ServerOptions): void {
  const c = o.cluster;
  if (c === undefined) return;
  const nrgPeer = nrgPeerOptionsRefusal(o) ?? nrgPeerStreamsOptionsRefusal(o) ?? nrgPeerCampaignOptionsRefusal(o) ?? nrgPeerLeadOptionsRefusal(o) ?? nrgPeerMetaLeadOptionsRefusal(o);
  if (nrgPeer !== undefined) throw new Error(nrgPeer);
  if (c.pinnedAccounts.length > 0) {
    if (c.poolSize < 0) throw new Error("pool_size cannot be negative if pinned accounts are specified");
    const seen = new Set<string>();
    for (const a of c.pinnedAccounts) {
      if (seen.has(a)) throw new Error(`found duplicate account name ${JSON.stringify(a)} in pinned accounts list ${JSON.stringify(c.pinnedAccounts)}`);
      seen.add(a);
    }
  }
  if (c.name !== undefined && c.name.includes(" ")) throw new Error("cluster name cannot contain spaces or new lines");
}
