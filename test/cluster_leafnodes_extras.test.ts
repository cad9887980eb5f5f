// A leaf node remote's deny_exports and deny_imports, as nats-server applies them: what the
// leaf may not export never reaches the hub (nor does the hub's interest in it count), what it
// may not import is neither asked for nor taken; the hub learns the leaf's deny_imports from its
// CONNECT and does not send them. Leafnode URLs gossiped through routes (a leaf fails over to a
// hub server it was not configured with). Operator mode: a leaf logs in with `.creds`, is bound
// to its user's account, and the account JWT's `leaf` limit holds. tsnats as leaf and as hub,
// each with nats-server 2.15 on the other side too; checked message by message. JetStream
// domains across a leaf connection: each side reaches the other's JetStream with
// jetstream(nc, { domain }), and only its own without one.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { waitForInterest, waitUntil } from "./helpers/cluster.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";
import { AckPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { CapturedLog } from "./helpers/captured_log.js";
import type { LeafRemoteOptions } from "../src/config/options.js";
import { UNLIMITED_ACCOUNT, memoryResolverConfig, newAccount, newOperator, newUser, startFromConfigText } from "./helpers/jwt.js";

function remote(url: string, extra: Partial<LeafRemoteOptions> = {}): LeafRemoteOptions {
  return { urls: [url], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off", ...extra };
}

/**
 * The leaf (denying exports of secret.> and imports of private.>) and the hub each publish on
 * allowed and denied subjects; only the allowed ones arrive on the other side, each once.
 */
async function checkDenies(hubUrl: string, leafUrl: string): Promise<void> {
  const nh = await connect({ servers: hubUrl, reconnect: false });
  const nl = await connect({ servers: leafUrl, reconnect: false });
  const atHub: string[] = [];
  const atLeaf: string[] = [];
  nh.subscribe("secret.>", { callback: (_e, m) => void atHub.push(m.subject) });
  nh.subscribe("public.>", { callback: (_e, m) => void atHub.push(m.subject) });
  nl.subscribe("private.>", { callback: (_e, m) => void atLeaf.push(m.subject) });
  nl.subscribe("ok.>", { callback: (_e, m) => void atLeaf.push(m.subject) });
  await nh.flush();
  await nl.flush();
  await waitForInterest(nl, nh);
  await waitForInterest(nh, nl);
  for (let i = 0; i < 5; i++) {
    nl.publish(`secret.${i}`, "s");
    nl.publish(`public.${i}`, "p");
    nh.publish(`private.${i}`, "x");
    nh.publish(`ok.${i}`, "o");
  }
  await waitUntil(() => atHub.length >= 5 && atLeaf.length >= 5, 5000, "allowed messages");
  // One more round trip both ways: anything denied would have arrived by now.
  await waitForInterest(nl, nh);
  await waitForInterest(nh, nl);
  assert.deepEqual(atHub, [0, 1, 2, 3, 4].map((i) => `public.${i}`));
  assert.deepEqual(atLeaf, [0, 1, 2, 3, 4].map((i) => `ok.${i}`));
  await nh.close();
  await nl.close();
}

describe("leaf node deny_exports and deny_imports", () => {
  const servers: TestServer[] = [];
  const refs: ReferenceServer[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    for (const r of refs) await r.stop().catch(() => undefined);
  });

  it("tsnats leaf and tsnats hub", async () => {
    const hub = await startTestServer({ serverName: "PHUB", leafnodes: { port: -1 } });
    servers.push(hub);
    const leaf = await startTestServer({
      serverName: "PLEAF",
      leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${leafNodesOf(hub.server)?.port}`, { denyExports: ["secret.>"], denyImports: ["private.>"] })] },
    });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "leaf");
    await checkDenies(hub.url, leaf.url);
    // The hub took the leaf's deny_imports from its CONNECT.
    const conn = [...(leafNodesOf(hub.server)?.all ?? [])][0];
    assert.equal(conn.perms?.canPublish("private.x"), false);
    assert.equal(conn.perms?.canPublish("ok.x"), true);
  });

  const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

  it("tsnats leaf, nats-server 2.15 hub", { skip }, async () => {
    const lp = await freePort();
    const ref = await startNatsServer([], `leafnodes { listen: "127.0.0.1:${lp}" }\n`, "2.15");
    refs.push(ref);
    const leaf = await startTestServer({ serverName: "PLEAF2", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${lp}`, { denyExports: ["secret.>"], denyImports: ["private.>"] })] } });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(leaf.server)?.all.size ?? 0) === 1, 10_000, "leaf");
    await checkDenies(`nats://127.0.0.1:${ref.port}`, leaf.url);
  });

  it("nats-server 2.15 leaf with denies, tsnats hub", { skip }, async () => {
    const hub = await startTestServer({ serverName: "PHUB3", leafnodes: { port: -1 } });
    servers.push(hub);
    const ref = await startNatsServer(
      [],
      `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafNodesOf(hub.server)?.port}", deny_exports: ["secret.>"], deny_imports: ["private.>"] } ] }\n`,
      "2.15",
    );
    refs.push(ref);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "leaf");
    await checkDenies(hub.url, `nats://127.0.0.1:${ref.port}`);
  });
});

