// `tsnats consumer`: JetStream consumer management, natscli's commands, flags, questions
// and output.
import { Command, Option } from "commander";
import { createInbox } from "@nats-io/transport-node";
import type { ConsumerConfig, ConsumerInfo } from "@nats-io/jetstream";
import { App, collect, collectPairs, isSet, jsonFlag } from "./app.js";
import type { Session } from "./connection.js";
import { Columns, parseJsAck, printJson, printPayload, printTable } from "./output.js";
import { askConfirm, askInput, askSelect } from "./prompt.js";
import { CliError, println, sleep, type CliIO } from "./runtime.js";
import { api, configDiff, isInternalStream, pickStream } from "./stream_cmd.js";
import { editableConfig } from "./stream_config.js";
import { putConsumer } from "./js_api.js";
import { addConsumerFilterFlags, consumerFilter, type ConsumerFilterFlags } from "./asset_query.js";
import { balanceLeaders } from "./balancer.js";
import { EXPRESSION_HELP } from "./expression.js";
import { graphArea, plot, Rate, Series } from "./graph.js";
import { refreshLoop } from "./screen.js";
import { fmtDuration, fmtNanos, fmtNum, fmtTime, parseDurationMs, parseDurationNs, parseInteger, splitList } from "./units.js";
import fs from "node:fs";
import { editInEditor } from "./editor.js";
import { SchemaStore } from "./schema_cmd.js";
import { leaderCounts, leaderTable } from "./server_report_jetstream.js";

const CONSUMER_CONFIG_SCHEMA = "io.nats.jetstream.api.v1.consumer_configuration";

type CCfg = Partial<ConsumerConfig> & Record<string, unknown>;

interface ConsumerFlags {
  ack?: string;
  bps?: string;
  backoff?: string;
  backoffSteps: string;
  backoffMin: string;
  backoffMax: string;
  deliver?: string;
  deliverGroup?: string;
  description?: string;
  ephemeral?: boolean;
  filter?: string[];
  flowControl?: boolean;
  heartbeat?: string;
  headersOnly?: boolean;
  maxDeliver?: string;
  maxPending?: string;
  maxWaiting?: string;
  maxPullBatch?: string;
  maxPullExpire?: string;
  maxPullBytes?: string;
  pull?: boolean;
  replay?: string;
  sample?: string;
  target?: string;
  wait?: string;
  inactiveThreshold?: string;
  memory?: boolean;
  replicas?: string;
  metadata?: Record<string, string>;
  pause?: string;
  pinnedGroups?: string[];
  pinnedTtl?: string;
  overflowGroups?: string[];
  prioritizedGroups?: string[];
  config?: string;
  output?: string;
  defaults?: boolean;
  json?: boolean;
}

function addConsumerConfigFlags(cmd: Command, edit = false): void {
  if (!edit) {
    cmd.addOption(new Option("--ack <policy>", "Acknowledgment policy (none, all, explicit)").choices(["none", "all", "explicit", "flow_control"]));
    cmd.option("--bps <n>", "Restrict message delivery to a certain bit per second");
  }
  cmd
    .addOption(new Option("--backoff <mode>", "Creates a consumer backoff policy using a specific pre-written algorithm (none, linear)").choices(["linear", "none"]))
    .option("--backoff-steps <n>", "Number of steps to use when creating the backoff policy", "10")
    .option("--backoff-min <duration>", "The shortest backoff period that will be generated", "1m")
    .option("--backoff-max <duration>", "The longest backoff period that will be generated", "20m");
  if (!edit) {
    cmd.option("--deliver <policy>", "Start policy (all, new, last, subject, 1h, msg sequence)");
    cmd.option("--deliver-group <group>", "Delivers push messages only to subscriptions matching this group");
  }
  cmd.option("--description <text>", "Sets a contextual description for the consumer");
  if (!edit) cmd.option("--ephemeral", "Create an ephemeral consumer");
  cmd.option("--filter <subjects>", "Filter Stream by subjects (repeatable)", collect);
  if (!edit) {
    cmd.option("--flow-control", "Enable Push consumer flow control");
    cmd.option("--heartbeat <duration>", "Enable idle Push consumer heartbeats (-1 disable)");
  }
  cmd
    .option("--headers-only", "Deliver only headers and no bodies")
    .addOption(new Option("--no-headers-only", "Deliver headers and bodies").hideHelp())
    .option("--max-deliver <tries>", "Maximum amount of times a message will be delivered")
    .option("--max-pending <n>", "Maximum pending Acks before consumers are paused")
    .addOption(new Option("--max-outstanding <n>", "alias for --max-pending").hideHelp());
  if (!edit) cmd.option("--max-waiting <pulls>", "Maximum number of outstanding pulls allowed");
  cmd
    .option("--max-pull-batch <n>", "Maximum size batch size for a pull request to accept")
    .option("--max-pull-expire <duration>", "Maximum expire duration for a pull request to accept")
    .option("--max-pull-bytes <bytes>", "Maximum max bytes for a pull request to accept");
  if (!edit) {
    cmd.option("--pull", "Deliver messages in 'pull' mode");
    cmd.addOption(new Option("--replay <policy>", "Replay Policy (instant, original)").choices(["instant", "original"]));
  }
  cmd
    .option("--sample <percent>", "Percentage of requests to sample for monitoring purposes")
    .option("--target <subject>", "Push based delivery target subject")
    .option("--wait <duration>", "Acknowledgment waiting time")
    .option("--inactive-threshold <duration>", "How long to allow an ephemeral consumer to be idle before removing it");
  if (!edit) cmd.option("--memory", "Force the consumer state to be stored in memory rather than inherit from the stream");
  cmd
    .option("--replicas <n>", "Sets a custom replica count rather than inherit from the stream")
    .option("--metadata <K=V>", "Adds metadata to the consumer (repeatable)", collectPairs);
  if (!edit) {
    cmd
      .option("--pause <until>", "Pause the consumer for a duration after start or until a specific time (2006-01-02 15:04:05)")
      .option("--pinned-groups <groups>", "Create a Pinned Client consumer based on these groups (repeatable)", collect)
      .option("--pinned-ttl <duration>", "The time to allow for a client to pull before losing the pinned status")
      .option("--overflow-groups <groups>", "Create a Overflow consumer based on these groups (repeatable)", collect)
      .option("--prioritized-groups <groups>", "Create a Prioritized consumer based on these groups (repeatable)", collect);
  }
  cmd.option("-j, --json", "Produce JSON output");
}

