// Configuration file parser (conf_parser.ts) and option loading (load.ts): the nats-server
// file format with its quirks, variables, includes, units, durations, every error with its
// file:line:col, the mapping of nats-server keys onto ServerOptions, and (when nats-server
// is installed) a side-by-side check of which files both accept.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import {
  ConfigError,
  entryMeta,
  parseConfigFile,
  parseConfigString,
  parseDuration,
  type ConfMap,
} from "../src/config/conf_parser.js";
import { optionsFromConfig, validateOptions, loadConfigFile, parseHostPort, formatGoDuration } from "../src/config/load.js";
import { defaultOptions, unlimitedJetStream } from "../src/config/options.js";
import { referenceBinary } from "./helpers/nats_server.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tsnats-config-test-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const env = { HOME: "/home/test" };
const parse = (text: string, e: Record<string, string | undefined> = env) => parseConfigString(text, "t.conf", { env: e });
const load = (text: string) => optionsFromConfig(parse(text), "t.conf");

function throwsAt(fn: () => unknown, expected: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.message, expected);
    return true;
  });
}

describe("conf parser: structure", () => {
  it("parses the config the nats.js / nats.go harnesses write", () => {
    const t = parse(`
# written by a test harness
port: -1
http: "127.0.0.1:-1"
ports_file_dir: "/tmp/x"
server_name: srv-1
jetstream {
  store_dir: "/tmp/y"
  max_mem: 1G
  max_file: 10GB
}
authorization {
  users: [
    {user: a, password: b},
    {user: "c", password: "d"}
  ]
}
accounts {
  A: { users: [{user: aa, password: aa}], jetstream: enabled }
  B: {
    users: [ {user: bb, password: bb} ]
  }
}
websocket { port: -1, no_tls: true }
`);
    assert.deepEqual(t, {
      port: -1,
      http: "127.0.0.1:-1",
      ports_file_dir: "/tmp/x",
      server_name: "srv-1",
      jetstream: { store_dir: "/tmp/y", max_mem: 1_000_000_000, max_file: 10 * 1024 ** 3 },
      authorization: {
        users: [
          { user: "a", password: "b" },
          { user: "c", password: "d" },
        ],
      },
      accounts: {
        A: { users: [{ user: "aa", password: "aa" }], jetstream: "enabled" },
        B: { users: [{ user: "bb", password: "bb" }] },
      },
      websocket: { port: -1, no_tls: true },
    });
  });

  it("accepts ':', '=' and whitespace as key separators, with or without spaces", () => {
    assert.deepEqual(parse("a: 1\nb = 2\nc 3\nd:4\ne=5\nf\t6\n"), { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 });
    // a whitespace separator may even span lines, as in nats-server
    assert.deepEqual(parse("a\n  b\n"), { a: "b" });
  });

  it("accepts quoted keys", () => {
    assert.deepEqual(parse(`"a b": 1\n'c': 2\n"d" = 3`), { "a b": 1, c: 2, d: 3 });
  });

  it("parses blocks as values with and without a separator", () => {
    assert.deepEqual(parse("a { x: 1 }\nb: { x: 2 }\nc = {x: 3}\nd:{x:4}\ne {}\n"), {
      a: { x: 1 },
      b: { x: 2 },
      c: { x: 3 },
      d: { x: 4 },
      e: {},
    });
  });

  it("separates map entries with newlines, ',' and ';' and allows a trailing one", () => {
    assert.deepEqual(parse("m { a: 1, b: 2; c: 3\n d: 4, }"), { m: { a: 1, b: 2, c: 3, d: 4 } });
    assert.deepEqual(parse("a: 1; b: 2, c: 3 ,\n"), { a: 1, b: 2, c: 3 });
  });

  it("parses arrays with commas or newlines, nested arrays and maps, trailing commas", () => {
    assert.deepEqual(parse("a: [1, 2, 3 ]\nb: [\n  x\n  y\n]\nc: [[1, 2 ], {k: v}]\nd: [1,2,]\ne: []"), {
      a: [1, 2, 3],
      b: ["x", "y"],
      c: [[1, 2], { k: "v" }],
      d: [1, 2],
      e: [],
    });
  });

  it("skips # and // comments everywhere, but not inside tokens", () => {
    const t = parse(`
# top
a: 1 # trailing
// slashes
b: 2 // trailing
m {
  # inside
  c: 3 // x
}
l: [
  1 # one
  // nothing
  2
]
s: foo#bar
u: nats://host:4222//x
q: "x"#c
`);
    assert.deepEqual(t, { a: 1, b: 2, m: { c: 3 }, l: [1, 2], s: "foo#bar", u: "nats://host:4222//x", q: "x" });
  });

  it("keeps host:port, IPs and URLs as bare string values", () => {
    const t = parse(
      "listen: 127.0.0.1:-1\nh: 0.0.0.0:4222\nu: nats://u:p@host:4222\nw: \"ws://[::1]:80\"\ni: 10.0.0.1\nv6: ::1\ns: a.b.>\nstar: *\nk: a=b\nr: 1.2.3.4.5",
    );
    assert.deepEqual(t, {
      listen: "127.0.0.1:-1",
      h: "0.0.0.0:4222",
      u: "nats://u:p@host:4222",
      w: "ws://[::1]:80",
      i: "10.0.0.1",
      v6: "::1",
      s: "a.b.>",
      star: "*",
      k: "a=b",
      r: "1.2.3.4.5",
    });
    // ']' ends a bare token, so bracketed IPv6 hosts need quotes (as in nats-server)
    throwsAt(() => parse("w: ws://[::1]:80"), "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got ']' instead.'");
  });

  it("does not end a number at ']' (nats-server's lexer): `[1]` is an unclosed array holding \"1]\"", () => {
    throwsAt(() => parse("a: [1]\n"), "Parse error on line 2: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '\0' instead.'");
    assert.deepEqual(parse("a: [1 ]\nb: [1,]\nc: [1k]\nd: [x1]\ne: [12]]"), { a: [1], b: [1], c: [1000], d: ["x1"], e: ["12]"] });
  });

  it("ends bare values at ',', ';', '}' and ']'", () => {
    assert.deepEqual(parse("m {a: x}\nl: [y]\nb: z;\nc: w,"), { m: { a: "x" }, l: ["y"], b: "z", c: "w" });
  });

  it("tolerates a file wrapped in braces and stray top-level '}' like nats-server", () => {
    assert.deepEqual(parse("{\n  port: 4222\n}\n"), { port: 4222 });
    assert.deepEqual(parse("port: 4222 }\nserver_name: after\n"), { port: 4222, server_name: "after" });
  });

  it("lets the last duplicate key win", () => {
    assert.deepEqual(parse("a: 1\na: 2\n"), { a: 2 });
  });

  it("ignores a lone key at the end of the file, as nats-server does", () => {
    assert.deepEqual(parse("a: 1\nlonely"), { a: 1 });
  });

  it("handles CRLF line endings and a UTF-8 BOM", () => {
    assert.deepEqual(parse("\ufeffa: 1\r\nb {\r\n  c: x\r\n}\r\n"), { a: 1, b: { c: "x" } });
  });

  it("records key positions and value kinds in a side table", () => {
    const t = parse("a: 1\n  m {\n    f: 1.5\n  }\nl: [x, 2 ]\n");
    // Columns as nats-server counts them: from 0 on a file's first line, from 1 after it.
    assert.deepEqual(entryMeta(t, "a"), {
      file: "t.conf",
      line: 1,
      column: 0,
      kind: "int",
      valueLine: 1,
      valueColumn: 3,
      quoted: false,
      usedAsVariable: false,
    });
    const m = t.m as ConfMap;
    assert.equal(entryMeta(t, "m")?.line, 2);
    assert.equal(entryMeta(t, "m")?.column, 3);
    assert.equal(entryMeta(m, "f")?.kind, "float");
    assert.equal(entryMeta(m, "f")?.column, 5);
    const l = t.l as unknown[];
    assert.equal(entryMeta(l, 1)?.kind, "int");
    assert.equal(entryMeta(l, 1)?.column, 8);
    // the tree itself stays plain
    assert.deepEqual(Object.keys(t), ["a", "m", "l"]);
  });
});

