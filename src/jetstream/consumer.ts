// A consumer: a cursor over a stream with delivery tracking. Push consumers send to a
// deliver subject while someone listens there (flow control and idle heartbeats included);
// pull consumers keep a queue of waiting requests (batch, max_bytes, expires, no_wait,
// heartbeats) and answer them with messages or 404/408/409 statuses.
//
// Acks come back on the `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
// reply subjects (the format clients parse for message metadata). Every state change goes
// through `applyConsumerOp`; the state object is handed to the ConsumerStore, which writes
// it coalesced, so durable consumers come back after a restart where they left off.
import type { Subscription } from "../server/sublist.js";
import { subjectIsSubsetOf, subjectMatches } from "../protocol/subject.js";
import { parseDuration } from "../config/conf_parser.js";
import type { ConsumerState, ConsumerStore, PendingEntry, StoredMsg } from "../storage/store.js";
import { cloneConsumerState, emptyConsumerState } from "../storage/store.js";
import * as adv from "./advisories.js";
import { filtersOf, METADATA_IN_ANSWERS, optStartTimeNs, replicatedConsumer, stampInactiveThreshold, withoutServerMetadata, type ConsumerConfig } from "./consumer_config.js";
import { jsError } from "./errors.js";
import { dynamicMetadata } from "./api_level.js";
import { parsePullRequest, pullRequestRefusal, WaitQueue, type PullRequest } from "./pull_request.js";
import type { Stream } from "./stream.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";
import { appendHeaders, buildHeaders, getHeader } from "../protocol/headers.js";
import { parseDecimal } from "./util.js";
import { AckReply } from "./ack_reply.js";
import { DeliveryPacer, rateBurst } from "./delivery_pace.js";
import { PriorityGroups } from "./priority_groups.js";

/** The operations that change a consumer. */
export type ConsumerOp =
  | { op: "deliver"; sseq: number; dc: number; now: number; kind: "new" | "lps" | "re" }
  | { op: "ack"; sseq: number }
  | { op: "ack_all"; sseq: number }
  | { op: "nak"; sseq: number; delayMs: number }
  | { op: "progress"; sseq: number; now: number }
  | { op: "term"; sseq: number }
  | { op: "max_delivered"; sseq: number }
  | { op: "gone"; sseq: number }
  | { op: "reset_start"; sseq: number }
  | { op: "update"; config: ConsumerConfig }
  | { op: "reset"; sseq: number };

interface NextMsg {
  msg: StoredMsg;
  dc: number;
  /** "new": the cursor moves past it; "lps": from the last-per-subject start set; "re": a redelivery. */
  kind: "new" | "lps" | "re";
}

const RUN_BUDGET = 512;
/** A redelivery due past the end of this member's copy of the stream is tried again after this long. */
const NOT_HERE_RETRY_MS = 500;
/** The longest delay Node's setTimeout takes (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Flow control as nats-server does it: bytes sent and not yet confirmed may reach a window
 * that starts at 2 MB and doubles with each confirmation up to 32 MB; a confirmation is
 * asked for once half the window is out.
 */
const FC_MAX_PENDING_BYTES = 32 * 1024 * 1024;
const FC_START_WINDOW = FC_MAX_PENDING_BYTES / 16;
const EMPTY = Buffer.alloc(0);

export class Consumer {
  readonly name: string;
  cfg: ConsumerConfig;
  readonly created: bigint;
  readonly durable: boolean;
  readonly isPull: boolean;
  private filters: string[];
  private readonly st: ConsumerState;
  /** Next stream sequence to look at for new messages. */
  private sseq: number;
  /** Messages left to deliver (new ones, matching the filters), kept incrementally. */
  private npc = 0;
  private rdq: number[] = [];
  private rdqHead = 0;
  private readonly rdqSet = new Set<number>();
  private readonly nakUntil = new Map<number, number>();
  private lpsQueue: number[] = [];
  private readonly waiting: WaitQueue;
  // Times (ms) start as double fields (server/double_zero.ts): the first Date.now() stored would
  // otherwise replace every consumer's shape mid-run and throw away the delivery path's optimized code.
  private lastWaitingCheck = DOUBLE_ZERO;
  /** Priority groups: the pinned client of the (first) group, overflow's thresholds. */
  private readonly priority = new PriorityGroups({
    policy: () => this.cfg.priority_policy ?? "none",
    groups: () => this.cfg.priority_groups ?? [],
    timeoutMs: () => (this.cfg.priority_timeout ?? 0) / 1e6,
    pinned: (group, id) => adv.groupPinned(this.stream.jsa.advisoryContext, this.stream.name, this.name, group, id),
    unpinned: (group, reason) => adv.groupUnpinned(this.stream.jsa.advisoryContext, this.stream.name, this.name, group, reason),
    kick: () => {
      if (!this.closed) this.kick();
    },
  });
  private readonly ackPrefix: string;
  /** The ack reply of the delivery being sent (reused: written into the receiver's buffer). */
  private readonly ackReply: AckReply;
  private ackSub: Subscription | undefined;
  private fcSub: Subscription | undefined;
  private removeInterestListener: (() => void) | undefined;
  private active = false;
  private inactiveSince = Date.now();
  private lastActive = Date.now();
  private lastDeliver = Date.now();
  private fcReply: string | undefined;
  private fcCounter = 0;
  /** Bytes delivered and not confirmed by a flow control reply; the current window. */
  private fcPending = 0;
  private fcWindow = FC_START_WINDOW;
  /** fcPending when the outstanding flow control request went out (what its reply confirms). */
  private fcAsked = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = DOUBLE_ZERO;
  private runScheduled = false;
  /** pause_until in ms (0: not paused), and the timer that resumes at that moment. */
  private pauseUntilMs = 0;
  private pauseTimer: NodeJS.Timeout | undefined;
  /** When something was last delivered / acknowledged (ms, 0 = never), for info's last_active. */
  private lastDeliveredMs = DOUBLE_ZERO;
  private lastAckMs = DOUBLE_ZERO;
  private readonly pacer = new DeliveryPacer(
    () => this.cfg,
    () => rateBurst(this.stream.cfg.max_msg_size, this.stream.jsa.account.limits.maxPayload, this.stream.jsa.service.server.options.maxPayload),
  );
  private sampleRate = 0;
  closed = false;

  constructor(
    readonly stream: Stream,
    name: string,
    cfg: ConsumerConfig,
    created: bigint,
    readonly cstore: ConsumerStore | undefined,
    recovered: ConsumerState | undefined,
  ) {
    this.name = name;
    // Ephemerals always have an inactivity threshold (nats-server stamps the 5 s default in).
    this.cfg = stampInactiveThreshold(cfg);
    this.created = created;
    this.durable = cfg.durable_name !== undefined && cfg.durable_name !== "";
    this.isPull = cfg.deliver_subject === undefined;
    this.filters = filtersOf(cfg);
    this.ackPrefix = `$JS.ACK.${stream.name}.${name}.`;
    this.ackReply = new AckReply(this.ackPrefix);
    this.waiting = new WaitQueue(cfg.max_waiting ?? 512);
    this.sampleRate = parseSample(cfg.sample_freq);
    if (recovered !== undefined) {
      this.st = recovered;
      this.sseq = recovered.delivered.stream_seq + 1;
    } else {
      this.st = emptyConsumerState();
      this.sseq = this.clampStart(this.startSequence());
      // As nats-server reports a fresh consumer: delivered and the ack floor are just below
      // the start (for last-per-subject: below the first message of its start set).
      this.st.delivered.stream_seq = (this.cfg.deliver_policy === "last_per_subject" ? this.lastPerSubjectStart() : this.sseq) - 1;
      this.st.ack_floor.stream_seq = this.st.delivered.stream_seq;
    }
    this.recountPending();
  }

  /**
   * nats-server's bounds on a new consumer's start: an empty stream delivers from 1, a start
   * past the stream's end comes back to just after it (unless asked for by sequence), and one
   * before the stream's first message moves up to it.
   */
  private clampStart(start: number): number {
    const state = this.stream.store.state();
    const byOptSeq = (this.cfg.opt_start_seq ?? 0) > 0;
    if (state.firstSeq === 0 && !byOptSeq) return 1;
    if (start > state.lastSeq && !byOptSeq) return state.lastSeq + 1;
    if (start < state.firstSeq) return state.firstSeq;
    return start;
  }

