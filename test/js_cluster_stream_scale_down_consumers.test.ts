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
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { consumerState, EPHEMERAL, EXPLICIT, pullSeqs, seqSpan, settledInfo, stateAsCreated, streamWithConsumers, type Json, type ScaledConsumer as Kind } from "./helpers/consumer_scale.js";
import { duringScaleDown, nextPushed, watchStreamScaleDown } from "./helpers/stream_scale_watch.js";

/** `follows`: num_replicas 0 (the stream's count); the others ask for 3. */
const KINDS: Array<Kind & { follows: boolean }> = [
  { name: "D", config: { durable_name: "D", ...EXPLICIT }, follows: true },
  { name: "D3", config: { durable_name: "D3", ...EXPLICIT }, follows: false },
  { name: "E", config: { name: "E", ...EPHEMERAL, ...EXPLICIT }, follows: false },
  { name: "PD", config: { durable_name: "PD", deliver_subject: "in.PD", ...EXPLICIT }, push: "in.PD", follows: true },
  { name: "PE", config: { name: "PE", deliver_subject: "in.PE", ...EPHEMERAL, ...EXPLICIT }, push: "in.PE", follows: false },
];

const MESSAGES = 40;

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const out = await streamWithConsumers(nc, KINDS, MESSAGES);
    for (const k of KINDS.filter((x) => x.follows)) {
      const a = await clusterApi<Json>(nc, `$JS.API.CONSUMER.CREATE.S.${k.name}`, { stream_name: "S", config: { ...k.config, num_replicas: 0 } });
      assert.equal(a.error, undefined, JSON.stringify(a.error));
    }
    const si = await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S");
    const streamLeader = si.cluster?.leader as string;
    // Every consumer led from a server the stream's leader is not on (the one the stream keeps).
    for (const k of KINDS) {
      const other = ["N1", "N2", "N3"].find((n) => n !== streamLeader) as string;
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
    const states = new Map(KINDS.map((k) => [k.name, stateAsCreated(k, MESSAGES)]));
    out.push(...(await watchStreamScaleDown(nc, si.config as Json, KINDS, states)));
    // Each goes on from its state: the pulls get 11..15, a new message is pushed once.
    for (const k of KINDS.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: ${seqSpan(await pullSeqs(nc, "S", k.name, 5, () => true))}`);
    let n = MESSAGES;
    for (const k of KINDS.filter((x) => x.push !== undefined)) out.push(`${k.name} pushes: ${seqSpan(await nextPushed(nc, k, 1, async () => void (await clusterPublish(nc, "s.x", `m${++n}`))))}`);
    // Back to R3: those following the stream grow with it.
    const up = await clusterApi<Json>(nc, "$JS.API.STREAM.UPDATE.S", { ...(si.config as Json), num_replicas: 3 });
    out.push(`stream to R3: R${up.config?.num_replicas}`);
    for (const k of KINDS) {
      const info = await settledInfo(nc, "S", k.name, k.follows ? 3 : 1, false);
      out.push(`${k.name} once the stream is R3 again: R${info.config?.num_replicas} others ${(info.cluster?.replicas ?? []).length}: ${consumerState(info)}`);
    }
    return out;
  } finally {
    await nc.close();
  }
}

function expected(): string[] {
  const out = KINDS.map((k) => `${k.name} as created: R3 others 2: ${stateAsCreated(k, MESSAGES)}`);
  out.push("stream to R1: R1");
  for (const k of KINDS) out.push(`${k.name}: R${k.follows ? 0 : 1}, on the server the stream keeps true: ${stateAsCreated(k, MESSAGES)}`);
  out.push(...duringScaleDown(KINDS));
  for (const k of KINDS.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: 11..15`);
  KINDS.filter((x) => x.push !== undefined).forEach((k, i) => out.push(`${k.name} pushes: ${MESSAGES + 1 + i}..${MESSAGES + 1 + i}`));
  out.push("stream to R3: R3");
  const after = (k: Kind): string => {
    // (Pulled 11..15 and acknowledged them: 6..10 still pending.)
    if (k.push === undefined) return `delivered 15/15 ack floor 5/5 ack pending 5 pending ${MESSAGES + 2 - 15}`;
    // (A push consumer got every message: the two published since.)
    return `delivered ${MESSAGES + 2}/${MESSAGES + 2} ack floor 5/5 ack pending ${MESSAGES + 2 - 5} pending 0`;
  };
  for (const k of KINDS) out.push(`${k.name} once the stream is R3 again: R${k.follows ? 0 : 1} others ${k.follows ? 2 : 0}: ${after(k)}`);
  return out;
}

sideBySideTests("consumers made R1 by their stream's scale-down move onto its server one member at a time, before the stream's own members go, keeping their state", 3, scenario, expected());
