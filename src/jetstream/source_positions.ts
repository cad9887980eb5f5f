// Where each source of a stream left off, as the stream's own data tells it: the newest copy of
// each source carries its origin sequence (and the origin's identity) in its Nats-Stream-Source
// header; once a purge (or the limits) removed those copies, the positions kept in the stream's
// directory (`sources.json`) stand in. nats-server keeps the same positions in its store
// (filestore SourcesState, 2.15), so that a stream emptied by a purge takes its sources on
// where they were, on whichever member leads it next, instead of from its last message's time.
// Used by the sourcing when it starts (stream_source.ts), by a member that does not run the
// sources before it applies a purge (stream.ts, and a tsnats member of a nats-server stream
// group: cluster/nrg_stream_peer.ts).
import { getHeader } from "../protocol/headers.js";
import { FileStore } from "../storage/filestore.js";
import type { StreamStore } from "../storage/store.js";
import { sourceIndexName } from "./source_config.js";
import type { StreamSourceJson } from "./stream_config.js";

export const HDR_STREAM_SOURCE = "Nats-Stream-Source";
const SOURCES_STATE_FILE = "sources.json";

/** A source's position: the last origin sequence stored from it, and the origin's identity. */
export interface SourcePosition {
  seq: number;
  ident: string;
}

/** The source (index name) a copy came from, by its Nats-Stream-Source header. */
export function sourceOfHeader(hdr: Buffer | undefined): string | undefined {
  const h = getHeader(hdr, HDR_STREAM_SOURCE);
  if (h === undefined) return undefined;
  const f = h.split(" ");
  return f.length >= 4 ? `${f[0]} ${f[2]} ${f[3]}` : undefined;
}

/** The newest Nats-Stream-Source header of each wanted source still in the store, walking back from the last message. */
export function positionsInStore(store: StreamStore, inames: Iterable<string>): Map<string, SourcePosition> {
  const want = new Set(inames);
  const out = new Map<string, SourcePosition>();
  const st = store.state();
  let seq = st.lastSeq;
  while (want.size > 0 && st.msgs > 0 && seq >= st.firstSeq) {
    const m = store.loadPrevMsg(seq);
    if (m === null) break;
    seq = m.seq - 1;
    const h = getHeader(m.hdr, HDR_STREAM_SOURCE);
    if (h === undefined) continue;
    const f = h.split(" ");
    if (f.length < 4) continue;
    const iname = `${f[0]} ${f[2]} ${f[3]}`;
    if (!want.has(iname)) continue;
    out.set(iname, { seq: Number(f[1]) || 0, ident: f.length >= 6 ? f[5] : "" });
    want.delete(iname);
  }
  return out;
}

/** The positions kept in the stream's directory (file streams only; none saved: empty). */
export function savedPositions(store: StreamStore): Map<string, SourcePosition> {
  const out = new Map<string, SourcePosition>();
  if (!(store instanceof FileStore)) return out;
  try {
    const data = store.readAuxFile(SOURCES_STATE_FILE);
    if (data === undefined) return out;
    const doc = JSON.parse(data.toString("utf8")) as Record<string, SourcePosition>;
    for (const [k, v] of Object.entries(doc)) {
      if (typeof v?.seq === "number") out.set(k, { seq: v.seq, ident: typeof v.ident === "string" ? v.ident : "" });
    }
  } catch {
    // none saved yet, or unreadable: the headers alone tell
  }
  return out;
}

/**
 * Where each source got: its newest header, unless the saved position is further for the same
 * origin (the copies after it were removed), or there is no header left at all.
 */
export function sourcePositions(store: StreamStore, inames: Iterable<string>): Map<string, SourcePosition> {
  const list = [...inames];
  const found = positionsInStore(store, list);
  const saved = savedPositions(store);
  for (const iname of list) {
    const s = saved.get(iname);
    if (s === undefined) continue;
    const h = found.get(iname);
    if (h === undefined || (s.ident === h.ident && s.seq > h.seq)) found.set(iname, s);
  }
  return found;
}

/** Keep these positions in the stream's directory (file streams; false when not written). */
export function savePositions(store: StreamStore, positions: Map<string, SourcePosition>): boolean {
  if (!(store instanceof FileStore) || store.isClosed || positions.size === 0) return false;
  const doc: Record<string, SourcePosition> = {};
  for (const [iname, p] of positions) doc[iname] = { seq: p.seq, ident: p.ident };
  store.writeAuxFile(SOURCES_STATE_FILE, Buffer.from(JSON.stringify(doc)), false);
  return true;
}

/**
 * Before a purge (or a leader's snapshot) by a member that does not run the sources: the
 * positions its headers tell (or that were kept before) are saved, so that it resumes from there
 * if it leads later; `fromLeader`, a leader snapshot's positions (nats-server's SourcesState),
 * win where further or of another origin identity. The write's error, if any (the purge goes on:
 * the stream's last time is the fallback then).
 */
export function keepPositionsBeforePurge(store: StreamStore, sources: StreamSourceJson[] | undefined, fromLeader: { name: string; sequence: number; ident: string }[] = []): Error | undefined {
  if (sources === undefined || sources.length === 0) return undefined;
  const positions = sourcePositions(store, sources.map((s) => sourceIndexName(s)));
  for (const s of fromLeader) {
    const held = positions.get(s.name);
    if (s.sequence > 0 && (held === undefined || held.ident !== s.ident || s.sequence > held.seq)) positions.set(s.name, { seq: s.sequence, ident: s.ident });
  }
  for (const [iname, p] of positions) if (p.seq <= 0) positions.delete(iname);
  try {
    savePositions(store, positions);
  } catch (err) {
    return err as Error;
  }
  return undefined;
}
