// A consumer whose stream was scaled up from one replica grows from the server that held it one
// member at a time (as nats-server 2.15 grows it); each membership its group commits goes to the
// group's membership file (peers.json, as nats-server's peers.idx). That file is all a member
// has of its group when its log is gone: a memory stream's consumer log lives in memory, so the
// server that held the stream, restarted, starts its consumer's group from the file alone. A
// file still naming that server alone would have it lead a group of itself beside the real one.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { readPeersFile } from "../src/jetstream/group_common.js";

test("memory stream scaled up from one replica: the server that held it, restarted, rejoins its consumer's grown group and never leads it alone", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const si = await jsm.streams.add({ name: "M", subjects: ["m.>"], num_replicas: 1, storage: "memory" as never });
    const holder = si.cluster?.leader as string;
    await jsm.consumers.add("M", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 20; i++) await js.publish("m.x", `m${i}`);
    await jsm.streams.update("M", { ...si.config, num_replicas: 3 });
    const group = (m: string) => streamOn(c, m, "M")?.replica?.consumerGroup("D");
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "M")?.store.state().lastSeq === 20 && group(m.name)?.node.config.voters.length === 3 && group(m.name)?.node.config.learners.length === 0), 60_000, "D's group grown to three voters on every member");
    assert.equal(group(holder)?.leader, holder, "D led by the server that held it while it grew");
    // (A pull may be cut while D's leadership moves: pulled again.)
    const acked = new Set<number>();
    const pullAndAck = async (upTo: number): Promise<void> =>
      waitUntil(async () => {
        try {
          const got = await (await js.consumers.get("M", "D")).fetch({ max_messages: upTo - acked.size, expires: 2000 });
          for await (const m of got) if (m.seq <= upTo && (await m.ackAck())) acked.add(m.seq);
        } catch {
          // pulled again
        }
        return acked.size === upTo;
      }, 60_000, `messages 1-${upTo} acknowledged`);
    await pullAndAck(5);

    const peersFile = path.join(c.js(holder).storeDir, "_raft", group(holder)?.group ?? "", "peers.json");
    await c.stopMember(holder);
    assert.deepEqual(readPeersFile(peersFile), c.members.map((m) => m.name).sort(), "the holder's membership file names the grown group");
    await c.startMember(holder);
    // Back, the holder's copy of D's group names the three servers: it follows the group's
    // leader. Started as a group of itself, it would lead it alone (a leader of one member).
    await waitUntil(() => (group(holder)?.node.config.voters.length ?? 0) > 0, 30_000, "D's group started again on the holder");
    const alone = (): boolean => group(holder)?.node.isLeader === true && group(holder)?.node.config.voters.length === 1;
    let ledAlone = alone();
    await waitUntil(
      () => {
        ledAlone ||= alone();
        const others = c.members.filter((m) => m.name !== holder).map((m) => group(m.name)?.leader ?? "");
        return group(holder)?.node.config.voters.length === 3 && others[0] !== "" && others.every((l) => l === group(holder)?.leader);
      },
      30_000,
      "the holder follows D's group leader",
    );
    assert.equal(ledAlone, false, "the holder never led D alone");
    // D goes on from its state on every member.
    await pullAndAck(10);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "M")?.consumers.get("D")?.stateSnapshot().ack_floor.stream_seq === 10), 30_000, "every member's D at ack floor 10");
  } finally {
    await nc.close().catch(() => undefined);
    await c.stop();
  }
});
