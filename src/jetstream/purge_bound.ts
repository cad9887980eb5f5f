// A replicated stream's purge, bounded by the sequence its leader stamped on it.
//
// A purge entry is applied on every member at its place in the RAFT log. A member that applies
// it again after a restart (its record of the last operation applied, `<group>/applied`, is
// written without an fsync: a power cut can set it back) may hold messages proposed after the
// purge already (its store was synced since); run as it was asked, the purge would take them
// too: all of them, or all but the `keep` newest, or those of its subject below its `seq`. The
// leader stamps each purge with the first sequence after every message proposed before it
// (`upTo`), and the request is bounded by it: nothing at or beyond it is taken, and `keep`
// counts the messages below it. Where the store holds nothing at or beyond it (a first apply,
// and a replay onto a store that lost the messages after it) the request runs as it was asked.
// The same for the purge an interest stream's leader proposes when its last consumer goes.
// nats-server's leader stamps its purge the same way (its last sequence) for the same reason.
import type { StreamStore } from "../storage/store.js";

/** What a purge asks: messages of `filter` (all: none), below `seq`, or all but the `keep` newest. */
export interface PurgeAsked {
  filter?: string;
  seq?: number;
  keep?: number;
}

/**
 * The purge `asked` as its first apply ran it, for a store that may hold messages proposed after
 * it: a purge below a sequence (`keep` turned into the sequence of the first message it keeps),
 * or undefined when the store holds nothing at or beyond `upTo` (it runs as asked).
 */
export function boundedPurge(store: StreamStore, asked: PurgeAsked, upTo: number): { filter?: string; seq: number } | undefined {
  if (store.lastSequence() < upTo) return undefined;
  const seq = asked.seq ?? 0;
  const keep = asked.keep ?? 0;
  let bound = seq > 0 ? Math.min(seq, upTo) : upTo;
  if (keep > 0) {
    // The first kept message: the keep-th newest of the filter below the bound (none: nothing goes).
    for (let k = 0; k < keep && bound > 1; k++) bound = store.loadPrevMsg(bound - 1, asked.filter ?? "")?.seq ?? 1;
  }
  // (Up to but not including 1: nothing.)
  return { ...(asked.filter !== undefined ? { filter: asked.filter } : {}), seq: bound };
}

/** The same for a purge request's JSON body (STREAM.PURGE); what the API refuses is left as it is, refused again. */
export function boundedPurgeRequest(store: StreamStore, body: Buffer, upTo: number): Buffer {
  if (store.lastSequence() < upTo) return body;
  let req: unknown;
  try {
    req = body.length === 0 ? {} : JSON.parse(body.toString());
  } catch {
    return body;
  }
  if (typeof req !== "object" || req === null || Array.isArray(req)) return body;
  const r = req as Record<string, unknown>;
  const count = (v: unknown): number | undefined => (v === undefined ? 0 : typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
  const seq = count(r.seq);
  const keep = count(r.keep);
  if (seq === undefined || keep === undefined || (seq > 0 && keep > 0) || (r.filter !== undefined && typeof r.filter !== "string")) return body;
  const bounded = boundedPurge(store, { ...(typeof r.filter === "string" ? { filter: r.filter } : {}), seq, keep }, upTo);
  if (bounded === undefined) return body;
  // (Other fields stay: the API checks them as it did the first time.)
  const out: Record<string, unknown> = { ...r, seq: bounded.seq };
  delete out.keep;
  return Buffer.from(JSON.stringify(out));
}
