// Stream backups: `$JS.API.STREAM.SNAPSHOT.<stream>` and `$JS.API.STREAM.RESTORE.<stream>`
// with nats-server 2.15's protocol and archive, so a backup moves between the two servers in
// both directions (and from older nats-server versions: their tar backups, snapshot_v1.ts).
//
// Snapshot: the request names a deliver subject; after the JSON answer (config and state),
// the archive (storage/archive.ts inside an S2 stream, storage/s2.ts) goes there in chunks of
// `chunk_size` bytes (128 KiB by default, 1 KiB-1 MiB), each with a reply subject
// `$JS.SNAPSHOT.ACK.<stream>.<id>.<size>.<index>` the receiver answers to acknowledge it. At
// most `window_size` bytes (8 MiB by default) are unacknowledged; no ack for 5 s ends the
// snapshot with "408 No Flow Response", the receiver going away with "408 No Interest". The
// last message is an empty one with status 204 (or 500 and the error). Messages are read one
// at a time from the store, so memory stays bounded by the window whatever the stream's size.
//
// Restore: the request carries the stream config (and the snapshot's state); the answer
// names a subject to send the chunks to, each acknowledged with an empty reply, the last one
// empty. The stream is rebuilt as it arrives (state, consumers, then every message with its
// sequence, timestamp and headers, gaps kept), and only starts (subjects, sources, consumers)
// once the end-of-backup marker arrived; the reply to the final chunk is a stream info, or the
// error. A restore idle for 5 s fails; a failed restore leaves nothing behind.
import { nuid } from "@nats-io/nuid";
import type { Subscription } from "../server/sublist.js";
import { isValidSubject, hasWildcard } from "../protocol/subject.js";
import { buildHeaders } from "../protocol/headers.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { ArchiveReader, ArchiveWriter, ARCHIVE_MAGIC, type ArchiveEntry } from "../storage/archive.js";
import { S2StreamDecoder, S2StreamEncoder } from "../storage/s2.js";
import type { ConsumerState } from "../storage/store.js";
import { MemConsumerStore } from "../storage/memstore.js";
import { emptyConsumerState, storeMsgSize } from "../storage/store.js";
import * as adv from "./advisories.js";
import { Consumer } from "./consumer.js";
import { normalizeConsumerConfig, type ConsumerConfig } from "./consumer_config.js";
import { ApiError, jsError } from "./errors.js";
import type { JsAccount } from "./jetstream.js";
import { CONSUMER_CONFIG_SHAPE, checkShape } from "./json.js";
import type { Stream } from "./stream.js";
import type { StreamConfig } from "./stream_config.js";
import { restoreV1 } from "./snapshot_v1.js";

const DEFAULT_CHUNK = 128 * 1024;
const DEFAULT_WINDOW = 8 * 1024 * 1024;
const ACK_TIMEOUT_MS = 5_000;
const INTEREST_WAIT_MS = 2_000;
const RESTORE_IDLE_MS = 5_000;
/** Chunks sent per event-loop turn, so a snapshot does not hold up other clients. */
const CHUNKS_PER_TURN = 16;
const EMPTY = Buffer.alloc(0);

export interface SnapshotRequest {
  deliver_subject?: string;
  no_consumers?: boolean;
  chunk_size?: number;
  window_size?: number;
  jsck?: boolean;
}

// ---- consumer state in the archive (nats-server's ConsumerState JSON) ----

/** Pending timestamps are ns in the archive, ms in tsnats' consumer state. */
export function consumerStateJson(st: ConsumerState, lastSeq: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    delivered: { consumer_seq: st.delivered.consumer_seq, stream_seq: Math.min(st.delivered.stream_seq, lastSeq) },
    ack_floor: { consumer_seq: st.ack_floor.consumer_seq, stream_seq: Math.min(st.ack_floor.stream_seq, lastSeq) },
  };
  const pending: Record<string, unknown> = {};
  for (const [seq, p] of st.pending) if (seq <= lastSeq) pending[seq] = { sequence: p.sequence, ts: p.timestamp * 1_000_000 };
  if (Object.keys(pending).length > 0) out.pending = pending;
  const redelivered: Record<string, number> = {};
  for (const [seq, n] of st.redelivered) if (seq <= lastSeq) redelivered[seq] = n;
  if (Object.keys(redelivered).length > 0) out.redelivered = redelivered;
  return out;
}

