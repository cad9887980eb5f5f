// Faults on a real network: three tsnats processes, each in its own network namespace. A
// server's link is cut and healed, a server is killed with -9 and restarted, a server is frozen
// with SIGSTOP and thawed with SIGCONT. Clients must move to the other servers, the cluster must
// rebuild the interest, and no subscription may get a message twice. Skips (with the reason)
// where network namespaces cannot be created (not root, no iproute2, not Linux).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LabServer, NetnsLab } from "./helpers/netns.js";
import { waitForInterest, waitUntil } from "./helpers/cluster.js";

const skip = NetnsLab.unavailable() ?? false;

function config(lab: NetnsLab, i: number): string {
  const me = lab.nodes[i].ip;
  const routes = lab.nodes.filter((n) => n.index !== i).map((n) => `"nats://${n.ip}:6222"`);
  return `server_name: n${i}
listen: "${me}:4222"
http: "${me}:8222"
ping_interval: "1s"
ping_max: 2
cluster {
  name: FAULTS
  listen: "${me}:6222"
  routes: [${routes.join(", ")}]
  ping_interval: "500ms"
  ping_max: 2
}
`;
}

async function peersOf(ip: string): Promise<number> {
  try {
    const r = await fetch(`http://${ip}:8222/routez`, { signal: AbortSignal.timeout(1000) });
    const j = (await r.json()) as { routes: Array<{ remote_id: string }> };
    return new Set(j.routes.map((x) => x.remote_id)).size;
  } catch {
    return -1;
  }
}

