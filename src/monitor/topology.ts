// /routez, /gatewayz and /leafz. tsnats runs as a single server (no cluster, gateway or
// leafnode connections), so these report empty sets in nats-server's shapes.
import type { Monitor } from "./monitor.js";
import { goTime } from "./format.js";

export function buildRoutez(m: Monitor): Record<string, unknown> {
  return { server_id: m.server.id, now: goTime(new Date()), num_routes: 0, routes: [] };
}

export function buildGatewayz(m: Monitor): Record<string, unknown> {
  return { server_id: m.server.id, now: goTime(new Date()), outbound_gateways: {}, inbound_gateways: {} };
}

export function buildLeafz(m: Monitor): Record<string, unknown> {
  return { server_id: m.server.id, now: goTime(new Date()), leafnodes: 0, leafs: null };
}
