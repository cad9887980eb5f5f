// Test helper: the meta leader's log compacted past an entry (tests lower JsCluster.snapshotEntries
// and JsCluster.segmentSize), so that a server that missed that entry catches up from the
// leader's snapshot, not from its log.
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JsTestCluster } from "./js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./cluster_retry.js";
import { waitUntil } from "./server.js";

/** The first entry the meta leader's log still holds (those before are in its snapshot only). */
export function metaLogStart(c: JsTestCluster, meta: string): number {
  const node = c.js(meta).cluster?.node as unknown as { store: { firstIndex: number } } | undefined;
  return node?.store.firstIndex ?? 0;
}

/** The meta leader's log no longer holds entry `index` (filler streams created and deleted until compaction dropped it). */
export async function compactMetaPast(c: JsTestCluster, nc: NatsConnection, index: number): Promise<void> {
  let n = 0;
  await waitUntil(
    async () => {
      if (metaLogStart(c, await c.metaLeader()) > index) return true;
      const name = `F${++n}`;
      assert.equal((await clusterApi<ClusterAnswer>(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`f${n}`], num_replicas: 1 })).error, undefined);
      assert.equal((await clusterApi<ClusterAnswer>(nc, `$JS.API.STREAM.DELETE.${name}`)).error, undefined);
      return false;
    },
    40_000,
    `the meta log compacted past ${index}`,
  );
}
