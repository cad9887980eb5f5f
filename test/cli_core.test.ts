// tsnats CLI: contexts (natscli's files), connection flags and environment, and the core
// commands pub/sub/request/reply/rtt, against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createUser } from "@nats-io/nkeys";
import { CliHome } from "./helpers/cli.js";
import { jetStreamTargets } from "./helpers/cli_targets.js";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";

describe("tsnats context", () => {
  let home: CliHome;
  before(() => (home = new CliHome()));
  after(() => home.cleanup());

  test("add/ls/info/select/copy/rm write natscli's files", async () => {
    let r = await home.exec(["context", "add", "local", "--server", "nats://127.0.0.1:4333", "--description", "Local Host", "--select"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /NATS Configuration Context "local"/);
    assert.match(r.stdout, /Server URLs: nats:\/\/127\.0\.0\.1:4333/);
    const file = path.join(home.dir, ".config", "nats", "context", "local.json");
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.equal(doc.url, "nats://127.0.0.1:4333");
    assert.equal(doc.description, "Local Host");
    assert.equal(typeof doc.tls_first, "boolean");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(path.join(home.dir, ".config", "nats", "context.txt"), "utf8"), "local");

    // --user alone is a token, as natscli records it.
    r = await home.exec(["context", "add", "other", "--server", "nats://h:1", "--user", "secret"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(fs.readFileSync(path.join(home.dir, ".config", "nats", "context", "other.json"), "utf8")).token, "secret");

    r = await home.exec(["context", "ls"]);
    assert.match(r.stdout, /Known Contexts/);
    assert.match(r.stdout, /local\*/);
    assert.match(r.stdout, /other/);
    r = await home.exec(["context", "ls", "--names"]);
    assert.equal(r.stdout, "local\nother\n");
    r = await home.exec(["ctx", "ls", "--json"]);
    assert.deepEqual(
      JSON.parse(r.stdout).map((c: { name: string }) => c.name),
      ["local", "other"],
    );

    r = await home.exec(["context", "info", "--json"]);
    assert.equal(JSON.parse(r.stdout).url, "nats://127.0.0.1:4333");

    r = await home.exec(["context", "select", "other"]);
    assert.equal(r.code, 0);
    r = await home.exec(["context", "previous"]);
    assert.equal(r.code, 0);
    assert.equal(fs.readFileSync(path.join(home.dir, ".config", "nats", "context.txt"), "utf8"), "local");

    r = await home.exec(["context", "copy", "local", "copied", "--server", "nats://x:2"]);
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["context", "info", "copied", "--json"]);
    assert.equal(JSON.parse(r.stdout).url, "nats://x:2");
    assert.equal(JSON.parse(r.stdout).description, "Local Host");
    // copy --embed: a credentials file given now is stored as data inside the copy.
    const creds = path.join(home.dir, "copy.creds");
    fs.writeFileSync(creds, "-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n");
    r = await home.exec(["context", "copy", "local", "embedded", "--creds", creds, "--embed"]);
    assert.equal(r.code, 0, r.stderr);
    const stored = JSON.parse(fs.readFileSync(path.join(home.dir, ".config", "nats", "context", "embedded.json"), "utf8")) as { creds: string };
    assert.match(stored.creds, /^data:/);
    assert.equal((await home.exec(["context", "rm", "embedded", "-f"])).code, 0);

    // The selected context cannot be removed without --force; others need --force off a terminal.
    r = await home.exec(["context", "rm", "local"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot remove the selected context/);
    r = await home.exec(["context", "rm", "copied"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--force/);
    r = await home.exec(["context", "rm", "copied", "-f"]);
    assert.equal(r.code, 0);
    assert.equal(fs.existsSync(path.join(home.dir, ".config", "nats", "context", "copied.json")), false);

    r = await home.exec(["context", "info", "nope"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown context "nope"/);
    assert.match(r.stderr, /tsnats context ls/);
    r = await home.exec(["context", "add", "../evil"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /must not contain/);
  });

  test("a context written by natscli (unknown keys kept) is used and edited", async () => {
    const dir = path.join(home.dir, ".config", "nats", "context");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "legacy.json"), JSON.stringify({ description: "from natscli", url: "nats://a:1", future_key: 42 }));
    let r = await home.exec(["context", "info", "legacy"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /from natscli/);
    // Edit through $EDITOR: a script that rewrites the url.
    const editor = path.join(home.dir, "ed.sh");
    fs.writeFileSync(editor, `#!/bin/sh\nsed -i 's#nats://a:1#nats://b:2#' "$1"\n`, { mode: 0o755 });
    r = await home.exec(["context", "edit", "legacy"], { env: { EDITOR: editor } });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(fs.readFileSync(path.join(dir, "legacy.json"), "utf8"));
    assert.equal(doc.url, "nats://b:2");
    assert.equal(doc.future_key, 42);
    // An editor that breaks the JSON leaves the context as it was.
    fs.writeFileSync(editor, `#!/bin/sh\necho '{broken' > "$1"\n`, { mode: 0o755 });
    r = await home.exec(["context", "edit", "legacy"], { env: { EDITOR: editor } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not valid JSON.*context unchanged/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "legacy.json"), "utf8")).url, "nats://b:2");
    r = await home.exec(["context", "validate", "legacy"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe("tsnats connection settings", () => {
  let srv: TestServer;
  let home: CliHome;
  before(async () => {
    srv = await startTestServer({ users: [{ user: "alice", password: "s3cret" }] });
    home = new CliHome();
  });
  after(async () => {
    await srv.close();
    home.cleanup();
  });

  test("credentials from flags, environment and the selected context", async () => {
    let r = await home.exec(["pub", "x", "y"], { server: srv.url });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /could not connect/);
    assert.match(r.stderr, /credentials/);
    r = await home.exec(["pub", "x", "y", "--user", "alice", "--password", "s3cret"], { server: srv.url });
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["pub", "x", "y"], { env: { NATS_URL: srv.url, NATS_USER: "alice", NATS_PASSWORD: "s3cret" } });
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["context", "add", "auth", "--server", srv.url, "--user", "alice", "--password", "s3cret", "--select"]);
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["pub", "x", "y"]);
    assert.equal(r.code, 0, r.stderr);
    // A flag beats the context; --no-context ignores it.
    r = await home.exec(["pub", "x", "y", "--password", "wrong"]);
    assert.equal(r.code, 1);
    r = await home.exec(["pub", "x", "y", "--no-context", "--server", srv.url]);
    assert.equal(r.code, 1);
    r = await home.exec(["context", "info", "auth", "--connect"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Connection: OK/);
    assert.match(r.stdout, /Password: \*{6}/);
    r = await home.exec(["pub", "x", "y", "--context", "missing"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown context "missing"/);
  });

  test("nkey authentication with a seed file", async () => {
    const kp = createUser();
    const s2 = await startTestServer({ users: [{ nkey: kp.getPublicKey() }] });
    try {
      const seedFile = path.join(home.dir, "user.nk");
      fs.writeFileSync(seedFile, new TextDecoder().decode(kp.getSeed()) + "\n");
      const r = await home.exec(["pub", "x", "y", "--no-context", "--nkey", seedFile], { server: s2.url });
      assert.equal(r.code, 0, r.stderr);
      const bad = await home.exec(["pub", "x", "y", "--no-context", "--nkey", path.join(home.dir, "none.nk")], { server: s2.url });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /cannot read/);
    } finally {
      await s2.close();
    }
  });

  test("usage errors exit 2, runtime errors 1, help 0", async () => {
    const noCtx = new CliHome();
    try {
      let r = await noCtx.exec(["pub"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /missing required argument 'subject'/);
      r = await noCtx.exec(["pub", "a", "b", "--bogus"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown option/);
      r = await noCtx.exec(["pub", "--help"]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /--count <n>/);
      r = await noCtx.exec(["pub", "a", "b", "--timeout", "zz"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid --timeout/);
      r = await noCtx.exec(["pub", "a", "b", "--server", "nats://127.0.0.1:1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /connection refused/);
      assert.match(r.stderr, /--server/);
    } finally {
      noCtx.cleanup();
    }
  });

  test("the bin sets exit statuses", async () => {
    const noCtx = new CliHome();
    try {
      const ok = await noCtx.spawn(["--version"]);
      assert.equal(ok.code, 0);
      assert.match(ok.stdout, /^\d+\.\d+\.\d+/);
      const bad = await noCtx.spawn(["request", "nobody.home", "x", "--server", srv.url, "--user", "alice", "--password", "s3cret"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /no responders/);
    } finally {
      noCtx.cleanup();
    }
  });
});

describe("tsnats pub/sub/request/reply/rtt", async () => {
  const servers = await jetStreamTargets();
  const home = new CliHome();
  after(async () => {
    for (const s of servers) await s.stop();
    home.cleanup();
  });

  for (const t of servers) {
    describe(t.name, () => {
      let nc: NatsConnection;
      before(async () => (nc = await connect({ servers: t.url })));
      after(() => nc.close());

      test("pub with count, templates and headers; sub prints them", async () => {
        const sub = home.run(["sub", "cli.>", "--count", "3"], { server: t.url });
        await waitUntil(() => sub.stderr.text.includes("Subscribing on cli.>"), 5000, "sub ready");
        const r = await home.exec(["pub", "cli.{{Count}}", "msg {{ Count }} {{ Random 5 5 }}", "--count", "3", "-H", "N:{{Count}}", "-H", "Fixed:yes"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        const out = await sub.done;
        assert.equal(out.code, 0, out.stderr);
        for (let i = 1; i <= 3; i++) {
          assert.match(out.stdout, new RegExp(`\\[#${i}\\] Received on "cli\\.${i}"`));
          assert.match(out.stdout, new RegExp(`N: ${i}\\n`));
          assert.match(out.stdout, new RegExp(`msg ${i} [A-Za-z0-9]{5}\\n`));
        }
        assert.match(out.stdout, /Fixed: yes/);
      });

      test("sub --raw, --headers-only, --queue, stdin body, --no-templates", async () => {
        const raw = home.run(["sub", "raw.x", "--raw", "--count", "2"], { server: t.url });
        await waitUntil(() => raw.stderr.text.includes("Subscribing"), 5000, "sub ready");
        let r = await home.exec(["pub", "raw.x"], { server: t.url, stdin: "from stdin" });
        assert.equal(r.code, 0, r.stderr);
        r = await home.exec(["pub", "raw.x", "{{Count}}", "--no-templates"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await raw.done).stdout, "from stdin\n{{Count}}\n");

        const ho = home.run(["sub", "ho.x", "--headers-only", "--count", "1", "--queue", "q1"], { server: t.url });
        await waitUntil(() => ho.stderr.text.includes("in group q1"), 5000, "sub ready");
        r = await home.exec(["pub", "ho.x", "secret-body", "-H", "K:V"], { server: t.url });
        const out = (await ho.done).stdout;
        assert.match(out, /K: V/);
        assert.doesNotMatch(out, /secret-body/);
      });

      test("sub --wait ends after silence; --ignore-subject filters", async () => {
        const sub = home.run(["sub", "ig.>", "--wait", "300ms", "-I", "ig.skip"], { server: t.url });
        await waitUntil(() => sub.stderr.text.includes("Subscribing"), 5000, "sub ready");
        nc.publish("ig.skip", "no");
        nc.publish("ig.keep", "yes");
        await nc.flush();
        const out = await sub.done;
        assert.equal(out.code, 0);
        assert.match(out.stdout, /Received on "ig\.keep"/);
        assert.doesNotMatch(out.stdout, /ig\.skip/);
      });

      test("request/reply with body template, echo and command", async () => {
        const rep = home.run(["reply", "svc.hello", "hi {{ Request }} #{{ Count }}", "--count", "2"], { server: t.url });
        await waitUntil(() => rep.stderr.text.includes("Listening on"), 5000, "reply ready");
        let r = await home.exec(["request", "svc.hello", "bob", "--raw"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "hi bob #0\n");
        r = await home.exec(["req", "svc.hello", "ann", "-H", "A:1"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /hi ann #1/);
        assert.match(r.stderr, /Received with rtt/);
        assert.equal((await rep.done).code, 0);

        const echo = home.run(["reply", "svc.echo", "--echo", "--count", "1"], { server: t.url });
        await waitUntil(() => echo.stderr.text.includes("Listening on"), 5000, "reply ready");
        r = await home.exec(["request", "svc.echo", "ping", "-H", "Trace:7"], { server: t.url });
        assert.match(r.stdout, /Trace: 7/);
        assert.match(r.stdout, /NATS-Reply-Counter: 0/);
        assert.match(r.stdout, /ping/);
        await echo.done;

        const cmd = home.run(["reply", "svc.cmd.*", "--command", "echo token={{2}}", "--count", "1"], { server: t.url });
        await waitUntil(() => cmd.stderr.text.includes("Listening on"), 5000, "reply ready");
        r = await home.exec(["request", "svc.cmd.abc", "", "--raw"], { server: t.url });
        assert.equal(r.stdout, "token=abc\n");
        await cmd.done;

        // --send-on newline: a request per stdin line; --no-wait only sends.
        const lines = home.run(["reply", "svc.lines", "got {{ Request }}", "--count", "3"], { server: t.url });
        await waitUntil(() => lines.stderr.text.includes("Listening on"), 5000, "reply ready");
        r = await home.exec(["request", "svc.lines", "--send-on", "newline", "--raw"], { server: t.url, stdin: "a\nb\n" });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "got a\ngot b\n");
        r = await home.exec(["request", "svc.lines", "c", "--no-wait"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /without waiting for a reply/);
        assert.equal((await lines.done).code, 0, "the third request reached the service");
      });

      test("request --replies collects several answers; no responders is an error", async () => {
        const s1 = nc.subscribe("multi", { callback: (_e, m) => void m.respond("one") });
        const s2 = nc.subscribe("multi", { callback: (_e, m) => void m.respond("two") });
        await nc.flush();
        let r = await home.exec(["request", "multi", "q", "--replies", "2", "--raw"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n").sort(), ["one", "two"]);
        s1.unsubscribe();
        s2.unsubscribe();
        r = await home.exec(["request", "nobody", "q"], { server: t.url });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /no responders are available/);
      });

      test("rtt and rtt --json", async () => {
        const r = await home.exec(["rtt", "2", "--json"], { server: t.url });
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.equal(doc[0].url, t.url);
        assert.ok(doc[0].results[0].rtt > 0);
        const txt = await home.exec(["rtt", "1"], { server: t.url });
        assert.match(txt.stdout, new RegExp(`${t.url.replaceAll(".", "\\.")}: \\d`));
      });
    });
  }
});
