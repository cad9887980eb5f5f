// Sourcing across JetStream domains while T3 leads the stream: N1, N2 and T3 form domain HUB,
// a nats-server 2.15 leaf node L (domain LEAF) connects to N1 in account APP and holds ORIGIN.
// D and DN, R3 streams of the hub, source ORIGIN through the leaf's domain API
// (`external: { api: "$JS.LEAF.API" }`): D led by T3, DN by a nats-server. The origin
// consumer's create and its deliveries cross the routes and the leaf connection; every replica
// of both holds ORIGIN's messages once, the same subjects and payloads, before and after L
// takes more, and after D's leadership goes to N1 and back to T3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { freePort, startNatsServer } from "./helpers/nats_server.js";
import { ACCOUNTS, NrgCluster, type LeaderGroup } from "./helpers/nrg_cluster.js";

async function contents(jsm: JetStreamManager, stream: string, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const m = await retry(() => jsm.streams.getMessage(stream, { seq }));
    assert.ok(m !== null, `${stream} ${seq}`);
    out.push(`${m.subject} ${m.string()}`);
  }
  return out;
}

test("T3 leading a stream that sources from another JetStream domain (a leaf node's) copies every message once, as a nats-server leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const c = await NrgCluster.create(true, true);
  const leafPort = await freePort();
  c.domain = "HUB";
  c.leafListen.set("N1", leafPort);
  try {
    const { nc1, jsm } = await c.upWithClients();
    const leafConf = `server_name: L\n${ACCOUNTS}jetstream { domain: LEAF, max_mem_store: 64MB, max_file_store: 256MB }\nleafnodes { remotes: [{ url: "nats://app:app@127.0.0.1:${leafPort}", account: APP }] }\n`;
    const leaf = await startNatsServer(["-js", "-m", "-1"], leafConf, "2.15");
    try {
      const ncL = await connect({ servers: `127.0.0.1:${leaf.port}`, user: "app", pass: "app" });
      c.conns.push(ncL);
      const jsmL = await retry(() => jetstreamManager(ncL, { timeout: 10_000 }));
      await retry(() => jsmL.streams.add({ name: "ORIGIN", subjects: ["orig.>"] }));
      const jsL = jetstream(ncL, { timeout: 10_000 });
      for (let i = 1; i <= 3; i++) await retry(() => jsL.publish(`orig.${i}`, `m${i}`));

      const external = { api: "$JS.LEAF.API", deliver: "" };
      for (const name of ["D", "DN"]) await retry(() => jsm.streams.add({ name, num_replicas: 3, sources: [{ name: "ORIGIN", external }] }), 60_000);
      if ((await jsm.streams.info("DN")).cluster?.leader === "T3") await c.leadOn(nc1, "N2", "DN");
      await c.leadOnT3(nc1, "D");
      for (let i = 4; i <= 6; i++) await retry(() => jsL.publish(`orig.${i}`, `m${i}`));
      for (const name of ["DN", "D"]) await c.sameOnAll(name, (s) => s.messages === 6, `${name} holds ORIGIN's 6 on N1, N2 and T3`);
      const want = [1, 2, 3, 4, 5, 6].map((i) => `orig.${i} m${i}`);
      assert.deepEqual(await contents(jsm, "DN", 6), want);
      assert.deepEqual(await contents(jsm, "D", 6), want);

      // D led by N1, then by T3 again: it goes on where the committed copies end.
      await c.leadOn(nc1, "N1", "D");
      for (let i = 7; i <= 8; i++) await retry(() => jsL.publish(`orig.${i}`, `m${i}`));
      await c.leadOnT3(nc1, "D");
      for (let i = 9; i <= 10; i++) await retry(() => jsL.publish(`orig.${i}`, `m${i}`));
      for (const name of ["DN", "D"]) await c.sameOnAll(name, (s) => s.messages === 10, `${name} holds ORIGIN's 10 on N1, N2 and T3`);
      const all = Array.from({ length: 10 }, (_, i) => `orig.${i + 1} m${i + 1}`);
      assert.deepEqual(await contents(jsm, "D", 10), all);
      assert.deepEqual(await contents(jsm, "DN", 10), all);
      const g = (await c.group("D")) as LeaderGroup | undefined;
      assert.equal(g?.leader, "T3", "T3 leads D");
      t.diagnostic(`T3 leading D: ${JSON.stringify(g?.stream_leader)}`);
    } finally {
      await leaf.stop();
    }
  } catch (err) {
    await c.diagnoseSourcing(t, "D");
    throw err;
  } finally {
    await c.stop();
  }
});
