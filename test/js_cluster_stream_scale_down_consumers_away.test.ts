// Consumers made single-replica by their stream's scale-down to one replica while one server is
// stopped, side by side with three nats-server 2.15 servers (both run as processes from the same
// configuration files). The stream and every consumer are led from one server, another one is
// stopped, and the stream is scaled to R1: each consumer's group leaves the stopped server and
// the third one one member at a time before the stream removes its own (as
// js_cluster_stream_scale_down_consumers, checked live on nats-server 2.15.1); delivered, ack
// floor and pending never change; the server back holds no second copy of any consumer (each
// listed once, none lost), and every consumer goes on from its state and grows back with the
// stream if it asks for the stream's count.
import { connect } from "@nats-io/transport-node";
import { clusterApi } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { asCreated, consumerState, settledInfo, stateAsCreated, type Json } from "./helpers/consumer_scale.js";
import { goOnAndGrow, SCALE_DOWN_KINDS as KINDS, scaledDownAsExpected, streamFollowedBy, watchStreamScaleDown, wentOnAndGrew } from "./helpers/stream_scale_watch.js";

const MESSAGES = 40;

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  let nc = await connect({ servers: cluster.urls });
  try {
    const { out, si } = await streamFollowedBy(nc, KINDS, MESSAGES);
    const streamLeader = si.cluster?.leader as string;
    // Every consumer led from the stream's leader, so the server stopped leads nothing.
    for (const k of KINDS) {
      await waitUntil(
        async () => {
          const ci = await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`);
          if (ci.cluster?.leader === streamLeader && ci.cluster?.desired === undefined) return true;
          await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.S.${k.name}`, JSON.stringify({ placement: { preferred: streamLeader } }), { timeout: 5000 }).catch(() => undefined);
          return false;
        },
        30_000,
        `${k.name} led from ${streamLeader}`,
      );
    }
    const away = Number((["N1", "N2", "N3"].find((n) => n !== streamLeader) as string).slice(1)) - 1;
    await cluster.stopServer(away);
    // (A client of the servers still running.)
    await nc.close();
    nc = await connect({ servers: cluster.urls.filter((_u, i) => i !== away) });
    out.push(...(await watchStreamScaleDown(nc, si.config as Json, KINDS, new Map(KINDS.map((k) => [k.name, stateAsCreated(k, MESSAGES)])))));
    await cluster.startServer(away);
    await nc.close();
    nc = await connect({ servers: cluster.urls });
    // The server back drops its copy: every consumer listed once, each still R1 with its state.
    await waitUntil(async () => (await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S")).cluster?.leader !== undefined, 30_000, "S led");
    const names = ((await clusterApi<Json>(nc, "$JS.API.CONSUMER.NAMES.S")).consumers as string[]).sort();
    out.push(`names once the server is back: ${names.join(",")}`);
    for (const k of KINDS) {
      const info = await settledInfo(nc, "S", k.name, 1, false);
      out.push(`${k.name} still: R${info.config?.num_replicas}: ${consumerState(info)}`);
    }
    out.push(...(await goOnAndGrow(nc, si.config as Json, KINDS, MESSAGES)));
    return out;
  } finally {
    await nc.close();
  }
}

function expected(): string[] {
  const out = [...asCreated(KINDS, MESSAGES), ...scaledDownAsExpected(KINDS, MESSAGES)];
  out.push(`names once the server is back: ${KINDS.map((k) => k.name).sort().join(",")}`);
  for (const k of KINDS) out.push(`${k.name} still: R${k.follows ? 0 : 1}: ${stateAsCreated(k, MESSAGES)}`);
  return [...out, ...wentOnAndGrew(KINDS, MESSAGES)];
}

sideBySideTests("consumers made R1 by their stream's scale-down while a server is stopped move onto the stream's server one member at a time and are not copied back by the server's return", 3, scenario, expected());
