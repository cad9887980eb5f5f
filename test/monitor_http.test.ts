// HTTP monitoring endpoints read while real clients work: counters move as traffic flows,
// connz filters/sorts/pages and keeps closed connections, subsz matches test subjects.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { NATS_FEATURE_VERSION } from "../src/server/version.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import https from "node:https";
import { execFileSync } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";


type J = Record<string, any>;

let srv: TestServer;
let base: string;

async function get(p: string): Promise<{ status: number; type: string; text: string }> {
  const r = await fetch(`${base}${p}`);
  return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
}

async function getJson(p: string): Promise<J> {
  const r = await get(p);
  assert.equal(r.status, 200, `${p}: ${r.text}`);
  assert.match(r.type, /application\/json/);
  return JSON.parse(r.text) as J;
}

before(async () => {
  srv = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", serverName: "mon-http" });
  assert.ok(srv.monitorUrl, "monitoring URL published");
  base = srv.monitorUrl as string;
});

after(async () => {
  await srv?.close();
});

test("varz: identity, configuration and traffic counters", async () => {
  const v0 = await getJson("/varz");
  assert.equal(v0.server_id, srv.server.id);
  assert.equal(v0.server_name, "mon-http");
  assert.equal(v0.version, NATS_FEATURE_VERSION);
  assert.equal(v0.port, srv.port);
  assert.equal(v0.http_port, Number(new URL(base).port));
  assert.equal(v0.ping_interval, 120_000_000_000);
  assert.equal(v0.write_deadline, 10_000_000_000);
  assert.equal(v0.auth_timeout, 2);
  assert.equal(v0.max_payload, 1024 * 1024);
  assert.equal(v0.max_control_line, 4096);
  assert.equal(v0.max_pending, 64 * 1024 * 1024);
  assert.deepEqual(v0.jetstream, {});
  assert.match(v0.uptime, /^\d+s$/);
  assert.ok(v0.mem > 1_000_000, "rss reported");
  assert.equal(typeof v0.cpu, "number");
  assert.ok(v0.cores >= 1);
  assert.equal(v0.system_account, "$SYS");
  assert.match(v0.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(v0.http_req_stats["/varz"], 1);

  const pub = await connect({ servers: srv.url, name: "publisher" });
  const subc = await connect({ servers: srv.url, name: "subscriber" });
  try {
    const sub = subc.subscribe("counter.>");
    await subc.flush();
    const before = await getJson("/varz");
    assert.equal(before.connections, 2);
    assert.equal(before.total_connections, v0.total_connections + 2);
    for (let i = 0; i < 10; i++) pub.publish(`counter.${i}`, "0123456789");
    await pub.flush();
    let got = 0;
    for await (const _m of sub) if (++got === 10) break;
    const v = await getJson("/varz");
    assert.equal(v.in_msgs - before.in_msgs, 10);
    assert.equal(v.in_bytes - before.in_bytes, 100);
    assert.equal(v.out_msgs - before.out_msgs, 10);
    assert.equal(v.out_bytes - before.out_bytes, 100);
    // no routes here: everything came from and went to clients (2.15's *_client_* counters)
    assert.equal(v.in_client_msgs - before.in_client_msgs, 10);
    assert.equal(v.in_client_bytes - before.in_client_bytes, 100);
    assert.equal(v.out_client_msgs - before.out_client_msgs, 10);
    assert.equal(v.out_client_bytes - before.out_client_bytes, 100);
    assert.equal(v.config_digest, "", "no config file");
    assert.equal(v.subscriptions, before.subscriptions);
    assert.equal(v.http_req_stats["/varz"], 3);
  } finally {
    await pub.close();
    await subc.close();
  }
  await waitUntil(() => srv.server.clients.size === 0, 5000, "clients to go");
  assert.equal((await getJson("/varz")).connections, 0);
});

test("varz: a client that leaves PINGs unanswered is counted as a stale connection", async () => {
  const s2 = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", pingIntervalMs: 100, maxPingsOut: 1 });
  try {
    const mon = s2.monitorUrl as string;
    const sock = net.connect(s2.port, "127.0.0.1");
    sock.on("error", () => undefined);
    sock.resume(); // read and drop INFO, PING and the -ERR, so the close is seen
    sock.write("CONNECT {\"verbose\":false}\r\n");
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    await closed;
    const v = (await (await fetch(`${mon}/varz`)).json()) as J;
    assert.equal(v.stale_connections, 1);
    assert.deepEqual(v.stale_connection_stats, { clients: 1, routes: 0, gateways: 0, leafs: 0 });
  } finally {
    await s2.close();
  }
});

test("varz: config_digest is a sha256 of what the config file says (as nats-server 2.15)", async () => {
  const digests: string[] = [];
  for (const conf of ["max_payload: 1000\n", "max_payload: 1000 # same settings\n", "max_payload: 2000\n"]) {
    const s = await startNatsServer(["-m", "-1"], conf, "tsnats");
    try {
      digests.push(((await (await fetch(`${s.monitorUrl}/varz`)).json()) as J).config_digest);
    } finally {
      await s.stop();
    }
  }
  assert.match(digests[0], /^sha256:[0-9a-f]{64}$/);
  assert.equal(digests[1], digests[0], "a comment changes nothing");
  assert.notEqual(digests[2], digests[0]);
});

test("connz: client details, subscriptions, sorting and paging", async () => {
  const conns: NatsConnection[] = [];
  try {
    for (const [name, nsubs, nmsgs] of [
      ["alpha", 1, 5],
      ["beta", 3, 1],
      ["gamma", 2, 9],
    ] as const) {
      const nc = await connect({ servers: srv.url, name });
      for (let i = 0; i < nsubs; i++) nc.subscribe(`${name}.${i}`, { queue: i === 1 ? "workers" : undefined });
      for (let i = 0; i < nmsgs; i++) nc.publish(`nowhere.${name}`, "xy");
      await nc.flush();
      conns.push(nc);
    }
    const all = await getJson("/connz");
    assert.equal(all.num_connections, 3);
    assert.equal(all.total, 3);
    assert.equal(all.limit, 1024);
    assert.deepEqual(
      all.connections.map((c: J) => c.name),
      ["alpha", "beta", "gamma"],
      "default sort is by cid",
    );
    const alpha = all.connections[0];
    assert.equal(alpha.kind, "Client");
    assert.equal(alpha.type, "nats");
    assert.equal(alpha.ip, "127.0.0.1");
    assert.equal(alpha.lang, "nats.js");
    assert.equal(alpha.subscriptions, 1);
    assert.equal(alpha.in_msgs, 5);
    assert.equal(alpha.in_bytes, 10);
    assert.ok(alpha.port > 0);
    assert.equal(alpha.subscriptions_list, undefined);
    assert.equal(alpha.account, undefined, "account only with auth=1");

    const bySubs = await getJson("/connz?sort=subs");
    assert.deepEqual(bySubs.connections.map((c: J) => c.name), ["beta", "gamma", "alpha"]);
    const byFrom = await getJson("/connz?sort=msgs_from");
    assert.deepEqual(byFrom.connections.map((c: J) => c.name), ["gamma", "alpha", "beta"]);
    const byBytesFrom = await getJson("/connz?sort=bytes_from");
    assert.deepEqual(byBytesFrom.connections.map((c: J) => c.name), ["gamma", "alpha", "beta"]);
    const byStart = await getJson("/connz?sort=start");
    assert.deepEqual(byStart.connections.map((c: J) => c.name), ["alpha", "beta", "gamma"]);

    const page = await getJson("/connz?offset=1&limit=1");
    assert.equal(page.num_connections, 1);
    assert.equal(page.total, 3);
    assert.equal(page.offset, 1);
    assert.equal(page.limit, 1);
    assert.equal(page.connections[0].name, "beta");

    const subs = await getJson("/connz?subs=1&auth=1");
    const beta = subs.connections.find((c: J) => c.name === "beta");
    assert.deepEqual([...beta.subscriptions_list].sort(), ["beta.0", "beta.1", "beta.2"]);
    // as nats-server 2.15: the global account is not named, only tagged
    assert.equal(beta.account, undefined);
    assert.equal(beta.name_tag, "$G");
    const detail = await getJson("/connz?subs=detail");
    const bd = detail.connections.find((c: J) => c.name === "beta").subscriptions_list_detail;
    const q = bd.find((d: J) => d.subject === "beta.1");
    assert.equal(q.qgroup, "workers");
    assert.equal(q.msgs, 0);
    assert.equal(typeof q.sid, "string");
    assert.equal(q.cid, beta.cid);

    const one = await getJson(`/connz?cid=${beta.cid}`);
    assert.equal(one.num_connections, 1);
    assert.equal(one.connections[0].name, "beta");
    assert.equal((await getJson("/connz?acc=$G")).num_connections, 3);
    assert.equal((await getJson("/connz?acc=NOPE")).num_connections, 0);

    // Closing one moves it to the closed ring with its reason.
    const betaCid = beta.cid;
    await conns[1].close();
    await waitUntil(() => !srv.server.clients.has(betaCid), 5000, "beta to close");
    const open = await getJson("/connz");
    assert.deepEqual(open.connections.map((c: J) => c.name), ["alpha", "gamma"]);
    const closed = await getJson("/connz?state=closed&subs=1");
    const cb = closed.connections.find((c: J) => c.cid === betaCid);
    assert.ok(cb, "closed connection listed");
    assert.equal(cb.reason, "Client Closed");
    assert.match(cb.stop, /Z$/);
    assert.equal(cb.subscriptions, 3);
    assert.equal(cb.subscriptions_list.length, 3);
    const everything = await getJson("/connz?state=all&limit=100");
    assert.ok(everything.connections.some((c: J) => c.cid === betaCid));
    assert.ok(everything.connections.some((c: J) => c.name === "gamma"));
    const byStop = await getJson("/connz?state=closed&sort=stop");
    assert.equal(byStop.connections[0].cid, betaCid, "most recently closed first");
    assert.equal((await getJson("/connz?state=closed&sort=reason")).num_connections, byStop.num_connections);
  } finally {
    for (const nc of conns) if (!nc.isClosed()) await nc.close();
  }
});

test("connz: bad options answer 400 like nats-server", async () => {
  const cases: Array<[string, string]> = [
    ["/connz?sort=foo", "invalid sorting option: foo"],
    ["/connz?sort=stop", "sort by stop only valid on closed connections"],
    ["/connz?sort=reason", "sort by reason only valid on closed connections"],
    ["/connz?state=bogus", "Error decoding state for bogus"],
    ["/connz?limit=abc", `Error decoding int for 'limit': strconv.Atoi: parsing "abc": invalid syntax`],
    ["/connz?cid=abc", `Error decoding uint64 for 'cid': strconv.ParseUint: parsing "abc": invalid syntax`],
    ["/subsz?test=foo.*", "invalid test subject, must be valid publish subject: foo.*"],
    ["/accountz?acc=NOPE", "Account NOPE does not exist"],
  ];
  for (const [p, msg] of cases) {
    const r = await get(p);
    assert.equal(r.status, 400, p);
    assert.equal(r.text, msg, p);
  }
  const nf = await get("/nope");
  assert.equal(nf.status, 404);
});

test("subsz: statistics, listing, test subject and paging", async () => {
  const nc = await connect({ servers: srv.url, name: "subber" });
  try {
    nc.subscribe("orders.*");
    nc.subscribe("orders.>");
    nc.subscribe("orders.new", { queue: "q" });
    nc.subscribe("other.thing");
    await nc.flush();
    nc.publish("orders.new", "1");
    await nc.request("$SYS.REQ.USER.INFO").catch(() => undefined);
    await nc.flush();
    const s = await getJson("/subsz");
    assert.ok(s.num_subscriptions >= 4);
    assert.ok(s.num_inserts >= s.num_subscriptions);
    assert.ok(s.num_matches > 0);
    assert.equal(s.subscriptions_list, undefined);
    const t = await getJson("/subsz?subs=1&test=orders.new");
    const subjects = t.subscriptions_list.map((x: J) => x.subject).sort();
    assert.deepEqual(subjects, ["orders.*", "orders.>", "orders.new"]);
    assert.equal(t.total, 3);
    const q = t.subscriptions_list.find((x: J) => x.subject === "orders.new");
    assert.equal(q.qgroup, "q");
    assert.equal(q.account, "$G");
    assert.equal(q.account_tag, "$G");
    assert.equal(q.msgs, 1);
    const star = t.subscriptions_list.find((x: J) => x.subject === "orders.*");
    assert.equal(star.msgs, 1);
    const paged = await getJson("/subsz?subs=1&test=orders.new&offset=1&limit=1");
    assert.equal(paged.subscriptions_list.length, 1);
    assert.equal(paged.total, 3, "every match counted, as nats-server 2.15");
    const none = await getJson("/subsz?subs=1&test=nobody.listens");
    assert.equal(none.subscriptions_list, undefined);
    assert.equal(none.total, 0);
    const unknown = await getJson("/subsz?acc=nope&subs=1");
    assert.equal(unknown.num_subscriptions, 0, "an account that does not exist has none (200, as nats-server)");
    assert.equal(paged.offset, 1);
    assert.equal(paged.limit, 1);
    const alias = await getJson("/subscriptionsz?subs=1&test=other.thing");
    assert.deepEqual(alias.subscriptions_list.map((x: J) => x.subject), ["other.thing"]);
    const acc = await getJson("/subsz?acc=$G&subs=1");
    assert.ok(acc.subscriptions_list.every((x: J) => x.account === "$G"));
  } finally {
    await nc.close();
  }
});

test("accountz, accstatz, jsz, healthz and topology endpoints", async () => {
  const nc = await connect({ servers: srv.url, name: "acc-user" });
  try {
    nc.subscribe("acc.x");
    nc.publish("acc.x", "hello");
    await nc.flush();
    const az = await getJson("/accountz");
    assert.deepEqual(az.accounts, ["$G", "$SYS"]);
    assert.equal(az.system_account, "$SYS");
    const ad = (await getJson("/accountz?acc=$G")).account_detail;
    assert.equal(ad.account_name, "$G");
    assert.equal(ad.client_connections, 1);
    assert.equal(ad.jetstream_enabled, false);
    assert.ok(ad.sublist_stats.num_subscriptions >= 1);

    const st = await getJson("/accstatz");
    assert.deepEqual(st.account_statz.map((a: J) => a.acc), ["$G"], "only accounts with connections");
    const g = st.account_statz[0];
    assert.equal(g.conns, 1);
    assert.ok(g.received.msgs >= 1);
    assert.ok(g.sent.msgs >= 1);
    const unused = await getJson("/accstatz?unused=1");
    assert.deepEqual(unused.account_statz.map((a: J) => a.acc), ["$G", "$SYS"]);

    const jsz = await getJson("/jsz");
    assert.equal(jsz.disabled, true);
    assert.deepEqual(jsz.config, { max_memory: 0, max_storage: 0 });
    assert.equal(jsz.streams, 0);

    for (const p of ["/healthz", "/healthz?js-enabled-only=true", "/healthz?js-server-only=true"]) {
      const h = await get(p);
      assert.equal(h.status, 200);
      assert.deepEqual(JSON.parse(h.text), { status: "ok" });
    }
    assert.deepEqual((await getJson("/routez")).routes, []);
    assert.equal((await getJson("/leafz")).leafnodes, 0);
    assert.deepEqual((await getJson("/gatewayz")).outbound_gateways, {});
    const idx = await get("/");
    assert.equal(idx.status, 200);
    assert.match(idx.type, /text\/html/);
    assert.match(idx.text, /href="\.\/varz"/);

    // nats-server 2.15 dropped JSONP (callback= is ignored) and lets any origin read the JSON.
    const cb = await fetch(`${base}/varz?callback=myFn`);
    assert.match(cb.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(cb.headers.get("access-control-allow-origin"), "*");
    assert.equal(((await cb.json()) as J).server_id, srv.server.id);
    const missing = await fetch(`${base}/nothing`);
    assert.equal(missing.headers.get("x-content-type-options"), "nosniff");

    const stats = (await getJson("/varz")).http_req_stats;
    for (const p of ["/accountz", "/accstatz", "/jsz", "/healthz", "/routez", "/leafz", "/gatewayz", "/", "/connz", "/subsz"]) {
      assert.ok(stats[p] >= 1, `http_req_stats counts ${p}`);
    }
  } finally {
    await nc.close();
  }
});

test("jsz with JetStream: streams, consumers and usage as they change", async () => {
  const js = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", jetstream: { maxMemoryStore: 64 * 1024 * 1024 } });
  const nc = await connect({ servers: js.url });
  try {
    const b = js.monitorUrl as string;
    const jsz0 = (await (await fetch(`${b}/jsz`)).json()) as J;
    assert.equal(jsz0.disabled, undefined);
    assert.equal(jsz0.config.max_memory, 64 * 1024 * 1024);
    assert.ok(jsz0.config.max_storage > 0);
    assert.equal(typeof jsz0.config.store_dir, "string");
    assert.equal(jsz0.streams, 0);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await jsm.streams.add({ name: "CACHE", subjects: ["cache.>"], storage: StorageType.Memory });
    await jsm.consumers.add("ORDERS", { durable_name: "proc", ack_policy: AckPolicy.Explicit });
    const jsc = jetstream(nc);
    for (let i = 0; i < 4; i++) await jsc.publish("orders.new", "order-" + i);
    await jsc.publish("cache.k", "v");
    const jsz = (await (await fetch(`${b}/jsz`)).json()) as J;
    assert.equal(jsz.streams, 2);
    assert.equal(jsz.consumers, 1);
    assert.equal(jsz.messages, 5);
    assert.ok(jsz.storage > 0, "file usage");
    assert.ok(jsz.memory > 0, "memory usage");
    assert.equal(jsz.bytes, jsz.storage + jsz.memory);
    assert.ok(jsz.api.total >= 3, "stream and consumer creates counted");
    assert.equal(jsz.account_details, undefined);
    const full = (await (await fetch(`${b}/jsz?accounts=true&streams=true&consumers=true&config=true`)).json()) as J;
    assert.equal(full.account_details.length, 1);
    const acc = full.account_details[0];
    assert.equal(acc.name, "$G");
    const orders = acc.stream_detail.find((x: J) => x.name === "ORDERS");
    assert.equal(orders.state.messages, 4);
    assert.equal(orders.config.subjects[0], "orders.>");
    assert.equal(orders.consumer_detail[0].name, "proc");
    assert.equal(orders.consumer_detail[0].num_pending, 4);
    assert.equal(orders.consumer_detail[0].config.ack_policy, "explicit");
    const noCfg = (await (await fetch(`${b}/jsz?acc=$G&consumers=true`)).json()) as J;
    const o2 = noCfg.account_details[0].stream_detail.find((x: J) => x.name === "ORDERS");
    assert.equal(o2.config, undefined, "config only with config=true");
    assert.equal(o2.consumer_detail[0].config, undefined);
    const varz = (await (await fetch(`${b}/varz`)).json()) as J;
    assert.equal(varz.jetstream.config.max_memory, 64 * 1024 * 1024);
    assert.equal(varz.jetstream.stats.accounts, 1);
    assert.equal(varz.jetstream.stats.storage, jsz.storage);
    const h = await fetch(`${b}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: "ok" });
  } finally {
    await nc.close();
    await js.close();
  }
});

test("healthz answers 503 while the server is in lame duck mode", async () => {
  const s = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", lameDuckDurationMs: 1500, lameDuckGracePeriodMs: 1000 });
  const nc = await connect({ servers: s.url, reconnect: false });
  try {
    assert.equal((await fetch(`${s.monitorUrl as string}/healthz`)).status, 200);
    const done = s.server.enterLameDuckMode();
    const h = await fetch(`${s.monitorUrl as string}/healthz`);
    assert.equal(h.status, 503);
    const body = (await h.json()) as J;
    assert.equal(body.status, "unavailable");
    assert.match(body.error, /lame duck/);
    await done;
  } finally {
    if (!nc.isClosed()) await nc.close();
    await s.close();
  }
});

test("base path, ports file and monitor shutdown", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ports-"));
  const s2 = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", httpBasePath: "/mon", portsFileDir: dir });
  try {
    const b = s2.monitorUrl as string;
    assert.equal((await fetch(`${b}/mon/varz`)).status, 200);
    assert.equal((await fetch(`${b}/varz`)).status, 404);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ports"));
    assert.equal(files.length, 1);
    const ports = JSON.parse(fs.readFileSync(path.join(dir, files[0]), "utf8")) as J;
    assert.deepEqual(ports.monitoring, [b]);
  } finally {
    await s2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(fetch(`${s2.monitorUrl as string}/mon/varz`), "listener closed with the server");
});

test("https monitoring serves the endpoints over TLS", { skip: !hasOpenssl() && "openssl not installed" }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-https-"));
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  const srv = await startTestServer({ httpsPort: -1, httpHost: "127.0.0.1", tls: { cert, key } });
  try {
    const url = srv.monitorUrl ?? "";
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`${url}/varz`, { ca: fs.readFileSync(cert) }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve(text));
        })
        .on("error", reject);
    });
    const v = JSON.parse(body) as J;
    assert.equal(v.server_id, srv.server.id);
    assert.equal(v.https_port, Number(new URL(url).port));
    assert.equal(v.tls_required, true);
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

test("/healthz for one account, stream or consumer answers as nats-server 2.15: 400 for incomplete options, 404 for a missing asset, details as errors", async () => {
    const queries = [
      "account=%24G",
      "account=%24G&stream=S",
      "account=%24G&stream=S&consumer=C",
      "account=%24G&stream=NOPE",
      "account=%24G&stream=S&consumer=NOPE",
      "account=NOPE",
      "stream=S",
      "consumer=C",
      "account=%24G&consumer=C",
      "account=%24G&stream=NOPE&details=true",
      "account=%24G&stream=S&consumer=NOPE&details=1",
      "js-enabled-only=true&account=%24G&stream=NOPE",
      "js-server-only=true&account=%24G&stream=NOPE",
    ];
    const answers = async (line: "tsnats" | "2.15"): Promise<Array<[number, unknown]>> => {
      const srv = await startNatsServer(["-js", "-m", "-1"], undefined, line);
      const nc = await connect({ port: srv.port });
      try {
        await nc.request("$JS.API.STREAM.CREATE.S", JSON.stringify({ name: "S", subjects: ["s"] }), { timeout: 5000 });
        await nc.request("$JS.API.CONSUMER.CREATE.S.C", JSON.stringify({ stream_name: "S", config: { durable_name: "C" } }), { timeout: 5000 });
        const out: Array<[number, unknown]> = [];
        for (const q of queries) {
          const r = await fetch(`${srv.monitorUrl}/healthz?${q}`);
          out.push([r.status, await r.json()]);
        }
        return out;
      } finally {
        await nc.close();
        await srv.stop();
      }
    };
    const ours = await answers("tsnats");
    assert.deepEqual(ours.map(([code]) => code), [200, 200, 200, 404, 404, 404, 400, 400, 400, 404, 404, 200, 200]);
    assert.deepEqual(ours[3][1], { status: "unavailable", error: 'JetStream stream "NOPE" not found on account "$G"' });
    if (referenceBinary("2.15") === undefined) return;
    assert.deepEqual(ours, await answers("2.15"));
  });

/** Status and Location of a raw request path (sent as written: fetch would clean it first). */
function rawGet(url: string, target: string): Promise<{ status: number; location: string | undefined; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: Number(u.port), path: target }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on("error", reject);
  });
}

test("request paths are read as nats-server 2.15 reads them: clean-path redirects, exact matches, bad escapes, base path, debugging endpoints", async () => {
  const plain = ["/", "//", "/varz/", "//varz?a=1&b=2", "/a/../connz", "/./varz", "/%zz", "/varz%2F", "/%76arz", "/VARZ", "/healthz/", "/foo", "/subscriptionsz", "/debug/vars", "/stacksz", "/ipqueuesz", "/ipqueuesz?all=1", "/ipqueuesz?all=x", "/ipqueuesz?queues=nothing-matches", "/raftz",
    // Queries as Go reads them (found by a random sweep of 7500 requests against both servers).
    "/connz??auth=x", "/subsz?offset=%zz", "/subsz?offset=1;2", "/connz?limit=9223372036854775807", "/connz?limit=9223372036854775808", "/connz?cid=18446744073709551616", "/leafz?subs=detail", "/subsz#x", "/jsz?offset=y&raft=x", "/connz?state=bogus&limit=z", "/healthz?js-meta-only=x", "/healthz?js-enabled-only=y&js-enabled=x", "/varz?callback=f"];
  const based = ["/mon", "/mon/", "/mon/varz", "/varz", "/mon//varz", "/mon/../varz", "/monvarz", "/mon/varz/", "/"];
  const answers = async (line: "tsnats" | "2.15", conf: string | undefined, paths: string[]): Promise<string[]> => {
    const s = await startNatsServer(["-m", "-1"], conf, line);
    try {
      const out: string[] = [];
      for (const p of paths) {
        const r = await rawGet(s.monitorUrl as string, p);
        out.push(`${p} -> ${r.status}${r.location === undefined ? "" : ` ${r.location}`}${r.status === 400 ? ` ${r.body}` : ""}`);
      }
      return out;
    } finally {
      await s.stop();
    }
  };
  const ours = await answers("tsnats", undefined, plain);
  assert.ok(ours.includes("//varz?a=1&b=2 -> 301 /varz?a=1&b=2"), ours.join("\n"));
  assert.ok(ours.includes("/varz/ -> 404"));
  assert.ok(ours.includes("/%zz -> 400 400 Bad Request"));
  const oursBased = await answers("tsnats", 'http_base_path: "/mon"\n', based);
  assert.ok(oursBased.includes("/varz -> 404") && oursBased.includes("/mon/varz -> 200"), oursBased.join("\n"));

  // What the debugging endpoints hold on tsnats.
  const ipq = JSON.parse((await rawGet(base, "/ipqueuesz?all=1")).body) as J;
  assert.deepEqual(ipq["Stalled publishers"], { pending: 0 });
  assert.deepEqual(JSON.parse((await rawGet(base, "/ipqueuesz")).body), {}, "only queues with something pending unless all=1");
  const vars = JSON.parse((await rawGet(base, "/debug/vars")).body) as J;
  assert.ok(Array.isArray(vars.cmdline) && vars.memstats.Sys > 1_000_000 && vars.memstats.HeapAlloc > 0, JSON.stringify(vars));
  const stacks = (await rawGet(base, "/stacksz")).body;
  assert.match(stacks, /Event loop handles \(\d+\):\n(.*\n)*  tcp \(active\)/);

  if (referenceBinary("2.15") === undefined) return;
  assert.deepEqual(ours, await answers("2.15", undefined, plain));
  assert.deepEqual(oursBased, await answers("2.15", 'http_base_path: "/mon"\n', based));
});
