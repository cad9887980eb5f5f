// A tsnats server elected leader of a nats-server 2.15 interest stream (`nrg_peer_lead`) after its
// nats-server leader stopped: the acks its consumer groups applied while the stream had no
// leader were nobody's to turn into removals (only a stream's leader proposes them, nats-server's
// ackMsg), so the new leader checks every message once (nats-server's checkInterestState at
// setLeader) and proposes the removal of each one no consumer needs; N1, N2 and T3 end with the
// state a nats-server leader leaves. The round's first message stays unacknowledged by b, so
// the members' own removals from the stream's head (nats-server's followers raise their first
// sequence, at times of their own) cannot take the others: only the new leader's proposals do.
// The election is T3's by construction: once b's acks are applied N2 is frozen too, and only
// after T3 has campaigned alone past any term N2 can reach on its own is N2 let go; the vote
// requests waiting in its socket then carry a higher term than its own campaign, so it votes for
// T3 (raft.go processVoteRequest). (N1, the deposed leader, is not the one let go: a nats-server
// leader refuses the vote request that makes it step down, then races T3 with its own timer.)
// The race this leaves: between N1's freeze and N2's (b's acks: a few ms, seconds under load)
// N2's or T3's election timer (4-9 s after N1's last heartbeat) may fire. A round where someone
// won then (its removals are not the sweep's: T3's sweep found them gone, checking one message),
// or where T3 had voted for N2, is told apart and played again while the run is young. Such a
// round used to fail: with T3 already leading at N2's freeze the test waited 90 s for T3 to
// campaign again, which a leader never does (about one run in five on a loaded machine).
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
  let progress = "";
  const freeze = (pid: number): void => {
    process.kill(pid, "SIGSTOP");
    frozen.add(pid);
  };
  const thaw = (pid: number): void => {
    if (!frozen.has(pid)) return;
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
    const rounds: string[] = [];
    /** A round where T3 won the election by construction and its sweep proposed the three removals. */
    let clean = false;
    const started = Date.now();
    for (let round = 1; !clean && (round === 1 || Date.now() - started < 40_000); round++) {
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
      const before = (await c.group("SW")) as LeaderGroup | undefined;
      const termBefore = before?.term ?? 0;
      freeze(n1.proc.pid as number);
      progress = `round ${round}: N1 frozen at term ${termBefore}`;
      const frozenAt = Date.now();
      // All but the round's first, which b still needs: the three others wait for a leader.
      // At once: the shorter the time N2 runs without a stream leader, the less likely an election timer fires.
      assert.deepEqual(await Promise.all(forB.slice(1).map((m) => m.ackAck({ timeout: 10_000 }))), [true, true, true]);
      // Polled closely: N2 is frozen as soon as they are, well before an election timer fires.
      const deadline = Date.now() + 60_000;
      let b: ConsumerGroup | undefined;
      while ((b = (await c.group("SW", "b")) as ConsumerGroup | undefined)?.consumer_state?.num_ack_pending !== 1) {
        assert.ok(Date.now() - deadline < 0, `T3 applied b's acks of ${first + 1}-${last}; last seen: ${JSON.stringify(b?.consumer_state)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      freeze(n2.proc.pid as number);
      // Someone won an election since N1's freeze (N2, or T3 itself): its removals are not the sweep's.
      const atFreeze = (await c.group("SW")) as (LeaderGroup & { last_vote_granted?: { term: number; candidate: string } }) | undefined;
      const ledMeanwhile = atFreeze?.leader !== undefined && atFreeze.leader !== "" && atFreeze.leader !== "N1" ? atFreeze.leader : undefined;
      // T3 voted for N2 since: N2 may be leader in its own mind, and a leader refuses the vote that deposes it.
      const n2Ahead = atFreeze?.last_vote_granted?.candidate === "N2" && atFreeze.last_vote_granted.term > termBefore;
      progress += `; N2 frozen ${Date.now() - frozenAt} ms after N1: ${JSON.stringify({ term: atFreeze?.term, leader: atFreeze?.leader, role: atFreeze?.campaign?.role, vote: atFreeze?.last_vote_granted })}`;
      let g: LeaderGroup | undefined;
      if (ledMeanwhile === undefined && !n2Ahead) {
        // N2's term is at most one past what T3 saw of it now (a vote request in flight), and one
        // more once thawed (its own overdue election timer): T3 campaigns alone until past both.
        const past = Math.max(termBefore, atFreeze?.term ?? 0) + 3;
        await waitUntil(async () => ((g = (await c.group("SW")) as LeaderGroup | undefined)?.term ?? 0) >= past, 90_000, `T3 campaigned alone to term ${past}`, () => JSON.stringify(g));
      }
      thaw(n2.proc.pid as number);
      await waitUntil(async () => (g = (await c.group("SW")) as LeaderGroup | undefined)?.leader === "N2" || (g?.leader === "T3" && g.stream_leader !== undefined), 90_000, "N2 or T3 leads SW", () => JSON.stringify(g));
      const winner = g?.leader;
      // The sweep runs at once when the leader half starts: its counts as the election left them.
      const sweep = (g?.stream_leader as { sweep?: { checked?: number } } | undefined)?.sweep;
      const swept = g?.stream_leader?.counters.swept;
      clean = ledMeanwhile === undefined && !n2Ahead && winner === "T3" && swept === 3 && sweep?.checked === 4;
      thaw(n1.proc.pid as number);
      thaw(n2.proc.pid as number);
      await c.sameOnAll("SW", (s) => s.messages === 1 && s.first_seq === first && s.last_seq === last, `round ${round}: N1, N2 and T3 removed ${first + 1}-${last}, kept ${first}`);
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
      rounds.push(`${round}: ${ledMeanwhile !== undefined ? `${ledMeanwhile} led before N2's freeze; ` : n2Ahead ? "N2 ahead at its freeze; " : ""}${winner} elected at term ${g?.term}${winner === "T3" ? `, swept ${swept} (sweep ${JSON.stringify(sweep)}, replica deletes ${g?.replica?.counters.deletes})` : ""} [${progress}]`);
    }
    t.diagnostic(`rounds: ${rounds.join(", ")}`);
    // The three b acknowledged while no member led the stream: removed by T3's sweep.
    assert.ok(clean, `T3 won an election over acknowledged messages and its sweep proposed their removal (rounds: ${rounds.join(", ")})`);
  } catch (err) {
    t.diagnostic(`${progress}; T3's SW group at the failure: ${JSON.stringify(await c.group("SW").catch(() => undefined))}`);
    throw err;
  } finally {
    for (const pid of [...frozen]) thaw(pid);
    await c.stop();
  }
});
