// `tsnats server watch`: live views of the system events servers send, as natscli's:
//   accounts   $SYS.ACCOUNT.*.SERVER.CONNS (sent when an account's connections change)
//   api        requests on $JS.API.> seen by this connection's account, by type and asset
//   jetstream  JetStream figures from $SYS.SERVER.*.STATSZ (asked for at once with a PING)
//   servers    server figures from the same STATSZ events
// Each view is a table redrawn every second until Ctrl-C (see screen.ts).
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { Command, Option } from "commander";
import type { App } from "./app.js";
import type { Session } from "./connection.js";
import { renderTable } from "./output.js";
import { CliError, type CliIO } from "./runtime.js";
import { refreshLoop, terminalSize } from "./screen.js";
import { fmtBytes, fmtDuration, fmtNum, parseDurationMs, parseInteger } from "./units.js";

type Json = Record<string, any>;

/** "2006-01-02 15:04:05" in local time, natscli's time.DateTime. */
function dateTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** How many rows fit: --number, capped by the terminal's height less `chrome` lines. */
function rowLimit(io: CliIO, number: number, chrome: number): number {
  const size = terminalSize(io);
  if (!size) return number > 0 ? number : Number.POSITIVE_INFINITY;
  const max = size.height - chrome;
  const n = number > 0 ? Math.min(number, max) : max;
  if (n < 1) throw new CliError("requested render limits exceed screen size");
  return n;
}

const shown = (limit: number, total: number): string => (total > limit ? `${limit} / ${total}` : String(total));

/** Descending by a number, then by a second key ascending (natscli's multi-sort). */
function byThen<T>(a: T, b: T, primary: (x: T) => number, secondary: (x: T) => string | number): number {
  const d = primary(b) - primary(a);
  if (d !== 0) return d;
  const x = secondary(a);
  const y = secondary(b);
  return typeof x === "number" && typeof y === "number" ? y - x : String(x).localeCompare(String(y));
}

/** Subscribe and also ask every server for its STATSZ now (the events come every few seconds). */
async function statszFeed(nc: NatsConnection, onStat: (m: Json) => void): Promise<() => void> {
  const handle = (_e: unknown, m: Msg): void => {
    try {
      const doc = m.json<Json>();
      if (doc.server?.id && doc.statsz) onStat(doc);
    } catch {
      // not a STATSZ document
    }
  };
  const events = nc.subscribe("$SYS.SERVER.*.STATSZ", { callback: handle });
  const inbox = createInbox();
  const replies = nc.subscribe(inbox, { callback: handle });
  const stopReplies = setTimeout(() => replies.unsubscribe(), 2000);
  nc.publish("$SYS.REQ.SERVER.PING", "", { reply: inbox });
  await nc.flush();
  return () => {
    clearTimeout(stopReplies);
    events.unsubscribe();
    replies.unsubscribe();
  };
}

const ACCOUNT_SORTS: Record<string, string> = {
  conns: "Connections",
  subs: "Subscriptions",
  sentb: "Sent Bytes",
  sentm: "Sent Messages",
  recvb: "Received Bytes",
  recvm: "Received Messages",
  slow: "Slow Consumers",
};

