// Shared by the C-client tests: is the libnats toolchain here, and building a test/c client
// into a temp dir and running it as a child process asynchronously (the server under test
// lives in the test's own event loop).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Why the C tests must skip, or undefined when cc and the libnats headers are installed. */
export function missingCToolchain(): string | undefined {
  if (spawnSync("cc", ["--version"]).status !== 0) return "no C compiler (cc) installed: apt-get install -y gcc";
  const headers = ["/usr/include/nats/nats.h", "/usr/local/include/nats/nats.h", "/usr/include/nats.h"];
  if (!headers.some((h) => fs.existsSync(h))) return "libnats headers not installed: apt-get install -y libnats-dev";
  return undefined;
}

/** Path of a C source in test/c/ (tests run from dist/test/helpers). */
function cSource(name: string): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../test/c", name);
}

export interface CClient {
  /** Compile test/c/<name> with `cc -O1 ... -lnats`; the result carries the compiler's output. */
  compile(): Promise<{ code: number | null; out: string }>;
  /** Run the compiled client with the server URL as its only argument (and extra environment). */
  run(url: string, env?: Record<string, string>): Promise<{ code: number | null; out: string }>;
  /** Remove the temp dir holding the executable. */
  dispose(): void;
}

/** A C client from test/c/<name>, built into its own temp dir. */
export function cClient(name: string): CClient {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-c-"));
  const exe = path.join(dir, path.basename(name, ".c"));
  return {
    compile: () => run("cc", ["-O1", "-o", exe, cSource(name), "-lnats"], 60_000),
    run: (url, env) => run(exe, [url], 30_000, env),
    dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** The step names of a C client's "ok <step>" lines, in order. */
export function okSteps(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => l.startsWith("ok "))
    .map((l) => l.split(" ")[1]);
}

function run(cmd: string, args: string[], timeoutMs: number, env?: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env === undefined ? process.env : { ...process.env, ...env } });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}
