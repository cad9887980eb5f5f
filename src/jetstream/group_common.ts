// What the RAFT groups of streams (stream_replica.ts) and of consumers (consumer_group.ts) share:
// how they report their members (nats-server's PeerInfo), their log entries of one kind byte
// and JSON, the number files they keep next to their logs, and the membership file they start from.
import crypto from "node:crypto";
import fs from "node:fs";
import type { RaftNode } from "../cluster/raft.js";
import { crc32 } from "../storage/crc32.js";
import { writeFileAtomic } from "../storage/file_io.js";

/** nats-server's peer id: a short hash of the server name. */
export function peerId(name: string): string {
  return crypto.createHash("sha256").update(name).digest("base64url").slice(0, 8);
}

/**
 * The members other than the leader, as nats-server's PeerInfo: what the leader knows of them
 * (silent longer than `offlineAfterMs`, or never heard from on a server no route leads to
 * (`reachable`): offline; one not heard from yet on a server that is there, as in a group just
 * started, is only not current, as nats-server shows it); a follower only knows itself (`selfCurrent`).
 */
export function groupReplicasJson(node: RaftNode, self: string, selfCurrent: boolean, offlineAfterMs: number, reachable: (server: string) => boolean): Array<Record<string, unknown>> {
  const replicas: Array<Record<string, unknown>> = [];
  if (node.isLeader) {
    for (const p of node.peerStatus()) {
      const r: Record<string, unknown> = { name: p.id, current: p.current, active: p.lastSeenMs < 0 ? 0 : Math.round(p.lastSeenMs * 1e6) };
      if (p.lastSeenMs > offlineAfterMs || (p.lastSeenMs < 0 && !reachable(p.id))) r.offline = true;
      if (p.lag > 0) r.lag = p.lag;
      r.peer = peerId(p.id);
      replicas.push(r);
    }
  } else if (node.leader === "") {
    // No leader known (a member answering from its own copy): every member, itself current and
    // the others not, offline when no route leads to their server, as nats-server lists them
    // then (it keeps itself in the list only while its group has no leader).
    for (const id of node.config.voters) {
      const r: Record<string, unknown> = { name: id, current: id === self, active: 0 };
      if (id !== self && !reachable(id)) r.offline = true;
      r.peer = peerId(id);
      replicas.push(r);
    }
  } else {
    for (const id of node.config.voters) if (id !== node.leader) replicas.push({ name: id, current: id === self && selfCurrent, active: 0, peer: peerId(id) });
  }
  // A member whose removal is not committed yet is still listed, not current (nats-server lists
  // it until its group's assignment no longer has it).
  for (const id of node.pendingConfigChange?.removed ?? []) listRemoved(replicas, id, node.leader);
  return replicas;
}

/** `id`, removed from the group (or about to be), listed among `replicas` as not current (not when listed already, or the leader). */
export function listRemoved(replicas: Array<Record<string, unknown>>, id: string, leader: string): void {
  if (id === leader || replicas.some((r) => r.name === id)) return;
  replicas.push({ name: id, current: false, active: 0, peer: peerId(id), pending: true });
}

/** A log entry: its kind byte, then `v` as JSON. */
export function kindJsonEntry(kind: number, v: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(v));
  const entry = Buffer.allocUnsafe(json.length + 1);
  entry[0] = kind;
  json.copy(entry, 1);
  return entry;
}

