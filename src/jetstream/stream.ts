// A stream: captures messages published to its subjects (internal subscriptions in the
// account), checks them (size, de-duplication, expected-* headers, rollups), stores them
// and answers with a PubAck. Every change of stream state goes through `applyStreamOp`,
// one ordered entry point that a replication layer can later sit in front of.
//
// The publish path does no JSON work: header checks look only at the raw header block,
// the PubAck is assembled from a pre-built prefix, and acks are sent in batches once the
// store says the messages are durable (store.whenDurable): by default after the fsync of a
// group commit, with a sync_interval once they are with the kernel.
import fs from "node:fs";
import type { Subscription } from "../server/sublist.js";
import type { RemoveReason, StoredMsg, StreamStore, StreamState } from "../storage/store.js";
import { isStoreError, storeMsgSize } from "../storage/store.js";
import { hasWildcard, subjectIsSubsetOf } from "../protocol/subject.js";
import { ApiError, asApiError, jsError } from "./errors.js";
import type { JsAccount } from "./jetstream.js";
import type { Consumer } from "./consumer.js";
import type { StreamReplica } from "./stream_replica.js";
import { openStreamStore, saveStreamMetadata, storeConfigFor, type StreamMetadata } from "./store_factory.js";
import type { StreamConfig } from "./stream_config.js";
import { SEC_NS, goDuration, nowNs, rfc3339, parseRfc3339 } from "../server/time.js";
import { writeDecimal } from "./util.js";
import { buildHeaders, getHeader, setHeader } from "../protocol/headers.js";
import { SubjectTransform } from "../server/subject_transform.js";
import { StreamSourcing } from "./stream_source.js";
import { Republisher } from "./republish.js";
import { HDR_STREAM_SOURCE } from "./source_positions.js";
import { dynamicMetadata } from "./api_level.js";
import { applyCounter, counterStateOf, type CounterState } from "./counter.js";
import { MessageSchedules } from "./schedules.js";
import { MsgTrace, activeTrace } from "../server/msg_trace.js";
import { AtomicBatches } from "./batch.js";
import { deferToMicrotask } from "../server/microtask.js";
import { FAST_BATCH_SUFFIX, FastBatches, parseFastBatchReply } from "./fast_batch.js";
import {
  checkDiscardNew,
  checkExpectedLastMsgId,
  checkExpectedLastSeq,
  checkExpectedLastSubjectSeq,
  checkExpectedStream,
  checkRollup,
  checkSealedAndSize,
  checkTtlAllowed,
  type PendingWrites,
} from "./publish_checks.js";
import {
  HDR_BATCH_ID,
  HDR_EXPECTED_LAST_MSG_ID,
  HDR_EXPECTED_LAST_SEQ,
  HDR_EXPECTED_LAST_SUBJ_SEQ,
  HDR_EXPECTED_LAST_SUBJ_SEQ_SUBJ,
  HDR_EXPECTED_STREAM,
  HDR_INCR,
  HDR_MSG_ID,
  HDR_MARKER_REASON,
  HDR_ROLLUP,
  HDR_SCHEDULE_NEXT,
  HDR_SCHEDULER,
  HDR_TTL,
  MARKER_REASON_MAX_AGE,
  SCHEDULE_NEXT_PURGE,
  isDeleteMarker,
  parseIncrement,
  parseMessageTTL,
} from "./msg_headers.js";

// Every header the publish path looks at starts with one of these: one scan for the prefix
// spares the per-key lookups on messages that carry none (most headers are the client's own).
const NATS_KEY = Buffer.from("\r\nNats-", "latin1");
const EXPECTED_KEY = Buffer.from("\r\nNats-Expected-", "latin1");
export const BATCH_ID_KEY = Buffer.from("\r\nNats-Batch-Id:", "latin1");
const TOO_MANY_HDR = Buffer.from("NATS/1.0 429 Too Many Requests\r\n\r\n", "latin1");

/** The operations that change a stream. */
export type StreamOp =
  // `at`: the sequence and time a replicated stream's leader gave the message (every copy the same).
  | { op: "msg"; subject: string; hdr: Buffer | undefined; data: Buffer; msgId: string | undefined; rollup: "sub" | "all" | undefined; ttl?: number; at?: { seq: number; time: bigint } }
  | { op: "skip" }
  | { op: "purge"; filter?: string; seq?: number; keep?: number }
  | { op: "delete_msg"; seq: number; erase: boolean }
  | { op: "remove_acked"; seq: number }
  | { op: "update"; config: StreamConfig }
  // A mirror stores its origin's message with the origin's sequence and time.
  | { op: "mirror_msg"; subject: string; hdr: Buffer | undefined; data: Buffer; seq: number; time: bigint }
  // Sequences a copy will never hold (expired or deleted at the origin, or filtered out).
  | { op: "skip_msgs"; seq: number; num: number };

/** A message checked and ready to store (or to answer as a duplicate). */
/** An answer to a publish on its way out: a plain PubAck as its sequence, anything else as JSON. */
type PubAckOut = string | number;

export interface Prepared {
  subject: string;
  hdr: Buffer | undefined;
  data: Buffer;
  msgId: string | undefined;
  rollup: "sub" | "all" | undefined;
  ttl: number;
  counterValue?: string;
  duplicateOf?: number;
}

/** What an atomic batch stages before its commit (nats-server's batchStagedDiff). */
export interface BatchDiff {
  count: number;
  bytes: number;
  msgIds: Set<string>;
  /** Messages per subject in the batch so far. */
  subjects: Map<string, number>;
  /** Running counter totals per subject. */
  counters: Map<string, CounterState>;
}

/** A batch's staged messages as the pending writes the publish checks count. */
function batchPending(batch: BatchDiff): PendingWrites {
  return { count: batch.count, bytes: batch.bytes, onSubject: (s) => batch.subjects.get(s) ?? 0 };
}

export function newBatchDiff(): BatchDiff {
  return { count: 0, bytes: 0, msgIds: new Set(), subjects: new Map(), counters: new Map() };
}

interface DedupEntry {
  seq: number;
  ts: number; // ms
}

export class Stream {
  cfg: StreamConfig;
  /** Set once: at creation (a replicated stream's members take the meta group's time, cluster.ts). */
  created: bigint;
  readonly store: StreamStore;
  readonly consumers = new Map<string, Consumer>();
  private subs: Subscription[] = [];
  /** start() was called: the stream takes publishes in (recovery attaches the group first). */
  private started = false;
  private readonly dedup = new Map<string, DedupEntry>();
  private dedupOrder: string[] = [];
  private dedupHead = 0;
  private lastMsgId: string | undefined;

