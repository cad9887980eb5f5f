// `tsnats bench`: natscli's benchmark commands (pub, sub, service request/serve, js pub
// sync/async/atomic, js get sync/batch (bench_js_get.ts), js ordered/consume/fetch, kv put/get) with messages/s, MB/s, latency
// percentiles, a progress bar, --csv FILE and --json. Every client has its own connection;
// all clients of one process share Node's single thread, so one process can saturate a
// server only where the server is slower than the client (see README).
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { createInbox, headers as newHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { Command } from "commander";
import { Option } from "commander";
import { App, collect } from "./app.js";
import { connectionOptions, dial, type Session } from "./connection.js";
import { BenchResults, BenchSample, benchLabel } from "./bench_stats.js";
import { newProgress, type Progress } from "./progress.js";
import { CliError, logf, println, sleep, type CliIO } from "./runtime.js";
import { api } from "./stream_cmd.js";
import { putStream } from "./js_api.js";
import { jsAtomicPublisher, jsBatchGetter, jsSyncGetter } from "./bench_js_get.js";
import { editableConfig } from "./stream_config.js";
import { parseHeaders } from "./template.js";
import { fmtBytes, fmtNum, parseBytes, parseDurationMs, parseInteger } from "./units.js";

interface BenchOpts {
  clients: string;
  msgs: string;
  size: string;
  progress: boolean;
  csv?: string;
  json?: boolean;
  multisubject?: boolean;
  multisubjectmax: string;
  multisubjectrandomize?: boolean;
  persistasync?: boolean;
  payload?: string;
  header?: string[];
  sleep?: string;
  // JetStream / KV
  stream: string;
  create?: boolean;
  storage: string;
  replicas: string;
  maxbytes: string;
  dedup?: boolean;
  dedupwindow: string;
  purge?: boolean;
  batch: string;
  consumer: string;
  acks: string;
  doubleack?: boolean;
  filter?: string[];
  bucket: string;
  history: string;
  randomize: string;
}

/** Everything one run needs, parsed once. */
export interface Plan {
  type: string;
  subject: string;
  clients: number;
  msgs: number;
  payload: Uint8Array;
  headers?: MsgHdrs;
  sleepMs: number;
  multi: boolean;
  multiMax: number;
  o: BenchOpts;
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Messages per client: an even split, the remainder to the first clients. */
function share(total: number, clients: number, i: number): number {
  return Math.floor(total / clients) + (i < total % clients ? 1 : 0);
}

function subjectFor(p: Plan, client: number, i: number): string {
  if (!p.multi) return p.subject;
  // --multisubjectrandomize: any of the subjects, not the next one in turn.
  const n = p.o.multisubjectrandomize ? Math.floor(Math.random() * (p.multiMax > 0 ? p.multiMax : i + 1)) : p.multiMax > 0 ? i % p.multiMax : i;
  return `${p.subject}.${client}.${n}`;
}

async function connectClient(s: Session, name: string): Promise<NatsConnection> {
  return dial(s.effective, { ...connectionOptions(s.io, s.effective), name });
}

async function corePublisher(p: Plan, nc: NatsConnection, n: number, client: number, bar: Progress): Promise<BenchSample> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    nc.publish(subjectFor(p, client, i), p.payload, p.headers ? { headers: p.headers } : undefined);
    if (p.sleepMs > 0) await sleep(nullIO, p.sleepMs);
    // Yield now and then so the socket drains instead of buffering the whole run.
    else if ((i & 1023) === 1023) {
      bar.increment(1024);
      await yieldToLoop();
    }
  }
  await nc.flush();
  bar.increment(n & 1023);
  return new BenchSample(n, p.payload.length, performance.now() - t0);
}

