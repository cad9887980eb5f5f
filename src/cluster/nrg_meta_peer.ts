// A tsnats server as a voting member of a nats-server 2.15 JetStream cluster's meta group
// (issue 12's moonshot; experimental, `cluster { nrg_peer: true }`, JetStream on). In the
// system account it listens to the meta leader's append entries (`$NRG.AE._meta_`) and to vote
// requests (`$NRG.V._meta_`), and answers as nats-server's follower would (nrg_peer.ts) from a
// durable log under `<store_dir>/jetstream/nrg_peer/_meta_` (nrg_peer_log.ts). Its first answer
// is the door in: the meta leader proposes AddPeer for an unknown responder and catches it up
// over a `$NRG.CR.` inbox (a snapshot and the stored entries).
// It applies the committed meta log's stream and consumer assignments into a meta state
// (nrg_meta_state.ts), which its compaction snapshot holds and /jsz shows.
// What it does not do: unless `nrg_peer_meta_lead` (nrg_meta_leader.ts) it never campaigns (an
// observer in nats-server's sense), so it never runs the meta layer's leader duties
// (placement, assignment, API answers), and without
// `nrg_peer_streams` it runs no stream or consumer group. Its STATSZ carries no JetStream
// config or stats, so nats-server never places a stream or consumer on it (nodeInfo.selectable),
// and tsnats's own JetStream (its `$NRG.TS` meta group, its API) does not run on this server:
// one RAFT dialect per cluster. Clients of this server use the cluster's JetStream through the
// routes. /jsz shows the member as `nrg_meta_peer`.
import path from "node:path";
import type { Server, ServerService } from "../server/server.js";
import type { Account } from "../server/account.js";
import type { PeerListener } from "./cluster.js";
import { NrgGroupMember } from "./nrg_group_member.js";
import { NrgEntryType } from "./nrg_wire.js";
import { NrgMetaState } from "./nrg_meta_state.js";
import { NrgStreamPeers } from "./nrg_stream_peer.js";
import { NrgMetaLeader } from "./nrg_meta_leader.js";
import { NrgAccountUsage } from "./nrg_account_usage.js";
import { NrgServerStats, roomOf } from "./nrg_server_stats.js";
import { stepDownTarget, type NrgNodeInfo } from "./nrg_stepdown_placement.js";
import { LOST_QUORUM_MS } from "./nrg_campaign.js";
import { nrgReplicas } from "./nrg_stream_leader_api.js";
import { jetStreamSummary } from "../monitor/jetstream-stats.js";
import { shortHash } from "../jetstream/util.js";
import { resolveStoreDir } from "../config/flags.js";
import { nrgPeerOptionsRefusal } from "../config/cluster.js";

const META_GROUP = "_meta_";

/** Why a server with `nrg_peer` may not start, or undefined. */
export function nrgPeerRefusal(server: Server): string | undefined {
  const o = server.options;
  if (o.cluster?.nrgPeer !== true) return undefined;
  const refusal = nrgPeerOptionsRefusal(o);
  if (refusal !== undefined) return refusal;
  if (server.systemAccount === undefined) return "cluster.nrg_peer needs a system account (the meta group's traffic runs in it)";
  return undefined;
}

export class NrgMetaPeer implements ServerService {
  readonly name = "nrg-peer";
  private member: NrgGroupMember | undefined;
  readonly metaState = new NrgMetaState();
  /** With `nrg_peer_streams`: the stream and consumer groups placed on this server. */
  private streamPeers: NrgStreamPeers | undefined;
  private readonly names = new Map<string, string>();
  /** With `nrg_peer_meta_lead`: the meta leader's half while this member leads `_meta_`. */
  private metaLeader: NrgMetaLeader | undefined;
  /** With `nrg_peer_meta_lead`: the cluster's account usage reports, and this server's own. */
  private accountUsage: NrgAccountUsage | undefined;
  /** With `nrg_peer_meta_lead`: each server's JetStream room from its STATSZ, for placement. */
  private serverStats: NrgServerStats | undefined;

  constructor(private readonly server: Server) {}

  get id(): string {
    return shortHash(this.server.options.serverName ?? this.server.id);
  }

  private readonly onPeer: PeerListener = (peer, up) => {
    if (up && peer.name !== undefined && peer.name !== "") this.names.set(shortHash(peer.name), peer.name);
  };

