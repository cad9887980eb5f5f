// Desired state: how a nats-server 2.15 meta leader scales (and moves) a RAFT group, for a tsnats
// member leading the meta group (nrg_meta_leader.ts). Pure: group in, group out.
//
// nats-server 2.15.1 no longer rewrites a group's peers at the update. The update's assignment
// keeps the group as it is and adds `desired` (the target peers, an id, the time, the peers
// that were members, the origin to roll back to; a scale-down first only marks `scale_down`
// with every current peer as candidates). The group's leader then drives the change itself and
// asks the meta leader for each next step on `$SYS.JSC.STREAM.ASSIGNMENT.RECONCILE` (consumers:
// `$SYS.JSC.CONSUMER.ASSIGNMENT.RECONCILE`) with the id it holds and its term: first to record
// its term (a new id), then for a scale-down the peers it keeps, then the group's peers as they
// are now (`meta_peers`), and at last, with `match`, to clear the desired state. Every answer
// is a proposed update with a new id, so a leader never acts twice on one step. What each step
// looks like was captured from 2.15.1 (test/nrg_meta_leader_scale.test.ts): `members` (the
// peers that were members, narrowed to the peers at each step, with those the leader names as
// members; a change of them alone is a step too), `scale_up` dropped again when
// the desired state is cleared, a single-server group renamed when it is the target or the result.
import { randomBytes } from "node:crypto";
import { nowNs, rfc3339 } from "../server/time.js";
import type { NrgRaftGroup } from "../jetstream/nrg_entries.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `group.desired` as nats-server 2.15.1 writes it. */
export interface NrgDesired {
  created: string;
  id: string;
  term?: number;
  peers: string[];
  cluster?: string;
  preferred?: string;
  scale_down?: boolean;
  move?: boolean;
  members?: string[];
  removed?: string[];
  origin?: { peers: string[]; cluster?: string; replicas: number; placement?: unknown; retention?: string };
}

/** A reconcile request a group's leader sends the meta leader (streamAssignmentReconcile / consumerAssignmentReconcile). */
export interface NrgReconcile {
  account: string;
  stream: string;
  consumer?: string;
  id?: string;
  term: number;
  scale_down_peers?: string[];
  meta_peers?: string[];
  members?: string[];
  match?: boolean;
}

const RECONCILE_FIELDS = new Set(["account", "stream", "id", "term", "scale_down_peers", "meta_peers", "members", "match"]);

function strings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

/**
 * A reconcile request's body, or undefined for one nats-server would not decode (it refuses
 * unknown fields and wrong types, and acts on nothing then).
 */
export function parseReconcile(body: Buffer, consumer: boolean): NrgReconcile | undefined {
  let j: unknown;
  try {
    j = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof j !== "object" || j === null || Array.isArray(j)) return undefined;
  const r = j as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!RECONCILE_FIELDS.has(k) && !(consumer && k === "consumer")) return undefined;
  if (typeof r.account !== "string" || typeof r.stream !== "string" || (consumer && typeof r.consumer !== "string")) return undefined;
  if (r.id !== undefined && typeof r.id !== "string") return undefined;
  if (typeof r.term !== "number" || !Number.isSafeInteger(r.term) || r.term < 0) return undefined;
  for (const k of ["scale_down_peers", "meta_peers", "members"]) if (r[k] !== undefined && r[k] !== null && !strings(r[k])) return undefined;
  if (r.match !== undefined && typeof r.match !== "boolean") return undefined;
  return r as unknown as NrgReconcile;
}

/** A fresh desired-state id (nats-server uses a NUID: 22 base-62 characters). */
export function desiredId(): string {
  const bytes = randomBytes(22);
  let s = "";
  for (const b of bytes) s += BASE62[b % BASE62.length];
  return s;
}

export function desiredOf(group: NrgRaftGroup): NrgDesired | undefined {
  const d = group.desired as NrgDesired | undefined;
  return typeof d === "object" && d !== null ? d : undefined;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}

/** A deep copy (assignments are shared with the meta state, which must not change before the entry commits). */
function copy(group: NrgRaftGroup): NrgRaftGroup {
  return JSON.parse(JSON.stringify(group)) as NrgRaftGroup;
}

