// A stream configuration from `stream add/edit/copy` flags and, for `add`, natscli's
// interactive questions (asked only for what the flags leave open, skipped with --defaults),
// including the mirror/source start and filter questions.
import fs from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import type { StreamConfig, StreamSource } from "@nats-io/jetstream";
import { boolFlag, collect, collectPairs, isSet } from "./app.js";
import { askConfirm, askInput, askSelect } from "./prompt.js";
import { CliError, type CliIO } from "./runtime.js";
import { parseBytes, parseDurationNs, parseInteger, splitList } from "./units.js";

export type Cfg = Partial<StreamConfig> & { name?: string } & Record<string, unknown>;

export interface StreamFlags {
  subjects?: string[];
  description?: string;
  storage?: string;
  compression?: string;
  replicas?: string;
  tag?: string[];
  tags?: string[];
  cluster?: string;
  ack?: boolean;
  retention?: string;
  discard?: string;
  discardPerSubject?: boolean;
  firstSequence?: string;
  maxAge?: string;
  maxBytes?: string;
  maxConsumers?: string;
  maxMsgSize?: string;
  maxMsgs?: string;
  maxMsgsPerSubject?: string;
  dupeWindow?: string;
  /** a name or JSON; false for edit's --no-mirror */
  mirror?: string | false;
  source?: string[];
  allowRollup?: boolean;
  denyDelete?: boolean;
  denyPurge?: boolean;
  allowDirect?: boolean;
  allowMirrorDirect?: boolean;
  allowMsgTtl?: boolean;
  allowSchedules?: boolean;
  allowBatch?: boolean;
  allowFast?: boolean;
  allowCounter?: boolean;
  subjectDelMarkersTtl?: string;
  transformSource?: string;
  transformDestination?: string;
  metadata?: Record<string, string>;
  republishSource?: string;
  republishDestination?: string;
  republishHeaders?: boolean;
  limitConsumerInactive?: string;
  limitConsumerMaxPending?: string;
  persistMode?: string;
  defaults?: boolean;
  config?: string;
  json?: boolean;
}

