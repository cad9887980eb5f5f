// nats-server's debugging endpoints, answered with what a Node process has in their place:
// /stacksz (Go: every goroutine's stack) shows the process report's JavaScript stack and the
// event loop's handles (each socket, timer and server is what a goroutine would be waiting on);
// /ipqueuesz shows tsnats' internal queues with their pending counts (nats-server's ipqueues;
// tsnats has one server-wide: publishers held back while a receiver catches up); /debug/vars is
// Go's expvar: the command line and memory figures (Go's names where the meaning is the same:
// Sys is the resident size, the heap figures are V8's).
import v8 from "node:v8";
import type { Monitor } from "./monitor.js";

interface ReportHandle {
  type?: string;
  is_active?: boolean;
  is_referenced?: boolean;
  localEndpoint?: { host?: string; port?: number } | null;
  remoteEndpoint?: { host?: string; port?: number } | null;
  firesInMsFromNow?: number;
  repeat?: number;
  signal?: string;
}

interface ProcessReport {
  header?: { nodejsVersion?: string; processId?: number; commandLine?: string[] };
  javascriptStack?: { message?: string; stack?: string[] };
  libuv?: ReportHandle[];
  workers?: unknown[];
}

function endpoint(e: { host?: string; port?: number } | null | undefined): string {
  return e ? `${e.host ?? "?"}:${e.port ?? "?"}` : "-";
}

function describeHandle(h: ReportHandle): string {
  const flags = `${h.is_active ? "active" : "inactive"}${h.is_referenced ? "" : ", unref"}`;
  let detail = "";
  if (h.type === "tcp" || h.type === "udp") detail = ` ${endpoint(h.localEndpoint)} -> ${endpoint(h.remoteEndpoint)}`;
  else if (h.type === "timer" && h.firesInMsFromNow !== undefined) detail = ` fires in ${h.firesInMsFromNow} ms${h.repeat ? `, every ${h.repeat} ms` : ""}`;
  else if (h.type === "signal" && h.signal) detail = ` ${h.signal}`;
  return `  ${h.type ?? "handle"} (${flags})${detail}`;
}

export function buildStacksz(m: Monitor): string {
  const report = process.report.getReport() as unknown as ProcessReport;
  const lines = [`tsnats ${m.server.info().version} on Node ${report.header?.nodejsVersion ?? process.version}, pid ${process.pid}`, "", "JavaScript stack:"];
  for (const frame of report.javascriptStack?.stack ?? []) lines.push(`  ${frame.trim()}`);
  const handles = report.libuv ?? [];
  lines.push("", `Event loop handles (${handles.length}):`);
  for (const h of handles) lines.push(describeHandle(h));
  lines.push("", `Worker threads: ${report.workers?.length ?? 0}`, "");
  return lines.join("\n");
}

/** `all`: queues with nothing pending too; `filter`: names containing it (HTTP `queues=`). */
export function buildIpqueuesz(m: Monitor, all: boolean, filter: string): Record<string, { pending: number; in_progress?: number }> {
  const queues: Array<[string, number]> = [["Stalled publishers", m.server.stalls.size]];
  const out: Record<string, { pending: number; in_progress?: number }> = {};
  for (const [name, pending] of queues) {
    if (!all && pending === 0) continue;
    if (filter !== "" && !name.includes(filter)) continue;
    out[name] = { pending };
  }
  return out;
}

/** Go's expvar variables: the command line and memory figures. */
export function expvars(): { cmdline: string[]; memstats: Record<string, number> } {
  const mem = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  return {
    cmdline: process.argv,
    memstats: {
      Alloc: mem.heapUsed,
      Sys: mem.rss,
      HeapAlloc: mem.heapUsed,
      HeapSys: mem.heapTotal,
      HeapInuse: mem.heapUsed,
      ExternalAlloc: mem.external,
      ArrayBuffers: mem.arrayBuffers,
      HeapLimit: heap.heap_size_limit,
    },
  };
}

/** /debug/vars as Go's expvar handler writes it: one line per variable, sorted by name, values compact. */
export function buildExpvar(): string {
  const vars: Record<string, unknown> = expvars();
  const body = Object.keys(vars)
    .sort()
    .map((k) => `${JSON.stringify(k)}: ${JSON.stringify(vars[k])}`)
    .join(",\n");
  return `{\n${body}\n}\n`;
}
