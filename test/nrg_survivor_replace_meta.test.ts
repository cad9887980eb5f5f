// A group's only survivor adds the replacement its desired state names while it also leads the
// meta group (test/helpers/nrg_survivor.ts): N1 leading the meta group survives T3 (stopped and
// peer-removed through N1), then T3 leading it survives N1. The survivor both places N2 (the
// peer removal's replacement) and drives the stream's and the durable's desired state; the
// same steps and end state under both. (nrg_survivor_replace: the same with N2 as meta leader.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceMissing } from "./helpers/side_by_side.js";
import { survivorReplaces } from "./helpers/nrg_survivor.js";

test("the only survivor of a stream group, leading the meta group too, adds the replacement, T3 as a nats-server", { skip: referenceMissing(), timeout: 115_000 }, async (t) => {
  const byNats = await survivorReplaces("T3", "survivor");
  t.diagnostic(`N1 surviving T3: ${JSON.stringify(byNats)}`);
  const byT3 = await survivorReplaces("N1", "survivor");
  t.diagnostic(`T3 surviving N1: ${JSON.stringify(byT3)}`);
  assert.deepEqual(byNats.consumer, { delivered: 2, ack_floor: 1, num_ack_pending: 1, num_pending: 2, replicas: ["N2"] }, "D keeps its state on N1 and N2");
  assert.deepEqual(byT3, byNats, "T3 adds the replacement as N1 does");
});