/** "1h" (from now), "2006-01-02 15:04:05" (local), or RFC3339 → ISO time. */
export function parseUntil(s: string): string {
  const t = s.trim();
  if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/.test(t)) {
    const d = new Date(t.includes("T") ? t : t.replace(" ", "T"));
    if (Number.isNaN(d.getTime())) throw new CliError(`invalid time "${s}"`);
    return d.toISOString();
  }
  return new Date(Date.now() + parseDurationMs(t, "pause time")).toISOString();
}

/** natscli's start policies: all, new, last, subject (last per subject), a sequence, or a duration ago. */
function applyStartPolicy(cfg: CCfg, policy: string): void {
  const p = policy.trim().toLowerCase();
  delete cfg.opt_start_seq;
  delete cfg.opt_start_time;
  if (p === "all" || p === "") cfg.deliver_policy = "all" as never;
  else if (p === "new" || p === "next") cfg.deliver_policy = "new" as never;
  else if (p === "last") cfg.deliver_policy = "last" as never;
  else if (p === "subject" || p === "last_per_subject") cfg.deliver_policy = "last_per_subject" as never;
  else if (/^\d+$/.test(p)) {
    cfg.deliver_policy = "by_start_sequence" as never;
    cfg.opt_start_seq = Number(p);
  } else {
    cfg.deliver_policy = "by_start_time" as never;
    cfg.opt_start_time = new Date(Date.now() - parseDurationMs(policy, "start policy")).toISOString();
  }
}

function linearBackoff(steps: number, minMs: number, maxMs: number): number[] {
  if (steps < 1) throw new CliError("--backoff-steps must be at least 1");
  if (steps === 1) return [minMs * 1e6];
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(Math.round((minMs + ((maxMs - minMs) * i) / (steps - 1)) * 1e6));
  return out;
}

/** Flags the user typed, applied to `cfg` (add after its questions, and edit). */
function applyConsumerFlags(cfg: CCfg, o: ConsumerFlags, cmd: Command): void {
  if (o.description !== undefined) cfg.description = o.description;
  if (o.filter) {
    const f = splitList(o.filter);
    delete cfg.filter_subject;
    delete cfg.filter_subjects;
    if (f.length === 1) cfg.filter_subject = f[0];
    else if (f.length > 1) cfg.filter_subjects = f;
  }
  if (isSet(cmd, "headers-only")) cfg.headers_only = o.headersOnly === true;
  if (o.maxDeliver !== undefined) cfg.max_deliver = parseInteger(o.maxDeliver, "--max-deliver");
  const mp = o.maxPending ?? (cmd.opts() as { maxOutstanding?: string }).maxOutstanding;
  if (mp !== undefined) cfg.max_ack_pending = parseInteger(mp, "--max-pending");
  if (o.maxWaiting !== undefined) cfg.max_waiting = parseInteger(o.maxWaiting, "--max-waiting", 0);
  if (o.maxPullBatch !== undefined) cfg.max_batch = parseInteger(o.maxPullBatch, "--max-pull-batch", 0);
  if (o.maxPullExpire !== undefined) cfg.max_expires = parseDurationNs(o.maxPullExpire, "--max-pull-expire");
  if (o.maxPullBytes !== undefined) cfg.max_bytes = parseInteger(o.maxPullBytes, "--max-pull-bytes", 0);
  if (o.sample !== undefined) {
    const pct = parseInteger(o.sample, "--sample", 0);
    if (pct > 100) throw new CliError("sample percent is not between 0 and 100");
    if (pct > 0) cfg.sample_freq = String(pct);
  }
  if (o.target !== undefined) cfg.deliver_subject = o.target;
  if (o.wait !== undefined) cfg.ack_wait = parseDurationNs(o.wait, "--wait");
  if (o.inactiveThreshold !== undefined) cfg.inactive_threshold = parseDurationNs(o.inactiveThreshold, "--inactive-threshold");
  if (o.replicas !== undefined) cfg.num_replicas = parseInteger(o.replicas, "--replicas", 0);
  if (o.metadata) cfg.metadata = { ...(cfg.metadata ?? {}), ...o.metadata };
  if (o.backoff === "linear") {
    cfg.backoff = linearBackoff(parseInteger(o.backoffSteps, "--backoff-steps", 1), parseDurationMs(o.backoffMin, "--backoff-min"), parseDurationMs(o.backoffMax, "--backoff-max"));
    if (cfg.max_deliver === undefined || cfg.max_deliver === -1) cfg.max_deliver = (cfg.backoff as number[]).length + 1;
  } else if (o.backoff === "none") delete cfg.backoff;
}

