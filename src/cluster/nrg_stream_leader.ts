// The stream leader's half of a tsnats member leading a nats-server stream group (issue 12's
// moonshot, experimental: `cluster { nrg_peer_lead: true }` with nrg_peer_campaign). In a
// nats-server cluster only a stream's leader subscribes to the stream's subjects (stream.go
// setLeader → subscribeToStream; followers unsubscribe), so publishes anywhere in the cluster
// reach the leader over the routes. The leader checks each message as nats-server's clustered
// path does before proposing it (jetstream_cluster.go processClusteredInboundMsg,
// jetstream_batching.go checkMsgHeadersPreClusteredProposal: sealed, message size, then the
// headers in that order, then discard-new limits counting what is in flight), proposes it as a
// stream message entry whose last sequence is the clustered sequence (the store's last + the
// failed count + the proposals in flight: every member's lseq/clfs rule places it), and answers
// the PubAck once the entry is committed and applied to its own copy (processJetStreamMsg's
// leader answer; a failure counted at apply time, a store limit, is answered as the error it is).
// One check goes before the proposal where nats-server makes it at apply time: a wrong
// Nats-Expected-Last-Msg-Id. nats-server 2.15.1's members stop an R3 stream on it ("critical
// write error: last msgid mismatch", leader and followers alike); here it is refused with the
// same answer and never proposed, against the id the last message proposed will leave.
// Only the streams whose features this half runs are led (`nrgLeadRefusal`); for the others
// the member hands its leadership back to a nats-server member as before.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { goDuration, nowNs } from "../server/time.js";
import { buildHeaders, getHeader } from "../protocol/headers.js";
import { storeMsgSize } from "../storage/store.js";
import { s2EncodeBlock } from "../storage/s2.js";
import { ApiError, jsError } from "../jetstream/errors.js";
import {
  checkDiscardNew,
  checkExpectedLastMsgId,
  checkExpectedLastSeq,
  checkExpectedLastSubjectSeq,
  checkExpectedStream,
  checkRollup,
  checkSealedAndSize,
  type PendingWrites,
  type PublishCheckConfig,
} from "../jetstream/publish_checks.js";
import { encodeNrgDeleteRange, encodeNrgStreamMsg, NrgEntryOp, type NrgStreamMsg } from "../jetstream/nrg_entries.js";
import {
  HDR_BATCH_ID,
  HDR_INCR,
  HDR_MARKER_REASON,
  HDR_MSG_ID,
  HDR_ROLLUP,
  HDR_SCHEDULE,
  HDR_SCHEDULE_NEXT,
  HDR_SCHEDULER,
  HDR_TTL,
  parseIncrement,
  MARKER_REASON_MAX_AGE,
  parseMessageTTL,
} from "../jetstream/msg_headers.js";
import type { NrgGroupMember } from "./nrg_group_member.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";

/** nats-server's stream source header (only a source or mirror may carry it). */
const HDR_STREAM_SOURCE = "Nats-Stream-Source";
/** nats-server compresses a stream message entry above this size (jetstream_cluster.go compressThreshold). */
const COMPRESS_THRESHOLD = 8192;
/** Messages read back at the start of a leadership to rebuild the duplicate window. */
const DEDUPE_REBUILD_LIMIT = 1_000_000;
/** A stream's duplicate window when its config has none (nats-server's StreamDefaultDuplicatesWindow, ns). */
const DEFAULT_DUPLICATE_WINDOW_NS = 120_000_000_000;

/** Why this server does not lead a stream with this config (it hands the leadership back), or undefined. */
export function nrgLeadRefusal(config: Record<string, unknown>): string | undefined {
  const on = (k: string): boolean => config[k] === true;
  for (const k of ["allow_msg_counter", "allow_msg_schedules", "allow_atomic", "allow_batched"]) if (on(k)) return k;
  return undefined;
}

interface InFlight {
  ops: number;
  bytes: number;
}

