// tsnats CLI: nkeys, the operator/account/user store in nsc's layout, .creds, describe, and
// account JWTs pushed to, looked up in and listed from a full resolver, against tsnats and
// nats-server 2.15 in operator mode.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { decode } from "@nats-io/jwt";
import { CliHome } from "./helpers/cli.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const home = new CliHome();
const dataHome = path.join(home.dir, ".local", "share");
const stores = path.join(dataHome, "nats", "nsc", "stores");
const keys = path.join(dataHome, "nats", "nsc", "keys");
after(() => home.cleanup());

describe("tsnats nkey", () => {
  test("gen, show, sign, verify, seal and unseal", async () => {
    let r = await home.exec(["nkey", "gen", "user", "--public"]);
    assert.equal(r.code, 0, r.stderr);
    const [seed, pub] = r.stdout.trim().split("\n");
    assert.match(seed, /^SU[A-Z2-7]{56}$/);
    assert.match(pub, /^U[A-Z2-7]{55}$/);
    const seedFile = path.join(home.dir, "u.nk");
    fs.writeFileSync(seedFile, seed + "\n");
    r = await home.exec(["auth", "nkey", "show", seedFile]);
    assert.equal(r.stdout.trim(), pub);
    for (const kind of ["account", "operator", "server", "cluster", "curve"]) {
      r = await home.exec(["nkey", "gen", kind]);
      assert.equal(r.code, 0, kind);
      assert.match(r.stdout, { account: /^SA/, operator: /^SO/, server: /^SN/, cluster: /^SC/, curve: /^SX/ }[kind]!);
    }
    r = await home.exec(["nkey", "gen", "bogus"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown key type/);

    const data = path.join(home.dir, "data.txt");
    fs.writeFileSync(data, "hello");
    r = await home.exec(["nkey", "sign", data, seedFile]);
    assert.equal(r.code, 0, r.stderr);
    const sigFile = path.join(home.dir, "data.sig");
    fs.writeFileSync(sigFile, r.stdout);
    const pubFile = path.join(home.dir, "u.pub");
    fs.writeFileSync(pubFile, pub + "\n");
    r = await home.exec(["nkey", "verify", data, sigFile, pubFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Verified OK\n");
    fs.writeFileSync(data, "hellO");
    r = await home.exec(["nkey", "verify", data, sigFile, pubFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /verification failed/);

    const mk = async (name: string): Promise<{ seed: string; pub: string; file: string }> => {
      const g = await home.exec(["nkey", "gen", "curve", "--public"]);
      const [s, p] = g.stdout.trim().split("\n");
      const file = path.join(home.dir, `${name}.xk`);
      fs.writeFileSync(file, s);
      return { seed: s, pub: p, file };
    };
    const alice = await mk("alice");
    const bob = await mk("bob");
    const sealed = path.join(home.dir, "sealed.b64");
    r = await home.exec(["nkey", "seal", data, alice.file, bob.pub, "--output", sealed]);
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["nkey", "unseal", sealed, bob.file, alice.pub]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hellO");
    const carol = await mk("carol");
    r = await home.exec(["nkey", "unseal", sealed, carol.file, alice.pub]);
    assert.equal(r.code, 1, "someone else cannot open it");
    assert.match(r.stderr, /cannot unseal/);
  });
});

describe("tsnats auth store", () => {
  test("operator, accounts and users in nsc's layout; describe", async () => {
    let r = await home.exec(["auth", "operator", "add", "DEMO", "--signing-key"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Operator DEMO/);
    assert.ok(fs.existsSync(path.join(stores, "DEMO", ".nsc")));
    assert.equal(JSON.parse(fs.readFileSync(path.join(stores, "DEMO", ".nsc"), "utf8")).name, "DEMO");
    const opJwt = fs.readFileSync(path.join(stores, "DEMO", "DEMO.jwt"), "utf8");
    const op = decode<Record<string, any>>(opJwt);
    assert.equal(op.iss, op.sub, "an operator signs itself");
    assert.equal(op.nats.signing_keys.length, 1);
    assert.ok(fs.existsSync(path.join(keys, "keys", "O", op.sub.slice(1, 3), `${op.sub}.nk`)), "the seed is in the key store");
    assert.ok(fs.existsSync(path.join(stores, "DEMO", "accounts", "SYS", "SYS.jwt")));
    assert.ok(fs.existsSync(path.join(keys, "creds", "DEMO", "SYS", "sys.creds")));
    assert.equal(op.nats.system_account, decode(fs.readFileSync(path.join(stores, "DEMO", "accounts", "SYS", "SYS.jwt"), "utf8")).sub);

    r = await home.exec(["auth", "account", "add", "APP", "--jetstream", "--connections", "10", "--js-disk", "1GB"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Connections: 10/);
    assert.match(r.stdout, /Disk Storage: 1\.0 GiB/);
    const app = decode<Record<string, any>>(fs.readFileSync(path.join(stores, "DEMO", "accounts", "APP", "APP.jwt"), "utf8"));
    assert.equal(app.iss, op.sub);
    assert.equal(app.nats.limits.conn, 10);
    assert.equal(app.nats.limits.disk_storage, 1024 ** 3);
    assert.equal(app.nats.limits.mem_storage, -1);
    r = await home.exec(["auth", "account", "add", "APP"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    r = await home.exec(["auth", "account", "add", "SIGNED", "--key", op.nats.signing_keys[0]]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decode(fs.readFileSync(path.join(stores, "DEMO", "accounts", "SIGNED", "SIGNED.jwt"), "utf8")).iss, op.nats.signing_keys[0]);

    r = await home.exec(["auth", "user", "add", "alice", "APP", "--pub-allow", "orders.>", "--sub-allow", "orders.>", "--sub-allow", "_INBOX.>", "--expiry", "1h"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Publish Allow: orders\.>/);
    const creds = path.join(keys, "creds", "DEMO", "APP", "alice.creds");
    assert.match(fs.readFileSync(creds, "utf8"), /-----BEGIN NATS USER JWT-----/);
    r = await home.exec(["auth", "user", "add", "bob", "APP", "--credential", path.join(home.dir, "bob.creds")]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(home.dir, "bob.creds")));
    r = await home.exec(["auth", "user", "ls", "APP", "--names"]);
    assert.equal(r.stdout, "alice\nbob\n");
    r = await home.exec(["auth", "account", "ls", "--json"]);
    assert.deepEqual(JSON.parse(r.stdout), ["APP", "SIGNED", "SYS"]);

    r = await home.exec(["describe", creds]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /User alice/);
    assert.match(r.stdout, /Expires: \d{4}-/);
    r = await home.exec(["auth", "describe", path.join(stores, "DEMO", "DEMO.jwt"), "--json"]);
    assert.equal(JSON.parse(r.stdout).sub, op.sub);
    r = await home.exec(["describe", "not-a-jwt"]);
    assert.equal(r.code, 1);

    // server check credential on the generated .creds
    r = await home.exec(["server", "check", "credential", "--credential", creds, "--validity-critical", "2h"]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /expires sooner than/);
    r = await home.exec(["server", "check", "credential", "--credential", creds, "--validity-warn", "10m"]);
    assert.equal(r.code, 0, r.stdout);
    r = await home.exec(["server", "check", "credential", "--credential", path.join(home.dir, "bob.creds")]);
    assert.equal(r.code, 2, "a credential without expiry fails by default");
    assert.match(r.stdout, /never expires/);

    r = await home.exec(["auth", "user", "credential", path.join(home.dir, "alice2.creds"), "alice", "APP", "--expire", "5m"]);
    assert.equal(r.code, 0, r.stderr);
    const exp = decode(/JWT-----\s*\n([^\n]+)/.exec(fs.readFileSync(path.join(home.dir, "alice2.creds"), "utf8"))![1]).exp!;
    assert.ok(exp > Date.now() / 1000 && exp <= Date.now() / 1000 + 301);
  });
});

/** A server in operator mode with a full resolver, trusting the store's operator. */
function operatorConfig(dir: string): string {
  const op = decode<Record<string, any>>(fs.readFileSync(path.join(stores, "DEMO", "DEMO.jwt"), "utf8"));
  const sysJwt = fs.readFileSync(path.join(stores, "DEMO", "accounts", "SYS", "SYS.jwt"), "utf8").trim();
  const sysPub = decode(sysJwt).sub;
  fs.mkdirSync(dir, { recursive: true });
  return `operator: ${fs.readFileSync(path.join(stores, "DEMO", "DEMO.jwt"), "utf8").trim()}
system_account: ${op.nats.system_account}
resolver { type: full, dir: "${dir}", allow_delete: false }
resolver_preload { ${sysPub}: ${sysJwt} }
`;
}

for (const line of ["tsnats", "2.15"] as const) {
  describe(`account JWTs on a full resolver (${line === "tsnats" ? "tsnats" : "nats-server 2.15"})`, () => {
    test("push, list, query, connect with .creds, revoke", async (tc) => {
      if (line === "2.15" && !referenceBinary("2.15")) return tc.skip("nats-server 2.15 not available");
      let srv: ReferenceServer;
      try {
        srv = await startNatsServer([], operatorConfig(path.join(home.dir, `resolver-${line}`)), line);
      } catch (err) {
        return tc.skip(`${line} does not start in operator mode with a full resolver: ${(err as Error).message.slice(0, 200)}`);
      }
      try {
        const url = `nats://127.0.0.1:${srv.port}`;
        // A user of its own per server: the revocation at the end must not touch the next run.
        const who = `pusher-${line.replace(".", "")}`;
        let r = await home.exec(["auth", "user", "add", who, "APP", "--pub-allow", "orders.>", "--sub-allow", "orders.>", "--sub-allow", "_INBOX.>"]);
        assert.equal(r.code, 0, r.stderr);
        const alice = path.join(keys, "creds", "DEMO", "APP", `${who}.creds`);
        // Before the push, the account is unknown to the server.
        r = await home.exec(["pub", "orders.new", "x", "--creds", alice], { server: url });
        assert.equal(r.code, 1, "APP is not pushed yet");
        r = await home.exec(["auth", "account", "push", "APP"], { server: url });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /APP: .*jwt updated/);
        r = await home.exec(["auth", "account", "ls", "--resolver", "--json"], { server: url });
        assert.equal(r.code, 0, r.stderr);
        const appPub = decode(fs.readFileSync(path.join(stores, "DEMO", "accounts", "APP", "APP.jwt"), "utf8")).sub;
        assert.ok(JSON.parse(r.stdout).includes(appPub));
        r = await home.exec(["auth", "account", "query", "APP", "--json"], { server: url });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).sub, appPub);

        r = await home.exec(["pub", "orders.probe", "x", "--creds", alice], { server: url });
        assert.equal(r.code, 0, "after the push, alice connects: " + r.stderr);
        // nsc:// locations resolve from the store: as --creds, and as a context's old "nsc" field.
        r = await home.exec(["pub", "orders.probe", "x", "--creds", `nsc://DEMO/APP/${who}`], { server: url });
        assert.equal(r.code, 0, "nsc:// credentials: " + r.stderr);
        const ctxDir = path.join(home.dir, ".config", "nats", "context");
        fs.mkdirSync(ctxDir, { recursive: true });
        fs.writeFileSync(path.join(ctxDir, `nsc-${line}.json`), JSON.stringify({ url, nsc: `nsc://DEMO/APP/${who}` }));
        r = await home.exec(["pub", "orders.probe", "x", "--context", `nsc-${line}`]);
        assert.equal(r.code, 0, "a context's nsc field: " + r.stderr);
        r = await home.exec(["pub", "orders.probe", "x", "--creds", "nsc://DEMO/APP/nobody"], { server: url });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /no user "nobody" in account APP/);
        const nc = await connect({ servers: url, authenticator: credsAuthenticator(new Uint8Array(fs.readFileSync(alice))) });
        const got: string[] = [];
        const sub = nc.subscribe("orders.>", { callback: (_e, m) => void got.push(m.string()) });
        await nc.flush();
        r = await home.exec(["pub", "orders.new", "first", "--creds", alice], { server: url });
        assert.equal(r.code, 0, r.stderr);
        r = await home.exec(["pub", "other.x", "denied", "--creds", alice], { server: url });
        await nc.flush();
        const deadline = Date.now() + 5000;
        while (got.length < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
        assert.deepEqual(got, ["first"]);
        sub.unsubscribe();
        await nc.close();

        r = await home.exec(["auth", "user", "revoke", who, "APP"]);
        assert.equal(r.code, 0, r.stderr);
        r = await home.exec(["auth", "account", "push", "APP"], { server: url });
        assert.equal(r.code, 0, r.stderr);
        r = await home.exec(["pub", "orders.new", "late", "--creds", alice], { server: url });
        assert.equal(r.code, 1, "a revoked user cannot connect");
        assert.match(r.stderr, /authoriz|authentication|revoked/i);
      } finally {
        await srv.stop();
      }
    });
  });
}
