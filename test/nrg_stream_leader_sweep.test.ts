// A tsnats server elected leader of a nats-server 2.15 interest stream (`nrg_peer_lead`) after its
// nats-server leader stopped: the acks its consumer groups applied while the stream had no
// leader were nobody's to turn into removals (only a stream's leader proposes them, nats-server's
// ackMsg), so the new leader checks every message once (nats-server's checkInterestState at
// setLeader) and proposes the removal of each one no consumer needs; N1, N2 and T3 end with the
// state a nats-server leader leaves. The round's first message stays unacknowledged by b, so
// the members' own removals from the stream's head (nats-server's followers raise their first
// sequence, at times of their own) cannot take the others: only the new leader's proposals do.
// Which member wins the election after N1 is frozen is the election's choice: a round N2 wins
// is a nats-server leader's own sweep (the same end state checked), and the test goes on with
// new messages until T3 wins one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, type LeaderGroup } from "./helpers/nrg_cluster.js";
import { pull, type ConsumerGroup } from "./helpers/nrg_consumer.js";

test("with nrg_peer_lead, T3 elected leader of an interest stream whose nats-server leader stopped removes what both consumers acknowledged meanwhile, as a nats-server leader does", { skip: referenceMissing(), timeout: 600_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  const frozen = new Set<number>();
  try {
    const { n1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "SW", subjects: ["sw.>"], num_replicas: 3, retention: "interest" as never }), 90_000);
    await retry(() => jsm.consumers.add("SW", { durable_name: "a", ack_policy: AckPolicy.Explicit }), 90_000);
    await retry(() => jsm.consumers.add("SW", { durable_name: "b", ack_policy: AckPolicy.Explicit }), 90_000);
    let last = 0;
    let swept = 0;
    const rounds: string[] = [];
    for (let round = 1; swept !== 3 && round <= 8; round++) {
      await c.leadOn(nc2, "N1", "SW");
      await c.leadOn(nc2, "N2", "SW", "b");
      const first = last + 1;
      for (let i = 0; i < 4; i++) await retry(() => js2.publish(`sw.${round}.${i}`, `r${round}m${i}`), 60_000);
      last += 4;
      // a acknowledges while N1 leads: the messages stay for b everywhere.
      for (const m of await pull(nc2, "SW", "a", 4)) assert.equal(await m.ackAck({ timeout: 10_000 }), true);
      const forB = await pull(nc2, "SW", "b", 4);
      assert.deepEqual(
        forB.map((m) => m.seq),
        [first, first + 1, first + 2, first + 3],
      );
      await c.sameOnAll("SW", (s) => s.messages === 4 && s.first_seq === first && s.last_seq === last, `round ${round}: N1, N2 and T3 keep ${first}-${last} for b`);
      // N1 frozen: b's acks are applied by N2 and T3 while the stream has no leader.
      const pid = n1.proc.pid as number;
      process.kill(pid, "SIGSTOP");
      frozen.add(pid);
      // All but the round's first, which b still needs: the three others wait for a leader.
      for (const m of forB.slice(1)) assert.equal(await m.ackAck({ timeout: 10_000 }), true);
      let b: ConsumerGroup | undefined;
      await waitUntil(async () => (b = (await c.group("SW", "b")) as ConsumerGroup | undefined)?.consumer_state?.num_ack_pending === 1, 60_000, `T3 applied b's acks of ${first + 1}-${last}`, () => JSON.stringify(b?.consumer_state));
      // N2 or T3 is elected; either sweeps what both consumers acknowledged.
      let g: LeaderGroup | undefined;
      await waitUntil(async () => (g = (await c.group("SW")) as LeaderGroup | undefined)?.leader === "N2" || (g?.leader === "T3" && g.stream_leader !== undefined), 90_000, "N2 or T3 leads SW", () => JSON.stringify(g));
      process.kill(pid, "SIGCONT");
      frozen.delete(pid);
      await c.sameOnAll("SW", (s) => s.messages === 1 && s.first_seq === first && s.last_seq === last, `round ${round} (${g?.leader} elected): N1, N2 and T3 removed ${first + 1}-${last}, kept ${first}`);
      const winner = (await c.group("SW")) as LeaderGroup | undefined;
      // b acknowledges the first too (again until T3 applied it: b's group may be electing a leader after N1 came back): it goes everywhere.
      let acked = 0;
      await waitUntil(
        async () => {
          if (Date.now() - acked > 5_000) {
            acked = Date.now();
            nc2.publish((forB[0] as unknown as { reply: string }).reply, "+ACK");
            await nc2.flush();
          }
          return ((await c.group("SW", "b")) as ConsumerGroup | undefined)?.consumer_state?.num_ack_pending === 0;
        },
        90_000,
        `T3 applied b's ack of ${first}`,
      );
      await c.sameOnAll("SW", (s) => s.messages === 0 && s.first_seq === last + 1 && s.last_seq === last, `round ${round}: N1, N2 and T3 removed ${first}`);
      rounds.push(`${round}: ${g?.leader} swept ${winner?.stream_leader?.counters.swept ?? "-"}`);
      if (g?.leader === "T3") swept = winner?.stream_leader?.counters.swept ?? 0;
    }
    t.diagnostic(`rounds: ${rounds.join(", ")}`);
    // The three b acknowledged while no member led the stream.
    assert.ok(swept === 3, `T3 won an election over acknowledged messages and its sweep proposed their removal (rounds: ${rounds.join(", ")})`);
  } finally {
    for (const pid of frozen) process.kill(pid, "SIGCONT");
    await c.stop();
  }
});
