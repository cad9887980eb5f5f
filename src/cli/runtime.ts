// The world a tsnats command runs in: where it writes, what environment it reads, whether it
// may ask questions. Commands never touch process.stdout/env directly, so tests can run the
// whole CLI in-process and capture its output, and the bin wires the real process in.
import os from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";

export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: Readable & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Prompts are allowed (stdin and stdout are terminals, or a test forces it). */
  readonly interactive: boolean;
  /** Aborted on SIGINT/SIGTERM (bin) or by a test: long-running commands stop cleanly. */
  readonly signal: AbortSignal;
}

/**
 * An error that reaches the user as `tsnats: <message>` (plus an optional hint line that says
 * what to do next) and sets the exit status. Every expected failure is one of these; anything
 * else is reported the same way with exit status 1.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit statuses scripts can rely on (documented in README). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;

/** natscli's configuration root: $XDG_CONFIG_HOME/nats or ~/.config/nats. */
export function natsConfigDir(env: CliIO["env"]): string {
  const xdg = env.XDG_CONFIG_HOME;
  return path.join(xdg && xdg !== "" ? xdg : path.join(homeDir(env), ".config"), "nats");
}

export function homeDir(env: CliIO["env"]): string {
  return env.HOME && env.HOME !== "" ? env.HOME : os.homedir();
}

/** Write one line (a newline is added) to stdout. */
export function println(io: CliIO, text = ""): void {
  io.stdout.write(text + "\n");
}

/** Write one line to stderr. */
export function eprintln(io: CliIO, text = ""): void {
  io.stderr.write(text + "\n");
}

/** Resolves after `ms`, or early when the command is aborted. */
export function sleep(io: CliIO, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (io.signal.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      io.signal.removeEventListener("abort", done);
      resolve();
    }
    io.signal.addEventListener("abort", done, { once: true });
  });
}

/** A promise that settles when the command is aborted (Ctrl-C). */
export function aborted(io: CliIO): Promise<void> {
  return new Promise((resolve) => {
    if (io.signal.aborted) return resolve();
    io.signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** An informational line on stderr with natscli's log prefix ("2006/01/02 15:04:05 "). */
export function logf(io: CliIO, text: string): void {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, "0");
  io.stderr.write(`${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${text}\n`);
}
