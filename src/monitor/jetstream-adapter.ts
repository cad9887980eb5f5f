// Reads tsnats' own JetStream layer (src/jetstream: JetStreamService -> JsAccount -> Stream
// -> Consumer) as a JetStreamMonitorSource, so monitoring needs no registration from it.
import os from "node:os";
import fs from "node:fs";
import type { Server } from "../server/server.js";
import type { JetStreamService, JsAccount } from "../jetstream/jetstream.js";
import type {
  JetStreamAccountSource,
  JetStreamMonitorSource,
  JetStreamServerConfig,
  JetStreamStreamSource,
  JetStreamUsage,
} from "./jetstream-source.js";

function isJetStreamService(svc: unknown): svc is JetStreamService {
  return typeof svc === "object" && svc !== null && (svc as { name?: unknown }).name === "jetstream" && (svc as { accounts?: unknown }).accounts instanceof Map;
}

/** The server's JetStream service as a monitoring source, or undefined when it has none. */
export function jetStreamSourceFromServices(server: Server): JetStreamMonitorSource | undefined {
  const svc = server.services.find(isJetStreamService);
  if (svc === undefined) return undefined;
  return new ServiceSource(svc);
}

class ServiceSource implements JetStreamMonitorSource {
  constructor(private readonly svc: JetStreamService) {}

  config(): JetStreamServerConfig {
    const o = this.svc.options;
    const storeDir = this.svc.storeDir || o.storeDir;
    const out: JetStreamServerConfig = {
      maxMemory: o.maxMemoryStore >= 0 ? o.maxMemoryStore : Math.floor(os.totalmem() * 0.75),
      maxStorage: o.maxFileStore >= 0 ? o.maxFileStore : freeSpace(storeDir),
      storeDir,
    };
    if (o.domain) out.domain = o.domain;
    return out;
  }

  usage(): JetStreamUsage & { accounts: number; haAssets: number } {
    const total = { memory: 0, storage: 0, reservedMemory: 0, reservedStorage: 0, api: { total: 0, errors: 0 } };
    for (const jsa of this.svc.accounts.values()) {
      const u = accountUsage(jsa);
      total.memory += u.memory;
      total.storage += u.storage;
      total.reservedMemory += u.reservedMemory;
      total.reservedStorage += u.reservedStorage;
      total.api.total += u.api.total;
      total.api.errors += u.api.errors;
    }
    return { ...total, accounts: this.svc.accounts.size, haAssets: 0 };
  }

  accounts(): JetStreamAccountSource[] {
    return [...this.svc.accounts.values()].map((jsa) => ({
      name: jsa.account.name,
      usage: () => accountUsage(jsa),
      streams: () => streamsOf(jsa),
    }));
  }
}

/** Bytes stored, and bytes reserved by streams with a max_bytes limit, per storage kind. */
function accountUsage(jsa: JsAccount): JetStreamUsage {
  const u = jsa.usage();
  let reservedMemory = 0;
  let reservedStorage = 0;
  for (const s of jsa.streams.values()) {
    if (s.cfg.max_bytes > 0) {
      if (s.cfg.storage === "memory") reservedMemory += s.cfg.max_bytes;
      else reservedStorage += s.cfg.max_bytes;
    }
  }
  return { memory: u.memory, storage: u.storage, reservedMemory, reservedStorage, api: { total: jsa.apiTotal, errors: jsa.apiErrors } };
}

function streamsOf(jsa: JsAccount): JetStreamStreamSource[] {
  return [...jsa.streams.values()].map((stream) => {
    const info = stream.infoJson();
    return {
      name: stream.name,
      created: String(info.created),
      config: () => info.config as Record<string, unknown>,
      state: () => info.state as Record<string, unknown>,
      consumers: () => [...stream.consumers.values()].map((c) => ({ name: c.name, info: () => c.infoJson() })),
    };
  });
}

function freeSpace(dir: string): number {
  try {
    const st = fs.statfsSync(dir);
    return Math.floor(st.bavail * st.bsize * 0.75);
  } catch {
    return 1024 ** 4;
  }
}
