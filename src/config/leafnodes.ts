// The `leafnodes {}` block (alias `leaf`), read into LeafNodeOptions with nats-server's keys.
import type { ConfMap, ConfValue } from "./conf_parser.js";
import { defaultLeafNodeOptions, type LeafNodeOptions, type LeafRemoteOptions, type ServerOptions } from "./options.js";
import { readListen, readTls } from "./load.js";
import { kindOfEntry, lowerKeys, type Reader } from "./reader.js";
import { readCompression, readWriteTimeout } from "./cluster.js";

function strings(r: Reader, m: ConfMap, key: string): string[] {
  const k = kindOfEntry(m, key);
  if (k === "string") return [m[key] as string];
  if (k !== "array") throw r.err(m, key, `Expected ${key} to be a string or an array of strings`);
  const arr = m[key] as ConfValue[];
  return arr.map((v, i) => {
    if (typeof v !== "string") throw r.err(arr, i, `Expected ${key} entries to be strings`);
    return v;
  });
}

function readLeafAuthorization(r: Reader, parent: ConfMap, key: string, l: LeafNodeOptions): void {
  const m = r.map(parent, key, "authorization");
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "user":
      case "username":
        l.username = r.str(m, orig, lk);
        break;
      case "pass":
      case "password":
        l.password = r.str(m, orig, lk);
        break;
      case "account":
        l.account = r.str(m, orig, lk);
        break;
      case "timeout":
        l.authTimeoutMs = r.seconds(m, orig, "authorization timeout");
        break;
      case "users": {
        const k = kindOfEntry(m, orig);
        if (k !== "array") throw r.err(m, orig, `Expected users field to be an array, got ${k}`);
        const arr = m[orig] as ConfValue[];
        l.users = arr.map((e, i) => {
          if (kindOfEntry(arr, i) !== "map") throw r.err(arr, i, "Expected user entry to be a map/struct");
          const um = e as ConfMap;
          const u: { user: string; password: string; account?: string } = { user: "", password: "" };
          for (const [uo, ul] of lowerKeys(um)) {
            if (ul === "user" || ul === "username") u.user = r.str(um, uo, ul);
            else if (ul === "pass" || ul === "password") u.password = r.str(um, uo, ul);
            else if (ul === "account") u.account = r.str(um, uo, ul);
            else r.unknown(um, uo);
          }
          return u;
        });
        break;
      }
      default:
        r.unknown(m, orig);
    }
  }
  if (l.username !== undefined && l.users.length > 0) throw r.err(parent, key, "can not have a single user/pass and a users array");
}

/** A leafnode remote URL that is dialed over WebSocket (ws:// or wss://). */
export function isWebSocketUrl(u: string): boolean {
  return /^wss?:\/\//i.test(u);
}

function readRemote(r: Reader, m: ConfMap): LeafRemoteOptions {
  const remote: LeafRemoteOptions = { urls: [], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "s2_auto" };
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "url":
      case "urls":
        remote.urls = strings(r, m, orig).map((u) => {
          if (!URL.canParse(u)) throw r.err(m, orig, `error parsing leafnode remote url [${JSON.stringify(u)}]`);
          return u;
        });
        break;
      case "account":
      case "local":
        remote.account = r.str(m, orig, lk);
        break;
      case "creds":
      case "credentials":
        remote.credentials = r.str(m, orig, lk);
        break;
      case "hub":
        remote.hub = r.bool(m, orig, lk);
        break;
      case "deny_imports":
      case "deny_import":
        remote.denyImports = strings(r, m, orig);
        break;
      case "deny_exports":
      case "deny_export":
        remote.denyExports = strings(r, m, orig);
        break;
      case "isolate_leafnode_interest":
      case "isolate":
        remote.isolate = r.bool(m, orig, lk);
        break;
      case "compression":
        ({ mode: remote.compression, rttThresholdsMs: remote.compressionRttMs } = readCompression(r, m, orig, "s2_auto", remote.compression));
        break;
      case "tls":
        remote.tls = readTls(r, m, orig, "leafnode");
        break;
      case "ws_compress":
      case "ws_compression":
      case "websocket_compress":
      case "websocket_compression":
        remote.wsCompression = r.bool(m, orig, lk);
        break;
      case "ws_no_masking":
      case "websocket_no_masking":
        remote.wsNoMasking = r.bool(m, orig, lk);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  if (remote.urls.length === 0) throw r.err(m, "url", "leafnode remote needs at least one url");
  // nats-server's check (its message quotes the URLs, credentials redacted, as Go's %q does).
  const ws = remote.urls.map(isWebSocketUrl);
  if (ws.some((x) => x !== ws[0])) {
    const shown = remote.urls.map((u) => {
      const p = new URL(u);
      if (p.password !== "") p.password = "xxxxx";
      return JSON.stringify(p.toString().replace(/\/$/, ""));
    });
    throw new Error(`remote leaf node configuration cannot have a mix of websocket and non-websocket urls: [${shown.join(" ")}]`);
  }
  return remote;
}

