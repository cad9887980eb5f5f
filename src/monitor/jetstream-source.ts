// The hook through which monitoring (/jsz, /healthz, /metrics, STATSZ, $SYS.REQ.*.JSZ) reads
// JetStream. The JetStream layer registers one source per server when it starts:
//
//   import { setJetStreamMonitorSource } from "../monitor/jetstream-source.js";
//   setJetStreamMonitorSource(server, { config: ..., stats: ..., accounts: ... });
//
// Without a registered source, tsnats' own JetStream service (in server.services) is read
// through jetstream-adapter.ts; without either, monitoring reports what the configuration
// alone says: JetStream disabled, or enabled with its limits and store dir and zero usage.
import os from "node:os";
import fs from "node:fs";
import type { Server } from "../server/server.js";
import { jetStreamSourceFromServices } from "./jetstream-adapter.js";

export interface JetStreamApiStats {
  total: number;
  errors: number;
}

export interface JetStreamUsage {
  memory: number;
  storage: number;
  reservedMemory: number;
  reservedStorage: number;
  api: JetStreamApiStats;
}

export interface JetStreamServerConfig {
  maxMemory: number;
  maxStorage: number;
  storeDir: string;
  domain?: string;
}

/** One stream as the JetStream API describes it (STREAM.INFO's JSON). */
export interface JetStreamStreamSource {
  readonly name: string;
  /** Created time, RFC 3339. */
  readonly created: string;
  /** The stream configuration JSON (as in STREAM.INFO). */
  config(): Record<string, unknown>;
  /** The stream state JSON: messages, bytes, first_seq, first_ts, last_seq, last_ts, num_subjects, consumer_count... */
  state(): Record<string, unknown>;
  consumers(): JetStreamConsumerSource[];
}

/** One consumer; `info()` is CONSUMER.INFO's JSON (stream_name, name, created, config, delivered, ...). */
export interface JetStreamConsumerSource {
  readonly name: string;
  info(): Record<string, unknown>;
}

export interface JetStreamAccountSource {
  readonly name: string;
  usage(): JetStreamUsage;
  streams(): JetStreamStreamSource[];
}

export interface JetStreamMonitorSource {
  config(): JetStreamServerConfig;
  /** Server-wide usage; `accounts` is the number of JetStream-enabled accounts. */
  usage(): JetStreamUsage & { accounts: number; haAssets: number };
  accounts(): JetStreamAccountSource[];
  /** A reason JetStream is unhealthy (store unusable...), or undefined when healthy. */
  healthError?(): string | undefined;
}

const sources = new WeakMap<Server, JetStreamMonitorSource>();

export function setJetStreamMonitorSource(server: Server, source: JetStreamMonitorSource | undefined): void {
  if (source === undefined) sources.delete(server);
  else sources.set(server, source);
}

export function jetStreamMonitorSource(server: Server): JetStreamMonitorSource | undefined {
  if (!server.options.jetstream.enabled) return undefined;
  return sources.get(server) ?? jetStreamSourceFromServices(server);
}

/** JetStream is configured on this server. */
export function jetStreamConfigured(server: Server): boolean {
  return server.options.jetstream.enabled;
}

/** JetStream is up: its layer registered a source or attached per-account state. */
export function jetStreamRunning(server: Server): boolean {
  if (!server.options.jetstream.enabled) return false;
  if (sources.has(server)) return true;
  // The JetStream layer attaches its state to every account it serves.
  for (const acc of server.accounts.values()) if (acc.jetstream !== undefined && acc.jetstream !== null) return true;
  return false;
}

/**
 * The limits JetStream runs with. A registered source knows the resolved values; otherwise
 * resolve "dynamic" (-1) limits the way nats-server does: 75% of memory and of the free
 * space of the store's file system.
 */
export function jetStreamConfig(server: Server): JetStreamServerConfig {
  const src = jetStreamMonitorSource(server);
  if (src !== undefined) return src.config();
  const js = server.options.jetstream;
  const maxMemory = js.maxMemoryStore >= 0 ? js.maxMemoryStore : Math.floor(os.totalmem() * 0.75);
  let maxStorage = js.maxFileStore;
  if (maxStorage < 0) {
    maxStorage = 1024 ** 4; // 1 TiB when the file system can not be asked
    try {
      const dir = existingAncestor(js.storeDir || os.tmpdir());
      const st = fs.statfsSync(dir);
      maxStorage = Math.floor(st.bavail * st.bsize * 0.75);
    } catch {
      // keep the default
    }
  }
  const out: JetStreamServerConfig = { maxMemory, maxStorage, storeDir: js.storeDir };
  if (js.domain) out.domain = js.domain;
  return out;
}

function existingAncestor(dir: string): string {
  let d = dir;
  while (!fs.existsSync(d)) {
    const parent = d.replace(/[\\/][^\\/]*$/, "");
    if (parent === d || parent === "") return "/";
    d = parent;
  }
  return d;
}

const ZERO_USAGE = { memory: 0, storage: 0, reservedMemory: 0, reservedStorage: 0, accounts: 0, haAssets: 0, api: { total: 0, errors: 0 } };

export function jetStreamUsage(server: Server): JetStreamUsage & { accounts: number; haAssets: number } {
  const src = jetStreamMonitorSource(server);
  if (src !== undefined) return src.usage();
  let accounts = 0;
  for (const acc of server.accounts.values()) if (acc.jetstream !== undefined && acc.jetstream !== null) accounts++;
  return { ...ZERO_USAGE, api: { total: 0, errors: 0 }, accounts };
}

export function jetStreamAccounts(server: Server): JetStreamAccountSource[] {
  return jetStreamMonitorSource(server)?.accounts() ?? [];
}
