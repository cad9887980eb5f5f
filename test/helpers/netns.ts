// Fault harness: servers as separate processes, each in its own network namespace, so a test
// can cut and heal links, kill -9 a server, or freeze it with SIGSTOP and thaw it with SIGCONT.
// Reusable by anything that needs real network faults (routes, leaf nodes, replicated
// JetStream).
//
//   lab = await NetnsLab.create(3)          // 3 namespaces, 10.a.b.1..3, a bridge at 10.a.b.254
//   const p = lab.spawn(0, "node", [...])   // a process inside namespace 0
//   lab.isolate(2) / lab.rejoin(2)          // node 2's link down / up (no FIN: peers must notice)
//   lab.cut(0, 1) / lab.heal(0, 1)          // drop traffic between two nodes only (blackhole routes)
//   await lab.destroy()
//
// Needs root and `ip` (iproute2); `NetnsLab.available()` says whether this machine can, so
// tests skip cleanly elsewhere. Namespaces and links carry this process's pid in their names;
// ones left by a process that no longer runs are removed on the next create. A lab's /24 is
// claimed with a file created exclusively (two test processes at once never share one).
//
// destroy() also destroys this process's TCP sockets to the lab's network (`ss -K`): a client
// that gave up connecting to an isolated node (nats.js's connect timeout does not close the
// socket it was dialling) leaves a socket in SYN-SENT, and once the namespaces are gone nothing
// answers its retransmitted SYNs: it kept the test process alive ~130 s after its last test,
// and node --test cancelled the whole file at 120 s with every test passed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { waitForPort } from "./nats_server.js";

let availability: string | undefined | null = null;

/** Longest an `ip` or `ss` command may take: one that hangs fails the test, naming itself, instead of stalling the file. */
const COMMAND_TIMEOUT_MS = 30_000;

function ip(args: string[], allowFail = false): string {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") throw new Error(`ip ${args.join(" ")}: no answer within ${COMMAND_TIMEOUT_MS} ms`);
  if (r.status !== 0 && !allowFail) throw new Error(`ip ${args.join(" ")}: ${(r.stderr || r.error?.message || "").trim()}`);
  return r.stdout;
}

/** This process's TCP sockets (any state) to `net` (a.b.c.0/24), as `ss` lists them. */
function socketsTo(net: string): string[] {
  const r = spawnSync("ss", ["-Htnp", "dst", net], { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS });
  return (r.stdout ?? "").split("\n").filter((line) => line.includes(`pid=${process.pid},`));
}

/** Where labs claim their /24s: one file per subnet, holding the claiming process's pid. */
const CLAIMS = path.join(os.tmpdir(), "tsnats-netns-subnets");

/** Claim `net24` for this process; false when a live process holds it. A dead holder's claim is taken over. */
function claimSubnet(net24: string): boolean {
  fs.mkdirSync(CLAIMS, { recursive: true });
  const file = path.join(CLAIMS, net24);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(fs.readFileSync(file, "utf8").trim());
      // An empty file is a claim being written right now: taken.
      if (!Number.isInteger(holder) || holder <= 0 || alive(holder)) return false;
      fs.rmSync(file, { force: true });
    }
  }
  return false;
}