async function coreSubscriber(io: CliIO, p: Plan, nc: NatsConnection, n: number, bar: Progress, ready: () => void): Promise<BenchSample> {
  let got = 0;
  let first = 0;
  let last = 0;
  let size = 0;
  await new Promise<void>((resolve) => {
    const sub = nc.subscribe(p.multi ? `${p.subject}.>` : p.subject, {
      callback: (_e, m) => {
        last = performance.now();
        if (got === 0) first = last;
        got++;
        size = m.data.length;
        if ((got & 1023) === 0) bar.increment(1024);
        if (got >= n) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
    io.signal.addEventListener("abort", () => {
      sub.unsubscribe();
      resolve();
    });
    // Once messages flow, a long silence means the rest will not come (the server dropped
    // them for a slow consumer, or the publisher sent fewer): report what arrived.
    let seen = 0;
    let quietSince = performance.now();
    const watch = setInterval(() => {
      if (got !== seen) {
        seen = got;
        quietSince = performance.now();
      } else if (got > 0 && performance.now() - quietSince > 5000) {
        clearInterval(watch);
        sub.unsubscribe();
        io.stderr.write(`received ${got} of ${n} messages; nothing more for 5s (slow consumer drops, or fewer published)\n`);
        resolve();
      }
    }, 250);
    sub.closed.then(() => clearInterval(watch)).catch(() => clearInterval(watch));
    void nc.flush().then(ready);
  });
  bar.increment(got & 1023);
  return new BenchSample(got, size || p.payload.length, got > 0 ? last - first : 0);
}

async function requester(p: Plan, nc: NatsConnection, n: number, bar: Progress, timeoutMs: number): Promise<BenchSample> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    try {
      await nc.request(p.subject, p.payload, { timeout: timeoutMs, headers: p.headers });
    } catch (err) {
      throw new CliError(`request ${i + 1} failed: ${(err as Error).message}`, `start a service first: tsnats bench service serve ${p.subject}`);
    }
    lat.push((performance.now() - s) * 1000);
    bar.increment();
    if (p.sleepMs > 0) await sleep(nullIO, p.sleepMs);
  }
  return new BenchSample(n, p.payload.length, performance.now() - t0, lat);
}

async function server(io: CliIO, p: Plan, nc: NatsConnection, n: number, bar: Progress, ready: () => void): Promise<BenchSample> {
  let got = 0;
  let first = 0;
  let last = 0;
  await new Promise<void>((resolve) => {
    const sub = nc.subscribe(p.subject, {
      queue: "nats-bench-service",
      callback: (_e, m) => {
        if (got === 0) first = performance.now();
        got++;
        const reply = (): void => {
          m.respond(p.payload);
          bar.increment();
          if (got >= n) {
            last = performance.now();
            sub.unsubscribe();
            void nc.flush().then(() => resolve());
          }
        };
        if (p.sleepMs > 0) setTimeout(reply, p.sleepMs);
        else reply();
      },
    });
    io.signal.addEventListener("abort", () => {
      last = performance.now();
      sub.unsubscribe();
      resolve();
    });
    void nc.flush().then(ready);
  });
  return new BenchSample(got, p.payload.length, got > 0 ? last - first : 0);
}

async function jsPublisher(p: Plan, nc: NatsConnection, n: number, client: number, bar: Progress, timeoutMs: number, sync: boolean): Promise<BenchSample> {
  const js = jetstream(nc, { timeout: timeoutMs });
  const lat: number[] = [];
  const window = parseInteger(p.o.batch, "--batch", 1);
  const dedupBase = `${client}-${Date.now()}-`;
  const opts = (i: number): Record<string, unknown> => ({ headers: p.headers, ...(p.o.dedup ? { msgID: dedupBase + i } : {}), timeout: timeoutMs });
  const t0 = performance.now();
  if (sync) {
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      await js.publish(subjectFor(p, client, i), p.payload, opts(i));
      lat.push((performance.now() - s) * 1000);
      bar.increment();
      if (p.sleepMs > 0) await sleep(nullIO, p.sleepMs);
    }
  } else {
    // A window of `--batch` outstanding publishes, refilled as acks come back. Acks arrive
    // on one wildcard inbox subscription with no promise or timer per message (nats.js's
    // js.publish costs about 50 µs of CPU each, which would make the client the bottleneck),
    // the way nats.go's PublishAsync works.
    const inbox = createInbox();
    let inflight = 0;
    let acked = 0;
    let failure: string | undefined;
    let wake: (() => void) | undefined;
    let lastAck = performance.now();
    const sub = nc.subscribe(`${inbox}.*`, {
      callback: (_e, m) => {
        inflight--;
        acked++;
        lastAck = performance.now();
        // A PubAck is {"stream":..,"seq":..}; an error reply carries "error" (or a 503 status).
        if (m.data.length === 0 || (m.data.length > 8 && m.data[2] === 0x65 /* "e" of "error" */)) {
          failure ??= m.data.length === 0 ? `status ${m.headers?.code ?? "?"} (no JetStream stream for ${p.subject}?)` : new TextDecoder().decode(m.data);
        }
        if ((acked & 255) === 0) bar.increment(256);
        if (inflight <= lowWater || failure !== undefined) {
          const w = wake;
          wake = undefined;
          w?.();
        }
      },
    });
    // Wait until at most `until` acks are outstanding. Woken once per batch of acks (when
    // the window is half empty), not per ack, so the cost per message stays small.
    let lowWater = 0;
    const waitAcks = async (until: number): Promise<void> => {
      lowWater = until;
      while (inflight > until && failure === undefined) await new Promise<void>((r) => (wake = r));
    };
    const stall = setInterval(() => {
      if (inflight > 0 && performance.now() - lastAck > timeoutMs) {
        failure ??= `no acknowledgement for ${timeoutMs} ms`;
        const w = wake;
        wake = undefined;
        w?.();
      }
    }, 250);
    try {
      for (let i = 0; i < n && failure === undefined; i++) {
        inflight++;
        const h = p.o.dedup ? newHeaders() : p.headers;
        if (p.o.dedup) {
          for (const k of p.headers?.keys() ?? []) for (const v of p.headers!.values(k)) h!.append(k, v);
          h!.set("Nats-Msg-Id", dedupBase + i);
        }
        nc.publish(subjectFor(p, client, i), p.payload, { reply: `${inbox}.${i}`, ...(h ? { headers: h } : {}) });
        if (inflight >= window) await waitAcks(Math.floor(window / 2));
        if (p.sleepMs > 0) await sleep(nullIO, p.sleepMs);
      }
      await waitAcks(0);
    } finally {
      clearInterval(stall);
      sub.unsubscribe();
    }
    bar.increment(acked & 255);
    if (failure !== undefined) throw new CliError(`JetStream publish failed: ${failure}`);
  }
  return new BenchSample(n, p.payload.length, performance.now() - t0, lat);
}

