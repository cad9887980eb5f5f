// tsnats-server's command line, flag-compatible with nats-server (loaded by the entry,
// tsnats-server.ts, once V8's heap is tuned): options, signals, start and stop.
import { buildOptions, FlagError, mergeFlagOptions, parseArgs, SIGNALS, USAGE, TLS_USAGE } from "../config/flags.js";
import { isNotServedWarning, loadConfigFile } from "../config/load.js";
import { defaultOptions, type ServerOptions } from "../config/options.js";
import { Logger } from "../server/logger.js";
import { StartError } from "../server/bind_address.js";
import { Server } from "../server/server.js";
import { installServices } from "../server/services.js";
import { NATS_FEATURE_VERSION, TSNATS_VERSION } from "../server/version.js";
import { startedFromCodeCache } from "./code_cache.js";
import { collectDroppedIndexes, collectStartUpGarbage, releaseYoungGeneration } from "./heap_tuning.js";
import { warmUp, warmUpApplies } from "../server/warm_up.js";
import { CpuGate } from "../server/cpu_gate.js";

function fail(msg: string, code = 1): never {
  process.stderr.write(`tsnats-server: ${msg}\n`);
  process.exit(code);
}

/** Pids of running tsnats servers, for `--signal` without a pid (nats-server uses pgrep too). */
async function findServerPids(): Promise<number[]> {
  // Loaded here: only `--signal` needs child processes.
  const { execFileSync } = await import("node:child_process");
  try {
    const out = execFileSync("pgrep", ["-f", "tsnats-server"], { encoding: "utf8" });
    return out
      .split("\n")
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0 && n !== process.pid);
  } catch {
    return [];
  }
}

async function sendSignal(cmd: keyof typeof SIGNALS, pid: number | undefined): Promise<void> {
  const pids = pid !== undefined ? [pid] : await findServerPids();
  if (pids.length === 0) fail("no tsnats-server process found");
  if (pids.length > 1) fail(`multiple tsnats-server processes running (${pids.join(", ")}); give one: --signal ${cmd}=<pid>`);
  try {
    process.kill(pids[0], SIGNALS[cmd]);
  } catch (err) {
    fail(`could not signal ${pids[0]}: ${(err as Error).message}`);
  }
}

/** Options for a config reload: the file again, then the same flags on top. */
function reloadOptions(argv: string[], configFile: string | undefined): ServerOptions {
  if (configFile === undefined) throw new Error("can only reload config when a file is provided using -c or --config");
  return mergeFlagOptions(loadConfigFile(configFile, { base: defaultOptions() }), parseArgs(argv).flagOptions);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let built;
  try {
    built = buildOptions(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      if (!err.showUsage) fail(err.message);
      // Go's flag package, as nats-server sets it up: the error on stderr, then the usage on
      // stdout, and status 0 (its usage function exits before the flag package would).
      process.stderr.write(`${err.message}\n`);
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    fail((err as Error).message);
  }
  switch (built.action) {
    case "version":
      // The version first is the one INFO reports, as nats-server prints it: client test
      // harnesses read it from `<server> -v` to gate features (nats.c's CI:
      // NATS_TEST_SERVER_VERSION="$(nats-server -v)", parsed after " v"). tsnats' own follows.
      process.stdout.write(`tsnats-server: v${NATS_FEATURE_VERSION} (tsnats ${TSNATS_VERSION})\n`);
      return;
    case "help":
      // nats-server prints its usage text and a new line.
      process.stdout.write(`${USAGE}\n`);
      return;
    case "help-tls":
      process.stdout.write(TLS_USAGE);
      return;
    case "signal":
      await sendSignal(built.signal as keyof typeof SIGNALS, built.pid);
      return;
    case "test-config": {
      // As nats-server: a warning fails the check (the file says something it should not),
      // and the answer names the digest /varz will show. tsnats' own notes (a block it does
      // not serve) are not the file's fault.
      const warnings = built.options.warnings.filter((w) => !isNotServedWarning(w));
      if (warnings.length > 0) fail(`${warnings.join("\n")}\n`);
      process.stderr.write(`tsnats-server: configuration file ${built.configFile ?? ""} is valid (${built.options.configDigest ?? ""})\n`);
      return;
    }
    case "run":
      break;
  }
  const options = built.options;
  const log = Logger.fromOptions(options);
  if (startedFromCodeCache()) log.debug("Server code compiled from the V8 code cache");
  // Last resort: an error that escaped every handler is logged, and the other clients keep
  // their server (each connection and internal service already catches its own errors).
  process.on("uncaughtException", (err) => log.error(`Uncaught exception: ${err.stack ?? String(err)}`));
  process.on("unhandledRejection", (err) => log.error(`Unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  const server = new Server(options, log);
  // A start-up failure (services refused, listeners...) stops the process with status 1.
  const fatal = (err: unknown): never => {
    log.fatal(err instanceof StartError ? err.message : `Error starting server: ${(err as Error).message}`);
    log.close();
    process.exit(1);
  };
  await installServices(server).catch(fatal);
  // Signal handlers first: the ports file and "Server is ready" tell the world to signal us,
  // and a signal without its handler would take Node's default (SIGUSR1 starts the inspector,
  // SIGTERM/SIGHUP kill at once), as nats-server installs its handlers before it is ready.
  let stopping = false;
  /** Closes the connection the warm-up keeps open. */
  let closeWarmUp = (): void => undefined;
  const stop = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`Trapped "${sig}" signal`);
    closeWarmUp();
    await server.shutdown();
    log.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("interrupt"));
  process.on("SIGTERM", () => void stop("terminated"));
  server.configReloader = () => reloadOptions(argv, built.configFile);
  process.on("SIGHUP", () => {
    try {
      server.reloadConfig();
    } catch (err) {
      log.error(`Failed to reload server configuration: ${(err as Error).message}`);
    }
  });
  process.on("SIGUSR1", () => log.reopen());
  process.on("SIGUSR2", () => {
    void server.enterLameDuckMode().then(() => {
      log.close();
      process.exit(0);
    });
  });

  await server.startServer().catch(fatal);
  // What follows can wait while other processes need the CPU more (servers of a test suite
  // starting together): server/cpu_gate.ts.
  const gate = CpuGate.afterStartUp();
  if (gate !== undefined) log.debug(`Start-up had ${gate.startUpShare.toFixed(2)} of a CPU: its warm-up waits while the CPU is contended`);
  await gate?.pass(() => stopping);
  // The warm-up's garbage is no reason to grow the young generation: released after it.
  if (process.env.TSNATS_NO_WARMUP !== "1" && !log.traceEnabled && warmUpApplies(options)) {
    // Start-up's garbage goes first, so the warm-up's own does not pile up on top of it: what
    // start-up left (the bundle and code cache files, 2.6 MB read into WebAssembly memory, which
    // V8 frees only with their buffers, promoted by then) stayed resident until the collection
    // after the warm-up, whose peak was the process's peak RSS in every scenario that does not
    // grow past its idle size (pub16, reqlat: VmHWM 65 MB, 60.5 once idle).
    if (!stopping) collectStartUpGarbage();
    closeWarmUp = await warmUp(server, () => stopping, gate);
  }
  // A turn for the warm-up's sockets to close, then start-up's garbage goes.
  await new Promise((resolve) => setImmediate(resolve));
  if (!stopping) collectStartUpGarbage();
  releaseYoungGeneration();
  collectDroppedIndexes();
  if (gate !== undefined && !stopping) log.debug(`Start-up warm-up done, held back ${gate.heldMs} ms by CPU contention`);
}

void main();
