// Core NATS: `pub`, `sub`, `request`, `reply`, `rtt` (natscli's names, flags and output).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { DeliverPolicy, type ConsumerMessages, type JsMsg, type OrderedConsumerOptions } from "@nats-io/jetstream";
import { Option } from "commander";
import { subjectMatches } from "../protocol/subject.js";
import { App, boolFlag, collect, jsonFlag } from "./app.js";
import { connectionOptions, dial, type Session } from "./connection.js";
import { fmtNum, parseDurationMs, parseInteger, fmtDuration, fmtTime } from "./units.js";
import { parseJsAck, printJson, printMessage, printPayload } from "./output.js";
import { aborted, CliError, logf, println, sleep, type CliIO } from "./runtime.js";
import { expandTemplate, hasTemplate, parseHeaders } from "./template.js";
import { newProgress } from "./progress.js";
import { SubGraph, SubjectReport } from "./sub_views.js";
import { publishAtomicBatch, scheduleHeaders, wantsSchedule, withHeaders, type BatchMessage, type ScheduleFlags } from "./pub_jetstream.js";

/** Read all of stdin (the body when none is given on the command line). */
export async function readStdin(io: CliIO): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return new Uint8Array(Buffer.concat(chunks));
}

/** Lines of stdin as they arrive (--send-on newline). */
async function* stdinLines(io: CliIO): AsyncGenerator<string> {
  let rest = "";
  for await (const c of io.stdin) {
    rest += Buffer.isBuffer(c) ? c.toString("utf8") : String(c);
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i).replace(/\r$/, "");
      rest = rest.slice(i + 1);
    }
  }
  if (rest !== "") yield rest;
}

const enc = new TextEncoder();

/** Run `command` with `data` on stdin and return its stdout (--translate). */
export function translate(data: Uint8Array, command: string, subject: string): Uint8Array {
  const r = spawnSync(command, { input: data, shell: true, env: { ...process.env, NATS_SUBJECT: subject } });
  if (r.status !== 0) throw new CliError(`translate command "${command}" failed: ${r.stderr?.toString().trim() || `exit ${r.status}`}`);
  return new Uint8Array(r.stdout);
}

interface PubOpts extends ScheduleFlags {
  reply?: string;
  header?: string[];
  count: string;
  sleep?: string;
  forceStdin?: boolean;
  jetstream?: boolean;
  quiet?: boolean;
  sendOn: string;
  templates: boolean;
  atomic?: boolean;
}

