// The JetStream service: started by the server when `jetstream` is enabled, it gives each
// JetStream-enabled account a JsAccount (attached to `account.jetstream`) that owns the
// account's streams and consumers, enforces its limits, recovers them from the store
// directory at start and answers the $JS.API (see api.ts).
import path from "node:path";
import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import type { Server, ServerService } from "../server/server.js";
import type { Log } from "../server/log.js";
import { unlimitedJetStream, type AccountJetStreamLimits, type JetStreamOptions, type ServerOptions } from "../config/options.js";
import { resolveStoreDir } from "../config/flags.js";
import type { Logger } from "../storage/store.js";
import type { AdvisoryContext } from "./advisories.js";
import * as adv from "./advisories.js";
import { Api } from "./api.js";
import type { JsCluster } from "./cluster.js";
import type { Cluster } from "../cluster/cluster.js";
import { Consumer } from "./consumer.js";
import { jsError } from "./errors.js";
import { Stream } from "./stream.js";
import { checkStreamUpdate, consumersViolatingLimits, subjectsOverlap, type StreamConfig } from "./stream_config.js";
import { checkSourceFilters, checkSourcingAgainst } from "./source_config.js";
import { replicasAfterStreamChange, stampInactiveThreshold, storedConsumerConfig, type ConsumerConfig } from "./consumer_config.js";
import { listStoredStreams, readStreamMetadata, streamDir, syncDescription, type StreamMetadata } from "./store_factory.js";
import { FileStore, type StoreEncryption } from "../storage/filestore.js";
import { MemConsumerStore } from "../storage/memstore.js";
import { OfflineStream, offlineReason, type OfflineConsumer } from "./offline.js";
import { cipherName } from "../storage/encryption.js";
import { withStoredLevel } from "./api_level.js";
import { jsDomainMappingTable } from "./default_domain.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { SystemJsApi } from "./system_api.js";
import { mkdirDurable } from "../storage/file_io.js";

/** An account's JetStream limits (one tier). */
export type JsLimits = AccountJetStreamLimits;

/** nats-server's tier of a stream: R1, R3... */
function tierName(replicas: number): string {
  return `R${Math.max(1, replicas)}`;
}

/** The stream configs counted in a tier ("" = every stream). */
function inTier(tier: string, replicas: number): boolean {
  return tier === "" || tierName(replicas) === tier;
}

/** A stream as the account's limits count it: replicas, storage and reservation (max_bytes, -1 none). */
export interface CountedStream {
  name: string;
  replicas: number;
  memory: boolean;
  maxBytes: number;
}

/** The JetStream state of one account. */
export class JsAccount {
  readonly streams = new Map<string, Stream>();
  /** Stored streams this server cannot run (ADR-44), by name. */
  readonly offline = new Map<string, OfflineStream>();
  apiTotal = 0;
  apiErrors = 0;
  readonly advisoryContext: AdvisoryContext;
  readonly dir: string;
  private api: Api | undefined;

  constructor(
    readonly service: JetStreamService,
    readonly account: Account,
    /** Limits by tier ("" when untiered), as the account model holds them. */
    public limits: ReadonlyMap<string, JsLimits>,
  ) {
    this.advisoryContext = { account, domain: service.options.domain, serverName: service.server.name };
    this.dir = path.join(service.storeDir, account.name, "streams");
  }

  start(): void {
    this.recover();
    this.api = new Api(this);
    this.api.install();
  }

  /**
   * Run an API request as this server's own (the meta group decided this server answers it), or
   * (`gated`) decide again who answers it (it waited for a meta leader).
   */
  executeApi(rest: string, reply: string, body: Buffer, hdr: Buffer | undefined, gated = false, answer?: (json: string) => void): void {
    this.api?.execute(rest, reply, body, hdr, gated, answer);
  }

  /** The time a CONSUMER.PAUSE request asks to pause until, in UTC (undefined: resume); throws its decoding errors. */
  pauseUntilOf(body: Buffer): string | undefined {
    return this.api?.pauseUntilOf(body);
  }

  stop(): void {
    this.api?.uninstall();
    for (const s of this.streams.values()) s.stop();
    this.streams.clear();
    this.offline.clear();
  }