/**
 * An ordered consumer the way nats-server is usually driven for reading a stream fast:
 * an ephemeral push consumer (ack none, flow control, idle heartbeats, memory state) read by
 * one core subscription, with the consumer sequence of every message checked so a gap fails
 * the run. (nats.js's ordered consumer pulls in batches and costs about 50 µs of CPU per
 * message, which would measure the client rather than the server.)
 */
async function jsOrdered(p: Plan, nc: NatsConnection, n: number, bar: Progress, timeoutMs: number): Promise<BenchSample> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const inbox = createInbox();
  const filter = p.o.filter ?? [];
  let got = 0;
  let size = 0;
  let nextSeq = 1;
  let failure: string | undefined;
  let last = performance.now();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      last = performance.now();
      if (m.data.length === 0 && m.headers?.code === 100) {
        if (m.reply) m.respond(); // flow control: answer at once
        return;
      }
      // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
      const t = m.reply?.split(".") ?? [];
      const cseq = Number(t.length >= 11 ? t[t.length - 4] : t[6]);
      if (cseq !== nextSeq) {
        failure = `ordered consumer gap: expected consumer sequence ${nextSeq}, got ${cseq}`;
        return done();
      }
      nextSeq++;
      got++;
      size = m.data.length;
      if ((got & 1023) === 0) bar.increment(1024);
      if (got >= n) done();
    },
  });
  await nc.flush();
  const ci = await api(
    () =>
      jsm.consumers.add(p.o.stream, {
        deliver_subject: inbox,
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.All,
        flow_control: true,
        idle_heartbeat: 5e9,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: 60e9,
        ...(filter.length === 1 ? { filter_subject: filter[0] } : filter.length > 1 ? { filter_subjects: filter } : {}),
      }),
    { stream: p.o.stream },
  );
  const t0 = performance.now();
  const stall = setInterval(() => {
    if (performance.now() - last > Math.max(timeoutMs, 10_000)) {
      failure = `no message for ${Math.max(timeoutMs, 10_000)} ms after ${got} messages (the stream holds fewer than --msgs?)`;
      done();
    }
  }, 250);
  try {
    await finished;
  } finally {
    clearInterval(stall);
    sub.unsubscribe();
    await jsm.consumers.delete(p.o.stream, ci.name).catch(() => undefined);
  }
  if (failure) throw new CliError(failure);
  bar.increment(got & 1023);
  return new BenchSample(got, size, performance.now() - t0);
}