async function publishAction(s: Session, io: CliIO, opts: PubOpts, subject: string, body: string | undefined): Promise<void> {
  const count = parseInteger(opts.count, "--count", 1);
  const sleepMs = opts.sleep ? parseDurationMs(opts.sleep, "--sleep") : 0;
  const nc = await s.nc();
  const schedule = wantsSchedule(opts) ? scheduleHeaders(opts) : undefined;
  // Schedules imply --jetstream (the stream stores them); --atomic collects a batch instead.
  const js = (opts.jetstream || schedule) && !opts.atomic ? await s.js() : undefined;
  const batch: BatchMessage[] = [];
  const useTemplates = opts.templates !== false;
  const send = async (subjTemplate: string, bodyText: string | Uint8Array, n: number): Promise<number> => {
    const vars = { count: n };
    const subj = useTemplates ? expandTemplate(subjTemplate, vars) : subjTemplate;
    const data = typeof bodyText === "string" ? enc.encode(useTemplates ? expandTemplate(bodyText, vars) : bodyText) : bodyText;
    let hdrs = parseHeaders(opts.header, vars);
    if (schedule) hdrs = withHeaders(hdrs, schedule);
    if (opts.atomic) {
      batch.push({ subject: subj, data, headers: hdrs });
      if (!opts.quiet && count <= 20) logf(io, `Adding ${data.length} bytes to batch on subject "${subj}"`);
    } else if (js) {
      const ack = await js.publish(subj, data, { headers: hdrs, timeout: s.timeoutMs });
      if (!opts.quiet && count <= 20) logf(io, `Published ${data.length} bytes to "${subj}" (stream: ${ack.stream}, sequence: ${ack.seq}${ack.duplicate ? ", duplicate" : ""})`);
    } else {
      nc.publish(subj, data, { reply: opts.reply, headers: hdrs });
      if (!opts.quiet && count <= 20) logf(io, `Published ${data.length} bytes to "${subj}"`);
    }
    return data.length;
  };

  if (body === undefined && opts.sendOn === "newline") {
    if (!opts.quiet) logf(io, "Reading payload from STDIN, one message per line");
    let n = 0;
    for await (const line of stdinLines(io)) await send(subject, line, ++n);
    if (opts.atomic) return commitBatch();
    await nc.flush();
    return;
  }
  let payload: string | Uint8Array = body ?? "";
  if (body === undefined && (opts.forceStdin || !io.stdin.isTTY)) {
    if (!opts.quiet) logf(io, "Reading payload from STDIN");
    payload = await readStdin(io);
  }
  const bar = count > 20 && !opts.quiet ? newProgress(io, count, "Publishing") : undefined;
  for (let i = 1; i <= count && !io.signal.aborted; i++) {
    await send(subject, payload, i);
    bar?.update(i);
    if (sleepMs > 0 && i < count) await sleep(io, sleepMs);
    else if (i % 1000 === 0) await new Promise((r) => setImmediate(r)); // let the socket drain
  }
  bar?.stop();
  if (opts.atomic) return commitBatch();
  await nc.flush();
  if (count > 20 && !opts.quiet) logf(io, `Published ${fmtNum(count)} messages to "${subject}"`);

  async function commitBatch(): Promise<void> {
    const ack = await publishAtomicBatch(s, batch);
    if (opts.quiet) return;
    let line = `Wrote batch ID: ${ack.batch ?? ""} Messages: ${fmtNum(ack.count ?? batch.length)} Sequence: ${fmtNum(ack.seq)}`;
    if (ack.domain) line += ` Domain: "${ack.domain}"`;
    if (ack.val) line += ` Counter Value: ${ack.val}`;
    logf(io, line);
  }
}

interface SubOpts {
  queue?: string;
  raw?: boolean;
  ack?: boolean;
  inbox?: boolean;
  count?: string;
  headersOnly?: boolean;
  subjectsOnly?: boolean;
  translate?: string;
  dump?: string;
  durable?: string;
  startSequence?: string;
  all?: boolean;
  new?: boolean;
  last?: boolean;
  since?: string;
  lastPerSubject?: boolean;
  terminateAtEnd?: boolean;
  stream?: string;
  ignoreSubject?: string[];
  wait?: string;
  timestamp?: boolean;
  deltaTime?: boolean;
  reportSubjects?: boolean;
  reportSubscriptions?: boolean;
  reportTop: string;
  graph?: boolean;
  matchReplies?: boolean;
}

/** Print one received message in the chosen sub format. */
function showReceived(io: CliIO, o: SubOpts, n: number, subject: string, reply: string | undefined, hdrs: MsgHdrs | undefined, data: Uint8Array, started: number, jsSummary?: string, matchedReply = false): void {
  if (o.translate) data = translate(data, o.translate, subject);
  if (o.dump !== undefined) {
    const doc = JSON.stringify({
      subject,
      reply: reply ?? "",
      header: hdrs ? Object.fromEntries(hdrs.keys().map((k) => [k, hdrs.values(k)])) : undefined,
      data: Buffer.from(data).toString("base64"),
    });
    if (o.dump === "-") io.stdout.write(doc + "\0");
    else {
      const seq = parseJsAck(reply)?.streamSeq ?? n;
      fs.writeFileSync(path.join(o.dump, `${seq}${matchedReply ? "_reply" : ""}.json`), doc, { mode: 0o600 });
    }
    return;
  }
  if (o.raw) {
    printPayload(io, data);
    return;
  }
  let ts = "";
  if (o.timestamp) ts = ` @ ${new Date().toISOString()}`;
  else if (o.deltaTime) ts = ` @ ${fmtDuration(performance.now() - started)}`;
  if (matchedReply) println(io, `[#${n}]${ts} Matched reply on "${subject}"`);
  else if (jsSummary) println(io, `[#${n}]${ts} Received JetStream message: ${jsSummary}`);
  else println(io, `[#${n}]${ts} Received on "${subject}"${reply ? ` with reply "${reply}"` : ""}`);
  if (!o.subjectsOnly) printMessage(io, hdrs, data, o.headersOnly);
}

