// `tsnats server`: ping/info/list/report/request over the system account's $SYS.REQ services
// (any NATS server answers them; they need a user of the system account). Checks with
// Nagios-style output live in server_check.ts.
import { createInbox, type Msg } from "@nats-io/transport-node";
import { Command, Option } from "commander";
import { App, jsonFlag } from "./app.js";
import type { Session } from "./connection.js";
import { Columns, printJson, printTable } from "./output.js";
import { registerServerCheck } from "./server_check.js";
import { registerServerGraph } from "./server_graph.js";
import { registerServerWatch } from "./server_watch.js";
import { registerServerReportLinks } from "./server_report_links.js";
import { registerServerAdmin } from "./server_admin.js";
import { registerServerCluster } from "./server_cluster.js";
import { registerServerRequest } from "./server_request.js";
import { AssetExpression, goNames } from "./expression.js";
import { plot, Series } from "./graph.js";
import { compactNames, registerServerReportDowngrade, registerServerReportJetStream } from "./server_report_jetstream.js";
import { traceIn, traceOut } from "./trace.js";
import { CliError, println, type CliIO } from "./runtime.js";
import { fmtBytes, fmtDuration, fmtNum, parseInteger } from "./units.js";

/** A $SYS.REQ response: the answering server and its data (or an error). */
export interface SysResponse<T = Record<string, unknown>> {
  server: { name: string; host: string; id: string; cluster?: string; domain?: string; ver?: string; jetstream?: boolean; tags?: string[] };
  data?: T;
  statsz?: T;
  error?: { code: number; description?: string };
  rttMs: number;
}

const NO_SYSTEM = "use a user of the system account (--creds/--user for the $SYS account), and check that the server has one";

/**
 * Send a $SYS request and gather the answers of every server: until `expect` replies
 * arrived, or the timeout passed (natscli waits the whole timeout when it does not know how
 * many servers there are). A string body is sent as is (JWTs), anything else as JSON.
 */
export async function sysRequest<T = Record<string, unknown>>(s: Session, subject: string, body: unknown, expect = 0, timeoutMs = s.timeoutMs): Promise<SysResponse<T>[]> {
  const nc = await s.nc();
  const inbox = createInbox(s.effective.ctx.inbox_prefix || undefined);
  const out: SysResponse<T>[] = [];
  const start = performance.now();
  let noResponders = false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    // Once replies flow, stop 300 ms after the last one (natscli's behaviour is to wait the
    // full timeout; this is as complete on a single cluster and much quicker).
    let idle: NodeJS.Timeout | undefined;
    const sub = nc.subscribe(inbox, {
      callback: (_err, m: Msg) => {
        if (s.flags.trace) traceIn(s.io, subject, m.string());
        if (m.data.length === 0 && m.headers?.code === 503) {
          noResponders = true;
          return done();
        }
        try {
          out.push({ ...(m.json() as SysResponse<T>), rttMs: performance.now() - start });
        } catch {
          return;
        }
        if (expect > 0 && out.length >= expect) return done();
        if (expect === 0) {
          clearTimeout(idle);
          idle = setTimeout(done, 300);
        }
      },
    });
    function done(): void {
      clearTimeout(timer);
      clearTimeout(idle);
      sub.unsubscribe();
      resolve();
    }
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    if (s.flags.trace) traceOut(s.io, subject, text);
    nc.publish(subject, text, { reply: inbox });
  });
  if (noResponders) throw new CliError(`no server answered ${subject} (503 no responders)`, NO_SYSTEM);
  if (out.length === 0) throw new CliError(`no server answered ${subject} within ${fmtDuration(timeoutMs)}`, NO_SYSTEM);
  const errs = out.filter((r) => r.error);
  if (errs.length === out.length) throw new CliError(`${subject} failed: ${errs[0].error!.code} ${errs[0].error!.description ?? ""}`.trim(), errs[0].error!.code === 403 ? NO_SYSTEM : undefined);
  if (expect > 0 && out.length < expect) println(s.io, `\nMissing ${expect - out.length} server(s)\n`);
  return out;
}

