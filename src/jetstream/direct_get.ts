// Direct Get (ADR-31, nats-server 2.15): `$JS.API.DIRECT.GET.<stream>` with a JSON body and
// `$JS.API.DIRECT.GET.<stream>.<subject>` (last message on a subject). The reply is the
// stored message itself with Nats-Stream, Nats-Subject, Nats-Sequence and Nats-Time-Stamp
// headers, or a status (404/408/412/413); no JSON wrapping.
//
// Batches (2.11): `batch` messages from `seq` (or `start_time`), optionally filtered by
// `next_by_subj`, each with Nats-Num-Pending and Nats-Last-Sequence, then a `204 EOB`.
// `multi_last`: the last message of each subject matching the filters (up to `up_to_seq`
// or `up_to_time`), likewise numbered and closed by an EOB with Nats-UpTo-Sequence.
// Replies stop at `max_bytes` (default: the server's max_pending).
import { getHeader, appendHeaders, buildHeaders } from "../protocol/headers.js";
import { isStoreError, type StoredMsg } from "../storage/store.js";
import { parseRfc3339, rfc3339 } from "../server/time.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet } from "./api_level.js";
import type { Account } from "../server/account.js";
import type { StreamStore } from "../storage/store.js";

/**
 * What a Direct Get reads and answers through: a stream (stream.ts), or a tsnats replica of a
 * nats-server stream (nrg_direct_get.ts).
 */
export interface DirectGetStream {
  readonly name: string;
  readonly store: StreamStore;
  readonly jsa: { readonly account: Account };
}

interface DirectGetRequest {
  seq?: number;
  last_by_subj?: string;
  next_by_subj?: string;
  batch?: number;
  max_bytes?: number;
  start_time?: string;
  multi_last?: string[];
  up_to_seq?: number;
  up_to_time?: string;
  no_hdr?: boolean;
}

const EMPTY = Buffer.alloc(0);
const MAX_MULTI_RESPONSES = 1024;

/** Field types of the request; anything else (or bad JSON) is a "Malformed Request". */
const FIELD_TYPES: Record<string, "uint" | "int" | "string" | "strings" | "time" | "bool"> = {
  seq: "uint",
  last_by_subj: "string",
  next_by_subj: "string",
  batch: "int",
  max_bytes: "int",
  start_time: "time",
  multi_last: "strings",
  up_to_seq: "uint",
  up_to_time: "time",
  no_hdr: "bool",
};

/** Lenient decoding as Go's json.Unmarshal: unknown fields are ignored, wrong types are not. */
function decode(payload: Buffer): DirectGetRequest | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const t = FIELD_TYPES[k];
    if (t === undefined || x === null) continue;
    const ok =
      t === "string"
        ? typeof x === "string"
        : t === "bool"
          ? typeof x === "boolean"
          : t === "strings"
            ? Array.isArray(x) && x.every((s) => typeof s === "string")
            : t === "time"
              ? typeof x === "string" && parseRfc3339(x) !== undefined
              : typeof x === "number" && Number.isInteger(x) && (t === "int" || x >= 0);
    if (!ok) return undefined;
    out[k] = x;
  }
  return out as DirectGetRequest;
}

/** `maxPending`: the server's max_pending, a batch's byte budget when the request names none. */
export function handleDirectGet(stream: DirectGetStream, maxPending: number, lastBySubject: string | undefined, reply: string, payload: Buffer, hdr?: Buffer): void {
  const acc = stream.jsa.account;
  const status = (s: string, pairs: Array<[string, string]> = []): void => {
    acc.publish(reply, "", buildHeaders(pairs, s), EMPTY);
  };
  if (hdr !== undefined && requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) {
    status("412 Required Api Level");
    return;
  }
  let req: DirectGetRequest;
  if (lastBySubject !== undefined) {
    if (payload.length > 0) {
      const d = decode(payload);
      if (d === undefined) return status("408 Malformed Request");
      req = d;
    } else {
      req = {};
    }
    // This form only takes the subject from the request subject.
    if (
      req.last_by_subj ||
      req.next_by_subj ||
      (req.multi_last?.length ?? 0) > 0 ||
      req.seq ||
      req.batch ||
      req.start_time !== undefined ||
      req.up_to_seq ||
      req.up_to_time !== undefined
    ) {
      return status("408 Bad Request");
    }
    req.last_by_subj = lastBySubject;
  } else {
    if (payload.length === 0) return status("408 Empty Request");
    const d = decode(payload);
    if (d === undefined) return status("408 Malformed Request");
    req = d;
    const seq = req.seq ?? 0;
    const last = req.last_by_subj ?? "";
    const next = req.next_by_subj ?? "";
    const multi = req.multi_last ?? [];
    const time = req.start_time;
    if (seq === 0 && last === "" && next === "" && multi.length === 0 && time === undefined) return status("408 Empty Request");
    if (
      (seq > 0 && last !== "") ||
      (seq > 0 && time !== undefined) ||
      (time !== undefined && last !== "") ||
      (last !== "" && next !== "") ||
      (last !== "" && (req.batch ?? 0) > 0) ||
      (last !== "" && multi.length > 0) ||
      (next !== "" && multi.length > 0) ||
      ((req.up_to_seq ?? 0) > 0 && req.up_to_time !== undefined)
    ) {
      return status("408 Bad Request");
    }
  }
  const maxBytes = req.max_bytes && req.max_bytes > 0 ? req.max_bytes : maxPending;
  if ((req.multi_last?.length ?? 0) > 0) multiLast(stream, req, reply, maxBytes);
  else get(stream, req, reply, maxBytes);
}

