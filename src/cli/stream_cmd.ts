// `tsnats stream`: JetStream stream management with natscli's commands, flags and output.
import { Option, type Command } from "commander";
import { addStreamFilterFlags, streamFilter, type StreamFilterFlags } from "./asset_query.js";
import { balanceLeaders } from "./balancer.js";
import { EXPRESSION_HELP } from "./expression.js";
import { newProgress } from "./progress.js";
import { graphArea, plot, Rate, Series } from "./graph.js";
import { refreshLoop } from "./screen.js";
import { detectGaps, type Gap } from "./stream_gaps.js";
import { SchemaStore } from "./schema_cmd.js";
import { translate } from "./core_cmd.js";
import { editInEditor } from "./editor.js";
import { leaderCounts, leaderTable } from "./server_report_jetstream.js";
import type { JetStreamManager, StreamInfo, StreamSourceInfo, StoredMsg } from "@nats-io/jetstream";
import { DeliverPolicy } from "@nats-io/jetstream";
import { App, jsonFlag } from "./app.js";
import type { Session } from "./connection.js";
import { Columns, printJson, printMessage, printTable } from "./output.js";
import { askConfirm, askSelect } from "./prompt.js";
import { CliError, println, type CliIO } from "./runtime.js";
import { addStreamConfigFlags, applyStreamFlags, buildNewStreamConfig, editableConfig, loadConfigFile, type Cfg, type StreamFlags } from "./stream_config.js";
import { backupStream, restoreStream } from "./snapshot.js";
import { putStream } from "./js_api.js";
import { fmtAgo, fmtBytes, fmtNanos, fmtNum, fmtTime, parseDurationMs, parseInteger, parseBytes } from "./units.js";
import fs from "node:fs";

/** Streams the CLI hides unless --all: KV buckets, object stores, MQTT and $-prefixed ones. */
export function isInternalStream(name: string): boolean {
  return name.startsWith("KV_") || name.startsWith("OBJ_") || name.startsWith("$");
}

/** Turn JetStream API failures into messages with a next step. */
export function explainApiError(err: unknown, what: { stream?: string; consumer?: string } = {}): Error {
  const e = err as Error & { api_error?: { err_code?: number; code?: number; description?: string } };
  if (e instanceof CliError) return e;
  const msg = e?.message ?? String(err);
  const code = e.api_error?.err_code;
  if (code === 10059 || /stream not found/i.test(msg)) return new CliError(`stream ${what.stream ? `"${what.stream}" ` : ""}not found`, "list the streams with `tsnats stream ls`");
  if (code === 10014 || /consumer not found/i.test(msg)) return new CliError(`consumer ${what.consumer ? `"${what.consumer}" ` : ""}not found`, `list the consumers with \`tsnats consumer ls ${what.stream ?? "STREAM"}\``);
  if (code === 10037 || /no message found/i.test(msg)) return new CliError("no message found");
  if (/timeout|TIMEOUT/.test(msg)) return new CliError(`JetStream request timed out: ${msg}`, "is JetStream enabled on the server? Raise --timeout for slow servers");
  return new CliError(msg);
}

/** Run `fn`, converting API errors. */
export async function api<T>(fn: () => Promise<T>, what: { stream?: string; consumer?: string } = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw explainApiError(err, what);
  }
}

/** The stream to act on: the argument, or (on a terminal) a pick from the list. */
export async function pickStream(s: Session, io: CliIO, name: string | undefined, showAll = false): Promise<string> {
  if (name) return name;
  const jsm = await s.jsm();
  const names: string[] = [];
  for await (const n of jsm.streams.names()) if (showAll || !isInternalStream(n)) names.push(n);
  if (names.length === 0) throw new CliError("no streams defined", "create one with `tsnats stream add`");
  return askSelect(io, "Select a Stream", names.sort(), undefined, "give the stream name as an argument");
}

function renderSource(s: { name: string; opt_start_seq?: number; opt_start_time?: string; external?: { api: string; deliver?: string } }): string {
  const parts = [s.name];
  if (s.opt_start_seq) parts.push(`Start Seq: ${fmtNum(s.opt_start_seq)}`);
  if (s.opt_start_time) parts.push(`Start Time: ${s.opt_start_time}`);
  if (s.external?.api) parts.push(`API Prefix: ${s.external.api}`);
  if (s.external?.deliver) parts.push(`Delivery Prefix: ${s.external.deliver}`);
  return parts.join(", ");
}

const unlimited = (n: number | undefined, f: (n: number) => string = fmtNum): string => (n === undefined || n <= 0 ? "unlimited" : f(n));