async function ensureDurable(jsm: JetStreamManager, p: Plan): Promise<void> {
  const existing = await jsm.consumers.info(p.o.stream, p.o.consumer).catch(() => undefined);
  if (existing) return;
  const ack = p.o.acks === "none" ? AckPolicy.None : p.o.acks === "all" ? AckPolicy.All : AckPolicy.Explicit;
  const filter = p.o.filter ?? [];
  await api(() => jsm.consumers.add(p.o.stream, { durable_name: p.o.consumer, ack_policy: ack, ...(filter.length === 1 ? { filter_subject: filter[0] } : filter.length > 1 ? { filter_subjects: filter } : {}) }), { stream: p.o.stream });
}

async function jsDurable(p: Plan, nc: NatsConnection, n: number, bar: Progress, fetch: boolean, timeoutMs: number, apiPrefix: string): Promise<BenchSample> {
  const ackPayload = new TextEncoder().encode("+ACK");
  const js = jetstream(nc);
  const c = await api(() => js.consumers.get(p.o.stream, p.o.consumer), { stream: p.o.stream, consumer: p.o.consumer });
  const batch = parseInteger(p.o.batch, "--batch", 1);
  const ackEach = p.o.acks === "explicit";
  const ackLast = p.o.acks === "all";
  const t0 = performance.now();
  let got = 0;
  let size = 0;
  const handle = async (m: { data: Uint8Array; ack(): void; ackAck(): Promise<boolean> }, lastOfBatch: boolean): Promise<void> => {
    got++;
    size = m.data.length;
    if (ackEach || (ackLast && lastOfBatch)) {
      if (p.o.doubleack) await m.ackAck();
      else m.ack();
    }
    if ((got & 1023) === 0) bar.increment(1024);
  };
  if (fetch && !p.o.doubleack) {
    // Pull requests by hand, as nats.go's Fetch does: one request for `batch` messages, the
    // messages counted and acked on a core subscription, the next request when the batch is
    // complete (or the server ends it with a 404/408 status). nats.js's fetch allocates a
    // JsMsg and more per message, which would make the client the bottleneck.
    const inbox = createInbox();
    const pullSubject = `${apiPrefix}.CONSUMER.MSG.NEXT.${p.o.stream}.${p.o.consumer}`;
    let inBatch = 0;
    let want = 0;
    let failure: string | undefined;
    let emptyPulls = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const pull = (): void => {
      want = Math.min(batch, n - got);
      inBatch = 0;
      nc.publish(pullSubject, JSON.stringify({ batch: want, expires: Math.max(1000, timeoutMs) * 1e6 }), { reply: inbox });
    };
    const sub = nc.subscribe(inbox, {
      callback: (_e, m) => {
        if (m.data.length === 0 && m.headers?.code) {
          const code = m.headers.code;
          if (code === 100) return;
          if (code === 404 || code === 408) {
            if (inBatch === 0 && ++emptyPulls >= 1) {
              failure = `the consumer ${p.o.stream} > ${p.o.consumer} ran dry after ${got} messages`;
              return done();
            }
            return pull();
          }
          failure = `pull failed: ${code} ${m.headers.description ?? ""}`;
          return done();
        }
        got++;
        inBatch++;
        size = m.data.length;
        const last = inBatch === want || got >= n;
        if (m.reply && (ackEach || (ackLast && last))) nc.publish(m.reply, ackPayload);
        if ((got & 1023) === 0) bar.increment(1024);
        if (got >= n) return done();
        if (inBatch === want) {
          emptyPulls = 0;
          pull();
        }
      },
    });
    pull();
    await finished;
    sub.unsubscribe();
    if (failure) throw new CliError(failure, failure.includes("ran dry") ? "publish more first (tsnats bench js pub ...), or lower --msgs" : undefined);
  } else {
    const msgs = await c.consume({ max_messages: batch });
    for await (const m of msgs) {
      // With --acks all, one ack per `--batch` messages covers everything before it.
      await handle(m, got + 1 >= n || (got + 1) % batch === 0);
      if (got >= n) break;
    }
    await msgs.close().catch(() => undefined);
  }
  await nc.flush();
  bar.increment(got & 1023);
  return new BenchSample(got, size, performance.now() - t0);
}

