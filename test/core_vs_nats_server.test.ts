// Side by side with the reference: the same raw protocol transcripts go to nats-server 2.9.10
// (spawned when installed, else skipped) and to tsnats, and the replies must be identical,
// INFO contents aside. Two documented differences are normalised away: tsnats's 503 no-responders
// status carries `Nats-Subject: <subject>` as current nats-server releases do, 2.9.10 sends none;
// 2.9.10 sends no connect_info INFO after CONNECT (2.15 does, as tsnats).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { natsServerBinary, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { RawConn, withoutConnectInfo } from "./helpers/raw.js";
import { prng, ProtoFuzzer } from "./helpers/fuzz.js";

const skip = natsServerBinary() === undefined ? "nats-server is not installed (apt-get install -y nats-server)" : undefined;

/**
 * Send `data` followed by PING, and collect the reply until the connection closes or the
 * answering PONG arrives (then a short grace for stragglers), at most `maxMs`.
 */
async function exchange(port: number, data: string | Buffer, maxMs = 2000): Promise<{ out: string; closed: boolean }> {
  const c = await RawConn.connect(port);
  try {
    c.send(Buffer.concat([typeof data === "string" ? Buffer.from(data, "latin1") : data, Buffer.from("PING\r\n")]));
    await c.waitFor((t) => t.endsWith("PONG\r\n"), maxMs, true).catch(() => undefined);
    const out = await c.settle(30, 500);
    return { out, closed: c.closed };
  } finally {
    c.close();
  }
}

/**
 * tsnats's 503 header carries Nats-Subject; reduce it to 2.9.10's bare status line. The INFO
 * following the first PONG after a protocol 1 CONNECT (nats-server 2.15's connect_info) is
 * newer than 2.9.10 too: left out.
 */
function normalise(out: string): string {
  return withoutConnectInfo(out).replace(
    /HMSG (\S+) (\S+) \d+ \d+\r\nNATS\/1\.0 503\r\nNats-Subject: [^\r]*\r\n\r\n\r\n/g,
    "HMSG $1 $2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
  );
}

