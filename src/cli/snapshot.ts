// Stream backup and restore over the NATS network ($JS.API.STREAM.SNAPSHOT / RESTORE), in
// natscli's on-disk layout so either tool restores the other's backups:
//   <dir>/backup.json     {"config": StreamConfig, "state": StreamState}, indented JSON
//   <dir>/stream.tar.s2   the server's snapshot bytes, exactly as sent (an s2-compressed tar)
// Data streams through: chunks go straight to disk as they arrive (each acknowledged only
// after it is written, which bounds memory by the server's window), and restore reads the
// file 64 KiB at a time, so a stream of any size never sits in memory.
import fs from "node:fs";
import path from "node:path";
import { createInbox, type Msg } from "@nats-io/transport-node";
import type { Session } from "./connection.js";
import { newProgress } from "./progress.js";
import { CliError } from "./runtime.js";
import type { Cfg } from "./stream_config.js";

export const DATA_FILE = "stream.tar.s2";
export const META_FILE = "backup.json";
const RESTORE_CHUNK = 64 * 1024;

export interface BackupOptions {
  progress: boolean;
  consumers: boolean;
  check: boolean;
  chunkSize: number;
  windowSize?: number;
}

export interface BackupResult {
  bytes: number;
  chunks: number;
  ms: number;
  state: { messages: number; bytes: number };
}

interface ApiResponse {
  error?: { code?: number; err_code?: number; description?: string };
  [k: string]: unknown;
}

function apiError(res: ApiResponse, what: string): CliError | undefined {
  if (!res.error) return undefined;
  return new CliError(`${what} failed: ${res.error.description ?? JSON.stringify(res.error)}`);
}

async function jsonRequest(s: Session, subject: string, body: unknown, timeoutMs = s.timeoutMs): Promise<ApiResponse> {
  const nc = await s.nc();
  let m: Msg;
  try {
    m = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  } catch (err) {
    const msg = (err as Error).message;
    if (/no responders/i.test(msg)) throw new CliError(`no JetStream API answered on ${subject}`, "is JetStream enabled? Check --js-domain / --js-api-prefix");
    if (/timeout/i.test(msg)) throw new CliError(`request ${subject} timed out`, "the server may not support stream snapshots (nats-server does); raise --timeout for a slow server");
    throw new CliError(`request ${subject} failed: ${msg}`);
  }
  return m.json<ApiResponse>();
}

/** Back up one stream into `dir` (created, mode 0700). */
export async function backupStream(s: Session, stream: string, dir: string, o: BackupOptions): Promise<BackupResult> {
  const nc = await s.nc();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dataFile = path.join(dir, DATA_FILE);
  const metaFile = path.join(dir, META_FILE);
  const deliver = createInbox(s.effective.ctx.inbox_prefix || undefined);
  const started = Date.now();
  let bytes = 0;
  let chunks = 0;
  const fd = fs.openSync(dataFile, "w", 0o600);
  // Subscribe before asking, so no chunk can arrive before we listen.
  const sub = nc.subscribe(deliver);
  let bar: ReturnType<typeof newProgress> | undefined;
  try {
    const req: Record<string, unknown> = { deliver_subject: deliver, no_consumers: !o.consumers, chunk_size: o.chunkSize };
    if (o.check) req.jsck = true;
    if (o.windowSize) req.window_size = o.windowSize;
    const res = await jsonRequest(s, `${s.jsApiPrefix()}.STREAM.SNAPSHOT.${stream}`, req);
    const err = apiError(res, `backup of stream ${stream}`);
    if (err) throw err;
    const state = res.state as { messages: number; bytes: number };
    // The server sends compressed bytes; the stream's size is the best estimate of the total.
    bar = newProgress(s.io, Math.max(1, state.bytes), `Backing up ${stream}`, { bytes: true, enabled: o.progress });
    const stall = s.timeoutMs * 6;
    const chunksIn = sub[Symbol.asyncIterator]();
    const interrupted = new Promise<never>((_r, reject) => {
      const fail = (): void => reject(new CliError(`backup of stream ${stream} interrupted`));
      if (s.io.signal.aborted) fail();
      else s.io.signal.addEventListener("abort", fail, { once: true });
    });
    interrupted.catch(() => undefined);
    for (;;) {
      const m = await nextWithin(chunksIn, stall, interrupted);
      if (m === undefined) throw new CliError(`backup of stream ${stream} stalled: no data for ${stall / 1000}s`, "check the server's log; retry with a larger --timeout");
      if (m.data.length === 0) {
        const status = m.headers?.code ?? 0;
        if (status !== 0 && status !== 204) throw new CliError(`backup of stream ${stream} failed: ${status} ${m.headers?.description ?? ""}`.trim());
        break;
      }
      fs.writeSync(fd, m.data);
      bytes += m.data.length;
      chunks++;
      bar.update(Math.min(bytes, state.bytes));
      // Acknowledge once the chunk is on disk: the server's window then bounds our memory.
      if (m.reply) m.respond();
    }
    fs.fsyncSync(fd);
    bar.update(state.bytes);
    fs.writeFileSync(metaFile, JSON.stringify({ config: res.config, state: res.state }, null, "  "), { mode: 0o600 });
    return { bytes, chunks, ms: Date.now() - started, state };
  } catch (err) {
    // Never leave files that could pass for a finished backup.
    fs.rmSync(metaFile, { force: true });
    fs.rmSync(dataFile, { force: true });
    throw err;
  } finally {
    bar?.stop();
    sub.unsubscribe();
    fs.closeSync(fd);
  }
}

