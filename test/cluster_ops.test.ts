// Operating a cluster: /routez and /varz with nats-server's fields, route metrics,
// $SYS.REQ.SERVER.PING answered by every server (system traffic over routes, also with
// nats-server in the cluster), lame duck mode handing clients to peers, the ports file, and
// reload of routes and of the cluster authorization.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  clusterOf,
  connectTo,
  startRefMember,
  startTsMember,
  stopAll,
  tempDir,
  waitForInterest,
  waitForMesh,
  waitUntil,
  type Member,
} from "./helpers/cluster.js";
import { referenceBinary } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

async function getJson(port: number, p: string): Promise<Record<string, unknown>> {
  const r = await fetch(`http://127.0.0.1:${port}${p}`);
  return (await r.json()) as Record<string, unknown>;
}

const SYS_CONF = `accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  APP: { users: [{ user: app, password: app }] }
}
system_account: SYS
`;
const SYS_ACCOUNTS = [
  { name: "SYS", users: [{ user: "sys", password: "sys" }] },
  { name: "APP", users: [{ user: "app", password: "app" }] },
];

/** Ask $SYS.REQ.SERVER.PING and collect the answers that arrive within `ms`. */
async function pingServers(nc: NatsConnection, ms = 1500): Promise<Array<Record<string, unknown>>> {
  const inbox = `_INBOX.ping.${Date.now()}`;
  const got: Array<Record<string, unknown>> = [];
  const sub = nc.subscribe(inbox, { callback: (_e, m) => void got.push(m.json<Record<string, unknown>>()) });
  nc.publish("$SYS.REQ.SERVER.PING", "", { reply: inbox });
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  return got;
}

describe("cluster monitoring", () => {
  const members: Member[] = [];
  after(() => stopAll(members));

  it("/routez, /varz and /metrics describe the routes with nats-server's fields", async () => {
    const a = await startTsMember("MA", "MON", []);
    members.push(a);
    const b = await startTsMember("MB", "MON", [a.routeUrl]);
    members.push(b);
    await waitForMesh(members);
    const nb = await connectTo(b);
    nb.subscribe("mon.sub");
    const na = await connectTo(a);
    await waitForInterest(na, nb);
    na.publish("mon.sub", "x");
    await na.flush();
    await waitUntil(() => [...clusterOf((a as { ts: TestServer }).ts).all].some((r) => r.rttMs > 0), 5000, "a measured RTT");

    const rz = await getJson(a.monitorPort, "/routez?subs=1");
    assert.equal(rz.server_name, "MA");
    assert.equal(rz.num_routes, 4); // pool of 3 + the system account's route
    const routes = rz.routes as Array<Record<string, unknown>>;
    assert.ok(routes.every((r) => r.remote_name === "MB" && r.compression === "off"));
    assert.equal(routes.filter((r) => r.account === "$SYS").length, 1);
    assert.ok(routes.some((r) => (r.subscriptions_list as string[] | undefined)?.includes("mon.sub")), "the peer's interest is listed");
    const withMsgs = routes.find((r) => (r.out_msgs as number) > 0);
    assert.ok(withMsgs !== undefined, "a route counted the message");
    const detail = await getJson(a.monitorPort, "/routez?subs=detail");
    const d = (detail.routes as Array<Record<string, unknown>>).flatMap((r) => (r.subscriptions_list_detail as Array<Record<string, unknown>>) ?? []);
    assert.ok(d.some((x) => x.subject === "mon.sub" && x.account === "$G"));

    const vz = await getJson(a.monitorPort, "/varz");
    assert.equal(vz.routes, 4);
    assert.equal(vz.remotes, 1);
    const cl = vz.cluster as Record<string, unknown>;
    assert.equal(cl.name, "MON");
    assert.equal(cl.pool_size, 3);
    assert.equal(cl.cluster_port, clusterOf((a as { ts: TestServer }).ts).port);
    assert.equal((vz.connect_urls as string[]).length, 2);

    const metrics = await (await fetch(`http://127.0.0.1:${a.monitorPort}/metrics`)).text();
    assert.match(metrics, /^nats_server_routes 4$/m);
    assert.match(metrics, /^nats_server_route_peers 1$/m);
    assert.match(metrics, /^nats_route_out_msgs_total\{rid="\d+",remote_name="MB",account=""\} [1-9]\d*$/m);

    // The same keys as nats-server's /routez route entries and /varz cluster block.
    if (referenceBinary("2.15") !== undefined) {
      const r1 = await startRefMember("2.15", "R1", "REFMON", []);
      members.push(r1);
      const r2 = await startRefMember("2.15", "R2", "REFMON", [r1.routeUrl]);
      members.push(r2);
      await waitForMesh([r1, r2]);
      const ref = await getJson(r1.monitorPort, "/routez");
      assert.deepEqual(Object.keys(ref).sort(), Object.keys(rz).sort());
      const refRoute = (ref.routes as Array<Record<string, unknown>>).find((r) => r.account === undefined) as Record<string, unknown>;
      const ours = routes.find((r) => r.account === undefined) as Record<string, unknown>;
      delete ours.subscriptions_list;
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(refRoute).filter((k) => k !== "rtt" || ours.rtt !== undefined).sort());
      const refVz = await getJson(r1.monitorPort, "/varz");
      assert.deepEqual(Object.keys(cl).sort(), Object.keys(refVz.cluster as object).sort());
    }
    await na.close();
    await nb.close();
  });
});

