// TLS for clients and HTTPS monitoring, with certificates made by openssl for each run:
// plain INFO then handshake, handshake_first, mTLS, handshake timeout, plain clients refused,
// /connz TLS fields, certificate reload (embedded and SIGHUP on the binary), and INFO compared
// with nats-server on the same certificates.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";
import { freePort, natsServerBinary, startNatsServer } from "./helpers/nats_server.js";
import { fingerprint, hasOpenssl, makePki, type Pki } from "./helpers/pki.js";
import type { TlsOptions } from "../src/config/options.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, "../src/bin/tsnats-server.js");

/** Read the plain INFO line, then upgrade the same socket to TLS; resolves with the server certificate's fingerprint. */
async function upgradeAfterInfo(port: number, ca: string): Promise<{ info: Record<string, unknown>; fingerprint: string }> {
  const raw = await RawConn.connect(port);
  const info = raw.info;
  raw.socket.removeAllListeners("data");
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket: raw.socket, ca: fs.readFileSync(ca), servername: "localhost" }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? "";
      s.destroy();
      resolve({ info, fingerprint: fp });
    });
    s.on("error", (err) => {
      s.destroy();
      reject(err);
    });
  });
}

async function roundTrip(nc: NatsConnection, subject: string): Promise<void> {
  const sub = nc.subscribe(`${subject}.svc`, {
    callback: (_e, m) => {
      m.respond(`echo:${m.string()}`);
    },
  });
  const got: string[] = [];
  const plain = nc.subscribe(`${subject}.plain`, {
    callback: (_e, m) => {
      got.push(m.string());
    },
  });
  nc.publish(`${subject}.plain`, "one");
  nc.publish(`${subject}.plain`, "two");
  const reply = await nc.request(`${subject}.svc`, "ping", { timeout: 2000 });
  assert.equal(reply.string(), "echo:ping");
  await nc.flush();
  assert.deepEqual(got, ["one", "two"]);
  sub.unsubscribe();
  plain.unsubscribe();
}

/** Connect once; never retries, so a refused TLS setup rejects quickly. */
function connectOnce(url: string, tlsOpts: Record<string, unknown> | undefined): Promise<NatsConnection> {
  return connect({ servers: url, tls: tlsOpts as never, timeout: 3000, reconnect: false });
}

function httpsGetJson(url: string, ca: string, agent?: https.Agent): Promise<{ json: Record<string, unknown>; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: fs.readFileSync(ca), agent: agent ?? false }, (res) => {
      const fp = (res.socket as tls.TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? "";
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        try {
          resolve({ json: JSON.parse(body) as Record<string, unknown>, fingerprint: fp });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("error", reject);
  });
}

function closedReasonOf(srv: TestServer, cid: number): string | undefined {
  return srv.server.closedClients.find((cc) => cc.client.cid === cid)?.reason;
}

