// What a server logs when bytes on its route or leafnode port do not parse, side by side with
// nats-server 2.15 over raw TCP: anything but CONNECT first is an authentication error; after
// it, "<Router|Leafnode> parser ERROR, state=<n>, i=<i>: proto='...'" with the kind's own op
// names (RS+, LS+, RMSG, LMSG, A+ ...); a route refused for its cluster name reads no further;
// a CONNECT nats-server cannot decode into its ClientOpts gets Go's json error.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { transcript } from "./helpers/raw.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

const INPUTS: Array<{ port: "cluster" | "leafnode"; input: string }> = [
  { port: "cluster", input: "FOO\r\n" },
  { port: "cluster", input: "PING\r\n" },
  { port: "cluster", input: 'CONNECT {"verbose":false,"name":"X"}\r\nFOO\r\n' },
  { port: "cluster", input: 'CONNECT {"verbose":false,"cluster":"C","name":"X"}\r\nRS+X $G a\r\n' },
  { port: "cluster", input: 'CONNECT {"verbose":false,"cluster":"C","name":"X"}\r\nRMSG $G a 2\r\nhiXX\r\n' },
  { port: "cluster", input: "CONNECT {bad\r\n" },
  { port: "cluster", input: 'CONNECT {"verbose":"x"}\r\n' },
  { port: "leafnode", input: "FOO\r\n" },
  { port: "leafnode", input: "CONNECT 5\r\n" },
  { port: "leafnode", input: 'CONNECT {"name":"L","protocol":"1"}\r\n' },
  { port: "leafnode", input: "PING\r\n" },
  { port: "leafnode", input: 'CONNECT {"verbose":false,"name":"X"}\r\nFOO\r\n' },
  { port: "leafnode", input: 'CONNECT {"verbose":false}\r\nPING\r\nXYZ\r\n' },
  { port: "leafnode", input: 'CONNECT {"verbose":false}\r\nLS+ a\r\nLSX\r\n' },
  { port: "leafnode", input: 'CONNECT {"verbose":false}\r\nLMSG a 2\r\nhi\rX\r\n' },
  // RMSG reads as LMSG on a leaf connection: the same error in its payload, not an unknown op.
  { port: "leafnode", input: 'CONNECT {"verbose":false}\r\nRMSG a 2\r\nhi\rX\r\n' },
];

/** The error lines a server logged after `from` about route and leaf connections, without time, pid and address. */
function errorLines(log: string, from: number): string[] {
  return log
    .slice(from)
    .split("\n")
    .filter((l) => /\[ERR\] \S+ - (rid|lid):\d+ - /.test(l))
    .map((l) => l.replace(/^.*\[ERR\] \S+ - (rid|lid):\d+ - /, "$1: "));
}

describe("a route's and a leaf node's parse errors, side by side with nats-server 2.15", { skip }, () => {
  const servers: Array<{ srv: ReferenceServer; cluster: number; leafnode: number }> = [];
  before(async () => {
    for (const line of ["2.15", "tsnats"] as const) {
      const leafnode = await freePort();
      const srv = await startNatsServer([], `cluster { name: C, listen: "127.0.0.1:-1" }\nleafnodes { listen: "127.0.0.1:${leafnode}" }\n`, line, [leafnode]);
      servers.push({ srv, cluster: Number(new URL(srv.ports.cluster?.[0] ?? "").port), leafnode });
    }
  });
  after(async () => {
    for (const s of servers) await s.srv.stop();
  });

  for (const { port, input } of INPUTS) {
    it(`${port}: ${JSON.stringify(input)}`, async () => {
      const seen: string[][] = [];
      for (const s of servers) {
        const from = s.srv.log().length;
        const r = await transcript(s[port], input);
        assert.equal(r.closed, true, `${s.srv === servers[0].srv ? "nats-server" : "tsnats"} closed`);
        await waitUntil(() => errorLines(s.srv.log(), from).length > 0, 10_000, "the error logged");
        // A second line, when there is one, comes in the same turn as the first.
        await new Promise((res) => setTimeout(res, 100));
        seen.push(errorLines(s.srv.log(), from));
      }
      assert.deepEqual(seen[1], seen[0]);
    });
  }
});
