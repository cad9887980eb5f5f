// A consumer whose leader's server stops just after it was scaled down to one replica, side by
// side with three nats-server 2.15 servers (both run as processes from the same configuration
// files). An R3 durable pull consumer (10 of 30 messages delivered, the first 5 acknowledged) is
// updated to R1 and its leader's server is stopped at once: the other two elect a leader, which
// removes the stopped member and then the other one, and keeps the consumer with its state (tsnats:
// the `kept` entry names that member, not the one leading when the update was proposed). The
// stopped server comes back without a copy of its own (CONSUMER.NAMES lists it once), and the
// consumer goes on from its state (the next pull gets 11 to 15).
import { connect } from "@nats-io/transport-node";
import { clusterApi } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { EXPLICIT, consumerState, pullSeqs, replicasSaid, seqSpan, settledInfo, streamWithConsumers, type Json, type ScaledConsumer } from "./helpers/consumer_scale.js";

const MESSAGES = 30;
const D: ScaledConsumer = { name: "D", config: { durable_name: "D", ...EXPLICIT } };

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const serverIndex = (name: string): number => Number(name.slice(1)) - 1;
  try {
    const out = await streamWithConsumers(nc, [D], MESSAGES);
    const leader = (await settledInfo(nc, "S", "D", 3)).cluster?.leader as string;
    const answer = await clusterApi<Json>(nc, "$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { ...D.config, num_replicas: 1 } });
    await cluster.stopServer(serverIndex(leader));
    out.push(`to R1, its leader stopped: ${replicasSaid(answer)}`);
    const r1 = await settledInfo(nc, "S", "D", 1);
    out.push(`settled: R${r1.config?.num_replicas}, on a running server ${r1.cluster?.leader !== leader}: ${consumerState(r1)}`);
    await cluster.startServer(serverIndex(leader));
    await waitUntil(async () => ((await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S")).cluster?.replicas ?? []).every((r: Json) => r.current === true), 30_000, "the stream current everywhere");
    out.push(`names once it is back: ${JSON.stringify((await clusterApi<Json>(nc, "$JS.API.CONSUMER.NAMES.S")).consumers)}`);
    out.push(`still: ${consumerState(await settledInfo(nc, "S", "D", 1))}`);
    out.push(`next pull: ${seqSpan(await pullSeqs(nc, "S", "D", 5, () => true))}`);
    return out;
  } finally {
    await nc.close();
  }
}

const expected = [
  "D as created: R3 others 2: delivered 10/10 ack floor 5/5 ack pending 5 pending 20",
  "to R1, its leader stopped: R1",
  "settled: R1, on a running server true: delivered 10/10 ack floor 5/5 ack pending 5 pending 20",
  'names once it is back: ["D"]',
  "still: delivered 10/10 ack floor 5/5 ack pending 5 pending 20",
  "next pull: 11..15",
];

sideBySideTests("a consumer scaled to R1 whose leader's server stops at once keeps its state on another member", 3, scenario, expected);
