// tsnats CLI: `auth account exports|imports|mappings` edit the account JWTs of the nsc store;
// pushed to a full resolver (tsnats and nats-server 2.15 in operator mode), the exports,
// imports and weighted mappings work for real clients.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { decode } from "@nats-io/jwt";
import { CliHome } from "./helpers/cli.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

const home = new CliHome();
const dataHome = path.join(home.dir, ".local", "share");
const stores = path.join(dataHome, "nats", "nsc", "stores");
const creds = (acc: string, user: string): string => path.join(dataHome, "nats", "nsc", "keys", "creds", "DEMO", acc, `${user}.creds`);
const claimsOf = (acc: string): Record<string, any> => decode<Record<string, any>>(fs.readFileSync(path.join(stores, "DEMO", "accounts", acc, `${acc}.jwt`), "utf8")).nats;
after(() => home.cleanup());

async function ok(args: string[], opts: { server?: string } = {}): Promise<string> {
  const r = await home.exec(args, opts);
  assert.equal(r.code, 0, `tsnats ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function fails(args: string[], message: RegExp): Promise<void> {
  const r = await home.exec(args);
  assert.equal(r.code, 1, `tsnats ${args.join(" ")} should fail: ${r.stdout}`);
  assert.match(r.stderr, message);
}

describe("auth account exports, imports and mappings in the store", () => {
  before(async () => {
    await ok(["auth", "operator", "add", "DEMO"]);
    for (const a of ["PROVIDER", "CONSUMER"]) await ok(["auth", "account", "add", a, "--defaults"]);
    await ok(["auth", "user", "add", "prov", "PROVIDER"]);
    await ok(["auth", "user", "add", "cons", "CONSUMER"]);
  });

  test("exports: add, info, edit, ls, rm; validation", async () => {
    let out = await ok(["auth", "account", "exports", "add", "orders", "orders.>", "PROVIDER", "--description", "All orders"]);
    assert.match(out, /Export info for orders exporting orders\.>/);
    assert.match(out, /Kind: Stream/);
    assert.match(out, /Description: All orders/);
    out = await ok(["auth", "account", "exports", "add", "time", "svc.time", "PROVIDER", "--service", "--advertise", "--url", "https://example.com/time"]);
    assert.match(out, /Kind: Service/);
    assert.match(out, /Advertised: true/);
    await ok(["auth", "account", "exports", "add", "scratch", "scratch.*", "PROVIDER"]);
    let exps = claimsOf("PROVIDER").exports as Record<string, any>[];
    assert.deepEqual(exps.map((e) => [e.name, e.subject, e.type]), [["orders", "orders.>", "stream"], ["time", "svc.time", "service"], ["scratch", "scratch.*", "stream"]]);
    assert.equal(exps[1].info_url, "https://example.com/time");

    out = await ok(["auth", "account", "exports", "edit", "orders.>", "PROVIDER", "--description", "Every order", "--advertise"]);
    assert.match(out, /Description: Every order/);
    assert.match(out, /Advertised: true/);
    out = await ok(["auth", "account", "exports", "info", "orders.>", "PROVIDER", "--json"]);
    assert.equal(JSON.parse(out).advertise, true);
    out = await ok(["auth", "account", "exports", "ls", "PROVIDER"]);
    assert.match(out, /Exports for account PROVIDER/);
    assert.match(out, /│ time +│ Service +│ svc\.time +│ false +│ true +│ 0 +│ 0 +│/);
    out = await ok(["auth", "account", "exports", "rm", "scratch.*", "PROVIDER", "-f"]);
    assert.match(out, /Removing Stream Export for subject "scratch\.\*"/);
    exps = claimsOf("PROVIDER").exports;
    assert.equal(exps.length, 2);
    out = await ok(["auth", "account", "info", "PROVIDER"]);
    assert.match(out, /Exports:/);
    assert.match(out, /svc\.time: Service "time"/);

    await fails(["auth", "account", "exports", "add", "dup", "orders.>", "PROVIDER"], /already exported as a stream/);
    await fails(["auth", "account", "exports", "add", "bad", "a..b", "PROVIDER"], /invalid export subject "a\.\.b"/);
    await fails(["auth", "account", "exports", "add", "bad", "x", "PROVIDER", "--url", "not a url"], /--url: "not a url" is not a URL/);
    await fails(["auth", "account", "exports", "edit", "nope", "PROVIDER"], /export for subject "nope" not found/);
    await fails(["auth", "account", "exports", "rm", "nope", "PROVIDER", "-f"], /subject "nope" is not exported/);
    await fails(["auth", "account", "exports", "rm", "orders.>", "PROVIDER"], /pass --force/);
    await fails(["auth", "account", "exports", "info", "nope", "PROVIDER"], /unknown export/);
    await fails(["auth", "account", "exports", "ls", "NOBODY"], /unknown account "NOBODY"/);
    assert.equal((await ok(["auth", "account", "exports", "ls", "CONSUMER"])).trim(), "No Exports defined");
  });

  test("imports: add from a store account, info, edit, ls, rm; validation", async () => {
    const provider = decode(fs.readFileSync(path.join(stores, "DEMO", "accounts", "PROVIDER", "PROVIDER.jwt"), "utf8")).sub;
    let out = await ok(["auth", "account", "imports", "add", "orders", "orders.>", "CONSUMER", "--source", "PROVIDER", "--local", "provider.orders.>"]);
    assert.match(out, /Import info for import "orders" importing "provider\.orders\.>"/);
    assert.match(out, new RegExp(`From Account: PROVIDER \\(${provider}\\)`));
    out = await ok(["auth", "account", "imports", "add", "time", "svc.time", "CONSUMER", "--source", provider, "--service", "--share"]);
    assert.match(out, /Kind: Service/);
    assert.match(out, /Sharing Connection Info: true/);
    await ok(["auth", "account", "imports", "add", "temp", "scratch.x", "CONSUMER", "--source", "PROVIDER"]);
    const imps = claimsOf("CONSUMER").imports as Record<string, any>[];
    assert.deepEqual(imps[0], { name: "orders", subject: "orders.>", account: provider, local_subject: "provider.orders.>", type: "stream" });
    assert.equal(imps[1].share, true);

    out = await ok(["auth", "account", "imports", "edit", "provider.orders.>", "CONSUMER", "--traceable"]);
    assert.match(out, /Allows Tracing: true/);
    await fails(["auth", "account", "imports", "edit", "svc.time", "CONSUMER", "--traceable"], /service imports cannot allow tracing/);
    out = await ok(["auth", "account", "imports", "ls", "CONSUMER"]);
    assert.match(out, /│ orders +│ Stream +│ PROVIDER +│ provider\.orders\.> +│ orders\.> +│ true +│ false +│/);
    assert.match(out, /│ time +│ Service +│ PROVIDER +│ svc\.time +│ svc\.time +│ +│ true +│/);
    out = await ok(["auth", "account", "imports", "info", "svc.time", "CONSUMER", "--json"]);
    assert.equal(JSON.parse(out).type, "service");
    out = await ok(["auth", "account", "imports", "rm", "scratch.x", "CONSUMER", "--force"]);
    assert.match(out, /Removing stream Import for local subject "scratch\.x" imported from Account "A/);
    assert.equal(claimsOf("CONSUMER").imports.length, 2);

    await fails(["auth", "account", "imports", "add", "x", "y", "CONSUMER", "--source", "NOBODY"], /unknown account "NOBODY"/);
    await fails(["auth", "account", "imports", "add", "x", "y", "CONSUMER", "--source", "CONSUMER"], /cannot import from itself/);
    await fails(["auth", "account", "imports", "add", "x", "y", "CONSUMER"], /Select the Source account.*\n.*--source/);
    await fails(["auth", "account", "imports", "add", "again", "svc.time", "CONSUMER", "--source", "PROVIDER"], /local subject "svc\.time" is already imported/);
    await fails(["auth", "account", "imports", "rm", "nope", "CONSUMER", "-f"], /subject "nope" is not imported/);
    assert.equal((await ok(["auth", "account", "imports", "ls", "PROVIDER"])).trim(), "No Imports defined");
  });

  test("mappings: add with weights, from a file, ls, info, rm; validation", async () => {
    let out = await ok(["auth", "account", "mappings", "add", "CONSUMER", "split", "split.a", "70"]);
    assert.match(out, /split\.a: 70%/);
    out = await ok(["auth", "account", "mappings", "add", "CONSUMER", "split", "split.b", "30"]);
    assert.match(out, /Total weight: 100%/);
    const file = path.join(home.dir, "maps.json");
    fs.writeFileSync(file, JSON.stringify({ "old.*": [{ subject: "new.{{wildcard(1)}}", weight: 100 }], "gone": [{ subject: "gone.now" }] }));
    await ok(["auth", "account", "mappings", "add", "CONSUMER", "--config", file]);
    assert.deepEqual(claimsOf("CONSUMER").mappings, {
      split: [{ subject: "split.a", weight: 70 }, { subject: "split.b", weight: 30 }],
      "old.*": [{ subject: "new.{{wildcard(1)}}", weight: 100 }],
      gone: [{ subject: "gone.now" }],
    });
    out = await ok(["auth", "account", "mappings", "ls", "CONSUMER"]);
    assert.match(out, /Subject mappings for account CONSUMER/);
    assert.match(out, /│ split +│ split\.b +│ 30 +│ +│/);
    out = await ok(["auth", "account", "mappings", "info", "CONSUMER", "old.*", "--json"]);
    assert.deepEqual(JSON.parse(out), { "old.*": [{ subject: "new.{{wildcard(1)}}", weight: 100 }] });
    out = await ok(["auth", "account", "mappings", "rm", "CONSUMER", "gone"]);
    assert.match(out, /Deleted mapping \{gone\}/);
    assert.equal(claimsOf("CONSUMER").mappings.gone, undefined);

    await fails(["auth", "account", "mappings", "add", "CONSUMER", "split", "split.c", "10"], /weights add up to 110%, more than 100%/);
    await fails(["auth", "account", "mappings", "add", "CONSUMER", "split", "split.a"], /mapping split -> split\.a already exists/);
    await fails(["auth", "account", "mappings", "add", "CONSUMER", "x", "y", "101"], /weight must be 0 to 100|at least|at most/);
    await fails(["auth", "account", "mappings", "add", "CONSUMER"], /Source subject/);
    fs.writeFileSync(file, "[1,2]");
    await fails(["auth", "account", "mappings", "add", "CONSUMER", "--config", file], /expected an object/);
    await fails(["auth", "account", "mappings", "info", "CONSUMER", "nope"], /no mapping for source subject "nope"/);
    assert.equal((await ok(["auth", "account", "mappings", "ls", "PROVIDER"])).trim(), "No mappings defined");
  });

  test("scoped signing keys: add with a role and a template, sign users by role, info, ls, rm", async () => {
    let out = await ok(["auth", "account", "keys", "add", "PROVIDER", "writer", "--pub-allow", "orders.>", "--sub-allow", "_INBOX.>", "--subscriptions", "10", "--connection", "nats", "--description", "order writers"]);
    assert.match(out, /Scoped Signing Key A[A-Z0-9]{55}/);
    assert.match(out, /Role: writer/);
    assert.match(out, /Publish Allow: orders\.>/);
    const scoped = (claimsOf("PROVIDER").signing_keys as Record<string, any>[]).find((k) => k.role === "writer")!;
    assert.deepEqual(scoped.template, { subs: 10, data: -1, payload: -1, pub: { allow: ["orders.>"] }, sub: { allow: ["_INBOX.>"] }, allowed_connection_types: ["STANDARD"] });
    assert.equal(scoped.kind, "user_scope");
    const plain = (await ok(["auth", "account", "keys", "add", "PROVIDER"])).trim();
    assert.match(plain, /^A[A-Z0-9]{55}$/);

    out = await ok(["auth", "account", "keys", "ls", "PROVIDER"]);
    assert.match(out, new RegExp(`^${plain}$`, "m"));
    assert.match(out, /│ writer +│ A[A-Z0-9]{55} +│ order writers +│ 10 +│ 1 +│ 1 +│/);
    out = await ok(["auth", "account", "keys", "info", "PROVIDER", "writer", "--json"]);
    assert.equal(JSON.parse(out).key, scoped.key);

    // A user signed by role carries no permissions: the key's template applies.
    out = await ok(["auth", "user", "add", "writer1", "PROVIDER", "--key", "writer", "--json"]);
    const u = JSON.parse(out);
    assert.equal(u.iss, scoped.key);
    assert.equal(u.nats.pub, undefined);
    assert.equal(u.nats.subs, undefined);
    await fails(["auth", "user", "add", "writer2", "PROVIDER", "--key", "writer", "--pub-allow", "x"], /scoped users require no permissions or limits set/);
    await fails(["auth", "account", "keys", "add", "PROVIDER", "writer"], /role "writer" already has a signing key/);
    await fails(["auth", "account", "keys", "add", "PROVIDER", "--pub-allow", "x"], /limits and permissions need a scoped key/);
    await fails(["auth", "account", "keys", "add", "PROVIDER", "r2", "--connection", "carrier-pigeon"], /--connection: unknown type "carrier-pigeon"/);
    await fails(["auth", "account", "keys", "info", "PROVIDER", "nope"], /no signing key or role "nope"/);
    await fails(["auth", "account", "keys", "rm", "PROVIDER", "--key", plain], /pass --force/);
    out = await ok(["auth", "account", "keys", "rm", "PROVIDER", "--key", plain, "-f"]);
    assert.match(out, new RegExp(`key "${plain}" removed`));
    assert.equal((claimsOf("PROVIDER").signing_keys as unknown[]).length, 1);
  });

  test("operator backup and restore (plain and sealed with a curve key), operator import", async () => {
    const file = path.join(home.dir, "demo.backup");
    let out = await ok(["auth", "operator", "backup", "DEMO", file]);
    assert.match(out, /Backed up operator DEMO: 3 accounts, \d+ users, \d+ seeds to /);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, "a backup holds seeds: private");
    out = await ok(["auth", "operator", "restore", "COPY", file]);
    assert.match(out, /Accounts: CONSUMER, PROVIDER, SYS/);
    for (const a of ["PROVIDER", "CONSUMER", "SYS"]) {
      assert.equal(fs.readFileSync(path.join(stores, "COPY", "accounts", a, `${a}.jwt`), "utf8"), fs.readFileSync(path.join(stores, "DEMO", "accounts", a, `${a}.jwt`), "utf8"));
    }
    assert.equal(fs.readFileSync(path.join(dataHome, "nats", "nsc", "keys", "creds", "COPY", "PROVIDER", "prov.creds"), "utf8"), fs.readFileSync(creds("PROVIDER", "prov"), "utf8"), "the creds are rebuilt");
    await fails(["auth", "operator", "restore", "COPY", file], /operator COPY already exist/);

    const curve = path.join(home.dir, "backup.xk");
    fs.writeFileSync(curve, (await ok(["nkey", "gen", "curve"])).trim() + "\n");
    const sealed = path.join(home.dir, "demo.sealed");
    await ok(["auth", "operator", "backup", "DEMO", sealed, "--key", curve]);
    assert.doesNotMatch(fs.readFileSync(sealed, "utf8"), /PROVIDER|SA[A-Z2-7]{50}/, "no names or seeds in clear");
    await fails(["auth", "operator", "restore", "SEALED", sealed], /is not a backup \(an encrypted one needs --key\)/);
    const other = path.join(home.dir, "other.xk");
    fs.writeFileSync(other, (await ok(["nkey", "gen", "curve"])).trim() + "\n");
    await fails(["auth", "operator", "restore", "SEALED", sealed, "--key", other], /open failed/);
    out = await ok(["auth", "operator", "restore", "SEALED", sealed, "--key", curve]);
    assert.match(out, /Accounts: CONSUMER, PROVIDER, SYS/);
    await fails(["auth", "operator", "backup", "NOPE", file], /unknown operator "NOPE"/);
    fs.writeFileSync(path.join(home.dir, "junk.json"), "{}");
    await fails(["auth", "operator", "restore", "JUNK", path.join(home.dir, "junk.json")], /is not a tsnats operator backup/);

    // import: an operator JWT and its seed, into another store.
    const fresh = new CliHome();
    try {
      const opJwt = path.join(stores, "DEMO", "DEMO.jwt");
      const opPub = decode(fs.readFileSync(opJwt, "utf8")).sub;
      const seedFile = path.join(dataHome, "nats", "nsc", "keys", "keys", "O", opPub.slice(1, 3), `${opPub}.nk`);
      let r = await fresh.exec(["auth", "operator", "import", opJwt, seedFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Operator DEMO/);
      r = await fresh.exec(["auth", "account", "add", "NEWACC", "--defaults"]);
      assert.equal(r.code, 0, "the imported seed signs new accounts: " + r.stderr);
      assert.equal(decode(fs.readFileSync(path.join(fresh.dir, ".local", "share", "nats", "nsc", "stores", "DEMO", "accounts", "NEWACC", "NEWACC.jwt"), "utf8")).iss, opPub);
      r = await fresh.exec(["auth", "operator", "import", opJwt]);
      assert.match(r.stderr, /operator "DEMO" already exists/);
      r = await fresh.exec(["auth", "operator", "import", path.join(stores, "DEMO", "accounts", "SYS", "SYS.jwt")]);
      assert.match(r.stderr, /is not an operator JWT/);
      r = await fresh.exec(["auth", "operator", "import", opJwt, curve]);
      assert.match(r.stderr, /is not a key of operator DEMO/);
    } finally {
      fresh.cleanup();
    }
  });

  for (const line of ["tsnats", "2.15"] as const) {
    test(`pushed to a full resolver (${line === "tsnats" ? "tsnats" : "nats-server 2.15"}), the exports, imports and mappings work`, async (tc) => {
      if (line === "2.15" && !referenceBinary("2.15")) return tc.skip("nats-server 2.15 not available");
      const op = decode<Record<string, any>>(fs.readFileSync(path.join(stores, "DEMO", "DEMO.jwt"), "utf8"));
      const sysJwt = fs.readFileSync(path.join(stores, "DEMO", "accounts", "SYS", "SYS.jwt"), "utf8").trim();
      const dir = path.join(home.dir, `resolver-${line}`);
      fs.mkdirSync(dir, { recursive: true });
      const conf = `operator: ${fs.readFileSync(path.join(stores, "DEMO", "DEMO.jwt"), "utf8").trim()}
system_account: ${op.nats.system_account}
resolver { type: full, dir: "${dir}", allow_delete: false }
resolver_preload { ${decode(sysJwt).sub}: ${sysJwt} }
`;
      const srv: ReferenceServer = await startNatsServer([], conf, line);
      const url = `nats://127.0.0.1:${srv.port}`;
      const conns: NatsConnection[] = [];
      try {
        const out = await ok(["auth", "account", "push", "--all"], { server: url });
        assert.match(out, /CONSUMER: .*jwt updated/);
        const as = async (acc: string, user: string): Promise<NatsConnection> => {
          const nc = await connect({ servers: url, authenticator: credsAuthenticator(new Uint8Array(fs.readFileSync(creds(acc, user)))) });
          conns.push(nc);
          return nc;
        };
        const prov = await as("PROVIDER", "prov");
        const cons = await as("CONSUMER", "cons");
        prov.subscribe("svc.time", { callback: (_e, m) => void m.respond("noon") });
        await prov.flush();
        const got: string[] = [];
        cons.subscribe("provider.orders.>", { callback: (_e, m) => void got.push(`${m.subject} ${m.string()}`) });
        const mapped: string[] = [];
        cons.subscribe("split.*", { callback: (_e, m) => void mapped.push(m.subject) });
        cons.subscribe("new.*", { callback: (_e, m) => void mapped.push(m.subject) });
        await cons.flush();

        // The stream import: PROVIDER's orders.> appears under CONSUMER's provider.orders.>.
        await waitUntil(
          () => {
            prov.publish("orders.new", "o1");
            return got.length > 0;
          },
          10_000,
          "the stream import",
        );
        assert.match(got[0], /^provider\.orders\.new o1$/);
        // The service import: CONSUMER's request reaches PROVIDER's responder.
        assert.equal((await cons.request("svc.time", "", { timeout: 5000 })).string(), "noon");
        // The weighted mapping sends split to split.a or split.b; old.* to new.*.
        for (let i = 0; i < 40; i++) cons.publish("split", "x");
        cons.publish("old.thing", "x");
        await waitUntil(() => mapped.length >= 41, 10_000, "mapped messages");
        assert.ok(mapped.includes("new.thing"));
        const a = mapped.filter((s) => s === "split.a").length;
        const b = mapped.filter((s) => s === "split.b").length;
        assert.equal(a + b, 40);
        assert.ok(a > 0 && b > 0, `both targets get messages (${a}/${b})`);

        // A user of the scoped key gets the role's permissions: orders.> yes, anything else no.
        const writer = await as("PROVIDER", "writer1");
        const seen: string[] = [];
        prov.subscribe(">", { callback: (_e, m) => void (m.subject.startsWith("_") || m.subject.startsWith("$") ? undefined : seen.push(m.subject)) });
        await prov.flush();
        writer.publish("forbidden.x", "no");
        writer.publish("orders.by-writer", "yes");
        await waitUntil(() => seen.includes("orders.by-writer"), 10_000, "the scoped user's publish");
        assert.ok(!seen.includes("forbidden.x"), "the role's permissions apply");
      } finally {
        for (const nc of conns) await nc.close();
        await srv.stop();
      }
    });
  }
});
