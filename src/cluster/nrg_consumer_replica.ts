// A tsnats server's copy of a nats-server consumer's state (issue 12's moonshot, experimental:
// `cluster { nrg_peer: true, nrg_peer_streams: true }`): the applier of the consumer's RAFT group
// (`C-...`) placed on this server. Committed entries are applied as nats-server's followers apply
// them (jetstream_cluster.go applyConsumerEntries, filestore.go consumerFileStore):
// - delivered (UpdateDelivered): a new stream sequence becomes pending with its delivery
//   sequence and time, a redelivery only refreshes the time and raises the redelivery count; a
//   delivery at or below the ack floor is old (a replay) and ignored; AckNone moves delivered and
//   the ack floor together;
// - ack (UpdateAcks): the redelivery count goes in any case; an ack of a message not pending is
//   ignored; AckAll (and AckFlowControl) moves the floor to it and drops everything pending below;
//   AckExplicit drops it and moves the floor as far as nothing is pending;
// - skip (UpdateStarting) and reset (Reset + SetStarting) of the starting sequence;
// - a leader's snapshot (the binary consumer state) replaces the state unless it is older.
// Pending pull requests are the leader's business and not kept. The state lives in the group's
// log: this server's compaction snapshot of the log is the state in nats-server's encoding.
// Acknowledged messages leave the stream's copy through the stream's own group (2.14+ leaders
// propose a message delete for each one a work-queue or interest stream no longer needs).
import type { NrgAppendEntry } from "./nrg_wire.js";
import { NrgEntryType } from "./nrg_wire.js";
import type { NrgApplier } from "./nrg_peer.js";
import type { NrgMetaConsumer } from "./nrg_meta_state.js";
import { subjectMatches } from "../protocol/subject.js";
import { decodeNrgConsumerEntry, decodeNrgConsumerState, encodeNrgConsumerState, type NrgConsumerEntry, type NrgConsumerState } from "../jetstream/nrg_entries.js";

interface Pending {
  deliverySequence: number;
  /** Nanoseconds since the epoch (whole seconds after a snapshot). */
  timestamp: bigint;
}

export class NrgConsumerReplica implements NrgApplier {
  delivered = { consumer: 0, stream: 0 };
  ackFloor = { consumer: 0, stream: 0 };
  /** By stream sequence. */
  readonly pending = new Map<number, Pending>();
  /** Stream sequence -> deliveries beyond the first. */
  readonly redelivered = new Map<number, number>();
  counters = { delivered: 0, acks: 0, skips: 0, resets: 0, snapshots: 0, ignored: 0 };
  lastError: string | undefined;
  /** Told of each delivered or ack entry once applied (the leader half sends what waited for the commit). */
  onApplied: ((entry: NrgConsumerEntry) => void) | undefined;
  /**
   * Told of the stream sequences an applied ack covers (with ack policy all, what was pending
   * below it too): the stream's leader on this server removes what no consumer needs any more
   * from an interest or work-queue stream (nats-server's processReplicatedAck → ackMsg).
   */
  onAcked: ((seqs: number[]) => void) | undefined;

  /** `consumer()` is the current assignment (its config may be updated). */
  constructor(private readonly consumer: () => NrgMetaConsumer | undefined) {}

  private get ackPolicy(): string {
    const p = this.consumer()?.config.ack_policy;
    return typeof p === "string" ? p : "none";
  }

  private get maxDeliver(): number {
    const m = this.consumer()?.config.max_deliver;
    return typeof m === "number" ? m : -1;
  }

