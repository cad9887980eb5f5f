// The WebSocket listener (`websocket {}`), used by nats.ws and browsers.
//
// A TCP listener (with its own TLS, handshake before HTTP as in nats-server) hands each
// connection to an HTTP parser that only serves the upgrade: the request is checked the way
// nats-server checks it (same order, same HTTP status and log text on a bad request), then
// the `ws` library completes the upgrade and the connection becomes an ordinary Client over
// a WebSocketTransport. Origins, cookies carrying credentials, per-message deflate and the
// extra response headers are handled here; authentication stays in the Authenticator, which
// knows the connection type (WEBSOCKET).
import http, { STATUS_CODES } from "node:http";
import { createRequire } from "node:module";
import net from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { ServerOptions, WebSocket, WebSocketServer } from "ws";
import type { WebSocketOptions } from "../config/options.js";
import type { Server } from "./server.js";
import { ServerTls } from "./tls.js";
import { WebSocketTransport } from "./websocket_transport.js";
import { OriginPolicy } from "./websocket_origin.js";
import type { ConnectOptions } from "./client.js";
import type { LeafNodes } from "../cluster/leafnodes.js";
import { listenUrls } from "../cluster/urls.js";
import { bindHost, peerAddress } from "./bind_address.js";
import { adoptEarlyListener } from "./early_listener.js";

/** nats-server compresses only what is larger than this. */
const COMPRESS_THRESHOLD = 64;
/** A compressed message may batch several max_payload operations, up to this bound (nats-server's wsMaxMessageSize). */
const MAX_MESSAGE_PAYLOAD_MULTIPLE = 8;
const MAX_MESSAGE_LIMIT = 64 * 1024 * 1024;
/** The close handshake a peer gets before its socket is dropped (Client also drops after 2 s). */
const CLOSE_TIMEOUT_MS = 2000;

/**
 * `ws` is loaded at a listener's first upgrade, not at start-up: it pulls in node:https and
 * its own modules (about 10 MB of an idle server's RSS, 12-24 ms of CPU that test suites
 * starting many servers with a websocket port paid at every start).
 */
const requireCjs = createRequire(import.meta.url);

/** Credentials taken from the upgrade request's cookies, for the fields a CONNECT leaves empty. */
export type CookieCredentials = Partial<Pick<ConnectOptions, "jwt" | "user" | "pass" | "authToken">>;

/** What the upgrade request asks for, once checked. */
interface Upgrade {
  kind: "client" | "leafnode";
  browser: boolean;
  safari: boolean;
  cookies: CookieCredentials;
}

class HandshakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** An HTTP/1.1 request without any Host header, which Go's server refuses before nats-server sees it. */
function missingHost(req: http.IncomingMessage): boolean {
  return req.httpVersion !== "1.0" && req.headersDistinct.host === undefined;
}

/** Does any value of header `name` hold the comma-separated token `value` (case-insensitive)? */
function headerContains(req: http.IncomingMessage, name: string, value: string): boolean {
  const values = req.headersDistinct[name];
  if (values === undefined) return false;
  const want = value.toLowerCase();
  return values.some((v) => v.split(",").some((t) => t.trim().toLowerCase() === want));
}

/** Cookies of the request, by name (a later cookie of the same name wins, as nats-server reads them). */
function requestCookies(req: http.IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of req.headersDistinct.cookie ?? []) {
    for (const part of line.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      const name = part.slice(0, eq).trim();
      let value = part.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (name !== "") out.set(name, value);
    }
  }
  return out;
}

/** The request's HTTP version and Connection tokens: what Go's server answers depends on them. */
interface RequestHead {
  httpVersion: string;
  connection: string[];
}

function headOf(req: http.IncomingMessage): RequestHead {
  return { httpVersion: req.httpVersion, connection: connectionTokens(req.headersDistinct.connection ?? []) };
}

function connectionTokens(values: string[]): string[] {
  return values.flatMap((v) => v.split(",").map((t) => t.trim().toLowerCase()));
}

/**
 * Go's http.Error answer with nats-server's extra header, so tools see the same bytes; Go's
 * server adds `Connection: close` when an HTTP/1.1 request asked for it, and
 * `Connection: keep-alive` when an HTTP/1.0 one asked to be kept alive.
 */
