// Leaf nodes over WebSocket, in both roles: a remote with a ws:// URL dials the hub's websocket
// listener (path /leafnode), and a hub accepts leaf nodes there, as nats-server does; with
// tsnats and nats-server 2.15 on either side. Per-message deflate (ws_compression, the hub's
// websocket compression) may compress; then S2 is "off", and without deflate S2 is negotiated
// as on a TCP link and runs beneath the WebSocket frames (nats-server's way: the bytes on the
// connection are an S2 stream of the frames). ws_no_masking: nats-server grants it (our frames
// then go unmasked), tsnats does not (the leaf masks). Traffic is checked message by message
// both ways.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, waitForInterest } from "./helpers/cluster.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { startRelay, type Relay } from "./helpers/relay.js";
import WebSocket from "ws";
import { hasOpenssl, makePki, signLeaf, type CertPair, type Pki } from "./helpers/pki.js";
import { loadConfigFile } from "../src/config/load.js";
import type { LeafRemoteOptions } from "../src/config/options.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const skipRef = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;
const PLAIN_WS = { host: "127.0.0.1", port: -1, noTls: true };

function remote(url: string, extra: Partial<LeafRemoteOptions> = {}): LeafRemoteOptions {
  return { urls: [url], hub: false, denyImports: [], denyExports: [], isolate: false, compression: "s2_auto", ...extra };
}

async function leafz(monitorUrl: string): Promise<Array<Record<string, unknown>>> {
  const r = await fetch(`${monitorUrl}/leafz`);
  const z = (await r.json()) as { leafs?: Array<Record<string, unknown>> };
  return z.leafs ?? [];
}

async function waitLeaf(monitorUrl: string, what: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const l = await leafz(monitorUrl);
    if (l.length === 1) return l[0];
    if (Date.now() > deadline) assert.fail(`${what}: /leafz has ${JSON.stringify(l)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Both directions, in order, with headers; then a request answered across. */
async function checkTraffic(hub: NatsConnection, leaf: NatsConnection): Promise<void> {
  await checkAllToAll([hub, leaf], "wsl.all", 200);
  const sub = hub.subscribe("wsl.svc", { callback: (_e, m) => void m.respond(`hub:${m.string()}`) });
  await hub.flush();
  let answer = "";
  for (let i = 0; answer === ""; i++) {
    try {
      answer = (await leaf.request("wsl.svc", "q", { timeout: 500 })).string();
    } catch (err) {
      if (i > 40) throw err;
      // "no responders" comes at once while the hub's interest crosses the link: not 41 tries in a row.
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.equal(answer, "hub:q");
  sub.unsubscribe();
}

describe("leaf nodes over WebSocket between tsnats servers", () => {
  for (const deflate of [false, true]) {
    it(`ws:// remote to the hub's websocket listener (${deflate ? "per-message deflate" : "no compression"})`, async () => {
      const hub = await startTestServer({ serverName: "wshub", httpPort: -1, websocket: { ...PLAIN_WS, compression: deflate }, leafnodes: { port: -1, compression: "s2_auto", compressionRttMs: [1000] } });
      let leaf: TestServer | undefined;
      const conns: NatsConnection[] = [];
      try {
        const wsPort = hub.server.websocket?.port ?? 0;
        leaf = await startTestServer({
          serverName: "wsleaf",
          httpPort: -1,
          leafnodes: { remotes: [remote(`ws://127.0.0.1:${wsPort}`, { wsCompression: deflate, compressionRttMs: [1000] })] },
        });
        const atHub = await waitLeaf(hub.monitorUrl as string, "hub");
        const atLeaf = await waitLeaf(leaf.monitorUrl as string, "leaf");
        assert.equal(atHub.name, "wsleaf");
        assert.equal(atLeaf.name, "wshub");
        // s2_auto below its first threshold (1 s): S2 framing without compression.
        assert.equal(atHub.compression, deflate ? "off" : "s2_uncompressed");
        assert.equal(atLeaf.compression, deflate ? "off" : "s2_uncompressed");
        conns.push(await connect({ servers: hub.url }), await connect({ servers: leaf.url }));
        await checkTraffic(conns[0], conns[1]);
      } finally {
        await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
        await leaf?.close();
        await hub.close();
      }
    });
  }

  it("a hub without a leafnodes listener refuses leaf nodes on its websocket listener", async () => {
    const hub = await startTestServer({ serverName: "nohub", httpPort: -1, websocket: PLAIN_WS });
    try {
      // The upgrade completes, then the connection is dropped without a word (nats-server too).
      const ws = new WebSocket(`ws://127.0.0.1:${hub.server.websocket?.port ?? 0}/leafnode`);
      const got: Buffer[] = [];
      ws.on("message", (d: Buffer) => void got.push(d));
      const code = await new Promise<number>((resolve) => ws.on("close", (c: number) => resolve(c)));
      assert.equal(code, 1006);
      assert.equal(got.length, 0);
      // A client on the same listener is served as usual.
      const nc = await connect({ servers: hub.url });
      await nc.close();
    } finally {
      await hub.close();
    }
  });
});

