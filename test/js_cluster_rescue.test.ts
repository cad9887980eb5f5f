// $JS.API.META.RESCUE (src/jetstream/cluster.ts metaRescue, src/cluster/raft.ts rescueQuorum),
// side by side on a tsnats cluster and a nats-server 2.15 cluster of three, through real
// clients: every server answers for itself; refused while a meta leader is known, for a quorum
// that is not lower, for a bad request. After two of the three servers are lost for good, the one
// left lowers its quorum to 1, leads the meta group again, and removes the lost servers
// (SERVER.REMOVE); the system account gets the advisory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/js_cluster_move.js";

interface RescueAnswer {
  type: string;
  error?: { code: number; err_code: number; description: string };
  server: string;
  server_id: string;
  prev_quorum?: number;
  new_quorum?: number;
}

const REF_ACCOUNTS = "accounts { A: { jetstream: enabled, users: [{ user: a, password: a }] }, SYS: { users: [{ user: sys, password: sys }] } }\nsystem_account: SYS\n";

/** The answers of `count` servers to one META.RESCUE, by server name. */
async function rescue(sys: NatsConnection, body: unknown, count: number, level?: string, waitMs = 20_000): Promise<RescueAnswer[]> {
  const inbox = `_INBOX.rescue.${Math.random().toString(36).slice(2)}`;
  const answers: RescueAnswer[] = [];
  const sub = sys.subscribe(inbox);
  const done = (async () => {
    for await (const m of sub) {
      answers.push(JSON.parse(m.string()) as RescueAnswer);
      if (answers.length === count) break;
    }
  })();
  const h = headers();
  h.set("Nats-Required-Api-Level", level ?? "");
  sys.publish("$JS.API.META.RESCUE", body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body), { reply: inbox, ...(level !== undefined ? { headers: h } : {}) });
  // Expecting no answer: whatever came within `waitMs`.
  const timer = setTimeout(() => sub.unsubscribe(), waitMs);
  await done;
  clearTimeout(timer);
  assert.equal(answers.length, count, `${count} answers to META.RESCUE ${JSON.stringify(body)}`);
  return answers.sort((a, b) => (a.server < b.server ? -1 : 1));
}

/** An answer with the server's name and id left out (they differ between the two clusters). */
function anonymous(a: RescueAnswer): Omit<RescueAnswer, "server" | "server_id"> {
  assert.equal(typeof a.server, "string");
  assert.match(a.server_id, /^N[A-Z0-9]{55}$/);
  const { server: _s, server_id: _i, ...rest } = a;
  return rest;
}

interface Side {
  label: string;
  urls: string[];
  names: string[];
  stopServer: (i: number) => Promise<void>;
  /** The monitoring URL of the server left after the disaster (the third). */
  monitorUrl: string;
}

/** /jsz meta_cluster's quorum_needed and rescue. */
async function metaQuorum(monitorUrl: string): Promise<{ quorum_needed?: number; rescue?: boolean }> {
  const jsz = (await (await fetch(`${monitorUrl}/jsz`)).json()) as { meta_cluster?: { quorum_needed?: number; rescue?: boolean } };
  return { quorum_needed: jsz.meta_cluster?.quorum_needed, rescue: jsz.meta_cluster?.rescue };
}

