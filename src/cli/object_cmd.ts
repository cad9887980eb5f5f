// `tsnats object`: Object Store buckets on @nats-io/obj, natscli's commands and output.
// Files stream in both directions with bounded memory: `put` hands the client a stream it
// pulls from as each chunk is acknowledged, and `get` fetches chunks in small batches and
// writes each batch to disk before asking for the next, checking the SHA-256 digest as it
// goes, so a 1 GB object never sits in memory.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import type { Command } from "commander";
import { Option } from "commander";
import { Objm, type ObjectInfo, type ObjectStore, type ObjectStoreStatus } from "@nats-io/obj";
import { App, collect, collectPairs, isSet } from "./app.js";
import type { Session } from "./connection.js";
import { Columns, printJson, printTable } from "./output.js";
import { newProgress } from "./progress.js";
import { askConfirm } from "./prompt.js";
import { aborted, CliError, println, type CliIO } from "./runtime.js";
import { api } from "./stream_cmd.js";
import { editableConfig } from "./stream_config.js";
import { putStream } from "./js_api.js";
import { parseHeaders } from "./template.js";
import { fmtAgo, fmtBytes, fmtNanos, fmtNum, fmtTime, parseBytes, parseDurationMs, parseInteger } from "./units.js";

/** Chunks fetched per batch by `get`: bounds its memory to this many chunks. */
const GET_BATCH = 32;

interface BucketFlags {
  ttl?: string;
  replicas?: string;
  maxBucketSize?: string;
  description?: string;
  storage?: string;
  tags?: string[];
  cluster?: string;
  metadata?: Record<string, string>;
  compress?: boolean;
  json?: boolean;
}

function bucketFlags(cmd: Command): Command {
  return cmd
    .option("--ttl <duration>", "How long to keep objects for")
    .option("--replicas <n>", "How many replicas of the data to store", "1")
    .option("--max-bucket-size <bytes>", "Maximum size for the bucket")
    .option("--description <text>", "A description for the bucket")
    .addOption(new Option("--storage <type>", "Storage backend to use (file, memory)").choices(["file", "f", "memory", "m"]))
    .option("--tags <tag>", "Place the store on servers that has specific tags (repeatable)", collect)
    .option("--cluster <name>", "Place the store on a specific cluster")
    .option("--metadata <K=V>", "Adds metadata to the bucket (repeatable)", collectPairs)
    .option("--compress", "Compress the bucket data")
    .option("-j, --json", "Produce JSON output");
}

async function openStore(s: Session, bucket: string): Promise<ObjectStore> {
  const js = await s.js();
  await s.jsm();
  try {
    return await new Objm(js).open(bucket);
  } catch (err) {
    const msg = (err as Error).message;
    if (/not found/i.test(msg)) throw new CliError(`object store bucket "${bucket}" not found`, "list the buckets with `tsnats object ls`, create one with `tsnats object add`");
    throw new CliError(msg);
  }
}

export function renderObjStatus(st: ObjectStoreStatus): string {
  const si = st.streamInfo;
  const cols = new Columns(`Information for Object Store Bucket ${st.bucket} created ${fmtTime(si.created)}`);
  cols.title("Configuration");
  cols.field("Bucket Name", st.bucket);
  cols.fieldIf(st.description, "Description", st.description);
  cols.field("Replicas", st.replicas);
  cols.field("TTL", st.ttl > 0 ? fmtNanos(st.ttl) : "unlimited");
  cols.field("Sealed", st.sealed);
  cols.field("Size", fmtBytes(st.size));
  cols.field("Maximum Bucket Size", si.config.max_bytes > 0 ? fmtBytes(si.config.max_bytes) : "unlimited");
  cols.field("Storage", st.storage === "memory" ? "Memory" : "File");
  cols.field("Backing Store Kind", "JetStream");
  cols.field("JetStream Stream", si.config.name);
  if (si.cluster?.name) {
    cols.title("Cluster Information");
    cols.field("Name", si.cluster.name);
    cols.field("Leader", si.cluster.leader ?? "");
  }
  return cols.render();
}

