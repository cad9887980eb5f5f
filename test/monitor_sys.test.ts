// The system account: connection events, STATSZ, AUTH.ERR, SHUTDOWN, and the $SYS.REQ.*
// request/reply services, driven by real clients in a SYS and an APP account.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { NATS_FEATURE_VERSION } from "../src/server/version.js";
import fs from "node:fs";
import path from "node:path";
import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import type { SystemAccountService } from "../src/monitor/system-account.js";
import { requestJson } from "./helpers/jetstream.js";
import { startConfigServer } from "./helpers/config_server.js";

type J = Record<string, any>;

const ACCOUNTS = [
  { name: "SYS", users: [{ user: "sys", password: "sys" }] },
  {
    name: "APP",
    users: [
      { user: "app", password: "app", permissions: { publish: { allow: ["app.>", "$SYS.REQ.>", "_INBOX.>"] }, subscribe: "_INBOX.>" } },
      { user: "app2", password: "app2" },
    ],
  },
];

let srv: TestServer;
let sys: NatsConnection;

function sysService(s: TestServer): SystemAccountService {
  const svc = s.server.services.find((x) => x.name === "system-account");
  assert.ok(svc, "system account service installed");
  return svc as SystemAccountService;
}

const request = requestJson;

/** Collect messages of `sub` until `pred` holds for one of them. */
async function nextMatching(sub: Subscription, pred: (m: Msg) => boolean, timeoutMs = 5000): Promise<Msg> {
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
  try {
    for await (const m of sub) if (pred(m)) return m;
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`no matching message on ${sub.getSubject()} within ${timeoutMs} ms`);
}

function assertServerInfo(s: J, id: string): void {
  assert.equal(s.id, id);
  assert.equal(s.ver, NATS_FEATURE_VERSION);
  assert.equal(typeof s.seq, "number");
  assert.equal(typeof s.jetstream, "boolean");
  assert.match(s.time, /Z$/);
  assert.equal(typeof s.name, "string");
  assert.equal(typeof s.host, "string");
}

before(async () => {
  srv = await startTestServer({ accounts: ACCOUNTS, systemAccount: "SYS", serverName: "sys-test" });
  sys = await connect({ servers: srv.url, user: "sys", pass: "sys", name: "sys-client" });
});

after(async () => {
  await sys?.close();
  await srv?.close();
});

test("CONNECT, DISCONNECT and account CONNS events", async () => {
  const connectSub = sys.subscribe("$SYS.ACCOUNT.APP.CONNECT", { max: 1 });
  const discSub = sys.subscribe("$SYS.ACCOUNT.APP.DISCONNECT", { max: 1 });
  await sys.flush();
  const connectP = nextMatching(connectSub, () => true);
  const app = await connect({ servers: srv.url, user: "app", pass: "app", name: "evt-app" });
  const c = (await connectP).json<J>();
  assert.equal(c.type, "io.nats.server.advisory.v1.client_connect");
  assert.equal(typeof c.id, "string");
  assertServerInfo(c.server, srv.server.id);
  assert.equal(c.client.acc, "APP");
  assert.equal(c.client.user, "app");
  assert.equal(c.client.name, "evt-app");
  assert.equal(c.client.lang, "nats.js");
  assert.equal(c.client.kind, "Client");
  assert.equal(c.client.client_type, "nats");

  app.publish("app.data", "12345");
  app.publish("app.data", "678");
  await app.flush();
  const discP = nextMatching(discSub, () => true);
  const connsP = (async () => {
    const seen: J[] = [];
    const sub = sys.subscribe("$SYS.ACCOUNT.APP.SERVER.CONNS", { max: 1 });
    const old = sys.subscribe("$SYS.SERVER.ACCOUNT.APP.CONNS", { max: 1 });
    for await (const m of sub) seen.push(m.json<J>());
    for await (const m of old) seen.push(m.json<J>());
    return seen;
  })();
  await sys.flush();
  await app.close();
  const d = (await discP).json<J>();
  assert.equal(d.type, "io.nats.server.advisory.v1.client_disconnect");
  assert.equal(d.reason, "Client Closed");
  assert.deepEqual(d.sent, { msgs: 2, bytes: 8 }, "sent is what the client published");
  assert.equal(d.received.msgs, 0);
  assert.match(d.client.stop, /Z$/);
  const conns = await connsP;
  assert.equal(conns.length, 2);
  for (const e of conns) {
    assert.equal(e.type, "io.nats.server.advisory.v1.account_connections");
    assert.equal(e.acc, "APP");
    assert.equal(e.conns, 0);
    assert.ok(e.received.msgs >= 2);
  }
});

