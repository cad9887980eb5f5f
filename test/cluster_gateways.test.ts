// Gateways between tsnats clusters: a super-cluster forms from one configured gateway (implicit
// gateways through gossip and routes), traffic is checked message by message (every message once
// and in order everywhere, accounts kept apart), queue groups prefer the local cluster, requests
// cross both ways with `_GR_.` routed replies that receivers never see, $SYS requests reach every
// server of every cluster, interest-only and optimistic modes, reject_unknown_cluster,
// authorization, wrong ports, and the monitoring endpoints.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import fs from "node:fs";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, waitForInterest, waitUntil } from "./helpers/cluster.js";
import { gatewaysOfTs, startRefGw, startTsGw, waitForSuperCluster, type GwMember } from "./helpers/gateways.js";
import { hasOpenssl, makePki, signLeaf, type Pki } from "./helpers/pki.js";
import { referenceBinary } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { leafNodesOf, type LeafNodes } from "../src/cluster/leafnodes.js";
import { optionsFromText as loadConfig } from "./helpers/config_server.js";

const ACCOUNTS = [
  { name: "SYS", users: [{ user: "sys", password: "sys" }] },
  { name: "A", users: [{ user: "a", password: "a" }] },
  { name: "B", users: [{ user: "b", password: "b" }] },
];
const AUTH = { accounts: ACCOUNTS, systemAccount: "SYS" };

async function stopAll(members: Array<GwMember | undefined>): Promise<void> {
  await Promise.all(members.map((m) => m?.stop().catch(() => undefined)));
}

function conn(m: GwMember, user = "a"): Promise<NatsConnection> {
  return connect({ servers: m.clientUrl, user, pass: user, reconnect: false });
}

/** Ask $SYS.REQ.SERVER.PING with a fresh inbox and collect the answers within `ms`. */
async function pingServers(nc: NatsConnection, ms: number): Promise<string[]> {
  const inbox = `_INBOX.gwping.${Date.now()}.${Math.random()}`;
  const got: string[] = [];
  const sub = nc.subscribe(inbox, { callback: (_e, m) => void got.push((m.json<Record<string, Record<string, string>>>().server ?? {}).name ?? "") });
  nc.publish("$SYS.REQ.SERVER.PING", "", { reply: inbox });
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  return got.sort();
}

