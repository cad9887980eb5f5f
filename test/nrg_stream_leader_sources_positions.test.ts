// Exact source positions across a purge: a sourcing stream whose source is behind (the origin's
// message 2 is above the stream's max_msg_size, so every leader refuses its copy and asks the
// origin again from there), purged under a nats-server leader after a message of its own came
// in, then led by T3 (`nrg_peer_lead`), side by side with the same stream led by nats-servers
// only. nats-server's members keep each source's position in their store (SourcesState) across
// the purge, so its next leader asks again from the origin's message 2; T3 kept the position its
// copy's Nats-Stream-Source headers told before the purge (source_positions.ts) and does the
// same. Without it, T3 started the source at the stream's last time (the message of its own,
// newer than the origin's 2), skipping 2 for good. Once max_msg_size is raised, S (T3) and SN
// (N1) hold the origin's 2 and 3, in that order, on N1, N2 and T3 alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, type JetStreamManager } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

/** The origin sequences of a sourcing stream's messages, by their Nats-Stream-Source headers. */
async function originSeqs(jsm: JetStreamManager, stream: string, first: number, last: number): Promise<number[]> {
  const out: number[] = [];
  for (let seq = first; seq <= last; seq++) {
    const m = await retry(() => jsm.streams.getMessage(stream, { seq }), 30_000);
    out.push(Number((m?.header.get("Nats-Stream-Source") ?? "").split(" ")[1]));
  }
  return out;
}

test("with nrg_peer_lead, T3 elected leader of a sourcing stream purged while its source was behind takes the source on from the exact origin sequence, as a nats-server leader does", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  await c.runLedByT3(t, "S", async () => {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    await c.leadOn(nc2, "N1", "O");
    const own = { S: "s.own", SN: "sn.own" } as const;
    for (const name of ["S", "SN"] as const) await retry(() => jsm.streams.add({ name, subjects: [own[name]], num_replicas: 3, max_msg_size: 100, sources: [{ name: "O" }] }), 90_000);
    await c.leadOn(nc2, "N2", "SN");
    await c.leadOn(nc2, "N1", "S");
    await retry(() => js2.publish("o.1", "m1"), 60_000);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 1 && s.last_seq === 1, `${name} holds O's 1 on N1, N2 and T3`);
    // Too big for S and SN: their leaders refuse the copy and ask O again from 2, again and again.
    await retry(() => js2.publish("o.2", "x".repeat(300)), 60_000);
    // Newer than O's 2: the streams' last time is past it.
    for (const name of ["S", "SN"] as const) await retry(() => js2.publish(own[name], "own"), 60_000);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 2 && s.last_seq === 2, `${name} holds O's 1 and its own message on N1, N2 and T3`);
    for (const name of ["S", "SN"]) assert.equal((await retry(() => jsm.streams.purge(name), 60_000)).purged, 2);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 0 && s.first_seq === 3, `${name} purged on N1, N2 and T3`);
    await c.leadOnT3(nc1, "S");
    await c.leadOn(nc2, "N1", "SN");
    await retry(() => js2.publish("o.3", "m3"), 60_000);
    // Room for O's 2 now: both take the source on from where it was.
    for (const name of ["S", "SN"] as const) {
      const info = await retry(() => jsm.streams.info(name), 30_000);
      await retry(() => jsm.streams.update(name, { ...info.config, max_msg_size: 1024 }), 60_000);
    }
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 2 && s.first_seq === 3 && s.last_seq === 4, `${name} holds O's 2 and 3 on N1, N2 and T3`);
    for (const name of ["S", "SN"]) assert.deepEqual(await originSeqs(jsm, name, 3, 4), [2, 3], `${name}'s copies are O's 2 and 3`);
  });
});