  /** The last stored message's Nats-Msg-Id (what Nats-Expected-Last-Msg-Id compares with). */
  get lastMessageId(): string | undefined {
    return this.lastMsgId;
  }
  private ackPrefix: string;
  /** The ack prefix's bytes, followed by room for a sequence: plain PubAcks are encoded here. */
  private ackBytes: Buffer = Buffer.alloc(0);
  private ackPrefixLen = 0;
  /** The start of this stream's PubAck JSON, up to the sequence. */
  get pubAckPrefix(): string {
    return this.ackPrefix;
  }
  /** Pairs of reply subject and PubAck JSON, sent once the batch is with the kernel. */
  private pendingAcks: Array<string | number> = [];
  /** Headers of the rare acks that carry one (429), by index in pendingAcks. */
  private pendingAckHdrs: Map<number, Buffer> | undefined;
  /** What the stream took in during this event-loop turn (its ingest "queue"). */
  private ingestMsgs = 0;
  private ingestBytes = 0;
  private acksScheduled = false;
  private kickScheduled = false;
  private republisher: Republisher | undefined;
  /** The mirror or sources feeding this stream (stream_source.ts). */
  sourcing: StreamSourcing | undefined;
  /** Message schedules (ADR-51), for streams with allow_msg_schedules. */
  readonly schedules: MessageSchedules;
  /** Atomic batches being staged (ADR-50). */
  readonly batches: AtomicBatches;
  readonly fastBatches: FastBatches = new FastBatches(this, (reply, json) => this.queueAck(reply, json));
  /** The stream's subject_transform, applied to a message's subject before anything else. */
  private inputTransform: SubjectTransform | undefined;
  closed = false;
  /**
   * This server's copy is removed because the server leaves the stream's group (a move, a
   * scale-down, a peer removal): the stream and its consumers live on elsewhere, so the removal
   * tells nobody they were deleted (no 409 Consumer Deleted, no delete advisories).
   */
  leftGroup = false;
  /** Set when the stream has replicas (num_replicas > 1 in a cluster): its RAFT group. */
  replica: StreamReplica | undefined;

  constructor(
    readonly jsa: JsAccount,
    cfg: StreamConfig,
    created: bigint,
    readonly dir: string,
  ) {
    this.cfg = cfg;
    this.created = created;
    const opts = jsa.service.options;
    this.store = openStreamStore(
      cfg,
      {
        dir,
        syncInterval: opts.syncInterval,
        logger: jsa.service.storeLogger,
        onExpire: (seq, subject, hdr) => this.onExpire(seq, subject, hdr),
        holdExpiry: () => this.expiryHeld(),
        encryption: { config: opts.encryption, account: jsa.account.name, stream: cfg.name },
      },
      this.metadata(),
    );
    this.store.setRemoveHandler((seq, subject, why) => {
      this.onRemoved(seq, subject, why);
      // A replicated stream's leader decides expiry: the other members remove what it expired.
      if ((why === "maxAge" || why === "ttl") && this.replica !== undefined) this.replica.expired(seq);
    });
    this.schedules = new MessageSchedules(this);
    this.schedules.recover();
    this.ackPrefix = this.buildAckPrefix();
    this.ackBytes = Buffer.from(this.ackPrefix + " ".repeat(24));
    this.ackPrefixLen = Buffer.byteLength(this.ackPrefix);
    this.republisher = Republisher.of(cfg.republish);
    this.inputTransform = inputTransformFor(cfg);
    this.rebuildDedup();
    this.batches = new AtomicBatches(this);
    this.batches.recover();
    if (StreamSourcing.needed(cfg)) this.sourcing = new StreamSourcing(this);
  }

  get name(): string {
    return this.cfg.name;
  }

  private buildAckPrefix(): string {
    const d = this.jsa.service.options.domain;
    return `{"stream":${JSON.stringify(this.cfg.name)},${d ? `"domain":${JSON.stringify(d)},` : ""}"seq":`;
  }

  // ---- persistence of the stream definition ----

  private metadata(): StreamMetadata {
    return { config: this.cfg, created: rfc3339(this.created) };
  }

  /** Persist the definition (file streams; memory streams do not survive a restart). */
  writeMeta(): void {
    saveStreamMetadata(this.store, this.metadata());
  }

  // ---- capture ----

  /** Take in publishes from now on (subscribed where that is this server's part: syncSubjects). */
  start(): void {
    this.started = true;
    this.assignedWorkHeld = this.replica === undefined && !this.runsAssignedWork();
    this.syncSubjects();
    // A replicated stream's mirror or sources run on its leader only (started when it leads).
    this.startAssignedWork();
  }

  /**
   * A single replica runs its mirror, sources and schedules where it is assigned: always on a
   * single server; in a cluster once the meta group assigns it here (JsCluster.assignedHere), so
   * a copy recovered at start that the meta group assigns elsewhere runs none while it waits for
   * its removal. Called again when its assignment becomes known.
   */
  runsAssignedWork(): boolean {
    return this.replica === undefined && this.jsa.service.cluster?.assignedHere(this) !== false;
  }

  /** Its sources' consumer requests wait for a meta leader that takes them (JsCluster.whenMetaLeaderAnswers). */
  whenApiAnswers(fn: () => void): boolean {
    return this.jsa.service.cluster?.whenMetaLeaderAnswers(fn) ?? true;
  }

  /** Held at start (runsAssignedWork said no): its consumers resume once it runs here. */
  private assignedWorkHeld = false;

  /** Its mirror or sources start, schedules that came due fire and its consumers deliver, once it runs here (runsAssignedWork). */
  startAssignedWork(): void {
    if (!this.started || this.closed || !this.runsAssignedWork()) return;
    this.sourcing?.start();
    this.schedules.wake();
    if (!this.assignedWorkHeld) return;
    this.assignedWorkHeld = false;
    for (const c of this.consumers.values()) c.resume();
  }

  /**
   * Subscribed to the stream's subjects in its account where publishes are taken in: a single
   * replica always, a replicated stream on its group's leader only (as nats-server). Subscribed
   * followers only drop what they get, and their interest made every publish from a client of
   * another server cross a route to each of them as well as to the leader. Called again when
   * this member's role in the group changes and when the group goes (scaled down to one).
   */
  syncSubjects(): void {
    // (A copy without a group here that the meta group assigns to other servers only was left
    // behind, JsCluster.runsAlone: it takes nothing.)
    const want = this.started && !this.closed && (this.replica === undefined ? this.jsa.service.cluster?.runsAlone(this) !== false : this.replica.isLeader);
    if (!want) {
      if (this.subs.length > 0) this.unsubscribeAll();
      return;
    }
    if (this.subs.length > 0) return;
    const acc = this.jsa.account;
    for (const s of this.cfg.subjects ?? []) {
      this.subs.push(
        acc.subscribeInternal(s, (subject, reply, hdr, payload) => this.processInbound(subject, reply, hdr, payload), undefined, `stream:${this.cfg.name}`),
      );
    }
  }

  private unsubscribeAll(): void {
    for (const s of this.subs) this.jsa.account.unsubscribeInternal(s);
    this.subs = [];
  }

