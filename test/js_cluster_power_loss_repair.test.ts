// A replicated stream's member whose copy was damaged (a block cut short inside its records) is
// emptied, then rebuilt from its own RAFT log or repaired from the group's leader. Found by the
// random fault schedules (js_cluster_jepsen_random, seed 27): the store's reset (the damaged block
// removed, a new one made) was never made durable (no fsync of the store's directory), so a
// power cut seconds later brought the damaged block back; the member discarded its RAFT log
// again, and when it happened to two members at once (every server lost power) the entries only
// they held were gone, and the group never elected a leader again: a damaged member voted for
// nobody, the third member needed one of their votes.
//
// Three tsnats processes in network namespaces under the power-loss layer
// (helpers/power_loss_process.ts: SIGPWR undoes every change not yet synced, then kills the
// process). Deterministic: each fault is applied once the state before it is reported.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NetnsLab } from "./helpers/netns.js";
import { NetnsJsCluster, retry } from "./helpers/netns_js_cluster.js";
import { filesUnder, readReplica, streamDir, writtenLength } from "./helpers/replica_files.js";

const skip = NetnsLab.unavailable() ?? false;

const MSGS = 60;
const DAMAGED = "the copy on this server is damaged";
const REBUILT = "rebuilt from this server's RAFT log";
const REPAIRED = "repaired from the group's leader";

/** How many times a server's log (every start of it) says `what`. */
function count(log: string, what: string): number {
  return log.split(what).length - 1;
}

/** A stopped server's last block of `stream` cut 5 bytes short: its last record is partial. */
function cutLastBlock(storeDir: string, stream: string): void {
  const blocks = filesUnder(streamDir(storeDir, stream), (p) => p.endsWith(".blk")).sort();
  const last = blocks[blocks.length - 1];
  assert.ok(last !== undefined, `a block of ${stream} in ${storeDir}`);
  fs.truncateSync(last, writtenLength(last) - 5);
}

/**
 * An R3 stream with MSGS messages on every server. `scaledUp`: created with one replica, its
 * messages published, then scaled to three: the group starts from a snapshot (the messages from
 * before it), so a member's log cannot rebuild its copy and the leader repairs it.
 */
async function startWithMessages(c: NetnsJsCluster, stream: string, scaledUp = false): Promise<{ jsm: JetStreamManager; leader: number }> {
  const admin = await connect(c.clientOpts(0));
  c.conns.push(admin);
  const jsm = await retry("jsm", () => jetstreamManager(admin, { timeout: 5000 }));
  const js = jetstream(admin, { timeout: 5000 });
  const cfg = { name: stream, subjects: [`${stream.toLowerCase()}.>`], num_replicas: scaledUp ? 1 : 3 };
  await retry(`create ${stream}`, () => jsm.streams.add(cfg), 60_000);
  for (let i = 1; i <= MSGS; i++) assert.equal((await retry("publish", () => js.publish(`${stream.toLowerCase()}.${i % 5}`, `m${i}`))).seq, i);
  if (scaledUp) await retry(`${stream} to R3`, () => jsm.streams.update(stream, { ...cfg, num_replicas: 3 }));
  await allCurrent(jsm, stream);
  const leader = Number((await jsm.streams.info(stream)).cluster?.leader?.slice(1));
  assert.ok(leader >= 0 && leader <= 2, `${stream} is led by one of n0..n2`);
  return { jsm, leader };
}

/** The stream led, with its two other replicas current and holding every message. */
async function allCurrent(jsm: JetStreamManager, stream: string, timeoutMs = 60_000): Promise<void> {
  await retry(
    `${stream}'s three replicas current`,
    async () => {
      const si = await jsm.streams.info(stream);
      const r = si.cluster?.replicas ?? [];
      if (si.state.messages !== MSGS || r.length !== 2 || !r.every((x) => x.current && (x.lag ?? 0) === 0)) throw new Error(JSON.stringify(si.cluster));
    },
    timeoutMs,
  );
}

