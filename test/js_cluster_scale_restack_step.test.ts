// R3 -> R1 -> R3 at once (jepsen seeds 181 and 185): the scale to R3 replaces the scale-down under
// way, and a step of that scale-down recorded after it must not apply. In those runs the meta log
// ended with the R1 update (a move keeping n1), the R3 update (from the three servers still
// recorded, the move dropped), then a `stream_peers` [n1, n2]: the meta leader had proposed that
// first removal from the assignment as it was before the R3 update was applied. Applied, it left
// KV_CAS at R3 on two servers for good (the third dropped its copy, no move to bring it back).
//
// The meta log of a stopped three-server cluster is given those three entries, as the meta leader
// proposes them (the step names the move it belongs to); every server replays them at start.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import { FsRaftDisk } from "../src/cluster/raft_disk.js";
import { ENTRY_NORMAL, RaftStore, makeEntry } from "../src/cluster/raft_store.js";

const STREAM = "K";

/** A stopped member's meta log gets the entries `make` builds from the stream's creation entry, committed. */
function appendToMetaLog(dir: string, make: (add: Record<string, unknown>) => Array<Record<string, unknown>>): void {
  const store = new RaftStore(new FsRaftDisk(dir));
  try {
    store.open();
    let add: Record<string, unknown> | undefined;
    for (let i = store.firstIndex; i <= store.lastIndex; i++) {
      const e = store.entry(i);
      if (e === undefined || e.type !== ENTRY_NORMAL) continue;
      try {
        const op = JSON.parse(e.data.toString()) as Record<string, unknown>;
        if (op.op === "stream_add" && op.name === STREAM) add = op;
      } catch {
        // not an operation
      }
    }
    assert.ok(add !== undefined, `${dir}: the stream's creation in the meta log`);
    const term = store.lastTerm;
    let index = store.lastIndex;
    store.append(make(add).map((op) => makeEntry(++index, term, ENTRY_NORMAL, Buffer.from(JSON.stringify(op)))));
    store.setState({ ...store.state, commit: index });
  } finally {
    store.close();
  }
}

function withReplicas(body: string, replicas: number): string {
  const cfg = JSON.parse(Buffer.from(body, "base64").toString()) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...cfg, num_replicas: replicas })).toString("base64");
}

test("R3 -> R1 -> R3 at once: a step of the replaced scale-down recorded after the R3 update leaves the stream on its three servers", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const names = c.members.map((m) => m.name);
  let nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    const s = await clusterApi(nc, `$JS.API.STREAM.CREATE.${STREAM}`, { name: STREAM, subjects: ["k.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "k.x", `m${i}`);
    await waitUntil(() => names.every((n) => streamOn(c, n, STREAM)?.store.state().msgs === 5), 20_000, "every copy with 5");
    await nc.close();
    for (const n of names) await c.stopMember(n);

    const kept = names[0];
    const created = new Date().toISOString();
    for (const n of names) {
      appendToMetaLog(path.join(c.member(n).storeDir, "jetstream", "_raft", "meta"), (add) => {
        const common = { account: add.account, name: add.name, reply: "", owner: kept, peers: names, subjects: add.subjects, created: add.created };
        const move = { peers: [kept], created, origin: { peers: names, replicas: 3 }, scaleDown: true };
        return [
          { op: "stream_update", ...common, body: withReplicas(add.body as string, 1), move },
          { op: "stream_update", ...common, body: withReplicas(add.body as string, 3), move: null },
          // (Its first removal, proposed from the assignment before the R3 update was applied.)
          { op: "stream_peers", account: add.account, name: add.name, peers: [kept, names[1]], during: created },
        ];
      });
    }

    for (const n of names) await c.startMember(n);
    await c.metaLeader();
    for (const n of names) assert.deepEqual([...(c.js(n).cluster?.assignment("$G", STREAM)?.peers ?? [])].sort(), [...names].sort(), `${n}'s assignment`);
    nc = await connect({ servers: c.members.map((m) => m.url) });
    await waitUntil(
      async () => {
        const info = await clusterApi<{ config?: { num_replicas?: number }; cluster?: { replicas?: Array<{ current?: boolean }> } }>(nc, `$JS.API.STREAM.INFO.${STREAM}`);
        return info.config?.num_replicas === 3 && info.cluster?.replicas?.length === 2 && info.cluster.replicas.every((r) => r.current === true);
      },
      30_000,
      "R3 on three current servers",
    );
    await waitUntil(() => names.every((n) => streamOn(c, n, STREAM)?.store.state().msgs === 5), 20_000, "every copy with 5");
  } finally {
    await nc.close();
    await c.stop();
  }
});
