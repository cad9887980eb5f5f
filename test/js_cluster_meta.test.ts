// JetStream in a cluster of three tsnats servers (src/jetstream/cluster.ts): the meta group
// places streams, the $JS.API answers the same from every server (the meta leader for the set of
// streams, the stream's server for the rest), META.LEADER.STEPDOWN moves the leadership (to a
// preferred server too), /jsz shows meta_cluster, and a stream survives a restart of its server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

async function clients(c: JsTestCluster): Promise<{ ncs: NatsConnection[]; jsms: JetStreamManager[] }> {
  const ncs = await Promise.all(c.members.map((m) => connect({ servers: m.url, timeout: 20_000 })));
  // Generous timeouts: on a loaded machine an election may hold requests for a few seconds.
  const jsms = await Promise.all(ncs.map((nc) => jetstreamManager(nc, { timeout: 20_000 })));
  return { ncs, jsms };
}

test("JetStream cluster of 3: placement, the API from every server, stepdown, /jsz meta_cluster, a restart", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { withSystemUser: true });
  let ncs: NatsConnection[] = [];
  let sysNcs: NatsConnection[] = [];
  try {
    const leader = await c.metaLeader();
    const conn = await clients(c);
    ncs = conn.ncs;
    const { jsms } = conn;

    // Three streams created through three different servers land on three different servers.
    const owners = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const si = await jsms[i].streams.add({ name: `ORDERS${i}`, subjects: [`orders${i}.>`] });
      assert.equal(si.config.name, `ORDERS${i}`);
      assert.equal(si.cluster?.name, "JSC");
      assert.ok(si.cluster?.leader, "the create answer names the stream's server");
      owners.add(si.cluster?.leader as string);
    }
    assert.equal(owners.size, 3, "placement spreads the streams");

    // The same stream name again: the same config is fine, another is refused; overlapping subjects are refused.
    const again = await jsms[2].streams.add({ name: "ORDERS0", subjects: ["orders0.>"] });
    assert.equal(again.config.name, "ORDERS0");
    await assert.rejects(jsms[1].streams.add({ name: "ORDERS0", subjects: ["other.>"] }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10058);
    await assert.rejects(jsms[1].streams.add({ name: "OVERLAP", subjects: ["orders1.x"] }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10065);
    // Placement that no server matches.
    await assert.rejects(jsms[0].streams.add({ name: "ELSEWHERE", subjects: ["else.>"], placement: { cluster: "nope", tags: [] } }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10005);

    // Publish through any server; every server answers info with the same state.
    const js = jetstream(ncs[0], { timeout: 20_000 });
    for (let i = 0; i < 3; i++) for (let k = 0; k < 5; k++) assert.equal((await js.publish(`orders${i}.new`, `o${k}`)).stream, `ORDERS${i}`);
    for (const jsm of jsms) {
      for (let i = 0; i < 3; i++) {
        const si = await jsm.streams.info(`ORDERS${i}`);
        assert.equal(si.state.messages, 5);
      }
      assert.deepEqual((await jsm.streams.names().next()).sort(), ["ORDERS0", "ORDERS1", "ORDERS2"]);
      const list = await jsm.streams.list().next();
      assert.deepEqual(list.map((s) => [s.config.name, s.state.messages]).sort(), [["ORDERS0", 5], ["ORDERS1", 5], ["ORDERS2", 5]]);
    }
    await assert.rejects(jsms[1].streams.info("NOPE"), (e: unknown) => e instanceof JetStreamApiError && e.code === 10059);

    // A consumer on any server's client, on a stream held elsewhere.
    await jsms[2].consumers.add("ORDERS0", { durable_name: "C", ack_policy: "explicit" });
    const cons = await jetstream(ncs[1], { timeout: 20_000 }).consumers.get("ORDERS0", "C");
    const m = await cons.next({ expires: 5000 });
    assert.equal(m?.string(), "o0");
    m?.ack();

    // Delete through a server that does not hold it.
    assert.equal(await jsms[0].streams.delete("ORDERS1"), true);
    for (const jsm of jsms) assert.deepEqual((await jsm.streams.names().next()).sort(), ["ORDERS0", "ORDERS2"]);
    await assert.rejects(jsms[2].streams.info("ORDERS1"), (e: unknown) => e instanceof JetStreamApiError && e.code === 10059);

    // /jsz meta_cluster on the leader.
    const jsz = (await (await fetch(`${c.member(leader).srv?.monitorUrl}/jsz`)).json()) as { meta_cluster: { name: string; leader: string; cluster_size: number; replicas?: Array<{ name: string; current: boolean }> } };
    assert.equal(jsz.meta_cluster.name, "JSC");
    assert.equal(jsz.meta_cluster.leader, leader);
    assert.equal(jsz.meta_cluster.cluster_size, 3);
    assert.deepEqual(jsz.meta_cluster.replicas?.map((r) => r.name).sort(), c.members.map((x) => x.name).filter((n) => n !== leader).sort());

    // META.LEADER.STEPDOWN: from another account nobody answers it (as nats-server); from a
    // system account client of any server it moves the leadership, then to a preferred server.
    await assert.rejects(ncs[1].request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 1000 }), /TIMEOUT/i);
    sysNcs = await Promise.all(c.members.map((x) => connect({ servers: x.url, user: "sys", pass: "sys", timeout: 20_000 })));
    const sysInfo = JSON.parse((await sysNcs[2].request("$JS.API.INFO", "", { timeout: 20_000 })).string()) as { type: string; error?: { err_code: number } };
    assert.deepEqual([sysInfo.type, sysInfo.error?.err_code], ["io.nats.jetstream.api.v1.account_info_response", 10039]);
    const sysNames = JSON.parse((await sysNcs[0].request("$JS.API.STREAM.NAMES", "", { timeout: 20_000 })).string()) as { type: string; error?: { err_code: number } };
    assert.deepEqual([sysNames.type, sysNames.error?.err_code], ["io.nats.jetstream.api.v1.system_response", 10039]);
    const r1 = JSON.parse((await sysNcs[1].request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 20_000 })).string()) as { type: string; success?: boolean };
    assert.deepEqual(r1, { type: "io.nats.jetstream.api.v1.meta_leader_stepdown_response", success: true });
    const second = await waitForNewLeader(c, leader);
    const preferred = c.members.map((x) => x.name).find((n) => n !== second) as string;
    const r2 = JSON.parse((await sysNcs[0].request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred } }), { timeout: 20_000 })).string()) as { success?: boolean };
    assert.equal(r2.success, true);
    assert.equal(await waitForNewLeader(c, second), preferred);
    const bad = JSON.parse((await sysNcs[0].request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred: "NOBODY" } }), { timeout: 20_000 })).string()) as { error?: { err_code: number; description: string } };
    assert.deepEqual(bad.error, { code: 400, err_code: 10005, description: 'preferred server "NOBODY" not known' });
    const self = JSON.parse((await sysNcs[0].request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred } }), { timeout: 20_000 })).string()) as { error?: { err_code: number; description: string } };
    assert.deepEqual(self.error, { code: 400, err_code: 10005, description: `preferred server "${preferred}" is already leader` });
    const badJson = JSON.parse((await sysNcs[0].request("$JS.API.META.LEADER.STEPDOWN", "{x", { timeout: 20_000 })).string()) as { error?: { err_code: number; description: string } };
    assert.equal(badJson.error?.description, "invalid JSON: invalid character 'x' looking for beginning of object key string at offset 2");
    const noTags = JSON.parse((await sysNcs[0].request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { tags: ["zzz"] } }), { timeout: 20_000 })).string()) as { error?: { err_code: number; description: string } };
    assert.equal(noTags.error?.description, "no replacement peer connected");
    for (const nc of sysNcs) await nc.close();
    sysNcs = [];

    // More replicas than servers: no placement (as nats-server answers).
    await assert.rejects(jsms[0].streams.add({ name: "R5", subjects: ["r5.>"], num_replicas: 5 }), (e: unknown) => e instanceof JetStreamApiError && e.code === 10005);

    // Restart the server holding ORDERS2: its messages and the assignment survive.
    const owner2 = (await jsms[0].streams.info("ORDERS2")).cluster?.leader as string;
    for (const nc of ncs) await nc.close();
    ncs = [];
    await c.stopMember(owner2);
    await c.startMember(owner2);
    await c.metaLeader();
    // The restarted server's routes come up one pool connection at a time (the meta group's
    // account may be connected before the clients' one): ask until the answers come.
    const other = c.members.find((x) => x.name !== owner2) as { url: string };
    const nc = await connect({ servers: other.url, timeout: 20_000 });
    ncs = [nc];
    let info: Awaited<ReturnType<JetStreamManager["streams"]["info"]>> | undefined;
    const deadline = Date.now() + 30_000;
    while (info === undefined && Date.now() < deadline) {
      info = await jetstreamManager(nc, { timeout: 2000 })
        .then((jsm) => jsm.streams.info("ORDERS2"))
        .catch(() => undefined);
    }
    assert.ok(info !== undefined, "ORDERS2 answered after the restart of its server");
    assert.equal(info.state.messages, 5);
    assert.equal(info.cluster?.leader, owner2);
    const jsmOther = await jetstreamManager(nc, { timeout: 20_000 });
    assert.deepEqual((await jsmOther.streams.names().next()).sort(), ["ORDERS0", "ORDERS2"]);
  } finally {
    for (const nc of [...ncs, ...sysNcs]) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

test("JetStream cluster of 3 whose route lists name every server, itself included (as shared nats-server configs do): a meta group of 3 and an R3 stream", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { routesIncludeSelf: true });
  let ncs: NatsConnection[] = [];
  try {
    const leader = await c.metaLeader();
    const conn = await clients(c);
    ncs = conn.ncs;
    const jsz = (await (await fetch(`${c.member(leader).srv?.monitorUrl}/jsz`)).json()) as { meta_cluster: { cluster_size: number } };
    assert.equal(jsz.meta_cluster.cluster_size, 3, "the server's own route is not a peer");
    const si = await conn.jsms[1].streams.add({ name: "SELFR", subjects: ["selfr.>"], num_replicas: 3 });
    assert.equal(si.config.num_replicas, 3);
    const ack = await jetstream(ncs[2], { timeout: 20_000 }).publish("selfr.a", "x");
    assert.equal(ack.seq, 1);
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

async function waitForNewLeader(c: JsTestCluster, old: string): Promise<string> {
  let now = old;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    now = await c.metaLeader();
    if (now !== old) return now;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the meta leader stayed ${old}`);
}

test("The meta leader's server stops: account info and stream names asked of the others at once are answered by the next meta leader, not left unanswered", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    const leader = await c.metaLeader();
    const others = c.members.filter((m) => m.name !== leader);
    for (const m of others) ncs.push(await connect({ servers: m.url, timeout: 20_000 }));
    const before = await jetstreamManager(ncs[0], { timeout: 20_000 });
    await before.streams.add({ name: "M1", subjects: ["m1.>"], num_replicas: 3 });
    await c.stopMember(leader);
    // Sent while the others still count on the stopped leader (their election timeout has not
    // passed): they hold the requests until a new leader is elected, which answers them.
    const answers = await Promise.all(
      ncs.flatMap((nc) => [
        nc.request("$JS.API.INFO", "", { timeout: 20_000 }).then((m) => m.json<{ streams?: number; error?: unknown }>()),
        nc.request("$JS.API.STREAM.NAMES", "", { timeout: 20_000 }).then((m) => m.json<{ streams?: string[] | null; error?: unknown }>()),
      ]),
    );
    for (const [i, a] of answers.entries()) {
      assert.equal(a.error, undefined, `answer ${i} is not an error: ${JSON.stringify(a)}`);
      if (i % 2 === 0) assert.equal((a as { streams?: number }).streams, 1);
      else assert.deepEqual((a as { streams?: string[] }).streams, ["M1"]);
    }
    const now = c.members.filter((m) => m.srv !== undefined).find((m) => c.js(m.name).cluster?.isLeader === true);
    assert.ok(now !== undefined && now.name !== leader, "a new meta leader answered");
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});

test("Account info and stream names asked while the meta leadership moves (stepdowns) are all answered", { timeout: 180_000 }, async () => {
  const c = await JsTestCluster.start(3, "JSC", { withSystemUser: true });
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    for (const m of c.members) ncs.push(await connect({ servers: m.url, user: "a", pass: "a", timeout: 20_000 }));
    const sys = await connect({ servers: c.members[0].url, user: "sys", pass: "sys", timeout: 20_000 });
    ncs.push(sys);
    await (await jetstreamManager(ncs[0], { timeout: 20_000 })).streams.add({ name: "H1", subjects: ["h1.>"], num_replicas: 3 });
    // Answers counted per reply subject: each request gets one (a read the old leader answered
    // just before it stepped down, and that a server held meanwhile, may get a second).
    const counts = new Map<string, number>();
    const errors: string[] = [];
    const subs = ncs.slice(0, 3).map((nc, i) => {
      const sub = nc.subscribe(`held.${i}.>`);
      void (async () => {
        for await (const m of sub) {
          counts.set(m.subject, (counts.get(m.subject) ?? 0) + 1);
          const err = (m.json<{ error?: unknown }>()).error;
          if (err !== undefined) errors.push(JSON.stringify(err));
        }
      })();
      return sub;
    });
    for (const nc of ncs.slice(0, 3)) await nc.flush();
    let sent = 0;
    for (let round = 0; round < 4; round++) {
      const leader = await c.metaLeader();
      // Requests before, during and after the stepdown, from clients of every server.
      const stepdown = sys.request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 20_000 });
      for (let k = 0; k < 25; k++) {
        for (const [i, nc] of ncs.slice(0, 3).entries()) {
          nc.publish(k % 2 === 0 ? "$JS.API.INFO" : "$JS.API.STREAM.NAMES", "", { reply: `held.${i}.${round}.${k}` });
          sent++;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      const answer = JSON.parse((await stepdown).string()) as { success?: boolean };
      assert.equal(answer.success, true);
      await waitUntil(() => c.js(leader).cluster?.leader !== leader && c.js(leader).cluster?.leader !== "", 20_000, "a new meta leader");
    }
    await waitUntil(() => counts.size === sent, 30_000, `every one of ${sent} requests answered`);
    assert.deepEqual(errors, [], "no error answers");
    for (const s of subs) s.unsubscribe();
  } finally {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await c.stop();
  }
});
