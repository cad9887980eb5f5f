// Test helper: a group's only survivor adding the replacement its desired state names
// (test/nrg_survivor_replace*.test.ts).
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { retry } from "./server.js";
import { waitUntil } from "./js_cluster_move.js";
import { NrgCluster, r2StreamWithDurable, streamStateOn } from "./nrg_cluster.js";
import { captureConsumerSteps, captureStreamSteps, removalEnds } from "./nrg_meta_capture.js";
import { shortHash } from "../../src/jetstream/util.js";

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown> & { error?: unknown }> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/**
 * `removed` (N1 or T3) stopped and removed from S through `metaLeader` (N2, or the survivor);
 * the meta steps, the durable's, and the end state on the survivor and N2.
 */
export async function survivorReplaces(removed: "N1" | "T3", metaLeader: "N2" | "survivor" = "N2"): Promise<Record<string, unknown>> {
  const survivor = removed === "N1" ? "T3" : "N1";
  const role = new Map([[shortHash(removed), "removed"], [shortHash(survivor), "survivor"], [shortHash("N2"), "N2"]]);
  const cluster = await NrgCluster.create(true, true, undefined, true);
  for (const [name, az] of [["N1", "az:1"], ["N2", "az:2"], ["T3", "az:3"]]) cluster.tags.set(name, [az]);
  try {
    const { n2, nc2, jsm } = await cluster.upWithClients();
    await cluster.metaLeadOn(metaLeader === "N2" ? "N2" : survivor);
    const sys = await connect({ servers: `127.0.0.1:${n2.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    const steps = captureStreamSteps(sys, "S", role);
    const consumerSteps = captureConsumerSteps(sys, "S", "D", role);
    await sys.flush();
    // S and D on N1 and T3 (N2's zone excluded), 4 messages, the first 2 delivered and 1 acknowledged.
    await r2StreamWithDurable(nc2, jsm, "az:2");
    const js = jetstream(nc2);
    // (A consumer group still electing its first leader answers no info, on nats-server too: asked again.)
    const batch = await (await retry(() => js.consumers.get("S", "D"), 20_000)).fetch({ max_messages: 2, expires: 5_000 });
    for await (const m of batch) if (m.seq === 1) assert.equal(await m.ackAck(), true);
    // The survivor leads both groups first, so the removed server's stop leaves no leader behind it to wait for.
    if (removed === "N1") {
      await cluster.leadOnT3(nc2, "S");
      await cluster.leadOnT3(nc2, "S", "D");
    }
    await (removed === "N1" ? cluster.nats[0]?.stop() : cluster.ours?.stop());
    const answer = await api(nc2, "$JS.API.STREAM.PEER.REMOVE.S", { peer: removed });
    let info: Record<string, unknown> = {};
    await waitUntil(
      async () => {
        info = await api(nc2, "$JS.API.STREAM.INFO.S").catch(() => ({}));
        const c = info.cluster as { leader?: string; replicas?: { name: string; current?: boolean }[] } | undefined;
        const last = steps.at(-1) as { desired?: unknown } | undefined;
        return steps.length > 1 && last?.desired === undefined && c?.leader === survivor && c.replicas?.length === 1 && c.replicas[0].name === "N2" && c.replicas[0].current === true;
      },
      60_000,
      `S led by ${survivor} with N2 current, its desired state cleared`,
      () => JSON.stringify({ cluster: info.cluster, steps: steps.slice(-2) }),
    );
    let consumer: Record<string, unknown> = {};
    await waitUntil(
      async () => {
        const ci = await api(nc2, "$JS.API.CONSUMER.INFO.S.D").catch(() => undefined);
        const c = ci?.cluster as { replicas?: { name: string; current?: boolean }[] } | undefined;
        consumer = { delivered: (ci?.delivered as { stream_seq?: number } | undefined)?.stream_seq, ack_floor: (ci?.ack_floor as { stream_seq?: number } | undefined)?.stream_seq, num_ack_pending: ci?.num_ack_pending, num_pending: ci?.num_pending, replicas: c?.replicas?.map((r) => r.name) };
        return (consumerSteps.at(-1) as { desired?: unknown } | undefined)?.desired === undefined && c?.replicas?.length === 1 && c.replicas[0].name === "N2" && c.replicas[0].current === true;
      },
      40_000,
      "D on the survivor and N2, its desired state cleared",
      () => JSON.stringify({ consumer, consumerSteps }),
    );
    await waitUntil(async () => (await streamStateOn(n2, "S"))?.messages === 4, 20_000, "N2 holds S's 4 messages");
    const ack = await retry(() => js.publish("s.5", "m5"), 20_000);
    const next = await (await js.consumers.get("S", "D")).next({ expires: 5_000 });
    return { answer: answer.success ?? answer.error, steps: removalEnds(steps), consumer, consumerEnd: consumerSteps.at(-1), ack: ack.seq, next: next?.seq };
  } finally {
    await cluster.stop();
  }
}

