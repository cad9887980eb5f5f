// Back-pressure across a route: a subscriber on B that reads slower than a publisher on A
// publishes is not cut off at max_pending (losing messages); B pauses reading the route while the
// subscriber is behind, A's route outbound fills and A holds its publisher back. Nothing is lost
// and no connection holds more than max_pending. A subscriber that stops reading altogether is
// still cut (write deadline) and the route goes on for the others.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTsMember, stopAll, waitForMesh, waitUntil, type Member } from "./helpers/cluster.js";
import { RawConn } from "./helpers/raw.js";
import type { TestServer } from "./helpers/server.js";

const MAX_PENDING = 1024 * 1024;
const SIZE = 1024;

/** A raw subscriber that reads at most one chunk every `pauseMs`, parsing MSGs and checking their order. */
class SlowSubscriber {
  received = 0;
  outOfOrder = 0;
  private pending = Buffer.alloc(0);
  constructor(
    readonly conn: RawConn,
    pauseMs: number,
  ) {
    const socket = conn.socket;
    socket.on("data", (d: Buffer) => {
      this.pending = Buffer.concat([this.pending, d]);
      this.parse();
      if (pauseMs > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
  }

  private parse(): void {
    for (;;) {
      const eol = this.pending.indexOf("\r\n");
      if (eol < 0) return;
      const line = this.pending.toString("latin1", 0, eol);
      if (!line.startsWith("MSG ")) {
        this.pending = this.pending.subarray(eol + 2);
        continue;
      }
      const size = Number(line.split(" ").at(-1));
      if (this.pending.length < eol + 2 + size + 2) return;
      const seq = this.pending.readUInt32BE(eol + 2);
      if (seq !== this.received) this.outOfOrder++;
      this.received++;
      this.pending = this.pending.subarray(eol + 2 + size + 2);
    }
  }
}

function payload(seq: number): Uint8Array {
  const b = Buffer.alloc(SIZE, 0x61);
  b.writeUInt32BE(seq, 0);
  return b;
}

describe("route back-pressure", () => {
  const members: Member[] = [];
  const conns: NatsConnection[] = [];
  const raws: RawConn[] = [];
  after(async () => {
    for (const r of raws) r.close();
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
  });

  it("a slow subscriber over a route gets every message, in order; no connection passes max_pending, no slow consumer", async () => {
    const a = await startTsMember("A", "BP", [], { maxPending: MAX_PENDING });
    members.push(a);
    const b = await startTsMember("B", "BP", [a.routeUrl], { maxPending: MAX_PENDING });
    members.push(b);
    await waitForMesh(members);
    const sub = new SlowSubscriber(await RawConn.connect(Number(new URL(b.clientUrl).port)), 15);
    raws.push(sub.conn);
    sub.conn.send('CONNECT {"verbose":false,"pedantic":false}\r\nSUB slow.x 1\r\nPING\r\n');
    const aSrv = a.ts.server;
    await waitUntil(() => aSrv.globalAccount.sublist.match("slow.x").psubs.length > 0, 10_000, "B's interest on A");
    const pub = await connect({ servers: a.clientUrl });
    conns.push(pub);
    const N = 24000; // 24 MiB: more than the kernel buffers of both sockets and max_pending together
    const servers: TestServer[] = [a.ts, b.ts];
    let maxPending = 0;
    const sample = setInterval(() => {
      for (const s of servers) {
        for (const c of s.server.clients.values()) maxPending = Math.max(maxPending, c.pendingBytes);
      }
    }, 5);
    try {
      for (let i = 0; i < N; i++) {
        pub.publish("slow.x", payload(i));
        // Yield now and then so the client's own buffer is written out as the server takes it.
        if (i % 200 === 199) await pub.flush();
      }
      await pub.flush();
      await waitUntil(() => sub.received === N || sub.conn.closed, 120_000, "every message at the slow subscriber");
    } finally {
      clearInterval(sample);
    }
    assert.equal(sub.conn.closed, false, "the slow subscriber is not cut off");
    assert.equal(sub.received, N);
    assert.equal(sub.outOfOrder, 0);
    assert.ok(maxPending <= MAX_PENDING, `client pending stayed within max_pending (${maxPending})`);
    for (const s of servers) {
      assert.equal(s.server.slowConsumers, 0);
      assert.equal(s.server.remoteSlowConsumers.routes, 0);
      assert.equal(s.server.stalls.size, 0, "no connection left stalled");
    }
    await pub.close();
  });

  it("a subscriber that stops reading is cut (write deadline); a fast subscriber beside it on the same server gets everything", async () => {
    const a = await startTsMember("A2", "BP2", [], { maxPending: MAX_PENDING, writeDeadlineMs: 1000 });
    members.push(a);
    const b = await startTsMember("B2", "BP2", [a.routeUrl], { maxPending: MAX_PENDING, writeDeadlineMs: 1000 });
    members.push(b);
    await waitForMesh(members.slice(-2));
    const stuck = await RawConn.connect(Number(new URL(b.clientUrl).port));
    raws.push(stuck);
    stuck.send('CONNECT {"verbose":false,"pedantic":false}\r\nSUB stuck.x 1\r\nPING\r\n');
    await stuck.waitFor("PONG\r\n", 10_000);
    stuck.socket.pause(); // reads nothing from here on
    const fast = await connect({ servers: b.clientUrl });
    conns.push(fast);
    let got = 0;
    fast.subscribe("stuck.x", { callback: () => void got++ });
    await fast.flush();
    const aSrv = a.ts.server;
    await waitUntil(() => aSrv.globalAccount.sublist.match("stuck.x").psubs.length > 0, 10_000, "B's interest on A");
    const pub = await connect({ servers: a.clientUrl });
    conns.push(pub);
    const N = 6000;
    for (let i = 0; i < N; i++) {
      pub.publish("stuck.x", payload(i));
      if (i % 200 === 199) await pub.flush();
    }
    await pub.flush();
    await waitUntil(() => got === N, 120_000, "every message at the fast subscriber");
    const bSrv = b.ts.server;
    await waitUntil(() => bSrv.closedClients.some((cc) => cc.reason.startsWith("Slow Consumer")), 30_000, "the stuck subscriber cut");
    assert.equal(bSrv.remoteSlowConsumers.routes, 0);
    assert.equal(aSrv.remoteSlowConsumers.routes, 0);
    await waitUntil(() => bSrv.stalls.size === 0 && aSrv.stalls.size === 0, 10_000, "no connection left stalled");
    await pub.close();
  });
});