export function consumerStateFromJson(j: Record<string, any>): ConsumerState {
  const st = emptyConsumerState();
  const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);
  st.delivered.consumer_seq = num(j.delivered?.consumer_seq);
  st.delivered.stream_seq = num(j.delivered?.stream_seq);
  st.ack_floor.consumer_seq = num(j.ack_floor?.consumer_seq);
  st.ack_floor.stream_seq = num(j.ack_floor?.stream_seq);
  for (const [k, v] of Object.entries((j.pending ?? {}) as Record<string, any>)) {
    st.pending.set(Number(k), { sequence: num(v?.sequence), timestamp: Math.floor(num(v?.ts) / 1_000_000) });
  }
  for (const [k, v] of Object.entries((j.redelivered ?? {}) as Record<string, unknown>)) st.redelivered.set(Number(k), num(v));
  return st;
}

// ---- snapshot ----

/**
 * Check a snapshot request and start sending; returns the API answer (sent before the
 * first chunk, as the sender waits for the next turn).
 */
export function startSnapshot(stream: Stream, req: SnapshotRequest, client: adv.AdvisoryClient): Record<string, unknown> {
  const deliver = req.deliver_subject ?? "";
  if (deliver === "" || !isValidSubject(deliver) || hasWildcard(deliver)) throw jsError("JSSnapshotDeliverSubjectInvalidErr");
  if (req.jsck) {
    const bad = checkMessages(stream);
    if (bad > 0) throw jsError("JSStreamSnapshotErrF", { err: `snapshot check detected ${bad} bad messages` });
  }
  const state = stream.stateJson();
  if (req.no_consumers) state.consumer_count = 0;
  const sender = new SnapshotSender(stream, req, client);
  setImmediate(() => sender.start());
  adv.snapshotCreate(stream.jsa.advisoryContext, stream.name, state, client);
  return { config: stream.cfg, state };
}

/** Read every message once (checksums are verified on read); how many turned out corrupt. */
function checkMessages(stream: Stream): number {
  const store = stream.store;
  const before = store.state().lost?.msgs.length ?? 0;
  const last = store.state().lastSeq;
  for (let seq = store.state().firstSeq; seq > 0 && seq <= last; ) {
    const m = store.loadNextMsg("", seq);
    if (m === null) break;
    seq = m.seq + 1;
  }
  return (store.state().lost?.msgs.length ?? 0) - before;
}

class SnapshotSender {
  private readonly chunkSize: number;
  private slots: number;
  private readonly deliver: string;
  private readonly ackSubject: string;
  private ackSub: Subscription | undefined;
  private removeInterest: (() => void) | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly archive = new ArchiveWriter();
  private readonly s2 = new S2StreamEncoder();
  private out: Buffer[] = [];
  private outLen = 0;
  private phase: "state" | "consumers" | "messages" | "end" | "done" = "state";
  private consumers: Consumer[] = [];
  private nextSeq: number;
  private readonly lastSeq: number;
  private index = 1;
  private sentFullChunk = false;
  private finished = false;
  private scheduled = false;
  private readonly started = nowNs();

  constructor(
    private readonly stream: Stream,
    req: SnapshotRequest,
    private readonly client: adv.AdvisoryClient,
  ) {
    this.chunkSize = Math.min(Math.max(1024, req.chunk_size || DEFAULT_CHUNK), 1024 * 1024);
    const window = Math.max(Math.min(Math.max(1024, req.window_size || DEFAULT_WINDOW), 32 * 1024 * 1024), this.chunkSize);
    this.slots = Math.floor(window / this.chunkSize);
    this.deliver = req.deliver_subject as string;
    this.ackSubject = `$JS.SNAPSHOT.ACK.${stream.name}.${nuid.next()}`;
    const st = stream.store.state();
    this.nextSeq = Math.max(st.firstSeq, 1);
    this.lastSeq = st.lastSeq;
    if (!req.no_consumers) this.consumers = stream.publicConsumers();
  }

