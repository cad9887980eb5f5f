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
import { subjectMatches } from "../protocol/subject.js";
import type { ConsumerState, ConsumerStore, StoredMsg } from "../storage/store.js";
import { cloneConsumerState, emptyConsumerState } from "../storage/store.js";
import * as adv from "./advisories.js";
import { filtersOf, type ConsumerConfig } from "./consumer_config.js";
import type { Stream } from "./stream.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { appendHeaders, buildHeaders } from "../protocol/headers.js";
import { goDuration } from "../server/time.js";

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
  | { op: "update"; config: ConsumerConfig };

interface PullRequest {
  reply: string;
  batch: number;
  maxBytes: number;
  expiresAt: number; // ms, 0 = never
  noWait: boolean;
  hbMs: number;
  lastSend: number;
  delivered: number;
}

interface NextMsg {
  msg: StoredMsg;
  dc: number;
  /** "new": the cursor moves past it; "lps": from the last-per-subject start set; "re": a redelivery. */
  kind: "new" | "lps" | "re";
}

const RUN_BUDGET = 512;
const FC_WINDOW_BYTES = 1024 * 1024;
const FC_WINDOW_MSGS = 8 * 1024;
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
  private waiting: PullRequest[] = [];
  private readonly ackPrefix: string;
  private ackSub: Subscription | undefined;
  private fcSub: Subscription | undefined;
  private removeInterestListener: (() => void) | undefined;
  private active = false;
  private inactiveSince = Date.now();
  private lastActive = Date.now();
  private lastDeliver = Date.now();
  private fcReply: string | undefined;
  private fcCounter = 0;
  private fcBytes = 0;
  private fcMsgs = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private runScheduled = false;
  private replayLast: { msgNs: bigint; wallMs: number } | undefined;
  private rateTokens = 0;
  private rateLast = Date.now();
  private sampleRate = 0;
  closed = false;

  constructor(
    readonly stream: Stream,
    name: string,
    cfg: ConsumerConfig,
    created: bigint,
    private readonly cstore: ConsumerStore | undefined,
    recovered: ConsumerState | undefined,
  ) {
    this.name = name;
    this.cfg = cfg;
    this.created = created;
    this.durable = cfg.durable_name !== undefined && cfg.durable_name !== "";
    this.isPull = cfg.deliver_subject === undefined;
    this.filters = filtersOf(cfg);
    this.ackPrefix = `$JS.ACK.${stream.name}.${name}.`;
    this.sampleRate = parseSample(cfg.sample_freq);
    if (recovered !== undefined) {
      this.st = recovered;
      this.sseq = recovered.delivered.stream_seq + 1;
    } else {
      this.st = emptyConsumerState();
      this.sseq = this.startSequence();
      // As nats-server reports a fresh consumer: delivered is just below the start (for
      // last-per-subject: below the first message of its start set), the ack floor is 0
      // until something is acknowledged.
      this.st.delivered.stream_seq = (this.lpsQueue.length > 0 ? this.lpsQueue[0] : this.sseq) - 1;
    }
    this.recountPending();
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
        return best > 0 ? best : state.lastSeq + 1;
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

  private recountPending(): void {
    const store = this.stream.store;
    let n = this.lpsQueue.length;
    if (this.filters.length === 0) n += store.numPending(this.sseq, "", false);
    else for (const f of this.filters) n += store.numPending(this.sseq, f, false);
    this.npc = n;
  }

  // ---- lifecycle ----

  start(): void {
    const acc = this.stream.jsa.account;
    this.ackSub = acc.subscribeInternal(`${this.ackPrefix}>`, (subject, reply, _hdr, payload) => this.processAck(subject, reply, payload), undefined, `consumer:${this.name}`);
    if (!this.isPull) {
      this.watchDeliverSubject();
      if (this.cfg.flow_control) {
        this.fcSub = acc.subscribeInternal(`$JS.FC.${this.stream.name}.${this.name}.*`, (subject) => this.onFlowControlReply(subject), undefined, `consumer-fc:${this.name}`);
      }
      if (this.cfg.idle_heartbeat) this.arm(Date.now() + this.cfg.idle_heartbeat / 1e6);
    }
    this.armInactive();
    if (this.st.pending.size > 0) this.arm(Date.now() + 1);
    this.persist();
    this.kick();
  }

  /** Track interest on the deliver subject: push consumers only send while someone listens. */
  private watchDeliverSubject(): void {
    const acc = this.stream.jsa.account;
    const ds = this.cfg.deliver_subject as string;
    this.removeInterestListener?.();
    this.active = acc.sublist.hasInterest(ds);
    if (this.active) this.inactiveSince = 0;
    else if (this.inactiveSince === 0) this.inactiveSince = Date.now();
    this.removeInterestListener = acc.onInterestChange((sub) => {
      if (this.closed || !subjectMatches(sub.subject, ds)) return;
      const was = this.active;
      this.active = acc.sublist.hasInterest(ds);
      if (this.active && !was) {
        this.inactiveSince = 0;
        this.kick();
      } else if (!this.active && was) {
        this.inactiveSince = Date.now();
        this.armInactive();
      }
    });
  }

  /** Stop delivering. `deleted` sends 409 to waiting pulls and removes stored state. */
  stop(deleted: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const acc = this.stream.jsa.account;
    if (this.ackSub !== undefined) acc.unsubscribeInternal(this.ackSub);
    if (this.fcSub !== undefined) acc.unsubscribeInternal(this.fcSub);
    this.removeInterestListener?.();
    const status = deleted ? "409 Consumer Deleted" : "409 Server Shutdown";
    for (const r of this.waiting) this.sendStatus(r.reply, status, r);
    this.waiting = [];
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

  onMessageRemoved(seq: number, subject: string): void {
    if (seq >= this.sseq && this.npc > 0 && this.matchesSubject(subject)) this.npc--;
    if (this.st.pending.has(seq)) this.applyConsumerOp({ op: "gone", sseq: seq });
  }

  /** After a purge or config change of the stream: re-derive position and counts. */
  onStreamPurged(): void {
    const first = this.stream.store.state().firstSeq;
    if (this.sseq < first) this.applyConsumerOp({ op: "reset_start", sseq: first });
    for (const seq of [...this.st.pending.keys()]) {
      if (seq < first || this.stream.store.loadMsg(seq) === null) this.applyConsumerOp({ op: "gone", sseq: seq });
    }
    if (this.lpsQueue.length > 0) this.lpsQueue = this.lpsQueue.filter((s) => s >= first);
    this.recountPending();
    this.kick();
  }

  /** Does this consumer still need the message? (interest/workqueue retention) */
  needsAck(seq: number, subject: string): boolean {
    if (!this.matchesSubject(subject)) return false;
    if (seq >= this.sseq) return true;
    if (this.cfg.ack_policy === "none") return false;
    if (seq <= this.st.ack_floor.stream_seq) return false;
    return this.st.pending.has(seq);
  }

  // ---- the apply path ----

  applyConsumerOp(op: ConsumerOp): void {
    const st = this.st;
    switch (op.op) {
      case "deliver": {
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
          // Re-insert so the pending map stays ordered by delivery time.
          st.pending.delete(op.sseq);
          st.pending.set(op.sseq, { sequence: dseq, timestamp: op.now });
          if (op.dc > 1) st.redelivered.set(op.sseq, op.dc - 1);
        }
        break;
      }
      case "ack":
      case "term":
      case "gone":
      case "max_delivered": {
        if (!st.pending.delete(op.sseq)) return;
        st.redelivered.delete(op.sseq);
        this.nakUntil.delete(op.sseq);
        this.advanceFloor();
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
        if (op.delayMs > 0) this.nakUntil.set(op.sseq, Date.now() + op.delayMs);
        else this.queueRedelivery(op.sseq);
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
      case "update": {
        const movedDeliverSubject = !this.isPull && op.config.deliver_subject !== this.cfg.deliver_subject;
        this.cfg = op.config;
        if (movedDeliverSubject) this.watchDeliverSubject();
        this.filters = filtersOf(op.config);
        this.sampleRate = parseSample(op.config.sample_freq);
        this.cstore?.updateConfig(this.storedConfig());
        this.recountPending();
        break;
      }
    }
    this.persist();
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

  kick(): void {
    if (this.runScheduled || this.closed) return;
    this.runScheduled = true;
    setImmediate(() => this.run());
  }

  private canSend(): boolean {
    if (this.isPull) return this.waiting.length > 0;
    if (!this.active) return false;
    if (this.fcReply !== undefined && (this.fcBytes >= FC_WINDOW_BYTES || this.fcMsgs >= FC_WINDOW_MSGS)) return false;
    return true;
  }

  private run(): void {
    this.runScheduled = false;
    if (this.closed) return;
    const now = Date.now();
    if (this.isPull) this.expireRequests(now);
    let budget = RUN_BUDGET;
    let more = false;
    while (this.canSend()) {
      if (budget-- <= 0) {
        more = true;
        break;
      }
      const atLimit = this.cfg.ack_policy !== "none" && (this.cfg.max_ack_pending ?? 0) > 0 && this.st.pending.size >= (this.cfg.max_ack_pending as number);
      const next = this.nextMessage(atLimit);
      if (next === undefined) break;
      if (!this.deliver(next, now)) break;
    }
    if (this.isPull) this.finishNoWait();
    if (more) this.kick();
  }

  /** Redeliveries first, then last-per-subject start set, then new messages. */
  private nextMessage(atLimit: boolean): NextMsg | undefined {
    const store = this.stream.store;
    while (this.rdqHead < this.rdq.length) {
      const seq = this.rdq[this.rdqHead++];
      this.rdqSet.delete(seq);
      if (this.rdqHead > 1024 && this.rdqHead * 2 > this.rdq.length) {
        this.rdq = this.rdq.slice(this.rdqHead);
        this.rdqHead = 0;
      }
      if (!this.st.pending.has(seq)) continue;
      const msg = store.loadMsg(seq);
      if (msg === null) {
        this.applyConsumerOp({ op: "gone", sseq: seq });
        continue;
      }
      const dc = 2 + (this.st.redelivered.get(seq) ?? 0);
      if (this.cfg.max_deliver > 0 && dc > this.cfg.max_deliver) {
        this.applyConsumerOp({ op: "max_delivered", sseq: seq });
        adv.maxDeliveries(this.stream.jsa.advisoryContext, this.stream.name, this.name, seq, dc - 1);
        continue;
      }
      return { msg, dc, kind: "re" };
    }
    if (atLimit) return undefined;
    while (this.lpsQueue.length > 0) {
      const seq = this.lpsQueue.shift() as number;
      const msg = store.loadMsg(seq);
      if (msg !== null) return { msg, dc: 1, kind: "lps" };
      if (this.npc > 0) this.npc--;
    }
    if (this.npc <= 0 && this.filters.length > 0) return undefined;
    const f = this.filters;
    const msg = f.length === 0 ? store.loadNextMsg("", this.sseq) : f.length === 1 ? store.loadNextMsg(f[0], this.sseq) : store.loadNextMsgMulti(f, this.sseq);
    if (msg === null) return undefined;
    return { msg, dc: 1, kind: "new" };
  }

  /** Send one message; false when it could not go out now (it stays queued). */
  private deliver(next: NextMsg, now: number): boolean {
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
    const reply = `${this.ackPrefix}${dc}.${msg.seq}.${this.st.delivered.consumer_seq + 1}.${msg.time}.${npcAfter}`;
    // nats-server sizes a delivery as subject + reply + headers + data (pull max_bytes,
    // flow control and rate limits all use it).
    const size = msg.subject.length + reply.length + (hdr?.length ?? 0) + data.length;
    // Replay at the original pace.
    if (this.cfg.replay_policy === "original" && fresh && this.replayLast !== undefined) {
      const gapMs = Number((msg.time - this.replayLast.msgNs) / 1_000_000n);
      const due = this.replayLast.wallMs + gapMs;
      if (due > now) {
        this.unshift(next);
        this.arm(due);
        return false;
      }
    }
    if (this.cfg.rate_limit_bps) {
      const bytesPerMs = this.cfg.rate_limit_bps / 8 / 1000;
      this.rateTokens = Math.min(this.rateTokens + (now - this.rateLast) * bytesPerMs, Math.max(size, this.cfg.rate_limit_bps / 8));
      this.rateLast = now;
      if (this.rateTokens < size) {
        this.unshift(next);
        this.arm(now + Math.ceil((size - this.rateTokens) / bytesPerMs));
        return false;
      }
      this.rateTokens -= size;
    }
    let target: string;
    let req: PullRequest | undefined;
    if (this.isPull) {
      req = this.waiting[0];
      if (req.maxBytes > 0 && size > req.maxBytes) {
        this.unshift(next);
        this.waiting.shift();
        this.sendStatus(req.reply, "409 Message Size Exceeds MaxBytes", req);
        return this.waiting.length > 0;
      }
      target = req.reply;
    } else {
      target = this.cfg.deliver_subject as string;
    }
    this.npc = npcAfter;
    this.applyConsumerOp({ op: "deliver", sseq: msg.seq, dc, now, kind });
    // Routed by the deliver subject / request inbox, shown with the message's own subject.
    const acc = this.stream.jsa.account;
    acc.routeDelivery(target, msg.subject, reply, hdr, data);
    this.lastDeliver = now;
    if (this.cfg.replay_policy === "original") this.replayLast = { msgNs: msg.time, wallMs: now };
    if (req !== undefined) {
      req.delivered++;
      req.lastSend = now;
      req.batch--;
      if (req.maxBytes > 0) req.maxBytes -= size;
      if (req.batch <= 0 || (req.maxBytes < 0 && req.maxBytes !== 0)) this.waiting.shift();
      this.lastActive = now;
    } else if (this.cfg.flow_control) {
      this.fcBytes += size;
      this.fcMsgs++;
      if (this.fcReply === undefined && (this.fcBytes >= FC_WINDOW_BYTES || this.fcMsgs >= FC_WINDOW_MSGS)) this.sendFlowControl();
    }
    if (this.cfg.ack_policy === "none") {
      if (this.stream.cfg.retention !== "limits") this.stream.checkRetention(msg.seq, msg.subject);
    } else {
      const deadline = now + this.ackWaitMs(dc);
      this.arm(deadline);
    }
    return true;
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
    const b = this.cfg.backoff;
    if (b !== undefined && b.length > 0) return b[Math.min(dc - 1, b.length - 1)] / 1e6;
    return (this.cfg.ack_wait ?? 30e9) / 1e6;
  }

  // ---- push: flow control, heartbeats ----

  private sendFlowControl(): void {
    this.fcReply = `$JS.FC.${this.stream.name}.${this.name}.${++this.fcCounter}`;
    this.fcBytes = 0;
    this.fcMsgs = 0;
    const hdr = buildHeaders([], "100 FlowControl Request");
    this.stream.jsa.account.publish(this.cfg.deliver_subject as string, this.fcReply, hdr, EMPTY);
  }

  private onFlowControlReply(subject: string): void {
    if (subject !== this.fcReply) return;
    this.fcReply = undefined;
    this.kick();
  }

  private sendHeartbeat(now: number): void {
    const pairs: Array<[string, string]> = [
      ["Nats-Last-Consumer", String(this.st.delivered.consumer_seq)],
      ["Nats-Last-Stream", String(this.st.delivered.stream_seq)],
    ];
    if (this.fcReply !== undefined) pairs.push(["Nats-Consumer-Stalled", this.fcReply]);
    this.stream.jsa.account.publish(this.cfg.deliver_subject as string, "", buildHeaders(pairs, "100 Idle Heartbeat"), EMPTY);
    this.lastDeliver = now;
  }

  // ---- pull requests ----

  /** A CONSUMER.MSG.NEXT request (or +NXT). `body` is decoded here and not kept. */
  processPullRequest(reply: string, body: Buffer): void {
    if (this.closed || reply === "") return;
    if (!this.isPull) {
      this.sendStatus(reply, "409 Consumer is push based");
      return;
    }
    let batch = 1;
    let expiresNs = 0;
    let noWait = false;
    let maxBytes = 0;
    let hbNs = 0;
    const text = body.toString("utf8").trim();
    if (text !== "") {
      if (text[0] === "{") {
        let r: Record<string, unknown>;
        try {
          r = JSON.parse(text) as Record<string, unknown>;
        } catch {
          this.sendStatus(reply, "400 Bad Request");
          return;
        }
        batch = typeof r.batch === "number" ? r.batch : 1;
        expiresNs = typeof r.expires === "number" ? r.expires : 0;
        noWait = r.no_wait === true;
        maxBytes = typeof r.max_bytes === "number" ? r.max_bytes : 0;
        hbNs = typeof r.idle_heartbeat === "number" ? r.idle_heartbeat : 0;
      } else {
        const n = Number(text);
        if (!Number.isInteger(n)) {
          this.sendStatus(reply, "400 Bad Request");
          return;
        }
        batch = n;
      }
    }
    if (batch <= 0) batch = 1;
    const cfg = this.cfg;
    if (cfg.max_batch && batch > cfg.max_batch) {
      this.sendStatus(reply, `409 Exceeded MaxRequestBatch of ${cfg.max_batch}`);
      return;
    }
    if (cfg.max_expires && expiresNs > cfg.max_expires) {
      this.sendStatus(reply, `409 Exceeded MaxRequestExpires of ${goDuration(cfg.max_expires)}`);
      return;
    }
    if (cfg.max_bytes && maxBytes > cfg.max_bytes) {
      this.sendStatus(reply, `409 Exceeded MaxRequestMaxBytes of ${cfg.max_bytes}`);
      return;
    }
    if (hbNs > 0 && expiresNs > 0 && hbNs * 2 > expiresNs) {
      this.sendStatus(reply, "400 Bad Request - heartbeat value too large");
      return;
    }
    const now = Date.now();
    this.lastActive = now;
    if (noWait && expiresNs === 0 && this.npc <= 0 && this.rdqHead >= this.rdq.length && this.lpsQueue.length === 0) {
      this.sendStatus(reply, "404 No Messages");
      return;
    }
    if (this.waiting.length >= (cfg.max_waiting ?? 512)) {
      this.sendStatus(reply, "409 Exceeded MaxWaiting");
      return;
    }
    const req: PullRequest = {
      reply,
      batch,
      maxBytes,
      expiresAt: expiresNs > 0 ? now + expiresNs / 1e6 : 0,
      noWait,
      hbMs: hbNs / 1e6,
      lastSend: now,
      delivered: 0,
    };
    this.waiting.push(req);
    if (req.expiresAt > 0) this.arm(req.expiresAt);
    if (req.hbMs > 0) this.arm(now + req.hbMs);
    this.kick();
  }

  /** no_wait requests that could not be filled from what is there now end here. */
  private finishNoWait(): void {
    if (this.waiting.length === 0) return;
    const keep: PullRequest[] = [];
    for (const r of this.waiting) {
      if (!r.noWait) {
        keep.push(r);
        continue;
      }
      if (r.delivered === 0) this.sendStatus(r.reply, "404 No Messages");
      else this.sendStatus(r.reply, "408 Request Timeout", r);
    }
    this.waiting = keep;
  }

  private expireRequests(now: number): void {
    if (this.waiting.length === 0) return;
    let expired = false;
    for (const r of this.waiting) {
      if (r.expiresAt > 0 && r.expiresAt <= now) {
        expired = true;
        this.sendStatus(r.reply, "408 Request Timeout", r);
      }
    }
    if (expired) this.waiting = this.waiting.filter((r) => !(r.expiresAt > 0 && r.expiresAt <= now));
  }

  private sendStatus(reply: string, status: string, req?: PullRequest): void {
    const pairs: Array<[string, string]> = [];
    if (req !== undefined) {
      pairs.push(["Nats-Pending-Messages", String(Math.max(req.batch, 0))], ["Nats-Pending-Bytes", String(Math.max(req.maxBytes, 0))]);
    }
    this.stream.jsa.account.publish(reply, "", buildHeaders(pairs, status), EMPTY);
  }

  // ---- acks ----

  private processAck(subject: string, reply: string, payload: Buffer): void {
    if (this.closed) return;
    // Tokens after the prefix: <delivered>.<sseq>.<cseq>.<ts>.<pending>
    const p = this.ackPrefix.length;
    const d1 = subject.indexOf(".", p);
    const d2 = d1 < 0 ? -1 : subject.indexOf(".", d1 + 1);
    const d3 = d2 < 0 ? -1 : subject.indexOf(".", d2 + 1);
    if (d3 < 0) return;
    const dc = Number(subject.substring(p, d1));
    const sseq = Number(subject.substring(d1 + 1, d2));
    const dseq = Number(subject.substring(d2 + 1, d3));
    if (!Number.isInteger(sseq) || sseq <= 0) return;
    this.lastActive = Date.now();
    // The ack kind is read from the payload's bytes: no string per ack. Bodies shorter than
    // any kind are plain acks.
    if (payload.length < 4 || startsWithAscii(payload, "+ACK")) {
      this.ack(sseq, dseq, dc);
    } else if (startsWithAscii(payload, "-NAK")) {
      let delayMs = 0;
      const rest = payload.toString("utf8", 4).trim();
      if (rest.startsWith("{")) {
        try {
          const j = JSON.parse(rest) as { delay?: number };
          if (typeof j.delay === "number" && j.delay > 0) delayMs = j.delay / 1e6;
        } catch {
          // a malformed delay is a plain NAK
        }
      }
      this.applyConsumerOp({ op: "nak", sseq, delayMs });
      if (delayMs > 0) this.arm(Date.now() + delayMs);
      adv.msgNaked(this.stream.jsa.advisoryContext, this.stream.name, this.name, dseq, sseq, dc);
    } else if (startsWithAscii(payload, "+WPI")) {
      this.applyConsumerOp({ op: "progress", sseq, now: Date.now() });
    } else if (startsWithAscii(payload, "+NXT")) {
      this.ack(sseq, dseq, dc);
      // processPullRequest reads the body at once and keeps nothing of it: no copy needed.
      if (reply !== "") this.processPullRequest(reply, payload.subarray(4));
      return; // the reply gets messages, not an ack confirmation
    } else if (startsWithAscii(payload, "+TERM")) {
      const had = this.st.pending.has(sseq);
      this.applyConsumerOp({ op: "term", sseq });
      if (had) {
        const reason = payload.toString("utf8", 5).trim();
        adv.msgTerminated(this.stream.jsa.advisoryContext, this.stream.name, this.name, dseq, sseq, dc, reason);
        if (this.stream.cfg.retention !== "limits") this.stream.checkRetention(sseq, undefined);
      }
    }
    // Double-ack: the client waits for an (empty) confirmation.
    if (reply !== "") this.stream.jsa.account.publish(reply, "", undefined, EMPTY);
  }

  private ack(sseq: number, dseq: number, dc: number): void {
    const policy = this.cfg.ack_policy;
    if (policy === "none") return;
    const p = this.st.pending.get(sseq);
    if (policy === "all") {
      const acked: number[] = [];
      if (this.stream.cfg.retention !== "limits") for (const k of this.st.pending.keys()) if (k <= sseq) acked.push(k);
      this.applyConsumerOp({ op: "ack_all", sseq });
      for (const s of acked) this.stream.checkRetention(s, undefined);
    } else {
      if (p === undefined) return;
      this.applyConsumerOp({ op: "ack", sseq });
      if (this.stream.cfg.retention !== "limits") this.stream.checkRetention(sseq, undefined);
    }
    if (p !== undefined && this.sampleRate > 0 && Math.random() * 100 < this.sampleRate) {
      adv.ackMetric(this.stream.jsa.advisoryContext, this.stream.name, this.name, dseq, sseq, (Date.now() - p.timestamp) * 1e6, dc);
    }
    // Room under max_ack_pending may let more flow.
    if (this.cfg.max_ack_pending !== undefined && this.st.pending.size === this.cfg.max_ack_pending - 1) this.kick();
    else if (this.isPull ? this.waiting.length > 0 : this.active) this.kick();
  }

  // ---- timers: ack wait, nak delays, heartbeats, request expiry, inactivity ----

  private arm(at: number): void {
    if (this.closed) return;
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - Date.now()));
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
    if (this.closed) return;
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
      this.expireRequests(now);
      for (const r of this.waiting) {
        if (r.expiresAt > 0 && r.expiresAt < next) next = r.expiresAt;
        if (r.hbMs > 0) {
          if (now - r.lastSend >= r.hbMs) {
            this.stream.jsa.account.publish(r.reply, "", buildHeaders([], "100 Idle Heartbeat"), EMPTY);
            r.lastSend = now;
          }
          next = Math.min(next, r.lastSend + r.hbMs);
        }
      }
      if (this.waiting.length > 0) this.lastActive = now;
    } else if (this.cfg.idle_heartbeat) {
      const hb = this.cfg.idle_heartbeat / 1e6;
      if (this.active && now - this.lastDeliver >= hb) this.sendHeartbeat(now);
      next = Math.min(next, this.lastDeliver + hb);
    }
    // Inactivity: ephemeral consumers (and durables with a threshold) go away.
    const t = this.cfg.inactive_threshold;
    if (t !== undefined && t > 0) {
      const tm = t / 1e6;
      const idleSince = this.isPull ? (this.waiting.length > 0 ? 0 : this.lastActive) : this.active ? 0 : this.inactiveSince;
      if (idleSince > 0) {
        if (now - idleSince >= tm) {
          this.stream.jsa.deleteConsumer(this.stream, this.name, "inactive");
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

  infoJson(): Record<string, unknown> {
    const st = this.st;
    let numRedelivered = 0;
    for (const seq of st.pending.keys()) if (st.redelivered.has(seq)) numRedelivered++;
    return {
      stream_name: this.stream.name,
      name: this.name,
      created: rfc3339(this.created),
      config: this.cfg,
      delivered: { consumer_seq: st.delivered.consumer_seq, stream_seq: st.delivered.stream_seq },
      ack_floor: { consumer_seq: st.ack_floor.consumer_seq, stream_seq: st.ack_floor.stream_seq },
      num_ack_pending: st.pending.size,
      num_redelivered: numRedelivered,
      num_waiting: this.waiting.length,
      num_pending: Math.max(this.npc, 0),
      ...(!this.isPull && this.active ? { push_bound: true } : {}),
      ts: rfc3339(nowNs()),
    };
  }

  /** What goes into the consumer store's config slot (config + creation time). */
  storedConfig(): { config: ConsumerConfig; created: string; name: string } {
    return { config: this.cfg, created: rfc3339(this.created), name: this.name };
  }

  /** A copy of the delivery and ack state (for backups). */
  stateSnapshot(): ConsumerState {
    return cloneConsumerState(this.st);
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
