// The migration leader's next step (src/cluster/nrg_stream_migration.ts), deterministic: each
// branch of 2.15's runStreamMigration order on a group's state, including those the live tests
// (nrg_r1_scale, nrg_r1_move, nrg_survivor_replace) reach only by timing or not at all: a
// membership change waited for, an evicted member removed, a peer not heard from added only
// while the live members stay a quorum, the kept peers of a scale-down, a removal blocked by a
// consumer or by followers behind, the leader stepping down to a current desired member, a
// consumer's expansion only onto its stream's peers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { nextMigrationStep, type NrgMigrationView } from "../src/cluster/nrg_stream_migration.js";
import type { NrgDesired } from "../src/cluster/nrg_meta_desired.js";

/** T3 leading at term 7; followers heard 1 s ago and current unless `behind` names them. */
function view(desired: Partial<NrgDesired> | undefined, over: Partial<NrgMigrationView> = {}, behind: string[] = [], silent: string[] = []): NrgMigrationView {
  return {
    self: "T3",
    term: 7,
    desired: desired === undefined ? undefined : { created: "", id: "D1", term: 7, peers: [], ...desired },
    assigned: ["T3"],
    members: ["T3"],
    metaPeers: ["N1", "N2", "T3"],
    membershipChanging: false,
    replicas: 3,
    follower: (p) => (silent.includes(p) ? { lastSeenMs: undefined, current: false, lag: 0 } : { lastSeenMs: 1_000, current: !behind.includes(p), lag: behind.includes(p) ? 5 : 0 }),
    blockedBy: () => undefined,
    ...over,
  };
}

test("an R1 scale-up as its holder drives it: term, expansion, one AddPeer at a time, match", () => {
  const up = { peers: ["T3", "N1", "N2"] };
  assert.equal(nextMigrationStep(view(undefined)), undefined, "no desired state, nothing to do");
  assert.deepEqual(nextMigrationStep(view({ ...up, term: undefined })), { kind: "reconcile", request: { id: "D1", term: 7 }, status: "requesting desired state from meta leader" });
  assert.deepEqual(nextMigrationStep(view({ ...up, term: 6 }))?.kind, "reconcile", "a term of an earlier leadership is recorded again");
  assert.deepEqual(nextMigrationStep(view(up)), { kind: "reconcile", request: { id: "D1", term: 7, meta_peers: ["T3", "N1", "N2"] }, status: "expanding assignment with desired peers" });
  const expanded = { assigned: ["T3", "N1", "N2"] };
  assert.deepEqual(nextMigrationStep(view(up, expanded)), { kind: "addPeer", peer: "N1", status: "adding peer N1" }, "the first candidate heard from");
  assert.deepEqual(nextMigrationStep(view(up, { ...expanded, membershipChanging: true })), { kind: "wait", status: "waiting for membership change to commit" });
  assert.deepEqual(nextMigrationStep(view(up, { ...expanded, members: ["T3", "N1"] })), { kind: "addPeer", peer: "N2", status: "adding peer N2" });
  assert.deepEqual(nextMigrationStep(view(up, { ...expanded, members: ["T3", "N1", "N2"] })), { kind: "reconcile", request: { id: "D1", term: 7, meta_peers: ["T3", "N1", "N2"], match: true }, status: "peers match" });
});

test("a peer not heard from is added only while the live members stay a quorum of the grown group", () => {
  const up = { peers: ["T3", "N1", "N2"] };
  const assigned = ["T3", "N1", "N2"];
  // Alone, T3 is no quorum of two: it waits for a candidate to answer.
  assert.deepEqual(nextMigrationStep(view(up, { assigned }, [], ["N1", "N2"])), { kind: "wait", status: "waiting for quorum to add peer" });
  // With N1 a live member, T3 and N1 are a quorum of three: N2 is added unheard.
  assert.deepEqual(nextMigrationStep(view(up, { assigned, members: ["T3", "N1"] }, [], ["N2"])), { kind: "addPeer", peer: "N2", status: "adding peer N2" });
});