test("CLIENT.AUTH.ERR on a failed login", async () => {
  const sub = sys.subscribe(`$SYS.SERVER.${srv.server.id}.CLIENT.AUTH.ERR`, { max: 1 });
  await sys.flush();
  await assert.rejects(connect({ servers: srv.url, user: "app", pass: "wrong", reconnect: false }));
  const m = await nextMatching(sub, () => true);
  const e = m.json<J>();
  assert.equal(e.type, "io.nats.server.advisory.v1.client_disconnect");
  assert.equal(e.reason, "Authentication Failure");
  assert.equal(e.client.user, "app");
});

test("STATSZ is published periodically while someone listens", async () => {
  const svc = sysService(srv);
  const sub = sys.subscribe(`$SYS.SERVER.${srv.server.id}.STATSZ`, { max: 2 });
  await sys.flush();
  svc.setStatszInterval(100);
  try {
    const msgs: J[] = [];
    for await (const m of sub) msgs.push(m.json<J>());
    assert.equal(msgs.length, 2);
    const s = msgs[1];
    assertServerInfo(s.server, srv.server.id);
    assert.ok(s.server.seq > msgs[0].server.seq, "seq increases");
    assert.equal(s.statsz.connections, srv.server.clients.size);
    assert.ok(s.statsz.mem > 0);
    assert.equal(typeof s.statsz.cpu, "number");
    assert.equal(s.statsz.active_servers, 1);
    assert.ok(s.statsz.active_accounts >= 1);
    assert.equal(typeof s.statsz.sent.msgs, "number");
  } finally {
    svc.setStatszInterval(10_000);
  }
});

test("$SYS.REQ.SERVER.PING and PING.<endpoint>", async () => {
  const ping = await request(sys, "$SYS.REQ.SERVER.PING");
  assertServerInfo(ping.server, srv.server.id);
  assert.equal(ping.server.name, "sys-test");
  assert.equal(typeof ping.statsz.total_connections, "number");

  const varz = await request(sys, "$SYS.REQ.SERVER.PING.VARZ");
  assert.equal(varz.data.server_id, srv.server.id);
  assert.equal(varz.data.system_account, "SYS");
  const statsz = await request(sys, "$SYS.REQ.SERVER.PING.STATSZ");
  assert.ok(statsz.statsz.connections >= 1);
  const idz = await request(sys, "$SYS.REQ.SERVER.PING.IDZ");
  assert.deepEqual(idz, { name: "sys-test", host: "127.0.0.1", id: srv.server.id }); // bare, as nats-server sends it
  const health = await request(sys, "$SYS.REQ.SERVER.PING.HEALTHZ");
  assert.deepEqual(health.data, { status: "ok", status_code: 200 }); // as nats-server 2.15: the code is in the body here, not over HTTP
  const accz = await request(sys, "$SYS.REQ.SERVER.PING.ACCOUNTZ");
  assert.deepEqual(accz.data.accounts, ["$G", "APP", "SYS"]);
  const jsz = await request(sys, "$SYS.REQ.SERVER.PING.JSZ");
  assert.equal(jsz.data.disabled, true);
  const routez = await request(sys, "$SYS.REQ.SERVER.PING.ROUTEZ");
  assert.equal(routez.data.num_routes, 0);
  // nats-server 2.15's debugging services (answers of the same shape, seen side by side).
  assert.deepEqual((await request(sys, "$SYS.REQ.SERVER.PING.RAFTZ")).data, {}, "no JetStream cluster: no RAFT groups");
  assert.deepEqual((await request(sys, "$SYS.REQ.SERVER.PING.IPQUEUESZ", { all: true })).data, { "Stalled publishers": { pending: 0 } });
  assert.deepEqual((await request(sys, "$SYS.REQ.SERVER.PING.IPQUEUESZ")).data, {});
  const expvarz = await request(sys, "$SYS.REQ.SERVER.PING.EXPVARZ");
  assert.ok(Array.isArray(expvarz.data.cmdline) && expvarz.data.memstats.Sys > 1_000_000, JSON.stringify(expvarz.data));

  // Options travel in the body.
  const app = await connect({ servers: srv.url, user: "app2", pass: "app2", name: "worker" });
  try {
    app.subscribe("w.one");
    app.subscribe("w.two", { queue: "g" });
    await app.flush();
    const connz = await request(sys, "$SYS.REQ.SERVER.PING.CONNZ", { subscriptions: true, auth: true, acc: "APP" });
    assert.equal(connz.data.num_connections, 1);
    const w = connz.data.connections[0];
    assert.equal(w.name, "worker");
    assert.equal(w.account, "APP");
    assert.equal(w.authorized_user, "app2");
    assert.deepEqual([...w.subscriptions_list].sort(), ["w.one", "w.two"]);
    const subsz = await request(sys, `$SYS.REQ.SERVER.${srv.server.id}.SUBSZ`, { subscriptions: true, test: "w.two" });
    assert.deepEqual(subsz.data.subscriptions_list.map((s: J) => s.subject), ["w.two"]);
    const direct = await request(sys, `$SYS.REQ.SERVER.${srv.server.id}.VARZ`);
    assert.equal(direct.data.connections, srv.server.clients.size);
    const bad = await request(sys, "$SYS.REQ.SERVER.PING.CONNZ", { sort: "nope" });
    assert.equal(bad.error.code, 500, "an option the endpoint refuses is its failure over $SYS (nats-server's zReq)");
    assert.equal(bad.error.description, "invalid sorting option: nope");
    // A filter that names another server gets no answer from this one.
    await assert.rejects(request(sys, "$SYS.REQ.SERVER.PING.VARZ", { server_name: "someone-else" }));
  } finally {
    await app.close();
  }
});

