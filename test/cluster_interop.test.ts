// Mixed clusters of tsnats and nats-server (2.15 and 2.9.10): tsnats joins clusters of
// nats-server and nats-server joins clusters of tsnats, the full mesh forms through gossip
// across both implementations, and traffic is checked message by message: plain subjects to
// every subscriber once and in order (with headers), queue groups with one member per message
// cluster-wide, request/reply both ways, no-responders, account isolation.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import {
  checkAccountIsolation,
  checkAllToAll,
  checkQueueGroup,
  connectTo,
  startRefMember,
  startTsMember,
  stopAll,
  waitForInterest,
  waitForMesh,
  type Member,
} from "./helpers/cluster.js";
import { referenceBinary, type ReferenceLine } from "./helpers/nats_server.js";

const ACCOUNTS_CONF = `accounts {
  A: { users: [{ user: a, password: a }] }
  B: { users: [{ user: b, password: b }] }
}
`;
const ACCOUNTS = [
  { name: "A", users: [{ user: "a", password: "a" }] },
  { name: "B", users: [{ user: "b", password: "b" }] },
];

async function requestReplyBothWays(conns: NatsConnection[]): Promise<void> {
  // Each connection serves its own subject; every other one asks it, with a header both ways.
  const subs = conns.map((c, i) =>
    c.subscribe(`rr.svc.${i}`, {
      callback: (_e, m) => {
        const h = headers();
        h.set("X-Served-By", String(i));
        m.respond(`${i}:${m.string()}:${m.headers?.get("X-Ask") ?? ""}`, { headers: h });
      },
    }),
  );
  for (const c of conns) await c.flush();
  for (let s = 0; s < conns.length; s++) {
    for (let p = 0; p < conns.length; p++) {
      if (p === s) continue;
      await waitForInterest(conns[p], conns[s]);
      const h = headers();
      h.set("X-Ask", `from${p}`);
      const r = await conns[p].request(`rr.svc.${s}`, "q", { timeout: 3000, headers: h });
      assert.equal(r.string(), `${s}:q:from${p}`);
      assert.equal(r.headers?.get("X-Served-By"), String(s));
    }
  }
  for (const sub of subs) sub.unsubscribe();
  // Nobody serves this subject anywhere: every server answers 503 at once.
  for (const c of conns) {
    await assert.rejects(c.request("rr.nobody", "x", { timeout: 3000 }), (e: Error & { code?: string }) => /503/.test(String(e.code)) || /no responders/i.test(e.message));
  }
}

for (const line of ["2.15", "2.9"] as ReferenceLine[]) {
  const skip = referenceBinary(line) === undefined ? `nats-server ${line} not available` : false;

  describe(`routes interop with nats-server ${line}: mixed cluster of three`, { skip }, () => {
    const members: Member[] = [];
    const conns: NatsConnection[] = [];
    after(async () => {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await stopAll(members);
    });

    it("nats-server seed, tsnats joins it, a second nats-server joins through tsnats: full mesh", async () => {
      const r1 = await startRefMember(line, "ref1", "MIX", []);
      members.push(r1);
      const t1 = await startTsMember("ts1", "MIX", [r1.routeUrl]);
      members.push(t1);
      // ref2 only knows tsnats: it learns about ref1 from tsnats' gossip.
      const r2 = await startRefMember(line, "ref2", "MIX", [t1.routeUrl]);
      members.push(r2);
      await waitForMesh(members);
      for (const m of members) conns.push(await connectTo(m));
    });

    it("every message once, in order, everywhere (headers kept)", async () => {
      await checkAllToAll(conns, "mix.all", 100);
    });

    it("queue group: one member per message across both implementations", async () => {
      const per = await checkQueueGroup(conns, "mix.queue", 100);
      assert.ok(per.every((n) => n > 0), `every server took a share: ${per.join(",")}`);
    });

    it("request/reply both ways with headers, no-responders on every server", async () => {
      await requestReplyBothWays(conns);
    });
  });

  describe(`routes interop with nats-server ${line}: accounts`, { skip }, () => {
    const members: Member[] = [];
    after(() => stopAll(members));

    it("traffic stays in its account both ways", async () => {
      const ref = await startRefMember(line, "refacc", "ACC", [], ACCOUNTS_CONF);
      members.push(ref);
      const ts = await startTsMember("tsacc", "ACC", [ref.routeUrl], { accounts: ACCOUNTS });
      members.push(ts);
      await waitForMesh(members);
      await checkAccountIsolation(ref, ts, "acc.subject", 10);
      await checkAccountIsolation(ts, ref, "acc.subject", 10);
    });
  });
}

const both = referenceBinary("2.15") !== undefined && referenceBinary("2.9") !== undefined;
describe("routes interop: a mixed cluster of five (tsnats, nats-server 2.15 and 2.9.10)", { skip: both ? false : "nats-server 2.15 or 2.9 not available" }, () => {
  const members: Member[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await stopAll(members);
  });

  it("forms a full mesh from one seed and carries traffic message by message", async () => {
    const seed = await startTsMember("ts-a", "FIVE", []);
    members.push(seed);
    members.push(await startRefMember("2.15", "ref15-a", "FIVE", [seed.routeUrl]));
    members.push(await startTsMember("ts-b", "FIVE", [seed.routeUrl]));
    members.push(await startRefMember("2.9", "ref29", "FIVE", [seed.routeUrl]));
    members.push(await startTsMember("ts-c", "FIVE", [members[1].routeUrl]));
    await waitForMesh(members, 30_000);
    for (const m of members) conns.push(await connectTo(m));
    await checkAllToAll(conns, "five.all", 40);
    const per = await checkQueueGroup(conns, "five.queue", 40);
    assert.equal(per.reduce((a, b) => a + b, 0), 40 * 5);
    await requestReplyBothWays(conns);
  });
});