function addConfigRows(cols: Columns, c: StreamInfo["config"]): void {
  const cfg = c as StreamInfo["config"] & Record<string, unknown>;
  cols.fieldIf(cfg.description, "Description", cfg.description);
  cols.fieldIf(cfg.subjects?.length, "Subjects", cfg.subjects?.join(", "));
  cols.field("Replicas", cfg.num_replicas);
  cols.fieldIf(cfg.sealed, "Sealed", true);
  cols.field("Storage", cfg.storage === "memory" ? "Memory" : "File");
  cols.fieldIf(cfg.compression && cfg.compression !== "none", "Compression", String(cfg.compression));
  cols.fieldIf(cfg.first_seq && cfg.first_seq > 1, "First Sequence", fmtNum(cfg.first_seq));
  cols.fieldIf(cfg.placement?.cluster, "Placement Cluster", cfg.placement?.cluster);
  cols.fieldIf(cfg.placement?.tags?.length, "Placement Tags", cfg.placement?.tags?.join(", "));
  cols.title("Options");
  if (cfg.subject_transform?.dest) cols.field("Subject Transform", `${cfg.subject_transform.src || ">"} to ${cfg.subject_transform.dest}`);
  if (cfg.republish) cols.field(cfg.republish.headers_only ? "Republishing Headers" : "Republishing", `${cfg.republish.src} to ${cfg.republish.dest}`);
  cols.field("Retention", cfg.retention === "workqueue" ? "WorkQueue" : cfg.retention === "interest" ? "Interest" : "Limits");
  cols.field("Acknowledgments", !cfg.no_ack);
  cols.field("Discard Policy", cfg.discard_new_per_subject ? "New Per Subject" : cfg.discard === "new" ? "New" : "Old");
  cols.field("Duplicate Window", fmtNanos(cfg.duplicate_window));
  cols.fieldIf(cfg.allow_direct, "Direct Get", true);
  cols.fieldIf(cfg.mirror_direct, "Mirror Direct Get", true);
  cols.field("Allows Atomic Batch Publish", cfg.allow_atomic === true);
  cols.field("Allows Fast Batch Publish", cfg.allow_batched === true);
  cols.field("Allows Counters", cfg.allow_msg_counter === true);
  cols.field("Allows Msg Delete", !cfg.deny_delete);
  cols.field("Allows Per-Message TTL", cfg.allow_msg_ttl === true);
  cols.field("Allows Purge", !cfg.deny_purge);
  cols.field("Allows Schedules", cfg.allow_msg_schedules === true);
  if (cfg.allow_msg_ttl && cfg.subject_delete_marker_ttl) cols.field("Subject Delete Markers TTL", fmtNanos(cfg.subject_delete_marker_ttl));
  cols.field("Allows Rollups", cfg.allow_rollup_hdrs === true);
  cols.title("Limits");
  cols.field("Maximum Messages", unlimited(cfg.max_msgs));
  cols.field("Maximum Per Subject", unlimited(cfg.max_msgs_per_subject));
  cols.field("Maximum Bytes", unlimited(cfg.max_bytes, fmtBytes));
  cols.field("Maximum Age", unlimited(cfg.max_age, fmtNanos));
  cols.field("Maximum Message Size", unlimited(cfg.max_msg_size, fmtBytes));
  cols.field("Maximum Consumers", unlimited(cfg.max_consumers));
  if (cfg.consumer_limits?.inactive_threshold) cols.field("Consumer Inactive Threshold", fmtNanos(cfg.consumer_limits.inactive_threshold));
  if (cfg.consumer_limits?.max_ack_pending) cols.field("Consumer Max Ack Pending", fmtNum(cfg.consumer_limits.max_ack_pending));
  const meta = Object.entries(cfg.metadata ?? {}).filter(([k]) => !k.startsWith("_nats"));
  if (meta.length > 0) {
    cols.title("Metadata");
    for (const [k, v] of meta) cols.field(k, v);
  }
  if (cfg.mirror || cfg.sources?.length) cols.title("Replication");
  if (cfg.mirror) cols.field("Mirror", renderSource(cfg.mirror));
  [...(cfg.sources ?? [])].sort((a, b) => a.name.localeCompare(b.name)).forEach((src, i) => cols.field(i === 0 ? "Sources" : "", renderSource(src)));
}

/** Source info with the fields newer servers add (the client's type lags behind). */
type SourceInfo = StreamSourceInfo & { filter_subject?: string; external?: { api: string; deliver?: string }; error?: { description?: string } };

function addSourceInfo(cols: Columns, s: SourceInfo): void {
  cols.field("Stream Name", s.name);
  if (s.filter_subject) cols.field("Subject Filter", s.filter_subject);
  (s.subject_transforms ?? []).forEach((t, i) => cols.field(i === 0 ? (s.subject_transforms!.length > 1 ? "Subject Filters and Transforms" : "Subject Filter and Transform") : "", t.dest ? `${t.src} to ${t.dest}` : `${t.src} untransformed`));
  cols.field("Lag", fmtNum(s.lag));
  cols.field("Last Seen", s.active > 0 && s.active < 9e18 ? fmtNanos(s.active) : "never");
  if (s.external) {
    cols.field("Ext. API Prefix", s.external.api);
    if (s.external.deliver) cols.field("Ext. Delivery Prefix", s.external.deliver);
  }
  if (s.error?.description) cols.field("Error", s.error.description);
}

/** natscli's stream info block (`stateOnly` for `stream state`). */
export function renderStreamInfo(info: StreamInfo, stateOnly = false): string {
  const cols = new Columns(`${stateOnly ? "State" : "Information"} for Stream ${info.config.name} created ${fmtTime(info.created)}`);
  if (!stateOnly) addConfigRows(cols, info.config);
  if (info.cluster?.name) {
    cols.title("Cluster Information");
    cols.field("Name", info.cluster.name);
    cols.field("Leader", info.cluster.leader ?? "");
    for (const r of info.cluster.replicas ?? []) cols.field("Replica", [r.name, r.current ? "current" : "outdated", r.offline ? "OFFLINE" : "", r.active ? `seen ${fmtNanos(r.active)} ago` : "not seen"].filter((x) => x).join(", "));
  }
  if (info.mirror) {
    cols.title("Mirror Information");
    addSourceInfo(cols, info.mirror);
  }
  if (info.sources?.length) {
    cols.title("Source Information");
    info.sources.forEach((s, i) => {
      if (i > 0) cols.line();
      addSourceInfo(cols, s);
    });
  }
  cols.title("State");
  const st = info.state;
  cols.field("Messages", fmtNum(st.messages));
  cols.field("Bytes", fmtBytes(st.bytes));
  if (st.lost?.msgs?.length) cols.field("Lost Messages", `${fmtNum(st.lost.msgs.length)} (${fmtBytes(st.lost.bytes)})`);
  cols.field("First Sequence", st.messages > 0 && st.first_ts ? `${fmtNum(st.first_seq)} @ ${fmtTime(st.first_ts)}` : fmtNum(st.first_seq));
  cols.field("Last Sequence", st.last_ts && !st.last_ts.startsWith("0001") ? `${fmtNum(st.last_seq)} @ ${fmtTime(st.last_ts)}` : fmtNum(st.last_seq));
  const deleted = st.deleted?.length || st.num_deleted || 0;
  if (deleted > 0) cols.field("Deleted Messages", fmtNum(deleted));
  cols.field("Active Consumers", fmtNum(st.consumer_count));
  if (st.num_subjects) cols.field("Number of Subjects", fmtNum(st.num_subjects));
  return cols.render();
}