describe("leaf nodes over WebSocket with nats-server 2.15", { skip: skipRef }, () => {
  for (const [deflate, noMasking] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    it(`tsnats leaf → nats-server hub (ws_compression ${deflate}, ws_no_masking ${noMasking})`, async () => {
      let ref: ReferenceServer | undefined;
      let leaf: TestServer | undefined;
      const conns: NatsConnection[] = [];
      try {
        // Every listener on a port of its own choosing (-1), found in its ports file.
        ref = await startNatsServer(
          ["-n", "refhub", "-m", "-1"],
          `websocket { listen: "127.0.0.1:-1", no_tls: true, compression: true }\nleafnodes { listen: "127.0.0.1:-1", compression: { mode: s2_auto, rtt_thresholds: ["1s"] } }\n`,
          "2.15",
        );
        const wsPort = Number(new URL(ref.ports.websocket?.[0] ?? "").port);
        const monitor = ref.ports.monitoring?.[0] ?? "";
        leaf = await startTestServer({
          serverName: "tsleaf",
          httpPort: -1,
          leafnodes: { remotes: [remote(`ws://127.0.0.1:${wsPort}`, { wsCompression: deflate, wsNoMasking: noMasking, compressionRttMs: [1000] })] },
        });
        const atHub = await waitLeaf(monitor, "nats-server hub");
        const atLeaf = await waitLeaf(leaf.monitorUrl as string, "tsnats leaf");
        assert.equal(atHub.name, "tsleaf");
        assert.equal(atHub.compression, deflate ? "off" : "s2_uncompressed");
        assert.equal(atLeaf.compression, deflate ? "off" : "s2_uncompressed");
        conns.push(await connect({ servers: `nats://127.0.0.1:${ref.port}` }), await connect({ servers: leaf.url }));
        await checkTraffic(conns[0], conns[1]);
      } finally {
        await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
        await leaf?.close();
        await ref?.stop();
      }
    });

    it(`nats-server leaf → tsnats hub (ws_compression ${deflate}, ws_no_masking ${noMasking})`, async () => {
      let ref: ReferenceServer | undefined;
      const hub = await startTestServer({ serverName: "tshub", httpPort: -1, websocket: { ...PLAIN_WS, compression: true }, leafnodes: { port: -1, compression: "s2_auto", compressionRttMs: [1000] } });
      const conns: NatsConnection[] = [];
      try {
        const wsPort = hub.server.websocket?.port ?? 0;
        ref = await startNatsServer(
          ["-n", "refleaf", "-m", "-1"],
          `leafnodes { remotes: [ { url: "ws://127.0.0.1:${wsPort}", ws_compression: ${deflate}, ws_no_masking: ${noMasking}, compression: { mode: s2_auto, rtt_thresholds: ["1s"] } } ] }\n`,
          "2.15",
        );
        const atHub = await waitLeaf(hub.monitorUrl as string, "tsnats hub");
        const atLeaf = await waitLeaf(ref.ports.monitoring?.[0] ?? "", "nats-server leaf");
        assert.equal(atHub.name, "refleaf");
        assert.equal(atHub.compression, deflate ? "off" : "s2_uncompressed");
        assert.equal(atLeaf.compression, deflate ? "off" : "s2_uncompressed");
        conns.push(await connect({ servers: hub.url }), await connect({ servers: `nats://127.0.0.1:${ref.port}` }));
        await checkTraffic(conns[0], conns[1]);
      } finally {
        await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
        await ref?.stop();
        await hub.close();
      }
    });
  }
});

/**
 * 40 messages of 64 KiB of text each way (2.5 MiB, each as compressible as a log): all
 * arrive intact, and the relay saw well under half of them on the wire each way.
 */
