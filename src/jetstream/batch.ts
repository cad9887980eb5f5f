// Atomic batch publish (ADR-50, nats-server 2.12). Messages with `Nats-Batch-Id` and
// `Nats-Batch-Sequence` (1, 2, ...) are staged, each answered with an empty ack; the one
// with `Nats-Batch-Commit: 1` (or `eob`: an end-of-batch marker that is not stored) makes
// the stream check the whole batch as if it were stored one by one, then store all of it
// in one go, or nothing. The commit's PubAck carries `"batch"` and `"count"`.
//
// Durability: for file streams each staged message is appended (synchronous write(2),
// like the stream store) to <stream dir>/batches/<hash>.stg before it is acknowledged, so
// a commit that a kill -9 cuts in half is finished on restart from that file: a batch is
// all or nothing. Staged batches that never reached their commit are dropped on restart.
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { getHeader, removeHeaders, setHeader } from "../protocol/headers.js";
import { crc32 } from "../storage/crc32.js";
import { mkdirDurable } from "../storage/file_io.js";
import { batchAbandoned } from "./advisories.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet } from "./api_level.js";
import { ApiError, jsError } from "./errors.js";
import { HDR_BATCH_COMMIT, HDR_BATCH_ID, HDR_BATCH_SEQ, HDR_EXPECTED_LAST_MSG_ID } from "./msg_headers.js";
import { batchOverrides } from "./server_limits.js";
import { newBatchDiff, storeErrorToApi, type Prepared, type Stream } from "./stream.js";

/** nats-server's defaults (jetstream `limits { batch {} }` overrides them). */
const MAX_BATCH_SIZE = 1000;
const MAX_INFLIGHT_PER_STREAM = 50;
const MAX_INFLIGHT_TOTAL = 1000;
const BATCH_TIMEOUT_MS = 10_000;
const MAX_BATCH_ID = 64;

/** Batches in flight across all streams of the server process. */
let inflightTotal = 0;

interface Staged {
  subject: string;
  hdr: Buffer | undefined;
  data: Buffer;
}

class Batch {
  readonly msgs: Staged[] = [];
  timer: NodeJS.Timeout | undefined;
  /** The staging file (file streams), open for appends. */
  fd: number | undefined;
  constructor(readonly id: string) {}
}

function batchFileName(id: string): string {
  return `${createHash("sha256").update(id).digest("hex").slice(0, 32)}.stg`;
}

