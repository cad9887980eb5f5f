// `tsnats server request`: the JSON answers of the system account's $SYS.REQ.SERVER.PING.*
// monitoring services (and KICK, PROFILEZ), with natscli's server filters (--name, --host,
// --cluster, --tags, --js-domain) and each endpoint's own options, sent under the JSON names
// nats-server's *Options structs use.
import fs from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { App, collect } from "./app.js";
import { printJson } from "./output.js";
import { CONN_STATE, sysRequest } from "./server_cmd.js";
import { CliError, eprintln, println } from "./runtime.js";
import { parseInteger } from "./units.js";

type Json = Record<string, unknown>;

interface RequestFilters {
  limit: string;
  offset: string;
  name?: string;
  host?: string;
  cluster?: string;
  tags?: string[];
  jsDomain?: string;
}

const CONN_SORTS = ["cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from", "last", "idle", "uptime", "stop", "reason", "rtt"];
const PROFILES = ["allocs", "heap", "goroutine", "mutex", "threadcreate", "block", "cpu"];

/** The EventFilterOptions (which servers answer) and paging every request shares. */
function baseBody(cmd: Command): Json {
  const f = cmd.parent!.opts() as RequestFilters;
  const body: Json = { limit: parseInteger(f.limit, "--limit", 0), offset: parseInteger(f.offset, "--offset", 0) };
  if (f.name) body.server_name = f.name;
  if (f.host) body.host = f.host;
  if (f.cluster) body.cluster = f.cluster;
  if (f.tags?.length) body.tags = f.tags;
  if (f.jsDomain) body.domain = f.jsDomain;
  return body;
}

/** One endpoint: subcommand, aliases, $SYS endpoint, help, its flags and how they become the body. */
interface Endpoint {
  name: string;
  aliases: string[];
  endpoint: string;
  description: string;
  flags?: (c: Command) => void;
  body?: (o: Record<string, any>, args: string[]) => Json;
  /** positional arguments besides [wait] */
  args?: string;
}