async function checkCompressedBulk(hub: NatsConnection, leaf: NatsConnection, relay: Relay): Promise<void> {
  const line = "2026-12-03T01:00:00Z [INF] leaf node over websocket, compressed beneath the frames\n";
  const body = (i: number): string => `${i}:` + line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536);
  const n = 40;
  for (const [from, to, subject] of [
    [leaf, hub, "wsl.bulk.up"],
    [hub, leaf, "wsl.bulk.down"],
  ] as const) {
    const before = { up: relay.toTarget, down: relay.fromTarget };
    const got: string[] = [];
    const sub = to.subscribe(subject, { callback: (_e, m) => void got.push(m.string()) });
    await to.flush();
    // Interest crosses the link in order: once a later probe's has, this one's has too.
    await waitForInterest(from, to);
    for (let i = 0; i < n; i++) from.publish(subject, body(i));
    await from.flush();
    await waitUntil(() => got.length >= n, 15_000, `${subject}: ${n} messages`);
    sub.unsubscribe();
    assert.equal(got.length, n);
    got.forEach((m, i) => assert.equal(m, body(i), `${subject}: message ${i} intact`));
    const wire = subject.endsWith("up") ? relay.toTarget - before.up : relay.fromTarget - before.down;
    assert.ok(wire < (n * 65536) / 2, `${subject}: ${wire} bytes on the wire for ${n * 65536} of payload`);
  }
}

describe("S2 beneath the WebSocket frames of a leaf link (no per-message deflate)", () => {
  it("tsnats leaf → tsnats hub, s2_best and s2_fast", async () => {
    const hub = await startTestServer({ serverName: "s2hub", httpPort: -1, websocket: PLAIN_WS, leafnodes: { port: -1, compression: "s2_best" } });
    let leaf: TestServer | undefined;
    const relay = await startRelay(hub.server.websocket?.port ?? 0);
    const conns: NatsConnection[] = [];
    try {
      leaf = await startTestServer({ serverName: "s2leaf", httpPort: -1, leafnodes: { remotes: [remote(`ws://127.0.0.1:${relay.port}`, { compression: "s2_fast" })] } });
      // Each side writes at its own level.
      assert.equal((await waitLeaf(hub.monitorUrl as string, "hub")).compression, "s2_best");
      assert.equal((await waitLeaf(leaf.monitorUrl as string, "leaf")).compression, "s2_fast");
      conns.push(await connect({ servers: hub.url }), await connect({ servers: leaf.url }));
      await checkTraffic(conns[0], conns[1]);
      await checkCompressedBulk(conns[0], conns[1], relay);
    } finally {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await leaf?.close();
      await hub.close();
      await relay.close();
    }
  });

  it("tsnats leaf → nats-server 2.15 hub, s2_fast", { skip: skipRef }, async () => {
    let ref: ReferenceServer | undefined;
    let leaf: TestServer | undefined;
    let relay: Relay | undefined;
    const conns: NatsConnection[] = [];
    try {
      ref = await startNatsServer(["-n", "refs2hub", "-m", "-1"], `websocket { listen: "127.0.0.1:-1", no_tls: true }\nleafnodes { listen: "127.0.0.1:-1", compression: s2_fast }\n`, "2.15");
      relay = await startRelay(Number(new URL(ref.ports.websocket?.[0] ?? "").port));
      leaf = await startTestServer({ serverName: "tss2leaf", httpPort: -1, leafnodes: { remotes: [remote(`ws://127.0.0.1:${relay.port}`, { compression: "s2_fast" })] } });
      assert.equal((await waitLeaf(ref.ports.monitoring?.[0] ?? "", "nats-server hub")).compression, "s2_fast");
      assert.equal((await waitLeaf(leaf.monitorUrl as string, "tsnats leaf")).compression, "s2_fast");
      conns.push(await connect({ servers: `nats://127.0.0.1:${ref.port}` }), await connect({ servers: leaf.url }));
      await checkTraffic(conns[0], conns[1]);
      await checkCompressedBulk(conns[0], conns[1], relay);
    } finally {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await leaf?.close();
      await ref?.stop();
      await relay?.close();
    }
  });

  it("nats-server 2.15 leaf → tsnats hub, s2_better (masked and unmasked frames)", { skip: skipRef }, async () => {
    for (const noMasking of [false, true]) {
      let ref: ReferenceServer | undefined;
      const hub = await startTestServer({ serverName: "tss2hub", httpPort: -1, websocket: PLAIN_WS, leafnodes: { port: -1, compression: "s2_better" } });
      const relay = await startRelay(hub.server.websocket?.port ?? 0);
      const conns: NatsConnection[] = [];
      try {
        ref = await startNatsServer(
          ["-n", "refs2leaf", "-m", "-1"],
          `leafnodes { remotes: [ { url: "ws://127.0.0.1:${relay.port}", ws_no_masking: ${noMasking}, compression: s2_better } ] }\n`,
          "2.15",
        );
        assert.equal((await waitLeaf(hub.monitorUrl as string, "tsnats hub")).compression, "s2_better");
        assert.equal((await waitLeaf(ref.ports.monitoring?.[0] ?? "", "nats-server leaf")).compression, "s2_better");
        conns.push(await connect({ servers: hub.url }), await connect({ servers: `nats://127.0.0.1:${ref.port}` }));
        await checkTraffic(conns[0], conns[1]);
        await checkCompressedBulk(conns[0], conns[1], relay);
      } finally {
        await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
        await ref?.stop();
        await hub.close();
        await relay.close();
      }
    }
  });
});

