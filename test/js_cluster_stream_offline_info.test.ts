// STREAM.INFO of a replicated stream whose servers are all stopped while the meta group keeps its
// quorum (five servers, an R2 stream), side by side on five tsnats servers and five nats-server
// 2.15.1 (processes from the same configuration files). nats-server's meta leader answers it
// "stream is offline" (10118) when every server of the stream's group is offline
// (jsStreamInfoRequest, allPeersOffline); tsnats answered "temporarily unavailable" (10008).
// (Its consumers differ, on purpose for now: nats-server's meta leader lists them from their
// assignments, stand-ins all missing, and answers their info 10119; tsnats's meta group records
// no consumers and answers those 10008: docs/architecture/jetstream.md, consumer_stand_in.ts.)
import { connect } from "@nats-io/transport-node";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import type { Answer } from "./helpers/js_cluster_consumer_offline_list_scenario.js";
import { waitUntil } from "./helpers/server.js";

async function offlineStreamInfo(c: RefJsCluster): Promise<unknown> {
  const nc = await connect({ servers: c.urls });
  try {
    const made = await createStreamWhenPlaced<Answer>(nc, { name: "O", subjects: ["o.>"], num_replicas: 2 });
    if (made.error !== undefined) throw new Error(JSON.stringify(made.error));
    for (let i = 1; i <= 3; i++) await clusterPublish(nc, "o.x", `o${i}`);
    let servers: string[] = [];
    await waitUntil(async () => {
      const si = await clusterApi<Answer & { cluster?: { leader?: string; replicas?: Array<{ name: string }> } }>(nc, "$JS.API.STREAM.INFO.O");
      servers = [si.cluster?.leader ?? "", ...(si.cluster?.replicas ?? []).map((r) => r.name)].filter((n) => n !== "");
      return servers.length === 2;
    }, 20_000, "O on two servers");
    for (const s of servers) await c.stopServer(Number(s.slice(1)) - 1);
    const via = await connect({ servers: c.urls.filter((_u, i) => !servers.includes(`N${i + 1}`)) });
    try {
      // (clusterApi asks again while the answer is 503: a meta election, if the meta leader was one of them.)
      const info = await clusterApi<Answer>(via, "$JS.API.STREAM.INFO.O");
      return { info: info.error };
    } finally {
      await via.close();
    }
  } finally {
    await nc.close();
  }
}

sideBySideTests("STREAM.INFO of an R2 stream whose two servers are stopped, the meta group up: stream is offline", 5, offlineStreamInfo, {
  info: { code: 500, err_code: 10118, description: "stream is offline" },
});