async function buildNewConsumerConfig(io: CliIO, name: string | undefined, o: ConsumerFlags, cmd: Command): Promise<CCfg> {
  const defaults = o.defaults === true;
  const instead = "give it as a flag, or pass --defaults to accept the defaults";
  if (o.config) {
    let doc: CCfg;
    try {
      const d = JSON.parse(fs.readFileSync(o.config, "utf8")) as Record<string, unknown>;
      doc = (typeof d.config === "object" && d.config !== null ? d.config : d) as CCfg;
    } catch (err) {
      throw new CliError(`cannot read configuration ${o.config}: ${(err as Error).message}`);
    }
    if (name) doc.durable_name = name;
    applyConsumerFlags(doc, o, cmd);
    return doc;
  }
  const cfg: CCfg = {};
  if (!name && !o.ephemeral) name = await askInput(io, "Consumer name", { required: true, instead: "give the consumer name: tsnats consumer add STREAM NAME" });
  if (name && /[.*>]/.test(name)) throw new CliError("durable name can not contain '.', '*', '>'");
  if (o.ephemeral) {
    if (name) cfg.name = name;
  } else cfg.durable_name = name;
  let target = o.target;
  if (!o.pull && target === undefined) target = defaults ? "" : await askInput(io, "Delivery target (empty for Pull Consumers)", { default: "", instead: "pass --pull or --target SUBJECT" });
  const push = target !== undefined && target !== "";
  if (push) cfg.deliver_subject = target;
  if (push) {
    const group = o.deliverGroup ?? (defaults ? "" : await askInput(io, "Delivery Queue Group", { default: "", instead }));
    if (group) cfg.deliver_group = group;
  }
  applyStartPolicy(cfg, o.deliver ?? (defaults ? "all" : await askInput(io, "Start policy (all, new, last, subject, 1h, msg sequence)", { default: "all", instead })));
  const ack = o.ack ?? (defaults ? (push ? "none" : "explicit") : await askSelect(io, "Acknowledgment policy", ["explicit", "all", "none"], push ? "none" : "explicit", instead));
  cfg.ack_policy = (ack === "flow_control" ? "flow_control" : ack) as never;
  cfg.replay_policy = (o.replay ?? (defaults ? "instant" : await askSelect(io, "Replay policy", ["instant", "original"], "instant", instead))) as never;
  let filters = o.filter ? splitList(o.filter) : [];
  if (!o.filter && !defaults) filters = splitList([await askInput(io, "Filter Stream by subjects (blank for all)", { default: "", instead })]);
  if (filters.length === 1) cfg.filter_subject = filters[0];
  else if (filters.length > 1) cfg.filter_subjects = filters;
  if (filters.length === 0 && cfg.deliver_policy === ("last_per_subject" as never)) cfg.filter_subject = ">";
  if (ack !== "none") {
    const md = o.maxDeliver ?? (defaults ? "-1" : await askInput(io, "Maximum Allowed Deliveries", { default: "-1", instead }));
    cfg.max_deliver = parseInteger(md, "maximum deliveries");
    const mp = o.maxPending ?? (cmd.opts() as { maxOutstanding?: string }).maxOutstanding ?? (defaults ? "0" : await askInput(io, "Maximum Acknowledgments Pending", { default: "0", instead }));
    const n = parseInteger(mp, "maximum acknowledgments pending");
    if (n > 0) cfg.max_ack_pending = n;
  } else cfg.max_deliver = -1;
  if (push) {
    const hb = o.heartbeat ?? (defaults ? "-1" : await askInput(io, "Idle Heartbeat", { default: "0s", instead }));
    if (hb !== "-1" && hb !== "0s" && hb !== "0") cfg.idle_heartbeat = parseDurationNs(hb, "idle heartbeat");
    cfg.flow_control = o.flowControl ?? (defaults ? false : await askConfirm(io, "Enable Flow Control, ie --flow-control", false, instead));
  } else if (o.heartbeat !== undefined && o.heartbeat !== "-1") {
    throw new CliError("pull subscribers does not support idle heartbeats");
  }
  if (!isSet(cmd, "headers-only") && !defaults) cfg.headers_only = await askConfirm(io, "Deliver headers only without bodies", false, instead);
  if (ack !== "none" && !defaults && !o.backoff) {
    if (await askConfirm(io, "Add a Retry Backoff Policy", false, instead)) {
      const steps = parseInteger(await askInput(io, "Backoff steps", { default: o.backoffSteps }), "backoff steps", 1);
      const min = parseDurationMs(await askInput(io, "Minimum retry time", { default: o.backoffMin }), "minimum retry time");
      const max = parseDurationMs(await askInput(io, "Maximum retry time", { default: o.backoffMax }), "maximum retry time");
      cfg.backoff = linearBackoff(steps, min, max);
      if (cfg.max_deliver === -1) cfg.max_deliver = steps + 1;
    }
  }
  if (o.bps !== undefined) {
    if (!push) throw new CliError("rate limits are only possible on Push consumers");
    cfg.rate_limit_bps = parseInteger(o.bps, "--bps", 0);
  }
  if (o.memory) cfg.mem_storage = true;
  if (o.pause) cfg.pause_until = parseUntil(o.pause);
  const groups = o.pinnedGroups ?? o.overflowGroups ?? o.prioritizedGroups;
  if (o.pinnedGroups && o.overflowGroups) throw new CliError("setting both overflow and pinned groups are not supported");
  if (groups) {
    cfg.priority_policy = (o.pinnedGroups ? "pinned_client" : o.overflowGroups ? "overflow" : "prioritized") as never;
    cfg.priority_groups = splitList(groups);
    if (o.pinnedGroups && o.pinnedTtl) cfg.priority_timeout = parseDurationNs(o.pinnedTtl, "--pinned-ttl");
  }
  const rest: ConsumerFlags = { ...o, filter: undefined, maxDeliver: undefined, maxPending: undefined, target: undefined };
  applyConsumerFlags(cfg, rest, cmd);
  return cfg;
}

function deliverPolicyText(c: ConsumerConfig): string {
  switch (c.deliver_policy as string) {
    case "last":
      return "Last";
    case "new":
      return "New";
    case "last_per_subject":
      return "Last Per Subject";
    case "by_start_time":
      return `Since ${fmtTime(c.opt_start_time)}`;
    case "by_start_sequence":
      return `From Sequence ${c.opt_start_seq}`;
    default:
      return "All";
  }
}

