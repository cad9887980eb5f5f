// The consumer leader's half of a tsnats member leading a nats-server consumer group (issue 12's
// moonshot, experimental: `cluster { nrg_peer_lead: true }` with nrg_peer_campaign). In a
// nats-server cluster only a consumer's leader subscribes to its pull request subject
// (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`) and its ack subject (`$JS.ACK.<stream>.
// <consumer>.>`), and answers CONSUMER.INFO and the meta leader's `$JSC.CI` (consumer.go
// setLeader); a push consumer's leader delivers to its deliver subject while someone listens
// there (here or across a route), with idle heartbeats. The leader delivers from this server's copy of the stream and keeps what
// nats-server's leader keeps in memory (the next stream and delivery sequences, what is pending
// with its delivery sequence and time, delivery counts, the redelivery queue, waiting pull
// requests); every change goes to the group as nats-server's consumer entries
// (updateDeliveredOp, updateAcksOp, updateSkipOp), which every member, this one included
// (nrg_consumer_replica.ts), applies once committed. As nats-server 2.12+ does for a replicated
// consumer with acks, a message is sent only once its delivery is committed
// (replicateDeliveries), and an ack's confirmation (a double ack's reply) once the ack is.
// Led here: pull and push consumers (flow control included: a push consumer's window, its
// `$JS.FC` requests and their answers) with explicit, all or no acks (back-off, headers only,
// pauses, rate limits, replay at the original rate, deliver last per subject, pinned-client,
// overflow and prioritized priority groups included); for others (`nrgConsumerLeadRefusal`) the member hands its
// leadership back to a nats-server member. Of an interest or work-queue stream, the acks it
// proposes reach the stream's leader as any consumer leader's do (its member of the consumer's
// group applies them and proposes the removals), and without acks each delivery is proposed as an ack too.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { nowNs, rfc3339 } from "../server/time.js";
import { buildHeaders, getHeader, setHeader } from "../protocol/headers.js";
import { parsePullRequest, pullRequestRefusal, WaitQueue, type PullRequest } from "../jetstream/pull_request.js";
import { nakDelayMs } from "../jetstream/consumer.js";
import { DeliveryPacer, rateBurst } from "../jetstream/delivery_pace.js";
import { jsError, ApiError } from "../jetstream/errors.js";
import { dynamicMetadata, HDR_REQUIRED_API_LEVEL, requiredLevelUnmet } from "../jetstream/api_level.js";
import { consumerLeaderElected, groupPinned, groupUnpinned, type AdvisoryContext } from "../jetstream/advisories.js";
import { PriorityGroups } from "../jetstream/priority_groups.js";
import { parseUnpinGroup } from "../jetstream/api.js";
import { encodeNrgConsumerEntry, NrgEntryOp, type NrgConsumerEntry } from "../jetstream/nrg_entries.js";
import type { StoredMsg } from "../storage/store.js";
import type { NrgMetaConsumer, NrgMetaStream } from "./nrg_meta_state.js";
import type { NrgConsumerReplica } from "./nrg_consumer_replica.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";
import type { NrgCampaign } from "./nrg_campaign.js";
import { nrgClusterInfo, nrgReplicas, requestAccount, type NrgLeaderServer } from "./nrg_stream_leader_api.js";
import { stepDownPlacement } from "./nrg_stepdown_placement.js";
import { desiredOf, runningRetention } from "./nrg_meta_desired.js";

const EMPTY = Buffer.alloc(0);
const FC_REQUEST = Buffer.from("NATS/1.0 100 FlowControl Request\r\n\r\n", "latin1");
/** nats-server's default ack wait (30 s, ns) when a consumer's config has none. */
const DEFAULT_ACK_WAIT_NS = 30_000_000_000;
/** nats-server's default max_waiting for a pull consumer. */
const DEFAULT_MAX_WAITING = 512;
/** At most this long between two looks at expired requests, due heartbeats and ack waits. */
const TICK_MS = 1000;
/** Flow control: the most a push consumer has in flight (nats-server's JsFlowControlMaxPending); it starts at a sixteenth. */
const FC_MAX_PENDING = 32 * 1024 * 1024;

/** Why this server does not lead a consumer with this config (it hands the leadership back), or undefined. */
export function nrgConsumerLeadRefusal(config: Record<string, unknown>): string | undefined {
  const ack = config.ack_policy;
  if (ack !== undefined && ack !== "explicit" && ack !== "all" && ack !== "none") return `ack policy ${String(ack)}`;
  return undefined;
}

/**
 * Whether this server (`self`) may hold an R1 consumer alone, as its leader without a RAFT group:
 * one it can lead, of a limits stream or of a stream it holds alone (an interest or work-queue
 * stream's removals are its leader's, which would not hear this consumer's acks).
 */
export function nrgHoldsSingleConsumer(config: Record<string, unknown>, stream: { config: Record<string, unknown>; group: { peers: string[] } }, self: string): boolean {
  if (nrgConsumerLeadRefusal(config) !== undefined) return false;
  const retention = stream.config.retention ?? "limits";
  return retention === "limits" || (stream.group.peers.length === 1 && stream.group.peers[0] === self);
}

interface Pending {
  dseq: number;
  /** When delivered (ns), or when the ack wait starts again. */
  ts: bigint;
}

/** A delivery proposed, sent once its entry is committed. */
interface Outgoing {
  target: string;
  msg: StoredMsg;
  ackReply: string;
}

