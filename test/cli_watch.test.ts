// tsnats CLI live views: server watch accounts/jetstream/servers/api, server graph, top,
// stream graph, consumer graph and sub --report-subjects/--report-subscriptions/--graph/
// --match-replies, against a tsnats server and nats-server 2.15 configured alike. Views run
// in-process until aborted (as Ctrl-C does); graphs get a stdout that claims to be a terminal.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { CliHome, type CliRunning } from "./helpers/cli.js";
import { systemAccountTargets } from "./helpers/cli_targets.js";
import { waitUntil } from "./helpers/server.js";

const targets = await systemAccountTargets("live view");

const home = new CliHome();
after(async () => {
  for (const t of targets) await t.stop();
  home.cleanup();
});

const TERMINAL = { columns: 140, rows: 70 };

/** Wait until the running view printed `what`, stop it as Ctrl-C would, and check it ended well. */
async function seeThenStop(r: CliRunning, what: RegExp, label: string): Promise<string> {
  try {
    await waitUntil(() => what.test(r.stdout.text), 15_000, `${label}: ${what}`);
  } catch (err) {
    r.abort();
    const res = await r.done;
    throw new Error(`${(err as Error).message}\nstdout: ${res.stdout.slice(-3000)}\nstderr: ${res.stderr}`);
  }
  r.abort();
  const res = await r.done;
  assert.equal(res.code, 0, `${label}: ${res.stderr}`);
  return res.stdout;
}