/** The leader half of one stream group while this member leads it with its state current. */
export class NrgStreamLeader {
  private subs: Subscription[] = [];
  /** The last sequence the next proposal carries (nats-server's clseq). */
  private clseq = 0;
  /** Proposed, not yet applied: per subject (expected-per-subject and discard-new checks). */
  private readonly inflight = new Map<string, InFlight>();
  /** Message ids in the duplicate window: sequence (0 while proposed, not applied) and when seen (ns). */
  private readonly msgIds = new Map<string, { seq: number; ts: bigint }>();
  /** The Nats-Msg-Id the last message proposed leaves as the stream's last ("" none); undefined: the store's. */
  private lastProposedId: string | undefined;
  /** swept: removals the sweep at election proposed (nats-server's checkInterestState). */
  counters = { proposed: 0, acked: 0, refused: 0, duplicates: 0, failedAtApply: 0, swept: 0 };
  /** The sweep at election: messages it checked, and whether it could not run (`skipped`: a consumer of the stream not held here). */
  readonly sweep = { checked: 0, skipped: 0 };
  /** Subject delete markers proposed: subject -> the expired message's sequence. */
  private readonly markers = new Map<string, number>();
  /** Between start() and stop(). */
  private running = false;
  /** Callers waiting for the log index our proposals had reached to be applied (`whenApplied`). */
  private waiters: { index: number; fn: () => void }[] = [];
  private readonly appliedWatcher = (): void => this.runWaiters();
  /** A sourced message of ours refused at apply time (a store limit): its source asks its origin again (nrg_stream_sourcing.ts). */
  onSourcedRefused: ((hdr: Buffer) => void) | undefined;

  constructor(
    private readonly account: Account,
    private readonly replica: NrgStreamReplica,
    private readonly member: NrgGroupMember,
    /** This server's JetStream domain, named in PubAcks as nats-server does. */
    private readonly domain: string | undefined,
  ) {}

  private get config(): Record<string, unknown> & { name: string } {
    return this.replica.stream.config;
  }

  private checked: { from: Record<string, unknown>; cfg: PublishCheckConfig } | undefined;
  /** The config as the shared publish checks read it (read again after an update replaced it). */
  private get checkConfig(): PublishCheckConfig {
    const from = this.config;
    if (this.checked?.from !== from) this.checked = { from, cfg: publishCheckConfig(from) };
    return this.checked.cfg;
  }

  /** The proposals in flight, as the publish checks count pending writes. */
  private readonly pending: PendingWrites = {
    count: 0,
    bytes: 0,
    onSubject: (subject) => this.inflight.get(subject)?.ops ?? 0,
  };

  /** Leading with a current state: rebuild what the leader tracks, then take the stream's publishes. */
  start(): void {
    const store = this.replica.store;
    this.clseq = store.lastSequence() + this.replica.clfs;
    this.rebuildDedupe();
    this.replica.onApplied = (m, outcome) => this.applied(m, outcome);
    this.replica.republishIn = this.account;
    this.replica.expiryLeader = { lastExpired: (seq, subject) => this.placeMarker(seq, subject) };
    this.replica.store.setRemoveHandler((seq, _subject, reason) => {
      if (reason === "maxAge" || reason === "ttl") this.expired(seq);
    });
    this.replica.appliedWatchers.add(this.appliedWatcher);
    this.running = true;
    this.resubscribe();
  }

  /**
   * Subscribe to the stream's subjects as its config names them now (again after an update). A
   * mirror takes no publishes, and a stream with sources may have no subjects of its own
   * (nats-server's subscribeToStream).
   */
  resubscribe(): void {
    for (const sub of this.subs) this.account.unsubscribeInternal(sub);
    this.subs = [];
    if (!this.running || (this.config.mirror !== undefined && this.config.mirror !== null)) return;
    const sourced = Array.isArray(this.config.sources) && this.config.sources.length > 0;
    const subjects = Array.isArray(this.config.subjects) && this.config.subjects.length > 0 ? (this.config.subjects as unknown[]).filter((s): s is string => typeof s === "string") : sourced ? [] : [this.config.name];
    for (const subject of subjects) this.subs.push(this.account.subscribeInternal(subject, (subj, reply, hdr, payload) => this.onPublish(subj, reply, hdr === undefined ? undefined : Buffer.from(hdr), Buffer.from(payload)), undefined, "nrg-stream-leader"));
  }

  stop(): void {
    this.running = false;
    for (const sub of this.subs) this.account.unsubscribeInternal(sub);
    this.subs = [];
    this.replica.appliedWatchers.delete(this.appliedWatcher);
    this.waiters = [];
    if (this.replica.onApplied !== undefined) this.replica.onApplied = undefined;
    this.replica.republishIn = undefined;
    this.replica.expiryLeader = undefined;
    this.replica.store.setRemoveHandler(undefined);
    this.markers.clear();
    this.inflight.clear();
    this.pending.count = 0;
    this.pending.bytes = 0;
    this.lastProposedId = undefined;
    this.msgIds.clear();
  }

