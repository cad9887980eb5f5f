// A stream with a subject_transform in a nats-server 2.15 cluster with T3 (`nrg_peer_lead`), side
// by side with the same stream led by nats-servers only. nats-server's stream entries carry the
// subject as published and every member applies the transform when it stores
// (processJetStreamMsg); its leader checks a publish under the transformed subject
// (processClusteredInboundMsg: Nats-Expected-Last-Subject-Sequence, per-subject limits). T3 as a
// follower stores what N1 and N2 store (it kept the published subject), and T3 leads such a
// stream instead of handing the leadership back: the same PubAcks and errors as the nats-server
// leader's, and every member holds the transformed subjects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type NatsConnection } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { directGet, NrgCluster, publishRequest } from "./helpers/nrg_cluster.js";

/** A message's subject as the server the client is on holds it (the leader's answer to MSG.GET). */
async function storedSubject(nc: NatsConnection, stream: string, seq: number): Promise<string> {
  const m = await nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ seq }), { timeout: 10_000 });
  const body = m.json<{ message?: { subject: string }; error?: unknown }>();
  assert.ok(body.message !== undefined, `MSG.GET ${stream} ${seq}: ${JSON.stringify(body)}`);
  return body.message.subject;
}

test("with nrg_peer_lead, T3 holds and leads a stream with a subject_transform as a nats-server member does", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  await c.runLedByT3(t, "TR", async () => {
    const { nc1, nc2, jsm } = await c.upWithClients();
    // TR (T3 leads it later) and TRN (nats-servers only): in.* stored as out.*.
    const prefix = { TR: "tr", TRN: "trn" } as const;
    for (const name of ["TR", "TRN"] as const) {
      const p = prefix[name];
      await retry(() => jsm.streams.add({ name, subjects: [`${p}.in.>`], subject_transform: { src: `${p}.in.>`, dest: `${p}.out.>` }, num_replicas: 3, allow_direct: true }), 90_000);
    }
    await c.leadOn(nc2, "N1", "TR");
    await c.leadOn(nc2, "N2", "TRN");
    for (const name of ["TR", "TRN"] as const) {
      for (const k of ["a", "b"]) assert.equal((await publishRequest(nc2, `${prefix[name]}.in.${k}`, k)).stream, name);
    }
    for (const name of ["TR", "TRN"]) await c.sameOnAll(name, (s) => s.messages === 2 && s.last_seq === 2, `${name} holds 2 messages on N1, N2 and T3`);

    // T3 leads TR (it handed such a stream back before), N1 leads TRN.
    await c.leadOnT3(nc1, "TR");
    await c.leadOn(nc2, "N1", "TRN");
    // T3's own copy, written while N1 led: the transformed subjects.
    for (const seq of [1, 2]) assert.equal(await storedSubject(nc2, "TR", seq), `tr.out.${seq === 1 ? "a" : "b"}`, `T3 stored TR ${seq} under its transformed subject`);
    // Checked under the transformed subject: out.a's last is 1, out.b's is 2.
    const answers: Record<string, unknown[]> = { TR: [], TRN: [] };
    for (const name of ["TR", "TRN"] as const) {
      const p = prefix[name];
      answers[name].push(await publishRequest(nc2, `${p}.in.c`, "c"));
      answers[name].push(await publishRequest(nc2, `${p}.in.a`, "a2", { "Nats-Expected-Last-Subject-Sequence": "1" }));
      answers[name].push(await publishRequest(nc2, `${p}.in.b`, "b2", { "Nats-Expected-Last-Subject-Sequence": "1" }));
    }
    const named = (list: unknown[], name: string): unknown[] => list.map((a) => JSON.parse(JSON.stringify(a).replaceAll(`"${name}"`, '"X"')) as unknown);
    assert.deepEqual(named(answers.TR, "TR"), named(answers.TRN, "TRN"), "T3's answers are the nats-server leader's");
    assert.deepEqual(
      answers.TR.map((a) => (a as { error?: { err_code: number } }).error?.err_code ?? (a as { seq?: number }).seq),
      [3, 4, 10071],
      "c stored, a with the right expected subject sequence stored, b refused",
    );
    for (const name of ["TR", "TRN"]) await c.sameOnAll(name, (s) => s.messages === 4 && s.last_seq === 4, `${name} holds 4 messages on N1, N2 and T3`);
    // Every member's own copy: the transformed subjects (N1's and N2's through their direct gets).
    const want = ["tr.out.a", "tr.out.b", "tr.out.c", "tr.out.a"];
    for (const seq of [1, 2, 3, 4]) {
      assert.equal(await storedSubject(nc1, "TR", seq), want[seq - 1], `T3's TR ${seq}`);
      for (const nc of [nc1, nc2]) assert.equal((await directGet(nc, "TR", seq)).subject, want[seq - 1], `a nats-server's TR ${seq}`);
    }
  });
});
