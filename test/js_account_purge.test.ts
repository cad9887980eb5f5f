// $JS.API.ACCOUNT.PURGE.<account>: a system account user removes all of an account's
// JetStream (streams, consumers, the account's store directory). The same steps run on tsnats
// and on nats-server 2.15 and their answers must agree.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

const CONFIG = `
accounts {
  A: { jetstream: enabled, users: [{ user: a, password: a }] }
  B: { jetstream: enabled, users: [{ user: b, password: b }] }
  SYS: { users: [{ user: s, password: s }] }
}
system_account: SYS
`;

type Json = Record<string, unknown>;

async function ask(nc: NatsConnection, subject: string, body = ""): Promise<Json | string> {
  try {
    return (await nc.request(subject, body, { timeout: 2000 })).json<Json>();
  } catch (err) {
    return (err as Error).message.includes("no responders") ? "no responders" : `failed: ${(err as Error).message}`;
  }
}

/** What one server answers and holds through the purge steps. */
async function run(line: "tsnats" | "2.15"): Promise<Json> {
  const sd = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-purge-"));
  const srv = await startNatsServer(["-js", "-sd", sd], CONFIG, line);
  const url = `127.0.0.1:${srv.port}`;
  const a = await connect({ servers: url, user: "a", pass: "a" });
  const b = await connect({ servers: url, user: "b", pass: "b" });
  const sys = await connect({ servers: url, user: "s", pass: "s" });
  try {
    const jsmA = await jetstreamManager(a);
    const jsmB = await jetstreamManager(b);
    await jsmA.streams.add({ name: "F", subjects: ["f.>"] });
    await jsmA.streams.add({ name: "M", subjects: ["m.>"], storage: "memory" as never });
    await jsmA.consumers.add("F", { durable_name: "d" });
    await jsmB.streams.add({ name: "KEEP", subjects: ["k.>"] });
    for (let i = 0; i < 5; i++) {
      await a.request("f.x", "x");
      await b.request("k.x", "x");
    }
    const accountDir = (name: string): boolean => fs.readdirSync(path.join(sd)).some((d) => d === name || fs.existsSync(path.join(sd, d, name)));
    const out: Json = { dirBefore: accountDir("A") };
    out.fromAccount = await ask(a, "$JS.API.ACCOUNT.PURGE.A");
    out.purge = await ask(sys, "$JS.API.ACCOUNT.PURGE.A");
    out.separator = await ask(sys, "$JS.API.ACCOUNT.PURGE.x\\y");
    out.unknown = await ask(sys, "$JS.API.ACCOUNT.PURGE.NOPE");
    out.namesA = await ask(a, "$JS.API.STREAM.NAMES");
    out.dirAfter = accountDir("A");
    const keep = await jsmB.streams.info("KEEP");
    out.keep = keep.state.messages;
    // the account goes on: a new stream of the same name starts empty
    const again = await jsmA.streams.add({ name: "F", subjects: ["f.>"] });
    out.again = again.state.messages;
    await a.request("f.x", "y");
    out.againAfterPublish = (await jsmA.streams.info("F")).state.messages;
    return out;
  } finally {
    await a.close();
    await b.close();
    await sys.close();
    await srv.stop();
    fs.rmSync(sd, { recursive: true, force: true });
  }
}

/** Keep what must agree: answers without their volatile parts. */
function comparable(o: Json): Json {
  const names = o.namesA as Json;
  return { ...o, namesA: typeof names === "object" ? { streams: names.streams ?? null, total: names.total } : names };
}

describe("JetStream account purge", () => {
  it("removes the account's streams, consumers and store directory, answered as nats-server 2.15", async () => {
    const ours = await run("tsnats");
    assert.deepEqual(ours.purge, { type: "io.nats.jetstream.api.v1.account_purge_response", initiated: true });
    assert.equal(ours.dirBefore, true);
    assert.equal(ours.dirAfter, false);
    assert.equal(ours.keep, 5, "another account's streams stay");
    assert.equal(ours.again, 0);
    assert.equal(ours.againAfterPublish, 1);
    if (referenceBinary("2.15") === undefined) return;
    const ref = await run("2.15");
    assert.deepEqual(comparable(ours), comparable(ref));
  });

  it("in a cluster of three the meta leader deletes every stream of the account, on every server", async () => {
    const c = await JsTestCluster.start(3, "PURGE", { withSystemUser: true });
    try {
      await c.metaLeader();
      const a = await connect({ servers: c.member("S1").url, user: "a", pass: "a" });
      const sys = await connect({ servers: c.member("S2").url, user: "sys", pass: "sys" });
      try {
        const jsm = await jetstreamManager(a);
        await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
        await jsm.streams.add({ name: "R1", subjects: ["r1.>"] });
        await jsm.consumers.add("R3", { durable_name: "d" });
        for (let i = 0; i < 3; i++) await a.request("r3.x", "x", { timeout: 5000 });
        await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R3")?.state().msgs === 3), 10_000, "R3 on every server");
        assert.deepEqual(await ask(sys, "$JS.API.ACCOUNT.PURGE.$G"), { type: "io.nats.jetstream.api.v1.account_purge_response", initiated: true });
        await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "R3") === undefined && streamOn(c, m.name, "R1") === undefined), 10_000, "no stream left");
        assert.equal((await jsm.streams.names().next()).length, 0);
        const again = await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
        assert.equal(again.state.messages, 0);
      } finally {
        await a.close();
        await sys.close();
      }
    } finally {
      await c.stop();
    }
  });
});
