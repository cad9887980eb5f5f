// Command line of the tsnats-server binary, flag-compatible with nats-server 2.9.
//
// Parsing follows Go's `flag` package: `-name`, `--name`, `-name=value`, `-name value`
// (non-boolean flags always take the next argument, even one starting with '-'),
// booleans as `-js` or `-js=false`, parsing stops at the first non-flag argument or `--`.

import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, normalize } from "node:path";
import type { ParseOptions } from "./conf_parser.js";
import { loadConfigFile, notServedWarning, validateOptions } from "./load.js";
import { defaultClusterOptions, defaultOptions, type JetStreamOptions, type ServerOptions, type TlsOptions } from "./options.js";
import { applyClusterListenFlag } from "./cluster.js";

/** What a command line sets: a partial ServerOptions with partial nested blocks. */
export type FlagOptions = Partial<Omit<ServerOptions, "jetstream" | "tls" | "cluster" | "unsupportedBlocks" | "warnings">> & {
  jetstream?: Partial<JetStreamOptions>;
  tls?: TlsOptions;
  cluster?: ClusterFlags;
  unsupportedBlocks?: Record<string, Record<string, unknown>>;
};

/** The cluster flags: applied over the config file's `cluster {}` block. */
export interface ClusterFlags {
  /** `-cluster` / `-cluster_listen`: the route listen URL. */
  listen?: string;
  name?: string;
  advertise?: string;
  noAdvertise?: boolean;
  routes?: string[];
  connectRetries?: number;
}

export type SignalCommand = "ldm" | "stop" | "quit" | "term" | "reopen" | "reload";

/** The POSIX signal nats-server sends for each `--signal` command. */
export const SIGNALS: Record<SignalCommand, NodeJS.Signals> = {
  stop: "SIGKILL",
  quit: "SIGINT",
  term: "SIGTERM",
  reopen: "SIGUSR1",
  reload: "SIGHUP",
  ldm: "SIGUSR2",
};

export type Action = "run" | "version" | "help" | "help-tls" | "signal" | "test-config";

export interface ParsedArgs {
  action: Action;
  /** For action "signal". */
  signal?: SignalCommand;
  /** For action "signal": the target pid when one was given (number or read from a pid file). */
  pid?: number;
  /** Only the options the command line set. */
  flagOptions: FlagOptions;
  configFile?: string;
  /** TLS comes from --tls* flags: they must name a certificate and a key. */
  tlsFromFlags?: boolean;
}

export class FlagError extends Error {
  /** Go's flag package prints the usage after these errors. */
  readonly showUsage: boolean;
  constructor(message: string, showUsage = true) {
    super(message);
    this.name = "FlagError";
    this.showUsage = showUsage;
  }
}

export const USAGE = `
Usage: tsnats-server [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 = random)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to tsnats-server process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports)

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -s, --syslog                     Log to syslog (refused: not supported by tsnats)
    -r, --remote_syslog <addr>       Syslog server addr (refused: not supported by tsnats)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit in bytes (default: no rotation)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port (refused: not supported by tsnats)

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
`;

export const TLS_USAGE = `
TLS Server Configuration
========================
  --tls                     Enable TLS (clients are not asked for a certificate)
  --tlscert <file>          PEM certificate of the server
  --tlskey <file>           PEM private key of the server
  --tlsverify               Enable TLS and require a client certificate signed by --tlscacert
  --tlscacert <file>        PEM CA bundle used to verify client certificates

The same settings in a configuration file:

  tls {
    cert_file: "./server-cert.pem"
    key_file:  "./server-key.pem"
    ca_file:   "./ca.pem"     # needed with verify
    verify:    true
    timeout:   2              # handshake timeout in seconds
  }
`;

// ---------------------------------------------------------------------------------------

type Kind = "bool" | "string" | "int";

interface State {
  f: FlagOptions;
  configFile?: string;
  testConfig: boolean;
  version: boolean;
  help: boolean;
  helpTls: boolean;
  signal?: string;
  tls?: boolean;
  tlsVerify?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** Some --tls* flag was given (nats-server then builds TLS from the flags, unless -tls=false). */
  tlsTouched?: boolean;
}

interface FlagDef {
  kind: Kind;
  apply(s: State, v: string | number | boolean): void;
}

function js(s: State): Partial<JetStreamOptions> {
  return (s.f.jetstream ??= {});
}

function cluster(s: State): ClusterFlags {
  return (s.f.cluster ??= {});
}