export class NrgConsumerLeader {
  private subs: Subscription[] = [];
  private sysSubs: Subscription[] = [];
  /** The next stream sequence to look at and the next delivery sequence (nats-server's o.sseq, o.dseq). */
  private sseq = 1;
  private dseq = 1;
  private ackFloor = { consumer: 0, stream: 0 };
  private readonly pending = new Map<number, Pending>();
  /** Stream sequence -> times delivered, for those delivered more than once. */
  private readonly rdc = new Map<number, number>();
  /** Stream sequences to deliver again, in order. */
  private rdq: number[] = [];
  private waiting = new WaitQueue(DEFAULT_MAX_WAITING);
  /** Proposed deliveries by delivery sequence, sent when committed. */
  private readonly outgoing = new Map<number, Outgoing>();
  /** Double-ack confirmations by stream sequence, sent when the ack is committed. */
  private readonly ackReplies = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  private lastActiveNs = 0n;
  private lastAckNs = 0n;
  private kickScheduled = false;
  private lastDeliveryMs = 0;
  /** Flow control (push, flow_control): bytes sent and not yet answered, the window, the request out ("" none) and what it covers. */
  private fc = { pbytes: 0, maxpb: FC_MAX_PENDING / 16, id: "", size: 0 };
  /** The last pull request, ack or delivery (ms): the inactivity threshold counts from it. */
  private lastActivityMs = Date.now();
  private deleteForwarded = false;
  private lastHeartbeatMs = 0;
  private removeInterestListener: (() => void) | undefined;
  private readonly onStored = (): void => this.kick();
  /** Deliver last per subject, while its start set lasts: those sequences, then on from `resume` (nats-server's lastSeqSkipList). */
  private lss: { seqs: number[]; resume: number } | undefined;
  /** replay_policy original and rate_limit_bps; `paceDue`: when a held-back delivery may go (ms, 0 none). */
  private readonly pacer = new DeliveryPacer(
    () => this.config,
    () => rateBurst(this.stream.stream.config.max_msg_size, this.srv.account.limits.maxPayload, this.srv.maxPayload),
  );
  private paceDue = 0;
  /** Priority groups: the pinned client (kept on the leader only, as nats-server does), overflow's thresholds. */
  private readonly priority = new PriorityGroups({
    policy: () => (typeof this.config.priority_policy === "string" ? this.config.priority_policy : "none"),
    groups: () => (Array.isArray(this.config.priority_groups) ? this.config.priority_groups.filter((g): g is string => typeof g === "string") : []),
    timeoutMs: () => this.num("priority_timeout") / 1e6,
    pinned: (group, id) => groupPinned(this.advisoryContext, this.streamName, this.name, group, id),
    unpinned: (group, reason) => groupUnpinned(this.advisoryContext, this.streamName, this.name, group, reason),
    kick: () => this.kick(),
  });
  counters = { delivered: 0, redelivered: 0, acks: 0, naks: 0, terms: 0, requests: 0 };
  /** A Direct consumer idle past its inactive_threshold: removed where it runs (it has no assignment to remove). */
  onInactive: (() => void) | undefined;

  constructor(
    private readonly srv: NrgLeaderServer,
    private readonly stream: NrgStreamReplica,
    private readonly replica: NrgConsumerReplica,
    /** Undefined for a Direct consumer (a mirror's or source's on its origin's leader): no group, no API of its own. */
    private readonly campaign: NrgCampaign | undefined,
    private readonly assignment: () => { stream: NrgMetaStream; consumer: NrgMetaConsumer } | undefined,
    private readonly name: string,
  ) {}

  /** The copy of the stream it delivers from. */
  get streamCopy(): NrgStreamReplica {
    return this.stream;
  }

  private get config(): Record<string, unknown> {
    return this.assignment()?.consumer.config ?? {};
  }

  private get advisoryContext(): AdvisoryContext {
    return { account: this.srv.account, domain: this.srv.domain, serverName: this.srv.serverName };
  }

  private get streamName(): string {
    return this.stream.stream.config.name;
  }

  private get ackPolicy(): string {
    return typeof this.config.ack_policy === "string" ? this.config.ack_policy : "none";
  }

  private num(key: string): number {
    const v = this.config[key];
    return typeof v === "number" ? v : 0;
  }

  private get filters(): string[] {
    const c = this.config;
    const list = Array.isArray(c.filter_subjects) ? c.filter_subjects.filter((f): f is string => typeof f === "string" && f !== "") : [];
    if (typeof c.filter_subject === "string" && c.filter_subject !== "") list.push(c.filter_subject);
    return list;
  }

  /** Leading with a current state: take the committed state, then the consumer's subjects. */
  start(): void {
    const r = this.replica;
    this.dseq = r.delivered.consumer + 1;
    this.ackFloor = { ...r.ackFloor };
    for (const [sseq, p] of r.pending) this.pending.set(sseq, { dseq: p.deliverySequence, ts: p.timestamp });
    for (const [sseq, n] of r.redelivered) this.rdc.set(sseq, n + 1);
    const maxWaiting = this.num("max_waiting");
    this.waiting = new WaitQueue(maxWaiting > 0 ? maxWaiting : DEFAULT_MAX_WAITING);
    if (r.delivered.consumer === 0 && r.delivered.stream === 0 && r.ackFloor.stream === 0) {
      // No state yet: where the config says to start, proposed to the group (updateSkipped).
      this.sseq = this.startingSequence();
      this.propose({ op: "skip", streamSequence: this.sseq });
    } else this.sseq = r.delivered.stream + 1;
    // Everything pending whose ack wait ran out while another leader held it is due again.
    this.checkAckWait();
    this.replica.onApplied = (e) => this.applied(e);
    this.stream.appliedWatchers.add(this.onStored);
    const acc = this.srv.account;
    const on = (subject: string, handler: (subject: string, reply: string, hdr: Buffer | undefined, body: Buffer) => void): void => {
      this.subs.push(acc.subscribeInternal(subject, (s, reply, hdr, payload) => handler(s, reply, hdr === undefined ? undefined : Buffer.from(hdr), Buffer.from(payload)), undefined, "nrg-consumer-leader"));
    };
    on(`$JS.API.CONSUMER.MSG.NEXT.${this.streamName}.${this.name}`, (_s, reply, hdr, body) => this.nextRequest(reply, hdr, body));
    if (this.ackPolicy !== "none") on(`$JS.ACK.${this.streamName}.${this.name}.*.*.*.*.*`, (s, reply, _hdr, body) => this.onAck(s, reply, body));
    if (this.config.flow_control === true) on(`$JS.FC.${this.streamName}.${this.name}.*`, (s) => this.onFlowControl(s));
    this.watchDeliverSubject();
    // A Direct consumer is no group's: no API answers, no leader advisory (nats-server's are the assignment's).
    if (this.campaign !== undefined) this.startApi();
    this.arm();
    this.kick();
  }