function jsSummary(m: JsMsg): string {
  const ts = new Date(Number(m.info.timestampNanos / 1_000_000));
  return `stream: ${m.info.stream} seq: ${fmtNum(m.seq)} / pending: ${fmtNum(m.info.pending)} / subject: ${m.subject} / time: ${fmtTime(ts)}`;
}

async function subscribeAction(s: Session, io: CliIO, o: SubOpts, subjects: string[]): Promise<void> {
  const limit = o.count !== undefined ? parseInteger(o.count, "--count", 0) : 0;
  const waitMs = o.wait ? parseDurationMs(o.wait, "--wait") : 0;
  if (o.dump && o.dump !== "-") fs.mkdirSync(o.dump, { recursive: true });
  const nc = await s.nc();
  const ignored = o.ignoreSubject ?? [];
  const isIgnored = (subj: string): boolean => ignored.some((p) => subjectMatches(p, subj));
  const started = performance.now();
  let received = 0;
  let lastActivity = Date.now();
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const jsMode = o.stream !== undefined || o.durable !== undefined || o.all || o.new || o.last || o.since !== undefined || o.lastPerSubject || o.startSequence !== undefined;
  const cleanups: (() => Promise<void> | void)[] = [];

  if (o.inbox) subjects = [createInbox(s.effective.ctx.inbox_prefix || undefined)];
  if (o.timestamp && o.deltaTime) throw new CliError("timestamp and delta-time flags are mutually exclusive");
  if (jsMode && o.matchReplies) throw new CliError("cannot enable --match-replies for JetStream streams");
  if (jsMode && o.graph) throw new CliError("--graph is only supported for core NATS subscriptions", "graph the stream with `tsnats stream graph`");
  // --report-subscriptions is --report-subjects keyed by the subscription's pattern.
  const report = o.reportSubjects || o.reportSubscriptions ? new SubjectReport(io, parseInteger(o.reportTop, "--report-top")) : undefined;
  const graph = !report && o.graph ? new SubGraph(io, subjects) : undefined;
  const view = report ?? graph;

  if (jsMode) {
    const jsm = await s.jsm();
    let stream = o.stream;
    if (stream === undefined) {
      if (subjects.length === 0) throw new CliError("no subjects or --stream given", "give a subject stored in a stream, or --stream NAME");
      stream = await jsm.streams.find(subjects[0]).catch(() => {
        throw new CliError(`no stream holds subject "${subjects[0]}"`, "list streams and their subjects with `tsnats stream ls`");
      });
    }
    const js = await s.js();
    let messages: ConsumerMessages;
    if (o.durable) {
      const c = await js.consumers.get(stream, o.durable);
      messages = await c.consume();
      logf(io, `Subscribing to JetStream Stream "${stream}" using existing pull consumer "${o.durable}"`);
    } else {
      const oc: Partial<OrderedConsumerOptions> = {};
      // A single filter as a string: nats.js sends it as filter_subject (servers before 2.10 need that).
      if (subjects.length > 0) oc.filter_subjects = subjects.length === 1 ? subjects[0] : subjects;
      let what = "for new messages";
      if (o.startSequence !== undefined) {
        oc.deliver_policy = DeliverPolicy.StartSequence;
        oc.opt_start_seq = parseInteger(o.startSequence, "--start-sequence", 1);
        what = `starting at sequence ${oc.opt_start_seq}`;
      } else if (o.all) {
        oc.deliver_policy = DeliverPolicy.All;
        what = "from first received message";
      } else if (o.last) {
        oc.deliver_policy = DeliverPolicy.Last;
        what = "from last received message";
      } else if (o.lastPerSubject) {
        oc.deliver_policy = DeliverPolicy.LastPerSubject;
        what = "for last message per subject";
      } else if (o.since !== undefined) {
        const ms = parseDurationMs(o.since, "--since");
        oc.deliver_policy = DeliverPolicy.StartTime;
        oc.opt_start_time = new Date(Date.now() - ms).toISOString();
        what = `since ${fmtDuration(ms)}`;
      } else {
        oc.deliver_policy = DeliverPolicy.New;
      }
      const c = await js.consumers.get(stream, oc);
      messages = await c.consume();
      logf(io, `Subscribing to JetStream Stream "${stream}" holding messages with subject ${subjects.join(", ") || ">"} ${what}`);
    }
    cleanups.push(() => messages.stop());
    if (o.terminateAtEnd) {
      // An empty stream has nothing to wait for.
      const info = await jsm.streams.info(stream);
      if (info.state.messages === 0 && !o.durable) finish();
    }
    void (async () => {
      try {
        for await (const m of messages) {
          lastActivity = Date.now();
          if (isIgnored(m.subject)) {
            if (o.durable) m.ack();
            continue;
          }
          received++;
          if (report) report.add(m.subject, m.data.length);
          else showReceived(io, o, received, m.subject, undefined, m.headers, m.data, started, jsSummary(m));
          if (o.durable || o.ack) m.ack();
          if ((limit > 0 && received >= limit) || (o.terminateAtEnd && m.info.pending === 0)) break;
        }
      } catch (err) {
        logf(io, `Consuming failed: ${(err as Error).message}`);
      }
      finish();
    })();
  } else {
    if (subjects.length === 0) throw new CliError("no subjects given", "give one or more subjects (wildcards allowed), or --inbox, or --stream NAME");
    const subs: Subscription[] = [];
    // --match-replies: requests wait (by reply subject) for their answer on the inboxes.
    const matched = o.matchReplies ? new Map<string, Msg>() : undefined;
    if (matched) {
      const prefix = s.effective.ctx.inbox_prefix || "_INBOX";
      const replies = nc.subscribe(`${prefix}.>`, {
        callback: (err, r: Msg) => {
          if (err) return;
          const request = matched.get(r.subject);
          if (!request) return;
          matched.delete(r.subject);
          showReceived(io, o, received, request.subject, request.reply, request.headers, request.data, started);
          showReceived(io, o, received, r.subject, r.reply, r.headers, r.data, started, undefined, true);
          if (limit > 0 && received >= limit && matched.size === 0) finish();
        },
      });
      cleanups.push(() => replies.unsubscribe());
    }
    for (const subj of subjects) {
      const sub = nc.subscribe(subj, {
        queue: o.queue,
        callback: (err, m: Msg) => {
          if (err) return;
          lastActivity = Date.now();
          if (isIgnored(m.subject)) return;
          received++;
          if (report) report.add(o.reportSubscriptions ? subj : m.subject, m.data.length);
          else if (graph) graph.add(subj);
          else if (matched && m.reply) matched.set(m.reply, m);
          else showReceived(io, o, received, m.subject, m.reply, m.headers, m.data, started);
          if (o.ack && m.reply && parseJsAck(m.reply)) m.respond(enc.encode("+ACK"));
          if (limit > 0 && received >= limit) {
            // With --match-replies, wait for the replies of requests already seen.
            subs.forEach((x) => x.unsubscribe());
            if (!matched || matched.size === 0) finish();
          }
        },
      });
      subs.push(sub);
    }
    await nc.flush();
    const ign = ignored.length > 0 ? ` ignoring ${ignored.join(", ")}` : "";
    if (o.queue) logf(io, `Subscribing on ${subjects.join(", ")} in group ${o.queue}${ign}`);
    else logf(io, `Subscribing on ${subjects.join(", ")}${ign}`);
    cleanups.push(() => subs.forEach((x) => x.unsubscribe()));
  }

  view?.start();
  let waitTimer: NodeJS.Timeout | undefined;
  if (waitMs > 0) {
    waitTimer = setInterval(() => {
      if (Date.now() - lastActivity >= waitMs) finish();
    }, Math.min(waitMs, 100));
  }
  await Promise.race([finished, aborted(io)]);
  if (waitTimer) clearInterval(waitTimer);
  for (const c of cleanups) await c();
  view?.stop();
  if (o.dump && o.dump !== "-" && !o.raw) logf(io, `Dumped ${received} messages to ${o.dump}`);
}

