// Consumers made single-replica by their stream's scale-down to one replica while one server is
// stopped, side by side with three nats-server 2.15 servers (both run as processes from the same
// configuration files). The stream and every consumer are led from one server, another one is
// stopped, and the stream is scaled to R1: each consumer's group leaves the stopped server and
// the third one one member at a time before the stream removes its own (as js_cluster_stream_
// scale_down_consumers, checked live on nats-server 2.15.1), delivered, ack floor and pending
// never change; the server back holds no second copy of any consumer (each listed once, none
// lost), and every consumer goes on from its state and grows back with the stream if it asks
// for the stream's count.
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
  { name: "E", config: { name: "E", ...EPHEMERAL, ...EXPLICIT }, follows: false },
  { name: "PD", config: { durable_name: "PD", deliver_subject: "in.PD", ...EXPLICIT }, push: "in.PD", follows: true },
  { name: "PE", config: { name: "PE", deliver_subject: "in.PE", ...EPHEMERAL, ...EXPLICIT }, push: "in.PE", follows: false },
];

const MESSAGES = 40;

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  let nc = await connect({ servers: cluster.urls });
  try {
    const out = await streamWithConsumers(nc, KINDS, MESSAGES);
    for (const k of KINDS.filter((x) => x.follows)) {
      const a = await clusterApi<Json>(nc, `$JS.API.CONSUMER.CREATE.S.${k.name}`, { stream_name: "S", config: { ...k.config, num_replicas: 0 } });
      assert.equal(a.error, undefined, JSON.stringify(a.error));
    }
    const si = await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S");
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
    const states = new Map(KINDS.map((k) => [k.name, stateAsCreated(k, MESSAGES)]));
    out.push(...(await watchStreamScaleDown(nc, si.config as Json, KINDS, states)));
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
    for (const k of KINDS.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: ${seqSpan(await pullSeqs(nc, "S", k.name, 5, () => true))}`);
    // (Both push consumers have interest again while each pushes its next message, as before the stop.)
    for (const k of KINDS) if (k.push !== undefined) nc.subscribe(k.push, { callback: () => undefined });
    let n = MESSAGES;
    for (const k of KINDS.filter((x) => x.push !== undefined)) out.push(`${k.name} pushes: ${seqSpan(await nextPushed(nc, k, 1, async () => void (await clusterPublish(nc, "s.x", `m${++n}`))))}`);
    // (Asked again while the meta leader does not count the server back as current yet: "no suitable peers", 10005.)
    let up: Json = {};
    await waitUntil(async () => (up = await clusterApi<Json>(nc, "$JS.API.STREAM.UPDATE.S", { ...(si.config as Json), num_replicas: 3 })).error?.err_code !== 10005, 30_000, "S placed on three servers");
    out.push(`stream to R3: ${up.error !== undefined ? `${up.error.err_code} ${up.error.description}` : `R${up.config?.num_replicas}`}`);
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
  out.push(`names once the server is back: ${KINDS.map((k) => k.name).sort().join(",")}`);
  for (const k of KINDS) out.push(`${k.name} still: R${k.follows ? 0 : 1}: ${stateAsCreated(k, MESSAGES)}`);
  for (const k of KINDS.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: 11..15`);
  KINDS.filter((x) => x.push !== undefined).forEach((k, i) => out.push(`${k.name} pushes: ${MESSAGES + 1 + i}..${MESSAGES + 1 + i}`));
  out.push("stream to R3: R3");
  // (Pulled 11..15 and acknowledged them; a push consumer got the two messages published since.)
  const after = (k: Kind): string => (k.push === undefined ? `delivered 15/15 ack floor 5/5 ack pending 5 pending ${MESSAGES + 2 - 15}` : `delivered ${MESSAGES + 2}/${MESSAGES + 2} ack floor 5/5 ack pending ${MESSAGES + 2 - 5} pending 0`);
  for (const k of KINDS) out.push(`${k.name} once the stream is R3 again: R${k.follows ? 0 : 1} others ${k.follows ? 2 : 0}: ${after(k)}`);
  return out;
}

sideBySideTests("consumers made R1 by their stream's scale-down while a server is stopped move onto the stream's server one member at a time and are not copied back by the server's return", 3, scenario, expected());
