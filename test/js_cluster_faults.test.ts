// The JetStream meta group under real faults: three tsnats processes, each in its own network
// namespace (test/helpers/netns.ts). The meta leader is killed with -9 and restarted, then cut
// off from the network and healed. The two others must elect a new leader and keep answering the
// API (new streams placed on live servers), the returning server must rejoin under the new
// leader and learn what changed, and a stream's acknowledged messages survive the kill of its
// server. Skips (with the reason) where network namespaces cannot be created.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NetnsLab, type LabServer } from "./helpers/netns.js";
import { NetnsJsCluster, retry } from "./helpers/netns_js_cluster.js";

const skip = NetnsLab.unavailable() ?? false;

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

describe("JetStream meta group faults in network namespaces", { skip }, () => {
  let cluster: NetnsJsCluster;
  let lab: NetnsLab;
  let servers: LabServer[];
  let conns: NatsConnection[];

  before(async () => {
    cluster = await NetnsJsCluster.start({ name: "JSFAULTS", http: true, dirPrefix: "tsnats-jsf" });
    ({ lab, servers, conns } = cluster);
  });

  after(async () => {
    await cluster?.stop();
  });

  it("kill -9 of the meta leader: a new leader answers, the killed server rejoins with its stream intact", async () => {
    const leader = await agreedLeader(lab, [0, 1, 2]);
    const li = Number(leader.slice(1));
    const other = [0, 1, 2].find((i) => i !== li) as number;
    const nc = await connect(cluster.clientOpts(other));
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
    const nc2 = await connect({ ...cluster.clientOpts(li), maxReconnectAttempts: 0 });
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
    const nc = await connect(cluster.clientOpts(rest[0]));
    conns.push(nc);
    const jsm = await retry("jsm", () => jetstreamManager(nc));
    lab.isolate(li);
    const second = await agreedLeader(lab, rest, leader);
    const created = await retry("create PART", () => jsm.streams.add({ name: "PART", subjects: ["part.>"] }));
    assert.ok(rest.map((i) => `n${i}`).includes(created.cluster?.leader as string));
    lab.rejoin(li);
    assert.equal(await agreedLeader(lab, [0, 1, 2], "", 45_000), second);
    const nc2 = await connect({ ...cluster.clientOpts(li), maxReconnectAttempts: 0 });
    conns.push(nc2);
    const jsm2 = await retry("jsm on the healed server", () => jetstreamManager(nc2));
    await retry("the healed server sees PART", async () => {
      const names = await jsm2.streams.names().next();
      if (!names.includes("PART")) throw new Error(`names: ${names.join(",")}`);
    });
  });
});
