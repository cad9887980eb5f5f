// Replicas of nats-server streams held by a tsnats server (issue 12's moonshot, experimental:
// `cluster { nrg_peer: true, nrg_peer_streams: true }`). For each stream assignment of the meta
// state (nrg_meta_state.ts) whose RAFT group names this server, the server creates the stream
// in a store of its own and joins the stream's group as a voting, never-campaigning member
// (nrg_group_member.ts: stores before it acknowledges, stores term and vote before granting).
// Committed entries are applied as nats-server's followers apply them (jetstream_cluster.go
// applyStreamEntries / applyStreamMsgOp, stream.go processJetStreamMsg):
// - a message is stored at the stream's next sequence when the entry's last sequence (lseq)
//   minus the failed count (clfs) is the store's last; one below is already held (skipped, as on
//   a replay); lseq 0 is only the first message; an empty message is a skipped sequence; a
//   flow-control reply is not stored;
// - purge (bounded by the leader's stamped last sequence, as nats-server does on replay), message
//   delete/erase, delete range (skipped sequences);
// - a leader's snapshot (the binary stream state): the first sequence and deleted sequences are
//   taken over, and when the snapshot is ahead of the store the missing messages are fetched
//   from the stream leader over `$JSC.SYNC` (a receiver only: this server never leads, so never
//   serves a catch-up), applying the committed entries only after it.
// - failed proposals (clfs) counted as nats-server's followers count them at apply time: a
//   Nats-Expected-Last-Msg-Id that is not the last stored message's id, a rejected atomic batch
//   (nrg_stream_batch.ts); rollups applied. Discard-new limits and max_msg_size refuse nothing
//   here: the leader checked them, and a clustered nats-server's store takes the message with
//   discardNewCheck off (only the per-subject limit removes the subject's oldest), so that
//   members cannot drift; a mirror's copies are checked by no one;
// - a sequence gap it cannot explain (an entry ahead of the store), or a leader's snapshot it
//   cannot read, resets the group's log with the store kept, as nats-server's
//   resetClusteredState does: the leader then catches the member up by its log, or by its
//   snapshot and `$JSC.SYNC`; a catch-up that fails is asked for again. Only a write error
//   (storage failing, an entry that does not decode) stops the applying, as nats-server stops
//   such a stream; the RAFT member still stores and acknowledges.
// A memory stream's replica is held in memory and its group's log started over at each start
// (nats-server keeps a memory stream's RAFT log in memory).
// The groups of consumers placed on this server are joined the same way, their entries applied
// to a copy of the consumer's state (nrg_consumer_replica.ts). An interest stream's replica does
// not store a message no consumer held here wants (nats-server's noInterest: the sequence is
// used); acknowledged messages leave through the stream group's deletes, proposed by its leader.
import fs from "node:fs";
import path from "node:path";
import { fsyncDir, io } from "../storage/file_io.js";
import { randomBytes } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import type { NrgAppendEntry } from "./nrg_wire.js";
import { NrgEntryType } from "./nrg_wire.js";
import type { NrgApplier } from "./nrg_peer.js";
import { NrgGroupMember, plainGroupName } from "./nrg_group_member.js";
import type { NrgMetaConsumer, NrgMetaState, NrgMetaStream } from "./nrg_meta_state.js";
import type { NrgRaftGroup } from "../jetstream/nrg_entries.js";
import { decodeNrgStreamEntry, decodeNrgStreamMsg, encodeNrgStreamState, NrgEntryOp, type NrgStreamEntry, type NrgStreamMsg, type NrgStreamState } from "../jetstream/nrg_entries.js";
import { NrgBatchBuffer } from "./nrg_stream_batch.js";
import { consumerWants, NrgConsumerReplica } from "./nrg_consumer_replica.js";
import { nrgLeadRefusal, NrgStreamLeader } from "./nrg_stream_leader.js";
import { consumerReplicas, desiredOf, runningRetention } from "./nrg_meta_desired.js";
import { nextMigrationStep } from "./nrg_stream_migration.js";
import { LOST_QUORUM_MS } from "./nrg_campaign.js";
import { stepDownTarget, type NrgNodeInfo } from "./nrg_stepdown_placement.js";
import { NrgLeaderApi, type NrgLeaderServer } from "./nrg_stream_leader_api.js";
import { NrgCatchupServer } from "./nrg_stream_catchup.js";
import { nrgConsumerLeadRefusal, NrgConsumerLeader, nrgHoldsSingleConsumer } from "./nrg_consumer_leader.js";
import { NrgDirectConsumers } from "./nrg_direct_consumers.js";
import { NrgDirectGets, type NrgDirectGetOptions } from "./nrg_direct_get.js";
import { NrgSourcingStream } from "./nrg_stream_sourcing.js";
import { FileStore } from "../storage/filestore.js";
import { sweepRetention } from "../jetstream/retention_sweep.js";
import { keepPositionsBeforePurge } from "../jetstream/source_positions.js";
import { SubjectTransform } from "../server/subject_transform.js";
import { Republisher, type RepublishConfig } from "../jetstream/republish.js";
import type { StreamSourceJson } from "../jetstream/stream_config.js";
import { MemStore } from "../storage/memstore.js";
import { s2DecodeBlock } from "../storage/s2.js";
import { isStoreError, type StreamStore, type StreamStoreConfig } from "../storage/store.js";
import { getHeader, setHeader } from "../protocol/headers.js";
import { HDR_EXPECTED_LAST_MSG_ID, HDR_MSG_ID, HDR_ROLLUP, HDR_SCHEDULE_NEXT, HDR_SCHEDULER, HDR_TTL, isDeleteMarker, parseMessageTTL } from "../jetstream/msg_headers.js";

/** nats-server's catch-up timings (jetstream_cluster.go streamCatchupStartInterval/ActivityInterval), and its retries. */
const CATCHUP_START_MS = 5_000;
const CATCHUP_ACTIVITY_MS = 10_000;
const CATCHUP_RETRIES = 3;
const CATCHUP_RETRY_WAIT_MS = 2_000;
/** After the retries, the pause before a catch-up is asked for again from the start. */
const CATCHUP_RESTART_MS = 10_000;

/** The store limits of a nats-server StreamConfig (JSON). */
export function nrgStoreConfig(config: Record<string, unknown> & { name: string }): Partial<StreamStoreConfig> {
  const num = (k: string, dflt: number): number => (typeof config[k] === "number" && Number.isFinite(config[k]) ? (config[k] as number) : dflt);
  return {
    name: config.name,
    maxMsgs: num("max_msgs", -1),
    maxBytes: num("max_bytes", -1),
    // nats-server's durations are nanoseconds.
    maxAgeMs: Math.floor(num("max_age", 0) / 1e6),
    maxMsgsPerSubject: num("max_msgs_per_subject", -1),
    maxMsgSize: num("max_msg_size", -1),
    discard: config.discard === "new" ? "new" : "old",
    discardNewPerSubject: config.discard_new_per_subject === true,
    firstSeq: num("first_seq", 0),
    compression: config.compression === "s2" ? "s2" : "none",
  };
}

/** A message's TTL in seconds as its store keeps it (nats-server's getMessageTTL; an invalid one: none). */
function messageTTL(hdr: Buffer): number | undefined {
  if (hdr.length === 0) return undefined;
  const v = getHeader(hdr, HDR_TTL);
  if (v === undefined) return undefined;
  const ttl = parseMessageTTL(v);
  return ttl === "invalid" || ttl === 0 ? undefined : ttl;
}

/** A control message (flow control, idle heartbeat): status 100 in the header's first line. */
function isControlHeader(hdr: Buffer): boolean {
  return hdr.length >= 12 && hdr.toString("latin1", 0, 12) === "NATS/1.0 100";
}

interface SyncCatchup {
  inbox: string;
  sub: Subscription;
  target: number;
  index: number;
  retries: number;
  sentAt: number;
  activeAt: number;
  timer: NodeJS.Timeout;
}

/** Our own compaction snapshot's marker (a leader's is the binary stream state, magic 42). */
const OWN_SNAPSHOT = Buffer.from("tsnats-nrg-clfs:");

