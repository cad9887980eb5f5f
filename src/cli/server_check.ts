// `tsnats server check`: health checks for monitoring systems, with natscli's check names,
// thresholds and output: Nagios lines ("OK Connection OK:... | connect_time=0.0010s;0.5;1")
// and exit codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; also --format json|text|prometheus.
// A failure to reach the server is a CRITICAL result, never a crash.
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { createInbox } from "@nats-io/transport-node";
import { decode as decodeJwt } from "@nats-io/jwt";
import { Kvm } from "@nats-io/kv";
import type { Command } from "commander";
import { Option } from "commander";
import { App, collectPairs } from "./app.js";
import { connectionOptions, dial, type Session } from "./connection.js";
import { renderTable } from "./output.js";
import { sysRequest } from "./server_cmd.js";
import { CliError } from "./runtime.js";
import { fmtDuration, parseDurationMs, parseInteger } from "./units.js";

type Status = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN";

interface PerfItem {
  name: string;
  value: number;
  warning: number;
  critical: number;
  unit?: string;
  help?: string;
}

/** One check's outcome, rendered like jsm.go's monitor results. */
export class CheckResult {
  status: Status = "UNKNOWN";
  readonly warnings: string[] = [];
  readonly criticals: string[] = [];
  readonly oks: string[] = [];
  readonly perf: PerfItem[] = [];

  constructor(
    readonly name: string,
    readonly suite: string,
  ) {}

  ok(m: string): void {
    this.oks.push(m);
  }
  warn(m: string): void {
    this.warnings.push(m);
  }
  crit(m: string): void {
    this.criticals.push(m);
  }
  pd(name: string, value: number, opts: { warn?: number; crit?: number; unit?: string; help?: string } = {}): void {
    this.perf.push({ name, value, warning: opts.warn ?? 0, critical: opts.crit ?? 0, unit: opts.unit, help: opts.help });
  }

  /** Threshold check where bigger is worse (0 = no threshold). */
  upper(value: number, warn: number, crit: number, text: (v: number) => string): void {
    if (crit > 0 && value >= crit) this.crit(text(value));
    else if (warn > 0 && value >= warn) this.warn(text(value));
    else this.ok(text(value));
  }

  finish(): void {
    this.status = this.criticals.length > 0 ? "CRITICAL" : this.warnings.length > 0 ? "WARNING" : "OK";
  }

  exitCode(format: string): number {
    if (format === "prometheus") return 0;
    return { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 }[this.status];
  }

  render(format: string, namespace: string): string {
    if (format === "json") {
      return JSON.stringify(
        {
          status: this.status,
          check_suite: this.suite,
          check_name: this.name,
          ...(this.warnings.length ? { warning: this.warnings } : {}),
          ...(this.criticals.length ? { critical: this.criticals } : {}),
          ...(this.oks.length ? { ok: this.oks } : {}),
          perf_data: this.perf.map(({ help: _h, ...p }) => p),
        },
        null,
        2,
      );
    }
    if (format === "text") {
      const rows = [...this.oks.map((m) => ["OK", m]), ...this.warnings.map((m) => ["Warning", m]), ...this.criticals.map((m) => ["Critical", m])];
      let out = `${this.name}: ${this.status}\n\n`;
      if (rows.length) out += `Status Detail\n\n${renderTable(["Status", "Message"], rows)}\n`;
      if (this.perf.length) out += `\nCheck Metrics\n\n${renderTable(["Metric", "Value", "Unit", "Critical Threshold", "Warning Threshold", "Description"], this.perf.map((p) => [p.name, p.value, p.unit ?? "", p.critical, p.warning, p.help ?? ""]))}`;
      return out.trimEnd();
    }
    if (format === "prometheus") {
      const lines: string[] = [];
      const label = `item="${this.name.replace(/"/g, '\\"')}"`;
      lines.push(`# HELP ${namespace}_${this.suite}_status_code Nagios compatible status code for ${this.suite}`);
      lines.push(`# TYPE ${namespace}_${this.suite}_status_code gauge`);
      lines.push(`${namespace}_${this.suite}_status_code{${label}} ${{ OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 }[this.status]}`);
      for (const p of this.perf) {
        const metric = `${namespace}_${this.suite}_${p.name}`;
        lines.push(`# HELP ${metric} ${p.help ?? `Data about the NATS CLI check ${this.suite}`}`);
        lines.push(`# TYPE ${metric} gauge`);
        lines.push(`${metric}{${label}} ${p.value}`);
      }
      return lines.join("\n");
    }
    const parts = [this.name, ...this.criticals.map((c) => `Crit:${c}`), ...this.warnings.map((w) => `Warn:${w}`), ...this.oks.map((o) => `OK:${o}`)];
    const perf = this.perf
      .map((p) => {
        const fmt = (v: number): string => (p.unit === "s" ? v.toFixed(4) : v.toFixed(0));
        const name = /[ \t]/.test(p.name) ? `'${p.name}'` : p.name;
        let s = `${name}=${fmt(p.value)}${p.unit ?? ""}`;
        if (p.warning !== 0 || p.critical !== 0) {
          s += p.warning !== 0 ? `;${fmt(p.warning)}` : ";";
          if (p.critical !== 0) s += `;${fmt(p.critical)}`;
        }
        return s;
      })
      .join(" ");
    return perf ? `${this.status} ${parts.join(" ")} | ${perf}` : `${this.status} ${parts.join(" ")}`;
  }
}