for (const t of targets) {
  describe(`live views on ${t.name}`, () => {
    const sysArgs = ["--user", "sys", "--password", "sys"];
    const appArgs = ["--user", "app", "--password", "app"];
    const sys = (args: string[], tty?: typeof TERMINAL) => home.run([...args, ...sysArgs], { server: t.url, tty });
    const app = (args: string[], tty?: typeof TERMINAL) => home.run([...args, ...appArgs], { server: t.url, tty });
    let nc: NatsConnection;
    before(async () => (nc = await connect({ servers: t.url, user: "app", pass: "app" })));
    after(() => nc.close());

    test("server watch servers and jetstream: a row per server from STATSZ, sorts checked", async () => {
      let out = await seeThenStop(sys(["server", "watch", "servers", "--sort", "subs"]), new RegExp(`│ ${t.serverName} +│ \\d+ +│ \\d+`), "watch servers");
      assert.match(out, /Top 1 Server activity by Subscriptions at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
      assert.match(out, /│ Totals \(All Servers\) │/);
      out = await seeThenStop(sys(["server", "watch", "js", "-n", "5"]), new RegExp(`│ ${t.serverName}\\*? +│ \\d+ +│`), "watch jetstream");
      assert.match(out, /Top 1 Server activity by HA Asset/);
      assert.match(out, /│ Totals \(1 Servers\) │/);

      const bad = await home.exec(["server", "watch", "servers", "--sort", "nope", ...sysArgs], { server: t.url });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Allowed choices are .*conns/);
      const tooSmall = await sys(["server", "watch", "servers"], { columns: 100, rows: 5 }).done;
      assert.notEqual(tooSmall.code, 0);
      assert.match(tooSmall.stderr, /requested render limits exceed screen size/);
    });

    test("server watch accounts: the CONNS events of an account as clients come and go", async () => {
      const r = sys(["server", "watch", "accounts", "--sort", "subs"]);
      await waitUntil(() => /Account activity by Subscriptions/.test(r.stdout.text), 10_000, "first frame");
      // A new APP connection makes the server send APP's CONNS event.
      const extra = await connect({ servers: t.url, user: "app", pass: "app" });
      extra.subscribe("watch.me");
      await extra.flush();
      try {
        const out = await seeThenStop(r, /│ APP +│ 1 +│ [1-9]\d* +│ 0 +│/, "watch accounts");
        assert.match(out, /│ Account +│ Servers +│ Connections +│ Leafnodes +│ Subscriptions +│ Slow +│ Sent +│ Received +│/);
      } finally {
        await extra.close();
      }
    });

    test("server watch api requests: requests by type and asset", async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "WATCHED", subjects: ["watched.>"] });
      // An account's own user sees its requests (without the Nats-Request-Info header, so no
      // account name); --account then filters every row away.
      let r = app(["server", "watch", "api", "requests", "--rate", "30s"]);
      const filtered = app(["server", "watch", "api", "requests", "--account", "^APP$"]);
      await waitUntil(() => /Waiting for requests/.test(r.stdout.text) && /Waiting for requests/.test(filtered.stdout.text), 10_000, "api watch start");
      await jsm.streams.info("WATCHED");
      await jsm.streams.info("WATCHED");
      await jsm.streams.names().next();
      let out = await seeThenStop(r, /│ stream_info_request +│ +│ 2 +│ 2 +│ WATCHED +│/, "watch api");
      assert.match(out, /Top 10 JS API activity/);
      assert.match(out, /│ Type +│ Account +│ Count +│ Event \/ 30s +│ Asset +│/);
      assert.match(out, /│ stream_names_request +│ +│ 1 +│ 1 +│ +│/);
      filtered.abort();
      const f = await filtered.done;
      assert.equal(f.code, 0, f.stderr);
      assert.doesNotMatch(f.stdout, /stream_info_request/);

      const bad = await home.exec(["server", "watch", "api", "requests", "--account", "(", ...appArgs], { server: t.url });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--account: invalid regular expression/);

      // nats-server serves the API from the system account through an import in every
      // account, so a system user sees all accounts' requests, named by their request info.
      // tsnats answers the API inside each account: nothing reaches the system account.
      if (t.name !== "tsnats") {
        r = sys(["server", "watch", "api", "requests", "--rate", "30s", "--account", "^AP"]);
        await waitUntil(() => /Waiting for requests/.test(r.stdout.text), 10_000, "api watch start");
        await jsm.streams.info("WATCHED");
        await jsm.streams.info("WATCHED");
        out = await seeThenStop(r, /│ stream_info_request +│ APP +│ 2 +│ 2 +│ WATCHED +│/, "watch api as system user");
      }
      await jsm.streams.delete("WATCHED");
    });

    test("server graph: server and JetStream charts on a terminal, refused elsewhere", async () => {
      let out = await seeThenStop(sys(["server", "graph", t.serverName], TERMINAL), /Bytes In\+Out \/ second/, "server graph");
      assert.match(out, new RegExp(`Server Statistics for ${t.serverName}`));
      for (const caption of ["CPU % Used (normalized for", "Memory Used in MB", "Connections", "Subscriptions", "Messages In+Out / second"]) assert.ok(out.includes(caption), caption);
      assert.match(out, /┤/, "an axis was drawn");
      out = await seeThenStop(sys(["server", "graph", t.serverName, "--jetstream"], TERMINAL), /Memory Storage in GB/, "server graph --jetstream");
      for (const caption of [`JetStream Statistics for ${t.serverName}`, "HA Assets", "API Requests / second", "Pending API Requests", "File Storage in GB"]) assert.ok(out.includes(caption), caption);

      let res = await home.exec(["server", "graph", t.serverName, ...sysArgs], { server: t.url });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /can only graph data on an interactive terminal/);
      res = await sys(["server", "graph", t.serverName], { columns: 140, rows: 20 }).done;
      assert.match(res.stderr, /please increase terminal dimensions/);
      res = await sys(["server", "graph", "no-such-server", "--timeout", "500ms"], TERMINAL).done;
      assert.equal(res.code, 1);
      assert.match(res.stderr, /no server "no-such-server" answered/);
    });

    test("top: one snapshot to stdout or a file, delimited text, a bounded number of refreshes", async () => {
      let res = await home.exec(["top", t.serverName, "-o", "-", "--subs", ...sysArgs], { server: t.url });
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^NATS server version 2\.\d+\.\d+ \(uptime: /);
      assert.match(res.stdout, new RegExp(`^Server: ${t.serverName}$`, "m"));
      assert.match(res.stdout, /^ {2}ID: {3}N[A-Z0-9]{55}$/m);
      assert.match(res.stdout, /^ {2}In: {3}Msgs: \d/m);
      assert.match(res.stdout, /^Connections Polled: \d+$/m);
      assert.match(res.stdout, /^ {2}HOST +CID +NAME +SUBS +PENDING +MSGS_TO +MSGS_FROM +BYTES_TO +BYTES_FROM +LANG +VERSION +UPTIME +LAST_ACTIVITY +SUBSCRIPTIONS$/m);
      assert.match(res.stdout, /^ {2}127\.0\.0\.1:\d+ +\d+ +tsnats CLI Version .* nats\.js .* _INBOX\./m, "the top connection itself, with its subscription");

      const file = path.join(home.dir, "top.csv");
      res = await home.exec(["top", t.serverName, "-o", file, "--delimiter", ",", "--sort", "subs", "-n", "5", ...sysArgs], { server: t.url });
      assert.equal(res.code, 0, res.stderr);
      const csv = (await import("node:fs")).readFileSync(file, "utf8");
      assert.match(csv, /^NATS server version,2\.\d+\.\d+,\(uptime: /);
      assert.match(csv, /^HOST,CID,NAME,SUBS,PENDING,MSGS_TO,MSGS_FROM,BYTES_TO,BYTES_FROM,LANG,VERSION,UPTIME,LAST_ACTIVITY$/m);
      assert.match(csv, /^127\.0\.0\.1:\d+,\d+,/m);

      // Not a terminal: frames are written one after the other, -r bounds them.
      res = await home.exec(["top", t.serverName, "-r", "2", "-d", "1", ...sysArgs], { server: t.url });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout.match(/^NATS server version/gm)?.length, 2);
      assert.match(res.stdout, /Msgs\/Sec: \d+\.\d/);

      res = await home.exec(["top", t.serverName, "--sort", "bogus", ...sysArgs], { server: t.url });
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /Allowed choices are cid, start, subs/);
      res = await home.exec(["top", "nowhere", "-o", "-", "--timeout", "500ms", ...sysArgs], { server: t.url });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /initial test request failed: no server "nowhere" answered/);
      res = await home.exec(["top", t.serverName, "-o", "-", "--timeout", "500ms", ...appArgs], { server: t.url });
      assert.equal(res.code, 1, "an application user cannot reach $SYS.REQ");
    });

    test("stream graph and consumer graph chart a stream's and a consumer's activity", async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "GRAPHED", subjects: ["graphed.>"] });
      await jsm.consumers.add("GRAPHED", { durable_name: "C1", ack_policy: "explicit" as never });
      for (let i = 0; i < 5; i++) await nc.request("graphed.x", "x");
      let out = await seeThenStop(app(["stream", "graph", "GRAPHED"], TERMINAL), /Messages Stored \/ second/, "stream graph");
      assert.match(out, /Stream Statistics for GRAPHED/);
      assert.ok(out.includes("Messages Removed / second"));
      assert.match(out, /^ +5(\.0+)? ┤/m, "the stored count (5) labels the axis");
      out = await seeThenStop(app(["consumer", "graph", "GRAPHED", "C1"], TERMINAL), /Messages Delivered \/ second/, "consumer graph");
      for (const caption of ["Consumer Statistics for GRAPHED > C1", "Messages Pending", "Messages Waiting for Ack", "Messages Acknowledged / second"]) assert.ok(out.includes(caption), caption);

      let res = await home.exec(["stream", "graph", "GRAPHED", ...appArgs], { server: t.url });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /can only graph data on an interactive terminal/);
      res = await app(["stream", "graph", "MISSING"], TERMINAL).done;
      assert.equal(res.code, 1);
      assert.match(res.stderr, /stream "MISSING" not found/);
      res = await app(["consumer", "graph", "GRAPHED", "MISSING"], TERMINAL).done;
      assert.equal(res.code, 1);
      assert.match(res.stderr, /consumer "MISSING" not found/);
      await jsm.streams.delete("GRAPHED");
    });

    test("sub --report-subjects and --report-subscriptions: de-duplicated counts, printed again at the end", async () => {
      let r = app(["sub", "rep.>", "--report-subjects", "--count", "6", "--report-top", "2"]);
      await waitUntil(() => /Subscribing on rep\.>/.test(r.stderr.text), 10_000, "subscribed");
      for (const [subj, n] of [["rep.a", 3], ["rep.b", 2], ["rep.c", 1]] as const) for (let i = 0; i < n; i++) nc.publish(subj, "12345");
      let res = await r.done;
      assert.equal(res.code, 0, res.stderr);
      const last = res.stdout.slice(res.stdout.lastIndexOf("Top 2 Active Subjects Report"));
      assert.match(last, /│ Subject +│ Message Count +│ Bytes +│/);
      assert.match(last, /│ rep\.a +│ 3 +│ 15 B +│/);
      assert.match(last, /│ rep\.b +│ 2 +│ 10 B +│/);
      assert.doesNotMatch(last, /rep\.c/, "only the top 2");
      assert.match(last, /│ Totals +│ 5 +│ 25 B +│/);

      r = app(["sub", "rsub.a.*", "rsub.b.*", "--report-subscriptions", "--count", "3"]);
      await waitUntil(() => /Subscribing on rsub\.a\.\*, rsub\.b\.\*/.test(r.stderr.text), 10_000, "subscribed");
      nc.publish("rsub.a.1", "x");
      nc.publish("rsub.a.2", "x");
      nc.publish("rsub.b.1", "x");
      res = await r.done;
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /Top 10 Active Subjects Report/);
      assert.match(res.stdout, /│ rsub\.a\.\* +│ 2 +│ 2 B +│/);
      assert.match(res.stdout, /│ rsub\.b\.\* +│ 1 +│ 1 B +│/);

      res = await home.exec(["sub", "x", "--report-subjects", "--report-top", "0", ...appArgs], { server: t.url });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /subject count must be at least one/);
    });

    test("sub --report-subjects on a stream reports stored subjects", async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "REPORTED", subjects: ["reported.>"] });
      for (const s of ["reported.a", "reported.a", "reported.b"]) await nc.request(s, "abc");
      const res = await app(["sub", "--stream", "REPORTED", "--all", "--report-subjects", "--count", "3"]).done;
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /│ reported\.a +│ 2 +│ 6 B +│/);
      assert.match(res.stdout, /│ reported\.b +│ 1 +│ 3 B +│/);
      await jsm.streams.delete("REPORTED");
    });

    test("sub --graph charts each pattern's rate on a terminal; refused elsewhere and past 4 patterns", async () => {
      const r = app(["sub", "gr.a", "gr.b", "--graph"], TERMINAL);
      await waitUntil(() => /Subscribing on gr\.a, gr\.b/.test(r.stderr.text), 10_000, "subscribed");
      const pub = setInterval(() => nc.publish("gr.a", "x"), 20);
      try {
        const out = await seeThenStop(r, /gr\.b \/ second/, "sub --graph");
        assert.ok(out.includes("gr.a / second"));
      } finally {
        clearInterval(pub);
      }
      let res = await home.exec(["sub", "gr.a", "--graph", ...appArgs], { server: t.url });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /can only graph data on an interactive terminal/);
      res = await app(["sub", "a", "b", "c", "d", "e", "--graph"], TERMINAL).done;
      assert.equal(res.code, 1);
      assert.match(res.stderr, /maximum 4 subject patterns may be graphed/);
      res = await app(["sub", "a", "--graph", "--stream", "X"], TERMINAL).done;
      assert.equal(res.code, 1);
      assert.match(res.stderr, /--graph is only supported for core NATS subscriptions/);
    });

    test("sub --match-replies prints each request with its reply", async () => {
      const svc = nc.subscribe("svc.echo", { callback: (_e, m) => void m.respond(`echo ${m.string()}`) });
      await nc.flush();
      const r = app(["sub", "svc.echo", "--match-replies", "--count", "2"]);
      await waitUntil(() => /Subscribing on svc\.echo/.test(r.stderr.text), 10_000, "subscribed");
      const requester = await connect({ servers: t.url, user: "app", pass: "app" });
      try {
        assert.equal((await requester.request("svc.echo", "one")).string(), "echo one");
        assert.equal((await requester.request("svc.echo", "two")).string(), "echo two");
        const res = await r.done;
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stdout, /\[#1\] Received on "svc\.echo" with reply "_INBOX\.[^"]+"\none\n/);
        assert.match(res.stdout, /\[#1\] Matched reply on "_INBOX\.[^"]+"\necho one\n/);
        assert.match(res.stdout, /\[#2\] Matched reply on "_INBOX\.[^"]+"\necho two\n/);
      } finally {
        await requester.close();
        svc.unsubscribe();
      }
      const res = await home.exec(["sub", "x", "--match-replies", "--stream", "S", ...appArgs], { server: t.url });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /cannot enable --match-replies for JetStream streams/);
    });
  });
}
