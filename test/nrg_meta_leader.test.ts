// T3, a tsnats server with nrg_peer_meta_lead, as the meta leader of a cluster with two
// nats-server 2.15 (src/cluster/nrg_meta_leader.ts): the nats-server meta leader's step-down
// preferring T3 makes T3 the meta leader (it campaigns at the LeaderTransfer, the nats-servers
// vote for it and follow it); then stream and consumer creates, infos, names and deletes go
// through T3: the nats-servers apply its assignments (their own /jsz show the stream and
// consumers, their replicas store the publishes), the groups' leaders answer the creates, and
// the removals take the stream off every server. Unknown streams and consumers are answered
// not found by T3, as nats-server's meta leader answers them. T3 announces its leadership with
// the domain leader advisory, shaped as the one N2 sends when the group goes to it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { shortHash } from "../src/jetstream/util.js";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster, streamStateOn } from "./helpers/nrg_cluster.js";
import type { ReferenceServer } from "./helpers/nats_server.js";

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, unknown> & { error?: { code: number; err_code: number; description: string } }> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** The consumers one nats-server holds of a stream of account APP (its own /jsz). */
async function consumersOn(s: ReferenceServer, stream: string): Promise<string[] | undefined> {
  const jsz = await getJson<{ account_details?: { name: string; stream_detail?: { name: string; consumer_detail?: { name: string }[] }[] }[] }>(`${s.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`);
  const d = jsz.account_details?.find((a) => a.name === "APP")?.stream_detail?.find((x) => x.name === stream);
  return d === undefined ? undefined : (d.consumer_detail ?? []).map((c) => c.name).sort();
}