const A5000 = "a".repeat(5000);
const cases: string[] = [
  // PING/PONG and the op grammar
  "",
  "ping\r\n",
  "PiNg\r\n",
  "PINGX\r\n",
  "PING foo\r\n",
  "PONG\r\n",
  "PING\n",
  "\r\n",
  "  PING\r\n",
  "PIN\r\n",
  "P\r\n",
  "FOO\r\n",
  "FOO",
  "SUBX",
  "SUBfoo 1\r\n",
  "UNSUB1\r\n",
  "PUB\r\n",
  "SUB\r\n",
  "HPUB\r\n",
  "MSG foo 1 2\r\nhi\r\n",
  "+OK\r\n",
  "+OKX\r\n",
  "+O\r\n",
  "-ERR\r\n",
  "-ERR 'x'\r\n",
  "INFO {}\r\n",
  "INFOX\r\n",
  // CONNECT
  "CONNECT {}\r\n",
  'CONNECT {"verbose":false}\r\n',
  'CONNECT\t{"verbose":false}\r\n',
  'CONNECT{"verbose":false}\r\n',
  'CONNECTX {"verbose":false}\r\n',
  "CONNECT\r\n",
  "CONNECT {bad\r\n",
  "CONNECT []\r\n",
  "CONNECT 1\r\n",
  'CONNECT {"protocol":2}\r\n',
  'CONNECT {"protocol":-1}\r\n',
  'CONNECT {"protocol":1.5}\r\n',
  'CONNECT {"protocol":"1"}\r\n',
  'CONNECT {"verbose":"yes"}\r\n',
  'CONNECT {"verbose":null}\r\n',
  'CONNECT {"name":5}\r\n',
  'CONNECT {"unknown":5}\r\n',
  'CONNECT {"Verbose":false}\r\n',
  // Names differing only in case: the last one counts, a null keeps the value before it.
  'CONNECT {"Verbose":true,"verbose":null}\r\nPING\r\n',
  'CONNECT {"verbose":true,"VERBOSE":false}\r\nPING\r\n',
  'CONNECT {"VERBOSE":"yes"}\r\n',
  'CONNECT {"account":"A"}\r\n',
  'CONNECT {"verbose":false}\r\nCONNECT {}\r\n',
  'CONNECT {"verbose":false} extra\r\n',
  'CONNECT {"no_responders":true}\r\n',
  // SUB / UNSUB / PUB
  "SUB foo 1\r\nPUB foo 2\r\nhi\r\n",
  "CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n",
  'CONNECT {"verbose":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n',
  "sub\tfoo\t1\r\npub\tfoo\t\t2\r\nhi\r\n",
  "SUB  foo   1\r\nPUB   foo    2\r\nhi\r\n",
  "SUB foo q 1\r\nPUB foo 2\r\nhi\r\n",
  "SUB > 1\r\nPUB a.b 1\r\nx\r\n",
  'CONNECT {"verbose":false}\r\nSUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nPUB foo.bar 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo.bar.baz 1\r\nc\r\n',
  "SUB foo\r\n",
  "SUB \r\n",
  "SUB a b c d\r\n",
  "SUB a..b 1\r\n",
  "SUB foo.>.bar 1\r\n",
  "SUB .foo 1\r\n",
  "SUB foo. 1\r\n",
  "SUB foo.*bar 1\r\n",
  "SUB foo 1\r\nSUB foo 1\r\n",
  'CONNECT {"verbose":false}\r\nSUB foo\rbar 1\r\nPUB foo 1\r\nx\r\n',
  "UNSUB\r\n",
  "UNSUB \r\n",
  "UNSUB 99\r\n",
  "UNSUB 1 x\r\n",
  "UNSUB 1 2 3\r\n",
  "SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\na\r\n",
  "SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\na\r\n",
  'CONNECT {"verbose":false}\r\nSUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n',
  'CONNECT {"verbose":false}\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1 1\r\nPUB foo 1\r\nb\r\n',
  'CONNECT {"verbose":false,"echo":false}\r\nSUB foo 1\r\nPUB foo 1\r\na\r\n',
  "PUB foo\r\n",
  "PUB foo x\r\n",
  "PUB foo -1\r\n",
  "PUB foo 01\r\na\r\n",
  "PUB foo +1\r\na\r\n",
  "PUB foo 1 \r\na\r\n",
  "PUB foo 1\na\r\n",
  "PUB foo 0\r\n\r\n",
  "PUB foo 5\r\nhi\r\n",
  "PUB foo 2\r\nhello\r\n",
  "PUB foo 2\r\nhiXX",
  "PUB foo 2\r\nhi\n",
  "PUB foo 2\r\nhi\r\r\n",
  "PUB foo bar 2\r\nhi\r\n",
  "PUB 2\r\nhi\r\n",
  "PUB foo bar baz 2\r\nhi\r\n",
  "PUB foo 2000000\r\n",
  "PUB foo.* 2\r\nhi\r\n",
  "PUB foo..bar 2\r\nhi\r\n",
  "SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\n",
  "SUB > 1\r\nPUB foo..bar 2\r\nhi\r\n",
  'CONNECT {"pedantic":false}\r\nPUB foo.* 2\r\nhi\r\n',
  "PUB foo bar.* 2\r\nhi\r\n",
  // headers and no responders
  "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
  "HPUB foo 2\r\n",
  'CONNECT {"headers":true,"verbose":false}\r\nSUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n',
  'CONNECT {"headers":true,"verbose":false}\r\nSUB foo 1\r\nHPUB foo bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n',
  'CONNECT {"headers":true}\r\nSUB foo 1\r\nHPUB foo 2 2\r\nab\r\n',
  'CONNECT {"headers":true}\r\nHPUB foo 0 0\r\n\r\n',
  'CONNECT {"headers":true}\r\nHPUB foo 3 2\r\nabc\r\n',
  'CONNECT {"headers":true}\r\nHPUB foo x 2\r\nab\r\n',
  'CONNECT {"headers":true,"no_responders":true,"verbose":false}\r\nSUB reply 1\r\nPUB req reply 0\r\n\r\n',
  'CONNECT {"headers":true,"no_responders":true,"verbose":false}\r\nSUB reply 1\r\nSUB req 2\r\nPUB req reply 0\r\n\r\n',
  // The 503 goes to a plain subscription of the requester on the reply subject, never a queue one.
  'CONNECT {"headers":true,"no_responders":true,"verbose":false}\r\nSUB reply q 1\r\nPUB req reply 0\r\n\r\n',
  'CONNECT {"headers":true,"no_responders":true,"verbose":false}\r\nSUB rep* q 1\r\nSUB reply 2\r\nPUB req reply 0\r\n\r\n',
  // limits
  `SUB ${A5000} 1\r\n`,
  `SUB ${A5000}`,
  `PING ${A5000}\r\n`,
  `SUB ${"a".repeat(4094)} 1\r\n`,
  `SUB ${"a".repeat(4095)} 1\r\n`,
];

