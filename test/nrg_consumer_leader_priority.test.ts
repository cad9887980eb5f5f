// Priority groups of a consumer a tsnats server leads in a nats-server 2.15 cluster (`nrg_peer_lead`),
// side by side with a nats-server leader of the same kind, as in nrg_consumer_leader_kinds: a
// pinned client (its Nats-Pin-Id, the 423s, CONSUMER.UNPIN, the pin in CONSUMER.INFO), overflow
// (min_pending and min_ack_pending) and prioritized (waiting requests by priority, in turns
// within one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, type ConsumerConfig } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";
import { rawInfo } from "./helpers/nrg_consumer.js";
import { createLedBy, sameInfo } from "./helpers/nrg_consumer_kinds.js";

async function next(nc: NatsConnection, stream: string, consumer: string, req: Record<string, unknown>, ack = true): Promise<{ seq?: number; status?: string; pin?: string }> {
  const m = await pullOnce(nc, stream, consumer, req);
  const code = m.headers?.code ?? 0;
  if (code !== 0) return { status: `${code} ${m.headers?.description ?? ""}` };
  const t = (m.reply ?? "").split(".");
  const seq = Number(t[5]);
  if (ack) m.respond("+ACK");
  return { seq, pin: m.headers?.get("Nats-Pin-Id") };
}

/** The first answer to one pull request (a status too), on an inbox of its own. */
async function pullOnce(nc: NatsConnection, stream: string, consumer: string, req: Record<string, unknown>): Promise<Msg> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: 1, timeout: 20_000 });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(req), { reply: inbox });
  for await (const m of sub) return m;
  throw new Error(`no answer to a pull request of ${consumer}`);
}

