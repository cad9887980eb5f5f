// A message without headers that matches one plain client subscription and nothing else (a
// request, its reply) is encoded into the receiver's buffer straight from the publisher's read
// (Account.routeToSoleClient). It must behave as the general routing does: payloads of every
// size intact, the reply subject kept, echo suppression, auto-unsubscribe, and the counts.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { rawClient, parseFrames, type RawConn } from "./helpers/raw.js";

describe("core: a message with one subscriber", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.close();
  });

  it("payloads of every size arrive intact with their reply subject, as MSG frames", async () => {
    const sub: RawConn = await rawClient(srv.port);
    const pub: RawConn = await rawClient(srv.port);
    try {
      sub.send("SUB one.sub 7\r\n");
      await sub.ping();
      const sizes = [0, 1, 16, 63, 64, 65, 1000, 70_000];
      const payloadOf = (n: number): string => {
        let s = "";
        for (let i = 0; i < n; i++) s += String.fromCharCode(97 + ((i * 7 + n) % 26));
        return s;
      };
      // Several messages in one write: each one's payload is a range of the same read.
      pub.send(sizes.map((n, i) => `PUB one.sub _INBOX.r.${i} ${n}\r\n${payloadOf(n)}\r\n`).join(""));
      const total = sizes.length;
      await waitUntil(() => parseFrames(sub.text()).frames.filter((f) => f.op === "MSG").length === total, 5000, `${total} messages`);
      const frames = parseFrames(sub.text()).frames.filter((f) => f.op === "MSG");
      sizes.forEach((n, i) => {
        assert.deepEqual(frames[i].args, ["one.sub", "7", `_INBOX.r.${i}`, String(n)]);
        assert.equal(frames[i].payload, payloadOf(n), `payload of ${n} bytes`);
      });
      const client = [...srv.server.clients.values()].find((c) => c.subs.has("7"));
      assert.equal(client?.outMsgs, total);
      assert.equal(client?.outBytes, sizes.reduce((a, b) => a + b, 0));
    } finally {
      sub.close();
      pub.close();
    }
  });

  it("a publisher that asked for no echo does not get its own message; others still do", async () => {
    const self: RawConn = await rawClient(srv.port, { echo: false });
    const other: RawConn = await rawClient(srv.port);
    try {
      self.send("SUB echo.sub 1\r\n");
      await self.ping();
      self.send("PUB echo.sub 4\r\nmine\r\n");
      await self.ping();
      other.send("PUB echo.sub 6\r\ntheirs\r\n");
      await other.ping();
      await self.waitFor("theirs");
      await self.ping();
      const frames = parseFrames(self.text()).frames.filter((f) => f.op === "MSG");
      assert.deepEqual(
        frames.map((f) => f.payload),
        ["theirs"],
      );
    } finally {
      self.close();
      other.close();
    }
  });

  it("auto-unsubscribe after a count: exactly that many arrive, then the subscription is gone", async () => {
    const sub: RawConn = await rawClient(srv.port);
    const pub: RawConn = await rawClient(srv.port);
    try {
      sub.send("SUB cap.sub 3\r\nUNSUB 3 2\r\n");
      await sub.ping();
      for (let i = 0; i < 5; i++) pub.send(`PUB cap.sub 1\r\n${i}\r\n`);
      await pub.ping();
      await sub.waitFor((t) => parseFrames(t).frames.filter((f) => f.op === "MSG").length >= 2);
      await sub.ping();
      const frames = parseFrames(sub.text()).frames.filter((f) => f.op === "MSG");
      assert.deepEqual(
        frames.map((f) => f.payload),
        ["0", "1"],
      );
      const client = [...srv.server.clients.values()].find((c) => c.outMsgs === 2 && c.subs.size === 0);
      assert.ok(client !== undefined, "the subscription was removed after its second message");
    } finally {
      sub.close();
      pub.close();
    }
  });
  it("a responder's PUB to the reply it was just sent reaches the requester; one whose bytes only match that reply's characters is its own subject", async () => {
    // The parser reuses the reply string of the last message a connection received when its
    // next PUB names the same subject; a reply with non-ASCII characters must not be matched
    // by their latin1 bytes. "\xc3\x83\xc2\xa9" is the UTF-8 of "Ã©"; "\xc3\xa9" is the UTF-8 of "é".
    const requester: RawConn = await rawClient(srv.port);
    const responder: RawConn = await rawClient(srv.port);
    const others: RawConn = await rawClient(srv.port);
    try {
      requester.send("SUB _INBOX.hint.* 1\r\n");
      await requester.ping();
      responder.send("SUB hint.req 9\r\n");
      await responder.ping();
      others.send("SUB \xc3\xa9 21\r\nSUB \xc3\x83\xc2\xa9 22\r\n");
      await others.ping();
      requester.send("PUB hint.req _INBOX.hint.1 2\r\nhi\r\n");
      await responder.waitFor("_INBOX.hint.1 2\r\nhi");
      responder.send("PUB _INBOX.hint.1 2\r\nok\r\n");
      await requester.waitFor("MSG _INBOX.hint.1 1 2\r\nok");
      requester.send("PUB hint.req \xc3\x83\xc2\xa9 2\r\nhi\r\n");
      await responder.waitFor("hint.req 9 \xc3\x83\xc2\xa9 2\r\nhi");
      responder.send("PUB \xc3\xa9 4\r\nmine\r\n");
      await responder.ping();
      await others.waitFor("MSG \xc3\xa9 21 4\r\nmine");
      await others.ping();
      const frames = parseFrames(others.text()).frames.filter((f) => f.op === "MSG");
      assert.deepEqual(
        frames.map((f) => f.args),
        [["\xc3\xa9", "21", "4"]],
      );
    } finally {
      requester.close();
      responder.close();
      others.close();
    }
  });
});