async function kvWorker(p: Plan, nc: NatsConnection, n: number, offset: number, bar: Progress, put: boolean): Promise<BenchSample> {
  const kv = await new Kvm(nc).open(p.o.bucket);
  const rnd = parseInteger(p.o.randomize, "--randomize", 0);
  const lat: number[] = [];
  let size = p.payload.length;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const key = String(rnd > 0 ? Math.floor(Math.random() * rnd) : offset + i);
    const s = performance.now();
    if (put) await kv.put(key, p.payload);
    else {
      const e = await kv.get(key);
      if (!e) throw new CliError(`key ${key} not found in bucket ${p.o.bucket}`, `fill it first: tsnats bench kv put --msgs ${n}`);
      size = e.value.length;
    }
    lat.push((performance.now() - s) * 1000);
    bar.increment();
    if (p.sleepMs > 0) await sleep(nullIO, p.sleepMs);
  }
  return new BenchSample(n, size, performance.now() - t0, lat);
}

/** An I/O stand-in for sleeps inside workers (never aborted early). */
const nullIO = { signal: new AbortController().signal } as CliIO;

async function prepareStream(s: Session, p: Plan): Promise<void> {
  const jsm = await s.jsm();
  const exists = await jsm.streams.info(p.o.stream).catch(() => undefined);
  if (p.o.create || !exists) {
    if (!p.o.create) throw new CliError(`stream ${p.o.stream} does not exist`, "add --create to create it (or --stream NAME for another)");
    const cfg = {
      name: p.o.stream,
      subjects: [p.multi ? `${p.subject}.>` : p.subject],
      storage: p.o.storage as never,
      num_replicas: parseInteger(p.o.replicas, "--replicas", 1),
      max_bytes: parseBytes(p.o.maxbytes, "--maxbytes"),
      duplicate_window: parseDurationMs(p.o.dedupwindow, "--dedupwindow") * 1e6,
      // Direct gets (bench js get) read a stream the benchmarks filled.
      allow_direct: true,
      ...(p.type === "jsatomicpub" ? { allow_atomic: true } : {}),
      // --persistasync: acknowledged before the write reaches the disk (R1 streams).
      ...(p.o.persistasync ? { persist_mode: "async" } : {}),
    };
    await putStream(s, exists ? { ...editableConfig(exists.config), ...cfg } : cfg, exists !== undefined);
  }
  if (p.o.purge) await api(() => jsm.streams.purge(p.o.stream), { stream: p.o.stream });
}

async function prepareBucket(s: Session, p: Plan, put: boolean): Promise<void> {
  await s.jsm();
  const kvm = new Kvm(await s.nc());
  const exists = await kvm
    .open(p.o.bucket)
    .then(async (b) => (await b.status(), true))
    .catch(() => false);
  if (!exists) {
    if (!put) throw new CliError(`bucket ${p.o.bucket} does not exist`, "fill it first with tsnats bench kv put");
    await api(() => kvm.create(p.o.bucket, { storage: p.o.storage as never, history: parseInteger(p.o.history, "--history", 1), replicas: parseInteger(p.o.replicas, "--replicas", 1), max_bytes: parseBytes(p.o.maxbytes, "--maxbytes") }));
  }
  if (p.o.purge) {
    const jsm = await s.jsm();
    await api(() => jsm.streams.purge(`KV_${p.o.bucket}`));
  }
}

