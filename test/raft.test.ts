// The RAFT core (src/cluster/raft.ts) under a deterministic simulation: many seeds, each a
// different mix of delays, reordering, drops, duplicates, partitions, pauses, crashes and power
// losses, corrupted or truncated files, membership changes and leadership transfers. Each seed
// checks election safety, log matching, leader completeness, state machine safety, that no
// damaged member leads, and that every acknowledged entry survives (test/helpers/raft_sim.ts).
// RAFT_SEEDS=n runs more (a soak by hand). Then the log store on a real directory (checksums,
// truncation, torn writes, lost state) and the wire codec.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SimCluster, runSeed } from "./helpers/raft_sim.js";
import { FsRaftDisk, MemRaftDisk } from "../src/cluster/raft_disk.js";
import { ENTRY_NORMAL, RaftStore, discardLogForRepair, makeEntry, type RaftEntry } from "../src/cluster/raft_store.js";
import { decodeRaftMsg, encodeRaftMsg } from "../src/cluster/raft_wire.js";
import { CommitRecord } from "../src/cluster/raft_commit_record.js";
import type { RaftMsg, RaftNode } from "../src/cluster/raft.js";

const SEEDS = Number(process.env.RAFT_SEEDS ?? 400);
const FIRST = Number(process.env.RAFT_FIRST_SEED ?? 1);

test(`raft: ${SEEDS} simulated seeds keep RAFT's safety properties`, async () => {
  let acked = 0;
  const kinds = new Map<string, number>();
  for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
    const r = await runSeed(seed);
    if (r.violations.length > 0) {
      assert.fail(`seed ${seed}: ${r.violations.join("\n")}\n--- history ---\n${r.log.slice(-60).join("\n")}`);
    }
    acked += r.acked;
    for (const f of r.faults) {
      const kind = f.startsWith("partition") ? "partition" : f.replace(/ n\d+$/, "").replace(/ at \d+ of .*| to \d+$/, "").replace(/ seg-.*| state\..*| snapshot\..*/, "");
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
  }
  assert.ok(acked > SEEDS * 20, `only ${acked} entries acknowledged over ${SEEDS} seeds`);
  // Every kind of fault was exercised (names as raft_sim.ts reports them).
  const seen = [...kinds.keys()].join(" | ");
  for (const k of ["kill", "power loss", "partition", "pause", "add", "remove"]) assert.ok(kinds.has(k), `no "${k}" fault in ${SEEDS} seeds: ${seen}`);
  assert.ok([...kinds.keys()].some((k) => k.includes("flipped a bit")), `no bit flip injected: ${seen}`);
  assert.ok([...kinds.keys()].some((k) => k.includes("truncated")), `no truncation injected: ${seen}`);
  assert.ok([...kinds.keys()].some((k) => k.includes("state machine's copy discarded")), `no state machine's copy discarded: ${seen}`);
});

test(`raft: ${Math.ceil(SEEDS / 2)} simulated seeds of groups started in their first leader's term (no election) keep RAFT's safety properties`, async () => {
  // As a replicated consumer's group: every member starts (at its own time) in the term its
  // creation names, its vote given to the named leader, which leads at once; crashes and power
  // losses begin while they start. Nobody else may lead that term, and a restarted first leader
  // must not lead it again.
  let firstLed = 0;
  let acked = 0;
  for (let seed = FIRST; seed < FIRST + Math.ceil(SEEDS / 2); seed++) {
    const r = await runSeed(seed, { firstTerm: { term: 65536, leader: "n0" } });
    if (r.violations.length > 0) assert.fail(`seed ${seed}: ${r.violations.join("\n")}\n--- history ---\n${r.log.slice(-60).join("\n")}`);
    if (r.firstLeader !== undefined) {
      assert.equal(r.firstLeader, "n0", `seed ${seed}: the first term is the named leader's`);
      firstLed++;
    }
    acked += r.acked;
  }
  assert.ok(firstLed > SEEDS / 4, `the named leader led its first term in only ${firstLed} seeds`);
  assert.ok(acked > SEEDS * 10, `only ${acked} entries acknowledged`);
});

// Liveness under a slow machine (the servers of a test cluster share one process and disk): the
// scenarios are deterministic (fixed seed, simulated clock); each failed before the fix it names.

