// Placement by tags while a tagged server is stopped. nats-server keeps a stopped server's last
// node info (its tags, its limits), marks it offline and still places on it, after the servers
// online, as long as those online make a quorum of the stream's replicas: an R3 over the three
// servers takes the stopped one, an R1 that only the stopped one's tags match is refused ("peer
// offline"). tsnats remembers a peer's tags from its last route INFO (Cluster.serverTags) and
// places the same way. The same steps on three tsnats server processes and on three nats-server
// 2.15 processes with the same tags; and again after the servers online restarted with N3 still
// stopped, never heard from since: nats-server names it "miscellaneous issue" when placement fails.
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
  // A cluster just started answers no JetStream request until its meta leader is elected (nats-server
  // 2.15.1 answers 10008 at once meanwhile): ask again, a quarter of a second apart, for 30 s.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { nc, jsm: await jetstreamManager(nc, { timeout: 20_000 }) };
}

type Step = [label: string, cfg: { name: string; num_replicas: number; placement?: { tags: string[] } }];

/** Each stream created in turn: the servers it was placed on, or the error answered. */
async function placeEach(jsm: JetStreamManager, steps: Step[]): Promise<Record<string, Outcome>> {
  const out: Record<string, Outcome> = {};
  for (const [label, cfg] of steps) {
    try {
      const si = await jsm.streams.add({ subjects: [`${cfg.name}.>`], ...(cfg as Partial<StreamConfig>), name: cfg.name });
      out[label] = { servers: [si.cluster?.leader ?? "", ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort() };
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      out[label] = { code: err.code, description: err.message };
    }
  }
  return out;
}

/** An R3 stream ALL over every server, asked again while the meta leader is still hearing from them all. */
async function addAllR3(jsm: JetStreamManager): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await jsm.streams.add({ name: "ALL", subjects: ["all"], num_replicas: 3 });
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function scenario(c: RefJsCluster): Promise<Record<string, Outcome>> {
  const { nc, jsm } = await managerWhenLed(c.urls[0]);
  try {
    // Every server heard from by the meta leader: an R3 over all three is placed.
    await addAllR3(jsm);
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
    return await placeEach(jsm, [
      ["R1 tagged c, only the stopped server's", { name: "C1", num_replicas: 1, placement: { tags: ["c"] } }],
      ["R3 tagged x, every server's", { name: "X3", num_replicas: 3, placement: { tags: ["x"] } }],
      ["R2 tagged x", { name: "X2", num_replicas: 2, placement: { tags: ["x"] } }],
      ["R2 tagged c", { name: "C2", num_replicas: 2, placement: { tags: ["c"] } }],
      ["R3 without tags", { name: "R3", num_replicas: 3 }],
    ]);
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

// The servers online restarted while N3 stays stopped: the new meta leader never heard from N3
// since it started (no route, no STATSZ), though N3 is still a peer of the meta group. nats-server
// has no node info for it, passes it over and names it "miscellaneous issue" when placement
// fails (not "peer offline": that is for a server it knows, offline or not yet sending STATSZ).
async function restartedScenario(c: RefJsCluster): Promise<Record<string, Outcome>> {
  {
    const { nc, jsm } = await managerWhenLed(c.urls[0]);
    try {
      await addAllR3(jsm);
    } finally {
      await nc.close();
    }
  }
  await c.stopServer(2);
  await Promise.all([c.stopServer(0), c.stopServer(1)]);
  await Promise.all([c.startServer(0), c.startServer(1)]);
  const { nc, jsm } = await managerWhenLed(c.urls[0]);
  try {
    return await placeEach(jsm, [
      ["R1 tagged c, only the stopped server's", { name: "C1", num_replicas: 1, placement: { tags: ["c"] } }],
      ["R3 tagged x, every server's", { name: "X3", num_replicas: 3, placement: { tags: ["x"] } }],
      ["R2 tagged x", { name: "X2", num_replicas: 2, placement: { tags: ["x"] } }],
      ["R3 without tags", { name: "R3", num_replicas: 3 }],
      ["R1 tagged a", { name: "A1", num_replicas: 1, placement: { tags: ["a"] } }],
    ]);
  } finally {
    await nc.close();
  }
}

const EXPECTED_RESTARTED: Record<string, Outcome> = {
  "R1 tagged c, only the stopped server's": { code: 10005, description: "no suitable peers for placement, miscellaneous issue, tags not matched ['c']" },
  // (Not "tags not matched": the servers it knows all carry x.)
  "R3 tagged x, every server's": { code: 10005, description: "no suitable peers for placement, miscellaneous issue" },
  "R2 tagged x": { servers: ["N1", "N2"] },
  "R3 without tags": { code: 10005, description: "no suitable peers for placement, miscellaneous issue" },
  "R1 tagged a": { servers: ["N1"] },
};

for (const line of ["tsnats", "2.15"] as const) {
  test(`placement with a stopped server the restarted servers never heard from: ${line}`, { timeout: 120_000 }, async (t) => {
    const c = await startRefJsCluster(3, "TAGSTOPR", { serverTags: TAGS, line });
    if (c === undefined) return t.skip("nats-server 2.15 not installed");
    try {
      assert.deepEqual(await restartedScenario(c), EXPECTED_RESTARTED);
    } finally {
      await c.stop();
    }
  });
}
