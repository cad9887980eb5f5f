// A plain TCP client connection is served from its TCP handle, without a net.Socket
// (src/server/tcp_connection.ts): the ways a connection ends are nats-server 2.15's, side by side
// over raw TCP (the closed state /connz shows, what the client receives before the server's
// FIN), and a shutdown closes them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RawConn, connectLine } from "./helpers/raw.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, waitUntil } from "./helpers/server.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

interface Outcome {
  /** /connz?state=closed: connection name -> closed reason. */
  reasons: Record<string, string>;
  /** What the subscriber received (after its PONG). */
  delivered: string;
  /** What the client sending an unknown op received before the server closed it. */
  refused: string;
}

async function closedReasons(monitorUrl: string): Promise<Record<string, string>> {
  const z = (await (await fetch(`${monitorUrl}/connz?state=closed`)).json()) as { connections?: Array<{ name?: string; reason?: string }> };
  return Object.fromEntries((z.connections ?? []).map((c) => [c.name ?? "", c.reason ?? ""]));
}

async function named(port: number, name: string): Promise<RawConn> {
  const c = await RawConn.connect(port);
  c.send(`${connectLine({ name })}PING\r\n`);
  await c.waitFor("PONG\r\n", 10_000);
  c.take();
  return c;
}

async function endings(srv: ReferenceServer): Promise<Outcome> {
  const monitorUrl = srv.monitorUrl as string;
  const sub = await named(srv.port, "sub");
  sub.send("SUB x 1\r\n");
  await sub.ping(10_000);
  sub.take();
  // Reset by the client.
  const reset = await named(srv.port, "reset");
  reset.socket.resetAndDestroy();
  // Half-closed by the client right after a message: the message is delivered.
  const half = await named(srv.port, "halfclose");
  half.socket.end("PUB x 5\r\nhello\r\n");
  // Closed by the server: its -ERR arrives before its FIN.
  const bad = await named(srv.port, "badop");
  bad.send("FOO\r\n");
  const refused = await bad.waitClosed(10_000);
  await sub.waitFor("hello\r\n", 10_000);
  let reasons: Record<string, string> = {};
  await waitUntil(async () => Object.keys((reasons = await closedReasons(monitorUrl))).length === 3, 10_000, "three closed connections");
  const delivered = sub.take();
  sub.close();
  return { reasons, delivered, refused };
}

describe("a plain TCP connection's end, as nats-server 2.15's", { skip }, () => {
  it("reset, half-close after a message, closed by the server after an -ERR: the same /connz reasons and bytes", async () => {
    const ref = await startNatsServer(["-m", "-1"], undefined, "2.15");
    const ours = await startNatsServer(["-m", "-1"], undefined, "tsnats");
    try {
      const [want, got] = await Promise.all([endings(ref), endings(ours)]);
      assert.deepEqual(want.reasons, { reset: "Read Error", halfclose: "Client Closed", badop: "Protocol Violation" });
      assert.deepEqual(got, want);
    } finally {
      await Promise.all([ref.stop(), ours.stop()]);
    }
  });
});

describe("shutdown and plain TCP connections", () => {
  it("a shutdown closes every client's connection: each sees the server's FIN with nothing before it", async () => {
    const srv = await startTestServer();
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => named(srv.port, `c${i}`)));
    await srv.close();
    for (const c of clients) assert.equal(await c.waitClosed(10_000), "");
  });
});