describe("core vs nats-server 2.9.10", { skip }, () => {
  let ts: TestServer;
  let ns: ReferenceServer;
  before(async () => {
    ts = await startTestServer();
    ns = await startNatsServer();
  });
  after(async () => {
    await ts?.close();
    await ns?.stop();
  });

  it("INFO has the same shape", async () => {
    const [a, b] = await Promise.all([RawConn.connect(ts.port), RawConn.connect(ns.port)]);
    try {
      assert.match(a.infoLine, /^INFO \{.*\} \r\n$/);
      assert.match(b.infoLine, /^INFO \{.*\} \r\n$/);
      for (const k of ["server_id", "server_name", "version", "proto", "go", "host", "port", "headers", "max_payload", "client_id", "client_ip"]) {
        assert.ok(k in a.info, `tsnats INFO has ${k}`);
        assert.equal(typeof a.info[k], typeof b.info[k], `${k} has the same type`);
      }
      assert.equal(a.info.proto, b.info.proto);
      assert.equal(a.info.max_payload, b.info.max_payload);
      assert.equal(a.info.headers, b.info.headers);
    } finally {
      a.close();
      b.close();
    }
  });

  it("answers every transcript exactly as nats-server does", async () => {
    const diffs: string[] = [];
    for (const input of cases) {
      const [mine, ref] = await Promise.all([exchange(ts.port, input), exchange(ns.port, input)]);
      const a = normalise(mine.out);
      if (a !== ref.out || mine.closed !== ref.closed) {
        diffs.push(
          `${JSON.stringify(input.slice(0, 120))}\n   tsnats:      ${JSON.stringify(a.slice(0, 300))} closed=${mine.closed}` +
            `\n   nats-server: ${JSON.stringify(ref.out.slice(0, 300))} closed=${ref.closed}`,
        );
      }
    }
    assert.equal(diffs.length, 0, `transcripts that differ:\n${diffs.join("\n")}`);
  });

  it("headers reach header-less subscribers as plain MSG, as with nats-server", async () => {
    for (const port of [ts.port, ns.port]) {
      const sub = await RawConn.connect(port);
      const pub = await RawConn.connect(port);
      try {
        sub.send('CONNECT {"verbose":false}\r\nSUB h 1\r\nPING\r\n');
        await sub.waitFor("PONG\r\n");
        sub.take();
        pub.send('CONNECT {"verbose":false,"headers":true}\r\nHPUB h 18 20\r\nNATS/1.0\r\nA: 1\r\n\r\nhi\r\nPING\r\n');
        await pub.waitFor("PONG\r\n");
        assert.equal(await sub.waitFor("hi\r\n"), "MSG h 1 2\r\nhi\r\n", `port ${port}`);
      } finally {
        sub.close();
        pub.close();
      }
    }
  });

  it("agrees with nats-server on random op soup (differential fuzz)", async () => {
    const gen = new ProtoFuzzer(prng(Number(process.env.FUZZ_SEED ?? 20240611)));
    const diffs: string[] = [];
    const started = Date.now();
    let n = 0;
    while (n < 300 && Date.now() - started < 15_000) {
      let s = "";
      const ops = 1 + gen.int(5);
      for (let i = 0; i < ops; i++) s += gen.op();
      // Known, deliberate differences: 2.9.10 half-accepts HMSG from clients (answers +OK), and
      // does not flag a CR inside a published subject; tsnats rejects both.
      if (/hmsg/i.test(s) || /pub[ \t]+[^ \t\r\n]*\r[^\n]/i.test(s)) continue;
      n++;
      const [mine, ref] = await Promise.all([exchange(ts.port, s, 1000), exchange(ns.port, s, 1000)]);
      const a = normalise(mine.out);
      if (a !== ref.out || mine.closed !== ref.closed) {
        diffs.push(`${JSON.stringify(s.slice(0, 200))}\n   tsnats:      ${JSON.stringify(a.slice(0, 300))} closed=${mine.closed}\n   nats-server: ${JSON.stringify(ref.out.slice(0, 300))} closed=${ref.closed}`);
      }
    }
    assert.ok(n >= 100, `ran ${n} cases`);
    assert.equal(diffs.length, 0, `${diffs.length} of ${n} differ:\n${diffs.slice(0, 10).join("\n")}`);
  });
});

