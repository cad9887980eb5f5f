// `tsnats server report jetstream`: every server's JSZ answer as natscli's JetStream Summary
// (sortable, names compacted, the meta leader starred, the meta group's pending proposals),
// then the RAFT meta group as its leader describes it, and with --leaders how stream and
// consumer leaderships are spread over the servers.
import type { Command } from "commander";
import { Option } from "commander";
import { App } from "./app.js";
import { printJson, renderTable } from "./output.js";
import { sysRequest, type SysResponse } from "./server_cmd.js";
import { addFilters, filterBody, type FilterFlags } from "./server_report_links.js";
import { CliError, println } from "./runtime.js";
import { fmtBytes, fmtNanos, fmtNum, parseInteger } from "./units.js";

interface MetaPeer {
  name: string;
  peer?: string;
  current?: boolean;
  offline?: boolean;
  active?: number;
  lag?: number;
}

interface Jsz {
  disabled?: boolean;
  config?: { domain?: string };
  memory?: number;
  storage?: number;
  api?: { total?: number; errors?: number };
  streams?: number;
  consumers?: number;
  messages?: number;
  bytes?: number;
  streams_leader?: number;
  consumers_leader?: number;
  meta_cluster?: { name?: string; leader?: string; peer?: string; replicas?: MetaPeer[]; cluster_size?: number; pending?: number };
  account_details?: { memory?: number; storage?: number; api?: { total?: number }; stream_detail?: { state?: { messages?: number; consumer_count?: number } }[] }[];
}

const SORTS = ["name", "cluster", "streams", "consumers", "msgs", "mbytes", "bytes", "mem", "file", "store", "api"];

/** Drop the dotted suffix every name shares (n1.example.net, n2.example.net → n1, n2), never the first part. */
export function compactNames(names: string[]): string[] {
  if (names.length === 0) return names;
  const parts = names.map((n) => n.split("."));
  const shortest = Math.min(...parts.map((p) => p.length));
  let drop = 0;
  for (let i = 1; i < shortest; i++) {
    const at = (p: string[]): string => p[p.length - i];
    if (parts.every((p) => at(p) === at(parts[0]))) drop = i;
    else break;
  }
  return parts.map((p) => p.slice(0, p.length - drop).join("."));
}

/** The numbers of one server's row: its own, or one account's when --account is given. */
function rowStats(d: Jsz, account: boolean): { streams: number; consumers: number; msgs: number; bytes: number; mem: number; store: number; api: number } {
  const acc = account && d.account_details?.length === 1 ? d.account_details[0] : undefined;
  if (acc) {
    const streams = acc.stream_detail ?? [];
    return {
      streams: streams.length,
      consumers: streams.reduce((a, s) => a + (s.state?.consumer_count ?? 0), 0),
      msgs: streams.reduce((a, s) => a + (s.state?.messages ?? 0), 0),
      bytes: (acc.memory ?? 0) + (acc.storage ?? 0),
      mem: acc.memory ?? 0,
      store: acc.storage ?? 0,
      api: acc.api?.total ?? 0,
    };
  }
  return { streams: d.streams ?? 0, consumers: d.consumers ?? 0, msgs: d.messages ?? 0, bytes: d.bytes ?? 0, mem: d.memory ?? 0, store: d.storage ?? 0, api: d.api?.total ?? 0 };
}

function sortKey(r: SysResponse<Jsz>, by: string): number | string {
  const d = r.data ?? {};
  switch (by) {
    case "name":
      return r.server.name;
    case "streams":
      return d.streams ?? 0;
    case "consumers":
      return d.consumers ?? 0;
    case "msgs":
      return d.messages ?? 0;
    case "mbytes":
    case "bytes":
      return d.bytes ?? 0;
    case "mem":
      return d.memory ?? 0;
    case "file":
    case "store":
      return d.storage ?? 0;
    case "api":
      return d.api?.total ?? 0;
    default:
      return `${r.server.cluster ?? ""}\u0000${r.server.name}`;
  }
}

/** How many of the assets (their cluster info) each server leads. */
export function leaderCounts(clusters: ({ leader?: string; name?: string } | undefined)[]): { name: string; cluster: string; groups: number }[] {
  const led = new Map<string, { name: string; cluster: string; groups: number }>();
  for (const c of clusters) {
    if (!c?.leader) continue;
    const l = led.get(c.leader) ?? { name: c.leader, cluster: c.name ?? "", groups: 0 };
    l.groups++;
    led.set(c.leader, l);
  }
  return [...led.values()];
}