describe("cluster: system account traffic over routes", () => {
  const members: Member[] = [];
  after(() => stopAll(members));

  it("$SYS.REQ.SERVER.PING is answered by every server of the cluster", async () => {
    const a = await startTsMember("PA", "PING", [], { accounts: SYS_ACCOUNTS, systemAccount: "SYS" });
    members.push(a);
    members.push(await startTsMember("PB", "PING", [a.routeUrl], { accounts: SYS_ACCOUNTS, systemAccount: "SYS" }));
    members.push(await startTsMember("PC", "PING", [a.routeUrl], { accounts: SYS_ACCOUNTS, systemAccount: "SYS" }));
    const withRef = referenceBinary("2.15") !== undefined;
    if (withRef) members.push(await startRefMember("2.15", "PREF", "PING", [a.routeUrl], SYS_CONF));
    await waitForMesh(members);
    const nc = await connectTo(members[1], { user: "sys", pass: "sys" });
    const want = members.map((m) => m.name).sort();
    let names: string[] = [];
    for (let i = 0; i < 20 && JSON.stringify(names) !== JSON.stringify(want); i++) {
      const answers = await pingServers(nc, 700);
      names = answers.map((x) => (x.server as Record<string, unknown>).name as string).sort();
    }
    assert.deepEqual(names, want);
    // Every answer names the cluster; tsnats' statsz counts the cluster's servers and lists its routes.
    const answers = await pingServers(nc, 700);
    for (const x of answers) assert.equal((x.server as Record<string, unknown>).cluster, "PING");
    const ours = answers.find((x) => (x.server as Record<string, unknown>).name === "PA") as Record<string, Record<string, unknown>>;
    assert.equal(ours.statsz.active_servers, members.length);
    assert.ok(Array.isArray(ours.statsz.routes) && (ours.statsz.routes as unknown[]).length > 0);
    await nc.close();
  });
});

