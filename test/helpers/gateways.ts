// Shared test helper: super-clusters on loopback, of tsnats servers and nats-server reference
// servers joined by gateways (each member may also be part of a cluster of routes), and the
// wait for every server to have its outbound gateway connections.
import { startTestServer, type TestServer } from "./server.js";
import { freePort, startNatsServer, type ReferenceLine, type ReferenceServer } from "./nats_server.js";
import type { EmbeddedOptions } from "../../src/index.js";
import type { Gateways } from "../../src/cluster/gateways.js";
import type { Cluster } from "../../src/cluster/cluster.js";

export interface GatewaySpec {
  name: string;
  urls: string[];
}

/** One server of a super-cluster. */
export interface GwMember {
  readonly kind: "tsnats" | ReferenceLine;
  readonly name: string;
  /** The cluster (= gateway) name. */
  readonly cluster: string;
  readonly clientUrl: string;
  /** nats://127.0.0.1:<route port>, when clustered. */
  readonly routeUrl: string;
  /** nats://127.0.0.1:<gateway port>. */
  readonly gatewayUrl: string;
  readonly monitorPort: number;
  /** The embedded server (tsnats members). */
  readonly ts?: TestServer;
  gatewayz(query?: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** The gateways service of a tsnats member (or of an embedded test server). */
export function gatewaysOfTs(m: TestServer | GwMember): Gateways {
  const ts = "server" in m ? m : m.ts;
  if (ts === undefined) throw new Error(`${(m as GwMember).name} is not a tsnats server`);
  const g = ts.server.services.find((s) => s.name === "gateways");
  if (g === undefined) throw new Error("server has no gateways");
  return g as Gateways;
}

async function fetchJson(port: number, path: string): Promise<Record<string, unknown>> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return (await r.json()) as Record<string, unknown>;
}

export interface TsGwOptions {
  /** Route URLs of the cluster (a cluster block is added when set, even empty). */
  routes?: string[];
  gateways?: GatewaySpec[];
  extra?: EmbeddedOptions;
}

export async function startTsGw(name: string, cluster: string, o: TsGwOptions = {}): Promise<GwMember & { ts: TestServer }> {
  const extra = o.extra ?? {};
  const ts = await startTestServer({
    serverName: name,
    httpPort: -1,
    ...extra,
    ...(o.routes !== undefined ? { cluster: { port: -1, routes: o.routes, ...(extra.cluster ?? {}) } } : {}),
    gateway: { name: cluster, port: -1, solicitDelayMs: 50, gateways: o.gateways ?? [], ...(extra.gateway ?? {}) },
  });
  const gw = gatewaysOfTs(ts);
  const cl = ts.server.services.find((s) => s.name === "cluster") as Cluster | undefined;
  const monitorPort = Number(new URL(ts.monitorUrl as string).port);
  return {
    kind: "tsnats",
    name,
    cluster,
    ts,
    clientUrl: ts.url,
    routeUrl: cl !== undefined ? `nats://127.0.0.1:${cl.port}` : "",
    gatewayUrl: `nats://127.0.0.1:${gw.port}`,
    monitorPort,
    gatewayz: (q = "") => fetchJson(monitorPort, `/gatewayz${q}`),
    stop: () => ts.close(),
  };
}

export interface RefGwOptions {
  routes?: string[];
  /** Start with a route listener even without routes. */
  clustered?: boolean;
  gateways?: GatewaySpec[];
  /** Extra text inside the gateway block. */
  gatewayExtra?: string;
  /** Extra top-level config text. */
  config?: string;
}

export async function startRefGw(line: ReferenceLine, name: string, cluster: string, o: RefGwOptions = {}): Promise<GwMember & { ref: ReferenceServer }> {
  for (let attempt = 1; ; attempt++) {
    const gport = await freePort();
    const mport = await freePort();
    const cport = o.routes !== undefined || o.clustered === true ? await freePort() : 0;
    const gws = (o.gateways ?? []).map((g) => `{ name: ${JSON.stringify(g.name)}, urls: ${JSON.stringify(g.urls)} }`).join(", ");
    const config = `${o.config ?? ""}\ngateway { name: ${JSON.stringify(cluster)}, listen: "127.0.0.1:${gport}", gateways: [${gws}]\n${o.gatewayExtra ?? ""} }\n`;
    const args = ["-n", name, "-m", String(mport)];
    if (cport !== 0) {
      args.push("--cluster", `nats://127.0.0.1:${cport}`, "--cluster_name", cluster);
      if ((o.routes ?? []).length > 0) args.push("--routes", (o.routes ?? []).join(","));
    }
    let ref: ReferenceServer;
    try {
      ref = await startNatsServer(args, config, line);
    } catch (err) {
      if (attempt < 5 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
    return {
      kind: line,
      name,
      cluster,
      ref,
      clientUrl: `nats://127.0.0.1:${ref.port}`,
      routeUrl: cport !== 0 ? `nats://127.0.0.1:${cport}` : "",
      gatewayUrl: `nats://127.0.0.1:${gport}`,
      monitorPort: mport,
      gatewayz: (q = "") => fetchJson(mport, `/gatewayz${q}`),
      stop: () => ref.stop(),
    };
  }
}

/**
 * Wait until every member has an outbound gateway connection to every other cluster, and every
 * cluster has an inbound connection from every server of the others.
 */
export async function waitForSuperCluster(members: GwMember[], timeoutMs = 20_000): Promise<void> {
  const clusters = new Set(members.map((m) => m.cluster));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const z = await Promise.all(members.map((m) => m.gatewayz().catch(() => ({}) as Record<string, unknown>)));
    const outOk = z.every((g, i) => {
      const out = Object.keys((g.outbound_gateways ?? {}) as object);
      return out.length === clusters.size - 1 && !out.includes(members[i].cluster);
    });
    // Inbound connections into each cluster: one from every server of the other clusters.
    const inbound = new Map<string, number>();
    z.forEach((g, i) => {
      const ins = (g.inbound_gateways ?? {}) as Record<string, unknown[]>;
      let n = 0;
      for (const list of Object.values(ins)) n += list.length;
      inbound.set(members[i].cluster, (inbound.get(members[i].cluster) ?? 0) + n);
    });
    const inOk = [...clusters].every((c) => inbound.get(c) === members.filter((m) => m.cluster !== c).length);
    if (outOk && inOk) return;
    if (Date.now() > deadline) {
      throw new Error(`super-cluster not formed: ${z.map((g, i) => `${members[i].name} out=${Object.keys((g.outbound_gateways ?? {}) as object).join("/")}`).join(" ")} inbound=${JSON.stringify([...inbound])}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
