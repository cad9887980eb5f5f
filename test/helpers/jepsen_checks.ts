// The checks of the random Jepsen-style scheduler (js_cluster_jepsen_random.test.ts), as pure
// functions of what the clients recorded and what each replica's files hold. None depends on
// timing: the real-time checks compare the clients' own clock readings (an answer received
// before another call was made), never durations.
//
// Each returns the violations found, as sentences naming the message and the replica, empty
// when the property holds.

/** A stream's messages as one replica's files hold them: [sequence, payload] in order. */
export type ReplicaContent = Array<[number, string]>;

/** A publish (or compare-and-set) the clients made: the payload is unique across the run. */
export interface Op {
  /** The unique payload. */
  id: string;
  /** Client clock when the first attempt left. */
  invokedAt: number;
  /** Client clock when the answer arrived (undefined: never answered). */
  answeredAt?: number;
  /** The sequence its PubAck gave. */
  seq?: number;
  /** Definitely refused (a "wrong last sequence" answer): it must not be stored. */
  refused?: boolean;
}

/** A compare-and-set on a key: stored only if the key's last sequence was `expected` (0: none). */
export interface CasOp extends Op {
  key: string;
  expected: number;
}

const MAX_SHOWN = 12;

function cap(out: string[]): string[] {
  return out.length > MAX_SHOWN ? [...out.slice(0, MAX_SHOWN), `... and ${out.length - MAX_SHOWN} more`] : out;
}

/**
 * Every replica: no payload stored twice, every acknowledged payload at the sequence its
 * PubAck gave, and the same messages in the same order as replica 0.
 */
export function checkReplicas(stream: string, replicas: ReplicaContent[], ops: Iterable<Op>): string[] {
  const out: string[] = [];
  const acked = [...ops].filter((o) => o.seq !== undefined);
  replicas.forEach((content, r) => {
    const at = new Map<string, number>();
    for (const [seq, id] of content) {
      const prev = at.get(id);
      if (prev !== undefined) out.push(`${stream} n${r}: ${id} stored twice, at ${prev} and ${seq}`);
      else at.set(id, seq);
    }
    for (const o of acked) {
      const seq = at.get(o.id);
      if (seq === undefined) out.push(`${stream} n${r}: ${o.id} acknowledged at ${o.seq} is missing (last seq on n${r}: ${content[content.length - 1]?.[0] ?? 0})`);
      else if (seq !== o.seq) out.push(`${stream} n${r}: ${o.id} acknowledged at ${o.seq} is stored at ${seq}`);
    }
    if (r > 0) {
      const base = replicas[0];
      const n = Math.max(base.length, content.length);
      for (let i = 0; i < n; i++) {
        const a = base[i];
        const b = content[i];
        if (a?.[0] !== b?.[0] || a?.[1] !== b?.[1]) {
          out.push(`${stream}: n${r} differs from n0 at its message #${i}: n0 has ${a === undefined ? "nothing" : `${a[1]}@${a[0]}`}, n${r} has ${b === undefined ? "nothing" : `${b[1]}@${b[0]}`} (n0 holds ${base.length}, n${r} ${content.length})`);
          break;
        }
      }
    }
  });
  return cap(out);
}

/**
 * Acknowledged operations in real-time order: one answered before another was first sent
 * must have the lower sequence (a stream's order is its linearization).
 */
export function checkRealTimeOrder(stream: string, ops: Iterable<Op>): string[] {
  const acked = [...ops].filter((o) => o.seq !== undefined && o.answeredAt !== undefined);
  const byAnswer = [...acked].sort((a, b) => (a.answeredAt as number) - (b.answeredAt as number));
  const byInvoke = [...acked].sort((a, b) => a.invokedAt - b.invokedAt);
  const out: string[] = [];
  // sweep: for each op in order of invocation, the highest sequence answered before it left
  let i = 0;
  let best: Op | undefined;
  for (const b of byInvoke) {
    while (i < byAnswer.length && (byAnswer[i].answeredAt as number) < b.invokedAt) {
      const a = byAnswer[i++];
      if (best === undefined || (a.seq as number) > (best.seq as number)) best = a;
    }
    if (best !== undefined && (best.seq as number) >= (b.seq as number) && best.id !== b.id) {
      out.push(`${stream}: ${best.id} was acknowledged at ${best.seq} before ${b.id} was sent, which got the lower sequence ${b.seq}`);
    }
  }
  return cap(out);
}

