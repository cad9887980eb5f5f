// A mirror in a nats-server 2.15 cluster led by T3 (`nrg_peer_lead`, nrg_stream_sourcing.ts),
// side by side with the same mirror led by a nats-server: O (on N1) holds o.k.* and o.x.*
// messages, one deleted; M and MN mirror o.k.> of it (a filtered mirror: the origin's
// sequences kept, the others skipped). T3 is elected M's leader (from N1) while O is being
// published to, and takes the mirroring on from M's committed state; then N1 again, then T3.
// M ends with every o.k message once, at O's sequences and with O's times, on N1, N2 and T3
// alike, equal to MN (led by N2 throughout); STREAM.INFO's `mirror` block answered by T3 has
// the fields of N2's.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { directGet, NrgCluster, readReplicaWhole, type LeaderGroup } from "./helpers/nrg_cluster.js";

interface InfoJson {
  state: Record<string, unknown>;
  mirror?: Record<string, unknown>;
  cluster?: { leader?: string };
}

test("with nrg_peer_lead, T3 elected leader of a filtered mirror while its origin takes messages mirrors on from the committed state: every message once, at the origin's sequences, on every replica, as a nats-server leader's mirror", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    const subject = (i: number): string => (i % 2 === 1 ? `o.k.${i}` : `o.x.${i}`);
    const publishRange = async (from: number, to: number): Promise<void> => {
      for (let i = from; i <= to; i++) await retry(() => js2.publish(subject(i), `m${i}`), 60_000);
    };
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    await c.leadOn(nc2, "N1", "O");
    await publishRange(1, 6);
    await retry(() => jsm.streams.deleteMessage("O", 3), 60_000);
    for (const name of ["M", "MN"]) await retry(() => jsm.streams.add({ name, num_replicas: 3, allow_direct: true, mirror: { name: "O", filter_subject: "o.k.>" } }), 90_000);
    await c.leadOn(nc2, "N2", "MN");
    // M starts with a nats-server leader (T3 may have won its first election).
    await c.leadOn(nc2, "N1", "M");
    for (const name of ["M", "MN"]) await c.sameOnAll(name, (s) => s.messages === 2 && s.first_seq === 1 && s.last_seq === 5, `${name} holds O's o.k.1 and o.k.5 on N1, N2 and T3`);

    // T3 is elected while O takes messages 7-40; N1 then, while O takes 51-56; T3 again.
    await Promise.all([publishRange(7, 40), c.leadOnT3(nc1, "M")]);
    await publishRange(41, 50);
    for (const name of ["M", "MN"]) await c.sameOnAll(name, (s) => s.messages === 24 && s.last_seq === 49, `${name} holds O's 24 o.k messages up to 49 on N1, N2 and T3`);
    await Promise.all([publishRange(51, 56), c.leadOn(nc2, "N1", "M")]);
    await Promise.all([publishRange(57, 60), c.leadOnT3(nc1, "M")]);
    await publishRange(61, 62);
    const g = (await c.group("M")) as LeaderGroup;
    assert.equal(g.leader, "T3", "T3 still leads M");
    // o.k.1 to o.k.61 but the deleted 3: 30 messages, at O's sequences.
    for (const name of ["M", "MN"]) await c.sameOnAll(name, (s) => s.messages === 30 && s.first_seq === 1 && s.last_seq === 61, `${name} holds O's 30 o.k messages up to 61 on N1, N2 and T3`);

    const info = async (name: string): Promise<InfoJson> => (await retry(() => nc1.request(`$JS.API.STREAM.INFO.${name}`, "", { timeout: 10_000 }))).json<InfoJson>();
    const [m, mn] = [await info("M"), await info("MN")];
    assert.equal(m.cluster?.leader, "T3");
    assert.equal(mn.cluster?.leader, "N2");
    assert.deepEqual(m.state, mn.state, "T3's M and N2's MN: the same state, times included");
    assert.deepEqual(Object.keys(m.mirror ?? {}).sort(), Object.keys(mn.mirror ?? {}).sort(), `the mirror block's fields: ${JSON.stringify({ m: m.mirror, mn: mn.mirror })}`);
    assert.deepEqual({ name: m.mirror?.name, lag: m.mirror?.lag }, { name: "O", lag: 0 });
    assert.ok(typeof m.mirror?.active === "number" && m.mirror.active >= 0, "T3 heard from O");

    // Every copy, message by message: N1's and N2's own copies of M and MN, then T3's store.
    const held = [1, ...Array.from({ length: 29 }, (_, k) => 5 + 2 * k)];
    const copies = [];
    for (const nc of [nc1, nc2]) for (const name of ["M", "MN"]) copies.push(await Promise.all(held.map((seq) => directGet(nc, name, seq))));
    for (const copy of copies.slice(1)) assert.deepEqual(copy, copies[0]);
    assert.deepEqual(
      copies[0].map((x) => x.subject),
      held.map((i) => `o.k.${i}`),
    );
    const groupDir = path.join(c.storeDir, "jetstream", "nrg_peer", g.group, "store");
    t.diagnostic(`T3 leading M: ${JSON.stringify(g.stream_leader)}`);
    await c.ours?.stop();
    c.ours = undefined;
    assert.deepEqual(
      readReplicaWhole(groupDir).map((x) => ({ seq: x.seq, subject: x.subject, data: x.data, time: x.time })),
      copies[0],
      "T3's copy of M is N1's and N2's",
    );
  } catch (err) {
    t.diagnostic(`T3's M group: ${JSON.stringify(await c.group("M").catch(() => undefined))}`);
    t.diagnostic(`T3's log: ${(c.ours?.log() ?? "").split("\n").filter((l) => /mirror|source|'M'|> M\b/i.test(l)).slice(-20).join("\n")}`);
    throw err;
  } finally {
    await c.stop();
  }
});