/** A record in a staging file: [u32 length][u32 crc][u16 subject][u32 header][subject][header][data]. */
function encodeStaged(m: Staged): Buffer {
  const subj = Buffer.from(m.subject, "utf8");
  const hl = m.hdr?.length ?? 0;
  const len = 14 + subj.length + hl + m.data.length;
  const b = Buffer.allocUnsafe(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(subj.length, 8);
  b.writeUInt32LE(hl, 10);
  subj.copy(b, 14);
  if (m.hdr) m.hdr.copy(b, 14 + subj.length);
  m.data.copy(b, 14 + subj.length + hl);
  b.writeUInt32LE(crc32(b, 8, len), 4);
  return b;
}

/** The intact records of a staging file (a torn or corrupt tail ends the list). */
function decodeStaged(buf: Buffer): Staged[] {
  const out: Staged[] = [];
  for (let at = 0; at + 14 <= buf.length; ) {
    const len = buf.readUInt32LE(at);
    if (len < 14 || at + len > buf.length) break;
    if (crc32(buf, at + 8, at + len) !== buf.readUInt32LE(at + 4)) break;
    const sl = buf.readUInt16LE(at + 8);
    const hl = buf.readUInt32LE(at + 10);
    const subject = buf.toString("utf8", at + 14, at + 14 + sl);
    const hdr = hl > 0 ? Buffer.from(buf.subarray(at + 14 + sl, at + 14 + sl + hl)) : undefined;
    const data = Buffer.from(buf.subarray(at + 14 + sl + hl, at + len));
    out.push({ subject, hdr, data });
    at += len;
  }
  return out;
}

export class AtomicBatches {
  private readonly batches = new Map<string, Batch>();

  constructor(private readonly stream: Stream) {}

  private get dir(): string | undefined {
    return this.stream.cfg.storage === "file" ? path.join(this.stream.dir, "batches") : undefined;
  }

  /**
   * One message of a batch. Returns the PubAck JSON to answer ("" for the empty ack of a
   * staged message), or throws the ApiError to answer. Checks in nats-server's order. On a
   * replicated stream's leader the commit is proposed as one entry and answered to `reply`
   * once applied: null then.
   */
  process(batchId: string, subject: string, hdr: Buffer, payload: Buffer, reply = ""): string | null {
    const stream = this.stream;
    const cfg = stream.cfg;
    if (cfg.sealed) throw jsError("JSStreamSealedErr");
    if (cfg.max_msg_size > 0 && (hdr.length > cfg.max_msg_size || payload.length > cfg.max_msg_size - hdr.length)) {
      throw jsError("JSStreamMessageExceedsMaximumErr");
    }
    if (!cfg.allow_atomic) throw jsError("JSAtomicPublishDisabledErr");
    if (batchId.length > MAX_BATCH_ID) throw jsError("JSAtomicPublishInvalidBatchIDErr");
    const seqText = getHeader(hdr, HDR_BATCH_SEQ);
    if (seqText === undefined || !/^\d+$/.test(seqText)) throw jsError("JSAtomicPublishMissingSeqErr");
    const seq = Number(seqText);
    const commitText = getHeader(hdr, HDR_BATCH_COMMIT);
    const commit = commitText !== undefined;
    const eob = commitText === "eob";
    const commitInvalid = commit && !eob && commitText !== "1";

    const lim = batchOverrides(stream.jsa.service.options);
    const maxSize = lim.maxMsgs ?? MAX_BATCH_SIZE;
    let b = this.batches.get(batchId);
    if (b === undefined) {
      if (seq !== 1) {
        if ((eob ? seq - 1 : seq) > maxSize) throw jsError("JSAtomicPublishTooLargeBatchErrF", { size: maxSize });
        throw jsError("JSAtomicPublishIncompleteBatchErr");
      }
      if (this.batches.size + 1 > (lim.maxInflightPerStream ?? MAX_INFLIGHT_PER_STREAM) || inflightTotal + 1 > (lim.maxInflightTotal ?? MAX_INFLIGHT_TOTAL)) {
        throw jsError("JSAtomicPublishTooManyInflight");
      }
      b = this.open(batchId);
    }
    if (commitInvalid) {
      this.drop(b);
      throw jsError("JSAtomicPublishInvalidBatchCommitErr");
    }
    // A required API level may refuse the batch; the header is not stored either way.
    const level = getHeader(hdr, HDR_REQUIRED_API_LEVEL);
    if (level !== undefined) {
      if (requiredLevelUnmet(level)) {
        this.abandon(b, "unsupported");
        throw jsError("JSRequiredApiLevelErr");
      }
      hdr = removeHeaders(hdr, (k) => k === HDR_REQUIRED_API_LEVEL) ?? hdr;
    }
    this.armTimer(b);
    // Gaps (and an end-of-batch marker as the first message) leave the batch incomplete.
    if (seq !== b.msgs.length + 1 || (seq === 1 && eob)) {
      this.abandon(b, "incomplete");
      throw jsError("JSAtomicPublishIncompleteBatchErr");
    }
    if ((eob ? seq - 1 : seq) > maxSize) {
      this.abandon(b, "large");
      throw jsError("JSAtomicPublishTooLargeBatchErrF", { size: maxSize });
    }
    const staged: Staged = { subject, hdr: Buffer.from(hdr), data: Buffer.from(payload) };
    try {
      // The end-of-batch marker is staged too (a restart must know how the batch ends), not stored.
      this.persist(b, staged);
    } catch (err) {
      stream.jsa.service.log.error(`JetStream stream '${stream.name}' could not stage batch '${batchId}': ${(err as Error).message}`);
      this.abandon(b, "incomplete");
      throw jsError("JSAtomicPublishIncompleteBatchErr");
    }
    if (!eob) b.msgs.push(staged);
    if (!commit) return "";
    return this.commit(b, eob, reply);
  }

  /**
   * Check every staged message against the stream and what the batch staged before it,
   * then store them all; nothing is stored when any check fails.
   */
  private commit(b: Batch, eob: boolean, reply: string): string | null {
    const stream = this.stream;
    if (b.timer !== undefined) clearTimeout(b.timer);
    const diff = newBatchDiff();
    const prepared: Prepared[] = [];
    try {
      for (let i = 0; i < b.msgs.length; i++) {
        const m = b.msgs[i]!;
        let hdr = m.hdr;
        if (getHeader(hdr, HDR_EXPECTED_LAST_MSG_ID) !== undefined) throw jsError("JSAtomicPublishUnsupportedHeaderBatchErr", { header: HDR_EXPECTED_LAST_MSG_ID });
        // Committed by an end-of-batch marker: the last stored message gets the commit header.
        if (eob && i === b.msgs.length - 1) hdr = setHeader(hdr, HDR_BATCH_COMMIT, "1");
        const subject = stream.transformedSubject(m.subject);
        prepared.push(stream.prepare(subject, hdr, m.data, false, diff));
      }
    } catch (err) {
      this.drop(b);
      throw err instanceof ApiError ? err : storeErrorToApi(err);
    }
    const suffix = `,"batch":${JSON.stringify(b.id)},"count":${b.msgs.length}`;
    if (stream.replica !== undefined) {
      // Replicated: the whole batch is one RAFT entry, applied by every member or by none.
      try {
        stream.replica.proposeBatch(prepared, suffix, reply);
      } finally {
        this.drop(b);
      }
      return null;
    }
    let ack = "";
    try {
      for (let i = 0; i < prepared.length; i++) {
        ack = stream.commitPrepared(prepared[i]!, i === prepared.length - 1 ? suffix : undefined);
      }
    } catch (err) {
      // A store failure halfway: the staging file stays so that a restart finishes the batch.
      this.forget(b);
      throw err instanceof ApiError ? err : storeErrorToApi(err);
    }
    this.drop(b);
    return ack;
  }

  private open(id: string): Batch {
    const b = new Batch(id);
    const dir = this.dir;
    if (dir !== undefined) {
      // Its entry synced in the stream's directory, as every directory of the store (the first batch only).
      mkdirDurable(dir);
      b.fd = fs.openSync(path.join(dir, batchFileName(id)), "w");
    }
    this.batches.set(id, b);
    inflightTotal++;
    return b;
  }

  private persist(b: Batch, m: Staged): void {
    if (b.fd === undefined) return;
    const rec = encodeStaged(m);
    let off = 0;
    while (off < rec.length) off += fs.writeSync(b.fd, rec, off, rec.length - off);
  }

  private armTimer(b: Batch): void {
    if (b.timer !== undefined) clearTimeout(b.timer);
    b.timer = setTimeout(() => this.abandon(b, "timeout"), batchOverrides(this.stream.jsa.service.options).timeoutMs ?? BATCH_TIMEOUT_MS);
    b.timer.unref();
  }

  private abandon(b: Batch, reason: string): void {
    if (!this.batches.has(b.id)) return;
    this.drop(b);
    batchAbandoned(this.stream.jsa.advisoryContext, this.stream.name, b.id, reason);
  }

  /** Stop tracking a batch, keeping its staging file. */
  private forget(b: Batch): void {
    if (b.timer !== undefined) clearTimeout(b.timer);
    b.timer = undefined;
    if (b.fd !== undefined) {
      try {
        fs.closeSync(b.fd);
      } catch {
        // already closed
      }
      b.fd = undefined;
    }
    if (this.batches.delete(b.id)) inflightTotal--;
  }

  /** Stop tracking a batch and remove its staging file. */
  private drop(b: Batch): void {
    this.forget(b);
    const dir = this.dir;
    if (dir !== undefined) fs.rmSync(path.join(dir, batchFileName(b.id)), { force: true });
  }

  /** Stream stop: staged batches are given up (their files go on the next start). */
  stop(): void {
    for (const b of [...this.batches.values()]) this.forget(b);
  }

  /**
   * After a restart: when the stream's last message belongs to a batch whose commit did
   * not reach the store (a kill -9 during the commit), store the rest of that batch from
   * its staging file. Every other staging file is dropped (those batches were never
   * committed, so none of them is stored).
   */
  recover(): void {
    const dir = this.dir;
    if (dir === undefined || !fs.existsSync(dir)) return;
    const stream = this.stream;
    try {
      const last = stream.store.loadLastMsg("");
      const id = last === null ? undefined : getHeader(last.hdr, HDR_BATCH_ID);
      const seqText = last === null ? undefined : getHeader(last.hdr, HDR_BATCH_SEQ);
      if (last !== null && id !== undefined && id !== "" && seqText !== undefined && getHeader(last.hdr, HDR_BATCH_COMMIT) === undefined) {
        const file = path.join(dir, batchFileName(id));
        const staged = fs.existsSync(file) ? decodeStaged(fs.readFileSync(file)) : [];
        const from = Number(seqText);
        const rest = staged.slice(from);
        // The staging file is written, not fsynced: after a power cut its tail (the commit
        // among it) may be gone while part of the commit reached the store. That batch was
        // never acknowledged (the PubAck waits for the store's fsync of its last message), so
        // it is taken out of the store: all or nothing, where nats-server keeps the part.
        const complete = staged.length > 0 && getHeader(staged[staged.length - 1]!.hdr, HDR_BATCH_COMMIT) !== undefined;
        if (!complete) {
          const keep = last.seq - from;
          stream.jsa.service.log.warn(`JetStream stream '${stream.name}': partial batch '${id}' (sequences ${keep + 1} to ${last.seq}) removed: its staged commit did not reach the disk, so it was never acknowledged`);
          stream.store.truncate(keep);
          stream.rebuildDedup();
        } else if (rest.length === 0) {
          stream.jsa.service.log.error(`JetStream stream '${stream.name}': partial batch '${id}' at sequence ${from} cannot be restored (no staged messages)`);
        } else {
          stream.jsa.service.log.info(`  Restoring partial batch write for stream '${stream.name}' (seq ${from + 1} to ${staged.length})`);
          const eob = getHeader(staged[staged.length - 1]!.hdr, HDR_BATCH_COMMIT) === "eob";
          for (let i = 0; i < rest.length; i++) {
            const m = rest[i]!;
            let hdr = m.hdr;
            // The commit marker of an end-of-batch commit is not stored; the message before it carries the commit.
            if (eob && i === rest.length - 1) break;
            if (eob && i === rest.length - 2) hdr = setHeader(hdr, HDR_BATCH_COMMIT, "1");
            stream.commitPrepared(stream.prepare(stream.transformedSubject(m.subject), hdr, m.data, true, undefined));
          }
        }
      }
    } catch (err) {
      stream.jsa.service.log.error(`JetStream stream '${stream.name}' could not restore a partial batch: ${(err as Error).message}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
