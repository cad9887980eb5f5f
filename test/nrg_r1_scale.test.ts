// An R1 stream scaled up to R3, side by side: one held by N1 and one held by T3 alone, each
// updated to three replicas, first through a nats-server meta leader, then through T3 as meta
// leader. nats-server 2.15.1's holder of an R1 (no RAFT group) creates the group with itself
// as its one member, leads it, asks the meta leader to record its term, installs a snapshot
// of its store, has the assignment expanded to the desired peers, adds them one by one
// (AddPeer) and catches them up (snapshot, then $JSC.SYNC), then reports the peers matched,
// which clears the desired state; its R1 durable, remapped onto the stream's new peers, goes
// the same way in its own group. T3 as holder does the same; T3 as meta leader writes the
// same steps. Compared: each stream's and durable's meta entries (the holder's name neutral),
// the durable's state, and every replica's copy of the messages at the end.
import { test } from "node:test";
import { referenceMissing } from "./helpers/side_by_side.js";
import { scaleUpBothWays } from "./helpers/nrg_r1_scale.js";

test("an R1 stream held by T3 scales up to R3 as one held by N1, under either meta leader", { skip: referenceMissing(), timeout: 115_000 }, async (t) => {
  await scaleUpBothWays(t, "UP");
});
