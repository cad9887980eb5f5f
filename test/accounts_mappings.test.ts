// Subject mappings (server and account level) applied to published messages before routing:
// literal, wildcard, weighted, partition() and split functions, mappings of the exporting
// account applied to requests arriving through a service import, and permissions checked on
// the mapped subject. Where a result is deterministic it is compared with nats-server 2.15.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startConfigServer } from "./helpers/config_server.js";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { defaultClusterOptions } from "../src/config/options.js";
import { RawConn } from "./helpers/raw.js";

const CONF = `
mappings: {
  "g.lit": "g.mapped"
  "g.swap.*.*": "g.swapped.$2.$1"
  "g.part.*": "g.p.{{partition(5,1)}}.{{wildcard(1)}}"
  "g.split.*": "g.s.{{splitFromLeft(1,3)}}"
  "g.half": [{destination: "g.h1", weight: 50}, {destination: "g.h2", weight: 50}]
  "g.drop": [{destination: "g.kept", weight: 1}, {destination: "g.drop", weight: 0}]
}
accounts {
  A: {
    users: [{user: a, password: a, permissions: {publish: ["svc.mapped", "allowed.>"], subscribe: ">", allow_responses: true}}]
    exports: [{service: "svc.>"}]
    mappings: { "svc.in": "svc.mapped", "denied.x": "allowed.x" }
  }
  B: {
    users: [{user: b, password: b}]
    imports: [{service: {account: A, subject: "svc.>"}}]
  }
}
authorization { users: [{user: g, password: g}] }
`;

/** Subjects received on `filter` while `publish` runs, once `n` have arrived. */
async function received(nc: NatsConnection, filter: string, n: number, publish: () => void): Promise<string[]> {
  const got: string[] = [];
  const sub = nc.subscribe(filter, { callback: (_e, m) => void got.push(m.subject) });
  await nc.flush();
  publish();
  await nc.flush();
  await waitUntil(() => got.length >= n, 5000, `${n} messages on ${filter}`);
  sub.unsubscribe();
  return got;
}

/** The deterministic mappings, as one server routes them. */
async function deterministic(port: number): Promise<string[]> {
  const nc = await connect({ port, user: "g", pass: "g" });
  try {
    const keys = Array.from({ length: 12 }, (_, i) => `key${i}`);
    return await received(nc, "g.>", 3 + keys.length + 1, () => {
      nc.publish("g.lit", "");
      nc.publish("g.swap.l.r", "");
      nc.publish("g.unmapped", "");
      for (const k of keys) nc.publish(`g.part.${k}`, "");
      nc.publish("g.split.abcdefg", "");
    });
  } finally {
    await nc.close();
  }
}