export function renderObjInfo(o: ObjectInfo & { mtime?: string }): string {
  const cols = new Columns(`Object information for ${o.bucket} > ${o.name}`);
  cols.fieldIf(o.description, "Description", o.description);
  cols.field("Size", fmtBytes(o.size));
  cols.field("Modification Time", fmtTime(o.mtime));
  cols.field("Chunks", fmtNum(o.chunks));
  const [kind, b64] = o.digest.split("=", 2) as [string, string | undefined];
  cols.field("Digest", `${kind} ${b64 ? Buffer.from(b64.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("hex") : ""}`);
  if (o.deleted) cols.field("Deleted", true);
  const hdrs = Object.entries(headerMap(o.headers) ?? {});
  if (hdrs.length > 0) {
    cols.title("Headers");
    for (const [k, v] of hdrs) cols.field(k, v.join(", "));
  }
  return cols.render();
}

/** Headers as a map: nats.js gives MsgHdrs from info() but the raw JSON map from list(). */
function headerMap(h: unknown): Record<string, string[]> | undefined {
  if (!h) return undefined;
  const m = h as { keys?: unknown; values(k: string): string[] };
  if (typeof m.keys === "function") {
    const keys = (m.keys as () => string[])();
    return keys.length ? Object.fromEntries(keys.map((k) => [k, m.values(k)])) : undefined;
  }
  return h as Record<string, string[]>;
}

/** ObjectInfo as plain JSON (nats.js gives a class with getters; headers as a map). */
function objInfoJson(i: ObjectInfo & { mtime?: string; deleted?: boolean; revision?: number }): Record<string, unknown> {
  return {
    name: i.name,
    description: i.description,
    headers: headerMap(i.headers),
    options: i.options,
    metadata: i.metadata,
    bucket: i.bucket,
    nuid: i.nuid,
    size: i.size,
    chunks: i.chunks,
    digest: i.digest,
    deleted: i.deleted === true,
    mtime: i.mtime,
    revision: i.revision,
  };
}

