// The new leader's walk over an interest or work-queue stream (nats-server's checkInterestState at
// stream.go setLeader): acks a follower applied while no leader proposed the removals (the old
// leader stopped first) would otherwise keep those messages forever. Run by the leader of a
// tsnats stream group (stream_replica.ts) and by a tsnats member leading a nats-server stream
// group (nrg_stream_peer.ts), each with its own retention check.
import type { StreamStore } from "../storage/store.js";

/** Messages looked at per event-loop turn, so a long stream does not hold up the server. */
const SWEEP_CHUNK = 1000;

export interface RetentionSweep {
  store: StreamStore;
  /** A message no consumer's filter takes stays (a work-queue stream's work; nats-server's walk visits each consumer's filtered messages only). */
  keepUntaken: boolean;
  /** Still leading and open: the walk stops as soon as this is false. */
  alive(): boolean;
  /** Whether some consumer's filter takes a subject, with the consumers as they are this turn. */
  takes(): (subject: string) => boolean;
  /** One message to check against the consumers' state (removed when none needs it). */
  check(seq: number, subject: string): void;
}

/** Walk every message once, from the first, a chunk per turn, while `alive()`. */
export function sweepRetention(s: RetentionSweep): void {
  let seq = s.store.state().firstSeq;
  const step = (): void => {
    if (!s.alive()) return;
    const takes = s.takes();
    for (let n = 0; n < SWEEP_CHUNK; n++) {
      const m = s.store.loadNextMsg("", seq);
      if (m === null) return;
      seq = m.seq + 1;
      if (s.keepUntaken && !takes(m.subject)) continue;
      s.check(m.seq, m.subject);
    }
    setImmediate(step);
  };
  step();
}