/** The configuration flags shared by `stream add`, `edit` and `copy` (natscli's names). */
export function addStreamConfigFlags(cmd: Command, edit = false): void {
  cmd
    .option("--subjects <subjects>", "Subjects that are consumed by the stream (repeatable, or comma separated)", collect)
    .option("--description <text>", "Sets a contextual description for the stream")
    .addOption(new Option("--storage <type>", "Storage backend to use (file, memory)").choices(["file", "f", "memory", "m"]))
    .addOption(new Option("--compression <alg>", "Compression algorithm to use (file storage only)").choices(["none", "s2"]))
    .option("--replicas <n>", "When clustered, how many replicas of the data to create")
    .option("--tag <tag>", "Place the stream on servers that has specific tags (repeatable)", collect)
    .addOption(new Option("--tags <tag>", "Backward compatibility only, use --tag").argParser(collect).hideHelp())
    .option("--cluster <name>", "Place the stream on a specific cluster");
  boolFlag(cmd, "ack", "Acknowledge publishes (default true; --no-ack disables)");
  cmd
    .addOption(new Option("--retention <policy>", "Defines a retention policy (limits, interest, work)").choices(["limits", "interest", "workq", "work"]))
    .addOption(new Option("--discard <policy>", "Defines the discard policy (new, old)").choices(["new", "old"]));
  boolFlag(cmd, "discard-per-subject", "Sets the 'new' discard policy and applies it to every subject in the stream");
  if (!edit) cmd.option("--first-sequence <seq>", "Sets the starting sequence");
  cmd
    .option("--max-age <duration>", "Maximum age of messages to keep (-1 unlimited; units s, m, h, d, w, M, y)")
    .option("--max-bytes <bytes>", "Maximum bytes to keep (-1 unlimited; 1KB, 1MB, 1GB)")
    .option("--max-consumers <n>", "Maximum number of consumers to allow")
    .option("--max-msg-size <bytes>", "Maximum size any 1 message may be")
    .option("--max-msgs <n>", "Maximum amount of messages to keep")
    .option("--max-msgs-per-subject <n>", "Maximum amount of messages to keep per subject")
    .option("--dupe-window <duration>", "Duration of the duplicate message tracking window")
    .option("--mirror <stream>", "Completely mirror another stream (a name, or a JSON StreamSource)")
    .option("--source <stream>", "Source data from other streams, merging into this one (repeatable; a name or JSON)", collect);
  if (edit) cmd.option("--no-mirror", "Removes current mirror configuration");
  boolFlag(cmd, "allow-rollup", "Allows roll-ups to be done by publishing messages with special headers");
  boolFlag(cmd, "deny-delete", "Deny messages from being deleted via the API");
  boolFlag(cmd, "deny-purge", "Deny entire stream or subject purges via the API");
  boolFlag(cmd, "allow-direct", "Allows fast, direct, access to stream data via the direct get API (default true)");
  boolFlag(cmd, "allow-mirror-direct", "Allows fast, direct, access to stream data via the direct get API on mirrors");
  boolFlag(cmd, "allow-msg-ttl", "Allows per-message TTL handling");
  boolFlag(cmd, "allow-schedules", "Allows message schedules");
  boolFlag(cmd, "allow-batch", "Allow atomic batch publishing");
  boolFlag(cmd, "allow-fast", "Allow fast batch publishing");
  cmd.option("--allow-counter", "Configures the stream as a distributed counter");
  cmd
    .option("--subject-del-markers-ttl <duration>", "How long delete markers should persist in the stream")
    .option("--transform-source <subject>", "Stream subject transform source")
    .option("--transform-destination <subject>", "Stream subject transform destination");
  if (edit) cmd.option("--no-transform", "Removes current subject transform configuration");
  cmd
    .option("--metadata <K=V>", "Adds metadata to the stream (repeatable)", collectPairs)
    .option("--republish-source <subject>", "Republish messages to --republish-destination")
    .option("--republish-destination <subject>", "Republish destination for messages in --republish-source")
    .option("--republish-headers", "Republish only message headers, no bodies");
  if (edit) cmd.option("--no-republish", "Removes current republish configuration");
  cmd
    .option("--limit-consumer-inactive <duration>", "The maximum Consumer inactive threshold the stream allows")
    .option("--limit-consumer-max-pending <n>", "The maximum Consumer Ack Pending the stream Allows")
    .addOption(new Option("--persist-mode <mode>", "Configures the persistence mode").choices(["default", "async"]))
    .option("-j, --json", "Produce JSON output");
}

const RETENTION: Record<string, string> = { limits: "limits", interest: "interest", workq: "workqueue", work: "workqueue", "work queue": "workqueue" };

/** A `--mirror`/`--source` value: a stream name or a JSON StreamSource document. */
function parseSourceArg(v: string, what: string): StreamSource | undefined {
  const t = v.trim();
  if (!(t.startsWith("{") && t.endsWith("}"))) return undefined;
  try {
    const s = JSON.parse(t) as StreamSource;
    if (typeof s.name !== "string" || s.name === "") throw new Error("no name");
    return s;
  } catch (err) {
    throw new CliError(`invalid ${what} "${v}": ${(err as Error).message}`, 'give a stream name or a JSON document like {"name":"ORDERS","filter_subject":"ORDERS.eu"}');
  }
}

/** natscli's "YYYY:MM:DD HH:MM:SS" (UTC) start time answer → RFC3339. */
function parseStartTime(s: string): string {
  const m = /^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s.trim());
  if (!m) throw new CliError(`invalid time "${s}"`, "use YYYY:MM:DD HH:MM:SS in UTC");
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
}