describe("conf parser: scalars", () => {
  it("parses booleans in every spelling nats-server accepts", () => {
    const t = parse("a: true\nb: TRUE\nc: Yes\nd: on\ne: ON\nf: false\ng: no\nh: off\ni: False\nj: t\nk: y");
    assert.deepEqual(t, { a: true, b: true, c: true, d: true, e: true, f: false, g: false, h: false, i: false, j: "t", k: "y" });
  });

  it("parses integers, negative numbers and floats", () => {
    const t = parse("a: 42\nb: -1\nc: 007\nd: 1.5\ne: -2.25\nf: +1\ng: 0");
    assert.deepEqual(t, { a: 42, b: -1, c: 7, d: 1.5, e: -2.25, f: "+1", g: 0 });
    assert.equal(entryMeta(t, "d")?.kind, "float");
    assert.equal(entryMeta(t, "a")?.kind, "int");
  });

  it("applies size suffixes as nats-server 2.9 does (K=1000, KB/Ki/KiB=1024, ...)", () => {
    const cases: [string, number][] = [
      ["1K", 1000],
      ["1k", 1000],
      ["1KB", 1024],
      ["1kb", 1024],
      ["1kB", 1024],
      ["1Ki", 1024],
      ["1KiB", 1024],
      ["2M", 2_000_000],
      ["2MB", 2 * 1024 ** 2],
      ["1mib", 1024 ** 2],
      ["1Mb", 1024 ** 2],
      ["1G", 1e9],
      ["1GB", 1024 ** 3],
      ["1Gi", 1024 ** 3],
      ["1T", 1e12],
      ["1TB", 1024 ** 4],
      ["1P", 1e15],
      ["1PB", 1024 ** 5],
      ["1E", 1e18],
      ["1EB", 1024 ** 6],
      ["-1K", -1000],
      ["64MB", 64 * 1024 * 1024],
    ];
    for (const [src, want] of cases) {
      const t = parse(`v: ${src}`);
      assert.equal(t.v, want, src);
      assert.equal(entryMeta(t, "v")?.kind, "int", src);
    }
    // not sizes: stay strings
    assert.equal(parse("v: 1b").v, "1b");
    assert.equal(parse("v: 1ka").v, "1ka");
    assert.equal(parse("v: 12ab").v, "12ab");
    assert.equal(parse('v: "1MB"').v, "1MB");
  });

  it("parses ISO8601 Zulu datetimes as Dates", () => {
    const v = parse("d: 2020-01-02T03:04:05Z").d;
    assert.ok(v instanceof Date);
    assert.equal(v.toISOString(), "2020-01-02T03:04:05.000Z");
  });

  it("processes escapes in double-quoted strings and bare strings, not in single quotes", () => {
    const t = parse(String.raw`a: "x\ty\nz\r\"q\"\\"
b: "\x41\x42\xc3\xa9"
c: 'raw\tstr$HOME'
d: tab\there
e: "multi
line"`);
    assert.equal(t.a, 'x\ty\nz\r"q"\\');
    assert.equal(t.b, "ABé");
    assert.equal(t.c, "raw\\tstr$HOME");
    assert.equal(t.d, "tab\there");
    assert.equal(t.e, "multi\nline");
  });

  it("keeps quoted values as strings", () => {
    assert.deepEqual(parse(`a: "1"\nb: "true"\nc: '2KB'`), { a: "1", b: "true", c: "2KB" });
    assert.equal(entryMeta(parse(`a: "1"`), "a")?.quoted, true);
  });

  it("parses ( ) block strings verbatim", () => {
    const t = parse("b: (\nline one\n  ) not the end\n)\nafter: 1\n");
    assert.deepEqual(t, { b: "\nline one\n  ) not the end\n", after: 1 });
  });
});

describe("conf parser: variables", () => {
  it("resolves variables from enclosing blocks, innermost first", () => {
    const t = parse(`
x: outer
m {
  a: $x
  x: inner
  n { b: $x }
}
c: $x
`);
    assert.deepEqual(t, { x: "outer", m: { a: "outer", x: "inner", n: { b: "inner" } }, c: "outer" });
  });

  it("keeps the variable's type, including maps and arrays", () => {
    const t = parse("n: 5\nsz: 1MB\nm: {k: v}\nl: [1 ]\na: $n\nb: $sz\nc: $m\nd: $l");
    assert.equal(t.a, 5);
    assert.equal(t.b, 1024 * 1024);
    assert.deepEqual(t.c, { k: "v" });
    assert.deepEqual(t.d, [1]);
    assert.equal(entryMeta(t, "a")?.kind, "int");
  });

  it("only sees keys defined before the reference and not in sibling blocks", () => {
    throwsAt(() => parse("a: $later\nlater: 1"), "variable reference for 'later' on line 1 can not be found");
    throwsAt(() => parse("b { x: 1 }\nc: $x"), "variable reference for 'x' on line 2 can not be found");
    throwsAt(() => parse("l = [ {a: 2}, {p: $a} ]"), "variable reference for 'a' on line 1 can not be found");
  });

  it("falls back to the environment and parses the value as config", () => {
    const e = { PORT: "4223", SIZE: "1MB", NAME: "srv", Q: '"with space"', B: "true", EMPTY: "", M: "{a: 1}" };
    const t = parse("a: $PORT\nb: $SIZE\nc: $NAME\nd: $Q\ne: $B\nf: $EMPTY\ng: $M", e);
    assert.deepEqual(t, { a: 4223, b: 1024 * 1024, c: "srv", d: "with space", e: true, f: "", g: { a: 1 } });
  });

  it("prefers a config variable over the environment", () => {
    assert.equal(parse("HOME: cfg\nh: $HOME", { HOME: "/root" }).h, "cfg");
  });

  it("does not expand $VAR inside quoted strings or in the middle of a token", () => {
    assert.deepEqual(parse(`a: "$HOME"\nb: '$HOME'\nc: x$HOME`), { a: "$HOME", b: "$HOME", c: "x$HOME" });
  });

  it("reports environment values that do not parse, and recursive ones", () => {
    throwsAt(
      () => parse("v: $BAD", { BAD: "two words" }),
      "variable reference for 'BAD' on line 1 could not be parsed: Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'w' instead.'",
    );
    throwsAt(() => parse("v: $SELF", { SELF: "$SELF" }), "variable reference for 'SELF' on line 1 is recursive");
  });

  it("variable names run to the end of the token", () => {
    throwsAt(() => parse("a: $HOME/x"), "variable reference for 'HOME/x' on line 1 can not be found");
    assert.equal(parse("a.b: 1\nc: $a.b").c, 1);
  });

  it("marks entries used as variables", () => {
    const t = parse("v: 1\nw: 2\nx: $v");
    assert.equal(entryMeta(t, "v")?.usedAsVariable, true);
    assert.equal(entryMeta(t, "w")?.usedAsVariable, false);
  });
});

