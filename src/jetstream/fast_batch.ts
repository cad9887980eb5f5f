// Fast batch publish (nats-server 2.14, `allow_batched`): a publisher streams messages into
// a stream without waiting for each PubAck. Everything about the batch is in the reply
// subject, `<prefix>.<batch id>.<initial flow>.<gap mode>.<batch seq>.<op>.$FI` (op 0 start,
// 1 append, 2 commit with this message, 3 end of batch, 4 ping). Messages are stored as
// they come (no staging, no atomicity); the stream answers on the reply subjects with flow
// control: `{"type":"ack","seq":N,"msgs":M}` (stored up to N; ack again every M messages,
// ramped up towards 500 shared among the stream's batches), `{"type":"gap",...}` for lost
// sequences, `{"type":"err","seq":N,"error":{...}}` for a message that failed, and the
// PubAck with "batch" and "count" at the end. With gap mode "fail" a gap ends the batch
// (committed up to what was stored); with "ok" the batch goes on. Ten seconds without a
// message drop the batch. Follows nats-server's processJetStreamFastBatchMsg step by step
// (storing here is synchronous, so nothing is ever pending between a message and its store).
import { getHeader, removeHeaders } from "../protocol/headers.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet } from "./api_level.js";
import { ApiError, jsError } from "./errors.js";
import { batchOverrides } from "./server_limits.js";
import { storeErrorToApi, type Prepared, type Stream } from "./stream.js";

export const FAST_BATCH_SUFFIX = ".$FI";
const MAX_INFLIGHT_PER_STREAM = 1000;
const MAX_INFLIGHT_TOTAL = 50_000;
const BATCH_TIMEOUT_MS = 10_000;
const MAX_BATCH_ID = 64;

const OP_START = 0;
const OP_APPEND = 1;
const OP_COMMIT = 2;
const OP_COMMIT_EOB = 3;
const OP_PING = 4;

/** Fast batches in flight across all streams of the process. */
let inflightTotal = 0;

/** What a reply subject says about the message (nats-server's FastBatch). */
export interface FastBatchRef {
  id: string;
  seq: number;
  flow: number;
  ping: boolean;
  gapOk: boolean;
  commit: boolean;
  commitEob: boolean;
}

/**
 * Read a fast-batch reply subject: undefined when it is not one (no `.$FI` suffix), null
 * when it is one with an invalid pattern (nats-server's getFastBatch).
 */
export function parseFastBatchReply(reply: string): FastBatchRef | null | undefined {
  if (reply.length <= 4 || !reply.endsWith(FAST_BATCH_SUFFIX)) return undefined;
  const t = reply.substring(0, reply.length - 4).split(".");
  if (t.length < 6) return null;
  const [id, flowText, gapMode, seqText, opText] = t.slice(-5) as [string, string, string, string, string];
  const op = goParseInt(opText);
  if (op < OP_START || op > OP_PING) return null;
  if (!/^\d+$/.test(seqText)) return null;
  const seqBig = BigInt(seqText);
  if (seqBig === 0n || seqBig >= 2n ** 64n - 1n) return null;
  const seq = Number(seqBig);
  const commitEob = op === OP_COMMIT_EOB;
  if (seq === 1 && commitEob) return null;
  if (op === OP_START && seq !== 1) return null;
  if (op === OP_APPEND && seq <= 1) return null;
  if (gapMode !== "fail" && gapMode !== "ok") return null;
  let flow = goParseInt(flowText);
  if (flow <= 0) flow = 10;
  else if (flow > 65535) flow = 65535;
  return { id, seq, flow, ping: op === OP_PING, gapOk: gapMode === "ok", commit: commitEob || op === OP_COMMIT, commitEob };
}

/** nats-server's parseInt64: digits only, else -1. */
function goParseInt(s: string): number {
  if (s.length === 0 || s.length > 18 || !/^\d+$/.test(s)) return -1;
  return Number(s);
}

class FastBatch {
  timer: NodeJS.Timeout | undefined;
  /** Highest batch sequence seen. */
  lseq = 0;
  /** Last stored stream sequence. */
  sseq = 0;
  /** Last stored batch sequence. */
  pseq = 0;
  /** Batch sequence of the last flow control message. */
  fseq = 0;
  ackMessages = 1;
  commit = false;
  /** Replicated: messages proposed and not yet applied. */
  inflight = 0;
  constructor(
    readonly id: string,
    readonly gapOk: boolean,
    readonly maxAckMessages: number,
  ) {}
}

export class FastBatches {
  private readonly batches = new Map<string, FastBatch>();

  constructor(
    private readonly stream: Stream,
    /** Send a reply (flow control, PubAck) in order with the stream's other answers. */
    private readonly send: (reply: string, json: string) => void,
  ) {}

