// /jsz: JetStream configuration, usage and, on request, accounts, streams and consumers.
import type { Monitor } from "./monitor.js";
import type { JszOptions } from "./endpoint-options.js";
import { goTime } from "./format.js";
import {
  jetStreamAccounts,
  jetStreamConfig,
  jetStreamConfigured,
  jetStreamUsage,
  type JetStreamAccountSource,
  type JetStreamUsage,
} from "./jetstream-source.js";

function usageJson(u: JetStreamUsage): Record<string, unknown> {
  return {
    memory: u.memory,
    storage: u.storage,
    reserved_memory: u.reservedMemory,
    reserved_storage: u.reservedStorage,
  };
}

function num(v: unknown): number {
  return typeof v === "number" ? v : 0;
}

export function buildJsz(m: Monitor, opts: JszOptions): Record<string, unknown> {
  const s = m.server;
  const head = { server_id: s.id, now: goTime(new Date()) };
  if (!jetStreamConfigured(s)) {
    return {
      ...head,
      disabled: true,
      config: { max_memory: 0, max_storage: 0 },
      memory: 0,
      storage: 0,
      reserved_memory: 0,
      reserved_storage: 0,
      accounts: 0,
      ha_assets: 0,
      api: { total: 0, errors: 0 },
      streams: 0,
      consumers: 0,
      messages: 0,
      bytes: 0,
    };
  }
  const cfg = jetStreamConfig(s);
  const u = jetStreamUsage(s);
  const accounts = jetStreamAccounts(s);
  let streams = 0;
  let consumers = 0;
  let messages = 0;
  let bytes = 0;
  for (const a of accounts) {
    for (const st of a.streams()) {
      streams++;
      const state = st.state();
      messages += num(state.messages);
      bytes += num(state.bytes);
      consumers += st.consumers().length;
    }
  }
  const config: Record<string, unknown> = { max_memory: cfg.maxMemory, max_storage: cfg.maxStorage, store_dir: cfg.storeDir };
  if (cfg.domain) config.domain = cfg.domain;
  const out: Record<string, unknown> = {
    ...head,
    config,
    ...usageJson(u),
    accounts: u.accounts,
    ha_assets: u.haAssets,
    api: { total: u.api.total, errors: u.api.errors },
    streams,
    consumers,
    messages,
    bytes,
  };
  if (opts.accounts || opts.account !== "") {
    const chosen = accounts
      .filter((a) => opts.account === "" || a.name === opts.account)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(opts.offset, opts.offset + opts.limit);
    out.account_details = chosen.map((a) => jszAccountDetail(m, a, opts));
  }
  return out;
}

/** One account's JetStream usage, streams and consumers ($SYS.REQ.ACCOUNT.<acc>.JSZ too). */
export function jszAccountDetail(m: Monitor, a: JetStreamAccountSource, opts: JszOptions): Record<string, unknown> {
  const u = a.usage();
  const d: Record<string, unknown> = {
    name: a.name,
    id: a.name,
    ...usageJson(u),
    accounts: 0,
    ha_assets: 0,
    api: { total: u.api.total, errors: u.api.errors },
  };
  if (opts.streams || opts.consumers) {
    d.stream_detail = a.streams().map((st) => {
      const sd: Record<string, unknown> = { name: st.name, created: st.created, cluster: { leader: m.server.name } };
      if (opts.config) sd.config = st.config();
      sd.state = st.state();
      if (opts.consumers) {
        sd.consumer_detail = st.consumers().map((c) => {
          const info = { ...c.info() };
          if (!opts.config) delete info.config;
          return info;
        });
      }
      return sd;
    });
  }
  return d;
}
