// The consumer kinds a tsnats server leads in a nats-server 2.15 cluster (`nrg_peer_lead`,
// src/cluster/nrg_consumer_leader.ts) side by side with a nats-server leader of the same kind:
// two consumers with one config on one stream, "<x>t" led by T3 from its creation and "<x>n" by
// N1 or N2 (a consumer created again until the leader the test wants won its group's first
// election: the assignment's preferred member campaigns at once), their CONSUMER.INFO and
// deliveries compared. Deliver last per subject (the subjects' last messages, then new ones; one
// filter, two filters),
// replay at the original rate (the stored gaps kept), a rate limit (nats-server's budget: the
// stream's max_msg_size at once, then bits per second); priority groups: a pinned client (its
// Nats-Pin-Id, the 423s, CONSUMER.UNPIN, the pin in CONSUMER.INFO), overflow (min_pending and
// min_ack_pending) and prioritized (waiting requests by priority, in turns within one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, ReplayPolicy, type ConsumerConfig, type JetStreamManager } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";
import { pull, rawInfo, type ConsumerInfoJson } from "./helpers/nrg_consumer.js";

/** Create a consumer again until its group's first leader is T3 (`t3`) or a nats-server (not). */
async function createLedBy(jsm: JetStreamManager, nc: NatsConnection, stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }, t3: boolean): Promise<void> {
  let leader: string | undefined;
  await waitUntil(
    async () => {
      await retry(() => jsm.consumers.add(stream, cfg), 90_000);
      let info: ConsumerInfoJson | undefined;
      await waitUntil(async () => (leader = (info = await rawInfo(nc, stream, cfg.durable_name).catch(() => undefined))?.cluster?.leader) !== undefined && leader !== "", 60_000, `${cfg.durable_name} has a leader`, () => JSON.stringify(info));
      if ((leader === "T3") === t3) return true;
      // (A delete whose answer was lost and that is asked again finds nothing.)
      await retry(() => jsm.consumers.delete(stream, cfg.durable_name).catch((e: unknown) => String(e).includes("consumer not found") || Promise.reject(e)), 60_000);
      await waitUntil(async () => (await rawInfo(nc, stream, cfg.durable_name).catch(() => undefined))?.error !== undefined, 60_000, `${cfg.durable_name} removed`);
      return false;
    },
    300_000,
    `${cfg.durable_name} led by ${t3 ? "T3" : "a nats-server"} from its creation`,
    () => String(leader),
  );
}

/** What both leaders must answer alike. */
function infoState(i: ConsumerInfoJson): unknown {
  const seqs = (s: { consumer_seq: number; stream_seq: number }): number[] => [s.consumer_seq, s.stream_seq];
  return { delivered: seqs(i.delivered), ack_floor: seqs(i.ack_floor), num_ack_pending: i.num_ack_pending, num_pending: i.num_pending, num_redelivered: i.num_redelivered };
}

async function sameInfo(nc: NatsConnection, stream: string, t: string, n: string, what: string): Promise<ConsumerInfoJson> {
  let a: ConsumerInfoJson | undefined;
  let b: ConsumerInfoJson | undefined;
  await waitUntil(
    async () => {
      a = await rawInfo(nc, stream, t);
      b = await rawInfo(nc, stream, n);
      return a.cluster?.leader === "T3" && JSON.stringify(infoState(a)) === JSON.stringify(infoState(b));
    },
    30_000,
    what,
    () => JSON.stringify({ t3: a === undefined ? a : infoState(a), nats: b === undefined ? b : infoState(b), leader: a?.cluster?.leader }),
  );
  return a as ConsumerInfoJson;
}

test("with nrg_peer_lead, T3 leads deliver last per subject, replay original and rate-limited consumers of a nats-server 2.15 cluster as a nats-server leader does", { skip: referenceMissing(), timeout: 900_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });

    // Deliver last per subject: 3, 4 and 5 are the last of a, c and b; then what comes after.
    await retry(() => jsm.streams.add({ name: "LPS", subjects: ["lps.>"], num_replicas: 3 }), 90_000);
    for (const s of ["a", "b", "a", "c", "b"]) await retry(() => js2.publish(`lps.${s}`, s), 60_000);
        // (nats-server asks last per subject for a filter.)
