// A Jepsen-style check of replicated streams: three tsnats processes, each in its own network
// namespace (test/helpers/netns.ts), an R3 file stream, publishers on every server sending unique
// ids (with Nats-Msg-Id, retried while unanswered) and recording every PubAck, while faults are
// injected one after the other: kill -9 of a follower and of the leader, SIGSTOP of the leader,
// the leader cut off from the network, a follower's RAFT log bit-flipped and its stream's last
// block truncated while it is down. Then every server is stopped and each replica's stream files
// are read: no acknowledged message lost (each at the sequence its PubAck gave), none duplicated,
// the same messages in the same order on every replica. Skips where network namespaces cannot be
// created.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NetnsLab, type LabServer } from "./helpers/netns.js";
import { NetnsJsCluster, retry } from "./helpers/netns_js_cluster.js";
import { filesUnder, readReplica, writtenLength } from "./helpers/replica_files.js";

const skip = NetnsLab.unavailable() ?? false;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("replicated streams under faults (Jepsen-style checker)", { skip }, () => {
  let cluster: NetnsJsCluster;
  let lab: NetnsLab;
  let servers: LabServer[];
  let dirs: string[];
  let conns: NatsConnection[];

  before(async () => {
    cluster = await NetnsJsCluster.start({ name: "JEPSEN", http: false, dirPrefix: "tsnats-jep" });
    ({ lab, servers, dirs, conns } = cluster);
  });

  after(async () => {
    await cluster?.stop();
  });

  it("no acknowledged message lost, none duplicated, one order on every replica", { timeout: 300_000 }, async () => {
    const admin = await connect(cluster.clientOpts(0));
    conns.push(admin);
    const jsm = await retry("jsm", () => jetstreamManager(admin, { timeout: 5000 }));
    await retry("create J", () => jsm.streams.add({ name: "J", subjects: ["j.>"], num_replicas: 3, duplicate_window: 300_000_000_000 }), 60_000);
    // Asked again until a leader is named: right after a fault the group may still be electing,
    // and a member without a leader answers the info from its own copy, naming none.
    const leaderOf = (): Promise<number> =>
      retry("leader of J", async () => {
        const l = (await jsm.streams.info("J")).cluster?.leader ?? "";
        if (!/^n[0-2]$/.test(l)) throw new Error(`no leader: ${l}`);
        return Number(l.slice(1));
      });

    // Publishers: one per server, each id sent until answered (a PubAck or a duplicate answer).
    const acked = new Map<string, number>();
    const faultsLog: string[] = [];
    let stop = false;
    let unanswered = 0;
    const publisher = async (node: number): Promise<void> => {
      const nc = await connect(cluster.clientOpts(node));
      conns.push(nc);
      const js = jetstream(nc, { timeout: 2000 });
      for (let k = 0; !stop; k++) {
        const id = `p${node}-${k}`;
        for (let attempt = 0; !stop; attempt++) {
          try {
            const a = await js.publish(`j.${node}`, id, { msgID: id });
            const prev = acked.get(id);
            if (prev !== undefined && prev !== a.seq) throw new Error(`${id} acknowledged at ${prev} and again at ${a.seq}`);
            acked.set(id, a.seq);
            break;
          } catch (e) {
            if ((e as Error).message.includes("acknowledged at")) throw e;
            unanswered++;
            await sleep(50);
          }
        }
      }
    };
    const pubs = [0, 1, 2].map((i) => publisher(i));
    const waitAcks = async (more: number): Promise<void> => {
      const target = acked.size + more;
      const deadline = Date.now() + 60_000;
      while (acked.size < target) {
        if (Date.now() > deadline) throw new Error(`stuck at ${acked.size} acks (wanted ${target}) after: ${faultsLog.join("; ")}`);
        await sleep(50);
      }
    };
    // The publishers stop whatever happens: left running after a failed step, their retries
    // would keep the test process alive after its servers are gone.
    try {
      await waitAcks(200);

      // 1. kill -9 of a follower, restarted.
      let leader = await leaderOf();
      const f1 = (leader + 1) % 3;
      faultsLog.push(`kill -9 follower n${f1}`);
      await servers[f1].kill9();
      await waitAcks(200);
      await servers[f1].start();
      await waitAcks(100);

      // 2. kill -9 of the leader: the others elect a new one and go on; restarted, it catches up.
      leader = await leaderOf();
      faultsLog.push(`kill -9 leader n${leader}`);
      await servers[leader].kill9();
      await waitAcks(200);
      await servers[leader].start();
      await waitAcks(100);

      // 3. SIGSTOP of the leader for a few seconds (the others move on without it), then SIGCONT.
      leader = await leaderOf();
      faultsLog.push(`SIGSTOP leader n${leader}`);
      servers[leader].pause();
      await waitAcks(200);
      servers[leader].resume();
      await waitAcks(100);

      // 4. The leader cut off from the network, then healed.
      leader = await leaderOf();
      faultsLog.push(`partition leader n${leader}`);
      lab.isolate(leader);
      await waitAcks(200);
      lab.rejoin(leader);
      await waitAcks(100);

      // 5. A follower's files damaged while it is down: a bit flipped in its RAFT log, its stream's
      //    last block cut short. Restarted, it must repair itself from the others.
      leader = await leaderOf();
      const f2 = (leader + 2) % 3;
      faultsLog.push(`kill -9 follower n${f2}, bit flip in its RAFT log, its last stream block truncated`);
      await servers[f2].kill9();
      const raftFiles = filesUnder(path.join(dirs[f2], "jetstream", "_raft"), (p) => !p.includes(`${path.sep}meta${path.sep}`) && fs.statSync(p).size > 4096);
      const biggest = raftFiles.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
      assert.ok(biggest !== undefined, "the follower has a RAFT log segment");
      {
        // Segments are preallocated: a byte early in the file is inside the records written.
        const fd = fs.openSync(biggest, "r+");
        const at = 4096;
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, at);
        b[0] ^= 0x20;
        fs.writeSync(fd, b, 0, 1, at);
        fs.closeSync(fd);
      }
      const blocks = filesUnder(path.join(dirs[f2], "jetstream", "$G", "streams", "J"), (p) => p.endsWith(".blk")).sort();
      const last = blocks[blocks.length - 1];
      assert.ok(last !== undefined, "the follower has a stream block");
      // The active block's file is preallocated: cut into its records, not into the zeros after them.
      fs.truncateSync(last, Math.floor(writtenLength(last) / 2));
      await waitAcks(200);
      await servers[f2].start();
      await waitAcks(200);
      assert.match(servers[f2].log(), /damaged/, "the bit flip was found");
    } finally {
      stop = true;
    }
    await Promise.all(pubs);
    // Every replica caught up: stop them all, then read each one's files.
    const finalLeader = await leaderOf();
    const expected = (await retry("final info", () => jsm.streams.info("J"))).state.last_seq;
    await retry(
      "replicas current",
      async () => {
        const si = await jsm.streams.info("J");
        if (!(si.cluster?.replicas ?? []).every((r) => r.current) || (si.cluster?.replicas ?? []).length !== 2) throw new Error("not current");
      },
      60_000,
    );
    void finalLeader;
    await sleep(500);
    for (const c of conns) await c.close().catch(() => undefined);
    conns.length = 0;
    for (const s of servers) await s.stop();

    const replicas = dirs.map((d) => readReplica(d, "J"));
    for (let i = 0; i < 3; i++) {
      const ids = replicas[i].map(([, id]) => id);
      assert.equal(new Set(ids).size, ids.length, `n${i}: an id stored twice`);
      const at = new Map(replicas[i].map(([seq, id]) => [id, seq]));
      for (const [id, seq] of acked) assert.equal(at.get(id), seq, `n${i}: ${id} acknowledged at ${seq}`);
      assert.deepEqual(replicas[i], replicas[0], `n${i} holds what n0 holds`);
    }
    assert.ok(replicas[0].length >= acked.size && replicas[0][replicas[0].length - 1][0] === expected);
    console.log(`# jepsen: ${acked.size} acknowledged, ${replicas[0].length} stored on each replica, ${unanswered} unanswered attempts retried; faults: ${faultsLog.join("; ")}`);
  });
});