describe("subject mappings", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startConfigServer(CONF);
  });
  after(async () => {
    await srv.close();
  });

  it("rewrites literal and wildcard subjects, partitions and splits before routing", async () => {
    const got = await deterministic(srv.port);
    assert.deepEqual(got.slice(0, 3), ["g.mapped", "g.swapped.r.l", "g.unmapped"]);
    for (const s of got.slice(3, 15)) assert.match(s, /^g\.p\.[0-4]\.key\d+$/);
    assert.equal(got[15], "g.s.abc.defg");
  });

  it("keeps the same partition for the same key", async () => {
    const nc = await connect({ port: srv.port, user: "g", pass: "g" });
    try {
      const got = await received(nc, "g.p.*.same", 20, () => {
        for (let i = 0; i < 20; i++) nc.publish("g.part.same", "");
      });
      assert.equal(new Set(got).size, 1);
    } finally {
      await nc.close();
    }
  });

  it("splits by weight", async () => {
    const nc = await connect({ port: srv.port, user: "g", pass: "g" });
    try {
      const got = await received(nc, "g.*", 400, () => {
        for (let i = 0; i < 400; i++) nc.publish("g.half", "");
      });
      const h1 = got.filter((s) => s === "g.h1").length;
      // 400 draws at 50%: fewer than 100 of either is a one-in-10^24 event.
      assert.ok(h1 > 100 && h1 < 300, `g.h1 got ${h1} of 400`);
    } finally {
      await nc.close();
    }
  });

  it("drops the remainder when the source is listed with weight 0", async () => {
    const nc = await connect({ port: srv.port, user: "g", pass: "g" });
    try {
      const got: string[] = [];
      nc.subscribe("g.>", { callback: (_e, m) => void got.push(m.subject) });
      await nc.flush();
      for (let i = 0; i < 300; i++) nc.publish("g.drop", "");
      nc.publish("g.end", "");
      await nc.flush();
      await waitUntil(() => got.includes("g.end"));
      // 1% goes to g.kept, the other 99% nowhere (g.drop itself gets nothing).
      assert.ok(!got.includes("g.drop"));
      assert.ok(got.filter((s) => s === "g.kept").length < 30);
    } finally {
      await nc.close();
    }
  });

  it("applies the exporter's mappings to requests coming through a service import", async () => {
    const a = await connect({ port: srv.port, user: "a", pass: "a" });
    const b = await connect({ port: srv.port, user: "b", pass: "b" });
    try {
      a.subscribe("svc.mapped", { callback: (_e, m) => void m.respond(m.subject) });
      await a.flush();
      const r = await b.request("svc.in", "", { timeout: 2000 });
      assert.equal(r.string(), "svc.mapped");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("checks publish permissions on the mapped subject", async () => {
    const raw = await RawConn.connect(srv.port);
    raw.send('CONNECT {"verbose":false,"user":"a","pass":"a"}\r\nSUB allowed.x 1\r\nPUB denied.x 1\r\nx\r\nPUB allowed.y 1\r\ny\r\nPING\r\n');
    const out = await raw.waitFor("PONG\r\n");
    raw.socket.destroy();
    assert.equal(out, "MSG allowed.x 1 1\r\nx\r\nPONG\r\n");
  });

  it("routes the deterministic mappings exactly as nats-server 2.15", async (t) => {
    if (referenceBinary("2.15") === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    let ns: ReferenceServer | undefined;
    try {
      ns = await startNatsServer([], CONF, "2.15");
      assert.deepEqual(await deterministic(srv.port), await deterministic(ns.port));
    } finally {
      await ns?.stop();
    }
  });
});

describe("cluster-scoped mapping destinations", () => {
  const CONF = `
authorization { users: [{user: g, password: g}] }
mappings: { "cm": [{destination: "cm.c1", weight: 100, cluster: "C1"}, {destination: "cm.other", weight: 100}] }
`;

  async function where(port: number): Promise<string> {
    const nc = await connect({ port, user: "g", pass: "g" });
    try {
      return (await received(nc, "cm.>", 1, () => nc.publish("cm", "")))[0];
    } finally {
      await nc.close();
    }
  }

  it("uses a cluster's own destinations inside that cluster, the others elsewhere (as nats-server 2.15)", async () => {
    const standalone = await startConfigServer(CONF);
    const clustered = await startConfigServer(CONF, { cluster: { ...defaultClusterOptions(), name: "C1", port: -1, host: "127.0.0.1" } });
    try {
      assert.equal(await where(standalone.port), "cm.other");
      assert.equal(await where(clustered.port), "cm.c1");
    } finally {
      await standalone.close();
      await clustered.close();
    }
    if (referenceBinary("2.15") !== undefined) {
      const a = await startNatsServer([], CONF, "2.15");
      const b = await startNatsServer(["--cluster_name", "C1", "--cluster", `nats://127.0.0.1:${await freePort()}`], CONF, "2.15");
      try {
        assert.equal(await where(a.port), "cm.other");
        assert.equal(await where(b.port), "cm.c1");
      } finally {
        await a.stop();
        await b.stop();
      }
    }
  });
});
