// Holds the start-up's deferrable work (the warm-up and its full collections, server_main.ts)
// back while the machine's CPU is oversubscribed.
//
// Client test suites start many servers at once (the nats.js suites start a describe block's
// ~13 servers together and give each 5 s to write its ports file). On 2 cores each tsnats
// server's ~0.25 s of start-up CPU then shares the machine with the others, and the servers
// that were ready first spent ~0.2 s each on their warm-up meanwhile: the last ports file came
// 8.6-12.3 s after the spawn (load 4.5-17). The warm-up only prepares the message path for a
// benchmark's first seconds; it can wait until the others have started.
//
// Whether to hold back is decided once, at "Server is ready", from this process's own share of
// a CPU since it started (its CPU time over its age): a start-up that had the CPU it wanted
// (~1 core: nothing else running, a benchmark's server) goes on at once, exactly as before;
// one that got less than STARVED_SHARE shared the CPU with others. Its gate then lets the work
// through only while the CPU is not contended: Linux's pressure stall information
// (/proc/pressure/cpu, the share of time some runnable task waited for a CPU) over the last
// SAMPLE_MS, or where PSI is missing the number of runnable tasks against the CPUs
// (/proc/loadavg); without either there is no gate. Checked again before each of the
// warm-up's slices, so a crowd of servers that all found the CPU free at once backs off again,
// each after a jittered pause. MAX_HOLD_MS in all at most: a machine that stays busy gets the
// work done anyway.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** A start-up that got less than this share of one CPU was competing for it. */
const STARVED_SHARE = 0.5;
/** Pressure sampled over at least this long. */
const SAMPLE_MS = 100;
/** Contended: some task waited for a CPU this share of the time (PSI "some")... */
const CONTENDED_STALL = 0.3;
/** ...and the pause before looking again (plus up to as much again, at random). */
const PAUSE_MS = 100;
/** The work is held back this long at most, in all. */
const MAX_HOLD_MS = 10_000;

/** Cumulative microseconds in which some task waited for a CPU, or undefined without PSI. */
function cpuStallMicros(): number | undefined {
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync("/proc/pressure/cpu", "latin1"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Runnable tasks right now (the kernel's count, this one included), or undefined. */
function runnableTasks(): number | undefined {
  try {
    const m = /^\S+ \S+ \S+ (\d+)\//.exec(readFileSync("/proc/loadavg", "latin1"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** How contended the CPU is now: true/false, or undefined when this system does not say. */
type Probe = () => boolean | undefined;

function pressureProbe(): Probe | undefined {
  let last = cpuStallMicros();
  if (last === undefined) return undefined;
  let at = performance.now();
  let contended = true;
  return () => {
    const now = performance.now();
    if (now - at < SAMPLE_MS) return contended;
    const total = cpuStallMicros();
    if (total === undefined) return undefined;
    contended = (total - (last as number)) / ((now - at) * 1000) >= CONTENDED_STALL;
    last = total;
    at = now;
    return contended;
  };
}

function runnableProbe(): Probe | undefined {
  if (runnableTasks() === undefined) return undefined;
  const cpus = availableParallelism();
  // The reading task is one of them.
  return () => {
    const n = runnableTasks();
    return n === undefined ? undefined : n - 1 > cpus;
  };
}

export class CpuGate {
  private held = 0;

  private constructor(
    private readonly probe: Probe,
    /** The share of a CPU this process had from its start to the gate's making. */
    readonly startUpShare: number,
  ) {}

  /** How long the gate has held the work back so far (ms). */
  get heldMs(): number {
    return Math.round(this.held);
  }

  /**
   * The gate for this process's deferrable start-up work: undefined when its start-up had
   * the CPU it wanted (the work goes on at once) or the system cannot tell.
   */
  static afterStartUp(): CpuGate | undefined {
    const used = process.cpuUsage();
    const share = (used.user + used.system) / 1000 / (process.uptime() * 1000);
    if (share >= STARVED_SHARE) return undefined;
    const probe = pressureProbe() ?? runnableProbe();
    return probe === undefined ? undefined : new CpuGate(probe, share);
  }

  /** Resolves once the CPU is not contended (or the gate has held MAX_HOLD_MS in all, or `stop()`). */
  async pass(stop: () => boolean): Promise<void> {
    while (this.held < MAX_HOLD_MS && !stop() && this.probe() !== false) {
      const pause = PAUSE_MS * (1 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, pause));
      this.held += pause;
    }
  }
}
