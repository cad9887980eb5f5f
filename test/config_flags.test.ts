// Command-line flags (flags.ts): Go flag syntax, every nats-server flag, actions, errors,
// and buildOptions' precedence (defaults <- config file <- flags).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, buildOptions, resolveStoreDir, mergeFlagOptions, FlagError, SIGNALS, USAGE } from "../src/config/flags.js";
import { ConfigError } from "../src/config/conf_parser.js";
import { defaultOptions } from "../src/config/options.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tsnats-flags-test-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function flagErr(argv: string[], message: string, showUsage = true): void {
  assert.throws(
    () => parseArgs(argv),
    (e: unknown) => {
      assert.ok(e instanceof FlagError, String(e));
      assert.equal(e.message, message);
      assert.equal(e.showUsage, showUsage);
      return true;
    },
  );
}

describe("parseArgs: Go flag syntax", () => {
  it("accepts -flag, --flag, -flag=value, --flag value", () => {
    for (const argv of [["-p", "4333"], ["--port", "4333"], ["-p=4333"], ["--port=4333"], ["-port", "4333"]]) {
      const r = parseArgs(argv);
      assert.equal(r.action, "run");
      assert.deepEqual(r.flagOptions, { port: 4333 }, argv.join(" "));
    }
  });

  it("lets non-boolean flags take a value starting with '-'", () => {
    assert.equal(parseArgs(["-p", "-1"]).flagOptions.port, -1);
    assert.equal(parseArgs(["-m", "-1"]).flagOptions.httpPort, -1);
    assert.equal(parseArgs(["--user", "-x-"]).flagOptions.username, "-x-");
  });

  it("treats booleans as -js, -js=true, -js=false (Go ParseBool spellings)", () => {
    assert.deepEqual(parseArgs(["-js"]).flagOptions, { jetstream: { enabled: true } });
    assert.deepEqual(parseArgs(["--jetstream=true"]).flagOptions, { jetstream: { enabled: true } });
    assert.deepEqual(parseArgs(["-js=0"]).flagOptions, { jetstream: { enabled: false } });
    assert.deepEqual(parseArgs(["-T=false"]).flagOptions, { logtime: false });
    assert.deepEqual(parseArgs(["-T=F"]).flagOptions, { logtime: false });
    assert.deepEqual(parseArgs(["-D=TRUE"]).flagOptions, { debug: true });
  });

  it("lets a later flag override an earlier one", () => {
    assert.equal(parseArgs(["-p", "1", "-p", "2"]).flagOptions.port, 2);
  });

  it("parses integers like Go's ParseInt with base 0", () => {
    assert.equal(parseArgs(["-p", "0x10"]).flagOptions.port, 16);
    assert.equal(parseArgs(["-p", "010"]).flagOptions.port, 8);
    assert.equal(parseArgs(["-p", "0b11"]).flagOptions.port, 3);
    assert.equal(parseArgs(["-p", "1_000"]).flagOptions.port, 1000);
    assert.equal(parseArgs(["-p", "-0x1"]).flagOptions.port, -1);
  });

  it("reports errors with Go's messages", () => {
    flagErr(["-xyz"], "flag provided but not defined: -xyz");
    flagErr(["--xyz"], "flag provided but not defined: -xyz");
    flagErr(["-ldm"], "flag provided but not defined: -ldm");
    flagErr(["-p"], "flag needs an argument: -p");
    flagErr(["-p", "abc"], 'invalid value "abc" for flag -p: parse error');
    flagErr(["-p", "08"], 'invalid value "08" for flag -p: parse error');
    flagErr(["--log_size_limit", "1KB"], 'invalid value "1KB" for flag -log_size_limit: parse error');
    flagErr(["-js=maybe"], 'invalid boolean value "maybe" for -js: parse error');
    flagErr(["---p", "1"], "bad flag syntax: ---p");
    flagErr(["-=x"], "bad flag syntax: -=x");
  });

  it("stops at the first non-flag argument and at '--'", () => {
    flagErr(["-js", "foo"], 'unrecognized command: "foo"', false);
    flagErr(["--", "-v"], 'unrecognized command: "-v"', false);
    assert.equal(parseArgs(["-p", "1", "version"]).action, "version");
    assert.equal(parseArgs(["help"]).action, "help");
    // a lone "-" is an argument, not a flag
    flagErr(["-"], 'unrecognized command: "-"', false);
  });
});