interface ReqOpts {
  raw?: boolean;
  header?: string[];
  count: string;
  replies: string;
  replyTimeout: string;
  waitForEmpty?: boolean;
  translate?: string;
  forceStdin?: boolean;
  templates: boolean;
  sendOn: string;
  wait: boolean;
}

async function requestAction(s: Session, io: CliIO, o: ReqOpts, subject: string, body: string | undefined): Promise<void> {
  const count = parseInteger(o.count, "--count", 1);
  const replies = parseInteger(o.replies, "--replies", 0);
  const replyTimeout = parseDurationMs(o.replyTimeout, "--reply-timeout");
  const nc = await s.nc();
  const useTemplates = o.templates !== false;
  // --send-on newline: one request per line of stdin (each line its own body).
  if (body === undefined && o.sendOn === "newline") {
    if (!o.raw) logf(io, "Reading payload from STDIN, one request per line");
    let n = 0;
    for await (const line of stdinLines(io)) await requestOne(line, ++n);
    return;
  }
  let payload: string | Uint8Array = body ?? "";
  if (body === undefined && (o.forceStdin || !io.stdin.isTTY)) {
    if (!o.raw) logf(io, "Reading payload from STDIN");
    payload = await readStdin(io);
  }
  for (let i = 1; i <= count; i++) await requestOne(payload, i);

  async function requestOne(payload: string | Uint8Array, i: number): Promise<void> {
    const vars = { count: i };
    const subj = useTemplates ? expandTemplate(subject, vars) : subject;
    const data = typeof payload === "string" ? enc.encode(useTemplates && hasTemplate(payload) ? expandTemplate(payload, vars) : payload) : payload;
    const hdrs = parseHeaders(o.header, vars);
    if (o.wait === false) {
      // --no-wait: sent like a request, no reply awaited.
      nc.publish(subj, data, { headers: hdrs, reply: createInbox(s.effective.ctx.inbox_prefix || undefined) });
      await nc.flush();
      if (!o.raw) logf(io, `Sent request on "${subj}" without waiting for a reply`);
      return;
    }
    if (!o.raw) logf(io, `Sending request on "${subj}"`);
    const start = performance.now();
    const show = (m: Msg): void => {
      const data = o.translate ? translate(m.data, o.translate, m.subject) : m.data;
      if (o.raw) {
        printPayload(io, data);
        return;
      }
      logf(io, `Received with rtt ${fmtDuration(performance.now() - start)}`);
      printMessage(io, m.headers, data);
    };
    try {
      if (replies === 1 && !o.waitForEmpty) {
        show(await nc.request(subj, data, { timeout: s.timeoutMs, headers: hdrs }));
      } else {
        const it = await nc.requestMany(subj, data, {
          maxWait: s.timeoutMs,
          headers: hdrs,
          strategy: replies > 0 ? ("count" as never) : ("stall" as never),
          maxMessages: replies > 0 ? replies : undefined,
          stall: replyTimeout,
        } as never);
        let got = 0;
        for await (const m of it) {
          if (o.waitForEmpty && m.data.length === 0) break;
          if (m.headers?.code === 503) {
            if (got === 0) throw new CliError("no responders are available", `is a service listening on "${subj}"? (tsnats reply ${subj})`);
            break;
          }
          got++;
          show(m);
          if (replies > 0 && got >= replies) break;
        }
        if (got === 0) throw new CliError(`no reply received within ${fmtDuration(s.timeoutMs)}`, "raise --timeout, or check that a service answers on that subject");
      }
    } catch (err) {
      const e = err as Error & { name?: string; code?: string };
      if (err instanceof CliError) throw err;
      if (/no responders/i.test(e.message) || e.name === "NoRespondersError") {
        throw new CliError("no responders are available", `is a service listening on "${subj}"? (tsnats reply ${subj})`);
      }
      if (/timeout/i.test(e.message) || e.name === "TimeoutError") {
        throw new CliError(`no reply received within ${fmtDuration(s.timeoutMs)}`, "raise --timeout, or check that a service answers on that subject");
      }
      throw err;
    }
  }
}

