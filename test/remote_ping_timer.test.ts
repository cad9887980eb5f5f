// A route's PING timer, side by side with nats-server 2.15: a route is PINGed at every tick
// even while messages cross it (nats-server puts PINGs off only on clients and on a hub's
// leaf connections), and the debug log says so ("Router Ping Timer", no "Delaying PING").
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RawConn } from "./helpers/raw.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

/** The distinct route ping lines of `log`, and how many timer ticks it has. */
function routePingLines(log: string): { lines: string[]; ticks: number } {
  const all = log
    .split("\n")
    .filter((l) => /rid:\d+ - .*(Ping Timer|Delaying PING|Stale)/.test(l))
    .map((l) => l.replace(/^.*rid:\d+ - /, ""));
  return { lines: [...new Set(all)].sort(), ticks: all.filter((l) => l.endsWith("Ping Timer")).length };
}

async function busyRoute(line: "2.15" | "tsnats"): Promise<string[]> {
  const routePorts = [await freePort(), await freePort()];
  const routes = routePorts.map((p) => `"nats://127.0.0.1:${p}"`).join(", ");
  const nodes: ReferenceServer[] = [];
  const conns: RawConn[] = [];
  let busy: NodeJS.Timeout | undefined;
  try {
    for (const [i, p] of routePorts.entries()) {
      nodes.push(await startNatsServer(["-D"], `server_name: N${i}\ncluster { name: C, listen: "127.0.0.1:${p}", routes: [${routes}], ping_interval: "1s", pool_size: -1 }\n`, line, [p]));
    }
    const sub = await RawConn.connect(nodes[1].port);
    const pub = await RawConn.connect(nodes[0].port);
    conns.push(sub, pub);
    sub.send('CONNECT {"verbose":false}\r\nSUB x 1\r\nPING\r\n');
    await sub.waitFor(/PONG\r\n/);
    pub.send('CONNECT {"verbose":false}\r\n');
    // A message every 100 ms crosses the route; once one arrives, the interest is there.
    busy = setInterval(() => pub.send("PUB x 1\r\na\r\n"), 100);
    await sub.waitFor(/MSG x 1 1\r\n/, 15_000);
    await waitUntil(() => routePingLines(nodes[0].log()).ticks >= 4, 20_000, "four route ping ticks");
    return routePingLines(nodes[0].log()).lines;
  } finally {
    if (busy !== undefined) clearInterval(busy);
    for (const c of conns) c.close();
    for (const n of nodes) await n.stop();
  }
}

describe("a busy route's PING timer, side by side with nats-server 2.15", { skip }, () => {
  it("PINGs at every tick, logged as nats-server logs it", async () => {
    const ref = await busyRoute("2.15");
    const ts = await busyRoute("tsnats");
    assert.deepEqual(ts, ref);
    assert.deepEqual(ref, ["Router Ping Timer"]);
  });
});
