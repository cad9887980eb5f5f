// Routes between tsnats servers: a full mesh from one seed URL, every message delivered once
// to every subscriber across the cluster, queue groups with one member per message
// cluster-wide, request/reply and no-responders across routes, account isolation, interest
// withdrawn on unsubscribe, duplicate routes, cluster names and cluster authorization.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  checkAccountIsolation,
  checkAllToAll,
  checkQueueGroup,
  clusterOf,
  connectTo,
  startTsMember,
  stopAll,
  waitForInterest,
  waitForMesh,
  waitUntil,
  type Member,
} from "./helpers/cluster.js";
import { startNatsServer, freePort, referenceBinary } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";
import { hasOpenssl, makePki, signLeaf, type Pki } from "./helpers/pki.js";
import fs from "node:fs";

describe("routes: a tsnats cluster of three", () => {
  const members: Member[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
  });

  it("forms a full mesh from one seed URL (gossip) and tells clients every server's URL", async () => {
    const a = await startTsMember("A", "C3", []);
    members.push(a);
    members.push(await startTsMember("B", "C3", [a.routeUrl]));
    members.push(await startTsMember("C", "C3", [a.routeUrl]));
    await waitForMesh(members);
    for (const m of members) conns.push(await connectTo(m));
    // connect_urls of the async INFO: clients learn every member's client URL.
    const urls = members.map((m) => new URL(m.clientUrl).host).sort();
    const ts = (members[0] as Member & { ts: TestServer }).ts;
    await waitUntil(() => (ts.server.connectUrls ?? []).length === 3, 5000, "connect_urls of 3 servers");
    assert.deepEqual([...(ts.server.connectUrls ?? [])].sort(), urls);
    const servers = () => (conns[0] as unknown as { protocol: { servers: { getServers(): Array<{ listen: string }> } } }).protocol.servers.getServers().map((s) => s.listen);
    await waitUntil(() => servers().length === 3, 5000, "the client to learn the other servers");
  });

  it("delivers every message once, in order, to every subscriber on every server (headers kept)", async () => {
    await checkAllToAll(conns, "all.to.all", 100);
  });

  it("queue groups: one member per message across the cluster, each server taking its share", async () => {
    const perServer = await checkQueueGroup(conns, "work.items", 100);
    assert.ok(perServer.every((n) => n > 0), `every server's members got messages: ${perServer.join(",")}`);
  });

  it("request/reply across routes, with headers, and no-responders once interest is gone", async () => {
    const [a, b, c] = conns;
    const svc = c.subscribe("svc.echo", {
      callback: (_e, m) => {
        const h = headers();
        h.set("X-From", "C");
        m.respond(`echo:${m.string()}:${m.headers?.get("X-Req") ?? ""}`, { headers: h });
      },
    });
    await c.flush();
    await waitForInterest(a, c);
    await waitForInterest(b, c);
    for (const requester of [a, b]) {
      const h = headers();
      h.set("X-Req", "r1");
      const r = await requester.request("svc.echo", "hi", { timeout: 2000, headers: h });
      assert.equal(r.string(), "echo:hi:r1");
      assert.equal(r.headers?.get("X-From"), "C");
    }
    svc.unsubscribe();
    await c.flush();
    // The RS- reaches A: a request now fails at once with no responders (503), not a timeout.
    const started = Date.now();
    for (;;) {
      try {
        await a.request("svc.echo", "x", { timeout: 1000 });
      } catch (err) {
        if (/503|no responders/i.test(String((err as Error).message) + String((err as { code?: string }).code))) break;
        throw err;
      }
      assert.ok(Date.now() - started < 5000, "interest withdrawn within 5s");
    }
    // And a subject nobody in the cluster listens to answers 503 right away.
    await assert.rejects(b.request("nobody.here", "x", { timeout: 2000 }), (e: Error & { code?: string }) => /503/.test(String(e.code)) || /no responders/i.test(e.message));
  });
});

describe("routes: accounts are isolated across the cluster", () => {
  const members: Member[] = [];
  after(() => stopAll(members));

  it("a message stays in its account on every server", async () => {
    const accounts = [
      { name: "A", users: [{ user: "a", password: "a" }] },
      { name: "B", users: [{ user: "b", password: "b" }] },
    ];
    const s1 = await startTsMember("S1", "ACC", [], { accounts });
    members.push(s1);
    const s2 = await startTsMember("S2", "ACC", [s1.routeUrl], { accounts });
    members.push(s2);
    await waitForMesh(members);
    await checkAccountIsolation(s1, s2, "shared.subject", 1);
  });
});

