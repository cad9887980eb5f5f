// S2 compression of leaf node connections, negotiated as nats-server 2.10+ does: tsnats with
// tsnats and with nats-server 2.15 as hub and as leaf (split from cluster_compression, whose
// route cases alone take most of the 120 s a file gets under load). /leafz must show on both
// sides the mode nats-server would show, and messages cross intact.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll } from "./helpers/cluster.js";
import { freePort, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { checkBigPayloads, json, refSetting, skipRef, tsSetting } from "./helpers/compression.js";
import type { LeafRemoteOptions } from "../src/config/options.js";
import { leafNodesOf } from "../src/cluster/leafnodes.js";

function leafPort(ts: TestServer): number {
  const l = leafNodesOf(ts.server);
  if (l === undefined) throw new Error("no leafnodes");
  return l.port;
}

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
