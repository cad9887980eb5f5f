// Direct gets answered by T3's replicas of nats-server streams (nrg_direct_get.ts). In a
// nats-server 2.15 cluster every member of an allow_direct stream answers its direct gets, and
// every member of a mirror with mirror_direct answers its origin's, in the `_sys_` queue group.
// D (allow_direct) and MD (a mirror of O, which had allow_direct when MD was made: mirror_direct)
// are held by N1, N2 and T3; O's own direct gets are then turned off, so only MD's members
// answer O's. N1 does so first (the reference); then, with N1 and N2 stopped, T3 answers its
// client alone from its copies, with the same messages and headers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

interface DirectAnswer {
  status: string;
  stream: string;
  subject: string;
  seq: string;
  data: string;
}

async function ask(nc: NatsConnection, subject: string, body: string, level?: string): Promise<DirectAnswer> {
  const hdrs = level === undefined ? undefined : headers();
  if (level !== undefined) hdrs?.set("Nats-Required-Api-Level", level);
  const m: Msg = await nc.request(subject, body, { timeout: 5000, ...(hdrs !== undefined ? { headers: hdrs } : {}) });
  const h = m.headers;
  return {
    status: h === undefined || h.code === 0 ? "" : `${h.code} ${h.description}`,
    stream: h?.get("Nats-Stream") ?? "",
    subject: h?.get("Nats-Subject") ?? "",
    seq: h?.get("Nats-Sequence") ?? "",
    data: m.string(),
  };
}

/** What a client asks: D by sequence and by last subject, O (through MD's members) the same, a missing sequence, an API level above the server's. */
async function askAll(nc: NatsConnection): Promise<DirectAnswer[]> {
  return [
    await ask(nc, "$JS.API.DIRECT.GET.D", JSON.stringify({ seq: 2 })),
    await ask(nc, "$JS.API.DIRECT.GET.D.d.a", ""),
    await ask(nc, "$JS.API.DIRECT.GET.O", JSON.stringify({ seq: 3 })),
    await ask(nc, "$JS.API.DIRECT.GET.O.o.b", ""),
    await ask(nc, "$JS.API.DIRECT.GET.O", JSON.stringify({ seq: 99 })),
    await ask(nc, "$JS.API.DIRECT.GET.D", JSON.stringify({ seq: 1 }), "99"),
  ];
}

test("T3's replicas answer direct gets as nats-server's members do: an allow_direct stream's, and a mirror_direct mirror's for its origin", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create();
  try {
    const { nc1, nc2, jsm } = await c.upWithClients();
    const js = jetstream(nc2, { timeout: 10_000 });
    await retry(() => jsm.streams.add({ name: "D", subjects: ["d.>"], num_replicas: 3, allow_direct: true }), 90_000);
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3, allow_direct: true }), 90_000);
    for (const s of ["d.a", "d.b", "d.a", "o.a", "o.b", "o.a"]) await retry(() => js.publish(s, `${s} payload`), 60_000);
    const md = await retry(() => jsm.streams.add({ name: "MD", num_replicas: 3, mirror: { name: "O" } }), 90_000);
    assert.equal(md.config.mirror_direct, true, "MD inherits O's allow_direct");
    await retry(() => jsm.streams.update("O", { allow_direct: false }), 60_000);
    for (const name of ["D", "MD"]) await c.sameOnAll(name, (s) => s.messages === 3 && s.last_seq === 3, `${name} holds three messages on N1, N2 and T3`);
    let groups: unknown;
    await waitUntil(
      async () => {
        const gs = (await c.peerJson()).groups ?? [];
        groups = gs.map((g) => ({ stream: g.stream, direct_gets: (g as { direct_gets?: { names: string[] } }).direct_gets?.names }));
        const names = (stream: string): string => JSON.stringify((gs.find((g) => g.stream === stream) as { direct_gets?: { names: string[] } } | undefined)?.direct_gets?.names);
        return names("D") === '["D"]' && names("MD") === '["O"]' && names("O") === "[]";
      },
      60_000,
      "T3's copy of D answers D's direct gets, its copy of MD O's, its copy of O none",
      () => JSON.stringify(groups),
    );

    // The reference: N1's own copies answer its client (MD's for O, since O's members no longer do).
    const reference = await askAll(nc1);
    assert.deepEqual(
      reference.map((a) => [a.status, a.stream, a.subject, a.seq, a.data]),
      [
        ["", "D", "d.b", "2", "d.b payload"],
        ["", "D", "d.a", "3", "d.a payload"],
        ["", "MD", "o.a", "3", "o.a payload"],
        ["", "MD", "o.b", "2", "o.b payload"],
        ["404 Message Not Found", "", "", "", ""],
        ["412 Required Api Level", "", "", "", ""],
      ],
    );

    // N1 and N2 gone: only T3 holds the copies, and answers its own client from them.
    await nc1.close();
    await nc2.close();
    await Promise.all(c.live().map((s) => s.stop()));
    c.nats.length = 0;
    const nc3 = await connect({ servers: `127.0.0.1:${c.ours?.port}`, user: "app", pass: "app" });
    c.conns.push(nc3);
    assert.deepEqual(await askAll(nc3), reference);
    const answered = ((await c.peerJson()).groups ?? []).map((g) => (g as { direct_gets?: { answered: number } }).direct_gets?.answered ?? 0);
    t.diagnostic(`T3 answered ${JSON.stringify(answered)}`);
  } finally {
    await c.stop();
  }
});
