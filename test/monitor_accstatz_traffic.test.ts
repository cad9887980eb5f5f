// accstatz counts an account's traffic as nats-server 2.15 does, side by side: received is what
// came in from the account's clients and from other servers (by kind), never the server's own
// publishes (JetStream API answers); sent is what went out to clients and to other servers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

type J = Record<string, any>;

async function accStat(s: ReferenceServer, acc = "$G"): Promise<J> {
  const r = (await (await fetch(`${s.monitorUrl}/accstatz?accounts=${encodeURIComponent(acc)}&unused=1`)).json()) as J;
  const a = (r.account_statz as J[]).find((x) => x.acc === acc) as J;
  return { sent: a.sent, received: a.received };
}

async function traffic(line: "tsnats" | "2.15"): Promise<{ single: J; routed: J[] }> {
  // One server: ten publishes with a subscriber, one JetStream API request.
  const one = await startNatsServer(["-js", "-m", "-1"], undefined, line);
  let single: J;
  try {
    const nc = await connect({ port: one.port });
    try {
      let got = 0;
      nc.subscribe("foo", { callback: () => void got++ });
      for (let i = 0; i < 10; i++) nc.publish("foo", "hello");
      await nc.request("$JS.API.INFO", "", { timeout: 5000 });
      await nc.flush();
      await waitUntil(async () => got === 10, 10_000);
      single = await accStat(one);
    } finally {
      await nc.close();
    }
  } finally {
    await one.stop();
  }

  // Two servers on a route: a subscriber on the first, a publisher on the second.
  const [p1, p2] = [await freePort(), await freePort()];
  const routes = `routes: [nats://127.0.0.1:${p1}, nats://127.0.0.1:${p2}]`;
  const servers = await Promise.all([p1, p2].map((p, i) => startNatsServer(["-m", "-1"], `server_name: R${i + 1}\ncluster { name: AZ, listen: 127.0.0.1:${p}, ${routes} }\n`, line)));
  const conns: NatsConnection[] = [];
  try {
    const [a, b] = [await connect({ port: servers[0].port }), await connect({ port: servers[1].port })];
    conns.push(a, b);
    let got = 0;
    a.subscribe("foo", { callback: () => void got++ });
    await a.flush();
    // The subscription is known on the second server once a probe gets through.
    await waitUntil(async () => {
      b.publish("foo", "probe");
      await b.flush();
      return got > 0;
    }, 20_000);
    await waitUntil(async () => {
      const s2 = await accStat(servers[1]);
      const s1 = await accStat(servers[0]);
      return s1.received.msgs === s2.sent.routes.msgs && s1.sent.msgs === got;
    }, 30_000);
    const before = await Promise.all(servers.map((s) => accStat(s)));
    // Counted before publishing: the messages can reach `a` before `b`'s flush returns.
    const target = got + 5;
    for (let i = 0; i < 5; i++) b.publish("foo", "hello");
    for (let i = 0; i < 3; i++) b.publish("bar", "nobody");
    await b.flush();
    await waitUntil(async () => got >= target, 30_000);
    assert.equal(got, target, "each message delivered once");
    await waitUntil(async () => (await accStat(servers[0])).sent.msgs - before[0].sent.msgs >= 5, 30_000);
    const after = await Promise.all(servers.map((s) => accStat(s)));
    const delta = (x: J, y: J): J => {
      const out: J = {};
      for (const dir of ["sent", "received"]) {
        out[dir] = { msgs: y[dir].msgs - x[dir].msgs, bytes: y[dir].bytes - x[dir].bytes };
        for (const k of ["routes", "gateways", "leafs"]) out[dir][k] = { msgs: y[dir][k].msgs - x[dir][k].msgs, bytes: y[dir][k].bytes - x[dir][k].bytes };
      }
      return out;
    };
    return { single, routed: after.map((x, i) => delta(before[i], x)) };
  } finally {
    for (const c of conns) await c.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

test("accstatz: received and sent by kind, without the server's own publishes", async () => {
  const ours = await traffic("tsnats");
  // Ten publishes and one API request (empty body) came in; the API answer is not received from anyone.
  assert.deepEqual(ours.single.received.msgs, 11);
  assert.deepEqual(ours.single.received.bytes, 50);
  // The second server received eight from its client and sent five across the route; the first
  // received those five from the route and sent them to its subscriber.
  assert.equal(ours.routed[1].received.msgs, 8);
  assert.deepEqual(ours.routed[1].sent.routes, { msgs: 5, bytes: 25 });
  assert.deepEqual(ours.routed[0].received.routes, { msgs: 5, bytes: 25 });
  assert.equal(ours.routed[0].sent.msgs, 5);
  if (referenceBinary("2.15") === undefined) return;
  assert.deepEqual(ours, await traffic("2.15"));
});
