// Leaf nodes: tsnats as hub and as leaf, with tsnats and with nats-server 2.15 and 2.9.10 on the
// other side; messages both ways (plain, headers, request/reply, queue groups with one member
// per message across hub and leaf), account binding, a leaf reaching a hub cluster's other
// server over routes, and loop detection.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, checkQueueGroup, waitForInterest, waitUntil } from "./helpers/cluster.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceLine, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";
import type { LeafRemoteOptions } from "../src/config/options.js";

function remote(url: string, extra: Partial<LeafRemoteOptions> = {}): LeafRemoteOptions {
  return { urls: [url], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off", ...extra };
}

function leafPort(ts: TestServer): number {
  const l = leafNodesOf(ts.server);
  if (l === undefined) throw new Error("no leafnodes");
  return l.port;
}

async function waitLeafs(ts: TestServer, n: number): Promise<void> {
  await waitUntil(() => (leafNodesOf(ts.server)?.all.size ?? 0) === n, 10_000, `${n} leaf connection(s)`);
}

async function startRefWithRetry(args: (port: number) => string[], conf: (port: number) => string, line: ReferenceLine): Promise<{ ref: ReferenceServer; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const p = await freePort();
    try {
      return { ref: await startNatsServer(args(p), conf(p), line, [p]), port: p };
    } catch (err) {
      if (attempt < 5 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
  }
}

describe("leaf nodes between tsnats servers", () => {
  const servers: TestServer[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    for (const s of servers) await s.close().catch(() => undefined);
  });

  it("a leaf and its hub exchange messages both ways, with queue groups spanning both", async () => {
    const hub = await startTestServer({ serverName: "HUB", httpPort: -1, leafnodes: { port: -1 } });
    servers.push(hub);
    const leaf = await startTestServer({ serverName: "LEAF", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${leafPort(hub)}`)] } });
    servers.push(leaf);
    await waitLeafs(hub, 1);
    await waitLeafs(leaf, 1);
    const nh = await connect({ servers: hub.url });
    const nl = await connect({ servers: leaf.url });
    conns.push(nh, nl);
    await checkAllToAll([nh, nl], "leaf.all", 50);
    const per = await checkQueueGroup([nh, nl], "leaf.queue", 50);
    assert.equal(per[0] + per[1], 100);
    // Request/reply from the leaf to a service on the hub and back.
    nh.subscribe("leaf.svc", { callback: (_e, m) => void m.respond(`hub:${m.string()}`) });
    await waitForInterest(nl, nh);
    assert.equal((await nl.request("leaf.svc", "q", { timeout: 2000 })).string(), "hub:q");
    // /leafz and /varz on the hub.
    const leafz = (await (await fetch(`${hub.monitorUrl}/leafz`)).json()) as { leafnodes: number; leafs: Array<Record<string, unknown>> };
    assert.equal(leafz.leafnodes, 1);
    assert.equal(leafz.leafs[0].name, "LEAF");
    assert.equal(leafz.leafs[0].is_spoke, false);
    assert.equal(leafz.leafs[0].account, "$G");
    assert.ok((leafz.leafs[0].in_msgs as number) > 0);
    const varz = (await (await fetch(`${hub.monitorUrl}/varz`)).json()) as { leafnodes: number; leaf: { port: number } };
    assert.equal(varz.leafnodes, 1);
    assert.equal(varz.leaf.port, leafPort(hub));
  });

  it("a leaf is bound to the account of the user it logs in as", async () => {
    const hub = await startTestServer({
      serverName: "AHUB",
      accounts: [
        { name: "A", users: [{ user: "a", password: "a" }] },
        { name: "B", users: [{ user: "b", password: "b" }] },
      ],
      leafnodes: { port: -1, users: [{ user: "leafa", password: "pa", account: "A" }] },
    });
    servers.push(hub);
    const leaf = await startTestServer({ serverName: "ALEAF", leafnodes: { remotes: [remote(`nats-leaf://leafa:pa@127.0.0.1:${leafPort(hub)}`)] } });
    servers.push(leaf);
    await waitLeafs(hub, 1);
    assert.equal([...(leafNodesOf(hub.server)?.all ?? [])][0].account.name, "A");
    const inA = await connect({ servers: hub.url, user: "a", pass: "a" });
    const inB = await connect({ servers: hub.url, user: "b", pass: "b" });
    const nl = await connect({ servers: leaf.url });
    conns.push(inA, inB, nl);
    const gotA: string[] = [];
    const gotB: string[] = [];
    inA.subscribe("bound", { callback: (_e, m) => void gotA.push(m.string()) });
    inB.subscribe("bound", { callback: (_e, m) => void gotB.push(m.string()) });
    await waitForInterest(nl, inA);
    nl.publish("bound", "x");
    await waitUntil(() => gotA.length === 1, 5000, "the message in account A");
    await nl.flush();
    await inB.flush();
    assert.deepEqual(gotB, []);
    // A wrong password is refused.
    const log = new CapturedLog();
    const bad = await startTestServer({ serverName: "BADLEAF", log, leafnodes: { remotes: [remote(`nats-leaf://leafa:nope@127.0.0.1:${leafPort(hub)}`)] } });
    servers.push(bad);
    await waitUntil(() => log.has("ERR", /Authorization Violation/), 10_000, "the hub's refusal");
    assert.equal(leafNodesOf(hub.server)?.all.size, 1);
  });

  it("a leaf reaches the other server of its hub's cluster over routes", async () => {
    const h1 = await startTestServer({ serverName: "H1", cluster: { name: "HC", port: -1 }, leafnodes: { port: -1 } });
    servers.push(h1);
    const { clusterOf } = await import("./helpers/cluster.js");
    const h2 = await startTestServer({ serverName: "H2", cluster: { name: "HC", port: -1, routes: [`nats://127.0.0.1:${clusterOf(h1).port}`] } });
    servers.push(h2);
    await waitUntil(() => clusterOf(h1).numPeers === 1 && clusterOf(h2).numPeers === 1, 10_000, "hub cluster");
    const leaf = await startTestServer({ serverName: "L", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${leafPort(h1)}`)] } });
    servers.push(leaf);
    await waitLeafs(h1, 1);
    const n2 = await connect({ servers: h2.url });
    const nl = await connect({ servers: leaf.url });
    conns.push(n2, nl);
    await checkAllToAll([n2, nl], "via.route", 40);
  });

  it("a loop of leaf connections is detected and refused", async () => {
    const logA = new CapturedLog();
    const logB = new CapturedLog();
    const pa = await freePort();
    const pb = await freePort();
    const a = await startTestServer({ serverName: "LA", log: logA, leafnodes: { port: pa, remotes: [remote(`nats-leaf://127.0.0.1:${pb}`)] } });
    servers.push(a);
    const b = await startTestServer({ serverName: "LB", log: logB, leafnodes: { port: pb, remotes: [remote(`nats-leaf://127.0.0.1:${pa}`)] } });
    servers.push(b);
    await waitUntil(() => logA.has("ERR", /Loop detected for leafnode account="\$G"/) || logB.has("ERR", /Loop detected for leafnode account="\$G"/), 10_000, "loop detection");
  });
});

for (const line of ["2.15", "2.9"] as ReferenceLine[]) {
  const skip = referenceBinary(line) === undefined ? `nats-server ${line} not available` : false;
  describe(`leaf nodes interop with nats-server ${line}`, { skip }, () => {
    const servers: TestServer[] = [];
    const refs: ReferenceServer[] = [];
    const conns: NatsConnection[] = [];
    after(async () => {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      for (const s of servers) await s.close().catch(() => undefined);
      for (const r of refs) await r.stop();
    });

    it("tsnats hub, nats-server leaf", async () => {
      const hub = await startTestServer({ serverName: "TSHUB", leafnodes: { port: -1 } });
      servers.push(hub);
      const ref = await startNatsServer(["-n", "REFLEAF"], `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort(hub)}" } ] }\n`, line);
      refs.push(ref);
      await waitLeafs(hub, 1);
      const nh = await connect({ servers: hub.url });
      const nl = await connect({ servers: `127.0.0.1:${ref.port}` });
      conns.push(nh, nl);
      await checkAllToAll([nh, nl], "ref.leaf.all", 50);
      const per = await checkQueueGroup([nh, nl], "ref.leaf.queue", 50);
      assert.equal(per[0] + per[1], 100);
    });

    it("nats-server hub, tsnats leaf", async () => {
      const { ref, port } = await startRefWithRetry(() => ["-n", "REFHUB"], (p) => `leafnodes { port: ${p} }\n`, line);
      refs.push(ref);
      const leaf = await startTestServer({ serverName: "TSLEAF", leafnodes: { remotes: [remote(`nats-leaf://127.0.0.1:${port}`)] } });
      servers.push(leaf);
      await waitLeafs(leaf, 1);
      const nh = await connect({ servers: `127.0.0.1:${ref.port}` });
      const nl = await connect({ servers: leaf.url });
      conns.push(nh, nl);
      await checkAllToAll([nh, nl], "ts.leaf.all", 50);
      const per = await checkQueueGroup([nh, nl], "ts.leaf.queue", 50);
      assert.equal(per[0] + per[1], 100);
      nh.subscribe("ts.leaf.svc", { callback: (_e, m) => void m.respond(`hub:${m.string()}`) });
      await waitForInterest(nl, nh);
      assert.equal((await nl.request("ts.leaf.svc", "q", { timeout: 2000 })).string(), "hub:q");
    });
  });
}
