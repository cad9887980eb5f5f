// An atomic batch as a replica of a nats-server stream receives it (2.12+ `allow_atomic`, issue
// 12's moonshot): the leader proposes each message of the batch as its own entry (batchMsgOp,
// the last one batchCommitMsgOp, each naming the batch id and its 1-based place), possibly over
// several append entries. Facts from jetstream_cluster.go applyStreamEntries and
// jetstream_batching.go rejectBatchState: nothing of a batch is applied before its commit entry;
// then every message is applied in order as a plain stream message. A batch is abandoned (none of
// it applied, each of its entries counted as a failed proposal, clfs) when another batch or any
// other entry comes before its commit, or when a place is skipped. An entry of a batch seen
// without its first one (the member came up inside a batch) is one failed proposal, unless it is
// a replay of messages the store already holds.
import type { NrgStreamMsg } from "../jetstream/nrg_entries.js";

export interface NrgBatchMsg {
  batchId: string;
  batchSequence: number;
  commit: boolean;
  msg: NrgStreamMsg;
}

/** What one batch entry leads to: failed proposals to count (an abandoned batch), and at its commit the messages to apply, in order. */
export interface NrgBatchStep {
  failed: number;
  commit?: NrgStreamMsg[];
}

export class NrgBatchBuffer {
  private id = "";
  private msgs: NrgStreamMsg[] = [];
  /** The log index of the entry holding the batch's first message (0: no batch open). */
  startIndex = 0;

  get open(): boolean {
    return this.id !== "";
  }

  /** Abandoned by an entry that is not part of it: its messages count as failed proposals. */
  abandon(): number {
    const failed = this.msgs.length;
    this.clear();
    return failed;
  }

  clear(): void {
    this.id = "";
    this.msgs = [];
    this.startIndex = 0;
  }

  /**
   * One batch entry at log index `index`. A previous batch this entry abandons (another id, or a
   * new first message) is counted in the returned failures.
   */
  add(index: number, b: NrgBatchMsg): NrgBatchStep {
    let failed = 0;
    if (this.id !== "" && (b.batchId !== this.id || b.batchSequence === 1)) failed += this.abandon();
    if (b.batchSequence === 1) this.startIndex = index;
    this.id = b.batchId;
    this.msgs.push(b.msg);
    // A place skipped, or an entry of a batch whose start this member never saw.
    if (b.batchSequence !== this.msgs.length) return { failed: failed + this.abandon() };
    if (!b.commit) return { failed };
    const msgs = this.msgs;
    this.clear();
    return { failed, commit: msgs };
  }
}