describe("gateways: a super-cluster of two tsnats clusters", () => {
  const members: GwMember[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
  });

  it("forms from one configured gateway: the others are learnt through gossip and routes", async () => {
    const a1 = await startTsGw("a1", "A", { routes: [], extra: AUTH });
    const a2 = await startTsGw("a2", "A", { routes: [a1.routeUrl], extra: AUTH });
    // Only b1 knows about cluster A; b2 only knows b1.
    const b1 = await startTsGw("b1", "B", { routes: [], gateways: [{ name: "A", urls: [a1.gatewayUrl] }], extra: AUTH });
    const b2 = await startTsGw("b2", "B", { routes: [b1.routeUrl], extra: AUTH });
    members.push(a1, a2, b1, b2);
    await waitForSuperCluster(members);
    // Every server of A knows B's gateway URLs (and the reverse), as its INFO announces them.
    const gw = gatewaysOfTs(a1);
    await waitUntil(() => (gw.remote("B")?.urls.size ?? 0) === 2, 10_000, "both URLs of B known in A");
    assert.equal(gw.remote("B")?.implicit, true);
    for (const m of members) conns.push(await conn(m));
  });

  it("every message once, in order, on every server of both clusters (headers kept)", async () => {
    await checkAllToAll(conns, "sc.all", 60);
  });

  it("accounts stay apart across the gateway", async () => {
    const subA = await conn(members[2], "a");
    const subB = await conn(members[2], "b");
    const pubA = await conn(members[0], "a");
    const pubB = await conn(members[0], "b");
    const gotA: string[] = [];
    const gotB: string[] = [];
    subA.subscribe("acc.x", { callback: (_e, m) => void gotA.push(m.string()) });
    subB.subscribe("acc.x", { callback: (_e, m) => void gotB.push(m.string()) });
    await waitForInterest(pubA, subA);
    await waitForInterest(pubB, subB);
    for (let i = 0; i < 10; i++) {
      pubA.publish("acc.x", `a${i}`);
      pubB.publish("acc.x", `b${i}`);
    }
    await waitUntil(() => gotA.length >= 10 && gotB.length >= 10, 5000, "both accounts");
    for (const c of [pubA, pubB]) await c.flush();
    await waitForInterest(pubA, subA);
    assert.deepEqual(gotA, Array.from({ length: 10 }, (_, i) => `a${i}`));
    assert.deepEqual(gotB, Array.from({ length: 10 }, (_, i) => `b${i}`));
    await Promise.all([subA, subB, pubA, pubB].map((c) => c.close()));
  });

  it("queue groups: the local cluster first, the other cluster only when it has no member", async () => {
    const [a1, a2, b1, b2] = conns;
    const got = new Map<string, string>();
    const dup: string[] = [];
    const member = (c: NatsConnection, who: string) =>
      c.subscribe("sc.q", {
        queue: "workers",
        callback: (_e, m) => {
          if (got.has(m.string())) dup.push(m.string());
          got.set(m.string(), who);
        },
      });
    const subs = [member(b1, "b1"), member(b2, "b2"), member(a2, "a2")];
    for (const c of conns) await c.flush();
    for (const p of [a1, b1]) for (const s of [a2, b1, b2]) if (p !== s) await waitForInterest(p, s);
    for (let i = 0; i < 40; i++) a1.publish("sc.q", `x${i}`);
    for (let i = 0; i < 40; i++) b1.publish("sc.q", `y${i}`);
    await waitUntil(() => got.size >= 80, 10_000, "80 queue deliveries");
    // Published in A: A's member takes them all; published in B: B's members share them.
    for (let i = 0; i < 40; i++) assert.equal(got.get(`x${i}`), "a2", `x${i} went to ${got.get(`x${i}`)}`);
    for (let i = 0; i < 40; i++) assert.ok(["b1", "b2"].includes(got.get(`y${i}`) as string));
    // Without a member in A, A's messages cross to B (one member each).
    subs[2].unsubscribe();
    await a2.flush();
    // The withdrawal reaches a1 through the route before we publish again.
    await waitForInterest(a1, a2);
    got.clear();
    for (let i = 0; i < 40; i++) a1.publish("sc.q", `z${i}`);
    await waitUntil(() => got.size >= 40, 10_000, "40 deliveries in B");
    for (const c of conns) await c.flush();
    await waitForInterest(a1, b1);
    assert.equal(dup.length, 0, `delivered twice: ${dup.join(",")}`);
    for (let i = 0; i < 40; i++) assert.ok(["b1", "b2"].includes(got.get(`z${i}`) as string));
    subs[0].unsubscribe();
    subs[1].unsubscribe();
  });

  it("requests cross both ways (headers kept); receivers see plain replies; no responders anywhere gives 503", async () => {
    const [a1, , b1, b2] = conns;
    let seenReply = "";
    const svcB = b2.subscribe("svc.b", {
      callback: (_e, m) => {
        seenReply = m.reply ?? "";
        const h = headers();
        h.set("X-By", "b2");
        m.respond(`b:${m.string()}:${m.headers?.get("X-Ask") ?? ""}`, { headers: h });
      },
    });
    const svcA = a1.subscribe("svc.a", { callback: (_e, m) => void m.respond(`a:${m.string()}`) });
    await b2.flush();
    await a1.flush();
    await waitForInterest(a1, b2);
    await waitForInterest(b1, a1);
    for (let i = 0; i < 20; i++) {
      const h = headers();
      h.set("X-Ask", `q${i}`);
      const r = await a1.request("svc.b", `${i}`, { timeout: 3000, headers: h });
      assert.equal(r.string(), `b:${i}:q${i}`);
      assert.equal(r.headers?.get("X-By"), "b2");
      assert.ok(!seenReply.startsWith("_GR_."), `the responder saw ${seenReply}`);
      assert.equal((await b1.request("svc.a", `${i}`, { timeout: 3000 })).string(), `a:${i}`);
    }
    // A fresh inbox, subscribed right before the request: the answer comes back through the routed reply.
    for (let i = 0; i < 10; i++) {
      const inbox = `fresh.${Date.now()}.${i}`;
      const answer = new Promise<string>((resolve) => {
        const s = a1.subscribe(inbox, { max: 1, callback: (_e, m) => resolve(m.string()) });
        void s;
      });
      a1.publish("svc.b", `f${i}`, { reply: inbox });
      assert.equal(await answer, `b:f${i}:`);
      assert.ok(!seenReply.startsWith("_GR_."));
    }
    svcB.unsubscribe();
    svcA.unsubscribe();
    await b2.flush();
    await a1.flush();
    await waitForInterest(a1, b2);
    for (const c of conns) {
      await assert.rejects(c.request("nobody.anywhere", "x", { timeout: 3000 }), (e: Error & { code?: string }) => /503/.test(String(e.code)) || /no responders/i.test(e.message));
    }
  });

  it("clients may not publish on _GR_. subjects nor use them as replies", async () => {
    const c = await conn(members[0]);
    const errs: string[] = [];
    void (async () => {
      for await (const s of c.status()) if (s.type === "error") errs.push(String((s as { error?: Error }).error?.message ?? ""));
    })();
    c.publish("_GR_.abcdef.ghijkl.x", "no");
    await c.flush().catch(() => undefined);
    c.publish("legit", "x", { reply: "_GR_.abcdef.ghijkl.y" });
    await c.flush().catch(() => undefined);
    await waitUntil(() => errs.length >= 2, 5000, "two permission errors");
    assert.match(errs[0], /Permissions Violation for Publish to "_GR_.abcdef.ghijkl.x"/i);
    assert.match(errs[1], /Permissions Violation for Publish with Reply of "_GR_.abcdef.ghijkl.y"/i);
    await c.close();
  });

  it("$SYS.REQ.SERVER.PING is answered by every server of both clusters", async () => {
    const nc = await conn(members[1], "sys");
    const want = members.map((m) => m.name).sort();
    let names: string[] = [];
    for (let i = 0; i < 20 && JSON.stringify(names) !== JSON.stringify(want); i++) names = await pingServers(nc, 600);
    assert.deepEqual(names, want);
    await nc.close();
  });

  it("/gatewayz, /varz and /metrics show the gateways", async () => {
    const a1 = members[0];
    const z = await a1.gatewayz("?accs=1&subs=1");
    assert.equal(z.name, "A");
    const out = z.outbound_gateways as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(out), ["B"]);
    assert.equal(out.B.configured, false, "learnt, not configured");
    const connInfo = out.B.connection as Record<string, unknown>;
    assert.equal(connInfo.kind, "Gateway");
    assert.ok(typeof connInfo.name === "string" && (connInfo.name as string).length === 56);
    const accs = out.B.accounts as Array<Record<string, unknown>>;
    const sys = accs.find((x) => x.name === "SYS");
    assert.equal(sys?.interest_mode, "Interest-Only");
    assert.ok((sys?.subscriptions_list as string[]).includes("$SYS.REQ.SERVER.PING"));
    const inbound = z.inbound_gateways as Record<string, Array<Record<string, unknown>>>;
    assert.ok(inbound.B.length >= 1);
    assert.ok((inbound.B[0].accounts as Array<Record<string, unknown>>).every((x) => x.interest_mode === "Interest-Only"));
    const one = await a1.gatewayz("?acc_name=A");
    const onlyA = ((one.outbound_gateways as Record<string, Record<string, unknown>>).B.accounts as Array<Record<string, unknown>>).map((x) => x.name);
    assert.deepEqual(onlyA, ["A"]);
    const none = await a1.gatewayz("?gw_name=C");
    assert.deepEqual(none.outbound_gateways, {});
    const varz = (await (await fetch(`http://127.0.0.1:${members[2].monitorPort}/varz`)).json()) as Record<string, Record<string, unknown>>;
    assert.equal(varz.gateway.name, "B");
    assert.deepEqual((varz.gateway.gateways as Array<Record<string, unknown>>).map((g) => g.name), ["A"]);
    const metrics = await (await fetch(`http://127.0.0.1:${a1.monitorPort}/metrics`)).text();
    assert.match(metrics, /nats_server_gateways_outbound 1/);
    assert.match(metrics, /nats_gateway_out_msgs_total\{[^}]*gateway="B"[^}]*direction="outbound"[^}]*\} [1-9]/);
  });
});

