// Publishers held back while a receiver catches up (see outbound.ts), behind one timer.
//
// A stall ends when the receiver drains below its stall mark, or after a time limit at the
// latest: a receiver that stopped reading must not block its publishers for good (it is cut
// as a slow consumer instead, once its pending bytes pass max_pending or its writes make no
// progress for write_deadline). A publisher's socket is paused after the read that stalled
// it, so it is held back at most once per read.
//
// How long a stall may last depends on who waits for whom (`stallLimitMs`):
// - a client publishing to a client: briefly, as nats-server stalls a fast producer (a few ms
//   per read), so one slow subscriber costs its publishers little and is cut if it stays slow;
// - a route, leaf node or gateway delivering to a client that is behind: the connection's
//   reads pause until the client catches up (up to a second at a time), so the other server's
//   messages wait there instead of the client being cut at max_pending and losing them
//   (nats-server does not stall server connections; here back-pressure crosses the route:
//   that route's outbound fills on the other server, which holds its publishers back);
// - anyone sending to a route, leaf node or gateway that is behind: the same longer limit, since
//   cutting that connection at max_pending would lose what it carries for everyone.

/** What the queue needs of a publisher. */
export interface StalledPublisher {
  /** When the current stall ends at the latest (ms since the epoch); owned by the queue. */
  stalledUntil: number;
  /** Undo the stall (resume reading); the publisher leaves the queue by `remove`. */
  resumeReading(): void;
}

/** A client publisher held back by a client receiver: at most this long per read. */
export const CLIENT_STALL_MS = 10;
/** A stall that involves a server connection (route, leaf node, gateway): at most this long per read. */
export const SERVER_CONNECTION_STALL_MS = 1000;

/** How long `publisher` may be held back at a time by `receiver` (see above). */
export function stallLimitMs(publisher: { readonly kind: string }, receiver: { readonly kind: string }): number {
  return publisher.kind === "client" && receiver.kind === "client" ? CLIENT_STALL_MS : SERVER_CONNECTION_STALL_MS;
}

export class StallQueue<T extends StalledPublisher> {
  private readonly stalled = new Set<T>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  get size(): number {
    return this.stalled.size;
  }

  /** `p` was paused now, for `ms` at most. */
  add(p: T, ms: number): void {
    const until = Date.now() + ms;
    p.stalledUntil = until;
    this.stalled.add(p);
    if (until < this.timerAt) this.arm(until);
  }

  /** `p` resumed (its receiver caught up) or is gone. */
  remove(p: T): void {
    this.stalled.delete(p);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.stalled.clear();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.run, Math.max(1, at - Date.now()));
    this.timer.unref();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const p of this.stalled) {
      if (p.stalledUntil <= now) p.resumeReading();
      else if (p.stalledUntil < next) next = p.stalledUntil;
    }
    if (next !== Infinity && this.stalled.size > 0) this.arm(next);
  };
}
