// The line a server logs when a client's bytes are no protocol, as nats-server 2.15 writes it:
// "Client parser ERROR, state=<its parser state>, i=<offset in the read>: proto='<%q snippet>...'".
// Side by side with nats-server over raw TCP (one write each), and for reads split mid-line
// or mid-payload through the parser alone (how a socket splits writes is not ours to fix).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { transcript } from "./helpers/raw.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";
import { Parser, type ParserHandler } from "../src/protocol/parser.js";
import { ProtocolError } from "../src/protocol/errors.js";

const skipRef = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

/** The client's error lines a server logged after `from`, without time, pid and address. */
function errorLines(log: string, from: number): string[] {
  return log
    .slice(from)
    .split("\n")
    .filter((l) => l.includes("[ERR]"))
    .map((l) => l.replace(/^.*\[ERR\] \S+ - cid:\d+ - /, ""));
}

const INPUTS = [
  "FOO\r\n",
  "FO",
  "P\r\n",
  "PUB\r\n",
  "pUbX a 1\r\n",
  "SUB\r\n",
  "SUBX foo 1\r\n",
  "UNSUBX 1\r\n",
  "-ERR\r\n",
  "\r\n",
  "HPUBX\r\n",
  "CONNECT {}\r\nPING\r\nXYZ bar baz\r\n",
  "CONNECT {}\r\nMSG a 1 2\r\nhi\r\n",
  "CONNECT {}\r\n" + "Z".repeat(100) + "\r\n",
  "CONNECT {}\r\n\u00e9t\u00e9\r\n",
  Buffer.concat([Buffer.from("CONNECT {}\r\n"), Buffer.from([0xff, 0xfe, 0x41, 0x0d, 0x0a])]),
  "PUB a 5\r\nhelloXX\r\n",
  "PUB a 5\r\nhello\rX\r\n",
  "CONNECT {}\r\nPUB a 2\r\nhello\r\n",
  "CONNECT {}\r\nPUB a 2\r\nhiX",
];

/**
 * Each input on a fresh connection to nats-server 2.15 and to tsnats: the client sees what
 * `reply` accepts, and both log the same error lines.
 */
function sideBySide(title: string, inputs: ReadonlyArray<string | Buffer>, reply: (out: string, closed: boolean) => void): void {
  describe(title, { skip: skipRef }, () => {
    let ref: ReferenceServer;
    let ts: ReferenceServer;
    before(async () => {
      ref = await startNatsServer([], undefined, "2.15");
      ts = await startNatsServer([], undefined, "tsnats");
    });
    after(async () => {
      await ts?.stop();
      await ref?.stop();
    });

    for (const input of inputs) {
      it(JSON.stringify(input.toString()), async () => {
        const seen: string[][] = [];
        for (const srv of [ref, ts]) {
          const from = srv.log().length;
          const r = await transcript(srv.port, input);
          reply(r.out, r.closed);
          await waitUntil(() => errorLines(srv.log(), from).length > 0, 10_000, "the error logged");
          seen.push(errorLines(srv.log(), from));
        }
        assert.deepEqual(seen[1], seen[0]);
      });
    }
  });
}

sideBySide("a client's parse error in the log, side by side with nats-server 2.15", INPUTS, (out) => assert.match(out, /-ERR 'Unknown Protocol Operation'\r\n$/));

// A CONNECT whose JSON nats-server's json.Unmarshal refuses: closed without a word to the
// client, Go's error in the log.
const BAD_CONNECTS = [
  "CONNECT {bad\r\n",
  "CONNECT 5\r\n",
  "CONNECT [1]\r\n",
  'CONNECT "x"\r\n',
  'CONNECT {"a":1,}\r\n',
  'CONNECT {"verbose":true\r\n',
  'CONNECT {"a":1}x\r\n',
  'CONNECT {"verbose":"yes"}\r\n',
  'CONNECT {"name":1}\r\n',
  'CONNECT {"protocol":1.5}\r\n',
  'CONNECT {"echo":null,"headers":"x"}\r\n',
];

sideBySide("a CONNECT that is no JSON for nats-server 2.15, side by side", BAD_CONNECTS, (out, closed) => {
  assert.equal(out, "");
  assert.equal(closed, true);
});

describe("a client's parse error across reads (offsets are the read's)", () => {
  const errorOf = (parts: string[]): string => {
    const h: ParserHandler = {
      onConnect: () => undefined,
      onPub: () => undefined,
      onSub: () => undefined,
      onUnsub: () => undefined,
      onPing: () => undefined,
      onPong: () => undefined,
      onInfo: () => undefined,
      onClientErr: () => undefined,
    };
    const p = new Parser(h, { maxControlLine: 4096, maxPayload: 1 << 20 });
    try {
      for (const part of parts) p.parse(Buffer.from(part, "latin1"));
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      return err.message;
    }
    return "no error";
  };

  it("an op name cut by a read", () => {
    // "SU" is a possible start: the error comes with the next read, at its 'X'.
    assert.equal(errorOf(["SU", "X foo 1\r\n"]), `Client parser ERROR, state=44, i=0: proto='"X foo 1\\r"...'`);
    assert.equal(errorOf(["PING\r\nUNS", "UBfoo\r\n"]), `Client parser ERROR, state=63, i=2: proto='"foo\\r"...'`);
  });

  it("a payload cut by a read", () => {
    assert.equal(errorOf(["PUB a 5\r\nhel", "loXX\r\n"]), `Client parser ERROR, state=41, i=2: proto='"XX\\r"...'`);
    assert.equal(errorOf(["PUB a 5\r\nhello\r", "X\r\n"]), `Client parser ERROR, state=42, i=0: proto='"X\\r"...'`);
    // The offending byte last in its read: nats-server's snippet leaves the read's last byte out.
    assert.equal(errorOf(["PUB a 5\r\nhel", "loX"]), `Client parser ERROR, state=41, i=2: proto='""...'`);
  });
});
