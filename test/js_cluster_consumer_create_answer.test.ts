// The answer to the create of a replicated consumer (R3 durables and an R3 ephemeral of an R3
// stream), side by side with a cluster of three nats-server 2.15 servers (both run as processes
// from the same configuration files): nats-server's consumer leader answers it, with what it knows
// of the other members just then: one heard from (current, active), one perhaps not yet (not
// current, active 0, a lag), neither offline. tsnats answered through the stream's leader, which
// knew only itself of a group it did not lead (current, active 0), and its leader called a member
// not heard from yet offline. What is compared: facts that hold whichever member answered first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";

interface Answer {
  error?: { code: number; err_code: number; description: string };
  cluster?: { leader?: string; leader_since?: string; replicas?: Array<{ name: string; current?: boolean; active?: number; offline?: boolean; lag?: number }> };
  [k: string]: unknown;
}

function shape(a: Answer): string {
  if (a.error !== undefined) return `${a.error.code} ${a.error.err_code} ${a.error.description}`;
  const c = a.cluster ?? {};
  const r = c.replicas ?? [];
  return [
    `leader ${c.leader !== undefined && c.leader !== ""}, since ${c.leader_since !== undefined}`,
    `${r.length} others`,
    `offline ${r.some((x) => x.offline === true)}`,
    // (A member's own view: it is current, and heard from nobody.)
    `current without activity ${r.some((x) => x.current === true && (x.active ?? 0) === 0)}`,
    `not current without a lag ${r.some((x) => x.current !== true && x.lag === undefined)}`,
  ].join(", ");
}

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  try {
    const s = await createStreamWhenPlaced<Answer>(nc, { name: "S", subjects: ["s.>"], num_replicas: 3 });
    out.push(`create S: ${s.error === undefined ? "ok" : s.error.err_code}`);
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "s.x", `m${i}`);
    // Six durables: their leaders spread over the servers, most led by another than the stream's leader.
    for (let k = 0; k < 6; k++) {
      out.push(`create C${k}: ${shape(await clusterApi<Answer>(nc, `$JS.API.CONSUMER.CREATE.S.C${k}`, { stream_name: "S", config: { durable_name: `C${k}`, ack_policy: "explicit" } }))}`);
    }
    out.push(`create an ephemeral: ${shape(await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S", config: { ack_policy: "explicit", num_replicas: 3 } }))}`);
    return out;
  } finally {
    await nc.close();
  }
}

test("a replicated consumer's create is answered by its leader, with what it knows of the other members, as nats-server 2.15 answers it", { timeout: 120_000 }, async (t) => {
  const mine = await onRefJsCluster(3, "X", "tsnats", scenario);
  assert.ok(mine !== undefined);
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  for (const line of mine.slice(1)) assert.equal(line.replace(/^[^:]*: /, ""), "leader true, since true, 2 others, offline false, current without activity false, not current without a lag false", line);
  const theirs = await onRefJsCluster(3, "X", "2.15", scenario);
  if (theirs === undefined) return;
  t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
  // nats-server's own race, seen once in a full run (2026-12-05): one of its answers named a
  // member current with no activity (active 0). Accepted on its side only; tsnats' answers are
  // held to the exact line above.
  const raced = "current without activity true";
  const theirsSettled = theirs.map((l) => (l.includes(raced) ? l.replace(raced, "current without activity false") : l));
  if (theirsSettled.some((l, i) => l !== theirs[i])) t.diagnostic("nats-server answered with a member current without activity (its race), accepted");
  assert.deepEqual(mine, theirsSettled);
});
