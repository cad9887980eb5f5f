// The JetStream service: started by the server when `jetstream` is enabled, it gives each
// JetStream-enabled account a JsAccount (attached to `account.jetstream`) that owns the
// account's streams and consumers, enforces its limits, recovers them from the store
// directory at start and answers the $JS.API (see api.ts).
import path from "node:path";
import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import type { Account } from "../server/account.js";
import type { Server, ServerService } from "../server/server.js";
import type { Log } from "../server/log.js";
import type { JetStreamOptions, ServerOptions } from "../config/options.js";
import { resolveStoreDir } from "../config/flags.js";
import type { Logger } from "../storage/store.js";
import type { AdvisoryContext } from "./advisories.js";
import * as adv from "./advisories.js";
import { Api } from "./api.js";
import { Consumer } from "./consumer.js";
import { jsError } from "./errors.js";
import { Stream } from "./stream.js";
import { checkStreamUpdate, consumersViolatingLimits, subjectsOverlap, type StreamConfig } from "./stream_config.js";
import { checkSourcingAgainst } from "./source_config.js";
import type { ConsumerConfig } from "./consumer_config.js";
import { listStoredStreams, streamDir } from "./store_factory.js";
import { withStoredLevel } from "./api_level.js";
import { nowNs, parseRfc3339 } from "../server/time.js";

export interface JsLimits {
  max_memory: number;
  max_storage: number;
  max_streams: number;
  max_consumers: number;
  max_ack_pending: number;
  memory_max_stream_bytes: number;
  storage_max_stream_bytes: number;
  max_bytes_required: boolean;
}

function unlimited(): JsLimits {
  return {
    max_memory: -1,
    max_storage: -1,
    max_streams: -1,
    max_consumers: -1,
    max_ack_pending: -1,
    memory_max_stream_bytes: -1,
    storage_max_stream_bytes: -1,
    max_bytes_required: false,
  };
}

/** Per-account limits from the `jetstream` block of an account in the config. */
function limitsFromConfig(js: boolean | Record<string, unknown> | undefined): JsLimits {
  const l = unlimited();
  if (js === undefined || typeof js === "boolean") return l;
  const num = (...keys: string[]): number | undefined => {
    for (const k of keys) if (typeof js[k] === "number") return js[k] as number;
    return undefined;
  };
  l.max_memory = num("max_memory", "max_mem", "max_memory_store") ?? -1;
  l.max_storage = num("max_storage", "max_file", "max_file_store", "max_store") ?? -1;
  l.max_streams = num("max_streams") ?? -1;
  l.max_consumers = num("max_consumers") ?? -1;
  l.max_ack_pending = num("max_ack_pending") ?? -1;
  l.memory_max_stream_bytes = num("memory_max_stream_bytes", "max_bytes") ?? -1;
  l.storage_max_stream_bytes = num("storage_max_stream_bytes", "max_bytes") ?? -1;
  l.max_bytes_required = js.max_bytes_required === true;
  return l;
}

/** The JetStream state of one account. */
export class JsAccount {
  readonly streams = new Map<string, Stream>();
  apiTotal = 0;
  apiErrors = 0;
  readonly advisoryContext: AdvisoryContext;
  readonly dir: string;
  private api: Api | undefined;

  constructor(
    readonly service: JetStreamService,
    readonly account: Account,
    readonly limits: JsLimits,
  ) {
    this.advisoryContext = { account, domain: service.options.domain, serverName: service.server.name };
    this.dir = path.join(service.storeDir, account.name, "streams");
  }

  start(): void {
    this.recover();
    this.api = new Api(this);
    this.api.install();
  }

  stop(): void {
    this.api?.uninstall();
    for (const s of this.streams.values()) s.stop();
    this.streams.clear();
  }

  // ---- recovery ----

  private recover(): void {
    for (const name of listStoredStreams(this.service.storeDir, this.account.name)) {
      const dir = path.join(this.dir, name);
      if (!fs.existsSync(path.join(dir, "meta.json"))) continue;
      try {
        const { config, created } = Stream.readMeta(dir);
        const stream = new Stream(this, config, created, dir);
        this.streams.set(config.name, stream);
        this.recoverConsumers(stream);
        stream.start();
        for (const c of stream.consumers.values()) c.start();
        this.service.log.info(`  Restored stream '${this.account.name} > ${config.name}' (${stream.state().msgs} msgs)`);
      } catch (err) {
        this.service.log.error(`JetStream could not restore stream in ${dir}: ${(err as Error).message}`);
      }
    }
  }

