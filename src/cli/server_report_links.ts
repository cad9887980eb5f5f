// `tsnats server report routes|gateways|leafnodes|health|cpu|mem`: natscli's cluster, super
// cluster, leaf node, health and resource reports, from ROUTEZ, GATEWAYZ, LEAFZ, HEALTHZ and
// STATSZ gathered from every server over $SYS.REQ.SERVER.PING.*.
import { Command, Option } from "commander";
import type { App } from "./app.js";
import type { Session } from "./connection.js";
import { printJson, printTable } from "./output.js";
import { println, type CliIO } from "./runtime.js";
import { sysRequest, watchFlag, type SysResponse } from "./server_cmd.js";
import { fmtBytes, fmtDuration, fmtNum, parseDurationMs, parseInteger } from "./units.js";

type Json = Record<string, any>;

export interface FilterFlags {
  host?: string;
  cluster?: string;
  tags?: string[];
  json?: boolean;
  reverse?: boolean;
}

/** The servers to ask: --host (a server name), --cluster, --tags (PING event filters). */
export function filterBody(o: FilterFlags, extra: Json = {}): Json {
  const body: Json = { ...extra };
  if (o.host) body.server_name = o.host;
  if (o.cluster) body.cluster = o.cluster;
  if (o.tags?.length) body.tags = o.tags;
  return body;
}

