// The cluster admin requests that take a server out of an asset's servers (src/jetstream/peer_remap.ts,
// cluster.ts), side by side on a tsnats cluster and a nats-server 2.15 cluster of four, through
// real clients: CONSUMER.PEER.REMOVE|EVACUATE, STREAM.PEER.EVACUATE and SERVER.EVACUATE. The
// answers (types, error codes and descriptions) are compared as they are; the outcomes (where
// the replicas end up, the messages, a consumer still delivering from where it was) are checked
// on both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { startTestServer } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";

interface Answer {
  type?: string;
  success?: boolean;
  error?: { code: number; err_code: number; description: string };
  cluster?: { leader?: string; replicas?: Array<{ name: string; current: boolean }> };
  state?: { messages: number };
  delivered?: { stream_seq: number };
  ack_floor?: { stream_seq: number };
  [k: string]: unknown;
}

/** One cluster under test: a client of an account with JetStream, one of the system account, the server names. */
interface Side {
  label: string;
  nc: NatsConnection;
  sys: NatsConnection;
  servers: string[];
}

const REF_ACCOUNTS = "accounts { A: { jetstream: enabled, users: [{ user: a, password: a }] }, SYS: { users: [{ user: sys, password: sys }] } }\nsystem_account: SYS\n";

/** A request's answer; undefined when nobody answered within `timeoutMs`. */
async function ask(nc: NatsConnection, subject: string, body?: unknown, timeoutMs = 10_000): Promise<Answer | undefined> {
  try {
    const m = await nc.request(subject, body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body), { timeout: timeoutMs });
    return JSON.parse(m.string()) as Answer;
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || /timeout/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/** The answer once the asset has a leader (an info request answered without a 503). */
async function info(nc: NatsConnection, subject: string): Promise<Answer> {
  let last: Answer | undefined;
  await waitUntil(async () => {
    last = await ask(nc, subject, undefined, 5000);
    return last !== undefined && last.error?.code !== 503;
  }, 60_000, `an answer to ${subject}`);
  return last as Answer;
}

function serversOf(a: Answer | undefined): string[] {
  const c = a?.cluster;
  return c === undefined ? [] : [c.leader ?? "", ...(c.replicas ?? []).map((r) => r.name)].filter((n) => n !== "").sort();
}

/**
 * A pull of one message of a durable, then its acknowledgement until confirmed (sent again while
 * the consumer's leadership settles): its stream sequence.
 */
async function pullOne(nc: NatsConnection, stream: string, consumer: string): Promise<number> {
  // nats.js's messages have their $JS.ACK reply subject at runtime, not in the JsMsg type.
  let msg: (JsMsg & { reply?: string }) | undefined;
  await waitUntil(async () => {
    try {
      const c = await jetstream(nc, { timeout: 5000 }).consumers.get(stream, consumer);
      msg = (await c.next({ expires: 5000 })) ?? undefined;
      return msg !== undefined;
    } catch {
      return false;
    }
  }, 60_000, `a message of ${stream} > ${consumer}`);
  const m = msg as JsMsg & { reply?: string };
  const reply = m.reply ?? "";
  assert.ok(reply.startsWith("$JS.ACK."), reply);
  // The acknowledgement as a request, which the server confirms (JsMsg.ackAck sends it once only).
  await waitUntil(() => nc.request(reply, "+ACK", { timeout: 5000 }).then(() => true, () => false), 60_000, `the acknowledgement of ${reply}`);
  return m.seq;
}

async function startSides(): Promise<{ sides: Side[]; stop: () => Promise<void> } | undefined> {
  const ref: RefJsCluster | undefined = await startRefJsCluster(4, "REF", { config: REF_ACCOUNTS });
  if (ref === undefined) return undefined;
  const c = await JsTestCluster.start(4, "JSC", { withSystemUser: true });
  const conns: NatsConnection[] = [];
  try {
    await c.metaLeader(60_000);
    const sides: Side[] = [];
    for (const [label, urls, servers] of [
      ["tsnats", c.members.map((m) => m.url), c.members.map((m) => m.name)],
      ["nats-server", ref.urls, ["N1", "N2", "N3", "N4"]],
    ] as const) {
      const nc = await connect({ servers: [...urls], user: "a", pass: "a", timeout: 20_000 });
      conns.push(nc);
      const sys = await connect({ servers: [...urls], user: "sys", pass: "sys", timeout: 20_000 });
      conns.push(sys);
      await info(nc, "$JS.API.INFO");
      sides.push({ label, nc, sys, servers: [...servers] });
    }
    return {
      sides,
      stop: async () => {
        for (const x of conns) await x.close().catch(() => undefined);
        await Promise.all([c.stop(), ref.stop()]);
      },
    };
  } catch (err) {
    for (const x of conns) await x.close().catch(() => undefined);
    await Promise.all([c.stop(), ref.stop()]);
    throw err;
  }
}

/** The same request on both sides: the answers, compared as they are. */
async function same(sides: Side[], conn: "nc" | "sys", subject: string, body: unknown, what: string): Promise<Answer | undefined> {
  const answers = [];
  for (const s of sides) answers.push(await ask(s[conn], subject, body, conn === "sys" || subject.includes("SERVER") ? 3000 : 10_000));
  assert.deepEqual(answers[0], answers[1], `${what}: tsnats vs nats-server`);
  return answers[0];
}

test("CONSUMER.PEER.REMOVE and CONSUMER.PEER.EVACUATE as nats-server 2.15 answers them, a single-replica consumer moving with its state", { timeout: 400_000 }, async (t) => {
  const started = await startSides();
  if (started === undefined) return t.skip("nats-server 2.15 is not installed");
  const { sides, stop } = started;
  try {
    for (const s of sides) {
      assert.equal((await ask(s.nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 3 }))?.error, undefined, s.label);
      assert.equal((await ask(s.nc, "$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: { durable_name: "C", ack_policy: "explicit" } }))?.error, undefined, s.label);
      assert.equal((await ask(s.nc, "$JS.API.CONSUMER.CREATE.S.ONE", { stream_name: "S", config: { durable_name: "ONE", ack_policy: "explicit", num_replicas: 1 } }))?.error, undefined, s.label);
      assert.equal((await ask(s.nc, "$JS.API.STREAM.CREATE.R1", { name: "R1", subjects: ["r1.>"], num_replicas: 1 }))?.error, undefined, s.label);
      assert.equal((await ask(s.nc, "$JS.API.CONSUMER.CREATE.R1.D", { stream_name: "R1", config: { durable_name: "D", ack_policy: "explicit" } }))?.error, undefined, s.label);
      for (let i = 1; i <= 10; i++) {
        assert.equal((await ask(s.nc, "s.x", `m${i}`))?.error, undefined, s.label);
        assert.equal((await ask(s.nc, "r1.x", `m${i}`))?.error, undefined, s.label);
      }
    }

    for (const kind of ["REMOVE", "EVACUATE"]) {
      const subj = `$JS.API.CONSUMER.PEER.${kind}`;
      await same(sides, "nc", `${subj}.S.C`, undefined, `${kind} without a body`);
      await same(sides, "nc", `${subj}.S.C`, {}, `${kind} without a peer`);
      await same(sides, "nc", `${subj}.S.C`, "{x", `${kind} with bad JSON`);
      await same(sides, "nc", `${subj}.S.C`, { peer: "NOPE" }, `${kind} of a server not in the consumer's group`);
      await same(sides, "nc", `${subj}.NOPE.C`, { peer: "NOPE" }, `${kind} of a missing stream`);
      await same(sides, "nc", `${subj}.NOPE.C`, undefined, `${kind} of a missing stream without a body`);
      await same(sides, "nc", `${subj}.S.NOPE`, { peer: "NOPE" }, `${kind} of a missing consumer`);
      await same(sides, "sys", `${subj}.S.C`, { peer: "NOPE" }, `${kind} from the system account`);
      const answers: Array<Answer | undefined> = [];
      for (const s of sides) {
        // A replicated consumer on all its stream's servers: no server can take a member's place.
        const c = await info(s.nc, "$JS.API.CONSUMER.INFO.S.C");
        answers.push(await ask(s.nc, `${subj}.S.C`, { peer: c.cluster?.replicas?.[0]?.name }));
        // The consumer of a single-replica stream: nowhere else to go; another server is no member.
        const d = await info(s.nc, "$JS.API.CONSUMER.INFO.R1.D");
        answers.push(await ask(s.nc, `${subj}.R1.D`, { peer: d.cluster?.leader }));
        answers.push(await ask(s.nc, `${subj}.R1.D`, { peer: s.servers.find((n) => n !== d.cluster?.leader) }));
      }
      assert.deepEqual(answers.slice(0, 3), answers.slice(3), `${kind} with no server to take the place: tsnats vs nats-server`);
      assert.equal(answers[0]?.error?.err_code, 10075);
      assert.equal(answers[2]?.error?.err_code, 10040);
    }

    // A single-replica durable of a replicated stream moves to another server of the stream, with
    // its state (it had delivered and acknowledged 3), and goes on delivering.
    for (const s of sides) {
      for (let i = 1; i <= 3; i++) assert.equal(await pullOne(s.nc, "S", "ONE"), i, s.label);
      await waitUntil(async () => (await info(s.nc, "$JS.API.CONSUMER.INFO.S.ONE")).ack_floor?.stream_seq === 3, 30_000, `${s.label}: ONE's acks`);
      const stream = serversOf(await info(s.nc, "$JS.API.STREAM.INFO.S"));
      const from = (await info(s.nc, "$JS.API.CONSUMER.INFO.S.ONE")).cluster?.leader ?? "";
      const other = s.servers.find((n) => n !== from) as string;
      assert.deepEqual(await ask(s.nc, "$JS.API.CONSUMER.PEER.EVACUATE.S.ONE", { peer: other }), { type: "io.nats.jetstream.api.v1.consumer_evacuate_peer_response", error: { code: 400, err_code: 10040, description: "peer not a member" } }, s.label);
      assert.deepEqual(await ask(s.nc, "$JS.API.CONSUMER.PEER.EVACUATE.S.ONE", { peer: from }), { type: "io.nats.jetstream.api.v1.consumer_evacuate_peer_response", success: true }, s.label);
      let now: Answer | undefined;
      await waitUntil(async () => {
        now = await info(s.nc, "$JS.API.CONSUMER.INFO.S.ONE");
        const at = now.cluster?.leader ?? "";
        return at !== "" && at !== from;
      }, 60_000, `${s.label}: ONE off ${from}`, () => JSON.stringify(now?.cluster));
      assert.ok(stream.includes(now?.cluster?.leader ?? ""), `${s.label}: ONE on a server of its stream (${JSON.stringify(now?.cluster)})`);
      assert.equal(now?.delivered?.stream_seq, 3, `${s.label}: ONE keeps its state`);
      assert.equal(await pullOne(s.nc, "S", "ONE"), 4, `${s.label}: ONE delivers from where it was`);
      const stateOf = await info(s.nc, "$JS.API.STREAM.INFO.S");
      assert.equal(stateOf.state?.messages, 10, s.label);
    }
  } finally {
    await stop();
  }
});

test("CONSUMER.PEER.REMOVE outside a cluster: clustering required, as nats-server 2.15 answers", { timeout: 60_000 }, async () => {
  const srv = await startTestServer({ jetstream: true });
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ port: srv.port });
    for (const [subject, type] of [
      ["$JS.API.CONSUMER.PEER.REMOVE.S.C", "consumer_remove_peer_response"],
      ["$JS.API.CONSUMER.PEER.EVACUATE.S.C", "consumer_evacuate_peer_response"],
      ["$JS.API.STREAM.PEER.EVACUATE.S", "stream_evacuate_peer_response"],
    ]) {
      assert.deepEqual(await ask(nc, subject, { peer: "X" }), { type: `io.nats.jetstream.api.v1.${type}`, error: { code: 503, err_code: 10010, description: "JetStream clustering support required" } }, subject);
    }
  } finally {
    await nc?.close();
    await srv.close();
  }
});