/**
 * `base` (the group as assigned, its preferred member kept) with `target` as its desired state:
 * a new id and time; the current member of a one-server group preferred (it has the data), else
 * the target's preferred member if it stays; what an earlier desired
 * state recorded (its term, move, origin, members, peers removed by an operator) kept.
 */
function withDesired(base: NrgRaftGroup, target: { name: string; peers: string[]; cluster?: string; preferred?: string }): NrgRaftGroup {
  const old = desiredOf(base);
  let preferred = target.preferred;
  if (base.peers.length === 1) preferred = base.peers[0];
  else if (preferred !== undefined && !target.peers.includes(preferred)) preferred = undefined;
  const { desired: _old, ...rest } = copy(base);
  const removed = (old?.removed ?? []).filter((p) => !target.peers.includes(p));
  const desired: NrgDesired = {
    created: rfc3339(nowNs()),
    id: desiredId(),
    ...(old?.term !== undefined ? { term: old.term } : {}),
    peers: [...target.peers],
    ...(target.cluster !== undefined ? { cluster: target.cluster } : {}),
    ...(preferred !== undefined ? { preferred } : {}),
    ...(old?.move === true ? { move: true } : {}),
    members: [...(old?.members ?? base.peers)],
    ...(removed.length > 0 ? { removed } : {}),
    ...(old?.origin !== undefined ? { origin: JSON.parse(JSON.stringify(old.origin)) as NrgDesired["origin"] } : {}),
  };
  // A finished scale-up's mark goes with the next change (the members it named caught up).
  if (old === undefined) delete rest.scale_up;
  return { ...rest, name: target.name, desired };
}

/** The origin a rollback would return to, recorded by the first desired state only. */
function withOrigin(group: NrgRaftGroup, before: NrgRaftGroup, replicas: number, placement: unknown): NrgRaftGroup {
  const d = desiredOf(group);
  if (d === undefined || d.origin !== undefined) return group;
  const prior = desiredOf(before);
  d.origin = { peers: [...(prior?.peers ?? before.peers)], ...(before.cluster !== undefined ? { cluster: before.cluster } : {}), replicas, ...(placement !== undefined && placement !== null ? { placement } : {}) };
  return group;
}

/**
 * The group a replica change proposes (jsClusteredStreamUpdateRequest): up to `added` peers
 * (the current ones first; a one-server group gets a new name for its new size, `rename`), or
 * down, marked `scale_down` over the current peers (the leader picks the ones it keeps).
 * `replicas` and `placement`: the configuration before the update (the origin).
 */
export function scaledGroup(group: NrgRaftGroup, scaleUpPeers: string[] | undefined, rename: () => string, replicas: number, placement: unknown): NrgRaftGroup {
  const current = desiredOf(group)?.peers ?? group.peers;
  const name = scaleUpPeers !== undefined && group.peers.length === 1 && desiredOf(group) === undefined ? rename() : group.name;
  const next = withDesired(group, { name, peers: scaleUpPeers ?? current, cluster: group.cluster, preferred: current.length === 1 ? current[0] : group.preferred });
  const d = desiredOf(next) as NrgDesired;
  if (scaleUpPeers === undefined) d.scale_down = true;
  else delete d.scale_down;
  return withOrigin(next, group, replicas, placement);
}

/**
 * The group a move proposes (jsClusteredStreamUpdateRequest with another placement): `placed`,
 * chosen as a create places a new group, as the desired peers, marked `move`, the group's name
 * kept. `replicas` and `placement`: the configuration before the update (the origin).
 */
export function movedGroup(group: NrgRaftGroup, placed: string[], replicas: number, placement: unknown): NrgRaftGroup {
  const next = withDesired(group, { name: group.name, peers: placed, cluster: group.cluster });
  (desiredOf(next) as NrgDesired).move = true;
  return withOrigin(next, group, replicas, placement);
}

/**
 * The group a peer removal proposes (STREAM.PEER.REMOVE, reassignStreamPeers with remove): the
 * peers (none: the group only grown to its replicas) out of the group at once and recorded under `removed`, `placed` (the remaining target
 * peers with a replacement, as far as placement found one) as the desired peers, the members
 * those left; no origin (nothing to roll back to). Undefined when no desired peer is left.
 */
