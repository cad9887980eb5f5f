// tsnats CLI: kv commands against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { CliHome } from "./helpers/cli.js";
import { jetStreamTargets } from "./helpers/cli_targets.js";
import { waitUntil } from "./helpers/server.js";

const servers = await jetStreamTargets();
const home = new CliHome();
after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

for (const t of servers) {
  describe(`kv commands on ${t.name}`, () => {
    let nc: NatsConnection;
    const cli = (args: string[], stdin?: string) => home.exec(args, { server: t.url, stdin });
    before(async () => (nc = await connect({ servers: t.url })));
    after(() => nc.close());

    test("add, put, get, create, update, del, purge, history, revert", async () => {
      let r = await cli(["kv", "add", "CONFIG", "--history", "5", "--description", "settings"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Information for Key-Value Store Bucket CONFIG/);
      assert.match(r.stdout, /History Kept: 5/);
      r = await cli(["kv", "add", "BAD", "--history", "65"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /between 1 and 64/);

      r = await cli(["kv", "put", "CONFIG", "color", "blue"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "blue\n");
      r = await cli(["kv", "put", "CONFIG", "color"], "red");
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["kv", "get", "CONFIG", "color", "--raw"]);
      assert.equal(r.stdout, "red");
      r = await cli(["kv", "get", "CONFIG", "color"]);
      assert.match(r.stdout, /CONFIG > color revision: 2 created @/);
      r = await cli(["kv", "get", "CONFIG", "color", "--revision", "1", "--json"]);
      assert.equal(JSON.parse(r.stdout).value, "blue");
      r = await cli(["kv", "get", "CONFIG", "nope"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /key "nope" not found/);

      r = await cli(["kv", "create", "CONFIG", "size", "10"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["kv", "create", "CONFIG", "size", "11"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /already exists/);
      r = await cli(["kv", "update", "CONFIG", "size", "12", "99"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not the latest revision/);
      r = await cli(["kv", "update", "CONFIG", "size", "12", "3"]);
      assert.equal(r.code, 0, r.stderr);

      r = await cli(["kv", "history", "CONFIG", "color", "--json"]);
      assert.deepEqual(
        JSON.parse(r.stdout).map((e: { value: string }) => e.value),
        ["blue", "red"],
      );
      r = await cli(["kv", "history", "CONFIG", "color"]);
      assert.match(r.stdout, /History for CONFIG > color/);
      r = await cli(["kv", "revert", "CONFIG", "color", "1", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await cli(["kv", "get", "CONFIG", "color", "--raw"])).stdout, "blue");

      r = await cli(["kv", "del", "CONFIG", "size"]);
      assert.equal(r.code, 1, "needs --force off a terminal");
      r = await cli(["kv", "del", "CONFIG", "size", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["kv", "get", "CONFIG", "size"]);
      assert.equal(r.code, 1);
      r = await cli(["kv", "create", "CONFIG", "size", "20"]);
      assert.equal(r.code, 0, "create after delete works: " + r.stderr);
      r = await cli(["kv", "purge", "CONFIG", "size", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["kv", "history", "CONFIG", "size", "--json"]);
      assert.deepEqual(
        JSON.parse(r.stdout).map((e: { operation: string }) => e.operation),
        ["PURGE"],
      );
    });

    test("ls, keys, info/status, watch, compact, edit, rm", async () => {
      let r = await cli(["kv", "ls", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["CONFIG"]);
      r = await cli(["kv", "ls"]);
      assert.match(r.stdout, /Key-Value Buckets/);
      assert.match(r.stdout, /│ CONFIG +│ settings/);
      r = await cli(["kv", "ls", "CONFIG"]);
      assert.equal(r.stdout, "color\n");
      r = await cli(["kv", "keys", "CONFIG", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["color"]);
      r = await cli(["kv", "ls", "CONFIG", "-v", "--display-value"]);
      assert.match(r.stdout, /│ color +│ .* │ blue/);
      r = await cli(["kv", "status", "CONFIG", "--json"]);
      assert.equal(JSON.parse(r.stdout).config.name, "KV_CONFIG");
      r = await cli(["kv", "info", "CONFIG"]);
      assert.match(r.stdout, /JetStream Stream: KV_CONFIG/);
      r = await cli(["kv", "info", "MISSING"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bucket "MISSING" not found/);

      const watch = home.run(["kv", "watch", "CONFIG", "--count", "4"], { server: t.url });
      await waitUntil(() => watch.stdout.text.includes("PUT CONFIG > color: blue"), 5000, "initial value");
      const kv = await new Kvm(nc).open("CONFIG");
      await kv.put("shape", "round");
      await kv.delete("shape");
      const w = await watch.done;
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stdout, /PUT CONFIG > shape: round/);
      assert.match(w.stdout, /DELETE CONFIG > shape/);

      r = await cli(["kv", "compact", "CONFIG", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Compacted 2 deleted keys/);
      r = await cli(["kv", "history", "CONFIG", "shape", "--json"]);
      assert.deepEqual(
        JSON.parse(r.stdout).map((e: { operation: string }) => e.operation),
        ["DELETE"],
        "only the recent delete marker is left",
      );

      r = await cli(["kv", "edit", "CONFIG", "--history", "10", "--description", "new"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /History Kept: 10/);
      r = await cli(["kv", "rm", "CONFIG", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["kv", "ls", "--names"]);
      assert.equal(r.stdout, "");
    });
  });
}
