// `tsnats top SERVER`: natscli's `nats top`, a top-like view of one server's load and its
// connections from VARZ and CONNZ over $SYS.REQ, refreshed every --interval seconds. On a
// terminal the screen is redrawn (q or Ctrl-C quits); `-o FILE` (or `-o -`) writes one
// snapshot, `--delimiter ,` makes it delimited text; `-r N` stops after N refreshes.
import dns from "node:dns/promises";
import fs from "node:fs";
import { Option } from "commander";
import type { App } from "./app.js";
import type { Session } from "./connection.js";
import { CliError, type CliIO } from "./runtime.js";
import { refreshLoop } from "./screen.js";
import { fetchVarz } from "./server_graph.js";
import { sysRequest } from "./server_cmd.js";
import { parseInteger } from "./units.js";

type Json = Record<string, any>;

const SORTS = ["cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from", "last", "idle", "uptime", "stop", "reason", "rtt"];

/** Sizes as natscli's top shows them: 1023, 1.0K, 1.5M, 2.0G (powers of 1024). */
export function psize(raw: boolean, n: number): string {
  if (raw || n < 1024) return n.toFixed(0);
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)}M`;
  return `${(n / 1024 ** 3).toFixed(1)}G`;
}

/** Counts: 999, 1.0K, 1.0M, 1.0B, 1.0T (powers of 1000). */
export function nsize(raw: boolean, n: number): string {
  if (raw || n < 1e3) return n.toFixed(0);
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}K`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)}M`;
  if (n < 1e12) return `${(n / 1e9).toFixed(1)}B`;
  return `${(n / 1e12).toFixed(1)}T`;
}

interface TopOptions {
  conns: number;
  sort: string;
  subs: boolean;
  raw: boolean;
  lookup: boolean;
  delimiter?: string;
}

/** One poll: VARZ, CONNZ and the rates since the previous poll. */
class TopEngine {
  private last?: { varz: Json; at: number };
  private readonly names = new Map<string, string>();

  constructor(
    private readonly s: Session,
    private readonly server: string,
    private readonly o: TopOptions,
  ) {}

  async snapshot(): Promise<string> {
    const varz = await fetchVarz(this.s, this.server);
    const body = { limit: this.o.conns, sort: this.o.sort, subscriptions: this.o.subs, server_name: this.server, exact: true };
    const res = await sysRequest<Json>(this.s, "$SYS.REQ.SERVER.PING.CONNZ", body, 1);
    const connz = res.find((r) => r.data && r.server.name === varz.server_name)?.data ?? res[0]?.data ?? {};
    const now = Date.now();
    const rates = { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 };
    if (this.last) {
      const secs = Math.max(0.001, (now - this.last.at) / 1000);
      rates.inMsgs = (varz.in_msgs - this.last.varz.in_msgs) / secs;
      rates.outMsgs = (varz.out_msgs - this.last.varz.out_msgs) / secs;
      rates.inBytes = (varz.in_bytes - this.last.varz.in_bytes) / secs;
      rates.outBytes = (varz.out_bytes - this.last.varz.out_bytes) / secs;
    }
    this.last = { varz, at: now };
    const conns: Json[] = connz.connections ?? [];
    if (this.o.lookup) await this.resolve(conns);
    return this.o.delimiter ? this.delimited(varz, connz, conns, rates) : this.text(varz, connz, conns, rates);
  }

  private async resolve(conns: Json[]): Promise<void> {
    for (const c of conns) {
      if (this.names.has(c.ip)) continue;
      const names = await dns.reverse(c.ip).catch(() => [] as string[]);
      this.names.set(c.ip, names[0] ?? `${c.ip}:${c.port}`);
    }
  }

  private host(c: Json): string {
    return this.o.lookup ? (this.names.get(c.ip) ?? `${c.ip}:${c.port}`) : `${c.ip}:${c.port}`;
  }

  private header(varz: Json, rates: Record<string, number>, d?: string): string {
    const r = this.o.raw;
    const name = varz.server_name !== varz.server_id ? varz.server_name : "";
    const f = [
      varz.version,
      varz.uptime,
      `${Number(varz.cpu ?? 0).toFixed(1)}%`,
      psize(false, varz.mem ?? 0),
      String(varz.slow_consumers ?? 0),
      [nsize(r, varz.in_msgs ?? 0), psize(r, varz.in_bytes ?? 0), rates.inMsgs.toFixed(1), psize(r, Math.floor(rates.inBytes))],
      [nsize(r, varz.out_msgs ?? 0), psize(r, varz.out_bytes ?? 0), rates.outMsgs.toFixed(1), psize(r, Math.floor(rates.outBytes))],
    ] as const;
    if (d !== undefined) {
      return [
        ["NATS server version", f[0], `(uptime: ${f[1]})`, ""].join(d),
        "Server:",
        ["Load:", "CPU:", f[2], "Memory:", f[3], "Slow Consumers:", f[4]].join(d),
        ["In:", "Msgs:", f[5][0], "Bytes:", f[5][1], "Msgs/Sec:", f[5][2], "Bytes/Sec:", f[5][3]].join(d),
        ["Out:", "Msgs:", f[6][0], "Bytes:", f[6][1], "Msgs/Sec:", f[6][2], "Bytes/Sec:", f[6][3]].join(d),
      ].join("\n");
    }
    return [
      `NATS server version ${f[0]} (uptime: ${f[1]})`,
      `Server: ${name}`,
      `  ID:   ${varz.server_id}`,
      `  Load: CPU:  ${f[2]}  Memory: ${f[3]}  Slow Consumers: ${f[4]}`,
      `  In:   Msgs: ${f[5][0]}  Bytes: ${f[5][1]}  Msgs/Sec: ${f[5][2]}  Bytes/Sec: ${f[5][3]}`,
      `  Out:  Msgs: ${f[6][0]}  Bytes: ${f[6][1]}  Msgs/Sec: ${f[6][2]}  Bytes/Sec: ${f[6][3]}`,
    ].join("\n");
  }

  private cells(c: Json): string[] {
    const r = this.o.raw;
    return [
      String(c.subscriptions ?? 0),
      nsize(r, c.pending_bytes ?? 0),
      nsize(r, c.out_msgs ?? 0),
      nsize(r, c.in_msgs ?? 0),
      psize(r, c.out_bytes ?? 0),
      psize(r, c.in_bytes ?? 0),
      c.lang ?? "",
      c.version ?? "",
      c.uptime ?? "",
      c.last_activity ?? "",
    ];
  }

  private text(varz: Json, connz: Json, conns: Json[], rates: Record<string, number>): string {
    const hostWidth = Math.max(15, ...conns.map((c) => this.host(c).length + 2));
    const nameWidth = conns.some((c) => c.name) ? Math.max(4, ...conns.map((c) => (c.name ?? "").length + 2)) : 0;
    const widths = [6, 10, 10, 10, 10, 10, 7, 7, 7, 40];
    const line = (host: string, cid: string, name: string, cells: string[], subs?: string): string => {
      let out = `  ${host.padEnd(hostWidth)}  ${cid.padEnd(6)} `;
      if (nameWidth > 0) out += `${name.padEnd(nameWidth)} `;
      out += cells.map((v, i) => v.padEnd(widths[i])).join("  ");
      if (subs !== undefined) out += subs;
      return out.trimEnd();
    };
    const heads = ["SUBS", "PENDING", "MSGS_TO", "MSGS_FROM", "BYTES_TO", "BYTES_FROM", "LANG", "VERSION", "UPTIME", "LAST_ACTIVITY"];
    const rows = [line("HOST", "CID", "NAME", heads, this.o.subs ? "SUBSCRIPTIONS".padStart(13) : undefined)];
    for (const c of conns) rows.push(line(this.host(c), String(c.cid), c.name ?? "", this.cells(c), this.o.subs ? (c.subscriptions_list ?? []).join(", ") : undefined));
    return `${this.header(varz, rates)}\n\nConnections Polled: ${connz.num_connections ?? conns.length}\n${rows.join("\n")}\n`;
  }

  private delimited(varz: Json, connz: Json, conns: Json[], rates: Record<string, number>): string {
    const d = this.o.delimiter!;
    const heads = ["HOST", "CID", "NAME", "SUBS", "PENDING", "MSGS_TO", "MSGS_FROM", "BYTES_TO", "BYTES_FROM", "LANG", "VERSION", "UPTIME", "LAST_ACTIVITY", ...(this.o.subs ? ["SUBSCRIPTIONS"] : [])];
    const rows = [heads.join(d)];
    // Subscriptions are separated by two spaces: the delimiter may be a comma.
    for (const c of conns) rows.push([this.host(c), String(c.cid), c.name ?? "", ...this.cells(c), ...(this.o.subs ? [(c.subscriptions_list ?? []).join("  ")] : [])].join(d));
    return `${this.header(varz, rates, d)}\n\nConnections Polled:${d}${connz.num_connections ?? conns.length}\n${rows.join("\n")}\n`;
  }
}

export function registerTop(app: App): void {
  const io = app.io;
  app.program
    .command("top <name>")
    .description("Shows top-like statistic for connections on a specific server (needs a system account user)")
    .option("-n, --conns <n>", "Maximum number of connections to show", "1024")
    .option("-d, --interval <seconds>", "Refresh interval", "1")
    .addOption(new Option("--sort <by>", "Sort connections by").choices(SORTS).default("cid"))
    .option("--lookup", "Looks up client addresses in DNS")
    .option("-o, --output <file>", "Saves the first snapshot to a file (- for standard output)")
    .option("--delimiter <text>", "Specifies a output delimiter, defaults to grid-like text")
    .option("-b, --raw", "Show raw bytes")
    .option("-r, --max-refresh <n>", "Maximum refreshes", "-1")
    .option("--subs", "Shows the subscriptions column")
    .action(
      app.action<{ conns: string; interval: string; sort: string; lookup?: boolean; output?: string; delimiter?: string; raw?: boolean; maxRefresh: string; subs?: boolean }>(
        async ({ session, opts }, name: string) => {
          const engine = new TopEngine(session, name, {
            conns: parseInteger(opts.conns, "--conns", 1),
            sort: opts.sort,
            subs: opts.subs === true,
            raw: opts.raw === true,
            lookup: opts.lookup === true,
            delimiter: opts.delimiter,
          });
          const intervalMs = parseInteger(opts.interval, "--interval", 1) * 1000;
          const first = await engine.snapshot().catch((err: Error) => {
            throw err instanceof CliError ? new CliError(`initial test request failed: ${err.message}`, err.hint) : err;
          });
          if (opts.output !== undefined) {
            if (opts.output === "-") io.stdout.write(first);
            else fs.writeFileSync(opts.output, first, { mode: 0o600 });
            return;
          }
          await withQuitKey(io, (view) => {
            let pending: string | undefined = first;
            return refreshLoop(
              view,
              intervalMs,
              async () => {
                const text = pending ?? (await engine.snapshot());
                pending = undefined;
                return text;
              },
              { maxFrames: parseInteger(opts.maxRefresh, "--max-refresh") },
            );
          });
        },
      ),
    );
}

/** Run `fn` with an I/O whose signal also fires when q is pressed on a terminal. */
async function withQuitKey(io: CliIO, fn: (view: CliIO) => Promise<void>): Promise<void> {
  const stdin = io.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY || typeof stdin.setRawMode !== "function") return fn(io);
  const quit = new AbortController();
  const onKey = (b: Buffer): void => {
    const k = b.toString();
    if (k === "q" || k === "Q" || k === "\x03") quit.abort();
  };
  stdin.setRawMode(true);
  stdin.on("data", onKey);
  stdin.resume();
  try {
    await fn({ ...io, signal: AbortSignal.any([io.signal, quit.signal]) });
  } finally {
    stdin.off("data", onKey);
    stdin.setRawMode(false);
    stdin.pause();
  }
}
