// A client's consumer requests sent to a server restarted alone, before it has any route: the
// server holds them (no meta leader known) and, once it knows one, decides them again. The stream
// is held by another server, which never got them (no route led there when they arrived): the
// requests that are the same when repeated (a create naming its consumer, a delete) are relayed
// to it (api_relay.ts) and answered within the client's timeout; so is an unnamed ephemeral's
// create (run by a server that heard it too it would make a second consumer, but it arrived while
// S2 had no route: nobody else heard it), run once by the stream's server. nats-server 2.15.1
// leaves it unanswered (live: a server restarted alone drops a consumer create that comes within
// its first 10 s, it is not the meta leader, and the client times out; after 10 s alone it
// answers 10008 at once, as tsnats does). Three tsnats servers over real routes, nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, managerOn, pauseRaft, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import type { JsCluster } from "../src/jetstream/cluster.js";

const TAGS = { S1: ["at:1"], S2: ["at:2"], S3: ["at:3"] };
/** The client's timeout for each request: the others start and elect a meta leader well within it. */
const TIMEOUT_MS = 15_000;

/** A raw `$JS.API` request: its JSON answer, or "timeout". */
async function ask(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown> | "timeout"> {
  try {
    const m = await nc.request(`$JS.API.${subject}`, JSON.stringify(body), { timeout: TIMEOUT_MS });
    return m.json<Record<string, unknown>>();
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || /timeout/i.test((err as Error).message)) return "timeout";
    return { error: (err as Error).message };
  }
}

/** How many requests `server` holds for a meta leader. */
function heldOn(c: JsTestCluster, server: string): number {
  return (c.js(server).cluster as unknown as { waiting: unknown[] }).waiting.length;
}

type Answer = Promise<Record<string, unknown> | "timeout">;
/** The requests that name their consumer or delete one: relayed, and answered. */
interface NamedRequests {
  named: Promise<string>;
  legacyDurable: Answer;
  bodyNamed: Answer;
  deleted: Answer;
}

/**
 * Sends the five requests of both tests through `nc` (connected to S2, alone): creates of D
 * (subject), B (legacy durable subject), E (config), the delete of X and an unnamed ephemeral's
 * create; returns once S2 holds them all.
 */
async function sendHeldRequests(c: JsTestCluster, nc: NatsConnection): Promise<NamedRequests & { sent: number; ephemeral: Answer }> {
  const jsm2 = await jetstreamManager(nc, { timeout: TIMEOUT_MS, checkAPI: false });
  const sent = Date.now();
  const named = jsm2.consumers.add("O", { durable_name: "D", ack_policy: AckPolicy.Explicit }).then(
    (ci) => ci.name,
    (err: Error) => `error: ${err.message}`,
  );
  const legacyDurable = ask(nc, "CONSUMER.DURABLE.CREATE.O.B", { stream_name: "O", config: { durable_name: "B", ack_policy: "explicit" } });
  const bodyNamed = ask(nc, "CONSUMER.CREATE.O", { stream_name: "O", config: { name: "E", ack_policy: "none", inactive_threshold: 60_000_000_000 } });
  const deleted = ask(nc, "CONSUMER.DELETE.O.X", {});
  const ephemeral = ask(nc, "CONSUMER.CREATE.O", { stream_name: "O", config: { ack_policy: "none", inactive_threshold: 60_000_000_000 } });
  await waitUntil(() => heldOn(c, "S2") === 5, 10_000, "S2 holds the five requests");
  return { sent, named, legacyDurable, bodyNamed, deleted, ephemeral };
}

/** Each named create is answered with its consumer's info, the delete with success, within the client's timeout. */
async function namedAnswered(r: NamedRequests, sent: number): Promise<void> {
  assert.equal(await r.named, "D", "the create naming D in its subject is answered with D's info");
  const b = await r.legacyDurable;
  assert.ok(b !== "timeout" && (b.name as string) === "B", `the durable create (legacy subject) naming B is answered with B's info: ${JSON.stringify(b)}`);
  const e = await r.bodyNamed;
  assert.ok(e !== "timeout" && (e.name as string) === "E", `the create naming E in its config is answered with E's info: ${JSON.stringify(e)}`);
  const d = await r.deleted;
  assert.ok(d !== "timeout" && d.success === true, `the delete of X is answered: ${JSON.stringify(d)}`);
  assert.ok(Date.now() - sent < TIMEOUT_MS, "answered within the client's timeout");
}

