// Shared test helper: run the tsnats CLI in-process (fast: no node start-up per command) or
// as a real child process (the bin, exit statuses, a pseudo-terminal for prompts), always
// with a private HOME/XDG_CONFIG_HOME so tests never read or write the user's contexts.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { runCli } from "../../src/cli/main.js";

export const TSNATS_BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "src", "bin", "tsnats.js");

/** Why tests that drive python3 (the pseudo-terminal driver, rusage) must skip; undefined when it is here. */
export const PYTHON3_MISSING: string | undefined =
  spawnSync("python3", ["--version"]).status === 0 ? undefined : "python3 is not installed (apt-get install -y python3)";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  text = "";
  bytes: Buffer[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    this.bytes.push(b);
    this.text += b.toString("utf8");
    cb();
  }
}

/** A private config home for one test; `env` holds HOME and XDG_CONFIG_HOME pointing into it. */
export class CliHome {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-cli-"));
  readonly env: Record<string, string> = { HOME: this.dir, XDG_CONFIG_HOME: path.join(this.dir, ".config"), PATH: process.env.PATH ?? "" };

  constructor(extra: Record<string, string> = {}) {
    Object.assign(this.env, extra);
  }

  /**
   * Run in-process; `server` (a URL) is passed as --server unless the args give one. `tty`
   * makes stdout claim to be a terminal of that size (for the live views and graphs).
   */
  run(args: string[], opts: { server?: string; stdin?: string | Buffer; env?: Record<string, string>; signal?: AbortSignal; tty?: { columns: number; rows: number } } = {}): CliRunning {
    const stdout = new Capture();
    if (opts.tty) Object.assign(stdout, { isTTY: true, ...opts.tty });
    const stderr = new Capture();
    const stdin = opts.stdin !== undefined ? Readable.from([Buffer.from(opts.stdin)]) : Readable.from([]);
    const controller = new AbortController();
    opts.signal?.addEventListener("abort", () => controller.abort());
    const argv = opts.server !== undefined ? [...args, "--server", opts.server] : args;
    const done = runCli(argv, {
      stdout,
      stderr,
      stdin,
      env: { ...this.env, ...(opts.env ?? {}) },
      interactive: false,
      signal: controller.signal,
    }).then((code) => ({ code, stdout: stdout.text, stderr: stderr.text }));
    return { done, stdout, stderr, abort: () => controller.abort() };
  }

  /** Run in-process and wait for the result. */
  async exec(args: string[], opts: { server?: string; stdin?: string | Buffer; env?: Record<string, string> } = {}): Promise<CliResult> {
    return this.run(args, opts).done;
  }

  /** Run the real bin as a child process. */
  spawn(args: string[], opts: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [TSNATS_BIN, ...args], { env: { ...this.env, ...(opts.env ?? {}) }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`tsnats ${args.join(" ")} timed out; stdout=${stdout} stderr=${stderr}`));
      }, opts.timeoutMs ?? 30_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
      else child.stdin.end();
    });
  }

  /** Run the bin on a pseudo-terminal (python3's pty module), answering prompts in order. */
  pty(args: string[], answers: { expect: string; send: string }[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
    // dist/test/helpers -> project root -> test/helpers (tsc does not copy the .py file)
    const script = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "..", "test", "helpers", "pty_driver.py");
    return new Promise((resolve, reject) => {
      const child = spawn("python3", [script, JSON.stringify(answers), process.execPath, TSNATS_BIN, ...args], {
        env: { ...this.env, ...(opts.env ?? {}), TERM: "dumb", COLUMNS: "120", LINES: "40" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`pty tsnats ${args.join(" ")} timed out; output=${stdout} ${stderr}`));
      }, opts.timeoutMs ?? 30_000);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface CliRunning {
  done: Promise<CliResult>;
  stdout: Capture;
  stderr: Capture;
  abort(): void;
}

export { PassThrough };