/** The questions natscli asks about one mirror or source (none with --defaults). */
async function askSource(io: CliIO, name: string, kind: "mirror" | "source", defaults: boolean): Promise<StreamSource> {
  const src: StreamSource = { name };
  if (defaults) return src;
  const label = kind === "mirror" ? "Mirror" : `${name} Source`;
  const adjust = await askConfirm(io, kind === "mirror" ? "Adjust mirror start" : `Adjust source "${name}" start`, false, "pass --defaults, or a JSON --source/--mirror");
  if (adjust) {
    const seq = parseInteger(await askInput(io, `${label} Start Sequence`, { default: "0" }), "start sequence", 0);
    if (seq > 0) src.opt_start_seq = seq;
    if (seq === 0) {
      const ts = await askInput(io, `${label} UTC Time Stamp (YYYY:MM:DD HH:MM:SS)`, { default: "" });
      if (ts !== "") src.opt_start_time = parseStartTime(ts);
    }
  }
  if (await askConfirm(io, kind === "mirror" ? "Adjust mirror filter and transform" : `Adjust source "${name}" filter and transform`, false, "pass --defaults")) {
    const transforms: { src: string; dest: string }[] = [];
    for (;;) {
      const filter = await askInput(io, "Filter source by subject (hit enter to finish)", { default: "" });
      if (filter === "") break;
      const dest = await askInput(io, "Subject transform destination", { default: "" });
      transforms.push({ src: filter, dest });
    }
    if (transforms.length === 1 && transforms[0].dest === "") src.filter_subject = transforms[0].src;
    else if (transforms.length > 0) src.subject_transforms = transforms;
  }
  if (await askConfirm(io, kind === "mirror" ? "Import mirror from a different JetStream domain" : `Import "${name}" from a different JetStream domain`, false, "pass --defaults")) {
    const domain = await askInput(io, `${label} foreign JetStream domain name`, { required: true });
    const deliver = await askInput(io, `${label} foreign JetStream domain delivery prefix`, { default: "" });
    src.external = { api: `$JS.${domain}.API`, ...(deliver ? { deliver } : {}) };
  } else if (await askConfirm(io, kind === "mirror" ? "Import mirror from a different account" : `Import "${name}" from a different account`, false, "pass --defaults")) {
    const api = await askInput(io, `${label} foreign account API prefix`, { required: true });
    const deliver = await askInput(io, `${label} foreign account delivery prefix`, { default: "" });
    src.external = { api, ...(deliver ? { deliver } : {}) };
  }
  return src;
}

