// Leaf node connections over TLS, in both roles: tsnats hub and leaf, and each with nats-server
// 2.15 on the other side; the hub's certificate checked by the leaf, the leaf's certificate
// required by a hub with `verify`, TLS started after the hub's INFO or first (handshake_first),
// and strangers refused.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, waitUntil } from "./helpers/cluster.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { hasOpenssl, makePki, signLeaf, type Pki, type CertPair } from "./helpers/pki.js";
import { optionsFromText } from "./helpers/config_server.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";
import type { LeafRemoteOptions, TlsOptions } from "../src/config/options.js";

function remote(url: string, tls: TlsOptions | undefined): LeafRemoteOptions {
  return { urls: [url], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off", tls };
}

const leafCount = (ts: TestServer): number => leafNodesOf(ts.server)?.all.size ?? 0;

describe("leaf nodes over TLS", { skip: hasOpenssl ? false : "openssl not available" }, () => {
  let pki: Pki;
  let cert: CertPair;
  let stranger: CertPair;
  const servers: TestServer[] = [];
  const refs: ReferenceServer[] = [];
  const conns: NatsConnection[] = [];
  before(() => {
    pki = makePki();
    cert = signLeaf(pki.dir, "main", "leafnode", "/CN=leafnode", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    stranger = signLeaf(pki.dir, "other", "stranger", "/CN=stranger", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    for (const s of servers) await s.close().catch(() => undefined);
    for (const r of refs) await r.stop().catch(() => undefined);
    fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  const hubTls = (): TlsOptions => ({ cert: cert.cert, key: cert.key, ca: pki.ca, verify: true });
  const leafTls = (): TlsOptions => ({ cert: cert.cert, key: cert.key, ca: pki.ca });

  async function trafficBoth(hubUrl: string, leafUrl: string, subject: string): Promise<void> {
    const nh = await connect({ servers: hubUrl, reconnect: false });
    const nl = await connect({ servers: leafUrl, reconnect: false });
    conns.push(nh, nl);
    await checkAllToAll([nh, nl], subject, 30);
  }

  it("tsnats hub and tsnats leaf: TLS after the INFO, certificates checked both ways", async () => {
    const hub = await startTestServer({ serverName: "THUB", httpPort: -1, leafnodes: { port: -1, tls: hubTls() } });
    servers.push(hub);
    const leaf = await startTestServer({ serverName: "TLEAF", leafnodes: { remotes: [remote(`tls://127.0.0.1:${leafNodesOf(hub.server)?.port}`, leafTls())] } });
    servers.push(leaf);
    await waitUntil(() => leafCount(hub) === 1 && leafCount(leaf) === 1, 10_000, "leaf over TLS");
    await trafficBoth(hub.url, leaf.url, "ltls.a");
    const conn = [...(leafNodesOf(hub.server)?.all ?? [])][0];
    assert.equal(conn.tlsDone, true);
    const varz = (await (await fetch(`${hub.monitorUrl}/varz`)).json()) as { leaf: Record<string, unknown> };
    assert.equal(varz.leaf.tls_required, true);
    assert.equal(varz.leaf.tls_verify, true);
  });

  it("handshake_first on both sides", async () => {
    const hub = await startTestServer({ serverName: "FHUB", leafnodes: { port: -1, tls: { ...hubTls(), handshakeFirst: true } } });
    servers.push(hub);
    const leaf = await startTestServer({ serverName: "FLEAF", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${leafNodesOf(hub.server)?.port}`, { ...leafTls(), handshakeFirst: true })] } });
    servers.push(leaf);
    await waitUntil(() => leafCount(hub) === 1 && leafCount(leaf) === 1, 10_000, "leaf over TLS first");
    await trafficBoth(hub.url, leaf.url, "ltls.first");
  });

  it("a leaf with another CA's certificate is refused by a verifying hub, and a hub it cannot verify is left", async () => {
    const hub = await startTestServer({ serverName: "SHUB", leafnodes: { port: -1, tls: hubTls() } });
    servers.push(hub);
    const port = leafNodesOf(hub.server)?.port;
    const bad = await startTestServer({ serverName: "SBAD", leafnodes: { remotes: [remote(`tls://127.0.0.1:${port}`, { cert: stranger.cert, key: stranger.key, ca: pki.ca })] } });
    servers.push(bad);
    const blind = await startTestServer({ serverName: "SBLIND", leafnodes: { remotes: [remote(`tls://127.0.0.1:${port}`, { cert: cert.cert, key: cert.key, ca: pki.otherCa })] } });
    servers.push(blind);
    // Both keep trying; neither gets registered anywhere.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(leafCount(hub), 0);
    assert.equal(leafCount(bad), 0);
    assert.equal(leafCount(blind), 0);
  });

  const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

  it("nats-server 2.15 hub with TLS, tsnats leaf", { skip }, async () => {
    const lp = await freePort();
    const ref = await startNatsServer([], `leafnodes { listen: "127.0.0.1:${lp}", tls { cert_file: "${cert.cert}", key_file: "${cert.key}", ca_file: "${pki.ca}", verify: true } }\n`, "2.15");
    refs.push(ref);
    const leaf = await startTestServer({ serverName: "RLEAF", leafnodes: { remotes: [remote(`tls://127.0.0.1:${lp}`, leafTls())] } });
    servers.push(leaf);
    await waitUntil(() => leafCount(leaf) === 1, 10_000, "leaf of nats-server over TLS");
    await trafficBoth(`nats://127.0.0.1:${ref.port}`, leaf.url, "ltls.refhub");
  });

  it("tsnats hub with TLS, nats-server 2.15 leaf (also with handshake_first)", { skip }, async () => {
    for (const first of [false, true]) {
      const hub = await startTestServer({ serverName: `HUB${first}`, leafnodes: { port: -1, tls: { ...hubTls(), handshakeFirst: first } } });
      servers.push(hub);
      const port = leafNodesOf(hub.server)?.port;
      const ref = await startNatsServer(
        [],
        `leafnodes { remotes: [ { url: "tls://127.0.0.1:${port}", tls { cert_file: "${cert.cert}", key_file: "${cert.key}", ca_file: "${pki.ca}"${first ? ", handshake_first: true" : ""} } } ] }\n`,
        "2.15",
      );
      refs.push(ref);
      await waitUntil(() => leafCount(hub) === 1, 10_000, "nats-server leaf over TLS");
      await trafficBoth(hub.url, `nats://127.0.0.1:${ref.port}`, `ltls.refleaf.${first}`);
    }
  });

  it("insecure: a leaf connects to a hub whose certificate it cannot verify, tsnats and nats-server 2.15 leaves alike", async () => {
    const hub = await startTestServer({ serverName: "IHUB", leafnodes: { port: -1, tls: { cert: cert.cert, key: cert.key } } });
    servers.push(hub);
    const port = leafNodesOf(hub.server)?.port;
    // Trusting another CA only: without insecure this leaf is "blind" (the test above) and never connects.
    const leaf = await startTestServer({ serverName: "ILEAF", leafnodes: { remotes: [remote(`tls://127.0.0.1:${port}`, { ca: pki.otherCa, insecure: true })] } });
    servers.push(leaf);
    await waitUntil(() => leafCount(leaf) === 1 && leafCount(hub) === 1, 10_000, "insecure leaf over TLS");
    await trafficBoth(hub.url, leaf.url, "ltls.insecure");
    if (skip !== false) return;
    const ref = await startNatsServer([], `leafnodes { remotes: [ { url: "tls://127.0.0.1:${port}", tls { ca_file: "${pki.otherCa}", insecure: true } } ] }\n`, "2.15");
    refs.push(ref);
    await waitUntil(() => leafCount(hub) === 2, 10_000, "insecure nats-server leaf over TLS");
    await trafficBoth(hub.url, `nats://127.0.0.1:${ref.port}`, "ltls.insecure.ref");
  });

  it("leafnodes and remotes read tls blocks", () => {
    const o = optionsFromText(
      `leafnodes { port: -1, tls { cert_file: "${cert.cert}", key_file: "${cert.key}", ca_file: "${pki.ca}", verify: true }, remotes: [ { url: "tls://h:7422", tls { ca_file: "${pki.ca}", handshake_first: true } } ] }`,
    );
    assert.equal(o.leafnodes?.tls?.verify, true);
    assert.equal(o.leafnodes?.remotes[0].tls?.handshakeFirst, true);
    assert.equal(optionsFromText(`leafnodes { remotes: [ { url: "tls://h:7422", tls { insecure: true } } ] }`).leafnodes?.remotes[0].tls?.insecure, true);
    assert.throws(() => optionsFromText(`leafnodes { remotes: [ { url: "tls://h:7422", tls { insecure: 1 } } ] }`), /error parsing tls config, expected 'insecure' to be a boolean/);
    assert.throws(() => optionsFromText(`leafnodes { port: -1, tls { cert_file: "${cert.cert}", key_file: "${cert.key}", verify_and_map: true } }`), /verify_and_map is not supported by tsnats yet for leafnodes/);
  });
});