/** Counts bytes passing through (progress bars) without holding them. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

async function putAction(s: Session, io: CliIO, o: { name?: string; description?: string; header?: string[]; chunkSize?: string; progress: boolean; force?: boolean }, bucket: string, file?: string): Promise<void> {
  const store = await openStore(s, bucket);
  const name = o.name ?? (file ? path.normalize(file) : undefined);
  if (!name) throw new CliError("--name is required when reading from stdin", `tsnats object put ${bucket} --name NAME < file`);
  let size = -1;
  let source: Readable;
  if (file) {
    try {
      size = fs.statSync(file).size;
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    source = fs.createReadStream(file, { highWaterMark: 128 * 1024 });
  } else source = io.stdin as Readable;
  const existing = await store.info(name);
  if (existing && !existing.deleted && !o.force) {
    io.stdout.write(renderObjInfo(existing));
    println(io);
    if (!(await askConfirm(io, `Replace existing file ${bucket} > ${name}`, false))) return;
  }
  const bar = size > 20480 ? newProgress(io, size, `Uploading ${name}`, { bytes: true, enabled: o.progress }) : undefined;
  let sent = 0;
  const counted = source.pipe(
    counter((n) => {
      sent += n;
      bar?.update(sent);
    }),
  );
  const meta: Parameters<ObjectStore["put"]>[0] = { name };
  if (o.description) meta.description = o.description;
  const hdrs = parseHeaders(o.header, { count: 0 });
  if (hdrs) meta.headers = hdrs;
  if (o.chunkSize) meta.options = { max_chunk_size: parseBytes(o.chunkSize, "--chunk-size") };
  try {
    const info = await api(() => store.put(meta, Readable.toWeb(counted) as unknown as ReadableStream<Uint8Array>, { timeout: s.timeoutMs }));
    bar?.stop();
    println(io);
    io.stdout.write(renderObjInfo(info));
  } finally {
    bar?.stop();
    source.destroy();
  }
}

/** Decode nats.js's "SHA-256=<base64url>" digest. */
function digestBytes(digest: string): Buffer | undefined {
  if (!digest.startsWith("SHA-256=")) return undefined;
  return Buffer.from(digest.slice(8).replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

async function getAction(s: Session, io: CliIO, o: { output?: string; progress: boolean; force?: boolean }, bucket: string, name: string): Promise<void> {
  const store = await openStore(s, bucket);
  let info = await store.info(name);
  if (!info || info.deleted) throw new CliError(`object "${name}" not found in bucket ${bucket}`, `list the objects with \`tsnats object ls ${bucket}\``);
  if (info.options?.link) {
    const link = info.options.link;
    if (!link.name) throw new CliError(`object "${name}" is a link to bucket ${link.bucket}, not to an object`);
    const target = link.bucket === bucket ? store : await openStore(s, link.bucket);
    info = await target.info(link.name);
    if (!info || info.deleted) throw new CliError(`object "${name}" links to ${link.bucket} > ${link.name}, which does not exist`);
    bucket = link.bucket;
  }
  const want = digestBytes(info.digest);
  if (!want) throw new CliError(`object "${name}" has an unknown digest type: ${info.digest}`);
  const toStdout = o.output === "-";
  const out = o.output && o.output !== "-" ? o.output : path.basename(info.name);
  if (!toStdout && fs.existsSync(out) && !o.force) {
    if (!(await askConfirm(io, `Replace existing file ${out}`, false))) return;
  }
  // Write to a temporary file next to the target and rename at the end: a failed or
  // corrupt download never leaves a partial file under the real name.
  const tmp = toStdout ? "" : `${out}.${process.pid}.part`;
  const fd = toStdout ? -1 : fs.openSync(tmp, "w", 0o644);
  const sha = createHash("sha256");
  const started = Date.now();
  let written = 0;
  const bar = !toStdout && info.size > 20480 ? newProgress(io, info.size, `Downloading ${info.name}`, { bytes: true, enabled: o.progress }) : undefined;
  const js = await s.js();
  const consumer = info.size > 0 ? await js.consumers.get(`OBJ_${bucket}`, { filter_subjects: `$O.${bucket}.C.${info.nuid}` }) : undefined;
  try {
    let remaining = info.chunks;
    while (consumer && remaining > 0) {
      if (io.signal.aborted) throw new CliError("interrupted");
      const batch = await consumer.fetch({ max_messages: Math.min(GET_BATCH, remaining), expires: Math.max(s.timeoutMs, 5000) });
      let got = 0;
      for await (const m of batch) {
        got++;
        remaining--;
        sha.update(m.data);
        if (toStdout) {
          if (!io.stdout.write(m.data)) await new Promise((r) => io.stdout.once("drain", r));
        } else fs.writeSync(fd, m.data);
        written += m.data.length;
        bar?.update(written);
      }
      if (got === 0) throw new CliError(`download of ${bucket} > ${name} stalled with ${remaining} chunks missing`, "retry; raise --timeout for a slow server");
    }
    const got = sha.digest();
    if (!got.equals(want) || written !== info.size) {
      throw new CliError(`received a corrupt object ${bucket} > ${name}: digest or size do not match (expected ${info.size} bytes ${info.digest})`, "the object may have been replaced during the download; retry");
    }
    if (!toStdout) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, out);
    }
  } catch (err) {
    if (!toStdout) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    }
    throw err;
  } finally {
    bar?.stop();
    await consumer?.delete().catch(() => undefined);
  }
  if (!toStdout) {
    const ms = Math.max(1, Date.now() - started);
    io.stderr.write(`Wrote: ${fmtBytes(written)} to ${out} in ${(ms / 1000).toFixed(2)}s average ${fmtBytes(Math.round((written / ms) * 1000))}/s\n`);
  }
}