/** Run one benchmark: connect the clients, start them together, report. */
async function runBench(s: Session, io: CliIO, type: string, subject: string, o: BenchOpts): Promise<void> {
  const clients = parseInteger(o.clients, "--clients", 1);
  const msgs = parseInteger(o.msgs, "--msgs", 1);
  const size = o.payload ? fs.statSync(o.payload).size : parseBytes(o.size, "--size");
  if (size < 0) throw new CliError("--size must be 0 or more");
  const payload = o.payload ? new Uint8Array(fs.readFileSync(o.payload)) : new Uint8Array(size).fill(0x61);
  const p: Plan = {
    type,
    subject,
    clients,
    msgs,
    payload,
    headers: parseHeaders(o.header, { count: 0 }),
    sleepMs: o.sleep ? parseDurationMs(o.sleep, "--sleep") : 0,
    multi: o.multisubject === true,
    multiMax: parseInteger(o.multisubjectmax, "--multisubjectmax", 0),
    o,
  };
  if (p.headers === undefined && o.header?.length) p.headers = newHeaders();
  await s.nc(); // fail early with a clear connection error
  if (type === "jssyncpub" || type === "jsasyncpub" || type === "jsatomicpub") await prepareStream(s, p);
  if (type === "jsordered" || type === "jsfetch" || type === "jsconsume" || type === "jssyncget" || type === "jsbatchget") {
    const jsm = await s.jsm();
    await api(() => jsm.streams.info(o.stream), { stream: o.stream });
    if (o.purge) await api(() => jsm.streams.purge(o.stream), { stream: o.stream });
    if (type === "jsfetch" || type === "jsconsume") await ensureDurable(jsm, p);
  }
  if (type === "kvput" || type === "kvget") await prepareBucket(s, p, type === "kvput");

  const fanOut = type === "sub" || type === "jsordered";
  logf(io, `Starting ${benchLabel(type)} benchmark [clients=${clients}, msg-size=${fmtBytes(size)}, msgs=${fmtNum(msgs)}${subject ? `, subject=${subject}` : ""}${type.startsWith("js") ? `, stream=${o.stream}` : ""}${type.startsWith("kv") ? `, bucket=${o.bucket}` : ""}]`);
  const conns: NatsConnection[] = [];
  try {
    for (let i = 0; i < clients; i++) conns.push(await connectClient(s, `tsnats-bench-${type}-${i}`));
    const total = fanOut ? msgs * clients : msgs;
    const bar = newProgress(io, total, "Running", { enabled: o.progress && !o.json });
    let readyCount = 0;
    let allReady!: () => void;
    const ready = new Promise<void>((r) => (allReady = r));
    const onReady = (): void => {
      if (++readyCount === clients) allReady();
    };
    const timeout = Math.max(s.timeoutMs, 5000);
    let offset = 0;
    const jobs = conns.map((nc, i) => {
      const n = fanOut ? msgs : share(msgs, clients, i);
      const start = offset;
      offset += n;
      switch (type) {
        case "pub":
          return corePublisher(p, nc, n, i, bar);
        case "sub":
          return coreSubscriber(io, p, nc, n, bar, onReady);
        case "request":
          return requester(p, nc, n, bar, timeout);
        case "reply":
          return server(io, p, nc, n, bar, onReady);
        case "jssyncpub":
          return jsPublisher(p, nc, n, i, bar, timeout, true);
        case "jsasyncpub":
          return jsPublisher(p, nc, n, i, bar, timeout, false);
        case "jsatomicpub":
          return jsAtomicPublisher(p, nc, n, i, subjectFor, bar, timeout);
        case "jssyncget":
          return jsSyncGetter(p, nc, n, start, bar, timeout, s.jsApiPrefix());
        case "jsbatchget":
          return jsBatchGetter(p, nc, n, bar, timeout, s.jsApiPrefix());
        case "jsordered":
          return jsOrdered(p, nc, n, bar, s.timeoutMs);
        case "jsfetch":
          return jsDurable(p, nc, n, bar, true, s.timeoutMs, s.jsApiPrefix());
        case "jsconsume":
          return jsDurable(p, nc, n, bar, false, s.timeoutMs, s.jsApiPrefix());
        case "kvput":
          return kvWorker(p, nc, n, start, bar, true);
        case "kvget":
          return kvWorker(p, nc, n, start, bar, false);
        default:
          throw new CliError(`unknown benchmark ${type}`);
      }
    });
    if (type === "sub" || type === "reply") {
      await ready;
      logf(io, `Waiting for ${fmtNum(msgs)} ${type === "sub" ? "messages" : "requests"} on ${subject}`);
    }
    const samples = await Promise.all(jobs);
    bar.stop();
    // Receivers report the size of what they received; senders the size they sent.
    const results = new BenchResults(type, samples.find((x) => x.msgs > 0)?.msgBytes ?? size);
    for (const smp of samples) results.add(smp);
    if (o.csv) {
      fs.writeFileSync(o.csv, results.csv());
      logf(io, `Saved metric data in csv file ${o.csv}`);
    }
    if (o.json) printJson(io, results.json());
    else {
      println(io);
      io.stdout.write(results.report());
    }
  } finally {
    for (const nc of conns) await nc.close().catch(() => undefined);
  }
}