  apply(_index: number, ae: NrgAppendEntry): void {
    for (const e of ae.entries) {
      if (e.type !== NrgEntryType.Normal && e.type !== NrgEntryType.Snapshot) continue;
      const entry = decodeNrgConsumerEntry(e);
      switch (entry.op) {
        case "delivered":
          this.updateDelivered(entry.deliverySequence, entry.streamSequence, entry.deliveryCount, entry.timestamp);
          break;
        case "ack": {
          // What ack policy all takes along, from the state before the ack (nats-server reads it first too).
          const below = this.onAcked !== undefined && this.ackPolicy !== "explicit" && this.ackPolicy !== "none" ? [...this.pending.keys()].filter((s) => s < entry.streamSequence) : [];
          this.updateAcks(entry.deliverySequence, entry.streamSequence);
          this.onAcked?.([entry.streamSequence, ...below]);
          break;
        }
        case "skip":
          this.counters.skips++;
          this.updateStarting(entry.streamSequence - 1);
          break;
        case "resetSequence":
          this.counters.resets++;
          this.clear();
          this.delivered.stream = this.ackFloor.stream = Math.max(0, entry.streamSequence - 1);
          break;
        case "snapshot":
          this.replace(entry.state);
          break;
        default:
          break;
      }
      if (entry.op === "delivered" || entry.op === "ack") this.onApplied?.(entry);
    }
  }

  private updateDelivered(dseq: number, sseq: number, dc: number, ts: bigint): void {
    const none = this.ackPolicy === "none";
    if ((dc !== 1 && none) || dseq <= this.ackFloor.consumer) {
      this.counters.ignored++;
      return;
    }
    this.counters.delivered++;
    if (none) {
      if (dseq > this.delivered.consumer) this.delivered.consumer = this.ackFloor.consumer = dseq;
      if (sseq > this.delivered.stream) this.delivered.stream = this.ackFloor.stream = sseq;
      return;
    }
    if (sseq <= this.delivered.stream) {
      // A redelivery keeps the original delivery sequence.
      const p = this.pending.get(sseq);
      if (p !== undefined) p.timestamp = ts;
    } else this.pending.set(sseq, { deliverySequence: dseq, timestamp: ts });
    if (dseq > this.delivered.consumer) this.delivered.consumer = dseq;
    if (sseq > this.delivered.stream) this.delivered.stream = sseq;
    if (dc > 1) {
      const max = this.maxDeliver;
      if (max > 0 && dc > max) this.pending.delete(sseq);
      if ((this.redelivered.get(sseq) ?? 0) < dc - 1) this.redelivered.set(sseq, dc - 1);
    }
  }

  private updateAcks(dseq: number, sseq: number): void {
    const policy = this.ackPolicy;
    if (policy === "none") {
      this.counters.ignored++;
      return;
    }
    this.redelivered.delete(sseq);
    const p = this.pending.get(sseq);
    if (dseq <= this.ackFloor.consumer || p === undefined) {
      this.counters.ignored++;
      return;
    }
    this.counters.acks++;
    if (policy === "all" || policy === "flow_control") {
      this.ackFloor.consumer = dseq;
      this.ackFloor.stream = sseq;
      for (const seq of [...this.pending.keys()]) {
        if (seq > sseq) continue;
        this.pending.delete(seq);
        this.redelivered.delete(seq);
      }
      return;
    }
    this.pending.delete(sseq);
    if (dseq > p.deliverySequence && p.deliverySequence > 0) dseq = p.deliverySequence;
    if (this.pending.size === 0) {
      this.ackFloor.consumer = this.delivered.consumer;
      this.ackFloor.stream = this.delivered.stream;
    } else if (dseq === this.ackFloor.consumer + 1) {
      this.ackFloor.consumer = dseq;
      this.ackFloor.stream = sseq;
      if (this.delivered.consumer > dseq) {
        // Up to the next pending message: the lowest stream sequence above this one.
        let next: number | undefined;
        for (const seq of this.pending.keys()) if (seq > sseq && (next === undefined || seq < next)) next = seq;
        const np = next === undefined ? undefined : this.pending.get(next);
        if (next !== undefined && np !== undefined && np.deliverySequence > 0) {
          this.ackFloor.consumer = np.deliverySequence - 1;
          this.ackFloor.stream = next - 1;
        }
      }
    }
  }

