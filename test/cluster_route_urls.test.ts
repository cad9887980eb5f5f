// When a second server's route is registered on a running server, that server's clients learn
// the newcomer's client URL: a client already connected gets an INFO with it in connect_urls,
// and a client connecting after the registration finds it in its first INFO. Checked in that
// order (registration first, then the URLs), on tsnats and on nats-server 2.15 with the same
// steps. Client suites rely on it (nats.c's GetServers / DiscoveredServersCb connect right after
// starting the second server and expect both URLs).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startRefMember, startTsMember, stopAll, type Member } from "./helpers/cluster.js";
import { referenceBinary } from "./helpers/nats_server.js";
import { rawClient, RawConn } from "./helpers/raw.js";

type Start = (name: string, routes: string[]) => Promise<Member>;

function clientPort(m: Member): number {
  return Number(new URL(m.clientUrl).port);
}

/** The connect_urls of the last INFO line in `text`. */
function lastConnectUrls(text: string): string[] {
  const infos = text.split("\r\n").filter((l) => l.startsWith("INFO "));
  assert.ok(infos.length > 0, `no INFO in ${JSON.stringify(text.slice(0, 300))}`);
  const info = JSON.parse(infos[infos.length - 1].slice(5)) as { connect_urls?: string[] };
  return info.connect_urls ?? [];
}

/** Poll A (its own count of registered peers, or nats-server's /routez) until B's route is registered. */
async function untilRegistered(a: Member, label: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await a.peers().catch(() => -1)) !== 1) {
    if (Date.now() > deadline) throw new Error(`${label}: B's route was not registered on A within 15 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function checkUrlsFollowRegistration(start: Start, label: string): Promise<void> {
  const members: Member[] = [];
  const conns: RawConn[] = [];
  try {
    const a = await start("A", []);
    members.push(a);
    // protocol 1: the client takes INFO updates (as every current client library says it does).
    const before = await rawClient(clientPort(a), { protocol: 1 });
    conns.push(before);

    const b = await start("B", [a.routeUrl]);
    members.push(b);
    const bUrl = `127.0.0.1:${clientPort(b)}`;
    await untilRegistered(a, label);

    // Connected after the registration: the first INFO names both servers.
    const after = await RawConn.connect(clientPort(a));
    conns.push(after);
    const urls = lastConnectUrls(after.infoLine);
    assert.ok(urls.includes(bUrl), `${label}: a client connecting after the registration gets B's URL: ${JSON.stringify(urls)}`);
    assert.ok(urls.includes(`127.0.0.1:${clientPort(a)}`), `${label}: and A's own: ${JSON.stringify(urls)}`);

    // Connected before: an INFO update with B's URL (sent when the route registered).
    const update = await before.waitFor((t) => t.includes(bUrl), 5000);
    assert.ok(lastConnectUrls(update).includes(bUrl), `${label}: the INFO update names B`);
  } finally {
    for (const c of conns) c.close();
    await stopAll(members);
  }
}

describe("routes: a newly registered route's client URL reaches the clients", () => {
  it("tsnats: connect_urls name the new server once its route is registered", async () => {
    await checkUrlsFollowRegistration((name, routes) => startTsMember(name, "CU", routes), "tsnats");
  });

  it("nats-server 2.15: the same", { skip: referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false }, async () => {
    await checkUrlsFollowRegistration((name, routes) => startRefMember("2.15", name, "CU", routes), "nats-server");
  });
});