/** A stream's servers once `from` left them and every one is current; its info then. */
async function waitOff(s: Side, stream: string, from: string, replicas: number): Promise<Answer> {
  let now: Answer | undefined;
  await waitUntil(async () => {
    now = await info(s.nc, `$JS.API.STREAM.INFO.${stream}`);
    const servers = serversOf(now);
    return servers.length === replicas && !servers.includes(from) && (now.cluster?.replicas ?? []).every((r) => r.current);
  }, 120_000, `${s.label}: ${stream} off ${from}`, () => JSON.stringify(now?.cluster));
  return now as Answer;
}

/** A replicated durable on the same servers as its stream. */
async function waitConsumerOn(s: Side, stream: string, consumer: string, servers: string[]): Promise<void> {
  let now: Answer | undefined;
  await waitUntil(async () => {
    now = await info(s.nc, `$JS.API.CONSUMER.INFO.${stream}.${consumer}`);
    return JSON.stringify(serversOf(now)) === JSON.stringify(servers);
  }, 120_000, `${s.label}: ${stream} > ${consumer} on ${servers.join(", ")}`, () => JSON.stringify(now?.cluster));
}

test("STREAM.PEER.EVACUATE and SERVER.EVACUATE as nats-server 2.15 answers them: the streams and their consumers move off the server, nothing lost", { timeout: 600_000 }, async (t) => {
  const started = await startSides();
  if (started === undefined) return t.skip("nats-server 2.15 is not installed");
  const { sides, stop } = started;
  try {
    for (const s of sides) {
      for (const [name, replicas] of [["E", 3], ["F", 3], ["ALL", 4], ["ONE", 1]] as const) {
        assert.equal((await ask(s.nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: replicas }))?.error, undefined, s.label);
        assert.equal((await ask(s.nc, `$JS.API.CONSUMER.CREATE.${name}.C`, { stream_name: name, config: { durable_name: "C", ack_policy: "explicit" } }))?.error, undefined, s.label);
        for (let i = 1; i <= 10; i++) assert.equal((await ask(s.nc, `${name.toLowerCase()}.x`, `m${i}`))?.error, undefined, s.label);
      }
    }

    // ---- STREAM.PEER.EVACUATE ----
    const subj = "$JS.API.STREAM.PEER.EVACUATE";
    await same(sides, "nc", `${subj}.E`, undefined, "without a body");
    await same(sides, "nc", `${subj}.E`, {}, "without a peer");
    await same(sides, "nc", `${subj}.E`, "{x", "with bad JSON");
    await same(sides, "nc", `${subj}.E`, { peer: "NOPE" }, "of a server not in the stream's group");
    await same(sides, "nc", `${subj}.NOPE`, { peer: "NOPE" }, "of a missing stream");
    await same(sides, "sys", `${subj}.E`, { peer: "NOPE" }, "from the system account");
    const full: Array<Answer | undefined> = [];
    for (const s of sides) full.push(await ask(s.nc, `${subj}.ALL`, { peer: s.servers[0] }));
    assert.deepEqual(full[0], full[1], "with no server to take the place: tsnats vs nats-server");
    assert.equal(full[0]?.error?.err_code, 10075);

    for (const s of sides) {
      // The durable had delivered and acknowledged 2 before the stream moved.
      for (let i = 1; i <= 2; i++) assert.equal(await pullOne(s.nc, "E", "C"), i, s.label);
      const from = (await info(s.nc, "$JS.API.STREAM.INFO.E")).cluster?.leader ?? "";
      // The account hears that the stream changed (io.nats.jetstream.advisory.v1.stream_action, modify).
      const updated: string[] = [];
      const advSub = s.nc.subscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.E", {
        callback: (_e, m) => {
          updated.push((JSON.parse(m.string()) as { action?: string }).action ?? "");
        },
      });
      await s.nc.flush();
      assert.deepEqual(await ask(s.nc, `${subj}.E`, { peer: from }), { type: "io.nats.jetstream.api.v1.stream_evacuate_peer_response", success: true }, s.label);
      const now = await waitOff(s, "E", from, 3);
      await waitUntil(() => updated.length > 0, 30_000, `${s.label}: a STREAM.UPDATED advisory of E`);
      assert.equal(updated[0], "modify", s.label);
      advSub.unsubscribe();
      assert.equal(now.state?.messages, 10, s.label);
      await waitConsumerOn(s, "E", "C", serversOf(now));
      assert.equal(await pullOne(s.nc, "E", "C"), 3, `${s.label}: E > C delivers from where it was`);
      // A single replica moves too, with its messages and its consumer.
      const one = (await info(s.nc, "$JS.API.STREAM.INFO.ONE")).cluster?.leader ?? "";
      assert.deepEqual(await ask(s.nc, `${subj}.ONE`, { peer: one }), { type: "io.nats.jetstream.api.v1.stream_evacuate_peer_response", success: true }, s.label);
      const moved = await waitOff(s, "ONE", one, 1);
      assert.equal(moved.state?.messages, 10, s.label);
      assert.equal(await pullOne(s.nc, "ONE", "C"), 1, `${s.label}: ONE > C delivers`);
    }

    // ---- SERVER.EVACUATE: the system account's, answered by the meta leader ----
    await same(sides, "nc", "$JS.API.SERVER.EVACUATE", { peer: "NOPE" }, "SERVER.EVACUATE from an account (nobody answers)");
    await same(sides, "sys", "$JS.API.SERVER.EVACUATE", undefined, "SERVER.EVACUATE without a body");
    await same(sides, "sys", "$JS.API.SERVER.EVACUATE", {}, "SERVER.EVACUATE without a server");
    await same(sides, "sys", "$JS.API.SERVER.EVACUATE", "{x", "SERVER.EVACUATE with bad JSON");
    await same(sides, "sys", "$JS.API.SERVER.EVACUATE", { peer: "NOPE" }, "SERVER.EVACUATE of an unknown server");
    await same(sides, "sys", "$JS.API.SERVER.EVACUATE", { peer_id: "NOPE" }, "SERVER.EVACUATE of an unknown peer id");
    // A request that needs a higher API level than the server's: tsnats' meta leader refuses it
    // (412, 10185, as nats-server's source means to); nats-server 2.15.1 answers no system
    // request that carries headers at all.
    for (const s of sides) {
      for (const subject of ["$JS.API.SERVER.EVACUATE", "$JS.API.SERVER.REMOVE", "$JS.API.META.LEADER.STEPDOWN"]) {
        const h = headers();
        h.set("Nats-Required-Api-Level", "99");
        const answer = await s.sys
          .request(subject, JSON.stringify({ peer: s.servers[0] }), { timeout: 3000, headers: h })
          .then((m) => JSON.parse(m.string()) as Answer)
          .catch(() => undefined);
        if (s.label === "tsnats") assert.deepEqual(answer?.error, { code: 412, err_code: 10185, description: "JetStream minimum api level required" }, subject);
        else assert.equal(answer, undefined, `${s.label}: ${subject} with headers`);
      }
    }
    for (const s of sides) {
      const x = (await info(s.nc, "$JS.API.STREAM.INFO.F")).cluster?.leader ?? "";
      assert.deepEqual(await ask(s.sys, "$JS.API.SERVER.EVACUATE", { peer: x }), { type: "io.nats.jetstream.api.v1.meta_server_evacuate_response", success: true }, s.label);
      // F gets another server in its place; ALL (on every server) goes on without it.
      const f = await waitOff(s, "F", x, 3);
      assert.equal(f.state?.messages, 10, s.label);
      await waitConsumerOn(s, "F", "C", serversOf(f));
      assert.equal(await pullOne(s.nc, "F", "C"), 1, `${s.label}: F > C delivers`);
      const all = await waitOff(s, "ALL", x, 3);
      assert.equal(all.state?.messages, 10, s.label);
      // The server stays in the cluster: a new stream may be placed on it.
      assert.equal((await ask(s.nc, "$JS.API.STREAM.CREATE.NEW", { name: "NEW", subjects: ["new.>"], num_replicas: 4 }))?.error, undefined, s.label);
    }
  } finally {
    await stop();
  }
});
