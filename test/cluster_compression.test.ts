// S2 compression of routes and leaf node connections, negotiated as nats-server 2.10+ does:
// tsnats with tsnats and with nats-server 2.15 in both roles, in the mode combinations that
// lead to different outcomes (accept ↔ s2_fast, asymmetric levels, s2_auto by RTT, off on
// either side). Each pair is checked message by message (in order, headers kept, payloads
// across several S2 blocks) and /routez or /leafz must show on both sides the mode nats-server
// would show. s2_auto's re-evaluation is checked through a relay whose latency is raised.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, clusterOf, connectTo, startRefMember, startTsMember, stopAll, waitForMesh, waitUntil, type Member } from "./helpers/cluster.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { levelForRtt, selectCompressionMode } from "../src/cluster/compression.js";
import type { LeafRemoteOptions } from "../src/config/options.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";

function leafPort(ts: TestServer): number {
  const l = leafNodesOf(ts.server);
  if (l === undefined) throw new Error("no leafnodes");
  return l.port;
}

const skipRef = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

async function json(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  return (await r.json()) as Record<string, unknown>;
}

/** The compression of every route of a member (from its /routez). */
async function routeModes(m: Member): Promise<string[]> {
  const z = await json(`http://127.0.0.1:${m.monitorPort}/routez`);
  return ((z.routes as Array<{ compression?: string }>) ?? []).map((r) => r.compression ?? "");
}

/** Large payloads (several per flush, so messages straddle S2 blocks of 1 MiB) arrive whole and in order. */
async function checkBigPayloads(pub: NatsConnection, sub: NatsConnection, subject: string): Promise<void> {
  const sizes = [0, 1, 100, 65_536, 900_000, 1_000_000, 1_048_000];
  const got: Buffer[] = [];
  const s = sub.subscribe(subject, { callback: (_e, m) => void got.push(Buffer.from(m.data)) });
  await sub.flush();
  const want = sizes.map((n, i) => {
    const b = Buffer.alloc(n);
    // Compressible and not: a repeating pattern, then noise.
    for (let k = 0; k < n; k++) b[k] = k < n / 2 ? (k * 7 + i) & 0x3f : (Math.random() * 256) | 0;
    return b;
  });
  const deadline = Date.now() + 10_000;
  // Interest crosses the connection asynchronously: probe until a message gets through.
  for (;;) {
    pub.publish(`${subject}`, Buffer.from("probe"));
    await pub.flush();
    await new Promise((r) => setTimeout(r, 20));
    if (got.length > 0) break;
    if (Date.now() > deadline) throw new Error("interest never arrived");
  }
  got.length = 0;
  for (const b of want) pub.publish(subject, b);
  await pub.flush();
  await waitUntil(() => got.filter((g) => g.toString() !== "probe").length >= want.length, 15_000, "big payloads");
  const real = got.filter((g) => g.toString() !== "probe");
  s.unsubscribe();
  assert.equal(real.length, want.length);
  real.forEach((g, i) => assert.ok(g.equals(want[i]), `payload ${i} (${want[i].length} bytes) intact`));
}

/**
 * A mode of the cases below. "auto" is s2_auto with thresholds of 1s/2s/3s, so that a local link
 * is always below the first one (s2_uncompressed) however loaded the machine is.
 */
function tsSetting(mode: string): { compression: string; compressionRttMs?: number[] } {
  return mode === "auto" ? { compression: "s2_auto", compressionRttMs: [1000, 2000, 3000] } : { compression: mode };
}
function refSetting(mode: string): string {
  return mode === "auto" ? '{ mode: s2_auto, rtt_thresholds: ["1s", "2s", "3s"] }' : mode;
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

/**
 * A TCP relay with adjustable latency: each chunk is forwarded `delayMs` after it arrived (in
 * order), so the round trip seen by the two servers grows by twice that.
 */
async function startRelay(targetPort: number): Promise<{ port: number; delayMs: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = { port: 0, delayMs: 0, close: async (): Promise<void> => undefined };
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port: targetPort });
    sockets.add(inbound).add(outbound);
    const pipe = (from: net.Socket, to: net.Socket): void => {
      let chain = Promise.resolve();
      from.on("data", (d) => {
        const delay = relay.delayMs;
        chain = chain.then(() => (delay > 0 ? new Promise((r) => setTimeout(r, delay)) : undefined)).then(() => void (to.destroyed || to.write(d)));
      });
      from.on("close", () => void chain.then(() => to.destroy()));
      from.on("error", () => to.destroy());
    };
    pipe(inbound, outbound);
    pipe(outbound, inbound);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  relay.port = (server.address() as net.AddressInfo).port;
  relay.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return relay;
}

