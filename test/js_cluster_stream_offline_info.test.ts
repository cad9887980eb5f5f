// STREAM.INFO and STREAM.LIST of a replicated stream whose servers are all stopped while the meta group keeps its
// quorum (five servers, an R2 stream), side by side on five tsnats servers and five nats-server
// 2.15.1 (processes from the same configuration files). nats-server's meta leader answers it
// "stream is offline" (10118) when every server of the stream's group is offline
// (jsStreamInfoRequest, allPeersOffline), and lists it with a stand-in entry (its assignment's
// config and creation time, a zeroed state, its servers offline) and as missing; tsnats answered
// "temporarily unavailable" (10008) and listed it as missing only.
// (Its consumers differ, on purpose for now: nats-server's meta leader lists them from their
// assignments, stand-ins all missing, and answers their info 10119; tsnats's meta group records
// no consumers and answers those 10008: docs/architecture/jetstream.md, consumer_stand_in.ts.)
import { isDeepStrictEqual } from "node:util";
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
    type Entry = Record<string, unknown> & { config?: unknown; created?: string; cluster?: Record<string, unknown> & { replicas?: Array<Record<string, unknown>> } };
    const before = ((await clusterApi<Answer>(nc, "$JS.API.STREAM.LIST")).streams as Entry[] | undefined)?.[0];
    for (const s of servers) await c.stopServer(Number(s.slice(1)) - 1);
    const via = await connect({ servers: c.urls.filter((_u, i) => !servers.includes(`N${i + 1}`)) });
    try {
      // (clusterApi asks again while the answer is 503: a meta election, if the meta leader was one of them.)
      const info = await clusterApi<Answer>(via, "$JS.API.STREAM.INFO.O");
      // Its list entry: a stand-in (the config and creation time as listed before, a zeroed
      // state, both servers offline), the stream missing too.
      const list = await clusterApi<Answer>(via, "$JS.API.STREAM.LIST");
      const { streams, ...rest } = list;
      const shape = ((streams ?? []) as Entry[]).map((e) => {
        const { replicas, ...cl } = e.cluster ?? {};
        return {
          keys: Object.keys(e).join(","),
          config: isDeepStrictEqual(e.config, before?.config) ? "as listed before" : e.config,
          created: e.created !== undefined && Date.parse(e.created) === Date.parse(before?.created ?? "") ? "as listed before" : e.created,
          state: e.state,
          cluster: { keys: Object.keys(e.cluster ?? {}).join(","), name: cl.name, raft_group: typeof cl.raft_group, replicas: (replicas ?? []).map((r) => ({ ...r, name: servers.includes(String(r.name)) ? "stopped" : r.name, peer: typeof r.peer })) },
          ts: typeof e.ts,
        };
      });
      return { info: info.error, list: { ...rest, streams: shape } };
    } finally {
      await via.close();
    }
  } finally {
    await nc.close();
  }
}

const offlineReplica = { name: "stopped", current: false, offline: true, active: 0, peer: "string" };
sideBySideTests("STREAM.INFO and STREAM.LIST of an R2 stream whose two servers are stopped, the meta group up: stream is offline, a stand-in entry", 5, offlineStreamInfo, {
  info: { code: 500, err_code: 10118, description: "stream is offline" },
  list: {
    type: "io.nats.jetstream.api.v1.stream_list_response",
    total: 1,
    offset: 0,
    limit: 256,
    missing: ["O"],
    streams: [
      {
        keys: "config,created,state,cluster,ts",
        config: "as listed before",
        created: "as listed before",
        state: { messages: 0, bytes: 0, first_seq: 0, first_ts: "0001-01-01T00:00:00Z", last_seq: 0, last_ts: "0001-01-01T00:00:00Z", consumer_count: 0 },
        cluster: { keys: "name,raft_group,replicas", name: "X", raft_group: "string", replicas: [offlineReplica, offlineReplica] },
        ts: "string",
      },
    ],
  },
});