  /**
   * Whether this consumer still needs a stream message (nats-server's needAck from a follower's
   * stored state): past its ack floor, and not yet delivered, or pending, or redelivered.
   */
  needAck(sseq: number, subject: string): boolean {
    const config = this.consumer()?.config;
    if (config === undefined || !consumerWants(config, subject)) return false;
    let need = false;
    const policy = this.ackPolicy;
    if (sseq > this.ackFloor.stream) need = policy !== "explicit" || sseq > this.delivered.stream || this.pending.has(sseq);
    return need || this.redelivered.has(sseq);
  }

  private updateStarting(sseq: number): void {
    if (sseq <= this.delivered.stream) return;
    this.delivered.stream = sseq;
    if (this.ackPolicy === "none") this.ackFloor.stream = sseq;
  }

  private clear(): void {
    this.delivered = { consumer: 0, stream: 0 };
    this.ackFloor = { consumer: 0, stream: 0 };
    this.pending.clear();
    this.redelivered.clear();
  }

  /** A leader's (or our own compaction's) state: taken unless older than what is held (nats-server's Update). */
  private replace(state: NrgConsumerState): void {
    if (state.ackFloor.consumer > state.delivered.consumer || state.ackFloor.stream > state.delivered.stream) {
      this.lastError = "a snapshot whose ack floor is past its delivered sequences";
      return;
    }
    if (state.delivered.consumer < this.delivered.consumer || state.ackFloor.stream < this.ackFloor.stream) {
      this.counters.ignored++;
      return;
    }
    this.counters.snapshots++;
    this.clear();
    this.delivered = { ...state.delivered };
    this.ackFloor = { ...state.ackFloor };
    for (const p of state.pending) this.pending.set(p.streamSequence, { deliverySequence: p.deliverySequence, timestamp: BigInt(p.timestampSeconds) * 1_000_000_000n });
    for (const r of state.redelivered) this.redelivered.set(r.streamSequence, r.count);
  }

  install(data: Buffer, _index: number): void {
    if (data.length === 0) return;
    try {
      this.replace(decodeNrgConsumerState(data));
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  /** The log was started over: its replay or the leader's snapshot builds the state again. */
  reset(): void {
    this.clear();
  }

  /** The state as nats-server's consumer snapshot encodes it (this member's log compaction). */
  snapshot(): Buffer {
    return encodeNrgConsumerState(this.state(), Math.round(Date.now() / 1000));
  }

  state(): NrgConsumerState {
    return {
      ackFloor: { ...this.ackFloor },
      delivered: { ...this.delivered },
      pending: [...this.pending.entries()].sort((a, b) => a[0] - b[0]).map(([streamSequence, p]) => ({ streamSequence, deliverySequence: p.deliverySequence, timestampSeconds: Number(p.timestamp / 1_000_000_000n) })),
      redelivered: [...this.redelivered.entries()].sort((a, b) => a[0] - b[0]).map(([streamSequence, count]) => ({ streamSequence, count })),
    };
  }

  /** /jsz: the consumer state as nats-server's consumer info names it. */
  json(): Record<string, unknown> {
    return {
      delivered: { consumer_seq: this.delivered.consumer, stream_seq: this.delivered.stream },
      ack_floor: { consumer_seq: this.ackFloor.consumer, stream_seq: this.ackFloor.stream },
      num_ack_pending: this.pending.size,
      num_redelivered: this.redelivered.size,
      counters: { ...this.counters },
      ...(this.lastError !== undefined ? { last_error: this.lastError } : {}),
    };
  }
}

/** Whether a consumer's filters take this subject (none: every subject). */
export function consumerWants(config: Record<string, unknown>, subject: string): boolean {
  const filters = Array.isArray(config.filter_subjects) ? config.filter_subjects.filter((f): f is string => typeof f === "string" && f !== "") : [];
  if (typeof config.filter_subject === "string" && config.filter_subject !== "") filters.push(config.filter_subject);
  return filters.length === 0 || filters.some((f) => subjectMatches(f, subject));
}