async function watchAccounts(s: Session, io: CliIO, sort: string, number: number): Promise<void> {
  const nc = await s.nc();
  // account -> server id -> its latest CONNS event
  const seen = new Map<string, Map<string, Json>>();
  let last = new Date();
  const sub = nc.subscribe("$SYS.ACCOUNT.*.SERVER.CONNS", {
    callback: (_e, m) => {
      try {
        const d = m.json<Json>();
        const acc = d.acc ?? d.account;
        if (!acc || !d.server?.id) return;
        if (!seen.has(acc)) seen.set(acc, new Map());
        seen.get(acc)!.set(d.server.id, d);
        last = new Date();
      } catch {
        // not a CONNS event
      }
    },
  });
  await nc.flush();
  const key: Record<string, (t: Json) => number> = {
    conns: (t) => t.conns,
    subs: (t) => t.subs,
    sentb: (t) => t.sentBytes,
    sentm: (t) => t.sentMsgs,
    recvb: (t) => t.recvBytes,
    recvm: (t) => t.recvMsgs,
    slow: (t) => t.slow,
  };
  try {
    await refreshLoop(io, 1000, () => {
      const limit = rowLimit(io, number, 7);
      const totals: Json[] = [];
      for (const [acc, perServer] of seen) {
        const t = { acc, name: "", servers: 0, conns: 0, leafs: 0, subs: 0, slow: 0, sentMsgs: 0, sentBytes: 0, recvMsgs: 0, recvBytes: 0 };
        for (const d of perServer.values()) {
          // Servers only report accounts with connections: ignore reports gone stale.
          if (d.server.time && Date.now() - Date.parse(d.server.time) > 35_000) continue;
          t.servers++;
          t.name = d.name ?? "";
          t.conns += d.conns ?? 0;
          t.leafs += d.leafnodes ?? 0;
          t.subs += d.num_subscriptions ?? 0;
          t.slow += d.slow_consumers ?? 0;
          t.sentMsgs += d.sent?.msgs ?? 0;
          t.sentBytes += d.sent?.bytes ?? 0;
          t.recvMsgs += d.received?.msgs ?? 0;
          t.recvBytes += d.received?.bytes ?? 0;
        }
        totals.push(t);
      }
      totals.sort((a, b) => byThen(a, b, key[sort], (x) => x.conns));
      const rows = totals.slice(0, limit).map((t) => [t.name || t.acc, t.servers, fmtNum(t.conns), fmtNum(t.leafs), fmtNum(t.subs), fmtNum(t.slow), `${fmtNum(t.sentMsgs)} / ${fmtBytes(t.sentBytes)}`, `${fmtNum(t.recvMsgs)} / ${fmtBytes(t.recvBytes)}`]);
      return renderTable(["Account", "Servers", "Connections", "Leafnodes", "Subscriptions", "Slow", "Sent", "Received"], rows, `Top ${shown(limit, totals.length)} Account activity by ${ACCOUNT_SORTS[sort]} at ${dateTime(last)}`);
    });
  } finally {
    sub.unsubscribe();
  }
}

const JS_SORTS: Record<string, string> = { mem: "Memory Used", file: "File Storage", assets: "HA Asset", api: "API Requests" };

async function watchJetStream(s: Session, io: CliIO, sort: string, number: number): Promise<void> {
  const nc = await s.nc();
  const servers = new Map<string, Json>();
  let last = new Date();
  const stop = await statszFeed(nc, (d) => {
    if (!d.statsz.jetstream) return;
    servers.set(d.server.id, d);
    last = new Date();
  });
  const stats = (d: Json): Json => d.statsz.jetstream?.stats ?? {};
  const key: Record<string, (d: Json) => number> = {
    mem: (d) => stats(d).memory ?? 0,
    file: (d) => stats(d).storage ?? 0,
    api: (d) => stats(d).api?.total ?? 0,
    assets: (d) => stats(d).ha_assets ?? 0,
  };
  try {
    await refreshLoop(io, 1000, () => {
      const limit = rowLimit(io, number, 9);
      const list = [...servers.values()].sort((a, b) => byThen(a, b, key[sort], (x) => x.server.name));
      const shownList = list.slice(0, limit);
      const tot = { assets: 0, mem: 0, file: 0, api: 0, err: 0, pending: 0 };
      for (const d of list) {
        const st = stats(d);
        tot.assets += st.ha_assets ?? 0;
        tot.mem += st.memory ?? 0;
        tot.file += st.storage ?? 0;
        tot.api += st.api?.total ?? 0;
        tot.err += st.api?.errors ?? 0;
        tot.pending += d.statsz.jetstream?.meta?.pending ?? 0;
      }
      const rows = shownList.map((d) => {
        const st = stats(d);
        const meta = d.statsz.jetstream?.meta;
        const leader = meta?.leader === d.server.name;
        const snap = leader && meta?.snapshot?.last_time ? `${fmtDuration(Date.now() - Date.parse(meta.snapshot.last_time))} ago` : "";
        return [leader ? `${d.server.name}*` : d.server.name, fmtNum(st.ha_assets ?? 0), fmtBytes(st.memory ?? 0), fmtBytes(st.storage ?? 0), fmtNum(st.api?.total ?? 0), fmtNum(st.api?.errors ?? 0), fmtNum(meta?.pending ?? 0), snap];
      });
      return renderTable(
        ["Server", "HA Assets", "Memory", "File", "API", "API Errors", "Pending", "Snapshot Time"],
        rows,
        `Top ${shown(limit, list.length)} Server activity by ${JS_SORTS[sort]} at ${dateTime(last)}`,
        [`Totals (${shownList.length} Servers)`, fmtNum(tot.assets), fmtBytes(tot.mem), fmtBytes(tot.file), fmtNum(tot.api), fmtNum(tot.err), fmtNum(tot.pending), ""],
      );
    });
  } finally {
    stop();
  }
}

