// A stream other streams mirror or source, in a nats-server 2.15 cluster with T3 (`nrg_peer_lead`):
// the mirror's or source's nats-server leader creates its sourcing consumer on the origin's
// leader directly (a Direct consumer create, not through the meta group). T3 leading the origin
// serves those creates itself (nrg_direct_consumers.ts): the nats-server mirror and sourcing
// stream fill from it, through a move of the origin's leadership to N1 and back, every message
// once; a mirror created while N1 leads gets N1's answer, which has the same shape and origin
// identity as T3's. An interest origin's source gets a flow-control durable from the meta leader
// instead: T3 leads the origin and removes what the source stored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, RetentionPolicy } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/transport-node";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

interface CreateAnswer {
  identity: string | undefined;
  body: Record<string, unknown> & { name?: string; config?: Record<string, unknown> & { metadata?: Record<string, string> } };
}

/** The keys of a consumer create answer and of its config, sorted. */
function shape(a: CreateAnswer): { keys: string[]; config: string[]; metadata: string[] } {
  return { keys: Object.keys(a.body).sort(), config: Object.keys(a.body.config ?? {}).sort(), metadata: Object.keys(a.body.config?.metadata ?? {}).sort() };
}

test("with nrg_peer_lead, T3 leading a stream serves the Direct consumers of a nats-server mirror and sourcing stream, through a leader change", { skip: referenceMissing(), timeout: 500_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    // Every answer to a mirror's or source's consumer create (their leaders' `$JSC.R.` inboxes in APP).
    const answers: CreateAnswer[] = [];
    nc1.subscribe("$JSC.R.>", {
      callback: (_err: Error | null, m: Msg) => {
        const body = m.json<CreateAnswer["body"]>();
        if (body.type === "io.nats.jetstream.api.v1.consumer_create_response") answers.push({ identity: m.headers?.get("Nats-Stream-Identity"), body });
      },
    });
    await nc1.flush();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    for (let i = 1; i <= 5; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await retry(() => jsm.streams.deleteMessage("O", 3), 60_000);
    await c.leadOnT3(nc1, "O");
    await retry(() => jsm.streams.add({ name: "M", num_replicas: 3, mirror: { name: "O" } }), 90_000);
    await retry(() => jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 3, sources: [{ name: "O" }] }), 90_000);
    for (let i = 6; i <= 8; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await c.sameOnAll("M", (s) => s.messages === 7 && s.first_seq === 1 && s.last_seq === 8, "the mirror holds O's 7 messages on N1, N2 and T3");
    await c.sameOnAll("S", (s) => s.messages === 7 && s.last_seq === 7, "the sourcing stream holds O's 7 messages on N1, N2 and T3");
    const o = (await c.group("O")) as { leader?: string; stream_leader?: unknown; direct_consumers?: { counters: { created: number } } } | undefined;
    assert.equal(o?.leader, "T3", "T3 kept O's leadership");
    assert.ok(o?.stream_leader !== undefined, "T3 runs O's leader half");
    assert.ok((o?.direct_consumers?.counters.created ?? 0) >= 2, `T3 created the mirror's and the source's consumers: ${JSON.stringify(o?.direct_consumers)}`);
    const fromT3 = answers.filter((a) => a.body.error === undefined && String(a.body.name).startsWith("JS_MIRROR_"));
    assert.ok(fromT3.length >= 1 && answers.some((a) => String(a.body.name).startsWith("JS_SRC_")), `T3 answered both creates: ${JSON.stringify(answers)}`);

    // The origin's leadership moves to N1 in the middle of the stream: T3's consumers go on from
    // its copy (a nats-server's Direct consumers outlive its leadership too).
    for (let i = 9; i <= 10; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await c.leadOn(nc1, "N1", "O");
    for (let i = 11; i <= 12; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    // A mirror created now is answered by N1: the same shape, the same origin identity.
    const before = answers.length;
    await retry(() => jsm.streams.add({ name: "M2", num_replicas: 3, mirror: { name: "O" } }), 90_000);
    await waitUntil(() => answers.length > before, 60_000, "N1 answers M2's consumer create", () => JSON.stringify(answers.slice(before)));
    const fromN1 = answers[answers.length - 1];
    assert.deepEqual(shape(fromT3[0]), shape(fromN1), "T3's create answer has the fields of N1's");
    assert.equal(fromT3[0].identity, fromN1.identity, "T3 and N1 send O's same identity");
    assert.ok(fromT3[0].identity !== undefined && fromT3[0].identity !== "");
    assert.deepEqual(
      { ...fromT3[0].body.config, name: "", deliver_subject: "", metadata: {} },
      { ...fromN1.body.config, name: "", deliver_subject: "", metadata: {} },
      "a mirror's consumer config as T3 and N1 answer it",
    );
    assert.match(String(fromT3[0].body.name), /^JS_MIRROR_[A-Za-z0-9]+-[A-Za-z0-9]+$/, "a sourcing consumer's name gets a suffix");

    // And back to T3, which takes the stream on from where N1 left it.
    await c.leadOnT3(nc1, "O");
    for (let i = 13; i <= 14; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    await c.sameOnAll("M", (s) => s.messages === 13 && s.first_seq === 1 && s.last_seq === 14, "the mirror holds O's 13 messages on N1, N2 and T3");
    await c.sameOnAll("M2", (s) => s.messages === 13 && s.last_seq === 14, "the second mirror holds O's 13 messages");
    await c.sameOnAll("S", (s) => s.messages === 13 && s.last_seq === 13, "the sourcing stream holds O's 13 messages on N1, N2 and T3");
    // Every message once: the sourcing stream holds each of O's subjects once.
    const seen = new Map<string, number>();
    for (let seq = 1; seq <= 13; seq++) {
      const m = await retry(() => jsm.streams.getMessage("S", { seq }), 60_000);
      const subject = m?.subject ?? `missing ${seq}`;
      seen.set(subject, (seen.get(subject) ?? 0) + 1);
    }
    assert.deepEqual([...seen.entries()].filter(([, n]) => n !== 1), [], "no subject twice");
    assert.deepEqual([...seen.keys()].sort(), [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map((i) => `o.${i}`).sort(), "every message of O");
    const s = await jsm.streams.info("S");
    assert.equal(s.state.messages, 13, "nothing more arrived meanwhile");
  } finally {
    await c.stop();
  }
});

test("with nrg_peer_lead, T3 leads an interest stream a nats-server stream sources, whose consumer the meta leader makes a flow-control durable", { skip: referenceMissing(), timeout: 500_000 }, async () => {
  const c = await NrgCluster.create(true, true);
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js2 = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "I", subjects: ["i.>"], num_replicas: 3, retention: RetentionPolicy.Interest }), 90_000);
    await c.leadOnT3(nc1, "I");
    await retry(() => jsm.streams.add({ name: "SI", subjects: ["si.>"], num_replicas: 3, sources: [{ name: "I" }] }), 90_000);
    await waitUntil(async () => (await jsm.consumers.list("I").next()).length === 1, 60_000, "the source's durable on I");
    for (let i = 1; i <= 5; i++) await retry(() => js2.publish(`i.${i}`, `m${i}`), 60_000);
    await c.sameOnAll("SI", (s) => s.messages === 5 && s.last_seq === 5, "the sourcing stream holds I's 5 messages");
    await c.sameOnAll("I", (s) => s.messages === 0 && s.last_seq === 5, "I removed what the source stored");
    assert.equal((await c.group("I"))?.leader, "T3", "T3 kept I's leadership");
    await c.leadOn(nc1, "N1", "I");
    for (let i = 6; i <= 7; i++) await retry(() => js2.publish(`i.${i}`, `m${i}`), 60_000);
    await c.leadOnT3(nc1, "I");
    for (let i = 8; i <= 9; i++) await retry(() => js2.publish(`i.${i}`, `m${i}`), 60_000);
    await c.sameOnAll("SI", (s) => s.messages === 9 && s.last_seq === 9, "the sourcing stream holds I's 9 messages");
    await c.sameOnAll("I", (s) => s.messages === 0 && s.last_seq === 9, "I removed everything the source stored");
  } finally {
    await c.stop();
  }
});