/** natscli's RAFT Leader Report: leaderships per server and their share of the cluster's. */
export function leaderTable(rows: { name: string; cluster: string; groups: number }[], title: string): string {
  const perCluster = new Map<string, number>();
  for (const r of rows) perCluster.set(r.cluster, (perCluster.get(r.cluster) ?? 0) + r.groups);
  const sorted = [...rows].sort((a, b) => a.cluster.localeCompare(b.cluster) || a.groups - b.groups);
  return renderTable(
    ["Server", "Cluster", title, "Distribution"],
    sorted.map((r) => {
      const total = perCluster.get(r.cluster) ?? 0;
      return [r.name, r.cluster, fmtNum(r.groups), `${total > 0 ? Math.round((r.groups / total) * 100) : 0}%`];
    }),
    "RAFT Leader Report",
  );
}

export function registerServerReportJetStream(app: App, report: Command): void {
  const io = app.io;
  addFilters(report.command("jetstream [limit]").aliases(["jsz", "js"]).description("Report on JetStream activity"))
    .option("--account <account>", "Produce the report for a specific account")
    .addOption(new Option("--sort <property>", "Sort by a specific property (name,cluster,streams,consumers,msgs,mbytes,mem,file,api)").choices(SORTS).default("cluster"))
    .option("-R, --reverse", "Reverse the sort order")
    .option("--compact", "Compact server names (default true)")
    .option("--no-compact", "Show server names as they are")
    .option("-l, --leaders", "Show details about cluster leaders")
    .action(
      app.action<FilterFlags & { json?: boolean; account?: string; sort: string; reverse?: boolean; compact?: boolean; leaders?: boolean }>(async ({ session, opts }, limit?: string) => {
        const body = filterBody(opts, { accounts: true, raft: true });
        if (opts.account) Object.assign(body, { account: opts.account, streams: true, consumer: true, limit: 10000 });
        const res = (await sysRequest<Jsz>(session, "$SYS.REQ.SERVER.PING.JSZ", body, limit ? parseInteger(limit, "limit", 1) : 0)).filter((r) => r.data && !r.data.disabled);
        if (opts.json) return printJson(io, res.map((r) => r.data));
        if (res.length === 0) throw new CliError("no results received, ensure the account used has system privileges and appropriate permissions");
        res.sort((a, b) => {
          const x = sortKey(a, opts.sort);
          const y = sortKey(b, opts.sort);
          const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return (opts.reverse ? -c : c) || a.server.name.localeCompare(b.server.name);
        });
        const compact = opts.compact !== false;
        const shown = compact ? compactNames(res.map((r) => r.server.name)) : res.map((r) => r.server.name);
        const withDomain = res.some((r) => r.data!.config?.domain);
        const tot = { streams: 0, consumers: 0, msgs: 0, bytes: 0, mem: 0, store: 0, api: 0, pending: 0 };
        let expected = 0;
        const metaLeaders: NonNullable<Jsz["meta_cluster"]>[] = [];
        const streamLeaders: { name: string; cluster: string; groups: number }[] = [];
        const consumerLeaders: { name: string; cluster: string; groups: number }[] = [];
        const rows = res.map((r, i) => {
          const d = r.data!;
          const v = rowStats(d, opts.account !== undefined);
          const meta = d.meta_cluster;
          const pending = meta?.pending ?? 0;
          for (const k of ["streams", "consumers", "msgs", "bytes", "mem", "store", "api"] as const) tot[k] += v[k];
          tot.pending += pending;
          if (meta?.leader && meta.leader === r.server.name) metaLeaders.push(meta);
          expected = Math.max(expected, meta?.cluster_size ?? 0);
          if ((d.streams_leader ?? 0) > 0 || (d.consumers_leader ?? 0) > 0) {
            streamLeaders.push({ name: r.server.name, cluster: r.server.cluster ?? "", groups: d.streams_leader ?? 0 });
            consumerLeaders.push({ name: r.server.name, cluster: r.server.cluster ?? "", groups: d.consumers_leader ?? 0 });
          }
          const star = meta?.leader === r.server.name ? "*" : "";
          return [shown[i] + star, r.server.cluster ?? "", ...(withDomain ? [d.config?.domain ?? ""] : []), fmtNum(v.streams), fmtNum(v.consumers), fmtNum(v.msgs), fmtBytes(v.bytes), fmtBytes(v.mem), fmtBytes(v.store), fmtNum(v.api), fmtNum(pending)];
        });
        io.stdout.write(
          renderTable(
            ["Server", "Cluster", ...(withDomain ? ["Domain"] : []), "Streams", "Consumers", "Messages", "Bytes", "Memory", "File", "API Req", "Pending"],
            rows,
            opts.account ? `JetStream Summary for Account ${opts.account}` : "JetStream Summary",
            ["", "", ...(withDomain ? [""] : []), fmtNum(tot.streams), fmtNum(tot.consumers), fmtNum(tot.msgs), fmtBytes(tot.bytes), fmtBytes(tot.mem), fmtBytes(tot.store), fmtNum(tot.api), fmtNum(tot.pending)],
          ) + "\n",
        );
        // A report of some servers only says nothing about the meta group as a whole.
        const filtered = Boolean(opts.host || opts.cluster || opts.tags?.length);
        if (!filtered && expected > 0 && metaLeaders.length === 0) {
          println(io, `\nWARNING: No cluster meta leader found. The cluster expects ${expected} nodes but only ${res.length} responded. JetStream operation requires at least ${Math.floor(expected / 2) + 1} up nodes.`);
        }
        if (!filtered) {
          for (const meta of metaLeaders) {
            const peers: MetaPeer[] = [...(meta.replicas ?? []), { name: meta.leader!, peer: meta.peer, current: true, offline: false, active: 0, lag: 0 }].sort((a, b) => a.name.localeCompare(b.name));
            const names = compact ? compactNames(peers.map((p) => p.name)) : peers.map((p) => p.name);
            println(io);
            io.stdout.write(
              renderTable(
                ["Connection Name", "ID", "Leader", "Current", "Online", "Active", "Lag"],
                peers.map((p, i) => [names[i], p.peer ?? "", p.name === meta.leader ? "yes" : "", String(p.current ?? false), String(!p.offline), fmtNanos(p.active ?? 0), fmtNum(p.lag ?? 0)]),
                `RAFT Meta Group Information - Lead cluster: ${meta.name ?? ""}`,
              ) + "\n",
            );
          }
        }
        if (opts.leaders) {
          println(io);
          if (streamLeaders.length === 0) println(io, "No JetStream asset leader data reported");
          else {
            io.stdout.write(leaderTable(streamLeaders, "Stream Leaders") + "\n");
            io.stdout.write(leaderTable(consumerLeaders, "Consumer Leaders") + "\n");
          }
        }
      }),
    );
}