  private get windowNs(): bigint {
    const w = this.config.duplicate_window;
    return BigInt(typeof w === "number" && Number.isSafeInteger(w) && w >= 0 ? w : DEFAULT_DUPLICATE_WINDOW_NS);
  }

  /** The ids of the messages stored within the duplicate window (nats-server's rebuildDedupe). */
  private rebuildDedupe(): void {
    const window = this.windowNs;
    if (window === 0n) return;
    const cutoff = nowNs() - window;
    const store = this.replica.store;
    const first = store.state().firstSeq;
    const found: [string, { seq: number; ts: bigint }][] = [];
    for (let seq = store.lastSequence(), n = 0; seq >= first && seq > 0 && n < DEDUPE_REBUILD_LIMIT; seq--, n++) {
      const m = store.loadMsg(seq);
      if (m === null) continue;
      if (m.time < cutoff) break;
      const id = getHeader(m.hdr, HDR_MSG_ID);
      if (id !== undefined && id !== "") found.push([id, { seq, ts: m.time }]);
    }
    // Oldest first, so pruning walks the map from its start.
    for (let i = found.length - 1; i >= 0; i--) if (!this.msgIds.has(found[i][0])) this.msgIds.set(found[i][0], found[i][1]);
  }

  private pruneDedupe(now: bigint): void {
    const cutoff = now - this.windowNs;
    for (const [id, e] of this.msgIds) {
      if (e.ts >= cutoff) break;
      if (e.seq !== 0) this.msgIds.delete(id);
    }
  }

  private respond(reply: string, body: string): void {
    if (reply === "" || this.config.no_ack === true) return;
    this.account.publish(reply, "", undefined, Buffer.from(body));
  }

  private pubAckPrefix(): string {
    return `{"stream":${JSON.stringify(this.config.name)},${this.domain !== undefined && this.domain !== "" ? `"domain":${JSON.stringify(this.domain)},` : ""}"seq":`;
  }

  private refuse(reply: string, err: ApiError): void {
    this.counters.refused++;
    this.respond(reply, `{"error":${JSON.stringify(err.toJSON())},"stream":${JSON.stringify(this.config.name)},"seq":0}`);
  }

  private onPublish(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (!this.running) return;
    // Checked under the subject it is stored under (the stream's subject_transform), proposed as published.
    const err = isAtomicBatch(hdr) ? jsError("JSAtomicPublishDisabledErr") : this.check(this.replica.storedSubject(subject), hdr, payload);
    if (typeof err === "number") {
      // nats-server's duplicate answer, its spacing included.
      this.respond(reply, `${this.pubAckPrefix()}${err},"duplicate": true}`);
      return;
    }
    if (err !== undefined) {
      this.refuse(reply, err);
      return;
    }
    if (!this.proposeMsg(subject, reply, hdr, payload, false)) this.refuse(reply, jsError("JSClusterNotLeaderErr"));
  }

  /**
   * A stream message entry at the clustered sequence (a mirror's copy: at its origin's, with its
   * origin's time), counted in flight until applied; false when not leading.
   */
  private proposeMsg(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sourced: boolean, copy?: { lseq: number; ts: bigint }): boolean {
    const ts = copy?.ts ?? nowNs();
    const m: NrgStreamMsg = { lastSequence: copy?.lseq ?? this.clseq, timestamp: ts, subject, reply, header: hdr ?? Buffer.alloc(0), data: payload, sourced, flags: 0n };
    if (!this.member.propose(encodeEntry(m))) return false;
    this.counters.proposed++;
    this.clseq = m.lastSequence + 1;
    // In flight under the subject it will be stored under, as the checks count it.
    const stored = this.replica.storedSubject(subject);
    const size = storeMsgSize(this.replica.store.type, stored, hdr, payload);
    const f = this.inflight.get(stored) ?? { ops: 0, bytes: 0 };
    f.ops++;
    f.bytes += size;
    this.inflight.set(stored, f);
    this.pending.count++;
    this.pending.bytes += size;
    const id = getHeader(hdr, HDR_MSG_ID);
    this.lastProposedId = id ?? "";
    if (id !== undefined && id !== "" && this.windowNs > 0n) this.msgIds.set(id, { seq: 0, ts });
    return true;
  }

  private get markerTtlSeconds(): number {
    const ttl = this.config.subject_delete_marker_ttl;
    return typeof ttl === "number" && ttl > 0 ? Math.trunc(ttl / 1e9) : 0;
  }

