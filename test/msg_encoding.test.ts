// The MSG/HMSG lines a subscriber gets, byte for byte as nats-server 2.15 writes them: runs of
// one subject (the line kept encoded on the subscription), replies that change with every
// message and inbox subjects used once (encoded straight into the outbound buffer), non-ASCII
// subjects, sids and replies, headers, sizes of every width.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { RawConn } from "./helpers/raw.js";

const CONNECT = 'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n';

/** What a subscriber receives for a fixed series of publishes. */
async function transcript(port: number): Promise<string> {
  const sub = await RawConn.connect(port);
  const pub = await RawConn.connect(port);
  sub.send(Buffer.from(`${CONNECT}SUB dé.> s1\r\nSUB _INBOX.abc.* sïd2\r\nSUB run 3\r\nPING\r\n`));
  await sub.waitFor("PONG\r\n", 10_000);
  sub.take();
  let input = CONNECT;
  const payloads = ["", "x", "0123456789", "y".repeat(100), "z".repeat(1000), "w".repeat(12345)];
  // A run on one subject, sizes changing and repeating.
  for (let i = 0; i < 12; i++) {
    const p = payloads[i % payloads.length];
    input += `PUB run ${Buffer.byteLength(p)}\r\n${p}\r\n`;
  }
  // Requests: the same subject with a new reply each time, then the same reply twice.
  for (let i = 0; i < 5; i++) input += `PUB dé.req _INBOX.abc.${i} 2\r\nhi\r\n`;
  input += "PUB dé.req rép.ly 2\r\nhi\r\nPUB dé.req rép.ly 2\r\nhi\r\n";
  // Replies: a new inbox subject each time.
  for (let i = 0; i < 5; i++) input += `PUB _INBOX.abc.${i * 7} 3\r\nyes\r\n`;
  // Headers, with and without a reply.
  const hdr = "NATS/1.0\r\nX-Ü: 1\r\n\r\n";
  const hlen = Buffer.byteLength(hdr);
  for (let i = 0; i < 3; i++) input += `HPUB dé.h ${hlen} ${hlen + 4}\r\n${hdr}body\r\n`;
  input += `HPUB dé.h _INBOX.abc.h ${hlen} ${hlen}\r\n${hdr}\r\n`;
  input += "PING\r\n";
  pub.send(Buffer.from(input));
  await pub.waitFor("PONG\r\n", 10_000);
  sub.send("PING\r\n");
  const out = await sub.waitFor((t) => t.endsWith("PONG\r\n"), 10_000);
  sub.close();
  pub.close();
  return Buffer.from(out, "latin1").toString("utf8");
}

describe("MSG encoding", () => {
  it("subscribers get the same bytes as from nats-server 2.15", async (t) => {
    const srv = await startTestServer();
    let ours: string;
    try {
      ours = await transcript(srv.port);
    } finally {
      await srv.close();
    }
    // Our own expectations first: every message arrived, lines as the protocol says.
    assert.ok(ours.includes("MSG dé.req s1 _INBOX.abc.3 2\r\nhi\r\n"));
    assert.ok(ours.includes("MSG dé.req s1 rép.ly 2\r\nhi\r\nMSG dé.req s1 rép.ly 2\r\nhi\r\n"));
    assert.ok(ours.includes("MSG _INBOX.abc.28 sïd2 3\r\nyes\r\n"));
    assert.ok(ours.includes(`MSG run 3 12345\r\n${"w".repeat(12345)}\r\n`));
    const hlen = Buffer.byteLength("NATS/1.0\r\nX-Ü: 1\r\n\r\n");
    assert.ok(ours.includes(`HMSG dé.h s1 _INBOX.abc.h ${hlen} ${hlen}\r\n`));
    assert.ok(ours.includes(`HMSG dé.h s1 ${hlen} ${hlen + 4}\r\n`));
    assert.equal((ours.match(/^H?MSG /gm) ?? []).length, 12 + 7 + 5 + 4);
    if (referenceBinary("2.15") === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    const ref = await startNatsServer([], undefined, "2.15");
    try {
      assert.equal(ours, await transcript(ref.port));
    } finally {
      await ref.stop();
    }
  });
});
