// The tsnats-server binary as operators and client test harnesses use it: ports file,
// config file errors, signals (reload, lame duck, graceful stop), protocol trace lines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NATS_FEATURE_VERSION, TSNATS_VERSION } from "../src/server/version.js";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { waitUntil } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, "../src/bin/tsnats-server.js");

interface Running {
  child: ChildProcess;
  dir: string;
  ports: { nats: string[]; monitoring?: string[] };
  output(): string;
  exited: Promise<number | null>;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-bin-"));
}

/** Start the binary the way the nats.js/nats.go harnesses do and wait for its ports file. */
async function runServer(args: string[], dir = tempDir(), nodeArgs: string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args, "--ports_file_dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const file = path.join(dir, `nats-server_${child.pid}.ports`);
  try {
    // A safety net only: node starting the bin can take seconds on a loaded machine.
    await waitUntil(() => fs.existsSync(file) || child.exitCode !== null, 60_000, "ports file");
    assert.ok(fs.existsSync(file), `no ports file; output:\n${out}`);
    const ports = JSON.parse(fs.readFileSync(file, "utf8")) as Running["ports"];
    return { child, dir, ports, output: () => out, exited };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode === null) r.child.kill("SIGKILL");
  await r.exited;
  fs.rmSync(r.dir, { recursive: true, force: true });
}