  /** Where a new consumer starts, from its deliver policy. */
  private startSequence(): number {
    const store = this.stream.store;
    const state = store.state();
    const first = Math.max(state.firstSeq, 1);
    switch (this.cfg.deliver_policy) {
      case "all":
        return first;
      case "new":
        return state.lastSeq + 1;
      case "last": {
        if (this.filters.length === 0) return state.lastSeq > 0 ? Math.max(state.lastSeq, first) : first;
        let best = 0;
        for (const f of this.filters) {
          const m = store.loadLastMsg(f);
          if (m !== null && m.seq > best) best = m.seq;
        }
        // No message matches yet: from the first (nats-server), which skips nothing that matters.
        return best > 0 ? best : first;
      }
      case "by_start_sequence":
        return Math.max(this.cfg.opt_start_seq ?? 1, 1);
      case "by_start_time": {
        const ns = parseRfc3339(this.cfg.opt_start_time ?? "") ?? 0n;
        return store.getSeqFromTime(ns);
      }
      case "last_per_subject": {
        // Deliver the last message of each subject first, then what arrives after now.
        const filters = this.filters.length === 0 ? [">"] : this.filters;
        this.lpsQueue = store.multiLastSeqs(filters, 0, Number.MAX_SAFE_INTEGER);
        return state.lastSeq + 1;
      }
    }
  }

  /**
   * Where nats-server says a last-per-subject consumer starts: the first message of its start
   * set, the stream's last one when nothing matches, the stream's first when every subject
   * keeps one message (then it is a plain consumer), kept within the stream.
   */
  private lastPerSubjectStart(): number {
    const state = this.stream.store.state();
    if (state.firstSeq === 0 && state.lastSeq === 0) return 1;
    let start = this.stream.cfg.max_msgs_per_subject === 1 ? state.firstSeq : this.lpsQueue.length > 0 ? this.lpsQueue[0] : state.lastSeq;
    if (start > state.lastSeq) start = state.lastSeq + 1;
    else if (start < state.firstSeq) start = state.firstSeq;
    return start;
  }

  private recountPending(): void {
    const store = this.stream.store;
    let n = this.lpsQueue.length;
    if (this.filters.length === 0) n += store.numPending(this.sseq, "", false);
    else n += store.numPendingMulti(this.sseq, this.filters);
    this.npc = n;
  }

  // ---- lifecycle ----

  start(): void {
    this.armPause();
    const acc = this.stream.jsa.account;
    // Consumers without acks, and flow-control-acked ones (2.14, for sourcing: flow control
    // replies ack), listen for no acks: an ack waiting for confirmation gets 503, as in nats-server.
    if (this.cfg.ack_policy !== "flow_control" && this.cfg.ack_policy !== "none") {
      this.ackSub = acc.subscribeInternal(`${this.ackPrefix}>`, (subject, reply, _hdr, payload) => this.processAck(subject, reply, payload), undefined, `consumer:${this.name}`);
    }
    if (!this.isPull) {
      this.watchDeliverSubject();
      if (this.cfg.flow_control) {
        this.fcSub = acc.subscribeInternal(`$JS.FC.${this.stream.name}.${this.name}.*`, (subject, _reply, hdr) => this.onFlowControlReply(subject, hdr), undefined, `consumer-fc:${this.name}`);
      }
      if (this.cfg.idle_heartbeat) this.arm(Date.now() + this.cfg.idle_heartbeat / 1e6);
    }
    this.armInactive();
    if (this.st.pending.size > 0) this.arm(Date.now() + 1);
    this.persist();
    // A replicated consumer runs its own RAFT group (consumer_group.ts): joined or started now.
    if (this.replicated) this.stream.replica?.consumerStarted(this);
    this.kick();
  }

  /** Track interest on the deliver subject: push consumers only send while someone listens. */
  private watchDeliverSubject(): void {
    const acc = this.stream.jsa.account;
    const ds = this.cfg.deliver_subject as string;
    this.removeInterestListener?.();
    this.active = this.deliveryInterest();
    if (this.active) this.inactiveSince = 0;
    else if (this.inactiveSince === 0) this.inactiveSince = Date.now();
    this.removeInterestListener = acc.onInterestChange((sub) => {
      if (this.closed || sub.subject !== ds) return;
      const was = this.active;
      this.active = this.deliveryInterest();
      if (this.active && !was) {
        this.inactiveSince = 0;
        this.kick();
      } else if (!this.active && was) {
        this.inactiveSince = Date.now();
        this.armInactive();
      }
    });
  }