describe("TLS", { skip: hasOpenssl ? false : "openssl is not installed" }, () => {
  let pki: Pki;
  before(() => {
    pki = makePki();
  });
  after(() => {
    if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  test("INFO in plain text, then TLS: pub/sub/request, /connz TLS fields", async () => {
    const srv = await startTestServer({ tls: { cert: pki.server.cert, key: pki.server.key }, httpPort: -1 });
    try {
      const raw = await RawConn.connect(srv.port);
      assert.equal(raw.info.tls_required, true);
      assert.equal(raw.info.tls_verify, undefined);
      assert.equal(raw.info.tls_available, undefined);
      const keys = Object.keys(raw.info);
      assert.equal(keys.indexOf("tls_required"), keys.indexOf("headers") + 1, "tls_required follows headers, as in nats-server");
      raw.socket.destroy();

      const nc = await connectOnce(srv.url, { caFile: pki.ca });
      try {
        assert.equal(nc.info?.tls_required, true);
        await roundTrip(nc, "plainfirst");
        const connz = (await (await fetch(`${srv.monitorUrl}/connz`)).json()) as { connections: Record<string, unknown>[] };
        const mine = connz.connections.find((c) => c.lang === "nats.js");
        assert.ok(mine, "connection listed");
        assert.equal(mine.tls_version, "1.3");
        assert.match(String(mine.tls_cipher_suite), /^TLS_/);
      } finally {
        await nc.close();
      }
    } finally {
      await srv.close();
    }
  });

  test("clients that do not speak TLS are closed: raw protocol, handshake timeout, untrusted CA", async () => {
    const srv = await startTestServer({ tls: { cert: pki.server.cert, key: pki.server.key, timeout: 0.4 } });
    try {
      // Plain protocol instead of a ClientHello: closed without an answer, as nats-server 2.9 does.
      const plain = await RawConn.connect(srv.port);
      plain.socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
      await waitUntil(() => plain.closed, 3000, "plain client closed");
      assert.doesNotMatch(plain.text(), /PONG/);
      const plainCid = plain.info.client_id as number;
      await waitUntil(() => closedReasonOf(srv, plainCid) !== undefined, 3000, "closed entry");
      assert.equal(closedReasonOf(srv, plainCid), "TLS Handshake Failure");

      // Silent after INFO: closed when the TLS timeout passes.
      const t0 = Date.now();
      const silent = await RawConn.connect(srv.port);
      await waitUntil(() => silent.closed, 3000, "silent client closed by the handshake timeout");
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 300 && elapsed < 2500, `closed after ${elapsed} ms`);
      assert.equal(closedReasonOf(srv, silent.info.client_id as number), "TLS Handshake Failure");

      // A client that does not trust the server's CA refuses the connection.
      await assert.rejects(connectOnce(srv.url, { caFile: pki.otherCa }));
      await assert.rejects(connectOnce(srv.url, undefined));
      await waitUntil(() => srv.server.clients.size === 0, 3000, "refused clients gone");
    } finally {
      await srv.close();
    }
  });

  test("mTLS: verify requires a client certificate signed by ca_file", async () => {
    const srv = await startTestServer({ tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true } });
    try {
      const raw = await RawConn.connect(srv.port);
      assert.equal(raw.info.tls_required, true);
      assert.equal(raw.info.tls_verify, true);
      raw.socket.destroy();

      const nc = await connectOnce(srv.url, { caFile: pki.ca, certFile: pki.client.cert, keyFile: pki.client.key });
      try {
        await roundTrip(nc, "mtls");
      } finally {
        await nc.close();
      }
      await assert.rejects(connectOnce(srv.url, { caFile: pki.ca }), "no client certificate");
      await assert.rejects(
        connectOnce(srv.url, { caFile: pki.ca, certFile: pki.otherClient.cert, keyFile: pki.otherClient.key }),
        "client certificate from another CA",
      );
      await waitUntil(() => srv.server.clients.size === 0, 3000, "refused clients gone");
      // The raw connection that left after INFO counts too (as in nats-server: "TLS handshake error: EOF").
      const reasons = srv.server.closedClients.map((cc) => cc.reason);
      assert.equal(reasons.filter((r) => r === "TLS Handshake Failure").length, 3, reasons.join(","));
      assert.equal(reasons.filter((r) => r === "Client Closed").length, 1, reasons.join(","));
    } finally {
      await srv.close();
    }
  });

  test("handshake_first: TLS before INFO", async () => {
    const srv = await startTestServer({ tls: { cert: pki.server.cert, key: pki.server.key, handshakeFirst: true, timeout: 0.5 } });
    try {
      const nc = await connectOnce(srv.url, { caFile: pki.ca, handshakeFirst: true });
      try {
        assert.equal(nc.info?.tls_required, true);
        await roundTrip(nc, "hsfirst");
      } finally {
        await nc.close();
      }
      // Nothing is sent in plain text: the server waits for a ClientHello, then gives up.
      const raw = await RawConn.connect(srv.port, { readInfo: false });
      await waitUntil(() => raw.closed, 3000, "closed by the handshake timeout");
      assert.equal(raw.text(), "");
      // A client that waits for a plain INFO gets none.
      await assert.rejects(connectOnce(srv.url, { caFile: pki.ca }));
    } finally {
      await srv.close();
    }
  });

  test("HTTPS monitoring serves with the client TLS certificate, without asking for a client certificate", async () => {
    const srv = await startTestServer({
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true },
      httpsPort: -1,
    });
    try {
      assert.match(String(srv.monitorUrl), /^https:\/\/127\.0\.0\.1:\d+$/);
      const { json, fingerprint: fp } = await httpsGetJson(`${srv.monitorUrl}/varz`, pki.ca);
      assert.equal(fp, fingerprint(pki.server.cert));
      assert.equal(json.tls_required, true);
      assert.equal(json.tls_verify, true);
      assert.equal(json.https_port, Number(new URL(String(srv.monitorUrl)).port));
      await assert.rejects(httpsGetJson(`${srv.monitorUrl}/varz`, pki.otherCa), "untrusted server certificate");
      // A kept-alive HTTPS connection does not hold up shutdown.
      const agent = new https.Agent({ keepAlive: true });
      try {
        const connz = (await httpsGetJson(`${srv.monitorUrl}/connz`, pki.ca, agent)).json;
        assert.equal(connz.num_connections, 0);
        const t0 = Date.now();
        await srv.close();
        assert.ok(Date.now() - t0 < 1000, `shutdown took ${Date.now() - t0} ms`);
      } finally {
        agent.destroy();
      }
    } finally {
      await srv.close();
    }
  });

  test("reload with new certificate files: new connections use them, established ones stay", async () => {
    const dir = fs.mkdtempSync(path.join(pki.dir, "reload-"));
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    fs.copyFileSync(pki.server.cert, cert);
    fs.copyFileSync(pki.server.key, key);
    const srv = await startTestServer({ tls: { cert, key }, httpsPort: -1 });
    try {
      const before = await connectOnce(srv.url, { caFile: pki.ca });
      try {
        assert.equal((await upgradeAfterInfo(srv.port, pki.ca)).fingerprint, fingerprint(pki.server.cert));
        fs.copyFileSync(pki.otherServer.cert, cert);
        fs.copyFileSync(pki.otherServer.key, key);
        srv.server.reload({ ...srv.server.options });

        assert.equal((await upgradeAfterInfo(srv.port, pki.otherCa)).fingerprint, fingerprint(pki.otherServer.cert));
        await assert.rejects(connectOnce(srv.url, { caFile: pki.ca }), "old CA no longer matches");
        const after = await connectOnce(srv.url, { caFile: pki.otherCa });
        await roundTrip(after, "reloaded");
        await after.close();
        await roundTrip(before, "established");
        assert.equal((await httpsGetJson(`${srv.monitorUrl}/varz`, pki.otherCa)).fingerprint, fingerprint(pki.otherServer.cert));

        // An unreadable key fails the reload and keeps the certificates in use.
        fs.writeFileSync(key, "not a key");
        assert.throws(() => srv.server.reload({ ...srv.server.options }), /TLS/);
        assert.equal((await upgradeAfterInfo(srv.port, pki.otherCa)).fingerprint, fingerprint(pki.otherServer.cert));
      } finally {
        await before.close();
      }
    } finally {
      await srv.close();
    }
  });

  test("binary with a tls {} config: SIGHUP reloads the certificates", async () => {
    const dir = fs.mkdtempSync(path.join(pki.dir, "bin-"));
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    fs.copyFileSync(pki.server.cert, cert);
    fs.copyFileSync(pki.server.key, key);
    const port = await freePort();
    const conf = path.join(dir, "server.conf");
    fs.writeFileSync(conf, `listen: 127.0.0.1:${port}\ntls {\n  cert_file: "${cert}"\n  key_file: "${key}"\n  timeout: 1\n}\n`);
    const child = spawn(process.execPath, [BIN, "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    try {
      await waitUntil(() => /Server is ready/.test(out) || child.exitCode !== null, 10_000, "server ready");
      assert.match(out, /TLS required for client connections/);
      const nc = await connectOnce(`nats://127.0.0.1:${port}`, { caFile: pki.ca });
      await roundTrip(nc, "bin");
      await nc.close();
      fs.copyFileSync(pki.otherServer.cert, cert);
      fs.copyFileSync(pki.otherServer.key, key);
      child.kill("SIGHUP");
      await waitUntil(() => /Reloaded server configuration/.test(out), 5000, "reload logged");
      assert.equal((await upgradeAfterInfo(port, pki.otherCa)).fingerprint, fingerprint(pki.otherServer.cert));
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    }
  });

  test("INFO and behaviour match nats-server on the same certificates", { skip: natsServerBinary() ? false : "nats-server not installed" }, async () => {
    const tlsConf = `tls {\n  cert_file: "${pki.server.cert}"\n  key_file: "${pki.server.key}"\n  ca_file: "${pki.ca}"\n  verify: true\n}\n`;
    const ref = await startNatsServer([], tlsConf);
    const opts: TlsOptions = { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true };
    const srv = await startTestServer({ tls: opts });
    try {
      const theirs = await RawConn.connect(ref.port);
      const ours = await RawConn.connect(srv.port);
      const tlsFields = (i: Record<string, unknown>): Record<string, unknown> =>
        Object.fromEntries(Object.entries(i).filter(([k]) => k.startsWith("tls")));
      assert.deepEqual(tlsFields(ours.info), tlsFields(theirs.info));
      // Same key order where both have the key (tsnats adds tsnats_version).
      const common = (a: string[], b: string[]): string[] => a.filter((k) => b.includes(k));
      const ka = Object.keys(ours.info);
      const kb = Object.keys(theirs.info);
      assert.deepEqual(common(ka, kb), common(kb, ka));
      // Both close a client that answers INFO with plain protocol, without a reply.
      for (const c of [theirs, ours]) c.socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
      await waitUntil(() => theirs.closed && ours.closed, 5000, "both closed");
      assert.equal(ours.text(), theirs.text());
      // mTLS accepted and refused alike.
      for (const url of [`nats://127.0.0.1:${ref.port}`, srv.url]) {
        const nc = await connectOnce(url, { caFile: pki.ca, certFile: pki.client.cert, keyFile: pki.client.key });
        await roundTrip(nc, "compare");
        await nc.close();
        await assert.rejects(connectOnce(url, { caFile: pki.ca }), `no client certificate: ${url}`);
      }
    } finally {
      await srv.close();
      await ref.stop();
    }
  });
});
