// tsnats CLI: how it reaches a server: through a SOCKS5 proxy (--socks-proxy, NATS_SOCKS_PROXY,
// a context's socks_proxy; plain, TLS and TLS-first), op:// credentials refused with a next
// step, and --trace logging the JetStream API requests and answers (tsnats and nats-server 2.15).
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { CliHome } from "./helpers/cli.js";
import { jetStreamTargets } from "./helpers/cli_targets.js";
import { hasOpenssl, makePki, type Pki } from "./helpers/pki.js";
import { startSocks5, type Socks5Proxy } from "./helpers/socks5.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const home = new CliHome();
after(() => home.cleanup());

describe("--socks-proxy", () => {
  let srv: TestServer;
  let proxy: Socks5Proxy;
  let authed: Socks5Proxy;
  before(async () => {
    srv = await startTestServer({});
    proxy = await startSocks5();
    authed = await startSocks5({ user: "px", password: "p@ss" });
  });
  after(async () => {
    await proxy.close();
    await authed.close();
    await srv.close();
  });

  test("requests travel through the proxy (flag, environment, context), with proxy authentication", async () => {
    const port = new URL(srv.url).port;
    let r = await home.exec(["rtt", "--socks-proxy", proxy.url], { server: srv.url });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(proxy.connects, [`127.0.0.1:${port}`]);
    // The server's hostname goes to the proxy unresolved (socks5h semantics).
    r = await home.exec(["pub", "a", "b", "--socks-proxy", `127.0.0.1:${proxy.port}`], { server: `nats://localhost:${port}` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.connects[1], `localhost:${port}`);
    r = await home.exec(["pub", "a", "b"], { server: srv.url, env: { NATS_SOCKS_PROXY: authed.url } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(authed.connects, [`127.0.0.1:${port}`]);
    r = await home.exec(["context", "add", "proxied", "--server", srv.url, "--socks-proxy", proxy.url]);
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["context", "info", "proxied"]);
    assert.match(r.stdout, /SOCKS5 Proxy: socks5:\/\/127\.0\.0\.1/);
    r = await home.exec(["pub", "a", "b", "--context", "proxied"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.connects.length, 3);
  });

  test("a proxy that refuses or a bad proxy setting is a clear error", async () => {
    let r = await home.exec(["pub", "a", "b", "--socks-proxy", `socks5://px:wrong@127.0.0.1:${authed.port}`], { server: srv.url });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SOCKS proxy 127\.0\.0\.1:\d+/);
    assert.match(r.stderr, /--socks-proxy/);
    r = await home.exec(["pub", "a", "b", "--socks-proxy", "http://127.0.0.1:3128"], { server: srv.url });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unsupported SOCKS proxy scheme "http"/);
    r = await home.exec(["pub", "a", "b", "--socks-proxy", "socks5://127.0.0.1:99999"], { server: srv.url });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid SOCKS proxy/);
  });

  describe("TLS over the proxy", () => {
    let pki: Pki | undefined;
    before(() => {
      if (hasOpenssl) pki = makePki();
    });
    after(() => {
      if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
    });

    for (const handshakeFirst of [false, true]) {
      test(handshakeFirst ? "TLS first" : "TLS after INFO", async (tc) => {
        if (!pki) return tc.skip("openssl not available");
        const tls = await startTestServer({ tls: { cert: pki.server.cert, key: pki.server.key, handshakeFirst } });
        try {
          const before = proxy.connects.length;
          const args = ["rtt", "--socks-proxy", proxy.url, "--tlsca", pki.ca, ...(handshakeFirst ? ["--tlsfirst"] : [])];
          const r = await home.exec(args, { server: tls.url.replace("nats://", "tls://") });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(proxy.connects.length, before + 1);
        } finally {
          await tls.close();
        }
      });
    }
  });
});

describe("credential locations", () => {
  test("op:// is refused with a next step", async () => {
    const r = await home.exec(["pub", "a", "b", "--creds", "op://vault/nats/creds"], { server: "nats://127.0.0.1:1" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /op:\/\/ credentials are read by 1Password's `op` CLI/);
    assert.match(r.stderr, /op read/);
  });

  test("a malformed or unknown nsc:// location names what is missing", async () => {
    let r = await home.exec(["pub", "a", "b", "--creds", "nsc://only/two"], { server: "nats://127.0.0.1:1" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid nsc URL/);
    r = await home.exec(["pub", "a", "b", "--creds", "nsc://NOPE/A/U"], { server: "nats://127.0.0.1:1" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no operator "NOPE" in the nsc store/);
  });
});

const targets = await jetStreamTargets();
after(async () => {
  for (const t of targets) await t.stop();
});

for (const t of targets) {
  describe(`--trace on ${t.name}`, () => {
    test("logs each JetStream API request and its answer on stderr", async () => {
      let r = await home.exec(["stream", "add", "TRACED", "--subjects", "traced.>", "--defaults", "--trace"], { server: t.url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d >>> \$JS\.API\.STREAM\.CREATE\.TRACED$/m);
      assert.match(r.stderr, /"subjects":\["traced\.>"\]/);
      assert.match(r.stderr, /<<< \$JS\.API\.STREAM\.CREATE\.TRACED\n\{.*"type":"io\.nats\.jetstream\.api\.v1\.stream_create_response"/);
      // stdout stays the command's own output.
      assert.doesNotMatch(r.stdout, />>>/);
      r = await home.exec(["stream", "info", "MISSING", "--trace"], { server: t.url });
      assert.equal(r.code, 1);
      assert.match(r.stderr, />>> \$JS\.API\.STREAM\.INFO\.MISSING/);
      assert.match(r.stderr, /<<< \$JS\.API\.STREAM\.INFO\.MISSING\n.*"err_code":10059/);
      r = await home.exec(["stream", "rm", "TRACED", "-f"], { server: t.url });
      assert.equal(r.code, 0, r.stderr);
      // Without --trace nothing is logged.
      r = await home.exec(["stream", "ls"], { server: t.url });
      assert.equal(r.stderr, "");
    });
  });
}
