// A stream of account EXT sourcing O of account APP through APP's exported JetStream API
// (`external: { api: "JS.APP.API", deliver: "dlv.app" }`), led by T3 (`nrg_peer_lead`), side by
// side with the same stream led by a nats-server. The origin consumer's create crosses EXT -> APP
// -> the system account; nats-server's import chain names APP as the request's account (the
// ClientInfo's svc), which T3's Nats-Request-Info must say too (it named EXT, where O is not).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster } from "./helpers/nrg_cluster.js";

const ACCOUNTS_EXT =
  "accounts {\n  SYS: { users: [{ user: sys, password: sys }] }\n" +
  "  APP: { jetstream: enabled, users: [{ user: app, password: app }], exports: [{ service: \"$JS.API.>\" }, { stream: \"dlv.app.>\" }] }\n" +
  "  EXT: { jetstream: enabled, users: [{ user: ext, password: ext }], imports: [{ service: { account: APP, subject: \"$JS.API.>\" }, to: \"JS.APP.API.>\" }, { stream: { account: APP, subject: \"dlv.app.>\" } }] }\n" +
  "}\nsystem_account: SYS\n";

test("with nrg_peer_lead, T3 leading a stream that sources another account's stream through its exported API copies every message once, as a nats-server leader", { skip: referenceMissing(), timeout: 300_000 }, async (t) => {
  const c = await NrgCluster.create(true, true, ACCOUNTS_EXT);
  try {
    const { nc2, jsm } = await c.upWithClients();
    const [n1] = c.live();
    const ext = await connect({ servers: `127.0.0.1:${n1.port}`, user: "ext", pass: "ext" });
    c.conns.push(ext);
    const xjsm = await retry(() => jetstreamManager(ext, { timeout: 10_000 }));
    await retry(() => jsm.streams.add({ name: "O", subjects: ["o.>"], num_replicas: 3 }), 90_000);
    const js2 = jetstream(nc2, { timeout: 10_000 });
    for (let i = 1; i <= 3; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    const external = { api: "JS.APP.API", deliver: "dlv.app" };
    for (const name of ["X", "XN"]) await retry(() => xjsm.streams.add({ name, num_replicas: 3, sources: [{ name: "O", external }] }), 90_000);
    if ((await xjsm.streams.info("XN")).cluster?.leader === "T3") await c.leadOn(ext, "N2", "XN");
    await c.leadOnT3(ext, "X");
    for (let i = 4; i <= 6; i++) await retry(() => js2.publish(`o.${i}`, `m${i}`), 60_000);
    for (const name of ["XN", "X"]) await c.sameOnAll(name, (s) => s.messages === 6, `${name} holds O's 6 on N1, N2 and T3`, "EXT");
    assert.equal((await c.group("X"))?.leader, "T3", "T3 leads X");
  } catch (err) {
    await c.diagnoseSourcing(t, "X");
    throw err;
  } finally {
    await c.stop();
  }
});
