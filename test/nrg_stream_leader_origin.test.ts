// A stream other streams mirror or source, in a nats-server 2.15 cluster with T3 (`nrg_peer_lead`):
// the mirror's or source's nats-server leader creates its sourcing consumer on the origin's
// leader directly (a Direct consumer create, not through the meta group), which a tsnats leader
// does not serve, so T3 hands the origin's leadership back, also when the mirror comes after T3
// was elected; the nats-server mirror and sourcing stream then fill, T3 following both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

test("with nrg_peer_lead, T3 hands back the leadership of a stream a nats-server mirror or sourcing stream reads, and follows both", { skip: referenceMissing(), timeout: 400_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    for (let i = 1; i <= 5; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await retry(() => jsm.streams.deleteMessage("O", 3), 60_000);
    // Nothing reads O yet: T3 leads it.
    await c.leadOnT3(nc1, "O");
    await retry(() => jsm.streams.add({ name: "M", num_replicas: 3, mirror: { name: "O" } }), 90_000);
    await retry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 3, sources: [{ name: "O" }] }), 90_000);
    let leader: string | undefined;
    await waitUntil(async () => (leader = (await c.group("O"))?.leader) !== "T3" && leader !== undefined && leader !== "", 60_000, "T3 hands O's leadership back", () => String(leader));
    for (let i = 6; i <= 8; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await c.sameOnAll("M", (s) => s.messages === 7 && s.first_seq === 1 && s.last_seq === 8, "the mirror holds O's 7 messages on N1, N2 and T3");
    await c.sameOnAll("S", (s) => s.messages === 7 && s.last_seq === 7, "the sourcing stream holds O's 7 messages on N1, N2 and T3");
    // Asked to lead O again, T3 hands it back: the mirror keeps up.
    await nc1.request("$JS.API.STREAM.LEADER.STEPDOWN.O", JSON.stringify({ placement: { preferred: "T3" } }), { timeout: 10_000 }).catch(() => undefined);
    for (let i = 9; i <= 10; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await c.sameOnAll("M", (s) => s.messages === 9 && s.last_seq === 10, "the mirror holds O's 9 messages on N1, N2 and T3");
    const o = await c.group("O");
    assert.ok((o as { stream_leader?: unknown } | undefined)?.stream_leader === undefined, "T3 runs no leader half for O");
  } finally {
    await c.stop();
  }
});