async function scenario(side: Side): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  const sys = await connect({ servers: side.urls, user: "sys", pass: "sys", timeout: 20_000 });
  const nc = await connect({ servers: side.urls, user: "a", pass: "a", timeout: 20_000 });
  try {
    await waitUntil(async () => {
      const r = await nc.request("$JS.API.INFO", "", { timeout: 5000 }).catch(() => undefined);
      return r !== undefined && (JSON.parse(r.string()) as { error?: unknown }).error === undefined;
    }, 60_000, `${side.label}: a meta leader`);
    // From an account: nobody answers.
    await assert.rejects(nc.request("$JS.API.META.RESCUE", JSON.stringify({ quorum_needed: 1 }), { timeout: 3000 }), /timeout/i, `${side.label}: an account's rescue is not answered`);
    for (const [what, body] of [
      ["no body", undefined],
      ["bad JSON", "{x"],
      ["quorum 0", { quorum_needed: 0 }],
      ["quorum above the current", { quorum_needed: 5 }],
      ["leader known", { quorum_needed: 1 }],
    ] as const) {
      seen[what] = (await rescue(sys, body, 3)).map(anonymous);
    }
    // Needing a higher API level: every tsnats server refuses it (412, 10185); nats-server 2.15.1
    // answers no system request that carries headers at all.
    if (side.label === "tsnats") {
      for (const a of await rescue(sys, { quorum_needed: 1 }, 3, "99")) assert.deepEqual(anonymous(a).error, { code: 412, err_code: 10185, description: "JetStream minimum api level required" });
    } else assert.deepEqual(await rescue(sys, { quorum_needed: 1 }, 0, "99", 3000), []);
    await sys.close();

    // Two of the three servers are lost for good: the one left cannot elect a meta leader.
    const left = side.urls[2];
    await side.stopServer(0);
    await side.stopServer(1);
    const rsys = await connect({ servers: [left], user: "sys", pass: "sys", timeout: 20_000 });
    const rnc = await connect({ servers: [left], user: "a", pass: "a", timeout: 20_000 });
    try {
      const advisories: Array<Record<string, unknown>> = [];
      const advSub = rsys.subscribe("$JS.EVENT.ADVISORY.SERVER.META_RESCUE");
      void (async () => {
        for await (const m of advSub) advisories.push(JSON.parse(m.string()) as Record<string, unknown>);
      })();
      let answer: RescueAnswer | undefined;
      await waitUntil(async () => {
        [answer] = await rescue(rsys, { quorum_needed: 1 }, 1);
        return answer.error?.description !== "JetStream system rescue not applied: raft: leader is known";
      }, 60_000, `${side.label}: the server left no longer knowing a meta leader`, () => JSON.stringify(answer));
      assert.equal(answer?.server, side.names[2], side.label);
      seen.rescued = anonymous(answer as RescueAnswer);
      seen.jszRescued = await metaQuorum(side.monitorUrl);
      await waitUntil(() => advisories.length > 0, 30_000, `${side.label}: the meta_rescue advisory`);
      const a = advisories[0] as Record<string, unknown>;
      seen.advisory = Object.keys(a);
      assert.equal(a.type, "io.nats.jetstream.advisory.v1.meta_rescue", side.label);
      assert.equal(a.server, side.names[2], side.label);
      assert.equal(a.server_id, answer?.server_id, side.label);
      assert.deepEqual([a.prev_quorum, a.new_quorum], [2, 1], side.label);
      // It leads the meta group alone, and removes the lost servers.
      await waitUntil(async () => {
        const r = await rnc.request("$JS.API.INFO", "", { timeout: 5000 }).catch(() => undefined);
        return r !== undefined && (JSON.parse(r.string()) as { error?: unknown }).error === undefined;
      }, 60_000, `${side.label}: a meta leader after the rescue`);
      const removed = [];
      for (const lost of side.names.slice(0, 2)) removed.push(JSON.parse((await rsys.request("$JS.API.SERVER.REMOVE", JSON.stringify({ peer: lost }), { timeout: 20_000 })).string()));
      seen.removed = removed;
      // Alone in the meta group, the server needs no more than the rescue's quorum: the rescue is over.
      await waitUntil(async () => (await metaQuorum(side.monitorUrl)).rescue === undefined, 30_000, `${side.label}: the rescue over`);
      seen.jszAlone = await metaQuorum(side.monitorUrl);
      const created = JSON.parse((await rnc.request("$JS.API.STREAM.CREATE.AFTER", JSON.stringify({ name: "AFTER", subjects: ["after"] }), { timeout: 20_000 })).string()) as { error?: unknown };
      seen.created = created.error ?? "ok";
      await advSub.unsubscribe();
    } finally {
      await rnc.close();
      await rsys.close();
    }
  } finally {
    await nc.close().catch(() => undefined);
    await sys.close().catch(() => undefined);
  }
  return seen;
}

test("META.RESCUE as nats-server 2.15 answers it, and the server left after a disaster leads again", { timeout: 400_000 }, async (t) => {
  const ref = await startRefJsCluster(3, "REF", { config: REF_ACCOUNTS });
  if (ref === undefined) return t.skip("nats-server 2.15 is not installed");
  let c: JsTestCluster | undefined;
  try {
    c = await JsTestCluster.start(3, "JSC", { withSystemUser: true });
    const tsnats = c;
    const ours = await scenario({
      label: "tsnats",
      urls: tsnats.members.map((m) => m.url),
      names: tsnats.members.map((m) => m.name),
      stopServer: (i) => tsnats.stopMember(tsnats.members[i].name),
      monitorUrl: tsnats.members[2].srv?.monitorUrl ?? "",
    });
    const theirs = await scenario({ label: "nats-server", urls: ref.urls, names: ["N1", "N2", "N3"], stopServer: (i) => ref.servers[i].stop(), monitorUrl: ref.servers[2].monitorUrl ?? "" });
    assert.deepEqual(ours, theirs);
    assert.deepEqual(ours.rescued, { type: "io.nats.jetstream.api.v1.meta_rescue_response", prev_quorum: 2, new_quorum: 1 });
    assert.equal(ours.created, "ok");
    assert.deepEqual(ours.jszRescued, { quorum_needed: 1, rescue: true });
    assert.deepEqual(ours.jszAlone, { quorum_needed: 1, rescue: undefined });
  } finally {
    await c?.stop();
    await ref.stop();
  }
});