  /**
   * The publish path. Runs synchronously inside the publisher's routing. `sourced`: a
   * message a source brings in (stream_source.ts), which may carry Nats-Stream-Source, or
   * one of the stream's own delete markers; its failures are thrown instead of answered.
   */
  processInbound(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sourced = false): void {
    if (this.closed) return;
    if (this.replica !== undefined) {
      // Replicated: the group's leader takes it in (stream_replica.ts), the other members drop it.
      // A source's copy is taken in by the leader that runs the sources; a failure is thrown
      // (the source asks its origin again from there).
      if (!sourced) this.replica.inbound(subject, reply, hdr, payload);
      else this.replica.inboundSourced(this.transformedSubject(subject), hdr, payload);
      return;
    }
    const cfg = this.cfg;
    const wantAck = reply !== "" && !cfg.no_ack;
    if (!sourced && !this.admitIngest(subject, reply, hdr, payload)) {
      if (wantAck) this.queueAck(reply, `{"error":${JSON.stringify(jsError("JSStreamTooManyRequests").toJSON())},"stream":${JSON.stringify(cfg.name)},"seq":0}`, TOO_MANY_HDR);
      return;
    }
    // Fast batch publish: the reply subject says it all (it wins over an atomic batch's headers).
    if (!sourced && reply.length > 4 && reply.endsWith(FAST_BATCH_SUFFIX)) {
      const ref = parseFastBatchReply(reply);
      if (ref !== undefined) {
        this.fastBatches.process(ref, subject, reply, hdr, payload);
        return;
      }
    }
    if (!sourced && hdr !== undefined && hdr.length > 12 && hdr.indexOf(BATCH_ID_KEY) >= 0) {
      const batchId = getHeader(hdr, HDR_BATCH_ID);
      if (batchId !== undefined && batchId !== "") {
        this.processBatchMsg(batchId, subject, reply, hdr, payload);
        return;
      }
    }
    subject = this.transformedSubject(subject);
    const trace = sourced ? undefined : activeTrace;
    if (trace !== undefined && hdr !== undefined) {
      this.tracedInbound(trace, subject, reply, hdr, payload);
      return;
    }
    try {
      const ack = this.accept(subject, hdr, payload, sourced);
      if (wantAck) this.queueAck(reply, ack);
    } catch (err) {
      if (sourced) throw err;
      if (!wantAck) return;
      const e = err instanceof ApiError ? err : storeErrorToApi(err);
      this.queueAck(reply, `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(cfg.name)},"seq":0}`);
    }
  }

  /**
   * A traced message (ADR-41): the trace gets a "js" event with what the stream did. A
   * trace-only message is checked but not stored (and not answered); a stored one keeps
   * tracing off for its deliveries.
   */
  private tracedInbound(trace: MsgTrace, subject: string, reply: string, hdr: Buffer, payload: Buffer): void {
    trace.jetStream(this.name);
    const wantAck = reply !== "" && !this.cfg.no_ack;
    const noInterest = this.cfg.retention === "interest" && !this.hasInterestIn(subject);
    try {
      if (trace.traceOnly) {
        const p = this.prepare(subject, hdr, payload, false, undefined);
        trace.jetStreamDone(p.duplicateOf !== undefined ? undefined : subject, noInterest, p.duplicateOf !== undefined ? "msgid is duplicate" : undefined);
        return;
      }
      const ack = this.accept(subject, MsgTrace.disabledIn(hdr), payload, false);
      trace.jetStreamDone(subject, noInterest, typeof ack === "string" && ack.includes('"duplicate":true') ? "msgid is duplicate" : undefined);
      if (wantAck) this.queueAck(reply, ack);
    } catch (err) {
      const e = err instanceof ApiError ? err : storeErrorToApi(err);
      trace.jetStreamDone(undefined, false, traceErrorText(e, hdr, this));
      if (wantAck) this.queueAck(reply, `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(this.cfg.name)},"seq":0}`);
    }
  }

  /**
   * Ingest limits (max_buffered_msgs / max_buffered_size): nats-server answers 429 when a
   * stream's ingest queue is full. Here a stream stores as messages arrive, so its "queue"
   * is what it took in during the current event-loop turn (acks go out at the turn's end).
   */
  private admitIngest(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): boolean {
    const o = this.jsa.service.options;
    const size = subject.length + reply.length + (hdr?.length ?? 0) + payload.length;
    if (this.ingestMsgs + 1 > (o.maxBufferedMsgs ?? 100_000) || this.ingestBytes + size > (o.maxBufferedSize ?? 128 * 1024 * 1024)) {
      if (!this.ingestRefused) {
        this.ingestRefused = true;
        this.jsa.service.log.warn(`Dropping messages due to excessive stream ingest rate on '${this.jsa.account.name}' > '${this.name}': ingest limit reached`);
      }
      return false;
    }
    if (this.ingestMsgs === 0) deferToMicrotask(this.endIngestTurn);
    this.ingestMsgs++;
    this.ingestBytes += size;
    return true;
  }

  private ingestRefused = false;
  private readonly endIngestTurn = (): void => {
    this.ingestMsgs = 0;
    this.ingestBytes = 0;
    this.ingestRefused = false;
  };

  /** A message of an atomic batch (batch.ts answers it: empty ack, commit ack or error). */
  private processBatchMsg(batchId: string, subject: string, reply: string, hdr: Buffer, payload: Buffer): void {
    const wantAck = reply !== "" && !this.cfg.no_ack;
    try {
      const ack = this.batches.process(batchId, subject, hdr, payload);
      if (wantAck && ack !== null) this.queueAck(reply, ack);
    } catch (err) {
      if (!wantAck) return;
      const e = err instanceof ApiError ? err : storeErrorToApi(err);
      this.queueAck(reply, `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(this.cfg.name)},"seq":0}`);
    }
  }

  /** The subject a message is stored under: the stream's subject_transform applied. */
  transformedSubject(subject: string): string {
    return this.inputTransform === undefined ? subject : (this.inputTransform.apply(subject) ?? subject);
  }

  /**
   * Check a message and store it; returns the PubAck JSON, throws the ApiError to answer.
   * `sourced` messages (copies from other streams, the stream's own delete markers and
   * scheduled messages) skip the checks that are about what a client may ask for.
   */
  private accept(subject: string, hdr: Buffer | undefined, payload: Buffer, sourced: boolean): PubAckOut {
    const p = this.prepare(subject, hdr, payload, sourced, undefined);
    // The plain PubAck travels as its sequence and is encoded straight into bytes when sent.
    if (p.duplicateOf === undefined && p.counterValue === undefined) return this.storePrepared(p);
    return this.commitPrepared(p);
  }

