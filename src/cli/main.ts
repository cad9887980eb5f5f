// The tsnats program: global connection flags (natscli's names and NATS_* variables), the
// command groups, and the one place errors become messages and exit statuses.
import { Command, CommanderError, Option } from "commander";
import { TSNATS_VERSION } from "../server/version.js";
import { App } from "./app.js";
import { registerContext } from "./context_cmd.js";
import { registerAccount } from "./account_cmd.js";
import { registerAuth } from "./auth_cmd.js";
import { registerBench } from "./bench_cmd.js";
import { registerCompletion, runComplete } from "./completion_cmd.js";
import { registerEvents } from "./events_cmd.js";
import { registerMicro } from "./micro_cmd.js";
import { registerConsumer } from "./consumer_cmd.js";
import { registerCore } from "./core_cmd.js";
import { registerKv } from "./kv_cmd.js";
import { registerObject } from "./object_cmd.js";
import { registerServer } from "./server_cmd.js";
import { registerStream } from "./stream_cmd.js";
import { registerTop } from "./top_cmd.js";
import { registerTrace } from "./trace_cmd.js";
import { registerErrors } from "./errors_cmd.js";
import { registerLatency } from "./latency_cmd.js";
import { registerCounter } from "./counter_cmd.js";
import { registerSchema } from "./schema_cmd.js";
import { registerPlugins } from "./plugins_cmd.js";
import { registerTraffic } from "./traffic_cmd.js";
import { CliError, EXIT, eprintln, type CliIO } from "./runtime.js";

export type Registrar = (app: App) => void;

/** Every command group, in the order `tsnats --help` lists them (plugins last: they take the names left). */
const GROUPS: Registrar[] = [registerContext, registerCore, registerStream, registerConsumer, registerKv, registerObject, registerCounter, registerServer, registerTop, registerTrace, registerAccount, registerBench, registerLatency, registerAuth, registerEvents, registerMicro, registerErrors, registerSchema, registerTraffic, registerCompletion, registerPlugins];

/** Add more groups (each command group file calls this once at import). */
export function commandGroups(): Registrar[] {
  return GROUPS;
}

function globalOptions(program: Command): void {
  program
    .option("-s, --server <url>", "NATS server urls, comma separated (env NATS_URL)")
    .option("--user <user>", "Username or Token (env NATS_USER)")
    .option("--password <password>", "Password (env NATS_PASSWORD)")
    .option("--token <token>", "Token (env NATS_TOKEN)")
    .option("--connection-name <name>", "Nickname to use for the underlying NATS Connection")
    .option("--creds <file>", "User credentials file (env NATS_CREDS)")
    .option("--nkey <file>", "User NKEY seed file (env NATS_NKEY)")
    .option("--jwt <jwt>", "User JWT (env NATS_JWT)")
    .option("--seed <seed>", "User seed (env NATS_SEED)")
    .option("--tlscert <file>", "TLS public certificate (env NATS_CERT)")
    .option("--tlskey <file>", "TLS private key (env NATS_KEY)")
    .option("--tlsca <file>", "TLS certificate authority chain (env NATS_CA)")
    .option("--tlsfirst", "Perform TLS handshake before expecting the server greeting")
    .addOption(new Option("--tls-first", "alias for --tlsfirst").hideHelp())
    .option("--timeout <duration>", "Time to wait on responses from NATS (env NATS_TIMEOUT)", undefined)
    .option("--socks-proxy <proxy>", "SOCKS5 proxy for connecting to NATS server, socks5://[user:pass@]host:port (env NATS_SOCKS_PROXY)")
    .option("--js-api-prefix <prefix>", "Subject prefix for access to JetStream API")
    .option("--js-event-prefix <prefix>", "Subject prefix for access to JetStream Advisories")
    .option("--js-domain <domain>", "JetStream domain to access")
    .addOption(new Option("--domain <domain>", "JetStream domain to access").hideHelp())
    .option("--inbox-prefix <prefix>", "Custom inbox prefix to use for inboxes")
    .option("--trace", "Trace API interactions (requests and responses on stderr)")
    .option("--colors <scheme>", "Accepted for natscli compatibility; tsnats prints no colour")
    .option("--context <name>", "Configuration context (env NATS_CONTEXT)")
    .option("--no-context", "Disable the selected context");
}

/** Build a fresh program (commander objects hold parse state, so one per run). */
export function buildProgram(io: CliIO): { program: Command; app: App } {
  const program = new Command("tsnats");
  program
    .description("NATS utility: pub/sub, JetStream, KV, Object Store, server monitoring, keys and JWTs.\nA natscli command line works with tsnats in place of nats.")
    .version(TSNATS_VERSION, "--version", "Show the tsnats version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s.replace(/^error: /, "tsnats: ")),
    })
    .showHelpAfterError("(add --help for usage)")
    .showSuggestionAfterError(true);
  globalOptions(program);
  const app = new App(io, program);
  for (const register of GROUPS) register(app);
  return { program, app };
}

/** Run tsnats with `argv` (without node and the script); resolves to the exit status. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const { program, app } = buildProgram(io);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  if (argv[0] === "__complete") {
    runComplete(app, argv.slice(1));
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return app.exitCode;
  } catch (err) {
    return reportError(io, err);
  } finally {
    await app.closeAll();
  }
}

/** Print an error as "tsnats: message" plus its hint; return the exit status. */
export function reportError(io: CliIO, err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return EXIT.ok;
    // commander already printed the message and the help hint.
    return EXIT.usage;
  }
  if (err instanceof CliError) {
    eprintln(io, `tsnats: ${err.message}`);
    if (err.hint) eprintln(io, `  ${err.hint}`);
    return err.exitCode;
  }
  const e = err as Error & { code?: unknown };
  eprintln(io, `tsnats: ${e?.message ?? String(err)}`);
  return EXIT.failure;
}