/** Apply every flag the user typed to `cfg` (edit and copy, and add after its questions). */
export function applyStreamFlags(cfg: Cfg, o: StreamFlags, cmd: Command): void {
  if (o.subjects) cfg.subjects = splitList(o.subjects);
  if (o.description !== undefined) cfg.description = o.description;
  if (o.storage) cfg.storage = (o.storage.startsWith("m") ? "memory" : "file") as never;
  if (o.compression) cfg.compression = o.compression as never;
  if (o.replicas !== undefined) cfg.num_replicas = parseInteger(o.replicas, "--replicas", 1);
  // --tags is natscli's older spelling of --tag: both add to the same list.
  if (o.tags) o.tag = [...(o.tag ?? []), ...o.tags];
  if (o.tag || o.cluster) cfg.placement = { ...(cfg.placement ?? {}), ...(o.tag ? { tags: o.tag } : {}), ...(o.cluster ? { cluster: o.cluster } : {}) } as never;
  if (isSet(cmd, "ack")) cfg.no_ack = !o.ack;
  if (o.retention) cfg.retention = RETENTION[o.retention] as never;
  if (o.discard) cfg.discard = o.discard as never;
  if (isSet(cmd, "discard-per-subject")) {
    cfg.discard_new_per_subject = o.discardPerSubject === true;
    if (o.discardPerSubject) cfg.discard = "new" as never;
  }
  if (o.firstSequence !== undefined) cfg.first_seq = parseInteger(o.firstSequence, "--first-sequence", 1);
  if (o.maxAge !== undefined) cfg.max_age = o.maxAge.trim() === "-1" || o.maxAge === "" ? 0 : parseDurationNs(o.maxAge, "--max-age");
  if (o.maxBytes !== undefined) cfg.max_bytes = parseBytes(o.maxBytes, "--max-bytes");
  if (o.maxConsumers !== undefined) cfg.max_consumers = parseInteger(o.maxConsumers, "--max-consumers");
  if (o.maxMsgSize !== undefined) cfg.max_msg_size = parseBytes(o.maxMsgSize, "--max-msg-size");
  if (o.maxMsgs !== undefined) cfg.max_msgs = Math.max(-1, parseInteger(o.maxMsgs, "--max-msgs")) || -1;
  if (o.maxMsgsPerSubject !== undefined) cfg.max_msgs_per_subject = Math.max(-1, parseInteger(o.maxMsgsPerSubject, "--max-msgs-per-subject")) || -1;
  if (o.dupeWindow !== undefined) cfg.duplicate_window = parseDurationNs(o.dupeWindow, "--dupe-window");
  if (isSet(cmd, "allow-rollup")) cfg.allow_rollup_hdrs = o.allowRollup === true;
  if (isSet(cmd, "deny-delete")) cfg.deny_delete = o.denyDelete === true;
  if (isSet(cmd, "deny-purge")) cfg.deny_purge = o.denyPurge === true;
  if (isSet(cmd, "allow-direct")) cfg.allow_direct = o.allowDirect === true;
  if (isSet(cmd, "allow-mirror-direct")) cfg.mirror_direct = o.allowMirrorDirect === true;
  if (isSet(cmd, "allow-msg-ttl")) cfg.allow_msg_ttl = o.allowMsgTtl === true;
  if (isSet(cmd, "allow-schedules")) cfg.allow_msg_schedules = o.allowSchedules === true;
  if (isSet(cmd, "allow-batch")) cfg.allow_atomic = o.allowBatch === true;
  if (isSet(cmd, "allow-fast")) cfg.allow_batched = o.allowFast === true;
  if (o.allowCounter) cfg.allow_msg_counter = true;
  if (o.subjectDelMarkersTtl !== undefined) cfg.subject_delete_marker_ttl = parseDurationNs(o.subjectDelMarkersTtl, "--subject-del-markers-ttl");
  if (o.transformSource !== undefined || o.transformDestination !== undefined) {
    if (!o.transformDestination) throw new CliError("--transform-source needs --transform-destination");
    cfg.subject_transform = { src: o.transformSource ?? ">", dest: o.transformDestination };
  }
  // commander turns --no-transform / --no-republish / --no-mirror into transform=false etc.
  const neg = o as unknown as Record<string, unknown>;
  if (neg.transform === false) delete cfg.subject_transform;
  if (o.metadata) cfg.metadata = { ...(cfg.metadata ?? {}), ...o.metadata };
  if (o.republishSource !== undefined || o.republishDestination !== undefined || o.republishHeaders) {
    if (!o.republishSource || !o.republishDestination) throw new CliError("must specify both --republish-source and --republish-destination");
    cfg.republish = { src: o.republishSource, dest: o.republishDestination, ...(o.republishHeaders ? { headers_only: true } : {}) };
  }
  if (neg.republish === false) delete cfg.republish;
  if (o.mirror === false) delete cfg.mirror;
  if (o.limitConsumerInactive !== undefined || o.limitConsumerMaxPending !== undefined) {
    cfg.consumer_limits = { ...(cfg.consumer_limits ?? {}) };
    if (neg.republish === false) delete cfg.republish;
  if (o.mirror === false) delete cfg.mirror;
  if (o.limitConsumerInactive !== undefined) cfg.consumer_limits.inactive_threshold = parseDurationNs(o.limitConsumerInactive, "--limit-consumer-inactive");
    if (o.limitConsumerMaxPending !== undefined) cfg.consumer_limits.max_ack_pending = parseInteger(o.limitConsumerMaxPending, "--limit-consumer-max-pending", 1);
  }
  if (o.persistMode) cfg.persist_mode = o.persistMode as never;
}