test("ports file, monitoring and graceful SIGTERM", async () => {
  const r = await runServer(["-p", "-1", "-m", "-1", "-a", "127.0.0.1", "-js"]);
  try {
    assert.match(r.ports.nats[0], /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(r.ports.monitoring?.[0], "monitoring url in ports file");
    const varz = (await (await fetch(`${r.ports.monitoring?.[0]}/varz`)).json()) as Record<string, unknown>;
    assert.equal(varz.version, NATS_FEATURE_VERSION);
    const nc = await connect({ servers: r.ports.nats[0] });
    assert.equal(nc.info?.jetstream, true);
    await nc.close();
    r.child.kill("SIGTERM");
    assert.equal(await r.exited, 0);
    assert.match(r.output(), /Server Exiting/);
    assert.equal(fs.readdirSync(r.dir).filter((f) => f.endsWith(".ports")).length, 0, "ports file removed at exit");
  } finally {
    await stop(r);
  }
});

test("the young generation held during start-up grows with the traffic once the server is ready", async () => {
  // The bin holds it before loading the server from the bundle, which releases it: both must
  // act on the same state (they once did not, and it stayed at 2 x 1 MB for good). A script
  // preloaded into the server's process reports V8's new space size.
  const dir = tempDir();
  const probe = path.join(dir, "heap_probe.cjs");
  fs.writeFileSync(
    probe,
    'setInterval(() => { const s = require("node:v8").getHeapSpaceStatistics().find((x) => x.space_name === "new_space");' +
      ' process.stderr.write("new_space " + s.space_size + "\\n"); }, 100).unref();\n',
  );
  const r = await runServer(["-p", "-1", "-a", "127.0.0.1"], dir, ["-r", probe]);
  try {
    const largest = (): number => Math.max(0, ...[...r.output().matchAll(/new_space (\d+)/g)].map((m) => Number(m[1])));
    const initial = 2 * 1024 * 1024;
    const nc = await connect({ servers: r.ports.nats[0] });
    const sub = nc.subscribe("heap.>");
    void (async () => {
      for await (const _ of sub) void _;
    })();
    const payload = new Uint8Array(1024);
    const deadline = Date.now() + 90_000;
    while (largest() <= initial && Date.now() < deadline) {
      for (let i = 0; i < 20_000; i++) nc.publish(`heap.${i % 64}`, payload);
      await nc.flush();
    }
    await nc.close();
    assert.ok(largest() > initial, `new space grew past its initial ${initial} bytes: largest seen ${largest()}`);
  } finally {
    await stop(r);
  }
});

test("the start-up warm-up of the message path is invisible to clients and the monitor", async () => {
  // --trace-opt shows that it ran: the publish path is optimized before any client connected.
  // A short ping_interval: a PING timer of its connections would show in the debug log.
  const dir = tempDir();
  const conf = path.join(dir, "warm.conf");
  fs.writeFileSync(conf, 'ping_interval: "200ms"\n');
  const r = await runServer(["-c", conf, "-p", "-1", "-m", "-1", "-a", "127.0.0.1", "-D"], dir, ["--trace-opt"]);
  try {
    const mon = r.ports.monitoring?.[0] as string;
    const get = async (p: string): Promise<Record<string, unknown>> => (await (await fetch(`${mon}${p}`)).json()) as Record<string, unknown>;
    const counters = ["in_msgs", "out_msgs", "in_bytes", "out_bytes", "connections", "total_connections", "slow_consumers"];
    const subs0 = (await get("/subsz")).num_subscriptions;
    await waitUntil(() => /completed optimizing .*JSFunction fastPub /.test(r.output()), 60_000, "fastPub optimized by the warm-up");
    // While it runs and after: nothing of it in /varz, /connz or /subsz.
    for (let i = 0; i < 20; i++) {
      const varz = await get("/varz");
      for (const k of counters) assert.equal(varz[k], 0, `/varz ${k}`);
      assert.equal((await get("/connz")).num_connections, 0);
      assert.equal((await get("/subsz")).num_subscriptions, subs0);
      await new Promise((res) => setTimeout(res, 50));
    }
    const nc = await connect({ servers: r.ports.nats[0] });
    const sub = nc.subscribe("w.r.1", { max: 1 });
    nc.publish("w.r.1", "x");
    for await (const _ of sub) void _;
    await nc.flush();
    const conns = (await get("/connz")).connections as Array<{ cid: number }>;
    assert.deepEqual(
      conns.map((c) => c.cid),
      [1],
      "the first client's cid is 1",
    );
    const varz = await get("/varz");
    assert.equal(varz.in_msgs, 1);
    assert.equal(varz.out_msgs, 1);
    await nc.close();
    const log = r.output().split("\n").filter((l) => /\[(DBG|INF|WRN|ERR)\]/.test(l));
    assert.deepEqual(
      log.filter((l) => /Client|cid:|\[(WRN|ERR)\]/.test(l) && !/cid:1 /.test(l)),
      [],
      "no log line of another connection",
    );
  } finally {
    await stop(r);
  }
});

/** Does the bin load the bundle (built by `npm run build`, newer than the last tsc run) with its code cache? */
function bundleWithCodeCache(): boolean {
  const mtime = (f: string): number | undefined => fs.statSync(path.resolve(here, f), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = mtime("../src/bundle/server_main.cjs");
  const entry = mtime("../src/bundle/entry.cjs");
  const compiled = mtime("../.tsbuildinfo") ?? 0;
  return bundle !== undefined && entry !== undefined && Math.min(bundle, entry) >= compiled && mtime("../src/bundle/server_main.cache") !== undefined;
}

test("the bin starts the server without Node's ESM loader (1.1 MB of resident memory)", async (t) => {
  if (!bundleWithCodeCache()) {
    t.skip("no current bundle: built by npm run build, not a bare tsc (the module tree is ES modules)");
    return;
  }
  // A script preloaded into the server's process writes the built-in modules Node loaded.
  const dir = tempDir();
  const probe = path.join(dir, "modules_probe.cjs");
  const list = path.join(dir, "modules.json");
  fs.writeFileSync(probe, `process.once("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, JSON.stringify(process.moduleLoadList)));\n`);
  const r = await runServer(["-p", "-1", "-m", "-1", "-a", "127.0.0.1", "-js", "-sd", path.join(dir, "js"), "-D"], dir, ["-r", probe]);
  try {
    await waitUntil(() => /Server is ready/.test(r.output()), 60_000, "ready");
    const nc = await connect({ servers: r.ports.nats[0] });
    await nc.flush();
    await nc.close();
    r.child.kill("SIGTERM");
    assert.equal(await r.exited, 0);
    assert.match(r.output(), /\[DBG\] Server code compiled from the V8 code cache/);
    const loaded = JSON.parse(fs.readFileSync(list, "utf8")) as string[];
    assert.ok(loaded.includes("NativeModule net"), "the probe saw the server's modules");
    // What an ES module as the main script (or any import of one) loads; a CommonJS main does not.
    assert.deepEqual(
      loaded.filter((m) => /internal\/modules\/esm\/(module_job|module_map|translators)$/.test(m)),
      [],
    );
  } finally {
    await stop(r);
  }
});

test("the server is compiled from the V8 code cache the build made; other V8 flags compile it from source", async (t) => {
  if (!bundleWithCodeCache()) {
    t.skip("no current bundle with a code cache: built by npm run build, not a bare tsc");
    return;
  }
  const cached = await runServer(["-p", "-1", "-a", "127.0.0.1", "-D"]);
  try {
    await waitUntil(() => /Server is ready/.test(cached.output()), 60_000, "ready");
    assert.match(cached.output(), /\[DBG\] Server code compiled from the V8 code cache/);
    // Functions V8 takes from a cache have no dynamic import handler: the bundle has no import().
    const bundle = fs.readFileSync(path.resolve(here, "../src/bundle/server_main.cjs"), "latin1");
    assert.doesNotMatch(bundle, /[^\w.$]import\(/);
  } finally {
    await stop(cached);
  }
  // V8 rejects a cache made under other flags: the bundle is compiled from its source, silently.
  const rejected = await runServer(["-p", "-1", "-a", "127.0.0.1", "-D"], tempDir(), ["--max-semi-space-size=4"]);
  try {
    const nc = await connect({ servers: rejected.ports.nats[0] });
    await nc.flush();
    await nc.close();
    await waitUntil(() => /Server is ready/.test(rejected.output()), 60_000, "ready");
    assert.doesNotMatch(rejected.output(), /code cache/);
    assert.doesNotMatch(rejected.output(), /\[(ERR|WRN|FTL)\]/);
  } finally {
    await stop(rejected);
  }
});

test("a bad config file stops start-up with file, line and reason", () => {
  const dir = tempDir();
  try {
    const conf = path.join(dir, "bad.conf");
    fs.writeFileSync(conf, "port: 4222\nmax_payload: \"lots\"\n");
    const res = spawnSync(process.execPath, [BIN, "-c", conf], { encoding: "utf8", timeout: 10_000 });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, new RegExp(`${conf.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2:\\d+: `));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("unknown flags are refused, --version and -t work", () => {
  // As nats-server (Go's flag package and its usage function): the error on stderr, the
  // usage on stdout, status 0; an error that is not the flag package's is status 1.
  const bad = spawnSync(process.execPath, [BIN, "--no_such_flag"], { encoding: "utf8" });
  assert.equal(bad.status, 0);
  assert.equal(bad.stderr, "flag provided but not defined: -no_such_flag\n");
  assert.match(bad.stdout, /^\nUsage: tsnats-server \[options\]\n/);
  const cmd = spawnSync(process.execPath, [BIN, "foo"], { encoding: "utf8" });
  assert.equal(cmd.status, 1);
  assert.equal(cmd.stderr, 'tsnats-server: unrecognized command: "foo"\n');
  const ver = spawnSync(process.execPath, [BIN, "--version"], { encoding: "utf8" });
  assert.equal(ver.status, 0);
  // nats-server's version as INFO reports it, then tsnats' own.
  assert.equal(ver.stdout, `tsnats-server: v${NATS_FEATURE_VERSION} (tsnats ${TSNATS_VERSION})\n`);
  const dir = tempDir();
  try {
    const conf = path.join(dir, "ok.conf");
    fs.writeFileSync(conf, "port: -1\njetstream { store_dir: \"" + dir + "\" }\n");
    const t = spawnSync(process.execPath, [BIN, "-t", "-c", conf], { encoding: "utf8" });
    assert.equal(t.status, 0, t.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("SIGHUP reloads authorization: allowed clients stay, new users work", async () => {
  const dir = tempDir();
  const conf = path.join(dir, "auth.conf");
  fs.writeFileSync(conf, `listen: "127.0.0.1:-1"\nauthorization { users: [ {user: a, password: a} ] }\n`);
  const r = await runServer(["-c", conf], dir);
  try {
    const url = r.ports.nats[0];
    const a = await connect({ servers: url, user: "a", pass: "a", reconnect: false });
    await assert.rejects(connect({ servers: url, user: "b", pass: "b", reconnect: false }));
    fs.writeFileSync(conf, `listen: "127.0.0.1:-1"\nauthorization { users: [ {user: a, password: a}, {user: b, password: b} ] }\n`);
    r.child.kill("SIGHUP");
    await waitUntil(() => /Reloaded server configuration/.test(r.output()), 30_000, "reload log line");
    const b = await connect({ servers: url, user: "b", pass: "b", reconnect: false });
    await a.flush(); // still connected
    await b.close();
    await a.close();
  } finally {
    await stop(r);
  }
});

test("SIGHUP reload: removed users are disconnected, limits and trace apply to live clients", async () => {
  const dir = tempDir();
  const conf = path.join(dir, "reload.conf");
  const users = (list: string) => `listen: "127.0.0.1:-1"\nauthorization { users: [ ${list} ] }\n`;
  fs.writeFileSync(conf, users("{user: a, password: a}, {user: b, password: b}"));
  const r = await runServer(["-c", conf], dir);
  try {
    const url = r.ports.nats[0];
    const a = await connect({ servers: url, user: "a", pass: "a", reconnect: false });
    const b = await connect({ servers: url, user: "b", pass: "b", reconnect: false });
    assert.equal(a.info?.max_payload, 1024 * 1024);
    fs.writeFileSync(conf, `${users("{user: a, password: a}")}max_payload: 1000\ntrace: true\n`);
    r.child.kill("SIGHUP");
    const bClosed = await b.closed();
    assert.ok(bClosed instanceof Error, "b was disconnected");
    // a stays, learns the new max_payload by async INFO, and its traffic is now traced
    await waitUntil(() => a.info?.max_payload === 1000, 30_000, "async INFO with the new max_payload");
    a.publish("after.reload", "x");
    await a.flush();
    await waitUntil(() => /<<- \[PUB after\.reload 1\]/.test(r.output()), 30_000, "trace of a live client");
    await a.close();
  } finally {
    await stop(r);
  }
});

test("-l logs to a file; SIGUSR1 reopens it after rotation by an external tool", async () => {
  const dir = tempDir();
  const logFile = path.join(dir, "server.log");
  const r = await runServer(["-p", "-1", "-a", "127.0.0.1", "-l", logFile], dir);
  try {
    await waitUntil(() => fs.existsSync(logFile) && /Server is ready/.test(fs.readFileSync(logFile, "utf8")), 30_000, "log file");
    fs.renameSync(logFile, `${logFile}.1`);
    r.child.kill("SIGUSR1");
    await waitUntil(() => fs.existsSync(logFile), 30_000, "reopened log file");
    r.child.kill("SIGTERM");
    assert.equal(await r.exited, 0);
    assert.match(fs.readFileSync(logFile, "utf8"), /Server Exiting/);
    assert.doesNotMatch(fs.readFileSync(`${logFile}.1`, "utf8"), /Server Exiting/);
  } finally {
    await stop(r);
  }
});

test("SIGUSR2 lame duck: clients get ldm, are closed, server exits", async () => {
  const dir = tempDir();
  const conf = path.join(dir, "ldm.conf");
  fs.writeFileSync(conf, `listen: "127.0.0.1:-1"\nlame_duck_duration: "30s"\nlame_duck_grace_period: "1s"\n`);
  const r = await runServer(["-c", conf], dir);
  try {
    const nc = await connect({ servers: r.ports.nats[0], reconnect: false });
    let ldm = false;
    (async () => {
      for await (const s of nc.status()) if (s.type === "ldm") ldm = true;
    })().catch(() => undefined);
    r.child.kill("SIGUSR2");
    await waitUntil(() => ldm, 30_000, "ldm status");
    const closed = await nc.closed();
    assert.ok(closed === undefined || closed instanceof Error);
    assert.equal(await r.exited, 0);
    assert.match(r.output(), /Entering lame duck mode/);
  } finally {
    await stop(r);
  }
});

test("-V traces protocol lines in nats-server's format", async () => {
  const r = await runServer(["-p", "-1", "-a", "127.0.0.1", "-V"]);
  try {
    const nc = await connect({ servers: r.ports.nats[0] });
    const sub = nc.subscribe("foo");
    await nc.flush();
    sub.unsubscribe();
    await nc.flush();
    await nc.close();
    // Arguments are traced as the client sent them: older clients send "SUB foo  1".
    const port = Number(new URL(r.ports.nats[0]).port);
    const raw = await RawConn.connect(port);
    raw.send('CONNECT {"verbose":false,"pass":"s3cret","auth_token":"t0ken"}\r\nSUB bar  7\r\nUNSUB 7 \r\nPING\r\n');
    await raw.waitFor("PONG");
    raw.close();
    await waitUntil(() => /<<- \[UNSUB 7 \]/.test(r.output()), 30_000, "UNSUB trace");
    assert.match(r.output(), /\[TRC\] .* - <<- \[SUB foo 1\]/);
    assert.match(r.output(), /<<- \[UNSUB 1\]/);
    assert.match(r.output(), /<<- \[SUB bar  7\]/);
    assert.match(r.output(), /<<- \[CONNECT \{/);
    // Secrets are redacted from the trace, as nats-server does.
    assert.match(r.output(), /"pass":"\[REDACTED\]"/);
    assert.doesNotMatch(r.output(), /s3cret|t0ken/);
  } finally {
    await stop(r);
  }
});

test("--signal sends the signal to the pid given", async () => {
  const r = await runServer(["-p", "-1", "-a", "127.0.0.1"]);
  try {
    const res = spawnSync(process.execPath, [BIN, "--signal", `quit=${r.child.pid}`], { encoding: "utf8" });
    assert.equal(res.status, 0, res.stderr);
    assert.equal(await r.exited, 0);
  } finally {
    await stop(r);
  }
});

test("a server that cannot start its services exits with status 1 and says why", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-bin-fatal-"));
  try {
    // The system account is disabled: the nrg_peer service refuses when the server builds it
    // (the config checks alone cannot tell), before any listener opens.
    const conf = path.join(dir, "s.conf");
    fs.writeFileSync(conf, "no_sys_acc: true\njetstream { store_dir: \"" + path.join(dir, "js") + "\" }\ncluster { name: C, listen: 127.0.0.1:-1, nrg_peer: true }\n");
    const r = spawnSync(process.execPath, [BIN, "-c", conf, "-a", "127.0.0.1", "-p", "-1"], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /Error starting server: cluster\.nrg_peer needs a system account/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