/**
 * Compare-and-set histories, with a key's stored writes (from a replica, in stream order) as
 * the linearization:
 *  - a write the client was told was refused is not stored;
 *  - each stored write expected exactly the sequence of the key's write before it (0: none);
 *  - a refusal is justified: while the call was in flight the key's last write was not the one
 *    expected (the write after it, if any, was sent before the refusal arrived).
 */
export function checkCas(stream: string, stored: ReplicaContent, keyOf: (id: string) => string | undefined, ops: Iterable<CasOp>): string[] {
  const out: string[] = [];
  const byId = new Map<string, CasOp>();
  for (const o of ops) byId.set(o.id, o);
  const storedSeq = new Map<string, number>();
  /** key -> its stored writes, in order. */
  const chains = new Map<string, Array<{ seq: number; op: CasOp | undefined; id: string }>>();
  for (const [seq, id] of stored) {
    storedSeq.set(id, seq);
    const key = keyOf(id) ?? byId.get(id)?.key ?? "?";
    let c = chains.get(key);
    if (c === undefined) chains.set(key, (c = []));
    c.push({ seq, op: byId.get(id), id });
  }
  for (const o of byId.values()) {
    if (o.refused === true && storedSeq.has(o.id)) out.push(`${stream}: ${o.id} (key ${o.key}, expected ${o.expected}) was refused with "wrong last sequence" but is stored at ${storedSeq.get(o.id)}`);
  }
  /** key -> (sequence of a stored write, 0 for none -> the next stored write on the key, null: none). */
  const nextAfter = new Map<string, Map<number, { id: string; op: CasOp | undefined } | null>>();
  for (const [key, chain] of chains) {
    const next = new Map<number, { id: string; op: CasOp | undefined } | null>();
    let prevSeq = 0;
    for (const w of chain) {
      if (w.op !== undefined && w.op.expected !== prevSeq) out.push(`${stream}: ${w.id} on key ${key} expected last sequence ${w.op.expected} but was stored at ${w.seq} after the key's write at ${prevSeq}`);
      next.set(prevSeq, w);
      prevSeq = w.seq;
    }
    next.set(prevSeq, null);
    nextAfter.set(key, next);
  }
  for (const o of byId.values()) {
    if (o.refused !== true || o.answeredAt === undefined) continue;
    const next = nextAfter.get(o.key) ?? new Map([[0, null]]);
    const after = next.get(o.expected);
    // the expected write is not the key's (or is gone), or the one after it is unknown: a refusal may be right
    if (after === undefined || (after !== null && after.op === undefined)) continue;
    if (after === null || (after.op as CasOp).invokedAt > o.answeredAt) {
      out.push(
        `${stream}: ${o.id} on key ${o.key} expecting ${o.expected} was refused ("wrong last sequence"), yet ${o.expected === 0 ? "the key had no write" : `${o.expected} was the key's last write`} from before it was sent until after the refusal (${after === null ? "nothing followed it" : `the next, ${after.id}, was sent after`})`,
      );
    }
  }
  return cap(out);
}

/** Every acknowledged payload was delivered to the consumer at least once. */
export function checkDelivered(consumer: string, ops: Iterable<Op>, delivered: ReadonlySet<string>): string[] {
  const missing: string[] = [];
  for (const o of ops) if (o.seq !== undefined && !delivered.has(o.id)) missing.push(`${o.id}@${o.seq}`);
  missing.sort((a, b) => Number(a.split("@")[1]) - Number(b.split("@")[1]));
  return missing.length === 0 ? [] : [`consumer ${consumer}: ${missing.length} acknowledged messages never delivered: ${missing.slice(0, MAX_SHOWN).join(", ")}${missing.length > MAX_SHOWN ? " ..." : ""}`];
}
