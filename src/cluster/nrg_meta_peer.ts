// A tsnats server as a voting member of a nats-server 2.15 JetStream cluster's meta group
// (issue 12's moonshot; experimental, `cluster { nrg_peer: true }`, JetStream on). In the
// system account it listens to the meta leader's append entries (`$NRG.AE._meta_`) and to vote
// requests (`$NRG.V._meta_`), and answers as nats-server's follower would (nrg_peer.ts) from a
// durable log under `<store_dir>/jetstream/nrg_peer/_meta_` (nrg_peer_log.ts). Its first answer
// is the door in: the meta leader proposes AddPeer for an unknown responder and catches it up
// over a `$NRG.CR.` inbox (a snapshot and the stored entries).
// What it does not do: it never campaigns (an observer in nats-server's sense), so it never
// runs the meta layer's leader duties (placement, assignment, API answers); it applies no meta
// entry beyond membership and runs no stream or consumer group. Its STATSZ carries no JetStream
// config or stats, so nats-server never places a stream or consumer on it (nodeInfo.selectable),
// and tsnats's own JetStream (its `$NRG.TS` meta group, its API) does not run on this server:
// one RAFT dialect per cluster. Clients of this server use the cluster's JetStream through the
// routes. /jsz shows the member as `nrg_meta_peer`.
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Server, ServerService } from "../server/server.js";
import type { Subscription } from "../server/sublist.js";
import type { PeerListener } from "./cluster.js";
import { decodeNrgAppendEntry, decodeNrgVoteRequest, encodeNrgAppendEntryResponse, encodeNrgVoteResponse, nrgSubject } from "./nrg_wire.js";
import { NrgPeerLog } from "./nrg_peer_log.js";
import { NrgPeer } from "./nrg_peer.js";
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
  private subs: Subscription[] = [];
  private catchupSub: Subscription | undefined;
  private peer: NrgPeer | undefined;
  private readonly names = new Map<string, string>();
  private undecodable = 0;
  private lastError = "";
  private votedIn: { term: number; candidate: string } | undefined;

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
    const dir = path.join(resolveStoreDir(this.server.options), "nrg_peer", META_GROUP);
    const log = new NrgPeerLog(dir);
    this.peer = new NrgPeer(this.id, log, () => `$NRG.CR.${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`);
    this.server.log.info(`NRG peer of the nats-server meta group: id ${this.id}, term ${log.term}, log at [${log.lastTerm}:${log.lastIndex}] in ${dir}`);
    const cluster = this.server.services.find((s) => s.name === "cluster") as { peerListeners?: Set<PeerListener> } | undefined;
    cluster?.peerListeners?.add(this.onPeer);
    // Payloads are copied: the raw bytes of a stored append entry outlive the delivery.
    this.subs.push(sys.subscribeInternal(nrgSubject("appendEntry", META_GROUP), (_s, reply, _h, payload) => this.onAppend(Buffer.from(payload), reply, undefined), undefined, "nrg-peer-append"));
    this.subs.push(sys.subscribeInternal(nrgSubject("vote", META_GROUP), (_s, reply, _h, payload) => this.onVote(Buffer.from(payload), reply), undefined, "nrg-peer-vote"));
  }

  async shutdown(): Promise<void> {
    const sys = this.server.systemAccount;
    for (const sub of this.subs) sys?.unsubscribeInternal(sub);
    this.subs = [];
    if (this.catchupSub !== undefined) sys?.unsubscribeInternal(this.catchupSub);
    this.catchupSub = undefined;
    const cluster = this.server.services.find((s) => s.name === "cluster") as { peerListeners?: Set<PeerListener> } | undefined;
    cluster?.peerListeners?.delete(this.onPeer);
    this.peer?.log.close();
    this.peer = undefined;
  }

  private fail(err: unknown): void {
    this.undecodable++;
    this.lastError = (err as Error).message;
  }

  private onAppend(payload: Buffer, reply: string, viaCatchupInbox: string | undefined): void {
    const peer = this.peer;
    if (peer === undefined) return;
    let ae;
    try {
      ae = decodeNrgAppendEntry(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    const inboxBefore = peer.catchup?.inbox;
    const wasRemoved = peer.removed;
    const answer = peer.receiveAppend(ae, payload, viaCatchupInbox);
    this.syncCatchupSub(inboxBefore);
    if (peer.removed && !wasRemoved) this.server.log.error("NRG peer: our server was removed from the nats-server cluster's meta group; it answers no more (restart to join again)");
    // An answer goes only where a leader asked for it.
    if (answer === undefined || !reply.startsWith("$NRG.R.")) return;
    this.server.systemAccount?.publish(reply, answer.catchupInbox ?? "", undefined, encodeNrgAppendEntryResponse(answer.response));
  }

  /** Subscribe to the catch-up inbox the member asked for; drop one it no longer waits on. */
  private syncCatchupSub(before: string | undefined): void {
    const sys = this.server.systemAccount;
    const now = this.peer?.catchup?.inbox;
    if (sys === undefined || now === before) return;
    if (this.catchupSub !== undefined) sys.unsubscribeInternal(this.catchupSub);
    this.catchupSub = undefined;
    if (now !== undefined) this.catchupSub = sys.subscribeInternal(now, (_s, reply, _h, payload) => this.onAppend(Buffer.from(payload), reply, now), undefined, "nrg-peer-catchup");
  }

  private onVote(payload: Buffer, reply: string): void {
    const peer = this.peer;
    if (peer === undefined) return;
    let vr;
    try {
      vr = decodeNrgVoteRequest(payload);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!reply.startsWith("$NRG.R.")) return;
    const inboxBefore = peer.catchup?.inbox;
    const answer = peer.receiveVote(vr);
    this.syncCatchupSub(inboxBefore);
    if (answer === undefined) return;
    if (answer.granted) this.votedIn = { term: answer.term, candidate: vr.candidate };
    this.server.systemAccount?.publish(reply, "", undefined, encodeNrgVoteResponse(answer));
  }

  /**
   * Why /healthz reports this server unavailable, or undefined when it is healthy: the meta
   * layer checks of nats-server's healthz (a write error, no leader, not current with it).
   */
  healthError(): string | undefined {
    const p = this.peer;
    if (p === undefined) return "JetStream meta layer is not running";
    if (p.writeError !== undefined) return `JetStream meta layer write error: ${p.writeError}`;
    if (p.removed) return "JetStream meta layer: this server was removed from the meta group";
    if (p.leader === "") return "JetStream has not established contact with a meta leader";
    // Not heard from the leader within nats-server's lost-quorum interval (10 heartbeats), or catching up.
    if (p.catchup !== undefined || Date.now() - p.leaderSeenAt > 10_000) return "JetStream is not current with the meta leader";
    return undefined;
  }

  private nameOf(id: string): string {
    return this.names.get(id) ?? id;
  }

  /** /jsz's `nrg_meta_peer`. */
  json(): Record<string, unknown> {
    const p = this.peer;
    if (p === undefined) return { id: this.id, running: false };
    const log = p.log;
    return {
      id: this.id,
      group: META_GROUP,
      observer: true,
      term: log.term,
      vote: log.vote === "" ? "" : this.nameOf(log.vote),
      ...(this.votedIn !== undefined ? { last_vote_granted: { term: this.votedIn.term, candidate: this.nameOf(this.votedIn.candidate) } } : {}),
      leader: p.leader === "" ? "" : this.nameOf(p.leader),
      last_term: log.lastTerm,
      last_index: log.lastIndex,
      commit: p.commit,
      first_index: log.firstIndex ?? 0,
      entries: log.entryCount,
      ...(log.snapshot !== undefined ? { snapshot: { last_term: log.snapshot.lastTerm, last_index: log.snapshot.lastIndex, bytes: log.snapshot.data.length } } : {}),
      catching_up: p.catchup !== undefined,
      ...(p.removed ? { removed: true } : {}),
      peers: [...p.peers].map((id) => this.nameOf(id)).sort(),
      cluster_size: p.clusterSize,
      counters: { ...p.counters },
      undecodable: this.undecodable,
      ...(this.lastError !== "" ? { last_error: this.lastError } : {}),
      ...(p.writeError !== undefined ? { write_error: p.writeError } : {}),
    };
  }
}
