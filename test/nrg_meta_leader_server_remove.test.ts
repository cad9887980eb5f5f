// $JS.API.SERVER.REMOVE side by side: N2 removed from the meta group of N1, N2 and T3, once by
// N1 as meta leader and once by T3 (nrg_peer_meta_lead), each in a cluster of its own (a removed
// server stays out). nats-server 2.15.1 answers once the RemovePeer entry is committed, then
// takes N2 out of every stream it was in at once (desired state with N2 under `removed`) and
// places a replacement where there is one: an R2 stream on N1 and N2 goes to N1 and T3, an R3
// stream (nowhere else to go) stays on N1 and T3, a durable follows its stream and an R1
// ephemeral on N2 is removed. The removed nats-server disables its JetStream.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, r2StreamWithDurable, streamStateOn, type MetaCluster } from "./helpers/nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps, nudgeOnce, onMetaAppends, removalEnds } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";
import { NrgEntryType } from "../src/cluster/nrg_wire.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

const NAMES = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** The meta group's membership changes, by entry type and peer name. */
function captureMembership(sys: NatsConnection): string[] {
  const out: string[] = [];
  onMetaAppends(sys, (e) => {
    if (e.type === NrgEntryType.RemovePeer || e.type === NrgEntryType.AddPeer) out.push(`${e.type === NrgEntryType.RemovePeer ? "remove" : "add"} ${NAMES.get(e.data.toString("latin1")) ?? "?"}`);
  });
  return out;
}

interface Outcome {
  /** Whether a stream stuck in desired state was nudged with an update of its own config. */
  nudged: boolean;
  answers: Record<string, unknown>;
  membership: string[];
  steps: Record<string, Record<string, unknown>[]>;
  consumer: Record<string, unknown>[];
  ephemeral: string;
  pending: number;
  n2Disabled: boolean;
  clusterSize: number | undefined;
}

/** A cluster of N1, N2, T3 whose meta leader (`leader`) removes N2; what it answered and proposed. */
async function removeN2(leader: "N1" | "T3"): Promise<Outcome> {
  const cluster = await NrgCluster.zoned();
  try {
    const { n1, n2, nc1, jsm, sys } = await cluster.upWithMetaLeader(leader);
    const membership = captureMembership(sys);
    const shortNames = new Map(NAMES);
    const warm = captureStreamSteps(sys, "WARM", shortNames);
    const steps = captureStreamSteps(sys, "S", shortNames);
    const consumer = captureConsumerSteps(sys, "S", "D", NAMES);
    await sys.flush();
    await retry(() => jsm.streams.add({ name: "WARM", subjects: ["warm.>"], num_replicas: 3 }), 60_000);
    await r2StreamWithDurable(nc1, jsm, "az:3");
    const e = await retry(() => jsm.consumers.add("S", { name: "E", ack_policy: "explicit", num_replicas: 1, inactive_threshold: 600_000_000_000 } as never), 20_000);
    const eOnN2 = e.cluster?.leader === "N2";
    const answers = {
      empty: await api(sys, "$JS.API.SERVER.REMOVE", {}),
      unknownField: await api(sys, "$JS.API.SERVER.REMOVE", { server: "N2" }),
      notMember: await api(sys, "$JS.API.SERVER.REMOVE", { peer: "NOPE" }),
      unknownId: await api(sys, "$JS.API.SERVER.REMOVE", { peer_id: "zzzzzzzz" }),
      removed: await api(sys, "$JS.API.SERVER.REMOVE", { peer: "N2" }),
      again: await api(sys, "$JS.API.SERVER.REMOVE", { peer: "N2" }),
    };
    let now: Answer = {};
    let warmOnT3: unknown;
    const nudge = nudgeOnce(nc1, ["S", "WARM"], 15_000);
    let nudged = false;
    await waitUntil(
      async () => {
        now = await api(nc1, "$JS.API.STREAM.INFO.S").catch(() => ({}));
        warmOnT3 = await cluster.group("WARM").catch(() => undefined);
        nudged = await nudge();
        const last = steps.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
        const lastWarm = warm.at(-1) as { desired?: unknown; peers?: string[] } | undefined;
        return last?.desired === undefined && JSON.stringify([...(last?.peers ?? [])].sort()) === '["N1","T3"]' && lastWarm !== undefined && lastWarm.desired === undefined && lastWarm.peers?.length === 2;
      },
      60_000,
      "S and WARM on N1 and T3",
      () => JSON.stringify({ cluster: now.cluster, steps: steps.slice(-2), warm: warm.slice(-2), t3Warm: warmOnT3, nudged }),
    );
    assert.equal((await streamStateOn(n1, "S"))?.messages, 4, "N1 holds S's 4 messages");
    await waitUntil(async () => (await cluster.group("S"))?.replica?.messages === 4, 30_000, "T3 holds S's 4 messages");
    let d: Record<string, unknown> & { num_pending?: number; cluster?: { leader?: string } } = {};
    await waitUntil(
      async () => {
        d = await api(nc1, "$JS.API.CONSUMER.INFO.S.D").catch(() => ({}));
        const last = consumer.at(-1) as { desired?: unknown } | undefined;
        return d.cluster?.leader !== undefined && last?.desired === undefined;
      },
      30_000,
      "D led again, its desired state cleared",
      () => JSON.stringify({ d, consumer: consumer.slice(-2) }),
    );
    const eNow = await api(nc1, "$JS.API.CONSUMER.INFO.S.E");
    const ephemeral = `${eOnN2 ? "on N2" : "on N1"}: ${eNow.error === undefined ? "kept" : `gone ${eNow.error.err_code}`}`;
    const n2Jsz = await getJson<{ disabled?: boolean }>(`${n2.monitorUrl}/jsz`);
    const meta = (await getJson<{ meta_cluster?: MetaCluster & { cluster_size?: number } }>(`${n1.monitorUrl}/jsz`)).meta_cluster;
    return { nudged, answers, membership, steps: { S: removalEnds(steps), WARM: removalEnds(warm) }, consumer: removalEnds(consumer), ephemeral, pending: Number(d.num_pending), n2Disabled: n2Jsz.disabled === true, clusterSize: meta?.cluster_size };
  } finally {
    await cluster.stop();
  }
}

test("a server removed through T3 as meta leader leaves its streams as through a nats-server meta leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const byNats = await removeN2("N1");
  t.diagnostic(`through N1: ${JSON.stringify(byNats)}`);
  const byT3 = await removeN2("T3");
  t.diagnostic(`through T3: ${JSON.stringify(byT3)}`);
  assert.deepEqual(byT3.answers, byNats.answers, "T3 answers the removals as the nats-server meta leader");
  assert.deepEqual(byNats.membership, ["remove N2"]);
  assert.deepEqual(byT3.membership, byNats.membership, "one RemovePeer entry naming N2");
  assert.deepEqual(byT3.steps, byNats.steps, "S and WARM lose N2 and end as under N1");
  assert.deepEqual(byT3.consumer, byNats.consumer, "D follows S as under N1");
  // E, an R1 ephemeral (inactive for 10 minutes before it ends), goes with N2 when it was there, else stays (placed at random).
  for (const o of [byNats, byT3]) assert.match(o.ephemeral, /^(on N2: gone 10014|on N1: kept)$/);
  assert.equal(byT3.pending, byNats.pending);
  assert.equal(byNats.n2Disabled, true);
  assert.equal(byT3.n2Disabled, true, "N2, removed by T3, disables its JetStream");
  assert.equal(byT3.clusterSize, byNats.clusterSize);
});
