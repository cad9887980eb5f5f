// A subscriber that stops reading while a fast publisher floods its subject: the server must cut
// that one subscriber off as a slow consumer (max_pending or write deadline), count it, keep
// serving everybody else, and never block the publisher for good.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { rawClient, type RawConn } from "./helpers/raw.js";

const CHUNK = Buffer.alloc(16 * 1024, 0x61);

/** Publish 16 KB messages in 1 MB batches until `stop()` holds or `maxBytes` were sent; returns bytes sent. */
async function flood(pub: NatsConnection, subject: string, stop: () => boolean, maxBytes: number): Promise<number> {
  let sent = 0;
  while (!stop() && sent < maxBytes) {
    for (let i = 0; i < 64; i++) pub.publish(subject, CHUNK);
    sent += 64 * CHUNK.length;
    await pub.flush();
  }
  return sent;
}

async function scenario(
  srv: TestServer,
  expectReason: string,
): Promise<void> {
  const server = srv.server;
  const before = server.slowConsumers;
  // The stuck subscriber: subscribes, then stops reading from its socket.
  const stuck: RawConn = await rawClient(srv.port);
  stuck.send("SUB flood 1\r\n");
  await stuck.ping();
  const stuckCid = [...server.clients.values()].at(-1)?.cid;
  stuck.socket.pause();
  const healthy = await connect({ servers: srv.url });
  const pub = await connect({ servers: srv.url });
  const bystander = await connect({ servers: srv.url });
  try {
    let healthyBytes = 0;
    healthy.subscribe("flood", {
      callback: (_e, m) => {
        healthyBytes += m.data.length;
      },
    });
    bystander.subscribe("svc", {
      callback: (_e, m) => {
        m.respond("pong");
      },
    });
    await healthy.flush();
    await bystander.flush();

    const sent = await flood(pub, "flood", () => server.slowConsumers > before, 512 * 1024 * 1024);
    assert.ok(server.slowConsumers > before, `slow consumer detected after ${sent} bytes`);
    assert.equal(server.slowConsumers, before + 1, "only the stuck subscriber");
    const closed = server.closedClients.find((c) => c.client.cid === stuckCid);
    assert.equal(closed?.reason, expectReason);
    assert.equal(server.clients.has(stuckCid as number), false);

    // The publisher was never blocked for good: its flushes completed, and it still works.
    await pub.flush();
    // Everyone else keeps working and the healthy subscriber got every byte published.
    const r = await pub.request("svc", "ping", { timeout: 3000 });
    assert.equal(r.string(), "pong");
    await waitUntil(() => healthyBytes >= sent, 20_000, "healthy subscriber catches up");
    assert.equal(healthyBytes, sent);
    assert.equal(healthy.isClosed(), false);
  } finally {
    stuck.close();
    await Promise.all([healthy.close(), pub.close(), bystander.close()]);
  }
}

describe("core slow consumers", () => {
  it("disconnects a subscriber whose pending bytes pass max_pending", async () => {
    const srv = await startTestServer({ maxPending: 512 * 1024 });
    try {
      await scenario(srv, "Slow Consumer (Pending Bytes)");
    } finally {
      await srv.close();
    }
  });

  it("disconnects a subscriber whose writes are stuck past the write deadline", async () => {
    const srv = await startTestServer({ maxPending: 1024 * 1024 * 1024, writeDeadlineMs: 200 });
    try {
      await scenario(srv, "Slow Consumer (Write Deadline)");
    } finally {
      await srv.close();
    }
  });
});
