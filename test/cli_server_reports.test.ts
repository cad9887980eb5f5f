// tsnats CLI: server report routes/gateways/leafnodes/health/cpu/mem on a super cluster (two
// routed servers in c1, one in c2, joined by gateways) with a leaf node, all tsnats or all
// nats-server 2.15 configured alike.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CliHome } from "./helpers/cli.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const home = new CliHome();
after(() => home.cleanup());

const ACCOUNTS = `system_account: SYS
accounts {
  SYS { users: [{ user: sys, password: sys }] }
  APP { users: [{ user: app, password: app }] }
}`;

for (const line of ["tsnats", "2.15"] as const) {
  const label = line === "tsnats" ? "tsnats" : "nats-server 2.15";
  describe(`server reports on a ${label} super cluster with a leaf node`, () => {
    const servers: ReferenceServer[] = [];
    let url = "";
    let skip = "";
    before(async () => {
      if (line === "2.15" && !referenceBinary("2.15")) {
        skip = "nats-server 2.15 not available";
        return;
      }
      const [c1, c2, g1, g2, g3, leafPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
      const gateways = `gateways: [{ name: c1, urls: ["nats://127.0.0.1:${g1}"] }, { name: c2, urls: ["nats://127.0.0.1:${g3}"] }]`;
      const s1 = await startNatsServer([], `server_name: s1\n${ACCOUNTS}\ncluster { name: c1, listen: "127.0.0.1:${c1}", routes: ["nats://127.0.0.1:${c2}"] }\ngateway { name: c1, listen: "127.0.0.1:${g1}", ${gateways} }\nleafnodes { listen: "127.0.0.1:${leafPort}" }\n`, line);
      servers.push(s1);
      servers.push(await startNatsServer([], `server_name: s2\n${ACCOUNTS}\ncluster { name: c1, listen: "127.0.0.1:${c2}", routes: ["nats://127.0.0.1:${c1}"] }\ngateway { name: c1, listen: "127.0.0.1:${g2}", ${gateways} }\n`, line));
      servers.push(await startNatsServer([], `server_name: s3\n${ACCOUNTS}\ngateway { name: c2, listen: "127.0.0.1:${g3}", ${gateways} }\n`, line));
      servers.push(await startNatsServer([], `server_name: leaf1\nleafnodes { remotes: [{ url: "nats://app:app@127.0.0.1:${leafPort}" }] }\n`, line));
      url = `nats://127.0.0.1:${s1.port}`;
    });
    after(async () => {
      for (const s of servers) await s.stop();
    });
    const sys = (args: string[]) => home.exec([...args, "--user", "sys", "--password", "sys"], { server: url });
    /** Run a report until its output matches (links come up in the background). */
    async function until(args: string[], want: RegExp): Promise<string> {
      const deadline = Date.now() + 20_000;
      let last = "";
      for (;;) {
        const r = await sys(args);
        last = r.stdout + r.stderr;
        if (r.code === 0 && want.test(r.stdout)) return r.stdout;
        if (Date.now() > deadline) throw new Error(`tsnats ${args.join(" ")} never matched ${want}:\n${last}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }

    test("routes: each c1 server's route to the other", async (t) => {
      if (skip) return t.skip(skip);
      const out = await until(["server", "report", "routes", "--cluster", "c1"], /│ s1 +│ c1 +│ s2 +│[\s\S]*│ s2 +│ c1 +│ s1 +│/);
      assert.match(out, /Cluster Report/);
      assert.match(out, /│ Server +│ Cluster +│ Name +│ Account +│ Address +│ ID +│ Uptime +│ RTT +│ Subs +│ Bytes In +│ Bytes Out +│/);
      assert.match(out, /│ s1 +│ c1 +│ s2 +│/);
      assert.match(out, /│ s2 +│ c1 +│ s1 +│/);
      assert.match(out, /rid:\d+/);
      const json = await sys(["server", "report", "routes", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const byServer = new Map((JSON.parse(json.stdout) as { server: { name: string }; data: { routes?: unknown[] } }[]).map((r) => [r.server.name, r.data.routes ?? []]));
      assert.ok(byServer.get("s1")!.length >= 1);
      assert.equal(byServer.get("s3")?.length ?? 0, 0, "s3 has no cluster");
      const bad = await sys(["server", "report", "routes", "--sort", "nope"]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Allowed choices are server, cluster, name/);
    });

    test("gateways: inbound and outbound connections of every server", async (t) => {
      if (skip) return t.skip(skip);
      const out = await until(["server", "report", "gateways"], /│ s3 +│ c2 +│[^\n]*\n[^\n]*│ +│ +│ +│ Inbound +│ c1 [\s\S]*│ +Outbound +│ c1 /);
      assert.match(out, /Super Cluster Report/);
      assert.match(out, /│ s1 +│ c1 +│ \d+ +│/);
      assert.match(out, /│ Outbound +│ c2 127\.0\.0\.1:\d+ +│ gid:\d+ +│/);
      assert.match(out, /gid:\d+/);
      const one = await until(["server", "report", "gateways", "--host", "s3"], /│ s3 +│ c2 /);
      assert.doesNotMatch(one, /│ s1 +│/);
    });

    test("leafnodes: the leaf server's connection, bound to APP", async (t) => {
      if (skip) return t.skip(skip);
      const out = await until(["server", "report", "leafnodes"], /│ s1 +│ leaf1 +│ APP +│ 127\.0\.0\.1:\d+ +│/);
      assert.match(out, /Leafnode Report/);
      assert.match(out, /│ Server +│ Name +│ Account +│ Address +│ RTT +│ Msgs In +│ Msgs Out +│ Bytes In +│ Bytes Out +│ Subs +│ Compressed +│ Spoke +│/);
      const none = await sys(["server", "report", "leafnodes", "--account", "SYS"]);
      assert.equal(none.code, 0, none.stderr);
      assert.doesNotMatch(none.stdout, /leaf1/);
    });

    test("health, cpu and mem: a row or bar per server", async (t) => {
      if (skip) return t.skip(skip);
      let out = await until(["server", "report", "health"], /│ s3 +│/);
      assert.match(out, /Health Report/);
      for (const s of ["s1", "s2", "s3"]) assert.match(out, new RegExp(`│ ${s} +│ c[12] +│ +│ ok \\(200\\) +│`));
      assert.match(out, /│ 3 +│ 2 +│ +│ ok: 3 \/ err: 0 +│ +│ 0 +│/);
      out = await until(["server", "report", "cpu"], /s3: /);
      assert.match(out, /^CPU Usage$/m);
      assert.match(out, /^ +s1: [█▏]+ \([\d.,]+\)$/m);
      out = await until(["server", "report", "mem", "--cluster", "c2"], /s3: /);
      assert.match(out, /^Memory Usage$/m);
      assert.match(out, /^ +s3: █+ \([\d.]+ [KMG]iB\)$/m, "one server: a full bar");
      assert.doesNotMatch(out, /s1:/);
      const json = await sys(["server", "report", "mem", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const mem = JSON.parse(json.stdout) as Record<string, number>;
      assert.ok(mem.s1 > 1024 * 1024, "memory in bytes");
    });
  });
}