  start(): void {
    const acc = this.stream.jsa.account;
    if (!acc.sublist.hasInterest(this.deliver)) {
      // Allow a moment for the receiver's subscription to show up.
      const t = setTimeout(() => {
        this.removeInterest?.();
        this.removeInterest = undefined;
        if (!acc.sublist.hasInterest(this.deliver)) this.fail("408 No Interest", "no interest");
        else this.begin();
      }, INTEREST_WAIT_MS);
      this.removeInterest = acc.onInterestChange(() => {
        if (!acc.sublist.hasInterest(this.deliver)) return;
        clearTimeout(t);
        this.removeInterest?.();
        this.removeInterest = undefined;
        this.begin();
      });
      return;
    }
    this.begin();
  }

  private begin(): void {
    const acc = this.stream.jsa.account;
    this.ackSub = acc.subscribeInternal(`${this.ackSubject}.>`, () => this.onAck(), undefined, `snapshot:${this.stream.name}`);
    this.removeInterest = acc.onInterestChange(() => {
      if (!this.finished && !acc.sublist.hasInterest(this.deliver)) this.fail("408 No Interest", "no interest");
    });
    this.pump();
  }

  private onAck(): void {
    if (this.finished) return;
    this.slots++;
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.finished) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.finished) return;
    const acc = this.stream.jsa.account;
    try {
      for (let n = 0; n < CHUNKS_PER_TURN && this.slots > 0; n++) {
        const chunk = this.nextChunk();
        if (chunk === undefined) {
          this.complete();
          return;
        }
        this.slots--;
        if (chunk.length === this.chunkSize) this.sentFullChunk = true;
        acc.publish(this.deliver, `${this.ackSubject}.${chunk.length}.${this.index++}`, undefined, chunk);
      }
    } catch (err) {
      this.fail(`500 ${(err as Error).message}`, (err as Error).message);
      return;
    }
    if (this.slots > 0) this.schedule();
    else if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => this.fail("408 No Flow Response", "no flow response"), ACK_TIMEOUT_MS);
      this.ackTimer.unref();
    }
  }

  /** The next chunk of the S2-compressed archive, undefined once everything was sent. */
  private nextChunk(): Buffer | undefined {
    while (this.outLen < this.chunkSize && this.phase !== "done") this.produce();
    if (this.outLen === 0) return undefined;
    const n = Math.min(this.chunkSize, this.outLen);
    const chunk = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const b = this.out[0];
      const k = Math.min(b.length, n - at);
      b.copy(chunk, at, 0, k);
      at += k;
      if (k === b.length) this.out.shift();
      else this.out[0] = b.subarray(k);
    }
    this.outLen -= n;
    return chunk;
  }

  private emit(bytes: Buffer): void {
    for (const b of this.s2.write(bytes)) {
      this.out.push(b);
      this.outLen += b.length;
    }
  }

  /** Add the next archive entries to the output. */
  private produce(): void {
    const ts = nowNs();
    switch (this.phase) {
      case "state": {
        const state = this.stream.stateJson();
        state.consumer_count = this.consumers.length;
        this.emit(this.archive.entry("state.json", ts, 0, undefined, Buffer.from(JSON.stringify(state))));
        this.phase = this.consumers.length > 0 ? "consumers" : "messages";
        return;
      }
      case "consumers": {
        for (const c of this.consumers) {
          const body = { config: c.cfg, state: consumerStateJson(c.stateSnapshot(), this.lastSeq) };
          this.emit(this.archive.entry(`consumers/${c.name}`, ts, 0, undefined, Buffer.from(JSON.stringify(body))));
        }
        this.phase = "messages";
        return;
      }
      case "messages": {
        // A batch of messages per call keeps the per-call overhead low.
        const store = this.stream.store;
        for (let k = 0; k < 256; k++) {
          const m = this.nextSeq <= this.lastSeq ? store.loadNextMsg("", this.nextSeq) : null;
          if (m === null || m.seq > this.lastSeq) {
            this.phase = "end";
            return;
          }
          this.nextSeq = m.seq + 1;
          this.emit(this.archive.entry(m.subject, m.time, m.seq, m.hdr, m.data));
        }
        return;
      }
      case "end": {
        this.emit(this.archive.end());
        for (const b of this.s2.flush()) {
          this.out.push(b);
          this.outLen += b.length;
        }
        this.phase = "done";
        return;
      }
      case "done":
        return;
    }
  }

  private complete(): void {
    // As nats-server: the end message carries status 204 once a whole chunk went out; a
    // snapshot that fit in its first chunk ends with a bare empty message.
    this.finish(this.sentFullChunk ? "204" : "", undefined);
  }

  private fail(status: string, err: string): void {
    this.finish(status, err);
  }

  private finish(status: string, err: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    const acc = this.stream.jsa.account;
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    if (this.ackSub !== undefined) acc.unsubscribeInternal(this.ackSub);
    this.removeInterest?.();
    acc.publish(this.deliver, "", status === "" ? undefined : buildHeaders([], status), EMPTY);
    const log = this.stream.jsa.service.log;
    if (err !== undefined) log.warn(`Snapshot of stream '${acc.name} > ${this.stream.name}' failed: ${err}`);
    else log.info(`Completed snapshot of stream '${acc.name} > ${this.stream.name}'`);
    adv.snapshotComplete(this.stream.jsa.advisoryContext, this.stream.name, this.started, nowNs(), this.client, err);
  }
}