  /**
   * The last message of a subject expired (subject delete markers on): a marker is proposed once,
   * as nats-server's leader does (a sourced message: Nats-Marker-Reason MaxAge, Nats-TTL, a
   * subject rollup that removes the expired message on every member). Kept until then.
   */
  private placeMarker(seq: number, subject: string): boolean {
    if (this.markers.get(subject) === seq) return true;
    this.markers.set(subject, seq);
    const hdr = buildHeaders([
      [HDR_MARKER_REASON, MARKER_REASON_MAX_AGE],
      [HDR_TTL, goDuration(this.markerTtlSeconds * 1e9)],
      [HDR_ROLLUP, "sub"],
    ]);
    if (!this.proposeMsg(subject, "", hdr, Buffer.alloc(0), true)) this.markers.delete(subject);
    return true;
  }

  /** A message our store expired (subject delete markers on): the members remove it when the leader says so. */
  private expired(seq: number): void {
    if (this.markerTtlSeconds > 0) this.proposeRemoval(seq);
  }

  /** A message the stream no longer keeps (expired, or acknowledged by every consumer that needs it), as nats-server's leader proposes its removal. */
  proposeRemoval(seq: number): void {
    const md = { stream: this.config.name, seq, no_erase: true, subject: "", reply: "" };
    this.member.propose(Buffer.concat([Buffer.from([NrgEntryOp.DeleteMsg]), Buffer.from(JSON.stringify(md))]));
  }

  /**
   * nats-server's checks before a proposal, in its order: an error to answer, the sequence of
   * the message this one duplicates, or undefined to propose.
   */
  private check(subject: string, hdr: Buffer | undefined, payload: Buffer, sourced = false): ApiError | number | undefined {
    const cfg = this.checkConfig;
    const sizeErr = checkSealedAndSize(cfg, hdr, payload);
    if (sizeErr !== undefined) return sizeErr;
    let rollup = false;
    if (hdr !== undefined && hdr.length > 0) {
      const incr = getHeader(hdr, HDR_INCR);
      if (incr !== undefined && incr !== "") return parseIncrement(incr) === undefined ? jsError("JSMessageIncrInvalidErr") : jsError("JSMessageIncrDisabledErr");
      const expStreamErr = checkExpectedStream(cfg, hdr);
      if (expStreamErr !== undefined) return expStreamErr;
      // The clustered path differs from a single server's (checkTtlAllowed): an unreadable TTL
      // is "disabled" on a stream without TTLs, and refused at once, not after the resource checks.
      const ttl = getHeader(hdr, HDR_TTL);
      if (ttl !== undefined && ttl !== "") {
        const t = parseMessageTTL(ttl);
        if (t !== 0 && !cfg.allow_msg_ttl) return jsError("JSMessageTTLDisabledErr");
        if (t === "invalid") return jsError("JSMessageTTLInvalidErr");
      }
      const id = getHeader(hdr, HDR_MSG_ID);
      if (id !== undefined && id !== "" && this.windowNs > 0n) {
        const now = nowNs();
        this.pruneDedupe(now);
        const dup = this.msgIds.get(id);
        if (dup !== undefined && dup.ts >= now - this.windowNs) {
          if (dup.seq === 0) return jsError("JSStreamDuplicateMessageConflict");
          this.counters.duplicates++;
          return dup.seq;
        }
      }
      if (!sourced && getHeader(hdr, HDR_STREAM_SOURCE) !== undefined) return jsError("JSMessageSourceHdrNotAllowedErr");
      const lastErr = checkExpectedLastSeq(hdr, this.clseq - this.replica.clfs);
      if (lastErr !== undefined) return lastErr;
      // A message in flight on the subject: its last sequence is not known yet.
      const subjErr = checkExpectedLastSubjectSeq(hdr, subject, this.replica.store, this.pending);
      if (subjErr !== undefined) return subjErr;
      // Schedules are not run on a stream this server leads (nrgLeadRefusal).
      const schedule = getHeader(hdr, HDR_SCHEDULE);
      if (schedule !== undefined && schedule !== "") return jsError("JSMessageSchedulesDisabledErr");
      const next = getHeader(hdr, HDR_SCHEDULE_NEXT);
      const scheduler = getHeader(hdr, HDR_SCHEDULER);
      if (next !== undefined && next !== "") {
        if (next !== "purge" || scheduler === undefined || scheduler === "" || scheduler === subject) return jsError("JSMessageSchedulesSchedulerInvalidErr");
        return jsError("JSMessageSchedulesDisabledErr");
      }
      if (scheduler !== undefined && scheduler !== "") return jsError("JSMessageSchedulesSchedulerInvalidErr");
      const lastIdErr = checkExpectedLastMsgId(hdr, this.pending.count > 0 && this.lastProposedId !== undefined ? this.lastProposedId : this.replica.lastMsgId);
      if (lastIdErr !== undefined) return lastIdErr;
      const r = checkRollup(cfg, hdr, false);
      if (r instanceof ApiError) return r;
      rollup = r !== undefined;
    }
    return checkDiscardNew(cfg, this.replica.store, subject, storeMsgSize(this.replica.store.type, subject, hdr, payload), rollup, this.pending);
  }

