// What a stream group's leader does next to bring its group to the assignment's desired state
// (nats-server 2.15's runStreamMigration, run by the leader about once a second), for a tsnats
// member leading a group no nats-server member can take over: an R1 stream it held alone that
// a scale-up or move gives a RAFT group (2.15.1's holder creates one with itself as its only
// member, then grows it), or a group it survived alone whose desired state adds a replacement.
// Pure: the group's state in, one step out; the stream peer (nrg_stream_peer.ts) sends the
// reconcile request, proposes the membership change or steps down.
//
// The order is nats-server's: the leader's term recorded in the desired state first (a request
// without `meta_peers`), then nothing while a membership change is uncommitted, then the peers
// no longer assigned (or out of the meta group) removed one at a time, then the assigned peers
// that are desired but not members added one at a time (AddPeer; the one heard from last, or
// any while the members heard from stay a quorum of the grown group), then for a scale-down the
// peers kept, then the assignment expanded to the desired peers (`meta_peers`: the assigned
// ones and the missing desired ones), then, once the membership equals the assignment, the
// peers not desired removed one at a time (the leader last, by stepping down to a desired
// member first; only while a quorum stays current and no consumer of the stream still has a
// peer outside the desired ones), and at last the peers reported matched, which clears the
// desired state.
import type { NrgDesired } from "./nrg_meta_desired.js";

/** nats-server's hbInterval * 3: a peer heard from within it counts as live when adding one. */
export const HEARD_WITHIN_MS = 3_000;

export interface NrgMigrationView {
  self: string;
  /** The leader's term. */
  term: number;
  desired: NrgDesired | undefined;
  /** The assignment's peers. */
  assigned: string[];
  /** The group's membership as this leader's log says (itself included). */
  members: string[];
  /** The meta group's peers. */
  metaPeers: string[];
  /** A membership entry stored and not committed yet. */
  membershipChanging: boolean;
  /** The configured replicas. */
  replicas: number;
  /** A follower's state: when it last answered (ms ago, undefined: never this term) and whether it stored everything committed. */
  follower(peer: string): { lastSeenMs: number | undefined; current: boolean; lag: number };
  /** A consumer of the stream with a peer outside `peers`, by name (a removal waits for it). */
  blockedBy(peers: string[]): string | undefined;
  /**
   * A consumer's group: its stream's peers (runConsumerMigration adds a peer only where the
   * stream is hosted, and removes peers without the stream's quorum and consumer checks).
   */
  streamPeers?: string[];
}

export interface NrgReconcileRequest {
  id: string;
  term: number;
  scale_down_peers?: string[];
  meta_peers?: string[];
  match?: boolean;
}

export type NrgMigrationStep =
  | { kind: "reconcile"; request: NrgReconcileRequest; status: string }
  | { kind: "addPeer"; peer: string; status: string }
  | { kind: "removePeer"; peer: string; status: string }
  | { kind: "stepDown"; preferred: string | undefined; status: string }
  | { kind: "wait"; status: string };

/**
 * Peers by how readily they go: the leader first, then live peers by lag, then peers not heard
 * from, then peers unknown to the group (nats-server's sortScaleDownPeers); the first are kept.
 */
function byKeep(v: NrgMigrationView, peers: string[]): string[] {
  const rank = (p: string): [number, number] => {
    if (p === v.self) return [0, 0];
    if (!v.members.includes(p)) return [3, 0];
    const f = v.follower(p);
    return f.lastSeenMs !== undefined && f.lastSeenMs <= HEARD_WITHIN_MS * 3 ? [1, f.lag] : [2, f.lag];
  };
  return [...peers].sort((a, b) => {
    const [ta, la] = rank(a);
    const [tb, lb] = rank(b);
    return ta !== tb ? ta - tb : la - lb;
  });
}

/** The candidate to add: the one heard from last, else the first while the live members stay a quorum of the grown group. */
function peerToAdd(v: NrgMigrationView, candidates: string[]): string | undefined {
  let add: string | undefined;
  let since = Infinity;
  for (const p of candidates) {
    const seen = v.follower(p).lastSeenMs;
    if (seen !== undefined && seen <= HEARD_WITHIN_MS && seen < since) {
      add = p;
      since = seen;
    }
  }
  if (add !== undefined) return add;
  const live = v.members.filter((p) => p === v.self || (v.follower(p).lastSeenMs ?? Infinity) <= HEARD_WITHIN_MS).length;
  return live >= Math.floor((v.members.length + 1) / 2) + 1 ? candidates[0] : undefined;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}