  /**
   * All checks of one message, in nats-server 2.15's order: sealed, sizes, then the headers
   * (counter increment, expected stream, TTL allowed, expected last subject sequence,
   * expected last sequence, schedules, stream source, duplicate id, expected last id,
   * rollup), counter state, resources, and the TTL's value last. Nothing changes yet.
   * Within an atomic batch (`batch`), the checks see the messages staged before this one.
   */
  prepare(subject: string, hdr: Buffer | undefined, payload: Buffer, sourced: boolean, batch: BatchDiff | undefined): Prepared {
    const cfg = this.cfg;
    const sizeErr = checkSealedAndSize(cfg, hdr, payload);
    if (sizeErr !== undefined) throw sizeErr;
    let msgId: string | undefined;
    let rollup: "sub" | "all" | undefined;
    let incr: bigint | undefined;
    let ttlText: string | undefined;
    if (hdr !== undefined && hdr.length > 12 && hdr.indexOf(NATS_KEY) >= 0) {
      const expecting = hdr.indexOf(EXPECTED_KEY) >= 0;
      const incrText = getHeader(hdr, HDR_INCR);
      if (incrText !== undefined && incrText !== "") {
        incr = parseIncrement(incrText);
        if (incr === undefined) throw jsError("JSMessageIncrInvalidErr");
        if (!sourced) {
          if (!cfg.allow_msg_counter) throw jsError("JSMessageIncrDisabledErr");
          if (payload.length > 0) throw jsError("JSMessageIncrPayloadErr");
          // An increment goes with none of the conditional-publish headers.
          if (getHeader(hdr, HDR_ROLLUP) || (expecting && counterConflicts(hdr))) throw jsError("JSMessageIncrInvalidErr");
        }
      }
      const pending = batch === undefined ? undefined : batchPending(batch);
      const expStreamErr = expecting ? checkExpectedStream(cfg, hdr) : undefined;
      if (expStreamErr !== undefined) throw expStreamErr;
      ttlText = getHeader(hdr, HDR_TTL);
      if (ttlText === "") ttlText = undefined;
      const ttlErr = sourced ? undefined : checkTtlAllowed(cfg, ttlText);
      if (ttlErr !== undefined) throw ttlErr;
      if (expecting) {
        // Within a batch a subject the batch already writes has no checkable last sequence.
        const subjErr = checkExpectedLastSubjectSeq(hdr, subject, this.store, pending);
        if (subjErr !== undefined) throw subjErr;
        // In a batch the stream stands where the messages staged before this one put it.
        const lastErr = checkExpectedLastSeq(hdr, this.store.state().lastSeq + (batch?.count ?? 0));
        if (lastErr !== undefined) throw lastErr;
        // Only a batch's first message may say where the stream should stand.
        if (batch !== undefined && batch.count > 0 && getHeader(hdr, HDR_EXPECTED_LAST_SEQ) !== undefined) throw jsError("JSStreamWrongLastSequenceConstantErr");
      }
      if (!sourced) hdr = this.schedules.checkPublish(subject, hdr);
      // Only a source may say where a message came from (2.15).
      if (!sourced && getHeader(hdr, HDR_STREAM_SOURCE) !== undefined) throw jsError("JSMessageSourceHdrNotAllowedErr");
      msgId = getHeader(hdr, HDR_MSG_ID);
      if (msgId === "") msgId = undefined;
      if (msgId !== undefined && (cfg.duplicate_window ?? 0) > 0) {
        const dup = this.checkDuplicate(msgId);
        if (batch !== undefined) {
          if (dup !== undefined || batch.msgIds.has(msgId)) throw jsError("JSAtomicPublishContainsDuplicateMessageErr");
          batch.msgIds.add(msgId);
        } else if (dup !== undefined) {
          return { subject, hdr, data: payload, msgId, rollup, ttl: 0, duplicateOf: dup };
        }
      }
      const lastIdErr = expecting ? checkExpectedLastMsgId(hdr, this.lastMsgId ?? "") : undefined;
      if (lastIdErr !== undefined) throw lastIdErr;
      const r = checkRollup(cfg, hdr, sourced);
      if (r instanceof ApiError) throw r;
      if (r !== undefined) {
        rollup = r;
        // In a batch a subject rolls up where it first appears, the stream only at the start.
        if (batch !== undefined && rollup === "sub" && batch.subjects.has(subject)) throw jsError("JSStreamRollupFailedF", { err: "batch rollup sub invalid" });
        if (batch !== undefined && rollup === "all" && batch.count > 0) throw jsError("JSStreamRollupFailedF", { err: "batch rollup all invalid" });
      }
    }
    let counterValue: string | undefined;
    if (cfg.allow_msg_counter) {
      if (incr === undefined) throw jsError("JSMessageIncrMissingErr");
      let state = batch?.counters.get(subject);
      if (state === undefined) {
        const loaded = counterStateOf(this.store.loadLastMsg(subject));
        if (loaded instanceof ApiError) throw loaded;
        state = loaded;
      }
      const update = applyCounter(state, subject, hdr, payload, incr);
      if (update instanceof ApiError) throw update;
      batch?.counters.set(subject, state);
      const maxPayload = this.jsa.service.server.options.maxPayload;
      const newHdrLen = update.hdr === undefined ? 0 : update.hdr.length;
      if (newHdrLen > maxPayload || update.data.length > maxPayload - newHdrLen) throw jsError("JSStreamMessageExceedsMaximumErr");
      hdr = update.hdr;
      payload = update.data;
      counterValue = update.value;
    }
    const size = storeMsgSize(cfg.storage, subject, hdr, payload);
    if (this.jsa.storageLimited && this.jsa.exceedsStorage(cfg.storage, size + (batch?.bytes ?? 0), cfg.num_replicas)) {
      throw jsError("JSAccountResourcesExceededErr");
    }
    if (batch !== undefined) this.checkBatchLimits(batch, subject, size, rollup);
    let ttl = 0;
    if (ttlText !== undefined) {
      const t = parseMessageTTL(ttlText);
      if (t === "invalid") throw jsError("JSMessageTTLInvalidErr");
      ttl = t;
      // With delete markers a message lives at least as long as a marker would, or the
      // marker could be missed (one message per subject needs no marker, it is its own).
      const minTtl = Math.trunc((cfg.subject_delete_marker_ttl ?? 0) / SEC_NS);
      if (ttl > 0 && minTtl > 0 && cfg.max_msgs_per_subject !== 1 && ttl < minTtl) {
        ttl = minTtl;
        hdr = setHeader(hdr, HDR_TTL, String(ttl));
      }
    }
    if (batch !== undefined) {
      batch.count++;
      batch.bytes += size;
      batch.subjects.set(subject, (batch.subjects.get(subject) ?? 0) + 1);
    }
    return { subject, hdr: hdr !== undefined && hdr.length > 0 ? hdr : undefined, data: payload, msgId, rollup, ttl, counterValue };
  }

  /**
   * discard "new" limits for a batch message, counting what the batch stages before it
   * (nats-server refuses the batch rather than storing part of it).
   */
  private checkBatchLimits(batch: BatchDiff, subject: string, size: number, rollup: "sub" | "all" | undefined): void {
    const err = checkDiscardNew(this.cfg, this.store, subject, size, rollup !== undefined, batchPending(batch));
    if (err !== undefined) throw err;
  }

  /** Store a prepared message (or answer its duplicate); returns the PubAck JSON. */
  commitPrepared(p: Prepared, batchAck?: string): string {
    if (p.duplicateOf !== undefined) return `${this.ackPrefix}${p.duplicateOf},"duplicate":true}`;
    const seq = this.storePrepared(p);
    if (batchAck !== undefined) return `${this.ackPrefix}${seq}${batchAck}}`;
    return p.counterValue !== undefined ? `${this.ackPrefix}${seq},"val":"${p.counterValue}"}` : `${this.ackPrefix}${seq}}`;
  }

