// The faults of the random Jepsen-style scheduler (js_cluster_jepsen_random.test.ts): a
// schedule drawn from a seed (planSchedule: the same seed gives the same kinds, targets and
// hold times), and a runner that applies each fault to the netns cluster, holds it, heals it,
// and remembers what is still broken so the end of a run can heal everything.
import fs from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NetnsJsCluster } from "./netns_js_cluster.js";
import { retry } from "./netns_js_cluster.js";
import { Walk } from "./seeded_walk.js";
import { filesUnder, streamDir, writtenLength } from "./replica_files.js";

/** A server: by index, or whichever leads stream J when the fault is applied. */
export type Target = number | "leader";

export type Fault =
  | { kind: "kill9"; target: Target; holdMs: number }
  | { kind: "pause"; target: Target; holdMs: number }
  | { kind: "cut"; a: number; b: number; holdMs: number }
  | { kind: "isolate"; target: Target; holdMs: number }
  | { kind: "stepdown"; of: "J" | "KV_CAS" | "D1" | "D2" }
  | { kind: "rescale"; stream: "J" | "KV_CAS"; settleBetween: boolean }
  | { kind: "corrupt"; target: Target; how: "bitflip" | "truncate" }
  | { kind: "powerloss"; target: Target; holdMs: number }
  /** Every server loses power at once (a PubAck means a quorum fsynced: nothing acknowledged may go). */
  | { kind: "powerlossAll"; holdMs: number }
  /** Two faults at the same time, on two different servers or a rescale and one server's fault (the group may lose its quorum meanwhile). */
  | { kind: "pair"; first: Fault; second: Fault };

export const FAULT_KINDS: ReadonlyArray<Fault["kind"]> = ["kill9", "pause", "cut", "isolate", "stepdown", "rescale", "corrupt", "powerloss", "powerlossAll", "pair"];

/** The faults a pair is made of: each on one server, held then healed. */
const PAIRABLE = ["kill9", "pause", "isolate", "powerloss"] as const;

/** `count` faults drawn from `seed`. */
export function planSchedule(seed: number, count: number): Fault[] {
  const w = new Walk(seed * 7919 + 17);
  const target = (): Target => (w.next() < 0.4 ? "leader" : w.int(3));
  const hold = (min: number, max: number): number => min + w.int(max - min);
  const out: Fault[] = [];
  for (let i = 0; i < count; i++) {
    const kind = w.pick(FAULT_KINDS);
    switch (kind) {
      case "kill9":
        out.push({ kind, target: target(), holdMs: hold(500, 3000) });
        break;
      case "pause":
        out.push({ kind, target: target(), holdMs: hold(1000, 4000) });
        break;
      case "cut": {
        const a = w.int(3);
        out.push({ kind, a, b: (a + 1 + w.int(2)) % 3, holdMs: hold(1500, 5000) });
        break;
      }
      case "isolate":
        out.push({ kind, target: target(), holdMs: hold(1500, 5000) });
        break;
      case "stepdown":
        // (the meta group's stepdown is a system account request: these clients are in $G)
        out.push({ kind, of: w.pick(["J", "KV_CAS", "D1", "D2"] as const) });
        break;
      case "rescale":
        out.push({ kind, stream: w.pick(["J", "KV_CAS"] as const), settleBetween: w.next() < 0.5 });
        break;
      case "corrupt":
        out.push({ kind, target: target(), how: w.pick(["bitflip", "truncate"] as const) });
        break;
      case "powerloss":
        out.push({ kind, target: target(), holdMs: hold(300, 2000) });
        break;
      case "powerlossAll":
        out.push({ kind, holdMs: hold(300, 2000) });
        break;
      case "pair": {
        const a = w.int(3);
        const b = (a + 1 + w.int(2)) % 3;
        const one = (n: number): Fault => ({ kind: w.pick(PAIRABLE), target: n, holdMs: hold(1000, 4000) }) as Fault;
        // sometimes a rescale while a server is down, paused, cut off or loses power
        const first: Fault = w.next() < 0.3 ? { kind: "rescale", stream: w.pick(["J", "KV_CAS"] as const), settleBetween: w.next() < 0.5 } : one(a);
        out.push({ kind, first, second: one(b) });
        break;
      }
    }
  }
  return out;
}

