// A group's only survivor adds the replacement its desired state names, side by side: an R2
// stream S with a durable D on N1 and T3 loses one of them (stopped, then removed from the
// stream with STREAM.PEER.REMOVE through N2 as meta leader, which places N2 as the
// replacement). nats-server 2.15.1's survivor, leaderless, evicts the removed peer
// (checkEvictedPeers), elects itself alone and drives the desired state: the assignment
// expanded to N2, N2 added (AddPeer) and caught up, the peers matched; the durable's group
// follows. Once with T3 removed and N1 surviving, once with N1 removed and T3 surviving. T3 did
// not drive a desired state that adds a peer before: the stream stayed in it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceMissing } from "./helpers/side_by_side.js";
import { survivorReplaces } from "./helpers/nrg_survivor.js";

test("the only survivor of a stream group adds the replacement its desired state names, T3 as a nats-server", { skip: referenceMissing(), timeout: 115_000 }, async (t) => {
  const byNats = await survivorReplaces("T3");
  t.diagnostic(`N1 surviving T3: ${JSON.stringify(byNats)}`);
  const byT3 = await survivorReplaces("N1");
  t.diagnostic(`T3 surviving N1: ${JSON.stringify(byT3)}`);
  assert.deepEqual(byNats.consumer, { delivered: 2, ack_floor: 1, num_ack_pending: 1, num_pending: 2, replicas: ["N2"] }, "D keeps its state on N1 and N2");
  assert.deepEqual(byT3, byNats, "T3 adds the replacement as N1 does");
});