for (const [filter, suffix] of [["lps.>", ""], ["lps.a", "f"]] as const) {
      const cfg = { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.LastPerSubject, filter_subject: filter };
      await createLedBy(jsm, nc2, "LPS", { durable_name: `l${suffix}t`, ...cfg }, true);
      await createLedBy(jsm, nc2, "LPS", { durable_name: `l${suffix}n`, ...cfg }, false);
      await sameInfo(nc2, "LPS", `l${suffix}t`, `l${suffix}n`, `${suffix} created: the same start`);
    }
    // Two filters: num_pending counts the start set, then each new message, as with one.
    const mcfg = { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.LastPerSubject, filter_subjects: ["lps.a", "lps.b"] };
    await createLedBy(jsm, nc2, "LPS", { durable_name: "lmt", ...mcfg }, true);
    await createLedBy(jsm, nc2, "LPS", { durable_name: "lmn", ...mcfg }, false);
    await sameInfo(nc2, "LPS", "lmt", "lmn", "two filters created: the same start");
    const gotAll = async (name: string, n: number): Promise<unknown[]> => {
      const got = await pull(nc2, "LPS", name, n);
      for (const m of got) assert.equal(await m.ackAck({ timeout: 10_000 }), true);
      return got.map((m) => [m.seq, m.subject, m.info.pending, m.info.deliverySequence]);
    };
    const lt = await gotAll("lt", 3);
    assert.deepEqual(lt, await gotAll("ln", 3));
    assert.deepEqual(
      lt.map((x) => (x as unknown[])[0]),
      [3, 4, 5],
    );
    await sameInfo(nc2, "LPS", "lt", "ln", "the start set delivered and acknowledged");
    assert.deepEqual(await gotAll("lft", 1), await gotAll("lfn", 1));
    await sameInfo(nc2, "LPS", "lft", "lfn", "filtered: the start set delivered");
    for (const s of ["d", "a"]) await retry(() => js2.publish(`lps.${s}`, s), 60_000);
    const after = await gotAll("lt", 2);
    assert.deepEqual(after, await gotAll("ln", 2));
    assert.deepEqual(
      after.map((x) => (x as unknown[])[0]),
      [6, 7],
    );
    await sameInfo(nc2, "LPS", "lt", "ln", "then new messages");
    assert.deepEqual(await gotAll("lft", 1), await gotAll("lfn", 1));
    await sameInfo(nc2, "LPS", "lft", "lfn", "filtered: then new messages");
    for (const s of ["a", "b", "a"]) await retry(() => js2.publish(`lps.${s}`, s), 60_000);
    await sameInfo(nc2, "LPS", "lmt", "lmn", "two filters: the set to go, then each new message");
    await sameInfo(nc2, "LPS", "lft", "lfn", "filtered: a subject written twice after the set counts twice");
    await sameInfo(nc2, "LPS", "lt", "ln", "each new message counts");
    const lm = await gotAll("lmt", 6);
    assert.deepEqual(lm, await gotAll("lmn", 6));
    assert.deepEqual(
      lm.map((x) => (x as unknown[])[0]),
      [3, 5, 7, 8, 9, 10],
    );
    await sameInfo(nc2, "LPS", "lmt", "lmn", "two filters: all delivered and acknowledged");

    // Replay at the original rate: three messages 600 ms apart come about 600 ms apart.
    await retry(() => jsm.streams.add({ name: "RP", subjects: ["rp.>"], num_replicas: 3 }), 90_000);
    for (let i = 1; i <= 3; i++) {
      await retry(() => js2.publish(`rp.${i}`, `r${i}`), 60_000);
      if (i < 3) await new Promise((r) => setTimeout(r, 600));
    }
    const stored: number[] = [];
    for (let i = 1; i <= 3; i++) stored.push((await jsm.streams.getMessage("RP", { seq: i }))?.time.getTime() ?? 0);
    const replayed = async (name: string): Promise<number[]> => {
      const cons = await jetstream(nc2).consumers.get("RP", name);
      const at: number[] = [];
      const seqs: number[] = [];
      const batch = await cons.fetch({ max_messages: 3, expires: 20_000 });
      for await (const m of batch) {
        at.push(Date.now());
        seqs.push(m.seq);
        m.ack();
        if (seqs.length === 3) break;
      }
      assert.deepEqual(seqs, [1, 2, 3], `${name}: 1-3 replayed`);
      return at;
    };
    const rcfg = { ack_policy: AckPolicy.Explicit, replay_policy: ReplayPolicy.Original };
    await createLedBy(jsm, nc2, "RP", { durable_name: "rt", ...rcfg }, true);
    await createLedBy(jsm, nc2, "RP", { durable_name: "rn", ...rcfg }, false);
    for (const name of ["rt", "rn"]) {
      const at = await replayed(name);
      // Never sooner than the stored gap (less a margin for the clocks' granularity).
      for (let i = 1; i < 3; i++) assert.ok(at[i] - at[i - 1] >= stored[i] - stored[i - 1] - 50, `${name}: delivery ${i + 1} came ${at[i] - at[i - 1]} ms after the one before; stored ${stored[i] - stored[i - 1]} ms apart`);
    }
    await sameInfo(nc2, "RP", "rt", "rn", "replayed and acknowledged");

    // A rate limit of 8000 bits/s on a stream whose max_msg_size is 600: the first ~560 byte
    // delivery goes at once, each of the other three after about half a second.
    await retry(() => jsm.streams.add({ name: "RL", subjects: ["rl"], num_replicas: 3, max_msg_size: 600 }), 90_000);
    for (let i = 0; i < 4; i++) await retry(() => js2.publish("rl", "x".repeat(500)), 60_000);
    const limited = async (name: string, deliver: string): Promise<number> => {
      const sub = nc2.subscribe(deliver);
      const t0 = Date.now();
      let n = 0;
      let first = 0;
      for await (const m of sub) {
        if (m.headers?.code !== undefined) continue;
        if (++n === 1) first = Date.now() - t0;
        if (n === 4) break;
      }
      const took = Date.now() - t0;
      assert.ok(took - first >= 1200, `${name}: three ~560 byte deliveries at 1000 B/s took ${took - first} ms`);
      return took;
    };
    for (const [name, t3] of [["bt", true], ["bn", false]] as const) {
      const deliver = createInbox();
      await createLedBy(jsm, nc2, "RL", { durable_name: name, ack_policy: AckPolicy.None, deliver_subject: deliver, rate_limit_bps: 8000 }, t3);
      await limited(name, deliver);
    }
    await sameInfo(nc2, "RL", "bt", "bn", "rate limited: all four delivered");
  } finally {
    await c.stop();
  }
});

/** One pull request's answer: the message's sequence, or its status; its Nats-Pin-Id. */
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
