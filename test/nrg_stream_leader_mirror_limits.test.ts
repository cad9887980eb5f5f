// A mirror that hits its store limits in a nats-server 2.15 cluster, led by T3 (`nrg_peer_lead`),
// side by side with the same mirror led by a nats-server: M and MN mirror O with discard new, one
// message per subject (discard new per subject) and at most four messages. A clustered
// nats-server's members refuse no copy for such a limit (the mirror's leader checks none, and
// its members store with discardNewCheck off, so that they cannot drift): a subject's older copy
// goes, and the count may pass max_msgs. M led by T3 while O repeats subjects ends as MN, led by
// N2 throughout, on every replica, at O's sequences; N1 then leads M on from there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { directGet, NrgCluster, type LeaderGroup } from "./helpers/nrg_cluster.js";

interface InfoJson {
  state: Record<string, unknown>;
  cluster?: { leader?: string };
}

test("with nrg_peer_lead, a mirror led by T3 at its discard-new limits holds what a nats-server leader's mirror holds, at the origin's sequences, on every replica", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    const publish = async (subjects: string[]): Promise<void> => {
      for (const s of subjects) await retry(() => js2.publish(s, s), 60_000);
    };
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    await c.leadOn(nc2, "N1", "O");
    const limits = { max_msgs_per_subject: 1, max_msgs: 4, discard: "new", discard_new_per_subject: true } as const;
    for (const name of ["M", "MN"]) await retry(() => jsm.streams.add({ name, num_replicas: 3, allow_direct: true, ...limits, mirror: { name: "O" } }), 90_000);
    await c.leadOn(nc2, "N2", "MN");
    await c.leadOnT3(nc1, "M");
    await publish(["o.a", "o.b"]);
    for (const name of ["M", "MN"]) await c.sameOnAll(name, (s) => s.messages === 2 && s.last_seq === 2, `${name} holds o.a and o.b on N1, N2 and T3`);

    // O's 3 (o.a again) takes the place of M's and MN's 1 on every member; 4 and 5 follow.
    await publish(["o.a", "o.c", "o.d"]);
    for (const name of ["M", "MN"]) await c.sameOnAll(name, (s) => s.messages === 4 && s.first_seq === 2 && s.last_seq === 5, `${name} holds four messages, 2 to 5, on N1, N2 and T3`);
    assert.equal(((await c.group("M")) as LeaderGroup).leader, "T3", "T3 led M throughout");

    // N1 takes M on from T3's copies, then T3 again.
    await c.leadOn(nc2, "N1", "M");
    await publish(["o.e", "o.b"]);
    await c.leadOnT3(nc1, "M");
    await publish(["o.f"]);
    for (const name of ["M", "MN"]) await c.sameOnAll(name, (s) => s.messages === 6 && s.first_seq === 3 && s.last_seq === 8, `${name} holds six messages, 3 to 8, on N1, N2 and T3`);

    const info = async (name: string): Promise<InfoJson> => (await retry(() => nc1.request(`$JS.API.STREAM.INFO.${name}`, "", { timeout: 10_000 }))).json<InfoJson>();
    const [m, mn] = [await info("M"), await info("MN")];
    assert.equal(m.cluster?.leader, "T3");
    assert.deepEqual(m.state, mn.state, "T3's M and N2's MN: the same state, times included");
    const copies = [];
    for (const nc of [nc1, nc2]) for (const name of ["M", "MN"]) copies.push((await Promise.all([3, 4, 5, 6, 7, 8].map((seq) => directGet(nc, name, seq)))).map((x) => `${x.seq} ${x.subject}`));
    for (const copy of copies.slice(1)) assert.deepEqual(copy, copies[0]);
    assert.deepEqual(copies[0], ["3 o.a", "4 o.c", "5 o.d", "6 o.e", "7 o.b", "8 o.f"]);
    const g = (await c.group("M")) as LeaderGroup & { replica?: Record<string, unknown> };
    t.diagnostic(`T3's M: ${JSON.stringify(g)}`);
    assert.equal(g.replica?.messages, 6);
  } catch (err) {
    t.diagnostic(`T3's M group: ${JSON.stringify(await c.group("M").catch(() => undefined))}`);
    t.diagnostic(`T3's log: ${(c.ours?.log() ?? "").split("\n").filter((l) => /mirror|'M'|> M\b|reset/i.test(l)).slice(-20).join("\n")}`);
    throw err;
  } finally {
    await c.stop();
  }
});
