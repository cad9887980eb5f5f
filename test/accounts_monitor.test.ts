// What monitoring and the system account say about accounts that share subjects:
// /accountz?acc= (mappings, exports, imports, the system account's standard imports),
// compared with nats-server 2.15, and the system services every account reaches through
// those imports ($SYS.REQ.USER.INFO, $SYS.REQ.SERVER.PING.CONNZ, $SYS.REQ.ACCOUNT.PING.STATZ).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startConfigServer } from "./helpers/config_server.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil, type TestServer } from "./helpers/server.js";

const CONF = `
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [
      {service: "svc.>", response_threshold: "5s", latency: {sampling: 50%, subject: "lat.svc"}}
      {service: "st.>", response_type: stream}
      {stream: "ev.>", accounts: [B]}
      {stream: "pub.>"}
    ]
    mappings: { "m.a": "m.b", "w.*": [{destination: "w1.$1", weight: 40%}, {destination: "w2.$1", weight: 60}], "p.*": "p.{{partition(4,1)}}.$1" }
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {service: {account: A, subject: "svc.>"}, to: "asvc.>"}
      {service: {account: A, subject: "st.>"}, share: true}
      {stream: {account: A, subject: "ev.>"}, prefix: "froma"}
      {stream: {account: A, subject: "pub.>"}}
    ]
  }
}
mappings: { "g.x": [{destination: "g.y", weight: 30}] }
`;

type Json = Record<string, unknown>;

async function accountz(base: string, acc: string): Promise<Json> {
  const r = await fetch(`${base}/accountz?acc=${encodeURIComponent(acc)}`);
  return ((await r.json()) as { account_detail: Json }).account_detail;
}

/** The parts of an account's detail that both servers must agree on, in a stable order. */
function comparable(d: Json): Json {
  const sortBy = (list: unknown): unknown =>
    Array.isArray(list) ? [...list].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))) : list;
  return {
    account_name: d.account_name,
    is_system: d.is_system,
    jetstream_enabled: d.jetstream_enabled,
    mappings: d.mappings,
    exports: sortBy(d.exports),
    imports: sortBy(d.imports),
    name_tag: d.name_tag,
  };
}

