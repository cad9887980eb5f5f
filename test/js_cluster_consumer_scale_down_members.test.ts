// Consumers scaled down to one replica while a member is away, and consumers whose leader is on a
// server their stream's scale-down removes, side by side with three nats-server 2.15 servers (both
// run as processes from the same configuration files). A durable pull consumer with 10 messages
// delivered and the first 5 acknowledged:
// - scaled to R1 while a member of its group is stopped: it settles as R1 on a running server, the
//   stopped one (back) does not hold a second copy, and the consumer goes on from its state (the
//   next pull gets messages 11 to 15, no acknowledged one again), then grows back to R3 with it;
// - led by a server its stream's scale-down to R1 removes: the consumer keeps its state on the
//   server the stream keeps and goes on from it.
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { EXPLICIT, consumerState, pullSeqs, seqSpan, settledInfo, type Json } from "./helpers/consumer_scale.js";

const MESSAGES = 30;

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  const serverIndex = (name: string): number => Number(name.slice(1)) - 1;
  try {
    // ---- scaled to R1 while a member is stopped ----
    assert.equal((await createStreamWhenPlaced(nc, { name: "S", subjects: ["s.>"], num_replicas: 3 })).error, undefined);
    for (let i = 1; i <= MESSAGES; i++) await clusterPublish(nc, "s.x", `m${i}`);
    assert.equal((await clusterApi(nc, "$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { durable_name: "D", ...EXPLICIT } })).error, undefined);
    out.push(`first pull: ${seqSpan(await pullSeqs(nc, "S", "D", 10, (i) => i < 5))}`);
    await waitUntil(async () => (await clusterApi<Json>(nc, "$JS.API.CONSUMER.INFO.S.D")).ack_floor?.stream_seq === 5, 20_000, "5 acknowledged");
    const before = await settledInfo(nc, "S", "D", 3, false);
    // A member of its group that leads neither the consumer nor the stream is stopped.
    const streamLeader = ((await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S")).cluster?.leader ?? "") as string;
    const away = (before.cluster.replicas as Json[]).map((r) => r.name as string).find((n) => n !== streamLeader) as string;
    await cluster.stopServer(serverIndex(away));
    const answer = await clusterApi<Json>(nc, "$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { durable_name: "D", ...EXPLICIT, num_replicas: 1 } });
    out.push(`to R1 with a member stopped: ${answer.error === undefined ? `R${answer.config.num_replicas}` : answer.error.description}`);
    let r1 = await settledInfo(nc, "S", "D", 1);
    out.push(`settled: R${r1.config?.num_replicas}, on a running server ${r1.cluster?.leader !== away}: ${consumerState(r1)}`);
    await cluster.startServer(serverIndex(away));
    await nc.close();
    const nc2 = await connect({ servers: cluster.urls });
    try {
      // The member back catches up (it applies the scale-down): one consumer, R1, its state kept.
      await waitUntil(async () => ((await clusterApi<Json>(nc2, "$JS.API.STREAM.INFO.S")).cluster?.replicas ?? []).every((r: Json) => r.current === true), 30_000, "the stream current everywhere");
      const names = (await clusterApi<Json>(nc2, "$JS.API.CONSUMER.NAMES.S")).consumers;
      out.push(`names once the member is back: ${JSON.stringify(names)}`);
      r1 = await settledInfo(nc2, "S", "D", 1);
      out.push(`still: R${r1.config?.num_replicas}: ${consumerState(r1)}`);
      out.push(`next pull: ${seqSpan(await pullSeqs(nc2, "S", "D", 5, () => true))}`);
      await waitUntil(async () => (await clusterApi<Json>(nc2, "$JS.API.CONSUMER.INFO.S.D")).num_ack_pending === 5, 20_000, "11 to 15 acknowledged");
      const back = await clusterApi<Json>(nc2, "$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { durable_name: "D", ...EXPLICIT, num_replicas: 3 } });
      out.push(`back to R3: ${back.error === undefined ? `R${back.config.num_replicas}` : back.error.description}; ${consumerState(await settledInfo(nc2, "S", "D", 3))}`);

      // ---- led by a server the stream's scale-down removes ----
      assert.equal((await createStreamWhenPlaced(nc2, { name: "T", subjects: ["t.>"], num_replicas: 3 })).error, undefined);
      for (let i = 1; i <= MESSAGES; i++) await clusterPublish(nc2, "t.x", `t${i}`);
      assert.equal((await clusterApi(nc2, "$JS.API.CONSUMER.CREATE.T.L", { stream_name: "T", config: { durable_name: "L", ...EXPLICIT } })).error, undefined);
      out.push(`T first pull: ${seqSpan(await pullSeqs(nc2, "T", "L", 10, (i) => i < 5))}`);
      await waitUntil(async () => (await clusterApi<Json>(nc2, "$JS.API.CONSUMER.INFO.T.L")).ack_floor?.stream_seq === 5, 20_000, "5 acknowledged on T");
      const tLeader = ((await clusterApi<Json>(nc2, "$JS.API.STREAM.INFO.T")).cluster?.leader ?? "") as string;
      const other = ["N1", "N2", "N3"].find((n) => n !== tLeader) as string;
      await waitUntil(
        async () => {
          const ci = await clusterApi<Json>(nc2, "$JS.API.CONSUMER.INFO.T.L");
          if (ci.cluster?.leader === other) return true;
          await nc2.request("$JS.API.CONSUMER.LEADER.STEPDOWN.T.L", JSON.stringify({ placement: { preferred: other } }), { timeout: 5000 }).catch(() => undefined);
          return false;
        },
        30_000,
        `L led by ${other}`,
      );
      const cfg = (await clusterApi<Json>(nc2, "$JS.API.STREAM.INFO.T")).config;
      const down = await clusterApi<Json>(nc2, "$JS.API.STREAM.UPDATE.T", { ...cfg, num_replicas: 1 });
      out.push(`T to R1: ${down.error === undefined ? `R${down.config.num_replicas}` : down.error.description}`);
      await waitUntil(
        async () => {
          const si = await clusterApi<Json>(nc2, "$JS.API.STREAM.INFO.T");
          return si.cluster?.desired === undefined && (si.cluster?.replicas ?? []).length === 0 && (si.cluster?.leader ?? "") !== "";
        },
        30_000,
        "T on one server",
      );
      // (Its config keeps num_replicas 0: the stream's.)
      const l1 = await settledInfo(nc2, "T", "L", 1, false);
      out.push(`L once T is R1: R${l1.config?.num_replicas}: ${consumerState(l1)}`);
      out.push(`L next pull: ${seqSpan(await pullSeqs(nc2, "T", "L", 5, () => true))}`);
    } finally {
      await nc2.close();
    }
    return out;
  } finally {
    if (!nc.isClosed()) await nc.close();
  }
}

const expected = [
  "first pull: 1..10",
  "to R1 with a member stopped: R1",
  "settled: R1, on a running server true: delivered 10/10 ack floor 5/5 ack pending 5 pending 20",
  'names once the member is back: ["D"]',
  "still: R1: delivered 10/10 ack floor 5/5 ack pending 5 pending 20",
  "next pull: 11..15",
  "back to R3: R3; delivered 15/15 ack floor 5/5 ack pending 5 pending 15",
  "T first pull: 1..10",
  "T to R1: R1",
  "L once T is R1: R0: delivered 10/10 ack floor 5/5 ack pending 5 pending 20",
  "L next pull: 11..15",
];

sideBySideTests("consumers scaled to R1 with a member away, or led by a server their stream's scale-down removes, keep their state", 3, scenario, expected);