/** Everything `stream ls`/`report` need, one info per stream (paged by the client). */
export async function listStreams(jsm: JetStreamManager, subject?: string): Promise<StreamInfo[]> {
  const out: StreamInfo[] = [];
  for await (const si of jsm.streams.list(subject)) out.push(si);
  return out;
}

function renderStoredMsg(io: CliIO, stream: string, m: StoredMsg, translateWith?: string): void {
  println(io, `Item: ${stream}#${m.seq} received ${fmtTime(m.time)} (${fmtAgo(m.time)}) on Subject ${m.subject}\n`);
  const keys = m.header?.keys() ?? [];
  if (keys.length > 0) {
    println(io, "Headers:");
    for (const k of keys) for (const v of m.header.values(k)) println(io, `  ${k}: ${v}`);
    println(io);
  }
  printMessage(io, undefined, translateWith ? translate(m.data, translateWith, m.subject) : m.data);
}

/** JSON of a stored message the way natscli's `stream get --json` shows it (data in base64, translated when asked). */
export function storedMsgJson(m: StoredMsg, translateWith?: string): Record<string, unknown> {
  const hdrs = m.header?.keys().length ? Object.fromEntries(m.header.keys().map((k) => [k, m.header.values(k)])) : undefined;
  const data = translateWith ? translate(m.data, translateWith, m.subject) : m.data;
  return { subject: m.subject, seq: m.seq, ...(hdrs ? { hdrs } : {}), data: Buffer.from(data).toString("base64"), time: m.time.toISOString() };
}

