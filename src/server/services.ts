// Wires the optional parts of the server (JetStream, monitoring, system events) onto a
// Server according to its options. One place, so the binary and embedding agree.
import type { Server } from "./server.js";
import { MonitorHttpService } from "../monitor/http-service.js";
import { SystemAccountService } from "../monitor/system-account.js";
import { JetStreamService } from "../jetstream/jetstream.js";
import { Cluster } from "../cluster/cluster.js";
import { ClaimsService } from "../auth/claims_service.js";
import { LeafNodes } from "../cluster/leafnodes.js";
import { Gateways } from "../cluster/gateways.js";
import { gatewayConfigured, validateGateway } from "../config/gateway.js";

export function installServices(server: Server): void {
  if (server.options.httpPort !== 0 || server.options.httpsPort !== 0) server.services.push(new MonitorHttpService(server));
  if (server.systemAccount !== undefined) {
    const system = new SystemAccountService(server, server.systemAccount);
    server.services.push(system);
    // Operator mode: account JWT updates, lookups and the NATS-based resolvers' protocol.
    if (server.jwtAccounts !== undefined) server.services.push(new ClaimsService(server, server.systemAccount, system));
  }
  if (server.options.jetstream.enabled) server.services.push(new JetStreamService(server));
  // Also for embedded servers (the config path checked it already): the gateway names the cluster.
  const gateway = gatewayConfigured(server.options);
  if (gateway) validateGateway(server.options);
  if (server.options.cluster !== undefined && server.options.cluster.port !== 0) server.services.push(new Cluster(server));
  const leaf = server.options.leafnodes;
  if (leaf !== undefined && (leaf.port !== 0 || leaf.remotes.length > 0)) server.services.push(new LeafNodes(server));
  if (gateway) server.services.push(new Gateways(server));
}
