// `tsnats kv`: Key-Value buckets on @nats-io/kv, natscli's commands, flags and output.
import type { Command } from "commander";
import { Option } from "commander";
import { Kvm, type KV, type KvEntry, type KvOptions, type KvStatus } from "@nats-io/kv";
import { App, collect, collectPairs, isSet } from "./app.js";
import type { Session } from "./connection.js";
import { readStdin } from "./core_cmd.js";
import { Columns, printJson, printTable } from "./output.js";
import { askConfirm } from "./prompt.js";
import { aborted, CliError, println, type CliIO } from "./runtime.js";
import { api } from "./stream_cmd.js";
import { editableConfig } from "./stream_config.js";
import { putStream } from "./js_api.js";
import { fmtAgo, fmtBytes, fmtNanos, fmtNum, fmtTime, parseBytes, parseDurationMs, parseInteger } from "./units.js";

interface BucketFlags {
  description?: string;
  history?: string;
  storage?: string;
  ttl?: string;
  markerTtl?: string;
  replicas?: string;
  maxValueSize?: string;
  maxBucketSize?: string;
  tags?: string[];
  cluster?: string;
  compress?: boolean;
  metadata?: Record<string, string>;
  republishSource?: string;
  republishDestination?: string;
  republishHeaders?: boolean;
  mirror?: string;
  mirrorDomain?: string;
  source?: string[];
  json?: boolean;
}

function bucketFlags(cmd: Command): Command {
  return cmd
    .option("--description <text>", "A description for the bucket")
    .option("--history <n>", "How many historic values to keep per key (1-64)", "1")
    .addOption(new Option("--storage <type>", "Storage backend to use (file, memory)").choices(["file", "f", "memory", "m"]))
    .option("--ttl <duration>", "How long to keep values for")
    .option("--marker-ttl <duration>", "Enables Per-Key TTLs and Limit Markers")
    .option("--replicas <n>", "How many replicas of the data to store", "1")
    .option("--max-value-size <bytes>", "Maximum size for any single value")
    .option("--max-bucket-size <bytes>", "Maximum size for the bucket")
    .option("--tags <tag>", "Place the bucket on servers that has specific tags (repeatable)", collect)
    .option("--cluster <name>", "Place the bucket on a specific cluster")
    .option("--compress", "Compress the bucket data")
    .option("--metadata <K=V>", "Adds metadata to the bucket (repeatable)", collectPairs)
    .option("--republish-source <subject>", "Republish messages to --republish-destination")
    .option("--republish-destination <subject>", "Republish destination for messages in --republish-source")
    .option("--republish-headers", "Republish only message headers, no bodies")
    .option("--mirror <bucket>", "Creates a mirror of a different bucket")
    .option("--mirror-domain <domain>", "When mirroring find the bucket in a different domain")
    .option("--source <bucket>", "Source from a different bucket (repeatable)", collect)
    .option("-j, --json", "Produce JSON output");
}

function bucketOptions(o: BucketFlags, cmd: Command): Partial<KvOptions> {
  const opts: Partial<KvOptions> = {};
  if (o.description !== undefined) opts.description = o.description;
  const history = parseInteger(o.history ?? "1", "--history", 1);
  if (history > 64) throw new CliError("--history must be between 1 and 64");
  opts.history = history;
  if (o.storage) opts.storage = (o.storage.startsWith("m") ? "memory" : "file") as never;
  if (o.ttl) opts.ttl = parseDurationMs(o.ttl, "--ttl");
  if (o.markerTtl) opts.markerTTL = parseDurationMs(o.markerTtl, "--marker-ttl");
  opts.replicas = parseInteger(o.replicas ?? "1", "--replicas", 1);
  if (o.maxValueSize) opts.maxValueSize = parseBytes(o.maxValueSize, "--max-value-size");
  if (o.maxBucketSize) opts.max_bytes = parseBytes(o.maxBucketSize, "--max-bucket-size");
  if (o.tags || o.cluster) opts.placement = { cluster: o.cluster ?? "", tags: o.tags ?? [] };
  if (isSet(cmd, "compress")) opts.compression = o.compress === true;
  if (o.metadata) opts.metadata = o.metadata;
  if (o.republishSource || o.republishDestination) {
    if (!o.republishSource || !o.republishDestination) throw new CliError("must specify both --republish-source and --republish-destination");
    opts.republish = { src: o.republishSource, dest: o.republishDestination, headers_only: o.republishHeaders === true };
  }
  if (o.mirror) opts.mirror = { name: o.mirror, ...(o.mirrorDomain ? { domain: o.mirrorDomain } : {}) } as never;
  if (o.source) opts.sources = o.source.map((name) => ({ name })) as never;
  return opts;
}