describe("routes: handshake rules", () => {
  const toStop: Array<{ stop(): Promise<void> } | undefined> = [];
  after(() => stopAll(toStop as Member[]));

  it("two servers routing to each other keep one pool and deliver once", async () => {
    const p1 = await freePort();
    const p2 = await freePort();
    const a = await startTestServer({ serverName: "DA", cluster: { name: "D", port: p1, routes: [`nats://127.0.0.1:${p2}`] } });
    toStop.push({ stop: () => a.close() });
    const b = await startTestServer({ serverName: "DB", cluster: { name: "D", port: p2, routes: [`nats://127.0.0.1:${p1}`] } });
    toStop.push({ stop: () => b.close() });
    const ca = clusterOf(a);
    const cb = clusterOf(b);
    // Pool of 3 plus the system account's pinned route, on each side, after duplicates are closed.
    await waitUntil(() => ca.all.size === 4 && cb.all.size === 4 && ca.numPeers === 1 && cb.numPeers === 1, 15_000, "one pool per peer");
    const na = await connect({ servers: a.url });
    const nb = await connect({ servers: b.url });
    const got: string[] = [];
    nb.subscribe("dup.check", { callback: (_e, m) => void got.push(m.string()) });
    await waitForInterest(na, nb);
    for (let i = 0; i < 20; i++) na.publish("dup.check", String(i));
    await waitUntil(() => got.length >= 20, 5000, "20 messages");
    await na.flush();
    await nb.flush();
    assert.equal(got.length, 20);
    await na.close();
    await nb.close();
  });

  it("a route to itself is dropped; a cluster name mismatch is refused", async () => {
    const p = await freePort();
    const self = await startTestServer({ serverName: "SELF", cluster: { name: "X", port: p, routes: [`nats://127.0.0.1:${p}`] } });
    toStop.push({ stop: () => self.close() });
    const other = await startTestServer({ serverName: "OTHER", cluster: { name: "Y", port: -1, routes: [`nats://127.0.0.1:${p}`] } });
    toStop.push({ stop: () => other.close() });
    // Give both time to try: neither keeps a route.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(clusterOf(self).numPeers, 0);
    assert.equal(clusterOf(other).numPeers, 0);
  });

  it("a client connecting to the route port is told, as by nats-server", async () => {
    const ts = await startTestServer({ cluster: { name: "R", port: -1 } });
    toStop.push({ stop: () => ts.close() });
    const port = clusterOf(ts).port;
    const text = await clientOnRoutePort(port);
    assert.match(text, /-ERR 'attempted to connect to route port'/);
    const bin = referenceBinary("2.15");
    if (bin !== undefined) {
      const cport = await freePort();
      const ref = await startNatsServer(["--cluster", `nats://127.0.0.1:${cport}`], undefined, "2.15", [cport]);
      toStop.push(ref);
      assert.equal(errLine(await clientOnRoutePort(cport)), errLine(text));
    }
  });

  it("cluster authorization: a route needs the cluster user and password", async () => {
    const a = await startTestServer({ serverName: "AUTHA", cluster: { name: "AU", port: -1, username: "ru", password: "rp" } });
    toStop.push({ stop: () => a.close() });
    const port = clusterOf(a).port;
    const bad = await startTestServer({ serverName: "AUTHBAD", cluster: { name: "AU", port: -1, routes: [`nats://ru:wrong@127.0.0.1:${port}`] } });
    toStop.push({ stop: () => bad.close() });
    const good = await startTestServer({ serverName: "AUTHGOOD", cluster: { name: "AU", port: -1, routes: [`nats://ru:rp@127.0.0.1:${port}`] } });
    toStop.push({ stop: () => good.close() });
    await waitUntil(() => clusterOf(good).numPeers === 1 && clusterOf(a).numPeers === 1, 10_000, "the good route");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(clusterOf(bad).numPeers, 0);
    assert.equal(clusterOf(a).numPeers, 1);
  });
});

/** Send a client CONNECT to a route port; returns what the server answered. */
async function clientOnRoutePort(port: number): Promise<string> {
  const raw = await RawConn.connect(port);
  raw.send('CONNECT {"verbose":false,"lang":"node","version":"1.0.0"}\r\nPING\r\n');
  await raw.waitFor(/-ERR/, 5000, true).catch(() => undefined);
  const text = raw.text();
  raw.close();
  return text;
}

function errLine(text: string): string {
  return /-ERR [^\r\n]*/.exec(text)?.[0] ?? "";
}

describe("routes over TLS", { skip: hasOpenssl ? false : "openssl not available" }, () => {
  const toStop: Array<{ stop(): Promise<void> } | undefined> = [];
  let pki: Pki | undefined;
  after(async () => {
    await stopAll(toStop as Member[]);
    if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  it("routes with mutual TLS (tsnats and nats-server), and a server without the CA's certificate is refused", async () => {
    pki = makePki();
    const route = signLeaf(pki.dir, "main", "route", "/CN=route", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const stranger = signLeaf(pki.dir, "other", "stranger", "/CN=stranger", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const tls = { cert: route.cert, key: route.key, ca: pki.ca, verify: true };
    const a = await startTsMember("TA", "TLS", [], { cluster: { name: "TLS", port: -1, tls } });
    toStop.push(a);
    const b = await startTsMember("TB", "TLS", [a.routeUrl], { cluster: { name: "TLS", port: -1, routes: [a.routeUrl], tls } });
    toStop.push(b);
    const members: Member[] = [a, b];
    if (referenceBinary("2.15") !== undefined) {
      const conf = `cluster { tls { cert_file: "${route.cert}", key_file: "${route.key}", ca_file: "${pki.ca}", verify: true } }\n`;
      const { startRefMember } = await import("./helpers/cluster.js");
      const r = await startRefMember("2.15", "TREF", "TLS", [a.routeUrl], conf);
      toStop.push(r);
      members.push(r);
    }
    await waitForMesh(members);
    const conns = await Promise.all(members.map((m) => connectTo(m)));
    await checkAllToAll(conns, "tls.all", 20);
    await Promise.all(conns.map((c) => c.close()));
    const bad = await startTsMember("TBAD", "TLS", [a.routeUrl], {
      cluster: { name: "TLS", port: -1, routes: [a.routeUrl], tls: { cert: stranger.cert, key: stranger.key, ca: pki.otherCa, verify: true } },
    });
    toStop.push(bad);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(clusterOf((bad as Member & { ts: TestServer }).ts).numPeers, 0);
  });
});