describe("cluster: lame duck mode", () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
  });

  it("peers stop offering the server, its clients get the peers' URLs and move there", async () => {
    const a = await startTestServer({ serverName: "LA", lameDuckDurationMs: 1500, lameDuckGracePeriodMs: 200, cluster: { name: "LDM", port: -1 } });
    servers.push(a);
    const b = await startTestServer({ serverName: "LB", cluster: { name: "LDM", port: -1, routes: [`nats://127.0.0.1:${clusterOf(a).port}`] } });
    servers.push(b);
    await waitUntil(() => clusterOf(a).numPeers === 1 && clusterOf(b).numPeers === 1, 10_000, "route");
    await waitUntil(() => (b.server.connectUrls ?? []).length === 2, 5000, "B offers both servers");
    // The client only knows A; it learns B from A's INFO.
    const nc = await connect({ servers: a.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    let ldm = false;
    let reconnected = false;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "ldm") ldm = true;
        if (s.type === "reconnect") reconnected = true;
      }
    })();
    const got: string[] = [];
    nc.subscribe("after.ldm", { callback: (_e, m) => void got.push(m.string()) });
    await nc.flush();
    const shutdown = a.server.enterLameDuckMode();
    await waitUntil(() => ldm, 5000, "ldm status");
    // B drops A's URL from what it tells its own clients.
    await waitUntil(() => (b.server.connectUrls ?? []).length === 1, 5000, "B stops offering A");
    assert.deepEqual(b.server.connectUrls, [new URL(b.url).host]);
    await shutdown;
    await waitUntil(() => reconnected, 10_000, "the client reconnected to B");
    const pub = await connect({ servers: b.url });
    await waitForInterest(pub, nc);
    pub.publish("after.ldm", "hello");
    await waitUntil(() => got.length === 1, 5000, "message through B");
    await pub.close();
    await nc.close();
  });
});

describe("cluster: ports file and reload", () => {
  const servers: TestServer[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("the ports file lists the route listener, the cluster name and the peers", async () => {
    const dir = tempDir("tsnats-ports-");
    dirs.push(dir);
    const a = await startTestServer({ serverName: "PFA", portsFileDir: dir, cluster: { name: "PF", port: -1 } });
    servers.push(a);
    const b = await startTestServer({ serverName: "PFB", cluster: { name: "PF", port: -1, routes: [`nats://127.0.0.1:${clusterOf(a).port}`] } });
    servers.push(b);
    const read = (): Record<string, string[]> => {
      const f = fs.readdirSync(dir).find((x) => x.endsWith(".ports"));
      return f === undefined ? {} : (JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Record<string, string[]>);
    };
    await waitUntil(() => (read().cluster_peers ?? []).length === 1, 10_000, "a peer in the ports file");
    const p = read();
    assert.deepEqual(p.cluster, [`nats://127.0.0.1:${clusterOf(a).port}`]);
    assert.deepEqual(p.cluster_name, ["PF"]);
    await b.close();
    await waitUntil(() => (read().cluster_peers ?? []).length === 0, 10_000, "the peer gone from the ports file");
  });

  it("reload adds and removes routes, and a new cluster password drops routes that used the old one", async () => {
    const a = await startTestServer({ serverName: "RA", cluster: { name: "RL", port: -1, username: "u", password: "p1" } });
    servers.push(a);
    const aPort = clusterOf(a).port;
    const b = await startTestServer({ serverName: "RB", cluster: { name: "RL", port: -1 } });
    servers.push(b);
    assert.equal(clusterOf(b).numPeers, 0);
    // B learns the route to A by reload.
    b.server.reload({ ...b.server.options, cluster: { ...(b.server.options.cluster as NonNullable<typeof b.server.options.cluster>), routes: [`nats://u:p1@127.0.0.1:${aPort}`] } });
    await waitUntil(() => clusterOf(b).numPeers === 1 && clusterOf(a).numPeers === 1, 10_000, "route after reload");
    // A changes its cluster password: B's routes (old password) are closed and cannot come back.
    a.server.reload({ ...a.server.options, cluster: { ...(a.server.options.cluster as NonNullable<typeof a.server.options.cluster>), password: "p2" } });
    await waitUntil(() => clusterOf(a).numPeers === 0, 10_000, "routes with the old password closed");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(clusterOf(a).numPeers, 0);
    // B is reloaded with the new password: the route is back.
    b.server.reload({ ...b.server.options, cluster: { ...(b.server.options.cluster as NonNullable<typeof b.server.options.cluster>), routes: [`nats://u:p2@127.0.0.1:${aPort}`] } });
    await waitUntil(() => clusterOf(b).numPeers === 1 && clusterOf(a).numPeers === 1, 10_000, "route with the new password");
    // Removing the route from B's configuration closes it and it is not retried.
    b.server.reload({ ...b.server.options, cluster: { ...(b.server.options.cluster as NonNullable<typeof b.server.options.cluster>), routes: [] } });
    await waitUntil(() => clusterOf(b).numPeers === 0, 10_000, "route removed");
  });
});