describe("parseArgs: nats-server's flags", () => {
  it("server options", () => {
    const r = parseArgs([
      "-a", "127.0.0.1",
      "-p", "4333",
      "-n", "srv",
      "-P", "/tmp/p.pid",
      "-m", "8333",
      "-ms", "8444",
      "--client_advertise", "example.com:4222",
      "--ports_file_dir", "/tmp/ports",
    ]);
    assert.deepEqual(r.flagOptions, {
      host: "127.0.0.1",
      port: 4333,
      serverName: "srv",
      pidFile: "/tmp/p.pid",
      httpPort: 8333,
      httpsPort: 8444,
      clientAdvertise: "example.com:4222",
      portsFileDir: "/tmp/ports",
    });
    assert.equal(parseArgs(["--addr", "h"]).flagOptions.host, "h");
    assert.equal(parseArgs(["--net", "h"]).flagOptions.host, "h");
    assert.equal(parseArgs(["--name", "x"]).flagOptions.serverName, "x");
    assert.equal(parseArgs(["--server_name", "x"]).flagOptions.serverName, "x");
    assert.equal(parseArgs(["--http_port", "1"]).flagOptions.httpPort, 1);
    assert.equal(parseArgs(["--https_port", "1"]).flagOptions.httpsPort, 1);
    assert.equal(parseArgs(["--pid", "f"]).flagOptions.pidFile, "f");
  });

  it("logging options, including the combined -VV -DV -DVV", () => {
    assert.deepEqual(parseArgs(["-D"]).flagOptions, { debug: true });
    assert.deepEqual(parseArgs(["--debug"]).flagOptions, { debug: true });
    assert.deepEqual(parseArgs(["-V"]).flagOptions, { trace: true });
    assert.deepEqual(parseArgs(["--trace"]).flagOptions, { trace: true });
    assert.deepEqual(parseArgs(["-VV"]).flagOptions, { trace: true, traceVerbose: true });
    assert.deepEqual(parseArgs(["-DV"]).flagOptions, { debug: true, trace: true });
    assert.deepEqual(parseArgs(["-DVV"]).flagOptions, { debug: true, trace: true, traceVerbose: true });
    assert.deepEqual(parseArgs(["-T"]).flagOptions, { logtime: true });
    assert.deepEqual(parseArgs(["--logtime=false"]).flagOptions, { logtime: false });
    assert.deepEqual(parseArgs(["-s"]).flagOptions, { syslog: true });
    assert.deepEqual(parseArgs(["--syslog"]).flagOptions, { syslog: true });
    assert.deepEqual(parseArgs(["-r", "udp://localhost:514"]).flagOptions, { remoteSyslog: "udp://localhost:514" });
    assert.deepEqual(parseArgs(["-l", "/tmp/x.log", "--log_size_limit", "1024"]).flagOptions, { logFile: "/tmp/x.log", logSizeLimit: 1024 });
    assert.deepEqual(parseArgs(["--log", "f"]).flagOptions, { logFile: "f" });
    assert.deepEqual(parseArgs(["--max_traced_msg_len", "64"]).flagOptions, { maxTracedMsgLen: 64 });
  });

  it("jetstream, auth, profiling", () => {
    assert.deepEqual(parseArgs(["-js", "-sd", "/data"]).flagOptions, { jetstream: { enabled: true, storeDir: "/data" } });
    assert.deepEqual(parseArgs(["--store_dir", "/d"]).flagOptions, { jetstream: { storeDir: "/d" } });
    assert.deepEqual(parseArgs(["--user", "u", "--pass", "p"]).flagOptions, { username: "u", password: "p" });
    assert.deepEqual(parseArgs(["--auth", "tok"]).flagOptions, { authorization: "tok" });
    assert.deepEqual(parseArgs(["--profile", "6060"]).flagOptions, { profPort: 6060 });
  });

  it("any --tls* flag turns TLS on (as nats-server), unless -tls=false", () => {
    assert.deepEqual(parseArgs(["--tlscert", "c", "--tlskey", "k"]).flagOptions, { tls: { verify: false, cert: "c", key: "k" } });
    assert.deepEqual(parseArgs(["--tlscert", "c", "--tlskey", "k", "-tls=false"]).flagOptions, {});
    assert.throws(() => buildOptions(["--tlscacert", "ca"]), /^Error: TLS Server certificate must be present and valid$/);
    assert.throws(() => buildOptions(["--tlscert", "c"]), /^Error: TLS Server private key must be present and valid$/);
    assert.throws(() => buildOptions(["--routes", "nats://a:1"]), /^Error: solicited routes require cluster capabilities, e.g. --cluster$/);
    assert.deepEqual(parseArgs(["--tls", "--tlscert", "c", "--tlskey", "k"]).flagOptions, { tls: { verify: false, cert: "c", key: "k" } });
    assert.deepEqual(parseArgs(["--tlsverify", "--tlscert", "c", "--tlskey", "k", "--tlscacert", "ca"]).flagOptions, {
      tls: { verify: true, cert: "c", key: "k", ca: "ca" },
    });
  });

  it("cluster flags are collected for the cluster block", () => {
    const r = parseArgs([
      "--cluster", "nats://0.0.0.0:6222",
      "--cluster_name", "c1",
      "--routes", "nats://a:6222, nats://b:6222",
      "--cluster_advertise", "x:6222",
      "--no_advertise",
      "--connect_retries", "3",
    ]);
    assert.deepEqual(r.flagOptions, {
      cluster: {
        listen: "nats://0.0.0.0:6222",
        name: "c1",
        routes: ["nats://a:6222", "nats://b:6222"],
        advertise: "x:6222",
        noAdvertise: true,
        connectRetries: 3,
      },
    });
    assert.equal(parseArgs(["--cluster_listen", "u"]).flagOptions.cluster?.listen, "u");
  });
});

