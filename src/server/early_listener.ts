// The client port opened by tsnats-server's entry before the server's code is loaded.
//
// Node needs a few hundred milliseconds (more under load) to load and start the server, while
// nats-server listens within tens: client test suites start a server and connect after a short
// fixed wait or a few connect attempts (nats.c: 11 attempts 200 ms apart, or a 500 ms sleep),
// and a refused connection fails them. The entry therefore binds the client port named on the
// command line or in the config file at once; connections it accepts wait (nothing is read or written) until the
// server, once started, adopts the listener and serves them as any other: INFO comes when the
// server is ready, as with nats-server, only the TCP handshake is earlier.
//
// The entry and the server may be loaded as separate copies of this module (the server runs
// from the bundle), so the listener is kept on globalThis under a registered symbol.
import net from "node:net";
import { parseConfigFile, type ConfMap, type ConfValue } from "../config/conf_parser.js";
import { bindHost } from "./bind_address.js";

/** The listeners opened early, by kind: the client port, and a websocket port without TLS. */
export type EarlyKind = "client" | "websocket";
const KEYS: Record<EarlyKind, symbol> = { client: Symbol.for("tsnats.earlyClientListener"), websocket: Symbol.for("tsnats.earlyWebsocketListener") };

interface EarlyListener {
  /** The host given to listen() (after bindHost) and the port. */
  host: string;
  port: number;
  server: net.Server;
  /** Accepted before the server adopted the listener, in order. */
  waiting: Set<net.Socket>;
  /** Settles once the bind is done: true when listening, false when it failed. */
  bound: Promise<boolean>;
  /** The waiting sockets' own 'error' and 'close' listeners, removed when adopted. */
  handlers: [(this: net.Socket) => void, (this: net.Socket) => void];
}

type Holder = Record<symbol, EarlyListener | undefined>;

/**
 * Flags (as in nats-server: one or two dashes) after which the entry does not open the port
 * early: TLS, commands that run no server, and routes to solicit. A server that joins a cluster
 * should give its first clients the cluster's URLs: tsnats opens its client port once its
 * configured routes are up (cluster.ts, beforeClientListener), so its clients are better
 * refused until then than accepted a whole start-up earlier (nats.c's GetServers connects
 * right after the third server accepts and expects all three URLs).
 */
const SKIP = /^--?(tls\w*|v|version|h|help|help_tls|t|sl|signal|routes)(=|$)/;
const CONFIG = /^--?(c|config)(=(.*))?$/;
const PORT = /^--?(p|port)(=(.*))?$/;
const ADDR = /^--?(a|addr|net)(=(.*))?$/;

/** A map's entry by key, as the config loader reads keys (case-insensitive). */
function entry(m: ConfMap, key: string): ConfValue | undefined {
  for (const k of Object.keys(m)) if (k.toLowerCase() === key) return m[k];
  return undefined;
}

/**
 * The client address a config file gives (`port`, `host`/`net`, `listen`), undefined when it
 * cannot be read here (the server reports why), asks for TLS handshake first (a client's
 * first bytes would wait in a socket the TLS layer takes over later) or has routes (above).
 */
function configAddress(file: string): { host?: string; port?: number } | undefined {
  let conf: ConfMap;
  try {
    conf = parseConfigFile(file);
  } catch {
    return undefined;
  }
  const tls = entry(conf, "tls");
  if (tls !== undefined && (typeof tls !== "object" || Array.isArray(tls) || tls instanceof Date || entry(tls, "handshake_first") !== undefined)) return undefined;
  const cluster = entry(conf, "cluster");
  if (cluster !== undefined && (typeof cluster !== "object" || Array.isArray(cluster) || cluster instanceof Date || entry(cluster, "routes") !== undefined)) return undefined;
  const out: { host?: string; port?: number } = {};
  const listen = entry(conf, "listen");
  if (typeof listen === "number") out.port = listen;
  else if (typeof listen === "string") {
    const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(listen);
    if (m === null) return undefined;
    out.host = m[1] ?? m[2];
    out.port = Number(m[3]);
  } else if (listen !== undefined) return undefined;
  const port = entry(conf, "port");
  if (port !== undefined) {
    if (typeof port !== "number") return undefined;
    out.port = port;
  }
  const host = entry(conf, "host") ?? entry(conf, "net");
  if (host !== undefined) {
    if (typeof host !== "string") return undefined;
    out.host = host;
  }
  return out;
}

/**
 * The websocket block's address in a config file that gives a fixed port without TLS (a TLS
 * handshake would take over a socket a client may have written to already), as configAddress.
 */
function websocketConfigAddress(file: string): { host: string; port: number } | undefined {
  if (configAddress(file) === undefined) return undefined;
  const ws = entry(parseConfigFile(file), "websocket");
  if (ws === undefined || typeof ws !== "object" || Array.isArray(ws) || ws instanceof Date || entry(ws, "tls") !== undefined) return undefined;
  let host = "0.0.0.0";
  let port: number | undefined;
  const listen = entry(ws, "listen");
  if (typeof listen === "string") {
    const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(listen);
    if (m === null) return undefined;
    host = m[1] ?? m[2];
    port = Number(m[3]);
  } else if (listen !== undefined) return undefined;
  const p = entry(ws, "port");
  if (p !== undefined) {
    if (typeof p !== "number") return undefined;
    port = p;
  }
  const h = entry(ws, "host");
  if (h !== undefined) {
    if (typeof h !== "string") return undefined;
    host = h;
  }
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535 || host === "") return undefined;
  return { host, port };
}

