// default_js_domain (an account without JetStream reaches another domain's JetStream through
// the plain API, over leaf nodes) and connect_error_reports / reconnect_error_reports (which
// failed route and leaf node connection attempts are logged as errors).
// The leaf runs as tsnats and as nats-server 2.15 with the same configuration, each connected
// to a tsnats hub, and the same client steps must succeed on both; start-up refusals of invalid
// default_js_domain settings are compared with nats-server's texts.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { freePort, referenceBinary, startNatsServer, TSNATS_SERVER_BIN, type ReferenceServer } from "./helpers/nats_server.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";
import { shouldReportConnectError } from "../src/cluster/connect_reports.js";
import { loadConfigFile, validateOptions } from "../src/config/load.js";

const REF = referenceBinary("2.15");
const LEAF_KINDS = ["tsnats", ...(REF !== undefined ? ["2.15" as const] : [])] as const;

/** What tsnats-server checks before it starts: the config file read, then validateOptions. */
function tsnatsStartupChecks(conf: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "defdom-"));
  try {
    const file = path.join(dir, "server.conf");
    fs.writeFileSync(file, `port: -1\nhost: 127.0.0.1\n${conf}\n`);
    validateOptions(loadConfigFile(file));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Start a server binary with `conf` and return the last line it writes before exiting. */
function startupFailure(bin: string[], conf: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "defdom-"));
  const file = path.join(dir, "server.conf");
  fs.writeFileSync(file, `port: -1\nhost: 127.0.0.1\n${conf}\n`);
  return new Promise((resolve, reject) => {
    const p = spawn(bin[0], [...bin.slice(1), "-c", file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => p.kill("SIGKILL"), 30_000);
    p.once("error", reject);
    p.once("exit", (code) => {
      clearTimeout(killer);
      fs.rmSync(dir, { recursive: true, force: true });
      if (code === 0 || code === null) reject(new Error(`the server did not refuse the configuration: ${out}`));
      const lines = out.trim().split("\n");
      resolve(lines[lines.length - 1]);
    });
  });
}

describe("default_js_domain: refused at start-up as nats-server 2.15 refuses it", { skip: REF === undefined ? "nats-server 2.15 not available" : false }, () => {
  const cases: Array<[string, string]> = [
    ["default_js_domain: {A: hub}", 'in non operator mode, `default_js_domain` references non existing account "A"'],
    ["accounts { A: { jetstream: enabled } }\ndefault_js_domain: {A: hub}", 'default_js_domain contains account name "A" with enabled JetStream'],
    ['accounts { A: {} }\ndefault_js_domain: {A: "a b"}', 'default_js_domain contains account "A" with invalid domain name "a b"'],
    ["accounts { A: {} }\nsystem_account: A\ndefault_js_domain: {A: x}", 'system account "A" can not be in default_js_domain'],
    ["default_js_domain: 5", "error default_js_domain config: unsupported type int64"],
  ];
  for (const [conf, reason] of cases) {
    it(reason, async () => {
      const ref = await startupFailure([REF as string], conf);
      assert.ok(ref.endsWith(reason), `nats-server said: ${ref}`);
      // tsnats-server runs the same load and checks before it listens (the binary is started once below).
      assert.throws(() => tsnatsStartupChecks(conf), (e: Error) => e.message.endsWith(reason));
    });
  }
  it("the tsnats-server binary refuses to start with the reason", async () => {
    const [conf, reason] = cases[1];
    assert.ok((await startupFailure([process.execPath, TSNATS_SERVER_BIN], conf)).endsWith(reason));
  });
});