export function peerRemovedGroup(group: NrgRaftGroup, removed: string[], placed: string[]): NrgRaftGroup | undefined {
  const gone = (p: string): boolean => removed.includes(p);
  const next = withDesired(group, { name: group.name, peers: placed.filter((p) => !gone(p)), cluster: desiredOf(group)?.cluster ?? group.cluster, preferred: desiredOf(group)?.preferred ?? group.preferred });
  const d = desiredOf(next) as NrgDesired;
  const old = desiredOf(group);
  if (old?.scale_down === true) d.scale_down = true;
  next.peers = next.peers.filter((p) => !gone(p));
  d.members = (d.members ?? []).filter((p) => !gone(p));
  for (const peer of removed) if (!d.peers.includes(peer) && !(d.removed ?? []).includes(peer)) d.removed = [...(d.removed ?? []), peer];
  const member = (p: string): boolean => next.peers.includes(p) || d.peers.includes(p);
  if (next.preferred !== undefined && !member(next.preferred)) delete next.preferred;
  if (d.preferred !== undefined && !member(d.preferred)) delete d.preferred;
  if (d.peers.length === 0) return undefined;
  if (next.peers.length === 0) {
    // No peer left: straight to the placed ones, its members then (2.15.1; test/nrg_meta_leader_server_remove_r1.test.ts).
    next.peers = [...d.peers];
    d.members = [...d.peers];
  }
  return next;
}

/**
 * A consumer's group when an update changes its replicas (jsClusteredConsumerRequest): up to
 * `added` (its peers first, then others of its stream's; a one-server group renamed, `rename`)
 * or down, marked `scale_down` over its current peers; no origin (a consumer records none).
 */
export function consumerScaledGroup(group: NrgRaftGroup, added: string[] | undefined, rename: () => string): NrgRaftGroup {
  const name = added !== undefined && group.peers.length === 1 && desiredOf(group) === undefined ? rename() : group.name;
  const next = withDesired(group, { name, peers: added ?? [...group.peers], cluster: group.cluster, preferred: group.preferred });
  if (added === undefined) (desiredOf(next) as NrgDesired).scale_down = true;
  return next;
}

/** The peers a scale-up keeps: the current (or already desired) ones. */
export function currentPeers(group: NrgRaftGroup): string[] {
  return [...(desiredOf(group)?.peers ?? group.peers)];
}

/** Whether a move is under way (a desired state marked move). */
export function moveInFlight(group: NrgRaftGroup): boolean {
  return desiredOf(group)?.move === true;
}

/**
 * The next group for a leader's reconcile request (raftGroup.reconcileDesiredState), or
 * undefined when the request changes nothing (stale term, another id, nothing asked, the peers
 * as they are). `replicas`: the configured replicas; `done`: whatever else must finish first
 * (the consumers following their stream) has. A group that ends on one server alone, with no
 * desired state, gets a name for one replica (`rename`).
 */
export function reconcileGroup(group: NrgRaftGroup, req: NrgReconcile, replicas: number, done: boolean, rename: () => string): NrgRaftGroup | undefined {
  const next = reconcileStep(group, req, replicas, done);
  if (next !== undefined && desiredOf(next) === undefined && next.peers.length === 1) next.name = rename();
  return next;
}