test("T3 becomes the meta leader of a nats-server 2.15 cluster at a step-down preferring it, and stream and consumer creates, infos and deletes go through it", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  try {
    const { n1, n2, nc1, nc2 } = await cluster.upWithClients();
    const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    const advisories: Record<string, unknown>[] = [];
    sys.subscribe("$JS.EVENT.ADVISORY.DOMAIN.LEADER_ELECTED", { callback: (_e, m) => void advisories.push(m.json()) });
    await sys.flush();
    // The nats-server meta leader hands the leadership to T3 (a LeaderTransfer naming it), which announces it.
    await cluster.metaLeadOnT3();
    await waitUntil(async () => advisories.some((a) => a.leader === shortHash("T3")), 10_000, "T3 announces its meta leadership", () => JSON.stringify(advisories));

    // A stream created through T3: every server holds it, its leader answered the create.
    const created = await api(nc1, "$JS.API.STREAM.CREATE.ML", { name: "ML", subjects: ["ml.>"], num_replicas: 3 });
    assert.equal(created.error, undefined, JSON.stringify(created));
    assert.equal((created.config as { name: string }).name, "ML");
    await waitUntil(async () => (await streamStateOn(n1, "ML")) !== undefined && (await streamStateOn(n2, "ML")) !== undefined, 20_000, "N1 and N2 hold ML");
    const peer = await cluster.peerJson();
    assert.deepEqual(peer.streams?.find((s) => s.name === "ML")?.peers.sort(), ["N1", "N2", "T3"]);

    const js = jetstream(nc2);
    for (let i = 1; i <= 5; i++) assert.equal((await js.publish(`ml.${i}`, `m${i}`)).seq, i);
    await cluster.sameOnAll("ML", (s) => s.messages === 5, "every replica of ML holds the 5 messages");
    const info = await api(nc1, "$JS.API.STREAM.INFO.ML");
    assert.equal((info.state as { messages: number }).messages, 5, JSON.stringify(info));
    assert.equal((info.cluster as { replicas?: unknown[] }).replicas?.length, 2);

    // A durable R3 and an R1 consumer: created through T3, answered by their leaders.
    const durable = await api(nc1, "$JS.API.CONSUMER.CREATE.ML.D", { stream_name: "ML", config: { durable_name: "D", ack_policy: "explicit" }, action: "create" });
    assert.equal(durable.error, undefined, JSON.stringify(durable));
    assert.equal(durable.name, "D");
    const single = await api(nc2, "$JS.API.CONSUMER.CREATE.ML.R1", { stream_name: "ML", config: { name: "R1", ack_policy: "none", num_replicas: 1 } });
    assert.equal(single.error, undefined, JSON.stringify(single));
    // On any of ML's servers, T3 included (it holds an R1 consumer alone as its leader, without a RAFT group).
    assert.ok(["N1", "N2", "T3"].includes((single.cluster as { leader?: string }).leader ?? ""), JSON.stringify(single.cluster));
    const dInfo = await api(nc2, "$JS.API.CONSUMER.INFO.ML.D");
    assert.equal(dInfo.num_pending, 5, JSON.stringify(dInfo));
    await waitUntil(async () => JSON.stringify(await consumersOn(n1, "ML")) === '["D"]' || JSON.stringify(await consumersOn(n1, "ML")) === '["D","R1"]', 20_000, "N1 holds D");
    // The same create again is answered as nats-server answers it; another config under that name is refused.
    const again = await api(nc1, "$JS.API.CONSUMER.CREATE.ML.D", { stream_name: "ML", config: { durable_name: "D", ack_policy: "explicit", max_deliver: 3 }, action: "create" });
    assert.equal(again.error?.err_code, 10148, JSON.stringify(again));

    // What no server holds: T3 answers not found as the meta leader.
    assert.equal((await api(nc1, "$JS.API.STREAM.INFO.NOPE")).error?.err_code, 10059);
    assert.equal((await api(nc1, "$JS.API.CONSUMER.INFO.ML.NOPE")).error?.err_code, 10014);
    assert.equal((await api(nc1, "$JS.API.STREAM.DELETE.NOPE")).error?.err_code, 10059);
    const names = await api(nc1, "$JS.API.STREAM.NAMES");
    assert.deepEqual(names.streams, ["ML"]);
    const overlap = await api(nc1, "$JS.API.STREAM.CREATE.OV", { name: "OV", subjects: ["ml.1"], num_replicas: 3 });
    assert.equal(overlap.error?.err_code, 10065, JSON.stringify(overlap));

    // Deletes: the consumer's and the stream's leaders answer, every server lets them go.
    const cdel = await api(nc2, "$JS.API.CONSUMER.DELETE.ML.D");
    assert.equal(cdel.success, true, JSON.stringify(cdel));
    await waitUntil(async () => !(await consumersOn(n2, "ML"))?.includes("D"), 20_000, "N2 no longer holds D");
    const sdel = await api(nc1, "$JS.API.STREAM.DELETE.ML");
    assert.equal(sdel.success, true, JSON.stringify(sdel));
    await waitUntil(async () => (await streamStateOn(n1, "ML")) === undefined && (await streamStateOn(n2, "ML")) === undefined, 20_000, "N1 and N2 no longer hold ML");
    assert.equal((await cluster.peerJson()).streams?.length ?? 0, 0);
    assert.deepEqual(await Promise.all([n1, n2].map((s) => cluster.metaLeaderOn(s))), ["T3", "T3"], "T3 still leads the meta group");

    // Handed to N2: its advisory has the fields and kind of content of T3's.
    await sys.request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred: "N2" } }), { timeout: 10_000 });
    await waitUntil(async () => advisories.some((a) => a.leader === shortHash("N2")), 20_000, "N2 announces its meta leadership", () => JSON.stringify(advisories));
    const shape = (leader: string): Record<string, unknown> => {
      const a = advisories.find((x) => x.leader === shortHash(leader)) ?? {};
      const replicas = (a.replicas as { name: string; peer: string }[] | undefined) ?? [];
      return { keys: Object.keys(a).sort(), type: a.type, cluster: a.cluster, replicas: replicas.map((r) => r.name === leader || r.peer !== shortHash(r.name)).sort(), count: replicas.length };
    };
    assert.deepEqual(shape("T3"), shape("N2"), "T3's domain leader advisory is shaped as N2's");
    t.diagnostic(`advisories: ${JSON.stringify(advisories)}`);
  } finally {
    await cluster.stop();
  }
});
