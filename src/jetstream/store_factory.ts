// Where JetStream meets the storage layer: open a memory or file store for a stream with
// the limits taken from its config. Kept in one place so the rest of JetStream only sees
// the StreamStore interface.
import type { ExpiryHandler, StreamStore, StreamStoreConfig, Logger } from "../storage/store.js";
import { MemStore } from "../storage/memstore.js";
import { FileStore, listStoredStreams, streamDir, type StoreEncryption } from "../storage/filestore.js";
import type { StreamConfig } from "./stream_config.js";

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
  syncAlways: boolean;
  syncIntervalMs: number;
  logger: Logger;
  onExpire?: ExpiryHandler;
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
  if (cfg.storage === "memory") return new MemStore(sc, { logger: o.logger, onExpire: o.onExpire });
  return new FileStore({
    dir: o.dir,
    config: sc,
    metadata,
    sync: o.syncAlways ? "always" : o.syncIntervalMs > 0 ? o.syncIntervalMs : undefined,
    logger: o.logger,
    onExpire: o.onExpire,
    encryption: o.encryption,
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
