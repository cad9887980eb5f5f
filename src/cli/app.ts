// Shared plumbing for command groups: how an action gets its Session, how repeated flags are
// collected, how exit statuses are set. Each command group file exports one `register*`
// function that adds its commands to the program through an App.
import { Writable } from "node:stream";
import { Command, Option } from "commander";
import { Session, type GlobalFlags } from "./connection.js";
import { CliError, type CliIO } from "./runtime.js";
import { refreshLoop } from "./screen.js";
import { parseInteger } from "./units.js";

/** What an action returns: nothing (exit 0) or an explicit exit status. */
export type ActionResult = void | number;

export interface ActionContext<O> {
  session: Session;
  io: CliIO;
  opts: O;
  cmd: Command;
}

export class App {
  /** Exit status set by the last action (server check uses Nagios codes). */
  exitCode = 0;
  private readonly sessions: Session[] = [];

  constructor(
    readonly io: CliIO,
    readonly program: Command,
  ) {}

  /** The global flags as given (program-level options). */
  globals(): GlobalFlags {
    return this.program.opts() as GlobalFlags;
  }

  /**
   * Wrap an action: positional arguments first, then a context with the session, the
   * command's own options and the command. The session is closed when the action ends.
   */
  action<O = Record<string, unknown>>(fn: (ctx: ActionContext<O>, ...args: any[]) => Promise<ActionResult>): (...all: unknown[]) => Promise<void> {
    return async (...all: unknown[]) => {
      const cmd = all[all.length - 1] as Command;
      const opts = all[all.length - 2] as O;
      const args = all.slice(0, -2);
      const session = new Session(this.io, this.globals());
      this.sessions.push(session);
      try {
        const watch = (opts as { watch?: string }).watch;
        if (watch !== undefined) {
          // --watch N (server reports): the report redrawn every N seconds until Ctrl-C.
          const secs = parseInteger(watch, "--watch", 1);
          await refreshLoop(this.io, secs * 1000, () => this.captureStdout(() => fn({ session, io: this.io, opts, cmd }, ...args)));
          return;
        }
        const code = await fn({ session, io: this.io, opts, cmd }, ...args);
        if (typeof code === "number") this.exitCode = code;
      } finally {
        await session.close();
      }
    };
  }

  /**
   * What `run` writes to stdout, as text. Command groups keep the io they were registered
   * with, so its stdout is swapped for the run (a watch frame) and put back after.
   */
  private async captureStdout(run: () => Promise<ActionResult>): Promise<string> {
    let text = "";
    const capture = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const io = this.io as { stdout: CliIO["stdout"] };
    const real = io.stdout;
    io.stdout = Object.assign(capture, { isTTY: false, columns: real.columns, rows: real.rows });
    try {
      await run();
    } finally {
      io.stdout = real;
    }
    return text.replace(/\n+$/, "");
  }

  async closeAll(): Promise<void> {
    for (const s of this.sessions) await s.close().catch(() => undefined);
  }
}

/** Option parser for flags that may be repeated (`--subjects a --subjects b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Option parser for repeated KEY=VALUE / KEY:VALUE flags (headers, metadata). */
export function collectPairs(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const m = /^([^=:]+)[=:](.*)$/.exec(value);
  if (!m) throw new CliError(`invalid value "${value}": expected KEY=VALUE`);
  return { ...(previous ?? {}), [m[1].trim()]: m[2].trim() };
}

/** A boolean flag with a --no-<name> form, default `def` (fisk's BoolVar). */
export function boolFlag(cmd: Command, name: string, description: string, def?: boolean): void {
  cmd.addOption(new Option(`--${name}`, description));
  cmd.addOption(new Option(`--no-${name}`, `Negates --${name}`).hideHelp());
  if (def !== undefined) cmd.setOptionValueWithSource(camel(name), def, "default");
}

/** --json / -j, the switch every read command has. */
export function jsonFlag(cmd: Command): Command {
  return cmd.option("-j, --json", "Produce JSON output");
}

export function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** True when the user typed the option (not a default). */
export function isSet(cmd: Command, name: string): boolean {
  const src = cmd.getOptionValueSource(camel(name));
  return src === "cli" || src === "env";
}