/** A number kept in a file (0 when the file is missing or holds no number). */
export function readNumberFile(file: string): number {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

function votersCrc(voters: readonly string[]): number {
  return crc32(Buffer.from(JSON.stringify(voters)));
}

/** A group's first membership (peers.json), with a checksum: a flipped bit is found, never trusted. */
export function writePeersFile(file: string, voters: readonly string[]): void {
  // Durable before the group starts on it: lost to a power cut, a member would wait for a
  // leader that never comes when every member lost it (the whole cluster's power), or take a
  // damaged copy for the only one (found by the random fault schedules, seeds 20 and 21).
  writeFileAtomic(file, JSON.stringify({ voters, crc: votersCrc(voters) }), true);
}

/**
 * The voters a membership file names; undefined when it is missing or damaged (not JSON, a
 * checksum that does not match, names repeated or not names). A file written before the
 * checksum is taken when well formed.
 */
export function readPeersFile(file: string): string[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const { voters, crc } = v as { voters?: unknown; crc?: unknown };
  if (!Array.isArray(voters) || !voters.every((n) => typeof n === "string" && n !== "") || new Set(voters).size !== voters.length) return undefined;
  if (crc !== undefined && crc !== votersCrc(voters as string[])) return undefined;
  return voters as string[];
}

/** An API answer (JSON) with `cluster` replaced; an error answer (or one that does not decode) as it was. */
export function withCluster(answer: string, cluster: Record<string, unknown>): string {
  try {
    const a = JSON.parse(answer) as Record<string, unknown>;
    if (a.error !== undefined) return answer;
    return JSON.stringify({ ...a, cluster });
  } catch {
    return answer;
  }
}

/** `cluster` of an asset's group before it has one of its own (nats-server's ClusterInfo: the system account carries its traffic). */
export function bareClusterJson(cluster: string, group: string): Record<string, unknown> {
  return { name: cluster, raft_group: group, system_account: true, traffic_account: "$SYS" };
}

/**
 * `cluster` of the answer to a scale-up from one replica, as nats-server 2.15 answers it: the
 * new group has no leader yet, the server holding the asset is its only member so far, and
 * `desired` names the servers it goes to (that one first).
 */
export function scaleUpClusterJson(cluster: string, group: string, holder: string, peers: readonly string[], created: string, origin?: unknown): Record<string, unknown> {
  const desired: Record<string, unknown> = { created, name: cluster, replicas: peers.map((p) => ({ name: p, peer: peerId(p) })) };
  if (origin !== undefined) desired.origin = origin;
  return { ...bareClusterJson(cluster, group), replicas: [{ name: holder, current: true, active: 0, peer: peerId(holder) }], desired };
}

/**
 * `members` of a group in the order its leader (`node`, on server `self`) keeps them when the
 * group shrinks, most preferable first, as nats-server's sortScaleDownPeers: itself; then the
 * `live` ones; then those silent on a server a route leads to (frozen, cut off from the group);
 * those on a server no route leads to last; current before not, fewest entries behind first,
 * within each. A member goes in the reverse order.
 */
export function keepOrder(node: RaftNode, self: string, members: readonly string[], live: (id: string) => boolean, reachable: (server: string) => boolean): string[] {
  const status = new Map(node.peerStatus().map((p) => [p.id, p]));
  const rank = (id: string): [number, number, number] => {
    if (id === self) return [0, 0, 0];
    const p = status.get(id);
    return [!reachable(id) ? 3 : live(id) ? 1 : 2, p?.current === true ? 0 : 1, p?.lag ?? 0];
  };
  const ranks = new Map(members.map((m) => [m, rank(m)]));
  return [...members].sort((a, b) => {
    const ra = ranks.get(a) as [number, number, number];
    const rb = ranks.get(b) as [number, number, number];
    return ra[0] - rb[0] || ra[1] - rb[1] || ra[2] - rb[2];
  });
}

/**
 * Which members are live, for a leader about to shrink its group (pick the servers a scale-down
 * keeps, remove a member): those that answered it since it started looking (`since`, at the
 * first ask after a reset). Waits until each member on a server a route leads to answered, or
 * `waitMs` (a few heartbeats) passed: a member frozen or cut off a moment ago still counts
 * current for an election timeout (and its route stays up), and kept or left in the group in
 * place of a live one it leaves the group short of its quorum. A server stopped drops its
 * routes: not waited for.
 */
export class LiveMembers {
  private since = 0;

  constructor(
    private readonly node: RaftNode,
    private readonly self: string,
    private readonly waitMs: number,
    private readonly reachable: (server: string) => boolean,
  ) {}

  /** `members` in the order the group keeps them (keepOrder), once it is known who is live; undefined while waiting. */
  keepOrder(members: readonly string[]): string[] | undefined {
    const now = Date.now();
    if (this.since === 0) this.since = now;
    const waited = now - this.since;
    const lastSeen = new Map(this.node.peerStatus().map((p) => [p.id, p.lastSeenMs]));
    const answered = (id: string): boolean => {
      const ms = lastSeen.get(id);
      return ms !== undefined && ms >= 0 && ms <= waited;
    };
    if (waited < this.waitMs && !members.every((id) => id === this.self || !this.reachable(id) || answered(id))) return undefined;
    return keepOrder(this.node, this.self, members, answered, this.reachable);
  }

  /** Looked at afresh next time (after a membership change, once nothing is to change). */
  reset(): void {
    this.since = 0;
  }
}

/** The same servers, in any order. */
export function sameServers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((p) => b.includes(p));
}

/** What a group's leader knows of its membership while it moves or scales. */
export interface MembershipStatus {
  /** The group's voters (as of its last membership change, committed or not). */
  voters: readonly string[];
  /** Servers it goes to that are not members yet. */
  pending: readonly string[];
  learners: number;
  /** The membership change appended and not committed yet (RaftNode.pendingConfigChange). */
  change: { voters: string[]; removed: string[] } | undefined;
  /** Its servers all in, a scale-up waits for the meta group to hear it. */
  reporting?: boolean;
  /** A scale-down that has removed no member yet: its leader picks the one to go next. */
  selecting?: boolean;
  /** Scaling down, the consumer whose group still has a server the stream leaves (the stream waits for it). */
  blockedBy?: string;
}

/**
 * What the group's leader waits for, in nats-server 2.15's words (`desired.status`, its
 * migration status): a removal or a promotion to commit, new members to catch up, else the
 * peer set to settle (the meta group to record it, the next step to start).
 */
export function migrationStatus(s: MembershipStatus): { description: string; type: string } {
  if (s.change !== undefined && s.change.removed.length > 0) return { description: `removing peer ${s.change.removed[0]}`, type: "membership" };
  if (s.change !== undefined && s.change.voters.length > 0) return { description: `adding peer ${s.change.voters[0]}`, type: "membership" };
  if (s.pending.length > 0 || s.learners > 0) return { description: "waiting for peer to catch up before adding it", type: "catchup" };
  if (s.blockedBy !== undefined) return { description: `waiting for consumer '${s.blockedBy}' to migrate`, type: "blocked" };
  if (s.selecting === true) return { description: "selecting peers to scale down to", type: "meta" };
  if (s.reporting === true) return { description: "reporting membership to meta leader", type: "meta" };
  return { description: "waiting for peer set to settle", type: "meta" };
}