/** The next step toward the desired state, or undefined when there is none (no desired state). */
export function nextMigrationStep(v: NrgMigrationView): NrgMigrationStep | undefined {
  const d = v.desired;
  if (d === undefined) return undefined;
  const base = { id: d.id ?? "", term: v.term };
  if (d.id === undefined || d.id === "" || d.term !== v.term) return { kind: "reconcile", request: base, status: "requesting desired state from meta leader" };
  if (v.membershipChanging) return { kind: "wait", status: "waiting for membership change to commit" };
  const desiredPeers = d.peers;
  // Members no longer assigned, or out of the meta group: removed first, the leader last.
  const evicted = v.members.filter((p) => !v.assigned.includes(p) || !v.metaPeers.includes(p));
  if (evicted.length > 0) {
    const remove = byKeep(v, evicted).at(-1) as string;
    if (remove === v.self) return { kind: "stepDown", preferred: byKeep(v, v.members.filter((p) => p !== v.self && desiredPeers.includes(p)))[0], status: "stepping down, evicted from group" };
    return { kind: "removePeer", peer: remove, status: `removing evicted peer ${remove}` };
  }
  const candidates = v.assigned.filter((p) => !v.members.includes(p) && desiredPeers.includes(p));
  if (candidates.length > 0) {
    const add = peerToAdd(v, candidates);
    return add === undefined ? { kind: "wait", status: "waiting for quorum to add peer" } : { kind: "addPeer", peer: add, status: `adding peer ${add}` };
  }
  if (d.scale_down === true) {
    return { kind: "reconcile", request: { ...base, scale_down_peers: byKeep(v, desiredPeers).slice(0, v.replicas) }, status: "selecting peers to scale down to" };
  }
  if (desiredPeers.some((p) => !v.assigned.includes(p))) {
    if (v.streamPeers !== undefined) {
      const hosted = desiredPeers.filter((p) => !v.assigned.includes(p) && (v.streamPeers as string[]).includes(p));
      if (hosted.length === 0) return { kind: "wait", status: "waiting for stream to migrate first" };
      return { kind: "reconcile", request: { ...base, meta_peers: [...v.assigned, ...hosted] }, status: "expanding assignment with desired peers" };
    }
    return { kind: "reconcile", request: { ...base, meta_peers: [...v.assigned, ...desiredPeers.filter((p) => !v.assigned.includes(p))] }, status: "expanding assignment with desired peers" };
  }
  const exactMatch = sameSet(v.assigned, v.members);
  const remaining = v.members.filter((p) => !desiredPeers.includes(p));
  if (remaining.length > 0 && exactMatch && v.streamPeers !== undefined) {
    const remove = byKeep(v, remaining).at(-1) as string;
    if (remove === v.self) return { kind: "stepDown", preferred: undefined, status: "stepping down before removing ourselves" };
    return { kind: "removePeer", peer: remove, status: `removing peer ${remove}` };
  }
  if (remaining.length > 0 && exactMatch) {
    const blocked = v.blockedBy(desiredPeers);
    if (blocked !== undefined) return { kind: "reconcile", request: base, status: `waiting for consumer '${blocked}' to migrate` };
    const remove = byKeep(v, remaining).at(-1) as string;
    const current = (p: string): boolean => p === v.self || (v.follower(p).current && v.follower(p).lag === 0);
    const staying = v.members.filter((p) => p !== remove && current(p)).length;
    if (staying < Math.floor((v.members.length - 1) / 2) + 1) return { kind: "wait", status: "waiting for peers to catch up" };
    const currentDesired = v.members.filter((p) => current(p) && desiredPeers.includes(p));
    if (currentDesired.length > 0 && !desiredPeers.includes(v.self)) {
      if (currentDesired.length < Math.floor(desiredPeers.length / 2) + 1) return { kind: "wait", status: "waiting for desired peers to catch up" };
      const preferred = byKeep(v, currentDesired.filter((p) => p !== v.self))[0];
      if (preferred === undefined) return { kind: "wait", status: "waiting for a desired peer to step down to" };
      return { kind: "stepDown", preferred, status: `stepping down to ${preferred}` };
    }
    if (remove !== v.self) return { kind: "removePeer", peer: remove, status: `removing peer ${remove}` };
    return { kind: "stepDown", preferred: undefined, status: "stepping down before removing ourselves" };
  }
  return { kind: "reconcile", request: { ...base, meta_peers: [...v.members], ...(exactMatch ? { match: true } : {}) }, status: exactMatch ? "peers match" : "waiting for peer set to settle" };
}
