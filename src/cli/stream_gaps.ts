// `stream gaps`: the ranges of interior deletes of a stream (what stream info counts as
// deleted messages). The stream info's deleted list gives them directly; when it is shorter
// than the deleted count (or --walk asks for it) the rest of the stream is read with an
// ordered, headers-only consumer and the holes between consecutive sequences are the gaps.
import { DeliverPolicy, type StreamInfo } from "@nats-io/jetstream";
import type { Session } from "./connection.js";
import type { Progress } from "./progress.js";
import { api } from "./stream_cmd.js";

export type Gap = [first: number, last: number];

/** Append the range first..last, merging with the previous gap when they touch. */
function addGap(gaps: Gap[], first: number, last: number): void {
  const prev = gaps[gaps.length - 1];
  if (prev && prev[1] + 1 >= first) prev[1] = Math.max(prev[1], last);
  else gaps.push([first, last]);
}

/** Gaps of a sorted list of deleted sequences. */
export function gapsOfDeleted(deleted: number[]): Gap[] {
  const gaps: Gap[] = [];
  for (const seq of deleted) addGap(gaps, seq, seq);
  return gaps;
}

export async function detectGaps(s: Session, stream: string, opts: { walk: boolean; progress: Progress }): Promise<Gap[]> {
  const jsm = await s.jsm();
  const info: StreamInfo = await api(() => jsm.streams.info(stream, { deleted_details: true }), { stream });
  const st = info.state;
  const deleted = [...(st.deleted ?? [])].sort((a, b) => a - b);
  const complete = deleted.length >= (st.num_deleted ?? 0);
  if (complete && !opts.walk) {
    opts.progress.update(st.last_seq);
    return gapsOfDeleted(deleted);
  }
  // Read from just after what the list covers (from the start with --walk).
  const gaps = opts.walk ? [] : gapsOfDeleted(deleted);
  let expected = opts.walk || deleted.length === 0 ? st.first_seq : deleted[deleted.length - 1] + 1;
  if (st.messages === 0 || expected > st.last_seq) return gaps;
  const js = await s.js();
  const c = await api(() => js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: expected, headers_only: true } as never), { stream });
  const msgs = await c.consume();
  try {
    for await (const m of msgs) {
      if (m.seq > expected) addGap(gaps, expected, m.seq - 1);
      expected = m.seq + 1;
      opts.progress.update(m.seq);
      if (m.info.pending === 0 || m.seq >= st.last_seq) break;
    }
  } finally {
    msgs.stop();
    await c.delete().catch(() => undefined);
  }
  return gaps;
}
