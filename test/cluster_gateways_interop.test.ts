// Gateways between tsnats and nats-server (2.15 and 2.9.10): a tsnats cluster and a nats-server
// cluster joined into a super-cluster both ways, and clusters that mix both implementations.
// Traffic is checked message by message (every message once and in order on every server,
// headers kept), queue groups prefer the publisher's cluster, requests cross both ways with fresh
// reply subjects (so routed `_GR_.` replies, forwarded to the requester's server over a route
// when the answer lands on another one), no-responders, and $SYS.REQ.SERVER.PING reaches every
// server of the super-cluster. /gatewayz has nats-server's shape.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { checkAllToAll, waitForInterest, waitUntil } from "./helpers/cluster.js";
import { startRefGw, startTsGw, waitForSuperCluster, type GwMember } from "./helpers/gateways.js";
import { referenceBinary, type ReferenceLine } from "./helpers/nats_server.js";

const ACCOUNTS = [
  { name: "SYS", users: [{ user: "sys", password: "sys" }] },
  { name: "A", users: [{ user: "a", password: "a" }] },
];
const AUTH = { accounts: ACCOUNTS, systemAccount: "SYS" };
const AUTH_CONF = `accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  A: { users: [{ user: a, password: a }] }
}
system_account: SYS
`;

async function stopAll(members: GwMember[]): Promise<void> {
  await Promise.all(members.map((m) => m.stop().catch(() => undefined)));
}

function conn(m: GwMember, user = "a"): Promise<NatsConnection> {
  return connect({ servers: m.clientUrl, user, pass: user, reconnect: false });
}

/** Every connection serves its own subject; every other one asks it, with a fresh reply subject and with request(). */
async function requestsEverywhere(conns: NatsConnection[]): Promise<void> {
  const subs = conns.map((c, i) =>
    c.subscribe(`gwrr.${i}`, {
      callback: (_e, m) => {
        const h = headers();
        h.set("X-By", String(i));
        m.respond(`${i}:${m.string()}`, { headers: h });
      },
    }),
  );
  for (const c of conns) await c.flush();
  for (let s = 0; s < conns.length; s++) {
    for (let p = 0; p < conns.length; p++) {
      if (p === s) continue;
      await waitForInterest(conns[p], conns[s]);
      const r = await conns[p].request(`gwrr.${s}`, `q${p}`, { timeout: 3000 });
      assert.equal(r.string(), `${s}:q${p}`);
      assert.equal(r.headers?.get("X-By"), String(s));
      // Subscribed right before the request: only the routed reply can bring the answer in time.
      const inbox = `gwfresh.${p}.${s}.${Date.now()}`;
      const answer = new Promise<string>((resolve) => conns[p].subscribe(inbox, { max: 1, callback: (_e, m) => resolve(m.string()) }));
      conns[p].publish(`gwrr.${s}`, `f${p}`, { reply: inbox });
      const got = await Promise.race([answer, new Promise<string>((r) => setTimeout(() => r("timeout"), 3000))]);
      assert.equal(got, `${s}:f${p}`, `fresh reply from ${p} to ${s}`);
    }
  }
  for (const sub of subs) sub.unsubscribe();
  for (const c of conns) {
    await assert.rejects(c.request("gwrr.nobody", "x", { timeout: 3000 }), (e: Error & { code?: string }) => /503/.test(String(e.code)) || /no responders/i.test(e.message));
  }
}

/** Queue members in every cluster: each message goes to exactly one member, in the publisher's cluster. */
async function queueLocalFirst(members: GwMember[], conns: NatsConnection[]): Promise<void> {
  const got = new Map<string, number>();
  const dup: string[] = [];
  const subs = conns.map((c, i) =>
    c.subscribe("gwq", {
      queue: "grp",
      callback: (_e, m) => {
        if (got.has(m.string())) dup.push(m.string());
        got.set(m.string(), i);
      },
    }),
  );
  for (const c of conns) await c.flush();
  for (const p of conns) for (const s of conns) if (p !== s) await waitForInterest(p, s);
  conns.forEach((c, p) => {
    for (let k = 0; k < 30; k++) c.publish("gwq", `${p}:${k}`);
  });
  await waitUntil(() => got.size >= 30 * conns.length, 10_000, "queue deliveries");
  for (const c of conns) await c.flush();
  for (const p of conns) for (const s of conns) if (p !== s) await waitForInterest(p, s);
  assert.equal(dup.length, 0, `delivered twice: ${dup.slice(0, 5).join(",")}`);
  for (const [msg, to] of got) {
    const from = Number(msg.split(":")[0]);
    assert.equal(members[to].cluster, members[from].cluster, `${msg} from ${members[from].name} went to ${members[to].name}`);
  }
  for (const s of subs) s.unsubscribe();
}

