// Shared test helper: nats.ws (the NATS WebSocket client for browsers) in Node. Node 20 has
// no global WebSocket, so the `ws` package provides it; each connection is opened through
// nats.ws's wsFactory hook, so a test can give the upgrade request headers (cookies, Origin,
// User-Agent), a CA and a client certificate for wss, and per-message deflate on or off.
import { WebSocket, type ClientOptions } from "ws";
import type { ConnectionOptions, NatsConnection } from "nats.ws";

type NatsWs = typeof import("nats.ws");
let loaded: NatsWs | undefined;

/** The nats.ws module, with `ws` installed as the global WebSocket it expects. */
export async function natsWs(): Promise<NatsWs> {
  if (loaded === undefined) {
    const g = globalThis as { WebSocket?: unknown };
    g.WebSocket ??= WebSocket;
    loaded = await import("nats.ws");
  }
  return loaded;
}

/**
 * Connect nats.ws to `url` (ws:// or wss://) once, without reconnecting. `ws` are the options
 * of the underlying `ws` client (headers, ca/cert/key, perMessageDeflate...).
 */
export async function wsConnect(url: string, opts: ConnectionOptions = {}, ws: ClientOptions = {}): Promise<NatsConnection> {
  const { connect } = await natsWs();
  const options = {
    servers: url,
    reconnect: false,
    timeout: 3000,
    ...opts,
    wsFactory: (u: string) => Promise.resolve({ socket: new WebSocket(u, ws), encrypted: u.startsWith("wss://") }),
  };
  return connect(options as ConnectionOptions);
}
