// How fast a consumer may deliver (nats-server's loopAndGatherMsgs): replay_policy original holds
// each new message back by the gap between its stored time and the previous one's, and
// rate_limit_bps lets a delivery's bytes go only as the budget refills. The budget is nats-server's
// token bucket (setRateLimit): it holds a burst of the stream's max_msg_size, else the account's
// or the server's max payload, and starts full, so the first burst's worth goes at once. Held by the single
// server's consumer (consumer.ts) and by a tsnats member leading a nats-server consumer group
// (src/cluster/nrg_consumer_leader.ts), so both pace alike.

import { DOUBLE_ZERO } from "../server/double_zero.js";

export interface PaceConfig {
  replay_policy?: unknown;
  rate_limit_bps?: unknown;
}

export class DeliveryPacer {
  private replayLast: { msgNs: bigint; wallMs: number } | undefined;
  /** The rate budget in bytes (undefined: full, not used yet) and when it was last refilled (ms). */
  private rateTokens: number | undefined;
  /** A double field from the start (server/double_zero.ts): it holds Date.now(). */
  private rateLast = DOUBLE_ZERO;

  constructor(
    private readonly cfg: () => PaceConfig,
    /** The bucket's size in bytes (nats-server's burst). */
    private readonly burst: () => number,
  ) {}

  /**
   * When a delivery of `size` bytes of a message stored at `msgNs` may go: 0 now (its bytes are
   * charged to the rate budget), else the time (ms) to try again. `fresh`: not a redelivery (only
   * new messages keep the original pace).
   */
  due(msgNs: bigint, size: number, fresh: boolean, now: number): number {
    const cfg = this.cfg();
    if (cfg.replay_policy === "original" && fresh && this.replayLast !== undefined) {
      const gapMs = Number((msgNs - this.replayLast.msgNs) / 1_000_000n);
      const due = this.replayLast.wallMs + gapMs;
      if (due > now) return due;
    }
    const bps = typeof cfg.rate_limit_bps === "number" ? cfg.rate_limit_bps : 0;
    if (bps > 0) {
      const bytesPerMs = bps / 8 / 1000;
      // A delivery larger than the bucket still goes once the bucket is full.
      const cap = Math.max(size, this.burst());
      const tokens = Math.min(this.rateTokens === undefined ? cap : this.rateTokens + (now - this.rateLast) * bytesPerMs, cap);
      this.rateTokens = tokens;
      this.rateLast = now;
      if (tokens < size) return now + Math.ceil((size - tokens) / bytesPerMs);
      this.rateTokens = tokens - size;
    }
    return 0;
  }

  /** A message was sent at `now`: the next one's original gap counts from it. */
  sent(msgNs: bigint, now: number): void {
    if (this.cfg().replay_policy === "original") this.replayLast = { msgNs, wallMs: now };
  }
}

/** nats-server's burst for a consumer's rate limit: the stream's max_msg_size, else the account's max payload, else the server's. */
export function rateBurst(maxMsgSize: unknown, accountMaxPayload: number, serverMaxPayload: number): number {
  if (typeof maxMsgSize === "number" && maxMsgSize > 0) return maxMsgSize;
  return accountMaxPayload > 0 ? accountMaxPayload : serverMaxPayload;
}
