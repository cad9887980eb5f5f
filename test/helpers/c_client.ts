// Shared by the C-client tests: is the libnats toolchain here, and running a child process
// asynchronously (the server under test lives in the test's own event loop).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Why the C tests must skip, or undefined when cc and the libnats headers are installed. */
export function missingCToolchain(): string | undefined {
  if (spawnSync("cc", ["--version"]).status !== 0) return "no C compiler (cc) installed: apt-get install -y gcc";
  const headers = ["/usr/include/nats/nats.h", "/usr/local/include/nats/nats.h", "/usr/include/nats.h"];
  if (!headers.some((h) => fs.existsSync(h))) return "libnats headers not installed: apt-get install -y libnats-dev";
  return undefined;
}

/** Path of a C source in test/c/ (tests run from dist/test). */
export function cSource(name: string): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../test/c", name);
}

export function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
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
