// tsnats CLI: server passwd (bcrypt hashes a server accepts), server mappings (the server's
// transform engine, offline), server config reload, server account info and purge, against
// tsnats and nats-server 2.15 configured alike.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { connect } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const home = new CliHome();
after(() => home.cleanup());

describe("server passwd and server mappings (offline)", () => {
  test("passwd: bcrypt hashes of a given or generated password; validation", async () => {
    let r = await home.exec(["server", "passwd", "--pass", "correct horse battery", "--cost", "5"]);
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.match(hash, /^\$2[aby]\$05\$/);
    assert.ok(bcrypt.compareSync("correct horse battery", hash));
    r = await home.exec(["server", "passwd", "-g", "-c", "4"]);
    assert.equal(r.code, 0, r.stderr);
    const generated = /^Generated password: (\S{22})$/m.exec(r.stdout)![1];
    const generatedHash = /^ +bcrypt hash: (\S+)$/m.exec(r.stdout)![1];
    assert.ok(bcrypt.compareSync(generated, generatedHash));
    r = await home.exec(["server", "passwd", "-c", "4"], { env: { PASSWORD: "from the environment" } });
    assert.ok(bcrypt.compareSync("from the environment", r.stdout.trim()));

    r = await home.exec(["server", "passwd", "-p", "short"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /password should be at least 10 characters long/);
    r = await home.exec(["server", "passwd", "-p", "long enough pass", "--cost", "3"]);
    assert.match(r.stderr, /bcrypt cost should be between 4 and 31/);
    r = await home.exec(["server", "passwd"]);
    assert.match(r.stderr, /cannot ask "Enter password"[\s\S]*--pass or PASSWORD, or --generate/);
  });

  test("mappings: wildcards, functions, and the server's error texts", async () => {
    const map = (...args: string[]) => home.exec(["server", "mappings", ...args]);
    let r = await map("orders.*.*", "shipped.{{wildcard(2)}}.{{wildcard(1)}}", "orders.eu.42");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "shipped.42.eu\n\n");
    r = await map("part.*", "part.{{partition(3,1)}}.{{wildcard(1)}}", "part.abc");
    assert.match(r.stdout, /^part\.[012]\.abc\n/);
    r = await map("old.>", "new.>", "old.a.b.c");
    assert.equal(r.stdout.trim(), "new.a.b.c");
    r = await map("a.*", "b.$1", "z.q");
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), "Error: no matching transforms available");
    r = await map("a.*", "b.{{wildcard(2)}}", "a.b");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid mapping destination: wildcard index out of range/);
    r = await map("a.*", "b.{{nope(1)}}", "a.b");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid mapping destination/);
    r = await map("a.*");
    assert.match(r.stderr, /cannot ask "Destination subject pattern"/);
  });
});

for (const line of ["tsnats", "2.15"] as const) {
  const label = line === "tsnats" ? "tsnats" : "nats-server 2.15";
  describe(`server config reload, account info and purge on ${label}`, () => {
    let srv: ReferenceServer | undefined;
    let url = "";
    const hash = bcrypt.hashSync("hashed password 1", 4);
    before(async () => {
      if (line === "2.15" && !referenceBinary("2.15")) return;
      srv = await startNatsServer(
        ["-js", "-sd", `${home.dir}/js-${line}`],
        `server_name: admin1
system_account: SYS
accounts {
  SYS { users: [{ user: sys, password: sys }] }
  APP { jetstream: enabled, users: [{ user: app, password: "${hash}" }], exports: [{ service: "svc.>" }] }
  OTHER { imports: [{ service: { account: APP, subject: "svc.>" }, to: "app.svc.>" }], users: [{ user: other, password: other }] }
}`,
        line,
      );
      url = `nats://127.0.0.1:${srv.port}`;
    });
    after(async () => {
      await srv?.stop();
    });
    const sys = (args: string[]) => home.exec([...args, "--user", "sys", "--password", "sys"], { server: url });

    test("a bcrypt hash from server passwd logs in", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      const nc = await connect({ servers: url, user: "app", pass: "hashed password 1" });
      await nc.flush();
      await nc.close();
    });

    test("account info: details, imports and exports of one account", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      let r = await sys(["server", "account", "info", "OTHER"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Account information for account OTHER/);
      assert.match(r.stdout, /System Account: false/);
      assert.match(r.stdout, /Subject: app\.svc\.> from subject svc\.> in account APP/);
      r = await sys(["server", "account", "info", "APP", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const a = JSON.parse(r.stdout);
      assert.equal(a.account_name, "APP");
      assert.equal(a.jetstream_enabled, true);
      assert.ok((a.exports as { subject: string }[]).some((e) => e.subject === "svc.>"));
      r = await sys(["server", "account", "info", "NOPE"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /failed: 500 Account NOPE does not exist/);
      r = await sys(["server", "account", "info", "APP", "--host", "elsewhere", "--timeout", "500ms"]);
      assert.equal(r.code, 1);
    });

    test("config reload by server ID", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      let r = await sys(["server", "info", "--json"]);
      const info = JSON.parse(r.stdout);
      r = await sys(["server", "config", "reload", info.server_id, "--force"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Configuration of admin1 reloaded at \d{4}-\d\d-\d\d/);
      r = await sys(["server", "info", "--json"]);
      assert.ok(Date.parse(JSON.parse(r.stdout).config_load_time) >= Date.parse(info.config_load_time));
      r = await sys(["server", "config", "reload", info.server_id]);
      assert.match(r.stderr, /cannot ask "Really reload configuration for admin1/);
      r = await sys(["server", "config", "reload", "admin1", "-f"]);
      assert.match(r.stderr, /"admin1" is not a server ID/);
    });

    test("account purge", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      let r = await sys(["server", "account", "purge", "APP"]);
      assert.match(r.stderr, /cannot ask "Really purge account APP"/);
      r = await sys(["server", "account", "purge", "APP", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Purge operation on account APP initiated/);
    });
  });
}