describe("s2_auto follows the RTT", () => {
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
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

function remote(url: string, extra: Partial<LeafRemoteOptions> = {}): LeafRemoteOptions {
  return { urls: [url], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "s2_auto", ...extra };
}

async function leafModes(monitorUrl: string): Promise<string[]> {
  const z = await json(`${monitorUrl}/leafz`);
  return ((z.leafs as Array<{ compression?: string }>) ?? []).map((l) => l.compression ?? "");
}

async function waitLeafModes(monitorUrl: string, want: string, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = await leafModes(monitorUrl);
    if (m.length === 1 && m[0] === want) return;
    if (Date.now() > deadline) assert.fail(`${what} /leafz: ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Leaf pairs: [hub mode, leaf mode, hub shows, leaf shows]. */
const LEAF_CASES: Array<[string, string, string, string]> = [
  ["auto", "auto", "s2_uncompressed", "s2_uncompressed"],
  ["s2_fast", "auto", "s2_fast", "s2_uncompressed"],
  ["accept", "s2_best", "s2_best", "s2_best"],
  ["s2_better", "accept", "s2_better", "s2_better"],
  ["auto", "off", "off", "off"],
  ["off", "s2_fast", "off", "off"],
];

describe("leaf node compression with nats-server 2.15", { skip: skipRef }, () => {
  for (const [hubMode, leafMode, hubShows, leafShows] of LEAF_CASES) {
    for (const tsIsHub of [true, false]) {
      it(`hub ${tsIsHub ? "tsnats" : "nats-server"} ${hubMode} ↔ leaf ${tsIsHub ? "nats-server" : "tsnats"} ${leafMode}: ${hubShows} / ${leafShows}`, async () => {
        let ts: TestServer | undefined;
        let ref: ReferenceServer | undefined;
        const conns: NatsConnection[] = [];
        try {
          let hubMon: string;
          let leafMon: string;
          if (tsIsHub) {
            ts = await startTestServer({ serverName: "hub", httpPort: -1, leafnodes: { port: -1, ...tsSetting(hubMode) } });
            const lport = leafPort(ts);
            ref = await startNatsServer(["-n", "leaf", "-m", "-1"], `leafnodes { remotes: [ { url: "nats://127.0.0.1:${lport}", compression: ${refSetting(leafMode)} } ] }\n`, "2.15");
            hubMon = ts.monitorUrl as string;
            leafMon = ref.ports.monitoring?.[0] ?? "";
          } else {
            const lport = await freePort();
            ref = await startNatsServer(["-n", "hub", "-m", "-1"], `leafnodes { listen: "127.0.0.1:${lport}", compression: ${refSetting(hubMode)} }\n`, "2.15", [lport]);
            ts = await startTestServer({ serverName: "leaf", httpPort: -1, leafnodes: { remotes: [remote(`nats://127.0.0.1:${lport}`, tsSetting(leafMode))] } });
            hubMon = ref.ports.monitoring?.[0] ?? "";
            leafMon = ts.monitorUrl as string;
          }
          await waitLeafModes(hubMon, hubShows, "hub");
          await waitLeafModes(leafMon, leafShows, "leaf");
          const hubConn = await connect({ servers: tsIsHub ? ts.url : `nats://127.0.0.1:${ref.port}` });
          const leafConn = await connect({ servers: tsIsHub ? `nats://127.0.0.1:${ref.port}` : ts.url });
          conns.push(hubConn, leafConn);
          await checkBigPayloads(hubConn, leafConn, "lz.down");
          await checkBigPayloads(leafConn, hubConn, "lz.up");
          await checkAllToAll(conns, "lz.all", 200);
        } finally {
          await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
          await ref?.stop();
          await ts?.close();
        }
      });
    }
  }
});

describe("leaf node compression between tsnats servers", () => {
  it("s2_auto both sides (s2_uncompressed on a local link), s2_best leaf ↔ accept hub; messages intact", async () => {
    for (const [hubMode, leafMode, hubShows, leafShows] of [
      ["auto", "auto", "s2_uncompressed", "s2_uncompressed"],
      ["accept", "s2_best", "s2_best", "s2_best"],
    ]) {
      const hub = await startTestServer({ serverName: "hub", httpPort: -1, leafnodes: { port: -1, ...tsSetting(hubMode) } });
      const lport = leafPort(hub);
      const leaf = await startTestServer({ serverName: "leaf", httpPort: -1, leafnodes: { remotes: [remote(`nats://127.0.0.1:${lport}`, tsSetting(leafMode))] } });
      const conns: NatsConnection[] = [];
      try {
        await waitLeafModes(hub.monitorUrl as string, hubShows, "hub");
        await waitLeafModes(leaf.monitorUrl as string, leafShows, "leaf");
        conns.push(await connect({ servers: hub.url }), await connect({ servers: leaf.url }));
        await checkBigPayloads(conns[0], conns[1], "tl.down");
        await checkAllToAll(conns, "tl.all", 200);
      } finally {
        await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
        await leaf.close();
        await hub.close();
      }
    }
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