  private startApi(): void {
    const sys = this.srv.sys;
    const onSys = (subject: string, handler: (reply: string, hdr: Buffer | undefined, body: Buffer) => void): void => {
      this.sysSubs.push(sys.subscribeInternal(subject, (_s, reply, hdr, payload) => reply !== "" && handler(reply, hdr === undefined ? undefined : Buffer.from(hdr), Buffer.from(payload)), undefined, "nrg-consumer-leader-api"));
    };
    onSys(`$JS.API.CONSUMER.INFO.${this.streamName}.${this.name}`, (reply, hdr) => this.infoRequest(reply, hdr));
    onSys(`$JS.API.CONSUMER.LEADER.STEPDOWN.${this.streamName}.${this.name}`, (reply, hdr, body) => this.stepDownRequest(reply, hdr, body));
    onSys(`$JS.API.CONSUMER.UNPIN.${this.streamName}.${this.name}`, (reply, hdr, body) => this.unpinRequest(reply, hdr, body));
    onSys(`$JSC.CI.${this.stream.stream.account}.${this.streamName}.${this.name}`, (reply) => this.send(sys, reply, this.info()));
    consumerLeaderElected(this.advisoryContext, this.streamName, this.name, this.srv.serverName, this.replicas());
  }

  private watchDeliverSubject(): void {
    const ds = this.deliverSubject;
    if (ds !== undefined) {
      this.lastDeliveryMs = Date.now();
      this.removeInterestListener = this.srv.account.onInterestChange((sub, added) => {
        if (added && sub.subject === ds) this.kick();
      });
    }
  }

  stop(): void {
    for (const sub of this.subs) this.srv.account.unsubscribeInternal(sub);
    for (const sub of this.sysSubs) this.srv.sys.unsubscribeInternal(sub);
    this.subs = [];
    this.sysSubs = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.replica.onApplied = undefined;
    this.stream.appliedWatchers.delete(this.onStored);
    this.removeInterestListener?.();
    this.removeInterestListener = undefined;
    // Waiting requests are no longer ours to answer (nats-server drops them on a leader change).
    this.waiting.drain();
    this.priority.stop();
    this.outgoing.clear();
    this.ackReplies.clear();
  }

  /** Where a consumer without state starts (nats-server's selectStartingSeqNo), within the stream as it clamps it. */
  private startingSequence(): number {
    const st = this.stream.store.state();
    const optStart = this.num("opt_start_seq");
    const seq = this.unclampedStart();
    if (st.firstSeq === 0 && optStart === 0) return 1;
    if (seq > st.lastSeq && optStart === 0) return st.lastSeq + 1;
    return Math.max(seq, st.firstSeq);
  }

  private unclampedStart(): number {
    const store = this.stream.store;
    const st = store.state();
    const policy = this.config.deliver_policy;
    if (policy === "new") return st.lastSeq + 1;
    if (policy === "by_start_sequence") return Math.max(1, this.num("opt_start_seq"));
    if (policy === "last_per_subject") {
      // A stream keeping one message per subject: a plain consumer from the first.
      if (this.stream.stream.config.max_msgs_per_subject === 1) return st.firstSeq;
      const filters = this.filters;
      const seqs = store.multiLastSeqs(filters.length > 0 ? filters : [">"], 0, Number.MAX_SAFE_INTEGER);
      this.lss = seqs.length > 0 ? { seqs, resume: st.lastSeq } : undefined;
      return seqs.length > 0 ? seqs[0] : st.lastSeq;
    }
    if (policy === "by_start_time" && typeof this.config.opt_start_time === "string") {
      const ns = BigInt(Date.parse(this.config.opt_start_time)) * 1_000_000n;
      return store.getSeqFromTime(ns);
    }
    if (policy === "last") {
      const filters = this.filters;
      if (filters.length === 0) return Math.max(st.lastSeq, 1);
      let last = 0;
      for (const f of filters) last = Math.max(last, store.loadLastMsg(f)?.seq ?? 0);
      return last > 0 ? last : st.lastSeq + 1;
    }
    return Math.max(st.firstSeq, 1);
  }

  private propose(e: NrgConsumerEntry): boolean {
    return this.srv.propose(encodeNrgConsumerEntry(e));
  }

  private send(acc: Account, reply: string, body: Record<string, unknown>): void {
    acc.publish(reply, "", undefined, Buffer.from(JSON.stringify(body)));
  }

  private sendStatus(reply: string, status: string, req?: PullRequest): void {
    const pairs: Array<[string, string]> = [];
    if (req !== undefined) pairs.push(["Nats-Pending-Messages", String(req.n)], ["Nats-Pending-Bytes", String(req.b)]);
    this.srv.account.publish(reply, "", buildHeaders(pairs, status), EMPTY);
  }

