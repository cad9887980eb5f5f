// Shared by the compression test files (cluster_compression, cluster_compression_leaf): the
// mode settings of both servers' cases, /routez-/leafz reading, and the big-payload check.
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { waitUntil } from "./server.js";
import { referenceBinary } from "./nats_server.js";

export const skipRef = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

export async function json(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  return (await r.json()) as Record<string, unknown>;
}

/** Large payloads (several per flush, so messages straddle S2 blocks of 1 MiB) arrive whole and in order. */
export async function checkBigPayloads(pub: NatsConnection, sub: NatsConnection, subject: string): Promise<void> {
  const sizes = [0, 1, 100, 65_536, 900_000, 1_000_000, 1_048_000];
  const got: Buffer[] = [];
  const s = sub.subscribe(subject, { callback: (_e, m) => void got.push(Buffer.from(m.data)) });
  await sub.flush();
  const want = sizes.map((n, i) => {
    const b = Buffer.alloc(n);
    // Compressible and not: a repeating pattern, then noise.
    for (let k = 0; k < n; k++) b[k] = k < n / 2 ? (k * 7 + i) & 0x3f : (Math.random() * 256) | 0;
    return b;
  });
  const deadline = Date.now() + 10_000;
  // Interest crosses the connection asynchronously: probe until a message gets through.
  for (;;) {
    pub.publish(`${subject}`, Buffer.from("probe"));
    await pub.flush();
    await new Promise((r) => setTimeout(r, 20));
    if (got.length > 0) break;
    if (Date.now() > deadline) throw new Error("interest never arrived");
  }
  got.length = 0;
  for (const b of want) pub.publish(subject, b);
  await pub.flush();
  await waitUntil(() => got.filter((g) => g.toString() !== "probe").length >= want.length, 15_000, "big payloads");
  const real = got.filter((g) => g.toString() !== "probe");
  s.unsubscribe();
  assert.equal(real.length, want.length);
  real.forEach((g, i) => assert.ok(g.equals(want[i]), `payload ${i} (${want[i].length} bytes) intact`));
}

/**
 * A mode of the cases below. "auto" is s2_auto with thresholds of 1s/2s/3s, so that a local link
 * is always below the first one (s2_uncompressed) however loaded the machine is.
 */
export function tsSetting(mode: string): { compression: string; compressionRttMs?: number[] } {
  return mode === "auto" ? { compression: "s2_auto", compressionRttMs: [1000, 2000, 3000] } : { compression: mode };
}
export function refSetting(mode: string): string {
  return mode === "auto" ? '{ mode: s2_auto, rtt_thresholds: ["1s", "2s", "3s"] }' : mode;
}