// ---- restore ----

/** Something that rebuilds a stream from the decompressed bytes of an archive. */
export interface RestoreSink {
  /** More decompressed bytes. */
  push(data: Buffer): void;
  /** All bytes are in: finish the stream (throws when the backup is incomplete). */
  finish(): Stream;
  /** Undo what was done. */
  abort(): void;
}

/**
 * Check a restore request and open the subject that takes the chunks. Returns the API
 * answer; the final result goes to the reply of the last (empty) chunk.
 */
export function startRestore(jsa: JsAccount, cfg: StreamConfig, client: adv.AdvisoryClient): Record<string, unknown> {
  if (jsa.streams.has(cfg.name)) throw jsError("JSStreamNameExistRestoreFailedErr");
  jsa.checkNewStream(cfg);
  const r = new RestoreReceiver(jsa, cfg, client);
  adv.restoreCreate(jsa.advisoryContext, cfg.name, client);
  return { deliver_subject: r.subject };
}

class RestoreReceiver {
  readonly subject: string;
  private readonly sub: Subscription;
  private readonly s2 = new S2StreamDecoder();
  private sink: RestoreSink | undefined;
  /** Decompressed bytes before the format is known. */
  private head: Buffer[] = [];
  private headLen = 0;
  private total = 0;
  private idle: NodeJS.Timeout;
  private done = false;
  private readonly started = nowNs();

  constructor(
    private readonly jsa: JsAccount,
    private readonly cfg: StreamConfig,
    private readonly client: adv.AdvisoryClient,
  ) {
    this.subject = `$JS.SNAPSHOT.RESTORE.${cfg.name}.${nuid.next()}`;
    this.sub = jsa.account.subscribeInternal(this.subject, (_s, reply, _h, payload) => this.onChunk(reply, payload), undefined, `restore:${cfg.name}`);
    this.idle = setTimeout(() => this.stalled(), RESTORE_IDLE_MS);
    this.idle.unref();
    jsa.service.log.info(`Starting restore for stream '${jsa.account.name} > ${cfg.name}'`);
  }

  private onChunk(reply: string, payload: Buffer): void {
    if (this.done) return;
    const acc = this.jsa.account;
    if (reply === "") {
      this.fail(new Error(`restore for stream '${acc.name} > ${this.cfg.name}' requires reply subject for each chunk`), "");
      return;
    }
    this.idle.refresh();
    if (payload.length === 0) {
      this.complete(reply);
      return;
    }
    this.total += payload.length;
    try {
      // The payload may alias a read buffer: the decoder keeps partial chunks.
      for (const piece of this.s2.push(Buffer.from(payload))) this.feed(piece);
    } catch (err) {
      this.fail(err, reply);
      return;
    }
    acc.publish(reply, "", undefined, EMPTY);
  }

  /** Decompressed bytes: the first 8 tell the format (2.15's archive, or an older tar). */
  private feed(piece: Buffer): void {
    if (this.sink !== undefined) {
      this.sink.push(piece);
      return;
    }
    this.head.push(piece);
    this.headLen += piece.length;
    if (this.headLen < ARCHIVE_MAGIC.length) return;
    const head = Buffer.concat(this.head);
    this.head = [];
    this.sink = head.subarray(0, ARCHIVE_MAGIC.length).equals(ARCHIVE_MAGIC) ? new ArchiveRestore(this.jsa, this.cfg) : restoreV1(this.jsa, this.cfg);
    this.sink.push(head);
  }