const title = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** natscli's consumer info block. */
export function renderConsumerInfo(info: ConsumerInfo, stateOnly = false): string {
  const c = info.config as ConsumerConfig & Record<string, unknown>;
  const cols = new Columns(`${stateOnly ? "State" : "Information"} for Consumer ${info.stream_name} > ${info.name} created ${fmtTime(info.created)}`);
  if (!stateOnly) {
    cols.title("Configuration");
    cols.fieldIf(c.name, "Name", c.name);
    cols.fieldIf(c.durable_name && c.durable_name !== c.name, "Durable Name", c.durable_name);
    cols.fieldIf(c.description, "Description", c.description);
    if (c.deliver_subject) cols.field("Delivery Subject", c.deliver_subject);
    else cols.field("Pull Mode", true);
    if (c.filter_subject) cols.field("Filter Subject", c.filter_subject);
    if (c.filter_subjects?.length) cols.field("Filter Subjects", c.filter_subjects.join(", "));
    cols.field("Deliver Policy", deliverPolicyText(c));
    cols.fieldIf(c.deliver_group && c.deliver_subject, "Deliver Queue Group", c.deliver_group);
    cols.field("Ack Policy", title(String(c.ack_policy)));
    cols.fieldIf(c.ack_policy !== "none", "Ack Wait", fmtNanos(c.ack_wait));
    cols.field("Replay Policy", title(String(c.replay_policy)));
    cols.fieldIf(c.max_deliver !== undefined && c.max_deliver !== -1, "Maximum Deliveries", fmtNum(c.max_deliver));
    cols.fieldIf(c.sample_freq, "Sampling Rate", c.sample_freq);
    cols.fieldIf(c.rate_limit_bps, "Rate Limit", `${fmtNum(Math.round((c.rate_limit_bps ?? 0) / 8))} B / second`);
    cols.fieldIf(c.max_ack_pending && c.max_ack_pending > 0, "Max Ack Pending", fmtNum(c.max_ack_pending));
    cols.fieldIf(c.max_waiting && c.max_waiting > 0, "Max Waiting Pulls", fmtNum(c.max_waiting));
    cols.fieldIf(c.idle_heartbeat, "Idle Heartbeat", fmtNanos(c.idle_heartbeat));
    cols.fieldIf(c.deliver_subject, "Flow Control", c.flow_control === true);
    cols.fieldIf(c.headers_only, "Headers Only", true);
    cols.fieldIf(c.inactive_threshold && !c.deliver_subject, "Inactive Threshold", fmtNanos(c.inactive_threshold));
    cols.fieldIf(c.max_expires, "Max Pull Expire", fmtNanos(c.max_expires));
    cols.fieldIf(c.max_batch, "Max Pull Batch", fmtNum(c.max_batch));
    cols.fieldIf(c.max_bytes, "Max Pull MaxBytes", fmtNum(c.max_bytes));
    cols.fieldIf(c.backoff?.length, "Backoff", (c.backoff ?? []).map((b) => fmtNanos(b)).join(", "));
    cols.fieldIf(c.num_replicas, "Replicas", c.num_replicas);
    cols.fieldIf(c.mem_storage, "Memory Storage", true);
    const pause = c.pause_until as string | undefined;
    if (pause && !pause.startsWith("0001")) {
      const left = new Date(pause).getTime() - Date.now();
      cols.field("Paused Until Deadline", left > 0 ? `${fmtTime(pause)} (${fmtDuration(left)} remaining)` : `${fmtTime(pause)} (passed)`);
    }
    if (c.priority_policy && c.priority_policy !== ("none" as never)) {
      cols.field("Priority Policy", String(c.priority_policy));
      cols.field("Priority Groups", (c.priority_groups ?? []).join(", "));
    }
    const meta = Object.entries(c.metadata ?? {}).filter(([k]) => !k.startsWith("_nats"));
    if (meta.length > 0) {
      cols.title("Metadata");
      for (const [k, v] of meta) cols.field(k, v);
    }
  }
  if (info.cluster?.name) {
    cols.title("Cluster Information");
    cols.field("Name", info.cluster.name);
    cols.field("Leader", info.cluster.leader ?? "");
  }
  cols.title("State");
  const d = info.delivered;
  cols.field("Last Delivered Message", `Consumer sequence: ${fmtNum(d.consumer_seq)} Stream sequence: ${fmtNum(d.stream_seq)}${d.last_active ? ` Last delivery: ${fmtDuration(Date.now() - new Date(d.last_active).getTime())} ago` : ""}`);
  if (c.ack_policy !== "none") {
    const a = info.ack_floor;
    cols.field("Acknowledgment Floor", `Consumer sequence: ${fmtNum(a.consumer_seq)} Stream sequence: ${fmtNum(a.stream_seq)}${a.last_active ? ` Last Ack: ${fmtDuration(Date.now() - new Date(a.last_active).getTime())} ago` : ""}`);
    cols.field("Outstanding Acks", c.max_ack_pending && c.max_ack_pending > 0 ? `${fmtNum(info.num_ack_pending)} out of maximum ${fmtNum(c.max_ack_pending)}` : fmtNum(info.num_ack_pending));
    cols.field("Redelivered Messages", fmtNum(info.num_redelivered));
  }
  cols.field("Unprocessed Messages", fmtNum(info.num_pending));
  if (c.deliver_subject) cols.field("Active Interest", info.push_bound ? (c.deliver_group ? `Active using Queue Group ${c.deliver_group}` : "Active") : "No interest");
  else cols.field("Waiting Pulls", c.max_waiting ? `${fmtNum(info.num_waiting)} of maximum ${fmtNum(c.max_waiting)}` : `${fmtNum(info.num_waiting)} of unlimited`);
  const ext = info as ConsumerInfo & { paused?: boolean; pause_remaining?: number };
  if (ext.paused) cols.field("Paused Until", `${fmtTime(new Date(Date.now() + (ext.pause_remaining ?? 0) / 1e6))} (${fmtNanos(ext.pause_remaining)} remaining)`);
  return cols.render();
}

async function pickConsumer(s: Session, io: CliIO, stream: string, name: string | undefined): Promise<string> {
  if (name) return name;
  const jsm = await s.jsm();
  const names: string[] = [];
  for await (const ci of jsm.consumers.list(stream)) names.push(ci.name);
  if (names.length === 0) throw new CliError(`stream ${stream} has no consumers`, `create one with \`tsnats consumer add ${stream}\``);
  return askSelect(io, "Select a Consumer", names.sort(), undefined, "give the consumer name as an argument");
}