  /**
   * Stop delivering. `deleted` sends 409 to waiting pulls and removes stored state. `left`: this
   * server's copy goes because the server leaves the stream's group (a move, a scale-down, a
   * peer removal): the consumer lives on elsewhere, so waiting pulls get no status, as from
   * nats-server 2.15 (the client's pull expires and it asks again, reaching the new leader).
   */
  stop(deleted: boolean, left = false): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pauseTimer !== undefined) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    const acc = this.stream.jsa.account;
    if (this.ackSub !== undefined) acc.unsubscribeInternal(this.ackSub);
    if (this.fcSub !== undefined) acc.unsubscribeInternal(this.fcSub);
    this.removeInterestListener?.();
    this.priority.stop();
    if (this.stream.replica?.consumerGroup(this.name) !== undefined) this.stream.replica.consumerStopped(this.name, deleted || left);
    // Waiting pulls learn why nothing more comes (a shutdown says what they still wanted).
    for (const r of this.waiting.drain()) {
      if (left) continue;
      if (deleted) this.sendStatus(r.reply, "409 Consumer Deleted");
      else this.sendStatus(r.reply, "409 Server Shutdown", r);
    }
    if (this.cstore !== undefined) {
      try {
        if (deleted) this.cstore.delete();
        else this.cstore.stop();
      } catch (err) {
        this.stream.jsa.service.log.error(`JetStream consumer '${this.stream.name} > ${this.name}' store: ${(err as Error).message}`);
      }
    }
  }

  private persist(): void {
    if (this.cstore !== undefined && !this.closed) this.cstore.update(this.st);
  }

  /** Take an updated config (checked by consumer_create.ts). */
  updateConfig(cfg: ConsumerConfig): void {
    this.applyConsumerOp({ op: "update", config: cfg });
    // A single replica of a replicated stream: its group keeps the config it lists while this server is down.
    if (!this.replicated) this.stream.replica?.singleReplicaConfigChanged(this.name);
  }

  /** Does someone listen on the push deliver subject right now? (an update may not move it then) */
  deliverSubjectBound(): boolean {
    const ds = this.cfg.deliver_subject;
    return ds !== undefined && ds !== "" && this.deliveryInterest();
  }

  /**
   * What makes a push consumer active, as in nats-server (its sublist notifications): a
   * subscription on exactly the deliver subject, a plain one without deliver_group, a member of
   * that queue group with it. Wildcard subscriptions and other queue groups do not count.
   */
  private deliveryInterest(): boolean {
    const ds = this.cfg.deliver_subject;
    if (ds === undefined || ds === "") return false;
    const group = this.cfg.deliver_group ?? "";
    const r = this.stream.jsa.account.sublist.match(ds);
    if (group === "") {
      for (const sub of r.psubs) if (sub.subject === ds) return true;
      return false;
    }
    for (const members of r.qsubs) for (const sub of members) if (sub.subject === ds && sub.queue === group) return true;
    return false;
  }

  /**
   * CONSUMER.RESET: back to the ack floor (seq 0) or to `seq`, which the deliver policy must
   * allow (all: any; by start sequence/time: not before the start; others: none).
   * Returns the sequence delivery restarts from.
   */
  reset(seq: number): number {
    const cfg = this.cfg;
    if (seq === 0) seq = this.st.ack_floor.stream_seq + 1;
    else if (cfg.deliver_policy === "by_start_sequence") {
      if (seq < (cfg.opt_start_seq ?? 0)) throw jsError("JSConsumerInvalidResetErr", { err: "below start seq" });
    } else if (cfg.deliver_policy === "by_start_time") {
      if (seq < this.stream.store.getSeqFromTime(optStartTimeNs(cfg))) throw jsError("JSConsumerInvalidResetErr", { err: "below start time" });
    } else if (cfg.deliver_policy !== "all") throw jsError("JSConsumerInvalidResetErr", { err: "not allowed" });
    if (seq <= 0) seq = 1;
    this.lpsQueue = [];
    this.applyConsumerOp({ op: "reset", sseq: seq });
    if (this.stream.cfg.retention === "interest") this.stream.sweepRetention();
    this.kick();
    return seq;
  }

  // ---- pause (2.11) ----

  isPaused(): boolean {
    return this.pauseUntilMs > 0 && Date.now() < this.pauseUntilMs;
  }

  /** How long the pause still lasts (ns, 0 = not paused). */
  pauseRemainingNs(): number {
    const left = this.pauseUntilMs - Date.now();
    return this.pauseUntilMs > 0 && left > 0 ? left * 1e6 : 0;
  }

  /** The consumer_pause advisory for the current pause_until. */
  sendPauseAdvisory(): void {
    adv.consumerPause(this.stream.jsa.advisoryContext, this.stream.name, this.name, this.isPaused(), this.cfg.pause_until);
  }

  /** Read pause_until and, while it lies ahead, arm the timer that resumes delivery then. */
  private armPause(): void {
    if (this.pauseTimer !== undefined) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    const ns = this.cfg.pause_until !== undefined ? parseRfc3339(this.cfg.pause_until) : undefined;
    this.pauseUntilMs = ns !== undefined && ns > 0n ? Number(ns / 1_000_000n) : 0;
    if (!this.isPaused() || this.closed) return;
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = undefined;
      if (this.closed) return;
      // A far deadline is reached in several timer steps.
      if (this.isPaused()) return this.armPause();
      this.sendPauseAdvisory();
      this.kick();
    }, Math.min(Math.max(0, this.pauseUntilMs - Date.now()) + 1, MAX_TIMER_MS));
    this.pauseTimer.unref();
  }

  private onPauseChanged(): void {
    this.armPause();
    this.sendPauseAdvisory();
  }

  // ---- stream events ----

  matchesSubject(subject: string): boolean {
    const f = this.filters;
    if (f.length === 0) return true;
    for (let i = 0; i < f.length; i++) if (subjectMatches(f[i], subject)) return true;
    return false;
  }

  onNewMessage(seq: number, subject: string): void {
    if (seq >= this.sseq && this.matchesSubject(subject)) this.npc++;
  }

  /**
   * A message left the stream; `settled`: not as an ack (a truncation, a corrupt record, or a
   * purge or rollup: `purged`, which onStreamPurged settles as a whole afterwards).
   */
  onMessageRemoved(seq: number, subject: string, settled: boolean, purged = false): void {
    if (seq >= this.sseq && this.npc > 0 && this.matchesSubject(subject)) this.npc--;
    if (purged) return;
    const p = this.st.pending.get(seq);
    if (p === undefined) return;
    if (settled) {
      this.lastAckMs = Date.now();
      this.applyConsumerOp({ op: "gone", sseq: seq });
      return;
    }
    this.settleDeleted(seq, p);
  }

  /**
   * As nats-server: a pending message that left the stream (deleted, expired, dropped by a
   * limit; or found gone when due for redelivery) counts as acknowledged (ack floor's
   * last_active) and is reported as terminated.
   */
  private settleDeleted(seq: number, p: PendingEntry): void {
    this.lastAckMs = Date.now();
    const dc = 1 + (this.st.redelivered.get(seq) ?? 0);
    if (this.cfg.ack_policy === "all") {
      // Taken as an ack, and with ack policy all an ack covers everything before it. Messages
      // no consumer needs any more leave after the store's removal is done.
      const below = this.stream.cfg.retention === "limits" ? [] : [...this.st.pending.keys()].filter((q) => q < seq);
      this.applyConsumerOp({ op: "ack_all", sseq: seq });
      if (below.length > 0 && !this.standby) queueMicrotask(() => this.checkRetentionOf(below));
    } else {
      this.applyConsumerOp({ op: "gone", sseq: seq });
    }
    if (!this.standby && !this.closed) {
      adv.msgTerminated(this.stream.jsa.advisoryContext, this.stream.name, this.name, p.sequence, seq, dc, "Unacknowledged message was deleted");
    }
  }

  /**
   * After a purge (of `subject`, if given; a rollup is one too) or a config change of the
   * stream: position, ack floor and pending as nats-server's consumer purge leaves them.
   * A purge of everything, or of a subject its one filter lies within, moves a consumer
   * behind the new start (the stream's first message, or the purged subject's first one left)
   * up to it and settles what was pending below it. A consumer that reads more than the purged
   * subject is moved only when the stream's first message passed its ack floor, and then also
   * loses the pending messages the purge removed; otherwise they stay pending until their
   * redelivery finds them gone. Consumers reading none of it keep everything.
   */
  onStreamPurged(subject = ""): void {
    const store = this.stream.store;
    const state = store.state();
    const filters = this.filters;
    let start = -1;
    let wider = false;
    if (subject === "") start = state.firstSeq;
    else if (filters.length === 1 && subjectIsSubsetOf(filters[0], subject)) {
      // nats-server 2.15 moves only a single-filter consumer so (seen side by side: with two
      // filters, one of them the purged subject, it takes the wider path below).
      const ss = store.filteredState(state.firstSeq, subject);
      start = ss.msgs > 0 ? ss.first : state.lastSeq + 1;
    } else if (filters.length === 0 || filters.some((f) => subjectIsSubsetOf(subject, f))) {
      wider = true;
      start = state.firstSeq;
    }
    if (start > 0) this.settlePurged(start, wider);
    if (this.lpsQueue.length > 0) this.lpsQueue = this.lpsQueue.filter((s) => s >= state.firstSeq && store.loadMsg(s) !== null);
    this.recountPending();
    this.kick();
  }

  private settlePurged(start: number, wider: boolean): void {
    const st = this.st;
    if (this.sseq < start) {
      this.sseq = start;
      if (st.delivered.stream_seq < start - 1) st.delivered.stream_seq = start - 1;
    }
    if (st.ack_floor.stream_seq < start) {
      st.ack_floor.stream_seq = start - 1;
      const store = this.stream.store;
      for (const [seq, p] of [...st.pending]) {
        if (seq >= start && (!wider || store.loadMsg(seq) !== null)) continue;
        if (p.sequence > st.ack_floor.consumer_seq) st.ack_floor.consumer_seq = p.sequence;
        st.pending.delete(seq);
        st.redelivered.delete(seq);
        this.nakUntil.delete(seq);
        this.lastAckMs = Date.now();
      }
    }
    if (st.pending.size === 0) {
      st.ack_floor.consumer_seq = st.delivered.consumer_seq;
      st.ack_floor.stream_seq = this.sseq - 1;
    }
    this.persist();
  }

  /** Does this consumer still need the message? (interest/workqueue retention) */
  needsAck(seq: number, subject: string): boolean {
    if (!this.matchesSubject(subject)) return false;
    if (seq >= this.sseq) return true;
    if (this.cfg.ack_policy === "none") return false;
    if (seq <= this.st.ack_floor.stream_seq) return false;
    // Acks up to a sequence cover everything below it: what is above the floor is needed.
    if (this.cfg.ack_policy === "all" || this.cfg.ack_policy === "flow_control") return true;
    return this.st.pending.has(seq);
  }

  // ---- the apply path ----

  applyConsumerOp(op: ConsumerOp): void {
    // A replicated consumer: its leader's changes go to the other members through its group
    // (consumer_group.ts), which apply them here without delivering anything themselves.
    const replica = this.stream.replica;
    if (replica !== undefined && this.replicated && !replica.applying) replica.forwardConsumer(this.name, op);
    const st = this.st;
    switch (op.op) {
      case "deliver": {
        // The same delivery once more (a change sent to a new stream leader again after it was
        // committed after all): nothing changes.
        const known = this.cfg.ack_policy === "none" ? undefined : st.pending.get(op.sseq);
        if (known !== undefined && known.timestamp === op.now && (st.redelivered.get(op.sseq) ?? 0) === op.dc - 1) return;
        // Deliveries this state already holds, applied again: a member that left the consumer's
        // group and rejoins it with a new log (a scale-down undone before it finished) is sent
        // the log from its start while it kept its copy. A new delivery behind the cursor, or a
        // redelivery of a message acknowledged since or redelivered again since, changes nothing
        // (counted again, the cursor went back and the consumer sequence ran ahead).
        if (op.kind === "new" && op.sseq < this.sseq) return;
        if (op.kind === "re" && (known === undefined || (st.redelivered.get(op.sseq) ?? 0) >= op.dc - 1)) return;
        const dseq = ++st.delivered.consumer_seq;
        if (op.kind === "new") {
          st.delivered.stream_seq = Math.max(st.delivered.stream_seq, op.sseq);
          this.sseq = op.sseq + 1;
        } else if (op.kind === "lps") {
          st.delivered.stream_seq = Math.max(st.delivered.stream_seq, op.sseq);
          // The start set is done: the cursor is already past the stream's end at creation.
          if (this.lpsQueue.length === 0) st.delivered.stream_seq = Math.max(st.delivered.stream_seq, this.sseq - 1);
        }
        if (this.cfg.ack_policy === "none") {
          st.ack_floor.consumer_seq = st.delivered.consumer_seq;
          st.ack_floor.stream_seq = st.delivered.stream_seq;
        } else {
          // Re-insert so the pending map stays ordered by delivery time. A redelivery keeps the
          // first delivery's consumer sequence (nats-server's trackPending): the ack floor moves
          // by it, so taking the new one would hold the floor back until pending empties.
          st.pending.delete(op.sseq);
          st.pending.set(op.sseq, { sequence: known?.sequence ?? dseq, timestamp: op.now });
          if (op.dc > 1) st.redelivered.set(op.sseq, op.dc - 1);
        }
        break;
      }
      case "ack":
      case "term":
      case "gone":
      case "max_delivered": {
        const p = st.pending.get(op.sseq);
        if (p === undefined) return;
        st.pending.delete(op.sseq);
        st.redelivered.delete(op.sseq);
        this.nakUntil.delete(op.sseq);
        this.moveFloorPast(p.sequence, op.sseq);
        break;
      }
      case "ack_all": {
        let removed = false;
        for (const seq of [...st.pending.keys()]) {
          if (seq <= op.sseq) {
            st.pending.delete(seq);
            st.redelivered.delete(seq);
            this.nakUntil.delete(seq);
            removed = true;
          }
        }
        if (!removed) return;
        this.advanceFloor();
        break;
      }
      case "nak": {
        if (!st.pending.has(op.sseq)) return;
        if (op.delayMs > 0) {
          // A delay replaces an earlier NAK's place in the redelivery queue.
          this.rdqSet.delete(op.sseq);
          this.nakUntil.set(op.sseq, Date.now() + op.delayMs);
        } else this.queueRedelivery(op.sseq);
        return; // nothing persisted changes
      }
      case "progress": {
        const p = st.pending.get(op.sseq);
        if (p === undefined) return;
        st.pending.delete(op.sseq);
        p.timestamp = op.now;
        st.pending.set(op.sseq, p);
        break;
      }
      case "reset_start": {
        this.sseq = op.sseq;
        if (st.delivered.stream_seq < op.sseq - 1) st.delivered.stream_seq = op.sseq - 1;
        if (st.ack_floor.stream_seq < op.sseq - 1) st.ack_floor.stream_seq = op.sseq - 1;
        break;
      }
      case "reset": {
        // Everything pending is forgotten; delivery restarts at the sequence with consumer
        // sequence 1, as for a new consumer there.
        st.pending.clear();
        st.redelivered.clear();
        this.nakUntil.clear();
        this.rdq = [];
        this.rdqHead = 0;
        this.rdqSet.clear();
        this.sseq = op.sseq;
        st.delivered.consumer_seq = 0;
        st.delivered.stream_seq = op.sseq - 1;
        st.ack_floor.consumer_seq = 0;
        st.ack_floor.stream_seq = op.sseq - 1;
        this.lastDeliveredMs = 0;
        this.lastAckMs = 0;
        this.recountPending();
        break;
      }
      case "update": {
        const old = this.cfg;
        this.cfg = stampInactiveThreshold(op.config);
        if (!this.isPull && op.config.deliver_subject !== old.deliver_subject) {
          // A new deliver subject: everything pending goes out again, to the new one.
          for (const seq of st.pending.keys()) this.queueRedelivery(seq);
          this.watchDeliverSubject();
        }
        this.filters = filtersOf(this.cfg);
        this.sampleRate = parseSample(this.cfg.sample_freq);
        this.cstore?.updateConfig(this.storedConfig());
        this.recountPending();
        if (old.pause_until !== this.cfg.pause_until) this.onPauseChanged();
        if (old.inactive_threshold !== this.cfg.inactive_threshold) this.armInactive();
        this.kick();
        break;
      }
    }
    this.persist();
  }

  /**
   * The floor after the pending message (dseq, sseq) is settled, by nats-server's rule: it moves
   * only when that message was the next above the floor, to just below the next pending message
   * after it (an out-of-order ack leaves the floor where it is, even though nothing below the
   * lowest pending message is outstanding).
   */
  private moveFloorPast(dseq: number, sseq: number): void {
    const st = this.st;
    if (st.pending.size === 0) {
      st.ack_floor.consumer_seq = st.delivered.consumer_seq;
      st.ack_floor.stream_seq = st.delivered.stream_seq;
      return;
    }
    if (dseq !== st.ack_floor.consumer_seq + 1) return;
    st.ack_floor.consumer_seq = dseq;
    st.ack_floor.stream_seq = sseq;
    let next = -1;
    if (this.sseq - sseq <= st.pending.size * 2 + 16) {
      for (let s = sseq + 1; s < this.sseq; s++) {
        if (st.pending.has(s)) {
          next = s;
          break;
        }
      }
    } else {
      for (const k of st.pending.keys()) if (k > sseq && (next < 0 || k < next)) next = k;
    }
    const p = next < 0 ? undefined : st.pending.get(next);
    if (p !== undefined && p.sequence > 0) {
      st.ack_floor.consumer_seq = p.sequence - 1;
      st.ack_floor.stream_seq = next - 1;
    }
  }

  /** Move the ack floor up to just below the lowest pending message. */
  private advanceFloor(): void {
    const st = this.st;
    if (st.pending.size === 0) {
      st.ack_floor.consumer_seq = st.delivered.consumer_seq;
      st.ack_floor.stream_seq = st.delivered.stream_seq;
      return;
    }
    // Walk from the floor when the gap is short; otherwise take the minimum of pending.
    let low = -1;
    const limit = st.pending.size * 2 + 16;
    let s = st.ack_floor.stream_seq + 1;
    for (let i = 0; i < limit && s <= st.delivered.stream_seq; i++, s++) {
      if (st.pending.has(s)) {
        low = s;
        break;
      }
    }
    if (low < 0) {
      low = Number.MAX_SAFE_INTEGER;
      for (const k of st.pending.keys()) if (k < low) low = k;
    }
    const p = st.pending.get(low);
    st.ack_floor.stream_seq = low - 1;
    if (p !== undefined) st.ack_floor.consumer_seq = Math.max(st.ack_floor.consumer_seq, p.sequence - 1);
  }

  private queueRedelivery(seq: number): void {
    if (this.rdqSet.has(seq)) return;
    this.rdqSet.add(seq);
    this.rdq.push(seq);
    this.kick();
  }

  // ---- delivery ----

  /**
   * Is this consumer's state replicated by a RAFT group of its own (`replicatedConsumer`, consumer_group.ts)? The
   * others are R1 (as nats-server's ephemerals and R1 durables): they run on the member that
   * created them, whoever leads the stream.
   */
  get replicated(): boolean {
    const replica = this.stream.replica;
    // (Updated to one replica, it stays replicated while its group removes the other members;
    // made one by its stream's scale-down, while its group moves onto the server the stream keeps.)
    return replica !== undefined && (replicatedConsumer(this.cfg, this.stream.cfg.retention) || replica.scalingDownToOne(this.name) || replica.shrinksWithStream(this.name));
  }

  /**
   * It keeps state and delivers nothing: a replicated consumer on a member that does not lead its
   * group (stream_replica.ts leadsConsumer), or a consumer of a single replica that does not run
   * here (Stream.runsAssignedWork: in a cluster, a copy the meta group does not assign here, or
   * not yet known to, waiting for its removal; resumed when its assignment becomes known).
   */
  get standby(): boolean {
    const replica = this.stream.replica;
    if (replica === undefined) return !this.stream.runsAssignedWork();
    return this.replicated && !replica.leadsConsumer(this.name);
  }

  /** Is this copy's group leader elected here, applying what came before (it leads once done)? */
  get electedHere(): boolean {
    return this.replicated && this.stream.replica?.consumerGroup(this.name)?.node.isLeader === true;
  }

  /**
   * A pull request reached this copy: served when it leads; held while its group just elected it
   * and it applies the entries before (the create is answered once a leader is known, and the
   * client's first pull may come before that leader is ready); dropped by the others.
   */
  pullRequest(reply: string, body: Buffer, unmet: boolean): void {
    if (!this.standby) this.processPullRequest(reply, body, unmet);
    else if (this.electedHere) this.stream.replica?.consumerGroup(this.name)?.whenLeading(() => {
      if (!this.closed && !this.standby) this.processPullRequest(reply, body, unmet);
    });
  }

  /** This member now leads the consumer: deliveries and redeliveries resume from the replicated state. */
  resume(): void {
    if (this.closed) return;
    if (this.replicated) {
      // Its inactivity counts from now: clients idle towards the old leader get one threshold.
      this.lastActive = Date.now();
      if (!this.active) this.inactiveSince = Date.now();
      this.armInactive();
    }
    // While it followed, the leader's deliveries moved its cursor without counting down what is
    // left to deliver (new messages counted up): counted again now.
    this.recountPending();
    if (this.st.pending.size > 0) this.arm(Date.now() + 1);
    if (!this.isPull && this.cfg.idle_heartbeat) this.arm(Date.now() + this.cfg.idle_heartbeat / 1e6);
    this.kick();
  }

  /**
   * Another member leads this consumer now: pull requests waiting here learn it (nats-server's
   * 409 Leadership Change, sent on CONSUMER.LEADER.STEPDOWN) and ask again. `leaving`: this server
   * leaves the stream's group (a move): they are dropped without a status, as by nats-server
   * 2.15 in a move, and expire at the client.
   */
  leadershipMoved(leaving = false): void {
    if (this.closed) return;
    // (Without Nats-Pending-* headers, as nats-server 2.15 sends it.)
    for (const r of this.waiting.drain()) if (!leaving) this.sendStatus(r.reply, "409 Leadership Change");
  }

  kick(): void {
    if (this.runScheduled || this.closed) return;
    this.runScheduled = true;
    setImmediate(() => this.run());
  }

  /** Push: someone listens and flow control is not holding delivery back. */
  private pushReady(): boolean {
    if (!this.active) return false;
    return !(this.cfg.flow_control && this.fcPending > this.fcWindow);
  }

  /**
   * Deliver what can go now (nats-server's loopAndGatherMsgs): until nothing is left, no
   * one can take it, or the consumer is paused. Then pull requests are checked for expiry,
   * interest, no_wait ends and heartbeats.
   */
  private run(): void {
    this.runScheduled = false;
    if (this.closed || this.standby) return;
    const now = Date.now();
    let budget = RUN_BUDGET;
    let waitForMsgs = true;
    let ackPendingStall = false;
    for (;;) {
      if (this.pauseUntilMs > 0 && now < this.pauseUntilMs) break;
      if (this.isPull ? this.waiting.length === 0 : !this.pushReady()) break;
      if (budget-- <= 0) {
        waitForMsgs = false;
        this.kick();
        break;
      }
      const next = this.nextMessage(this.atAckPendingLimit());
      if (next === undefined) {
        ackPendingStall = this.atAckPendingLimit();
        break;
      }
      const r = this.deliver(next, now);
      if (r === "wait") {
        waitForMsgs = false;
        break;
      }
      if (r === "none") break;
    }
    // At max ack pending no_wait requests keep waiting (the messages are there).
    if (this.isPull && waitForMsgs) this.processWaiting(!ackPendingStall, now);
  }

  private atAckPendingLimit(): boolean {
    const max = this.cfg.max_ack_pending ?? 0;
    return this.cfg.ack_policy !== "none" && max > 0 && this.st.pending.size >= max;
  }

  /** Redeliveries first, then last-per-subject start set, then new messages. */
  private nextMessage(atLimit: boolean): NextMsg | undefined {
    const store = this.stream.store;
    while (this.rdqHead < this.rdq.length) {
      const seq = this.rdq[this.rdqHead++];
      // Taken off the queue meanwhile (a NAK with a delay): skipped.
      if (!this.rdqSet.delete(seq)) continue;
      if (this.rdqHead > 1024 && this.rdqHead * 2 > this.rdq.length) {
        this.rdq = this.rdq.slice(this.rdqHead);
        this.rdqHead = 0;
      }
      const pending = this.st.pending.get(seq);
      if (pending === undefined) continue;
      const msg = store.loadMsg(seq);
      if (msg === null) {
        if (seq > store.lastSequence()) {
          // Past this copy's end: not gone, not here yet (a member leading the consumer while its
          // copy catches up from the stream's leader; nats-server's ErrStoreEOF): tried again later.
          // Settled as deleted, it never came again (its ack floor moved past it everywhere).
          const at = Date.now() + NOT_HERE_RETRY_MS;
          this.nakUntil.set(seq, at);
          this.arm(at);
          continue;
        }
        this.settleDeleted(seq, pending);
        continue;
      }
      const dc = 2 + (this.st.redelivered.get(seq) ?? 0);
      const maxDeliver = this.cfg.max_deliver ?? -1;
      if (maxDeliver > 0 && dc > maxDeliver) {
        this.applyConsumerOp({ op: "max_delivered", sseq: seq });
        adv.maxDeliveries(this.stream.jsa.advisoryContext, this.stream.name, this.name, seq, dc - 1);
        continue;
      }
      return { msg, dc, kind: "re" };
    }
    // Redeliveries past max_deliver just left pending: the limit may be clear again.
    if (atLimit && this.atAckPendingLimit()) return undefined;
    while (this.lpsQueue.length > 0) {
      const seq = this.lpsQueue.shift() as number;
      const msg = store.loadMsg(seq);
      if (msg !== null) return { msg, dc: 1, kind: "lps" };
      if (this.npc > 0) this.npc--;
    }
    if (this.npc <= 0 && this.filters.length > 0) return undefined;
    const f = this.filters;
    // Borrowed: the bytes are encoded into the receiver's outbound buffer before the store is
    // called again (deliver → routeDelivery), so they need no copy.
    const msg = f.length === 0 ? store.loadNextMsg("", this.sseq, true) : f.length === 1 ? store.loadNextMsg(f[0], this.sseq, true) : store.loadNextMsgMulti(f, this.sseq, true);
    if (msg === null) return undefined;
    return { msg, dc: 1, kind: "new" };
  }

  /**
   * Send one message: "sent"; "none" when no pull request can take it (it stays queued);
   * "wait" when replay/rate limits hold it back for a while (a timer is armed).
   */
  private deliver(next: NextMsg, now: number): "sent" | "none" | "wait" {
    const { msg, dc, kind } = next;
    const fresh = kind !== "re";
    let hdr = msg.hdr;
    let data = msg.data;
    if (this.cfg.headers_only) {
      hdr = appendHeaders(hdr, [["Nats-Msg-Size", String(data.length)]]);
      data = EMPTY;
    }
    // The ack reply this delivery will carry (the consumer sequence and pending count it
    // names are the ones after this delivery).
    const npcAfter = fresh && this.npc > 0 ? this.npc - 1 : this.npc;
    const reply = this.ackReply.set(dc, msg.seq, this.st.delivered.consumer_seq + 1, msg.time, npcAfter);
    // nats-server sizes a delivery as subject + reply + headers + data (pull max_bytes,
    // flow control and rate limits all use it).
    const size = msg.subject.length + reply.length + (hdr?.length ?? 0) + data.length;
    // Replay at the original pace, and the rate limit.
    const due = this.pacer.due(msg.time, size, fresh, now);
    if (due > 0) {
      this.unshift(next);
      this.arm(due);
      return "wait";
    }
    const acc = this.stream.jsa.account;
    let req: PullRequest | undefined;
    let target: string;
    if (this.isPull) {
      req = this.nextWaiting(size, fresh ? npcAfter : this.npc, now);
      if (req === undefined) {
        this.unshift(next);
        return "none";
      }
      target = req.reply;
      if (this.cfg.priority_policy === "pinned_client") hdr = appendHeaders(hdr, [["Nats-Pin-Id", this.priority.pinId]]);
    } else {
      target = this.cfg.deliver_subject as string;
    }
    this.npc = npcAfter;
    this.applyConsumerOp({ op: "deliver", sseq: msg.seq, dc, now, kind });
    this.lastDeliveredMs = now;
    // Routed by the deliver subject / request inbox, shown with the message's own subject.
    acc.routeDeliveryWithReply(target, msg.subject, reply, hdr, data);
    this.lastDeliver = now;
    this.pacer.sent(msg.time, now);
    if (req !== undefined) {
      this.lastActive = now;
      if (req.n > 0 && req.hbMs > 0) req.hbAt = now + req.hbMs;
      // The batch is done but bytes were left: say so (nats-server's 409 Batch Completed).
      if (req.n <= 0 && req.b > 0) this.sendStatus(req.reply, "409 Batch Completed", req);
    } else if (this.cfg.flow_control) {
      this.fcPending += size;
      if (this.fcReply === undefined && this.fcPending > this.fcWindow / 2) this.sendFlowControl();
      // With a request out, a window's worth beyond it counts towards what its reply confirms.
      else if (this.fcReply !== undefined && this.fcPending - this.fcAsked >= this.fcWindow) this.fcAsked += size;
      // Acking by flow control: at the pending limit, ask for the acks now.
      else if (this.fcReply === undefined && this.cfg.ack_policy === "flow_control" && this.st.pending.size >= (this.cfg.max_ack_pending ?? 0)) this.sendFlowControl();
    }
    if (this.cfg.ack_policy === "none") {
      if (this.stream.cfg.retention !== "limits") this.stream.checkRetention(msg.seq, msg.subject);
    } else {
      const deadline = now + this.ackWaitMs(dc);
      this.arm(deadline);
    }
    return "sent";
  }

  /** Put a message back to be tried first next time. */
  private unshift(next: NextMsg): void {
    if (next.kind === "re") {
      this.rdqHead--;
      this.rdq[this.rdqHead] = next.msg.seq;
      this.rdqSet.add(next.msg.seq);
    } else if (next.kind === "lps") {
      this.lpsQueue.unshift(next.msg.seq);
    }
    // Fresh messages are re-read from the store at sseq.
  }

  private ackWaitMs(dc: number): number {
    // Acked by flow control: nothing is redelivered for want of an ack.
    if (this.cfg.ack_policy === "flow_control") return Number.MAX_SAFE_INTEGER;
    const b = this.cfg.backoff;
    if (b !== undefined && b.length > 0) return b[Math.min(dc - 1, b.length - 1)] / 1e6;
    return (this.cfg.ack_wait ?? 30e9) / 1e6;
  }

  // ---- push: flow control, heartbeats ----

  private sendFlowControl(): void {
    this.fcReply = `$JS.FC.${this.stream.name}.${this.name}.${++this.fcCounter}`;
    this.fcAsked = this.fcPending;
    const hdr = buildHeaders([], "100 FlowControl Request");
    this.stream.jsa.account.publish(this.cfg.deliver_subject as string, this.fcReply, hdr, EMPTY);
  }

  private onFlowControlReply(subject: string, hdr: Buffer | undefined): void {
    if (subject !== this.fcReply) return;
    this.fcReply = undefined;
    // Slow start: each confirmation doubles the window, up to the limit.
    if (this.fcWindow < FC_MAX_PENDING_BYTES) this.fcWindow = Math.min(this.fcWindow * 2, FC_MAX_PENDING_BYTES);
    this.fcPending = Math.max(0, this.fcPending - this.fcAsked);
    this.fcAsked = 0;
    // With the flow_control ack policy the reply names what the receiver has (its last
    // stream and consumer sequence): everything up to there is acknowledged.
    if (this.cfg.ack_policy === "flow_control" && hdr !== undefined && hdr.length > 0) {
      const lastStream = Number(getHeader(hdr, "Nats-Last-Stream") ?? "0");
      if (Number.isSafeInteger(lastStream) && lastStream > 0 && lastStream > this.st.ack_floor.stream_seq) {
        this.lastAckMs = Date.now();
        this.ackUpTo(lastStream);
      }
    }
    this.kick();
  }

  /** Acknowledge every pending message up to `sseq` (ack policy all / flow_control). */
  private ackUpTo(sseq: number): void {
    const acked: number[] = [];
    if (this.stream.cfg.retention !== "limits") for (const k of this.st.pending.keys()) if (k <= sseq) acked.push(k);
    this.applyConsumerOp({ op: "ack_all", sseq });
    this.checkRetentionOf(acked);
  }

  private checkRetentionOf(seqs: readonly number[]): void {
    if (this.closed) return;
    for (const s of seqs) this.stream.checkRetention(s, undefined);
  }

  /** An idle heartbeat to the deliver subject or a pull request's inbox, with the cursor. */
  private sendHeartbeat(subject: string): void {
    const pairs: Array<[string, string]> = [
      ["Nats-Last-Consumer", String(this.st.delivered.consumer_seq)],
      ["Nats-Last-Stream", String(this.sseq - 1)],
    ];
    if (!this.isPull && this.fcReply !== undefined) pairs.push(["Nats-Consumer-Stalled", this.fcReply]);
    this.stream.jsa.account.publish(subject, "", buildHeaders(pairs, "100 Idle Heartbeat"), EMPTY);
  }

  // ---- pull requests ----

  /** A CONSUMER.MSG.NEXT request (or +NXT), as nats-server's processNextMsgRequest. */
  processPullRequest(reply: string, body: Buffer, levelUnmet = false): void {
    if (this.closed || reply === "") return;
    if (!this.isPull) {
      this.sendStatus(reply, "409 Consumer is push based");
      return;
    }
    if (levelUnmet) {
      this.sendStatus(reply, "412 Required Api Level");
      return;
    }
    const p = parsePullRequest(body);
    if (typeof p === "string") {
      this.sendStatus(reply, `400 Bad Request - ${p}`);
      return;
    }
    const cfg = this.cfg;
    const now = Date.now();
    const policy = cfg.priority_policy ?? "none";
    const refusal = pullRequestRefusal(p, { maxBatch: cfg.max_batch ?? 0, maxExpiresNs: cfg.max_expires ?? 0, maxBytes: cfg.max_bytes ?? 0, priorityPolicy: policy });
    if (refusal !== undefined) {
      this.sendStatus(reply, refusal);
      return;
    }
    const g = p.group;
    const groupRefusal = this.priority.arrival(g);
    if (groupRefusal !== undefined) {
      this.sendStatus(reply, groupRefusal);
      return;
    }
    // A full queue first drops what has expired (at most once a second).
    if (this.waiting.isFull() && now - this.lastWaitingCheck > 1000) this.processWaiting(false, now);
    if (p.noWait) {
      const msgsPending = Math.max(this.npc, 0) + this.rdqSet.size;
      if (msgsPending === 0 && p.expiresNs === 0) {
        this.waiting.last = now;
        this.sendStatus(reply, "404 No Messages");
        return;
      }
      if (msgsPending > 0 && msgsPending < this.processWaiting(false, now)) {
        this.waiting.last = now;
        this.sendStatus(reply, "408 Requests Pending");
        return;
      }
    }
    const hbMs = p.hbNs / 1e6;
    const req: PullRequest = {
      reply,
      n: p.batch,
      d: 0,
      b: p.maxBytes,
      expiresAt: p.expiresNs > 0 ? now + p.expiresNs / 1e6 : 0,
      noWait: p.noWait,
      hbMs,
      hbAt: hbMs > 0 ? now + hbMs : 0,
      received: now,
      group: g,
    };
    const added = policy === "prioritized" ? this.waiting.addPrioritized(req) : this.waiting.add(req);
    if (!added) {
      // With heartbeats the client waits for them instead of re-asking in a hot loop.
      if (hbMs === 0) this.sendStatus(reply, "409 Exceeded MaxWaiting");
      return;
    }
    this.lastActive = now;
    if (req.expiresAt > 0) this.arm(req.expiresAt);
    if (req.hbAt > 0) this.arm(req.hbAt);
    this.kick();
  }

  /**
   * The request the next message goes to (nats-server's nextWaiting): expired ones get 408,
   * pins and overflow thresholds are applied, max_bytes is charged (409 when the message does
   * not fit), requests nobody listens to any more are dropped.
   */
  private nextWaiting(size: number, npc: number, now: number): PullRequest | undefined {
    const pick = this.waitingPick;
    pick.size = size;
    pick.npc = npc;
    pick.ackPending = this.st.pending.size;
    pick.now = now;
    pick.prioritized = this.cfg.priority_policy === "prioritized";
    return this.priority.nextWaiting(this.waiting, pick);
  }

  /** nextWaiting's arguments, one object filled per delivery (no object and two closures per message). */
  private readonly waitingPick = {
    size: 0,
    npc: 0,
    ackPending: 0,
    now: DOUBLE_ZERO,
    prioritized: false,
    status: (wr: PullRequest, status: string): void => this.sendStatus(wr.reply, status, wr),
    listening: (reply: string): boolean => this.stream.jsa.account.hasDeliveryInterest(reply),
  };

  /**
   * Expire requests (408), end no_wait ones at the end of the stream (`eos`: 404), drop
   * those without interest, send due heartbeats, and arm the timer for the next of these.
   * Returns the messages the remaining requests still want (nats-server's processWaiting).
   */
  private processWaiting(eos: boolean, now: number): number {
    this.lastWaitingCheck = now;
    const acc = this.stream.jsa.account;
    let wanted = 0;
    let next = 0;
    for (const wr of [...this.waiting.all()]) {
      const expired = wr.expiresAt > 0 && now >= wr.expiresAt;
      if ((eos && wr.noWait) || expired) {
        if (expired) {
          this.sendStatus(wr.reply, "408 Request Timeout", wr);
          this.waiting.remove(wr);
          continue;
        }
        if (wr.expiresAt === 0 || wr.d > 0) {
          this.sendStatus(wr.reply, "404 No Messages");
          this.waiting.remove(wr);
          continue;
        }
      }
      if (!acc.hasDeliveryInterest(wr.reply)) {
        this.waiting.remove(wr);
        continue;
      }
      wanted += wr.n;
      if (wr.hbAt > 0) {
        if (now >= wr.hbAt) {
          this.sendHeartbeat(wr.reply);
          wr.hbAt = now + wr.hbMs;
        }
        if (next === 0 || wr.hbAt < next) next = wr.hbAt;
      }
      if (wr.expiresAt > 0 && (next === 0 || wr.expiresAt < next)) next = wr.expiresAt;
    }
    if (next > 0) this.arm(next);
    return wanted;
  }

  /** A status reply; terminal ones for a request carry what it still wanted. */
  private sendStatus(reply: string, status: string, req?: PullRequest): void {
    const pairs: Array<[string, string]> = [];
    if (req !== undefined) pairs.push(["Nats-Pending-Messages", String(req.n)], ["Nats-Pending-Bytes", String(req.b)]);
    this.stream.jsa.account.publish(reply, "", buildHeaders(pairs, status), EMPTY);
  }

  // ---- priority groups: pinned client (ADR-42) ----

  /** CONSUMER.UNPIN: the group's pin ends now; the next request gets a new one. */
  unpin(group: string): void {
    this.priority.unpin(group);
  }

  // ---- acks ----

  private processAck(subject: string, reply: string, payload: Buffer): void {
    if (this.closed || this.standby) return;
    // Tokens after the prefix: <delivered>.<sseq>.<cseq>.<ts>.<pending>
    const p = this.ackPrefix.length;
    const d1 = subject.indexOf(".", p);
    const d2 = d1 < 0 ? -1 : subject.indexOf(".", d1 + 1);
    const d3 = d2 < 0 ? -1 : subject.indexOf(".", d2 + 1);
    if (d3 < 0) return;
    // read in place (an ack a message: no substring per token); digits only, as nats-server
    const dc = parseDecimal(subject, p, d1);
    const sseq = parseDecimal(subject, d1 + 1, d2);
    const dseq = parseDecimal(subject, d2 + 1, d3);
    if (!Number.isInteger(sseq) || sseq < 0) return;
    this.lastActive = Date.now();
    // The ack kind is read from the payload's bytes: no string per ack. An ack is an empty
    // body, +ACK or +OK exactly (nats-server's rules; other bodies do nothing but are confirmed).
    const len = payload.length;
    const isAck = len === 0 || (len === 4 && startsWithAscii(payload, "+ACK")) || (len === 3 && startsWithAscii(payload, "+OK"));
    if (sseq === 0) {
      // Nothing to act on; nats-server still confirms a plain ack.
      if (isAck && reply !== "") this.stream.jsa.account.publishOnce(reply, undefined, EMPTY);
      return;
    }
    if (isAck) {
      // An ack beyond what was delivered is ignored, and not confirmed (nats-server).
      if (sseq >= this.sseq && !this.cfg.flow_control) return;
      this.ack(sseq, dseq, dc);
    } else if (startsWithAscii(payload, "-NAK")) {
      // nats-server ignores a NAK of what is not pending, at or below the ack floor, or not yet delivered.
      if (this.st.pending.has(sseq) && dseq > this.st.ack_floor.consumer_seq && dseq <= this.st.delivered.consumer_seq + 1) {
        const delayMs = nakDelayMs(payload.toString("utf8", 4).trim());
        this.applyConsumerOp({ op: "nak", sseq, delayMs });
        if (delayMs > 0) this.arm(Date.now() + delayMs);
        adv.msgNaked(this.stream.jsa.advisoryContext, this.stream.name, this.name, dseq, sseq, dc);
      }
    } else if (len === 4 && startsWithAscii(payload, "+WPI")) {
      this.applyConsumerOp({ op: "progress", sseq, now: Date.now() });
    } else if (startsWithAscii(payload, "+NXT")) {
      this.ack(sseq, dseq, dc);
      // processPullRequest reads the body at once and keeps nothing of it: no copy needed.
      if (reply !== "") this.processPullRequest(reply, payload.subarray(4));
      return; // the reply gets messages, not an ack confirmation
    } else if (startsWithAscii(payload, "+TERM")) {
      const had = this.st.pending.has(sseq);
      // A TERM is taken as an ack (nats-server's processTerm), above what was delivered it is ignored.
      if (sseq < this.sseq) this.noteAckActivity(sseq, dseq);
      // nats-server takes a TERM as an ack: with ack policy all, of everything before it too.
      if (this.cfg.ack_policy === "all") {
        if (had) this.ackUpTo(sseq);
      } else {
        this.applyConsumerOp({ op: "term", sseq });
        if (had && this.stream.cfg.retention !== "limits") this.stream.checkRetention(sseq, undefined);
      }
      if (had) {
        const reason = payload.toString("utf8", 5).trim();
        adv.msgTerminated(this.stream.jsa.advisoryContext, this.stream.name, this.name, dseq, sseq, dc, reason);
        this.kickAfterSettle();
      }
    }
    // Double-ack: the client waits for an (empty) confirmation; of a replicated consumer once
    // the change is committed by the consumer's group (a confirmed ack survives this leader's loss).
    if (reply === "") return;
    const replica = this.stream.replica;
    if (replica !== undefined && this.replicated && !replica.applying) replica.confirmAfterCommit(this.name, reply);
    else this.stream.jsa.account.publishOnce(reply, undefined, EMPTY);
  }

  private ack(sseq: number, dseq: number, dc: number): void {
    const policy = this.cfg.ack_policy;
    if (policy === "none") return;
    const p = this.st.pending.get(sseq);
    this.noteAckActivity(sseq, dseq);
    if (policy === "all" || policy === "flow_control") {
      this.ackUpTo(sseq);
    } else {
      if (p === undefined) return;
      this.applyConsumerOp({ op: "ack", sseq });
      if (this.stream.cfg.retention !== "limits") this.stream.checkRetention(sseq, undefined);
    }
    if (p !== undefined && this.sampleRate > 0 && Math.random() * 100 < this.sampleRate) {
      adv.ackMetric(this.stream.jsa.advisoryContext, this.stream.name, this.name, dseq, sseq, (Date.now() - p.timestamp) * 1e6, dc);
    }
    this.kickAfterSettle();
  }

  /** Room under max_ack_pending may let more flow. */
  private kickAfterSettle(): void {
    if (this.cfg.max_ack_pending !== undefined && this.st.pending.size === this.cfg.max_ack_pending - 1) this.kick();
    else if (this.isPull ? this.waiting.length > 0 : this.active) this.kick();
  }

  /**
   * The ack floor's last_active moves as in nats-server: with any ack (or TERM) of an explicit
   * consumer's delivered message, pending or not; with ack policy all only when it is above the
   * floor (below it the ack changes nothing).
   */
  private noteAckActivity(sseq: number, dseq: number): void {
    const policy = this.cfg.ack_policy;
    if (policy === "none") return;
    if ((policy === "all" || policy === "flow_control") && (sseq <= this.st.ack_floor.stream_seq || dseq <= this.st.ack_floor.consumer_seq)) return;
    this.lastAckMs = this.lastActive;
  }

  // ---- timers: ack wait, nak delays, heartbeats, request expiry, inactivity ----

  private arm(at: number): void {
    if (this.closed) return;
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    // Beyond Node's timer range onTimer simply runs early and arms again.
    this.timer = setTimeout(() => this.onTimer(), Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS));
    this.timer.unref();
  }

  private armInactive(): void {
    const t = this.cfg.inactive_threshold;
    if (t === undefined || t <= 0) return;
    this.arm(Date.now() + t / 1e6);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = 0;
    if (this.closed || this.standby) return;
    const now = Date.now();
    let next = Number.MAX_SAFE_INTEGER;
    // Ack wait expiry → redelivery.
    if (this.cfg.ack_policy !== "none" && this.st.pending.size > 0) {
      const uniform = this.cfg.backoff === undefined || this.cfg.backoff.length === 0;
      for (const [seq, p] of this.st.pending) {
        if (this.rdqSet.has(seq)) continue;
        const nak = this.nakUntil.get(seq);
        let due: number;
        if (nak !== undefined) due = nak;
        else due = p.timestamp + this.ackWaitMs(1 + (this.st.redelivered.get(seq) ?? 0));
        if (due <= now) {
          this.nakUntil.delete(seq);
          this.queueRedelivery(seq);
        } else {
          if (due < next) next = due;
          if (uniform && nak === undefined && this.nakUntil.size === 0) break;
        }
      }
    }
    if (this.isPull) {
      // Expiries and heartbeats of waiting requests (processWaiting arms their next time).
      this.processWaiting(true, now);
      if (this.waiting.length > 0) this.lastActive = now;
    } else if (this.cfg.idle_heartbeat) {
      const hb = this.cfg.idle_heartbeat / 1e6;
      if (this.active && now - this.lastDeliver >= hb) {
        this.sendHeartbeat(this.cfg.deliver_subject as string);
        this.lastDeliver = now;
        // Acking by flow control: an idle stream still gets its last deliveries acknowledged.
        if (this.cfg.ack_policy === "flow_control" && this.st.pending.size > 0 && this.fcReply === undefined) this.sendFlowControl();
      }
      next = Math.min(next, this.lastDeliver + hb);
    }
    // Inactivity: ephemeral consumers (and durables with a threshold) go away.
    const t = this.cfg.inactive_threshold;
    if (t !== undefined && t > 0) {
      const tm = t / 1e6;
      const idleSince = this.isPull ? (this.waiting.length > 0 ? 0 : this.lastActive) : this.active ? 0 : this.inactiveSince;
      if (idleSince > 0) {
        if (now - idleSince >= tm) {
          // A replicated consumer is deleted by every member of its group, once committed.
          const replica = this.stream.replica;
          if (replica !== undefined && this.replicated) {
            try {
              replica.proposeConsumerDelete(this.name);
            } catch {
              // no quorum now: checked again after another threshold
              this.arm(now + tm);
            }
          } else this.stream.jsa.deleteConsumer(this.stream, this.name, "inactive");
          return;
        }
        next = Math.min(next, idleSince + tm);
      }
    }
    // Replay/rate-limit waits and new work.
    this.kick();
    if (next !== Number.MAX_SAFE_INTEGER) this.arm(next);
  }

  // ---- info ----

  /** Consumer info; `dynamic` adds the server's version keys to the metadata (not in LIST). */
  infoJson(dynamic = true): Record<string, unknown> {
    const st = this.st;
    let numRedelivered = 0;
    if ((this.cfg.max_deliver ?? -1) !== 1) for (const seq of st.pending.keys()) if (st.redelivered.has(seq)) numRedelivered++;
    const now = Date.now();
    const paused = this.pauseUntilMs > 0 && now < this.pauseUntilMs;
    // As nats-server: expired and abandoned requests are not counted as waiting.
    if (this.isPull && !this.closed) this.processWaiting(false, now);
    return {
      stream_name: this.stream.name,
      name: this.name,
      created: rfc3339(this.created),
      config: dynamic && METADATA_IN_ANSWERS ? { ...this.cfg, metadata: dynamicMetadata(this.cfg.metadata) } : this.listedConfig(),
      delivered: {
        consumer_seq: st.delivered.consumer_seq,
        stream_seq: st.delivered.stream_seq,
        ...(this.lastDeliveredMs > 0 ? { last_active: rfc3339(this.lastDeliveredMs * 1e6) } : {}),
      },
      ack_floor: {
        consumer_seq: st.ack_floor.consumer_seq,
        stream_seq: st.ack_floor.stream_seq,
        ...(this.lastAckMs > 0 ? { last_active: rfc3339(this.lastAckMs * 1e6) } : {}),
      },
      num_ack_pending: st.pending.size,
      num_redelivered: numRedelivered,
      num_waiting: this.waiting.length,
      num_pending: Math.max(this.npc, 0),
      ...(!this.isPull && this.active ? { push_bound: true } : {}),
      ...(paused ? { paused: true, pause_remaining: (this.pauseUntilMs - now) * 1e6 } : {}),
      ...this.clusterJson(),
      ts: rfc3339(nowNs()),
      ...this.priority.infoJson(),
    };
  }


  /**
   * `cluster` of the info in a cluster, as nats-server: a replicated consumer shows its own
   * leader (its group's, consumer_group.ts); any other consumer is
   * R1 on this server.
   */
  clusterJson(): Record<string, unknown> {
    const service = this.stream.jsa.service;
    const cluster = service.cluster;
    if (cluster === undefined) return {};
    const replica = this.stream.replica;
    // (Every member its group has, those it is removing too while it scales down, as nats-server
    // lists the members of the consumer's assignment until the meta group records the removal.)
    if (replica !== undefined && this.replicated) return { cluster: replica.consumerClusterInfo(this.name) };
    return { cluster: { name: cluster.clusterName, leader: service.server.name } };
  }

  /** The config as a CONSUMER.LIST entry shows it (without the server's version keys). */
  listedConfig(): ConsumerConfig {
    return !METADATA_IN_ANSWERS ? withoutServerMetadata(this.cfg) : this.cfg;
  }

  /** What goes into the consumer store's config slot (config + creation time). */
  storedConfig(): { config: ConsumerConfig; created: string; name: string } {
    return { config: this.cfg, created: rfc3339(this.created), name: this.name };
  }

  /** A copy of the delivery and ack state (for backups). */
  stateSnapshot(): ConsumerState {
    return cloneConsumerState(this.st);
  }

  /**
   * The state its group's leader has (a snapshot to a member that missed compacted entries, or
   * the first leader's state for a group started on copies that may differ): replaces this
   * copy's; deliveries resume from it when this member leads.
   */
  replaceState(state: ConsumerState): void {
    const st = this.st;
    st.delivered = { ...state.delivered };
    st.ack_floor = { ...state.ack_floor };
    st.pending.clear();
    for (const [seq, p] of state.pending) st.pending.set(seq, p);
    st.redelivered.clear();
    for (const [seq, n] of state.redelivered) st.redelivered.set(seq, n);
    this.nakUntil.clear();
    this.rdq = [];
    this.rdqHead = 0;
    this.rdqSet.clear();
    this.sseq = st.delivered.stream_seq + 1;
    this.recountPending();
    this.persist();
  }

  /**
   * The stream's messages this consumer needed with the state `before` and no longer needs with
   * its own (taken from its group's leader): those pending then and settled now, and those
   * delivered since (above the ack floor then, with ack policy all). Only messages the stream
   * still holds; as many as the changes `before` lacked, none when the states are the same.
   */
  releasedSince(before: ConsumerState): number[] {
    const out: number[] = [];
    for (const seq of before.pending.keys()) if (seq < this.sseq && !this.st.pending.has(seq)) out.push(seq);
    const coversBelow = this.cfg.ack_policy === "all" || this.cfg.ack_policy === "flow_control";
    const from = (coversBelow ? before.ack_floor.stream_seq : before.delivered.stream_seq) + 1;
    const store = this.stream.store;
    for (let m = store.loadNextMsg("", Math.max(from, store.state().firstSeq), true); m !== null && m.seq < this.sseq; m = store.loadNextMsg("", m.seq + 1, true)) {
      if (!this.needsAck(m.seq, m.subject)) out.push(m.seq);
    }
    return out;
  }

  get ackPending(): number {
    return this.st.pending.size;
  }
}

function parseSample(s: string | undefined): number {
  if (s === undefined) return 0;
  const n = parseFloat(s);
  return Number.isFinite(n) ? Math.max(0, Math.min(100, n)) : 0;
}

/** Does the buffer begin with these ASCII characters? */
function startsWithAscii(b: Buffer, prefix: string): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/**
 * The delay of a NAK (the text after "-NAK"), in ms: `{"delay": <ns>}` or a Go duration
 * ("5s"), as nats-server reads it; 0 (redeliver now) when there is none, it is not positive,
 * or it does not parse (nats-server then warns and takes a plain NAK).
 */
export function nakDelayMs(arg: string): number {
  if (arg === "") return 0;
  try {
    if (arg.startsWith("{")) {
      const j = JSON.parse(arg) as { delay?: unknown };
      return typeof j.delay === "number" && j.delay > 0 ? j.delay / 1e6 : 0;
    }
    return Math.max(0, parseDuration(arg));
  } catch {
    return 0;
  }
}
