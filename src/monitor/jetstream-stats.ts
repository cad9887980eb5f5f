// What monitoring (/jsz, /varz, /healthz, /metrics, STATSZ, $SYS.REQ.*.JSZ) reads of
// JetStream: the server's JetStreamService (src/jetstream), its limits resolved the way
// nats-server reports them, and usage summed over its accounts. Read-only.
import os from "node:os";
import fs from "node:fs";
import type { Server } from "../server/server.js";
import type { JetStreamService, JsAccount } from "../jetstream/jetstream.js";
import { jetStreamServiceOf } from "../server/service_lookup.js";
import { DEFAULT_SYNC_INTERVAL_MS, syncModeOf } from "../jetstream/store_factory.js";
import { JS_API_LEVEL } from "../jetstream/api_level.js";
import { serverLimitsJson } from "../jetstream/server_limits.js";

export interface JetStreamUsage {
  memory: number;
  storage: number;
  reservedMemory: number;
  reservedStorage: number;
  apiTotal: number;
  apiErrors: number;
  /** RAFT groups this server runs (the meta group and each replicated asset's); server totals only. */
  haAssets?: number;
}

export const NO_USAGE: Readonly<JetStreamUsage> = { memory: 0, storage: 0, reservedMemory: 0, reservedStorage: 0, apiTotal: 0, apiErrors: 0 };

export function jetStreamService(server: Server): JetStreamService | undefined {
  return jetStreamServiceOf(server);
}

/** The JetStream-enabled accounts. */
export function jetStreamAccounts(server: Server): JsAccount[] {
  const svc = jetStreamService(server);
  return svc === undefined ? [] : [...svc.accounts.values()];
}

export function jetStreamAccount(server: Server, name: string): JsAccount | undefined {
  return jetStreamService(server)?.accounts.get(name);
}

/** JetStream is configured and its service runs (serving any account or none yet). */
export function jetStreamRunning(server: Server): boolean {
  return jetStreamService(server)?.isRunning === true;
}

/** Bytes stored, bytes reserved by streams with a max_bytes limit, and API counts of one account. */
export function accountUsage(jsa: JsAccount): JetStreamUsage {
  const u = jsa.usage();
  return { memory: u.memory, storage: u.storage, reservedMemory: u.reservedMemory, reservedStorage: u.reservedStorage, apiTotal: jsa.apiTotal, apiErrors: jsa.apiErrors };
}

function serverUsage(accounts: JsAccount[]): JetStreamUsage {
  const total = { ...NO_USAGE };
  for (const jsa of accounts) {
    const u = accountUsage(jsa);
    total.memory += u.memory;
    total.storage += u.storage;
    total.reservedMemory += u.reservedMemory;
    total.reservedStorage += u.reservedStorage;
    total.apiTotal += u.apiTotal;
    total.apiErrors += u.apiErrors;
  }
  return total;
}

/**
 * nats-server's JetStreamStats JSON; `accounts` counts JetStream-enabled accounts (0 in
 * per-account detail). From 2.11 `api` starts with the API level: the server's in its own
 * totals, 0 in per-account detail and when JetStream is off (as nats-server fills it).
 */
export function usageJson(u: JetStreamUsage, accounts: number, serverTotals = false): Record<string, unknown> {
  const api = JS_API_LEVEL > 0 ? { level: serverTotals ? JS_API_LEVEL : 0, total: u.apiTotal, errors: u.apiErrors } : { total: u.apiTotal, errors: u.apiErrors };
  return {
    memory: u.memory,
    storage: u.storage,
    reserved_memory: u.reservedMemory,
    reserved_storage: u.reservedStorage,
    accounts,
    ha_assets: u.haAssets ?? 0,
    api,
  };
}

export interface JetStreamLimits {
  maxMemory: number;
  maxStorage: number;
  storeDir: string;
  domain?: string;
  /** jetstream sync_interval as configured (undefined: the default, fsync before every PubAck). */
  syncInterval: "always" | number | undefined;
  /** `unique_tag`: the tag prefix whose values a stream's replicas must not share. */
  uniqueTag?: string;
  /** `strict` (API requests with unknown fields refused), true unless configured false. */
  strict: boolean;
  /** The `limits {}` block as nats-server shows it. */
  serverLimits: Record<string, number>;
}

/**
 * The limits JetStream runs with, "dynamic" (-1) ones resolved as nats-server does: 75% of
 * memory and of the free space of the store's file system.
 */
export function jetStreamLimits(server: Server): JetStreamLimits {
  const svc = jetStreamService(server);
  // The service holds the reloaded limits and the resolved store dir once started.
  const o = svc?.options ?? server.options.jetstream;
  const storeDir = svc?.storeDir || o.storeDir;
  return {
    maxMemory: o.maxMemoryStore >= 0 ? o.maxMemoryStore : Math.floor(os.totalmem() * 0.75),
    maxStorage: o.maxFileStore >= 0 ? o.maxFileStore : freeSpace(storeDir || os.tmpdir()),
    storeDir,
    domain: o.domain || undefined,
    syncInterval: o.syncInterval,
    uniqueTag: o.uniqueTag || undefined,
    strict: o.strict !== false,
    serverLimits: serverLimitsJson(o),
  };
}

export function limitsJson(l: JetStreamLimits, withStoreDir: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { max_memory: l.maxMemory, max_storage: l.maxStorage };
  if (withStoreDir) out.store_dir = l.storeDir;
  if (l.domain) out.domain = l.domain;
  // As nats-server shows them (ns; sync_always with "always"), plus the effective mode: by
  // default tsnats fsyncs before every PubAck and the interval covers only everything else.
  out.sync_interval = (typeof l.syncInterval === "number" ? l.syncInterval : DEFAULT_SYNC_INTERVAL_MS) * 1_000_000;
  if (l.syncInterval === "always") out.sync_always = true;
  out.sync_mode = syncModeOf(l.syncInterval);
  if (l.uniqueTag) out.unique_tag = l.uniqueTag;
  if (l.strict) out.strict = true;
  return out;
}

/** Limits and server-wide usage. */
export function jetStreamTotals(server: Server): { limits: JetStreamLimits; usage: JetStreamUsage; accounts: JsAccount[] } {
  const accounts = jetStreamAccounts(server);
  const usage = serverUsage(accounts);
  usage.haAssets = jetStreamService(server)?.cluster?.haAssets() ?? 0;
  return { limits: jetStreamLimits(server), usage, accounts };
}

/** The `jetstream` block of /varz and STATSZ: configured limits and usage. */
export function jetStreamSummary(server: Server, withStoreDir: boolean): Record<string, unknown> {
  const { limits, usage, accounts } = jetStreamTotals(server);
  return { config: limitsJson(limits, withStoreDir), stats: usageJson(usage, accounts.length, true), limits: limits.serverLimits };
}

function freeSpace(dir: string): number {
  try {
    const st = fs.statfsSync(existingAncestor(dir));
    return Math.floor(st.bavail * st.bsize * 0.75);
  } catch {
    return 1024 ** 4; // 1 TiB when the file system can not be asked
  }
}

/** The store dir may not exist before JetStream starts: ask about its nearest existing parent. */
function existingAncestor(dir: string): string {
  let d = dir;
  while (!fs.existsSync(d)) {
    const parent = d.replace(/[\\/][^\\/]*$/, "");
    if (parent === d || parent === "") return "/";
    d = parent;
  }
  return d;
}
