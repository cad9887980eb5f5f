// The server's young generation (bin/heap_tuning.ts): held at its initial size during start-up,
// then allowed to grow with the traffic up to YOUNG_GENERATION_CAP instead of V8's 32 MB.
// Run in this test's own process: garbage with survivors, which makes V8 grow the young
// generation, allocated in turns so the collections' notifications arrive between them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { getHeapSpaceStatistics } from "node:v8";
import { holdYoungGeneration, releaseYoungGeneration, YOUNG_GENERATION_CAP } from "../src/bin/heap_tuning.js";

function youngGenerationSize(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0;
}

/** Allocate `turns` event-loop turns of short-lived objects, a share of which survive a while. */
async function churn(turns: number): Promise<number> {
  let kept: Array<{ n: number; a: number[] }> = [];
  let largest = 0;
  for (let t = 0; t < turns; t++) {
    for (let i = 0; i < 5_000; i++) {
      kept.push({ n: i, a: [i, t] });
      if (kept.length > 10_000) kept = kept.slice(5_000);
    }
    largest = Math.max(largest, youngGenerationSize());
    await new Promise((resolve) => setImmediate(resolve));
  }
  return largest;
}

test("the young generation stays at its initial size while held, then grows up to the cap only", async () => {
  // V8 starts with 2 x 1 MB semi-spaces (one of them counted before the first collection).
  const initial = Math.max(youngGenerationSize(), 2 * 1024 * 1024);
  holdYoungGeneration();
  const whileHeld = await churn(200);
  assert.ok(whileHeld <= initial, `held: ${whileHeld} <= ${initial}`);
  releaseYoungGeneration();
  const released = await churn(1_500);
  assert.ok(released > initial, `grows once released: ${released} > ${initial}`);
  assert.ok(released <= YOUNG_GENERATION_CAP, `capped: ${released} <= ${YOUNG_GENERATION_CAP}`);
});