export function addFilters(cmd: Command): Command {
  return watchFlag(cmd)
    .option("--host <server>", "Limit the report to a specific NATS server")
    .option("--cluster <cluster>", "Limit the report to a specific Cluster")
    .option("--tags <tag>", "Limit the report to nodes matching certain tags (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("-j, --json", "Produce JSON output");
}

async function gather(s: Session, what: string, o: FilterFlags, limit: string | undefined, extra: Json = {}): Promise<SysResponse<Json>[]> {
  return sysRequest<Json>(s, `$SYS.REQ.SERVER.PING.${what}`, filterBody(o, extra), limit ? parseInteger(limit, "limit", 1) : 0);
}

/** "abcdefghij...qrstuvwxyz" for account keys, as natscli shortens them. */
const shortAccount = (a: string | undefined): string => (a && a.length > 23 ? `${a.slice(0, 10)}...${a.slice(-10)}` : (a ?? ""));

/** An RTT as nats-server writes it ("1.234ms") made readable; slow ones marked. */
function rtt(text: string | undefined, slowMs: number): string {
  if (!text) return "";
  let ms: number;
  try {
    ms = parseDurationMs(text, "rtt");
  } catch {
    return text;
  }
  return ms < slowMs ? fmtDuration(ms) : `${fmtDuration(ms)} (slow)`;
}

/** Horizontal bars, smallest first, as natscli's BarGraph. */
export function barGraph(io: CliIO, data: Map<string, number>, caption: string, width: number, bytes: boolean): void {
  const keys = [...data.keys()].sort((a, b) => data.get(a)! - data.get(b)! || a.localeCompare(b));
  const values = [...data.values()];
  const min = Math.min(...values);
  const max = Math.max(...values);
  const longest = Math.max(0, ...keys.map((k) => k.length));
  println(io, caption);
  println(io, "");
  const steps = max === min ? max / width : (max - min) / width;
  for (const k of keys) {
    const v = data.get(k)!;
    const blocks = v === 0 ? 0 : keys.length === 1 || min === max ? width : Math.floor((v - min) / steps);
    const label = bytes ? fmtBytes(v) : v.toLocaleString("en-US", { maximumFractionDigits: 2 });
    println(io, `${" ".repeat(longest - k.length + 2)}${k}: ${blocks === 0 ? "▏" : "█".repeat(blocks)} (${label})`);
  }
}

export function registerServerReportLinks(app: App, report: Command): void {
  const io = app.io;
  const by = <T>(reverse: boolean | undefined, cmp: (a: T, b: T) => number) => (a: T, b: T): number => (reverse ? -cmp(a, b) : cmp(a, b));

  addFilters(report.command("routes [limit]").alias("route").description("Report on Route (Cluster) connections"))
    .addOption(new Option("--sort <key>", "Sort by a specific property").choices(["server", "cluster", "name", "account", "subs", "in-bytes", "out-bytes"]).default("server"))
    .option("-R, --reverse", "Reverse the sort")
    .action(
      app.action<FilterFlags & { sort: string }>(async ({ session, opts }, limit?: string) => {
        const res = await gather(session, "ROUTEZ", opts, limit);
        if (opts.json) return printJson(io, res.map((r) => ({ server: r.server, data: r.data })));
        const rows = res.flatMap((r) => ((r.data?.routes ?? []) as Json[]).map((route) => ({ server: r.server as Json, route })));
        const key: Record<string, (x: (typeof rows)[number]) => string | number> = {
          server: (x) => x.server.name,
          cluster: (x) => x.server.cluster ?? "",
          name: (x) => x.route.remote_name ?? "",
          account: (x) => x.route.account ?? "",
          subs: (x) => x.route.subscriptions ?? 0,
          "in-bytes": (x) => x.route.in_bytes ?? 0,
          "out-bytes": (x) => x.route.out_bytes ?? 0,
        };
        const cmp = (a: string | number, b: string | number): number => (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)));
        rows.sort(by(opts.reverse, (a, b) => cmp(key[opts.sort](a), key[opts.sort](b)) || cmp(a.server.name, b.server.name) || cmp(a.route.remote_name ?? "", b.route.remote_name ?? "") || cmp(a.route.account ?? "", b.route.account ?? "")));
        let last = { server: "", cluster: "", remote: "" };
        const tot = { subs: 0, in: 0, out: 0 };
        const servers = new Set<string>();
        const clusters = new Set<string>();
        const table = rows.map(({ server, route }) => {
          servers.add(server.name);
          clusters.add(server.cluster ?? "");
          const newServer = server.name !== last.server;
          if (newServer) last = { server: "", cluster: "", remote: "" };
          const cells = [
            newServer ? server.name : "",
            server.cluster !== last.cluster ? (server.cluster ?? "") : "",
            route.remote_name !== last.remote ? (route.remote_name ?? "") : "",
            shortAccount(route.account),
            `${route.ip}:${route.port}`,
            `rid:${route.rid}`,
            route.uptime ?? "",
            rtt(route.rtt, 100),
            fmtNum(route.subscriptions ?? 0),
            fmtBytes(route.in_bytes ?? 0),
            fmtBytes(route.out_bytes ?? 0),
          ];
          last = { server: server.name, cluster: server.cluster ?? "", remote: route.remote_name ?? "" };
          tot.subs += route.subscriptions ?? 0;
          tot.in += route.in_bytes ?? 0;
          tot.out += route.out_bytes ?? 0;
          return cells;
        });
        printTable(io, ["Server", "Cluster", "Name", "Account", "Address", "ID", "Uptime", "RTT", "Subs", "Bytes In", "Bytes Out"], table, "Cluster Report", [
          fmtNum(servers.size),
          fmtNum(clusters.size),
          "",
          "",
          fmtNum(rows.length),
          "",
          "",
          "",
          fmtNum(tot.subs),
          fmtBytes(tot.in),
          fmtBytes(tot.out),
        ]);
      }),
    );

  addFilters(report.command("gateways [limit]").aliases(["super", "gateway"]).description("Report on Gateway (Super Cluster) connections"))
    .option("--filter-name <name>", "Limits responses to a certain gateway name")
    .addOption(new Option("--sort <key>", "Sorts by a specific property").choices(["server", "cluster"]).default("cluster"))
    .option("-R, --reverse", "Reverse the sort")
    .action(
      app.action<FilterFlags & { sort: string; filterName?: string }>(async ({ session, opts }, limit?: string) => {
        const res = await gather(session, "GATEWAYZ", opts, limit, { accounts: true, ...(opts.filterName ? { gateway_name: opts.filterName } : {}) });
        if (opts.json) return printJson(io, res.map((r) => ({ server: r.server, data: r.data })));
        const primary = (r: SysResponse<Json>): string => (opts.sort === "server" ? r.server.name : (r.server.cluster ?? ""));
        const secondary = (r: SysResponse<Json>): string => (opts.sort === "server" ? (r.server.cluster ?? "") : r.server.name);
        res.sort(by(opts.reverse, (a, b) => primary(a).localeCompare(primary(b)) || secondary(a).localeCompare(secondary(b))));
        const rows: (string | number)[][] = [];
        let conns = 0;
        let bytes = 0;
        const clusters = new Set<string>();
        for (const r of res) {
          const d = r.data ?? {};
          clusters.add(r.server.cluster ?? "");
          rows.push([r.server.name, r.server.cluster ?? "", d.port ?? "", "", "", "", "", "", "", ""]);
          let direction = "";
          const line = (kind: string, gname: string, c: Json, accounts: unknown[], b: number): void => {
            conns++;
            bytes += b;
            rows.push(["", "", "", kind !== direction ? kind : "", `${gname} ${c.ip}:${c.port}`, `gid:${c.cid}`, c.uptime ?? "", rtt(c.rtt, 300), fmtBytes(b), fmtNum(accounts.length)]);
            direction = kind;
          };
          for (const [gname, list] of Object.entries((d.inbound_gateways ?? {}) as Record<string, Json[]>)) for (const g of list) line("Inbound", gname, g.connection ?? {}, g.accounts ?? [], g.connection?.in_bytes ?? 0);
          for (const [gname, g] of Object.entries((d.outbound_gateways ?? {}) as Record<string, Json>)) line("Outbound", gname, g.connection ?? {}, g.accounts ?? [], g.connection?.out_bytes ?? 0);
        }
        printTable(io, ["Server", "Name", "Port", "Kind", "Connection", "ID", "Uptime", "RTT", "Bytes", "Accounts"], rows, "Super Cluster Report", [fmtNum(res.length), fmtNum(clusters.size), "", "", fmtNum(conns), "", "", "", fmtBytes(bytes), ""]);
      }),
    );

  addFilters(report.command("leafnodes [limit]").aliases(["leaf", "leafz"]).description("Report on Leafnode connections"))
    .option("--account <account>", "Produce the report for a specific account")
    .addOption(new Option("--sort <key>", "Sort by a specific property").choices(["server", "name", "account", "subs", "in-bytes", "out-bytes", "in-msgs", "out-msgs"]).default("server"))
    .option("-R, --reverse", "Reverse the sort")
    .action(
      app.action<FilterFlags & { sort: string; account?: string }>(async ({ session, opts }, limit?: string) => {
        const res = await gather(session, "LEAFZ", opts, limit, opts.account ? { account: opts.account } : {});
        if (opts.json) return printJson(io, res.map((r) => ({ server: r.server, data: r.data })));
        const leafs = res.flatMap((r) => ((r.data?.leafs ?? []) as Json[]).map((leaf) => ({ server: r.server.name, leaf })));
        const field: Record<string, string> = { name: "name", account: "account", subs: "subscriptions", "in-bytes": "in_bytes", "out-bytes": "out_bytes", "in-msgs": "in_msgs", "out-msgs": "out_msgs" };
        const val = (x: (typeof leafs)[number]): string | number => (opts.sort === "server" ? x.server : (x.leaf[field[opts.sort]] ?? ""));
        leafs.sort(by(opts.reverse, (a, b) => {
          const x = val(a);
          const y = val(b);
          return typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        }));
        printTable(
          io,
          ["Server", "Name", "Account", "Address", "RTT", "Msgs In", "Msgs Out", "Bytes In", "Bytes Out", "Subs", "Compressed", "Spoke"],
          leafs.map(({ server, leaf }) => [
            server,
            leaf.name ?? "",
            shortAccount(leaf.account),
            `${leaf.ip}:${leaf.port}`,
            leaf.rtt ?? "",
            fmtNum(leaf.in_msgs ?? 0),
            fmtNum(leaf.out_msgs ?? 0),
            fmtBytes(leaf.in_bytes ?? 0),
            fmtBytes(leaf.out_bytes ?? 0),
            fmtNum(leaf.subscriptions ?? 0),
            String(leaf.compression ?? false),
            String(leaf.is_spoke ?? false),
          ]),
          "Leafnode Report",
        );
      }),
    );

  addFilters(report.command("health [limit]").description("Report on Server health"))
    .option("-J, --js-enabled", "Checks that JetStream should be enabled on all servers")
    .option("-S, --server-only", "Restricts the health check to the JetStream server only, do not check streams and consumers")
    .option("--account <account>", "Check only a specific Account")
    .option("--stream <stream>", "Check only a specific Stream")
    .option("--consumer <consumer>", "Check only a specific Consumer")
    .option("-R, --reverse", "Reverse the sort")
    .action(
      app.action<FilterFlags & { jsEnabled?: boolean; serverOnly?: boolean; account?: string; stream?: string; consumer?: string }>(async ({ session, opts }, limit?: string) => {
        const body: Json = { details: true };
        if (opts.jsEnabled) body["js-enabled-only"] = true;
        if (opts.serverOnly) body["js-server-only"] = true;
        if (opts.account) body.account = opts.account;
        if (opts.stream) body.stream = opts.stream;
        if (opts.consumer) body.consumer = opts.consumer;
        const res = await gather(session, "HEALTHZ", opts, limit, body);
        if (opts.json) return printJson(io, res.map((r) => ({ server: r.server, data: r.data })));
        res.sort(by(opts.reverse, (a, b) => a.server.name.localeCompare(b.server.name)));
        const rows: (string | number)[][] = [];
        let ok = 0;
        let notOk = 0;
        let errors = 0;
        const clusters = new Set<string>();
        for (const r of res) {
          const d = r.data ?? {};
          clusters.add(r.server.cluster ?? "");
          const code = d.status_code ?? (d.status === "ok" ? 200 : 0);
          if (code === 200) ok++;
          else notOk++;
          rows.push([r.server.name, r.server.cluster ?? "", r.server.domain ?? "", `${d.status ?? ""} (${code})`, "", ""]);
          const errs = (d.errors ?? []) as Json[];
          errors += errs.length;
          const show = errs.length > 10 ? 9 : errs.length;
          for (const e of errs.slice(0, show)) rows.push(["", "", "", "", String(e.type ?? ""), e.error ?? ""]);
          if (show !== errs.length) rows.push(["", "", "", `${errs.length - show} more errors`, "", ""]);
        }
        printTable(io, ["Server", "Cluster", "Domain", "Status", "Type", "Error"], rows, "Health Report", [fmtNum(res.length), fmtNum(clusters.size), "", `ok: ${ok} / err: ${notOk}`, "", fmtNum(errors)]);
        if (notOk > 0) return 1;
      }),
    );

  for (const [name, mem] of [
    ["cpu", false],
    ["mem", true],
  ] as const) {
    addFilters(report.command(`${name} [limit]`).description(mem ? "Report on Memory usage" : "Report on CPU usage")).action(
      app.action<FilterFlags>(async ({ session, opts }, limit?: string) => {
        const res = await gather(session, "STATSZ", opts, limit);
        const usage = new Map<string, number>();
        for (const r of res) usage.set(r.server.name, Number((mem ? r.statsz?.mem : r.statsz?.cpu) ?? 0));
        if (opts.json) return printJson(io, Object.fromEntries(usage));
        const width = Math.min(30, Math.floor((io.stdout.columns || 80) / 2));
        barGraph(io, usage, mem ? "Memory Usage" : "CPU Usage", width, mem);
      }),
    );
  }
}