async function openBucket(s: Session, bucket: string): Promise<KV> {
  const js = await s.js();
  await s.jsm(); // JetStream enabled? (clear error otherwise)
  try {
    const kv = await new Kvm(js).open(bucket);
    // open() does not look the bucket up; status() does, so a missing bucket fails here, clearly.
    await kv.status();
    return kv;
  } catch (err) {
    const msg = (err as Error).message;
    if (/not found/i.test(msg)) throw new CliError(`bucket "${bucket}" not found`, "list the buckets with `tsnats kv ls`, create one with `tsnats kv add`");
    throw new CliError(msg);
  }
}

/** A value as natscli shows it: text when printable, base64 otherwise. */
function printable(v: Uint8Array): string {
  const s = new TextDecoder("utf-8", { fatal: false }).decode(v);
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(s) ? Buffer.from(v).toString("base64") : s;
}

function opName(e: { operation: string }): string {
  return e.operation === "DEL" ? "DELETE" : e.operation;
}

/** natscli's bucket information block. */
export function renderKvStatus(st: KvStatus): string {
  const si = st.streamInfo;
  const cols = new Columns(`Information for Key-Value Store Bucket ${st.bucket} created ${fmtTime(si.created)}`);
  cols.title("Configuration");
  cols.field("Bucket Name", st.bucket);
  cols.field("History Kept", fmtNum(st.history));
  cols.field("Values Stored", fmtNum(st.values));
  cols.field("Compressed", st.compression === true);
  cols.field("Per-Key TTL Supported", (st.markerTTL ?? 0) > 0);
  if ((st.markerTTL ?? 0) > 0) cols.field("Limit Marker TTL", fmtDuration(st.markerTTL));
  cols.field("Backing Store Kind", "JetStream");
  cols.fieldIf(si.config.description, "Description", si.config.description);
  cols.field("Bucket Size", fmtBytes(si.state.bytes));
  cols.field("Maximum Bucket Size", si.config.max_bytes > 0 ? fmtBytes(si.config.max_bytes) : "unlimited");
  cols.field("Maximum Value Size", si.config.max_msg_size > 0 ? fmtBytes(si.config.max_msg_size) : "unlimited");
  cols.field("Maximum Age", si.config.max_age > 0 ? fmtNanos(si.config.max_age) : "unlimited");
  cols.field("JetStream Stream", si.config.name);
  cols.field("Storage", si.config.storage === "memory" ? "Memory" : "File");
  if (si.config.republish) cols.field(si.config.republish.headers_only ? "Republishing Headers" : "Republishing", `${si.config.republish.src} to ${si.config.republish.dest}`);
  if (si.mirror) {
    cols.title("Mirror Information");
    cols.field("Origin Bucket", si.mirror.name.replace(/^KV_/, ""));
    cols.field("Last Seen", si.mirror.active > 0 ? fmtNanos(si.mirror.active) : "never");
    cols.field("Lag", fmtNum(si.mirror.lag));
  }
  for (const src of si.sources ?? []) {
    cols.title("Source Information");
    cols.field("Source Bucket", src.name.replace(/^KV_/, ""));
    cols.field("Last Seen", src.active > 0 ? fmtNanos(src.active) : "never");
    cols.field("Lag", fmtNum(src.lag));
  }
  if (si.cluster?.name) {
    cols.title("Cluster Information");
    cols.field("Name", si.cluster.name);
    cols.field("Leader", si.cluster.leader ?? "");
  }
  return cols.render();
}

function fmtDuration(ms: number): string {
  return fmtNanos(ms * 1e6);
}

async function readValue(io: CliIO, value: string | undefined): Promise<Uint8Array | string> {
  if (value !== undefined) return value;
  return readStdin(io);
}