function reconcileStep(group: NrgRaftGroup, req: NrgReconcile, replicas: number, done: boolean): NrgRaftGroup | undefined {
  const scaleDownPeers = req.scale_down_peers ?? undefined;
  const metaPeers = req.meta_peers ?? undefined;
  if (scaleDownPeers !== undefined && metaPeers !== undefined) return undefined;
  const d = desiredOf(group);
  if (d === undefined) {
    // The leader asks for desired state it has not got yet (a group older than the desired state): recorded at its peers.
    if (req.id !== undefined && req.id !== "") return undefined;
    const legacyMove = group.peers.length > replicas;
    const next = withDesired(group, { name: group.name, peers: legacyMove ? group.peers.slice(group.peers.length - replicas) : [...group.peers], cluster: group.cluster, preferred: group.preferred });
    const nd = desiredOf(next) as NrgDesired;
    nd.term = req.term;
    if (legacyMove) nd.move = true;
    return next;
  }
  if (req.term < (d.term ?? 0)) return undefined;
  if (d.id === "" || d.id !== req.id) return undefined;
  const next = copy(group);
  const nd = desiredOf(next) as NrgDesired;
  // A new leadership term is recorded first; its leader waits for it before the next step.
  if ((d.term ?? 0) === 0 || req.term > (d.term ?? 0)) {
    nd.id = desiredId();
    nd.term = req.term;
    return next;
  }
  if (d.scale_down === true) {
    if (scaleDownPeers === undefined || !scaleDownPeers.every((p) => d.peers.includes(p))) return undefined;
    nd.id = desiredId();
    delete nd.scale_down;
    nd.peers = [...scaleDownPeers];
    return next;
  }
  if (metaPeers === undefined) return undefined;
  const previous = group.peers;
  next.peers = [...metaPeers];
  if (sameSet(d.peers, metaPeers) && req.match === true && done) {
    // Converged: the desired peers in their order, no preference, no desired state, no scale-up mark.
    next.peers = [...d.peers];
    if (d.cluster !== undefined) next.cluster = d.cluster;
    delete next.preferred;
    delete next.desired;
    delete next.scale_up;
    if (next.peers.length >= replicas) delete next.excluded;
    return next;
  }
  // The members: those recorded that are still peers, and those the leader names (caught up).
  const members = (d.members ?? previous).filter((p) => metaPeers.includes(p));
  for (const p of req.members ?? []) if (metaPeers.includes(p) && !members.includes(p)) members.push(p);
  if (sameSet(metaPeers, previous) && sameSet(members, d.members ?? previous)) return undefined;
  if (metaPeers.some((p) => !previous.includes(p))) next.scale_up = true;
  nd.members = members;
  nd.id = desiredId();
  return next;
}

/** The peers a stream and its consumers end on (streamAssignment.targetPeers): the desired ones once known. */
export function targetPeers(group: NrgRaftGroup, replicas: number): string[] {
  const d = desiredOf(group);
  if (d !== undefined) return d.scale_down === true ? [...group.peers] : [...d.peers];
  return group.peers.length > replicas ? group.peers.slice(group.peers.length - replicas) : [...group.peers];
}

/**
 * A retention change through desired state (2.15.1's withRetentionChange), `next` being the
 * update's group and `before` the assignment's: a replicated group without desired state gets
 * one at its peers, and the origin records the retention it runs at until the desired state is
 * reached (moving into interest or work queue needs the consumers at the stream's replicas
 * first); into limits none (it applies at once, the desired state only brings the consumers
 * back down). A one-server group without desired state changes at once.
 */
export function retentionChangedGroup(next: NrgRaftGroup, before: NrgRaftGroup, oldRetention: string, newRetention: string, replicas: number, placement: unknown): NrgRaftGroup {
  if (newRetention === oldRetention) return next;
  let group = next;
  if (desiredOf(group) === undefined) {
    if (group.peers.length === 1) return group;
    group = withDesired(group, { name: group.name, peers: [...group.peers], cluster: group.cluster, preferred: group.preferred });
  }
  group = withOrigin(group, before, replicas, placement);
  const origin = (desiredOf(group) as NrgDesired).origin as NonNullable<NrgDesired["origin"]>;
  if (newRetention === "limits") {
    delete origin.retention;
    return group;
  }
  if (desiredOf(before)?.origin?.retention !== undefined) return group;
  origin.retention = oldRetention;
  return group;
}

/** The retention a stream runs at (2.15.1's atDesiredOrigin): its desired state's origin's while one is recorded, else its config's. */
export function runningRetention(config: Record<string, unknown>, group: NrgRaftGroup): string {
  return desiredOf(group)?.origin?.retention ?? (typeof config.retention === "string" ? config.retention : "limits");
}

