// A read-only follower of a nats-server JetStream cluster's meta group (issue 12's moonshot,
// a first step toward a tsnats server as a peer of a nats-server 2.15 cluster): with
// `cluster { nrg_follow: true }`, a server routed into such a cluster listens in its system
// account to the meta leader's append entries (`$NRG.AE._meta_`, nrg_wire.ts) and applies
// the committed ones (nrg_entries.ts) to its own picture of the cluster: who leads in which
// term, the meta group's peers, and the streams and consumers assigned. /jsz shows it as
// `nrg_meta_follow`; it listens to the followed streams' and consumers' groups too (their
// leaders, the last message sequence, delivery and acks their appends carried: every message of
// those streams reaches this server).
// It never answers: no append entry responses, no votes, no catch-up
// request, so nats-server does not count it as a peer. What it missed before it started
// (entries before the first one it saw, compacted into the leader's snapshot) it cannot know:
// `complete` says whether it has followed the log from its first index without a gap.
import type { Server, ServerService } from "../server/server.js";
import type { Subscription } from "../server/sublist.js";
import { decodeNrgAppendEntry, decodeNrgVoteRequest, nrgSubject, type NrgEntry } from "./nrg_wire.js";
import { decodeNrgMetaEntry, decodeNrgStreamEntry, decodeNrgConsumerEntry, type NrgConsumerAssignment, type NrgMetaSnapshotStream, type NrgRaftGroup, type NrgStreamAssignment } from "../jetstream/nrg_entries.js";
import { shortHash } from "../jetstream/util.js";
import { seedFromJsz, type Seed } from "./nrg_follow_seed.js";
import type { PeerListener } from "./cluster.js";

const META_GROUP = "_meta_";

interface FollowedStream {
  account: string;
  name: string;
  config: Record<string, unknown>;
  group: NrgRaftGroup;
  created: string;
}

interface FollowedConsumer {
  account: string;
  stream: string;
  name: string;
  config: Record<string, unknown>;
  group: NrgRaftGroup;
  created: string;
}

function accountOf(client: Record<string, unknown> | undefined): string {
  const svc = client?.svc;
  const acc = client?.acc;
  return typeof svc === "string" && svc !== "" ? svc : typeof acc === "string" && acc !== "" ? acc : "$G";
}

export class NrgMetaFollower implements ServerService {
  readonly name = "nrg-follow";
  private subs: Subscription[] = [];
  /** RAFT peer id → server name, from the routes' INFO (the id is the hash of the name). */
  private readonly names = new Map<string, string>();
  private term = 0;
  private leaderId = "";
  private commit = 0;
  /** The last index applied; undefined until the first append with entries arrives. */
  private applied: number | undefined;
  private firstIndex: number | undefined;
  /** Entries received but not yet committed, by log index (one append entry = one index). */
  private readonly pending = new Map<number, NrgEntry[]>();
  private readonly peers = new Set<string>();
  private readonly streams = new Map<string, FollowedStream>();
  private readonly consumers = new Map<string, FollowedConsumer>();
  /**
   * The RAFT groups of the followed streams, listened to as well: who leads each and the last
   * message sequence its appends carried (R1 streams of nats-server 2.11+ run no group).
   */
  private readonly streamGroups = new Map<string, { sub: Subscription; leaderId: string; term: number; lastSeq: number }>();
  /** The groups of the followed consumers: leader, the last delivery and the acks they carried. */
  private readonly consumerGroups = new Map<string, { sub: Subscription; leaderId: string; term: number; delivered: { consumer: number; stream: number }; acks: number }>();
  /** Asking the servers what they hold (a follower that started late), then what came of it. */
  private seedTimer: NodeJS.Timeout | undefined;
  private seeding = false;
  private seeded: { servers: number; streams: number; consumers: number } | undefined;
  /** Assets live entries removed while the seed was asked for: not to be brought back by it. */
  private readonly removedWhileSeeding = new Set<string>();
  private elections = 0;
  private appends = 0;
  private undecodable = 0;
  /** Log indexes skipped because they never arrived. */
  private skipped = 0;
  private lastError = "";

  constructor(private readonly server: Server) {}

  private readonly onPeer: PeerListener = (peer, up) => {
    if (up && peer.name !== undefined && peer.name !== "") this.names.set(shortHash(peer.name), peer.name);
    // Once routed, and unless the meta log is heard from its start by then, learn what was
    // assigned before we listened from the servers themselves.
    if (up && this.seedTimer === undefined && this.subs.length > 0) {
      this.seedTimer = setTimeout(() => this.seed(), 1000);
      this.seedTimer.unref();
    }
  };

