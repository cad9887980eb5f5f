// Embedding API: run a tsnats server inside your own Node process.
//
//   import { startServer } from "tsnats";
//   const server = await startServer({ port: -1, jetstream: { storeDir: "./data" } });
//   console.log(server.url);   // nats://127.0.0.1:PORT
//   await server.close();
import {
  defaultClusterOptions,
  defaultGatewayOptions,
  defaultLeafNodeOptions,
  defaultOptions,
  defaultWebSocketOptions,
  type ClusterOptions,
  type GatewayOptions,
  type JetStreamOptions,
  type LeafNodeOptions,
  type ServerOptions,
  type WebSocketOptions,
} from "./config/options.js";
import { Server } from "./server/server.js";
import type { Log } from "./server/log.js";
import { installServices } from "./server/services.js";

export type { ServerOptions, JetStreamOptions, ClusterOptions, GatewayOptions, WebSocketOptions } from "./config/options.js";
export type { Log } from "./server/log.js";
export { Server } from "./server/server.js";
export { NATS_FEATURE_VERSION, TSNATS_VERSION } from "./server/version.js";

/** Options of an embedded server: any ServerOptions field, JetStream, cluster, leaf nodes and WebSocket given as partial blocks. */
export type EmbeddedOptions = Partial<Omit<ServerOptions, "jetstream" | "cluster" | "leafnodes" | "websocket" | "gateway">> & {
  jetstream?: boolean | Partial<JetStreamOptions>;
  /** `cluster {}`: e.g. `{ port: -1, name: "c1", routes: ["nats://127.0.0.1:6222"] }`. */
  cluster?: Partial<ClusterOptions>;
  /** `leafnodes {}`: e.g. `{ port: -1 }` (a hub) or `{ remotes: [{ urls: [...], ... }] }` (a leaf). */
  leafnodes?: Partial<LeafNodeOptions>;
  /** `gateway {}`: e.g. `{ name: "east", port: -1, gateways: [{ name: "west", urls: ["nats://127.0.0.1:7222"] }] }`. */
  gateway?: Partial<GatewayOptions>;
  /** The WebSocket listener, e.g. `{ port: -1, noTls: true }`; unset fields take nats-server's defaults. */
  websocket?: Partial<WebSocketOptions>;
  /** Where log lines go; silent by default. */
  log?: Log;
};

export interface EmbeddedServer {
  readonly server: Server;
  /** nats://host:port clients connect to. */
  readonly url: string;
  readonly port: number;
  /** Monitoring base URL when `httpPort` was set. */
  readonly monitorUrl: string | undefined;
  close(): Promise<void>;
}

const silent: Log = {
  debugEnabled: false,
  traceEnabled: false,
  info() {},
  warn() {},
  error() {},
  fatal() {},
  debug() {},
  trace() {},
};

/** Build complete ServerOptions from a partial set, as the config file would. */
export function resolveOptions(opts: EmbeddedOptions = {}): ServerOptions {
  const base = defaultOptions();
  const { jetstream, cluster, leafnodes, gateway, websocket, log: _log, ...rest } = opts;
  const merged: ServerOptions = { ...base, host: "127.0.0.1", port: -1, ...rest };
  // Tags as the config file keeps them (lower case, trimmed, once each), so placement compares alike.
  merged.serverTags = [...new Set(merged.serverTags.map((t) => t.trim().toLowerCase()).filter((t) => t !== ""))];
  if (cluster !== undefined) merged.cluster = { ...defaultClusterOptions(), host: "127.0.0.1", port: -1, ...cluster };
  if (leafnodes !== undefined) merged.leafnodes = { ...defaultLeafNodeOptions(), host: "127.0.0.1", ...leafnodes };
  if (gateway !== undefined) merged.gateway = { ...defaultGatewayOptions(), host: "127.0.0.1", ...gateway };
  if (websocket !== undefined) merged.websocket = { ...defaultWebSocketOptions(), ...websocket };
  if (jetstream !== undefined && jetstream !== false) {
    merged.jetstream = { ...base.jetstream, ...(jetstream === true ? {} : jetstream), enabled: true };
  }
  return merged;
}

export async function startServer(opts: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const options = resolveOptions(opts);
  const server = new Server(options, opts.log ?? silent);
  await installServices(server);
  try {
    await server.startServer();
  } catch (err) {
    // What did start (listeners, timers, JetStream) stops: a failed start leaves nothing running.
    await server.shutdown().catch(() => undefined);
    throw err;
  }
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    server,
    url: `nats://${host}:${server.port}`,
    port: server.port,
    get monitorUrl() {
      const m = server.portsFileExtras.monitoring;
      return m?.[0];
    },
    close: () => server.shutdown(),
  };
}
