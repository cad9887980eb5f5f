// Publishers held back while a receiver catches up (see outbound.ts), behind one timer.
//
// A stall ends when the receiver drains below its stall mark, or after `maxMs` at the
// latest, as nats-server bounds its stalls: a receiver that stopped reading must not block
// its publishers for good (it is cut as a slow consumer instead, once its pending bytes
// pass max_pending or its writes make no progress for write_deadline). A publisher's socket
// is paused after the read that stalled it, so it is held back at most once per read.

/** What the queue needs of a publisher. */
export interface StalledPublisher {
  /** When the current stall began (ms since the epoch); owned by the queue. */
  stalledAt: number;
  /** Undo the stall (resume reading); the publisher leaves the queue by `remove`. */
  resumeReading(): void;
}

export class StallQueue<T extends StalledPublisher> {
  private readonly stalled = new Set<T>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly maxMs: number) {}

  get size(): number {
    return this.stalled.size;
  }

  /** `p` was paused now. */
  add(p: T): void {
    p.stalledAt = Date.now();
    this.stalled.add(p);
    if (this.timer === undefined) this.arm(this.maxMs);
  }

  /** `p` resumed (its receiver caught up) or is gone. */
  remove(p: T): void {
    this.stalled.delete(p);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.stalled.clear();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.run, Math.max(1, ms));
    this.timer.unref();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    const now = Date.now();
    let next = Infinity;
    for (const p of this.stalled) {
      const due = p.stalledAt + this.maxMs;
      if (due <= now) p.resumeReading();
      else if (due < next) next = due;
    }
    if (this.stalled.size > 0) this.arm(next === Infinity ? this.maxMs : next - now);
  };
}