test("$SYS.REQ.ACCOUNT.<acc>.* and USER.INFO", async () => {
  const app = await connect({ servers: srv.url, user: "app", pass: "app", name: "acct-app" });
  try {
    app.subscribe("_INBOX.acct.x");
    await app.flush();
    const info = await request(sys, "$SYS.REQ.ACCOUNT.APP.INFO");
    assert.equal(info.data.account_name, "APP");
    assert.equal(info.data.client_connections, 1);
    const connz = await request(sys, "$SYS.REQ.ACCOUNT.APP.CONNZ");
    assert.deepEqual(connz.data.connections.map((c: J) => c.name), ["acct-app"]);
    const subsz = await request(sys, "$SYS.REQ.ACCOUNT.APP.SUBSZ");
    assert.ok(subsz.data.subscriptions_list.some((s: J) => s.subject === "_INBOX.acct.x"));
    assert.ok(subsz.data.subscriptions_list.every((s: J) => s.account === "APP"));
    const statz = await request(sys, "$SYS.REQ.ACCOUNT.APP.STATZ");
    assert.equal(statz.data.account_statz[0].acc, "APP");
    assert.equal(statz.data.account_statz[0].conns, 1);
    const all = await request(sys, "$SYS.REQ.ACCOUNT.PING.STATZ");
    assert.deepEqual(all.data.account_statz.map((a: J) => a.acc), ["APP", "SYS"]);
    const conns = await request(sys, "$SYS.REQ.ACCOUNT.APP.CONNS");
    assert.equal(conns.type, "io.nats.server.advisory.v1.account_connections");
    assert.equal(conns.conns, 1);
    // nats-server 2.15's answers: 500 for JSZ without JetStream and for INFO of an unknown account.
    const jsz = await request(sys, "$SYS.REQ.ACCOUNT.APP.JSZ");
    assert.deepEqual(jsz.error, { code: 500, description: "jetstream not enabled" });
    const missing = await request(sys, "$SYS.REQ.ACCOUNT.NOPE.INFO");
    assert.deepEqual(missing.error, { code: 500, description: "Account NOPE does not exist" });

    const me = await request(sys, "$SYS.REQ.USER.INFO");
    // nats-server 2.15 names the account (its JWT name, or its name) in account_name.
    assert.deepEqual(me.data, { user: "sys", account: "SYS", account_name: "SYS" });
    // Every account can ask who it is, and sees its own permissions.
    const appMe = await request(app, "$SYS.REQ.USER.INFO");
    assert.equal(appMe.data.user, "app");
    assert.equal(appMe.data.account, "APP");
    assert.deepEqual(appMe.data.permissions.publish, { allow: ["app.>", "$SYS.REQ.>", "_INBOX.>"] });
    assert.deepEqual(appMe.data.permissions.subscribe, { allow: ["_INBOX.>"] });
    // An account's own CONNZ through the import only shows that account.
    const own = await request(app, "$SYS.REQ.SERVER.PING.CONNZ");
    assert.ok(own.data.connections.length >= 1);
    assert.ok(own.data.connections.every((c: J) => c.name === "acct-app"));
    // The server-wide services live in the system account only.
    await assert.rejects(app.request("$SYS.REQ.SERVER.PING.VARZ", "", { timeout: 500 }));
    await assert.rejects(app.request(`$SYS.REQ.SERVER.${srv.server.id}.VARZ`, "", { timeout: 500 }));
  } finally {
    await app.close();
  }
});