  /** Store a prepared message that is not a duplicate; returns its sequence. */
  private storePrepared(p: Prepared): number {
    // Interest retention keeps nothing nobody is interested in: the sequence is used up.
    if (this.cfg.retention === "interest" && !this.hasInterestIn(p.subject)) return this.applyStreamOp({ op: "skip" }) as number;
    // The buffers may alias a socket read buffer: both stores copy what they keep.
    return this.applyStreamOp({ op: "msg", subject: p.subject, hdr: p.hdr, data: p.data, msgId: p.msgId, rollup: p.rollup, ttl: p.ttl }) as number;
  }

  hasInterestIn(subject: string): boolean {
    for (const c of this.consumers.values()) if (c.matchesSubject(subject)) return true;
    return false;
  }

  // ---- de-duplication ----

  private checkDuplicate(id: string): number | undefined {
    const e = this.dedup.get(id);
    if (e === undefined) return undefined;
    if (Date.now() - e.ts > (this.cfg.duplicate_window ?? 0) / 1_000_000) return undefined;
    return e.seq;
  }

  private recordMsgId(id: string, seq: number, ts: number): void {
    this.dedup.set(id, { seq, ts });
    this.dedupOrder.push(id);
    // Drop what has left the window from the front of the insertion-ordered list.
    const window = (this.cfg.duplicate_window ?? 0) / 1_000_000;
    const now = Date.now();
    while (this.dedupHead < this.dedupOrder.length) {
      const oldest = this.dedupOrder[this.dedupHead];
      const oe = this.dedup.get(oldest);
      if (oe !== undefined && now - oe.ts <= window) break;
      if (oe !== undefined && oe.seq !== seq) this.dedup.delete(oldest);
      this.dedupHead++;
    }
    if (this.dedupHead > 1024 && this.dedupHead * 2 > this.dedupOrder.length) {
      this.dedupOrder = this.dedupOrder.slice(this.dedupHead);
      this.dedupHead = 0;
    }
  }

  /** After a restart (and after a partial batch is removed): reload message ids still inside the duplicate window. */
  rebuildDedup(): void {
    this.dedup.clear();
    this.dedupOrder = [];
    this.dedupHead = 0;
    this.lastMsgId = undefined;
    const st = this.store.state();
    if (st.msgs === 0) return;
    const windowNs = BigInt(this.cfg.duplicate_window ?? 0);
    const cutoff = nowNs() - windowNs;
    const found: Array<[string, number, number]> = [];
    let seq = st.lastSeq;
    let scanned = 0;
    while (seq >= st.firstSeq && scanned < 100_000) {
      const m = this.store.loadPrevMsg(seq);
      if (m === null || m.time < cutoff) break;
      const id = getHeader(m.hdr, HDR_MSG_ID);
      if (id !== undefined && id !== "") found.push([id, m.seq, Number(m.time / 1_000_000n)]);
      if (this.lastMsgId === undefined && id !== undefined && m.seq === st.lastSeq) this.lastMsgId = id;
      seq = m.seq - 1;
      scanned++;
    }
    for (let i = found.length - 1; i >= 0; i--) {
      const [id, s, ts] = found[i];
      this.dedup.set(id, { seq: s, ts });
      this.dedupOrder.push(id);
    }
  }

  // ---- acks out ----

  /** An answer to a publish: a plain PubAck as its sequence, anything else as JSON. */
  private queueAck(reply: string, ack: PubAckOut, hdr?: Buffer): void {
    if (hdr !== undefined) (this.pendingAckHdrs ??= new Map()).set(this.pendingAcks.length, hdr);
    this.pendingAcks.push(reply, ack);
    if (!this.acksScheduled) {
      this.acksScheduled = true;
      deferToMicrotask(this.flushAcks);
    }
  }

  private readonly flushAcks = (): void => {
    this.acksScheduled = false;
    const acks = this.pendingAcks;
    const hdrs = this.pendingAckHdrs;
    this.pendingAcks = [];
    this.pendingAckHdrs = undefined;
    if (acks.length === 0 || this.closed) return;
    // A PubAck leaves once its message is durable as the store's policy says (store.whenDurable):
    // by default fsynced, in one group commit for every message of this turn or of the time
    // an fsync is in flight; with a sync_interval, written to the kernel (SIGKILL-safe only).
    try {
      this.store.flush();
    } catch {
      // whenDurable reports the failure to each publisher
    }
    this.store.whenDurable((err) => this.sendAcks(acks, hdrs, err));
  };

  private sendAcks(acks: Array<string | number>, hdrs: Map<number, Buffer> | undefined, err: Error | null): void {
    const acc = this.jsa.account;
    let failed: Buffer | undefined;
    if (err !== null) {
      this.jsa.service.log.error(`JetStream stream '${this.cfg.name}' could not make messages durable: ${err.message}`);
      // The messages may not be on disk: their publishers get an error instead of a PubAck.
      failed = Buffer.from(`{"error":${JSON.stringify(storeErrorToApi(err).toJSON())},"stream":${JSON.stringify(this.cfg.name)},"seq":0}`);
    }
    for (let i = 0; i < acks.length; i += 2) {
      const ack = acks[i + 1]!;
      let payload: Buffer;
      if (typeof ack === "number") payload = failed ?? this.encodeAck(ack);
      else payload = failed !== undefined && !ack.startsWith('{"error"') ? failed : Buffer.from(ack);
      // Receivers copy what they keep (as for a payload in a socket's read buffer): the
      // encoded ack's bytes are reused for the next one.
      acc.publishOnce(acks[i] as string, hdrs?.get(i), payload);
    }
  }

  /** Answer one publish now (a replicated stream's leader, once the message is committed). */
  replyToPublish(reply: string, ack: PubAckOut): void {
    this.sendAcks([reply, ack], undefined, null);
  }

  /** `{"stream":..,"seq":<seq>}` in the stream's reused ack buffer (no string, no new bytes). */
  private encodeAck(seq: number): Buffer {
    let b = this.ackBytes;
    const start = this.ackPrefixLen;
    if (b.length < start + 24) b = this.ackBytes = Buffer.alloc(start + 24, b.subarray(0, start));
    const end = writeDecimal(b, start, seq);
    b[end] = 0x7d; // }
    return b.subarray(0, end + 1);
  }

  // ---- the apply path ----

