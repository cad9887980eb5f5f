// The checks a stream makes of a publish before it stores (or proposes) it, one function per
// check. nats-server runs them in two orders: a single server's processJetStreamMsg, and a
// clustered leader's processClusteredInboundMsg / checkMsgHeadersPreClusteredProposal before
// it proposes. `Stream.prepare` (tsnats's own streams, single and replicated) and the leader
// half of a tsnats member in a nats-server stream group (`nrg_stream_leader.ts`) each call
// them in their order, so a check and its error are written once.
import type { StreamStore } from "../storage/store.js";
import { getHeader } from "../protocol/headers.js";
import { jsError, type ApiError } from "./errors.js";
import {
  HDR_EXPECTED_LAST_MSG_ID,
  HDR_EXPECTED_LAST_SEQ,
  HDR_EXPECTED_LAST_SUBJ_SEQ,
  HDR_EXPECTED_LAST_SUBJ_SEQ_SUBJ,
  HDR_EXPECTED_STREAM,
  HDR_ROLLUP,
  parseMessageTTL,
} from "./msg_headers.js";

/** The largest header a stream takes (nats-server: math.MaxUint16). */
export const MAX_PUBLISH_HDR = 0xffff;

/** What the checks read of a stream's config (a tsnats StreamConfig, or one read from a nats-server assignment). */
export interface PublishCheckConfig {
  name: string;
  sealed: boolean;
  max_msg_size: number;
  allow_msg_ttl: boolean;
  allow_rollup_hdrs: boolean;
  deny_purge: boolean;
  discard: string;
  max_msgs: number;
  max_bytes: number;
  max_msgs_per_subject: number;
  discard_new_per_subject?: boolean;
}

/** What is accepted but not in the store yet: an atomic batch's staged messages, or a leader's proposals in flight. */
export interface PendingWrites {
  count: number;
  bytes: number;
  /** Pending messages on this subject. */
  onSubject(subject: string): number;
}

/** Sealed, then the message's size against max_msg_size, then the header's size. */
export function checkSealedAndSize(cfg: PublishCheckConfig, hdr: Buffer | undefined, payload: Buffer): ApiError | undefined {
  if (cfg.sealed) return jsError("JSStreamSealedErr");
  const hlen = hdr === undefined ? 0 : hdr.length;
  if (cfg.max_msg_size > 0 && (hlen > cfg.max_msg_size || payload.length > cfg.max_msg_size - hlen)) return jsError("JSStreamMessageExceedsMaximumErr");
  if (hlen > MAX_PUBLISH_HDR) return jsError("JSStreamHeaderExceedsMaximumErr");
  return undefined;
}

/** Nats-Expected-Stream naming another stream. */
export function checkExpectedStream(cfg: PublishCheckConfig, hdr: Buffer): ApiError | undefined {
  const exp = getHeader(hdr, HDR_EXPECTED_STREAM);
  return exp !== undefined && exp !== "" && exp !== cfg.name ? jsError("JSStreamNotMatchErr") : undefined;
}

/** A Nats-TTL (other than 0 or unreadable) on a stream that does not allow TTLs. */
export function checkTtlAllowed(cfg: PublishCheckConfig, ttlText: string | undefined): ApiError | undefined {
  if (ttlText === undefined || ttlText === "" || cfg.allow_msg_ttl) return undefined;
  const t = parseMessageTTL(ttlText);
  return t !== "invalid" && t !== 0 ? jsError("JSMessageTTLDisabledErr") : undefined;
}

/**
 * Nats-Expected-Last-Subject-Sequence (of the subject Nats-Expected-Last-Subject-Sequence-Subject
 * names, or the message's). A subject with pending writes has no checkable last sequence yet.
 */
export function checkExpectedLastSubjectSeq(hdr: Buffer, subject: string, store: StreamStore, pending: PendingWrites | undefined): ApiError | undefined {
  const expected = getHeader(hdr, HDR_EXPECTED_LAST_SUBJ_SEQ);
  const forSubject = getHeader(hdr, HDR_EXPECTED_LAST_SUBJ_SEQ_SUBJ);
  if (expected === undefined) return forSubject !== undefined && forSubject !== "" ? jsError("JSStreamExpectedLastSeqPerSubjectInvalid") : undefined;
  const checked = forSubject !== undefined && forSubject !== "" ? forSubject : subject;
  if (pending !== undefined && pending.onSubject(checked) > 0) return jsError("JSStreamWrongLastSequenceConstantErr");
  const last = store.loadLastMsg(checked)?.seq ?? 0;
  return Number(expected) !== last ? jsError("JSStreamWrongLastSequenceErrF", { seq: last }) : undefined;
}

/** Nats-Expected-Last-Sequence against where the stream stands (`last`). */
export function checkExpectedLastSeq(hdr: Buffer, last: number): ApiError | undefined {
  const expected = getHeader(hdr, HDR_EXPECTED_LAST_SEQ);
  return expected !== undefined && Number(expected) !== last ? jsError("JSStreamWrongLastSequenceErrF", { seq: last }) : undefined;
}

/** Nats-Expected-Last-Msg-Id against the id of the stream's last message ("" none). */
export function checkExpectedLastMsgId(hdr: Buffer | undefined, lastId: string): ApiError | undefined {
  const expected = getHeader(hdr, HDR_EXPECTED_LAST_MSG_ID);
  return expected !== undefined && expected !== "" && expected !== lastId ? jsError("JSStreamWrongLastMsgIDErrF", { id: lastId }) : undefined;
}

/** Nats-Rollup: the rollup asked for, or why it is refused (a source's copy skips the permission). */
export function checkRollup(cfg: PublishCheckConfig, hdr: Buffer | undefined, sourced: boolean): "sub" | "all" | ApiError | undefined {
  const r = getHeader(hdr, HDR_ROLLUP);
  if (r === undefined || r === "") return undefined;
  if (!sourced && (!cfg.allow_rollup_hdrs || cfg.deny_purge)) return jsError("JSStreamRollupFailedF", { err: "rollup not permitted" });
  if (r === "sub" || r === "all") return r;
  return jsError("JSStreamRollupFailedF", { err: `rollup value invalid: ${JSON.stringify(r)}` });
}

/**
 * discard "new" limits, counting what is pending before this message (nats-server refuses it
 * rather than let the pending writes take the stream past a limit). A rollup is not held to
 * the per-subject limit.
 */
export function checkDiscardNew(cfg: PublishCheckConfig, store: StreamStore, subject: string, size: number, rollup: boolean, pending: PendingWrites): ApiError | undefined {
  if (cfg.discard !== "new") return undefined;
  if (cfg.max_msgs > 0 || cfg.max_bytes > 0) {
    const st = store.state();
    if (cfg.max_msgs > 0 && st.msgs + pending.count + 1 > cfg.max_msgs) return jsError("JSStreamStoreFailedF", { err: "maximum messages exceeded" });
    if (cfg.max_bytes > 0 && st.bytes + pending.bytes + size > cfg.max_bytes) return jsError("JSStreamStoreFailedF", { err: "maximum bytes exceeded" });
  }
  if (cfg.discard_new_per_subject === true && cfg.max_msgs_per_subject > 0 && !rollup) {
    const stored = store.subjectsTotals(subject).get(subject) ?? 0;
    if (stored + pending.onSubject(subject) + 1 > cfg.max_msgs_per_subject) return jsError("JSStreamStoreFailedF", { err: "maximum messages per subject exceeded" });
  }
  return undefined;
}
