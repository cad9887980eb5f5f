// Formats of monitoring values, checked against what nats-server (Go) prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { goTime, uptime } from "../src/monitor/format.js";
import { goDuration } from "../src/server/time.js";

test("Go duration strings (rtt)", () => {
  assert.equal(goDuration(0), "0s");
  assert.equal(goDuration(999), "999ns");
  assert.equal(goDuration(1500), "1.5µs");
  assert.equal(goDuration(1e6), "1ms");
  assert.equal(goDuration(6428925), "6.428925ms");
  assert.equal(goDuration(2.5e9), "2.5s");
  assert.equal(goDuration(125.25e9), "2m5.25s");
  assert.equal(goDuration(3.6e12 + 61e9), "1h1m1s");
  assert.equal(goDuration(-1.5e6), "-1.5ms");
});

test("uptime strings", () => {
  assert.equal(uptime(999), "0s");
  assert.equal(uptime(59_000), "59s");
  assert.equal(uptime(61_000), "1m1s");
  assert.equal(uptime(3_600_000 * 2 + 3_000), "2h0m3s");
  assert.equal(uptime(86_400_000 + 3_600_000 + 5_000), "1d1h0m5s");
  assert.equal(uptime(366 * 86_400_000), "1y1d0h0m0s");
});

test("RFC 3339 times with Go's trimmed fractions", () => {
  assert.equal(goTime(new Date("2024-01-02T03:04:05.800Z")), "2024-01-02T03:04:05.8Z");
  assert.equal(goTime(new Date("2024-01-02T03:04:05.000Z")), "2024-01-02T03:04:05Z");
  assert.equal(goTime(Date.UTC(2024, 0, 2, 3, 4, 5, 123)), "2024-01-02T03:04:05.123Z");
});