test("with nrg_peer_lead, T3 leads pinned-client, overflow and prioritized priority groups of a nats-server 2.15 cluster as a nats-server leader does", { skip: referenceMissing(), timeout: 900_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "PG", subjects: ["pg.>"], num_replicas: 3 }), 90_000);
    for (let i = 1; i <= 10; i++) await retry(() => js2.publish(`pg.${i}`, `m${i}`), 60_000);

    // Pinned client: each step asked of both, the answers compared (pin ids as "X"/"Y" for the first and second pin).
    const pcfg = { ack_policy: AckPolicy.Explicit, priority_policy: "pinned_client", priority_groups: ["A"], priority_timeout: 60_000_000_000 } as unknown as Partial<ConsumerConfig>;
    await createLedBy(jsm, nc2, "PG", { durable_name: "pt", ...pcfg }, true);
    await createLedBy(jsm, nc2, "PG", { durable_name: "pn", ...pcfg }, false);
    const pinned = async (name: string): Promise<unknown[]> => {
      const steps: unknown[] = [];
      const pins: string[] = [];
      const named = (r: { seq?: number; status?: string; pin?: string }): unknown => {
        if (r.pin !== undefined && !pins.includes(r.pin)) pins.push(r.pin);
        return { ...r, pin: r.pin === undefined ? undefined : `pin${pins.indexOf(r.pin)}` };
      };
      const first = await next(nc2, "PG", name, { batch: 1, expires: 5_000_000_000, group: "A" });
      steps.push(named(first));
      steps.push(named(await next(nc2, "PG", name, { batch: 1, expires: 5_000_000_000, group: "A", id: first.pin })));
      steps.push(named(await next(nc2, "PG", name, { batch: 1, expires: 5_000_000_000, group: "A", id: "NOTTHEPIN" })));
      // Another client without the pin waits until its request expires.
      steps.push(named(await next(nc2, "PG", name, { batch: 1, expires: 1_000_000_000, group: "A" })));
      const info = await rawInfo(nc2, "PG", name);
      const groups = (info as unknown as { priority_groups?: { group: string; pinned_client_id?: string; pinned_ts?: string }[] }).priority_groups;
      steps.push(groups?.map((g) => ({ group: g.group, pinned: g.pinned_client_id === first.pin, ts: typeof g.pinned_ts })));
      const unpin = async (body: unknown): Promise<unknown> => (await nc2.request(`$JS.API.CONSUMER.UNPIN.PG.${name}`, JSON.stringify(body), { timeout: 10_000 })).json();
      steps.push(await unpin({ group: "B" }));
      steps.push(await unpin({}));
      steps.push(await unpin({ group: "A" }));
      // The old pin is refused; a request without one gets a new pin.
      steps.push(named(await next(nc2, "PG", name, { batch: 1, expires: 5_000_000_000, group: "A", id: first.pin })));
      steps.push(named(await next(nc2, "PG", name, { batch: 1, expires: 5_000_000_000, group: "A" })));
      return steps;
    };
    const t3Pinned = await pinned("pt");
    t.diagnostic(`pinned: ${JSON.stringify(t3Pinned)}`);
    assert.deepEqual(t3Pinned, await pinned("pn"));
    assert.deepEqual(
      (t3Pinned as { seq?: number; pin?: string }[]).slice(0, 2).map((r) => [r.seq, r.pin]),
      [
        [1, "pin0"],
        [2, "pin0"],
      ],
    );
    await sameInfo(nc2, "PG", "pt", "pn", "pinned: the same deliveries and acks");

    // Overflow: a request is served only while pending or ack pending reach its thresholds.
    const ocfg = { ack_policy: AckPolicy.Explicit, priority_policy: "overflow", priority_groups: ["A"] } as unknown as Partial<ConsumerConfig>;
    await createLedBy(jsm, nc2, "PG", { durable_name: "ot", ...ocfg }, true);
    await createLedBy(jsm, nc2, "PG", { durable_name: "on", ...ocfg }, false);
    const overflow = async (name: string): Promise<unknown[]> => {
      const steps: unknown[] = [];
      const unacked = async (req: Record<string, unknown>): Promise<unknown> => {
        const r = await next(nc2, "PG", name, req, false);
        return r.status ?? r.seq;
      };
      steps.push(await unacked({ batch: 1, expires: 1_000_000_000, group: "A", min_pending: 20 }));
      steps.push(await unacked({ batch: 1, expires: 5_000_000_000, group: "A", min_pending: 5 }));
      steps.push(await unacked({ batch: 1, expires: 5_000_000_000, group: "A", min_ack_pending: 1 }));
      steps.push(await unacked({ batch: 1, expires: 1_000_000_000, group: "A", min_ack_pending: 5 }));
      steps.push(await unacked({ batch: 1, expires: 5_000_000_000, group: "A", min_pending: 8, min_ack_pending: 5 }));
      return steps;
    };
    const t3Overflow = await overflow("ot");
    assert.deepEqual(t3Overflow, await overflow("on"));
    assert.deepEqual(t3Overflow, ["408 Request Timeout", 1, 2, "408 Request Timeout", 3]);
    await sameInfo(nc2, "PG", "ot", "on", "overflow: the same deliveries");

    // Prioritized: waiting requests served by priority (0 first), in turns within one; a priority
    // outside 0-9 refused. Three requests wait on an empty stream, then five messages come.
    await retry(() => jsm.streams.add({ name: "PP", subjects: ["pp.>"], num_replicas: 3 }), 90_000);
    const qcfg = { ack_policy: AckPolicy.Explicit, priority_policy: "prioritized", priority_groups: ["A"] } as unknown as Partial<ConsumerConfig>;
    await createLedBy(jsm, nc2, "PP", { durable_name: "qt", ...qcfg }, true);
    await createLedBy(jsm, nc2, "PP", { durable_name: "qn", ...qcfg }, false);
    const outOfRange = async (name: string): Promise<string | undefined> => (await next(nc2, "PP", name, { batch: 1, expires: 1_000_000_000, group: "A", priority: 10 })).status;
    assert.equal(await outOfRange("qt"), await outOfRange("qn"));
    const queued = async (name: string): Promise<Map<string, number[]>> => {
      const got = new Map<string, number[]>();
      for (const [label, priority, batch] of [["R1", 2, 2], ["R2", 1, 2], ["R3", 1, 1]] as const) {
        const seqs: number[] = [];
        got.set(label, seqs);
        const inbox = createInbox();
        nc2.subscribe(inbox, {
          max: batch,
          callback: (_err: Error | null, m: Msg) => {
            if ((m.headers?.code ?? 0) !== 0) return;
            seqs.push(Number((m.reply ?? "").split(".")[5]));
            m.respond("+ACK");
          },
        });
        nc2.publish(`$JS.API.CONSUMER.MSG.NEXT.PP.${name}`, JSON.stringify({ batch, expires: 120_000_000_000, group: "A", priority }), { reply: inbox });
        // In this order at the leader.
        await waitUntil(async () => (await rawInfo(nc2, "PP", name)).num_waiting === got.size, 30_000, `${name}: ${label} waits`);
      }
      return got;
    };
    const qt = await queued("qt");
    const qn = await queued("qn");
    for (let i = 1; i <= 5; i++) await retry(() => js2.publish(`pp.${i}`, `p${i}`), 60_000);
    const total = (m: Map<string, number[]>): number => [...m.values()].reduce((n, v) => n + v.length, 0);
    await waitUntil(() => total(qt) === 5 && total(qn) === 5, 60_000, "both deliver the five messages", () => JSON.stringify({ qt: [...qt], qn: [...qn] }));
    t.diagnostic(`prioritized: ${JSON.stringify([...qt])}`);
    assert.deepEqual([...qt], [...qn], "the same requests get the same messages");
    assert.deepEqual(Object.fromEntries(qt), { R1: [4, 5], R2: [1, 3], R3: [2] });
    await sameInfo(nc2, "PP", "qt", "qn", "prioritized: the same deliveries and acks");
  } finally {
    await c.stop();
  }
});
