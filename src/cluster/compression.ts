// S2 compression of routes and leaf node connections, negotiated as nats-server 2.10+ does
// (server/server.go and route.go/leafnode.go as facts):
//
//   * each side announces its configured mode in its first INFO (`compression`; a leaf's
//     CONNECT repeats the outcome in `compress_mode`); a server before 2.10 announces nothing
//     ("not supported") and gets plain text;
//   * a side configured for compression (anything but "off") picks a mode from its own and the
//     peer's: "off" on either side wins, "accept" takes the other's mode (s2_fast for s2_auto),
//     otherwise each side keeps its own level (compression is asymmetric: levels may differ);
//   * s2_auto picks a level by round-trip time (rtt_thresholds, default 10ms/50ms/100ms:
//     uncompressed, fast, better, best) and re-picks it on every PONG;
//   * when compression results, the soliciting side sends an INFO naming its mode in plain text
//     and from then on writes and reads S2 streams; the accepting side switches on that INFO and
//     answers with its INFO already compressed. The handshake goes on over the compressed streams.
//
// The wire is S2's stream format (storage/s2.ts): every flush of the outbound buffer becomes
// whole chunks, so the peer can decode all that was sent so far.
import type net from "node:net";
import { s2FrameChunks, S2_STREAM_IDENTIFIER } from "../storage/s2.js";
import type { OutboundSocket } from "../server/outbound.js";

export const COMPRESSION_NOT_SUPPORTED = "not supported";
export const COMPRESSION_OFF = "off";
export const COMPRESSION_ACCEPT = "accept";
export const COMPRESSION_S2_AUTO = "s2_auto";
export const COMPRESSION_S2_UNCOMPRESSED = "s2_uncompressed";
export const COMPRESSION_S2_FAST = "s2_fast";
export const COMPRESSION_S2_BETTER = "s2_better";
export const COMPRESSION_S2_BEST = "s2_best";

/** nats-server's default s2_auto thresholds: ≤10ms uncompressed, ≤50ms fast, ≤100ms better, else best. */
export const DEFAULT_RTT_THRESHOLDS_MS: readonly number[] = [10, 50, 100];

/** A block's compression setting as configured (the mode normalised, thresholds in ms). */
export interface CompressionSetting {
  mode: string;
  /** s2_auto's thresholds (ms); undefined = the defaults. */
  rttThresholdsMs?: readonly number[];
}

/** Whether a (normalised) mode takes part in negotiation. */
export function needsCompression(mode: string): boolean {
  return mode !== "" && mode !== COMPRESSION_OFF && mode !== COMPRESSION_NOT_SUPPORTED;
}

/**
 * The mode this side uses, from its own configured mode (one that needs compression) and the
 * one the peer announced. Throws on a mode we do not know (the peer gets -ERR and is closed).
 */
export function selectCompressionMode(ours: string, theirs: string | undefined): string {
  if (theirs === undefined || theirs === "" || theirs === COMPRESSION_NOT_SUPPORTED) return COMPRESSION_NOT_SUPPORTED;
  switch (theirs) {
    case COMPRESSION_OFF:
      return COMPRESSION_OFF;
    case COMPRESSION_ACCEPT:
      return ours === COMPRESSION_ACCEPT ? COMPRESSION_OFF : ours;
    case COMPRESSION_S2_AUTO:
    case COMPRESSION_S2_UNCOMPRESSED:
    case COMPRESSION_S2_FAST:
    case COMPRESSION_S2_BETTER:
    case COMPRESSION_S2_BEST:
      if (ours !== COMPRESSION_ACCEPT) return ours;
      // Accepting an s2_auto peer: its level depends on its RTT, ours is fixed at fast.
      return theirs === COMPRESSION_S2_AUTO ? COMPRESSION_S2_FAST : theirs;
    default:
      throw new Error(`unsupported route compression mode ${JSON.stringify(theirs)}`);
  }
}

/**
 * s2_auto's level for a round-trip time: the first threshold the RTT does not exceed gives
 * uncompressed, fast, better or best by its position (a 0 threshold disables its level);
 * above all of them, best (or the last level listed when fewer than three are).
 */
export function levelForRtt(rttMs: number, thresholds: readonly number[] = DEFAULT_RTT_THRESHOLDS_MS): string {
  let idx = thresholds.findIndex((t) => rttMs <= t);
  if (idx < 0) idx = thresholds.length >= 3 ? 3 : thresholds.length - 1;
  return [COMPRESSION_S2_UNCOMPRESSED, COMPRESSION_S2_FAST, COMPRESSION_S2_BETTER][idx] ?? COMPRESSION_S2_BEST;
}

/** What an INFO says of our mode: s2_auto when configured so (the level is ours to change), else the mode in use. */
export function compressionForInfo(setting: CompressionSetting, current: string): string {
  return setting.mode === COMPRESSION_S2_AUTO ? COMPRESSION_S2_AUTO : current;
}

/**
 * Checks s2_auto's thresholds as nats-server does (ascending, a 0 disables a level, at most 4
 * after trailing zeros are dropped, at least one) and returns them; texts are nats-server's.
 */
export function normaliseRttThresholds(mode: string, thresholdsMs: readonly number[], shown: readonly string[]): number[] {
  const out: number[] = [];
  for (const raw of thresholdsMs) {
    const n = raw < 0 ? 0 : raw;
    if (n !== 0 && out.some((v) => n < v)) throw new Error(`RTT threshold values [${shown.join(" ")}] should be in ascending order`);
    out.push(n);
  }
  while (out.length > 0 && out[out.length - 1] === 0) out.pop();
  if (out.length > 4) throw new Error(`compression mode ${JSON.stringify(mode)} should have no more than 4 RTT thresholds: [${shown.join(" ")}]`);
  if (out.length === 0) throw new Error(`compression mode ${JSON.stringify(mode)} requires at least one RTT threshold`);
  return out;
}

/**
 * The writing half of a compressed connection, put between the outbound buffer and the socket:
 * each write (a flush's buffers) becomes whole S2 chunks, after the stream identifier. The
 * level may change at any time (s2_auto): chunks are independent. Levels better and best are
 * encoded as fast is (storage/s2_block_encoder.ts has one level): the peer reads them all the
 * same, only the ratio differs.
 */
export class S2WritingSocket implements OutboundSocket {
  private started = false;
  private uncompressed: boolean;

  constructor(
    /** The socket written to (named so the outbound's progress check finds its kernel queue). */
    readonly rawSocket: net.Socket,
    level: string,
  ) {
    this.uncompressed = level === COMPRESSION_S2_UNCOMPRESSED;
  }

  setLevel(level: string): void {
    this.uncompressed = level === COMPRESSION_S2_UNCOMPRESSED;
  }

  get writableLength(): number {
    return this.rawSocket.writableLength;
  }

  /** The socket gets a compressed copy: `data` is not referenced once this returns. */
  write(data: Buffer, cb?: (err?: Error | null) => void): boolean {
    let framed = s2FrameChunks(data, this.uncompressed);
    if (!this.started) {
      this.started = true;
      framed = Buffer.concat([S2_STREAM_IDENTIFIER, framed]);
    }
    return this.rawSocket.write(framed, cb);
  }

  cork(): void {
    this.rawSocket.cork();
  }

  uncork(): void {
    this.rawSocket.uncork();
  }
}