test("members no longer assigned or out of the meta group go first, the leader stepping down when it is one", () => {
  assert.deepEqual(nextMigrationStep(view({ peers: ["T3", "N2"] }, { assigned: ["T3", "N2"], members: ["T3", "N1", "N2"] })), { kind: "removePeer", peer: "N1", status: "removing evicted peer N1" });
  assert.deepEqual(nextMigrationStep(view({ peers: ["T3", "N1"] }, { assigned: ["T3", "N1"], members: ["T3", "N1"], metaPeers: ["T3"] })), { kind: "removePeer", peer: "N1", status: "removing evicted peer N1" });
  assert.deepEqual(nextMigrationStep(view({ peers: ["N1", "N2"] }, { assigned: ["N1", "N2"], members: ["T3", "N1", "N2"] })), { kind: "stepDown", preferred: "N1", status: "stepping down, evicted from group" });
});

test("a scale-down names the peers kept: the leader first, then the followers least behind", () => {
  const down = { peers: ["T3", "N1", "N2"], scale_down: true };
  const all = { assigned: ["T3", "N1", "N2"], members: ["T3", "N1", "N2"], replicas: 2 };
  assert.deepEqual(nextMigrationStep(view(down, all, ["N1"])), { kind: "reconcile", request: { id: "D1", term: 7, scale_down_peers: ["T3", "N2"] }, status: "selecting peers to scale down to" });
});

test("peers not desired are removed once the membership equals the assignment: after the consumers, with a quorum current, the leader last", () => {
  const move = { peers: ["N1", "N2"], move: true };
  const all = { assigned: ["T3", "N1", "N2"], members: ["T3", "N1", "N2"], replicas: 2 };
  assert.deepEqual(nextMigrationStep(view(move, { ...all, blockedBy: () => "D" })), { kind: "reconcile", request: { id: "D1", term: 7 }, status: "waiting for consumer 'D' to migrate" });
  assert.deepEqual(nextMigrationStep(view(move, all, ["N1", "N2"])), { kind: "wait", status: "waiting for peers to catch up" });
  assert.deepEqual(nextMigrationStep(view(move, all)), { kind: "stepDown", preferred: "N1", status: "stepping down to N1" }, "not desired itself, T3 hands the group to a current desired member");
  // T3 desired, N2 not: N2 goes.
  assert.deepEqual(nextMigrationStep(view({ peers: ["T3", "N1"] }, all)), { kind: "removePeer", peer: "N2", status: "removing peer N2" });
  // The assignment already without N2 while it is still a member: evicted (before anything else).
  assert.deepEqual(nextMigrationStep(view({ peers: ["T3", "N1"] }, { assigned: ["T3", "N1"], members: ["T3", "N1", "N2"] })), { kind: "removePeer", peer: "N2", status: "removing evicted peer N2" });
  // Assigned but neither a member nor desired: the membership reported as it is, no match.
  assert.deepEqual(nextMigrationStep(view({ peers: ["T3", "N1"] }, { assigned: ["T3", "N1", "N2"], members: ["T3", "N1"] })), { kind: "reconcile", request: { id: "D1", term: 7, meta_peers: ["T3", "N1"] }, status: "waiting for peer set to settle" });
});

test("a consumer's group grows only onto its stream's peers and removes peers without the stream's checks", () => {
  const up = { peers: ["T3", "N1", "N2"] };
  assert.deepEqual(nextMigrationStep(view(up, { streamPeers: ["T3"] })), { kind: "wait", status: "waiting for stream to migrate first" });
  assert.deepEqual(nextMigrationStep(view(up, { streamPeers: ["T3", "N1"] })), { kind: "reconcile", request: { id: "D1", term: 7, meta_peers: ["T3", "N1"] }, status: "expanding assignment with desired peers" });
  const all = { assigned: ["T3", "N1", "N2"], members: ["T3", "N1", "N2"], streamPeers: ["N1", "N2"], blockedBy: () => "never asked" };
  assert.deepEqual(nextMigrationStep(view({ peers: ["N1", "N2"] }, all, ["N1", "N2"])), { kind: "stepDown", preferred: undefined, status: "stepping down before removing ourselves" });
});
