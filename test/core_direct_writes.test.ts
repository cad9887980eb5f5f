// Outbound bytes of plain TCP connections go straight to the socket's handle (direct_write.ts).
// When the peer stops reading, the kernel takes less than is written and the rest waits in the
// handle's queue, holding the encoding buffers: they must not be reused before the queue
// completes, the queue must count as pending bytes (/connz, max_pending, the stall mark), and
// its completion must resume the flow as a stream's 'drain' did.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { connect } from "@nats-io/transport-node";
import { startTestServer, waitUntil } from "./helpers/server.js";

/** Payload of message `seq`: its size varies, every byte depends on the sequence. */
function payloadOf(seq: number): Buffer {
  const size = 1 + ((seq * 7919) % 24_000);
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (seq + i * 31) & 0xff;
  return b;
}

/** A raw subscriber that keeps every MSG payload of sid 1, and answers PINGs. */
class Collector {
  readonly payloads: Buffer[] = [];
  closed = false;
  ponged = false;
  private pending = Buffer.alloc(0);
  private want = -1;

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.consume(chunk));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => undefined);
  }

  private consume(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (this.want >= 0) {
        if (buf.length < this.want + 2) break;
        this.payloads.push(Buffer.from(buf.subarray(0, this.want)));
        buf = buf.subarray(this.want + 2);
        this.want = -1;
        continue;
      }
      const nl = buf.indexOf("\r\n");
      if (nl < 0) break;
      const line = buf.toString("latin1", 0, nl);
      buf = buf.subarray(nl + 2);
      if (line.startsWith("MSG ")) this.want = Number(line.split(" ").at(-1));
      else if (line === "PING") this.socket.write("PONG\r\n");
      else if (line === "PONG") this.ponged = true;
    }
    this.pending = Buffer.from(buf);
  }
}

describe("core direct writes", () => {
  it("a subscriber that stops reading, then reads on, gets every message intact and in order; its queued bytes count as pending", async () => {
    const srv = await startTestServer({ maxPending: 256 * 1024 * 1024, writeDeadlineMs: 60_000, httpPort: -1, httpHost: "127.0.0.1" });
    const server = srv.server;
    const socket = net.connect(srv.port, "127.0.0.1");
    const sub = new Collector(socket);
    const pub = await connect({ servers: srv.url });
    try {
      socket.write('CONNECT {"verbose":false,"pedantic":false,"name":"raw"}\r\nSUB seq 1\r\nPING\r\n');
      await waitUntil(() => sub.ponged, 5000, "PONG after SUB");
      const subCid = cidOf(server, "raw");
      socket.pause();
      // About 36 MB: more than the kernel's socket buffers take, so writes queue in the handle.
      const n = 3000;
      for (let seq = 0; seq < n; seq += 100) {
        for (let k = seq; k < seq + 100; k++) pub.publish("seq", payloadOf(k));
        await pub.flush();
      }
      const client = server.clients.get(subCid);
      assert.ok(client !== undefined, "the subscriber is still connected");
      await waitUntil(() => client.pendingBytes > 4 * 1024 * 1024, 20_000, "bytes pending for the stopped subscriber");
      const connz = (await (await fetch(`${srv.monitorUrl}/connz?cid=${subCid}`)).json()) as { connections: Array<{ pending_bytes: number }> };
      assert.ok(connz.connections[0].pending_bytes > 4 * 1024 * 1024, `connz pending_bytes ${connz.connections[0].pending_bytes}`);
      socket.resume();
      await waitUntil(() => sub.payloads.length === n || sub.closed, 60_000, "every message arrives");
      assert.equal(sub.closed, false);
      for (let seq = 0; seq < n; seq++) {
        if (!sub.payloads[seq].equals(payloadOf(seq))) assert.fail(`message ${seq} differs from what was published`);
      }
      await waitUntil(() => client.pendingBytes === 0, 5000, "nothing pending once read");
      assert.equal(server.slowConsumers, 0);
    } finally {
      socket.destroy();
      await pub.close();
      await srv.close();
    }
  });

  it("a subscriber that never reads again is cut at max_pending while its bytes wait in the handle, and the others go on", async () => {
    const srv = await startTestServer({ maxPending: 8 * 1024 * 1024 });
    const server = srv.server;
    const socket = net.connect(srv.port, "127.0.0.1");
    const stuck = new Collector(socket);
    const pub = await connect({ servers: srv.url });
    const healthy = await connect({ servers: srv.url });
    try {
      socket.write('CONNECT {"verbose":false,"pedantic":false,"name":"raw"}\r\nSUB seq 1\r\nPING\r\n');
      await waitUntil(() => stuck.ponged, 5000, "PONG after SUB");
      const stuckCid = cidOf(server, "raw");
      socket.pause();
      let got = 0;
      let intact = true;
      healthy.subscribe("seq", {
        callback: (_e, m) => {
          if (!Buffer.from(m.data).equals(payloadOf(got))) intact = false;
          got++;
        },
      });
      await healthy.flush();
      let seq = 0;
      while (server.clients.has(stuckCid) && seq < 20_000) {
        for (let k = 0; k < 100; k++) pub.publish("seq", payloadOf(seq++));
        await pub.flush();
      }
      assert.equal(server.clients.has(stuckCid), false, `the stuck subscriber is cut (after ${seq} messages)`);
      const closed = server.closedClients.find((c) => c.client.cid === stuckCid);
      assert.equal(closed?.reason, "Slow Consumer (Pending Bytes)");
      await waitUntil(() => got === seq, 30_000, "the healthy subscriber gets everything");
      assert.equal(intact, true, "the healthy subscriber's messages are intact and in order");
      // Reading again, it finds the connection closed.
      socket.resume();
      await waitUntil(() => stuck.closed, 10_000, "the stuck socket is closed");
    } finally {
      socket.destroy();
      await Promise.all([pub.close(), healthy.close()]);
      await srv.close();
    }
  });
});

/** The cid of the connection that named itself `name` in its CONNECT. */
function cidOf(server: { clients: Map<number, { cid: number; opts: { name: string } }> }, name: string): number {
  const c = [...server.clients.values()].find((x) => x.opts.name === name);
  assert.ok(c !== undefined, `a connection named ${name}`);
  return c.cid;
}