/** The next chunk, or undefined after `ms` without one; rejects when interrupted. */
async function nextWithin(it: AsyncIterator<Msg>, ms: number, interrupted: Promise<never>): Promise<Msg | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    const r = await Promise.race([it.next(), timeout, interrupted]);
    if (r === undefined) return undefined;
    return r.done ? undefined : r.value;
  } finally {
    clearTimeout(timer);
  }
}

export interface RestoreOptions {
  progress: boolean;
  config?: Cfg;
  cluster?: string;
  tags?: string[];
  replicas?: number;
}

export interface RestoreResult {
  stream: string;
  ms: number;
  /** True when the stream already held exactly this backup (a re-run after success). */
  alreadyRestored: boolean;
}

/** Read and check a backup directory's metadata. */
export function readBackupMeta(dir: string): { config: Cfg; state: { messages: number; bytes: number; last_seq: number; first_seq: number } } {
  const metaFile = path.join(dir, META_FILE);
  const dataFile = path.join(dir, DATA_FILE);
  if (!fs.existsSync(metaFile)) throw new CliError(`${dir} is not a stream backup: ${META_FILE} is missing`, "give the directory written by `tsnats stream backup` or `nats stream backup`");
  if (!fs.existsSync(dataFile)) throw new CliError(`${dir} is not a complete stream backup: ${DATA_FILE} is missing`);
  let meta: { config?: Cfg; state?: { messages: number; bytes: number; last_seq: number; first_seq: number } };
  try {
    meta = JSON.parse(fs.readFileSync(metaFile, "utf8"));
  } catch (err) {
    throw new CliError(`${metaFile} is not valid JSON: ${(err as Error).message}`);
  }
  if (!meta.config?.name || !meta.state) throw new CliError(`${metaFile} holds no stream configuration and state`);
  return { config: meta.config, state: meta.state };
}

/**
 * Restore a stream from `dir`. Safe to re-run: a stream that already holds exactly the
 * backed-up state is reported as restored; an interrupted restore leaves no stream behind
 * (the server discards a restore that never received its final chunk), so running it again
 * starts over.
 */
export async function restoreStream(s: Session, dir: string, o: RestoreOptions): Promise<RestoreResult> {
  const { config: backedUp, state } = readBackupMeta(dir);
  const config: Cfg = { ...(o.config ?? backedUp) };
  if (config.name !== backedUp.name) throw new CliError("stream name may not be changed during restore", `the backup is of stream "${backedUp.name}"`);
  if (o.cluster || o.tags) config.placement = { ...(config.placement ?? {}), ...(o.cluster ? { cluster: o.cluster } : {}), ...(o.tags ? { tags: o.tags } : {}) } as never;
  if (o.replicas !== undefined) config.num_replicas = o.replicas;
  const name = config.name as string;
  const started = Date.now();
  const nc = await s.nc();
  const jsm = await s.jsm();
  const existing = await jsm.streams.info(name).catch(() => undefined);
  if (existing) {
    if (existing.state.messages === state.messages && existing.state.last_seq === state.last_seq && existing.state.first_seq === state.first_seq) {
      return { stream: name, ms: 0, alreadyRestored: true };
    }
    throw new CliError(`stream "${name}" already exists`, `remove it first (tsnats stream rm ${name} -f) to restore this backup over it`);
  }
  const dataFile = path.join(dir, DATA_FILE);
  const size = fs.statSync(dataFile).size;
  const res = await jsonRequest(s, `${s.jsApiPrefix()}.STREAM.RESTORE.${name}`, { config, state });
  const err = apiError(res, `restore of stream ${name}`);
  if (err) throw err;
  const deliver = res.deliver_subject as string;
  if (!deliver) throw new CliError(`restore of stream ${name} failed: the server gave no deliver subject`);
  const bar = newProgress(s.io, Math.max(1, size), `Restoring ${name}`, { bytes: true, enabled: o.progress });
  const fd = fs.openSync(dataFile, "r");
  try {
    let sent = 0;
    for (;;) {
      if (s.io.signal.aborted) throw new CliError(`restore of stream ${name} interrupted; the server discards the partial restore, run the command again`);
      const chunk = new Uint8Array(RESTORE_CHUNK);
      const n = fs.readSync(fd, chunk, 0, RESTORE_CHUNK, null);
      if (n === 0) break;
      const reply = await nc.request(deliver, chunk.subarray(0, n), { timeout: s.timeoutMs }).catch((e: Error) => {
        throw new CliError(`restore of stream ${name} failed after ${sent} bytes: ${e.message}`, "the server discards a partial restore: run the command again");
      });
      if (reply.data.length > 0) {
        const doc = safeJson(reply.data);
        if (doc?.error) throw new CliError(`restore of stream ${name} failed: ${doc.error.description ?? JSON.stringify(doc.error)}`);
      }
      sent += n;
      bar.update(sent);
    }
    // The empty message ends the upload; the server then rebuilds the stream, which may take long.
    const done = await nc.request(deliver, new Uint8Array(0), { timeout: Math.max(s.timeoutMs, 3600_000) });
    const doc = safeJson(done.data);
    if (!doc) throw new CliError(`restore of stream ${name}: unexpected final response ${new TextDecoder().decode(done.data).slice(0, 200)}`);
    const fin = apiError(doc, `restore of stream ${name}`);
    if (fin) throw fin;
  } finally {
    bar.stop();
    fs.closeSync(fd);
  }
  return { stream: name, ms: Date.now() - started, alreadyRestored: false };
}

function safeJson(data: Uint8Array): ApiResponse | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as ApiResponse;
  } catch {
    return undefined;
  }
}
