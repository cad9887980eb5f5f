// Replicated JetStream never leaves a request unanswered and never accepts what it would get
// wrong: peer removal is answered (refused when no server can take the place),
// republish fires once (from the group's leader), and requests about a stream whose group has
// no leader, or whose servers are all gone, or made while the meta group has no leader, get
// "JetStream system temporarily unavailable" (10008) as nats-server answers them (but the info
// of a stream whose group has no leader, which its member left answers from its copy, and the
// info of a stream whose servers are all stopped: "stream is offline", 10118, from the meta leader).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

interface ApiAnswer {
  type?: string;
  error?: { code: number; err_code: number; description: string };
  [k: string]: unknown;
}

async function api(nc: NatsConnection, subject: string, body: unknown, timeout = 10_000): Promise<ApiAnswer> {
  const m = await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout });
  return JSON.parse(m.string()) as ApiAnswer;
}

/** Repeat a request until its answer satisfies `ok` (the cluster notices a stopped server in its own time). */
async function answerUntil(nc: NatsConnection, subject: string, body: unknown, ok: (a: ApiAnswer) => boolean, what: string, timeoutMs = 30_000, requestMs = 5_000): Promise<ApiAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let a: ApiAnswer | undefined;
    try {
      a = await api(nc, subject, body, requestMs);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no answer to ${subject} (${what}): ${(err as Error).message}`);
      continue;
    }
    if (ok(a)) return a;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last answer ${JSON.stringify(a)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("replicated JetStream: peer/server remove, unsupported R3 features, republish once, leaderless groups all answered", { timeout: 240_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    const meta = await c.metaLeader();
    for (const m of c.members) ncs.push(await connect({ servers: m.url }));
    const nc = ncs[0];
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    await jsm.streams.add({ name: "G", subjects: ["g.>"], num_replicas: 3 });

    // ---- STREAM.PEER.REMOVE and SERVER.REMOVE: checked and answered by the meta leader ----
    const other = c.members.map((m) => m.name).find((n) => n !== meta) ?? "";
    // Every server of the cluster holds G already: no server can take the removed one's place,
    // so nothing changes ("peer remap failed", as nats-server 2.15).
    let a = await api(nc, "$JS.API.STREAM.PEER.REMOVE.G", { peer: other });
    assert.equal(a.type, "io.nats.jetstream.api.v1.stream_remove_peer_response");
    assert.deepEqual(a.error, { code: 503, err_code: 10075, description: "peer remap failed" });
    a = await api(nc, "$JS.API.STREAM.PEER.REMOVE.G", { peer: "NOPE" });
    assert.equal(a.error?.err_code, 10040, "not a member of the stream's group");
    a = await api(nc, "$JS.API.STREAM.PEER.REMOVE.G", undefined);
    assert.equal(a.error?.err_code, 10003, "no peer named");
    a = await api(nc, "$JS.API.STREAM.PEER.REMOVE.MISSING", { peer: other });
    assert.equal(a.error?.err_code, 10059);
    // SERVER.REMOVE is the system account's: from another account nobody answers (as nats-server).
    await assert.rejects(api(ncs[2], "$JS.API.SERVER.REMOVE", { peer: other }, 1000), /TIMEOUT/i);

    // ---- the 2.11–2.15 stream features: replicated (js_cluster_features), taken on R3 as nats-server takes them ----
    for (const [name, extra] of [
      ["MRK", { allow_msg_ttl: true, allow_rollup_hdrs: true, subject_delete_marker_ttl: 5_000_000_000 }],
      ["SCH", { allow_msg_schedules: true }],
      ["ATO", { allow_atomic: true }],
      ["FB", { allow_batched: true }],
    ] as const) {
      a = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3, ...extra });
      assert.equal(a.error, undefined, `${name}: ${JSON.stringify(a.error)}`);
    }

    // ---- republish: once per message, from the group's leader only ----
    await jsm.streams.add({ name: "RP", subjects: ["rp.>"], num_replicas: 3, republish: { src: "rp.>", dest: "out.>" } });
    const got: Array<Map<string, number>> = [];
    const markers: Array<Set<string>> = [];
    for (const conn of ncs) {
      const seen = new Map<string, number>();
      const marks = new Set<string>();
      got.push(seen);
      markers.push(marks);
      conn.subscribe("out.>", {
        callback: (_e: unknown, m: Msg) => {
          if (m.subject === "out.marker") marks.add(m.string());
          else {
            const seq = m.headers?.get("Nats-Sequence") ?? "?";
            seen.set(seq, (seen.get(seq) ?? 0) + 1);
          }
        },
      });
      await conn.flush();
    }
    for (let i = 0; i < 20; i++) await jetstream(ncs[i % 3]).publish(`rp.${i}`, `m${i}`);
    await waitUntil(() => c.members.every((m) => c.js(m.name).accounts.get("$G")?.streams.get("RP")?.store.state().msgs === 20), 20_000, "20 messages on every member");
    // Every member applied all 20: whatever it republished went out before a marker published through it afterwards.
    for (const [i, conn] of ncs.entries()) {
      conn.publish("out.marker", c.members[i].name);
      await conn.flush();
    }
    await waitUntil(() => markers.every((s) => s.size === 3) && got.every((s) => s.size === 20), 20_000, "every republished message and marker");
    for (const [i, seen] of got.entries()) {
      const twice = [...seen.entries()].filter(([, n]) => n !== 1);
      assert.deepEqual(twice, [], `subscriber on ${c.members[i].name} got each republished message once`);
    }

    // ---- a stream whose group has no leader (its info from its member's copy; 10008 otherwise), or whose only server is gone (its info: stream is offline) ----
    const two = await jsm.streams.add({ name: "TWO", subjects: ["two.>"], num_replicas: 2 });
    const twoPeers = [two.cluster?.leader ?? "", ...(two.cluster?.replicas ?? []).map((r) => r.name)];
    assert.equal(twoPeers.length, 2);
    // One member of TWO other than the meta leader stops; the other is left without a quorum.
    const gone = twoPeers.find((n) => n !== meta) ?? "";
    const alive = c.members.map((m) => m.name).filter((n) => n !== gone);
    // An R1 stream on that server (placement goes to the server holding the fewest streams: a few tries land one there).
    let oneName = "";
    for (let i = 0; i < 8 && oneName === ""; i++) {
      const si = await jsm.streams.add({ name: `ONE${i}`, subjects: [`one${i}.>`], num_replicas: 1 });
      if (si.cluster?.leader === gone) oneName = `ONE${i}`;
    }
    assert.notEqual(oneName, "", `an R1 stream placed on ${gone}`);
    const askVia = ncs[c.members.findIndex((m) => m.name === alive.find((n) => n !== meta))];
    await c.stopMember(gone);
    ncs[c.members.findIndex((m) => m.name === gone)].close().catch(() => undefined);

    a = await answerUntil(askVia, "$JS.API.STREAM.INFO.TWO", undefined, (x) => x.error === undefined && (x.cluster as { leader?: string } | undefined)?.leader === undefined, "the leaderless TWO's info from its member's copy");
    assert.equal(a.type, "io.nats.jetstream.api.v1.stream_info_response");
    const twoLeft = (a.cluster as { replicas?: Array<{ name: string; current: boolean }> }).replicas ?? [];
    assert.deepEqual(twoLeft.map((r) => [r.name, r.current]).sort(), twoPeers.map((n) => [n, n !== gone]).sort(), "its member left current, the stopped one not");
    a = await api(askVia, "$JS.API.STREAM.PURGE.TWO", undefined);
    assert.equal(a.error?.err_code, 10008, "a purge of the leaderless stream is answered too");
    // (nats-server 2.15.1's meta leader: every server of its group offline, js_cluster_stream_offline_info.)
    a = await answerUntil(askVia, `$JS.API.STREAM.INFO.${oneName}`, undefined, (x) => x.error !== undefined, "an error about ONE, whose server is gone");
    assert.deepEqual(a.error, { code: 500, err_code: 10118, description: "stream is offline" });
    // G (R3) still has a quorum and answers.
    a = await answerUntil(askVia, "$JS.API.STREAM.INFO.G", undefined, (x) => x.error === undefined, "G's info from its new leader");

    // ---- no meta leader at all (one server of three left): answered 10008 at once (js_cluster_meta_leaderless) ----
    const last = alive.find((n) => n !== meta) ?? "";
    await c.stopMember(meta);
    ncs[c.members.findIndex((m) => m.name === meta)].close().catch(() => undefined);
    const lastNc = ncs[c.members.findIndex((m) => m.name === last)];
    await waitUntil(() => c.js(last).cluster?.leader === "", 20_000, "no meta leader");
    a = await api(lastNc, "$JS.API.STREAM.NAMES", undefined, 20_000);
    assert.equal(a.type, "io.nats.jetstream.api.v1.stream_names_response");
    assert.equal(a.error?.err_code, 10008);
  } finally {
    for (const x of ncs) await x.close().catch(() => undefined);
    await c.stop();
  }
});
