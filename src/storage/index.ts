// JetStream storage layer. See store.ts for the API and conventions, filestore.ts for
// the on-disk format and durability contract.

export * from "./store.js";
export { MemStore, MemConsumerStore } from "./memstore.js";
export type { MemStoreOptions } from "./memstore.js";
export {
  FileStore,
  FileConsumerStore,
  streamDir,
  listStoredAccounts,
  listStoredStreams,
  writeFileAtomic,
} from "./filestore.js";
export type { FileStoreOptions, StreamMeta } from "./filestore.js";
export { crc32 } from "./crc32.js";
