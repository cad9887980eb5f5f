// A tsnats stream leader serving `$JSC.SYNC` catch-ups to nats-server 2.15 followers (issue 12's
// moonshot, `nrg_peer_lead`). A follower installing the leader's snapshot whose store is behind
// it asks on the assignment's sync subject for the messages it lacks ({peer, first_seq,
// last_seq, delete_ranges, min_applied}, reply: its inbox); the leader (jetstream_cluster.go
// runCatchup) answers with each message as a stream message entry whose sequence field is the
// message's own sequence, a deleted sequence as a skip message (a run of them as a delete range
// entry when delete_ranges), and an empty message at the end. Each message carries a reply
// `$JSC.ACK.<token>.<size>` the follower answers (empty: received; text: it aborts), so the
// leader keeps at most a window of messages and bytes outstanding; a catch-up without an answer
// for 10 s stops (the follower asks again).
import { randomBytes } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { s2EncodeBlock } from "../storage/s2.js";
import { encodeNrgDeleteRange, encodeNrgStreamMsg, NrgEntryOp, type NrgStreamMsg } from "../jetstream/nrg_entries.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";

/** nats-server's runCatchup window (maxOutBytes, maxOutMsgs) and its stall interval (streamCatchupActivityInterval). */
const MAX_OUT_BYTES = 64 * 1024 * 1024;
const MAX_OUT_MSGS = 256 * 1024;
const ACTIVITY_MS = 10_000;
/** nats-server compresses a stream message entry above this size. */
const COMPRESS_THRESHOLD = 8192;

interface SyncRequest {
  peer: string;
  first: number;
  last: number;
  deleteRanges: boolean;
  minApplied: number;
}

function parseSyncRequest(body: Buffer): SyncRequest | undefined {
  try {
    const j = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    const n = (k: string): number => (typeof j[k] === "number" && Number.isSafeInteger(j[k]) && (j[k] as number) >= 0 ? (j[k] as number) : 0);
    return { peer: typeof j.peer === "string" ? j.peer : "", first: n("first_seq"), last: n("last_seq"), deleteRanges: j.delete_ranges === true, minApplied: n("min_applied") };
  } catch {
    return undefined;
  }
}

/** A stream message entry as a catch-up sends it: S2-compressed above 8 KiB when that is smaller. */
function catchupEntry(m: NrgStreamMsg): Buffer {
  const plain = encodeNrgStreamMsg(m);
  if (Buffer.byteLength(m.subject, "latin1") + m.header.length + m.data.length <= COMPRESS_THRESHOLD) return plain;
  const z = s2EncodeBlock(plain.subarray(1));
  return z.length + 1 >= plain.length ? plain : Buffer.concat([Buffer.from([NrgEntryOp.CompressedStreamMsg]), z]);
}

/** One catch-up being sent. */
class Catchup {
  private seq: number;
  private outMsgs = 0;
  private outBytes = 0;
  private readonly ackSub: Subscription;
  private readonly ackPrefix: string;
  private activity: NodeJS.Timeout;
  private done = false;
  /** A run of deleted sequences not sent yet. */
  private drFirst = 0;
  private drNum = 0;

  constructor(
    private readonly sys: Account,
    private readonly replica: NrgStreamReplica,
    private readonly to: string,
    private readonly req: SyncRequest,
    private readonly onEnd: (c: Catchup) => void,
  ) {
    this.seq = Math.max(req.first, 1);
    this.ackPrefix = `$JSC.ACK.${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`;
    this.ackSub = sys.subscribeInternal(`${this.ackPrefix}.*`, (subject, _r, _h, payload) => this.onAck(subject, payload), undefined, "nrg-stream-catchup-ack");
    this.activity = setTimeout(() => this.end(), ACTIVITY_MS);
    this.activity.unref?.();
  }