/** Read a configuration file: a StreamConfig or a `stream info --json` document. */
export function loadConfigFile(file: string): Cfg {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`cannot read configuration ${file}: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== "object") throw new CliError(`configuration ${file} is not a JSON object`);
  const d = doc as Record<string, unknown>;
  return (typeof d.config === "object" && d.config !== null ? d.config : d) as Cfg;
}

/**
 * The full configuration for `stream add`: a --config file, or flags plus natscli's
 * questions for whatever the flags leave open (all defaults with --defaults).
 */
export async function buildNewStreamConfig(io: CliIO, name: string | undefined, o: StreamFlags, cmd: Command): Promise<Cfg> {
  const defaults = o.defaults === true;
  const instead = "give it as a flag, or pass --defaults to accept the defaults";
  if (o.config) {
    const cfg = loadConfigFile(o.config);
    if (name) cfg.name = name;
    applyStreamFlags(cfg, o, cmd);
    if (!cfg.name) throw new CliError("the configuration has no stream name", "give the name: tsnats stream add NAME --config FILE");
    return cfg;
  }
  if (!name) name = await askInput(io, "Stream Name", { required: true, instead: "give the stream name: tsnats stream add NAME" });
  const cfg: Cfg = { name };
  const mirror = o.mirror === false ? undefined : o.mirror;
  const sources = o.source ?? [];
  let subjects = o.subjects ? splitList(o.subjects) : [];
  if (mirror === undefined && sources.length === 0 && subjects.length === 0) {
    subjects = splitList([await askInput(io, "Subjects", { required: true, instead: "give them with --subjects" })]);
  }
  if (mirror !== undefined && subjects.length > 0) throw new CliError("mirrors cannot listen for messages on subjects");
  if (subjects.length > 0) cfg.subjects = subjects;

  const storage = o.storage ?? (defaults ? "file" : await askSelect(io, "Storage", ["file", "memory"], "file", instead));
  cfg.storage = (storage.startsWith("m") ? "memory" : "file") as never;
  if (o.compression && o.compression !== "none") cfg.compression = o.compression as never;
  const replicas = o.replicas ?? (defaults ? "1" : await askInput(io, "Replication", { default: "1", instead }));
  cfg.num_replicas = parseInteger(replicas, "replicas", 1);
  const retention = o.retention ?? (defaults ? "limits" : (await askSelect(io, "Retention Policy", ["Limits", "Interest", "Work Queue"], "Limits", instead)).toLowerCase());
  cfg.retention = RETENTION[retention] as never;
  const discard = o.discardPerSubject ? "new" : (o.discard ?? (defaults ? "old" : (await askSelect(io, "Discard Policy", ["New", "Old"], "Old", instead)).toLowerCase()));
  cfg.discard = discard as never;
  const maxMsgs = o.maxMsgs ?? (defaults ? "-1" : await askInput(io, "Stream Messages Limit", { default: "-1", instead }));
  cfg.max_msgs = Math.max(-1, parseInteger(maxMsgs, "messages limit")) || -1;
  if (subjects.length > 0) {
    const per = o.maxMsgsPerSubject ?? (defaults ? "-1" : await askInput(io, "Per Subject Messages Limit", { default: "-1", instead }));
    cfg.max_msgs_per_subject = Math.max(-1, parseInteger(per, "per subject messages limit")) || -1;
  }
  const maxBytes = o.maxBytes ?? (defaults ? "-1" : await askInput(io, "Total Stream Size", { default: "-1", instead }));
  cfg.max_bytes = parseBytes(maxBytes, "total stream size");
  const maxAge = o.maxAge ?? (defaults ? "-1" : await askInput(io, "Message TTL", { default: "-1", instead }));
  cfg.max_age = maxAge.trim() === "-1" || maxAge.trim() === "" ? 0 : parseDurationNs(maxAge, "message TTL");
  const maxMsgSize = o.maxMsgSize ?? (defaults ? "-1" : await askInput(io, "Max Message Size", { default: "-1", instead }));
  cfg.max_msg_size = parseBytes(maxMsgSize, "max message size");
  if (cfg.max_msg_size > 2 ** 31 - 1) throw new CliError(`max message size ${cfg.max_msg_size} is too big, maximum is 2,147,483,647`);
  if (mirror === undefined) {
    // Two minutes, or the message TTL when that is shorter, as nats-server defaults it.
    const ageNs = cfg.max_age ?? 0;
    const defDw = ageNs > 0 && ageNs < 120e9 ? `${ageNs / 1e9}s` : "2m0s";
    const dw = o.dupeWindow ?? (defaults ? defDw : await askInput(io, "Duplicate tracking time window", { default: defDw, instead }));
    cfg.duplicate_window = parseDurationNs(dw, "duplicate window");
  }
  if (!defaults) {
    if (!isSet(cmd, "allow-rollup")) cfg.allow_rollup_hdrs = await askConfirm(io, "Allow message Roll-ups", false, instead);
    if (!isSet(cmd, "deny-delete")) cfg.deny_delete = !(await askConfirm(io, "Allow message deletion", true, instead));
    if (!isSet(cmd, "deny-purge")) cfg.deny_purge = !(await askConfirm(io, "Allow purging subjects or the entire stream", true, instead));
  }
  cfg.allow_direct = isSet(cmd, "allow-direct") ? o.allowDirect === true : true;
  cfg.max_consumers = o.maxConsumers !== undefined ? parseInteger(o.maxConsumers, "--max-consumers") : -1;
  if (mirror !== undefined) cfg.mirror = parseSourceArg(mirror, "--mirror") ?? (await askSource(io, mirror, "mirror", defaults));
  if (sources.length > 0) {
    cfg.sources = [];
    for (const s of sources) cfg.sources.push(parseSourceArg(s, "--source") ?? (await askSource(io, s, "source", defaults)));
  }
  // Everything else the user typed (placement, republish, transforms, metadata, ...).
  const rest: StreamFlags = { ...o, subjects: undefined, storage: undefined, replicas: undefined, retention: undefined, discard: undefined, maxMsgs: undefined, maxMsgsPerSubject: undefined, maxBytes: undefined, maxAge: undefined, maxMsgSize: undefined, dupeWindow: undefined, maxConsumers: undefined, compression: undefined };
  applyStreamFlags(cfg, rest, cmd);
  if (cfg.compression === ("none" as never)) delete cfg.compression;
  return cfg;
}

/**
 * A configuration taken from a server, ready to send back: the server's own `_nats.*`
 * metadata is dropped (natscli does the same), and an empty metadata map is left out so
 * clients that gate metadata on the server version do not refuse the request.
 */
export function editableConfig<T extends { metadata?: Record<string, string> }>(cfg: T): T {
  const out = structuredClone(cfg) as T & Record<string, unknown>;
  if (out.metadata) {
    for (const k of Object.keys(out.metadata)) if (k.startsWith("_nats.")) delete out.metadata[k];
    if (Object.keys(out.metadata).length === 0) delete out.metadata;
  }
  // Likewise settings at their default value, which nats.js gates on the server version.
  if (out.compression === "none") delete out.compression;
  if (!out.first_seq) delete out.first_seq;
  const limits = out.consumer_limits as Record<string, unknown> | undefined;
  if (limits && Object.values(limits).every((v) => !v)) delete out.consumer_limits;
  return out;
}