  /** A message of ours applied to our copy: it leaves the in-flight counts, and its publisher gets the answer. */
  private applied(m: NrgStreamMsg, outcome: { seq: number } | { error: "lastMsgId"; lastMsgId: string } | { error: "store"; text: string }): void {
    const stored = this.replica.storedSubject(m.subject);
    const f = this.inflight.get(stored);
    if (f !== undefined) {
      const size = storeMsgSize(this.replica.store.type, stored, m.header.length > 0 ? m.header : undefined, m.data);
      f.ops--;
      f.bytes -= size;
      this.pending.count = Math.max(0, this.pending.count - 1);
      this.pending.bytes = Math.max(0, this.pending.bytes - size);
      if (f.ops <= 0) this.inflight.delete(stored);
    }
    const id = m.header.length > 0 ? getHeader(m.header, HDR_MSG_ID) : undefined;
    if ("seq" in outcome) {
      if (id !== undefined && id !== "" && this.windowNs > 0n) {
        this.msgIds.delete(id);
        this.msgIds.set(id, { seq: outcome.seq, ts: m.timestamp });
      }
      this.counters.acked++;
      this.respond(m.reply, `${this.pubAckPrefix()}${outcome.seq}}`);
      return;
    }
    if (id !== undefined && this.msgIds.get(id)?.seq === 0) this.msgIds.delete(id);
    this.counters.failedAtApply++;
    if (m.sourced && m.header.length > 0) this.onSourcedRefused?.(m.header);
    const err = outcome.error === "lastMsgId" ? jsError("JSStreamWrongLastMsgIDErrF", { id: outcome.lastMsgId }) : jsError("JSStreamStoreFailedF", { err: outcome.text });
    this.respond(m.reply, `{"error":${JSON.stringify(err.toJSON())},"stream":${JSON.stringify(this.config.name)},"seq":0}`);
  }

  // ---- what a mirror's or a source's copies propose (nrg_stream_sourcing.ts) ----

  /** The stream's last sequence once every proposal of ours is applied (nats-server's clseq less the failed count). */
  get proposedLast(): number {
    return this.clseq - this.replica.clfs;
  }

  /**
   * A source's copy, checked as nats-server's processClusteredInboundMsg checks a sourced message
   * (the Nats-Stream-Source header allowed) and proposed. A duplicate id is dropped; any other
   * refusal is thrown (the source asks its origin again from this message).
   */
  inboundSourced(subject: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (!this.running) throw jsError("JSClusterNotLeaderErr");
    const err = this.check(this.replica.storedSubject(subject), hdr, payload, true);
    if (typeof err === "number") return;
    if (err !== undefined) throw err;
    if (!this.proposeMsg(subject, "", hdr, payload, true)) throw jsError("JSClusterNotLeaderErr");
  }

  /**
   * A mirror's copy of origin sequence `seq`, proposed at the origin's sequence and time as
   * nats-server's mirror leader does (processInboundMirrorMsg: last sequence `seq - 1`,
   * sourced), whatever copies the members refused before it (each counts as a failed proposal
   * on every member, and the copy is stored after the mirror's last: the origin sequence less
   * the failed count; discard-new limits refuse none, see nrg_stream_peer.ts). A sequence
   * already proposed is not proposed again;
   * a gap is proposed as skips first, unless nothing was ever stored (the members then start at
   * `seq`, nats-server's followers' compaction of an empty mirror).
   */
  proposeMirrored(subject: string, hdr: Buffer | undefined, data: Buffer, seq: number, ts: bigint): void {
    if (!this.running) throw jsError("JSClusterNotLeaderErr");
    // The next proposal's last sequence: the origin sequence of the last copy proposed.
    const last = this.clseq;
    if (seq <= last) return;
    if (seq > last + 1 && last > 0) this.proposeSkips(last + 1, seq - last - 1);
    if (!this.proposeMsg(subject, "", hdr, data, true, { lseq: seq - 1, ts })) throw jsError("JSClusterNotLeaderErr");
  }

