// Consumers made single-replica by their stream's scale-down to one replica move onto the server
// the stream keeps one member at a time, before the stream removes any of its own, side by side
// with three nats-server 2.15 servers (both run as processes from the same configuration files).
// Checked live on nats-server 2.15.1 (infos every few ms): each consumer's group leader removes
// the members on servers the stream leaves one at a time ("removing peer N1", the member listed
// as pending, then "waiting for peer set to settle"), handing its leadership to the kept server
// first when it is not there; meanwhile the stream shows "waiting for consumer 'C' to migrate",
// and only then removes its own members. A durable asking for no count (the stream's) and an
// ephemeral or durable asking for three (rewritten to one) alike; delivered, ack floor and
// pending never change, and every consumer goes on from its state. Scaled back to R3, those
// asking for the stream's count grow with it, the others stay R1 (their config says so now).
// The consumers' leaders are put on servers other than the stream's leader first.
import { connect } from "@nats-io/transport-node";
import { clusterApi } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { asCreated, stateAsCreated, type Json } from "./helpers/consumer_scale.js";
import { goOnAndGrow, SCALE_DOWN_KINDS as KINDS, scaledDownAsExpected, streamFollowedBy, watchStreamScaleDown, wentOnAndGrew } from "./helpers/stream_scale_watch.js";

const MESSAGES = 40;

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const { out, si } = await streamFollowedBy(nc, KINDS, MESSAGES);
    const streamLeader = si.cluster?.leader as string;
    // Every consumer led from a server the stream's leader is not on (the one the stream keeps).
    const other = ["N1", "N2", "N3"].find((n) => n !== streamLeader) as string;
    for (const k of KINDS) {
      await waitUntil(
        async () => {
          const ci = await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`);
          if ((ci.cluster?.leader ?? streamLeader) !== streamLeader && ci.cluster?.desired === undefined) return true;
          await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.S.${k.name}`, JSON.stringify({ placement: { preferred: other } }), { timeout: 5000 }).catch(() => undefined);
          return false;
        },
        30_000,
        `${k.name} led off ${streamLeader}`,
      );
    }
    out.push(...(await watchStreamScaleDown(nc, si.config as Json, KINDS, new Map(KINDS.map((k) => [k.name, stateAsCreated(k, MESSAGES)])))));
    out.push(...(await goOnAndGrow(nc, si.config as Json, KINDS, MESSAGES)));
    return out;
  } finally {
    await nc.close();
  }
}

sideBySideTests(
  "consumers made R1 by their stream's scale-down move onto its server one member at a time, before the stream's own members go, keeping their state",
  3,
  scenario,
  [...asCreated(KINDS, MESSAGES), ...scaledDownAsExpected(KINDS, MESSAGES), ...wentOnAndGrew(KINDS, MESSAGES)],
);
