// A stream with `republish` in a nats-server 2.15 cluster, led by N1 then by T3
// (`nrg_peer_lead`), side by side with the same stream led by N1 throughout. Only a stream's
// leader republishes what it stores (nats-server's processJetStreamMsg: `tsubj != "" &&
// isLeader`), with the stream's coordinates appended to the message's headers; T3 leads such a
// stream instead of handing it back, and its republished messages are the nats-server leader's:
// same subjects, headers (Nats-Stream, Nats-Subject, Nats-Sequence, Nats-Last-Sequence, the
// message's own), payloads, each once.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Msg } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, publishRequest } from "./helpers/nrg_cluster.js";

/** What a republished message carries, with the stream's own names replaced so two streams compare. */
function seen(m: Msg, prefix: string, stream: string): Record<string, unknown> {
  const h = m.headers;
  const strip = (v: string | undefined): string | undefined => v?.replace(`${prefix}.`, "P.");
  return {
    subject: strip(m.subject),
    stream: h?.get("Nats-Stream") === stream ? "X" : h?.get("Nats-Stream"),
    origSubject: strip(h?.get("Nats-Subject")),
    seq: h?.get("Nats-Sequence"),
    last: h?.get("Nats-Last-Sequence"),
    timeParses: !Number.isNaN(Date.parse(h?.get("Nats-Time-Stamp") ?? "")),
    own: h?.get("X-Own"),
    data: m.string(),
  };
}

test("with nrg_peer_lead, T3 leads a stream with republish and republishes what it stores as a nats-server leader does", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  await c.runLedByT3(t, "RP", async () => {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const prefix = { RP: "rp", RPN: "rpn" } as const;
    const got: Record<string, Record<string, unknown>[]> = { RP: [], RPN: [] };
    for (const name of ["RP", "RPN"] as const) {
      const p = prefix[name];
      nc1.subscribe(`${p}.out.>`, { callback: (_err, m) => {
          got[name].push(seen(m, p, name));
        },
      });
      await retry(() => jsm.streams.add({ name, subjects: [`${p}.in.>`], republish: { src: `${p}.in.>`, dest: `${p}.out.>` }, num_replicas: 3 }), 90_000);
      await c.leadOn(nc2, "N1", name);
    }
    await nc1.flush();
    const publish = async (name: "RP" | "RPN", k: string, body: string): Promise<void> => {
      const ack = await publishRequest(nc2, `${prefix[name]}.in.${k}`, body, { "X-Own": body });
      assert.equal(ack.stream, name, `${name} stored ${body}: ${JSON.stringify(ack)}`);
    };
    for (const name of ["RP", "RPN"] as const) await publish(name, "a", "m1");
    await c.leadOnT3(nc1, "RP");
    for (const name of ["RP", "RPN"] as const) {
      await publish(name, "b", "m2");
      await publish(name, "a", "m3");
    }
    await waitUntil(async () => got.RP.length >= 3 && got.RPN.length >= 3, 30_000, "three republished messages of each stream", () => JSON.stringify(got));
    // A message more through each leader: whatever came twice would have come before it.
    for (const name of ["RP", "RPN"] as const) await publish(name, "c", "m4");
    await waitUntil(async () => got.RP.length >= 4 && got.RPN.length >= 4, 30_000, "four republished messages of each stream", () => JSON.stringify(got));
    assert.deepEqual(got.RP, got.RPN, "T3's republished messages are N1's");
    assert.deepEqual(
      got.RP.map((m) => [m.subject, m.seq, m.last, m.data]),
      [
        ["P.out.a", "1", "0", "m1"],
        ["P.out.b", "2", "0", "m2"],
        ["P.out.a", "3", "1", "m3"],
        ["P.out.c", "4", "0", "m4"],
      ],
    );
  });
});
