// Test helper: the meta group's committed-or-not entries as a nats-server (or T3) meta leader
// sends them, read by a system account client from `$NRG.AE._meta_` (every append is routed to
// the subscriber's server), decoded, each log index once.
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeNrgAppendEntry, type NrgEntry } from "../../src/cluster/nrg_wire.js";
import { decodeNrgMetaEntry, type NrgMetaEntry } from "../../src/jetstream/nrg_entries.js";
import { waitUntil } from "./js_cluster_move.js";

/** Call `onRaw` with each entry of the meta log as its leader appends it (by term, index and place in its append, once), with the leader's peer id. */
export function onMetaAppends(sys: NatsConnection, onRaw: (entry: NrgEntry, leader: string) => void): void {
  const seen = new Set<string>();
  sys.subscribe("$NRG.AE._meta_", {
    callback: (_e, m) => {
      let ae;
      try {
        ae = decodeNrgAppendEntry(Buffer.from(m.data));
      } catch {
        return;
      }
      // One append is one log index whatever its entries (raft.go), so an entry is known by the
      // append's index and its place in it (a T3 meta leader sends several proposals in one append).
      ae.entries.forEach((e, i) => {
        const key = `${ae.term}/${ae.prevIndex + 1}/${i}`;
        if (seen.has(key)) return;
        seen.add(key);
        onRaw(e, ae.leader);
      });
    },
  });
}

/** Call `onEntry` with each meta entry the leader appends (by term and index, once; what does not decode is left out), and the leader's peer id. */
export function onMetaEntries(sys: NatsConnection, onEntry: (entry: NrgMetaEntry, leader: string) => void): void {
  onMetaAppends(sys, (e, leader) => {
    let entry;
    try {
      entry = decodeNrgMetaEntry(e);
    } catch {
      return;
    }
    onEntry(entry, leader);
  });
}

/** A stream's meta entries with peer ids as server names, desired state's ids and times left out. */
export function captureStreamSteps(sys: NatsConnection, stream: string, names: Map<string, string>): Record<string, unknown>[] {
  const steps: Record<string, unknown>[] = [];
  const named = (ids: unknown): unknown => (Array.isArray(ids) ? ids.map((id) => names.get(id as string) ?? id) : ids === undefined ? undefined : (names.get(ids as string) ?? ids));
  onMetaEntries(sys, (entry) => {
    if ((entry.op !== "updateStream" && entry.op !== "assignStream") || entry.assignment.config.name !== stream) return;
    const g = entry.assignment.group;
    const d = g.desired as Record<string, unknown> | undefined;
    const origin = d?.origin as Record<string, unknown> | undefined;
    steps.push({
      op: entry.op,
      name: g.name.slice(0, 5),
      peers: named(g.peers),
      ...(g.scale_up === true ? { scaleUp: true } : {}),
      ...(d !== undefined
        ? { desired: { peers: named(d.peers), term: d.term !== undefined, move: d.move, preferred: named(d.preferred), members: named(d.members), removed: named(d.removed), origin: origin === undefined ? undefined : { ...origin, peers: named(origin.peers) }, keys: Object.keys(d).sort() } }
        : {}),
    });
  });
  return steps;
}

/**
 * Where the removal takes a group and where it ends: its first step with a peer under desired
 * `removed` and its last step, by peers, desired peers, removed peers and members (the steps
 * between depend on when its leader sees the new peers caught up: the term it records and its
 * reports of members add a step or not).
 */
export function removalEnds(steps: Record<string, unknown>[]): Record<string, unknown>[] {
  const sorted = (ids: unknown): unknown => (Array.isArray(ids) ? [...(ids as string[])].sort() : ids);
  const view = ({ op, desired, peers, scaleUp: _scaleUp }: Record<string, unknown>): Record<string, unknown> => {
    const d = desired as { peers?: unknown; removed?: unknown; members?: unknown } | undefined;
    return { op, peers: sorted(peers), desired: sorted(d?.peers), removed: d?.removed, members: sorted(d?.members) };
  };
  const removal = steps.findIndex((x) => (x.desired as { removed?: unknown } | undefined)?.removed !== undefined);
  if (removal < 0) return steps.map(view);
  // The last step's entry kind is left out: once under T3 it was an assignStream (same peers, no
  // desired state) after the leader's last step, where N1 writes updateStream (nrg.md).
  const { op: _op, ...last } = view(steps[steps.length - 1]);
  return [view(steps[removal]), last];
}

/**
 * Once, `afterMs` after the first call: each of `streams` updated with its own config (through
 * `nc`, to whoever leads the meta group). A 2.15.1 stream leader in desired state sometimes asks
 * the meta leader no more (seen under N1 and under T3 as meta leader; nrg.md): an update of the
 * same config makes it look again. True once it was sent.
 */
export function nudgeOnce(nc: NatsConnection, streams: string[], afterMs: number): () => Promise<boolean> {
  let since: number | undefined;
  let sent = false;
  return async () => {
    since ??= Date.now();
    if (sent || Date.now() - since < afterMs) return sent;
    sent = true;
    for (const stream of streams) {
      const info = await nc
        .request(`$JS.API.STREAM.INFO.${stream}`, "", { timeout: 10_000 })
        .then((m) => m.json<{ config?: unknown }>())
        .catch(() => undefined);
      if (info?.config !== undefined) await nc.request(`$JS.API.STREAM.UPDATE.${stream}`, JSON.stringify(info.config), { timeout: 10_000 }).catch(() => undefined);
    }
    return sent;
  };
}

/** A consumer's assignments as the meta leader proposes them: op, peers and desired peers by name, `removed`. */
export function captureConsumerSteps(sys: NatsConnection, stream: string, consumer: string, names: Map<string, string>): Record<string, unknown>[] {
  const named = (ids: unknown): unknown => (Array.isArray(ids) ? (ids as string[]).map((id) => names.get(id) ?? id).sort() : ids);
  const steps: Record<string, unknown>[] = [];
  onMetaEntries(sys, (entry) => {
    if ((entry.op !== "assignConsumer" && entry.op !== "removeConsumer") || entry.assignment.stream !== stream || entry.assignment.name !== consumer) return;
    const g = entry.assignment.group;
    const d = g.desired as { peers?: string[]; removed?: string[]; members?: string[] } | undefined;
    steps.push({ op: entry.op, peers: named(g.peers), ...(d !== undefined ? { desired: { peers: named(d.peers), removed: named(d.removed), members: named(d.members) } } : {}) });
  });
  return steps;
}

/** Until `stream`'s info names N2 its leader and its captured steps end on N2 alone with no desired state (a move to N2). */
export async function waitMovedToN2(nc: NatsConnection, stream: string, steps: Record<string, unknown>[]): Promise<void> {
  let now: { cluster?: { leader?: string } } = {};
  await waitUntil(
    async () => {
      now = await nc
        .request(`$JS.API.STREAM.INFO.${stream}`, "", { timeout: 10_000 })
        .then((m) => m.json<{ cluster?: { leader?: string } }>())
        .catch(() => ({}));
      const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      return now.cluster?.leader === "N2" && last?.desired === undefined && JSON.stringify(last?.peers) === '["N2"]';
    },
    60_000,
    `${stream} moved to N2`,
    () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-3) }),
  );
}