export function describeFault(f: Fault): string {
  switch (f.kind) {
    case "cut":
      return `cut n${f.a}-n${f.b} ${f.holdMs}ms`;
    case "stepdown":
      return `stepdown ${f.of}`;
    case "rescale":
      return `rescale ${f.stream} R3->R1->R3${f.settleBetween ? " (settled between)" : " (at once)"}`;
    case "corrupt":
      return `corrupt ${f.how} ${typeof f.target === "number" ? `n${f.target}` : "leader"}`;
    case "powerlossAll":
      return `power loss of all ${f.holdMs}ms`;
    case "pair":
      return `(${describeFault(f.first)} + ${describeFault(f.second)})`;
    default:
      return `${f.kind} ${typeof f.target === "number" ? `n${f.target}` : "leader"} ${f.holdMs}ms`;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Applies faults one at a time; `healAll` undoes whatever is still in force. */
export class FaultRunner {
  private readonly paused = new Set<number>();
  private readonly isolated = new Set<number>();
  private readonly cuts = new Set<string>();
  private jsm: JetStreamManager | undefined;

  constructor(
    private readonly cluster: NetnsJsCluster,
    private readonly admin: NatsConnection,
    private readonly seed: number,
  ) {}

  private async manager(): Promise<JetStreamManager> {
    // (asked again while the cluster settles: its first request checks the account)
    this.jsm ??= await retry("jsm", () => jetstreamManager(this.admin, { timeout: 3000 }), 20_000);
    return this.jsm;
  }

  /** The server leading `stream` (n0..n2), or -1 when none answers. */
  async leaderOf(stream: string): Promise<number> {
    try {
      const jsm = await this.manager();
      const si = await retry(`info ${stream}`, () => jsm.streams.info(stream), 8000);
      const l = si.cluster?.leader ?? "";
      return /^n[0-2]$/.test(l) ? Number(l.slice(1)) : -1;
    } catch {
      return -1;
    }
  }

  private async resolve(t: Target): Promise<number> {
    if (t !== "leader") return t;
    const l = await this.leaderOf("J");
    return l >= 0 ? l : this.seed % 3;
  }

  /** Apply one fault, hold it, heal it. Returns what was done, as printed. */
  async apply(f: Fault): Promise<string> {
    const servers = this.cluster.servers;
    switch (f.kind) {
      case "kill9": {
        const n = await this.resolve(f.target);
        await servers[n].kill9();
        await sleep(f.holdMs);
        await servers[n].start();
        return `kill -9 n${n}, restarted after ${f.holdMs}ms`;
      }
      case "pause": {
        const n = await this.resolve(f.target);
        servers[n].pause();
        this.paused.add(n);
        await sleep(f.holdMs);
        servers[n].resume();
        this.paused.delete(n);
        return `SIGSTOP n${n} for ${f.holdMs}ms`;
      }
      case "cut": {
        this.cluster.lab.cut(f.a, f.b);
        this.cuts.add(`${f.a}-${f.b}`);
        await sleep(f.holdMs);
        this.cluster.lab.heal(f.a, f.b);
        this.cuts.delete(`${f.a}-${f.b}`);
        return `link n${f.a}-n${f.b} cut for ${f.holdMs}ms`;
      }
      case "isolate": {
        const n = await this.resolve(f.target);
        this.cluster.lab.isolate(n);
        this.isolated.add(n);
        await sleep(f.holdMs);
        this.cluster.lab.rejoin(n);
        this.isolated.delete(n);
        return `n${n} isolated for ${f.holdMs}ms`;
      }
      case "stepdown": {
        const subject = f.of === "D1" || f.of === "D2" ? `$JS.API.CONSUMER.LEADER.STEPDOWN.J.${f.of}` : `$JS.API.STREAM.LEADER.STEPDOWN.${f.of}`;
        let answer = "no answer";
        try {
          const m = await this.admin.request(subject, "", { timeout: 3000 });
          const j = JSON.parse(new TextDecoder().decode(m.data)) as { success?: boolean; error?: { description?: string } };
          answer = j.success === true ? "ok" : (j.error?.description ?? "refused");
        } catch (e) {
          answer = (e as Error).message;
        }
        return `stepdown ${f.of}: ${answer}`;
      }
      case "rescale":
        return this.rescale(f.stream, f.settleBetween);
      case "corrupt": {
        const n = await this.resolve(f.target);
        await servers[n].kill9();
        const what = f.how === "bitflip" ? this.flipBit(n) : this.truncateBlock(n);
        await servers[n].start();
        return `kill -9 n${n}, ${what}, restarted`;
      }
      case "powerloss": {
        const n = await this.resolve(f.target);
        await servers[n].powerLoss();
        const undone = /power loss: (\d+) changes/.exec(servers[n].log().split("\n").filter((l) => l.startsWith("power loss:")).pop() ?? "")?.[1] ?? "?";
        await sleep(f.holdMs);
        await servers[n].start();
        return `power loss of n${n} (${undone} unsynced changes undone), restarted after ${f.holdMs}ms`;
      }
      case "powerlossAll": {
        await Promise.all(servers.map((s) => s.powerLoss()));
        await sleep(f.holdMs);
        await Promise.all(servers.map((s) => s.start()));
        return `power loss of all three, restarted after ${f.holdMs}ms`;
      }
      case "pair": {
        const [a, b] = await Promise.all([this.apply(f.first), this.apply(f.second)]);
        return `at once: ${a} + ${b}`;
      }
    }
  }

  /** R3 -> R1 -> R3 by stream updates (each retried while the cluster settles). */
  private async rescale(stream: string, settleBetween: boolean): Promise<string> {
    const jsm = await this.manager();
    const steps: string[] = [];
    const update = async (replicas: number): Promise<void> => {
      await retry(`${stream} to R${replicas}`, async () => {
        const cfg = (await jsm.streams.info(stream)).config;
        await jsm.streams.update(stream, { ...cfg, num_replicas: replicas });
      }, 20_000);
      steps.push(`R${replicas}`);
    };
    try {
      await update(1);
      if (settleBetween) {
        const settled = await retry(`${stream} at R1`, async () => {
          const si = await jsm.streams.info(stream);
          if ((si.cluster?.replicas ?? []).length !== 0) throw new Error("still replicated");
          return true;
        }, 15_000).catch(() => false);
        steps.push(settled ? "settled" : "not settled in 15s");
      }
      await update(3);
      const back = await retry(`${stream} at R3`, async () => {
        const si = await jsm.streams.info(stream);
        const r = si.cluster?.replicas ?? [];
        if (r.length !== 2 || !r.every((x) => x.current)) throw new Error(`replicas ${JSON.stringify(r.map((x) => [x.name, x.current]))}`);
        return true;
      }, 20_000).catch((e: Error) => e.message);
      steps.push(back === true ? "R3 current" : `R3 not current in 20s (${back})`);
    } catch (e) {
      steps.push(`failed: ${(e as Error).message}`);
    }
    return `rescale ${stream}: ${steps.join(" -> ")}`;
  }

  /** A bit flipped in one of a stopped server's RAFT log files (not the meta group's). */
  private flipBit(n: number): string {
    const dir = path.join(this.cluster.dirs[n], "jetstream", "_raft");
    const files = filesUnder(dir, (p) => !p.includes(`${path.sep}meta${path.sep}`)).filter((p) => writtenLength(p) > 64).sort();
    if (files.length === 0) return "no RAFT file to damage";
    const w = new Walk(this.seed * 31 + files.length);
    // mostly a log segment (where the entries are), sometimes term/vote, snapshot or peers files
    const segments = files.filter((p) => /seg-[0-9a-f]+\.log$/.test(p));
    const file = w.pick(segments.length > 0 && w.next() < 0.7 ? segments : files);
    const end = writtenLength(file);
    const at = w.int(end);
    const fd = fs.openSync(file, "r+");
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 1 << w.int(8);
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    return `bit flipped in ${path.relative(dir, file)} at ${at} of ${end}`;
  }

  /** A stopped server's last block of J or KV_CAS cut short, inside its records. */
  private truncateBlock(n: number): string {
    const w = new Walk(this.seed * 37 + n);
    const stream = w.pick(["J", "KV_CAS"]);
    const blocks = filesUnder(streamDir(this.cluster.dirs[n], stream), (p) => p.endsWith(".blk")).sort();
    const last = blocks[blocks.length - 1];
    if (last === undefined) return `no block of ${stream} to truncate`;
    const end = writtenLength(last);
    const to = w.int(end);
    fs.truncateSync(last, to);
    return `${stream}'s ${path.basename(last)} truncated from ${end} to ${to}`;
  }

  /** Every server running, unpaused and connected. */
  async healAll(): Promise<void> {
    for (const n of this.paused) this.cluster.servers[n].resume();
    this.paused.clear();
    for (const n of this.isolated) this.cluster.lab.rejoin(n);
    this.isolated.clear();
    for (const c of this.cuts) {
      const [a, b] = c.split("-").map(Number);
      this.cluster.lab.heal(a, b);
    }
    this.cuts.clear();
    for (const s of this.cluster.servers) if (!s.running()) await s.start();
  }
}
