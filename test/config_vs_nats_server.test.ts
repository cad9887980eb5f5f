// Configuration files checked side by side with nats-server 2.15 (`-t`): the same exit status
// and the same message lines, digests included. The cases come from a random sweep of
// configuration files (keys, values, types, separators, syntax) against both binaries; each
// one pins a difference that was fixed. nats-server reports several errors in the random
// order of a Go map, so lines are compared as sets.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { referenceBinary } from "./helpers/nats_server.js";

const REF = referenceBinary("2.15");
const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../src/bin/tsnats-server.js");

/** Exit status and message lines of `<server> -c c.conf -t`, the program's name left out. */
function check(dir: string, cmd: string, args: string[]): { status: number | null; lines: string[] } {
  const r = spawnSync(cmd, [...args, "-c", "c.conf", "-t"], { cwd: dir, encoding: "utf8", timeout: 60_000, env: { PATH: process.env.PATH ?? "", SWEEP_ENV: "4333" } });
  const lines = `${r.stdout}${r.stderr}`
    .replace(/^(ts)?nats-server: /gm, "")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .sort();
  return { status: r.status, lines };
}

const CASES: string[] = [
  // valid: the answer names the digest /varz shows (Go's JSON of the parsed file)
  "port: 4222\n",
  'server_name: "<a>&b"\nauthorization { timeout: 0.0000001 }\n',
  "v = 1MB\nmax_payload: $v\nport: $SWEEP_ENV\n",
  "include inc.conf\n",
  "server_tags: [a, \"b\"]\n",
  "port: 99999999999\n",
  "max_payload: 1MB\nmax_pending: 512KB\n",
  'lame_duck_duration: "40s"\nlame_duck_grace_period: "45s"\n',
  "no_auth_user: x\n",
  "logtime_utc: true\nlog_max_num: 3\n",
  "server_name: 1k2\n",
  "port: 4222 }\n",
  // warnings fail the check
  "ping_interval: 5\n",
  "# nothing\n",
  // wrong types: Go's type assertion text, at the key (column 0 on the first line)
  "debug: maybe\n",
  "max_subscriptions : 1.5\n",
  'http_base_path 1\nport: "4222"\n',
  "write_deadline: 2.5\n",
  "lame_duck_duration: 60\n",
  "system_account: true\n",
  'http: true\nlisten: "1.2.3.4:::"\n',
  // several errors at once
  'debug = maybe\nfoo: 1\nping_interval: "5"\nmax_control_line = "5X"\n',
  "server_name: \"a b\"\nmax_payload: 3GB\n",
  // syntax
  "a { b: 1",
  "a { b: 1\n",
  "x = [1, 2",
  "port: [1]\n",
  "a: 'abc",
  "a:\nb: 1\n",
  "max_payload: 1.5GB\n",
  "max_payload: 1e3\n",
  'a: "\\q"\n',
  "port: $NOPE\n",
  "include ./nonexistent.conf\n",
  "include bad.conf\n",
  '"$G": 1\n',
];

describe("config files: nats-server -t and tsnats-server -t agree", { skip: REF === undefined ? "no nats-server 2.15 reference" : false }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "tsnats-conf-vs-"));
    writeFileSync(path.join(dir, "inc.conf"), "max_connections: 100\n");
    writeFileSync(path.join(dir, "bad.conf"), "port: [1\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a port no listener can have is accepted by -t and refused at start-up, in Go's words", () => {
    for (const [conf, flags] of [["port: 70000\n", []], ["port: -1\nhttp_port: -5\n", []], ["port: -1\n", ["-p", "65536"]]] as const) {
      writeFileSync(path.join(dir, "c.conf"), conf);
      const run = (cmd: string, args: string[]) =>
        spawnSync(cmd, [...args, "-c", "c.conf", "-a", "127.0.0.1", ...flags], { cwd: dir, encoding: "utf8", timeout: 60_000 });
      const ref = run(REF!, []);
      const ours = run(process.execPath, [BIN]);
      const port = /(-?\d+)\s*$/.exec(conf.trim().split("\n").pop()!)?.[1];
      const want = `listen tcp: address ${flags.length > 0 ? flags[1] : port}: invalid port`;
      assert.equal(ref.status, 1);
      assert.equal(ours.status, 1);
      assert.ok(ref.stderr.includes(want), ref.stderr);
      assert.ok(ours.stderr.includes(want), ours.stderr);
    }
  });

  for (const text of CASES) {
    it(JSON.stringify(text), () => {
      writeFileSync(path.join(dir, "c.conf"), text);
      const ref = check(dir, REF!, []);
      const ours = check(dir, process.execPath, [BIN]);
      assert.deepEqual(ours, ref);
    });
  }
});

/**
 * A command line both servers refuse: exit status, stderr (log prefixes and the program's
 * name left out) and the first line of stdout (the usage after a flag error).
 */
function refusal(cmd: string, args: string[]): { status: number | null; stderr: string[]; stdout: string } {
  const r = spawnSync(cmd, [...args, "-a", "127.0.0.1"], { cwd: tmpdir(), encoding: "utf8", timeout: 60_000 });
  const stderr = r.stderr
    .split("\n")
    .filter((l) => l !== "" && !/\[(INF|WRN|DBG)\]/.test(l))
    .map((l) => l.replace(/^\[\d+\] \S+ \S+ /, "").replace(/^(ts)?nats-server: /, ""));
  return { status: r.status, stderr, stdout: r.stdout.split("\n").slice(0, 2).join("\n").replace("tsnats-server", "nats-server") };
}

describe("command-line flags: nats-server and tsnats-server refuse alike", { skip: REF === undefined ? "no nats-server 2.15 reference" : false }, () => {
  const cases: string[][] = [
    ["--xyz"],
    ["-p", "x"],
    ["---p", "1"],
    ["-js=maybe"],
    ["foo"],
    ["-t"],
    ["-p", "-1", "--cluster", "bad"],
    ["-p", "-1", "--cluster", "127.0.0.1:6222"],
    ["-p", "-1", "--cluster", "nats://:x"],
    ["-p", "-1", "--cluster", "nats://127.0.0.1"],
    ["-p", "-1", "--tlscacert", "/nonexistent-ca.pem"],
    ["-p", "-1", "--tlscert", "/nonexistent.pem"],
    ["-p", "-1", "--tlsverify"],
    ["-p", "-1", "--routes", "nats://127.0.0.1:1"],
    ["-p", "-1", "-m", "70000"],
    ["-p", "70000"],
  ];
  for (const args of cases) {
    it(args.join(" "), () => {
      assert.deepEqual(refusal(process.execPath, [BIN, ...args]), refusal(REF!, args));
    });
  }
});