  /** The single place stream state changes. Returns the sequence for msg/skip, counts for purge. */
  applyStreamOp(op: StreamOp): number | boolean {
    // A replicated stream's leader proposes the changes its consumers make; every member applies them.
    if (this.replica !== undefined && !this.replica.applying && (op.op === "remove_acked" || op.op === "purge")) {
      this.replica.forward(op);
      return op.op === "purge" ? 0 : true;
    }
    // What a replicated mirror copies (on its leader, which runs the mirror) goes through the group too.
    if (this.replica !== undefined && !this.replica.applying && (op.op === "mirror_msg" || op.op === "skip_msgs")) {
      this.replica.proposeCopy(op);
      return op.op === "mirror_msg" ? op.seq : op.seq + op.num - 1;
    }
    switch (op.op) {
      case "msg": {
        // Republish needs the subject's previous sequence, before this message (or a rollup) changes it.
        // A replicated stream republishes from its leader only (each member applies every message).
        const rp = this.republisher !== undefined && (this.replica === undefined || this.replica.isLeader) && this.republisher.matches(op.subject) ? this.republisher : undefined;
        const prevOnSubject = rp !== undefined ? this.store.filteredState(0, op.subject).last : 0;
        let r: { seq: number; time: bigint };
        if (op.at === undefined) r = this.store.storeMsg(op.subject, op.hdr, op.data, op.ttl);
        else {
          this.store.storeRawMsg(op.subject, op.hdr, op.data, op.at.seq, op.at.time, op.ttl);
          r = op.at;
        }
        if (op.msgId !== undefined) {
          this.lastMsgId = op.msgId;
          if ((this.cfg.duplicate_window ?? 0) > 0) this.recordMsgId(op.msgId, r.seq, Number(r.time / 1_000_000n));
        } else {
          this.lastMsgId = undefined;
        }
        // A rollup keeps just this message (keep 1, as nats-server does: "below r.seq" would
        // mean "everything" when the rollup is the stream's first message).
        if (op.rollup !== undefined) this.store.purgeEx(op.rollup === "sub" ? op.subject : "", 0, 1);
        if (op.hdr !== undefined && this.cfg.allow_msg_schedules) {
          // A one-shot schedule's produced message purges the schedule; any stored message
          // may start, replace, end or move on a schedule.
          if (this.cfg.allow_rollup_hdrs && !this.cfg.deny_purge && getHeader(op.hdr, HDR_SCHEDULE_NEXT) === SCHEDULE_NEXT_PURGE) {
            const scheduler = getHeader(op.hdr, HDR_SCHEDULER);
            if (scheduler !== undefined && scheduler !== "") {
              this.store.purgeEx(scheduler, 0, 0);
              for (const c of this.consumers.values()) c.onStreamPurged(scheduler);
            }
          }
          this.schedules.onStored(r.seq, op.subject, op.hdr, r.time);
        } else if (this.schedules.size > 0) {
          this.schedules.onStored(r.seq, op.subject, op.hdr, r.time);
        }
        this.signalConsumers(r.seq, op.subject);
        // A rollup is a purge for the consumers too (nats-server's purgeLocked), once they counted the new message.
        if (op.rollup !== undefined) for (const c of this.consumers.values()) c.onStreamPurged(op.rollup === "sub" ? op.subject : "");
        if (rp !== undefined) this.republish(rp, op.subject, op.hdr, op.data, r.seq, r.time, prevOnSubject);
        return r.seq;
      }
      case "skip":
        return this.store.skipMsg();
      case "mirror_msg": {
        const st = this.store.state();
        // A brand-new mirror starts where its origin's first message is.
        if (st.msgs === 0 && st.lastSeq + 1 < op.seq && st.firstSeq <= 1) this.store.compact(op.seq);
        this.store.storeRawMsg(op.subject, op.hdr, op.data, op.seq, op.time);
        this.lastMsgId = undefined;
        this.signalConsumers(op.seq, op.subject);
        const rp = this.republisher !== undefined && (this.replica === undefined || this.replica.isLeader) && this.republisher.matches(op.subject) ? this.republisher : undefined;
        if (rp !== undefined) this.republish(rp, op.subject, op.hdr, op.data, op.seq, op.time, 0);
        return op.seq;
      }
      case "skip_msgs": {
        if (op.num <= 0) return this.store.state().lastSeq;
        const st = this.store.state();
        // Nothing stored yet: the copy simply starts later.
        if (st.msgs === 0) this.store.compact(op.seq + op.num);
        else this.store.skipMsgs(op.seq, op.num);
        return op.seq + op.num - 1;
      }
      case "purge": {
        // A member that does not run the sources keeps where they got before the headers go.
        this.sourcing?.keepPositions();
        let n: number;
        if (op.filter === undefined && op.seq === undefined && op.keep === undefined) n = this.store.purge();
        else n = this.store.purgeEx(op.filter ?? "", op.seq ?? 0, op.keep ?? 0);
        for (const c of this.consumers.values()) c.onStreamPurged(op.filter ?? "");
        // The headers that told how far each source got may be gone now.
        this.sourcing?.markDirty();
        this.sourcing?.saveState();
        return n;
      }
      case "delete_msg":
        return op.erase ? this.store.eraseMsg(op.seq) : this.store.removeMsg(op.seq);
      case "remove_acked":
        return this.store.removeMsg(op.seq);
      case "update": {
        const old = this.cfg;
        this.cfg = op.config;
        if (this.sourcing !== undefined) this.sourcing.update(old, op.config);
        else if (StreamSourcing.needed(op.config)) {
          this.sourcing = new StreamSourcing(this);
          // A replicated stream's sources run on its leader.
          if (this.replica === undefined ? this.runsAssignedWork() : this.replica.isLeader) this.sourcing.start();
        }
        this.republisher = Republisher.of(op.config.republish);
        this.inputTransform = inputTransformFor(op.config);
        this.store.updateConfig(storeConfigFor(op.config));
        const oldSubjects = (old.subjects ?? []).join("\u0000");
        if (oldSubjects !== (op.config.subjects ?? []).join("\u0000")) {
          this.unsubscribeAll();
          this.start();
        }
        this.ackPrefix = this.buildAckPrefix();
    this.ackBytes = Buffer.from(this.ackPrefix + " ".repeat(24));
    this.ackPrefixLen = Buffer.byteLength(this.ackPrefix);
        // Batches in flight end with the feature.
        if (!op.config.allow_atomic) this.batches.stop();
        if (!op.config.allow_batched) this.fastBatches.clear();
        this.writeMeta();
        for (const c of this.consumers.values()) c.onStreamPurged();
        return true;
      }
    }
  }

  private republish(rp: Republisher, subject: string, hdr: Buffer | undefined, data: Buffer, seq: number, time: bigint, prev: number): void {
    rp.publish(this.jsa.account, this.cfg.name, subject, hdr, data, seq, time, prev);
  }

  /**
   * Tell consumers about a new message. Counting is immediate; delivery waits until the
   * message is durable as a PubAck would (store.whenDurable; a replicated stream's message is,
   * once committed: see waitDurableThenKick), and comes after the PubAcks of
   * the same round: a consumer is not handed a message a power cut could still take away, and
   * a client that publishes and watches on one connection sees its PubAck first (nats.js' KV
   * watchers close the connection on the last entry they expect, which must not cut off the
   * put's PubAck still waiting for its fsync).
   */
  private signalConsumers(seq: number, subject: string): void {
    if (this.consumers.size === 0) return;
    for (const c of this.consumers.values()) c.onNewMessage(seq, subject);
    if (!this.kickScheduled) {
      this.kickScheduled = true;
      // Two microtasks: the turn's PubAcks (flushAcks, queued by the publish after this
      // message was stored) register their wait first, and waiters are called in order.
      deferToMicrotask(this.scheduleKick);
    }
  }

  private readonly scheduleKick = (): void => deferToMicrotask(this.waitDurableThenKick);

