// The JetStream benchmarks of `tsnats bench js` that are not a stream of publishes or a
// consumer: atomic batch publishing (ADR-50: each batch of --batch messages committed by its
// last, one acknowledgement per batch) and reading a stream with gets (one STREAM.MSG.GET or
// DIRECT.GET request per message, or batched direct gets of --batch messages ended by the
// server's 204 EOB status).
import { performance } from "node:perf_hooks";
import { createInbox, headers as newHeaders, nuid, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { Progress } from "./progress.js";
import { BenchSample } from "./bench_stats.js";
import type { Plan } from "./bench_cmd.js";
import { CliError } from "./runtime.js";
import { parseInteger } from "./units.js";

const dec = new TextDecoder();

/** A JetStream API reply that is an error: a JSON "error" or a status without a body. */
function apiFailure(m: Msg): string | undefined {
  if (m.data.length === 0 && m.headers?.code) return `status ${m.headers.code} ${m.headers.description}`.trim();
  if (m.data.length > 8 && m.data[2] === 0x65 /* "e" of {"error" */) return dec.decode(m.data);
  return undefined;
}

/** Atomic batches of --batch messages; the latency recorded is one whole batch's. */
export async function jsAtomicPublisher(p: Plan, nc: NatsConnection, n: number, client: number, subjectFor: (p: Plan, c: number, i: number) => string, bar: Progress, timeoutMs: number): Promise<BenchSample> {
  const size = parseInteger(p.o.batch, "--batch", 1);
  const lat: number[] = [];
  const t0 = performance.now();
  for (let sent = 0; sent < n; ) {
    const k = Math.min(size, n - sent);
    const id = nuid.next();
    const s = performance.now();
    for (let j = 0; j < k; j++) {
      const h = newHeaders();
      for (const key of p.headers?.keys() ?? []) for (const v of p.headers!.values(key)) h.append(key, v);
      h.set("Nats-Batch-Id", id);
      h.set("Nats-Batch-Sequence", String(j + 1));
      const subject = subjectFor(p, client, sent + j);
      if (j < k - 1) {
        nc.publish(subject, p.payload, { headers: h });
        continue;
      }
      h.set("Nats-Batch-Commit", "1");
      const m = await nc.request(subject, p.payload, { headers: h, timeout: timeoutMs });
      const failure = apiFailure(m);
      if (failure) throw new CliError(`atomic batch publish failed: ${failure}`, "the stream needs allow_atomic (--create sets it) and at most 1000 messages per --batch");
    }
    lat.push((performance.now() - s) * 1000);
    sent += k;
    bar.increment(k);
  }
  return new BenchSample(n, p.payload.length, performance.now() - t0, lat);
}

/** The stream's sequence range and whether it serves direct gets. */
async function streamRange(nc: NatsConnection, apiPrefix: string, stream: string, timeoutMs: number): Promise<{ first: number; last: number; direct: boolean }> {
  const m = await nc.request(`${apiPrefix}.STREAM.INFO.${stream}`, "", { timeout: timeoutMs });
  const info = m.json<{ error?: { description: string }; config: { allow_direct?: boolean }; state: { first_seq: number; last_seq: number; messages: number } }>();
  if (info.error) throw new CliError(`stream ${stream}: ${info.error.description}`);
  if (info.state.messages === 0) throw new CliError(`stream ${stream} has no messages to get`, "fill it first, e.g. tsnats bench js pub async SUBJECT --create");
  return { first: info.state.first_seq, last: info.state.last_seq, direct: info.config.allow_direct === true };
}

/**
 * One get per message, waiting for each answer: by sequence, wrapping around the stream;
 * DIRECT.GET when the stream allows it (any replica answers), STREAM.MSG.GET otherwise.
 */
export async function jsSyncGetter(p: Plan, nc: NatsConnection, n: number, start: number, bar: Progress, timeoutMs: number, apiPrefix: string): Promise<BenchSample> {
  const r = await streamRange(nc, apiPrefix, p.o.stream, timeoutMs);
  const span = r.last - r.first + 1;
  const lat: number[] = [];
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const seq = r.first + ((start + i) % span);
    const s = performance.now();
    const m = r.direct
      ? await nc.request(`${apiPrefix}.DIRECT.GET.${p.o.stream}`, JSON.stringify({ seq }), { timeout: timeoutMs })
      : await nc.request(`${apiPrefix}.STREAM.MSG.GET.${p.o.stream}`, JSON.stringify({ seq }), { timeout: timeoutMs });
    lat.push((performance.now() - s) * 1000);
    const failure = apiFailure(m);
    // A deleted sequence (404) is part of reading a stream with gaps, not a failure.
    if (failure && m.headers?.code !== 404) throw new CliError(`get of sequence ${seq} failed: ${failure}`);
    bytes += m.data.length;
    if ((i & 255) === 255) bar.increment(256);
  }
  bar.increment(n & 255);
  return new BenchSample(n, n > 0 ? Math.round(bytes / n) : 0, performance.now() - t0, lat);
}

