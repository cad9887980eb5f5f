// A subscriber that stops reading while a fast publisher floods its subject: the server must cut
// that one subscriber off as a slow consumer (max_pending or write deadline), count it, keep
// serving everybody else, and never block the publisher for good.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
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

/**
 * A subscriber over raw TCP that reads one chunk at a time with a pause in between: slower
 * than the publisher, but never stopping. Counts the MSGs of `sid` (answering PINGs).
 */
class SteadyReader {
  msgs = 0;
  closed = false;
  private pending = Buffer.alloc(0);
  private skip = 0;
  private constructor(
    readonly socket: net.Socket,
    pauseMs: number,
  ) {
    socket.on("data", (chunk: Buffer) => {
      this.consume(chunk);
      socket.pause();
      setTimeout(() => socket.resume(), pauseMs);
    });
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => undefined);
  }

  static async connect(port: number, subject: string, pauseMs: number): Promise<SteadyReader> {
    const socket = net.connect(port, "127.0.0.1");
    const r = new SteadyReader(socket, pauseMs);
    socket.write(`CONNECT {"verbose":false,"pedantic":false}\r\nSUB ${subject} 1\r\nPING\r\n`);
    await waitUntil(() => r.ponged, 5000, "PONG after SUB");
    return r;
  }

  private ponged = false;

  private consume(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        this.skip -= n;
        buf = buf.subarray(n);
        if (this.skip > 0) break;
      }
      const nl = buf.indexOf("\r\n");
      if (nl < 0) break;
      const line = buf.toString("latin1", 0, nl);
      buf = buf.subarray(nl + 2);
      if (line.startsWith("MSG ")) {
        this.msgs++;
        this.skip = Number(line.split(" ").at(-1)) + 2;
      } else if (line === "PING") this.socket.write("PONG\r\n");
      else if (line === "PONG") this.ponged = true;
    }
    this.pending = Buffer.from(buf);
  }
}

describe("core slow consumers", () => {
  it("a subscriber that reads slowly but steadily gets every message; one that stops is cut alone", async () => {
    // The write deadline counts from the last progress: the steady reader's socket is full the
    // whole time (it reads far slower than the publisher writes) yet keeps taking bytes. The
    // volume stays below max_pending, so only the write deadline could cut it.
    const srv = await startTestServer({ writeDeadlineMs: 1000 });
    const server = srv.server;
    const steady = await SteadyReader.connect(srv.port, "flow", 5);
    const stopped = await rawClient(srv.port);
    stopped.send("SUB flow 1\r\n");
    await stopped.ping();
    const stoppedCid = [...server.clients.values()].at(-1)?.cid;
    stopped.socket.pause();
    const pub = await connect({ servers: srv.url });
    try {
      const total = 24 * 1024 * 1024;
      const n = total / CHUNK.length;
      for (let i = 0; i < n; i += 64) {
        for (let k = 0; k < 64; k++) pub.publish("flow", CHUNK);
        await pub.flush();
      }
      await waitUntil(() => steady.msgs === n || steady.closed, 60_000, "the steady reader gets every message");
      assert.equal(steady.closed, false, "the steady reader stays connected");
      assert.equal(steady.msgs, n);
      await waitUntil(() => !server.clients.has(stoppedCid as number), 20_000, "the stopped reader is cut");
      const closed = server.closedClients.find((c) => c.client.cid === stoppedCid);
      assert.equal(closed?.reason, "Slow Consumer (Write Deadline)");
      assert.equal(server.slowConsumers, 1, "only the stopped reader");
    } finally {
      steady.socket.destroy();
      stopped.close();
      await pub.close();
      await srv.close();
    }
  });

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
