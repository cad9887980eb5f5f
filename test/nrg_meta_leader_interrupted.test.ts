// A scale interrupted by a meta leader change: a stream scaled R1 -> R3 through N1 as meta leader,
// the meta leadership handed to T3 (nrg_peer_meta_lead) right after the update's answer, and
// then scaled R3 -> R1 through T3, the leadership handed back to N1 right after. The stream's
// leader goes on asking the new meta leader for each next step of the desired state already
// committed (2.15.1 keeps no in-flight state across meta leaders; nor does T3), and each scale
// ends as an uninterrupted one: no desired state left, every copy holding the messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn } from "./helpers/nrg_cluster.js";
import { captureStreamSteps, nudgeOnce, onMetaEntries } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** Who proposed each of a stream's meta entries (the leader of the append that carried it), by server name. */
function captureProposers(sys: NatsConnection, stream: string, names: Map<string, string>): string[] {
  const out: string[] = [];
  onMetaEntries(sys, (entry, leader) => {
    if ((entry.op === "updateStream" || entry.op === "assignStream") && entry.assignment.config.name === stream) out.push(names.get(leader) ?? leader);
  });
  return out;
}

/** `replicas` asked for S through the meta leader, the leadership handed to `next` at once; until S is at `replicas` with no desired state in its assignment. */
async function scaleHandingOver(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, steps: Record<string, unknown>[], replicas: number, next: string): Promise<Answer> {
  const info = await api(nc, "$JS.API.STREAM.INFO.S");
  // Asked again while the meta leader has not heard every server yet (refused: peer offline).
  await retry(async () => {
    const updated = await api(nc, "$JS.API.STREAM.UPDATE.S", { ...(info.config as object), num_replicas: replicas });
    if (updated.error !== undefined) throw new Error(JSON.stringify(updated));
  }, 30_000);
  const handed = await api(sys, "$JS.API.META.LEADER.STEPDOWN", { placement: { preferred: next } });
  assert.equal(handed.error, undefined, JSON.stringify(handed));
  await cluster.metaLeadOn(next);
  let now: Answer = {};
  const nudge = nudgeOnce(nc, ["S"], 15_000);
  await waitUntil(
    async () => {
      now = await api(nc, "$JS.API.STREAM.INFO.S").catch(() => ({}));
      await nudge();
      const c = now.cluster as { replicas?: unknown[]; desired?: unknown } | undefined;
      const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
      return c !== undefined && c.desired === undefined && (c.replicas ?? []).length === replicas - 1 && last !== undefined && last.desired === undefined && last.peers?.length === replicas;
    },
    60_000,
    `S at R${replicas} under ${next}`,
    () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2) }),
  );
  return now;
}

test("a scale interrupted by a meta leader change from N1 to T3, and from T3 to N1, ends as an uninterrupted one", { skip: referenceMissing(), timeout: 110_000 }, async () => {
  const cluster = await NrgCluster.zoned();
  try {
    const { n1, n2, nc1, sys } = await cluster.upWithMetaLeader("N1");
    const names = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));
    const steps = captureStreamSteps(sys, "S", names);
    const proposers = captureProposers(sys, "S", names);
    await sys.flush();
    const created = await retry(async () => {
      const a = await api(nc1, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 1, placement: { tags: ["az:1"] } });
      if (a.error !== undefined) throw new Error(JSON.stringify(a));
      return a;
    }, 30_000);
    const { placement: _placement, ...config } = created.config as Record<string, unknown>;
    assert.equal((await api(nc1, "$JS.API.STREAM.UPDATE.S", config)).error, undefined);
    const js = jetstream(nc1);
    await retry(() => js.publish("s.1", "m1"), 20_000);
    for (let i = 2; i <= 3; i++) await js.publish(`s.${i}`, `m${i}`);
    // R1 -> R3 through N1, finished under T3.
    const before = proposers.length;
    await scaleHandingOver(cluster, nc1, sys, steps, 3, "T3");
    const up = proposers.slice(before);
    await cluster.sameOnAll("S", (s) => s.messages === 3, "S's 3 messages on N1, N2 and T3");
    // R3 -> R1 through T3, finished under N1: the one server left holds the messages.
    const mid = proposers.length;
    const r1 = await scaleHandingOver(cluster, nc1, sys, steps, 1, "N1");
    const down = proposers.slice(mid);
    // Each scale began under one meta leader and ended under the other.
    assert.deepEqual([up[0], up.at(-1)], ["N1", "T3"], `the scale-up's steps by: ${up.join(" ")}`);
    assert.deepEqual([down[0], down.at(-1)], ["T3", "N1"], `the scale-down's steps by: ${down.join(" ")}`);
    const holder = (r1.cluster as { leader?: string }).leader;
    const states = { N1: (await streamStateOn(n1, "S"))?.messages, N2: (await streamStateOn(n2, "S"))?.messages, T3: (await cluster.group("S"))?.replica?.messages };
    assert.equal(states[holder as keyof typeof states], 3, `${String(holder)} holds S's 3 messages: ${JSON.stringify(states)}`);
    assert.equal((r1.state as { messages?: number }).messages, 3);
  } finally {
    await cluster.stop();
  }
});
