// Server-to-server ops cut by read boundaries: a route's or leaf connection's control line split
// by one read is joined with the next read in the buffer the parsers share (read_join.ts). A
// publisher sends messages with long subjects, reply subjects and headers (control lines longer
// than their payloads, so most read boundaries fall inside one) in large writes; they cross a
// route and a leaf connection, whose reads end wherever the kernel splits them, and every
// message must arrive whole, in order, with its reply subject and headers.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { rawClient } from "./helpers/raw.js";
import { clusterOf, startTsMember, stopAll, waitForInterest, type Member } from "./helpers/cluster.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";

const COUNT = 12_000;
const LONG = "segment-of-a-long-subject.".repeat(3);

function wireOf(prefix: string): { wire: string; expected: string[] } {
  let wire = "";
  const expected: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const payload = `${i}-${"p".repeat(i % 29)}`;
    const subject = `${prefix}.${LONG}${i % 7}`;
    const reply = `_INBOX.${LONG}${i}`;
    expected.push(`${subject}|${reply}|${payload}|${i % 2 === 0 ? `h${i}` : ""}`);
    if (i % 2 === 0) {
      const hdr = `NATS/1.0\r\nSeq: h${i}\r\n\r\n`;
      wire += `HPUB ${subject} ${reply} ${hdr.length} ${hdr.length + payload.length}\r\n${hdr}${payload}\r\n`;
    } else {
      wire += `PUB ${subject} ${reply} ${payload.length}\r\n${payload}\r\n`;
    }
  }
  return { wire, expected };
}

async function sendAcross(pubPort: number, pubConn: NatsConnection, subConn: NatsConnection, prefix: string): Promise<void> {
  const got: string[] = [];
  const sub = subConn.subscribe(`${prefix}.>`, {
    callback: (_e, m) => {
      got.push(`${m.subject}|${m.reply ?? ""}|${m.string()}|${m.headers?.get("Seq") ?? ""}`);
    },
  });
  await subConn.flush();
  await waitForInterest(pubConn, subConn);
  const { wire, expected } = wireOf(prefix);
  const pub = await rawClient(pubPort, { headers: true });
  try {
    // Two large writes: the receiving server reads them in pieces cut anywhere.
    const half = wire.indexOf("PUB ", wire.length >> 1);
    pub.send(wire.slice(0, half));
    pub.send(wire.slice(half));
    await waitUntil(() => got.length >= COUNT, 60_000, `${COUNT} messages across`);
    assert.equal(got.length, COUNT);
    for (let i = 0; i < COUNT; i++) if (got[i] !== expected[i]) assert.equal(got[i], expected[i], `message ${i}`);
  } finally {
    sub.unsubscribe();
    pub.close();
  }
}

describe("server-to-server ops split across reads", () => {
  const members: Member[] = [];
  const servers: TestServer[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
    for (const s of servers) await s.close().catch(() => undefined);
  });

  it("over a route", async () => {
    const a = await startTsMember("SPLITA", "SPLIT", [], { cluster: { name: "SPLIT", port: -1, routes: [], compression: "off" } });
    members.push(a);
    const b = await startTsMember("SPLITB", "SPLIT", [a.routeUrl], { cluster: { name: "SPLIT", port: -1, routes: [a.routeUrl], compression: "off" } });
    members.push(b);
    await waitUntil(() => clusterOf(a.ts).numPeers === 1 && clusterOf(b.ts).numPeers === 1, 10_000, "the route");
    const ca = await connect({ servers: a.clientUrl });
    const cb = await connect({ servers: b.clientUrl });
    conns.push(ca, cb);
    await sendAcross(a.ts.port, ca, cb, "route");
  });

  it("over a leaf connection", async () => {
    const hub = await startTestServer({ serverName: "SPLITHUB", leafnodes: { port: -1 } });
    servers.push(hub);
    const hubLeafPort = leafNodesOf(hub.server)?.port;
    const leaf = await startTestServer({
      serverName: "SPLITLEAF",
      leafnodes: { remotes: [{ urls: [`nats-leaf://127.0.0.1:${hubLeafPort}`], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "off" }] },
    });
    servers.push(leaf);
    await waitUntil(() => (leafNodesOf(hub.server)?.all.size ?? 0) === 1, 10_000, "the leaf connection");
    const cl = await connect({ servers: leaf.url });
    const ch = await connect({ servers: hub.url });
    conns.push(cl, ch);
    await sendAcross(leaf.port, cl, ch, "leaf");
  });
});