  async start(): Promise<void> {
    const sys = this.server.systemAccount;
    if (sys === undefined) return;
    const self = this.server.options.serverName ?? this.server.id;
    this.names.set(shortHash(self), self);
    const base = path.join(resolveStoreDir(this.server.options), "nrg_peer");
    const dir = path.join(base, META_GROUP);
    if (this.server.options.cluster?.nrgPeerLead === true) {
      // Placement (meta leader) and LEADER.STEPDOWN placements (every leader half) read them.
      const stats = new NrgServerStats(sys);
      this.serverStats = stats;
      stats.start();
      stats.ping();
    }
    if (this.server.options.cluster?.nrgPeerStreams === true) {
      const lead =
        this.server.options.cluster?.nrgPeerLead === true
          ? {
              account: (name: string) => this.server.lookupAccount(name),
              domain: this.server.options.jetstream.domain,
              serverName: self,
              clusterName: () => this.server.options.cluster?.name ?? "",
              maxPayload: this.server.options.maxPayload,
              nameOf: (id: string) => this.nameOf(id),
              nodeInfo: (id: string) => this.nodeInfo(id),
              metaPeers: () => [...(this.member?.peer.peers ?? [])],
            }
          : undefined;
      const directGets = { account: (name: string) => this.server.lookupAccount(name), maxPending: this.server.options.maxPending };
      const peers = new NrgStreamPeers(sys, this.id, base, this.server.log, this.server.options.cluster?.nrgPeerCampaign === true, lead, directGets);
      this.streamPeers = peers;
      this.metaState.onGroupRemoved = (group, answer) => peers.removed(group, answer);
      this.metaState.onChange = () => peers.reconcile(this.metaState);
      this.metaState.onAssigned = (kind, account, stream, consumer, group, created) => this.refuseSingle(kind, account, stream, consumer, group, created);
    }
    const member = new NrgGroupMember(sys, META_GROUP, this.id, dir, this.metaState);
    this.member = member;
    // An update replayed from our log after a restart was answered before.
    const recoveredThrough = member.peer.log.lastIndex;
    const peers = this.streamPeers;
    if (peers !== undefined) this.metaState.onUpdated = (index, account, stream, reply, consumer) => {
      if (index > recoveredThrough) peers.updated(account, stream, reply, consumer);
    };
    const log = member.peer.log;
    this.server.log.info(`NRG peer of the nats-server meta group: id ${this.id}, term ${log.term}, log at [${log.lastTerm}:${log.lastIndex}] in ${dir}`);
    const cluster = this.server.services.find((s) => s.name === "cluster") as { peerListeners?: Set<PeerListener> } | undefined;
    cluster?.peerListeners?.add(this.onPeer);
    let removed = member.peer.removed;
    member.onAppended = () => {
      if (member.peer.removed && !removed) {
        this.server.log.error("NRG peer: our server was removed from the nats-server cluster's meta group; it answers no more (restart to join again)");
        this.disableGroups();
      }
      removed = member.peer.removed;
    };
    member.start();
    if (this.server.options.cluster?.nrgPeerMetaLead === true) this.enableMetaLead(member, sys);
  }