/** A consumer's replicas on its stream (ConsumerConfig.replicas): its own, else the stream's; an interest or work-queue stream's always. */
export function consumerReplicas(config: Record<string, unknown>, stream: Record<string, unknown>): number {
  const streamReplicas = Number(stream.num_replicas ?? 1);
  const own = Number(config.num_replicas ?? 0);
  if ((stream.retention ?? "limits") !== "limits" || own <= 0) return streamReplicas;
  return own;
}

/** The items in a random order. */
export function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A consumer following its stream's desired state (remapConsumerAssignments, at each reconcile
 * request of the stream's leader once its target peers are known, and when a peer is removed
 * from the stream): its peers kept where the stream ends, filled up from the stream's target
 * peers to its replicas (or cut), through a desired state of its own when the stream has one
 * (its leader then asks on `$SYS.JSC.CONSUMER.ASSIGNMENT.RECONCILE`), a one-server group
 * renamed (`rename(size)`). Undefined when the consumer is already where it belongs; "delete"
 * for an ephemeral consumer whose every peer left the stream (nats-server 2.15.1 removes it; a
 * durable one goes straight to its new peers, which its desired state names as `members`).
 */
export function remapConsumer(stream: { group: NrgRaftGroup; config: Record<string, unknown> }, consumer: { group: NrgRaftGroup; config: Record<string, unknown> }, rename: (size: number) => string): { group: NrgRaftGroup; config: Record<string, unknown> } | "delete" | undefined {
  const target = targetPeers(stream.group, Number(stream.config.num_replicas ?? 1));
  const own = desiredOf(consumer.group);
  const peers = own?.peers ?? consumer.group.peers;
  const r = consumerReplicas(consumer.config, stream.config);
  const keptPeers = peers.filter((p) => target.includes(p));
  const kept = keptPeers.length;
  const size = kept < r ? Math.min(r, Math.max(kept, target.length)) : r;
  const streamRemoved = desiredOf(stream.group)?.removed ?? [];
  // A peer removed from the stream that the consumer still has (and has not recorded as removed) moves it too.
  const removals = consumer.group.peers.some((p) => streamRemoved.includes(p) && !(own?.removed ?? []).includes(p));
  if (kept === peers.length && kept === size && !removals) return undefined;
  const next = [...keptPeers];
  for (const p of shuffled(target)) if (next.length < r && !next.includes(p)) next.push(p);
  next.splice(r);
  const preferred = peers.length === 1 && kept === 1 && next.length > 1 ? peers[0] : undefined;
  const name = consumer.group.peers.length === 1 && own === undefined ? rename(next.length) : consumer.group.name;
  const config = Number(consumer.config.num_replicas ?? 0) !== 0 ? { ...consumer.config, num_replicas: r } : consumer.config;
  if (desiredOf(stream.group) === undefined) {
    const { preferred: _old, ...rest } = copy(consumer.group);
    return { group: { ...rest, name, peers: next, ...(preferred !== undefined ? { preferred } : {}) }, config };
  }
  const group = withDesired(consumer.group, { name, peers: next, cluster: consumer.group.cluster, preferred });
  // Peers the stream no longer has go at once; the consumer's leader adds the new ones.
  const dropped = group.peers.filter((p) => !stream.group.peers.includes(p));
  if (dropped.length > 0) {
    group.peers = group.peers.filter((p) => stream.group.peers.includes(p));
    const d = desiredOf(group) as NrgDesired;
    d.removed = [...(d.removed ?? []), ...dropped.filter((p) => !(d.removed ?? []).includes(p) && !d.peers.includes(p))];
    if (d.removed.length === 0) delete d.removed;
    // 2.15.1 names as members only the peers the consumer still has (captured in test/nrg_meta_leader_server_remove.test.ts).
    d.members = (d.members ?? []).filter((p) => !dropped.includes(p));
  }
  if (group.peers.length === 0) {
    if (typeof consumer.config.durable_name !== "string" || consumer.config.durable_name === "") return "delete";
    group.peers = [...next];
    // Its members are the peers it jumped to (2.15.1, test/nrg_meta_leader_peer_remove_consumers.test.ts):
    // with none named, its new leader would wait for members that never come.
    (desiredOf(group) as NrgDesired).members = [...next];
  }
  return { group, config };
}
