// The filters of `stream find`, `stream cluster balance` and `consumer find`, with natscli's
// flags and meanings: each flag given narrows the set, --invert turns each check around
// (older becomes newer, with becomes without), --expression matches any field.
import type { Command } from "commander";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { subjectIsSubsetOf } from "../protocol/subject.js";
import { AssetExpression } from "./expression.js";
import { CliError } from "./runtime.js";
import { parseDurationMs, parseInteger } from "./units.js";

/** The metadata key nats-server 2.11+ writes with the API level an asset needs (ADR-44). */
const REQUIRED_LEVEL = "_nats.req.level";

export interface StreamFilterFlags {
  serverName?: string;
  cluster?: string;
  empty?: boolean;
  idle?: string;
  created?: string;
  consumers?: string;
  subject?: string;
  replicas?: string;
  sourced?: boolean;
  mirrored?: boolean;
  leader?: string;
  invert?: boolean;
  expression?: string;
  apiLevel?: string;
}

/** natscli's stream filter flags; `verb` starts each description ("Display", "Balance"). */
export function addStreamFilterFlags(cmd: Command, verb: string, withApiLevel: boolean): Command {
  cmd
    .option("--server-name <regex>", `${verb} streams present on a regular expression matched server`)
    .option("--cluster <regex>", `${verb} streams present on a regular expression matched cluster`)
    .option("--empty", `${verb} streams with no messages`)
    .option("--idle <duration>", `${verb} streams with no new messages or consumer deliveries for a period`)
    .option("--created <duration>", `${verb} streams created longer ago than duration`)
    .option("--consumers <threshold>", `${verb} streams with fewer consumers than threshold`)
    .option("--subject <subject>", `Filters streams by those with interest matching a subject or wildcard`)
    .option("--replicas <n>", `${verb} streams with fewer or equal replicas than the value`)
    .option("--sourced", `${verb} streams that source data from other streams`)
    .option("--mirrored", `${verb} streams that mirror data from other streams`)
    .option("--leader <server>", `${verb} only clustered streams with a specific leader`)
    .option("--invert", "Invert the check - before becomes after, with becomes without")
    .option("--expression <expr>", `${verb} streams matching an expression language`);
  if (withApiLevel) cmd.option("--api-level <level>", "Match streams that support at least the given api level");
  return cmd;
}

function regex(text: string, flag: string): RegExp {
  try {
    return new RegExp(text);
  } catch (err) {
    throw new CliError(`${flag}: invalid regular expression: ${(err as Error).message}`);
  }
}

const ageMs = (t: string | undefined, now: number): number => (t ? now - Date.parse(t) : Number.POSITIVE_INFINITY);

/** The API level an asset's metadata says it requires (0 when it says nothing). */
function requiredLevel(meta: Record<string, string> | undefined, what: string): number {
  const v = meta?.[REQUIRED_LEVEL];
  if (v === undefined || v === "") return 0;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`invalid ${REQUIRED_LEVEL} metadata value "${v}" on ${what}`);
  return n;
}

/** A predicate over stream infos for the given flags (validated up front). */
export function streamFilter(f: StreamFilterFlags, now = Date.now()): (si: StreamInfo) => boolean {
  const inv = f.invert === true;
  const checks: ((si: StreamInfo) => boolean)[] = [];
  const flip = (b: boolean): boolean => (inv ? !b : b);
  if (f.expression) {
    // The expression is not inverted: it says exactly what it matches.
    const e = new AssetExpression(f.expression);
    checks.push((si) => e.matches({ config: si.config, state: si.state, info: si }));
  }
  if (f.created !== undefined) {
    const d = parseDurationMs(f.created, "--created");
    checks.push((si) => (inv ? ageMs(si.created, now) <= d : ageMs(si.created, now) >= d));
  }
  if (f.idle !== undefined) {
    const d = parseDurationMs(f.idle, "--idle");
    checks.push((si) => flip(ageMs(si.state.last_ts, now) > d));
  }
  if (f.empty) checks.push((si) => flip(si.state.messages === 0));
  if (f.consumers !== undefined) {
    const n = parseInteger(f.consumers, "--consumers");
    // natscli's default of -1 means "no consumer check".
    if (n >= 0) checks.push((si) => (inv ? si.state.consumer_count >= n : si.state.consumer_count <= n));
  }
  if (f.cluster) {
    const re = regex(f.cluster, "--cluster");
    checks.push((si) => flip(si.cluster?.name !== undefined && re.test(si.cluster.name)));
  }
  if (f.subject) {
    const subject = f.subject;
    checks.push((si) => {
      const subjects = si.config.subjects ?? [];
      return inv ? subjects.some((s) => !subjectIsSubsetOf(s, subject)) : subjects.some((s) => subjectIsSubsetOf(s, subject));
    });
  }
  if (f.serverName) {
    const re = regex(f.serverName, "--server-name");
    checks.push((si) => {
      const c = si.cluster;
      const on = c !== undefined && ((c.leader !== undefined && re.test(c.leader)) || (c.replicas ?? []).some((r) => re.test(r.name)));
      return flip(on);
    });
  }
  if (f.replicas !== undefined) {
    const n = parseInteger(f.replicas, "--replicas", 0);
    if (n > 0) checks.push((si) => (inv ? si.config.num_replicas >= n : si.config.num_replicas <= n));
  }
  if (f.sourced) checks.push((si) => flip((si.config.sources?.length ?? 0) > 0));
  if (f.mirrored) checks.push((si) => flip(si.config.mirror !== undefined && si.config.mirror !== null));
  if (f.leader) {
    const leader = f.leader;
    checks.push((si) => si.cluster !== undefined && flip(si.cluster.leader === leader));
  }
  if (f.apiLevel !== undefined) {
    const n = parseInteger(f.apiLevel, "--api-level", 0);
    if (n > 0) checks.push((si) => flip(requiredLevel(si.config.metadata, `stream ${si.config.name}`) >= n));
  }
  return (si) => checks.every((c) => c(si));
}