describe("leafnode URLs gossiped through routes", () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
  });

  it("a leaf learns every hub server's leafnode URL and fails over to another one", async () => {
    const h1 = await startTestServer({ serverName: "GH1", cluster: { name: "GH", port: -1 }, leafnodes: { port: -1 } });
    servers.push(h1);
    const c1 = h1.server.services.find((s) => s.name === "cluster") as unknown as { port: number };
    const h2 = await startTestServer({ serverName: "GH2", cluster: { name: "GH", port: -1, routes: [`nats://127.0.0.1:${c1.port}`] }, leafnodes: { port: -1 } });
    servers.push(h2);
    const p1 = leafNodesOf(h1.server)?.port as number;
    const p2 = leafNodesOf(h2.server)?.port as number;
    const leaf = await startTestServer({ serverName: "GLEAF", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${p1}`)], reconnectMs: 100 } });
    servers.push(leaf);
    const l = leafNodesOf(leaf.server);
    await waitUntil(() => (l?.all.size ?? 0) === 1, 10_000, "leaf connected");
    // h1's INFO (or an update after the route formed) names h2's listener too.
    await waitUntil(() => [...(l?.all ?? [])][0]?.url !== undefined && l !== undefined && JSON.stringify(l.remoteUrls(0)).includes(`:${p2}`), 10_000, "h2's URL learnt");
    const nh2 = await connect({ servers: h2.url, reconnect: false });
    const got: string[] = [];
    nh2.subscribe("fo.x", { callback: (_e, m) => void got.push(m.string()) });
    await nh2.flush();
    await h1.close();
    servers.splice(servers.indexOf(h1), 1);
    // The leaf reconnects to h2, which it was never configured with.
    await waitUntil(() => (leafNodesOf(h2.server)?.all.size ?? 0) === 1, 15_000, "leaf moved to h2");
    const nl = await connect({ servers: leaf.url, reconnect: false });
    await waitForInterest(nl, nh2);
    nl.publish("fo.x", "after failover");
    await waitUntil(() => got.length === 1, 5000, "message through h2");
    assert.deepEqual(got, ["after failover"]);
    await nl.close();
    await nh2.close();
  });
});

describe("leaf nodes in operator (JWT) mode", () => {
  const servers: TestServer[] = [];
  const refs: ReferenceServer[] = [];
  let dir = "";
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    for (const r of refs) await r.stop().catch(() => undefined);
    if (dir !== "") fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a leaf logs in with .creds, is bound to the user's account, and the account's `leaf` limit holds", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-leafjwt-"));
    const op = await newOperator();
    const acc = await newAccount(op, "LEAFACC", { limits: { ...UNLIMITED_ACCOUNT, leaf: 1 } });
    const other = await newAccount(op, "OTHER");
    const leafUser = await newUser(acc, "leaf");
    const client = await newUser(acc, "client");
    const otherClient = await newUser(other, "o");
    const creds = path.join(dir, "leaf.creds");
    fs.writeFileSync(creds, leafUser.creds);
    const hub = await startFromConfigText(memoryResolverConfig(op, [acc, other], "leafnodes { listen: 127.0.0.1:-1 }\n"), { serverName: "JHUB", httpPort: -1 });
    servers.push(hub);
    const port = leafNodesOf(hub.server)?.port as number;
    const leaf1 = await startTestServer({ serverName: "JLEAF1", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${port}`, { credentials: creds })] } });
    servers.push(leaf1);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "leaf logged in");
    const leafz = (await (await fetch(`${hub.monitorUrl}/leafz`)).json()) as { leafs: Array<{ account: string }> };
    assert.equal(leafz.leafs[0].account, acc.pub);
    // Traffic flows in the account, and only there.
    const onHub = await connect({ servers: hub.url, authenticator: jwtAuthenticator(client.jwt, client.seed), reconnect: false });
    const onOther = await connect({ servers: hub.url, authenticator: jwtAuthenticator(otherClient.jwt, otherClient.seed), reconnect: false });
    const onLeaf = await connect({ servers: leaf1.url, reconnect: false });
    const got: string[] = [];
    const gotOther: string[] = [];
    onHub.subscribe("jl.x", { callback: (_e, m) => void got.push(m.string()) });
    onOther.subscribe("jl.x", { callback: (_e, m) => void gotOther.push(m.string()) });
    await waitForInterest(onLeaf, onHub);
    for (let i = 0; i < 5; i++) onLeaf.publish("jl.x", `m${i}`);
    await waitUntil(() => got.length === 5, 5000, "5 messages in the account");
    await waitForInterest(onLeaf, onHub);
    assert.deepEqual(got, ["m0", "m1", "m2", "m3", "m4"]);
    assert.deepEqual(gotOther, []);
    // A second leaf with the same account is over the limit of 1.
    const log2 = new CapturedLog();
    const leaf2 = await startTestServer({ serverName: "JLEAF2", log: log2, leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${port}`, { credentials: creds })], reconnectMs: 200 } });
    servers.push(leaf2);
    await waitUntil(() => log2.has("ERR", /maximum account active connections exceeded/), 10_000, "the hub refuses the second leaf");
    assert.equal(leafNodesOf(hub.server)?.all.size, 1);
    assert.equal(leafNodesOf(leaf2.server)?.all.size ?? 0, 0);
    await Promise.all([onHub, onOther, onLeaf].map((c) => c.close()));
  });

  it("nats-server 2.15 leaf with .creds to a tsnats operator hub, tsnats leaf with .creds to a nats-server operator hub", { skip: referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false }, async () => {
    const op = await newOperator();
    const acc = await newAccount(op, "RACC", { limits: { ...UNLIMITED_ACCOUNT, leaf: 1 } });
    const leafUser = await newUser(acc, "leaf");
    const client = await newUser(acc, "client");
    const creds = path.join(dir, "leaf2.creds");
    fs.writeFileSync(creds, leafUser.creds);
    // nats-server leaf → tsnats hub.
    const hub = await startFromConfigText(memoryResolverConfig(op, [acc], "leafnodes { listen: 127.0.0.1:-1 }\n"), { serverName: "JHUB2" });
    servers.push(hub);
    const ref = await startNatsServer([], `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafNodesOf(hub.server)?.port}", credentials: "${creds}" } ] }\n`, "2.15");
    refs.push(ref);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "nats-server leaf logged in");
    assert.equal([...(leafNodesOf(hub.server)?.all ?? [])][0].account.name, acc.pub);
    const a = await connect({ servers: hub.url, authenticator: jwtAuthenticator(client.jwt, client.seed), reconnect: false });
    const b = await connect({ servers: `nats://127.0.0.1:${ref.port}`, reconnect: false });
    await checkTwoWay(a, b, "jref");
    // tsnats leaf → nats-server hub.
    const lp = await freePort();
    const refHub = await startNatsServer([], memoryResolverConfig(op, [acc], `leafnodes { listen: "127.0.0.1:${lp}" }\n`), "2.15");
    refs.push(refHub);
    const leaf = await startTestServer({ serverName: "JLEAF3", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${lp}`, { credentials: creds })] } });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(leaf.server)?.all.size ?? 0) === 1, 10_000, "leaf of nats-server logged in");
    const c = await connect({ servers: `nats://127.0.0.1:${refHub.port}`, authenticator: jwtAuthenticator(client.jwt, client.seed), reconnect: false });
    const d = await connect({ servers: leaf.url, reconnect: false });
    await checkTwoWay(c, d, "jrefhub");
    await Promise.all([a, b, c, d].map((x) => x.close()));
  });
});