interface ReplyOpts {
  echo?: boolean;
  command?: string;
  queue: string;
  sleep?: string;
  header?: string[];
  count?: string;
}

async function replyAction(s: Session, io: CliIO, o: ReplyOpts, subject: string, body: string | undefined): Promise<void> {
  const limit = o.count !== undefined ? parseInteger(o.count, "--count", 0) : 0;
  const sleepMax = o.sleep ? parseDurationMs(o.sleep, "--sleep") : 0;
  let echo = o.echo === true;
  if (body === undefined && !o.command && !echo) {
    logf(io, "No body or command supplied, enabling echo mode");
    echo = true;
  }
  const nc = await s.nc();
  let i = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const sub = nc.subscribe(subject, { queue: o.queue });
  void (async () => {
    for await (const m of sub) {
      const n = i;
      logf(io, `[#${n}] Received on subject "${m.subject}":`);
      if (m.headers) for (const k of m.headers.keys()) for (const v of m.headers.values(k)) logf(io, `${k}: ${v}`);
      println(io);
      printPayload(io, m.data);
      if (sleepMax > 0) await sleep(io, Math.random() * sleepMax);
      const request = new TextDecoder().decode(m.data);
      const hdrs = parseHeaders(o.header, { count: n, request });
      let out: Uint8Array;
      let replyHdrs = hdrs;
      if (echo) {
        out = m.data;
        replyHdrs = hdrs ?? (await import("@nats-io/transport-node")).headers();
        if (m.headers) for (const k of m.headers.keys()) for (const v of m.headers.values(k)) replyHdrs.append(k, v);
        replyHdrs.append("NATS-Reply-Counter", String(n));
      } else if (o.command) {
        let cmd = o.command;
        m.subject.split(".").forEach((tok, idx) => (cmd = cmd.replaceAll(`{{${idx}}}`, tok)));
        cmd = expandTemplate(cmd, { count: n, request });
        const r = spawnSync(cmd, { shell: true, env: { ...process.env, ...io.env, NATS_REQUEST_SUBJECT: m.subject, NATS_REQUEST_BODY: request } });
        if (r.status !== 0) logf(io, `Command "${cmd}" failed to run: exit status ${r.status}`);
        out = new Uint8Array(Buffer.concat([r.stdout ?? Buffer.alloc(0), r.stderr ?? Buffer.alloc(0)]));
      } else {
        out = enc.encode(expandTemplate(body ?? "", { count: n, request }));
      }
      if (m.reply) nc.publish(m.reply, out, { headers: replyHdrs });
      i++;
      if (limit > 0 && i >= limit) {
        await nc.flush();
        finish();
        break;
      }
    }
  })();
  await nc.flush();
  logf(io, `Listening on "${subject}" in group "${o.queue}"`);
  await Promise.race([finished, aborted(io)]);
  sub.unsubscribe();
}