/**
 * Batched direct gets (servers 2.11+): a request for up to --batch messages matching
 * --filter from the next sequence, answered by that many messages and a 204 EOB status;
 * the next request starts after the last message seen, wrapping around the stream.
 */
export async function jsBatchGetter(p: Plan, nc: NatsConnection, n: number, bar: Progress, timeoutMs: number, apiPrefix: string): Promise<BenchSample> {
  const r = await streamRange(nc, apiPrefix, p.o.stream, timeoutMs);
  if (!r.direct) throw new CliError(`stream ${p.o.stream} does not allow direct gets`, `tsnats stream edit ${p.o.stream} --allow-direct`);
  const size = parseInteger(p.o.batch, "--batch", 1);
  const filter = p.o.filter?.[0] ?? ">";
  const inbox = createInbox();
  let got = 0;
  let bytes = 0;
  let next = r.first;
  let failure: string | undefined;
  let batchDone: (() => void) | undefined;
  let lastSeq = 0;
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      const code = m.headers?.code ?? 0;
      if (m.data.length === 0 && code !== 0) {
        // 204 EOB ends a batch; 404 means nothing at or after `next` (wrap around).
        if (code !== 204 && code !== 404) failure ??= `status ${code} ${m.headers?.description ?? ""}`.trim();
        batchDone?.();
        return;
      }
      if (got >= n) return;
      got++;
      bytes += m.data.length;
      lastSeq = Number(m.headers?.get("Nats-Sequence") ?? 0);
      if ((got & 255) === 0) bar.increment(256);
    },
  });
  const t0 = performance.now();
  try {
    while (got < n && failure === undefined) {
      const before = got;
      let answered = false;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        batchDone = () => {
          answered = true;
          resolve();
        };
        timer = setTimeout(resolve, timeoutMs);
        nc.publish(`${apiPrefix}.DIRECT.GET.${p.o.stream}`, JSON.stringify({ seq: next, batch: Math.min(size, n - got), next_by_subj: filter }), { reply: inbox });
      });
      clearTimeout(timer);
      if (!answered) failure ??= `no end of batch within ${timeoutMs} ms`;
      else if (got === before && next === r.first) failure ??= `nothing in stream ${p.o.stream} matches ${filter}`;
      // After the last message (or nothing left at or after `next`), start over at the first.
      next = got === before || lastSeq >= r.last ? r.first : lastSeq + 1;
    }
  } finally {
    sub.unsubscribe();
  }
  bar.increment(got & 255);
  if (failure) throw new CliError(`batched direct get failed: ${failure}`, "batched direct gets need nats-server 2.11 or newer");
  return new BenchSample(got, got > 0 ? Math.round(bytes / got) : 0, performance.now() - t0);
}
