// What a meta follower (nrg_meta_follower.ts) that started late cannot hear: the streams and
// consumers assigned before it listened, compacted into the meta leader's snapshot. Without
// becoming a peer it cannot ask for a RAFT catch-up, so it asks the cluster's servers what
// they hold, as any system user can: one `$SYS.REQ.SERVER.PING.JSZ` with accounts, streams,
// consumers, configs and RAFT group names, every JetStream server answering for the assets it
// holds (nats-server's monitor.go JSzOptions / StreamDetail / RaftGroupDetail).
import type { Account } from "../server/account.js";
import { shortHash } from "../jetstream/util.js";
import type { NrgRaftGroup } from "../jetstream/nrg_entries.js";

export interface SeededStream {
  account: string;
  name: string;
  config: Record<string, unknown>;
  group: NrgRaftGroup;
  created: string;
}

export interface SeededConsumer extends SeededStream {
  stream: string;
}

export interface Seed {
  /** Servers that answered with JetStream data. */
  servers: number;
  streams: SeededStream[];
  consumers: SeededConsumer[];
}

interface JszClusterInfo {
  leader?: string;
  replicas?: { name: string }[];
}

interface JszAnswer {
  server?: { name?: string };
  data?: {
    disabled?: boolean;
    account_details?: {
      name: string;
      stream_detail?: {
        name: string;
        created: string;
        config?: Record<string, unknown>;
        cluster?: JszClusterInfo;
        stream_raft_group?: string;
        consumer_detail?: { name: string; stream_name: string; created: string; config?: Record<string, unknown>; cluster?: JszClusterInfo }[];
        consumer_raft_groups?: { name: string; raft_group?: string }[];
      }[];
    }[];
  };
}

/**
 * The servers of an asset by RAFT id: the answering server (it holds the asset), its leader and
 * the replicas it lists (a server leaves itself out of them), added to what other answers gave.
 */
function addPeers(peers: string[], holder: string | undefined, cluster: JszClusterInfo | undefined): void {
  for (const name of [holder, cluster?.leader, ...(cluster?.replicas ?? []).map((r) => r.name)]) {
    if (typeof name !== "string" || name === "") continue;
    const id = shortHash(name);
    if (!peers.includes(id)) peers.push(id);
  }
}

/** Ask every server over `sys` and call `done` with what came within `waitMs`. */
export function seedFromJsz(sys: Account, waitMs: number, done: (seed: Seed) => void): void {
  const inbox = `_INBOX.nrgfollow.${Math.random().toString(36).slice(2)}`;
  const seed: Seed = { servers: 0, streams: [], consumers: [] };
  const streams = new Map<string, SeededStream>();
  const consumers = new Map<string, SeededConsumer>();
  const sub = sys.subscribeInternal(
    inbox,
    (_s, _r, _h, payload) => {
      let answer: JszAnswer;
      try {
        answer = JSON.parse(payload.toString()) as JszAnswer;
      } catch {
        return; // not an answer
      }
      const data = answer.data;
      if (data === undefined || data.disabled === true || !Array.isArray(data.account_details)) return;
      seed.servers++;
      const holder = answer.server?.name;
      for (const acc of data.account_details) {
        for (const s of acc.stream_detail ?? []) {
          if (typeof s.name !== "string" || s.config === undefined) continue;
          const key = `${acc.name}/${s.name}`;
          const store = s.config.storage === "memory" ? "memory" : "file";
          let stream = streams.get(key);
          if (stream === undefined) {
            stream = { account: acc.name, name: s.name, config: s.config, created: s.created, group: { name: s.stream_raft_group ?? "", peers: [], store } };
            streams.set(key, stream);
          }
          addPeers(stream.group.peers, holder, s.cluster);
          for (const c of s.consumer_detail ?? []) {
            if (c.config === undefined) continue;
            const ckey = `${key}/${c.name}`;
            let consumer = consumers.get(ckey);
            if (consumer === undefined) {
              const group = (s.consumer_raft_groups ?? []).find((g) => g.name === c.name)?.raft_group ?? "";
              consumer = { account: acc.name, stream: s.name, name: c.name, config: c.config, created: c.created, group: { name: group, peers: [], store } };
              consumers.set(ckey, consumer);
            }
            addPeers(consumer.group.peers, holder, c.cluster);
          }
        }
      }
    },
    undefined,
    "nrg-follow-seed",
  );
  const timer = setTimeout(() => {
    sys.unsubscribeInternal(sub);
    seed.streams = [...streams.values()];
    seed.consumers = [...consumers.values()];
    done(seed);
  }, waitMs);
  timer.unref();
  sys.publish("$SYS.REQ.SERVER.PING.JSZ", inbox, undefined, Buffer.from(JSON.stringify({ accounts: true, streams: true, consumer: true, config: true, raft: true })));
}