  private recoverConsumers(stream: Stream): void {
    for (const name of stream.store.listConsumers()) {
      try {
        const cs = stream.store.openConsumer(name);
        const stored = cs.config() as { config: ConsumerConfig; created: string; name?: string };
        const created = parseRfc3339(stored.created) ?? nowNs();
        const c = new Consumer(stream, stored.name ?? name, stored.config, created, cs, cs.state());
        stream.consumers.set(c.name, c);
      } catch (err) {
        this.service.log.error(`JetStream could not restore consumer '${stream.name} > ${name}': ${(err as Error).message}`);
      }
    }
  }

  // ---- usage and limits ----

  /** Bytes stored per storage kind, bytes reserved by streams with max_bytes, counts. */
  usage(): { memory: number; storage: number; reservedMemory: number; reservedStorage: number; streams: number; consumers: number } {
    let memory = 0;
    let storage = 0;
    let reservedMemory = 0;
    let reservedStorage = 0;
    let consumers = 0;
    for (const s of this.streams.values()) {
      const b = s.state().bytes;
      const reserved = s.cfg.max_bytes > 0 ? s.cfg.max_bytes : 0;
      if (s.cfg.storage === "memory") {
        memory += b;
        reservedMemory += reserved;
      } else {
        storage += b;
        reservedStorage += reserved;
      }
      consumers += s.publicConsumerCount();
    }
    return { memory, storage, reservedMemory, reservedStorage, streams: this.streams.size, consumers };
  }

  private checkStreamLimits(cfg: StreamConfig, existing: Stream | undefined): void {
    const l = this.limits;
    if (existing === undefined && l.max_streams > 0 && this.streams.size >= l.max_streams) throw jsError("JSMaximumStreamsLimitErr");
    if (l.max_bytes_required && cfg.max_bytes <= 0) throw jsError("JSStreamMaxBytesRequired");
    const perStream = cfg.storage === "memory" ? l.memory_max_stream_bytes : l.storage_max_stream_bytes;
    if (perStream > 0 && cfg.max_bytes > perStream) throw jsError("JSStreamMaxStreamBytesExceeded");
    // Reserved bytes (max_bytes) of all streams must fit the account and server limits.
    const accLimit = cfg.storage === "memory" ? l.max_memory : l.max_storage;
    const srvLimit = cfg.storage === "memory" ? this.service.options.maxMemoryStore : this.service.options.maxFileStore;
    if (cfg.max_bytes > 0) {
      let reserved = cfg.max_bytes;
      for (const s of this.streams.values()) {
        if (s !== existing && s.cfg.storage === cfg.storage && s.cfg.max_bytes > 0) reserved += s.cfg.max_bytes;
      }
      if (accLimit > 0 && reserved > accLimit) throw jsError("JSInsufficientResourcesErr");
      if (srvLimit > 0 && reserved > srvLimit) {
        throw cfg.storage === "memory" ? jsError("JSMemoryResourcesExceededErr") : jsError("JSStorageResourcesExceededErr");
      }
    }
  }

  /** Any byte limit set for this account or the server? (only then the publish path checks usage) */
  get storageLimited(): boolean {
    const o = this.service.options;
    return this.limits.max_memory > 0 || this.limits.max_storage > 0 || o.maxMemoryStore > 0 || o.maxFileStore > 0;
  }

  /** Would a message of `size` bytes push the account over its storage limits? */
  exceedsStorage(storage: "memory" | "file", size: number): boolean {
    const acc = storage === "memory" ? this.limits.max_memory : this.limits.max_storage;
    const srv = storage === "memory" ? this.service.options.maxMemoryStore : this.service.options.maxFileStore;
    if (acc <= 0 && srv <= 0) return false;
    const u = this.usage();
    const used = (storage === "memory" ? u.memory : u.storage) + size;
    return (acc > 0 && used > acc) || (srv > 0 && used > srv);
  }

  // ---- streams ----