  private seed(): void {
    const sys = this.server.systemAccount;
    if (sys === undefined || this.subs.length === 0 || this.firstIndex === 1) return;
    this.seeding = true;
    seedFromJsz(sys, 2000, (seed) => this.applySeed(seed));
  }

  private applySeed(seed: Seed): void {
    this.seeding = false;
    if (this.subs.length === 0) return;
    let streams = 0;
    let consumers = 0;
    for (const s of seed.streams) {
      const key = `${s.account}/${s.name}`;
      if (this.streams.has(key) || this.removedWhileSeeding.has(key)) continue;
      this.streams.set(key, { account: s.account, name: s.name, config: s.config, group: s.group, created: s.created });
      streams++;
    }
    for (const c of seed.consumers) {
      const key = `${c.account}/${c.stream}/${c.name}`;
      if (this.consumers.has(key) || this.removedWhileSeeding.has(key) || this.removedWhileSeeding.has(`${c.account}/${c.stream}`)) continue;
      this.consumers.set(key, { account: c.account, stream: c.stream, name: c.name, config: c.config, group: c.group, created: c.created });
      consumers++;
    }
    this.removedWhileSeeding.clear();
    this.seeded = { servers: seed.servers, streams, consumers };
    this.syncStreamGroups();
  }

  async start(): Promise<void> {
    const sys = this.server.systemAccount;
    if (sys === undefined) return;
    const self = this.server.options.serverName;
    if (self !== undefined && self !== "") this.names.set(shortHash(self), self);
    const cluster = this.server.services.find((s) => s.name === "cluster") as { peerListeners?: Set<PeerListener> } | undefined;
    cluster?.peerListeners?.add(this.onPeer);
    this.subs.push(sys.subscribeInternal(nrgSubject("appendEntry", META_GROUP), (_s, _r, _h, payload) => this.onAppend(Buffer.from(payload)), undefined, "nrg-follow-append"));
    this.subs.push(sys.subscribeInternal(nrgSubject("vote", META_GROUP), (_s, _r, _h, payload) => this.onVote(Buffer.from(payload)), undefined, "nrg-follow-vote"));
  }

  async shutdown(): Promise<void> {
    const sys = this.server.systemAccount;
    for (const sub of this.subs) sys?.unsubscribeInternal(sub);
    this.subs = [];
    for (const g of [...this.streamGroups.values(), ...this.consumerGroups.values()]) sys?.unsubscribeInternal(g.sub);
    this.streamGroups.clear();
    this.consumerGroups.clear();
    const cluster = this.server.services.find((s) => s.name === "cluster") as { peerListeners?: Set<PeerListener> } | undefined;
    cluster?.peerListeners?.delete(this.onPeer);
    if (this.seedTimer !== undefined) clearTimeout(this.seedTimer);
  }

  private fail(err: unknown): void {
    this.undecodable++;
    this.lastError = (err as Error).message;
  }

  private onVote(payload: Buffer): void {
    try {
      const vr = decodeNrgVoteRequest(payload);
      if (vr.term > this.term) this.elections++;
    } catch (err) {
      this.fail(err);
    }
  }