/** A stored message as a Direct Get reply, with the stream's coordinates (and batch numbering). */
function send(stream: DirectGetStream, reply: string, m: StoredMsg, noHdr: boolean, batch?: { pending: number; last: number }): void {
  let hdr: Buffer | undefined;
  if (!noHdr) {
    const pairs: Array<[string, string]> = [
      ["Nats-Stream", stream.name],
      ["Nats-Subject", m.subject],
      ["Nats-Sequence", String(m.seq)],
      ["Nats-Time-Stamp", rfc3339(m.time)],
    ];
    if (batch !== undefined) pairs.push(["Nats-Num-Pending", String(batch.pending)], ["Nats-Last-Sequence", String(batch.last)]);
    hdr = appendHeaders(m.hdr, pairs);
  }
  stream.jsa.account.publish(reply, "", hdr, m.data);
}

function sentSize(m: StoredMsg): number {
  return Buffer.byteLength(m.subject) + (m.hdr?.length ?? 0) + m.data.length;
}

function get(stream: DirectGetStream, req: DirectGetRequest, reply: string, maxBytes: number): void {
  const store = stream.store;
  let seq = req.seq ?? 0;
  if (req.start_time !== undefined) seq = store.getSeqFromTime(parseRfc3339(req.start_time)!);
  const next = req.next_by_subj ?? "";
  const isBatch = (req.batch ?? 0) > 0;
  const count = isBatch ? req.batch! : 1;
  let pending = isBatch ? store.numPending(seq, next, false) : 0;
  let last = 0;
  let sent = 0;
  for (let i = 0; i < count; i++) {
    let m: StoredMsg | null;
    if (seq > 0 && next === "") {
      m = i === 0 && !isBatch ? store.loadMsg(seq) : store.loadNextMsg("", seq);
    } else if (next !== "") {
      m = store.loadNextMsg(next, seq);
    } else {
      m = store.loadLastMsg(req.last_by_subj ?? "");
    }
    if (m === null) {
      // A batch that found something ends with its EOB below.
      if (count > 1 && i > 0) break;
      stream.jsa.account.publish(reply, "", buildHeaders([], "404 Message Not Found"), EMPTY);
      return;
    }
    seq = m.seq + 1;
    if (isBatch && pending > 0) pending--;
    send(stream, reply, m, req.no_hdr === true, isBatch ? { pending, last } : undefined);
    last = m.seq;
    sent += sentSize(m);
    if (sent >= maxBytes) break;
  }
  if (isBatch) {
    // What is left after the last one sent (the stream may have grown meanwhile).
    pending = store.numPending(seq, next, false);
    stream.jsa.account.publish(reply, "", buildHeaders([["Nats-Num-Pending", String(pending)], ["Nats-Last-Sequence", String(last)]], "204 EOB"), EMPTY);
  }
}

function multiLast(stream: DirectGetStream, req: DirectGetRequest, reply: string, maxBytes: number): void {
  const store = stream.store;
  let upTo = req.up_to_seq ?? 0;
  if (req.up_to_time !== undefined) {
    upTo = store.getSeqFromTime(parseRfc3339(req.up_to_time)!);
    // Nothing at or before that time: no results (rather than the stream's first message).
    if (upTo <= store.state().firstSeq) {
      stream.jsa.account.publish(reply, "", buildHeaders([], "404 No Results"), EMPTY);
      return;
    }
    upTo--;
  }
  if (upTo === 0) upTo = store.state().lastSeq;
  let seqs: number[];
  try {
    seqs = store.multiLastSeqs(req.multi_last!, upTo, MAX_MULTI_RESPONSES);
  } catch (err) {
    const s = isStoreError(err, "ErrTooManyResults") ? "413 Too Many Results" : `500 ${(err as Error).message}`;
    stream.jsa.account.publish(reply, "", buildHeaders([], s), EMPTY);
    return;
  }
  if (seqs.length === 0) {
    stream.jsa.account.publish(reply, "", buildHeaders([], "404 No Results"), EMPTY);
    return;
  }
  const minSeq = req.seq ?? 0;
  let pending = seqs.length;
  let last = 0;
  let sent = 0;
  let count = 0;
  for (const seq of seqs) {
    if (pending > 0) pending--;
    if (seq < minSeq) continue;
    const m = store.loadMsg(seq);
    if (m === null) {
      stream.jsa.account.publish(reply, "", buildHeaders([], "404 Message Not Found"), EMPTY);
      return;
    }
    send(stream, reply, m, req.no_hdr === true, { pending, last });
    last = m.seq;
    sent += sentSize(m);
    if (sent >= maxBytes) break;
    count++;
    if ((req.batch ?? 0) > 0 && count >= req.batch!) break;
  }
  const eob: Array<[string, string]> = [
    ["Nats-Num-Pending", String(pending)],
    ["Nats-Last-Sequence", String(last)],
    ["Nats-UpTo-Sequence", String(upTo)],
  ];
  stream.jsa.account.publish(reply, "", buildHeaders(eob, "204 EOB"), EMPTY);
}
