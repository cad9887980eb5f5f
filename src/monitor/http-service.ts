// The monitoring HTTP(S) listener (`-m`/`http:` and `-ms`/`https:`): routes each path to
// its endpoint, counts requests per path, answers JSON (any origin may read it; no JSONP: 2.15
// dropped `callback=`), and
// plain-text 400s for bad options, as nats-server does. Ports are fixed at start (as in
// nats-server), so there is nothing to reload; the endpoints read live options. HTTPS uses the
// server's TLS context (src/server/tls.ts), so reloaded certificates apply here too.
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import type { Server, ServerService } from "../server/server.js";
import { monitorOf, type Monitor } from "./monitor.js";
import {
  OptionError,
  accountzOptions,
  accstatzOptions,
  checkHealthzOptions,
  connzOptions,
  jszOptions,
  queryOptions,
  routezOptions,
  leafzOptions,
  gatewayzOptions,
  subszOptions,
  type OptionReader,
} from "./endpoint-options.js";
import { buildVarz } from "./varz.js";
import { buildConnz } from "./connz.js";
import { buildSubsz } from "./subsz.js";
import { buildAccountz, buildAccstatz } from "./accountz.js";
import { buildJsz } from "./jsz.js";
import { checkHealthz } from "./healthz.js";
import { buildGatewayz, buildLeafz, buildRoutez } from "./topology.js";
import { buildMetrics } from "./metrics.js";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.js";
import { indexPage } from "./index-page.js";
import { buildExpvar, buildIpqueuesz, buildStacksz } from "./debugz.js";
import { buildRaftz } from "./raftz.js";
import { cleanRequestPath, goQuery, normalizeBasePath, redirectLocation, splitTarget, underBase } from "./http_path.js";
import { bindHost, goListenError, invalidListenPort, StartError } from "../server/bind_address.js";
import { hostPort, portsFileUrls } from "../cluster/urls.js";

interface Reply {
  status: number;
  type: string;
  body: string;
  location?: string;
  /** Access-Control-Allow-Origin: * (nats-server sends it with every JSON answer). */
  cors?: boolean;
  /** X-Content-Type-Options: nosniff (Go's 404). */
  nosniff?: boolean;
}

const TEXT = "text/plain; charset=utf-8";
/** Debugging endpoints nats-server leaves out of /varz http_req_stats. */
const UNCOUNTED = new Set(["/stacksz", "/ipqueuesz", "/raftz", "/debug/vars"]);
const NOT_FOUND: Reply = { status: 404, type: TEXT, body: "404 page not found\n", nosniff: true };

type Endpoint = (m: Monitor, opts: OptionReader, q: URLSearchParams) => Reply;

/** JSON, pretty-printed unless `indent` is 0, readable from any origin (nats-server's CORS header). */
function json(obj: unknown, status = 200, indent = 2): Reply {
  return { status, type: "application/json", body: JSON.stringify(obj, null, indent), cors: true };
}

const ENDPOINTS: Record<string, Endpoint> = {
  "/varz": (m) => json(buildVarz(m)),
  "/connz": (m, o) => json(buildConnz(m, connzOptions(o))),
  "/routez": (m, o) => json(buildRoutez(m, routezOptions(o))),
  "/gatewayz": (m, o) => json(buildGatewayz(m, gatewayzOptions(o))),
  "/leafz": (m, o) => json(buildLeafz(m, leafzOptions(o))),
  "/subsz": (m, o) => json(buildSubsz(m, subszOptions(o))),
  "/subscriptionsz": (m, o) => json(buildSubsz(m, subszOptions(o))),
  "/accountz": (m, o) => json(buildAccountz(m, accountzOptions(o))),
  "/accstatz": (m, o) => json(buildAccstatz(m, accstatzOptions(o))),
  "/jsz": (m, o) => json(buildJsz(m, jszOptions(o))),
  "/healthz": (m, o) => {
    const h = checkHealthz(m, checkHealthzOptions(o));
    // The 2.9 body is compact JSON.
    return json(h.body, h.code, 0);
  },
  "/metrics": (m) => ({ status: 200, type: PROMETHEUS_CONTENT_TYPE, body: buildMetrics(m) }),
  "/stacksz": (m) => ({ status: 200, type: TEXT, body: buildStacksz(m) }),
  "/ipqueuesz": (m, o) => json(buildIpqueuesz(m, o.bool("all"), o.str("queues")), 200, 3),
  "/raftz": (m, _o, q) => {
    const r = buildRaftz(m, { account: q.get("acc") ?? "", group: q.get("group") ?? "" });
    return r !== undefined ? json(r, 200, 3) : { status: 404, type: TEXT, body: "No Raft nodes registered" };
  },
  "/debug/vars": () => ({ status: 200, type: "application/json; charset=utf-8", body: buildExpvar() }),
};

export class MonitorHttpService implements ServerService {
  readonly name = "monitoring";
  private readonly monitor: Monitor;
  private readonly listeners: net.Server[] = [];
  /** Open HTTPS connections: the plain TCP listener wraps them, so http.Server does not track them. */
  private readonly httpsSockets = new Set<net.Socket>();

  constructor(private readonly server: Server) {
    this.monitor = monitorOf(server);
  }