describe("accounts in monitoring", () => {
  let srv: TestServer;
  let ns: ReferenceServer | undefined;
  let nsMonitor = "";
  before(async () => {
    srv = await startConfigServer(CONF, { httpPort: -1 });
    if (referenceBinary("2.15") !== undefined) {
      ns = await startNatsServer(["-m", "-1"], CONF, "2.15");
      nsMonitor = ns.monitorUrl as string;
    }
  });
  after(async () => {
    await srv.close();
    await ns?.stop();
  });

  it("lists mappings (cumulative weights), exports and imports", async () => {
    const a = await accountz(srv.monitorUrl as string, "A");
    assert.deepEqual(a.mappings, {
      "m.a": [{ subject: "m.b", weight: 100 }],
      "w.*": [
        { subject: "w1.$1", weight: 40 },
        { subject: "w2.$1", weight: 100 },
      ],
      "p.*": [{ subject: "p.{{partition(4,1)}}.$1", weight: 100 }],
    });
    const b = await accountz(srv.monitorUrl as string, "B");
    const imports = b.imports as Json[];
    assert.deepEqual(
      imports.find((i) => i.type === "stream" && i.subject === "ev.>"),
      { subject: "ev.>", account: "A", local_subject: "froma.ev.>", type: "stream", invalid: false, share: false, tracking: false },
    );
    assert.deepEqual(imports.find((i) => i.subject === "svc.>"), {
      subject: "svc.>",
      account: "A",
      to: "asvc.>",
      local_subject: "asvc.>",
      type: "service",
      invalid: false,
      share: false,
      tracking: false,
      latency: { sampling: 50, results: "lat.svc" },
    });
    const g = await accountz(srv.monitorUrl as string, "$G");
    // Top-level mappings belong to the global account; the remainder of the weight stays on the subject.
    assert.deepEqual(g.mappings, {
      "g.x": [
        { subject: "g.y", weight: 30 },
        { subject: "g.x", weight: 100 },
      ],
    });
  });

  it("reads the same as nats-server 2.15 for every account", async (t) => {
    if (ns === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    for (const acc of ["A", "B", "$G", "$SYS"]) {
      const ours = comparable(await accountz(srv.monitorUrl as string, acc));
      const theirs = comparable(await accountz(nsMonitor, acc));
      // nats-server exports $SYS.DEBUG.SUBSCRIBERS, a service tsnats does not offer.
      if (acc === "$SYS") theirs.exports = (theirs.exports as Json[]).filter((e) => e.subject !== "$SYS.DEBUG.SUBSCRIBERS");
      assert.deepEqual(ours, theirs, acc);
    }
  });

  it("answers each account's USER.INFO, CONNZ and STATZ for that account alone", async () => {
    const a = await connect({ port: srv.port, user: "a", pass: "a" });
    const b = await connect({ port: srv.port, user: "b", pass: "b" });
    try {
      const info = (await b.request("$SYS.REQ.USER.INFO", "", { timeout: 2000 })).json<{ data: Json }>();
      assert.equal(info.data.account, "B");
      assert.equal(info.data.user, "b");
      const connz = (await b.request("$SYS.REQ.SERVER.PING.CONNZ", "", { timeout: 2000 })).json<{ data: { connections: Json[] } }>();
      // A is connected too, but B sees only itself.
      assert.equal(connz.data.connections.length, 1);
      assert.equal(connz.data.connections[0].cid, b.info?.client_id);
      const statz = (await a.request("$SYS.REQ.ACCOUNT.PING.STATZ", "", { timeout: 2000 })).json<{ data: { account_statz: Json[] } }>();
      assert.deepEqual(
        statz.data.account_statz.map((s) => s.acc),
        ["A"],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("account statistics across imports", () => {
  const STATS_CONF = `
system_account: SYS
accounts {
  A: { users: [{user: a, password: a}], exports: [{service: "svc.>"}, {stream: "ev.>"}] }
  B: { users: [{user: b, password: b}], imports: [{service: {account: A, subject: "svc.>"}}, {stream: {account: A, subject: "ev.>"}}] }
  SYS: { users: [{user: s, password: s}] }
}
`;

  /** Message counts per account after a request through a service import and a message through a stream import. */
  async function scenario(port: number): Promise<Json> {
    const a = await connect({ port, user: "a", pass: "a" });
    const b = await connect({ port, user: "b", pass: "b" });
    const s = await connect({ port, user: "s", pass: "s" });
    try {
      const got: string[] = [];
      b.subscribe("ev.>", { callback: (_e, m) => void got.push(m.subject) });
      a.subscribe("svc.>", { callback: (_e, m) => void m.respond("ok") });
      await a.flush();
      await b.flush();
      await b.request("svc.x", "hi", { timeout: 2000 });
      a.publish("ev.1", "x");
      await a.flush();
      await waitUntil(() => got.length === 1, 10_000, "the imported stream message");
      // An unknown account gets no answer at all: 1 s tells that; known ones answer, whatever the load.
      const statz = async (acc: string): Promise<Json | string> => {
        const m = await s.request(`$SYS.REQ.ACCOUNT.${acc}.STATZ`, "{}", { timeout: acc === "NOPE" ? 1000 : 10_000 }).catch(() => undefined);
        if (m === undefined) return "no answer";
        const st = (m.json<{ data: { account_statz: Json[] } }>().data.account_statz[0]) as Json;
        const sent = st.sent as Json;
        const received = st.received as Json;
        return { sent: sent.msgs, received: received.msgs, receivedBytes: received.bytes };
      };
      const unknownInfo = (await s.request("$SYS.REQ.ACCOUNT.NOPE.INFO", "{}", { timeout: 10_000 })).json<Json>().error;
      return { A: await statz("A"), B: await statz("B"), unknown: await statz("NOPE"), unknownInfo };
    } finally {
      await a.close();
      await b.close();
      await s.close();
    }
  }

  it("counts a message received in the publisher's account and sent in the account that routed it", async () => {
    const srv = await startConfigServer(STATS_CONF);
    let ours: Json;
    try {
      ours = await scenario(srv.port);
    } finally {
      await srv.close();
    }
    assert.deepEqual(ours, {
      // A published the response and ev.1; it delivered the request and (through B's import) ev.1.
      A: { sent: 2, received: 2, receivedBytes: 3 },
      // B published the request; it delivered the response.
      B: { sent: 1, received: 1, receivedBytes: 2 },
      unknown: "no answer",
      unknownInfo: { code: 500, description: "Account NOPE does not exist" },
    });
    if (referenceBinary("2.15") !== undefined) {
      const ns = await startNatsServer([], STATS_CONF, "2.15");
      try {
        assert.deepEqual(ours, await scenario(ns.port));
      } finally {
        await ns.stop();
      }
    }
  });
});