  private readonly waitDurableThenKick = (): void => {
    this.kickScheduled = false;
    if (this.closed) return;
    // A replicated stream's messages are applied only once committed: a quorum has them fsynced
    // in its RAFT logs already, and this member's log keeps them until its store is synced (the
    // group's snapshot waits for that). An fsync of the store here would be a second fsync per
    // publish round on every member that has consumers, which durability does not need.
    if (this.replica !== undefined) {
      this.kickConsumers();
      return;
    }
    // A failed fsync is reported to the publishers; consumers deliver what the store holds.
    this.store.whenDurable(this.kickConsumers);
  };

  private readonly kickConsumers = (): void => {
    for (const c of this.consumers.values()) c.kick();
  };

  private onRemoved(seq: number, subject: string, why: RemoveReason): void {
    if (this.markersProposed.size > 0 && this.markersProposed.get(subject) === seq) this.markersProposed.delete(subject);
    // nats-server takes a message deleted, expired or dropped by a limit as acknowledged by its
    // consumers; a purge (or rollup) moves them on as a whole, and a truncation or a corrupt
    // record is no one's decision.
    const settled = why === "purge" || why === "truncate" || why === "corrupt";
    const purged = why === "purge";
    for (const c of this.consumers.values()) c.onMessageRemoved(seq, subject, settled, purged);
    if (this.schedules.size > 0) this.schedules.onRemoved(seq);
  }

  // ---- subject delete markers (ADR-43) ----

  /**
   * The store asks before the last message of a subject expires. With
   * subject_delete_marker_ttl the stream keeps it and, right after the expiry pass, stores
   * a marker (`Nats-Marker-Reason: MaxAge`, the marker TTL, `Nats-Rollup: sub`) whose
   * rollup removes it; a marker itself (or a KV purge) simply expires.
   */
  private onExpire(seq: number, subject: string, hdr: Buffer | undefined): boolean {
    if ((this.cfg.subject_delete_marker_ttl ?? 0) <= 0) return false;
    if (isDeleteMarker((k) => getHeader(hdr, k))) return false;
    if (this.replica !== undefined) {
      // Replicated: the marker is proposed once; its rollup (applied by every member) removes the message.
      if (this.markersProposed.get(subject) === seq) return true;
      this.markersProposed.set(subject, seq);
    }
    if (!this.pendingMarkers.has(subject)) {
      this.pendingMarkers.set(subject, seq);
      if (this.pendingMarkers.size === 1) queueMicrotask(() => this.placeMarkers());
    }
    return true;
  }

  private readonly pendingMarkers = new Map<string, number>();
  /** A replicated stream's leader: the message each proposed marker replaces, by subject (until it is gone). */
  readonly markersProposed = new Map<string, number>();

  /**
   * Nothing expires by this member's clock while it does not lead its stream's group (the
   * leader's expiry and markers come as entries, so every copy stays the same).
   */
  private expiryHeld(): boolean {
    if (this.replica !== undefined) return !(this.replica.isLeader && this.replica.node.leaderReady);
    return this.cfg.num_replicas > 1 && this.jsa.service.cluster !== undefined;
  }

  private placeMarkers(): void {
    const markers = [...this.pendingMarkers];
    this.pendingMarkers.clear();
    if (this.closed) return;
    const ttlSeconds = Math.trunc((this.cfg.subject_delete_marker_ttl ?? 0) / SEC_NS);
    const hdr = buildHeaders([
      [HDR_MARKER_REASON, MARKER_REASON_MAX_AGE],
      [HDR_TTL, goDuration(ttlSeconds * SEC_NS)],
      [HDR_ROLLUP, "sub"],
    ]);
    for (const [subject, seq] of markers) {
      try {
        if (this.replica !== undefined) this.replica.inboundSourced(subject, hdr, EMPTY);
        else this.accept(subject, hdr, EMPTY, true);
      } catch (err) {
        // No marker (sealed, limits): the message expires plainly rather than staying.
        this.jsa.service.log.warn(`JetStream stream '${this.name}' could not place a delete marker on '${subject}': ${(err as Error).message}`);
        try {
          this.applyStreamOp({ op: "remove_acked", seq });
        } catch {
          // already gone
        }
      }
    }
  }

  /**
   * Retention for interest and workqueue streams: once no consumer still needs a message,
   * it goes. Called by consumers after acks (and after a consumer is deleted).
   */
  checkRetention(seq: number, subject: string | undefined): void {
    if (this.cfg.retention === "limits") return;
    if (subject === undefined) {
      const m = this.store.loadMsg(seq);
      if (m === null) return;
      subject = m.subject;
    }
    for (const c of this.consumers.values()) if (c.needsAck(seq, subject)) return;
    this.applyStreamOp({ op: "remove_acked", seq });
  }

  /** After a consumer of an interest/workqueue stream left: drop what nobody needs anymore. */
  sweepRetention(): void {
    if (this.cfg.retention === "limits") return;
    const st = this.store.state();
    if (st.msgs === 0) return;
    if (this.consumers.size === 0 && this.cfg.retention === "interest") {
      this.applyStreamOp({ op: "purge" });
      return;
    }
    if (this.cfg.retention === "workqueue") return; // unconsumed work stays
    let seq = st.firstSeq;
    for (;;) {
      const m = this.store.loadNextMsg("", seq);
      if (m === null) break;
      this.checkRetention(m.seq, m.subject);
      seq = m.seq + 1;
    }
  }

  // ---- reads ----

  /** Consumers clients see (not the direct ones mirrors and sources read through). */
  publicConsumers(): Consumer[] {
    const out: Consumer[] = [];
    for (const c of this.consumers.values()) if (c.cfg.direct !== true) out.push(c);
    return out;
  }

  publicConsumerCount(): number {
    let n = 0;
    for (const c of this.consumers.values()) if (c.cfg.direct !== true) n++;
    // A replicated stream's single-replica consumers placed on its other members: counted by every member (nats-server counts the assignments).
    // Held here alone, its single-replica durables awaited from their servers (late_handovers.ts) too, as CONSUMER.NAMES names them.
    return n + (this.replica?.remoteEphemerals().length ?? this.jsa.service.cluster?.awaitedConsumers(this).length ?? 0);
  }

  state(): StreamState {
    return this.store.state();
  }

  /** The `state` object of stream info, as nats-server marshals it. */
  stateJson(opts: { deleted_details?: boolean; subjects_filter?: string } = {}): Record<string, unknown> {
    const st = this.store.state(opts.deleted_details === true);
    const out: Record<string, unknown> = {
      messages: st.msgs,
      bytes: st.bytes,
      first_seq: st.firstSeq,
      first_ts: rfc3339(st.firstTime),
      last_seq: st.lastSeq,
      last_ts: rfc3339(st.lastTime),
    };
    if (st.numDeleted > 0) out.num_deleted = st.numDeleted;
    if (opts.deleted_details && st.deleted !== undefined && st.deleted.length > 0) out.deleted = st.deleted;
    if (st.numSubjects > 0) out.num_subjects = st.numSubjects;
    if (opts.subjects_filter) {
      const totals = this.store.subjectsTotals(opts.subjects_filter);
      if (totals.size > 0) out.subjects = Object.fromEntries(totals);
    }
    if (st.lost !== undefined && st.lost.msgs.length > 0) out.lost = st.lost;
    out.consumer_count = this.publicConsumerCount();
    return out;
  }

