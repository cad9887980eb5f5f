// tsnats CLI: server ping/info/list/report/request and server check (Nagios output and exit
// codes), against a tsnats server with a system account and nats-server 2.15 configured alike.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { systemAccountTargets } from "./helpers/cli_targets.js";
import { waitUntil } from "./helpers/server.js";
import { compactNames } from "../src/cli/server_report_jetstream.js";

const targets = await systemAccountTargets("server");

test("server names are compacted as natscli does: the shared domain goes", () => {
  assert.deepEqual(compactNames(["n1.east.example.net", "n2.east.example.net", "n3.west.example.net"]), ["n1.east", "n2.east", "n3.west"]);
  assert.deepEqual(compactNames(["a.x", "b"]), ["a.x", "b"]);
  assert.deepEqual(compactNames(["ts1"]), ["ts1"]);
  assert.deepEqual(compactNames([]), []);
});

const home = new CliHome();
after(async () => {
  for (const t of targets) await t.stop();
  home.cleanup();
});

for (const t of targets) {
  describe(`server commands on ${t.name}`, () => {
    const sys = (args: string[]) => home.exec([...args, "--user", "sys", "--password", "sys"], { server: t.url });
    const app = (args: string[]) => home.exec([...args, "--user", "app", "--password", "app"], { server: t.url });
    let nc: NatsConnection;
    before(async () => (nc = await connect({ servers: t.url, user: "app", pass: "app" })));
    after(() => nc.close());

    test("ping, info, list", async () => {
      let r = await sys(["server", "ping", "1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${t.serverName} +rtt=`, "m"));
      assert.match(r.stdout, /1 replies max: [\d.]+ min: [\d.]+ avg: [\d.]+/);
      r = await sys(["server", "ping", "1", "--graph"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Responses per 25ms/);
      assert.match(r.stdout, /1\.00 ┤|1 ┤|┼/);
      r = await sys(["server", "ping", "1", "--json"]);
      assert.equal(JSON.parse(r.stdout)[0].server.name, t.serverName);
      // Waits the whole timeout for the second server: long enough for the first to answer on a loaded machine.
      r = await sys(["server", "ping", "2", "--timeout", "3s"]);
      assert.equal(r.code, 1, "a missing server fails the ping");
      assert.match(r.stdout, /Missing 1 server/);
      r = await app(["server", "ping", "1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /system account/);

      r = await sys(["server", "info"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Server information for ${t.serverName}`));
      assert.match(r.stdout, /Maximum Payload: 1\.0 MiB/);
      r = await sys(["server", "info", t.serverName, "--json"]);
      assert.equal(JSON.parse(r.stdout).server_name, t.serverName);

      r = await sys(["server", "list", "1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Server Overview/);
      assert.match(r.stdout, new RegExp(`│ ${t.serverName} `));
      r = await sys(["server", "ls", "1", "--json"]);
      assert.equal(JSON.parse(r.stdout)[0].server.name, t.serverName);
    });

    test("report connections/accounts/jetstream and request", async () => {
      let r = await sys(["server", "report", "connections", "1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Top \d+ Connections out of \d+ by subs/);
      r = await sys(["server", "report", "accounts", "--json"]);
      assert.ok(JSON.parse(r.stdout).some((a: { account: string }) => a.account === "APP"));
      r = await sys(["server", "report", "jetstream", "1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /JetStream Summary/);
      r = await sys(["server", "request", "variables", "1"]);
      assert.equal(JSON.parse(r.stdout).server_name, t.serverName);
      r = await sys(["server", "req", "connz", "1"]);
      assert.ok(Array.isArray(JSON.parse(r.stdout).connections));
      r = await sys(["server", "request", "jetstream", "1", "--accounts"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(JSON.parse(r.stdout).config);
      r = await sys(["server", "request", "subscriptions", "1"]);
      assert.equal(typeof JSON.parse(r.stdout).num_subscriptions, "number");
    });

    test("report --watch redraws until interrupted", async () => {
      for (const report of [["jetstream"], ["connections"], ["cpu"]]) {
        const running = home.run(["server", "report", ...report, "--watch", "1", "--user", "sys", "--password", "sys"], { server: t.url });
        const frames = (): number => running.stdout.text.split(report[0] === "cpu" ? /CPU Usage|cpu/i : report[0] === "jetstream" ? /JetStream Summary/ : /Connections out of/).length - 1;
        await waitUntil(() => frames() >= 2, 20_000, `two frames of server report ${report[0]} --watch`);
        running.abort();
        const r = await running.done;
        assert.equal(r.code, 0, r.stderr);
      }
      const bad = await sys(["server", "report", "jetstream", "--watch", "0"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--watch/);
    });

    test("report downgrade lists the assets a lower API level could not load", async () => {
      const made = (await nc.request("$JS.API.STREAM.CREATE.DG", JSON.stringify({ name: "DG", subjects: ["dg.>"], allow_msg_ttl: true }), { timeout: 5000 })).json<{ config?: { metadata?: Record<string, string> }; error?: unknown }>();
      assert.equal(made.error, undefined);
      assert.equal(made.config?.metadata?.["_nats.req.level"], "1");
      await nc.request("$JS.API.CONSUMER.CREATE.DG.C1", JSON.stringify({ stream_name: "DG", config: { durable_name: "C1", ack_policy: "explicit" } }), { timeout: 5000 });
      let r = await sys(["server", "report", "downgrade", "0", "--json", "--all"]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { streams: { account: string; name: string; api_level: number }[]; consumers: { stream: string; name: string }[] };
      assert.deepEqual(doc.streams.filter((x) => x.name === "DG"), [{ account: "APP", name: "DG", api_level: 1 }]);
      assert.ok(doc.consumers.some((c) => c.stream === "DG*" && c.name === "C1"), "--all lists the consumers of an incompatible stream");
      r = await sys(["server", "report", "downgrade", "0"]);
      assert.match(r.stdout, /Assets: Streams/);
      assert.match(r.stdout, /│ APP +│ DG +│ 1 /);
      r = await sys(["server", "report", "downgrade", "99"]);
      assert.match(r.stdout, /All assets are compatible with the specified API level\./);
      await nc.request("$JS.API.STREAM.DELETE.DG", "", { timeout: 5000 });
    });

    test("report connections --filter and --closed-reason", async () => {
      let r = await sys(["server", "report", "connections", "1", "--filter", "Conn.Account == 'APP' and conn.subscriptions >= 0", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const open = (JSON.parse(r.stdout) as { connections: { account: string }[] }[])[0].connections;
      assert.ok(open.length >= 1);
      assert.ok(open.every((c) => c.account === "APP"));
      const gone = await connect({ servers: t.url, user: "app", pass: "app", name: "short-lived" });
      await gone.close();
      // The closed connection shows up in the server's closed list once the close is processed.
      let closed: { name?: string; reason?: string }[] = [];
      for (let i = 0; i < 50 && !closed.some((c) => c.name === "short-lived"); i++) {
        r = await sys(["server", "report", "connections", "1", "--closed-reason", "client closed", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        closed = (JSON.parse(r.stdout) as { connections: { name?: string; reason?: string }[] }[])[0].connections;
      }
      assert.ok(closed.some((c) => c.name === "short-lived"), JSON.stringify(closed));
      assert.ok(closed.every((c) => /client closed/.test(String(c.reason).toLowerCase())));
      r = await sys(["server", "report", "connections", "1", "--closed-reason", "x", "--filter", "true"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /mutually exclusive/);
      r = await sys(["server", "report", "connections", "1", "--filter", "Conn.InMsgs +"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid expression/);
    });

    test("request filters: which servers answer, and each endpoint's options", async () => {
      // --name picks the servers that answer: another name gets no answer at all.
      let r = await sys(["server", "request", "--name", t.serverName, "variables", "1"]);
      assert.equal(JSON.parse(r.stdout).server_name, t.serverName);
      r = await sys(["server", "request", "--name", "no-such-server", "variables", "--timeout", "1s"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no server answered/);
      r = await sys(["server", "request", "--cluster", "no-such-cluster", "connections", "--timeout", "1s"]);
      assert.equal(r.code, 1);

      // connections: one cid, a user, an account, subscriptions, a sort order.
      const mine = JSON.parse((await sys(["server", "request", "connections", "1", "--filter-account", "APP", "--subscriptions", "--sort", "subs"])).stdout) as { connections: { cid: number }[] };
      assert.ok(mine.connections.length >= 1);
      r = await sys(["server", "request", "connections", "1", "--filter-account", "NOPE"]);
      assert.equal((JSON.parse(r.stdout) as { connections?: unknown[] }).connections?.length ?? 0, 0);
      const cid = mine.connections[0].cid;
      r = await sys(["server", "request", "connections", "1", "--filter-cid", String(cid)]);
      assert.deepEqual(
        (JSON.parse(r.stdout) as { connections: { cid: number }[] }).connections.map((c) => c.cid),
        [cid],
      );
      r = await sys(["server", "request", "connections", "1", "--filter-user", "app", "--filter-state", "all"]);
      assert.ok((JSON.parse(r.stdout) as { connections: unknown[] }).connections.length >= 1);
      r = await sys(["server", "request", "connections", "--sort", "bogus"]);
      assert.equal(r.code, 2, "an unknown sort is a usage error");

      // jetstream-health with its checks, jetstream with raft groups, accounts of one account.
      r = await sys(["server", "request", "jetstream-health", "1", "--js-enabled", "--server-only"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).status, "ok");
      r = await sys(["server", "request", "jetstream-health", "1", "--account", "APP", "--stream", "NOPE"]);
      assert.equal(r.code, 0, r.stderr);
      // nats-server checks the named stream; tsnats's healthz does not look at account,
      // stream or consumer yet (src/monitor/healthz.ts), so it answers ok.
      if (t.name.includes("nats-server")) assert.notEqual(JSON.parse(r.stdout).status, "ok", "a missing stream is unhealthy");
      r = await sys(["server", "request", "jetstream", "1", "--raft", "--leader"]);
      assert.equal(r.code, 0, r.stderr);
      r = await sys(["server", "request", "accounts", "1", "--account", "APP"]);
      assert.equal(JSON.parse(r.stdout).account_detail.account_name, "APP");
      r = await sys(["server", "request", "routes", "1", "--subscriptions"]);
      assert.equal(r.code, 0, r.stderr);
      r = await sys(["server", "request", "leafnodes", "1", "--subscriptions"]);
      assert.equal(r.code, 0, r.stderr);
      r = await sys(["server", "request", "gateways", "GW", "1", "--filter-account", "APP"]);
      assert.equal(r.code, 0, r.stderr);
    });

    test("check connection: OK, WARNING and CRITICAL with their exit codes", async () => {
      let r = await app(["server", "check", "connection"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^OK Connection OK:connected to .* OK:rtt time .* OK:round trip took [\d.]+s \| connect_time=[\d.]+s;0\.5000;1\.0000 rtt=[\d.]+s;0\.5000;1\.0000 request_time=[\d.]+s;0\.5000;1\.0000\n$/);
      r = await app(["server", "check", "connection", "--rtt-warn", "1ns", "--rtt-critical", "1h"]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^WARNING Connection Warn:rtt time exceeded/);
      r = await app(["server", "check", "connection", "--connect-critical", "1ns"]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, /^CRITICAL Connection Crit:connected to .* connect time exceeded/);
      r = await home.exec(["server", "check", "connection", "--server", "nats://127.0.0.1:1"]);
      assert.equal(r.code, 2);
      assert.match(r.stdout, /^CRITICAL Connection Crit:connection failed/);
      r = await app(["server", "check", "connection", "--format", "json"]);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.status, "OK");
      assert.equal(doc.check_suite, "connections");
      assert.deepEqual(
        doc.perf_data.map((p: { name: string }) => p.name),
        ["connect_time", "rtt", "request_time"],
      );
      r = await app(["server", "check", "connection", "--format", "prometheus"]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /nats_server_check_connections_status_code\{item="Connection"\} 0/);
      r = await app(["server", "check", "connection", "--format", "text"]);
      assert.match(r.stdout, /Connection: OK/);
      assert.match(r.stdout, /Check Metrics/);
      const out = path.join(home.dir, `check-${t.serverName}.txt`);
      r = await app(["server", "check", "connection", "--outfile", out]);
      assert.equal(r.stdout, "");
      assert.match(fs.readFileSync(out, "utf8"), /^OK Connection/);
    });

    test("check stream, consumer, message, kv, jetstream and request", async () => {
      assert.equal((await app(["stream", "add", "CHK", "--subjects", "chk.>", "--defaults"])).code, 0);
      assert.equal((await app(["consumer", "add", "CHK", "C1", "--pull", "--defaults"])).code, 0);
      let r = await app(["server", "check", "stream", "--stream", "CHK", "--msgs-warn", "5", "--msgs-critical", "1"]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, /^CRITICAL CHK Crit:0 messages \| messages=0;5;1/);
      for (let i = 0; i < 3; i++) await app(["pub", "chk.a", `${Math.floor(Date.now() / 1000)}`]);
      r = await app(["server", "check", "stream", "--stream", "CHK", "--msgs-warn", "5", "--msgs-critical", "1"]);
      assert.equal(r.code, 1, r.stdout);
      r = await app(["server", "check", "stream", "--stream", "NOPE"]);
      assert.equal(r.code, 2);
      assert.match(r.stdout, /Crit:stream not found/);

      r = await app(["server", "check", "consumer", "--stream", "CHK", "--consumer", "C1", "--unprocessed-critical", "2"]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, /Crit:Unprocessed Messages: 3/);
      r = await app(["server", "check", "consumer", "--stream", "CHK", "--consumer", "C1", "--unprocessed-critical", "10"]);
      assert.equal(r.code, 0, r.stdout);

      r = await app(["server", "check", "message", "--stream", "CHK", "--subject", "chk.a", "--age-critical", "1h", "--content", "^\\d+$"]);
      assert.equal(r.code, 0, r.stdout);
      r = await app(["server", "check", "message", "--stream", "CHK", "--subject", "chk.a", "--content", "^x"]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, /does not match regex/);
      r = await app(["server", "check", "message", "--stream", "CHK", "--subject", "chk.none"]);
      assert.equal(r.code, 2);
      assert.match(r.stdout, /no message found/);

      assert.equal((await app(["kv", "add", "CHKV"])).code, 0);
      r = await app(["server", "check", "kv", "--bucket", "CHKV", "--key", "k"]);
      assert.equal(r.code, 2);
      assert.match(r.stdout, /key k not found/);
      await app(["kv", "put", "CHKV", "k", "v"]);
      r = await app(["server", "check", "kv", "--bucket", "CHKV", "--key", "k", "--values-critical", "5"]);
      assert.equal(r.code, 0, r.stdout);
      r = await app(["server", "check", "kv", "--bucket", "NOKV"]);
      assert.equal(r.code, 2);

      r = await app(["server", "check", "jetstream"]);
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /^OK JetStream/);

      const svc = nc.subscribe("svc.chk", { callback: (_e, m) => void m.respond("pong") });
      await nc.flush();
      r = await app(["server", "check", "request", "--subject", "svc.chk", "--match-payload", "^pong$"]);
      assert.equal(r.code, 0, r.stdout);
      r = await app(["server", "check", "request", "--subject", "svc.chk", "--match-payload", "^ping$"]);
      assert.equal(r.code, 2, r.stdout);
      svc.unsubscribe();
    });

    test("check server and meta", async () => {
      let r = await sys(["server", "check", "server", "--name", t.serverName, "--js-required", "--conn-critical", "100000"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /OK:JetStream enabled/);
      r = await sys(["server", "check", "server", "--name", t.serverName, "--auth-required"]);
      assert.equal(r.code, 0, r.stdout);
      r = await sys(["server", "check", "server", "--name", "nobody", "--timeout", "500ms"]);
      assert.equal(r.code, 2, r.stdout);
      r = await sys(["server", "check", "meta", "--expect", "3", "--lag-critical", "10", "--seen-critical", "5s"]);
      assert.equal(r.code, 2, "a single server has no meta cluster");
      assert.match(r.stdout, /^CRITICAL JetStream Meta Cluster/);
      r = await sys(["server", "check", "stream"]);
      assert.equal(r.code, 2, "a missing required flag is a usage error");
      await waitUntil(() => true);
    });
  });
}