const FLAGS: Record<string, FlagDef> = {};
function def(names: string[], kind: Kind, apply: FlagDef["apply"]): void {
  for (const n of names) FLAGS[n] = { kind, apply };
}

def(["a", "addr", "net"], "string", (s, v) => (s.f.host = v as string));
def(["p", "port"], "int", (s, v) => (s.f.port = v as number));
def(["n", "name", "server_name"], "string", (s, v) => (s.f.serverName = v as string));
def(["D", "debug"], "bool", (s, v) => (s.f.debug = v as boolean));
def(["V", "trace"], "bool", (s, v) => (s.f.trace = v as boolean));
def(["VV"], "bool", (s, v) => {
  s.f.trace = v as boolean;
  s.f.traceVerbose = v as boolean;
});
def(["DV"], "bool", (s, v) => {
  s.f.debug = v as boolean;
  s.f.trace = v as boolean;
});
def(["DVV"], "bool", (s, v) => {
  s.f.debug = v as boolean;
  s.f.trace = v as boolean;
  s.f.traceVerbose = v as boolean;
});
def(["T", "logtime"], "bool", (s, v) => (s.f.logtime = v as boolean));
def(["logtime_utc"], "bool", (s, v) => (s.f.logtimeUtc = v as boolean));
def(["l", "log"], "string", (s, v) => (s.f.logFile = v as string));
def(["log_size_limit"], "int", (s, v) => (s.f.logSizeLimit = v as number));
def(["max_traced_msg_len"], "int", (s, v) => (s.f.maxTracedMsgLen = v as number));
def(["s", "syslog"], "bool", (s, v) => (s.f.syslog = v as boolean));
def(["r", "remote_syslog"], "string", (s, v) => (s.f.remoteSyslog = v as string));
def(["user"], "string", (s, v) => (s.f.username = v as string));
def(["pass"], "string", (s, v) => (s.f.password = v as string));
def(["auth"], "string", (s, v) => (s.f.authorization = v as string));
def(["m", "http_port"], "int", (s, v) => (s.f.httpPort = v as number));
def(["ms", "https_port"], "int", (s, v) => (s.f.httpsPort = v as number));
def(["c", "config"], "string", (s, v) => (s.configFile = v as string));
def(["t"], "bool", (s, v) => (s.testConfig = v as boolean));
def(["P", "pid"], "string", (s, v) => (s.f.pidFile = v as string));
def(["ports_file_dir"], "string", (s, v) => (s.f.portsFileDir = v as string));
def(["profile"], "int", (s, v) => (s.f.profPort = v as number));
def(["client_advertise"], "string", (s, v) => (s.f.clientAdvertise = v as string));
def(["js", "jetstream"], "bool", (s, v) => (js(s).enabled = v as boolean));
def(["sd", "store_dir"], "string", (s, v) => (js(s).storeDir = v as string));
def(["tls"], "bool", (s, v) => ((s.tls = v as boolean), (s.tlsTouched = true)));
def(["tlsverify"], "bool", (s, v) => ((s.tlsVerify = v as boolean), (s.tlsTouched = true)));
def(["tlscert"], "string", (s, v) => ((s.tlsCert = v as string), (s.tlsTouched = true)));
def(["tlskey"], "string", (s, v) => ((s.tlsKey = v as string), (s.tlsTouched = true)));
def(["tlscacert"], "string", (s, v) => ((s.tlsCa = v as string), (s.tlsTouched = true)));
def(["routes"], "string", (s, v) => {
  cluster(s).routes = (v as string)
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
});
def(["cluster", "cluster_listen"], "string", (s, v) => (cluster(s).listen = v as string));
def(["cluster_name"], "string", (s, v) => (cluster(s).name = v as string));
def(["cluster_advertise"], "string", (s, v) => (cluster(s).advertise = v as string));
def(["no_advertise"], "bool", (s, v) => (cluster(s).noAdvertise = v as boolean));
def(["connect_retries"], "int", (s, v) => (cluster(s).connectRetries = v as number));
def(["h", "help"], "bool", (s, v) => (s.help = v as boolean));
def(["help_tls"], "bool", (s, v) => (s.helpTls = v as boolean));
def(["v", "version"], "bool", (s, v) => (s.version = v as boolean));
def(["sl", "signal"], "string", (s, v) => (s.signal = v as string));

/** Go's strconv.ParseBool. */
function parseGoBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