  /**
   * Stream info. Answers about one stream add the server's version and level to the
   * metadata (`dynamic`); lists show it as stored, as nats-server does.
   */
  infoJson(opts: { deleted_details?: boolean; subjects_filter?: string; dynamic?: boolean } = {}): Record<string, unknown> {
    const mirror = this.sourcing?.mirrorInfo();
    const sources = this.sourcing?.sourcesInfo();
    return {
      config: opts.dynamic === false ? this.cfg : { ...this.cfg, metadata: dynamicMetadata(this.cfg.metadata) },
      created: rfc3339(this.created),
      state: this.stateJson(opts),
      ...(mirror !== undefined ? { mirror } : {}),
      ...(sources !== undefined ? { sources } : {}),
      ts: rfc3339(nowNs()),
    };
  }

  /**
   * A mirror's consumer starts after `delivered` (the origin's messages up to there are gone):
   * the sequences in between are skipped so the copy keeps the origin's numbering.
   */
  mirrorCatchUp(delivered: number): void {
    const st = this.store.state();
    if (st.lastSeq >= delivered) return;
    this.applyStreamOp({ op: "skip_msgs", seq: st.lastSeq + 1, num: delivered - st.lastSeq });
  }

  /** Message lookup used by MSG.GET and DIRECT.GET. Throws JSNoMessageFoundErr. */
  getMessage(req: { seq?: number; last_by_subj?: string; next_by_subj?: string; start_time?: string }): StoredMsg {
    // A start time picks the first sequence at or after it (next_by_subj then filters from there).
    let seq = req.seq ?? 0;
    if (req.start_time !== undefined) {
      const t = parseRfc3339(req.start_time);
      if (t === undefined) throw jsError("JSInvalidJSONErr", { err: `parsing time ${JSON.stringify(req.start_time)} as RFC3339: invalid` });
      seq = this.store.getSeqFromTime(t);
    }
    const next = req.next_by_subj ?? "";
    let m: StoredMsg | null;
    if (seq > 0 && next === "") m = this.store.loadMsg(seq);
    else if (next !== "") m = this.store.loadNextMsg(next, seq);
    else m = this.store.loadLastMsg(req.last_by_subj ?? "");
    if (m === null) throw jsError("JSNoMessageFoundErr");
    return m;
  }

  /**
   * Consumer filter check (nats-server's validFilteredSubject): the filter must be a subset
   * of one of the stream's subjects, or, when it has wildcards, may be wider than one of
   * them (e.g. ">" on a stream of "a": an ordered consumer's default filter).
   */
  coversSubject(filter: string): boolean {
    const wide = hasWildcard(filter);
    for (const s of this.cfg.subjects ?? []) {
      if (subjectIsSubsetOf(filter, s)) return true;
      if (wide && subjectIsSubsetOf(s, filter)) return true;
    }
    return false;
  }

  // ---- lifecycle ----

  stop(): void {
    if (this.closed) return;
    this.replica?.stop();
    this.sourcing?.stop(true);
    for (const c of this.consumers.values()) c.stop(false);
    this.flushAcksNow();
    this.closed = true;
    this.schedules.stop();
    this.batches.stop();
    this.fastBatches.clear();
    this.unsubscribeAll();
    try {
      this.store.stop();
    } catch (err) {
      this.jsa.service.log.error(`JetStream stream '${this.cfg.name}' stop failed: ${(err as Error).message}`);
    }
  }

  /** On stop: the acks of this turn wait for the store's stop, which fsyncs everything. */
  private flushAcksNow(): void {
    if (this.pendingAcks.length > 0) {
      try {
        this.store.flush();
      } catch {
        // reported with the acks
      }
      const acks = this.pendingAcks;
      const hdrs = this.pendingAckHdrs;
      this.pendingAcks = [];
      this.pendingAckHdrs = undefined;
      this.store.whenDurable((err) => this.sendAcks(acks, hdrs, err));
    }
  }

  delete(): void {
    // The sources first: their leader asks the origins to drop the durables kept for them.
    this.sourcing?.stop(false, true);
    this.replica?.destroy();
    for (const c of [...this.consumers.values()]) c.stop(true, this.leftGroup);
    this.consumers.clear();
    this.closed = true;
    this.schedules.stop();
    this.batches.stop();
    this.fastBatches.clear();
    this.unsubscribeAll();
    try {
      this.store.delete();
    } catch (err) {
      this.jsa.service.log.error(`JetStream stream '${this.cfg.name}' delete failed: ${(err as Error).message}`);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const EMPTY = Buffer.alloc(0);

function inputTransformFor(cfg: StreamConfig): SubjectTransform | undefined {
  const tr = cfg.subject_transform;
  return tr === undefined ? undefined : SubjectTransform.parse(tr.src, tr.dest);
}

/**
 * The error a trace event shows for a refused message: nats-server reports some of its
 * internal errors there rather than the API error's description.
 */
function traceErrorText(e: ApiError, hdr: Buffer, stream: Stream): string {
  switch (e.errCode) {
    case 10071: {
      const bySubject = getHeader(hdr, HDR_EXPECTED_LAST_SUBJ_SEQ);
      const actual = e.description.slice(e.description.lastIndexOf(" ") + 1);
      if (bySubject !== undefined) return `last sequence by subject mismatch: ${bySubject} vs ${actual}`;
      return `last sequence mismatch: ${getHeader(hdr, HDR_EXPECTED_LAST_SEQ) ?? ""} vs ${actual}`;
    }
    case 10060:
      return "expected stream does not match";
    case 10070:
      return `last msgid mismatch: ${JSON.stringify(getHeader(hdr, HDR_EXPECTED_LAST_MSG_ID) ?? "")} vs ${JSON.stringify(stream.lastMessageId ?? "")}`;
    case 10166:
      return "message TTL disabled";
    case 10054:
      return "maximum payload exceeded";
    default:
      return e.description;
  }
}

/** Headers an increment may not come with (they would make the total conditional). */
function counterConflicts(hdr: Buffer): boolean {
  for (const k of [HDR_EXPECTED_STREAM, HDR_EXPECTED_LAST_MSG_ID, HDR_EXPECTED_LAST_SUBJ_SEQ_SUBJ]) {
    const v = getHeader(hdr, k);
    if (v !== undefined && v !== "") return true;
  }
  return getHeader(hdr, HDR_EXPECTED_LAST_SEQ) !== undefined || getHeader(hdr, HDR_EXPECTED_LAST_SUBJ_SEQ) !== undefined;
}

/** Map a storage error to the PubAck / API error nats-server sends for it. */
export function storeErrorToApi(err: unknown): ApiError {
  if (isStoreError(err, "ErrMaxMsgSize")) return jsError("JSStreamMessageExceedsMaximumErr");
  return asApiError(err, "JSStreamStoreFailedF");
}
