// A leaf node remote's deny_exports and deny_imports, as nats-server applies them: what the
// leaf may not export never reaches the hub (nor does the hub's interest in it count), what it
// may not import is neither asked for nor taken; the hub learns the leaf's deny_imports from its
// CONNECT and does not send them. tsnats as leaf and as hub, each with nats-server 2.15 on the
// other side too; checked message by message.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { waitForInterest, waitUntil } from "./helpers/cluster.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";
import type { LeafRemoteOptions } from "../src/config/options.js";

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