  /**
   * Campaign in the meta group as nats-server's members do (a random 4-9 s without a leader, at
   * once for a LeaderTransfer naming this member), keep the leadership once elected and run the
   * meta leader's half (nrg_meta_leader.ts) while leading with the meta state current.
   */
  private enableMetaLead(member: NrgGroupMember, sys: Account): void {
    member.enableCampaign();
    member.addsUnknownPeers = true;
    const c = member.campaign;
    if (c === undefined) return;
    const groupPeers = (): string[] => [...member.peer.peers];
    const usage = new NrgAccountUsage(sys, this.id, () => this.streamPeers?.accountUsage() ?? new Map());
    this.accountUsage = usage;
    usage.start();
    const stats = this.serverStats ?? new NrgServerStats(sys);
    if (this.serverStats === undefined) {
      this.serverStats = stats;
      stats.start();
    }
    c.keep = () => true;
    c.members = groupPeers;
    c.snapshotData = () => this.metaState.snapshot();
    const leader = new NrgMetaLeader(
      {
        sys,
        selfId: this.id,
        clusterName: this.server.options.cluster?.name ?? "",
        jetstream: this.server.options.jetstream,
        maxHaAssets: this.server.options.jetstream.limits?.maxHaAssets ?? 0,
        onlinePeers: () => [this.id, ...c.followers(groupPeers(), LOST_QUORUM_MS).filter((f) => f.lastSeenMs !== undefined && f.lastSeenMs <= LOST_QUORUM_MS).map((f) => f.id)],
        idOf: (name) => {
          for (const id of member.peer.peers) if (this.nameOf(id) === name) return id;
          return undefined;
        },
        nameOf: (id) => this.nameOf(id),
        metaPeers: () => [...member.peer.peers],
        proposeRemovePeer: (peer) => member.proposeMembership(NrgEntryType.RemovePeer, peer),
        propose: (data) => member.propose(data),
        stepDown: (preferred) => member.stepDown(preferred),
        stepDownTarget: (placement) => stepDownTarget(placement, this.id, [...member.peer.peers], (id) => this.nodeInfo(id)),
        accountLimits: (account) => this.server.lookupAccount(account)?.jetStreamLimits,
        usage: (account) => usage.totals(account),
        domain: this.server.options.jetstream.domain,
        room: (peer) => (peer === this.id ? roomOf(this.statszJetStream()) : stats.room(peer)),
        // raft.go Peers(): this member too, current with itself.
        replicas: () => [{ name: this.nameOf(this.id), current: true, peer: this.id }, ...nrgReplicas(c, groupPeers(), (id) => this.nameOf(id))],
        tags: (peer) => (peer === this.id ? this.server.options.serverTags : stats.tags(peer)),
        log: (text) => this.server.log.info(text),
      },
      this.metaState,
    );
    this.metaState.onPeerRemoved = (peer) => this.metaLeader?.peerRemoved(peer);
    this.metaState.onPeerAdded = (peer) => this.metaLeader?.peerAdded(peer);
    stats.onJetStream = (peer) => this.metaLeader?.peerStatsz(peer);
    member.onLeadChange = (leading) => {
      this.server.log.info(leading ? `NRG peer: this server leads the nats-server cluster's meta group (term ${member.peer.log.term})` : "NRG peer: this server no longer leads the meta group");
      if (leading) {
        stats.ping();
        this.metaLeader = leader;
        leader.start();
      } else {
        leader.stop();
        this.metaLeader = undefined;
      }
    };
  }

  /**
   * Removed from the meta group: nats-server disables JetStream on such a server (processRemovePeer,
   * DisableJetStream), so its stream and consumer groups stop (their data stays on disk) and its
   * STATSZ no longer offers JetStream; the meta leader reassigns what it held.
   */
  private disableGroups(): void {
    this.metaLeader?.stop();
    this.metaLeader = undefined;
    this.metaState.onChange = undefined;
    this.streamPeers?.close();
    this.streamPeers = undefined;
  }

  async shutdown(): Promise<void> {
    const cluster = this.server.services.find((s) => s.name === "cluster") as { peerListeners?: Set<PeerListener> } | undefined;
    cluster?.peerListeners?.delete(this.onPeer);
    this.member?.stop();
    this.member = undefined;
    this.metaLeader?.stop();
    this.metaLeader = undefined;
    this.accountUsage?.stop();
    this.accountUsage = undefined;
    this.serverStats?.stop();
    this.serverStats = undefined;
    this.streamPeers?.close();
    this.streamPeers = undefined;
  }

  /**
   * Why /healthz reports this server unavailable, or undefined when it is healthy: the meta
   * layer checks of nats-server's healthz (a write error, no leader, not current with it), then
   * (unless `metaOnly`, nats-server's js-server-only) each stream replica and consumer group
   * placed on this server.
   */
  healthError(metaOnly = false): string | undefined {
    const p = this.member?.peer;
    if (p === undefined) return "JetStream meta layer is not running";
    if (p.writeError !== undefined) return `JetStream meta layer write error: ${p.writeError}`;
    if (p.removed) return "JetStream meta layer: this server was removed from the meta group";
    if (p.leader === "") return "JetStream has not established contact with a meta leader";
    // Not heard from the leader within nats-server's lost-quorum interval (10 heartbeats), or catching up.
    if (p.catchup !== undefined || Date.now() - p.leaderSeenAt > 10_000) return "JetStream is not current with the meta leader";
    return metaOnly ? undefined : this.streamPeers?.healthError();
  }