test("RELOAD re-reads the configuration file", async () => {
  const conf = path.join(srv.dir, "reload.conf");
  const write = (extraUser: string): void =>
    fs.writeFileSync(
      conf,
      `accounts {
  SYS: { users: [{user: sys, password: sys}] }
  APP: { users: [{user: app, password: app}${extraUser}] }
}
system_account: SYS
`,
    );
  write("");
  const s = await startTestServer({
    accounts: [ACCOUNTS[0], { name: "APP", users: [{ user: "app", password: "app" }] }],
    systemAccount: "SYS",
    configFile: conf,
  });
  const c = await connect({ servers: s.url, user: "sys", pass: "sys" });
  try {
    await assert.rejects(connect({ servers: s.url, user: "late", pass: "comer", reconnect: false }));
    write(", {user: late, password: comer}");
    const before = s.server.configLoadTime.getTime();
    const r = await request(c, `$SYS.REQ.SERVER.${s.server.id}.RELOAD`);
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assertServerInfo(r.server, s.server.id);
    assert.ok(s.server.configLoadTime.getTime() >= before);
    const late = await connect({ servers: s.url, user: "late", pass: "comer" });
    await late.close();
    // RELOAD is asked of one server by id only: nobody answers its PING form (as nats-server).
    await assert.rejects(request(c, "$SYS.REQ.SERVER.PING.RELOAD"), /no responders/);
  } finally {
    await c.close();
    await s.close();
  }
  // Without a config file the request reports why.
  const s2 = await startTestServer({ accounts: ACCOUNTS, systemAccount: "SYS" });
  const c2 = await connect({ servers: s2.url, user: "sys", pass: "sys" });
  try {
    const r = await request(c2, `$SYS.REQ.SERVER.${s2.server.id}.RELOAD`);
    assert.equal(r.error.code, 500);
    assert.match(r.error.description, /config/);
  } finally {
    await c2.close();
    await s2.close();
  }
});

test("SHUTDOWN reaches listeners before clients are closed", async () => {
  const s = await startTestServer({ accounts: ACCOUNTS, systemAccount: "SYS" });
  const c = await connect({ servers: s.url, user: "sys", pass: "sys", reconnect: false });
  const sub = c.subscribe(`$SYS.SERVER.${s.server.id}.SHUTDOWN`, { max: 1 });
  await c.flush();
  const got = (async () => {
    for await (const m of sub) return m.json<J>();
    return undefined;
  })();
  await s.close();
  const e = await got;
  assert.ok(e, "SHUTDOWN event received");
  assertServerInfo(e.server, s.server.id);
  await c.closed();
});

test("no system account: no $SYS services", async () => {
  const s = await startTestServer({ noSystemAccount: true });
  const c = await connect({ servers: s.url });
  try {
    assert.equal(s.server.services.find((x) => x.name === "system-account"), undefined);
    await assert.rejects(c.request("$SYS.REQ.USER.INFO", "", { timeout: 300 }));
  } finally {
    await c.close();
    await s.close();
  }
  await waitUntil(() => true);
});

test("no account CONNS events for the global account (as nats-server's accConnsUpdate)", async () => {
  const conf = `
authorization { users: [{user: g, password: g}] }
accounts {
  SYS: { users: [{user: sys, password: sys}] }
  APP: { users: [{user: app, password: app}] }
}
system_account: SYS
`;
  const s = await startConfigServer(conf);
  const watcher = await connect({ servers: s.url, user: "sys", pass: "sys" });
  try {
    const seen: string[] = [];
    const sub = watcher.subscribe("$SYS.ACCOUNT.*.SERVER.CONNS");
    const appSeen = (async () => {
      for await (const m of sub) {
        seen.push(m.json<J>().acc);
        if (m.json<J>().acc === "APP") return;
      }
    })();
    await watcher.flush();
    // A client of the global account comes and goes, then one of APP: events of one server are
    // published in order, so once APP's arrived, one for $G would have come before it.
    const g = await connect({ servers: s.url, user: "g", pass: "g" });
    await g.flush();
    await g.close();
    await waitUntil(() => s.server.clients.size === 1, 10_000, "the $G client gone");
    const app = await connect({ servers: s.url, user: "app", pass: "app" });
    await appSeen;
    await app.close();
    assert.deepEqual(seen, ["APP"]);
  } finally {
    await watcher.close();
    await s.close();
  }
});
