// Messages a leaf node connection sends, side by side with nats-server 2.15 over raw TCP: a
// leaf's LMSG, and RMSG, which nats-server's parser takes on a leaf connection as LMSG, reach a
// client of the hub with their reply subject and payload (and HMSG with its headers).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { RawConn, rawClient } from "./helpers/raw.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

describe("a leaf connection's LMSG, RMSG and HMSG reach the hub's clients, side by side with nats-server 2.15", { skip }, () => {
  const hubs: Array<{ name: string; srv: ReferenceServer; leafnode: number }> = [];
  before(async () => {
    for (const line of ["2.15", "tsnats"] as const) {
      const leafnode = await freePort();
      const srv = await startNatsServer([], `leafnodes { listen: "127.0.0.1:${leafnode}" }\n`, line, [leafnode]);
      hubs.push({ name: line === "2.15" ? "nats-server" : "tsnats", srv, leafnode });
    }
  });
  after(async () => {
    for (const h of hubs) await h.srv.stop();
  });

  const sends = [
    "LMSG foo 2\r\nhi\r\n",
    "RMSG foo 2\r\nhi\r\n",
    "RMSG foo reply.x 3\r\nabc\r\n",
    "HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
  ];
  for (const input of sends) {
    it(JSON.stringify(input), async () => {
      const seen: string[] = [];
      for (const h of hubs) {
        const sub = await rawClient(h.srv.port, { headers: true });
        const leaf = await RawConn.connect(h.leafnode);
        try {
          sub.send("SUB foo 1\r\n");
          await sub.ping();
          sub.take();
          leaf.send('CONNECT {"verbose":false,"name":"L"}\r\nPING\r\n');
          await leaf.waitFor("PONG\r\n", 5000);
          leaf.send(input + "PING\r\n");
          await leaf.waitFor((t) => t.split("PONG\r\n").length > 2 || leaf.closed, 5000);
          assert.equal(leaf.closed, false, `${h.name} keeps the leaf connection`);
          await sub.waitFor((t) => t.includes("\r\n"), 5000);
          seen.push(await sub.settle(100, 1000));
        } finally {
          sub.close();
          leaf.close();
        }
      }
      assert.match(seen[0], /^H?MSG foo 1 /);
      assert.equal(seen[1], seen[0]);
    });
  }
});
