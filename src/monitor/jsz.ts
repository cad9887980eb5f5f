// /jsz: JetStream configuration, usage and, on request, accounts, streams and consumers.
import type { JsAccount } from "../jetstream/jetstream.js";
import type { Monitor } from "./monitor.js";
import type { JszOptions } from "./endpoint-options.js";
import { compareStrings, goTime } from "./format.js";
import { NO_USAGE, accountUsage, jetStreamAccount, jetStreamService, jetStreamTotals, limitsJson, usageJson } from "./jetstream-stats.js";
import { withoutDynamicMetadata } from "../jetstream/api_level.js";

export function buildJsz(m: Monitor, opts: JszOptions): Record<string, unknown> {
  const s = m.server;
  const follower = s.services.find((x) => x.name === "nrg-follow") as { json(): Record<string, unknown> } | undefined;
  // tsnats only, with `cluster { nrg_follow: true }`: a nats-server cluster's meta group as followed.
  // tsnats only, with `cluster { nrg_peer: true }`: its membership of a nats-server cluster's meta group.
  const nrgPeer = s.services.find((x) => x.name === "nrg-peer") as { json(): Record<string, unknown> } | undefined;
  const head = { server_id: s.id, now: goTime(new Date()), ...(follower !== undefined ? { nrg_meta_follow: follower.json() } : {}), ...(nrgPeer !== undefined ? { nrg_meta_peer: nrgPeer.json() } : {}) };
  if (!s.options.jetstream.enabled) {
    return {
      ...head,
      disabled: true,
      config: { max_memory: 0, max_storage: 0 },
      ...usageJson(NO_USAGE, 0),
      streams: 0,
      consumers: 0,
      messages: 0,
      bytes: 0,
      total: 0,
    };
  }
  const { limits, usage, accounts } = jetStreamTotals(s);
  let streams = 0;
  let consumers = 0;
  let messages = 0;
  let bytes = 0;
  // With `raft`: how many streams and consumers this server leads (an unreplicated one: all).
  let streamsLeader = 0;
  let consumersLeader = 0;
  for (const jsa of accounts) {
    for (const stream of jsa.streams.values()) {
      const state = stream.state();
      streams++;
      messages += state.msgs;
      bytes += state.bytes;
      // (A copy kept for a consumer whose group of fewer replicas is on other members is not this server's.)
      for (const c of stream.consumers.values()) if (stream.replica?.holdsConsumer(c.name) !== false) consumers++;
      if (opts.raft) {
        const replica = stream.replica;
        if (replica === undefined || replica.node.isLeader) streamsLeader++;
        for (const c of stream.publicConsumers()) {
          if (replica?.holdsConsumer(c.name) === false) continue;
          const group = replica?.consumerGroup(c.name);
          // One without a group of its own (R1) runs on this server only.
          if (group === undefined || group.node.isLeader) consumersLeader++;
        }
      }
    }
  }
  const out: Record<string, unknown> = {
    ...head,
    config: limitsJson(limits, true),
    limits: limits.serverLimits,
    ...usageJson(usage, accounts.length, true),
    streams,
    ...(streamsLeader > 0 ? { streams_leader: streamsLeader } : {}),
    consumers,
    ...(consumersLeader > 0 ? { consumers_leader: consumersLeader } : {}),
    messages,
    bytes,
    total: accounts.length,
  };
  const meta = jetStreamService(s)?.cluster;
  if (meta !== undefined) out.meta_cluster = meta.metaClusterJson();
  // As nats-server: a named account that exists is the one shown; otherwise all accounts
  // (a page of them) when asked for accounts, or for streams/consumers without naming one.
  const target = opts.account !== "" ? accounts.find((jsa) => jsa.account.name === opts.account) : undefined;
  const listAll = opts.accounts || ((opts.streams || opts.consumers) && opts.account === "");
  const chosen =
    target !== undefined
      ? [target]
      : listAll
        ? [...accounts].sort((a, b) => compareStrings(a.account.name, b.account.name)).slice(opts.offset, opts.offset + opts.limit)
        : [];
  if (chosen.length > 0) out.account_details = chosen.map((jsa) => accountDetail(m, jsa, opts));
  return out;
}

/** $SYS.REQ.ACCOUNT.<acc>.JSZ: one account's detail, zero usage when it has no JetStream. */
export function accountJsz(m: Monitor, name: string, opts: JszOptions): Record<string, unknown> {
  const jsa = jetStreamAccount(m.server, name);
  return jsa === undefined ? { name, id: name, ...usageJson(NO_USAGE, 0) } : accountDetail(m, jsa, opts);
}

/** One account's JetStream usage, streams and consumers. */
function accountDetail(m: Monitor, jsa: JsAccount, opts: JszOptions): Record<string, unknown> {
  const name = jsa.account.name;
  const d: Record<string, unknown> = { name, id: name, ...usageJson(accountUsage(jsa), 0) };
  // nats-server shows an untiered account's limits here (as unsigned: -1 reads 2^64-1), nothing for tiered ones.
  const flat = jsa.limits.get("");
  d.reserved_memory = flat !== undefined ? asUint64(flat.max_memory) : 0;
  d.reserved_storage = flat !== undefined ? asUint64(flat.max_storage) : 0;
  if (opts.streams || opts.consumers) {
    const listed = opts.streamLeaderOnly ? [...jsa.streams.values()].filter((st) => st.replica === undefined || st.replica.node.isLeader) : [...jsa.streams.values()];
    d.stream_detail = listed.map((stream) => {
      const info = stream.infoJson();
      const sd: Record<string, unknown> = { name: stream.name, created: info.created, cluster: stream.replica?.clusterInfo() ?? { leader: m.server.name } };
      // /jsz shows the configs as stored (nats-server adds its version and level only in API answers).
      if (opts.config) sd.config = storedConfig(info.config);
      sd.state = info.state;
      if (opts.consumers) {
        const cd = stream.publicConsumers().filter((c) => stream.replica?.holdsConsumer(c.name) !== false).map((c) => {
          const ci = c.infoJson();
          if (!opts.config) delete ci.config;
          else ci.config = storedConfig(ci.config);
          return ci;
        });
        if (cd.length > 0) sd.consumer_detail = cd;
      }
      if (info.mirror !== undefined) sd.mirror = info.mirror;
      if (info.sources !== undefined) sd.sources = info.sources;
      const replica = stream.replica;
      if (opts.raft && replica !== undefined) {
        sd.stream_raft_group = replica.group;
        const groups: Array<Record<string, string>> = [];
        if (opts.consumers) {
          for (const c of stream.publicConsumers()) {
            const group = replica.consumerGroup(c.name);
            if (group !== undefined && group.holds) groups.push({ name: c.name, raft_group: group.group });
          }
        }
        sd.consumer_raft_groups = groups;
      }
      return sd;
    });
  }
  return d;
}

/** A Go int64 printed as uint64 (nats-server converts limits so): -1 becomes 2^64-1. */
function asUint64(n: number): number {
  return n < 0 ? 2 ** 64 + n : n;
}

function storedConfig(config: unknown): unknown {
  const c = config as { metadata?: Record<string, string> } | undefined;
  if (c?.metadata === undefined) return config;
  return { ...c, metadata: withoutDynamicMetadata(c.metadata) };
}
