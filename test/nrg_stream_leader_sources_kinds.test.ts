// Sources of the kinds nrg_stream_leader_sources leaves out, with T3 (`nrg_peer_lead`) leading
// the stream that reads them, side by side with a stream led by nats-servers only, in a
// nats-server 2.15 cluster:
// - a work-queue origin: nats-server 2.14+ reads it through a durable JS_SRC_* consumer on the
//   origin with ack policy flow_control (ADR-60), acknowledged by the copy's flow-control replies
//   once the copy is stored; the origin is drained, every message copied once, also across
//   leader changes (N1 then T3 again take the durable on from its ack floor);
// - a limits origin read with a per-source subject transform (l.> to tl.>).
// S (WQ1 and LIM) is led by T3, then N1, then T3; SN (WQ2 and LIM) by a nats-server throughout.
// T3 never stands for the JS_SRC durables' groups (it cannot lead a flow_control consumer): when
// it won their first election and handed the leadership back, the durable's create (answered by
// its first leader after its reset entry) went unanswered, and S or SN started 40 s late.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, type LeaderGroup } from "./helpers/nrg_cluster.js";

interface ConsumerJson {
  name: string;
  config: Record<string, unknown>;
  delivered: { stream_seq: number };
  ack_floor: { stream_seq: number };
  num_ack_pending: number;
  num_pending: number;
}

async function subjectsOf(nc: NatsConnection, stream: string, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const m = await nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq }), { timeout: 10_000 });
    out.push(m.headers?.get("Nats-Subject") ?? `missing ${seq}: ${m.headers?.code}`);
  }
  return out;
}

test("with nrg_peer_lead, T3 leading a stream that sources a work-queue origin (a flow_control durable) and a limits origin through a subject transform copies every message once and drains the work queue, as a nats-server leader", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    for (const [name, subjects, retention] of [
      ["WQ1", ["w1.>"], "workqueue"],
      ["WQ2", ["w2.>"], "workqueue"],
      ["LIM", ["l.>"], "limits"],
    ] as const) {
      await retry(() => jsm.streams.add({ name, subjects: [...subjects], retention, num_replicas: 3 }), 90_000);
    }
    const publishRange = async (from: number, to: number): Promise<void> => {
      for (let i = from; i <= to; i++) for (const s of [`w1.${i}`, `w2.${i}`, `l.${i}`]) await retry(() => js2.publish(s, `m${i}`), 60_000);
    };
    // The origins hold a message on every server before anything reads them (a source whose
    // first consumer create fails waits a back-off of 10 s and more, on nats-server as here).
    await publishRange(1, 1);
    for (const name of ["WQ1", "WQ2", "LIM"]) await c.sameOnAll(name, (s) => s.messages === 1, `${name} holds its first message on N1, N2 and T3`);
    const transform = { name: "LIM", subject_transforms: [{ src: "l.>", dest: "tl.>" }] };
    await retry(() => jsm.streams.add({ name: "S", num_replicas: 3, allow_direct: true, sources: [{ name: "WQ1" }, transform] }), 90_000);
    await retry(() => jsm.streams.add({ name: "SN", num_replicas: 3, allow_direct: true, sources: [{ name: "WQ2" }, transform] }), 90_000);
    // SN stays with the nats-server that won its first election (T3 may have won it).
    if ((await jsm.streams.info("SN")).cluster?.leader === "T3") await c.leadOn(nc2, "N2", "SN");
    await c.leadOnT3(nc1, "S");
    await publishRange(2, 5);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 10, `${name} holds 10 copies on N1, N2 and T3`);
    await Promise.all([publishRange(6, 8), c.leadOn(nc2, "N1", "S")]);
    await Promise.all([publishRange(9, 10), c.leadOnT3(nc1, "S")]);
    for (const name of ["S", "SN"]) await c.sameOnAll(name, (s) => s.messages === 20 && s.last_seq === 20, `${name} holds 20 copies on N1, N2 and T3`);
    assert.equal(((await c.group("S")) as LeaderGroup).leader, "T3", "T3 leads S");

    // Every message once; the transform applied; the work queues drained.
    const [s, sn] = [await subjectsOf(nc1, "S", 20), await subjectsOf(nc1, "SN", 20)];
    const sorted = (xs: string[]): string[] => xs.map((x) => x.replace(/^w[12]\./, "w.")).sort();
    assert.deepEqual(sorted(s), sorted(sn));
    assert.deepEqual(sorted(s), [...Array.from({ length: 10 }, (_, i) => `tl.${i + 1}`), ...Array.from({ length: 10 }, (_, i) => `w.${i + 1}`)].sort());
    for (const wq of ["WQ1", "WQ2"]) await c.sameOnAll(wq, (st) => st.messages === 0 && st.last_seq === 10, `${wq} drained on N1, N2 and T3`);

    // The durable each reads its work queue through: the same kind, fully acknowledged.
    const durable = async (stream: string): Promise<ConsumerJson> => {
      let found: ConsumerJson | undefined;
      await waitUntil(
        async () => {
          const list = (await retry(() => nc1.request(`$JS.API.CONSUMER.LIST.${stream}`, "", { timeout: 10_000 }))).json<{ consumers: ConsumerJson[] }>();
          found = list.consumers.find((x) => x.name.startsWith("JS_SRC_"));
          return found !== undefined && found.ack_floor.stream_seq === 10 && found.num_ack_pending === 0 && found.num_pending === 0;
        },
        60_000,
        `${stream}'s JS_SRC_ durable acknowledged up to 10`,
        () => JSON.stringify(found),
      );
      return found as ConsumerJson;
    };
    const [d1, d2] = [await durable("WQ1"), await durable("WQ2")];
    assert.equal(d1.config.ack_policy, "flow_control");
    assert.deepEqual(Object.keys(d1.config).sort(), Object.keys(d2.config).sort(), JSON.stringify({ d1: d1.config, d2: d2.config }));
    t.diagnostic(`T3 leading S: ${JSON.stringify(((await c.group("S")) as LeaderGroup).stream_leader)}`);
  } catch (err) {
    t.diagnostic(`T3's S group: ${JSON.stringify(await c.group("S").catch(() => undefined))}`);
    t.diagnostic(`T3's log: ${(c.ours?.log() ?? "").split("\n").filter((l) => /source|'S'|> S\b|WQ/i.test(l)).slice(-20).join("\n")}`);
    throw err;
  } finally {
    await c.stop();
  }
});
