// What CONSUMER.LIST shows of a single-replica consumer whose server is down (issue #12). nats-server
// 2.15.1's meta leader places an entry for it by hand (jetstream_cluster.go
// jsClusteredConsumerListRequest, when allPeersOffline): no stream nor name (so it sorts first),
// the config and creation time its assignment records, a zeroed state, its server listed offline,
// the time it was made; the consumer's name is in `missing` too. Here a replicated stream's group
// records each single-replica consumer's config and creation time as its server tells them
// (stream_replica.ts `eph` entries), and the member answering the list makes the entry from that.
import { rfc3339, nowNs } from "../server/time.js";
import { staticMetadata } from "./api_level.js";
import { consumerRequiredLevel, METADATA_IN_ANSWERS, withoutServerMetadata, type ConsumerConfig } from "./consumer_config.js";
import { peerId } from "./group_common.js";
import { isDeepStrictEqual } from "node:util";

/** What is listed of a consumer while its server is down: its config (as its list entry shows it) and creation time (RFC 3339). */
export interface KnownConsumer {
  config: ConsumerConfig;
  created: string;
}

/** The config and creation time a record (or message) carries, if it carries both. */
export function knownOf(e: { config?: unknown; created?: unknown }): KnownConsumer | undefined {
  if (typeof e.config !== "object" || e.config === null || typeof e.created !== "string") return undefined;
  return { config: e.config as ConsumerConfig, created: e.created };
}

/** What a consumer handed over with its state (its `created` in nanoseconds) lists. */
export function knownOfHandedOver(sc: { config: ConsumerConfig; created: string }): KnownConsumer | undefined {
  if (!/^\d+$/.test(sc.created)) return undefined;
  return { config: METADATA_IN_ANSWERS ? sc.config : withoutServerMetadata(sc.config), created: rfc3339(BigInt(sc.created)) };
}

export function sameKnown(a: Partial<KnownConsumer>, b: KnownConsumer): boolean {
  return a.created === b.created && isDeepStrictEqual(JSON.parse(JSON.stringify(a.config ?? null)), JSON.parse(JSON.stringify(b.config)));
}

/** The config paused until `until` (undefined: resumed), as a pause changes it (api.ts applyPause). */
export function pausedConfig(cfg: ConsumerConfig, until: string | undefined): ConsumerConfig {
  const next: ConsumerConfig = { ...cfg };
  if (until === undefined) delete next.pause_until;
  else next.pause_until = until;
  if (METADATA_IN_ANSWERS) next.metadata = staticMetadata(next.metadata, consumerRequiredLevel(next));
  return next;
}

/**
 * The CONSUMER.LIST entry of a single-replica consumer on `host`, down (without `known`: no
 * config, the zero time). Its `raft_group`: the name its group would have here (nats-server names
 * the R1 group its assignment has).
 */
export function offlineStandIn(clusterName: string, host: string, known: KnownConsumer | undefined, group: string): Record<string, unknown> {
  return {
    stream_name: "",
    name: "",
    created: known?.created ?? "0001-01-01T00:00:00Z",
    ...(known !== undefined ? { config: known.config } : {}),
    delivered: { consumer_seq: 0, stream_seq: 0 },
    ack_floor: { consumer_seq: 0, stream_seq: 0 },
    num_ack_pending: 0,
    num_redelivered: 0,
    num_waiting: 0,
    num_pending: 0,
    cluster: { name: clusterName, raft_group: group, replicas: [{ name: host, current: false, offline: true, active: 0, peer: peerId(host) }] },
    ts: rfc3339(nowNs()),
  };
}