const ENDPOINTS: Endpoint[] = [
  { name: "variables", aliases: ["var", "varz"], endpoint: "VARZ", description: "Show runtime variables" },
  {
    name: "connections",
    aliases: ["conn", "connz"],
    endpoint: "CONNZ",
    description: "Show connection details",
    flags: (c) =>
      c
        .addOption(new Option("--sort <property>", "Sort by a specific property").choices(CONN_SORTS).default("cid"))
        .option("--subscriptions", "Show subscriptions")
        .option("--filter-cid <cid>", "Filter on a specific CID")
        .addOption(new Option("--filter-state <state>", "Filter on a specific account state (open, closed, all)").choices(["open", "closed", "all"]).default("open"))
        .option("--filter-user <user>", "Filter on a specific username")
        .option("--filter-account <account>", "Filter on a specific account")
        .option("--filter-subject <subject>", "Limits responses only to those connections with matching subscription interest")
        .option("--filter-empty", "Only shows responses that have connections"),
    body: (o) => ({
      sort: o.sort,
      subscriptions: o.subscriptions === true,
      subscriptions_detail: o.subscriptions === true,
      cid: o.filterCid ? parseInteger(o.filterCid, "--filter-cid", 1) : undefined,
      state: CONN_STATE[o.filterState as string],
      user: o.filterUser,
      acc: o.filterAccount,
      filter_subject: o.filterSubject,
    }),
  },
  {
    name: "subscriptions",
    aliases: ["sub", "subsz"],
    endpoint: "SUBSZ",
    description: "Show subscription information",
    flags: (c) => c.option("--detail", "Include detail about all subscriptions").option("--filter-account <account>", "Filter on a specific account").option("--filter-subject <subject>", "Filter based on subscriptions matching this subject"),
    body: (o) => ({ subscriptions: o.detail === true, account: o.filterAccount, test: o.filterSubject }),
  },
  {
    name: "routes",
    aliases: ["route", "routez"],
    endpoint: "ROUTEZ",
    description: "Show route details",
    flags: (c) => c.option("--subscriptions", "Show subscription detail"),
    body: (o) => ({ subscriptions: o.subscriptions === true, subscriptions_detail: o.subscriptions === true }),
  },
  {
    name: "gateways",
    aliases: ["gateway", "gwy", "gatewayz"],
    endpoint: "GATEWAYZ",
    description: "Show gateway details",
    args: "[filter-name]",
    flags: (c) => {
      c.option("--filter-account <account>", "Show only a certain account in account detail").option("--accounts", "Show account detail");
      c.option("--subscriptions", "Show subscription details (default true)").option("--no-subscriptions", "Do not show subscription details");
    },
    body: (o, args) => {
      const detail = o.accounts === true || Boolean(o.filterAccount);
      const b: Json = { name: args[0], accounts: detail, account_name: o.filterAccount };
      if (o.filterAccount && detail) b.subscriptions = b.subscriptions_detail = o.subscriptions !== false;
      return b;
    },
  },
  {
    name: "leafnodes",
    aliases: ["leaf", "leafz"],
    endpoint: "LEAFZ",
    description: "Show leafnode details",
    flags: (c) => c.option("--subscriptions", "Show subscription detail"),
    body: (o) => ({ subscriptions: o.subscriptions === true }),
  },
  {
    name: "accounts",
    aliases: ["accountz", "acct"],
    endpoint: "ACCOUNTZ",
    description: "Show account details",
    flags: (c) => c.option("--account <account>", "Retrieve information for a specific account"),
    body: (o) => ({ account: o.account }),
  },
  {
    name: "jetstream",
    aliases: ["jsz", "js"],
    endpoint: "JSZ",
    description: "Show JetStream details",
    flags: (c) =>
      c
        .option("--account <account>", "Show statistics scoped to a specific account")
        .option("--accounts", "Include details about accounts")
        .option("--streams", "Include details about Streams")
        .option("--consumer", "Include details about Consumers")
        .option("--config", "Include details about configuration")
        .option("--raft", "Include details about raft groups")
        .option("--leader", "Request a response from the Meta-group leader only")
        .option("--stream-leader", "Request a response from Stream leaders only")
        .option("--all", "Include accounts, streams, consumers and configuration"),
    body: (o) => ({
      account: o.account,
      accounts: o.accounts === true || o.all === true,
      streams: o.streams === true || o.all === true,
      consumer: o.consumer === true || o.all === true,
      config: o.config === true || o.all === true,
      raft: o.raft === true || o.all === true,
      leader_only: o.leader === true,
      stream_leader_only: o.streamLeader === true,
    }),
  },
  {
    name: "jetstream-health",
    aliases: ["healthz"],
    endpoint: "HEALTHZ",
    description: "Request JetStream health status",
    flags: (c) => {
      c.option("-J, --js-enabled", "Checks that JetStream should be enabled on all servers").option("-S, --server-only", "Restricts the health check to the JetStream server only, do not check streams and consumers");
      c.option("--account <account>", "Check only a specific Account").option("--stream <stream>", "Check only a specific Stream").option("--consumer <consumer>", "Check only a specific Consumer");
      c.option("--details", "Include extended details about all failures (default true)").option("--no-details", "Do not include extended details");
    },
    body: (o) => ({
      "js-enabled-only": o.jsEnabled === true,
      "js-server-only": o.serverOnly === true,
      account: o.account,
      stream: o.stream,
      consumer: o.consumer,
      details: o.details !== false,
    }),
  },
  {
    name: "raft",
    aliases: ["raftz"],
    endpoint: "RAFTZ",
    description: "Show RAFT state details",
    flags: (c) => c.option("--account <account>", "Filters on an specific account").option("--group <group>", "Filters on a specific group"),
    body: (o) => ({ account: o.account, group: o.group }),
  },
  {
    name: "ipqueue",
    aliases: ["ipq", "ipqueuesz"],
    endpoint: "IPQUEUESZ",
    description: "Show IP Queue details",
    flags: (c) => {
      c.option("--all", "Shows all available information (default true)").option("--no-all", "Only queues with pending entries");
      c.option("--filter <text>", "Filter results for specific queues");
    },
    body: (o) => ({ all: o.all !== false, filter: o.filter }),
  },
];

