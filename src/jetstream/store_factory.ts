// Where JetStream meets the storage layer: open a memory or file store for a stream with
// the limits taken from its config. Kept in one place so the rest of JetStream only sees
// the StreamStore interface.
import type { StreamStore, StreamStoreConfig, Logger } from "../storage/store.js";
import { MemStore } from "../storage/memstore.js";
import { FileStore } from "../storage/filestore.js";
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
  };
}

export interface OpenStoreOptions {
  dir: string;
  syncAlways: boolean;
  syncIntervalMs: number;
  logger: Logger;
}

export function openStreamStore(cfg: StreamConfig, o: OpenStoreOptions): StreamStore {
  const sc = storeConfigFor(cfg);
  if (cfg.storage === "memory") return new MemStore(sc, { logger: o.logger });
  return new FileStore(o.dir, sc, { logger: o.logger, syncAlways: o.syncAlways, syncIntervalMs: o.syncIntervalMs });
}