function httpErrorResponse(status: number, head: RequestHead): string {
  const text = STATUS_CODES[status] ?? "Error";
  const v10 = head.httpVersion === "1.0";
  const connection = v10 ? (head.connection.includes("keep-alive") ? "Connection: keep-alive\r\n" : "") : head.connection.includes("close") ? "Connection: close\r\n" : "";
  return (
    `HTTP/${v10 ? "1.0" : "1.1"} ${status} ${text}\r\n` +
    connection +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    "Sec-Websocket-Version: 13\r\n" +
    "X-Content-Type-Options: nosniff\r\n" +
    `Date: ${new Date().toUTCString()}\r\n` +
    `Content-Length: ${text.length + 1}\r\n\r\n${text}\n`
  );
}

/** Go's server answers an HTTP/1.1 request without a Host header itself, before any handler. */
const MISSING_HOST_RESPONSE = "HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header";

/** Header values of a raw request head (names lowercased), for requests Node's parser refuses. */
function rawHeaders(lines: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return out;
}

export class WebSocketListener {
  /** Bound port, once listening. */
  port = 0;
  private tls: ServerTls | undefined;
  private listener: net.Server;
  private readonly http: http.Server;
  /** The `ws` server that completes upgrades, made at the first (webSocketServer()). */
  private wss: WebSocketServer | undefined;
  private readonly origins: OriginPolicy;
  /** Handshake deadlines of connections not upgraded yet, by the socket HTTP reads from. */
  private readonly pending = new Map<Duplex, NodeJS.Timeout | undefined>();
  /** TLS connections whose certificate check passed (only those may upgrade). */
  private readonly verified = new WeakSet<Duplex>();

