// A replicated consumer led by a server that does not lead its stream sends its changes (acks) to
// the stream's leader (src/jetstream/stream_replica.ts, `$JSC.CO`). When the stream's leader
// changes while acks are in flight, changes the old leader never proposed are sent again to the
// new one (or proposed by the consumer's leader itself when it becomes the stream's leader): every
// double ack is confirmed, and after a later failover nothing acknowledged is delivered again.
// Three tsnats servers; the stream's leadership goes to the third server, then to the consumer's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { infoWithLeader, sleep, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/js_cluster_move.js";

const N = 300;

async function streamLeader(nc: Parameters<typeof clusterApi>[0]): Promise<string> {
  let leader = "";
  await waitUntil(
    async () => {
      leader = (await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.F")).cluster?.leader ?? "";
      return leader !== "";
    },
    60_000,
    "a stream leader",
  );
  return leader;
}

test("acks sent to a stream leader that steps down are all confirmed, and none is lost at a later failover", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(3, "FWD");
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaLeader(60_000);
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.F", { name: "F", subjects: ["f.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= N; i++) await clusterPublish(nc, "f.x", `m${i}`);
    const d = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.F.D", { stream_name: "F", config: { durable_name: "D", ack_policy: "explicit", ack_wait: 4_000_000_000, num_replicas: 3 } });
    assert.equal(d.error, undefined, JSON.stringify(d.error));
    // D is led by a server that does not lead the stream.
    const streamFirst = await streamLeader(nc);
    const consumerLeader = c.members.map((m) => m.name).find((n) => n !== streamFirst) as string;
    const third = c.members.map((m) => m.name).find((n) => n !== streamFirst && n !== consumerLeader) as string;
    await waitUntil(
      async () => {
        if ((await infoWithLeader(nc, "F", "D")).cluster?.leader === consumerLeader) return true;
        await clusterApi(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.F.D", { placement: { preferred: consumerLeader } });
        await sleep(300);
        return false;
      },
      60_000,
      `D led from ${consumerLeader}`,
    );

    // Read and double-ack everything; meanwhile the stream's leadership goes to the third server,
    // then to the consumer's own.
    const js = jetstream(nc, { timeout: 10_000 });
    const acked = new Set<number>();
    const unconfirmed: number[] = [];
    const ackedCameAgain: number[] = [];
    let stepdowns = 0;
    const stepTo = async (to: string): Promise<void> => {
      await waitUntil(
        async () => {
          if ((await streamLeader(nc)) === to) return true;
          await clusterApi(nc, "$JS.API.STREAM.LEADER.STEPDOWN.F", { placement: { preferred: to } });
          await sleep(200);
          return false;
        },
        60_000,
        `the stream led from ${to}`,
      );
      stepdowns++;
    };
    let stepping: Promise<void> | undefined;
    const deadline = Date.now() + 240_000;
    while (acked.size < N && Date.now() < deadline) {
      const consumer = await js.consumers.get("F", "D");
      const batch = await consumer.fetch({ max_messages: 10, expires: 2_000 }).catch(() => undefined);
      if (batch === undefined) continue;
      try {
        for await (const m of batch) {
          if (acked.has(m.seq)) {
            ackedCameAgain.push(m.seq);
            continue;
          }
          try {
            await m.ackAck({ timeout: 10_000 });
            acked.add(m.seq);
          } catch {
            unconfirmed.push(m.seq);
          }
          // While acks flow: the stream's leader changes twice.
          if (acked.size >= 60 && stepping === undefined) stepping = stepTo(third).then(() => stepTo(consumerLeader));
        }
      } catch {
        // the fetch ended early (heartbeats missed while an ack waited): fetched again
      }
    }
    await stepping;
    assert.equal(stepdowns, 2);
    assert.equal(acked.size, N, `every message acknowledged (${acked.size})`);
    assert.deepEqual(unconfirmed, [], "every double ack confirmed");
    assert.deepEqual(ackedCameAgain, [], "no confirmed ack's message came again");

    // The consumer's server (now the stream's leader too) goes: another member leads D, from the
    // state the group committed, and delivers nothing again (all was acknowledged).
    await c.stopMember(consumerLeader);
    const after = await infoWithLeader(nc, "F", "D", consumerLeader);
    assert.notEqual(after.cluster?.leader ?? consumerLeader, consumerLeader);
    assert.equal(after.ack_floor?.stream_seq, N, `ack floor on ${after.cluster?.leader}: ${JSON.stringify(after.ack_floor)}`);
    assert.equal(after.num_ack_pending, 0);
    // Past the ack wait, a pull still gets nothing.
    const again: number[] = [];
    const consumer = await js.consumers.get("F", "D");
    for await (const m of await consumer.fetch({ max_messages: 10, expires: 5_000 })) again.push(m.seq);
    assert.deepEqual(again, [], "nothing acknowledged comes again");
  } finally {
    await nc.close();
    await c.stop();
  }
});