function releaseSubnet(net24: string): void {
  const file = path.join(CLAIMS, net24);
  try {
    if (fs.readFileSync(file, "utf8").trim() === String(process.pid)) fs.rmSync(file, { force: true });
  } catch {
    // not claimed (any more)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Remove namespaces and bridges left by test processes that are gone. */
function sweepLeftovers(): void {
  for (const line of ip(["netns", "list"], true).split("\n")) {
    const m = /^tsn(\d+)x\d+x\d+/.exec(line.trim());
    if (m !== null && !alive(Number(m[1]))) ip(["netns", "del", line.trim().split(" ")[0]], true);
  }
  for (const line of ip(["-o", "link", "show", "type", "bridge"], true).split("\n")) {
    const m = /^\d+: (tb(\d+)x\d+)[:@]/.exec(line.trim());
    if (m !== null && !alive(Number(m[2]))) ip(["link", "del", m[1]], true);
  }
}

let labSeq = 0;

export interface LabNode {
  readonly index: number;
  readonly ns: string;
  readonly ip: string;
  /** The root-namespace end of the node's veth pair (down = node cut off). */
  readonly hostIf: string;
}

export class NetnsLab {
  private readonly procs = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(
    readonly nodes: LabNode[],
    readonly bridge: string,
    /** The root namespace's address on the lab network (clients of tests connect from here). */
    readonly hostIp: string,
    /** The lab's /24, its first three bytes ("10.a.b"). */
    private readonly net24: string,
  ) {}

  /** Undefined when network namespaces can be used here, else why not (for a test's skip message). */
  static unavailable(): string | undefined {
    if (availability !== null) return availability;
    if (process.platform !== "linux") availability = "network namespaces need Linux";
    else if (typeof process.getuid === "function" && process.getuid() !== 0) availability = "network namespaces need root";
    else if (spawnSync("ip", ["-V"]).status !== 0) availability = "iproute2 (ip) is not installed";
    else {
      const probe = `tsn${process.pid}x0x0probe`;
      const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
      if (r.status !== 0) availability = `cannot create a network namespace: ${r.stderr.trim()}`;
      else {
        ip(["netns", "del", probe], true);
        availability = undefined;
      }
    }
    return availability;
  }

  /** `n` namespaces on one bridge, each with an address in a /24 of its own. */
  static async create(n: number): Promise<NetnsLab> {
    const why = NetnsLab.unavailable();
    if (why !== undefined) throw new Error(why);
    sweepLeftovers();
    const lab = ++labSeq;
    const a = 20 + (process.pid % 200);
    // A subnet claimed by no live process and routed by nothing else on this machine.
    let net24 = "";
    for (let tries = 0, b = lab % 250; net24 === "" && tries < 250; tries++, b = (b + 1) % 250) {
      const candidate = `10.${a}.${b}`;
      if (!claimSubnet(candidate)) continue;
      if (ip(["route", "show", `${candidate}.0/24`], true).trim() === "") net24 = candidate;
      else releaseSubnet(candidate);
    }
    if (net24 === "") throw new Error(`no free /24 in 10.${a}.0.0/16 for a network namespace lab`);
    const bridge = `tb${process.pid}x${lab}`;
    const nodes: LabNode[] = [];
    try {
      ip(["link", "add", bridge, "type", "bridge"]);
      ip(["addr", "add", `${net24}.254/24`, "dev", bridge]);
      ip(["link", "set", bridge, "up"]);
      for (let i = 0; i < n; i++) {
        const ns = `tsn${process.pid}x${lab}x${i}`;
        const hostIf = `tv${process.pid}x${lab}${i}`.slice(0, 15);
        ip(["netns", "add", ns]);
        ip(["link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", ns]);
        ip(["link", "set", hostIf, "master", bridge]);
        ip(["link", "set", hostIf, "up"]);
        ip(["netns", "exec", ns, "ip", "addr", "add", `${net24}.${i + 1}/24`, "dev", "eth0"]);
        ip(["netns", "exec", ns, "ip", "link", "set", "eth0", "up"]);
        ip(["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
        nodes.push({ index: i, ns, ip: `${net24}.${i + 1}`, hostIf });
      }
    } catch (err) {
      for (const nd of nodes) ip(["netns", "del", nd.ns], true);
      ip(["link", "del", bridge], true);
      releaseSubnet(net24);
      throw err;
    }
    return new NetnsLab(nodes, bridge, `${net24}.254`, net24);
  }

  /** Start a process inside node `i`'s namespace. Its output goes to `logFile` when given. */
  spawn(i: number, cmd: string, args: string[], logFile?: string): ChildProcess {
    const out = logFile !== undefined ? fs.openSync(logFile, "a") : "ignore";
    const p = spawn("ip", ["netns", "exec", this.nodes[i].ns, cmd, ...args], { stdio: ["ignore", out, out] });
    if (typeof out === "number") fs.closeSync(out);
    this.procs.add(p);
    p.once("exit", () => this.procs.delete(p));
    return p;
  }

  /** Node `i` loses its link: nothing gets in or out, and nobody is told (no FIN, no RST). */
  isolate(i: number): void {
    ip(["link", "set", this.nodes[i].hostIf, "down"]);
  }

  rejoin(i: number): void {
    ip(["link", "set", this.nodes[i].hostIf, "up"]);
  }

  /** Traffic between nodes `i` and `j` is dropped silently; both keep their other links. */
  cut(i: number, j: number): void {
    ip(["netns", "exec", this.nodes[i].ns, "ip", "route", "add", "blackhole", `${this.nodes[j].ip}/32`]);
    ip(["netns", "exec", this.nodes[j].ns, "ip", "route", "add", "blackhole", `${this.nodes[i].ip}/32`]);
  }

  heal(i: number, j: number): void {
    ip(["netns", "exec", this.nodes[i].ns, "ip", "route", "del", "blackhole", `${this.nodes[j].ip}/32`], true);
    ip(["netns", "exec", this.nodes[j].ns, "ip", "route", "del", "blackhole", `${this.nodes[i].ip}/32`], true);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => stopProcess(p, "SIGKILL")));
    const net = `${this.net24}.0/24`;
    spawnSync("ss", ["-K", "-tn", "dst", net], { timeout: COMMAND_TIMEOUT_MS });
    for (const nd of this.nodes) ip(["netns", "del", nd.ns], true);
    ip(["link", "del", this.bridge], true);
    releaseSubnet(this.net24);
    // `ss -K` needs a kernel built with INET_DIAG_DESTROY: say so loudly when a socket stayed.
    const left = socketsTo(net);
    if (left.length > 0) process.stderr.write(`NetnsLab.destroy: sockets to ${net} left open; this process may not exit until they time out (~2 min):\n  ${left.join("\n  ")}\n`);
  }
}

/** Signal a process and wait for it to exit (SIGKILL after 3 s). A stopped process is continued first. */
export function stopProcess(p: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once("exit", () => resolve());
    try {
      // `ip netns exec` execs the command: the child pid is the server's own.
      process.kill(p.pid as number, "SIGCONT");
      process.kill(p.pid as number, signal);
    } catch {
      resolve();
    }
    setTimeout(() => {
      try {
        process.kill(p.pid as number, "SIGKILL");
      } catch {
        // gone already
      }
    }, 3000).unref();
  });
}

