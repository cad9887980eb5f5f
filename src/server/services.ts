// Wires the optional parts of the server (JetStream, monitoring, system events, routes, leaf
// nodes, gateways) onto a Server according to its options. One place, so the binary and
// embedding agree. Each part's module is loaded only when the options ask for it: a server
// without routes or monitoring does not load (or keep in memory) their code.
import type { Server } from "./server.js";
import { gatewayConfigured, validateGateway } from "../config/gateway.js";

export async function installServices(server: Server): Promise<void> {
  if (server.options.httpPort !== 0 || server.options.httpsPort !== 0) {
    const { MonitorHttpService } = await import("../monitor/http-service.js");
    server.services.push(new MonitorHttpService(server));
  }
  if (server.systemAccount !== undefined) {
    const { SystemAccountService } = await import("../monitor/system-account.js");
    const system = new SystemAccountService(server, server.systemAccount);
    server.services.push(system);
    // Operator mode: account JWT updates, lookups and the NATS-based resolvers' protocol.
    if (server.jwtAccounts !== undefined) {
      const { ClaimsService } = await import("../auth/claims_service.js");
      server.services.push(new ClaimsService(server, server.systemAccount, system));
    }
  }
  // An experimental peer of a nats-server cluster's meta group runs instead of tsnats's own
  // JetStream: one RAFT dialect per cluster (src/cluster/nrg_meta_peer.ts).
  const nrgPeer = server.options.cluster?.nrgPeer === true;
  if (nrgPeer) {
    const { nrgPeerRefusal } = await import("../cluster/nrg_meta_peer.js");
    const refusal = nrgPeerRefusal(server);
    if (refusal !== undefined) throw new Error(refusal);
  }
  if (server.options.jetstream.enabled && !nrgPeer) {
    const { JetStreamService } = await import("../jetstream/jetstream.js");
    server.services.push(new JetStreamService(server));
  }
  // Also for embedded servers (the config path checked it already): the gateway names the cluster.
  const gateway = gatewayConfigured(server.options);
  if (gateway) validateGateway(server.options);
  if (server.options.cluster !== undefined && server.options.cluster.port !== 0) {
    const { Cluster } = await import("../cluster/cluster.js");
    server.services.push(new Cluster(server));
    if (server.options.cluster.nrgFollow === true && server.systemAccount !== undefined) {
      const { NrgMetaFollower } = await import("../cluster/nrg_meta_follower.js");
      server.services.push(new NrgMetaFollower(server));
    }
    if (nrgPeer) {
      const { NrgMetaPeer } = await import("../cluster/nrg_meta_peer.js");
      server.services.push(new NrgMetaPeer(server));
    }
  }
  const leaf = server.options.leafnodes;
  if (leaf !== undefined && (leaf.port !== 0 || leaf.remotes.length > 0)) {
    const { LeafNodes } = await import("../cluster/leafnodes.js");
    server.services.push(new LeafNodes(server));
  }
  if (gateway) {
    const { Gateways } = await import("../cluster/gateways.js");
    server.services.push(new Gateways(server));
  }
}
