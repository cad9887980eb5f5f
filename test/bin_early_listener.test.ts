// tsnats-server binds the client port given by flags or its config file before loading the server
// (src/server/early_listener.ts): client test suites (nats.c's: a 500 ms sleep, or 11 connect
// attempts 200 ms apart) connect sooner than Node loads the server on a busy machine. A client
// that connects meanwhile waits for INFO and is then served as any other.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { declaresCluster, earlyListenAddress, earlyWebsocketAddress } from "../src/server/early_listener.js";
import { waitUntil } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";
import { hasOpenssl, makePki } from "./helpers/pki.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, "../src/bin/tsnats-server.js");
const ADOPTED = /Serving the client listener opened at start-up \((\d+) connection\(s\) waiting\)/;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function spawnServer(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, output: () => out, exited };
}

/** A raw client that connects as soon as the port accepts (polled), and waits long for INFO. */
async function connectWhenAccepting(port: number, child: ChildProcess): Promise<RawConn> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      return await RawConn.connect(port, { timeoutMs: 60_000 });
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("the command line's client address is read from -p/-a over a config file's, as Go's flag package spells them", () => {
  assert.deepEqual(earlyListenAddress([]), { host: "0.0.0.0", port: 4222 });
  assert.deepEqual(earlyListenAddress(["-p", "22222"]), { host: "0.0.0.0", port: 22222 });
  assert.deepEqual(earlyListenAddress(["--port=1222", "--user", "ivan", "--pass", "foo"]), { host: "0.0.0.0", port: 1222 });
  assert.deepEqual(earlyListenAddress(["-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/tmp/x"]), { host: "127.0.0.1", port: 4222 });
  assert.deepEqual(earlyListenAddress(["-addr=::", "-port", "4223", "-DV"]), { host: "::", port: 4223 });
  assert.deepEqual(earlyListenAddress(["-net", "localhost", "-p", "1", "-p", "2"]), { host: "localhost", port: 2 });
  // A cluster's first server (no routes to solicit) listens early; the ones with -routes do not (below).
  assert.deepEqual(earlyListenAddress(["-a", "127.0.0.1", "-p", "4222", "-cluster", "nats://127.0.0.1:5222", "-cluster_name", "abc"]), { host: "127.0.0.1", port: 4222 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-early-"));
  const conf = (name: string, text: string): string => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  try {
    const tlsConf = conf("tls.conf", 'port: 4443\nnet: "0.0.0.0"\ntls {\n  cert_file: "c.pem"\n  key_file: "k.pem"\n}\n');
    assert.deepEqual(earlyListenAddress(["-config", tlsConf]), { host: "0.0.0.0", port: 4443 });
    assert.deepEqual(earlyListenAddress(["-c", tlsConf, "-p", "4444", "-a", "127.0.0.1"]), { host: "127.0.0.1", port: 4444 });
    assert.deepEqual(earlyListenAddress(["-c", conf("l.conf", "LISTEN: 127.0.0.1:5555\n")]), { host: "127.0.0.1", port: 5555 });
    assert.deepEqual(earlyListenAddress(["--config=" + conf("n.conf", "debug: true\n")]), { host: "0.0.0.0", port: 4222 });
    // Not early: a random port, TLS handshake first, a config that does not parse or is missing.
    for (const file of [conf("r.conf", "port: -1\n"), conf("f.conf", "port: 4443\ntls { handshake_first: true }\n"), conf("b.conf", "port: {\n"), conf("c.conf", "port: 4222\ncluster { port: 6222, routes: [nats://127.0.0.1:6223] }\n"), path.join(dir, "none.conf")]) {
      assert.equal(earlyListenAddress(["-c", file]), undefined, fs.existsSync(file) ? fs.readFileSync(file, "utf8") : file);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A random port, TLS flags, or no server run at all: not early.
  for (const argv of [
    ["-p", "-1"],
    ["-p", "0"],
    ["-p"],
    ["-p", "x"],
    ["-c"],
    ["--tls", "--tlscert", "c.pem", "-p", "4443"],
    ["-a", "127.0.0.1", "-p", "4223", "-cluster", "nats://127.0.0.1:6223", "-cluster_name", "abc", "-routes", "nats://127.0.0.1:6222"],
    ["-p", "4222", "--version"],
    ["-h"],
    ["--signal", "stop"],
  ]) {
    assert.equal(earlyListenAddress(argv), undefined, argv.join(" "));
  }
});

test("clients that connect while the server starts are served once it is ready", async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-early-"));
  // -js: JetStream starts before the client listener, the longest start-up there is.
  const s = spawnServer(["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, "-D"]);
  const conns: RawConn[] = [];
  try {
    const first = await connectWhenAccepting(port, s.child);
    conns.push(first);
    // Two more right away: whether they come before or after the server took over the
    // listener, each gets the same INFO and a working session.
    conns.push(await RawConn.connect(port, { timeoutMs: 60_000 }), await RawConn.connect(port, { timeoutMs: 60_000 }));
    const m = ADOPTED.exec(s.output());
    assert.ok(m, `the server took over the early listener; output:\n${s.output()}`);
    assert.ok(Number(m[1]) <= 3, `waiting connections: ${m[1]}`);
    for (const c of conns) {
      assert.equal(c.info.port, port);
      assert.equal(c.info.jetstream, true);
      c.send("CONNECT {\"verbose\":false}\r\nSUB early 1\r\nPUB early 2\r\nhi\r\nPING\r\n");
      await c.waitFor("PONG\r\n", 30_000);
      assert.match(c.take(), /^MSG early 1 2\r\nhi\r\nPONG\r\n$/);
    }
    assert.match(s.output(), /Server is ready/);
    assert.doesNotMatch(s.output(), /\[(ERR|FTL)\]/);
  } finally {
    for (const c of conns) c.socket.destroy();
    s.child.kill("SIGINT");
    assert.equal(await s.exited, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a server with a cluster port (flag or config file) is told apart: its entry does not hurry the early port", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-early-"));
  try {
    const clustered = path.join(dir, "c.conf");
    fs.writeFileSync(clustered, "port: 4222\ncluster { port: 6222 }\n");
    const plain = path.join(dir, "p.conf");
    fs.writeFileSync(plain, "port: 4222\n");
    assert.equal(declaresCluster(["-a", "127.0.0.1", "-p", "4222", "-cluster", "nats://127.0.0.1:5222", "-cluster_name", "abc"]), true);
    assert.equal(declaresCluster(["--cluster=nats://127.0.0.1:5222"]), true);
    assert.equal(declaresCluster(["-c", clustered]), true);
    assert.equal(declaresCluster(["--config=" + plain, "-p", "1222"]), false);
    assert.equal(declaresCluster(["-p", "1222", "--user", "ivan", "--pass", "foo", "-cluster_name", "abc"]), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the port accepts connections before the server's bundle is loaded, not after", async () => {
  // A preload (NODE_OPTIONS --require) sees the bundle's compiled script about to run, the
  // longest synchronous part of the start-up, and has a separate process connect to the port
  // at that moment: only a port already bound accepts it (nats.c's AuthServers connects once,
  // 500 ms after spawning two servers).
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-early-"));
  const probe = path.join(dir, "probe.cjs");
  const result = path.join(dir, "probe.out");
  fs.writeFileSync(
    probe,
    `const vm = require("node:vm");
const { spawnSync } = require("node:child_process");
const run = vm.Script.prototype.runInThisContext;
let probed = false;
vm.Script.prototype.runInThisContext = function (...args) {
  if (!probed) {
    probed = true;
    const connect = "require('node:net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))";
    const r = spawnSync(process.execPath, ["-e", connect], { env: { PATH: process.env.PATH }, timeout: 60000 });
    require("node:fs").writeFileSync(${JSON.stringify(result)}, r.status === 0 ? "accepted" : "refused " + r.status);
  }
  return run.apply(this, args);
};
`,
  );
  const child = spawn(process.execPath, [BIN, "-a", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: `--require ${probe}` },
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    await waitUntil(() => /Server is ready/.test(out), 60_000);
    assert.equal(fs.readFileSync(result, "utf8"), "accepted", `output:\n${out}`);
  } finally {
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a port in use still fails the start, and --version is not held by the early port", async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const s = spawnServer(["-a", "127.0.0.1", "-p", String(port)]);
    assert.equal(await s.exited, 1);
    // nats-server's fatal line, word for word.
    assert.match(s.output(), new RegExp(`\\[FTL\\] Error listening on port: 127\\.0\\.0\\.1:${port}, "listen tcp 127\\.0\\.0\\.1:${port}: bind: address already in use"`));
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
  }
  const v = spawnServer(["-p", String(await freePort()), "-v"]);
  assert.equal(await v.exited, 0);
  assert.match(v.output(), /^tsnats-server: v/);
});

test("a config file's port is bound early too; a TLS client is served once the server is ready", { skip: !hasOpenssl && "needs openssl" }, async () => {
  const port = await freePort();
  const pki = makePki();
  const conf = path.join(pki.dir, "s.conf");
  fs.writeFileSync(conf, `port: ${port}\nhost: 127.0.0.1\ntls {\n  cert_file: "${pki.server.cert}"\n  key_file: "${pki.server.key}"\n}\n`);
  const s = spawnServer(["-c", conf, "-D"]);
  try {
    const c = await connectWhenAccepting(port, s.child);
    assert.equal(c.info.tls_required, true);
    // The TLS handshake on the socket the entry accepted, then a session over it.
    const secure = tls.connect({ socket: c.socket, ca: fs.readFileSync(pki.ca), servername: "localhost" });
    let text = "";
    secure.on("data", (d: Buffer) => (text += d.toString()));
    await new Promise<void>((resolve, reject) => secure.once("secureConnect", resolve).once("error", reject));
    secure.write("CONNECT {\"verbose\":false,\"tls_required\":true}\r\nPING\r\n");
    await waitUntil(() => text.includes("PONG\r\n"), 30_000, "PONG over TLS");
    secure.destroy();
    await waitUntil(() => /Server is ready/.test(s.output()), 60_000, "ready");
    assert.match(s.output(), ADOPTED);
    assert.doesNotMatch(s.output(), /\[(ERR|FTL)\]/);
  } finally {
    s.child.kill("SIGINT");
    await s.exited;
    fs.rmSync(pki.dir, { recursive: true, force: true });
  }
});

test("a config file's websocket port without TLS is bound early too: an upgrade sent while the server starts is answered once it is ready", async () => {
  const port = await freePort();
  const wsPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-early-"));
  const conf = path.join(dir, "ws.conf");
  fs.writeFileSync(conf, `port: ${port}\nhost: 127.0.0.1\nwebsocket {\n  port: ${wsPort}\n  host: 127.0.0.1\n  no_tls: true\n}\n`);
  // Read from the config only: a TLS block, a random port or no websocket block leave it to the server.
  assert.deepEqual(earlyWebsocketAddress(["-c", conf]), { host: "127.0.0.1", port: wsPort });
  for (const text of ["websocket { port: -1, no_tls: true }\n", "websocket { port: 8443, tls { cert_file: c.pem, key_file: k.pem } }\n", "port: 4222\n", "websocket { listen: \"127.0.0.1:x\" }\n"]) {
    const other = path.join(dir, "other.conf");
    fs.writeFileSync(other, text);
    assert.equal(earlyWebsocketAddress(["-c", other]), undefined, text);
  }
  assert.deepEqual(earlyWebsocketAddress(["-c", (fs.writeFileSync(path.join(dir, "l.conf"), 'websocket { listen: "127.0.0.1:5443", no_tls: true }\n'), path.join(dir, "l.conf"))]), { host: "127.0.0.1", port: 5443 });
  assert.equal(earlyWebsocketAddress(["-c", conf, "--version"]), undefined);
  const s = spawnServer(["-c", conf, "-D"]);
  let socket: net.Socket | undefined;
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (s.child.exitCode !== null) throw new Error(`server exited with ${s.child.exitCode}`);
      try {
        socket = await new Promise<net.Socket>((resolve, reject) => {
          const c = net.connect(wsPort, "127.0.0.1", () => resolve(c));
          c.once("error", reject);
        });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    let got = Buffer.alloc(0);
    socket.on("data", (d: Buffer) => (got = Buffer.concat([got, d])));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${wsPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await waitUntil(() => got.includes("INFO "), 60_000, "the upgrade answered, then INFO in a websocket frame");
    assert.match(got.toString("latin1"), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    await waitUntil(() => /Server is ready/.test(s.output()), 60_000, "ready");
    assert.match(s.output(), /Serving the websocket listener opened at start-up \(\d+ connection\(s\) waiting\)/);
    assert.doesNotMatch(s.output(), /\[(ERR|FTL)\]/);
  } finally {
    socket?.destroy();
    s.child.kill("SIGINT");
    await s.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