  /** One message whose reply subject ends in `.$FI` (`ref` null: its pattern is invalid). */
  process(ref: FastBatchRef | null, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    const stream = this.stream;
    const cfg = stream.cfg;
    const canRespond = !cfg.no_ack && reply !== "";
    const respondError = (e: ApiError): void => {
      if (canRespond) this.send(reply, `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(cfg.name)},"seq":0}`);
    };
    if (cfg.sealed) return respondError(jsError("JSStreamSealedErr"));
    const hlen = hdr?.length ?? 0;
    if (cfg.max_msg_size >= 0 && (hlen > cfg.max_msg_size || payload.length > cfg.max_msg_size - hlen)) {
      return respondError(jsError("JSStreamMessageExceedsMaximumErr"));
    }
    if (!cfg.allow_batched) return respondError(jsError("JSBatchPublishDisabledErr"));
    if (ref === null) return respondError(jsError("JSBatchPublishInvalidPatternErr"));
    if (ref.id.length > MAX_BATCH_ID) return respondError(jsError("JSBatchPublishInvalidBatchIDErr"));

    let b = this.batches.get(ref.id);
    if (b === undefined) {
      if (ref.seq !== 1) return respondError(jsError("JSBatchPublishUnknownBatchIDErr"));
      const lim = batchOverrides(this.stream.jsa.service.options);
      if (this.batches.size + 1 > (lim.maxInflightPerStream ?? MAX_INFLIGHT_PER_STREAM) || inflightTotal + 1 > (lim.maxInflightTotal ?? MAX_INFLIGHT_TOTAL)) {
        return respondError(jsError("JSBatchPublishTooManyInflight"));
      }
      b = new FastBatch(ref.id, ref.gapOk, ref.flow);
      this.batches.set(ref.id, b);
      inflightTotal++;
      // Alone, a publisher gets what it asks for (up to 500); with others it starts slow.
      b.ackMessages = this.batches.size > 1 ? 1 : Math.min(500, b.maxAckMessages);
    }
    // A required API level may refuse the batch; the header is never stored.
    const level = hdr !== undefined ? getHeader(hdr, HDR_REQUIRED_API_LEVEL) : undefined;
    if (level !== undefined) {
      if (requiredLevelUnmet(level)) {
        this.cleanup(b);
        return respondError(jsError("JSRequiredApiLevelErr"));
      }
      hdr = removeHeaders(hdr!, (k) => k === HDR_REQUIRED_API_LEVEL);
    }
    this.armTimer(b);

    if (ref.ping) {
      // A ping resends where the batch is (and reports a gap it shows).
      let sendFlow = true;
      if (ref.seq > b.lseq) {
        this.send(reply, `{"type":"gap","last_seq":${b.lseq + 1},"seq":${ref.seq + 1}}`);
        if (b.gapOk) {
          b.lseq = ref.seq;
          b.pseq = b.lseq;
          sendFlow = !this.checkFlowControl(b, reply);
        } else {
          this.commitBatch(b, reply);
          sendFlow = false;
        }
      }
      if (sendFlow) this.sendFlow(b, b.fseq, reply);
      return;
    }

    // Gaps: reported forward; with "ok" the batch goes on, else it ends here.
    b.lseq++;
    if (b.lseq !== ref.seq) {
      if (ref.seq > b.lseq) this.send(reply, `{"type":"gap","last_seq":${b.lseq},"seq":${ref.seq}}`);
      if (b.gapOk && ref.seq > b.lseq) {
        b.lseq = ref.seq;
      } else {
        b.lseq--;
        this.commitBatch(b, reply);
        return;
      }
    }

    if (ref.commit) {
      if (ref.commitEob) {
        // The end-of-batch marker is not stored: commit what is.
        b.lseq--;
        b.pseq = b.lseq;
        this.commitBatch(b, reply);
        return;
      }
      b.commit = true;
    }
    // The first message answers with the flow settings (unless it commits at once).
    if (ref.seq === 1 && canRespond && !ref.commit) this.send(reply, `{"type":"ack","seq":0,"msgs":${b.ackMessages}}`);

    let p: Prepared;
    try {
      p = stream.prepare(stream.transformedSubject(subject), hdr, payload, false, undefined);
    } catch (err) {
      this.failed(b, ref, reply, canRespond, err);
      return;
    }
    if (p.duplicateOf !== undefined) {
      // A duplicate is skipped: it counts as stored for flow control.
      b.pseq = ref.seq;
      this.checkFlowControl(b, reply);
      if (!ref.commit) return;
      if (!b.gapOk && b.lseq === 1) {
        // A batch whose first message is its commit is answered like a single publish.
        this.cleanup(b);
        if (canRespond) this.send(reply, `${stream.pubAckPrefix}${p.duplicateOf},"duplicate": true,"batch":${JSON.stringify(b.id)},"count":${ref.seq}}`);
        return;
      }
      this.commitBatch(b, reply);
      return;
    }
    if (stream.replica !== undefined) {
      // Replicated: proposed; the rest follows once it is applied (the leader takes the batch's
      // next message only then, so nothing else of it runs in between).
      b.inflight++;
      stream.replica.proposePrepared(p, (r) => {
        b.inflight--;
        if (this.batches.get(b.id) !== b) return;
        if (typeof r === "number") this.stored(b, r, ref.seq, reply);
        else this.failed(b, ref, reply, canRespond, r);
      });
      return;
    }
    let ack: string;
    try {
      ack = stream.commitPrepared(p);
    } catch (err) {
      this.failed(b, ref, reply, canRespond, err);
      return;
    }
    this.stored(b, storedSeq(ack), ref.seq, reply);
  }