  private onAppend(payload: Buffer): void {
    let ae;
    try {
      ae = decodeNrgAppendEntry(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    // An append from a deposed leader in an older term changes nothing.
    if (ae.term < this.term) return;
    this.appends++;
    if (ae.term > this.term || ae.leader !== this.leaderId) {
      this.term = ae.term;
      this.leaderId = ae.leader;
    }
    if (ae.entries.length > 0) {
      const index = ae.prevIndex + 1;
      // A new leader may overwrite what an old one sent and never committed.
      for (const i of this.pending.keys()) if (i >= index) this.pending.delete(i);
      if (this.applied === undefined) {
        this.applied = index - 1;
        this.firstIndex = index;
      }
      if (index > this.applied) this.pending.set(index, ae.entries);
    }
    if (ae.commit > this.commit) this.commit = ae.commit;
    this.applyCommitted();
  }

  private applyCommitted(): void {
    while (this.applied !== undefined && this.applied < this.commit) {
      let next: number = this.applied + 1;
      let entries = this.pending.get(next);
      if (entries === undefined) {
        // An index we never received (lost on the way; we cannot ask for a catch-up without
        // becoming a peer): once a later entry we hold is committed, go on from it, and say
        // the picture may miss what the skipped entries changed.
        let have: number | undefined;
        for (const i of this.pending.keys()) if (i > next && (have === undefined || i < have)) have = i;
        if (have === undefined || have > this.commit) return;
        this.skipped += have - next;
        next = have;
        entries = this.pending.get(have) as NrgEntry[];
      }
      this.pending.delete(next);
      this.applied = next;
      for (const e of entries) {
        try {
          this.apply(e);
        } catch (err) {
          this.fail(err);
        }
      }
      this.syncStreamGroups();
    }
  }

  /** Listen to the groups of the streams and consumers followed, and to no other. */
  private syncStreamGroups(): void {
    const sys = this.server.systemAccount;
    if (sys === undefined || this.subs.length === 0) return;
    // Appends are decoded on arrival and not kept: their payload needs no copy.
    this.syncGroups(sys, this.streamGroups, [...this.streams.values()], "nrg-follow-stream", (name, payload) => this.onStreamAppend(name, payload), () => ({ leaderId: "", term: 0, lastSeq: 0 }));
    this.syncGroups(sys, this.consumerGroups, [...this.consumers.values()], "nrg-follow-consumer", (name, payload) => this.onConsumerAppend(name, payload), () => ({ leaderId: "", term: 0, delivered: { consumer: 0, stream: 0 }, acks: 0 }));
  }

  /** Subscribe to the appends of each asset's group, unsubscribe from groups no longer followed. */
  private syncGroups<G extends { sub: Subscription }>(sys: NonNullable<Server["systemAccount"]>, groups: Map<string, G>, assets: { group: NrgRaftGroup }[], name: string, onAppend: (group: string, payload: Buffer) => void, fresh: () => Omit<G, "sub">): void {
    // A group name learnt from JSZ may be missing (an asset running no group): nothing to hear.
    const wanted = new Set(assets.map((a) => a.group.name).filter((n) => /^[A-Za-z0-9_-]+$/.test(n)));
    for (const [group, g] of groups) {
      if (wanted.has(group)) continue;
      sys.unsubscribeInternal(g.sub);
      groups.delete(group);
    }
    for (const group of wanted) {
      if (groups.has(group)) continue;
      const sub = sys.subscribeInternal(nrgSubject("appendEntry", group), (_s, _r, _h, payload) => onAppend(group, payload), undefined, name);
      groups.set(group, { ...fresh(), sub } as G);
    }
  }

  private onConsumerAppend(group: string, payload: Buffer): void {
    this.followGroup(this.consumerGroups.get(group), payload, (e, g) => {
      const d = decodeNrgConsumerEntry(e);
      if (d.op === "delivered" && d.deliverySequence > g.delivered.consumer) g.delivered = { consumer: d.deliverySequence, stream: d.streamSequence };
      else if (d.op === "ack") g.acks++;
    });
  }

  private onStreamAppend(group: string, payload: Buffer): void {
    this.followGroup(this.streamGroups.get(group), payload, (e, g) => {
      const d = decodeNrgStreamEntry(e);
      if ((d.op === "msg" || d.op === "batchMsg") && d.msg.lastSequence + 1 > g.lastSeq) g.lastSeq = d.msg.lastSequence + 1;
    });
  }

  /** A stream's or consumer's append entry: its leader and term (a deposed leader's late appends are ignored), then each entry. */
  private followGroup<G extends { leaderId: string; term: number }>(g: G | undefined, payload: Buffer, each: (e: NrgEntry, g: G) => void): void {
    if (g === undefined) return;
    try {
      const ae = decodeNrgAppendEntry(payload);
      if (ae.term < g.term) return;
      g.term = ae.term;
      g.leaderId = ae.leader;
      for (const e of ae.entries) each(e, g);
    } catch (err) {
      this.fail(err);
    }
  }

  private apply(e: NrgEntry): void {
    const d = decodeNrgMetaEntry(e);
    switch (d.op) {
      case "peerState":
        this.peers.clear();
        for (const p of d.state.knownPeers) this.peers.add(p);
        break;
      case "addPeer":
        this.peers.add(d.peer);
        break;
      case "removePeer":
        this.peers.delete(d.peer);
        break;
      case "leaderTransfer":
        break;
      case "assignStream":
      case "updateStream":
        this.putStream(d.assignment);
        break;
      case "removeStream": {
        const account = accountOf(d.assignment.client);
        if (this.seeding) this.removedWhileSeeding.add(`${account}/${d.assignment.config.name}`);
        this.streams.delete(`${account}/${d.assignment.config.name}`);
        for (const [key, c] of this.consumers) if (c.account === account && c.stream === d.assignment.config.name) this.consumers.delete(key);
        break;
      }
      case "assignConsumer":
        this.putConsumer(d.assignment);
        break;
      case "removeConsumer":
        if (this.seeding) this.removedWhileSeeding.add(`${accountOf(d.assignment.client)}/${d.assignment.stream}/${d.assignment.name}`);
        this.consumers.delete(`${accountOf(d.assignment.client)}/${d.assignment.stream}/${d.assignment.name}`);
        break;
      case "snapshot":
        this.streams.clear();
        this.consumers.clear();
        for (const s of d.streams) this.putSnapshotStream(s);
        break;
    }
  }

  private putStream(a: NrgStreamAssignment): void {
    const account = accountOf(a.client);
    this.streams.set(`${account}/${a.config.name}`, { account, name: a.config.name, config: a.config, group: a.group, created: a.created });
  }

  private putConsumer(a: NrgConsumerAssignment): void {
    const account = accountOf(a.client);
    this.consumers.set(`${account}/${a.stream}/${a.name}`, { account, stream: a.stream, name: a.name, config: a.config, group: a.group, created: a.created });
  }

  private putSnapshotStream(s: NrgMetaSnapshotStream): void {
    const account = accountOf(s.client);
    this.streams.set(`${account}/${s.config.name}`, { account, name: s.config.name, config: s.config, group: s.group, created: s.created });
    for (const c of s.consumers) this.consumers.set(`${account}/${c.stream}/${c.name}`, { account, stream: c.stream, name: c.name, config: c.config, group: c.group, created: c.created });
  }

  private nameOf(id: string): string {
    return this.names.get(id) ?? id;
  }

  /** /jsz's `nrg_meta_follow`. */
  json(): Record<string, unknown> {
    const group = (g: NrgRaftGroup): Record<string, unknown> => ({ name: g.name, peers: g.peers.map((p) => this.nameOf(p)), store: g.store });
    return {
      leader: this.leaderId === "" ? "" : this.nameOf(this.leaderId),
      leader_id: this.leaderId,
      term: this.term,
      commit: this.commit,
      applied: this.applied ?? 0,
      first_index: this.firstIndex ?? 0,
      // Followed from the log's first index: nothing was compacted away before we listened.
      complete: this.firstIndex === 1 && this.skipped === 0,
      skipped_entries: this.skipped,
      // Assets learnt from the servers' JSZ answers because the follower started late.
      ...(this.seeded !== undefined ? { seeded: this.seeded } : {}),
      peers: [...this.peers].map((p) => this.nameOf(p)).sort(),
      elections_seen: this.elections,
      appends_seen: this.appends,
      undecodable: this.undecodable,
      ...(this.lastError !== "" ? { last_error: this.lastError } : {}),
      streams: [...this.streams.values()]
        .sort((a, b) => (a.account + a.name < b.account + b.name ? -1 : 1))
        .map((s) => {
          const g = this.streamGroups.get(s.group.name);
          const seen = g !== undefined && g.leaderId !== "" ? { leader: this.nameOf(g.leaderId), term: g.term, last_seq_seen: g.lastSeq } : {};
          return { account: s.account, name: s.name, subjects: s.config.subjects ?? [], replicas: s.config.num_replicas ?? 1, created: s.created, group: group(s.group), ...seen };
        }),
      consumers: [...this.consumers.values()]
        .sort((a, b) => (a.account + a.stream + a.name < b.account + b.stream + b.name ? -1 : 1))
        .map((c) => {
          const g = this.consumerGroups.get(c.group.name);
          const seen = g !== undefined && g.leaderId !== "" ? { leader: this.nameOf(g.leaderId), term: g.term, delivered_seen: { consumer_seq: g.delivered.consumer, stream_seq: g.delivered.stream }, acks_seen: g.acks } : {};
          return { account: c.account, stream: c.stream, name: c.name, durable: c.config.durable_name !== undefined, created: c.created, group: group(c.group), ...seen };
        }),
    };
  }
}