test("consumer creates naming their consumer (subject, legacy durable subject, config), an unnamed ephemeral's create and deletes, held by a server restarted alone before any route, are answered by the stream's server once a meta leader is known, each run once", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { serverTags: TAGS });
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { jsm } = await managerOn(c.members[0].url, ncs);
    await jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 1, placement: { tags: ["at:1"] } as never });
    await jsm.consumers.add("O", { durable_name: "X", ack_policy: AckPolicy.Explicit });
    for (const nc of ncs.splice(0)) await nc.close();
    for (const m of c.members) await c.stopMember(m.name);

    // S2 alone: no route, no meta leader. Its client's requests are held there.
    await c.startMember("S2");
    const nc = await connect({ servers: c.member("S2").url });
    ncs.push(nc);
    const { sent, ephemeral, ...named } = await sendHeldRequests(c, nc);

    await Promise.all([c.startMember("S1"), c.startMember("S3")]);
    await namedAnswered(named, sent);
    const eph = await ephemeral;
    assert.ok(eph !== "timeout" && typeof eph.name === "string" && eph.name !== "" && eph.error === undefined, `the unnamed ephemeral's create is relayed and answered with its info: ${JSON.stringify(eph)}`);
    assert.ok(Date.now() - sent < TIMEOUT_MS, "answered within the client's timeout");

    // Each consumer once, on the stream's server (S1): D, B, E and the ephemeral, X gone.
    const cluster = c.js("S1").cluster as JsCluster;
    await waitUntil(() => cluster.leader !== "", 10_000, "a meta leader");
    const { jsm: jsm1 } = await managerOn(c.member("S1").url, ncs);
    const names: string[] = [];
    for await (const ci of jsm1.consumers.list("O")) names.push(ci.name);
    const expected = ["B", "D", "E", eph.name as string].sort();
    assert.deepEqual(names.sort(), expected);
    assert.deepEqual([...(streamOn(c, "S1", "O")?.consumers.keys() ?? [])].sort(), expected);
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});

// The same requests for an R3 stream, whose own group is still electing when they are decided
// after a full restart: its members (S2, which held them, and S1, to which they are relayed) have
// no leader then. They wait for the group's leader, up to an election's length, and its first
// leader runs those that are the same when repeated (the named creates, the delete); a member
// without a leader would have answered 10008 "temporarily unavailable" half a second after. S2's
// copy of the group is paused until well after that half second, then campaigns at once, so the
// election always ends inside the wait and after the half second.
test("held consumer creates naming their consumer and deletes of an R3 stream whose group is still electing when they are decided wait for its leader and are answered; an unnamed ephemeral's create gets 'temporarily unavailable'", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { serverTags: TAGS });
  const ncs: NatsConnection[] = [];
  let resume: (() => void) | undefined;
  try {
    await c.metaAllCurrent();
    const { jsm } = await managerOn(c.members[0].url, ncs);
    await jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 });
    await jsm.consumers.add("O", { durable_name: "X", ack_policy: AckPolicy.Explicit });
    for (const nc of ncs.splice(0)) await nc.close();
    for (const m of c.members) await c.stopMember(m.name);

    // S2 alone, its member of O's group paused (it neither votes nor campaigns).
    await c.startMember("S2");
    await waitUntil(() => streamOn(c, "S2", "O")?.replica !== undefined, 10_000, "S2 recovers its copy of O");
    const group2 = streamOn(c, "S2", "O")!.replica!;
    resume = pauseRaft(group2.node, true);
    const nc = await connect({ servers: c.member("S2").url });
    ncs.push(nc);
    const { sent, ephemeral, ...named } = await sendHeldRequests(c, nc);

    // S1 starts: a meta leader (S1 and S2), but O's group cannot elect (S2's member paused, S3 down).
    await c.startMember("S1");
    const decidedOnS1 = (): number => {
      const relay = (c.js("S1").cluster as unknown as { relay: { decided: Set<string> } }).relay;
      return relay.decided.size;
    };
    await waitUntil(() => heldOn(c, "S2") === 0 && decidedOnS1() >= 4, 15_000, "S2 decided the held requests again and S1 the four relayed");
    assert.equal(streamOn(c, "S1", "O")?.replica?.leader, "", "O's group has no leader on S1");
    // Past the half second after which a leaderless member answers 10008 on its own (the scenario's
    // timing, not a check: with any shorter pause the answers below are the same).
    await new Promise((r) => setTimeout(r, 1_000));
    resume();
    resume = undefined;
    group2.node.campaignNow();

    await namedAnswered(named, sent);
    const eph = await ephemeral;
    assert.ok(eph !== "timeout" && (eph.error as { err_code?: number } | undefined)?.err_code === 10008, `the unnamed ephemeral's create is not run again: 'temporarily unavailable': ${JSON.stringify(eph)}`);

    // Each consumer once: D, B and E, X gone, no unnamed ephemeral. The stream's consumer list
    // (answered by its leader) names E too, an R1 consumer that lives on one member only; the
    // durables are on both running members' copies.
    const { jsm: jsm1 } = await managerOn(c.member("S1").url, ncs);
    const names: string[] = [];
    for await (const ci of jsm1.consumers.list("O")) names.push(ci.name);
    assert.deepEqual(names.sort(), ["B", "D", "E"]);
    for (const s of ["S1", "S2"]) {
      await waitUntil(() => {
        const keys = [...(streamOn(c, s, "O")?.consumers.keys() ?? [])];
        return keys.includes("B") && keys.includes("D") && !keys.includes("X") && keys.every((k) => ["B", "D", "E"].includes(k));
      }, 10_000, `${s}'s copy of O has B and D, not X`);
    }
  } finally {
    resume?.();
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