  /**
   * nats-server's num_pending: the messages from the next stream sequence on that the consumer's
   * filters take. Deliver last per subject: its start set's messages still to go, then what the
   * filters take after the set (nats-server counts the set when the consumer starts, one per
   * subject, then adds each new message: a subject written twice since counts twice, with one
   * filter or several).
   */
  private numPending(): number {
    const lss = this.lss;
    return (lss?.seqs.length ?? 0) + this.takenFrom(lss === undefined ? this.sseq : lss.resume + 1);
  }

  private takenFrom(seq: number): number {
    const store = this.stream.store;
    const filters = this.filters;
    if (seq > store.lastSequence()) return 0;
    if (filters.length <= 1) return store.numPending(seq, filters[0] ?? "", false);
    return store.numPendingMulti(seq, filters);
  }

  // ---- pull requests ----

  /** A CONSUMER.MSG.NEXT request, as nats-server's processNextMsgRequest checks and queues it. */
  private nextRequest(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (reply === "") return;
    this.counters.requests++;
    if (this.deliverSubject !== undefined) {
      this.sendStatus(reply, "409 Consumer is push based");
      return;
    }
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) {
      this.sendStatus(reply, "412 Required Api Level");
      return;
    }
    const p = parsePullRequest(body);
    if (typeof p === "string") {
      this.sendStatus(reply, `400 Bad Request - ${p}`);
      return;
    }
    const policy = typeof this.config.priority_policy === "string" ? this.config.priority_policy : "none";
    const refusal = pullRequestRefusal(p, { maxBatch: this.num("max_batch"), maxExpiresNs: this.num("max_expires"), maxBytes: this.num("max_bytes"), priorityPolicy: policy }) ?? this.priority.arrival(p.group);
    if (refusal !== undefined) {
      this.sendStatus(reply, refusal);
      return;
    }
    const now = Date.now();
    if (p.noWait) {
      const available = this.numPending() + this.rdq.length;
      if (available === 0 && p.expiresNs === 0) {
        this.sendStatus(reply, "404 No Messages");
        return;
      }
    }
    const hbMs = p.hbNs / 1e6;
    const req: PullRequest = { reply, n: p.batch, d: 0, b: p.maxBytes, expiresAt: p.expiresNs > 0 ? now + p.expiresNs / 1e6 : 0, noWait: p.noWait, hbMs, hbAt: hbMs > 0 ? now + hbMs : 0, received: now, group: p.group };
    // The prioritized policy keeps requests by priority (0 first), FIFO within one (nats-server's addPrioritized).
    const added = policy === "prioritized" ? this.waiting.addPrioritized(req) : this.waiting.add(req);
    if (!added) {
      if (hbMs === 0) this.sendStatus(reply, "409 Exceeded MaxWaiting");
      return;
    }
    this.lastActiveNs = nowNs();
    this.lastActivityMs = Date.now();
    this.arm();
    this.kick();
  }

  private kick(): void {
    if (this.kickScheduled || this.subs.length === 0) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      if (this.subs.length > 0) this.deliver();
    });
  }

  /** The next message to deliver: a redelivery first, then the start set of last per subject, then the next the filters take. */
  private nextMsg(): { msg: StoredMsg; dc: number; lps?: true } | undefined {
    const store = this.stream.store;
    while (this.rdq.length > 0) {
      const seq = this.rdq[0];
      const p = this.pending.get(seq);
      const msg = p === undefined ? null : store.loadMsg(seq);
      if (p === undefined || msg === null) {
        // Acknowledged meanwhile, or gone from the stream: nothing to deliver again.
        this.rdq.shift();
        if (p !== undefined) this.dropPending(seq);
        continue;
      }
      const dc = (this.rdc.get(seq) ?? 1) + 1;
      const maxDeliver = this.num("max_deliver");
      if (maxDeliver > 0 && dc > maxDeliver) {
        // Delivered as often as allowed: it leaves pending (the members drop it with this delivery count).
        this.rdq.shift();
        this.pending.delete(seq);
        this.propose({ op: "delivered", deliverySequence: p.dseq, streamSequence: seq, deliveryCount: dc, timestamp: p.ts });
        continue;
      }
      return { msg, dc };
    }
    while (this.lss !== undefined) {
      const msg = store.loadMsg(this.lss.seqs[0]);
      if (msg !== null) return { msg, dc: 1, lps: true };
      // Gone from the stream meanwhile.
      if (this.takeLss()) this.propose({ op: "skip", streamSequence: this.sseq - 1 });
    }
    const filters = this.filters;
    if (this.sseq > store.lastSequence()) return undefined;
    const msg = filters.length <= 1 ? store.loadNextMsg(filters[0] ?? "", this.sseq) : store.loadNextMsgMulti(filters, this.sseq);
    if (msg === null) {
      // Nothing more the filters take: the members skip ahead too (nats-server's updateSkipped at EOF).
      this.sseq = store.lastSequence() + 1;
      this.propose({ op: "skip", streamSequence: this.sseq });
      return undefined;
    }
    return { msg, dc: 1 };
  }

  /**
   * The start set's next sequence is taken: the next one after it, or past the set's last, on
   * from where the stream ended when the consumer started; true then (the members are to skip
   * there: nats-server's updateSkipped at the set's end).
   */
  private takeLss(): boolean {
    const lss = this.lss;
    if (lss === undefined) return false;
    const seq = lss.seqs.shift() as number;
    if (lss.seqs.length > 0) {
      this.sseq = seq + 1;
      return false;
    }
    this.lss = undefined;
    this.sseq = lss.resume + 1;
    return true;
  }

  private dropPending(seq: number): void {
    this.pending.delete(seq);
    this.rdc.delete(seq);
  }

  /** Serve the waiting requests while there are messages and room under max_ack_pending. */
  private deliver(): void {
    const now = Date.now();
    this.expireRequests(now);
    // Paused: requests wait (and expire), nothing is delivered until the pause ends.
    if (this.pausedUntilMs() > now) return;
    const maxAckPending = this.num("max_ack_pending");
    const acks = this.ackPolicy !== "none";
    const push = this.deliverSubject;
    const flowControl = push !== undefined && this.config.flow_control === true;
    while (push !== undefined ? this.pushActive() && !(flowControl && this.fc.pbytes > this.fc.maxpb) : this.waiting.length > 0) {
      if (acks && maxAckPending > 0 && this.pending.size >= maxAckPending && this.rdq.length === 0) break;
      const next = this.nextMsg();
      if (next === undefined) break;
      let { msg } = next;
      const { dc } = next;
      // The next sequence as it will be once this one is taken (the ack reply's pending count).
      const sseqBefore = this.sseq;
      const lssBefore = this.lss === undefined ? undefined : { seqs: [...this.lss.seqs], resume: this.lss.resume };
      const lssEnded = next.lps === true && this.takeLss();
      if (next.lps !== true && dc === 1) this.sseq = msg.seq + 1;
      const ackReply = `$JS.ACK.${this.streamName}.${this.name}.${dc}.${msg.seq}.${this.dseq}.${msg.time}.${this.numPending()}`;
      // Headers only: the payload's size in Nats-Msg-Size instead of the payload (nats-server's convertToHeadersOnly).
      if (this.config.headers_only === true) msg = { ...msg, hdr: setHeader(msg.hdr, "Nats-Msg-Size", String(msg.data.length)), data: EMPTY };
      const due = this.pacer.due(msg.time, msg.subject.length + ackReply.length + (msg.hdr?.length ?? 0) + msg.data.length, dc === 1, now);
      const target = due > 0 ? undefined : (push ?? this.nextWaiting(msg, ackReply.length, dc === 1 ? this.numPending() : undefined)?.reply);
      if (target === undefined) {
        // Not now: taken again next time (nats-server's o.sseq-- when no request takes it).
        this.sseq = sseqBefore;
        if (lssBefore !== undefined) this.lss = lssBefore;
        if (due > 0) {
          this.paceDue = due;
          this.arm();
        }
        break;
      }
      this.pacer.sent(msg.time, now);
      // A pinned client's deliveries carry its pin (nats-server's Nats-Pin-Id).
      if (push === undefined && this.priority.pinId !== "" && this.config.priority_policy === "pinned_client") msg = { ...msg, hdr: setHeader(msg.hdr, "Nats-Pin-Id", this.priority.pinId) };
      if (lssEnded) this.propose({ op: "skip", streamSequence: this.sseq - 1 });
      if (dc > 1) {
        this.rdq.shift();
        this.rdc.set(msg.seq, dc);
        this.counters.redelivered++;
      }
      const dseq = this.dseq++;
      const ts = nowNs();
      if (acks) {
        const p = this.pending.get(msg.seq);
        if (p === undefined) this.pending.set(msg.seq, { dseq, ts });
        else p.ts = ts;
      }
      if (!acks) this.ackFloor = { consumer: dseq, stream: msg.seq };
      // Without acks, or with flow control, sent at once (nats-server replicates neither first).
      if (acks && !flowControl) this.outgoing.set(dseq, { target, msg, ackReply });
      else {
        this.srv.account.routeDelivery(target, msg.subject, ackReply, msg.hdr, msg.data);
        if (flowControl) this.flowControl(target, target.length + ackReply.length + (msg.hdr?.length ?? 0) + msg.data.length);
      }
      // Without acks, an interest or work-queue stream hears of the delivery as an ack (nats-server's deliverMsg).
      const noAckRetention = !acks && runningRetention(this.stream.stream.config, this.stream.stream.group) !== "limits";
      this.counters.delivered++;
      this.lastActiveNs = ts;
      this.lastDeliveryMs = now;
      this.lastActivityMs = now;
      this.propose({ op: "delivered", deliverySequence: dseq, streamSequence: msg.seq, deliveryCount: dc, timestamp: ts });
      if (noAckRetention) this.propose({ op: "ack", deliverySequence: dseq, streamSequence: msg.seq });
    }
    // A no_wait request with nothing more to get ends now.
    if (this.waiting.length > 0 && this.nextMsgAvailable() === false) this.endNoWait();
  }

  /**
   * Flow control of a push consumer (nats-server's needFlowControl / sendFlowControl): past half
   * its window a "100 FlowControl Request" goes to the deliver subject with a `$JS.FC` reply;
   * past the whole window delivery waits for that answer.
   */
  private flowControl(target: string, size: number): void {
    const fc = this.fc;
    fc.pbytes += size;
    if (fc.id === "" && fc.pbytes > fc.maxpb / 2) {
      fc.id = `$JS.FC.${this.streamName}.${this.name}.${Math.random().toString(36).slice(2, 6).padEnd(4, "0")}`;
      fc.size = fc.pbytes;
      this.srv.account.publish(target, fc.id, FC_REQUEST, EMPTY);
    } else if (fc.id !== "" && fc.pbytes - fc.size >= fc.maxpb) fc.size += size;
  }

  /** The answer to our latest flow control request: the window grows (up to its limit), what it covered is no longer in flight. */
  private onFlowControl(subject: string): void {
    const fc = this.fc;
    if (subject !== fc.id) return;
    fc.maxpb = Math.min(fc.maxpb * 2, FC_MAX_PENDING);
    fc.pbytes = Math.max(0, fc.pbytes - fc.size);
    fc.id = "";
    fc.size = 0;
    this.kick();
  }

  /** When the consumer's pause (pause_until) ends, in ms since the epoch (0: not paused). */
  private pausedUntilMs(): number {
    const p = this.config.pause_until;
    const ms = typeof p === "string" ? Date.parse(p) : NaN;
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }

  /** A push consumer's deliver subject, undefined for a pull consumer. */
  private get deliverSubject(): string | undefined {
    const ds = this.config.deliver_subject;
    return typeof ds === "string" && ds !== "" ? ds : undefined;
  }

  /** A push consumer delivers while someone (here or across a route) listens on its deliver subject. */
  private pushActive(): boolean {
    const ds = this.deliverSubject;
    return ds !== undefined && this.srv.account.sublist.hasInterest(ds);
  }

  /** A push consumer's idle heartbeat, with where it stands (Nats-Last-Consumer / Nats-Last-Stream). */
  private pushHeartbeat(now: number): void {
    const ds = this.deliverSubject;
    const hbMs = this.num("idle_heartbeat") / 1e6;
    if (ds === undefined || hbMs <= 0 || now - this.lastDeliveryMs < hbMs || now - this.lastHeartbeatMs < hbMs) return;
    this.lastHeartbeatMs = now;
    this.heartbeat(ds);
  }

  private heartbeat(subject: string): void {
    const pairs: Array<[string, string]> = [
      ["Nats-Last-Consumer", String(this.dseq - 1)],
      ["Nats-Last-Stream", String(this.sseq - 1)],
    ];
    // A flow control request unanswered: the client is told which one (it may have been lost).
    if (this.fc.id !== "" && this.deliverSubject === subject) pairs.push(["Nats-Consumer-Stalled", this.fc.id]);
    this.srv.account.publish(subject, "", buildHeaders(pairs, "100 Idle Heartbeat"), EMPTY);
  }

  private nextMsgAvailable(): boolean {
    return this.rdq.length > 0 || this.numPending() > 0;
  }

  /**
   * The request the next message goes to (nats-server's nextWaiting: pins and overflow's
   * thresholds applied). `npc`: the messages pending once a new one is taken (undefined: a
   * redelivery, the count as it is).
   */
  private nextWaiting(msg: StoredMsg, replyLength: number, npc: number | undefined): PullRequest | undefined {
    return this.priority.nextWaiting(this.waiting, {
      size: msg.subject.length + replyLength + (msg.hdr?.length ?? 0) + msg.data.length,
      npc: npc ?? this.numPending(),
      ackPending: this.pending.size,
      now: Date.now(),
      prioritized: this.config.priority_policy === "prioritized",
      status: (wr, status) => this.sendStatus(wr.reply, status, wr),
      listening: (reply) => this.srv.account.sublist.hasInterest(reply),
    });
  }

  private endNoWait(): void {
    for (const wr of [...this.waiting.all()]) {
      if (!wr.noWait) continue;
      if (wr.expiresAt === 0 || wr.d > 0) {
        this.sendStatus(wr.reply, "404 No Messages");
        this.waiting.remove(wr);
      }
    }
  }

  /** 408 to expired requests, idle heartbeats to those due one. */
  private expireRequests(now: number): void {
    for (const wr of [...this.waiting.all()]) {
      if (wr.expiresAt > 0 && now >= wr.expiresAt) {
        this.sendStatus(wr.reply, "408 Request Timeout", wr);
        this.waiting.remove(wr);
        continue;
      }
      if (wr.hbAt > 0 && now >= wr.hbAt) {
        this.heartbeat(wr.reply);
        wr.hbAt = now + wr.hbMs;
      }
    }
  }

  /** The next look at requests and ack waits: the earliest due, at most a second away. */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    let due = Date.now() + TICK_MS;
    const pause = this.pausedUntilMs();
    if (pause > Date.now()) due = Math.min(due, pause);
    if (this.paceDue > 0) due = Math.min(due, this.paceDue);
    const hbMs = this.deliverSubject !== undefined ? this.num("idle_heartbeat") / 1e6 : 0;
    if (hbMs > 0) due = Math.min(due, Math.max(this.lastDeliveryMs, this.lastHeartbeatMs) + hbMs);
    for (const wr of this.waiting.all()) {
      if (wr.expiresAt > 0) due = Math.min(due, wr.expiresAt);
      if (wr.hbAt > 0) due = Math.min(due, wr.hbAt);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.subs.length === 0) return;
      if (this.paceDue > 0 && Date.now() >= this.paceDue) this.paceDue = 0;
      this.checkAckWait();
      this.deliver();
      this.pushHeartbeat(Date.now());
      this.checkInactive(Date.now());
      this.arm();
    }, Math.max(0, due - Date.now()));
    this.timer.unref();
  }

  /**
   * Inactive past its inactive_threshold (no pull request waiting or listener on the deliver
   * subject, none since the threshold, and every pending message's ack wait plus the threshold
   * over), the consumer asks the meta leader to remove it, as nats-server's leader does
   * (deleteNotActive: its assignment, reply cleared, as a removal forwarded to the meta leader).
   */
  private checkInactive(now: number): void {
    const thresholdMs = this.num("inactive_threshold") / 1e6;
    if (thresholdMs <= 0 || this.deleteForwarded) return;
    if (this.deliverSubject !== undefined ? this.pushActive() : this.waiting.length > 0) {
      this.lastActivityMs = now;
      return;
    }
    if (now - this.lastActivityMs < thresholdMs) return;
    const ackWaitMs = (this.num("ack_wait") > 0 ? this.num("ack_wait") : DEFAULT_ACK_WAIT_NS) / 1e6;
    for (const p of this.pending.values()) if (Number(p.ts / 1_000_000n) + ackWaitMs + thresholdMs > now) return;
    if (this.onInactive !== undefined) {
      this.deleteForwarded = true;
      this.onInactive();
      return;
    }
    const a = this.assignment();
    if (a === undefined) return;
    this.deleteForwarded = true;
    const c = a.consumer;
    const ca = { client: c.client, created: c.created, name: c.name, stream: c.stream, consumer: c.config, group: c.group };
    this.srv.forwardMeta(Buffer.concat([Buffer.from([NrgEntryOp.RemoveConsumer]), Buffer.from(JSON.stringify(ca))]));
  }

  /** A pending message's ack wait: with back-off, the entry for the times it was delivered (the last one past the list's end). */
  private ackWaitNs(seq: number): bigint {
    const backoff = Array.isArray(this.config.backoff) ? this.config.backoff.filter((b): b is number => typeof b === "number") : [];
    if (backoff.length > 0) return BigInt(backoff[Math.min((this.rdc.get(seq) ?? 1) - 1, backoff.length - 1)]);
    return BigInt(this.num("ack_wait") > 0 ? this.num("ack_wait") : DEFAULT_ACK_WAIT_NS);
  }

  /** Pending messages whose ack wait ran out go to the redelivery queue (nats-server's checkPending). */
  private checkAckWait(): void {
    if (this.ackPolicy === "none") return;
    const now = nowNs();
    const queued = new Set(this.rdq);
    const due = [...this.pending.entries()].filter(([seq, p]) => !queued.has(seq) && now - p.ts >= this.ackWaitNs(seq)).map(([seq]) => seq);
    if (due.length === 0) return;
    this.rdq.push(...due.sort((a, b) => a - b));
    this.kick();
  }

  // ---- committed entries ----

  /** One of the group's entries applied to this member's state: a committed delivery goes out, a committed ack is confirmed. */
  private applied(e: NrgConsumerEntry): void {
    if (e.op === "delivered") {
      const out = this.outgoing.get(e.deliverySequence);
      if (out === undefined) return;
      this.outgoing.delete(e.deliverySequence);
      // Acknowledged or past max_deliver meanwhile: not sent.
      if (!this.pending.has(out.msg.seq)) return;
      this.srv.account.routeDelivery(out.target, out.msg.subject, out.ackReply, out.msg.hdr, out.msg.data);
    } else if (e.op === "ack") {
      const reply = this.ackReplies.get(e.streamSequence);
      if (reply === undefined) return;
      this.ackReplies.delete(e.streamSequence);
      this.srv.account.publish(reply, "", undefined, EMPTY);
    }
  }

  // ---- acks ----

  /** `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>` with an ack body (nats-server's processAck). */
  private onAck(subject: string, reply: string, body: Buffer): void {
    const t = subject.split(".");
    const dc = Number(t[4]);
    const sseq = Number(t[5]);
    const dseq = Number(t[6]);
    if (![dc, sseq, dseq].every((n) => Number.isSafeInteger(n) && n >= 0)) return;
    const text = body.toString("latin1");
    let confirm = reply !== "";
    if (text === "" || text === "+ACK" || text === "+OK") confirm = !this.ack(sseq, dseq, reply) && confirm;
    else if (text.startsWith("+NXT")) {
      this.ack(sseq, dseq, "");
      confirm = false;
      if (reply !== "") this.nextRequest(reply, undefined, body.subarray(4));
    } else if (text.startsWith("-NAK")) this.nak(sseq, dseq, text.slice(4).trim());
    else if (text === "+WPI") this.progress(sseq);
    else if (text.startsWith("+TERM")) {
      this.counters.terms++;
      confirm = !this.ack(sseq, dseq, reply) && confirm;
    }
    if (confirm) this.srv.account.publish(reply, "", undefined, EMPTY);
  }

  /**
   * An ack (or a TERM): the pending message leaves, the change is proposed; true when its
   * confirmation waits for the commit (nats-server's updateAcks with a reply).
   */
  private ack(sseq: number, dseq: number, reply: string): boolean {
    // Above what this leader delivered: another leader's delivery it does not know (ignored, as nats-server).
    if (sseq >= this.sseq) return false;
    this.lastAckNs = nowNs();
    this.lastActivityMs = Date.now();
    const policy = this.ackPolicy;
    if (policy === "explicit") {
      const p = this.pending.get(sseq);
      this.rdc.delete(sseq);
      this.rdq = this.rdq.filter((s) => s !== sseq);
      if (p === undefined) return false;
      this.pending.delete(sseq);
      this.counters.acks++;
      this.moveAckFloor(p.dseq, sseq);
      this.propose({ op: "ack", deliverySequence: p.dseq, streamSequence: sseq });
    } else if (policy === "all") {
      if (dseq <= this.ackFloor.consumer || sseq <= this.ackFloor.stream) return false;
      this.ackFloor = { consumer: dseq, stream: sseq };
      for (const seq of [...this.pending.keys()]) if (seq <= sseq) this.dropPending(seq);
      this.rdq = this.rdq.filter((s) => s > sseq);
      this.counters.acks++;
      this.propose({ op: "ack", deliverySequence: dseq, streamSequence: sseq });
    } else return false;
    this.kick();
    if (reply === "") return false;
    this.ackReplies.set(sseq, reply);
    return true;
  }

  /** The ack floor after an explicit ack: up to just below the oldest still pending. */
  private moveAckFloor(dseq: number, sseq: number): void {
    if (this.pending.size === 0) {
      this.ackFloor = { consumer: this.dseq - 1, stream: this.sseq - 1 };
      return;
    }
    if (dseq !== this.ackFloor.consumer + 1) return;
    let lowest: number | undefined;
    for (const s of this.pending.keys()) if (lowest === undefined || s < lowest) lowest = s;
    const p = lowest === undefined ? undefined : this.pending.get(lowest);
    if (lowest !== undefined && p !== undefined) this.ackFloor = { consumer: p.dseq - 1, stream: lowest - 1 };
    else this.ackFloor = { consumer: dseq, stream: sseq };
  }

  private nak(sseq: number, dseq: number, arg: string): void {
    const p = this.pending.get(sseq);
    if (p === undefined || dseq <= this.ackFloor.consumer) return;
    this.counters.naks++;
    const delayMs = nakDelayMs(arg);
    if (delayMs > 0) {
      // Due again once the delay has passed: its ack wait restarts so that it ends then.
      p.ts = nowNs() + BigInt(Math.round(delayMs * 1e6)) - this.ackWaitNs(sseq);
      return;
    }
    if (!this.rdq.includes(sseq)) this.rdq.push(sseq);
    this.kick();
  }

  /** +WPI: the ack wait starts again, and the members hear of it (an updateDelivered with the same delivery). */
  private progress(sseq: number): void {
    const p = this.pending.get(sseq);
    if (p === undefined) return;
    p.ts = nowNs();
    this.propose({ op: "delivered", deliverySequence: p.dseq, streamSequence: sseq, deliveryCount: 1, timestamp: p.ts });
  }

  // ---- API answers ----

  private ours(hdr: Buffer | undefined): boolean {
    return requestAccount(hdr) === this.stream.stream.account;
  }

  private replicas(): Record<string, unknown>[] {
    const peers = this.assignment()?.consumer.group.peers ?? [];
    return this.campaign === undefined ? [] : nrgReplicas(this.campaign, peers, (id) => this.srv.nameOf(id));
  }

  /** ConsumerInfo as nats-server's leader answers it. */
  info(): Record<string, unknown> {
    const a = this.assignment();
    const cfg = this.config;
    const lastActive = this.lastActiveNs > 0n ? { last_active: rfc3339(this.lastActiveNs) } : {};
    const lastAck = this.lastAckNs > 0n ? { last_active: rfc3339(this.lastAckNs) } : {};
    // A Direct consumer's info has no cluster (nats-server's: it belongs to no group).
    const cluster = this.campaign === undefined ? undefined : nrgClusterInfo(this.srv, this.campaign, a?.consumer.group.name ?? "", a?.consumer.group.peers ?? [], a === undefined ? undefined : desiredOf(a.consumer.group));
    const r = this.replica;
    const committed = r.delivered.consumer > 0 || r.delivered.stream > 0 || r.ackFloor.stream > 0;
    return {
      stream_name: this.streamName,
      name: this.name,
      created: a?.consumer.created,
      config: { ...cfg, metadata: dynamicMetadata(cfg.metadata as Record<string, string> | undefined) },
      // Delivered and the ack floor as committed (nats-server reads them from its store), the
      // leader's own sequences only while nothing is committed yet.
      delivered: { consumer_seq: committed ? r.delivered.consumer : this.dseq - 1, stream_seq: committed ? r.delivered.stream : this.sseq - 1, ...lastActive },
      ack_floor: { consumer_seq: r.ackFloor.consumer, stream_seq: r.ackFloor.stream, ...lastAck },
      num_ack_pending: this.pending.size,
      num_redelivered: this.num("max_deliver") === 1 ? 0 : this.rdc.size,
      num_waiting: this.waiting.length,
      num_pending: this.numPending(),
      ...this.pauseInfo(),
      ...this.priority.infoJson(),
      ...(cluster !== undefined ? { cluster } : {}),
      ts: rfc3339(nowNs()),
    };
  }

  /** A committed create or update of the consumer this server leads: the requester gets its info. */
  answerCreate(reply: string): void {
    if (this.subs.length === 0) return;
    this.send(this.srv.sys, reply, { type: "io.nats.jetstream.api.v1.consumer_create_response", ...this.info() });
  }

  /** nats-server's paused / pause_remaining (ns), while a pause lasts. */
  private pauseInfo(): Record<string, unknown> {
    const remaining = this.pausedUntilMs() - Date.now();
    return remaining > 0 ? { paused: true, pause_remaining: remaining * 1_000_000 } : {};
  }

  private infoRequest(reply: string, hdr: Buffer | undefined): void {
    if (!this.ours(hdr)) return;
    const type = "io.nats.jetstream.api.v1.consumer_info_response";
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) {
      this.send(this.srv.sys, reply, { type, error: jsError("JSRequiredApiLevelErr").toJSON() });
      return;
    }
    this.send(this.srv.sys, reply, { type, ...this.info() });
  }

  private stepDownRequest(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    const type = "io.nats.jetstream.api.v1.consumer_leader_stepdown_response";
    let preferred: string | undefined;
    try {
      if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
      preferred = this.srv.stepDownTarget(stepDownPlacement(body));
    } catch (err) {
      const e = err instanceof ApiError ? err : jsError("JSInvalidJSONErr", { err: (err as Error).message });
      this.send(this.srv.sys, reply, { type, error: e.toJSON() });
      return;
    }
    this.send(this.srv.sys, reply, { type, success: true });
    this.srv.stepDown(preferred);
  }

  /** CONSUMER.UNPIN while this server leads (nats-server's jsConsumerUnpinRequest on the consumer's leader). */
  private unpinRequest(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    // nats-server answers nothing to a request needing a newer API level.
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) return;
    const type = "io.nats.jetstream.api.v1.consumer_unpin_response";
    let group: string;
    try {
      group = parseUnpinGroup(body);
      if (!Array.isArray(this.config.priority_groups) || !this.config.priority_groups.includes(group)) throw jsError("JSConsumerInvalidPriorityGroupErr");
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.send(this.srv.sys, reply, { type, error: err.toJSON() });
      return;
    }
    this.priority.unpin(group);
    this.send(this.srv.sys, reply, { type });
  }

  json(): Record<string, unknown> {
    return {
      next_stream_seq: this.sseq,
      next_delivery_seq: this.dseq,
      ack_floor: { ...this.ackFloor },
      pending: this.pending.size,
      redelivery_queue: this.rdq.length,
      waiting: this.waiting.length,
      counters: { ...this.counters },
    };
  }
}