async function waitMesh(servers: LabServer[], indexes: number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(indexes.map((i) => peersOf(servers[i].ip)));
    if (counts.every((c) => c === indexes.length - 1)) return;
    if (Date.now() > deadline) throw new Error(`mesh of ${indexes.join(",")} not formed: ${counts.join(",")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A subscriber that records every message id it gets and notices any id seen twice. */
class Recorder {
  readonly seen = new Set<string>();
  readonly dups: string[] = [];
  reconnects = 0;
  constructor(readonly nc: NatsConnection, subject: string) {
    nc.subscribe(subject, {
      callback: (_e, m) => {
        const id = m.string();
        if (this.seen.has(id)) this.dups.push(id);
        this.seen.add(id);
      },
    });
    void (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") this.reconnects++;
    })();
  }
  has(prefix: string, n: number): boolean {
    for (let i = 0; i < n; i++) if (!this.seen.has(`${prefix}-${i}`)) return false;
    return true;
  }
}

function clientOpts(lab: NetnsLab, first: number): Parameters<typeof connect>[0] {
  const order = [first, ...lab.nodes.map((n) => n.index).filter((i) => i !== first)];
  return {
    servers: order.map((i) => `${lab.nodes[i].ip}:4222`),
    noRandomize: true,
    pingInterval: 500,
    maxPingOut: 2,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
    timeout: 2000,
  };
}

function serverOf(nc: NatsConnection): string {
  return (nc.info?.server_name as string | undefined) ?? "";
}

async function publishBatch(nc: NatsConnection, subject: string, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) nc.publish(subject, `${prefix}-${i}`);
  await nc.flush();
}

describe("cluster faults in network namespaces", { skip }, () => {
  let lab: NetnsLab;
  const servers: LabServer[] = [];
  const conns: NatsConnection[] = [];

  before(async () => {
    lab = await NetnsLab.create(3);
    for (let i = 0; i < 3; i++) servers.push(new LabServer(lab, i, config(lab, i)));
    await Promise.all(servers.map((s) => s.start()));
    await waitMesh(servers, [0, 1, 2]);
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await lab?.destroy();
    for (const s of servers) s.cleanup();
  });

  it("a cut link: the client moves to a peer, interest follows, the server rejoins when healed", async () => {
    const sub = await connect(clientOpts(lab, 2));
    conns.push(sub);
    const rec = new Recorder(sub, "faults.link");
    const pub = await connect(clientOpts(lab, 0));
    conns.push(pub);
    await waitForInterest(pub, sub);
    await publishBatch(pub, "faults.link", "before", 100);
    await waitUntil(() => rec.has("before", 100), 10_000, "messages before the cut");

    lab.isolate(2);
    await waitUntil(() => rec.reconnects > 0, 15_000, "the subscriber to reconnect to a peer");
    assert.notEqual(serverOf(sub), "n2");
    await waitForInterest(pub, sub);
    await publishBatch(pub, "faults.link", "during", 100);
    await waitUntil(() => rec.has("during", 100), 10_000, "messages while node 2 is cut off");

    lab.rejoin(2);
    await waitMesh(servers, [0, 1, 2]);
    const pub2 = await connect({ ...clientOpts(lab, 2), maxReconnectAttempts: 0 });
    conns.push(pub2);
    assert.equal(serverOf(pub2), "n2");
    await waitForInterest(pub2, sub);
    await publishBatch(pub2, "faults.link", "after", 100);
    await waitUntil(() => rec.has("after", 100), 10_000, "messages from the healed server");
    await sub.flush();
    assert.deepEqual(rec.dups, [], "no message twice");
    assert.equal(rec.seen.size, 300);
  });

  it("kill -9: clients reconnect to peers, the restarted server rebuilds its routes and interest", async () => {
    const sub = await connect(clientOpts(lab, 1));
    conns.push(sub);
    const rec = new Recorder(sub, "faults.kill");
    const pub = await connect(clientOpts(lab, 0));
    conns.push(pub);
    await waitForInterest(pub, sub);
    await publishBatch(pub, "faults.kill", "before", 50);
    await waitUntil(() => rec.has("before", 50), 10_000, "messages before the kill");

    await servers[1].kill9();
    await waitUntil(() => rec.reconnects > 0, 15_000, "the subscriber to reconnect");
    await waitForInterest(pub, sub);
    await publishBatch(pub, "faults.kill", "during", 50);
    await waitUntil(() => rec.has("during", 50), 10_000, "messages while node 1 is down");

    await servers[1].start();
    await waitMesh(servers, [0, 1, 2]);
    const pub1 = await connect({ ...clientOpts(lab, 1), maxReconnectAttempts: 0 });
    conns.push(pub1);
    assert.equal(serverOf(pub1), "n1");
    await waitForInterest(pub1, sub);
    await publishBatch(pub1, "faults.kill", "after", 50);
    await waitUntil(() => rec.has("after", 50), 10_000, "messages from the restarted server");
    await sub.flush();
    assert.deepEqual(rec.dups, []);
    assert.equal(rec.seen.size, 150);
  });

  it("SIGSTOP/SIGCONT: a frozen server is left, and taken back when it thaws, without duplicates", async () => {
    const sub = await connect(clientOpts(lab, 2));
    conns.push(sub);
    const rec = new Recorder(sub, "faults.stop");
    const pub = await connect(clientOpts(lab, 0));
    conns.push(pub);
    await waitForInterest(pub, sub);
    await publishBatch(pub, "faults.stop", "before", 50);
    await waitUntil(() => rec.has("before", 50), 10_000, "messages before the freeze");

    servers[2].pause();
    try {
      await waitUntil(() => rec.reconnects > 0, 15_000, "the subscriber to leave the frozen server");
      await waitForInterest(pub, sub);
      // Published while node 2 is frozen: node 0 may still hold node 2's stale interest too.
      await publishBatch(pub, "faults.stop", "during", 50);
      await waitUntil(() => rec.has("during", 50), 10_000, "messages while node 2 is frozen");
    } finally {
      servers[2].resume();
    }
    await waitMesh(servers, [0, 1, 2]);
    const pub2 = await connect({ ...clientOpts(lab, 2), maxReconnectAttempts: 0 });
    conns.push(pub2);
    await waitForInterest(pub2, sub);
    await publishBatch(pub2, "faults.stop", "after", 50);
    await waitUntil(() => rec.has("after", 50), 10_000, "messages from the thawed server");
    // Whatever the thawed server had queued for the old connection never reaches the subscription.
    await new Promise((r) => setTimeout(r, 500));
    await sub.flush();
    assert.deepEqual(rec.dups, []);
    assert.equal(rec.seen.size, 150);
  });

  it("a partition between two servers heals into the full mesh again", async () => {
    lab.cut(0, 1);
    // Each side's routes go stale (pings unanswered) and are dropped.
    const deadline = Date.now() + 15_000;
    while ((await peersOf(servers[0].ip)) !== 1) {
      assert.ok(Date.now() < deadline, "node 0 dropped its route to node 1");
      await new Promise((r) => setTimeout(r, 100));
    }
    lab.heal(0, 1);
    await waitMesh(servers, [0, 1, 2]);
    const a = await connect({ ...clientOpts(lab, 0), maxReconnectAttempts: 0 });
    const b = await connect({ ...clientOpts(lab, 1), maxReconnectAttempts: 0 });
    conns.push(a, b);
    const rec = new Recorder(b, "faults.part");
    await waitForInterest(a, b);
    await publishBatch(a, "faults.part", "healed", 50);
    await waitUntil(() => rec.has("healed", 50), 10_000, "messages across the healed link");
    assert.deepEqual(rec.dups, []);
  });
});

describe("network namespace lab teardown", { skip }, () => {
  // nats.js gives up on a connect after its timeout without closing the socket it was dialling;
  // to a node cut off, that socket stays in SYN-SENT, and once the lab is gone nothing answers
  // its SYNs: it kept a test process alive ~130 s after its last test (js_cluster_faults was
  // cancelled at 120 s in a full run with both its tests passed). destroy() must close it.
  it("a client's connect to an isolated node that timed out leaves no socket once the lab is destroyed", async () => {
    const lab = await NetnsLab.create(1);
    const server = new LabServer(lab, 0, `listen: "${lab.nodes[0].ip}:4222"\n`);
    const net = lab.hostIp.replace(/\.254$/, ".0/24");
    const ours = (): string[] => spawnSync("ss", ["-Htnp", "dst", net], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.includes(`pid=${process.pid},`));
    try {
      await server.start();
      lab.isolate(0);
      await assert.rejects(connect({ servers: `${lab.nodes[0].ip}:4222`, timeout: 1000 }));
      assert.ok(ours().some((l) => l.startsWith("SYN-SENT")), `a socket still dialling the isolated node: ${ours().join("; ")}`);
    } finally {
      await lab.destroy();
      server.cleanup();
    }
    assert.deepEqual(ours(), []);
  });
});