/** `consumer next`: pull `count` messages with a raw pull request and ack/nak/term each. */
async function nextAction(s: Session, io: CliIO, o: { ack?: boolean; nak?: boolean; term?: boolean; raw?: boolean; wait?: string; count: string }, stream: string, consumer: string, ackSet: boolean): Promise<void> {
  const count = parseInteger(o.count, "--count", 1);
  if (o.term && ackSet && o.ack) throw new CliError("can not both Acknowledge and Terminate message");
  if (o.nak && ackSet && o.ack === false) throw new CliError("can not both not Acknowledge and NaK message");
  const ackDelay = o.wait ? parseDurationMs(o.wait, "--wait") : 0;
  const nc = await s.nc();
  const inbox = createInbox(s.effective.ctx.inbox_prefix || undefined);
  const sub = nc.subscribe(inbox);
  const expires = Math.max(1, s.timeoutMs - 100);
  nc.publish(`${s.jsApiPrefix()}.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: count, expires: expires * 1e6 }), { reply: inbox });
  let got = 0;
  const timer = setTimeout(() => sub.unsubscribe(), s.timeoutMs + 500);
  try {
    for await (const m of sub) {
      const code = m.headers?.code ?? 0;
      if (m.data.length === 0 && code >= 400) {
        if (code === 404 || code === 408) break;
        if (code === 409) throw new CliError(`pull failed: ${m.headers?.description ?? code}`);
        throw new CliError(`pull failed: ${code} ${m.headers?.description ?? ""}`.trim());
      }
      if (m.data.length === 0 && code === 100) continue;
      got++;
      const info = parseJsAck(m.reply);
      if (o.raw) printPayload(io, m.data);
      else {
        const now = new Date();
        const hh = [now.getHours(), now.getMinutes(), now.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
        println(io, `[${hh}] subj: ${m.subject} / tries: ${info?.delivered ?? 0} / cons seq: ${info?.consumerSeq ?? 0} / str seq: ${info?.streamSeq ?? 0} / pending: ${fmtNum(info?.pending ?? 0)}`);
        const keys = m.headers?.keys() ?? [];
        if (keys.length > 0) {
          println(io, "\nHeaders:\n");
          for (const k of keys) for (const v of m.headers!.values(k)) println(io, `  ${k}: ${v}`);
          println(io, "\nData:\n");
        } else println(io);
        printPayload(io, m.data);
      }
      if (m.reply) {
        if (o.term) {
          m.respond("+TERM");
          if (!o.raw) println(io, "\nTerminated message\n");
        } else if (o.ack !== false || o.nak) {
          if (ackDelay > 0) await sleep(io, ackDelay);
          m.respond(o.nak ? "-NAK" : "+ACK");
          await nc.flush();
          if (!o.raw) println(io, `\n${o.nak ? "Negative " : ""}Acknowledged message${ackDelay > 0 ? ` after ${fmtDuration(ackDelay)} delay` : ""}\n`);
        }
      }
      if (got >= count) break;
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  await nc.flush();
  if (got === 0) throw new CliError(`no message received from ${stream} > ${consumer} within ${fmtDuration(s.timeoutMs)}`, "the consumer has no pending messages; publish some or raise --timeout");
}

export function registerConsumer(app: App): void {
  const io = app.io;
  const cons = app.program.command("consumer").aliases(["con", "obs", "c"]).description("JetStream consumer management");
  cons.option("-a, --all", "Operate on all streams including system ones");
  const showAll = (): boolean => cons.opts().all === true;

  const add = cons.command("add [stream] [consumer]").aliases(["create", "new"]).description("Creates a new consumer (asks for anything the flags leave open unless --defaults)");
  addConsumerConfigFlags(add);
  add
    .option("--config <file>", "JSON file to read configuration from")
    .option("--output <file>", "Save configuration instead of creating")
    .option("--validate", "Only validates the configuration against the official Schema (from the directory TSNATS_SCHEMAS names)")
    .option("--defaults", "Accept default values for all prompts")
    .action(
      app.action<ConsumerFlags & { validate?: boolean }>(async ({ session, opts, cmd }, streamArg?: string, name?: string) => {
        const stream = (opts.output || opts.validate) && streamArg ? streamArg : await pickStream(session, io, streamArg, showAll());
        const cfg = await buildNewConsumerConfig(io, name, opts, cmd);
        if (opts.validate) {
          println(io, JSON.stringify(cfg, null, 2) + "\n");
          const errs = SchemaStore.fromEnv(io).validate(CONSUMER_CONFIG_SCHEMA, cfg);
          if (errs.length > 0) throw new CliError(`Validation Failed: ${errs.join("\n\t")}`);
          println(io, `Configuration is a valid Consumer matching ${CONSUMER_CONFIG_SCHEMA}`);
          return;
        }
        if (opts.output) {
          fs.writeFileSync(opts.output, JSON.stringify(cfg, null, 2));
          println(io, `Consumer configuration saved to ${opts.output}`);
          return;
        }
        await session.jsm();
        const info = await putConsumer(session, stream, cfg, false);
        if (opts.json) return printJson(io, info);
        io.stdout.write(renderConsumerInfo(info));
      }),
    );

  const edit = cons.command("edit [stream] [consumer]").alias("update").description("Edits the configuration of a consumer");
  addConsumerConfigFlags(edit, true);
  edit
    .option("--config <file>", "JSON file to read configuration from")
    .option("-f, --force", "Force edit without prompting")
    .option("-i, --interactive", "Edit the configuration using your editor ($EDITOR, as YAML)")
    .option("--dry-run", "Only shows differences, do not edit the consumer")
    .action(
      app.action<ConsumerFlags & { force?: boolean; dryRun?: boolean; interactive?: boolean }>(async ({ session, opts, cmd }, streamArg?: string, name?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        const jsm = await session.jsm();
        const current = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
        let cfg: CCfg = editableConfig(opts.config ? (JSON.parse(fs.readFileSync(opts.config, "utf8")) as CCfg) : (current.config as CCfg));
        if (opts.interactive) cfg = editableConfig(editInEditor(io, cfg) as CCfg);
        else applyConsumerFlags(cfg, opts, cmd);
        const diff = configDiff(editableConfig(current.config) as unknown as Record<string, unknown>, cfg);
        if (diff.length === 0) throw new CliError("no difference in configuration", "give the settings to change as flags, e.g. --max-deliver 5");
        if (opts.dryRun) {
          println(io, `Differences (-old +new):\n${diff.join("\n")}`);
          return;
        }
        if (!opts.force) {
          println(io, `Differences (-old +new):\n${diff.join("\n")}\n`);
          if (!(await askConfirm(io, `Really edit Consumer ${stream} > ${consumer}`, false))) return;
        }
        const info = await putConsumer(session, stream, { ...cfg, durable_name: current.config.durable_name, name: current.config.name }, true);
        if (opts.json) return printJson(io, info);
        io.stdout.write(renderConsumerInfo(info));
      }),
    );

  jsonFlag(cons.command("ls [stream]").alias("list").description("List known consumers"))
    .option("-n, --names", "Show just the consumer names")
    .option("--no-select", "Do not select streams from a list")
    .action(
      app.action<{ json?: boolean; names?: boolean; select?: boolean }>(async ({ session, opts }, streamArg?: string) => {
        if (!streamArg && opts.select === false) throw new CliError("stream name is required", "tsnats consumer ls STREAM");
        const stream = await pickStream(session, io, streamArg, showAll());
        const jsm = await session.jsm();
        const infos: ConsumerInfo[] = [];
        await api(async () => {
          for await (const ci of jsm.consumers.list(stream)) infos.push(ci);
        }, { stream });
        infos.sort((a, b) => a.name.localeCompare(b.name));
        if (opts.json) return printJson(io, infos.map((i) => i.name));
        if (opts.names) {
          for (const i of infos) println(io, i.name);
          return;
        }
        if (infos.length === 0) {
          println(io, "No Consumers defined");
          return;
        }
        printTable(
          io,
          ["Name", "Description", "Created", "Ack Pending", "Unprocessed", "Last Delivery"],
          infos.map((i) => [i.name, i.config.description ?? "", fmtTime(i.created), fmtNum(i.num_ack_pending), fmtNum(i.num_pending), i.delivered.last_active ? fmtDuration(Date.now() - new Date(i.delivered.last_active).getTime()) : "never"]),
          `Consumers for Stream ${stream}`,
        );
      }),
    );

  /** Every consumer of a stream, as the server reports them. */
  const listConsumers = async (session: Session, stream: string): Promise<ConsumerInfo[]> => {
    const jsm = await session.jsm();
    const infos: ConsumerInfo[] = [];
    await api(async () => {
      for await (const ci of jsm.consumers.list(stream)) infos.push(ci);
    }, { stream });
    return infos;
  };

  addConsumerFilterFlags(jsonFlag(cons.command("find [stream]").alias("query").description("Finds consumers matching certain criteria").addHelpText("after", "\n" + EXPRESSION_HELP.replaceAll("tsnats s find", "tsnats c find STREAM"))), "Display", true).action(
    app.action<ConsumerFilterFlags & { json?: boolean }>(async ({ session, opts }, streamArg?: string) => {
      const match = consumerFilter(opts);
      const stream = await pickStream(session, io, streamArg, showAll());
      const names = (await listConsumers(session, stream)).filter(match).map((c) => c.name).sort();
      if (opts.json) return printJson(io, names);
      for (const n of names) println(io, n);
    }),
  );

  cons
    .command("graph [stream] [consumer]")
    .description("View a graph of consumer activity (on a terminal, until Ctrl-C)")
    .action(
      app.action(async ({ session }, streamArg?: string, name?: string) => {
        let area = graphArea(io);
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        const jsm = await session.jsm();
        const first = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
        const [pending, waiting, acked, delivered] = [0, 0, 0, 0].map(() => new Series(area.width));
        const ackRate = new Rate();
        const deliverRate = new Rate();
        ackRate.next(first.ack_floor.consumer_seq);
        deliverRate.next(first.delivered.consumer_seq);
        await refreshLoop(io, 1000, async () => {
          area = graphArea(io);
          for (const s of [pending, waiting, acked, delivered]) s.resize(area.width);
          const ci = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
          pending.push(ci.num_pending);
          waiting.push(ci.num_ack_pending);
          acked.push(ackRate.next(ci.ack_floor.consumer_seq));
          delivered.push(deliverRate.next(ci.delivered.consumer_seq));
          const h = Math.floor(area.height / 4) - 2;
          return [
            `Consumer Statistics for ${stream} > ${consumer}`,
            "",
            plot(pending, "Messages Pending", h),
            "",
            plot(waiting, "Messages Waiting for Ack", h),
            "",
            plot(acked, "Messages Acknowledged / second", h, 1),
            "",
            plot(delivered, "Messages Delivered / second", h, 1),
            "",
          ].join("\n");
        });
      }),
    );

  for (const [cmdName, aliases, stateOnly] of [
    ["info", ["nfo"], false],
    ["state", [], true],
  ] as const) {
    jsonFlag(cons.command(`${cmdName} [stream] [consumer]`).aliases([...aliases]).description(stateOnly ? "Consumer state" : "Consumer information"))
      .option("--no-select", "Do not select consumers from a list")
      .action(
        app.action<{ json?: boolean; select?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string) => {
          if ((!streamArg || !name) && opts.select === false) throw new CliError("stream and consumer names are required", `tsnats consumer ${cmdName} STREAM CONSUMER`);
          const stream = await pickStream(session, io, streamArg, showAll());
          const consumer = await pickConsumer(session, io, stream, name);
          const jsm = await session.jsm();
          const info = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
          if (opts.json) return printJson(io, info);
          io.stdout.write(renderConsumerInfo(info, stateOnly));
        }),
      );
  }

  cons
    .command("rm [stream] [consumer]")
    .aliases(["delete", "del"])
    .description("Removes a consumer")
    .option("-f, --force", "Force removal without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        if (!opts.force && !(await askConfirm(io, `Really delete Consumer ${stream} > ${consumer}`, false))) return;
        const jsm = await session.jsm();
        await api(() => jsm.consumers.delete(stream, consumer), { stream, consumer });
      }),
    );

  cons
    .command("copy <stream> <source> <destination>")
    .alias("cp")
    .description("Creates a new consumer based on the configuration of another")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ session, opts }, stream: string, source: string, destination: string) => {
        const jsm = await session.jsm();
        const from = await api(() => jsm.consumers.info(stream, source), { stream, consumer: source });
        const cfg = editableConfig(from.config) as CCfg;
        delete cfg.name;
        cfg.durable_name = destination;
        if (cfg.deliver_subject) throw new CliError("cannot copy a push consumer: two consumers cannot share a delivery subject", "create it with `tsnats consumer add` and a new --target");
        const info = await putConsumer(session, stream, cfg, false);
        if (opts.json) return printJson(io, info);
        io.stdout.write(renderConsumerInfo(info));
      }),
    );

  cons
    .command("next <stream> <consumer>")
    .description("Retrieves messages from Pull consumers without interactive prompts")
    .option("--ack", "Acknowledge received message (default true)")
    .option("--no-ack", "Do not acknowledge received message")
    .option("--nak", "Perform a Negative Acknowledgement on the message")
    .option("--term", "Terms the message")
    .option("-r, --raw", "Show only the message")
    .option("--wait <duration>", "Wait up to this period to acknowledge messages")
    .option("--count <n>", "Number of messages to try to fetch from the pull consumer", "1")
    .action(
      app.action<{ ack?: boolean; nak?: boolean; term?: boolean; raw?: boolean; wait?: string; count: string }>(({ session, opts, cmd }, stream: string, consumer: string) =>
        nextAction(session, io, opts, stream, consumer, isSet(cmd, "ack")),
      ),
    );

  cons
    .command("sub [stream] [consumer]")
    .description("Retrieves messages from consumers until interrupted")
    .option("--no-ack", "Do not acknowledge received messages")
    .option("-r, --raw", "Show only the message")
    .option("--count <n>", "Stop after this many messages")
    .action(
      app.action<{ ack: boolean; raw?: boolean; count?: string }>(async ({ session, opts }, streamArg?: string, name?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        const limit = opts.count ? parseInteger(opts.count, "--count", 1) : 0;
        const js = await session.js();
        const c = await api(() => js.consumers.get(stream, consumer), { stream, consumer });
        const msgs = await c.consume();
        io.signal.addEventListener("abort", () => void msgs.stop(), { once: true });
        let n = 0;
        for await (const m of msgs) {
          n++;
          if (opts.raw) printPayload(io, m.data);
          else {
            println(io, `[#${n}] Received JetStream message: stream: ${m.info.stream} seq ${m.seq} / subject: ${m.subject} / time: ${fmtTime(new Date(Number(m.info.timestampNanos) / 1e6))}`);
            printPayload(io, m.data);
            println(io);
          }
          if (opts.ack) m.ack();
          if (limit > 0 && n >= limit) break;
        }
        await msgs.close().catch(() => undefined);
      }),
    );

  cons
    .command("pause [stream] [consumer] [until]")
    .description("Pause a consumer until a later time (a duration like 1h, or 2006-01-02 15:04:05)")
    .option("-f, --force", "Force pause without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string, until?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        if (!until) {
          until = await askInput(io, "Pause until (time or duration)", { default: "1h", instead: `give the time: tsnats consumer pause ${stream} ${consumer} 1h` });
        }
        const ts = parseUntil(until);
        if (!opts.force && !(await askConfirm(io, `Really pause Consumer ${stream} > ${consumer} until ${fmtTime(ts)}`, false))) return;
        const jsm = await session.jsm();
        const res = await api(() => jsm.consumers.pause(stream, consumer, new Date(ts)), { stream, consumer }).catch((err: Error) => {
          throw /timed out/.test(err.message) ? new CliError(`the server did not answer the pause request for ${stream} > ${consumer}`, "consumer pause needs a server that supports it (nats-server 2.11+)") : err;
        });
        if (!res.paused) throw new CliError(`consumer ${stream} > ${consumer} was not paused`, "pausing needs a server with consumer pause support (nats-server 2.11+)");
        println(io, `Paused ${stream} > ${consumer} until ${fmtTime(res.pause_until)} (${fmtDuration(new Date(res.pause_until ?? ts).getTime() - Date.now())})`);
      }),
    );

  cons
    .command("resume [stream] [consumer]")
    .description("Resume a paused consumer")
    .option("-f, --force", "Force resume without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        const jsm = await session.jsm();
        const info = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
        if (!(info as ConsumerInfo & { paused?: boolean }).paused) throw new CliError(`consumer ${stream} > ${consumer} is not paused`);
        if (!opts.force && !(await askConfirm(io, `Really resume Consumer ${stream} > ${consumer}`, false))) return;
        const res = await api(() => jsm.consumers.resume(stream, consumer), { stream, consumer });
        if (res.paused) throw new CliError(`consumer ${stream} > ${consumer} is still paused`);
        println(io, `Consumer ${stream} > ${consumer} was resumed`);
      }),
    );

  jsonFlag(cons.command("report [stream]").description("Reports on consumer statistics"))
    .option("-r, --raw", "Show un-formatted numbers")
    .option("-l, --leaders", "Show details about cluster leaders")
    .action(
      app.action<{ json?: boolean; raw?: boolean; leaders?: boolean }>(async ({ session, opts }, streamArg?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const jsm = await session.jsm();
        const infos: ConsumerInfo[] = [];
        await api(async () => {
          for await (const ci of jsm.consumers.list(stream)) infos.push(ci);
        }, { stream });
        if (opts.json) return printJson(io, infos);
        const num = (v: number): string | number => (opts.raw ? v : fmtNum(v));
        infos.sort((a, b) => a.name.localeCompare(b.name));
        printTable(
          io,
          ["Consumer", "Mode", "Ack Policy", "Ack Wait", "Ack Pending", "Redelivered", "Unprocessed", "Ack Floor", "Cluster"],
          infos.map((i) => [
            i.name,
            i.config.deliver_subject ? "Push" : "Pull",
            title(String(i.config.ack_policy)),
            opts.raw ? (i.config.ack_wait ?? 0) : fmtNanos(i.config.ack_wait),
            num(i.num_ack_pending),
            num(i.num_redelivered),
            opts.raw ? i.num_pending : `${fmtNum(i.num_pending)}${i.delivered.stream_seq ? ` / ${Math.floor((i.num_pending / Math.max(1, i.num_pending + i.delivered.stream_seq)) * 100)}%` : ""}`,
            num(i.ack_floor.stream_seq),
            i.cluster?.leader ? `${i.cluster.leader}*` : "",
          ]),
          `Consumer report for ${stream} with ${infos.length} consumers`,
        );
        if (opts.leaders) {
          const led = leaderCounts(infos.map((i) => i.cluster));
          println(io);
          if (led.length === 0) println(io, "No consumer leader data reported");
          else io.stdout.write(leaderTable(led, "Consumer Leaders") + "\n");
        }
      }),
    );

  /** A raw $JS.API request (nats.js gates these on the server's advertised version). */
  const rawApi = async (session: Session, subject: string, body: unknown): Promise<Record<string, any>> => {
    const nc = await session.nc();
    const m = await nc.request(`${session.jsApiPrefix()}.${subject}`, JSON.stringify(body), { timeout: session.timeoutMs }).catch((err: Error) => {
      throw new CliError(`${subject} failed: ${err.message}`, /timeout|no responders/i.test(err.message) ? "the server may not support this API" : undefined);
    });
    const doc = m.json<Record<string, any>>();
    if (doc.error) throw new CliError(`${subject.split(".").slice(0, 2).join(" ").toLowerCase()} failed: ${doc.error.description ?? JSON.stringify(doc.error)}`);
    return doc;
  };

  cons
    .command("reset [stream] [consumer]")
    .description("Resets the consumer to a previous state (its ack floor + 1, or --sequence)")
    .option("--sequence <seq>", "Sequence to reset to")
    .option("-f, --force", "Force reset without prompting")
    .action(
      app.action<{ sequence?: string; force?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        const seq = opts.sequence !== undefined ? parseInteger(opts.sequence, "--sequence", 0) : undefined;
        if (!opts.force && !(await askConfirm(io, `Really reset Consumer ${stream} > ${consumer}${seq !== undefined ? ` to sequence ${seq}` : ""}`, false))) return;
        const res = await rawApi(session, `CONSUMER.RESET.${stream}.${consumer}`, seq !== undefined ? { seq } : {});
        println(io, `Consumer ${stream} > ${consumer} was reset; the next message has stream sequence >= ${res.reset_seq ?? "?"}`);
      }),
    );

  cons
    .command("unpin [stream] [consumer] [group]")
    .description("Unpin the current Pinned Client from a Priority Group")
    .option("-f, --force", "Force unpin without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string, group?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        if (!group) {
          const jsm = await session.jsm();
          const ci = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
          const groups = (ci.config as { priority_groups?: string[] }).priority_groups ?? [];
          if (groups.length === 0) throw new CliError(`consumer ${stream} > ${consumer} has no priority groups`);
          group = groups.length === 1 ? groups[0] : await askSelect(io, "Select a Group", groups, undefined, "give the group name as an argument");
        }
        if (!opts.force && !(await askConfirm(io, `Really unpin the client of group ${group} on ${stream} > ${consumer}`, false))) return;
        await rawApi(session, `CONSUMER.UNPIN.${stream}.${consumer}`, { group });
        println(io, `Unpinned the client of group ${group} on ${stream} > ${consumer}`);
      }),
    );

  const cluster = cons.command("cluster").alias("c").description("Manages a clustered consumer");
  cluster
    .command("step-down [stream] [consumer]")
    .aliases(["elect", "down", "d"])
    .description("Force a new leader election by standing down the current leader")
    .option("--preferred <server>", "Prefer placing the leader on a specific host")
    .option("-f, --force", "Force leader step down ignoring current leader")
    .action(
      app.action<{ preferred?: string; force?: boolean }>(async ({ session, opts }, streamArg?: string, name?: string) => {
        const stream = await pickStream(session, io, streamArg, showAll());
        const consumer = await pickConsumer(session, io, stream, name);
        if (!opts.force) {
          const jsm = await session.jsm();
          const info = await api(() => jsm.consumers.info(stream, consumer), { stream, consumer });
          if (!info.cluster?.leader) throw new CliError(`consumer ${stream} > ${consumer} has no current leader`, "pass --force to request an election anyway");
        }
        const nc = await session.nc();
        const body = opts.preferred ? JSON.stringify({ placement: { preferred: opts.preferred } }) : "";
        const res = await nc.request(`${session.jsApiPrefix()}.CONSUMER.LEADER.STEPDOWN.${stream}.${consumer}`, body, { timeout: session.timeoutMs });
        const doc = res.json<{ error?: { description?: string } }>();
        if (doc.error) throw new CliError(`step-down of consumer ${stream} > ${consumer} failed: ${doc.error.description}`, "only clustered consumers with replicas have a leader to step down");
        println(io, `Requested leader step-down for consumer ${stream} > ${consumer}`);
      }),
    );
  addConsumerFilterFlags(cluster.command("balance [stream]").description("Balance consumer leaders"), "Balance", false).action(
    app.action<ConsumerFilterFlags>(async ({ session, opts }, streamArg?: string) => {
      const match = consumerFilter(opts);
      const stream = await pickStream(session, io, streamArg, showAll());
      const found = (await listConsumers(session, stream)).filter(match);
      if (found.length === 0) return void println(io, "No matching consumers");
      const moved = await balanceLeaders(
        session,
        io,
        found.map((ci) => ({ kind: "consumer", name: ci.name, cluster: ci.cluster, stepDownSubject: `CONSUMER.LEADER.STEPDOWN.${stream}.${ci.name}` })),
      );
      println(io, `Balanced ${moved} consumers.`);
    }),
  );
  void isInternalStream;
}