interface AssetDetail {
  name: string;
  config?: { metadata?: Record<string, string> };
  consumer_detail?: AssetDetail[];
}

/** The API level an asset needs (ADR-44's `_nats.req.level` metadata; 0 when absent). */
function requiredLevel(a: AssetDetail): number {
  const n = Number.parseInt(a.config?.metadata?.["_nats.req.level"] ?? "0", 10);
  return Number.isFinite(n) ? n : 0;
}

/**
 * `server report downgrade API`: the streams and consumers, of every account, that a server of
 * API level API could not load (their `_nats.req.level` is higher), before downgrading.
 */
export function registerServerReportDowngrade(app: App, report: Command): void {
  const io = app.io;
  report
    .command("downgrade <api>")
    .description("List assets incompatible with the specified API level")
    .option("--json", "Output the downgrade report in JSON format")
    .option("--all", "Include consumers whose associated streams are incompatible with the selected API level")
    .action(
      app.action<{ json?: boolean; all?: boolean }>(async ({ session, opts }, apiText: string) => {
        const level = parseInteger(apiText, "api level", 0);
        if (!opts.json) println(io, "Obtaining JetStream Asset information");
        const res = await sysRequest<{ account_details?: { name: string; stream_detail?: AssetDetail[] }[] }>(session, "$SYS.REQ.SERVER.PING.JSZ", { accounts: true, streams: true, consumer: true, config: true, limit: 10000 });
        // Replicated assets show up on every server that holds them: once each.
        const streams = new Map<string, { account: string; stream: AssetDetail }>();
        for (const r of res) for (const acc of r.data?.account_details ?? []) for (const st of acc.stream_detail ?? []) streams.set(`${acc.name}\u0000${st.name}`, { account: acc.name, stream: st });
        const out: { streams: { account: string; name: string; api_level: number }[]; consumers: { account: string; stream: string; name: string; api_level: number }[] } = { streams: [], consumers: [] };
        for (const { account, stream } of [...streams.values()].sort((a, b) => a.account.localeCompare(b.account) || a.stream.name.localeCompare(b.stream.name))) {
          const need = requiredLevel(stream);
          const streamBad = level < need;
          if (streamBad) out.streams.push({ account, name: stream.name, api_level: need });
          for (const c of [...(stream.consumer_detail ?? [])].sort((a, b) => a.name.localeCompare(b.name))) {
            const cneed = requiredLevel(c);
            if (level < cneed || (opts.all && streamBad)) out.consumers.push({ account, stream: stream.name + (opts.all && streamBad ? "*" : ""), name: c.name, api_level: cneed });
          }
        }
        if (opts.json) return printJson(io, out);
        if (out.streams.length > 0) println(io, renderTable(["Account", "Stream", "Required API level"], out.streams.map((x) => [x.account, x.name, x.api_level]), "Assets: Streams"));
        if (out.consumers.length > 0) println(io, renderTable(["Account", "Stream", "Consumer", "Required API level"], out.consumers.map((x) => [x.account, x.stream, x.name, x.api_level]), "Assets: Consumers"));
        if (out.streams.length === 0 && out.consumers.length === 0) println(io, "All assets are compatible with the specified API level.");
      }),
    );
}