/** Each side subscribes, the other publishes 5 numbered messages: each arrives once, in order. */
async function checkTwoWay(a: NatsConnection, b: NatsConnection, prefix: string): Promise<void> {
  const atA: string[] = [];
  const atB: string[] = [];
  a.subscribe(`${prefix}.a`, { callback: (_e, m) => void atA.push(m.string()) });
  b.subscribe(`${prefix}.b`, { callback: (_e, m) => void atB.push(m.string()) });
  await waitForInterest(b, a);
  await waitForInterest(a, b);
  for (let i = 0; i < 5; i++) {
    b.publish(`${prefix}.a`, `${i}`);
    a.publish(`${prefix}.b`, `${i}`);
  }
  await waitUntil(() => atA.length === 5 && atB.length === 5, 5000, "both ways");
  await waitForInterest(b, a);
  await waitForInterest(a, b);
  assert.deepEqual(atA, ["0", "1", "2", "3", "4"]);
  assert.deepEqual(atB, ["0", "1", "2", "3", "4"]);
}

describe("JetStream domains across a leaf connection", () => {
  const servers: TestServer[] = [];
  const refs: ReferenceServer[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    for (const s of servers) await s.close().catch(() => undefined);
    for (const r of refs) await r.stop().catch(() => undefined);
  });

  /**
   * Clients on the hub (`nh`) and on the leaf (`nl`) each create a stream in the other's domain,
   * publish to it and consume it; without a domain each reaches its own JetStream only.
   */
  async function crossDomains(nh: NatsConnection, nl: NatsConnection, tag: string): Promise<void> {
    // Each side's own JetStream, without a domain.
    const ownHub = await jetstreamManager(nh);
    const ownLeaf = await jetstreamManager(nl);
    assert.equal((await ownHub.getAccountInfo()).domain, "hub");
    assert.equal((await ownLeaf.getAccountInfo()).domain, "leaf");
    for (const [c, domain, name, other] of [
      [nl, "hub", `H${tag}`, ownHub],
      [nh, "leaf", `L${tag}`, ownLeaf],
    ] as const) {
      const jsm = await jetstreamManager(c, { domain });
      assert.equal((await jsm.getAccountInfo()).domain, domain);
      await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], storage: StorageType.Memory });
      // The stream lives in the other domain: its own JetStream (no domain) has it.
      assert.equal((await other.streams.info(name)).config.name, name);
      const js = jetstream(c, { domain });
      for (let i = 0; i < 10; i++) {
        const ack = await js.publish(`${name.toLowerCase()}.x`, `${i}`);
        assert.equal(ack.stream, name);
        assert.equal(ack.seq, i + 1);
        assert.equal(ack.domain, domain);
      }
      await jsm.consumers.add(name, { durable_name: "d", ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get(name, "d");
      const iter = await consumer.fetch({ max_messages: 10, expires: 3000 });
      const got: string[] = [];
      for await (const m of iter) {
        got.push(m.string());
        m.ack();
      }
      assert.deepEqual(got, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
      for (let i = 0; i < 50; i++) {
        if ((await jsm.consumers.info(name, "d")).num_ack_pending === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal((await jsm.consumers.info(name, "d")).num_ack_pending, 0);
    }
    // The domains stay apart: neither side's own JetStream has the other's stream.
    await assert.rejects(ownLeaf.streams.info(`H${tag}`), /stream not found/);
    await assert.rejects(ownHub.streams.info(`L${tag}`), /stream not found/);
  }

  it("tsnats hub (domain hub) and tsnats leaf (domain leaf)", async () => {
    const hub = await startTestServer({ serverName: "DHUB", jetstream: { domain: "hub" }, leafnodes: { port: -1 } });
    servers.push(hub);
    const leaf = await startTestServer({ serverName: "DLEAF", jetstream: { domain: "leaf" }, leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${leafNodesOf(hub.server)?.port}`)] } });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "leaf");
    const nh = await connect({ servers: hub.url, reconnect: false });
    const nl = await connect({ servers: leaf.url, reconnect: false });
    conns.push(nh, nl);
    await waitForInterest(nl, nh);
    await crossDomains(nh, nl, "ts");
  });

  const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

  it("nats-server 2.15 hub (domain hub) and tsnats leaf (domain leaf), and the reverse", { skip }, async () => {
    const lp = await freePort();
    const ref = await startNatsServer(["-js"], `jetstream { domain: hub }\nleafnodes { listen: "127.0.0.1:${lp}" }\n`, "2.15");
    refs.push(ref);
    const leaf = await startTestServer({ serverName: "DLEAF2", jetstream: { domain: "leaf" }, leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${lp}`)] } });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(leaf.server)?.all.size ?? 0) === 1, 10_000, "leaf");
    const nh = await connect({ servers: `nats://127.0.0.1:${ref.port}`, reconnect: false });
    const nl = await connect({ servers: leaf.url, reconnect: false });
    conns.push(nh, nl);
    await waitForInterest(nl, nh);
    await crossDomains(nh, nl, "refhub");

    const hub = await startTestServer({ serverName: "DHUB3", jetstream: { domain: "hub" }, leafnodes: { port: -1 } });
    servers.push(hub);
    const ref2 = await startNatsServer(
      ["-js", "-sd", fs.mkdtempSync(path.join(os.tmpdir(), "js-dom-"))],
      `jetstream { domain: leaf }\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafNodesOf(hub.server)?.port}" } ] }\n`,
      "2.15",
    );
    refs.push(ref2);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "nats-server leaf");
    const nh2 = await connect({ servers: hub.url, reconnect: false });
    const nl2 = await connect({ servers: `nats://127.0.0.1:${ref2.port}`, reconnect: false });
    conns.push(nh2, nl2);
    await waitForInterest(nl2, nh2);
    await crossDomains(nh2, nl2, "refleaf");
  });
});