function entryJson(e: KvEntry): Record<string, unknown> {
  return { bucket: e.bucket, key: e.key, revision: e.revision, created: e.created.toISOString(), delta: e.delta, operation: opName(e), value: printable(e.value) };
}

export function registerKv(app: App): void {
  const io = app.io;
  const kv = app.program.command("kv").description("Interacts with a JetStream based Key-Value store");

  bucketFlags(kv.command("add <bucket>").alias("new").description("Adds a new KV Store Bucket")).action(
    app.action<BucketFlags>(async ({ session, opts, cmd }, bucket: string) => {
      const js = await session.js();
      await session.jsm();
      const b = await api(() => new Kvm(js).create(bucket, bucketOptions(opts, cmd)));
      const st = await b.status();
      if (opts.json) return printJson(io, st.streamInfo);
      io.stdout.write(renderKvStatus(st));
    }),
  );

  bucketFlags(kv.command("edit <bucket>").description("Edits an existing KV Store Bucket")).action(
    app.action<BucketFlags>(async ({ session, opts, cmd }, bucket: string) => {
      const jsm = await session.jsm();
      const name = `KV_${bucket}`;
      const si = await api(() => jsm.streams.info(name), { stream: name }).catch(() => {
        throw new CliError(`bucket "${bucket}" not found`, "list the buckets with `tsnats kv ls`");
      });
      const cfg = editableConfig(si.config) as unknown as Record<string, unknown>;
      if (opts.description !== undefined) cfg.description = opts.description;
      if (isSet(cmd, "history")) cfg.max_msgs_per_subject = parseInteger(opts.history!, "--history", 1);
      if (opts.ttl) cfg.max_age = parseDurationMs(opts.ttl, "--ttl") * 1e6;
      if (isSet(cmd, "replicas")) cfg.num_replicas = parseInteger(opts.replicas!, "--replicas", 1);
      if (opts.maxValueSize) cfg.max_msg_size = parseBytes(opts.maxValueSize, "--max-value-size");
      if (opts.maxBucketSize) cfg.max_bytes = parseBytes(opts.maxBucketSize, "--max-bucket-size");
      if (opts.metadata) cfg.metadata = { ...((cfg.metadata as Record<string, string>) ?? {}), ...opts.metadata };
      if (isSet(cmd, "compress")) cfg.compression = opts.compress ? "s2" : "none";
      await putStream(session, cfg, true);
      const st = await (await openBucket(session, bucket)).status();
      if (opts.json) return printJson(io, st.streamInfo);
      io.stdout.write(renderKvStatus(st));
    }),
  );

  kv.command("put <bucket> <key> [value]")
    .description("Puts a value into a key (reads STDIN when no value is given)")
    .action(
      app.action(async ({ session }, bucket: string, key: string, value?: string) => {
        const b = await openBucket(session, bucket);
        const v = await readValue(io, value);
        await api(() => b.put(key, v));
        if (typeof v === "string") println(io, v);
        else io.stdout.write(v);
      }),
    );

  kv.command("get <bucket> <key>")
    .description("Gets a value for a key")
    .option("--revision <n>", "Gets a specific revision")
    .option("--raw", "Show only the value string")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ revision?: string; raw?: boolean; json?: boolean }>(async ({ session, opts }, bucket: string, key: string) => {
        const b = await openBucket(session, bucket);
        const revision = opts.revision ? parseInteger(opts.revision, "--revision", 1) : undefined;
        const e = await api(() => b.get(key, revision ? { revision } : undefined));
        if (!e || (revision === undefined && e.operation !== "PUT")) throw new CliError(`key "${key}" not found in bucket ${bucket}`, `list the keys with \`tsnats kv ls ${bucket}\``);
        if (opts.json) return printJson(io, entryJson(e));
        if (opts.raw) {
          io.stdout.write(e.value);
          return;
        }
        println(io, `${e.bucket} > ${e.key} revision: ${e.revision} created @ ${fmtTime(e.created)}\n`);
        const pv = printable(e.value);
        if (pv.length > 120) println(io, `Showing first 120 bytes of ${fmtNum(pv.length)}, use --raw for full data\n\n${pv.slice(0, 120)}`);
        else println(io, pv);
        println(io);
      }),
    );

  kv.command("create <bucket> <key> [value]")
    .description("Puts a value into a key only if the key is new or it's last operation was a delete")
    .option("--ttl <duration>", "Sets a TTL for the key")
    .action(
      app.action<{ ttl?: string }>(async ({ session, opts }, bucket: string, key: string, value?: string) => {
        const b = await openBucket(session, bucket);
        const v = await readValue(io, value);
        await api(() => b.create(key, v, opts.ttl ? `${parseDurationMs(opts.ttl, "--ttl") / 1000}s` : undefined)).catch((err: Error) => {
          throw /wrong last sequence|exists/i.test(err.message) ? new CliError(`key "${key}" already exists in bucket ${bucket}`, "use `tsnats kv put` to overwrite or `tsnats kv update` with its revision") : err;
        });
        if (typeof v === "string") println(io, v);
        else io.stdout.write(v);
      }),
    );

  kv.command("update <bucket> <key> <value> <revision>")
    .description("Updates a key with a new value if the previous value matches the given revision")
    .action(
      app.action(async ({ session }, bucket: string, key: string, value: string, rev: string) => {
        const b = await openBucket(session, bucket);
        const revision = parseInteger(rev, "revision", 0);
        await api(() => b.update(key, value, revision)).catch((err: Error) => {
          throw /wrong last sequence/i.test(err.message) ? new CliError(`revision ${revision} is not the latest revision of "${key}"`, `see it with \`tsnats kv get ${bucket} ${key}\``) : err;
        });
        println(io, value);
      }),
    );

  kv.command("del <bucket> [key]")
    .alias("rm")
    .description("Deletes a key or the entire bucket")
    .option("-f, --force", "Act without confirmation")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, bucket: string, key?: string) => {
        const b = await openBucket(session, bucket);
        if (key === undefined) {
          if (!opts.force && !(await askConfirm(io, `Deleted bucket ${bucket}?`, false))) return void println(io, "Skipping delete");
          await api(() => b.destroy());
          return;
        }
        if (!opts.force && !(await askConfirm(io, `Delete key ${bucket} > ${key}?`, false))) return void println(io, "Skipping delete");
        await api(() => b.delete(key));
      }),
    );

  kv.command("purge <bucket> <key>")
    .description("Deletes a key from the bucket, clearing history before creating a delete marker")
    .option("-f, --force", "Act without confirmation")
    .option("--ttl <duration>", "Sets a TTL for the purge marker")
    .action(
      app.action<{ force?: boolean; ttl?: string }>(async ({ session, opts }, bucket: string, key: string) => {
        const b = await openBucket(session, bucket);
        if (!opts.force && !(await askConfirm(io, `Purge key ${bucket} > ${key}?`, false))) return void println(io, "Skipping purge");
        await api(() => b.purge(key, opts.ttl ? { ttl: `${parseDurationMs(opts.ttl, "--ttl") / 1000}s` } : undefined));
      }),
    );

  kv.command("history <bucket> <key>")
    .description("Shows the full history for a key")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ session, opts }, bucket: string, key: string) => {
        const b = await openBucket(session, bucket);
        const entries: KvEntry[] = [];
        const it = await api(() => b.history({ key }));
        for await (const e of it) entries.push(e);
        if (entries.length === 0) throw new CliError(`key "${key}" not found in bucket ${bucket}`);
        if (opts.json) return printJson(io, entries.map(entryJson));
        printTable(
          io,
          ["Key", "Revision", "Op", "Created", "Length", "Value"],
          entries.map((e) => {
            const pv = printable(e.value);
            return [e.key, e.revision, opName(e), fmtTime(e.created), fmtNum(e.value.length), pv.length > 40 ? `${pv.slice(0, 37)}...` : pv];
          }),
          `History for ${bucket} > ${key}`,
        );
      }),
    );

  kv.command("revert <bucket> <key> <revision>")
    .description("Reverts a value to a previous revision using put")
    .option("-f, --force", "Force reverting without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, bucket: string, key: string, rev: string) => {
        const b = await openBucket(session, bucket);
        const revision = parseInteger(rev, "revision", 1);
        const old = await api(() => b.get(key, { revision }));
        if (!old || old.key !== key) throw new CliError(`revision ${revision} is not a value of "${key}"`, `see its revisions with \`tsnats kv history ${bucket} ${key}\``);
        if (old.operation !== "PUT") throw new CliError(`revision ${revision} of "${key}" is a ${opName(old)}, not a value`);
        if (!opts.force && !(await askConfirm(io, `Revert ${bucket} > ${key} to revision ${revision}`, false))) return;
        const newRev = await api(() => b.put(key, old.value));
        println(io, `${bucket} > ${key} reverted to revision ${revision} as revision ${newRev}`);
        println(io, printable(old.value));
      }),
    );

  for (const [name, aliases] of [["info", ["view", "status"]]] as const) {
    kv.command(`${name} [bucket]`)
      .aliases([...aliases])
      .description("View the status of a KV store")
      .option("-j, --json", "Produce JSON output")
      .action(
        app.action<{ json?: boolean }>(async ({ session, opts }, bucket?: string) => {
          if (!bucket) throw new CliError("bucket name is required", "tsnats kv info BUCKET (list them with `tsnats kv ls`)");
          const st = await (await openBucket(session, bucket)).status();
          if (opts.json) return printJson(io, st.streamInfo);
          io.stdout.write(renderKvStatus(st));
        }),
      );
  }

  kv.command("watch <bucket> [key]")
    .description("Watch the bucket or a specific key for updates")
    .option("--history", "Includes historic values")
    .option("--no-deletes", "Excludes deletes from watched values")
    .option("--updates", "Only show new values written")
    .option("--revision <n>", "Starts from a certain revision")
    .option("--count <n>", "Stop after this many updates")
    .action(
      app.action<{ history?: boolean; deletes: boolean; updates?: boolean; revision?: string; count?: string }>(async ({ session, opts }, bucket: string, key?: string) => {
        const b = await openBucket(session, bucket);
        const limit = opts.count ? parseInteger(opts.count, "--count", 1) : 0;
        const w = await api(() =>
          b.watch({
            key: key ?? ">",
            include: opts.history ? "history" : opts.updates ? "updates" : "",
            ignoreDeletes: opts.deletes === false,
            ...(opts.revision ? { resumeFromRevision: parseInteger(opts.revision, "--revision", 1) } : {}),
          }),
        );
        let n = 0;
        const done = (async () => {
          for await (const e of w) {
            if (e.operation === "PUT") println(io, `[${fmtTime(e.created)}] ${opName(e)} ${e.bucket} > ${e.key}: ${printable(e.value)}`);
            else println(io, `[${fmtTime(e.created)}] ${opName(e)} ${e.bucket} > ${e.key}`);
            if (limit > 0 && ++n >= limit) break;
          }
        })();
        await Promise.race([done, aborted(io)]);
        w.stop();
      }),
    );

  kv.command("ls [bucket] [key]")
    .alias("list")
    .description("List available buckets or the keys in a bucket")
    .option("-n, --names", "Show just the bucket names")
    .option("-v, --verbose", "Show detailed info about the key")
    .option("--display-value", "Display value in verbose output")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ names?: boolean; verbose?: boolean; displayValue?: boolean; json?: boolean }>(async ({ session, opts }, bucket?: string, key?: string) => {
        if (bucket) return listKeys(session, io, bucket, key, opts);
        const js = await session.js();
        await session.jsm();
        const buckets: KvStatus[] = [];
        for await (const st of new Kvm(js).list()) buckets.push(st);
        buckets.sort((a, b) => a.bucket.localeCompare(b.bucket));
        if (opts.json) return printJson(io, buckets.map((b) => b.bucket));
        if (opts.names) {
          for (const b of buckets) println(io, b.bucket);
          return;
        }
        if (buckets.length === 0) return void println(io, "No Key-Value buckets found");
        printTable(
          io,
          ["Bucket", "Description", "Created", "Size", "Values", "Last Update"],
          buckets.map((b) => [b.bucket, b.description, fmtTime(b.streamInfo.created), fmtBytes(b.size), fmtNum(b.values), fmtAgo(b.streamInfo.state.last_ts)]),
          "Key-Value Buckets",
        );
      }),
    );

  kv.command("keys <bucket> [filter]")
    .description("List the keys in a bucket (optionally matching a filter)")
    .option("-j, --json", "Produce JSON output")
    .action(app.action<{ json?: boolean }>(({ session, opts }, bucket: string, filter?: string) => listKeys(session, io, bucket, filter, { json: opts.json })));

  kv.command("upgrade <bucket>")
    .description("Upgrades an early tech-preview bucket to the current format (rollups allowed, discard new)")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ session, opts }, bucket: string) => {
        // Newer natscli dropped this command because nats-server upgrades such buckets on
        // the client's behalf; it stays here for buckets on servers that do not.
        const jsm = await session.jsm();
        const name = `KV_${bucket}`;
        const si = await api(() => jsm.streams.info(name), { stream: name }).catch(() => {
          throw new CliError(`bucket "${bucket}" not found`, "list the buckets with `tsnats kv ls`");
        });
        if (si.config.allow_rollup_hdrs && si.config.discard === "new") {
          throw new CliError(`bucket ${bucket} is already using the correct configuration`);
        }
        const cfg = { ...(editableConfig(si.config) as unknown as Record<string, unknown>), allow_rollup_hdrs: true, discard: "new" };
        const updated = await putStream(session, cfg, true);
        if (!updated.config.allow_rollup_hdrs || updated.config.discard !== "new") {
          throw new CliError(`configuration upgrade failed, please edit stream ${name} to allow RollUps and have Discard Policy of New`);
        }
        const st = await (await openBucket(session, bucket)).status();
        if (opts.json) return printJson(io, st.streamInfo);
        println(io, `Bucket ${bucket} has been upgraded\n`);
        io.stdout.write(renderKvStatus(st));
      }),
    );

  kv.command("compact <bucket>")
    .description("Reclaim space used by deleted keys")
    .option("-f, --force", "Act without confirmation")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, bucket: string) => {
        const b = await openBucket(session, bucket);
        if (!opts.force && !(await askConfirm(io, `Purge all historic values and audit trails for deleted keys in bucket ${bucket}?`, false))) return void println(io, "Skipping compact");
        // As nats.go's PurgeDeletes: for every key whose last operation is a delete or purge,
        // drop its history; markers older than 30 minutes go too, newer ones stay (keep 1).
        const jsm = await session.jsm();
        const stream = `KV_${bucket}`;
        const si = await api(() => jsm.streams.info(stream, { subjects_filter: `$KV.${bucket}.>` }), { stream });
        const deleted: string[] = [];
        for (const subject of Object.keys((si.state.subjects ?? {}) as Record<string, number>)) {
          const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
          const op = m?.header?.get("KV-Operation");
          if (!m || (op !== "DEL" && op !== "PURGE")) continue;
          deleted.push(subject);
          const old = Date.now() - m.time.getTime() > 30 * 60_000;
          await api(() => jsm.streams.purge(stream, old ? { filter: subject } : { filter: subject, keep: 1 }), { stream });
        }
        void b;
        println(io, `Compacted ${deleted.length} deleted keys in bucket ${bucket}`);
      }),
    );
}

async function listKeys(session: Session, io: CliIO, bucket: string, filter: string | undefined, opts: { verbose?: boolean; displayValue?: boolean; json?: boolean }): Promise<void> {
  const b = await openBucket(session, bucket);
  const keys: string[] = [];
  for await (const k of await api(() => b.keys(filter || ">"))) keys.push(k);
  keys.sort();
  if (opts.json) return printJson(io, keys);
  if (keys.length === 0) return void println(io, "No keys found in bucket");
  if (!opts.verbose) {
    for (const k of keys) println(io, k);
    return;
  }
  const rows: (string | number)[][] = [];
  for (const k of keys) {
    const e = await b.get(k);
    if (!e) continue;
    const row: (string | number)[] = [k, fmtTime(e.created), fmtAgo(e.created), e.revision];
    if (opts.displayValue) row.push(printable(e.value));
    rows.push(row);
  }
  printTable(io, opts.displayValue ? ["Key", "Created", "Delta", "Revision", "Value"] : ["Key", "Created", "Delta", "Revision"], rows, `Contents for bucket '${bucket}'`);
}
