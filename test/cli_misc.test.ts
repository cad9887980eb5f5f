// tsnats CLI: events (JetStream advisories, system events), micro services (service ls/info/
// stats/ping/request/serve) and shell completion, against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { startTestServer, waitUntil } from "./helpers/server.js";

interface Target {
  name: string;
  url: string;
  stop(): Promise<void>;
}

const targets: Target[] = [];
const ts = await startTestServer({
  serverName: "ts-misc",
  systemAccount: "SYS",
  jetstream: true,
  accounts: [
    { name: "SYS", users: [{ user: "sys", password: "sys" }] },
    { name: "APP", jetstream: true, users: [{ user: "app", password: "app" }] },
  ] as never,
});
targets.push({ name: "tsnats", url: ts.url, stop: () => ts.close() });
if (referenceBinary("2.15")) {
  const ref = await startNatsServer(
    [],
    `system_account: SYS
jetstream { store_dir: "${path.join(ts.dir, "ref-store")}" }
accounts {
  SYS { users: [{ user: sys, password: sys }] }
  APP { jetstream: enabled, users: [{ user: app, password: app }] }
}`,
    "2.15",
  );
  targets.push({ name: "nats-server 2.15", url: `nats://127.0.0.1:${ref.port}`, stop: () => ref.stop() });
} else console.log("# nats-server 2.15 not available: these tests run against tsnats only");

const home = new CliHome();
after(async () => {
  for (const t of targets) await t.stop();
  home.cleanup();
});

for (const t of targets) {
  describe(`events and services on ${t.name}`, () => {
    const app = ["--user", "app", "--password", "app"];
    const sys = ["--user", "sys", "--password", "sys"];

    test("events shows JetStream advisories readably and as JSON", async () => {
      const ev = home.run(["events", "--js-advisory", "--no-srv-advisory", "--filter", "stream_action", "--count", "1", ...app], { server: t.url });
      await waitUntil(() => ev.stderr.text.includes("Listening for JetStream Advisories"), 5000, "events ready");
      assert.equal((await home.exec(["stream", "add", "EVS", "--subjects", "evs.>", "--defaults", ...app], { server: t.url })).code, 0);
      const r = await ev.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\[\d\d:\d\d:\d\d\] \[Stream create\] EVS\n$/);
      const js = home.run(["events", "--js-advisory", "--no-srv-advisory", "--filter", "consumer_action", "--count", "1", "--json", ...app], { server: t.url });
      await waitUntil(() => true);
      await new Promise((res) => setTimeout(res, 200));
      assert.equal((await home.exec(["consumer", "add", "EVS", "C", "--pull", "--defaults", ...app], { server: t.url })).code, 0);
      const doc = JSON.parse((await js.done).stdout);
      assert.equal(doc.type, "io.nats.jetstream.advisory.v1.consumer_action");
      assert.equal(doc.consumer, "C");
    });

    test("events --stream reads advisories a stream stored", async () => {
      const cli = (args: string[]) => home.exec([...args, ...app], { server: t.url });
      assert.equal((await cli(["stream", "add", "ADVS", "--subjects", "$JS.EVENT.ADVISORY.>", "--defaults", "--no-ack"])).code, 0);
      assert.equal((await cli(["stream", "add", "EVX", "--subjects", "evx.>", "--defaults"])).code, 0);
      const r = await cli(["events", "--stream", "ADVS", "--since", "1h", "--filter", '"stream":"EVX"', "--count", "1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Listening for Events in stream ADVS since /);
      assert.match(r.stdout, /\[Stream create\] EVX/);
      const bad = await cli(["events", "--stream", "ADVS", "--js-advisory"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /cannot specify both Stream and specific advisories/);
      const since = await cli(["events", "--since", "1h", "--js-advisory"]);
      assert.equal(since.code, 1);
      assert.match(since.stderr, /--since reads a stream/);
    });

    test("events shows client connections to a system account user", async () => {
      const ev = home.run(["events", "--filter", '"client_connect"|client_connect', "--count", "1", ...sys], { server: t.url });
      await waitUntil(() => ev.stderr.text.includes("Client Connection events"), 5000, "events ready");
      await new Promise((res) => setTimeout(res, 100));
      const nc = await connect({ servers: t.url, user: "app", pass: "app", name: "watched-client" });
      const r = await ev.done;
      await nc.close();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\[Connection\] cid: \d+ in account APP .*name: watched-client/);
      const none = await home.exec(["events", "--no-srv-advisory"], { server: t.url });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /nothing to listen for/);
    });

    test("service serve, ls, info, stats, ping and request", async () => {
      const svc = home.run(["service", "serve", "demo", "--count", "3", ...app], { server: t.url });
      await waitUntil(() => svc.stderr.text.includes("running with endpoint echo"), 5000, "service ready");
      let r = await home.exec(["service", "ls", "--json", ...app], { server: t.url });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).map((s: { name: string }) => s.name),
        ["demo"],
      );
      r = await home.exec(["micro", "info", "demo", ...app], { server: t.url });
      assert.match(r.stdout, /Service Information for demo 1\.0\.0/);
      assert.match(r.stdout, /echo: demo\.echo/);
      r = await home.exec(["service", "ping", "demo", ...app], { server: t.url });
      assert.match(r.stdout, /^demo 1\.0\.0 \w+ /);
      r = await home.exec(["service", "request", "demo", "echo", "hello {{Count}}", "--raw", "--count", "2", ...app], { server: t.url });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "hello 1\nhello 2\n");
      r = await home.exec(["service", "stats", "demo", "--json", ...app], { server: t.url });
      assert.equal(JSON.parse(r.stdout)[0].endpoints[0].num_requests, 2);
      r = await home.exec(["service", "request", "demo", "nope", ...app], { server: t.url });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /has no endpoint "nope"/);
      await home.exec(["service", "request", "demo", "echo", "last", ...app], { server: t.url });
      assert.equal((await svc.done).code, 0);
      r = await home.exec(["service", "ls", ...app, "--timeout", "1s"], { server: t.url });
      assert.equal(r.code, 1, "no services left");
    });
  });
}

describe("shell completion", () => {
  test("scripts for bash, zsh and fish; candidates from the command tree and contexts", async () => {
    for (const sh of ["bash", "zsh", "fish"]) {
      const r = await home.exec(["completion", sh]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /tsnats __complete/);
    }
    assert.equal((await home.exec(["completion", "tcsh"])).code, 1);
    let r = await home.exec(["__complete", "st"]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["stream"]);
    r = await home.exec(["__complete", "stream", "a"]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["add"]);
    r = await home.exec(["__complete", "kv", "put", "--"]);
    assert.ok(r.stdout.split("\n").includes("--server"));
    await home.exec(["context", "add", "compl-one", "--server", "nats://x:1"]);
    r = await home.exec(["__complete", "pub", "--context", "compl"]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["compl-one"]);
    r = await home.exec(["__complete", "context", "select", ""]);
    assert.ok(r.stdout.includes("compl-one"));
  });
});