/** Drop undefined and false/empty settings: the body carries only what was asked. */
function compact(b: Json): Json {
  return Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined && v !== false && v !== ""));
}

export function registerServerRequest(app: App, srv: Command): void {
  const io = app.io;
  const req = srv
    .command("request")
    .alias("req")
    .description("Request monitoring data from servers (JSON answers of $SYS.REQ.SERVER.*)")
    .option("--limit <n>", "Limit the responses to a certain amount of records", "2048")
    .option("--offset <n>", "Start at a certain record", "0")
    .option("--name <name>", "Limit to servers matching a server name")
    .option("--host <host>", "Limit to servers matching a server host name")
    .option("--cluster <name>", "Limit to servers matching a cluster name")
    .option("--tags <tag>", "Limit to servers with these configured tags (repeatable)", collect)
    .option("--js-domain <domain>", "Limit to servers of a JetStream domain");

  for (const ep of ENDPOINTS) {
    const c = req.command(`${ep.name}${ep.args ? ` ${ep.args}` : ""} [wait]`).aliases(ep.aliases).description(ep.description);
    ep.flags?.(c);
    c.action(
      app.action<Record<string, any>>(async ({ session, opts, cmd }, ...args: (string | undefined)[]) => {
        const positional = args.filter((a): a is string => typeof a === "string");
        const wait = ep.args ? args[1] : args[0];
        const body = compact({ ...baseBody(cmd), ...(ep.body?.(opts, ep.args ? positional.slice(0, 1) : []) ?? {}) });
        const res = await sysRequest(session, `$SYS.REQ.SERVER.PING.${ep.endpoint}`, body, wait ? parseInteger(wait, "wait", 1) : 0);
        for (const r of res) {
          // --filter-empty: only servers that have connections.
          if (opts.filterEmpty && ((r.data as { num_connections?: number } | undefined)?.num_connections ?? 0) === 0) continue;
          printJson(io, r.data ?? r);
        }
      }),
    );
  }

  req
    .command("kick <client> <server>")
    .description("Disconnects a client immediately (client id, server id)")
    .action(
      app.action(async ({ session }, client: string, server: string) => {
        const res = await sysRequest(session, `$SYS.REQ.SERVER.${server}.KICK`, { cid: parseInteger(client, "client", 1) }, 1);
        const r = res[0];
        if (r.error) throw new CliError(`kick failed: ${r.error.description}`);
        println(io, `Disconnected client ${client} on ${r.server.name}`);
      }),
    );

  req
    .command("profile <profile> [dir]")
    .description(`Run a profile (${PROFILES.join(", ")}) on the servers and write one file per server`)
    .option("--level <n>", "Set the debug level of the profile", "0")
    .action(
      app.action<{ level: string }>(async ({ session, opts, cmd }, name: string, dir = ".") => {
        if (!PROFILES.includes(name)) throw new CliError(`unknown profile "${name}"`, `one of ${PROFILES.join(", ")}`);
        if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`${dir} is not a directory`);
        const body: Json = compact({ ...baseBody(cmd), name, debug: parseInteger(opts.level, "--level", 0) });
        // A CPU profile runs for the request timeout (in ns); the answers come that much later.
        let timeout = session.timeoutMs;
        if (name === "cpu") {
          body.duration = session.timeoutMs * 1e6;
          timeout += 2000;
        }
        const res = await sysRequest<{ profile?: string; error?: string }>(session, "$SYS.REQ.SERVER.PING.PROFILEZ", body, 0, timeout);
        const d = new Date();
        const p = (n: number): string => String(n).padStart(2, "0");
        const prefix = path.join(dir, `${name}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-`);
        let written = 0;
        for (const r of res) {
          const err = r.data?.error ?? r.error?.description;
          if (err) {
            eprintln(io, `Server "${r.server.name}" error: ${err}`);
            continue;
          }
          if (!r.data?.profile) continue;
          const file = prefix + r.server.name;
          fs.writeFileSync(file, Buffer.from(r.data.profile, "base64"));
          println(io, `Server "${r.server.name}" profile written: ${file}`);
          written++;
        }
        if (written === 0) return 1;
      }),
    );
}
