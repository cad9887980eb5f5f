// An R1 work-queue stream with its R1 durable, held by T3 alone, scaled up to R3 side by side
// with one held by N1 (test/helpers/nrg_r1_scale.ts), under either meta leader. A work-queue or
// interest stream's consumer must have its stream's replicas (nats-server refuses an R1
// consumer of an R3 one, 10134), so the R1 durable is scaled with its stream; while its own
// desired state gives it a RAFT group, T3 holds it though the stream already has other
// members (it held such a consumer only while it held the stream alone, and dropped it in the
// middle of the scale-up). The acknowledged message stays removed on every server.
import { test } from "node:test";
import { referenceMissing } from "./helpers/side_by_side.js";
import { scaleUpBothWays } from "./helpers/nrg_r1_scale.js";

test("an R1 work-queue stream and its durable held by T3 scale up to R3 as ones held by N1, under either meta leader", { skip: referenceMissing(), timeout: 115_000 }, async (t) => {
  await scaleUpBothWays(t, "WQ", "workqueue", false);
});