describe("JetStream deliveries to clients of another server (route, gateway)", () => {
  const servers: TestServer[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    for (const s of servers) await s.close().catch(() => undefined);
  });

  /** Stream on the JetStream server, client elsewhere: pull and push consumers see each message's own subject, acks count. */
  async function consumeRemotely(nc: NatsConnection, tag: string): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: tag, subjects: [`${tag}.>`], storage: StorageType.Memory });
    const js = jetstream(nc);
    for (let i = 0; i < 6; i++) await js.publish(`${tag}.s${i % 3}`, `${i}`);
    await jsm.consumers.add(tag, { durable_name: "pull", ack_policy: AckPolicy.Explicit });
    const got: string[] = [];
    for await (const m of await (await js.consumers.get(tag, "pull")).fetch({ max_messages: 6, expires: 3000 })) {
      got.push(`${m.subject}:${m.string()}`);
      m.ack();
    }
    assert.deepEqual(got, ["s0:0", "s1:1", "s2:2", "s0:3", "s1:4", "s2:5"].map((x) => `${tag}.${x}`));
    for (let i = 0; i < 50 && (await jsm.consumers.info(tag, "pull")).num_ack_pending > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await jsm.consumers.info(tag, "pull")).num_ack_pending, 0);
    // A push consumer delivering to a subject subscribed here.
    const pushed: string[] = [];
    const sub = nc.subscribe(`deliver.${tag}`, { callback: (_e, m) => void pushed.push(`${m.subject}:${m.string()}`) });
    await nc.flush();
    await jsm.consumers.add(tag, { durable_name: "push", deliver_subject: `deliver.${tag}`, ack_policy: AckPolicy.None });
    await waitUntil(() => pushed.length >= 6, 10_000, "pushed messages");
    sub.unsubscribe();
    assert.deepEqual(pushed, ["s0:0", "s1:1", "s2:2", "s0:3", "s1:4", "s2:5"].map((x) => `${tag}.${x}`));
  }

  it("over a route", async () => {
    const a = await startTestServer({ serverName: "JRA", jetstream: true, cluster: { name: "JR", port: -1 } });
    servers.push(a);
    const ca = a.server.services.find((s) => s.name === "cluster") as unknown as { port: number };
    const b = await startTestServer({ serverName: "JRB", cluster: { name: "JR", port: -1, routes: [`nats://127.0.0.1:${ca.port}`] } });
    servers.push(b);
    const probe = await connect({ servers: a.url, reconnect: false });
    const nb = await connect({ servers: b.url, reconnect: false });
    conns.push(probe, nb);
    await waitForInterest(nb, probe);
    await consumeRemotely(nb, "jroute");
  });

  it("over a gateway", async () => {
    const a = await startTestServer({ serverName: "JGA", jetstream: true, gateway: { name: "JGA", port: -1, solicitDelayMs: 50 } });
    servers.push(a);
    const ga = a.server.services.find((s) => s.name === "gateways") as unknown as { port: number };
    const b = await startTestServer({ serverName: "JGB", gateway: { name: "JGB", port: -1, solicitDelayMs: 50, gateways: [{ name: "JGA", urls: [`nats://127.0.0.1:${ga.port}`] }] } });
    servers.push(b);
    const probe = await connect({ servers: a.url, reconnect: false });
    const nb = await connect({ servers: b.url, reconnect: false });
    conns.push(probe, nb);
    await waitForInterest(nb, probe, 15_000);
    await consumeRemotely(nb, "jgw");
  });
});
