// natscli's plugins: an external program registered under a top-level command name. The
// registration stores, where natscli does ($XDG_DATA_HOME/nats/cli/plugins/<name>.json),
// the program's path and the application model it prints for `--fisk-introspect` (the fisk
// library's self-description, which natscli plugins are built with), so plugins registered
// by natscli appear in tsnats too. Running `tsnats <name> ...` runs the program with the
// words after the name, plus the global flags the user gave that the plugin also declares
// (--server, --context, ...), as natscli hands them on.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { App, camel } from "./app.js";
import { CliError, eprintln, homeDir, println, type CliIO } from "./runtime.js";

interface PluginFile {
  cmd: string;
  def: { name?: string; help?: string; flags?: { name: string }[] };
}

/** Where natscli keeps plugin registrations. */
export function pluginDir(env: CliIO["env"]): string {
  const dataHome = env.XDG_DATA_HOME || path.join(homeDir(env), ".local", "share");
  return path.join(dataHome, "nats", "cli", "plugins");
}

/** Run `cmd` with `args`, wired to the command's io; resolves to its exit status. */
function runPlugin(io: CliIO, cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // On a terminal the plugin gets the terminal itself (its prompts work); elsewhere its
    // output passes through this command's streams.
    const child = spawn(cmd, args, { stdio: io.interactive ? "inherit" : ["pipe", "pipe", "pipe"], env: io.env as NodeJS.ProcessEnv });
    if (!io.interactive) {
      child.stdout!.on("data", (d: Buffer) => io.stdout.write(d));
      child.stderr!.on("data", (d: Buffer) => io.stderr.write(d));
      if (io.stdin.isTTY) child.stdin!.end();
      else io.stdin.pipe(child.stdin!).on("error", () => undefined);
      child.stdin!.on("error", () => undefined);
    }
    const onAbort = (): void => void child.kill("SIGINT");
    io.signal.addEventListener("abort", onAbort, { once: true });
    child.on("error", (err) => reject(new CliError(`could not run plugin ${cmd}: ${err.message}`)));
    child.on("close", (code, signal) => {
      io.signal.removeEventListener("abort", onAbort);
      if (!io.interactive) io.stdin.unpipe(child.stdin!);
      resolve(code ?? (signal ? 128 + 2 : 1));
    });
  });
}

/** Add every registered plugin as a top-level command (a broken registration is reported and skipped). */
function addPlugins(app: App): void {
  const io = app.io;
  const dir = pluginDir(io.env);
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    return;
  }
  const taken = new Set(app.program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  for (const file of files.sort()) {
    const name = file.slice(0, -".json".length);
    let p: PluginFile;
    try {
      p = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as PluginFile;
      if (typeof p.cmd !== "string" || typeof p.def !== "object" || p.def === null) throw new Error("not a plugin registration");
    } catch (err) {
      eprintln(io, `Could not read plugin ${file}: ${(err as Error).message}`);
      continue;
    }
    if (taken.has(name)) {
      eprintln(io, `Invalid plugin ${file}: ${name} is a tsnats command`);
      continue;
    }
    if (!p.def.help) {
      eprintln(io, `Invalid plugin ${file}: plugin declared no help`);
      continue;
    }
    const declared = new Set((p.def.flags ?? []).map((f) => f.name));
    app.program
      .command(`${name} [args...]`)
      .description(`${p.def.help} (plugin: ${p.cmd})`)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(async (args: string[]) => {
        const globals = app.program.opts() as Record<string, unknown>;
        const forward: string[] = [];
        for (const flag of declared) {
          const v = globals[camel(flag)];
          if (app.program.getOptionValueSource(camel(flag)) !== "cli") continue;
          if (typeof v === "string") forward.push(`--${flag}=${v}`);
          else if (v === true) forward.push(`--${flag}`);
        }
        app.exitCode = await runPlugin(io, p.cmd, [...args, ...forward]);
      });
    taken.add(name);
  }
}

export function registerPlugins(app: App): void {
  const io = app.io;
  const plugins = app.program.command("plugins").description("Manage plugins (natscli's: programs built with the fisk library, registered as top-level commands)");
  plugins
    .command("register <name> <command>")
    .description("Registers a new plugin")
    .option("--force", "Overwrite existing plugins")
    .action(
      app.action<{ force?: boolean }>(async ({ opts }, name: string, command: string) => {
        println(io, "WARNING: Plugins support is experimental and not officially supported\n");
        if (!/^[a-z]+$/.test(name)) throw new CliError("plugins names must match ^[a-z]+$");
        const cmd = path.resolve(command);
        if (!fs.existsSync(cmd) || !fs.statSync(cmd).isFile()) throw new CliError(`${command} is not a file`);
        const dir = pluginDir(io.env);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, `${name}.json`);
        if (!opts.force && fs.existsSync(file)) throw new CliError(`plugins ${name} already registered, use --force to update`);
        const r = spawnSync(cmd, ["--fisk-introspect"], { env: io.env as NodeJS.ProcessEnv, timeout: 30_000 });
        if (r.error || r.status !== 0) throw new CliError(`${command} --fisk-introspect failed: ${r.error?.message ?? (r.stderr.toString().trim() || `exit status ${r.status}`)}`, "a plugin is a program built with the fisk library, which describes itself for --fisk-introspect");
        let def: unknown;
        try {
          def = JSON.parse(r.stdout.toString());
        } catch {
          throw new CliError(`${command} --fisk-introspect did not print an application model (JSON)`);
        }
        if (def === null || typeof def !== "object" || !(def as PluginFile["def"]).help) throw new CliError(`${command} declared no help in its application model`);
        fs.writeFileSync(file, JSON.stringify({ cmd, def }), { mode: 0o600 });
        println(io, `Plugin ${name} using command ${cmd} was added or updated`);
      }),
    );
  addPlugins(app);
}
