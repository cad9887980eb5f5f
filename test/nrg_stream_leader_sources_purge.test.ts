// A stream with a source in a nats-server 2.15 cluster, purged while a nats-server leads it, then
// led by T3 (`nrg_peer_lead`), side by side with the same stream led by nats-servers only. The
// purge removes the Nats-Stream-Source headers that tell how far the source got; nats-server's
// members keep the positions in their store (SourcesState) across it, and T3's replica kept the
// position its headers told before the purge (source_positions.ts): either way the next leader
// goes on from there instead of copying the origin again from its start. S (led by N1 at the purge, then by T3) and SN (N2, then N1) end
// with only what the origin took after the purge, on N1, N2 and T3 alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

test("with nrg_peer_lead, T3 elected leader of a sourcing stream purged under a nats-server leader takes its source on from where it got, as a nats-server leader does", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  await c.runLedByT3(t, "S", async () => {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    const publishRange = async (from: number, to: number): Promise<void> => {
      for (let i = from; i <= to; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    };
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    await c.leadOn(nc2, "N1", "O");
    for (const name of ["S", "SN"]) await retry(() => jsm.streams.add({ name, num_replicas: 3, sources: [{ name: "O" }] }), 90_000);
    await c.leadOn(nc2, "N2", "SN");
    await c.leadOn(nc2, "N1", "S");
    await publishRange(1, 5);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 5 && s.last_seq === 5, `${name} holds O's 5 on N1, N2 and T3`);

    for (const name of ["S", "SN"]) assert.equal((await retry(() => jsm.streams.purge(name), 60_000)).purged, 5);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 0 && s.first_seq === 6, `${name} purged on N1, N2 and T3`);
    await c.leadOnT3(nc1, "S");
    await c.leadOn(nc2, "N1", "SN");
    await publishRange(6, 7);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 2 && s.first_seq === 6 && s.last_seq === 7, `${name} holds O's 6 and 7 only, on N1, N2 and T3`);
    // Whatever T3 was to copy again would have come first: two more from O, and nothing else.
    await publishRange(8, 9);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 4 && s.first_seq === 6 && s.last_seq === 9, `${name} holds O's 6 to 9 on N1, N2 and T3`);
  });
});