  async start(): Promise<void> {
    const o = this.server.options;
    const urls: string[] = [];
    if (o.httpPort !== 0) {
      const srv = http.createServer((req, res) => this.handle(req, res));
      const port = await this.listen(srv, o.httpHost, o.httpPort);
      this.monitor.httpPort = port;
      urls.push(...portsFileUrls("http", o.httpHost, port));
      this.server.log.info(`Starting http monitor on ${hostPort(o.httpHost, port)}`);
    }
    if (o.httpsPort !== 0) {
      // Built by Server.startServer before services start.
      const started = this.server.tls;
      if (started === undefined) {
        throw new Error("Can't start HTTPS monitoring: TLS is not configured (https requires tls cert and key)");
      }
      // https.Server would build its own context from files; wrapping each accepted socket
      // instead shares the server's context and follows it across reloads.
      const handler = http.createServer((req, res) => this.handle(req, res));
      const srv = net.createServer((socket) => {
        socket.on("error", () => undefined);
        // The current context; the last one if TLS was removed on reload (the port stays open).
        const current = this.server.tls ?? started;
        const secure = current.wrapMonitor(socket);
        // Handshake failures and early disconnects end here rather than as unhandled errors.
        secure.on("error", () => secure.destroy());
        this.httpsSockets.add(secure);
        secure.on("close", () => this.httpsSockets.delete(secure));
        handler.emit("connection", secure);
      });
      const port = await this.listen(srv, o.httpHost, o.httpsPort);
      this.monitor.httpsPort = port;
      urls.push(...portsFileUrls("https", o.httpHost, port));
      this.server.log.info(`Starting https monitor on ${hostPort(o.httpHost, port)}`);
    }
    // Written into the ports file, which the server writes after services have started.
    if (urls.length > 0) this.server.portsFileExtras.monitoring = urls;
  }

  private listen(srv: net.Server, host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      // nats-server's words, in the fatal line as they are.
      const refused = (why: string): StartError => new StartError(`Can't start monitoring: can't listen to the monitor port: ${why}`);
      const invalid = invalidListenPort(port);
      if (invalid !== undefined) return reject(refused(invalid));
      srv.once("error", (err: NodeJS.ErrnoException) => reject(refused(goListenError(host, port === -1 ? 0 : port, err))));
      srv.listen({ host: bindHost(host), port: port === -1 ? 0 : port }, () => {
        srv.removeAllListeners("error");
        srv.on("error", (err) => this.server.log.error(`Monitoring listener error: ${err.message}`));
        this.listeners.push(srv);
        resolve((srv.address() as AddressInfo).port);
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let reply: Reply;
    const target = splitTarget(req.url ?? "/");
    if (target === undefined) {
      // Go's server refuses a request target it cannot parse before any handler runs.
      res.writeHead(400, { "Content-Type": TEXT, Connection: "close" });
      res.end("400 Bad Request");
      return;
    }
    try {
      reply = this.route(target.path, target.query);
    } catch (err) {
      if (err instanceof OptionError) reply = { status: 400, type: TEXT, body: err.message };
      else {
        this.server.log.error(`Monitoring request ${req.url ?? ""} failed: ${(err as Error).stack ?? String(err)}`);
        reply = { status: 500, type: TEXT, body: (err as Error).message };
      }
    }
    const headers: Record<string, string | number> = { "Content-Type": reply.type, "Content-Length": Buffer.byteLength(reply.body) };
    if (reply.location !== undefined) headers.Location = reply.location;
    if (reply.cors === true) headers["Access-Control-Allow-Origin"] = "*";
    if (reply.nosniff === true) headers["X-Content-Type-Options"] = "nosniff";
    res.writeHead(reply.status, headers);
    res.end(req.method === "HEAD" ? undefined : reply.body);
  }

  private route(path: string, rawQuery: string): Reply {
    const clean = cleanRequestPath(path);
    if (clean !== path) {
      const location = redirectLocation(clean, rawQuery);
      return { status: 301, type: "text/html; charset=utf-8", body: `<a href="${location.replace(/&/g, "&amp;").replace(/"/g, "&#34;")}">Moved Permanently</a>.\n\n`, location };
    }
    const base = normalizeBasePath(this.server.options.httpBasePath);
    if (path === base) {
      this.monitor.countHttpRequest("/");
      return { status: 200, type: "text/html; charset=utf-8", body: indexPage(String(this.server.info().version)) };
    }
    const prefix = base === "/" ? "" : base;
    if (!path.startsWith(prefix + "/")) return NOT_FOUND;
    const key = path.slice(prefix.length);
    const endpoint = ENDPOINTS[key];
    if (endpoint === undefined || underBase(base, key) !== path) return NOT_FOUND;
    if (!UNCOUNTED.has(key)) this.monitor.countHttpRequest(key === "/subscriptionsz" ? "/subsz" : key);
    const q = goQuery(rawQuery);
    return endpoint(this.monitor, queryOptions(q), q);
  }

  async shutdown(): Promise<void> {
    const all = this.listeners.splice(0);
    for (const s of this.httpsSockets) s.destroy();
    this.httpsSockets.clear();
    await Promise.all(
      all.map(
        (srv) =>
          new Promise<void>((resolve) => {
            srv.close(() => resolve());
            if (srv instanceof http.Server) srv.closeAllConnections();
          }),
      ),
    );
  }
}

