// The optional services a server runs (routes, gateways, leaf nodes, JetStream), found by
// name. Monitoring and system events ask whether one runs through here rather than through
// the service's own module, so a server that does not run it never loads it
// (services.ts imports each service only when its options ask for it).
import type { Server } from "./server.js";
import type { Cluster } from "../cluster/cluster.js";
import type { Gateways } from "../cluster/gateways.js";
import type { LeafNodes } from "../cluster/leafnodes.js";
import type { JetStreamService } from "../jetstream/jetstream.js";

export function clusterOf(server: Server): Cluster | undefined {
  return server.services.find((s) => s.name === "cluster") as Cluster | undefined;
}

export function gatewaysOf(server: Server): Gateways | undefined {
  return server.services.find((s) => s.name === "gateways") as Gateways | undefined;
}

export function leafNodesOf(server: Server): LeafNodes | undefined {
  return server.services.find((s) => s.name === "leafnodes") as LeafNodes | undefined;
}

export function jetStreamServiceOf(server: Server): JetStreamService | undefined {
  if (!server.options.jetstream.enabled) return undefined;
  return server.services.find((s) => s.name === "jetstream") as JetStreamService | undefined;
}
