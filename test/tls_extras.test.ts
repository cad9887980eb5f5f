// TLS beyond certificates and verify: verify_and_map (subject DN, RDN string with domain
// components, SAN e-mail/DNS/URI → user, over TCP and wss, compared with nats-server 2.15 on
// the same certificates), certificates from another CA, pinned_certs (and their reload),
// allow_non_tls, handshake_first with fallback, min_version, cipher_suites,
// curve_preferences, connection_rate_limit, and the settings refused at start-up (OCSP,
// Windows certificate store, several certificates).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { X509Certificate, createHash } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { hasOpenssl, makePki, signLeaf, type CertPair, type Pki } from "./helpers/pki.js";
import { wsConnect } from "./helpers/websocket.js";
import { startTsMember, stopAll, waitForMesh, type Member } from "./helpers/cluster.js";
import { loadConfigFile, validateOptions } from "../src/config/load.js";
import { ConfigError } from "../src/config/conf_parser.js";
import type { EmbeddedOptions } from "../src/index.js";

interface ClientCert extends CertPair {
  /** The user nats-server maps it to. */
  user: string;
}

function connectOnce(port: number, tlsOpts: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Promise<NatsConnection> {
  return connect({ servers: `127.0.0.1:${port}`, tls: tlsOpts as never, timeout: 3000, reconnect: false, ...extra });
}

/** Log in with a client certificate; the user the server says it is (or the error). */
async function loginAs(port: number, ca: string, cert: CertPair, extra: Record<string, unknown> = {}): Promise<string> {
  let nc: NatsConnection;
  try {
    nc = await connectOnce(port, { caFile: ca, certFile: cert.cert, keyFile: cert.key }, extra);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
  try {
    // Each mapped user may publish only to its own subject: proves who the server took it for.
    const r = await nc.request("$SYS.REQ.USER.INFO", "", { timeout: 2000 }).catch(() => undefined);
    const info = r === undefined ? undefined : (r.json<{ data?: { user?: string } }>().data?.user ?? "");
    return `ok: ${info ?? "?"}`;
  } finally {
    await nc.close();
  }
}

async function withServer(opts: EmbeddedOptions, fn: (srv: TestServer) => Promise<void>): Promise<void> {
  const srv = await startTestServer(opts);
  try {
    await fn(srv);
  } finally {
    await srv.close();
  }
}

describe("TLS extras", { skip: hasOpenssl ? false : "openssl is not installed" }, () => {
  let pki: Pki;
  const certs: Record<string, ClientCert> = {};
  before(() => {
    pki = makePki();
    const leaf = (name: string, subject: string, ext: string, user: string): void => {
      certs[name] = { ...signLeaf(pki.dir, "main", name, subject, `extendedKeyUsage=clientAuth\n${ext}`), user };
    };
    leaf("subject", "/C=US/O=Acme/OU=dev/CN=alice", "", "CN=alice,OU=dev,O=Acme,C=US");
    leaf("multiou", "/O=Acme/OU=a/OU=b/CN=multi", "", "CN=multi,OU=a+OU=b,O=Acme");
    leaf("email", "/CN=bob-cert", "subjectAltName=email:bob@example.com\n", "bob@example.com");
    leaf("dns", "/CN=carol-cert", "subjectAltName=DNS:carol.example.com\n", "carol.example.com");
    leaf("uri", "/CN=dave-cert", "subjectAltName=URI:spiffe://example.org/ns/dave\n", "spiffe://example.org/ns/dave");
    leaf("dcs", "/DC=org/DC=example/CN=eve", "", "CN=eve,DC=org,DC=example");
    leaf("dn", "/DC=org/DC=example/O=Acme/CN=frank", "", "CN=frank,O=Acme,DC=example,DC=org");
    leaf("reordered", "/O=Acme/CN=grace", "", "O=Acme,CN=grace");
    leaf("escaped", "/O=Acme\\, Inc./CN=heidi", "", "CN=heidi,O=Acme\\, Inc.");
    leaf("unknown", "/CN=nobody", "", "");
    certs.foreign = { ...pki.otherClient, user: "" };
  });
  after(() => {
    if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  /** Users named as each certificate maps, each allowed to publish only where its name says. */
  function mappedUsersConf(extraTls = ""): string {
    const users = Object.values(certs)
      .filter((c) => c.user !== "")
      .map((c) => `    { user: ${JSON.stringify(c.user)} }`)
      .join("\n");
    return (
      `tls { cert_file: ${JSON.stringify(pki.server.cert)}, key_file: ${JSON.stringify(pki.server.key)}, ca_file: ${JSON.stringify(pki.ca)}, verify_and_map: true ${extraTls} }\n` +
      `authorization { users: [\n${users}\n    { user: pw, password: secret }\n  ] }\n`
    );
  }

  async function fromConf(text: string, extra: EmbeddedOptions = {}): Promise<TestServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-tlsx-"));
    try {
      const file = path.join(dir, "server.conf");
      fs.writeFileSync(file, text);
      const { jetstream: _js, ...o } = loadConfigFile(file);
      validateOptions({ ...loadConfigFile(file) });
      return await startTestServer({ ...o, ...extra, host: "127.0.0.1", port: -1 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test("verify_and_map: subject, DN and SAN mappings as nats-server 2.15 makes them; unknown and foreign certificates refused", async (t) => {
    const conf = mappedUsersConf();
    const srv = await fromConf(conf, { httpPort: -1 });
    let ref: ReferenceServer | undefined;
    if (referenceBinary("2.15") !== undefined) ref = await startNatsServer([], conf, "2.15");
    else t.diagnostic("nats-server 2.15 not available: checked against the expected users only");
    try {
      for (const [name, c] of Object.entries(certs)) {
        const ours = await loginAs(srv.port, pki.ca, c);
        if (c.user !== "") assert.equal(ours, `ok: ${c.user}`, name);
        else assert.match(ours, /^error/, name);
        if (ref !== undefined) {
          const theirs = await loginAs(ref.port, pki.ca, c);
          assert.equal(ours.startsWith("ok") ? ours : "refused", theirs.startsWith("ok") ? theirs : "refused", `${name} vs nats-server`);
        }
      }
      // A mapped user's password still has to match when it has one; the CONNECT's user name is not used.
      const connz = (await (await fetch(`${srv.monitorUrl}/connz?state=closed&auth=true`)).json()) as { connections: Record<string, unknown>[] };
      assert.ok(connz.connections.some((c) => c.authorized_user === "CN=alice,OU=dev,O=Acme,C=US"));
      // No certificate at all: the handshake fails (verify_and_map implies verify).
      await assert.rejects(connectOnce(srv.port, { caFile: pki.ca }));
    } finally {
      await srv.close();
      await ref?.stop();
    }
  });

  test("verify_and_map over wss; a certificate identity cannot log in elsewhere with an empty password", async () => {
    const user = certs.subject.user;
    await withServer(
      {
        tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true, verifyAndMap: true },
        websocket: { host: "127.0.0.1", port: -1, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true, verifyAndMap: true } },
        users: [{ user }, { user: "pw", password: "secret" }],
      },
      async (srv) => {
        const ws = srv.server.websocket?.url as string;
        const clientTls = { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(certs.subject.cert), key: fs.readFileSync(certs.subject.key) };
        const nc = await wsConnect(ws, {}, clientTls);
        const c = [...srv.server.clients.values()].find((x) => x.connectionType === "WEBSOCKET");
        assert.equal(c?.authorizedUser, user);
        await nc.close();
        const other = { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(certs.unknown.cert), key: fs.readFileSync(certs.unknown.key) };
        await assert.rejects(wsConnect(ws, {}, other), /Authorization Violation/i);
      },
    );
    // Plain listener without mapping, wss listener with it: the certificate identity cannot
    // be used by naming it with no password over TCP.
    await withServer(
      {
        websocket: { host: "127.0.0.1", port: -1, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true, verifyAndMap: true } },
        users: [{ user }, { user: "pw", password: "secret" }],
      },
      async (srv) => {
        await assert.rejects(connect({ port: srv.port, user, pass: "", reconnect: false }), /Authorization Violation/i);
        const nc = await connect({ port: srv.port, user: "pw", pass: "secret", reconnect: false });
        await nc.close();
      },
    );
  });

  test("pinned_certs: only pinned client keys are accepted; a reload that unpins a connected client drops it", async () => {
    const spki = (f: string): string =>
      createHash("sha256")
        .update(new X509Certificate(fs.readFileSync(f)).publicKey.export({ type: "spki", format: "der" }))
        .digest("hex");
    const base = { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verify: true };
    const log = new CapturedLog();
    await withServer({ tls: { ...base, pinnedCerts: [spki(certs.subject.cert)] }, log }, async (srv) => {
      const nc = await connectOnce(srv.port, { caFile: pki.ca, certFile: certs.subject.cert, keyFile: certs.subject.key });
      await nc.flush();
      await assert.rejects(connectOnce(srv.port, { caFile: pki.ca, certFile: certs.email.cert, keyFile: certs.email.key }));
      await waitUntil(() => log.has("ERR", /TLS handshake error: client certificate not accepted: certificate not pinned/), 5000, "logged");
      const closed = nc.closed();
      srv.server.reload({ ...srv.server.options, tls: { ...base, pinnedCerts: [spki(certs.email.cert)] } });
      await closed;
      const nc2 = await connectOnce(srv.port, { caFile: pki.ca, certFile: certs.email.cert, keyFile: certs.email.key });
      await nc2.close();
    });
  });

  test("allow_non_tls: plain and TLS clients on one port, INFO says tls_available as nats-server's", async (t) => {
    const conf = `tls { cert_file: ${JSON.stringify(pki.server.cert)}, key_file: ${JSON.stringify(pki.server.key)} }\nallow_non_tls: true\n`;
    const log = new CapturedLog();
    const srv = await fromConf(conf, { httpPort: -1, log });
    try {
      assert.ok(log.has("INF", /^INF TLS available for client connections$/));
      const raw = await RawConn.connect(srv.port);
      assert.equal(raw.info.tls_required, undefined);
      assert.equal(raw.info.tls_available, true);
      raw.socket.destroy();
      // nats.js upgrades whenever TLS is available, unless told `tls: null`.
      const plain = await connect({ port: srv.port, reconnect: false, tls: null });
      const secure = await connectOnce(srv.port, { caFile: pki.ca });
      const sub = plain.subscribe("mixed", { max: 1 });
      await plain.flush();
      secure.publish("mixed", "over tls");
      for await (const m of sub) assert.equal(m.string(), "over tls");
      const connz = (await (await fetch(`${srv.monitorUrl}/connz`)).json()) as { connections: Record<string, unknown>[] };
      assert.equal(connz.connections.filter((c) => c.tls_version !== undefined).length, 1);
      const varz = (await (await fetch(`${srv.monitorUrl}/varz`)).json()) as Record<string, unknown>;
      assert.equal(varz.tls_required, undefined);
      await plain.close();
      await secure.close();
      if (referenceBinary("2.15") === undefined) {
        t.diagnostic("nats-server 2.15 not available");
        return;
      }
      const ref = await startNatsServer([], conf, "2.15");
      try {
        const theirs = await RawConn.connect(ref.port);
        const pick = (i: Record<string, unknown>): unknown[] => [i.tls_required, i.tls_available, i.tls_verify];
        assert.deepEqual(pick(raw.info), pick(theirs.info));
        theirs.socket.destroy();
      } finally {
        await ref.stop();
      }
    } finally {
      await srv.close();
    }
  });

  test("ca_file without verify is not served with the certificate: a client without the CA fails as on nats-server", async (t) => {
    // OpenSSL builds the chain a server sends from its context's trust store; nats-server
    // sends cert_file's certificates only (the nats.js node transport's tls test checks the
    // message a client without the CA gets on an allow_non_tls server with a ca_file).
    const conf = `tls { cert_file: ${JSON.stringify(pki.server.cert)}, key_file: ${JSON.stringify(pki.server.key)}, ca_file: ${JSON.stringify(pki.ca)} }\nallow_non_tls: true\n`;
    const refusal = async (port: number): Promise<string> => {
      const nc = await connectOnce(port, {}).catch((err: Error) => err);
      if (nc instanceof Error) return nc.message;
      await nc.close();
      return "connected";
    };
    const srv = await fromConf(conf);
    let ours: string;
    try {
      ours = await refusal(srv.port);
      assert.equal(ours, "unable to verify the first certificate");
      // The CA still checks the server for a client that has it, and plain clients still connect.
      const secure = await connectOnce(srv.port, { caFile: pki.ca });
      await secure.flush();
      await secure.close();
      const plain = await connect({ port: srv.port, reconnect: false, tls: null });
      await plain.flush();
      await plain.close();
    } finally {
      await srv.close();
    }
    if (referenceBinary("2.15") === undefined) {
      t.diagnostic("nats-server 2.15 not available");
      return;
    }
    const ref = await startNatsServer([], conf, "2.15");
    try {
      assert.equal(ours, await refusal(ref.port));
    } finally {
      await ref.stop();
    }
  });

  test("handshake_first with a fallback: TLS-first and ordinary TLS clients both connect", async () => {
    await withServer({ tls: { cert: pki.server.cert, key: pki.server.key, handshakeFirst: true, handshakeFirstFallbackMs: 50 } }, async (srv) => {
      const first = await connectOnce(srv.port, { caFile: pki.ca, handshakeFirst: true });
      assert.equal(first.info?.tls_required, true);
      await first.close();
      const usual = await connectOnce(srv.port, { caFile: pki.ca });
      await usual.flush();
      await usual.close();
    });
  });

  test("min_version, cipher_suites and curve_preferences restrict what a client may negotiate", async () => {
    const base = { cert: pki.server.cert, key: pki.server.key };
    const handshake = (port: number, o: tls.ConnectionOptions): Promise<string> =>
      new Promise((resolve) => {
        const raw = tls.connect({ port, host: "127.0.0.1", ca: fs.readFileSync(pki.ca), servername: "localhost", ...o }, () => {
          const r = `${raw.getProtocol()} ${raw.getCipher().standardName}`;
          raw.destroy();
          resolve(r);
        });
        raw.on("error", (e) => resolve(`error: ${e.message}`));
        raw.on("close", () => resolve("error: closed"));
      });
    const tlsFirst = { handshakeFirst: true };
    await withServer({ tls: { ...base, ...tlsFirst, minVersion: "1.3" } }, async (srv) => {
      assert.match(await handshake(srv.port, { maxVersion: "TLSv1.2" }), /^error/);
      assert.match(await handshake(srv.port, {}), /^TLSv1\.3 /);
    });
    await withServer({ tls: { ...base, ...tlsFirst, cipherSuites: ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"] } }, async (srv) => {
      assert.equal(await handshake(srv.port, { maxVersion: "TLSv1.2" }), "TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
      assert.match(await handshake(srv.port, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" }), /^error/);
      // TLS 1.3 suites are always on, as in Go.
      assert.match(await handshake(srv.port, {}), /^TLSv1\.3 TLS_/);
    });
    await withServer({ tls: { ...base, ...tlsFirst, curvePreferences: ["CurveP384"] } }, async (srv) => {
      assert.match(await handshake(srv.port, { ecdhCurve: "P-384" }), /^TLSv1\.3/);
      assert.match(await handshake(srv.port, { ecdhCurve: "P-256" }), /^error/);
    });
    // By default Go's suites only: no plain-RSA key exchange, no DHE.
    await withServer({ tls: { ...base, ...tlsFirst } }, async (srv) => {
      assert.match(await handshake(srv.port, { maxVersion: "TLSv1.2", ciphers: "DHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256" }), /^error/);
    });
  });

  test("connection_rate_limit: TLS connections over the limit are told to come back later", async () => {
    const log = new CapturedLog();
    await withServer({ tls: { cert: pki.server.cert, key: pki.server.key, rateLimit: 1 }, log }, async (srv) => {
      const ok = await connectOnce(srv.port, { caFile: pki.ca });
      const refused = await RawConn.connect(srv.port);
      await refused.waitFor("-ERR 'Connection throttling is active. Please try again later.'\r\n");
      await waitUntil(() => refused.closed, 5000, "closed");
      await waitUntil(() => log.has("WRN", /^WRN Rejected 1 connections due to TLS rate limiting$/), 5000, "logged");
      await ok.close();
    });
  });

  test("routes over TLS require a verified certificate from their peer", async () => {
    const routeCert = (ca: "main" | "other", name: string): CertPair =>
      signLeaf(pki.dir, ca, name, "/CN=route", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const good = routeCert("main", "route-a");
    const alsoGood = routeCert("main", "route-b");
    const foreign = routeCert("other", "route-x");
    const log = new CapturedLog();
    const a = await startTsMember("A", "tlsc", [], { log, cluster: { tls: { cert: good.cert, key: good.key, ca: pki.ca } } });
    const members: Member[] = [a];
    try {
      const b = await startTsMember("B", "tlsc", [a.routeUrl], { cluster: { tls: { cert: alsoGood.cert, key: alsoGood.key, ca: pki.ca } } });
      members.push(b);
      await waitForMesh([a, b]);
      // A peer whose certificate another CA signed (trusting A's CA itself) is refused by A.
      const x = await startTsMember("X", "tlsc", [a.routeUrl], { cluster: { tls: { cert: foreign.cert, key: foreign.key, ca: pki.ca } } });
      members.push(x);
      await waitUntil(() => log.has("ERR", /TLS route handshake error: /), 10_000, "refusal logged");
      assert.equal(await a.peers(), 1);
    } finally {
      await stopAll(members);
    }
  });

  test("routes: pinned_certs of the cluster's tls block admit only the pinned peers' keys", async () => {
    const spki = (f: string): string =>
      createHash("sha256")
        .update(new X509Certificate(fs.readFileSync(f)).publicKey.export({ type: "spki", format: "der" }))
        .digest("hex");
    const routeCert = (name: string): CertPair =>
      signLeaf(pki.dir, "main", name, "/CN=route", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const a = routeCert("pin-a");
    const b = routeCert("pin-b");
    const unpinned = routeCert("pin-c");
    const log = new CapturedLog();
    const tlsOf = (c: CertPair, pinned?: string[]) => ({ cert: c.cert, key: c.key, ca: pki.ca, ...(pinned ? { pinnedCerts: pinned } : {}) });
    const first = await startTsMember("A", "pinc", [], { log, cluster: { tls: tlsOf(a, [spki(b.cert)]) } });
    const members: Member[] = [first];
    try {
      // Same CA for all three: only the pin tells B (admitted) from C (refused).
      members.push(await startTsMember("B", "pinc", [first.routeUrl], { cluster: { tls: tlsOf(b) } }));
      await waitForMesh(members);
      members.push(await startTsMember("C", "pinc", [first.routeUrl], { cluster: { tls: tlsOf(unpinned) } }));
      await waitUntil(() => log.has("ERR", /TLS route handshake error: client certificate not accepted: certificate not pinned/), 10_000, "refusal logged");
      assert.equal(await first.peers(), 1);
    } finally {
      await stopAll(members);
    }
  });

  test("settings tsnats cannot honour stop start-up with a clear error; invalid values get nats-server's errors", async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-tlsx-conf-"));
    const ref = referenceBinary("2.15");
    const files = `cert_file: ${JSON.stringify(pki.server.cert)}, key_file: ${JSON.stringify(pki.server.key)}`;
    const ours = (text: string): string => {
      const file = path.join(dir, "c.conf");
      fs.writeFileSync(file, text);
      try {
        validateOptions(loadConfigFile(file));
      } catch (err) {
        return err instanceof ConfigError ? err.reason : (err as Error).message;
      }
      return "(accepted)";
    };
    const theirs = (text: string): string | undefined => {
      if (ref === undefined) return undefined;
      const file = path.join(dir, "ref.conf");
      fs.writeFileSync(file, text);
      const r = spawnSync(ref, ["-c", file, "-t"], { encoding: "utf8", timeout: 10_000 });
      return (r.stderr + r.stdout).trim().split("\n").pop() ?? "";
    };
    try {
      // Same errors as nats-server.
      const same: [string, string][] = [
        [`tls { ${files}, min_version: "1.0" }`, "error parsing tls config: unsupported TLS version: TLS 1.0"],
        [`tls { ${files}, min_version: "1.4" }`, "error parsing tls config: unknown version: 1.4"],
        [`tls { ${files}, cipher_suites: [BOGUS] }`, "unrecognized cipher BOGUS"],
        [`tls { ${files}, cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA] }`, "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: TLS_RSA_WITH_AES_128_CBC_SHA"],
        [`tls { ${files}, curve_preferences: [P256] }`, "unrecognized curve preference P256"],
        [`tls { ${files}, curve_preferences: [] }`, "error parsing tls config, 'curve_preferences' cannot be empty"],
        [`tls { ${files}, pinned_certs: [abc] }`, "error parsing tls config, 'pinned_certs' key abc does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"],
        [`tls { ${files}, cert_store: WindowsCurrentUser }`, "cert_store not compatible with current operating system"],
        [`tls { ${files}, verify_cert_and_check_known_urls: true }`, "verify_cert_and_check_known_urls not supported in this context"],
        [`tls { ${files}, connection_rate_limit: 1.5 }`, "error parsing tls config, 'connection_rate_limit' wrong type"],
      ];
      for (const [text, expected] of same) {
        assert.equal(ours(text), expected, text);
        const r = theirs(text);
        if (r !== undefined) assert.ok(r.endsWith(expected), `nats-server 2.15: ${r}`);
      }
      if (ref === undefined) t.diagnostic("nats-server 2.15 not available: compared with recorded messages only");
      // Refused by tsnats where nats-server would act (OCSP, other certificate sources).
      assert.match(ours(`tls { ${files} }\nocsp { mode: always }`), /OCSP stapling is not supported by tsnats/);
      assert.match(ours(`tls { ${files}, ocsp_peer: true }`), /"ocsp_peer" is not supported by tsnats/);
      assert.match(ours(`tls { ${files}, cert_match: "CN=x" }`), /"cert_match" is not supported by tsnats/);
      assert.match(ours(`tls { certs: [{ ${files} }] }`), /"certs" is not supported by tsnats yet/);
      assert.match(ours("resolver_tls { }"), /"resolver_tls": TLS settings for the URL account resolver are not supported by tsnats yet/);
      assert.match(ours(`cluster { port: -1, tls { ${files}, verify_and_map: true } }`), /verify_and_map is not supported by tsnats yet for routes/);
      assert.match(ours(`cluster { port: -1, tls { ${files}, verify_cert_and_check_known_urls: true } }`), /not supported by tsnats yet for routes/);
      // A certificate that requires OCSP stapling (must-staple) cannot be served without it.
      const staple = signLeaf(pki.dir, "main", "staple", "/CN=localhost", "subjectAltName=DNS:localhost\ntlsfeature=status_request\n");
      await assert.rejects(startTestServer({ tls: { cert: staple.cert, key: staple.key } }), /OCSP stapling is not supported by tsnats/);
      // Insecure suites OpenSSL no longer has cannot be offered.
      await assert.rejects(
        startTestServer({ tls: { cert: pki.server.cert, key: pki.server.key, cipherSuites: ["TLS_RSA_WITH_RC4_128_SHA"], allowInsecureCipherSuites: true } }),
        /cipher suite TLS_RSA_WITH_RC4_128_SHA is not available/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