test("raft: fsyncs slower than an election timeout do not depose a working leader (heartbeats are answered without waiting for them)", async () => {
  const sim = new SimCluster({ seed: 11, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 20, faults: false, corruption: false, membership: false });
  try {
    await sim.startAll();
    await sim.advance(1000, 20);
    sim.slowDisks(600); // election timeouts here are 150-300 ms
    await sim.advance(3000, 20);
    const terms = sim.leaderTerms;
    assert.equal(terms.length, 1, `one leader, one term (terms led: ${terms.join(", ")})\n${sim.log.slice(-20).join("\n")}`);
    const acked = sim.acked.size;
    assert.ok(acked > 0, "entries were committed");
    await sim.advance(3000, 20);
    assert.deepEqual(sim.leaderTerms, terms, `still the same leader\n${sim.log.slice(-20).join("\n")}`);
    assert.equal(sim.leader()?.term, terms[0], "which still leads");
    assert.ok(!sim.log.some((l) => l.includes("lost quorum")), `the leader never thought its quorum lost\n${sim.log.join("\n")}`);
    assert.ok(sim.acked.size > acked, "and it keeps committing");
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: a pause of the whole process longer than an election timeout changes no leader (late timers wait for what arrived meanwhile)", async () => {
  const sim = new SimCluster({ seed: 12, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 20, faults: false, corruption: false, membership: false });
  try {
    await sim.startAll();
    await sim.advance(2000, 20);
    const terms = sim.leaderTerms;
    assert.equal(terms.length, 1, `one leader elected (terms led: ${terms.join(", ")})`);
    for (let k = 0; k < 5; k++) {
      sim.stallAll(1000 + 400 * k); // election timeouts here are 150-300 ms
      await sim.advance(500, 20);
    }
    const acked = sim.acked.size;
    await sim.advance(1000, 20);
    assert.deepEqual(sim.leaderTerms, terms, `no new leader after the pauses\n${sim.log.slice(-30).join("\n")}`);
    assert.equal(sim.leader()?.term, terms[0], "the first leader still leads");
    assert.ok(!sim.log.some((l) => l.includes("lost quorum")), `the leader never thought its quorum lost\n${sim.log.join("\n")}`);
    assert.ok(sim.acked.size > acked, "entries are still committed");
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: the leader shows a member current once it applied the commit index (when idle; under load, when it keeps up), never while it replays its log after a power cut", async () => {
  // Stream info's `current` said so when a member's log held the committed entries, also while
  // it had not applied them yet, and, after its server restarted, on what it answered before
  // (js_cluster_power_loss_purge: a follower shown current after a power cut, its store empty).
  // Under load a member is always a round behind the commit index: it counts as current when it
  // applied all it knew committed (else nobody would be current while messages flow).
  const sim = new SimCluster({ seed: 13, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 5, faults: false, corruption: false, membership: false });
  try {
    await sim.startAll();
    await sim.advance(500, 5);
    const leader = sim.leader();
    assert.ok(leader !== undefined, "a leader");
    /** When the leader's commit index last moved (the heartbeat is 40 ms here). */
    let commit = leader.commit;
    let commitMovedAt = sim.sched.now;
    /** One simulated ms, noting when the commit index moves. */
    const step = (): void => {
      sim.sched.run(sim.sched.now + 1);
      if (leader.commit !== commit) {
        commit = leader.commit;
        commitMovedAt = sim.sched.now;
      }
    };
    /** Nothing committed for a heartbeat: a member shown current has applied the commit index. */
    const check = (when: string): void => {
      if (sim.sched.now - commitMovedAt < 40) return;
      for (const p of leader.peerStatus()) {
        const applied = sim.members.get(p.id)?.node?.applied;
        if (p.current && (applied === undefined || applied < leader.commit)) assert.fail(`${when}: ${p.id} shown current, applied ${applied ?? "nothing (down)"} < commit ${leader.commit}`);
      }
    };
    const allCurrent = (): boolean => leader.peerStatus().every((p) => p.current);
    /** Step 1 ms at a time without proposals, checking every step, until every member is current. */
    const settle = (when: string, withinMs: number): void => {
      const end = sim.sched.now + withinMs;
      // (Until nothing was committed for a heartbeat, too: then a member shown current is strictly so.)
      while (!allCurrent() || sim.sched.now - commitMovedAt < 40) {
        assert.ok(sim.sched.now < end, `${when}: every member current within ${withinMs} ms (${JSON.stringify(leader.peerStatus())})`);
        step();
        check(when);
      }
    };
    const seenCurrent = new Set<string>();
    for (let k = 0; k < 400; k++) {
      await sim.advance(5, 5);
      for (const p of leader.peerStatus()) if (p.current) seenCurrent.add(p.id);
    }
    commit = leader.commit;
    commitMovedAt = sim.sched.now;
    assert.deepEqual([...seenCurrent].sort(), ["n0", "n1", "n2"].filter((id) => id !== leader.id), "under load, members that keep up are shown current");
    settle("idle", 10_000); // (appends may carry one entry at a time here: the backlog commits a while)
    const follower = leader.peerStatus()[0].id;
    check("idle");
    sim.powerLoss(follower);
    check("its server down");
    await sim.startMember(follower, false);
    check("restarted, nothing replayed yet");
    settle("restarted", 10_000);
    assert.equal(leader.isLeader, true, "the same leader throughout");
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: a leader confirms it leads (confirmLeading) only through an entry committed in its term; one paused while the others elected never does", async () => {
  const sim = new SimCluster({ seed: 5, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 20, faults: false, corruption: false, membership: false });
  try {
    await sim.startAll();
    await sim.advance(1000, 20);
    const old = sim.leader();
    assert.ok(old !== undefined, "a leader");
    const told: Array<[string, boolean]> = [];
    old.confirmLeading((ok) => told.push(["healthy", ok]));
    // The entry: the proposal of the turn if any, else a no-op.
    await sim.advance(300, 1_000_000);
    assert.deepEqual(told, [["healthy", true]]);
    sim.pauseMember(old.id);
    await sim.advance(1500, 20); // election timeouts here are 150-300 ms
    const fresh = sim.leader();
    assert.ok(fresh !== undefined && fresh.id !== old.id && fresh.term > old.term, "the others elected a leader");
    // Its first work once resumed, before it reads what the new leader sent: it still believes it leads.
    assert.equal(old.isLeader, true);
    old.confirmLeading((ok) => told.push(["stale", ok]));
    sim.resumeMember(old.id);
    await sim.advance(1000, 20);
    assert.deepEqual(told, [
      ["healthy", true],
      ["stale", false],
    ]);
    assert.equal(old.isLeader, false);
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

/** A simulated group of `members`, no faults, its first leader elected, and a follower of that leader (the one a test removes). */
async function groupWithFollower(seed: number, members: number, proposalEveryMs: number): Promise<{ sim: SimCluster; l: RaftNode; gone: string; others: string[] }> {
  const sim = new SimCluster({ seed, members, spares: 0, durationMs: 0, proposalEveryMs, faults: false, corruption: false, membership: false });
  await sim.startAll();
  await sim.advance(1000, 20);
  const l = sim.leader();
  assert.ok(l !== undefined, "a leader");
  const gone = l.config.voters.find((v) => v !== l.id) as string;
  return { sim, l, gone, others: l.config.voters.filter((v) => v !== l.id && v !== gone) };
}

test("raft: a member removed while it runs gets the entry removing it, then never campaigns; the leader forgets it once it has it", async () => {
  const { sim, l, gone } = await groupWithFollower(13, 3, 20);
  try {
    const index = l.removePeer(gone);
    const acked = sim.acked.size;
    await sim.advance(3000, 20); // election timeouts here are 150-300 ms
    const g = sim.members.get(gone)?.node;
    assert.ok(g !== undefined && g.lastIndex >= index, `${gone} has the entry removing it`);
    assert.ok(!g.config.voters.includes(gone) && !g.config.learners.includes(gone), `${gone} knows it is out`);
    assert.equal(g.role, "follower");
    assert.equal(g.leader, "", `${gone} forgot the leader it no longer hears`);
    assert.equal((l as unknown as { progress: Map<string, unknown> }).progress.has(gone), false, "the leader sends it nothing more");
    assert.equal(sim.leaderTerms.length, 1, `one leader, one term (terms led: ${sim.leaderTerms.join(", ")})`);
    assert.ok(sim.acked.size > acked, "the two left commit");
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: a member removed while it was down, back with a log that still names it, is told by the leader when it asks for votes, then asks no more", async () => {
  const { sim, l, gone } = await groupWithFollower(14, 3, 20);
  try {
    sim.kill(gone);
    const index = l.removePeer(gone);
    await sim.advance(2000, 20); // election timeouts here are 150-300 ms: the leader forgot it
    assert.equal((l as unknown as { progress: Map<string, unknown> }).progress.has(gone), false, "the leader forgot it");
    await sim.startMember(gone, false);
    const g = sim.members.get(gone)?.node;
    assert.ok(g !== undefined && g.config.voters.includes(gone), `${gone} starts believing it is a voter`);
    await sim.advance(3000, 20);
    assert.ok(g.lastIndex >= index, `${gone} got the entry removing it`);
    assert.ok(!g.config.voters.includes(gone), `${gone} knows it is out`);
    const asked = sim.log.filter((line) => line.includes(`${gone} precandidate`)).length;
    await sim.advance(2000, 20);
    assert.equal(sim.log.filter((line) => line.includes(`${gone} precandidate`)).length, asked, `${gone} asks for votes no more`);
    assert.equal(g.role, "follower");
    assert.equal(sim.leaderTerms.length, 1, `one leader, one term (terms led: ${sim.leaderTerms.join(", ")})`);
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: a member that received the entry removing it, never committed, is a member again once a leader that never had it replaces it (it leaves only at commit, as nats-server)", async () => {
  const { sim, l, gone, others } = await groupWithFollower(15, 5, 20);
  try {
    // The leader reaches only the member it removes: the removal gets there, to no quorum.
    sim.cut(l.id, others);
    const index = l.removePeer(gone);
    const g = sim.members.get(gone)?.node as RaftNode;
    await sim.advance(100, 5);
    assert.ok(g.lastIndex >= index && !g.config.voters.includes(gone), `${gone} has the entry removing it`);
    assert.ok(g.committedMembership.voters.includes(gone), "not committed");
    // The other three elect one of them (it never had the removal) and replace the entry.
    await sim.advance(3000, 20);
    const now = sim.leader();
    assert.ok(now !== undefined && others.includes(now.id), `a leader among ${others.join(", ")}`);
    assert.ok(g.config.voters.includes(gone), `${gone} is a voter again`);
    assert.equal(sim.left.has(gone), false, `${gone} never left`);
    sim.heal();
    const acked = sim.acked.size;
    await sim.advance(2000, 20);
    assert.ok(sim.acked.size > acked, "the group commits");
    for (const m of sim.members.values()) assert.ok(m.node?.committedMembership.voters.includes(gone), `${m.id} counts ${gone} a member`);
    assert.equal(g.lastIndex, sim.leader()?.lastIndex, `${gone} replicates the new leader's log`);
    assert.equal(sim.left.size, 0, "nobody left");
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: a member whose removal its leader committed but could not tell (it stopped) learns it from the next leader when it asks, then leaves", async () => {
  const { sim, l, gone, others } = await groupWithFollower(16, 5, 0);
  try {
    const index = l.removePeer(gone);
    const g = sim.members.get(gone)?.node as RaftNode;
    // `gone` gets the entry removing it, then hears nothing more from this leader, which commits
    // the removal with the others and stops before any other leader told `gone`.
    for (let i = 0; i < 500 && g.lastIndex < index; i++) await sim.advance(1, 1);
    sim.cut(gone, [l.id]);
    for (let i = 0; i < 500 && l.commit < index; i++) await sim.advance(1, 1);
    assert.ok(l.commit >= index, "committed by the leader");
    sim.kill(l.id);
    assert.ok(g.committedMembership.voters.includes(gone), `${gone} does not know its removal committed`);
    assert.equal(sim.left.has(gone), false, "so it has not left");
    await sim.advance(3000, 20);
    const now = sim.leader();
    assert.ok(now !== undefined && others.includes(now.id), `a leader among ${others.join(", ")}`);
    assert.ok(sim.left.has(gone), `${gone} learned its removal committed and left`);
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test("raft: a member whose files are made anew under the same incarnation is caught up again (the leader no longer counts what it confirmed before)", async () => {
  const sim = new SimCluster({ seed: 15, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 20, faults: false, corruption: false, membership: false });
  try {
    await sim.startAll();
    // Few entries (no snapshot: the leader could not send one instead of the log it lacks).
    await sim.advance(1000, 250);
    const l = sim.leader();
    assert.ok(l !== undefined, "a leader");
    const wiped = l.config.voters.find((v) => v !== l.id) as string;
    sim.wipe(wiped);
    await sim.advance(200, 250);
    await sim.startMember(wiped, false);
    await sim.advance(3000, 1000);
    const g = sim.members.get(wiped)?.node;
    assert.ok(g !== undefined);
    assert.equal(sim.leader(), l, "the same leader");
    assert.equal(l.snapshotIndex, 0, "no snapshot taken");
    assert.equal(g.lastIndex, l.lastIndex, `${wiped} has the leader's log again`);
    assert.equal(g.commit, l.commit, `${wiped} caught up`);
    assert.deepEqual(sim.violations, []);
  } finally {
    sim.stop();
  }
});

test(`raft: ${Math.ceil(SEEDS / 4)} simulated seeds with lazily synced entries (lazySyncMs, a replicated consumer's log) and crashes that keep what was written keep RAFT's safety properties`, async () => {
  // Kills, partitions, pauses, corruption, membership changes, as above; no power loss (what the
  // kernel has survives a kill -9, which is all lazySyncMs counts on for ordinary entries).
  let acked = 0;
  for (let seed = FIRST; seed < FIRST + Math.ceil(SEEDS / 4); seed++) {
    const r = await runSeed(seed, { lazySyncMs: 50, powerLoss: false });
    if (r.violations.length > 0) assert.fail(`seed ${seed}: ${r.violations.join("\n")}\n--- history ---\n${r.log.slice(-60).join("\n")}`);
    acked += r.acked;
  }
  assert.ok(acked > SEEDS * 5, `only ${acked} entries acknowledged`);
});

test(`raft: ${Math.ceil(SEEDS / 4)} simulated seeds with the commit index recorded before it is applied (recordCommit, the meta group's log) keep RAFT's safety properties, and a restarted member starts with a commit covering all it applied`, async () => {
  let acked = 0;
  let restarts = 0;
  for (let seed = FIRST; seed < FIRST + Math.ceil(SEEDS / 4); seed++) {
    const r = await runSeed(seed, { recordCommit: true });
    if (r.violations.length > 0) assert.fail(`seed ${seed}: ${r.violations.join("\n")}\n--- history ---\n${r.log.slice(-60).join("\n")}`);
    acked += r.acked;
    restarts += r.recordedRestarts;
  }
  assert.ok(acked > SEEDS * 5, `only ${acked} entries acknowledged`);
  assert.ok(restarts > SEEDS / 4, `only ${restarts} restarts of members that had applied entries, with their record intact`);
});

test("raft: lazily synced entries: a power loss of a majority takes back the last committed entries; a member that applied them takes the new leader's log (or snapshot) and the group goes on", async () => {
  let overwritten = 0;
  for (let seed = 16; seed < 36; seed++) {
    const sim = new SimCluster({ seed, members: 3, spares: 0, durationMs: 0, proposalEveryMs: 20, faults: false, corruption: false, membership: false, lazySyncMs: 60_000 });
    try {
      await sim.startAll();
      await sim.advance(1000, 20);
      const l = sim.leader();
      assert.ok(l !== undefined && l.commit > 10, `seed ${seed}: a leader, entries committed`);
      const [a, b] = l.config.voters.filter((v) => v !== l.id);
      await sim.advance(200, 1_000_000); // no proposals: what is committed reaches the third member
      // The leader and one follower lose power together (what they wrote since their last
      // snapshot's fsync is lost, but for a prefix); the third keeps every entry, applied. The two
      // elect a leader among themselves (the third's longer log would win otherwise) and commit
      // new entries at the indexes they lost.
      sim.powerLoss(l.id);
      sim.powerLoss(a);
      sim.isolate(b);
      await sim.startMember(l.id, false);
      await sim.startMember(a, false);
      await sim.advance(1000, 20);
      sim.heal();
      await sim.advance(3000, 20);
      const now = sim.leader();
      assert.ok(now !== undefined, `seed ${seed}: a leader\n${sim.log.slice(-30).join("\n")}`);
      for (const id of [l.id, a, b]) {
        const n = sim.members.get(id)?.node as RaftNode;
        assert.ok(n.commit >= now.commit - 20 && !n.damaged, `seed ${seed}: ${id} follows the leader (commit ${n.commit}, the leader's ${now.commit})\n${sim.log.slice(-30).join("\n")}`);
      }
      if (sim.log.some((x) => x.includes(`RAFT member ${b}: committed entries from`))) overwritten++;
      // What is given up: the entries applied at the lost indexes differ between members.
      const unexpected = sim.violations.filter((v) => !v.includes("state machine safety") && !v.includes("leader completeness"));
      assert.deepEqual(unexpected, [], `seed ${seed}\n${sim.log.slice(-40).join("\n")}`);
    } finally {
      sim.stop();
    }
  }
  assert.ok(overwritten > 0, "in some seeds the third member had to give up entries it had committed (before: refused as a violation, stuck)");
});

function entries(from: number, n: number, term: number): RaftEntry[] {
  const out: RaftEntry[] = [];
  for (let i = 0; i < n; i++) out.push(makeEntry(from + i, term, ENTRY_NORMAL, Buffer.from(`value-${from + i}-${"x".repeat(i % 50)}`)));
  return out;
}

function syncStore(s: RaftStore): Promise<void> {
  return new Promise((resolve, reject) => s.sync((err) => (err === undefined ? resolve() : reject(err))));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-raft-"));
  try {
    await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A store with entries 1..n synced twice (so the segment's watermark covers them). */
async function filledStore(dir: string, n: number): Promise<void> {
  const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
  assert.deepEqual(s.open(), []);
  s.setState({ term: 3, vote: "n1", commit: 0 });
  s.append(entries(1, n, 3));
  await syncStore(s);
  await syncStore(s);
  s.close();
}

function segments(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith("seg-")).sort();
}

test("raft disk: a file closed (renamed, removed, the group stopping) while its fdatasync is in flight: the sync completes without error, and a file opened meanwhile gets another descriptor", async () => {
  await withDir(async (dir) => {
    for (const closeBy of ["rename", "remove", "close"] as const) {
      const d = new FsRaftDisk(path.join(dir, closeBy));
      d.writeAt("a", 0, Buffer.from("first"));
      // The thread pool busy: the fdatasync waits in its queue while the file is closed.
      const busy = Array.from({ length: 8 }, () => new Promise((resolve) => crypto.pbkdf2("x", "y", 30_000, 32, "sha256", resolve)));
      const synced = new Promise<Error | undefined>((resolve) => d.sync(["a"], resolve));
      // Before the sync's completion runs: the descriptor must stay open until then.
      if (closeBy === "rename") d.rename("a", "b");
      else if (closeBy === "remove") d.remove("a");
      else d.close();
      if (closeBy !== "close") {
        d.writeAt("c", 0, Buffer.from("other"));
        assert.equal(d.read("c")?.toString(), "other");
      }
      assert.equal(await synced, undefined, `${closeBy}: the sync in flight failed`);
      await Promise.all(busy);
      if (closeBy === "rename") assert.equal(d.read("b")?.toString(), "first");
      d.close();
    }
  });
});

test("raft store: entries, term and vote survive a reopen; several segments, all verified", async () => {
  await withDir(async (dir) => {
    await filledStore(dir, 300);
    assert.ok(segments(dir).length > 1, "the log spans several segments");
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s.open(), []);
    assert.equal(s.lastIndex, 300);
    assert.equal(s.lastTerm, 3);
    assert.deepEqual({ term: s.state.term, vote: s.state.vote }, { term: 3, vote: "n1" });
    for (let i = 1; i <= 300; i++) assert.equal(s.entry(i)?.data.toString().split("-")[1], String(i));
    s.close();
  });
});

test("raft store: a follower's truncation inside an earlier segment, then new entries, survives a reopen (batches written with writev)", async () => {
  await withDir(async (dir) => {
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s.open(), []);
    s.setState({ term: 3, vote: "n1", commit: 0 });
    // Batches of many records: each goes to the segment in one writev.
    for (let i = 1; i <= 300; i += 60) s.append(entries(i, 60, 3));
    await syncStore(s);
    assert.ok(segments(dir).length > 2, "the log spans several segments");
    // A conflict at 100 (in an early segment): 100.. go, later segments with them.
    s.truncateFrom(100);
    assert.equal(s.lastIndex, 99);
    s.append(entries(100, 50, 4));
    await syncStore(s);
    // And one at the last segment's first entries' neighbourhood: 140.. go again.
    s.truncateFrom(140);
    s.append(entries(140, 5, 5));
    await syncStore(s);
    await syncStore(s);
    s.close();
    const r = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(r.open(), []);
    assert.equal(r.lastIndex, 144);
    for (let i = 1; i <= 144; i++) {
      const e = r.entry(i);
      assert.equal(e?.term, i < 100 ? 3 : i < 140 ? 4 : 5, `term of ${i}`);
      assert.equal(e?.data.toString().split("-")[1], String(i));
    }
    r.close();
  });
});

test("raft store: a volatile memory disk keeps sizes, not bytes; the store serves its entries from memory", async () => {
  const disk = new MemRaftDisk({ volatile: true });
  const s = new RaftStore(disk, { segmentSize: 8192 });
  assert.deepEqual(s.open(), []);
  s.setState({ term: 2, vote: "n2", commit: 0 });
  s.append(entries(1, 200, 2));
  await syncStore(s);
  assert.equal(s.durableIndex, 200);
  s.truncateFrom(150);
  s.append(entries(150, 10, 3));
  assert.equal(s.lastIndex, 159);
  for (let i = 1; i <= 159; i++) assert.equal(s.entry(i)?.data.toString().split("-")[1], String(i));
  assert.equal(s.entry(155)?.term, 3);
  const segs = disk.list().filter((f) => f.startsWith("seg-"));
  assert.ok(segs.length > 0 && segs.every((f) => disk.size(f) > 0), "segments have their sizes");
  assert.ok(segs.every((f) => (disk.read(f) as Buffer).every((b) => b === 0)), "no bytes kept");
  s.close();
});

/** A store of 40 synced entries (one segment) with a bit flipped in entry 20's record, at `where(record length)` of it. */
async function flippedInEntry20(dir: string, where: (recLen: number) => number): Promise<void> {
  await filledStore(dir, 40);
  const seg = path.join(dir, segments(dir)[0]);
  const buf = fs.readFileSync(seg);
  const s0 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
  s0.open();
  const rec = s0.entry(20)?.rec as Buffer;
  s0.close();
  const at = buf.indexOf(rec);
  assert.ok(at > 0);
  buf[at + where(rec.length)] ^= 0x10;
  fs.writeFileSync(seg, buf);
}

test("raft store: a bit flipped in a synced record is damage; the log is cut before it", async () => {
  await withDir(async (dir) => {
    // a bit of entry 20's data
    await flippedInEntry20(dir, (len) => len - 3);
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    const damage = s.open();
    assert.equal(damage.length, 1, damage.join("; "));
    assert.match(damage[0], /fails its checksum/);
    assert.equal(s.lastIndex, 19, "the entries before the flipped one are kept, none after");
    s.close();
  });
});

test("raft store: a truncated segment is damage, a torn unsynced tail is not", async () => {
  await withDir(async (dir) => {
    await filledStore(dir, 40);
    const seg = path.join(dir, segments(dir)[0]);
    fs.truncateSync(seg, 2000);
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    const damage = s.open();
    assert.ok(damage.length > 0, "truncation detected");
    assert.ok(s.lastIndex < 40);
    s.close();
  });
  await withDir(async (dir) => {
    await filledStore(dir, 40);
    // Entry 41 written but never synced, and torn: its record does not verify.
    const s1 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s1.open(), []);
    const e = entries(41, 1, 3)[0];
    s1.append([e]);
    s1.close();
    const seg = path.join(dir, segments(dir)[segments(dir).length - 1]);
    const buf = fs.readFileSync(seg);
    const at = buf.indexOf(e.rec);
    buf.fill(0, at + 12, at + e.rec.length);
    fs.writeFileSync(seg, buf);
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s.open(), [], "a torn write after the last sync is dropped quietly");
    assert.equal(s.lastIndex, 40);
    s.close();
  });
});

test("raft store: damage stays reported at the next opens (the cut log verifies then) until repaired; lost term and vote with it", async () => {
  await withDir(async (dir) => {
    await filledStore(dir, 10);
    assert.equal(segments(dir).length, 1);
    // The only segment's header is garbage: the segment goes, and with it the whole log.
    const seg = path.join(dir, segments(dir)[0]);
    const b = fs.readFileSync(seg);
    b.fill(0x55, 0, 8);
    fs.writeFileSync(seg, b);
    const s1 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.ok(s1.open().some((d) => d.includes("bad segment header")));
    const cutTo = s1.lastIndex;
    assert.equal(cutTo, 0);
    s1.close();
    // Restarted before a leader repaired it: the shorter log verifies, the member is still damaged.
    const s2 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s2.open(), ["a repair from the leader did not finish"]);
    assert.equal(s2.lastIndex, cutTo);
    s2.repaired();
    s2.close();
    const s3 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s3.open(), [], "repaired: nothing reported any more");
    s3.close();
  });
  await withDir(async (dir) => {
    await filledStore(dir, 10);
    for (const f of ["state.a", "state.b"]) fs.writeFileSync(path.join(dir, f), Buffer.alloc(128, 7));
    const s1 = new RaftStore(new FsRaftDisk(dir));
    assert.ok(s1.open().some((d) => d.startsWith("term and vote lost")));
    s1.close();
    // The state files are valid again (rewritten at open): the loss is still reported until repaired.
    const s2 = new RaftStore(new FsRaftDisk(dir));
    const damage = s2.open();
    assert.ok(damage.includes("a repair from the leader did not finish"), damage.join("; "));
    assert.ok(damage.some((d) => d.startsWith("term and vote lost")), damage.join("; "));
    s2.close();
  });
});

test("raft store: a log discarded with its state machine's copy keeps where it ended (the vote floor) until repaired; a damaged log has none", async () => {
  await withDir(async (dir) => {
    await filledStore(dir, 40);
    const disk = new FsRaftDisk(dir);
    discardLogForRepair(disk, "the stream's copy: damaged");
    disk.close();
    assert.deepEqual(segments(dir), [], "the log is gone");
    const s1 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s1.open(), ["a repair from the leader did not finish"]);
    assert.equal(s1.lastIndex, 0);
    assert.deepEqual(s1.voteFloor, { term: 3, index: 40 }, "votes as the log of 40 entries in term 3 it had");
    assert.equal(s1.state.term, 3, "term and vote stay");
    // A repair under way got 5 entries of term 4 (the new leader's), then the copy is damaged again.
    s1.setState({ term: 4, vote: "", commit: 0 });
    s1.append(entries(1, 5, 4));
    await syncStore(s1);
    s1.close();
    const disk2 = new FsRaftDisk(dir);
    discardLogForRepair(disk2, "the stream's copy: damaged again");
    disk2.close();
    const s2 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    s2.open();
    assert.deepEqual(s2.voteFloor, { term: 4, index: 5 }, "the later of the two logs");
    s2.repaired();
    s2.close();
    const s3 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s3.open(), [], "repaired: nothing reported any more");
    assert.equal(s3.voteFloor, undefined);
    s3.close();
  });
  await withDir(async (dir) => {
    // The log itself is cut (a segment truncated): where it ended is not known, no floor.
    await filledStore(dir, 40);
    const seg = path.join(dir, segments(dir)[0]);
    fs.truncateSync(seg, fs.statSync(seg).size - 4000);
    const disk = new FsRaftDisk(dir);
    discardLogForRepair(disk, "the stream's copy: damaged");
    disk.close();
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.ok(s.open().includes("a repair from the leader did not finish"));
    assert.equal(s.voteFloor, undefined, "no vote until repaired");
    s.close();
  });
});

test("raft store: a bit flipped in a record of the last segment, the records after it intact: the member votes by where its log ended (jepsen seed 260), also once its state machine's copy is discarded; a flipped length leaves no floor", async () => {
  // Seed 260: a consumer's group of two voters (its third member just removed) in which one
  // member's log had a bit flipped: with no vote floor that member voted for nobody until
  // repaired, and only a leader repairs: the consumer had no leader for good.
  await withDir(async (dir) => {
    await flippedInEntry20(dir, (len) => len - 3);
    const s1 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    const damage = s1.open();
    assert.match(damage.join("; "), /fails its checksum/);
    assert.equal(s1.lastIndex, 19, "the log is still cut before the damage");
    assert.deepEqual(s1.voteFloor, { term: 3, index: 40 }, "votes as the log of 40 entries in term 3 it had");
    s1.close();
    // Restarted before its repair: the floor is in the repair mark.
    const s2 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s2.open(), ["a repair from the leader did not finish"]);
    assert.deepEqual(s2.voteFloor, { term: 3, index: 40 });
    s2.close();
  });
  await withDir(async (dir) => {
    // The state machine's copy damaged too (the stream's block): the log goes, the floor stays.
    await flippedInEntry20(dir, (len) => len - 3);
    const disk = new FsRaftDisk(dir);
    discardLogForRepair(disk, "the stream's copy: damaged");
    disk.close();
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s.open(), ["a repair from the leader did not finish"]);
    assert.equal(s.lastIndex, 0, "the log is gone");
    assert.deepEqual(s.voteFloor, { term: 3, index: 40 }, "votes as the log of 40 entries in term 3 it had");
    s.close();
  });
  await withDir(async (dir) => {
    // The record's length is what flipped: where the records after it start is not known.
    await flippedInEntry20(dir, () => 1);
    const s = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.match(s.open().join("; "), /fails its checksum/);
    assert.equal(s.voteFloor, undefined, "no vote until repaired");
    s.close();
  });
});

test("raft store: one flipped state copy is survived; both lost is damage (no vote in those terms)", async () => {
  await withDir(async (dir) => {
    await filledStore(dir, 10);
    const s1 = new RaftStore(new FsRaftDisk(dir));
    assert.deepEqual(s1.open(), []);
    s1.setState({ term: 5, vote: "n2", commit: 4 });
    await syncStore(s1);
    s1.close();
    // The newest copy flipped: the other one (older, still valid) is used.
    const copies = ["state.a", "state.b"].map((f) => path.join(dir, f));
    const newest = copies.map((p) => fs.readFileSync(p)).map((b) => b.readUInt32LE(8)).reduce((best, seq, i, a) => (seq > a[best] ? i : best), 0);
    const b = fs.readFileSync(copies[newest]);
    b[20] ^= 1;
    fs.writeFileSync(copies[newest], b);
    const s2 = new RaftStore(new FsRaftDisk(dir));
    assert.deepEqual(s2.open(), []);
    assert.ok(s2.state.term >= 3);
    s2.close();
    for (const p of copies) fs.writeFileSync(p, Buffer.alloc(128, 7));
    const s3 = new RaftStore(new FsRaftDisk(dir));
    const damage = s3.open();
    assert.ok(damage.some((d) => d.includes("term and vote lost")), damage.join("; "));
    s3.close();
  });
});

test("raft commit record: the index written last is read back; the newest copy flipped leaves the one before, not known to cover all that was applied; none: undefined", async () => {
  await withDir(async (dir) => {
    const write = (rec: CommitRecord, n: number): Promise<void> => new Promise((res, rej) => rec.write(n, (err) => (err ? rej(err) : res())));
    const disk = new FsRaftDisk(dir);
    const rec = new CommitRecord(disk);
    assert.deepEqual(rec.read(), { commit: undefined, intact: true });
    for (const n of [3, 7, 12]) await write(rec, n);
    disk.close();
    assert.deepEqual(new CommitRecord(new FsRaftDisk(dir)).read(), { commit: 12, intact: true });
    // Written after a reopen: the sequence goes on (the newest copy still wins).
    const disk2 = new FsRaftDisk(dir);
    const again = new CommitRecord(disk2);
    again.read();
    await write(again, 15);
    disk2.close();
    assert.deepEqual(new CommitRecord(new FsRaftDisk(dir)).read(), { commit: 15, intact: true });
    const copies = ["commit.a", "commit.b"].map((f) => path.join(dir, f));
    const newest = copies.map((p) => fs.readFileSync(p).readUInt32LE(8)).reduce((best, seq, i, a) => (seq > a[best] ? i : best), 0);
    const b = fs.readFileSync(copies[newest]);
    b[17] ^= 1;
    fs.writeFileSync(copies[newest], b);
    assert.deepEqual(new CommitRecord(new FsRaftDisk(dir)).read(), { commit: 12, intact: false });
    fs.writeFileSync(copies[1 - newest], Buffer.alloc(32, 7));
    assert.deepEqual(new CommitRecord(new FsRaftDisk(dir)).read(), { commit: undefined, intact: false });
  });
});

test("raft store: snapshot, compaction, and a corrupt snapshot is damage (never trusted)", async () => {
  await withDir(async (dir) => {
    await filledStore(dir, 300);
    const s1 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s1.open(), []);
    const before = segments(dir).length;
    await new Promise<void>((resolve, reject) =>
      s1.saveSnapshot({ index: 250, term: 3, config: { voters: ["n1", "n2", "n3"], learners: [] } }, Buffer.from("state at 250"), (err, saved) => (err === undefined && saved === true ? resolve() : reject(err ?? new Error("not saved")))),
    );
    s1.compact(250);
    assert.ok(segments(dir).length < before, "whole segments before the snapshot were removed");
    // An older snapshot queued after it is skipped.
    const older = await new Promise<boolean | undefined>((resolve) => s1.saveSnapshot({ index: 100, term: 3, config: { voters: ["n1"], learners: [] } }, Buffer.from("old"), (_e, saved) => resolve(saved)));
    assert.equal(older, false);
    s1.close();
    const s2 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    assert.deepEqual(s2.open(), []);
    assert.equal(s2.snapshotMeta?.index, 250);
    assert.equal(s2.snapshotData?.toString(), "state at 250");
    assert.equal(s2.lastIndex, 300);
    assert.equal(s2.termAt(250), 3);
    s2.close();
    const snap = path.join(dir, "snapshot.dat");
    const b = fs.readFileSync(snap);
    b[b.length - 10] ^= 4;
    fs.writeFileSync(snap, b);
    const s3 = new RaftStore(new FsRaftDisk(dir), { segmentSize: 8192 });
    const damage = s3.open();
    assert.ok(damage.some((d) => d.includes("snapshot fails its checksum")), damage.join("; "));
    assert.equal(s3.snapshotMeta, undefined);
    assert.equal(s3.lastIndex, 0, "a log without its snapshot base is discarded");
    s3.close();
  });
});

test("raft wire: every message kind round-trips; a corrupted entry or short message is refused", () => {
  const es = entries(8, 3, 2);
  const msgs: RaftMsg[] = [
    { t: "prevote", term: 4, lastIndex: 7, lastTerm: 2, transfer: false },
    { t: "vote", term: 2 ** 40, lastIndex: 2 ** 35 + 1, lastTerm: 3, transfer: true },
    { t: "prevote_resp", term: 4, granted: true },
    { t: "vote_resp", term: 4, granted: false },
    { t: "append", term: 2, prevIndex: 7, prevTerm: 2, commit: 6, leaderLast: 10, entries: es },
    { t: "append", term: 2, prevIndex: 7, prevTerm: 2, commit: 6, leaderLast: 10, entries: [] },
    { t: "append_resp", term: 2, success: true, index: 10, inc: 3, applied: 9, commit: 10 },
    { t: "snap", term: 2, index: 50, snapTerm: 2, config: { voters: ["a", "b", "c"], learners: ["d"] }, offset: 16, total: 40, crc: 1234, chunk: Buffer.from("chunk of bytes") },
    { t: "snap_resp", term: 2, index: 50, offset: 30, done: false, inc: 1 },
    { t: "timeout_now", term: 9 },
  ];
  for (const m of msgs) {
    const bytes = encodeRaftMsg("server-1", m);
    const d = decodeRaftMsg(bytes);
    assert.ok(d !== undefined, m.t);
    assert.equal(d.from, "server-1");
    const norm = (x: RaftMsg): unknown => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === "entries" ? (v as RaftEntry[]).map((e) => [e.index, e.term, e.type, e.data.toString()]) : v)));
    assert.deepEqual(norm(d.msg), norm(m), m.t);
    // An append answer's last 16 bytes are optional (raft_wire.ts): short is below its first layout.
    const cut = m.t === "append_resp" ? 17 : 1;
    assert.equal(decodeRaftMsg(bytes.subarray(0, bytes.length - cut)) === undefined || m.t === "snap", true, `${m.t}: a short message is refused`);
  }
  const bytes = encodeRaftMsg("s", msgs[4]);
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 5] ^= 0x40;
  assert.equal(decodeRaftMsg(flipped), undefined, "an entry failing its checksum is refused");
  assert.equal(decodeRaftMsg(Buffer.from([42, 0])), undefined, "unknown kind");
  // An answer from an older member ends before the applied index: it decodes without one.
  const resp = encodeRaftMsg("s", { t: "append_resp", term: 2, success: true, index: 10, inc: 3, applied: 9, commit: 10 });
  assert.deepEqual(decodeRaftMsg(resp.subarray(0, resp.length - 16))?.msg, { t: "append_resp", term: 2, success: true, index: 10, inc: 3 });
});