  createStream(cfg: StreamConfig): { stream: Stream; created: boolean } {
    const existing = this.streams.get(cfg.name);
    if (existing !== undefined) {
      const resent = { ...cfg, metadata: withStoredLevel(cfg.metadata, existing.cfg.metadata) };
      if (resent.metadata === undefined) delete resent.metadata;
      if (sameJson(existing.cfg, resent)) return { stream: existing, created: false };
      throw jsError("JSStreamNameExistErr");
    }
    if (cfg.sealed) throw jsError("JSStreamInvalidConfigF", { err: "stream configuration for create can not be sealed" });
    this.checkStreamLimits(cfg, undefined);
    for (const s of this.streams.values()) {
      if (subjectsOverlap(s.cfg.subjects ?? [], cfg.subjects ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    if (cfg.mirror !== undefined || cfg.sources !== undefined) checkSourcingAgainst(cfg, (n) => this.streams.get(n)?.cfg);
    const dir = streamDir(this.service.storeDir, this.account.name, cfg.name);
    if (cfg.storage === "file" && fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
    let stream: Stream;
    try {
      stream = new Stream(this, cfg, nowNs(), dir);
    } catch (err) {
      throw jsError("JSStreamCreateErrF", { err: (err as Error).message });
    }
    this.streams.set(cfg.name, stream);
    stream.start();
    adv.streamAction(this.advisoryContext, "create", cfg.name);
    // Mirrors and sources waiting for a stream of this name need not wait for their retry.
    for (const s of this.streams.values()) s.sourcing?.originCreated(cfg.name);
    return { stream, created: true };
  }

  updateStream(cfg: StreamConfig): Stream {
    const stream = this.streams.get(cfg.name);
    if (stream === undefined) throw jsError("JSStreamNotFoundErr");
    checkStreamUpdate(stream.cfg, cfg);
    const violating = consumersViolatingLimits(stream.cfg, cfg, stream.consumers.values());
    if (violating.length > 0) throw jsError("JSStreamUpdateErrF", { err: `change to limits violates consumers: ${violating.join(", ")}` });
    if (cfg.sealed) {
      // A sealed stream keeps what it has, for good: nothing ages out, nothing may go.
      cfg.max_age = 0;
      cfg.discard = "new";
      cfg.deny_delete = true;
      cfg.deny_purge = true;
      cfg.allow_rollup_hdrs = false;
    }
    this.checkStreamLimits(cfg, stream);
    for (const s of this.streams.values()) {
      if (s !== stream && subjectsOverlap(s.cfg.subjects ?? [], cfg.subjects ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    if (cfg.mirror !== undefined || cfg.sources !== undefined) checkSourcingAgainst(cfg, (n) => (n === cfg.name ? undefined : this.streams.get(n)?.cfg));
    stream.applyStreamOp({ op: "update", config: cfg });
    adv.streamAction(this.advisoryContext, "modify", cfg.name);
    return stream;
  }

  deleteStream(name: string): void {
    const stream = this.streams.get(name);
    if (stream === undefined) throw jsError("JSStreamNotFoundErr");
    this.streams.delete(name);
    for (const c of stream.consumers.values()) adv.consumerAction(this.advisoryContext, "delete", name, c.name);
    stream.delete();
    adv.streamAction(this.advisoryContext, "delete", name);
    for (const s of this.streams.values()) s.sourcing?.originDeleted(name);
  }

  // ---- consumers ----

  consumerCount(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.publicConsumerCount();
    return n;
  }

  addConsumer(stream: Stream, name: string, cfg: ConsumerConfig): Consumer {
    // Direct consumers (mirrors and sources reading this stream) count against no limit.
    const limited = cfg.direct !== true;
    if (limited && stream.cfg.max_consumers > 0 && stream.publicConsumerCount() >= stream.cfg.max_consumers) throw jsError("JSMaximumConsumersLimitErr");
    if (limited && this.limits.max_consumers > 0 && this.consumerCount() >= this.limits.max_consumers) throw jsError("JSMaximumConsumersLimitErr");
    if (this.limits.max_ack_pending > 0 && (cfg.max_ack_pending ?? 0) > this.limits.max_ack_pending) {
      throw jsError("JSConsumerMaxPendingAckExcessErrF", { limit: this.limits.max_ack_pending });
    }
    const created = nowNs();
    // Ephemeral consumers are stored too: nats-server recovers them after a restart (until
    // their inactive threshold removes them), so an ordered consumer / KV watcher simply
    // resumes on the same consumer once its client has reconnected.
    // Direct consumers live in memory only: their copy recreates them when needed.
    let cstore;
    if (limited) {
      try {
        cstore = stream.store.createConsumer(name, { config: cfg, created: "", name });
      } catch (err) {
        throw jsError("JSConsumerStoreFailedErrF", { err: (err as Error).message });
      }
    }
    const c = new Consumer(stream, name, cfg, created, cstore, undefined);
    cstore?.updateConfig(c.storedConfig());
    stream.consumers.set(name, c);
    c.start();
    adv.consumerAction(this.advisoryContext, "create", stream.name, name);
    return c;
  }

  deleteConsumer(stream: Stream, name: string, _why: "api" | "inactive"): boolean {
    const c = stream.consumers.get(name);
    if (c === undefined) return false;
    stream.consumers.delete(name);
    c.stop(true);
    adv.consumerAction(this.advisoryContext, "delete", stream.name, name);
    stream.sweepRetention();
    return true;
  }
}

/** Same JSON value, whatever the key order (configs read back from disk keep theirs). */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/** The server-wide JetStream service. */
export class JetStreamService implements ServerService {
  readonly name = "jetstream";
  readonly accounts = new Map<string, JsAccount>();
  options: JetStreamOptions;
  storeDir = "";
  readonly log: Log;
  readonly storeLogger: Logger;
  private running = false;

  constructor(readonly server: Server) {
    this.options = server.options.jetstream;
    this.log = server.log;
    this.storeLogger = { info: (m) => this.log.info(m), warn: (m) => this.log.warn(m), error: (m) => this.log.error(m) };
  }

  async start(): Promise<void> {
    this.storeDir = resolveStoreDir(this.server.options);
    fs.mkdirSync(this.storeDir, { recursive: true });
    this.log.info("Starting JetStream");
    this.log.info(`  Max Memory:      ${fmtLimit(this.options.maxMemoryStore)}`);
    this.log.info(`  Max Storage:     ${fmtLimit(this.options.maxFileStore)}`);
    this.log.info(`  Store Directory: "${this.storeDir}"`);
    if (this.options.domain) this.log.info(`  Domain:          ${this.options.domain}`);
    for (const [acc, limits] of this.enabledAccounts()) {
      const jsa = new JsAccount(this, acc, limits);
      acc.jetstream = jsa;
      this.accounts.set(acc.name, jsa);
      jsa.start();
    }
    // Accounts without JetStream still get an answer: "not enabled for account".
    // An account that imports another account's JetStream API is answered by that account.
    for (const acc of this.server.accounts.values()) {
      if (this.accounts.has(acc.name) || acc.isSystem) continue;
      if (acc.serviceImports.some((si) => si.from === "$JS.API.>")) continue;
      Api.installNotEnabled(acc, this);
    }
    this.running = true;
  }

  /** Which accounts get JetStream: those the config enables, or $G and all others when none say. */
  private enabledAccounts(): Array<[Account, JsLimits]> {
    const out: Array<[Account, JsLimits]> = [];
    const configured = this.server.options.accounts;
    const explicit = configured.filter((a) => a.jetstream !== undefined && a.jetstream !== false);
    const sys = this.server.systemAccount;
    if (explicit.length > 0) {
      for (const a of explicit) {
        const acc = this.server.accounts.get(a.name);
        if (acc !== undefined && acc !== sys) out.push([acc, limitsFromConfig(a.jetstream)]);
      }
      return out;
    }
    for (const acc of this.server.accounts.values()) {
      if (acc === sys) continue;
      const conf = configured.find((a) => a.name === acc.name);
      if (conf?.jetstream === false) continue;
      out.push([acc, limitsFromConfig(conf?.jetstream)]);
    }
    return out;
  }

  async shutdown(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const jsa of this.accounts.values()) {
      jsa.stop();
      jsa.account.jetstream = undefined;
    }
    this.accounts.clear();
  }

  reload(options: ServerOptions): void {
    // Limits may change at run time; the store directory may not (the server warns).
    this.options = { ...options.jetstream, storeDir: this.options.storeDir };
  }
}

function fmtLimit(n: number): string {
  if (n < 0) return "unlimited (dynamic)";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.round(v * 100) / 100} ${units[i]}`;
}