export function registerStream(app: App): void {
  const io = app.io;
  const str = app.program.command("stream").aliases(["str", "st", "ms", "s"]).description("JetStream stream management");
  str.option("-a, --all", "When listing or selecting streams show all streams including system ones");
  const showAll = (): boolean => str.opts().all === true;

  const add = str.command("add [stream]").aliases(["create", "new"]).description("Create a new stream (asks for anything the flags leave open unless --defaults)");
  addStreamConfigFlags(add);
  add
    .option("--config <file>", "JSON file to read configuration from")
    .option("--output <file>", "Save configuration instead of creating")
    .option("--validate", "Only validates the configuration against the official Schema (from the directory TSNATS_SCHEMAS names)")
    .option("--defaults", "Accept default values for all prompts")
    .action(
      app.action<StreamFlags & { output?: string; validate?: boolean }>(async ({ session, opts, cmd }, name?: string) => {
        const cfg = await buildNewStreamConfig(io, name, opts, cmd);
        if (opts.validate) {
          println(io, JSON.stringify(cfg, null, 2) + "\n");
          const errs = validateStreamConfig(io, cfg);
          if (errs.length > 0) throw new CliError(`Validation Failed: ${errs.join("\n\t")}`);
          println(io, `Configuration is a valid Stream matching ${STREAM_CONFIG_SCHEMA}`);
          return;
        }
        if (opts.output) {
          fs.writeFileSync(opts.output, JSON.stringify(cfg, null, 2));
          println(io, `Stream configuration saved to ${opts.output}`);
          return;
        }
        await session.jsm();
        const info = await putStream(session, cfg, false);
        if (opts.json) return printJson(io, info);
        println(io, `Stream ${info.config.name} was created\n`);
        io.stdout.write(renderStreamInfo(info));
      }),
    );

  const edit = str.command("edit [stream]").alias("update").description("Edits an existing stream");
  addStreamConfigFlags(edit, true);
  edit
    .option("--config <file>", "JSON file to read configuration from")
    .option("-f, --force", "Force edit without prompting")
    .option("-i, --interactive", "Edit the configuration using your editor ($EDITOR, as YAML)")
    .option("--dry-run", "Only shows differences, do not edit the stream")
    .action(
      app.action<StreamFlags & { force?: boolean; dryRun?: boolean; interactive?: boolean }>(async ({ session, opts, cmd }, name?: string) => {
        const stream = await pickStream(session, io, name, showAll());
        const jsm = await session.jsm();
        const current = await api(() => jsm.streams.info(stream), { stream });
        let cfg: Cfg = editableConfig(opts.config ? { ...loadConfigFile(opts.config), name: stream } : (current.config as Cfg));
        if (opts.interactive) cfg = editableConfig(editInEditor(io, cfg) as Cfg);
        else applyStreamFlags(cfg, opts, cmd);
        cfg = { ...cfg, name: stream };
        const diff = configDiff(editableConfig(current.config) as unknown as Record<string, unknown>, cfg);
        if (diff.length === 0) throw new CliError("no difference in configuration", "give the settings to change as flags, e.g. --max-msgs 1000");
        if (opts.dryRun) {
          println(io, `Differences (-old +new):\n${diff.join("\n")}`);
          return;
        }
        if (!opts.force) {
          println(io, `Differences (-old +new):\n${diff.join("\n")}\n`);
          if (!(await askConfirm(io, `Really edit Stream ${stream}`, false))) return;
        }
        const info = await putStream(session, cfg, true);
        if (opts.json) return printJson(io, info);
        println(io, `Stream ${stream} was updated\n`);
        io.stdout.write(renderStreamInfo(info));
      }),
    );

  jsonFlag(str.command("ls").aliases(["list", "l"]).description("List all known streams"))
    .option("--subject <subject>", "Limit the list to streams with matching subjects")
    .option("-n, --names", "Show just the stream names")
    .action(
      app.action<{ json?: boolean; names?: boolean; subject?: string }>(async ({ session, opts }) => {
        const jsm = await session.jsm();
        const infos = (await api(() => listStreams(jsm, opts.subject))).filter((i) => showAll() || !isInternalStream(i.config.name));
        if (opts.json) return printJson(io, infos.map((i) => i.config.name).sort());
        if (opts.names) {
          for (const n of infos.map((i) => i.config.name).sort()) println(io, n);
          return;
        }
        if (infos.length === 0) {
          println(io, showAll() ? "No Streams defined" : "No Streams defined, pass -a to include system streams");
          return;
        }
        printStreamTable(io, infos, opts.subject ? `Streams matching ${opts.subject}` : "Streams");
      }),
    );

  addStreamFilterFlags(jsonFlag(str.command("find").alias("query").description("Finds streams matching certain criteria").addHelpText("after", "\n" + EXPRESSION_HELP)), "Display", true)
    .option("-n, --names", "Show just the stream names")
    .action(
      app.action<StreamFilterFlags & { json?: boolean; names?: boolean }>(async ({ session, opts }) => {
        const match = streamFilter(opts);
        const jsm = await session.jsm();
        const found = (await api(() => listStreams(jsm))).filter((i) => (showAll() || !isInternalStream(i.config.name)) && match(i));
        const names = found.map((i) => i.config.name).sort();
        if (opts.json) return printJson(io, names);
        if (opts.names) return void names.forEach((n) => println(io, n));
        if (found.length === 0) return void println(io, "No matching streams");
        printStreamTable(io, found, "Streams");
      }),
    );

  str
    .command("graph [stream]")
    .description("View a graph of stream activity (on a terminal, until Ctrl-C)")
    .action(
      app.action(async ({ session }, n?: string) => {
        let area = graphArea(io);
        const stream = await pickStream(session, io, n, showAll());
        const jsm = await session.jsm();
        const first = await api(() => jsm.streams.info(stream), { stream });
        const stored = new Series(area.width);
        const removed = new Series(area.width);
        const added = new Series(area.width);
        const addRate = new Rate();
        const removeRate = new Rate();
        addRate.next(first.state.last_seq);
        removeRate.next(first.state.first_seq);
        await refreshLoop(io, 1000, async () => {
          area = graphArea(io);
          for (const s of [stored, removed, added]) s.resize(area.width);
          const st = (await api(() => jsm.streams.info(stream), { stream })).state;
          stored.push(st.messages);
          added.push(addRate.next(st.last_seq));
          removed.push(removeRate.next(st.first_seq));
          const h = Math.floor(area.height / 3) - 2;
          return [`Stream Statistics for ${stream}`, "", plot(stored, "Messages Stored", h), "", plot(removed, "Messages Removed / second", h, 1), "", plot(added, "Messages Stored / second", h, 1), ""].join("\n");
        });
      }),
    );

  str
    .command("gaps [stream]")
    .description("Detect gaps in the stream content that would be reported as deleted messages")
    .option("-f, --force", "Act without prompting")
    .option("--no-progress", "Disables the progress bar")
    .option("--json", "Show detected gaps in JSON format")
    .addOption(new Option("--walk", "Read the whole stream instead of trusting the deleted list of stream info").hideHelp())
    .action(
      app.action<{ force?: boolean; progress: boolean; json?: boolean; walk?: boolean }>(async ({ session, opts }, n?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        const jsm = await session.jsm();
        const info = await api(() => jsm.streams.info(stream), { stream });
        if (!info.state.num_deleted && !opts.walk) {
          if (opts.json) return printJson(io, []);
          println(io, `No deleted messages in ${stream}`);
          return;
        }
        if (!opts.force) {
          println(io, "WARNING: Detecting gaps in a stream consumes the entire stream and can be resource intensive on the Server, Client and Network.\n");
          const q = `Really detect gaps in stream ${stream} with ${fmtNum(info.state.messages)} messages and ${fmtBytes(info.state.bytes)}`;
          if (!(await askConfirm(io, q, false))) return;
        }
        const bar = newProgress(io, info.state.last_seq, "Scanning", { enabled: opts.progress && !opts.json });
        let gaps: Gap[];
        try {
          gaps = await detectGaps(session, stream, { walk: opts.walk === true, progress: bar });
        } finally {
          bar.stop();
        }
        if (opts.json) return printJson(io, gaps);
        if (gaps.length === 0) return void println(io, `No deleted messages in ${stream}`);
        printTable(io, ["First Message", "Last Message"], gaps.map(([a, b]) => [fmtNum(a), fmtNum(b)]), gaps.length === 1 ? `1 gap found in Stream ${stream}` : `${fmtNum(gaps.length)} gaps found in Stream ${stream}`);
      }),
    );

  for (const [name, aliases, stateOnly, desc] of [
    ["info", ["nfo", "i"], false, "Stream information"],
    ["state", [], true, "Stream state"],
  ] as const) {
    jsonFlag(str.command(`${name} [stream]`).aliases([...aliases]).description(desc))
      .option("--state", "Shows only the stream state")
      .option("--no-select", "Do not select streams from a list")
      .action(
        app.action<{ json?: boolean; state?: boolean; select?: boolean }>(async ({ session, opts }, n?: string) => {
          if (!n && opts.select === false) throw new CliError("stream name is required", `tsnats stream ${name} STREAM`);
          const stream = await pickStream(session, io, n, showAll());
          const jsm = await session.jsm();
          const info = await api(() => jsm.streams.info(stream), { stream });
          if (opts.json) return printJson(io, info);
          io.stdout.write(renderStreamInfo(info, stateOnly || opts.state === true));
        }),
      );
  }

  jsonFlag(str.command("subjects [stream] [filter]").alias("subj").description("Query subjects held in a stream"))
    .option("--sort <by>", "Adjusts the sorting order (name, messages)", "messages")
    .option("--names", "List only subject names")
    .option("-R, --reverse", "Reverse the sort order")
    .action(
      app.action<{ json?: boolean; sort: string; names?: boolean; reverse?: boolean }>(async ({ session, opts }, n?: string, filter?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        const jsm = await session.jsm();
        const info = await api(() => jsm.streams.info(stream, { subjects_filter: filter ?? ">" }), { stream });
        const subjects = (info.state.subjects ?? {}) as Record<string, number>;
        if (opts.json) return printJson(io, subjects);
        const entries = Object.entries(subjects);
        if (entries.length === 0) {
          println(io, `No subjects found matching ${filter ?? ">"}`);
          return;
        }
        entries.sort(opts.sort === "name" || opts.sort === "subjects" ? (a, b) => a[0].localeCompare(b[0]) : (a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
        if (opts.reverse) entries.reverse();
        if (opts.names) {
          for (const [s] of entries) println(io, s);
          return;
        }
        printTable(io, ["Subject", "Count"], entries.map(([s, c]) => [s, fmtNum(c)]), `${entries.length} Subjects in stream ${stream}`);
      }),
    );

  str
    .command("rm [stream]")
    .aliases(["delete", "del"])
    .description("Removes a stream")
    .option("-f, --force", "Force removal without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, n?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        if (!opts.force && !(await askConfirm(io, `Really delete Stream ${stream}`, false))) return;
        const jsm = await session.jsm();
        await api(() => jsm.streams.delete(stream), { stream });
      }),
    );

  jsonFlag(str.command("purge [stream]").description("Bulk removes messages from a stream"))
    .option("-f, --force", "Force removal without prompting")
    .option("--subject <subject>", "Limits the purge to a specific subject")
    .option("--seq <sequence>", "Purge up to but not including a specific message sequence")
    .option("--keep <messages>", "Keeps a certain number of messages after the purge")
    .action(
      app.action<{ json?: boolean; force?: boolean; subject?: string; seq?: string; keep?: string }>(async ({ session, opts }, n?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        if (opts.seq !== undefined && opts.keep !== undefined) throw new CliError("--seq and --keep cannot be combined");
        if (!opts.force && !(await askConfirm(io, `Really purge Stream ${stream}`, false))) return;
        const jsm = await session.jsm();
        const req: Record<string, unknown> = {};
        if (opts.subject) req.filter = opts.subject;
        if (opts.seq !== undefined) req.seq = parseInteger(opts.seq, "--seq", 1);
        if (opts.keep !== undefined) req.keep = parseInteger(opts.keep, "--keep", 0);
        const res = await api(() => jsm.streams.purge(stream, req as never), { stream });
        const info = await api(() => jsm.streams.info(stream), { stream });
        if (opts.json) return printJson(io, info);
        println(io, `Purged ${fmtNum(res.purged)} messages from ${stream}\n`);
        io.stdout.write(renderStreamInfo(info));
      }),
    );

  str
    .command("copy <source> <destination>")
    .alias("cp")
    .description("Creates a new stream based on the configuration of another, does not copy data")
    .option("--subjects <subjects>", "Subjects for the new stream (required unless it mirrors or sources)", (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option("--description <text>", "Sets a contextual description for the stream")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<StreamFlags>(async ({ session, opts, cmd }, source: string, destination: string) => {
        const jsm = await session.jsm();
        const from = await api(() => jsm.streams.info(source), { stream: source });
        const cfg = editableConfig(from.config) as Cfg;
        cfg.name = destination;
        applyStreamFlags(cfg, opts, cmd as Command);
        const info = await putStream(session, cfg, false);
        if (opts.json) return printJson(io, info);
        println(io, `Stream ${destination} was created\n`);
        io.stdout.write(renderStreamInfo(info));
      }),
    );

  str
    .command("rmm [stream] [id]")
    .description("Securely removes an individual message from a stream")
    .option("-f, --force", "Force removal without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, n?: string, id?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        if (id === undefined) throw new CliError("message sequence is required", `tsnats stream rmm ${stream} SEQUENCE`);
        const seq = parseInteger(id, "message sequence", 1);
        if (!opts.force && !(await askConfirm(io, `Really remove message ${seq} from Stream ${stream}`, false))) return;
        const jsm = await session.jsm();
        await api(() => jsm.streams.deleteMessage(stream, seq, true), { stream });
      }),
    );

  jsonFlag(str.command("get [stream] [id]").description("Retrieves a specific message from a Stream"))
    .option("-S, --last-for <subject>", "Retrieves the message for a specific subject")
    .option("--translate <command>", "Translate the message data by running it through the given command before output")
    .action(
      app.action<{ json?: boolean; lastFor?: string; translate?: string }>(async ({ session, opts }, n?: string, id?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        if (id === undefined && !opts.lastFor) throw new CliError("message sequence or --last-for SUBJECT is required", `tsnats stream get ${stream} SEQUENCE`);
        const jsm = await session.jsm();
        const query = opts.lastFor ? { last_by_subj: opts.lastFor } : { seq: parseInteger(id!, "message sequence", 1) };
        const m = await api(() => jsm.streams.getMessage(stream, query as never), { stream });
        if (!m) throw new CliError("no message found", `check the sequence with \`tsnats stream info ${stream}\``);
        if (opts.json) return printJson(io, storedMsgJson(m, opts.translate));
        renderStoredMsg(io, stream, m, opts.translate);
      }),
    );

  str
    .command("view [stream] [size]")
    .description("View messages in a stream")
    .option("--id <seq>", "Start at a specific message Sequence")
    .option("--since <duration>", "Delivers messages received since a duration like 1d3h5m2s")
    .option("--raw", "Show the raw data received")
    .option("--subject <subject>", "Filter the stream using a subject")
    .option("--translate <command>", "Translate the message data by running it through the given command before output")
    .action(
      app.action<{ id?: string; since?: string; raw?: boolean; subject?: string; translate?: string }>(async ({ session, opts }, n?: string, sizeText?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        let size = parseInteger(sizeText ?? "10", "page size", 1);
        if (size > 25) size = 25;
        const js = await session.js();
        const oc: Record<string, unknown> = {};
        if (opts.subject) oc.filter_subjects = opts.subject; // a string: sent as filter_subject
        if (opts.id) {
          oc.deliver_policy = DeliverPolicy.StartSequence;
          oc.opt_start_seq = parseInteger(opts.id, "--id", 1);
        } else if (opts.since) {
          oc.deliver_policy = DeliverPolicy.StartTime;
          oc.opt_start_time = new Date(Date.now() - parseDurationMs(opts.since, "--since")).toISOString();
        }
        const jsm = await session.jsm();
        const info = await api(() => jsm.streams.info(stream), { stream });
        if (info.state.messages === 0) {
          println(io, `Stream ${stream} has no messages`);
          return;
        }
        const c = await api(() => js.consumers.get(stream, oc as never), { stream });
        try {
          for (;;) {
            let shown = 0;
            let pending = 0;
            const batch = await c.fetch({ max_messages: size, expires: Math.max(1000, session.timeoutMs) });
            for await (const m of batch) {
              shown++;
              pending = m.info.pending;
              const data = opts.translate ? translate(m.data, opts.translate, m.subject) : m.data;
              if (opts.raw) {
                io.stdout.write(data);
                println(io);
                continue;
              }
              println(io, `[${m.seq}] Subject: ${m.subject} Received: ${fmtTime(new Date(Number(m.info.timestampNanos) / 1e6))}`);
              println(io);
              printMessage(io, m.headers, data);
              if (shown >= size) break;
            }
            if (shown === 0 || pending === 0) {
              if (!opts.raw) println(io, "Reached apparent end of data");
              return;
            }
            if (!io.interactive || !(await askConfirm(io, "Next Page?", true))) return;
          }
        } finally {
          await c.delete().catch(() => undefined);
        }
      }),
    );

  jsonFlag(str.command("report").description("Reports on stream statistics"))
    .option("--subject <subject>", "Limit the report to streams with matching subjects")
    .option("-o, --consumers", "Sort by number of Consumers")
    .option("-m, --messages", "Sort by number of Messages")
    .option("-n, --name", "Sort by stream name")
    .option("-t, --storage", "Sort by Storage type")
    .option("-r, --raw", "Show un-formatted numbers")
    .option("--cluster <name>", "Limit report to streams within a specific cluster")
    .option("--dot <file>", "Produce a GraphViz graph of replication topology")
    .option("-l, --leaders", "Show details about cluster leaders")
    .action(
      app.action<{ json?: boolean; subject?: string; consumers?: boolean; messages?: boolean; name?: boolean; storage?: boolean; raw?: boolean; cluster?: string; dot?: string; leaders?: boolean }>(async ({ session, opts }) => {
        const jsm = await session.jsm();
        if (!opts.json) println(io, "Obtaining Stream stats\n");
        const infos = (await api(() => listStreams(jsm, opts.subject))).filter((i) => (showAll() || !isInternalStream(i.config.name)) && (!opts.cluster || i.cluster?.name === opts.cluster));
        if (opts.dot) {
          fs.writeFileSync(opts.dot, replicationDot(infos));
          println(io, `Wrote the replication graph of ${infos.length} streams to ${opts.dot}`);
          return;
        }
        const key = (i: StreamInfo): number | string =>
          opts.consumers ? i.state.consumer_count : opts.messages ? i.state.messages : opts.name ? i.config.name : opts.storage ? i.config.storage : i.state.bytes;
        infos.sort((a, b) => {
          const x = key(a);
          const y = key(b);
          return typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        });
        if (opts.json) {
          printJson(
            io,
            infos.map((i) => ({
              name: i.config.name,
              consumers: i.state.consumer_count,
              msgs: i.state.messages,
              bytes: i.state.bytes,
              storage: i.config.storage,
              deleted: i.state.num_deleted ?? 0,
              mirror: i.mirror,
              sources: i.sources,
              cluster: i.cluster,
            })),
          );
          return;
        }
        if (infos.length === 0) {
          println(io, "No Streams defined");
          return;
        }
        const num = (v: number): string | number => (opts.raw ? v : fmtNum(v));
        printTable(
          io,
          ["Stream", "Storage", "Placement", "Consumers", "Messages", "Bytes", "Lost", "Deleted", "Replicas"],
          infos.map((i) => [
            i.config.name,
            i.config.storage === "memory" ? "Memory" : "File",
            [i.config.placement?.cluster ? `cluster: ${i.config.placement.cluster}` : "", i.config.placement?.tags?.length ? `tags: ${i.config.placement.tags.join(", ")}` : ""].filter((x) => x).join(" "),
            num(i.state.consumer_count),
            num(i.state.messages),
            opts.raw ? i.state.bytes : fmtBytes(i.state.bytes),
            i.state.lost?.msgs?.length ? `${fmtNum(i.state.lost.msgs.length)} (${fmtBytes(i.state.lost.bytes)})` : "0",
            num(i.state.num_deleted ?? 0),
            i.cluster?.leader ? [i.cluster.leader + "*", ...(i.cluster.replicas ?? []).map((r) => r.name)].join(", ") : "",
          ]),
          "Stream Report",
        );
        const repl = infos.filter((i) => i.mirror || i.sources?.length);
        if (repl.length > 0) {
          const rows: (string | number)[][] = [];
          for (const i of repl) {
            const row = (kind: string, s: SourceInfo): (string | number)[] => {
              const filters = (s.subject_transforms ?? []).map((t) => `${t.src} to ${t.dest}`);
              if (filters.length === 0 && s.filter_subject) filters.push(`${s.filter_subject} untransformed`);
              return [i.config.name, kind, s.external?.api ?? "", s.name, filters.join(", "), opts.raw ? s.active : s.active > 0 && s.active < 9e18 ? fmtNanos(s.active) : "never", num(s.lag), s.error?.description ?? ""];
            };
            if (i.mirror) rows.push(row("Mirror", i.mirror));
            for (const s of i.sources ?? []) rows.push(row("Source", s));
          }
          println(io);
          printTable(io, ["Stream", "Kind", "API Prefix", "Source Stream", "Filters and Transforms", "Active", "Lag", "Error"], rows, "Replication Report");
        }
        if (opts.leaders) {
          const led = leaderCounts(infos.map((i) => i.cluster));
          println(io);
          if (led.length === 0) println(io, "No stream leader data reported");
          else io.stdout.write(leaderTable(led, "Stream Leaders") + "\n");
        }
      }),
    );

  str
    .command("seal <stream>")
    .description("Seals a stream preventing further updates")
    .option("-f, --force", "Force sealing without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, stream: string) => {
        if (!opts.force && !(await askConfirm(io, `Really seal Stream ${stream}, sealed streams can not be unsealed or modified`, false))) return;
        const jsm = await session.jsm();
        const info = await api(() => jsm.streams.info(stream), { stream });
        const updated = await putStream(session, { ...editableConfig(info.config), sealed: true }, true);
        io.stdout.write(renderStreamInfo(updated));
      }),
    );

  str
    .command("backup <stream> <target>")
    .alias("snapshot")
    .description("Creates a backup of a stream over the NATS network (natscli's layout: backup.json + stream.tar.s2)")
    .option("--no-progress", "Disables progress reporting")
    .option("--check", "Checks the stream for health prior to backup")
    .option("--no-consumers", "Do not back up consumers")
    .option("--chunk-size <bytes>", "Sets a specific chunk size that the server will send", "128KB")
    .option("--window-size <bytes>", "Sets a specific window size that the server will send")
    .action(
      app.action<{ progress: boolean; check?: boolean; consumers: boolean; chunkSize: string; windowSize?: string }>(async ({ session, opts }, stream: string, target: string) => {
        const r = await backupStream(session, stream, target, {
          progress: opts.progress,
          consumers: opts.consumers,
          check: opts.check === true,
          chunkSize: parseBytes(opts.chunkSize, "--chunk-size"),
          windowSize: opts.windowSize ? parseBytes(opts.windowSize, "--window-size") : undefined,
        });
        println(io, `Received ${fmtBytes(r.bytes)} compressed data in ${fmtNum(r.chunks)} chunks for stream ${stream} in ${(r.ms / 1000).toFixed(2)}s, ${fmtBytes(Math.round((r.bytes / Math.max(1, r.ms)) * 1000))}/s`);
      }),
    );

  str
    .command("restore <directory>")
    .description("Restore a stream over the NATS network from a backup directory")
    .option("--no-progress", "Disables progress reporting")
    .option("--config <file>", "Load a different configuration when restoring the stream")
    .option("--cluster <name>", "Place the stream in a specific cluster")
    .option("--tag <tag>", "Place the stream on servers that has specific tags (repeatable)", (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option("--replicas <n>", "Override how many replicas of the data to create")
    .action(
      app.action<{ progress: boolean; config?: string; cluster?: string; tag?: string[]; replicas?: string }>(async ({ session, opts }, dir: string) => {
        const r = await restoreStream(session, dir, {
          progress: opts.progress,
          config: opts.config ? loadConfigFile(opts.config) : undefined,
          cluster: opts.cluster,
          tags: opts.tag,
          replicas: opts.replicas ? parseInteger(opts.replicas, "--replicas", 1) : undefined,
        });
        println(io, `Restored stream "${r.stream}" in ${(r.ms / 1000).toFixed(2)}s\n`);
        const jsm = await session.jsm();
        io.stdout.write(renderStreamInfo(await api(() => jsm.streams.info(r.stream), { stream: r.stream })));
      }),
    );

  const cluster = str.command("cluster").alias("c").description("Manages a clustered stream");
  cluster
    .command("step-down [stream]")
    .aliases(["stepdown", "sd", "elect", "down", "d"])
    .description("Force a new leader election by standing down the current leader")
    .option("--preferred <server>", "Prefer placing the leader on a specific host")
    .option("-f, --force", "Force leader step down ignoring current leader")
    .action(
      app.action<{ preferred?: string; force?: boolean }>(async ({ session, opts }, n?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        const nc = await session.nc();
        if (!opts.force) {
          // natscli refuses a stream that has no leader to step down unless forced.
          const jsm = await session.jsm();
          const info = await api(() => jsm.streams.info(stream), { stream });
          if (!info.cluster?.leader) throw new CliError(`stream ${stream} has no current leader`, "pass --force to request an election anyway");
        }
        const body = opts.preferred ? JSON.stringify({ placement: { preferred: opts.preferred } }) : "";
        const res = await api(() => nc.request(`${session.jsApiPrefix()}.STREAM.LEADER.STEPDOWN.${stream}`, body, { timeout: session.timeoutMs }), { stream });
        const doc = res.json<{ success?: boolean; error?: { description?: string } }>();
        if (doc.error) throw new CliError(`step-down of stream ${stream} failed: ${doc.error.description}`, "only clustered streams with replicas have a leader to step down");
        println(io, `Requested leader step-down for stream ${stream}`);
      }),
    );
  addStreamFilterFlags(cluster.command("balance").description("Balance stream leaders"), "Balance", false).action(
    app.action<StreamFilterFlags>(async ({ session, opts }) => {
      const match = streamFilter(opts);
      const jsm = await session.jsm();
      const found = (await api(() => listStreams(jsm))).filter(match);
      if (found.length === 0) return void println(io, "No matching streams");
      const moved = await balanceLeaders(
        session,
        io,
        found.map((si) => ({ kind: "stream", name: si.config.name, cluster: si.cluster, stepDownSubject: `STREAM.LEADER.STEPDOWN.${si.config.name}` })),
      );
      println(io, `Balanced ${moved} streams.`);
    }),
  );
  cluster
    .command("peer-remove [stream] [peer]")
    .alias("pr")
    .description("Removes a peer from the stream cluster")
    .option("-f, --force", "Force removal without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, n?: string, peer?: string) => {
        const stream = await pickStream(session, io, n, showAll());
        if (!peer) throw new CliError("peer name is required", `tsnats stream cluster peer-remove ${stream} SERVER`);
        if (!opts.force && !(await askConfirm(io, `Really remove peer ${peer} from stream ${stream}`, false))) return;
        const nc = await session.nc();
        const res = await nc.request(`${session.jsApiPrefix()}.STREAM.PEER.REMOVE.${stream}`, JSON.stringify({ peer }), { timeout: session.timeoutMs });
        const doc = res.json<{ success?: boolean; error?: { description?: string } }>();
        if (doc.error) throw new CliError(`peer removal failed: ${doc.error.description}`);
        println(io, `Removed peer ${peer} from stream ${stream}`);
      }),
    );
}

