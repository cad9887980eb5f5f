// The HA-asset limit (`jetstream { limits { max_ha_assets: 1 } }` on every server) side by side:
// once WARM, an R3 stream, runs on every server (two RAFT groups each with the meta group, more
// than the limit), N1 as meta leader and then T3 (nrg_peer_meta_lead) refuse an R3 stream ("no
// suitable peers for placement, miscellaneous issue": nats-server 2.15.1's selectPeerGroup
// leaves out a server whose STATSZ shows more groups than the meta leader's own limit) and an R3
// durable on WARM (insufficient resources), the same answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { throughNatsThenT3 } from "./helpers/nrg_cluster.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/**
 * Until the meta leader refuses to place an R3 stream (the servers' STATSZ it knows show WARM's
 * groups; a stream placed before that is deleted again); then the refusal of an R3 durable on WARM.
 */
async function refusals(nc: NatsConnection, suffix: string): Promise<Record<string, Answer>> {
  const name = `X${suffix}`;
  let r3: Answer = {};
  await waitUntil(
    async () => {
      r3 = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3 });
      if (r3.error?.err_code === 10005) return true;
      await api(nc, `$JS.API.STREAM.DELETE.${name}`);
      return false;
    },
    60_000,
    "an R3 stream refused for the HA-asset limit",
    () => JSON.stringify(r3),
  );
  const durable = await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.WARM.D${suffix}`, { stream_name: "WARM", config: { durable_name: `D${suffix}`, ack_policy: "explicit", num_replicas: 3 } });
  return { r3, durable };
}

test("a meta leader with max_ha_assets refuses placements on servers past it, T3 as a nats-server meta leader does", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(
    t,
    (_cluster, nc, _sys, suffix) => refusals(nc, suffix),
    (cluster) => (cluster.maxHaAssets = 1),
  );
  assert.match(byNats.r3.error?.description ?? "", /miscellaneous issue/);
  assert.deepEqual(byT3, byNats);
});