describe("default_js_domain across a leaf connection", () => {
  const servers: TestServer[] = [];
  const refs: ReferenceServer[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    for (const r of refs) await r.stop().catch(() => undefined);
    for (const s of servers) await s.close().catch(() => undefined);
  });

  async function startLeaf(line: (typeof LEAF_KINDS)[number], hubLeafPort: number, domain: string): Promise<NatsConnection> {
    const conf = [
      "accounts { A: { users: [ { user: a, password: a } ] } }",
      `default_js_domain: { A: ${JSON.stringify(domain)} }`,
      `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${hubLeafPort}", account: A } ] }`,
    ].join("\n");
    const leaf = await startNatsServer([], conf, line);
    refs.push(leaf);
    const nc = await connect({ servers: `nats://127.0.0.1:${leaf.port}`, user: "a", pass: "a", reconnect: false });
    conns.push(nc);
    return nc;
  }

  for (const line of LEAF_KINDS) {
    it(`${line} leaf: the plain JetStream, KV and account API of account A reach the hub's domain`, async () => {
      const hub = await startTestServer({ serverName: `DDHUB-${line}`, jetstream: { domain: "hub" }, leafnodes: { port: -1 } });
      servers.push(hub);
      const nl = await startLeaf(line, leafNodesOf(hub.server)?.port as number, "hub");
      await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 20_000, "the leaf connection");
      const nh = await connect({ servers: hub.url, reconnect: false });
      conns.push(nh);
      // No domain given by the client: the leaf's mappings send the request to the hub's domain.
      // The leaf's interest in replies must have reached the hub first: retry until it has.
      // checkAPI off: the manager's own account-info probe would not be retried.
      const jsm = await jetstreamManager(nl, { timeout: 2000, checkAPI: false });
      let info;
      for (let i = 0; info === undefined; i++) {
        try {
          info = await jsm.getAccountInfo();
        } catch (err) {
          if (i >= 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      assert.equal(info.domain, "hub");
      await jsm.streams.add({ name: "DD", subjects: ["dd.>"], storage: StorageType.Memory });
      const js = jetstream(nl);
      const ack = await js.publish("dd.x", "one");
      assert.equal(ack.stream, "DD");
      assert.equal(ack.domain, "hub");
      // The stream is the hub's own.
      assert.equal((await (await jetstreamManager(nh)).streams.info("DD")).state.messages, 1);
      // KV from the leaf: bucket creation (API) and puts/gets ($KV.> mapped into the domain).
      const kv = await new Kvm(nl).create("DDKV", { storage: StorageType.Memory });
      await kv.put("k", "v1");
      assert.equal((await kv.get("k"))?.string(), "v1");
      const hubKv = await new Kvm(nh).open("DDKV");
      assert.equal((await hubKv.get("k"))?.string(), "v1");
    });

    it(`${line} leaf: accounts whose default domain is "" (leaf and hub) reach the hub's JetStream without a domain`, async () => {
      // Both sides keep the plain API open for their account: the hub for $G, the leaf for A.
      const hub = await startTestServer({ serverName: `DDHUB0-${line}`, jetstream: true, defaultJsDomain: { $G: "" }, leafnodes: { port: -1 } });
      servers.push(hub);
      const nl = await startLeaf(line, leafNodesOf(hub.server)?.port as number, "");
      await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 20_000, "the leaf connection");
      // checkAPI off: the manager's own account-info probe would not be retried.
      const jsm = await jetstreamManager(nl, { timeout: 2000, checkAPI: false });
      let info;
      for (let i = 0; info === undefined; i++) {
        try {
          info = await jsm.getAccountInfo();
        } catch (err) {
          if (i >= 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      await jsm.streams.add({ name: "DD0", subjects: ["dd0.>"], storage: StorageType.Memory });
      assert.equal((await jetstream(nl).publish("dd0.x", "one")).stream, "DD0");
      assert.equal((await jsm.streams.info("DD0")).state.messages, 1);
    });
  }
});

describe("default_js_domain on reload", () => {
  it("can not change at run time (nats-server's reload error)", async () => {
    const ts = await startTestServer({ accounts: [{ name: "A", users: [] }], defaultJsDomain: { A: "x" } });
    try {
      assert.throws(
        () => ts.server.reload({ ...ts.server.options, defaultJsDomain: { A: "y" } }),
        { message: "config reload not supported for JsAccDefaultDomain: old=map[A:x], new=map[A:y]" },
      );
      // Unchanged, the reload goes through and the account keeps its mappings.
      ts.server.reload({ ...ts.server.options, warnings: [] });
      assert.ok(ts.server.accounts.get("A")?.mappings?.entries.some((m) => m.src === "$JS.API.INFO"));
    } finally {
      await ts.close();
    }
  });
});

describe("connect_error_reports / reconnect_error_reports", () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
  });

  it("picks the first attempt, then every Nth (3600 and 1 by default)", () => {
    const reported = (first: boolean, o: { connectErrorReports?: number; reconnectErrorReports?: number }): number[] =>
      Array.from({ length: 7200 }, (_, i) => i + 1).filter((n) => shouldReportConnectError(o, first, n));
    assert.deepEqual(reported(true, {}), [1, 3600, 7200]);
    assert.equal(reported(false, {}).length, 7200);
    assert.deepEqual(reported(true, { connectErrorReports: 3000 }), [1, 3000, 6000]);
    assert.deepEqual(reported(false, { reconnectErrorReports: 5000 }), [1, 5000]);
  });

  const attemptsAtError = (log: CapturedLog, re: RegExp): number[] =>
    log.lines.filter((l) => l.startsWith("ERR") && re.test(l)).map((l) => Number(/\(attempt (\d+)\)/.exec(l)?.[1]));

  it("a leaf remote never reached reports its first attempt and every connect_error_reports-th", async () => {
    const closed = await freePort();
    const log = new CapturedLog();
    const leaf = await startTestServer({
      log,
      connectErrorReports: 3,
      leafnodes: { reconnectMs: 20, remotes: [{ urls: [`nats-leaf://127.0.0.1:${closed}`], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off" }] },
    });
    servers.push(leaf);
    const re = /Error trying to connect as leafnode to remote server "127\.0\.0\.1:\d+" \(attempt \d+\)/;
    await waitUntil(() => attemptsAtError(log, re).includes(9), 30_000, "attempt 9 reported");
    assert.deepEqual(attemptsAtError(log, re).slice(0, 4), [1, 3, 6, 9]);
  });

  it("a leaf remote that was connected reports every reconnect_error_reports-th failed attempt", async () => {
    const hub = await startTestServer({ leafnodes: { port: -1 } });
    const hubPort = leafNodesOf(hub.server)?.port as number;
    const log = new CapturedLog();
    const leaf = await startTestServer({
      log,
      connectErrorReports: 1000,
      reconnectErrorReports: 2,
      leafnodes: { reconnectMs: 20, remotes: [{ urls: [`nats-leaf://127.0.0.1:${hubPort}`], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off" }] },
    });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(leaf.server)?.all.size ?? 0) === 1, 20_000, "the leaf connection");
    await hub.close();
    const re = /Error trying to connect as leafnode to remote server .* \(attempt \d+\)/;
    await waitUntil(() => attemptsAtError(log, re).includes(6), 30_000, "attempt 6 reported");
    assert.deepEqual(attemptsAtError(log, re).slice(0, 4), [1, 2, 4, 6]);
  });

  it("an explicit route never reached reports its first attempt and every connect_error_reports-th", async () => {
    const closed = await freePort();
    const log = new CapturedLog();
    const srv = await startTestServer({ log, connectErrorReports: 2, cluster: { name: "C", port: -1, routes: [`nats-route://127.0.0.1:${closed}`] } });
    servers.push(srv);
    const re = /Error trying to connect to route \(attempt \d+\)/;
    await waitUntil(() => attemptsAtError(log, re).includes(4), 30_000, "attempt 4 reported");
    // One attempt loop per route connection (the system account's pinned one too): each reports 1, 2, 4.
    const got = attemptsAtError(log, re);
    assert.ok(got.includes(1) && got.includes(2), `reported: ${got.join(",")}`);
    assert.ok(got.every((n) => n === 1 || n % 2 === 0), `reported: ${got.join(",")}`);
  });
});