  // ---- recovery ----

  private recover(): void {
    for (const name of listStoredStreams(this.service.storeDir, this.account.name)) {
      const dir = path.join(this.dir, name);
      if (!fs.existsSync(path.join(dir, "meta.json"))) continue;
      try {
        const md = readStreamMetadata(dir, this.storeEncryption(dir));
        if (!this.ownDirectory(dir, name, md)) continue;
        if (this.recoverOffline(dir, md)) continue;
        const config = md.config;
        const stream = new Stream(this, config, parseRfc3339(md.created) ?? nowNs(), dir);
        this.streams.set(config.name, stream);
        // A replicated stream takes nothing in before its RAFT group is back.
        this.service.cluster?.attachReplica(stream, false);
        this.recoverConsumers(stream);
        stream.start();
        for (const c of stream.consumers.values()) c.start();
        this.service.log.info(`  Restored stream '${this.account.name} > ${config.name}' (${stream.state().msgs} msgs)`);
      } catch (err) {
        this.service.log.error(`JetStream could not restore stream in ${dir}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * A stream's directory is named after it (streamDir). One whose config names another stream
   * is a copy of that stream's directory (`cp -r streams/S streams/S2`) or was put there by
   * hand: restored, it would run a second copy of that stream, in a cluster a second member of
   * its group on this server. It is left alone with a warning, as nats-server leaves it (its
   * meta.inf checksum is keyed by the directory's name and fails). False when so.
   */
  private ownDirectory(dir: string, name: string, md: StreamMetadata): boolean {
    const stored = md.config.name;
    if (stored === name) return true;
    this.service.log.warn(`  Stream directory ${JSON.stringify(dir)} holds the config of stream '${this.account.name} > ${String(stored)}': not restored (a stream's directory is named after it)`);
    return false;
  }

  /**
   * A stored stream this server cannot run (ADR-44): its config, or one of its consumers',
   * needs a newer server. It is registered offline instead of started; true when so.
   */
  private recoverOffline(dir: string, md: StreamMetadata): boolean {
    const enc = this.storeEncryption(dir);
    const config = md.config as unknown as Record<string, unknown>;
    const name = typeof config.name === "string" ? config.name : path.basename(dir);
    let reason = offlineReason(config, "stream");
    const unsupported: OfflineConsumer[] = [];
    const metas = FileStore.readConsumerMetas(dir, enc);
    for (const m of metas) {
      const stored = m.config as { config?: Record<string, unknown>; created?: string; name?: string } | undefined;
      const cfg = stored?.config;
      const why = offlineReason(cfg, "consumer");
      if (why === undefined || cfg === undefined) continue;
      const cname = stored?.name ?? m.name;
      this.service.log.warn(`  Detected unsupported consumer '${this.account.name} > ${name} > ${cname}': ${why}`);
      unsupported.push({ name: cname, config: cfg, created: parseRfc3339(stored?.created ?? m.created) ?? nowNs(), reason: why });
    }
    if (reason === undefined && unsupported.length === 0) return false;
    if (reason !== undefined) {
      this.service.log.warn(`  Detected unsupported stream '${this.account.name} > ${name}': ${reason}`);
    } else {
      this.service.log.warn(`  Stopping unsupported stream '${this.account.name} > ${name}'`);
      reason = `stopped - unsupported consumer ${JSON.stringify(unsupported[0]!.name)}`;
    }
    const off = new OfflineStream(name, config, md.created, reason, dir);
    for (const c of unsupported) off.consumers.set(c.name, c);
    this.offline.set(name, off);
    return true;
  }

  private storeEncryption(dir: string): StoreEncryption {
    return { config: this.service.options.encryption, account: this.account.name, stream: path.basename(dir) };
  }

  private recoverConsumers(stream: Stream): void {
    for (const name of stream.store.listConsumers()) {
      try {
        const cs = stream.store.openConsumer(name);
        const stored = cs.config() as { config: ConsumerConfig; created: string; name?: string };
        const created = parseRfc3339(stored.created) ?? nowNs();
        const c = new Consumer(stream, stored.name ?? name, storedConsumerConfig(stored.config), created, cs, cs.state());
        stream.consumers.set(c.name, c);
      } catch (err) {
        this.service.log.error(`JetStream could not restore consumer '${stream.name} > ${name}': ${(err as Error).message}`);
      }
    }
  }

  // ---- usage and limits ----

  /** Bytes stored and reserved (max_bytes) per storage kind, and counts, of the account or of one tier's streams. */
  usage(tier = ""): { memory: number; storage: number; reservedMemory: number; reservedStorage: number; streams: number; consumers: number } {
    let memory = 0;
    let storage = 0;
    let reservedMemory = 0;
    let reservedStorage = 0;
    let consumers = 0;
    let streams = 0;
    for (const s of this.streams.values()) {
      if (!inTier(tier, s.cfg.num_replicas)) continue;
      streams++;
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
    // Offline streams count (their bytes are not read), with their offline consumers.
    for (const o of this.offline.values()) {
      if (!inTier(tier, o.replicas)) continue;
      streams++;
      consumers += o.consumers.size;
      const reserved = typeof o.config.max_bytes === "number" && o.config.max_bytes > 0 ? o.config.max_bytes : 0;
      if (o.config.storage === "memory") reservedMemory += reserved;
      else reservedStorage += reserved;
    }
    return { memory, storage, reservedMemory, reservedStorage, streams, consumers };
  }

  /** The limits a stream with `replicas` falls under, and their tier ("" when untiered). */
  selectLimits(replicas: number): { limits: JsLimits; tier: string } | undefined {
    const flat = this.limits.get("");
    if (flat !== undefined) return { limits: flat, tier: "" };
    const tier = tierName(replicas);
    const l = this.limits.get(tier);
    return l === undefined ? undefined : { limits: l, tier };
  }

  /** This server's streams as the limits count them (an offline stream counts, but reserves nothing here). */
  private localCounted(): CountedStream[] {
    const out: CountedStream[] = [];
    for (const s of this.streams.values()) out.push({ name: s.cfg.name, replicas: s.cfg.num_replicas, memory: s.cfg.storage === "memory", maxBytes: s.cfg.max_bytes });
    for (const o of this.offline.values()) out.push({ name: o.name, replicas: o.replicas, memory: false, maxBytes: -1 });
    return out;
  }

  /**
   * nats-server's stream limit checks, in its order and with its errors, over `counted` (this
   * server's streams, or in a cluster the meta group's) and `pending` creates not yet counted;
   * `onServer` adds this server's own store limits.
   */
  private checkStreamLimits(cfg: StreamConfig, existingReplicas: number | undefined, counted = this.localCounted(), pending = 0, onServer = true): void {
    const sel = this.selectLimits(existingReplicas ?? cfg.num_replicas) ?? this.selectLimits(cfg.num_replicas);
    if (sel === undefined) throw jsError("JSNoLimitsErr");
    const { limits: l, tier } = sel;
    const others = counted.filter((s) => s.name !== cfg.name && inTier(tier, s.replicas));
    if (existingReplicas === undefined && l.max_streams > 0 && others.length + pending >= l.max_streams) throw jsError("JSMaximumStreamsLimitErr");
    if (cfg.max_consumers > 0 && l.max_consumers > 0 && cfg.max_consumers > l.max_consumers) throw jsError("JSMaximumConsumersLimitErr");
    // A stream without max_bytes still reserves a byte: an account limit of 0 allows no stream of that storage.
    const add = cfg.max_bytes < 0 ? 1 : cfg.max_bytes;
    const accountBytes = tier === "" && cfg.num_replicas > 1 ? add * cfg.num_replicas : add;
    // What the tier's other streams of that storage reserve (untiered: every replica's).
    let current = 0;
    for (const s of others) {
      if (s.maxBytes <= 0 || s.memory !== (cfg.storage === "memory")) continue;
      current += tier === "" && s.replicas > 1 ? s.replicas * s.maxBytes : s.maxBytes;
    }
    const exceeded = cfg.storage === "memory" ? jsError("JSMemoryResourcesExceededErr") : jsError("JSStorageResourcesExceededErr");
    const accLimit = cfg.storage === "memory" ? l.max_memory : l.max_storage;
    if (accLimit >= 0 && (current > accLimit || accountBytes > accLimit - current)) throw exceeded;
    // And the server's own limits, over every account's reservations.
    const srvLimit = cfg.storage === "memory" ? this.service.options.maxMemoryStore : this.service.options.maxFileStore;
    if (onServer && srvLimit > 0) {
      const srvReserved = this.service.reservedBytes(cfg.storage, cfg.name, this);
      if (srvReserved > srvLimit || add > srvLimit - srvReserved) throw exceeded;
    }
    // Then what the account asks of each stream's config.
    if (l.max_bytes_required && cfg.max_bytes <= 0) throw jsError("JSStreamMaxBytesRequired");
    const perStream = cfg.storage === "memory" ? l.memory_max_stream_bytes : l.storage_max_stream_bytes;
    if (perStream > 0 && cfg.max_bytes > perStream) throw jsError("JSStreamMaxStreamBytesExceeded");
  }

  /**
   * A new stream, or an update of one with `existingReplicas`, against the account's limits over
   * the whole cluster (the meta leader, before it proposes it, as nats-server): `assigned` are the
   * meta group's streams of the account, `pending` the creates proposed and not yet applied. Each
   * server checks its own store limits.
   */
  checkClusterStreamLimits(cfg: StreamConfig, assigned: CountedStream[], pending: number, existingReplicas?: number): void {
    this.checkStreamLimits(cfg, existingReplicas, assigned, pending, false);
  }

  /** Bytes the streams of this account reserve with `storage` (except `except` in this account). */
  reservedBytes(storage: "memory" | "file", except?: string): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.cfg.storage === storage && s.cfg.max_bytes > 0 && s.cfg.name !== except) n += s.cfg.max_bytes;
    return n;
  }

  /** Any byte limit set for this account or the server? (only then the publish path checks usage) */
  get storageLimited(): boolean {
    const o = this.service.options;
    if (o.maxMemoryStore > 0 || o.maxFileStore > 0) return true;
    return this.accountStorageLimited;
  }

  /** Does the account have a byte limit of its own (whose usage, in a cluster, the servers tell each other)? */
  get accountStorageLimited(): boolean {
    // Asked on every publish: worked out again only when the limits are replaced (enableAccount).
    if (this.limitsSeen !== this.limits) {
      this.limitsSeen = this.limits;
      this.limitsCapBytes = false;
      for (const l of this.limits.values()) if (l.max_memory >= 0 || l.max_storage >= 0) this.limitsCapBytes = true;
    }
    return this.limitsCapBytes;
  }

  private limitsSeen: ReadonlyMap<string, JsLimits> | undefined;
  private limitsCapBytes = false;

  /**
   * Would a message of `size` bytes to a stream with `replicas` push the account over its storage
   * limits? In a cluster the account's bytes on the other servers count too (as they last told).
   */
  exceedsStorage(storage: "memory" | "file", size: number, replicas = 1): boolean {
    const sel = this.selectLimits(replicas);
    const acc = sel === undefined ? -1 : storage === "memory" ? sel.limits.max_memory : sel.limits.max_storage;
    const srv = storage === "memory" ? this.service.options.maxMemoryStore : this.service.options.maxFileStore;
    if (acc < 0 && srv <= 0) return false;
    const tier = sel?.tier ?? "";
    const u = this.usage(tier);
    const here = storage === "memory" ? u.memory : u.storage;
    if (srv > 0 && here + size > srv) return true;
    if (acc < 0) return false;
    const elsewhere = this.service.cluster?.remoteBytes(this.account.name, tier, storage === "memory") ?? 0;
    // As nats-server 2.15 counts an account's bytes over a cluster: untiered, every replica's
    // bytes and the message once per replica of its stream; in a tier (R1, R3, ...), the bytes of
    // one replica of each stream (every server's bytes of the tier over its replica count) and
    // the message once.
    const tierReplicas = tier === "" ? 1 : Math.max(1, Number(tier.slice(1)) || 1);
    const used = (here + elsewhere) / tierReplicas;
    return used + (tier === "" ? size * Math.max(1, replicas) : size) > acc;
  }

  // ---- streams ----

  createStream(cfg: StreamConfig): { stream: Stream; created: boolean } {
    if (this.offline.has(cfg.name)) throw jsError("JSStreamNameExistErr");
    const existing = this.streams.get(cfg.name);
    if (existing !== undefined) {
      const resent = { ...cfg, metadata: withStoredLevel(cfg.metadata, existing.cfg.metadata) };
      if (resent.metadata === undefined) delete resent.metadata;
      if (sameJson(existing.cfg, resent)) return { stream: existing, created: false };
      throw jsError("JSStreamNameExistErr");
    }
    const stream = this.newStream(cfg);
    this.service.cluster?.attachReplica(stream, true);
    stream.start();
    // After the API answer (as nats-server sends it): a stream capturing advisories does not
    // already hold its own creation in the answer.
    queueMicrotask(() => adv.streamAction(this.advisoryContext, "create", cfg.name));
    // Mirrors and sources waiting for a stream of this name need not wait for their retry.
    for (const s of this.streams.values()) s.sourcing?.originCreated(cfg.name);
    return { stream, created: true };
  }

  /** The checks of a new stream against the account (limits, subject overlaps, sources). */
  checkNewStream(cfg: StreamConfig): void {
    if (cfg.sealed) throw jsError("JSStreamInvalidConfigF", { err: "stream configuration for create can not be sealed" });
    this.checkStreamLimits(cfg, undefined);
    checkSourceFilters(cfg);
    for (const s of this.streams.values()) {
      if (subjectsOverlap(s.cfg.subjects ?? [], cfg.subjects ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    for (const o of this.offline.values()) {
      if (subjectsOverlap(o.subjects, cfg.subjects ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    if (cfg.mirror !== undefined || cfg.sources !== undefined) checkSourcingAgainst(cfg, (n) => this.streams.get(n)?.cfg);
  }

  /** A new stream, registered but not started. */
  private newStream(cfg: StreamConfig, created = nowNs()): Stream {
    this.checkNewStream(cfg);
    const dir = streamDir(this.service.storeDir, this.account.name, cfg.name);
    if (cfg.storage === "file" && fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
    let stream: Stream;
    try {
      stream = new Stream(this, cfg, created, dir);
    } catch (err) {
      throw jsError("JSStreamCreateErrF", { err: (err as Error).message });
    }
    this.streams.set(cfg.name, stream);
    return stream;
  }

  // ---- restores (snapshot.ts) ----

  /** A stream being restored: it exists (its name is taken) but takes nothing in yet. */
  createStreamForRestore(cfg: StreamConfig, created?: bigint): Stream {
    if (this.streams.has(cfg.name) || this.offline.has(cfg.name)) throw jsError("JSStreamNameExistRestoreFailedErr");
    return this.newStream(cfg, created);
  }

  /** Everything restored: the stream starts (subjects, sources), then its consumers. */
  completeRestore(stream: Stream): void {
    stream.writeMeta();
    stream.start();
    for (const c of stream.consumers.values()) c.start();
    adv.streamAction(this.advisoryContext, "create", stream.name);
    for (const s of this.streams.values()) if (s !== stream) s.sourcing?.originCreated(stream.name);
  }

  /** A failed restore leaves nothing behind. */
  abortRestore(stream: Stream): void {
    if (this.streams.get(stream.name) === stream) this.streams.delete(stream.name);
    stream.delete();
  }

  updateStream(cfg: StreamConfig): Stream {
    const stream = this.streams.get(cfg.name);
    if (stream === undefined) throw jsError("JSStreamNotFoundErr");
    if (cfg.num_replicas > 1 && this.service.cluster === undefined) throw jsError("JSStreamReplicasNotSupportedErr");
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
    this.checkStreamLimits(cfg, stream.cfg.num_replicas);
    for (const s of this.streams.values()) {
      if (s !== stream && subjectsOverlap(s.cfg.subjects ?? [], cfg.subjects ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    for (const o of this.offline.values()) {
      if (subjectsOverlap(o.subjects, cfg.subjects ?? [])) throw jsError("JSStreamSubjectOverlapErr");
    }
    if (cfg.mirror !== undefined || cfg.sources !== undefined) checkSourcingAgainst(cfg, (n) => (n === cfg.name ? undefined : this.streams.get(n)?.cfg));
    const old = stream.cfg;
    const wasReplicated = new Map([...stream.consumers.values()].map((c) => [c, c.replicated]));
    stream.applyStreamOp({ op: "update", config: cfg });
    // Its consumers follow its replicas and retention as nats-server's do (every member of the
    // stream applies the update to its own copies alike). Scaled down, once its leader picked
    // the servers it keeps (consumersFollowScaleDown), as nats-server remaps them.
    if (stream.replica?.scaleDownPicking !== true) this.consumersFollow(stream, old, wasReplicated);
    adv.streamAction(this.advisoryContext, "modify", cfg.name);
    return stream;
  }

  /**
   * A replicated stream's scale-down from `replicas` has its servers picked (the meta group
   * recorded it): its consumers take the replicas it leaves now, on every member alike.
   */
  consumersFollowScaleDown(stream: Stream, replicas: number): void {
    const wasReplicated = new Map([...stream.consumers.values()].map((c) => [c, c.replicated]));
    this.consumersFollow(stream, { ...stream.cfg, num_replicas: replicas }, wasReplicated);
  }

  /**
   * The consumers' replicas after the stream's config went from `old` to its own; one that
   * becomes replicated (or stops being) on a stream with a group goes through the group's scaling.
   */
  private consumersFollow(stream: Stream, old: StreamConfig, wasReplicated: ReadonlyMap<Consumer, boolean>): void {
    for (const [c, was] of wasReplicated) {
      const n = replicasAfterStreamChange(c.cfg, old, stream.cfg);
      // (Each member rewrites its own copy as it applies the stream's update: not sent through
      // the consumer's group, whose other members would take the new count before their stream
      // has it, and count the consumer as single-replica meanwhile.)
      if (n !== undefined) {
        const rewrite = (): void => c.updateConfig({ ...c.cfg, num_replicas: n });
        if (stream.replica !== undefined) stream.replica.applyLocally(rewrite);
        else rewrite();
      }
      if (c.replicated !== was) stream.replica?.consumerScaled(c);
    }
  }

  deleteStream(name: string): void {
    const off = this.offline.get(name);
    if (off !== undefined) {
      this.offline.delete(name);
      off.delete();
      adv.streamAction(this.advisoryContext, "delete", name);
      return;
    }
    const stream = this.streams.get(name);
    if (stream === undefined) throw jsError("JSStreamNotFoundErr");
    this.streams.delete(name);
    // A copy the server leaves with its group is no deletion (nats-server 2.15 advises none in a move).
    const deleted = !stream.leftGroup;
    if (deleted) for (const c of stream.consumers.values()) adv.consumerAction(this.advisoryContext, "delete", name, c.name);
    stream.delete();
    if (deleted) adv.streamAction(this.advisoryContext, "delete", name);
    for (const s of this.streams.values()) s.sourcing?.originDeleted(name);
  }

  // ---- consumers ----

  /** Create and start a consumer whose config and limits consumer_create.ts has checked. */
  addConsumer(stream: Stream, name: string, cfg: ConsumerConfig): Consumer {
    // Direct consumers (mirrors and sources reading this stream) are not stored.
    const stored = cfg.direct !== true;
    const created = nowNs();
    // Ephemeral consumers are stored too: nats-server recovers them after a restart (until
    // their inactive threshold removes them), so an ordered consumer / KV watcher simply
    // resumes on the same consumer once its client has reconnected.
    // Direct consumers live in memory only: their copy recreates them when needed.
    // A consumer asking for memory storage (ordered consumers, KV watchers) keeps its state in
    // memory on a file stream too, as nats-server does: nothing on disk (no state file
    // rewritten every few ms), and it is gone after a restart.
    // What the Consumer stores as its config (Consumer.storedConfig), written once.
    const storedCfg = { config: stampInactiveThreshold(cfg), created: rfc3339(created), name };
    let cstore;
    if (stored && cfg.mem_storage === true && stream.cfg.storage === "file") {
      cstore = new MemConsumerStore(name, storedCfg);
    } else if (stored) {
      try {
        cstore = stream.store.createConsumer(name, storedCfg);
      } catch (err) {
        throw jsError("JSConsumerStoreFailedErrF", { err: (err as Error).message });
      }
    }
    const c = new Consumer(stream, name, cfg, created, cstore, undefined);
    stream.consumers.set(name, c);
    c.start();
    // A replicated stream's group records where its ephemeral consumers live.
    if (!c.replicated) stream.replica?.ephemeralChanged(name, false);
    return c;
  }

  deleteConsumer(stream: Stream, name: string, _why: "api" | "inactive"): boolean {
    const c = stream.consumers.get(name);
    if (c === undefined) return false;
    stream.consumers.delete(name);
    c.stop(true);
    if (!c.replicated) stream.replica?.ephemeralChanged(name, true);
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

  /** Started and not stopped (it may serve no account yet: none has JetStream). */
  get isRunning(): boolean {
    return this.running;
  }
  /** The system account's view of the API (META.LEADER.STEPDOWN, SERVER.REMOVE). */
  private systemApi: SystemJsApi | undefined;
  /** The meta group, when the server is part of a cluster (see cluster.ts). */
  cluster: JsCluster | undefined;

  constructor(readonly server: Server) {
    this.options = server.options.jetstream;
    this.log = server.log;
    this.storeLogger = { info: (m) => this.log.info(m), warn: (m) => this.log.warn(m), error: (m) => this.log.error(m) };
  }

  async start(): Promise<void> {
    this.storeDir = resolveStoreDir(this.server.options);
    // (Its entry in its parent synced: every stream under it is lost with it otherwise.)
    mkdirDurable(this.storeDir);
    this.log.info("Starting JetStream");
    this.log.info(`  Max Memory:      ${fmtLimit(this.options.maxMemoryStore)}`);
    this.log.info(`  Max Storage:     ${fmtLimit(this.options.maxFileStore)}`);
    this.log.info(`  Store Directory: "${this.storeDir}"`);
    this.log.info(`  Sync:            ${syncDescription(this.options.syncInterval)}`);
    if (this.options.encryption) this.log.info(`  Encryption:      ${cipherName(this.options.encryption.cipher)}`);
    if (this.options.domain) this.log.info(`  Domain:          ${this.options.domain}`);
    const routes = this.server.services.find((svc) => svc.name === "cluster") as Cluster | undefined;
    if (routes !== undefined) {
      // Loaded only here: the meta group, stream replicas and Raft are a third of JetStream's
      // code, which a server without routes would otherwise compile at every start.
      const { JsCluster } = await import("./cluster.js");
      this.cluster = new JsCluster(this, routes);
    }
    for (const [acc, limits] of this.enabledAccounts()) this.enableAccount(acc, limits);
    this.cluster?.start();
    const sys = this.server.systemAccount;
    if (sys !== undefined) {
      this.systemApi = new SystemJsApi(sys, this.cluster, (name) => this.accounts.get(name), this.storeDir, this.log);
      this.systemApi.install();
    }
    // Accounts without JetStream still get an answer: "not enabled for account".
    for (const acc of this.server.accounts.values()) {
      this.installNotEnabled(acc);
      this.addDomainMappings(acc);
    }
    // Accounts made later (operator mode) or whose claims change follow their jetStreamLimits.
    this.server.events.account.add(this.onAccount);
    this.server.events.accountClaims.add(this.onAccount);
    this.running = true;
  }

  private readonly onAccount = (acc: Account): void => this.accountUpdated(acc);

  /** Apply an account's current `jetStreamLimits`: enable, update or take JetStream away. */
  accountUpdated(acc: Account): void {
    if (!this.running || acc.isSystem) return;
    const limits = acc.jetStreamLimits;
    if (limits !== undefined) this.enableAccount(acc, limits);
    else if (this.accounts.has(acc.name)) this.disableAccount(acc);
    else this.installNotEnabled(acc);
    this.addDomainMappings(acc);
  }

  /**
   * With a domain, every account maps `$JS.<domain>.API.*` (and `$KV`/`$OBJ`) onto the local
   * API, as nats-server does with account mappings (a mapping the account defines wins).
   */
  addDomainMappings(acc: Account): void {
    const domain = this.options.domain;
    if (!domain || acc.isSystem) return;
    for (const [src, dest] of jsDomainMappingTable(domain)) {
      if (acc.mappings?.entries.some((m) => m.src === src)) continue;
      acc.addMapping(src, [{ subject: dest, weight: 100 }]);
    }
  }

  /**
   * Give an account JetStream with these limits (by tier), or new limits when it has it. The
   * operator-mode layer calls this when account claims enable JetStream or change its limits.
   */
  enableAccount(acc: Account, limits: ReadonlyMap<string, JsLimits>): JsAccount {
    const current = this.accounts.get(acc.name);
    if (current !== undefined) {
      current.limits = limits;
      return current;
    }
    const notEnabled = this.notEnabledSubs.get(acc);
    if (notEnabled !== undefined) {
      acc.unsubscribeInternal(notEnabled);
      this.notEnabledSubs.delete(acc);
    }
    const jsa = new JsAccount(this, acc, limits);
    acc.jetstream = jsa;
    this.accounts.set(acc.name, jsa);
    jsa.start();
    return jsa;
  }

  /** Take JetStream away from an account (its streams stay on disk), answering "not enabled" from now on. */
  disableAccount(acc: Account): void {
    const jsa = this.accounts.get(acc.name);
    if (jsa === undefined) return;
    jsa.stop();
    acc.jetstream = undefined;
    this.accounts.delete(acc.name);
    this.installNotEnabled(acc);
  }

  private readonly notEnabledSubs = new Map<Account, Subscription>();

  /**
   * Accounts without JetStream answer "not enabled for account", unless they import another
   * account's JetStream API (that account answers then).
   */
  private installNotEnabled(acc: Account): void {
    if (this.accounts.has(acc.name) || acc.isSystem || this.notEnabledSubs.has(acc)) return;
    if (acc.serviceImports.some((si) => si.from === "$JS.API.>")) return;
    this.notEnabledSubs.set(acc, Api.installNotEnabled(acc, this));
  }

  /** Bytes reserved with `storage` by every account's streams (except one stream being updated). */
  reservedBytes(storage: "memory" | "file", exceptStream: string, exceptIn: JsAccount): number {
    let n = 0;
    for (const jsa of this.accounts.values()) n += jsa.reservedBytes(storage, jsa === exceptIn ? exceptStream : undefined);
    return n;
  }

  /**
   * Which accounts get JetStream, as nats-server 2.15 decides: with no accounts configured,
   * the global account; otherwise exactly the accounts whose configuration enables it.
   */
  private enabledAccounts(): Array<[Account, ReadonlyMap<string, JsLimits>]> {
    const sys = this.server.systemAccount;
    const global = this.server.globalAccount;
    const others = [...this.server.accounts.values()].filter((a) => a !== sys && a !== global);
    // Operator mode never enables the global account: accounts come from their claims.
    if (others.length === 0 && this.server.jwtAccounts === undefined) return [[global, global.jetStreamLimits ?? new Map([["", unlimitedJetStream()]])]];
    const out: Array<[Account, ReadonlyMap<string, JsLimits>]> = [];
    for (const acc of this.server.accounts.values()) {
      if (acc !== sys && acc.jetStreamLimits !== undefined) out.push([acc, acc.jetStreamLimits]);
    }
    return out;
  }

  async shutdown(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.systemApi?.uninstall();
    this.systemApi = undefined;
    this.cluster?.stop();
    this.server.events.account.delete(this.onAccount);
    this.server.events.accountClaims.delete(this.onAccount);
    for (const jsa of this.accounts.values()) {
      jsa.stop();
      jsa.account.jetstream = undefined;
    }
    this.accounts.clear();
    for (const [acc, sub] of this.notEnabledSubs) acc.unsubscribeInternal(sub);
    this.notEnabledSubs.clear();
  }

  reload(options: ServerOptions): void {
    // Limits may change at run time; the store directory may not (the server warns).
    this.options = { ...options.jetstream, storeDir: this.options.storeDir };
    if (!this.running) return;
    // Accounts the new configuration enables (or whose limits change) get it now; accounts it no longer enables keep theirs until restart.
    for (const [acc, limits] of this.enabledAccounts()) this.enableAccount(acc, limits);
    for (const acc of this.server.accounts.values()) {
      this.installNotEnabled(acc);
      // The reload rebuilt the accounts' mappings from the configuration.
      this.addDomainMappings(acc);
    }
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
