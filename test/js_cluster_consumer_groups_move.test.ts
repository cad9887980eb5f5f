// An ephemeral consumer moved with its stream, the same steps on five tsnats servers and on five
// nats-server 2.15 (split from js_cluster_consumer_groups.test.ts, whose file ran over the test
// runner's 120 s limit under load): an R1 ephemeral of an R1 and of an R2 stream moved to other
// servers by a placement update keeps its ack floor and delivers the rest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { TAGS } from "./helpers/js_cluster_move.js";
import { consume, infoWithLeader, sleep, type Info } from "./helpers/js_cluster_consumer_groups.js";

/** An R1 ephemeral of an R1 and an R2 stream moved to other servers by a placement update: its state afterwards and what it delivers. */
async function ephemeralThroughMove(urls: string[], prefix: string): Promise<Record<string, { before: number[]; floor: number; after: number[] }>> {
  const nc = await connect({ servers: urls });
  const out: Record<string, { before: number[]; floor: number; after: number[] }> = {};
  try {
    for (const replicas of [1, 2]) {
      const name = `MV${replicas}`;
      const cfg = { name, subjects: [`mv${replicas}.>`], num_replicas: replicas };
      const s = await clusterApi<Info>(nc, `$JS.API.STREAM.CREATE.${name}`, { ...cfg, placement: { tags: ["zone:a"] } });
      assert.equal(s.error, undefined, JSON.stringify(s.error));
      for (let i = 1; i <= 5; i++) await clusterPublish(nc, `mv${replicas}.x`, `m${i}`);
      const e = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.${name}`, { stream_name: name, config: { ack_policy: "explicit", inactive_threshold: 600_000_000_000 } });
      assert.equal(e.error, undefined, JSON.stringify(e.error));
      const eph = e.name ?? "";
      const before = await consume(nc, name, eph, 2);
      const u = await clusterApi<Info>(nc, `$JS.API.STREAM.UPDATE.${name}`, { ...cfg, placement: { tags: ["zone:b"] } });
      assert.equal(u.error, undefined, JSON.stringify(u.error));
      const zoneB = [`${prefix}3`, `${prefix}4`];
      let last = "";
      await waitForMove(
        async () => {
          const a = await clusterApi<MoveInfo>(nc, `$JS.API.STREAM.INFO.${name}`).catch(() => undefined);
          const servers = [a?.cluster?.leader ?? "", ...(a?.cluster?.replicas ?? []).map((r) => r.name)];
          last = JSON.stringify(a?.cluster);
          return a?.cluster?.desired === undefined && servers.length === replicas && servers.every((x) => zoneB.includes(x)) && a?.state?.messages === 5;
        },
        () => last,
      );
      const info = await infoWithLeader(nc, name, eph);
      const after = await consume(nc, name, eph, 3);
      out[name] = { before, floor: info.ack_floor?.stream_seq ?? -1, after };
    }
  } finally {
    await nc.close();
  }
  return out;
}

type MoveInfo = Info & { cluster?: { leader?: string; replicas?: Array<{ name: string }>; desired?: unknown }; state?: { messages: number } };

async function waitForMove(done: () => Promise<boolean>, seen: () => string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`the stream did not move to zone b: ${seen()}`);
    await sleep(100);
  }
}

test("an ephemeral consumer moves with its R1 or R2 stream and keeps its ack floor, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(5, "JSC", { serverTags: TAGS });
  let ours: Record<string, { before: number[]; floor: number; after: number[] }>;
  try {
    await c.metaLeader(60_000);
    ours = await ephemeralThroughMove(
      c.members.map((m) => m.url),
      "S",
    );
  } finally {
    await c.stop();
  }
  const kept = { before: [1, 2], floor: 2, after: [3, 4, 5] };
  assert.deepEqual(ours, { MV1: kept, MV2: kept });
  const ref = await startRefJsCluster(5, "REF", { serverTags: ["S1", "S2", "S3", "S4", "S5"].map((s) => TAGS[s] ?? []) });
  if (ref === undefined) return;
  try {
    assert.deepEqual(await ephemeralThroughMove(ref.urls, "N"), ours);
  } finally {
    await ref.stop();
  }
});