export interface ConsumerFilterFlags {
  pull?: boolean;
  push?: boolean;
  bound?: boolean;
  waiting?: string;
  ackPending?: string;
  pending?: string;
  idle?: string;
  created?: string;
  replicas?: string;
  leader?: string;
  pinned?: boolean;
  invert?: boolean;
  expression?: string;
  apiLevel?: string;
}

export function addConsumerFilterFlags(cmd: Command, verb: string, withApiLevel: boolean): Command {
  cmd
    .option("--pull", `${verb} only pull based consumers`)
    .option("--push", `${verb} only push based consumers`)
    .option("--bound", `${verb} push-bound or pull consumers with waiting pulls`)
    .option("--waiting <n>", `${verb} consumers with fewer waiting pulls`)
    .option("--ack-pending <n>", `${verb} consumers with fewer pending acks`)
    .option("--pending <n>", `${verb} consumers with fewer unprocessed messages`)
    .option("--idle <duration>", `${verb} consumers with no new deliveries for a period`)
    .option("--created <duration>", `${verb} consumers created longer ago than duration`)
    .option("--replicas <n>", `${verb} consumers with fewer or equal replicas than the value`)
    .option("--leader <server>", `${verb} only clustered consumers with a specific leader`)
    .option("--pinned", `${verb} Pinned Client priority group consumers that are fully pinned`)
    .option("--invert", "Invert the check - before becomes after, with becomes without")
    .option("--expression <expr>", `${verb} consumers matching an expression language`);
  if (withApiLevel) cmd.option("--api-level <level>", "Match consumers that support at least the given api level");
  return cmd;
}

/** A positive count for the "fewer than" flags (natscli refuses zero and below). */
function positive(text: string | undefined, flag: string): number {
  if (text === undefined) return 0;
  const n = parseInteger(text, flag);
  if (n <= 0) throw new CliError(`${flag} must be greater than zero`);
  return n;
}

/** Consumer info with the fields newer servers add (the client's type lags behind). */
type ConsumerInfoPlus = ConsumerInfo & { priority_groups?: { group: string; pinned_client_id?: string }[] };

/** A predicate over consumer infos for the given flags (validated up front). */
export function consumerFilter(f: ConsumerFilterFlags, now = Date.now()): (ci: ConsumerInfo) => boolean {
  if (f.pull && f.push) throw new CliError("cannot match pull and push concurrently", "give --pull or --push, not both");
  const inv = f.invert === true;
  const flip = (b: boolean): boolean => (inv ? !b : b);
  const checks: ((ci: ConsumerInfoPlus) => boolean)[] = [];
  const isPush = (ci: ConsumerInfo): boolean => Boolean(ci.config.deliver_subject);
  if (f.expression) {
    const e = new AssetExpression(f.expression);
    checks.push((ci) => e.matches({ config: ci.config, state: ci, info: ci }));
  }
  if (f.pull) checks.push((ci) => flip(!isPush(ci)));
  if (f.push) checks.push((ci) => flip(isPush(ci)));
  if (f.bound) checks.push((ci) => flip(ci.push_bound === true || ci.num_waiting > 0));
  if (f.pinned) {
    checks.push((ci) => {
      const cfg = ci.config as ConsumerInfo["config"] & { priority_policy?: string; priority_groups?: string[] };
      if (cfg.priority_policy !== "pinned_client") return false;
      const pinned = (ci.priority_groups ?? []).filter((g) => g.pinned_client_id).length;
      return flip(pinned === (cfg.priority_groups ?? []).length);
    });
  }
  // The "fewer than" checks only consider consumers that have some (natscli's behaviour).
  const fewer = (n: number, v: number): boolean => v > 0 && (inv ? v > n : v < n);
  const ackPending = positive(f.ackPending, "--ack-pending");
  if (ackPending > 0) checks.push((ci) => fewer(ackPending, ci.num_ack_pending));
  const waiting = positive(f.waiting, "--waiting");
  if (waiting > 0) checks.push((ci) => fewer(waiting, ci.num_waiting));
  if (f.pending !== undefined) {
    const n = parseInteger(f.pending, "--pending", 0);
    if (n > 0) checks.push((ci) => fewer(n, ci.num_pending));
  }
  if (f.created !== undefined) {
    const d = parseDurationMs(f.created, "--created");
    checks.push((ci) => Boolean(ci.created) && (inv ? ageMs(ci.created, now) < d : ageMs(ci.created, now) >= d));
  }
  if (f.idle !== undefined) {
    // Idle: nothing delivered for longer than the period (or never); inverted: delivered within it.
    const d = parseDurationMs(f.idle, "--idle");
    checks.push((ci) => flip(ageMs((ci.delivered as unknown as { last_active?: string }).last_active, now) > d));
  }
  if (f.replicas !== undefined) {
    const n = parseInteger(f.replicas, "--replicas", 0);
    if (n > 0) checks.push((ci) => (inv ? (ci.config.num_replicas ?? 0) >= n : (ci.config.num_replicas ?? 0) <= n));
  }
  if (f.leader) {
    const leader = f.leader;
    checks.push((ci) => ci.cluster !== undefined && flip(ci.cluster.leader === leader));
  }
  if (f.apiLevel !== undefined) {
    const n = parseInteger(f.apiLevel, "--api-level", 0);
    if (n > 0) checks.push((ci) => flip(requiredLevel(ci.config.metadata, `consumer ${ci.name}`) >= n));
  }
  return (ci) => checks.every((c) => c(ci as ConsumerInfoPlus));
}
