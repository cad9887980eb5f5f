// A stream's RePublish: once stored, a message goes out on the transformed subject with the
// stream's coordinates appended to its own headers (headers_only: no payload, its size in
// Nats-Msg-Size instead). Published in line, like nats-server, so it precedes the PubAck; a
// chain of republishing streams deeper than a few hops continues on a later turn. Only a
// stream's leader republishes (nats-server's processJetStreamMsg: `tsubj != "" && isLeader`):
// the single server's Stream (stream.ts) standalone or leading a tsnats group, and a tsnats
// member leading a nats-server stream group (cluster/nrg_stream_peer.ts).
import { appendHeaders } from "../protocol/headers.js";
import { SubjectTransform } from "../server/subject_transform.js";
import { rfc3339 } from "../server/time.js";
import type { Account } from "../server/account.js";

const EMPTY = Buffer.alloc(0);
/** Republishes nested inside one publish (stream -> stream chains) before deferring. */
const MAX_REPUBLISH_DEPTH = 8;
let republishDepth = 0;

/** The `republish` block of a stream config, as tsnats and nats-server write it. */
export interface RepublishConfig {
  src?: string;
  dest: string;
  headers_only?: boolean;
}

export class Republisher {
  private constructor(
    private readonly transform: SubjectTransform,
    private readonly headersOnly: boolean,
  ) {}

  /** The config's republisher, or undefined without one (or with a transform that does not parse). */
  static of(rp: RepublishConfig | null | undefined): Republisher | undefined {
    if (rp === undefined || rp === null || typeof rp.dest !== "string") return undefined;
    const tr = SubjectTransform.parse(rp.src === undefined || rp.src === "" ? ">" : rp.src, rp.dest);
    return tr === undefined ? undefined : new Republisher(tr, rp.headers_only === true);
  }

  /** Whether a message stored on this subject is republished. */
  matches(subject: string): boolean {
    return this.transform.matches(subject);
  }

  /** Republish a stored message: `prev` is the subject's last sequence before it (Nats-Last-Sequence). */
  publish(account: Account, stream: string, subject: string, hdr: Buffer | undefined, data: Buffer, seq: number, time: bigint, prev: number): void {
    const dest = this.transform.apply(subject);
    if (dest === undefined) return;
    const pairs: Array<[string, string]> = [
      ["Nats-Stream", stream],
      ["Nats-Subject", subject],
      ["Nats-Sequence", String(seq)],
      ["Nats-Time-Stamp", rfc3339(time)],
      ["Nats-Last-Sequence", String(prev)],
    ];
    if (this.headersOnly) pairs.push(["Nats-Msg-Size", String(data.length)]);
    const outHdr = appendHeaders(hdr, pairs);
    if (republishDepth >= MAX_REPUBLISH_DEPTH) {
      const payload = this.headersOnly ? EMPTY : Buffer.from(data);
      setImmediate(() => account.publish(dest, "", outHdr, payload));
      return;
    }
    republishDepth++;
    try {
      account.publish(dest, "", outHdr, this.headersOnly ? EMPTY : data);
    } finally {
      republishDepth--;
    }
  }
}
