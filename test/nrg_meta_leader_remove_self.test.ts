// $JS.API.SERVER.REMOVE of the meta leader itself, side by side: N1 leading the meta group of
// N1, N2 and T3 removes N1, and in a cluster of its own T3 leading removes T3. nats-server 2.15.1
// proposes the RemovePeer naming itself, commits it with the others' acks alone, answers
// success (when it applies its removal before its step-down: not in some runs), hands the group to another member with a LeaderTransfer entry, and stops (its
// JetStream disabled, again when it applied its removal first); it proposes nothing for the streams it was in (the next meta leader
// mends them). T3 refused to remove itself before (10041 'step down first').
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, type MetaCluster } from "./helpers/nrg_cluster.js";
import { onMetaAppends } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";
import { NrgEntryType } from "../src/cluster/nrg_wire.js";

const NAMES = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown>> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

interface Outcome {
  answer: Record<string, unknown>;
  /** Membership and leadership entries after the request: who appended them, what, naming whom (the removed leader as "self"). */
  entries: string[];
  newLeader: string;
  clusterSize: number | undefined;
  removedStopped: boolean;
}

/** A cluster of N1, N2, T3 whose meta leader `leader` removes itself. */
async function removeSelf(leader: "N1" | "T3"): Promise<Outcome> {
  const cluster = await NrgCluster.zoned();
  try {
    const { n1, n2, jsm, sys } = await cluster.upWithMetaLeader(leader);
    const survivor = leader === "N1" ? n2 : n1;
    await retry(() => jsm.streams.add({ name: "WARM", subjects: ["warm.>"], num_replicas: 3 }), 60_000);
    const entries: string[] = [];
    const named = (id: string): string => (NAMES.get(id) === leader ? "self" : "other");
    onMetaAppends(sys, (e, by) => {
      if (e.type === NrgEntryType.RemovePeer) entries.push(`${named(by)}: remove ${named(e.data.toString("latin1"))}`);
      if (e.type === NrgEntryType.LeaderTransfer) entries.push(`${named(by)}: transfer to ${named(e.data.toString("latin1"))}`);
    });
    await sys.flush();
    const answer = await api(sys, "$JS.API.SERVER.REMOVE", { peer: leader }).catch((err: Error) => ({ none: err.message }));
    let meta: (MetaCluster & { cluster_size?: number }) | undefined;
    await waitUntil(
      async () => {
        meta = (await getJson<{ meta_cluster?: MetaCluster & { cluster_size?: number } }>(`${survivor.monitorUrl}/jsz`)).meta_cluster;
        return meta?.leader !== undefined && meta.leader !== leader && meta.cluster_size === 2;
      },
      30_000,
      `the others lead the meta group without ${leader}`,
      () => JSON.stringify(meta),
    );
    // N1's own /jsz is read once the others lead: 2.15.1's removed leader applies its removal (and
    // disables its JetStream) only when it did so before its step-down (2 runs in 3 it did not).
    const removedStopped = leader === "N1" ? (await getJson<{ disabled?: boolean }>(`${n1.monitorUrl}/jsz`)).disabled === true : ((await cluster.peerJson()) as { removed?: boolean }).removed === true;
    return { answer, entries, newLeader: meta?.leader === "T3" || meta?.leader === "N1" || meta?.leader === "N2" ? "another member" : String(meta?.leader), clusterSize: meta?.cluster_size, removedStopped };
  } finally {
    await cluster.stop();
  }
}

test("the meta leader removing itself through SERVER.REMOVE: T3 as a nats-server meta leader does", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const byNats = await removeSelf("N1");
  t.diagnostic(`N1 removing itself: ${JSON.stringify(byNats)}`);
  const byT3 = await removeSelf("T3");
  t.diagnostic(`T3 removing itself: ${JSON.stringify(byT3)}`);
  // 2.15.1 answers (and disables its JetStream) only if it applies its removal before its
  // step-down, a race it lost in some runs; T3 always applies it first.
  const success = { type: "io.nats.jetstream.api.v1.meta_server_remove_response", success: true };
  assert.ok(JSON.stringify(byNats.answer) === JSON.stringify(success) || JSON.stringify(byNats.answer) === JSON.stringify({ none: "timeout" }), JSON.stringify(byNats.answer));
  assert.deepEqual(byT3.answer, success, "T3 answers before it leaves");
  assert.equal(byT3.removedStopped, true, "T3 is silent for good");
  assert.deepEqual(byNats.entries, ["self: remove self", "self: transfer to other"]);
  const same = (o: Outcome): unknown => ({ ...o, answer: undefined, removedStopped: undefined });
  assert.deepEqual(same(byT3), same(byNats), "T3 removes itself as N1 does");
});