/** The failed count of our own compaction snapshot; undefined for a leader's snapshot. */
function ownSnapshotFailed(data: Buffer): number | undefined {
  if (data.length <= OWN_SNAPSHOT.length || !data.subarray(0, OWN_SNAPSHOT.length).equals(OWN_SNAPSHOT)) return undefined;
  const n = Number(data.toString("latin1", OWN_SNAPSHOT.length));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Store errors nats-server counts as a failed proposal (clfs) instead of stopping the stream (a store told the limits were checked throws none of them). */
const FAILED_PROPOSAL_ERRORS = new Set(["ErrMaxMsgs", "ErrMaxBytes", "ErrMaxMsgsPerSubject", "ErrMaxMsgSize"]);

/** One stream replica: the applier of its group's committed entries into its store. */
/** How often a leader completing a desired state alone asks the meta leader for its next step (runStreamMigration's cycle). */
const RECONCILE_ASK_MS = 1_000;

export class NrgStreamReplica implements NrgApplier {
  readonly store: StreamStore;
  /** Failed proposals as nats-server counts them (see the header). */
  clfs = 0;
  /** A write error (storage failed, or an entry no server could decode): nats-server stops such a stream too. */
  halted: string | undefined;
  counters = { msgs: 0, skipped: 0, noInterest: 0, failed: 0, rollups: 0, purges: 0, deletes: 0, deleteRanges: 0, batches: 0, batchesRejected: 0, snapshots: 0, catchups: 0, catchupMsgs: 0, catchupRestarts: 0, resets: 0 };
  /** Why the log was last reset (a gap, a snapshot it could not read). */
  lastReset: string | undefined;
  private catchup: SyncCatchup | undefined;
  /** Called once a catch-up finished (the member applies the entries held back meanwhile). */
  onResume: (() => void) | undefined;
  /** Entries at or below this index were in the log when it was opened: replays. */
  recoveredThrough = 0;
  /** The last index applied, and the last one the store has made durable (fsynced). */
  private appliedIndex = 0;
  private durable = 0;
  private durableAsked = false;
  /** Bumped by a reset: a durability report asked for before it names the old log's indexes. */
  private generation = 0;
  /** The index being applied, and the last one applied before the applying halted. */
  private applyingIndex = 0;
  private haltedAfter = 0;
  /** Set while applying: the log is to be reset (asked by the member after the applying run). */
  private resetReason: string | undefined;
  /** The Nats-Msg-Id of the last message stored ("" none): Nats-Expected-Last-Msg-Id is checked against it. */
  private lmsgId = "";
  private readonly batch = new NrgBatchBuffer();
  /** The failed count after each entry that changed it, since the one the last snapshot stands for (`failedBase`). */
  private failedLog: [number, number][] = [];
  private failedBase = 0;
  /** Whether a consumer held on this server wants a subject (an interest stream stores nothing else). */
  interest: ((subject: string) => boolean) | undefined;
  /**
   * The leader half (nrg_stream_leader.ts) hears each message applied: stored at `seq`, or
   * refused at apply time (`error`: the text nats-server's leader answers the publisher with).
   */
  onApplied: ((m: NrgStreamMsg, outcome: { seq: number } | { error: "lastMsgId"; lastMsgId: string } | { error: "store"; text: string }) => void) | undefined;
  /** The leader half hears each purge and message delete applied (their requests are answered by the leader). */
  onApiApplied: ((op: { purge: Record<string, unknown>; purged: number } | { delete: Record<string, unknown>; removed: boolean }) => void) | undefined;
  /** Told after each applied entry and each catch-up (a consumer leader on this server delivers what arrived). */
  readonly appliedWatchers = new Set<() => void>();

  constructor(
    private readonly sys: Account,
    /** The stream's assignment as last committed (replaced on each update). */
    public stream: NrgMetaStream,
    readonly peerId: string,
    dir: string,
    private readonly log: (msg: string) => void,
  ) {
    const config = nrgStoreConfig(stream.config);
    const onExpire = (seq: number, subject: string, hdr: Buffer | undefined): boolean => this.keepExpired(seq, subject, hdr);
    // A memory stream is held in memory, as nats-server does (its group's log is started over with it).
    this.store = stream.config.storage === "memory" ? new MemStore(config, { onExpire }) : new FileStore({ dir, config, metadata: { nrg_peer: true, config: stream.config }, onExpire });
  }

  /**
   * With subject delete markers (subject_delete_marker_ttl), the leader places a marker when the
   * last message of a subject expires (its rollup removes the message on every member) and
   * proposes the removal of every other expired message; a member keeps what the leader removes
   * (nats-server's stores hand expiry to the stream then: only its leader acts).
   */
  private keepExpired(seq: number, subject: string, hdr: Buffer | undefined): boolean {
    const ttl = this.stream.config.subject_delete_marker_ttl;
    if (typeof ttl !== "number" || ttl <= 0) return false;
    if (isDeleteMarker((k) => getHeader(hdr, k))) return false;
    return this.expiryLeader === undefined ? true : this.expiryLeader.lastExpired(seq, subject);
  }

  /** While this member leads with subject delete markers: it places the markers and proposes the removals. */
  expiryLeader: { lastExpired(seq: number, subject: string): boolean } | undefined;
  /** While this member leads (its leader half sets it): the account its stored messages are republished in (the stream's `republish`). */
  republishIn: Account | undefined;
  private republisherOf: { from: unknown; rp: Republisher | undefined } | undefined;

  get catchingUp(): boolean {
    return this.catchup !== undefined;
  }

  holding(): boolean {
    return this.catchup !== undefined || this.resetReason !== undefined;
  }

  /** The store's state as a leader's snapshot carries it (nats-server's binary stream state, the failed count included). */
  stateSnapshot(): Buffer {
    const st = this.store.state(true);
    return encodeNrgStreamState({ messages: st.msgs, bytes: st.bytes, firstSequence: st.firstSeq, lastSequence: st.lastSeq, failed: this.clfs, deleted: st.deleted ?? [] });
  }

  /** The Nats-Msg-Id of the last message stored ("" none). */
  get lastMsgId(): string {
    return this.lmsgId;
  }

  resetWanted(): string | undefined {
    return this.resetReason;
  }

  private halt(why: string): void {
    if (this.halted !== undefined) return;
    this.halted = why;
    this.haltedAfter = this.applyingIndex - 1;
    this.log(`NRG stream replica '${this.stream.account} > ${this.stream.config.name}' stops applying: ${why}`);
  }

  /** The store and the log disagree: start the log over and be caught up by the leader (the store stays). */
  private wantReset(why: string): void {
    if (this.resetReason !== undefined) return;
    this.resetReason = why;
    this.lastReset = why;
    this.counters.resets++;
    this.log(`NRG stream replica '${this.stream.account} > ${this.stream.config.name}' resets its log to be caught up again: ${why}`);
  }

  /** Applying stops for this run: halted, or a reset asked for. */
  private get stopped(): boolean {
    return this.halted !== undefined || this.resetReason !== undefined;
  }

  /**
   * Halted, the entries it did not apply stay in the WAL (a restart may still need them); an
   * atomic batch not yet committed keeps its entries too (applied only whole, after a restart as well).
   */
  durableIndex(): number {
    let upTo = this.halted !== undefined ? Math.min(this.durable, this.haltedAfter) : this.durable;
    if (this.batch.open && this.batch.startIndex > 0) upTo = Math.min(upTo, this.batch.startIndex - 1);
    return upTo;
  }

  /** Ask the store once at a time to report when what it holds is fsynced. */
  private askDurable(): void {
    if (this.durableAsked || this.store.isClosed) return;
    this.durableAsked = true;
    const upTo = this.appliedIndex;
    const generation = this.generation;
    this.store.whenDurable((err) => {
      this.durableAsked = false;
      if (generation !== this.generation) return;
      if (err !== null) {
        this.halt(`store not durable: ${err.message}`);
        return;
      }
      this.durable = Math.max(this.durable, upTo);
      if (this.appliedIndex > this.durable) this.askDurable();
    });
  }

  apply(index: number, ae: NrgAppendEntry): void {
    this.applyingIndex = index;
    try {
      this.applyEntries(index, ae);
    } catch (err) {
      // An entry that does not decode: nats-server stops the stream on it too (setWriteErr).
      this.halt(`entry ${index}: ${(err as Error).message}`);
    } finally {
      // Asked after the entry's effects are written: the store's fsync then covers them.
      this.appliedIndex = index;
      this.askDurable();
      for (const w of this.appliedWatchers) w();
    }
  }

  private applyEntries(index: number, ae: NrgAppendEntry): void {
    for (const e of ae.entries) {
      if (this.stopped) return;
      if (e.type !== NrgEntryType.Normal) {
        // Any other entry abandons a batch that has not committed.
        if (this.batch.open) this.rejectBatch(this.batch.abandon());
        continue;
      }
      const entry = decodeNrgStreamEntry(e);
      if (entry.op !== "batchMsg" && this.batch.open) this.rejectBatch(this.batch.abandon());
      switch (entry.op) {
        case "msg":
          this.applyMsg(entry.msg);
          break;
        case "batchMsg":
          this.applyBatchEntry(index, entry);
          break;
        case "purge": {
          const req = entry.purge.request ?? {};
          const filter = typeof req.filter === "string" ? req.filter : "";
          let seq = typeof req.seq === "number" ? req.seq : 0;
          const keep = typeof req.keep === "number" ? req.keep : 0;
          // Bounded by the leader's stamped last sequence, so a replay never removes later messages.
          if (seq === 0) {
            if (keep !== 0 && index <= this.recoveredThrough) break;
            if (keep === 0) seq = entry.purge.last_seq + 1;
          }
          this.keepSourcePositions();
          const purged = this.store.purgeEx(filter, seq, keep);
          this.counters.purges++;
          this.onApiApplied?.({ purge: entry.purge, purged });
          break;
        }
        case "deleteMsg": {
          const removed = entry.delete.no_erase === true ? this.store.removeMsg(entry.delete.seq) : this.store.eraseMsg(entry.delete.seq);
          this.counters.deletes++;
          this.onApiApplied?.({ delete: entry.delete, removed });
          break;
        }
        case "deleteRange":
          this.skipRange(entry.first, entry.num);
          break;
        default:
          break;
      }
    }
  }

  private rejectBatch(failed: number): void {
    if (failed === 0) return;
    this.addFailed(failed);
    this.counters.batchesRejected++;
  }

  private applyBatchEntry(index: number, entry: Extract<NrgStreamEntry, { op: "batchMsg" }>): void {
    // Replayed after a restart from inside a batch already applied: its messages are held.
    if (!this.batch.open && entry.batchSequence > 1 && index <= this.recoveredThrough && entry.msg.lastSequence - this.clfs < this.store.lastSequence()) {
      this.counters.skipped++;
      return;
    }
    const step = this.batch.add(index, entry);
    this.rejectBatch(step.failed);
    if (step.commit === undefined) return;
    for (const m of step.commit) {
      this.applyMsg(m);
      if (this.stopped) return;
    }
    this.counters.batches++;
  }

  private skipRange(first: number, num: number): void {
    const last = this.store.lastSequence();
    const end = first + num - 1;
    if (num === 0 || end <= last) return;
    const from = Math.max(first, last + 1);
    if (from !== last + 1) {
      this.wantReset(`delete range from ${first} leaves a gap after the store's last ${last}`);
      return;
    }
    this.store.skipMsgs(from, end - from + 1);
    this.counters.deleteRanges++;
  }

  private applyMsg(m: NrgStreamMsg): void {
    // Flow-control replies go through the group; nothing is stored for them.
    if (m.data.length === 0 && m.header.length > 0 && m.reply !== "" && isControlHeader(m.header)) return;
    const last = this.store.lastSequence();
    const lseq = m.lastSequence;
    if (lseq - this.clfs < last) {
      this.counters.skipped++;
      return;
    }
    if (lseq === 0 && last !== 0) return;
    // A skipped sequence takes the next one, as nats-server's SkipMsg does.
    if (m.subject === "" && m.timestamp === 0n && m.data.length === 0 && m.header.length === 0) {
      this.store.skipMsg(last + 1);
      this.counters.msgs++;
      return;
    }
    if (lseq !== last + this.clfs) {
      // A store without messages takes the leader's starting point (nats-server compacts to
      // lseq+1 and retries); anything else is a gap only the leader can fill.
      if (this.store.state().msgs === 0) this.store.compact(lseq + 1 - this.clfs);
      else {
        this.wantReset(`message after sequence ${lseq} (failed ${this.clfs}) does not follow the store's last ${last}`);
        return;
      }
    }
    let hdr = m.header.length > 0 ? m.header : undefined;
    const expectedLastMsgId = getHeader(hdr, HDR_EXPECTED_LAST_MSG_ID);
    // Checked by every member at apply time (nats-server's processJetStreamMsg), the failure counted.
    if (expectedLastMsgId !== undefined && expectedLastMsgId !== "" && expectedLastMsgId !== this.lmsgId) {
      this.addFailed(1);
      this.counters.failed++;
      this.onApplied?.(m, { error: "lastMsgId", lastMsgId: this.lmsgId });
      return;
    }
    // With delete markers a message lives at least as long as a marker would (nats-server raises its Nats-TTL when storing).
    let ttl = messageTTL(m.header);
    const markerTtl = typeof this.stream.config.subject_delete_marker_ttl === "number" ? Math.trunc(this.stream.config.subject_delete_marker_ttl / 1e9) : 0;
    if (ttl !== undefined && ttl > 0 && markerTtl > 0 && this.stream.config.max_msgs_per_subject !== 1 && ttl < markerTtl) {
      ttl = markerTtl;
      hdr = setHeader(hdr, HDR_TTL, String(ttl));
    }
    const seq = this.store.lastSequence() + 1;
    // The stream's subject_transform: every member applies it when it stores (nats-server's
    // processJetStreamMsg), the entry carries the subject as published.
    const subject = this.storedSubject(m.subject);
    // The retention it runs at: a change waiting in desired state is not in force yet (atDesiredOrigin).
    if (runningRetention(this.stream.config, this.stream.group) === "interest" && this.interest?.(subject) !== true) {
      // Nobody here wants it: the sequence is used, the message not stored (nats-server's SkipMsgNoInterest).
      this.store.skipMsg(seq);
      this.lmsgId = getHeader(hdr, HDR_MSG_ID) ?? "";
      this.counters.noInterest++;
      this.applyRollup(subject, hdr, 0, m.sourced);
      this.onApplied?.(m, { seq });
      return;
    }
    // Only the leader republishes, once stored, with the subject's sequence before this message
    // (nats-server's processJetStreamMsg: `tsubj != "" && isLeader`).
    const rp = this.republishIn !== undefined ? this.republisher() : undefined;
    const prevOnSubject = rp?.matches(subject) === true ? this.store.filteredState(0, subject).last : 0;
    try {
      this.store.storeRawMsg(subject, hdr, m.data, seq, m.timestamp, ttl, true);
    } catch (err) {
      if (isStoreError(err) && FAILED_PROPOSAL_ERRORS.has(err.code)) {
        this.addFailed(1);
        this.counters.failed++;
        this.onApplied?.(m, { error: "store", text: err.message });
        return;
      }
      this.halt(`storing sequence ${seq}: ${(err as Error).message}`);
      return;
    }
    this.lmsgId = getHeader(hdr, HDR_MSG_ID) ?? "";
    this.counters.msgs++;
    if (rp !== undefined && this.republishIn !== undefined && rp.matches(subject)) rp.publish(this.republishIn, this.stream.config.name, subject, hdr, m.data, seq, m.timestamp, prevOnSubject);
    this.applyRollup(subject, hdr, 1, m.sourced);
    this.onApplied?.(m, { seq });
  }

  /** The stream's republisher as its config says now (undefined: no `republish`). */
  private republisher(): Republisher | undefined {
    const cfg = this.stream.config.republish;
    let of = this.republisherOf;
    if (of?.from !== cfg || of === undefined) of = this.republisherOf = { from: cfg, rp: Republisher.of(cfg as RepublishConfig | null | undefined) };
    return of.rp;
  }

  private transformOf: { from: unknown; tr: SubjectTransform | undefined } | undefined;
  /**
   * The subject a message published (or sourced) on is stored under: the stream's
   * subject_transform applied, when it maps the subject (nats-server: no filtering, a subject
   * outside its source is stored as is).
   */
  storedSubject(subject: string): string {
    const cfg = this.stream.config.subject_transform;
    let of = this.transformOf;
    if (of?.from !== cfg || of === undefined) {
      const t = cfg as { src?: unknown; dest?: unknown } | null | undefined;
      let tr: SubjectTransform | undefined;
      try {
        tr = t !== null && t !== undefined && typeof t.dest === "string" ? SubjectTransform.parse(typeof t.src === "string" && t.src !== "" ? t.src : ">", t.dest) : undefined;
      } catch {
        tr = undefined;
      }
      of = this.transformOf = { from: cfg, tr };
    }
    const tr = of.tr;
    return tr === undefined ? subject : (tr.apply(subject) ?? subject);
  }

  /**
   * A rollup (Nats-Rollup: sub or all) or a schedule purge the stored message asks for, as
   * nats-server's followers apply it; a sourced message's (a subject delete marker) whatever the
   * stream allows.
   */
  private applyRollup(subject: string, hdr: Buffer | undefined, keep: number, sourced: boolean): void {
    if (hdr === undefined || (!sourced && (this.stream.config.allow_rollup_hdrs !== true || this.stream.config.deny_purge === true))) return;
    const rollup = getHeader(hdr, HDR_ROLLUP)?.toLowerCase();
    if (rollup === "sub") this.store.purgeEx(subject, 0, keep);
    else if (rollup === "all") this.store.purgeEx("", 0, keep);
    if (rollup === "sub" || rollup === "all") this.counters.rollups++;
    const scheduler = getHeader(hdr, HDR_SCHEDULER);
    if (getHeader(hdr, HDR_SCHEDULE_NEXT) === "purge" && scheduler !== undefined && scheduler !== "") this.store.purgeEx(scheduler, 0, 0);
  }

  /** A snapshot: the leader's (binary stream state), or our own compaction's (the failed count: the store holds the rest). */
  install(data: Buffer, index: number): void {
    this.applyingIndex = index + 1;
    this.batch.clear();
    // What a snapshot covers was durable when it was taken (ours), or is fetched again (a leader's).
    this.appliedIndex = Math.max(this.appliedIndex, index);
    this.durable = Math.max(this.durable, index);
    if (data.length === 0) return;
    const own = ownSnapshotFailed(data);
    if (own !== undefined) {
      // Our own compaction's: the store holds the messages, the snapshot the failed count.
      this.setFailed(own);
      return;
    }
    this.counters.snapshots++;
    const entry = decodeNrgStreamEntry({ type: NrgEntryType.Snapshot, data });
    const snap = entry.op === "snapshot" ? entry.state : undefined;
    if (snap === undefined) {
      // Started over, the leader sends its snapshot again (or its log).
      this.wantReset("a stream snapshot that is not the binary stream state");
      return;
    }
    this.keepSourcePositions(snap.sources);
    this.applySnapshotDeletes(snap);
    this.setFailed(snap.failed);
    if (this.store.lastSequence() < snap.lastSequence) this.startCatchup(snap.lastSequence, index);
  }

  /**
   * Before a purge or a leader's snapshot removes the copies whose Nats-Stream-Source headers
   * tell how far each source got: those positions are kept in the store's directory (with the
   * snapshot's own, nats-server's SourcesState, where further), so that this member, leading
   * later, takes each source on from there, as a nats-server member does from its store's
   * SourcesState, instead of from the stream's last time (source_positions.ts).
   */
  private keepSourcePositions(fromLeader: { name: string; sequence: number; ident: string }[] = []): void {
    const sources = Array.isArray(this.stream.config.sources) ? (this.stream.config.sources as StreamSourceJson[]) : [];
    const err = keepPositionsBeforePurge(this.store, sources, fromLeader);
    if (err !== undefined) this.log(`NRG stream replica '${this.stream.account} > ${this.stream.config.name}' cannot keep its source positions: ${err.message}`);
  }

  private applySnapshotDeletes(snap: NrgStreamState): void {
    const state = this.store.state();
    if (snap.firstSequence > state.firstSeq) this.store.compact(snap.firstSequence);
    const first = Math.max(state.firstSeq, snap.firstSequence);
    const last = this.store.lastSequence();
    for (const block of snap.deleted) {
      if (block.kind === "set") {
        for (const s of block.sequences) if (s >= first && s <= last) this.store.removeMsg(s);
        continue;
      }
      // Only the sequences this store holds are walked.
      const end = Math.min(block.first + block.count - 1, last);
      for (let s = Math.max(block.first, first); s <= end; s++) this.store.removeMsg(s);
    }
  }

  /** The log was started over (by us, or by the member): the store stays, what came from the old log goes. */
  reset(): void {
    this.resetReason = undefined;
    this.stopCatchup();
    this.batch.clear();
    this.setFailed(0);
    this.lmsgId = "";
    this.generation++;
    this.appliedIndex = 0;
    this.durable = 0;
    this.applyingIndex = 0;
    this.recoveredThrough = 0;
  }

  /**
   * Our compaction's snapshot at `index`: the store is durable itself (the WAL is compacted only
   * up to what it has fsynced, durableIndex), so only the failed count as it stood after that
   * entry is kept; the entries after it are replayed at a restart and count theirs again.
   */
  snapshot(index: number): Buffer {
    let failed = this.failedBase;
    while (this.failedLog.length > 0 && this.failedLog[0][0] <= index) failed = this.failedBase = (this.failedLog.shift() as [number, number])[1];
    return Buffer.concat([OWN_SNAPSHOT, Buffer.from(String(failed))]);
  }

  /** Failed proposals counted while applying the current entry. */
  private addFailed(n: number): void {
    if (n === 0) return;
    this.clfs += n;
    this.failedLog.push([this.applyingIndex, this.clfs]);
  }

  /** The failed count taken from a snapshot (or started over): nothing before it is to be replayed. */
  private setFailed(n: number): void {
    this.clfs = n;
    this.failedBase = n;
    this.failedLog = [];
  }

  // ---- catch-up over $JSC.SYNC (receiver) ----

  private startCatchup(target: number, index: number): void {
    this.stopCatchup();
    const inbox = `$JSC.R.${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`;
    const sub = this.sys.subscribeInternal(inbox, (_s, reply, _h, payload) => this.onCatchupMsg(Buffer.from(payload), reply), undefined, "nrg-stream-catchup");
    const now = Date.now();
    this.catchup = { inbox, sub, target, index, retries: 0, sentAt: now, activeAt: now, timer: setInterval(() => this.checkCatchup(), 1000) };
    this.catchup.timer.unref?.();
    this.counters.catchups++;
    this.requestSync();
  }

  private requestSync(): void {
    const c = this.catchup;
    if (c === undefined) return;
    const sync = this.stream.sync;
    if (sync === "" || !sync.startsWith("$JSC.SYNC.")) {
      this.restartLater(`no catch-up subject in the assignment ("${sync}")`);
      return;
    }
    c.sentAt = Date.now();
    c.activeAt = c.sentAt;
    const req = { peer: this.peerId, first_seq: this.store.lastSequence() + 1, last_seq: c.target, delete_ranges: true, min_applied: c.index };
    this.sys.publish(sync, c.inbox, undefined, Buffer.from(JSON.stringify(req)));
  }

  private retry(why: string): void {
    const c = this.catchup;
    if (c === undefined) return;
    if (++c.retries > CATCHUP_RETRIES) {
      this.restartLater(why);
      return;
    }
    this.log(`NRG stream replica '${this.stream.account} > ${this.stream.config.name}' catch-up retry: ${why}`);
    // Not sooner than nats-server's minimum wait after the request.
    c.activeAt = Date.now() + CATCHUP_RETRY_WAIT_MS;
    setTimeout(() => {
      if (this.catchup === c) this.requestSync();
    }, Math.max(0, CATCHUP_RETRY_WAIT_MS - (Date.now() - c.sentAt))).unref?.();
  }

  /**
   * Too many retries: nats-server's follower replays the leader's snapshot and asks again
   * (DrainAndReplaySnapshot); here the catch-up starts over after a pause, the applying held meanwhile.
   */
  private restartLater(why: string): void {
    const c = this.catchup;
    if (c === undefined) return;
    this.counters.catchupRestarts++;
    this.log(`NRG stream replica '${this.stream.account} > ${this.stream.config.name}' catch-up failed (${why}); asking again in ${CATCHUP_RESTART_MS} ms`);
    c.retries = 0;
    c.activeAt = Date.now() + CATCHUP_RESTART_MS;
    setTimeout(() => {
      if (this.catchup === c) this.requestSync();
    }, CATCHUP_RESTART_MS).unref?.();
  }

  private checkCatchup(): void {
    const c = this.catchup;
    if (c === undefined) return;
    const quiet = Date.now() - c.activeAt;
    if (quiet > (c.activeAt === c.sentAt ? CATCHUP_START_MS : CATCHUP_ACTIVITY_MS)) this.retry("stalled");
  }

  private onCatchupMsg(msg: Buffer, reply: string): void {
    const c = this.catchup;
    if (c === undefined) return;
    c.activeAt = Date.now();
    if (msg.length === 0) {
      // The leader's end of the catch-up.
      if (this.store.lastSequence() >= c.target) this.endCatchup();
      else this.retry(`ended at ${this.store.lastSequence()} before ${c.target}`);
      return;
    }
    try {
      this.storeCatchupMsg(msg);
    } catch (err) {
      if (reply !== "") this.sys.publish(reply, "", undefined, Buffer.from((err as Error).message));
      this.retry((err as Error).message);
      return;
    }
    this.counters.catchupMsgs++;
    if (reply !== "") this.sys.publish(reply, "", undefined, Buffer.alloc(0));
  }

  private storeCatchupMsg(msg: Buffer): void {
    const op = msg[0];
    const body = msg.subarray(1);
    if (op === NrgEntryOp.DeleteRange) {
      const entry = decodeNrgStreamEntry({ type: NrgEntryType.Normal, data: msg });
      if (entry.op !== "deleteRange") throw new Error("bad delete range");
      if (entry.first !== this.store.lastSequence() + 1) throw new Error(`delete range at ${entry.first} after ${this.store.lastSequence()}`);
      if (entry.num > 0) this.store.skipMsgs(entry.first, entry.num);
      return;
    }
    let m: NrgStreamMsg;
    if (op === NrgEntryOp.StreamMsg) m = decodeNrgStreamMsg(body);
    else if (op === NrgEntryOp.CompressedStreamMsg) m = decodeNrgStreamMsg(s2DecodeBlock(body, 64 << 20));
    else throw new Error(`catch-up message op ${op}`);
    // In a catch-up the sequence field is the message's own sequence.
    const seq = m.lastSequence;
    if (m.subject === "" && m.timestamp === 0n) this.store.skipMsg(seq);
    else this.store.storeRawMsg(m.subject, m.header.length > 0 ? m.header : undefined, m.data, seq, m.timestamp, messageTTL(m.header), true);
  }

  private endCatchup(): void {
    this.stopCatchup();
    this.store.flush();
    this.log(`NRG stream replica '${this.stream.account} > ${this.stream.config.name}' caught up to ${this.store.lastSequence()}`);
    for (const w of this.appliedWatchers) w();
    this.onResume?.();
  }

  private stopCatchup(): void {
    const c = this.catchup;
    if (c === undefined) return;
    clearInterval(c.timer);
    this.sys.unsubscribeInternal(c.sub);
    this.catchup = undefined;
  }

  close(): void {
    this.stopCatchup();
    this.store.stop();
  }

  json(): Record<string, unknown> {
    const st = this.store.state();
    return {
      storage: this.store.type,
      messages: st.msgs,
      bytes: st.bytes,
      first_seq: st.firstSeq,
      last_seq: st.lastSeq,
      ...(this.clfs !== 0 ? { clfs: this.clfs } : {}),
      counters: { ...this.counters },
      catching_up: this.catchingUp,
      ...(this.lastReset !== undefined ? { last_reset: this.lastReset } : {}),
      ...(this.halted !== undefined ? { halted: this.halted } : {}),
    };
  }
}

interface RunningGroup {
  kind: "stream" | "consumer";
  account: string;
  stream: string;
  consumer?: string;
  member: NrgGroupMember;
  replica?: NrgStreamReplica;
  consumerReplica?: NrgConsumerReplica;
  configJson?: string;
  /** With `nrg_peer_lead`: the stream leader's half while this member leads the group, and its API answers. */
  leader?: NrgStreamLeader;
  leaderApi?: NrgLeaderApi;
  catchupServer?: NrgCatchupServer;
  /** While leading a group whose desired state this member drives: its next step, each second (runStreamMigration's cycle). */
  reconcileTimer?: NodeJS.Timeout;
  /** What that leader did last toward the desired state (for /jsz). */
  migration?: string;
  /** A committed update's reply this member answers once it leads (its group had no leader yet). */
  pendingUpdateReply?: string;
  /** With `nrg_peer_lead`: the consumer leader's half while this member leads the consumer's group. */
  consumerLeader?: NrgConsumerLeader;
  /** With `nrg_peer_lead`: the Direct consumers (of mirrors and sources) created while this member led the stream. */
  direct?: NrgDirectConsumers;
  /** With `nrg_peer_lead`: a mirror's or sources' reading of its origins while this member leads the stream. */
  sourcing?: NrgSourcingStream;
  /** A stream replica's answers to direct gets (allow_direct, mirror_direct), as every nats-server member's. */
  directGets?: NrgDirectGets;
}

/** `nrg_peer_lead`: what the leader half needs from the server. */
export interface NrgLeadOptions {
  account(name: string): Account;
  domain: string | undefined;
  serverName: string;
  clusterName(): string;
  maxPayload: number;
  /** A peer id's server name (the id when unknown). */
  nameOf(id: string): string;
  /** What is known of a server (name, cluster, tags) for a STEPDOWN's placement. */
  nodeInfo(id: string): NrgNodeInfo | undefined;
  /** The meta group's peers (a group's member out of it is removed by a leader driving a desired state). */
  metaPeers(): string[];
}

/** The stream and consumer groups placed on this server, following the meta state. */
export class NrgStreamPeers {
  private readonly groups = new Map<string, RunningGroup>();
  /** Consumer assignments whose create this server answered as their leader. */
  private readonly answeredCreates = new WeakSet<NrgMetaConsumer | NrgMetaStream>();
  private closed = false;
  private meta: NrgMetaState | undefined;

  constructor(
    private readonly sys: Account,
    private readonly peerId: string,
    private readonly baseDir: string,
    private readonly log: { info(m: string): void; warn(m: string): void; error(m: string): void },
    /** `nrg_peer_campaign`: the stream groups' members campaign (nrg_campaign.ts). */
    private readonly campaign = false,
    /** `nrg_peer_lead`: elected, they stay leader of the streams whose features they run (nrg_stream_leader.ts). */
    private readonly lead?: NrgLeadOptions,
    /** The stream replicas answer direct gets (nrg_direct_get.ts). */
    private readonly directGets?: NrgDirectGetOptions,
  ) {}

  /** A committed stream or consumer removal: its group's data goes with it. */
  removed(group: string, answer?: { reply: string; kind: "stream" | "consumer" }): void {
    const g = this.groups.get(group);
    // A delete request is answered by the group's leader (nats-server's processClusterDeleteStream / Consumer).
    if (g !== undefined && answer !== undefined && g.member.peer.role === "leader") {
      this.sys.publish(answer.reply, "", undefined, Buffer.from(JSON.stringify({ type: `io.nats.jetstream.api.v1.${answer.kind}_delete_response`, success: true })));
    }
    if (g !== undefined) this.stopGroup(group, g);
    // Never the meta group's own directory.
    if (plainGroupName(group) && group !== "_meta_") fs.rmSync(path.join(this.baseDir, group), { recursive: true, force: true });
  }

  /**
   * A committed stream update: the stream's leader answers it (processClusterUpdateStream), after
   * the meta state's change reached the replica (its limits, the leader's subjects).
   */
  updated(account: string, stream: string, reply: string, consumer?: string): void {
    setImmediate(() => {
      for (const g of this.groups.values()) {
        if (g.account !== account || g.stream !== stream) continue;
        if (consumer === undefined && g.kind === "stream") {
          // A group this update gave this server alone (an R1 it held, renamed for its scale-up)
          // has no leader yet: it answers once elected.
          if (g.leaderApi === undefined && g.member.peer.leader === "" && [...g.member.peer.peers].every((p) => p === this.peerId)) g.pendingUpdateReply = reply;
          else g.leaderApi?.answerUpdate(reply);
        } else if (consumer !== undefined && g.consumer === consumer) g.consumerLeader?.answerCreate(reply);
      }
    });
  }

  /**
   * Whether this server runs an R1 stream or consumer placed on it alone: only as its leader
   * (`nrg_peer_lead`), and only one whose features its leader half runs; otherwise it is refused
   * (`NrgMetaPeer.refuseSingle`).
   */
  holdsSingle(kind: "stream" | "consumer", stream: NrgMetaStream, consumer?: string): boolean {
    if (this.lead === undefined) return false;
    if (kind === "stream") return nrgLeadRefusal(stream.config) === undefined;
    const c = consumer === undefined ? undefined : stream.consumers.get(consumer);
    if (c === undefined) return false;
    // An R1 consumer of an interest or work-queue stream whose stream is being scaled up or
    // moved (its own desired state, giving it a RAFT group, may come a step after the stream's
    // assignment names other members): held until it has one (its acks reach the stream's
    // leader, this server, which drives the stream's change too); dropped in between, its
    // group would start again empty under its new name.
    const growing = (desiredOf(stream.group) !== undefined || (desiredOf(c.group)?.peers ?? []).some((p) => p !== this.peerId)) && nrgConsumerLeadRefusal(c.config) === undefined;
    return growing || nrgHoldsSingleConsumer(c.config, stream, this.peerId);
  }

  /** Start the groups the meta state places on this server; stop those it no longer does (their data stays). */
  reconcile(meta: NrgMetaState): void {
    if (this.closed) return;
    this.meta = meta;
    const wanted = new Map<string, { kind: "stream" | "consumer"; stream: NrgMetaStream; consumer?: string }>();
    for (const s of meta.streams.values()) {
      if (!s.group.peers.includes(this.peerId)) continue;
      wanted.set(s.group.name, { kind: "stream", stream: s });
      // An R1 consumer is held only where this server leads it (it has no group to follow).
      for (const c of s.consumers.values()) if (c.group.peers.includes(this.peerId) && (c.group.peers.length > 1 || this.holdsSingle("consumer", s, c.name))) wanted.set(c.group.name, { kind: "consumer", stream: s, consumer: c.name });
    }
    for (const [name, g] of this.groups) {
      if (wanted.has(name)) continue;
      // The stream is still assigned, to a group without this server (a committed scale-down or
      // move): the data goes, as on nats-server. Gone altogether (a snapshot being installed, a
      // log reset): stopped, the data kept until a committed removal says otherwise.
      const still = meta.stream(g.account, g.stream);
      const movedAway = still !== undefined && (g.kind === "stream" ? !still.group.peers.includes(this.peerId) || still.group.name !== name : g.consumer !== undefined && (still.consumers.get(g.consumer)?.group.peers.includes(this.peerId) !== true || still.consumers.get(g.consumer)?.group.name !== name));
      const now = g.kind === "stream" ? still?.group : g.consumer !== undefined ? still?.consumers.get(g.consumer)?.group : undefined;
      if (movedAway && now !== undefined && now.name !== name && now.peers.length === 1 && now.peers[0] === this.peerId) {
        // A stream or consumer left on this server alone under a new group name (an R1 one held
        // alone that a scale-up renamed; a group whose other peers were removed, renamed as it
        // ends on one server): its log and store go to the new group's directory (nats-server
        // keeps a stream's or consumer's store by its name, not its group's), never removed: no
        // one else has them.
        this.stopGroup(name, g);
        this.carryOver(name, now.name);
        continue;
      }
      if (movedAway) {
        this.log.info(`NRG peer: group ${name} of '${g.account} > ${g.stream}${g.consumer !== undefined ? ` > ${g.consumer}` : ""}' no longer includes this server; its data is removed`);
        this.removed(name);
      } else this.stopGroup(name, g);
    }
    for (const [name, w] of wanted) {
      let running = this.groups.get(name);
      const group = w.consumer === undefined ? w.stream.group : w.stream.consumers.get(w.consumer)?.group;
      if (running !== undefined && group !== undefined && running.member.solo !== this.runsSolo(group)) {
        // An R1 held alone that a move gives a RAFT group (the name kept), or back: started
        // again as such, its log and store kept.
        this.stopGroup(name, running);
        running = undefined;
      }
      if (running !== undefined) {
        if (running.replica !== undefined) running.replica.stream = w.stream;
        const cfg = JSON.stringify(w.stream.config);
        if (running.replica !== undefined && running.configJson !== cfg) {
          const old = running.configJson;
          running.configJson = cfg;
          // The leader takes the stream's subjects as they are now.
          running.leader?.resubscribe();
          running.directGets?.update();
          this.updateSourcing(running, old);
          try {
            running.replica.store.updateConfig(nrgStoreConfig(w.stream.config));
          } catch (err) {
            this.log.warn(`NRG stream replica '${w.stream.account} > ${w.stream.config.name}': new limits not applied: ${(err as Error).message}`);
          }
        }
        continue;
      }
      if (!plainGroupName(name) || name === "_meta_") {
        this.log.warn(`NRG peer: group "${name}" of '${w.stream.account} > ${w.stream.config.name}' is not a plain name; not joined`);
        continue;
      }
      try {
        this.startGroup(name, w.kind, w.stream, w.consumer);
      } catch (err) {
        this.log.error(`NRG peer: cannot join group ${name} of '${w.stream.account} > ${w.stream.config.name}': ${(err as Error).message}`);
      }
    }
    // A consumer leader delivers from this server's copy of its stream: when the stream's group
    // started again (renamed as it ends on this server alone, or between solo and RAFT) after the
    // consumer's leadership began, its leader half starts again on the new copy (the old one's
    // store is closed).
    for (const g of this.groups.values()) {
      if (g.consumerLeader === undefined || g.consumerLeader.streamCopy === this.replicaOf(g.account, g.stream)) continue;
      g.member.onLeadChange?.(g.member.campaign?.leading === true);
    }
  }

  /**
   * Whether a group placed on this server alone runs without a RAFT group (an R1 asset, with
   * `nrg_peer_lead`): not once a desired state names other peers (a scale-up or move of it:
   * 2.15.1's holder then creates the RAFT group, with itself its only member, and grows it).
   */
  private runsSolo(group: NrgMetaStream["group"]): boolean {
    const others = (desiredOf(group)?.peers ?? []).some((p) => p !== this.peerId);
    return this.lead !== undefined && group.peers.length === 1 && group.peers[0] === this.peerId && !others;
  }

  /** A renamed group's directory moved to its new name (unless one is there already, which is then kept). */
  private carryOver(from: string, to: string): void {
    if (!plainGroupName(from) || !plainGroupName(to) || from === "_meta_" || to === "_meta_") return;
    const target = path.join(this.baseDir, to);
    if (io.existsSync(target)) {
      this.log.warn(`NRG peer: group ${from} renamed ${to}, whose directory exists; ${from}'s kept as is`);
      return;
    }
    io.renameSync(path.join(this.baseDir, from), target);
    fsyncDir(this.baseDir);
    this.log.info(`NRG peer: group ${from} renamed ${to}: its log and store moved with it`);
  }

  private startGroup(name: string, kind: "stream" | "consumer", stream: NrgMetaStream, consumer: string | undefined): void {
    const dir = path.join(this.baseDir, name);
    // Its messages did not outlive the last stop: neither does its log (it is caught up as a new member).
    if (kind === "stream" && stream.config.storage === "memory") fs.rmSync(dir, { recursive: true, force: true });
    let replica: NrgStreamReplica | undefined;
    let consumerReplica: NrgConsumerReplica | undefined;
    const current = (): NrgMetaStream | undefined => this.meta?.stream(stream.account, stream.config.name);
    if (kind === "stream") {
      replica = new NrgStreamReplica(this.sys, stream, this.peerId, path.join(dir, "store"), (m) => this.log.warn(m));
      // An interest stream's followers skip what no consumer held on this server wants (nats-server's noInterest).
      replica.interest = (subject) => [...(current()?.consumers.values() ?? [])].some((c) => c.group.peers.includes(this.peerId) && consumerWants(c.config, subject));
    } else if (consumer !== undefined) {
      consumerReplica = new NrgConsumerReplica(() => current()?.consumers.get(consumer));
      consumerReplica.onAcked = (seqs) => this.consumerAcked(stream.account, stream.config.name, seqs);
    }
    let member: NrgGroupMember;
    try {
      member = new NrgGroupMember(this.sys, name, this.peerId, dir, replica ?? consumerReplica, undefined, true);
    } catch (err) {
      replica?.close();
      throw err;
    }
    if (replica !== undefined) {
      replica.recoveredThrough = member.peer.log.lastIndex;
      const m = member;
      replica.onResume = () => m.peer.resumeApply();
    }
    const group = consumer === undefined ? stream.group : stream.consumers.get(consumer)?.group;
    // An R1 asset on this server: nats-server runs it without a RAFT group, so neither does this member (NrgGroupMember.solo).
    member.solo = group !== undefined && this.runsSolo(group);
    // Its log may name the peers of the group it was before (one whose other peers were removed, renamed): it is alone now.
    if (member.solo) member.peer.evict([...member.peer.peers]);
    member.start();
    if (this.campaign && kind === "stream") {
      member.enableCampaign();
      // Its quorum is counted over the assigned members until the group's membership is stored.
      if (member.campaign !== undefined) member.campaign.members = () => current()?.group.peers ?? stream.group.peers;
    } else if (this.lead !== undefined && consumer !== undefined && nrgConsumerLeadRefusal(stream.consumers.get(consumer)?.config ?? {}) === undefined) {
      // Consumer groups campaign only where this server can also lead them, and only consumers it
      // can lead (an ack policy is never changed): a group's first leader answers its create, and
      // when it hands the leadership back at once nats-server's next leader may answer nothing (a
      // sourcing durable's create, answered after its reset entry, was never answered, and the
      // source set itself up again only after its back-off of 10 s and more).
      member.enableCampaign();
      if (member.campaign !== undefined) member.campaign.members = () => current()?.consumers.get(consumer)?.group.peers ?? stream.consumers.get(consumer)?.group.peers ?? [];
    }
    // The assignment's preferred member of a new group campaigns at once (nats-server's createRaftGroup: CampaignImmediately at term 0).
    if (member.campaign !== undefined && group?.preferred === this.peerId && member.peer.log.term === 0) member.peer.transferToMe = true;
    const running: RunningGroup = { kind, account: stream.account, stream: stream.config.name, consumer, member, replica, consumerReplica, configJson: JSON.stringify(stream.config) };
    if (replica !== undefined && this.directGets !== undefined) {
      running.directGets = new NrgDirectGets(replica, member.peer, this.directGets.account(stream.account), this.directGets);
      running.directGets.update();
    }
    if (this.lead !== undefined && replica !== undefined && member.campaign !== undefined) this.enableLead(running, member, replica, this.lead);
    if (this.lead !== undefined && consumerReplica !== undefined && consumer !== undefined && member.campaign !== undefined) this.enableConsumerLead(running, member, consumerReplica, consumer, this.lead);
    this.groups.set(name, running);
    this.log.info(`NRG peer: joined ${kind} group ${name} of '${stream.account} > ${stream.config.name}${consumer !== undefined ? ` > ${consumer}` : ""}' at [${member.peer.log.lastTerm}:${member.peer.log.lastIndex}]`);
  }

  /** The leader half runs while the member leads a stream it can lead (otherwise it hands the leadership back). */
  private enableLead(g: RunningGroup, member: NrgGroupMember, replica: NrgStreamReplica, lead: NrgLeadOptions): void {
    const campaign = member.campaign;
    if (campaign === undefined) return;
    // A group being scaled or moved is led by a nats-server: its leader drives the change (membership, reconcile requests), which this one does not.
    // An R1 stream held alone goes on being led here whatever its assignment says (there is nobody to hand it to).
    const leadable = (): boolean => replica.halted === undefined && nrgLeadRefusal(replica.stream.config) === undefined && (desiredOf(replica.stream.group) === undefined || member.solo || drives());
    const migration = this.migrationDriver(g, member, () => {
      const s = replica.stream;
      return {
        group: s.group,
        replicas: Number(s.config.num_replicas ?? 1),
        names: { account: g.account, stream: g.stream },
        blockedBy: (peers: string[]) => [...s.consumers.values()].find((c) => c.group.peers.some((p) => !peers.includes(p)))?.name,
      };
    });
    const drives = migration.drives;
    const migrate = (): void => {
      if (g.leader !== undefined) migration.step();
    };
    // Leaderless, the peers an operator removed (desired `removed`, no longer among the assignment's peers) are dropped.
    member.evictable = () => {
      const group = replica.stream.group;
      const removed = desiredOf(group)?.removed ?? [];
      return [...member.peer.peers].filter((p) => p !== this.peerId && removed.includes(p) && !group.peers.includes(p));
    };
    campaign.keep = leadable;
    const direct = new NrgDirectConsumers(replica, (m) => this.log.info(m));
    g.direct = direct;
    // A follower behind our compacted log gets the stream's state as nats-server's snapshot (then asks $JSC.SYNC).
    campaign.snapshotData = () => (g.leader === undefined ? undefined : replica.stateSnapshot());
    member.onLeadChange = (leading) => {
      this.stopLead(g);
      migration.reset();
      if (!leading || !leadable()) return;
      const account = lead.account(g.account);
      const leader = new NrgStreamLeader(account, replica, member, lead.domain);
      g.leader = leader;
      leader.start();
      // A leader answers direct gets at once (nats-server's setLeader subscribes them): before the create's answer, not at the next check.
      g.directGets?.update();
      const srv = this.leaderServer(lead, account, member, () => replica.stream.group.peers);
      g.leaderApi = new NrgLeaderApi(srv, replica, campaign);
      g.leaderApi.start();
      if (g.pendingUpdateReply !== undefined) g.leaderApi.answerUpdate(g.pendingUpdateReply);
      g.pendingUpdateReply = undefined;
      // The first leader this server sees of a new assignment answers its create.
      const s = replica.stream;
      if (s.reply !== undefined && !this.answeredCreates.has(s)) {
        this.answeredCreates.add(s);
        g.leaderApi.answerCreate(s.reply);
      }
      g.catchupServer = new NrgCatchupServer(this.sys, replica, () => ({ lastIndex: member.peer.log.lastIndex, applied: member.peer.applied }), () => member.stepDown(undefined));
      g.catchupServer.start();
      g.reconcileTimer = setInterval(migrate, RECONCILE_ASK_MS);
      g.reconcileTimer.unref?.();
      migrate();
      direct.lead(srv);
      this.updateSourcing(g, undefined);
      this.sweepAfterElection(g);
      this.log.info(`NRG peer: leading stream '${g.account} > ${g.stream}' (group ${member.group}, term ${member.peer.log.term}) from sequence ${replica.store.lastSequence()}`);
    };
  }

  /**
   * The desired state a group's leader drives (nrg_stream_migration.ts): only one of a group this
   * member is the only member of when it looks (an R1 it held alone being scaled up or moved, a
   * survivor whose other peers were removed), which no nats-server member can take over, and
   * then until it is reached or the leadership ends (`reset`); any other desired state is
   * handed to a nats-server member, whose leader drives it. `step` does the next step: the
   * reconcile request sent, a membership change proposed or the leadership handed over.
   */
  private migrationDriver(
    g: RunningGroup,
    member: NrgGroupMember,
    target: () => { group: NrgRaftGroup; replicas: number; names: Record<string, string>; streamPeers?: string[]; blockedBy?: (peers: string[]) => string | undefined } | undefined,
  ): { drives: () => boolean; step: () => void; reset: () => void } {
    let driving = false;
    const drives = (): boolean => {
      const t = target();
      if (t === undefined || desiredOf(t.group) === undefined) return false;
      const peers = member.peer.peers;
      if (peers.size <= 1 && [...peers].every((p) => p === this.peerId)) driving = true;
      return driving;
    };
    const step = (): void => {
      const t = target();
      const d = t === undefined ? undefined : desiredOf(t.group);
      const campaign = member.campaign;
      if (t === undefined || d === undefined || campaign === undefined || !drives() || campaign.leading !== true) return;
      const peer = member.peer;
      const members = [...peer.peers];
      const followers = new Map(campaign.followers([...new Set([...members, ...t.group.peers])], LOST_QUORUM_MS).map((f) => [f.id, f]));
      const next = nextMigrationStep({
        self: this.peerId,
        term: peer.log.term,
        desired: d,
        assigned: t.group.peers,
        members,
        metaPeers: this.lead?.metaPeers() ?? t.group.peers,
        membershipChanging: peer.membershipChanging,
        replicas: t.replicas,
        follower: (p) => followers.get(p) ?? { lastSeenMs: undefined, current: false, lag: 0 },
        blockedBy: t.blockedBy ?? (() => undefined),
        streamPeers: t.streamPeers,
      });
      if (next === undefined) return;
      // A log that never had a snapshot is compacted first, once the term is recorded (NeedSnapshot).
      const termOnly = next.kind === "reconcile" && next.request.meta_peers === undefined && next.request.scale_down_peers === undefined;
      if (!termOnly && peer.log.snapshot === undefined && peer.applied > 0) {
        peer.compactNow();
        g.migration = "installing snapshot";
        return;
      }
      g.migration = next.status;
      if (next.kind === "reconcile") {
        // The members named: this leader and the followers holding what is committed.
        const current = members.filter((p) => p === this.peerId || followers.get(p)?.current === true);
        const body = { ...t.names, ...next.request, ...(next.request.meta_peers !== undefined ? { members: current } : {}) };
        const subject = t.names.consumer !== undefined ? "$SYS.JSC.CONSUMER.ASSIGNMENT.RECONCILE" : "$SYS.JSC.STREAM.ASSIGNMENT.RECONCILE";
        this.sys.publish(subject, "", undefined, Buffer.from(JSON.stringify(body)));
      } else if (next.kind === "addPeer") member.proposeMembership(NrgEntryType.AddPeer, next.peer);
      else if (next.kind === "removePeer") member.proposeMembership(NrgEntryType.RemovePeer, next.peer);
      else if (next.kind === "stepDown") member.stepDown(next.preferred);
    };
    return { drives, step, reset: () => (driving = false) };
  }

  /** What a leader half answers with and proposes through: this server, the group's member and its peers. */
  private leaderServer(lead: NrgLeadOptions, account: Account, member: NrgGroupMember, peers: () => string[]): NrgLeaderServer {
    return {
      sys: this.sys,
      account,
      serverName: lead.serverName,
      clusterName: lead.clusterName(),
      maxPayload: lead.maxPayload,
      domain: lead.domain,
      nameOf: lead.nameOf,
      // An R1 asset has no RAFT group: nats-server answers its STEPDOWN with success, placement unread, and keeps leading.
      stepDownTarget: (placement) => (member.solo ? undefined : stepDownTarget(placement, this.peerId, peers(), (id) => lead.nodeInfo(id))),
      stepDown: (preferred) => member.stepDown(preferred),
      propose: (data) => member.propose(data),
      forwardMeta: (entry) => this.sys.publish("$NRG.P._meta_", "", undefined, entry),
    };
  }

  /**
   * A consumer's ack applied here, for each acknowledged message none of the stream's consumers
   * on this server still needs (nats-server's ackMsg): leading the stream, this server proposes
   * its removal (only the leader proposes). Following an interest stream, it removes from the
   * stream's head what none of them needs: nats-server's followers raise their first sequence so
   * (ackMsg on the first message; checkInterestState's walk and Compact at the end of a
   * recovery or catch-up and every two minutes), and the stream leader's removals come later,
   * or never if it had removed those messages itself first.
   */
  private consumerAcked(account: string, stream: string, seqs: number[]): void {
    const r = this.retention(account, stream);
    if (r === undefined) return;
    if (r.leader === undefined) {
      if (runningRetention(r.copy.stream.config, r.copy.stream.group) !== "interest") return;
      const store = r.copy.store;
      for (let m = store.loadNextMsg("", store.state().firstSeq); m !== null && !r.needed(m.seq, m.subject); m = store.loadNextMsg("", m.seq + 1)) store.removeMsg(m.seq);
      return;
    }
    for (const seq of seqs) {
      const m = r.copy.store.loadMsg(seq);
      if (m !== null && !r.needed(seq, m.subject)) r.leader.proposeRemoval(seq);
    }
  }

  /**
   * An interest or work-queue stream held here with every consumer assigned to it: its leader
   * half (while leading), its copy, whether some consumer's filter takes a subject, and whether
   * one of those consumers still needs a message (nats-server's noInterest over the stream's
   * consumers on the server). A consumer held elsewhere, or not joined yet, could still need
   * what this server cannot see: nothing is checked then.
   */
  private retention(account: string, stream: string): { leader: NrgStreamLeader | undefined; copy: NrgStreamReplica; takes: (subject: string) => boolean; needed: (seq: number, subject: string) => boolean } | undefined {
    let leader: NrgStreamLeader | undefined;
    let copy: NrgStreamReplica | undefined;
    const consumers: NrgConsumerReplica[] = [];
    for (const g of this.groups.values()) {
      if (g.account !== account || g.stream !== stream) continue;
      if (g.kind === "stream") {
        leader = g.leader;
        copy = g.replica;
      } else if (g.consumerReplica !== undefined) consumers.push(g.consumerReplica);
    }
    const retention = copy === undefined ? undefined : runningRetention(copy.stream.config, copy.stream.group);
    if (copy === undefined || (retention !== "interest" && retention !== "workqueue")) return undefined;
    const assigned = this.meta?.stream(account, stream)?.consumers;
    if (assigned === undefined || consumers.length !== assigned.size) return undefined;
    return {
      leader,
      copy,
      takes: (subject) => [...assigned.values()].some((c) => consumerWants(c.config, subject)),
      needed: (seq, subject) => consumers.some((c) => c.needAck(seq, subject)),
    };
  }

  /**
   * Elected leader of an interest or work-queue stream: acks this server's consumer groups applied
   * while no leader turned them into removals (a nats-server leader stopped first) are swept once
   * (nats-server's checkInterestState at setLeader).
   */
  private sweepAfterElection(g: RunningGroup): void {
    const leader = g.leader;
    const r = this.retention(g.account, g.stream);
    if (leader === undefined) return;
    if (r === undefined) {
      // Not an interest or work-queue stream, or a consumer of it not held here: nothing to check.
      leader.sweep.skipped++;
      return;
    }
    sweepRetention({
      store: r.copy.store,
      keepUntaken: true,
      alive: () => !this.closed && g.leader === leader && this.groups.get(g.member.group) === g,
      takes: () => r.takes,
      check: (seq, subject) => {
        leader.sweep.checked++;
        if (r.needed(seq, subject)) return;
        leader.proposeRemoval(seq);
        leader.counters.swept++;
      },
    });
  }

  /** This server's copy of a stream (its stream group's replica), if it holds one. */
  private replicaOf(account: string, stream: string): NrgStreamReplica | undefined {
    for (const g of this.groups.values()) if (g.kind === "stream" && g.account === account && g.stream === stream) return g.replica;
    return undefined;
  }

  /**
   * The consumer leader's half runs while the member leads a consumer it can lead, delivering
   * from this server's copy of the stream (current, not halted); otherwise it hands the leadership back.
   */
  private enableConsumerLead(g: RunningGroup, member: NrgGroupMember, state: NrgConsumerReplica, consumer: string, lead: NrgLeadOptions): void {
    const campaign = member.campaign;
    if (campaign === undefined) return;
    const assignment = (): { stream: NrgMetaStream; consumer: NrgMetaConsumer } | undefined => {
      const s = this.meta?.stream(g.account, g.stream);
      const c = s?.consumers.get(consumer);
      return s === undefined || c === undefined ? undefined : { stream: s, consumer: c };
    };
    // A consumer's desired state as a stream's (runConsumerMigration): a peer added only where its stream is hosted.
    const migration = this.migrationDriver(g, member, () => {
      const a = assignment();
      if (a === undefined) return undefined;
      return { group: a.consumer.group, replicas: consumerReplicas(a.consumer.config, a.stream.config), names: { account: g.account, stream: g.stream, consumer }, streamPeers: a.stream.group.peers };
    });
    const leadable = (): boolean => {
      const a = assignment();
      const copy = this.replicaOf(g.account, g.stream);
      // A consumer being scaled or moved is led by a nats-server, which drives the change (as for streams), unless this member alone can.
      return a !== undefined && copy !== undefined && copy.halted === undefined && !copy.catchingUp && nrgConsumerLeadRefusal(a.consumer.config) === undefined && (desiredOf(a.consumer.group) === undefined || member.solo || migration.drives());
    };
    campaign.keep = leadable;
    // Leaderless, the peers an operator removed are dropped, as for the stream's group (checkEvictedPeers).
    member.evictable = () => {
      const group = assignment()?.consumer.group;
      const removed = group === undefined ? [] : (desiredOf(group)?.removed ?? []);
      return [...member.peer.peers].filter((p) => p !== this.peerId && removed.includes(p) && group?.peers.includes(p) !== true);
    };
    campaign.snapshotData = () => (g.consumerLeader === undefined ? undefined : state.snapshot());
    member.onLeadChange = (leading) => {
      g.consumerLeader?.stop();
      g.consumerLeader = undefined;
      if (g.reconcileTimer !== undefined) clearInterval(g.reconcileTimer);
      g.reconcileTimer = undefined;
      g.migration = undefined;
      migration.reset();
      const copy = this.replicaOf(g.account, g.stream);
      if (!leading || !leadable() || copy === undefined) return;
      g.reconcileTimer = setInterval(() => migration.step(), RECONCILE_ASK_MS);
      g.reconcileTimer.unref?.();
      const account = lead.account(g.account);
      g.consumerLeader = new NrgConsumerLeader(
        this.leaderServer(lead, account, member, () => assignment()?.consumer.group.peers ?? []),
        copy,
        state,
        campaign,
        assignment,
        consumer,
      );
      g.consumerLeader.start();
      // The first leader this server sees of a new assignment answers its create (processConsumerLeaderChange).
      const a = assignment();
      if (a?.consumer.reply !== undefined && !this.answeredCreates.has(a.consumer)) {
        this.answeredCreates.add(a.consumer);
        g.consumerLeader.answerCreate(a.consumer.reply);
      }
      this.log.info(`NRG peer: leading consumer '${g.account} > ${g.stream} > ${consumer}' (group ${member.group}, term ${member.peer.log.term})`);
    };
  }

  /**
   * While leading a mirror or a stream with sources: read the origins from the committed state on
   * (at the start of the leadership), and follow a committed config update (`old`: the config before it).
   */
  private updateSourcing(g: RunningGroup, old: string | undefined): void {
    const leader = g.leader;
    const replica = g.replica;
    if (leader === undefined || replica === undefined || this.lead === undefined) return;
    const config = replica.stream.config;
    if (g.sourcing !== undefined && old !== undefined) {
      g.sourcing.update(JSON.parse(old) as Record<string, unknown>, config);
      if (!NrgSourcingStream.needed(config)) {
        g.sourcing.stop();
        g.sourcing = undefined;
      }
    } else if (g.sourcing === undefined && NrgSourcingStream.needed(config)) {
      g.sourcing = new NrgSourcingStream(replica, leader, this.lead.account(g.account), this.log, this.lead.domain, { server: this.lead.serverName, cluster: this.lead.clusterName() });
      g.sourcing.start();
    }
    if (g.leaderApi !== undefined) g.leaderApi.sourcing = g.sourcing;
  }

  private stopLead(g: RunningGroup): void {
    if (g.reconcileTimer !== undefined) clearInterval(g.reconcileTimer);
    g.reconcileTimer = undefined;
    g.migration = undefined;
    g.sourcing?.stop();
    g.sourcing = undefined;
    g.direct?.follow();
    g.consumerLeader?.stop();
    g.consumerLeader = undefined;
    g.leader?.stop();
    g.leader = undefined;
    g.leaderApi?.stop();
    g.leaderApi = undefined;
    g.catchupServer?.stop();
    g.catchupServer = undefined;
  }

  private stopGroup(name: string, g: RunningGroup): void {
    this.groups.delete(name);
    this.stopLead(g);
    g.direct?.close();
    g.directGets?.close();
    g.member.stop();
    g.replica?.close();
  }

  close(): void {
    this.closed = true;
    for (const [name, g] of this.groups) this.stopGroup(name, g);
  }

  /**
   * The first stream or consumer group that is not current (nats-server's healthz texts): its
   * member catching up or unable to store, or its replica catching up or halted.
   */
  healthError(): string | undefined {
    for (const g of this.groups.values()) {
      const p = g.member.peer;
      const current = p.writeError === undefined && p.catchup === undefined && g.replica?.catchingUp !== true && g.replica?.halted === undefined;
      if (current) continue;
      return g.kind === "stream" ? `JetStream stream '${g.account} > ${g.stream}' is not current` : `JetStream consumer '${g.account} > ${g.stream} > ${g.consumer ?? ""}' is not current`;
    }
    return undefined;
  }

  /** Bytes and RAFT groups held, for STATSZ's JetStream stats (an R1 asset has no group: nats-server counts it in no ha_assets). */
  usage(): { storage: number; groups: number; accounts: number } {
    let storage = 0;
    let groups = 0;
    const accounts = new Set<string>();
    for (const g of this.groups.values()) {
      accounts.add(g.account);
      if (!g.member.solo) groups++;
      if (g.replica !== undefined) storage += g.replica.store.state().bytes;
    }
    return { storage, groups, accounts: accounts.size };
  }

  /** The bytes this server's stream replicas hold, by account and storage (nats-server's per-server account usage). */
  accountUsage(): Map<string, { memory: number; storage: number }> {
    const out = new Map<string, { memory: number; storage: number }>();
    for (const g of this.groups.values()) {
      if (g.replica === undefined) continue;
      const u = out.get(g.account) ?? { memory: 0, storage: 0 };
      const bytes = g.replica.store.state().bytes;
      if (g.replica.stream.config.storage === "memory") u.memory += bytes;
      else u.storage += bytes;
      out.set(g.account, u);
    }
    return out;
  }

  json(nameOf: (id: string) => string): Record<string, unknown>[] {
    return [...this.groups.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, g]) => ({
        kind: g.kind,
        account: g.account,
        stream: g.stream,
        ...(g.consumer !== undefined ? { consumer: g.consumer } : {}),
        ...g.member.json(nameOf),
        ...(g.replica !== undefined ? { replica: g.replica.json() } : {}),
        ...(g.leader !== undefined ? { stream_leader: { ...g.leader.json(), ...(g.catchupServer !== undefined ? { catchups: g.catchupServer.json() } : {}), ...(g.sourcing !== undefined ? { sourcing: g.sourcing.infoJson() } : {}) } } : {}),
        ...(g.migration !== undefined ? { migration: g.migration } : {}),
        ...(g.consumerReplica !== undefined ? { consumer_state: g.consumerReplica.json() } : {}),
        ...(g.consumerLeader !== undefined ? { consumer_leader: g.consumerLeader.json() } : {}),
        ...(g.direct !== undefined && g.direct.counters.created > 0 ? { direct_consumers: g.direct.json() } : {}),
        ...(g.directGets !== undefined ? { direct_gets: g.directGets.json() } : {}),
      }));
  }
}
