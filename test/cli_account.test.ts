// tsnats CLI: account info/report and account backup/restore (one directory per stream,
// re-runnable restore), against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { CliHome } from "./helpers/cli.js";
import { answers, jetStreamTargets } from "./helpers/cli_targets.js";

const servers = await jetStreamTargets();
const home = new CliHome();
after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

for (const t of servers) {
  describe(`account commands on ${t.name}`, () => {
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const cli = (args: string[]) => home.exec(args, { server: t.url });
    before(async () => {
      nc = await connect({ servers: t.url });
      jsm = await jetstreamManager(nc);
    });
    after(() => nc.close());

    test("account info shows the connection and JetStream usage", async () => {
      await jsm.streams.add({ name: "ACC1", subjects: ["acc1.>"] });
      let r = await cli(["account", "info"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Account Information/);
      assert.match(r.stdout, /Connected URL: nats:\/\/127\.0\.0\.1:\d+/);
      assert.match(r.stdout, /Account Usage:/);
      assert.match(r.stdout, /Streams: 1\n/);
      r = await cli(["account", "info", "--json"]);
      assert.equal(JSON.parse(r.stdout).jetstream.streams, 1);
    });

    test("account report connections", async (tc) => {
      if (!(await answers(t.url, "$SYS.REQ.ACCOUNT.PING.CONNZ", "{}"))) {
        tc.skip(`${t.name} does not answer $SYS.REQ.ACCOUNT.PING.CONNZ without a configured system account`);
        return;
      }
      let r = await cli(["account", "report", "connections", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(JSON.parse(r.stdout).length >= 1);
      // --closed-reason asks for closed connections and keeps those whose reason matches.
      // (nats-server 2.15 lists no closed connections in an account's CONNZ; tsnats does.)
      const gone = await connect({ servers: t.url, name: "acct-closed" });
      await gone.close();
      let closed: { name?: string; reason?: string }[] = [];
      for (let i = 0; i < (t.tsnats ? 50 : 1) && !closed.some((c) => c.name === "acct-closed"); i++) {
        r = await cli(["account", "report", "connections", "--closed-reason", "^client closed$", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        closed = JSON.parse(r.stdout) as { name?: string; reason?: string }[];
      }
      if (t.tsnats) assert.ok(closed.some((c) => c.name === "acct-closed"), JSON.stringify(closed));
      assert.ok(closed.every((c) => String(c.reason).toLowerCase() === "client closed"));
      r = await cli(["account", "report", "connections", "--state", "all", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok((JSON.parse(r.stdout) as unknown[]).length >= 1);
    });

    test("account backup and restore, restore runs again safely", async (tc) => {
      if (!(await answers(t.url, "$JS.API.STREAM.SNAPSHOT.ACC1", JSON.stringify({ deliver_subject: "_INBOX.probe" })))) {
        tc.skip(`${t.name} does not implement stream snapshots yet`);
        return;
      }
      await jsm.streams.add({ name: "ACC2", subjects: ["acc2.>"] });
      const js = jsm.jetstream();
      for (let i = 0; i < 20; i++) await js.publish(`acc${(i % 2) + 1}.x`, `m${i}`);
      await jsm.consumers.add("ACC1", { durable_name: "D1", ack_policy: "explicit" as never });
      const dir = path.join(home.dir, `acct-${t.tsnats ? "ts" : "ref"}`);
      let r = await cli(["account", "backup", dir]);
      assert.equal(r.code, 1, "asks first");
      r = await cli(["account", "backup", dir, "-f"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Performing backup of all streams/);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["ACC1", "ACC2"]);
      for (const s of ["ACC1", "ACC2"]) assert.ok(fs.existsSync(path.join(dir, s, "backup.json")) && fs.existsSync(path.join(dir, s, "stream.tar.s2")));
      r = await cli(["account", "backup", dir, "-f"]);
      assert.equal(r.code, 1, "a non-empty target is refused");

      await jsm.streams.delete("ACC2");
      r = await cli(["account", "restore", dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Stream "ACC1" is already restored, skipping/);
      assert.match(r.stdout, /Restored stream "ACC2"/);
      assert.equal((await jsm.streams.info("ACC2")).state.messages, 10);
      r = await cli(["account", "restore", dir]);
      assert.equal(r.code, 0, "running it again is safe");
      assert.match(r.stdout, /Restored 0 of 2 streams/);
      await jsm.streams.delete("ACC1");
      await jsm.streams.delete("ACC2");
      r = await cli(["account", "restore", dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.consumers.info("ACC1", "D1")).config.durable_name, "D1");
    });
  });
}