  /**
   * An R1 stream or consumer placed on this server alone that it does not run (without
   * `nrg_peer_lead`, or one whose features its leader half lacks: `NrgStreamPeers.holdsSingle`).
   * Refused as nats-server's members refuse an assignment they cannot create
   * (`$SYS.JSC.STREAM/CONSUMER.ASSIGNMENT.RESULT`, insufficient resources): the meta leader
   * answers the client with the error, and a stream's assignment is deleted. Only fresh
   * assignments (the leader acts on results within seconds), never a replayed one.
   */
  private refuseSingle(kind: "stream" | "consumer", account: string, stream: string, consumer: string | undefined, group: { peers: string[] }, created: string): void {
    if (group.peers.length !== 1 || group.peers[0] !== this.id) return;
    const assigned = this.metaState.stream(account, stream);
    if (assigned !== undefined && this.streamPeers?.holdsSingle(kind, assigned, consumer) === true) return;
    const age = Date.now() - Date.parse(created);
    if (!(age < 10_000)) return;
    const sys = this.server.systemAccount;
    if (sys === undefined) return;
    const error = { code: 503, err_code: 10023, description: "insufficient resources" };
    this.server.log.warn(`NRG peer: refusing the R1 ${kind} '${account} > ${stream}${consumer !== undefined ? ` > ${consumer}` : ""}' placed on this server (it holds replicas only)`);
    if (kind === "stream") {
      sys.publish("$SYS.JSC.STREAM.ASSIGNMENT.RESULT", "", undefined, Buffer.from(JSON.stringify({ account, stream, create_response: { type: "io.nats.jetstream.api.v1.stream_create_response", error } })));
    } else {
      sys.publish("$SYS.JSC.CONSUMER.ASSIGNMENT.RESULT", "", undefined, Buffer.from(JSON.stringify({ account, stream, consumer, response: { type: "io.nats.jetstream.api.v1.consumer_create_response", error } })));
    }
  }

  /**
   * STATSZ's `jetstream` block, only while stream replicas run (`nrg_peer_streams`): with
   * JetStream config and stats nats-server's placement may select this server.
   */
  statszJetStream(): Record<string, unknown> | undefined {
    const peers = this.streamPeers;
    if (peers === undefined) return undefined;
    const summary = jetStreamSummary(this.server, false);
    const usage = peers.usage();
    const stats = { ...(summary.stats as Record<string, unknown>), storage: usage.storage, accounts: usage.accounts, ha_assets: usage.groups + 1 };
    return { ...summary, stats };
  }

  nameOf(id: string): string {
    return this.names.get(id) ?? id;
  }

  /**
   * What is known of a server for a STEPDOWN's placement (nats-server's nodeToInfo): this one's
   * own name, cluster and tags; another's from its STATSZ, else its name from its route (no
   * tags known then).
   */
  nodeInfo(id: string): NrgNodeInfo | undefined {
    const tags = (t: string[] | undefined): string[] => (t ?? []).map((x) => x.toLowerCase());
    if (id === this.id) return { name: this.nameOf(id), cluster: this.server.options.cluster?.name ?? "", tags: tags(this.server.options.serverTags) };
    const known = this.serverStats?.node(id);
    if (known !== undefined) return known;
    const name = this.names.get(id);
    return name === undefined ? undefined : { name, cluster: "", tags: [] };
  }

  /** /jsz's `nrg_meta_peer`. */
  json(): Record<string, unknown> {
    const m = this.member;
    if (m === undefined) return { id: this.id, running: false };
    const nameOf = (id: string): string => this.nameOf(id);
    const ms = this.metaState;
    return {
      id: this.id,
      ...m.json(nameOf),
      meta_state: { applied: ms.applied, failed: ms.failed, ...(ms.lastError !== "" ? { last_error: ms.lastError } : {}) },
      streams: ms.json(nameOf),
      ...(this.metaLeader !== undefined ? { meta_leader: this.metaLeader.json() } : {}),
      ...(this.streamPeers !== undefined ? { groups: this.streamPeers.json(nameOf) } : {}),
    };
  }
}