describe("parseArgs: actions", () => {
  it("version and help (version wins, as in nats-server)", () => {
    assert.equal(parseArgs(["-v"]).action, "version");
    assert.equal(parseArgs(["--version"]).action, "version");
    assert.equal(parseArgs(["-h"]).action, "help");
    assert.equal(parseArgs(["--help"]).action, "help");
    assert.equal(parseArgs(["-h", "-v"]).action, "version");
    assert.equal(parseArgs(["--help_tls"]).action, "help-tls");
    assert.equal(parseArgs(["-v", "extra"]).action, "version");
    assert.match(USAGE, /-js, --jetstream/);
  });

  it("config file and test-config", () => {
    const r = parseArgs(["-c", "/etc/nats.conf"]);
    assert.equal(r.action, "run");
    assert.equal(r.configFile, "/etc/nats.conf");
    assert.equal(parseArgs(["--config", "x.conf", "-t"]).action, "test-config");
    flagErr(["-t"], "must specify [-c, --config] option to check configuration file syntax", false);
  });

  it("signals, with pid or pid file", () => {
    assert.deepEqual(parseArgs(["-sl", "reload"]), { action: "signal", signal: "reload", flagOptions: {} });
    assert.deepEqual(parseArgs(["--signal", "ldm=123"]), { action: "signal", signal: "ldm", pid: 123, flagOptions: {} });
    assert.deepEqual(parseArgs(["-sl=quit=77"]).pid, 77);
    const pidFile = join(dir, "srv.pid");
    writeFileSync(pidFile, "4242\n");
    assert.deepEqual(parseArgs(["--signal", `term=${pidFile}`]), { action: "signal", signal: "term", pid: 4242, flagOptions: {} });
    for (const s of ["ldm", "stop", "quit", "term", "reopen", "reload"]) assert.equal(parseArgs(["-sl", s]).signal, s);
    flagErr(["-sl", "bogus=1"], 'unknown signal "bogus"', false);
    flagErr(["-sl", "reload=/nonexistent/pid"], "invalid pid: /nonexistent/pid", false);
    flagErr(["-sl", "reload=abc"], "invalid pid: abc", false);
    assert.equal(SIGNALS.reload, "SIGHUP");
    assert.equal(SIGNALS.reopen, "SIGUSR1");
    assert.equal(SIGNALS.ldm, "SIGUSR2");
    assert.equal(SIGNALS.quit, "SIGINT");
    assert.equal(SIGNALS.term, "SIGTERM");
    assert.equal(SIGNALS.stop, "SIGKILL");
  });
});