async function rttAction(s: Session, io: CliIO, o: { json?: boolean }, iterationsText: string): Promise<void> {
  const iterations = parseInteger(iterationsText, "iterations", 1);
  const base = connectionOptions(io, s.effective);
  const urls = base.servers as string[];
  const targets: { url: string; results: { address: string; rtt: number; time: string }[] }[] = [];
  for (const url of urls) {
    const t = { url, results: [] as { address: string; rtt: number; time: string }[] };
    const time = new Date().toISOString();
    let nc: NatsConnection | undefined;
    try {
      nc = await dial(s.effective, { ...base, servers: [url], maxReconnectAttempts: 0 });
      let total = 0;
      for (let i = 0; i < iterations; i++) {
        // nc.rtt() reports whole milliseconds; a local server answers in microseconds.
        const t0 = performance.now();
        await nc.flush();
        total += performance.now() - t0;
      }
      t.results.push({ address: url, rtt: Math.round((total / iterations) * 1e6), time });
    } catch (err) {
      logf(io, `Failed to compute rtt for ${url}: ${(err as Error).message}`);
      t.results.push({ address: url, rtt: 0, time });
    } finally {
      await nc?.close();
    }
    targets.push(t);
  }
  if (o.json) {
    printJson(io, targets);
    return;
  }
  const width = Math.max(3, ...targets.flatMap((t) => t.results.map((r) => r.address.length + 3)));
  for (const t of targets) {
    println(io, `${t.url}:\n`);
    for (const r of t.results) println(io, `${r.address.padStart(width)}: ${r.rtt > 0 ? fmtDuration(r.rtt / 1e6) : "failed"}`);
    println(io);
  }
  if (targets.every((t) => t.results.every((r) => r.rtt === 0))) throw new CliError("no server could be reached", "check --server or the context's URLs");
}

