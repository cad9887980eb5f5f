// Placement side by side: the same stream creates answered by a nats-server 2.15 meta leader,
// then by T3 (nrg_peer_meta_lead), every server with `jetstream { unique_tag: "az" }`, N1 and T3
// in zone az:1 with tag ssd, N2 in az:2. Unique zones refused alike ("server tag not unique"),
// with a missing tag too; excluded tags (`!ssd`) refused alike ("tags excluded"), each server
// naming the first tag it fails in the order asked (`Z, !ssd`: Z only); `!az:1`
// places on N2 alone; naming the zone prefix in the tags turns the unique check off (az:1 on N1
// and T3); an R2 without tags spans both zones.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

const ZONE: Record<string, string> = { N1: "az:1", T3: "az:1", N2: "az:2" };

/** Each create's refusal, or where it was placed (servers by name, or by zone where either az:1 server may be chosen), the stream deleted again. */
async function placements(nc: NatsConnection, suffix: string): Promise<Record<string, unknown>> {
  const asks: Record<string, { replicas: number; tags?: string[] }> = {
    ssdR2: { replicas: 2, tags: ["ssd"] },
    anyR3: { replicas: 3 },
    notSsdR2: { replicas: 2, tags: ["!ssd"] },
    notZone1: { replicas: 1, tags: ["!az:1"] },
    zone1R2: { replicas: 2, tags: ["az:1"] },
    anyR2: { replicas: 2 },
    // Each server names only the first tag it fails, in the order asked, as given (upper case).
    missingFirst: { replicas: 1, tags: ["Z", "!ssd"] },
    excludedFirst: { replicas: 1, tags: ["!ssd", "z"] },
  };
  const out: Record<string, unknown> = {};
  for (const [key, ask] of Object.entries(asks)) {
    const name = `${key.toUpperCase()}${suffix}`;
    const a = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: ask.replicas, ...(ask.tags !== undefined ? { placement: { tags: ask.tags } } : {}) });
    if (a.error !== undefined) {
      out[key] = a.error;
      continue;
    }
    const c = a.cluster as { leader?: string; replicas?: { name: string }[] };
    const servers = [c.leader ?? "", ...(c.replicas ?? []).map((r) => r.name)].sort();
    out[key] = key === "anyR2" ? servers.map((s) => ZONE[s]).sort() : servers;
    assert.equal((await api(nc, `$JS.API.STREAM.DELETE.${name}`)).success, true);
  }
  return out;
}

test("T3 as meta leader places streams by unique zone and excluded tags as a nats-server meta leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  cluster.uniqueTag = "az";
  for (const [name, tags] of [["N1", ["az:1", "ssd"]], ["N2", ["az:2"]], ["T3", ["az:1", "ssd"]]] as const) cluster.tags.set(name, [...tags]);
  try {
    const { nc1, jsm } = await cluster.upWithClients();
    // Placement knows every server (T3's STATSZ) once a stream is placed on N1 and T3 (the zone named: no unique check).
    await retry(() => jsm.streams.add({ name: "WARM", subjects: ["warm.>"], num_replicas: 2, placement: { tags: ["az:1"] } as never }), 60_000);
    const byNats = await placements(nc1, "N");
    t.diagnostic(`the nats-server meta leader: ${JSON.stringify(byNats)}`);
    await cluster.metaLeadOnT3();
    const byT3 = await placements(nc1, "T");
    assert.deepEqual(byT3, byNats, "T3 places and refuses as the nats-server meta leader");
  } finally {
    await cluster.stop();
  }
});