  constructor(
    private readonly server: Server,
    private options: WebSocketOptions,
  ) {
    this.tls = ServerTls.fromOptions(options.tls);
    this.origins = new OriginPolicy(options.sameOrigin, options.allowedOrigins);
    // Go answers a request without Host itself (missingHost), not Node: its answer differs.
    this.http = http.createServer({ requireHostHeader: false });
    this.http.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => this.onPlainRequest(req, res));
    this.http.on("clientError", (err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      // Go's server takes any token as a method (Node's parser only the known, upper-case
      // ones): such a request reaches nats-server's handler, which refuses it.
      const answer = err.code === "HPE_INVALID_METHOD" && err.rawPacket !== undefined ? this.refuseOddMethod(err.rawPacket, socket) : undefined;
      // What Go's HTTP server answers to a request it cannot parse.
      socket.end(answer ?? "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request");
    });
    this.listener = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.listener.maxConnections = Number.MAX_SAFE_INTEGER;
  }

  private webSocketServer(): WebSocketServer {
    if (this.wss !== undefined) return this.wss;
    const maxPayload = this.server.options.maxPayload > 0 ? this.server.options.maxPayload : 1024 * 1024;
    // closeTimeout is a ws 8 option its type definitions do not list yet.
    const wsOptions: ServerOptions & { closeTimeout: number } = {
      noServer: true,
      clientTracking: false,
      // nats-server answers no subprotocol (MQTT is not served).
      handleProtocols: () => false,
      maxPayload: Math.min(maxPayload * MAX_MESSAGE_PAYLOAD_MULTIPLE, MAX_MESSAGE_LIMIT),
      closeTimeout: CLOSE_TIMEOUT_MS,
      // As nats-server: no context kept between messages on either side, fastest deflate level.
      perMessageDeflate: this.options.compression
        ? { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: COMPRESS_THRESHOLD + 1, zlibDeflateOptions: { level: 1 } }
        : false,
    };
    const { WebSocketServer: WsServer } = requireCjs("ws") as typeof import("ws");
    const wss = new WsServer(wsOptions);
    wss.on("headers", (headers: string[]) => {
      // Compression is always without context takeover both ways: nats-server says so in
      // these words, whichever parameters the client offered.
      const ext = headers.findIndex((h) => h.toLowerCase().startsWith("sec-websocket-extensions: permessage-deflate"));
      if (ext >= 0) headers[ext] = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover";
      for (const [k, v] of Object.entries(this.options.headers)) headers.push(`${k}: ${v}`);
    });
    this.wss = wss;
    return wss;
  }

  get scheme(): "ws" | "wss" {
    return this.tls !== undefined ? "wss" : "ws";
  }

  /** nats-server's default when the block names no host. */
  get host(): string {
    return this.options.host || "0.0.0.0";
  }

  /** The URL clients connect to (127.0.0.1 when listening on every interface). */
  get url(): string {
    const h = this.host === "0.0.0.0" || this.host === "::" ? "127.0.0.1" : this.host;
    return `${this.scheme}://${h.includes(":") ? `[${h}]` : h}:${this.port}`;
  }

  /** The "host:port" URLs this listener offers to the cluster (ws_connect_urls), as connect_urls are built. */
  get connectUrls(): string[] {
    return this.port > 0 ? listenUrls(this.options.advertise, this.host, this.port) : [];
  }

  /** The listener's TLS (undefined without one). */
  get tlsConfig(): ServerTls | undefined {
    return this.tls;
  }

  /** When the listener's TLS certificate expires (for /varz). */
  get certificateNotAfter(): Date | undefined {
    return this.tls?.certificateNotAfter;
  }

  async listen(): Promise<void> {
    const o = this.options;
    const port = o.port === -1 ? 0 : o.port;
    // The command line's entry may have bound this port already (server/early_listener.ts).
    let early = await adoptEarlyListener(this.host, port, "websocket");
    if (early !== undefined && this.tls !== undefined) {
      // (Not opened for a block with TLS: its handshake would take over sockets already written to.)
      early.server.close();
      for (const s of early.waiting) s.destroy();
      early = undefined;
    }
    return new Promise((resolve, reject) => {
      let srv = this.listener;
      if (early !== undefined) {
        srv = early.server;
        srv.on("connection", (socket: net.Socket) => this.onConnection(socket));
        srv.maxConnections = Number.MAX_SAFE_INTEGER;
        this.listener = srv;
      }
      const listening = (): void => {
        srv.removeListener("error", reject);
        srv.on("error", (err) => this.server.log.error(`websocket listener error: ${err.message}`));
        this.port = (srv.address() as net.AddressInfo).port;
        this.server.log.info(`Listening for websocket clients on ${this.scheme}://${this.host}:${this.port}`);
        if (this.tls === undefined) this.server.log.warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
        resolve();
      };
      srv.once("error", reject);
      if (early !== undefined) {
        listening();
        this.server.log.debug(`Serving the websocket listener opened at start-up (${early.waiting.length} connection(s) waiting)`);
        for (const socket of early.waiting) this.onConnection(socket);
      } else srv.listen({ host: bindHost(this.host), port, backlog: 4096 }, listening);
    });
  }

  /** Stop accepting; connections already upgraded are clients of the server and closed with it. */
  close(): Promise<void> {
    for (const [socket, timer] of this.pending) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.pending.clear();
    if (!this.listener.listening) return Promise.resolve();
    return new Promise((resolve) => this.listener.close(() => resolve()));
  }

  /**
   * A reload may change the TLS certificates (new connections use them); any other change
   * of the block is refused, as nats-server refuses it.
   */
  prepareReload(next: WebSocketOptions | undefined): () => void {
    const strip = (o: WebSocketOptions | undefined): string => JSON.stringify(o === undefined ? null : { ...o, tls: undefined, port: o.port });
    const cur = { ...this.options, port: next?.port === -1 ? -1 : this.options.port };
    if (next === undefined || strip(cur) !== strip(next) || (next.tls === undefined) !== (this.options.tls === undefined)) {
      throw new Error("config reload not supported for websocket");
    }
    const tls = ServerTls.fromOptions(next.tls);
    return () => {
      this.tls = tls;
      this.options = { ...next, port: this.options.port };
    };
  }

  private onConnection(socket: net.Socket): void {
    if (this.server.isShuttingDown || this.server.lameDuck) {
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined);
    const tls = this.tls;
    const conn: Duplex = tls === undefined ? socket : tls.wrapClient(socket);
    // One deadline for the TLS handshake and the upgrade request, as nats-server's ReadTimeout.
    const ms = this.options.handshakeTimeoutMs;
    const timer = ms > 0 ? setTimeout(() => this.dropPending(conn), ms) : undefined;
    timer?.unref();
    this.pending.set(conn, timer);
    conn.once("close", () => {
      clearTimeout(this.pending.get(conn));
      this.pending.delete(conn);
    });
    if (tls !== undefined) {
      const t = conn as TLSSocket;
      t.on("error", (err: Error) => this.tlsFailure(socket, err.message));
      t.once("secure", () => {
        const problem = tls.peerProblem(t);
        if (problem !== undefined) {
          this.tlsFailure(socket, `client certificate not accepted: ${problem}`);
          return;
        }
        this.verified.add(conn);
      });
    }
    this.http.emit("connection", conn);
  }

  private dropPending(conn: Duplex): void {
    this.pending.delete(conn);
    conn.destroy();
  }

  private tlsFailure(raw: net.Socket, why: string): void {
    this.server.log.error(`websocket: http: TLS handshake error from ${peerAddress(raw.remoteAddress)}:${raw.remotePort}: ${why}`);
    raw.destroy();
  }

  /**
   * The answer to a request whose method Node's parser refused (`get`, `FOO`), as Go's server
   * and nats-server's handler give it: a missing Host first, then the /mqtt path, then the
   * method. Undefined when the request line is not one Go would read either.
   */
  private refuseOddMethod(raw: Buffer, socket: Duplex): string | undefined {
    const text = raw.toString("latin1");
    const end = text.indexOf("\r\n\r\n");
    const lines = (end < 0 ? text : text.slice(0, end)).split("\r\n");
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? "");
    if (m === null) return undefined;
    const headers = rawHeaders(lines.slice(1));
    const head: RequestHead = { httpVersion: `1.${m[2]}`, connection: connectionTokens(headers.get("connection") ?? []) };
    if (head.httpVersion === "1.1" && headers.get("host") === undefined) return MISSING_HOST_RESPONSE;
    const mqtt = m[1]!.split("?")[0]!.endsWith("/mqtt");
    const error = mqtt ? new HandshakeError(404, "mqtt websocket endpoint not enabled") : new HandshakeError(405, "request method must be GET");
    const s = socket as net.Socket;
    this.server.log.error(`${peerAddress(s.remoteAddress)}:${s.remotePort} - websocket handshake error: ${error.message}`);
    return httpErrorResponse(error.status, head);
  }

  /** A request without `Connection: Upgrade`: always a bad handshake, answered like nats-server. */
  private onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (missingHost(req)) {
      res.socket?.end(MISSING_HOST_RESPONSE);
      return;
    }
    let error: HandshakeError;
    try {
      this.checkUpgrade(req);
      error = new HandshakeError(400, "websocket upgrade not supported");
    } catch (err) {
      error = err instanceof HandshakeError ? err : new HandshakeError(400, (err as Error).message);
    }
    this.logHandshakeError(req, error);
    // Written on the socket itself: Node's response object would answer HTTP/1.1 to HTTP/1.0.
    res.socket?.end(httpErrorResponse(error.status, headOf(req)));
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (missingHost(req)) {
      socket.end(MISSING_HOST_RESPONSE);
      return;
    }
    let up: Upgrade;
    try {
      up = this.checkUpgrade(req);
      if (head.length > 0) throw new HandshakeError(400, "client sent data before handshake is complete");
    } catch (err) {
      const e = err instanceof HandshakeError ? err : new HandshakeError(400, (err as Error).message);
      this.logHandshakeError(req, e);
      socket.end(httpErrorResponse(e.status, headOf(req)));
      return;
    }
    // Checked above as nats-server checks them (a token among others will do); the `ws`
    // library wants them alone.
    req.headers.upgrade = "websocket";
    req.headers["sec-websocket-version"] = "13";
    this.webSocketServer().handleUpgrade(req, socket, head, (ws) => this.onOpen(ws, socket, up));
  }

  private logHandshakeError(req: http.IncomingMessage, err: HandshakeError): void {
    const s = req.socket;
    this.server.log.error(`${peerAddress(s.remoteAddress)}:${s.remotePort} - websocket handshake error: ${err.message}`);
  }

  /** RFC 6455 section 4.2.1, in nats-server's order and with its messages. */
  private checkUpgrade(req: http.IncomingMessage): Upgrade {
    const path = (req.url ?? "/").split("?")[0];
    const kind = path.endsWith("/leafnode") ? "leafnode" : "client";
    if (path.endsWith("/mqtt")) throw new HandshakeError(404, "mqtt websocket endpoint not enabled");
    if (req.method !== "GET") throw new HandshakeError(405, "request method must be GET");
    if (!req.headers.host) throw new HandshakeError(400, "'Host' missing in request");
    if (!headerContains(req, "upgrade", "websocket")) throw new HandshakeError(400, "invalid value for header 'Upgrade'");
    if (!headerContains(req, "connection", "Upgrade")) throw new HandshakeError(400, "invalid value for header 'Connection'");
    const key = req.headersDistinct["sec-websocket-key"]?.[0] ?? "";
    if (key === "") throw new HandshakeError(400, "key missing");
    // 16 bytes in padded standard base64.
    if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) throw new HandshakeError(400, "invalid websocket key");
    if (!headerContains(req, "sec-websocket-version", "13")) throw new HandshakeError(400, "invalid version");
    const origin = req.headers.origin || (req.headersDistinct["sec-websocket-origin"]?.[0] ?? "");
    const originProblem = this.origins.problem(origin, req.headers.host ?? "", this.tls !== undefined);
    if (originProblem !== undefined) throw new HandshakeError(403, `origin not allowed: ${originProblem}`);
    if (this.tls?.verify && !this.verified.has(req.socket)) throw new HandshakeError(400, "client certificate not verified");
    const ua = req.headers["user-agent"] ?? "";
    const browser = ua.startsWith("Mozilla/");
    return {
      kind,
      browser,
      safari: browser && ua.includes("Version/") && ua.includes("Safari/"),
      cookies: kind === "client" ? this.cookieCredentials(req) : {},
    };
  }

  private cookieCredentials(req: http.IncomingMessage): CookieCredentials {
    const o = this.options;
    if (!o.jwtCookie && !o.userCookie && !o.passCookie && !o.tokenCookie) return {};
    const cookies = requestCookies(req);
    const creds: CookieCredentials = {};
    const take = (name: string | undefined): string | undefined => (name ? cookies.get(name) : undefined);
    creds.jwt = take(o.jwtCookie);
    creds.user = take(o.userCookie);
    creds.pass = take(o.passCookie);
    creds.authToken = take(o.tokenCookie);
    return creds;
  }

  private onOpen(ws: WebSocket, socket: Duplex, up: Upgrade): void {
    clearTimeout(this.pending.get(socket));
    this.pending.delete(socket);
    const compress = ws.extensions.includes("permessage-deflate");
    if (up.kind === "leafnode") {
      // A leaf node: accepted when this server accepts leaf nodes at all (a leafnodes listener),
      // as nats-server does. Its frames must be masked: the `ws` library requires it of
      // clients, so a leaf's Nats-No-Masking request is not granted.
      const leafs = this.server.services.find((svc) => svc.name === "leafnodes") as LeafNodes | undefined;
      if (leafs === undefined || leafs.options.port === 0) {
        this.server.log.error("Not configured to accept leaf node connections");
        ws.terminate();
        return;
      }
      leafs.acceptWebSocket(new WebSocketTransport(ws, socket, { compress, browser: false, noCompressedFragments: false }), compress);
      return;
    }
    const transport = new WebSocketTransport(ws, socket, { compress, browser: up.browser, noCompressedFragments: up.safari });
    const client = this.server.acceptWebSocket(transport, up.cookies);
    if (client !== undefined && this.tls !== undefined) this.tls.recordState(client, socket as TLSSocket);
  }

  /** INFO for a WebSocket client: the listener's host, port and TLS, as nats-server sends it. */
  adjustInfo(info: Record<string, unknown>): void {
    info.host = this.host;
    info.port = this.port;
    delete info.tls_required;
    delete info.tls_available;
    // A WebSocket client's connect_urls are the cluster's WebSocket URLs (gossiped over routes
    // as ws_connect_urls), never the NATS ports; none before a peer told its own.
    const urls = this.server.wsConnectUrls;
    if (urls !== undefined && urls.length > 0) info.connect_urls = urls;
    else delete info.connect_urls;
    if (this.tls !== undefined) {
      info.tls_required = true;
      info.tls_available = true;
    }
  }
}
