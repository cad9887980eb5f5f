// The consumer kinds a tsnats server leads in a nats-server 2.15 cluster (`nrg_peer_lead`,
// src/cluster/nrg_consumer_leader.ts) side by side with a nats-server leader of the same kind:
// two consumers with one config on one stream, "<x>t" led by T3 from its creation and "<x>n" by
// N1 or N2 (a consumer created again until the leader the test wants won its group's first
// election: the assignment's preferred member campaigns at once), their CONSUMER.INFO and
// deliveries compared. Deliver last per subject (the subjects' last messages, then new ones; one
// filter, two filters), replay at the original rate (the stored gaps kept), a rate limit
// (nats-server's budget: the stream's max_msg_size at once, then bits per second). Priority
// groups: nrg_consumer_leader_priority (one file each keeps both under the runner's 120 s).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createInbox } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, ReplayPolicy } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";
import { pull } from "./helpers/nrg_consumer.js";
import { createLedBy, sameInfo } from "./helpers/nrg_consumer_kinds.js";

test("with nrg_peer_lead, T3 leads deliver last per subject, replay original and rate-limited consumers of a nats-server 2.15 cluster as a nats-server leader does", { skip: referenceMissing(), timeout: 900_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });

    // Deliver last per subject: 3, 4 and 5 are the last of a, c and b; then what comes after.
    await retry(() => jsm.streams.add({ name: "LPS", subjects: ["lps.>"], num_replicas: 3 }), 90_000);
    for (const s of ["a", "b", "a", "c", "b"]) await retry(() => js2.publish(`lps.${s}`, s), 60_000);
    // A leader without state picks its start from its own copy (nats-server's selectStartingSeqNo
    // too): T3's copy may still lack the last PubAcked messages (the quorum was N1 and N2), and a
    // start set taken then is missing them for good.
    await c.sameOnAll("LPS", (s) => s.last_seq === 5, "every copy of LPS holds the five messages");
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
      // Each delivery no sooner after the first than stored after the first, less a third of a
      // gap. Measured since the first, not the one before: a delivery this process read late
      // (its event loop busy under load) made the next gap look short, while the server kept it
      // (nats-server's rn once: 535 ms after a late-read delivery 2, stored 603 ms apart).
      // Deliveries ignoring the gaps, or keeping only one, still fail.
      for (let i = 1; i < 3; i++) assert.ok(at[i] - at[0] >= stored[i] - stored[0] - 200, `${name}: delivery ${i + 1} came ${at[i] - at[0]} ms after the first; stored ${stored[i] - stored[0]} ms after it (gaps read: ${at[1] - at[0]}, ${at[2] - at[1]} ms)`);
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