describe("conf parser: include", () => {
  it("includes files relative to the including file, at any level", () => {
    write("inc1/sub/users.conf", "users: [{user: a, password: b}]\n");
    write("inc1/sub/more.conf", "include ../other.conf\nlimit: 5\n");
    write("inc1/other.conf", "other: yes\n");
    const main = write(
      "inc1/main.conf",
      'authorization {\n  include "sub/users.conf"\n}\ninclude sub/more.conf\ninclude \'./other.conf\'; port: 1\n',
    );
    // parse from an unrelated working directory: resolution must not depend on it
    const t = parseConfigFile(main);
    assert.deepEqual(t, { authorization: { users: [{ user: "a", password: "b" }] }, other: true, limit: 5, port: 1 });
    const users = (t.authorization as ConfMap).users as ConfMap[];
    assert.equal(entryMeta(users[0], "user")?.file, join(dir, "inc1/sub/users.conf"));
  });

  it("makes included keys visible as variables afterwards, but not the other way round", () => {
    write("inc2/vars.conf", "NAME: fromvars\n");
    write("inc2/usesparent.conf", "v: $PARENT\n");
    const ok = write("inc2/a.conf", "include vars.conf\nserver_name: $NAME\n");
    assert.equal(parseConfigFile(ok).server_name, "fromvars");
    const bad = write("inc2/b.conf", "PARENT: 1\ninclude usesparent.conf\n");
    assert.throws(() => parseConfigFile(bad, { env: {} }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, "error parsing include file 'usesparent.conf', variable reference for 'PARENT' on line 1 can not be found");
      return true;
    });
  });

  it("reports a missing include by its name and the path it was opened at", () => {
    const f = write("inc3/main.conf", "port: 1\n  include ./nope.conf\n");
    throwsAt(() => parseConfigFile(f), `error parsing include file './nope.conf', open ${join(dir, "inc3/nope.conf")}: no such file or directory`);
  });

  it("detects include cycles", () => {
    write("inc4/a.conf", "include b.conf\n");
    write("inc4/b.conf", "include a.conf\n");
    assert.throws(() => parseConfigFile(join(dir, "inc4/a.conf")), /include cycle detected/);
  });

  it("'include:' with a separator is an ordinary key", () => {
    assert.deepEqual(parse("include: x"), { include: "x" });
  });
});

describe("conf parser: syntax errors in nats-server's words (line, no column)", () => {
  const cases: [string, string][] = [
    ["a {\n b: 1\n", "Parse error on line 3: 'Unexpected EOF processing map.'"],
    ["a: [1, 2\n", "Parse error on line 2: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '\u0000' instead.'"],
    ["a: [1,,2]", "Parse error on line 1: 'Unexpected array value terminator ','.'"],
    ["a: [\n 1\n , 2]", "Parse error on line 3: 'Unexpected array value terminator ','.'"],
    ["a: [x y]", "Parse error on line 1: 'Expected an array value terminator \",\" or an array terminator \"]\", but got 'y' instead.'"],
    ["a: [1; 2]", "Parse error on line 1: 'Expected an array value terminator \",\" or an array terminator \"]\", but got ';' instead.'"],
    ["m { a: x y }", "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'y' instead.'"],
    ["m {\n  a: 1 b: 2\n}", "Parse error on line 2: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'b' instead.'"],
    ["a: foo bar", "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'b' instead.'"],
    ["listen: 127.0.0.1:4222 x", "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'x' instead.'"],
    ["a:\nb: 1", "Parse error on line 2: 'Expected value but found new line'"],
    [":x", "Parse error on line 1: 'Unexpected key separator ':''"],
    ["a: \"abc\n", "Parse error on line 2: 'Unexpected EOF.'"],
    ["a: 'abc", "Parse error on line 1: 'Unexpected EOF.'"],
    ["a: \"x\\qy\"", "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"],
    ["a: \"\\x4g\"", "Parse error on line 1: 'Expected two hexadecimal digits after '\\x', but got '4g''"],
    ["a: (\nabc\n", "Parse error on line 3: 'Unexpected EOF processing block.'"],
    ["a: $NOPE", "variable reference for 'NOPE' on line 1 can not be found"],
    ["include\n", "Parse error on line 2: 'Expected include value but found new line'"],
    ["a: .5", "Parse error on line 1: 'Floats must start with a digit'"],
    ["a: 1.x", "Parse error on line 1: 'Floats must have a digit after the '.', but got 'x' instead.'"],
    ["a: -x", "Parse error on line 1: 'Expected a digit but got 'x'.'"],
    ["a: 2020-01-01", "Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'"],
    ["a: 1.5x", "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'x' instead.'"],
    ["m { a: 1.5GB }", "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'G' instead.'"],
    ["a: 1;; b: 2", "Parse error on line 1: 'Unexpected value terminator ';''"],
    ["\n\n    m {\n      deep {\n        x: [1 2]", "Parse error on line 5: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'"],
  ];
  for (const [text, msg] of cases) {
    it(JSON.stringify(text), () => {
      throwsAt(() => parse(text, {}), msg);
    });
  }

  it("exposes file, line, column and reason", () => {
    try {
      parseConfigString("ok: 1\n  bad: [", "/etc/x.conf");
      assert.fail("should throw");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.file, "/etc/x.conf");
      assert.equal(e.line, 2);
      assert.equal(e.column, 9);
      assert.equal(e.reason, 'Expected an array value terminator "," or an array terminator "]", but got \'\0\' instead.');
    }
  });

  it("reports a missing config file", () => {
    assert.throws(() => parseConfigFile(join(dir, "missing.conf")), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      // Go's os.Open text, as nats-server prints it.
      assert.equal(e.message, `open ${join(dir, "missing.conf")}: no such file or directory`);
      return true;
    });
  });
});

describe("parseDuration", () => {
  it("follows Go's time.ParseDuration, in milliseconds", () => {
    const cases: [string | number, number][] = [
      ["2m", 120_000],
      ["2m30s", 150_000],
      ["10s", 10_000],
      ["500ms", 500],
      ["1h", 3_600_000],
      ["1.5h", 5_400_000],
      ["1h2m3s", 3_723_000],
      ["100us", 0.1],
      ["100µs", 0.1],
      ["100μs", 0.1],
      ["1500ns", 0.0015],
      ["-1.5s", -1500],
      ["+2s", 2000],
      ["0", 0],
      [".5s", 500],
      ["1.s", 1000],
      [30, 30_000],
      [0.25, 250],
    ];
    for (const [input, want] of cases) assert.equal(parseDuration(input), want, String(input));
  });

  it("rejects what Go rejects, with Go's messages", () => {
    assert.throws(() => parseDuration(""), { message: 'time: invalid duration ""' });
    assert.throws(() => parseDuration("abc"), { message: 'time: invalid duration "abc"' });
    assert.throws(() => parseDuration("30"), { message: 'time: missing unit in duration "30"' });
    assert.throws(() => parseDuration("1d"), { message: 'time: unknown unit "d" in duration "1d"' });
    assert.throws(() => parseDuration("."), { message: 'time: invalid duration "."' });
    assert.throws(() => parseDuration("1s2"), { message: 'time: missing unit in duration "1s2"' });
    assert.throws(() => parseDuration("-"), { message: 'time: invalid duration "-"' });
  });

  it("formats like Go's Duration.String", () => {
    assert.equal(formatGoDuration(3_600_000), "1h0m0s");
    assert.equal(formatGoDuration(120_000), "2m0s");
    assert.equal(formatGoDuration(1_500), "1.5s");
    assert.equal(formatGoDuration(500), "500ms");
    assert.equal(formatGoDuration(0), "0s");
  });
});

