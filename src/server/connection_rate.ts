// `tls { connection_rate_limit }`: at most this many new TLS client connections per second;
// the rest are told to come back later and closed. The count restarts one second after the
// first connection of a window, as in nats-server; refusals are totalled for a periodic log.
export class ConnectionRate {
  private windowEnd = 0;
  private count = 0;
  private refused = 0;

  constructor(private readonly perSecond: number) {}

  /** Count a new connection; false when it is over the limit. */
  allow(now = Date.now()): boolean {
    if (now > this.windowEnd) {
      this.count = 0;
      this.windowEnd = now + 1000;
    } else {
      this.count++;
    }
    const ok = this.count < this.perSecond;
    if (!ok) this.refused++;
    return ok;
  }

  /** Connections refused since the last call. */
  takeRefused(): number {
    const n = this.refused;
    this.refused = 0;
    return n;
  }
}
