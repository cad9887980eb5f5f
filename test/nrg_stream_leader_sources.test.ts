// A stream with two sources in a nats-server 2.15 cluster led by T3 (`nrg_peer_lead`,
// nrg_stream_sourcing.ts), side by side with the same stream led by a nats-server: O1 is led by
// N1, O2 by T3 (an origin on either kind of server); S and SN source both. T3 is elected S's
// leader (from N1) while both origins take messages, and takes each source on from where S's
// committed messages say it got (their Nats-Stream-Source headers). S ends with every origin
// message once, on N1, N2 and T3 alike (the same messages at the same sequences, headers
// included), as many as SN; STREAM.INFO's `sources` blocks answered by T3 have the fields of N2's.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { digest, NrgCluster, readReplicaWhole, type LeaderGroup } from "./helpers/nrg_cluster.js";
import { parseRfc3339 } from "../src/server/time.js";

/** One server's own copy of a message (a direct get answered by the server the client is on), its Nats-Stream-Source header included. */
async function directGet(nc: NatsConnection, stream: string, seq: number): Promise<{ seq: number; subject: string; source: string; data: string; time: bigint }> {
  const m = await nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq }), { timeout: 10_000 });
  const h = m.headers;
  assert.ok(h !== undefined && h.get("Nats-Sequence") === String(seq), `direct get of ${stream} ${seq}: ${h?.code} ${h?.description}`);
  return { seq, subject: h.get("Nats-Subject"), source: h.get("Nats-Stream-Source"), data: digest(m.data), time: parseRfc3339(h.get("Nats-Time-Stamp")) ?? 0n };
}

interface InfoJson {
  state: { messages: number };
  sources?: Record<string, unknown>[];
  cluster?: { leader?: string };
}

test("with nrg_peer_lead, T3 elected leader of a stream with two sources while both origins take messages sources on from the committed state: every message once, on every replica, as a nats-server leader", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    const publishRange = async (from: number, to: number): Promise<void> => {
      for (let i = from; i <= to; i++) for (const o of ["o1", "o2"]) await retry(() => js2.publish(`${o}.${i}`, `${o}m${i}`), 60_000);
    };
    for (const o of ["O1", "O2"]) await retry(() => jsm.streams.add({ name: o, subjects: [`${o.toLowerCase()}.>`], num_replicas: 3 }), 90_000);
    await c.leadOn(nc2, "N1", "O1");
    await c.leadOnT3(nc1, "O2");
    await publishRange(1, 5);
    for (const name of ["S", "SN"]) await retry(() => jsm.streams.add({ name, num_replicas: 3, allow_direct: true, sources: [{ name: "O1" }, { name: "O2" }] }), 90_000);
    await c.leadOn(nc2, "N2", "SN");
    // S starts with a nats-server leader (T3 may have won its first election).
    await c.leadOn(nc2, "N1", "S");
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 10, `${name} holds O1's and O2's first 5 on N1, N2 and T3`);

    // T3 is elected while the origins take messages 6-20; N1 then, while they take 21-23; T3 again.
    await Promise.all([publishRange(6, 20), c.leadOnT3(nc1, "S")]);
    await Promise.all([publishRange(21, 23), c.leadOn(nc2, "N1", "S")]);
    await Promise.all([publishRange(24, 27), c.leadOnT3(nc1, "S")]);
    await publishRange(28, 30);
    const g = (await c.group("S")) as LeaderGroup;
    assert.equal(g.leader, "T3", "T3 still leads S");
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 60 && s.last_seq === 60, `${name} holds O1's and O2's 60 messages on N1, N2 and T3`);

    const info = async (name: string): Promise<InfoJson> => (await retry(() => nc1.request(`$JS.API.STREAM.INFO.${name}`, "", { timeout: 10_000 }))).json<InfoJson>();
    const [s, sn] = [await info("S"), await info("SN")];
    assert.equal(s.cluster?.leader, "T3");
    assert.equal(sn.cluster?.leader, "N2");
    const keys = (i: InfoJson): string[][] => (i.sources ?? []).map((x) => Object.keys(x).sort()).sort();
    assert.deepEqual(keys(s), keys(sn), `the sources blocks' fields: ${JSON.stringify({ s: s.sources, sn: sn.sources })}`);
    assert.deepEqual(
      (s.sources ?? []).map((x) => ({ name: x.name, lag: x.lag })).sort((a, b) => String(a.name).localeCompare(String(b.name))),
      [
        { name: "O1", lag: 0 },
        { name: "O2", lag: 0 },
      ],
    );

    // Every copy, message by message: N1's and N2's own copies of S, then T3's store.
    const seqs = Array.from({ length: 60 }, (_, k) => k + 1);
    const n1Copy = await Promise.all(seqs.map((seq) => directGet(nc1, "S", seq)));
    const n2Copy = await Promise.all(seqs.map((seq) => directGet(nc2, "S", seq)));
    assert.deepEqual(n2Copy, n1Copy);
    assert.deepEqual(
      n1Copy.map((m) => m.subject).sort(),
      [1, 2].flatMap((o) => seqs.slice(0, 30).map((i) => `o${o}.${i}`)).sort(),
      "every origin message once",
    );
    // Each copy names its origin and the origin's sequence.
    for (const m of n1Copy) assert.match(m.source, new RegExp(`^O${m.subject[1]} ${m.subject.split(".")[1]} `), `S ${m.seq}: ${m.source}`);
    const groupDir = path.join(c.storeDir, "jetstream", "nrg_peer", g.group, "store");
    t.diagnostic(`T3 leading S: ${JSON.stringify(g.stream_leader)}`);
    await c.ours?.stop();
    c.ours = undefined;
    assert.deepEqual(
      readReplicaWhole(groupDir).map((x) => ({ seq: x.seq, subject: x.subject, data: x.data, time: x.time })),
      n1Copy.map((m) => ({ seq: m.seq, subject: m.subject, data: m.data, time: m.time })),
      "T3's copy of S is N1's and N2's",
    );
  } catch (err) {
    t.diagnostic(`T3's S group: ${JSON.stringify(await c.group("S").catch(() => undefined))}`);
    t.diagnostic(`T3's log: ${(c.ours?.log() ?? "").split("\n").filter((l) => /source|'S'|> S\b/i.test(l)).slice(-20).join("\n")}`);
    throw err;
  } finally {
    await c.stop();
  }
});