export function registerObject(app: App): void {
  const io = app.io;
  const obj = app.program.command("object").alias("obj").description("Interacts with a JetStream based Object store");

  bucketFlags(obj.command("add <bucket>").description("Adds a new Object Store Bucket")).action(
    app.action<BucketFlags>(async ({ session, opts, cmd }, bucket: string) => {
      const js = await session.js();
      await session.jsm();
      const o: Record<string, unknown> = { replicas: parseInteger(opts.replicas ?? "1", "--replicas", 1) };
      if (opts.ttl) o.ttl = parseDurationMs(opts.ttl, "--ttl") * 1e6;
      if (opts.maxBucketSize) o.max_bytes = parseBytes(opts.maxBucketSize, "--max-bucket-size");
      if (opts.description) o.description = opts.description;
      if (opts.storage) o.storage = opts.storage.startsWith("m") ? "memory" : "file";
      if (opts.tags || opts.cluster) o.placement = { cluster: opts.cluster ?? "", tags: opts.tags ?? [] };
      if (opts.metadata) o.metadata = opts.metadata;
      if (isSet(cmd, "compress")) o.compression = opts.compress === true;
      const store = await api(() => new Objm(js).create(bucket, o as never));
      const st = await store.status();
      if (opts.json) return printJson(io, st.streamInfo);
      io.stdout.write(renderObjStatus(st));
    }),
  );

  bucketFlags(obj.command("edit <bucket>").description("Edit an existing Object Store Bucket")).action(
    app.action<BucketFlags>(async ({ session, opts, cmd }, bucket: string) => {
      const jsm = await session.jsm();
      const stream = `OBJ_${bucket}`;
      const si = await api(() => jsm.streams.info(stream), { stream }).catch(() => {
        throw new CliError(`object store bucket "${bucket}" not found`, "list the buckets with `tsnats object ls`");
      });
      const cfg = editableConfig(si.config) as unknown as Record<string, unknown>;
      if (opts.description !== undefined) cfg.description = opts.description;
      if (opts.ttl) cfg.max_age = parseDurationMs(opts.ttl, "--ttl") * 1e6;
      if (isSet(cmd, "replicas")) cfg.num_replicas = parseInteger(opts.replicas!, "--replicas", 1);
      if (opts.maxBucketSize) cfg.max_bytes = parseBytes(opts.maxBucketSize, "--max-bucket-size");
      if (opts.metadata) cfg.metadata = { ...((cfg.metadata as Record<string, string>) ?? {}), ...opts.metadata };
      await putStream(session, cfg, true);
      const st = await (await openStore(session, bucket)).status();
      if (opts.json) return printJson(io, st.streamInfo);
      io.stdout.write(renderObjStatus(st));
    }),
  );

  obj
    .command("put <bucket> [file]")
    .description("Puts a file into the store (reads STDIN with --name when no file is given)")
    .option("--name <name>", "Override the name supplied to the object store")
    .option("--description <text>", "Sets an optional description for the object")
    .option("-H, --header <K:V>", "Adds headers to the object using K:V format (repeatable)", collect)
    .option("--chunk-size <bytes>", "Sets the chunk size for the file")
    .option("--no-progress", "Disable progress bars")
    .option("-f, --force", "Act without confirmation")
    .action(app.action<{ name?: string; description?: string; header?: string[]; chunkSize?: string; progress: boolean; force?: boolean }>(({ session, opts }, bucket: string, file?: string) => putAction(session, io, opts, bucket, file)));

  obj
    .command("get <bucket> <file>")
    .description("Retrieves a file from the store")
    .option("-O, --output <file>", "Override the output file name (- for STDOUT)")
    .option("--no-progress", "Disable progress bars")
    .option("-f, --force", "Act without confirmation")
    .action(app.action<{ output?: string; progress: boolean; force?: boolean }>(({ session, opts }, bucket: string, file: string) => getAction(session, io, opts, bucket, file)));

  obj
    .command("del <bucket> [file]")
    .alias("rm")
    .description("Deletes a file or bucket from the store")
    .option("-f, --force", "Act without confirmation")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, bucket: string, file?: string) => {
        const store = await openStore(session, bucket);
        if (file) {
          const info = await store.info(file);
          if (!info || info.deleted) throw new CliError(`object "${file}" not found in bucket ${bucket}`);
          if (!opts.force) {
            io.stdout.write(renderObjInfo(info));
            println(io);
            if (!(await askConfirm(io, `Delete ${fmtBytes(info.size)} byte file ${bucket} > ${file}?`, false))) return void println(io, "Skipping delete");
          }
          await api(() => store.delete(file));
          println(io, `Removed ${bucket} > ${file}`);
          return;
        }
        if (!opts.force && !(await askConfirm(io, `Delete bucket ${bucket} and all its files?`, false))) return void println(io, "Skipping delete");
        await api(() => store.destroy());
      }),
    );

  obj
    .command("info [bucket] [file]")
    .aliases(["show", "i"])
    .description("Get information about a bucket or object")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ session, opts }, bucket?: string, file?: string) => {
        if (!bucket) throw new CliError("bucket name is required", "tsnats object info BUCKET [FILE] (list them with `tsnats object ls`)");
        const store = await openStore(session, bucket);
        if (file) {
          const info = await store.info(file);
          if (!info) throw new CliError(`object "${file}" not found in bucket ${bucket}`);
          if (opts.json) return printJson(io, objInfoJson(info));
          io.stdout.write(renderObjInfo(info));
          return;
        }
        const st = await store.status();
        if (opts.json) return printJson(io, st.streamInfo);
        io.stdout.write(renderObjStatus(st));
      }),
    );

  obj
    .command("ls [bucket]")
    .alias("list")
    .description("List buckets or contents of a specific bucket")
    .option("-n, --names", "When listing buckets, show just the bucket names")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ names?: boolean; json?: boolean }>(async ({ session, opts }, bucket?: string) => {
        if (bucket) {
          const store = await openStore(session, bucket);
          const items = (await api(() => store.list())).filter((i) => !i.deleted).sort((a, b) => a.name.localeCompare(b.name));
          if (opts.json) return printJson(io, items.map(objInfoJson));
          if (opts.names) {
            for (const i of items) println(io, i.name);
            return;
          }
          if (items.length === 0) return void println(io, "No entries found");
          printTable(io, ["Name", "Size", "Time"], items.map((i) => [i.name, fmtBytes(i.size), fmtTime(i.mtime)]), "Bucket Contents");
          return;
        }
        const js = await session.js();
        await session.jsm();
        const stores: ObjectStoreStatus[] = [];
        for await (const st of new Objm(js).list()) stores.push(st);
        stores.sort((a, b) => a.bucket.localeCompare(b.bucket));
        if (opts.json) return printJson(io, stores.map((st) => st.bucket));
        if (opts.names) {
          for (const st of stores) println(io, st.bucket);
          return;
        }
        if (stores.length === 0) return void println(io, "No Object Store buckets found");
        printTable(
          io,
          ["Bucket", "Description", "Created", "Size", "Last Update"],
          stores.map((st) => [st.bucket, st.description, fmtTime(st.streamInfo.created), fmtBytes(st.streamInfo.state.bytes), fmtAgo(st.streamInfo.state.last_ts)]),
          "Object Store Buckets",
        );
      }),
    );

  obj
    .command("seal <bucket>")
    .description("Seals a bucket preventing further updates")
    .option("-f, --force", "Force sealing without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, bucket: string) => {
        await openStore(session, bucket);
        if (!opts.force && !(await askConfirm(io, `Really seal Bucket ${bucket}, sealed buckets can not be unsealed or modified`, false))) return;
        // Sealed through the stream API with the config cleaned as for edits (store.seal()
        // sends the server's own metadata back, which nats.js refuses on older servers).
        const jsm = await session.jsm();
        const stream = `OBJ_${bucket}`;
        const si = await api(() => jsm.streams.info(stream), { stream });
        await putStream(session, { ...editableConfig(si.config), sealed: true }, true);
        println(io, `${bucket} has been sealed`);
      }),
    );

  obj
    .command("watch <bucket>")
    .description("Watch a bucket for changes")
    .option("--count <n>", "Stop after this many changes")
    .action(
      app.action<{ count?: string }>(async ({ session, opts }, bucket: string) => {
        const store = await openStore(session, bucket);
        const limit = opts.count ? parseInteger(opts.count, "--count", 1) : 0;
        const w = await api(() => store.watch({ includeHistory: false }));
        let n = 0;
        const done = (async () => {
          for await (const i of w) {
            // The watcher opens with a null marker once it is caught up.
            if (i === null) continue;
            if (i.deleted) println(io, `[${fmtTime(i.mtime)}] DEL ${i.bucket} > ${i.name}`);
            else println(io, `[${fmtTime(i.mtime)}] PUT ${i.bucket} > ${i.name}: ${fmtBytes(i.size)} bytes in ${fmtNum(i.chunks)} chunks`);
            if (limit > 0 && ++n >= limit) break;
          }
        })();
        await Promise.race([done, aborted(io)]);
        w.stop();
      }),
    );
}
