// The timers of a listener of server connections (route, gateway and leaf node retries and
// reconnects, waits between attempts): none keeps the process alive, and shutdown cancels
// them all at once, waking whoever waits in `sleep` so its loop can see it is stopping.
export class ListenerTimers {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();

  /** Run `fn` in `ms`, unless cancelled first. */
  later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Resolves after `ms`, or as soon as the timers are cancelled. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.sleepers.delete(done);
        resolve();
      };
      this.sleepers.add(done);
      this.later(done, ms);
    });
  }

  cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
  }
}