/** Go's strconv.ParseInt(v, 0, 64): decimal, 0x hex, 0o / leading-0 octal, 0b binary. */
function parseGoInt(v: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|0[oO][0-7](?:_?[0-7])*|0[bB][01](?:_?[01])*|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/.exec(v);
  if (!m) return undefined;
  const body = m[2].replace(/_/g, "");
  let n: number;
  if (/^0[xX]/.test(body)) n = parseInt(body.slice(2), 16);
  else if (/^0[oO]/.test(body)) n = parseInt(body.slice(2), 8);
  else if (/^0[bB]/.test(body)) n = parseInt(body.slice(2), 2);
  else if (body.length > 1 && body[0] === "0") n = parseInt(body.slice(1), 8);
  else n = parseInt(body, 10);
  if (!Number.isSafeInteger(n)) return undefined;
  return m[1] === "-" ? -n : n;
}

function resolvePidTarget(target: string): number {
  if (/^\d+$/.test(target)) return Number(target);
  let text: string;
  try {
    text = readFileSync(target, "utf8").trim();
  } catch {
    throw new FlagError(`invalid pid: ${target}`, false);
  }
  if (!/^\d+$/.test(text)) throw new FlagError(`invalid pid: ${target}`, false);
  return Number(text);
}

/** Parse the command line (without the node executable and script: process.argv.slice(2)). */
export function parseArgs(argv: string[]): ParsedArgs {
  const s: State = { f: {}, testConfig: false, version: false, help: false, helpTls: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.length < 2 || arg[0] !== "-") break; // first non-flag argument
    let numMinuses = 1;
    if (arg[1] === "-") {
      numMinuses = 2;
      if (arg.length === 2) {
        i++; // "--" terminates the flags
        break;
      }
    }
    let name = arg.slice(numMinuses);
    if (name.length === 0 || name[0] === "-" || name[0] === "=") throw new FlagError(`bad flag syntax: ${arg}`);
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const flag = Object.prototype.hasOwnProperty.call(FLAGS, name) ? FLAGS[name] : undefined;
    if (!flag) throw new FlagError(`flag provided but not defined: -${name}`);
    if (flag.kind === "bool") {
      if (value === undefined) flag.apply(s, true);
      else {
        const b = parseGoBool(value);
        if (b === undefined) throw new FlagError(`invalid boolean value ${JSON.stringify(value)} for -${name}: parse error`);
        flag.apply(s, b);
      }
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (flag.kind === "int") {
      const n = parseGoInt(value);
      if (n === undefined) throw new FlagError(`invalid value ${JSON.stringify(value)} for flag -${name}: parse error`);
      flag.apply(s, n);
    } else {
      flag.apply(s, value);
    }
  }
  const rest = argv.slice(i);

  // Any --tls* flag turns TLS on from the flags, as in nats-server, unless -tls=false says
  // otherwise (whatever its place on the command line).
  const tlsFromFlags = s.tlsTouched === true && s.tls !== false;
  if (tlsFromFlags) {
    s.f.tls = { verify: s.tlsVerify === true };
    if (s.tlsCert !== undefined && s.tlsCert !== "") s.f.tls.cert = s.tlsCert;
    if (s.tlsKey !== undefined && s.tlsKey !== "") s.f.tls.key = s.tlsKey;
    if (s.tlsCa !== undefined && s.tlsCa !== "") s.f.tls.ca = s.tlsCa;
  }

  const out: ParsedArgs = { action: "run", flagOptions: s.f };
  if (tlsFromFlags) out.tlsFromFlags = true;
  if (s.configFile !== undefined) out.configFile = s.configFile;
  if (s.version) return { ...out, action: "version" };
  if (s.help) return { ...out, action: "help" };
  if (s.helpTls) return { ...out, action: "help-tls" };
  if (rest.length > 0) {
    if (rest[0] === "version") return { ...out, action: "version" };
    if (rest[0] === "help") return { ...out, action: "help" };
    throw new FlagError(`unrecognized command: ${JSON.stringify(rest[0])}`, false);
  }
  if (s.signal !== undefined) {
    const eq = s.signal.indexOf("=");
    const cmd = eq >= 0 ? s.signal.slice(0, eq) : s.signal;
    const target = eq >= 0 ? s.signal.slice(eq + 1) : "";
    if (!Object.prototype.hasOwnProperty.call(SIGNALS, cmd)) throw new FlagError(`unknown signal ${JSON.stringify(cmd)}`, false);
    const res: ParsedArgs = { ...out, action: "signal", signal: cmd as SignalCommand };
    if (target !== "") res.pid = resolvePidTarget(target);
    return res;
  }
  if (s.testConfig) {
    if (s.configFile === undefined) throw new FlagError("must specify [-c, --config] option to check configuration file syntax", false);
    return { ...out, action: "test-config" };
  }
  return out;
}

