// Service latency tracking of a service export (`latency: { sampling, subject }`): for a
// sampled request coming through an import, the exporting account gets an
// `io.nats.server.metric.v1.service_latency` event on the latency subject once the first
// response goes back (status 200), or a 400 (no reply subject), 503 (nobody took the
// request) or 504 (no response within the response threshold) event.
//
// Sampling is a percentage, or 0 ("headers"): then the request's tracing headers decide
// (Uber-Trace-Id, B3 / X-B3-*, Traceparent), and the headers that decided are in the event.
import { nuid } from "@nats-io/nuid";
import type { Client } from "./client.js";
import type { ServiceLatency } from "./exports.js";
import { clientInfo } from "./client_info.js";
import { msToNs, nowNs, rfc3339 } from "./time.js";

export const SERVICE_LATENCY_TYPE = "io.nats.server.metric.v1.service_latency";

/** What a tracked request keeps until its response (or failure) is measured. */
export interface LatencyTracking {
  readonly latency: ServiceLatency;
  readonly requestor: Client;
  readonly share: boolean;
  /** The tracing headers that triggered the measurement (header-driven sampling). */
  readonly header: Record<string, string[]> | undefined;
  /** When the request crossed the import (ns). */
  readonly startNs: bigint;
}

/** Header keys the way Go's net/textproto canonicalises them ("x-b3-sampled" -> "X-B3-Sampled"). */
function canonicalKey(k: string): string {
  return k
    .toLowerCase()
    .split("-")
    .map((p) => (p === "" ? p : p[0].toUpperCase() + p.slice(1)))
    .join("-");
}

function parseHeaderBlock(hdr: Buffer): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const lines = hdr.toString("latin1").split("\r\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = canonicalKey(line.slice(0, colon).trim());
    const list = out.get(key) ?? [];
    list.push(line.slice(colon + 1).trim());
    out.set(key, list);
  }
  return out;
}

function pick(h: Map<string, string[]>, keys: string[], prefix?: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const k of keys) {
    const v = h.get(k);
    if (v !== undefined) out[k] = v;
  }
  if (prefix !== undefined) for (const [k, v] of h) if (k.startsWith(prefix)) out[k] = v;
  return out;
}

/**
 * Is this request measured? False, or true with the tracing headers that decided it
 * (undefined when the percentage did).
 */
export function sampleRequest(l: ServiceLatency, hdr: Buffer | undefined): false | { header: Record<string, string[]> | undefined } {
  if (l.sampling >= 100) return { header: undefined };
  if (l.sampling > 0 && Math.floor(Math.random() * 100) <= l.sampling) return { header: undefined };
  if (hdr === undefined || hdr.length === 0) return false;
  const h = parseHeaderBlock(hdr);
  const uber = h.get("Uber-Trace-Id");
  if (uber !== undefined) {
    // trace:span:parent:flags, sampled when the flags' lowest bit is set.
    const tk = uber[0].split(":");
    const flags = tk.length === 4 ? tk[3] : "";
    if (flags.length > 0 && flags.length <= 2 && /^[0-9a-fA-F]+$/.test(flags) && (parseInt(flags, 16) & 1) === 1) {
      return { header: { "Uber-Trace-Id": uber, ...pick(h, [], "Uberctx-") } };
    }
    return false;
  }
  const b3Keys = ["X-B3-Sampled", "X-B3-Traceid", "X-B3-Parentspanid", "X-B3-Spanid"];
  const sampled = h.get("X-B3-Sampled");
  if (sampled !== undefined && sampled[0] === "1") return { header: pick(h, b3Keys) };
  if (sampled !== undefined && sampled[0] === "0") return false;
  if (h.has("X-B3-Traceid")) return { header: pick(h, b3Keys) };
  const b3 = h.get("B3");
  if (b3 !== undefined) {
    const tk = b3[0].split("-");
    if ((tk.length > 2 && tk[2] === "0") || (tk.length === 1 && tk[0] === "0")) return false;
    return { header: { B3: b3 } };
  }
  const tp = h.get("Traceparent");
  if (tp !== undefined) {
    const tk = tp[0].split("-");
    if (tk.length === 4 && tk[3].length === 2 && /^[0-9a-fA-F]{2}$/.test(tk[3]) && (parseInt(tk[3], 16) & 1) === 1) {
      return { header: pick(h, ["Traceparent", "Tracestate"]) };
    }
  }
  return false;
}

/** A latency event; `responder` undefined for the failure statuses. */
export function latencyEvent(
  t: LatencyTracking | { latency: ServiceLatency; requestor: Client; share: boolean; header: Record<string, string[]> | undefined; startNs: bigint },
  status: 200 | 400 | 503 | 504,
  responder: Client | undefined,
): Record<string, unknown> {
  const now = nowNs();
  const server = t.requestor.server.name;
  const requestor = clientInfo(t.requestor, { detailed: t.share, server });
  const reqRtt = BigInt(msToNs(t.requestor.rttMs));
  const respRtt = responder !== undefined ? BigInt(msToNs(responder.rttMs)) : 0n;
  const serviceRtt = now - t.startNs;
  const ev: Record<string, unknown> = { type: SERVICE_LATENCY_TYPE, id: nuid.next(), timestamp: rfc3339(now), status };
  const description = status === 400 ? "Bad Request" : status === 503 ? "Service Unavailable" : status === 504 ? "Service Timeout" : undefined;
  if (description !== undefined) ev.description = description;
  ev.requestor = requestor;
  if (responder !== undefined) ev.responder = clientInfo(responder, { detailed: true, server });
  if (t.header !== undefined) ev.header = t.header;
  ev.start = rfc3339(t.startNs - reqRtt);
  let service = 0n;
  let total = 0n;
  if (status === 200) {
    service = serviceRtt - respRtt;
    if (service < 0n) service = 0n;
    total = reqRtt + serviceRtt;
  }
  ev.service = Number(service);
  ev.system = 0;
  ev.total = Number(total);
  return ev;
}
