// A tsnats server elected leader of a nats-server 2.15 interest stream (`nrg_peer_lead`) after its
// nats-server leader stopped: the acks its consumer groups applied while the stream had no
// leader were nobody's to turn into removals (only a stream's leader proposes them, nats-server's
// ackMsg), so the new leader checks every message once (nats-server's checkInterestState at
// setLeader) and proposes the removal of each one no consumer needs; N1, N2 and T3 end with the
// state a nats-server leader leaves. The round's first message stays unacknowledged by b, so
// the members' own removals from the stream's head (nats-server's followers raise their first
// sequence, at times of their own) cannot take the others: only the new leader's proposals do.
// The election is T3's by construction, not by luck: once b's acks are applied N2 is frozen too,
// and only after T3 has campaigned alone past any term N2 can reach on its own is N2 let go; the
// vote requests waiting in its socket then carry a higher term than its own campaign, so it votes
// for T3 (raft.go processVoteRequest). In about one round in five on a loaded machine T3's
// sweep finds the three already removed from its copy when it runs (it checks one message:
// the three delete entries were applied on T3 before its leader half started, although no
// other member led after N1; where they come from is not known yet). The end state is the
// same and is checked on every member; such a round is accepted as it is, with its counts in
// the diagnostic (replaying it took a run past the test runner's 120 s limit per file). A round
// that N2 won is played again while the run is young.
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
  const freeze = (pid: number): void => {
    process.kill(pid, "SIGSTOP");
    frozen.add(pid);
  };
  const thaw = (pid: number): void => {
    process.kill(pid, "SIGCONT");
    frozen.delete(pid);
  };
  try {
    const { n1, n2, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "SW", subjects: ["sw.>"], num_replicas: 3, retention: "interest" as never }), 90_000);
    await retry(() => jsm.consumers.add("SW", { durable_name: "a", ack_policy: AckPolicy.Explicit }), 90_000);
    await retry(() => jsm.consumers.add("SW", { durable_name: "b", ack_policy: AckPolicy.Explicit }), 90_000);
    let last = 0;
    let swept = 0;
    /** T3 led with the three already removed from its copy (see above). */
    let goneBefore = false;
    const rounds: string[] = [];
    const started = Date.now();
    for (let round = 1; swept !== 3 && !goneBefore && round <= 3 && (round === 1 || Date.now() - started < 40_000); round++) {
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
      // a's acks known committed on T3 before its group's leader may be frozen: an ack T3 holds
      // but has not applied yet is not in its consumers' state when it is elected.
      let a: ConsumerGroup | undefined;
      await waitUntil(async () => (a = (await c.group("SW", "a")) as ConsumerGroup | undefined)?.consumer_state?.ack_floor.stream_seq === last, 60_000, `T3 applied a's acks of ${first}-${last}`, () => JSON.stringify(a?.consumer_state));
      // N1 frozen: b's acks are applied by N2 and T3 while the stream has no leader.
      const termBefore = (await c.group("SW"))?.term ?? 0;
      freeze(n1.proc.pid as number);
      // All but the round's first, which b still needs: the three others wait for a leader.
      // At once: the shorter the time N2 runs without a stream leader, the less likely its own election timer fires.
      assert.deepEqual(await Promise.all(forB.slice(1).map((m) => m.ackAck({ timeout: 10_000 }))), [true, true, true]);
      // Polled closely: N2 is frozen as soon as they are, well before its election timer fires.
      const deadline = Date.now() + 60_000;
      let b: ConsumerGroup | undefined;
      while ((b = (await c.group("SW", "b")) as ConsumerGroup | undefined)?.consumer_state?.num_ack_pending !== 1) {
        assert.ok(Date.now() < deadline, `T3 applied b's acks of ${first + 1}-${last}; last seen: ${JSON.stringify(b?.consumer_state)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      freeze(n2.proc.pid as number);
      // N2's term is at most one past what T3 saw of it now (a vote request in flight), and one
      // more once thawed (its own overdue election timer): T3 campaigns alone until past both.
      const atFreeze = ((await c.group("SW")) as LeaderGroup & { last_vote_granted?: { term: number; candidate: string } }) ?? undefined;
      const n2Ahead = atFreeze?.leader === "N2" || (atFreeze?.last_vote_granted?.candidate === "N2" && atFreeze.last_vote_granted.term > termBefore);
      const past = Math.max(termBefore, atFreeze?.term ?? 0) + 3;
      let g: LeaderGroup | undefined;
      if (!n2Ahead) await waitUntil(async () => ((g = (await c.group("SW")) as LeaderGroup | undefined)?.term ?? 0) >= past, 90_000, `T3 campaigned alone to term ${past}`, () => JSON.stringify(g));
      thaw(n2.proc.pid as number);
      await waitUntil(async () => (g = (await c.group("SW")) as LeaderGroup | undefined)?.leader === "N2" || (g?.leader === "T3" && g.stream_leader !== undefined), 90_000, "N2 or T3 leads SW", () => JSON.stringify(g));
      const winner = g?.leader;
      // The sweep runs at once when the leader half starts: its count as the election left it.
      const sweptAtElection = g?.stream_leader?.counters.swept;
      const electedAt = g?.campaign?.counters.elected ?? 0;
      thaw(n1.proc.pid as number);
      await c.sameOnAll("SW", (s) => s.messages === 1 && s.first_seq === first && s.last_seq === last, `round ${round} (${winner} elected): N1, N2 and T3 removed ${first + 1}-${last}, kept ${first}`);
      const after = (await c.group("SW")) as LeaderGroup | undefined;
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
      const reelected = (after?.campaign?.counters.elected ?? 0) - electedAt;
      rounds.push(`${round}: ${winner}${n2Ahead ? " (N2 ahead at its freeze)" : ""} swept ${winner === "T3" ? (sweptAtElection ?? "-") : "-"}${reelected > 0 ? `, T3 elected ${reelected} more time(s) since` : ""} (sweep ${JSON.stringify((g?.stream_leader as { sweep?: unknown } | undefined)?.sweep)}, replica deletes ${g?.replica?.counters.deletes}; terms: ${termBefore} at N1's freeze, ${atFreeze?.term}${atFreeze?.leader ? ` led by ${atFreeze.leader}` : ""} at N2's, ${g?.term} elected)`);
      if (winner === "T3") {
        swept = sweptAtElection ?? 0;
        goneBefore = swept === 0 && (g?.stream_leader as { sweep?: { checked?: number } } | undefined)?.sweep?.checked === 1;
      }
    }
    t.diagnostic(`rounds: ${rounds.join(", ")}`);
    // The three b acknowledged while no member led the stream: removed by T3's sweep (or already gone from its copy when it led).
    assert.ok(swept === 3 || goneBefore, `T3 won an election over acknowledged messages and its sweep proposed their removal (rounds: ${rounds.join(", ")})`);
  } finally {
    for (const pid of [...frozen]) thaw(pid);
    await c.stop();
  }
});
