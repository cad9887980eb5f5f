// S2 compression of routes, negotiated as nats-server 2.10+ does (leaf node connections are in
// cluster_compression_leaf): tsnats with tsnats and with nats-server 2.15 in both roles, in the
// mode combinations that lead to different outcomes (accept ↔ s2_fast, asymmetric levels,
// s2_auto by RTT, off on either side). Each pair is checked message by message (in order,
// headers kept, payloads across several S2 blocks) and /routez must show on both sides the mode
// nats-server would show. s2_auto's re-evaluation is checked through a relay whose latency is
// raised.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { startRelay, type Relay } from "./helpers/relay.js";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, clusterOf, connectTo, startRefMember, startTsMember, stopAll, waitForMesh, type Member } from "./helpers/cluster.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { checkBigPayloads, json, refSetting, skipRef, tsSetting } from "./helpers/compression.js";
import { levelForRtt, selectCompressionMode } from "../src/cluster/compression.js";

/** The compression of every route of a member (from its /routez). */
async function routeModes(m: Member): Promise<string[]> {
  const z = await json(`http://127.0.0.1:${m.monitorPort}/routez`);
  return ((z.routes as Array<{ compression?: string }>) ?? []).map((r) => r.compression ?? "");
}

describe("compression negotiation rules (nats-server's selectCompressionMode and s2_auto levels)", () => {
  it("off wins, accept takes the other's mode, levels stay asymmetric, old servers get none", () => {
    assert.equal(selectCompressionMode("s2_fast", "off"), "off");
    assert.equal(selectCompressionMode("accept", "accept"), "off");
    assert.equal(selectCompressionMode("s2_best", "accept"), "s2_best");
    assert.equal(selectCompressionMode("accept", "s2_better"), "s2_better");
    assert.equal(selectCompressionMode("accept", "s2_auto"), "s2_fast");
    assert.equal(selectCompressionMode("s2_fast", "s2_best"), "s2_fast");
    assert.equal(selectCompressionMode("s2_fast", undefined), "not supported");
    assert.throws(() => selectCompressionMode("s2_fast", "zstd"), /unsupported route compression mode "zstd"/);
  });
  it("s2_auto levels by RTT, with 0 disabling a level", () => {
    assert.equal(levelForRtt(0.5), "s2_uncompressed");
    assert.equal(levelForRtt(10), "s2_uncompressed");
    assert.equal(levelForRtt(10.5), "s2_fast");
    assert.equal(levelForRtt(75), "s2_better");
    assert.equal(levelForRtt(250), "s2_best");
    assert.equal(levelForRtt(5, [0, 0, 20]), "s2_better");
    assert.equal(levelForRtt(50, [0, 0, 20]), "s2_best");
    assert.equal(levelForRtt(50, [10]), "s2_uncompressed");
    assert.equal(levelForRtt(50, [10, 20]), "s2_fast");
  });
});

/** Route pairs: [tsnats mode, nats-server mode, tsnats shows, nats-server shows]. */
const ROUTE_CASES: Array<[string, string, string, string]> = [
  ["accept", "s2_fast", "s2_fast", "s2_fast"],
  ["s2_fast", "accept", "s2_fast", "s2_fast"],
  ["s2_best", "s2_fast", "s2_best", "s2_fast"],
  ["s2_better", "accept", "s2_better", "s2_better"],
  ["auto", "auto", "s2_uncompressed", "s2_uncompressed"],
  ["accept", "auto", "s2_fast", "s2_uncompressed"],
  ["accept", "accept", "off", "off"],
  ["off", "s2_fast", "off", "off"],
  ["s2_fast", "off", "off", "off"],
];

describe("route compression with nats-server 2.15", { skip: skipRef }, () => {
  for (const [tsMode, refMode, tsShows, refShows] of ROUTE_CASES) {
    for (const tsSolicits of [true, false]) {
      it(`tsnats ${tsMode} ↔ nats-server ${refMode} (${tsSolicits ? "tsnats" : "nats-server"} solicits): ${tsShows} / ${refShows}`, async () => {
        const members: Member[] = [];
        const conns: NatsConnection[] = [];
        try {
          const refConf = `cluster { compression: ${refSetting(refMode)} }\n`;
          let ref: Member;
          let ts: Member;
          if (tsSolicits) {
            ref = await startRefMember("2.15", "ref", "CZ", [], refConf);
            members.push(ref);
            ts = await startTsMember("ts", "CZ", [ref.routeUrl], { cluster: tsSetting(tsMode) });
            members.push(ts);
          } else {
            ts = await startTsMember("ts", "CZ", [], { cluster: tsSetting(tsMode) });
            members.push(ts);
            ref = await startRefMember("2.15", "ref", "CZ", [ts.routeUrl], refConf);
            members.push(ref);
          }
          await waitForMesh(members);
          // Every connection of the pool negotiated the same.
          const want = async (): Promise<boolean> => {
            const [a, b] = await Promise.all([routeModes(ts), routeModes(ref)]);
            return a.length === 4 && b.length === 4 && a.every((m) => m === tsShows) && b.every((m) => m === refShows);
          };
          const deadline = Date.now() + 10_000;
          while (!(await want())) {
            if (Date.now() > deadline) assert.fail(`routez: tsnats ${JSON.stringify(await routeModes(ts))}, nats-server ${JSON.stringify(await routeModes(ref))}`);
            await new Promise((r) => setTimeout(r, 50));
          }
          conns.push(await connectTo(ts), await connectTo(ref));
          await checkAllToAll(conns, "cz.all", 200);
          await checkBigPayloads(conns[0], conns[1], "cz.big.a");
          await checkBigPayloads(conns[1], conns[0], "cz.big.b");
          // Request/reply with headers both ways over the compressed route.
          for (const [srv, cli] of [conns, [conns[1], conns[0]]]) {
            const sub = srv.subscribe("cz.svc", { callback: (_e, m) => void m.respond(`re:${m.string()}:${m.headers?.get("X-A") ?? ""}`) });
            await srv.flush();
            const h = headers();
            h.set("X-A", "1");
            let r;
            for (let i = 0; ; i++) {
              try {
                r = await cli.request("cz.svc", "q", { timeout: 1000, headers: h });
                break;
              } catch (err) {
                // "no responders" comes back at once while the subscription is still crossing the
                // route: poll until the interest arrived (up to 5 s), not a fixed number of tries.
                if (i > 100) throw err;
                await new Promise((res) => setTimeout(res, 50));
              }
            }
            assert.equal(r.string(), "re:q:1");
            sub.unsubscribe();
          }
        } finally {
          await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
          await stopAll(members);
        }
      });
    }
  }
});