/** natscli's stream list table (`stream ls`, `stream find`), smallest first. */
export function printStreamTable(io: CliIO, infos: StreamInfo[], title: string): void {
  const sorted = [...infos].sort((a, b) => a.state.bytes - b.state.bytes);
  printTable(
    io,
    ["Name", "Description", "Created", "Messages", "Size", "Last Message"],
    sorted.map((i) => [i.config.name, i.config.description ?? "", fmtTime(i.created), fmtNum(i.state.messages), fmtBytes(i.state.bytes), fmtAgo(i.state.last_ts)]),
    title,
  );
}

/** "-key: old" / "+key: new" lines for the settings that differ (edit's confirmation). */
export function configDiff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const x = JSON.stringify(a[k]);
    const y = JSON.stringify(b[k]);
    if (x === y) continue;
    if (a[k] === undefined && (b[k] === false || b[k] === 0 || b[k] === "")) continue;
    if (b[k] === undefined && (a[k] === false || a[k] === 0 || a[k] === "")) continue;
    if (x !== undefined) out.push(`-  ${k}: ${x}`);
    if (y !== undefined) out.push(`+  ${k}: ${y}`);
  }
  return out;
}

const STREAM_CONFIG_SCHEMA = "io.nats.jetstream.api.v1.stream_configuration";

