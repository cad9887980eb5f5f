// Benchmark results: per-client samples (messages, bytes, wall time, per-operation
// latencies), the group they form, and the report formats: natscli's text lines, its CSV
// columns, and JSON.
import { fmtBytes, fmtNum } from "./units.js";

export class BenchSample {
  constructor(
    readonly msgs: number,
    readonly msgBytes: number,
    /** wall time in milliseconds */
    readonly ms: number,
    /** per-operation latencies in microseconds (request/reply, synchronous publish, kv) */
    readonly latenciesUs: number[] = [],
  ) {}

  get rate(): number {
    return this.ms > 0 ? Math.round((this.msgs / this.ms) * 1000) : 0;
  }

  /** bytes per second */
  get throughput(): number {
    return this.ms > 0 ? ((this.msgs * this.msgBytes) / this.ms) * 1000 : 0;
  }
}

export interface LatencyStats {
  min: number;
  avg: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  stddev: number;
}

export function latencyStats(us: number[]): LatencyStats | undefined {
  if (us.length === 0) return undefined;
  const s = [...us].sort((a, b) => a - b);
  const pct = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  const avg = s.reduce((a, b) => a + b, 0) / s.length;
  const stddev = Math.sqrt(s.reduce((a, b) => a + (b - avg) ** 2, 0) / s.length);
  return { min: s[0], avg, max: s[s.length - 1], p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), stddev };
}

const LABELS: Record<string, string> = {
  pub: "Core NATS publisher",
  sub: "Core NATS subscriber",
  request: "Core NATS service requester",
  reply: "Core NATS service server",
  jssyncpub: "JetStream synchronous publisher",
  jsasyncpub: "JetStream asynchronous publisher",
  jsordered: "JetStream ordered ephemeral consumer",
  jsconsume: "JetStream durable consumer (callback)",
  jsfetch: "JetStream durable consumer (fetch)",
  jsatomicpub: "JetStream atomic batch publisher",
  jssyncget: "JetStream synchronous getter",
  jsbatchget: "JetStream batched direct getter",
  kvput: "KV putter",
  kvget: "KV getter",
};

export function benchLabel(type: string): string {
  return LABELS[type] ?? type;
}

const us = (v: number): string => `${v.toLocaleString("en-US", { maximumFractionDigits: 2 })}us`;

export class BenchResults {
  readonly samples: BenchSample[] = [];
  readonly runId = Math.random().toString(36).slice(2, 10);

  constructor(
    readonly type: string,
    readonly msgSize: number,
  ) {}

  add(s: BenchSample): void {
    this.samples.push(s);
  }

  /** Aggregate: all messages over the span of the longest client (clients run concurrently). */
  get total(): BenchSample {
    const msgs = this.samples.reduce((a, s) => a + s.msgs, 0);
    const ms = Math.max(0, ...this.samples.map((s) => s.ms));
    return new BenchSample(msgs, this.msgSize, ms, this.samples.flatMap((s) => s.latenciesUs));
  }

  private line(s: BenchSample): string {
    const base = `${fmtNum(s.rate)} msgs/sec ~ ${fmtBytes(Math.round(s.throughput))}/sec`;
    const l = latencyStats(s.latenciesUs);
    if (!l) return base;
    return `${base} ~ min: ${us(l.min)} ~ avg: ${us(l.avg)} ~ max: ${us(l.max)} ~ P50: ${us(l.p50)} ~ P90: ${us(l.p90)} ~ P99: ${us(l.p99)} ~ P99.9: ${us(l.p999)}`;
  }

  /** natscli's report text. */
  report(): string {
    if (this.samples.length === 0) return "No publisher or subscribers. Nothing to report.\n";
    if (this.samples.length === 1) return `NATS ${benchLabel(this.type)} stats: ${this.line(this.samples[0])}\n`;
    const out: string[] = [];
    this.samples.forEach((s, i) => out.push(`  [${i + 1}] ${this.line(s)} (${fmtNum(s.msgs)} msgs)`));
    const t = this.total;
    out.push("", ` NATS ${benchLabel(this.type)} aggregated stats: ${fmtNum(t.rate)} msgs/sec ~ ${fmtBytes(Math.round(t.throughput))}/sec`);
    const rates = this.samples.map((s) => s.rate);
    const avg = rates.reduce((a, b) => a + b, 0) / rates.length;
    const sd = Math.sqrt(rates.reduce((a, b) => a + (b - avg) ** 2, 0) / rates.length);
    out.push(` message rates min ${fmtNum(Math.min(...rates))} | avg ${fmtNum(Math.round(avg))} | max ${fmtNum(Math.max(...rates))} | stddev ${fmtNum(Math.round(sd))} msgs`);
    const l = latencyStats(t.latenciesUs);
    if (l) out.push(` latencies per operation min ${us(l.min)} | avg ${us(l.avg)} | max ${us(l.max)} | stddev ${us(l.stddev)} | P50 ${us(l.p50)} | P90 ${us(l.p90)} | P99 ${us(l.p99)} | P99.9: ${us(l.p999)}`);
    return out.join("\n") + "\n";
  }

  /** natscli's CSV columns (latency columns when there are latencies). */
  csv(): string {
    const withLat = this.samples.some((s) => s.latenciesUs.length > 0);
    const head = ["#RunID", "ClientID", "MsgCount", "MsgBytes", "MsgsPerSec", "BytesPerSec", "DurationSecs"];
    if (withLat) head.push("MinLatencyMicroSecs", "AvgLatencyMicroSecs", "MaxLatencyMicroSecs", "P50LatencyMicroSecs", "P90LatencyMicroSecs", "P99LatencyMicroSecs", "P99.9LatencyMicroSecs", "StdDevLatencyMicroSecs");
    const prefix = this.type.includes("sub") || this.type.includes("consume") || this.type.includes("fetch") || this.type.includes("ordered") || this.type.includes("get") || this.type === "reply" ? "S" : "P";
    const rows = this.samples.map((s, i) => {
      const r = [this.runId, `${prefix}${i}`, String(s.msgs), String(s.msgs * this.msgSize), String(s.rate), s.throughput.toFixed(6), (s.ms / 1000).toFixed(6)];
      const l = latencyStats(s.latenciesUs);
      if (withLat) r.push(...(l ? [l.min, l.avg, l.max, l.p50, l.p90, l.p99, l.p999, l.stddev].map((v) => v.toFixed(6)) : ["", "", "", "", "", "", "", ""]));
      return r.join(",");
    });
    return [head.join(","), ...rows].join("\n") + "\n";
  }

  json(): Record<string, unknown> {
    const t = this.total;
    const lat = latencyStats(t.latenciesUs);
    return {
      type: this.type,
      label: benchLabel(this.type),
      clients: this.samples.length,
      msg_size: this.msgSize,
      msgs: t.msgs,
      duration_s: t.ms / 1000,
      msgs_per_sec: t.rate,
      bytes_per_sec: Math.round(t.throughput),
      mb_per_sec: Number((t.throughput / 1e6).toFixed(3)),
      ...(lat ? { latency_us: lat } : {}),
      per_client: this.samples.map((s) => ({ msgs: s.msgs, duration_s: s.ms / 1000, msgs_per_sec: s.rate, ...(s.latenciesUs.length ? { latency_us: latencyStats(s.latenciesUs) } : {}) })),
    };
  }
}