describe("route compression between tsnats servers", () => {
  const members: Member[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
  });

  it("three servers (s2_fast, s2_best, accept): full mesh, every route compressed, every message once in order", async () => {
    const a = await startTsMember("ta", "TZ", [], { cluster: { compression: "s2_fast" } });
    members.push(a);
    const b = await startTsMember("tb", "TZ", [a.routeUrl], { cluster: { compression: "s2_best" } });
    members.push(b);
    const c = await startTsMember("tc", "TZ", [a.routeUrl], { cluster: { compression: "accept" } });
    members.push(c);
    await waitForMesh(members);
    // accept follows the peer: s2_fast towards ta, s2_best towards tb.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [ma, mb, mc] = await Promise.all([routeModes(a), routeModes(b), routeModes(c)]);
      const ok =
        // Each pair has the pool's connections plus the system account's pinned one.
        ma.length === 8 && ma.every((m) => m === "s2_fast") && mb.length === 8 && mb.every((m) => m === "s2_best") && mc.filter((m) => m === "s2_fast").length === 4 && mc.filter((m) => m === "s2_best").length === 4;
      if (ok) break;
      if (Date.now() > deadline) assert.fail(`routez: ${JSON.stringify([ma, mb, mc])}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const m of members) conns.push(await connectTo(m));
    await checkAllToAll(conns, "tz.all", 300);
    await checkBigPayloads(conns[1], conns[2], "tz.big");
  });
});

describe("s2_auto follows the RTT", () => {
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  let relay: Relay | undefined;
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await b?.close();
    await a?.close();
    await relay?.close();
  });

  it("a route through a relay (thresholds 20ms/100ms/2s) goes from s2_uncompressed to s2_better when the latency rises, and back", async () => {
    a = await startTestServer({ serverName: "auto-a", httpPort: -1, cluster: { name: "AU", port: -1, compression: "s2_auto", compressionRttMs: [20, 100, 2000], poolSize: -1, pingIntervalMs: 300, maxPingsOut: 10 } });
    const aPort = clusterOf(a).port;
    relay = await startRelay(aPort);
    b = await startTestServer({
      serverName: "auto-b",
      httpPort: -1,
      cluster: { name: "AU", port: -1, compression: "accept", poolSize: -1, routes: [`nats://127.0.0.1:${relay.port}`], pingIntervalMs: 300, maxPingsOut: 10 },
    });
    const modes = async (s: TestServer): Promise<string[]> => {
      const z = await json(`${s.monitorUrl}/routez`);
      return ((z.routes as Array<{ compression?: string }>) ?? []).map((r) => r.compression ?? "");
    };
    const until = async (want: string, what: string): Promise<void> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const m = await modes(a as TestServer);
        if (m.length === 1 && m[0] === want) return;
        if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(m)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until("s2_uncompressed", "low RTT");
    // b accepted a's s2_auto: a fixed s2_fast.
    assert.deepEqual(await modes(b), ["s2_fast"]);
    relay.delayMs = 100;
    await until("s2_better", "200ms RTT");
    conns.push(await connect({ servers: a.url }), await connect({ servers: b.url }));
    await checkAllToAll(conns, "au.all", 100);
    relay.delayMs = 0;
    await until("s2_uncompressed", "RTT back down");
    await checkAllToAll(conns, "au.again", 100);
  });
});

describe("compression on reload", () => {
  it("a new route compression mode is negotiated again: the routes reconnect with it", async () => {
    const a = await startTsMember("ra", "RZ", [], { cluster: { compression: "accept" } });
    const b = await startTsMember("rb", "RZ", [a.routeUrl], { cluster: { compression: "accept" } });
    const members: Member[] = [a, b];
    const conns: NatsConnection[] = [];
    try {
      await waitForMesh(members);
      const allAre = async (m: Member, want: string): Promise<boolean> => {
        const modes = await routeModes(m);
        return modes.length > 0 && modes.every((x) => x === want);
      };
      const until = async (cond: () => Promise<boolean>, what: string): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (!(await cond())) {
          if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify([await routeModes(a), await routeModes(b)])}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(async () => (await allAre(a, "off")) && (await allAre(b, "off")), "accept ↔ accept");
      const s = b.ts.server;
      s.reload({ ...s.options, cluster: { ...(s.options.cluster as NonNullable<typeof s.options.cluster>), compression: "s2_best" } });
      // b now asks for s2_best; a (accept) follows.
      await until(async () => (await allAre(a, "s2_best")) && (await allAre(b, "s2_best")) && (await routeModes(a)).length === 4, "after reload");
      conns.push(await connectTo(a), await connectTo(b));
      await checkAllToAll(conns, "rz.all", 100);
    } finally {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await stopAll(members);
    }
  });
});
