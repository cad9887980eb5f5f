// A client's consumer requests sent to a server restarted alone, before it has any route: the
// server holds them (no meta leader known) and, once it knows one, decides them again. The stream
// is held by another server, which never got them (no route led there when they arrived): the
// requests that are the same when repeated (a create naming its consumer, a delete) are relayed
// to it (api_relay.ts) and answered within the client's timeout; an unnamed ephemeral's create is
// not (run by a server that heard it too it would make a second consumer) and goes unanswered, as
// nats-server 2.15.1 leaves it (live: a server restarted alone drops every consumer create, it is
// not the meta leader, and the client times out). Three tsnats servers over real routes, nats.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, managerOn, streamOn } from "./helpers/js_cluster.js";
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

test("consumer creates naming their consumer (subject, legacy durable subject, config) and deletes, held by a server restarted alone before any route, are answered by the stream's server once a meta leader is known; an unnamed ephemeral's create is not run", { timeout: 120_000 }, async () => {
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
    const held = (): number => (c.js("S2").cluster as unknown as { waiting: unknown[] }).waiting.length;
    await waitUntil(() => held() === 5, 10_000, "S2 holds the five requests");

    await Promise.all([c.startMember("S1"), c.startMember("S3")]);
    assert.equal(await named, "D", "the create naming D in its subject is answered with D's info");
    const b = await legacyDurable;
    assert.ok(b !== "timeout" && (b.name as string) === "B", `the durable create (legacy subject) naming B is answered with B's info: ${JSON.stringify(b)}`);
    const e = await bodyNamed;
    assert.ok(e !== "timeout" && (e.name as string) === "E", `the create naming E in its config is answered with E's info: ${JSON.stringify(e)}`);
    const d = await deleted;
    assert.ok(d !== "timeout" && d.success === true, `the delete of X is answered: ${JSON.stringify(d)}`);
    assert.ok(Date.now() - sent < TIMEOUT_MS, "answered within the client's timeout");
    assert.equal(await ephemeral, "timeout", "the unnamed ephemeral's create is not relayed: no answer");

    // Each consumer once, on the stream's server (S1): D, B and E, X gone, no unnamed ephemeral.
    const cluster = c.js("S1").cluster as JsCluster;
    await waitUntil(() => cluster.leader !== "", 10_000, "a meta leader");
    const { jsm: jsm1 } = await managerOn(c.member("S1").url, ncs);
    const names: string[] = [];
    for await (const ci of jsm1.consumers.list("O")) names.push(ci.name);
    assert.deepEqual(names.sort(), ["B", "D", "E"]);
    assert.deepEqual([...(streamOn(c, "S1", "O")?.consumers.keys() ?? [])].sort(), ["B", "D", "E"]);
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
