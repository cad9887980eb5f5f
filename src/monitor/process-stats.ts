// Process resource figures for /varz, STATSZ and /metrics: resident memory and CPU use.
// CPU is a percentage of one core over the time since the previous sample, like `ps`
// reports it for nats-server; samples closer together than a second reuse the last value
// so a burst of monitoring requests does not measure noise.
import os from "node:os";

const MIN_SAMPLE_INTERVAL_MS = 1000;

export class ProcessStats {
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();
  private percent: number;

  constructor() {
    // Until a second sample exists, report the average since the process started.
    const upMs = process.uptime() * 1000;
    this.percent = upMs > 0 ? round2(((this.lastCpu.user + this.lastCpu.system) / 1000 / upMs) * 100) : 0;
  }

  /** CPU use in percent of one core (can exceed 100 on several cores). */
  cpuPercent(): number {
    const now = performance.now();
    const elapsedMs = now - this.lastAt;
    if (elapsedMs < MIN_SAMPLE_INTERVAL_MS) return this.percent;
    const cur = process.cpuUsage();
    const usedMs = (cur.user - this.lastCpu.user + (cur.system - this.lastCpu.system)) / 1000;
    this.percent = round2((usedMs / elapsedMs) * 100);
    this.lastCpu = cur;
    this.lastAt = now;
    return this.percent;
  }

  /** Resident set size in bytes. */
  rss(): number {
    return process.memoryUsage.rss();
  }

  cores(): number {
    return os.availableParallelism();
  }
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