const SERVER_SORTS: Record<string, string> = {
  name: "Server Name",
  conns: "Connections",
  subs: "Subscriptions",
  sentb: "Sent Bytes",
  sentm: "Sent Messages",
  recvb: "Received Bytes",
  recvm: "Received Messages",
  slow: "Slow Consumers",
  route: "Routes",
  gway: "Gateways",
  mem: "Memory",
  cpu: "CPU",
};

async function watchServers(s: Session, io: CliIO, sort: string, number: number): Promise<void> {
  const nc = await s.nc();
  const servers = new Map<string, Json>();
  let last = new Date();
  const stop = await statszFeed(nc, (d) => {
    servers.set(d.server.id, d);
    last = new Date();
  });
  const key: Record<string, (st: Json) => number> = {
    conns: (st) => st.connections ?? 0,
    subs: (st) => st.subscriptions ?? 0,
    sentb: (st) => st.sent?.bytes ?? 0,
    sentm: (st) => st.sent?.msgs ?? 0,
    recvb: (st) => st.received?.bytes ?? 0,
    recvm: (st) => st.received?.msgs ?? 0,
    slow: (st) => st.slow_consumers ?? 0,
    route: (st) => (st.routes ?? []).length,
    gway: (st) => (st.gateways ?? []).length,
    mem: (st) => st.mem ?? 0,
    cpu: (st) => st.cpu ?? 0,
  };
  try {
    await refreshLoop(io, 1000, () => {
      const limit = rowLimit(io, number, 9);
      const list = [...servers.values()].sort((a, b) => (sort === "name" ? String(a.server.name).localeCompare(b.server.name) : byThen(a, b, (x) => key[sort](x.statsz), (x) => x.server.name)));
      const t = { conns: 0, subs: 0, slow: 0, mem: 0, sentM: 0, sentB: 0, recvM: 0, recvB: 0 };
      for (const d of list) {
        const st = d.statsz;
        t.conns += st.connections ?? 0;
        t.subs += st.subscriptions ?? 0;
        t.slow += st.slow_consumers ?? 0;
        t.mem += st.mem ?? 0;
        t.sentM += st.sent?.msgs ?? 0;
        t.sentB += st.sent?.bytes ?? 0;
        t.recvM += st.received?.msgs ?? 0;
        t.recvB += st.received?.bytes ?? 0;
      }
      const rows = list.slice(0, limit).map((d) => {
        const st = d.statsz;
        return [
          d.server.name,
          fmtNum(st.connections ?? 0),
          fmtNum(st.subscriptions ?? 0),
          fmtNum(st.slow_consumers ?? 0),
          fmtBytes(st.mem ?? 0),
          Number(st.cpu ?? 0).toFixed(1),
          fmtNum(st.cores ?? 0),
          fmtNum((st.routes ?? []).length),
          fmtNum((st.gateways ?? []).length),
          `${fmtNum(st.sent?.msgs ?? 0)} / ${fmtBytes(st.sent?.bytes ?? 0)}`,
          `${fmtNum(st.received?.msgs ?? 0)} / ${fmtBytes(st.received?.bytes ?? 0)}`,
        ];
      });
      return renderTable(
        ["Server", "Connections", "Subscription", "Slow", "Memory", "CPU", "Cores", "Routes", "Gateways", "Sent", "Received"],
        rows,
        `Top ${shown(limit, list.length)} Server activity by ${SERVER_SORTS[sort]} at ${dateTime(last)}`,
        ["Totals (All Servers)", fmtNum(t.conns), fmtNum(t.subs), fmtNum(t.slow), fmtBytes(t.mem), "", "", "", "", `${fmtNum(t.sentM)} / ${fmtBytes(t.sentB)}`, `${fmtNum(t.recvM)} / ${fmtBytes(t.recvB)}`],
      );
    });
  } finally {
    stop();
  }
}

