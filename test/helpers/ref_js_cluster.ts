// Test helper: a JetStream cluster of reference nats-server processes on loopback (every server
// with routes to all, itself included, as shared configs list them), to run the same steps on
// nats-server as on a tsnats cluster (JsTestCluster) and compare what clients see.
import { startNatsServer, freePort, referenceBinary, type ReferenceServer } from "./nats_server.js";

export interface RefJsCluster {
  servers: ReferenceServer[];
  /** Client URLs, in server order (server names N1, N2, ...). */
  urls: string[];
  stop(): Promise<void>;
}

/** undefined when the reference binary is not installed. */
export async function startRefJsCluster(size = 3, clusterName = "REF", more: { serverTags?: string[][]; uniqueTag?: string; domain?: string } = {}): Promise<RefJsCluster | undefined> {
  if (referenceBinary("2.15") === undefined) return undefined;
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const servers = await Promise.all(
    routePorts.map((p, i) =>
      startNatsServer(
        ["-js"],
        `server_name: N${i + 1}\n` +
          (more.serverTags?.[i] !== undefined ? `server_tags: ${JSON.stringify(more.serverTags[i])}\n` : "") +
          `jetstream { max_mem_store: 256MB, max_file_store: 1GB${more.uniqueTag !== undefined ? `, unique_tag: ${JSON.stringify(more.uniqueTag)}` : ""}${more.domain !== undefined ? `, domain: ${JSON.stringify(more.domain)}` : ""} }\n` +
          `cluster { name: ${clusterName}, listen: 127.0.0.1:${p}, routes: [${routes}] }\n`,
        "2.15",
      ),
    ),
  );
  return {
    servers,
    urls: servers.map((s) => `nats://127.0.0.1:${s.port}`),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