async function pingAll(members: GwMember[], nc: NatsConnection): Promise<void> {
  const want = members.map((m) => m.name).sort();
  let names: string[] = [];
  for (let i = 0; i < 20 && JSON.stringify(names) !== JSON.stringify(want); i++) {
    const inbox = `_INBOX.gwping.${Date.now()}.${i}`;
    const got: string[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, m) => void got.push(((m.json<Record<string, Record<string, string>>>().server ?? {}).name ?? "") as string) });
    nc.publish("$SYS.REQ.SERVER.PING", "", { reply: inbox });
    await new Promise((r) => setTimeout(r, 700));
    sub.unsubscribe();
    names = got.sort();
  }
  assert.deepEqual(names, want);
}

for (const line of ["2.15", "2.9"] as ReferenceLine[]) {
  const skip = referenceBinary(line) === undefined ? `nats-server ${line} not available` : false;

  describe(`gateways interop with nats-server ${line}: a tsnats cluster and a nats-server cluster`, { skip }, () => {
    const members: GwMember[] = [];
    const conns: NatsConnection[] = [];
    after(async () => {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await stopAll(members);
    });

    it("the super-cluster forms from nats-server's one configured gateway", async () => {
      const t1 = await startTsGw("t1", "TS", { routes: [], extra: AUTH });
      const t2 = await startTsGw("t2", "TS", { routes: [t1.routeUrl], extra: AUTH });
      const r1 = await startRefGw(line, "r1", "REF", { clustered: true, gateways: [{ name: "TS", urls: [t1.gatewayUrl] }], config: AUTH_CONF });
      const r2 = await startRefGw(line, "r2", "REF", { routes: [r1.routeUrl], config: AUTH_CONF });
      members.push(t1, t2, r1, r2);
      await waitForSuperCluster(members, 30_000);
      for (const m of members) conns.push(await conn(m));
    });

    it("every message once, in order, on every server (headers kept)", async () => {
      await checkAllToAll(conns, "gwi.all", 60);
    });

    it("queue groups stay in the publisher's cluster", async () => {
      await queueLocalFirst(members, conns);
    });

    it("requests both ways, with fresh reply subjects; no responders", async () => {
      await requestsEverywhere(conns);
    });

    it("$SYS.REQ.SERVER.PING reaches every server of both clusters", async () => {
      for (const m of [members[0], members[2]]) {
        const nc = await conn(m, "sys");
        await pingAll(members, nc);
        await nc.close();
      }
    });

    if (line === "2.15") {
      it("/gatewayz has nats-server's fields", async () => {
        const [ours, theirs] = await Promise.all([members[0].gatewayz("?accs=1&subs=1"), members[2].gatewayz("?accs=1&subs=1")]);
        assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
        const o = Object.values(ours.outbound_gateways as Record<string, Record<string, unknown>>)[0];
        const t = Object.values(theirs.outbound_gateways as Record<string, Record<string, unknown>>)[0];
        assert.deepEqual(Object.keys(o).sort(), Object.keys(t).sort());
        const oc = o.connection as Record<string, unknown>;
        const tc = t.connection as Record<string, unknown>;
        assert.deepEqual(Object.keys(oc).sort(), Object.keys(tc).sort());
        const oa = (o.accounts as Array<Record<string, unknown>>).find((a) => a.name === "SYS") as Record<string, unknown>;
        const ta = (t.accounts as Array<Record<string, unknown>>).find((a) => a.name === "SYS") as Record<string, unknown>;
        assert.deepEqual(Object.keys(oa).sort(), Object.keys(ta).sort());
        assert.equal(oa.interest_mode, ta.interest_mode);
      });
    }
  });
}

const skip15 = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;
describe("gateways interop: clusters that mix tsnats and nats-server 2.15", { skip: skip15 }, () => {
  const members: GwMember[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
  });

  it("two mixed clusters of two, traffic message by message", async () => {
    const x1 = await startTsGw("x1", "X", { routes: [], extra: AUTH });
    const x2 = await startRefGw("2.15", "x2", "X", { routes: [x1.routeUrl], config: AUTH_CONF });
    const y1 = await startRefGw("2.15", "y1", "Y", { clustered: true, config: AUTH_CONF });
    // The tsnats server of Y knows X's nats-server; everything else is gossip.
    const y2 = await startTsGw("y2", "Y", { routes: [y1.routeUrl], gateways: [{ name: "X", urls: [x2.gatewayUrl] }], extra: AUTH });
    members.push(x1, x2, y1, y2);
    await waitForSuperCluster(members, 30_000);
    for (const m of members) conns.push(await conn(m));
    await checkAllToAll(conns, "mix.all", 40);
    await queueLocalFirst(members, conns);
    await requestsEverywhere(conns);
    const nc = await conn(members[3], "sys");
    await pingAll(members, nc);
    await nc.close();
  });
});