describe("buildOptions", () => {
  it("defaults without arguments", () => {
    const b = buildOptions([]);
    assert.equal(b.action, "run");
    assert.deepEqual(b.options, defaultOptions());
  });

  it("config file values, then flags on top", () => {
    const conf = join(dir, "b.conf");
    writeFileSync(
      conf,
      'listen: 127.0.0.1:4333\nserver_name: from-conf\ndebug: true\nlogtime: true\njetstream { store_dir: "/conf/store", max_mem: 1G }\nhttp: 8222\n',
    );
    const b = buildOptions(["-c", conf, "-p", "-1", "-n", "from-flag", "-T=false", "-sd", "/flag/store", "-js"]);
    const o = b.options;
    assert.equal(b.configFile, conf);
    assert.equal(o.configFile, conf);
    assert.equal(o.host, "127.0.0.1"); // config
    assert.equal(o.port, -1); // flag wins
    assert.equal(o.serverName, "from-flag");
    assert.equal(o.debug, true);
    assert.equal(o.logtime, false);
    assert.equal(o.httpPort, 8222);
    assert.deepEqual(o.jetstream, { enabled: true, storeDir: "/flag/store", maxMemoryStore: 1e9, maxFileStore: -1 });
  });

  it("a flag can turn off what the config turned on", () => {
    const conf = join(dir, "c.conf");
    writeFileSync(conf, "jetstream: enabled\ndebug: true\n");
    const o = buildOptions(["-c", conf, "-js=false", "-D=false"]).options;
    assert.equal(o.jetstream.enabled, false);
    assert.equal(o.debug, false);
  });

  it("merges flag cluster settings into the config's cluster block", () => {
    const conf = join(dir, "cl.conf");
    writeFileSync(conf, "cluster { name: a, port: 6222, routes: [nats://h:1] }\n");
    const o = buildOptions(["-c", conf, "--cluster_name", "b", "--cluster", "nats://u:p@127.0.0.1:-1"]).options;
    assert.equal(o.cluster?.name, "b");
    assert.equal(o.cluster?.port, -1);
    assert.equal(o.cluster?.host, "127.0.0.1");
    assert.equal(o.cluster?.username, "u");
    assert.equal(o.cluster?.password, "p");
    assert.deepEqual(o.cluster?.routes, ["nats://h:1"]);
    assert.throws(() => buildOptions(["--cluster", "nats://u@127.0.0.1:6222"]), /expected cluster password to be set/);
    // The listen URL without credentials clears the config file's cluster user, as nats-server.
    writeFileSync(conf, "cluster { port: 6222, authorization { user: x, password: y } }\n");
    assert.equal(buildOptions(["-c", conf, "--cluster", "nats://127.0.0.1:7000"]).options.cluster?.username, undefined);
  });

  it("test-config loads and validates the file", () => {
    const good = join(dir, "good.conf");
    writeFileSync(good, "port: 1\n");
    assert.equal(buildOptions(["-t", "-c", good]).action, "test-config");
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, "port: 1\nbogus: 2\n");
    assert.throws(() => buildOptions(["-t", "-c", bad]), (e: unknown) => e instanceof ConfigError && e.message === `${bad}:2:1: unknown field "bogus"`);
    const invalid = join(dir, "invalid.conf");
    writeFileSync(invalid, "max_payload: 100MB\n");
    assert.throws(() => buildOptions(["-c", invalid]), { message: "max_payload (104857600) cannot be higher than max_pending (67108864)" });
  });

  it("does not read the config file for version, help and signal", () => {
    assert.equal(buildOptions(["-v", "-c", "/nonexistent.conf"]).action, "version");
    assert.equal(buildOptions(["-h", "-c", "/nonexistent.conf"]).action, "help");
    assert.equal(buildOptions(["-sl", "reload=1", "-c", "/nonexistent.conf"]).action, "signal");
    assert.throws(() => buildOptions(["-c", "/nonexistent.conf"]), ConfigError);
  });
});