  /**
   * Sequences a mirror will never hold (expired or deleted at its origin, or filtered out): one
   * delete range entry, as nats-server 2.15.1's mirror leader proposes them (skipMsgs; its
   * followers apply it as skipped sequences).
   */
  proposeSkips(first: number, num: number): void {
    if (!this.running) throw jsError("JSClusterNotLeaderErr");
    const from = Math.max(first, this.proposedLast + 1);
    const end = first + num - 1;
    if (end < from) return;
    if (!this.member.propose(encodeNrgDeleteRange(from, end - from + 1))) throw jsError("JSClusterNotLeaderErr");
    this.clseq = end + this.replica.clfs;
  }

  /**
   * A mirror's consumer starts after `delivered` (its origin's messages up to there are gone):
   * an empty copy with nothing proposed just moves its own start there, as nats-server's leader
   * purges its store up to it (the members start where the first copy says); otherwise the
   * sequences in between are proposed as skips.
   */
  mirrorCatchUp(delivered: number): void {
    const last = this.proposedLast;
    if (delivered <= last) return;
    const store = this.replica.store;
    if (this.pending.count === 0 && last === store.lastSequence() && store.state().msgs === 0) {
      store.compact(delivered + 1);
      this.clseq = store.lastSequence() + this.replica.clfs;
      return;
    }
    this.proposeSkips(last + 1, delivered - last);
  }

  /** Run `fn` once everything proposed so far (this turn's proposals included) is applied here; never if the leadership ends first. */
  whenApplied(fn: () => void): void {
    // The member appends a turn's proposals at the end of the turn: their index is known after it.
    setImmediate(() => {
      if (!this.running) return;
      this.waiters.push({ index: this.member.peer.log.lastIndex, fn });
      this.runWaiters();
    });
  }

  private runWaiters(): void {
    const applied = this.member.peer.applied;
    while (this.waiters.length > 0 && this.waiters[0].index <= applied) (this.waiters.shift() as { fn: () => void }).fn();
  }

  json(): Record<string, unknown> {
    return { subjects: this.subs.map((s) => s.subject), clseq: this.clseq, in_flight: this.pending.count, counters: { ...this.counters }, sweep: { ...this.sweep } };
  }
}

/** A stream message entry as nats-server's leader encodes it: S2-compressed above 8 KiB when that is smaller. */
function encodeEntry(m: NrgStreamMsg): Buffer {
  const plain = encodeNrgStreamMsg(m);
  if (Buffer.byteLength(m.subject, "latin1") + Buffer.byteLength(m.reply, "latin1") + m.header.length + m.data.length <= COMPRESS_THRESHOLD) return plain;
  const z = s2EncodeBlock(plain.subarray(1));
  if (z.length + 1 >= plain.length) return plain;
  return Buffer.concat([Buffer.from([NrgEntryOp.CompressedStreamMsg]), z]);
}

/** A nats-server assignment's stream config as the publish checks read it (absent fields: nats-server's defaults). */
function publishCheckConfig(c: Record<string, unknown>): PublishCheckConfig {
  const num = (k: string): number => (typeof c[k] === "number" ? (c[k] as number) : -1);
  return {
    name: String(c.name),
    sealed: c.sealed === true,
    max_msg_size: num("max_msg_size"),
    allow_msg_ttl: c.allow_msg_ttl === true,
    allow_rollup_hdrs: c.allow_rollup_hdrs === true,
    deny_purge: c.deny_purge === true,
    discard: typeof c.discard === "string" ? c.discard : "old",
    max_msgs: num("max_msgs"),
    max_bytes: num("max_bytes"),
    max_msgs_per_subject: num("max_msgs_per_subject"),
    discard_new_per_subject: c.discard_new_per_subject === true,
  };
}

/** Whether a publish carries an atomic batch (a stream this server leads does not allow them). */
function isAtomicBatch(hdr: Buffer | undefined): boolean {
  const id = getHeader(hdr, HDR_BATCH_ID);
  return id !== undefined && id !== "";
}