/** The websocket address a command line's config file gives (see websocketConfigAddress); undefined as for earlyListenAddress. */
export function earlyWebsocketAddress(argv: readonly string[]): { host: string; port: number } | undefined {
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (SKIP.test(arg)) return undefined;
    const m = CONFIG.exec(arg);
    if (m === null) continue;
    configFile = m[2] !== undefined ? m[3] : argv[++i];
    if (configFile === undefined) return undefined;
  }
  return configFile === undefined ? undefined : websocketConfigAddress(configFile);
}

/**
 * The host and port a command line will listen on for clients (-p/-a over a config file's
 * port/host/listen, as the server merges them); undefined for a random port, TLS flags, TLS
 * handshake first, routes, a config file that does not parse, or a command that runs no server. A
 * wrong guess costs nothing: the server closes a listener that does not match its options.
 */
export function earlyListenAddress(argv: readonly string[]): { host: string; port: number } | undefined {
  let flagHost: string | undefined;
  let flagPort: number | undefined;
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (SKIP.test(arg)) return undefined;
    const m = PORT.exec(arg) ?? ADDR.exec(arg) ?? CONFIG.exec(arg) ?? undefined;
    if (m === undefined) continue;
    const value = m[2] !== undefined ? m[3] : argv[++i];
    if (value === undefined) return undefined;
    if (PORT.test(arg)) {
      if (!/^\d+$/.test(value)) return undefined;
      flagPort = Number(value);
    } else if (ADDR.test(arg)) flagHost = value;
    else configFile = value;
  }
  let host = "0.0.0.0";
  let port = 4222;
  if (configFile !== undefined) {
    const conf = configAddress(configFile);
    if (conf === undefined) return undefined;
    host = conf.host ?? host;
    port = conf.port ?? port;
  }
  host = flagHost ?? host;
  port = flagPort ?? port;
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host === "") return undefined;
  return { host, port };
}

/**
 * Binds the client port now (see above), and a websocket port without TLS a config file gives
 * (nats.js' websocket reconnect tests count the attempts refused while the server restarts).
 * A port in use or any other error: nothing is kept. True when a port is being bound (by the
 * next turn, for an IP address: listen() binds once its lookup calls back).
 */
export function openEarlyListener(argv: readonly string[]): boolean {
  const client = earlyListenAddress(argv);
  if (client !== undefined) bindEarly("client", client);
  const ws = earlyWebsocketAddress(argv);
  if (ws !== undefined) bindEarly("websocket", ws);
  return client !== undefined || ws !== undefined;
}

/**
 * Whether a command line starts a server with a cluster port (-cluster, or a config file's
 * cluster block). Its entry does not hurry the early client port: a harness takes the port
 * accepting as the server started and spawns the next servers, whose routes to this one are
 * refused until it is loaded and then retried only a second later (nats.c's GetServers, 3
 * servers: 8/8 passed with the client port bound after the bundle's load, 8/12 before it).
 */
export function declaresCluster(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    if (/^--?cluster(=|$)/.test(argv[i])) return true;
    const m = CONFIG.exec(argv[i]);
    if (m === null) continue;
    const file = m[2] !== undefined ? m[3] : argv[i + 1];
    if (file === undefined) return false;
    try {
      if (entry(parseConfigFile(file), "cluster") !== undefined) return true;
    } catch {
      // the server reports it
    }
  }
  return false;
}

function bindEarly(kind: EarlyKind, at: { host: string; port: number }): void {
  const host = bindHost(at.host);
  const waiting = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    waiting.add(socket);
    socket.on("error", dropWaiting);
    socket.on("close", forgetWaiting);
  });
  function dropWaiting(this: net.Socket): void {
    this.destroy();
  }
  function forgetWaiting(this: net.Socket): void {
    waiting.delete(this);
  }
  // Never what keeps the process alive (`--version`, a failed start).
  server.unref();
  const bound = new Promise<boolean>((resolve) => {
    server.once("listening", () => resolve(true));
    server.once("error", () => {
      server.close();
      resolve(false);
    });
  });
  server.listen({ host, port: at.port, backlog: 4096 });
  (globalThis as Holder)[KEYS[kind]] = { host, port: at.port, server, waiting, bound, handlers: [dropWaiting, forgetWaiting] };
}

/**
 * The listener the entry opened, when it listens where the server is about to (`host` as
 * configured, before bindHost), with the connections it accepted meanwhile; the server takes
 * it over. Any other early listener is closed first. Undefined when there is none.
 */
export async function adoptEarlyListener(host: string, port: number, kind: EarlyKind = "client"): Promise<{ server: net.Server; waiting: net.Socket[] } | undefined> {
  const early = (globalThis as Holder)[KEYS[kind]];
  if (early === undefined) return undefined;
  delete (globalThis as Holder)[KEYS[kind]];
  const listening = await early.bound;
  const waiting = [...early.waiting];
  const [onError, onClose] = early.handlers;
  if (!listening || early.host !== bindHost(host) || early.port !== port) {
    // Closed before the server binds: the close of a listening socket is synchronous.
    early.server.close();
    for (const s of waiting) s.destroy();
    return undefined;
  }
  early.server.removeAllListeners("connection");
  early.server.removeAllListeners("error");
  early.server.removeAllListeners("listening");
  for (const s of waiting) s.removeListener("error", onError).removeListener("close", onClose);
  early.server.ref();
  return { server: early.server, waiting };
}
