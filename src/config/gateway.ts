// The `gateway {}` block, read into GatewayOptions with nats-server's keys, aliases and error
// texts, and its cross-field checks (validateGatewayOptions and the gateway part of
// validateCluster/validateLeafNodes in nats-server).
import type { ConfMap, ConfValue } from "./conf_parser.js";
import { defaultGatewayOptions, type GatewayOptions, type RemoteGatewayOptions, type ServerOptions } from "./options.js";
import { readListen, readTls } from "./load.js";
import { kindOfEntry, lowerKeys, type Reader } from "./reader.js";
import { readUrlList, readWriteTimeout } from "./cluster.js";

function readGatewayAuthorization(r: Reader, parent: ConfMap, key: string, g: GatewayOptions): void {
  const m = r.map(parent, key, "authorization");
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "user":
      case "username":
        g.username = r.str(m, orig, lk);
        break;
      case "pass":
      case "password":
        g.password = r.str(m, orig, lk);
        break;
      case "timeout":
        g.authTimeoutMs = r.seconds(m, orig, "authorization timeout");
        break;
      case "users":
        throw r.err(parent, key, "Gateway authorization does not allow multiple users");
      case "token":
        throw r.err(parent, key, "Gateway authorization does not support tokens");
      case "auth_callout":
        throw r.err(parent, key, "Gateway authorization does not support callouts");
      default:
        r.unknown(m, orig);
    }
  }
}

function readRemoteGateways(r: Reader, m: ConfMap, key: string): RemoteGatewayOptions[] {
  const k = kindOfEntry(m, key);
  if (k !== "array") throw r.err(m, key, `Expected gateways field to be an array, got ${k}`);
  const arr = m[key] as ConfValue[];
  return arr.map((e, i) => {
    if (kindOfEntry(arr, i) !== "map") throw r.err(arr, i, `Expected gateway entry to be a map/struct, got ${String(e)}`);
    const gm = e as ConfMap;
    const g: RemoteGatewayOptions = { name: "", urls: [] };
    for (const [orig, lk] of lowerKeys(gm)) {
      switch (lk) {
        case "name":
          g.name = r.str(gm, orig, lk);
          break;
        case "url": {
          const u = r.str(gm, orig, lk).trim();
          if (!URL.canParse(u)) throw r.err(gm, orig, `error parsing gateway url [${JSON.stringify(u)}]`);
          g.urls.push(u);
          break;
        }
        case "urls":
          g.urls = readUrlList(r, gm, orig, "gateway");
          break;
        case "tls":
          g.tls = readTls(r, gm, orig, "gateway");
          break;
        default:
          r.unknown(gm, orig);
      }
    }
    return g;
  });
}

export function readGateway(r: Reader, parent: ConfMap, key: string, opts: ServerOptions): void {
  const m = r.map(parent, key, "gateway");
  const g = opts.gateway ?? defaultGatewayOptions();
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "name": {
        const name = r.str(m, orig, lk);
        if (name.includes(" ")) throw r.err(m, orig, "gateway name cannot contain spaces");
        g.name = name;
        break;
      }
      case "listen": {
        const hp = readListen(r, m, orig);
        if (hp.host !== undefined) g.host = hp.host;
        g.port = hp.port;
        break;
      }
      case "port":
        g.port = r.int(m, orig, lk);
        break;
      case "host":
      case "net":
        g.host = r.str(m, orig, lk);
        break;
      case "authorization":
        readGatewayAuthorization(r, m, orig, g);
        break;
      case "tls":
        g.tls = readTls(r, m, orig, "gateway");
        break;
      case "advertise":
        g.advertise = r.str(m, orig, lk);
        break;
      case "connect_retries":
        g.connectRetries = r.int(m, orig, lk);
        break;
      case "connect_backoff":
        g.connectBackoff = r.bool(m, orig, lk);
        break;
      case "gateways":
        g.gateways = readRemoteGateways(r, m, orig);
        break;
      case "reject_unknown":
      case "reject_unknown_cluster":
        g.rejectUnknown = r.bool(m, orig, lk);
        break;
      case "write_deadline":
        g.writeDeadlineMs = r.duration(m, orig, lk);
        break;
      case "write_timeout":
        g.writeTimeout = readWriteTimeout(r, m, orig);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  opts.gateway = g;
}

/** Whether the options configure a gateway at all (nats-server: a name or a port). */
export function gatewayConfigured(o: ServerOptions): boolean {
  const g = o.gateway;
  return g !== undefined && (g.name !== "" || g.port !== 0);
}

/**
 * nats-server's validateGatewayOptions, the gateway part of its cluster and leafnode checks,
 * and the cluster name a gateway gives its cluster. Throws with nats-server's wording.
 */
export function validateGateway(o: ServerOptions): void {
  const g = o.gateway;
  if (g === undefined || !gatewayConfigured(o)) return;
  if (g.name === "") throw new Error("gateway has no name");
  if (g.name.includes(" ")) throw new Error("gateway name cannot contain spaces");
  if (g.port === 0) throw new Error(`gateway ${JSON.stringify(g.name)} has no port specified (select -1 for random port)`);
  g.gateways.forEach((rg, i) => {
    if (rg.name === "") throw new Error(`gateway in the list ${i} has no name`);
    if (rg.urls.length === 0) throw new Error(`gateway ${JSON.stringify(rg.name)} has no URL`);
  });
  const c = o.cluster;
  if (c !== undefined) {
    // The gateway names the cluster: a cluster block without a name takes it (so it is not dynamic).
    if (c.name !== undefined && c.name !== "" && c.name !== g.name) throw new Error("cluster name conflicts between cluster and gateway definitions");
    c.name = g.name;
  }
  const leaf = o.leafnodes;
  if (leaf !== undefined && (leaf.port !== 0 || leaf.remotes.length > 0) && o.noSystemAccount) {
    throw new Error("leaf nodes and gateways (both being defined) require a system account to also be configured");
  }
}