/** The JetStream API request type of a $JS.API subject (the schema names, less their prefix). */
export function apiRequestType(subject: string, prefix = "$JS.API"): { type: string; stream?: string; consumer?: string } | undefined {
  if (!subject.startsWith(`${prefix}.`)) return undefined;
  const t = subject.slice(prefix.length + 1).split(".");
  const two = `${t[0]}.${t[1] ?? ""}`;
  const three = `${two}.${t[2] ?? ""}`;
  const streamTypes: Record<string, string> = {
    "STREAM.CREATE": "stream_create_request",
    "STREAM.UPDATE": "stream_update_request",
    "STREAM.INFO": "stream_info_request",
    "STREAM.DELETE": "stream_delete_request",
    "STREAM.PURGE": "stream_purge_request",
    "STREAM.SNAPSHOT": "stream_snapshot_request",
    "STREAM.RESTORE": "stream_restore_request",
  };
  if (two === "STREAM.NAMES") return { type: "stream_names_request" };
  if (two === "STREAM.LIST") return { type: "stream_list_request" };
  if (three === "STREAM.MSG.GET") return { type: "stream_msg_get_request", stream: t[3] };
  if (three === "STREAM.MSG.DELETE") return { type: "stream_msg_delete_request", stream: t[3] };
  if (three === "STREAM.LEADER.STEPDOWN") return { type: "stream_leader_stepdown_request", stream: t[3] };
  if (three === "STREAM.PEER.REMOVE") return { type: "stream_remove_peer_request", stream: t[3] };
  if (streamTypes[two]) return { type: streamTypes[two], stream: t[2] };
  if (three === "CONSUMER.MSG.NEXT") return { type: "consumer_getnext_request", stream: t[3], consumer: t[4] };
  if (three === "CONSUMER.LEADER.STEPDOWN") return { type: "consumer_leader_stepdown_request", stream: t[3], consumer: t[4] };
  if (two === "CONSUMER.CREATE" || two === "CONSUMER.DURABLE") return { type: "consumer_create_request", stream: t[2], consumer: t[3] };
  if (two === "CONSUMER.INFO") return { type: "consumer_info_request", stream: t[2], consumer: t[3] };
  if (two === "CONSUMER.DELETE") return { type: "consumer_delete_request", stream: t[2], consumer: t[3] };
  if (two === "CONSUMER.NAMES") return { type: "consumer_names_request", stream: t[2] };
  if (two === "CONSUMER.LIST") return { type: "consumer_list_request", stream: t[2] };
  if (two === "CONSUMER.PAUSE") return { type: "consumer_pause_request", stream: t[2], consumer: t[3] };
  if (two === "CONSUMER.UNPIN") return { type: "consumer_unpin_request", stream: t[2], consumer: t[3] };
  if (two === "CONSUMER.RESET") return { type: "consumer_reset_request", stream: t[2], consumer: t[3] };
  if (three === "META.LEADER.STEPDOWN") return { type: "meta_leader_stepdown_request" };
  if (two === "SERVER.REMOVE") return { type: "meta_server_remove_request" };
  if (two === "ACCOUNT.PURGE") return { type: "account_purge_request" };
  if (t[0] === "INFO" && t.length === 1) return { type: "account_info_request" };
  return undefined;
}