describe("a replicated stream's member whose copy was damaged, then a power cut", { skip }, () => {
  let cluster: NetnsJsCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });

  it("keeps its copy rebuilt from its log: the damage found once does not come back", { timeout: 110_000 }, async () => {
    cluster = await NetnsJsCluster.start({ name: "PLREP", http: false, dirPrefix: "tsnats-plrep", powerLoss: true });
    const c = cluster;
    const { jsm, leader } = await startWithMessages(c, "R");
    const f = (leader + 1) % 3;

    // A follower's last block cut short while it is stopped: it finds the damage, and its log
    // (every entry from the first) gives the messages back.
    await c.servers[f].kill9();
    cutLastBlock(c.dirs[f], "R");
    await c.servers[f].start();
    await allCurrent(jsm, "R");
    assert.equal(count(c.servers[f].log(), DAMAGED), 1, "the damage is found at the start after the cut");
    assert.equal(count(c.servers[f].log(), REBUILT), 1, "the copy is rebuilt from the member's own log");

    // Its power is cut: what it did to repair must survive (it acknowledged entries since).
    await c.servers[f].powerLoss();
    await c.servers[f].start();
    await allCurrent(jsm, "R");
    assert.equal(count(c.servers[f].log(), DAMAGED), 1, "the damaged block is not back after the power cut");
  });
});

describe("a damaged member and a healthy one, the third server down", { skip }, () => {
  let cluster: NetnsJsCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });

  it("elect the healthy one: the damaged member votes by the log it had", { timeout: 110_000 }, async () => {
    cluster = await NetnsJsCluster.start({ name: "PLVOTE", http: false, dirPrefix: "tsnats-plvote", powerLoss: true });
    const c = cluster;
    // Scaled up from one replica: the members' logs start after a snapshot, so the damaged one
    // discards its log and waits for the leader's repair.
    const { leader } = await startWithMessages(c, "V", true);
    const damaged = (leader + 1) % 3;
    const down = (leader + 2) % 3;

    // The two others go; the leader alone steps down (no quorum). One comes back damaged.
    await Promise.all([c.servers[damaged].kill9(), c.servers[down].kill9()]);
    cutLastBlock(c.dirs[damaged], "V");
    await retry(`n${leader} no longer leads V`, async () => {
      if (!/stream '\$G > V': RAFT member n\d: lost quorum/.test(c.servers[leader].log())) throw new Error("still leading");
    });
    await c.servers[damaged].start();

    // The leader and the damaged member are a quorum: the leader needs its vote.
    const nc = await connect(c.clientOpts(leader));
    c.conns.push(nc);
    const jsm = await retry("jsm", () => jetstreamManager(nc, { timeout: 5000 }));
    await retry(
      `V led by n${leader}, n${damaged} repaired, n${down} still down`,
      async () => {
        const si = await jsm.streams.info("V");
        const r = si.cluster?.replicas ?? [];
        const back = r.find((x) => x.name === `n${damaged}`);
        if (si.cluster?.leader !== `n${leader}` || si.state.messages !== MSGS || back?.current !== true || (back.lag ?? 0) !== 0) throw new Error(JSON.stringify(si.cluster));
      },
      60_000,
    );
    assert.equal(count(c.servers[damaged].log(), DAMAGED), 1, "the damage was found");
    assert.equal(count(c.servers[damaged].log(), REPAIRED), 1, "and repaired without the third server");
    assert.equal(c.servers[down].running(), false);
  });
});

describe("two members whose copies were damaged, one after the other, then every server's power cut", { skip }, () => {
  let cluster: NetnsJsCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });

  it("the stream is led again with every acknowledged message on each server (seed 27's chain)", { timeout: 110_000 }, async () => {
    cluster = await NetnsJsCluster.start({ name: "PLALL", http: false, dirPrefix: "tsnats-plall", powerLoss: true });
    const c = cluster;
    const { jsm, leader } = await startWithMessages(c, "A");
    const repaired = [(leader + 1) % 3, (leader + 2) % 3];
    for (const i of repaired) {
      await c.servers[i].kill9();
      cutLastBlock(c.dirs[i], "A");
      await c.servers[i].start();
      await allCurrent(jsm, "A");
      assert.equal(count(c.servers[i].log(), DAMAGED), 1, `n${i}'s damage is found`);
    }

    // (A follower's store is synced lazily, its RAFT log before each answer: the messages come
    // back from the log at the restart.)
    await Promise.all(c.servers.map((s) => s.powerLoss()));
    await Promise.all(c.servers.map((s) => s.start()));
    const nc = await connect(c.clientOpts(leader));
    c.conns.push(nc);
    await allCurrent(await retry("jsm", () => jetstreamManager(nc, { timeout: 5000 })), "A");
    for (const i of repaired) assert.equal(count(c.servers[i].log(), DAMAGED), 1, `n${i}'s damage is not back`);
    await Promise.all(c.servers.map((s) => s.stop()));
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(
        readReplica(c.dirs[i], "A").map(([seq, data]) => `${seq}:${data}`),
        Array.from({ length: MSGS }, (_, k) => `${k + 1}:m${k + 1}`),
        `n${i} holds every acknowledged message`,
      );
    }
  });
});
