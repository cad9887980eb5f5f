// Placement by tags while a tagged server is stopped. nats-server keeps a stopped server's last
// node info (its tags, its limits), marks it offline and still places on it, after the servers
// online, as long as those online make a quorum of the stream's replicas: an R3 over the three
// servers takes the stopped one, an R1 that only the stopped one's tags match is refused ("peer
// offline"). tsnats remembers a peer's tags from its last route INFO (Cluster.serverTags) and
// places the same way. The same steps on three tsnats server processes and on three nats-server
// 2.15 processes with the same tags.
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, JetStreamApiError, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { startRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { test } from "node:test";

// "x" on every server, "a"/"b"/"c" on one each; N3 ("c") is stopped.
const TAGS = [["a", "x"], ["b", "x"], ["c", "x"]];
const NAMES = ["N1", "N2", "N3"];

type Outcome = { servers: string[] } | { code: number; description: string };

async function managerWhenLed(url: string): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: url });
  // A cluster just started answers no JetStream request until its meta leader is elected: ask again.
  for (let i = 0; ; i++) {
    try {
      await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
      break;
    } catch (err) {
      if (i >= 20) throw err;
    }
  }
  return { nc, jsm: await jetstreamManager(nc, { timeout: 20_000 }) };
}

async function scenario(c: RefJsCluster): Promise<Record<string, Outcome>> {
  const { nc, jsm } = await managerWhenLed(c.urls[0]);
  try {
    // Every server heard from by the meta leader: an R3 over all three is placed.
    for (let i = 0; ; i++) {
      try {
        await jsm.streams.add({ name: "ALL", subjects: ["all"], num_replicas: 3 });
        break;
      } catch (err) {
        if (!(err instanceof JetStreamApiError) || i >= 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await c.stopServer(2);
    // N3 may have led the meta group: ask until a meta leader answers (nats-server drops requests meanwhile).
    for (let i = 0; ; i++) {
      try {
        await (await jetstreamManager(nc, { timeout: 2_000, checkAPI: false })).getAccountInfo();
        break;
      } catch (err) {
        if (i >= 20) throw err;
      }
    }
    const out: Record<string, Outcome> = {};
    const add = async (label: string, cfg: { name: string; num_replicas: number; placement?: { tags: string[] } }): Promise<void> => {
      try {
        const si = await jsm.streams.add({ subjects: [`${cfg.name}.>`], ...(cfg as Partial<StreamConfig>), name: cfg.name });
        out[label] = { servers: [si.cluster?.leader ?? "", ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort() };
      } catch (err) {
        if (!(err instanceof JetStreamApiError)) throw err;
        out[label] = { code: err.code, description: err.message };
      }
    };
    await add("R1 tagged c, only the stopped server's", { name: "C1", num_replicas: 1, placement: { tags: ["c"] } });
    await add("R3 tagged x, every server's", { name: "X3", num_replicas: 3, placement: { tags: ["x"] } });
    await add("R2 tagged x", { name: "X2", num_replicas: 2, placement: { tags: ["x"] } });
    await add("R2 tagged c", { name: "C2", num_replicas: 2, placement: { tags: ["c"] } });
    await add("R3 without tags", { name: "R3", num_replicas: 3 });
    return out;
  } finally {
    await nc.close();
  }
}

const EXPECTED: Record<string, Outcome> = {
  "R1 tagged c, only the stopped server's": { code: 10005, description: "no suitable peers for placement, peer offline, tags not matched ['c']" },
  "R3 tagged x, every server's": { servers: NAMES },
  "R2 tagged x": { servers: ["N1", "N2"] },
  "R2 tagged c": { code: 10005, description: "no suitable peers for placement, tags not matched ['c']" },
  "R3 without tags": { servers: NAMES },
};

for (const line of ["tsnats", "2.15"] as const) {
  test(`placement by tags with a tagged server stopped: ${line}`, { timeout: 120_000 }, async (t) => {
    const c = await startRefJsCluster(3, "TAGSTOP", { serverTags: TAGS, line });
    if (c === undefined) return t.skip("nats-server 2.15 not installed");
    try {
      assert.deepEqual(await scenario(c), EXPECTED);
    } finally {
      await c.stop();
    }
  });
}