/**
 * A tsnats server process in a lab node: a config file of its own, started, killed (-9),
 * paused (SIGSTOP), resumed (SIGCONT) and restarted at will.
 */
export class LabServer {
  proc: ChildProcess | undefined;
  readonly dir: string;
  readonly confFile: string;
  readonly logFile: string;

  constructor(
    readonly lab: NetnsLab,
    readonly index: number,
    config: string,
    private readonly command: { cmd: string; args: (conf: string) => string[] } = tsnatsCommand(),
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `tsnats-lab-${index}-`));
    this.confFile = path.join(this.dir, "server.conf");
    this.logFile = path.join(this.dir, "server.log");
    fs.writeFileSync(this.confFile, config);
  }

  get ip(): string {
    return this.lab.nodes[this.index].ip;
  }

  async start(port = 4222): Promise<void> {
    this.proc = this.lab.spawn(this.index, this.command.cmd, this.command.args(this.confFile), this.logFile);
    await waitForPort(this.ip, port);
  }

  kill9(): Promise<void> {
    return this.proc === undefined ? Promise.resolve() : stopProcess(this.proc, "SIGKILL");
  }

  pause(): void {
    if (this.proc?.pid !== undefined) process.kill(this.proc.pid, "SIGSTOP");
  }

  resume(): void {
    if (this.proc?.pid !== undefined) process.kill(this.proc.pid, "SIGCONT");
  }

  async stop(): Promise<void> {
    if (this.proc !== undefined) await stopProcess(this.proc, "SIGTERM");
  }

  /**
   * A simulated power cut: SIGPWR to a server started under the power-loss layer
   * (power_loss_process.ts), which undoes every write not yet synced and kills itself.
   */
  powerLoss(): Promise<void> {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      p.once("exit", () => resolve());
      try {
        process.kill(p.pid as number, "SIGCONT");
        process.kill(p.pid as number, "SIGPWR");
      } catch {
        resolve();
      }
    });
  }

  /** Whether the process runs (started and not exited). */
  running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, "utf8") : "";
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The tsnats binary of this build (dist/src/bin/tsnats-server.js). */
export function tsnatsCommand(): { cmd: string; args: (conf: string) => string[] } {
  const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "src", "bin", "tsnats-server.js");
  return { cmd: process.execPath, args: (conf) => [bin, "-c", conf] };
}

/**
 * The same binary under the power-loss layer (power_loss_process.ts) rooted at `storeDir`, so
 * that LabServer.powerLoss() can cut its power. `env` execs node: the pid stays the server's.
 */
export function tsnatsPowerLossCommand(storeDir: string): { cmd: string; args: (conf: string) => string[] } {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const bin = path.resolve(here, "..", "..", "src", "bin", "tsnats-server.js");
  const layer = path.join(here, "power_loss_process.js");
  return { cmd: "env", args: (conf) => [`TSNATS_POWER_LOSS_ROOT=${storeDir}`, process.execPath, "--import", layer, bin, "-c", conf] };
}
