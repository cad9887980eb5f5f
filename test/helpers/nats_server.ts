// Shared test helper: run the reference nats-server binary (when installed) on a free port,
// so tests can compare tsnats's answers with the real thing.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** The listeners a server's ports file names (nats-server's Ports). */
export interface PortsFile {
  nats?: string[];
  monitoring?: string[];
  cluster?: string[];
  websocket?: string[];
}

export interface ReferenceServer {
  readonly port: number;
  /** The monitoring URL from the ports file, when monitoring is on (`-m -1` picks a free port). */
  readonly monitorUrl?: string;
  /** Its ports file: use -m -1, a websocket port -1... and find them here. */
  readonly ports: PortsFile;
  readonly proc: ChildProcess;
  /** What it wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Path of the installed nats-server binary (Debian's 2.9.10), or undefined when it is not
 * installed. NATS_SERVER_BIN names another one; NATS_SERVER_BIN=none hides it.
 */
export function natsServerBinary(): string | undefined {
  const env = process.env.NATS_SERVER_BIN;
  if (env === "none") return undefined;
  const candidates = [env, "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  const r = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/** The release lines `.ci/nats-server-ref.sh` can provide. */
export type ReferenceLine = "2.15" | "2.10" | "2.9";

const refCache = new Map<ReferenceLine, string | undefined>();

/**
 * Path of a reference nats-server of the given line (default: the current one, 2.15), or
 * undefined when it cannot be had, so comparison tests skip.
 * NATS_SERVER_2_15_BIN (2_10, 2_9) names the binary, or says "none" (unavailable: .ci/run
 * fetches each line once and says so when the fetch failed). Otherwise
 * the project's `.ci/nats-server-ref.sh` fetches it once into a cache;
 * test files run in parallel processes, so the calls are serialized with flock: two fetches
 * at once would write the same cached binary.
 */
export function referenceBinary(line: ReferenceLine = "2.15"): string | undefined {
  if (refCache.has(line)) return refCache.get(line);
  let found: string | undefined;
  const env = process.env[`NATS_SERVER_${line.replace(".", "_")}_BIN`];
  if (env !== undefined && env !== "") {
    if (env !== "none" && fs.existsSync(env)) found = env;
  } else {
    // dist/test/helpers -> project root
    const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "..");
    const script = path.join(root, ".ci", "nats-server-ref.sh");
    if (fs.existsSync(script)) {
      const lock = path.join(os.tmpdir(), "tsnats-nats-server-ref.lock");
      const haveFlock = spawnSync("flock", ["--version"]).status === 0;
      const [cmd, args] = haveFlock ? ["flock", [lock, "bash", script, line]] : ["bash", [script, line]];
      const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 300_000 });
      const p = r.stdout.trim();
      if (r.status === 0 && p && fs.existsSync(p)) found = p;
    }
    if (found === undefined && line === "2.9") found = natsServerBinary();
  }
  refCache.set(line, found);
  return found;
}

/**
 * The lowest port the kernel hands out for outgoing connections and `listen(0)`. Test ports come
 * from below it: a port found free by `listen(0)` and closed again could be taken by any client
 * connection's local end before the server binds it (EADDRINUSE in parallel test files).
 */
const EPHEMERAL_LOW = ((): number => {
  try {
    const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
})();
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1, outside the kernel's ephemeral range, not given before by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (EPHEMERAL_LOW - 10_000));
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port below the ephemeral range");
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

// Servers a test process started and has not seen exit: killed when that process exits, so a
// test file that ends without reaching its stop() (a failed before(), a cancelled file) leaves
// no nats-server running behind it.
const liveServers = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of liveServers) p.kill("SIGKILL");
});

/**
 * Start nats-server on 127.0.0.1 with `extraArgs`, and with a config file whose text is
 * `config` when given. The server picks its own client port (-p -1: a port chosen here and
 * released could be taken by another test process before the server binds it) and reports it
 * in its ports file, which it writes once its client, route, monitoring and websocket
 * listeners are up (`-m -1`: monitoring on a port it picks, given as `monitorUrl`);
 * `otherPorts` (a leafnode port, say) are waited for as well. `env` is added to the
 * process's environment. With `-js` and no `-sd`, JetStream stores in the server's own temporary
 * directory, removed by `stop()` (nats-server's default, $TMPDIR/nats/jetstream, would be shared
 * by every test process). `line` "tsnats" runs this checkout's tsnats-server the same way.
 */
export async function startNatsServer(
  extraArgs: string[] = [],
  config?: string,
  line: ReferenceLine | "installed" | "tsnats" = "installed",
  otherPorts: number[] = [],
  env: Record<string, string> = {},
): Promise<ReferenceServer> {
  const bin = line === "tsnats" ? process.execPath : line === "installed" ? natsServerBinary() : referenceBinary(line);
  if (bin === undefined) throw new Error(`nats-server ${line} is not available`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-ref-"));
  const args = [...(line === "tsnats" ? [TSNATS_SERVER_BIN] : []), "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir, ...extraArgs];
  if (extraArgs.includes("-js") && !extraArgs.some((a) => a === "-sd" || a === "--store_dir")) args.push("-sd", path.join(dir, "jetstream"));
  if (config !== undefined) {
    const file = path.join(dir, "server.conf");
    fs.writeFileSync(file, config);
    args.push("-c", file);
  }
  const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  // NATS_TEST_LOG_DIR keeps every server's log (to read after a flaky run).
  const logDir = process.env.NATS_TEST_LOG_DIR;
  if (logDir !== undefined && logDir !== "") {
    fs.mkdirSync(logDir, { recursive: true });
    const log = fs.createWriteStream(path.join(logDir, `${line}-${Date.now()}-${proc.pid ?? 0}.log`));
    proc.stderr?.on("data", (d: Buffer) => log.write(d));
    // 'close', not 'exit': stderr can still deliver its last chunks after the process exited.
    proc.once("close", () => log.end());
  }
  let exited = false;
  liveServers.add(proc);
  proc.once("exit", () => {
    exited = true;
    liveServers.delete(proc);
  });
  let port: number;
  let monitorUrl: string | undefined;
  let portsSeen: PortsFile = {};
  try {
    const portsFile = (): string | undefined => fs.readdirSync(dir).find((f) => f.endsWith(".ports"));
    const deadline = Date.now() + 30_000; // a safety net: a loaded machine can take seconds to start a process
    let ports: PortsFile | undefined;
    while (ports === undefined) {
      if (exited) throw new Error("it exited");
      if (Date.now() > deadline) throw new Error("no ports file within 30 s");
      const f = portsFile();
      if (f !== undefined) {
        try {
          ports = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as PortsFile;
        } catch {
          // caught half-written: read it again
        }
      }
      if (ports === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    port = Number(new URL(ports.nats?.[0] ?? "").port);
    monitorUrl = ports.monitoring?.[0];
    portsSeen = ports;
    for (const p of otherPorts) await waitForPort("127.0.0.1", p, 30_000, () => exited);
  } catch (err) {
    proc.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`nats-server did not start (${(err as Error).message}): ${stderr.slice(-1000)}`);
  }
  return {
    port,
    monitorUrl,
    ports: portsSeen,
    proc,
    log: () => stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (exited) return done();
        proc.once("exit", done);
        proc.kill("SIGTERM");
        setTimeout(() => proc.kill("SIGKILL"), 3000).unref();
      }),
  };
}