export function readLeafNodes(r: Reader, parent: ConfMap, key: string, opts: ServerOptions): void {
  const m = r.map(parent, key, "leafnodes");
  const l = opts.leafnodes ?? defaultLeafNodeOptions();
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "listen": {
        const hp = readListen(r, m, orig);
        if (hp.host !== undefined) l.host = hp.host;
        l.port = hp.port;
        break;
      }
      case "port":
        l.port = r.int(m, orig, lk);
        break;
      case "host":
      case "net":
        l.host = r.str(m, orig, lk);
        break;
      case "authorization":
        readLeafAuthorization(r, m, orig, l);
        break;
      case "remotes": {
        const k = kindOfEntry(m, orig);
        if (k !== "array") throw r.err(m, orig, `Expected remotes field to be an array, got ${k}`);
        const arr = m[orig] as ConfValue[];
        l.remotes = arr.map((e, i) => {
          if (kindOfEntry(arr, i) !== "map") throw r.err(arr, i, "Expected remote leafnode entry to be a map/struct");
          return readRemote(r, e as ConfMap);
        });
        break;
      }
      case "reconnect":
      case "reconnect_delay":
      case "reconnect_interval":
        l.reconnectMs = r.seconds(m, orig, lk);
        break;
      case "leafnode_advertise":
      case "advertise":
        l.advertise = r.str(m, orig, lk);
        break;
      case "no_advertise":
        l.noAdvertise = r.bool(m, orig, lk);
        break;
      case "compression":
        ({ mode: l.compression, rttThresholdsMs: l.compressionRttMs } = readCompression(r, m, orig, "s2_auto", l.compression));
        break;
      case "isolate_leafnode_interest":
      case "isolate":
        l.isolateLeafnodeInterest = r.bool(m, orig, lk);
        break;
      case "tls":
        l.tls = readTls(r, m, orig, "leafnode");
        break;
      case "write_deadline":
        l.writeDeadlineMs = r.duration(m, orig, lk);
        break;
      case "write_timeout":
        l.writeTimeout = readWriteTimeout(r, m, orig);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  opts.leafnodes = l;
}

/** Cross-field checks: bound accounts must exist. */
export function validateLeafNodes(o: ServerOptions): void {
  const l = o.leafnodes;
  if (l === undefined) return;
  const known = new Set(["$G", ...o.accounts.map((a) => a.name)]);
  const check = (acc: string | undefined, what: string): void => {
    if (acc !== undefined && !known.has(acc)) throw new Error(`${what} account ${JSON.stringify(acc)} not found`);
  };
  check(l.account, "leafnode authorization");
  for (const u of l.users) check(u.account, `leafnode user ${JSON.stringify(u.user)}`);
  for (const r of l.remotes) check(r.account, "leafnode remote");
}