  private complete(reply: string): void {
    let stream: Stream;
    try {
      this.s2.end();
      if (this.sink === undefined) throw new Error("backup was truncated");
      stream = this.sink.finish();
    } catch (err) {
      this.fail(err, reply);
      return;
    }
    this.close();
    const log = this.jsa.service.log;
    log.info(`Completed restore of ${this.total} bytes for stream '${this.jsa.account.name} > ${this.cfg.name}'`);
    adv.restoreComplete(this.jsa.advisoryContext, this.cfg.name, this.started, nowNs(), this.total, this.client);
    const info = { type: "io.nats.jetstream.api.v1.stream_create_response", config: stream.cfg, created: rfc3339(stream.created), state: stream.stateJson(), ts: rfc3339(nowNs()) };
    this.ended(true, () => this.jsa.account.publish(reply, "", undefined, Buffer.from(JSON.stringify(info))));
  }

  /** In a cluster the meta group hears of the end (cluster.ts) and may hold the answer until the stream's replicas are placed. */
  private ended(ok: boolean, answer: () => void): void {
    const cluster = this.jsa.service.cluster;
    if (cluster === undefined) answer();
    else cluster.restoreEnded(this.jsa.account.name, this.cfg.name, ok, answer);
  }

  private stalled(): void {
    if (this.done) return;
    this.fail(new Error(`restore for stream '${this.jsa.account.name} > ${this.cfg.name}' is stalled`), "");
  }

  private fail(err: unknown, reply: string): void {
    if (this.done) return;
    this.sink?.abort();
    this.close();
    const e = err instanceof ApiError ? err : jsError("JSStreamRestoreErrF", { err: (err as Error).message ?? String(err) });
    this.jsa.service.log.warn(`Restore failed for stream '${this.jsa.account.name} > ${this.cfg.name}': ${e.description}`);
    const resp = { type: "io.nats.jetstream.api.v1.stream_create_response", error: e.toJSON() };
    this.ended(false, () => {
      if (reply !== "") this.jsa.account.publish(reply, "", undefined, Buffer.from(JSON.stringify(resp)));
    });
  }

  private close(): void {
    this.done = true;
    clearTimeout(this.idle);
    this.jsa.account.unsubscribeInternal(this.sub);
  }
}

/** Rebuilds a stream from a 2.15 archive ("NATSARC1") as its entries arrive. */
class ArchiveRestore implements RestoreSink {
  private readonly reader = new ArchiveReader();
  private stream: Stream | undefined;
  private phase: "state" | "consumers" | "messages" | "done" = "state";
  private consumersLeft = 0;
  private readonly consumers: Array<{ name: string; cfg: ConsumerConfig; state: ConsumerState }> = [];
  private firstSeq = 0;
  private lastSeq = 0;
  /** Last sequence stored or skipped so far. */
  private lseq = 0;
  /** Time of the backup's last sequence (kept when it is a deleted one). */
  private lastTime = 0n;

  constructor(
    private readonly jsa: JsAccount,
    private readonly cfg: StreamConfig,
  ) {}

  push(data: Buffer): void {
    for (const e of this.reader.push(data)) this.apply(e);
  }