interface CheckOpts {
  format: string;
  namespace: string;
  outfile?: string;
}

const secs = (ms: number): number => ms / 1000;

/** Run a check body; any thrown error becomes a CRITICAL line. Prints and returns the exit code. */
async function runCheck(app: App, cmd: Command, name: string, suite: string, body: (r: CheckResult) => Promise<void>): Promise<number> {
  const o = cmd.parent!.opts() as CheckOpts;
  const r = new CheckResult(name, suite);
  try {
    await body(r);
  } catch (err) {
    r.crit((err as Error).message);
  }
  r.finish();
  const text = r.render(o.format, o.namespace) + "\n";
  if (o.outfile) {
    const tmp = `${o.outfile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, o.outfile);
  } else app.io.stdout.write(text);
  return r.exitCode(o.format);
}

const dur = (v: string | undefined, what: string): number => (v ? parseDurationMs(v, what) : 0);
const int = (v: string | undefined, what: string, def = 0): number => (v === undefined ? def : parseInteger(v, what));

async function checkConnection(s: Session, r: CheckResult, o: Record<string, string>): Promise<void> {
  const cw = dur(o.connectWarn, "--connect-warn");
  const cc = dur(o.connectCritical, "--connect-critical");
  const rw = dur(o.rttWarn, "--rtt-warn");
  const rc = dur(o.rttCritical, "--rtt-critical");
  const qw = dur(o.reqWarn, "--req-warn");
  const qc = dur(o.reqCritical, "--req-critical");
  const t0 = performance.now();
  let nc;
  try {
    nc = await dial(s.effective, { ...connectionOptions(s.io, s.effective), maxReconnectAttempts: 0 });
  } catch (err) {
    r.crit(`connection failed: ${(err as Error).message}`);
    return;
  }
  try {
    const ct = performance.now() - t0;
    const url = nc.getServer();
    r.pd("connect_time", secs(ct), { warn: secs(cw), crit: secs(cc), unit: "s", help: "Time taken to connect to NATS" });
    if (cc > 0 && ct >= cc) r.crit(`connected to ${url}, connect time exceeded ${fmtDuration(cc)}`);
    else if (cw > 0 && ct >= cw) r.warn(`connected to ${url}, connect time exceeded ${fmtDuration(cw)}`);
    else r.ok(`connected to ${url} in ${fmtDuration(ct)}`);
    const t1 = performance.now();
    await nc.flush();
    const rtt = performance.now() - t1;
    r.pd("rtt", secs(rtt), { warn: secs(rw), crit: secs(rc), unit: "s", help: "The round-trip-time of the connection" });
    if (rc > 0 && rtt >= rc) r.crit(`rtt time exceeded ${fmtDuration(rc)}`);
    else if (rw > 0 && rtt >= rw) r.warn(`rtt time exceeded ${fmtDuration(rw)}`);
    else r.ok(`rtt time ${fmtDuration(rtt)}`);
    const ib = createInbox();
    const sub = nc.subscribe(ib, { max: 1 });
    const t2 = performance.now();
    nc.publish(ib, "ping");
    const got = await Promise.race([
      (async () => {
        for await (const _m of sub) return true;
        return false;
      })(),
      new Promise<boolean>((res) => setTimeout(() => res(false), s.timeoutMs)),
    ]);
    const reqt = performance.now() - t2;
    r.pd("request_time", secs(reqt), { warn: secs(qw), crit: secs(qc), unit: "s", help: "Time taken for a full Request-Reply operation" });
    if (!got) r.crit("did not receive expected message");
    else if (qc > 0 && reqt >= qc) r.crit(`round trip request took ${secs(reqt).toFixed(6)}`);
    else if (qw > 0 && reqt >= qw) r.warn(`round trip request took ${secs(reqt).toFixed(6)}`);
    else r.ok(`round trip took ${secs(reqt).toFixed(6)}s`);
  } finally {
    await nc.close();
  }
}

async function checkStream(s: Session, r: CheckResult, o: Record<string, string | undefined>): Promise<void> {
  const jsm = await s.jsm();
  const info = await jsm.streams.info(o.stream!).catch((err: Error) => {
    throw new Error(/not found/i.test(err.message) ? "stream not found" : err.message);
  });
  if (o.msgsWarn !== undefined || o.msgsCritical !== undefined) {
    const w = int(o.msgsWarn, "--msgs-warn");
    const c = int(o.msgsCritical, "--msgs-critical");
    const n = info.state.messages;
    r.pd("messages", n, { warn: w, crit: c, help: "Messages stored in the stream" });
    if (c > 0 && n <= c) r.crit(`${n} messages`);
    else if (w > 0 && n <= w) r.warn(`${n} messages`);
    else r.ok(`${n} messages`);
  }
  if (o.subjectsWarn !== undefined || o.subjectsCritical !== undefined) {
    const w = int(o.subjectsWarn, "--subjects-warn");
    const c = int(o.subjectsCritical, "--subjects-critical");
    const n = info.state.num_subjects ?? 0;
    r.pd("subjects", n, { warn: w, crit: c, help: "Number of subjects stored in the stream" });
    // natscli: thresholds may be inverted (warn > crit means fewer is worse).
    const bad = (t: number): boolean => (w > c ? n <= t : n >= t);
    if (c > 0 && bad(c)) r.crit(`${n} subjects`);
    else if (w > 0 && bad(w)) r.warn(`${n} subjects`);
    else r.ok(`${n} subjects`);
  }
  const lagCrit = o.lagCritical !== undefined ? parseInteger(o.lagCritical, "--lag-critical", 0) : -1;
  const seenCrit = o.seenCritical ? parseDurationMs(o.seenCritical, "--seen-critical") : 0;
  if (info.mirror) {
    const m = info.mirror;
    r.pd("lag", m.lag, { crit: Math.max(0, lagCrit), help: "Number of operations this peer is behind its origin" });
    r.pd("active", secs(m.active / 1e6), { crit: secs(seenCrit), unit: "s", help: "Indicates if this peer is active and catching up if lagged" });
    if (lagCrit >= 0 && m.lag > lagCrit) r.crit(`Mirror Lag ${m.lag}`);
    else if (seenCrit > 0 && m.active / 1e6 > seenCrit) r.crit(`Mirror Seen ${fmtDuration(m.active / 1e6)}`);
    else r.ok(`Mirror ${m.name}`);
  } else if (o.lagCritical !== undefined && !info.sources?.length) {
    r.crit("not mirrored");
  }
  if (info.sources?.length || o.minSources !== undefined || o.maxSources !== undefined) {
    const sources = info.sources ?? [];
    const lagged = sources.filter((x) => lagCrit >= 0 && x.lag > lagCrit).length;
    const inactive = sources.filter((x) => seenCrit > 0 && x.active / 1e6 > seenCrit).length;
    r.pd("sources", sources.length, { warn: int(o.minSources, "--min-sources"), crit: int(o.maxSources, "--max-sources"), help: "Number of sources being consumed by this stream" });
    r.pd("sources_lagged", lagged, { help: "Number of sources that are behind more than the configured threshold" });
    r.pd("sources_inactive", inactive, { help: "Number of sources that are inactive" });
    if (lagged > 0) r.crit(`${lagged} sources are lagged`);
    else r.ok(`${sources.length} sources current`);
    if (inactive > 0) r.crit(`${inactive} sources are inactive`);
    else r.ok(`${sources.length} sources active`);
    if (o.minSources !== undefined && sources.length < int(o.minSources, "--min-sources")) r.crit(`${sources.length} sources`);
    else if (o.maxSources !== undefined && sources.length > int(o.maxSources, "--max-sources")) r.crit(`${sources.length} sources`);
    else if (o.minSources !== undefined || o.maxSources !== undefined) r.ok(`${sources.length} sources`);
  }
  if (o.peerExpect !== undefined) {
    const expect = int(o.peerExpect, "--peer-expect");
    if (!info.cluster) r.crit("Stream is not clustered");
    else {
      const peers = 1 + (info.cluster.replicas?.length ?? 0);
      if (!info.cluster.leader) r.crit("No leader");
      if (peers !== expect) r.crit(`Expected ${expect} replicas got ${peers}`);
      else r.ok(`${peers} peers`);
    }
  }
  if (r.oks.length + r.criticals.length + r.warnings.length === 0) r.ok(`${info.state.messages} messages`);
}

async function checkConsumer(s: Session, r: CheckResult, o: Record<string, string | undefined>): Promise<void> {
  const jsm = await s.jsm();
  const ci = await jsm.consumers.info(o.stream!, o.consumer!).catch((err: Error) => {
    throw new Error(/not found/i.test(err.message) ? `${/stream/i.test(err.message) ? "stream" : "consumer"} not found` : err.message);
  });
  const lim = (v: string | undefined, what: string): number => (v === undefined ? -1 : parseInteger(v, what));
  const ack = lim(o.outstandingAckCritical, "--outstanding-ack-critical");
  const waiting = lim(o.waitingCritical, "--waiting-critical");
  const unproc = lim(o.unprocessedCritical, "--unprocessed-critical");
  const redel = lim(o.redeliveryCritical, "--redelivery-critical");
  const lastDel = dur(o.lastDeliveryCritical, "--last-delivery-critical");
  const lastAck = dur(o.lastAckCritical, "--last-ack-critical");
  const one = (name: string, label: string, value: number, crit: number, help: string): void => {
    r.pd(name, value, { crit: Math.max(0, crit), help });
    if (crit >= 0 && value >= crit && crit > 0) r.crit(`${label}: ${value}`);
    else if (crit === 0 && value > 0) r.crit(`${label}: ${value}`);
    else if (crit >= 0) r.ok(`${label}: ${value}`);
  };
  one("ack_pending", "Ack Pending", ci.num_ack_pending, ack, "The number of messages waiting to be Acknowledged");
  one("pull_waiting", "Waiting Pulls", ci.num_waiting, waiting, "The number of waiting Pull requests");
  one("pending", "Unprocessed Messages", ci.num_pending, unproc, "The number of messages that have not yet been consumed");
  one("redelivered", "Redelivered", ci.num_redelivered, redel, "The number of messages currently being redelivered");
  const since = (t: unknown): number => (t ? Date.now() - Date.parse(String(t)) : Infinity);
  if (lastDel > 0) {
    const ago = since(ci.delivered.last_active);
    r.pd("last_delivery", Number.isFinite(ago) ? secs(ago) : 0, { crit: secs(lastDel), unit: "s", help: "Seconds since the last message was delivered" });
    if (!Number.isFinite(ago)) r.crit("No deliveries");
    else if (ago >= lastDel) r.crit(`Last delivery ${fmtDuration(ago)} ago`);
    else r.ok(`Last delivery ${fmtDuration(ago)}`);
  }
  if (lastAck > 0) {
    const ago = since(ci.ack_floor.last_active);
    r.pd("last_ack", Number.isFinite(ago) ? secs(ago) : 0, { crit: secs(lastAck), unit: "s", help: "Seconds since the last message was acknowledged" });
    if (!Number.isFinite(ago)) r.crit("No acks");
    else if (ago >= lastAck) r.crit(`Last ack ${fmtDuration(ago)} ago`);
    else r.ok(`Last ack ${fmtDuration(ago)}`);
  }
}

async function checkMessage(s: Session, r: CheckResult, o: Record<string, string | boolean | undefined>): Promise<void> {
  const jsm = await s.jsm();
  const subject = (o.subject as string) ?? ">";
  const m = await jsm.streams.getMessage(o.stream as string, { last_by_subj: subject }).catch((err: Error) => {
    if (/no message found|not found/i.test(err.message)) return null;
    throw err;
  });
  if (!m) return r.crit("no message found");
  let ts = m.time.getTime();
  if (o.bodyTimestamp) {
    const n = Number(new TextDecoder().decode(m.data).trim());
    if (!Number.isFinite(n)) return r.crit("message body is not a unix timestamp");
    ts = n > 1e12 ? n : n * 1000;
  }
  const age = Date.now() - ts;
  const w = dur(o.ageWarn as string | undefined, "--age-warn");
  const c = dur(o.ageCritical as string | undefined, "--age-critical");
  r.pd("age", secs(age), { warn: secs(w), crit: secs(c), unit: "s", help: "The age of the message" });
  r.pd("size", m.data.length, { help: "The size of the message" });
  if (c > 0 && age >= c) r.crit(`${fmtDuration(age)} old`);
  else if (w > 0 && age >= w) r.warn(`${fmtDuration(age)} old`);
  else r.ok(`${fmtDuration(age)} old`);
  const re = new RegExp((o.content as string) ?? ".");
  if (!re.test(new TextDecoder().decode(m.data))) r.crit(`does not match regex: ${re.source}`);
  else r.ok("content matches");
}

async function checkJetStream(s: Session, r: CheckResult, o: Record<string, string | boolean | undefined>): Promise<void> {
  const jsm = await s.jsm();
  const ai = await jsm.getAccountInfo();
  const pct = (used: number, limit: number): number => (limit > 0 ? Math.floor((used / limit) * 100) : 0);
  const levels: [string, string, number, number, string, string][] = [
    ["memory", "memory", ai.memory, ai.limits.max_memory, "--mem-warn", "--mem-critical"],
    ["storage", "storage", ai.storage, ai.limits.max_storage, "--store-warn", "--store-critical"],
    ["streams", "streams", ai.streams, ai.limits.max_streams, "--streams-warn", "--streams-critical"],
    ["consumers", "consumers", ai.consumers, ai.limits.max_consumers, "--consumers-warn", "--consumers-critical"],
  ];
  const thr: Record<string, [string | boolean | undefined, string | boolean | undefined]> = {
    memory: [o.memWarn, o.memCritical],
    storage: [o.storeWarn, o.storeCritical],
    streams: [o.streamsWarn, o.streamsCritical],
    consumers: [o.consumersWarn, o.consumersCritical],
  };
  for (const [name, label, used, limit, wf, cf] of levels) {
    const w = parseInteger(String(thr[name][0] ?? "-1"), wf);
    const c = parseInteger(String(thr[name][1] ?? "-1"), cf);
    r.pd(name, used, { help: `JetStream used ${label}` });
    if (limit <= 0) continue;
    const p = pct(used, limit);
    r.pd(`${name}_pct`, p, { warn: Math.max(0, w), crit: Math.max(0, c), unit: "%", help: `JetStream used ${label} in percent of the limit` });
    if (c > 0 && p >= c) r.crit(`${p}% ${label}`);
    else if (w > 0 && p >= w) r.warn(`${p}% ${label}`);
  }
  if (r.criticals.length + r.warnings.length === 0) r.ok(`${ai.streams} streams, ${ai.consumers} consumers`);
}

async function checkKv(s: Session, r: CheckResult, o: Record<string, string | undefined>): Promise<void> {
  const js = await s.js();
  await s.jsm();
  let kv;
  try {
    kv = await new Kvm(js).open(o.bucket!);
    await kv.status();
  } catch {
    return r.crit(`bucket ${o.bucket} not found`);
  }
  const st = await kv.status();
  r.ok(`bucket ${st.bucket}`);
  const vc = o.valuesCritical !== undefined ? parseInteger(o.valuesCritical, "--values-critical") : -1;
  const vw = o.valuesWarn !== undefined ? parseInteger(o.valuesWarn, "--values-warn") : -1;
  r.pd("values", st.values, { warn: Math.max(0, vw), crit: Math.max(0, vc), help: "How many values are stored in the bucket" });
  r.pd("bytes", st.size, { help: "Bytes stored in the bucket" });
  r.pd("replicas", st.replicas, { help: "Stream replicas" });
  if (vc >= 0 || vw >= 0) {
    // As natscli: thresholds may be inverted (warn > crit means fewer is worse).
    const inverted = vw > vc;
    const bad = (t: number): boolean => t >= 0 && (inverted ? st.values <= t : st.values >= t);
    if (bad(vc)) r.crit(`${st.values} values`);
    else if (bad(vw)) r.warn(`${st.values} values`);
    else r.ok(`${st.values} values`);
  }
  if (o.key) {
    const e = await kv.get(o.key);
    if (!e) r.crit(`key ${o.key} not found`);
    else if (e.operation === "DEL") r.crit(`key ${o.key} is deleted`);
    else if (e.operation === "PURGE") r.crit(`key ${o.key} is purged`);
    else r.ok(`key ${o.key} found`);
  }
}

async function checkServer(s: Session, r: CheckResult, o: Record<string, string | boolean | undefined>): Promise<void> {
  const res = await sysRequest<Record<string, any>>(s, "$SYS.REQ.SERVER.PING.VARZ", { server_name: o.name }, 1);
  const hit = res.find((x) => x.server.name === o.name);
  if (!hit) return r.crit(`result from wrong server "${res[0]?.server.name}"`);
  const v = hit.data ?? {};
  const upper = (label: string, name: string, value: number, w: string | boolean | undefined, c: string | boolean | undefined, unit = "", fmt = (x: number) => x.toFixed(2)): void => {
    const wn = w === undefined ? 0 : Number(w);
    const cn = c === undefined ? 0 : Number(c);
    r.pd(name, value, { warn: wn, crit: cn, unit });
    if (!wn && !cn) return;
    // Inverted thresholds (warn > crit) mean that fewer is worse, as natscli supports.
    const inverted = wn > cn && cn > 0;
    const bad = (t: number): boolean => t > 0 && (inverted ? value <= t : value >= t);
    if (bad(cn)) r.crit(`${label} ${fmt(value)}`);
    else if (bad(wn)) r.warn(`${label} ${fmt(value)}`);
    else r.ok(`${label} ${fmt(value)}`);
  };
  upper("CPU", "cpu", Number(v.cpu ?? 0), o.cpuWarn, o.cpuCritical, "%");
  upper("Memory", "mem", Number(v.mem ?? 0), o.memWarn, o.memCritical);
  upper("Connections", "connections", Number(v.connections ?? 0), o.connWarn, o.connCritical);
  upper("Subscriptions", "subscriptions", Number(v.subscriptions ?? 0), o.subsWarn, o.subsCritical);
  const up = Date.now() - Date.parse(v.start);
  r.pd("uptime", secs(up), { unit: "s" });
  const uw = dur(o.uptimeWarn as string | undefined, "--uptime-warn");
  const uc = dur(o.uptimeCritical as string | undefined, "--uptime-critical");
  if (uc > 0 && up <= uc) r.crit(`Up ${fmtDuration(up)}`);
  else if (uw > 0 && up <= uw) r.warn(`Up ${fmtDuration(up)}`);
  else r.ok(`Up ${fmtDuration(up)}`);
  if (o.authRequired) v.auth_required ? r.ok("Authentication required") : r.crit("Authentication not required");
  if (o.tlsRequired) v.tls_required ? r.ok("TLS required") : r.crit("TLS not required");
  if (o.jsRequired) v.jetstream?.config ? r.ok("JetStream enabled") : r.crit("JetStream not enabled");
}

async function checkRequest(s: Session, r: CheckResult, o: Record<string, any>): Promise<void> {
  const nc = await s.nc();
  const { headers } = await import("@nats-io/transport-node");
  let h;
  if (o.headers) {
    h = headers();
    for (const [k, v] of Object.entries(o.headers as Record<string, string>)) h.set(k, v);
  }
  const t0 = performance.now();
  const m = await nc.request(o.subject, o.payload ?? "", { timeout: s.timeoutMs, headers: h });
  const took = performance.now() - t0;
  const w = dur(o.responseWarn, "--response-warn");
  const c = dur(o.responseCritical, "--response-critical");
  r.pd("time", secs(took), { warn: secs(w), crit: secs(c), unit: "s", help: "How long the request took" });
  if (c > 0 && took >= c) r.crit(`response took ${fmtDuration(took)}`);
  else if (w > 0 && took >= w) r.warn(`response took ${fmtDuration(took)}`);
  else r.ok(`response took ${fmtDuration(took)}`);
  if (o.matchPayload && !new RegExp(o.matchPayload).test(new TextDecoder().decode(m.data))) r.crit("response does not match regexp");
  for (const [k, v] of Object.entries((o.matchHeaders ?? {}) as Record<string, string>)) {
    if (m.headers?.get(k) !== v) r.crit(`invalid header "${k}" = "${m.headers?.get(k) ?? ""}"`);
  }
}

function checkCredential(r: CheckResult, o: Record<string, any>): void {
  let text: string;
  try {
    text = fs.readFileSync(o.credential, "utf8");
  } catch (err) {
    return r.crit(`credential not accessible: ${(err as Error).message}`);
  }
  const m = /-----BEGIN NATS USER JWT-----\s*\n([^\n]+)\n/.exec(text);
  if (!m) return r.crit("invalid credential: no user JWT in the file");
  let exp: number | undefined;
  try {
    exp = decodeJwt(m[1].trim()).exp;
  } catch (err) {
    return r.crit(`invalid credential: ${(err as Error).message}`);
  }
  if (!exp) {
    if (o.requireExpiry) r.crit("never expires");
    else r.ok("never expires");
    return;
  }
  const left = exp * 1000 - Date.now();
  r.pd("expiry", secs(left), { unit: "s", help: "Seconds until the credential expires" });
  const w = dur(o.validityWarn, "--validity-warn");
  const c = dur(o.validityCritical, "--validity-critical");
  if (c > 0 && left <= c) r.crit(`expires sooner than ${fmtDuration(c)}`);
  else if (w > 0 && left <= w) r.warn(`expires sooner than ${fmtDuration(w)}`);
  else r.ok(`expires in ${fmtDuration(left)}`);
}

async function checkMeta(s: Session, r: CheckResult, o: Record<string, string>): Promise<void> {
  const res = await sysRequest<Record<string, any>>(s, "$SYS.REQ.SERVER.PING.JSZ", { leader_only: true }, 1);
  const d = res[0].data ?? {};
  const ci = d.meta_cluster;
  if (!ci) return r.crit("no cluster information");
  const expect = parseInteger(o.expect, "--expect", 1);
  const lagCrit = parseInteger(o.lagCritical, "--lag-critical", 0);
  const seenCrit = parseDurationMs(o.seenCritical, "--seen-critical");
  const replicas: Record<string, any>[] = ci.replicas ?? [];
  const peers = replicas.length + 1;
  r.pd("peers", peers, { warn: expect, crit: expect, help: "Number of peers in the meta group" });
  if (!ci.leader) r.crit("No leader");
  if (peers !== expect) r.crit(`${peers} peers of expected ${expect}`);
  const offline = replicas.filter((x) => x.offline).length;
  const notCurrent = replicas.filter((x) => !x.current).length;
  const inactive = replicas.filter((x) => x.active / 1e6 > seenCrit).length;
  const lagged = replicas.filter((x) => (x.lag ?? 0) > lagCrit).length;
  r.pd("peer_offline", offline);
  r.pd("peer_not_current", notCurrent);
  r.pd("peer_inactive", inactive);
  r.pd("peer_lagged", lagged);
  if (offline) r.crit(`${offline} offline`);
  if (notCurrent) r.crit(`${notCurrent} not current`);
  if (inactive) r.crit(`${inactive} inactive more than ${fmtDuration(seenCrit)}`);
  if (lagged) r.crit(`${lagged} lagged more than ${lagCrit} ops`);
  if (!r.criticals.length) r.ok(`${peers} peers led by ${ci.leader}`);
}

export function registerServerCheck(app: App, srv: Command): void {
  const check = srv
    .command("check")
    .description("Health check for NATS servers (Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
    .addOption(new Option("--format <format>", "Render the check in a specific format").choices(["nagios", "json", "prometheus", "text"]).default("nagios"))
    .option("--namespace <ns>", "The prometheus namespace to use in output", "nats_server_check")
    .option("--outfile <file>", "Save output to a file rather than STDOUT");
  const act = (name: (o: any) => string, suite: string, fn: (s: Session, r: CheckResult, o: any) => Promise<void> | void) =>
    app.action<any>(({ session, opts, cmd }) => runCheck(app, cmd, name(opts), suite, (r) => Promise.resolve(fn(session, r, opts))));

  check
    .command("connection")
    .alias("conn")
    .description("Checks basic server connection")
    .option("--connect-warn <duration>", "Warning threshold to allow for establishing connections", "500ms")
    .option("--connect-critical <duration>", "Critical threshold to allow for establishing connections", "1s")
    .option("--rtt-warn <duration>", "Warning threshold to allow for server RTT", "500ms")
    .option("--rtt-critical <duration>", "Critical threshold to allow for server RTT", "1s")
    .option("--req-warn <duration>", "Warning threshold to allow for full round trip test", "500ms")
    .option("--req-critical <duration>", "Critical threshold to allow for full round trip test", "1s")
    .action(act(() => "Connection", "connections", checkConnection));

  check
    .command("stream")
    .description("Checks the health of mirrored streams, streams with sources or clustered streams")
    .requiredOption("--stream <stream>", "The streams to check")
    .option("--lag-critical <msgs>", "Critical threshold to allow for lag on any source or mirror")
    .option("--seen-critical <duration>", "Critical threshold for how long ago the source or mirror should have been seen")
    .option("--min-sources <n>", "Minimum number of sources to expect")
    .option("--max-sources <n>", "Maximum number of sources to expect")
    .option("--peer-expect <n>", "Number of cluster replicas to expect")
    .option("--peer-lag-critical <ops>", "Critical threshold to allow for cluster peer lag")
    .option("--peer-seen-critical <duration>", "Critical threshold for how long ago a cluster peer should have been seen")
    .option("--msgs-warn <n>", "Warn if there are fewer than this many messages in the stream")
    .option("--msgs-critical <n>", "Critical if there are fewer than this many messages in the stream")
    .option("--subjects-warn <n>", "Warning threshold for subjects in the stream")
    .option("--subjects-critical <n>", "Critical threshold for subjects in the stream")
    .action(act((o) => o.stream, "stream", checkStream));

  check
    .command("consumer")
    .description("Checks the health of a consumer")
    .requiredOption("--stream <stream>", "The streams to check")
    .requiredOption("--consumer <consumer>", "The consumer to check")
    .option("--outstanding-ack-critical <n>", "Maximum number of outstanding acks to allow")
    .option("--waiting-critical <n>", "Maximum number of waiting pulls to allow")
    .option("--unprocessed-critical <n>", "Maximum number of unprocessed messages to allow")
    .option("--last-delivery-critical <duration>", "Time to allow since the last delivery")
    .option("--last-ack-critical <duration>", "Time to allow since the last ack")
    .option("--redelivery-critical <n>", "Maximum number of redeliveries to allow")
    .action(act((o) => `${o.stream}_${o.consumer}`, "consumer", checkConsumer));

  check
    .command("message")
    .description("Checks properties of a message stored in a stream")
    .requiredOption("--stream <stream>", "The streams to check")
    .option("--subject <subject>", "The subject to fetch a message from", ">")
    .option("--age-warn <duration>", "Warning threshold for message age as a duration")
    .option("--age-critical <duration>", "Critical threshold for message age as a duration")
    .option("--content <regex>", "Regular expression to check the content against", ".")
    .option("--body-timestamp", "Use message body as a unix timestamp instead of message metadata")
    .action(act(() => "Stream Message", "message", checkMessage));

  check
    .command("meta")
    .alias("raft")
    .description("Check JetStream cluster state")
    .requiredOption("--expect <servers>", "Number of servers to expect")
    .requiredOption("--lag-critical <ops>", "Critical threshold to allow for lag")
    .requiredOption("--seen-critical <duration>", "Critical threshold for how long ago a peer should have been seen")
    .action(act(() => "JetStream Meta Cluster", "meta", checkMeta));

  check
    .command("request")
    .alias("req")
    .description("Checks a request-reply service")
    .requiredOption("--subject <subject>", "The subject to send the request to")
    .option("--payload <text>", "Payload to send in the request")
    .option("--headers <K:V>", "Headers to publish in the request (repeatable)", collectPairs)
    .option("--match-payload <regex>", "Regular expression the response should match")
    .option("--match-headers <K:V>", "Headers the response should have (repeatable)", collectPairs)
    .option("--response-critical <duration>", "Critical threshold for response time")
    .option("--response-warn <duration>", "Warning threshold for response time")
    .action(act((o) => o.subject, "request", checkRequest));

  check
    .command("jetstream")
    .alias("js")
    .description("Check JetStream account state")
    .option("--mem-warn <pct>", "Warning threshold for memory storage, in percent of limit", "75")
    .option("--mem-critical <pct>", "Critical threshold for memory storage, in percent of limit", "90")
    .option("--store-warn <pct>", "Warning threshold for disk storage, in percent of limit", "75")
    .option("--store-critical <pct>", "Critical threshold for disk storage, in percent of limit", "90")
    .option("--streams-warn <pct>", "Warning threshold for number of streams used, in percent of limit", "-1")
    .option("--streams-critical <pct>", "Critical threshold for number of streams used, in percent of limit", "-1")
    .option("--consumers-warn <pct>", "Warning threshold for number of consumers used, in percent of limit", "-1")
    .option("--consumers-critical <pct>", "Critical threshold for number of consumers used, in percent of limit", "-1")
    .action(act(() => "JetStream", "jetstream", checkJetStream));

  check
    .command("server")
    .description("Checks a NATS Server health")
    .requiredOption("--name <name>", "Server name to require in the result")
    .option("--cpu-warn <pct>", "Warning threshold for CPU usage, in percent")
    .option("--cpu-critical <pct>", "Critical threshold for CPU usage, in percent")
    .option("--mem-warn <bytes>", "Warning threshold for Memory usage, in bytes")
    .option("--mem-critical <bytes>", "Critical threshold Memory CPU usage, in bytes")
    .option("--conn-warn <n>", "Warning threshold for connections, supports inversion")
    .option("--conn-critical <n>", "Critical threshold for connections, supports inversion")
    .option("--subs-warn <n>", "Warning threshold for number of active subscriptions, supports inversion")
    .option("--subs-critical <n>", "Critical threshold for number of active subscriptions, supports inversion")
    .option("--uptime-warn <duration>", "Warning threshold for server uptime as duration")
    .option("--uptime-critical <duration>", "Critical threshold for server uptime as duration")
    .option("--auth-required", "Checks that authentication is enabled")
    .option("--tls-required", "Checks that TLS is required")
    .option("--js-required", "Checks that JetStream is enabled")
    .action(act((o) => o.name, "server", checkServer));

  check
    .command("kv")
    .description("Checks a NATS KV Bucket")
    .requiredOption("--bucket <bucket>", "Checks a specific bucket")
    .option("--values-critical <n>", "Critical threshold for number of values in the bucket")
    .option("--values-warn <n>", "Warning threshold for number of values in the bucket")
    .option("--key <key>", "Requires a key to have any non-delete value set")
    .action(act((o) => o.bucket, "kv", checkKv));

  check
    .command("credential")
    .description("Checks the validity of a NATS credential file")
    .requiredOption("--credential <file>", "The file holding the NATS credential")
    .option("--validity-warn <duration>", "Warning threshold for time before expiry")
    .option("--validity-critical <duration>", "Critical threshold for time before expiry")
    .option("--require-expiry", "Requires the credential to have expiry set (default)", true)
    .option("--no-require-expiry", "Accept credentials that never expire")
    .action(act(() => "Credential", "credential", (_s, r, o) => checkCredential(r, o)));
  void CliError;
}