export function registerCore(app: App): void {
  const p = app.program;

  const pub = p
    .command("publish <subject> [body]")
    .alias("pub")
    .description("Generic data publish utility (body and subject may use templates like {{ Count }}, {{ Random 10 100 }})")
    .option("--reply <subject>", "Sets a custom reply to subject")
    .option("-H, --header <K:V>", "Adds headers to the message using K:V format (repeatable)", collect)
    .option("--count <n>", "Publish multiple messages", "1")
    .option("--sleep <duration>", "When publishing multiple messages, sleep between publishes")
    .option("--force-stdin", "Force reading from stdin")
    .option("-J, --jetstream", "Publish messages to JetStream and wait for the acknowledgement")
    .option("-q, --quiet", "Show just the output received")
    .option("--atomic", "Atomic batch publish to JetStream (implies --jetstream)")
    .option("--schedule-after <duration>", "Schedule the message after a certain duration (implies --jetstream)")
    .option("--schedule-at <time>", "Schedule the message at a certain RFC3339 time (implies --jetstream)")
    .option("--schedule-cron <cron>", "Cron definition for a scheduled message (implies --jetstream)")
    .option("--schedule-dest <subject>", "Subject the message will publish to when the schedule fires (implies --jetstream)")
    .option("--schedule-every <duration>", "Schedules the message every interval (implies --jetstream)")
    .option("--schedule-source <subject>", "Reads a specific subject when scheduling (implies --jetstream)")
    .option("--schedule-ttl <duration>", "How long generated messages should live in the stream")
    .addOption(new Option("--send-on <when>", "When to send data from stdin: 'eof' or 'newline'").choices(["eof", "newline"]).default("eof"));
  boolFlag(pub, "templates", "Enables template functions in the body and subject (does not affect headers)", true);
  pub.action(app.action<PubOpts>(({ session, io, opts }, subject: string, body?: string) => publishAction(session, io, opts, subject, body)));

  p.command("subscribe [subjects...]")
    .alias("sub")
    .description("Generic subscription client")
    .option("--queue <group>", "Subscribe to a named queue group")
    .option("--durable <name>", "Use a durable consumer (requires JetStream)")
    .option("-r, --raw", "Show the raw data received")
    .option("--translate <command>", "Translate the message data by running it through the given command before output")
    .option("--ack", "Acknowledge JetStream message that have the correct metadata")
    .option("-i, --inbox", "Subscribes to a generated inbox")
    .option("--count <n>", "Quit after receiving this many messages")
    .option("--dump <directory>", "Dump received messages to files, 1 file per message. Specify - for null terminated STDOUT")
    .option("--headers-only", "Do not render any data, shows only headers")
    .option("--subjects-only", "Prints only the messages' subjects")
    .option("--start-sequence <seq>", "Starts at a specific Stream sequence (requires JetStream)")
    .option("--all", "Delivers all messages found in the Stream (requires JetStream)")
    .option("--new", "Delivers only future messages (requires JetStream)")
    .option("--last", "Delivers the most recent and all future messages (requires JetStream)")
    .option("--since <duration>", "Delivers messages received since a duration like 1d3h5m2s (requires JetStream)")
    .option("--last-per-subject", "Deliver the most recent messages for each subject in the Stream (requires JetStream)")
    .option("-T, --terminate-at-end", "Stops consuming messages from JetStream once all messages were received")
    .option("--stream <stream>", "Subscribe to a specific stream (requires JetStream)")
    .option("-I, --ignore-subject <subject>", "Subjects for which corresponding messages will be ignored (repeatable)", collect)
    .option("--wait <duration>", "Unsubscribe after this amount of time without any traffic")
    .option("-t, --timestamp", "Show timestamps in output")
    .option("-d, --delta-time", "Show time since start in output")
    .option("--match-replies", "Match replies to requests")
    .option("--report-subjects", "Subscribes to subject patterns and builds a de-duplicated report of active subjects receiving data")
    .option("--report-subscriptions", "Subscribes to subject patterns and builds a de-duplicated report of active subscriptions receiving data")
    .option("--report-top <n>", "Number of subjects to show when doing 'report-subjects'", "10")
    .option("--graph", "Graph the rate of messages received (on a terminal)")
    .action(app.action<SubOpts>(({ session, io, opts }, subjects: string[]) => subscribeAction(session, io, opts, subjects)));

  const req = p
    .command("request <subject> [body]")
    .alias("req")
    .description("Generic request-reply request utility")
    .option("-r, --raw", "Show just the output received")
    .option("-H, --header <K:V>", "Adds headers to the message using K:V format (repeatable)", collect)
    .option("--count <n>", "Publish multiple messages", "1")
    .option("--replies <n>", "Wait for multiple replies from services. 0 waits until timeout", "1")
    .option("--reply-timeout <duration>", "Maximum time between replies when waiting for more than one", "300ms")
    .option("--wait-for-empty", "Wait for multiple replies until a empty message is received")
    .option("--translate <command>", "Translate the message data by running it through the given command before output")
    .option("--force-stdin", "Force reading from stdin")
    .addOption(new Option("--send-on <when>", "When to send data from stdin: 'eof' or 'newline' (one request per line)").choices(["eof", "newline"]).default("eof"));
  boolFlag(req, "wait", "Wait for a reply from a service (default true; --no-wait only sends)", true);
  boolFlag(req, "templates", "Enables template functions in the body and subject (does not affect headers)", true);
  req.action(app.action<ReqOpts>(({ session, io, opts }, subject: string, body?: string) => requestAction(session, io, opts, subject, body)));

  p.command("reply <subject> [body]")
    .description("Generic service reply utility (the body may use {{ Request }} and {{ Count }})")
    .option("--echo", "Echo back what is received")
    .option("--command <command>", "Runs a command and responds with the output ({{0}}.. are subject tokens)")
    .option("-q, --queue <group>", "Queue group name", "NATS-RPLY-22")
    .option("--sleep <duration>", "Inject a random sleep delay between replies up to this duration max")
    .option("-H, --header <K:V>", "Adds headers to the message using K:V format (repeatable)", collect)
    .option("--count <n>", "Quit after receiving this many messages")
    .action(app.action<ReplyOpts>(({ session, io, opts }, subject: string, body?: string) => replyAction(session, io, opts, subject, body)));

  jsonFlag(p.command("rtt [iterations]").description("Compute round-trip time to NATS server"))
    .action(app.action<{ json?: boolean }>(({ session, io, opts }, iterations?: string) => rttAction(session, io, opts, iterations ?? "5")));
}