function printJson(io: CliIO, v: unknown): void {
  println(io, JSON.stringify(v, null, 2));
}

function common(cmd: Command): Command {
  return cmd
    .option("--clients <n>", "Number of concurrent clients", "1")
    .option("--msgs <n>", "Number of messages to publish or subscribe to", "100000")
    .option("--no-progress", "Disable the progress bar")
    .option("--csv <file>", "Save benchmark data to CSV file")
    .option("-j, --json", "Print the results as JSON")
    .option("--size <bytes>", "Size of the test messages", "128B")
    .option("--multisubject", "Multi-subject mode, each message is published on a subject that includes the publisher's message sequence number as a token")
    .option("--multisubjectmax <n>", "The maximum number of subjects to use in multi-subject mode (0 means no max)", "100000")
    .option("--multisubjectrandomize", "Randomize which subjects are being used when in multisubject mode")
    .option("--payload <file>", "File containing a message payload to send")
    .option("-H, --header <K:V>", "Adds headers to the message using K:V format (repeatable)", collect)
    .option("--sleep <duration>", "Sleep for the specified interval between publications");
}

function jsFlags(cmd: Command): Command {
  return cmd
    .option("--stream <name>", "The name of the stream to create or use", "benchstream")
    .option("--create", "Create or update the stream first")
    .addOption(new Option("--storage <type>", 'JetStream storage (memory/file) for the "benchstream" stream').choices(["memory", "file"]).default("file"))
    .option("--replicas <n>", 'Number of replicas for the "benchstream" stream', "1")
    .option("--maxbytes <bytes>", "The maximum size of the stream or KV bucket in bytes", "1GB")
    .option("--dedup", "Sets a message id in the header to use JS Publish de-duplication")
    .option("--dedupwindow <duration>", "Sets the duration of the stream's deduplication functionality", "2m")
    .option("--purge", "Purge the stream before running")
    .option("--persistasync", "Set the persistence mode for the stream to asynchronous (only for R1 streams)")
    .option("--batch <n>", "Outstanding asynchronous publishes / messages buffered per fetch", "500");
}

function consumerFlags(cmd: Command): Command {
  return cmd
    .option("--consumer <name>", "Specify the durable consumer name to use", "nats-bench")
    .addOption(new Option("--acks <mode>", "Acknowledgement mode for the consumer").choices(["explicit", "none", "all"]).default("explicit"))
    .option("--doubleack", "Synchronously acknowledge messages, waiting for a reply from the server")
    .option("--filter <subjects>", "Filter Stream by subjects (repeatable)", collect);
}

