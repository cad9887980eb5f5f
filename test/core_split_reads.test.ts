// Ops cut by read boundaries: a control line split by one read is joined with the next read in
// a buffer the parser shares between connections (parser.ts). Two publishers send PUB and HPUB
// ops in pieces cut everywhere (inside the op name, arguments, headers and payloads) at the same
// time, so their joins interleave; every message must arrive whole, in order, with its headers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startTestServer, waitUntil } from "./helpers/server.js";
import { rawClient } from "./helpers/raw.js";

function opsOf(publisher: string, n: number): { wire: string; expected: string[] } {
  let wire = "";
  const expected: string[] = [];
  for (let i = 0; i < n; i++) {
    const payload = `${publisher}-${i}-${"x".repeat(i % 37)}`;
    expected.push(payload);
    if (i % 3 === 0) {
      const hdr = `NATS/1.0\r\nSeq: ${publisher}${i}\r\n\r\n`;
      wire += `HPUB split.${publisher} ${hdr.length} ${hdr.length + payload.length}\r\n${hdr}${payload}\r\n`;
    } else {
      wire += `PUB split.${publisher} ${payload.length}\r\n${payload}\r\n`;
    }
  }
  return { wire, expected };
}

test("ops split across reads arrive whole while two publishers' joins interleave", async () => {
  const srv = await startTestServer();
  const nc = await connect({ servers: srv.url });
  try {
    const got = new Map<string, string[]>([["a", []], ["b", []]]);
    const headers = new Map<string, string[]>([["a", []], ["b", []]]);
    const sub = nc.subscribe("split.*", {
      callback: (_err, m) => {
        const who = m.subject.slice("split.".length);
        got.get(who)?.push(m.string());
        const seq = m.headers?.get("Seq");
        if (seq) headers.get(who)?.push(seq);
      },
    });
    await nc.flush();
    const a = opsOf("a", 300);
    const b = opsOf("b", 300);
    const pa = await rawClient(srv.port, { headers: true });
    const pb = await rawClient(srv.port, { headers: true });
    // Piece lengths that are prime and different: cuts fall at every kind of position.
    await Promise.all([pa.sendInPieces(a.wire, 7), pb.sendInPieces(b.wire, 13)]);
    // Then one large write each, whose reads end mid-op wherever the kernel splits them.
    const big = opsOf("a", 3000);
    pa.send(big.wire);
    await waitUntil(() => got.get("a")!.length === 3300 && got.get("b")!.length === 300, 60_000, "all messages");
    assert.deepEqual(got.get("a"), [...a.expected, ...big.expected]);
    assert.deepEqual(got.get("b"), b.expected);
    assert.equal(headers.get("a")!.length, 100 + 1000);
    assert.equal(headers.get("b")![99], "b297");
    sub.unsubscribe();
    pa.close();
    pb.close();
  } finally {
    await nc.close();
    await srv.close();
  }
});