describe("optionsFromConfig", () => {
  it("maps the harness config onto ServerOptions", () => {
    const f = write(
      "harness.conf",
      `port: -1
http: "127.0.0.1:-1"
ports_file_dir: "/tmp/x"
jetstream { store_dir: "/tmp/y" }
authorization { users: [{user: a, password: b}], timeout: 1.5 }
websocket { port: -1, no_tls: true }
`,
    );
    const o = loadConfigFile(f);
    assert.equal(o.configFile, f);
    assert.equal(o.port, -1);
    assert.equal(o.httpHost, "127.0.0.1");
    assert.equal(o.httpPort, -1);
    assert.equal(o.portsFileDir, "/tmp/x");
    assert.equal(o.jetstream.enabled, true);
    assert.equal(o.jetstream.storeDir, "/tmp/y");
    assert.deepEqual(o.users, [{ user: "a", password: "b" }]);
    assert.equal(o.authTimeoutMs, 1500);
    assert.equal(o.websocket?.port, -1);
    assert.equal(o.websocket?.noTls, true);
    assert.deepEqual(o.unsupportedBlocks, {});
    assert.deepEqual(o.warnings, []);
  });

  it("listen, host/net, port", () => {
    let o = load("listen: 127.0.0.1:-1");
    assert.equal(o.host, "127.0.0.1");
    assert.equal(o.port, -1);
    o = load('listen: "[::1]:4333"');
    assert.equal(o.host, "::1");
    assert.equal(o.port, 4333);
    o = load("listen: 4444");
    assert.equal(o.host, "0.0.0.0");
    assert.equal(o.port, 4444);
    o = load('listen: ":4555"');
    assert.equal(o.host, "0.0.0.0");
    assert.equal(o.port, 4555);
    assert.equal(load("net: 10.0.0.1").host, "10.0.0.1");
    assert.equal(load("host: localhost\nport: 5").port, 5);
    throwsAt(() => load('listen: "127.0.0.1"'), 't.conf:1:0: could not parse address string "127.0.0.1"');
    throwsAt(() => load("listen: localhost:x"), 't.conf:1:0: could not parse port "x"');
    // Any integer, as nats-server: the listener refuses a port it cannot have at start-up.
    assert.equal(load("port: 70000").port, 70000);
  });

  it("http, https and the monitoring keys", () => {
    let o = load("http: 8222");
    assert.equal(o.httpPort, 8222);
    assert.equal(o.httpHost, "0.0.0.0");
    o = load('http: "localhost:8333"\nhttp_base_path: /mon');
    assert.equal(o.httpHost, "localhost");
    assert.equal(o.httpPort, 8333);
    assert.equal(o.httpBasePath, "/mon");
    assert.equal(load("monitor_port: 1234").httpPort, 1234);
    assert.equal(load("http_port: -1").httpPort, -1);
    o = load("https: 127.0.0.1:8443");
    assert.equal(o.httpsPort, 8443);
    assert.equal(o.httpHost, "127.0.0.1");
    assert.equal(load("https_port: 9443").httpsPort, 9443);
    throwsAt(() => load("http: localhost"), 't.conf:1:0: could not parse address string "localhost"');
  });

  it("limits, durations and switches", () => {
    const o = load(`
server_name: n1
client_advertise: "example.com:4222"
max_payload: 2MB
max_control_line: 8KB
max_connections: 100
max_subscriptions: 1000
max_pending: 100MB
write_deadline: "5s"
ping_interval: "1m30s"
ping_max: 5
disable_short_first_ping: true
lame_duck_duration: "45s"
lame_duck_grace_period: "5s"
no_header_support: true
disable_sublist_cache: true
debug: true
trace: true
logtime: false
log_file: "/tmp/n.log"
logfile_size_limit: 1MB
syslog: false
pid_file: /tmp/n.pid
max_traced_msg_len: 128
`);
    assert.equal(o.serverName, "n1");
    assert.equal(o.clientAdvertise, "example.com:4222");
    assert.equal(o.maxPayload, 2 * 1024 * 1024);
    assert.equal(o.maxControlLine, 8192);
    assert.equal(o.maxConnections, 100);
    assert.equal(o.maxSubscriptions, 1000);
    assert.equal(o.maxPending, 100 * 1024 * 1024);
    assert.equal(o.writeDeadlineMs, 5000);
    assert.equal(o.pingIntervalMs, 90_000);
    assert.equal(o.maxPingsOut, 5);
    assert.equal(o.disableShortFirstPing, true);
    assert.equal(o.lameDuckDurationMs, 45_000);
    assert.equal(o.lameDuckGracePeriodMs, 5000);
    assert.equal(o.noHeaderSupport, true);
    assert.equal(o.disableSublistCache, true);
    assert.equal(o.debug, true);
    assert.equal(o.trace, true);
    assert.equal(o.logtime, false);
    assert.equal(o.logFile, "/tmp/n.log");
    assert.equal(o.logSizeLimit, 1024 * 1024);
    assert.equal(o.syslog, false);
    assert.equal(o.pidFile, "/tmp/n.pid");
    assert.equal(o.maxTracedMsgLen, 128);
    assert.deepEqual(o.warnings, []);
    // aliases
    const a = load("max_conn: 7\nmax_subs: 8\nno_sublist_cache: true\nlogfile: x\nlog_size_limit: 10\npidfile: p\ntrace_verbose: true");
    assert.equal(a.maxConnections, 7);
    assert.equal(a.maxSubscriptions, 8);
    assert.equal(a.disableSublistCache, true);
    assert.equal(a.logFile, "x");
    assert.equal(a.logSizeLimit, 10);
    assert.equal(a.pidFile, "p");
    assert.equal(a.traceVerbose, true);
    assert.equal(a.trace, true);
  });

  it("accepts integer seconds for durations with nats-server's warning", () => {
    const o = load("ping_interval: 30\nwrite_deadline: 2");
    assert.equal(o.pingIntervalMs, 30_000);
    assert.equal(o.writeDeadlineMs, 2000);
    assert.deepEqual(o.warnings, [
      't.conf:1:0: invalid use of field "ping_interval": ping_interval should be converted to a duration',
      't.conf:2:1: invalid use of field "write_deadline": write_deadline should be converted to a duration',
    ]);
    throwsAt(
      () => load("write_deadline: 2.5"),
      't.conf:1:0: invalid use of field "write_deadline": write_deadline should be converted to a duration\nt.conf:1:0: interface conversion: interface {} is float64, not int64',
    );
    throwsAt(() => load('ping_interval: "30"'), 't.conf:1:0: error parsing ping_interval: time: missing unit in duration "30"');
    throwsAt(() => load('lame_duck_duration: "10s"'), "t.conf:1:0: invalid lame_duck_duration of 10s, minimum is 30 seconds");
  });

  it("matches keys case-insensitively", () => {
    const o = load("PORT: 5\nServer_Name: X\nJetStream { Store_Dir: /d }");
    assert.equal(o.port, 5);
    assert.equal(o.serverName, "X");
    assert.equal(o.jetstream.storeDir, "/d");
  });

  it("reports wrong types at the key, in Go's words (nats-server's recovered type assertion)", () => {
    throwsAt(() => load('port: "abc"'), "t.conf:1:0: interface conversion: interface {} is string, not int64");
    throwsAt(() => load("debug: maybe"), "t.conf:1:0: interface conversion: interface {} is string, not bool");
    throwsAt(() => load("max_pending: 1.5"), "t.conf:1:0: interface conversion: interface {} is float64, not int64");
    throwsAt(() => load("server_name: 12"), "t.conf:1:0: interface conversion: interface {} is int64, not string");
    throwsAt(() => load("\n\n  jetstream {\n    store_dir: 5\n  }"), "t.conf:4:5: interface conversion: interface {} is int64, not string");
    throwsAt(() => load("authorization: 1"), "t.conf:1:0: interface conversion: interface {} is int64, not map[string]interface {}");
  });

  it("reports every top-level key that fails, the warnings first, as nats-server", () => {
    throwsAt(
      () => load('debug: 1\nping_interval: 5\nport: "x"\nfoo: 1'),
      [
        't.conf:2:1: invalid use of field "ping_interval": ping_interval should be converted to a duration',
        "t.conf:1:0: interface conversion: interface {} is int64, not bool",
        "t.conf:3:1: interface conversion: interface {} is string, not int64",
        't.conf:4:1: unknown field "foo"',
      ].join("\n"),
    );
  });

  it("rejects unknown fields like nats-server, unless used as variables or allowed", () => {
    throwsAt(() => load("foo: bar"), 't.conf:1:0: unknown field "foo"');
    throwsAt(() => load("jetstream {\n  enabled: true\n  bogus: 1\n}"), 't.conf:3:3: unknown field "bogus"');
    throwsAt(() => load("authorization { users: [\n {user: a, password: b, foo: 1}\n] }"), 't.conf:2:25: unknown field "foo"');
    throwsAt(() => load("tls { foo: 1 }"), 't.conf:1:6: error parsing tls config, unknown field "foo"');
    // a variable definition is not an unknown field
    const o = load("PW: secret\nauthorization { user: a, password: $PW }");
    assert.equal(o.password, "secret");
    // but an unused one is
    throwsAt(() => load("x: outer\njetstream { x: inner, domain: $x }"), 't.conf:1:0: unknown field "x"');
    const lenient = optionsFromConfig(parse("foo: bar"), "t.conf", { allowUnknownFields: true });
    assert.deepEqual(lenient.warnings, ['t.conf:1:0: unknown field "foo"']);
  });

  it("refuses syslog, remote_syslog and prof_port where the config sets them (file/line/reason); off stays accepted", () => {
    throwsAt(() => load("port: 4222\nsyslog: true"), "t.conf:2:1: syslog is not supported by tsnats: log to stderr or to a file (log_file, -l)");
    throwsAt(() => load("remote_syslog: 'udp://localhost:514'"), "t.conf:1:0: remote_syslog is not supported by tsnats: log to stderr or to a file (log_file, -l)");
    throwsAt(() => load("port: 4222\n\nprof_port: 6060"), "t.conf:3:1: prof_port is not supported by tsnats: profile with node --cpu-prof instead");
    const off = load("syslog: false\nremote_syslog: ''\nprof_port: 0");
    assert.equal(off.syslog, false);
    assert.equal(off.profPort, 0);
  });

  it("keeps a disabled mqtt block with a warning, refuses one that enables MQTT; reads the gateway block", () => {
    const o = load("gateway { name: g }\nmqtt { port: 0 }");
    assert.deepEqual(Object.keys(o.unsupportedBlocks).sort(), ["mqtt"]);
    assert.equal(o.gateway?.name, "g");
    assert.ok(o.warnings.includes("t.conf:2:1: mqtt configuration parsed, but not served yet by tsnats"));
    // nats-server serves MQTT on a non-zero port: tsnats cannot, so it says so where the port is.
    throwsAt(() => load("mqtt {\n  port: 1883\n}"), "t.conf:2:3: mqtt: MQTT is not supported by tsnats (this block enables an MQTT listener)");
    throwsAt(() => load("mqtt { listen: 127.0.0.1:-1 }"), "t.conf:1:7: mqtt: MQTT is not supported by tsnats (this block enables an MQTT listener)");
  });

  it("reads the leafnodes block (alias leaf) and refuses what tsnats cannot serve", () => {
    const o = load(
      "accounts { A: {} }\nleafnodes {\n listen: 127.0.0.1:7500\n advertise: 'h:1'\n no_advertise: true\n reconnect: 3\n isolate_leafnode_interest: true\n" +
        " authorization { users: [{ user: u, password: p, account: A }], timeout: 2 }\n" +
        " remotes: [ { urls: [nats-leaf://x:1, nats-leaf://y:2], account: A, hub: false, deny_imports: ['a.>'], deny_exports: 'b' } ]\n}",
    );
    const l = o.leafnodes;
    assert.ok(l);
    assert.equal(l.host, "127.0.0.1");
    assert.equal(l.port, 7500);
    assert.equal(l.advertise, "h:1");
    assert.equal(l.noAdvertise, true);
    assert.equal(l.reconnectMs, 3000);
    assert.equal(l.isolateLeafnodeInterest, true);
    assert.deepEqual(l.users, [{ user: "u", password: "p", account: "A" }]);
    assert.equal(l.authTimeoutMs, 2000);
    assert.deepEqual(l.remotes[0].urls, ["nats-leaf://x:1", "nats-leaf://y:2"]);
    assert.equal(l.remotes[0].account, "A");
    assert.deepEqual(l.remotes[0].denyImports, ["a.>"]);
    assert.deepEqual(l.remotes[0].denyExports, ["b"]);
    assert.equal(load("leaf { port: 1 }").leafnodes?.port, 1);
    throwsAt(() => load("leafnodes { tls { cert_file: x } }"), "t.conf:1:12: missing 'key_file' in TLS configuration");
    throwsAt(() => load("leafnodes { bogus: 1 }"), 't.conf:1:12: unknown field "bogus"');
    assert.equal(load("leafnodes { port: 1, compression: s2_fast }").leafnodes?.compression, "s2_fast");
    // nats-server's defaults: s2_auto for the listener and every remote; "on" means s2_auto here.
    assert.equal(load("leafnodes { port: 1 }").leafnodes?.compression, "s2_auto");
    assert.equal(load("leafnodes { remotes: [ { url: nats-leaf://x:1 } ] }").leafnodes?.remotes[0].compression, "s2_auto");
    assert.equal(load("leafnodes { remotes: [ { url: nats-leaf://x:1, compression: on } ] }").leafnodes?.remotes[0].compression, "s2_auto");
    assert.deepEqual(load("leafnodes { port: 1, compression: { mode: s2_auto, rtt_thresholds: [0ms, 5ms, 20ms, 0ms] } }").leafnodes?.compressionRttMs, [0, 5, 20]);
    assert.throws(() => validateOptions(load("leafnodes { remotes: [ { url: nats-leaf://x:1, account: NOPE } ] }")), /leafnode remote account "NOPE" not found/);
  });

  it("reads the cluster block with nats-server's keys and errors", () => {
    const o = load(
      "cluster {\n name: c1\n listen: 127.0.0.1:6333\n routes: [nats://a:1, nats-route://b:2]\n cluster_advertise: 'x:7'\n no_advertise: true\n" +
        " connect_retries: 4\n connect_backoff: true\n pool_size: 5\n accounts: [A]\n compression: off\n ping_interval: '5s'\n ping_max: 3\n" +
        " authorization { user: ru, password: rp, timeout: 3 }\n permissions { import: 'foo.>', export: { allow: ['bar.>'], deny: ['bar.x'] } }\n}\n" +
        "accounts { A: {} }",
    );
    const c = o.cluster;
    assert.ok(c);
    assert.equal(c.name, "c1");
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.port, 6333);
    assert.deepEqual(c.routes, ["nats://a:1", "nats-route://b:2"]);
    assert.equal(c.advertise, "x:7");
    assert.equal(c.noAdvertise, true);
    assert.equal(c.connectRetries, 4);
    assert.equal(c.connectBackoff, true);
    assert.equal(c.poolSize, 5);
    assert.deepEqual(c.pinnedAccounts, ["A"]);
    assert.equal(c.compression, "off");
    assert.equal(c.pingIntervalMs, 5000);
    assert.equal(c.maxPingsOut, 3);
    assert.equal(c.username, "ru");
    assert.equal(c.password, "rp");
    assert.equal(c.authTimeoutMs, 3000);
    assert.deepEqual(c.permissions, { import: "foo.>", export: { allow: ["bar.>"], deny: ["bar.x"] } });
    throwsAt(() => load("cluster { name: 'a b' }"), "t.conf:1:10: cluster name cannot contain spaces or new lines");
    throwsAt(() => load("cluster { bogus: 1 }"), 't.conf:1:10: unknown field "bogus"');
    throwsAt(() => load("cluster { authorization { users: [{user: a, password: b}] } }"), "t.conf:1:10: Cluster authorization does not allow multiple users");
    throwsAt(() => load("cluster { authorization { token: t } }"), "t.conf:1:10: Cluster authorization does not support tokens");
    assert.throws(() => load("cluster { permissions { import: a, allow_responses: true } }"), /Cluster permissions do not support dynamic responses/);
    // nats-server checks modes and thresholds at start-up: its messages carry no position.
    assert.throws(() => load("cluster { compression: s3 }"), /^Error: unsupported compression mode "s3"$/);
    assert.throws(() => load("cluster { compression: s2_uncompressed }"), /^Error: unsupported compression mode "s2_uncompressed"$/);
    assert.throws(() => load('cluster { compression: { mode: s2_auto, rtt_thresholds: ["10ms", "5ms"] } }'), /^Error: RTT threshold values \[10ms 5ms\] should be in ascending order$/);
    assert.throws(
      () => load('cluster { compression: { mode: s2_auto, rtt_thresholds: ["1ms", "2ms", "3ms", "4ms", "5ms"] } }'),
      /^Error: compression mode "s2_auto" should have no more than 4 RTT thresholds: \[1ms 2ms 3ms 4ms 5ms\]$/,
    );
    assert.throws(() => load('cluster { compression: { mode: s2_auto, rtt_thresholds: ["0ms"] } }'), /^Error: compression mode "s2_auto" requires at least one RTT threshold$/);
    throwsAt(() => load('cluster { compression: { mode: s2_auto, rtt_thresholds: ["abc"] } }'), 't.conf:1:40: time: invalid duration "abc"');
    throwsAt(() => load("cluster { compression: { foo: 1 } }"), 't.conf:1:25: unknown field "foo"');
    assert.equal(load("cluster { compression: s2_fast }").cluster?.compression, "s2_fast");
    assert.equal(load("cluster { compression: best }").cluster?.compression, "s2_best");
    assert.equal(load("cluster { compression: s2_best }").cluster?.compression, "s2_best");
    // A map without a mode keeps the block's default (accept for routes), thresholds unused.
    assert.deepEqual(load('cluster { compression: { rtt_thresholds: ["5ms"] } }').cluster?.compression, "accept");
    assert.deepEqual(load('cluster { compression: { mode: auto, rtt_thresholds: ["5ms", "1s"] } }').cluster?.compressionRttMs, [5, 1000]);
    assert.throws(() => validateOptions(load("cluster { port: 1, pool_size: -1, accounts: [A] }\naccounts { A: {} }")), /pool_size cannot be negative if pinned accounts are specified/);
    assert.throws(() => validateOptions(load("cluster { port: 1, accounts: [A, A] }\naccounts { A: {} }")), /found duplicate account name "A" in pinned accounts list/);
    assert.equal(load("cluster { compression: true }").cluster?.compression, "s2_fast");
    assert.equal(load("cluster { compression: accept }").cluster?.compression, "accept");
  });

  it("reads server_tags, connect_error_reports, reconnect_error_reports and default_js_domain without warnings", () => {
    const o = load("server_tags: [A, b]\nconnect_error_reports: 5\nreconnect_error_reports: 2\ndefault_js_domain: { A: hub }");
    assert.deepEqual(o.warnings, []);
    assert.deepEqual(o.serverTags, ["a", "b"]);
    assert.equal(o.connectErrorReports, 5);
    assert.equal(o.reconnectErrorReports, 2);
    assert.deepEqual({ ...o.defaultJsDomain }, { A: "hub" });
    throwsAt(() => load("default_js_domain: [a]"), "t.conf:1:0: error default_js_domain config: unsupported type []interface {}");
  });

  describe("feature_flags", () => {
    it("reads name: bool pairs, with nats-server's errors", () => {
      assert.deepEqual(load("feature_flags { js_ack_fc_v2: true, bogus: false }").featureFlags, { js_ack_fc_v2: true, bogus: false });
      throwsAt(() => load("feature_flags: 1"), "t.conf:1:0: error parsing feature flags: unsupported type int64");
      assert.throws(() => load('feature_flags { a: "yes" }'), /error parsing feature flag "a": expected bool, got string/);
    });
  });

  describe("jetstream", () => {
    it("accepts bool, enabled/disabled and blocks", () => {
      assert.equal(load("jetstream: true").jetstream.enabled, true);
      assert.equal(load("jetstream: on").jetstream.enabled, true);
      assert.equal(load("jetstream: enabled").jetstream.enabled, true);
      assert.equal(load("jetstream: Enabled").jetstream.enabled, true);
      assert.equal(load("jetstream: disabled").jetstream.enabled, false);
      assert.equal(load("jetstream: false").jetstream.enabled, false);
      assert.equal(load("jetstream: {}").jetstream.enabled, true);
      assert.equal(load("jetstream { enabled: false }").jetstream.enabled, false);
      throwsAt(() => load("jetstream: foo"), "t.conf:1:0: Expected 'enabled' or 'disabled' for string value, got 'foo'");
      throwsAt(() => load("jetstream: 1"), "t.conf:1:0: Expected map, bool or string to define JetStream, got integer");
    });

    it("reads store dir, limits, domain, unique tag, sync interval", () => {
      const o = load(`jetstream {
  store: /data
  max_memory_store: 1G
  max_file_store: "2T"
  domain: hub
  unique_tag: "AZ:"
  sync_interval: "30s"
}`);
      assert.deepEqual(o.jetstream, {
        enabled: true,
        storeDir: "/data",
        maxMemoryStore: 1e9,
        maxFileStore: 2 * 1024 ** 4,
        syncInterval: 30_000,
        domain: "hub",
        uniqueTag: "az:",
      });
      const p = load('jetstream { max_mem: "512M", max_file: 10GB, sync_interval: always }');
      assert.equal(p.jetstream.maxMemoryStore, 512 * 1024 * 1024);
      assert.equal(p.jetstream.maxFileStore, 10 * 1024 ** 3);
      assert.equal(p.jetstream.syncInterval, "always");
      assert.equal(load('jetstream { max_mem: "" }').jetstream.maxMemoryStore, 0);
      assert.equal(load("jetstream { max_mem: -1 }").jetstream.maxMemoryStore, -1);
    });

    it("validates sizes and duplicates like nats-server", () => {
      throwsAt(() => load('jetstream {\n  max_mem: "1g"\n}'), "t.conf:2:3: max_mem_store sizes defined as strings must end in K, M, G, T");
      throwsAt(() => load('jetstream { max_file: "1.5G" }'), 't.conf:1:12: max_file_store invalid size "1.5G"');
      throwsAt(() => load("jetstream { store_dir: a, store: b }"), "t.conf:1:26: Duplicate 'store_dir' configuration");
      throwsAt(() => load('jetstream { sync_interval: "0s" }'), 't.conf:1:12: sync_interval must be a positive duration or "always"');
    });
  });

  describe("authorization", () => {
    it("single user, token, users list and timeout", () => {
      let o = load("authorization { user: derek, password: s3cr3t, timeout: 2 }");
      assert.equal(o.username, "derek");
      assert.equal(o.password, "s3cr3t");
      assert.equal(o.authTimeoutMs, 2000);
      o = load("authorization { username: a, pass: b }");
      assert.equal(o.username, "a");
      assert.equal(o.password, "b");
      o = load('authorization { token: "tok", timeout: "500ms" }');
      assert.equal(o.authorization, "tok");
      assert.equal(o.authTimeoutMs, 500);
      o = load(`authorization {
  default_permissions: { publish: ">" }
  users = [
    {user: a, password: a, permissions: {publish: "a.>", subscribe: ["b", "c"]}}
    {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}
    {username: c, pass: c, allowed_connection_types: ["STANDARD", "WEBSOCKET"]}
  ]
}`);
      assert.deepEqual(o.users, [
        { user: "a", password: "a", permissions: { publish: "a.>", subscribe: ["b", "c"] } },
        { nkey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4" },
        { user: "c", password: "c", allowedConnectionTypes: ["STANDARD", "WEBSOCKET"] },
      ]);
      assert.deepEqual(o.defaultPermissions, { publish: ">" });
    });

    it("rejects conflicting and malformed settings", () => {
      throwsAt(
        () => load("authorization { user: a, pass: b, users: [{user: c, password: d}] }"),
        "t.conf:1:0: Can not have a single user/pass and a users array",
      );
      throwsAt(() => load("authorization { user: a, token: b }"), "t.conf:1:0: Cannot have a user/pass and token");
      throwsAt(() => load("authorization { token: b, users: [{user: a}] }"), "t.conf:1:0: Can not have a token and a users array");
      throwsAt(() => load("authorization { users: {user: a} }"), "t.conf:1:16: Expected users field to be an array, got map");
      throwsAt(() => load("authorization { users: [a] }"), "t.conf:1:24: Expected user entry to be a map/struct, got a");
      throwsAt(() => load("authorization { users: [{user: a}, {user: a}] }"), 't.conf:1:35: Duplicate user "a" detected');
      throwsAt(() => load("authorization { users: [{password: a}] }"), "t.conf:1:24: User entry requires a user");
      throwsAt(
        () => load("authorization { users: [{user: a, permissions: {pub: a, bogus: 1}}] }"),
        't.conf:1:56: Unknown field "bogus" parsing permissions',
      );
      throwsAt(
        () => load("authorization { users: [{user: a, permissions: {publish: {allow: a, foo: b}}}] }"),
        "t.conf:1:68: Unknown field name \"foo\" parsing subject permissions, only 'allow' or 'deny' are permitted",
      );
      const ok = load('authorization { users: [{user: a, permissions: {publish: {allow: ["a", "b"], deny: c}, sub: d, allow_responses: true}}] }');
      assert.deepEqual(ok.users[0].permissions, { publish: { allow: ["a", "b"], deny: "c" }, sub: "d", allow_responses: true });
      throwsAt(() => load("authorization { auth: x }"), 't.conf:1:16: unknown field "auth"');
    });
  });

  describe("accounts", () => {
    it("reads accounts with users, jetstream, imports, exports, mappings", () => {
      const o = load(`
accounts {
  A: { users: [{user: a, password: a}], jetstream: enabled, exports: [{stream: a}] }
  B {
    users = [{user: b, password: b}]
    jetstream { max_mem: 1G, max_file: 1T, max_streams: 10, max_consumers: 100 }
    exports [ {stream: "b.>"}, {service: "svc"} ]
    imports [ {stream: {account: A, subject: "a"}} ]
    mappings { "x": "y" }
  }
  C: { jetstream: disabled }
  SYS: { users: [{user: sys, password: sys}] }
}
system_account: SYS
no_auth_user: a
`);
      assert.deepEqual(o.accounts, [
        { name: "A", users: [{ user: "a", password: "a", account: "A" }], jetstream: true, exports: [{ stream: "a", where: "t.conf:2:1" }] },
        {
          name: "B",
          users: [{ user: "b", password: "b", account: "B" }],
          jetstream: { ...unlimitedJetStream(), max_memory: 1e9, max_storage: 1e12, max_streams: 10, max_consumers: 100 },
          exports: [
            { stream: "b.>", where: "t.conf:2:1" },
            { service: "svc", where: "t.conf:2:1" },
          ],
          imports: [{ stream: { account: "A", subject: "a" }, where: "t.conf:2:1" }],
          mappings: [{ subject: "x", destinations: [{ subject: "y", weight: 100 }], where: "t.conf:9:17" }],
        },
        { name: "C", users: [], jetstream: false },
        { name: "SYS", users: [{ user: "sys", password: "sys", account: "SYS" }] },
      ]);
      assert.equal(o.systemAccount, "SYS");
      assert.equal(o.noAuthUser, "a");
      validateOptions(o);
    });

    it("accepts a plain list of account names", () => {
      assert.deepEqual(load("accounts: [A, B]").accounts, [
        { name: "A", users: [] },
        { name: "B", users: [] },
      ]);
    });

    it("rejects malformed accounts", () => {
      throwsAt(() => load("accounts { A: 1 }"), "t.conf:1:11: Expected map entries for accounts");
      throwsAt(() => load("accounts { A: {jetstream: foo} }"), "t.conf:1:15: Expected 'enabled' or 'disabled' for string value, got 'foo'");
      throwsAt(() => load("accounts { A: {users: [{user: a, password: a}], foo: 1} }"), 't.conf:1:48: unknown field "foo"');
      throwsAt(
        () => load("accounts { A: {users: [{user: a, password: a}]}, B: {users: [{user: a, password: b}]} }"),
        't.conf:1:61: Duplicate user "a" detected',
      );
      throwsAt(
        () => load("authorization { users: [{user: a}] }\naccounts { A: {users: [{user: a}]} }"),
        't.conf:2:24: Duplicate user "a" detected',
      );
    });

    it("system account switches", () => {
      assert.equal(load("system: S\naccounts { S: {} }").systemAccount, "S");
      assert.equal(load("no_sys_acc: true").noSystemAccount, true);
      assert.equal(load("no_system_account: true").noSystemAccount, true);
    });
  });

  describe("tls", () => {
    it("reads the tls block", () => {
      const cert = write("tls/cert.pem", "x");
      const key = write("tls/key.pem", "x");
      const ca = write("tls/ca.pem", "x");
      const o = load(`tls {\n cert_file: "${cert}"\n key_file: "${key}"\n ca_file: "${ca}"\n verify: true\n timeout: 2.5\n handshake_first: true\n}`);
      assert.deepEqual(o.tls, { cert, key, ca, verify: true, timeout: 2.5, handshakeFirst: true });
      assert.equal(load('tls { timeout: "3s" }').tls?.timeout, 3);
    });

    it("fails on missing files and incomplete pairs", () => {
      throwsAt(
        () => load("tls { cert_file: /nonexist/c, key_file: /nonexist/k }"),
        "t.conf:1:0: error parsing X509 certificate/key pair: open /nonexist/c: no such file or directory",
      );
      throwsAt(() => load("tls { cert_file: /x }"), "t.conf:1:0: missing 'key_file' in TLS configuration");
      throwsAt(() => load("tls { key_file: /x }"), "t.conf:1:0: missing 'cert_file' in TLS configuration");
    });

    it("reads insecure (used by solicited connections), as a boolean only", () => {
      const o = load("tls { insecure: true }");
      assert.deepEqual(o.warnings, []);
      assert.equal(o.tls?.insecure, true);
      throwsAt(() => load('tls { insecure: "yes" }'), "t.conf:1:6: error parsing tls config, expected 'insecure' to be a boolean");
    });
  });
});

