// A nats-server joining a cluster whose meta group T3 leads (nrg_peer_meta_lead): N1, N2 and T3
// up, T3 leading, then N3 started. As nats-server's meta leader (raft.go trackPeer), T3 proposes
// AddPeer for the answer of a server not among the meta group's peers and catches it up; N3
// becomes a current member of four, and T3 places a stream on it (its STATSZ heard).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, streamStateOn, type MetaCluster } from "./helpers/nrg_cluster.js";
import { onMetaAppends } from "./helpers/nrg_meta_capture.js";
import { NrgEntryType } from "../src/cluster/nrg_wire.js";
import { shortHash } from "../src/jetstream/util.js";

test("a nats-server joining a cluster whose meta group T3 leads is added and caught up, and takes streams", { skip: referenceMissing(), timeout: 110_000 }, async () => {
  const cluster = await NrgCluster.create(true, true, undefined, true, 3);
  for (const [name, az] of [["N1", "az:1"], ["N2", "az:2"], ["N3", "az:3"], ["T3", "az:4"]]) cluster.tags.set(name, [az]);
  try {
    await cluster.up(1);
    const [n1] = cluster.live();
    const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    await cluster.metaLeadOn("T3");
    const nc1 = await cluster.appOn(n1);
    await retry(async () => {
      const a = await nc1.request("$JS.API.STREAM.CREATE.BEFORE", JSON.stringify({ name: "BEFORE", subjects: ["before.>"], num_replicas: 3 }), { timeout: 10_000 }).then((m) => m.json<{ error?: unknown }>());
      if (a.error !== undefined) throw new Error(JSON.stringify(a));
    }, 30_000);
    const added: string[] = [];
    onMetaAppends(sys, (e, leader) => {
      if (e.type === NrgEntryType.AddPeer) added.push(`${e.data.toString("latin1") === shortHash("N3") ? "N3" : "?"} by ${leader === shortHash("T3") ? "T3" : leader}`);
    });
    await sys.flush();
    const n3 = await cluster.startN(2);
    cluster.nats[2] = n3;
    let meta: MetaCluster = {};
    await waitUntil(
      async () => {
        meta = (await getJson<{ meta_cluster?: MetaCluster }>(`${n1.monitorUrl}/jsz`)).meta_cluster ?? {};
        const n3Meta = (await getJson<{ meta_cluster?: MetaCluster }>(`${n3.monitorUrl}/jsz`)).meta_cluster ?? {};
        // N3 current with its meta leader: nats-server's healthz for the meta layer.
        const n3Health = (await fetch(`${n3.monitorUrl}/healthz?js-server-only=true`)).status;
        return meta.leader === "T3" && meta.cluster_size === 4 && n3Meta.leader === "T3" && n3Meta.cluster_size === 4 && n3Health === 200;
      },
      60_000,
      "N1 and N3 see four members led by T3, N3 current",
      () => JSON.stringify({ meta, added }),
    );
    assert.deepEqual(added, ["N3 by T3"], "one AddPeer, proposed by T3");
    // T3 places a stream on N3 by its tag (N3 caught up and heard, its STATSZ in T3's placement).
    let placed: { error?: unknown; cluster?: { leader?: string } } = {};
    await retry(async () => {
      placed = await nc1.request("$JS.API.STREAM.CREATE.ON3", JSON.stringify({ name: "ON3", subjects: ["on3.>"], num_replicas: 1, placement: { tags: ["az:3"] } }), { timeout: 10_000 }).then((m) => m.json());
      if (placed.error !== undefined) throw new Error(JSON.stringify(placed));
    }, 30_000);
    await retry(() => jetstream(nc1).publish("on3.1", "m1"), 20_000);
    await waitUntil(async () => (await streamStateOn(n3, "ON3"))?.messages === 1, 30_000, "N3 holds ON3's message");
  } finally {
    await cluster.stop();
  }
});