describe("gateways: optimistic mode, then interest-only", () => {
  const members: GwMember[] = [];
  after(() => stopAll(members));

  it("an inbound side that does not force interest-only sends RS- and switches the account after the threshold", async () => {
    // B keeps A's messages optimistic (nats-server's test mode) and switches after 3 refusals.
    const b = await startTsGw("ob", "OB", { extra: { gateway: { forceInterestOnly: false, maxNoInterestBeforeSwitch: 3 } } });
    const a = await startTsGw("oa", "OA", { gateways: [{ name: "OB", urls: [b.gatewayUrl] }] });
    members.push(a, b);
    await waitForSuperCluster(members);
    const pub = await connect({ servers: a.clientUrl });
    const sub = await connect({ servers: b.clientUrl });
    const got: string[] = [];
    sub.subscribe("opt.wanted", { callback: (_e, m) => void got.push(m.string()) });
    await sub.flush();
    // Optimistic: A sends what it has no refusal for, so the wanted subject arrives at once.
    const outOf = async () => ((await a.gatewayz("?accs=1")).outbound_gateways as Record<string, Record<string, unknown>>).OB.accounts as Array<Record<string, unknown>>;
    pub.publish("opt.wanted", "1");
    await pub.flush();
    await waitUntil(() => got.length === 1, 5000, "optimistic delivery");
    // Unwanted subjects are refused one by one...
    for (const s of ["opt.no1", "opt.no2", "opt.no3"]) pub.publish(s, "x");
    await pub.flush();
    let acc: Record<string, unknown> | undefined;
    for (let i = 0; i < 100; i++) {
      acc = (await outOf()).find((x) => x.name === "$G");
      if (acc?.no_interest_count === 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(acc?.interest_mode, "Optimistic");
    assert.equal(acc?.no_interest_count, 3);
    // ...and a new subscriber lifts a refusal (RS+).
    sub.subscribe("opt.no1", { callback: (_e, m) => void got.push(m.string()) });
    await sub.flush();
    for (let i = 0; i < 100 && (await outOf()).find((x) => x.name === "$G")?.no_interest_count !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    pub.publish("opt.no1", "lifted");
    await pub.flush();
    await waitUntil(() => got.includes("lifted"), 5000, "lifted subject delivered");
    // One more refusal than the threshold: B sends all its subscriptions and A goes interest-only.
    for (const s of ["opt.no4", "opt.no5", "opt.no6"]) pub.publish(s, "x");
    await pub.flush();
    for (let i = 0; i < 100; i++) {
      acc = (await outOf()).find((x) => x.name === "$G");
      if (acc?.interest_mode === "Interest-Only") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(acc?.interest_mode, "Interest-Only");
    const inb = ((await b.gatewayz("?accs=1")).inbound_gateways as Record<string, Array<Record<string, unknown>>>).OA[0].accounts as Array<Record<string, unknown>>;
    assert.equal(inb.find((x) => x.name === "$G")?.interest_mode, "Interest-Only");
    // Interest-only still delivers what is wanted, and nothing else crosses.
    const before = gatewaysOfTs(a).out.get("OB")?.outMsgs ?? 0;
    for (let i = 0; i < 5; i++) pub.publish("opt.unwanted.more", "x");
    pub.publish("opt.wanted", "2");
    await pub.flush();
    await waitUntil(() => got.includes("2"), 5000, "interest-only delivery");
    const after2 = gatewaysOfTs(a).out.get("OB")?.outMsgs ?? 0;
    assert.equal(after2 - before, 1, "only the wanted message crossed");
    await pub.close();
    await sub.close();
  });
});

describe("gateways: who may connect", () => {
  const members: GwMember[] = [];
  after(() => stopAll(members));

  it("reject_unknown_cluster refuses a cluster that is not configured", async () => {
    const a = await startTsGw("ra", "RA", { extra: { gateway: { rejectUnknown: true, gateways: [{ name: "RB", urls: ["nats://127.0.0.1:1"] }] } } });
    members.push(a);
    const c = await startTsGw("rc", "RC", { gateways: [{ name: "RA", urls: [a.gatewayUrl] }] });
    members.push(c);
    const ga = gatewaysOfTs(a);
    const gc = gatewaysOfTs(c);
    // RC keeps trying (each outbound connection lives until RA's -ERR); RA never registers it.
    await waitUntil(() => (gc.remote("RA")?.connAttempts ?? 0) >= 3, 10_000, "three attempts of RC");
    assert.equal(ga.in.size, 0);
  });

  it("gateway authorization: credentials in the URL are required", async () => {
    const a = await startTsGw("aa", "AA", { extra: { gateway: { username: "gw", password: "secret" } } });
    members.push(a);
    const bad = await startTsGw("ab", "AB", { gateways: [{ name: "AA", urls: [a.gatewayUrl.replace("nats://", "nats://gw:wrong@")] }] });
    members.push(bad);
    const good = await startTsGw("ac", "AC", { gateways: [{ name: "AA", urls: [a.gatewayUrl.replace("nats://", "nats://gw:secret@")] }] });
    members.push(good);
    const ga = gatewaysOfTs(a);
    const gbad = gatewaysOfTs(bad);
    await waitUntil(() => [...ga.in.values()].some((c) => c.name === "AC"), 10_000, "AC accepted");
    await waitUntil(() => (gbad.remote("AA")?.connAttempts ?? 0) >= 2, 10_000, "AB retried");
    assert.ok(![...ga.in.values()].some((c) => c.name === "AB"));
  });

  it("a client on the gateway port is told it is the wrong port", async () => {
    const a = members[0];
    const port = Number(new URL(a.gatewayUrl).port);
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      let buf = "";
      s.on("data", (d) => {
        buf += d.toString();
        if (buf.includes("INFO ") && !buf.includes("CONNECT_SENT")) {
          buf += "CONNECT_SENT";
          s.write('CONNECT {"lang":"go","verbose":false}\r\nPING\r\n');
        }
      });
      s.on("close", () => resolve(buf));
    });
    assert.match(text, /"gateway":"RA"/);
    assert.match(text, /-ERR 'attempted to connect to gateway port'/);
  });
});

describe("gateways: configuration", () => {
  const cases: Array<[string, RegExp]> = [
    ["gateway { port: -1 }", /gateway has no name/],
    ["gateway { name: A }", /gateway "A" has no port specified \(select -1 for random port\)/],
    ['gateway { name: "A B", port: -1 }', /gateway name cannot contain spaces/],
    ["gateway { name: A, port: -1, gateways: [ {name: B} ] }", /gateway "B" has no URL/],
    ['gateway { name: A, port: -1, gateways: [ {url: "nats://x:1"} ] }', /gateway in the list 0 has no name/],
    ['gateway { name: A, port: -1, gateways: [ {name: B, url: "nats://x:1", foo: 1} ] }', /unknown field "foo"/],
    ["gateway { name: A, port: -1, bar: 1 }", /unknown field "bar"/],
    ["gateway { name: A, port: -1 }\ncluster { name: C, port: -1 }", /cluster name conflicts between cluster and gateway definitions/],
    ["gateway { name: A, port: -1, gateways: {name: B} }", /Expected gateways field to be an array/],
    ['gateway { name: A, port: -1, gateways: [ "x" ] }', /Expected gateway entry to be a map\/struct, got x/],
    ["gateway { name: A, port: -1, authorization { token: x } }", /Gateway authorization does not support tokens/],
    ["gateway { name: A, port: -1, authorization { users: [{user: a, password: b}] } }", /Gateway authorization does not allow multiple users/],
    ['gateway { name: A, port: -1, write_timeout: "foo" }', /write_timeout must be 'default', 'close' or 'retry'/],
    ['gateway { name: A, port: -1, gateways: [ {name: B, url: "::bad"} ] }', /error parsing gateway url/],
    ["gateway { name: A, port: -1 }\nleafnodes { port: -1 }\nno_system_account: true", /leaf nodes and gateways \(both being defined\) require a system account/],
  ];
  for (const [conf, re] of cases) {
    it(`refuses: ${conf.replace(/\n/g, " ")}`, () => {
      assert.throws(() => loadConfig(conf), re);
    });
  }

  it("a cluster without a name takes the gateway's", () => {
    const o = loadConfig("gateway { name: GW, port: -1, reject_unknown_cluster: true, connect_retries: 3 }\ncluster { port: -1 }");
    assert.equal(o.cluster?.name, "GW");
    assert.equal(o.gateway?.rejectUnknown, true);
    assert.equal(o.gateway?.connectRetries, 3);
    assert.deepEqual(o.unsupportedBlocks, {});
  });
});

describe("gateways over TLS", { skip: hasOpenssl ? false : "openssl not available" }, () => {
  const members: GwMember[] = [];
  let pki: Pki | undefined;
  after(async () => {
    await stopAll(members);
    if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  it("mutual TLS between clusters (tsnats and nats-server); a server without the CA's certificate is refused", async () => {
    pki = makePki();
    const cert = signLeaf(pki.dir, "main", "gw", "/CN=gw", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const stranger = signLeaf(pki.dir, "other", "stranger", "/CN=stranger", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const tls = { cert: cert.cert, key: cert.key, ca: pki.ca, verify: true };
    const a = await startTsGw("ta", "TA", { extra: { gateway: { tls } } });
    members.push(a);
    const b = await startTsGw("tb", "TB", { gateways: [{ name: "TA", urls: [a.gatewayUrl] }], extra: { gateway: { tls } } });
    members.push(b);
    const sc: GwMember[] = [a, b];
    if (referenceBinary("2.15") !== undefined) {
      const r = await startRefGw("2.15", "tr", "TR", {
        gateways: [{ name: "TA", urls: [a.gatewayUrl] }],
        gatewayExtra: `tls { cert_file: "${cert.cert}", key_file: "${cert.key}", ca_file: "${pki.ca}", verify: true }`,
      });
      members.push(r);
      sc.push(r);
    }
    await waitForSuperCluster(sc);
    const conns = await Promise.all(sc.map((m) => connect({ servers: m.clientUrl, reconnect: false })));
    await checkAllToAll(conns, "tlsgw.all", 20);
    await Promise.all(conns.map((c) => c.close()));
    assert.equal(((await a.gatewayz()).outbound_gateways as Record<string, unknown>).TB !== undefined, true);
    const bad = await startTsGw("tbad", "TBAD", { gateways: [{ name: "TA", urls: [a.gatewayUrl] }], extra: { gateway: { tls: { cert: stranger.cert, key: stranger.key, ca: pki.otherCa, verify: true } } } });
    members.push(bad);
    await waitUntil(() => (gatewaysOfTs(bad).remote("TA")?.connAttempts ?? 0) >= 2, 10_000, "two refused attempts");
    assert.equal(gatewaysOfTs(a).in.size, sc.length - 1);
    assert.equal(gatewaysOfTs(bad).out.size, 0);
  });
});

describe("gateways and leaf nodes", () => {
  const members: GwMember[] = [];
  const leafs: TestServer[] = [];
  after(async () => {
    for (const l of leafs) await l.close().catch(() => undefined);
    await stopAll(members);
  });

  it("a leaf node's clients reach the other cluster, and answer its requests through routed replies", async () => {
    const a = await startTsGw("la", "LA");
    const b = await startTsGw("lb", "LB", { gateways: [{ name: "LA", urls: [a.gatewayUrl] }], extra: { leafnodes: { port: -1 } } });
    members.push(a, b);
    await waitForSuperCluster(members);
    const hubPort = leafNodesOf((b.ts as TestServer).server) as LeafNodes;
    const leaf = await startTestServer({ serverName: "leaf", leafnodes: { remotes: [{ urls: [`nats://127.0.0.1:${hubPort.port}`], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off" }] } });
    leafs.push(leaf);
    const onLeaf = await connect({ servers: leaf.url, reconnect: false });
    const inA = await connect({ servers: a.clientUrl, reconnect: false });
    let seen = "";
    onLeaf.subscribe("leafsvc", { callback: (_e, m) => { seen = m.reply ?? ""; m.respond(`leaf:${m.string()}`); } });
    inA.subscribe("asvc", { callback: (_e, m) => void m.respond(`a:${m.string()}`) });
    await waitForInterest(inA, onLeaf, 15_000);
    await waitForInterest(onLeaf, inA, 15_000);
    for (let i = 0; i < 10; i++) {
      // Fresh reply subjects: the answers travel leaf → hub → gateway on the routed reply.
      const inbox = `leafgw.${Date.now()}.${i}`;
      const answer = new Promise<string>((resolve) => inA.subscribe(inbox, { max: 1, callback: (_e, m) => resolve(m.string()) }));
      inA.publish("leafsvc", `${i}`, { reply: inbox });
      assert.equal(await Promise.race([answer, new Promise<string>((r) => setTimeout(() => r("timeout"), 3000))]), `leaf:${i}`);
      assert.ok(!seen.startsWith("_GR_."), `the leaf's client saw ${seen}`);
      assert.equal((await onLeaf.request("asvc", `${i}`, { timeout: 3000 })).string(), `a:${i}`);
    }
    await onLeaf.close();
    await inA.close();
  });
});

describe("gateways: write_deadline and write_timeout", { skip: referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false }, () => {
  const members: GwMember[] = [];
  after(async () => {
    for (const m of members) if (m.kind !== "tsnats") (m as GwMember & { ref: { proc: { kill(s: string): void } } }).ref.proc.kill("SIGCONT");
    await stopAll(members);
  });

  it("a remote that stops reading is dropped once its writes stall past the deadline", async () => {
    const b = await startRefGw("2.15", "wb", "WB");
    const a = await startTsGw("wa", "WA", { gateways: [{ name: "WB", urls: [b.gatewayUrl] }], extra: { gateway: { writeDeadlineMs: 300, writeTimeout: "close" } } });
    members.push(b, a);
    await waitForSuperCluster(members);
    const sub = await connect({ servers: b.clientUrl, reconnect: false });
    sub.subscribe("wd.>", { callback: () => undefined });
    await sub.flush();
    const pub = await connect({ servers: a.clientUrl, reconnect: false });
    await waitForInterest(pub, sub);
    const gw = gatewaysOfTs(a);
    const out = gw.out.get("WB");
    assert.ok(out !== undefined);
    // The remote server freezes: its socket buffers fill, then our writes stall.
    (b as GwMember & { ref: { proc: { kill(s: string): void } } }).ref.proc.kill("SIGSTOP");
    const payload = Buffer.alloc(64 * 1024, 120);
    const deadline = Date.now() + 15_000;
    while (!out.closed && Date.now() < deadline) {
      for (let i = 0; i < 64; i++) pub.publish("wd.x", payload);
      await pub.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(out.closeReason, "Slow Consumer (Write Deadline)");
    const varz = (await (await fetch(`http://127.0.0.1:${a.monitorPort}/varz`)).json()) as Record<string, Record<string, number>>;
    assert.ok(varz.slow_consumer_stats.gateways >= 1);
    assert.equal((varz.gateway as unknown as Record<string, unknown>).write_timeout, "close");
    (b as GwMember & { ref: { proc: { kill(s: string): void } } }).ref.proc.kill("SIGCONT");
    await pub.close();
    await sub.close().catch(() => undefined);
  });

  it("write_deadline and write_timeout are read in the cluster, leafnodes and gateway blocks", () => {
    const o = loadConfig(
      'cluster { port: -1, write_deadline: "3s", write_timeout: close }\nleafnodes { port: -1, write_deadline: "4s", write_timeout: retry }\ngateway { name: W, port: -1, write_deadline: "5s", write_timeout: default }',
    );
    assert.equal(o.cluster?.writeDeadlineMs, 3000);
    assert.equal(o.cluster?.writeTimeout, "close");
    assert.equal(o.leafnodes?.writeDeadlineMs, 4000);
    assert.equal(o.leafnodes?.writeTimeout, "retry");
    assert.equal(o.gateway?.writeDeadlineMs, 5000);
    assert.equal(o.gateway?.writeTimeout, "default");
    assert.throws(() => loadConfig("cluster { port: -1, write_timeout: sometimes }"), /write_timeout must be 'default', 'close' or 'retry'/);
  });
});