describe("resolveStoreDir", () => {
  it("defaults to <tmpdir>/tsnats/jetstream", () => {
    assert.equal(resolveStoreDir(defaultOptions()), join(tmpdir(), "tsnats", "jetstream"));
    assert.equal(resolveStoreDir(buildOptions(["-js"]).options), join(tmpdir(), "tsnats", "jetstream"));
  });

  it("appends 'jetstream' to a configured directory, as nats-server does", () => {
    const o = defaultOptions();
    o.jetstream.storeDir = "/data/nats";
    assert.equal(resolveStoreDir(o), "/data/nats/jetstream");
    assert.equal(resolveStoreDir(buildOptions(["-js", "-sd", "/x"]).options), "/x/jetstream");
    // the option keeps what the user wrote
    assert.equal(buildOptions(["-js", "-sd", "/x"]).options.jetstream.storeDir, "/x");
    o.jetstream.storeDir = "rel/dir/";
    assert.equal(resolveStoreDir(o), "rel/dir/jetstream");
  });

  it("is idempotent", () => {
    const o = defaultOptions();
    o.jetstream.storeDir = "/data/nats";
    o.jetstream.storeDir = resolveStoreDir(o);
    assert.equal(resolveStoreDir(o), "/data/nats/jetstream");
    o.jetstream.storeDir = "/data/jetstream/";
    assert.equal(resolveStoreDir(o), "/data/jetstream");
    o.jetstream.storeDir = "";
    o.jetstream.storeDir = resolveStoreDir(o);
    assert.equal(resolveStoreDir(o), join(tmpdir(), "tsnats", "jetstream"));
  });
});

describe("settings tsnats does not build", () => {
  it("syslog, remote_syslog and the profiling port stop start-up instead of being ignored", () => {
    assert.throws(() => buildOptions(["-s"]), { message: "syslog is not supported by tsnats: log to stderr or to a file (log_file, -l)" });
    assert.throws(() => buildOptions(["-r", "udp://localhost:514"]), /^Error: remote_syslog is not supported by tsnats/);
    assert.throws(() => buildOptions(["--profile", "6060"]), /^Error: prof_port is not supported by tsnats/);
    assert.equal(buildOptions(["--profile", "0"]).options.profPort, 0, "0 is nats-server's 'off'");
  });
});

describe("mergeFlagOptions", () => {
  it("only touches what the flags set", () => {
    const base = defaultOptions();
    base.jetstream.maxFileStore = 5;
    base.tls = { cert: "c", key: "k", timeout: 3 };
    mergeFlagOptions(base, { port: 1, jetstream: { enabled: true }, tls: { verify: true } });
    assert.equal(base.port, 1);
    assert.equal(base.host, "0.0.0.0");
    assert.equal(base.jetstream.enabled, true);
    assert.equal(base.jetstream.maxFileStore, 5);
    assert.deepEqual(base.tls, { cert: "c", key: "k", timeout: 3, verify: true });
  });
});