  private apply(e: ArchiveEntry): void {
    switch (this.phase) {
      case "state": {
        if (e.name !== "state.json") throw new Error("expected state.json first");
        let st: Record<string, unknown>;
        try {
          st = JSON.parse(e.body.toString("utf8")) as Record<string, unknown>;
        } catch (err) {
          throw new Error(`error in state.json: ${(err as Error).message}`);
        }
        const n = (v: unknown): number => (typeof v === "number" && v >= 0 ? v : 0);
        this.firstSeq = n(st.first_seq);
        this.lastSeq = n(st.last_seq);
        this.lastTime = timeNs(st.last_ts);
        this.consumersLeft = n(st.consumer_count);
        this.stream = this.jsa.createStreamForRestore(this.cfg);
        // Start at the right sequence, even when the backup holds no message.
        if (this.firstSeq > 1) this.stream.store.compact(this.firstSeq);
        this.lseq = Math.max(this.firstSeq - 1, 0);
        this.phase = this.consumersLeft > 0 ? "consumers" : "messages";
        return;
      }
      case "consumers": {
        if (!e.name.startsWith("consumers/")) throw new Error(`expected consumer, found ${JSON.stringify(e.name)}`);
        const name = e.name.substring("consumers/".length);
        let j: Record<string, any>;
        try {
          j = JSON.parse(e.body.toString("utf8")) as Record<string, any>;
        } catch (err) {
          throw new Error(`failed to decode consumer ${JSON.stringify(name)} state: ${(err as Error).message}`);
        }
        if (j.config === null || typeof j.config !== "object") throw new Error(`consumer ${JSON.stringify(name)} is missing config`);
        if (j.state === null || typeof j.state !== "object") throw new Error(`consumer ${JSON.stringify(name)} is missing state`);
        checkShape(j.config as Record<string, unknown>, CONSUMER_CONFIG_SHAPE, "ConsumerConfig");
        const cfg = normalizeConsumerConfig(j.config as Partial<ConsumerConfig>, this.cfg);
        this.consumers.push({ name, cfg, state: consumerStateFromJson(j.state as Record<string, any>) });
        if (--this.consumersLeft === 0) this.phase = "messages";
        return;
      }
      case "messages": {
        const seq = e.sequence;
        if (seq === 0) {
          if (e.timestamp === 0n && e.headerSize === 0 && e.payloadSize === 0) {
            this.phase = "done";
            return;
          }
          throw new Error("expected message sequence");
        }
        const stream = this.stream!;
        const maxPayload = this.jsa.service.server.options.maxPayload;
        if (e.headerSize + e.payloadSize > maxPayload) throw new Error(`message sequence ${seq} exceeds maximum payload size`);
        if (this.cfg.max_msg_size > 0 && e.headerSize + e.payloadSize > this.cfg.max_msg_size) throw new Error(`message sequence ${seq} exceeds maximum message size`);
        if (seq <= this.lseq) throw new Error(`message sequence ${seq} out of order`);
        const hdr = e.headerSize > 0 ? e.body.subarray(0, e.headerSize) : undefined;
        const data = e.body.subarray(e.headerSize);
        if (this.jsa.storageLimited && this.jsa.exceedsStorage(this.cfg.storage, storeMsgSize(this.cfg.storage, e.name, hdr, data))) {
          throw this.cfg.storage === "memory" ? jsError("JSMemoryResourcesExceededErr") : jsError("JSStorageResourcesExceededErr");
        }
        // Deleted messages leave gaps that keep their sequences.
        if (seq > this.lseq + 1) stream.store.skipMsgs(this.lseq + 1, seq - this.lseq - 1);
        stream.store.storeRawMsg(e.name, hdr, data, seq, e.timestamp);
        this.lseq = seq;
        return;
      }
      case "done":
        throw new Error("data after the end of the backup");
    }
  }

  finish(): Stream {
    if (this.reader.leftover > 0 || this.phase !== "done" || this.stream === undefined) throw new Error("backup was truncated");
    const stream = this.stream;
    // Trailing deleted messages must not let their sequences be reused.
    if (this.lseq < this.lastSeq) stream.store.skipMsgs(this.lseq + 1, this.lastSeq - this.lseq, this.lastTime);
    for (const c of this.consumers) restoreConsumer(stream, c.name, c.cfg, c.state);
    this.jsa.completeRestore(stream);
    return stream;
  }

  abort(): void {
    if (this.stream !== undefined) this.jsa.abortRestore(this.stream);
  }
}

/**
 * Add a consumer with its delivery and ack state (before the stream starts). One asking for
 * memory storage keeps it in memory on a file stream, as when it was created (JsAccount.addConsumer).
 */
export function restoreConsumer(stream: Stream, name: string, cfg: ConsumerConfig, state: ConsumerState, created = nowNs()): void {
  const stored = { config: cfg, created: rfc3339(created), name };
  const cs = cfg.mem_storage === true && stream.cfg.storage === "file" ? new MemConsumerStore(name, stored) : stream.store.createConsumer(name, stored);
  cs.update(state);
  const c = new Consumer(stream, name, cfg, created, cs, state);
  cs.updateConfig(c.storedConfig());
  stream.consumers.set(name, c);
}

/** The time in an RFC 3339 string as ns (0n when absent or malformed). */
export function timeNs(s: unknown): bigint {
  return typeof s === "string" ? parseRfc3339(s) ?? 0n : 0n;
}