describe("validateOptions", () => {
  const v = (text: string) => validateOptions(load(text));
  it("accepts the defaults", () => {
    validateOptions(defaultOptions());
  });
  it("checks cross-field rules with nats-server's messages", () => {
    assert.throws(() => v("max_payload: 100MB"), { message: "max_payload (104857600) cannot be higher than max_pending (67108864)" });
    assert.throws(() => v("max_pending: -1"), { message: "max_payload (1048576) cannot be higher than max_pending (-1)" });
    assert.throws(() => v('lame_duck_grace_period: "1h"'), {
      message: "lame duck grace period (1h0m0s) should be strictly lower than lame duck duration (2m0s)",
    });
    assert.throws(() => v("authorization { token: a }\nno_auth_user: b"), { message: 'no_auth_user: "b" present, but users/nkeys are not defined' });
    assert.throws(() => v("accounts { A: {users: [{user: x, password: a}]} }\nno_auth_user: y"), {
      message: 'no_auth_user: "y" not present as user or nkey in authorization block or account configuration',
    });
    assert.throws(() => v("accounts { A: {} }\nsystem_account: NOPE"), { message: "error resolving system account: account missing" });
    v("authorization { users: [{user: a, password: a}] }\nno_auth_user: a");
  });
});

describe("parseHostPort", () => {
  it("splits like Go's net.SplitHostPort", () => {
    assert.deepEqual(parseHostPort("127.0.0.1:4222"), { host: "127.0.0.1", port: 4222 });
    assert.deepEqual(parseHostPort("[::1]:-1"), { host: "::1", port: -1 });
    assert.deepEqual(parseHostPort(":80"), { host: "", port: 80 });
    assert.throws(() => parseHostPort("::1"), /could not parse address string/);
    assert.throws(() => parseHostPort("h:"), /could not parse port ""/);
  });
});