describe("leaf WebSocket remote configuration", () => {
  it("reads ws_compression and ws_no_masking, refuses mixed URL schemes with nats-server's message", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wsleafconf-"));
    try {
      const file = path.join(dir, "t.conf");
      fs.writeFileSync(file, 'leafnodes { remotes: [ { url: "ws://h:1", ws_compression: true, ws_no_masking: true } ] }\n');
      const r = loadConfigFile(file).leafnodes?.remotes[0];
      assert.equal(r?.wsCompression, true);
      assert.equal(r?.wsNoMasking, true);
      fs.writeFileSync(file, 'leafnodes { remotes: [ { urls: ["ws://a:pw@h:1", "nats://h:2"] } ] }\n');
      assert.throws(() => loadConfigFile(file), /^Error: remote leaf node configuration cannot have a mix of websocket and non-websocket urls: \["ws:\/\/a:xxxxx@h:1" "nats:\/\/h:2"\]$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("leaf nodes over secure WebSocket (wss://)", { skip: hasOpenssl ? false : "openssl not available" }, () => {
  let pki: Pki | undefined;
  let cert: CertPair;
  before(() => {
    pki = makePki();
    cert = signLeaf(pki.dir, "main", "wshub", "/CN=wshub", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  });
  after(() => {
    if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  it("tsnats leaf to a tsnats hub's wss listener: the hub's certificate checked against the remote's CA", async () => {
    const p = pki as Pki;
    const hub = await startTestServer({ serverName: "wsshub", httpPort: -1, websocket: { host: "127.0.0.1", port: -1, tls: { cert: cert.cert, key: cert.key } }, leafnodes: { port: -1 } });
    let leaf: TestServer | undefined;
    const conns: NatsConnection[] = [];
    try {
      leaf = await startTestServer({ serverName: "wssleaf", httpPort: -1, leafnodes: { remotes: [remote(`wss://127.0.0.1:${hub.server.websocket?.port ?? 0}`, { tls: { ca: p.ca } })] } });
      assert.equal((await waitLeaf(hub.monitorUrl as string, "hub")).name, "wssleaf");
      conns.push(await connect({ servers: hub.url }), await connect({ servers: leaf.url }));
      await checkTraffic(conns[0], conns[1]);
    } finally {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await leaf?.close();
      await hub.close();
    }
  });

  it("tsnats leaf to a nats-server hub's wss listener", { skip: skipRef }, async () => {
    const p = pki as Pki;
    let ref: ReferenceServer | undefined;
    let leaf: TestServer | undefined;
    const conns: NatsConnection[] = [];
    try {
      ref = await startNatsServer(
        ["-n", "refwss", "-m", "-1"],
        `websocket { listen: "127.0.0.1:-1", tls { cert_file: "${cert.cert}", key_file: "${cert.key}" } }\nleafnodes { listen: "127.0.0.1:-1" }\n`,
        "2.15",
      );
      const wsPort = Number(new URL(ref.ports.websocket?.[0] ?? "").port);
      leaf = await startTestServer({ serverName: "tswssleaf", httpPort: -1, leafnodes: { remotes: [remote(`wss://127.0.0.1:${wsPort}`, { tls: { ca: p.ca } })] } });
      assert.equal((await waitLeaf(ref.ports.monitoring?.[0] ?? "", "nats-server hub")).name, "tswssleaf");
      conns.push(await connect({ servers: `nats://127.0.0.1:${ref.port}` }), await connect({ servers: leaf.url }));
      await checkTraffic(conns[0], conns[1]);
    } finally {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await leaf?.close();
      await ref?.stop();
    }
  });
});
