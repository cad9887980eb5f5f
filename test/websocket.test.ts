// The WebSocket listener with real clients: nats.ws (over the `ws` package in Node) and raw
// WebSocket/HTTP connections, beside TCP clients on the same server. Covers messaging across
// transports (headers too), one WebSocket message per flush, binary frames, per-message
// deflate, origins, bad handshakes (compared with nats-server 2.15 when it can be had), the
// handshake timeout, every authentication method and the listener's own authorization and
// cookies, wss with certificates made for the run, the ports file, /varz and /connz.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { WebSocket } from "ws";
import { connect as tcpConnect, credsAuthenticator as tcpCredsAuthenticator, headers as natsHeaders } from "@nats-io/transport-node";
import { createUser } from "@nats-io/nkeys";
import bcrypt from "bcryptjs";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { natsWs, wsConnect } from "./helpers/websocket.js";
import { freePort, referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { hasOpenssl, makePki, type Pki } from "./helpers/pki.js";
import { memoryResolverConfig, newAccount, newOperator, newUser, startFromConfigText } from "./helpers/jwt.js";
import type { EmbeddedOptions, WebSocketOptions } from "../src/index.js";
import { loadConfigFile, validateOptions } from "../src/config/load.js";
import { ConfigError } from "../src/config/conf_parser.js";

const PLAIN = { host: "127.0.0.1", port: -1, noTls: true };

async function withServer(opts: EmbeddedOptions, fn: (srv: TestServer) => Promise<void>): Promise<void> {
  const srv = await startTestServer(opts);
  try {
    await fn(srv);
  } finally {
    await srv.close();
  }
}

function wsUrl(srv: TestServer): string {
  const ws = srv.server.websocket;
  assert.ok(ws, "websocket listener running");
  return ws.url;
}

function wsPort(srv: TestServer): number {
  return srv.server.websocket?.port ?? 0;
}

/**
 * Send raw HTTP bytes and collect one answer: its head, and the body its Content-Length
 * announces (a 101 has none); or whatever came before the server closed.
 */
async function rawHttp(port: number, request: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(request));
    let out = "";
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, timeoutMs);
    s.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      const headEnd = out.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(out.slice(0, headEnd));
      if (length === null || out.length >= headEnd + 4 + Number(length[1])) done();
    });
    s.on("close", done);
    s.on("error", (e) => (out === "" ? reject(e) : done()));
  });
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function upgradeRequest(extra: string[] = [], opts: { method?: string; path?: string; key?: string; version?: string } = {}): string {
  const lines = [
    `${opts.method ?? "GET"} ${opts.path ?? "/"} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${opts.key ?? KEY}`,
    `Sec-WebSocket-Version: ${opts.version ?? "13"}`,
    ...extra,
  ];
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** A raw `ws` client: every message it receives (binary flag kept), its close code and reason. */
class RawWs {
  readonly messages: { data: Buffer; binary: boolean }[] = [];
  closeCode = 0;
  closeReason = "";
  closed = false;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, binary: boolean) => this.messages.push({ data, binary }));
    ws.on("close", (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.closed = true;
    });
    ws.on("error", () => undefined);
  }

  static open(url: string, opts: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<RawWs> {
    const ws = new WebSocket(url, opts);
    const raw = new RawWs(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(raw));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  text(): string {
    return Buffer.concat(this.messages.map((m) => m.data)).toString("latin1");
  }

  async waitFor(re: RegExp, timeoutMs = 5000): Promise<void> {
    await waitUntil(() => re.test(this.text()), timeoutMs, `ws text matching ${re}`);
  }
}

describe("WebSocket: messaging", () => {
  test("nats.ws and a TCP client exchange messages, requests and headers through one server", async () => {
    await withServer({ websocket: PLAIN }, async (srv) => {
      const wsc = await wsConnect(wsUrl(srv), { name: "ws-client" });
      const tcp = await tcpConnect({ servers: srv.url, reconnect: false });
      try {
        const { headers: wsHeaders } = await natsWs();
        // TCP -> WS with headers
        const wsSub = wsc.subscribe("to.ws", { max: 2 });
        const got: { data: string; hdr: string | undefined }[] = [];
        const wsDone = (async () => {
          for await (const m of wsSub) got.push({ data: new TextDecoder().decode(m.data), hdr: m.headers?.get("X-From") });
        })();
        await wsc.flush();
        const h = natsHeaders();
        h.set("X-From", "tcp");
        tcp.publish("to.ws", "plain");
        tcp.publish("to.ws", "with headers", { headers: h });
        await wsDone;
        assert.deepEqual(got, [
          { data: "plain", hdr: undefined },
          { data: "with headers", hdr: "tcp" },
        ]);
        // WS -> TCP with headers
        const tcpSub = tcp.subscribe("to.tcp", { max: 1 });
        await tcp.flush();
        const wh = wsHeaders();
        wh.set("X-From", "ws");
        wsc.publish("to.tcp", new TextEncoder().encode("hello tcp"), { headers: wh });
        for await (const m of tcpSub) {
          assert.equal(m.string(), "hello tcp");
          assert.equal(m.headers?.get("X-From"), "ws");
        }
        // Requests both ways.
        tcp.subscribe("svc.tcp", {
          callback: (_e, m) => {
            m.respond(`tcp:${m.string()}`);
          },
        });
        wsc.subscribe("svc.ws", {
          callback: (_e, m) => {
            m.respond(new TextEncoder().encode(`ws:${new TextDecoder().decode(m.data)}`));
          },
        });
        await tcp.flush();
        await wsc.flush();
        const r1 = await wsc.request("svc.tcp", new TextEncoder().encode("a"), { timeout: 2000 });
        assert.equal(new TextDecoder().decode(r1.data), "tcp:a");
        const r2 = await tcp.request("svc.ws", "b", { timeout: 2000 });
        assert.equal(r2.string(), "ws:b");
      } finally {
        await wsc.close();
        await tcp.close();
      }
    });
  });

  test("a WebSocket client gets binary messages, one per flush rather than one per NATS message", async () => {
    await withServer({ websocket: PLAIN }, async (srv) => {
      const raw = await RawWs.open(wsUrl(srv));
      try {
        await raw.waitFor(/^INFO /);
        assert.equal(raw.messages.length, 1);
        assert.ok(raw.messages[0].binary, "INFO in a binary message");
        raw.ws.send("CONNECT {\"verbose\":false}\r\nSUB burst 1\r\nPING\r\n");
        await raw.waitFor(/PONG\r\n$/);
        const before = raw.messages.length;
        // 200 messages in one TCP write: the server parses them in one turn and flushes once.
        const pub = net.connect(srv.port, "127.0.0.1");
        pub.on("error", () => undefined);
        await new Promise<void>((r) => pub.once("connect", () => r()));
        pub.write(`CONNECT {"verbose":false}\r\n${"PUB burst 2\r\nhi\r\n".repeat(200)}PING\r\n`);
        await waitUntil(() => (raw.text().match(/MSG burst 1 2\r\nhi\r\n/g) ?? []).length === 200, 5000, "200 MSG");
        pub.destroy();
        const used = raw.messages.length - before;
        assert.ok(used < 20, `200 NATS messages arrived in ${used} WebSocket messages`);
        assert.ok(raw.messages.every((m) => m.binary));
      } finally {
        raw.ws.terminate();
      }
    });
  });

  test("text frames from a client are read like binary ones", async () => {
    await withServer({ websocket: PLAIN }, async (srv) => {
      const raw = await RawWs.open(wsUrl(srv));
      try {
        raw.ws.send("CONNECT {}\r\nPING\r\n", { binary: false });
        await raw.waitFor(/\+OK\r\nPONG\r\n/);
      } finally {
        raw.ws.terminate();
      }
    });
  });

  test("per-message deflate: negotiated as nats-server answers it, used for large messages", async () => {
    await withServer({ websocket: { ...PLAIN, compression: true } }, async (srv) => {
      const answer = await rawHttp(wsPort(srv), upgradeRequest(["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]));
      assert.match(answer, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.match(answer, /\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n/);
      const plain = await rawHttp(wsPort(srv), upgradeRequest());
      assert.doesNotMatch(plain, /Sec-WebSocket-Extensions/);

      const nc = await wsConnect(wsUrl(srv), {}, { perMessageDeflate: true });
      const tcp = await tcpConnect({ servers: srv.url, reconnect: false });
      try {
        const big = "compress me ".repeat(20_000);
        const sub = nc.subscribe("big", { max: 1 });
        await nc.flush();
        tcp.publish("big", big);
        for await (const m of sub) assert.equal(new TextDecoder().decode(m.data), big);
        // And the other way: a compressed publish from the WebSocket client.
        const tsub = tcp.subscribe("back", { max: 1 });
        await tcp.flush();
        nc.publish("back", new TextEncoder().encode(big));
        for await (const m of tsub) assert.equal(m.string(), big);
        // On the wire the message is much smaller than its text.
        let sock: net.Socket | undefined;
        const raw = await RawWs.open(wsUrl(srv), {
          perMessageDeflate: true,
          createConnection: ((o: net.NetConnectOpts) => (sock = net.connect(o))) as typeof net.createConnection,
        });
        try {
          assert.match(raw.ws.extensions, /permessage-deflate/);
          raw.ws.send('CONNECT {"verbose":false}\r\nSUB big 1\r\nPING\r\n');
          await raw.waitFor(/PONG\r\n$/);
          tcp.publish("big", big);
          await raw.waitFor(/compress me \r\n$/);
          assert.ok(sock !== undefined && sock.bytesRead < big.length / 10, `${sock?.bytesRead} bytes on the wire for ${big.length}`);
        } finally {
          raw.ws.terminate();
        }
      } finally {
        await nc.close();
        await tcp.close();
      }
    });
    // Compression off: a client asking for it gets plain frames.
    await withServer({ websocket: PLAIN }, async (srv) => {
      const raw = await RawWs.open(wsUrl(srv), { perMessageDeflate: true });
      try {
        assert.equal(raw.ws.extensions, "");
      } finally {
        raw.ws.terminate();
      }
    });
  });

  test("extra response headers from `headers {}` are in the 101 answer", async () => {
    await withServer({ websocket: { ...PLAIN, headers: { "Strict-Transport-Security": "max-age=31536000", "X-Custom": "yes" } } }, async (srv) => {
      const answer = await rawHttp(wsPort(srv), upgradeRequest());
      assert.match(answer, /^HTTP\/1\.1 101 /);
      assert.match(answer, /\r\nStrict-Transport-Security: max-age=31536000\r\n/);
      assert.match(answer, /\r\nX-Custom: yes\r\n/);
      // A subprotocol asked for is not echoed (nats-server has none).
      const proto = await rawHttp(wsPort(srv), upgradeRequest(["Sec-WebSocket-Protocol: nats"]));
      assert.match(proto, /^HTTP\/1\.1 101 /);
      assert.doesNotMatch(proto, /Sec-WebSocket-Protocol/i);
    });
  });

  test("max_payload: a too large PUB over WebSocket gets nats-server's error and a close frame", async () => {
    await withServer({ websocket: PLAIN, maxPayload: 1024 }, async (srv) => {
      const raw = await RawWs.open(wsUrl(srv));
      raw.ws.send(`CONNECT {"verbose":false}\r\nPUB x 2000\r\n${"a".repeat(2000)}\r\n`);
      await raw.waitFor(/-ERR 'Maximum Payload Violation'\r\n/);
      await waitUntil(() => raw.closed, 5000, "close");
      assert.equal(raw.closeCode, 1009);
      assert.equal(raw.closeReason, "Maximum Message Payload Exceeded");
    });
  });

  test("ports file, /varz websocket block, /connz connection type and start-up log lines", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ws-ports-"));
    const log = new CapturedLog();
    try {
      await withServer(
        { websocket: { ...PLAIN, compression: true, handshakeTimeoutMs: 3000, allowedOrigins: ["http://example.com"] }, httpPort: -1, portsFileDir: dir, log },
        async (srv) => {
          const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ports"));
          assert.equal(files.length, 1);
          const ports = JSON.parse(fs.readFileSync(path.join(dir, files[0]), "utf8")) as Record<string, string[]>;
          assert.deepEqual(ports.websocket, [`ws://127.0.0.1:${wsPort(srv)}`]);
          assert.ok(log.has("INF", new RegExp(`^INF Listening for websocket clients on ws://127\\.0\\.0\\.1:${wsPort(srv)}$`)));
          assert.ok(log.has("WRN", /^WRN Websocket not configured with TLS\. DO NOT USE IN PRODUCTION!$/));
          const wsLine = log.lines.findIndex((l) => l.includes("Listening for websocket clients"));
          const natsLine = log.lines.findIndex((l) => l.includes("Listening for client connections"));
          assert.ok(wsLine >= 0 && wsLine < natsLine, "websocket listener is announced first, as nats-server does");

          const varz = (await (await fetch(`${srv.monitorUrl}/varz`)).json()) as { websocket: Record<string, unknown> };
          assert.deepEqual(varz.websocket, {
            host: "127.0.0.1",
            port: wsPort(srv),
            handshake_timeout: 3_000_000_000,
            no_tls: true,
            allowed_origins: ["http://example.com"],
            compression: true,
          });

          const nc = await wsConnect(wsUrl(srv), { name: "over-ws" });
          const tcp = await tcpConnect({ servers: srv.url, name: "over-tcp", reconnect: false });
          try {
            const connz = (await (await fetch(`${srv.monitorUrl}/connz`)).json()) as { connections: { name: string; type: string }[] };
            const types = Object.fromEntries(connz.connections.map((c) => [c.name, c.type]));
            assert.deepEqual(types, { "over-ws": "websocket", "over-tcp": "nats" });
          } finally {
            await nc.close();
            await tcp.close();
          }
        },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("WebSocket: handshake", () => {
  const badRequests: [string, string][] = [
    ["no upgrade headers", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
    ["POST", upgradeRequest([], { method: "POST" })],
    ["no key", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"],
    ["bad key", upgradeRequest([], { key: "c2hvcnQ=" })],
    ["version 12", upgradeRequest([], { version: "12" })],
    ["origin not allowed", upgradeRequest(["Origin: http://elsewhere.com"])],
    ["HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n"],
    ["mqtt path", upgradeRequest([], { path: "/mqtt" })],
  ];

  /** Status line, body and the Sec-Websocket-Version header of an answer. */
  function shape(answer: string): string {
    const status = answer.split("\r\n")[0];
    const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
    const version = /\r\nSec-Websocket-Version: ([^\r]*)/i.exec(answer)?.[1] ?? "-";
    return `${status} | ${JSON.stringify(body)} | version=${version}`;
  }

  test("bad upgrade requests get nats-server's HTTP errors and log lines", async (t) => {
    const log = new CapturedLog();
    const conf = { ...PLAIN, allowedOrigins: ["http://example.com"] };
    await withServer({ websocket: conf, log }, async (srv) => {
      const ours = new Map<string, string>();
      for (const [name, req] of badRequests) ours.set(name, shape(await rawHttp(wsPort(srv), req)));
      assert.equal(ours.get("no upgrade headers"), 'HTTP/1.1 400 Bad Request | "Bad Request\\n" | version=13');
      assert.equal(ours.get("POST"), 'HTTP/1.1 405 Method Not Allowed | "Method Not Allowed\\n" | version=13');
      assert.equal(ours.get("origin not allowed"), 'HTTP/1.1 403 Forbidden | "Forbidden\\n" | version=13');
      assert.equal(ours.get("mqtt path"), 'HTTP/1.1 404 Not Found | "Not Found\\n" | version=13');
      for (const text of [
        "invalid value for header 'Upgrade'",
        "request method must be GET",
        "key missing",
        "invalid websocket key",
        "invalid version",
        "origin not allowed: not in the allowed list",
        "'Host' missing in request",
        "mqtt websocket endpoint not enabled",
      ]) {
        assert.ok(log.has("ERR", new RegExp(`^ERR 127\\.0\\.0\\.1:\\d+ - websocket handshake error: ${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`)), text);
      }
      // The same requests against nats-server 2.15, when it can be had.
      if (referenceBinary("2.15") === undefined) {
        t.skip("nats-server 2.15 not available: compared with the recorded answers only");
        return;
      }
      const port = await freePort();
      const ref = await startNatsServer([], `websocket { listen: "127.0.0.1:${port}", no_tls: true, allowed_origins: ["http://example.com"] }`, "2.15", [port]);
      try {
        for (const [name, req] of badRequests) {
          assert.equal(ours.get(name), shape(await rawHttp(port, req)), name);
        }
      } finally {
        await ref.stop();
      }
    });
  });

  test("origins: same_origin and allowed_origins, a request without Origin is accepted", async () => {
    await withServer({ websocket: { ...PLAIN, sameOrigin: true } }, async (srv) => {
      const port = wsPort(srv);
      const host = `127.0.0.1:${port}`;
      const req = (origin: string | undefined): string =>
        upgradeRequest(origin === undefined ? [] : [`Origin: ${origin}`]).replace("Host: 127.0.0.1", `Host: ${host}`);
      assert.match(await rawHttp(port, req(`http://${host}`)), /^HTTP\/1\.1 101 /);
      assert.match(await rawHttp(port, req(undefined)), /^HTTP\/1\.1 101 /);
      assert.match(await rawHttp(port, req(`https://${host}`)), /^HTTP\/1\.1 403 /, "scheme differs");
      assert.match(await rawHttp(port, req("http://127.0.0.1:1")), /^HTTP\/1\.1 403 /, "port differs");
      assert.match(await rawHttp(port, req("http://other")), /^HTTP\/1\.1 403 /);
    });
    await withServer({ websocket: { ...PLAIN, allowedOrigins: ["https://app.example.com", "http://dev.example.com:8080"] } }, async (srv) => {
      const port = wsPort(srv);
      const withOrigin = (o: string): string => upgradeRequest([`Origin: ${o}`]);
      assert.match(await rawHttp(port, withOrigin("https://app.example.com")), /^HTTP\/1\.1 101 /);
      assert.match(await rawHttp(port, withOrigin("https://APP.example.com:443")), /^HTTP\/1\.1 101 /, "default port, host case");
      assert.match(await rawHttp(port, withOrigin("http://dev.example.com:8080")), /^HTTP\/1\.1 101 /);
      assert.match(await rawHttp(port, withOrigin("http://app.example.com")), /^HTTP\/1\.1 403 /, "scheme");
      assert.match(await rawHttp(port, withOrigin("http://dev.example.com")), /^HTTP\/1\.1 403 /, "port");
      assert.match(await rawHttp(port, withOrigin("null")), /^HTTP\/1\.1 403 /);
      // nats.ws with an allowed Origin works end to end.
      const nc = await wsConnect(wsUrl(srv), {}, { headers: { Origin: "https://app.example.com" } });
      await nc.flush();
      await nc.close();
      await assert.rejects(wsConnect(wsUrl(srv), {}, { headers: { Origin: "https://evil.example.com" } }));
    });
  });

  test("handshake_timeout closes a connection that does not upgrade in time; upgraded ones stay", async () => {
    await withServer({ websocket: { ...PLAIN, handshakeTimeoutMs: 300 } }, async (srv) => {
      const s = net.connect(wsPort(srv), "127.0.0.1");
      s.on("error", () => undefined);
      let closed = false;
      s.on("close", () => (closed = true));
      s.write("GET / HTTP/1.1\r\nHost: x\r\n"); // never finished
      await waitUntil(() => closed, 5000, "idle handshake closed");
      const nc = await wsConnect(wsUrl(srv));
      const started = Date.now();
      await waitUntil(() => Date.now() - started > 600, 2000);
      await nc.flush(); // still connected after twice the handshake timeout
      await nc.close();
    });
  });

  test("a /leafnode upgrade is refused after the upgrade (leaf nodes are not served)", async () => {
    const log = new CapturedLog();
    await withServer({ websocket: PLAIN, log }, async (srv) => {
      const raw = await RawWs.open(`${wsUrl(srv)}/leafnode`);
      await waitUntil(() => raw.closed, 5000, "closed");
      assert.ok(log.has("ERR", /Not configured to accept leaf node connections/));
    });
  });
});

/** Who the server says a connection logged in as: /connz-style user and account of the newest client. */
function lastLogin(srv: TestServer): { user: string | undefined; account: string; type: string } {
  const clients = [...srv.server.clients.values()];
  const c = clients[clients.length - 1];
  return { user: c.authorizedUser, account: c.account.name, type: c.connectionType };
}

describe("WebSocket: authentication", () => {
  test("users with passwords (plain and bcrypt): nats.ws logs in, a wrong password gets -ERR and close 1008", async () => {
    const hash = bcrypt.hashSync("s3cret", 4);
    await withServer({ websocket: PLAIN, users: [{ user: "alice", password: "pw" }, { user: "bob", password: hash }] }, async (srv) => {
      const a = await wsConnect(wsUrl(srv), { user: "alice", pass: "pw" });
      assert.deepEqual(lastLogin(srv), { user: "alice", account: "$G", type: "WEBSOCKET" });
      await a.close();
      const b = await wsConnect(wsUrl(srv), { user: "bob", pass: "s3cret" });
      await b.flush();
      await b.close();
      await assert.rejects(wsConnect(wsUrl(srv), { user: "alice", pass: "nope" }), /Authorization Violation/i);
      await assert.rejects(wsConnect(wsUrl(srv)), /Authorization Violation/i);

      const raw = await RawWs.open(wsUrl(srv));
      await raw.waitFor(/^INFO .*"auth_required":true/);
      raw.ws.send('CONNECT {"user":"alice","pass":"bad","verbose":false}\r\n');
      await raw.waitFor(/-ERR 'Authorization Violation'\r\n/);
      await waitUntil(() => raw.closed, 5000, "close");
      assert.equal(raw.closeCode, 1008);
      assert.equal(raw.closeReason, "Authentication Failure");
    });
  });

  test("token, nkey and no_auth_user work over WebSocket as over TCP", async () => {
    await withServer({ websocket: PLAIN, authorization: "tok" }, async (srv) => {
      const nc = await wsConnect(wsUrl(srv), { token: "tok" });
      await nc.flush();
      await nc.close();
      await assert.rejects(wsConnect(wsUrl(srv), { token: "other" }), /Authorization Violation/i);
    });
    const kp = createUser();
    const seed = kp.getSeed();
    await withServer({ websocket: PLAIN, users: [{ nkey: kp.getPublicKey() }, { user: "guest", password: "g" }], noAuthUser: "guest" }, async (srv) => {
      const { nkeyAuthenticator } = await natsWs();
      const nc = await wsConnect(wsUrl(srv), { authenticator: nkeyAuthenticator(seed) });
      assert.deepEqual(lastLogin(srv), { user: kp.getPublicKey(), account: "$G", type: "WEBSOCKET" });
      await nc.close();
      await assert.rejects(wsConnect(wsUrl(srv), { authenticator: nkeyAuthenticator(createUser().getSeed()) }), /Authorization Violation/i);
      const anon = await wsConnect(wsUrl(srv));
      assert.deepEqual(lastLogin(srv), { user: "guest", account: "$G", type: "WEBSOCKET" });
      await anon.close();
    });
  });

  test("websocket { authorization {} } replaces the server's single user/token for WebSocket clients only", async () => {
    await withServer({ websocket: { ...PLAIN, username: "wsu", password: "wsp" } }, async (srv) => {
      // TCP clients need nothing: the server itself has no authorization.
      const tcp = await tcpConnect({ servers: srv.url, reconnect: false });
      assert.equal(tcp.info?.auth_required, undefined);
      await tcp.close();
      const raw = await RawWs.open(wsUrl(srv));
      await raw.waitFor(/^INFO .*"auth_required":true/);
      raw.ws.terminate();
      await assert.rejects(wsConnect(wsUrl(srv)), /Authorization Violation/i);
      const nc = await wsConnect(wsUrl(srv), { user: "wsu", pass: "wsp" });
      await nc.flush();
      await nc.close();
    });
    await withServer({ websocket: { ...PLAIN, token: "wstok" }, authorization: "tcptok" }, async (srv) => {
      await assert.rejects(wsConnect(wsUrl(srv), { token: "tcptok" }), /Authorization Violation/i);
      const nc = await wsConnect(wsUrl(srv), { token: "wstok" });
      await nc.close();
      const tcp = await tcpConnect({ servers: srv.url, token: "tcptok", reconnect: false });
      await tcp.close();
      await assert.rejects(tcpConnect({ servers: srv.url, token: "wstok", reconnect: false }));
    });
    // The listener's own no_auth_user: WebSocket clients without credentials become that user.
    const users = [
      { user: "web", password: "w", account: "WEB" },
      { user: "app", password: "a", account: "APP" },
    ];
    await withServer({ websocket: { ...PLAIN, noAuthUser: "web" }, accounts: [{ name: "WEB", users: [] }, { name: "APP", users: [] }], users, noAuthUser: "app" }, async (srv) => {
      const nc = await wsConnect(wsUrl(srv));
      assert.deepEqual(lastLogin(srv), { user: "web", account: "WEB", type: "WEBSOCKET" });
      await nc.close();
      const tcp = await tcpConnect({ servers: srv.url, reconnect: false });
      assert.deepEqual(lastLogin(srv), { user: "app", account: "APP", type: "STANDARD" });
      await tcp.close();
    });
  });

  test("credentials from the upgrade request's cookies fill what the CONNECT leaves empty", async () => {
    const ws = { ...PLAIN, userCookie: "nu", passCookie: "np", tokenCookie: "nt" };
    await withServer({ websocket: ws, users: [{ user: "alice", password: "pw" }] }, async (srv) => {
      const nc = await wsConnect(wsUrl(srv), {}, { headers: { Cookie: "other=1; nu=alice; np=pw" } });
      assert.deepEqual(lastLogin(srv), { user: "alice", account: "$G", type: "WEBSOCKET" });
      await nc.close();
      // What the CONNECT names wins over the cookie.
      await assert.rejects(wsConnect(wsUrl(srv), { user: "alice", pass: "wrong" }, { headers: { Cookie: "nu=alice; np=pw" } }), /Authorization Violation/i);
      await assert.rejects(wsConnect(wsUrl(srv), {}, { headers: { Cookie: "nu=alice; np=bad" } }), /Authorization Violation/i);
    });
    await withServer({ websocket: ws, authorization: "secret" }, async (srv) => {
      const nc = await wsConnect(wsUrl(srv), {}, { headers: { Cookie: 'nt="secret"' } });
      await nc.flush();
      await nc.close();
    });
  });

  test("the listener's authorization timeout closes a silent WebSocket client with close 1008", async () => {
    await withServer({ websocket: { ...PLAIN, username: "u", password: "p", authTimeoutMs: 300 } }, async (srv) => {
      const raw = await RawWs.open(wsUrl(srv));
      await waitUntil(() => raw.closed, 5000, "closed after the auth timeout");
      assert.match(raw.text(), /-ERR 'Authentication Timeout'\r\n$/);
      assert.equal(raw.closeCode, 1008);
      assert.equal(raw.closeReason, "Authentication Timeout");
    });
  });

  test("server shutdown closes WebSocket clients with 1001", async () => {
    const srv = await startTestServer({ websocket: PLAIN });
    const raw = await RawWs.open(wsUrl(srv));
    raw.ws.send("CONNECT {}\r\n");
    await raw.waitFor(/\+OK/);
    await srv.close();
    await waitUntil(() => raw.closed, 5000, "closed");
    assert.equal(raw.closeCode, 1001);
    assert.equal(raw.closeReason, "Server Shutdown");
  });
});

describe("WebSocket over TLS (wss)", { skip: hasOpenssl ? false : "openssl is not installed" }, () => {
  let pki: Pki;
  before(() => {
    pki = makePki();
  });
  after(() => {
    if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  test("wss with user/password, token and nkey; INFO, ports file, /varz and /connz show TLS", async () => {
    const kp = createUser();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-wss-ports-"));
    const log = new CapturedLog();
    const wss = { host: "127.0.0.1", port: -1, tls: { cert: pki.server.cert, key: pki.server.key } };
    try {
      await withServer(
        { websocket: wss, users: [{ user: "alice", password: "pw" }, { nkey: kp.getPublicKey() }], httpPort: -1, portsFileDir: dir, log },
        async (srv) => {
          const url = wsUrl(srv);
          assert.match(url, /^wss:\/\/127\.0\.0\.1:\d+$/);
          const ports = JSON.parse(fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]), "utf8")) as Record<string, string[]>;
          assert.deepEqual(ports.websocket, [url]);
          assert.ok(log.has("INF", new RegExp(`Listening for websocket clients on wss://127\\.0\\.0\\.1:${wsPort(srv)}$`)));
          assert.ok(!log.has("WRN", /DO NOT USE IN PRODUCTION/));
          const tlsOpts = { ca: fs.readFileSync(pki.ca) };
          const { nkeyAuthenticator } = await natsWs();
          const a = await wsConnect(url, { user: "alice", pass: "pw", name: "wss-user" }, tlsOpts);
          assert.equal(a.info?.tls_required, true);
          assert.equal(a.info?.port, wsPort(srv));
          const n = await wsConnect(url, { authenticator: nkeyAuthenticator(kp.getSeed()) }, tlsOpts);
          await n.flush();
          await assert.rejects(wsConnect(url, { user: "alice", pass: "x" }, tlsOpts), /Authorization Violation/i);
          // A server certificate from an unknown CA is refused by the client.
          await assert.rejects(wsConnect(url, { user: "alice", pass: "pw" }, { ca: fs.readFileSync(pki.otherCa) }));

          const connz = (await (await fetch(`${srv.monitorUrl}/connz`)).json()) as { connections: Record<string, unknown>[] };
          const row = connz.connections.find((c) => c.name === "wss-user");
          assert.equal(row?.type, "websocket");
          assert.match(String(row?.tls_version), /^1\.[23]$/);
          assert.ok(row?.tls_cipher_suite);
          const varz = (await (await fetch(`${srv.monitorUrl}/varz`)).json()) as { websocket: Record<string, unknown> };
          assert.equal(varz.websocket.port, wsPort(srv));
          assert.equal(varz.websocket.no_tls, undefined);
          assert.match(String(varz.websocket.tls_cert_not_after), /^\d{4}-\d\d-\d\dT/);
          await a.close();
          await n.close();
        },
      );
      await withServer({ websocket: wss, authorization: "tok" }, async (srv) => {
        const nc = await wsConnect(wsUrl(srv), { token: "tok" }, { ca: fs.readFileSync(pki.ca) });
        await nc.flush();
        await nc.close();
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("wss with verify: a client certificate of the trusted CA is required; another CA's is refused", async () => {
    const log = new CapturedLog();
    const tlsConf = { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true };
    await withServer({ websocket: { host: "127.0.0.1", port: -1, tls: tlsConf }, log }, async (srv) => {
      const ca = fs.readFileSync(pki.ca);
      const good = { ca, cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key) };
      const nc = await wsConnect(wsUrl(srv), {}, good);
      await nc.flush();
      await nc.close();
      await assert.rejects(wsConnect(wsUrl(srv), {}, { ca }), "no client certificate");
      const foreign = { ca, cert: fs.readFileSync(pki.otherClient.cert), key: fs.readFileSync(pki.otherClient.key) };
      await assert.rejects(wsConnect(wsUrl(srv), {}, foreign), "client certificate of another CA");
      await waitUntil(() => log.has("ERR", /^ERR websocket: http: TLS handshake error from 127\.0\.0\.1:\d+: /), 5000, "handshake error logged");
      assert.equal(srv.server.clients.size, 0);
    });
  });

  test("a plain WebSocket client cannot talk to a wss listener", async () => {
    await withServer({ websocket: { host: "127.0.0.1", port: -1, tls: { cert: pki.server.cert, key: pki.server.key } } }, async (srv) => {
      await assert.rejects(wsConnect(`ws://127.0.0.1:${wsPort(srv)}`));
      assert.equal(srv.server.clients.size, 0);
    });
  });
});

describe("WebSocket: configuration", () => {
  const refused: [string, string][] = [
    ["websocket { port: 8080 }", "websocket requires TLS configuration"],
    ["websocket { port: -1, no_tls: true, authorization { users: [] } }", 'unknown field "users"'],
    ['websocket { port: -1, no_tls: true, allowed_origins: ["ftp://x"] }', 'unable to parse allowed origin "ftp://x": allowed origins must be absolute URLs with http or https scheme'],
    ['websocket { port: -1, no_tls: true, allowed_origins: "nope" }', 'unable to parse allowed origin: parse "nope": invalid URI for request'],
    ["websocket { port: -1, no_tls: true, headers { Connection: x } }", 'websocket: invalid header "Connection" not allowed'],
    ['websocket { port: -1, no_tls: true, headers { "Sec-WebSocket-Foo": x } }', 'websocket: invalid header "Sec-WebSocket-Foo", "Sec-WebSocket-" prefix not allowed'],
    ["websocket { port: -1, no_tls: true, jwt_cookie: jc }", 'trusted operators or trusted keys configuration is required for JWT authentication via cookie "jc"'],
    [
      "authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, authorization { user: x, password: y } }",
      "websocket authentication username not compatible with presence of users/nkeys",
    ],
    ["websocket { port: -1, no_tls: true, no_auth_user: z }", 'no_auth_user: "z" present, but users/nkeys are not defined'],
    ["websocket { port: -1, no_tls: true, handshake_timeout: true }", "error parsing handshake timeout: unsupported type bool"],
    ["websocket { port: -1, no_tls: true, bogus: 1 }", 'unknown field "bogus"'],
    ["websocket { port: -1, no_tls: true, username_cookie: x }", 'unknown field "username_cookie"'],
  ];

  /** The start-up error of a config file: ours (load + validate), without the file:line:col prefix. */
  function ourError(file: string): string {
    try {
      validateOptions(loadConfigFile(file));
    } catch (err) {
      return err instanceof ConfigError ? err.reason : (err as Error).message;
    }
    return "(accepted)";
  }

  test("invalid blocks stop start-up with nats-server's messages", async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ws-conf-"));
    const ref = referenceBinary("2.15");
    try {
      refused.forEach(([text, expected], i) => {
        const file = path.join(dir, `c${i}.conf`);
        fs.writeFileSync(file, `${text}\n`);
        assert.equal(ourError(file), expected, text);
        if (ref !== undefined) {
          const r = spawnSync(ref, ["-c", file, "-a", "127.0.0.1", "-p", "-1"], { encoding: "utf8", timeout: 10_000 });
          const last = r.stderr.trim().split("\n").pop() ?? "";
          assert.ok(last.endsWith(expected), `nats-server 2.15 says ${JSON.stringify(last)} for ${text}`);
        }
      });
      if (ref === undefined) t.diagnostic("nats-server 2.15 not available: compared with the recorded messages only");
      // A block without a port is off, and not checked (as nats-server).
      const off = path.join(dir, "off.conf");
      fs.writeFileSync(off, "websocket { host: 127.0.0.1 }\n");
      assert.equal(ourError(off), "(accepted)");
      // nats-server's key aliases.
      const aliases = path.join(dir, "aliases.conf");
      fs.writeFileSync(
        aliases,
        'ws { listen: "127.0.0.1:-1", no_tls: true, compress: true, origins: "http://a.com", handshake_timeout: 2, ' +
          'authentication { username: u, pass: p, timeout: 1.5 }, user_cookie: uc, pass_cookie: pc, token_cookie: tc, ping_interval: "30s", ' +
          'same_origin: true, advertise: "ws.example.com:443", headers { "X-A": b } }\n',
      );
      const o = loadConfigFile(aliases);
      validateOptions(o);
      assert.deepEqual(o.websocket, {
        host: "127.0.0.1",
        port: -1,
        noTls: true,
        sameOrigin: true,
        allowedOrigins: ["http://a.com"],
        compression: true,
        handshakeTimeoutMs: 2000,
        headers: { "X-A": "b" },
        username: "u",
        password: "p",
        authTimeoutMs: 1500,
        userCookie: "uc",
        passCookie: "pc",
        tokenCookie: "tc",
        pingIntervalMs: 30_000,
        advertise: "ws.example.com:443",
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a reload that changes the websocket block is refused; the rest of the server is unchanged", async () => {
    await withServer({ websocket: PLAIN }, async (srv) => {
      const o = srv.server.options;
      assert.throws(() => srv.server.reload({ ...o, websocket: { ...(o.websocket as WebSocketOptions), compression: true } }), {
        message: "config reload not supported for websocket",
      });
      assert.throws(() => srv.server.reload({ ...o, websocket: undefined }), { message: "config reload not supported for websocket" });
      // The same block (and a random port, as written in the file) reloads fine.
      srv.server.reload({ ...o, maxPayload: 2048, websocket: { ...(o.websocket as WebSocketOptions), port: -1 } });
      assert.equal(srv.server.options.maxPayload, 2048);
      const nc = await wsConnect(wsUrl(srv));
      await nc.flush();
      await nc.close();
    });
  });
});

describe("WebSocket: connection types and operator (JWT) mode", () => {
  test("allowed_connection_types: a WEBSOCKET user logs in over WebSocket only, a STANDARD user over TCP only", async () => {
    const users = [
      { user: "web", password: "pw", allowedConnectionTypes: ["WEBSOCKET"] },
      { user: "tcp", password: "pw", allowedConnectionTypes: ["STANDARD"] },
      { user: "any", password: "pw" },
    ];
    await withServer({ websocket: PLAIN, users }, async (srv) => {
      const w = await wsConnect(wsUrl(srv), { user: "web", pass: "pw" });
      await w.close();
      await assert.rejects(tcpConnect({ servers: srv.url, user: "web", pass: "pw", reconnect: false }), /Authorization Violation/i);
      await assert.rejects(wsConnect(wsUrl(srv), { user: "tcp", pass: "pw" }), /Authorization Violation/i);
      const t = await tcpConnect({ servers: srv.url, user: "tcp", pass: "pw", reconnect: false });
      await t.close();
      const a = await wsConnect(wsUrl(srv), { user: "any", pass: "pw" });
      await a.close();
    });
  });

  test(".creds over WebSocket, a bearer JWT from jwt_cookie, and a user restricted to STANDARD refused", async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "A");
    const alice = await newUser(acc, "alice");
    const bearer = await newUser(acc, "browser", { bearer_token: true });
    const tcpOnly = await newUser(acc, "tcponly", { allowed_connection_types: ["STANDARD"] });
    const text = memoryResolverConfig(op, [acc], 'websocket { listen: "127.0.0.1:-1", no_tls: true, jwt_cookie: "natsjwt" }\n');
    const srv = await startFromConfigText(text);
    try {
      const { credsAuthenticator } = await natsWs();
      const nc = await wsConnect(wsUrl(srv), { authenticator: credsAuthenticator(alice.creds) });
      assert.deepEqual(lastLogin(srv), { user: alice.pub, account: acc.pub, type: "WEBSOCKET" });
      // Messages flow within the account, WebSocket to TCP.
      const tcp = await tcpConnect({ servers: srv.url, authenticator: tcpCredsAuthenticator(alice.creds), reconnect: false });
      const sub = tcp.subscribe("jwt.hello", { max: 1 });
      await tcp.flush();
      nc.publish("jwt.hello", new TextEncoder().encode("from ws"));
      for await (const m of sub) assert.equal(m.string(), "from ws");
      await tcp.close();
      await nc.close();
      // A bearer JWT in the cookie needs no signature and nothing in the CONNECT.
      const b = await wsConnect(wsUrl(srv), {}, { headers: { Cookie: `natsjwt=${bearer.jwt}` } });
      assert.deepEqual(lastLogin(srv), { user: bearer.pub, account: acc.pub, type: "WEBSOCKET" });
      await b.close();
      // A non-bearer JWT in the cookie still needs the nonce signature: refused without it.
      await assert.rejects(wsConnect(wsUrl(srv), {}, { headers: { Cookie: `natsjwt=${alice.jwt}` } }), /Authorization Violation/i);
      await assert.rejects(wsConnect(wsUrl(srv), { authenticator: credsAuthenticator(tcpOnly.creds) }), /Authorization Violation/i);
    } finally {
      await srv.close();
    }
  });
});