// ---------------------------------------------------------------------------------------
// Side by side with the reference server: both must accept or reject the same files.

const natsServer = referenceBinary("2.15");

describe("same verdict as nats-server -t", { skip: natsServer === undefined ? "nats-server not installed" : false }, () => {
  const accepted = [
    'port: -1\nhttp: "127.0.0.1:-1"\nports_file_dir: "/tmp"\n',
    'listen: 127.0.0.1:-1\njetstream { store_dir: "/tmp/tsnats-cmp" }\n',
    "jetstream: enabled\n",
    "jetstream { max_mem: 1G, max_file: 10GB, domain: hub, unique_tag: az }\n",
    'jetstream { max_mem: "2K" }\n',
    "authorization { users: [{user: a, password: b}] }\n",
    "authorization {\n  users = [\n    {user: a, password: b}\n    {user: c, password: d}\n  ]\n}\n",
    "authorization { token: abc, timeout: 1.5 }\n",
    "accounts { A: { users: [{user: a, password: a}], jetstream: enabled } }\n",
    "accounts {\n  A { users = [{user: a, password: a}] }\n  SYS { users = [{user: s, password: s}] }\n}\nsystem_account: SYS\n",
    "accounts: [A]\n",
    "websocket { port: -1, no_tls: true }\n",
    "cluster { port: -1, name: c1 }\n",
    "PW: secret\nauthorization { user: a, password: $PW }\n",
    "x: outer\njetstream { domain: $x }\n",
    "{\n  port: 4222\n}\n",
    "port: 4222 }\n",
    "server_name: foo#bar\n",
    'server_name: "a\\tb\\x41"\n',
    "max_pending: 1Mb\nmax_payload: 1KB\n",
    "port: 4222; debug: true\n",
    "jetstream { store_dir: /tmp/x ; }\n",
    "jetstream { store_dir: /tmp/x }, port: 1\n",
    "http: 8222\nlisten: \":4222\"\n",
    'listen: "[::1]:4222"\n',
    'ping_interval: "1m30s"\nwrite_deadline: "5s"\nlame_duck_duration: "30s"\n',
    "PORT: 5\nServer_Name: x\n",
    "no_sublist_cache: true\nmax_conn: 5\nlogfile: x\npidfile: p\nlog_size_limit: 1MB\n",
    "server_name: 1.2.3.4.5\n",
    "server_name: 12ab\n",
    "server_name: 1k2\n",
    'tls { timeout: "2s" }\n',
  ];
  const rejected = [
    'port: "abc"\n',
    "foo: bar\n",
    "a {\n b: 1\n",
    "port: $TSNATS_SURELY_UNSET_VAR\n",
    "debug: maybe\n",
    "listen: 127.0.0.1:4222 trailing\n",
    "jetstream {\n   max_mem: \"abc\"\n}\n",
    "authorization { users: [{user: a, password: b, foo: 1}] }\n",
    'http: "127.0.0.1:abc"\n',
    "jetstream: foo\n",
    "jetstream { store_dir: x, store: y }\n",
    'ping_interval: "abc"\n',
    'lame_duck_duration: "1s"\n',
    "authorization { user: a, token: b }\n",
    "authorization { users: [{user: a}, {user: a}] }\n",
    "accounts { A: 1 }\n",
    "tls { foo: 1 }\n",
    "x: outer\njetstream { x: inner, domain: $x }\n",
    "server_name: .5\n",
    "server_name: 10-20\n",
    "server_tags: [ a\n, b ]\n",
    "port: 1;; debug: true\n",
    "include\n",
    "include ./surely-missing.conf\n",
    'x: "a\\q"\n',
    "max_pending: 1.5\n",
    'listen: "127.0.0.1"\n',
    "server_name: (\n block\n)\n",
    "a: [1]\n",
    "# nothing\n\n",
    "ping_interval: 5\n",
  ];

  function natsVerdict(file: string): boolean {
    const r = spawnSync(natsServer!, ["-t", "-c", file], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    return r.status === 0;
  }
  function ourVerdict(file: string): boolean {
    try {
      // As -t: a warning fails the check.
      return optionsFromConfig(parseConfigFile(file, { env: { PATH: process.env.PATH ?? "" } }), file).warnings.length === 0;
    } catch (e) {
      if (e instanceof ConfigError) return false;
      throw e;
    }
  }

  let n = 0;
  for (const text of accepted) {
    it(`both accept ${JSON.stringify(text)}`, () => {
      const f = write(`cmp/ok${n++}.conf`, text);
      assert.equal(natsVerdict(f), true, "nats-server accepts");
      assert.equal(ourVerdict(f), true, "tsnats accepts");
    });
  }
  for (const text of rejected) {
    it(`both reject ${JSON.stringify(text)}`, () => {
      const f = write(`cmp/bad${n++}.conf`, text);
      assert.equal(natsVerdict(f), false, "nats-server rejects");
      assert.equal(ourVerdict(f), false, "tsnats rejects");
    });
  }
});

describe("security-relevant config tsnats can't honour yet", () => {
  it("jetstream keys held in a TPM stop start-up instead of writing plaintext", () => {
    assert.throws(
      () => optionsFromConfig(parse("jetstream {\n  tpm { keys_file: x }\n}\n"), "t.conf"),
      (e: Error) => e instanceof ConfigError && e.message === 't.conf:2:3: jetstream field "tpm": keys held in a TPM are not supported by tsnats yet',
    );
  });

  it("tls options tsnats cannot honour stop start-up", () => {
    for (const [key, why] of [
      ["ocsp_peer", "is not supported by tsnats: OCSP checks of peer certificates are not implemented"],
      ["certs", "is not supported by tsnats yet: use cert_file and key_file"],
      ["cert_match", "is not supported by tsnats (it selects from the Windows certificate store)"],
    ]) {
      assert.throws(
        () => optionsFromConfig(parse(`tls { ${key}: true }`), "t.conf"),
        (e: Error) => e instanceof ConfigError && e.message === `t.conf:1:6: tls field "${key}" ${why}`,
      );
    }
  });
});

describe("operator (JWT) mode keys", () => {
  it("an unreadable operator or a bad trusted key stops start-up at its key, as nats-server", () => {
    assert.throws(
      () => optionsFromConfig(parse(`port: -1\noperator: "x"\n`), "t.conf"),
      (e: Error) => e instanceof ConfigError && /t\.conf:2:1: error parsing operator JWT: open x: no such file or directory/.test(e.message),
    );
    for (const key of ["trusted", "trusted_keys"]) {
      assert.throws(
        () => optionsFromConfig(parse(`port: -1\n${key}: "x"\n`), "t.conf"),
        (e: Error) => e instanceof ConfigError && /t\.conf:2:1: trust key "x" required to be a valid public operator nkey/.test(e.message),
      );
    }
  });
});
