// Where JetStream meets the storage layer: open a memory or file store for a stream with
// the limits taken from its config. Kept in one place so the rest of JetStream only sees
// the StreamStore interface.
import type { ExpiryHandler, StreamStore, StreamStoreConfig, Logger } from "../storage/store.js";
import { MemStore } from "../storage/memstore.js";
import { FileStore, listStoredStreams, streamDir, type StoreEncryption } from "../storage/filestore.js";
import type { StreamConfig } from "./stream_config.js";
import { goDuration } from "../server/time.js";

/** nats-server's default sync_interval (also how often tsnats fsyncs what no PubAck waits for). */
export const DEFAULT_SYNC_INTERVAL_MS = 120_000;

/**
 * The effective sync mode of `jetstream { sync_interval }` (shown in /varz and /jsz):
 * unset = "fsync_before_ack" (a PubAck leaves once its message is fsynced, group commit),
 * "always" (the same, and consumer state fsynced on every write), a duration = "interval"
 * (nats-server's default: PubAcks before the fsync, which comes every interval).
 */
export type SyncMode = "fsync_before_ack" | "always" | "interval";

export function syncModeOf(syncInterval: "always" | number | undefined): SyncMode {
  return syncInterval === undefined ? "fsync_before_ack" : syncInterval === "always" ? "always" : "interval";
}

/** The start-up line that says when an acknowledged message is on disk. */
export function syncDescription(syncInterval: "always" | number | undefined): string {
  if (syncInterval === undefined) return "every PubAck after its message is fsynced (group commit)";
  if (syncInterval === "always") return "always (every PubAck after fsync; consumer state fsynced on every write)";
  const d = goDuration(syncInterval * 1_000_000);
  return `every ${d} (PubAcks before fsync: acknowledged messages of the last ${d} can be lost on power failure)`;
}

export function storeConfigFor(cfg: StreamConfig): StreamStoreConfig {
  return {
    name: cfg.name,
    maxMsgs: cfg.max_msgs,
    maxBytes: cfg.max_bytes,
    maxAgeMs: cfg.max_age > 0 ? Math.max(1, Math.floor(cfg.max_age / 1_000_000)) : 0,
    maxMsgsPerSubject: cfg.max_msgs_per_subject,
    maxMsgSize: cfg.max_msg_size,
    discard: cfg.discard,
    discardNewPerSubject: cfg.discard_new_per_subject === true,
    firstSeq: cfg.first_seq ?? 0,
    compression: cfg.compression,
  };
}

export interface OpenStoreOptions {
  dir: string;
  /** jetstream sync_interval: unset = fsync before every PubAck (group commit). */
  syncInterval: "always" | number | undefined;
  logger: Logger;
  onExpire?: ExpiryHandler;
  holdExpiry?: () => boolean;
  /** File streams: encryption at rest, with the account and stream names its keys derive from. */
  encryption?: StoreEncryption;
}

/** What JetStream keeps in the file store's opaque metadata slot. */
export interface StreamMetadata {
  config: StreamConfig;
  created: string;
}

export function openStreamStore(cfg: StreamConfig, o: OpenStoreOptions, metadata: StreamMetadata): StreamStore {
  const sc = storeConfigFor(cfg);
  if (cfg.storage === "memory") return new MemStore(sc, { logger: o.logger, onExpire: o.onExpire, holdExpiry: o.holdExpiry });
  return new FileStore({
    dir: o.dir,
    config: sc,
    metadata,
    sync: o.syncInterval === undefined ? "acks" : o.syncInterval,
    logger: o.logger,
    onExpire: o.onExpire,
    holdExpiry: o.holdExpiry,
    encryption: o.encryption,
    // A replicated stream's member checks every record at start: what fails is repaired from the
    // group's leader (stream_replica.ts), never served.
    verifyOnOpen: cfg.num_replicas > 1,
  });
}

/** Replace the persisted JetStream metadata of a file-backed stream. */
export function saveStreamMetadata(store: StreamStore, metadata: StreamMetadata): void {
  if (store instanceof FileStore) store.setMetadata(metadata);
}

/** The JetStream metadata of a stream directory (throws when unreadable). */
export function readStreamMetadata(dir: string, encryption?: StoreEncryption): StreamMetadata {
  const md = FileStore.readMeta(dir, encryption).metadata as StreamMetadata | undefined;
  if (md === undefined || typeof md !== "object" || md.config === undefined) throw new Error("no JetStream metadata");
  return md;
}

export { streamDir, listStoredStreams };