// Found by a random sweep of the client protocol against nats-server 2.15.1 (ops well- and
// ill-formed, split reads, CONNECT options, auth): transcripts where tsnats answered otherwise.
const PERMS = 'authorization { users: [{user: u, password: p, permissions: {publish: {deny: "foo.>"}, subscribe: {allow: ["foo", "_INBOX.>"]}}}] }\n';
const cases215: { conf?: string; input: string }[] = [
  // sizes of more than 9 digits are bad sizes (silent close), not max payload violations
  { input: "PUB foo 9999999999\r\n" },
  { input: "PUB foo 0000000001\r\na\r\n" },
  { input: "PUB foo 000000001\r\na\r\n" },
  { input: 'CONNECT {"headers":true}\r\nHPUB foo 2 9999999999\r\n' },
  { input: "SUB foo 1\r\nUNSUB 1 0000000001\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\n" },
  // a second CONNECT drops the subscriptions made since the first, and is authenticated again
  { input: 'CONNECT {"verbose":false}\r\nSUB foo 1\r\nCONNECT {"verbose":false}\r\nPUB foo 2\r\nhi\r\n' },
  { input: 'SUB foo 1\r\nCONNECT {"verbose":false}\r\nPUB foo 2\r\nhi\r\n' },
  { input: 'CONNECT {}\r\nSUB foo 1\r\nCONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n' },
  { input: 'CONNECT {"verbose":false}\r\nCONNECT {"account":"A"}\r\n' },
  { conf: "authorization { user: u, password: p }\n", input: 'CONNECT {"user":"u","pass":"p"}\r\nCONNECT {"pass":""}\r\n' },
  { conf: "authorization { user: u, password: p }\n", input: 'CONNECT {"user":"u","pass":"p"}\r\nCONNECT {"user":"u","pass":"x"}\r\n' },
  { conf: "authorization { user: u, password: p }\n", input: 'CONNECT {"user":"u","pass":"p"}\r\nSUB foo 1\r\nCONNECT {"verbose":false}\r\nPUB foo 2\r\nhi\r\n' },
  // SUB: permissions first ("_sys_" is nats-server's own queue), then a sid in use, then the subject
  { input: "SUB foo _sys_ 1\r\n" },
  { input: "SUB foo 1\r\nSUB a..b 1\r\n" },
  { input: "SUB foo q 1\r\nSUB a..b q 2\r\n" },
  { conf: PERMS, input: 'CONNECT {"user":"u","pass":"p","pedantic":true}\r\nsUB a.>.b  >\t\r\n' },
  // subjects in permission violations are quoted as Go's %q does
  { conf: PERMS, input: 'CONNECT {"user":"u","pass":"p"}\r\nSUb \u0001 q* -1 \r\n' },
  { conf: PERMS, input: 'CONNECT {"user":"u","pass":"p"}\r\nPUB foo.\u0007 1\r\na\r\n' },
];

describe("core vs nats-server 2.15", { skip: referenceBinary("2.15") === undefined ? "no nats-server 2.15 reference" : undefined }, () => {
  for (const conf of [...new Set(cases215.map((c) => c.conf))]) {
    it(`answers as nats-server 2.15 does${conf === undefined ? "" : ` with ${JSON.stringify(conf.trim())}`}`, async () => {
      const [mine, ref] = await Promise.all([startNatsServer([], conf, "tsnats"), startNatsServer([], conf, "2.15")]);
      try {
        const diffs: string[] = [];
        for (const { input } of cases215.filter((c) => c.conf === conf)) {
          const [a, b] = await Promise.all([exchange(mine.port, input), exchange(ref.port, input)]);
          if (a.out !== b.out || a.closed !== b.closed) {
            diffs.push(`${JSON.stringify(input)}\n   tsnats:      ${JSON.stringify(a.out)} closed=${a.closed}\n   nats-server: ${JSON.stringify(b.out)} closed=${b.closed}`);
          }
        }
        assert.equal(diffs.length, 0, `transcripts that differ:\n${diffs.join("\n")}`);
      } finally {
        await mine.stop();
        await ref.stop();
      }
    });
  }
});
