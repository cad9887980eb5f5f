// Placement order side by side: with N1 and T3 holding a reservation (an R2 stream of 400 MB
// max_bytes placed away from N2), an R1 stream without placement goes to N2 under a nats-server
// 2.15 meta leader and under T3 (nrg_peer_meta_lead): most room first, a tie to the server with
// fewer streams (T3, holding a reservation, has less room than N2). T3 shuffled the candidates before.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { throughNatsThenT3 } from "./helpers/nrg_cluster.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

async function created(nc: NatsConnection, name: string, cfg: Record<string, unknown>): Promise<Answer> {
  return retry(() => api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], ...cfg }).then((a) => (a.error === undefined ? a : Promise.reject(new Error(JSON.stringify(a.error))))), 30_000);
}

/** Where three R1 streams without placement go once N1 and T3 hold a reservation (each deleted again before the next). */
async function placed(nc: NatsConnection, suffix: string): Promise<string[]> {
  await created(nc, `RES${suffix}`, { num_replicas: 2, max_bytes: 400 * 1024 * 1024, placement: { tags: ["!az:2"] } });
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const a = await created(nc, `FREE${suffix}${i}`, { num_replicas: 1 });
    out.push(String((a.cluster as { leader?: string } | undefined)?.leader));
    assert.equal((await api(nc, `$JS.API.STREAM.DELETE.FREE${suffix}${i}`)).success, true);
  }
  assert.equal((await api(nc, `$JS.API.STREAM.DELETE.RES${suffix}`)).success, true);
  return out;
}

test("T3 as meta leader places an R1 stream on the server with the most room, as a nats-server meta leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const { byNats, byT3 } = await throughNatsThenT3(t, (_cluster, nc, _sys, suffix) => placed(nc, suffix));
  assert.deepEqual(byNats, ["N2", "N2", "N2"], "the nats-server meta leader places them on N2");
  assert.deepEqual(byT3, byNats, "T3 places them as the nats-server meta leader");
});
