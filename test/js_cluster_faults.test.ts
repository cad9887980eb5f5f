// The JetStream meta group under real faults: three tsnats processes, each in its own network
// namespace (test/helpers/netns.ts). The meta leader is killed with -9 and restarted, then cut
// off from the network and healed. The two others must elect a new leader and keep answering the
// API (new streams placed on live servers), the returning server must rejoin under the new
// leader and learn what changed, and a stream's acknowledged messages survive the kill of its
// server. Skips (with the reason) where network namespaces cannot be created.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { LabServer, NetnsLab } from "./helpers/netns.js";

const skip = NetnsLab.unavailable() ?? false;

function config(lab: NetnsLab, i: number, storeDir: string): string {
  const me = lab.nodes[i].ip;
  const routes = lab.nodes.filter((n) => n.index !== i).map((n) => `"nats://${n.ip}:6222"`);
  return `server_name: n${i}
listen: "${me}:4222"
http: "${me}:8222"
jetstream { store_dir: "${storeDir}" }
cluster {
  name: JSFAULTS
  listen: "${me}:6222"
  routes: [${routes.join(", ")}]
  ping_interval: "500ms"
  ping_max: 2
}
`;
}

interface MetaView {
  leader: string;
  cluster_size: number;
}

async function metaOf(ip: string): Promise<MetaView | undefined> {
  try {
    const r = await fetch(`http://${ip}:8222/jsz`, { signal: AbortSignal.timeout(1000) });
    return ((await r.json()) as { meta_cluster?: MetaView }).meta_cluster;
  } catch {
    return undefined;
  }
}

/** The meta leader that every listed node agrees on (and that is one of them). */
async function agreedLeader(lab: NetnsLab, nodes: number[], not = "", timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = (await Promise.all(nodes.map((i) => metaOf(lab.nodes[i].ip)))).map((m) => m?.leader ?? "");
    const l = seen[0];
    if (l !== "" && l !== not && seen.every((x) => x === l) && nodes.some((i) => `n${i}` === l)) return l;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no agreed meta leader among ${nodes.join(",")}: ${seen.join(",")}`);
}

function clientOpts(lab: NetnsLab, first: number): Parameters<typeof connect>[0] {
  const order = [first, ...lab.nodes.map((n) => n.index).filter((i) => i !== first)];
  return { servers: order.map((i) => `${lab.nodes[i].ip}:4222`), noRandomize: true, pingInterval: 500, maxPingOut: 2, reconnectTimeWait: 100, maxReconnectAttempts: -1, timeout: 2000 };
}

/** Retry an API call while the cluster settles (a request may get no answer during an election). */
async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${what}: ${(last as Error)?.message ?? String(last)}`);
}

describe("JetStream meta group faults in network namespaces", { skip }, () => {
  let lab: NetnsLab;
  const servers: LabServer[] = [];
  const dirs: string[] = [];
  const conns: NatsConnection[] = [];

  before(async () => {
    lab = await NetnsLab.create(3);
    for (let i = 0; i < 3; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tsnats-jsf-${i}-`));
      dirs.push(dir);
      servers.push(new LabServer(lab, i, config(lab, i, dir)));
    }
    await Promise.all(servers.map((s) => s.start()));
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await lab?.destroy();
    for (const s of servers) s.cleanup();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("kill -9 of the meta leader: a new leader answers, the killed server rejoins with its stream intact", async () => {
    const leader = await agreedLeader(lab, [0, 1, 2]);
    const li = Number(leader.slice(1));
    const other = [0, 1, 2].find((i) => i !== li) as number;
    const nc = await connect(clientOpts(lab, other));
    conns.push(nc);
    const jsm = await retry("jsm", () => jetstreamManager(nc));
    const owners = new Map<string, string>();
    for (let k = 0; k < 3; k++) {
      const si = await retry(`create K${k}`, () => jsm.streams.add({ name: `K${k}`, subjects: [`k${k}.>`] }));
      owners.set(`K${k}`, si.cluster?.leader as string);
    }
    assert.equal(new Set(owners.values()).size, 3, "one stream on each server");
    const js = jetstream(nc);
    for (let k = 0; k < 3; k++) for (let m = 0; m < 20; m++) assert.equal((await js.publish(`k${k}.x`, `m${m}`)).seq, m + 1);
    const onLeader = [...owners].find(([, o]) => o === leader)?.[0] as string;

    await servers[li].kill9();
    const rest = [0, 1, 2].filter((i) => i !== li);
    const second = await agreedLeader(lab, rest, leader);
    assert.notEqual(second, leader);
    // The API works through the new leader: a new stream lands on a live server.
    const after = await retry("create AFTER", () => jsm.streams.add({ name: "AFTER", subjects: ["after.>"] }));
    assert.notEqual(after.cluster?.leader, leader);
    assert.deepEqual((await retry("names", () => jsm.streams.names().next())).sort(), ["AFTER", "K0", "K1", "K2"]);

    await servers[li].start();
    assert.equal(await agreedLeader(lab, [0, 1, 2]), second, "the restarted server follows the new leader");
    const nc2 = await connect({ ...clientOpts(lab, li), maxReconnectAttempts: 0 });
    conns.push(nc2);
    const jsm2: JetStreamManager = await retry("jsm on the restarted server", () => jetstreamManager(nc2));
    assert.deepEqual((await retry("names from the restarted server", () => jsm2.streams.names().next())).sort(), ["AFTER", "K0", "K1", "K2"]);
    const si = await retry(`info ${onLeader}`, () => jsm2.streams.info(onLeader));
    assert.equal(si.state.messages, 20, "every acknowledged message survived the kill -9");
    assert.equal(si.cluster?.leader, leader);
  });

  it("the meta leader cut off: the majority elects another and goes on; healed, the old one catches up", async () => {
    const leader = await agreedLeader(lab, [0, 1, 2]);
    const li = Number(leader.slice(1));
    const rest = [0, 1, 2].filter((i) => i !== li);
    const nc = await connect(clientOpts(lab, rest[0]));
    conns.push(nc);
    const jsm = await retry("jsm", () => jetstreamManager(nc));
    lab.isolate(li);
    const second = await agreedLeader(lab, rest, leader);
    const created = await retry("create PART", () => jsm.streams.add({ name: "PART", subjects: ["part.>"] }));
    assert.ok(rest.map((i) => `n${i}`).includes(created.cluster?.leader as string));
    lab.rejoin(li);
    assert.equal(await agreedLeader(lab, [0, 1, 2], "", 45_000), second);
    const nc2 = await connect({ ...clientOpts(lab, li), maxReconnectAttempts: 0 });
    conns.push(nc2);
    const jsm2 = await retry("jsm on the healed server", () => jetstreamManager(nc2));
    await retry("the healed server sees PART", async () => {
      const names = await jsm2.streams.names().next();
      if (!names.includes("PART")) throw new Error(`names: ${names.join(",")}`);
    });
  });
});