async function watchApi(s: Session, io: CliIO, o: { account?: string; top: number; rateMs: number; rateText: string; recordConsumer: boolean; compact: boolean; reverse: boolean }): Promise<void> {
  const nc = await s.nc();
  let accountRe: RegExp | undefined;
  try {
    accountRe = o.account ? new RegExp(o.account) : undefined;
  } catch (err) {
    throw new CliError(`--account: invalid regular expression: ${(err as Error).message}`);
  }
  const stats = new Map<string, { type: string; account: string; stream: string; consumer: string; count: number; times: number[] }>();
  const prefix = s.jsApiPrefix();
  const sub = nc.subscribe(`${prefix}.>`, {
    callback: (_e, m) => {
      const t = apiRequestType(m.subject, prefix);
      if (!t) return;
      let account = "";
      const ri = m.headers?.get("Nats-Request-Info");
      if (ri) {
        try {
          account = (JSON.parse(ri) as { acc?: string }).acc ?? "";
        } catch {
          // unreadable request info: no account
        }
      }
      if (accountRe && !(account && accountRe.test(account))) return;
      // Only info requests name their asset (natscli's grouping).
      const stream = t.type === "stream_info_request" || t.type === "consumer_info_request" ? (t.stream ?? "") : "";
      const consumer = t.type === "consumer_info_request" && o.recordConsumer ? (t.consumer ?? "") : "";
      const key = [account, t.type, stream, consumer].join(":");
      let st = stats.get(key);
      if (!st) stats.set(key, (st = { type: t.type, account, stream, consumer, count: 0, times: [] }));
      st.count++;
      st.times.push(Date.now());
    },
  });
  await nc.flush();
  const asset = (x: { stream: string; consumer: string }): string => {
    let c = x.consumer;
    if (o.compact && c.length > 20) c = `${c.slice(0, 12)}...`;
    return x.consumer ? `${x.stream} > ${c}` : x.stream;
  };
  try {
    await refreshLoop(io, 1000, () => {
      if (stats.size === 0) return "Waiting for requests...";
      const now = Date.now();
      for (const st of stats.values()) st.times = st.times.filter((t) => now - t <= o.rateMs);
      const list = [...stats.values()].sort((a, b) => {
        const c = b.times.length - a.times.length || b.count - a.count || asset(a).localeCompare(asset(b));
        return o.reverse ? -c : c;
      });
      const rows = list.slice(0, o.top).map((st) => {
        let account = st.account;
        if (o.compact && account.length > 20) account = `${account.slice(0, 10)}...${account.slice(-5)}`;
        return [st.type, account, st.count, fmtNum(st.times.length), asset(st)];
      });
      return renderTable(["Type", "Account", "Count", `Event / ${o.rateText}`, "Asset"], rows, `Top ${fmtNum(o.top)} JS API activity`);
    });
  } finally {
    sub.unsubscribe();
  }
}

export function registerServerWatch(app: App, srv: Command): void {
  const io = app.io;
  const watch = srv.command("watch").description("Live views of server conditions (redrawn every second until Ctrl-C)");
  const sortOption = (sorts: Record<string, string>, def: string): Option =>
    new Option("--sort <key>", `Sorts by a specific property (${Object.keys(sorts).sort().join(", ")})`).choices(Object.keys(sorts).sort()).default(def);
  const numberOption = (): Option => new Option("-n, --number <n>", "Amount of rows to show by the selected dimension (0: as many as fit)").default("0");

  watch
    .command("accounts")
    .aliases(["account", "acct"])
    .description("Watch account usage (from the CONNS events servers send as connections change)")
    .addOption(sortOption(ACCOUNT_SORTS, "conns"))
    .addOption(numberOption())
    .action(app.action<{ sort: string; number: string }>(({ session, opts }) => watchAccounts(session, io, opts.sort, parseInteger(opts.number, "--number", 0))));

  watch
    .command("jetstream")
    .aliases(["js", "jsz"])
    .description("Watch JetStream statistics (from STATSZ events)")
    .addOption(sortOption(JS_SORTS, "assets"))
    .addOption(numberOption())
    .action(app.action<{ sort: string; number: string }>(({ session, opts }) => watchJetStream(session, io, opts.sort, parseInteger(opts.number, "--number", 0))));

  watch
    .command("servers")
    .aliases(["server", "srv"])
    .description("Watch server statistics (from STATSZ events)")
    .addOption(sortOption(SERVER_SORTS, "conns"))
    .addOption(numberOption())
    .action(app.action<{ sort: string; number: string }>(({ session, opts }) => watchServers(session, io, opts.sort, parseInteger(opts.number, "--number", 0))));

  const apiCmd = watch.command("api").description("Watch JetStream API");
  apiCmd
    .command("requests")
    .alias("req")
    .description("Watch JS API Requests (those this connection's account can see)")
    .option("--account <regex>", "Limit to JetStream account (regex)")
    .option("-n, --top <n>", "Shows top n requests", "10")
    .option("--rate <duration>", "Rate interval to calculate", "1m")
    .option("--no-record-consumer", "Do not record consumer names")
    .option("--no-compact", "Do not shorten long asset and account names")
    .option("-R, --reverse", "Reverse sorting order")
    .action(
      app.action<{ account?: string; top: string; rate: string; recordConsumer: boolean; compact: boolean; reverse?: boolean }>(({ session, opts }) =>
        watchApi(session, io, {
          account: opts.account,
          top: parseInteger(opts.top, "--top", 1),
          rateMs: parseDurationMs(opts.rate, "--rate") || 60_000,
          rateText: parseDurationMs(opts.rate, "--rate") ? opts.rate : "1m",
          recordConsumer: opts.recordConsumer,
          compact: opts.compact,
          reverse: opts.reverse === true,
        }),
      ),
    );
}