type Varz = Record<string, any>;

function renderVarz(v: Varz): string {
  const cols = new Columns(`Server information for ${v.server_name} (${v.server_id})`);
  cols.title("Process Details");
  cols.field("Version", v.version);
  cols.fieldIf(v.git_commit, "Git Commit", v.git_commit);
  cols.fieldIf(v.go, "Go Version", v.go);
  cols.field("Start Time", v.start);
  cols.fieldIf(v.config_load_time, "Configuration Load Time", v.config_load_time);
  cols.field("Uptime", v.uptime);
  cols.title("Connection Details");
  cols.field("Auth Required", v.auth_required === true);
  cols.field("TLS Required", v.tls_required === true);
  cols.field("Host", `${v.host}:${v.port}`);
  (v.connect_urls ?? []).forEach((u: string, i: number) => cols.field(i === 0 ? "Client URLs" : "", u));
  if (v.jetstream?.config) {
    const js = v.jetstream;
    cols.title("JetStream");
    cols.fieldIf(js.config.domain, "Domain", js.config.domain);
    cols.field("Storage Directory", js.config.store_dir ?? "");
    cols.field("Active Accounts", fmtNum(js.stats?.accounts ?? 0));
    cols.field("Memory In Use", fmtBytes(js.stats?.memory ?? 0));
    cols.field("File In Use", fmtBytes(js.stats?.storage ?? 0));
    cols.field("API Requests", fmtNum(js.stats?.api?.total ?? 0));
    cols.field("API Errors", fmtNum(js.stats?.api?.errors ?? 0));
    cols.field("Maximum Memory Storage", fmtBytes(js.config.max_memory ?? -1));
    cols.field("Maximum File Storage", fmtBytes(js.config.max_storage ?? -1));
  }
  cols.title("Limits");
  cols.field("Maximum Connections", fmtNum(v.max_connections));
  cols.field("Maximum Subscriptions", fmtNum(v.max_subscriptions));
  cols.field("Maximum Payload", fmtBytes(v.max_payload));
  cols.field("TLS Timeout", `${v.tls_timeout}s`);
  cols.title("Statistics");
  cols.field("CPU Cores", `${v.cores} ${Number(v.cpu ?? 0).toFixed(2)}%`);
  cols.field("Memory", fmtBytes(v.mem));
  cols.field("Connections", fmtNum(v.connections));
  cols.field("Subscriptions", fmtNum(v.subscriptions));
  cols.field("Messages", `${fmtNum(v.in_msgs)} in ${fmtNum(v.out_msgs)} out`);
  cols.field("Bytes", `${fmtBytes(v.in_bytes)} in ${fmtBytes(v.out_bytes)} out`);
  cols.field("Slow Consumers", fmtNum(v.slow_consumers));
  return cols.render();
}

/** CONNZ "state" in $SYS request options is nats-server's ConnState number. */
/** --watch N on a report: redrawn every N seconds (App.action runs the loop). */
export function watchFlag(cmd: Command): Command {
  return cmd.option("--watch <seconds>", "Display the results and update it every (WATCH) seconds");
}

/** ConnState numbers of nats-server (connz `state`). */
export const CONN_STATE: Record<string, number> = { open: 0, closed: 1, all: 2 };

