// `tsnats account`: who am I connected as, what JetStream allows me, connection reports for
// my account, and backup/restore of every stream of the account (natscli's layout: one
// stream backup directory per stream inside the target).
import fs from "node:fs";
import path from "node:path";
import { Option } from "commander";
import type { JetStreamAccountStats } from "@nats-io/jetstream";
import { App, collect, jsonFlag } from "./app.js";
import { Columns, printJson, printTable } from "./output.js";
import { askConfirm } from "./prompt.js";
import { CliError, println } from "./runtime.js";
import { CONN_STATE, sysRequest } from "./server_cmd.js";
import { backupStream, META_FILE, restoreStream } from "./snapshot.js";
import { listStreams } from "./stream_cmd.js";
import { fmtBytes, fmtDuration, fmtNum, parseInteger } from "./units.js";

const unlimited = (n: number | undefined, f: (n: number) => string = fmtNum): string => (n === undefined || n < 0 ? "Unlimited" : f(n));

export function registerAccount(app: App): void {
  const io = app.io;
  const act = app.program.command("account").alias("a").description("Account information and status");

  jsonFlag(act.command("info").alias("nfo").description("Account information")).action(
    app.action<{ json?: boolean }>(async ({ session, opts }) => {
      const nc = await session.nc();
      const user = await nc
        .request("$SYS.REQ.USER.INFO", "", { timeout: session.timeoutMs })
        .then((m) => m.json<{ data?: Record<string, any>; error?: unknown }>().data)
        .catch(() => undefined);
      let js: JetStreamAccountStats | undefined;
      let jsError = "";
      try {
        js = await (await session.jsm()).getAccountInfo();
      } catch (err) {
        jsError = (err as Error).message;
      }
      const info = nc.info;
      const t0 = performance.now();
      await nc.flush();
      const rtt = performance.now() - t0;
      if (opts.json) return printJson(io, { user, server: info, jetstream: js ?? null, rtt_ms: rtt });
      const cols = new Columns("Account Information");
      if (user) {
        cols.fieldIf(user.user, "User", user.user);
        cols.field("Account", user.account ?? "");
        cols.field("Expires", user.expires ? fmtDuration(user.expires / 1e6) : "never");
      }
      cols.field("Client ID", info?.client_id ?? "");
      cols.field("Client IP", info?.client_ip ?? "");
      cols.field("RTT", fmtDuration(rtt));
      cols.field("Headers Supported", info?.headers === true);
      cols.field("Maximum Payload", fmtBytes(info?.max_payload ?? 0));
      cols.fieldIf(info?.cluster, "Connected Cluster", info?.cluster);
      const server = nc.getServer();
      cols.field("Connected URL", server.includes("://") ? server : `nats://${server}`);
      cols.field("Connected Server ID", info?.server_id ?? "");
      cols.field("Connected Server Version", info?.version ?? "");
      cols.fieldIf(info?.server_name && info.server_name !== info.server_id, "Connected Server Name", info?.server_name);
      cols.field("TLS Connection", info?.tls_required ? "yes" : "no");
      const perms = user?.permissions as { publish?: { allow?: string[]; deny?: string[] }; subscribe?: { allow?: string[]; deny?: string[] } } | undefined;
      if (perms) {
        cols.title("Connection Permissions");
        const list = (label: string, v?: string[]): void => void (v?.length && cols.field(label, v.join(", ")));
        list("Publish Allow", perms.publish?.allow);
        list("Publish Deny", perms.publish?.deny);
        list("Subscribe Allow", perms.subscribe?.allow);
        list("Subscribe Deny", perms.subscribe?.deny);
      }
      if (js) {
        cols.title(js.domain ? `JetStream Account Information for domain ${js.domain}` : "JetStream Account Information");
        cols.title("Account Usage");
        cols.fieldIf(js.domain, "Domain", js.domain);
        cols.field("Storage", fmtBytes(js.storage));
        cols.field("Memory", fmtBytes(js.memory));
        cols.field("Streams", fmtNum(js.streams));
        cols.field("Consumers", fmtNum(js.consumers));
        cols.title("Account Limits");
        cols.field("Max Message Payload", fmtBytes(info?.max_payload ?? 0));
        const l = js.limits;
        cols.field("Stream Requires Max Bytes Set", l.max_bytes_required === true);
        cols.field("Consumer Maximum Ack Pending", l.max_ack_pending && l.max_ack_pending > 0 ? fmtNum(l.max_ack_pending) : "Unlimited");
        cols.field("Memory", `${fmtBytes(js.memory)} of ${unlimited(l.max_memory, fmtBytes)}`);
        cols.field("Storage", `${fmtBytes(js.storage)} of ${unlimited(l.max_storage, fmtBytes)}`);
        cols.field("Streams", `${fmtNum(js.streams)} of ${unlimited(l.max_streams)}`);
        cols.field("Consumers", l.max_consumers < 0 ? "Unlimited" : `Maximum ${fmtNum(l.max_consumers)} per stream`);
      } else {
        cols.title("JetStream Account Information");
        cols.line(`   JetStream is not supported in this account (${jsError})`);
      }
      cols.print(io);
    }),
  );

  const report = act.command("report").alias("rep").description("Report on account metrics");
  jsonFlag(report.command("connections").aliases(["conn", "connz", "conns"]).description("Report on connections"))
    .addOption(new Option("--sort <key>", "Sort by a specific property").choices(["in-bytes", "out-bytes", "in-msgs", "out-msgs", "uptime", "cid", "subs"]).default("subs"))
    .option("--top <n>", "Limit results to the top results", "1000")
    .option("--subject <subject>", "Limits responses only to those connections with matching subscription interest")
    .option("--username <user>", "Limits responses only to those connections for a specific authentication username")
    .option("-R, --reverse", "Reverse sort connections")
    .addOption(new Option("--state <state>", "Limits responses only to those connections that are in a specific state (open, closed, all)").choices(["open", "closed", "all"]).default("open"))
    .option("--closed-reason <reason>", "Filter results based on a closed reason (a regular expression, lower case)")
    .action(
      app.action<{ json?: boolean; sort: string; top: string; subject?: string; username?: string; reverse?: boolean; state: string; closedReason?: string }>(async ({ session, opts }) => {
        // A closed reason only exists on closed connections: ask for them.
        const state = opts.closedReason && opts.state === "open" ? "closed" : opts.state;
        const body: Record<string, unknown> = { limit: 10000, subscriptions: true, auth: true, state: CONN_STATE[state] };
        if (opts.subject) body.filter_subject = opts.subject;
        if (opts.username) body.user = opts.username;
        const reason = opts.closedReason ? new RegExp(opts.closedReason) : undefined;
        const res = await sysRequest<{ connections?: Record<string, any>[] }>(session, "$SYS.REQ.ACCOUNT.PING.CONNZ", body);
        const conns: Record<string, any>[] = res.flatMap((r) => (r.data?.connections ?? []).filter((c) => !reason || reason.test(String(c.reason ?? "").toLowerCase())).map((c) => ({ ...c, _server: r.server.name })));
        const key: Record<string, string> = { "in-bytes": "in_bytes", "out-bytes": "out_bytes", "in-msgs": "in_msgs", "out-msgs": "out_msgs", cid: "cid", subs: "subscriptions" };
        if (opts.sort === "uptime") conns.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
        else conns.sort((a, b) => (b[key[opts.sort]] ?? 0) - (a[key[opts.sort]] ?? 0));
        if (opts.reverse) conns.reverse();
        const top = conns.slice(0, parseInteger(opts.top, "--top", 1));
        if (opts.json) return printJson(io, top);
        printTable(
          io,
          ["CID", "Name", "Server", "IP", "Uptime", "In Msgs", "Out Msgs", "In Bytes", "Out Bytes", "Subs"],
          top.map((c) => [c.cid, c.name ?? "", c._server, c.ip ?? "", c.uptime ?? "", fmtNum(c.in_msgs), fmtNum(c.out_msgs), fmtBytes(c.in_bytes), fmtBytes(c.out_bytes), fmtNum(c.subscriptions)]),
          `Top ${top.length} Connections out of ${conns.length} by ${opts.sort}`,
        );
      }),
    );
  jsonFlag(report.command("statistics").aliases(["stats", "statsz"]).description("Report on server statistics of this account")).action(
    app.action<{ json?: boolean }>(async ({ session, opts }) => {
      const res = await sysRequest<Record<string, any>>(session, "$SYS.REQ.ACCOUNT.PING.STATZ", { unused: true });
      const rows: Record<string, any>[] = res.flatMap((r) => ((r.data?.account_statz ?? []) as Record<string, any>[]).map((a) => ({ ...a, _server: r.server.name })));
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ["Server", "Account", "Connections", "Leafnodes", "Subscriptions", "Sent Msgs", "Sent Bytes", "Received Msgs", "Received Bytes", "Slow Consumers"],
        rows.map((a) => [a._server, a.acc ?? "", fmtNum(a.conns ?? 0), fmtNum(a.leafnodes ?? 0), fmtNum(a.num_subscriptions ?? 0), fmtNum(a.sent?.msgs ?? 0), fmtBytes(a.sent?.bytes ?? 0), fmtNum(a.received?.msgs ?? 0), fmtBytes(a.received?.bytes ?? 0), fmtNum(a.slow_consumers ?? 0)]),
        "Statistics",
      );
    }),
  );

  act
    .command("backup <target>")
    .alias("snapshot")
    .description("Creates a backup of all JetStream Streams over the NATS network (one directory per stream)")
    .option("--check", "Checks the Stream for health prior to backup")
    .option("--no-consumers", "Do not back up consumers")
    .option("-f, --force", "Perform backup without prompting")
    .option("-w, --critical-warnings", "Treat warnings as failures")
    .action(
      app.action<{ check?: boolean; consumers: boolean; force?: boolean; criticalWarnings?: boolean }>(async ({ session, opts }, target: string) => {
        const jsm = await session.jsm();
        const streams = await listStreams(jsm);
        if (streams.length === 0) throw new CliError("no streams found in this account");
        const totalSize = streams.reduce((a, s) => a + s.state.bytes, 0);
        const totalConsumers = streams.reduce((a, s) => a + s.state.consumer_count, 0);
        const cols = new Columns(`Performing backup of all streams to ${target}`);
        cols.field("Streams", fmtNum(streams.length)).field("Size", fmtBytes(totalSize)).field("Consumers", fmtNum(totalConsumers));
        cols.print(io);
        println(io);
        const warnings: string[] = streams.filter((s) => s.config.storage === "memory").map((s) => `${s.config.name}: memory stream, its data is not kept across server restarts`);
        if (!opts.force && !(await askConfirm(io, "Perform backup", false))) return;
        if (fs.existsSync(target) && fs.readdirSync(target).length > 0) throw new CliError(`target directory ${target} is not empty`, "give a new or empty directory");
        fs.mkdirSync(target, { recursive: true, mode: 0o700 });
        const failures: string[] = [];
        for (const s of streams) {
          const name = s.config.name;
          try {
            const r = await backupStream(session, name, path.join(target, name), { progress: true, consumers: opts.consumers, check: opts.check === true, chunkSize: 128 * 1024 });
            println(io, `Received ${fmtBytes(r.bytes)} compressed data in ${fmtNum(r.chunks)} chunks for stream ${name} in ${(r.ms / 1000).toFixed(2)}s`);
          } catch (err) {
            println(io, `Backup of ${name} failed: ${(err as Error).message}`);
            failures.push(`${name}: ${(err as Error).message}`);
          }
        }
        if (warnings.length > 0) {
          println(io, "\nBackup Warnings:");
          for (const w of warnings) println(io, `  ${w}`);
        }
        if (failures.length > 0) {
          println(io, "\nBackup failures:");
          for (const f of failures) println(io, `  ${f}`);
        }
        if (failures.length > 0 || (opts.criticalWarnings && warnings.length > 0)) throw new CliError("backup failed", "see the failures above; backups of the other streams are complete");
      }),
    );

  act
    .command("restore <directory>")
    .description("Restore an account backup over the NATS network (safe to run again: restored streams are skipped)")
    .option("--cluster <name>", "Place the stream in a specific cluster")
    .option("--tag <tag>", "Place the stream on servers that has specific tags (repeatable)", collect)
    .option("--no-progress", "Disables progress reporting")
    .action(
      app.action<{ cluster?: string; tag?: string[]; progress: boolean }>(async ({ session, opts }, dir: string) => {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
        } catch {
          throw new CliError(`cannot read backup directory ${dir}`);
        }
        for (const e of entries) if (!fs.existsSync(path.join(dir, e.name, META_FILE))) throw new CliError(`${path.join(dir, e.name)} is not a stream backup: ${META_FILE} is missing`);
        if (entries.length === 0) throw new CliError(`no stream backups in ${dir}`);
        println(io, `Restoring backup of all ${entries.length} streams in directory "${dir}"\n`);
        let restored = 0;
        for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
          const r = await restoreStream(session, path.join(dir, e.name), { progress: opts.progress, cluster: opts.cluster, tags: opts.tag });
          if (r.alreadyRestored) println(io, `Stream "${r.stream}" is already restored, skipping`);
          else {
            restored++;
            println(io, `Restored stream "${r.stream}" in ${(r.ms / 1000).toFixed(2)}s`);
          }
        }
        println(io, `\nRestored ${restored} of ${entries.length} streams`);
      }),
    );
}
