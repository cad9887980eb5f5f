// Shared test helper: run the reference nats-server binary (when installed) on a free port,
// so tests can compare tsnats's answers with the real thing.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface ReferenceServer {
  readonly port: number;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

/** Path of the installed nats-server binary (Debian's 2.9.10), or undefined when it is not installed. */
export function natsServerBinary(): string | undefined {
  const candidates = [process.env.NATS_SERVER_BIN, "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  const r = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/** The release lines `../shared/tools/nats-server-ref.sh` can provide. */
export type ReferenceLine = "2.15" | "2.10" | "2.9";

const refCache = new Map<ReferenceLine, string | undefined>();

/**
 * Path of a reference nats-server of the given line (default: the current one, 2.15), from
 * `../shared/tools/nats-server-ref.sh` beside the project root (fetched once into a cache);
 * undefined when it cannot be had, so comparison tests skip.
 */
export function referenceBinary(line: ReferenceLine = "2.15"): string | undefined {
  if (refCache.has(line)) return refCache.get(line);
  let found: string | undefined;
  const envKey = `NATS_SERVER_${line.replace(".", "_")}_BIN`;
  if (process.env[envKey] && fs.existsSync(process.env[envKey] as string)) found = process.env[envKey];
  else {
    // dist/test/helpers -> project root -> ../shared
    const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "..");
    const script = path.resolve(root, "..", "shared", "tools", "nats-server-ref.sh");
    if (fs.existsSync(script)) {
      const r = spawnSync(script, [line], { encoding: "utf8", timeout: 180_000 });
      const p = r.stdout.trim();
      if (r.status === 0 && p && fs.existsSync(p)) found = p;
    }
    if (found === undefined && line === "2.9") found = natsServerBinary();
  }
  refCache.set(line, found);
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether `host:port` accepts a TCP connection now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
  });
}

/**
 * Wait until `host:port` accepts TCP connections; throws after `timeoutMs` (a safety net: a
 * loaded machine can take seconds to start a process), or as soon as `gaveUp()` says so.
 */
export async function waitForPort(host: string, port: number, timeoutMs = 30_000, gaveUp: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(host, port))) {
    if (gaveUp()) throw new Error(`${host}:${port}: the process listening there went away`);
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** This checkout's tsnats-server bin (dist/src/bin), for tests that need it as a process. */
export const TSNATS_SERVER_BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "src", "bin", "tsnats-server.js");

/**
 * Start nats-server with `-a 127.0.0.1 -p <free port>` plus `extraArgs`, or with a config
 * file whose text is `config` (the port is still passed with -p). Resolves once it accepts
 * client connections and, when given, connections on `otherPorts` too (nats-server opens its
 * route, leafnode, websocket and monitoring listeners after the client one).
 * `line` "tsnats" runs this checkout's tsnats-server the same way.
 */
export async function startNatsServer(
  extraArgs: string[] = [],
  config?: string,
  line: ReferenceLine | "installed" | "tsnats" = "installed",
  otherPorts: number[] = [],
): Promise<ReferenceServer> {
  const bin = line === "tsnats" ? process.execPath : line === "installed" ? natsServerBinary() : referenceBinary(line);
  if (bin === undefined) throw new Error(`nats-server ${line} is not available`);
  const port = await freePort();
  const args = [...(line === "tsnats" ? [TSNATS_SERVER_BIN] : []), "-a", "127.0.0.1", "-p", String(port), ...extraArgs];
  let confDir: string | undefined;
  if (config !== undefined) {
    confDir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-ref-"));
    const file = path.join(confDir, "server.conf");
    fs.writeFileSync(file, config);
    args.push("-c", file);
  }
  const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  proc.once("exit", () => (exited = true));
  try {
    for (const p of [port, ...otherPorts]) await waitForPort("127.0.0.1", p, 30_000, () => exited);
  } catch (err) {
    proc.kill("SIGKILL");
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
    throw new Error(`nats-server did not start (${(err as Error).message}): ${stderr.slice(-1000)}`);
  }
  return {
    port,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
          resolve();
        };
        if (exited) return done();
        proc.once("exit", done);
        proc.kill("SIGTERM");
        setTimeout(() => proc.kill("SIGKILL"), 3000).unref();
      }),
  };
}