/**
 * Where JetStream keeps its data: `<store_dir>/jetstream`, like nats-server (which appends
 * "jetstream" to the configured directory), or `<os.tmpdir()>/tsnats/jetstream` when no
 * store directory was configured. Idempotent: a directory whose last segment already is
 * "jetstream" is returned as is, so resolving an already resolved value is harmless
 * (nats-server would nest a second "jetstream" there).
 */
export function resolveStoreDir(opts: Pick<ServerOptions, "jetstream">): string {
  const base = opts.jetstream.storeDir !== "" ? opts.jetstream.storeDir : join(tmpdir(), "tsnats");
  const norm = normalize(base).replace(/(.)[\\/]+$/, "$1");
  if (basename(norm) === "jetstream") return norm;
  return join(norm, "jetstream");
}

/** Apply command-line options over `base` (flags win, as in nats-server). Mutates `base`. */
export function mergeFlagOptions(base: ServerOptions, f: FlagOptions): ServerOptions {
  const { jetstream, tls, cluster, unsupportedBlocks, ...rest } = f;
  Object.assign(base, rest);
  if (jetstream) Object.assign(base.jetstream, jetstream);
  if (tls) base.tls = { ...(base.tls ?? {}), ...tls };
  if (cluster) {
    const c = (base.cluster ??= defaultClusterOptions());
    if (cluster.listen !== undefined) applyClusterListenFlag(c, cluster.listen);
    if (cluster.name !== undefined) c.name = cluster.name;
    if (cluster.advertise !== undefined) c.advertise = cluster.advertise;
    if (cluster.noAdvertise !== undefined) c.noAdvertise = cluster.noAdvertise;
    if (cluster.routes !== undefined) c.routes = cluster.routes;
    if (cluster.connectRetries !== undefined) c.connectRetries = cluster.connectRetries;
  }
  if (unsupportedBlocks) {
    for (const [name, block] of Object.entries(unsupportedBlocks)) {
      const cur = base.unsupportedBlocks[name];
      base.unsupportedBlocks[name] = cur && typeof cur === "object" && !Array.isArray(cur) ? { ...(cur as object), ...block } : block;
      base.warnings.push(notServedWarning(name));
    }
  }
  return base;
}

/** nats-server's checks of what the flags ask for, against the config file's options (before they merge). */
function checkFlagCombinations(parsed: ParsedArgs, fromFile: ServerOptions): void {
  if (parsed.tlsFromFlags) {
    if (parsed.flagOptions.tls?.cert === undefined) throw new Error("TLS Server certificate must be present and valid");
    if (parsed.flagOptions.tls.key === undefined) throw new Error("TLS Server private key must be present and valid");
  }
  const c = parsed.flagOptions.cluster;
  if (c?.routes !== undefined && c.routes.length > 0 && c.listen === undefined && (fromFile.cluster === undefined || fromFile.cluster.port === 0)) {
    throw new Error("solicited routes require cluster capabilities, e.g. --cluster");
  }
}

export interface BuiltOptions extends ParsedArgs {
  /** Complete options: defaults <- config file (-c) <- flags. */
  options: ServerOptions;
}

/**
 * Parse the command line and build the server options. The config file is only read for
 * the "run" and "test-config" actions; cross-field validation runs for "run".
 * Throws FlagError for command-line problems, ConfigError for config file problems and
 * Error for invalid option combinations.
 */
export function buildOptions(argv: string[], po: ParseOptions = {}): BuiltOptions {
  const parsed = parseArgs(argv);
  let options = defaultOptions();
  if (parsed.action !== "run" && parsed.action !== "test-config") return { ...parsed, options };
  if (parsed.configFile !== undefined) options = loadConfigFile(parsed.configFile, { ...po, base: options });
  // -t checks the file alone, as nats-server: flags and cross-field rules are the server's
  // business at start-up (a max_payload above max_pending is a valid file).
  if (parsed.action === "test-config") return { ...parsed, options };
  checkFlagCombinations(parsed, options);
  mergeFlagOptions(options, parsed.flagOptions);
  validateOptions(options);
  return { ...parsed, options };
}