  stop(): void {
    this.end();
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.activity);
    this.sys.unsubscribeInternal(this.ackSub);
    this.onEnd(this);
  }

  private onAck(subject: string, payload: Buffer): void {
    if (this.done) return;
    // A text is the follower giving up (it asks again).
    if (payload.length > 0) {
      this.end();
      return;
    }
    const size = Number(subject.slice(subject.lastIndexOf(".") + 1));
    this.outBytes = Math.max(0, this.outBytes - (Number.isFinite(size) ? size : 0));
    this.outMsgs = Math.max(0, this.outMsgs - 1);
    this.activity.refresh();
    this.send();
  }

  private sendTracked(em: Buffer): void {
    this.outMsgs++;
    this.outBytes += em.length;
    this.sys.publish(this.to, `${this.ackPrefix}.${em.length}`, undefined, em);
  }

  private flushRange(): void {
    if (this.drNum === 0) return;
    // One deleted sequence goes as a skip message; a run as a delete range, untracked.
    if (this.drNum === 1) this.sendTracked(encodeNrgStreamMsg({ lastSequence: this.drFirst, timestamp: 0n, subject: "", reply: "", header: Buffer.alloc(0), data: Buffer.alloc(0), sourced: false, flags: 0n }));
    else this.sys.publish(this.to, "", undefined, encodeNrgDeleteRange(this.drFirst, this.drNum));
    this.drFirst = 0;
    this.drNum = 0;
  }

  /** Send what the window allows; the end once the last sequence went. */
  send(): void {
    const store = this.replica.store;
    const last = this.req.last;
    while (!this.done && this.seq <= last && this.outBytes <= MAX_OUT_BYTES && this.outMsgs <= MAX_OUT_MSGS) {
      const seq = this.seq++;
      const m = store.loadMsg(seq);
      if (m !== null) {
        this.flushRange();
        this.sendTracked(catchupEntry({ lastSequence: seq, timestamp: m.time, subject: m.subject, reply: "", header: m.hdr ?? Buffer.alloc(0), data: m.data, sourced: false, flags: 0n }));
      } else if (this.req.deleteRanges) {
        if (this.drNum === 0) this.drFirst = seq;
        this.drNum++;
      } else {
        this.sendTracked(encodeNrgStreamMsg({ lastSequence: seq, timestamp: 0n, subject: "", reply: "", header: Buffer.alloc(0), data: Buffer.alloc(0), sourced: false, flags: 0n }));
      }
    }
    if (this.done || this.seq <= last) return;
    this.flushRange();
    // The end of the catch-up.
    this.sys.publish(this.to, "", undefined, Buffer.alloc(0));
    this.end();
  }
}

/** The `$JSC.SYNC` subscription of a stream this server leads, and the catch-ups it runs. */
export class NrgCatchupServer {
  private sub: Subscription | undefined;
  private readonly running = new Set<Catchup>();
  counters = { requests: 0, served: 0, refused: 0 };

  constructor(
    private readonly sys: Account,
    private readonly replica: NrgStreamReplica,
    /** The group's log position and applied index (a request asking for more than applied waits for the follower's retry). */
    private readonly progress: () => { lastIndex: number; applied: number },
    /** The store does not hold what the follower asks for: nats-server's leader steps down. */
    private readonly stepDown: () => void,
  ) {}

  start(): void {
    const subject = this.replica.stream.sync;
    if (subject === "" || !subject.startsWith("$JSC.SYNC.")) return;
    this.sub = this.sys.subscribeInternal(subject, (_s, reply, _h, payload) => this.onRequest(reply, Buffer.from(payload)), undefined, "nrg-stream-sync");
  }

  stop(): void {
    if (this.sub !== undefined) this.sys.unsubscribeInternal(this.sub);
    this.sub = undefined;
    for (const c of [...this.running]) c.stop();
  }

  private onRequest(reply: string, body: Buffer): void {
    if (reply === "") return;
    const req = parseSyncRequest(body);
    if (req === undefined) return;
    this.counters.requests++;
    const { lastIndex, applied } = this.progress();
    // Our log holds what the follower's snapshot came from but we have not applied it yet: it retries.
    if (lastIndex >= req.minApplied && applied < req.minApplied) {
      this.counters.refused++;
      return;
    }
    if (this.replica.store.lastSequence() < req.last) {
      this.counters.refused++;
      this.stepDown();
      return;
    }
    this.counters.served++;
    const c = new Catchup(this.sys, this.replica, reply, req, (done) => this.running.delete(done));
    this.running.add(c);
    c.send();
  }

  json(): Record<string, unknown> {
    return { ...this.counters, running: this.running.size };
  }
}
