// Test helper: a JetStream cluster of three in operator (JWT) mode, every server from the same
// config text (operator, system account, resolver, routes to all; servers N1..N3 tagged
// at:1..at:3): nats-server 2.15 processes, tsnats-server processes, or tsnats servers in this
// process. `common` is the operator part of the config (e.g. helpers/jwt.ts memoryResolverConfig),
// or a function of the server's index (0..2) for what differs (a resolver's directory).
import { startConfigServer } from "./config_server.js";
import { freePort, referenceBinary, startNatsServer } from "./nats_server.js";
import type { TestServer } from "./server.js";

export type OperatorClusterKind = "2.15" | "tsnats" | "tsnats-process";

export interface OperatorClusterServer {
  port: number;
  stop(): Promise<void>;
  /** The server itself, for "tsnats" (in this process): what it holds can be read. */
  embedded?: TestServer;
}

/** undefined for "2.15" when the reference binary is not installed. */
export async function startOperatorCluster(kind: OperatorClusterKind, common: string | ((server: number) => string), jetstream = "max_mem_store: 256MB, max_file_store: 1GB"): Promise<OperatorClusterServer[] | undefined> {
  if (kind === "2.15" && referenceBinary("2.15") === undefined) return undefined;
  const routePorts = [await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const conf = (p: number, i: number): string =>
    `server_name: N${i + 1}\nserver_tags: ["at:${i + 1}"]\n${typeof common === "string" ? common : common(i)}\n` +
    `jetstream { ${jetstream} }\n` +
    `cluster { name: OPC, listen: 127.0.0.1:${p}, routes: [${routes}] }\n`;
  const started = await Promise.allSettled(
    routePorts.map(async (p, i): Promise<OperatorClusterServer> => {
      if (kind === "2.15") return startNatsServer(["-js"], conf(p, i), "2.15");
      if (kind === "tsnats-process") return startNatsServer(["-js"], conf(p, i), "tsnats");
      const srv = await startConfigServer(conf(p, i));
      return { port: srv.port, stop: () => srv.close(), embedded: srv };
    }),
  );
  const servers = started.filter((r): r is PromiseFulfilledResult<OperatorClusterServer> => r.status === "fulfilled").map((r) => r.value);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  return servers;
}