/** `stream add --validate`: the schema's verdict, and jsm.go's check that acknowledged streams do not take '>'. */
function validateStreamConfig(io: CliIO, cfg: Record<string, unknown>): string[] {
  if (cfg.no_ack !== true && Array.isArray(cfg.subjects) && cfg.subjects.includes(">")) return ["subjects cannot be '>' when acknowledgement is enabled"];
  return SchemaStore.fromEnv(io).validate(STREAM_CONFIG_SCHEMA, cfg);
}

/** `stream report --dot`: streams as nodes, mirrors and sources as edges from where the data comes. */
export function replicationDot(infos: StreamInfo[]): string {
  const q = (v: string): string => JSON.stringify(v);
  const lines = ["digraph {", "  node [shape=box];"];
  for (const i of infos) lines.push(`  ${q(i.config.name)} [label=${q(`${i.config.name}\n${fmtNum(i.state.messages)} messages`)}];`);
  for (const i of infos) {
    const from = (s: { name: string; external?: { api?: string } }): string => (s.external?.api ? `${s.name} (${s.external.api})` : s.name);
    if (i.config.mirror) lines.push(`  ${q(from(i.config.mirror))} -> ${q(i.config.name)} [label="mirror"];`);
    for (const src of i.config.sources ?? []) lines.push(`  ${q(from(src))} -> ${q(i.config.name)} [label="source"];`);
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