  /** A message of the batch failed its checks or its store: reported, and the batch goes on (gaps "ok") or ends. */
  private failed(b: FastBatch, ref: FastBatchRef, reply: string, canRespond: boolean, err: unknown): void {
    const e = err instanceof ApiError ? err : storeErrorToApi(err);
    if (!b.gapOk && b.lseq === 1) {
      this.cleanup(b);
      if (canRespond) this.send(reply, `{"error":${JSON.stringify(e.toJSON())},"stream":${JSON.stringify(this.stream.cfg.name)},"seq":0}`);
      return;
    }
    this.send(reply, `{"type":"err","seq":${ref.seq},"error":${JSON.stringify(e.toJSON())}}`);
    if (b.gapOk && !ref.commit) return;
    b.lseq--;
    b.pseq = b.lseq;
    b.commit = false;
    this.commitBatch(b, reply);
  }

  /** Batch message `batchSeq` stored at `seq`: where the batch is now, then the PubAck (commit, once nothing is in flight) or flow control. */
  private stored(b: FastBatch, seq: number, batchSeq: number, reply: string): void {
    b.sseq = seq;
    b.pseq = batchSeq;
    if (b.commit && b.inflight === 0) {
      this.cleanup(b);
      this.sendPubAck(b, reply);
      return;
    }
    this.checkFlowControl(b, reply);
  }

  /** End the batch with what was stored: the PubAck with its count. */
  private commitBatch(b: FastBatch, reply: string): void {
    // Replicated: messages still being applied end the batch (the last one answers).
    if (b.inflight > 0) {
      b.commit = true;
      return;
    }
    this.cleanup(b);
    this.sendPubAck(b, reply);
  }

  private sendPubAck(b: FastBatch, reply: string): void {
    if (reply === "") return;
    this.send(reply, `${this.stream.pubAckPrefix}${b.sseq},"batch":${JSON.stringify(b.id)},"count":${b.lseq}}`);
  }

  /** Flow control every `ackMessages` stored messages, its pace adapted to the stream's batches. */
  private checkFlowControl(b: FastBatch, reply: string): boolean {
    const am = b.ackMessages;
    if (b.pseq < b.fseq + am) return false;
    b.fseq += Math.floor((b.pseq - b.fseq) / am) * am;
    const maxAck = Math.min(Math.max(1, Math.floor(500 / this.batches.size)), b.maxAckMessages);
    if (b.ackMessages < maxAck) b.ackMessages = Math.min(b.ackMessages * 2, maxAck);
    else if (b.ackMessages > maxAck) b.ackMessages = Math.max(Math.floor(b.ackMessages / 2), maxAck);
    this.sendFlow(b, b.fseq, reply);
    return true;
  }

  private sendFlow(b: FastBatch, seq: number, reply: string): void {
    if (reply === "") return;
    this.send(reply, `{"type":"ack","seq":${seq},"msgs":${b.ackMessages}}`);
  }

  private armTimer(b: FastBatch): void {
    if (b.timer !== undefined) clearTimeout(b.timer);
    b.timer = setTimeout(() => this.cleanup(b), batchOverrides(this.stream.jsa.service.options).timeoutMs ?? BATCH_TIMEOUT_MS);
    b.timer.unref();
  }

  private cleanup(b: FastBatch): void {
    if (this.batches.get(b.id) !== b) return;
    if (b.timer !== undefined) clearTimeout(b.timer);
    b.timer = undefined;
    this.batches.delete(b.id);
    inflightTotal--;
  }

  /** allow_batched turned off, or the stream stops: batches in flight are dropped. */
  clear(): void {
    for (const b of [...this.batches.values()]) this.cleanup(b);
  }
}

/** The stream sequence of a PubAck (`..."seq":N...`). */
function storedSeq(ack: string): number {
  const m = /"seq":(\d+)/.exec(ack);
  return m === null ? 0 : Number(m[1]);
}
