// Group commit: many writers share one fsync.
//
// A writer notes each write it needs made durable (`noteWrite`) and asks to be told once it
// is (`whenDurable`). A request while no round is in flight starts one at once (the disk is
// idle: the fsync runs in the thread pool while the turn goes on); a request while rounds are
// in flight starts the next one at the end of the turn (setImmediate), so every later write
// of the turn rides on the same fsync. Rounds may overlap (up to `maxInFlight`): a round
// started while another is in flight covers what was written since, and the kernel folds
// concurrent fsyncs of one file system into the same journal commit and device flush, so a
// writer waits about one fsync, not the rest of the round in flight plus its own. Beyond
// `maxInFlight`, writers wait for the next round, which starts when one ends and covers
// everything written meanwhile. Under load each round makes a batch of writes durable: the
// fsync is paid per batch, not per write.
//
// A round that completes makes durable everything noted before it started (an fsync covers
// every write issued before it), whatever the other rounds do; the round itself (which files
// to sync, how) belongs to the owner: the file store syncs its block files, a replicated log
// can sync its own. Waiting costs no allocation per write: callers are kept in order with
// the generation they wait for.

/** One sync round: make every write noted so far durable, then call `done` (once). */
export type SyncRound = (done: (err: Error | null) => void) => void;
export type DurableCallback = (err: Error | null) => void;

export class GroupCommit {
  /** Generation of the last write noted. */
  private written = 0;
  /** Every write up to this generation is durable. */
  private durable = 0;
  /** Highest generation a started round covers. */
  private started = 0;
  private inFlight = 0;
  private scheduled = false;
  // waiters: the generation each waits for, and its callback (parallel arrays, in order)
  private targets: number[] = [];
  private callbacks: DurableCallback[] = [];
  /** Emptied arrays to swap in (none while a settle is calling waiters). */
  private spareTargets: number[] | undefined = [];
  private spareCallbacks: DurableCallback[] | undefined = [];
  /** Sync rounds run (statistics). */
  rounds = 0;

  constructor(
    private readonly round: SyncRound,
    private readonly maxInFlight = 1,
  ) {}

  /** A write that the next round must make durable. */
  noteWrite(): void {
    this.written++;
  }

  /** Writes noted and not yet durable? */
  get pending(): boolean {
    return this.written > this.durable;
  }

  /**
   * Call `cb` once every write noted before this call is durable (at once when it already is),
   * with the error of the round that failed to make it so.
   */
  whenDurable(cb: DurableCallback): void {
    if (this.written <= this.durable) {
      cb(null);
      return;
    }
    this.targets.push(this.written);
    this.callbacks.push(cb);
    if (this.written <= this.started) return;
    // Nothing in flight: the round starts now rather than at the end of the turn. A turn
    // that reads a window of publishes in several chunks has the first chunk's fsync running
    // while it parses the rest (which ride on the next round): the first acks go out a round
    // earlier, and the publisher sends on while the server works.
    if (this.inFlight === 0) this.run();
    else this.schedule();
  }

  /** Everything noted counts as durable (the owner synced it some other way, e.g. on close); waiters are told. */
  markAllDurable(): void {
    this.durable = this.written;
    this.settle(this.written, null);
  }

  /** Tell every waiter `err` (the owner is gone). */
  failAll(err: Error): void {
    this.settle(Number.MAX_SAFE_INTEGER, err);
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(this.start);
  }

  private readonly start = (): void => {
    this.scheduled = false;
    if (this.inFlight >= this.maxInFlight || this.written <= this.started) return;
    this.run();
  };

  private run(): void {
    this.inFlight++;
    this.rounds++;
    const gen = this.written;
    this.started = gen;
    let called = false;
    this.round((err) => {
      if (called) return;
      called = true;
      this.inFlight--;
      if (err === null) {
        if (gen > this.durable) this.durable = gen;
        this.settle(this.durable, null);
      } else {
        this.settle(gen, err);
      }
      // writers that came while the rounds were full: the next round starts right away
      const t = this.targets;
      if (t.length > 0 && t[t.length - 1]! > this.started) this.schedule();
    });
  }

  /** Call the waiters whose generation is covered by `gen` (in order). */
  private settle(gen: number, err: Error | null): void {
    const t = this.targets;
    let k = 0;
    while (k < t.length && t[k]! <= gen) k++;
    if (k === 0) return;
    // Swap in the spare arrays (callbacks may wait again while being called), keep the rest.
    const cbs = this.callbacks;
    this.targets = this.spareTargets ?? [];
    this.callbacks = this.spareCallbacks ?? [];
    this.spareTargets = undefined;
    this.spareCallbacks = undefined;
    for (let i = k; i < t.length; i++) {
      this.targets.push(t[i]!);
      this.callbacks.push(cbs[i]!);
    }
    for (let i = 0; i < k; i++) {
      try {
        cbs[i]!(err);
      } catch {
        // a waiter's failure is its own; the others are still told
      }
    }
    t.length = 0;
    cbs.length = 0;
    this.spareTargets = t;
    this.spareCallbacks = cbs;
  }
}