export function registerBench(app: App): void {
  const io = app.io;
  const bench = app.program.command("bench").description("Benchmark utility");
  // Core commands lack the JetStream/KV flags; their defaults fill in.
  const defaults: Partial<BenchOpts> = { stream: "benchstream", bucket: "benchbucket", batch: "500", storage: "file", replicas: "1", maxbytes: "1GB", dedupwindow: "2m", consumer: "nats-bench", acks: "explicit", history: "1", randomize: "0" };
  const run = (type: string) => app.action<BenchOpts>(({ session, opts }, subject?: string) => runBench(session, io, type, subject ?? "", { ...defaults, ...opts } as BenchOpts));

  common(bench.command("pub <subject>").description("Publish Core NATS messages")).action(run("pub"));
  common(bench.command("sub <subject>").description("Subscribe to Core NATS messages")).action(run("sub"));
  const svc = bench.command("service").description("Micro-service mode");
  common(svc.command("request <subject>").description("Send a request and wait for its reply")).action(run("request"));
  common(svc.command("serve <subject>").description("Service requests")).action(run("reply"));
  // The older natscli spellings.
  common(bench.command("request <subject>").alias("req").description("Send requests and wait for their replies (as bench service request)")).action(run("request"));
  common(bench.command("reply <subject>").description("Service requests (as bench service serve)")).action(run("reply"));

  const js = bench.command("js").description("JetStream benchmark commands");
  const jspub = js.command("pub").description("Publish JetStream messages");
  jsFlags(common(jspub.command("sync <subject>").description("Use synchronous JetStream publish"))).action(run("jssyncpub"));
  jsFlags(common(jspub.command("async <subject>").description("Use asynchronous JetStream publish"))).action(run("jsasyncpub"));
  jsFlags(common(jspub.command("atomic <subject>").alias("batch").description("Use atomic batch JetStream publish (--batch messages per batch, at most 1000)"))).action(run("jsatomicpub"));
  const jsget = js.command("get").description("Retrieve messages from JetStream using gets");
  jsFlags(common(jsget.command("sync").description("Use synchronous JetStream get"))).action(run("jssyncget"));
  jsFlags(common(jsget.command("batch").description("Use batched JetStream direct get (servers 2.11+)")))
    .option("--filter <subject>", "Filter for the messages (default >)", collect)
    .action(run("jsbatchget"));
  jsFlags(common(js.command("ordered").description("Consume JetStream messages from a consumer using an ephemeral ordered consumer")))
    .option("--filter <subjects>", "Filter Stream by subjects (repeatable)", collect)
    .action(run("jsordered"));
  consumerFlags(jsFlags(common(js.command("consume").description("Consume JetStream messages from a durable consumer using a callback")))).action(run("jsconsume"));
  consumerFlags(jsFlags(common(js.command("fetch").description("Consume JetStream messages from a durable consumer using fetch")))).action(run("jsfetch"));

  const kv = bench.command("kv").description("KV benchmark operations");
  const kvFlags = (cmd: Command): Command =>
    common(cmd)
      .option("--bucket <name>", "The bucket to use for the benchmark", "benchbucket")
      .addOption(new Option("--storage <type>", 'JetStream storage (memory/file) for the "benchbucket" bucket').choices(["memory", "file"]).default("file"))
      .option("--replicas <n>", 'Number of replicas for the "benchbucket" bucket', "1")
      .option("--maxbytes <bytes>", "The maximum size of the KV bucket in bytes", "1GB")
      .option("--history <n>", "History depth for the bucket in KV mode", "1")
      .option("--purge", "Purge the bucket before running")
      .option("--randomize <n>", "Use random keys between 0 and this number (0 for sequential access)", "0");
  kvFlags(kv.command("put").description("Put messages in a KV bucket")).action(run("kvput"));
  kvFlags(kv.command("get").description("Get messages from a KV bucket")).action(run("kvget"));
}