export function registerServer(app: App): void {
  const io = app.io;
  const srv = app.program.command("server").aliases(["srv", "sys", "system"]).description("Server information (needs a system account user)");

  srv
    .command("ping [expect]")
    .description("Ping all servers")
    .option("--id", "Include the Server ID in the output")
    .option("--graph", "Produce a response distribution graph")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ id?: boolean; json?: boolean; graph?: boolean }>(async ({ session, opts }, expect?: string) => {
        const n = expect ? parseInteger(expect, "expect", 1) : 0;
        const res = await sysRequest(session, "$SYS.REQ.SERVER.PING", undefined, n);
        if (opts.json) {
          printJson(io, res.map((r) => ({ server: r.server, rtt_ms: r.rttMs })));
          return n > 0 && res.length < n ? 1 : undefined;
        }
        const times: number[] = [];
        for (const r of res) {
          times.push(r.rttMs);
          const line = `${r.server.name.padEnd(60)} rtt=${fmtDuration(r.rttMs)}`;
          println(io, opts.id ? `${r.server.id} ${line}` : line);
        }
        println(io, "\n---- ping statistics ----");
        const max = Math.max(...times);
        const min = Math.min(...times);
        const avg = times.reduce((a, b) => a + b, 0) / times.length;
        println(io, `${times.length} replies max: ${max.toFixed(2)} min: ${min.toFixed(2)} avg: ${avg.toFixed(2)}`);
        if (opts.graph) {
          // How many answers came in each 25 ms after the request.
          const buckets = new Array<number>(Math.floor(max / 25) + 1).fill(0);
          for (const t of times) buckets[Math.floor(t / 25)]++;
          const series = new Series(buckets.length);
          for (const b of buckets) series.push(b);
          println(io, "\n" + plot(series, "Responses per 25ms", 15));
        }
        if (n > 0 && res.length < n) return 1;
      }),
    );

  jsonFlag(srv.command("info [server]").alias("i").description("Show information about a single server (ID or name; any one server when omitted)")).action(
    app.action<{ json?: boolean }>(async ({ session, opts }, server?: string) => {
      let res: SysResponse<Varz>[];
      if (server && /^N[A-Z0-9]{55}$/.test(server)) res = await sysRequest<Varz>(session, `$SYS.REQ.SERVER.${server}.VARZ`, undefined, 1);
      else res = await sysRequest<Varz>(session, "$SYS.REQ.SERVER.PING.VARZ", server ? { server_name: server, exact: true } : undefined, 1);
      const v = res[0].data;
      if (!v) throw new CliError(`no VARZ data in the answer of ${res[0].server.name}`);
      if (opts.json) return printJson(io, v);
      io.stdout.write(renderVarz(v));
    }),
  );

  jsonFlag(srv.command("list [expect]").alias("ls").description("List known servers"))
    .addOption(new Option("--sort <key>", "Sort servers by a specific key").choices(["name", "cluster", "conns", "subs", "mem", "cpu", "slow", "uptime", "rtt"]).default("rtt"))
    .option("-R, --reverse", "Reverse sort servers")
    .option("--compact", "Compact server names (default true)")
    .option("--no-compact", "Show server names as they are")
    .action(
      app.action<{ json?: boolean; sort: string; reverse?: boolean; compact?: boolean }>(async ({ session, opts }, expect?: string) => {
        const n = expect ? parseInteger(expect, "expect", 1) : 0;
        const res = await sysRequest(session, "$SYS.REQ.SERVER.PING", undefined, n);
        if (opts.json) return printJson(io, res.map(({ rttMs: _r, ...rest }) => rest));
        const st = (r: SysResponse): Record<string, any> => (r.statsz ?? {}) as Record<string, any>;
        const key = (r: SysResponse): number | string => {
          const s = st(r);
          switch (opts.sort) {
            case "name":
              return r.server.name;
            case "cluster":
              return r.server.cluster ?? "";
            case "conns":
              return s.connections ?? 0;
            case "subs":
              return s.subscriptions ?? 0;
            case "mem":
              return s.mem ?? 0;
            case "cpu":
              return s.cpu ?? 0;
            case "slow":
              return s.slow_consumers ?? 0;
            case "uptime":
              return Date.parse(s.start ?? 0);
            default:
              return r.rttMs;
          }
        };
        res.sort((a, b) => {
          const x = key(a);
          const y = key(b);
          const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return opts.reverse ? -c : c;
        });
        let conns = 0;
        let subs = 0;
        const names = opts.compact === false ? res.map((r) => r.server.name) : compactNames(res.map((r) => r.server.name));
        const rows = res.map((r, i) => {
          const s = st(r);
          conns += s.connections ?? 0;
          subs += s.subscriptions ?? 0;
          return [
            names[i],
            r.server.cluster ?? "",
            r.server.host,
            r.server.ver ?? "",
            r.server.jetstream ? "yes" : "no",
            fmtNum(s.connections ?? 0),
            fmtNum(s.subscriptions ?? 0),
            fmtNum((s.routes ?? []).length),
            fmtNum((s.gateways ?? []).length),
            fmtBytes(s.mem ?? 0),
            Number(s.cpu ?? 0).toFixed(1),
            s.cores ?? "",
            fmtNum(s.slow_consumers ?? 0),
            s.start ? fmtDuration(Date.now() - Date.parse(s.start)) : "",
            fmtDuration(r.rttMs),
          ];
        });
        printTable(
          io,
          ["Name", "Cluster", "Host", "Version", "JS", "Conns", "Subs", "Routes", "GWs", "Mem", "CPU %", "Cores", "Slow", "Uptime", "RTT"],
          rows,
          "Server Overview",
          ["", "", "", "", "", fmtNum(conns), fmtNum(subs), "", "", "", "", "", "", "", ""],
        );
        if (n > 0 && res.length < n) return 1;
      }),
    );

  const report = srv.command("report").alias("rep").description("Report on various server metrics");
  jsonFlag(watchFlag(report.command("connections [limit]").aliases(["conn", "connz", "conns"]).description("Report on connections")))
    .option("--account <account>", "Limit report to a specific account")
    .addOption(new Option("--sort <key>", "Sort by a specific property").choices(["in-bytes", "out-bytes", "in-msgs", "out-msgs", "uptime", "cid", "subs"]).default("subs"))
    .option("--top <n>", "Limit results to the top results", "1000")
    .option("--subject <subject>", "Limits responses only to those connections with matching subscription interest")
    .option("--username <user>", "Limits responses only to those connections for a specific authentication username")
    .addOption(new Option("--state <state>", "Limits responses to connections in a state").choices(["open", "closed", "all"]).default("open"))
    .option("--closed-reason <reason>", "Filter results based on a closed reason (a regular expression, lower case)")
    .option("--filter <expression>", "Expression based filter for connections: conn (the JSON), Conn (Go's names), server, Server, e.g. 'Conn.InMsgs > 10'")
    .action(
      app.action<{ json?: boolean; account?: string; sort: string; top: string; subject?: string; username?: string; state: string; closedReason?: string; filter?: string }>(async ({ session, opts }, limit?: string) => {
        if (opts.closedReason && opts.filter) throw new CliError("--closed-reason and --filter are mutually exclusive");
        // A closed reason only exists on closed connections: ask for them (natscli does too).
        const state = opts.closedReason && opts.state === "open" ? "closed" : opts.state;
        const body: Record<string, unknown> = { limit: 10000, subscriptions: true, auth: true, state: CONN_STATE[state] };
        if (opts.account) body.acc = opts.account;
        if (opts.subject) body.filter_subject = opts.subject;
        if (opts.username) body.user = opts.username;
        const res = await sysRequest<{ connections?: Record<string, any>[]; total?: number }>(session, "$SYS.REQ.SERVER.PING.CONNZ", body, limit ? parseInteger(limit, "limit", 1) : 0);
        const conns: (Record<string, any> & { _server: string })[] = [];
        const reason = opts.closedReason ? new RegExp(opts.closedReason) : undefined;
        const expression = opts.filter ? new AssetExpression(opts.filter) : undefined;
        for (const r of res) {
          const kept: Record<string, any>[] = [];
          for (const c of r.data?.connections ?? []) {
            if (reason && !reason.test(String(c.reason ?? "").toLowerCase())) continue;
            if (expression && !expression.holds({ conn: c, Conn: goNames(c), conns: c, Conns: goNames(c), server: r.server, Server: goNames(r.server) })) continue;
            kept.push(c);
            conns.push({ ...c, _server: r.server.name });
          }
          if (r.data && (reason || expression)) r.data.connections = kept;
        }
        if (opts.json) return printJson(io, res.map((r) => r.data));
        const sortKey: Record<string, string> = { "in-bytes": "in_bytes", "out-bytes": "out_bytes", "in-msgs": "in_msgs", "out-msgs": "out_msgs", cid: "cid", subs: "subscriptions" };
        if (opts.sort === "uptime") conns.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
        else conns.sort((a, b) => (b[sortKey[opts.sort]] ?? 0) - (a[sortKey[opts.sort]] ?? 0));
        const top = conns.slice(0, parseInteger(opts.top, "--top", 1));
        printTable(
          io,
          ["CID", "Name", "Server", "IP", "Account", "Uptime", "In Msgs", "Out Msgs", "In Bytes", "Out Bytes", "Subs"],
          top.map((c) => [c.cid, c.name ?? "", c._server, c.ip ?? "", c.account ?? "", c.uptime ?? "", fmtNum(c.in_msgs), fmtNum(c.out_msgs), fmtBytes(c.in_bytes), fmtBytes(c.out_bytes), fmtNum(c.subscriptions)]),
          `Top ${top.length} Connections out of ${conns.length} by ${opts.sort}`,
          ["", "", "", "", "", "", fmtNum(top.reduce((a, c) => a + (c.in_msgs ?? 0), 0)), fmtNum(top.reduce((a, c) => a + (c.out_msgs ?? 0), 0)), fmtBytes(top.reduce((a, c) => a + (c.in_bytes ?? 0), 0)), fmtBytes(top.reduce((a, c) => a + (c.out_bytes ?? 0), 0)), fmtNum(top.reduce((a, c) => a + (c.subscriptions ?? 0), 0))],
        );
      }),
    );

  jsonFlag(watchFlag(report.command("accounts [account] [limit]").alias("acct").description("Report on account activity")))
    .addOption(new Option("--sort <key>", "Sort by a specific property").choices(["in-bytes", "out-bytes", "in-msgs", "out-msgs", "conns", "subs"]).default("subs"))
    .option("--top <n>", "Limit results to the top results", "1000")
    .action(
      app.action<{ json?: boolean; sort: string; top: string }>(async ({ session, opts }, account?: string, limit?: string) => {
        const body: Record<string, unknown> = { limit: 10000, subscriptions: true, auth: true };
        if (account) body.acc = account;
        const res = await sysRequest<{ connections?: Record<string, any>[] }>(session, "$SYS.REQ.SERVER.PING.CONNZ", body, limit ? parseInteger(limit, "limit", 1) : 0);
        const accs = new Map<string, { account: string; conns: number; in_msgs: number; out_msgs: number; in_bytes: number; out_bytes: number; subs: number }>();
        for (const r of res)
          for (const c of r.data?.connections ?? []) {
            const name = c.account ?? "";
            const a = accs.get(name) ?? { account: name, conns: 0, in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0, subs: 0 };
            a.conns++;
            a.in_msgs += c.in_msgs ?? 0;
            a.out_msgs += c.out_msgs ?? 0;
            a.in_bytes += c.in_bytes ?? 0;
            a.out_bytes += c.out_bytes ?? 0;
            a.subs += c.subscriptions ?? 0;
            accs.set(name, a);
          }
        const key = opts.sort.replace("-", "_") as "in_bytes" | "out_bytes" | "in_msgs" | "out_msgs" | "conns" | "subs";
        const list = [...accs.values()].sort((a, b) => b[key] - a[key]).slice(0, parseInteger(opts.top, "--top", 1));
        if (opts.json) return printJson(io, list);
        printTable(
          io,
          ["Account", "Connections", "In Msgs", "Out Msgs", "In Bytes", "Out Bytes", "Subs"],
          list.map((a) => [a.account, fmtNum(a.conns), fmtNum(a.in_msgs), fmtNum(a.out_msgs), fmtBytes(a.in_bytes), fmtBytes(a.out_bytes), fmtNum(a.subs)]),
          `${list.length} Accounts Overview`,
        );
      }),
    );

  registerServerReportJetStream(app, report);
  registerServerReportDowngrade(app, report);
  registerServerReportLinks(app, report);

  registerServerRequest(app, srv);
  registerServerCheck(app, srv);
  registerServerWatch(app, srv);
  registerServerGraph(app, srv);
  registerServerAdmin(app, srv);
  registerServerCluster(app, srv);
  void io as unknown as CliIO;
}
