// /raftz: the RAFT groups this server runs, as nats-server 2.15 shows them (RaftzStatus: account
// -> group -> RaftzGroup). The meta group is "_meta_" in the system account; a replicated stream's
// or consumer's group is under the asset's account, named as its info's `cluster.raft_group`.
// Without `acc` only the system account's groups are shown, as nats-server does. Ids are
// nats-server's peer ids (a hash of the server name). tsnats' log entries carry no times, so the
// WAL's first_ts/last_ts are Go's zero time.
import type { Monitor } from "./monitor.js";
import type { RaftNode } from "../cluster/raft.js";
import { jetStreamService } from "./jetstream-stats.js";
import { peerId } from "../jetstream/group_common.js";
import { goDuration } from "../server/time.js";
import { goTime } from "./format.js";

const META_GROUP = "_meta_";
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** account -> group -> figures; undefined when this server runs no RAFT group (no JetStream cluster). */
export type RaftzStatus = Record<string, Record<string, unknown>>;

interface Group {
  account: string;
  name: string;
  node: RaftNode;
}

function groupsOf(m: Monitor): Group[] | undefined {
  const js = jetStreamService(m.server);
  const meta = js?.cluster?.node;
  if (js === undefined || meta === undefined) return undefined;
  const sys = m.server.systemAccount?.name ?? "$SYS";
  const out: Group[] = [{ account: sys, name: META_GROUP, node: meta }];
  for (const jsa of js.accounts.values()) {
    for (const st of jsa.streams.values()) {
      const replica = st.replica;
      if (replica === undefined) continue;
      out.push({ account: jsa.account.name, name: replica.group, node: replica.node });
      for (const name of st.consumers.keys()) {
        const cg = replica.consumerGroup(name);
        // (A copy outside the consumer's group, R2 of R3 or scaled down, is no member of it.)
        if (cg !== undefined && cg.holds) out.push({ account: jsa.account.name, name: cg.group, node: cg.node });
      }
    }
  }
  return out;
}

function stateName(n: RaftNode): string {
  if (n.stopped) return "CLOSED";
  return n.role === "leader" ? "LEADER" : n.role === "follower" ? "FOLLOWER" : "CANDIDATE";
}

function groupJson(n: RaftNode, sys: string): Record<string, unknown> {
  const s = n.raftzStatus();
  const out: Record<string, unknown> = {
    id: peerId(n.id),
    state: stateName(n),
    size: n.config.voters.length,
    quorum_needed: n.quorum,
  };
  if (!n.config.voters.includes(n.id)) out.observer = true;
  out.committed = n.commit;
  out.applied = n.applied;
  if (n.leader !== "") out.leader = peerId(n.leader);
  if (n.isLeader && s.leaderSince > 0) out.leader_since = goTime(s.leaderSince);
  out.ever_had_leader = n.leader !== "" || n.commit > 0;
  out.term = n.term;
  if (n.vote !== "") out.voted_for = peerId(n.vote);
  out.pterm = s.lastTerm;
  out.pindex = s.lastIndex;
  out.system_account = true;
  out.traffic_account = sys;
  // tsnats handles an append as it arrives: nothing waits in an entry queue.
  out.ipq_proposal_len = s.proposalsQueued;
  out.ipq_entry_len = 0;
  out.ipq_resp_len = s.answersQueued;
  out.ipq_apply_len = s.applyQueued;
  out.wal = {
    messages: Math.max(0, s.entries),
    bytes: s.bytes,
    first_seq: s.firstIndex,
    first_ts: GO_ZERO_TIME,
    last_seq: s.lastIndex,
    last_ts: GO_ZERO_TIME,
    consumer_count: 0,
  };
  const peers: Record<string, unknown> = {};
  const seen = new Map(n.isLeader ? n.peerStatus().map((p) => [p.id, p] as const) : []);
  for (const id of [...n.config.voters, ...n.config.learners]) {
    if (id === n.id) continue;
    const peer: Record<string, unknown> = { name: id, known: true };
    const p = seen.get(id);
    if (p !== undefined && p.match > 0) peer.last_replicated_index = p.match;
    const agoMs = p !== undefined ? p.lastSeenMs : id === n.leader ? s.leaderContactAgoMs : -1;
    if (agoMs >= 0) peer.last_seen = goDuration(agoMs * 1e6);
    peers[peerId(id)] = peer;
  }
  out.peers = peers;
  return out;
}

/**
 * `account` picks the account (default: the system account's groups), `group` one group by
 * name (HTTP: `acc` and `group`; $SYS.REQ.SERVER.*.RAFTZ: `account` and `group`).
 */
export function buildRaftz(m: Monitor, filter: { account: string; group: string }): RaftzStatus | undefined {
  const groups = groupsOf(m);
  if (groups === undefined) return undefined;
  const sys = m.server.systemAccount?.name ?? "$SYS";
  const account = filter.account || sys;
  const body: RaftzStatus = {};
  for (const g of groups) {
    if (g.account !== account || (filter.group !== "" && g.name !== filter.group)) continue;
    (body[g.account] ??= {})[g.name] = groupJson(g.node, sys);
  }
  return body;
}
